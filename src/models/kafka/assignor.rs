//! Partition assignors: which member of a group gets which partition of the one topic. Members
//! are given in member-id order (the order Kafka's client-side assignors sort them in); each
//! function returns one list of partitions per member, in that order.
//!
//! * [`range_assign`]: `RangeAssignor` (eager).
//! * [`round_robin_assign`]: `RoundRobinAssignor` (eager).
//! * [`sticky_assign`]: the balanced, sticky target of `CooperativeStickyAssignor` (KIP-429; the
//!   constrained case of `AbstractStickyAssignor`, every member subscribed to the one topic), which
//!   the model also uses for the consumer protocol's server-side `UniformAssignor` (its homogeneous
//!   case is the same rule: keep what you own up to your quota, hand out the rest).

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

/// Kafka's `RoundRobinAssignor` for one topic every member subscribes to: partition `p` goes to
/// the `p % C`-th member.
pub fn round_robin_assign(partitions: u32, consumers: u32) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); consumers as usize];
    for p in 0..partitions {
        out[(p % consumers) as usize].push(p);
    }
    out
}

/// The sticky, balanced target (`AbstractStickyAssignor.constrainedAssign`): with `P` partitions
/// and `C` members, each member ends with `P / C` partitions, and `P % C` of them with one more.
/// `owned[i]` is what member `i` owns now (sorted ascending; a partition owned twice counts for the
/// first member only). In member order, a member keeps its lowest owned partitions up to its quota:
/// `P / C + 1` while members with the larger quota are still wanted and it owns that many, else
/// `P / C`; what it owns beyond is to be revoked. The partitions nobody keeps, in ascending order,
/// then go one at a time, cycling in member order, to the members below `P / C`, and once none is,
/// to members at `P / C` while the larger quota is still wanted.
pub fn sticky_assign(partitions: u32, owned: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let c = owned.len();
    if c == 0 {
        return Vec::new();
    }
    let min_quota = partitions as usize / c;
    let mut over = partitions as usize % c;
    let mut taken = vec![false; partitions as usize];
    let mut out: Vec<Vec<u32>> = Vec::with_capacity(c);
    for o in owned {
        let mine: Vec<u32> = o.iter().copied().filter(|&p| p < partitions && !taken[p as usize]).collect();
        let keep = if mine.len() > min_quota && over > 0 {
            over -= 1;
            min_quota + 1
        } else {
            mine.len().min(min_quota)
        };
        let kept: Vec<u32> = mine.into_iter().take(keep).collect();
        for &p in &kept {
            taken[p as usize] = true;
        }
        out.push(kept);
    }
    let mut free = (0..partitions).filter(|&p| !taken[p as usize]);
    // Members below the minimum quota, cycling in member order.
    loop {
        let mut gave = false;
        for list in out.iter_mut().filter(|l| l.len() < min_quota) {
            if let Some(p) = free.next() {
                list.push(p);
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    // Then one more each to members at the minimum, while the larger quota is still wanted.
    for list in out.iter_mut() {
        if over == 0 {
            break;
        }
        if list.len() == min_quota
            && let Some(p) = free.next()
        {
            list.push(p);
            over -= 1;
        }
    }
    for list in &mut out {
        list.sort_unstable();
    }
    out
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
    fn round_robin_assignor_worked_by_hand() {
        // 7 partitions over 3 members: 0,3,6 / 1,4 / 2,5 (range would give 0-2 / 3-4 / 5-6).
        assert_eq!(round_robin_assign(7, 3), vec![vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
        assert_eq!(round_robin_assign(2, 4), vec![vec![0], vec![1], vec![], vec![]]);
        assert_eq!(round_robin_assign(6, 6), range_assign(6, 6));
    }

    #[test]
    fn sticky_assignor_from_nothing_is_balanced() {
        // No one owns anything: partitions dealt one at a time in member order.
        assert_eq!(sticky_assign(7, &[vec![], vec![], vec![]]), vec![vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
    }

    #[test]
    fn sticky_assignor_moves_worked_by_hand() {
        // A rolling restart, 6 partitions: member 3 (owning 3) left; 5 members remain. Quotas 1 and
        // 2 (one member may have 2). Everyone keeps its partition; 3 is unowned and goes to the
        // first member at the minimum: member 0.
        let owned = [vec![0], vec![1], vec![2], vec![4], vec![5]];
        assert_eq!(sticky_assign(6, &owned), vec![vec![0, 3], vec![1], vec![2], vec![4], vec![5]]);
        // The restarted consumer joins as a new (last) member: quota 1 each. Member 0 keeps 0 and
        // must give up 3 (revoked), which goes to the newcomer; nobody else moves.
        let owned = [vec![0, 3], vec![1], vec![2], vec![4], vec![5], vec![]];
        assert_eq!(sticky_assign(6, &owned), vec![vec![0], vec![1], vec![2], vec![4], vec![5], vec![3]]);
        // Scaling 2 -> 3 over 6 partitions: each of the two keeps its lowest two; the freed 2 and 5
        // go to the newcomer. Range would move 4 of 6 partitions (0-1 / 2-3 / 4-5), sticky moves 2.
        let owned = [vec![0, 1, 2], vec![3, 4, 5], vec![]];
        assert_eq!(sticky_assign(6, &owned), vec![vec![0, 1], vec![3, 4], vec![2, 5]]);
        // Uneven: 5 partitions, 2 members, the first owns 4: it keeps 3 (one member may have 3).
        let owned = [vec![0, 1, 2, 3], vec![4]];
        assert_eq!(sticky_assign(5, &owned), vec![vec![0, 1, 2], vec![3, 4]]);
        // A partition claimed twice counts for the first claimant only.
        let owned = [vec![0], vec![0, 1]];
        assert_eq!(sticky_assign(2, &owned), vec![vec![0], vec![1]]);
    }
}
