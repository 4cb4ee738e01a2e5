//! The producer's client side, as Kafka's `RecordAccumulator` and `Sender` do it:
//! * records are appended to the last batch of their partition's queue while it has room for the
//!   record's **wire size** (`batch.size` counts the 61-byte batch header and each record's
//!   varint-framed overhead, as `MemoryRecordsBuilder.hasRoomFor` does); a record that does not fit
//!   closes the batch and opens a new one;
//! * the sender looks at brokers, not partitions: a broker is ready when one of its partitions has
//!   a full batch (or more than one batch) or a batch that lingered `linger.ms`; it then drains the
//!   first batch of **every** partition it leads into one produce request (`drainBatchesForOneNode`),
//!   up to `max.request.size`, while fewer than `max.in.flight.requests.per.connection` requests are
//!   outstanding.

use super::partitioner::StickyPartitioner;
use crate::time::{SimDuration, SimTime};
use crate::workload::{Message, StoredMessage};
use std::collections::VecDeque;

/// `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`: the v2 batch header.
pub const RECORD_BATCH_OVERHEAD: u64 = 61;
/// `DefaultRecord.MAX_RECORD_OVERHEAD`: the largest framing of one record (varints at full width).
const MAX_RECORD_OVERHEAD: u64 = 21;

/// Bytes of a zigzag varint (Kafka's `ByteUtils.sizeOfVarint` / `sizeOfVarlong`).
fn varint_len(v: i64) -> u64 {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// Key, value and (empty) headers of a record, framed (`DefaultRecord.sizeOf`).
fn key_value_bytes(key_len: Option<u64>, value_len: u64) -> u64 {
    let key = key_len.map_or(1, |k| varint_len(k as i64) + k);
    key + varint_len(value_len as i64) + value_len + varint_len(0)
}

/// `DefaultRecord.sizeInBytes`: one record's bytes inside a batch, length prefix included.
pub fn record_wire_bytes(offset_delta: u64, timestamp_delta_ms: u64, key_len: Option<u64>, value_len: u64) -> u64 {
    let body = 1 // attributes
        + varint_len(timestamp_delta_ms as i64)
        + varint_len(offset_delta as i64)
        + key_value_bytes(key_len, value_len);
    body + varint_len(body as i64)
}

/// One batch of one partition in the accumulator.
#[derive(Debug)]
pub struct ProducerBatch {
    pub partition: u32,
    pub records: Vec<StoredMessage>,
    /// `estimatedSizeInBytes`: header plus framed records.
    pub wire_bytes: u64,
    /// The buffer's size: `batch.size`, or more for a record larger than that.
    write_limit: u64,
    created: SimTime,
    base_timestamp_ms: u64,
    /// Closed for appends: a record did not fit.
    closed: bool,
}

impl ProducerBatch {
    fn is_full(&self) -> bool {
        self.closed || self.wire_bytes >= self.write_limit
    }
}

/// Per-partition batch queues and the sticky partitioner for null keys.
pub struct Accumulator {
    batch_size: u64,
    linger: SimDuration,
    queues: Vec<VecDeque<ProducerBatch>>,
    /// Partitions whose queue is not empty, unordered (the sender sorts what it drains).
    nonempty: Vec<u32>,
    sticky: StickyPartitioner,
    /// Where the next drain starts, so that `max.request.size` does not always favour the same
    /// partitions.
    drain_index: u32,
    pool: Vec<Vec<StoredMessage>>,
    /// Records appended and not yet drained.
    pub records_waiting: u64,
}

/// What the sender should do after looking at the queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderCheck {
    /// A batch is ready: drain now.
    Ready,
    /// Nothing is ready; look again at this time (the first batch to reach `linger.ms`).
    WaitUntil(SimTime),
    /// Nothing is waiting.
    Idle,
}

