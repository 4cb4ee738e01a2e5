//! RabbitMQ's resource alarms (docs/flow-control.md): the **memory alarm** and the **disk alarm**.
//! A node whose memory use passes `vm_memory_high_watermark` x RAM, or whose free disk space falls
//! below `disk_free_limit`, raises an alarm; while any node of the cluster has one, every
//! connection that publishes is blocked (the node stops reading it), consumers go on, and
//! publishing resumes when the alarm clears. Only a calibrated profile's nodes have memory and a
//! disk; only classic queues' contents are counted.
//!
//! What a node holds, term by term (RabbitMQ 4.x, `rabbit_variable_queue`, CQv2):
//! * **memory**: the queue's head, at most 2,048 ready messages with their bodies (the source's
//!   `MemoryLimit = min(1 + floor(2 * OutRate), 2048)`: we take the cap, an upper bound); the
//!   bodies of unacknowledged deliveries (`ram_pending_ack`); and for each message in the shared
//!   message store (bodies of 4,096 bytes or more, `queue_index_embed_msgs_below`) its index entry,
//!   `#msg_location{}` of 5 fields and a 16-byte id: 11 words, 88 bytes. The rest of the backlog
//!   (`q_tail`) is on disk only: CQv2 no longer pages by memory pressure;
//! * **disk**: every message written: persistent ones from their arrival, transient ones once they
//!   are beyond the head. Each costs its body, its queue-index entry (32 bytes,
//!   `rabbit_classic_queue_index_v2` `ENTRY_SIZE`) and its store's framing: 8 bytes in the
//!   per-queue store (`rabbit_classic_queue_store_v2` `ENTRY_HEADER_SIZE`), 25 in the shared one
//!   (size 8, id 16, end marker 1: `rabbit_msg_store`). Freed at once on ack (compaction is
//!   left out).
//!
//! Left out: the node's own baseline (the Erlang VM, plugins, connections' buffers: about 100 MB,
//! constant, to be subtracted from a small node's RAM by hand); what quorum queues and streams hold
//! (they keep little in memory and their logs on disk: not counted yet).
//!
//! When: the memory monitor samples every second (`vm_memory_monitor`,
//! `DEFAULT_MEMORY_CHECK_INTERVAL` 1000 ms) and alarms while use > limit; the disk monitor samples
//! every `2 (free - limit) / 250 kB per ms`, between 100 ms and 10 s, and every 10 s while alarmed
//! (`rabbit_disk_monitor:interval/1`), and alarms while free < limit. Between two events of the run
//! what a node holds does not change, so a sample is taken when the next event comes (no event of
//! its own) and dated at the monitor's instant; only while an alarm is raised does a timer wake the
//! node, so that it clears on time. A run in which no alarm fires has the same events as without
//! the monitors.

use super::queue::ClassicQueue;
use crate::time::{SimDuration, SimTime};
use crate::world::alarms::{AlarmSpan, Resource};

/// Most ready messages a classic queue keeps in memory (`rabbit_variable_queue`).
pub const HEAD_MAX: u64 = 2048;
/// `queue_index_embed_msgs_below`: smaller bodies go to the per-queue store, larger ones to the
/// shared message store.
pub const EMBED_BELOW: u64 = 4096;
const INDEX_ENTRY: u64 = 32;
const QUEUE_STORE_FRAMING: u64 = 8;
const MSG_STORE_FRAMING: u64 = 25;
const MSG_STORE_INDEX_ENTRY: u64 = 88;

const MEMORY_CHECK: SimDuration = SimDuration(1_000_000_000);
const DISK_CHECK_MIN: SimDuration = SimDuration(100_000_000);
const DISK_CHECK_MAX: SimDuration = SimDuration(10_000_000_000);
/// `FAST_RATE`: the disk monitor assumes the disk may fill at 250 MB/s (bytes per ms).
const FAST_RATE_BYTES_PER_MS: u64 = 250_000;

/// What a node holds, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub memory: u64,
    pub disk: u64,
}

