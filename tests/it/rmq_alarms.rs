//! RabbitMQ's resource alarms (docs/flow-control.md), worked out by hand: a node whose classic
//! queue holds a backlog passes its memory or disk threshold at a message count that follows from
//! the sizes, the monitor raises the alarm at its next sample, the producer publishes nothing more
//! until the alarm clears at a later sample, and nothing is lost.

use crate::common::{assert_refused, scenario};
use pushpull::history::{History, Observation, Tee};
use pushpull::metrics::Recorder;
use pushpull::models::run_system;
use pushpull::scenario::SystemKind;
use pushpull::time::SimTime;
use pushpull::world::alarms::{Resource, ResourceAlarms};

/// The times messages were enqueued (`Stored`), in order.
#[derive(Default)]
struct Stored(Vec<SimTime>);

impl History for Stored {
    fn record(&mut self, at: SimTime, obs: Observation) {
        if let Observation::Stored { .. } = obs {
            self.0.push(at);
        }
    }
}

/// One consumer, down from 1 ms for `down`, of a classic queue on one omb-2020 node; constant
/// arrivals at `rate` of `bytes` each, persistent, no confirms.
fn backlog(rate: u32, bytes: &str, down: &str, duration: &str, extra: &str, cluster: &str) -> String {
    format!(
        r#"
duration = "{duration}"
profile = "omb-2020"
systems = ["rabbitmq"]
[cluster]
brokers = 1
{cluster}
[workload]
rate = {rate}
arrivals = "constant"
message_bytes = "{bytes}"
[rabbitmq]
persistent = true
prefetch = 10
{extra}
[[groups]]
name = "work"
processing = {{ distribution = "constant", value = "100us" }}
[[faults]]
at = "1ms"
action = "crash"
target = "work/0"
duration = "{down}"
"#
    )
}

fn run(text: &str) -> (ResourceAlarms, Vec<SimTime>, u64, u64) {
    let s = scenario(text);
    let mut stored = Stored::default();
    let mut rec = Recorder::new(&s);
    let end = run_system(&s, SystemKind::RabbitMq, &mut Tee(&mut rec, &mut stored), |_| {});
    rec.finish(end.at);
    let sum = rec.summarize(&["work".to_string()], end.at);
    let alarms = end.resource_alarms.expect("an alarm was raised");
    (alarms, stored.0, sum.messages_published, sum.unique_processed)
}

fn s(t: f64) -> SimTime {
    SimTime((t * 1e9).round() as u64)
}

