//! What Kafka's messages weigh on the wire and what they cost the broker that handles them. Only
//! a world with resources (a calibrated profile) asks; `ideal` and `lan` brokers are costless.
//!
//! The broker pays per request and per batch, plus a little per byte (CRC check, copy into the page
//! cache); records go out to consumers and followers by `sendfile`, from the page cache to the
//! network card without the CPU. Appends go to the page cache, and the OS writes them back in the
//! background: the producer waits for the disk only when the dirty pages reach the OS's limit
//! (`vm.dirty_ratio`), which is how a disk slower than the network caps a broker's throughput.

use super::{Fetched, Msg};
use crate::scenario::hardware::{Hardware, KafkaCosts};
use crate::time::{SimDuration, SimTime};
use crate::world::resources::per_byte;
use crate::world::{NodeId, Wire, World};
use std::collections::VecDeque;

/// The brokers' costs and what each broker's page cache holds.
#[derive(Debug)]
pub(super) struct Costs {
    pub c: KafkaCosts,
    pub cache: PageCache,
    /// With producer compression: the leader decompresses every batch to validate its records
    /// (`LogValidator.validateMessagesAndAssignOffsetsCompressed`), this many picoseconds per
    /// uncompressed byte; it keeps the batch as compressed (no recompression). 0 without.
    pub validate_ps: u64,
}

/// What each broker has appended lately, to tell a tail read (from the page cache: network only)
/// from a read of older data (from the disk). The cache holds the last `capacity` bytes appended
/// to the broker, as leader or follower, in any partition: the OS evicts the least recently
/// written pages first, and a Kafka broker's reads are almost all of recent pages.
#[derive(Debug)]
pub(super) struct PageCache {
    capacity: u64,
    /// Per broker: bytes appended so far, and (append time, bytes appended by then) checkpoints
    /// covering the cache's window (plus one older), oldest first.
    appended: Vec<u64>,
    marks: Vec<VecDeque<(SimTime, u64)>>,
}

impl Costs {
    /// The framing of `records` records a follower fetches, in the v0 message format (whose
    /// producer batches carry it too); 0 in v2, where replication weighs the records alone.
    pub fn v0_framing(&self, records: u64) -> u64 {
        self.c.v0_record_overhead.map_or(0, |f| f * records)
    }
}

impl PageCache {
    pub fn new(brokers: usize, capacity: u64) -> Self {
        PageCache { capacity, appended: vec![0; brokers], marks: vec![VecDeque::new(); brokers] }
    }

    fn append(&mut self, broker: usize, now: SimTime, bytes: u64) {
        self.appended[broker] += bytes;
        let total = self.appended[broker];
        let marks = &mut self.marks[broker];
        match marks.back_mut() {
            Some(last) if last.0 == now => last.1 = total,
            _ => marks.push_back((now, total)),
        }
        // Keep one checkpoint at or before the window's start.
        while marks.len() > 1 && total - marks[1].1 > self.capacity {
            marks.pop_front();
        }
    }

    /// Bytes of `records` that are no longer in `broker`'s page cache: appended (we use the
    /// record's CreateTime, which precedes its append by the producer's linger and a round trip)
    /// before the last `capacity` bytes.
    pub fn cold_bytes(&self, broker: usize, records: &[Fetched]) -> u64 {
        let total = self.appended[broker];
        if total <= self.capacity {
            return 0;
        }
        let marks = &self.marks[broker];
        records
            .iter()
            .filter(|r| {
                // Bytes appended by the record's time: the last checkpoint at or before it.
                let i = marks.partition_point(|m| m.0 <= r.msg.published_at);
                let by_then = if i == 0 { 0 } else { marks[i - 1].1 };
                total - by_then > self.capacity
            })
            .map(|r| r.msg.bytes())
            .sum()
    }
}

/// A request or response header with its framing: a few dozen bytes.
const HEADER_BYTES: u64 = 64;
/// Framing of one record in a fetch response (`DefaultRecord` overhead).
const RECORD_FRAMING: u64 = 21;

impl Wire for Msg {
    fn wire_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Msg::Produce { batches, .. } => batches.iter().map(|b| b.wire_bytes).sum(),
                // Compressed records weigh their share of their batch, framing and header included.
                Msg::FetchResponse { records, compressed, .. }
                | Msg::ShareFetchResponse { records, compressed, .. } => {
                    let framing = if *compressed { 0 } else { RECORD_FRAMING };
                    records.iter().map(|r| r.msg.bytes() + framing).sum()
                }
                Msg::ReplicaFetchResponse { bytes, .. } => *bytes,
                _ => 0,
            }
    }
}

