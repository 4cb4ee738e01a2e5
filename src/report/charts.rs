//! Charts for students: throughput, backlog, latency percentiles and broker storage, each written
//! as PNG and SVG. Both systems share every picture, always in the same colours (Kafka dark orange,
//! RabbitMQ blue), with the offered load and the run's landmarks (end of warmup, producers stop)
//! drawn in grey.
//!
//! Text uses the bundled DejaVu Sans (registered once as "sans-serif"), so no system font library
//! is needed.

use super::{ReportError, SystemRun};
use crate::metrics::{DurationStats, Sample};
use crate::scenario::{Scenario, SystemKind};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Picture size in pixels.
const SIZE: (u32, u32) = (1000, 560);
const FONT: &str = "sans-serif";

const KAFKA: RGBColor = RGBColor(214, 82, 0);
const RABBITMQ: RGBColor = RGBColor(31, 101, 180);
const OFFERED: RGBColor = RGBColor(70, 70, 70);
const MARKER: RGBColor = RGBColor(95, 95, 95);
const GRID_BOLD: RGBColor = RGBColor(225, 225, 225);
const GRID_LIGHT: RGBColor = RGBColor(243, 243, 243);
const INK: RGBColor = RGBColor(25, 25, 25);
const SUBTLE: RGBColor = RGBColor(90, 90, 90);

/// The throughput chart averages consecutive samples into between `MIN_RATE_POINTS` and
/// `MAX_RATE_POINTS` points, aiming at `MESSAGES_PER_POINT` deliveries each, so that the noise of
/// short buckets does not hide the comparison.
const MIN_RATE_POINTS: f64 = 40.0;
const MAX_RATE_POINTS: f64 = 150.0;
const MESSAGES_PER_POINT: f64 = 200.0;

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

/// Lines in drawing order: widest first (stable), so that thinner lines stay visible on top.
fn draw_order(lines: &[Line]) -> Vec<&Line> {
    let mut order: Vec<&Line> = lines.iter().collect();
    order.sort_by_key(|l| std::cmp::Reverse(l.width));
    order
}

/// Writes `throughput`, `backlog`, `latency` and `storage` charts, each as `.png` and `.svg`, into
/// `dir` (created if needed). Returns the files written.
pub fn write_charts(dir: &Path, s: &Scenario, runs: &[SystemRun]) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.display().to_string(), source })?;
    register_font().map_err(|message| ReportError::Chart { path: dir.display().to_string(), message })?;
    let charts = [
        ("throughput", throughput_chart(s, runs)),
        ("backlog", backlog_chart(s, runs)),
        ("latency", latency_chart(s, runs)),
        ("storage", storage_chart(s, runs)),
    ];
    let mut written = Vec::new();
    for (stem, chart) in &charts {
        written.push(write_png(&dir.join(format!("{stem}.png")), chart)?);
        written.push(write_svg(&dir.join(format!("{stem}.svg")), chart)?);
    }
    Ok(written)
}

fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, include_bytes!("../../assets/fonts/DejaVuSans.ttf"))
            .is_ok()
    });
    if ok { Ok(()) } else { Err("the bundled font assets/fonts/DejaVuSans.ttf is not a valid font".into()) }
}

fn chart_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart { path: path.display().to_string(), message: e.to_string() }
}

/// PNG: the bitmap backend picks the image format from the file extension, so the temporary
/// sibling ends in `.png` too; it is renamed over the final path once complete.
fn write_png(path: &Path, chart: &Chart) -> Result<PathBuf, ReportError> {
    let tmp = super::temp_sibling(path);
    let tmp = tmp.with_file_name(format!("{}.png", tmp.file_name().unwrap_or_default().to_string_lossy()));
    // Creating the file first turns an unwritable folder into an I/O error, not a drawing error.
    std::fs::File::create(&tmp).map_err(|source| ReportError::Io { path: path.display().to_string(), source })?;
    let drawn = {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        draw_chart(chart, &root).and_then(|()| root.present()).map_err(|e| chart_error(path, e))
    };
    let result = drawn.and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| ReportError::Io { path: path.display().to_string(), source })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path.to_path_buf())
}

