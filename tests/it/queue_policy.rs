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

/// `x-max-priority`: one consumer of 10 messages/s (100 ms each, prefetch 1) gets 12/s, a tenth
/// of them at priority 9. RabbitMQ serves the priority-9 messages first: they arrive at 1.2/s,
/// a load of 0.12, so each waits for at most the one message in progress (≤ 100 ms) and a rare
/// other priority-9 one: p99 under 400 ms (the 100 ms of its own processing included). The
/// priority-0 backlog grows by 2/s for 60 s, so its latency climbs past 10 s. Kafka has no
/// priorities: one partition in publish order, both classes wait alike.
#[test]
fn a_priority_queue_serves_priority_messages_past_a_backlog_and_kafka_does_not() {
    let s = scenario(
        r#"
duration = "60s"
[workload]
rate = 12
arrivals = "constant"
priorities = { "0" = 0.9, "9" = 0.1 }
[kafka]
partitions = 1
[rabbitmq]
prefetch = 1
[[groups]]
name = "work"
processing = "100ms"
max_priority = 9
"#,
    );
    let sum = pushpull::report::summary(&s, &crate::common::run_all(&s));
    let by = |sys: &str| sum.systems[sys].latency_by_priority_ms.clone();
    let (rabbit, kafka) = (by("rabbitmq"), by("kafka"));
    assert_eq!(rabbit.keys().copied().collect::<Vec<u8>>(), [0, 9]);
    let high = rabbit[&9].count;
    // 719 messages, each priority 9 with probability 0.1: 72 ± 3 standard deviations (8 each).
    assert!((48..=96).contains(&high), "{high} at priority 9");
    assert_eq!(high + rabbit[&0].count, sum.systems["rabbitmq"].latency_ms.count);
    assert_eq!((kafka[&9].count, kafka[&0].count), (high, rabbit[&0].count), "the same messages in both");
    assert!(rabbit[&9].p99 < 400.0, "RabbitMQ priority 9 p99 {} ms", rabbit[&9].p99);
    assert!(rabbit[&0].p99 > 10_000.0, "RabbitMQ priority 0 p99 {} ms", rabbit[&0].p99);
    assert!(kafka[&9].p99 > 10_000.0, "Kafka priority 9 p99 {} ms: no priorities", kafka[&9].p99);
    assert!(
        (kafka[&9].p50 / kafka[&0].p50 - 1.0).abs() < 0.3,
        "Kafka's medians alike: {} and {} ms",
        kafka[&9].p50,
        kafka[&0].p50
    );
    let d = &sum.systems["rabbitmq"].delivery.total;
    assert_eq!((d.acknowledged_lost, d.unacknowledged_lost), (0, 0));
}

#[test]
fn priorities_and_max_priority_are_checked() {
    let base = |workload: &str, group: &str, rabbit: &str| {
        format!(
            "duration = \"10s\"\n[workload]\nrate = 10\n{workload}\n[rabbitmq]\n{rabbit}\n[[groups]]\nname = \"g\"\n{group}\n"
        )
    };
    assert_refused(&base("priorities = { \"x\" = 1.0 }", "", ""), "t.toml", "workload.priorities.\"x\"", "0 to 255");
    assert_refused(
        &base("priorities = { \"256\" = 1.0 }", "", ""),
        "t.toml",
        "workload.priorities.\"256\"",
        "0 to 255",
    );
    assert_refused(&base("priorities = { \"1\" = 0.0 }", "", ""), "t.toml", "workload.priorities.\"1\"", "> 0");
    assert_refused(&base("priorities = {}", "", ""), "t.toml", "workload.priorities", "at least one");
    assert_refused(&base("", "max_priority = 0", ""), "t.toml", "groups[0].max_priority", "from 1 to 255");
    assert_refused(&base("", "max_priority = 300", ""), "t.toml", "groups[0].max_priority", "from 1 to 255");
    assert_refused(
        &base("", "max_priority = 5", "queue_type = \"quorum\""),
        "t.toml",
        "groups[0].max_priority",
        "classic queues only",
    );
}

