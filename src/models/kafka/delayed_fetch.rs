//! The delayed-fetch purgatory, a node kind (issue 16): the consumers' fetches that a broker holds
//! until `fetch.min.bytes` are there or `fetch.max.wait.ms` passes (`DelayedFetch` in the
//! broker's `DelayedOperationPurgatory`). It is the broker's state, so it lives beside the
//! brokers, not in the consumer's client.
//!
//! One lazily re-armed timer per parked fetch ([`Deadline`]): parking again before the timer
//! fires sets no new one. A parked fetch belongs to the consumer's fetch epoch: once the consumer
//! moved to another assignment (a new epoch), its old fetch is answered by nobody (its response
//! would be dropped), so it counts as not parked, and is cleared when next looked at.
//!
//! Its handlers set their timer on a sink ([`Effects`]); the harness reads the partitions and
//! answers (`try_respond`).

use super::replica::BrokerId;
use super::{Msg, Timer};
use crate::history::GroupIdx;
use crate::time::SimTime;
use crate::world::out::Effects;
use crate::world::{Deadline, Fired};

/// One consumer's fetch parked at one broker.
#[derive(Clone, Copy, Debug, Default)]
struct Parked {
    wait: Deadline,
    /// The consumer's fetch epoch when it parked.
    epoch: u32,
}

/// Every broker's parked consumer fetches.
pub(super) struct DelayedFetches {
    brokers: usize,
    /// Per group, per consumer and broker (`consumer * brokers + broker`).
    parked: Vec<Vec<Parked>>,
    /// Per group, per consumer: fetches it parked so far, at any broker. A response starts with
    /// the partition this picks, so that `fetch.max.bytes` does not always favour the same one.
    count: Vec<Vec<u64>>,
}

impl DelayedFetches {
    /// For `consumers[g]` consumers in each group `g`, on `brokers` brokers.
    pub(super) fn new(brokers: usize, consumers: impl IntoIterator<Item = usize>) -> Self {
        let (parked, count) = consumers.into_iter().map(|n| (vec![Parked::default(); n * brokers], vec![0; n])).unzip();
        DelayedFetches { brokers, parked, count }
    }

    #[inline(always)]
    fn at(&mut self, b: BrokerId, group: GroupIdx, consumer: u32) -> &mut Parked {
        &mut self.parked[group][consumer as usize * self.brokers + b as usize]
    }

    /// Broker `b` holds the consumer's fetch of `epoch` until `deadline` (`fetch.max.wait.ms`):
    /// a timer only if none is pending early enough.
    #[inline]
    pub(super) fn park<R>(
        &mut self,
        b: BrokerId,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        deadline: SimTime,
        fx: &mut impl Effects<Msg, Timer, R>,
    ) {
        self.count[group][consumer as usize] += 1;
        let p = self.at(b, group, consumer);
        p.epoch = epoch;
        if let Some(at) = p.wait.set(deadline) {
            fx.timer_at(b as _, at, Timer::FetchExpired { group, consumer });
        }
    }

    /// A fetch of the consumer's current `epoch` is parked at `b`.
    #[inline(always)]
    pub(super) fn is_parked(&mut self, b: BrokerId, group: GroupIdx, consumer: u32, epoch: u32) -> bool {
        let p = self.at(b, group, consumer);
        if p.epoch != epoch {
            p.wait.clear();
        }
        p.wait.due().is_some()
    }

    /// Fetches the consumer parked so far (picks the partition a response starts with).
    #[inline(always)]
    pub(super) fn parked_so_far(&self, group: GroupIdx, consumer: u32) -> u64 {
        self.count[group][consumer as usize]
    }

    /// `b` answered the consumer's fetch: nothing of it is parked any more.
    #[inline(always)]
    pub(super) fn answered(&mut self, b: BrokerId, group: GroupIdx, consumer: u32) {
        self.at(b, group, consumer).wait.clear();
    }

    /// The timer of the consumer's fetch parked at `b` fired at `now`: true if the fetch (of the
    /// consumer's current `epoch`) waited `fetch.max.wait.ms` and must be answered now; the timer
    /// follows a deadline that moved later.
    pub(super) fn expired<R>(
        &mut self,
        now: SimTime,
        b: BrokerId,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        fx: &mut impl Effects<Msg, Timer, R>,
    ) -> bool {
        let p = self.at(b, group, consumer);
        if p.epoch != epoch {
            p.wait.clear();
        }
        match p.wait.fired(now) {
            Fired::Due => true,
            Fired::Rearm(at) => {
                fx.timer_at(b as _, at, Timer::FetchExpired { group, consumer });
                false
            }
            Fired::Nothing => false,
        }
    }

    /// The consumer's process started again, a new client: the broker closed its old connection
    /// with its fetches (and their timers find nothing), and it has parked nothing yet.
    pub(super) fn consumer_started(&mut self, group: GroupIdx, consumer: u32) {
        let n = self.brokers;
        let from = consumer as usize * n;
        self.parked[group][from..from + n].fill(Parked::default());
        self.count[group][consumer as usize] = 0;
    }

