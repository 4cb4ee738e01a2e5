//! The model's RabbitMQ queue policy against a real broker: `validation/rabbitmq/queue_policy.py`
//! ran the same cases on RabbitMQ 3.10.8 (Debian's `rabbitmq-server`, one node, pika) and its
//! output is committed as `queue_policy.out.json`. Each test runs the model on the same case
//! (10 messages numbered 0 to 9, published 0.1 s apart, the consumer away) and asserts the same
//! outcome, message by message: which stay, which are dead-lettered, which are refused. No
//! tolerance: these are sets of message numbers.

use crate::common::{client_events, scenario};
use pushpull::history::{ClientEvent, Settlement};
use pushpull::scenario::SystemKind;
use std::collections::BTreeSet;

/// The real broker's outcome of case `case`, field `field`: message numbers, in order.
fn real(case: &str, field: &str) -> Vec<u64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/validation/rabbitmq/queue_policy.out.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let list = &v[case][field];
    list.as_array()
        .unwrap_or_else(|| panic!("{case}.{field} in {path}"))
        .iter()
        .map(|x| if x.is_array() { x[0].as_u64().unwrap() } else { x.as_u64().unwrap() })
        .collect()
}

fn real_reasons(case: &str, field: &str) -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/validation/rabbitmq/queue_policy.out.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v[case][field].as_array().unwrap().iter().map(|x| x[1].as_str().unwrap().to_owned()).collect()
}

/// `n` messages at 0.1 s, 0.2 s, ... to group `work` (its consumer down from 50 ms for `down`),
/// with `policy` on its queue, a fanout dead-letter exchange `dlx` bound to group `dead`.
fn case(n: u32, policy: &str, down: &str, extra: &str) -> pushpull::scenario::Scenario {
    scenario(&format!(
        r#"
duration = "{}ms"
systems = ["rabbitmq"]
[workload]
rate = 10
arrivals = "constant"
[rabbitmq]
{extra}
[[exchanges]]
name = "events"
type = "fanout"
[[exchanges]]
name = "dlx"
type = "fanout"
[[bindings]]
exchange = "events"
queue = "work"
[[bindings]]
exchange = "dlx"
queue = "dead"
[[groups]]
name = "work"
processing = "1ms"
{policy}
[[groups]]
name = "dead"
processing = "1ms"
[[faults]]
at = "50ms"
action = "crash"
target = "work/0"
duration = "{down}"
"#,
        n * 100 + 50
    ))
}

/// Per group index: the message numbers processed; the numbers dead-lettered from `work`
/// before `by` seconds; the numbers acknowledged within 10 ms of being sent.
struct Outcome {
    processed: [BTreeSet<u64>; 2],
    dead_lettered: BTreeSet<u64>,
    confirmed_at_once: BTreeSet<u64>,
}

fn outcome(s: &pushpull::scenario::Scenario, by: f64) -> Outcome {
    let mut o = Outcome {
        processed: [BTreeSet::new(), BTreeSet::new()],
        dead_lettered: BTreeSet::new(),
        confirmed_at_once: BTreeSet::new(),
    };
    let mut sent = std::collections::BTreeMap::new();
    for (at, e) in client_events(s, SystemKind::RabbitMq).0 {
        let t = at.0 as f64 / 1e9;
        match e {
            ClientEvent::Sent { msg } => {
                sent.entry(msg.id).or_insert(t);
            }
            ClientEvent::Acknowledged { id } if t - sent[&id] < 0.01 => {
                o.confirmed_at_once.insert(id);
            }
            ClientEvent::Processed { msg, group, .. } => {
                o.processed[group].insert(msg.id());
            }
            ClientEvent::Settled { id, group: 0, outcome: Settlement::DeadLettered } if t < by => {
                o.dead_lettered.insert(id);
            }
            _ => {}
        }
    }
    o
}

fn set(v: Vec<u64>) -> BTreeSet<u64> {
    v.into_iter().collect()
}

