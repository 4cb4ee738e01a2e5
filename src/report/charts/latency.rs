//! Waiting time and end-to-end latency by percentile, one row of panels per consumer group, on a
//! logarithmic time axis with a band for values too small to draw on it (zero in particular).

use super::*;
use crate::metrics::DurationStats;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use std::ops::Range;

/// Height of each extra row when a scenario has several groups.
const ROW_HEIGHT: u32 = 320;

/// Percentile positions on the "nines" axis: x = -log10(1 - q).
pub(super) const NINES_END: f64 = 4.0;
pub(super) const NINES_TICKS: [(f64, &str); 6] =
    [(0.0, ""), (std::f64::consts::LOG10_2, "p50"), (1.0, "p90"), (2.0, "p99"), (3.0, "p99.9"), (4.0, "p99.99")];

/// Ticks of the time axis, in ms: decades, with minutes and hours where people read them.
const TIME_TICKS: [(f64, &str); 13] = [
    (1e-3, "1 µs"),
    (1e-2, "10 µs"),
    (0.1, "100 µs"),
    (1.0, "1 ms"),
    (10.0, "10 ms"),
    (100.0, "100 ms"),
    (1e3, "1 s"),
    (1e4, "10 s"),
    (6e4, "1 min"),
    (6e5, "10 min"),
    (3.6e6, "1 h"),
    (3.6e7, "10 h"),
    (3.6e8, "100 h"),
];

/// The log axis spans at most this factor below its top; smaller values go in the band.
const MAX_SPAN: f64 = 1e8;

/// Share of the plot height given to the band under the log scale.
const BAND: f64 = 0.09;
/// Where in the band its values are drawn (share of the plot height).
const BAND_LINE: f64 = 0.03;

pub(super) struct LatencyPanel {
    pub title: String,
    pub lines: Vec<Line>,
    /// The chart's axis, with this panel's label for the band.
    pub axis: LogZeroAxis,
}

pub(super) struct LatencyChart {
    pub title: String,
    pub subtitle: String,
    pub legend: Vec<LegendItem>,
    /// One row per group: wait, then latency.
    pub rows: Vec<[LatencyPanel; 2]>,
    pub size: (u32, u32),
}

/// A logarithmic axis from `floor` to `top` (ms) over the upper part of the plot, and under it,
/// past a break, a band for every value below `floor` (drawn at one height, labelled `band`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LogZeroAxis {
    pub floor: f64,
    pub top: f64,
    /// "0" when every value below the floor is exactly zero, "< floor" otherwise; `None` when no
    /// value is below the floor (no band).
    pub band: Option<String>,
}

impl LogZeroAxis {
    /// Height of `v` as a share of the plot (0 bottom, 1 top).
    pub fn fraction(&self, v: f64) -> f64 {
        let base = if self.band.is_some() { BAND } else { 0.0 };
        if v < self.floor {
            return if self.band.is_some() { BAND_LINE } else { 0.0 };
        }
        let span = (self.top / self.floor).log10().max(1e-9);
        base + (1.0 - base) * ((v / self.floor).log10() / span).min(1.2)
    }

    /// Where the break between the band and the log scale is drawn (share of the plot height).
    pub fn break_fraction(&self) -> Option<f64> {
        self.band.as_ref().map(|_| (BAND + BAND_LINE) / 2.0 + 0.005)
    }

    fn ticks(&self) -> Vec<f64> {
        let mut out: Vec<f64> = Vec::new();
        if self.band.is_some() {
            out.push(0.0);
        }
        out.extend(TIME_TICKS.iter().map(|t| t.0).filter(|&t| t >= self.floor * 0.999 && t <= self.top));
        out
    }

    /// Pixels per decade on a plot `height` pixels tall.
    fn px_per_decade(&self, height: f64) -> f64 {
        let base = if self.band.is_some() { BAND } else { 0.0 };
        height * (1.0 - base) / (self.top / self.floor).log10().max(1e-9)
    }
}

