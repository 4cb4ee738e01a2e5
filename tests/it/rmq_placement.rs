//! RabbitMQ clients connected to a node other than the queue's (`producer_node`,
//! `consumer_node`): their traffic crosses the link between the nodes, and the queue's node dying
//! no longer closes their connections. What follows, as measured on a real 3-node cluster: a
//! transient classic queue confirms and loses what is published while its node is down (the queue
//! record is gone, the message is unroutable); a consumer elsewhere gets `basic.cancel` and only a
//! client that handles it subscribes again; a producer on a quorum queue's follower waits only for
//! the election, not for a reconnection.

use crate::common::*;
use pushpull::history::ClientEvent;
use pushpull::report::SystemRun;
use pushpull::scenario::{Scenario, SystemKind};

fn run(s: &Scenario) -> SystemRun {
    pushpull::run::run_one(s, SystemKind::RabbitMq, None)
}

/// Three nodes, a constant 40 messages/s (one every 25 ms) for 3 minutes to one consumer that
/// keeps up (5 ms each, so no backlog), publisher confirms, lan latency (250 us). Node 0 (the
/// queue's, a quorum queue's first leader) is killed at 90 s and restarts at 110 s.
fn crash(queue_type: &str, rabbitmq: &str) -> Scenario {
    scenario(&format!(
        r#"
        duration = "3m"
        systems = ["rabbitmq"]
        profile = "lan"
        [cluster]
        brokers = 3
        [workload]
        rate = 40.0
        arrivals = "constant"
        [[groups]]
        name = "g"
        processing = "5ms"
        [rabbitmq]
        prefetch = 10
        publisher_confirms = true
        queue_type = "{queue_type}"
        {rabbitmq}
        [[faults]]
        at = "90s"
        action = "crash"
        target = "broker-0"
        duration = "20s"
        "#
    ))
}

/// Times (s) of the consumer's deliveries.
fn deliveries(s: &Scenario) -> Vec<f64> {
    client_events(s, SystemKind::RabbitMq)
        .0
        .iter()
        .filter_map(|&(t, e)| matches!(e, ClientEvent::Delivered { .. }).then_some(secs(t)))
        .collect()
}

/// The producer on node 1: while node 0 is down the transient queue no longer exists
/// (`rabbit_amqqueue:on_node_down` deletes it), so each publish routes to no queue and is
/// confirmed at once (`rabbit_channel:process_routing_confirm` with no queue). The real cluster
/// confirmed and lost 996 and 1,310 messages in two runs; here 20 s x 40/s = 800.
#[test]
fn transient_classic_queue_confirms_and_loses_what_is_published_while_its_node_is_down() {
    let d = run(&crash("classic", "producer_node = 1")).delivery;
    // 800 published in [90 s, 110 s), one every 25 ms; +-2 for the messages on the wire at either
    // edge (the consumer keeps up: at most one message waits at the crash).
    let lost = d.total.acknowledged_lost;
    assert!((798..=803).contains(&lost), "acknowledged lost {lost}; expected 800 (20 s x 40/s)");
    assert_eq!(d.total.unacknowledged_lost, 0, "{:?}", d.total);
    // Every publish was confirmed without delay: the producer never stalled.
    assert_eq!(d.unavailable_s, Some(0.0));
    assert_eq!(d.publish_failures, 0);

    // The same crash with the producer on the queue's node (the default): it loses its connection
    // and publishes nothing for the outage (confirmed nothing; re-published after the restart).
    let d = run(&crash("classic", "")).delivery;
    assert!(d.total.acknowledged_lost <= 2, "{:?}", d.total);
    let u = d.unavailable_s.unwrap();
    assert!((18.5..=24.5).contains(&u), "unavailable {u} s: 20 s outage + up to 5 s to reconnect - 1 s");
}