/// Issue 18's mixed case: every message's end in every group is known in advance from its id
/// alone, and the run must reach exactly those ends, message by message, and the checker's counts
/// must be their tallies. 10 messages/s at 0.1 s, 0.2 s, ... (id i at (i + 1) x 0.1 s, ids 0 to
/// 598), one consumer per group; the consumers of `work`, `quotes` and `capped` are down from
/// 10.05 s to 40.05 s, so ids 100 to 399 arrive while nobody consumes.
/// - `work` (TTL 10 s, dead-letter exchange `dlx`): ids 100 to 299 (sent by 30.0 s) wait 10 s
///   and are dead-lettered; every other id is processed.
/// - `dead` (bound to `dlx`): owed and processes exactly ids 100 to 299.
/// - `quotes` (TTL 10 s, no DLX; poison messages rejected): ids 100 to 299 expire; of the
///   others, the poison ones (`Failures::fate`, a pure function of seed and id: the workload's
///   definition, not the model's) are rejected and dropped; the rest are processed.
/// - `capped` (max_length 50, drop-head): of ids 100 to 399, the newest 50 (350 to 399) are left
///   when the consumer is back; ids 100 to 349 are dropped.
#[test]
fn a_mixed_scenario_ends_every_message_where_its_id_says() {
    use pushpull::failures::{Failures, Fate};
    use pushpull::history::Settlement;
    use std::collections::BTreeMap;
    let text = r#"
duration = "60s"
systems = ["rabbitmq"]
seed = 18
[workload]
rate = 10
arrivals = "constant"
[rabbitmq]
prefetch = 1
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
exchange = "events"
queue = "quotes"
[[bindings]]
exchange = "events"
queue = "capped"
[[bindings]]
exchange = "dlx"
queue = "dead"
[[groups]]
name = "work"
processing = "1ms"
message_ttl = "10s"
dead_letter_exchange = "dlx"
[[groups]]
name = "dead"
processing = "1ms"
[[groups]]
name = "quotes"
processing = "1ms"
message_ttl = "10s"
failure_rate = 0.05
poison_fraction = 1.0
on_failure = "reject"
[[groups]]
name = "capped"
processing = "1ms"
max_length = 50
"#;
    let faults: String = ["work", "quotes", "capped"]
        .iter()
        .map(|g| format!("[[faults]]\nat = \"10.05s\"\naction = \"crash\"\ntarget = \"{g}/0\"\nduration = \"30s\"\n"))
        .collect();
    let s = scenario(&format!("{text}{faults}"));
    let poison = Failures::for_group(&s, 2);
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum End {
        Processed,
        Settled(Settlement),
    }
    let mut expected: BTreeMap<(usize, u64), End> = BTreeMap::new();
    for id in 0..599u64 {
        let down = (100..=399).contains(&id);
        let waited_out = (100..=299).contains(&id);
        let work = if waited_out { End::Settled(Settlement::DeadLettered) } else { End::Processed };
        expected.insert((0, id), work);
        if waited_out {
            expected.insert((1, id), End::Processed);
        }
        let quotes = if waited_out {
            End::Settled(Settlement::Expired)
        } else if poison.fate(id) == Fate::Poison {
            End::Settled(Settlement::Dropped)
        } else {
            End::Processed
        };
        expected.insert((2, id), quotes);
        let capped = if down && id < 350 { End::Settled(Settlement::Dropped) } else { End::Processed };
        expected.insert((3, id), capped);
    }
    let mut got: BTreeMap<(usize, u64), End> = BTreeMap::new();
    for (_, e) in client_events(&s, SystemKind::RabbitMq).0 {
        match e {
            ClientEvent::Processed { msg, group, .. } => {
                let prev = got.insert((group, msg.id()), End::Processed);
                assert!(prev.is_none(), "{group}/{} ended twice: {prev:?} then processed", msg.id());
            }
            ClientEvent::Settled { id, group, outcome } => {
                let prev = got.insert((group, id), End::Settled(outcome));
                assert!(prev.is_none(), "{group}/{id} ended twice: {prev:?} then {outcome:?}");
            }
            _ => {}
        }
    }
    let poisoned = (0..599u64).filter(|&id| !(100..=299).contains(&id) && poison.fate(id) == Fate::Poison).count();
    assert!(poisoned > 10, "the seed gives some poison messages outside the outage: {poisoned}");
    let wrong: Vec<_> = expected.iter().filter(|(k, v)| got.get(k) != Some(v)).take(5).collect();
    assert!(wrong.is_empty(), "expected vs got: {wrong:?} ({} ends got, {} expected)", got.len(), expected.len());
    assert_eq!(got.len(), expected.len(), "no end that was not expected");
    // The checker, from the same client events, tallies the same ends.
    let d = delivery(&s, SystemKind::RabbitMq);
    let tally = |g: usize, end: End| expected.iter().filter(|((gi, _), v)| *gi == g && **v == end).count() as u64;
    for (g, name) in ["work", "dead", "quotes", "capped"].iter().enumerate() {
        let c = &d.groups[*name];
        let row =
            (c.processed_unique, c.dead_lettered, c.expired, c.dropped, c.acknowledged_lost + c.unacknowledged_lost);
        let want = (
            tally(g, End::Processed),
            tally(g, End::Settled(Settlement::DeadLettered)),
            tally(g, End::Settled(Settlement::Expired)),
            tally(g, End::Settled(Settlement::Dropped)),
            0,
        );
        assert_eq!(row, want, "{name}: (processed, dead-lettered, expired, dropped, lost)");
        assert!(c.identity_holds(), "{name}: {c:?}");
    }
}
