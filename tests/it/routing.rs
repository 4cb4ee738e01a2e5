//! Routing (issue 18): exchanges, bindings, routing keys, Kafka subscriptions. Each group must
//! process exactly the messages its subscription owes it, in both systems, and an unroutable
//! message is returned or dropped, never lost.

use crate::common::{assert_refused, client_events, run_all, scenario};
use pushpull::history::ClientEvent;
use pushpull::scenario::SystemKind;
use pushpull::subscriptions::Subscriptions;
use std::collections::BTreeSet;

const KEYS: [&str; 3] = ["audit.login.eu", "order.created.eu", "order.paid.us"];

fn topic_routing(kafka_groups: &str) -> String {
    format!(
        r#"
duration = "20s"
[workload]
rate = 100
exchange = "events"
routing_keys = {{ "order.created.eu" = 0.5, "order.paid.us" = 0.3, "audit.login.eu" = 0.2 }}
[kafka]
partitions = 3
[[exchanges]]
name = "events"
type = "topic"
[[bindings]]
exchange = "events"
queue = "billing"
routing_key = "order.#"
[[bindings]]
exchange = "events"
queue = "eu"
routing_key = "*.*.eu"
[[bindings]]
exchange = "events"
queue = "audit"
routing_key = "audit.#"
[[groups]]
name = "billing"
consumers = 2
processing = "2ms"
[[groups]]
name = "eu"
consumers = 2
processing = "2ms"
{kafka_groups}
[[groups]]
name = "audit"
processing = "1ms"
"#
    )
}

/// The keys each group wants, written out by hand (not by the exchange's matcher).
fn wants(group: usize, key: &str) -> bool {
    match group {
        0 => key.starts_with("order."),
        1 => key.ends_with(".eu"),
        _ => key.starts_with("audit."),
    }
}

/// `got == want`, or a panic naming the sizes and the first few ids in one and not the other.
fn assert_same(got: &BTreeSet<u64>, want: &BTreeSet<u64>, what: &str) {
    if got != want {
        let extra: Vec<_> = got.difference(want).take(5).collect();
        let missing: Vec<_> = want.difference(got).take(5).collect();
        panic!("{what}: {} ids, expected {}; not owed: {extra:?}..., missing: {missing:?}...", got.len(), want.len());
    }
}

/// Per group, the ids it processed (at least once), and the ids sent.
fn processed(s: &pushpull::scenario::Scenario, sys: SystemKind) -> (Vec<BTreeSet<u64>>, Vec<u64>) {
    let mut sets = vec![BTreeSet::new(); s.groups.len()];
    let mut sent = Vec::new();
    for (_, e) in client_events(s, sys).0 {
        match e {
            ClientEvent::Processed { msg, group, .. } => {
                sets[group].insert(msg.id());
            }
            ClientEvent::Sent { msg } => sent.push(msg.id),
            _ => {}
        }
    }
    (sets, sent)
}

#[test]
fn each_group_processes_exactly_what_its_topic_bindings_owe_it_in_both_systems() {
    for filter in ["", "filter = \"consumer\""] {
        let s = scenario(&topic_routing(filter));
        let subs = Subscriptions::new(&s).expect("routing");
        for sys in SystemKind::ALL {
            let (sets, sent) = processed(&s, sys);
            let mut seen = [0u64; 3];
            for g in 0..3 {
                let expected: BTreeSet<u64> =
                    sent.iter().copied().filter(|&id| wants(g, KEYS[subs.key_of(id)])).collect();
                assert_same(&sets[g], &expected, &format!("{sys:?} group {g} ({filter})"));
                seen[g] = expected.len() as u64;
            }
            // Every key was drawn, with roughly its weight (0.2 of 2000 messages is 400).
            let audit = seen[2] as f64 / sent.len() as f64;
            assert!((0.15..0.25).contains(&audit), "audit share {audit}");
            let run = run_all(&s).into_iter().find(|r| r.system == sys).unwrap();
            for (g, name) in ["billing", "eu", "audit"].iter().enumerate() {
                let c = run.delivery.groups[*name];
                assert_eq!(c.owed, seen[g], "{sys:?} {name}: the checker's owed");
                assert_eq!(c.processed_unique, seen[g]);
                assert!(c.identity_holds());
                assert_eq!(c.acknowledged_lost + c.unacknowledged_lost, 0);
            }
            assert_eq!(run.delivery.unroutable + run.delivery.returned, 0, "every key reaches a queue");
        }
    }
}

