//! Kafka share groups (KIP-932, `[[groups]] type = "share"`): every member works whatever the
//! partition count; acquired records are locked for 30 s, redelivered when the lock expires, and
//! archived after 5 deliveries. Judged from the summary and from the client events alone.

use crate::common::{client_events, run_all, scenario, secs};
use pushpull::history::ClientEvent;
use pushpull::report::summary;
use pushpull::scenario::{Scenario, SystemKind};
use std::collections::BTreeMap;

/// Two groups of 12 consumers on 6 partitions, offered 900 messages/s of 10 ms work each: a
/// classic consumer group and a share group. 900/s is 75% of 12 consumers (1,200/s) and 150% of 6.
const TWELVE_ON_SIX: &str = r#"
name = "twelve-on-six-share"
seed = 3
duration = "60s"
warmup = "10s"
[workload]
rate = 900.0
[[groups]]
name = "classic"
consumers = 12
processing = { distribution = "exponential", mean = "10ms" }
[[groups]]
name = "shared"
type = "share"
consumers = 12
processing = { distribution = "exponential", mean = "10ms" }
[kafka]
partitions = 6
linger = "0ms"
[rabbitmq]
prefetch = 1
"#;

/// The classic group leaves 6 consumers idle and is capped near 600/s; the share group's simple
/// assignor gives each of the 12 a partition (each partition to 2 members): none idle, and it
/// carries the 900/s like RabbitMQ's queue. Tolerances: 3% on throughputs (a 50 s window of
/// Poisson arrivals and exponential work: the standard error is under 1%).
#[test]
fn a_share_group_keeps_twelve_consumers_busy_on_six_partitions() {
    let s = scenario(TWELVE_ON_SIX);
    let runs = run_all(&s);
    let sum = summary(&s, &runs);
    let kafka = &sum.systems["kafka"];
    let classic = &kafka.groups["classic"];
    let shared = &kafka.groups["shared"];
    assert_eq!(classic.idle_consumers, 6, "classic group");
    assert!(
        (classic.throughput_per_s - 600.0).abs() < 600.0 * 0.03,
        "classic throughput {} is not capped near 6 x 100/s",
        classic.throughput_per_s
    );
    assert_eq!(shared.idle_consumers, 0, "share group: {:?}", shared.consumers);
    assert_eq!(shared.consumers.len(), 12);
    for c in &shared.consumers {
        assert!(c.busy_fraction > 0.6 && c.busy_fraction < 0.9 && !c.idle, "share group {c:?}");
    }
    assert!((shared.throughput_per_s - 900.0).abs() < 900.0 * 0.03, "share throughput {}", shared.throughput_per_s);
    assert_eq!(kafka.idle_consumers, 6, "the system counts the classic group's");
    let rabbit = &sum.systems["rabbitmq"];
    assert_eq!(rabbit.idle_consumers, 0);
    assert!((rabbit.groups["shared"].throughput_per_s - 900.0).abs() < 900.0 * 0.03);
    // Nothing lost or processed twice without faults; nothing redelivered.
    let d = &runs.iter().find(|r| r.system == SystemKind::Kafka).unwrap().delivery.groups["shared"];
    assert_eq!((d.acknowledged_lost, d.unacknowledged_lost, d.duplicates, d.redelivered), (0, 0, 0, 0), "{d:?}");
    assert_eq!(d.processed_unique, d.owed);
}

/// Per message id: the (time, consumer, redelivered) of each delivery to the group.
type Deliveries = BTreeMap<u64, Vec<(f64, u32, bool)>>;

/// The deliveries, and per message id how many times it was processed.
fn deliveries(s: &Scenario) -> (Deliveries, BTreeMap<u64, u32>) {
    let mut out = Deliveries::new();
    let mut processed: BTreeMap<u64, u32> = BTreeMap::new();
    for (t, e) in client_events(s, SystemKind::Kafka).0 {
        match e {
            ClientEvent::Delivered { msg, consumer, redelivered, .. } => {
                out.entry(msg.id()).or_default().push((secs(t), consumer, redelivered))
            }
            ClientEvent::Processed { msg, .. } => *processed.entry(msg.id()).or_default() += 1,
            _ => {}
        }
    }
    (out, processed)
}

