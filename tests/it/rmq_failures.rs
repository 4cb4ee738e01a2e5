//! RabbitMQ consumers that fail (issue 18, item 5), worked by hand: 10 messages at 0.1 s, 0.2 s,
//! ... 1.0 s, one consumer processing each in 10 ms, no network latency (`ideal`).

use crate::common::{assert_refused, client_events, delivery, scenario};
use pushpull::history::{ClientEvent, Settlement};
use pushpull::scenario::SystemKind;

fn file(policy: &str, extra: &str) -> String {
    format!(
        r#"
duration = "1050ms"
systems = ["rabbitmq"]
{extra}
[workload]
rate = 10
arrivals = "constant"
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
processing = "10ms"
{policy}
[[groups]]
name = "dead"
processing = "10ms"
"#
    )
}

/// Every message fails every time and the consumer rejects it without requeue: the queue
/// dead-letters all 10 (RabbitMQ: reason `rejected`, see validation/rabbitmq), and the dead-letter
/// queue's consumer processes each once; nothing is lost.
#[test]
fn rejected_messages_are_dead_lettered() {
    let s = scenario(&file(
        "failure_rate = 1.0\npoison_fraction = 1.0\non_failure = \"reject\"\ndead_letter_exchange = \"dlx\"",
        "",
    ));
    let d = delivery(&s, SystemKind::RabbitMq);
    let (w, x) = (&d.groups["work"], &d.groups["dead"]);
    assert_eq!((w.owed, w.processed_unique, w.dead_lettered, w.failed_attempts), (10, 0, 10, 10));
    assert_eq!((x.owed, x.processed_unique, x.duplicates), (10, 10, 0));
    assert_eq!(w.acknowledged_lost + w.unacknowledged_lost + w.stranded, 0);
    // Without a dead-letter exchange they are dropped.
    let s = scenario(&file("failure_rate = 1.0\npoison_fraction = 1.0\non_failure = \"nack\"", ""));
    let d = delivery(&s, SystemKind::RabbitMq);
    assert_eq!((d.groups["work"].dropped, d.groups["dead"].owed), (10, 0));
}

/// Every message fails once (transient): `nack-requeue` puts it back at its place, it comes
/// back flagged redelivered at once and succeeds: 10 processed, 10 failed attempts, 10
/// redelivered, no duplicate, nothing retrying at the end.
#[test]
fn a_transient_failure_is_requeued_and_succeeds_on_redelivery() {
    let s = scenario(&file("failure_rate = 1.0\non_failure = \"nack-requeue\"", ""));
    let d = delivery(&s, SystemKind::RabbitMq);
    let w = &d.groups["work"];
    assert_eq!((w.owed, w.processed_unique, w.failed_attempts, w.redelivered, w.duplicates), (10, 10, 10, 10, 0));
    assert_eq!(w.retried, 0);
    // Each message: processing fails at p + 10 ms, it is delivered again at once, and done at
    // p + 20 ms.
    let mut done = std::collections::BTreeMap::new();
    let mut sent = std::collections::BTreeMap::new();
    for (at, e) in client_events(&s, SystemKind::RabbitMq).0 {
        match e {
            ClientEvent::Sent { msg } => {
                sent.insert(msg.id, at.0);
            }
            ClientEvent::Processed { msg, group: 0, .. } => {
                done.insert(msg.id(), at.0);
            }
            _ => {}
        }
    }
    for (id, t) in done {
        assert_eq!(t - sent[&id], 20_000_000, "message {id}");
    }
}

/// One poison message under `nack-requeue` loops, as in RabbitMQ: message 0 (sent at 0.1 s)
/// fails every 10 ms until the bounded drain stops the run at 1.05 s + 1 s; the other nine
/// (each arriving while it is requeued, behind it in the queue by position) wait their turn
/// between its attempts. It ends `retried` (still in a retry), not lost.
#[test]
fn a_poison_message_under_nack_requeue_loops_until_the_run_stops() {
    let s =
        scenario(&file("failure_rate = 1.0\npoison_fraction = 1.0\non_failure = \"nack-requeue\"", "drain = \"1s\""));
    let mut failures = 0;
    let mut retrying = 0;
    for (_, e) in client_events(&s, SystemKind::RabbitMq).0 {
        match e {
            ClientEvent::ProcessingFailed { .. } => failures += 1,
            ClientEvent::Settled { outcome: Settlement::Retrying, .. } => retrying += 1,
            _ => {}
        }
    }
    // Every message is poison here: each of the 10 loops; together one attempt per 10 ms from
    // 0.1 s to the stop at 2.05 s: 195 attempts (the edges within one).
    assert!((194..=196).contains(&failures), "{failures}");
    assert_eq!(failures, retrying);
    let d = delivery(&s, SystemKind::RabbitMq);
    let w = &d.groups["work"];
    assert_eq!((w.owed, w.processed_unique, w.retried), (10, 0, 10));
    assert_eq!(w.acknowledged_lost + w.unacknowledged_lost, 0, "a message in a retry loop is not lost");
}

