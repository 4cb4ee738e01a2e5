//! `[workload] producers = N`: producer clients on hosts of their own, sharing the offered load
//! (message `i` goes to producer `i mod N`), in both systems.

use crate::common::*;
use pushpull::history::ClientEvent;
use pushpull::run::run_one;
use pushpull::scenario::SystemKind;

/// The utilisation row of `node` in a run's summary.
fn nic_out(sum: &pushpull::metrics::SystemSummary, node: &str) -> f64 {
    let u = sum.utilisation.as_ref().expect("a calibrated profile reports utilisation");
    u.nodes.iter().find(|n| n.node == node).unwrap_or_else(|| panic!("no row for {node}")).nic_out
}

/// 40 s of `rate` msg/s at constant intervals from `producers` hosts, with publisher confirms,
/// and `target` crashed from 10 s to 20 s.
fn crash_of(target: &str, rate: f64, producers: u32) -> pushpull::scenario::Scenario {
    scenario(&format!(
        r#"
        duration = "40s"
        [workload]
        rate = {rate:?}
        arrivals = "constant"
        producers = {producers}
        [[groups]]
        name = "g"
        processing = "1ms"
        [rabbitmq]
        publisher_confirms = true
        [[faults]]
        at = "10s"
        action = "crash"
        target = "{target}"
        duration = "10s"
        "#
    ))
}

/// 40 s of 200 msg/s (Poisson) from two producer hosts, with publisher confirms, and `side` cut
/// from broker 0 from 10 s to 20 s.
fn cut_of(side: &str) -> pushpull::scenario::Scenario {
    scenario(&format!(
        r#"
        duration = "40s"
        drain = "2m"
        [workload]
        rate = 200.0
        producers = 2
        [[groups]]
        name = "g"
        processing = "1ms"
        [rabbitmq]
        publisher_confirms = true
        [[faults]]
        at = "10s"
        action = "partition"
        sides = [["{side}"], ["broker-0"]]
        duration = "10s"
        "#
    ))
}

/// Every message sent is accounted for: acknowledged and processed once, or lost with what a
/// crashed host held in memory (at most 2 here).
fn assert_accounted(d: &pushpull::checker::DeliveryReport, sys: SystemKind) {
    let lost = d.total.unacknowledged_lost;
    assert!(lost <= 2, "{sys:?}: {d:?}");
    assert_eq!(d.acknowledged + lost, d.sent, "{sys:?}: {d:?}");
    assert_eq!(d.total.processed_unique + lost, d.sent, "{sys:?}: {d:?}");
}

/// 20,000 msg/s of 1 KiB under omb-2020, one producer and then three. Each of three hosts sends
/// every third message, so its card carries a third of what the single host's did (the requests'
/// framing is per batch, and batches hold the same records with linger 0: within 5%).
#[test]
fn each_producer_host_carries_its_share() {
    let text = |n: u32| {
        format!(
            r#"
            duration = "3s"
            warmup = "500ms"
            profile = "omb-2020"
            [cluster]
            brokers = 3
            [workload]
            rate = 20000.0
            message_bytes = 1024
            producers = {n}
            [[groups]]
            name = "g"
            consumers = 2
            processing = "0ms"
            [kafka]
            partitions = 6
            linger = "0ms"
            "#
        )
    };
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let one = scenario(&text(1));
        let single = nic_out(&run_one(&one, sys, None).summary(&one), "producer host");
        let three = scenario(&text(3));
        let sum = run_one(&three, sys, None).summary(&three);
        assert_eq!(sum.lost + sum.duplicates, 0, "{sys:?}");
        for k in 0..3 {
            let share = nic_out(&sum, &format!("producer host {k}"));
            let ratio = share / (single / 3.0);
            assert!((ratio - 1.0).abs() < 0.05, "{sys:?} host {k}: {share:.4} against {single:.4} / 3");
        }
    }
}

/// Under kreps-2014 one producer on 1 GbE is the ceiling of an RF 1 topic (its card, about 930k
/// records a second). Two producers each carry half of 1.5 M/s, within their cards, and the
/// brokers take in a third each (63 MB/s, half a card): everything offered is acknowledged.
#[test]
fn a_second_producer_host_lifts_the_producer_card_ceiling() {
    let text = |n: u32| {
        format!(
            r#"
            profile = "kreps-2014"
            systems = ["kafka"]
            duration = "1500ms"
            warmup = "500ms"
            drain = "500ms"
            [cluster]
            brokers = 3
            dirty_limit = "64MiB"
            [workload]
            rate = 1500000.0
            message_bytes = 100
            producers = {n}
            [[groups]]
            name = "g"
            start = "1490ms"
            processing = "0us"
            [kafka]
            partitions = 6
            replication_factor = 1
            acks = 1
            linger = "0ms"
            batch_size = 8196
            buffer_memory = "64MiB"
            "#
        )
    };
    let (one, b1) = acknowledged(&text(1));
    let (two, b2) = acknowledged(&text(2));
    assert!(b1.starts_with("network out of producer host"), "{b1}");
    assert!(one < 1_000_000.0, "one producer's card: {one:.0}/s");
    // Tolerance 3%: the window's Poisson arrivals (10^6 of them) and the last requests in flight.
    assert!((two / 1_500_000.0 - 1.0).abs() < 0.03, "two producers {two:.0}/s ({b2})");
}

