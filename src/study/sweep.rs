//! A sweep: the points of `--vary` ([`super::vary`]), each a run of the scenario with those values
//! set, in `DIR/<point>/`; `DIR/sweep.json` says what the sweep is; `DIR/sweep.csv` and the
//! `DIR/sweep-<metric>.png` charts are made from the points' `summary.json` alone, so that a
//! sweep, a sweep resumed, and shards merged by `collect` write the same bytes.
//!
//! A point is done when its folder holds a `summary.json` of this pushpull version and schema
//! whose scenario hash is the point's (the file, the `--set` and the point's values): the run
//! writes it last and atomically ([`crate::report::outdir`]), so a run killed half-way leaves no
//! such file, and a changed scenario file makes every point stale.

use super::StudyError;
use super::metrics::{HEADLINE, Metric, value};
use super::replicate::{count_of, metric_of};
use super::vary::{Shard, Vary, points};
use crate::errtext;
use crate::report::charts::sweep::{SweepChart, SweepLine, SweepPanel, SweepScale, sweep_svg};
use crate::report::{ReportError, SCHEMA_VERSION, html, write_atomic};
use crate::scenario::overrides::Override;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The sweep's definition, `DIR/sweep.json`: the same bytes in every shard's folder.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub pushpull_version: String,
    /// The scenario's name.
    pub scenario: String,
    /// The hash of the scenario file with the `--set` overrides (without the varied values).
    pub scenario_sha256: String,
    pub sets: Vec<String>,
    pub vary: Vec<VaryEntry>,
    /// In the cross product's order: index `i` is point `i`.
    pub points: Vec<PointEntry>,
    /// `--replications R` (absent: 1, each point one run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replications: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VaryEntry {
    pub parameter: String,
    pub values: Vec<String>,
    pub geometric: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PointEntry {
    pub folder: String,
    /// The `summary.json` hash of the point's run.
    pub scenario_sha256: String,
}

/// The manifest's file name, and the table's.
pub const MANIFEST: &str = "sweep.json";
pub const TABLE: &str = "sweep.csv";

/// A point to run: its folder and the overrides that make it.
pub struct PendingPoint {
    pub folder: String,
    pub sets: Vec<Override>,
}

/// What a sweep command has to do.
pub struct Planned {
    pub manifest: Manifest,
    /// This shard's points that are not done yet, in order.
    pub pending: Vec<PendingPoint>,
    /// This shard's points already done (skipped).
    pub done: usize,
}

impl Manifest {
    fn varies(&self) -> Vec<Vary> {
        self.vary
            .iter()
            .map(|v| Vary { path: v.parameter.clone(), values: v.values.clone(), geometric: v.geometric })
            .collect()
    }

    /// Whether the manifest describes its own points (a hand-edited one may not): every parameter
    /// has values, and the cross product gives the listed folders in order.
    fn check(&self) -> Result<(), String> {
        let varies = self.varies();
        if varies.is_empty() || varies.iter().any(|v| v.values.is_empty()) {
            return Err("a sweep varies at least one parameter, each over at least one value".into());
        }
        let all = points(&varies)?;
        let listed: Vec<&str> = self.points.iter().map(|p| p.folder.as_str()).collect();
        if all.iter().map(|p| p.folder.as_str()).ne(listed.iter().copied()) {
            return Err("its points are not the cross product of its parameters' values".into());
        }
        Ok(())
    }

    fn text(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest is plain data");
        json.push('\n');
        json
    }
}

