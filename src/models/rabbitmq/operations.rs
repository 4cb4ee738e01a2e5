//! The operator's actions on a group's queue and consumers (`[[operations]]`, and a queue bound
//! late), and the consumer process starting and stopping that they, and faults, are made of.

use super::*;
use crate::scenario::operations::OffsetSpec;

/// What RabbitMQ does for the operator (the harness, `models::operating`, applies the schedule).
impl<H: History> OperatorVerbs for RabbitModel<'_, H> {
    type Event = Event;

    fn operations(&mut self) -> &mut OperationSchedule {
        &mut self.operations
    }

    fn start_consumer(&mut self, _now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        self.start_consumer(group, index, sched);
    }

    /// The operator stops a consumer: its connection closes as if its process died.
    fn stop_consumer(&mut self, _now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        self.consumer_down(group, index, sched);
    }

    /// `queue.declare` and `queue.bind`: from now on the exchange routes a copy here.
    fn group_starts(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        self.bound[group] = true;
        if self.quorum.is_some() {
            let (q, ctx, mut fx) = self.quorum_parts(sched);
            q.bind(now, group, &ctx, &mut fx);
        }
    }

    /// A stream restarts its consumer at the offset spec. A queue has nothing to rewind: what was
    /// acknowledged is deleted, and nothing is replayed.
    fn reset_offsets(&mut self, now: SimTime, group: GroupIdx, to: OffsetSpec, sched: &mut Scheduler<Event>) {
        if self.stream.is_some() {
            self.stream_reset(now, group, to, sched);
        }
    }
}

impl<H: History> RabbitModel<'_, H> {
    /// A consumer process starts: it connects and subscribes (`basic.consume`).
    pub(super) fn start_consumer(&mut self, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        let node = self.consumers[group][index as usize].node;
        if self.world.restart(node) {
            if self.quorum.is_none() {
                self.consumers[group][index as usize].home = Some(client_node(self.cfg.consumer_node));
            }
            self.reconnect(group, index, sched);
        }
    }

    /// The consumer's process ends: killed (`kill -9`, its operating system closes the connection)
    /// or shut down cleanly (it closes the connection itself). The node sees the same either way:
    /// the connection closes and its unacknowledged deliveries are requeued, flagged redelivered.
    /// What the application held is gone (with automatic acknowledgement, lost: the node forgot
    /// those messages when it sent them).
    pub(super) fn consumer_down(&mut self, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        if self.world.crash(self.consumers[group][index as usize].node) {
            self.consumer_crashed(group, index, sched);
        }
    }

    /// [`Self::consumer_down`] once its node is down.
    pub(super) fn consumer_crashed(&mut self, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        let home = client_node(self.cfg.consumer_node);
        let (c, _, mut out) = self.consumer_parts(group, index, sched);
        c.crashed(home, &mut out);
    }
}
