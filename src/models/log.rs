//! An append-only log shared by the models: a partition is a sequence of records addressed by
//! offset, kept in segments that retention deletes whole. The Kafka model keeps one per topic
//! partition; the RabbitMQ model keeps one for a stream, with osiris's rules for rolling segments
//! and evaluating retention ([`Partition::append_stream`], [`Partition::enforce_stream_retention`]). 16 bytes per retained record; segments are a few words each.

use crate::time::{SimDuration, SimTime};
use crate::workload::StoredMessage;
use std::collections::VecDeque;

pub type Offset = u64;

#[derive(Debug, Clone)]
pub struct Segment {
    pub base_offset: Offset,
    pub bytes: u64,
    pub created_at: SimTime,
    /// Largest record timestamp (CreateTime = publish time): retention compares it to `now`.
    pub max_timestamp: SimTime,
}

#[derive(Debug, Default)]
pub struct Partition {
    /// Offset of `records[0]` (the log start offset).
    pub start_offset: Offset,
    /// The next offset to be written (the log end offset).
    end: Offset,
    pub records: VecDeque<StoredMessage>,
    /// A log that may be compacted keeps, per record, its offset and key (`records[i]` is at
    /// `keyed[i].0`): compaction leaves gaps. Empty for a log that is never compacted, where
    /// `records[i]` is at `start_offset + i`.
    keyed: VecDeque<(Offset, u64)>,
    compacted: bool,
    /// The cleaner's checkpoint: records below it are clean (at most one per key).
    first_dirty: Offset,
    pub segments: VecDeque<Segment>,
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    pub records: u64,
    pub bytes: u64,
}

impl Partition {
    /// A log whose topic has `cleanup.policy` compact: it keeps every record's key and offset.
    pub fn compacted() -> Self {
        Partition { compacted: true, ..Partition::default() }
    }

    /// The next offset to be written (log end offset).
    pub fn end_offset(&self) -> Offset {
        self.end
    }

    /// Bytes held (Kafka's `UnifiedLog.size`: the sum of the segments' sizes).
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Index in `records` of the first record at or after `offset`.
    #[inline(always)]
    fn index_of(&self, offset: Offset) -> usize {
        if self.compacted {
            self.keyed.partition_point(|&(o, _)| o < offset)
        } else {
            (offset.saturating_sub(self.start_offset) as usize).min(self.records.len())
        }
    }

    #[inline(always)]
    fn offset_at(&self, i: usize) -> Offset {
        if self.compacted { self.keyed[i].0 } else { self.start_offset + i as u64 }
    }

    /// The record at `offset`, if the log holds it (not deleted, not compacted away).
    #[inline(always)]
    pub fn get(&self, offset: Offset) -> Option<&StoredMessage> {
        if self.compacted {
            self.keyed.binary_search_by_key(&offset, |&(o, _)| o).ok().map(|i| &self.records[i])
        } else {
            offset.checked_sub(self.start_offset).and_then(|i| self.records.get(i as usize))
        }
    }

    /// The first record at or after `offset` and its offset: a reader skips compaction's gaps.
    #[inline(always)]
    pub fn next_from(&self, offset: Offset) -> Option<(Offset, &StoredMessage)> {
        let i = self.index_of(offset);
        self.records.get(i).map(|r| (self.offset_at(i), r))
    }

    /// Appends one record, rolling to a new segment when the active one is full or old.
    #[inline(always)]
    pub fn append(&mut self, now: SimTime, msg: StoredMessage, segment_bytes: u64, segment_ms: SimDuration) -> Offset {
        debug_assert!(!self.compacted, "a compacted log appends with append_keyed");
        self.append_record(now, msg, segment_bytes, segment_ms)
    }

