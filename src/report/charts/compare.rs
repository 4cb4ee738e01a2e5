//! `pushpull compare`'s chart: a few headline metrics of two result folders, A and B, as bars side
//! by side, one panel per metric (each on its own linear scale from 0), per system A's bar in a
//! light tint of the system's colour and B's in the full colour, the value above each bar, and the
//! 95% confidence interval as an error bar when the folder has replications.

use super::draw::{draw_bar, font, header, legend};
use super::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareBar {
    pub system: SystemKind,
    /// Whether it is B's (full colour) rather than A's (tinted).
    pub second: bool,
    /// `None`: the folder has no such figure (the system did not run there).
    pub value: Option<f64>,
    /// The 95% confidence interval of the mean, with replications.
    pub interval: Option<(f64, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ComparePanel {
    /// The metric with its unit: "throughput (messages/s)".
    pub caption: String,
    /// Integer counts (thousands separators) rather than decimals.
    pub count: bool,
    pub bars: Vec<CompareBar>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CompareChart {
    pub title: String,
    pub subtitle: String,
    /// Legend labels of A and B ("A: results/pooling").
    pub labels: (String, String),
    pub panels: Vec<ComparePanel>,
}

/// A's bars: the system's colour mixed with 55% white.
fn tint(c: RGBColor) -> RGBColor {
    let mix = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * 0.55).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

fn bar_color(b: &CompareBar) -> RGBColor {
    if b.second { system_color(b.system) } else { tint(system_color(b.system)) }
}

/// The chart as SVG text.
pub fn compare_svg(chart: &CompareChart) -> Result<String, String> {
    draw::register_font()?;
    let rows = chart.panels.len().div_ceil(2).max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 170 + 330 * rows)).into_drawing_area();
        draw(chart, &root).and_then(|()| root.present()).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn draw<DB: DrawingBackend>(c: &CompareChart, root: &DrawingArea<DB, plotters::coord::Shift>) -> DrawResult<(), DB> {
    root.fill(&WHITE)?;
    let area = header(root, &c.title, &c.subtitle)?;
    let mut systems: Vec<SystemKind> = c.panels.iter().flat_map(|p| p.bars.iter().map(|b| b.system)).collect();
    systems.sort_by_key(|s| s.name());
    systems.dedup();
    let mut items = Vec::new();
    for s in &systems {
        for (second, label) in [(false, &c.labels.0), (true, &c.labels.1)] {
            let color = if second { system_color(*s) } else { tint(system_color(*s)) };
            items.push(LegendItem { label: format!("{} {}", s.name(), label), color, width: 1, glyph: Glyph::Bar });
        }
    }
    let area = legend(&area, &items)?;
    let rows = c.panels.len().div_ceil(2).max(1);
    let parts = area.split_evenly((rows, 2));
    for (panel, part) in c.panels.iter().zip(&parts) {
        draw_panel(panel, part, root)?;
    }
    Ok(())
}

/// Draws a panel in `area`; bars, rules and text go on `root`, in the chart's pixel coordinates.
fn draw_panel<DB: DrawingBackend>(
    p: &ComparePanel,
    area: &DrawingArea<DB, plotters::coord::Shift>,
    root: &DrawingArea<DB, plotters::coord::Shift>,
) -> DrawResult<(), DB> {
    let max = p.bars.iter().flat_map(|b| b.value.into_iter().chain(b.interval.map(|i| i.1))).fold(0.0, f64::max);
    let top = y_top(max, if p.count { 4.0 } else { 1.0 });
    let n = p.bars.len().max(1);
    let format = if p.count { YFormat::Count } else { YFormat::Decimal };
    let mut chart = ChartBuilder::on(area)
        .caption(&p.caption, font(17.0, INK))
        .margin_left(10)
        .margin_right(18)
        .margin_top(6)
        .margin_bottom(6)
        .x_label_area_size(30)
        .y_label_area_size(78)
        .build_cartesian_2d(0.0..n as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .label_style(font(13.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .y_labels(6)
        .y_label_formatter(&|v| format_value(*v, format))
        .draw()?;
    // A gap between the systems' pairs: bars at 0.12..0.88 of each slot, pairs nudged together.
    for (i, b) in p.bars.iter().enumerate() {
        let slot = i as f64;
        let nudge = if b.second { -0.06 } else { 0.06 };
        let (x0, x1) = (slot + 0.14 + nudge, slot + 0.86 + nudge);
        let (px0, base) = chart.backend_coord(&(x0, 0.0));
        let (px1, _) = chart.backend_coord(&(x1, 0.0));
        let label_style = font(13.0, SUBTLE).pos(Pos::new(HPos::Center, VPos::Top));
        let name = format!("{} {}", b.system.name(), if b.second { "B" } else { "A" });
        root.draw_text(&name, &label_style, ((px0 + px1) / 2, base + 6))?;
        let Some(v) = b.value else {
            root.draw_text(
                "no data",
                &font(13.0, SUBTLE).pos(Pos::new(HPos::Center, VPos::Bottom)),
                ((px0 + px1) / 2, base - 4),
            )?;
            continue;
        };
        let (_, ptop) = chart.backend_coord(&(x0, v));
        let bar_top = draw_bar(root, (px0, px1), base, ptop, v, bar_color(b))?;
        let mut text_y = bar_top;
        if let Some((lo, hi)) = b.interval {
            let cx = (px0 + px1) / 2;
            let (_, py_lo) = chart.backend_coord(&(x0, lo.max(0.0)));
            let (_, py_hi) = chart.backend_coord(&(x0, hi.max(0.0)));
            let ink = INK.stroke_width(2);
            root.draw(&PathElement::new(vec![(cx, py_lo), (cx, py_hi)], ink))?;
            for y in [py_lo, py_hi] {
                root.draw(&PathElement::new(vec![(cx - 7, y), (cx + 7, y)], ink))?;
            }
            text_y = text_y.min(py_hi);
        }
        let value_style = font(13.0, INK).pos(Pos::new(HPos::Center, VPos::Bottom));
        root.draw_text(&format_value(v, format), &value_style, ((px0 + px1) / 2, text_y - 3))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bars in the systems' colours (A tinted), an error bar (a rule and two caps, black) where
    /// there is an interval, "no data" where there is no value, and the panels' captions.
    #[test]
    fn bars_error_bars_and_missing_values() {
        let bar = |system, second, value, interval| CompareBar { system, second, value, interval };
        let chart = CompareChart {
            title: "Compare".into(),
            subtitle: "s".into(),
            labels: ("A".into(), "B".into()),
            panels: vec![ComparePanel {
                caption: "throughput (messages/s)".into(),
                count: false,
                bars: vec![
                    bar(SystemKind::Kafka, false, Some(10.0), Some((8.0, 12.0))),
                    bar(SystemKind::Kafka, true, Some(20.0), None),
                    bar(SystemKind::RabbitMq, false, None, None),
                ],
            }],
        };
        let svg = compare_svg(&chart).unwrap();
        assert!(svg.contains("throughput (messages/s)") && svg.contains("no data") && svg.contains("kafka B"));
        assert!(svg.contains("fill=\"#D65200\""), "B's bar in Kafka's colour");
        let tinted = tint(system_color(SystemKind::Kafka));
        assert!(svg.contains(&format!("fill=\"#{:02X}{:02X}{:02X}\"", tinted.0, tinted.1, tinted.2)), "A's bar tinted");
        let black = format!("stroke=\"#{:02X}{:02X}{:02X}\"", INK.0, INK.1, INK.2);
        let without = compare_svg(&CompareChart {
            panels: vec![ComparePanel {
                bars: chart.panels[0].bars.iter().map(|b| CompareBar { interval: None, ..b.clone() }).collect(),
                ..chart.panels[0].clone()
            }],
            ..chart.clone()
        })
        .unwrap();
        assert_eq!(svg.matches(&black).count(), without.matches(&black).count() + 3);
    }
}
