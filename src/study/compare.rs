//! `pushpull compare A B [--out DIR]`: two result folders side by side. For each system and
//! headline metric: A, B, the difference B - A and the relative difference (B - A) / |A|. A folder
//! with replications contributes each metric's mean (and its 95% interval); when both have them, a
//! metric is flagged when Welch's t-test on the two sets of replications rejects equal means at the
//! 5% level (two-sided). The parameters that differ between the two runs are listed first. With
//! `--out DIR`, `compare.png` and `compare.svg` show a few headline metrics as bars.

use super::StudyError;
use super::metrics::{HEADLINE, value};
use super::replicate::{count_of, metric_of, values_of};
use super::stats::{Moments, Welch};
use crate::errtext;
use crate::report::charts::compare::{CompareBar, CompareChart, ComparePanel, compare_svg};
use crate::report::table::num;
use crate::report::{ReportError, write_atomic};
use crate::scenario::SystemKind;
use std::collections::BTreeMap;
use std::path::Path;

/// A result folder, read.
struct Folder<'a> {
    path: &'a Path,
    summary: serde_json::Value,
    /// `replications.count` (1 without).
    replications: u64,
}

/// Reads `dir/summary.json`; the error names the folder and what is missing.
fn read<'a>(dir: &'a Path, which: &str) -> Result<Folder<'a>, StudyError> {
    let shown = || errtext::path(&dir.display().to_string());
    let not = |what: String| StudyError::Input(format!("{which} {}: {what}", shown()));
    match std::fs::metadata(dir) {
        Err(e) => return Err(not(format!("cannot read the folder: {}", errtext::message(&e.to_string())))),
        Ok(m) if !m.is_dir() => return Err(not("is not a folder; compare takes two result folders".into())),
        Ok(_) => {}
    }
    let path = dir.join("summary.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hint = if dir.join(super::sweep::MANIFEST).is_file() {
                "; it is a sweep's folder: compare two of its points (its sub-folders)"
            } else {
                ""
            };
            return Err(not(format!(
                "not a result folder: it has no summary.json (the folders `pushpull run` writes, such as \
                 results/pooling, have one){hint}"
            )));
        }
        Err(e) => return Err(not(format!("cannot read summary.json: {}", errtext::message(&e.to_string())))),
    };
    let summary: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| not(format!("summary.json is not JSON: {}", errtext::message(&e.to_string()))))?;
    if !summary.get("systems").is_some_and(|s| s.is_object()) {
        return Err(not("summary.json has no `systems` object: not a summary pushpull wrote".into()));
    }
    let replications = count_of(&summary);
    Ok(Folder { path: dir, summary, replications })
}

impl Folder<'_> {
    fn systems(&self) -> Vec<String> {
        self.summary["systems"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// The metric's figure: the mean over the replications if any, else the run's value.
    fn figure(&self, system: &str, name: &str) -> Option<f64> {
        if self.replications > 1 {
            return metric_of(&self.summary, system, name)?.get("mean")?.as_f64();
        }
        value(self.summary.get("systems")?.get(system)?, name)?.as_f64()
    }

    fn interval(&self, system: &str, name: &str) -> Option<(f64, f64)> {
        let m = metric_of(&self.summary, system, name)?;
        Some((m.get("ci95_low")?.as_f64()?, m.get("ci95_high")?.as_f64()?))
    }

    fn moments(&self, system: &str, name: &str) -> Option<Moments> {
        (self.replications > 1).then(|| values_of(&self.summary, system, name)).flatten().and_then(|v| Moments::of(&v))
    }

    fn describe(&self) -> String {
        let text = |k: &str| self.summary.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        format!(
            "{} (scenario {}, seed {}, {} profile{})",
            errtext::path(&self.path.display().to_string()),
            errtext::label(&text("scenario").unwrap_or_default()),
            text("seed").unwrap_or_default(),
            text("profile").unwrap_or_default(),
            if self.replications > 1 { format!(", {} replications", self.replications) } else { String::new() }
        )
    }
}

/// Every leaf of a JSON value under its dotted path.
fn flatten(v: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(x, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, format!("{path}.{i}"), out);
            }
        }
        leaf => {
            out.insert(path, leaf.to_string());
        }
    }
}

