//! The independent delivery checker: what each system lost, duplicated, redelivered, reordered, and
//! how long its producer could get nothing acknowledged, recounted from what the **clients saw**.
//!
//! No model grades its own homework. The checker's only input is a stream of
//! [`ClientEvent`]s (what a producer or consumer application saw, in time order) plus static
//! configuration given to [`Checker::new`]: the group names, from which send time each group is
//! owed messages, whether every node is up at the end, and the stall threshold. It imports nothing
//! from `crate::models`, `crate::metrics` or `crate::history::Observation`, and must not: broker
//! internals (what was stored, deleted, replicated) are exactly what it must not trust.
//!
//! ## Definitions
//!
//! A message is *sent* when its `Sent` event arrives (ids are 0, 1, 2, ... in send order); its send
//! time is that event's time. Group `g` is *owed* a message if it was sent at or after the group's
//! `owed_from` (default: the start, so every message). On the producer side each sent message is,
//! at any instant, in exactly one state: *unresolved* (no `Acknowledged`, no `SendFailed` yet),
//! *acknowledged* (at least one `Acknowledged` arrived, whatever came before it), or *failed* (a
//! `SendFailed` arrived while it was unresolved, and no `Acknowledged` since). A group *processes* a
//! message with a `Processed` event; its first one is the message's *first processing*.
//!
//! Per group (system values are sums over groups):
//! * `owed`: messages sent that the group is owed.
//! * `processed_unique`: owed messages the group processed at least once.
//! * `stranded`: owed, never processed by the group, and still stored at the end: the final read
//!   (below) holds it for the group, on some replica or node, up or down. A bounded drain that
//!   ends with messages in a queue, or a node that holds them and never comes back, strands them.
//! * `acknowledged_lost`: owed, acknowledged by the end, never processed by the group, and gone
//!   from every replica (the final read does not hold it).
//! * `unacknowledged_lost`: owed, never acknowledged (unresolved or failed at the end), never
//!   processed by the group, and not held at the end. A producer without confirms (RabbitMQ
//!   without publisher confirms) never gets an `Acknowledged`, so all its lost messages fall here.
//! * `skipped`: owed, never processed, and skipped on purpose: the group sought to the log end
//!   (a `Sought` event with `to_end`) after it was sent and before the group processed it. A
//!   skipped message processed later after all counts in `processed_unique` instead.
//! * `dead_lettered`, `expired`, `dropped`: owed, never processed, and settled on purpose by a
//!   `Settled` event of the group (issue 18; docs/delivery-categories.md): moved to a dead-letter
//!   topic or exchange, expired by a time to live (or a Kafka consumer's `max_age`), or thrown
//!   away (skipped by the consumer, given up after its attempts, dropped by a queue limit). A message's first settlement stands; a
//!   later processing of it counts in `duplicates`.
//! * `retried`: owed, never processed, and on its way to another attempt at the end (its last
//!   settlement was `Retrying`: a Kafka retry topic). A `Retrying` message processed later counts
//!   in `processed_unique` (checked for order: it usually overtook nothing but was overtaken), one
//!   dead-lettered later in `dead_lettered`.
//! * identity: `owed = processed_unique + stranded + acknowledged_lost + unacknowledged_lost +
//!   skipped + dead_lettered + expired + dropped + retried`, always
//!   ([`DeliveryCounts::identity_holds`]).
//! * `failed_attempts`: `ProcessingFailed` events of owed messages: processing attempts that threw.
//! * `replayed`: after each `Sought` event of the group, the first re-processing of each owed
//!   message sent before that event and already processed by the group (before or after it). A
//!   rewind that reads a message again is replay, asked for; it is not a duplicate.
//! * `duplicates`: `Processed` events of an owed message by the group beyond its first, other than
//!   those counted in `replayed`.
//! * `duplicate_effects` (only for a group whose consumer is idempotent, `GroupConfig::dedup_window`):
//!   the `duplicates` whose id was not among the last `dedup_window` distinct ids the group had
//!   applied, so that the application applied them again; the rest it recognised and skipped. In
//!   the system's sums, a group that is not idempotent counts all its duplicates; the field is
//!   written only when some group is idempotent.
//! * `redelivered`: `Delivered` events to the group with the broker's `redelivered` flag set.
//! * `out_of_order`: first processings of an owed message with a (non-null) key whose id is lower
//!   than the highest id of the same key the group had already processed (first processed). It
//!   counts the overtaken messages: processing 3, 1, 2 of one key counts 2. Null keys are never out
//!   of order.
//! * `processed_not_owed`: `Processed` events of messages the group is not owed (sent before its
//!   `owed_from`, e.g. read from the start of a log by a group that joined later). Not in the
//!   identity, not checked for duplicates or order.
//!
//! System only:
//! * `sent`: `Sent` events.
//! * `acknowledged`: messages for which the producer got at least one `Acknowledged`.
//! * `publish_failures`: `SendFailed` events for messages then unresolved, i.e. messages the
//!   producer gave up on (a `SendFailed` after an `Acknowledged`, or a second one, is ignored). A
//!   failed message that is acknowledged later counts in both `publish_failures` and `acknowledged`.
//! * `unavailable_s`: see [`Checker::finish`] and below.
//! * `producer_down_s`: how long the producer application itself was down (crashed, not yet
//!   restarted), from the fault schedule: the client's own outage, not the system's. With
//!   several producer hosts (`[workload] producers`), the time during which *any* of them was
//!   down: the union of the hosts' outages, not their sum. The fault target `producer` takes every
//!   host down at once, so its outage counts once; one host of three down for 10 s is 10 s too.
//!   Which messages an outage cost is in `sent`: a message due at a down host is never sent (its
//!   id is a gap in the `Sent` ids) and counts nowhere, not even in `owed`.
//! * `unexpected_events`: events naming a message id that was never sent (a checker input error or
//!   a phantom message); they count nowhere else.
//!
//! ## The final read
//!
//! Whether a message never processed is lost or only stranded is not something a client saw: it
//! is what a client would get if it read everything left once the run is over, after restarting
//! every node (Jepsen's final read). That is the checker's one input from the brokers' side,
//! given to [`Checker::finish_with`] as the ids each group's broker still holds, and it can only
//! move a message between `stranded` and lost: what the clients processed, acknowledged or were
//! refused is counted from their events alone.
//!
//! ## Unavailability
//!
//! A *waiting period* starts when a message is sent while no sent message is unresolved, and
//! restarts at every `Acknowledged` (of any sent message) after which some message is still
//! unresolved. It ends at the next `Acknowledged`, or when the last unresolved message is resolved
//! (acknowledged or failed), or at the end of the run. The producer is *stalled* at instant `t` if
//! `t` lies in a waiting period that began more than the threshold `θ` before `t`: it has messages
//! waiting and has got no acknowledgement for longer than `θ`. `unavailable_s` is the total length of
//! the stalled instants: each waiting period `[w, e)` contributes `max(0, e - w - θ)`. It is `None`
//! when no `Acknowledged` arrived at all in the run (a producer without confirms): not measurable.
//!
//! `θ` defaults to [`DEFAULT_STALL_THRESHOLD`], 1 s. A healthy confirm round trip is a network
//! round trip plus the broker's batching (Kafka `linger.ms`, a few ms; RabbitMQ confirms, sub-ms to
//! a few ms under load), so waits stay two or more orders of magnitude below 1 s and a healthy run
//! reports exactly 0, even a producer sending one message every few seconds (each message starts
//! its own period). A broker outage of minutes reports its length minus `θ` (1 s): a 120 s gap
//! after the last acknowledgement, with messages waiting throughout, reports 119 s. It measures a
//! *total* stall: while any partition or queue still confirms, the producer is not stalled (a
//! partial outage shows in latency and loss, not here).
//!
//! A producer that crashes is not a system that stops confirming: at its crash (from the fault
//! schedule, [`CheckerConfig::producer_down`]) its waiting period ends, and the messages it was
//! waiting for are *orphaned*: nobody waits for them any more, so they start no stall, but an
//! `Acknowledged` that still comes counts, and one that never comes leaves them unacknowledged.
//! Its downtime is `producer_down_s`, never `unavailable_s`. With several producer hosts, a crash
//! of one (`producer-N`) orphans only its own messages (message `id` is host
//! [`crate::workload::producer_for`]`(id, producers)`'s), like as many `SendFailed`s: the waiting
//! period goes on while another host's messages are unresolved (they still wait, and the system
//! still owes them a confirm), and ends at the crash if none are.
//!
//! ## Memory
//!
//! O(in flight), never a byte per finished message. Per group, the owed messages not yet processed
//! are kept in an [`ranges::IdRanges`]: a bitmap over the most recent 2^16 ids (8 KiB), in front of
//! runs of consecutive older ids; so are the producer's unresolved and failed messages. Messages
//! processed roughly in order cost nothing once processed; lost ones cost one run per stretch of
//! consecutive lost ids until the end. Checking order needs the key of each message
//! at its first processing, and `Processed` does not carry it: the keys of keyed messages still
//! unprocessed by some group that owes them are kept ([`ranges::KeyStore`], 8 bytes each, at most
//! about twice as many as such messages), so each *lost keyed* message costs 8 bytes until the end.
//! Plus the high-water marks per (group, key) of the order check: only those at or above the
//! group's lowest owed id not processed yet can matter, so the others are pruned now and then (an
//! array at most half full, 16 bytes a slot: O(in flight)); while a lost message holds that floor down and more than 4,096
//! marks are left, every key's mark is kept instead: 8 bytes per key up to the highest key seen
//! below 2^20 (a dense vector), a map entry per key seen above: O(keys x groups).

