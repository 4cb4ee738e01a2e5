//! How busy each consumer was: its busy fraction (share of the measurement window spent
//! processing, from the recorder's [`crate::metrics::busy`]) as a bar per consumer and system,
//! the consumers of each group side by side, groups one after the other. Idle consumers (no work
//! in the window) get a flat bar and a bracket above the plot naming them ("kafka: consumers 6–11
//! idle (no partition)"), so that the picture says at a glance which consumers had nothing to do.

use super::draw::{bar_legend, draw_bar, font, header, legend};
use super::*;
use plotters::coord::Shift;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) const SIZE: (u32, u32) = (1000, 600);

/// One consumer index of a group: each system's busy fraction in percent (`None`: that system
/// has no such consumer).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Slot {
    pub consumer: u32,
    pub busy: Vec<(SystemKind, Option<f64>)>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Cluster {
    pub name: String,
    pub slots: Vec<Slot>,
    /// A Kafka share group (said under its name).
    pub share: bool,
}

/// Consecutive idle consumers `from..=to` of one system in cluster `cluster`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct IdleRun {
    pub system: SystemKind,
    pub cluster: usize,
    pub from: u32,
    pub to: u32,
    pub label: String,
}

pub(super) struct ConsumersChart {
    pub title: String,
    pub subtitle: String,
    pub legend: Vec<LegendItem>,
    pub clusters: Vec<Cluster>,
    pub idle: Vec<IdleRun>,
    pub size: (u32, u32),
}

/// "consumer 3" or "consumers 6–11".
fn consumers_text(from: u32, to: u32) -> String {
    if from == to { format!("consumer {from}") } else { format!("consumers {from}–{to}") }
}

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let summaries: Vec<_> = runs.iter().map(|r| (r.system, r.summary(s))).collect();
    let mut clusters = Vec::new();
    let mut idle = Vec::new();
    for (gi, g) in s.groups.iter().enumerate() {
        let per_system: Vec<_> = summaries.iter().map(|(sys, sum)| (*sys, sum.groups.get(&g.name))).collect();
        let n = per_system.iter().filter_map(|(_, x)| x.map(|x| x.consumers.len())).max().unwrap_or(0);
        let slots = (0..n)
            .map(|i| Slot {
                consumer: i as u32,
                busy: per_system
                    .iter()
                    .map(|(sys, x)| (*sys, x.and_then(|x| x.consumers.get(i)).map(|c| c.busy_fraction * 100.0)))
                    .collect(),
            })
            .collect();
        clusters.push(Cluster { name: g.name.clone(), slots, share: !g.kind.is_consumer() });
        for (sys, x) in &per_system {
            let Some(x) = x else { continue };
            // Runs of consecutive idle consumers.
            let mut run: Option<(u32, u32)> = None;
            let mut close = |run: Option<(u32, u32)>| {
                if let Some((from, to)) = run {
                    // The range assignor gives nothing to consumers beyond the partition count (a
                    // share group's simple assignor gives every member a partition).
                    let why = if *sys == SystemKind::Kafka && from >= s.kafka.partitions && g.kind.is_consumer() {
                        " (no partition)"
                    } else {
                        ""
                    };
                    let label = format!("{}: {} idle{why}", sys.name(), consumers_text(from, to));
                    idle.push(IdleRun { system: *sys, cluster: gi, from, to, label });
                }
            };
            for c in &x.consumers {
                run = match (run, c.idle) {
                    (Some((from, to)), true) if to + 1 == c.consumer => Some((from, c.consumer)),
                    (r, true) => {
                        close(r);
                        Some((c.consumer, c.consumer))
                    }
                    (r, false) => {
                        close(r);
                        None
                    }
                };
            }
            close(run);
        }
    }
    let from = if s.warmup.is_zero() { "0 s".to_string() } else { round_secs(s.warmup.as_secs_f64()) };
    let window = format!("{from} to {}", round_secs(s.duration.as_secs_f64()));
    let mut subtitle = format!(
        "Busy fraction: the share of the measurement window ({window}) each consumer spent processing \
         (jobs finished, clipped to the window)."
    );
    for (sys, sum) in &summaries {
        let total: usize = sum.groups.values().map(|g| g.consumers.len()).sum();
        subtitle.push_str(&format!(
            " {}: mean {}%, {} of {total} idle.",
            sys.name(),
            super::super::table::percent(sum.busy_fraction.mean),
            sum.idle_consumers
        ));
    }
    if let [only] = runs {
        subtitle.push_str(&format!(" Only {} ran.", only.system.name()));
    }
    if !idle.is_empty() {
        subtitle.push_str(" An idle consumer (no work in the window) is a flat bar.");
    }
    Chart::Consumers(ConsumersChart {
        title: format!("{}: consumer utilisation (busy fraction per consumer)", s.name),
        subtitle,
        legend: bar_legend(runs),
        clusters,
        idle,
        size: SIZE,
    })
}

