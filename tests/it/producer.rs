//! The Kafka producer against hand-worked answers: the sender drains every partition of a ready
//! broker at once, `batch.size` counts wire bytes, `delivery.timeout.ms` bounds every send, and
//! retries reorder only without idempotence.

use crate::common::*;
use pushpull::history::ClientEvent;
use pushpull::scenario::SystemKind;

/// Mean wait (publish to processing start) of a Kafka-only scenario whose consumer adds nothing:
/// processing takes no time and the network none, so the wait is the time the record spent in the
/// producer's accumulator.
fn producer_wait_ms(toml: &str) -> f64 {
    let s = scenario(toml);
    let rec = run_observed(&s, SystemKind::Kafka, &mut pushpull::history::VecHistory::default());
    let sum = rec.summarize(&["g".into()], pushpull::time::SimTime::ZERO);
    assert_eq!(sum.lost + sum.duplicates + sum.stranded, 0);
    sum.wait_ms.mean
}

/// 100 partitions, Poisson 1000/s, linger 5 ms, one broker. A drain empties every partition, so a
/// cycle is: the first record after a drain (1 ms away on average) waits the whole 5 ms linger,
/// and the 5 records expected during the linger wait 2.5 ms on average:
/// (5 + 5 x 2.5) / (1 + 5) = 2.917 ms. A per-partition linger would give about 4.9 ms.
/// Tolerance 3%: 10 minutes give 6 x 10^5 records in 10^5 cycles; the cycle mean has a relative
/// standard error well under 1%.
#[test]
fn sender_drains_every_partition_of_a_ready_broker() {
    let wait = producer_wait_ms(
        r#"
        duration = "10m"
        systems = ["kafka"]
        [workload]
        rate = 1000.0
        keys = { count = 100000, distribution = "uniform" }
        [[groups]]
        name = "g"
        processing = "0ms"
        [kafka]
        partitions = 100
        "#,
    );
    let theory = 17.5 / 6.0;
    assert!((wait - theory).abs() / theory < 0.03, "mean producer wait {wait} ms, theory {theory:.3} ms");
}

/// Constant 1000/s, 1 KiB values, linger 100 ms, batch.size 16384: a 1 KiB record is 1033 bytes on
/// the wire, so 61 + 15 x 1033 = 15,556 bytes fit and a 16th (16,589) does not. The 16th record
/// closes the batch and the sender sends it at once: the 15 records waited 15, 14, ..., 1 ms, a
/// mean of 8.0 ms. (Counting payload only, 16 would fit and the mean would be 8.5 ms.)
/// Tolerance 2%: arrivals are deterministic; only the last batch of the run, which waits for its
/// linger, differs (1 batch in 40,000).
#[test]
fn batch_size_counts_wire_bytes() {
    let wait = producer_wait_ms(
        r#"
        duration = "10m"
        systems = ["kafka"]
        [workload]
        rate = 1000.0
        arrivals = "constant"
        message_bytes = "1KiB"
        keys = "none"
        [[groups]]
        name = "g"
        processing = "0ms"
        [kafka]
        linger = "100ms"
        batch_size = 16384
        "#,
    );
    assert!((wait - 8.0).abs() / 8.0 < 0.02, "mean producer wait {wait} ms, expected 8.0 ms");
}

/// A producer (acks = 1, constant 200/s) cut off from its only broker from 60 s to 300 s, with
/// the default `delivery.timeout.ms` of 120 s.
const CUT_OFF: &str = r#"
    duration = "8m"
    systems = ["kafka"]
    [workload]
    rate = 200.0
    arrivals = "constant"
    keys = { count = 1000, distribution = "uniform" }
    [[groups]]
    name = "g"
    processing = "0ms"
    [kafka]
    partitions = 3
    acks = 1
    [network]
    latency = "1ms"
    [[faults]]
    at = "60s"
    action = "partition"
    sides = [["producer"], ["broker-0", "g/0"]]
    duration = "4m"
    "#;