pub mod ranges;

use crate::history::{ClientEvent, GroupIdx, Settlement};
use crate::scenario::SystemKind;
use crate::subscriptions::{Subscriptions, Unrouted};
use crate::time::{SimDuration, SimTime};
use crate::workload::{Message, MessageId};
use ranges::{IdRanges, KeyStore};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Default stall threshold for `unavailable_s`; see the module documentation.
pub const DEFAULT_STALL_THRESHOLD: SimDuration = SimDuration(1_000_000_000);

/// The key store is trimmed when it has grown to twice its size after the last trim, plus this.
const KEY_RETAIN_SLACK: usize = 1024;

/// Hashes the workload's keys (indices `0..count`) for the order check's map: a folded 128-bit
/// multiply, several times cheaper than the default SipHash. Keys come from the scenario, not from
/// an adversary, and the map is only looked up, never iterated into a result.
#[derive(Clone, Copy, Default, Debug)]
struct KeyHash;

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

#[derive(Clone, Copy, Debug)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let m = u128::from(self.0) * 0x9E37_79B9_7F4A_7C15;
        (m >> 64) as u64 ^ m as u64
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// Keys below this are kept in a dense vector (8 bytes each, up to 8 MiB per group, grown only
/// as far as the highest key seen): one memory access per lookup. Keys above, in a map.
const DENSE_KEYS: u64 = 1 << 20;

/// The recent marks are pruned when they have grown to twice their number after the last prune,
/// plus this.
const MARKS_PRUNE_SLACK: usize = 1024;

/// More live marks than this after a prune (a message owed and never processed holds the floor
/// down, so nothing can be pruned): every key is kept from then on, in [`AllMarks`].
const RECENT_MARKS_MAX: usize = 4096;

