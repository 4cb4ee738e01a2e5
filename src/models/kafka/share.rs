//! Kafka share groups (KIP-932, production-ready in Apache Kafka 4.2): `[[groups]] type = "share"`.
//!
//! * **Membership** (the share group coordinator): members heartbeat every
//!   `group.share.heartbeat.interval.ms` (5 s) and are removed after `group.share.session.timeout.ms`
//!   (45 s) of silence. The `simple` assignor deals the partitions out balanced: each partition to
//!   `ceil(members / partitions)` members, each member about as many partitions
//!   (`SimpleHomogeneousAssignmentBuilder`), so more members than partitions all get one. A member
//!   learns its assignment from its next heartbeat's response.
//! * **Share-partitions** (on each partition's leader, `SharePartition.java`): the records between
//!   the share-partition start offset (SPSO) and end offset (SPEO) are in flight, each Available,
//!   Acquired (locked to one member for `group.share.record.lock.duration.ms`, 30 s), Acknowledged
//!   or Archived, with a delivery count. A `ShareFetch` acquires up to `max.poll.records` Available
//!   records, then new ones from the log below the high watermark while the in-flight range holds
//!   fewer than `group.share.partition.max.record.locks` (2000) offsets. A lock that expires makes
//!   its record Available again, or Archived once it was delivered
//!   `group.share.delivery.count.limit` (5) times. The SPSO moves past acknowledged and archived
//!   records at the front.
//! * **Consumers** process one record at a time and acknowledge each (ACCEPT) as they finish it,
//!   as an application calling `acknowledge(record)` then `commitAsync()` would; an acknowledgement
//!   for a record whose lock is gone is refused (`INVALID_RECORD_STATE`), and the record was
//!   processed for nothing. A consumer fetches again once its application has nothing left. A
//!   consumer that closes cleanly releases its acquired records at once; one that crashes leaves
//!   them locked until their locks expire.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordState {
    Available,
    Acquired,
    Acknowledged,
    Archived,
}

/// One in-flight record of a share-partition.
#[derive(Debug)]
struct InFlight {
    offset: Offset,
    msg: StoredMessage,
    state: RecordState,
    deliveries: u8,
    /// The member that holds it (meaningful while Acquired).
    member: u64,
    /// When its current lock expires (meaningful while Acquired).
    lock_until: SimTime,
}

/// A share-partition's state on the partition's leader.
#[derive(Debug, Default)]
pub(super) struct SharePartition {
    /// Share-partition start offset: every record below is acknowledged or archived.
    spso: Offset,
    /// One past the last offset taken from the log (SPEO + 1).
    next: Offset,
    /// The records the log holds in [spso, next), in offset order (compaction may leave gaps).
    records: VecDeque<InFlight>,
    /// How many of `records` are Available, and Acquired.
    available: u32,
    acquired: u32,
    /// Locks in the order they were taken: with one lock duration, also the order they expire.
    locks: VecDeque<(SimTime, Offset)>,
    lock_timer: Deadline,
}

impl SharePartition {
    fn index(&self, offset: Offset) -> Option<usize> {
        self.records.binary_search_by_key(&offset, |r| r.offset).ok()
    }

    /// Moves the SPSO past the acknowledged and archived records at the front; returns how far.
    fn advance(&mut self) -> u64 {
        while self.records.front().is_some_and(|r| matches!(r.state, RecordState::Acknowledged | RecordState::Archived))
        {
            self.records.pop_front();
        }
        let to = self.records.front().map_or(self.next, |r| r.offset);
        let moved = to - self.spso;
        self.spso = to;
        moved
    }

    /// An Acquired record goes back: Available, or Archived at the delivery limit
    /// (`InFlightState.tryUpdateState`). Returns the record's message if it was archived.
    fn release(&mut self, i: usize) -> Option<StoredMessage> {
        let r = &mut self.records[i];
        self.acquired -= 1;
        if r.deliveries >= d::KAFKA_SHARE_DELIVERY_COUNT_LIMIT {
            r.state = RecordState::Archived;
            Some(r.msg)
        } else {
            r.state = RecordState::Available;
            self.available += 1;
            None
        }
    }
}

