//! RabbitMQ queue policy (issue 18, item 4): TTL, length limits, overflow, dead-lettering. Each
//! case is worked out by hand from the publish times: which messages a consumer that is down for
//! a while gets, and which the queue lets go of.

use crate::common::{assert_refused, client_events, delivery, scenario};
use pushpull::history::ClientEvent;
use pushpull::scenario::SystemKind;
use std::collections::BTreeSet;

/// One consumer, down from `down_at` for `down`; 10 messages/s, one every 100 ms from 0.1 s to
/// just before `duration` (the last at `duration` - 0.1 s).
fn down_consumer(policy: &str, down_at: &str, down: &str, duration: &str, extra: &str) -> String {
    format!(
        r#"
duration = "{duration}"
systems = ["rabbitmq"]
[workload]
rate = 10
arrivals = "constant"
[rabbitmq]
{extra}
[[groups]]
name = "work"
processing = "1ms"
{policy}
[[faults]]
at = "{down_at}"
action = "crash"
target = "work/0"
duration = "{down}"
"#
    )
}

/// Per message id: when it was first sent; and the ids processed (at least once).
fn outcome(s: &pushpull::scenario::Scenario) -> (Vec<f64>, BTreeSet<u64>, u64) {
    let mut sent = Vec::new();
    let mut processed = BTreeSet::new();
    let mut times = 0;
    for (_, e) in client_events(s, SystemKind::RabbitMq).0 {
        match e {
            ClientEvent::Sent { msg } => sent.push(msg.published_at.0 as f64 / 1e9),
            ClientEvent::Processed { msg, .. } => {
                processed.insert(msg.id());
                times += 1;
            }
            _ => {}
        }
    }
    (sent, processed, times)
}

