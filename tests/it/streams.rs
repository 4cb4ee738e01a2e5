//! RabbitMQ streams (`queue_type = "stream"`): replay after a bug fix equal to Kafka's under the
//! same retention, late groups from `first` and `next`, acknowledged messages that stay, retention
//! evaluated when a segment rolls, one active consumer per group taking over on a crash, and the
//! one-line refusals. Expected figures are recounted from each run's own history.

use crate::common::{All, delivery, scenario, secs};
use pushpull::history::{ClientEvent, Observation};
use pushpull::scenario::SystemKind;
use pushpull::time::SimTime;
use std::collections::BTreeSet;

/// Size retention set alike in both systems: one Kafka partition and the stream, segments of
/// 40 messages of 1,000 bytes, a limit of 5 segments and one message. Kafka's retention.bytes
/// keeps at least its limit, the stream's x-max-length-bytes at most (newest segment included):
/// with this limit both keep 5 full segments and the active one, so the same messages.
const SIZED: &str = r#"
name = "sized"
seed = 11
duration = "5m"
[workload]
rate = 40
message_bytes = 1000
keys = { distribution = "uniform", count = 500 }
[kafka]
partitions = 1
segment_bytes = 40000
retention_bytes = 201000
retention_check_interval = "10s"
[rabbitmq]
queue_type = "stream"
prefetch = 10
stream_max_segment_size_bytes = 40000
stream_max_length_bytes = 201000
[[groups]]
name = "billing"
consumers = 2
processing = "4ms"
[[operations]]
at = "6m05s"
action = "reset_offsets"
group = "billing"
to = "earliest"
"#;

#[test]
fn after_a_bug_fix_a_stream_replays_exactly_what_it_retains_as_much_as_kafka_under_the_same_retention() {
    let s = scenario(SIZED);
    let reset = SimTime(365 * 1_000_000_000);
    let k_all = All::run(&s, SystemKind::Kafka);
    let r_all = All::run(&s, SystemKind::RabbitMq);
    let (k_held, r_held) = (k_all.retained_at(reset), r_all.retained_at(reset));
    let sent = k_all.client().0.iter().filter(|(_, e)| matches!(e, ClientEvent::Sent { .. })).count() as u64;
    // Retention deleted most of the run: 5 segments of 40 and the active one's few are left.
    assert!(r_held.len() > 200 && r_held.len() <= 240, "stream retains {}", r_held.len());
    assert!((r_held.len() as u64) < sent / 10);
    assert_eq!(k_held, r_held, "the same messages retained at the reset");

    let k = delivery(&s, SystemKind::Kafka);
    let r = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(k.total.replayed, k_held.len() as u64, "Kafka replays what its log held");
    assert_eq!(r.total.replayed, r_held.len() as u64, "the stream replays what it held");
    assert_eq!(r.total.replayed, k.total.replayed);
    for d in [&k, &r] {
        assert_eq!(d.total.duplicates, 0);
        assert_eq!(d.total.processed_unique, sent, "everything processed once before the reset");
    }
    // Acknowledgements deleted nothing: the stream's deletions are all retention's (no group's).
    assert!(!r_all.0.iter().any(|(_, o)| matches!(o, Observation::Deleted { group: Some(_), .. })));
}

/// Time retention (`x-max-age` 2 min) with segments of about 20 s: the stream evaluates it only
/// when a segment rolls.
const AGED: &str = r#"
name = "aged"
seed = 4
duration = "6m"
[workload]
rate = 40
message_bytes = 1000
[rabbitmq]
queue_type = "stream"
prefetch = 5
stream_max_age = "2m"
stream_max_segment_size_bytes = 800000
[[groups]]
name = "billing"
processing = "4ms"
[[operations]]
at = "7m"
action = "reset_offsets"
group = "billing"
to = "earliest"
"#;

#[test]
fn stream_age_retention_runs_when_a_segment_rolls_and_a_reset_replays_what_is_left() {
    let mut s = scenario(AGED);
    s.systems = vec![SystemKind::RabbitMq];
    let all = All::run(&s, SystemKind::RabbitMq);
    // Every deletion happens at the instant a message is stored (the roll that triggered it).
    let stored_at: BTreeSet<SimTime> =
        all.0.iter().filter(|(_, o)| matches!(o, Observation::Stored { .. })).map(|(t, _)| *t).collect();
    let deletions: Vec<SimTime> =
        all.0.iter().filter(|(_, o)| matches!(o, Observation::Deleted { group: None, .. })).map(|(t, _)| *t).collect();
    assert!(!deletions.is_empty());
    assert!(deletions.iter().all(|t| stored_at.contains(t)), "retention outside a roll");
    // After the producer stops at 6 min nothing rolls: the segments older than 2 min stay.
    let reset = SimTime(420 * 1_000_000_000);
    let held = all.retained_at(reset);
    let oldest_kept = all
        .0
        .iter()
        .find_map(|(_, o)| match o {
            Observation::Stored { msg } if msg.id() == *held.first().unwrap() => Some(msg.published_at),
            _ => None,
        })
        .unwrap();
    assert!(secs(reset) - secs(oldest_kept) > 120.0 + 60.0, "kept from {} s", secs(oldest_kept));
    let d = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(d.total.replayed, held.len() as u64);
    assert_eq!(d.total.duplicates, 0);
}