/// What a share-partition's lock timer found ([`SharePartition::lock_timer_fired`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LockTimer {
    /// A superseded timer: nothing to do.
    Nothing,
    /// Not yet: the timer goes on at this time.
    Rearm(SimTime),
    /// These records' locks expired (indices into the in-flight records, in lock order); the timer
    /// is set again at `next` for the oldest lock left.
    Expired { indices: Vec<usize>, next: Option<SimTime> },
}

/// What [`SharePartition::acquire`] did besides handing records out.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Acquired {
    /// How far the SPSO moved first (acknowledged or archived records at the front, or retention).
    pub moved: u64,
    /// The lock timer must be set at this time (records were locked, and it was not armed earlier).
    pub timer: Option<SimTime>,
}

impl SharePartition {
    /// Retention deleted the log below `start`: what was in flight there is gone (the recorder
    /// already counts it lost for every group that had not processed it).
    fn forget_below(&mut self, start: Offset) {
        if start <= self.spso {
            return;
        }
        while self.records.front().is_some_and(|r| r.offset < start) {
            let r = self.records.pop_front().expect("checked");
            match r.state {
                RecordState::Available => self.available -= 1,
                RecordState::Acquired => self.acquired -= 1,
                _ => {}
            }
        }
        self.next = self.next.max(start);
    }

    /// A `ShareFetch` of `member` acquires records of this partition (slot `slot` in the
    /// responses) into `out`, up to `max` in all, each locked until `lock_until`: Available ones
    /// first, in offset order, then new ones from `log` below the high watermark `hw` while the
    /// in-flight range is below `group.share.partition.max.record.locks`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn acquire(
        &mut self,
        log: &Partition,
        hw: Offset,
        slot: u32,
        member: u64,
        lock_until: SimTime,
        max: usize,
        out: &mut Vec<Fetched>,
    ) -> Acquired {
        self.forget_below(log.start_offset);
        let moved = self.advance();
        let before = out.len();
        let lock = |r: &mut InFlight, acquired: &mut u32, locks: &mut VecDeque<(SimTime, Offset)>| {
            r.state = RecordState::Acquired;
            r.deliveries = r.deliveries.saturating_add(1);
            r.member = member;
            r.lock_until = lock_until;
            *acquired += 1;
            locks.push_back((lock_until, r.offset));
            Fetched { slot, offset: r.offset, msg: r.msg, delivery: r.deliveries }
        };
        if self.available > 0 {
            for r in self.records.iter_mut() {
                if out.len() >= max || self.available == 0 {
                    break;
                }
                if r.state == RecordState::Available {
                    self.available -= 1;
                    out.push(lock(r, &mut self.acquired, &mut self.locks));
                }
            }
        }
        while out.len() < max && self.next - self.spso < d::KAFKA_SHARE_PARTITION_MAX_RECORD_LOCKS {
            let Some((offset, &msg)) = log.next_from(self.next) else { break };
            if offset >= hw {
                break;
            }
            self.next = offset + 1;
            let mut r = InFlight { offset, msg, state: RecordState::Available, deliveries: 0, member, lock_until };
            out.push(lock(&mut r, &mut self.acquired, &mut self.locks));
            self.records.push_back(r);
        }
        let timer =
            if out.len() > before { self.lock_timer.set(self.locks.front().map_or(lock_until, |l| l.0)) } else { None };
        Acquired { moved, timer }
    }

    /// An acknowledgement (ACCEPT) of `member` for `offset`: accepted if the record is still
    /// acquired by that member (then how far the SPSO moved), refused (`None`) otherwise: its lock
    /// expired, or another member holds it now.
    pub(super) fn acknowledge(&mut self, member: u64, offset: Offset) -> Option<u64> {
        let i = self.index(offset)?;
        let r = &mut self.records[i];
        if r.state != RecordState::Acquired || r.member != member {
            return None;
        }
        r.state = RecordState::Acknowledged;
        self.acquired -= 1;
        Some(self.advance())
    }

    /// The records `member` holds (indices into the in-flight records, in offset order).
    pub(super) fn held_by(&self, member: u64) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&i| self.records[i].state == RecordState::Acquired && self.records[i].member == member)
            .collect()
    }

    /// The lock timer fired at `now`: the records whose locks expired, in lock order. A lock whose
    /// record was acknowledged, released or acquired again since is stale and skipped.
    pub(super) fn lock_timer_fired(&mut self, now: SimTime) -> LockTimer {
        match self.lock_timer.fired(now) {
            Fired::Due => {}
            Fired::Rearm(at) => return LockTimer::Rearm(at),
            Fired::Nothing => return LockTimer::Nothing,
        }
        let mut indices = Vec::new();
        while let Some(&(at, offset)) = self.locks.front()
            && at <= now
        {
            self.locks.pop_front();
            if let Some(i) = self.index(offset)
                && self.records[i].state == RecordState::Acquired
                && self.records[i].lock_until == at
            {
                indices.push(i);
            }
        }
        let next = self.locks.front().and_then(|&(at, _)| self.lock_timer.set(at));
        LockTimer::Expired { indices, next }
    }

    /// The records at `indices` go back: Available, or Archived at the delivery limit (each
    /// archived record handed to `archived`). Returns how far the SPSO moved.
    pub(super) fn release_all(&mut self, indices: &[usize], mut archived: impl FnMut(StoredMessage)) -> u64 {
        for &i in indices {
            if let Some(msg) = self.release(i) {
                archived(msg);
            }
        }
        self.advance()
    }
}