/// Charges broker `to` for handling `msg` that arrived `now`: its CPU, and for an append the page
/// cache's write-back (waiting if the dirty pages are at the limit). What the handler sends leaves
/// when that is done. Clients are not charged: their work is the application's processing time.
pub(super) fn charge(world: &mut World, k: &mut Costs, brokers: u32, to: NodeId, now: SimTime, msg: &Msg) {
    if u32::from(to) >= brokers {
        return;
    }
    let c = &k.c;
    let (work, appended) = match msg {
        Msg::Produce { batches, .. } => {
            let bytes: u64 = batches.iter().map(|b| b.wire_bytes).sum();
            let uncompressed: u64 = batches.iter().map(|b| b.uncompressed).sum();
            (
                c.produce_request
                    + SimDuration(c.produce_batch.0 * batches.len() as u64)
                    + per_byte(bytes, c.byte_ps)
                    + per_byte(uncompressed, k.validate_ps),
                bytes,
            )
        }
        Msg::ReplicaFetchResponse { bytes, .. } => (c.fetch_request + per_byte(*bytes, c.byte_ps), *bytes),
        Msg::Fetch { .. } | Msg::ShareFetch { .. } | Msg::ReplicaFetch { .. } => (c.fetch_request, 0),
        Msg::ConnectionClosed => (SimDuration::ZERO, 0),
        _ => (c.other_request, 0),
    };
    world.begin(to, now, work);
    if appended > 0 {
        k.cache.append(to as usize, now, appended);
        let res = world.resources_mut().expect("charged only in a world with resources");
        let hw: Hardware = *res.hardware(to);
        let written = res.write_back(to, now, appended);
        // The writer may go on while the pages not yet written back fit under the dirty limit.
        let backlog =
            SimDuration((hw.dirty_limit_bytes as u128 * 1_000_000_000 / hw.disk_bytes_per_s.max(1) as u128) as u64);
        if written.0 > now.0 + backlog.0 {
            world.wait_until(SimTime(written.0 - backlog.0));
        }
    }
}

/// A fetch response from `broker` carries `records`: those no longer in its page cache are read
/// from the disk first (sharing it with the write-back), and the response leaves after them.
pub(super) fn read_for_fetch(world: &mut World, k: &Costs, broker: NodeId, now: SimTime, records: &[Fetched]) {
    let cold = k.cache.cold_bytes(broker as usize, records);
    if cold > 0 {
        let from = world.ready(now);
        let res = world.resources_mut().expect("charged only in a world with resources");
        let done = res.read(broker, from, cold);
        world.wait_until(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Message, StoredMessage};

    fn record(at_ms: u64, bytes: u32) -> Fetched {
        let m = Message { id: 1, published_at: SimTime(at_ms * 1_000_000), key: None, bytes };
        Fetched { slot: 0, offset: 0, msg: StoredMessage::new(&m), delivery: 0 }
    }

    #[test]
    fn the_page_cache_holds_the_last_bytes_appended_and_older_records_are_read_from_disk() {
        // A 1,000-byte cache; 400 bytes appended at 10, 20, 30 and 40 ms (1,600 in all).
        let mut cache = PageCache::new(1, 1_000);
        for t in [10, 20, 30, 40] {
            cache.append(0, SimTime(t * 1_000_000), 400);
        }
        // Since a record of 15 ms: 1,200 bytes were appended after the 10 ms checkpoint (400) -
        // more than the cache: cold. Since 25 ms: 1,600 - 800 = 800 after it: still cached.
        assert_eq!(cache.cold_bytes(0, &[record(15, 100), record(25, 70), record(35, 30)]), 100);
        // Before any checkpoint: everything since then (1,600) is more than the cache.
        assert_eq!(cache.cold_bytes(0, &[record(5, 50)]), 50);
        // A cache that has never filled holds everything.
        let mut big = PageCache::new(1, 10_000);
        big.append(0, SimTime(1), 5_000);
        assert_eq!(big.cold_bytes(0, &[record(0, 10)]), 0);
    }
}