/// What classic queue `q` holds, its messages persistent or not.
pub fn held(q: &ClassicQueue, persistent: bool) -> Held {
    let ready = q.ready.len() as u64;
    let unacked_bytes: u64 = q.channels.iter().flatten().flat_map(|c| c.unacked.iter()).map(|u| u.msg.bytes()).sum();
    let unacked = q.unacked();
    let messages = ready + unacked;
    if messages == 0 {
        return Held::default();
    }
    let ready_bytes = q.ready_bytes();
    // The head: its bodies are the mean ready message's (exact with one message size).
    let head = ready.min(HEAD_MAX);
    let head_bytes =
        if ready == 0 { 0 } else { (u128::from(ready_bytes) * u128::from(head) / u128::from(ready)) as u64 };
    let (on_disk, disk_bodies) =
        if persistent { (messages, ready_bytes + unacked_bytes) } else { (ready - head, ready_bytes - head_bytes) };
    // The store a message goes to by its size: the mean's (exact with one message size).
    let shared = (ready_bytes + unacked_bytes) / messages >= EMBED_BELOW;
    let framing = if shared { MSG_STORE_FRAMING } else { QUEUE_STORE_FRAMING };
    let index = if shared { MSG_STORE_INDEX_ENTRY * on_disk } else { 0 };
    Held { memory: head_bytes + unacked_bytes + index, disk: disk_bodies + on_disk * (INDEX_ENTRY + framing) }
}

/// What every classic queue of a node holds.
pub fn held_by(queues: &[ClassicQueue], persistent: bool) -> Held {
    queues
        .iter()
        .map(|q| held(q, persistent))
        .fold(Held::default(), |a, b| Held { memory: a.memory + b.memory, disk: a.disk + b.disk })
}

/// One node's two monitors and the alarms they raised.
#[derive(Debug)]
pub struct Monitor {
    node: u16,
    memory_limit: u64,
    disk_size: u64,
    disk_free_limit: u64,
    next_memory: SimTime,
    next_disk: SimTime,
    /// Index in `spans` of the raised alarm, per resource.
    memory_alarm: Option<usize>,
    disk_alarm: Option<usize>,
    pub spans: Vec<AlarmSpan>,
    pub peak: Held,
    /// When the timer set to clear an alarm on time is due, if one is set.
    pub armed: Option<SimTime>,
}

impl Monitor {
    /// Node `node` with `ram` and a disk of `disk_size` bytes, RabbitMQ's thresholds
    /// `watermark` (fraction of RAM) and `disk_free_limit` (bytes).
    pub fn new(node: u16, ram: u64, watermark: f64, disk_size: u64, disk_free_limit: u64) -> Self {
        Monitor {
            node,
            memory_limit: (ram as f64 * watermark) as u64,
            disk_size,
            disk_free_limit,
            // The memory monitor's first sample is one interval after start; the disk monitor's
            // is at start (`set_disk_limits` updates at once).
            next_memory: SimTime::ZERO.after(MEMORY_CHECK),
            next_disk: SimTime::ZERO,
            memory_alarm: None,
            disk_alarm: None,
            spans: Vec::new(),
            peak: Held::default(),
            armed: None,
        }
    }

    pub fn limits(&self) -> (u64, u64) {
        (self.memory_limit, self.disk_free_limit)
    }

    /// A sample is due by `now`.
    #[inline]
    pub fn due(&self, now: SimTime) -> bool {
        now >= self.next_memory.min(self.next_disk)
    }

    /// An alarm is raised: publishing is blocked.
    pub fn blocked(&self) -> bool {
        self.memory_alarm.is_some() || self.disk_alarm.is_some()
    }

    /// The next sample's instant.
    pub fn next_check(&self) -> SimTime {
        self.next_memory.min(self.next_disk)
    }

    /// Takes every sample due by `now`, the node holding `held` since the previous event.
    pub fn check(&mut self, now: SimTime, held: Held) {
        self.peak = Held { memory: self.peak.memory.max(held.memory), disk: self.peak.disk.max(held.disk) };
        if self.next_memory <= now {
            let at = self.next_memory;
            // A watermark of 0 blocks publishing at the first sample (a real node always holds
            // something).
            let over = held.memory > self.memory_limit || self.memory_limit == 0;
            self.set(Resource::Memory, over, at);
            // The later samples up to `now` see the same: the next one after `now`.
            self.next_memory = at.after(SimDuration(MEMORY_CHECK.0 * (now.since(at).0 / MEMORY_CHECK.0 + 1)));
        }
        if self.next_disk <= now {
            let at = self.next_disk;
            let free = self.disk_size.saturating_sub(held.disk);
            let under = free < self.disk_free_limit;
            self.set(Resource::Disk, under, at);
            let every = self.disk_interval(free);
            self.next_disk = at.after(SimDuration(every.0 * (now.since(at).0 / every.0 + 1)));
        }
    }

