//! What each system delivered, as its clients saw it (the independent checker's counts): lost
//! messages (acknowledged and not), duplicates, redeliveries, and how long the producer got no
//! confirm. Counts and seconds have different units, so they get a panel each; every bar is
//! labelled with its exact value, 0 included, and a figure that cannot be measured reads "n/a",
//! never 0.

use super::draw::{bar_legend, draw_bar, font, header, legend, wrap};
use super::*;
use crate::checker::DeliveryCounts;
use plotters::coord::Shift;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) const SIZE: (u32, u32) = (1000, 640);

/// One bar: a system's value (`None`: not measurable) and the text drawn above it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Bar {
    pub system: SystemKind,
    pub value: Option<f64>,
    pub text: String,
}

/// One measure: its name, what it means in a line, a bar per system.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Category {
    pub name: String,
    pub meaning: String,
    pub bars: Vec<Bar>,
}

pub(super) struct BarPanel {
    pub caption: String,
    pub y_desc: String,
    pub y_end: f64,
    pub y_format: YFormat,
    pub categories: Vec<Category>,
}

pub(super) struct DeliveryChart {
    pub title: String,
    pub subtitle: String,
    pub legend: Vec<LegendItem>,
    /// Counts, then seconds.
    pub panels: Vec<BarPanel>,
    pub size: (u32, u32),
}

fn count_bar(r: &SystemRun, n: u64) -> Bar {
    Bar { system: r.system, value: Some(n as f64), text: super::super::table::thousands(n) }
}

/// Seconds, exact to the millisecond: "0 s", "18.987 s", "1,234 s".
pub(super) fn seconds_text(secs: f64) -> String {
    if secs >= 1000.0 {
        format!("{} s", super::super::table::thousands(secs.round() as u64))
    } else {
        format!("{} s", trim(secs, 3))
    }
}