/// `x-message-ttl` 1 s with a dead-letter exchange, nobody consuming: every message expires and
/// is dead-lettered (RabbitMQ: all 10, reason `expired`).
#[test]
fn ttl_dead_letters_what_nobody_consumed_as_rabbitmq_does() {
    let o = outcome(&case(10, "message_ttl = \"1s\"\ndead_letter_exchange = \"dlx\"", "100s", ""), f64::MAX);
    assert_eq!(o.dead_lettered, set(real("ttl", "dlq")));
    assert_eq!(o.processed[1], set(real("ttl", "dlq")), "the dead-letter queue's consumer gets them");
    assert!(o.processed[0].is_empty() && real("ttl", "left").is_empty());
    assert_eq!(real_reasons("ttl", "dlq"), BTreeSet::from(["expired".to_owned()]));
}

/// `x-max-length` 5, drop-head, with a dead-letter exchange, 10 published while the consumer is
/// away: RabbitMQ keeps the newest five and dead-letters the oldest five (reason `maxlen`).
#[test]
fn drop_head_keeps_and_dead_letters_the_same_messages_as_rabbitmq() {
    let o = outcome(&case(10, "max_length = 5\ndead_letter_exchange = \"dlx\"", "10s", ""), f64::MAX);
    assert_eq!(o.processed[0], set(real("drop_head", "left")));
    assert_eq!(o.dead_lettered, set(real("drop_head", "dlq")));
    assert_eq!(real_reasons("drop_head", "dlq"), BTreeSet::from(["maxlen".to_owned()]));
}

/// `x-max-length` 5, reject-publish, publisher confirms: RabbitMQ confirms the first five and
/// nacks the other five. The model's producer confirms the same five at once (the others are
/// published again later, which the real script did not do).
#[test]
fn reject_publish_confirms_the_same_messages_as_rabbitmq() {
    let policy = "max_length = 5\noverflow = \"reject-publish\"";
    let o = outcome(&case(10, policy, "100s", "publisher_confirms = true"), f64::MAX);
    let left = set(real("reject_publish", "left"));
    assert_eq!(o.confirmed_at_once, left);
    assert_eq!(left.len() as u64, 10 - real_nacked("reject_publish"));
}

/// `x-max-length` 2, reject-publish-dlx, confirms, 5 published: RabbitMQ confirms two, nacks three
/// and dead-letters those three (reason `maxlen`). Counted before the model's producer publishes
/// the refused ones again (5 s later).
#[test]
fn reject_publish_dlx_refuses_and_dead_letters_the_same_messages_as_rabbitmq() {
    let policy = "max_length = 2\noverflow = \"reject-publish-dlx\"\ndead_letter_exchange = \"dlx\"";
    let o = outcome(&case(5, policy, "100s", "publisher_confirms = true"), 5.0);
    assert_eq!(o.confirmed_at_once, set(real("reject_publish_dlx", "left")));
    assert_eq!(o.dead_lettered, set(real("reject_publish_dlx", "dlq")));
    assert_eq!(real_nacked("reject_publish_dlx"), 3);
}

/// `x-max-length` counts ready messages only: with two messages delivered and unacknowledged
/// (prefetch 2, the consumer busy for 10 s with the first), four more published to a queue of at
/// most 2 keep the newest two ready (RabbitMQ: 4 and 5); the model drops 2 and 3 and processes
/// 0, 1, 4, 5.
#[test]
fn the_length_limit_counts_ready_messages_only_as_in_rabbitmq() {
    let s = scenario(
        r#"
duration = "650ms"
systems = ["rabbitmq"]
[workload]
rate = 10
arrivals = "constant"
[rabbitmq]
prefetch = 2
ack = "manual"
[[groups]]
name = "work"
processing = "10s"
max_length = 2
"#,
    );
    let o = outcome(&s, f64::MAX);
    let mut want = set(vec![0, 1]);
    want.extend(real("maxlen_ready_only", "ready_left"));
    assert_eq!(o.processed[0], want);
}

fn real_nacked(case: &str) -> u64 {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/validation/rabbitmq/queue_policy.out.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v[case]["nacked"].as_u64().unwrap()
}