fn write_svg(path: &Path, chart: &Chart) -> Result<PathBuf, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw_chart(chart, &root).and_then(|()| root.present()).map_err(|e| chart_error(path, e))?;
    }
    super::write_atomic(path, svg.as_bytes())?;
    Ok(path.to_path_buf())
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

/// Line pattern for the i-th consumer group, so that groups of one system differ without a new
/// colour.
fn group_dash(i: usize) -> Dash {
    match i % 4 {
        0 => Dash::Solid,
        1 => Dash::Dashed(10, 5),
        2 => Dash::Dashed(3, 4),
        _ => Dash::Dashed(16, 4),
    }
}

#[derive(Clone, Debug)]
struct Line {
    label: String,
    color: RGBColor,
    dash: Dash,
    width: u32,
    points: Vec<(f64, f64)>,
}

/// A labelled vertical line at time `x` (in the chart's time unit).
#[derive(Clone, Debug)]
struct Marker {
    x: f64,
    label: &'static str,
}

#[derive(Clone, Copy, Debug)]
struct TimeUnit {
    secs: f64,
    name: &'static str,
}

fn time_unit(end_secs: f64) -> TimeUnit {
    if end_secs <= 180.0 {
        TimeUnit { secs: 1.0, name: "seconds" }
    } else if end_secs <= 3.0 * 3600.0 {
        TimeUnit { secs: 60.0, name: "minutes" }
    } else {
        TimeUnit { secs: 3600.0, name: "hours" }
    }
}

#[derive(Clone, Copy, Debug)]
enum YFormat {
    Count,
    Decimal,
}

struct TimeChart {
    title: String,
    subtitle: String,
    y_desc: String,
    x_desc: String,
    x_end: f64,
    y_end: f64,
    y_format: YFormat,
    lines: Vec<Line>,
    markers: Vec<Marker>,
}

struct Panel {
    title: &'static str,
    lines: Vec<Line>,
}

struct LatencyChart {
    title: String,
    subtitle: String,
    legend: Vec<Line>,
    panels: Vec<Panel>,
    /// `Some(range)` for a logarithmic y axis.
    log_y: Option<Range<f64>>,
    y_end: f64,
}

enum Chart {
    Time(TimeChart),
    Latency(LatencyChart),
}

/// Time span shown on the x axis: the whole run, drain included, and at least `duration`.
fn run_end_secs(s: &Scenario, runs: &[SystemRun]) -> f64 {
    let last = runs.iter().filter_map(|r| r.recorder.samples.last()).map(|x| x.time.as_secs_f64()).fold(0.0, f64::max);
    let end = last.max(s.duration.as_secs_f64());
    if end.is_finite() && end > 0.0 { end } else { 1.0 }
}