#[test]
fn kafka_consumer_filtering_fetches_every_record_and_uses_its_slice() {
    let s = scenario(&topic_routing("filter = \"consumer\""));
    let kafka = run_all(&s).into_iter().find(|r| r.system == SystemKind::Kafka).unwrap();
    let summary = kafka.recorder.summarize(&["billing".into(), "eu".into(), "audit".into()], kafka.end.at);
    let sent = kafka.delivery.sent;
    let eu = summary.groups["eu"].fetch.expect("fetch counts with routing");
    let billing = summary.groups["billing"].fetch.unwrap();
    // "eu" reads the whole stream and keeps its 70%; "billing" reads only its two topics.
    assert_eq!(eu.records_fetched, sent, "the filtering group fetches every record");
    assert_eq!(eu.records_used, kafka.delivery.groups["eu"].processed_unique);
    assert!(eu.records_used < eu.records_fetched);
    assert_eq!(billing.records_fetched, kafka.delivery.groups["billing"].owed, "topics: only what it wants");
    assert_eq!(billing.records_used, billing.records_fetched);
}

fn direct(extra: &str) -> String {
    format!(
        r#"
duration = "10s"
[workload]
rate = 50
exchange = "orders"
routing_keys = {{ a = 0.5, b = 0.5 }}
[rabbitmq]
publisher_confirms = true
{extra}
[[exchanges]]
name = "orders"
type = "direct"
[[bindings]]
exchange = "orders"
queue = "g"
routing_key = "a"
[[groups]]
name = "g"
processing = "1ms"
"#
    )
}

#[test]
fn an_unroutable_message_is_dropped_or_returned_never_lost() {
    for (extra, returned) in [("", false), ("mandatory = true", true)] {
        let s = scenario(&direct(extra));
        let subs = Subscriptions::new(&s).unwrap();
        let rmq = run_all(&s).into_iter().find(|r| r.system == SystemKind::RabbitMq).unwrap();
        let d = &rmq.delivery;
        let (sets, sent) = processed(&s, SystemKind::RabbitMq);
        let b: u64 = sent.iter().filter(|&&id| subs.key_of(id) == 1).count() as u64;
        assert!(b > 100, "about half of 500 messages have key b: {b}");
        let (ret, dropped) = if returned { (b, 0) } else { (0, b) };
        assert_eq!((d.returned, d.unroutable), (ret, dropped), "mandatory: {returned}");
        assert_eq!(d.groups["g"].owed, sent.len() as u64 - b);
        assert_eq!(sets[0].len() as u64, sent.len() as u64 - b);
        assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0);
        // Confirmed all the same.
        assert_eq!(d.acknowledged, d.sent);
    }
}

#[test]
fn an_alternate_exchange_catches_what_the_exchange_cannot_route() {
    let text = direct("mandatory = true").replace(
        "[[exchanges]]\nname = \"orders\"\ntype = \"direct\"\n",
        "[[exchanges]]\nname = \"orders\"\ntype = \"direct\"\nalternate_exchange = \"unrouted\"\n\
         [[exchanges]]\nname = \"unrouted\"\ntype = \"fanout\"\n[[bindings]]\nexchange = \"unrouted\"\n\
         queue = \"dead\"\n",
    ) + "[[groups]]\nname = \"dead\"\n";
    let s = scenario(&text);
    let subs = Subscriptions::new(&s).unwrap();
    let (sets, sent) = processed(&s, SystemKind::RabbitMq);
    let b: BTreeSet<u64> = sent.iter().copied().filter(|&id| subs.key_of(id) == 1).collect();
    assert_same(&sets[1], &b, "the alternate exchange's queue gets exactly the unroutable messages");
    assert_eq!(sets[0].len() + b.len(), sent.len());
    let d = run_all(&s).into_iter().find(|r| r.system == SystemKind::RabbitMq).unwrap().delivery;
    assert_eq!((d.returned, d.unroutable), (0, 0));
    // Kafka mirrors the bindings: the same groups owe the same messages.
    let (kafka_sets, _) = processed(&s, SystemKind::Kafka);
    assert_eq!(kafka_sets, sets);
}

