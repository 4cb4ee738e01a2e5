//! A sweep's chart: one metric against a varied parameter, one line per system (both in each
//! picture, in their usual colours), one panel per value of the further varied parameters, every
//! panel on one scale. Durations in ms go on the latency chart's logarithmic axis (with its band
//! for 0); other metrics on a linear axis from 0. The x axis has a tick at each value swept, placed
//! by the caller (linear, logarithmic or evenly spaced for words).

use super::draw::{draw_line, draw_order, font, header, legend, no_data};
use super::latency::{LogZeroAxis, axis_for_values};
use super::*;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// Height of each panel beyond the first.
const PANEL_HEIGHT: u32 = 300;
/// Values are written beside the points up to this many points per line.
const MAX_LABELLED: usize = 12;

/// How the y axis reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SweepScale {
    /// From 0, linear, whole numbers with thousands separators.
    Count,
    /// From 0, linear, decimals.
    Decimal,
    /// Milliseconds, logarithmic (the latency chart's axis).
    LogMs,
}

/// One line: a system's (in its colour) or the reference (grey, dashed: the offered load).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepLine {
    /// `None`: the reference line.
    pub system: Option<SystemKind>,
    /// (x position, value), in the order of x.
    pub points: Vec<(f64, f64)>,
    /// Error bars (x position, low, high): the 95% confidence interval of a mean over
    /// replications; none for single runs.
    pub intervals: Vec<(f64, f64, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SweepPanel {
    /// The further varied parameters' values ("kafka.partitions=4"), when there are any.
    pub caption: Option<String>,
    pub lines: Vec<SweepLine>,
}

/// What to draw, backend independent.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepChart {
    pub title: String,
    pub subtitle: String,
    pub x_desc: String,
    /// (position, label) of each value swept, in order.
    pub x_ticks: Vec<(f64, String)>,
    pub y_desc: String,
    pub scale: SweepScale,
    /// The reference line's legend label, when panels have one.
    pub reference: Option<String>,
    pub panels: Vec<SweepPanel>,
}

/// The chart as SVG text.
pub fn sweep_svg(chart: &SweepChart) -> Result<String, String> {
    draw::register_font()?;
    let height = SIZE.1 + PANEL_HEIGHT * chart.panels.len().saturating_sub(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, height)).into_drawing_area();
        draw(chart, &root).and_then(|()| root.present()).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The x axis: linear over the positions, a tick and its label at each value swept.
#[derive(Clone, Debug)]
struct TickAxis {
    range: Range<f64>,
    ticks: Vec<(f64, String)>,
}

impl TickAxis {
    fn new(ticks: &[(f64, String)]) -> TickAxis {
        let lo = ticks.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
        let hi = ticks.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() && hi.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        // Room at both ends, so that the first and last points are not on the frame.
        let pad = if hi > lo { (hi - lo) * 0.06 } else { 1.0 };
        TickAxis { range: lo - pad..hi + pad, ticks: ticks.to_vec() }
    }
}

impl Ranged for TickAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 { Vec::new() } else { self.ticks.iter().map(|t| t.0).collect() }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for TickAxis {
    fn format_ext(&self, value: &f64) -> String {
        self.ticks.iter().find(|t| (t.0 - value).abs() < 1e-9).map_or_else(String::new, |t| t.1.clone())
    }
}

/// The y axis: linear from 0, or the latency chart's log axis.
#[derive(Clone)]
enum YAxis {
    Linear(RangedCoordf64, YFormat),
    Log(LogZeroAxis),
}

impl Ranged for YAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        match self {
            YAxis::Linear(r, _) => r.map(value, limit),
            YAxis::Log(a) => a.map(value, limit),
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match self {
            YAxis::Linear(r, _) => r.key_points(hint),
            YAxis::Log(a) => a.key_points(hint),
        }
    }

    fn range(&self) -> Range<f64> {
        match self {
            YAxis::Linear(r, _) => r.range(),
            YAxis::Log(a) => a.range(),
        }
    }
}

impl ValueFormatter<f64> for YAxis {
    fn format_ext(&self, value: &f64) -> String {
        match self {
            YAxis::Linear(_, f) => format_value(*value, *f),
            YAxis::Log(a) => a.format_ext(value),
        }
    }
}