    /// `rabbit_disk_monitor:interval/1`: sooner as free space nears the limit, at the slowest
    /// while alarmed.
    fn disk_interval(&self, free: u64) -> SimDuration {
        if self.disk_alarm.is_some() {
            return DISK_CHECK_MAX;
        }
        let ideal_ms = 2 * free.saturating_sub(self.disk_free_limit) / FAST_RATE_BYTES_PER_MS;
        SimDuration(ideal_ms.saturating_mul(1_000_000)).max(DISK_CHECK_MIN).min(DISK_CHECK_MAX)
    }

    fn set(&mut self, resource: Resource, on: bool, at: SimTime) {
        let slot = match resource {
            Resource::Memory => &mut self.memory_alarm,
            Resource::Disk => &mut self.disk_alarm,
        };
        match (*slot, on) {
            (None, true) => {
                *slot = Some(self.spans.len());
                self.spans.push(AlarmSpan { node: self.node, resource, raised: at, cleared: None });
            }
            (Some(i), false) => {
                *slot = None;
                self.spans[i].cleared = Some(at);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Message, StoredMessage};

    const MIB: u64 = 1 << 20;

    fn s(x: u64) -> SimTime {
        SimTime(x * 1_000_000_000)
    }

    fn queue(n: u64, bytes: u32) -> ClassicQueue {
        let mut q = ClassicQueue::new(1);
        for id in 0..n {
            q.enqueue(StoredMessage::new(&Message { id, published_at: SimTime(0), key: None, bytes }), 0, SimTime(0));
        }
        q
    }

    #[test]
    fn a_classic_queue_keeps_its_head_in_memory_and_the_rest_on_disk() {
        // 5,000 transient messages of 1,000 bytes: 2,048 in memory (2,048,000 bytes), 2,952 on
        // disk at 1,000 + 32 + 8 bytes each.
        let h = held(&queue(5_000, 1_000), false);
        assert_eq!(h, Held { memory: 2_048_000, disk: 2_952 * 1_040 });
        // Persistent: all 5,000 on disk too.
        assert_eq!(held(&queue(5_000, 1_000), true).disk, 5_000 * 1_040);
        // 8 KiB bodies go to the shared store: its index holds 88 bytes per message in memory.
        let h = held(&queue(3_000, 8_192), true);
        assert_eq!(h.memory, 2_048 * 8_192 + 3_000 * 88);
        assert_eq!(h.disk, 3_000 * (8_192 + 32 + 25));
    }

    #[test]
    fn the_memory_alarm_raises_past_the_watermark_at_the_next_second_and_clears_below() {
        // RAM 100 MiB x 0.4 = 40 MiB; the node holds 50 MiB from 2.5 s: the sample at 3 s raises
        // the alarm; back to 10 MiB at 7.2 s: the sample at 8 s clears it.
        let mut m = Monitor::new(0, 100 * MIB, 0.4, 1 << 40, 0);
        let held = |mem| Held { memory: mem, disk: 0 };
        m.check(s(2), held(0));
        assert!(!m.blocked());
        m.check(SimTime(2_500_000_000), held(0));
        m.check(SimTime(3_000_000_001), held(50 * MIB));
        assert!(m.blocked());
        assert_eq!(m.spans[0].raised, s(3));
        m.check(SimTime(7_200_000_000), held(50 * MIB));
        assert!(m.blocked(), "still at the 7 s sample");
        m.check(s(9), held(10 * MIB));
        assert!(!m.blocked());
        assert_eq!(m.spans[0].cleared, Some(s(8)));
        assert_eq!(m.next_check(), s(10).min(m.next_disk));
    }

    #[test]
    fn the_disk_monitor_samples_sooner_near_the_limit() {
        // 1 GB disk, limit 100 MB. Empty: free - limit = 900 MB, 2 x 900 MB / 250 kB per ms = 7.2 s.
        let mut m = Monitor::new(0, 1 << 40, 0.6, 1_000_000_000, 100_000_000);
        m.check(SimTime::ZERO, Held::default());
        assert_eq!(m.next_disk, SimTime(7_200_000_000));
        // Holding 880 MB at 7.2 s: free 120 MB, 20 MB above the limit: next in 160 ms.
        m.check(SimTime(7_200_000_000), Held { memory: 0, disk: 880_000_000 });
        assert!(!m.blocked());
        assert_eq!(m.next_disk, SimTime(7_360_000_000));
        // 950 MB: free 50 MB < 100 MB: alarmed at 7.36 s, then sampled every 10 s.
        m.check(SimTime(7_400_000_000), Held { memory: 0, disk: 950_000_000 });
        assert!(m.blocked());
        assert_eq!(m.spans[0].raised, SimTime(7_360_000_000));
        assert_eq!(m.next_disk, SimTime(17_360_000_000));
    }
}
