//! Failure behaviour, judged by the independent checker from client events alone, against what a
//! real broker does (RabbitMQ 3.10 measured by hand with `kill -9`; RabbitMQ 4.x documentation).

use crate::common::*;
use pushpull::history::{ClientEvent, Observation, VecHistory};
use pushpull::report::SystemRun;
use pushpull::scenario::SystemKind;

fn run(toml: &str) -> SystemRun {
    pushpull::run::run_one(&scenario(toml), SystemKind::RabbitMq, None)
}

/// Two consumers at 75% load, prefetch 10; consumer 0 is killed at 60 s and restarts 10 s later.
fn consumer_crash(ack: &str) -> String {
    format!(
        r#"
        duration = "2m"
        systems = ["rabbitmq"]
        [workload]
        rate = 50.0
        [[groups]]
        name = "g"
        consumers = 2
        processing = {{ distribution = "exponential", mean = "30ms" }}
        [rabbitmq]
        prefetch = 10
        ack = "{ack}"
        [[faults]]
        at = "60s"
        action = "crash"
        target = "g/0"
        duration = "10s"
        "#
    )
}

/// With manual acks, the killed consumer's window (at most the prefetch count) is redelivered,
/// flagged, to the survivor, ahead of what was already waiting; nothing is lost.
#[test]
fn rabbitmq_consumer_crash_redelivers_its_window_and_loses_nothing() {
    let toml = consumer_crash("manual");
    let r = run(&toml);
    let d = &r.delivery;
    assert!((1..=10).contains(&d.total.redelivered), "redelivered {} not in 1..=prefetch", d.total.redelivered);
    assert_eq!(d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "nothing lost");
    assert_eq!(d.total.processed_unique, d.total.owed);
    // Order: once redeliveries start, every redelivered message goes out before any fresh one.
    let mut h = VecHistory::default();
    let s = scenario(&toml);
    run_observed(&s, SystemKind::RabbitMq, &mut h);
    let flags: Vec<bool> =
        h.0.iter()
            .filter_map(|(_, o)| match o {
                Observation::Client(ClientEvent::Delivered { redelivered, .. }) => Some(*redelivered),
                _ => None,
            })
            .skip_while(|r| !r)
            .collect();
    let n = d.total.redelivered as usize;
    assert!(flags[..n].iter().all(|&f| f), "the requeued messages are delivered first: {:?}", &flags[..n + 3]);
}

/// With auto-ack the node forgot the messages as it sent them: what the killed consumer held is lost.
#[test]
fn rabbitmq_consumer_crash_with_auto_ack_loses_what_it_held() {
    let r = run(&consumer_crash("auto"));
    let d = &r.delivery;
    assert!(d.total.unacknowledged_lost > 0, "auto-ack loses the dead consumer's messages");
    assert_eq!(d.total.redelivered, 0, "nothing to requeue");
    assert_eq!(d.total.duplicates, 0);
}

/// The classic queue's node dies holding a backlog (consumers at 1/2 the rate), with publisher
/// confirms: transient messages are gone although they were confirmed; persistent ones come back.
fn node_crash(persistent: bool) -> SystemRun {
    run(&format!(
        r#"
        duration = "3m"
        systems = ["rabbitmq"]
        [workload]
        rate = 40.0
        phases = [{{ at = "2m", rate = 0.0 }}]
        [[groups]]
        name = "g"
        processing = "50ms"
        [rabbitmq]
        prefetch = 10
        publisher_confirms = true
        persistent = {persistent}
        [[faults]]
        at = "90s"
        action = "crash"
        target = "broker-0"
        duration = "20s"
        "#
    ))
}

#[test]
fn rabbitmq_node_crash_loses_a_transient_backlog_and_keeps_a_persistent_one() {
    let transient = node_crash(false);
    let persistent = node_crash(true);
    // By 90 s about 90 x (40 - 20) = 1800 messages wait; all were confirmed.
    assert!(transient.delivery.total.acknowledged_lost > 1_000, "{:?}", transient.delivery.total);
    assert_eq!(persistent.delivery.total.acknowledged_lost, 0, "{:?}", persistent.delivery.total);
    // While the node is down nothing is confirmed: the producer is stalled about 20 s.
    let u = persistent.delivery.unavailable_s.unwrap();
    assert!((15.0..=25.0).contains(&u), "unavailable {u} s for a 20 s outage");
    // Publishes that found the node down were re-published: nothing unconfirmed is lost either.
    assert_eq!(persistent.delivery.total.unacknowledged_lost, 0);
    assert_eq!(persistent.delivery.publish_failures, 0);
}

/// A hung consumer keeps its connection: its deliveries stay unacknowledged, and nothing is
/// redelivered before `consumer_timeout` (30 min); the run here lasts 5 minutes.
#[test]
fn a_hung_rabbitmq_consumer_holds_its_window() {
    let s = scenario(
        r#"
        duration = "5m"
        systems = ["rabbitmq"]
        [workload]
        rate = 20.0
        [[groups]]
        name = "g"
        consumers = 2
        processing = "10ms"
        [rabbitmq]
        prefetch = 5
        [[faults]]
        at = "60s"
        action = "hang"
        target = "g/0"
        duration = "3m"
        "#,
    );
    let r = pushpull::run::run_one(&s, SystemKind::RabbitMq, None);
    assert_eq!(r.delivery.total.redelivered, 0, "no redelivery before consumer_timeout");
    assert_eq!(r.delivery.total.acknowledged_lost + r.delivery.total.unacknowledged_lost, 0);
    assert!(r.summary(&s).max_unacked >= 5, "the hung consumer's full window stays unacked");
}
