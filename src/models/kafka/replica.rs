//! Replication state of each partition: where its replicas live, who leads, the ISR, each
//! replica's log end offset (LEO) and the high watermark (HW), as Kafka's `Partition` and
//! `Replica` classes keep them on the leader.
//!
//! **One log, many LEOs.** Every replica's log is a prefix of the partition's one log (the leader's),
//! so we keep that log once and, per replica, only its LEO: a follower that fetched up to offset
//! `o` holds records `[start, o)`. When a new leader is elected with a shorter log, the log is
//! truncated to its LEO and every other replica's LEO is clamped to it: exactly what each
//! replica's truncation to the leader epoch's end offset (KIP-101, KIP-279) leaves, and what a
//! replica that is down does when it returns. Memory stays 16 bytes per record whatever the
//! replication factor.
//!
//! Followers fetch from the leader (`ReplicaFetcherThread`, one per follower and leader broker,
//! `num.replica.fetchers` = 1); the leader learns a follower's LEO from its fetch offset, as in
//! `Partition.updateFollowerFetchState`, and the HW is the lowest LEO in the ISR.

use crate::models::log::Offset;
use crate::time::SimTime;

pub type BrokerId = u16;

/// One partition's replicas and the leader's bookkeeping.
#[derive(Debug, Clone)]
pub struct Replicas {
    /// Assignment order: replica `i` lives on `brokers[i]`; `brokers[0]` is the preferred leader.
    pub brokers: Vec<BrokerId>,
    pub leader: Option<BrokerId>,
    /// Bumped by every leader change; requests and fetch responses of an older epoch are void.
    pub epoch: u32,
    /// The in-sync replicas, as a bit set over broker ids (`[cluster] brokers` is at most 64).
    pub isr: u64,
    /// Per replica: its log end offset (durable: the log survives a process crash).
    pub leo: Vec<Offset>,
    /// Per replica: the leader's view of it (the offset of its last fetch).
    pub known_leo: Vec<Offset>,
    /// Per replica: `lastCaughtUpTimeMs`, and the leader's LEO and the time of its last fetch.
    pub caught_up_at: Vec<SimTime>,
    last_fetch_leader_leo: Vec<Offset>,
    last_fetch_at: Vec<SimTime>,
    /// High watermark: consumers read only below it.
    pub hw: Offset,
    /// The leader's LEO when it became leader (`leaderEpochStartOffset`): a follower rejoins the
    /// ISR only once it reached both this and the HW.
    pub epoch_start: Offset,
}

pub fn bit(b: BrokerId) -> u64 {
    1u64 << b
}

impl Replicas {
    /// Partition `p` of a cluster of `brokers` with `rf` replicas: on brokers `p, p+1, ... (mod
    /// brokers)`, led by the first, all in sync.
    pub fn new(p: u32, brokers: u32, rf: u32) -> Self {
        let list: Vec<BrokerId> = (0..rf).map(|i| ((p + i) % brokers) as BrokerId).collect();
        let isr = list.iter().fold(0, |m, &b| m | bit(b));
        let n = list.len();
        Replicas {
            leader: Some(list[0]),
            brokers: list,
            epoch: 0,
            isr,
            leo: vec![0; n],
            known_leo: vec![0; n],
            caught_up_at: vec![SimTime::ZERO; n],
            last_fetch_leader_leo: vec![0; n],
            last_fetch_at: vec![SimTime::ZERO; n],
            hw: 0,
            epoch_start: 0,
        }
    }

    pub fn index_of(&self, b: BrokerId) -> Option<usize> {
        self.brokers.iter().position(|&x| x == b)
    }

    pub fn isr_len(&self) -> u32 {
        self.isr.count_ones()
    }

    pub fn in_isr(&self, b: BrokerId) -> bool {
        self.isr & bit(b) != 0
    }

    /// The ISR is the leader alone: its appends are committed at once.
    pub fn leader_alone(&self) -> bool {
        self.leader.is_some_and(|l| self.isr == bit(l))
    }