/// A share consumer crashes at 60 s holding a batch: its records are delivered again to the
/// others exactly when their 30 s locks expire (not after the 45 s session timeout), flagged
/// redelivered, and nothing is lost or processed twice.
#[test]
fn a_crashed_share_consumer_records_are_redelivered_when_their_locks_expire() {
    let s = scenario(
        r#"
name = "share-crash"
seed = 5
duration = "150s"
profile = "ideal"
systems = ["kafka"]
[workload]
rate = 300.0
[[groups]]
name = "g"
consumers = 4
type = "share"
processing = { distribution = "exponential", mean = "10ms" }
[kafka]
partitions = 2
linger = "0ms"
max_poll_records = 50
[[faults]]
at = "60s"
action = "crash"
target = "g/0"
"#,
    );
    let (del, processed) = deliveries(&s);
    let mut redelivered = 0;
    for (id, ds) in &del {
        for w in ds.windows(2) {
            let ((t0, c0, _), (t1, c1, again)) = (w[0], w[1]);
            assert!(again, "message {id}: a second delivery is flagged redelivered");
            assert_eq!(c0, 0, "message {id}: only the crashed consumer's records come back");
            assert_ne!(c1, 0);
            assert!(t0 < 60.0, "message {id} was acquired before the crash");
            // Ideal profile: the lock expires 30 s after acquisition to the nanosecond; a waiting
            // member gets the record at once, a busy one after its current record (tens of ms).
            assert!(t1 - t0 >= 30.0 && t1 - t0 < 30.5, "message {id}: redelivered {:.3} s later", t1 - t0);
            assert!(t1 < 60.0 + 45.0, "before the session timeout would have noticed");
            redelivered += 1;
        }
    }
    assert!(redelivered > 0, "the crashed consumer held records");
    assert!(del.len() > 40_000);
    assert_eq!(processed.len(), del.len(), "every delivered message processed: none lost");
    assert!(processed.values().all(|&n| n == 1), "none processed twice");
}

/// Processing (40 s) longer than the lock (30 s): every delivery's acknowledgement comes too late,
/// so each record is delivered exactly 5 times (`group.share.delivery.count.limit`), at least 30 s
/// apart (when its lock expires, or later when a consumer is free), then archived: never
/// delivered a sixth time, and the run ends.
#[test]
fn a_record_that_outlives_its_lock_is_archived_after_five_deliveries() {
    let s = scenario(
        r#"
name = "share-archive"
seed = 3
duration = "200s"
systems = ["kafka"]
[workload]
rate = 0.02
arrivals = "constant"
[[groups]]
name = "g"
consumers = 3
type = "share"
processing = "40s"
[kafka]
partitions = 1
linger = "0ms"
max_poll_records = 1
"#,
    );
    let (del, processed) = deliveries(&s);
    assert_eq!(del.len(), 3, "constant arrivals every 50 s from 50 s: 3 messages");
    for (id, ds) in &del {
        assert_eq!(ds.len(), 5, "message {id}: {ds:?}");
        assert_eq!(ds.iter().filter(|d| d.2).count(), 4, "message {id}: all but the first are redeliveries");
        for w in ds.windows(2) {
            assert!(w[1].0 - w[0].0 >= 30.0 - 1e-9, "message {id}: at least one lock apart: {ds:?}");
        }
        assert_eq!(processed[id], 5, "each delivery was processed, its acknowledgement refused");
    }
    let runs = run_all(&s);
    let d = &runs[0].delivery.groups["g"];
    assert_eq!((d.processed_unique, d.duplicates, d.redelivered), (3, 12, 12), "{d:?}");
}

