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

/// CPU work of `ps` picoseconds per byte over `bytes`.
#[inline]
pub fn per_byte(bytes: u64, ps: u64) -> SimDuration {
    SimDuration((bytes as u128 * ps as u128 / 1_000) as u64)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcessId(u32);

/// The bodies of every node of a world, and its serial processes.
#[derive(Debug, Clone)]
pub struct Resources {
    nodes: Vec<NodeBody>,
    /// Per process: its node, when it is free, and its busy time.
    processes: Vec<(u16, SimTime, u64)>,
    /// What each process is, for the bottleneck's name ("queue process").
    kinds: Vec<&'static str>,
    /// If set, a process's work is exponentially distributed around the mean it is given.
    service: Option<crate::engine::rng::SimRng>,
    /// Processes per node.
    processes_on: Vec<u64>,
}

/// One node's utilisation over a run: busy time / elapsed time, per resource (CPU over all its
/// cores: 1.0 is every core busy all the time).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeUse {
    pub node: String,
    pub cpu: f64,
    pub nic_in: f64,
    pub nic_out: f64,
    pub disk: f64,
}

/// What the resources did over a run, and which one limited it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Utilisation {
    pub nodes: Vec<NodeUse>,
    /// The busiest serial process (a queue's Erlang process): its node and its busy fraction of
    /// one core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busiest_process: Option<NodeProcess>,
    /// The busiest resource, named: "disk of broker 1 (97%)".
    pub bottleneck: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeProcess {
    pub node: String,
    pub busy: f64,
}

/// Busy time each resource had done by an instant: work accepted before it but done after it (a
/// FIFO server is busy without a break until it is free) is not counted.
#[derive(Debug, Clone, PartialEq)]
pub struct BusyDone {
    /// Per node: CPU (core time over the node's cores), network in, network out, disk, in ns.
    pub nodes: Vec<[u64; 4]>,
    /// Per serial process: its node and its busy time.
    pub processes: Vec<(u16, u64)>,
}

/// How busy the brokers' resources were over one sample interval ending at `time`: for each kind,
/// the busiest broker's fraction (and the busiest serial process's, one core's worth).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct UtilisationSample {
    pub time: SimTime,
    pub cpu: f64,
    pub disk: f64,
    /// The busier direction of the busiest network card.
    pub network: f64,
    /// The busiest queue process (RabbitMQ); 0 where there is none.
    pub process: f64,
}

impl UtilisationSample {
    /// The interval from `before` to `after` (done by `from` and by `to`), over brokers
    /// `0..brokers`.
    pub fn between(before: &BusyDone, after: &BusyDone, from: SimTime, to: SimTime, brokers: usize) -> Self {
        let span = to.since(from);
        let d = |a: u64, b: u64| fraction(b.saturating_sub(a), span);
        let mut u = UtilisationSample { time: to, cpu: 0.0, disk: 0.0, network: 0.0, process: 0.0 };
        for (b, a) in before.nodes.iter().zip(&after.nodes).take(brokers) {
            u.cpu = u.cpu.max(d(b[0], a[0]));
            u.network = u.network.max(d(b[1], a[1])).max(d(b[2], a[2]));
            u.disk = u.disk.max(d(b[3], a[3]));
        }
        for (b, a) in before.processes.iter().zip(&after.processes) {
            u.process = u.process.max(d(b.1, a.1));
        }
        u
    }
}

fn fraction(busy_ns: u64, elapsed: SimDuration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    // Work accepted before the end but done after it (a backlog) counts up to the end only.
    (busy_ns as f64 / elapsed.0 as f64 * 10_000.0).round().min(10_000.0) / 10_000.0
}

impl Resources {
    /// `n` nodes, each with the hardware `hw_of(node)` gives.
    pub fn new(n: usize, hw_of: impl Fn(usize) -> Hardware) -> Self {
        let nodes: Vec<NodeBody> = (0..n)
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
        Resources { processes_on: vec![0; nodes.len()], nodes, processes: Vec::new(), kinds: Vec::new(), service: None }
    }