/// replay.rs's late groups (from the start; from earliest and from latest at 4 min) on a stream
/// with 2 min of age retention, and a fourth group from `first` at 7 min.
fn late_stream() -> String {
    let kafka =
        "[kafka]\npartitions = 3\nretention = \"2m\"\nsegment_ms = \"20s\"\nretention_check_interval = \"40s\"\n";
    assert!(crate::replay::LATE.contains(kafka));
    let stream = "[rabbitmq]\nqueue_type = \"stream\"\nprefetch = 20\nstream_max_age = \"2m\"\n\
                  stream_max_segment_size_bytes = 500000\n";
    crate::replay::LATE.replace(kafka, stream)
        + "[[groups]]\nname = \"audit\"\nprocessing = \"1ms\"\nstart = \"7m\"\nfrom = \"earliest\"\n"
}

#[test]
fn late_stream_groups_read_what_is_retained_from_first_and_what_follows_from_next_and_acks_delete_nothing() {
    let mut s = scenario(&late_stream());
    s.systems = vec![SystemKind::RabbitMq];
    let all = All::run(&s, SystemKind::RabbitMq);
    let e = all.client();
    let mut sent = Vec::new();
    let mut processed = vec![BTreeSet::new(); 4];
    let mut acked_by_first = Vec::new();
    for (at, ev) in &e.0 {
        match *ev {
            ClientEvent::Sent { msg } => sent.push((*at, msg.id)),
            ClientEvent::Processed { msg, group, .. } => {
                processed[group].insert(msg.id());
            }
            ClientEvent::Acked { id, group: 0, .. } => acked_by_first.push((*at, id)),
            _ => {}
        }
    }
    let start = SimTime(240 * 1_000_000_000);
    let held = all.retained_at(start);
    assert!(held.first() > Some(&0), "retention deleted the oldest ones");
    // first: everything the stream held at the start, and everything after.
    let want: BTreeSet<u64> =
        held.iter().copied().chain(sent.iter().filter(|(t, _)| *t >= start).map(|&(_, id)| id)).collect();
    assert_eq!(processed[1], want);
    // next: exactly what was published from the subscription on (zero latency: at the start).
    let after: BTreeSet<u64> = sent.iter().filter(|(t, _)| *t >= start).map(|&(_, id)| id).collect();
    assert_eq!(processed[2], after);
    // The first group acknowledged everything before 7 min; a group starting then from `first`
    // still reads all of it that retention kept.
    let audit_start = SimTime(420 * 1_000_000_000);
    let acked_before: BTreeSet<u64> =
        acked_by_first.iter().filter(|(t, _)| *t < audit_start).map(|&(_, id)| id).collect();
    let kept = all.retained_at(audit_start);
    assert!(kept.len() > 5_000);
    assert!(kept.iter().all(|id| acked_before.contains(id) || sent.iter().any(|&(t, i)| i == *id && t >= audit_start)));
    assert!(kept.is_subset(&processed[3]), "acknowledged messages are still read");
    let d = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(d.total.duplicates, 0);
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0);
    assert_eq!(d.groups["latest"].processed_not_owed, 0);
    assert_eq!(d.groups["earliest"].processed_not_owed as usize, held.len());
}

const TAKEOVER: &str = r#"
name = "takeover"
seed = 9
duration = "4m"
[workload]
rate = 30
[rabbitmq]
queue_type = "stream"
prefetch = 10
[[groups]]
name = "g"
consumers = 3
processing = { distribution = "exponential", mean = "10ms" }
[[faults]]
at = "100s"
action = "crash"
target = "g/0"
"#;

#[test]
fn one_stream_consumer_reads_and_the_next_takes_over_from_the_last_processed_offset_when_it_crashes() {
    let mut s = scenario(TAKEOVER);
    s.systems = vec![SystemKind::RabbitMq];
    let e = crate::common::client_events(&s, SystemKind::RabbitMq);
    let crash = 100.0;
    let by = |c: u32, before: bool| {
        e.0.iter()
            .filter(|(at, ev)| {
                matches!(ev, ClientEvent::Processed { consumer, .. } if *consumer == c) && (secs(*at) < crash) == before
            })
            .count()
    };
    // Single active consumer: 0 reads alone, then 1 (the next subscribed) alone; 2 stands by.
    assert!(by(0, true) > 2_500 && by(1, true) == 0 && by(2, true) == 0);
    assert!(by(1, false) > 3_000 && by(0, false) == 0 && by(2, false) == 0);
    let d = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(d.total.duplicates, 0, "resumed after the last processed message");
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0);
    assert_eq!(d.total.redelivered, 0, "a stream never flags redeliveries");
}

