//! The Kafka consumer client (`KafkaConsumer`): its assignment, positions, fetch sessions, fetch
//! buffer and offset commits, and its application. A node kind (issue 16): the fetch session and
//! the commits are handlers that write to a sink ([`Sees`]: a fetch to a dead broker is refused
//! at once); so are the heartbeat thread, the classic protocol's JoinGroup and its reading of a
//! heartbeat's answer, KIP-848's heartbeat and its answer, and `poll()`'s membership steps (a
//! pending assignment applied, a rejoin). The end of a job is still driven by the harness
//! ([`super::KafkaModel`]), which reads and writes this state; it also keeps the group's shared
//! record of who owns which partition, from what these handlers return.

use super::group::CommittedOffsets;
use super::replica::{BrokerId, Replicas};
use super::{DISCARD, Fetched, Msg, NO_BROKER, OffsetCommit, SKIPPED, Timer};
use crate::client::ConsumerApp;
use crate::history::{ClientEvent, GroupIdx};
use crate::models::log::Offset;
use crate::scenario::KafkaConfig;
use crate::scenario::defaults as d;
use crate::time::{SimDuration, SimTime};
use crate::workload::ProcessingTimes;
use crate::world::out::{Effects, Sees};
use crate::world::{Deadline, Fired, NodeId};
use std::collections::VecDeque;

/// What a consumer's handlers read from around it: the partitions' leaders as the client's
/// metadata has them, the coordinator's node, whether the schedule has faults (then every fetch
/// is watched for `request.timeout.ms`), and what a record costs the application.
#[derive(Clone, Copy)]
pub(super) struct Around<'a> {
    pub leaders: &'a [Replicas],
    pub coord: NodeId,
    pub faulty: bool,
    /// The groups' processing times.
    pub processing: &'a ProcessingTimes,
    /// The application only checks the timestamp of a record older than this, and skips it
    /// (`[[groups]] max_age`).
    pub max_age: Option<SimDuration>,
    /// Decompression in `poll()`, per record (with `compression.type` in a world with resources).
    pub decompress_record: SimDuration,
    /// The group's committed offsets at the coordinator (what an `OffsetFetch` would answer).
    pub committed: &'a CommittedOffsets,
}

/// A consumer: its client library's state (assignment, positions, fetch buffer, commits, group
/// membership) and its application.
pub(super) struct Consumer {
    pub(super) node: NodeId,
    /// Member id: the consumer's index and its node's incarnation (a restarted consumer is a new
    /// member).
    pub(super) member: u64,
    /// The group generation of the current assignment.
    pub(super) generation: u32,
    /// Counts assignments: a fetch response for an older one is void.
    pub(super) epoch: u32,
    /// Has an assignment it may fetch and commit for.
    pub(super) assigned: bool,
    /// The heartbeat said the group is rebalancing: rejoin at the next `poll()`.
    pub(super) rejoin_pending: bool,
    /// Sent JoinGroup, waiting for the assignment.
    pub(super) joining: bool,
    pub(super) last_poll: SimTime,
    pub(super) partitions: Vec<u32>,
    /// Records in `buffer` per assigned partition: a partition with none is fetchable.
    pub(super) buffered: Vec<u32>,
    /// Per slot: the broker its partition was last asked from ([`NO_BROKER`]: none).
    pub(super) requested: Vec<BrokerId>,
    /// Next offset to fetch, per assigned partition.
    pub(super) fetch_pos: Vec<Offset>,
    /// Offset after the last record handed to the application by `poll`, per partition.
    pub(super) consumed: Vec<Offset>,
    /// Last offsets this consumer sent in a commit.
    pub(super) commit_sent: Vec<Offset>,
    /// Fetched, not yet returned by `poll`.
    pub(super) buffer: VecDeque<Fetched>,
    /// The application: the current poll's records, processed in order.
    pub(super) app: ConsumerApp<Fetched>,
    /// Failed attempts at the record in progress (issue 18; 0 for its first attempt).
    pub(super) attempt: u32,
    /// The record in progress was older than the group's `max_age` when the application came to
    /// it: it only checks the timestamp and skips it (settled `expired`).
    pub(super) stale: bool,
    /// Brokers (bit set) to which a fetch request or its response is on its way, or parked there:
    /// one fetch per partition leader, as the consumer's `Fetcher` does.
    pub(super) fetching: u64,
    pub(super) waiting_in_poll: bool,
    /// Waiting for a `commitSync` response before polling again, since this instant.
    pub(super) commit_sync_pending: bool,
    pub(super) commit_sync_since: SimTime,
    /// Sent JoinGroup at this instant (meaningful while `joining`).
    pub(super) joining_since: SimTime,
    /// Client side, per broker: `request.timeout.ms` of the fetch in flight to it (with faults).
    pub(super) fetch_timeout: Vec<Deadline>,
    pub(super) next_auto_commit: SimTime,
    /// Due time of this consumer's pending `AutoCommitDue` timer, if any.
    pub(super) auto_commit_timer: Option<SimTime>,
    /// Cooperative-sticky and the consumer protocol: an assignment received and not yet applied
    /// (its generation, or the consumer protocol's epoch), applied at the next `poll()`, where
    /// `onPartitionsRevoked` and `onPartitionsAssigned` run.
    pub(super) pending: Option<(u32, Vec<(u32, Offset)>)>,
    /// The consumer protocol: the epoch of the assignment it applied.
    pub(super) acked_epoch: u32,
    /// When the heartbeat thread next heartbeats. Both clients restart the interval from events
    /// (classic: the JoinGroup response; KIP-848: any heartbeat sent), so the pending
    /// `HeartbeatTick` may be early: it re-arms for this instant instead of heartbeating.
    pub(super) heartbeat_due: SimTime,
}

/// The group protocol a consumer's heartbeat thread speaks (`group.protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Protocol {
    /// JoinGroup/SyncGroup and `Heartbeat` every `heartbeat.interval.ms` (3 s).
    Classic,
    /// KIP-848: `ConsumerGroupHeartbeat` every `group.consumer.heartbeat.interval.ms` (5 s).
    Consumer,
}

impl Protocol {
    pub(super) fn heartbeat_interval(self) -> SimDuration {
        match self {
            Protocol::Classic => d::KAFKA_HEARTBEAT_INTERVAL,
            Protocol::Consumer => d::KAFKA_CONSUMER_HEARTBEAT_INTERVAL,
        }
    }
}

/// What a heartbeat thread's tick did that the harness must follow up.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Tick {
    /// Heartbeated, or re-armed for a later due time: nothing to follow up.
    Quiet,
    /// A `commitSync` waited `request.timeout.ms`: it failed, and the application polls again.
    CommitSyncTimedOut,
    /// `max.poll.interval.ms` passed without a poll: the member left the group and took the fresh
    /// member id it was given (the harness hands out the next one).
    Left,
}

/// What the classic protocol's heartbeat answer asks of the member.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Heard {
    Nothing,
    /// A rebalance (or the coordinator does not know it): it rejoins at its next `poll()`, at
    /// once if it is blocked in one.
    RejoinAtPoll {
        now: bool,
    },
    /// Its join has waited `request.timeout.ms` (the JoinGroup or its answer was lost): join again.
    JoinAgain,
}

/// What applying a pending assignment at `poll()` leaves to the harness.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// Nothing applied (none pending, or the application still holds the last poll's records), or
    /// an assignment that moves no partition (only its generation or epoch was taken).
    Nothing,
    /// A first assignment, or one that moves partitions: the harness gives `revoked` up and
    /// `added` to this member in the group's record of owners, and recounts the fetched positions.
    /// `committed`: the auto-commit of what was consumed before the revoked partitions went
    /// (`Some(sent)`, as [`Consumer::commit`] returns). `rejoin`: cooperatively, what it gave up
    /// goes to its new owners in a second rebalance, so it joins again at once.
    Reassigned { revoked: Vec<u32>, added: Vec<u32>, committed: Option<bool>, rejoin: bool },
}