fn markers(s: &Scenario, unit: TimeUnit) -> Vec<Marker> {
    let mut out = Vec::new();
    if !s.warmup.is_zero() {
        out.push(Marker { x: s.warmup.as_secs_f64() / unit.secs, label: "warmup ends" });
    }
    out.push(Marker { x: s.duration.as_secs_f64() / unit.secs, label: "producers stop" });
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

fn round_secs(secs: f64) -> String {
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

fn format_ms(v: f64) -> String {
    if v >= 1000.0 {
        super::table::thousands(v.round() as u64)
    } else if v >= 1.0 {
        trim(v, 1)
    } else {
        trim(v, 4)
    }
}

fn throughput_chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let end = run_end_secs(s, runs);
    let unit = time_unit(end);
    let groups = s.groups.len().max(1);
    let longest = runs.iter().map(|r| r.recorder.samples.len() / groups).max().unwrap_or(0);
    let deliveries = s.expected_messages() * groups as f64;
    let points = (deliveries / MESSAGES_PER_POINT).clamp(MIN_RATE_POINTS, MAX_RATE_POINTS) as usize;
    let per_point = longest.div_ceil(points.max(1)).max(1);
    let mut lines = Vec::new();
    let mut offered: Option<Vec<(f64, f64)>> = None;
    let mut bin_secs: f64 = 0.0;
    for r in runs {
        // (bucket end, bucket length, processed/s over groups, deliveries offered/s)
        let mut prev = 0.0;
        let buckets: Vec<(f64, f64, f64, f64)> = by_time(&r.recorder.samples)
            .map(|rows| {
                let t = rows[0].time.as_secs_f64();
                let len = (t - prev).max(0.0);
                prev = t;
                let processed: f64 = rows.iter().map(|x| x.processed_per_s).sum();
                (t, len, processed, rows[0].published_per_s * groups as f64)
            })
            .collect();
        let mut done = Vec::new();
        let mut pubs = Vec::new();
        let mut start = 0.0;
        let mut chunks: Vec<&[(f64, f64, f64, f64)]> = buckets.chunks(per_point).collect();
        // A short trailing chunk (often a partial last bucket) is too noisy alone: merge it.
        let regular = per_point as f64 * s.sample_interval.as_secs_f64();
        let span = |c: &[(f64, f64, f64, f64)]| c.iter().map(|b| b.1).sum::<f64>();
        if chunks.len() > 1 && span(chunks[chunks.len() - 1]) * 2.0 < regular {
            let n = chunks.len();
            let merged_len = chunks[n - 2].len() + chunks[n - 1].len();
            chunks.truncate(n - 2);
            chunks.push(&buckets[buckets.len() - merged_len..]);
        }
        for chunk in chunks {
            let end_t = chunk[chunk.len() - 1].0;
            let total: f64 = chunk.iter().map(|b| b.1).sum();
            let avg = |f: fn(&(f64, f64, f64, f64)) -> f64| {
                if total > 0.0 {
                    chunk.iter().map(|b| f(b) * b.1).sum::<f64>() / total
                } else {
                    chunk.iter().map(f).sum::<f64>() / chunk.len() as f64
                }
            };
            let x = (start + end_t) / 2.0 / unit.secs;
            done.push((x, avg(|b| b.2)));
            pubs.push((x, avg(|b| b.3)));
            bin_secs = bin_secs.max(if chunk.len() == per_point { total } else { 0.0 });
            start = end_t;
        }
        if offered.is_none() && !pubs.is_empty() {
            offered = Some(pubs);
        }
        lines.push(Line {
            label: format!("{} processed", r.system.name()),
            color: system_color(r.system),
            dash: Dash::Solid,
            width: system_width(r.system),
            points: done,
        });
    }
    let offered_label = if s.groups.len() > 1 {
        format!("offered load (published/s × {} groups)", s.groups.len())
    } else {
        "offered load (published/s)".to_string()
    };
    lines.push(Line {
        label: offered_label,
        color: OFFERED,
        dash: Dash::Dashed(8, 5),
        width: 2,
        points: offered.unwrap_or_default(),
    });
    let max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let mut subtitle =
        String::from("Can each system keep up? A line below the grey offered load means messages pile up.");
    if bin_secs > 0.0 {
        subtitle.push_str(&format!(" Each point averages {}.", round_secs(bin_secs)));
    }
    let y_desc = if s.groups.len() > 1 {
        "messages processed per second (all groups)".to_string()
    } else {
        "messages processed per second".to_string()
    };
    Chart::Time(TimeChart {
        title: format!("{}: throughput", s.name),
        subtitle,
        y_desc,
        x_desc: format!("time since start ({})", unit.name),
        x_end: end / unit.secs,
        y_end: y_top(max, 1.0),
        y_format: YFormat::Decimal,
        lines,
        markers: markers(s, unit),
    })
}

fn backlog_chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let end = run_end_secs(s, runs);
    let unit = time_unit(end);
    let per_group = s.groups.len() > 1;
    let mut lines = Vec::new();
    for r in runs {
        let (what, short) = match r.system {
            SystemKind::Kafka => ("consumer lag", "lag"),
            SystemKind::RabbitMq => ("queue depth", "depth"),
        };
        if per_group {
            for (gi, g) in s.groups.iter().enumerate() {
                let points: Vec<(f64, f64)> = r
                    .recorder
                    .samples
                    .iter()
                    .filter(|x| x.group == gi)
                    .map(|x| (x.time.as_secs_f64() / unit.secs, x.consumer_lag_max as f64))
                    .collect();
                lines.push(Line {
                    label: format!("{} {short}: {}{}", r.system.name(), g.name, peak_count(&points)),
                    color: system_color(r.system),
                    dash: group_dash(gi),
                    width: system_width(r.system),
                    points,
                });
            }
        } else {
            let points: Vec<(f64, f64)> = by_time(&r.recorder.samples)
                .map(|rows| {
                    let total: u64 = rows.iter().map(|x| x.consumer_lag_max).sum();
                    (rows[0].time.as_secs_f64() / unit.secs, total as f64)
                })
                .collect();
            lines.push(Line {
                label: format!("{} {what}{}", r.system.name(), peak_count(&points)),
                color: system_color(r.system),
                dash: Dash::Solid,
                width: system_width(r.system),
                points,
            });
        }
    }
    let max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    Chart::Time(TimeChart {
        title: format!("{}: backlog (Kafka consumer lag vs RabbitMQ queue depth)", s.name),
        subtitle: "Kafka: log end offset minus committed offset (so it includes records processed but not yet \
                   committed). RabbitMQ: messages ready plus unacknowledged. A rising line means consumers fall behind."
            .to_string(),
        y_desc: "messages waiting".to_string(),
        x_desc: format!("time since start ({})", unit.name),
        x_end: end / unit.secs,
        y_end: y_top(max, 5.0),
        y_format: YFormat::Count,
        lines,
        markers: markers(s, unit),
    })
}

