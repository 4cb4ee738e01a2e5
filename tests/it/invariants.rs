//! Properties every fault-free run must have, checked on varied scenarios for both systems.

use crate::common::*;
use pushpull::history::{ClientEvent, Observation, VecHistory};
use pushpull::metrics::SystemSummary;
use pushpull::models::run_system;
use pushpull::report::SystemRun;
use pushpull::scenario::{Scenario, SystemKind};
use pushpull::time::SimTime;
use pushpull::workload::WorkloadGen;
use std::collections::BTreeMap;

fn run(s: &Scenario, sys: SystemKind) -> SystemRun {
    pushpull::run::run_one(s, sys, None)
}

fn summary(s: &Scenario, r: &SystemRun) -> SystemSummary {
    r.summary(s)
}

/// Shapes that exercise different code paths: batching, network delay, several groups, null and
/// Zipf keys, unlimited prefetch, auto-ack, commitSync, phases, size distributions.
const VARIANTS: &[&str] = &[
    // lan profile, Kafka defaults (linger 5 ms, auto-commit), RabbitMQ defaults (prefetch unlimited)
    r#"profile = "lan"
       [workload]
       rate = 300.0
       keys = { count = 1000, distribution = "zipf", exponent = 1.1 }
       [[groups]]
       name = "a"
       consumers = 3
       processing = { distribution = "exponential", mean = "5ms" }
       [kafka]
       partitions = 6"#,
    // two groups, null keys (sticky partitioner), prefetch 10, commitSync, lognormal
    r#"[workload]
       rate = 200.0
       message_bytes = { distribution = "uniform", min = 100, max = "4KiB" }
       [[groups]]
       name = "a"
       consumers = 2
       processing = { distribution = "lognormal", mean = "4ms", stddev = "6ms" }
       [[groups]]
       name = "b"
       consumers = 4
       processing = { distribution = "uniform", min = "1ms", max = "20ms" }
       [kafka]
       partitions = 3
       enable_auto_commit = false
       linger = "20ms"
       batch_size = "4KiB"
       [rabbitmq]
       prefetch = 10"#,
    // auto-ack, constant arrivals, rate phases incl. an overload phase and a pause
    r#"profile = "lan"
       [workload]
       rate = 100.0
       arrivals = "constant"
       phases = [{ at = "20s", rate = 400.0 }, { at = "40s", rate = 0.0 }, { at = "50s", rate = 50.0 }]
       keys = { count = 50, distribution = "uniform" }
       [[groups]]
       name = "a"
       consumers = 2
       processing = { distribution = "exponential", mean = "8ms" }
       [kafka]
       partitions = 2
       max_poll_records = 7
       fetch_min_bytes = "8KiB"
       fetch_max_wait = "100ms"
       [rabbitmq]
       ack = "auto""#,
];

fn variant(i: usize) -> Scenario {
    scenario(&format!(
        "name = \"v{i}\"\nseed = {}\nduration = \"60s\"\nwarmup = \"5s\"\nsample_interval = \"1s\"\n{}",
        100 + i,
        VARIANTS[i]
    ))
}

#[test]
fn fault_free_runs_lose_and_duplicate_nothing() {
    for i in 0..VARIANTS.len() {
        let s = variant(i);
        for &sys in &s.systems {
            let r = run(&s, sys);
            let sum = summary(&s, &r);
            let tag = format!("variant {i} {}", sys.name());
            assert!(sum.messages_published > 5_000, "{tag}: too small to mean anything");
            assert_eq!(sum.published, sum.messages_published * s.groups.len() as u64, "{tag}");
            assert_eq!((sum.duplicates, sum.lost, sum.stranded), (0, 0, 0), "{tag}");
            assert_eq!(sum.published, sum.unique_processed + sum.lost + sum.stranded, "{tag}");
            for (name, g) in &sum.groups {
                assert_eq!(g.published, g.unique_processed, "{tag} group {name}");
            }
            // After the drain (and Kafka's close(), which commits) nothing is waiting or unacknowledged.
            for x in r.recorder.samples.iter().rev().take(s.groups.len()) {
                assert_eq!((x.consumer_lag, x.unacked, x.in_flight), (0, 0, 0), "{tag}: gauges at the end");
            }
            // The independent checker, from client events alone, agrees: nothing lost, nothing twice.
            let d = &r.delivery.total;
            assert_eq!(d.owed, sum.published, "{tag}: owed per the checker");
            assert_eq!(
                (d.acknowledged_lost, d.unacknowledged_lost, d.duplicates, d.redelivered),
                (0, 0, 0, 0),
                "{tag}"
            );
            if sys == SystemKind::Kafka {
                assert_eq!(r.delivery.acknowledged, sum.messages_published, "{tag}: every produce acknowledged");
                assert_eq!(r.delivery.unavailable_s, Some(0.0), "{tag}: a healthy producer is never stalled");
            }
            // With auto-ack RabbitMQ forgets a message as it sends it: nothing is ever unacked.
            let auto_ack = sys == SystemKind::RabbitMq && !s.rabbitmq.manual_ack;
            assert_eq!(sum.max_unacked > 0, !auto_ack, "{tag}: max_unacked {}", sum.max_unacked);
        }
    }
}

