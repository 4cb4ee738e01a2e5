//! The delivery chart, the fault and rebalance bands of the time charts, the delivery rows of the
//! table and the `acknowledged_per_s` / `failed_per_s` columns: what a reader sees must be the
//! checker's and the schedule's figures exactly.

use crate::common::{run_all as run, scenario, svg};
use pushpull::history::{ClientEvent, History, Observation};
use pushpull::metrics::{Annotation, AnnotationKind, FaultSpan, Recorder};
use pushpull::report::charts::{chart_svgs, svg_to_png, write_charts};
use pushpull::report::table::thousands;
use pushpull::report::{Summary, SystemRun, summary, timeseries_csv};
use pushpull::scenario::Scenario;
use pushpull::time::SimTime;

/// Two consumers at 75% load, prefetch 10; consumer 0 is killed at 60 s and restarts 10 s later
/// (as in `failures.rs`). Without publisher confirms: `unavailable_s` is not measurable.
fn consumer_crash(ack: &str) -> String {
    format!(
        r#"
        name = "consumer-crash"
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

/// The queue's node dies at 90 s holding a backlog of transient, confirmed messages, and comes
/// back 20 s later; a consumer hangs from 20 s to 35 s before. Publisher confirms: the producer
/// is stalled while the node is down.
const NODE_CRASH: &str = r#"
name = "node-crash"
duration = "3m"
systems = ["rabbitmq"]
[workload]
rate = 40.0
phases = [{ at = "2m", rate = 0.0 }]
[[groups]]
name = "g"
consumers = 2
processing = "100ms"
[rabbitmq]
prefetch = 10
publisher_confirms = true
[[faults]]
at = "90s"
action = "crash"
target = "broker-0"
duration = "20s"
[[faults]]
at = "20s"
action = "hang"
target = "g/1"
duration = "15s"
"#;

/// The node dies at 60 s and never comes back (the drain is bounded): the producer gives up on
/// messages (publish failures), and confirmed messages on the node are unavailable, not lost.
const NODE_DOWN: &str = r#"
name = "node-down"
duration = "4m"
drain = "1m"
systems = ["rabbitmq"]
[workload]
rate = 20.0
[[groups]]
name = "g"
consumers = 1
processing = "80ms"
[rabbitmq]
prefetch = 10
publisher_confirms = true
persistent = true
[[faults]]
at = "60s"
action = "crash"
target = "broker-0"
[[faults]]
at = "30s"
action = "hang"
target = "g/0"
duration = "20s"
"#;

/// Both systems, two groups, no faults.
const FAULT_FREE: &str = r#"
name = "fault-free"
duration = "60s"
[workload]
rate = 50.0
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "30ms" }
[[groups]]
name = "audit"
processing = { distribution = "exponential", mean = "10ms" }
[kafka]
partitions = 2
"#;

/// The `<text>` elements of an SVG, in drawing order: (x, y, text).
fn texts(svg: &str) -> Vec<(i32, i32, String)> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text ") {
        let tag_end = start + rest[start..].find('>').unwrap();
        let close = tag_end + rest[tag_end..].find("</text>").unwrap();
        let tag = &rest[start..tag_end];
        let text = rest[tag_end + 1..close].trim().replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
        out.push((attr(tag, "x") as i32, attr(tag, "y") as i32, text));
        rest = &rest[close..];
    }
    out
}

