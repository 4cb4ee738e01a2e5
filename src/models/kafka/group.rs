//! Consumer groups: which consumer owns which partition (the range assignor), and the committed
//! offsets that define the group's lag.

use crate::models::log::Offset;
use crate::world::Deadline;

/// Kafka's `RangeAssignor` for one topic: partitions in order, consumers in member order; each gets
/// `P / C` consecutive partitions and the first `P % C` consumers one more. Consumers beyond the
/// partition count get nothing and stay idle, as in Kafka.
pub fn range_assign(partitions: u32, consumers: u32) -> Vec<Vec<u32>> {
    let per = partitions / consumers;
    let extra = partitions % consumers;
    let mut next = 0;
    (0..consumers)
        .map(|c| {
            let n = per + u32::from(c < extra);
            let owned: Vec<u32> = (next..next + n).collect();
            next += n;
            owned
        })
        .collect()
}

/// The group coordinator's membership of one group (classic protocol, eager rebalance): members
/// in join order, the generation, and whether a rebalance is waiting for members to rejoin.
#[derive(Debug, Default)]
pub struct Coordinator {
    /// Members in join order.
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
}

impl Coordinator {
    /// A group whose members already joined (the state before generation 1 is handed out).
    pub fn stable(members: Vec<(u64, u32)>) -> Self {
        Coordinator {
            members: members
                .into_iter()
                .map(|(id, consumer)| Member { id, consumer, joined: true, session: Deadline::default() })
                .collect(),
            generation: 0,
            rebalancing: true,
            round: 0,
        }
    }

    pub fn consumer_of(&self, member: u64) -> Option<u32> {
        self.members.iter().find(|m| m.id == member).map(|m| m.consumer)
    }

    /// Commits count only from a current member of the current generation.
    pub fn accepts_commit(&self, member: u64, generation: u32) -> bool {
        generation == self.generation && self.consumer_of(member).is_some()
    }

    /// A current member's session deadline.
    pub fn session(&mut self, member: u64) -> Option<&mut Deadline> {
        self.members.iter_mut().find(|m| m.id == member).map(|m| &mut m.session)
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
        let started = match self.members.iter().position(|m| m.id == member) {
            Some(_) => self.begin_rebalance(),
            None => {
                let started = self.begin_rebalance();
                self.members.push(Member { id: member, consumer, joined: false, session: Deadline::default() });
                started
            }
        };
        if let Some(m) = self.members.iter_mut().find(|m| m.id == member) {
            m.joined = true;
        }
        started
    }

    pub fn all_joined(&self) -> bool {
        self.rebalancing && self.members.iter().all(|m| m.joined)
    }

    /// Removes a member (left, or its session expired); false if it was not one.
    pub fn remove(&mut self, member: u64) -> bool {
        let Some(i) = self.members.iter().position(|m| m.id == member) else {
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

    /// An operator reset the group's offsets: the current generation is fenced (its members' commits
    /// are refused from now on, so none can overwrite the reset) and every member must rejoin.
    pub fn fence_generation(&mut self) -> bool {
        self.generation += 1;
        self.begin_rebalance()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Completes the rebalance: the next generation, and its members' consumers in member-id
    /// order (the order the range assignor hands out partitions in).
    pub fn next_generation(&mut self) -> (u32, Vec<u32>) {
        self.generation += 1;
        self.rebalancing = false;
        let mut ms: Vec<(u64, u32)> = self.members.iter().map(|m| (m.id, m.consumer)).collect();
        ms.sort_unstable();
        (self.generation, ms.into_iter().map(|(_, c)| c).collect())
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
    fn range_assignor_worked_by_hand() {
        assert_eq!(range_assign(5, 5), vec![vec![0], vec![1], vec![2], vec![3], vec![4]]);
        assert_eq!(range_assign(7, 3), vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]]);
        assert_eq!(range_assign(2, 4), vec![vec![0], vec![1], vec![], vec![]]);
        assert_eq!(range_assign(1, 1), vec![vec![0]]);
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
