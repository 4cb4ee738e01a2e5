//! Incremental rebalancing, member side: cooperative-sticky (KIP-429) and the consumer protocol
//! (KIP-848) both hand a member an assignment that it applies at its next `poll()`, where
//! `onPartitionsRevoked` and `onPartitionsAssigned` run: it keeps processing the partitions it
//! keeps, commits and gives up the ones it lost, and starts on the new ones from their committed
//! offsets. Cooperatively, a member that gave something up rejoins at once (the second round
//! hands those partitions on); under the consumer protocol it heartbeats at once to report it.
//! The member's side is its handler ([`Consumer::apply_pending`]); here is the harness's glue: the
//! group's record of owners, the observations, the fetched positions recounted, the rejoin.

use super::*;

impl<H: History> KafkaModel<'_, H> {
    /// At `poll()`, with the application idle: the member applies the assignment received
    /// ([`Consumer::apply_pending`]); the group's record of owners follows, and a cooperative
    /// member that gave partitions up rejoins.
    pub(super) fn apply_pending(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        if self.groups[group].consumers[consumer as usize].pending.is_none() {
            // The usual poll: nothing to apply, no parts to gather for the handler.
            return;
        }
        let (protocol, auto) = (self.protocol(), self.cfg.enable_auto_commit);
        let generation = self.coordinator.members(group).generation;
        let applied = {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.apply_pending(now, group, consumer, protocol, generation, auto, around, &mut out)
        };
        let consumer::Applied::Reassigned { revoked, added, committed, rejoin } = applied else { return };
        self.count_commit(committed);
        self.given_up(now, group, consumer, &revoked);
        for &partition in &added {
            self.groups[group].owner[partition as usize] = Some(consumer);
            self.obs(now, Observation::PartitionAssigned { group, partition });
        }
        self.recount_fetched(group);
        self.report_lag(now, group);
        if rejoin {
            self.rejoin(group, consumer, sched);
        }
    }

    /// A member gave up (or lost) these partitions: those the group's record still has as its own
    /// are nobody's now.
    pub(super) fn given_up(&mut self, now: SimTime, group: GroupIdx, consumer: u32, partitions: &[u32]) {
        for &partition in partitions {
            let owner = &mut self.groups[group].owner[partition as usize];
            if *owner == Some(consumer) {
                *owner = None;
            }
            self.obs(now, Observation::PartitionRevoked { group, partition });
        }
    }

    /// Partitions no running member holds any more (their owner left or died) stop being owned:
    /// their pause starts when the coordinator removes the member.
    pub(super) fn release_orphans(&mut self, now: SimTime, group: GroupIdx) {
        let holder = self.holders(group);
        for partition in 0..self.cfg.partitions {
            let o = &mut self.groups[group].owner[partition as usize];
            if o.is_some() && holder[partition as usize] != *o {
                *o = None;
                self.obs(now, Observation::PartitionRevoked { group, partition });
            }
        }
    }

    /// The group's fetched positions summed (what the unacked gauge counts from): each held
    /// partition at its holder's fetch position, the others at the committed offset.
    pub(super) fn recount_fetched(&mut self, group: GroupIdx) {
        let g = &self.groups[group];
        let mut pos: Vec<Offset> = (0..self.cfg.partitions).map(|p| g.committed.get(p)).collect();
        for c in &g.consumers {
            if c.assigned && self.world.is_up(c.node) {
                for (slot, &p) in c.partitions.iter().enumerate() {
                    pos[p as usize] = c.fetch_pos[slot];
                }
            }
        }
        let sum = pos.iter().sum();
        self.groups[group].fetched_sum = sum;
    }
}