/// A durable queue with persistent messages stays declared while its node is down: the channel
/// on node 1 rejects each publish (`rabbit_classic_queue:handle_event` for a queue process that is
/// down: `basic.nack`), so nothing is confirmed, the producer re-publishes, and nothing is lost.
#[test]
fn durable_classic_queue_on_a_down_node_confirms_nothing_and_loses_nothing() {
    let d = run(&crash("classic", "producer_node = 1\npersistent = true")).delivery;
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "{:?}", d.total);
    assert_eq!(d.total.processed_unique, d.total.owed);
    // Stalled for the outage (20 s, minus the 1 s threshold), up to the first re-publish that
    // finds node 0 back: re-publishes come every 5 s.
    let u = d.unavailable_s.unwrap();
    assert!((18.9..=24.1).contains(&u), "unavailable {u} s");
}

/// The consumer on node 1 keeps its connection and gets `basic.cancel` when node 0 dies. With
/// `consumer_cancel_notify` (the default) it tries `basic.consume` again every 5 s (the recovery
/// interval): the tries at 95, 100 and 105 s fail (no queue), the one at 110 s (plus a few link
/// latencies) finds node 0 back. A naive client never subscribes again: everything published
/// from the crash on is confirmed and never processed (stranded in the queue).
#[test]
fn consumer_on_another_node_resubscribes_after_basic_cancel_only_if_it_handles_it() {
    let s = crash("classic", "consumer_node = 1");
    let after: Vec<f64> = deliveries(&s).into_iter().filter(|&t| t >= 90.0).collect();
    // Node 0 restarts at 110 s; the retry due at 110.0005 s (cancel at 90 s + 2 latencies, then
    // 4 x 5 s) subscribes, the next publish (every 25 ms) is delivered.
    let first = after.first().copied().expect("delivered after the restart");
    assert!((110.0..110.05).contains(&first), "first delivery after the crash at {first} s");
    let d = run(&s).delivery;
    assert_eq!(d.total.processed_unique + d.total.acknowledged_lost + d.total.unacknowledged_lost, d.total.owed);
    assert!(d.total.acknowledged_lost <= 2, "{:?}", d.total);

    let s = crash("classic", "consumer_node = 1\nconsumer_cancel_notify = false");
    assert!(deliveries(&s).iter().all(|&t| t < 90.0), "a naive consumer got a delivery after the crash");
    let d = run(&s).delivery;
    // 90 s x 40/s = 3,600 published from the crash to the end (confirmed by the queue once node
    // 0 is back, or by the producer's reconnection), none processed: they are still in the queue
    // at the end, so stranded (stored, never delivered), not lost; +-3 at the edges.
    let stranded = d.total.stranded;
    assert!((3_597..=3_603).contains(&stranded), "stranded {stranded}; expected 3,600 ({:?})", d.total);
    assert_eq!(d.total.acknowledged_lost, 0, "{:?}", d.total);
}

/// A consumer on the queue's own node loses its connection instead (no `basic.cancel`), and
/// reconnects every 5 s whatever `consumer_cancel_notify` says.
#[test]
fn consumer_on_the_queue_node_reconnects_whatever_its_cancel_capability() {
    let with = deliveries(&crash("classic", "consumer_node = 0"));
    let without = deliveries(&crash("classic", "consumer_node = 0\nconsumer_cancel_notify = false"));
    assert_eq!(with, without);
    let first = with.iter().copied().find(|&t| t >= 90.0).expect("delivered after the restart");
    assert!((110.0..115.1).contains(&first), "first delivery after the crash at {first} s");
}

