//! Drawing the chart models into SVG with plotters.

use super::latency::{LatencyChart, LatencyPanel, NINES_TICKS, NinesAxis};
use super::*;
use plotters::coord::Shift;
use plotters::coord::ranged1d::Ranged;
use plotters::element::DashedPathElement;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

/// Registers the bundled font with plotters (which measures text for the layout).
pub(super) fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok { Ok(()) } else { Err("the bundled font assets/fonts/DejaVuSans.ttf is not a valid font".into()) }
}

pub(super) fn font(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&color)
}

/// A legend of one solid box per system that ran, for bar charts.
pub(super) fn bar_legend(runs: &[SystemRun]) -> Vec<LegendItem> {
    runs.iter()
        .map(|r| LegendItem {
            label: r.system.name().to_string(),
            color: system_color(r.system),
            width: 1,
            glyph: Glyph::Bar,
        })
        .collect()
}

/// A bar from the axis at `base` up to `top` (pixels) for `value`: a 0 is a flat bar 3 pixels
/// tall on the axis, so that a reader sees a bar of height 0; any other value is at least 2 pixels
/// tall, so that none looks like 0. Returns the bar's top.
pub(super) fn draw_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x0, x1): (i32, i32),
    base: i32,
    top: i32,
    value: f64,
    color: RGBColor,
) -> DrawResult<i32, DB> {
    let top = if value <= 0.0 { base - 3 } else { top.min(base - 2) };
    root.draw(&Rectangle::new([(x0, top), (x1, base)], color.filled()))?;
    Ok(top)
}

/// Splits `text` into lines no wider than `width` pixels.
pub(super) fn wrap<DB: DrawingBackend>(
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
pub(super) fn header<DB: DrawingBackend>(
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

/// A small downward triangle with its tip at `(x, y)`.
fn triangle<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    color: RGBColor,
) -> DrawResult<(), DB> {
    area.draw(&Polygon::new(vec![(x - 5, y - 8), (x + 5, y - 8), (x, y)], color.filled()))
}

/// A legend entry's sample: a stretch of the line's pattern, a triangle or a short vertical rule.
fn sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    from: (i32, i32),
    len: i32,
    item: &LegendItem,
) -> DrawResult<(), DB> {
    let style = item.color.stroke_width(item.width.max(3));
    let points = vec![from, (from.0 + len, from.1)];
    match item.glyph {
        Glyph::Line(Dash::Solid) => area.draw(&PathElement::new(points, style)),
        Glyph::Line(Dash::Dashed(on, off)) => {
            area.draw(&DashedPathElement::new(points, on, off, item.color.stroke_width(item.width.max(2))))
        }
        Glyph::Triangle => triangle(area, (from.0 + len / 2, from.1 + 4), item.color),
        Glyph::Rule => area.draw(&PathElement::new(
            vec![(from.0 + len / 2, from.1 - 8), (from.0 + len / 2, from.1 + 8)],
            item.color.stroke_width(2),
        )),
        Glyph::Bar => {
            area.draw(&Rectangle::new([(from.0 + 8, from.1 - 8), (from.0 + len - 8, from.1 + 8)], item.color.filled()))
        }
        Glyph::Band => {
            let (x0, x1) = (from.0 + 4, from.0 + len - 4);
            band(area, x0, x1, from.1 - 8, from.1 + 8, item.color, 0.22)
        }
    }
}

/// A tinted band from `x0` to `x1` (pixels) with a thin rim at both ends.
fn band<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x0: i32,
    x1: i32,
    top: i32,
    bottom: i32,
    color: RGBColor,
    tint: f64,
) -> DrawResult<(), DB> {
    area.draw(&Rectangle::new([(x0, top), (x1, bottom)], color.mix(tint).filled()))?;
    for x in [x0, x1] {
        area.draw(&PathElement::new(vec![(x, top), (x, bottom)], color.mix(0.8).stroke_width(1)))?;
    }
    Ok(())
}