/// " (peak N)" for a legend label, empty without data: shows the size of a line hugging zero.
fn peak_count(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|p| p.1)
        .reduce(f64::max)
        .map_or_else(String::new, |m| format!(" (peak {})", super::table::thousands(m.max(0.0).round() as u64)))
}

fn storage_chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let end = run_end_secs(s, runs);
    let unit = time_unit(end);
    let max_bytes = runs.iter().flat_map(|r| r.recorder.samples.iter().map(|x| x.stored_bytes_max)).max().unwrap_or(0);
    let (scale, unit_name) = byte_unit(max_bytes);
    let mut lines = Vec::new();
    for r in runs {
        let label = match r.system {
            SystemKind::Kafka => "kafka: bytes in the log",
            SystemKind::RabbitMq => "rabbitmq: bytes in the queues",
        };
        // Every group's row of one bucket carries the same broker-wide figure: take it once.
        let points: Vec<(f64, f64)> = by_time(&r.recorder.samples)
            .map(|rows| (rows[0].time.as_secs_f64() / unit.secs, rows[0].stored_bytes_max as f64 / scale))
            .collect();
        let peak = r.recorder.samples.iter().map(|x| x.stored_bytes_max).max();
        lines.push(Line {
            label: match peak {
                Some(b) => format!("{label} (peak {})", super::table::bytes(b)),
                None => label.to_string(),
            },
            color: system_color(r.system),
            dash: Dash::Solid,
            width: system_width(r.system),
            points,
        });
    }
    let max = max_bytes as f64 / scale;
    let fanout = if s.groups.len() > 1 {
        format!(" With {} groups RabbitMQ stores one copy per queue.", s.groups.len())
    } else {
        String::new()
    };
    Chart::Time(TimeChart {
        title: format!("{}: data held by the broker", s.name),
        subtitle: format!(
            "A Kafka log keeps messages until retention deletes them; a RabbitMQ queue deletes \
             each message once it is acknowledged.{fanout}"
        ),
        y_desc: format!("stored data ({unit_name})"),
        x_desc: format!("time since start ({})", unit.name),
        x_end: end / unit.secs,
        y_end: y_top(max, 1.0),
        y_format: if scale == 1.0 { YFormat::Count } else { YFormat::Decimal },
        lines,
        markers: markers(s, unit),
    })
}

/// Divisor and name of the binary unit that keeps `max` readable.
fn byte_unit(max: u64) -> (f64, &'static str) {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut scale = 1.0;
    let mut u = 0;
    while max as f64 / scale >= 1024.0 * 1.5 && u < UNITS.len() - 1 {
        scale *= 1024.0;
        u += 1;
    }
    (scale, UNITS[u])
}

/// Percentile positions on the "nines" axis: x = -log10(1 - q).
const NINES_END: f64 = 4.0;
const NINES_TICKS: [(f64, &str); 6] =
    [(0.0, ""), (std::f64::consts::LOG10_2, "p50"), (1.0, "p90"), (2.0, "p99"), (3.0, "p99.9"), (4.0, "p99.99")];

