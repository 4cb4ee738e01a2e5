//! The producer's client side, as Kafka's `RecordAccumulator` and `Sender` do it:
//! * records are appended to the last batch of their partition's queue while it has room for the
//!   record's **wire size** (`batch.size` counts the 61-byte batch header and each record's
//!   varint-framed overhead, as `MemoryRecordsBuilder.hasRoomFor` does); a record that does not fit
//!   closes the batch and opens a new one;
//! * the sender looks at brokers, not partitions: a broker is ready when one of its partitions has
//!   a full batch (or more than one batch) or a batch that lingered `linger.ms`; it then drains the
//!   first batch of **every** partition it leads into one produce request (`drainBatchesForOneNode`),
//!   up to `max.request.size`, while fewer than `max.in.flight.requests.per.connection` requests are
//!   outstanding;
//! * a batch not acknowledged `delivery.timeout.ms` after it was created fails, waiting here or in
//!   flight (`expiredBatches`, `Sender.getExpiredInflightBatches`);
//! * a failed batch goes back in record order with idempotence, at the front of its queue without
//!   (`reenqueue`), so that batches failed together are retried newest first: reordered.

use super::partitioner::StickyPartitioner;
use crate::time::{SimDuration, SimTime};
use crate::workload::{Message, StoredMessage};
use std::collections::VecDeque;

/// `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`: the v2 batch header.
pub const RECORD_BATCH_OVERHEAD: u64 = 61;
/// `DefaultRecord.MAX_RECORD_OVERHEAD`: the largest framing of one record (varints at full width).
const MAX_RECORD_OVERHEAD: u64 = 21;

/// `MemoryRecordsBuilder.COMPRESSION_RATE_ESTIMATION_FACTOR`: the open batch's size is estimated
/// 5% above the topic's estimated ratio, to be safe.
const COMPRESSION_RATE_ESTIMATION_FACTOR: f32 = 1.05;
/// `CompressionRatioEstimator`: a batch that compressed better than the estimate lowers it by this
/// much at most; one that compressed worse raises it by at least the other step.
const COMPRESSION_RATIO_IMPROVING_STEP: f32 = 0.005;
const COMPRESSION_RATIO_DETERIORATE_STEP: f32 = 0.05;

/// The producer's `compression.type` (other than none): how a batch's records shrink, and the
/// topic's running estimate of it (`CompressionRatioEstimator`), which decides how many records
/// a batch takes before it counts as `batch.size` full.
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// Bytes out per byte in after a batch's first record, in millionths (at most 1): records
    /// compress mostly against each other (the field names and values they share), so the first
    /// record of a batch travels at its full size.
    pub rate_ppm: u64,
    /// The codec's frame (header, trailer, block lengths) in every batch.
    pub frame_bytes: u64,
    /// CPU to compress one byte on the producer, picoseconds (0 in a costless world).
    pub compress_ps: u64,
    /// Batches compressed, their records, and their bytes before and after.
    batches: u64,
    records: u64,
    uncompressed_bytes: u64,
    compressed_bytes: u64,
    /// Compressed batch / uncompressed records, as the producer last estimated it (starts at 1.0,
    /// `CompressionType.rate`).
    estimate: f32,
}

impl Compression {
    pub fn new(rate_ppm: u64, frame_bytes: u64, compress_ps: u64) -> Self {
        Compression {
            rate_ppm: rate_ppm.min(1_000_000),
            frame_bytes,
            compress_ps,
            batches: 0,
            records: 0,
            uncompressed_bytes: 0,
            compressed_bytes: 0,
            estimate: 1.0,
        }
    }

    /// The run's figures so far.
    pub fn stats(&self, codec: &'static str) -> CompressionStats {
        let round = |x: f64, scale: f64| (x * scale).round() / scale;
        CompressionStats {
            codec,
            batches: self.batches,
            uncompressed_bytes: self.uncompressed_bytes,
            compressed_bytes: self.compressed_bytes,
            ratio: round(self.uncompressed_bytes as f64 / self.compressed_bytes.max(1) as f64, 1e4),
            records_per_batch: round(self.records as f64 / self.batches.max(1) as f64, 1e2),
        }
    }

    /// Two producers' figures together (the estimate is each producer's own: the first's is kept).
    pub fn merged(self, other: Compression) -> Compression {
        Compression {
            batches: self.batches + other.batches,
            records: self.records + other.records,
            uncompressed_bytes: self.uncompressed_bytes + other.uncompressed_bytes,
            compressed_bytes: self.compressed_bytes + other.compressed_bytes,
            ..self
        }
    }

    /// `MemoryRecordsBuilder.estimatedBytesWritten` of an open batch, whose estimate of the ratio
    /// was the topic's when it was created (Java's float arithmetic).
    fn estimated(estimate: f32, uncompressed: u64) -> u64 {
        RECORD_BATCH_OVERHEAD + (uncompressed as f32 * estimate * COMPRESSION_RATE_ESTIMATION_FACTOR) as u64
    }