/// One row (or more, if needed) of legend entries, centred above the plot; returns the area below.
/// Outside the plot, so it never hides data.
pub(super) fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> DrawResult<DrawingArea<DB, Shift>, DB> {
    const SAMPLE: i32 = 34;
    const GAP: i32 = 8;
    const SPACING: i32 = 28;
    const ROW: i32 = 24;
    let style = font(15.0, INK).pos(Pos::new(HPos::Left, VPos::Center));
    let (w, _) = area.dim_in_pixel();
    let max_row = w as i32 - 40;
    let mut rows: Vec<Vec<(&LegendItem, i32)>> = vec![Vec::new()];
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
            sample(area, (x, y), SAMPLE, item)?;
            area.draw_text(&item.label, &style, (x + SAMPLE + GAP, y))?;
            x += item_w + SPACING;
        }
        y += ROW;
    }
    Ok(area.split_vertically(y - ROW / 2 + 6).1)
}

/// Lines in drawing order: widest first (stable), so that thinner lines stay visible on top.
pub(super) fn draw_order(lines: &[Line]) -> Vec<&Line> {
    let mut order: Vec<&Line> = lines.iter().collect();
    order.sort_by_key(|l| std::cmp::Reverse(l.width));
    order
}

pub(super) fn draw_line<DB: DrawingBackend, X, Y>(
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

pub(super) fn no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    from: (i32, i32),
    to: (i32, i32),
) -> DrawResult<(), DB> {
    let style = font(20.0, SUBTLE).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw_text("no data", &style, ((from.0 + to.0) / 2, (from.1 + to.1) / 2))
}

pub(super) fn draw_time_chart<DB: DrawingBackend>(c: &TimeChart, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let area = header(root, &c.title, &c.subtitle)?;
    let area = legend(&area, &c.legend)?;
    let (_, h) = area.dim_in_pixel();
    let total: u32 = c.panels.iter().map(|p| p.weight.max(1)).sum::<u32>().max(1);
    let mut breaks = Vec::new();
    let mut acc = 0;
    for p in c.panels.iter().take(c.panels.len().saturating_sub(1)) {
        acc += p.weight.max(1);
        breaks.push((h as u64 * acc as u64 / total as u64) as i32);
    }
    let parts = area.split_by_breakpoints(Vec::<i32>::new(), breaks);
    let last = c.panels.len().saturating_sub(1);
    for (i, (panel, part)) in c.panels.iter().zip(parts).enumerate() {
        draw_time_panel(c, panel, &part, root, i == last)?;
    }
    Ok(())
}