/// The quorum queue's leader (node 0) is killed with the producer on node 1, a follower: its
/// connection survives, and its channel's commands go to the new leader once elected. The real
/// publish gap was 0.13 to 0.39 s. Here: the survivors see node 0's connections close after one
/// latency, start a pre-vote after Ra's 100-600 ms, and the winner confirms the next publish a few
/// round trips later; so the longest gap between confirms is 0.1 to 0.65 s, against 5 s (the
/// recovery interval) for a producer connected to the leader.
#[test]
fn producer_on_a_quorum_follower_waits_only_for_the_election() {
    let gap = |rabbitmq: &str| {
        let s = crash("quorum", rabbitmq);
        let acks: Vec<f64> = client_events(&s, SystemKind::RabbitMq)
            .0
            .iter()
            .filter_map(|&(t, e)| matches!(e, ClientEvent::Acknowledged { .. }).then_some(secs(t)))
            .filter(|&t| (85.0..130.0).contains(&t))
            .collect();
        acks.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
    };
    let follower = gap("producer_node = 1");
    assert!((0.1..0.65).contains(&follower), "longest confirm gap {follower} s on a follower");
    let d = run(&crash("quorum", "producer_node = 1")).delivery;
    assert_eq!(d.unavailable_s, Some(0.0));
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "{:?}", d.total);
    // The default: connected to the leader, it reconnects after the 5 s recovery interval.
    let leader = gap("");
    assert!((4.9..5.7).contains(&leader), "longest confirm gap {leader} s on the leader");
}

/// Five nodes, a quorum queue on three (nodes 0 to 2), both clients on node 4, which has no
/// member: its channels send to the leader (the queue's record names it). Nothing is lost, and
/// killing the leader costs only the election, as on a follower.
#[test]
fn quorum_clients_on_a_node_without_a_member_reach_the_leader() {
    let s = scenario(
        r#"
        duration = "3m"
        systems = ["rabbitmq"]
        profile = "lan"
        [cluster]
        brokers = 5
        [workload]
        rate = 40.0
        arrivals = "constant"
        [[groups]]
        name = "g"
        processing = "5ms"
        [rabbitmq]
        prefetch = 10
        publisher_confirms = true
        queue_type = "quorum"
        producer_node = 4
        consumer_node = 4
        [[faults]]
        at = "90s"
        action = "crash"
        target = "leader"
        duration = "20s"
        "#,
    );
    let d = run(&s).delivery;
    assert_eq!(d.total.processed_unique, d.total.owed, "{:?}", d.total);
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "{:?}", d.total);
    // The election (0.1 to 0.65 s, above) stays under the 1 s threshold.
    assert_eq!(d.unavailable_s, Some(0.0));
    // The consumer's connection is on node 4: the leader's death cancels nothing, so nothing
    // is redelivered (its window moves to the new leader with the log).
    assert_eq!(d.total.redelivered, 0, "{:?}", d.total);
}

/// `"leader"` is the default, and leaves `summary.json` as it was (no new keys).
#[test]
fn leader_placement_is_the_default_and_adds_nothing_to_the_summary() {
    let explicit = run(&crash("classic", "producer_node = \"leader\"\nconsumer_node = \"leader\""));
    let default = run(&crash("classic", ""));
    assert_eq!(explicit.delivery, default.delivery);
    let s = crash("classic", "");
    let json = serde_json::to_string(&s.rabbitmq).unwrap();
    assert!(!json.contains("producer_node") && !json.contains("cancel"), "{json}");
    let s = crash("classic", "producer_node = 2\nconsumer_cancel_notify = false");
    let json = serde_json::to_string(&s.rabbitmq).unwrap();
    assert!(json.contains("\"producer_node\":2") && json.contains("\"consumer_cancel_notify\":false"), "{json}");
}

#[test]
fn client_nodes_are_validated_in_one_line() {
    let with = |extra: &str| {
        format!(
            "duration = \"1m\"\n[workload]\nrate = 1.0\n[cluster]\nbrokers = 3\n[[groups]]\nname = \"g\"\n[rabbitmq]\n{extra}\n"
        )
    };
    assert_refused(&with("producer_node = 3"), "t.toml", "rabbitmq.producer_node", "from 0 to 2");
    assert_refused(&with("consumer_node = -1"), "t.toml", "rabbitmq.consumer_node", "\"leader\" or a node index");
    assert_refused(&with("consumer_node = \"node-1\""), "t.toml", "rabbitmq.consumer_node", "\"node-1\"");
    assert_refused(
        &with("queue_type = \"stream\"\nprefetch = 10\nproducer_node = 1"),
        "t.toml",
        "rabbitmq.producer_node",
        "streams",
    );
}
