//! Charts for students: throughput, backlog, latency percentiles, broker storage, delivery
//! (what was lost, duplicated, redelivered, and how long the producer got no confirm) and
//! consumers (each consumer's busy fraction, idle ones named), each written
//! as SVG and as a PNG rasterised from that same SVG. Both systems share every picture, always in
//! the same colours (Kafka dark orange, RabbitMQ blue), with the offered load and the run's
//! landmarks (end of warmup, producers stop) in grey, Kafka's retention deletions and offset
//! resets marked where they happen, and on every time chart each fault of the schedule as a violet
//! band from the fault to its repair, and Kafka's rebalances as narrow teal bands.
//!
//! Rules that keep the pictures honest:
//! * each chart kind has one fixed scale, whichever systems ran: time charts are linear, the
//!   latency chart is logarithmic with a separate band for zero (and for values too small to draw);
//! * gauges are the maximum over each sample interval, so that a peak in a legend is the summary's;
//! * the backlog compares like with like (messages published and not yet processed, in both
//!   systems), Kafka's committed-offset lag is a secondary, labelled line;
//! * several consumer groups get one panel each;
//! * where the two systems' lines coincide, the subtitle says so.
//!
//! Text uses the bundled DejaVu Sans, for layout (registered with plotters as "sans-serif") and
//! for the PNG (the only font resvg is given), so no system font library is needed and the same
//! run gives the same bytes.

mod backlog;
pub mod compare;
mod consumers;
mod delivery;
mod draw;
mod latency;
mod raster;
mod storage;
pub mod sweep;
mod throughput;
mod utilisation;

use super::{ReportError, SystemRun};
use crate::metrics::{Annotation, AnnotationKind, FaultSpan, Sample};
use crate::scenario::faults::{Fault, FaultAction, FaultTarget};
use crate::scenario::{Assignor, GroupProtocol, Scenario, SystemKind};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

pub use raster::svg_to_png;

/// Picture size in pixels, with one panel.
const SIZE: (u32, u32) = (1000, 560);
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

const KAFKA: RGBColor = RGBColor(214, 82, 0);
const RABBITMQ: RGBColor = RGBColor(31, 101, 180);
const OFFERED: RGBColor = RGBColor(70, 70, 70);
/// The consumers' capacity line on the throughput chart.
const CAPACITY: RGBColor = RGBColor(40, 140, 60);
const MARKER: RGBColor = RGBColor(95, 95, 95);
/// Loss events (retention deleting unread records, offset resets): a dark red that is neither
/// system's colour.
const LOSS: RGBColor = RGBColor(170, 20, 40);
/// Retention deletions of records already read: a muted brown tick.
const RETENTION: RGBColor = RGBColor(150, 110, 80);
/// A fault in force (crash to restart, hang to resume, partition to heal): a violet band, a
/// colour neither system nor the losses use.
const FAULT: RGBColor = RGBColor(120, 60, 170);
/// A Kafka consumer group rebalancing: a narrow teal band.
const REBALANCE: RGBColor = RGBColor(0, 130, 120);
/// A resource alarm blocking publishers: amber, a warning neither system's colour.
const ALARM: RGBColor = RGBColor(215, 140, 0);
const ALARM_TEXT: RGBColor = RGBColor(150, 90, 0);
/// Label text of those bands, darker for contrast on white.
const FAULT_TEXT: RGBColor = RGBColor(95, 40, 140);
const REBALANCE_TEXT: RGBColor = RGBColor(0, 100, 92);
const GRID_BOLD: RGBColor = RGBColor(225, 225, 225);
const GRID_LIGHT: RGBColor = RGBColor(243, 243, 243);
const INK: RGBColor = RGBColor(25, 25, 25);
const SUBTLE: RGBColor = RGBColor(90, 90, 90);

/// Colour of a system, the same in every chart.
pub fn system_color(system: SystemKind) -> RGBColor {
    match system {
        SystemKind::Kafka => KAFKA,
        SystemKind::RabbitMq => RABBITMQ,
    }
}

/// Kafka's line is the wider one and is drawn first, so that where both systems coincide the
/// orange shows as a rim around the blue instead of disappearing under it.
fn system_width(system: SystemKind) -> u32 {
    match system {
        SystemKind::Kafka => 4,
        SystemKind::RabbitMq => 2,
    }
}

/// The charts' file names without `.png` / `.svg`, in the order they are drawn.
pub const CHART_STEMS: [&str; 6] = ["throughput", "backlog", "latency", "storage", "delivery", "consumers"];

/// The chart drawn besides [`CHART_STEMS`] when the brokers have a body (a calibrated profile):
/// their resources over time.
pub const COSTED_CHART_STEM: &str = "utilisation";