#[test]
fn routing_errors_name_the_field_the_value_and_what_is_allowed() {
    let base = direct("");
    assert_refused(
        &base.replace("exchange = \"orders\"\nqueue", "exchange = \"nope\"\nqueue"),
        "test.toml",
        "bindings[0].exchange",
        "\"nope\" is not a declared exchange; declared: \"orders\"",
    );
    assert_refused(
        &base.replace("queue = \"g\"", "queue = \"h\""),
        "test.toml",
        "bindings[0].queue",
        "\"h\" is not a queue; a group's queue is named after the group: \"g\"",
    );
    assert_refused(
        &base.replace("type = \"direct\"", "type = \"match\""),
        "test.toml",
        "exchanges[0].type",
        "allowed: \"direct\", \"fanout\", \"topic\", \"headers\"",
    );
    assert_refused(
        &(base.clone() + "subscribe_pattern = \"order.(\"\n"),
        "test.toml",
        "groups[0].subscribe_pattern",
        "is not a regular expression",
    );
    assert_refused(
        &base.replace("routing_key = \"a\"", "arguments = { x-match = \"some\", region = \"eu\" }"),
        "test.toml",
        "bindings[0].arguments",
        "need a headers exchange",
    );
}

#[test]
fn quorum_queues_route_as_classic_ones() {
    let s =
        scenario(&(topic_routing("") + "[rabbitmq]\nqueue_type = \"quorum\"\nreplicas = 3\n[cluster]\nbrokers = 3\n"));
    let subs = Subscriptions::new(&s).unwrap();
    let (sets, sent) = processed(&s, SystemKind::RabbitMq);
    for (g, set) in sets.iter().enumerate() {
        let expected: BTreeSet<u64> = sent.iter().copied().filter(|&id| wants(g, KEYS[subs.key_of(id)])).collect();
        assert_same(set, &expected, &format!("group {g}"));
    }
}

#[test]
fn a_headers_binding_routes_by_header_and_kafka_discards_what_it_does_not_match() {
    let s = scenario(
        r#"
duration = "10s"
[workload]
rate = 100
routing_keys = { "order.eu" = 3, "audit.us" = 1 }
headers = { region = { eu = 0.7, us = 0.3 } }
[[exchanges]]
name = "h"
type = "headers"
[[bindings]]
exchange = "h"
queue = "eu"
arguments = { x-match = "all", region = "eu" }
[[bindings]]
exchange = "h"
queue = "us"
arguments = { x-match = "any", region = "us", x-other = "ignored" }
[[groups]]
name = "eu"
processing = "1ms"
[[groups]]
name = "us"
processing = "1ms"
"#,
    );
    let (rabbit, sent) = processed(&s, SystemKind::RabbitMq);
    let (kafka, _) = processed(&s, SystemKind::Kafka);
    assert_eq!(kafka, rabbit, "Kafka mirrors the headers bindings");
    // Every message has region eu or us: the two queues split the stream.
    assert_eq!(rabbit[0].len() + rabbit[1].len(), sent.len());
    assert!(rabbit[0].intersection(&rabbit[1]).next().is_none());
    let eu = rabbit[0].len() as f64 / sent.len() as f64;
    assert!((0.63..0.77).contains(&eu), "{eu}");
    // Both topics carry messages of both regions: each Kafka group fetches every record.
    let k = run_all(&s).into_iter().find(|r| r.system == SystemKind::Kafka).unwrap();
    let summary = k.recorder.summarize(&["eu".into(), "us".into()], k.end.at);
    for g in ["eu", "us"] {
        let f = summary.groups[g].fetch.unwrap();
        assert_eq!(f.records_fetched, sent.len() as u64, "{g}");
        assert_eq!(f.records_used, k.delivery.groups[g].processed_unique, "{g}");
    }
}

#[test]
fn the_table_shows_returned_messages_and_what_each_group_fetched() {
    let s = scenario(&direct("mandatory = true"));
    let runs = run_all(&s);
    let table = pushpull::report::table::render(&pushpull::report::summary(&s, &runs));
    let rmq = runs.iter().find(|r| r.system == SystemKind::RabbitMq).unwrap();
    let returned = table.lines().find(|l| l.starts_with("returned (mandatory)")).expect("a returned row");
    assert!(returned.trim_end().ends_with(&format_thousands(rmq.delivery.returned)), "{returned}");
    let after: Vec<&str> = table.lines().skip_while(|l| !l.starts_with("fetched")).collect();
    assert!(after.iter().any(|l| l.split_whitespace().take(2).eq(["g", "kafka"])), "{table}");
    // Without routing neither appears.
    let plain = scenario("duration = \"2s\"\n[workload]\nrate = 10\n[[groups]]\nname = \"g\"\n");
    let table = pushpull::report::table::render(&pushpull::report::summary(&plain, &run_all(&plain)));
    assert!(!table.contains("returned") && !table.contains("fetched"), "{table}");
}

fn format_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
