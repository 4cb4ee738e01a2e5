//! Kafka replication on three brokers with 1 ms of one-way network latency, judged by the
//! independent checker from client events alone: what `acks`, `min.insync.replicas` and unclean
//! leader election buy when brokers die (issue 6's must-shows for Kafka).

use crate::common::*;
use pushpull::history::{ClientEvent, History, Observation};
use pushpull::report::SystemRun;
use pushpull::scenario::{Scenario, SystemKind};
use pushpull::time::SimTime;

fn run(s: &Scenario) -> SystemRun {
    pushpull::run::run_one(s, SystemKind::Kafka, None)
}

fn events(s: &Scenario) -> Events {
    client_events(s, SystemKind::Kafka)
}

/// Three brokers, three partitions with three replicas each (partition p led by broker p), 3,000
/// keyed records/s for two minutes (about 1,000/s per partition), three consumers that keep up. The leader of
/// partition 0 (broker 0) is killed at `at` for 30 s.
fn leader_crash(acks: &str, min_isr: u32, at: &str, idempotence: bool) -> Scenario {
    scenario(&format!(
        r#"
        duration = "3m"
        systems = ["kafka"]
        [cluster]
        brokers = 3
        [workload]
        rate = 3000.0
        phases = [{{ at = "2m", rate = 0.0 }}]
        keys = {{ count = 10000, distribution = "uniform" }}
        [[groups]]
        name = "g"
        consumers = 3
        processing = "200us"
        [kafka]
        partitions = 3
        replication_factor = 3
        acks = {acks}
        min_insync_replicas = {min_isr}
        enable_idempotence = {idempotence}
        linger = "0ms"
        [network]
        latency = "1ms"
        [[faults]]
        at = "{at}"
        action = "crash"
        target = "leader"
        duration = "30s"
        "#
    ))
}

/// Crash instants that are not on any round number of the 1 ms latency grid.
const CRASHES: [&str; 5] = ["61777ms", "67123ms", "75s", "80333ms", "93517ms"];

/// When the controller fences a broker that crashed at `crash` s: brokers heartbeat at every
/// even second (`broker.heartbeat.interval.ms` = 2 s, from time 0), each heartbeat reaches the
/// controller 1 ms later, and the session expires 9 s after the last one that did
/// (`broker.session.timeout.ms`). So 7 to 9 s after the crash.
fn fenced_at(crash: f64) -> f64 {
    (crash / 2.0).floor() * 2.0 + 0.001 + 9.0
}

fn crash_secs(at: &str) -> f64 {
    secs(SimTime(pushpull::time::parse_duration(at).unwrap().0))
}

/// acks=1: the leader answers once it appended, before its followers fetched. The records it
/// acknowledged since its last answer to a follower's fetch (within one fetch round trip, 1 ms
/// there and 1 ms back) exist only on the leader; the new leader, elected when the controller
/// fences the dead one (7 to 9 s later), lacks them, and the old leader truncates them when it returns.
#[test]
fn acks_one_loses_acknowledged_records_when_the_leader_dies() {
    let lost: Vec<u64> = CRASHES
        .iter()
        .map(|at| {
            let d = run(&leader_crash("1", 1, at, false)).delivery;
            assert_eq!(d.total.stranded, 0, "every broker is up at the end, the drain completes");
            assert_eq!(d.publish_failures, 0);
            d.total.acknowledged_lost
        })
        .collect();
    // Expected: about 1,000/s x the time since the last fetch response, up to 2 ms: 0 to a few
    // per crash (Poisson, so some crash instants lose nothing). Tolerance: most of the five
    // instants lose something, and none more than 50 (50 ms of the partition's writes: more would
    // mean the followers lag).
    assert!(lost.iter().filter(|&&n| n > 0).count() >= 3, "acknowledged_lost per crash: {lost:?}");
    assert!(lost.iter().all(|&n| n <= 50), "acknowledged_lost per crash: {lost:?}");
}

