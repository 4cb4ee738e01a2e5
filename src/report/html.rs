//! `report.html`: one self-contained page per run and per sweep, for a student to open from the
//! file system. It loads nothing (no network, no other file): the styles, the chart script
//! (`report.js`, a few kB, drawing inline SVG) and the data are all inside it. It holds the
//! lesson text of the scenario file's comments, the summary table, the charts (hover for values,
//! click a legend entry to hide or show a system; faults and rebalances as bands, landmarks and
//! losses as lines), and `summary.json` itself, verbatim, in
//! `<script type="application/json" id="summary">` (a sweep's: `sweep.json`, `id="sweep"`), so
//! that a script reading the page reads the same figures.
//!
//! The page is a pure function of the run's data, written as well-formed XHTML-style markup
//! (every element closed, attributes quoted): the same run gives the same bytes.

use super::charts::sweep::{SweepChart, SweepScale};
use super::charts::{self, BandKind, MarkerKind, TimeUnit};
use super::{Summary, SystemRun, table};
use crate::metrics::Sample;
use crate::scenario::{Scenario, SystemKind};
use serde_json::{Value, json};

/// The file name of the report, in a run's folder and in a sweep's.
pub const REPORT: &str = "report.html";

const SCRIPT: &str = include_str!("report.js");
const STYLE: &str = include_str!("report.css");
/// Most points drawn per line: longer series are reduced to this many buckets (rates averaged,
/// gauges at their maximum, so that a peak stays the peak).
const MAX_POINTS: usize = 1500;

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push_str(&format!("&#x{:x};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// JSON text safe inside a `<script>` element: every `<` is written `\u003c` (only possible inside
/// a JSON string, where it means the same), so no `</script>` or `<!--` can end or fool the
/// element. Parsing the result gives the same value as parsing `json`.
pub fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
}

fn color(system: SystemKind) -> String {
    let c = charts::system_color(system);
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The page around `body`: head, styles, the embedded data blocks and the chart script.
fn page(title: &str, body: &str, data: &[(&str, &str)], charts: &Value) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
    out.push_str(&format!("<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n", escape(title)));
    out.push_str(body);
    for (id, json) in data {
        out.push_str(&format!(
            "<script type=\"application/json\" id=\"{id}\">\n{}\n</script>\n",
            script_json(json.trim_end())
        ));
    }
    let charts = serde_json::to_string(charts).expect("chart specs are plain data");
    out.push_str(&format!("<script type=\"application/json\" id=\"charts\">{}</script>\n", script_json(&charts)));
    out.push_str(&format!("<script>\n{SCRIPT}</script>\n</body>\n</html>\n"));
    out
}

fn noscript(files: &str) -> String {
    format!(
        "<noscript><p class=\"note\">The interactive charts need JavaScript; the same charts are in this folder as \
         {files}.</p></noscript>\n"
    )
}

// ---------------------------------------------------------------------------------------------
// A run
// ---------------------------------------------------------------------------------------------

/// The report of one run: `summary_json` is `summary.json`'s text, embedded verbatim.
pub fn run_report(s: &Scenario, runs: &[SystemRun], summary: &Summary, summary_json: &str) -> String {
    let mut body = String::new();
    body.push_str(&format!("<header>\n<h1>{}</h1>\n", escape(&s.name)));
    if !s.description.is_empty() {
        body.push_str(&format!("<p class=\"description\">{}</p>\n", escape(&s.description)));
    }
    let systems: Vec<&str> = s.systems.iter().map(|k| k.name()).collect();
    let mut facts = format!(
        "seed {}, {} profile, producers publish for {}, systems: {}",
        s.seed,
        s.profile.name(),
        charts::round_secs(s.duration.as_secs_f64()),
        systems.join(", ")
    );
    if !s.overrides.is_empty() {
        facts.push_str(&format!("; set on the command line: {}", s.overrides.join(" ")));
    }
    body.push_str(&format!("<p class=\"facts\">{}</p>\n</header>\n", escape(&facts)));
    body.push_str(&lesson_html(s));
    body.push_str("<section>\n<h2>Charts</h2>\n");
    body.push_str(
        "<p class=\"note\">Kafka dark orange, RabbitMQ blue. Hover a chart for the values; click a legend entry \
         to hide or show a system. Violet bands: a fault from its start to its repair; teal: a Kafka group \
         rebalancing; grey dashed lines: landmarks (warmup end, producers stop, elections); red lines: losses.</p>\n",
    );
    body.push_str(&noscript("throughput.png, backlog.png, latency.png, storage.png and delivery.png"));
    body.push_str("<div id=\"run-charts\"></div>\n</section>\n");
    body.push_str(&table_html(summary));
    body.push_str(&files_html(
        "summary.json (every figure, also embedded in this page), timeseries.csv (the series drawn above, one row \
         per interval, system and group), and each chart as PNG and SVG",
    ));
    let charts = json!([{ "target": "run-charts", "charts": run_charts(s, runs) }]);
    page(&format!("pushpull: {}", s.name), &body, &[("summary", summary_json)], &charts)
}

fn lesson_html(s: &Scenario) -> String {
    let Some(l) = &s.lesson else { return String::new() };
    let mut out = String::from("<section class=\"lesson\">\n<h2>The lesson</h2>\n");
    out.push_str(&format!("<p class=\"question\">{}</p>\n", escape(&l.question)));
    out.push_str(&paragraphs(&l.story));
    if !l.look_at.is_empty() {
        out.push_str("<h3>What to look at</h3>\n");
        out.push_str(&paragraphs(&l.look_at));
    }
    if !l.tries.is_empty() {
        out.push_str("<h3>Try</h3>\n");
        out.push_str(&paragraphs(&l.tries));
    }
    out.push_str("</section>\n");
    out
}

/// Comment lines as HTML: blank lines separate paragraphs; indented lines (commands, TOML) are
/// kept as they are, in a `<pre>`.
fn paragraphs(lines: &[String]) -> String {
    let mut out = String::new();
    let mut para: Vec<&str> = Vec::new();
    let mut code: Vec<&str> = Vec::new();
    let flush = |out: &mut String, para: &mut Vec<&str>, code: &mut Vec<&str>| {
        if !para.is_empty() {
            out.push_str(&format!("<p>{}</p>\n", escape(&para.join(" "))));
            para.clear();
        }
        if !code.is_empty() {
            out.push_str(&format!("<pre>{}</pre>\n", escape(&code.join("\n"))));
            code.clear();
        }
    };
    for l in lines {
        if l.trim().is_empty() {
            flush(&mut out, &mut para, &mut code);
        } else if l.starts_with(' ') {
            if !para.is_empty() {
                let mut no_code = Vec::new();
                flush(&mut out, &mut para, &mut no_code);
            }
            code.push(l.strip_prefix("  ").unwrap_or(l));
        } else {
            if !code.is_empty() {
                let mut no_para = Vec::new();
                flush(&mut out, &mut no_para, &mut code);
            }
            para.push(l.trim());
        }
    }
    flush(&mut out, &mut para, &mut code);
    out
}

fn table_html(summary: &Summary) -> String {
    let names: Vec<&str> = summary.systems.keys().copied().collect();
    let reports: Vec<&super::SystemReport> = summary.systems.values().collect();
    let mut out = String::from("<section>\n<h2>Summary</h2>\n<table class=\"summary\">\n<thead><tr><th></th>");
    for n in &names {
        out.push_str(&format!("<th class=\"{n}\">{n}</th>"));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (label, values) in table::rows(&reports) {
        out.push_str(&format!("<tr><th>{}</th>", escape(&label)));
        for v in values {
            out.push_str(&format!("<td>{}</td>", escape(&v)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str(
        "<p class=\"note\">Durations are in the unit each row names. lost: never processed and stored nowhere at \
         the end; stranded: stored but never delivered; duplicates: processed again after a failure; replayed: \
         processed again because a group rewound on purpose. docs/outputs.md defines every figure.</p>\n</section>\n",
    );
    out
}

fn files_html(what: &str) -> String {
    format!("<footer>\n<p class=\"note\">Beside this page: {}.</p>\n</footer>\n", escape(what))
}

/// `points` reduced to at most [`MAX_POINTS`] by buckets of consecutive points: the mean (`max`
/// false) or the largest (`max` true) value of each, at the bucket's last x.
fn reduce(points: Vec<(f64, f64)>, max: bool) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_POINTS);
    points
        .chunks(per)
        .map(|c| {
            let x = c[c.len() - 1].0;
            let y = if max {
                c.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max)
            } else {
                c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64
            };
            (x, y)
        })
        .collect()
}

/// A line's dash: `true` dashed, or an SVG dash pattern.
fn series(name: &str, system: Option<SystemKind>, points: Vec<(f64, f64)>, dash: impl Into<Value>) -> Value {
    let (col, width) = match system {
        Some(k) => (color(k), if k == SystemKind::Kafka { 3 } else { 2 }),
        None => ("#464646".to_string(), 2),
    };
    json!({
        "name": name,
        "system": system.map(|k| k.name()),
        "color": col,
        "width": width,
        "dash": dash.into(),
        "points": points.iter().map(|&(x, y)| json!([x, finite(y)])).collect::<Vec<_>>(),
    })
}

fn finite(y: f64) -> Value {
    if y.is_finite() { json!(y) } else { Value::Null }
}

/// The time charts' bands and markers: the same ones the PNG charts draw.
fn time_marks(s: &Scenario, runs: &[SystemRun], unit: TimeUnit, x_end: f64) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let bands = charts::bands(s, runs, unit, x_end, None);
    let mut markers = charts::landmarks(s, unit);
    markers.extend(charts::event_markers(s, runs, unit, x_end, None));
    let band_json = bands
        .iter()
        .map(|b| {
            let kind = match b.kind {
                BandKind::Fault => "fault",
                BandKind::Rebalance => "rebalance",
                // The page's script colours "fault" and "rebalance" only (every committed report
                // embeds it): an alarm is drawn as a fault band, with its own label.
                BandKind::Alarm => "fault",
            };
            json!({ "from": b.from, "to": b.to, "label": b.label, "kind": kind })
        })
        .collect();
    let marker_json = markers
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MarkerKind::Landmark => "landmark",
                MarkerKind::Loss => "loss",
                MarkerKind::Tick => "tick",
            };
            json!({ "x": m.x, "label": m.label, "kind": kind })
        })
        .collect();
    let mut legend = Vec::new();
    if bands.iter().any(|b| b.kind == BandKind::Fault) {
        legend.push(json!({ "kind": "fault", "label": "fault in force" }));
    }
    if bands.iter().any(|b| b.kind == BandKind::Rebalance) {
        legend.push(json!({ "kind": "rebalance", "label": "kafka group rebalancing" }));
    }
    if bands.iter().any(|b| b.kind == BandKind::Alarm) {
        legend.push(json!({ "kind": "fault", "label": "resource alarm (publishers blocked)" }));
    }
    if markers.iter().any(|m| m.kind == MarkerKind::Loss) {
        legend.push(json!({ "kind": "loss", "label": "messages lost" }));
    }
    (band_json, marker_json, legend)
}