/// "g/0 crashed at 60 s for 10 s; broker-0 down at 90 s, never restarted", from what the runs
/// reported (the same in every system that ran the schedule).
fn fault_sentence(s: &Scenario, runs: &[SystemRun]) -> String {
    let mut spans: Vec<&FaultSpan> = Vec::new();
    for span in runs.iter().flat_map(|r| &r.recorder.faults) {
        if !spans.contains(&span) {
            spans.push(span);
        }
    }
    spans.sort_by_key(|x| (x.start, x.step));
    let parts: Vec<String> = spans
        .iter()
        .filter_map(|span| {
            let f = s.faults.get(span.step)?;
            let at = round_secs(span.start.as_secs_f64());
            Some(match span.end {
                Some(end) => format!(
                    "{} at {at} for {}",
                    fault_label(s, f, true),
                    round_secs(end.since(span.start).as_secs_f64())
                ),
                None => {
                    let (what, never) = fault_words(s, f);
                    format!("{what} at {at}, never {never}")
                }
            })
        })
        .collect();
    if parts.is_empty() {
        let n = s
            .faults
            .iter()
            .filter(|f| matches!(f.action, FaultAction::Crash | FaultAction::Hang | FaultAction::Partition))
            .count();
        format!("{n} fault(s) scheduled.")
    } else {
        format!("Faults: {}.", parts.join("; "))
    }
}

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let theta = round_secs(crate::checker::CheckerConfig::for_scenario(s).stall_threshold.as_secs_f64());
    let total = |f: fn(&DeliveryCounts) -> u64| runs.iter().map(move |r| (r, f(&r.delivery.total)));
    let category = |name: &str, meaning: &str, f: fn(&DeliveryCounts) -> u64| Category {
        name: name.into(),
        meaning: meaning.into(),
        bars: total(f).map(|(r, n)| count_bar(r, n)).collect(),
    };
    // Stranded, skipped and replayed only where some system has any: most runs have none, and
    // each is a lesson of its own where it appears.
    let any = |f: fn(&DeliveryCounts) -> u64| total(f).any(|(_, n)| n > 0);
    let mut counts = vec![
        category("acknowledged lost", "confirmed to the producer, then gone from every replica", |d| {
            d.acknowledged_lost
        }),
        category("unacknowledged lost", "never confirmed, never processed, stored nowhere", |d| d.unacknowledged_lost),
    ];
    if any(|d| d.stranded) {
        counts.push(category("stranded", "still stored at the end, never delivered", |d| d.stranded));
    }
    if any(|d| d.skipped) {
        counts.push(category("skipped", "passed over on purpose: the group started reading at the end", |d| d.skipped));
    }
    counts.push(category("duplicates", "processed again after a failure", |d| d.duplicates));
    // Only with an idempotent group: how many of those duplicates were applied again.
    if runs.iter().any(|r| r.delivery.total.duplicate_effects.is_some()) {
        counts.push(category("duplicate effects", "applied twice: not recognised as already applied", |d| {
            d.duplicate_effects.unwrap_or(d.duplicates)
        }));
    }
    if any(|d| d.replayed) {
        counts.push(category("replayed", "read again on purpose after a rewind: not duplicates", |d| d.replayed));
    }
    counts.push(category("redelivered", "handed to a consumer again, flagged by the broker", |d| d.redelivered));
    // Issue 18's settled categories (never lost), only where some system has any.
    type Count = fn(&DeliveryCounts) -> u64;
    let settled: [(&str, &str, Count); 4] = [
        ("dead-lettered", "moved to a dead-letter topic or exchange, not lost", |d| d.dead_lettered),
        ("expired", "too old: a queue's TTL or a consumer's max age", |d| d.expired),
        ("dropped", "thrown away on purpose: skipped, given up, or a queue limit", |d| d.dropped),
        ("in a retry", "still being retried at the end: a retry topic, a requeue loop", |d| d.retried),
    ];
    for (name, meaning, f) in settled {
        if any(f) {
            counts.push(category(name, meaning, f));
        }
    }
    let unmeasurable = runs.iter().any(|r| r.delivery.unavailable_s.is_none());
    let mut seconds = vec![Category {
        name: "unavailable".into(),
        meaning: format!(
            "the producer waited over {theta} for any confirm{}",
            if unmeasurable { "; n/a: no confirms, not measurable" } else { "" }
        ),
        bars: runs
            .iter()
            .map(|r| Bar {
                system: r.system,
                value: r.delivery.unavailable_s,
                text: r.delivery.unavailable_s.map_or_else(|| "n/a".to_string(), seconds_text),
            })
            .collect(),
    }];
    // The producer's own crash is the client's outage, not the system's: a bar of its own.
    if runs.iter().any(|r| r.delivery.producer_down_s > 0.0) {
        seconds.push(Category {
            name: "producer down".into(),
            meaning: "the producer itself had crashed (not counted as unavailable)".into(),
            bars: runs
                .iter()
                .map(|r| Bar {
                    system: r.system,
                    value: Some(r.delivery.producer_down_s),
                    text: seconds_text(r.delivery.producer_down_s),
                })
                .collect(),
        });
    }
    let max = |cats: &[Category]| cats.iter().flat_map(|c| c.bars.iter().filter_map(|b| b.value)).fold(0.0, f64::max);
    let per_group = if s.groups.len() > 1 {
        format!("messages (summed over {} groups)", s.groups.len())
    } else {
        "messages".to_string()
    };
    let panels = vec![
        BarPanel {
            caption: "how many messages".into(),
            y_desc: per_group,
            y_end: (max(&counts) * 1.2).max(5.0),
            y_format: YFormat::Count,
            categories: counts,
        },
        BarPanel {
            caption: "how long the producer stalled".into(),
            y_desc: "seconds".into(),
            y_end: (max(&seconds) * 1.2).max(1.0),
            y_format: YFormat::Decimal,
            categories: seconds,
        },
    ];
    let all_zero =
        panels.iter().flat_map(|p| &p.categories).flat_map(|c| &c.bars).all(|b| b.value.is_none_or(|v| v == 0.0));
    let faults = if s.faults.is_empty() { "No faults in this scenario.".to_string() } else { fault_sentence(s, runs) };
    let mut subtitle = format!("What each system's clients saw, recounted by the independent checker. {faults}");
    if all_zero {
        // An empty chart must not look like a broken one: say why it is empty.
        subtitle.push_str(if s.faults.is_empty() {
            " Nothing was lost, duplicated or replayed: every bar is 0, as expected without faults."
        } else {
            " Nothing was lost, duplicated or replayed: every bar is 0."
        });
    }
    if s.groups.len() > 1 {
        // With exchanges (a dead-letter exchange among them) a group is owed what is routed to it.
        subtitle.push_str(if s.routing.is_some() {
            " Each group is owed what is routed to it: counts are per message and group."
        } else {
            " Each group is owed every message: counts are per message and group."
        });
    }
    if let [only] = runs {
        subtitle.push_str(&format!(" Only {} ran.", only.system.name()));
    }
    Chart::Delivery(DeliveryChart {
        title: format!("{}: delivery (lost, duplicated, redelivered, unavailable)", s.name),
        subtitle,
        legend: bar_legend(runs),
        panels,
        size: SIZE,
    })
}

pub(super) fn draw<DB: DrawingBackend>(c: &DeliveryChart, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let area = header(root, &c.title, &c.subtitle)?;
    let area = legend(&area, &c.legend)?;
    let (w, _) = area.dim_in_pixel();
    // Each panel gets room for its y axis, and a share of the rest by its categories (a lone
    // category a little more, for its explanation).
    let shares: Vec<f64> = c.panels.iter().map(|p| (p.categories.len() as f64).max(1.3)).collect();
    let axes = (AXIS_PX + MARGIN_PX) * c.panels.len() as i32;
    let unit = (w as i32 - axes).max(0) as f64 / shares.iter().sum::<f64>();
    let mut breaks = Vec::new();
    let mut acc = 0;
    for share in shares.iter().take(shares.len().saturating_sub(1)) {
        acc += AXIS_PX + MARGIN_PX + (share * unit).round() as i32;
        breaks.push(acc);
    }
    let parts = area.split_by_breakpoints(breaks, Vec::<i32>::new());
    for (panel, part) in c.panels.iter().zip(parts) {
        draw_panel(panel, &part, root)?;
    }
    Ok(())
}

