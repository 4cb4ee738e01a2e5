//! Consumer groups: the coordinator's membership of each group (the assignors are in
//! `assignor.rs`), and the committed offsets that define the group's lag.

use super::assignor::sticky_assign;
use crate::models::log::Offset;
use crate::world::Deadline;

/// The group coordinator's membership of one group: members by member id, the generation, and
/// whether a rebalance is waiting for members to rejoin (classic protocol), or, under the consumer
/// protocol, whether some member does not hold its target yet.
#[derive(Debug, Default)]
pub struct Coordinator {
    /// Members in member-id order (what every assignor deals in), found by binary search: a
    /// heartbeat of a group of thousands costs no scan.
    members: Vec<Member>,
    pub generation: u32,
    pub rebalancing: bool,
    /// Counts rebalances, so that a stale rebalance timeout is recognised.
    pub round: u64,
}

#[derive(Debug)]
struct Member {
    id: u64,
    consumer: u32,
    joined: bool,
    /// When the coordinator drops the member unless it hears from it (`session.timeout.ms`).
    session: Deadline,
    /// The consumer protocol (KIP-848): the member's target assignment, what the coordinator has
    /// given it (`current`, sorted), what it must still give up (`revoking`), and the epoch of the
    /// last assignment sent (bumped when `current` changes).
    target: Vec<u32>,
    current: Vec<u32>,
    revoking: Vec<u32>,
    epoch: u32,
}

impl Member {
    fn new(id: u64, consumer: u32, joined: bool) -> Self {
        Member {
            id,
            consumer,
            joined,
            session: Deadline::default(),
            target: Vec::new(),
            current: Vec::new(),
            revoking: Vec::new(),
            epoch: 0,
        }
    }
}

impl Coordinator {
    /// A group whose members already joined (the state before generation 1 is handed out).
    pub fn stable(members: Vec<(u64, u32)>) -> Self {
        Coordinator {
            members: {
                let mut ms: Vec<Member> =
                    members.into_iter().map(|(id, consumer)| Member::new(id, consumer, true)).collect();
                ms.sort_by_key(|m| m.id);
                ms
            },
            generation: 0,
            rebalancing: true,
            round: 0,
        }
    }

    /// Members (id, consumer) in member-id order: the order the assignors hand out partitions in.
    pub fn members_sorted(&self) -> Vec<(u64, u32)> {
        self.members.iter().map(|m| (m.id, m.consumer)).collect()
    }

    fn index(&self, member: u64) -> Result<usize, usize> {
        self.members.binary_search_by_key(&member, |m| m.id)
    }

    /// Adds a member without starting a rebalance (the consumer protocol: its first heartbeat).
    pub fn add(&mut self, member: u64, consumer: u32) {
        if let Err(i) = self.index(member) {
            self.members.insert(i, Member::new(member, consumer, true));
        }
    }

    pub fn consumer_of(&self, member: u64) -> Option<u32> {
        self.index(member).ok().map(|i| self.members[i].consumer)
    }

    /// Commits count only from a current member of the current generation.
    pub fn accepts_commit(&self, member: u64, generation: u32) -> bool {
        generation == self.generation && self.consumer_of(member).is_some()
    }

    /// A current member's session deadline.
    pub fn session(&mut self, member: u64) -> Option<&mut Deadline> {
        self.index(member).ok().map(|i| &mut self.members[i].session)
    }

    /// Starts a rebalance unless one is under way: every member must join again. True if started.
    pub fn begin_rebalance(&mut self) -> bool {
        if self.rebalancing {
            return false;
        }
        self.rebalancing = true;
        self.round += 1;
        self.members.iter_mut().for_each(|m| m.joined = false);
        true
    }

    /// A JoinGroup: a new member is added, which starts a rebalance. True if one started.
    pub fn join(&mut self, member: u64, consumer: u32) -> bool {
        let started = self.begin_rebalance();
        match self.index(member) {
            Ok(i) => self.members[i].joined = true,
            Err(i) => self.members.insert(i, Member::new(member, consumer, true)),
        }
        started
    }