/// acks=all with min.insync.replicas=2: a record is acknowledged only once the whole ISR has it,
/// so the new leader (from the ISR) has every acknowledged record. Nothing acknowledged is lost,
/// and idempotence keeps the retries of unanswered requests from duplicating anything.
#[test]
fn acks_all_with_two_insync_replicas_loses_nothing_when_the_leader_dies() {
    for at in CRASHES {
        let r = run(&leader_crash("\"all\"", 2, at, true));
        let d = &r.delivery;
        assert_eq!(d.total.acknowledged_lost, 0, "crash at {at}: {:?}", d.total);
        assert_eq!(d.total.unacknowledged_lost, 0, "retried until acknowledged: {:?}", d.total);
        assert_eq!(d.publish_failures, 0);
        assert_eq!(d.total.duplicates, 0, "idempotent retries: {:?}", d.total);
        assert_eq!(d.total.processed_unique, d.total.owed);
        // Every partition stalls: the dead broker stays in the ISR of the partitions it follows
        // until the controller fences it (9 s after its last heartbeat), and partition 0 has no
        // leader until then. The stall counts from 1 s on: the fencing delay - 1 s, give or take
        // the last round trips (0.1 s).
        let expected = fenced_at(crash_secs(at)) - crash_secs(at) - 1.0;
        let u = d.unavailable_s.unwrap();
        assert!((u - expected).abs() <= 0.1, "crash at {at}: unavailable {u} s, expected {expected} s");
    }
}

/// Without idempotence, a request whose answer was lost with the leader is sent again, and the new
/// leader, which had replicated it, appends it a second time.
#[test]
fn without_idempotence_retries_after_a_leader_crash_duplicate() {
    let dups: u64 =
        CRASHES.iter().map(|at| run(&leader_crash("\"all\"", 2, at, false)).delivery.total.duplicates).sum();
    // Only records the new leader fetched but whose acknowledgement had not come back are
    // appended twice: 0 to a few per crash. Tolerance: some over the five crashes.
    assert!(dups > 0, "no duplicates without idempotence");
    for at in CRASHES {
        let d = run(&leader_crash("\"all\"", 2, at, false)).delivery;
        assert_eq!(d.total.acknowledged_lost, 0, "crash at {at}: {:?}", d.total);
    }
}

/// acks=all, min.insync.replicas=2, and both followers (brokers 1 and 2) down from 60 s to 240 s:
/// once the controller fences them (7 to 9 s later) every ISR is its leader alone, below the minimum, so every
/// write is refused (NotEnoughReplicas) and retried until delivery.timeout.ms (120 s) gives up.
/// Partitions 1 and 2 were led by the dead brokers and move to broker 0.
#[test]
fn two_of_three_brokers_down_refuses_writes_and_loses_nothing_acknowledged() {
    let s = scenario(
        r#"
        duration = "8m"
        systems = ["kafka"]
        [cluster]
        brokers = 3
        [workload]
        rate = 50.0
        [[groups]]
        name = "g"
        consumers = 3
        processing = "5ms"
        [kafka]
        partitions = 3
        replication_factor = 3
        min_insync_replicas = 2
        linger = "0ms"
        [network]
        latency = "1ms"
        [[faults]]
        at = "60s"
        action = "crash"
        target = "broker-1"
        duration = "3m"
        [[faults]]
        at = "60s"
        action = "crash"
        target = "broker-2"
        duration = "3m"
        "#,
    );
    let ev = events(&s);
    let acks_during =
        ev.0.iter()
            .filter(|(t, e)| secs(*t) > 60.1 && secs(*t) < 240.0 && matches!(e, ClientEvent::Acknowledged { .. }))
            .count();
    assert_eq!(acks_during, 0, "nothing is acknowledged without two in-sync replicas");
    let d = run(&s).delivery;
    assert!(d.publish_failures > 0, "records waiting more than 120 s are given up");
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
    // Stalled for the 180 s outage minus the 1 s threshold, give or take the last round trips.
    let u = d.unavailable_s.unwrap();
    assert!((178.5..=180.0).contains(&u), "unavailable {u} s for a 180 s outage");
}