fn y_axis(chart: &SweepChart) -> YAxis {
    let values: Vec<f64> = chart
        .panels
        .iter()
        .flat_map(|p| {
            // The error bars' ends too (a low end at or below 0 is drawn at 0, which the axis has).
            p.lines.iter().flat_map(|l| {
                l.points.iter().map(|p| p.1).chain(l.intervals.iter().flat_map(|i| [i.1, i.2]).filter(|v| *v > 0.0))
            })
        })
        .collect();
    match chart.scale {
        SweepScale::LogMs => YAxis::Log(axis_for_values(&values)),
        SweepScale::Count | SweepScale::Decimal => {
            let max = values.iter().copied().fold(0.0, f64::max);
            let count = chart.scale == SweepScale::Count;
            let format = if count { YFormat::Count } else { YFormat::Decimal };
            YAxis::Linear((0.0..y_top(max, if count { 4.0 } else { 1.0 })).into(), format)
        }
    }
}

fn legend_items(chart: &SweepChart) -> Vec<LegendItem> {
    let mut systems: Vec<SystemKind> =
        chart.panels.iter().flat_map(|p| p.lines.iter().filter_map(|l| l.system)).collect();
    systems.sort_by_key(|s| s.name());
    systems.dedup();
    let mut items: Vec<LegendItem> = systems
        .into_iter()
        .map(|s| LegendItem {
            label: s.name().to_string(),
            color: system_color(s),
            width: system_width(s),
            glyph: Glyph::Line(Dash::Solid),
        })
        .collect();
    if let Some(label) = &chart.reference {
        items.push(LegendItem {
            label: label.clone(),
            color: OFFERED,
            width: 2,
            glyph: Glyph::Line(Dash::Dashed(8, 5)),
        });
    }
    items
}

fn as_line(l: &SweepLine) -> Line {
    match l.system {
        Some(s) => Line {
            label: s.name().to_string(),
            color: system_color(s),
            dash: Dash::Solid,
            width: system_width(s),
            points: l.points.clone(),
        },
        None => {
            Line { label: String::new(), color: OFFERED, dash: Dash::Dashed(8, 5), width: 2, points: l.points.clone() }
        }
    }
}

fn draw<DB: DrawingBackend>(c: &SweepChart, root: &DrawingArea<DB, plotters::coord::Shift>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let subtitle = match coincide(c) {
        true => format!(
            "{} The two systems' lines coincide (Kafka's orange shows only as a rim around the blue).",
            c.subtitle
        ),
        false => c.subtitle.clone(),
    };
    let area = header(root, &c.title, &subtitle)?;
    let area = legend(&area, &legend_items(c))?;
    let x = TickAxis::new(&c.x_ticks);
    let y = y_axis(c);
    let n = c.panels.len().max(1);
    let parts = area.split_evenly((n, 1));
    for (i, (panel, part)) in c.panels.iter().zip(&parts).enumerate() {
        let bottom = i + 1 == n;
        let mut builder = ChartBuilder::on(part);
        if let Some(caption) = &panel.caption {
            builder.caption(caption, font(16.0, INK));
        }
        let mut chart = builder
            .margin_left(12)
            .margin_right(28)
            .margin_top(6)
            .margin_bottom(if bottom { 8 } else { 4 })
            .x_label_area_size(if bottom { 52 } else { 28 })
            .y_label_area_size(92)
            .build_cartesian_2d(x.clone(), y.clone())?;
        let (_, height) = part.dim_in_pixel();
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(c.y_desc.as_str())
            .axis_desc_style(font(16.0, INK))
            .label_style(font(14.0, INK))
            .bold_line_style(GRID_BOLD.stroke_width(1))
            .light_line_style(GRID_LIGHT.stroke_width(1))
            .x_labels(c.x_ticks.len().max(1))
            .y_labels(((height as usize).saturating_sub(60) / 28).clamp(3, 8));
        if bottom {
            mesh.x_desc(c.x_desc.as_str());
        }
        mesh.draw()?;
        let lines: Vec<Line> = panel.lines.iter().map(as_line).collect();
        // Error bars first, under the lines: a vertical rule with caps in the system's colour. A low
        // end below 0 (a mean near 0 with a wide spread) is drawn at 0.
        for l in &panel.lines {
            let Some(system) = l.system else { continue };
            let ink = system_color(system).stroke_width(2);
            // Kafka's a little left, RabbitMQ's a little right, so that both show where they overlap.
            let dx = if system == SystemKind::Kafka { -4 } else { 4 };
            for &(x, lo, hi) in &l.intervals {
                let (px, top) = chart.backend_coord(&(x, hi.max(0.0)));
                let px = px + dx;
                let (_, bottom) = chart.backend_coord(&(x, lo.max(0.0)));
                root.draw(&PathElement::new(vec![(px, bottom), (px, top)], ink))?;
                for y in [bottom, top] {
                    root.draw(&PathElement::new(vec![(px - 6, y), (px + 6, y)], ink))?;
                }
            }
        }
        for line in draw_order(&lines) {
            draw_line(&mut chart, line)?;
            if line.dash == Dash::Solid {
                // A dot at each point run, so that a single point or a kink shows where it was measured.
                let r = line.width + 2;
                chart.draw_series(line.points.iter().map(|&p| Circle::new(p, r, line.color.filled())))?;
            }
        }
        // Each system's value at each point, in its colour: Kafka's left of the dot, RabbitMQ's
        // right, so that the two stay apart where the lines meet.
        let points_n = lines.iter().map(|l| l.points.len()).max().unwrap_or(0);
        if points_n <= MAX_LABELLED {
            for (l, system) in lines.iter().zip(&panel.lines).filter_map(|(l, p)| Some((l, p.system?))) {
                let (anchor, dx) = match system {
                    SystemKind::Kafka => (HPos::Right, -6),
                    SystemKind::RabbitMq => (HPos::Left, 6),
                };
                let style = font(12.0, l.color).pos(Pos::new(anchor, VPos::Bottom));
                for &(x, v) in &l.points {
                    let (px, py) = chart.backend_coord(&(x, v));
                    root.draw_text(&value_label(v, c.scale), &style, (px + dx, py - 5))?;
                }
            }
        }
        if lines.iter().all(|l| l.points.is_empty()) {
            let plot = chart.plotting_area();
            let (xr, yr) = plot.get_pixel_range();
            no_data(root, (xr.start, yr.start), (xr.end, yr.end))?;
        }
    }
    Ok(())
}

