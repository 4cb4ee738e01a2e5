//! Consumers that fail (issue 18, item 5): the scenario fields, and what Kafka's consumer does
//! with a failed record. Counts are predicted from `pushpull::failures` itself, independently of
//! the model.

use crate::common::{assert_refused, scenario};
use pushpull::scenario::failing::{KafkaOnFailure, RabbitOnFailure};
use pushpull::time::SimDuration;

const BASE: &str = r#"
duration = "10s"
[workload]
rate = 100
[[groups]]
name = "g"
"#;

#[test]
fn failure_fields_parse_with_their_defaults() {
    let s = scenario(&(BASE.to_string() + "failure_rate = 0.01\npoison_fraction = 0.5\n"));
    let p = &s.groups[0].failures;
    assert_eq!((p.failure_rate, p.poison_fraction), (0.01, 0.5));
    // Spring's defaults: DefaultErrorHandler FixedBackOff(0, 9); @RetryableTopic attempts = 3, 1 s.
    assert_eq!((p.kafka, p.rabbitmq), (KafkaOnFailure::RetryInPlace, RabbitOnFailure::NackRequeue));
    assert_eq!((p.retry_backoff, p.max_attempts), (SimDuration::ZERO, Some(10)));
    assert_eq!(p.retry_topics, vec![SimDuration::from_secs(1); 2]);

    let s = scenario(
        &(BASE.to_string()
            + "failure_rate = 0.01\non_failure = { rabbitmq = \"nack\", kafka = \"retry-topics\" }\n\
               retry_topics = [\"5s\", \"1m\"]\n"),
    );
    let p = &s.groups[0].failures;
    assert_eq!((p.kafka, p.rabbitmq), (KafkaOnFailure::RetryTopics, RabbitOnFailure::Nack));
    assert_eq!(p.retry_topics, vec![SimDuration::from_secs(5), SimDuration::from_secs(60)]);

    // A plain string sets the one system it fits; the other keeps its default.
    let s = scenario(&(BASE.to_string() + "on_failure = \"skip\"\n"));
    assert_eq!(
        (s.groups[0].failures.kafka, s.groups[0].failures.rabbitmq),
        (KafkaOnFailure::Skip, RabbitOnFailure::NackRequeue)
    );
    let s = scenario(
        &(BASE.to_string() + "on_failure = \"reject\"\nretry_backoff = \"2s\"\nmax_attempts = \"unlimited\"\n"),
    );
    let p = &s.groups[0].failures;
    assert_eq!((p.kafka, p.rabbitmq, p.max_attempts), (KafkaOnFailure::RetryInPlace, RabbitOnFailure::Reject, None));
    assert_eq!(p.retry_backoff, SimDuration::from_secs(2));
}

#[test]
fn failure_errors_name_the_field_the_value_and_what_is_allowed() {
    let refused = |extra: &str, field: &str, says: &str| {
        assert_refused(&(BASE.to_string() + extra), "f.toml", field, says);
    };
    refused(
        "failure_rate = 1.5\n",
        "groups[0].failure_rate",
        "1.5 is not allowed; the fraction of messages that fail must be from 0 to 1",
    );
    refused("poison_fraction = -0.1\n", "groups[0].poison_fraction", "must be from 0 to 1");
    refused(
        "on_failure = \"retry\"\n",
        "groups[0].on_failure",
        "\"retry\" is not a failure handling; allowed: RabbitMQ \"nack-requeue\", \"nack\", \"reject\", Kafka \"retry-in-place\", \"skip\", \"retry-topics\"",
    );
    refused(
        "on_failure = { kafka = \"nack\" }\n",
        "groups[0].on_failure.kafka",
        "\"nack\" is not a Kafka failure handling; allowed: \"retry-in-place\", \"skip\", \"retry-topics\"",
    );
    refused(
        "on_failure = { rabbitmq = \"skip\" }\n",
        "groups[0].on_failure.rabbitmq",
        "\"skip\" is not a RabbitMQ failure handling",
    );
    refused(
        "retry_topics = [\"5s\"]\n",
        "groups[0].retry_topics",
        "applies to on_failure kafka = \"retry-topics\" only",
    );
    refused("on_failure = \"retry-topics\"\nretry_topics = [\"5s\", \"soon\"]\n", "groups[0].retry_topics[1]", "soon");
    refused(
        "on_failure = \"skip\"\nretry_backoff = \"1s\"\n",
        "groups[0].retry_backoff",
        "applies to on_failure kafka = \"retry-in-place\" only",
    );
    refused(
        "max_attempts = 0\n",
        "groups[0].max_attempts",
        "0 is not allowed; the number of attempts must be an integer from 1",
    );
    refused("max_attempts = \"many\"\n", "groups[0].max_attempts", "or \"unlimited\"");
    refused("max_attempts = \"unlimited\"\n", "groups[0].max_attempts", "needs a retry_backoff above 0");
    refused("type = \"share\"\nfailure_rate = 0.1\n", "groups[0].failure_rate", "not simulated in Kafka share groups");
}