/// The share group: its coordinator's members and the share-partitions of the topic.
#[derive(Debug, Default)]
pub(super) struct ShareGroup {
    partitions: Vec<SharePartition>,
    /// The share-partitions were initialised (`share.auto.offset.reset`, at the first member).
    initialised: bool,
}

/// The `simple` assignor of Kafka 4.2 for one topic of `p` partitions and `m` members (the `i`-th
/// in the coordinator's order): each partition goes to `s = ceil(m / p)` members, and member `i`
/// takes the slots `ceil(s p i / m)` to `ceil(s p (i + 1) / m)` of the sequence where slot `j` is
/// partition `j mod p`, so counts differ by at most one (`desiredAssignmentCount`). Not sticky:
/// computed afresh at each membership change (Kafka keeps what it can).
pub(super) fn simple_assign(p: u32, m: u32, i: u32) -> Vec<u32> {
    if m == 0 || p == 0 {
        return Vec::new();
    }
    let s = m.div_ceil(p) as u64;
    let (p64, m64, i64) = (p as u64, m as u64, i as u64);
    let from = (s * p64 * i64).div_ceil(m64);
    let to = (s * p64 * (i64 + 1)).div_ceil(m64);
    let mut parts: Vec<u32> = (from..to).map(|j| (j % p64) as u32).collect();
    parts.sort_unstable();
    parts
}