/// Loads every point of the sweep (so that a bad value fails every shard alike, before anything
/// runs), checks their size unless `force`, and finds which of this shard's points are done in `dir`.
pub fn plan(
    file: &Path,
    sets: &[Override],
    varies: &[Vary],
    shard: Option<Shard>,
    force: bool,
    replications: u32,
    dir: &Path,
) -> Result<Planned, StudyError> {
    for v in varies {
        if let Some(s) = sets.iter().find(|s| s.field() == v.path) {
            return Err(StudyError::Usage(format!(
                "--vary {} and {s} set the same parameter; drop the --set",
                errtext::value(&v.path)
            )));
        }
    }
    let all = points(varies).map_err(StudyError::Usage)?;
    let base = crate::plan::load(file, sets)?;
    let name = file.display().to_string();
    let mut entries = Vec::new();
    let mut pending = Vec::new();
    let mut done = 0;
    for p in &all {
        let mut point_sets = sets.to_vec();
        point_sets.extend(varies.iter().zip(&p.choice).map(|(v, &c)| v.set(c)));
        let s = crate::plan::load(file, &point_sets)?;
        if !force {
            crate::plan::check_size(&s, &name)?;
        }
        if shard.is_none_or(|sh| sh.owns(p)) {
            if read_done(&dir.join(&p.folder), &s.source_sha256, replications).is_some() {
                done += 1;
            } else {
                pending.push(PendingPoint { folder: p.folder.clone(), sets: point_sets });
            }
        }
        entries.push(PointEntry { folder: p.folder.clone(), scenario_sha256: s.source_sha256 });
    }
    let manifest = Manifest {
        pushpull_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: base.name,
        scenario_sha256: base.source_sha256,
        sets: sets.iter().map(|s| s.text.clone()).collect(),
        vary: varies
            .iter()
            .map(|v| VaryEntry { parameter: v.path.clone(), values: v.values.clone(), geometric: v.geometric })
            .collect(),
        points: entries,
        replications: (replications > 1).then_some(replications),
    };
    Ok(Planned { manifest, pending, done })
}

/// Writes `dir/sweep.json` (creating `dir`).
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), StudyError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.display().to_string(), source })?;
    write_atomic(&dir.join(MANIFEST), manifest.text().as_bytes())?;
    Ok(())
}

/// The point's `summary.json`, parsed, if it is done: this version's, this schema's, this hash's,
/// with this many replications.
fn read_done(folder: &Path, hash: &str, replications: u32) -> Option<serde_json::Value> {
    let bytes = std::fs::read(folder.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let m = v.get("manifest")?;
    let fits = m.get("scenario_sha256")?.as_str()? == hash
        && m.get("pushpull_version")?.as_str()? == env!("CARGO_PKG_VERSION")
        && m.get("schema_version")?.as_u64()? == u64::from(SCHEMA_VERSION)
        && count_of(&v) == u64::from(replications.max(1));
    fits.then_some(v)
}

/// The folders among `dirs` that hold each point (the first that has it done), or the points
/// missing from all of them.
fn locate(manifest: &Manifest, dirs: &[PathBuf]) -> Result<Vec<(PathBuf, serde_json::Value)>, Vec<usize>> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (i, p) in manifest.points.iter().enumerate() {
        match dirs.iter().find_map(|d| {
            read_done(&d.join(&p.folder), &p.scenario_sha256, manifest.replications.unwrap_or(1))
                .map(|v| (d.join(&p.folder), v))
        }) {
            Some(x) => found.push(x),
            None => missing.push(i),
        }
    }
    if missing.is_empty() { Ok(found) } else { Err(missing) }
}

/// After a sweep's runs: if every point of the sweep is done in `dir` (always, unsharded; for the
/// last shard to finish, on a shared folder), writes `sweep.csv` and the charts and returns the
/// files written; `None` otherwise.
pub fn finish(dir: &Path, manifest: &Manifest) -> Result<Option<Vec<PathBuf>>, StudyError> {
    match locate(manifest, &[dir.to_path_buf()]) {
        Ok(found) => {
            let summaries: Vec<serde_json::Value> = found.into_iter().map(|(_, v)| v).collect();
            write_tables(dir, manifest, &summaries).map(Some)
        }
        Err(_) => Ok(None),
    }
}

