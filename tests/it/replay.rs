//! Replay and the life of a consumer group: an offset reset after a bug fix, groups that start late,
//! and scaling out. The expected figures are recounted here from the run's own history (what the
//! log held at an instant, which messages were sent when), never taken from the model's counters.

use crate::common::{All, Events, delivery, scenario, secs};
use pushpull::history::{ClientEvent, Observation};
use pushpull::scenario::SystemKind;
use pushpull::time::SimTime;
use std::collections::BTreeSet;

const REPLAY: &str = r#"
name = "replay"
seed = 11
duration = "6m"
[workload]
rate = 40
keys = { distribution = "uniform", count = 500 }
[kafka]
partitions = 4
retention = "2m"
segment_ms = "20s"
retention_check_interval = "30s"
[[groups]]
name = "billing"
consumers = 2
processing = "4ms"
[[operations]]
at = "7m10s"
action = "reset_offsets"
group = "billing"
to = "earliest"
"#;

#[test]
fn a_reset_to_earliest_replays_exactly_what_the_kafka_log_retains_and_nothing_from_a_rabbitmq_queue() {
    let s = scenario(REPLAY);
    let all = All::run(&s, SystemKind::Kafka);
    // Not at a retention check (every 30 s): at the same instant, which runs first would matter.
    let reset = SimTime(430 * 1_000_000_000);
    let retained = all.retained_at(reset).len() as u64;
    let sent = all.0.iter().filter(|(_, o)| matches!(o, Observation::Client(ClientEvent::Sent { .. }))).count() as u64;
    // Retention must have deleted something, or "what is retained" would be "everything".
    assert!(retained > 0 && retained < sent / 2, "retained {retained} of {sent}");

    let k = delivery(&s, SystemKind::Kafka);
    assert_eq!(k.total.replayed, retained, "Kafka replays exactly what its log held at the reset");
    assert_eq!(k.total.duplicates, 0);
    assert_eq!(k.total.acknowledged_lost, 0);
    assert_eq!(k.total.processed_unique, sent, "everything was processed once before the reset");

    let r = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(r.total.replayed, 0, "acknowledged messages are gone from a queue: nothing to replay");
    assert_eq!(r.total.duplicates, 0);
    assert_eq!(r.total.processed_unique, sent);
}

/// The reset is the same stop, reset and start round under every rebalance protocol: an
/// incremental one must not let a member keep its old positions (or commit them over the reset).
#[test]
fn a_reset_replays_exactly_the_retained_log_under_the_incremental_protocols_too() {
    for setting in ["assignor = \"cooperative-sticky\"", "group_protocol = \"consumer\""] {
        let s = scenario(&REPLAY.replace("[kafka]\n", &format!("[kafka]\n{setting}\n")));
        let all = All::run(&s, SystemKind::Kafka);
        let retained = all.retained_at(SimTime(430 * 1_000_000_000)).len() as u64;
        let k = delivery(&s, SystemKind::Kafka);
        assert_eq!(k.total.replayed, retained, "{setting}");
        assert_eq!(k.total.duplicates, 0, "{setting}");
        assert_eq!(k.total.acknowledged_lost, 0, "{setting}");
    }
}

pub(crate) const LATE: &str = r#"
name = "late"
seed = 5
duration = "8m"
[workload]
rate = 50
[kafka]
partitions = 3
retention = "2m"
segment_ms = "20s"
retention_check_interval = "40s"
[[groups]]
name = "from-start"
consumers = 1
processing = "2ms"
[[groups]]
name = "earliest"
consumers = 2
processing = "2ms"
start = "4m"
from = "earliest"
[[groups]]
name = "latest"
consumers = 2
processing = "2ms"
start = "4m"
from = "latest"
"#;

/// (send time, id) of every message sent, and per group the ids it processed.
fn sent_and_processed(e: &Events, groups: usize) -> (Vec<(SimTime, u64)>, Vec<BTreeSet<u64>>) {
    let mut sent = Vec::new();
    let mut processed = vec![BTreeSet::new(); groups];
    for (at, ev) in &e.0 {
        match *ev {
            ClientEvent::Sent { msg } => sent.push((*at, msg.id)),
            ClientEvent::Processed { msg, group, .. } => {
                processed[group].insert(msg.id());
            }
            _ => {}
        }
    }
    (sent, processed)
}