    /// Appends one record of key `key` to a compacted log.
    pub fn append_keyed(
        &mut self,
        now: SimTime,
        msg: StoredMessage,
        key: u64,
        segment_bytes: u64,
        segment_ms: SimDuration,
    ) -> Offset {
        debug_assert!(self.compacted);
        self.keyed.push_back((self.end, key));
        self.append_record(now, msg, segment_bytes, segment_ms)
    }

    #[inline(always)]
    fn append_record(
        &mut self,
        now: SimTime,
        msg: StoredMessage,
        segment_bytes: u64,
        segment_ms: SimDuration,
    ) -> Offset {
        let roll = match self.segments.back() {
            None => true,
            Some(s) => s.bytes + msg.bytes() > segment_bytes && s.bytes > 0 || now.since(s.created_at) >= segment_ms,
        };
        // Kafka's default `message.timestamp.type` CreateTime: the producer's timestamp.
        self.push(now, msg, roll, msg.published_at)
    }

    /// Appends one record to a RabbitMQ stream (osiris): the writer closes the active segment once
    /// it holds `max_segment_bytes` or more (`osiris_log:max_segment_size_reached`, checked before
    /// each chunk is written, so a segment may end one chunk above the limit), and stamps the chunk
    /// with the time it writes it. Returns the offset and whether a new segment was opened (osiris
    /// evaluates retention then).
    pub fn append_stream(&mut self, now: SimTime, msg: StoredMessage, max_segment_bytes: u64) -> (Offset, bool) {
        debug_assert!(!self.compacted);
        let roll = self.segments.back().is_none_or(|s| s.bytes >= max_segment_bytes);
        (self.push(now, msg, roll, now), roll)
    }

    #[inline(always)]
    fn push(&mut self, now: SimTime, msg: StoredMessage, roll: bool, timestamp: SimTime) -> Offset {
        let offset = self.end;
        if roll {
            self.segments.push_back(Segment {
                base_offset: offset,
                bytes: 0,
                created_at: now,
                max_timestamp: SimTime::ZERO,
            });
        }
        let seg = self.segments.back_mut().expect("just ensured");
        seg.bytes += msg.bytes();
        seg.max_timestamp = seg.max_timestamp.max(timestamp);
        self.records.push_back(msg);
        self.end = offset + 1;
        offset
    }

    /// Deletes, oldest first, every segment whose newest record is older than `retention`
    /// (Kafka rolls the active segment first when it too has expired). Calls `on_delete` for each
    /// deleted record; returns the bytes freed.
    pub fn enforce_retention(
        &mut self,
        now: SimTime,
        retention: SimDuration,
        on_delete: impl FnMut(&StoredMessage),
    ) -> u64 {
        self.delete_older_than(now, retention, 0, on_delete)
    }

    /// Deletes, oldest first, segments whose newest record is older than `age`, leaving at least
    /// `keep` segments.
    fn delete_older_than(
        &mut self,
        now: SimTime,
        age: SimDuration,
        keep: usize,
        mut on_delete: impl FnMut(&StoredMessage),
    ) -> u64 {
        let mut freed = 0;
        while let Some(seg) = self.segments.front() {
            if self.segments.len() <= keep || now.since(seg.max_timestamp) <= age || seg.bytes == 0 {
                break;
            }
            freed += self.delete_oldest_segment(&mut on_delete);
        }
        freed
    }

