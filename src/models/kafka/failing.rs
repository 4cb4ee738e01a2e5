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
        let f = &self.failing[group];
        let c = &mut self.groups[group].consumers[consumer as usize];
        let id = r.msg.id();
        if f.decision.never() || !f.decision.fails(id, c.attempt) {
            return AttemptEnd::Succeeded;
        }
        let (handling, backoff, max_attempts) = (f.policy.kafka, f.policy.retry_backoff, f.policy.max_attempts);
        self.client(now, ClientEvent::ProcessingFailed { msg: r.msg, group, consumer });
        match handling {
            KafkaOnFailure::Skip => self.settle(now, group, id, Settlement::Dropped),
            KafkaOnFailure::RetryTopics => self.produce_to_retry_topic(now, group, 0, r.msg, sched),
            KafkaOnFailure::RetryInPlace => {
                let next = self.groups[group].consumers[consumer as usize].attempt + 1;
                if max_attempts.is_some_and(|most| next >= most) {
                    self.settle(now, group, id, Settlement::Dropped);
                    return AttemptEnd::Settled;
                }
                let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
                c.retry_in_place(r, group, consumer, backoff, around, &mut out);
                return AttemptEnd::RetryingInPlace;
            }
        }
        AttemptEnd::Settled
    }

    fn settle(&mut self, now: SimTime, group: GroupIdx, id: crate::workload::MessageId, outcome: Settlement) {
        self.client(now, ClientEvent::Settled { id, group, outcome });
    }

    /// Produces the record to retry topic `topic` (past the last: the dead-letter topic).
    fn produce_to_retry_topic(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        topic: usize,
        msg: StoredMessage,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(&delay) = self.failing[group].policy.retry_topics.get(topic) else {
            self.settle(now, group, msg.id(), Settlement::DeadLettered);
            return;
        };
        self.settle(now, group, msg.id(), Settlement::Retrying);
        self.failing[group].topics[topic].waiting.push_back((now.after(delay), msg));
        self.retry_topic_next(now, group, topic, sched);
    }

    /// The retry topic's consumer: ends the job due now, starts the next due record, or sets a
    /// timer for what comes next.
    pub(super) fn retry_topic_next(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        topic: usize,
        sched: &mut Scheduler<Event>,
    ) {
        let t = &mut self.failing[group].topics[topic];
        if t.armed.is_some_and(|at| at <= now) {
            t.armed = None;
        }
        if let Some((end, msg)) = t.busy {
            if end > now {
                return;
            }
            t.busy = None;
            // Attempt `topic + 1`: the main topic's was 0.
            let failed = self.failing[group].decision.fails(msg.id(), topic as u32 + 1);
            if failed {
                self.client(now, ClientEvent::ProcessingFailed { msg, group, consumer: 0 });
                self.produce_to_retry_topic(now, group, topic + 1, msg, sched);
            } else {
                self.client(now, ClientEvent::Processed { msg, group, consumer: 0 });
            }
        }
        let t = &mut self.failing[group].topics[topic];
        if t.busy.is_some() {
            return;
        }
        let next = match t.waiting.front() {
            Some(&(due, msg)) if due <= now => {
                t.waiting.pop_front();
                let end = now.after(self.processing.of(group, msg.id()));
                self.failing[group].topics[topic].busy = Some((end, msg));
                end
            }
            Some(&(due, _)) => due,
            None => return,
        };
        let t = &mut self.failing[group].topics[topic];
        if t.armed.is_none_or(|at| at > next) {
            t.armed = Some(next);
            let node = self.coord;
            self.world.timer_at(sched, node, next, Timer::RetryTopic { group, topic });
        }
    }
}
