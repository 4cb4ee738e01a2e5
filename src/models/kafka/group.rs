//! Consumer groups: which consumer owns which partition (the range assignor), and the committed
//! offsets that define the group's lag.

use super::log::Offset;

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

/// The group coordinator's view of one group: committed offsets per partition.
#[derive(Debug, Clone)]
pub struct CommittedOffsets {
    offsets: Vec<Offset>,
    sum: u64,
}

impl CommittedOffsets {
    pub fn new(partitions: u32) -> Self {
        CommittedOffsets { offsets: vec![0; partitions as usize], sum: 0 }
    }

    /// Records a commit; offsets only move forward here (no seek/replay yet). Returns true if it moved.
    pub fn commit(&mut self, partition: u32, offset: Offset) -> bool {
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