/// Pixels left of the plot for the y axis, and below it for consumer numbers and group names.
const AXIS_PX: u32 = 70;
const X_LABELS_PX: u32 = 78;
/// Rows of idle brackets above the plot, and their height.
const IDLE_ROWS: i32 = 3;
const IDLE_ROW_PX: i32 = 22;
/// Empty slots between two groups.
const GROUP_GAP: f64 = 1.0;

pub(super) fn draw<DB: DrawingBackend>(c: &ConsumersChart, root: &DrawingArea<DB, Shift>) -> DrawResult<(), DB> {
    let area = header(root, &c.title, &c.subtitle)?;
    let area = legend(&area, &c.legend)?;
    // Where each cluster starts, in slots.
    let mut starts = Vec::new();
    let mut x = 0.0;
    for cl in &c.clusters {
        starts.push(x);
        x += cl.slots.len() as f64 + GROUP_GAP;
    }
    let x_end = (x - GROUP_GAP).max(1.0);
    let top_px = 12 + (c.idle.len() as i32).min(IDLE_ROWS) * IDLE_ROW_PX;
    let mut chart = ChartBuilder::on(&area)
        .margin_left(16)
        .margin_right(24)
        .margin_top(top_px as u32)
        .margin_bottom(8)
        .x_label_area_size(X_LABELS_PX)
        .y_label_area_size(AXIS_PX)
        .build_cartesian_2d(0f64..x_end, 0f64..100f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_label_formatter(&|_| String::new())
        .y_desc("busy (% of the measurement window)")
        .axis_desc_style(font(15.0, INK))
        .label_style(font(14.0, INK))
        .bold_line_style(GRID_BOLD.stroke_width(1))
        .light_line_style(GRID_LIGHT.stroke_width(1))
        .y_labels(6)
        .y_label_formatter(&|v: &f64| format!("{v:.0}"))
        .draw()?;
    let px = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let (plot_left, plot_top) = px(0.0, 100.0);
    let (plot_right, base) = px(x_end, 0.0);
    let slot_px = (plot_right - plot_left) as f64 / x_end;
    if c.clusters.iter().all(|cl| cl.slots.is_empty()) {
        let style = font(20.0, SUBTLE).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text("no consumers", &style, ((plot_left + plot_right) / 2, (plot_top + base) / 2))?;
        return Ok(());
    }
    // Consumer numbers every `step` slots, so that they never overlap.
    let number_style = font(13.0, INK).pos(Pos::new(HPos::Center, VPos::Top));
    let widest = c.clusters.iter().flat_map(|cl| &cl.slots).map(|x| x.consumer).max().unwrap_or(0).to_string();
    let needed = root.estimate_text_size(&widest, &number_style)?.0 as f64 + 6.0;
    let step = [1u32, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .find(|&k| k as f64 * slot_px >= needed)
        .unwrap_or(1000);
    let name_style = font(15.0, INK).pos(Pos::new(HPos::Center, VPos::Top));
    for (cl, &start) in c.clusters.iter().zip(&starts) {
        for (i, slot) in cl.slots.iter().enumerate() {
            let centre = start + i as f64 + 0.5;
            let k = slot.busy.len().max(1) as f64;
            // The bars of a slot fill 80% of it, side by side.
            let width = 0.8 / k;
            for (j, (system, busy)) in slot.busy.iter().enumerate() {
                let Some(v) = busy else { continue };
                let left = centre - 0.4 + j as f64 * width;
                let (x0, _) = px(left, 0.0);
                let (x1, _) = px(left + width, 0.0);
                let x1 = x1.max(x0 + 1);
                draw_bar(root, (x0, x1), base, px(left, v.min(100.0)).1, *v, system_color(*system))?;
            }
            if slot.consumer % step == 0 {
                root.draw_text(&slot.consumer.to_string(), &number_style, (px(centre, 0.0).0, base + 6))?;
            }
        }
        let (from, _) = px(start, 0.0);
        let (to, _) = px(start + cl.slots.len() as f64, 0.0);
        let kind = if cl.share { "; a share group in Kafka" } else { "" };
        let label = format!("group {} ({} consumers{kind})", cl.name, cl.slots.len());
        root.draw_text(&label, &name_style, ((from + to) / 2, base + 26))?;
        if c.clusters.len() > 1 {
            // A tick under the cluster, from its first to its last consumer.
            root.draw(&PathElement::new(vec![(from + 2, base + 24), (to - 2, base + 24)], SUBTLE.stroke_width(1)))?;
        }
    }
    let x_desc = font(15.0, INK).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw_text("consumer (its index in the group)", &x_desc, ((plot_left + plot_right) / 2, base + 50))?;
    draw_idle(c, root, &starts, &px, plot_top, (plot_left, plot_right))
}

/// Each run of idle consumers: a bracket above the plot over them, in the system's colour, and
/// its label, in the first of the rows above where it overlaps nothing (no label where none is
/// free; the subtitle counts them anyway).
fn draw_idle<DB: DrawingBackend>(
    c: &ConsumersChart,
    root: &DrawingArea<DB, Shift>,
    starts: &[f64],
    px: &dyn Fn(f64, f64) -> (i32, i32),
    plot_top: i32,
    (plot_left, plot_right): (i32, i32),
) -> DrawResult<(), DB> {
    // Labels placed so far: (row, left, right).
    let mut placed: Vec<(i32, i32, i32)> = Vec::new();
    for run in &c.idle {
        let color = system_color(run.system);
        let start = starts[run.cluster];
        let (x0, _) = px(start + run.from as f64 + 0.1, 0.0);
        let (x1, _) = px(start + run.to as f64 + 0.9, 0.0);
        let style = font(15.0, color);
        let tw = root.estimate_text_size(&run.label, &style)?.0 as i32;
        let left = ((x0 + x1) / 2 - tw / 2).clamp(plot_left, (plot_right - tw).max(plot_left));
        let right = left + tw;
        let rows = (c.idle.len() as i32).min(IDLE_ROWS);
        let free =
            (0..rows).find(|&row| !placed.iter().any(|&(r, l, rt)| r == row && left < rt + 12 && right > l - 12));
        let Some(row) = free else {
            // No free row: the bracket alone, just above the plot.
            bracket(root, x0, x1, plot_top - 4, color)?;
            continue;
        };
        placed.push((row, left, right));
        let y = plot_top - 4 - row * IDLE_ROW_PX;
        bracket(root, x0, x1, y, color)?;
        root.draw_text(&run.label, &style.pos(Pos::new(HPos::Left, VPos::Bottom)), (left, y - 4))?;
    }
    Ok(())
}

/// A bracket from `x0` to `x1` whose legs reach down to `y + 4`.
fn bracket<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x0: i32,
    x1: i32,
    y: i32,
    color: RGBColor,
) -> DrawResult<(), DB> {
    let x1 = x1.max(x0 + 1);
    root.draw(&PathElement::new(vec![(x0, y + 4), (x0, y), (x1, y), (x1, y + 4)], color.stroke_width(2)))
}