/// `delivery.timeout.ms` bounds the time from `send()` to success or failure: nothing is
/// acknowledged later than 120 s after it was sent, and everything sent in the first 120 s of the
/// cut fails (200/s x 120 s = 24,000 records; each is still unacknowledged 120 s later, since the
/// cut lasts 240 s). A few more fail at the edges, never fewer: records sent just before the cut
/// whose request or response it caught (linger 5 ms + 2 ms round trip: at most 2 records), and
/// records sent just after 180 s that the producer cannot deliver within 120 s because it gets
/// through only some time after the heal at 300 s (the request in flight at the heal must time
/// out first, then its batches back off 100 ms): those sent before the first acknowledgment after
/// the heal minus 120 s, plus the rest of a batch opened before (a batch expires with its
/// creation time; a 16 KiB batch holds 15 1-KiB records, about 0.22 s of one partition's 67/s).
/// (Before the fix: 820 failures, and 23,000 records acknowledged more than 120 s after send.)
#[test]
fn delivery_timeout_fails_what_the_cut_holds_longer_than_120_s() {
    let s = scenario(CUT_OFF);
    let e = client_events(&s, SystemKind::Kafka);
    let timeout = 120.0;
    let mut sent_at = std::collections::BTreeMap::new();
    let mut failed = std::collections::BTreeSet::new();
    let mut late = 0;
    let mut longest_ack = 0.0f64;
    for &(t, ev) in &e.0 {
        match ev {
            ClientEvent::Sent { msg } => {
                sent_at.insert(msg.id, secs(msg.published_at));
            }
            ClientEvent::Acknowledged { id } => {
                let waited = secs(t) - sent_at[&id];
                longest_ack = longest_ack.max(waited);
                if waited > timeout {
                    late += 1;
                }
            }
            ClientEvent::SendFailed { id } => {
                failed.insert(id);
            }
            _ => {}
        }
    }
    assert_eq!(late, 0, "acknowledged more than 120 s after send (longest {longest_ack:.1} s)");
    let in_first_120_s: Vec<u64> =
        sent_at.iter().filter(|&(_, &t)| (60.0..180.0).contains(&t)).map(|(&id, _)| id).collect();
    assert_eq!(in_first_120_s.len(), 24_000);
    assert!(
        in_first_120_s.iter().all(|id| failed.contains(id)),
        "something sent in the first 120 s of the cut was not failed"
    );
    let through =
        e.0.iter()
            .find(|(t, ev)| secs(*t) >= 300.0 && matches!(ev, ClientEvent::Acknowledged { .. }))
            .map(|(t, _)| secs(*t))
            .expect("acknowledgments after the heal");
    let last_edge = through - 120.0 + 0.25;
    let edges: Vec<f64> = failed.iter().map(|id| sent_at[id]).filter(|&t| !(60.0..180.0).contains(&t)).collect();
    assert!(
        edges.iter().all(|&t| (59.99..last_edge).contains(&t)),
        "failed outside the edges (through at {through} s): {edges:?}"
    );
    let most = 24_002 + (200.0 * (last_edge - 180.0)).ceil() as usize;
    assert!((24_000..=most).contains(&failed.len()), "{} failures, expected 24,000 to {most}", failed.len());
    // The checker counts them.
    let d = delivery(&s, SystemKind::Kafka);
    assert_eq!(d.publish_failures, failed.len() as u64);
}

/// A leader crash under load (20 ms one-way latency, so that several produce requests per
/// partition are in flight; 20 keys, so that batches share keys), `acks = "all"` both times: the
/// requests in flight to the dead leader fail together. Without idempotence Kafka puts each failed
/// batch back at the front of its queue (`RecordAccumulator.reenqueue`: `addFirst`), so they are
/// retried newest first and land out of order; with idempotence they go back in sequence order and
/// the new leader refuses any batch whose predecessor it lacks (`OUT_OF_ORDER_SEQUENCE_NUMBER`).
fn leader_crash(idempotence: bool, rate: f64, in_flight: u32) -> String {
    format!(
        r#"
        duration = "90s"
        seed = 3
        systems = ["kafka"]
        [workload]
        rate = {rate:.1}
        keys = {{ count = 20, distribution = "uniform" }}
        [[groups]]
        name = "g"
        processing = "0ms"
        [cluster]
        brokers = 3
        [kafka]
        partitions = 3
        replication_factor = 3
        acks = "all"
        enable_idempotence = {idempotence}
        max_in_flight_requests_per_connection = {in_flight}
        [network]
        latency = "20ms"
        [[faults]]
        at = "30s"
        action = "crash"
        target = "leader"
        duration = "30s"
        "#
    )
}