    /// A RabbitMQ stream's retention, as osiris evaluates it (`osiris_log:evaluate_retention`, the
    /// specs in RabbitMQ's order: `x-max-length-bytes`, then `x-max-age`):
    /// * size (`eval_max_bytes`): the newest segment always stays; older ones stay, newest first,
    ///   while the total still fits in `max_bytes`; the first that does not fit goes with every
    ///   older one. So the stream holds at most `max_bytes` (unless the active segment alone is
    ///   larger), where Kafka's `retention.bytes` keeps at least its limit;
    /// * age (`eval_age`): oldest first, a segment whose newest chunk is older than `max_age` goes,
    ///   as long as another segment is left (the newest is never deleted).
    ///
    /// Returns the bytes freed.
    pub fn enforce_stream_retention(
        &mut self,
        now: SimTime,
        max_bytes: Option<u64>,
        max_age: Option<SimDuration>,
        mut on_delete: impl FnMut(&StoredMessage),
    ) -> u64 {
        let mut freed = 0;
        if let Some(limit) = max_bytes {
            let mut room = limit;
            let keep = self
                .segments
                .iter()
                .rev()
                .enumerate()
                .take_while(|&(i, s)| {
                    let fits = i == 0 || s.bytes <= room;
                    room = room.saturating_sub(s.bytes);
                    fits
                })
                .count();
            while self.segments.len() > keep {
                freed += self.delete_oldest_segment(&mut on_delete);
            }
        }
        if let Some(age) = max_age {
            freed += self.delete_older_than(now, age, 1, &mut on_delete);
        }
        freed
    }

    /// Size retention (`retention.bytes`), as `UnifiedLog.deleteRetentionSizeBreachedSegments`
    /// does it: when the log holds more than `limit` bytes, deletes whole segments oldest first
    /// while what remains is still at least `limit` (a segment whose deletion would take the log
    /// below the limit stays). The active segment therefore goes only with `limit = 0`, and never
    /// when it is empty. Returns the bytes freed.
    pub fn enforce_size(&mut self, limit: u64, mut on_delete: impl FnMut(&StoredMessage)) -> u64 {
        let size = self.size();
        if size <= limit {
            return 0;
        }
        let mut excess = size - limit;
        let mut freed = 0;
        while let Some(seg) = self.segments.front() {
            if seg.bytes > excess || seg.bytes == 0 {
                break;
            }
            excess -= seg.bytes;
            freed += self.delete_oldest_segment(&mut on_delete);
        }
        freed
    }

    /// Deletes the oldest segment and its records; the log start moves to the next segment (or
    /// the log end). Returns its bytes.
    fn delete_oldest_segment(&mut self, on_delete: &mut impl FnMut(&StoredMessage)) -> u64 {
        let seg = self.segments.pop_front().expect("a segment to delete");
        let next_base = self.segments.front().map_or(self.end, |s| s.base_offset);
        let n = self.index_of(next_base);
        for r in self.records.drain(..n) {
            on_delete(&r);
        }
        if self.compacted {
            self.keyed.drain(..n);
        }
        self.start_offset = next_base;
        self.first_dirty = self.first_dirty.max(next_base);
        seg.bytes
    }