/// The per-time rows of one system: the samples of each time, one per group.
fn by_time(samples: &[Sample]) -> impl Iterator<Item = &[Sample]> {
    samples.chunk_by(|a, b| a.time == b.time)
}

fn run_charts(s: &Scenario, runs: &[SystemRun]) -> Vec<Value> {
    let x_end = charts::run_end_secs(s, runs);
    let unit = charts::time_unit(x_end);
    let x_end = x_end / unit.secs;
    let (bands, markers, legend) = time_marks(s, runs, unit, x_end);
    let t = |x: &Sample| x.time.as_secs_f64() / unit.secs;
    let several = s.groups.len() > 1;
    let time_chart = |title: &str, subtitle: &str, y_label: &str, y_unit: &str, series: Vec<Value>| {
        json!({
            "kind": "line",
            "title": title,
            "subtitle": subtitle,
            "x_label": format!("time since start ({})", unit.name),
            "x_unit": unit.short,
            "x_min": 0.0,
            "x_max": x_end,
            "y_label": y_label,
            "y_unit": y_unit,
            "y_log": false,
            "series": series,
            "bands": bands,
            "markers": markers,
            "extra_legend": legend,
        })
    };
    // Throughput: processed per second (all groups), against the offered load.
    let mut thr = Vec::new();
    if let Some(r) = runs.first() {
        let offered = by_time(&r.recorder.samples).map(|rows| (t(&rows[0]), rows[0].published_per_s)).collect();
        thr.push(series("offered load", None, reduce(offered, false), true));
    }
    for r in runs {
        let pts = by_time(&r.recorder.samples)
            .map(|rows| (t(&rows[0]), rows.iter().map(|x| x.processed_per_s).sum::<f64>()))
            .collect();
        thr.push(series(&format!("{} processed", r.system.name()), Some(r.system), reduce(pts, false), false));
    }
    // Backlog: published, not yet processed; one line per group when there are several.
    let mut backlog = Vec::new();
    for r in runs {
        for (gi, g) in s.groups.iter().enumerate() {
            let pts =
                r.recorder.samples.iter().filter(|x| x.group == gi).map(|x| (t(x), x.backlog_max as f64)).collect();
            let name = if several { format!("{} {}", r.system.name(), g.name) } else { r.system.name().to_string() };
            // Each group its own dash, the same in both systems.
            let dash = ["", "7 5", "2 3", "10 3 2 3"][gi.min(3)];
            backlog.push(series(&name, Some(r.system), reduce(pts, true), dash));
        }
    }
    // Storage, in a unit that suits the peak.
    let peak = runs.iter().flat_map(|r| r.recorder.samples.iter().map(|x| x.stored_bytes_max)).max().unwrap_or(0);
    let (div, bytes_unit) = match peak {
        p if p >= 1 << 30 => ((1u64 << 30) as f64, "GiB"),
        p if p >= 1 << 20 => ((1u64 << 20) as f64, "MiB"),
        p if p >= 1 << 10 => (1024.0, "KiB"),
        _ => (1.0, "bytes"),
    };
    let storage = runs
        .iter()
        .map(|r| {
            let pts =
                by_time(&r.recorder.samples).map(|rows| (t(&rows[0]), rows[0].stored_bytes_max as f64 / div)).collect();
            series(r.system.name(), Some(r.system), reduce(pts, true), false)
        })
        .collect();
    let mut out = vec![
        time_chart(
            "Throughput",
            "messages processed per second, all groups, against the offered load (grey dashed)",
            "messages per second",
            "/s",
            thr,
        ),
        time_chart(
            "Backlog",
            "messages published and not yet processed (the largest in each interval)",
            "messages",
            "",
            backlog,
        ),
        time_chart(
            "Storage",
            "bytes held by the broker (the largest in each interval)",
            &format!("stored ({bytes_unit})"),
            bytes_unit,
            storage,
        ),
    ];
    out.push(latency_chart(runs, s));
    out.push(delivery_chart(s, runs));
    out
}

