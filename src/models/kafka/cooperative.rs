//! Incremental rebalancing, member side: cooperative-sticky (KIP-429) and the consumer protocol
//! (KIP-848) both hand a member an assignment that it applies at its next `poll()`, where
//! `onPartitionsRevoked` and `onPartitionsAssigned` run: it keeps processing the partitions it
//! keeps, commits and gives up the ones it lost, and starts on the new ones from their committed
//! offsets. Cooperatively, a member that gave something up rejoins at once (the second round
//! hands those partitions on); under the consumer protocol it heartbeats at once to report it.

use super::*;

impl Consumer {
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
        self.parked.iter_mut().for_each(Deadline::clear);
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
}

impl<H: History> KafkaModel<'_, H> {
    /// At `poll()`, with the application idle: applies the assignment received.
    pub(super) fn apply_pending(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let kip848 = self.rebalancing == Rebalancing::Consumer;
        let g = &mut self.groups[group];
        let c = &mut g.consumers[consumer as usize];
        let Some((epoch, parts)) = c.pending.take() else { return };
        let generation = if kip848 {
            c.acked_epoch = epoch;
            self.coordinator.members(group).generation
        } else {
            epoch
        };
        let first = !c.assigned;
        let revoked: Vec<u32> = c.partitions.iter().copied().filter(|p| !parts.iter().any(|&(q, _)| q == *p)).collect();
        let added: Vec<u32> = parts.iter().map(|&(q, _)| q).filter(|q| !c.partitions.contains(q)).collect();
        c.generation = generation;
        // Commits refused while the group moved to this generation are sent again.
        for (slot, &p) in c.partitions.iter().enumerate() {
            c.commit_sent[slot] = c.commit_sent[slot].min(g.committed.get(p));
        }
        if !first && revoked.is_empty() && added.is_empty() {
            return;
        }
        if self.cfg.enable_auto_commit && !revoked.is_empty() {
            // What was consumed of the revoked partitions is committed before they go.
            self.commit(group, consumer, false, sched);
        }
        for &partition in &revoked {
            let g = &mut self.groups[group];
            if g.owner[partition as usize] == Some(consumer) {
                g.owner[partition as usize] = None;
            }
            self.obs(now, Observation::PartitionRevoked { group, partition });
        }
        self.groups[group].consumers[consumer as usize].reassign(&parts);
        for &partition in &added {
            self.groups[group].owner[partition as usize] = Some(consumer);
            self.obs(now, Observation::PartitionAssigned { group, partition });
        }
        self.recount_fetched(group);
        self.report_lag(now, group);
        if revoked.is_empty() && added.is_empty() {
            return;
        }
        if kip848 {
            // Reconciled: it acknowledges at once (ACKNOWLEDGING heartbeats now).
            self.send_consumer_heartbeat(group, consumer, sched);
        } else if !revoked.is_empty() {
            // Cooperative: what it gave up must go to its new owners in a second rebalance.
            self.rejoin(group, consumer, sched);
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