/// Pixels left of a panel's plot for its y axis, and of margins around it.
const AXIS_PX: i32 = 78;
const MARGIN_PX: i32 = 32;

/// Width of one bar and the distance between two bars' centres, in category widths.
const BAR_WIDTH: f64 = 0.3;
const BAR_STEP: f64 = 0.34;

fn draw_panel<DB: DrawingBackend>(
    p: &BarPanel,
    area: &DrawingArea<DB, Shift>,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<(), DB> {
    let n = p.categories.len().max(1) as f64;
    let y_format = p.y_format;
    let mut chart = ChartBuilder::on(area)
        .caption(&p.caption, font(17.0, INK))
        .margin_left(12)
        .margin_right(MARGIN_PX as u32 - 12)
        .margin_top(6)
        .margin_bottom(6)
        .x_label_area_size(116)
        .y_label_area_size(AXIS_PX as u32)
        .build_cartesian_2d(0f64..n, 0f64..p.y_end)?;
    let y_formatter = |v: &f64| format_value(*v, y_format);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_label_formatter(&|_| String::new())
        .y_desc(p.y_desc.as_str())
        .axis_desc_style(font(15.0, INK))
        .label_style(font(14.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .y_labels(6)
        .y_label_formatter(&y_formatter)
        .draw()?;
    let px = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let (plot_left, plot_top) = px(0.0, p.y_end);
    let (plot_right, base) = px(n, 0.0);
    if p.categories.iter().all(|c| c.bars.is_empty()) {
        let style = font(20.0, SUBTLE).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text("no data", &style, ((plot_left + plot_right) / 2, (plot_top + base) / 2))?;
    }
    let value_style = font(15.0, INK);
    let cat_w = ((plot_right - plot_left) as f64 / n) as i32;
    for (i, cat) in p.categories.iter().enumerate() {
        let centre = i as f64 + 0.5;
        let k = cat.bars.len() as f64;
        // Labels drawn so far in this category: (left, top, right, bottom).
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        for (j, bar) in cat.bars.iter().enumerate() {
            let mid = centre + (j as f64 - (k - 1.0) / 2.0) * BAR_STEP;
            let (x0, _) = px(mid - BAR_WIDTH / 2.0, 0.0);
            let (x1, _) = px(mid + BAR_WIDTH / 2.0, 0.0);
            let color = system_color(bar.system);
            let top = match bar.value {
                // Not measurable: no bar at all, the label says so in the system's colour.
                None => base,
                Some(v) => draw_bar(root, (x0, x1), base, px(mid, v.min(p.y_end)).1, v, color)?,
            };
            // "n/a" in the system's colour, a little larger: it stands where the bar would be.
            let style = if bar.value.is_none() { font(17.0, color) } else { value_style.clone() };
            let (tw, th) = root.estimate_text_size(&bar.text, &style)?;
            let (tw, th) = (tw as i32, th as i32);
            let cx = (x0 + x1) / 2;
            let (left, right) = (cx - tw / 2, cx - tw / 2 + tw);
            let mut bottom = top - 4;
            // Above any label of this category it would overlap.
            while let Some(&(_, t, _, _)) = placed
                .iter()
                .find(|&&(l, t, r, b)| left < r + 4 && right > l - 4 && bottom - th < b + 2 && bottom > t - 2)
            {
                bottom = t - 3;
            }
            placed.push((left, bottom - th, right, bottom));
            root.draw_text(&bar.text, &style.pos(Pos::new(HPos::Left, VPos::Bottom)), (left, bottom))?;
        }
        // Under the axis: the measure's name, then what it means.
        let cx = px(centre, 0.0).0;
        // Narrow categories (the settled ones make up to nine) get smaller type, so that a long
        // word such as "unacknowledged" stays within its own column.
        let (name_px, meaning_px) = if cat_w < 110 { (12.0, 11.0) } else { (15.0, 13.0) };
        let name_style = font(name_px, INK).pos(Pos::new(HPos::Center, VPos::Top));
        let mut y = base + 10;
        for line in wrap(root, &cat.name, &name_style, (cat_w - 6).max(40) as u32)? {
            root.draw_text(&line, &name_style, (cx, y))?;
            y += name_px as i32 + 3;
        }
        let meaning_style = font(meaning_px, SUBTLE).pos(Pos::new(HPos::Center, VPos::Top));
        y += 2;
        for line in wrap(root, &cat.meaning, &meaning_style, (cat_w - 10).max(40) as u32)? {
            root.draw_text(&line, &meaning_style, (cx, y))?;
            y += meaning_px as i32 + 3;
        }
    }
    Ok(())
}
