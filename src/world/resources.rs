//! The body of a node: CPU cores, a network card and a disk, each a queue with service times.
//! Nothing here knows Kafka or RabbitMQ: a model says how much work a handler is, or how many bytes
//! a message carries, and the resource says when that work is done.
//!
//! Every resource is first-come first-served and is resolved when the work is submitted, not by
//! events of its own: events reach a node in time order, so the earliest-free core (or the card's
//! free instant) is exactly when a FIFO server would start the job. This costs no event and keeps
//! the run deterministic. Simplifications, each small at the loads simulated:
//! * a receiving card takes arrivals in the order they were sent, not in the order they would
//!   reach it (the links all have the same latency, so the two differ by one transmission time);
//! * a group commit's end does not move back for the writes that joined it earlier (each write is
//!   told the end as it stood when it joined, short by at most the later writes' transfer time).

use crate::scenario::hardware::Hardware;
use crate::time::{NANOS_PER_SEC, SimDuration, SimTime};

/// Nanoseconds to move `bytes` at `per_s` bytes per second (at least 1 ns for a non-empty
/// transfer, so that a saturated card still orders its work).
#[inline]
pub fn transfer_time(bytes: u64, per_s: u64) -> SimDuration {
    if bytes == 0 || per_s == 0 {
        return SimDuration::ZERO;
    }
    SimDuration(((bytes as u128 * NANOS_PER_SEC as u128).div_ceil(per_s as u128)) as u64)
}

/// Busy time per resource, for utilisation (busy / elapsed). Cores add up: 8 cores busy for 1 s
/// is 8 s of CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Busy {
    pub cpu_ns: u64,
    pub nic_out_ns: u64,
    pub nic_in_ns: u64,
    pub disk_ns: u64,
}

/// A disk that writes sequentially and syncs in group commits: a write waiting for the disk joins
/// the next sync, which starts when the running one ends (RabbitMQ's message store and Ra's WAL
/// batch their fsyncs this way; Kafka leaves the flush to the OS).
#[derive(Debug, Clone, Default)]
struct Disk {
    /// Start and end of the latest sync scheduled.
    sync_start: SimTime,
    sync_end: SimTime,
    /// When the disk is free of unsynced background writes (the OS's write-back).
    write_free: SimTime,
}

#[derive(Debug, Clone)]
struct NodeBody {
    hw: Hardware,
    /// When each core is free.
    cores: Vec<SimTime>,
    nic_out_free: SimTime,
    nic_in_free: SimTime,
    disk: Disk,
    busy: Busy,
}

/// A process that runs on one core at a time (an Erlang process, a Kafka request handler): its
/// work is serial, and each piece also needs a core of its node.
#[derive(Debug, Clone, Copy)]
pub struct ProcessId(u32);

/// The bodies of every node of a world, and its serial processes.
#[derive(Debug, Clone)]
pub struct Resources {
    nodes: Vec<NodeBody>,
    /// Per process: its node and when it is free.
    processes: Vec<(u16, SimTime)>,
}

impl Resources {
    /// `n` nodes, each with the hardware `hw_of(node)` gives.
    pub fn new(n: usize, hw_of: impl Fn(usize) -> Hardware) -> Self {
        let nodes = (0..n)
            .map(|i| {
                let hw = hw_of(i);
                NodeBody {
                    hw,
                    cores: vec![SimTime::ZERO; hw.cores.max(1) as usize],
                    nic_out_free: SimTime::ZERO,
                    nic_in_free: SimTime::ZERO,
                    disk: Disk::default(),
                    busy: Busy::default(),
                }
            })
            .collect();
        Resources { nodes, processes: Vec::new() }
    }

    pub fn hardware(&self, node: u16) -> &Hardware {
        &self.nodes[node as usize].hw
    }

    pub fn busy(&self, node: u16) -> Busy {
        self.nodes[node as usize].busy
    }

    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// A new serial process on `node`.
    pub fn process(&mut self, node: u16) -> ProcessId {
        self.processes.push((node, SimTime::ZERO));
        ProcessId(self.processes.len() as u32 - 1)
    }

