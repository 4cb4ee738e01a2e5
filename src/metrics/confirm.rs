//! Confirm latency: from the producer's send to the broker's acknowledgement (a Kafka produce
//! response, a RabbitMQ publisher confirm), the producer's side of "acks=all is slower than
//! acks=1". Memory follows the sends not yet answered.
//!
//! Ids are sent in increasing order and mostly answered in order, so the send times wait in a
//! window indexed by id; a send that stays unanswered while [`WINDOW`] later ones are answered
//! (lost, or failed without an event) moves to a side map, so that one silent message cannot make
//! the window hold everything sent after it.

use super::DurationStats;
use crate::time::SimTime;
use crate::workload::MessageId;
use std::collections::{BTreeMap, VecDeque};

/// Sends kept in the window before the oldest unanswered one moves to the side map.
const WINDOW: usize = 1 << 16;

#[derive(Default)]
pub struct Confirms {
    /// Send times of ids `base..`, `None` once answered (or sent before the warmup).
    window: VecDeque<Option<SimTime>>,
    base: MessageId,
    /// Unanswered sends that fell out of the window.
    old: BTreeMap<MessageId, SimTime>,
    pub stats: DurationStats,
}

impl Confirms {
    /// Message `id` was sent at `at`; `measured`: it counts (sent after the warmup).
    pub fn sent(&mut self, id: MessageId, at: SimTime, measured: bool) {
        if self.window.is_empty() {
            self.base = id;
        }
        // Ids without a Sent event (none today) would leave holes: fill them as answered.
        while self.base + (self.window.len() as u64) < id {
            self.window.push_back(None);
        }
        self.window.push_back(measured.then_some(at));
        if self.window.len() > WINDOW
            && let Some(front) = self.window.pop_front()
        {
            if let Some(t) = front {
                self.old.insert(self.base, t);
            }
            self.base += 1;
        }
    }

    /// The producer got `id`'s acknowledgement at `at` (the first one counts).
    pub fn acknowledged(&mut self, id: MessageId, at: SimTime) {
        if let Some(t) = self.take(id) {
            self.stats.record(at.since(t));
        }
    }

    /// The producer gave up on `id`: it has no confirm latency.
    pub fn failed(&mut self, id: MessageId) {
        self.take(id);
    }

    fn take(&mut self, id: MessageId) -> Option<SimTime> {
        if id < self.base {
            return self.old.remove(&id);
        }
        let t = self.window.get_mut((id - self.base) as usize)?.take();
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
        }
        t
    }

    /// Sends still waiting for an answer (for tests of the memory bound).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.window.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    fn ms(n: u64) -> SimTime {
        SimTime(SimDuration::from_millis(n).0)
    }

    #[test]
    fn each_confirm_measures_its_own_send_in_any_order() {
        let mut c = Confirms::default();
        c.sent(0, ms(0), true);
        c.sent(1, ms(1), true);
        c.sent(2, ms(2), true);
        c.acknowledged(1, ms(5)); // 4 ms
        c.acknowledged(0, ms(10)); // 10 ms
        c.acknowledged(0, ms(11)); // a second answer counts nothing
        c.failed(2);
        assert_eq!(c.stats.count(), 2);
        assert_eq!(c.stats.mean_secs(), 0.007);
        assert_eq!(c.held(), 0);
    }

    #[test]
    fn warmup_sends_are_not_measured() {
        let mut c = Confirms::default();
        c.sent(0, ms(0), false);
        c.sent(1, ms(1), true);
        c.acknowledged(0, ms(3));
        c.acknowledged(1, ms(3));
        assert_eq!(c.stats.count(), 1);
        assert_eq!(c.stats.mean_secs(), 0.002);
    }

    #[test]
    fn a_send_never_answered_does_not_hold_the_later_ones() {
        let mut c = Confirms::default();
        c.sent(0, ms(0), true); // never answered
        for id in 1..(3 * WINDOW as u64) {
            c.sent(id, ms(id), true);
            c.acknowledged(id, ms(id + 1));
        }
        assert_eq!(c.held(), 1, "only the silent send is kept");
        c.acknowledged(0, ms(1_000_000));
        assert_eq!(c.held(), 0);
        assert_eq!(c.stats.count(), 3 * WINDOW as u64);
    }
}
