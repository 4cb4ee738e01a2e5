//! Kafka consumers whose processing fails (issue 18, item 5; docs/failures.md). Which attempts
//! fail is [`crate::failures`]'s decision; this is what the consumer application does then:
//!
//! * `retry-in-place`: the record is processed again after `retry_backoff`, and the consumer does
//!   not move past it (Spring Kafka's `DefaultErrorHandler` seeks back to it and sleeps the back-off
//!   in the consumer thread): every partition the consumer owns waits. After `max_attempts` the
//!   record is given up: logged and skipped (the default recoverer), `dropped`.
//! * `skip`: logged and skipped at once: `dropped`.
//! * `retry-topics` (Spring Kafka `@RetryableTopic`, Uber's retry queues): the record is produced
//!   to retry topic 1 and the partition moves on; the retry topic's consumer processes it once its
//!   delay has passed, a failure there sends it to topic 2, ..., and after the last to the
//!   dead-letter topic: `dead_lettered`. Each retry topic has one consumer, processing one record at
//!   a time in the order they were produced to it; its work and events are attributed to the
//!   group's consumer 0 (the retry listener runs in the same application).
//!
//! Not modelled: the produce to a retry or dead-letter topic and the retry topics' fetches cost
//! the brokers nothing here, and the retry consumers cannot crash.

use super::*;
use crate::failures::Failures;
use crate::history::Settlement;
use crate::scenario::failing::{FailurePolicy, KafkaOnFailure};
use crate::world::out::Effects;

/// One group's failing consumers: the decision, the policy, and its retry topics.
#[derive(Debug)]
pub(super) struct GroupFailing {
    decision: Failures,
    policy: FailurePolicy,
    topics: Vec<RetryTopic>,
}

/// A retry topic and its consumer.
#[derive(Debug, Default)]
struct RetryTopic {
    /// Records produced to it, in order, with the instant each may be processed.
    waiting: VecDeque<(SimTime, StoredMessage)>,
    /// The record its consumer is processing, and when that ends.
    busy: Option<(SimTime, StoredMessage)>,
    /// A timer is set for this instant (a due record, or the job's end).
    armed: Option<SimTime>,
}

impl GroupFailing {
    pub(super) fn new(s: &Scenario, group: usize) -> Self {
        let policy = s.groups[group].failures.clone();
        let topics = policy.retry_topics.iter().map(|_| RetryTopic::default()).collect();
        GroupFailing { decision: Failures::for_group(s, group), policy, topics }
    }

    /// Nothing waits in a retry topic.
    pub(super) fn idle(&self) -> bool {
        self.topics.iter().all(|t| t.busy.is_none() && t.waiting.is_empty())
    }

    /// Attempt `attempt` (0 for the first) at record `id` of the main topic ended: did it fail
    /// (the group's decision), and what does the error handler do then (its policy)?
    pub(super) fn on_attempt(&self, id: crate::workload::MessageId, attempt: u32) -> OnAttempt {
        if self.decision.never() || !self.decision.fails(id, attempt) {
            return OnAttempt::Succeeded;
        }
        match self.policy.kafka {
            KafkaOnFailure::Skip => OnAttempt::Drop,
            KafkaOnFailure::RetryTopics => OnAttempt::RetryTopic,
            KafkaOnFailure::RetryInPlace if self.policy.max_attempts.is_some_and(|most| attempt + 1 >= most) => {
                OnAttempt::Drop
            }
            KafkaOnFailure::RetryInPlace => OnAttempt::RetryInPlace { backoff: self.policy.retry_backoff },
        }
    }