/// The highest id first processed, per key, for the order check.
///
/// Only a mark at or above the group's *floor* (its lowest owed id not processed yet, or the next
/// id to be sent when there is none) can ever matter: every later first processing is of an id
/// at or above the floor, so a mark below it says "not overtaken, and the new id becomes the
/// mark", exactly what no mark says. So the marks live in a small map of the recent ones, pruned
/// of those below the floor now and then: a few thousand entries, in cache, where one mark per key
/// of the workload (8 bytes x 10^5 keys, looked up at random) missed the cache on nearly every
/// processed message. When the floor stays down (a lost message), the map cannot shrink; past
/// [`RECENT_MARKS_MAX`] live marks every key is kept in [`AllMarks`] instead.
#[derive(Debug, Default)]
struct KeyMarks {
    recent: RecentMarks,
    /// `recent` is pruned when it holds this many marks (0: the default, [`MARKS_PRUNE_SLACK`]).
    prune_at: usize,
    /// Every key's mark, once `recent` outgrew [`RECENT_MARKS_MAX`].
    all: Option<Box<AllMarks>>,
}

impl KeyMarks {
    /// Records the first processing of `id` with `key`; true if a higher id of the key was first
    /// processed before it (it was overtaken). `floor` gives the group's floor (see above), `id`
    /// aside.
    #[inline]
    fn overtaken(&mut self, key: u64, id: MessageId, floor: impl FnOnce() -> MessageId) -> bool {
        if let Some(all) = &mut self.all {
            return all.overtaken(key, id);
        }
        if self.recent.len() >= self.prune_at.max(MARKS_PRUNE_SLACK) {
            // The id being processed has just left the unprocessed set, and it may lie below.
            self.prune(floor().min(id));
            if let Some(all) = &mut self.all {
                return all.overtaken(key, id);
            }
        }
        let highest = self.recent.get_or_insert(key, id);
        if *highest > id {
            true
        } else {
            *highest = id;
            false
        }
    }

    /// Drops the marks below `floor`; keeps every key from then on if too many are left.
    #[cold]
    fn prune(&mut self, floor: MessageId) {
        self.recent.retain_at_least(floor);
        if self.recent.len() > RECENT_MARKS_MAX {
            let mut all = Box::<AllMarks>::default();
            // The order does not matter: each key is set once.
            for &(key, highest) in self.recent.slots.iter().filter(|&&(_, mark)| mark != MessageId::MAX) {
                all.overtaken(key, highest);
            }
            self.recent = RecentMarks::default();
            self.all = Some(all);
            return;
        }
        // Not before the array is half full (as full as it may get): a prune costs a pass over
        // the whole array, so it should free as many slots as it can.
        self.prune_at = (2 * self.recent.len() + MARKS_PRUNE_SLACK).max(self.recent.slots.len() / 2);
    }

    fn len(&self) -> usize {
        self.all.as_ref().map_or(self.recent.len(), |all| all.len)
    }
}

/// The recent marks: key -> mark in one array, open addressing with linear probing, at most
/// half full. A mark of `MessageId::MAX` is an empty slot (no id is that high).
#[derive(Debug, Default)]
struct RecentMarks {
    /// A power of two long (or empty).
    slots: Vec<(u64, MessageId)>,
    len: usize,
    /// The live marks while [`Self::retain_at_least`] puts them back (kept to be reused).
    scratch: Vec<(u64, MessageId)>,
}

impl RecentMarks {
    const EMPTY: (u64, MessageId) = (0, MessageId::MAX);

    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        let m = u128::from(key) * 0x9E37_79B9_7F4A_7C15;
        ((m >> 64) as u64 ^ m as u64) as usize & (self.slots.len() - 1)
    }

    /// The mark of `key`, set to `id` if it had none.
    #[inline]
    fn get_or_insert(&mut self, key: u64, id: MessageId) -> &mut MessageId {
        if 2 * (self.len + 1) > self.slots.len() {
            let size = (2 * self.slots.len()).max(2 * MARKS_PRUNE_SLACK);
            let old = std::mem::take(&mut self.slots);
            let marks = old.into_iter().filter(|&(_, mark)| mark != MessageId::MAX).collect();
            self.rebuild(size, marks);
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let (k, mark) = self.slots[i];
            if mark == MessageId::MAX {
                self.len += 1;
                self.slots[i] = (key, id);
                return &mut self.slots[i].1;
            }
            if k == key {
                return &mut self.slots[i].1;
            }
            i = (i + 1) & mask;
        }
    }

    /// Keeps only the marks at or above `floor`, in the same slots array (emptied and refilled,
    /// with no allocation: this runs every thousand or so processed messages).
    fn retain_at_least(&mut self, floor: MessageId) {
        let mut live = std::mem::take(&mut self.scratch);
        live.resize(self.slots.len(), Self::EMPTY);
        // Every slot is copied, and the count of live ones kept moves on past a live one (no
        // branch to mispredict): a mark is live if `floor <= mark < MessageId::MAX`.
        let mut n = 0;
        for &(key, mark) in &self.slots {
            live[n] = (key, mark);
            n += usize::from(mark.wrapping_sub(floor) < MessageId::MAX.wrapping_sub(floor));
        }
        self.slots.fill(Self::EMPTY);
        self.len = 0;
        for &(key, mark) in &live[..n] {
            *self.get_or_insert(key, mark) = mark;
        }
        self.scratch = live;
    }

    /// `slots` empty slots, then `marks` (distinct keys) put back.
    #[cold]
    fn rebuild(&mut self, slots: usize, marks: Vec<(u64, MessageId)>) {
        self.slots = vec![Self::EMPTY; slots];
        self.len = 0;
        for (key, mark) in marks {
            *self.get_or_insert(key, mark) = mark;
        }
    }
}

/// Every key's mark: workload keys are indices `0..count`, so most live in the dense part.
#[derive(Debug, Default)]
struct AllMarks {
    /// `MessageId::MAX`: none yet.
    dense: Vec<MessageId>,
    sparse: HashMap<u64, MessageId, KeyHash>,
    len: usize,
}