impl Ranged for LogZeroAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + ((limit.1 - limit.0) as f64 * self.fraction(*value)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 { Vec::new() } else { self.ticks() }
    }

    fn range(&self) -> Range<f64> {
        0.0..self.top
    }
}

impl ValueFormatter<f64> for LogZeroAxis {
    fn format_ext(&self, value: &f64) -> String {
        if *value < self.floor {
            return self.band.clone().unwrap_or_default();
        }
        TIME_TICKS.iter().find(|t| (t.0 / value - 1.0).abs() < 1e-6).map_or_else(String::new, |t| t.1.to_string())
    }
}

/// The "nines" percentile axis: linear in -log10(1 - q), ticks at p0, p50, p90, p99, p99.9, p99.99.
pub(super) struct NinesAxis;

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

/// The axis for these statistics (ms), shared by every panel: logarithmic from a floor to above the
/// largest value. The floor is the largest tick at or below the lowest *typical* value of any
/// curve (its 10th percentile, or its median when that is 0), so that a sub-millisecond median is
/// drawn where it is; what lies below the floor (zero in particular, and the odd extreme minimum)
/// goes in the band under the break. At most `MAX_SPAN` below the top.
pub(super) fn axis_for(stats: &[&DurationStats]) -> LogZeroAxis {
    let stats: Vec<&&DurationStats> = stats.iter().filter(|s| s.count() > 0).collect();
    let max = stats.iter().map(|s| s.quantile_ms(1.0)).fold(0.0, f64::max);
    if max <= 0.0 {
        let band = (!stats.is_empty()).then(|| "0".to_string());
        return LogZeroAxis { floor: 1.0, top: 1000.0, band };
    }
    let typical = stats
        .iter()
        .filter_map(|s| [s.quantile_ms(0.1), s.quantile_ms(0.5), s.quantile_ms(0.9)].into_iter().find(|&v| v > 0.0))
        .fold(f64::INFINITY, f64::min);
    let min = stats.iter().map(|s| s.quantile_ms(0.0)).fold(f64::INFINITY, f64::min);
    axis_spanning(max, typical, min)
}

/// The axis for single values (ms; a sweep's latencies), on the rules of [`axis_for`]: every
/// positive value is typical, zeros go in the band.
pub(super) fn axis_for_values(values: &[f64]) -> LogZeroAxis {
    let max = values.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return LogZeroAxis { floor: 1.0, top: 1000.0, band: (!values.is_empty()).then(|| "0".to_string()) };
    }
    let typical = values.iter().copied().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    axis_spanning(max, typical, values.iter().copied().fold(f64::INFINITY, f64::min))
}

/// A log axis from a floor at or below the lowest `typical` value to above `max` (> 0), with the
/// band when `min` lies below the floor.
fn axis_spanning(max: f64, typical: f64, min: f64) -> LogZeroAxis {
    // Up to the next tick when it is close (so that the top of the curves has a label), else
    // some room above the largest value.
    let next_tick = TIME_TICKS.iter().map(|t| t.0).find(|&t| t >= max * 1.2);
    let top = next_tick.filter(|&t| t <= max * 3.0).unwrap_or(max * 1.6);
    let low = if typical.is_finite() { typical } else { max / 1000.0 };
    let lowest = (top / MAX_SPAN).max(TIME_TICKS[0].0);
    let floor =
        TIME_TICKS.iter().rev().map(|t| t.0).find(|&t| t <= low.max(lowest) * 1.000_001).unwrap_or(TIME_TICKS[0].0);
    let top = top.max(floor * 10.0);
    // The band is there when anything lies below the floor: the minimum (p0) of some curve.
    LogZeroAxis { floor, top, band: (min < floor).then(|| "0".to_string()) }
}

impl LogZeroAxis {
    /// This axis, its band labelled for the values of one panel: "0" when every value below the
    /// floor is exactly zero, "< floor" otherwise.
    pub(super) fn for_values(&self, values: impl Iterator<Item = f64>) -> LogZeroAxis {
        let mut axis = self.clone();
        if axis.band.is_some() {
            let tiny = values.into_iter().any(|v| v > 0.0 && v < self.floor);
            let name = TIME_TICKS.iter().find(|t| t.0 == self.floor).map_or("", |t| t.1);
            axis.band = Some(if tiny { format!("< {name}") } else { "0".to_string() });
        }
        axis
    }
}