/// `<rect>` elements: (x, y, width, height, opacity, fill).
fn rects(svg: &str) -> Vec<(i32, i32, i32, i32, f64, String)> {
    svg.split("<rect ")
        .skip(1)
        .map(|r| {
            let tag = &format!(" {}", &r[..r.find("/>").unwrap()]);
            let fill = tag.split("fill=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
            let n = |k| attr(tag, k) as i32;
            (n("x"), n("y"), n("width"), n("height"), attr(tag, "opacity"), fill)
        })
        .collect()
}

fn attr(tag: &str, key: &str) -> f64 {
    let pat = format!(" {key}=\"");
    let from = tag.find(&pat).unwrap_or_else(|| panic!("no {key} in {tag}")) + pat.len();
    tag[from..].split('"').next().unwrap().parse().unwrap()
}

/// The labels above the bars of `category`, one per system in the runs' order: the texts drawn
/// just before the category's name (which may be wrapped over two lines).
fn bar_labels(svg: &str, category: &str, systems: usize) -> Vec<String> {
    let t = texts(svg);
    // The last match: "unavailable" is also the second line of "acknowledged, unavailable".
    let at = (0..t.len())
        .rev()
        .find(|&i| {
            (1..=2).any(|k| {
                i + k <= t.len() && t[i..i + k].iter().map(|x| x.2.as_str()).collect::<Vec<_>>().join(" ") == category
            })
        })
        .unwrap_or_else(|| panic!("no category {category:?}"));
    t[at - systems..at].iter().map(|x| x.2.clone()).collect()
}

/// Every text of the SVG, joined by spaces: what a reader reads, wrapped lines joined again.
fn words(svg: &str) -> String {
    texts(svg).into_iter().map(|x| x.2).collect::<Vec<_>>().join(" ")
}

/// What the chart must show for each system, from summary.json's `delivery`.
fn expected(sum: &Summary, runs: &[SystemRun]) -> Vec<(&'static str, Vec<String>)> {
    let d = |f: &dyn Fn(&pushpull::checker::DeliveryReport) -> u64| {
        runs.iter().map(|r| thousands(f(&sum.systems[r.system.name()].delivery))).collect::<Vec<_>>()
    };
    vec![
        ("acknowledged lost", d(&|x| x.total.acknowledged_lost)),
        ("unacknowledged lost", d(&|x| x.total.unacknowledged_lost)),
        ("duplicates", d(&|x| x.total.duplicates)),
        ("redelivered", d(&|x| x.total.redelivered)),
    ]
}

/// Checks every bar label of the delivery chart against the summary; returns the chart.
fn check_delivery_chart(s: &Scenario, runs: &[SystemRun]) -> String {
    let sum = summary(s, runs);
    let svgs = chart_svgs(s, runs).unwrap();
    let chart = svg(&svgs, "delivery").to_string();
    for (category, want) in expected(&sum, runs) {
        assert_eq!(bar_labels(&chart, category, runs.len()), want, "{}: {category}", s.name);
    }
    let shown = bar_labels(&chart, "unavailable", runs.len());
    for (r, label) in runs.iter().zip(&shown) {
        match sum.systems[r.system.name()].delivery.unavailable_s {
            None => assert_eq!(label, "n/a", "{}: not measurable must read n/a", s.name),
            Some(v) => {
                let secs: f64 = label.strip_suffix(" s").unwrap().replace(',', "").parse().unwrap();
                assert!((secs - v).abs() < 0.0005, "{}: unavailable {label} for {v} s", s.name);
            }
        }
    }
    chart
}

/// The bars' labels are summary.json's delivery figures, for each system; a figure that cannot be
/// measured reads "n/a" (never "0 s"), and the subtitle names the faults.
#[test]
fn delivery_chart_labels_are_the_summary_figures() {
    // Manual ack: the killed consumer's window is redelivered; no confirms: n/a.
    let s = scenario(&consumer_crash("manual"));
    let runs = run(&s);
    assert!(runs[0].delivery.total.redelivered > 0 && runs[0].delivery.unavailable_s.is_none());
    let chart = check_delivery_chart(&s, &runs);
    assert!(words(&chart).contains("g/0 crashed at 60 s for 10 s"), "the subtitle names the fault");
    assert!(!chart.contains(">\n0 s\n<"), "n/a drawn as 0 s");
    // Auto-ack: what the killed consumer held is lost, unacknowledged.
    let s = scenario(&consumer_crash("auto"));
    let runs = run(&s);
    assert!(runs[0].delivery.total.unacknowledged_lost > 0);
    check_delivery_chart(&s, &runs);
    // Confirmed transient messages die with the node; the producer is stalled while it is down.
    let s = scenario(NODE_CRASH);
    let runs = run(&s);
    let d = &runs[0].delivery;
    assert!(d.total.acknowledged_lost > 100 && d.unavailable_s.is_some_and(|u| u > 10.0), "{d:?}");
    let chart = check_delivery_chart(&s, &runs);
    assert!(words(&chart).contains("g/1 hung at 20 s for 15 s; broker-0 down at 90 s for 20 s"));
    // Both systems, no faults: every count 0, drawn and labelled; RabbitMQ without confirms n/a.
    let s = scenario(FAULT_FREE);
    let runs = run(&s);
    let chart = check_delivery_chart(&s, &runs);
    assert!(words(&chart).contains("No faults in this scenario."));
    assert_eq!(bar_labels(&chart, "duplicates", 2), ["0", "0"]);
    assert_eq!(bar_labels(&chart, "unavailable", 2), ["0 s", "n/a"]);
    for system in ["kafka", "rabbitmq"] {
        assert!(texts(&chart).iter().any(|t| t.2 == system), "legend lacks {system}");
    }
}

/// A node down at the end: messages it still holds are "stranded", not lost (the same rule as a
/// bounded drain), and the chart shows them in their own bar rather than reading "0 lost". The producer gave up on some
/// messages: `failed_per_s` adds up to `publish_failures`, `acknowledged_per_s` to `acknowledged`.
#[test]
fn a_node_never_restarted_shows_unavailable_and_failures() {
    let s = scenario(NODE_DOWN);
    let runs = run(&s);
    let d = &runs[0].delivery;
    assert!(d.publish_failures > 0 && d.acknowledged > 0, "{d:?}");
    let chart = check_delivery_chart(&s, &runs);
    // What the down node still holds is stranded (not lost), and the chart shows it in its own bar.
    assert!(d.total.stranded > 0, "{d:?}");
    assert_eq!(bar_labels(&chart, "stranded", 1), [thousands(d.total.stranded)]);
    assert_eq!(d.total.stranded, runs[0].recorder.summarize(&["g".to_string()], runs[0].end.at).stranded);
    assert!(words(&chart).contains("broker-0 down at 60 s, never restarted"), "the subtitle says it never came back");
    // The CSV's rates, times their intervals, are the checker's counts.
    let csv = timeseries_csv(&s, &runs);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (time, ack, failed) = (col("time_s"), col("acknowledged_per_s"), col("failed_per_s"));
    let (mut prev, mut acks, mut fails) = (0.0, 0.0, 0.0);
    for row in csv.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let t: f64 = f[time].parse().unwrap();
        acks += f[ack].parse::<f64>().unwrap() * (t - prev);
        fails += f[failed].parse::<f64>().unwrap() * (t - prev);
        prev = t;
    }
    assert_eq!(acks.round() as u64, d.acknowledged, "acknowledged_per_s adds up to acknowledged");
    assert_eq!(fails.round() as u64, d.publish_failures, "failed_per_s adds up to publish_failures");
    // The bands: the hang from 30 to 50 s; the crash from 60 s to the end of the run.
    let spans = &runs[0].recorder.faults;
    let t = |secs: u64| SimTime(secs * 1_000_000_000);
    assert_eq!(spans.iter().map(|x| (x.start, x.end)).collect::<Vec<_>>(), vec![(t(30), Some(t(50))), (t(60), None)]);
    let svgs = chart_svgs(&s, &runs).unwrap();
    for stem in ["throughput", "backlog", "storage"] {
        let chart = svg(&svgs, stem);
        let (x0, x1) = band(chart, FAULT_FILL, 1);
        // The run ends at 5 min (4 min, then the 1 min drain): the axis' last tick.
        let (x1_min, x5_min) = (tick_x(chart, "1"), tick_x(chart, "5"));
        assert!((x0 - x1_min).abs() <= 1, "{stem}: the crash band starts at {x0}, 1 min is at {x1_min}");
        assert!((x1 - x5_min).abs() <= 1, "{stem}: the lasting band ends at {x1}, the run's end at {x5_min}");
        assert!(texts(chart).iter().any(|x| x.2 == "broker-0 down, never restarted"), "{stem}: label");
    }
    // The terminal table.
    let table = pushpull::report::table::render(&summary(&s, &runs));
    let row = |label: &str| {
        table.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} row in\n{table}")).to_string()
    };
    assert!(row("publish failures").ends_with(&thousands(d.publish_failures)));
    assert!(row("acknowledged ").ends_with(&thousands(d.acknowledged)));
}

