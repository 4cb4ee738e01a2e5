//! Backlog over time: messages published and not yet processed, the same count in both systems.
//! Under each group's panel, a strip with Kafka's own committed-offset lag for reference, on its
//! own scale, so that it neither flattens the comparison nor passes for it.

use super::*;

/// Heights (pixels) of a group's backlog panel and of its lag strip, when there are several groups.
const PANEL_HEIGHT: u32 = 230;
const STRIP_HEIGHT: u32 = 140;
/// Relative heights of panel and strip.
const PANEL_WEIGHT: u32 = 2;
const STRIP_WEIGHT: u32 = 1;

/// (time, value) of one group's samples.
fn series(samples: &[Sample], group: usize, unit: TimeUnit, value: fn(&Sample) -> u64) -> Vec<(f64, f64)> {
    samples.iter().filter(|x| x.group == group).map(|x| (x.time.as_secs_f64() / unit.secs, value(x) as f64)).collect()
}

fn peak(samples: &[Sample], group: usize, value: fn(&Sample) -> u64) -> Option<u64> {
    samples.iter().filter(|x| x.group == group).map(value).max()
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), super::super::table::thousands)
}

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let end = run_end_secs(s, runs);
    let unit = time_unit(end);
    let x_end = end / unit.secs;
    let several = s.groups.len() > 1;
    let kafka = runs.iter().find(|r| r.system == SystemKind::Kafka);
    let plot_px = if several { PANEL_HEIGHT as f64 - 60.0 } else { 260.0 };
    let mut panels = Vec::new();
    let mut legend: Vec<LegendItem> = Vec::new();
    let mut coincide = Vec::new();
    for (gi, g) in s.groups.iter().enumerate() {
        let mut lines = Vec::new();
        let mut peaks = Vec::new();
        for r in runs {
            let samples = &r.recorder.samples;
            let p = peak(samples, gi, |x| x.backlog_max);
            peaks.push(format!("{} {}", r.system.name(), count(p)));
            lines.push(Line {
                label: format!("{} backlog{}", r.system.name(), if several { String::new() } else { peak_label(p) }),
                color: system_color(r.system),
                dash: Dash::Solid,
                width: system_width(r.system),
                points: series(samples, gi, unit, |x| x.backlog_max),
            });
        }
        let max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        let y_end = y_top(max, 5.0);
        if let [a, b] = &lines[..]
            && let Some(text) = lines_coincide(a, b, y_end, plot_px, x_end, unit)
        {
            coincide.push(if several { format!("{}: {}", g.name, lower_first(&text)) } else { text });
        }
        let mut markers = landmarks(s, unit);
        markers.extend(event_markers(s, runs, unit, x_end, Some(gi)));
        let bands = bands(s, runs, unit, x_end, Some(gi));
        if gi == 0 {
            legend = lines.iter().map(LegendItem::from).collect();
        }
        let mut new_items = event_legend(s, &markers);
        new_items.extend(band_legend(s, &bands));
        panels.push(TimePanel {
            caption: several.then(|| format!("{}: peak backlog {}", g.name, peaks.join(", "))),
            weight: PANEL_WEIGHT,
            label_markers: true,
            y_desc: "messages".to_string(),
            y_end,
            y_format: YFormat::Count,
            lines,
            markers: markers.clone(),
            bands: bands.clone(),
        });
        if let Some(r) = kafka {
            let p = peak(&r.recorder.samples, gi, |x| x.consumer_lag_max);
            let line = Line {
                label: format!("kafka consumer lag (end offset − committed){}", peak_label(p)),
                color: KAFKA,
                dash: Dash::Dashed(7, 4),
                width: 2,
                points: series(&r.recorder.samples, gi, unit, |x| x.consumer_lag_max),
            };
            let lag_max = line.points.iter().map(|p| p.1).fold(0.0, f64::max);
            let caption = if !g.kind.is_consumer() {
                // A share group has no committed offsets: its lag is the log end minus the SPSO.
                format!(
                    "{}: kafka share lag (end offset − share-partition start), its own scale (peak {})",
                    g.name,
                    count(p)
                )
            } else if several {
                format!("{}: kafka consumer lag, its own scale (peak {})", g.name, count(p))
            } else {
                format!("kafka consumer lag, its own scale (peak {})", count(p))
            };
            if gi == 0 {
                new_items.insert(0, LegendItem::from(&line));
                if let Some(item) = new_items.first_mut() {
                    item.label = "kafka consumer lag (end offset − committed)".into();
                }
            }
            panels.push(TimePanel {
                caption: Some(caption),
                weight: STRIP_WEIGHT,
                label_markers: false,
                y_desc: "messages".to_string(),
                y_end: y_top(lag_max, 5.0),
                y_format: YFormat::Count,
                lines: vec![line],
                markers,
                bands,
            });
        }
        for item in new_items {
            if !legend.iter().any(|l| l.label == item.label) {
                legend.push(item);
            }
        }
    }
    let mut subtitle = format!(
        "Backlog: messages published and not yet processed, counted the same way in both systems; each point \
         is the highest value in its {} interval.",
        round_secs(s.sample_interval.as_secs_f64())
    );
    if kafka.is_some() {
        let commits = if s.kafka.enable_auto_commit {
            format!("auto-commit every {}", round_secs(s.kafka.auto_commit_interval.as_secs_f64()))
        } else {
            "a commit after each poll's records".to_string()
        };
        subtitle.push_str(&format!(
            " Below, on its own scale: Kafka's consumer lag, which also counts records already processed but not \
             yet committed ({commits})."
        ));
    }
    if several {
        subtitle.push_str(" Each group has its own panels and scales.");
    }
    for text in coincide {
        subtitle.push(' ');
        subtitle.push_str(&text);
    }
    let per_group = PANEL_HEIGHT + if kafka.is_some() { STRIP_HEIGHT } else { 0 };
    let height = if several { 170 + per_group * s.groups.len() as u32 } else { SIZE.1 + 140 };
    Chart::Time(TimeChart {
        title: format!("{}: backlog (published, not yet processed)", s.name),
        subtitle,
        legend,
        x_desc: format!("time since start ({})", unit.name),
        x_end,
        panels,
        size: (SIZE.0, height),
    })
}

/// "The two ..." -> "the two ...", after a group's name and a colon.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}