/// One partition, three replicas, acks=all with min.insync.replicas=1; the consumer is slower than
/// the producer (40/s against 50/s) so that a backlog of acknowledged records waits in the log.
/// Both followers die at 60 s (broker 2 returns at 180 s, broker 1 at 300 s): once fenced (67 s:
/// 9 s after their last heartbeats, sent at 58 s)
/// the ISR is the leader alone, which goes on acknowledging. The leader dies at 100 s and returns
/// at 280 s.
fn unclean(enabled: bool) -> Scenario {
    scenario(&format!(
        r#"
        duration = "8m"
        systems = ["kafka"]
        [cluster]
        brokers = 3
        [workload]
        rate = 50.0
        phases = [{{ at = "4m", rate = 10.0 }}]
        [[groups]]
        name = "g"
        processing = "25ms"
        [kafka]
        partitions = 1
        replication_factor = 3
        min_insync_replicas = 1
        unclean_leader_election = {enabled}
        linger = "0ms"
        [network]
        latency = "1ms"
        [[faults]]
        at = "60s"
        action = "crash"
        target = "broker-1"
        duration = "4m"
        [[faults]]
        at = "60s"
        action = "crash"
        target = "broker-2"
        duration = "2m"
        [[faults]]
        at = "100s"
        action = "crash"
        target = "leader"
        duration = "3m"
        "#
    ))
}

/// Unclean election: when stale broker 2 returns at 180 s it becomes leader with the log as it
/// was at 60 s; what the old leader acknowledged after that and the consumer had not read is gone
/// (the old leader truncates it when it returns).
#[test]
fn unclean_election_loses_acknowledged_records() {
    let r = run(&unclean(true));
    // The charts' loss marker counts what the new leader truncated: here exactly the records the
    // checker finds acknowledged and never processed (none was unacknowledged, so none re-sent).
    let truncated: u64 = r
        .recorder
        .annotations
        .iter()
        .filter(|a| a.kind == pushpull::metrics::AnnotationKind::Truncated)
        .map(|a| a.count)
        .sum();
    assert_eq!(truncated, r.delivery.total.acknowledged_lost);
    let d = r.delivery;
    // From 67 s to 100 s about 50/s x 33 s were acknowledged by the leader alone; the consumer
    // (40/s) was far behind. Hundreds at least.
    assert!(d.total.acknowledged_lost > 300, "{:?}", d.total);
    assert_eq!(d.total.stranded, 0);
    // Available again from 180 s: stalled 100 s -> 180 s (minus 1 s), plus 67 - 60 - 1 s earlier
    // (acks=all waited for the dead followers until they were fenced): 85 s.
    let u = d.unavailable_s.unwrap();
    assert!((84.5..=86.5).contains(&u), "unavailable {u} s");
}

/// Clean election only: the partition stays offline until its last in-sync replica, the old
/// leader, returns at 280 s; nothing acknowledged is lost, and nothing is acknowledged or
/// delivered meanwhile.
#[test]
fn clean_election_waits_for_the_old_leader_and_loses_nothing() {
    let s = unclean(false);
    let ev = events(&s);
    let during = |t: SimTime| secs(t) > 100.1 && secs(t) < 280.0;
    let acks = ev.0.iter().filter(|(t, e)| during(*t) && matches!(e, ClientEvent::Acknowledged { .. })).count();
    let deliveries = ev.0.iter().filter(|(t, e)| during(*t) && matches!(e, ClientEvent::Delivered { .. })).count();
    assert_eq!((acks, deliveries), (0, 0), "the partition is offline while its only ISR member is down");
    let first_after =
        ev.0.iter()
            .find_map(|(t, e)| (secs(*t) >= 280.0 && matches!(e, ClientEvent::Acknowledged { .. })).then_some(secs(*t)))
            .expect("acknowledged again after the old leader returns");
    // Elected when it registers (at once), then the producer's metadata refresh (100 ms backoff).
    assert!((280.0..281.0).contains(&first_after), "first acknowledgement after the return at {first_after} s");
    let d = run(&s).delivery;
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
    assert!(d.publish_failures > 0, "records waiting more than 120 s are given up");
    let u = d.unavailable_s.unwrap();
    assert!((178.0..=190.0).contains(&u), "unavailable {u} s for a 180 s outage of the partition");
}

/// With one broker and one replica, `acks = 1` and `acks = "all"` are the same thing (the ISR is
/// the leader alone, so the high watermark moves with every append): the same figures exactly.
#[test]
fn with_one_replica_acks_all_is_acks_one() {
    let run_acks = |acks: &str| {
        let s = scenario(&format!(
            r#"
            duration = "5m"
            systems = ["kafka"]
            profile = "lan"
            [workload]
            rate = 100.0
            [[groups]]
            name = "g"
            consumers = 2
            processing = {{ distribution = "exponential", mean = "15ms" }}
            [kafka]
            partitions = 4
            acks = {acks}
            "#
        ));
        let r = run(&s);
        (serde_json::to_string(&r.summary(&s)).unwrap(), r.delivery.acknowledged, r.end.events)
    };
    let one = run_acks("1");
    assert!(one.1 > 25_000);
    assert_eq!(one, run_acks("\"all\""));
}

