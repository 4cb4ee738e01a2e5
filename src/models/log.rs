//! An append-only log shared by the models: a partition is a sequence of records addressed by
//! offset, kept in segments that retention deletes whole. The Kafka model keeps one per topic
//! partition; it is written so that another log (a RabbitMQ stream) can use the same segment and
//! retention code. 16 bytes per retained record; segments are a few words each.

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
    pub records: VecDeque<StoredMessage>,
    pub segments: VecDeque<Segment>,
}

impl Partition {
    /// The next offset to be written (log end offset).
    pub fn end_offset(&self) -> Offset {
        self.start_offset + self.records.len() as u64
    }

    pub fn get(&self, offset: Offset) -> Option<&StoredMessage> {
        offset.checked_sub(self.start_offset).and_then(|i| self.records.get(i as usize))
    }

    /// Appends one record, rolling to a new segment when the active one is full or old.
    #[inline(always)]
    pub fn append(&mut self, now: SimTime, msg: StoredMessage, segment_bytes: u64, segment_ms: SimDuration) -> Offset {
        let offset = self.end_offset();
        let roll = match self.segments.back() {
            None => true,
            Some(s) => s.bytes + msg.bytes() > segment_bytes && s.bytes > 0 || now.since(s.created_at) >= segment_ms,
        };
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
        seg.max_timestamp = seg.max_timestamp.max(msg.published_at);
        self.records.push_back(msg);
        offset
    }

    /// Deletes, oldest first, every segment whose newest record is older than `retention`
    /// (Kafka rolls the active segment first when it too has expired). Calls `on_delete` for each
    /// deleted record; returns the bytes freed.
    pub fn enforce_retention(
        &mut self,
        now: SimTime,
        retention: SimDuration,
        mut on_delete: impl FnMut(&StoredMessage),
    ) -> u64 {
        let mut freed = 0;
        while let Some(seg) = self.segments.front() {
            if now.since(seg.max_timestamp) <= retention || seg.bytes == 0 {
                break;
            }
            let seg = self.segments.pop_front().expect("peeked");
            let next_base = self.segments.front().map_or(self.end_offset(), |s| s.base_offset);
            for _ in seg.base_offset..next_base {
                let r = self.records.pop_front().expect("segment records are in the log");
                on_delete(&r);
            }
            self.start_offset = next_base;
            freed += seg.bytes;
        }
        freed
    }

    /// Bytes available from `offset` up to `until` (the high watermark: consumers read only
    /// below it), counting at most until `enough` is reached.
    pub fn bytes_from(&self, offset: Offset, until: Offset, enough: u64) -> u64 {
        let start = offset.saturating_sub(self.start_offset) as usize;
        let end = (until.saturating_sub(self.start_offset) as usize).min(self.records.len());
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
        while pos < until {
            let Some(r) = self.get(pos) else { break };
            if bytes + r.bytes() > max_bytes && bytes > 0 {
                break;
            }
            bytes += r.bytes();
            pos += 1;
        }
        pos
    }

    /// Id of the last record in the log, if any (the idempotent producer's last sequence, which
    /// Kafka keeps in its producer-state snapshot).
    pub fn last_id(&self) -> Option<u64> {
        self.records.back().map(|r| r.id())
    }

    /// Removes every record from `to` on (a replica truncating to its new leader's log, KIP-101 /
    /// KIP-279), newest first, calling `on_remove(offset, record)` for each. Returns the bytes
    /// removed.
    pub fn truncate(&mut self, to: Offset, mut on_remove: impl FnMut(Offset, &StoredMessage)) -> u64 {
        let to = to.max(self.start_offset);
        let mut freed = 0;
        while self.end_offset() > to {
            let offset = self.end_offset() - 1;
            let r = self.records.pop_back().expect("end above start");
            freed += r.bytes();
            on_remove(offset, &r);
            let seg = self.segments.back_mut().expect("records live in segments");
            seg.bytes -= r.bytes();
            if seg.base_offset >= offset {
                self.segments.pop_back();
            }
        }
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
}
