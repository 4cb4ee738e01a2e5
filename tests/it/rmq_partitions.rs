//! RabbitMQ under network partitions, judged by the independent checker from client events. No
//! node is told of a cut: links hold what crosses them (TCP), and each end notices silence by its
//! own detector: AMQP heartbeats (60 s: a connection is closed 120 to 180 s after its last data),
//! Aten between quorum queue members (a silent member is suspected at the next 1 s poll after
//! 150 ms of silence), Erlang's `net_ticktime` (60 to 75 s).

use crate::common::*;
use pushpull::history::{ClientEvent, History, Observation};
use pushpull::report::SystemRun;
use pushpull::scenario::{Scenario, SystemKind};
use pushpull::time::SimTime;

fn run(s: &Scenario) -> SystemRun {
    pushpull::run::run_one(s, SystemKind::RabbitMq, None)
}

/// The cut's instant (off the round numbers of every timer grid), in seconds.
const CUT: f64 = 61.777;

/// Three nodes, 200 messages/s for `duration`, two consumers with manual acks and prefetch 10
/// that keep up, 1 ms latency; at 61.777 s the links between `sides` are cut for `cut`.
fn partitioned(queue: &str, confirms: bool, sides: &str, cut: &str, duration: &str) -> Scenario {
    scenario(&format!(
        r#"
        duration = "{duration}"
        systems = ["rabbitmq"]
        [cluster]
        brokers = 3
        [workload]
        rate = 200.0
        [[groups]]
        name = "g"
        consumers = 2
        processing = "1ms"
        [rabbitmq]
        queue_type = "{queue}"
        publisher_confirms = {confirms}
        prefetch = 10
        [network]
        latency = "1ms"
        [[faults]]
        at = "61777ms"
        action = "partition"
        sides = {sides}
        duration = "{cut}"
        "#
    ))
}

#[derive(Default)]
struct Seen {
    elections: Vec<SimTime>,
    /// First delivery flagged redelivered, and who got it.
    first_redelivery: Option<(SimTime, u32)>,
    acknowledged_during_cut: u64,
    cut_end: f64,
}

impl History for Seen {
    fn record(&mut self, at: SimTime, obs: Observation) {
        match obs {
            Observation::LeaderElected { .. } => self.elections.push(at),
            Observation::Client(ClientEvent::Delivered { redelivered: true, consumer, .. }) => {
                self.first_redelivery.get_or_insert((at, consumer));
            }
            Observation::Client(ClientEvent::Acknowledged { .. })
                if secs(at) > CUT + 0.01 && secs(at) < self.cut_end =>
            {
                self.acknowledged_during_cut += 1;
            }
            _ => {}
        }
    }
}

