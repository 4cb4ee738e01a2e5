//! A consumer group's progress through the log, as the harness counts it to know when a group is
//! done (the end-of-run drain): per partition, the offset after the highest record it processed
//! or skipped (its frontier), and the records at or above the frontiers (what it has still to
//! process). Not the committed offsets (the coordinator's, `group.rs`): a group may have
//! processed records it has not committed yet.

use crate::models::log::Offset;

#[derive(Clone, Debug)]
pub(super) struct Progress {
    frontier: Vec<Offset>,
    /// The log end offsets' sum minus the frontiers' sum.
    remaining: u64,
}

impl Progress {
    pub(super) fn new(partitions: u32) -> Self {
        Progress { frontier: vec![0; partitions as usize], remaining: 0 }
    }

    #[inline(always)]
    pub(super) fn frontier(&self, p: usize) -> Offset {
        self.frontier[p]
    }

    /// Records the group has still to process.
    #[inline(always)]
    pub(super) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// `n` records were appended to some partition's log.
    #[inline(always)]
    pub(super) fn appended(&mut self, n: u64) {
        self.remaining += n;
    }

    /// The group processed (or skipped) everything below `to` in `p`: the frontier moves up to
    /// it, never back (a record processed again after a rebalance does not move it).
    #[inline(always)]
    pub(super) fn advance(&mut self, p: usize, to: Offset) {
        let f = &mut self.frontier[p];
        if to > *f {
            self.remaining -= to - *f;
            *f = to;
        }
    }

    /// The share-partition start offset of `p` moved by `by` records, to `to`: the group's
    /// frontier follows it.
    #[inline(always)]
    pub(super) fn follow(&mut self, p: usize, by: u64, to: Offset) {
        self.remaining -= by;
        self.frontier[p] = to;
    }

    /// An offset reset moved the group back to `to` in `p`: what lies between is to be processed
    /// again (a replay), so the run lasts until it is.
    pub(super) fn rewind(&mut self, p: usize, to: Offset) {
        let f = &mut self.frontier[p];
        if to < *f {
            self.remaining += *f - to;
            *f = to;
        }
    }

    /// The log of `p` was truncated from `old_end` to `new_end` (an unclean election or a
    /// follower's truncation): what the group had not reached there is no longer to do, and a
    /// frontier beyond the new end comes back to it.
    pub(super) fn truncated(&mut self, p: usize, old_end: Offset, new_end: Offset) {
        let f = self.frontier[p];
        self.remaining = self.remaining + (new_end - f.min(new_end)) - (old_end - f.min(old_end));
        self.frontier[p] = f.min(new_end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two partitions. 10 records appended (6 to partition 0, 4 to 1). The group processes
    /// offsets 0..4 of partition 0 (frontier 4; 6 remain), then offset 2 again after a
    /// rebalance (nothing moves). A reset rewinds partition 0 to 1: 3 records to do again (9
    /// remain). It processes partition 1 to its end (5 remain). Partition 0 is truncated from 6 to
    /// 3: of the 5 records at or above its frontier 1, the 3 beyond the new end are gone (2
    /// remain). It then processes partition 0 to 3: nothing remains.
    #[test]
    fn progress_counts_what_the_group_has_still_to_process() {
        let mut g = Progress::new(2);
        g.appended(6);
        g.appended(4);
        g.advance(0, 4);
        assert_eq!((g.frontier(0), g.remaining()), (4, 6));
        g.advance(0, 3);
        assert_eq!((g.frontier(0), g.remaining()), (4, 6), "processed again: no move back");
        g.rewind(0, 1);
        assert_eq!((g.frontier(0), g.remaining()), (1, 9));
        g.rewind(0, 2);
        assert_eq!(g.frontier(0), 1, "a rewind never moves forward");
        g.advance(1, 4);
        assert_eq!(g.remaining(), 5);
        g.truncated(0, 6, 3);
        assert_eq!((g.frontier(0), g.remaining()), (1, 2));
        g.advance(0, 3);
        assert_eq!(g.remaining(), 0);
    }

    /// A share group's frontier follows its share-partition start offset: moved by 3 to 7 from
    /// 4, with 10 appended, 3 remain.
    #[test]
    fn a_share_group_follows_its_start_offset() {
        let mut g = Progress::new(1);
        g.appended(10);
        g.advance(0, 4);
        g.follow(0, 3, 7);
        assert_eq!((g.frontier(0), g.remaining()), (7, 3));
    }

    /// A frontier beyond the truncation point comes back to it, and what it had processed there
    /// is not counted again: frontier 5 in a log of 6, truncated to 2, leaves 0 to do.
    #[test]
    fn a_truncation_below_the_frontier_brings_it_back() {
        let mut g = Progress::new(1);
        g.appended(6);
        g.advance(0, 5);
        g.truncated(0, 6, 2);
        assert_eq!((g.frontier(0), g.remaining()), (2, 0));
    }
}