    /// Work on the CPU varies from one piece to the next (exponentially, around the mean asked
    /// for), from a stream of `seed`: an Erlang process's per-message work is not constant
    /// (garbage collection, scheduler preemption, mailbox length), and with constant work a lightly
    /// loaded queue would show no tail latency at all.
    pub fn varied(mut self, seed: u64) -> Self {
        self.service = Some(crate::engine::rng::stream(seed, crate::engine::rng::Stream::Service, 0));
        self
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
        self.process_of_kind(node, "queue process")
    }

    /// A serial process on `node` that the bottleneck names as `kind` ("sending thread").
    pub fn process_of_kind(&mut self, node: u16, kind: &'static str) -> ProcessId {
        self.processes.push((node, SimTime::ZERO, 0));
        self.kinds.push(kind);
        self.processes_on[node as usize] += 1;
        ProcessId(self.processes.len() as u32 - 1)
    }

    /// Utilisation of the nodes `named` (index, name) from the start to `elapsed`. The bottleneck
    /// is the resource with the highest busy fraction (a serial process counts against one core).
    pub fn utilisation(&self, named: &[(u16, String)], elapsed: SimDuration) -> Utilisation {
        let mut best = (-1.0, String::new());
        let mut consider = |f: f64, what: String| {
            if f > best.0 {
                best = (f, what);
            }
        };
        let done = self.done_by(SimTime(elapsed.0));
        let nodes: Vec<NodeUse> = named
            .iter()
            .map(|(i, name)| {
                let [cpu, nic_in, nic_out, disk] = done.nodes[*i as usize];
                let u = NodeUse {
                    node: name.clone(),
                    cpu: fraction(cpu, elapsed),
                    nic_in: fraction(nic_in, elapsed),
                    nic_out: fraction(nic_out, elapsed),
                    disk: fraction(disk, elapsed),
                };
                consider(u.cpu, format!("CPU of {name}"));
                consider(u.nic_in, format!("network in of {name}"));
                consider(u.nic_out, format!("network out of {name}"));
                consider(u.disk, format!("disk of {name}"));
                u
            })
            .collect();
        let busiest = done.processes.iter().copied().enumerate().max_by_key(|(_, p)| p.1);
        let busiest_process = busiest
            .and_then(|(_, (node, busy))| named.iter().find(|(i, _)| *i == node).map(|(_, n)| (n.clone(), busy)))
            .map(|(node, busy)| NodeProcess { node, busy: fraction(busy, elapsed) });
        if let (Some(p), Some((i, _))) = (&busiest_process, busiest) {
            consider(p.busy, format!("one {} on {} (one core)", self.kinds[i], p.node));
        }
        let bottleneck = if best.0 < 0.05 {
            format!("none: every resource under 5% (the busiest: {}, {:.1}%)", best.1, best.0.max(0.0) * 100.0)
        } else {
            format!("{} ({:.0}%)", best.1, best.0 * 100.0)
        };
        Utilisation { nodes, busiest_process, bottleneck }
    }