/// The quorum queue's leader (node 0) cut off from the other two members and from every client
/// for 100 s (shorter than the producer's 120 s give-up), with publisher confirms. The followers' Aten detectors report node 0 silent at
/// their next poll (0.15 to 1.15 s after its last heartbeat), each waits Ra's long election
/// timeout (1 to 2 s) and the first to fire wins the election: a new leader 1.15 to 3.2 s after
/// the cut, not after net_ticktime (60 s) and not at the instant of the cut. Node 0 goes on
/// believing it leads, but commits nothing; the clients' connections to it are stuck (their data
/// held), so nothing is confirmed during the cut. At the heal node 0 meets the new term and
/// follows; the held publishes reach it and are forwarded to the leader: nothing acknowledged is
/// lost, and everything sent is processed.
#[test]
fn a_cut_off_quorum_leader_is_replaced_after_aten_detects_it_and_nothing_confirmed_is_lost() {
    let s = partitioned("quorum", true, r#"[["broker-0"], ["broker-1", "broker-2"]]"#, "100s", "4m");
    let mut seen = Seen { cut_end: CUT + 100.0, ..Default::default() };
    run_observed(&s, SystemKind::RabbitMq, &mut seen);
    assert_eq!(seen.elections.len(), 1, "one election, on the majority side: {:?}", seen.elections);
    let delay = secs(seen.elections[0]) - CUT;
    assert!((1.15..=3.3).contains(&delay), "new leader {delay} s after the cut");
    assert_eq!(seen.acknowledged_during_cut, 0, "clients cut from their node get nothing confirmed");
    let d = run(&s).delivery;
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
    assert_eq!(d.publish_failures, 0, "the connections hold: everything is retried in time");
    let unavailable = d.unavailable_s.unwrap_or(0.0);
    assert!((95.0..=105.0).contains(&unavailable), "unavailable {unavailable} s");
}

/// The same cut with the producer on node 0's side: node 0 takes its publishes, appends them and
/// cannot commit them (no majority), so confirms nothing. At the heal it steps down, its
/// uncommitted tail is discarded, and the publisher's re-publishes (every 5 s) are forwarded to the
/// new leader. Nothing acknowledged is lost.
#[test]
fn a_minority_leader_with_the_producer_confirms_nothing_and_loses_nothing() {
    let s = partitioned("quorum", true, r#"[["broker-0", "producer"], ["broker-1", "broker-2"]]"#, "100s", "4m");
    let mut seen = Seen { cut_end: CUT + 100.0, ..Default::default() };
    run_observed(&s, SystemKind::RabbitMq, &mut seen);
    assert_eq!(seen.acknowledged_during_cut, 0, "the minority confirms nothing");
    let d = run(&s).delivery;
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
}

/// A consumer cut from the classic queue's node for 4 minutes while it holds deliveries (manual
/// ack, prefetch 10). Until the node's heartbeat check gives up on its connection (two empty
/// checks one minute apart: 120 to 180 s after the last data, which arrived just before the cut)
/// its unacknowledged messages stay with it, held; then they are requeued, flagged redelivered,
/// and go to the other consumer. Nothing is lost; what the cut-off consumer processed but could
/// not ack is processed again.
#[test]
fn a_cut_off_consumers_deliveries_are_redelivered_only_after_the_heartbeat_timeout() {
    let s = partitioned("classic", false, r#"[["g/0"], ["broker-0", "broker-1", "broker-2", "producer"]]"#, "4m", "7m");
    let mut seen = Seen { cut_end: CUT + 240.0, ..Default::default() };
    run_observed(&s, SystemKind::RabbitMq, &mut seen);
    let (at, consumer) = seen.first_redelivery.expect("the cut-off consumer's deliveries are redelivered");
    let after = secs(at) - CUT;
    // 1 ms latency and the last data just before the cut: [120 s, 180 s] plus a round trip.
    assert!((120.0..=180.01).contains(&after), "first redelivery {after} s after the cut");
    assert_eq!(consumer, 1, "to the consumer that can reach the node");
    let d = run(&s).delivery;
    assert!(d.total.redelivered >= 1 && d.total.redelivered <= 10, "{:?}", d.total);
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
}

/// A cut shorter than the heartbeat timeout: the links hold everything and deliver it at the
/// heal, so nothing is redelivered and nothing is lost, even without confirms. A model that drops
/// what crosses a cut would lose the producer's publishes of those 30 s.
#[test]
fn a_cut_shorter_than_the_heartbeat_timeout_only_delays() {
    let s =
        partitioned("classic", false, r#"[["producer", "g/0"], ["broker-0", "broker-1", "broker-2"]]"#, "30s", "3m");
    let d = run(&s).delivery;
    assert_eq!(d.total.redelivered, 0, "{:?}", d.total);
    assert_eq!(d.total.unacknowledged_lost + d.total.duplicates, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
}

/// The producer cut from the classic queue's node for 4 minutes, without confirms. Its
/// publishes wait in the cut connection until its heartbeat check gives up (120 to 180 s): they
/// are lost with it, and so is everything published while it cannot reconnect, with no error
/// reported to the application (`publish_failures` = 0). After the heal it reconnects within 5 s.
#[test]
fn a_cut_off_producer_without_confirms_loses_messages_silently() {
    let s = partitioned("classic", false, r#"[["producer"], ["broker-0", "broker-1", "broker-2"]]"#, "4m", "7m");
    let d = run(&s).delivery;
    // 200/s for the 240 s cut, at most 5 s more while it reconnects.
    let lost = d.total.unacknowledged_lost;
    assert!((200 * 235..=200 * 246).contains(&lost), "lost {lost}: {:?}", d.total);
    assert_eq!(d.publish_failures, 0);
    assert_eq!(d.total.acknowledged_lost, 0);
    // With confirms the same cut loses nothing that was confirmed: the producer re-publishes
    // what was never confirmed (within its 120 s; older messages are reported failed).
    let s = partitioned("classic", true, r#"[["producer"], ["broker-0", "broker-1", "broker-2"]]"#, "4m", "7m");
    let d = run(&s).delivery;
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
    assert!(d.publish_failures > 0, "messages older than 120 s at the heal are given up");
}

/// Same seed, same schedule: the same run, byte for byte.
#[test]
fn a_partitioned_rabbitmq_run_is_deterministic() {
    let s = partitioned("quorum", true, r#"[["broker-0", "producer"], ["broker-1", "broker-2"]]"#, "2m", "4m");
    let a = serde_json::to_string(&run(&s).delivery).unwrap();
    let b = serde_json::to_string(&run(&s).delivery).unwrap();
    assert_eq!(a, b);
}