impl AllMarks {
    fn overtaken(&mut self, key: u64, id: MessageId) -> bool {
        let highest = if key < DENSE_KEYS {
            let k = key as usize;
            if k >= self.dense.len() {
                self.dense.resize((k + 1).next_power_of_two().min(DENSE_KEYS as usize), MessageId::MAX);
            }
            &mut self.dense[k]
        } else {
            self.sparse.entry(key).or_insert(MessageId::MAX)
        };
        if *highest == MessageId::MAX {
            self.len += 1;
            *highest = id;
            false
        } else if *highest > id {
            true
        } else {
            *highest = id;
            false
        }
    }
}

/// One consumer group, as the checker is told about it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupConfig {
    pub name: String,
    /// Messages sent at or after this time are owed to the group (it was subscribed by then).
    pub owed_from: SimTime,
    /// An idempotent consumer: how many of the latest processed ids it remembers; `None`: not
    /// idempotent.
    pub dedup_window: Option<u64>,
}

/// One outage of a producer host, from the fault schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerDown {
    /// The host (message `id` is sent by host `producer_for(id, producers)`); `None`: every host,
    /// the whole producer application.
    pub host: Option<u32>,
    pub crash: SimTime,
    /// `None`: never restarted.
    pub restart: Option<SimTime>,
}

/// Static facts the checker needs besides the events.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckerConfig {
    /// Indexed by the events' `group`.
    pub groups: Vec<GroupConfig>,
    /// When producer hosts were down: from a crash to its restart, in order of crash, from the
    /// fault schedule.
    pub producer_down: Vec<ProducerDown>,
    /// Producer hosts sharing the messages (`[workload] producers`): message `id` is sent by host
    /// [`crate::workload::producer_for`]`(id, producers)`.
    pub producers: u32,
    /// `θ` of `unavailable_s`.
    pub stall_threshold: SimDuration,
    /// Routing (issue 18): which groups each message is owed to in this system; `None`: every
    /// group is owed every message.
    pub routing: Option<(std::sync::Arc<Subscriptions>, SystemKind)>,
}

impl CheckerConfig {
    /// What the checker is told about a scenario: its groups, when each subscribed, and when the
    /// producer application is down.
    pub fn for_scenario(s: &crate::scenario::Scenario) -> CheckerConfig {
        let producers = s.workload.producers;
        let down = crate::scenario::faults::producer_down_spans(&s.faults, producers)
            .into_iter()
            .map(|(host, crash, restart)| ProducerDown { host: Some(host), crash, restart })
            .collect();
        let mut c = CheckerConfig::new(s.groups.iter().map(|g| g.name.clone())).producer_hosts(producers, down);
        // A group that starts late is owed what is sent from its start on (it was not subscribed
        // before).
        for (i, g) in s.groups.iter().enumerate() {
            c = c.owed_from(i, g.start);
            c.groups[i].dedup_window = g.dedup_window;
        }
        c
    }

    /// [`CheckerConfig::for_scenario`], with the scenario's routing as `system` applies it.
    pub fn for_system(s: &crate::scenario::Scenario, system: SystemKind) -> CheckerConfig {
        let mut c = CheckerConfig::for_scenario(s);
        c.routing = Subscriptions::new(s).map(|subs| (std::sync::Arc::new(subs), system));
        c
    }

    /// Groups owed every message, one producer host never down, the default stall threshold.
    pub fn new<S: Into<String>>(group_names: impl IntoIterator<Item = S>) -> Self {
        CheckerConfig {
            groups: group_names
                .into_iter()
                .map(|name| GroupConfig { name: name.into(), owed_from: SimTime::ZERO, dedup_window: None })
                .collect(),
            producer_down: Vec::new(),
            producers: 1,
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            routing: None,
        }
    }

    pub fn owed_from(mut self, group: GroupIdx, from: SimTime) -> Self {
        self.groups[group].owed_from = from;
        self
    }

    /// The whole producer application is down during `spans`, (crash, restart), in time order.
    pub fn producer_down(mut self, spans: Vec<(SimTime, Option<SimTime>)>) -> Self {
        self.producer_down =
            spans.into_iter().map(|(crash, restart)| ProducerDown { host: None, crash, restart }).collect();
        self
    }

    /// `producers` hosts share the messages, each down during its spans of `down` (in order of
    /// crash).
    pub fn producer_hosts(mut self, producers: u32, down: Vec<ProducerDown>) -> Self {
        assert!(producers >= 1, "at least one producer host");
        assert!(down.windows(2).all(|w| w[0].crash <= w[1].crash), "producer outages in order of crash");
        self.producers = producers;
        self.producer_down = down;
        self
    }
}

/// Per-group delivery counts (and, in [`DeliveryReport`], their sums over groups). Definitions in
/// the [module documentation](self).
#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub owed: u64,
    pub processed_unique: u64,
    pub stranded: u64,
    pub acknowledged_lost: u64,
    pub unacknowledged_lost: u64,
    pub duplicates: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_effects: Option<u64>,
    pub redelivered: u64,
    pub out_of_order: u64,
    pub processed_not_owed: u64,
    pub replayed: u64,
    pub skipped: u64,
    /// Issue 18's categories, left out of `summary.json` at 0 (results without failing consumers
    /// or queue policies stay as they were).
    #[serde(skip_serializing_if = "is_zero")]
    pub dead_lettered: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub expired: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retried: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub failed_attempts: u64,
}

impl DeliveryCounts {
    /// `owed = processed_unique + stranded + acknowledged_lost + unacknowledged_lost + skipped +
    /// dead_lettered + expired + dropped + retried`.
    pub fn identity_holds(&self) -> bool {
        self.owed
            == self.processed_unique
                + self.stranded
                + self.acknowledged_lost
                + self.unacknowledged_lost
                + self.skipped
                + self.settled()
    }

    /// Owed messages settled other than by processing: dead-lettered, expired, dropped, retried.
    pub fn settled(&self) -> u64 {
        self.dead_lettered + self.expired + self.dropped + self.retried
    }