/// Priority queues and single active consumer, against `validation/rabbitmq/priority_sac.py`'s
/// run on RabbitMQ 3.10.8 (`priority_sac.out.json`): the model's classic queue, given the same
/// messages in the same order, ends the same way. Exact: orders and counts of message numbers.
mod priority_and_single_active {
    use pushpull::models::rabbitmq::queue::ClassicQueue;
    use pushpull::scenario::policy::QueuePolicy;
    use pushpull::time::{SimDuration, SimTime};
    use pushpull::workload::{Message, StoredMessage};

    fn real() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/validation/rabbitmq/priority_sac.out.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn ids(v: &serde_json::Value) -> Vec<u64> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
    }

    fn m(id: u64) -> StoredMessage {
        StoredMessage::new(&Message { id, published_at: SimTime(0), key: None, bytes: 1 })
    }

    fn ms(x: u64) -> SimTime {
        SimTime(x * 1_000_000)
    }

    /// Everything ready, in delivery order, to a consumer with an unlimited window.
    fn delivered(q: &mut ClassicQueue, now: SimTime) -> Vec<u64> {
        q.subscribe(0, 0, 9);
        std::iter::from_fn(|| q.next_delivery(now, false)).map(|(_, r)| r.msg.id()).collect()
    }

    #[test]
    fn priorities_deliver_in_the_real_brokers_order() {
        // x-max-priority 5; priorities 0, 5, 2, 9 (above the maximum), none (0), 5.
        let mut q = ClassicQueue::new(1).max_priority(5);
        for (id, p) in [(0, 0), (1, 5), (2, 2), (3, 9), (4, 0), (5, 5)] {
            q.enqueue(m(id), p, SimTime(0));
        }
        assert_eq!(delivered(&mut q, SimTime(0)), ids(&real()["priority_order"]));
    }

    #[test]
    fn drop_head_drops_the_high_priority_head_as_the_real_broker_does() {
        let policy = QueuePolicy { max_length: Some(2), ..Default::default() };
        let mut q = ClassicQueue::new(1).max_priority(1);
        let mut dropped = Vec::new();
        for (id, p) in [(0, 0), (1, 1), (2, 0)] {
            q.enqueue(m(id), p, SimTime(0));
            q.drop_over_limit(&policy, &mut dropped);
        }
        assert_eq!(delivered(&mut q, SimTime(0)), ids(&real()["priority_drop_head"]["left"]));
    }

    #[test]
    fn ttl_keeps_an_expired_low_priority_message_behind_a_live_high_one() {
        let ttl = SimDuration::from_secs(1);
        let mut q = ClassicQueue::new(1).max_priority(1);
        q.enqueue(m(0), 0, ms(0));
        q.enqueue(m(1), 1, ms(700));
        let mut out = Vec::new();
        q.expire(ms(1300), ttl, &mut out);
        let r = &real()["priority_ttl"];
        assert_eq!(q.depth(), r["count_at_1_3s"].as_u64().unwrap());
        q.expire(ms(2000), ttl, &mut out);
        assert_eq!(q.depth(), r["count_at_2_0s"].as_u64().unwrap());
    }

    #[test]
    fn a_single_active_consumer_and_its_successor_get_what_the_real_brokers_did() {
        // Consumers a, b, c (0, 1, 2) subscribe in that order, prefetch 2, and never ack.
        let mut q = ClassicQueue::new(3).single_active(true);
        for c in 0..3 {
            q.subscribe(c, 2, 1);
        }
        for id in 0..5 {
            q.enqueue(m(id), 0, SimTime(0));
        }
        let name = |c: u32| ["a", "b", "c"][c as usize];
        let take = |q: &mut ClassicQueue| -> Vec<serde_json::Value> {
            std::iter::from_fn(|| q.next_delivery(SimTime(0), true))
                .map(|(c, r)| serde_json::json!([name(c), r.msg.id(), r.redelivered]))
                .collect()
        };
        let r = &real()["single_active"];
        assert_eq!(&serde_json::Value::from(take(&mut q)), &r["before"]);
        q.close_channel(0);
        assert_eq!(&serde_json::Value::from(take(&mut q)), &r["after_a_closes"]);
    }
}