    /// The closed batch's size: header, frame, the first record whole and the rest compressed.
    pub fn batch_bytes(&self, uncompressed: u64, first_record: u64) -> u64 {
        let rest = uncompressed - first_record;
        RECORD_BATCH_OVERHEAD
            + self.frame_bytes
            + first_record
            + (u128::from(rest) * u128::from(self.rate_ppm)).div_ceil(1_000_000) as u64
    }

    /// `CompressionRatioEstimator.updateEstimation` with a closed batch's ratio.
    fn observe(&mut self, observed: f32) {
        let e = self.estimate;
        if observed > e {
            self.estimate = (e + COMPRESSION_RATIO_DETERIORATE_STEP).max(observed);
        } else if observed < e {
            self.estimate = (e - COMPRESSION_RATIO_IMPROVING_STEP).max(observed);
        }
    }

    pub fn estimate(&self) -> f32 {
        self.estimate
    }
}

/// What the producer's compression did over a run: summary.json's `compression` (Kafka only).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CompressionStats {
    /// `compression.type`.
    pub codec: &'static str,
    /// Batches compressed (each once, however often it is sent).
    pub batches: u64,
    /// Their records before compression (framed as in a v2 batch).
    pub uncompressed_bytes: u64,
    /// The batches as sent and stored: batch header, codec frame and compressed records.
    pub compressed_bytes: u64,
    /// `uncompressed_bytes / compressed_bytes`.
    pub ratio: f64,
    pub records_per_batch: f64,
}

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

/// How the leader answered for one batch (Kafka's per-partition error code in the produce response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchError {
    #[default]
    None,
    /// `NOT_LEADER_OR_FOLLOWER`: this broker does not lead the partition (any more).
    NotLeader,
    /// `NOT_ENOUGH_REPLICAS`: `acks = all` and the ISR is smaller than `min.insync.replicas`; not
    /// appended.
    NotEnoughReplicas,
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`: appended, but the ISR shrank below the minimum before
    /// the HW reached it.
    NotEnoughReplicasAfterAppend,
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER`: the idempotent producer's previous batch is missing.
    OutOfOrder,
    /// `REQUEST_TIMED_OUT`: the ISR did not reach the batch within the request's timeout.
    Timeout,
}

/// One batch of one partition in the accumulator.
#[derive(Debug)]
pub struct ProducerBatch {
    pub partition: u32,
    /// Sends so far; a retried batch waits `retry.backoff.ms` (until `retry_after`).
    pub attempts: u32,
    pub retry_after: SimTime,
    /// Idempotence: one past the id of the record sent before this batch to its partition (0: the
    /// first, or a new producer epoch); the leader appends only after that record. Set when the
    /// batch is first drained.
    pub prev: u64,
    pub chained: bool,
    /// Set by the leader: the answer for this batch.
    pub error: BatchError,
    /// Leader side: the offset after the batch once appended (what the HW must reach).
    pub need: u64,
    pub records: Vec<StoredMessage>,
    /// The records' keys, kept only for a compacted topic (the log needs them); empty otherwise.
    pub keys: Vec<u64>,
    /// `estimatedSizeInBytes`: header plus framed records (compressed: the estimate while open, the
    /// compressed size once closed).
    pub wire_bytes: u64,
    /// Compressed batches: the framed records before compression (what the leader decompresses to
    /// validate them), and the first record's share of it; 0 without compression.
    pub uncompressed: u64,
    first_record: u64,
    /// The topic's compression ratio estimate when the batch was created (`ProducerBatch`'s
    /// constructor hands it to its `MemoryRecordsBuilder`).
    ratio_estimate: f32,
    /// Closed and, with compression, compressed: its size is final.
    sealed: bool,
    /// The buffer's size: `batch.size`, or more for a record larger than that.
    write_limit: u64,
    created: SimTime,
    base_timestamp_ms: u64,
    /// Closed for appends: a record did not fit.
    closed: bool,
}

#[cfg(test)]
impl ProducerBatch {
    /// A batch of `partition` that its leader appended up to offset `need` (what the HW must
    /// reach), for the brokers' tests.
    pub(super) fn appended(partition: u32, need: u64) -> Self {
        ProducerBatch {
            partition,
            attempts: 1,
            retry_after: SimTime::ZERO,
            prev: 0,
            chained: false,
            error: BatchError::None,
            need,
            records: Vec::new(),
            keys: Vec::new(),
            wire_bytes: 0,
            uncompressed: 0,
            first_record: 0,
            ratio_estimate: 1.0,
            sealed: true,
            write_limit: 0,
            created: SimTime::ZERO,
            base_timestamp_ms: 0,
            closed: true,
        }
    }
}