    /// Broker `b`'s process died: the fetches parked there went with it, timers included.
    pub(super) fn broker_crashed(&mut self, b: BrokerId) {
        let n = self.brokers;
        for group in &mut self.parked {
            group.iter_mut().skip(b as usize).step_by(n).for_each(|p| *p = Parked::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::{Effect, Out};

    type Fx = Out<Msg, Timer, ()>;

    fn ms(n: u64) -> SimTime {
        SimTime(n * 1_000_000)
    }

    fn timers(fx: &mut Fx) -> Vec<String> {
        fx.take_effects()
            .map(|e| match e {
                Effect::TimerAt { node, at, timer: Timer::FetchExpired { group, consumer } } => {
                    format!("fetch of {group}/{consumer} at {node} expires at {} ms", at.0 / 1_000_000)
                }
                e => panic!("unexpected {e:?}"),
            })
            .collect()
    }

    /// Consumer 1 of group 0 parks at broker 1 at 0 ms (`fetch.max.wait.ms` 500): one timer. It is
    /// answered at 100 ms and parks again at 200 ms (deadline 700 ms): the pending timer serves,
    /// no new one. At 500 ms that timer finds the deadline later and re-arms for 700 ms, when
    /// the fetch is due. Its neighbours (consumer 0; broker 0) never parked.
    #[test]
    fn a_parked_fetch_reuses_its_pending_timer_and_expires_at_its_own_deadline() {
        let mut fetches = DelayedFetches::new(2, [2]);
        let mut fx = Fx::default();
        fetches.park(1, 0, 1, 3, ms(500), &mut fx);
        assert_eq!(timers(&mut fx), ["fetch of 0/1 at 1 expires at 500 ms"]);
        assert!(fetches.is_parked(1, 0, 1, 3));
        assert!(!fetches.is_parked(0, 0, 1, 3) && !fetches.is_parked(1, 0, 0, 0));
        fetches.answered(1, 0, 1);
        assert!(!fetches.is_parked(1, 0, 1, 3));
        fetches.park(1, 0, 1, 3, ms(700), &mut fx);
        assert!(timers(&mut fx).is_empty(), "the 500 ms timer is still pending");
        assert!(!fetches.expired(ms(500), 1, 0, 1, 3, &mut fx));
        assert_eq!(timers(&mut fx), ["fetch of 0/1 at 1 expires at 700 ms"]);
        assert!(fetches.expired(ms(700), 1, 0, 1, 3, &mut fx), "waited its 500 ms");
        assert!(!fetches.is_parked(1, 0, 1, 3));
        assert_eq!(fetches.parked_so_far(0, 1), 2);
        assert_eq!(fetches.parked_so_far(0, 0), 0);
    }

    /// A fetch parked at epoch 3 is nobody's once the consumer moved to epoch 4 (a rebalance):
    /// not parked, and its timer answers nothing and sets none. Consumer 1 shows the case where
    /// the deadline had moved past the pending timer (parked again at 1,200 ms with the 900 ms
    /// timer pending): following that deadline would set a timer that the consumer's own clear
    /// used to make needless.
    #[test]
    fn a_fetch_of_an_old_epoch_is_not_parked_and_its_timer_does_nothing() {
        let mut fetches = DelayedFetches::new(1, [2]);
        let mut fx = Fx::default();
        fetches.park(0, 0, 0, 3, ms(500), &mut fx);
        let _ = timers(&mut fx);
        assert!(!fetches.is_parked(0, 0, 0, 4));
        assert!(!fetches.expired(ms(500), 0, 0, 0, 4, &mut fx));
        assert!(timers(&mut fx).is_empty());
        // The old epoch's deadline was cleared, not kept for a later look.
        assert!(!fetches.is_parked(0, 0, 0, 3));
        fetches.park(0, 0, 1, 3, ms(900), &mut fx);
        assert_eq!(timers(&mut fx), ["fetch of 0/1 at 0 expires at 900 ms"]);
        fetches.park(0, 0, 1, 3, ms(1200), &mut fx);
        assert!(timers(&mut fx).is_empty(), "the 900 ms timer is pending");
        assert!(!fetches.expired(ms(900), 0, 0, 1, 4, &mut fx));
        assert!(timers(&mut fx).is_empty(), "no timer for an old epoch's deadline");
    }

    /// A broker crash drops what is parked at it, timers included: parking there again sets a
    /// new timer. The other broker's parked fetch stays. A restarted consumer starts afresh.
    #[test]
    fn a_broker_crash_and_a_consumer_restart_forget_parked_fetches() {
        let mut fetches = DelayedFetches::new(2, [1, 2]);
        let mut fx = Fx::default();
        fetches.park(0, 1, 1, 0, ms(500), &mut fx);
        fetches.park(1, 1, 1, 0, ms(500), &mut fx);
        assert_eq!(timers(&mut fx).len(), 2);
        fetches.broker_crashed(0);
        assert!(!fetches.is_parked(0, 1, 1, 0) && fetches.is_parked(1, 1, 1, 0));
        fetches.park(0, 1, 1, 0, ms(600), &mut fx);
        assert_eq!(timers(&mut fx), ["fetch of 1/1 at 0 expires at 600 ms"]);
        fetches.consumer_started(1, 1);
        assert!(!fetches.is_parked(0, 1, 1, 0) && !fetches.is_parked(1, 1, 1, 0));
        assert_eq!(fetches.parked_so_far(1, 1), 0);
        assert!(!fetches.expired(ms(500), 1, 1, 1, 0, &mut fx), "the old client's timer");
        assert!(timers(&mut fx).is_empty());
    }
}