    /// What every resource had done by `at` ([`BusyDone`]).
    pub fn done_by(&self, at: SimTime) -> BusyDone {
        let ahead = |free: SimTime| free.0.saturating_sub(at.0);
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let cpu_ahead: u64 = b.cores.iter().map(|&f| ahead(f)).sum::<u64>()
                    + self.processes.iter().filter(|p| p.0 as usize == i).map(|p| ahead(p.1)).sum::<u64>();
                let disk_ahead = ahead(b.disk.write_free.max(b.disk.sync_end));
                [
                    b.busy.cpu_ns.saturating_sub(cpu_ahead) / u64::from(b.hw.cores.max(1)),
                    b.busy.nic_in_ns.saturating_sub(ahead(b.nic_in_free)),
                    b.busy.nic_out_ns.saturating_sub(ahead(b.nic_out_free)),
                    b.busy.disk_ns.saturating_sub(disk_ahead),
                ]
            })
            .collect();
        let processes =
            self.processes.iter().map(|&(node, free, busy)| (node, busy.saturating_sub(ahead(free)))).collect();
        BusyDone { nodes, processes }
    }

    /// `work` of CPU on `node`, submitted at `at`: it runs on the core free first; returns when it
    /// ends.
    pub fn cpu(&mut self, node: u16, at: SimTime, work: SimDuration) -> SimTime {
        if work.is_zero() {
            return at;
        }
        let work = self.vary(work);
        self.cpu_exact(node, at, work)
    }

    /// A piece of work as long as `work` on average: exponentially distributed if the resources
    /// are [`Resources::varied`].
    fn vary(&mut self, work: SimDuration) -> SimDuration {
        match &mut self.service {
            Some(rng) => SimDuration::from_secs_f64(crate::engine::rng::exponential(rng, work.as_secs_f64())),
            None => work,
        }
    }

    fn cpu_exact(&mut self, node: u16, at: SimTime, work: SimDuration) -> SimTime {
        let b = &mut self.nodes[node as usize];
        let core = b.cores.iter_mut().min().expect("a node has at least one core");
        let end = (*core).max(at).after(work);
        *core = end;
        b.busy.cpu_ns += work.0;
        end
    }

    /// `work` of the serial process `p`, submitted at `at`: it starts when both the process and a
    /// core of its node are free.
    /// When process `p` will have done all the work handed to it so far.
    pub fn process_free_at(&self, p: ProcessId) -> SimTime {
        self.processes[p.0 as usize].1
    }

    pub fn run(&mut self, p: ProcessId, at: SimTime, work: SimDuration) -> SimTime {
        if work.is_zero() {
            return at;
        }
        let work = self.vary(work);
        let (node, free, _) = self.processes[p.0 as usize];
        // A node's processes share its cores (one Erlang scheduler per core): with more processes
        // than cores, each runs that much slower (all of them busy, as under overload). They do
        // not book the cores' timelines: a backlogged process would reserve them far ahead.
        let b = &mut self.nodes[node as usize];
        let (k, c) = (self.processes_on[node as usize], u64::from(b.hw.cores.max(1)));
        let stretched = if k > c { SimDuration(work.0 * k / c) } else { work };
        b.busy.cpu_ns += work.0;
        let end = at.max(free).after(stretched);
        let proc = &mut self.processes[p.0 as usize];
        proc.1 = end;
        proc.2 += stretched.0;
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
            ram_bytes: 1 << 30,
            disk_size_bytes: 1 << 30,
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
        // Over 10 ms: the first process was busy 4 ms (40% of a core), the node 5 ms of 80.
        let u = r.utilisation(&[(0, "node 0".into())], SimDuration::from_millis(10));
        assert_eq!((u.nodes[0].cpu, u.busiest_process.as_ref().map(|p| p.busy)), (0.0625, Some(0.4)));
        assert_eq!(u.bottleneck, "one queue process on node 0 (one core) (40%)");
        // Read at 2 ms, the first process still has 2 ms of its backlog ahead: busy 2 of 2 ms.
        let u = r.utilisation(&[(0, "node 0".into())], SimDuration::from_millis(2));
        assert_eq!(u.busiest_process.map(|p| p.busy), Some(1.0));
    }

    #[test]
    fn more_processes_than_cores_share_them() {
        // Three processes on two cores: each piece of work takes 3/2 as long.
        let mut r = Resources::new(1, |_| hw(2));
        let ps: Vec<ProcessId> = (0..3).map(|_| r.process(0)).collect();
        assert_eq!(r.run(ps[0], ms(0), SimDuration::from_millis(2)), ms(3));
        assert_eq!(r.busy(0).cpu_ns, 2_000_000, "the node's busy time is the work itself");
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
