//! The operator's actions on a consumer group (`[[operations]]`, and a group's late start), and the
//! consumer process starting and stopping that they, and faults, are made of.

use super::*;

/// What Kafka does for the operator (the harness, `models::operating`, applies the schedule).
impl<H: History> OperatorVerbs for KafkaModel<'_, H> {
    type Event = Event;

    fn operations(&mut self) -> &mut OperationSchedule {
        &mut self.operations
    }

    fn start_consumer(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        self.start_consumer(now, group, index, sched);
    }

    fn stop_consumer(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        self.stop_consumer(now, group, index, sched);
    }

    fn reset_offsets(&mut self, now: SimTime, group: GroupIdx, to: OffsetSpec, sched: &mut Scheduler<Event>) {
        self.reset_offsets(now, group, to, sched);
    }
}

impl<H: History> KafkaModel<'_, H> {
    /// A consumer process starts (again): a new member, which joins the group at its first poll().
    pub(super) fn start_consumer(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        if self.world.restart(self.groups[group].consumers[index as usize].node) {
            self.consumer_started(now, group, index, sched);
        }
    }

    /// [`Self::start_consumer`] once its node is up: a new member, with a fresh client.
    pub(super) fn consumer_started(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        let node = self.groups[group].consumers[index as usize].node;
        let interval = if self.is_share(group) { d::KAFKA_SHARE_HEARTBEAT_INTERVAL } else { self.heartbeat_interval() };
        let c = &mut self.groups[group].consumers[index as usize];
        *c = Consumer::new(node, self.next_member, &self.cfg, self.brokers);
        self.delayed_fetches.consumer_started(group, index);
        self.next_member += 1;
        c.next_auto_commit = now.after(self.cfg.auto_commit_interval);
        c.heartbeat_due = now.after(interval);
        self.world.timer_in(sched, node, interval, Timer::HeartbeatTick);
        self.poll(now, group, index, sched);
    }

    /// A consumer shuts down cleanly (`close()`): it commits the positions of what it processed
    /// (records fetched or handed to it but not processed are read again by the next owner), leaves
    /// the group, so that the group rebalances at once, and its process ends.
    pub(super) fn stop_consumer(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        if !self.world.is_up(self.groups[group].consumers[index as usize].node) {
            return;
        }
        if self.is_share(group) {
            self.share_stop(group, index, sched);
            return;
        }
        let c = &mut self.groups[group].consumers[index as usize];
        if c.assigned {
            // Its partitions are revoked as it closes (`onPartitionsRevoked` in `close()`): their
            // pause starts.
            let g = &mut self.groups[group];
            for &partition in &g.consumers[index as usize].partitions {
                if g.owner[partition as usize] == Some(index) {
                    g.owner[partition as usize] = None;
                }
                self.history.record(now, Observation::PartitionRevoked { group, partition });
            }
            let c = &mut self.groups[group].consumers[index as usize];
            // The first unprocessed offset of each partition: what the application still holds
            // was counted as consumed when poll() handed it over.
            let held: Vec<(u32, Offset)> = c.app.held().map(|r| (r.slot, r.offset)).collect();
            for (slot, offset) in held {
                let pos = &mut c.consumed[slot as usize];
                *pos = (*pos).min(offset);
            }
            self.commit(group, index, false, sched);
        }
        let c = &self.groups[group].consumers[index as usize];
        let (node, member) = (c.node, c.member);
        self.world.send(sched, node, self.coord, Msg::LeaveGroup { group, member });
        self.consumer_down(group, index);
    }

    /// The consumer's process is gone: its volatile state (the fetch buffer, the records in the
    /// application's hands, the heartbeat thread) with it.
    pub(super) fn consumer_down(&mut self, group: GroupIdx, index: u32) {
        if self.world.crash(self.groups[group].consumers[index as usize].node) {
            self.consumer_crashed(group, index);
        }
    }

    /// [`Self::consumer_down`] once its node is down. A crash (`kill -9`): the coordinator notices
    /// only when the member's session times out.
    pub(super) fn consumer_crashed(&mut self, group: GroupIdx, index: u32) {
        let c = &mut self.groups[group].consumers[index as usize];
        c.app.crash();
        c.revoke();
        c.pending = None;
        c.acked_epoch = 0;
        c.joining = false;
        c.rejoin_pending = false;
        c.waiting_in_poll = false;
        c.commit_sync_pending = false;
        c.auto_commit_timer = None;
    }

    /// The offset where `spec` points on partition `p`: the log start, the high watermark (the end
    /// a consumer can read to), or the first record published at or after a time
    /// (`offsetsForTimes`; the high watermark if there is none).
    pub(super) fn offset_for(&self, p: u32, spec: OffsetSpec) -> Offset {
        let log = &self.partitions[p as usize];
        let hw = self.repl[p as usize].hw;
        match spec {
            OffsetSpec::Earliest => log.start_offset.min(hw),
            OffsetSpec::Latest => hw,
            OffsetSpec::Time(t) => {
                (log.start_offset..hw).find(|&o| log.get(o).is_some_and(|r| r.published_at >= t)).unwrap_or(hw)
            }
        }
    }

    /// Moves the group's progress on `p` up to `to`: records between are skipped, never to be
    /// processed by the group (reported deleted for it, as `auto.offset.reset` skipping does).
    pub(super) fn skip_to(&mut self, now: SimTime, group: GroupIdx, p: u32, to: Offset) {
        let from = self.groups[group].progress.frontier(p as usize);
        let log = &self.partitions[p as usize];
        if from.max(log.start_offset) < to.min(log.end_offset()) {
            // The reset first, then what it skipped (the recorder counts the deletions under it).
            self.history.record(now, Observation::OffsetReset { group, partition: p, from, to });
        }
        self.skip_frontier(now, group, p, to);
    }

    /// Moves the group's progress in `p` up to `to`: the records it jumps over that the log still
    /// holds are deleted for this group (never processed). Nothing if the group is already there.
    pub(super) fn skip_frontier(&mut self, now: SimTime, group: GroupIdx, p: u32, to: Offset) {
        let from = self.groups[group].progress.frontier(p as usize);
        if to <= from {
            return;
        }
        let log = &self.partitions[p as usize];
        for o in from.max(log.start_offset)..to.min(log.end_offset()) {
            if let Some(r) = log.get(o) {
                self.history.record(now, Observation::Deleted { id: r.id(), group: Some(group) });
            }
        }
        self.groups[group].progress.advance(p as usize, to);
    }

    /// At the group's first assignment: each partition where it has no position gets one from its
    /// `from` (`auto.offset.reset`). A late group's client reports the seek.
    pub(super) fn resolve_positions(&mut self, now: SimTime, group: GroupIdx) {
        let spec = self.groups[group].from;
        let mut any = false;
        for p in 0..self.cfg.partitions {
            if self.groups[group].committed.is_set(p) {
                continue;
            }
            any = true;
            let to = self.offset_for(p, spec);
            // What lies before is the group's to skip only if published since it subscribed; the
            // recorder and the checker know which (it is owed what was sent from its start on).
            self.skip_to(now, group, p, to);
            self.groups[group].committed.reset(p, to);
        }
        if any && now > SimTime::ZERO {
            self.client(now, ClientEvent::Sought { group, to_end: spec == OffsetSpec::Latest });
        }
    }

    /// `kafka-consumer-groups --reset-offsets --to-... --execute`, as a team runs it: Kafka refuses
    /// a reset while the group has members, so the consumers are stopped (each commits what it
    /// processed and leaves), the offsets are reset once the coordinator has seen the last member
    /// go, and the same consumers start again. The same round under every rebalance protocol.
    fn reset_offsets(&mut self, now: SimTime, group: GroupIdx, spec: OffsetSpec, sched: &mut Scheduler<Event>) {
        if self.is_share(group) {
            self.share_reset_offsets(now, group, spec, sched);
            return;
        }
        let running = self.operations.running(group);
        let stopped: Vec<u32> =
            (0..running).filter(|&c| self.world.is_up(self.groups[group].consumers[c as usize].node)).collect();
        for &c in &stopped {
            self.stop_consumer(now, group, c, sched);
        }
        let g = &mut self.groups[group];
        match &mut g.pending_reset {
            // A second reset before the first could run: the later target wins.
            Some((to, more)) => {
                *to = spec;
                more.extend(stopped);
                more.sort_unstable();
                more.dedup();
            }
            None => g.pending_reset = Some((spec, stopped)),
        }
        if self.coordinator.members(group).is_empty() {
            self.apply_reset(now, group, sched);
        }
    }

    /// The group is empty: its committed offsets move to the reset's target on every partition,
    /// and the consumers stopped for it start again (a new group forming, which reads from there).
    pub(super) fn apply_reset(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        let Some((spec, stopped)) = self.groups[group].pending_reset.take() else {
            return;
        };
        self.client(now, ClientEvent::Sought { group, to_end: spec == OffsetSpec::Latest });
        for p in 0..self.cfg.partitions {
            let to = self.offset_for(p, spec);
            self.skip_to(now, group, p, to);
            let g = &mut self.groups[group];
            g.committed.reset(p, to);
            // Rewound: the group's progress goes back with it, so the run lasts until the replay
            // is done.
            g.progress.rewind(p as usize, to);
        }
        let g = &mut self.groups[group];
        g.skipped.clear();
        g.skipped_uncommitted = 0;
        g.fetched_sum = g.committed.total();
        self.report_lag(now, group);
        for c in stopped {
            self.start_consumer(now, group, c, sched);
        }
    }

    /// `group.initial.rebalance.delay.ms` passed since a group began forming: if members kept
    /// joining, wait once more (as Kafka's `InitialDelayedJoin` does), else assign.
    pub(super) fn initial_delay_over(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        round: u64,
        sched: &mut Scheduler<Event>,
    ) {
        let ready = self.coordinator.initial_delay_over(group, round, &mut self.coord_out);
        self.apply_coordinator(now, sched);
        if ready {
            self.complete_rebalance(now, group, sched);
        }
    }
}