    fn add(&mut self, o: &DeliveryCounts) {
        self.owed += o.owed;
        self.processed_unique += o.processed_unique;
        self.acknowledged_lost += o.acknowledged_lost;
        self.stranded += o.stranded;
        self.unacknowledged_lost += o.unacknowledged_lost;
        self.duplicates += o.duplicates;
        self.redelivered += o.redelivered;
        self.out_of_order += o.out_of_order;
        self.processed_not_owed += o.processed_not_owed;
        self.replayed += o.replayed;
        self.skipped += o.skipped;
        self.dead_lettered += o.dead_lettered;
        self.expired += o.expired;
        self.dropped += o.dropped;
        self.retried += o.retried;
        self.failed_attempts += o.failed_attempts;
    }
}

/// What one system delivered, as its clients saw it. Definitions in the [module documentation](self).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    pub sent: u64,
    pub acknowledged: u64,
    pub publish_failures: u64,
    /// `None`: no acknowledgement at all in the run, so not measurable.
    pub unavailable_s: Option<f64>,
    /// How long some producer host was down (crashed, not restarted yet), up to the end: the
    /// union of the hosts' outages, not their sum.
    pub producer_down_s: f64,
    pub unexpected_events: u64,
    /// RabbitMQ with routing: messages sent that no queue was owed, returned to the producer
    /// (`mandatory`) or confirmed and dropped. Neither is lost; both are left out at 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub returned: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub unroutable: u64,
    /// Sums over groups.
    #[serde(flatten)]
    pub total: DeliveryCounts,
    pub groups: BTreeMap<String, DeliveryCounts>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What the checker holds, to show that memory follows what is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// Runs of consecutive ids: unprocessed per group, unresolved and failed at the producer.
    pub id_runs: usize,
    /// Keys of keyed messages still unprocessed by a group that owes them (or not yet trimmed).
    pub keys: usize,
    /// (group, key) high-water marks for the order check.
    pub key_marks: usize,
}

#[derive(Debug)]
struct GroupState {
    name: String,
    owed_from: SimTime,
    /// The first message sent at or after `owed_from`: the group is owed exactly the ids from it on.
    first_owed: Option<MessageId>,
    /// Owed and not processed yet.
    unprocessed: IdRanges,
    /// Owed, not processed, and skipped on purpose by a seek to the end.
    skipped: IdRanges,
    /// Ids below this were sent before the group's latest seek (0: it never sought).
    replay_below: MessageId,
    /// Ids processed again since the latest seek: their first re-processing was replay.
    replayed_ids: IdRanges,
    /// Owed, not processed, last settled as `Retrying` (in a retry topic).
    retrying: IdRanges,
    /// RabbitMQ: messages owed because another queue dead-lettered them to this group's queue.
    dead_letters: IdRanges,
    /// Highest id first processed, per key.
    highest_by_key: KeyMarks,
    /// The idempotent consumer's memory of applied ids, if it is idempotent.
    dedup: Option<DedupWindow>,
    counts: DeliveryCounts,
}

/// An idempotent consumer's processed-ids table, bounded as real ones are (by a TTL or a cleanup
/// job): the last `capacity` distinct ids the group applied. An id that fell out is applied again
/// when it comes back.
#[derive(Debug)]
struct DedupWindow {
    capacity: usize,
    order: std::collections::VecDeque<MessageId>,
    ids: std::collections::BTreeSet<MessageId>,
}

impl DedupWindow {
    fn new(capacity: u64) -> Self {
        DedupWindow { capacity: capacity as usize, order: Default::default(), ids: Default::default() }
    }

    /// The application applied `id`: remember it, forgetting the oldest beyond the capacity.
    fn remember(&mut self, id: MessageId) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }

    fn knows(&self, id: MessageId) -> bool {
        self.ids.contains(&id)
    }
}

impl GroupState {
    fn owes(&self, id: MessageId) -> bool {
        self.first_owed.is_some_and(|first| id >= first)
    }
}

/// See the [module documentation](self).
#[derive(Debug)]
pub struct Checker {
    groups: Vec<GroupState>,
    /// The producer hosts' outages (for `producer_down_s`); from `next_producer_crash` on, still
    /// to come.
    producer_down: Vec<ProducerDown>,
    next_producer_crash: usize,
    producers: usize,
    stall_threshold: SimDuration,
    last_at: SimTime,
    /// Messages sent so far, which is also the next id expected.
    sent: u64,
    /// Messages actually sent (ids the producer skipped while it was down are never sent).
    sent_count: u64,
    acknowledged: u64,
    publish_failures: u64,
    unexpected_events: u64,
    unresolved: IdRanges,
    /// Given up on, not acknowledged since.
    failed: IdRanges,
    /// Unresolved when the producer crashed: nobody waits for them, none acknowledged since.
    orphaned: IdRanges,
    keys: KeyStore,
    keys_trim_at: usize,
    any_acknowledged: bool,
    /// Start of the current waiting period (some message unresolved), if any.
    waiting_since: Option<SimTime>,
    routing: Option<(std::sync::Arc<Subscriptions>, SystemKind)>,
    returned: u64,
    unroutable: u64,
    /// Stalled time of the waiting periods already over.
    stalled: SimDuration,
}

