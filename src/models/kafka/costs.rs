//! What Kafka's messages weigh on the wire and what they cost the broker that handles them. Only
//! a world with resources (a calibrated profile) asks; `ideal` and `lan` brokers are costless.
//!
//! The broker pays per request and per batch, plus a little per byte (CRC check, copy into the page
//! cache); records go out to consumers and followers by `sendfile`, from the page cache to the
//! network card without the CPU. Appends go to the page cache, and the OS writes them back in the
//! background: the producer waits for the disk only when the dirty pages reach the OS's limit
//! (`vm.dirty_ratio`), which is how a disk slower than the network caps a broker's throughput.

use super::Msg;
use crate::scenario::hardware::{Hardware, KafkaCosts};
use crate::time::{SimDuration, SimTime};
use crate::world::{NodeId, Wire, World};

/// A request or response header with its framing: a few dozen bytes.
const HEADER_BYTES: u64 = 64;
/// Framing of one record in a fetch response (`DefaultRecord` overhead).
const RECORD_FRAMING: u64 = 21;

impl Wire for Msg {
    fn wire_bytes(&self) -> u64 {
        HEADER_BYTES
            + match self {
                Msg::Produce { batches, .. } => batches.iter().map(|b| b.wire_bytes).sum(),
                Msg::FetchResponse { records, .. } | Msg::ShareFetchResponse { records, .. } => {
                    records.iter().map(|r| r.msg.bytes() + RECORD_FRAMING).sum()
                }
                Msg::ReplicaFetchResponse { bytes, .. } => *bytes,
                _ => 0,
            }
    }
}

/// Picoseconds per byte to a duration.
fn per_byte(bytes: u64, ps: u64) -> SimDuration {
    SimDuration((bytes as u128 * ps as u128 / 1_000) as u64)
}

/// Charges broker `to` for handling `msg` that arrived `now`: its CPU, and for an append the page
/// cache's write-back (waiting if the dirty pages are at the limit). What the handler sends leaves
/// when that is done. Clients are not charged: their work is the application's processing time.
pub(super) fn charge(world: &mut World, c: &KafkaCosts, brokers: u32, to: NodeId, now: SimTime, msg: &Msg) {
    if u32::from(to) >= brokers {
        return;
    }
    let (work, appended) = match msg {
        Msg::Produce { batches, .. } => {
            let bytes: u64 = batches.iter().map(|b| b.wire_bytes).sum();
            (
                c.produce_request + SimDuration(c.produce_batch.0 * batches.len() as u64) + per_byte(bytes, c.byte_ps),
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
