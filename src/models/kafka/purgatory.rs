//! The delayed-produce purgatory, a node kind (issue 16): per leader, the `acks = all` requests
//! whose batches wait for the high watermark (`DelayedProduce` in a `DelayedOperationPurgatory`),
//! and the timer of the oldest one's `request.timeout.ms`.
//!
//! Its handlers set that timer on a sink ([`Effects`]) and hand the requests they complete back
//! to the harness, in order, which answers each one (a response lost at once goes back to its
//! producer client, whose handler then runs with the world) before the purgatory rearms its timer:
//! the same sends and timers in the same order as when one function did it all.

use super::producer::{BatchError, ProducerBatch};
use super::replica::{BrokerId, Replicas};
use super::{Msg, Timer};
use crate::time::SimTime;
use crate::world::out::Effects;
use crate::world::{Deadline, Fired};
use std::collections::VecDeque;

/// A delayed produce (`DelayedProduce`): an `acks = all` request whose batches wait for the HW.
pub(super) struct Delayed {
    pub batches: Vec<ProducerBatch>,
    /// The producer that sent it (its index), that producer's incarnation, and the request's number.
    pub client: usize,
    pub producer: u32,
    pub req: u64,
    pub deadline: SimTime,
}

/// Every leader's delayed produces.
pub(super) struct Purgatory {
    /// Per broker: oldest first. Every request has the same timeout, so the front's deadline is
    /// the earliest: one timer per broker suffices.
    waiting: Vec<VecDeque<Delayed>>,
    deadline: Vec<Deadline>,
    /// The buffer of requests done, kept between handlers so that completing allocates nothing.
    done: Vec<Delayed>,
}

impl Purgatory {
    pub(super) fn new(brokers: usize) -> Self {
        Purgatory {
            waiting: (0..brokers).map(|_| VecDeque::new()).collect(),
            deadline: vec![Deadline::default(); brokers],
            done: Vec::new(),
        }
    }

    /// An empty buffer for the requests a handler completes; give it back with
    /// [`Purgatory::recycle`] once they are answered.
    pub(super) fn take_done(&mut self) -> Vec<Delayed> {
        std::mem::take(&mut self.done)
    }

    pub(super) fn recycle(&mut self, mut done: Vec<Delayed>) {
        done.clear();
        self.done = done;
    }

    #[inline(always)]
    pub(super) fn is_empty(&self, l: BrokerId) -> bool {
        self.waiting[l as usize].is_empty()
    }

    /// Leader `l` holds request `d` until the HW passes its batches or its deadline passes. Only
    /// the first one waiting sets a timer: the others' deadlines come later.
    pub(super) fn park<R>(&mut self, l: BrokerId, d: Delayed, fx: &mut impl Effects<Msg, Timer, R>) {
        let deadline = d.deadline;
        let i = l as usize;
        self.waiting[i].push_back(d);
        if self.waiting[i].len() == 1
            && let Some(at) = self.deadline[i].set(deadline)
        {
            fx.timer_at(l, at, Timer::PurgatoryExpired);
        }
    }

    /// `DelayedProduce.tryComplete` on leader `l`: a batch is done when the HW of its partition
    /// reached it (`NOT_ENOUGH_REPLICAS_AFTER_APPEND` if the ISR is then below `min_isr`) or `l`
    /// no longer leads it by its own metadata (`leads`); a request is done when all its batches
    /// are. The requests done move to `done`, in order; then the harness answers them and calls
    /// [`Purgatory::rearm`].
    pub(super) fn complete(
        &mut self,
        l: BrokerId,
        repl: &[Replicas],
        leads: impl Fn(u32) -> bool,
        min_isr: u32,
        done: &mut Vec<Delayed>,
    ) {
        let waiting = &mut self.waiting[l as usize];
        let mut i = 0;
        while i < waiting.len() {
            let mut pending = false;
            for b in waiting[i].batches.iter_mut() {
                if b.need == 0 || b.error != BatchError::None {
                    continue;
                }
                let r = &repl[b.partition as usize];
                if !leads(b.partition) {
                    b.error = BatchError::NotLeader;
                    b.need = 0;
                } else if r.hw >= b.need {
                    if r.isr_len() < min_isr {
                        b.error = BatchError::NotEnoughReplicasAfterAppend;
                    }
                    b.need = 0;
                } else {
                    pending = true;
                }
            }
            if pending {
                i += 1;
                continue;
            }
            done.push(waiting.remove(i).expect("listed"));
        }
    }

    /// The timer follows the oldest request still waiting (none: the deadline is cleared, and a
    /// pending timer finds nothing to do).
    pub(super) fn rearm<R>(&mut self, l: BrokerId, fx: &mut impl Effects<Msg, Timer, R>) {
        let i = l as usize;
        match self.waiting[i].front().map(|e| e.deadline) {
            None => self.deadline[i].clear(),
            Some(due) => {
                if let Some(at) = self.deadline[i].set(due) {
                    fx.timer_at(l, at, Timer::PurgatoryExpired);
                }
            }
        }
    }

    /// Leader `l`'s timer: the requests past their deadline move to `done`, their waiting batches
    /// `REQUEST_TIMED_OUT`. Returns whether any deadline was due: then the harness answers them
    /// and calls [`Purgatory::rearm`].
    pub(super) fn expired<R>(
        &mut self,
        now: SimTime,
        l: BrokerId,
        done: &mut Vec<Delayed>,
        fx: &mut impl Effects<Msg, Timer, R>,
    ) -> bool {
        let i = l as usize;
        match self.deadline[i].fired(now) {
            Fired::Due => {
                while self.waiting[i].front().is_some_and(|e| e.deadline <= now) {
                    let mut e = self.waiting[i].pop_front().expect("peeked");
                    for b in e.batches.iter_mut() {
                        if b.need != 0 && b.error == BatchError::None {
                            b.error = BatchError::Timeout;
                        }
                    }
                    done.push(e);
                }
                true
            }
            Fired::Rearm(at) => {
                fx.timer_at(l, at, Timer::PurgatoryExpired);
                false
            }
            Fired::Nothing => false,
        }
    }

