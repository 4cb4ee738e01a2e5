//! The brokers' resources over time (a calibrated profile only): one panel per kind of resource,
//! both systems in each, so a student sees which one fills up first and when.

use super::*;
use crate::world::resources::UtilisationSample;

/// Reads one kind of resource off a sample.
type Figure = fn(&UtilisationSample) -> f64;

/// The panels: caption, and the sample's figure.
const KINDS: [(&str, Figure); 4] = [
    ("CPU of the busiest broker (all its cores)", |u| u.cpu),
    ("disk of the busiest broker", |u| u.disk),
    ("network card of the busiest broker (busier direction)", |u| u.network),
    ("busiest queue process (RabbitMQ: one Erlang process, at most one core)", |u| u.process),
];

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    // Sampled while the producers publish: the drain after it is left out.
    let end = s.duration.as_secs_f64().max(1e-9);
    let unit = time_unit(end);
    let x_end = end / unit.secs;
    let mut markers = landmarks(s, unit);
    markers.extend(event_markers(s, runs, unit, x_end, None));
    let bands = bands(s, runs, unit, x_end, None);
    let mut panels = Vec::new();
    let mut legend = Vec::new();
    for (k, (caption, value)) in KINDS.iter().enumerate() {
        let mut lines = Vec::new();
        for r in runs {
            // Kafka has no per-queue process: its line would be a flat zero that hides nothing.
            if k == 3 && r.system == SystemKind::Kafka {
                continue;
            }
            let series = &r.end.utilisation_series;
            // Each sample covers the interval before it: draw it at the interval's middle.
            let mut prev = 0.0;
            let points: Vec<(f64, f64)> = series
                .iter()
                .map(|u| {
                    let t = u.time.as_secs_f64();
                    let x = (prev + t) / 2.0 / unit.secs;
                    prev = t;
                    (x, value(u) * 100.0)
                })
                .collect();
            let peak = series.iter().map(value).fold(0.0, f64::max);
            let line = Line {
                label: format!("{} (peak {:.0}%)", r.system.name(), peak * 100.0),
                color: system_color(r.system),
                dash: Dash::Solid,
                width: system_width(r.system),
                points,
            };
            if k == 0 {
                legend.push(LegendItem {
                    label: r.system.name().to_string(),
                    color: line.color,
                    width: line.width,
                    glyph: Glyph::Line(Dash::Solid),
                });
            }
            lines.push(line);
        }
        let peaks: Vec<String> = lines.iter().map(|l| l.label.clone()).collect();
        panels.push(TimePanel {
            caption: Some(format!("{caption}: {}", peaks.join(", "))),
            weight: 1,
            label_markers: k == 0,
            y_desc: "busy (%)".into(),
            y_end: 100.0,
            y_format: YFormat::Count,
            lines,
            markers: markers.clone(),
            bands: bands.clone(),
        });
    }
    legend.extend(event_legend(s, &markers));
    legend.extend(band_legend(s, &bands));
    Chart::Time(TimeChart {
        title: format!("{}: what limits the brokers", s.name),
        subtitle: format!(
            "Share of each {} interval the brokers' busiest resource of each kind was working, while the producers \
             publish (profile \"{}\"). A resource near 100% is the bottleneck: work waits for it.",
            round_secs(s.sample_interval.as_secs_f64()),
            s.profile.name()
        ),
        legend,
        x_desc: format!("time since start ({})", unit.name),
        x_end,
        panels,
        size: (SIZE.0, 1000),
    })
}