/// Waiting time and end-to-end latency by percentile, log scale, a line per system and kind.
fn latency_chart(runs: &[SystemRun], s: &Scenario) -> Value {
    let ticks = ["p50", "p90", "p99", "p99.9", "max"];
    let mut out = Vec::new();
    for r in runs {
        let sum = r.summary(s);
        for (what, p, dash) in [("latency", &sum.total.latency_ms, false), ("wait", &sum.total.wait_ms, true)] {
            let values = [p.p50, p.p90, p.p99, p.p999, p.max];
            let pts = values.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect();
            out.push(series(&format!("{} {what}", r.system.name()), Some(r.system), pts, dash));
        }
    }
    json!({
        "kind": "line",
        "title": "Waiting time and latency",
        "subtitle": "by percentile, log scale (each grid step is ten times longer); wait: publish to processing start (dashed), latency: publish to processed (solid)",
        "x_label": "percentile of the messages published after the warmup",
        "x_name": "",
        "x_ticks": ticks.iter().enumerate().map(|(i, t)| json!([i as f64, t])).collect::<Vec<_>>(),
        "y_label": "milliseconds (log scale)",
        "y_unit": "ms",
        "y_log": true,
        "dots": true,
        "series": out,
    })
}

/// What the clients saw, from the independent checker: one bar per system for each kind.
fn delivery_chart(s: &Scenario, runs: &[SystemRun]) -> Value {
    let cats = [
        "acknowledged lost",
        "unacknowledged lost",
        "duplicates",
        "redelivered",
        "replayed",
        "skipped",
        "out of order",
    ];
    let _ = s;
    let series: Vec<Value> = runs
        .iter()
        .map(|r| {
            let d = &r.delivery.total;
            let values = [
                d.acknowledged_lost,
                d.unacknowledged_lost,
                d.duplicates,
                d.redelivered,
                d.replayed,
                d.skipped,
                d.out_of_order,
            ];
            json!({ "name": r.system.name(), "system": r.system.name(), "color": color(r.system), "values": values })
        })
        .collect();
    json!({
        "kind": "bars",
        "title": "Delivery",
        "subtitle": "what the clients saw, counted by the independent checker from client events alone (messages)",
        "x_label": "",
        "y_label": "messages",
        "categories": cats,
        "series": series,
    })
}