/// The chart files, in order ([`CHART_STEMS`], then [`COSTED_CHART_STEM`] under a calibrated
/// profile): stem and SVG text.
pub fn chart_svgs(s: &Scenario, runs: &[SystemRun]) -> Result<Vec<(&'static str, String)>, String> {
    draw::register_font()?;
    // One chart per stem, in the same order (the length is checked by the type).
    let charts: [_; CHART_STEMS.len()] = [
        throughput::chart(s, runs),
        backlog::chart(s, runs),
        latency::chart(s, runs),
        storage::chart(s, runs),
        delivery::chart(s, runs),
        consumers::chart(s, runs),
    ];
    let mut charts: Vec<(&'static str, Chart)> = CHART_STEMS.into_iter().zip(charts).collect();
    if s.body.is_some() {
        charts.push((COSTED_CHART_STEM, utilisation::chart(s, runs)));
    }
    charts.into_iter().map(|(stem, chart)| Ok((stem, svg(&chart).map_err(|e| format!("{stem}: {e}"))?))).collect()
}

/// Writes `throughput`, `backlog`, `latency`, `storage`, `delivery` and `consumers` charts, each as `.svg` and
/// `.png`, into `dir` (created if needed). Returns the files written.
pub fn write_charts(dir: &Path, s: &Scenario, runs: &[SystemRun]) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.display().to_string(), source })?;
    let svgs =
        chart_svgs(s, runs).map_err(|message| ReportError::Chart { path: dir.display().to_string(), message })?;
    let mut written = Vec::new();
    for (stem, svg) in &svgs {
        let png_path = dir.join(format!("{stem}.png"));
        let png =
            svg_to_png(svg).map_err(|message| ReportError::Chart { path: png_path.display().to_string(), message })?;
        super::write_atomic(&png_path, &png)?;
        written.push(png_path);
        let svg_path = dir.join(format!("{stem}.svg"));
        super::write_atomic(&svg_path, svg.as_bytes())?;
        written.push(svg_path);
    }
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// What to draw (backend independent)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dash {
    Solid,
    /// Dash length and gap, in pixels.
    Dashed(u32, u32),
}

