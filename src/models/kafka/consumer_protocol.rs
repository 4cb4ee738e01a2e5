//! The consumer group protocol (KIP-848, `group.protocol = consumer`): no JoinGroup/SyncGroup
//! barrier. Each member heartbeats every `group.consumer.heartbeat.interval.ms` (5 s) with the
//! partitions it owns; the coordinator recomputes every member's target when membership changes
//! (a first heartbeat, a leave heartbeat, a session expiry) and answers each heartbeat with the
//! member's next assignment: first without the partitions it must give up, then, once it reported
//! them gone, with the free partitions of its target. A member applies an assignment at its next
//! `poll()` and heartbeats at once after applying it (the client's ACKNOWLEDGING state), as it
//! does when it joins and when it leaves; otherwise only on its interval. No
//! `group.initial.rebalance.delay.ms`: that is the classic coordinator's.

use super::*;

impl<H: History> KafkaModel<'_, H> {
    /// The coordinator hears a heartbeat ([`CoordinatorNode::consumer_heartbeat`]); a join first
    /// settles the positions of a group that has none (its reset policy).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consumer_heartbeat_arrives(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        member: u64,
        owned: Vec<u32>,
        acked: u32,
        sched: &mut Scheduler<Event>,
    ) {
        if self.coordinator.joins(group, member, acked) == Some(true) {
            self.resolve_positions(now, group);
        }
        let committed = &self.groups[group].committed;
        self.coordinator.consumer_heartbeat(
            now,
            group,
            consumer,
            member,
            &owned,
            acked,
            committed,
            &mut self.coord_out,
        );
        self.apply_coordinator(now, sched);
    }

    /// A member left or its session expired: new targets for the others
    /// ([`CoordinatorNode::targets_changed`]), after the positions of a group that has none.
    pub(super) fn membership_changed(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        self.resolve_positions(now, group);
        self.coordinator.targets_changed(group, &mut self.coord_out);
        self.apply_coordinator(now, sched);
    }

    /// Member: the coordinator's answer ([`Consumer::consumer_heartbeat_heard`]): lost partitions
    /// are nobody's in the group's record; a consumer blocked in an idle `poll()` acts at once.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn consumer_heartbeat_response(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        partitions: Vec<(u32, Offset)>,
        fenced: bool,
        sched: &mut Scheduler<Event>,
    ) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        let poll_now = match c.consumer_heartbeat_heard(epoch, partitions, fenced) {
            consumer::Answered::Nothing => false,
            consumer::Answered::Lost { partitions, poll_now } => {
                self.given_up(now, group, consumer, &partitions);
                self.recount_fetched(group);
                poll_now
            }
            consumer::Answered::Pending { poll_now } => poll_now,
        };
        if poll_now {
            self.poll(now, group, consumer, sched);
        }
    }
}