/// `pushpull collect DIR... --out OUT`: the sweep of the folders (every one must hold the same
/// `sweep.json`), each point taken from the first folder that has it done and copied into `OUT`
/// unless it is there already; then `sweep.json`, `sweep.csv` and the charts, as one unsharded run
/// would have written them.
pub fn collect(dirs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>, StudyError> {
    let mut manifest: Option<(Manifest, String, &PathBuf)> = None;
    for d in dirs {
        let path = d.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            StudyError::Input(format!(
                "{}: cannot read the sweep's definition: {}; collect takes the --out folders of `pushpull sweep`",
                errtext::path(&path.display().to_string()),
                errtext::message(&e.to_string())
            ))
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| {
            StudyError::Input(format!(
                "{}: not a sweep definition of this pushpull: {}",
                errtext::path(&path.display().to_string()),
                errtext::message(&e.to_string())
            ))
        })?;
        m.check().map_err(|e| {
            StudyError::Input(format!(
                "{}: not a sweep definition pushpull wrote ({}); was it edited?",
                errtext::path(&path.display().to_string()),
                errtext::message(&e)
            ))
        })?;
        match &manifest {
            None => manifest = Some((m, text, d)),
            Some((_, first, from)) if *first != text => {
                return Err(StudyError::Input(format!(
                    "{} and {} hold different sweeps (their sweep.json differ: another scenario, --set, --vary or \
                     pushpull version); collect merges the shards of one sweep",
                    errtext::path(&from.display().to_string()),
                    errtext::path(&d.display().to_string())
                )));
            }
            Some(_) => {}
        }
    }
    let Some((manifest, _, _)) = manifest else {
        return Err(StudyError::Usage("collect needs at least one folder".into()));
    };
    if manifest.pushpull_version != env!("CARGO_PKG_VERSION") {
        return Err(StudyError::Input(format!(
            "the sweep was made by pushpull {}, this is {}; rerun it with this version",
            errtext::value(&manifest.pushpull_version),
            env!("CARGO_PKG_VERSION")
        )));
    }
    let found = locate(&manifest, dirs).map_err(|missing| {
        let names: Vec<String> =
            missing.iter().take(5).map(|&i| format!("{i} ({})", errtext::value(&manifest.points[i].folder))).collect();
        StudyError::Partial(format!(
            "{} of the sweep's {} points are done in none of the folders: point {}{}; run the shards that own them \
             (point i belongs to shard i % N of --shard i/N) and collect again",
            missing.len(),
            manifest.points.len(),
            names.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        ))
    })?;
    copy_points(&found, &manifest, out)?;
    write_manifest(out, &manifest)?;
    let summaries: Vec<serde_json::Value> = found.into_iter().map(|(_, v)| v).collect();
    write_tables(out, &manifest, &summaries)
}

/// Copies each point's folder into `out` (whole, through a staging folder, as a run writes it),
/// unless it is that folder already.
fn copy_points(found: &[(PathBuf, serde_json::Value)], manifest: &Manifest, out: &Path) -> Result<(), StudyError> {
    use crate::report::outdir;
    let targets: Vec<PathBuf> = manifest.points.iter().map(|p| out.join(&p.folder)).collect();
    let copies: Vec<(&PathBuf, &PathBuf)> = found
        .iter()
        .zip(&targets)
        .filter(|((from, _), to)| {
            let (a, b) = (std::fs::canonicalize(from), std::fs::canonicalize(to));
            !matches!((a, b), (Ok(a), Ok(b)) if a == b)
        })
        .map(|((from, _), to)| (from, to))
        .collect();
    let shown: Vec<String> = copies.iter().map(|(from, _)| from.display().to_string()).collect();
    let jobs: Vec<outdir::Job> =
        shown.iter().zip(&copies).map(|(file, (_, to))| outdir::Job { file, dir: to }).collect();
    let stagings = outdir::preflight(&jobs)?;
    for ((from, _), staging) in copies.iter().zip(stagings) {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(from)
            .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|source| ReportError::Io { path: from.display().to_string(), source })?;
        names.sort();
        for name in names.iter().filter(|n| outdir::is_output_name(n)) {
            let bytes = std::fs::read(from.join(name))
                .map_err(|source| ReportError::Io { path: from.join(name).display().to_string(), source })?;
            write_atomic(&staging.work_dir().join(name), &bytes).map_err(|e| staging.relocate(e))?;
        }
        // Replications' folders, each whole.
        for name in names.iter().filter(|n| outdir::is_replication_dir(&from.join(n))) {
            let (rep_from, rep_to) = (from.join(name), staging.work_dir().join(name));
            let io = |p: &Path, source| ReportError::Io { path: p.display().to_string(), source };
            std::fs::create_dir(&rep_to).map_err(|e| staging.relocate(io(&rep_to, e)))?;
            let mut files: Vec<std::ffi::OsString> = std::fs::read_dir(&rep_from)
                .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e| io(&rep_from, e))?;
            files.sort();
            for f in files.iter().filter(|n| outdir::is_output_name(n)) {
                let bytes = std::fs::read(rep_from.join(f)).map_err(|e| io(&rep_from.join(f), e))?;
                write_atomic(&rep_to.join(f), &bytes).map_err(|e| staging.relocate(e))?;
            }
        }
        staging.commit()?;
    }
    Ok(())
}