impl ProducerBatch {
    fn is_full(&self) -> bool {
        self.closed || self.wire_bytes >= self.write_limit
    }

    pub fn created(&self) -> SimTime {
        self.created
    }

    /// The `buffer.memory` this batch holds until it is acknowledged or failed.
    pub fn reserved(&self) -> u64 {
        self.write_limit
    }

    pub fn first_id(&self) -> u64 {
        self.records.first().map_or(0, |r| r.id())
    }

    pub fn last_id(&self) -> u64 {
        self.records.last().map_or(0, |r| r.id())
    }
}

/// What the sender found in the accumulator (`RecordAccumulator.ready`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// Broker nodes (bit set) that lead a partition with a sendable batch.
    pub nodes: u64,
    /// When to look again: the first batch to reach `linger.ms` or the end of its backoff.
    pub next: Option<SimTime>,
    /// Some partition with batches has no known leader: refresh the metadata.
    pub no_leader: bool,
    /// Some batch's `delivery.timeout.ms` may have passed: expire it first.
    pub expired: bool,
}

/// Per-partition batch queues and the sticky partitioner for null keys.
pub struct Accumulator {
    batch_size: u64,
    linger: SimDuration,
    delivery_timeout: SimDuration,
    /// No batch expires before this (it may be earlier than any batch's deadline: batches drained
    /// since do not move it, and the next [`Accumulator::expire`] recomputes it).
    next_expiry: SimTime,
    queues: Vec<VecDeque<ProducerBatch>>,
    /// Partitions whose queue is not empty, unordered (the sender sorts what it drains).
    nonempty: Vec<u32>,
    sticky: StickyPartitioner,
    /// Per broker node, where the next drain starts, so that `max.request.size` does not always
    /// favour the same partitions (`nodesDrainIndex`).
    drain_index: Vec<u32>,
    pool: Vec<Vec<StoredMessage>>,
    /// Records appended and not yet drained.
    pub records_waiting: u64,
    /// `buffer.memory`, and what the batches not yet acknowledged or failed hold of it: each
    /// takes its `write_limit` (`batch.size`, or more for a larger record) when created
    /// (`BufferPool.allocate`) and gives it back when done ([`Accumulator::release`]).
    buffer_memory: u64,
    reserved: u64,
    /// The application is blocked in `send()` waiting for buffer memory (`BufferPool` has a
    /// waiter): every partition's first batch is then sendable at once, lingering or not
    /// (`RecordAccumulator.ready`'s `exhausted`).
    pub exhausted: bool,
    /// Batches carry their records' keys (a compacted topic).
    pub keep_keys: bool,
    /// `enable.idempotence`: a retried batch goes back in sequence order (`insertInSequenceOrder`);
    /// without it, at the front of its queue (`addFirst`).
    pub idempotent: bool,
    /// With `max.in.flight.requests.per.connection = 1` (Kafka's `guaranteeMessageOrder`), per
    /// partition: a batch of it is in flight, so no other is sent (`mutePartition`); empty
    /// otherwise.
    pub muted: Vec<bool>,
    /// The v0 message format of Kafka 0.8 (a profile of that era): this many bytes of framing per
    /// record and no batch header, instead of the v2 record batch. `None`: v2.
    pub v0_record_overhead: Option<u64>,
    /// `compression.type`; `None`: none.
    pub compression: Option<Compression>,
}

/// `ProducerBatch.close`: the batch is compressed to its final size, which the topic's estimate
/// learns from, and its records are stored as their shares of it (the broker keeps the batch as
/// sent, so every card, disk and fetch limit downstream counts compressed bytes).
fn compress(c: &mut Compression, batch: &mut ProducerBatch) {
    let total = c.batch_bytes(batch.uncompressed, batch.first_record);
    batch.wire_bytes = total;
    c.batches += 1;
    c.records += batch.records.len() as u64;
    c.uncompressed_bytes += batch.uncompressed;
    c.compressed_bytes += total;
    // `MemoryRecordsBuilder.actualCompressionRatio`: the batch's size over its records' uncompressed size.
    c.observe(total as f32 / batch.uncompressed as f32);
    let weights: u64 = batch.records.iter().map(StoredMessage::bytes).sum();
    let (mut cum, mut given) = (0u64, 0u64);
    for r in &mut batch.records {
        cum += r.bytes();
        let upto = (u128::from(total) * u128::from(cum) / u128::from(weights.max(1))) as u64;
        *r = r.with_bytes((upto - given).min(MAX_STORED_BYTES));
        given = upto;
    }
}

/// The largest size a stored record can carry (24 bits).
const MAX_STORED_BYTES: u64 = (1 << 24) - 1;