#[test]
fn rabbitmq_failures_are_refused_where_not_simulated() {
    let poison = "failure_rate = 0.1\npoison_fraction = 1.0\non_failure = \"nack-requeue\"";
    assert_refused(&file(poison, ""), "t.toml", "groups[0].poison_fraction", "drain = \"1m\"");
    let stream = "duration = \"1s\"\nsystems = [\"rabbitmq\"]\n[workload]\nrate = 10\n[rabbitmq]\nqueue_type = \"stream\"\nprefetch = 10\n\
                  [[groups]]\nname = \"work\"\nfailure_rate = 0.1\non_failure = \"reject\"\n";
    assert_refused(stream, "t.toml", "groups[0].failure_rate", "classic and quorum queues only");
    // A quorum queue's nack does not count towards the delivery limit (RabbitMQ 4.3): a poison
    // message loops for ever; so does a reject with the limit disabled. A limited reject drains.
    let nack = quorum(&format!("{poison}\ndelivery_limit = 3\ndead_letter_exchange = \"dlx\""), "");
    assert_refused(&nack, "t.toml", "groups[0].poison_fraction", "does not count towards the");
    let unlimited =
        quorum("failure_rate = 0.1\npoison_fraction = 1.0\non_failure = \"reject-requeue\"\ndelivery_limit = -1", "");
    assert_refused(&unlimited, "t.toml", "groups[0].poison_fraction", "delivery_limit = -1");
    scenario(&quorum("failure_rate = 0.1\npoison_fraction = 1.0\non_failure = \"reject-requeue\"", ""));
    let auto = file("failure_rate = 0.1\non_failure = \"reject\"", "").replace(
        "[[exchanges]]\nname = \"events\"",
        "[rabbitmq]\nack = \"auto\"\nprefetch = 0\n[[exchanges]]\nname = \"events\"",
    );
    assert_refused(&auto, "t.toml", "groups[0].failure_rate", "ack = \"manual\"");
}

/// The scenario of [`file`] on quorum queues.
fn quorum(policy: &str, extra: &str) -> String {
    file(policy, extra).replace(
        "[[exchanges]]\nname = \"events\"",
        "[rabbitmq]\nqueue_type = \"quorum\"\n[[exchanges]]\nname = \"events\"",
    )
}

/// A quorum queue with `delivery_limit = 3` and a dead-letter exchange, every message poison,
/// the consumer answering `basic.reject` with requeue: each message is delivered 4 times (the
/// first, then 3 redeliveries: 4 failed deliveries > 3), then dead-lettered (reason
/// `delivery_limit`); the dead-letter queue's consumer processes each once. 40 failed attempts,
/// 30 redeliveries, 10 dead-lettered, nothing lost, and the run drains without a bound.
#[test]
fn a_quorum_queue_dead_letters_a_rejected_poison_message_after_its_delivery_limit() {
    let s = scenario(&quorum(
        "failure_rate = 1.0\npoison_fraction = 1.0\non_failure = \"reject-requeue\"\ndelivery_limit = 3\n\
         dead_letter_exchange = \"dlx\"",
        "",
    ));
    let d = delivery(&s, SystemKind::RabbitMq);
    let (w, x) = (&d.groups["work"], &d.groups["dead"]);
    assert_eq!((w.owed, w.processed_unique, w.dead_lettered, w.retried), (10, 0, 10, 0));
    assert_eq!((w.failed_attempts, w.redelivered), (40, 30));
    assert_eq!((x.owed, x.processed_unique, x.duplicates), (10, 10, 0));
    for g in [w, x] {
        assert_eq!(g.acknowledged_lost + g.unacknowledged_lost + g.stranded, 0);
    }
    // Without a dead-letter exchange they are dropped, and "dead" is owed nothing.
    let s = scenario(&quorum(
        "failure_rate = 1.0\npoison_fraction = 1.0\non_failure = \"reject-requeue\"\ndelivery_limit = 0",
        "",
    ));
    let d = delivery(&s, SystemKind::RabbitMq);
    let w = &d.groups["work"];
    assert_eq!((w.dropped, w.failed_attempts, w.redelivered, d.groups["dead"].owed), (10, 10, 0, 0));
}

/// Some messages poison, some failing once, the rest fine, decided by the seed and the id: on a
/// quorum queue with the default delivery limit (20) and a dead-letter exchange, exactly the
/// poison ones are dead-lettered, each after 21 failed deliveries; a transient failure is
/// processed on its redelivery; the dead-letter queue is owed and processes the poison ones.
#[test]
fn quorum_dead_letters_exactly_the_poison_messages() {
    let text = quorum(
        "failure_rate = 0.5\npoison_fraction = 0.5\non_failure = \"reject-requeue\"\ndead_letter_exchange = \"dlx\"",
        "seed = 7",
    )
    .replace("rate = 10\n", "rate = 100\n");
    let s = scenario(&text);
    let fates = pushpull::failures::Failures::for_group(&s, 0);
    let d = delivery(&s, SystemKind::RabbitMq);
    let (w, x) = (&d.groups["work"], &d.groups["dead"]);
    let sent = w.owed;
    assert!(sent > 100, "100/s for 1.05 s: {sent}");
    let poison = (0..sent).filter(|&id| fates.fate(id) == pushpull::failures::Fate::Poison).count() as u64;
    let transient = (0..sent).filter(|&id| fates.fate(id) == pushpull::failures::Fate::Transient).count() as u64;
    assert!(poison > 5 && transient > 5, "the seed gives both kinds: {poison} poison, {transient} transient");
    assert_eq!((w.dead_lettered, w.processed_unique), (poison, sent - poison));
    assert_eq!(w.failed_attempts, 21 * poison + transient);
    assert_eq!((x.owed, x.processed_unique, x.duplicates), (poison, poison, 0));
    for g in [w, x] {
        assert_eq!(g.acknowledged_lost + g.unacknowledged_lost + g.stranded + g.retried, 0);
    }
}