    /// One pass of the log cleaner (`cleanup.policy` compact), as Kafka's `LogCleaner` does it:
    /// the cleanable part is every segment before the active one (and below `stable`, the high
    /// watermark); its dirty part starts at the cleaner's checkpoint. The log is cleaned when
    /// dirty bytes / cleanable bytes > `min_dirty_ratio` (`min.cleanable.dirty.ratio`,
    /// `LogCleanerManager.grabFilthiestCompactedLog`): then, from the log start up to the active
    /// segment, a record is removed when a newer record of its key lies in the dirty part (the
    /// offset map of `LogCleaner.buildOffsetMap` covers only that part, never the active segment).
    /// Kept records keep their offsets; segments emptied or shrunk are merged while their sum fits
    /// `segment_bytes` (`groupSegmentsBySize`). Calls `on_remove` for each removed record.
    /// The offset map is O(keys in the dirty part), the only per-key state.
    pub fn clean(
        &mut self,
        stable: Offset,
        min_dirty_ratio: f64,
        segment_bytes: u64,
        mut on_remove: impl FnMut(&StoredMessage),
    ) -> Cleaned {
        debug_assert!(self.compacted);
        let Some(active) = self.segments.back() else { return Cleaned::default() };
        let uncleanable = active.base_offset.min(stable);
        // Whole segments before the one holding `uncleanable` (`calculateCleanableBytes`).
        let mut first_uncleanable_seg = 0;
        while first_uncleanable_seg + 1 < self.segments.len()
            && self.segments[first_uncleanable_seg + 1].base_offset <= uncleanable
        {
            first_uncleanable_seg += 1;
        }
        let until = self.segments.get(first_uncleanable_seg).map_or(self.end, |s| s.base_offset);
        let dirty_from = self.first_dirty.max(self.start_offset);
        if until <= dirty_from {
            return Cleaned::default();
        }
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        for s in self.segments.range(..first_uncleanable_seg) {
            if s.base_offset < dirty_from {
                clean_bytes += s.bytes;
            } else {
                dirty_bytes += s.bytes;
            }
        }
        let total = clean_bytes + dirty_bytes;
        if total == 0 || (dirty_bytes as f64) / (total as f64) <= min_dirty_ratio {
            return Cleaned::default();
        }
        // The offset map: per key, its newest offset in the dirty part.
        let (lo, hi) = (self.index_of(dirty_from), self.index_of(until));
        let mut latest: std::collections::HashMap<u64, Offset> = std::collections::HashMap::new();
        for &(o, k) in self.keyed.range(lo..hi) {
            latest.insert(k, o);
        }
        // Rewrite [start, until): keep a record unless its key has a newer offset in the map.
        let mut done = Cleaned::default();
        let mut seg_i = 0;
        let mut kept_records = VecDeque::with_capacity(self.records.len());
        let mut kept_keyed = VecDeque::with_capacity(self.keyed.len());
        for (i, (r, (o, k))) in self.records.drain(..).zip(self.keyed.drain(..)).enumerate() {
            if i < hi && latest.get(&k).is_some_and(|&newest| newest > o) {
                while seg_i + 1 < self.segments.len() && self.segments[seg_i + 1].base_offset <= o {
                    seg_i += 1;
                }
                self.segments[seg_i].bytes -= r.bytes();
                done.records += 1;
                done.bytes += r.bytes();
                on_remove(&r);
            } else {
                kept_records.push_back(r);
                kept_keyed.push_back((o, k));
            }
        }
        self.records = kept_records;
        self.keyed = kept_keyed;
        self.first_dirty = until;
        // Merge the cleaned segments while they fit one segment.
        let mut merged: VecDeque<Segment> = VecDeque::with_capacity(self.segments.len());
        for (i, s) in self.segments.drain(..).enumerate() {
            match merged.back_mut() {
                Some(m) if i < first_uncleanable_seg && m.bytes + s.bytes <= segment_bytes => {
                    m.bytes += s.bytes;
                    m.max_timestamp = m.max_timestamp.max(s.max_timestamp);
                }
                _ => merged.push_back(s),
            }
        }
        self.segments = merged;
        done
    }

    /// Bytes available from `offset` up to `until` (the high watermark: consumers read only
    /// below it), counting at most until `enough` is reached.
    pub fn bytes_from(&self, offset: Offset, until: Offset, enough: u64) -> u64 {
        let start = self.index_of(offset);
        let end = self.index_of(until);
        if start >= end {
            return 0;
        }
        if enough <= 1 {
            // The common case (fetch.min.bytes = 1): is there any record at all?
            return self.records[start].bytes();
        }
        let mut total = 0;
        for r in self.records.range(start..end) {
            total += r.bytes();
            if total >= enough {
                break;
            }
        }
        total
    }

    /// The offset after the records a fetch from `offset` may return within `max_bytes` (at least
    /// one record if any), stopping at `until`.
    pub fn fetch_end(&self, offset: Offset, until: Offset, max_bytes: u64) -> Offset {
        let mut pos = offset.max(self.start_offset);
        let mut bytes = 0;
        while let Some((o, r)) = self.next_from(pos)
            && o < until
        {
            if bytes + r.bytes() > max_bytes && bytes > 0 {
                break;
            }
            bytes += r.bytes();
            pos = o + 1;
        }
        pos
    }