impl Accumulator {
    pub fn new(
        seed: u64,
        partitions: u32,
        brokers: u32,
        batch_size: u64,
        linger: SimDuration,
        delivery_timeout: SimDuration,
    ) -> Self {
        Accumulator {
            batch_size,
            linger,
            delivery_timeout,
            next_expiry: SimTime::NEVER,
            queues: (0..partitions).map(|_| VecDeque::new()).collect(),
            nonempty: Vec::new(),
            sticky: StickyPartitioner::new(seed, partitions, batch_size),
            drain_index: vec![0; brokers as usize],
            pool: Vec::new(),
            records_waiting: 0,
            buffer_memory: u64::MAX,
            reserved: 0,
            exhausted: false,
            keep_keys: false,
            idempotent: false,
            muted: Vec::new(),
            v0_record_overhead: None,
            compression: None,
        }
    }

    /// The accumulator of producer `producer` of several: its sticky partitioner draws from the
    /// producer's own stream.
    pub fn of_producer(mut self, seed: u64, producer: u32) -> Self {
        let partitions = self.queues.len() as u32;
        self.sticky = StickyPartitioner::of_producer(seed, producer, partitions, self.batch_size);
        self
    }

    /// Bounds the batches' memory to `bytes` (`buffer.memory`; unbounded until set).
    pub fn with_buffer_memory(mut self, bytes: u64) -> Self {
        self.buffer_memory = bytes;
        self
    }

    /// A batch of `bytes` (its `write_limit`) was acknowledged or failed: its memory is free.
    pub fn release(&mut self, bytes: u64) {
        debug_assert!(bytes <= self.reserved, "released {bytes} of {} reserved", self.reserved);
        self.reserved = self.reserved.saturating_sub(bytes);
    }