/// One CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// `sweep.csv`: one row per point and system, in the points' order then the systems' (as in
/// `summary.json`); columns: each `--vary` parameter as typed, `system`, then [`HEADLINE`]. With
/// replications: `replications` after `system`, and each metric's mean (under its name) followed by
/// `<metric>.ci95_low` and `<metric>.ci95_high`.
pub fn table(manifest: &Manifest, summaries: &[serde_json::Value]) -> String {
    let varies = manifest.varies();
    let all = points(&varies).expect("a manifest's sweep was checked when it was made");
    let replicated = manifest.replications.is_some_and(|r| r > 1);
    let mut out: Vec<String> = varies.iter().map(|v| csv_field(&v.path)).collect();
    out.push("system".into());
    if replicated {
        out.push("replications".into());
        for m in HEADLINE {
            out.extend([m.name.to_string(), format!("{}.ci95_low", m.name), format!("{}.ci95_high", m.name)]);
        }
    } else {
        out.extend(HEADLINE.iter().map(|m| m.name.to_string()));
    }
    let mut text = out.join(",") + "\n";
    for (p, summary) in all.iter().zip(summaries) {
        let Some(systems) = summary.get("systems").and_then(|s| s.as_object()) else { continue };
        for (system, figures) in systems {
            let mut row: Vec<String> = varies.iter().zip(&p.choice).map(|(v, &c)| csv_field(&v.values[c])).collect();
            row.push(csv_field(system));
            if replicated {
                row.push(count_of(summary).to_string());
                for m in HEADLINE {
                    let stats = metric_of(summary, system, m.name);
                    for field in ["mean", "ci95_low", "ci95_high"] {
                        let v = stats.and_then(|s| s.get(field)).filter(|v| v.is_number());
                        row.push(v.map_or_else(String::new, |v| v.to_string()));
                    }
                }
            } else {
                row.extend(HEADLINE.iter().map(|m| value(figures, m.name).map_or_else(String::new, |n| n.to_string())));
            }
            text.push_str(&row.join(","));
            text.push('\n');
        }
    }
    text
}

/// Most panels a sweep chart holds (combinations of the further varied parameters).
pub const MAX_PANELS: usize = 24;