/// Same seed, same crash: reordered without idempotence, in order with it (on main, 0 both times).
/// With one request in flight per connection (at 400/s, which one request per 80 ms round trip
/// and replication carries: 3 x 16 KiB batches) there is never a later batch to overtake.
#[test]
fn retries_reorder_without_idempotence_only() {
    let run = |idempotence, rate, in_flight| {
        delivery(&scenario(&leader_crash(idempotence, rate, in_flight)), SystemKind::Kafka)
    };
    let off = run(false, 2000.0, 5);
    let on = run(true, 2000.0, 5);
    assert!(off.total.out_of_order > 0, "without idempotence: out of order {}", off.total.out_of_order);
    assert_eq!(on.total.out_of_order, 0, "with idempotence");
    assert_eq!(on.total.duplicates, 0, "with idempotence");
    let five = run(false, 400.0, 5);
    let one = run(false, 400.0, 1);
    assert!(five.total.out_of_order > 0, "5 in flight at 400/s: out of order {}", five.total.out_of_order);
    assert_eq!((one.total.out_of_order, one.publish_failures), (0, 0), "1 in flight");
}

/// The producer settings are refused where Kafka's producer refuses them, with one line naming
/// the field and the rule; more than 5 in flight without asking for idempotence turns it off.
#[test]
fn producer_settings_are_checked_as_kafka_checks_them() {
    let base = "duration = \"1m\"\nsystems = [\"kafka\"]\n[workload]\nrate = 10.0\n[[groups]]\nname = \"g\"\n[kafka]\n";
    for (kafka, field, says) in [
        ("delivery_timeout = \"30s\"\n", "kafka.delivery_timeout", "at least 30005ms"),
        ("delivery_timeout = \"25d\"\n", "kafka.delivery_timeout", "2147483647 ms"),
        (
            "delivery_timeout = \"30.0005s\"\nlinger = \"0ms\"\n",
            "kafka.delivery_timeout",
            "whole number of milliseconds",
        ),
        ("max_in_flight_requests_per_connection = 0\n", "kafka.max_in_flight_requests_per_connection", "from 1 to"),
        (
            "max_in_flight_requests_per_connection = 6\nenable_idempotence = true\n",
            "kafka.max_in_flight_requests_per_connection",
            "at most 5",
        ),
    ] {
        assert_refused(&format!("{base}{kafka}"), "producer.toml", field, says);
    }
    let s = scenario(&format!("{base}max_in_flight_requests_per_connection = 6\n"));
    assert!(!s.kafka.enable_idempotence, "more than 5 in flight turns the default idempotence off");
    let s = scenario(&format!("{base}max_in_flight_requests_per_connection = 5\ndelivery_timeout = \"31s\"\n"));
    assert!(s.kafka.enable_idempotence);
    assert_eq!(s.kafka.delivery_timeout, pushpull::time::SimDuration::from_secs(31));
}

/// With one request in flight a partition is muted while a batch of it is in flight
/// (`guaranteeMessageOrder`); with `acks = 0` the send itself completes the batch
/// (`Sender.handleProduceResponse` without a response), so the partition sends again at once and
/// the run processes what it does with 5 in flight. (Unmuted only by a response, it would stall
/// after its first batch: 4 records processed.)
#[test]
fn acks_0_with_one_request_in_flight_does_not_stall() {
    let run = |in_flight: u32| {
        let s = scenario(&format!(
            r#"
            duration = "1m"
            systems = ["kafka"]
            [workload]
            rate = 200.0
            [[groups]]
            name = "g"
            processing = "0ms"
            [kafka]
            partitions = 3
            acks = 0
            max_in_flight_requests_per_connection = {in_flight}
            "#
        ));
        delivery(&s, SystemKind::Kafka)
    };
    let (one, five) = (run(1), run(5));
    assert!(one.sent > 11_000);
    assert_eq!(one.total.processed_unique, five.total.processed_unique);
}

