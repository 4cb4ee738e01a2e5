//! Consumer utilisation: each consumer's busy fraction and the idle consumers, recounted by the
//! recorder from `processing_started` / `processed`, in the summary and the `consumers` chart.

use crate::common::{run_all, scenario, svg};
use pushpull::report::charts::chart_svgs;
use pushpull::report::summary;
use pushpull::scenario::SystemKind;

/// 12 consumers on 6 Kafka partitions, offered 900 messages/s of 10 ms work: 75% of 12 consumers'
/// capacity (1,200/s), 150% of the 6 that own a partition (600/s).
const TWELVE_ON_SIX: &str = r#"
name = "twelve-on-six"
seed = 3
duration = "60s"
warmup = "10s"
[workload]
rate = 900.0
[[groups]]
name = "work"
consumers = 12
processing = { distribution = "exponential", mean = "10ms" }
[kafka]
partitions = 6
linger = "0ms"
[rabbitmq]
prefetch = 1
"#;

/// Kafka: consumers 6-11 get no partition and do nothing, 0-5 are saturated and cap the
/// throughput at their capacity; RabbitMQ: one queue feeds all 12, every one busy about 75%.
#[test]
fn twelve_consumers_on_six_partitions() {
    let s = scenario(TWELVE_ON_SIX);
    let runs = run_all(&s);
    let sum = summary(&s, &runs);
    let kafka = &sum.systems["kafka"];
    let rabbit = &sum.systems["rabbitmq"];
    assert_eq!(kafka.idle_consumers, 6, "kafka idle consumers");
    assert_eq!(rabbit.idle_consumers, 0, "rabbitmq idle consumers");
    let k = &kafka.groups["work"];
    assert_eq!(k.idle_consumers, 6);
    assert_eq!(k.consumers.len(), 12);
    for c in &k.consumers {
        if c.consumer < 6 {
            assert!(c.busy_fraction > 0.99 && !c.idle, "kafka consumer {} owns a partition: {c:?}", c.consumer);
        } else {
            assert!(c.idle && c.busy_fraction == 0.0 && c.processed_in_window == 0, "kafka {c:?}");
        }
    }
    // Capped by 6 consumers of 100/s each (exponential work: their mean rate).
    assert!(
        kafka.throughput_per_s < 6.0 * 100.0 * 1.03 && kafka.throughput_per_s > 6.0 * 100.0 * 0.97,
        "kafka throughput {} is not capped near 600/s",
        kafka.throughput_per_s
    );
    let r = &rabbit.groups["work"];
    assert_eq!(r.consumers.len(), 12);
    for c in &r.consumers {
        assert!(c.busy_fraction > 0.65 && c.busy_fraction < 0.85 && !c.idle, "rabbitmq {c:?}");
    }
    assert!((rabbit.throughput_per_s - 900.0).abs() < 900.0 * 0.03, "rabbitmq throughput {}", rabbit.throughput_per_s);
    // Over a group's consumers, completions in the window add up to the throughput.
    for (sys, g) in [("kafka", k), ("rabbitmq", r)] {
        let total: u64 = g.consumers.iter().map(|c| c.processed_in_window).sum();
        assert!((total as f64 / 50.0 - g.throughput_per_s).abs() < 1e-6, "{sys}: {total} in 50 s");
        let mean = g.consumers.iter().map(|c| c.busy_fraction).sum::<f64>() / 12.0;
        assert!((g.busy_fraction.mean - mean).abs() < 1e-6, "{sys} mean");
    }
    // The table has the rows.
    let table = pushpull::report::table::render(&sum);
    let idle_row = table.lines().find(|l| l.starts_with("idle consumers")).expect("an idle consumers row");
    assert_eq!(idle_row.split_whitespace().collect::<Vec<_>>(), ["idle", "consumers", "6", "0"]);
    assert!(table.lines().any(|l| l.starts_with("busy mean (%)")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("busy min-max (%)")), "{table}");
    // The chart names the idle ones and draws a bar for every consumer of each system.
    let svgs = chart_svgs(&s, &runs).unwrap();
    let chart = svg(&svgs, "consumers");
    assert!(chart.contains("kafka: consumers 6–11 idle (no partition)"), "the chart names the idle consumers");
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        // One bar per consumer, plus the legend's swatch.
        assert_eq!(bars(chart, sys).len(), 12 + 1, "{sys:?} bars");
    }
}

/// Filled rectangles in a system's colour: (x, width).
fn bars(svg: &str, sys: SystemKind) -> Vec<(f64, f64)> {
    let c = pushpull::report::charts::system_color(sys);
    let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
    let attr = |el: &str, name: &str| -> f64 {
        let key = format!(" {name}=\"");
        let from = el.find(&key).unwrap() + key.len();
        el[from..].split('"').next().unwrap().parse().unwrap()
    };
    svg.split("<rect")
        .skip(1)
        .map(|el| &el[..el.find("/>").unwrap()])
        .filter(|el| el.contains(&fill))
        .map(|el| (attr(el, "x"), attr(el, "width")))
        .collect()
}

