//! Which processing attempts fail (issue 18, item 5): a pure decision from the scenario's seed
//! and the message id, so that both systems, and a Kafka-only and a RabbitMQ-only run
//! of the same file, fail the same messages, whatever order they process them in.
//!
//! A message is *failing* with probability `failure_rate` (the group's); the draws belong to the
//! message, not the group, so groups with the same rates fail the same messages (a malformed
//! payload breaks every reader); a failing message a failing message is
//! *poison* with probability `poison_fraction` and fails every attempt; the other failing
//! messages are *transient*: their first attempt fails and every later one succeeds (ours: the
//! simplest transient fault, a timeout or a lock that is free on the next try; one retry heals
//! it). Attempts are counted from 0 by whoever retries (the consumer, the broker's redelivery
//! count, the retry topic's index). Each message costs two keyed draws, from its own stream
//! ([`Stream::Failures`]): no other stream moves, so a scenario with `failure_rate = 0` is the
//! same run as before.

use crate::engine::rng::{self, Stream};
use crate::scenario::failing::FailurePolicy;
use crate::workload::MessageId;

/// What a message's processing does for one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Every attempt succeeds.
    Healthy,
    /// The first attempt fails; every later one succeeds.
    Transient,
    /// Every attempt fails.
    Poison,
}

/// The failure decision of one group: see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failures {
    seed: u64,
    failure_rate: f64,
    poison_fraction: f64,
}

impl Failures {
    pub fn new(seed: u64, policy: &FailurePolicy) -> Self {
        Failures { seed, failure_rate: policy.failure_rate, poison_fraction: policy.poison_fraction }
    }

    /// Group `group`'s decision in scenario `s`.
    pub fn for_group(s: &crate::scenario::Scenario, group: usize) -> Self {
        Failures::new(s.seed, &s.groups[group].failures)
    }

    /// No message ever fails (and no draw is made).
    pub fn never(&self) -> bool {
        self.failure_rate <= 0.0
    }

    pub fn fate(&self, id: MessageId) -> Fate {
        if self.never() {
            return Fate::Healthy;
        }
        let mut r = rng::keyed(self.seed, Stream::Failures, id, 0);
        let fails = rng::unit(&mut r) < self.failure_rate;
        let poison = rng::unit(&mut r) < self.poison_fraction;
        match (fails, poison) {
            (false, _) => Fate::Healthy,
            (true, true) => Fate::Poison,
            (true, false) => Fate::Transient,
        }
    }

    /// Whether processing attempt `attempt` (0 for the first) of message `id` fails.
    pub fn fails(&self, id: MessageId, attempt: u32) -> bool {
        match self.fate(id) {
            Fate::Healthy => false,
            Fate::Transient => attempt == 0,
            Fate::Poison => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(rate: f64, poison: f64) -> Failures {
        let policy = FailurePolicy { failure_rate: rate, poison_fraction: poison, ..FailurePolicy::default() };
        Failures::new(42, &policy)
    }

    #[test]
    fn a_zero_failure_rate_never_fails() {
        let f = failures(0.0, 1.0);
        assert!((0..10_000).all(|id| (0..3).all(|k| !f.fails(id, k))));
    }

    #[test]
    fn a_rate_of_one_fails_every_first_attempt() {
        let f = failures(1.0, 0.0);
        // Every message is transient: attempt 0 fails, attempts 1 and 2 succeed.
        assert!((0..10_000).all(|id| f.fails(id, 0) && !f.fails(id, 1) && !f.fails(id, 2)));
    }

    #[test]
    fn poison_fails_at_every_attempt() {
        let f = failures(1.0, 1.0);
        assert!((0..1_000).all(|id| f.fate(id) == Fate::Poison && (0..50).all(|k| f.fails(id, k))));
    }

    /// Over n = 100,000 ids, the count of failing messages is Binomial(n, 0.01): mean 1,000,
    /// standard deviation sqrt(n p (1 - p)) = 31.5; within 5 of those (±157) fails with
    /// probability below 1e-6 for a correct draw. Of those, poison is Binomial(~1000, 0.3):
    /// mean 300, sd 14.5, ±73.
    #[test]
    fn the_failing_fraction_is_within_binomial_tolerance() {
        let f = failures(0.01, 0.3);
        let fates: Vec<Fate> = (0..100_000).map(|id| f.fate(id)).collect();
        let failing = fates.iter().filter(|&&x| x != Fate::Healthy).count() as i64;
        let poison = fates.iter().filter(|&&x| x == Fate::Poison).count() as i64;
        assert!((failing - 1_000).abs() <= 157, "{failing} failing of 100,000");
        assert!((poison - 300).abs() <= 73, "{poison} poison of {failing}");
    }

    #[test]
    fn the_decision_depends_on_seed_and_id_only() {
        let policy = FailurePolicy { failure_rate: 0.5, poison_fraction: 0.5, ..FailurePolicy::default() };
        let a = Failures::new(7, &policy);
        let b = Failures::new(7, &policy);
        let other_seed = Failures::new(8, &policy);
        let ids = 0..2_000u64;
        let fates = |f: &Failures| ids.clone().map(|id| f.fate(id)).collect::<Vec<_>>();
        assert_eq!(fates(&a), fates(&b), "same seed and ids: same fates");
        // Asked backwards, the answers are the same: no state moves between calls.
        let backwards: Vec<Fate> = ids.clone().rev().map(|id| a.fate(id)).collect();
        assert_eq!(backwards.into_iter().rev().collect::<Vec<_>>(), fates(&a));
        assert_ne!(fates(&a), fates(&other_seed));
    }
}