impl Accumulator {
    pub fn new(seed: u64, partitions: u32, batch_size: u64, linger: SimDuration) -> Self {
        Accumulator {
            batch_size,
            linger,
            queues: (0..partitions).map(|_| VecDeque::new()).collect(),
            nonempty: Vec::new(),
            sticky: StickyPartitioner::new(seed, partitions, batch_size),
            drain_index: 0,
            pool: Vec::new(),
            records_waiting: 0,
        }
    }

    fn all_batches_full(&self, partition: u32) -> bool {
        self.queues[partition as usize].back().is_none_or(ProducerBatch::is_full)
    }

    /// The partition of a null-key record: the sticky one, after completing a switch that an open
    /// batch deferred (`RecordAccumulator.partitionChanged`).
    pub fn sticky_partition(&mut self) -> u32 {
        let p = self.sticky.current();
        if self.all_batches_full(p) {
            self.sticky.appended(0, true);
        }
        self.sticky.current()
    }

    /// Appends `msg` to `partition` at `now`; `sticky` if the partition came from
    /// [`Accumulator::sticky_partition`]. `key_len` is the serialized key's length (`None`: null).
    /// Returns true when the sender should be woken: a batch became full or a new one was opened.
    pub fn append(&mut self, now: SimTime, partition: u32, msg: &Message, key_len: Option<u64>, sticky: bool) -> bool {
        let p = partition as usize;
        let now_ms = now.0 / 1_000_000;
        let value = msg.bytes as u64;
        let stored = StoredMessage::new(msg);
        let mut appended = None;
        if let Some(last) = self.queues[p].back_mut()
            && !last.closed
        {
            let size = record_wire_bytes(
                last.records.len() as u64,
                now_ms.saturating_sub(last.base_timestamp_ms),
                key_len,
                value,
            );
            if last.wire_bytes + size <= last.write_limit {
                last.records.push(stored);
                last.wire_bytes += size;
                appended = Some(size);
            } else {
                last.closed = true;
            }
        }
        let new_batch = appended.is_none();
        let appended = match appended {
            Some(size) => size,
            None => {
                let size = RECORD_BATCH_OVERHEAD + record_wire_bytes(0, 0, key_len, value);
                let upper = RECORD_BATCH_OVERHEAD + MAX_RECORD_OVERHEAD + key_value_bytes(key_len, value);
                let mut records = self.pool.pop().unwrap_or_default();
                records.push(stored);
                if self.queues[p].is_empty() {
                    self.nonempty.push(partition);
                }
                self.queues[p].push_back(ProducerBatch {
                    partition,
                    records,
                    wire_bytes: size,
                    write_limit: self.batch_size.max(upper),
                    created: now,
                    base_timestamp_ms: now_ms,
                    closed: false,
                });
                size
            }
        };
        self.records_waiting += 1;
        if sticky {
            let full = self.all_batches_full(partition);
            self.sticky.appended(appended, full);
        }
        let q = &self.queues[p];
        new_batch || q.len() > 1 || q.back().is_some_and(ProducerBatch::is_full)
    }