/// Worked by hand: constant arrivals every 100 ms (at 0.1 s, 0.2 s, ... 10.0 s: 100 messages),
/// each 80 ms of work for the one consumer, no network cost and no batching delay, so job k runs
/// [k x 0.1 s, k x 0.1 s + 80 ms) in both systems. The window is [0.15 s, 10.01 s), 9.86 s: job 1
/// straddles its start (30 ms inside), jobs 2-99 lie inside (98 x 80 ms), job 100 straddles its
/// end (10 ms inside). Busy time 7,880 ms, exactly, in integer nanoseconds; the fraction
/// 7.88 / 9.86 = 0.7991886...; the summary rounds it to 6 decimals, hence the 5e-7 tolerance.
/// Completions in the window: jobs 1-99 (job 100 ends at 10.08 s).
#[test]
fn busy_fraction_worked_by_hand() {
    let s = scenario(
        r#"
name = "by-hand"
duration = "10010ms"
warmup = "150ms"
[workload]
rate = 10.0
arrivals = "constant"
[[groups]]
name = "g"
processing = "80ms"
[kafka]
linger = "0ms"
"#,
    );
    let runs = run_all(&s);
    let sum = summary(&s, &runs);
    assert_eq!(runs.len(), 2);
    for r in &runs {
        let c = r.recorder.busy.groups[0][0];
        assert_eq!(c.busy_ns, 7_880_000_000, "{:?} busy time", r.system);
        assert_eq!(c.processed_in_window, 99, "{:?}", r.system);
        let g = &sum.systems[r.system.name()].groups["g"];
        let expected = 7.88 / 9.86;
        assert!((g.consumers[0].busy_fraction - expected).abs() <= 5e-7, "{:?}: {:?}", r.system, g.consumers);
        assert_eq!(g.busy_fraction.mean, g.consumers[0].busy_fraction);
        assert_eq!((g.busy_fraction.min, g.busy_fraction.max), (g.busy_fraction.mean, g.busy_fraction.mean));
        assert_eq!(g.idle_consumers, 0);
    }
}

/// 50 consumers on 10 partitions: every bar stays inside the picture, side by side without
/// overlapping, and the idle run is named.
#[test]
fn fifty_consumers_fit_the_chart() {
    let s = scenario(
        r#"
name = "fifty"
duration = "20s"
warmup = "2s"
[workload]
rate = 500.0
[[groups]]
name = "many"
consumers = 50
processing = { distribution = "exponential", mean = "20ms" }
[kafka]
partitions = 10
"#,
    );
    let runs = run_all(&s);
    let sum = summary(&s, &runs);
    assert_eq!(sum.systems["kafka"].idle_consumers, 40);
    let svgs = chart_svgs(&s, &runs).unwrap();
    let chart = svg(&svgs, "consumers");
    assert!(chart.contains("kafka: consumers 10–49 idle (no partition)"));
    let mut all = Vec::new();
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let mut b = bars(chart, sys);
        // The legend swatch is the widest and comes first; the rest are the 50 bars.
        b.remove(0);
        assert_eq!(b.len(), 50, "{sys:?}");
        all.extend(b);
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in all.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "bars overlap: {w:?}");
    }
    assert!(all.iter().all(|&(x, w)| x >= 60.0 && x + w <= 1000.0), "a bar leaves the plot");
}

/// A hung job counts until it completes, on resume: constant arrivals every 100 ms (199 messages
/// in [0, 20 s)), 80 ms of work each, and the one consumer hangs at 5.05 s for 2 s, during the job
/// of the message published at 5.0 s. That job ends at the resume, 7.05 s, so it lasts 2,050 ms;
/// the 198 others 80 ms each (the backlog of the hang clears by about 15 s, and the last job ends
/// at 19.98 s, inside the window). Busy time 198 x 80 + 2,050 = 17,890 ms exactly in both systems.
#[test]
fn a_hung_job_counts_until_it_completes() {
    let s = scenario(
        r#"
name = "hang"
duration = "20s"
[workload]
rate = 10.0
arrivals = "constant"
[[groups]]
name = "g"
processing = "80ms"
[kafka]
linger = "0ms"
[[faults]]
at = "5050ms"
action = "hang"
target = "g/0"
duration = "2s"
"#,
    );
    for r in run_all(&s) {
        let c = r.recorder.busy.groups[0][0];
        assert_eq!(c.busy_ns, 17_890_000_000, "{:?} busy time", r.system);
        assert_eq!(c.processed_in_window, 199, "{:?}", r.system);
    }
}