impl<H: History> KafkaModel<'_, H> {
    pub(super) fn is_share(&self, group: GroupIdx) -> bool {
        self.groups[group].share.is_some()
    }

    fn share(&mut self, group: GroupIdx) -> &mut ShareGroup {
        self.groups[group].share.as_mut().expect("a share group")
    }

    /// The group's first members at time 0: the share-partitions start at the group's `from`, the
    /// assignment is in place before the first message, every consumer fetches.
    pub(super) fn share_form(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        self.share_initialise(now, group);
        let running = self.operations.running(group);
        let members: Vec<(u64, u32)> = self.groups[group].consumers[..running as usize]
            .iter()
            .enumerate()
            .map(|(i, c)| (c.member, i as u32))
            .collect();
        self.coordinator.share_form(group, &members);
        for i in 0..running {
            let parts = self.coordinator.share_assignment(group, self.groups[group].consumers[i as usize].member);
            let c = &mut self.groups[group].consumers[i as usize];
            c.generation = 1;
            c.assigned = true;
            c.partitions = parts;
            let (node, member) = (c.node, c.member);
            self.world.timer_in(sched, node, d::KAFKA_SHARE_HEARTBEAT_INTERVAL, Timer::HeartbeatTick);
            self.coordinator.share_arm_session(now, group, member, &mut self.coord_out);
            self.apply_coordinator(now, sched);
        }
        for i in 0..running {
            self.share_poll(now, group, i, sched);
        }
    }

    /// `share.auto.offset.reset`: each share-partition starts at the group's `from` (earliest,
    /// latest, or the first record at or after a time, as `by_duration`). What lies before is
    /// skipped, as a consumer group's reset skips it.
    fn share_initialise(&mut self, now: SimTime, group: GroupIdx) {
        let spec = self.groups[group].from;
        for p in 0..self.cfg.partitions {
            let to = self.offset_for(p, spec);
            self.skip_to(now, group, p, to);
            let sp = &mut self.share(group).partitions[p as usize];
            sp.spso = to;
            sp.next = to;
        }
        self.share(group).initialised = true;
        if now > SimTime::ZERO {
            self.client(now, ClientEvent::Sought { group, to_end: spec == OffsetSpec::Latest });
        }
    }

    // ---- consumer side ----

    /// `KafkaShareConsumer.poll()` with nothing left to process: join if not a member yet, else
    /// send a `ShareFetch` to the leader of each assigned partition that has none in flight.
    pub(super) fn share_poll(&mut self, _now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        if c.app.is_busy() || c.app.waiting() > 0 {
            return;
        }
        c.waiting_in_poll = true;
        if !c.assigned {
            if !c.joining {
                c.joining = true;
                let (node, member) = (c.node, c.member);
                let hb = Msg::ShareHeartbeat { group, consumer, member, epoch: 0 };
                self.world.send(sched, node, self.coord, hb);
            }
            return;
        }
        let mut to: u64 = 0;
        for &p in &c.partitions {
            if let Some(l) = self.repl[p as usize].leader {
                to |= 1 << l;
            }
        }
        to &= !c.fetching;
        let (node, epoch) = (c.node, c.epoch);
        c.fetching |= to;
        while to != 0 {
            let broker = to.trailing_zeros() as NodeId;
            to &= to - 1;
            self.world.send(sched, node, broker, Msg::ShareFetch { group, consumer, epoch });
        }
    }

    /// The share heartbeat thread: one `ShareGroupHeartbeat` per interval.
    pub(super) fn share_heartbeat_tick(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &self.groups[group].consumers[consumer as usize];
        let (node, member, epoch) = (c.node, c.member, c.generation);
        self.world.timer_in(sched, node, d::KAFKA_SHARE_HEARTBEAT_INTERVAL, Timer::HeartbeatTick);
        if c.assigned || c.joining {
            self.world.send(sched, node, self.coord, Msg::ShareHeartbeat { group, consumer, member, epoch });
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn share_heartbeat_response(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        partitions: Vec<u32>,
        fenced: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        if fenced {
            // Its session expired (cut off, or silent): it joins again, with the same member id.
            c.assigned = false;
            c.joining = false;
            c.generation = 0;
            c.partitions.clear();
            if !c.app.is_busy() && c.app.waiting() == 0 {
                self.share_poll(now, group, consumer, sched);
            }
            return;
        }
        if epoch == c.generation && c.assigned {
            return;
        }
        c.generation = epoch;
        c.assigned = true;
        c.joining = false;
        c.partitions = partitions;
        if c.waiting_in_poll {
            self.share_poll(now, group, consumer, sched);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn share_fetch_response(
        &mut self,
        now: SimTime,
        broker: NodeId,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        records: Vec<Fetched>,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(mut records) = self.receive_fetch(broker, group, consumer, epoch, records, sched) else {
            return;
        };
        let c = &mut self.groups[group].consumers[consumer as usize];
        let got = !records.is_empty();
        c.app.extend(records.drain(..));
        self.fetch_pool.push(records);
        if got {
            c.waiting_in_poll = false;
            self.start_next(now, group, consumer, sched);
        } else {
            self.share_poll(now, group, consumer, sched);
        }
    }

    /// The application finished a record: it is acknowledged (ACCEPT) to the partition's leader,
    /// then the next one starts, or the consumer fetches again.
    pub(super) fn share_job_done(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        r: Fetched,
        sched: &mut Scheduler<Event>,
    ) {
        self.client(now, ClientEvent::Processed { msg: r.msg, group, consumer });
        let c = &self.groups[group].consumers[consumer as usize];
        let (node, member) = (c.node, c.member);
        let partition = r.slot;
        if let Some(l) = self.repl[partition as usize].leader {
            self.client(now, ClientEvent::Acked { id: r.msg.id(), group, consumer });
            self.world.send(sched, node, l, Msg::ShareAck { group, member, partition, offset: r.offset });
        }
        if self.groups[group].consumers[consumer as usize].app.waiting() > 0 {
            self.start_next(now, group, consumer, sched);
        } else {
            self.share_poll(now, group, consumer, sched);
        }
    }

    /// `close()`: the consumer's acquired records are released on every leader and it leaves the
    /// group (a heartbeat with epoch -1); then its process ends.
    pub(super) fn share_stop(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &self.groups[group].consumers[consumer as usize];
        let (node, member) = (c.node, c.member);
        let mut to: u64 = 0;
        for p in 0..self.cfg.partitions {
            if let Some(l) = self.repl[p as usize].leader {
                to |= 1 << l;
            }
        }
        while to != 0 {
            let broker = to.trailing_zeros() as NodeId;
            to &= to - 1;
            self.world.send(sched, node, broker, Msg::ShareRelease { group, member });
        }
        self.world.send(sched, node, self.coord, Msg::ShareLeave { group, member });
        self.consumer_down(group, consumer);
    }

    // ---- coordinator ----

    /// The coordinator hears a heartbeat ([`CoordinatorNode::share_heartbeat`]); the group's first
    /// join initialises its share-partitions first, and an answered member's heartbeat reports the
    /// group's lag.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn share_heartbeat_arrives(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        member: u64,
        epoch: u32,
        sched: &mut Scheduler<Event>,
    ) {
        if self.coordinator.share_joins(group, member, epoch) == Some(true) && !self.share(group).initialised {
            self.share_initialise(now, group);
        }
        let answered = self.coordinator.share_heartbeat(now, group, consumer, member, epoch, &mut self.coord_out);
        self.apply_coordinator(now, sched);
        if answered {
            self.share_report_lag(now, group);
        }
    }

    pub(super) fn share_leave_arrives(&mut self, group: GroupIdx, member: u64) {
        self.coordinator.share_leave(group, member);
    }

    pub(super) fn share_session_expired(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        member: u64,
        sched: &mut Scheduler<Event>,
    ) {
        self.coordinator.share_session_expired(now, group, member, &mut self.coord_out);
        self.apply_coordinator(now, sched);
    }

    /// `kafka-share-groups --reset-offsets --to-... --execute`. Kafka refuses it while the group
    /// has members, so a team stops the consumers (their records are released), resets and starts
    /// them. Simplification (consumer groups do run that round): here it is one step, with no
    /// pause: every share-partition starts over at the target, with nothing in flight. An acknowledgement of a record acquired before is
    /// refused; what the group processes again is `replayed`.
    pub(super) fn share_reset_offsets(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        spec: OffsetSpec,
        sched: &mut Scheduler<Event>,
    ) {
        self.client(now, ClientEvent::Sought { group, to_end: spec == OffsetSpec::Latest });
        for p in 0..self.cfg.partitions {
            let to = self.offset_for(p, spec);
            self.skip_to(now, group, p, to);
            let g = &mut self.groups[group];
            g.progress.rewind(p as usize, to);
            let sp = &mut g.share.as_mut().expect("a share group").partitions[p as usize];
            *sp = SharePartition { spso: to, next: to, ..SharePartition::default() };
            if let Some(l) = self.repl[p as usize].leader {
                self.share_wake(now, group, p as usize, l as NodeId, sched);
            }
        }
        self.share_report_lag(now, group);
    }

    // ---- leader: share-partitions ----

    /// The leader acquires records for the consumer's parked or arriving `ShareFetch` from the
    /// partitions of its assignment that it leads: up to `max.poll.records`. Answers if it got any,
    /// or if `force` (`fetch.max.wait.ms` passed: an empty answer).
    pub(super) fn share_try_respond(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        broker: NodeId,
        force: bool,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        let max = self.cfg.max_poll_records as usize;
        let mut records = self.fetch_pool.pop().unwrap_or_default();
        let c = &self.groups[group].consumers[consumer as usize];
        let member = c.member;
        let n = c.partitions.len();
        let start = (self.delayed_fetches.parked_so_far(group, consumer) as usize) % n.max(1);
        let lock_until = now.after(d::KAFKA_SHARE_RECORD_LOCK_DURATION);
        for i in 0..n {
            if records.len() >= max {
                break;
            }
            let p = self.groups[group].consumers[consumer as usize].partitions[(start + i) % n] as usize;
            if self.repl[p].leader != Some(broker) {
                continue;
            }
            let (log, hw) = (&self.partitions[p], self.repl[p].hw);
            let sp = &mut self.groups[group].share.as_mut().expect("a share group").partitions[p];
            let acquired = sp.acquire(log, hw, p as u32, member, lock_until, max, &mut records);
            self.share_moved(group, p, acquired.moved);
            if let Some(at) = acquired.timer {
                self.world.timer_at(sched, broker, at, Timer::ShareLockExpired { group, partition: p as u32 });
            }
        }
        if records.is_empty() && !force {
            self.fetch_pool.push(records);
            return false;
        }
        let c = &mut self.groups[group].consumers[consumer as usize];
        self.delayed_fetches.answered(broker as BrokerId, group, consumer);
        let (to, epoch) = (c.node, c.epoch);
        if !records.is_empty() {
            self.share_report_lag(now, group);
        }
        self.world.send(
            sched,
            broker,
            to,
            Msg::ShareFetchResponse {
                group,
                consumer,
                epoch,
                records,
                compressed: self.producers[0].accumulator.compression.is_some(),
            },
        );
        true
    }

    /// The SPSO of partition `p` moved by `moved`: the group's progress follows it.
    fn share_moved(&mut self, group: GroupIdx, p: usize, moved: u64) {
        if moved > 0 {
            let g = &mut self.groups[group];
            let spso = g.share.as_ref().expect("a share group").partitions[p].spso;
            g.progress.follow(p, moved, spso);
        }
    }

    /// An acknowledgement (ACCEPT) reaches the leader ([`SharePartition::acknowledge`]).
    pub(super) fn share_ack_arrives(&mut self, now: SimTime, group: GroupIdx, member: u64, p: u32, offset: Offset) {
        let Some(moved) = self.share(group).partitions[p as usize].acknowledge(member, offset) else { return };
        self.share_moved(group, p as usize, moved);
        self.share_report_lag(now, group);
    }

    /// A consumer's share session closed: the leader releases every record it holds there.
    pub(super) fn share_release_arrives(
        &mut self,
        now: SimTime,
        broker: NodeId,
        group: GroupIdx,
        member: u64,
        sched: &mut Scheduler<Event>,
    ) {
        for p in 0..self.cfg.partitions as usize {
            if self.repl[p].leader != Some(broker as BrokerId) {
                continue;
            }
            let held = self.share(group).partitions[p].held_by(member);
            self.share_released(now, group, p, &held, broker, sched);
        }
    }

    /// The leader's lock timer of partition `p` ([`SharePartition::lock_timer_fired`]): every lock
    /// that expired releases its record.
    pub(super) fn share_lock_expired(
        &mut self,
        now: SimTime,
        broker: NodeId,
        group: GroupIdx,
        p: u32,
        sched: &mut Scheduler<Event>,
    ) {
        let timer = Timer::ShareLockExpired { group, partition: p };
        match self.share(group).partitions[p as usize].lock_timer_fired(now) {
            LockTimer::Nothing => {}
            LockTimer::Rearm(at) => {
                self.world.timer_at(sched, broker, at, timer);
            }
            LockTimer::Expired { indices, next } => {
                if let Some(at) = next {
                    self.world.timer_at(sched, broker, at, timer);
                }
                self.share_released(now, group, p as usize, &indices, broker, sched);
            }
        }
    }

    /// Records at these indices of partition `p` go back ([`SharePartition::release_all`]);
    /// consumers waiting at this leader for that partition get them.
    fn share_released(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        p: usize,
        indices: &[usize],
        broker: NodeId,
        sched: &mut Scheduler<Event>,
    ) {
        if indices.is_empty() {
            return;
        }
        let history = &mut *self.history;
        let sp = &mut self.groups[group].share.as_mut().expect("a share group").partitions[p];
        // Archived: the broker will never deliver it again; if the group never processed it, it
        // is lost (the recorder ignores it when it was processed).
        let moved = sp.release_all(indices, |msg| {
            history.record(now, Observation::Deleted { id: msg.id(), group: Some(group) });
        });
        self.share_moved(group, p, moved);
        self.share_wake(now, group, p, broker, sched);
        self.share_report_lag(now, group);
    }

    /// Partition `p` has records to hand out: consumers whose fetch is parked at its leader and
    /// that are assigned `p` get them now.
    pub(super) fn share_wake(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        p: usize,
        leader: NodeId,
        sched: &mut Scheduler<Event>,
    ) {
        for c in 0..self.groups[group].consumers.len() as u32 {
            let cons = &self.groups[group].consumers[c as usize];
            if cons.partitions.contains(&(p as u32))
                && self.delayed_fetches.is_parked(leader as BrokerId, group, c, cons.epoch)
            {
                self.share_try_respond(now, group, c, leader, false, sched);
            }
        }
    }

    /// Lag of a share group: offsets from the SPSO to the log end (what is not yet delivery
    /// complete), and the records acquired (unacked).
    pub(super) fn share_report_lag(&mut self, now: SimTime, group: GroupIdx) {
        let Some(sg) = self.groups[group].share.as_ref() else { return };
        if !sg.initialised {
            return;
        }
        let mut messages = 0;
        let mut unacked = 0;
        for (p, sp) in sg.partitions.iter().enumerate() {
            messages += self.partitions[p].end_offset().saturating_sub(sp.spso);
            unacked += sp.acquired as u64;
        }
        self.obs(now, Observation::Backlog { group, messages, unacked });
    }

    /// Every share-partition is delivery complete up to the log end and no running consumer
    /// holds a record.
    pub(super) fn share_done(&self, group: GroupIdx) -> bool {
        let g = &self.groups[group];
        g.progress.remaining() == 0
            && g.consumers
                .iter()
                .all(|c| !self.world.is_up(c.node) || c.app.is_hung() || (!c.app.is_busy() && c.app.waiting() == 0))
    }

    pub(super) fn new_share_group(partitions: u32) -> ShareGroup {
        ShareGroup { partitions: (0..partitions).map(|_| SharePartition::default()).collect(), ..Default::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;
    use crate::workload::Message;

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    /// A log of `n` 100-byte records (ids and offsets 0..n), in segments of two records.
    fn log(n: u64) -> Partition {
        let mut log = Partition::default();
        (0..n).for_each(|id| append(&mut log, id, SimTime::ZERO));
        log
    }

    fn append(log: &mut Partition, id: u64, at: SimTime) {
        let r = StoredMessage::new(&Message { id, published_at: at, key: None, bytes: 100 });
        log.append(at, r, 200, SimDuration::from_secs(86_400));
    }

    fn got(out: &mut Vec<Fetched>) -> Vec<(u64, u8)> {
        out.drain(..).map(|f| (f.offset, f.delivery)).collect()
    }

    /// Five records, the HW at 4. Member 7 takes two (locked until 30 s: the timer is set), member
    /// 8 the rest below the HW (locked until 31 s: the timer, armed for 30 s, stays). Member 8's
    /// ACCEPT for offset 0 is refused (7 holds it); 7's ACCEPT for 1 leaves the SPSO (0 is still
    /// in flight), for 0 moves it to 2. At 30 s the locks of 0 and 1 are stale (acknowledged); at
    /// 31 s those of 2 and 3 expire and their records become Available again, so member 9, with
    /// the HW now at 5, gets 2 and 3 first (a second delivery) and then the new record 4.
    #[test]
    fn records_are_acquired_acknowledged_and_released_when_their_locks_expire() {
        let (log, mut sp, mut out) = (log(5), SharePartition::default(), Vec::new());
        let a = sp.acquire(&log, 4, 0, 7, secs(30), 2, &mut out);
        assert_eq!(a, Acquired { moved: 0, timer: Some(secs(30)) });
        assert_eq!(got(&mut out), [(0, 1), (1, 1)]);
        let a = sp.acquire(&log, 4, 0, 8, secs(31), 10, &mut out);
        assert_eq!(a, Acquired { moved: 0, timer: None });
        assert_eq!(got(&mut out), [(2, 1), (3, 1)]);
        assert_eq!(sp.held_by(8), [2, 3]);
        assert_eq!(sp.acknowledge(8, 0), None);
        assert_eq!(sp.acknowledge(7, 1), Some(0));
        assert_eq!(sp.acknowledge(7, 0), Some(2));
        assert_eq!(sp.spso, 2);
        assert_eq!(sp.lock_timer_fired(secs(30)), LockTimer::Expired { indices: vec![], next: Some(secs(31)) });
        let LockTimer::Expired { indices, next: None } = sp.lock_timer_fired(secs(31)) else { panic!("expiry") };
        assert_eq!(indices, [0, 1]);
        assert_eq!(sp.release_all(&indices, |m| panic!("archived {}", m.id())), 0);
        assert_eq!((sp.available, sp.acquired), (2, 0));
        let a = sp.acquire(&log, 5, 0, 9, secs(61), 10, &mut out);
        assert_eq!(a, Acquired { moved: 0, timer: Some(secs(61)) });
        assert_eq!(got(&mut out), [(2, 2), (3, 2), (4, 1)]);
        // A lock acquired again is not the one that expired: member 8's ACCEPT is refused.
        assert_eq!(sp.acknowledge(8, 2), None);
    }

    /// `group.share.delivery.count.limit` = 5: the fifth release archives the record (handed back
    /// to be reported) and the SPSO moves past it; the four before make it Available again.
    #[test]
    fn the_fifth_release_archives_the_record() {
        assert_eq!(d::KAFKA_SHARE_DELIVERY_COUNT_LIMIT, 5);
        let (log, mut sp, mut out) = (log(1), SharePartition::default(), Vec::new());
        for delivery in 1..=5u8 {
            sp.acquire(&log, 1, 0, 1, secs(30 * delivery as u64), 10, &mut out);
            assert_eq!(got(&mut out), [(0, delivery)]);
            let mut archived = Vec::new();
            let moved = sp.release_all(&sp.held_by(1), |m| archived.push(m.id()));
            let expected: (&[u64], u64) = if delivery < 5 { (&[], 0) } else { (&[0], 1) };
            assert_eq!((archived.as_slice(), moved), expected, "delivery {delivery}");
        }
        assert_eq!((sp.spso, sp.available, sp.acquired), (1, 0, 0));
        sp.acquire(&log, 1, 0, 1, secs(200), 10, &mut out);
        assert!(out.is_empty(), "an archived record is never delivered again");
    }

    /// Retention (10 s) at 1,000 s deletes the log's first two segments (offsets 0 to 3, written at
    /// 0 s; 4 and 5 were written at 995 s) while 0 to 2 are in flight: they are forgotten, the SPSO
    /// jumps to 4 (reported as moved) and the next fetch starts there.
    #[test]
    fn retention_under_records_in_flight_moves_the_start() {
        let (mut log, mut sp, mut out) = (log(4), SharePartition::default(), Vec::new());
        (4..6).for_each(|id| append(&mut log, id, secs(995)));
        sp.acquire(&log, 6, 0, 1, secs(30), 3, &mut out);
        assert_eq!(got(&mut out), [(0, 1), (1, 1), (2, 1)]);
        log.enforce_retention(secs(1_000), SimDuration::from_secs(10), &mut |_: &StoredMessage| {});
        assert_eq!(log.start_offset, 4);
        let a = sp.acquire(&log, 6, 0, 2, secs(40), 10, &mut out);
        assert_eq!(a.moved, 4);
        assert_eq!(got(&mut out), [(4, 1), (5, 1)]);
        assert_eq!((sp.spso, sp.acquired), (4, 2));
    }

    #[test]
    fn simple_assignor_deals_every_partition_and_balances_members() {
        // 12 members on 6 partitions: each member one partition, each partition two members.
        let a: Vec<Vec<u32>> = (0..12).map(|i| simple_assign(6, 12, i)).collect();
        assert!(a.iter().all(|x| x.len() == 1));
        for p in 0..6 {
            assert_eq!(a.iter().filter(|x| x.contains(&p)).count(), 2);
        }
        // 4 members on 6 partitions: 2, 1, 2, 1 (desiredAssignmentCount), each partition once.
        let a: Vec<Vec<u32>> = (0..4).map(|i| simple_assign(6, 4, i)).collect();
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1, 2, 1]);
        let mut all: Vec<u32> = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
        // 5 members on 6 partitions: sharing ceil(5 / 6) = 1, counts 2, 1, 1, 1, 1.
        let a: Vec<Vec<u32>> = (0..5).map(|i| simple_assign(6, 5, i)).collect();
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1, 1, 1, 1]);
        // 8 members on 6 partitions: sharing 2, 12 slots as 2, 1, 2, 1, ...; no member twice on one.
        let a: Vec<Vec<u32>> = (0..8).map(|i| simple_assign(6, 8, i)).collect();
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1, 2, 1, 2, 1, 2, 1]);
        assert!(a.iter().all(|x| x.windows(2).all(|w| w[0] < w[1])));
        for p in 0..6 {
            assert_eq!(a.iter().filter(|x| x.contains(&p)).count(), 2);
        }
        assert_eq!(simple_assign(6, 1, 0), (0..6).collect::<Vec<_>>());
    }
}
