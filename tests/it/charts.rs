//! Charts and the recorder's gauges must not mislead: peaks in the charts are the summary's
//! exactly (gauges are maxima over each interval, not values at sample instants), losses are
//! marked and add up, the PNG is the SVG rasterised with the bundled font, byte for byte the same
//! for the same run, and the terminal table names its time unit.

use crate::common::{run_all as run, scenario, svg};
use pushpull::history::{ClientEvent, History, Observation};
use pushpull::metrics::{AnnotationKind, Recorder};
use pushpull::report::charts::{chart_svgs, svg_to_png, write_charts};
use pushpull::report::summary;
use pushpull::report::table::{bytes, thousands};
use pushpull::scenario::SystemKind;
use pushpull::time::SimTime;
use pushpull::workload::{Message, StoredMessage};

/// A burst above the consumer's capacity (50/s) with a retention (2 min) shorter than the time
/// the backlog takes to drain: both systems build a backlog, Kafka loses records to retention and
/// to `auto.offset.reset = latest`.
const BURST: &str = r#"
name = "burst"
seed = 11
duration = "20m"
warmup = "0s"
[workload]
rate = 30.0
phases = [{ at = "5m", rate = 70.0 }, { at = "12m", rate = 30.0 }]
message_bytes = 512
[[groups]]
name = "reports"
consumers = 1
processing = { distribution = "exponential", mean = "20ms" }
[kafka]
partitions = 1
retention = "2m"
segment_bytes = "64KiB"
retention_check_interval = "20s"
[rabbitmq]
prefetch = 20
"#;

/// Two groups of very different pace, so that each gets its own panel.
const TWO_GROUPS: &str = r#"
name = "two-groups"
seed = 5
duration = "10m"
warmup = "30s"
profile = "lan"
[workload]
rate = 90.0
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "20ms" }
[[groups]]
name = "audit"
consumers = 1
processing = { distribution = "exponential", mean = "12ms" }
[kafka]
partitions = 2
"#;

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pushpull-it-charts-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The peaks a reader sees (legend, panel captions) are the summary's, for both systems; and so
/// are the peaks of the time series. Sampling the gauges at sample instants instead would miss
/// them: checked below, so that this scenario really tells the two apart.
#[test]
fn chart_peaks_equal_summary_peaks() {
    for text in [BURST, TWO_GROUPS] {
        let s = scenario(text);
        let runs = run(&s);
        let sum = summary(&s, &runs);
        let svgs = chart_svgs(&s, &runs).unwrap();
        let several = s.groups.len() > 1;
        let mut aliased = 0;
        for r in &runs {
            let sys = r.system.name();
            let total = &sum.systems[sys];
            assert!(total.max_backlog > 0, "{sys}: the scenario must build a backlog");
            for (gi, g) in s.groups.iter().enumerate() {
                let gs = &total.groups[&g.name];
                let rows: Vec<_> = r.recorder.samples.iter().filter(|x| x.group == gi).collect();
                let peak = |f: fn(&pushpull::metrics::Sample) -> u64| rows.iter().map(|x| f(x)).max().unwrap();
                let tag = format!("{} {sys} {}", s.name, g.name);
                assert_eq!(peak(|x| x.backlog_max), gs.max_backlog, "{tag}: backlog");
                assert_eq!(peak(|x| x.consumer_lag_max), gs.max_consumer_lag, "{tag}: consumer lag");
                assert_eq!(peak(|x| x.unacked_max), gs.max_unacked, "{tag}: unacked");
                if peak(|x| x.in_flight) < gs.max_backlog {
                    aliased += 1;
                }
                if peak(|x| x.consumer_lag) < gs.max_consumer_lag {
                    aliased += 1;
                }
                // What the reader sees.
                let backlog = svg(&svgs, "backlog");
                let shown = if several {
                    format!("{}: peak backlog", g.name)
                } else {
                    format!("{sys} backlog (peak {})", thousands(gs.max_backlog))
                };
                assert!(backlog.contains(&shown), "{tag}: backlog chart lacks {shown:?}");
                if several {
                    let part = format!("{sys} {}", thousands(gs.max_backlog));
                    let caption = backlog.lines().find(|l| l.starts_with(&shown)).unwrap();
                    assert!(caption.contains(&part), "{tag}: caption {caption:?} lacks {part:?}");
                }
                if r.system == SystemKind::Kafka {
                    let lag = format!("kafka consumer lag, its own scale (peak {})", thousands(gs.max_consumer_lag));
                    assert!(backlog.contains(&lag), "{tag}: backlog chart lacks {lag:?}");
                }
            }
            let stored = r.recorder.samples.iter().map(|x| x.stored_bytes_max).max().unwrap();
            assert_eq!(stored, total.peak_stored_bytes, "{sys}: stored bytes");
            let label = format!("(peak {})", bytes(total.peak_stored_bytes));
            assert!(
                svg(&svgs, "storage").lines().any(|l| l.starts_with(sys) && l.contains(&label)),
                "{sys}: storage legend lacks {label}"
            );
        }
        assert!(aliased > 0, "{}: sampling at instants would have shown the same peaks", s.name);
    }
}

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
    let processed = |i: usize| Observation::Client(ClientEvent::Processed { msg: sm[i], group: 0, consumer: 0 });
    let backlog = |messages, unacked| Observation::Backlog { group: 0, messages, unacked };
    // Interval (0, 1 s]: in flight 1, 2, then 1; the lag gauge spikes to 40 between samples.
    rec.record(t(0.1), Observation::Client(ClientEvent::Sent { msg: m[0] }));
    rec.record(t(0.1), Observation::StorageChanged { delta: 100 });
    rec.record(t(0.2), Observation::Client(ClientEvent::Sent { msg: m[1] }));
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
    rec.record(t(2.1), Observation::Client(ClientEvent::Sent { msg: m[2] }));
    rec.record(t(2.2), Observation::Client(ClientEvent::Sent { msg: m[3] }));
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