    /// Group `group`'s record `msg` failed (in the main topic, or in retry topic `topic - 1`): it
    /// is produced to retry topic `topic`, to be processed once that topic's delay has passed;
    /// past the last retry topic it goes to the dead-letter topic. The retry listener runs on
    /// `node` (its timers); `processing` gives each record's processing time.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn produce_to_retry_topic(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        topic: usize,
        msg: StoredMessage,
        node: NodeId,
        processing: &ProcessingTimes,
        fx: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        let Some(&delay) = self.policy.retry_topics.get(topic) else {
            fx.record(ClientEvent::Settled { id: msg.id(), group, outcome: Settlement::DeadLettered });
            return;
        };
        fx.record(ClientEvent::Settled { id: msg.id(), group, outcome: Settlement::Retrying });
        self.topics[topic].waiting.push_back((now.after(delay), msg));
        self.retry_topic_next(now, group, topic, node, processing, fx);
    }

    /// Retry topic `topic`'s consumer (its timer, or a record produced to it): ends the job due
    /// now (attempt `topic + 1` of the record: processed, or failed and produced to the next
    /// topic), starts the next due record, or sets a timer for what comes next. Its work is
    /// attributed to the group's consumer 0.
    pub(super) fn retry_topic_next(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        topic: usize,
        node: NodeId,
        processing: &ProcessingTimes,
        fx: &mut impl Effects<Msg, Timer, ClientEvent>,
    ) {
        let t = &mut self.topics[topic];
        if t.armed.is_some_and(|at| at <= now) {
            t.armed = None;
        }
        if let Some((end, msg)) = t.busy {
            if end > now {
                return;
            }
            t.busy = None;
            // Attempt `topic + 1`: the main topic's was 0.
            if self.decision.fails(msg.id(), topic as u32 + 1) {
                fx.record(ClientEvent::ProcessingFailed { msg, group, consumer: 0 });
                self.produce_to_retry_topic(now, group, topic + 1, msg, node, processing, fx);
            } else {
                fx.record(ClientEvent::Processed { msg, group, consumer: 0 });
            }
        }
        let t = &mut self.topics[topic];
        if t.busy.is_some() {
            return;
        }
        let next = match t.waiting.front() {
            Some(&(due, msg)) if due <= now => {
                t.waiting.pop_front();
                let end = now.after(processing.of(group, msg.id()));
                t.busy = Some((end, msg));
                end
            }
            Some(&(due, _)) => due,
            None => return,
        };
        if t.armed.is_none_or(|at| at > next) {
            t.armed = Some(next);
            fx.timer_at(node, next, Timer::RetryTopic { group, topic });
        }
    }
}

/// What the consumer's error handler does with a finished attempt at a record of the main topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OnAttempt {
    /// It did not fail.
    Succeeded,
    /// Failed, logged and skipped (`skip`, or retry-in-place at `max_attempts`): dropped.
    Drop,
    /// Failed, produced to the first retry topic (`retry-topics`).
    RetryTopic,
    /// Failed, processed again after the back-off (`retry-in-place`).
    RetryInPlace { backoff: SimDuration },
}

/// How a processing attempt of a consumer group's record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AttemptEnd {
    /// Processed.
    Succeeded,
    /// Failed, and settled: dropped, or sent to a retry or dead-letter topic. The consumer moves on.
    Settled,
    /// Failed, and the consumer processes it again (retry-in-place): the job goes on.
    RetryingInPlace,
}