    /// Recomputes the HW as the lowest LEO over the ISR (the leader's is `leader_leo`); it never
    /// moves back (`Partition.maybeIncrementLeaderHW`). Returns true if it moved.
    pub fn update_hw(&mut self, leader_leo: Offset) -> bool {
        let Some(l) = self.leader else { return false };
        let mut low = leader_leo;
        for (i, &b) in self.brokers.iter().enumerate() {
            if b != l && self.in_isr(b) {
                low = low.min(self.known_leo[i]);
            }
        }
        if low > self.hw {
            self.hw = low;
            true
        } else {
            false
        }
    }

    /// A fetch from follower `i` at offset `leo[i]` reached the leader, whose LEO is `leader_leo`
    /// (`Replica.updateFetchStateOrThrow`): the follower is caught up if it asked for the leader's
    /// end, or for at least what the leader's end was at its previous fetch.
    pub fn follower_fetched(&mut self, i: usize, now: SimTime, leader_leo: Offset) {
        let offset = self.leo[i];
        self.known_leo[i] = offset;
        if offset >= leader_leo {
            self.caught_up_at[i] = self.caught_up_at[i].max(now);
        } else if offset >= self.last_fetch_leader_leo[i] {
            self.caught_up_at[i] = self.caught_up_at[i].max(self.last_fetch_at[i]);
        }
        self.last_fetch_leader_leo[i] = leader_leo;
        self.last_fetch_at[i] = now;
    }

    /// `Partition.isFollowerInSync`: follower `i` may rejoin the ISR.
    pub fn follower_in_sync(&self, i: usize) -> bool {
        self.leo[i] >= self.hw && self.leo[i] >= self.epoch_start
    }

    /// `Replica.isCaughtUp`: follower `i` has the leader's whole log (as of its last fetch), or
    /// caught up within `max_lag`.
    pub fn caught_up(&self, i: usize, now: SimTime, leader_leo: Offset, max_lag: crate::time::SimDuration) -> bool {
        self.known_leo[i] == leader_leo || now.since(self.caught_up_at[i]) <= max_lag
    }

    /// A new leader (its epoch already bumped) starts the followers' clocks afresh, as
    /// `Partition.makeLeader` does for the replicas in its ISR.
    pub fn reset_follower_state(&mut self, now: SimTime) {
        for i in 0..self.brokers.len() {
            self.known_leo[i] = self.known_leo[i].min(self.leo[i]);
            self.caught_up_at[i] = now;
            self.last_fetch_leader_leo[i] = 0;
            self.last_fetch_at[i] = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_spread_and_the_first_leads() {
        let r = Replicas::new(2, 3, 3);
        assert_eq!(r.brokers, vec![2, 0, 1]);
        assert_eq!(r.leader, Some(2));
        assert_eq!(r.isr_len(), 3);
        let one = Replicas::new(5, 1, 1);
        assert_eq!(one.brokers, vec![0]);
        assert!(one.leader_alone());
    }

    #[test]
    fn hw_is_the_lowest_leo_in_the_isr_and_never_moves_back() {
        let mut r = Replicas::new(0, 3, 3);
        r.leo[1] = 5;
        r.follower_fetched(1, SimTime(1), 10);
        r.leo[2] = 8;
        r.follower_fetched(2, SimTime(1), 10);
        assert!(r.update_hw(10));
        assert_eq!(r.hw, 5);
        // Broker 1 leaves the ISR: the HW moves to the next lowest.
        r.isr &= !bit(1);
        assert!(r.update_hw(10));
        assert_eq!(r.hw, 8);
        r.isr |= bit(1);
        assert!(!r.update_hw(10), "the HW never moves back");
        assert_eq!(r.hw, 8);
    }

    #[test]
    fn a_follower_is_caught_up_when_it_reaches_the_leaders_previous_end() {
        let mut r = Replicas::new(0, 2, 2);
        // Behind at t=10 (asks 0, leader at 4): not caught up since 0.
        r.follower_fetched(1, SimTime(10), 4);
        assert_eq!(r.caught_up_at[1], SimTime(0));
        // At t=20 it asks 4 while the leader is at 6: it had reached the end as of t=10.
        r.leo[1] = 4;
        r.follower_fetched(1, SimTime(20), 6);
        assert_eq!(r.caught_up_at[1], SimTime(10));
        r.leo[1] = 6;
        r.follower_fetched(1, SimTime(30), 6);
        assert_eq!(r.caught_up_at[1], SimTime(30));
    }
}