#[test]
fn a_late_kafka_group_reads_what_is_retained_from_earliest_and_only_what_follows_its_join_from_latest() {
    let s = scenario(LATE);
    let all = All::run(&s, SystemKind::Kafka);
    let e = all.client();
    let (sent, processed) = sent_and_processed(&e, 3);
    let start = SimTime(4 * 60 * 1_000_000_000);
    // Each late group's client reports the seek its `auto.offset.reset` made at its first assignment.
    let sought: Vec<(SimTime, usize, bool)> =
        e.0.iter()
            .filter_map(|(at, ev)| match *ev {
                ClientEvent::Sought { group, to_end } => Some((*at, group, to_end)),
                _ => None,
            })
            .collect();
    assert_eq!(sought.len(), 2, "{sought:?}");
    let joined = sought[0].0;
    // Formation: group.initial.rebalance.delay.ms (3 s), once more because the second member
    // joined during the first delay (Kafka's InitialDelayedJoin), so 6 s with zero latency.
    assert!((secs(joined) - secs(start) - 6.0).abs() < 0.01, "assigned at {} s", secs(joined));

    // earliest: every message the log still held when the group was assigned, and all after.
    let held = all.retained_at(joined);
    assert!(!held.is_empty() && held.first() > Some(&0), "retention deleted the oldest ones");
    let want: BTreeSet<u64> =
        held.iter().copied().chain(sent.iter().filter(|(t, _)| *t > joined).map(|&(_, id)| id)).collect();
    assert!(want.is_subset(&processed[1]), "{} of {} missing", want.difference(&processed[1]).count(), want.len());
    assert!(processed[1].iter().all(|id| *id >= *held.first().unwrap()), "nothing deleted before it joined");

    // latest: exactly the messages sent after its assignment, give or take what was still in the
    // producer's batch at that instant (linger.ms, 5 ms, at 50 msg/s: at most one or two).
    let after: BTreeSet<u64> = sent.iter().filter(|(t, _)| *t > joined).map(|&(_, id)| id).collect();
    assert!(after.is_subset(&processed[2]));
    let extra = processed[2].difference(&after).count();
    assert!(extra <= 2, "{extra} messages from before its assignment");
    let d = delivery(&s, SystemKind::Kafka);
    let g = &d.groups["latest"];
    let between = sent.iter().filter(|(t, _)| *t >= start && *t <= joined).count() as u64;
    assert_eq!(g.skipped + g.processed_unique, g.owed);
    assert!(g.skipped + 2 >= between && g.skipped <= between, "skipped {} of {between}", g.skipped);
    assert_eq!(g.acknowledged_lost, 0, "skipped on purpose is not lost");
    // What it read from before its start is not owed to it: counted apart, not as duplicates.
    let first_owed = sent.iter().find(|(t, _)| *t >= start).expect("sent after the start").1;
    assert_eq!(d.groups["earliest"].processed_not_owed as usize, held.range(..first_owed).count());
    assert_eq!(d.groups["earliest"].duplicates, 0);
}

#[test]
fn a_rabbitmq_queue_bound_late_gets_only_what_is_published_after_the_binding() {
    // A quorum queue binds by a command in its Raft log, proposed at the leader at the group's
    // start: every member agrees that exactly the enqueues after it reach the new queue.
    for queue in ["", QUORUM] {
        let s = scenario(&LATE.replace("[kafka]\n", &format!("{queue}[kafka]\n")));
        let e = crate::common::client_events(&s, SystemKind::RabbitMq);
        let (sent, processed) = sent_and_processed(&e, 3);
        let start = SimTime(4 * 60 * 1_000_000_000);
        let after: BTreeSet<u64> = sent.iter().filter(|(t, _)| *t >= start).map(|&(_, id)| id).collect();
        assert!(!after.is_empty());
        // Zero latency: a message sent at the binding's instant or later is routed to the new queue.
        assert_eq!(processed[1], after, "{queue}");
        assert_eq!(processed[2], after, "`from` is Kafka's: a queue has no earlier messages to offer");
        assert_eq!(processed[0].len(), sent.len());
        let d = delivery(&s, SystemKind::RabbitMq);
        assert_eq!((d.total.acknowledged_lost, d.total.duplicates), (0, 0), "{queue}");
    }
}

