//! The recorder's gauges must not mislead: samples carry each gauge's maximum over the interval
//! (not its value at the sample instant), and the annotations count what Kafka lost.

use crate::common::scenario;
use pushpull::history::{History, Observation};
use pushpull::metrics::{AnnotationKind, Recorder};
use pushpull::time::SimTime;
use pushpull::workload::{Message, StoredMessage};

fn published(id: u64, at: f64) -> Message {
    Message { id, published_at: SimTime((at * 1e9) as u64), key: None, bytes: 100 }
}

/// A hand-made history, worked by hand: each sample carries its interval's maxima, the value at
/// the instant separately, and the annotations count retention losses and skipped records.
#[test]
fn interval_maxima_and_annotations_on_a_hand_made_history() {
    let s = scenario(
        r#"
duration = "3s"
sample_interval = "1s"
[workload]
rate = 1.0
[[groups]]
name = "g"
processing = "1ms"
"#,
    );
    let mut rec = Recorder::new(&s);
    let t = |x: f64| SimTime((x * 1e9) as u64);
    let m: Vec<Message> = [0.1, 0.2, 2.1, 2.2].iter().enumerate().map(|(i, &at)| published(i as u64, at)).collect();
    let sm: Vec<StoredMessage> = m.iter().map(StoredMessage::new).collect();
    let processed = |i: usize| Observation::Processed { msg: sm[i], group: 0, consumer: 0 };
    let backlog = |messages, unacked| Observation::Backlog { group: 0, messages, unacked };
    // Interval (0, 1 s]: in flight 1, 2, then 1; the lag gauge spikes to 40 between samples.
    rec.record(t(0.1), Observation::Published { msg: m[0] });
    rec.record(t(0.1), Observation::StorageChanged { delta: 100 });
    rec.record(t(0.2), Observation::Published { msg: m[1] });
    rec.record(t(0.2), Observation::StorageChanged { delta: 100 });
    rec.record(t(0.3), backlog(2, 0));
    rec.record(t(0.4), processed(0));
    rec.record(t(0.5), backlog(40, 7));
    rec.record(t(0.6), backlog(1, 1));
    rec.record(t(0.7), Observation::StorageChanged { delta: -100 });
    // (1 s, 2 s]: message 1 processed; nothing else happens.
    rec.record(t(1.5), processed(1));
    // (2 s, 3 s]: two more; retention deletes message 2 unprocessed, then the reset skips 3;
    // message 2 turns out to have been in the consumer's buffer and is processed after all.
    rec.record(t(2.1), Observation::Published { msg: m[2] });
    rec.record(t(2.2), Observation::Published { msg: m[3] });
    rec.record(t(2.3), Observation::Deleted { id: 2, group: None });
    rec.record(t(2.4), Observation::OffsetReset { group: 0, partition: 0, from: 2, to: 4 });
    rec.record(t(2.4), Observation::Deleted { id: 3, group: Some(0) });
    rec.record(t(2.5), processed(2));
    rec.finish(t(3.0));

    let got: Vec<_> = rec
        .samples
        .iter()
        .map(|x| {
            (
                x.backlog_max,
                x.in_flight,
                x.consumer_lag_max,
                x.consumer_lag,
                x.unacked_max,
                x.unacked,
                x.stored_bytes_max,
            )
        })
        .collect();
    // (backlog_max, in_flight, consumer_lag_max, consumer_lag, unacked_max, unacked, stored_bytes_max)
    assert_eq!(
        got,
        vec![
            (2, 1, 40, 1, 7, 1, 200),
            (1, 0, 1, 1, 1, 1, 100), // the values carried in from the previous interval
            (2, 0, 1, 1, 1, 1, 100),
        ]
    );
    let sum = rec.summarize(&["g".to_string()], t(3.0));
    assert_eq!((sum.max_backlog, sum.max_consumer_lag, sum.max_unacked, sum.peak_stored_bytes), (2, 40, 7, 200));
    assert_eq!(sum.lost, 1, "message 3, skipped by the reset");
    let notes: Vec<_> = rec.annotations.iter().map(|a| (a.kind, a.group, a.count)).collect();
    assert_eq!(
        notes,
        vec![
            // Deleted unprocessed, then processed from the buffer: not lost after all.
            (AnnotationKind::RetentionLost, Some(0), 0),
            (AnnotationKind::RetentionDeleted, None, 1),
            (AnnotationKind::OffsetReset, Some(0), 1),
        ]
    );
}
