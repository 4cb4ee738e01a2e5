//! The publisher's confirm window (`rabbitmq.max_unconfirmed`, PerfTest's `--confirm N`): never
//! more than N messages unconfirmed, the rest wait in the application and are timed from when they
//! are published. Under `lan` every confirm takes one round trip (0.5 ms), so a window of 4 carries
//! exactly 4 messages per 0.5 ms: 8,000 msg/s, whatever is offered above that.

use crate::common::{assert_refused, client_events, scenario};
use pushpull::history::ClientEvent;
use pushpull::run::run_one;
use pushpull::scenario::SystemKind;
use pushpull::time::SimTime;

fn lan(window: &str) -> String {
    format!(
        r#"
name = "window"
seed = 3
duration = "1s"
profile = "lan"
systems = ["rabbitmq"]
[workload]
rate = 20000
arrivals = "constant"
message_bytes = 100
[[groups]]
name = "g"
processing = "0us"
[rabbitmq]
publisher_confirms = true
prefetch = 100
{window}
"#
    )
}

#[test]
fn a_confirm_window_bounds_what_is_unconfirmed_and_paces_the_publisher_at_one_window_per_round_trip() {
    let s = scenario(&lan("max_unconfirmed = 4"));
    let events = client_events(&s, SystemKind::RabbitMq);
    let (mut open, mut most, mut sent_in_run) = (0i64, 0i64, 0u64);
    for (at, e) in &events.0 {
        match e {
            ClientEvent::Sent { msg } => {
                open += 1;
                // Timed from when it is published, not from when it was due.
                assert_eq!(msg.published_at, *at);
                if *at < SimTime(s.duration.0) {
                    sent_in_run += 1;
                }
            }
            ClientEvent::Acknowledged { .. } => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    assert_eq!(most, 4, "never more than the window unconfirmed");
    // 4 per 0.5 ms round trip over 1 s: 8,000 (the first window leaves at once, in 0.15 ms).
    assert!((7_996..=8_004).contains(&sent_in_run), "published {sent_in_run}");
    let sum = run_one(&s, SystemKind::RabbitMq, None).summary(&s);
    assert!((sum.confirm_ms.p50 - 0.5).abs() < 1e-3, "one round trip: {}", sum.confirm_ms.p50);

    // Without a window the producer publishes all 20,000 as they are due.
    let s = scenario(&lan(""));
    let sent = client_events(&s, SystemKind::RabbitMq)
        .0
        .iter()
        .filter(|(at, e)| matches!(e, ClientEvent::Sent { .. }) && *at < SimTime(s.duration.0))
        .count();
    // Constant arrivals from 50 us on: the 20,000th is due at 1 s, the end of publishing.
    assert!((19_999..=20_000).contains(&sent), "published {sent}");
}

#[test]
fn a_confirm_window_needs_confirms_and_a_positive_size() {
    let no_confirms = lan("max_unconfirmed = 4").replace("publisher_confirms = true", "publisher_confirms = false");
    assert_refused(&no_confirms, "w.toml", "rabbitmq.max_unconfirmed", "only allowed with publisher_confirms = true");
    assert_refused(&lan("max_unconfirmed = 0"), "w.toml", "rabbitmq.max_unconfirmed", "0 is not allowed");
}