#[test]
fn bad_replication_settings_get_one_line_errors() {
    let base = |kafka: &str| {
        format!(
            "duration = \"1m\"\n[cluster]\nbrokers = 2\n[workload]\nrate = 1.0\n[[groups]]\nname = \"g\"\nprocessing = \"1ms\"\n[kafka]\n{kafka}\n"
        )
    };
    for (kafka, field, needle) in [
        ("replication_factor = 3", "kafka.replication_factor", "at most [cluster] brokers (2)"),
        ("acks = 2", "kafka.acks", "allowed: 0, 1, \"all\""),
        ("acks = \"leader\"", "kafka.acks", "\"leader\" is not allowed"),
        (
            "replication_factor = 2\nmin_insync_replicas = 3",
            "kafka.min_insync_replicas",
            "every write would be refused",
        ),
    ] {
        let e = pushpull::plan::parse(&base(kafka), "t.toml", false).expect_err(kafka).to_string();
        assert!(e.contains(field) && e.contains(needle) && !e.contains('\n'), "{kafka}: {e}");
    }
}

/// Regressions found by random fault schedules: one broker crashed twice and restarted, with no
/// latency and `acks = 0` (requests lost with the broker were once counted as in flight, and a
/// consumer's fetch parked at the restarted broker waited for a timer that died with it). The run
/// must end, and every record the restarted broker holds must be processed.
#[test]
fn a_broker_crashed_and_restarted_twice_drains_completely() {
    for acks in ["0", "1", "\"all\""] {
        let s = scenario(&format!(
            r#"
            duration = "5m"
            systems = ["kafka"]
            [workload]
            rate = 800.0
            [[groups]]
            name = "g"
            processing = {{ distribution = "exponential", mean = "1ms" }}
            [kafka]
            partitions = 8
            acks = {acks}
            enable_auto_commit = false
            linger = "0ms"
            [[faults]]
            at = "91s"
            action = "crash"
            target = "leader"
            duration = "43s"
            [[faults]]
            at = "212s"
            action = "crash"
            target = "broker-0"
            duration = "88s"
            "#
        ));
        let r = run(&s);
        let d = &r.delivery;
        // Everything stored was processed: nothing acknowledged is lost (one replica, and the
        // broker's log survives its crashes), and the run ended with the drain.
        assert_eq!(d.total.acknowledged_lost, 0, "acks {acks}: {:?}", d.total);
        assert!(d.total.processed_unique > 150_000, "acks {acks}: {:?}", d.total);
    }
}

/// The leader's crash is followed by exactly one election of partition 0, when the controller
/// fences the dead broker (9 s after its last heartbeat: `broker.session.timeout.ms`), and the recorder
/// turns it into the chart annotation that marks it.
#[test]
fn a_leader_crash_elects_one_new_leader_after_the_fencing_delay() {
    #[derive(Default)]
    struct Elections(Vec<(SimTime, Option<u32>)>);
    impl History for Elections {
        fn record(&mut self, at: SimTime, obs: Observation) {
            if let Observation::LeaderElected { partition } = obs {
                self.0.push((at, partition));
            }
        }
    }
    let s = leader_crash("1", 1, "61777ms", false);
    let mut e = Elections::default();
    let rec = run_observed(&s, SystemKind::Kafka, &mut e);
    // Partition 0 once at the fencing; when broker 0 returns 30 s later nothing moves back
    // (no preferred-leader rebalance).
    assert_eq!(e.0.len(), 1, "{:?}", e.0);
    let (at, partition) = e.0[0];
    assert_eq!(partition, Some(0));
    // The last heartbeat before the crash left at 60 s and arrived at 60.001 s.
    assert!((secs(at) - fenced_at(61.777)).abs() < 1e-6, "elected at {} s", secs(at));
    let marks: Vec<_> =
        rec.annotations.iter().filter(|a| a.kind == pushpull::metrics::AnnotationKind::Election).collect();
    assert_eq!(marks.len(), 1);
    assert_eq!((marks[0].first, marks[0].count, marks[0].group), (at, 1, None));
}