/// "lost 44,638 (9.2%)" for the curves' caveat, or `None` when every delivery is in the curves.
fn left_out(lost: u64, stranded: u64, owed: u64) -> Option<String> {
    let pct = |n: u64| if owed == 0 { 0.0 } else { n as f64 * 100.0 / owed as f64 };
    let mut parts = Vec::new();
    if lost > 0 {
        parts.push(format!("{} lost messages ({}%)", super::super::table::thousands(lost), trim(pct(lost), 1)));
    }
    if stranded > 0 {
        parts.push(format!(
            "{} never processed ({}%)",
            super::super::table::thousands(stranded),
            trim(pct(stranded), 1)
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let several = s.groups.len() > 1;
    let summaries: Vec<_> = runs.iter().map(|r| r.summary(s)).collect();
    let mut legend = Vec::new();
    for (r, sum) in runs.iter().zip(&summaries) {
        let (wait, latency) = r.recorder.merged();
        let mut label = r.system.name().to_string();
        if latency.count() == 0 && wait.count() == 0 {
            label.push_str(" (no messages after the warmup)");
        } else if let Some(text) = left_out(sum.lost, sum.stranded, sum.published) {
            label.push_str(&format!(": its curves leave out {text}"));
        }
        legend.push(LegendItem {
            label,
            color: system_color(r.system),
            width: system_width(r.system),
            glyph: Glyph::Line(Dash::Solid),
        });
    }
    // With message priorities, the latency panels also show the highest priority's messages
    // alone, dashed: a RabbitMQ priority queue pulls them ahead, a Kafka partition does not.
    let top_priority = (s.workload.priorities.len() > 1).then(|| s.workload.priorities.len() - 1);
    if let Some(top) = top_priority {
        let p = s.workload.priorities.keys().nth(top).copied().unwrap_or(0);
        legend.push(LegendItem {
            label: format!("dashed: messages of priority {p} only (solid: all)"),
            color: MARKER,
            width: 2,
            glyph: Glyph::Line(Dash::Dashed(8, 5)),
        });
    }
    let all_stats: Vec<&DurationStats> = runs
        .iter()
        .flat_map(|r| {
            r.recorder.groups.iter().flat_map(|g| [&g.wait, &g.latency].into_iter().chain(g.latency_by_priority.last()))
        })
        .collect();
    let axis = axis_for(&all_stats);
    let mut rows = Vec::new();
    for (gi, g) in s.groups.iter().enumerate() {
        let mut wait_lines = Vec::new();
        let mut latency_lines = Vec::new();
        let mut notes = Vec::new();
        for (r, sum) in runs.iter().zip(&summaries) {
            let Some(counts) = r.recorder.groups.get(gi) else { continue };
            let line = |stats: &DurationStats| Line {
                label: r.system.name().to_string(),
                color: system_color(r.system),
                dash: Dash::Solid,
                width: system_width(r.system),
                points: if stats.count() == 0 { Vec::new() } else { nines_curve(stats) },
            };
            wait_lines.push(line(&counts.wait));
            latency_lines.push(line(&counts.latency));
            if let Some(stats) = top_priority.and_then(|t| counts.latency_by_priority.get(t)) {
                latency_lines.push(Line { dash: Dash::Dashed(8, 5), ..line(stats) });
            }
            if several
                && let Some(gs) = sum.groups.get(&g.name)
                && (gs.lost > 0 || gs.stranded > 0)
            {
                notes.push(format!(
                    "{} leaves out {}",
                    r.system.name(),
                    super::super::table::thousands(gs.lost + gs.stranded)
                ));
            }
        }
        let prefix = if several { format!("{}: ", g.name) } else { String::new() };
        let suffix = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
        let panel = |what: &str, lines: Vec<Line>| LatencyPanel {
            title: format!("{prefix}{what}{suffix}"),
            axis: axis.for_values(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1))),
            lines,
        };
        rows.push([
            panel("wait: publish → processing starts", wait_lines),
            panel("latency: publish → processing done", latency_lines),
        ]);
    }
    let which = if s.warmup.is_zero() {
        "All messages".to_string()
    } else {
        format!("Messages published after the warmup ({})", round_secs(s.warmup.as_secs_f64()))
    };
    let mut subtitle = format!(
        "{which}. Left = typical message, right = the rare slowest ones. Log scale: each grid step multiplies \
         the time."
    );
    let labels: Vec<&str> = rows.iter().flat_map(|r| r.iter()).filter_map(|p| p.axis.band.as_deref()).collect();
    if labels.contains(&"0") && labels.iter().any(|l| l.starts_with('<')) {
        subtitle.push_str(" Below the break: no wait at all (0), or too short to draw.");
    } else if labels.contains(&"0") {
        subtitle.push_str(" Below the break: no wait at all (0).");
    } else if let Some(l) = labels.first() {
        subtitle.push_str(&format!(" Below the break: values {l}, 0 included."));
    }
    if several {
        subtitle.push_str(" One row per group, one scale for all.");
    }
    if top_priority.is_some() {
        subtitle.push_str(" A dashed curve on its solid one: that system did not favour the priority messages.");
    }
    // Where the two systems' curves overlap on screen: compared in decades, the band counting as
    // one height of its own.
    let plot_px = if several { ROW_HEIGHT as f64 - 80.0 } else { 360.0 };
    let tolerance_decades = 3.0 / axis.px_per_decade(plot_px);
    let height_of = |v: f64| if v < axis.floor { axis.floor.log10() - 10.0 } else { v.log10() };
    let mut same = Vec::new();
    for (row, g) in rows.iter().zip(&s.groups) {
        for (panel, what) in row.iter().zip(["wait", "latency"]) {
            if let [a, b] = &panel.lines[..] {
                let log = |l: &Line| l.points.iter().map(|&(x, y)| (x, height_of(y))).collect::<Vec<_>>();
                let c = coinciding_spans(&log(a), &log(b), tolerance_decades, NINES_END);
                let name = if several { format!("{what} of {}", g.name) } else { what.to_string() };
                if let Some(text) = span_words(&c) {
                    same.push(format!("{name} {text}"));
                }
            }
        }
    }
    if !same.is_empty() {
        subtitle.push_str(&format!(
            " The two systems' curves coincide (Kafka's orange shows only as a rim around the blue): {}.",
            same.join("; ")
        ));
    }
    let height = if several { 160 + ROW_HEIGHT * s.groups.len() as u32 } else { SIZE.1 };
    Chart::Latency(LatencyChart {
        title: format!("{}: waiting time and end-to-end latency", s.name),
        subtitle,
        legend,
        rows,
        size: (SIZE.0, height),
    })
}

/// "throughout", "from p80 to p99.5", ... for spans on the nines axis.
fn span_words(c: &Coincidence) -> Option<String> {
    match &c.spans[..] {
        [] => None,
        _ if c.everywhere => Some("throughout".to_string()),
        [(from, to)] if *from <= 0.02 && *to >= NINES_END - 0.02 => Some("almost throughout".to_string()),
        spans => Some(
            spans
                .iter()
                .take(3)
                .map(|&(from, to)| {
                    if from <= 0.02 {
                        format!("up to {}", percentile_name(to))
                    } else if to >= NINES_END - 0.02 {
                        format!("from {} on", percentile_name(from))
                    } else {
                        format!("from {} to {}", percentile_name(from), percentile_name(to))
                    }
                })
                .collect::<Vec<_>>()
                .join(" and "),
        ),
    }
}

/// The percentile at `x` on the nines axis: "p75", "p99.5", "p99.95".
fn percentile_name(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.floor() as i64 - 1).clamp(0, 3) as usize;
    format!("p{}", trim(q, decimals))
}