/// Writes `sweep.csv` and each charted metric as `sweep-<metric>.png` and `.svg` into `dir`.
fn write_tables(dir: &Path, manifest: &Manifest, summaries: &[serde_json::Value]) -> Result<Vec<PathBuf>, StudyError> {
    let mut written = Vec::new();
    let csv = dir.join(TABLE);
    let csv_text = table(manifest, summaries);
    write_atomic(&csv, csv_text.as_bytes())?;
    written.push(csv);
    let charts = charts(manifest, summaries);
    let report = dir.join(html::REPORT);
    let description = summaries.first().and_then(|v| v.get("description")).and_then(|d| d.as_str()).unwrap_or("");
    let specs: Vec<(&str, &SweepChart)> = charts.iter().map(|(m, c)| (m.name, c)).collect();
    let page = html::sweep_report(&manifest.scenario, description, &manifest.text(), &csv_text, &specs);
    write_atomic(&report, page.as_bytes())?;
    written.push(report);
    if charts.is_empty() {
        // Too many panels: no chart, and none of an earlier sweep in this folder either.
        for stem in chart_stems() {
            for ext in ["png", "svg"] {
                let path = dir.join(format!("{stem}.{ext}"));
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(ReportError::Io { path: path.display().to_string(), source: e }.into());
                    }
                    _ => {}
                }
            }
        }
    }
    for (metric, chart) in charts {
        let chart_error =
            |path: &Path, message: String| ReportError::Chart { path: path.display().to_string(), message };
        let stem = dir.join(format!("sweep-{}", metric.name));
        let (png, svg_path) = (stem.with_extension_text("png"), stem.with_extension_text("svg"));
        let svg = sweep_svg(&chart).map_err(|m| chart_error(&svg_path, m))?;
        let bytes = crate::report::charts::svg_to_png(&svg).map_err(|m| chart_error(&png, m))?;
        write_atomic(&png, &bytes)?;
        write_atomic(&svg_path, svg.as_bytes())?;
        written.extend([png, svg_path]);
    }
    Ok(written)
}

/// `sweep-latency_ms.p99` + `.png`: the metric's dot is not an extension.
trait WithExtensionText {
    fn with_extension_text(&self, ext: &str) -> PathBuf;
}

impl WithExtensionText for PathBuf {
    fn with_extension_text(&self, ext: &str) -> PathBuf {
        let mut s = self.clone().into_os_string();
        s.push(".");
        s.push(ext);
        PathBuf::from(s)
    }
}

/// The names of the chart files a sweep writes (without `.png` / `.svg`).
pub fn chart_stems() -> Vec<String> {
    HEADLINE.iter().filter(|m| m.chart.is_some()).map(|m| format!("sweep-{}", m.name)).collect()
}

/// Where the values of the first parameter go on the x axis: at their value (linear), at their
/// logarithm (a geometric range, or positive numbers spanning 10x or more), or evenly spaced (words).
fn x_positions(v: &Vary) -> (Vec<f64>, &'static str) {
    let numbers: Option<Vec<f64>> = v.values.iter().map(|x| x.parse::<f64>().ok().filter(|x| x.is_finite())).collect();
    match numbers {
        Some(n) => {
            let (lo, hi) = n.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            if lo > 0.0 && (v.geometric || hi / lo >= 10.0) {
                (n.iter().map(|x| x.log10()).collect(), " (log scale)")
            } else {
                (n, "")
            }
        }
        None => ((0..v.values.len()).map(|i| i as f64).collect(), ""),
    }
}

