//! The KRaft controller's partition leadership decisions (`PartitionChangeBuilder`,
//! `ReplicationControlManager`): fencing a broker whose session expired, electing leaders, and
//! unfencing a broker that registers again.
//!
//! The controller itself is a separate Raft quorum that we never fail: it decides at once and the
//! brokers learn its decisions at once (metadata propagation takes milliseconds in KRaft). A broker
//! that crashes is fenced when its session expires (`broker.session.timeout.ms`, 9 s); a broker that
//! comes back registers with a new incarnation, which fences the old one at once
//! (`BrokerHeartbeatManager`), then is unfenced.

use super::replica::{BrokerId, Replicas, bit};

/// What an election decided for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elected {
    /// A new leader from the ISR.
    Clean(BrokerId),
    /// No ISR member was alive: an out-of-sync replica (`unclean.leader.election.enable`).
    Unclean(BrokerId),
    /// No eligible replica: the partition is offline until one returns.
    Offline,
}

pub struct Controller {
    /// Per broker: fenced (its session expired, or it is down): not eligible as leader.
    pub fenced: Vec<bool>,
    pub unclean: bool,
}

impl Controller {
    pub fn new(brokers: u32, unclean: bool) -> Self {
        Controller { fenced: vec![false; brokers as usize], unclean }
    }

    /// `PartitionChangeBuilder.electLeader`: the first replica in assignment order that is in the
    /// ISR and not fenced; failing that, with unclean election enabled, the first one not fenced.
    fn elect(&self, r: &Replicas) -> Elected {
        let live = |b: &&BrokerId| !self.fenced[**b as usize];
        if let Some(&b) = r.brokers.iter().filter(live).find(|&&b| r.in_isr(b)) {
            return Elected::Clean(b);
        }
        if self.unclean
            && let Some(&b) = r.brokers.iter().find(live)
        {
            return Elected::Unclean(b);
        }
        Elected::Offline
    }

    /// Applies an election to `r`: the new leader (the epoch bumped) or none. An unclean leader's
    /// ISR is itself alone. Returns the election if the leader changed.
    fn apply(&self, r: &mut Replicas) -> Option<Elected> {
        let e = self.elect(r);
        let leader = match e {
            Elected::Clean(b) | Elected::Unclean(b) => Some(b),
            Elected::Offline => None,
        };
        if let Elected::Unclean(b) = e {
            r.isr = bit(b);
        }
        if leader == r.leader {
            return None;
        }
        r.leader = leader;
        r.epoch += 1;
        Some(e)
    }

    /// Broker `b` is fenced: it leaves every ISR in which another member remains (KRaft keeps the
    /// last member, so that it can be elected cleanly when it returns), and each partition it led
    /// gets a new leader. Returns the partitions whose leader changed, with the election.
    pub fn fence(&mut self, b: BrokerId, parts: &mut [Replicas]) -> Vec<(u32, Elected)> {
        self.fenced[b as usize] = true;
        let mut changed = Vec::new();
        for (p, r) in parts.iter_mut().enumerate() {
            if r.index_of(b).is_none() {
                continue;
            }
            if r.in_isr(b) && r.isr != bit(b) {
                r.isr &= !bit(b);
            }
            if r.leader == Some(b)
                && let Some(e) = self.apply(r)
            {
                changed.push((p as u32, e));
            }
        }
        changed
    }

    /// Broker `b` registered again and caught up with the metadata: it is eligible, and every
    /// offline partition it can lead gets it as leader.
    pub fn unfence(&mut self, b: BrokerId, parts: &mut [Replicas]) -> Vec<(u32, Elected)> {
        self.fenced[b as usize] = false;
        let mut changed = Vec::new();
        for (p, r) in parts.iter_mut().enumerate() {
            if r.leader.is_none()
                && r.index_of(b).is_some()
                && let Some(e) = self.apply(r)
            {
                changed.push((p as u32, e));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_leader_is_replaced_from_the_isr_in_assignment_order() {
        let mut parts = vec![Replicas::new(0, 3, 3)];
        let mut c = Controller::new(3, false);
        let changed = c.fence(0, &mut parts);
        assert_eq!(changed, vec![(0, Elected::Clean(1))]);
        assert_eq!(parts[0].isr, bit(1) | bit(2));
        assert_eq!(parts[0].epoch, 1);
    }

    #[test]
    fn without_unclean_election_a_partition_whose_isr_is_down_waits_for_it() {
        let mut parts = vec![Replicas::new(0, 3, 3)];
        let mut c = Controller::new(3, false);
        c.fence(1, &mut parts);
        c.fence(2, &mut parts);
        assert_eq!(parts[0].isr, bit(0), "the followers left the ISR");
        assert_eq!(c.fence(0, &mut parts), vec![(0, Elected::Offline)]);
        assert_eq!(parts[0].isr, bit(0), "the last member stays in the ISR");
        // A stale follower returns: not eligible.
        assert!(c.unfence(1, &mut parts).is_empty());
        assert_eq!(parts[0].leader, None);
        // The old leader returns: elected cleanly.
        assert_eq!(c.unfence(0, &mut parts), vec![(0, Elected::Clean(0))]);
    }

    #[test]
    fn with_unclean_election_a_returning_stale_replica_leads_alone() {
        let mut parts = vec![Replicas::new(0, 3, 3)];
        let mut c = Controller::new(3, true);
        c.fence(1, &mut parts);
        c.fence(2, &mut parts);
        assert_eq!(c.fence(0, &mut parts), vec![(0, Elected::Offline)]);
        assert_eq!(c.unfence(2, &mut parts), vec![(0, Elected::Unclean(2))]);
        assert_eq!(parts[0].isr, bit(2));
    }
}