// ---------------------------------------------------------------------------------------------
// A sweep
// ---------------------------------------------------------------------------------------------

/// The report of a sweep: `manifest_json` is `sweep.json`'s text (embedded verbatim), `csv`
/// `sweep.csv`'s (shown as a table up to [`MAX_TABLE_ROWS`] rows), `charts` the sweep charts by
/// metric name (empty when there are too many panels).
pub fn sweep_report(
    scenario: &str,
    description: &str,
    manifest_json: &str,
    csv: &str,
    charts: &[(&str, &SweepChart)],
) -> String {
    let mut body = format!("<header>\n<h1>Sweep of {}</h1>\n", escape(scenario));
    if !description.is_empty() {
        body.push_str(&format!("<p class=\"description\">{}</p>\n", escape(description)));
    }
    let rows = csv.lines().count().saturating_sub(1);
    body.push_str(&format!(
        "<p class=\"facts\">{} rows in sweep.csv (one per point and system); each point's own report is \
         POINT/report.html.</p>\n</header>\n",
        rows
    ));
    body.push_str("<section>\n<h2>Charts</h2>\n");
    if charts.is_empty() {
        body.push_str("<p class=\"note\">No charts: too many combinations of the further parameters.</p>\n");
    } else {
        body.push_str(
            "<p class=\"note\">Each figure against the first varied parameter, a point per run, Kafka dark orange, \
             RabbitMQ blue. Hover for the values; click a legend entry to hide or show a system.</p>\n",
        );
        body.push_str(&noscript("sweep-*.png"));
    }
    body.push_str("<div id=\"sweep-charts\"></div>\n</section>\n");
    body.push_str(&csv_html(csv));
    body.push_str(&files_html(
        "sweep.json (what the sweep is, also embedded in this page), sweep.csv, the charts as PNG and SVG, and one \
         folder per point",
    ));
    let specs: Vec<Value> = charts.iter().flat_map(|(metric, c)| sweep_specs(metric, c)).collect();
    let charts = json!([{ "target": "sweep-charts", "charts": specs }]);
    page(&format!("pushpull sweep: {scenario}"), &body, &[("sweep", manifest_json)], &charts)
}