/// The sweep charts: each charted metric against the first parameter, one line per system, one
/// panel per combination of the further parameters (none beyond [`MAX_PANELS`]).
fn charts(manifest: &Manifest, summaries: &[serde_json::Value]) -> Vec<(Metric, SweepChart)> {
    let varies = manifest.varies();
    let all = points(&varies).expect("checked when it was made");
    let first = &varies[0];
    let (xs, x_note) = x_positions(first);
    let panels_n = all.len() / first.values.len();
    if panels_n > MAX_PANELS {
        return Vec::new();
    }
    let systems: Vec<String> = {
        let mut s: Vec<String> = summaries
            .iter()
            .filter_map(|v| v.get("systems").and_then(|s| s.as_object()))
            .flat_map(|m| m.keys().cloned())
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let mut out = Vec::new();
    for metric in HEADLINE.iter().filter(|m| m.chart.is_some()) {
        let chart = metric.chart.expect("filtered");
        let (scale, divisor) = (chart.scale, chart.divisor);
        let replicated = manifest.replications.is_some_and(|r| r > 1);
        // A point's figure: the run's, or with replications their mean.
        let figure = |summary: &serde_json::Value, system: &str, name: &str| {
            if replicated {
                return metric_of(summary, system, name)?.get("mean")?.as_f64();
            }
            summary.get("systems").and_then(|s| s.get(system)).and_then(|f| value(f, name)).and_then(|n| n.as_f64())
        };
        let interval = |summary: &serde_json::Value, system: &str, name: &str| {
            let m = metric_of(summary, system, name)?;
            Some((m.get("ci95_low")?.as_f64()?, m.get("ci95_high")?.as_f64()?))
        };
        let mut panels = Vec::new();
        for panel in 0..panels_n {
            // The points of this panel: the same values of the further parameters, the first one's in order.
            let members: Vec<usize> = (0..first.values.len()).map(|i| i * panels_n + panel).collect();
            let caption = (varies.len() > 1).then(|| {
                varies[1..]
                    .iter()
                    .zip(&all[members[0]].choice[1..])
                    .map(|(v, &c)| format!("{}={}", v.path, v.values[c]))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            let mut lines: Vec<SweepLine> = systems
                .iter()
                .filter_map(|name| {
                    let system = crate::scenario::SystemKind::ALL.into_iter().find(|k| k.name() == name)?;
                    let points = members
                        .iter()
                        .filter_map(|&i| {
                            Some((xs[all[i].choice[0]], figure(&summaries[i], name, metric.name)? / divisor))
                        })
                        .collect();
                    let intervals = members
                        .iter()
                        .filter(|_| replicated)
                        .filter_map(|&i| {
                            let (lo, hi) = interval(&summaries[i], name, metric.name)?;
                            Some((xs[all[i].choice[0]], lo / divisor, hi / divisor))
                        })
                        .collect();
                    Some(SweepLine { system: Some(system), points, intervals })
                })
                .collect();
            if metric.name == "throughput_per_s" {
                let offered = members
                    .iter()
                    .filter_map(|&i| {
                        let first_system = systems.iter().find_map(|s| figure(&summaries[i], s, "offered_per_s"))?;
                        Some((xs[all[i].choice[0]], first_system))
                    })
                    .collect();
                lines.push(SweepLine { system: None, points: offered, intervals: Vec::new() });
            }
            panels.push(SweepPanel { caption, lines });
        }
        let what = chart.title;
        let mut subtitle = format!(
            "One point per {} of {} at each value of {}; the lines join them. Kafka dark orange, RabbitMQ blue.",
            if replicated { "set of runs" } else { "run" },
            manifest.scenario,
            first.path
        );
        if metric.name == "throughput_per_s" {
            subtitle.push_str(" Grey dashed: the offered load; a system below it could not keep up.");
        }
        if scale == SweepScale::LogMs {
            subtitle.push_str(" Log scale: each grid step multiplies the time.");
        }
        if varies.len() > 1 {
            subtitle.push_str(" One panel per value of the other varied parameters, one scale for all.");
        }
        if let Some(r) = manifest.replications.filter(|&r| r > 1) {
            subtitle.push_str(&format!(
                " Each point is the mean of {r} replications; its error bar the 95% confidence interval (Student t)."
            ));
        }
        out.push((
            *metric,
            SweepChart {
                title: format!("{}: {what} against {}", manifest.scenario, first.path),
                subtitle,
                x_desc: format!("{}{x_note}", first.path),
                x_ticks: xs.iter().copied().zip(first.values.iter().cloned()).collect(),
                y_desc: chart.y_desc.to_string(),
                scale,
                reference: (metric.name == "throughput_per_s").then(|| "offered load".to_string()),
                panels,
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_axis_is_log_for_geometric_ranges_and_wide_spans_evenly_spaced_for_words() {
        let pos = |text: &str| x_positions(&Vary::parse(text).unwrap());
        let (xs, note) = pos("a=1..8:x2");
        assert_eq!(note, " (log scale)");
        assert!((xs[3] - 8f64.log10()).abs() < 1e-12);
        assert_eq!(pos("a=1000,2000,5000"), (vec![1000.0, 2000.0, 5000.0], ""));
        assert_eq!(pos("a=1,10,100").1, " (log scale)");
        assert_eq!(pos("a=0,10,100").1, "", "a 0 has no logarithm");
        assert_eq!(pos("kafka.acks=0,1,all"), (vec![0.0, 1.0, 2.0], ""));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