#[test]
fn ttl_expires_what_waited_longer_than_the_ttl_while_the_consumer_was_down() {
    // Down from 10.05 s to 55.05 s, TTL 20 s: a message enqueued at t expires at t + 20 s, so
    // those sent in (10.05, 35.05] s expire before the consumer is back (250 of them, 10.1 s to
    // 35.0 s); the ones sent from 35.1 s wait less than 20 s and are processed.
    let s = scenario(&down_consumer(r#"message_ttl = "20s""#, "10.05s", "45s", "60s", ""));
    let (sent, processed, times) = outcome(&s);
    assert_eq!(sent.len(), 599);
    let want: BTreeSet<u64> =
        (0..599u64).filter(|&i| !(sent[i as usize] > 10.05 && sent[i as usize] <= 35.05)).collect();
    assert_eq!(want.len(), 349, "250 expired");
    assert_eq!(processed, want);
    assert_eq!(times, 349, "nothing processed twice");
    let d = delivery(&s, SystemKind::RabbitMq);
    let g = &d.groups["work"];
    assert_eq!((g.owed, g.processed_unique, g.expired, g.dead_lettered, g.dropped), (599, 349, 250, 0, 0));
    assert_eq!(g.acknowledged_lost + g.unacknowledged_lost + g.stranded, 0, "expired is not lost");
    assert!(g.identity_holds());
}

/// The TTL case with a dead-letter exchange whose queue a second group consumes: the 250 expired
/// messages are `dead_lettered` in `work`, and `dead` is owed exactly those 250 and processes them
/// (none counted as not owed).
#[test]
fn dead_lettered_messages_are_owed_to_the_queues_the_dead_letter_exchange_routes_them_to() {
    let exchanges = r#"
[[exchanges]]
name = "events"
type = "fanout"
[[exchanges]]
name = "dlx"
type = "direct"
[[bindings]]
exchange = "events"
queue = "work"
[[bindings]]
exchange = "dlx"
queue = "dead"
routing_key = "expired"
[[groups]]
name = "dead"
processing = "1ms"
"#;
    let policy = "message_ttl = \"20s\"\ndead_letter_exchange = \"dlx\"\ndead_letter_routing_key = \"expired\"";
    let text = down_consumer(policy, "10.05s", "45s", "60s", "") + exchanges;
    let s = scenario(&text);
    let (sent, _, _) = outcome(&s);
    let mut dead = BTreeSet::new();
    for (_, e) in client_events(&s, SystemKind::RabbitMq).0 {
        if let ClientEvent::Processed { msg, group: 1, .. } = e {
            assert!(dead.insert(msg.id()), "{} processed twice by dead", msg.id());
        }
    }
    let want: BTreeSet<u64> = (0..599u64).filter(|&i| sent[i as usize] > 10.05 && sent[i as usize] <= 35.05).collect();
    assert_eq!(dead, want);
    let d = delivery(&s, SystemKind::RabbitMq);
    let (w, x) = (&d.groups["work"], &d.groups["dead"]);
    assert_eq!((w.owed, w.processed_unique, w.dead_lettered, w.expired), (599, 349, 250, 0));
    assert_eq!((x.owed, x.processed_unique, x.processed_not_owed), (250, 250, 0));
    assert!(w.identity_holds() && x.identity_holds());
    // Without the routing key the direct exchange routes nothing: dead-lettered, then dropped by
    // the exchange; `dead` is owed nothing.
    let s = scenario(&text.replace("dead_letter_routing_key = \"expired\"", ""));
    let d = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(
        (d.groups["work"].dead_lettered, d.groups["dead"].owed, d.groups["dead"].processed_not_owed),
        (250, 0, 0)
    );
}

#[test]
fn drop_head_keeps_the_newest_max_length_messages() {
    // Down from 1.05 s to 31.05 s; the run publishes 199 messages, until 19.9 s. The 189 sent
    // while it is down (1.1 s to 19.9 s) go to a queue of at most 50 ready messages: the oldest
    // 139 are dropped from the head, the newest 50 (15.0 s to 19.9 s) wait for the consumer.
    let s = scenario(&down_consumer("max_length = 50", "1.05s", "30s", "20s", ""));
    let (sent, processed, times) = outcome(&s);
    assert_eq!(sent.len(), 199);
    let want: BTreeSet<u64> = (0..199u64).filter(|&i| sent[i as usize] < 1.05 || sent[i as usize] > 14.95).collect();
    assert_eq!(want.len(), 60);
    assert_eq!(processed, want);
    assert_eq!(times, 60);
    let d = delivery(&s, SystemKind::RabbitMq);
    let g = &d.groups["work"];
    assert_eq!((g.owed, g.processed_unique, g.dropped, g.expired), (199, 60, 139, 0));
    assert!(g.identity_holds());
}

#[test]
fn reject_publish_nacks_and_the_producer_publishes_again_until_there_is_room() {
    // The same overload with reject-publish and publisher confirms: the first 50 messages sent
    // while the consumer is down (1.1 s to 6.0 s) fill the queue, and each later one is refused
    // (basic.nack). Our producer publishes an unconfirmed message again every 5 s: the one first
    // sent at p is accepted at the first p + 5k after 31.05 s, when the consumer has emptied the
    // queue. Nothing is lost or given up (the longest wait, 30 s, is under 120 s).
    let extra = "publisher_confirms = true";
    let s = scenario(&down_consumer("max_length = 50\noverflow = \"reject-publish\"", "1.05s", "30s", "20s", extra));
    let mut acked_at = vec![None; 199];
    let mut processed_at = vec![None; 199];
    let mut sent = vec![0.0; 199];
    let mut failed = 0;
    for (at, e) in client_events(&s, SystemKind::RabbitMq).0 {
        let t = at.0 as f64 / 1e9;
        match e {
            ClientEvent::Sent { msg } => sent[msg.id as usize] = msg.published_at.0 as f64 / 1e9,
            ClientEvent::Acknowledged { id } => acked_at[id as usize] = Some(t),
            ClientEvent::Processed { msg, .. } => {
                assert!(processed_at[msg.id() as usize].replace(t).is_none(), "{} processed twice", msg.id());
            }
            ClientEvent::SendFailed { .. } => failed += 1,
            _ => {}
        }
    }
    assert_eq!(failed, 0);
    for id in 0..199 {
        let p = sent[id];
        let acked = acked_at[id].unwrap_or_else(|| panic!("{id} never confirmed"));
        assert!(processed_at[id].is_some(), "{id} never processed");
        if p < 6.05 {
            assert!(acked < p + 0.01, "{id}, sent at {p}, had room: confirmed at once, not at {acked}");
        } else {
            // Refused until the consumer is back; accepted at the first retry after 31.05 s.
            let k = ((31.05 - p) / 5.0).ceil();
            let retry = p + 5.0 * k;
            assert!((acked - retry).abs() < 0.01, "{id}, sent at {p}: confirmed at {acked}, want {retry}");
        }
    }
    let refused = (0..199).filter(|&i| sent[i] > 6.05).count();
    assert_eq!(refused, 139);
    // Refused publishes are not settled by the queue: each was published again and processed.
    let d = delivery(&s, SystemKind::RabbitMq);
    let g = &d.groups["work"];
    assert_eq!((g.owed, g.processed_unique, g.dropped, g.duplicates, d.publish_failures), (199, 199, 0, 0, 0));
    // Down for 200 s instead: a refused message is given up after 120 s, so those first sent
    // after 6.05 s are never accepted (each retry before 126.1 s at the latest finds the queue
    // full), the producer is told (`publish_failures`), and the checker counts them as
    // unacknowledged lost, not as held by the queue.
    let s = scenario(&down_consumer("max_length = 50\noverflow = \"reject-publish\"", "1.05s", "200s", "20s", extra));
    let d = delivery(&s, SystemKind::RabbitMq);
    let g = &d.groups["work"];
    assert_eq!((g.processed_unique, g.unacknowledged_lost, g.stranded, d.publish_failures), (60, 139, 0, 139));
}

#[test]
fn queue_arguments_are_checked() {
    let base = |policy: &str| down_consumer(policy, "1s", "1s", "5s", "");
    assert_refused(
        &base(r#"overflow = "drop-tail""#),
        "q.toml",
        "groups[0].overflow",
        "(the default), \"reject-publish\", \"reject-publish-dlx\"",
    );
    assert_refused(&base(r#"overflow = "reject-publish""#), "q.toml", "groups[0].overflow", "max_length");
    assert_refused(&base(r#"message_ttl = "1.5ms""#), "q.toml", "groups[0].message_ttl", "whole milliseconds");
    assert_refused(&base("max_length = -1"), "q.toml", "groups[0].max_length", "from 0");
    assert_refused(
        &base(r#"dead_letter_exchange = "dlx""#),
        "q.toml",
        "groups[0].dead_letter_exchange",
        "declared: none",
    );
    assert_refused(
        &base(r#"dead_letter_routing_key = "dead""#),
        "q.toml",
        "groups[0].dead_letter_routing_key",
        "dead_letter_exchange",
    );
    let quorum = down_consumer(r#"message_ttl = "1s""#, "1s", "1s", "5s", r#"queue_type = "quorum""#);
    assert_refused(&quorum, "q.toml", "groups[0].message_ttl", "classic queues only");
    // x-delivery-limit is a quorum queue argument; at-least-once dead-lettering is not simulated.
    assert_refused(&base("delivery_limit = 3"), "q.toml", "groups[0].delivery_limit", "quorum queue argument");
    let quorum = |policy: &str| down_consumer(policy, "1s", "1s", "5s", r#"queue_type = "quorum""#);
    assert_refused(&quorum("delivery_limit = 5000000000"), "q.toml", "groups[0].delivery_limit", "-1: no limit");
    assert_refused(
        &quorum(r#"dead_letter_strategy = "at-most-once""#),
        "q.toml",
        "groups[0].dead_letter_strategy",
        "add dead_letter_exchange",
    );
    assert_refused(
        &quorum(r#"dead_letter_strategy = "at-least-once""#),
        "q.toml",
        "groups[0].dead_letter_strategy",
        "overflow = \"reject-publish\"",
    );
    let stream = down_consumer("delivery_limit = 3", "1s", "1s", "5s", "queue_type = \"stream\"\nprefetch = 10");
    assert_refused(&stream, "q.toml", "groups[0].delivery_limit", "a stream has no such queue argument");
}

/// `consumer_timeout`: three messages at 0.1, 0.2 and 0.3 s to one consumer with a window of 3,
/// 45 s of work each. The node checks every minute from the first delivery (60.1 s, 120.1 s):
/// at 60.1 s the oldest unacknowledged delivery is message 1 (delivered at 0.2 s, 59.9 s old);
/// at 120.1 s it is message 2 (0.3 s, 119.8 s old), in processing since 90.1 s: with a 1 minute
/// timeout the channel is closed, message 2 requeued and delivered again, and processed a second
/// time once the first attempt ends (its ack went to the closed channel). With the default 30
/// minutes nothing is closed.
#[test]
fn consumer_timeout_closes_the_channel_and_redelivers() {
    let text = |timeout: &str| {
        format!(
            r#"
duration = "0.35s"
systems = ["rabbitmq"]
[workload]
rate = 10
arrivals = "constant"
[rabbitmq]
prefetch = 3
{timeout}
[[groups]]
name = "slow"
processing = "45s"
"#
        )
    };
    let count = |s: &pushpull::scenario::Scenario| {
        let mut times = [0u32; 3];
        let mut redelivered = 0;
        for (_, e) in client_events(s, SystemKind::RabbitMq).0 {
            match e {
                ClientEvent::Processed { msg, .. } => times[msg.id() as usize] += 1,
                ClientEvent::Delivered { redelivered: true, .. } => redelivered += 1,
                _ => {}
            }
        }
        (times, redelivered)
    };
    assert_eq!(count(&scenario(&text(r#"consumer_timeout = "1m""#))), ([1, 1, 2], 1));
    assert_eq!(count(&scenario(&text(""))), ([1, 1, 1], 0));
    let bad = text(r#"consumer_timeout = "30s""#);
    assert_refused(
        &bad.replace("processing = \"45s\"", "processing = \"1s\""),
        "q.toml",
        "rabbitmq.consumer_timeout",
        "from 1m",
    );
}

/// `single_active_consumer`: three consumers subscribe at start (0, 1, 2 in that order); only
/// consumer 0 processes until it crashes at 10 s, then only consumer 1 (next in subscription
/// order), which first gets 0's unacknowledged deliveries back in their order: nothing out of
/// order, nothing lost.
#[test]
fn a_single_active_consumer_processes_alone_until_it_goes() {
    let s = scenario(
        r#"
duration = "20s"
systems = ["rabbitmq"]
[workload]
rate = 50
arrivals = "constant"
[rabbitmq]
prefetch = 10
[[groups]]
name = "work"
consumers = 3
processing = "5ms"
single_active_consumer = true
[[faults]]
at = "10s"
action = "crash"
target = "work/0"
"#,
    );
    let mut by = [0u32; 3];
    for (at, e) in client_events(&s, SystemKind::RabbitMq).0 {
        if let ClientEvent::Processed { consumer, .. } = e {
            let t = at.0 as f64 / 1e9;
            assert_eq!(consumer, if t < 10.0 { 0 } else { 1 }, "processed at {t} s");
            by[consumer as usize] += 1;
        }
    }
    assert!(by[0] > 400 && by[1] > 400 && by[2] == 0, "{by:?}");
    let d = delivery(&s, SystemKind::RabbitMq);
    let g = &d.groups["work"];
    assert_eq!((g.out_of_order, g.acknowledged_lost + g.unacknowledged_lost, g.processed_unique), (0, 0, 999));
}