impl<H: History> KafkaModel<'_, H> {
    /// A consumer's attempt at record `r` ended: did it fail, and what does the consumer do then?
    pub(super) fn attempt_ended(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        r: Fetched,
        sched: &mut Scheduler<Event>,
    ) -> AttemptEnd {
        let id = r.msg.id();
        let attempt = self.groups[group].consumers[consumer as usize].attempt;
        let on = self.failing[group].on_attempt(id, attempt);
        if on != OnAttempt::Succeeded {
            self.client(now, ClientEvent::ProcessingFailed { msg: r.msg, group, consumer });
        }
        match on {
            OnAttempt::Succeeded => AttemptEnd::Succeeded,
            OnAttempt::Drop => {
                self.settle(now, group, id, Settlement::Dropped);
                AttemptEnd::Settled
            }
            OnAttempt::RetryTopic => {
                self.produce_to_retry_topic(now, group, 0, r.msg, sched);
                AttemptEnd::Settled
            }
            OnAttempt::RetryInPlace { backoff } => {
                let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
                c.retry_in_place(r, group, consumer, backoff, around, &mut out);
                AttemptEnd::RetryingInPlace
            }
        }
    }

    fn settle(&mut self, now: SimTime, group: GroupIdx, id: crate::workload::MessageId, outcome: Settlement) {
        self.client(now, ClientEvent::Settled { id, group, outcome });
    }

    /// The record failed: to retry topic `topic` ([`GroupFailing::produce_to_retry_topic`]).
    fn produce_to_retry_topic(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        topic: usize,
        msg: StoredMessage,
        sched: &mut Scheduler<Event>,
    ) {
        let (f, processing, node, mut out) = self.failing_parts(group, sched);
        f.produce_to_retry_topic(now, group, topic, msg, node, processing, &mut out);
    }

    /// Retry topic `topic`'s timer ([`GroupFailing::retry_topic_next`]).
    pub(super) fn retry_topic_next(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        topic: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let (f, processing, node, mut out) = self.failing_parts(group, sched);
        f.retry_topic_next(now, group, topic, node, processing, &mut out);
    }

    /// Group `group`'s retry listener (on the coordinator's node, as its timers always were), the
    /// processing times, and a sink that applies its effects at once: client events to the
    /// history (and the drain watch), timers through the world.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    fn failing_parts<'a>(
        &'a mut self,
        group: GroupIdx,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut GroupFailing, &'a ProcessingTimes, NodeId, Direct<'a, Event, impl FnMut(Handed<Msg, ClientEvent>) + 'a>)
    {
        let out = client_sink(&mut self.world, sched, &mut *self.history, &mut self.drain);
        (&mut self.failing[group], &self.processing, self.coord, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::{Effect, Out};

    type Fx = Out<Msg, Timer, ClientEvent>;
    const LISTENER: NodeId = 3;

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    /// Group 0 with retry topics of 5 s and 1 min, records processed in 2 s; `poison`: every
    /// failing record fails on every attempt (else only on its first).
    fn group(poison: bool) -> (GroupFailing, ProcessingTimes) {
        let toml = format!(
            "duration = \"1s\"\n[workload]\nrate = 1.0\n[[groups]]\nname = \"g\"\nprocessing = \"2s\"\n\
             failure_rate = 1.0\npoison_fraction = {}\non_failure = {{ rabbitmq = \"reject\", kafka = \"retry-topics\" }}\n\
             retry_topics = [\"5s\", \"1m\"]\n",
            if poison { 1.0 } else { 0.0 }
        );
        let s = Scenario::parse(&toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
        (GroupFailing::new(&s, 0), ProcessingTimes::new(&s))
    }

    fn rec(id: u64) -> StoredMessage {
        StoredMessage::new(&crate::workload::Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 })
    }

    fn seen(fx: &mut Fx) -> Vec<String> {
        fx.take_effects()
            .map(|e| match e {
                Effect::TimerAt { node: LISTENER, at, timer: Timer::RetryTopic { group: 0, topic } } => {
                    format!("timer of topic {topic} at {} s", at.0 / 1_000_000_000)
                }
                Effect::Record(ClientEvent::Settled { id, outcome, .. }) => format!("{id} {outcome:?}"),
                Effect::Record(ClientEvent::ProcessingFailed { msg, .. }) => format!("{} failed", msg.id()),
                Effect::Record(ClientEvent::Processed { msg, .. }) => format!("{} processed", msg.id()),
                e => panic!("unexpected {e:?}"),
            })
            .collect()
    }

    /// The error handler's answer, attempt by attempt, for a record that fails every attempt
    /// (poison) and one that fails only its first (transient). Retry in place with
    /// `max_attempts = 3` and a 1 s back-off: attempts 0 and 1 are retried, attempt 2 is the
    /// third and last, so the record is dropped. `skip` drops at once; `retry-topics` produces
    /// to the first topic. A record that does not fail (a transient one's second attempt)
    /// succeeds under every policy.
    #[test]
    fn the_error_handler_retries_in_place_until_max_attempts_then_drops() {
        let failing = |kafka: &str, poison: f64| {
            let toml = format!(
                "duration = \"1s\"\n[workload]\nrate = 1.0\n[[groups]]\nname = \"g\"\nfailure_rate = 1.0\n\
                 poison_fraction = {poison}\non_failure = {{ rabbitmq = \"reject\", kafka = \"{kafka}\" }}\n{}",
                if kafka == "retry-in-place" { "retry_backoff = \"1s\"\nmax_attempts = 3\n" } else { "" }
            );
            let s = Scenario::parse(&toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
            GroupFailing::new(&s, 0)
        };
        let in_place = failing("retry-in-place", 1.0);
        let again = OnAttempt::RetryInPlace { backoff: SimDuration::from_secs_f64(1.0) };
        let answers: Vec<_> = (0..3).map(|attempt| in_place.on_attempt(7, attempt)).collect();
        assert_eq!(answers, [again, again, OnAttempt::Drop]);
        assert_eq!(failing("skip", 1.0).on_attempt(7, 0), OnAttempt::Drop);
        assert_eq!(failing("retry-topics", 1.0).on_attempt(7, 0), OnAttempt::RetryTopic);
        let transient = failing("retry-in-place", 0.0);
        assert_eq!((transient.on_attempt(7, 0), transient.on_attempt(7, 1)), (again, OnAttempt::Succeeded));
    }

    /// A poison record (it fails every attempt) goes to retry topic 1, is taken at 5 s and fails
    /// at 7 s (2 s of processing), goes to topic 2, is taken at 67 s, fails at 69 s, and is
    /// dead-lettered: topics past the last one are the dead-letter topic.
    #[test]
    fn a_poison_record_passes_every_retry_topic_and_is_dead_lettered() {
        let (mut g, processing) = group(true);
        let mut fx = Fx::default();
        g.produce_to_retry_topic(SimTime::ZERO, 0, 0, rec(7), LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["7 Retrying", "timer of topic 0 at 5 s"]);
        g.retry_topic_next(secs(5), 0, 0, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["timer of topic 0 at 7 s"]);
        g.retry_topic_next(secs(7), 0, 0, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["7 failed", "7 Retrying", "timer of topic 1 at 67 s"]);
        assert!(!g.idle());
        g.retry_topic_next(secs(67), 0, 1, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["timer of topic 1 at 69 s"]);
        g.retry_topic_next(secs(69), 0, 1, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["7 failed", "7 DeadLettered"]);
        assert!(g.idle());
    }

    /// A record that fails only its first attempt is processed by retry topic 1's consumer. Two
    /// records produced 1 s apart are taken one at a time in order: the second waits for the
    /// first's job (5 to 7 s) although its own delay passed at 6 s, and one timer serves.
    #[test]
    fn a_retry_topic_consumer_takes_one_record_at_a_time_in_order() {
        let (mut g, processing) = group(false);
        let mut fx = Fx::default();
        g.produce_to_retry_topic(SimTime::ZERO, 0, 0, rec(1), LISTENER, &processing, &mut fx);
        g.produce_to_retry_topic(secs(1), 0, 0, rec(2), LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["1 Retrying", "timer of topic 0 at 5 s", "2 Retrying"]);
        g.retry_topic_next(secs(5), 0, 0, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["timer of topic 0 at 7 s"]);
        g.retry_topic_next(secs(7), 0, 0, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["1 processed", "timer of topic 0 at 9 s"]);
        g.retry_topic_next(secs(9), 0, 0, LISTENER, &processing, &mut fx);
        assert_eq!(seen(&mut fx), ["2 processed"]);
        assert!(g.idle());
    }
}
