//! Consumers that fail (issue 18, item 5): the scenario fields, and what Kafka's consumer does
//! with a failed record. Counts are predicted from `pushpull::failures` itself, independently of
//! the model.

use crate::common::{assert_refused, delivery, scenario};
use pushpull::failures::{Failures, Fate};
use pushpull::scenario::SystemKind;
use pushpull::scenario::failing::{KafkaOnFailure, RabbitOnFailure};
use pushpull::time::SimDuration;

const BASE: &str = r#"
duration = "10s"
systems = ["kafka"]
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
        "\"retry\" is not a failure handling; allowed: RabbitMQ \"nack-requeue\", \"reject-requeue\", \"nack\", \"reject\", Kafka \"retry-in-place\", \"skip\", \"retry-topics\"",
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

/// One Kafka consumer on one partition, 1 ms per record, ~1,000 records of 10 keys; 5% fail,
/// half of those always.
fn kafka_failing(handling: &str) -> pushpull::scenario::Scenario {
    scenario(&format!(
        r#"
duration = "10s"
systems = ["kafka"]
[workload]
rate = 100
keys = {{ distribution = "uniform", count = 10 }}
[[groups]]
name = "g"
processing = "1ms"
failure_rate = 0.05
poison_fraction = 0.5
{handling}
"#
    ))
}

/// (sent, transient, poison) as the decision itself says, independently of the model.
fn predicted(s: &pushpull::scenario::Scenario, sent: u64) -> (u64, u64, u64) {
    let f = Failures::for_group(s, 0);
    let fates: Vec<Fate> = (0..sent).map(|id| f.fate(id)).collect();
    let count = |x: Fate| fates.iter().filter(|&&y| y == x).count() as u64;
    (sent, count(Fate::Transient), count(Fate::Poison))
}

#[test]
fn kafka_skip_drops_every_failing_record_once() {
    let s = kafka_failing("on_failure = \"skip\"");
    let r = delivery(&s, SystemKind::Kafka);
    let (sent, transient, poison) = predicted(&s, r.sent);
    assert!(transient > 10 && poison > 10, "the case exercises both: {transient} transient, {poison} poison");
    let g = &r.groups["g"];
    assert_eq!(g.owed, sent);
    assert_eq!(g.dropped, transient + poison, "skip: every failing record dropped, transient or not");
    assert_eq!(g.failed_attempts, transient + poison, "one attempt each");
    assert_eq!(g.processed_unique, sent - transient - poison);
    assert_eq!((g.dead_lettered, g.retried, g.out_of_order), (0, 0, 0));
    assert!(g.identity_holds());
}

#[test]
fn kafka_retry_in_place_heals_transient_failures_and_gives_up_on_poison() {
    let s = kafka_failing("retry_backoff = \"10ms\"\nmax_attempts = 3");
    let r = delivery(&s, SystemKind::Kafka);
    let (sent, transient, poison) = predicted(&s, r.sent);
    let g = &r.groups["g"];
    // A transient record fails once and is processed on its second attempt; a poison record fails
    // all three attempts and is given up (dropped).
    assert_eq!(g.dropped, poison);
    assert_eq!(g.failed_attempts, transient + 3 * poison);
    assert_eq!(g.processed_unique, sent - poison);
    // The consumer never moves past a record it is retrying: order within a key holds.
    assert_eq!((g.out_of_order, g.dead_lettered, g.duplicates), (0, 0, 0));
    assert!(g.identity_holds());
}

#[test]
fn kafka_retry_topics_dead_letter_poison_and_reorder_the_retried() {
    let s = kafka_failing("on_failure = \"retry-topics\"\nretry_topics = [\"50ms\", \"100ms\"]");
    let r = delivery(&s, SystemKind::Kafka);
    let (sent, transient, poison) = predicted(&s, r.sent);
    let g = &r.groups["g"];
    // Transient: fails on the main topic, processed from retry topic 1. Poison: fails on the main
    // topic and both retry topics, then goes to the dead-letter topic.
    assert_eq!(g.dead_lettered, poison);
    assert_eq!(g.failed_attempts, transient + 3 * poison);
    assert_eq!(g.processed_unique, sent - poison);
    assert_eq!((g.dropped, g.retried, g.duplicates), (0, 0, 0), "the drain waits for the retry topics");
    // A record processed 50 ms late from a retry topic has been overtaken by later records of its
    // key (10 keys at 100 msg/s: one every 100 ms on average per key, so most but not all are).
    assert!(g.out_of_order > 0 && g.out_of_order <= transient, "{} of {transient}", g.out_of_order);
    assert!(g.identity_holds());
}

/// The drain is cut short while records wait in a 1-hour retry topic: they are `retried` (in
/// transit), not lost.
#[test]
fn records_in_a_retry_topic_at_the_end_are_retried_not_lost() {
    let s = scenario(
        r#"
duration = "5s"
drain = "10s"
systems = ["kafka"]
[workload]
rate = 100
[[groups]]
name = "g"
failure_rate = 0.1
on_failure = "retry-topics"
retry_topics = ["1h"]
"#,
    );
    let r = delivery(&s, SystemKind::Kafka);
    let (sent, transient, poison) = predicted(&s, r.sent);
    let g = &r.groups["g"];
    assert_eq!(poison, 0);
    assert_eq!(g.retried, transient);
    assert_eq!(g.processed_unique, sent - transient);
    assert_eq!(g.acknowledged_lost + g.unacknowledged_lost + g.stranded, 0);
    assert!(g.identity_holds());
}