/// `buffer.memory` and `max.block.ms`, worked by hand. One broker, acks=1, linger 0, 10 records
/// of 1,000 B per second at 0.1 s, 0.2 s, ...; the broker dies at 5 s and never comes back. A
/// 16 KiB batch holds 16 such records (61 B of batch header plus about 1,009 B each), and a 32 KiB
/// buffer two batches. The first 49 records are acknowledged; records 49 to 80 (5.0 s to 8.1 s)
/// fill the two batches, which are retried but never acknowledged (delivery.timeout.ms, 120 s, is
/// beyond the run), so their memory is never freed. Record 81 blocks `send()` at 8.2 s and fails
/// 1 s later (`max.block.ms`); each next record gets its turn as the previous one fails, so one
/// fails per second, at 9.2 s, 10.2 s, ..., until the run stops at 50 s (20 s plus a 30 s drain):
/// 41 failures. With the default 32 MiB nothing blocks within the run: no failure.
#[test]
fn a_full_buffer_blocks_send_then_fails_it_after_max_block() {
    let file = |buffer: &str| {
        format!(
            r#"
            duration = "20s"
            drain = "30s"
            systems = ["kafka"]
            [workload]
            rate = 10.0
            arrivals = "constant"
            message_bytes = 1000
            [[groups]]
            name = "g"
            processing = "1us"
            [cluster]
            brokers = 1
            [kafka]
            partitions = 1
            linger = "0ms"
            acks = 1
            batch_size = "16KiB"
            {buffer}
            max_block = "1s"
            [[faults]]
            at = "5s"
            action = "crash"
            target = "broker-0"
            "#
        )
    };
    let failures = |buffer: &str| -> Vec<f64> {
        client_events(&scenario(&file(buffer)), SystemKind::Kafka)
            .0
            .iter()
            .filter(|(_, e)| matches!(e, ClientEvent::SendFailed { .. }))
            .map(|(t, _)| secs(*t))
            .collect()
    };
    let failed = failures(r#"buffer_memory = "32KiB""#);
    assert_eq!(failed.len(), 41, "{failed:?}");
    assert!((failed[0] - 9.2).abs() < 1e-6 && (failed[40] - 49.2).abs() < 1e-6, "{failed:?}");
    assert!(failed.windows(2).all(|w| (w[1] - w[0] - 1.0).abs() < 1e-6), "one per max.block.ms: {failed:?}");
    assert!(failures("").is_empty());
}

/// A blocked `send()` makes every partition's first batch sendable at once, lingering or not
/// (`RecordAccumulator.ready`'s `exhausted`). 100 records/s of 1,000 B over 4 partitions (1,000
/// uniform keys), linger 2 s, batch.size 16 KiB: a batch fills with 16 records, about 0.64 s of
/// its partition's 25 records/s, so with room to spare a record waits for its batch to fill,
/// about 0.3 s at the median. With a 48 KiB buffer (three batches) the fourth partition's new
/// batch cannot be allocated: `send()` blocks, the sender drains the three open batches at once,
/// the acknowledgements (no latency under `ideal`) free their memory, and the record goes on;
/// batches never wait long: the median is under 0.1 s.
#[test]
fn a_blocked_send_sends_lingering_batches_at_once() {
    let p50 = |buffer: &str| -> f64 {
        let s = scenario(&format!(
            r#"
            duration = "20s"
            systems = ["kafka"]
            [workload]
            rate = 100.0
            arrivals = "constant"
            message_bytes = 1000
            keys = {{ count = 1000, distribution = "uniform" }}
            [[groups]]
            name = "g"
            processing = "1us"
            [kafka]
            partitions = 4
            linger = "2s"
            batch_size = "16KiB"
            buffer_memory = "{buffer}"
            "#
        ));
        let rec = run_observed(&s, SystemKind::Kafka, &mut pushpull::history::VecHistory::default());
        rec.summarize(&["g".into()], pushpull::time::SimTime::ZERO).wait_ms.p50
    };
    let (roomy, tight) = (p50("32MiB"), p50("48KiB"));
    assert!(roomy > 200.0, "batches fill before they are sent: {roomy} ms");
    assert!(tight < 100.0, "an exhausted buffer sends at once: {tight} ms");
}

/// A constant record larger than the whole `buffer.memory` is refused, as KafkaProducer refuses
/// every such send.
#[test]
fn a_record_larger_than_the_buffer_is_refused() {
    let text = r#"
        duration = "1m"
        [workload]
        rate = 10.0
        message_bytes = "64KiB"
        [[groups]]
        name = "g"
        [kafka]
        buffer_memory = "32KiB"
        "#;
    assert_refused(text, "producer.toml", "kafka.buffer_memory", "larger than the producer's whole buffer");
}