/// Three idempotent producers (acks all) through a leader's crash and its return: each keeps its
/// own sequence per partition, and the leader checks each against that producer's own last record.
/// Checked against the partition's last record instead, every batch of one producer after
/// another's would be out of order, retried until its delivery timeout, and lost.
#[test]
fn idempotent_producers_keep_their_own_sequences() {
    let s = scenario(
        r#"
        duration = "2m"
        systems = ["kafka"]
        [workload]
        rate = 500.0
        keys = { count = 1000, distribution = "uniform" }
        producers = 3
        [[groups]]
        name = "g"
        consumers = 3
        processing = "1ms"
        [cluster]
        brokers = 3
        [kafka]
        partitions = 3
        replication_factor = 3
        [network]
        latency = "1ms"
        [[faults]]
        at = "30s"
        action = "crash"
        target = "leader"
        duration = "20s"
        "#,
    );
    let d = delivery(&s, SystemKind::Kafka);
    assert_eq!(d.publish_failures, 0, "{d:?}");
    assert_eq!(d.acknowledged, d.sent, "{d:?}");
    assert_eq!(d.total.duplicates + d.total.acknowledged_lost + d.total.unacknowledged_lost, 0, "{d:?}");
    assert_eq!(d.total.processed_unique, d.sent);
}

/// The `producer` fault target crashes every producer host: in both systems nothing is sent while
/// they are down (10 s of 200 msg/s), and everything sent before and after is confirmed, but for
/// what a producer's memory held at the crash (Kafka's accumulator lingers 5 ms: one record).
#[test]
fn a_producer_crash_stops_every_producer_host() {
    let s = crash_of("producer", 200.0, 2);
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let d = delivery(&s, sys);
        // 40 s at 200/s, minus the 10 s outage: 6,000 sent, give or take the instants at its ends.
        assert!((5_998..=6_002).contains(&d.sent), "{sys:?}: {d:?}");
        assert_accounted(&d, sys);
    }
}

/// `producers` is refused outside 1 to 64, naming the field.
#[test]
fn producers_out_of_range_are_refused() {
    let text = |n: &str| {
        format!(
            "duration = \"1s\"\n[workload]\nrate = 1.0\nproducers = {n}\n[[groups]]\nname = \"g\"\nprocessing = \"1ms\"\n"
        )
    };
    assert_refused(&text("0"), "scenario.toml", "workload.producers", "1 to 64");
    assert_refused(&text("65"), "scenario.toml", "workload.producers", "1 to 64");
}

/// `producer` on a partition's side puts every producer host there: cut from the brokers for
/// 10 s, none of them is acknowledged, in either system: `unavailable_s` counts the stall less its
/// 1 s threshold, about 9 s (at least 8.5: the acknowledgements at the cut's edges). Were one host
/// left on the brokers' side, its half of the messages would go on being acknowledged: about 0.
#[test]
fn a_partition_cuts_every_producer_host() {
    let s = cut_of("producer");
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let d = delivery(&s, sys);
        let gap = d.unavailable_s.expect("acknowledgements before and after");
        assert!(gap >= 8.5, "{sys:?}: stalled {gap} s");
    }
}

/// `producer-1` of three crashes for 10 s (`[10 s, 20 s)`, 300 msg/s, constant arrivals): exactly
/// its third of the window's 3,000 messages (ids 3001, 3004, ..., 5998: 1,000) is never sent, in
/// both systems, and hosts 0 and 2 send every one of theirs. The checker: 12,000 offered less
/// 1,000, within 2 (the arrival instants at the window's edges, as in
/// `a_producer_crash_stops_every_producer_host`); `producer_down_s` the 10 s of its one outage;
/// everything sent is processed and acknowledged but for what host 1's memory held at the crash
/// (at most 2). Had the crash stopped every host, 3,000 would be missing; had it hit no host, none;
/// had it hit another host, the ids would show it.
#[test]
fn a_crash_of_one_producer_host_stops_its_share_only() {
    let s = crash_of("producer-1", 300.0, 3);
    let window = |at: pushpull::time::SimTime| (10.0..20.0).contains(&secs(at));
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let d = delivery(&s, sys);
        assert!((10_998..=11_002).contains(&d.sent), "{sys:?}: {d:?}");
        assert!((d.producer_down_s - 10.0).abs() < 1e-9, "{sys:?}: {d:?}");
        assert_accounted(&d, sys);
        assert_eq!(d.unavailable_s, Some(0.0), "{sys:?}: {d:?}");
        // Which messages: by host, those due in the window (message i is due at i / 300 s).
        let mut sent_in_window = [0u64; 3];
        for (_, e) in client_events(&s, sys).0 {
            if let ClientEvent::Sent { msg } = e
                && window(msg.published_at)
            {
                sent_in_window[(msg.id % 3) as usize] += 1;
            }
        }
        assert_eq!(sent_in_window[1], 0, "{sys:?}: {sent_in_window:?}");
        assert!(
            sent_in_window[0].abs_diff(1_000) <= 1 && sent_in_window[2].abs_diff(1_000) <= 1,
            "{sys:?}: {sent_in_window:?}"
        );
    }
}