/// The fault band's fill (violet, tinted) and the rebalance band's (teal).
const FAULT_FILL: (&str, f64) = ("#783CAA", 0.12);
const REBALANCE_FILL: (&str, f64) = ("#008278", 0.3);

/// The pixel span (left, right) of the `nth` band of a kind in a chart.
fn band(svg: &str, (fill, opacity): (&str, f64), nth: usize) -> (i32, i32) {
    let bands: Vec<_> = rects(svg).into_iter().filter(|r| r.5 == fill && (r.4 - opacity).abs() < 1e-9).collect();
    let r = bands.get(nth).unwrap_or_else(|| panic!("no band {nth} of {fill} among {}", bands.len()));
    (r.0, r.0 + r.2)
}

/// Pixel x of a value on the time axis, from the axis' tick labels (drawn at their value).
fn tick_x(svg: &str, value: &str) -> i32 {
    let t = texts(svg);
    // The x axis' tick labels are the lowest texts with that value.
    t.iter().filter(|x| x.2 == value).max_by_key(|x| x.1).unwrap_or_else(|| panic!("no tick {value}")).0
}

/// The consumer crash's band spans exactly 60 s to 70 s in every time chart, labelled; the
/// recorder has exactly that span; nothing else is tinted.
#[test]
fn a_fault_band_spans_the_crash_to_the_restart() {
    let s = scenario(&consumer_crash("manual"));
    let runs = run(&s);
    let t = |secs: u64| SimTime(secs * 1_000_000_000);
    assert_eq!(runs[0].recorder.faults, vec![FaultSpan { step: 0, start: t(60), end: Some(t(70)) }]);
    let svgs = chart_svgs(&s, &runs).unwrap();
    for stem in ["throughput", "backlog", "storage"] {
        let chart = svg(&svgs, stem);
        let (x60, x80) = (tick_x(chart, "60"), tick_x(chart, "80"));
        let (from, to) = band(chart, FAULT_FILL, 0);
        assert!((from - x60).abs() <= 1, "{stem}: band starts at {from}, 60 s is at {x60}");
        assert!((to - (x60 + x80) / 2).abs() <= 1, "{stem}: band ends at {to}, 70 s is at {}", (x60 + x80) / 2);
        assert!(texts(chart).iter().any(|x| x.2 == "g/0 crashed"), "{stem}: no label");
        assert!(texts(chart).iter().any(|x| x.2 == "fault (crash to restart)"), "{stem}: no legend");
        assert_eq!(rects(chart).iter().filter(|r| r.5 == FAULT_FILL.0).count(), 2, "{stem}: one band, one swatch");
    }
    assert!(!svg(&svgs, "latency").contains(FAULT_FILL.0), "no bands on a percentile chart");
}