fn nines_curve(stats: &DurationStats) -> Vec<(f64, f64)> {
    const STEPS: usize = 200;
    (0..=STEPS)
        .map(|i| {
            let x = NINES_END * i as f64 / STEPS as f64;
            let q = (1.0 - 10f64.powf(-x)).clamp(0.0, 1.0);
            (x, stats.quantile_ms(q))
        })
        .collect()
}

fn latency_chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let mut legend = Vec::new();
    let mut wait_lines = Vec::new();
    let mut latency_lines = Vec::new();
    for r in runs {
        let (wait, latency) = r.recorder.merged();
        let color = system_color(r.system);
        let label = if latency.count() == 0 && wait.count() == 0 {
            format!("{} (no messages after the warmup)", r.system.name())
        } else {
            r.system.name().to_string()
        };
        legend.push(Line { label, color, dash: Dash::Solid, width: system_width(r.system), points: Vec::new() });
        let line = |stats: &DurationStats| Line {
            label: r.system.name().to_string(),
            color,
            dash: Dash::Solid,
            width: system_width(r.system),
            points: if stats.count() == 0 { Vec::new() } else { nines_curve(stats) },
        };
        wait_lines.push(line(&wait));
        latency_lines.push(line(&latency));
    }
    let values =
        || wait_lines.iter().chain(&latency_lines).flat_map(|l| l.points.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let max = values().fold(0.0, f64::max);
    let min_positive = values().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    // Log scale when the typical values (medians) are 100x below the worst ones.
    let median_min = wait_lines
        .iter()
        .chain(&latency_lines)
        .filter_map(|l| l.points.iter().find(|p| p.0 >= NINES_TICKS[1].0).map(|p| p.1))
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log_y = (median_min.is_finite() && max / median_min > 100.0).then(|| {
        let floor = min_positive.max(max / 1e5) / 1.5;
        floor..max * 1.5
    });
    if let Some(range) = &log_y {
        for l in wait_lines.iter_mut().chain(latency_lines.iter_mut()) {
            for p in &mut l.points {
                p.1 = p.1.max(range.start);
            }
        }
    }
    let which = if s.warmup.is_zero() {
        "All messages".to_string()
    } else {
        format!("Messages published after the warmup ({})", round_secs(s.warmup.as_secs_f64()))
    };
    let mut subtitle = format!("{which}. Left = typical message, right = the rare slowest ones.");
    if log_y.is_some() {
        subtitle.push_str(" Log scale.");
    }
    Chart::Latency(LatencyChart {
        title: format!("{}: waiting time and end-to-end latency", s.name),
        subtitle,
        legend,
        panels: vec![
            Panel { title: "wait: publish → processing starts", lines: wait_lines },
            Panel { title: "latency: publish → processing done", lines: latency_lines },
        ],
        log_y,
        y_end: y_top(max, 1.0),
    })
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

fn font(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&color)
}

fn draw_chart<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    match chart {
        Chart::Time(c) => draw_time_chart(c, root),
        Chart::Latency(c) => draw_latency_chart(c, root),
    }
}

/// Splits `text` into lines no wider than `width` pixels.
fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    width: u32,
) -> DrawResult<Vec<String>, DB> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if !current.is_empty() && area.estimate_text_size(&candidate, style)?.0 > width {
            lines.push(std::mem::replace(&mut current, word.to_string()));
        } else {
            current = candidate;
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    Ok(lines)
}

/// Title and subtitle, centred; returns the area below them.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> DrawResult<DrawingArea<DB, Shift>, DB> {
    let (w, _) = root.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Top);
    let title_style = font(24.0, INK).pos(centre);
    let mut y = 10;
    for line in wrap(root, title, &title_style, w - 40)? {
        root.draw_text(&line, &title_style, (w as i32 / 2, y))?;
        y += 26;
    }
    let sub_style = font(15.0, SUBTLE).pos(centre);
    y += 2;
    for line in wrap(root, subtitle, &sub_style, w - 60)? {
        root.draw_text(&line, &sub_style, (w as i32 / 2, y))?;
        y += 18;
    }
    Ok(root.split_vertically(y + 4).1)
}