    /// Id of the last record in the log, if any (the idempotent producer's last sequence, which
    /// Kafka keeps in its producer-state snapshot).
    pub fn last_id(&self) -> Option<u64> {
        self.records.back().map(|r| r.id())
    }

    /// Id of the last record below offset `end` whose id is `mine` (with several producers on a
    /// partition, each producer's own last sequence: the record of another producer is skipped).
    pub fn last_id_below(&self, end: Offset, mine: impl Fn(u64) -> bool) -> Option<u64> {
        self.records.range(..self.index_of(end)).rev().map(|r| r.id()).find(|&id| mine(id))
    }

    /// Removes every record from `to` on (a replica truncating to its new leader's log, KIP-101 /
    /// KIP-279), newest first, calling `on_remove(offset, record)` for each. Returns the bytes
    /// removed.
    pub fn truncate(&mut self, to: Offset, mut on_remove: impl FnMut(Offset, &StoredMessage)) -> u64 {
        let to = to.max(self.start_offset);
        let mut freed = 0;
        while self.records.len() > self.index_of(to) {
            let offset = self.offset_at(self.records.len() - 1);
            let r = self.records.pop_back().expect("end above start");
            self.keyed.pop_back();
            freed += r.bytes();
            on_remove(offset, &r);
            // Compaction may have left empty segments after the record's own.
            while self.segments.back().is_some_and(|s| s.base_offset > offset) {
                self.segments.pop_back();
            }
            let seg = self.segments.back_mut().expect("records live in segments");
            seg.bytes -= r.bytes();
            if seg.base_offset >= offset {
                self.segments.pop_back();
            }
        }
        // Segments that now start at or after `to` hold nothing.
        while self.compacted && self.segments.back().is_some_and(|s| s.base_offset >= to && s.bytes == 0) {
            self.segments.pop_back();
        }
        self.end = self.end.min(to);
        self.first_dirty = self.first_dirty.min(self.end);
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Message;

    fn rec(id: u64, at: u64, bytes: u32) -> StoredMessage {
        StoredMessage::new(&Message { id, published_at: SimTime(at), key: None, bytes })
    }

    #[test]
    fn segments_roll_and_retention_deletes_whole_segments() {
        let mut p = Partition::default();
        let day = SimDuration::from_secs(86_400);
        // segment.bytes = 250: three 100-byte records -> segments [0,1] and [2].
        for (i, t) in [(0, 10), (1, 20), (2, 30)] {
            assert_eq!(p.append(SimTime(t), rec(i, t, 100), 250, day), i);
        }
        assert_eq!(p.segments.len(), 2);
        let mut deleted = vec![];
        // At 25 with retention 4: segment 1 (max ts 20) is 5 old -> deleted; segment 2 (30) is not.
        let freed = p.enforce_retention(SimTime(25), SimDuration(4), |r| deleted.push(r.id()));
        assert_eq!((freed, deleted.clone()), (200, vec![0, 1]));
        assert_eq!(p.start_offset, 2);
        assert_eq!(p.end_offset(), 3);
        assert!(p.get(1).is_none());
        assert_eq!(p.get(2).map(|r| r.id()), Some(2));
        // Later the active segment expires too and the log becomes empty (start = end = 3).
        p.enforce_retention(SimTime(100), SimDuration(4), |r| deleted.push(r.id()));
        assert_eq!(deleted, vec![0, 1, 2]);
        assert_eq!((p.start_offset, p.end_offset()), (3, 3));
        assert_eq!(p.append(SimTime(101), rec(3, 101, 100), 250, day), 3, "offsets keep growing");
    }

    #[test]
    fn size_retention_deletes_oldest_segments_while_the_rest_stays_at_least_the_limit() {
        let mut p = Partition::default();
        let day = SimDuration::from_secs(86_400);
        // segment.bytes = 250, five 100-byte records: segments [0,1] [2,3] [4] (active), 500 bytes.
        for i in 0..5 {
            p.append(SimTime(i), rec(i, i, 100), 250, day);
        }
        assert_eq!(p.segments.len(), 3);
        let mut deleted = vec![];
        // retention.bytes = 250: excess 250; [0,1] (200) goes, [2,3] (200) would leave 100 < 250.
        assert_eq!(p.enforce_size(250, |r| deleted.push(r.id())), 200);
        assert_eq!((deleted.clone(), p.start_offset, p.size()), (vec![0, 1], 2, 300));
        // retention.bytes = 100: [2,3] goes, the active segment [4] stays (deleting it leaves 0 < 100).
        assert_eq!(p.enforce_size(100, |r| deleted.push(r.id())), 200);
        assert_eq!((p.start_offset, p.end_offset(), p.size()), (4, 5, 100));
        // Not above the limit: nothing; at 0 even the active segment goes (Kafka rolls a new one).
        assert_eq!(p.enforce_size(100, |_| {}), 0);
        assert_eq!(p.enforce_size(0, |r| deleted.push(r.id())), 100);
        assert_eq!(deleted, vec![0, 1, 2, 3, 4]);
        assert_eq!((p.start_offset, p.end_offset()), (5, 5));
    }

    #[test]
    fn a_stream_rolls_when_a_segment_reached_its_size_and_keeps_at_most_max_bytes_and_its_newest_segment() {
        let mut p = Partition::default();
        // max segment 250: a segment closes once it holds 250 or more, so 100-byte records go
        // three to a segment (300 bytes), where Kafka's segment.bytes would put two.
        let rolled: Vec<bool> = (0..7).map(|i| p.append_stream(SimTime(i * 10), rec(i, 0, 100), 250).1).collect();
        assert_eq!(rolled, vec![true, false, false, true, false, false, true]);
        assert_eq!(
            p.segments.iter().map(|s| (s.base_offset, s.bytes)).collect::<Vec<_>>(),
            vec![(0, 300), (3, 300), (6, 100)]
        );
        // Chunks are stamped with the write time, not the publish time (0 for all here).
        assert_eq!(p.segments[1].max_timestamp, SimTime(50));
        let mut deleted = vec![];
        // max_bytes 450: the newest (100) stays, [3..6) (300) fits in the 350 left, [0..3) does not.
        assert_eq!(p.enforce_stream_retention(SimTime(60), Some(450), None, |r| deleted.push(r.id())), 300);
        assert_eq!((deleted.clone(), p.start_offset), (vec![0, 1, 2], 3));
        // max_bytes 50: even the newest is larger, but it stays alone.
        p.enforce_stream_retention(SimTime(60), Some(50), None, |r| deleted.push(r.id()));
        assert_eq!((p.start_offset, p.size()), (6, 100));
        // Age: the last segment is never deleted, however old.
        assert_eq!(p.enforce_stream_retention(SimTime(10_000), None, Some(SimDuration(1)), |_| panic!("kept")), 0);
        // Two segments: the older goes once its newest chunk (70) is older than the age.
        p.append_stream(SimTime(70), rec(7, 0, 100), 250);
        p.append_stream(SimTime(80), rec(8, 0, 100), 250);
        p.append_stream(SimTime(90), rec(9, 0, 100), 250);
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.enforce_stream_retention(SimTime(95), None, Some(SimDuration(20)), |_| panic!("80 > 75")), 0);
        assert_eq!(
            p.enforce_stream_retention(SimTime(101), None, Some(SimDuration(20)), |r| deleted.push(r.id())),
            300
        );
        assert_eq!(p.start_offset, 9);
    }