/// A RabbitMQ cluster whose queues are quorum queues, for the tests that run both queue types.
const QUORUM: &str = "[cluster]\nbrokers = 3\n[rabbitmq]\nqueue_type = \"quorum\"\n";

const SCALE: &str = r#"
name = "scale"
seed = 3
duration = "6m"
[workload]
rate = 100
keys = { distribution = "uniform", count = 6000 }
[kafka]
partitions = 6
# With RabbitMQ's default prefetch (unlimited) the two first consumers would already hold the whole
# backlog in their channels, and the new ones would get only new messages.
[rabbitmq]
prefetch = 10
[[groups]]
name = "workers"
consumers = 2
processing = "50ms"
[[operations]]
at = "3m"
action = "scale"
group = "workers"
consumers = 6
"#;

/// Processings by the group in `[from, to)` seconds.
fn processed_in(e: &Events, from: f64, to: f64) -> usize {
    e.0.iter().filter(|(at, ev)| matches!(ev, ClientEvent::Processed { .. }) && (from..to).contains(&secs(*at))).count()
}

#[test]
fn scaling_out_from_two_to_six_consumers_under_a_backlog_triples_processing_in_both_systems() {
    let quorum = scenario(&SCALE.replace("[rabbitmq]\n", QUORUM));
    let s = scenario(SCALE);
    for (s, sys) in [(&s, SystemKind::Kafka), (&s, SystemKind::RabbitMq), (&quorum, SystemKind::RabbitMq)] {
        let e = crate::common::client_events(s, sys);
        // 2 consumers at 50 ms each: 40/s against 100/s offered, so a backlog builds; 6 consumers
        // make 120/s and still have a backlog to work through for the whole minute measured.
        let before = processed_in(&e, 120.0, 180.0) as f64;
        let after = processed_in(&e, 200.0, 260.0) as f64;
        assert!((before - 2400.0).abs() <= 2.0, "{sys:?}: {before} in the minute before");
        // Kafka's keys hash unevenly over 6 partitions: a partition whose backlog ran dry leaves
        // its consumer idle. 5% covers that and the rebalance.
        let ratio = after / before;
        assert!((ratio - 3.0).abs() < 0.15, "{sys:?}: {after} / {before} = {ratio:.3}");
    }
}

#[test]
fn bad_operations_name_the_file_the_field_and_what_is_allowed() {
    let base = "duration = \"10m\"\n[workload]\nrate = 1\n[[groups]]\nname = \"g\"\nstart = \"2m\"\n";
    let cases = [
        (
            "[[operations]]\nat = \"3m\"\naction = \"scale\"\ngroup = \"nope\"\nconsumers = 2\n",
            "operations[0].group",
            "\"nope\" is not a group",
        ),
        (
            "[[operations]]\nat = \"1m\"\naction = \"reset_offsets\"\ngroup = \"g\"\nto = \"earliest\"\n",
            "operations[0].at",
            "before group \"g\" starts",
        ),
        (
            "[[operations]]\nat = \"3m\"\naction = \"scale\"\ngroup = \"g\"\nconsumers = 0\n",
            "operations[0].consumers",
            "0 is not allowed",
        ),
        (
            "[[operations]]\nat = \"3m\"\naction = \"rewind\"\ngroup = \"g\"\n",
            "operations[0].action",
            "allowed: \"reset_offsets\"",
        ),
        (
            "[[operations]]\nat = \"3m\"\naction = \"reset_offsets\"\ngroup = \"g\"\nto = \"5m\"\n",
            "operations[0].to",
            "after the reset itself",
        ),
    ];
    for (ops, field, says) in cases {
        crate::common::assert_refused(&format!("{base}{ops}"), "ops.toml", field, says);
    }
}
