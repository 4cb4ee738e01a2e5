//! Consumers that fail (issue 18, item 5): the `[[groups]]` fields `failure_rate`,
//! `poison_fraction`, `on_failure`, `retry_topics`, `retry_backoff` and `max_attempts`, typed.
//! Which messages fail is decided in [`crate::failures`]; what each system does about it, in its
//! model. docs/failures.md names the real settings behind each value.

use crate::time::SimDuration;

/// RabbitMQ: what the consumer application does with a message it failed to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RabbitOnFailure {
    /// `basic.nack` with `requeue = true`: back to the queue, delivered again.
    #[serde(rename = "nack-requeue")]
    NackRequeue,
    /// `basic.reject` with `requeue = true`: back to the queue, as `nack-requeue`; on a quorum
    /// queue (RabbitMQ 4.3) it also counts as a failed delivery towards `delivery_limit`, which
    /// a `basic.nack` does not.
    #[serde(rename = "reject-requeue")]
    RejectRequeue,
    /// `basic.nack` with `requeue = false`: dead-lettered if the queue has a dead-letter
    /// exchange, else dropped.
    #[serde(rename = "nack")]
    Nack,
    /// `basic.reject` with `requeue = false`: as `nack`, for one message.
    #[serde(rename = "reject")]
    Reject,
}

impl RabbitOnFailure {
    /// Each value with its name in scenario files.
    pub const ALL: [(&'static str, RabbitOnFailure); 4] = [
        ("nack-requeue", RabbitOnFailure::NackRequeue),
        ("reject-requeue", RabbitOnFailure::RejectRequeue),
        ("nack", RabbitOnFailure::Nack),
        ("reject", RabbitOnFailure::Reject),
    ];

    /// Whether the message goes back to the queue (`requeue = true`).
    pub fn requeues(self) -> bool {
        matches!(self, RabbitOnFailure::NackRequeue | RabbitOnFailure::RejectRequeue)
    }

    /// Whether a quorum queue counts it as a failed delivery (`delivery-count` + 1): `basic.reject`
    /// does, `basic.nack` does not (RabbitMQ 4.3, rabbitmq-server #15387).
    pub fn delivery_failed(self) -> bool {
        matches!(self, RabbitOnFailure::RejectRequeue | RabbitOnFailure::Reject)
    }
}

/// Kafka: what the consumer application does with a record it failed to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum KafkaOnFailure {
    /// Processes the same record again after `retry_backoff`, without moving past it (Spring
    /// Kafka's `DefaultErrorHandler`, a plain consumer's seek back): the partition waits. After
    /// `max_attempts` the record is given up (logged and skipped: `dropped`).
    #[serde(rename = "retry-in-place")]
    RetryInPlace,
    /// Logs and goes on: the record is `dropped`.
    #[serde(rename = "skip")]
    Skip,
    /// Produces the record to the next retry topic (consumed after that topic's delay), and after
    /// the last to the dead-letter topic `<topic>-dlt` (Spring Kafka `@RetryableTopic`). The
    /// partition moves on.
    #[serde(rename = "retry-topics")]
    RetryTopics,
}

impl KafkaOnFailure {
    /// Each value with its name in scenario files.
    pub const ALL: [(&'static str, KafkaOnFailure); 3] = [
        ("retry-in-place", KafkaOnFailure::RetryInPlace),
        ("skip", KafkaOnFailure::Skip),
        ("retry-topics", KafkaOnFailure::RetryTopics),
    ];
}

/// The value named `name` among `all`.
pub fn named<T: Copy>(all: &[(&str, T)], name: &str) -> Option<T> {
    all.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// `"a", "b", "c"`: the names of `all`, for error messages.
pub fn names<T>(all: &[(&str, T)]) -> String {
    all.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// A group's failing consumers. The default (`failure_rate` 0) never fails, and is left out of
/// `summary.json`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FailurePolicy {
    /// Fraction of messages whose processing fails (on the first attempt at least).
    pub failure_rate: f64,
    /// Of the failing messages, the fraction that fail on every attempt (poison); the others
    /// fail on their first attempt only.
    pub poison_fraction: f64,
    pub rabbitmq: RabbitOnFailure,
    pub kafka: KafkaOnFailure,
    /// Kafka `retry-topics`: the delay of each retry topic, in order; then the dead-letter topic.
    pub retry_topics: Vec<SimDuration>,
    /// Kafka `retry-in-place`: the wait before processing the record again.
    pub retry_backoff: SimDuration,
    /// Kafka `retry-in-place`: processing attempts of one record before it is given up (`None`:
    /// never, the partition waits for ever behind a poison record).
    pub max_attempts: Option<u32>,
}

/// `[[groups]] on_failure` for RabbitMQ: `nack-requeue`, what Spring AMQP's listener container
/// does with a listener's exception by default (`defaultRequeueRejected` = true).
pub const RABBITMQ_ON_FAILURE: RabbitOnFailure = RabbitOnFailure::NackRequeue;
/// `[[groups]] on_failure` for Kafka: `retry-in-place`, what Spring Kafka's `DefaultErrorHandler`
/// (the listener container's default error handler) does: seek back and process the record again.
pub const KAFKA_ON_FAILURE: KafkaOnFailure = KafkaOnFailure::RetryInPlace;

impl Default for FailurePolicy {
    fn default() -> Self {
        use super::defaults as d;
        FailurePolicy {
            failure_rate: 0.0,
            poison_fraction: 0.0,
            rabbitmq: RABBITMQ_ON_FAILURE,
            kafka: KAFKA_ON_FAILURE,
            retry_topics: d::KAFKA_RETRY_TOPICS.to_vec(),
            retry_backoff: d::KAFKA_FAILED_RECORD_BACKOFF,
            max_attempts: Some(d::KAFKA_RETRY_MAX_ATTEMPTS),
        }
    }
}

impl FailurePolicy {
    /// No message ever fails: the group behaves as before issue 18.
    pub fn is_default(&self) -> bool {
        *self == FailurePolicy::default()
    }

    pub fn any_failures(&self) -> bool {
        self.failure_rate > 0.0
    }
}