/// `producer-1` of two on a side of its own for 10 s: only its messages wait (acknowledged after
/// the heal, or never), host 0's go on being acknowledged within the cut, so the system is never
/// stalled (`unavailable_s` about 0, against about 9 s when every producer host is cut:
/// `a_partition_cuts_every_producer_host`). Had the cut taken no host, host 1's messages would be
/// acknowledged within it too; had it taken both, host 0's would not.
#[test]
fn a_partition_of_one_producer_host_cuts_only_it() {
    let s = cut_of("producer-1");
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let d = delivery(&s, sys);
        let gap = d.unavailable_s.expect("acknowledgements throughout");
        assert!(gap < 0.5, "{sys:?}: stalled {gap} s");
        assert_eq!(d.producer_down_s, 0.0, "{sys:?}: a partition is no crash");
        // Acknowledgements that arrive within the cut (its first 100 ms aside: answers already
        // on their way), by host.
        let mut acked_in_cut = [0u64; 2];
        for (at, e) in client_events(&s, sys).0 {
            if let ClientEvent::Acknowledged { id } = e
                && (10.1..20.0).contains(&secs(at))
            {
                acked_in_cut[(id % 2) as usize] += 1;
            }
        }
        // Host 0: about 100 a second for 9.9 s (Poisson arrivals: 990, sd 31).
        assert!(acked_in_cut[0] > 850, "{sys:?}: {acked_in_cut:?}");
        assert_eq!(acked_in_cut[1], 0, "{sys:?}: {acked_in_cut:?}");
    }
}

/// `producer-N` names producer host N, 0 to producers - 1; beyond, or not a number, a one-line
/// error names the file, the field, the value and the hosts there are, as the target of a crash
/// or on a partition's side. A host is named once on a partition (`producer` names them all), and
/// a crash of every host while one is down is refused.
#[test]
fn bad_producer_host_targets_get_one_line_errors() {
    let text = |producers: u32, faults: &str| {
        format!(
            "duration = \"1m\"\n[workload]\nrate = 1.0\nproducers = {producers}\n[[groups]]\nname = \"g\"\n\
             processing = \"1ms\"\n{faults}"
        )
    };
    let crash = |target: &str| format!("[[faults]]\nat = \"10s\"\naction = \"crash\"\ntarget = \"{target}\"\n");
    let cut =
        |sides: &str| format!("[[faults]]\nat = \"10s\"\naction = \"partition\"\nsides = {sides}\nduration = \"5s\"\n");
    let file = "scenario.toml";
    assert_refused(
        &text(3, &crash("producer-3")),
        file,
        "faults[0].target",
        "\"producer-3\" does not exist: [workload] producers = 3, so producer hosts are producer-0 to producer-2",
    );
    assert_refused(
        &text(1, &crash("producer-1")),
        file,
        "faults[0].target",
        "\"producer-1\" does not exist: [workload] producers = 1, so the one producer host is producer-0",
    );
    assert_refused(&text(3, &crash("producer-x")), file, "faults[0].target", "\"producer-x\" is not a target");
    assert_refused(&text(3, &crash("producer-x")), file, "faults[0].target", "\"producer-N\" (producer host N)");
    assert_refused(
        &text(2, &cut(r#"[["producer-2"], ["broker-0"]]"#)),
        file,
        "faults[0].sides[0][0]",
        "\"producer-2\" does not exist",
    );
    assert_refused(
        &text(2, &cut(r#"[["producer"], ["broker-0", "producer-1"]]"#)),
        file,
        "faults[0].sides[1][1]",
        "\"producer-1\" and \"producer\" both name producer-1",
    );
    assert_refused(
        &text(2, &(crash("producer-1") + &crash("producer"))),
        file,
        "faults",
        "crash of \"producer\" (every producer host) while producer-1 is already down",
    );
    assert_refused(
        &text(2, &(crash("producer") + &crash("producer-0"))),
        file,
        "faults",
        "crash of producer-0 that is already down",
    );
    // The one producer host is producer-0 (as the checker's and the charts' hosts are numbered).
    scenario(&text(1, &crash("producer-0")));
}