/// What a KIP-848 heartbeat's answer leaves to the harness; `poll_now`: the consumer is blocked in
/// an idle `poll()`, which acts on the answer at once.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answered {
    /// Not a member, or an assignment it already applied.
    Nothing,
    /// Fenced: these partitions are lost (`onPartitionsLost`); it joins again at its next `poll()`.
    Lost { partitions: Vec<u32>, poll_now: bool },
    /// A new assignment, pending until its next `poll()`.
    Pending { poll_now: bool },
}

/// What `poll()` does about the group before handing out records.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AtPoll {
    /// Assigned and not asked to rejoin: hand out records.
    Records,
    /// No assignment yet (its join is under way): it waits in `poll()`.
    Blocked,
    /// It joins again (the harness sends the join, committing first with auto-commit); `blocked`:
    /// it waits in `poll()` for its assignment (eagerly, or with nothing to process meanwhile),
    /// otherwise (cooperatively) it goes on processing what it owns.
    Rejoin { blocked: bool },
}

/// What the consumer does once a record's job is over ([`Consumer::job_finished`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AfterJob {
    /// The application started on the next record it holds.
    Working,
    /// `commitSync` after the poll's records (`enable.auto.commit = false`): it blocks until the
    /// coordinator answers; `sent`: whether the commit left.
    CommitSync { sent: bool },
    /// Back to `poll()`.
    Poll,
}

impl Consumer {
    pub(super) fn new(node: NodeId, member: u64, cfg: &KafkaConfig, brokers: u32) -> Self {
        Consumer {
            node,
            member,
            generation: 0,
            epoch: 0,
            assigned: false,
            rejoin_pending: false,
            joining: false,
            last_poll: SimTime::ZERO,
            partitions: Vec::new(),
            buffered: Vec::new(),
            requested: Vec::new(),
            fetch_pos: Vec::new(),
            consumed: Vec::new(),
            commit_sent: Vec::new(),
            buffer: VecDeque::new(),
            app: ConsumerApp::default(),
            attempt: 0,
            stale: false,
            fetching: 0,
            waiting_in_poll: false,
            commit_sync_pending: false,
            commit_sync_since: SimTime::ZERO,
            joining_since: SimTime::ZERO,
            fetch_timeout: vec![Deadline::default(); brokers as usize],
            next_auto_commit: SimTime(cfg.auto_commit_interval.0),
            auto_commit_timer: None,
            pending: None,
            acked_epoch: 0,
            heartbeat_due: SimTime::ZERO,
        }
    }

    /// Takes partitions (with their starting offsets) as its assignment.
    pub(super) fn assign(&mut self, generation: u32, partitions: &[(u32, Offset)]) {
        self.generation = generation;
        self.epoch += 1;
        self.assigned = true;
        self.joining = false;
        self.rejoin_pending = false;
        self.partitions = partitions.iter().map(|&(p, _)| p).collect();
        let n = partitions.len();
        self.buffered = vec![0; n];
        self.requested = vec![NO_BROKER; n];
        self.fetch_pos = partitions.iter().map(|&(_, o)| o).collect();
        self.consumed = self.fetch_pos.clone();
        self.commit_sent = self.fetch_pos.clone();
        self.buffer.clear();
        self.fetching = 0;
        self.fetch_timeout.iter_mut().for_each(Deadline::clear);
    }

