//! Log compaction and size retention: a group that replays a compacted topic from earliest gets
//! about one record per key, not every message; a bad pairing is refused. Expected figures come
//! from the client events (what was sent, what each group processed), not from the model.

use crate::common::{client_events, scenario};
use pushpull::history::ClientEvent;
use pushpull::scenario::{Scenario, SystemKind};
use std::collections::{BTreeMap, BTreeSet};

/// 200 keys, about 20,000 messages of 100 bytes in 200 s, then nothing; a group that reads along
/// and a group that subscribes at 4 min from earliest, after the cleaner (every 15 s) compacted the
/// closed segments of both partitions (16 KiB: 163 records each).
const COMPACTED: &str = r#"
name = "compacted"
seed = 7
duration = "5m"
[workload]
rate = 100
phases = [{ at = "200s", rate = 0 }]
message_bytes = 100
keys = { distribution = "uniform", count = 200 }
[kafka]
partitions = 2
cleanup_policy = "compact"
segment_bytes = "16KiB"
[[groups]]
name = "live"
consumers = 1
processing = "1ms"
[[groups]]
name = "rebuild"
consumers = 1
processing = "1ms"
start = "4m"
from = "earliest"
"#;

const K: usize = 200;

/// Per group, the ids processed; and the key of every message sent, by id.
fn processed_and_keys(s: &Scenario, sys: SystemKind) -> (Vec<BTreeSet<u64>>, BTreeMap<u64, u64>) {
    let e = client_events(s, sys);
    let mut processed = vec![BTreeSet::new(); s.groups.len()];
    let mut keys = BTreeMap::new();
    for (_, ev) in &e.0 {
        match *ev {
            ClientEvent::Sent { msg } => {
                keys.insert(msg.id, msg.key.expect("keyed workload"));
            }
            ClientEvent::Processed { msg, group, .. } => {
                processed[group].insert(msg.id());
            }
            _ => {}
        }
    }
    (processed, keys)
}

#[test]
fn a_late_group_replaying_a_compacted_topic_from_earliest_gets_about_one_record_per_key() {
    let s = scenario(COMPACTED);
    let (processed, keys) = processed_and_keys(&s, SystemKind::Kafka);
    let sent = keys.len();
    assert!((19_000..21_000).contains(&sent), "{sent} sent");
    assert_eq!(processed[0].len(), sent, "the group reading along processed every message");
    // The newest message of every key survives compaction: the late group processed each one.
    let mut newest = BTreeMap::new();
    for (&id, &k) in &keys {
        newest.insert(k, id);
    }
    assert_eq!(newest.len(), K);
    let missing: Vec<_> = newest.values().filter(|id| !processed[1].contains(id)).collect();
    assert!(missing.is_empty(), "newest records not replayed: {missing:?}");
    // Besides those, only what the cleaner may not touch: each partition's active segment (at
    // most 163 records of 100 bytes in 16 KiB), whose older duplicates stay until it closes.
    let got = processed[1].len();
    eprintln!("compacted topic: {sent} sent, the late group replayed {got} ({K} keys)");
    assert!((K..=K + 2 * 163).contains(&got), "the late group got {got} records for {K} keys");

    // The recorder and the checker: nothing lost for the group that read along (compaction removed
    // only what it had processed), and the late group owed nothing from before its start.
    let runs = pushpull::run::run_scenario(&s, None);
    let k = runs.iter().find(|r| r.system == SystemKind::Kafka).expect("kafka ran");
    let names: Vec<String> = s.groups.iter().map(|g| g.name.clone()).collect();
    let summary = k.recorder.summarize(&names, k.end.at);
    assert_eq!(summary.total.lost, 0, "compaction removed only records both groups could do without");
    assert_eq!(k.delivery.total.acknowledged_lost, 0);
    assert_eq!(k.delivery.groups["rebuild"].processed_not_owed as usize, got);
}

#[test]
fn a_rabbitmq_queue_bound_after_publishing_gets_nothing_of_the_past() {
    let s = scenario(COMPACTED);
    let (processed, keys) = processed_and_keys(&s, SystemKind::RabbitMq);
    assert_eq!(processed[0].len(), keys.len());
    assert!(processed[1].is_empty(), "a queue holds only what was routed to it after its binding");
}

#[test]
fn compaction_is_refused_without_keys() {
    let bad = COMPACTED.replace(r#"keys = { distribution = "uniform", count = 200 }"#, r#"keys = "none""#);
    let e = pushpull::plan::parse(&bad, "c.toml", false).expect_err("null keys on a compacted topic").to_string();
    assert!(
        e.contains("c.toml") && e.contains("kafka.cleanup_policy") && e.contains("\"compact\"") && !e.contains('\n'),
        "{e}"
    );
    let bad = COMPACTED.replace(r#"cleanup_policy = "compact""#, r#"cleanup_policy = "compacted""#);
    let e = pushpull::plan::parse(&bad, "c.toml", false).expect_err("unknown policy").to_string();
    assert!(e.contains("\"compacted\" is not allowed") && e.contains("\"compact,delete\""), "{e}");
}

/// `retention.bytes` per partition: a log never holds much more than the limit plus a segment.
#[test]
fn size_retention_bounds_what_the_log_keeps() {
    let s =
        scenario(&COMPACTED.replace(
            r#"cleanup_policy = "compact""#,
            "retention_bytes = \"64KiB\"\nretention_check_interval = \"30s\"",
        ));
    assert_eq!(s.kafka.retention_bytes, Some(65_536));
    let (processed, keys) = processed_and_keys(&s, SystemKind::Kafka);
    assert_eq!(processed[0].len(), keys.len());
    // At 4 min the late group finds about 64 KiB (655 records) per partition, at most one segment
    // (163 records) more, and no fewer than 64 KiB minus a segment's worth.
    let got = processed[1].len();
    eprintln!("retention.bytes 64 KiB: the late group replayed {got} of {}", keys.len());
    assert!((2 * (655 - 163)..=2 * (655 + 163)).contains(&got), "{got}");
}
