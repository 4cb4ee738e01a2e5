//! Kafka under network partitions, judged by the independent checker from client events alone.
//! No model is told of a cut: the world drops what crosses it, and each node notices by its own
//! heartbeats and timeouts (the controller by broker heartbeats, 9 s; the coordinator by consumer
//! heartbeats, 45 s; clients by `request.timeout.ms`, 30 s).

use crate::common::*;
use pushpull::history::{History, Observation};
use pushpull::report::SystemRun;
use pushpull::scenario::{Scenario, SystemKind};
use pushpull::time::SimTime;

fn run(s: &Scenario) -> SystemRun {
    pushpull::run::run_one(s, SystemKind::Kafka, None)
}

/// The cut's instant (not on a round number of the heartbeat or latency grids), in seconds.
const CUT: f64 = 61.777;

/// Three brokers, three partitions with three replicas (partition p led by broker p), 300 keyed
/// records/s for three minutes, three consumers that keep up, 1 ms latency. At 61.777 s the
/// links between `sides` are cut for 60 s.
fn partitioned(acks: &str, min_isr: u32, sides: &str) -> Scenario {
    scenario(&format!(
        r#"
        duration = "3m"
        systems = ["kafka"]
        [cluster]
        brokers = 3
        [workload]
        rate = 300.0
        keys = {{ count = 10000, distribution = "uniform" }}
        [[groups]]
        name = "g"
        consumers = 3
        processing = "1ms"
        [kafka]
        partitions = 3
        replication_factor = 3
        acks = {acks}
        min_insync_replicas = {min_isr}
        linger = "0ms"
        [network]
        latency = "1ms"
        [[faults]]
        at = "61777ms"
        action = "partition"
        sides = {sides}
        duration = "60s"
        "#
    ))
}

/// The leader of partition 0 (broker 0) cut off together with the producer: it goes on leading in
/// its own view (a zombie) and, with acks=1, acknowledges partition 0's records for the whole
/// minute, while the controller (on the other side) fenced it 7 to 9 s after the cut and made
/// broker 1 leader. At the heal it learns, and truncates what it acknowledged: Jepsen's finding.
/// With acks=all and min.insync.replicas=2 the zombie cannot commit (its ISR cannot shrink without
/// the controller), so nothing it held was acknowledged.
#[test]
fn a_zombie_leader_with_the_producer_acknowledges_writes_that_the_heal_truncates() {
    let sides = r#"[["broker-0", "producer"], ["broker-1", "broker-2"]]"#;
    let one = run(&partitioned("1", 1, sides)).delivery;
    // Partition 0 gets about a third of 300/s: about 6,000 records in 60 s, acknowledged by the
    // zombie and lost, less what it had before the cut. Partitions 1 and 2 are unreachable for
    // the producer: their records wait (request timeouts, retries) and go through after the heal.
    assert!(one.total.acknowledged_lost > 3_000, "acks=1: {:?}", one.total);
    assert!(one.total.acknowledged_lost < 8_000, "acks=1: {:?}", one.total);
    assert_eq!(one.total.stranded, 0);
    let all = run(&partitioned("\"all\"", 2, sides)).delivery;
    assert_eq!(all.total.acknowledged_lost, 0, "acks=all: {:?}", all.total);
    assert_eq!(all.total.processed_unique + all.total.unacknowledged_lost, all.total.owed, "acks=all: {:?}", all.total);
}

#[derive(Default)]
struct Seen {
    elections: Vec<(SimTime, Option<u32>)>,
    rebalances: Vec<(SimTime, bool)>,
}

impl History for Seen {
    fn record(&mut self, at: SimTime, obs: Observation) {
        match obs {
            Observation::LeaderElected { partition } => self.elections.push((at, partition)),
            Observation::Rebalance { started, .. } => self.rebalances.push((at, started)),
            _ => {}
        }
    }
}

/// The leader of partition 0 cut off alone (clients and the controller on the majority side):
/// the controller fences it when its heartbeats stop (9 s after the last one that arrived, so 7
/// to 9 s after the cut) and elects broker 1, once; at the heal broker 0 comes back as a
/// follower (no further election). With acks=all nothing acknowledged is lost and every record
/// is processed: the producer's requests to broker 0 time out (30 s) and are retried to the new
/// leader.
#[test]
fn an_isolated_leader_is_replaced_after_the_session_timeout_and_follows_after_the_heal() {
    let s = partitioned("\"all\"", 2, r#"[["broker-0"], ["broker-1", "broker-2"]]"#);
    let mut seen = Seen::default();
    run_observed(&s, SystemKind::Kafka, &mut seen);
    assert_eq!(seen.elections.len(), 1, "{:?}", seen.elections);
    let (at, partition) = seen.elections[0];
    assert_eq!(partition, Some(0));
    let delay = secs(at) - CUT;
    // Brokers heartbeat every 2 s from time 0; the last one before the cut left at 60 s.
    assert!((7.0..=11.0).contains(&delay), "elected {delay} s after the cut");
    assert!((delay - (60.001 + 9.0 - CUT)).abs() < 1e-6, "elected {delay} s after the cut");
    let d = run(&s).delivery;
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
    assert_eq!(d.publish_failures, 0);
}

/// A consumer cut from everyone else: its heartbeats no longer reach the coordinator, which
/// removes it when its session expires (45 s after the last heartbeat that arrived, sent at most
/// 3 s before the cut) and rebalances; at the heal it hears it is unknown and rejoins (another
/// rebalance). Its partition is read by another member meanwhile; nothing is lost.
#[test]
fn a_consumer_cut_from_its_coordinator_is_removed_after_its_session_and_rejoins_at_the_heal() {
    let s = partitioned("\"all\"", 2, r#"[["g/0"], ["broker-0", "broker-1", "broker-2"]]"#);
    let mut seen = Seen::default();
    run_observed(&s, SystemKind::Kafka, &mut seen);
    let starts: Vec<f64> = seen.rebalances.iter().filter(|r| r.1).map(|r| secs(r.0)).collect();
    assert_eq!(starts.len(), 2, "{:?}", seen.rebalances);
    let expiry = starts[0] - CUT;
    assert!((42.0..=45.1).contains(&expiry), "rebalance {expiry} s after the cut");
    assert!(starts[1] > CUT + 60.0, "rejoined at {} s, before the heal", starts[1]);
    assert!(seen.elections.is_empty(), "no broker was cut: {:?}", seen.elections);
    let d = run(&s).delivery;
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
}

/// Same seed, same partition schedule: the same run, byte for byte (the fault handling keeps
/// to ordered collections).
#[test]
fn a_partitioned_run_is_deterministic() {
    let s = partitioned("1", 1, r#"[["broker-0", "producer"], ["broker-1", "broker-2"]]"#);
    let a = serde_json::to_string(&run(&s).delivery).unwrap();
    let b = serde_json::to_string(&run(&s).delivery).unwrap();
    assert_eq!(a, b);
}