/// Kafka's losses are marked where they happen, and the marked counts add up to `lost`; the
/// latency chart says that Kafka's curves leave them out.
#[test]
fn losses_are_marked_and_add_up() {
    let s = scenario(BURST);
    let runs = run(&s);
    let sum = summary(&s, &runs);
    let kafka = runs.iter().find(|r| r.system == SystemKind::Kafka).unwrap();
    let lost = sum.systems["kafka"].lost;
    assert!(lost > 1000, "the scenario must make Kafka lose records: {lost}");
    assert_eq!(sum.systems["rabbitmq"].lost, 0);
    let counted: u64 = kafka
        .recorder
        .annotations
        .iter()
        .filter(|a| matches!(a.kind, AnnotationKind::RetentionLost | AnnotationKind::OffsetReset))
        .map(|a| a.count)
        .sum();
    assert_eq!(counted, lost, "retention losses plus skipped records are every lost record");
    let svgs = chart_svgs(&s, &runs).unwrap();
    for stem in ["throughput", "backlog", "storage"] {
        let text = svg(&svgs, stem);
        assert!(text.contains("kafka: offset reset skipped"), "{stem}: no offset reset marker");
        assert!(text.contains("kafka retention deleted expired segments"), "{stem}: no retention legend");
    }
    let pct = lost as f64 * 100.0 / sum.systems["kafka"].published as f64;
    let pct = format!("{pct:.1}");
    let note = format!("its curves leave out {} lost messages ({}%)", thousands(lost), pct.trim_end_matches(".0"));
    assert!(svg(&svgs, "latency").contains(&note), "latency chart lacks {note:?}");
}

/// The same run gives the same PNG and SVG bytes; the PNG is the SVG rasterised (so its text is
/// laid out like the SVG's), at the SVG's size; another seed gives other pictures.
#[test]
fn png_is_the_svg_rasterised_and_deterministic() {
    let s = scenario(TWO_GROUPS);
    let (a, b, c) = (tmpdir("a"), tmpdir("b"), tmpdir("c"));
    write_charts(&a, &s, &run(&s)).unwrap();
    write_charts(&b, &s, &run(&s)).unwrap();
    let mut other = scenario(TWO_GROUPS);
    other.seed = 6;
    write_charts(&c, &other, &run(&other)).unwrap();
    for stem in ["throughput", "backlog", "latency", "storage"] {
        let read = |d: &std::path::Path, ext: &str| std::fs::read(d.join(format!("{stem}.{ext}"))).unwrap();
        let (png, svg_bytes) = (read(&a, "png"), read(&a, "svg"));
        assert_eq!(png, read(&b, "png"), "{stem}.png differs between identical runs");
        assert_eq!(svg_bytes, read(&b, "svg"), "{stem}.svg differs between identical runs");
        assert_ne!(png, read(&c, "png"), "{stem}.png is the same with another seed");
        let svg_text = String::from_utf8(svg_bytes).unwrap();
        assert_eq!(png, svg_to_png(&svg_text).unwrap(), "{stem}.png is not its SVG rasterised");
        let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
        let size = format!(r#"<svg width="{}" height="{}""#, be(16), be(20));
        assert!(svg_text.starts_with(&size), "{stem}: PNG {}x{} but SVG {}", be(16), be(20), &svg_text[..40]);
    }
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Text reaches the PNG from the bundled font alone, whatever family the SVG asks for: with no
/// font (no system fonts are loaded) resvg would silently draw nothing.
#[test]
fn png_text_uses_the_bundled_font() {
    for family in ["sans-serif", "Times New Roman", "DejaVu Sans"] {
        let svg = format!(
            r##"<svg width="160" height="40" viewBox="0 0 160 40" xmlns="http://www.w3.org/2000/svg"><rect width="160" height="40" fill="#FFFFFF"/><text x="5" y="30" font-family="{family}" font-size="24" fill="#000000">Kafka lag</text></svg>"##
        );
        let png = svg_to_png(&svg).unwrap();
        let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).unwrap();
        let dark = pixmap.pixels().iter().filter(|p| p.red() < 100).count();
        assert!(dark > 150, "{family}: only {dark} dark pixels: the text was not drawn");
    }
}

/// Long waits read in minutes in the terminal table, short ones in ms, and the label says which.
#[test]
fn table_names_the_unit_it_chose() {
    let s = scenario(BURST);
    let sum = summary(&s, &run(&s));
    let table = pushpull::report::table::render(&sum);
    let row = |label: &str| table.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label}"));
    // RabbitMQ's backlog of thousands at 50/s makes waits of minutes.
    let rabbit_max = sum.systems["rabbitmq"].latency_ms.max;
    assert!(rabbit_max > 120_000.0, "{rabbit_max}");
    let shown: f64 = row("latency max (min)").split_whitespace().last().unwrap().parse().unwrap();
    assert!((shown - rabbit_max / 60_000.0).abs() < 0.01, "{shown} min for {rabbit_max} ms:\n{table}");
    for line in table.lines().filter(|l| l.starts_with("wait") || l.starts_with("latency")) {
        assert!(
            ["(ms)", "(s)", "(min)", "(h)"].iter().any(|u| line.contains(u)),
            "a duration row without its unit: {line}"
        );
        let widest = line.split_whitespace().filter_map(|w| w.replace(',', "").parse::<f64>().ok()).fold(0.0, f64::max);
        assert!(widest < 1000.0, "a unit too small for {line}");
    }
}