/// Labels at the top of a time chart never overlap, however close the faults: each label's white
/// backing is clear of every other's.
#[test]
fn fault_labels_do_not_overlap() {
    let s = scenario(
        r#"
        name = "many-faults"
        duration = "2m"
        warmup = "10s"
        systems = ["rabbitmq"]
        [workload]
        rate = 30.0
        [[groups]]
        name = "orders"
        consumers = 3
        processing = "20ms"
        [[faults]]
        at = "11s"
        action = "hang"
        target = "orders/0"
        duration = "30s"
        [[faults]]
        at = "12s"
        action = "crash"
        target = "orders/1"
        duration = "5s"
        [[faults]]
        at = "14s"
        action = "crash"
        target = "orders/2"
        [[faults]]
        at = "15s"
        action = "crash"
        target = "broker-0"
        duration = "3s"
        [[faults]]
        at = "110s"
        action = "hang"
        target = "orders/1"
        duration = "5s"
        "#,
    );
    let runs = run(&s);
    assert_eq!(runs[0].recorder.faults.len(), 5);
    let svgs = chart_svgs(&s, &runs).unwrap();
    for stem in ["throughput", "backlog", "storage"] {
        let chart = svg(&svgs, stem);
        for label in [
            "orders/0 hung",
            "orders/1 crashed",
            "orders/2 crashed, never restarted",
            "broker-0 down",
            "orders/1 hung",
            "warmup ends",
        ] {
            assert!(texts(chart).iter().any(|x| x.2 == label), "{stem}: no {label:?}");
        }
        let backs: Vec<_> = rects(chart).into_iter().filter(|r| r.5 == "#FFFFFF" && r.4 < 1.0).collect();
        assert!(backs.len() >= 7, "{stem}: {} label backings", backs.len());
        // Every label sits in the rows reserved above the plot, so it hides no data: the fault
        // bands start at the plot's top edge (the legend's swatch is higher up).
        let plot_top = rects(chart).into_iter().filter(|r| r.5 == "#783CAA").map(|r| r.1).max().unwrap();
        for b in &backs {
            assert!(b.1 + b.3 <= plot_top + 1, "{stem}: a label box {b:?} reaches into the plot (top {plot_top})");
        }
        for (i, a) in backs.iter().enumerate() {
            for b in &backs[i + 1..] {
                let apart = a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                assert!(apart, "{stem}: labels overlap: {a:?} and {b:?}");
            }
        }
    }
}