/// A consumer that stops cleanly (scaled in) releases its acquired records at once: they are
/// redelivered within a second, not after the 30 s lock. (At 370/s, 92% of the four consumers,
/// the two that stop hold batches.)
#[test]
fn a_share_consumer_that_stops_cleanly_releases_its_records_at_once() {
    let s = scenario(
        r#"
name = "share-scale-in"
seed = 9
duration = "60s"
systems = ["kafka"]
[workload]
rate = 370.0
[[groups]]
name = "g"
consumers = 4
type = "share"
processing = { distribution = "exponential", mean = "10ms" }
[kafka]
partitions = 2
linger = "0ms"
max_poll_records = 50
[[operations]]
at = "30s"
action = "scale"
group = "g"
consumers = 2
"#,
    );
    let (del, processed) = deliveries(&s);
    let again: Vec<f64> = del.values().flat_map(|ds| ds.iter().skip(1).map(|d| d.0)).collect();
    assert!(!again.is_empty(), "the stopped consumers held records");
    assert!(again.iter().all(|&t| (30.0..31.0).contains(&t)), "released at the stop: {again:?}");
    assert_eq!(processed.len(), del.len(), "nothing lost");
    assert!(processed.values().all(|&n| n == 1), "the stopped consumers' records were not processed before");
}

/// `reset_offsets` to earliest on a share group (`kafka-share-groups --reset-offsets`): the group
/// processes again every message it had processed (`replayed`), without duplicates.
#[test]
fn resetting_a_share_group_replays_what_it_processed() {
    let s = scenario(
        r#"
name = "share-reset"
seed = 2
duration = "60s"
systems = ["kafka"]
[workload]
rate = 50.0
[[groups]]
name = "g"
consumers = 3
type = "share"
processing = { distribution = "exponential", mean = "5ms" }
[kafka]
partitions = 2
linger = "0ms"
[[operations]]
at = "30s"
action = "reset_offsets"
group = "g"
to = "earliest"
"#,
    );
    let before = client_events(&s, SystemKind::Kafka)
        .0
        .iter()
        .filter(|(t, e)| secs(*t) < 30.0 && matches!(e, ClientEvent::Processed { .. }))
        .count() as u64;
    let runs = run_all(&s);
    let d = &runs[0].delivery.groups["g"];
    assert!(before > 1_000);
    assert_eq!(d.replayed, before, "{d:?}");
    assert_eq!((d.duplicates, d.acknowledged_lost), (0, 0), "{d:?}");
    assert_eq!(d.processed_unique, d.owed);
}

fn error(toml: &str) -> String {
    pushpull::plan::parse(toml, "f.toml", false).unwrap_err().to_string()
}

const BASE: &str = r#"
duration = "1m"
[workload]
rate = 10.0
[[groups]]
name = "g"
consumers = 2
"#;

#[test]
fn share_group_input_errors_are_one_line() {
    let e = error(&format!("{BASE}type = \"queue\"\n"));
    assert!(e.contains("groups[0].type") && e.contains("\"queue\"") && e.contains("\"share\""), "{e}");
    let e = error(&format!(
        "{BASE}type = \"share\"\n[cluster]\nbrokers = 2\n[[faults]]\nat = \"10s\"\naction = \"crash\"\ntarget = \"broker-1\"\n"
    ));
    assert!(e.contains("field `faults`") && e.contains("share group") && e.contains("\"g\""), "{e}");
    let e = error(&format!("{BASE}type = \"share\"\n[kafka]\nassignor = \"roundrobin\"\n"));
    assert!(e.contains("kafka.assignor") && e.contains("share group"), "{e}");
    assert_eq!(e.lines().count(), 1);
    // With a consumer group beside it, the assignor is that group's: accepted.
    let ok = format!("{BASE}type = \"share\"\n[[groups]]\nname = \"h\"\n[kafka]\nassignor = \"roundrobin\"\n");
    pushpull::plan::parse(&ok, "f.toml", false).unwrap();
}
