//! The brokers: a leader appends produce requests and answers them per `acks` (holding
//! `acks = all` requests in the delayed-produce purgatory until the high watermark passes them);
//! followers fetch from leaders; leaders shrink and expand the ISR; broker crashes and restarts,
//! with the controller's fencing and elections and the truncation they imply.
//!
//! Kafka sources followed: `ReplicaManager.appendRecords` / `DelayedProduce` /
//! `Partition.appendRecordsToLeader` (the `min.insync.replicas` check before appending,
//! `checkEnoughReplicasReachOffset` after), `Partition.maybeShrinkIsr` / `maybeExpandIsr`,
//! `ReplicaFetcherThread`, and the idempotent producer's duplicate and sequence checks
//! (`ProducerStateManager`).

use super::controller::Elected;
use super::leader::{self, Admission, LogRules, ProduceRules, Reply};
use super::producer::ProducerBatch;
use super::purgatory::{Delayed, Purgatory};
use super::replication::{self, Replication};
use super::zombie::ZombieRules;
use super::*;
use crate::scenario::Acks;

impl<H: History> KafkaModel<'_, H> {
    /// The log cleaner (`cleanup.policy` compact): every `log.cleaner.backoff.ms` it cleans each
    /// partition whose dirty ratio exceeds `min.cleanable.dirty.ratio`, up to the active segment
    /// and the high watermark. Cleaning takes no simulated time. A removed record is reported
    /// deleted for every group, as retention does (see the README on how it is counted).
    pub(super) fn log_cleaner(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let mut freed = 0;
        for (p, log) in self.partitions.iter_mut().enumerate() {
            let history = &mut *self.history;
            let hw = self.repl[p].hw;
            freed += log
                .clean(hw, self.cfg.min_cleanable_dirty_ratio, self.cfg.segment_bytes, |r| {
                    history.record(now, Observation::Deleted { id: r.id(), group: None });
                })
                .bytes;
        }
        if freed > 0 {
            self.obs(now, Observation::StorageChanged { delta: -(freed as i64) });
        }
        self.world.timer_in(sched, self.coord, self.cfg.cleaner_backoff, Timer::LogCleaner);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn start_replication(&mut self, sched: &mut Scheduler<Event>) {
        if !self.replicated {
            return;
        }
        for b in 0..self.brokers as NodeId {
            self.world.timer_in(sched, b, d::KAFKA_ISR_EXPIRATION_INTERVAL, Timer::IsrCheck);
        }
        self.ensure_fetchers(sched);
    }

    /// Every broker starts its heartbeats to the controller (registered at time 0).
    #[cold]
    #[inline(never)]
    pub(super) fn start_broker_heartbeats(&mut self, sched: &mut Scheduler<Event>) {
        for b in 0..self.brokers as BrokerId {
            self.broker_heartbeat_tick(b, sched);
        }
    }

    // ---- produce ----

    /// The leader handles a produce request: per batch, `NOT_LEADER_OR_FOLLOWER` if it does not
    /// lead the partition; with `acks = all`, `NOT_ENOUGH_REPLICAS` if the ISR is below
    /// `min.insync.replicas` (nothing appended); with idempotence, a batch already in the log is a
    /// duplicate (answered as a success, not appended again) and one whose predecessor is missing
    /// is `OUT_OF_ORDER_SEQUENCE_NUMBER`. Then it answers at once (`acks = 1`), never (`acks = 0`),
    /// or once the HW passes every batch (`acks = all`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn produce_arrives(
        &mut self,
        now: SimTime,
        broker: NodeId,
        k: usize,
        mut batches: Vec<ProducerBatch>,
        producer: u32,
        req: u64,
        sched: &mut Scheduler<Event>,
    ) {
        let acks = self.cfg.acks;
        let rules = ProduceRules { acks, min_insync_replicas: self.cfg.min_insync_replicas, sequences: self.sequences };
        let parts = self.cfg.partitions as usize;
        let mut waiting = false;
        for b in batches.iter_mut() {
            let p = b.partition as usize;
            b.need = 0;
            let view = self.view[broker as usize * parts + p];
            let tail = || self.producer_tail(k, &self.partitions[p], Offset::MAX);
            match leader::admit(broker, view, &self.repl[p], rules, b, tail) {
                Admission::Refused(error) => {
                    b.error = error;
                    continue;
                }
                Admission::Zombie => {
                    waiting |= self.zombie_append(now, broker, k, b);
                    continue;
                }
                Admission::Duplicate => b.need = self.partitions[p].end_offset(),
                Admission::Append => {
                    self.append(now, b.partition, &b.records, &b.keys, sched);
                    b.need = self.partitions[p].end_offset();
                }
            }
            if acks == Acks::All {
                if self.repl[p].hw >= b.need {
                    b.need = 0;
                } else {
                    waiting = true;
                }
            }
        }
        let reply = leader::reply(acks, &batches, waiting);
        match reply {
            Reply::Silent | Reply::CloseConnection => {
                // No response is expected; on an error the broker closes the connection instead.
                for b in batches.drain(..) {
                    self.producers[k].accumulator.recycle(b.records);
                }
                self.producers[k].pool.push(batches);
                if reply == Reply::CloseConnection {
                    self.world.send(sched, broker, self.producers[k].node, Msg::ConnectionClosed);
                }
            }
            Reply::Respond => self.respond_produce(broker, k, batches, producer, req, sched),
            Reply::Park => {
                let deadline = now.after(d::KAFKA_REQUEST_TIMEOUT);
                let (purgatory, mut out) = self.purgatory_parts(sched);
                purgatory.park(broker, Delayed { client: k, batches, producer, req, deadline }, &mut out);
            }
        }
    }

    /// [`producer_tail`] of producer `k` among this model's producers.
    fn producer_tail(&self, k: usize, log: &Partition, end: Offset) -> u64 {
        producer_tail(self.producers.len(), k, log, end)
    }

    /// Sends a produce response; one lost at once (a cut link) leaves its batches with the
    /// producer, which retries them when the request times out.
    fn respond_produce(
        &mut self,
        broker: BrokerId,
        k: usize,
        batches: Vec<ProducerBatch>,
        producer: u32,
        req: u64,
        sched: &mut Scheduler<Event>,
    ) {
        if let Err(Msg::ProduceResponse { batches, req }) =
            self.world.try_send(sched, broker, self.producers[k].node, Msg::ProduceResponse { batches, req })
        {
            let now = sched.now();
            let (pc, mut out) = self.producer_parts(k, sched);
            pc.orphan(now, broker, producer, req, batches, &mut out);
        }
    }

    /// A zombie leader (its metadata says it leads, the controller has moved on) appends a batch
    /// to its own tail ([`ZombieTails::append`]). Returns whether the batch waits.
    #[cold]
    #[inline(never)]
    fn zombie_append(&mut self, now: SimTime, broker: BrokerId, k: usize, b: &mut ProducerBatch) -> bool {
        let p = b.partition as usize;
        let rules = ZombieRules { sequences: self.sequences, acks_all: self.cfg.acks == Acks::All, steps: H::STEPS };
        let r = &self.repl[p];
        let groups = &self.groups;
        let start =
            || (r.index_of(broker).map_or(r.hw, |i| r.leo[i]), groups.iter().map(|g| g.progress.frontier(p)).collect());
        let n = self.producers.len();
        let mine = |id| crate::workload::producer_for(id, n) == k;
        let log = &self.partitions[p];
        let log_next = |base| producer_tail(n, k, log, base);
        let history = &mut *self.history;
        self.tails.append(broker, b, rules, start, mine, log_next, |o| history.record(now, o))
    }

    /// Broker `b` learned that it no longer leads partition `p` (at the epoch it knew): it
    /// truncates what it holds beyond the new leader's log (what it acknowledged as a zombie is
    /// gone) and answers its delayed produces for `p` with `NOT_LEADER_OR_FOLLOWER`.
    #[cold]
    #[inline(never)]
    fn resign(&mut self, now: SimTime, b: BrokerId, p: u32, sched: &mut Scheduler<Event>) {
        let history = &mut *self.history;
        self.tails.resign(b, p, |o| history.record(now, o));
        if !self.purgatory.is_empty(b) {
            self.complete_delayed(now, b, sched);
        }
    }

    /// The leader appends records to its log.
    fn append(
        &mut self,
        now: SimTime,
        partition: u32,
        records: &[StoredMessage],
        keys: &[u64],
        sched: &mut Scheduler<Event>,
    ) {
        let n = records.len() as u64;
        let p = partition as usize;
        let leader = self.repl[p].leader.unwrap_or(NO_BROKER);
        let log = &mut self.partitions[p];
        let rules = LogRules {
            compacts: self.cfg.cleanup_policy.compacts(),
            segment_bytes: self.cfg.segment_bytes,
            segment_ms: self.cfg.segment_ms,
        };
        let history = &mut *self.history;
        let bytes =
            leader::write(log, now, records, keys, rules, partition, leader, H::STEPS, |o| history.record(now, o));
        let end = log.end_offset();
        self.obs(now, Observation::StorageChanged { delta: bytes as i64 });
        self.end_offsets_sum += n;
        for g in &mut self.groups {
            g.progress.appended(n);
        }
        let r = &mut self.repl[p];
        if !self.replicated {
            // One replica: the leader is the ISR; committed at once.
            r.leo[0] = end;
            r.hw = end;
            self.hw_advanced(now, p, sched);
            return;
        }
        let leader = r.leader.expect("only a leader appends");
        let li = r.index_of(leader).expect("the leader is a replica");
        r.leo[li] = end;
        if r.leader_alone() {
            // Committed at once: the ISR is the leader alone (always so with one replica).
            r.hw = end;
            self.hw_advanced(now, p, sched);
        } else {
            for g in 0..self.groups.len() {
                self.report_lag(now, g);
            }
            self.wake_followers(p, sched);
        }
    }

    /// The HW of partition `p` moved: consumers' parked fetches may be answered, and delayed
    /// produces completed.
    #[inline(always)]
    fn hw_advanced(&mut self, now: SimTime, p: usize, sched: &mut Scheduler<Event>) {
        let Some(leader) = self.repl[p].leader else { return };
        if H::STEPS {
            let step = Step::HighWatermark { partition: p as u32, hw: self.repl[p].hw };
            self.history.record(now, Observation::Step(step));
        }
        for g in 0..self.groups.len() {
            if self.is_share(g) {
                self.share_wake(now, g, p, leader as NodeId, sched);
                self.share_report_lag(now, g);
                continue;
            }
            // A parked fetch answered now reports the new lag itself.
            let answered = match self.groups[g].owner[p] {
                Some(c) => {
                    let epoch = self.groups[g].consumers[c as usize].epoch;
                    self.delayed_fetches.is_parked(leader, g, c, epoch)
                        && self.try_respond(now, g, c, leader, false, sched)
                }
                None => false,
            };
            if !answered {
                self.report_lag(now, g);
            }
        }
        // Only a replicated partition ever holds a delayed produce (with one replica the HW is
        // the LEO at once).
        if self.replicated && !self.purgatory.is_empty(leader) {
            self.complete_delayed(now, leader, sched);
        }
    }

    /// The purgatory (`purgatory.rs`) and where its timers go: through the world as they are set.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn purgatory_parts<'a>(
        &'a mut self,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut Purgatory, Direct<'a, Event, impl FnMut(Handed<Msg, ()>) + 'a>) {
        (&mut self.purgatory, Direct::new(&mut self.world, sched, |_| {}))
    }

    /// `DelayedProduce.tryComplete` on leader `l` ([`Purgatory::complete`], by `l`'s own
    /// metadata): the requests done are answered in order, then the timer follows the oldest
    /// still waiting.
    #[cold]
    #[inline(never)]
    fn complete_delayed(&mut self, _now: SimTime, l: BrokerId, sched: &mut Scheduler<Event>) {
        let parts = self.cfg.partitions as usize;
        let view = &self.view[l as usize * parts..(l as usize + 1) * parts];
        let mut done = self.purgatory.take_done();
        let leads = |p: u32| view[p as usize].0 == Some(l);
        self.purgatory.complete(l, &self.repl, leads, self.cfg.min_insync_replicas, &mut done);
        self.answer_delayed(l, done, sched);
    }

    /// Answers the delayed produces `done` (a response lost at once goes back to its producer
    /// client), then re-arms the purgatory's timer.
    fn answer_delayed(&mut self, l: BrokerId, mut done: Vec<Delayed>, sched: &mut Scheduler<Event>) {
        for e in done.drain(..) {
            self.respond_produce(l, e.client, e.batches, e.producer, e.req, sched);
        }
        self.purgatory.recycle(done);
        let (purgatory, mut out) = self.purgatory_parts(sched);
        purgatory.rearm(l, &mut out);
    }

    /// The oldest delayed produce reached the request's timeout: its waiting batches get
    /// `REQUEST_TIMED_OUT` ([`Purgatory::expired`]).
    #[cold]
    #[inline(never)]
    pub(super) fn purgatory_expired(&mut self, now: SimTime, l: NodeId, sched: &mut Scheduler<Event>) {
        let mut done = self.purgatory.take_done();
        let due = {
            let (purgatory, mut out) = self.purgatory_parts(sched);
            purgatory.expired(now, l, &mut done, &mut out)
        };
        if due {
            self.answer_delayed(l, done, sched);
        } else {
            self.purgatory.recycle(done);
        }
    }

    // ---- followers (the node kind in `replication.rs`) ----

    /// The replication's handlers, what they read, and where their effects go: through the world
    /// as they are issued (a fetch to a dead leader is refused at once), their steps to the
    /// history when it wants them.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn replication_parts<'a>(
        &'a mut self,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut Replication, replication::Around<'a>, Direct<'a, Event, impl FnMut(Handed<Msg, Step>) + 'a>) {
        let now = sched.now();
        let history = &mut *self.history;
        let out = Direct::new(
            &mut self.world,
            sched,
            #[inline(always)]
            move |h| {
                if H::STEPS
                    && let Handed::Record(step) = h
                {
                    history.record(now, Observation::Step(step));
                }
            },
        );
        let around =
            replication::Around { repl: &mut self.repl, partitions: &self.partitions, costs: self.costs.as_ref() };
        (&mut self.replication, around, out)
    }

    /// Every live broker fetches from each broker that leads a partition it follows.
    #[cold]
    #[inline(never)]
    pub(super) fn ensure_fetchers(&mut self, sched: &mut Scheduler<Event>) {
        if !self.replicated {
            return;
        }
        let now = sched.now();
        let (rep, around, mut out) = self.replication_parts(sched);
        rep.ensure(now, around.repl, &mut out);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn replica_fetch_timed_out(
        &mut self,
        now: SimTime,
        f: NodeId,
        l: BrokerId,
        sched: &mut Scheduler<Event>,
    ) {
        let (rep, around, mut out) = self.replication_parts(sched);
        rep.fetch_timed_out(now, f, l, around.repl, &mut out);
    }

    /// The leader gets a follower's fetch: per partition (see [`replication::fetch_at_leader`]),
    /// a moved HW is acted on before the next partition is looked at; then the fetch is answered
    /// or parked.
    #[cold]
    #[inline(never)]
    pub(super) fn replica_fetch_arrives(
        &mut self,
        now: SimTime,
        f: NodeId,
        l: NodeId,
        session: u32,
        sched: &mut Scheduler<Event>,
    ) {
        let mut data = false;
        for p in 0..self.repl.len() {
            let Some(seen) = replication::fetch_at_leader(&mut self.repl[p], &self.partitions[p], f, l, now) else {
                continue;
            };
            data |= seen.data;
            if seen.hw_moved {
                self.hw_advanced(now, p, sched);
            }
        }
        let (rep, around, mut out) = self.replication_parts(sched);
        rep.fetch_seen(now, f, l, session, data, &around, &mut out);
    }

    #[cold]
    #[inline(never)]
    fn wake_followers(&mut self, p: usize, sched: &mut Scheduler<Event>) {
        let (rep, around, mut out) = self.replication_parts(sched);
        rep.wake_followers(p, &around, &mut out);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn replica_fetch_expired(&mut self, now: SimTime, l: NodeId, f: BrokerId, sched: &mut Scheduler<Event>) {
        let (rep, around, mut out) = self.replication_parts(sched);
        rep.parked_expired(now, l, f, &around, &mut out);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn replica_fetch_response(
        &mut self,
        now: SimTime,
        l: NodeId,
        f: NodeId,
        session: u32,
        parts: replication::ReplicaParts,
        sched: &mut Scheduler<Event>,
    ) {
        let (rep, around, mut out) = self.replication_parts(sched);
        rep.response_arrives(now, l, f, session, parts, around.repl, &mut out);
    }

    /// `isr-expiration`: the leader drops followers that have not caught up within
    /// `replica.lag.time.max.ms` ([`replication::shrink_isr`]); the HW may then move and delayed
    /// produces complete, before the next partition is looked at.
    #[cold]
    #[inline(never)]
    pub(super) fn isr_check(&mut self, now: SimTime, l: NodeId, sched: &mut Scheduler<Event>) {
        self.world.timer_in(sched, l, d::KAFKA_ISR_EXPIRATION_INTERVAL, Timer::IsrCheck);
        for p in 0..self.repl.len() {
            let end = self.partitions[p].end_offset();
            if replication::shrink_isr(&mut self.repl[p], l, now, end) {
                self.isr_changed(now, p, sched);
            }
        }
    }

    /// The ISR of partition `p` shrank: the HW may move, and delayed produces waiting for the
    /// departed replicas complete (with `NOT_ENOUGH_REPLICAS_AFTER_APPEND` if the ISR is now
    /// below `min.insync.replicas`).
    fn isr_changed(&mut self, now: SimTime, p: usize, sched: &mut Scheduler<Event>) {
        let Some(l) = self.repl[p].leader else { return };
        let end = self.partitions[p].end_offset();
        if self.repl[p].update_hw(end) {
            self.hw_advanced(now, p, sched);
        } else if !self.purgatory.is_empty(l) {
            self.complete_delayed(now, l, sched);
        }
    }

    /// The controller fences broker `b`: it leaves the ISRs (their leaders may now commit) and
    /// its partitions get new leaders.
    fn fence(&mut self, now: SimTime, b: BrokerId, sched: &mut Scheduler<Event>) {
        let changed = self.controller.fence(b, &mut self.repl);
        self.apply_elections(now, changed, sched);
        for p in 0..self.repl.len() {
            if self.repl[p].index_of(b).is_some() {
                self.isr_changed(now, p, sched);
            }
        }
    }

    // ---- broker failures and the controller ----

    /// A broker process dies. Its log survives (the page cache outlives the process); what it held
    /// in memory does not: delayed produces (their producer hears of them only when the
    /// connection closes), parked fetches, its fetchers. Its operating system closes its
    /// connections, so clients and peers hear at once; its heartbeats stop, so the controller
    /// fences it when its session expires.
    #[cold]
    #[inline(never)]
    pub(super) fn broker_crashed(&mut self, b: BrokerId, sched: &mut Scheduler<Event>) {
        for e in self.purgatory.broker_crashed(b) {
            self.producers[e.client].orphans.push((b, e.producer, e.req, e.batches));
        }
        self.replication.broker_crashed(b);
        self.delayed_fetches.broker_crashed(b);
        let mut clients: Vec<NodeId> = self.producers.iter().map(|pc| pc.node).collect();
        clients.extend(self.groups.iter().flat_map(|g| g.consumers.iter().map(|c| c.node)));
        for to in clients {
            self.world.send_from_os(sched, b, to, Msg::ConnectionClosed);
        }
    }

    /// A broker process starts again with its log, follows, and registers with the controller by
    /// its first heartbeat (see [`Self::broker_heartbeat_arrives`]).
    #[cold]
    #[inline(never)]
    pub(super) fn broker_restarted(&mut self, b: BrokerId, sched: &mut Scheduler<Event>) {
        if self.replicated {
            self.world.timer_in(sched, b, d::KAFKA_ISR_EXPIRATION_INTERVAL, Timer::IsrCheck);
        }
        self.ensure_fetchers(sched);
        self.broker_heartbeat_tick(b, sched);
    }

    /// Broker `b`'s heartbeat thread: a heartbeat to the controller now, the next one after
    /// `broker.heartbeat.interval.ms`. (Kafka's `BrokerLifecycleManager` schedules the next one
    /// when the response arrives, or when the request times out: the same period within a round
    /// trip, and it never stops while the broker runs.)
    #[cold]
    #[inline(never)]
    pub(super) fn broker_heartbeat_tick(&mut self, b: BrokerId, sched: &mut Scheduler<Event>) {
        let incarnation = self.world.incarnation(b);
        let version = self.view_version[b as usize];
        self.world.send(sched, b, self.coord, Msg::BrokerHeartbeat { incarnation, version });
        self.world.timer_in(sched, b, d::KAFKA_BROKER_HEARTBEAT_INTERVAL, Timer::BrokerHeartbeatTick);
    }

    /// The controller gets a heartbeat (`BrokerHeartbeatManager.touch`): the broker's session now
    /// expires `broker.session.timeout.ms` from now. A heartbeat of a new incarnation is a new
    /// registration: the previous incarnation's session, if still open, is fenced at once. A
    /// fenced broker that heartbeats is unfenced (it caught up with the metadata at once: metadata
    /// propagation is not modelled), and offline partitions it can lead get it as leader. A
    /// broker whose metadata is behind (it was cut off, or down) gets the current metadata.
    #[cold]
    #[inline(never)]
    pub(super) fn broker_heartbeat_arrives(
        &mut self,
        now: SimTime,
        b: BrokerId,
        incarnation: u32,
        version: u64,
        sched: &mut Scheduler<Event>,
    ) {
        let i = b as usize;
        if self.registered[i] != incarnation {
            self.registered[i] = incarnation;
            if !self.controller.fenced[i] {
                self.fence(now, b, sched);
            }
        }
        if let Some(at) = self.broker_session[i].set(now.after(d::KAFKA_BROKER_SESSION_TIMEOUT)) {
            self.world.timer_at(sched, self.coord, at, Timer::BrokerSessionExpired { broker: b });
        }
        if self.controller.fenced[i] {
            let changed = self.controller.unfence(b, &mut self.repl);
            self.apply_elections(now, changed, sched);
        }
        if version < self.meta_version {
            let leaders = self.repl.iter().map(|r| (r.leader, r.epoch)).collect();
            self.world.send(sched, self.coord, b, Msg::Metadata { version: self.meta_version, leaders });
        }
    }

    /// The controller's leadership changed: a new metadata version, sent to every broker (a
    /// broker that misses it catches up through its next heartbeat).
    #[cold]
    #[inline(never)]
    fn publish_metadata(&mut self, sched: &mut Scheduler<Event>) {
        self.meta_version += 1;
        for b in 0..self.brokers as BrokerId {
            let leaders = self.repl.iter().map(|r| (r.leader, r.epoch)).collect();
            self.world.send(sched, self.coord, b, Msg::Metadata { version: self.meta_version, leaders });
        }
    }

    /// Broker `b` applies the controller's metadata: a partition it led at an older epoch, or
    /// leads no more, is given up ([`Self::resign`]); it follows the leaders it now knows.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_arrives(
        &mut self,
        now: SimTime,
        b: BrokerId,
        version: u64,
        leaders: Vec<(Option<BrokerId>, u32)>,
        sched: &mut Scheduler<Event>,
    ) {
        if version <= self.view_version[b as usize] {
            return;
        }
        self.view_version[b as usize] = version;
        let parts = self.cfg.partitions as usize;
        for (p, new) in leaders.into_iter().enumerate() {
            let old = std::mem::replace(&mut self.view[b as usize * parts + p], new);
            if old.0 == Some(b) && old != new {
                self.resign(now, b, p as u32, sched);
            }
        }
        self.ensure_fetchers(sched);
    }

    /// A broker answers the producer's metadata request from its own metadata.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_request_arrives(
        &mut self,
        from: NodeId,
        b: BrokerId,
        round: u64,
        sched: &mut Scheduler<Event>,
    ) {
        let parts = self.cfg.partitions as usize;
        let leaders = self.view[b as usize * parts..(b as usize + 1) * parts].iter().map(|v| v.0).collect();
        self.world.send(sched, b, from, Msg::MetadataResponse { round, leaders });
    }

    /// The controller's session check for broker `b` (`maybeFenceOneStaleBroker`): no heartbeat
    /// for `broker.session.timeout.ms`, so it is fenced.
    #[cold]
    #[inline(never)]
    pub(super) fn broker_session_expired(&mut self, now: SimTime, b: BrokerId, sched: &mut Scheduler<Event>) {
        match self.broker_session[b as usize].fired(now) {
            Fired::Due => {
                if !self.controller.fenced[b as usize] {
                    self.fence(now, b, sched);
                }
            }
            Fired::Rearm(at) => {
                self.world.timer_at(sched, self.coord, at, Timer::BrokerSessionExpired { broker: b });
            }
            Fired::Nothing => {}
        }
    }

    /// New leaders take over: the log is truncated to the new leader's LEO (what its followers,
    /// and replicas that are down when they return, do with leader epochs), the HW cannot be above
    /// it, followers fetch from it, and consumers waiting for these partitions fetch again.
    #[cold]
    #[inline(never)]
    fn apply_elections(&mut self, now: SimTime, changed: Vec<(u32, Elected)>, sched: &mut Scheduler<Event>) {
        if changed.is_empty() {
            return;
        }
        for &(p, e) in &changed {
            let (Elected::Clean(l) | Elected::Unclean(l)) = e else { continue };
            self.obs(now, Observation::LeaderElected { partition: Some(p) });
            let p = p as usize;
            let li = self.repl[p].index_of(l).expect("elected among the replicas");
            let new_end = self.repl[p].leo[li];
            if new_end < self.partitions[p].end_offset() {
                // The records beyond the new leader's log are on the replica with the longest
                // log: deleted with it if it is down (it truncates when it returns), but if it is
                // alive and still believes it leads (a zombie, cut from the controller), still in
                // its log, until it learns.
                let parts = self.cfg.partitions as usize;
                let zombie = self.repl[p]
                    .brokers
                    .iter()
                    .copied()
                    .find(|&h| h != l && self.world.is_up(h) && self.view[h as usize * parts + p].0 == Some(h));
                self.truncate(now, p, new_end, zombie);
            }
            let r = &mut self.repl[p];
            r.leo.iter_mut().for_each(|o| *o = (*o).min(new_end));
            r.hw = r.hw.min(new_end);
            r.reset_follower_state(now);
            r.known_leo[li] = new_end;
            r.epoch_start = new_end;
            if r.update_hw(new_end) {
                self.hw_advanced(now, p, sched);
            }
        }
        self.publish_metadata(sched);
        self.ensure_fetchers(sched);
        self.poke_consumers(sched);
    }

    /// Removes the records from `to` on: no replica will have them any more, except a zombie
    /// leader (`zombie`), whose tail they become until it learns. Groups that had not processed
    /// them lose them; consumers positioned beyond the new end move back to it (KIP-320: a
    /// consumer that detects the truncation resets to the divergence point).
    #[cold]
    #[inline(never)]
    fn truncate(&mut self, now: SimTime, p: usize, to: Offset, zombie: Option<BrokerId>) {
        let old_end = self.partitions[p].end_offset();
        let history = &mut *self.history;
        let groups = &self.groups;
        let mut kept = Vec::new();
        let freed = self.partitions[p].truncate(to, |offset, r| {
            if zombie.is_some() {
                kept.push(*r);
                return;
            }
            for (gi, g) in groups.iter().enumerate() {
                if offset >= g.progress.frontier(p) {
                    history.record(now, Observation::Deleted { id: r.id(), group: Some(gi) });
                }
            }
        });
        let new_end = self.partitions[p].end_offset();
        if let Some(broker) = zombie {
            kept.reverse();
            let frontiers = self.groups.iter().map(|g| g.progress.frontier(p)).collect();
            self.tails.cut_off(broker, p as u32, new_end, kept, frontiers);
        } else if freed > 0 {
            self.obs(now, Observation::StorageChanged { delta: -(freed as i64) });
        }
        self.end_offsets_sum -= old_end - new_end;
        for g in &mut self.groups {
            g.progress.truncated(p, old_end, new_end);
            g.committed.truncate(p as u32, new_end);
            let Some(c) = g.owner[p] else { continue };
            let c = &mut g.consumers[c as usize];
            let Some(slot) = c.partitions.iter().position(|&q| q as usize == p) else { continue };
            if c.fetch_pos[slot] > new_end {
                g.fetched_sum -= c.fetch_pos[slot] - new_end;
                c.fetch_pos[slot] = new_end;
            }
            c.consumed[slot] = c.consumed[slot].min(new_end);
            c.commit_sent[slot] = c.commit_sent[slot].min(new_end);
            let before = c.buffer.len();
            c.buffer.retain(|r| r.slot as usize != slot || r.offset < new_end);
            c.buffered[slot] -= (before - c.buffer.len()) as u32;
        }
    }

    /// Consumers blocked in `poll()` fetch again (the leaders they need may have changed).
    #[cold]
    #[inline(never)]
    fn poke_consumers(&mut self, sched: &mut Scheduler<Event>) {
        for g in 0..self.groups.len() {
            for c in 0..self.groups[g].consumers.len() as u32 {
                let k = &self.groups[g].consumers[c as usize];
                if self.world.is_up(k.node) && k.assigned && k.waiting_in_poll {
                    self.send_fetch(g, c, sched);
                }
            }
        }
    }

    /// A client hears that broker `from`'s connections closed.
    #[cold]
    #[inline(never)]
    pub(super) fn connection_closed(&mut self, now: SimTime, from: NodeId, to: NodeId, sched: &mut Scheduler<Event>) {
        if let Some(k) = self.producers.iter().position(|pc| pc.node == to) {
            let (pc, mut out) = self.producer_parts(k, sched);
            pc.producer_connection_closed(now, from, &mut out);
        } else if let Some(&(g, c)) = self.consumer_of.get(to) {
            // The fetch to it is gone; the partitions it led are fetched again once they have a
            // leader.
            self.groups[g].consumers[c as usize].fetching &= !(1 << from);
        }
    }

    /// The world dropped a message (its receiver is down or restarted): what it carried that
    /// someone still counts on is accounted for.
    #[cold]
    #[inline(never)]
    pub(super) fn dropped(&mut self, now: SimTime, env: Envelope<Msg, Timer>, sched: &mut Scheduler<Event>) {
        let Envelope::Message { from, to, incarnation, msg, .. } = env else { return };
        // The receiver is the process the message was sent to, and it is up: a cut link lost it.
        let cut = incarnation == self.world.incarnation(to) as u16 && self.world.is_up(to);
        match msg {
            Msg::Commit(_) => self.commits_in_flight -= 1,
            // The producer still holds these batches, until it hears the connection closed or the
            // request times out (with acks = 0 it forgot them when it sent them).
            Msg::Produce { mut batches, producer, req } => {
                let k = self.producer_of(from);
                if self.cfg.acks == Acks::Zero {
                    for b in batches.drain(..) {
                        self.producers[k].accumulator.recycle(b.records);
                    }
                    self.producers[k].pool.push(batches);
                } else {
                    let (pc, mut out) = self.producer_parts(k, sched);
                    pc.orphan(now, to, producer, req, batches, &mut out);
                }
            }
            // Lost on a cut link, the batches are still the producer's (retried when the request
            // times out); for a producer that died since, they are gone.
            Msg::ProduceResponse { batches, req } if cut => {
                let (k, incarnation) = (self.producer_of(to), self.world.incarnation(to));
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.orphan(now, from, incarnation, req, batches, &mut out)
            }
            Msg::ProduceResponse { mut batches, .. } => {
                let k = self.producer_of(to);
                for b in batches.drain(..) {
                    self.producers[k].accumulator.recycle(b.records);
                }
                self.producers[k].pool.push(batches);
            }
            Msg::FetchResponse { group, consumer, epoch, records, .. } if cut => {
                self.fetch_response_lost(now, group, consumer, epoch, records);
            }
            Msg::ReplicaFetchResponse { parts, .. } => self.replication.recycle(parts),
            Msg::FetchResponse { mut records, .. } => {
                records.clear();
                self.fetch_pool.push(records);
            }
            _ => {}
        }
    }
}

/// One past the id of producer `k`'s last record (of `n` producers) in `log` below offset `end`, 0
/// if none: where its idempotent sequence goes on (Kafka keeps it per producer id).
fn producer_tail(n: usize, k: usize, log: &Partition, end: Offset) -> u64 {
    let last = match (n, end) {
        (1, Offset::MAX) => log.last_id(),
        (1, _) => end.checked_sub(1).and_then(|o| log.get(o)).map(StoredMessage::id),
        _ => log.last_id_below(end, |id| crate::workload::producer_for(id, n) == k),
    };
    last.map_or(0, |id| id + 1)
}