impl Checker {
    pub fn new(config: CheckerConfig) -> Self {
        Checker {
            groups: config
                .groups
                .into_iter()
                .map(|g| GroupState {
                    name: g.name,
                    owed_from: g.owed_from,
                    first_owed: None,
                    unprocessed: IdRanges::default(),
                    skipped: IdRanges::default(),
                    replay_below: 0,
                    replayed_ids: IdRanges::default(),
                    retrying: IdRanges::default(),
                    dead_letters: IdRanges::default(),
                    highest_by_key: KeyMarks::default(),
                    dedup: g.dedup_window.map(DedupWindow::new),
                    counts: DeliveryCounts { duplicate_effects: g.dedup_window.map(|_| 0), ..Default::default() },
                })
                .collect(),
            producer_down: config.producer_down,
            next_producer_crash: 0,
            producers: config.producers as usize,
            stall_threshold: config.stall_threshold,
            last_at: SimTime::ZERO,
            sent: 0,
            sent_count: 0,
            acknowledged: 0,
            publish_failures: 0,
            unexpected_events: 0,
            unresolved: IdRanges::default(),
            failed: IdRanges::default(),
            orphaned: IdRanges::default(),
            keys: KeyStore::default(),
            keys_trim_at: KEY_RETAIN_SLACK,
            any_acknowledged: false,
            waiting_since: None,
            stalled: SimDuration::ZERO,
            routing: config.routing,
            returned: 0,
            unroutable: 0,
        }
    }

    /// Takes one event. Events must come in time order, and `Sent` ids must be 0, 1, 2, ...: the
    /// checker panics otherwise (its input is malformed, and no count would mean anything).
    #[inline(always)]
    pub fn observe(&mut self, at: SimTime, event: &ClientEvent) {
        assert!(at >= self.last_at, "client event at {} ns before the previous one at {} ns", at.0, self.last_at.0);
        self.last_at = at;
        if self.producer_down.get(self.next_producer_crash).is_some_and(|d| at >= d.crash) {
            self.producer_crashed();
        }
        match *event {
            ClientEvent::Sent { msg } => self.on_sent(at, &msg),
            ClientEvent::Acknowledged { id } => self.on_acknowledged(at, id),
            ClientEvent::SendFailed { id } => self.on_send_failed(at, id),
            ClientEvent::Delivered { msg, group, redelivered, .. } => {
                self.check_group(group);
                if msg.id() >= self.sent {
                    self.unexpected_events += 1;
                } else if redelivered {
                    self.groups[group].counts.redelivered += 1;
                }
            }
            ClientEvent::Processed { msg, group, .. } => self.on_processed(group, msg.id()),
            ClientEvent::ProcessingStarted { msg, group, .. } => {
                self.check_group(group);
                self.unexpected_events += u64::from(msg.id() >= self.sent);
            }
            ClientEvent::Acked { id, group, .. } => {
                self.check_group(group);
                self.unexpected_events += u64::from(id >= self.sent);
            }
            ClientEvent::Committed { group, .. } => self.check_group(group),
            ClientEvent::Sought { group, to_end } => self.on_sought(group, to_end),
            ClientEvent::ProcessingFailed { msg, group, .. } => {
                self.check_group(group);
                if msg.id() >= self.sent {
                    self.unexpected_events += 1;
                } else if self.owed_to(group, msg.id()) {
                    self.groups[group].counts.failed_attempts += 1;
                }
            }
            ClientEvent::Settled { id, group, outcome } => self.on_settled(group, id, outcome),
        }
        debug_assert_eq!(self.waiting_since.is_some(), !self.unresolved.is_empty());
    }

    /// Whether producer outage `d` is of the host that sends message `id`.
    fn hits(&self, d: &ProducerDown, id: MessageId) -> bool {
        d.host.is_none_or(|h| self.producers == 1 || crate::workload::producer_for(id, self.producers) == h as usize)
    }

    /// A producer host crashed (the first event at or after the crash comes after it): what it
    /// waited for is orphaned, and if nothing is left unresolved (no other host waits), the
    /// waiting period ends there.
    #[cold]
    fn producer_crashed(&mut self) {
        while let Some(&d) = self.producer_down.get(self.next_producer_crash) {
            if d.crash > self.last_at {
                break;
            }
            self.next_producer_crash += 1;
            let runs: Vec<(MessageId, MessageId)> = self.unresolved.runs().collect();
            for id in runs.into_iter().flat_map(|(lo, hi)| lo..hi) {
                if self.hits(&d, id) {
                    self.unresolved.remove(id);
                    self.orphaned.insert(id);
                }
            }
            if self.unresolved.is_empty() {
                self.unresolved = IdRanges::default();
                if let Some(since) = self.waiting_since.take() {
                    self.stalled = self.stalled + self.stall(since, d.crash.max(since));
                }
            }
        }
    }

    /// The first outage still to come, at or before `end`, after which no message is left
    /// unresolved: the open waiting period ends there.
    fn last_waiter_crashes(&self, end: SimTime) -> Option<SimTime> {
        let pending = self.producer_down[self.next_producer_crash..].iter().take_while(|d| d.crash <= end);
        pending.clone().next()?;
        let mut waiting: Vec<MessageId> = self.unresolved.runs().flat_map(|(lo, hi)| lo..hi).collect();
        for d in pending {
            waiting.retain(|&id| !self.hits(d, id));
            if waiting.is_empty() {
                return Some(d.crash);
            }
        }
        None
    }

    fn check_group(&self, group: GroupIdx) {
        assert!(
            group < self.groups.len(),
            "client event for group {group}, but the checker knows {} groups",
            self.groups.len()
        );
    }

    fn on_sent(&mut self, at: SimTime, msg: &Message) {
        // Ids grow with time; a gap is messages the producer application never sent (it was down).
        assert!(msg.id >= self.sent, "Sent ids must be 0, 1, 2, ... in time order (gaps allowed)");
        let id = msg.id;
        self.sent = id + 1;
        self.sent_count += 1;
        if self.unresolved.is_empty() {
            self.waiting_since = Some(at);
        }
        self.unresolved.push(id);
        let mut owed_by_any = false;
        let mask = self.routing.as_ref().map_or(u64::MAX, |(subs, system)| subs.owed(*system, id));
        for (gi, g) in self.groups.iter_mut().enumerate() {
            if at >= g.owed_from && crate::subscriptions::has(mask, gi) {
                g.first_owed.get_or_insert(id);
                g.unprocessed.push(id);
                g.counts.owed += 1;
                owed_by_any = true;
            }
        }
        if !owed_by_any && let Some((subs, SystemKind::RabbitMq)) = &self.routing {
            match subs.unrouted() {
                Unrouted::Returned => self.returned += 1,
                Unrouted::Dropped => self.unroutable += 1,
            }
        }
        if let (Some(key), true) = (msg.key, owed_by_any) {
            self.keys.push(id, key);
            if self.keys.len() >= self.keys_trim_at {
                self.trim_keys();
            }
        }
    }