    /// `RecordAccumulator.ready` for the one broker that leads every partition.
    pub fn check(&self, now: SimTime) -> SenderCheck {
        let mut next: Option<SimTime> = None;
        for &p in &self.nonempty {
            let q = &self.queues[p as usize];
            let first = q.front().expect("listed partitions have batches");
            let due = first.created.after(self.linger);
            if q.len() > 1 || first.is_full() || due <= now {
                return SenderCheck::Ready;
            }
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        next.map_or(SenderCheck::Idle, SenderCheck::WaitUntil)
    }

    /// `drainBatchesForOneNode`: the first batch of every partition, in partition order from the
    /// drain index, until `max_request_bytes` (at least one batch).
    pub fn drain(&mut self, max_request_bytes: u64, out: &mut Vec<ProducerBatch>) {
        self.nonempty.sort_unstable();
        let start = self.nonempty.partition_point(|&p| p < self.drain_index);
        let n = self.nonempty.len();
        let mut size = 0;
        let mut i = 0;
        while i < n {
            let p = self.nonempty[(start + i) % n];
            let q = &mut self.queues[p as usize];
            let first = q.front().expect("listed partitions have batches");
            if size + first.wire_bytes > max_request_bytes && !out.is_empty() {
                self.drain_index = p;
                break;
            }
            let mut batch = q.pop_front().expect("peeked");
            batch.closed = true;
            size += batch.wire_bytes;
            self.records_waiting -= batch.records.len() as u64;
            out.push(batch);
            i += 1;
        }
        self.nonempty.retain(|&p| !self.queues[p as usize].is_empty());
    }

    /// The producer process died: everything it had not sent is gone. Returns how many records.
    pub fn clear(&mut self) -> u64 {
        for q in &mut self.queues {
            q.clear();
        }
        self.nonempty.clear();
        std::mem::take(&mut self.records_waiting)
    }

    /// Returns a drained batch's record buffer for reuse.
    pub fn recycle(&mut self, mut records: Vec<StoredMessage>) {
        records.clear();
        self.pool.push(records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64, ms: u64, bytes: u32) -> Message {
        Message { id, published_at: SimTime(ms * 1_000_000), key: None, bytes }
    }

    #[test]
    fn record_sizes_worked_by_hand() {
        // 1 KiB value, null key, first record: attributes 1 + ts delta 1 + offset delta 1 + key -1 (1)
        // + value length varint(1024) = 2 + 1024 + headers count 1 = 1031; length prefix varint(1031) = 2.
        assert_eq!(record_wire_bytes(0, 0, None, 1024), 1033);
        // Key "12345": varint(5) = 1 + 5 bytes instead of 1.
        assert_eq!(record_wire_bytes(0, 0, Some(5), 1024), 1038);
        // Offset delta 64 is a 2-byte zigzag varint (128).
        assert_eq!(record_wire_bytes(64, 0, None, 10), record_wire_bytes(63, 0, None, 10) + 1);
    }

    #[test]
    fn one_kib_values_fit_fifteen_per_16k_batch() {
        let mut a = Accumulator::new(1, 1, 16_384, SimDuration::from_millis(100));
        let mut wakes = vec![];
        for i in 0..16 {
            wakes.push(a.append(SimTime(i * 1_000_000), 0, &msg(i, i, 1024), None, false));
        }
        // The first record opens a batch (wake: the sender computes its linger deadline); records 2
        // to 15 fit; the 16th does not: it closes the batch and opens a second one.
        assert!(wakes[0] && wakes[15]);
        assert!(wakes[1..15].iter().all(|w| !w));
        assert_eq!(a.check(SimTime(15_000_000)), SenderCheck::Ready, "a closed batch is ready");
        let mut out = vec![];
        a.drain(1 << 20, &mut out);
        assert_eq!(out.len(), 1, "one batch per partition per drain");
        assert_eq!(out[0].records.len(), 15);
        assert_eq!(out[0].wire_bytes, 61 + 15 * 1033);
        assert_eq!(a.records_waiting, 1);
        assert_eq!(a.check(SimTime(15_000_000)), SenderCheck::WaitUntil(SimTime(115_000_000)));
    }

    #[test]
    fn a_ready_broker_drains_every_partition() {
        let mut a = Accumulator::new(1, 3, 16_384, SimDuration::from_millis(5));
        a.append(SimTime(0), 2, &msg(0, 0, 100), None, false);
        a.append(SimTime(3_000_000), 0, &msg(1, 3, 100), None, false);
        assert_eq!(a.check(SimTime(4_000_000)), SenderCheck::WaitUntil(SimTime(5_000_000)));
        // At 5 ms partition 2's batch lingered enough; partition 0's (2 ms old) goes with it.
        assert_eq!(a.check(SimTime(5_000_000)), SenderCheck::Ready);
        let mut out = vec![];
        a.drain(1 << 20, &mut out);
        let mut parts: Vec<u32> = out.iter().map(|b| b.partition).collect();
        parts.sort();
        assert_eq!(parts, vec![0, 2]);
        assert_eq!(a.check(SimTime(5_000_000)), SenderCheck::Idle);
    }
}