/// A short stretch of a line's pattern, for the legend.
fn sample_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    from: (i32, i32),
    len: i32,
    line: &Line,
) -> DrawResult<(), DB> {
    let style = line.color.stroke_width(line.width.max(3));
    let points = vec![from, (from.0 + len, from.1)];
    match line.dash {
        Dash::Solid => area.draw(&PathElement::new(points, style)),
        Dash::Dashed(on, off) => area.draw(&DashedPathElement::new(points, on, off, style)),
    }
}

/// One row (or more, if needed) of legend entries, centred above the plot; returns the area below.
/// Outside the plot, so it never hides data.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[Line]) -> DrawResult<DrawingArea<DB, Shift>, DB> {
    const SAMPLE: i32 = 34;
    const GAP: i32 = 8;
    const SPACING: i32 = 28;
    const ROW: i32 = 24;
    let style = font(15.0, INK).pos(Pos::new(HPos::Left, VPos::Center));
    let (w, _) = area.dim_in_pixel();
    let max_row = w as i32 - 40;
    let mut rows: Vec<Vec<(&Line, i32)>> = vec![Vec::new()];
    let mut row_width = 0;
    for item in items {
        let text_w = area.estimate_text_size(&item.label, &style)?.0 as i32;
        let item_w = SAMPLE + GAP + text_w;
        let needed = if row_width == 0 { item_w } else { row_width + SPACING + item_w };
        if row_width > 0 && needed > max_row {
            rows.push(Vec::new());
            row_width = item_w;
        } else {
            row_width = needed;
        }
        if let Some(row) = rows.last_mut() {
            row.push((item, item_w));
        }
    }
    let mut y = ROW / 2;
    for row in &rows {
        let total: i32 = row.iter().map(|(_, iw)| iw).sum::<i32>() + SPACING * (row.len() as i32 - 1).max(0);
        let mut x = (w as i32 - total) / 2;
        for (item, item_w) in row {
            sample_line(area, (x, y), SAMPLE, item)?;
            area.draw_text(&item.label, &style, (x + SAMPLE + GAP, y))?;
            x += item_w + SPACING;
        }
        y += ROW;
    }
    Ok(area.split_vertically(y - ROW / 2 + 6).1)
}

fn draw_line<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    line: &Line,
) -> DrawResult<(), DB>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if line.points.is_empty() {
        return Ok(());
    }
    let style = line.color.stroke_width(line.width);
    let points = line.points.iter().copied();
    match line.dash {
        Dash::Solid => chart.draw_series(LineSeries::new(points, style)).map(|_| ()),
        Dash::Dashed(on, off) => chart.draw_series(DashedLineSeries::new(points, on, off, style)).map(|_| ()),
    }
}

fn no_data<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, from: (i32, i32), to: (i32, i32)) -> DrawResult<(), DB> {
    let style = font(20.0, SUBTLE).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw_text("no data", &style, ((from.0 + to.0) / 2, (from.1 + to.1) / 2))
}