    /// Drops the keys of messages every group owing them has processed.
    fn trim_keys(&mut self) {
        // A message in a retry topic is processed later: its key is still needed.
        let mut runs: Vec<(MessageId, MessageId)> =
            self.groups.iter().flat_map(|g| g.unprocessed.runs().chain(g.retrying.runs())).collect();
        runs.sort_unstable();
        let mut union: Vec<(MessageId, MessageId)> = Vec::with_capacity(runs.len());
        for (lo, hi) in runs {
            match union.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => union.push((lo, hi)),
            }
        }
        self.keys.retain(&union);
        self.keys_trim_at = 2 * self.keys.len() + KEY_RETAIN_SLACK;
    }

    fn on_acknowledged(&mut self, at: SimTime, id: MessageId) {
        if id >= self.sent {
            self.unexpected_events += 1;
            return;
        }
        self.any_acknowledged = true;
        if self.unresolved.remove(id) || self.failed.remove(id) || self.orphaned.remove(id) {
            self.acknowledged += 1;
        }
        if let Some(since) = self.waiting_since {
            self.stalled = self.stalled + self.stall(since, at);
            self.waiting_since = (!self.unresolved.is_empty()).then_some(at);
        }
    }

    fn on_send_failed(&mut self, at: SimTime, id: MessageId) {
        if id >= self.sent {
            self.unexpected_events += 1;
            return;
        }
        if !self.unresolved.remove(id) {
            return; // already acknowledged, or already failed
        }
        self.publish_failures += 1;
        self.failed.insert(id);
        if self.unresolved.is_empty()
            && let Some(since) = self.waiting_since.take()
        {
            self.stalled = self.stalled + self.stall(since, at);
        }
    }

    fn on_processed(&mut self, group: GroupIdx, id: MessageId) {
        self.check_group(group);
        if id >= self.sent {
            self.unexpected_events += 1;
            return;
        }
        let owed = self.owed_to(group, id);
        let g = &mut self.groups[group];
        if !owed {
            g.counts.processed_not_owed += 1;
        } else if g.unprocessed.remove(id) || g.retrying.remove(id) {
            g.counts.processed_unique += 1;
            if let Some(w) = &mut g.dedup {
                w.remember(id);
            }
            // Unprocessed by an owing group, so its key (if any) is still stored.
            if let Some(key) = self.keys.get(id) {
                let sent = self.sent;
                let floor = || {
                    let retrying = g.retrying.min().unwrap_or(sent);
                    g.unprocessed.min().unwrap_or(sent).min(retrying)
                };
                if g.highest_by_key.overtaken(key, id, floor) {
                    g.counts.out_of_order += 1;
                }
            }
        } else if g.skipped.remove(id) {
            // Skipped by a seek to the end, then read after all (it was still on its way to the
            // log when the group sought): an ordinary first processing, not checked for order.
            g.counts.processed_unique += 1;
            if let Some(w) = &mut g.dedup {
                w.remember(id);
            }
        } else if id < g.replay_below && g.replayed_ids.insert(id) {
            g.counts.replayed += 1;
        } else {
            g.counts.duplicates += 1;
            if let (Some(w), Some(effects)) = (&mut g.dedup, &mut g.counts.duplicate_effects)
                && !w.knows(id)
            {
                *effects += 1;
                w.remember(id);
            }
        }
    }

    /// Whether group `group` is owed message `id` (sent, after its start, routed to it).
    fn owed_to(&self, group: GroupIdx, id: MessageId) -> bool {
        (self.groups[group].owes(id)
            && self
                .routing
                .as_ref()
                .is_none_or(|(subs, system)| crate::subscriptions::has(subs.owed(*system, id), group)))
            || self.groups[group].dead_letters.contains(id)
    }

    /// RabbitMQ: `group`'s queue dead-lettered `id` at `at`; the queues its dead-letter exchange
    /// routes it to (`Subscriptions::dead_letter`), bound by then, are owed it from now on, unless
    /// they already were (a dead-letter cycle is dropped).
    fn dead_lettered(&mut self, at: SimTime, group: GroupIdx, id: MessageId) {
        let Some((subs, SystemKind::RabbitMq)) = &self.routing else { return };
        let to = subs.dead_letter(group, id);
        for target in 0..self.groups.len() {
            if target == group
                || !crate::subscriptions::has(to, target)
                || at < self.groups[target].owed_from
                || self.owed_to(target, id)
            {
                continue;
            }
            let g = &mut self.groups[target];
            g.dead_letters.insert(id);
            g.unprocessed.insert(id);
            g.counts.owed += 1;
        }
    }

    /// The message's fate for the group was settled without processing: the first settlement of
    /// an owed, unprocessed message stands (`Retrying` aside, which a later one replaces).
    fn on_settled(&mut self, group: GroupIdx, id: MessageId, outcome: Settlement) {
        self.check_group(group);
        if id >= self.sent {
            self.unexpected_events += 1;
            return;
        }
        if !self.owed_to(group, id) {
            return;
        }
        if outcome == Settlement::DeadLettered {
            // Its dead-letter queues are owed it whatever this group's count says (a message
            // processed but requeued unacknowledged may still expire and be dead-lettered).
            self.dead_lettered(self.last_at, group, id);
        }
        let g = &mut self.groups[group];
        if !(g.unprocessed.remove(id) || g.retrying.remove(id)) {
            return; // processed, skipped or settled already
        }
        match outcome {
            Settlement::Retrying => {
                g.retrying.insert(id);
            }
            Settlement::DeadLettered => g.counts.dead_lettered += 1,
            Settlement::Expired => g.counts.expired += 1,
            Settlement::Dropped => g.counts.dropped += 1,
        }
    }

    /// The group sought: re-processing a message sent before now is replay (once per message per
    /// seek); with `to_end`, what it owes and has not processed is skipped on purpose.
    fn on_sought(&mut self, group: GroupIdx, to_end: bool) {
        self.check_group(group);
        let g = &mut self.groups[group];
        g.replay_below = self.sent;
        g.replayed_ids = IdRanges::default();
        if to_end {
            if g.skipped.is_empty() {
                std::mem::swap(&mut g.skipped, &mut g.unprocessed);
            } else {
                let ids: Vec<(MessageId, MessageId)> = g.unprocessed.runs().collect();
                for (lo, hi) in ids {
                    (lo..hi).for_each(|id| {
                        g.skipped.insert(id);
                    });
                }
                g.unprocessed = IdRanges::default();
            }
        }
    }

    /// Stalled time of a waiting period `[since, until)`.
    fn stall(&self, since: SimTime, until: SimTime) -> SimDuration {
        SimDuration(until.since(since).0.saturating_sub(self.stall_threshold.0))
    }

    /// What was delivered, as of `end` (at or after the last event), with nothing held at the
    /// end: every message still unprocessed counts as lost. See [`Checker::finish_with`].
    pub fn finish(&self, end: SimTime) -> DeliveryReport {
        self.finish_with(end, &vec![Vec::new(); self.groups.len()])
    }

    /// What was delivered, as of `end` (at or after the last event). `held[g]`: the final read of
    /// group `g`, the ids still stored for it at the end as sorted, disjoint runs `[lo, hi)`; an
    /// owed message never processed counts as `stranded` if held, else as lost. A waiting period
    /// still open counts up to `end`.
    pub fn finish_with(&self, end: SimTime, held: &[Vec<(MessageId, MessageId)>]) -> DeliveryReport {
        assert!(end >= self.last_at, "the run ends before its last client event");
        let mut total = DeliveryCounts::default();
        let mut groups = BTreeMap::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let mut c = g.counts;
            c.skipped = g.skipped.len();
            c.retried = g.retrying.len();
            let held = held.get(gi).map_or(&[][..], Vec::as_slice);
            for (lo, hi) in g.unprocessed.runs() {
                for (from, to, is_held) in split_by(lo, hi, held) {
                    if is_held {
                        c.stranded += to - from;
                        continue;
                    }
                    let unacknowledged = self.unresolved.count_in(from, to)
                        + self.failed.count_in(from, to)
                        + self.orphaned.count_in(from, to);
                    c.unacknowledged_lost += unacknowledged;
                    c.acknowledged_lost += (to - from) - unacknowledged;
                }
            }
            total.add(&c);
            groups.insert(g.name.clone(), c);
        }
        if groups.values().any(|c| c.duplicate_effects.is_some()) {
            total.duplicate_effects = Some(groups.values().map(|c| c.duplicate_effects.unwrap_or(c.duplicates)).sum());
        }
        // A crash after the last event still ends the waiting period (orphaned or unresolved,
        // its messages count alike).
        let open = self.waiting_since.map_or(SimDuration::ZERO, |since| {
            self.stall(since, self.last_waiter_crashes(end).unwrap_or(end).max(since))
        });
        let down = union_length(self.producer_down.iter().map(|d| (d.crash, d.restart.unwrap_or(end).min(end))));
        DeliveryReport {
            sent: self.sent_count,
            acknowledged: self.acknowledged,
            publish_failures: self.publish_failures,
            unavailable_s: self.any_acknowledged.then(|| (self.stalled + open).as_secs_f64()),
            producer_down_s: SimDuration(down).as_secs_f64(),
            unexpected_events: self.unexpected_events,
            returned: self.returned,
            unroutable: self.unroutable,
            total,
            groups,
        }
    }

    /// What the checker holds now.
    pub fn retained(&self) -> Retained {
        Retained {
            id_runs: self
                .groups
                .iter()
                .map(|g| {
                    g.unprocessed.run_count()
                        + g.skipped.run_count()
                        + g.replayed_ids.run_count()
                        + g.retrying.run_count()
                })
                .sum::<usize>()
                + self.unresolved.run_count()
                + self.failed.run_count()
                + self.orphaned.run_count(),
            keys: self.keys.len(),
            key_marks: self.groups.iter().map(|g| g.highest_by_key.len()).sum(),
        }
    }
}