    #[test]
    fn compaction_keeps_the_newest_record_per_key_in_closed_segments_and_offsets_do_not_move() {
        let mut p = Partition::compacted();
        let day = SimDuration::from_secs(86_400);
        // segment.bytes = 300: keys a b a | c b a | a c  (offsets 0-7), 100 bytes each;
        // segments [0..3) [3..6) [6..8) (active).
        let keys = [0, 1, 0, 2, 1, 0, 0, 2];
        for (i, &k) in keys.iter().enumerate() {
            let i = i as u64;
            assert_eq!(p.append_keyed(SimTime(i), rec(i, i, 100), k, 300, day), i);
        }
        assert_eq!(p.segments.len(), 3);
        // Dirty ratio 600/600 = 1 > 0.5: clean. The map of [0, 6) gives a:5 b:4 c:3, so 0 (a),
        // 1 (b) and 2 (a) go; 3 4 5 stay, and the active segment (6 and 7) is untouched although
        // 6 supersedes 5: the cleaner never reads the active segment.
        let mut removed = vec![];
        let done = p.clean(8, 0.5, 300, |r| removed.push(r.id()));
        assert_eq!(done, Cleaned { records: 3, bytes: 300 });
        assert_eq!(removed, vec![0, 1, 2]);
        let held: Vec<u64> = (0..8).filter(|&o| p.get(o).is_some()).collect();
        assert_eq!(held, vec![3, 4, 5, 6, 7]);
        assert_eq!((p.start_offset, p.end_offset(), p.size()), (0, 8, 500));
        // The emptied first segment merged with the next: [0..6) of 300 bytes, then the active one.
        assert_eq!(p.segments.iter().map(|s| (s.base_offset, s.bytes)).collect::<Vec<_>>(), vec![(0, 300), (6, 200)]);
        // A reader at 0 skips the gap to 3; fetch_end and bytes_from count held records only.
        assert_eq!(p.next_from(0).map(|(o, r)| (o, r.id())), Some((3, 3)));
        assert_eq!(p.fetch_end(0, 8, 250), 5);
        assert_eq!(p.bytes_from(1, 6, 1_000), 300);
        // Everything cleanable is clean now (dirty 0): no second pass.
        assert_eq!(p.clean(8, 0.5, 300, |_| panic!("nothing dirty")), Cleaned::default());
        // Truncation over the gap-free tail keeps offsets: to 7 removes 7 only.
        let mut truncated = vec![];
        p.truncate(7, |o, _| truncated.push(o));
        assert_eq!((truncated, p.end_offset()), (vec![7], 7));
        assert_eq!(p.append_keyed(SimTime(9), rec(9, 9, 100), 1, 300, day), 7);
    }