    /// `work` of CPU on `node`, submitted at `at`: it runs on the core free first; returns when it
    /// ends.
    pub fn cpu(&mut self, node: u16, at: SimTime, work: SimDuration) -> SimTime {
        if work.is_zero() {
            return at;
        }
        let b = &mut self.nodes[node as usize];
        let core = b.cores.iter_mut().min().expect("a node has at least one core");
        let end = (*core).max(at).after(work);
        *core = end;
        b.busy.cpu_ns += work.0;
        end
    }

    /// `work` of the serial process `p`, submitted at `at`: it starts when both the process and a
    /// core of its node are free.
    pub fn run(&mut self, p: ProcessId, at: SimTime, work: SimDuration) -> SimTime {
        if work.is_zero() {
            return at;
        }
        let (node, free) = self.processes[p.0 as usize];
        let end = self.cpu(node, at.max(free), work);
        self.processes[p.0 as usize].1 = end;
        end
    }

    /// A message of `bytes` leaves `from` at `at` and crosses a link of `latency` to `to`: it waits
    /// for the sender's card, then for the receiver's. Returns when it has arrived whole.
    pub fn transmit(&mut self, from: u16, to: u16, at: SimTime, bytes: u64, latency: SimDuration) -> SimTime {
        let out = &mut self.nodes[from as usize];
        let send = transfer_time(bytes, out.hw.nic_bytes_per_s);
        let sent = out.nic_out_free.max(at).after(send);
        out.nic_out_free = sent;
        out.busy.nic_out_ns += send.0;
        let inb = &mut self.nodes[to as usize];
        let recv = transfer_time(bytes, inb.hw.nic_bytes_per_s);
        // Cut-through: an idle receiving card takes the bytes as they arrive; a busy one after
        // what it is still taking in.
        let arrived = sent.after(latency).max(inb.nic_in_free.after(recv));
        inb.nic_in_free = arrived;
        inb.busy.nic_in_ns += recv.0;
        arrived
    }

    /// Writes `bytes` on `node`'s disk at `at` and syncs them (`fsync`): returns when they are
    /// durable. Writes that arrive while a sync runs share the next one.
    pub fn write_synced(&mut self, node: u16, at: SimTime, bytes: u64) -> SimTime {
        let b = &mut self.nodes[node as usize];
        let xfer = transfer_time(bytes, b.hw.disk_bytes_per_s);
        let d = &mut b.disk;
        b.busy.disk_ns += xfer.0;
        if at < d.sync_start {
            // The next sync has not started: join it.
            d.sync_end = d.sync_end.after(xfer);
        } else {
            let start = at.max(d.sync_end).max(d.write_free);
            b.busy.disk_ns += b.hw.fsync.0;
            d.sync_start = start;
            d.sync_end = start.after(b.hw.fsync).after(xfer);
        }
        d.sync_end
    }

    /// Writes `bytes` to `node`'s page cache and lets the OS write them back in the background:
    /// the caller does not wait, but the disk is busy for the transfer. Returns when the write-back
    /// ends (for a caller that must wait for it, as a reader of cold data does).
    pub fn write_back(&mut self, node: u16, at: SimTime, bytes: u64) -> SimTime {
        let b = &mut self.nodes[node as usize];
        let xfer = transfer_time(bytes, b.hw.disk_bytes_per_s);
        b.busy.disk_ns += xfer.0;
        b.disk.write_free = b.disk.write_free.max(at).after(xfer);
        b.disk.write_free
    }