/// Kafka rebalances (none of the models emits them yet, so they are put in by hand) are narrow
/// teal bands from start to end, in the group's own backlog panel and its lag strip, and named
/// by group on the charts of all groups.
#[test]
fn rebalances_are_narrow_bands_of_their_group() {
    let s = scenario(FAULT_FREE);
    let mut runs = run(&s);
    let t = |secs: u64| SimTime(secs * 1_000_000_000);
    let kafka = runs.iter_mut().find(|r| r.system.name() == "kafka").unwrap();
    kafka.recorder.annotations.push(Annotation {
        kind: AnnotationKind::Rebalance,
        group: Some(0),
        first: t(20),
        last: t(23),
        interval_end: t(21),
        count: 1,
        acknowledged: 0,
    });
    let svgs = chart_svgs(&s, &runs).unwrap();
    for (stem, bands) in [("throughput", 1), ("backlog", 2), ("storage", 1)] {
        let chart = svg(&svgs, stem);
        let n = rects(chart).iter().filter(|r| r.5 == REBALANCE_FILL.0 && r.4 == REBALANCE_FILL.1).count();
        assert_eq!(n, bands, "{stem}: rebalance bands");
        assert!(texts(chart).iter().any(|x| x.2 == "kafka group rebalancing"), "{stem}: legend");
        let (from, to) = band(chart, REBALANCE_FILL, 0);
        let (x20, x30) = (tick_x(chart, "20"), tick_x(chart, "30"));
        assert!((from - x20).abs() <= 1 && (to - (x20 + (x30 - x20) * 3 / 10)).abs() <= 1, "{stem}: {from}..{to}");
    }
    let label = |stem| texts(svg(&svgs, stem)).into_iter().map(|x| x.2).filter(|x| x.contains("rebalance")).count();
    assert!(words(svg(&svgs, "throughput")).contains("billing: rebalance"));
    assert_eq!(label("backlog"), 1, "the billing panel's label; not audit's");
}

/// A hand-made history: fault steps open and close spans (a repair expanded from a `duration`,
/// a `resume` written in the file, a crash never repaired); rebalances of one interval merge; the
/// producer's confirms and failures are counted per interval, including at the run's last
/// instant, on a sample boundary.
#[test]
fn recorder_collects_faults_rebalances_and_confirms() {
    let s = scenario(
        r#"
duration = "10s"
sample_interval = "1s"
systems = ["rabbitmq"]
[workload]
rate = 1.0
[[groups]]
name = "g"
consumers = 2
processing = "1ms"
[[groups]]
name = "h"
processing = "1ms"
[[faults]]
at = "1s"
action = "crash"
target = "g/0"
duration = "2s"
[[faults]]
at = "2s"
action = "hang"
target = "g/1"
[[faults]]
at = "4s"
action = "resume"
target = "g/1"
[[faults]]
at = "5s"
action = "crash"
target = "broker-0"
"#,
    );
    let mut rec = Recorder::new(&s);
    let t = |x: f64| SimTime((x * 1e9).round() as u64);
    // Steps in time order: 0 crash g/0 (1 s), 1 hang g/1 (2 s), 2 restart g/0 (3 s), 3 resume
    // g/1 (4 s), 4 crash broker-0 (5 s).
    let fault = |step| Observation::Fault { step };
    let rebalance = |group, started| Observation::Rebalance { group, started };
    let client = Observation::Client;
    let history = [
        (0.5, client(ClientEvent::Acknowledged { id: 0 })),
        (0.6, client(ClientEvent::Acknowledged { id: 1 })),
        (1.0, fault(0)),
        (1.2, rebalance(0, true)),
        (1.3, rebalance(1, true)),
        (1.4, rebalance(0, false)),
        (1.5, rebalance(1, false)),
        (1.5, client(ClientEvent::SendFailed { id: 2 })),
        (1.6, rebalance(0, true)), // same interval as the first: merged
        (1.7, rebalance(0, false)),
        (2.0, fault(1)),
        (2.5, rebalance(0, true)),
        (2.6, rebalance(0, true)), // restarted while under way: the same band
        (3.0, fault(2)),
        (3.5, rebalance(0, false)),
        (4.0, fault(3)),
        (5.0, fault(4)),
        (8.5, rebalance(0, true)), // never ends
        (10.0, client(ClientEvent::Acknowledged { id: 3 })),
    ];
    for (at, obs) in history {
        rec.record(t(at), obs);
    }
    rec.finish(t(10.0));
    let span = |step, start, end: Option<f64>| FaultSpan { step, start: t(start), end: end.map(t) };
    assert_eq!(rec.faults, vec![span(0, 1.0, Some(3.0)), span(1, 2.0, Some(4.0)), span(4, 5.0, None)]);
    let notes: Vec<_> = rec.annotations.iter().map(|a| (a.group, a.first, a.last, a.interval_end, a.count)).collect();
    assert_eq!(
        notes,
        vec![
            (Some(0), t(1.2), t(1.7), t(2.0), 2),
            (Some(1), t(1.3), t(1.5), t(2.0), 1),
            (Some(0), t(2.5), t(3.5), t(3.0), 2),
            (Some(0), t(8.5), t(10.0), t(9.0), 1),
        ]
    );
    assert!(rec.annotations.iter().all(|a| a.kind == AnnotationKind::Rebalance));
    // One row per group and interval; the producer's rates repeat on each group's row.
    let rates: Vec<(f64, f64)> =
        rec.samples.iter().filter(|x| x.group == 0).map(|x| (x.acknowledged_per_s, x.failed_per_s)).collect();
    let mut want = vec![(0.0, 0.0); 10];
    want[0] = (2.0, 0.0);
    want[1] = (0.0, 1.0);
    want[9] = (1.0, 0.0); // at 10 s exactly, folded into the last interval
    assert_eq!(rates, want);
    let h: Vec<(f64, f64)> =
        rec.samples.iter().filter(|x| x.group == 1).map(|x| (x.acknowledged_per_s, x.failed_per_s)).collect();
    assert_eq!(h, want);
}