    pub fn all_joined(&self) -> bool {
        self.rebalancing && self.members.iter().all(|m| m.joined)
    }

    /// Removes a member (left, or its session expired); false if it was not one.
    pub fn remove(&mut self, member: u64) -> bool {
        let Ok(i) = self.index(member) else {
            return false;
        };
        self.members.remove(i);
        true
    }

    /// The rebalance timeout: members that did not rejoin are removed (their session timers, when
    /// they fire, find no member).
    pub fn drop_unjoined(&mut self) {
        self.members.retain(|m| m.joined);
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Completes the rebalance: the next generation, and its members' consumers in member-id
    /// order (the order the range assignor hands out partitions in).
    pub fn next_generation(&mut self) -> (u32, Vec<u32>) {
        self.generation += 1;
        self.rebalancing = false;
        (self.generation, self.members.iter().map(|m| m.consumer).collect())
    }
}

/// The consumer protocol (KIP-848): the coordinator computes each member's target and hands it out
/// piece by piece in heartbeat responses; a partition goes to its new owner only once its old owner
/// reported it gave it up (`ConsumerGroup`'s `CurrentAssignmentBuilder`).
impl Coordinator {
    /// Membership changed: a new target for every member, sticky with respect to the previous
    /// targets (the server-side `uniform` assignor, modelled by [`sticky_assign`]). Members in
    /// member-id order.
    pub fn compute_targets(&mut self, partitions: u32) {
        let owned: Vec<Vec<u32>> = self.members.iter().map(|m| m.target.clone()).collect();
        let targets = sticky_assign(partitions, &owned);
        for (m, t) in self.members.iter_mut().zip(targets) {
            m.target = t;
        }
    }

    /// Sets the first assignment of a group formed before the run: every member gets its target.
    pub fn take_targets(&mut self) -> Vec<(u32, Vec<u32>)> {
        self.members
            .iter_mut()
            .map(|m| {
                m.current = m.target.clone();
                m.epoch += 1;
                (m.consumer, m.current.clone())
            })
            .collect()
    }

    /// A member's heartbeat: it owns `owned` with assignment epoch `acked` applied. Partitions it was
    /// asked to give up and no longer owns are free again (only once it applied the latest
    /// assignment: an older one says nothing of what it was last asked). Then: what it owns beyond
    /// its target is to be revoked; once it revoked all of that, it gets the partitions of its
    /// target that no other member holds. Returns the epoch and assignment to answer with.
    pub fn reconcile(&mut self, member: u64, owned: &[u32], acked: u32) -> Option<(u32, Vec<u32>)> {
        let i = self.index(member).ok()?;
        let m = &mut self.members[i];
        if acked == m.epoch {
            m.revoking.retain(|p| owned.contains(p));
        }
        let before = m.current.len();
        let target = &m.target;
        let (keep, gone): (Vec<u32>, Vec<u32>) = m.current.iter().partition(|p| target.contains(p));
        let mut changed = !gone.is_empty();
        m.revoking.extend(gone);
        m.current = keep;
        if self.members[i].revoking.is_empty() {
            let held = |p: u32| self.members.iter().any(|o| o.current.contains(&p) || o.revoking.contains(&p));
            let add: Vec<u32> = self.members[i].target.iter().copied().filter(|&p| !held(p)).collect();
            let m = &mut self.members[i];
            changed |= !add.is_empty();
            m.current.extend(add);
            m.current.sort_unstable();
        }
        let m = &mut self.members[i];
        if changed || m.current.len() != before {
            m.epoch += 1;
        }
        Some((m.epoch, m.current.clone()))
    }