fn draw_time_chart<DB: DrawingBackend>(c: &TimeChart, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let area = header(root, &c.title, &c.subtitle)?;
    let area = legend(&area, &c.lines)?;
    let y_format = c.y_format;
    let mut chart = ChartBuilder::on(&area)
        .margin_left(12)
        .margin_right(28)
        .margin_top(4)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(92)
        .build_cartesian_2d(0f64..c.x_end, 0f64..c.y_end)?;
    chart
        .configure_mesh()
        .x_desc(c.x_desc.as_str())
        .y_desc(c.y_desc.as_str())
        .axis_desc_style(font(16.0, INK))
        .label_style(font(14.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .x_labels(12)
        .y_labels(8)
        .x_label_formatter(&|v| format_value(*v, YFormat::Decimal))
        .y_label_formatter(&|v| format_value(*v, y_format))
        .draw()?;
    for line in draw_order(&c.lines) {
        draw_line(&mut chart, line)?;
    }
    let (top_left, bottom_right) = (chart.backend_coord(&(0.0, c.y_end)), chart.backend_coord(&(c.x_end, 0.0)));
    if c.lines.iter().all(|l| l.points.is_empty()) {
        no_data(root, top_left, bottom_right)?;
    }
    // Landmarks: a thin dashed line across the plot, its label at the top, on the side with room.
    let style = font(14.0, MARKER);
    let mut taken: Vec<(i32, i32, i32)> = Vec::new(); // (left, right, row) of labels drawn
    for m in &c.markers {
        if !(m.x.is_finite() && m.x >= 0.0 && m.x <= c.x_end) {
            continue;
        }
        let dashed = DashedLineSeries::new([(m.x, 0.0), (m.x, c.y_end)], 6, 4, MARKER.stroke_width(1));
        chart.draw_series(dashed)?;
        let px = chart.backend_coord(&(m.x, 0.0)).0;
        let (tw, th) = root.estimate_text_size(m.label, &style)?;
        let (tw, th) = (tw as i32, th as i32);
        let (left, right) =
            if px + 6 + tw <= bottom_right.0 - 2 { (px + 6, px + 6 + tw) } else { (px - 6 - tw, px - 6) };
        let mut row = 0;
        while taken.iter().any(|&(l, r, rw)| rw == row && left < r + 8 && right > l - 8) {
            row += 1;
        }
        taken.push((left, right, row));
        let y = top_left.1 + 6 + row * (th + 8);
        root.draw(&Rectangle::new([(left - 3, y - 2), (right + 3, y + th + 3)], WHITE.mix(0.85).filled()))?;
        root.draw_text(m.label, &style.pos(Pos::new(HPos::Left, VPos::Top)), (left, y))?;
    }
    Ok(())
}

/// The "nines" percentile axis: linear in -log10(1 - q), ticks at p0, p50, p90, p99, p99.9, p99.99.
struct NinesAxis;

impl Ranged for NinesAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value / NINES_END).clamp(-1.0, 2.0);
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            return Vec::new();
        }
        NINES_TICKS.iter().map(|t| t.0).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..NINES_END
    }
}

impl ValueFormatter<f64> for NinesAxis {
    fn format_ext(&self, value: &f64) -> String {
        NINES_TICKS.iter().find(|t| (t.0 - value).abs() < 1e-9).map_or_else(String::new, |t| t.1.to_string())
    }
}

