//! The operator's actions on a group's queue and consumers (`[[operations]]`, and a queue bound
//! late), and the consumer process starting and stopping that they, and faults, are made of.

use super::*;

impl<H: History> RabbitModel<'_, H> {
    #[cold]
    #[inline(never)]
    pub(super) fn operation(&mut self, now: SimTime, i: usize, sched: &mut Scheduler<Event>) {
        let Operation { group, action, .. } = self.operations[i];
        self.operations_done = i + 1;
        match action {
            OperationAction::Start => {
                // `queue.declare` and `queue.bind`: from now on the exchange routes a copy here.
                self.bound[group] = true;
                if self.quorum.is_some() {
                    let (q, ctx, mut fx) = self.quorum_parts(sched);
                    q.bind(now, group, &ctx, &mut fx);
                }
                self.scale(now, group, self.planned[group], sched);
            }
            OperationAction::Scale { consumers } => self.scale(now, group, consumers, sched),
            OperationAction::Stop { consumer } => self.consumer_down(group, consumer, sched),
            OperationAction::Restart { consumer } => self.start_consumer(group, consumer, sched),
            // A stream restarts its consumer at the offset spec.
            OperationAction::ResetOffsets { to } if self.stream.is_some() => self.stream_reset(now, group, to, sched),
            // A queue has nothing to rewind: what was acknowledged is deleted. Nothing is replayed.
            OperationAction::ResetOffsets { .. } => {}
        }
    }

    /// The group runs its first `n` consumers: new ones subscribe, the ones above stop. No other
    /// consumer pauses.
    fn scale(&mut self, _now: SimTime, group: GroupIdx, n: u32, sched: &mut Scheduler<Event>) {
        let was = std::mem::replace(&mut self.running[group], n);
        for c in was..n {
            self.start_consumer(group, c, sched);
        }
        for c in n..was {
            self.consumer_down(group, c, sched);
        }
    }

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
            let home = client_node(self.cfg.consumer_node);
            let (c, _, mut out) = self.consumer_parts(group, index, sched);
            c.crashed(home, &mut out);
        }
    }
}