/// The length of the union of the intervals `[from, to)` (an empty or reversed one adds nothing),
/// in nanoseconds.
fn union_length(spans: impl Iterator<Item = (SimTime, SimTime)>) -> u64 {
    let mut spans: Vec<(SimTime, SimTime)> = spans.filter(|(from, to)| from < to).collect();
    spans.sort();
    let mut total = 0;
    let mut covered_to = SimTime::ZERO;
    for (from, to) in spans {
        let from = from.max(covered_to);
        if to > from {
            total += to.0 - from.0;
            covered_to = to;
        }
    }
    total
}

/// `[lo, hi)` cut at the edges of the sorted, disjoint runs `held`: `(from, to, inside a run)`.
fn split_by(lo: MessageId, hi: MessageId, held: &[(MessageId, MessageId)]) -> Vec<(MessageId, MessageId, bool)> {
    let mut out = Vec::new();
    let mut at = lo;
    let first = held.partition_point(|&(_, h)| h <= lo);
    for &(h_lo, h_hi) in &held[first..] {
        if h_lo >= hi {
            break;
        }
        if h_lo > at {
            out.push((at, h_lo, false));
        }
        let end = h_hi.min(hi);
        out.push((at.max(h_lo), end, true));
        at = end;
    }
    if at < hi {
        out.push((at, hi, false));
    }
    out
}

#[cfg(test)]
mod tests;