/// Completions in [warmup, duration) minus publications in that window equals what was in the
/// system at the start of the window minus what is left at its end: an exact identity, which
/// makes "throughput equals offered load" a checkable statement.
#[test]
fn throughput_equals_offered_load_up_to_what_is_in_flight() {
    for i in 0..VARIANTS.len() {
        let s = variant(i);
        for &sys in &s.systems {
            let r = run(&s, sys);
            let sum = summary(&s, &r);
            let window = (s.duration.0 - s.warmup.0) as f64 / 1e9;
            for (gi, g) in s.groups.iter().enumerate() {
                let gs = &sum.groups[&g.name];
                let at = |t: u64| {
                    r.recorder
                        .samples
                        .iter()
                        .find(|x| x.time == SimTime(t) && x.group == gi)
                        .map(|x| x.in_flight as i64)
                        .expect("sample at boundary")
                };
                let completions = (gs.throughput_per_s * window).round() as i64;
                let published = (gs.offered_per_s * window).round() as i64;
                assert_eq!(
                    completions - published,
                    at(s.warmup.0) - at(s.duration.0),
                    "variant {i} {} {}",
                    sys.name(),
                    g.name
                );
                let rel = (gs.throughput_per_s - gs.offered_per_s).abs() / gs.offered_per_s;
                assert!(
                    rel < 0.02,
                    "variant {i} {}: throughput {} vs offered {}",
                    sys.name(),
                    gs.throughput_per_s,
                    gs.offered_per_s
                );
            }
        }
    }
}

/// Common random numbers: both systems see the same messages at the same times, and each
/// (message, group) takes the same processing time in both.
#[test]
fn both_systems_see_the_identical_workload() {
    let s = variant(1);
    let mut per_sys = Vec::new();
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let mut h = VecHistory::default();
        run_system(&s, sys, &mut h, |_| {});
        let published: Vec<_> = h
            .0
            .iter()
            .filter_map(|(_, o)| if let Observation::Client(ClientEvent::Sent { msg }) = o { Some(*msg) } else { None })
            .collect();
        let mut started = BTreeMap::new();
        let mut work = BTreeMap::new();
        for (t, o) in &h.0 {
            match o {
                Observation::Client(ClientEvent::ProcessingStarted { msg, group, .. }) => {
                    started.insert((msg.id(), *group), *t);
                }
                Observation::Client(ClientEvent::Processed { msg, group, .. }) => {
                    work.insert((msg.id(), *group), t.0 - started[&(msg.id(), *group)].0);
                }
                _ => {}
            }
        }
        per_sys.push((published, work));
    }
    assert_eq!(per_sys[0].0, per_sys[1].0, "same arrivals, keys and sizes");
    assert_eq!(per_sys[0].1, per_sys[1].1, "same processing time per (message, group)");
    assert!(per_sys[0].1.len() > 10_000);
}