    /// Reads `bytes` from `node`'s disk (not in the page cache) at `at`: returns when they are read.
    /// Reads share the disk with the write-back.
    pub fn read(&mut self, node: u16, at: SimTime, bytes: u64) -> SimTime {
        self.write_back(node, at, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hw(cores: u32) -> Hardware {
        Hardware {
            cores,
            // 1 byte per microsecond: 1,000 bytes take 1 ms.
            nic_bytes_per_s: 1_000_000,
            disk_bytes_per_s: 1_000_000,
            fsync: SimDuration::from_millis(2),
            page_cache_bytes: 1 << 30,
            dirty_limit_bytes: 1 << 20,
        }
    }

    fn ms(x: u64) -> SimTime {
        SimTime(x * 1_000_000)
    }

    #[test]
    fn jobs_take_the_earliest_free_core_in_arrival_order() {
        let mut r = Resources::new(1, |_| hw(2));
        let w = SimDuration::from_millis(10);
        // Three jobs at 0 on two cores: two start at once, the third waits for the first core.
        assert_eq!(r.cpu(0, ms(0), w), ms(10));
        assert_eq!(r.cpu(0, ms(0), w), ms(10));
        assert_eq!(r.cpu(0, ms(0), w), ms(20));
        // A job at 15: one core has been free since 10.
        assert_eq!(r.cpu(0, ms(15), w), ms(25));
        assert_eq!(r.busy(0).cpu_ns, 40_000_000);
    }

    #[test]
    fn a_serial_process_uses_one_core_however_many_the_node_has() {
        let mut r = Resources::new(1, |_| hw(8));
        let q = r.process(0);
        let w = SimDuration::from_millis(1);
        let ends: Vec<SimTime> = (0..4).map(|_| r.run(q, ms(0), w)).collect();
        assert_eq!(ends, vec![ms(1), ms(2), ms(3), ms(4)], "four jobs at once run one after another");
        // A second process on the same node runs beside it.
        let q2 = r.process(0);
        assert_eq!(r.run(q2, ms(0), w), ms(1));
    }

    #[test]
    fn a_message_waits_for_both_cards_and_pays_the_latency_once() {
        let mut r = Resources::new(3, |_| hw(1));
        let lat = SimDuration::from_millis(5);
        // 1,000 bytes: 1 ms on the card, then 5 ms on the link.
        assert_eq!(r.transmit(0, 1, ms(0), 1_000, lat), ms(6));
        // A second message from 0 at 0 waits for the card: leaves at 2, arrives at 7.
        assert_eq!(r.transmit(0, 1, ms(0), 1_000, lat), ms(7));
        // From node 2 to node 1 at 0: its own card is free (sent at 1, would arrive at 6), but the
        // receiving card took bytes until 7, so the message is whole at 8.
        assert_eq!(r.transmit(2, 1, ms(0), 1_000, lat), ms(8));
        assert_eq!(r.busy(1).nic_in_ns, 3_000_000);
        assert_eq!(r.busy(0).nic_out_ns, 2_000_000);
    }

    #[test]
    fn writes_during_a_sync_share_the_next_one() {
        let mut r = Resources::new(1, |_| hw(1));
        // 1,000 bytes at 0: sync from 0, 2 ms fsync + 1 ms transfer: durable at 3.
        assert_eq!(r.write_synced(0, ms(0), 1_000), ms(3));
        // Two writes at 1 and 2, while the first sync runs: the next sync starts at 3 and holds
        // both: 3 + 2 + 1 = 6 for the first, and the second joins it (+1 ms of transfer): 7.
        assert_eq!(r.write_synced(0, ms(1), 1_000), ms(6));
        assert_eq!(r.write_synced(0, ms(2), 1_000), ms(7));
        // After the disk is idle a write starts its own sync.
        assert_eq!(r.write_synced(0, ms(20), 1_000), ms(23));
        // Busy: three syncs of 2 ms and four transfers of 1 ms.
        assert_eq!(r.busy(0).disk_ns, 10_000_000);
    }

    #[test]
    fn background_write_back_delays_a_cold_read_but_not_the_writer() {
        let mut r = Resources::new(1, |_| hw(1));
        // 5,000 bytes written back from 0: the disk is busy until 5 ms.
        assert_eq!(r.write_back(0, ms(0), 5_000), ms(5));
        // A cold read of 1,000 bytes at 1 ms waits for the write-back: done at 6.
        assert_eq!(r.read(0, ms(1), 1_000), ms(6));
        assert_eq!(transfer_time(1, 3), SimDuration(333_333_334), "rounded up");
    }
}
