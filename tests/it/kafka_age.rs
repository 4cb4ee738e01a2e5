//! Kafka's consumer-side age check (`[[groups]] max_age`, issue 18's ttl-expiry lesson): the
//! application skips a record whose timestamp (CreateTime) is older than `max_age` when it comes
//! to it; it has fetched it, and commits past it. Worked out by hand from the publish times.

use crate::common::{assert_refused, client_events, delivery, scenario, secs};
use pushpull::history::{ClientEvent, Settlement};
use pushpull::scenario::SystemKind;

/// One consumer, down from 10.05 s for 60 s; 10 messages/s, one every 100 ms (id i at
/// (i + 1) x 0.1 s), 1 ms of work each.
fn down_consumer(systems: &str, group: &str) -> String {
    format!(
        r#"
duration = "120s"
systems = {systems}
[workload]
rate = 10
arrivals = "constant"
[[groups]]
name = "work"
processing = "1ms"
{group}
[[faults]]
at = "10.05s"
action = "crash"
target = "work/0"
duration = "60s"
"#
    )
}

/// The consumer is back at 70.05 s. Its session expired at 55.05 s (45 s), so it joins an empty
/// group, which waits `group.initial.rebalance.delay.ms` (3 s) before assigning: it fetches from
/// the committed offset at 73.05 s (no network latency here) and comes to each record a few
/// microseconds later. A record is too old if it was published before 73.05 - 30 = 43.05 s: those
/// published in (10.05, 43.05) s, 10.1 s to 43.0 s, are skipped: 330 `expired` (60 - 30 s of the
/// outage plus the 3 s delay, at 10/s). Record 99 (10.0 s), processed just before the crash but
/// not yet auto-committed, is fetched again and skipped too: it was processed, so it is not
/// expired. From 43.1 s on, everything is processed, none more than 30 s after it was published.
/// A skip costs the 5 us check and no processing time: the 331 skips take 1.655 ms, so the first
/// record processed after the restart starts 1.655 ms after the fetch, not 331 ms.
#[test]
fn records_older_than_max_age_are_skipped_after_an_outage() {
    let s = scenario(&down_consumer(r#"["kafka"]"#, r#"max_age = "30s""#));
    let ev = client_events(&s, SystemKind::Kafka);
    let mut expired = Vec::new();
    let mut started_late = Vec::new();
    let mut first_start_after_restart = None;
    for (at, e) in &ev.0 {
        match *e {
            ClientEvent::Settled { id, outcome: Settlement::Expired, .. } => expired.push(id),
            ClientEvent::ProcessingStarted { msg, .. } => {
                if at.since(msg.published_at).as_secs_f64() > 30.0 {
                    started_late.push(msg.id());
                }
                if secs(*at) > 70.0 && first_start_after_restart.is_none() {
                    first_start_after_restart = Some((msg.id(), secs(*at)));
                }
            }
            _ => {}
        }
    }
    assert_eq!(expired, (99..=429).collect::<Vec<u64>>(), "record 99 (processed before) and 10.1 s to 43.0 s");
    assert!(started_late.is_empty(), "processing started more than 30 s after publishing: {started_late:?}");
    let (id, at) = first_start_after_restart.expect("processing resumed");
    assert_eq!(id, 430, "the first record young enough, published at 43.1 s");
    assert!((at - (73.05 + 331.0 * 5e-6)).abs() < 1e-6, "starts after 331 checks of 5 us: {at}");
    let d = delivery(&s, SystemKind::Kafka);
    let g = &d.groups["work"];
    assert_eq!((g.owed, g.processed_unique, g.expired, g.duplicates), (1199, 869, 330, 0));
    assert_eq!(g.acknowledged_lost + g.unacknowledged_lost + g.stranded, 0, "expired is not lost");
    assert!(g.identity_holds());
}

/// The control: without `max_age` the same outage expires nothing, and the consumer processes
/// every record, the oldest 63.05 s late: record 99 (10.0 s), processed before the crash but not
/// yet committed, is processed again at 73.05 s (a duplicate, which `max_age` turned into a skip).
#[test]
fn without_max_age_every_record_is_processed_late() {
    let s = scenario(&down_consumer(r#"["kafka"]"#, ""));
    let d = delivery(&s, SystemKind::Kafka);
    let g = &d.groups["work"];
    assert_eq!((g.owed, g.processed_unique, g.expired, g.duplicates), (1199, 1199, 0, 1));
    let longest = client_events(&s, SystemKind::Kafka)
        .0
        .iter()
        .filter_map(|(at, e)| match e {
            ClientEvent::ProcessingStarted { msg, .. } => Some(at.since(msg.published_at).as_secs_f64()),
            _ => None,
        })
        .fold(0.0, f64::max);
    assert!((longest - 63.05).abs() < 0.001, "record 99 (10.0 s) processed again at 73.05 s: {longest}");
}

/// `max_age` is Kafka's: RabbitMQ's side of the same group ignores it (its TTL is `message_ttl`),
/// so RabbitMQ's counts are those of the file without it, with nothing expired.
#[test]
fn rabbitmq_ignores_max_age() {
    let with =
        delivery(&scenario(&down_consumer(r#"["kafka", "rabbitmq"]"#, r#"max_age = "30s""#)), SystemKind::RabbitMq);
    let without = delivery(&scenario(&down_consumer(r#"["rabbitmq"]"#, "")), SystemKind::RabbitMq);
    assert_eq!(with.groups["work"], without.groups["work"]);
    assert_eq!(with.groups["work"].expired, 0);
}

#[test]
fn max_age_is_checked() {
    let base = |systems: &str, group: &str| down_consumer(systems, group);
    assert_refused(&base(r#"["kafka"]"#, r#"max_age = "0s""#), "test.toml", "groups[0].max_age", "from 1ms");
    assert_refused(
        &base(r#"["kafka"]"#, r#"max_age = "1.5ms""#),
        "test.toml",
        "groups[0].max_age",
        "whole milliseconds",
    );
    assert_refused(&base(r#"["kafka"]"#, r#"max_age = "soon""#), "test.toml", "groups[0].max_age", "soon");
    assert_refused(
        &base(r#"["kafka"]"#, "max_age = \"30s\"\ntype = \"share\""),
        "test.toml",
        "groups[0].max_age",
        "consumer groups only",
    );
    assert_refused(&base(r#"["rabbitmq"]"#, r#"max_age = "30s""#), "test.toml", "groups[0].max_age", "message_ttl");
}