/// The parameters (and seed) that differ: (path, A's value, B's value), "-" where absent.
fn differences(a: &serde_json::Value, b: &serde_json::Value) -> Vec<(String, String, String)> {
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten(&a["parameters"], String::new(), &mut fa);
    flatten(&b["parameters"], String::new(), &mut fb);
    let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    keys.into_iter()
        .filter(|k| fa.get(*k) != fb.get(*k) && k.as_str() != "source_sha256")
        .map(|k| {
            let get = |m: &BTreeMap<String, String>| m.get(k).cloned().unwrap_or_else(|| "-".into());
            (k.clone(), get(&fa), get(&fb))
        })
        .collect()
}

/// Most differing parameters listed.
const MAX_LISTED: usize = 15;

/// One row of the table.
struct Row {
    metric: &'static str,
    a: Option<f64>,
    b: Option<f64>,
    a_interval: Option<(f64, f64)>,
    b_interval: Option<(f64, f64)>,
    welch: Option<Welch>,
}

fn cell(v: Option<f64>, interval: Option<(f64, f64)>) -> String {
    match (v, interval) {
        (Some(v), Some((lo, hi))) => format!("{} ± {}", num(v), num((hi - lo) / 2.0)),
        (Some(v), None) => num(v),
        (None, _) => "-".into(),
    }
}

/// Runs the comparison: returns the text to print, and writes the chart into `out` if given.
pub fn compare(a: &Path, b: &Path, out: Option<&Path>) -> Result<String, StudyError> {
    let (fa, fb) = (read(a, "A")?, read(b, "B")?);
    let both = fa.replications > 1 && fb.replications > 1;
    let mut text = format!("A: {}\nB: {}\n", fa.describe(), fb.describe());
    let diffs = differences(&fa.summary, &fb.summary);
    if diffs.is_empty() {
        text.push_str("parameters: the same (seed included)\n");
    } else {
        text.push_str("parameters that differ (A -> B):\n");
        for (k, x, y) in diffs.iter().take(MAX_LISTED) {
            text.push_str(&format!("  {}: {} -> {}\n", errtext::label(k), errtext::label(x), errtext::label(y)));
        }
        if diffs.len() > MAX_LISTED {
            text.push_str(&format!("  ... and {} more\n", diffs.len() - MAX_LISTED));
        }
    }
    text.push_str(&if both {
        "A and B are means ± the half-width of their 95% confidence interval; `*`: the means differ by Welch's \
         t-test at the 5% level (two-sided p < 0.05)\n"
            .to_string()
    } else if fa.replications > 1 || fb.replications > 1 {
        "only one folder has replications (its figures are means): no test of the difference; run both with \
         --replications R to have one\n"
            .to_string()
    } else {
        "single runs: no confidence interval; run both with --replications R to see which differences are beyond \
         chance\n"
            .to_string()
    });
    let mut systems = fa.systems();
    systems.extend(fb.systems());
    systems.sort();
    systems.dedup();
    let mut tables: Vec<(String, Vec<Row>)> = Vec::new();
    for system in &systems {
        let rows = HEADLINE
            .iter()
            .map(|m| Row {
                metric: m.name,
                a: fa.figure(system, m.name),
                b: fb.figure(system, m.name),
                a_interval: fa.interval(system, m.name),
                b_interval: fb.interval(system, m.name),
                welch: both.then(|| Welch::test(&fa.moments(system, m.name)?, &fb.moments(system, m.name)?)).flatten(),
            })
            .collect();
        tables.push((system.clone(), rows));
    }
    for (system, rows) in &tables {
        text.push_str(&render(system, rows, both));
    }
    if let Some(dir) = out {
        let files = write_chart(dir, &fa, &fb, &systems, &diffs)?;
        text.push_str(&format!("chart: {}\n", files.display()));
    }
    Ok(text)
}