    /// The heartbeat thread's tick (`AbstractHeartbeatRequestManager` / the classic
    /// `HeartbeatThread`): re-armed for later if the interval restarted since it was set;
    /// otherwise the next tick is set, a `commitSync` that waited `request.timeout.ms` fails, a
    /// member whose application has not polled within `max.poll.interval.ms` leaves the group
    /// (and will rejoin as member `fresh`), and a member heartbeats.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn heartbeat_tick(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        coord: NodeId,
        protocol: Protocol,
        fresh: u64,
        out: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) -> Tick {
        let node = self.node;
        if now < self.heartbeat_due {
            out.timer_at(node, self.heartbeat_due, Timer::HeartbeatTick);
            return Tick::Quiet;
        }
        let interval = protocol.heartbeat_interval();
        self.heartbeat_due = now.after(interval);
        out.timer_in(node, interval, Timer::HeartbeatTick);
        if self.commit_sync_pending && now.since(self.commit_sync_since) >= d::KAFKA_REQUEST_TIMEOUT {
            // The commit or its answer was lost (a cut link): `commitSync` fails with a timeout and
            // the application goes on polling; the next commit carries later offsets.
            self.commit_sync_pending = false;
            return Tick::CommitSyncTimedOut;
        }
        let polling = self.waiting_in_poll || self.commit_sync_pending;
        if (self.assigned || self.joining) && !polling && now.since(self.last_poll) > d::KAFKA_MAX_POLL_INTERVAL {
            // Poll timeout: the member leaves; it rejoins as a new member at its next poll().
            let member = self.member;
            self.member = fresh;
            self.revoke();
            self.joining = false;
            self.pending = None;
            self.acked_epoch = 0;
            out.send(node, coord, Msg::LeaveGroup { group, member });
            return Tick::Left;
        }
        let member = self.member;
        match protocol {
            Protocol::Consumer if self.assigned || self.joining => {
                let (owned, acked) = (self.partitions.clone(), self.acked_epoch);
                out.send(node, coord, Msg::ConsumerHeartbeat { group, consumer, member, owned, acked });
            }
            Protocol::Consumer => {}
            Protocol::Classic => out.send(node, coord, Msg::Heartbeat { group, member }),
        }
        Tick::Quiet
    }

    /// The classic protocol: the coordinator's answer to a heartbeat.
    pub(super) fn heartbeat_heard(&mut self, now: SimTime, rebalance: bool, unknown: bool) -> Heard {
        if (rebalance && self.assigned && !self.joining) || (unknown && !self.joining) {
            self.rejoin_pending = true;
            // A consumer blocked in poll() notices at once; a busy one at its next poll().
            Heard::RejoinAtPoll { now: self.waiting_in_poll }
        } else if self.joining && !rebalance && now.since(self.joining_since) >= d::KAFKA_REQUEST_TIMEOUT {
            // Joining for `request.timeout.ms` while the coordinator does not know it (its
            // JoinGroup was lost) or holds the group stable (its assignment was lost): the join
            // request timed out, and it joins again.
            Heard::JoinAgain
        } else {
            Heard::Nothing
        }
    }

    /// The classic protocol: a JoinGroup (eagerly, having given up every partition first).
    pub(super) fn join_group(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        coord: NodeId,
        eager: bool,
        out: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        if eager {
            self.revoke();
        }
        self.rejoin_pending = false;
        self.joining = true;
        self.joining_since = now;
        out.send(self.node, coord, Msg::JoinGroup { group, consumer, member: self.member });
    }

    /// KIP-848: a member without an assignment joins with its first heartbeat (epoch 0), at once.
    pub(super) fn join_consumer_group(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        coord: NodeId,
        out: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        self.joining = true;
        self.rejoin_pending = false;
        self.acked_epoch = 0;
        self.consumer_heartbeat(now, group, consumer, coord, out);
    }

    /// KIP-848: a heartbeat with the partitions it owns and the epoch it applied; any heartbeat
    /// sent restarts the interval (`HeartbeatRequestState.resetTimer`).
    pub(super) fn consumer_heartbeat(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        coord: NodeId,
        out: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        self.heartbeat_due = now.after(d::KAFKA_CONSUMER_HEARTBEAT_INTERVAL);
        let (member, owned, acked) = (self.member, self.partitions.clone(), self.acked_epoch);
        out.send(self.node, coord, Msg::ConsumerHeartbeat { group, consumer, member, owned, acked });
    }

    /// `poll()`'s first step, with the application idle (done with the last poll's records): a
    /// pending cooperative-sticky or KIP-848 assignment is applied (`onPartitionsRevoked`, then
    /// `onPartitionsAssigned`). It takes the assignment's generation (KIP-848: the group's
    /// generation `group_generation` at the coordinator, and it acknowledges the epoch); commits
    /// the coordinator refused meanwhile are sent again; with auto-commit, what was consumed of
    /// the partitions it gives up is committed before they go. Under KIP-848 a member whose
    /// partitions moved heartbeats at once to report it (the client's ACKNOWLEDGING state).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_pending(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        protocol: Protocol,
        group_generation: u32,
        auto_commit: bool,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) -> Applied {
        if self.app.is_busy() || self.app.waiting() > 0 {
            return Applied::Nothing;
        }
        let Some((epoch, parts)) = self.pending.take() else { return Applied::Nothing };
        let kip848 = protocol == Protocol::Consumer;
        self.generation = if kip848 {
            self.acked_epoch = epoch;
            group_generation
        } else {
            epoch
        };
        let first = !self.assigned;
        let revoked: Vec<u32> =
            self.partitions.iter().copied().filter(|p| !parts.iter().any(|&(q, _)| q == *p)).collect();
        let added: Vec<u32> = parts.iter().map(|&(q, _)| q).filter(|q| !self.partitions.contains(q)).collect();
        // Commits refused while the group moved to this generation are sent again.
        for (slot, &p) in self.partitions.iter().enumerate() {
            self.commit_sent[slot] = self.commit_sent[slot].min(around.committed.get(p));
        }
        let moved = !revoked.is_empty() || !added.is_empty();
        if !first && !moved {
            return Applied::Nothing;
        }
        let committed =
            if auto_commit && !revoked.is_empty() { self.commit(group, consumer, false, around, out) } else { None };
        self.reassign(&parts);
        if moved && kip848 {
            self.consumer_heartbeat(now, group, consumer, around.coord, out);
        }
        let rejoin = !kip848 && !revoked.is_empty();
        Applied::Reassigned { revoked, added, committed, rejoin }
    }

    /// Takes `parts` as its assignment while keeping what it already owns: kept partitions resume
    /// from what was handed to the application (records fetched beyond are fetched again: the
    /// buffer and fetches in flight are dropped, a new epoch), new ones from their given offsets.
    fn reassign(&mut self, parts: &[(u32, Offset)]) {
        let old = std::mem::take(&mut self.partitions);
        let consumed = std::mem::take(&mut self.consumed);
        let commit_sent = std::mem::take(&mut self.commit_sent);
        self.epoch += 1;
        self.assigned = true;
        self.buffer.clear();
        self.fetching = 0;
        self.fetch_pos.clear();
        for &(p, offset) in parts {
            self.partitions.push(p);
            match old.iter().position(|&q| q == p) {
                Some(s) => {
                    self.fetch_pos.push(consumed[s]);
                    self.consumed.push(consumed[s]);
                    self.commit_sent.push(commit_sent[s]);
                }
                None => {
                    self.fetch_pos.push(offset);
                    self.consumed.push(offset);
                    self.commit_sent.push(offset);
                }
            }
        }
        let n = self.partitions.len();
        self.buffered = vec![0; n];
        self.requested = vec![NO_BROKER; n];
    }

    /// `poll()`'s membership step, after a pending assignment had its turn: a member asked to
    /// rejoin, or without an assignment and not joining, joins again; one without an assignment
    /// waits in `poll()` for it. `eager`: the classic protocol's eager assignors, whose members
    /// give up everything to rejoin and so wait too.
    pub(super) fn membership_at_poll(&mut self, now: SimTime, eager: bool) -> AtPoll {
        // For `max.poll.interval.ms`: the application polled.
        self.last_poll = now;
        if self.rejoin_pending || (!self.assigned && !self.joining) {
            let blocked = eager || !self.assigned;
            if blocked {
                self.waiting_in_poll = true;
            }
            return AtPoll::Rejoin { blocked };
        }
        if !self.assigned {
            self.waiting_in_poll = true;
            return AtPoll::Blocked;
        }
        AtPoll::Records
    }

    /// KIP-848: the coordinator's answer to a heartbeat. Fenced (its session expired), a member
    /// loses its partitions and joins again at its next `poll()`; otherwise a new assignment epoch
    /// (or the first answer to its join) is pending until then.
    pub(super) fn consumer_heartbeat_heard(
        &mut self,
        epoch: u32,
        partitions: Vec<(u32, Offset)>,
        fenced: bool,
    ) -> Answered {
        if !self.assigned && !self.joining {
            return Answered::Nothing;
        }
        if fenced {
            let lost = self.partitions.clone();
            self.revoke();
            self.pending = None;
            self.joining = false;
            self.acked_epoch = 0;
            return Answered::Lost { partitions: lost, poll_now: self.idle_in_poll() };
        }
        self.joining = false;
        if self.assigned && epoch <= self.acked_epoch {
            return Answered::Nothing;
        }
        self.pending = Some((epoch, partitions));
        Answered::Pending { poll_now: self.idle_in_poll() }
    }

    /// Blocked in `poll()` with the application idle.
    fn idle_in_poll(&self) -> bool {
        self.waiting_in_poll && !self.app.is_busy()
    }

    /// Gives up the assignment (eager rebalance): fetched records not yet handed out are dropped,
    /// and so are fetch responses still on their way (a new epoch).
    pub(super) fn revoke(&mut self) {
        self.epoch += 1;
        self.assigned = false;
        self.partitions.clear();
        self.buffered.clear();
        self.requested.clear();
        self.fetch_pos.clear();
        self.consumed.clear();
        self.commit_sent.clear();
        self.buffer.clear();
        self.fetching = 0;
        self.fetch_timeout.iter_mut().for_each(Deadline::clear);
    }
    /// Sends a fetch to each partition leader for its assigned partitions with nothing buffered
    /// (`AbstractFetch`'s fetchable partitions), unless one to that leader is already in flight.
    /// A partition without a leader waits for the next election.
    #[inline]
    pub(super) fn send_fetch(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) {
        if !self.assigned {
            return;
        }
        let mut to: u64 = 0;
        for (slot, &p) in self.partitions.iter().enumerate() {
            let asked = self.requested[slot];
            if asked != NO_BROKER && self.fetching & (1 << asked) != 0 {
                continue;
            }
            self.requested[slot] = match around.leaders[p as usize].leader {
                Some(l) if self.buffered[slot] == 0 && self.fetching & (1 << l) == 0 => {
                    to |= 1 << l;
                    l
                }
                _ => NO_BROKER,
            };
        }
        let (from, epoch) = (self.node, self.epoch);
        while to != 0 {
            let broker = to.trailing_zeros() as NodeId;
            to &= to - 1;
            // A fetch to a dead broker is refused at once (its port is closed); one lost in a cut
            // link waits for `request.timeout.ms`.
            if out.send_now(from, broker, Msg::Fetch { group, consumer, epoch }) || (around.faulty && out.is_up(broker))
            {
                self.fetching |= 1 << broker;
                if around.faulty
                    && let Some(at) = self.fetch_timeout[broker as usize].set(now.after(d::KAFKA_REQUEST_TIMEOUT))
                {
                    out.timer_at(from, at, Timer::FetchTimeout { broker });
                }
            }
        }
    }

    /// `request.timeout.ms` passed since the consumer's fetch to `broker` (lost in a cut link):
    /// it fetches again.
    #[cold]
    #[inline(never)]
    pub(super) fn fetch_timed_out(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        broker: BrokerId,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) {
        match self.fetch_timeout[broker as usize].fired(now) {
            Fired::Due => {
                if self.fetching & (1 << broker) != 0 {
                    self.fetching &= !(1 << broker);
                    self.send_fetch(now, group, consumer, around, out);
                }
            }
            Fired::Rearm(at) => out.timer_at(self.node, at, Timer::FetchTimeout { broker }),
            Fired::Nothing => {}
        }
    }

    /// A fetch response reaches the consumer (a consumer's or a share group's): one for an
    /// assignment given up since is void (false: the harness recycles it unread); otherwise the
    /// client reports each record delivered (a share record delivered before is `redelivered`)
    /// and the fetch to that broker is over.
    // The response's fields, as they arrive, and who it is for.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn fetch_arrived(
        &mut self,
        group: GroupIdx,
        consumer: u32,
        broker: NodeId,
        epoch: u32,
        records: &[Fetched],
        faulty: bool,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) -> bool {
        if self.epoch != epoch {
            return false;
        }
        for r in records {
            if r.delivery == SKIPPED {
                continue;
            }
            let redelivered = r.delivery > 1 && r.delivery != DISCARD;
            out.record(ClientEvent::Delivered { msg: r.msg, group, consumer, redelivered });
        }
        self.fetching &= !(1 << broker);
        if faulty {
            self.fetch_timeout[broker as usize].clear();
        }
        true
    }

    /// The records of a fetch response go into the fetch buffer, for `poll()` to hand out.
    #[inline(always)]
    pub(super) fn buffer(&mut self, records: &mut Vec<Fetched>) {
        for r in records.iter() {
            self.buffered[r.slot as usize] += 1;
        }
        // One at a time: a response holds a record or two, and `extend` from a drain costs more.
        for r in records.drain(..) {
            self.buffer.push_back(r);
        }
    }

    /// `poll()` of an assigned consumer, after membership had its turn: auto-commit if due
    /// (`auto_commit`: `auto.commit.interval.ms` when enabled), then hand up to
    /// `max.poll.records` buffered records to the application, pipelining the next fetch, and
    /// start on the first; with nothing buffered, block, fetch, and wake to auto-commit on time.
    /// Returns whether an auto-commit was due: `Some(sent)` (one lost at once is not in flight).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn poll_records(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        auto_commit: Option<SimDuration>,
        max_poll_records: usize,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) -> Option<bool> {
        let mut commit = None;
        if let Some(interval) = auto_commit
            && now >= self.next_auto_commit
        {
            commit = self.commit(group, consumer, false, around, out);
            self.next_auto_commit = now.after(interval);
        }
        if self.buffer.is_empty() {
            let was_waiting = self.waiting_in_poll;
            self.waiting_in_poll = true;
            // The classic consumer wakes from a blocking poll to auto-commit on time.
            if auto_commit.is_some() && !was_waiting && self.consumed != self.commit_sent {
                let due = self.next_auto_commit.max(now);
                if self.auto_commit_timer != Some(due) {
                    self.auto_commit_timer = Some(due);
                    out.timer_at(self.node, due, Timer::AutoCommitDue);
                }
            }
            self.send_fetch(now, group, consumer, around, out);
            return commit;
        }
        self.waiting_in_poll = false;
        let take = self.buffer.len().min(max_poll_records);
        for r in self.buffer.range(..take) {
            let consumed = &mut self.consumed[r.slot as usize];
            *consumed = (*consumed).max(r.offset + 1);
            self.buffered[r.slot as usize] -= 1;
        }
        // One at a time: `take` is small, and `extend` from a drain costs more.
        for _ in 0..take {
            self.app.push(self.buffer.pop_front().expect("take <= len"));
        }
        // Pipelining: fetch the partitions that have nothing buffered before processing.
        self.send_fetch(now, group, consumer, around, out);
        self.start_next(now, group, consumer, around, out);
        commit
    }

    /// The application starts on the next record it holds, if any: a marker past skipped records
    /// costs nothing, a discarded record its check, a record too old its timestamp check (and it
    /// is settled `expired` when that ends); any other is processed.
    #[inline]
    pub(super) fn start_next(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        around: Around,
        out: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        let Some(&r) = self.app.start_next() else {
            return;
        };
        self.attempt = 0;
        self.stale = false;
        let cost = match r.delivery {
            // Routing: a marker past skipped records costs nothing, a discarded record its check.
            SKIPPED => SimDuration::ZERO,
            // Decompressed in `poll()` before the application sees it, kept or discarded.
            DISCARD => d::KAFKA_CONSUMER_FILTER_CHECK + around.decompress_record,
            // The age check: the record's timestamp (CreateTime, set by the producer's `send()`)
            // against the application's clock, when it comes to the record, not when fetched.
            _ if around.max_age.is_some_and(|age| now.since(r.msg.published_at) > age) => {
                self.stale = true;
                d::KAFKA_CONSUMER_AGE_CHECK + around.decompress_record
            }
            _ => {
                out.record(ClientEvent::ProcessingStarted { msg: r.msg, group, consumer });
                around.processing.of(group, r.msg.id()) + around.decompress_record
            }
        };
        out.timer_in(self.node, cost, Timer::JobEnd);
    }

    /// A record's job is over (the group's progress is the harness's): the application starts
    /// on the next record it holds; with nothing left and `enable.auto.commit = false` it calls
    /// `commitSync` for what it consumed, and blocks until the answer if anything was sent;
    /// otherwise it polls.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn job_finished(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        auto_commit: bool,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) -> AfterJob {
        if self.app.waiting() > 0 {
            self.start_next(now, group, consumer, around, out);
            return AfterJob::Working;
        }
        if auto_commit || !self.assigned {
            return AfterJob::Poll;
        }
        match self.commit(group, consumer, true, around, out) {
            Some(sent) => {
                self.commit_sync_pending = true;
                self.commit_sync_since = now;
                AfterJob::CommitSync { sent }
            }
            None => AfterJob::Poll,
        }
    }

    /// `on_failure = "retry_in_place"`: the same record again after `backoff`. The consumer thread
    /// sleeps, so the wait counts as the job's: it blocks the consumer as processing does.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn retry_in_place(
        &mut self,
        r: Fetched,
        group: GroupIdx,
        consumer: u32,
        backoff: SimDuration,
        around: Around,
        out: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        self.attempt += 1;
        self.app.retry(r);
        out.record(ClientEvent::ProcessingStarted { msg: r.msg, group, consumer });
        let work = backoff + around.processing.of(group, r.msg.id());
        out.timer_in(self.node, work, Timer::JobEnd);
    }

    /// The blocking poll's auto-commit wakeup (`AutoCommitDue`): a consumer still blocked in
    /// `poll()` commits if the interval passed. Returns `Some(sent)` if it committed.
    pub(super) fn auto_commit_due(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        interval: SimDuration,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) -> Option<bool> {
        if self.auto_commit_timer == Some(now) {
            self.auto_commit_timer = None;
        }
        if self.waiting_in_poll && self.assigned && now >= self.next_auto_commit {
            self.next_auto_commit = now.after(interval);
            return self.commit(group, consumer, false, around, out);
        }
        None
    }

    /// Sends the consumed positions that moved since the last commit to the coordinator. `None`:
    /// nothing moved, nothing sent; otherwise whether the commit left (it is in flight until it
    /// lands or is lost on the way).
    pub(super) fn commit(
        &mut self,
        group: GroupIdx,
        consumer: u32,
        sync: bool,
        around: Around,
        out: &mut impl Sees<Msg, Timer, ClientEvent>,
    ) -> Option<bool> {
        let mut offsets = Vec::new();
        for slot in 0..self.partitions.len() {
            if self.consumed[slot] > self.commit_sent[slot] {
                self.commit_sent[slot] = self.consumed[slot];
                offsets.push((self.partitions[slot], self.consumed[slot]));
            }
        }
        if offsets.is_empty() {
            return None;
        }
        let (member, generation) = (self.member, self.generation);
        let commit = OffsetCommit { group, consumer, member, generation, offsets, sync };
        Some(out.send_now(self.node, around.coord, Msg::Commit(commit)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use crate::workload::{Message, StoredMessage};
    use crate::world::out::{Effect, Seeing};

    /// The consumer's node; brokers are 0 and 1, the coordinator 7.
    const NODE: NodeId = 9;
    const COORD: NodeId = 7;
    type World = Seeing<Msg, Timer, ClientEvent>;

    /// A consumer of group 0 (index 2), assigned partitions 0, 1 and 2 from offset 10; with two
    /// brokers and one replica each, partitions 0 and 2 lead on broker 0, partition 1 on broker 1.
    /// Its group processes a record in 5 ms.
    fn consumer() -> (Consumer, Vec<Replicas>, ProcessingTimes) {
        let toml = "duration = \"1s\"\n[workload]\nrate = 1.0\n[[groups]]\nname = \"g\"\nprocessing = \"5ms\"\n\
                    [kafka]\npartitions = 3\n";
        let s = Scenario::parse(toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
        let mut c = Consumer::new(NODE, 1, &s.kafka, 2);
        c.assign(1, &[(0, 10), (1, 10), (2, 10)]);
        (c, (0..3).map(|p| Replicas::new(p, 2, 1)).collect(), ProcessingTimes::new(&s))
    }

    /// A group with no committed offsets yet.
    static NO_COMMITS: std::sync::LazyLock<CommittedOffsets> = std::sync::LazyLock::new(|| CommittedOffsets::new(3));

    fn around<'a>(leaders: &'a [Replicas], processing: &'a ProcessingTimes, faulty: bool) -> Around<'a> {
        Around {
            leaders,
            coord: COORD,
            faulty,
            processing,
            max_age: Some(SimDuration::from_secs_f64(1.0)),
            decompress_record: SimDuration::ZERO,
            committed: &NO_COMMITS,
        }
    }

    /// The effects as short strings, in order (the buffer is emptied).
    fn seen(w: &mut World) -> Vec<String> {
        w.out
            .take_effects()
            .map(|e| match e {
                Effect::Send { from: NODE, to, msg: Msg::Fetch { group, consumer, epoch } } => {
                    format!("fetch {group}/{consumer} epoch {epoch} to {to}")
                }
                Effect::Send { from: NODE, to: COORD, msg: Msg::Commit(c) } => format!("commit {:?}", c.offsets),
                Effect::TimerAt { node: NODE, at, timer: Timer::FetchTimeout { broker } } => {
                    format!("timeout of {broker} at {} s", at.0 / 1_000_000_000)
                }
                Effect::Record(ClientEvent::Delivered { msg, redelivered, .. }) => {
                    format!("delivered {} redelivered {redelivered}", msg.id())
                }
                Effect::Record(ClientEvent::ProcessingStarted { msg, .. }) => format!("processing {}", msg.id()),
                Effect::TimerAt { node: NODE, at, timer: Timer::AutoCommitDue } => {
                    format!("auto-commit at {} s", at.0 / 1_000_000_000)
                }
                Effect::TimerIn { node: NODE, delay, timer: Timer::JobEnd } => {
                    format!("job ends in {} us", delay.0 / 1_000)
                }
                Effect::TimerIn { node: NODE, delay, timer: Timer::HeartbeatTick } => {
                    format!("tick in {} s", delay.0 / 1_000_000_000)
                }
                Effect::TimerAt { node: NODE, at, timer: Timer::HeartbeatTick } => {
                    format!("tick at {} s", at.0 / 1_000_000_000)
                }
                Effect::Send { from: NODE, to: COORD, msg: Msg::Heartbeat { member, .. } } => {
                    format!("heartbeat of {member}")
                }
                Effect::Send { from: NODE, to: COORD, msg: Msg::LeaveGroup { member, .. } } => {
                    format!("leave {member}")
                }
                Effect::Send { from: NODE, to: COORD, msg: Msg::JoinGroup { member, .. } } => format!("join {member}"),
                Effect::Send { from: NODE, to: COORD, msg: Msg::ConsumerHeartbeat { member, owned, acked, .. } } => {
                    format!("consumer heartbeat of {member} owning {owned:?} at epoch {acked}")
                }
                e => panic!("unexpected {e:?}"),
            })
            .collect()
    }

    fn record(slot: u32, offset: Offset, delivery: u8) -> Fetched {
        at(slot, offset, delivery, 0)
    }

    /// Record `offset` (its id too) of partition slot `slot`, published at `secs`.
    fn at(slot: u32, offset: Offset, delivery: u8, secs: u64) -> Fetched {
        let m = Message { id: offset, key: None, bytes: 100, published_at: SimTime(secs * 1_000_000_000) };
        Fetched { slot, offset, msg: StoredMessage::new(&m), delivery }
    }

    /// After a job: with records left the next one starts (5 ms of processing); with none and
    /// auto-commit on it polls. With auto-commit off it calls `commitSync` for what it consumed
    /// (partition 0 up to 12) and blocks since 2 s; a second job end with nothing new consumed
    /// has nothing to commit and polls, as an unassigned member does.
    #[test]
    fn after_a_job_the_next_record_starts_or_commit_sync_blocks_or_it_polls() {
        let (mut c, leaders, processing) = consumer();
        let mut w = World::default();
        let now = SimTime(2_000_000_000);
        let a = around(&leaders, &processing, false);
        c.app.extend([at(0, 11, 0, 2)]);
        assert_eq!(c.job_finished(now, 0, 2, true, a, &mut w), AfterJob::Working);
        assert_eq!(seen(&mut w), ["processing 11", "job ends in 5000 us"]);
        let _ = c.app.job_ended();
        assert_eq!(c.job_finished(now, 0, 2, true, a, &mut w), AfterJob::Poll);
        c.consumed[0] = 12;
        assert_eq!(c.job_finished(now, 0, 2, false, a, &mut w), AfterJob::CommitSync { sent: true });
        assert_eq!(seen(&mut w), ["commit [(0, 12)]"]);
        assert!(c.commit_sync_pending && c.commit_sync_since == now);
        assert_eq!(c.job_finished(now, 0, 2, false, a, &mut w), AfterJob::Poll);
        c.consumed[1] = 20;
        c.assigned = false;
        assert_eq!(c.job_finished(now, 0, 2, false, a, &mut w), AfterJob::Poll);
        assert!(seen(&mut w).is_empty());
    }

    /// `retry_in_place` with a 100 ms back-off: the same record is the job again, its second
    /// attempt, and the job ends after the back-off plus its 5 ms of processing.
    #[test]
    fn a_retry_in_place_sleeps_the_back_off_then_processes_again() {
        let (mut c, leaders, processing) = consumer();
        let mut w = World::default();
        let r = record(1, 10, 0);
        c.retry_in_place(r, 0, 2, SimDuration::from_millis(100), around(&leaders, &processing, false), &mut w);
        assert_eq!(seen(&mut w), ["processing 10", "job ends in 105000 us"]);
        assert_eq!((c.attempt, c.app.busy().map(|f| f.offset)), (1, Some(10)));
    }

    /// One fetch per leader for the partitions with nothing buffered, and none to a leader that
    /// already has one in flight: partition 1 has a record buffered, so broker 1 is not asked.
    #[test]
    fn one_fetch_per_leader_for_the_partitions_with_nothing_buffered() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        c.buffered[1] = 1;
        c.send_fetch(SimTime::ZERO, 0, 2, around(&leaders, &work, false), &mut w);
        assert_eq!(seen(&mut w), ["fetch 0/2 epoch 1 to 0"]);
        assert_eq!(c.requested, [0, NO_BROKER, 0]);
        assert_eq!(c.fetching, 0b01);
        c.buffered[1] = 0;
        c.send_fetch(SimTime::ZERO, 0, 2, around(&leaders, &work, false), &mut w);
        assert_eq!(seen(&mut w), ["fetch 0/2 epoch 1 to 1"], "broker 0's fetch is still out");
        assert_eq!(c.fetching, 0b11);
    }

    /// A fetch to a dead broker is refused at once: nothing is in flight, so the next poll asks
    /// again. With faults, a fetch that left is watched for `request.timeout.ms` (30 s); when it
    /// passes, the consumer fetches again and watches the new one.
    #[test]
    fn a_dead_broker_refuses_at_once_and_a_lost_fetch_times_out() {
        let (mut c, leaders, work) = consumer();
        let mut w = World { down: vec![1], ..World::default() };
        c.send_fetch(SimTime::ZERO, 0, 2, around(&leaders, &work, true), &mut w);
        assert_eq!(seen(&mut w), ["fetch 0/2 epoch 1 to 0", "timeout of 0 at 30 s"]);
        assert_eq!(c.fetching, 0b01, "broker 1 is down: no fetch in flight to it");
        // Broker 0's answer was lost on a cut link: at 30 s the consumer asks again.
        w.down.clear();
        c.fetch_timed_out(SimTime(30_000_000_000), 0, 2, 0, around(&leaders, &work, true), &mut w);
        assert_eq!(
            seen(&mut w),
            ["fetch 0/2 epoch 1 to 0", "timeout of 0 at 60 s", "fetch 0/2 epoch 1 to 1", "timeout of 1 at 60 s"],
            "each fetch is watched as it leaves"
        );
    }

    /// A response for an assignment given up since is void: nothing delivered, the fetch still
    /// counts as out. A current one reports each record delivered (a skipped-topic marker is
    /// not a record; a share record on its second delivery is redelivered), ends the fetch to
    /// that broker, and fills the buffer per partition.
    #[test]
    fn a_void_response_delivers_nothing_and_a_current_one_fills_the_buffer() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        c.send_fetch(SimTime::ZERO, 0, 2, around(&leaders, &work, false), &mut w);
        w.out.clear();
        let mut records = vec![record(0, 10, 0), record(0, 11, SKIPPED), record(2, 10, 2), record(2, 11, DISCARD)];
        assert!(!c.fetch_arrived(0, 2, 0, 0, &records, false, &mut w));
        assert!(seen(&mut w).is_empty());
        assert_eq!(c.fetching, 0b11);
        assert!(c.fetch_arrived(0, 2, 0, 1, &records, false, &mut w));
        assert_eq!(
            seen(&mut w),
            ["delivered 10 redelivered false", "delivered 10 redelivered true", "delivered 11 redelivered false"]
        );
        assert_eq!(c.fetching, 0b10, "broker 1's fetch is still out");
        c.buffer(&mut records);
        assert!(records.is_empty());
        assert_eq!(c.buffered, [2, 0, 2]);
        assert_eq!(
            c.buffer.iter().map(|r| (r.slot, r.offset)).collect::<Vec<_>>(),
            [(0, 10), (0, 11), (2, 10), (2, 11)]
        );
    }

    /// A commit carries only the positions that moved since the last one; with nothing moved
    /// nothing is sent; a commit to a dead coordinator is lost at once.
    #[test]
    fn a_commit_carries_only_what_moved() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        c.consumed[1] = 15;
        assert_eq!(c.commit(0, 2, false, around(&leaders, &work, false), &mut w), Some(true));
        assert_eq!(seen(&mut w), ["commit [(1, 15)]"]);
        assert_eq!(c.commit(0, 2, false, around(&leaders, &work, false), &mut w), None);
        assert!(seen(&mut w).is_empty());
        c.consumed[0] = 12;
        c.consumed[1] = 16;
        w.down.push(COORD);
        assert_eq!(c.commit(0, 2, true, around(&leaders, &work, false), &mut w), Some(false));
        assert_eq!(c.commit_sent, [12, 16, 10], "what was sent counts as sent, lost or not");
    }

    /// `max.poll.records` 2 of 3 buffered records: the two go to the application, their
    /// positions count as consumed, the partition with nothing left buffered (partition 0) is
    /// fetched again before processing, and the first record starts (5 ms). The next poll hands
    /// the third; a poll with nothing buffered blocks and, with auto-commit, wakes when it is due.
    #[test]
    fn poll_hands_at_most_max_poll_records_and_fetches_before_processing() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        // No `max_age` here: every record is processed.
        let around = |faulty| Around { max_age: None, ..around(&leaders, &work, faulty) };
        let mut records = vec![record(0, 10, 0), record(1, 10, 0), record(1, 11, 0)];
        c.buffer(&mut records);
        let auto = Some(SimDuration::from_secs_f64(5.0));
        c.next_auto_commit = SimTime(5_000_000_000);
        assert_eq!(c.poll_records(SimTime(1_000_000_000), 0, 2, auto, 2, around(false), &mut w), None);
        assert_eq!(seen(&mut w), ["fetch 0/2 epoch 1 to 0", "processing 10", "job ends in 5000 us"]);
        assert_eq!((c.consumed.as_slice(), c.buffered.as_slice()), ([11, 11, 10].as_slice(), [0, 1, 0].as_slice()));
        assert_eq!(c.app.waiting(), 1, "the second record waits its turn");
        // The application is done with both: the next poll hands the third record.
        c.app = ConsumerApp::default();
        c.poll_records(SimTime(2_000_000_000), 0, 2, auto, 2, around(false), &mut w);
        assert_eq!(seen(&mut w), ["fetch 0/2 epoch 1 to 1", "processing 11", "job ends in 5000 us"]);
        assert!(!c.waiting_in_poll);
        // Nothing buffered: it blocks, with consumed positions to commit at 5 s.
        c.app = ConsumerApp::default();
        c.fetching = 0;
        c.poll_records(SimTime(3_000_000_000), 0, 2, auto, 2, around(false), &mut w);
        assert_eq!(seen(&mut w), ["auto-commit at 5 s", "fetch 0/2 epoch 1 to 0", "fetch 0/2 epoch 1 to 1"]);
        assert!(c.waiting_in_poll);
        // At 5 s, still blocked, it wakes and commits the three positions that moved; the
        // interval starts again.
        let five = SimDuration::from_secs_f64(5.0);
        assert_eq!(c.auto_commit_due(SimTime(5_000_000_000), 0, 2, five, around(false), &mut w), Some(true));
        assert_eq!(seen(&mut w), ["commit [(0, 11), (1, 12)]"]);
        assert_eq!((c.next_auto_commit, c.auto_commit_timer), (SimTime(10_000_000_000), None));
        assert_eq!(c.auto_commit_due(SimTime(6_000_000_000), 0, 2, five, around(false), &mut w), None, "not due");
        // A poll at 10 s commits first; both fetches are still out, so it only blocks on.
        c.consumed[2] = 11;
        assert_eq!(c.poll_records(SimTime(10_000_000_000), 0, 2, auto, 2, around(false), &mut w), Some(true));
        assert_eq!(seen(&mut w), ["commit [(2, 11)]"]);
    }

    /// What the application spends on a record as it comes to it: a skipped-topic marker
    /// nothing, a discarded record its filter check, one older than `max_age` (1 s) its age
    /// check (and it is marked stale), any other its processing time, reported as started.
    #[test]
    fn the_application_pays_per_record_what_it_does_with_it() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        for r in [record(0, 10, SKIPPED), record(0, 11, DISCARD), at(0, 12, 0, 1), at(0, 13, 0, 3)] {
            c.app.push(r);
        }
        let mut costs = Vec::new();
        for _ in 0..4 {
            c.start_next(SimTime(3_000_000_000), 0, 2, around(&leaders, &work, false), &mut w);
            costs.push((seen(&mut w), c.stale));
            c.app.job_ended();
        }
        let job = |d: SimDuration| format!("job ends in {} us", d.0 / 1_000);
        assert_eq!(
            costs,
            [
                (vec![job(SimDuration::ZERO)], false),
                (vec![job(d::KAFKA_CONSUMER_FILTER_CHECK)], false),
                (vec![job(d::KAFKA_CONSUMER_AGE_CHECK)], true),
                (vec!["processing 13".to_string(), "job ends in 5000 us".to_string()], false),
            ]
        );
    }

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn the_heartbeat_thread_heartbeats_rearms_early_ticks_and_leaves_after_max_poll_interval() {
        let (mut c, _, _) = consumer();
        let mut w = World::default();
        // 3 s, classic: due (0), so the next tick is 3 s on and a Heartbeat goes out (last poll
        // at 0, well within `max.poll.interval.ms`).
        let tick = c.heartbeat_tick(SimTime(3 * SEC), 0, 2, COORD, Protocol::Classic, 5, &mut w);
        assert_eq!(tick, Tick::Quiet);
        assert_eq!(seen(&mut w), ["tick in 3 s", "heartbeat of 1"]);
        // 4 s: an early tick (the interval runs to 6 s) only re-arms for 6 s.
        c.heartbeat_tick(SimTime(4 * SEC), 0, 2, COORD, Protocol::Classic, 5, &mut w);
        assert_eq!(seen(&mut w), ["tick at 6 s"]);
        // 301 s: the application has not polled for more than 300 s and is not blocked in poll():
        // the member leaves, gives up its partitions and takes the fresh member id 5.
        let tick = c.heartbeat_tick(SimTime(301 * SEC), 0, 2, COORD, Protocol::Classic, 5, &mut w);
        assert_eq!(tick, Tick::Left);
        assert_eq!(seen(&mut w), ["tick in 3 s", "leave 1"]);
        assert_eq!((c.member, c.assigned, c.partitions.len()), (5, false, 0));
        // The classic thread heartbeats as member 5 all the same (the coordinator will answer
        // "unknown", and it rejoins).
        c.heartbeat_tick(SimTime(304 * SEC), 0, 2, COORD, Protocol::Classic, 6, &mut w);
        assert_eq!(seen(&mut w), ["tick in 3 s", "heartbeat of 5"]);
    }

    #[test]
    fn kip848_heartbeats_carry_the_owned_partitions_and_a_lost_commit_sync_times_out() {
        let (mut c, _, _) = consumer();
        let mut w = World::default();
        c.acked_epoch = 4;
        // Blocked in poll() for 400 s: no poll timeout. A KIP-848 heartbeat every 5 s, with the
        // partitions owned and the epoch applied.
        c.waiting_in_poll = true;
        c.heartbeat_tick(SimTime(400 * SEC), 0, 2, COORD, Protocol::Consumer, 5, &mut w);
        assert_eq!(seen(&mut w), ["tick in 5 s", "consumer heartbeat of 1 owning [0, 1, 2] at epoch 4"]);
        // A commitSync sent at 410 s has no answer by 440 s (`request.timeout.ms`, 30 s): it fails
        // and the harness polls; no heartbeat this time.
        c.waiting_in_poll = false;
        c.commit_sync_pending = true;
        c.commit_sync_since = SimTime(410 * SEC);
        let tick = c.heartbeat_tick(SimTime(439 * SEC), 0, 2, COORD, Protocol::Consumer, 5, &mut w);
        assert_eq!((tick, seen(&mut w).len()), (Tick::Quiet, 2), "29 s: it still waits");
        let tick = c.heartbeat_tick(SimTime(444 * SEC), 0, 2, COORD, Protocol::Consumer, 5, &mut w);
        assert_eq!(tick, Tick::CommitSyncTimedOut);
        assert_eq!(seen(&mut w), ["tick in 5 s"]);
        assert!(!c.commit_sync_pending);
        // A member with no assignment that is not joining sends nothing.
        c.revoke();
        c.last_poll = SimTime(444 * SEC);
        c.heartbeat_tick(SimTime(449 * SEC), 0, 2, COORD, Protocol::Consumer, 5, &mut w);
        assert_eq!(seen(&mut w), ["tick in 5 s"]);
        // It joins: a heartbeat at epoch 0 owning nothing, at once, and the interval restarts.
        c.join_consumer_group(SimTime(450 * SEC), 0, 2, COORD, &mut w);
        assert_eq!(seen(&mut w), ["consumer heartbeat of 1 owning [] at epoch 0"]);
        assert_eq!((c.joining, c.heartbeat_due), (true, SimTime(455 * SEC)));
    }

    #[test]
    fn a_classic_member_rejoins_on_a_rebalance_and_joins_again_when_its_join_is_lost() {
        let (mut c, _, _) = consumer();
        let mut w = World::default();
        // A stable member hears "rebalance": it rejoins at its next poll(), at once if blocked in one.
        assert_eq!(c.heartbeat_heard(SimTime(SEC), true, false), Heard::RejoinAtPoll { now: false });
        assert!(c.rejoin_pending);
        c.waiting_in_poll = true;
        assert_eq!(c.heartbeat_heard(SimTime(SEC), true, false), Heard::RejoinAtPoll { now: true });
        // It joins eagerly at 2 s: every partition given up, JoinGroup sent.
        c.join_group(SimTime(2 * SEC), 0, 2, COORD, true, &mut w);
        assert_eq!(seen(&mut w), ["join 1"]);
        assert_eq!((c.assigned, c.joining, c.rejoin_pending), (false, true, false));
        // While joining, a "rebalance" answer means nothing new; a stable group's answer before
        // 30 s neither; at 32 s (30 s after its JoinGroup) the join timed out: join again.
        assert_eq!(c.heartbeat_heard(SimTime(5 * SEC), true, false), Heard::Nothing);
        assert_eq!(c.heartbeat_heard(SimTime(31 * SEC), false, false), Heard::Nothing);
        assert_eq!(c.heartbeat_heard(SimTime(32 * SEC), false, false), Heard::JoinAgain);
    }

    /// Cooperative-sticky, auto-commit on. The member owns 0, 1 and 2 (generation 1) and consumed
    /// up to 12, 15 and 12; it sent commits up to 12, 10 and 12, and the coordinator holds 12, 10
    /// and 10: its commit of 12 on partition 2 was refused while the group moved on. Generation 2
    /// keeps 1 and adds 3 (from 40). Not while the application still holds a record; then it
    /// gives up 0 and 2, and commits first what moved since its last accepted commits: 15 on 1 and
    /// 12 on 2 (sent again), not 0 (12 is committed). Kept partition 1 resumes from 15 (what the
    /// application was handed), not from the 99 the assignment names; 3 starts at 40. Having given
    /// something up, it must rejoin.
    #[test]
    fn a_cooperative_member_commits_what_it_gives_up_keeps_its_positions_and_rejoins() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        c.consumed = vec![12, 15, 12];
        c.commit_sent = vec![12, 10, 12];
        let mut committed = CommittedOffsets::new(3);
        for (p, o) in [(0, 12), (1, 10), (2, 10)] {
            committed.commit(p, o);
        }
        let around = Around { committed: &committed, ..around(&leaders, &work, false) };
        c.pending = Some((2, vec![(1, 99), (3, 40)]));
        c.app.push(record(0, 11, 0));
        let applied = c.apply_pending(SimTime(SEC), 0, 2, Protocol::Classic, 7, true, around, &mut w);
        assert_eq!(applied, Applied::Nothing, "the application still holds a record");
        assert!(c.pending.is_some() && seen(&mut w).is_empty());
        c.app = ConsumerApp::default();
        let applied = c.apply_pending(SimTime(SEC), 0, 2, Protocol::Classic, 7, true, around, &mut w);
        let expected = Applied::Reassigned { revoked: vec![0, 2], added: vec![3], committed: Some(true), rejoin: true };
        assert_eq!(applied, expected);
        assert_eq!(seen(&mut w), ["commit [(1, 15), (2, 12)]"]);
        assert_eq!(c.partitions, [1, 3]);
        assert_eq!((c.fetch_pos.as_slice(), c.consumed.as_slice()), ([15, 40].as_slice(), [15, 40].as_slice()));
        assert_eq!(c.commit_sent, [15, 40]);
        assert_eq!((c.generation, c.epoch, c.pending.is_none()), (2, 2, true), "a new epoch voids fetches in flight");
    }

    /// KIP-848, auto-commit on; the group is at generation 9 at the coordinator. Epoch 5 names the
    /// partitions it owns: it acknowledges epoch 5 and takes generation 9, and nothing moves (no
    /// heartbeat). Epoch 6 adds 3 (from 40) and revokes nothing: no commit although partition 0
    /// moved to 13 (only revoked partitions are committed here), and a heartbeat at once reporting
    /// [0, 1, 2, 3] at epoch 6, which restarts the 5 s interval (due at 6 s). A first assignment
    /// with no partitions still counts as taken (the harness recounts), with nothing sent.
    #[test]
    fn a_kip848_member_acknowledges_its_epoch_and_heartbeats_when_partitions_move() {
        let (mut c, leaders, work) = consumer();
        let mut w = World::default();
        let around = around(&leaders, &work, false);
        c.pending = Some((5, vec![(0, 10), (1, 10), (2, 10)]));
        let applied = c.apply_pending(SimTime(SEC), 0, 2, Protocol::Consumer, 9, true, around, &mut w);
        assert_eq!(applied, Applied::Nothing);
        assert_eq!((c.acked_epoch, c.generation, c.epoch), (5, 9, 1), "same partitions: the fetches stand");
        assert!(seen(&mut w).is_empty());
        c.consumed[0] = 13;
        c.pending = Some((6, vec![(0, 0), (1, 0), (2, 0), (3, 40)]));
        let applied = c.apply_pending(SimTime(SEC), 0, 2, Protocol::Consumer, 9, true, around, &mut w);
        let expected = Applied::Reassigned { revoked: vec![], added: vec![3], committed: None, rejoin: false };
        assert_eq!(applied, expected);
        assert_eq!(seen(&mut w), ["consumer heartbeat of 1 owning [0, 1, 2, 3] at epoch 6"]);
        assert_eq!((c.acked_epoch, c.heartbeat_due), (6, SimTime(6 * SEC)));
        assert_eq!(c.fetch_pos, [13, 10, 10, 40]);
        c.revoke();
        c.pending = Some((7, vec![]));
        let applied = c.apply_pending(SimTime(SEC), 0, 2, Protocol::Consumer, 9, true, around, &mut w);
        let expected = Applied::Reassigned { revoked: vec![], added: vec![], committed: None, rejoin: false };
        assert_eq!(applied, expected);
        assert!(c.assigned && seen(&mut w).is_empty());
    }

    /// KIP-848 answers. Owning 0, 1 and 2 having acknowledged nothing (epoch 0), epoch 3 is new:
    /// pending, not at once (it is not blocked in poll()). With epoch 3 applied, epoch 3 again is
    /// nothing. Fenced while blocked in an idle poll(): it loses 0, 1 and 2, forgets what was
    /// pending, and polls at once (to join again). Not a member and not joining, an answer means
    /// nothing; joining, the first answer is pending, at once unless the application is busy.
    #[test]
    fn a_kip848_answer_is_pending_until_poll_and_a_fenced_member_loses_its_partitions() {
        let (mut c, _, _) = consumer();
        assert_eq!(c.consumer_heartbeat_heard(3, vec![(0, 10)], false), Answered::Pending { poll_now: false });
        assert_eq!(c.pending, Some((3, vec![(0, 10)])));
        c.pending = None;
        c.acked_epoch = 3;
        assert_eq!(c.consumer_heartbeat_heard(3, vec![(0, 10)], false), Answered::Nothing);
        assert_eq!(c.pending, None);
        c.pending = Some((4, vec![(1, 10)]));
        c.waiting_in_poll = true;
        let answer = c.consumer_heartbeat_heard(0, vec![], true);
        assert_eq!(answer, Answered::Lost { partitions: vec![0, 1, 2], poll_now: true });
        assert_eq!((c.assigned, c.pending.is_none(), c.acked_epoch, c.epoch), (false, true, 0, 2));
        assert_eq!(c.consumer_heartbeat_heard(1, vec![(2, 30)], false), Answered::Nothing);
        assert_eq!(c.pending, None);
        c.joining = true;
        c.app.push(record(0, 10, 0));
        c.app.start_next();
        assert_eq!(c.consumer_heartbeat_heard(1, vec![(2, 30)], false), Answered::Pending { poll_now: false });
        assert_eq!((c.joining, c.pending.clone()), (false, Some((1, vec![(2, 30)]))));
    }

    /// `poll()`'s membership: an assigned member not asked to rejoin hands out records (and the
    /// poll counts for `max.poll.interval.ms`). Asked to rejoin, a cooperative member goes on
    /// processing; an eager one waits in poll(). One with no assignment and no join under way
    /// joins and waits, cooperative or not; one whose join is under way only waits.
    #[test]
    fn poll_rejoins_when_asked_and_waits_without_an_assignment() {
        let (mut c, _, _) = consumer();
        assert_eq!(c.membership_at_poll(SimTime(7 * SEC), false), AtPoll::Records);
        assert_eq!(c.last_poll, SimTime(7 * SEC));
        c.rejoin_pending = true;
        assert_eq!(c.membership_at_poll(SimTime(8 * SEC), false), AtPoll::Rejoin { blocked: false });
        assert!(!c.waiting_in_poll);
        assert_eq!(c.membership_at_poll(SimTime(8 * SEC), true), AtPoll::Rejoin { blocked: true });
        assert!(c.waiting_in_poll);
        c.revoke();
        c.rejoin_pending = false;
        c.waiting_in_poll = false;
        assert_eq!(c.membership_at_poll(SimTime(9 * SEC), false), AtPoll::Rejoin { blocked: true });
        assert!(c.waiting_in_poll);
        c.joining = true;
        c.waiting_in_poll = false;
        assert_eq!(c.membership_at_poll(SimTime(9 * SEC), false), AtPoll::Blocked);
        assert!(c.waiting_in_poll);
    }
}