    /// No partition has a batch.
    pub fn is_empty(&self) -> bool {
        self.nonempty.is_empty()
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
    /// Returns whether the sender should be woken (a batch became full or a new one was opened),
    /// or `None` if the record needs a new batch and `buffer.memory` has no room for it: nothing
    /// was appended, and `send()` blocks.
    pub fn append(
        &mut self,
        now: SimTime,
        partition: u32,
        msg: &Message,
        key_len: Option<u64>,
        sticky: bool,
    ) -> Option<bool> {
        let p = partition as usize;
        let now_ms = now.0 / 1_000_000;
        let value = msg.bytes as u64;
        let stored = StoredMessage::new(msg);
        let mut appended = None;
        if let Some(last) = self.queues[p].back_mut()
            && !last.closed
        {
            let size = match self.v0_record_overhead {
                Some(framing) => framing + key_len.unwrap_or(0) + value,
                None => record_wire_bytes(
                    last.records.len() as u64,
                    now_ms.saturating_sub(last.base_timestamp_ms),
                    key_len,
                    value,
                ),
            };
            // `hasRoomFor`: with compression, the estimated compressed size so far plus the new
            // record uncompressed ("be conservative").
            if last.wire_bytes + size <= last.write_limit {
                last.records.push(stored);
                if self.keep_keys {
                    last.keys.push(msg.key.unwrap_or(0));
                }
                appended = Some(match &self.compression {
                    None => {
                        last.wire_bytes += size;
                        size
                    }
                    Some(_) => {
                        last.uncompressed += size;
                        let before = last.wire_bytes;
                        last.wire_bytes = Compression::estimated(last.ratio_estimate, last.uncompressed);
                        last.wire_bytes - before
                    }
                });
            } else {
                last.closed = true;
            }
        }
        let new_batch = appended.is_none();
        let appended = match appended {
            Some(size) => size,
            None => {
                let (size, upper) = match self.v0_record_overhead {
                    // A v0 message set: no batch header, every record the same framing.
                    Some(framing) => (framing + key_len.unwrap_or(0) + value, framing + key_len.unwrap_or(0) + value),
                    None => (
                        RECORD_BATCH_OVERHEAD + record_wire_bytes(0, 0, key_len, value),
                        RECORD_BATCH_OVERHEAD + MAX_RECORD_OVERHEAD + key_value_bytes(key_len, value),
                    ),
                };
                let write_limit = self.batch_size.max(upper);
                if self.buffer_memory - self.reserved < write_limit {
                    return None;
                }
                self.reserved += write_limit;
                let mut records = self.pool.pop().unwrap_or_default();
                records.push(stored);
                if self.queues[p].is_empty() {
                    self.nonempty.push(partition);
                }
                self.next_expiry = self.next_expiry.min(now.after(self.delivery_timeout));
                let (wire_bytes, uncompressed, ratio_estimate) = match &self.compression {
                    None => (size, 0, 1.0),
                    Some(c) => {
                        let records = size - RECORD_BATCH_OVERHEAD;
                        (Compression::estimated(c.estimate, records), records, c.estimate)
                    }
                };
                self.queues[p].push_back(ProducerBatch {
                    partition,
                    attempts: 0,
                    retry_after: SimTime::ZERO,
                    prev: 0,
                    chained: false,
                    error: BatchError::None,
                    need: 0,
                    records,
                    keys: if self.keep_keys { vec![msg.key.unwrap_or(0)] } else { Vec::new() },
                    wire_bytes,
                    uncompressed,
                    first_record: uncompressed,
                    ratio_estimate,
                    sealed: false,
                    write_limit,
                    created: now,
                    base_timestamp_ms: now_ms,
                    closed: false,
                });
                wire_bytes
            }
        };
        self.records_waiting += 1;
        if sticky {
            let full = self.all_batches_full(partition);
            self.sticky.appended(appended, full);
        }
        let q = &self.queues[p];
        Some(new_batch || q.len() > 1 || q.back().is_some_and(ProducerBatch::is_full))
    }

    /// `RecordAccumulator.ready`: which broker nodes lead a partition whose first batch is full,
    /// has a batch behind it, or lingered `linger.ms` (and is not backing off after a failure);
    /// `leaders[p]` is the producer's metadata. A batch whose `delivery.timeout.ms` may have passed
    /// is reported first (`expired`), to be taken out before anything is drained.
    /// Stops looking as soon as every node in `all_nodes` is ready.
    #[inline(always)]
    pub fn check(&self, now: SimTime, leaders: &[Option<u16>], all_nodes: u64) -> Ready {
        let mut r = Ready::default();
        if self.next_expiry <= now {
            r.expired = true;
            return r;
        }
        let soonest = |n: Option<SimTime>, t: SimTime| Some(n.map_or(t, |n: SimTime| n.min(t)));
        for &p in &self.nonempty {
            let q = &self.queues[p as usize];
            if !self.muted.is_empty() && self.muted[p as usize] {
                continue;
            }
            let first = q.front().expect("listed partitions have batches");
            let due = first.created.after(self.linger);
            if let Some(node) = leaders[p as usize]
                && first.retry_after <= now
                && (q.len() > 1 || first.is_full() || due <= now || self.exhausted)
            {
                r.nodes |= 1 << node;
                if r.nodes == all_nodes {
                    return r;
                }
                continue;
            }
            // Not sendable now: without a leader, backing off, or lingering.
            if leaders[p as usize].is_none() {
                r.no_leader = true;
            } else if first.retry_after > now {
                r.next = soonest(r.next, first.retry_after);
            } else {
                r.next = soonest(r.next, due);
            }
        }
        r
    }

    /// The earliest instant a batch here may reach its delivery timeout, if any batch waits.
    pub fn next_expiry(&self) -> Option<SimTime> {
        (!self.nonempty.is_empty()).then_some(self.next_expiry)
    }

    /// `drainBatchesForOneNode`: the first batch of every partition `node` leads (not backing
    /// off), in partition order from the node's drain index, until `max_request_bytes` (at least
    /// one batch).
    pub fn drain(
        &mut self,
        now: SimTime,
        node: u16,
        leaders: &[Option<u16>],
        max_request_bytes: u64,
        out: &mut Vec<ProducerBatch>,
    ) {
        self.nonempty.sort_unstable();
        let start = self.nonempty.partition_point(|&p| p < self.drain_index[node as usize]);
        let n = self.nonempty.len();
        let mut size = 0;
        let mut i = 0;
        while i < n {
            let p = self.nonempty[(start + i) % n];
            i += 1;
            if leaders[p as usize] != Some(node) || (!self.muted.is_empty() && self.muted[p as usize]) {
                continue;
            }
            let q = &mut self.queues[p as usize];
            let first = q.front().expect("listed partitions have batches");
            if first.retry_after > now {
                continue;
            }
            if size + first.wire_bytes > max_request_bytes && !out.is_empty() {
                self.drain_index[node as usize] = p;
                break;
            }
            let mut batch = q.pop_front().expect("peeked");
            batch.closed = true;
            if !batch.sealed {
                batch.sealed = true;
                if let Some(c) = &mut self.compression {
                    compress(c, &mut batch);
                }
            }
            if !self.muted.is_empty() {
                self.muted[p as usize] = true;
            }
            size += batch.wire_bytes;
            self.records_waiting -= batch.records.len() as u64;
            out.push(batch);
        }
        self.nonempty.retain(|&p| !self.queues[p as usize].is_empty());
    }

    /// `RecordAccumulator.expiredBatches`: takes out every batch whose `delivery.timeout.ms` passed
    /// (`ProducerBatch.hasReachedDeliveryTimeout`: created at least that long ago). Kafka stops at
    /// the first batch of a queue that has not expired; a queue reordered by retries (without
    /// idempotence) may hold an older batch behind it, which here expires on time too, as the
    /// setting promises ("an upper bound on the time to report success or failure").
    pub fn expire(&mut self, now: SimTime, out: &mut Vec<ProducerBatch>) {
        let dt = self.delivery_timeout;
        let mut next = SimTime::NEVER;
        for &p in &self.nonempty {
            let q = &mut self.queues[p as usize];
            let mut i = 0;
            while i < q.len() {
                let deadline = q[i].created.after(dt);
                if deadline <= now {
                    let b = q.remove(i).expect("in range");
                    self.records_waiting -= b.records.len() as u64;
                    out.push(b);
                } else {
                    next = next.min(deadline);
                    i += 1;
                }
            }
        }
        self.next_expiry = next;
        self.nonempty.retain(|&p| !self.queues[p as usize].is_empty());
    }

    /// `RecordAccumulator.reenqueue`: a failed batch goes back to its partition's queue, closed, to
    /// be sent again after `retry_after`. The idempotent producer inserts it in sequence (record)
    /// order; without idempotence it goes first (`addFirst`), so that batches of one partition that
    /// failed together (requests in flight when a connection closed, or answered with errors) are
    /// retried newest first, and a batch retried while a later one succeeded lands behind it.
    pub fn reenqueue(&mut self, batch: ProducerBatch) {
        let p = batch.partition;
        let q = &mut self.queues[p as usize];
        if q.is_empty() {
            self.nonempty.push(p);
        }
        self.records_waiting += batch.records.len() as u64;
        self.next_expiry = self.next_expiry.min(batch.created.after(self.delivery_timeout));
        if self.idempotent {
            let first = batch.first_id();
            let at = q.partition_point(|b| b.first_id() < first);
            q.insert(at, batch);
        } else {
            q.push_front(batch);
        }
    }

    /// The producer process died: everything it had not sent is gone. Returns how many records.
    pub fn clear(&mut self) -> u64 {
        for q in &mut self.queues {
            q.clear();
        }
        self.nonempty.clear();
        self.next_expiry = SimTime::NEVER;
        self.muted.iter_mut().for_each(|m| *m = false);
        self.reserved = 0;
        self.exhausted = false;
        std::mem::take(&mut self.records_waiting)
    }

    /// The request that carried a batch of `partition` was answered or failed: with
    /// `guaranteeMessageOrder`, the partition may send again (`unmutePartition`).
    pub fn unmute(&mut self, partition: u32) {
        if !self.muted.is_empty() {
            self.muted[partition as usize] = false;
        }
    }

    /// An empty record buffer (from the pool when one is free).
    pub fn take_buffer(&mut self) -> Vec<StoredMessage> {
        self.pool.pop().unwrap_or_default()
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

    const DT: SimDuration = SimDuration(120_000_000_000);

    fn ready(nodes: u64) -> Ready {
        Ready { nodes, ..Ready::default() }
    }

    fn wait(at: SimTime) -> Ready {
        Ready { next: Some(at), ..Ready::default() }
    }

    /// Two 16 KiB batches fill a 32 KiB `buffer.memory`: a record for a third partition needs a
    /// new batch and is refused (nothing appended), while one for an open batch needs no memory.
    /// While `send()` is blocked, a batch still lingering is ready at once; a released batch makes
    /// room again.
    #[test]
    fn each_batch_holds_batch_size_of_buffer_memory_until_released() {
        let mut a = Accumulator::new(1, 3, 1, 16_384, SimDuration::from_millis(100), DT).with_buffer_memory(32_768);
        assert_eq!(a.append(SimTime(0), 0, &msg(0, 0, 100), None, false), Some(true));
        assert_eq!(a.append(SimTime(0), 1, &msg(1, 0, 100), None, false), Some(true));
        assert_eq!(a.append(SimTime(0), 0, &msg(2, 0, 100), None, false), Some(false));
        assert_eq!(a.append(SimTime(0), 2, &msg(3, 0, 100), None, false), None);
        assert_eq!(a.records_waiting, 3);
        let l = [Some(0); 3];
        assert_eq!(a.check(SimTime(0), &l, 1), wait(SimTime(100_000_000)));
        a.exhausted = true;
        assert_eq!(a.check(SimTime(0), &l, 1), ready(1));
        a.release(16_384);
        assert_eq!(a.append(SimTime(0), 2, &msg(3, 0, 100), None, false), Some(true));
    }

    #[test]
    fn one_kib_values_fit_fifteen_per_16k_batch() {
        let mut a = Accumulator::new(1, 1, 1, 16_384, SimDuration::from_millis(100), DT);
        let mut wakes = vec![];
        for i in 0..16 {
            wakes.push(a.append(SimTime(i * 1_000_000), 0, &msg(i, i, 1024), None, false).unwrap());
        }
        // The first record opens a batch (wake: the sender computes its linger deadline); records 2
        // to 15 fit; the 16th does not: it closes the batch and opens a second one.
        assert!(wakes[0] && wakes[15]);
        assert!(wakes[1..15].iter().all(|w| !w));
        let l = [Some(0)];
        assert_eq!(a.check(SimTime(15_000_000), &l, 0b11), ready(1), "a closed batch is ready");
        let mut out = vec![];
        a.drain(SimTime(15_000_000), 0, &l, 1 << 20, &mut out);
        assert_eq!(out.len(), 1, "one batch per partition per drain");
        assert_eq!(out[0].records.len(), 15);
        assert_eq!(out[0].wire_bytes, 61 + 15 * 1033);
        assert_eq!(a.records_waiting, 1);
        assert_eq!(a.check(SimTime(15_000_000), &l, 0b11), wait(SimTime(115_000_000)));
    }

    #[test]
    fn in_the_v0_format_a_8196_byte_batch_holds_65_records_of_126_bytes() {
        // Kreps's 2014 producer: batch.size 8196, 100-byte values; each record framed with 26
        // bytes (0.8's message set), no batch header: 65 x 126 = 8190 fit, the 66th does not.
        let mut a = Accumulator::new(1, 1, 1, 8196, SimDuration::ZERO, DT);
        a.v0_record_overhead = Some(26);
        for i in 0..66 {
            a.append(SimTime(i), 0, &msg(i, i, 100), None, false);
        }
        let mut out = vec![];
        a.drain(SimTime(66), 0, &[Some(0)], 1 << 20, &mut out);
        assert_eq!((out[0].records.len(), out[0].wire_bytes), (65, 65 * 126));
    }

    /// lz4 at half size past the first record (rate 0.5): a batch of 15 records of 1,033 bytes is
    /// the header 61 + frame 15 + the first record 1,033 + half of the other 14 (7,231) = 8,340.
    #[test]
    fn a_compressed_batch_by_hand_and_its_records_shares() {
        let c = Compression::new(500_000, 15, 0);
        assert_eq!(c.batch_bytes(15 * 1033, 1033), 61 + 15 + 1033 + 7231);
        // Bigger batches compress better: the first record and the fixed bytes are shared by more.
        let ratio = |n: u64| (n * 1033) as f64 / c.batch_bytes(n * 1033, 1033) as f64;
        assert!(ratio(1) < 1.0 && ratio(1) < ratio(15) && ratio(15) < ratio(150) && ratio(150) < 2.0);
        // A batch opened while the estimate is 1.0 counts its records uncompressed, plus the 1.05
        // safety factor: after 15, 61 + 15,495 x 1.05 = 16,330, and a 16th (1,033 more) does not
        // fit 16,384. Closed, it is compressed and the records weigh their shares of it, which add
        // up to the batch exactly.
        let mut a = Accumulator::new(1, 1, 1, 16_384, SimDuration::from_secs(1), DT);
        a.compression = Some(c);
        for i in 0..16 {
            a.append(SimTime(i), 0, &msg(i, 0, 1024), None, false);
        }
        let mut out = vec![];
        a.drain(SimTime(20), 0, &[Some(0)], 1 << 20, &mut out);
        let b = &out[0];
        assert_eq!(b.records.len(), 15);
        assert_eq!(b.uncompressed, 15 * 1033);
        assert_eq!(b.wire_bytes, 8340);
        assert_eq!(b.records.iter().map(StoredMessage::bytes).sum::<u64>(), b.wire_bytes);
        // `CompressionRatioEstimator`: better than the estimate, it improves by 0.005 a batch.
        let e = a.compression.unwrap().estimate();
        assert!((e - 0.995).abs() < 1e-6, "{e}");
        let stats = a.compression.unwrap().stats("lz4");
        assert_eq!((stats.batches, stats.uncompressed_bytes, stats.compressed_bytes), (1, 15 * 1033, 8340));
    }

    #[test]
    fn the_ratio_estimate_falls_slowly_and_rises_at_once() {
        let mut c = Compression::new(500_000, 15, 0);
        c.observe(0.5);
        assert!((c.estimate() - 0.995).abs() < 1e-6);
        c.estimate = 0.5;
        // Worse than estimated: up by at least 0.05, or to the observation if that is higher.
        c.observe(0.52);
        assert!((c.estimate() - 0.55).abs() < 1e-6);
        c.observe(0.9);
        assert!((c.estimate() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn a_ready_broker_drains_every_partition() {
        let mut a = Accumulator::new(1, 3, 1, 16_384, SimDuration::from_millis(5), DT);
        a.append(SimTime(0), 2, &msg(0, 0, 100), None, false);
        a.append(SimTime(3_000_000), 0, &msg(1, 3, 100), None, false);
        let l = [Some(0); 3];
        assert_eq!(a.check(SimTime(4_000_000), &l, 0b11), wait(SimTime(5_000_000)));
        // At 5 ms partition 2's batch lingered enough; partition 0's (2 ms old) goes with it.
        assert_eq!(a.check(SimTime(5_000_000), &l, 0b11).nodes, 1);
        let mut out = vec![];
        a.drain(SimTime(5_000_000), 0, &l, 1 << 20, &mut out);
        let mut parts: Vec<u32> = out.iter().map(|b| b.partition).collect();
        parts.sort();
        assert_eq!(parts, vec![0, 2]);
        assert_eq!(a.check(SimTime(5_000_000), &l, 0b11), Ready::default());
    }

    #[test]
    fn a_retried_batch_backs_off_goes_back_in_order_and_expires() {
        let mut a = Accumulator::new(1, 2, 2, 16_384, SimDuration::ZERO, DT);
        a.append(SimTime(0), 0, &msg(0, 0, 100), None, false);
        a.append(SimTime(0), 1, &msg(1, 0, 100), None, false);
        // Partition 0 on broker 0, partition 1 on broker 1; partition 1's leader is unknown.
        let l = [Some(0), None];
        let r = a.check(SimTime(0), &l, 0b11);
        assert_eq!((r.nodes, r.no_leader, r.next), (1, true, None));
        let mut out = vec![];
        a.drain(SimTime(0), 0, &l, 1 << 20, &mut out);
        assert_eq!(out.len(), 1);
        let mut b = out.pop().unwrap();
        b.retry_after = SimTime(100);
        a.append(SimTime(50), 0, &msg(2, 0, 100), None, false);
        a.reenqueue(b);
        assert_eq!(a.queues[0].front().unwrap().first_id(), 0, "the retry goes first");
        assert_eq!(a.check(SimTime(60), &l, 0b11).next, Some(SimTime(100)), "backing off");
        assert_eq!(a.check(SimTime(100), &l, 0b11).nodes, 1);
        assert!(a.check(SimTime(DT.0), &l, 0b11).expired);
        a.expire(SimTime(DT.0), &mut out);
        assert_eq!(out.len(), 2, "the retried batch and partition 1's; the batch opened at 50 ns is not due");
        assert_eq!(a.records_waiting, 1);
    }

    /// Two batches of one partition fail together (their requests were in flight when the
    /// connection closed) and come back oldest first, as Kafka completes them. Without idempotence
    /// each goes to the front (`addFirst`): the newer one is retried first, a reordering. With
    /// idempotence they go back in sequence order.
    #[test]
    fn batches_failed_together_are_retried_newest_first_without_idempotence() {
        for idempotent in [false, true] {
            let mut a = Accumulator::new(1, 1, 1, 16_384, SimDuration::ZERO, DT);
            a.idempotent = idempotent;
            let l = [Some(0)];
            let mut sent = vec![];
            for id in 0..2 {
                a.append(SimTime(id), 0, &msg(id, 0, 100), None, false);
                a.drain(SimTime(id), 0, &l, 1 << 20, &mut sent);
            }
            a.append(SimTime(5), 0, &msg(2, 0, 100), None, false);
            for b in sent.drain(..) {
                a.reenqueue(b);
            }
            let order: Vec<u64> = a.queues[0].iter().map(ProducerBatch::first_id).collect();
            assert_eq!(order, if idempotent { vec![0, 1, 2] } else { vec![1, 0, 2] }, "idempotent {idempotent}");
        }
    }

    /// A batch expires at its own deadline even behind a newer batch that a retry put first.
    #[test]
    fn an_older_batch_behind_a_retried_one_expires_on_time() {
        let mut a = Accumulator::new(1, 1, 1, 16_384, SimDuration::ZERO, DT);
        let l = [Some(0)];
        let mut sent = vec![];
        a.append(SimTime(0), 0, &msg(0, 0, 100), None, false);
        a.drain(SimTime(0), 0, &l, 1 << 20, &mut sent);
        a.append(SimTime(10), 0, &msg(1, 0, 100), None, false);
        a.drain(SimTime(10), 0, &l, 1 << 20, &mut sent);
        for b in sent.drain(..) {
            a.reenqueue(b);
        }
        assert_eq!(a.next_expiry(), Some(SimTime(DT.0)));
        assert!(!a.check(SimTime(DT.0 - 1), &l, 0b1).expired);
        assert!(a.check(SimTime(DT.0), &l, 0b1).expired);
        a.expire(SimTime(DT.0), &mut sent);
        assert_eq!(
            sent.iter().map(ProducerBatch::first_id).collect::<Vec<_>>(),
            vec![0],
            "the older batch, second in line"
        );
        assert_eq!(a.next_expiry(), Some(SimTime(DT.0 + 10)));
        assert_eq!(a.records_waiting, 1);
    }
}