/// The same run gives the same delivery chart and fault bands, SVG and PNG byte for byte; the PNG
/// is its SVG rasterised.
#[test]
fn delivery_and_fault_charts_are_deterministic() {
    let s = scenario(NODE_CRASH);
    let dir = |tag: &str| {
        let d = std::env::temp_dir().join(format!("pushpull-it-delivery-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    };
    let (a, b) = (dir("a"), dir("b"));
    write_charts(&a, &s, &run(&s)).unwrap();
    write_charts(&b, &s, &run(&s)).unwrap();
    for stem in ["delivery", "throughput", "backlog", "storage"] {
        let read = |d: &std::path::Path, ext: &str| std::fs::read(d.join(format!("{stem}.{ext}"))).unwrap();
        assert_eq!(read(&a, "svg"), read(&b, "svg"), "{stem}.svg differs between identical runs");
        assert_eq!(read(&a, "png"), read(&b, "png"), "{stem}.png differs between identical runs");
        let text = String::from_utf8(read(&a, "svg")).unwrap();
        assert_eq!(read(&a, "png"), svg_to_png(&text).unwrap(), "{stem}.png is not its SVG rasterised");
    }
    for d in [a, b] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// The table's delivery rows: the checker's counts, "n/a" for a figure that cannot be measured.
#[test]
fn table_has_the_delivery_rows() {
    let s = scenario(&consumer_crash("manual"));
    let runs = run(&s);
    let sum = summary(&s, &runs);
    let table = pushpull::report::table::render(&sum);
    let d = &runs[0].delivery;
    let value = |label: &str| {
        let line = table.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} in\n{table}"));
        line.split_whitespace().last().unwrap().to_string()
    };
    assert_eq!(value("acknowledged lost"), thousands(d.total.acknowledged_lost));
    assert_eq!(value("unacknowledged lost"), thousands(d.total.unacknowledged_lost));
    assert_eq!(value("publish failures"), thousands(d.publish_failures));
    assert_eq!(value("duplicates (checker)"), thousands(d.total.duplicates));
    assert_eq!(value("redelivered"), thousands(d.total.redelivered));
    assert_eq!(value("out of order"), thousands(d.total.out_of_order));
    assert_eq!(value("unavailable (s)"), "n/a");
    // The recorder's rows are still there.
    for label in ["duplicates ", "lost ", "max backlog", "peak stored"] {
        assert!(table.lines().any(|l| l.starts_with(label)), "no {label} row");
    }
}