/// Kafka keeps order per partition, so messages with the same key are processed in publish order;
/// a single RabbitMQ consumer with prefetch 1 processes in publish order too.
#[test]
fn order_is_kept_where_each_system_promises_it() {
    let s = variant(0);
    let mut keys = BTreeMap::new();
    let mut w = WorkloadGen::new(&s);
    while let Some(m) = w.next_message() {
        keys.insert(m.id, m.key.expect("keyed"));
    }
    let mut h = VecHistory::default();
    run_system(&s, SystemKind::Kafka, &mut h, |_| {});
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    let mut checked = 0;
    for (_, o) in &h.0 {
        if let Observation::Client(ClientEvent::ProcessingStarted { msg, .. }) = o {
            let k = keys[&msg.id()];
            if let Some(prev) = last.insert(k, msg.id()) {
                assert!(prev < msg.id(), "key {k}: message {} processed after {}", prev, msg.id());
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);

    let s = scenario(
        r#"duration = "30s"
           [workload]
           rate = 80.0
           [[groups]]
           name = "a"
           processing = { distribution = "exponential", mean = "10ms" }
           [rabbitmq]
           prefetch = 1"#,
    );
    let mut h = VecHistory::default();
    run_system(&s, SystemKind::RabbitMq, &mut h, |_| {});
    let ids: Vec<u64> = h
        .0
        .iter()
        .filter_map(|(_, o)| {
            if let Observation::Client(ClientEvent::ProcessingStarted { msg, .. }) = o { Some(msg.id()) } else { None }
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

/// The prefetch window bounds what a consumer holds unacknowledged; with prefetch 0 it does not.
#[test]
fn prefetch_bounds_unacked_deliveries_per_consumer() {
    for (prefetch, bound) in [(1u32, Some(1i64)), (3, Some(3)), (0, None)] {
        let s = scenario(&format!(
            r#"duration = "20s"
               profile = "lan"
               systems = ["rabbitmq"]
               [workload]
               rate = 400.0
               [[groups]]
               name = "a"
               consumers = 3
               processing = {{ distribution = "exponential", mean = "9ms" }}
               [rabbitmq]
               prefetch = {prefetch}"#
        ));
        let mut h = VecHistory::default();
        run_system(&s, SystemKind::RabbitMq, &mut h, |_| {});
        let mut held = [0i64; 3];
        let mut max_held = 0;
        for (_, o) in &h.0 {
            match o {
                Observation::Client(ClientEvent::Delivered { consumer, .. }) => held[*consumer as usize] += 1,
                Observation::Client(ClientEvent::Processed { consumer, .. }) => held[*consumer as usize] -= 1,
                _ => {}
            }
            max_held = max_held.max(*held.iter().max().unwrap());
        }
        let mut rec = pushpull::metrics::Recorder::new(&s);
        run_system(&s, SystemKind::RabbitMq, &mut rec, |_| {});
        let sum = rec.summarize(&["a".into()], SimTime::ZERO);
        if let Some(b) = bound {
            assert!(sum.max_unacked <= 3 * b as u64, "the broker's unacked gauge respects prefetch x consumers");
            assert!(sum.max_unacked > b as u64, "several consumers hold deliveries at once");
        }
        match bound {
            Some(b) => assert!(max_held <= b && max_held == b, "prefetch {prefetch}: a consumer held {max_held}"),
            None => assert!(max_held > 10, "unlimited prefetch should pile up deliveries (held {max_held})"),
        }
    }
}

/// A log keeps every record until retention; a queue deletes on ack but keeps a copy per queue.
#[test]
fn storage_log_retains_queue_copies_per_group() {
    let s = scenario(
        r#"duration = "60s"
           [workload]
           rate = 100.0
           message_bytes = { distribution = "uniform", min = 10, max = 2000 }
           [[groups]]
           name = "a"
           processing = "1ms"
           [[groups]]
           name = "b"
           processing = "1ms"
           [[groups]]
           name = "c"
           processing = { distribution = "exponential", mean = "5ms" }
           [rabbitmq]
           prefetch = 1"#,
    );
    let mut total = 0u64;
    let mut w = WorkloadGen::new(&s);
    while let Some(m) = w.next_message() {
        total += m.bytes as u64;
    }
    let k = summary(&s, &run(&s, SystemKind::Kafka));
    assert_eq!(k.peak_stored_bytes, total, "7-day retention: the log still holds every byte at the end");
    let r = run(&s, SystemKind::RabbitMq);
    let rs = summary(&s, &r);
    assert!(rs.peak_stored_bytes < total / 100, "acked messages are deleted: {} vs {total}", rs.peak_stored_bytes);
    assert_eq!(r.recorder.samples.last().unwrap().stored_bytes, 0, "nothing left after the drain");
}

/// Retention shorter than the backlog: the log deletes records no one has read yet (lost, and
/// auto.offset.reset skips past them); the queue keeps them until they are consumed.
#[test]
fn retention_loses_what_a_slow_consumer_has_not_read() {
    let s = scenario(
        r#"duration = "30m"
           [workload]
           rate = 20.0
           [[groups]]
           name = "slow"
           processing = { distribution = "constant", value = "100ms" }
           [kafka]
           retention = "5m"
           segment_bytes = "64KiB"
           retention_check_interval = "30s"
           auto_offset_reset = "earliest"
           [rabbitmq]
           prefetch = 1"#,
    );
    let k = summary(&s, &run(&s, SystemKind::Kafka));
    let r = summary(&s, &run(&s, SystemKind::RabbitMq));
    assert!(k.lost > 1_000, "kafka lost {}", k.lost);
    assert_eq!(k.published, k.unique_processed + k.lost + k.stranded);
    assert_eq!((r.lost, r.stranded, r.duplicates), (0, 0, 0));
    assert!(r.max_backlog > 10_000, "the queue holds the whole backlog: {}", r.max_backlog);
}

/// A backlog with a large prefetch and a zero-cost network: every ack frees a delivery to the
/// same consumer while it still has deliveries waiting (this once started two jobs at once).
#[test]
fn deep_prefetch_backlog_processes_one_message_at_a_time() {
    for (prefetch, ack) in [(20, "manual"), (0, "manual"), (5, "auto")] {
        let s = scenario(&format!(
            r#"duration = "2m"
               [workload]
               rate = 70.0
               [[groups]]
               name = "a"
               consumers = 2
               processing = {{ distribution = "exponential", mean = "40ms" }}
               [kafka]
               max_poll_records = 20
               [rabbitmq]
               prefetch = {prefetch}
               ack = "{ack}""#
        ));
        for &sys in &s.systems {
            let mut h = VecHistory::default();
            run_system(&s, sys, &mut h, |_| {});
            let mut busy = [false; 2];
            let mut processed = 0;
            for (_, o) in &h.0 {
                match o {
                    Observation::Client(ClientEvent::ProcessingStarted { consumer, .. }) => {
                        assert!(
                            !busy[*consumer as usize],
                            "{} prefetch {prefetch}: consumer {consumer} started a second job",
                            sys.name()
                        );
                        busy[*consumer as usize] = true;
                    }
                    Observation::Client(ClientEvent::Processed { consumer, .. }) => {
                        busy[*consumer as usize] = false;
                        processed += 1;
                    }
                    _ => {}
                }
            }
            let published =
                h.0.iter().filter(|(_, o)| matches!(o, Observation::Client(ClientEvent::Sent { .. }))).count();
            assert_eq!(processed, published, "{} prefetch {prefetch} {ack}", sys.name());
        }
    }
}

/// Kafka: a partition belongs to one consumer of a group, so consumers beyond the partition count
/// stay idle (range assignor); RabbitMQ: every consumer of a queue gets work.
#[test]
fn consumers_beyond_partitions_stay_idle_in_kafka_only() {
    let s = scenario(
        r#"duration = "60s"
           [workload]
           rate = 100.0
           keys = { count = 1000 }
           [[groups]]
           name = "a"
           consumers = 5
           processing = { distribution = "exponential", mean = "10ms" }
           [kafka]
           partitions = 2"#,
    );
    for (sys, busy_expected) in [(SystemKind::Kafka, vec![0u32, 1]), (SystemKind::RabbitMq, vec![0, 1, 2, 3, 4])] {
        let mut h = VecHistory::default();
        run_system(&s, sys, &mut h, |_| {});
        let busy: std::collections::BTreeSet<u32> =
            h.0.iter()
                .filter_map(|(_, o)| {
                    if let Observation::Client(ClientEvent::Processed { consumer, .. }) = o {
                        Some(*consumer)
                    } else {
                        None
                    }
                })
                .collect();
        assert_eq!(busy.into_iter().collect::<Vec<_>>(), busy_expected, "{}", sys.name());
    }
}