fn render(system: &str, rows: &[Row], both: bool) -> String {
    let mut header = vec![system.to_string(), "A".into(), "B".into(), "B - A".into(), "(B - A)/|A|".into()];
    if both {
        header.extend(["p (Welch)".to_string(), String::new()]);
    }
    let mut lines: Vec<Vec<String>> = vec![header];
    for r in rows {
        let diff = r.a.zip(r.b).map(|(a, b)| b - a);
        let rel = r.a.zip(diff).map(|(a, d)| {
            if a != 0.0 {
                format!("{:+.1}%", d / a.abs() * 100.0)
            } else if d == 0.0 {
                "0%".into()
            } else {
                "-".into()
            }
        });
        let mut line = vec![
            r.metric.to_string(),
            cell(r.a, r.a_interval),
            cell(r.b, r.b_interval),
            diff.map_or_else(|| "-".into(), |d| if d > 0.0 { format!("+{}", num(d)) } else { num(d) }),
            rel.unwrap_or_else(|| "-".into()),
        ];
        if both {
            line.push(r.welch.map_or_else(|| "-".into(), |w| format!("{:.3}", w.p)));
            line.push(if r.welch.is_some_and(|w| w.differs()) { "*".into() } else { String::new() });
        }
        lines.push(line);
    }
    let widths: Vec<usize> =
        (0..lines[0].len()).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::from("\n");
    for l in &lines {
        let mut row = String::new();
        for (c, (text, w)) in l.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(text.chars().count());
            if c == 0 {
                row.push_str(&format!("{text}{}", " ".repeat(pad)));
            } else {
                row.push_str(&format!("  {}{text}", " ".repeat(pad)));
            }
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// The chart's metrics: (name, caption with the unit, a count).
const CHARTED: [(&str, &str, bool); 4] = [
    ("throughput_per_s", "throughput (messages/s)", false),
    ("wait_ms.mean", "mean wait (ms, publish to processing start)", false),
    ("latency_ms.p99", "latency p99 (ms, publish to processed)", false),
    ("max_backlog", "largest backlog (messages published, not yet processed)", true),
];

fn write_chart(
    dir: &Path,
    fa: &Folder,
    fb: &Folder,
    systems: &[String],
    diffs: &[(String, String, String)],
) -> Result<std::path::PathBuf, StudyError> {
    let kinds: Vec<SystemKind> =
        systems.iter().filter_map(|s| SystemKind::ALL.into_iter().find(|k| k.name() == s)).collect();
    let panels = CHARTED
        .iter()
        .map(|(name, caption, count)| ComparePanel {
            caption: caption.to_string(),
            count: *count,
            bars: kinds
                .iter()
                .flat_map(|k| {
                    [(fa, false), (fb, true)].map(|(f, second)| CompareBar {
                        system: *k,
                        second,
                        value: f.figure(k.name(), name),
                        interval: f.interval(k.name(), name),
                    })
                })
                .collect(),
        })
        .collect();
    let with_ci = fa.replications > 1 || fb.replications > 1;
    let mut subtitle = format!(
        "A = {}, B = {}. Per system, A's bar is light and B's full colour (Kafka dark orange, RabbitMQ blue); the \
         value is written above each bar; each panel has its own scale.",
        fa.describe(),
        fb.describe()
    );
    if !diffs.is_empty() {
        let listed: Vec<String> = diffs
            .iter()
            .take(3)
            .map(|(k, x, y)| format!("{} {} -> {}", errtext::label(k), errtext::label(x), errtext::label(y)))
            .collect();
        let more = if diffs.len() > 3 { format!(" and {} more", diffs.len() - 3) } else { String::new() };
        subtitle.push_str(&format!(" B differs from A in: {}{more}.", listed.join(", ")));
    }
    if with_ci {
        subtitle.push_str(
            " Bars of a folder with replications show the mean; the black error bar is its 95% confidence interval.",
        );
    }
    let chart = CompareChart {
        title: format!("Compare: {} (A) and {} (B)", name_of(fa), name_of(fb)),
        subtitle,
        labels: ("A".into(), "B".into()),
        panels,
    };
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.display().to_string(), source })?;
    let (png, svg_path) = (dir.join("compare.png"), dir.join("compare.svg"));
    let chart_error = |path: &Path, message: String| ReportError::Chart { path: path.display().to_string(), message };
    let svg = compare_svg(&chart).map_err(|m| chart_error(&svg_path, m))?;
    let bytes = crate::report::charts::svg_to_png(&svg).map_err(|m| chart_error(&png, m))?;
    write_atomic(&png, &bytes)?;
    write_atomic(&svg_path, svg.as_bytes())?;
    Ok(png)
}

/// A folder's last path component, for the title.
fn name_of(f: &Folder) -> String {
    f.path.file_name().map_or_else(|| f.path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_that_differ() {
        let a = serde_json::json!({"parameters": {"seed": 1, "kafka": {"partitions": 5, "acks": "all"}, "x": [1, 2]}});
        let b = serde_json::json!({"parameters": {"seed": 1, "kafka": {"partitions": 6, "acks": "all"}, "x": [1]}});
        assert_eq!(
            differences(&a, &b),
            vec![("kafka.partitions".into(), "5".into(), "6".into()), ("x.1".into(), "2".into(), "-".into())]
        );
        assert!(differences(&a, &a).is_empty());
    }
}