fn draw_time_panel<DB: DrawingBackend>(
    c: &TimeChart,
    p: &TimePanel,
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    bottom: bool,
) -> DrawResult<(), DB> {
    let y_format = p.y_format;
    let (width, height) = area.dim_in_pixel();
    let layout = |builder: &mut ChartBuilder<DB>, top: u32| {
        builder
            .margin_left(12)
            .margin_right(28)
            .margin_top(top)
            .margin_bottom(if bottom { 8 } else { 4 })
            .x_label_area_size(if bottom { 52 } else { 24 })
            .y_label_area_size(92);
    };
    // The x axis does not depend on the top margin: a first layout (nothing drawn) places the
    // labels, so that their rows can be reserved above the plot, where they hide no data.
    let mut probe = ChartBuilder::on(area);
    layout(&mut probe, 4);
    let probe = probe.build_cartesian_2d(0f64..c.x_end, 0f64..p.y_end)?;
    let x_px = |x: f64| probe.backend_coord(&(x, 0.0)).0;
    let plot_right = probe.backend_coord(&(c.x_end, 0.0)).0;
    let band_px: Vec<(i32, i32)> = p
        .bands
        .iter()
        .map(|b| {
            let (x0, x1) = (x_px(b.from), x_px(b.to));
            let x1 = if x1 - x0 < 2 { (x0 + 2).min(plot_right) } else { x1 };
            (x0.min(x1 - 2), x1)
        })
        .collect();
    let inside = |m: &Marker| m.x.is_finite() && m.x >= 0.0 && m.x <= c.x_end;
    let mut ordered: Vec<&Marker> = p.markers.iter().filter(|m| m.kind != MarkerKind::Tick && inside(m)).collect();
    let placed =
        if p.label_markers { place_labels(root, p, &ordered, &band_px, &x_px, plot_right)? } else { Vec::new() };
    let rows = placed.iter().map(|l| l.row + 1).max().unwrap_or(0);
    let pitch = LABEL_ROW_PX;
    // The caption is drawn here rather than by the builder, so that the label rows sit between it
    // and the plot.
    let caption_px = if let Some(caption) = &p.caption {
        let (x0, y0) = area.get_base_pixel();
        let style = font(16.0, INK).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw_text(caption, &style, (x0 + width as i32 / 2, y0 + 4))?;
        root.estimate_text_size(caption, &font(16.0, INK))?.1 + 8
    } else {
        0
    };
    let label_band = if rows > 0 { rows as u32 * pitch as u32 + 4 } else { 0 };
    let mut builder = ChartBuilder::on(area);
    layout(&mut builder, 4 + caption_px + label_band);
    let mut chart = builder.build_cartesian_2d(0f64..c.x_end, 0f64..p.y_end)?;
    let x_formatter = |v: &f64| format_value(*v, YFormat::Decimal);
    let y_formatter = |v: &f64| format_value(*v, y_format);
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(p.y_desc.as_str())
        .axis_desc_style(font(if height < 200 { 14.0 } else { 16.0 }, INK))
        .label_style(font(14.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .x_labels(12)
        .y_labels(((height as usize).saturating_sub(50 + label_band as usize) / 28).clamp(3, 8))
        .x_label_formatter(&x_formatter)
        .y_label_formatter(&y_formatter);
    if bottom {
        mesh.x_desc(c.x_desc.as_str());
    }
    mesh.draw()?;
    let (top_left, bottom_right) = (chart.backend_coord(&(0.0, p.y_end)), chart.backend_coord(&(c.x_end, 0.0)));
    // Bands under the lines, so that the data stays in front; at least 2 pixels wide.
    for (b, &(x0, x1)) in p.bands.iter().zip(&band_px) {
        let (color, tint) = match b.kind {
            BandKind::Fault => (FAULT, 0.12),
            BandKind::Rebalance => (REBALANCE, 0.3),
            BandKind::Alarm => (ALARM, 0.18),
        };
        band(root, x0, x1, top_left.1, bottom_right.1, color, tint)?;
    }
    for line in draw_order(&p.lines) {
        draw_line(&mut chart, line)?;
    }
    if p.lines.iter().all(|l| l.points.is_empty()) {
        no_data(root, top_left, bottom_right)?;
    }
    // Retention ticks along the top edge.
    if p.label_markers {
        for m in p.markers.iter().filter(|m| m.kind == MarkerKind::Tick && inside(m)) {
            let px = chart.backend_coord(&(m.x, 0.0)).0;
            triangle(root, (px, top_left.1 + 8), RETENTION)?;
        }
    }
    // Landmarks and loss events: a line across the plot.
    ordered.sort_by_key(|m| m.kind != MarkerKind::Loss);
    for m in &ordered {
        match m.kind {
            MarkerKind::Loss => {
                chart.draw_series(LineSeries::new([(m.x, 0.0), (m.x, p.y_end)], LOSS.stroke_width(2)))?;
            }
            _ => {
                chart.draw_series(DashedLineSeries::new([(m.x, 0.0), (m.x, p.y_end)], 6, 4, MARKER.stroke_width(1)))?;
            }
        }
    }
    // Labels in the rows reserved above the plot, row 0 nearest to it; a leader line carries
    // each mark up to its label (behind the labels of the rows it passes).
    let row_top = |row: i32| top_left.1 - 4 - (row + 1) * pitch + 3;
    for l in &placed {
        let y = row_top(l.row) + LABEL_TEXT_PX / 2;
        root.draw(&PathElement::new([(l.anchor, y), (l.anchor, top_left.1)], l.color.stroke_width(1)))?;
    }
    for l in &placed {
        let y = row_top(l.row);
        root.draw(&Rectangle::new(
            [(l.left - 3, y - 2), (l.right + 3, y + LABEL_TEXT_PX + 2)],
            WHITE.mix(0.85).filled(),
        ))?;
        root.draw_text(&l.text, &font(14.0, l.color).pos(Pos::new(HPos::Left, VPos::Top)), (l.left, y))?;
    }
    Ok(())
}

/// Height of one row of marker labels above a time panel, and of their text.
pub(super) const LABEL_ROW_PX: i32 = 21;
const LABEL_TEXT_PX: i32 = 15;

/// A marker's label, placed: its row above the plot (0 nearest), its text's left edge and the
/// x of the mark it names.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PlacedLabel {
    pub text: String,
    pub color: RGBColor,
    pub anchor: i32,
    pub left: i32,
    pub right: i32,
    pub row: i32,
}

/// Labels right of their line or band start where there is room (left of it otherwise), in rows
/// where they would overlap. Losses first, then faults and rebalances, then landmarks: what
/// matters most gets the row nearest to the plot.
fn place_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &TimePanel,
    markers: &[&Marker],
    band_px: &[(i32, i32)],
    x_px: &dyn Fn(f64) -> i32,
    plot_right: i32,
) -> DrawResult<Vec<PlacedLabel>, DB> {
    let mut labels: Vec<(&str, i32, RGBColor)> = Vec::new();
    for m in markers.iter().filter(|m| m.kind == MarkerKind::Loss) {
        labels.push((m.label.as_str(), x_px(m.x), LOSS));
    }
    for kind in [BandKind::Fault, BandKind::Alarm, BandKind::Rebalance] {
        for (b, &(x0, _)) in p.bands.iter().zip(band_px).filter(|(b, _)| b.kind == kind && !b.label.is_empty()) {
            let color = match kind {
                BandKind::Fault => FAULT_TEXT,
                BandKind::Alarm => ALARM_TEXT,
                BandKind::Rebalance => REBALANCE_TEXT,
            };
            labels.push((b.label.as_str(), x0, color));
        }
    }
    for m in markers.iter().filter(|m| m.kind != MarkerKind::Loss && !m.label.is_empty()) {
        labels.push((m.label.as_str(), x_px(m.x), MARKER));
    }
    let mut placed: Vec<PlacedLabel> = Vec::new();
    for (text, px, color) in labels {
        let (tw, _) = root.estimate_text_size(text, &font(14.0, color))?;
        let tw = tw as i32;
        let (left, right) = if px + 6 + tw <= plot_right - 2 { (px + 6, px + 6 + tw) } else { (px - 6 - tw, px - 6) };
        let mut row = 0;
        while placed.iter().any(|l| l.row == row && left < l.right + 8 && right > l.left - 8) {
            row += 1;
        }
        placed.push(PlacedLabel { text: text.to_string(), color, anchor: px, left, right, row });
    }
    Ok(placed)
}