    #[test]
    fn compaction_waits_for_the_dirty_ratio() {
        let mut p = Partition::compacted();
        let day = SimDuration::from_secs(86_400);
        let append = |p: &mut Partition, ids: std::ops::Range<u64>| {
            for i in ids {
                p.append_keyed(SimTime(i), rec(i, i, 100), i % 10, 1_000, day);
            }
        };
        // Keys 0-9 once each fill segment [0, 10); 10 and 11 open the active one. All dirty
        // (1000 / 1000): cleaned, nothing superseded; the checkpoint moves to 10.
        append(&mut p, 0..12);
        assert_eq!(p.clean(12, 0.5, 1_000, |_| panic!("unique keys")), Cleaned::default());
        // Segment [10, 20) closes with the same ten keys: dirty 1000 of 2000 = 0.5, not above
        // min.cleanable.dirty.ratio: nothing yet, although every clean record is superseded.
        append(&mut p, 12..21);
        assert_eq!(p.clean(21, 0.5, 1_000, |_| panic!("ratio not reached")), Cleaned::default());
        // One more closed segment: 2000 of 3000 > 0.5. The newest of each key is in [20, 30):
        // offsets 0-19 go.
        append(&mut p, 21..31);
        let mut removed = vec![];
        assert_eq!(p.clean(31, 0.5, 1_000, |r| removed.push(r.id())), Cleaned { records: 20, bytes: 2_000 });
        assert_eq!(removed, (0..20).collect::<Vec<u64>>());
        assert_eq!(p.next_from(0).map(|(o, _)| o), Some(20));
    }
}