#[test]
fn the_stream_survives_a_crash_of_its_node_and_its_group_resumes_where_it_was() {
    let text = TAKEOVER
        .replace("target = \"g/0\"", "target = \"broker-0\"\nduration = \"30s\"")
        .replace("prefetch = 10", "prefetch = 10\npublisher_confirms = true");
    let mut s = scenario(&text);
    s.systems = vec![SystemKind::RabbitMq];
    let d = delivery(&s, SystemKind::RabbitMq);
    assert_eq!(d.total.acknowledged_lost, 0, "a stream is persistent: nothing confirmed is lost");
    // The 30 s outage less the checker's 1 s threshold.
    let stalled = d.unavailable_s.unwrap();
    assert!((28.0..31.0).contains(&stalled), "unavailable {stalled}");
    assert_eq!(d.total.processed_unique, d.sent);
    assert_eq!(d.total.duplicates, 0, "the group resumed at its stored offset");
    // The same crash of a classic queue's node loses its transient confirmed backlog.
    let classic = format!("systems = [\"rabbitmq\"]\n{text}")
        .replace("queue_type = \"stream\"\n", "")
        .replace("processing = {", "processing = \"1s\"\n#{");
    let mut c = scenario(&classic);
    c.systems = vec![SystemKind::RabbitMq];
    assert!(delivery(&c, SystemKind::RabbitMq).total.acknowledged_lost > 100);
}

#[test]
fn what_a_stream_does_not_allow_is_refused_in_one_line() {
    let base = "duration = \"10m\"\n[workload]\nrate = 1\n[[groups]]\nname = \"g\"\n[rabbitmq]\n";
    let cases = [
        ("queue_type = \"stream\"\n", "rabbitmq.prefetch", "prefetch count"),
        ("queue_type = \"stream\"\nprefetch = 5\nack = \"auto\"\n", "rabbitmq.ack", "automatic acknowledgement"),
        ("queue_type = \"stream\"\nprefetch = 5\nreplicas = 3\n", "rabbitmq.replicas", "not replicated"),
        ("stream_max_age = \"1h\"\n", "rabbitmq.stream_max_age", "only allowed with queue_type = \"stream\""),
        ("queue_type = \"quorum\"\nstream_max_length_bytes = \"1MiB\"\n", "rabbitmq.stream_max_length_bytes", "only"),
        ("queue_type = \"streams\"\n", "rabbitmq.queue_type", "\"stream\""),
        ("queue_type = \"stream\"\nprefetch = 5\nstream_max_age = \"0s\"\n", "rabbitmq.stream_max_age", "0 is not"),
        (
            "queue_type = \"stream\"\nprefetch = 5\nstream_max_segment_size_bytes = \"4GB\"\n",
            "rabbitmq.stream_max_segment_size_bytes",
            "not allowed",
        ),
    ];
    for (rabbit, field, says) in cases {
        crate::common::assert_refused(&format!("{base}{rabbit}"), "s.toml", field, says);
    }
    // Kafka alone does not care about RabbitMQ's consumer settings.
    let ok = format!("systems = [\"kafka\"]\n{base}queue_type = \"stream\"\n");
    pushpull::plan::parse(&ok, "s.toml", false).unwrap();
}

#[test]
fn a_stream_reset_to_a_time_replays_what_was_published_since_and_the_storage_chart_names_the_stream() {
    let text = AGED.replace("to = \"earliest\"", "to = \"5m\"");
    let s = scenario(&text);
    let runs = crate::common::run_all(&s);
    let r = runs.iter().find(|r| r.system == SystemKind::RabbitMq).unwrap();
    let all = All::run(&s, SystemKind::RabbitMq);
    // x-stream-offset as a timestamp: the first message published at or after 5 min, on.
    let five = SimTime(300 * 1_000_000_000);
    let since =
        all.0.iter().filter(|(_, o)| matches!(o, Observation::Stored { msg } if msg.published_at >= five)).count()
            as u64;
    assert!(since > 2_000, "{since}");
    assert_eq!(r.delivery.total.replayed, since);
    assert_eq!(r.delivery.total.duplicates, 0);
    let svgs = pushpull::report::charts::chart_svgs(&s, &runs).unwrap();
    let storage = crate::common::svg(&svgs, "storage");
    assert!(storage.contains("bytes in the stream") && storage.contains("retention deleted segments"));
    assert!(!storage.contains("bytes in the queues"));
}

#[test]
fn a_stream_that_keeps_everything_is_counted_by_the_size_guard() {
    let dir = crate::common::tmpdir_in("streams", "guard");
    let big = "systems = [\"rabbitmq\"]\nduration = \"3d\"\n[workload]\nrate = 3000\n[rabbitmq]\nqueue_type = \
               \"stream\"\nprefetch = 100\n[[groups]]\nname = \"g\"\n";
    let out = crate::common::bin().arg("validate").arg(crate::common::write(&dir, "big.toml", big)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("field `rabbitmq.stream_max_age`") && err.contains("the RabbitMQ stream"), "{err}");
    // With an hour of x-max-age the same load fits.
    let aged = big.replace("prefetch = 100\n", "prefetch = 100\nstream_max_age = \"1h\"\n");
    let out = crate::common::bin().arg("validate").arg(crate::common::write(&dir, "aged.toml", aged)).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("the RabbitMQ stream"));
}