/// Whether Kafka's and RabbitMQ's lines are within 3 pixels of each other at every point of every
/// panel (on a plot about 360 pixels high), so that only one seems to be drawn.
fn coincide(c: &SweepChart) -> bool {
    let y = y_axis(c);
    let px = |v: f64| y.map(&v, (0, 360));
    let pairs: Vec<(&SweepLine, &SweepLine)> = c
        .panels
        .iter()
        .filter_map(|p| {
            let find = |k: SystemKind| p.lines.iter().find(|l| l.system == Some(k));
            Some((find(SystemKind::Kafka)?, find(SystemKind::RabbitMq)?))
        })
        .collect();
    !pairs.is_empty()
        && pairs.iter().all(|(a, b)| {
            a.points.len() == b.points.len()
                && a.points.iter().zip(&b.points).all(|(p, q)| p.0 == q.0 && (px(p.1) - px(q.1)).abs() <= 3)
        })
}

/// A value as written beside its point: a count with thousands separators, a decimal, or a
/// duration in ms with its unit ("0.12 ms", "385 ms", "2.2 s").
fn value_label(v: f64, scale: SweepScale) -> String {
    match scale {
        SweepScale::Count => format_value(v, YFormat::Count),
        SweepScale::Decimal => format_value(v, YFormat::Decimal),
        SweepScale::LogMs if v < 1.0 => format!("{} ms", trim(v, 2)),
        SweepScale::LogMs => round_secs(v / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(intervals: Vec<(f64, f64, f64)>) -> SweepChart {
        SweepChart {
            title: "t".into(),
            subtitle: "s".into(),
            x_desc: "x".into(),
            x_ticks: vec![(0.0, "a".into()), (1.0, "b".into())],
            y_desc: "y".into(),
            scale: SweepScale::Decimal,
            reference: None,
            panels: vec![SweepPanel {
                caption: None,
                lines: vec![SweepLine {
                    system: Some(SystemKind::Kafka),
                    points: vec![(0.0, 10.0), (1.0, 20.0)],
                    intervals,
                }],
            }],
        }
    }

    /// Each interval is three strokes in Kafka's colour (a rule and its two caps), and the axis
    /// reaches the top of the highest bar.
    #[test]
    fn intervals_are_drawn_as_error_bars() {
        let kafka = "stroke=\"#D65200\"";
        let plain = sweep_svg(&chart(Vec::new())).unwrap();
        let bars = sweep_svg(&chart(vec![(0.0, 5.0, 15.0), (1.0, 12.0, 60.0)])).unwrap();
        assert_eq!(bars.matches(kafka).count(), plain.matches(kafka).count() + 6);
        assert!(matches!(y_axis(&chart(vec![(1.0, 12.0, 60.0)])), YAxis::Linear(r, _) if r.range().end >= 60.0));
    }
}