#[test]
fn the_disk_alarm_blocks_the_publisher_from_the_sample_past_the_limit_until_a_later_one() {
    // Disk 20 MB, limit 10 MB; 1,000-byte persistent messages cost 1,000 + 32 (index) + 8
    // (per-queue store) = 1,040 bytes: free < 10 MB once more than 10,000,000 / 1,040 = 9,615.4
    // are held, from the 9,616th. Free space within 10 MB of the limit is sampled every 100 ms
    // (2 x 10 MB / 250 kB per ms = 80 ms, raised to the minimum), from 0.
    let text = backlog(1_000, "1000B", "30s", "40s", r#"disk_free_limit = "10MB""#, r#"disk_size = "20MB""#);
    let (a, stored, published, processed) = run(&text);
    let first = &a.alarms[0];
    assert_eq!(first.resource, Resource::Disk);
    let nth = stored[9_615];
    // Raised at the first 100 ms sample after the 9,616th message was stored, not before it.
    let expect = (nth.0 / 100_000_000 + 1) * 100_000_000;
    assert_eq!(s(first.raised_s), SimTime(expect), "9,616th stored at {nth:?}");
    assert!(stored.iter().filter(|&&t| t < s(first.raised_s)).count() >= 9_616);
    assert!(stored.iter().filter(|&&t| t < SimTime(expect - 100_000_000)).count() < 9_616);
    // While alarmed the monitor samples every 10 s: it clears a whole number of 10 s later, after
    // the consumer came back (31 ms + reconnection) and took the queue under the limit.
    let cleared = first.cleared_s.expect("cleared");
    let held = cleared - first.raised_s;
    assert!((held / 10.0 - (held / 10.0).round()).abs() < 1e-9 && cleared > 30.0, "{first:?}");
    // Nothing was enqueued from the raise (the node stops reading the producer's connection; what
    // it had read before is still being enqueued for a few hundred microseconds) to the clear.
    let during = stored.iter().filter(|&&t| t > s(first.raised_s + 0.001) && t < s(cleared)).count();
    assert_eq!(during, 0, "published while blocked");
    // Held back, not lost: every message is processed.
    assert_eq!(processed, published);
    assert!(a.publishing_blocked_s >= held);
    // The disk never held more than the limit's worth and what one 100 ms sampling period lets
    // in: after a clear the node reads what waited on the wire as fast as the queue's process
    // enqueues (68 + 68 + 2 us a message under omb-2020: 725 in 100 ms).
    assert!(a.alarms.len() >= 2, "the held-back messages raise it again: {a:?}");
    assert!(a.peak_disk_bytes > 10_000_000 && a.peak_disk_bytes <= 10_000_000 + 1_040 * 725, "{a:?}");
}

#[test]
fn the_memory_alarm_fires_when_the_shared_stores_index_passes_the_watermark() {
    // RAM 32 MiB x 0.6 = 20,132,659 bytes. 8 KiB persistent messages go to the shared message
    // store: memory = the head, 2,048 x 8,192 = 16,777,216 bytes, plus 88 bytes of index per
    // message. Over the limit when 88 n > 3,355,443: n >= 38,131. Sampled every whole second.
    let text = backlog(5_000, "8KiB", "20s", "25s", "vm_memory_high_watermark = 0.6", r#"ram = "32MiB""#);
    let (a, stored, published, processed) = run(&text);
    let limit = (32.0 * 1048576.0 * 0.6) as u64;
    assert_eq!(a.memory_limit_bytes, limit);
    let n = (limit - 2_048 * 8_192) / 88 + 1;
    assert_eq!(n, 38_131);
    let first = &a.alarms[0];
    assert_eq!(first.resource, Resource::Memory);
    let nth = stored[n as usize - 1];
    let expect = (nth.0 / 1_000_000_000 + 1) * 1_000_000_000;
    assert_eq!(s(first.raised_s), SimTime(expect), "{n}th stored at {nth:?}");
    // Cleared at a whole second, once the consumer (back at 20 s) took the backlog under n.
    let cleared = first.cleared_s.expect("cleared");
    assert!(cleared > 20.0 && (cleared - cleared.round()).abs() < 1e-9, "{first:?}");
    let during = stored.iter().filter(|&&t| t > s(first.raised_s + 0.001) && t < s(cleared)).count();
    assert_eq!(during, 0, "published while blocked");
    assert_eq!(processed, published);
    // A disk of 5 TB never comes near its 50 MB limit: only the memory alarm.
    assert!(a.alarms.iter().all(|x| x.resource == Resource::Memory));
}

#[test]
fn without_a_backlog_past_the_limits_no_alarm_is_reported() {
    // The same node with the defaults (64 GiB x 0.6, 5 TB): a 9,616-message backlog is nothing.
    let text = backlog(1_000, "1000B", "10s", "12s", "", "");
    let s = scenario(&text);
    let end = run_system(&s, SystemKind::RabbitMq, &mut pushpull::history::NoHistory, |_| {});
    assert!(end.resource_alarms.is_none());
}

#[test]
fn alarm_fields_are_refused_where_they_cannot_act() {
    let lan = "duration = \"1s\"\n[workload]\nrate = 1\n[[groups]]\nname = \"g\"\n[rabbitmq]\n";
    assert_refused(
        &format!("{lan}disk_free_limit = \"1GB\"\n"),
        "t.toml",
        "rabbitmq.disk_free_limit",
        "profile \"ideal\" is costless",
    );
    let omb = "duration = \"1s\"\nprofile = \"omb-2020\"\n[workload]\nrate = 1\n[[groups]]\nname = \"g\"\n[rabbitmq]\n";
    assert_refused(
        &format!("{omb}vm_memory_high_watermark = 1.5\n"),
        "t.toml",
        "rabbitmq.vm_memory_high_watermark",
        "1.5 is not allowed; a fraction of the node's RAM from 0",
    );
    assert_refused(
        &format!("{omb}queue_type = \"quorum\"\nvm_memory_high_watermark = 0.4\n"),
        "t.toml",
        "rabbitmq.vm_memory_high_watermark",
        "count what classic queues hold",
    );
    assert_refused(
        "duration = \"1s\"\n[cluster]\nram = \"1GiB\"\n[workload]\nrate = 1\n[[groups]]\nname = \"g\"\n",
        "t.toml",
        "cluster.ram",
        "costless",
    );
}