pub(super) fn draw_latency_chart<DB: DrawingBackend>(
    c: &LatencyChart,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<(), DB> {
    let area = header(root, &c.title, &c.subtitle)?;
    let area = legend(&area, &c.legend)?;
    let n = c.rows.len().max(1);
    let cells = area.split_evenly((n, 2));
    for (i, (row, part)) in c.rows.iter().zip(cells.chunks(2)).enumerate() {
        for (panel, cell) in row.iter().zip(part) {
            draw_latency_panel(panel, cell, root, i + 1 == n)?;
        }
    }
    Ok(())
}

fn draw_latency_panel<DB: DrawingBackend>(
    panel: &LatencyPanel,
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
    bottom: bool,
) -> DrawResult<(), DB> {
    let axis = &panel.axis;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, font(16.0, INK))
        .margin_left(10)
        .margin_right(36)
        .margin_top(6)
        .margin_bottom(if bottom { 8 } else { 4 })
        .x_label_area_size(if bottom { 48 } else { 24 })
        .y_label_area_size(78)
        .build_cartesian_2d(NinesAxis, axis.clone())?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc("time (log scale)")
        .axis_desc_style(font(16.0, INK))
        .label_style(font(14.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .x_labels(NINES_TICKS.len())
        .y_labels(16);
    if bottom {
        mesh.x_desc("percentile (p99: 99 % of messages were faster)");
    }
    mesh.draw()?;
    for line in draw_order(&panel.lines) {
        draw_line(&mut chart, line)?;
    }
    let plot = chart.plotting_area();
    let (xr, yr) = plot.get_pixel_range();
    if let Some(f) = axis.break_fraction() {
        // The break: two short slanted strokes across the y axis, and a white gap in the plot,
        // so that nobody reads the band as part of the log scale.
        let y = yr.end - ((yr.end - yr.start) as f64 * f).round() as i32;
        root.draw(&Rectangle::new([(xr.start + 1, y - 2), (xr.end, y + 2)], WHITE.mix(0.9).filled()))?;
        for dy in [-3, 3] {
            root.draw(&PathElement::new(
                vec![(xr.start - 6, y + dy + 3), (xr.start + 6, y + dy - 3)],
                INK.stroke_width(1),
            ))?;
        }
    }
    if panel.lines.iter().all(|l| l.points.is_empty()) {
        no_data(root, (xr.start, yr.start), (xr.end, yr.end))?;
    }
    Ok(())
}