    /// Broker `l`'s process died with its delayed produces (their producers hear of them only
    /// when the connection closes). Its deadline is reset, not merely cleared: its timer died with
    /// the process, and a cleared deadline still expects it.
    pub(super) fn broker_crashed(&mut self, l: BrokerId) -> VecDeque<Delayed> {
        self.deadline[l as usize] = Deadline::default();
        std::mem::take(&mut self.waiting[l as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::{Effect, Out};

    type Fx = Out<Msg, Timer, ()>;

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    /// A request of producer 0 to leader 0 with one batch of partition 0, appended up to `need`.
    fn request(req: u64, need: u64, at: SimTime) -> Delayed {
        let batches = vec![ProducerBatch::appended(0, need)];
        Delayed {
            batches,
            client: 0,
            producer: 0,
            req,
            deadline: at.after(crate::scenario::defaults::KAFKA_REQUEST_TIMEOUT),
        }
    }

    fn timers(fx: &mut Fx) -> Vec<String> {
        fx.take_effects()
            .map(|e| match e {
                Effect::TimerAt { node, at, timer: Timer::PurgatoryExpired } => {
                    format!("purgatory of {node} at {} s", at.0 / 1_000_000_000)
                }
                e => panic!("unexpected {e:?}"),
            })
            .collect()
    }

    /// Partition 0 on brokers 0 (leader) and 1, with `min.insync.replicas` 2.
    fn partition(hw: u64) -> Vec<Replicas> {
        let mut r = Replicas::new(0, 2, 2);
        r.hw = hw;
        vec![r]
    }

    /// An `acks = all` request whose batch ends at offset 3 waits: only the first request
    /// parked sets the timer (`request.timeout.ms`, 30 s). With the HW at 2 nothing is done; at 3
    /// the first request is answered without error, the second (ending at 5) still waits, and the
    /// timer then follows it (35 s: it came at 5 s).
    #[test]
    fn an_acks_all_produce_is_answered_only_when_the_hw_passes_its_batches() {
        let mut purgatory = Purgatory::new(2);
        let mut fx = Fx::default();
        purgatory.park(0, request(1, 3, SimTime::ZERO), &mut fx);
        purgatory.park(0, request(2, 5, secs(5)), &mut fx);
        assert_eq!(timers(&mut fx), ["purgatory of 0 at 30 s"]);
        let mut done = purgatory.take_done();
        purgatory.complete(0, &partition(2), |_| true, 2, &mut done);
        assert!(done.is_empty());
        purgatory.complete(0, &partition(3), |_| true, 2, &mut done);
        let answered: Vec<_> = done.iter().map(|e| (e.req, e.batches[0].error, e.batches[0].need)).collect();
        assert_eq!(answered, [(1, BatchError::None, 0)]);
        purgatory.recycle(done);
        purgatory.rearm(0, &mut fx);
        // The pending timer (30 s) fires before the new deadline: it re-arms itself then.
        assert!(timers(&mut fx).is_empty());
        let mut done = purgatory.take_done();
        assert!(!purgatory.expired(secs(30), 0, &mut done, &mut fx));
        assert_eq!(timers(&mut fx), ["purgatory of 0 at 35 s"]);
        assert!(!purgatory.is_empty(0));
    }

    /// A batch the HW reached while the ISR had shrunk below `min.insync.replicas` is
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`; one whose partition this broker no longer leads is
    /// `NOT_LEADER_OR_FOLLOWER`, whatever the HW.
    #[test]
    fn a_delayed_produce_fails_when_the_isr_shrank_or_the_leader_moved() {
        let mut purgatory = Purgatory::new(2);
        let mut fx = Fx::default();
        purgatory.park(0, request(1, 3, SimTime::ZERO), &mut fx);
        let mut alone = partition(3);
        alone[0].isr = super::super::replica::bit(0);
        let mut done = purgatory.take_done();
        purgatory.complete(0, &alone, |_| true, 2, &mut done);
        assert_eq!(done[0].batches[0].error, BatchError::NotEnoughReplicasAfterAppend);
        done.clear();
        purgatory.park(0, request(2, 9, SimTime::ZERO), &mut fx);
        purgatory.complete(0, &partition(3), |_| false, 2, &mut done);
        assert_eq!(done[0].batches[0].error, BatchError::NotLeader);
        assert!(purgatory.is_empty(0));
    }

    /// The oldest request reached its deadline (30 s) with its batch still short of the HW: it
    /// is answered `REQUEST_TIMED_OUT`; a later one (deadline 40 s) waits, and the timer follows
    /// it once the harness has answered and re-armed.
    #[test]
    fn a_delayed_produce_past_its_deadline_answers_request_timed_out() {
        let mut purgatory = Purgatory::new(2);
        let mut fx = Fx::default();
        purgatory.park(0, request(1, 3, SimTime::ZERO), &mut fx);
        purgatory.park(0, request(2, 4, secs(10)), &mut fx);
        fx.clear();
        let mut done = purgatory.take_done();
        assert!(purgatory.expired(secs(30), 0, &mut done, &mut fx));
        let answered: Vec<_> = done.iter().map(|e| (e.req, e.batches[0].error)).collect();
        assert_eq!(answered, [(1, BatchError::Timeout)]);
        purgatory.recycle(done);
        purgatory.rearm(0, &mut fx);
        assert_eq!(timers(&mut fx), ["purgatory of 0 at 40 s"]);
    }
}