/// Most rows of `sweep.csv` shown as a table in the sweep's report.
pub const MAX_TABLE_ROWS: usize = 400;

fn csv_html(csv: &str) -> String {
    let mut out = String::from("<section>\n<h2>sweep.csv</h2>\n<div class=\"wide\"><table class=\"csv\">\n");
    for (i, line) in csv.lines().take(MAX_TABLE_ROWS + 1).enumerate() {
        let cell = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for f in split_csv(line) {
            out.push_str(&format!("<{cell}>{}</{cell}>", escape(&f)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    let rows = csv.lines().count().saturating_sub(1);
    if rows > MAX_TABLE_ROWS {
        out.push_str(&format!(
            "<p class=\"note\">The first {MAX_TABLE_ROWS} of {rows} rows; sweep.csv has them all.</p>\n"
        ));
    }
    out.push_str("</section>\n");
    out
}

/// One CSV line's fields (quotes as `sweep.csv` writes them: `"a,b"`, `""` for a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

fn sweep_specs(metric: &str, c: &SweepChart) -> Vec<Value> {
    c.panels
        .iter()
        .map(|p| {
            // The reference (offered load) first, under the systems' lines.
            let mut lines: Vec<_> = p.lines.iter().collect();
            lines.sort_by_key(|l| l.system.is_some());
            let series: Vec<Value> = lines
                .into_iter()
                .map(|l| match l.system {
                    Some(k) => series(k.name(), Some(k), l.points.clone(), false),
                    None => series(c.reference.as_deref().unwrap_or("reference"), None, l.points.clone(), true),
                })
                .collect();
            let title = match &p.caption {
                Some(cap) => format!("{} ({cap})", c.title),
                None => c.title.clone(),
            };
            json!({
                "kind": "line",
                "metric": metric,
                "title": title,
                "subtitle": c.subtitle,
                "x_label": c.x_desc,
                "x_name": "",
                "x_ticks": c.x_ticks.iter().map(|(x, l)| json!([x, l])).collect::<Vec<_>>(),
                "y_label": c.y_desc,
                "y_unit": if c.scale == SweepScale::LogMs { "ms" } else { "" },
                "y_log": c.scale == SweepScale::LogMs,
                "dots": true,
                "series": series,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_script_json() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        let json = r#"{"d":"</script><!--"}"#;
        let safe = script_json(json);
        assert!(!safe.contains('<'));
        let a: Value = serde_json::from_str(json).unwrap();
        let b: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(a, b);
        assert_eq!(split_csv("a,\"b,c\",\"say \"\"hi\"\"\""), ["a", "b,c", "say \"hi\""]);
    }

    #[test]
    fn long_series_are_reduced_keeping_peaks() {
        let pts: Vec<(f64, f64)> = (0..4000).map(|i| (i as f64, if i == 1234 { 99.0 } else { 1.0 })).collect();
        let r = reduce(pts.clone(), true);
        assert!(r.len() <= MAX_POINTS);
        assert_eq!(r.iter().map(|p| p.1).fold(0.0, f64::max), 99.0);
        let mean = reduce(pts, false);
        assert!(mean.iter().all(|p| p.1 >= 1.0 && p.1 < 99.0));
        assert_eq!(mean.last().unwrap().0, 3999.0);
    }

    #[test]
    fn comment_paragraphs_and_commands() {
        let lines: Vec<String> = ["One", "two.", "", "Try this:", "  pushpull run x", "  --out y", "After."]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            paragraphs(&lines),
            "<p>One two.</p>\n<p>Try this:</p>\n<pre>pushpull run x\n--out y</pre>\n<p>After.</p>\n"
        );
    }
}