    /// Every member holds exactly its target and nothing is being revoked.
    pub fn reconciled(&self) -> bool {
        self.members.iter().all(|m| m.revoking.is_empty() && m.current == m.target)
    }
}

/// The group coordinator's view of one group: committed offsets per partition.
#[derive(Debug, Clone)]
pub struct CommittedOffsets {
    offsets: Vec<Offset>,
    /// Per partition: the group has a position there (a commit, or one its reset policy chose).
    set: Vec<bool>,
    sum: u64,
}

impl CommittedOffsets {
    pub fn new(partitions: u32) -> Self {
        CommittedOffsets { offsets: vec![0; partitions as usize], set: vec![false; partitions as usize], sum: 0 }
    }

    /// Whether the group has a position on `partition`; without one, the group's `auto.offset.reset`
    /// (its `from`) decides where it starts.
    pub fn is_set(&self, partition: u32) -> bool {
        self.set[partition as usize]
    }

    /// Sets the position on `partition`, in either direction: the reset policy of a group without
    /// one, or an operator's `--reset-offsets`.
    pub fn reset(&mut self, partition: u32, offset: Offset) {
        let cur = &mut self.offsets[partition as usize];
        self.sum = self.sum - *cur + offset;
        *cur = offset;
        self.set[partition as usize] = true;
    }

    /// Records a member's commit. Within a generation a member's positions only move forward, so a
    /// commit below the current offset (one overtaken on the way) is ignored. Returns true if it moved.
    pub fn commit(&mut self, partition: u32, offset: Offset) -> bool {
        self.set[partition as usize] = true;
        let cur = &mut self.offsets[partition as usize];
        if offset > *cur {
            self.sum += offset - *cur;
            *cur = offset;
            true
        } else {
            false
        }
    }

    pub fn get(&self, partition: u32) -> Offset {
        self.offsets[partition as usize]
    }

    /// Consumer lag summed over partitions, given the sum of log end offsets.
    pub fn lag(&self, end_offsets_sum: u64) -> u64 {
        end_offsets_sum.saturating_sub(self.sum)
    }

    /// The log was truncated below a committed offset (a new leader with a shorter log): the
    /// offset moves back to the new end, where the consumer resumes.
    pub fn truncate(&mut self, partition: u32, end: Offset) {
        let cur = &mut self.offsets[partition as usize];
        if *cur > end {
            self.sum -= *cur - end;
            *cur = end;
        }
    }

    /// Sum of committed offsets over partitions.
    pub fn total(&self) -> u64 {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_protocol_hands_a_partition_on_only_once_released() {
        // Two members: dealt 0,2 and 1,3. A third joins: quotas 2, 1, 1; the first keeps both, the
        // second keeps 1 and must give up 3, which goes to the newcomer.
        let mut c = Coordinator::default();
        c.add(1, 0);
        c.add(2, 1);
        c.compute_targets(4);
        assert_eq!(c.reconcile(1, &[], 0), Some((1, vec![0, 2])));
        assert_eq!(c.reconcile(2, &[], 0), Some((1, vec![1, 3])));
        assert!(c.reconciled());
        c.add(3, 2);
        c.compute_targets(4);
        assert!(!c.reconciled());
        assert_eq!(c.reconcile(3, &[], 0), Some((0, vec![])), "3 is still the second member's");
        assert_eq!(c.reconcile(2, &[1, 3], 1), Some((2, vec![1])), "asked to give up 3");
        // It reports 3 still owned, under the epoch before: not released.
        assert_eq!(c.reconcile(3, &[], 0), Some((0, vec![])));
        assert_eq!(c.reconcile(2, &[1], 2), Some((2, vec![1])), "revoked and acknowledged");
        assert_eq!(c.reconcile(3, &[], 0), Some((1, vec![3])));
        assert_eq!(c.reconcile(1, &[0, 2], 1), Some((1, vec![0, 2])));
        assert!(c.reconciled());
    }

    #[test]
    fn lag_is_end_minus_committed() {
        let mut c = CommittedOffsets::new(2);
        assert!(c.commit(0, 5));
        assert!(!c.commit(0, 3), "offsets never move back");
        assert!(c.commit(1, 2));
        assert_eq!(c.lag(10 + 4), 7);
    }
}