fn draw_latency_chart<DB: DrawingBackend>(c: &LatencyChart, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let area = header(root, &c.title, &c.subtitle)?;
    let area = legend(&area, &c.legend)?;
    let (w, _) = area.dim_in_pixel();
    let (left, right) = area.split_horizontally(w / 2);
    for (panel, part) in c.panels.iter().zip([left, right]) {
        match &c.log_y {
            Some(range) => draw_panel(panel, &part, root, range.clone().log_scale())?,
            None => draw_panel(panel, &part, root, 0f64..c.y_end)?,
        }
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend, Y>(
    panel: &Panel,
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    y: Y,
) -> DrawResult<(), DB>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, font(17.0, INK))
        .margin_left(10)
        .margin_right(36)
        .margin_top(10)
        .margin_bottom(8)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(NinesAxis, y)?;
    chart
        .configure_mesh()
        .x_desc("percentile (p99: 99 % of messages were faster)")
        .y_desc("milliseconds")
        .axis_desc_style(font(16.0, INK))
        .label_style(font(14.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .x_labels(NINES_TICKS.len())
        .y_labels(8)
        .y_label_formatter(&|v| format_ms(*v))
        .draw()?;
    for line in draw_order(&panel.lines) {
        draw_line(&mut chart, line)?;
    }
    if panel.lines.iter().all(|l| l.points.is_empty()) {
        let plot = chart.plotting_area();
        let (xr, yr) = plot.get_pixel_range();
        no_data(root, (xr.start, yr.start), (xr.end, yr.end))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Recorder;

    fn run_all(s: &Scenario) -> Vec<SystemRun> {
        s.systems
            .iter()
            .map(|&sys| {
                let mut rec = Recorder::new(s);
                let end = crate::models::run_system(s, sys, &mut rec, |_| {});
                rec.finish(end.at);
                SystemRun { system: sys, recorder: rec, end }
            })
            .collect()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        std::env::temp_dir().join(format!("pushpull-charts-{tag}-{}-{nanos}", std::process::id()))
    }

    const SMALL: &str = r#"
name = "chart-test"
duration = "60s"
warmup = "5s"
[workload]
rate = 50.0
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "30ms" }
[kafka]
partitions = 2
"#;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn writes_png_and_svg_for_every_chart() {
        let s = Scenario::parse(SMALL, "chart-test.toml", false).unwrap();
        let runs = run_all(&s);
        let dir = temp_dir("full");
        let written = write_charts(&dir, &s, &runs).unwrap();
        assert_eq!(written.len(), 8);
        for stem in ["throughput", "backlog", "latency", "storage"] {
            let png = dir.join(format!("{stem}.png"));
            let svg = dir.join(format!("{stem}.svg"));
            assert!(written.contains(&png) && written.contains(&svg), "{stem} missing from {written:?}");
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(bytes[..8], PNG_SIGNATURE, "{stem}.png is not a PNG");
            assert_eq!(png_size(&bytes), SIZE);
            let text = std::fs::read_to_string(&svg).unwrap();
            assert!(text.starts_with("<svg") || text.contains("<svg"), "{stem}.svg is not an SVG");
            assert!(text.contains("chart-test"), "{stem}.svg lacks the scenario name");
            assert!(text.contains("kafka") && text.contains("rabbitmq"), "{stem}.svg lacks a legend");
        }
        // No temporary file left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_and_single_runs_do_not_panic() {
        let s = Scenario::parse(SMALL, "chart-test.toml", false).unwrap();
        let mut runs = run_all(&s);
        // No samples, no statistics.
        let empty = |system| SystemRun { system, recorder: Recorder::new(&s), end: runs[0].end };
        let dir = temp_dir("empty");
        let only_empty = vec![empty(SystemKind::Kafka), empty(SystemKind::RabbitMq)];
        assert_eq!(write_charts(&dir, &s, &only_empty).unwrap().len(), 8);
        // Nothing at all.
        assert_eq!(write_charts(&dir, &s, &[]).unwrap().len(), 8);
        // One system only, with a single sample.
        runs.truncate(1);
        runs[0].recorder.samples.truncate(1);
        assert_eq!(write_charts(&dir, &s, &runs).unwrap().len(), 8);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes the charts of a livelier scenario (an overloaded partition, two groups) to
    /// `$PUSHPULL_CHART_DIR` for a human to look at. Skipped when the variable is unset.
    #[test]
    fn look_at_charts() {
        let Ok(dir) = std::env::var("PUSHPULL_CHART_DIR") else {
            return;
        };
        let s = Scenario::parse(
            r#"
name = "overload-demo"
duration = "10m"
warmup = "30s"
[workload]
rate = 90.0
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "20ms" }
[[groups]]
name = "audit"
consumers = 1
processing = { distribution = "exponential", mean = "5ms" }
[kafka]
partitions = 1
"#,
            "overload-demo.toml",
            false,
        )
        .unwrap();
        let runs = run_all(&s);
        write_charts(Path::new(&dir), &s, &runs).unwrap();
        let single = Scenario::parse(SMALL, "chart-test.toml", false).unwrap();
        let runs = run_all(&single);
        write_charts(&Path::new(&dir).join("small"), &single, &runs).unwrap();
        let long = Scenario::parse(
            r#"
name = "retention-demo"
duration = "6h"
warmup = "0s"
[workload]
rate = 2.0
phases = [{ at = "2h", rate = 6.0 }, { at = "3h", rate = 2.0 }]
[[groups]]
name = "reports"
consumers = 1
processing = { distribution = "exponential", mean = "200ms" }
[kafka]
retention = "1h"
segment_ms = "10m"
"#,
            "retention-demo.toml",
            false,
        )
        .unwrap();
        write_charts(&Path::new(&dir).join("long"), &long, &run_all(&long)).unwrap();
        let empty = |system| SystemRun { system, recorder: Recorder::new(&single), end: runs[0].end };
        let empty_runs = [empty(SystemKind::Kafka), empty(SystemKind::RabbitMq)];
        write_charts(&Path::new(&dir).join("empty"), &single, &empty_runs).unwrap();
    }
}