#[derive(Clone, Debug)]
struct Line {
    label: String,
    color: RGBColor,
    dash: Dash,
    width: u32,
    points: Vec<(f64, f64)>,
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Glyph {
    Line(Dash),
    /// A small downward triangle, as the retention ticks at the top of a plot.
    Triangle,
    /// A vertical line, as the loss events.
    Rule,
    /// A tinted box with a rim, as the fault and rebalance bands.
    Band,
    /// A solid box, as the bars of the delivery and consumers charts.
    Bar,
}

#[derive(Clone, Debug)]
struct LegendItem {
    label: String,
    color: RGBColor,
    width: u32,
    glyph: Glyph,
}

impl From<&Line> for LegendItem {
    fn from(l: &Line) -> Self {
        LegendItem { label: l.label.clone(), color: l.color, width: l.width, glyph: Glyph::Line(l.dash) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::report) enum MarkerKind {
    /// Warmup end, producers stop: grey dashed line, grey label.
    Landmark,
    /// Something lost: dark red line and label.
    Loss,
    /// Retention deleted records already read: a small triangle at the top edge, no label (the
    /// legend explains it).
    Tick,
}

/// A vertical mark at time `x` (in the chart's time unit).
#[derive(Clone, Debug)]
pub(in crate::report) struct Marker {
    pub(in crate::report) x: f64,
    pub(in crate::report) label: String,
    pub(in crate::report) kind: MarkerKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::report) enum BandKind {
    /// A fault of the schedule, from its step to its repair (or the end of the run).
    Fault,
    /// A Kafka consumer group rebalancing.
    Rebalance,
    /// A RabbitMQ node's memory or disk alarm raised: publishing blocked.
    Alarm,
}

/// A stretch of time tinted across the plot, from `from` to `to` (in the chart's time unit), with
/// its label at the top (none for the later bands of a cluster already labelled).
#[derive(Clone, Debug, PartialEq)]
pub(in crate::report) struct Band {
    pub(in crate::report) from: f64,
    pub(in crate::report) to: f64,
    pub(in crate::report) label: String,
    pub(in crate::report) kind: BandKind,
}

#[derive(Clone, Copy, Debug)]
pub(in crate::report) struct TimeUnit {
    pub(in crate::report) secs: f64,
    pub(in crate::report) name: &'static str,
    pub(in crate::report) short: &'static str,
}

pub(in crate::report) fn time_unit(end_secs: f64) -> TimeUnit {
    if end_secs <= 180.0 {
        TimeUnit { secs: 1.0, name: "seconds", short: "s" }
    } else if end_secs <= 3.0 * 3600.0 {
        TimeUnit { secs: 60.0, name: "minutes", short: "min" }
    } else {
        TimeUnit { secs: 3600.0, name: "hours", short: "h" }
    }
}

#[derive(Clone, Copy, Debug)]
enum YFormat {
    Count,
    Decimal,
}

/// One plot of a time chart: a consumer group's, or the whole system's.
struct TimePanel {
    /// Above the plot (the group's name and peaks), when the chart has several panels.
    caption: Option<String>,
    /// Share of the chart's height, relative to the other panels.
    weight: u32,
    /// Whether loss events and landmarks carry their labels here (a strip under a panel repeats
    /// the lines only).
    label_markers: bool,
    y_desc: String,
    y_end: f64,
    y_format: YFormat,
    lines: Vec<Line>,
    markers: Vec<Marker>,
    /// Faults and rebalances, drawn under the lines.
    bands: Vec<Band>,
}

struct TimeChart {
    title: String,
    subtitle: String,
    legend: Vec<LegendItem>,
    x_desc: String,
    x_end: f64,
    panels: Vec<TimePanel>,
    size: (u32, u32),
}

enum Chart {
    Time(TimeChart),
    Latency(latency::LatencyChart),
    Delivery(delivery::DeliveryChart),
    Consumers(consumers::ConsumersChart),
}

/// Time span shown on the x axis: the whole run, drain included, and at least `duration`.
pub(in crate::report) fn run_end_secs(s: &Scenario, runs: &[SystemRun]) -> f64 {
    let last = runs.iter().filter_map(|r| r.recorder.samples.last()).map(|x| x.time.as_secs_f64()).fold(0.0, f64::max);
    let end = last.max(s.duration.as_secs_f64());
    if end.is_finite() && end > 0.0 { end } else { 1.0 }
}

pub(in crate::report) fn landmarks(s: &Scenario, unit: TimeUnit) -> Vec<Marker> {
    let mut out = Vec::new();
    if !s.warmup.is_zero() {
        out.push(Marker {
            x: s.warmup.as_secs_f64() / unit.secs,
            label: "warmup ends".into(),
            kind: MarkerKind::Landmark,
        });
    }
    out.push(Marker {
        x: s.duration.as_secs_f64() / unit.secs,
        label: "producers stop".into(),
        kind: MarkerKind::Landmark,
    });
    out
}

/// Kafka's retention deletions and offset resets, and messages a fault deleted unprocessed, as
/// markers for a panel showing `group` (`None`: all groups together). Loss events of one kind (retention deleting unread records, offset resets
/// skipping records) close together in time are merged into one labelled line; deletions of
/// records already read are unlabelled ticks, thinned so that they stay apart.
pub(in crate::report) fn event_markers(
    s: &Scenario,
    runs: &[SystemRun],
    unit: TimeUnit,
    x_end: f64,
    group: Option<usize>,
) -> Vec<Marker> {
    let mine = |g: Option<usize>| group.is_none() || g == group;
    let mut out = operation_markers(s, unit, group);
    let mut last_tick = f64::NEG_INFINITY;
    // Only a log has retention: Kafka's, or a RabbitMQ stream. (RabbitMQ reports a publish that
    // never reached the queue's node as deleted for every group too: a loss when it is never
    // re-published, marked below.)
    let stream = s.rabbitmq.stream.is_some();
    for r in runs.iter().filter(|r| r.system == SystemKind::Kafka || stream) {
        for a in r.recorder.annotations.iter().filter(|a| a.kind == AnnotationKind::RetentionDeleted) {
            let x = a.first.as_secs_f64() / unit.secs;
            if x - last_tick >= x_end * 0.006 {
                out.push(Marker { x, label: String::new(), kind: MarkerKind::Tick });
                last_tick = x;
            }
        }
    }
    let gap = (x_end * unit.secs * 0.03).max(s.sample_interval.as_secs_f64() * 2.0);
    for r in runs {
        let dropped = match r.system {
            SystemKind::Kafka if s.kafka.cleanup_policy.compacts() => "retention or compaction deleted {} unprocessed",
            SystemKind::Kafka => "retention deleted {} unprocessed",
            SystemKind::RabbitMq if stream && s.faults.is_empty() => "stream retention deleted {} unprocessed",
            SystemKind::RabbitMq if stream => "{} deleted by stream retention or never stored",
            SystemKind::RabbitMq => "{} publishes never reached the queue",
        };
        for (kind, what) in [
            (AnnotationKind::RetentionLost, dropped),
            (AnnotationKind::OffsetReset, "offset reset skipped {}"),
            (AnnotationKind::FaultLost, "{} lost at the fault"),
            (AnnotationKind::Truncated, "{} truncated by the new leader"),
        ] {
            // (first, last, count, of which acknowledged) of each cluster, in seconds.
            let mut clusters: Vec<(f64, f64, u64, u64)> = Vec::new();
            let mut events: Vec<(f64, u64, u64)> = r
                .recorder
                .annotations
                .iter()
                .filter(|a| a.kind == kind && mine(a.group))
                .filter(|a| a.count > 0 || kind == AnnotationKind::OffsetReset)
                .map(|a| (a.first.as_secs_f64(), a.count, a.acknowledged))
                .collect();
            events.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (t, count, acknowledged) in events {
                match clusters.last_mut() {
                    Some(c) if t - c.1 <= gap => {
                        c.1 = t;
                        c.2 += count;
                        c.3 += acknowledged;
                    }
                    _ => clusters.push((t, t, count, acknowledged)),
                }
            }
            for (first, _, count, acknowledged) in clusters {
                let mut label = if kind == AnnotationKind::OffsetReset && count == 0 {
                    "offset reset".to_string()
                } else {
                    what.replace("{}", &super::table::thousands(count))
                };
                // With confirms, the part the delivery chart and the table count as acknowledged
                // lost (a message stored but not yet confirmed at the crash is not).
                if kind == AnnotationKind::FaultLost && acknowledged > 0 && acknowledged < count {
                    label.push_str(&format!(" ({} confirmed)", super::table::thousands(acknowledged)));
                }
                out.push(Marker {
                    x: first / unit.secs,
                    label: format!("{}: {label}", r.system.name()),
                    kind: MarkerKind::Loss,
                });
            }
        }
        // Leader elections concern every group: marked on every panel, close ones merged.
        let mut clusters: Vec<(f64, f64, u64)> = Vec::new();
        for a in r.recorder.annotations.iter().filter(|a| a.kind == AnnotationKind::Election) {
            let t = a.first.as_secs_f64();
            match clusters.last_mut() {
                Some(c) if t - c.1 <= gap => {
                    c.1 = a.last.as_secs_f64();
                    c.2 += a.count;
                }
                _ => clusters.push((t, a.last.as_secs_f64(), a.count)),
            }
        }
        for (first, _, count) in clusters {
            let what = match (r.system, count) {
                (SystemKind::Kafka, 1) => "partition leader elected".to_string(),
                (SystemKind::Kafka, n) => format!("{n} partition leaders elected"),
                (SystemKind::RabbitMq, 1) => "queue leader elected".to_string(),
                (SystemKind::RabbitMq, n) => format!("{n} queue leader elections"),
            };
            out.push(Marker {
                x: first / unit.secs,
                label: format!("{}: {what}", r.system.name()),
                kind: MarkerKind::Landmark,
            });
        }
    }
    out
}

/// The operator's actions on the group shown (`None`: every group), the same in both systems: a
/// late start, an offset reset, a scaling, and each rolling restart as one mark at its first stop.
fn operation_markers(s: &Scenario, unit: TimeUnit, group: Option<usize>) -> Vec<Marker> {
    use crate::scenario::operations::OperationAction;
    let mut out = Vec::new();
    // (group, first stop, consumers restarted) of the rolling restart under way, per group.
    let mut rolling: Vec<Option<(f64, u32)>> = vec![None; s.groups.len()];
    let flush = |out: &mut Vec<Marker>, g: usize, r: &mut Option<(f64, u32)>| {
        if let Some((x, n)) = r.take() {
            out.push(Marker {
                x,
                label: format!("{}: rolling restart ({n} consumers)", s.groups[g].name),
                kind: MarkerKind::Landmark,
            });
        }
    };
    for o in s.operations.iter().filter(|o| group.is_none_or(|g| g == o.group)) {
        let x = o.at.as_secs_f64() / unit.secs;
        match o.action {
            OperationAction::Stop { consumer } => {
                let r = &mut rolling[o.group];
                match r {
                    Some((_, n)) if consumer > 0 => *n = consumer + 1,
                    _ => {
                        flush(&mut out, o.group, r);
                        *r = Some((x, 1));
                    }
                }
            }
            OperationAction::Restart { .. } => {}
            _ => {
                flush(&mut out, o.group, &mut rolling[o.group]);
                out.push(Marker { x, label: o.label(&s.groups[o.group].name), kind: MarkerKind::Landmark });
            }
        }
    }
    for (g, r) in rolling.iter_mut().enumerate() {
        flush(&mut out, g, r);
    }
    out
}

/// How a fault step reads on a chart: "broker-0 down", "g/0 crashed", "g/1 hung"; with
/// ", never restarted" (resumed, healed) if it was never repaired.
fn fault_label(s: &Scenario, f: &Fault, repaired: bool) -> String {
    let (what, never) = fault_words(s, f);
    if repaired { what } else { format!("{what}, never {never}") }
}

/// The fault ("broker-0 down") and the verb of its repair ("restarted").
fn fault_words(s: &Scenario, f: &Fault) -> (String, &'static str) {
    let name = |t: FaultTarget| match t {
        FaultTarget::Broker(n) => format!("broker-{n}"),
        FaultTarget::Leader => "leader".to_string(),
        FaultTarget::Consumer { group, index } => {
            format!("{}/{index}", s.groups.get(group).map_or("?", |g| g.name.as_str()))
        }
        FaultTarget::Producer => "producer".to_string(),
        FaultTarget::ProducerHost(k) => format!("producer-{k}"),
    };
    match (f.action, f.target) {
        (FaultAction::Crash, Some(t @ FaultTarget::Consumer { .. })) => (format!("{} crashed", name(t)), "restarted"),
        (FaultAction::Crash, Some(t)) => (format!("{} down", name(t)), "restarted"),
        (FaultAction::Hang, Some(t)) => (format!("{} hung", name(t)), "resumed"),
        (FaultAction::Partition, _) => {
            let sides: Vec<String> =
                f.sides.iter().map(|side| side.iter().map(|&t| name(t)).collect::<Vec<_>>().join(", ")).collect();
            let text = format!("partition {}", sides.join(" | "));
            (if text.chars().count() <= 40 { text } else { "network partition".to_string() }, "healed")
        }
        (action, _) => (action.name().to_string(), "repaired"),
    }
}

/// The faults of the schedule as bands, from each fault to its repair (to the end of the run if it
/// was never repaired), the same in every system that reported them. A fault only some of the
/// systems reported is labelled with their names.
fn fault_bands(s: &Scenario, runs: &[SystemRun], unit: TimeUnit, x_end: f64) -> Vec<Band> {
    // (step, start, end) -> systems that reported it, in order of first report.
    let mut spans: Vec<(&FaultSpan, Vec<&'static str>)> = Vec::new();
    for r in runs {
        for span in &r.recorder.faults {
            match spans.iter_mut().find(|(x, _)| *x == span) {
                Some((_, systems)) => systems.push(r.system.name()),
                None => spans.push((span, vec![r.system.name()])),
            }
        }
    }
    spans.sort_by_key(|(x, _)| (x.start, x.step));
    spans
        .into_iter()
        .filter_map(|(span, systems)| {
            let f = s.faults.get(span.step)?;
            let mut label = fault_label(s, f, span.end.is_some());
            if systems.len() < runs.len() {
                label = format!("{}: {label}", systems.join(", "));
            }
            let from = (span.start.as_secs_f64() / unit.secs).min(x_end);
            let to = span.end.map_or(x_end, |e| e.as_secs_f64() / unit.secs).clamp(from, x_end);
            Some(Band { from, to, label, kind: BandKind::Fault })
        })
        .collect()
}

/// Kafka's rebalances of `group` (`None`: of every group, named in the label) as narrow bands.
/// Rebalances close together share one label, with their count.
fn rebalance_bands(s: &Scenario, runs: &[SystemRun], unit: TimeUnit, x_end: f64, group: Option<usize>) -> Vec<Band> {
    let gap = (x_end * unit.secs * 0.03).max(s.sample_interval.as_secs_f64() * 2.0);
    let named = group.is_none() && s.groups.len() > 1;
    let mut out: Vec<Band> = Vec::new();
    for r in runs {
        for (gi, g) in s.groups.iter().enumerate().filter(|(gi, _)| group.is_none_or(|x| x == *gi)) {
            let mut events: Vec<&Annotation> = r
                .recorder
                .annotations
                .iter()
                .filter(|a| a.kind == AnnotationKind::Rebalance && a.group == Some(gi))
                .collect();
            events.sort_by_key(|a| a.first);
            // Clusters of rebalances less than `gap` apart: (index of the first band, count, end).
            let mut cluster: Option<(usize, u64, f64)> = None;
            for a in events {
                let (from, to) = (a.first.as_secs_f64(), a.last.as_secs_f64().max(a.first.as_secs_f64()));
                match &mut cluster {
                    Some((_, count, end)) if from - *end <= gap => {
                        *count += a.count;
                        *end = end.max(to);
                    }
                    _ => {
                        if let Some((i, count, _)) = cluster.take() {
                            out[i] = rebalance_label(s, out[i].clone(), count, &g.name, named);
                        }
                        cluster = Some((out.len(), a.count, to));
                    }
                }
                out.push(Band {
                    from: (from / unit.secs).min(x_end),
                    to: (to / unit.secs).min(x_end),
                    label: String::new(),
                    kind: BandKind::Rebalance,
                });
            }
            if let Some((i, count, _)) = cluster {
                out[i] = rebalance_label(s, out[i].clone(), count, &g.name, named);
            }
        }
    }
    out
}

/// "rebalance", or with a protocol other than the default eager one what kind: "cooperative
/// rebalance" (cooperative-sticky), "KIP-848 rebalance" (the consumer protocol: no group-wide
/// stop, each member reconciles on its own).
fn rebalance_label(s: &Scenario, mut band: Band, count: u64, group: &str, named: bool) -> Band {
    let kind = match (s.kafka.group_protocol, s.kafka.assignor) {
        (GroupProtocol::Consumer, _) => "KIP-848 rebalance",
        (_, Assignor::CooperativeSticky) => "cooperative rebalance",
        _ => "rebalance",
    };
    let what = if count == 1 { kind.to_string() } else { format!("{count} {kind}s") };
    band.label = if named { format!("{group}: {what}") } else { what };
    band
}

/// Every band of a panel showing `group` (`None`: all groups): the faults, then the rebalances.
pub(in crate::report) fn bands(
    s: &Scenario,
    runs: &[SystemRun],
    unit: TimeUnit,
    x_end: f64,
    group: Option<usize>,
) -> Vec<Band> {
    let mut out = fault_bands(s, runs, unit, x_end);
    out.extend(rebalance_bands(s, runs, unit, x_end, group));
    out.extend(alarm_bands(s, runs, unit, x_end));
    out
}

/// The resource alarms a system's nodes raised, each from raised to cleared (or the run's end).
/// Alarms of one resource less than a rebalance cluster's gap apart share one band and one label,
/// with their count (a node that blocks and unblocks every few seconds draws one stretch).
fn alarm_bands(s: &Scenario, runs: &[SystemRun], unit: TimeUnit, x_end: f64) -> Vec<Band> {
    use crate::world::alarms::Resource;
    let gap = (x_end * unit.secs * 0.03).max(s.sample_interval.as_secs_f64() * 2.0);
    let mut out = Vec::new();
    for r in runs {
        let Some(a) = &r.end.resource_alarms else { continue };
        for (resource, name) in [(Resource::Memory, "memory"), (Resource::Disk, "disk")] {
            // (from, to, count) in seconds.
            let mut clusters: Vec<(f64, f64, usize)> = Vec::new();
            for row in a.alarms.iter().filter(|x| x.resource == resource) {
                let to = row.cleared_s.unwrap_or(f64::INFINITY);
                match clusters.last_mut() {
                    Some(c) if row.raised_s - c.1 <= gap => {
                        c.1 = c.1.max(to);
                        c.2 += 1;
                    }
                    _ => clusters.push((row.raised_s, to, 1)),
                }
            }
            for (from, to, count) in clusters {
                let from = (from / unit.secs).min(x_end);
                let to = (to / unit.secs).clamp(from, x_end);
                let what = if count == 1 { format!("{name} alarm") } else { format!("{count} {name} alarms") };
                let label = format!("{}: {what}, publishing blocked", r.system.name());
                out.push(Band { from, to, label, kind: BandKind::Alarm });
            }
        }
    }
    out
}

/// Legend entries for the bands present: what a fault band spans, and the rebalances.
fn band_legend(s: &Scenario, bands: &[Band]) -> Vec<LegendItem> {
    let mut out = Vec::new();
    if bands.iter().any(|b| b.kind == BandKind::Fault) {
        let spans: Vec<&str> = [
            (FaultAction::Crash, "crash to restart"),
            (FaultAction::Hang, "hang to resume"),
            (FaultAction::Partition, "partition to heal"),
        ]
        .into_iter()
        .filter(|(action, _)| s.faults.iter().any(|f| f.action == *action))
        .map(|(_, what)| what)
        .collect();
        out.push(LegendItem {
            label: format!("fault ({})", spans.join(", ")),
            color: FAULT,
            width: 1,
            glyph: Glyph::Band,
        });
    }
    if bands.iter().any(|b| b.kind == BandKind::Rebalance) {
        out.push(LegendItem {
            label: "kafka group rebalancing".into(),
            color: REBALANCE,
            width: 1,
            glyph: Glyph::Band,
        });
    }
    if bands.iter().any(|b| b.kind == BandKind::Alarm) {
        out.push(LegendItem {
            label: "resource alarm (publishers blocked)".into(),
            color: ALARM,
            width: 1,
            glyph: Glyph::Band,
        });
    }
    out
}

/// Legend entries for the event markers present.
fn event_legend(s: &Scenario, markers: &[Marker]) -> Vec<LegendItem> {
    let mut out = Vec::new();
    if markers.iter().any(|m| m.kind == MarkerKind::Tick) {
        use crate::scenario::CleanupPolicy;
        let kafka = match s.kafka.cleanup_policy {
            CleanupPolicy::Delete => "kafka retention deleted expired segments",
            CleanupPolicy::Compact => "kafka compaction removed superseded records",
            CleanupPolicy::CompactDelete => "kafka retention or compaction deleted records",
        };
        let label = match (s.rabbitmq.stream.is_some(), s.systems.contains(&SystemKind::Kafka)) {
            (false, _) => kafka.to_string(),
            (true, false) => "stream retention deleted segments".to_string(),
            (true, true) if s.kafka.cleanup_policy == CleanupPolicy::Delete => {
                "retention deleted segments (kafka log, rabbitmq stream)".to_string()
            }
            (true, true) => format!("{kafka}, or stream retention deleted segments"),
        };
        out.push(LegendItem { label, color: RETENTION, width: 2, glyph: Glyph::Triangle });
    }
    if markers.iter().any(|m| m.kind == MarkerKind::Loss) {
        let what = if markers.iter().any(|m| m.kind == MarkerKind::Loss && m.label.starts_with("rabbitmq")) {
            "messages lost"
        } else {
            "records lost"
        };
        out.push(LegendItem { label: what.into(), color: LOSS, width: 2, glyph: Glyph::Rule });
    }
    out
}

/// Samples grouped by time: one slice per bucket, one sample per group in it.
fn by_time(samples: &[Sample]) -> impl Iterator<Item = &[Sample]> {
    samples.chunk_by(|a, b| a.time == b.time)
}

/// Upper end of a y axis with room above the data for the marker labels.
fn y_top(max: f64, min_top: f64) -> f64 {
    let top = max * 1.18;
    if top.is_finite() && top > min_top { top } else { min_top }
}

pub(in crate::report) fn round_secs(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{} h", trim(secs / 3600.0, 1))
    } else if secs >= 120.0 {
        format!("{} min", trim(secs / 60.0, 1))
    } else if secs >= 1.0 {
        format!("{} s", trim(secs, 1))
    } else {
        format!("{} ms", trim(secs * 1e3, 0))
    }
}

/// `x` with at most `decimals` decimals, trailing zeros removed.
fn trim(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

fn format_value(v: f64, f: YFormat) -> String {
    match f {
        YFormat::Count if (v - v.round()).abs() < 1e-9 && v >= 0.0 => super::table::thousands(v.round() as u64),
        _ if v.abs() >= 1000.0 => super::table::thousands(v.abs().round() as u64),
        _ if v.abs() >= 10.0 => trim(v, 1),
        _ => trim(v, 3),
    }
}

/// " (peak N)" for a legend label.
fn peak_label(peak: Option<u64>) -> String {
    peak.map_or_else(String::new, |m| format!(" (peak {})", super::table::thousands(m)))
}

/// Where two series drawn on the same axes overlap on screen.
#[derive(Debug, PartialEq)]
struct Coincidence {
    /// (first x, last x) of each stretch where the lines overlap, allowing brief departures of at
    /// most `MAX_DEPARTURE` points; stretches shorter than a tenth of the x range are left out.
    spans: Vec<(f64, f64)>,
    /// Whether every compared point overlaps.
    everywhere: bool,
}

const MAX_DEPARTURE: usize = 2;

/// Compares `a` and `b` at the x values they share: a point overlaps when the two are within
/// `tolerance` (in y units).
fn coinciding_spans(a: &[(f64, f64)], b: &[(f64, f64)], tolerance: f64, x_end: f64) -> Coincidence {
    let mut close: Vec<(f64, bool)> = Vec::new();
    let mut j = 0;
    for &(x, ya) in a {
        while j < b.len() && b[j].0 < x - 1e-9 {
            j += 1;
        }
        if j < b.len() && (b[j].0 - x).abs() <= 1e-9 {
            close.push((x, (b[j].1 - ya).abs() <= tolerance));
        }
    }
    let everywhere = !close.is_empty() && close.iter().all(|c| c.1);
    let mut spans: Vec<(f64, f64)> = Vec::new();
    let mut current: Option<(f64, f64)> = None;
    let mut misses = 0;
    for &(x, ok) in &close {
        if ok {
            current = Some(current.map_or((x, x), |(from, _)| (from, x)));
            misses = 0;
        } else {
            misses += 1;
            if misses > MAX_DEPARTURE {
                spans.extend(current.take());
            }
        }
    }
    spans.extend(current);
    spans.retain(|&(from, to)| to - from >= x_end * 0.1);
    Coincidence { spans, everywhere }
}

/// Where the two systems' lines `a` and `b` coincide on a plot `plot_px` pixels high whose y axis
/// ends at `y_end`, as a sentence for the subtitle (`None`: nowhere worth saying).
fn lines_coincide(a: &Line, b: &Line, y_end: f64, plot_px: f64, x_end: f64, unit: TimeUnit) -> Option<String> {
    let spans = coinciding_spans(&a.points, &b.points, overlap_tolerance(y_end, plot_px), x_end);
    let x_first = a.points.first().map_or(0.0, |p| p.0);
    let x_last = a.points.last().map_or(0.0, |p| p.0);
    coincidence_sentence(&spans, x_first, x_last, unit.short)
}

/// A time chart of one panel: `lines`, with the run's landmarks, loss events, faults and
/// rebalances marked and explained in the legend.
#[allow(clippy::too_many_arguments)]
fn one_panel_chart(
    s: &Scenario,
    runs: &[SystemRun],
    unit: TimeUnit,
    x_end: f64,
    title: String,
    subtitle: String,
    (y_desc, y_end, y_format): (String, f64, YFormat),
    lines: Vec<Line>,
) -> Chart {
    let mut markers = landmarks(s, unit);
    markers.extend(event_markers(s, runs, unit, x_end, None));
    let bands = bands(s, runs, unit, x_end, None);
    let mut legend: Vec<LegendItem> = lines.iter().map(LegendItem::from).collect();
    legend.extend(event_legend(s, &markers));
    legend.extend(band_legend(s, &bands));
    Chart::Time(TimeChart {
        title,
        subtitle,
        legend,
        x_desc: format!("time since start ({})", unit.name),
        x_end,
        panels: vec![TimePanel {
            caption: None,
            weight: 1,
            label_markers: true,
            y_desc,
            y_end,
            y_format,
            lines,
            markers,
            bands,
        }],
        size: SIZE,
    })
}

/// A sentence about where Kafka's and RabbitMQ's lines coincide, or `None`. `x_first`/`x_last`
/// are the ends of the data, `unit` names the x unit.
fn coincidence_sentence(c: &Coincidence, x_first: f64, x_last: f64, unit: &str) -> Option<String> {
    const RIM: &str = "(Kafka's orange shows only as a rim around the blue)";
    let range = (x_last - x_first).max(1e-12);
    match &c.spans[..] {
        [] => None,
        _ if c.everywhere => Some(format!("The two systems' lines coincide throughout {RIM}.")),
        [(from, to)] if (to - from) / range >= 0.95 => {
            Some(format!("The two systems' lines coincide almost throughout {RIM}."))
        }
        spans => {
            let parts: Vec<String> = spans
                .iter()
                .take(3)
                .map(|&(from, to)| {
                    if (from - x_first) / range < 0.02 {
                        format!("until {} {unit}", trim(to, 1))
                    } else if (x_last - to) / range < 0.02 {
                        format!("from {} {unit} on", trim(from, 1))
                    } else {
                        format!("from {} to {} {unit}", trim(from, 1), trim(to, 1))
                    }
                })
                .collect();
            Some(format!("The two systems' lines coincide {} {RIM}.", parts.join(" and ")))
        }
    }
}

/// The y distance that looks like one line on screen: lines 4 and 2 pixels wide overlap when
/// their centres are within 3 pixels.
fn overlap_tolerance(y_end: f64, plot_height_px: f64) -> f64 {
    3.0 * y_end / plot_height_px.max(1.0)
}

/// The chart as SVG text.
fn svg(chart: &Chart) -> Result<String, String> {
    let size = match chart {
        Chart::Time(c) => c.size,
        Chart::Latency(c) => c.size,
        Chart::Delivery(c) => c.size,
        Chart::Consumers(c) => c.size,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_chart(chart, &root).and_then(|()| root.present()).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Each chart kind draws itself; the shared pieces (fonts, headers, legends, bars) are in `draw`.
fn draw_chart<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, plotters::coord::Shift>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    match chart {
        Chart::Time(c) => draw::draw_time_chart(c, root),
        Chart::Latency(c) => draw::draw_latency_chart(c, root),
        Chart::Delivery(c) => delivery::draw(c, root),
        Chart::Consumers(c) => consumers::draw(c, root),
    }
}

#[cfg(test)]
mod tests;
