//! Outputs of a run: `summary.json`, `timeseries.csv`, charts, and the terminal table. Every file
//! is written atomically (a temporary file created exclusively under an unpredictable name in the
//! same folder, then renamed), and a scenario's files are written together into a fresh staging
//! folder that then replaces the output folder ([`outdir`]), so an interrupted run never leaves a
//! half-written result, nor a new `summary.json` beside an old `timeseries.csv`.

pub mod charts;
pub mod html;
pub mod outdir;
pub mod table;

use crate::errtext;
use crate::metrics::{Recorder, SystemSummary};
use crate::models::RunEnd;
use crate::scenario::{Scenario, SystemKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the `summary.json` / `timeseries.csv` layout; bump when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 4;

/// A problem writing results. `Display` is one line, made safe by [`crate::errtext`].
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "{}: cannot write: {}; check that the folder is writable and the disk has room",
        errtext::path(.path),
        errtext::message(&.source.to_string())
    )]
    Io { path: String, source: std::io::Error },
    #[error("{}: cannot draw chart: {}", errtext::path(.path), errtext::message(.message))]
    Chart { path: String, message: String },
    /// The output folder of the scenario in `file` cannot be used; found before simulating.
    #[error("{}: output folder {}: {}", errtext::path(.file), errtext::path(.path), errtext::message(.message))]
    Output { file: String, path: String, message: String },
    /// A simulation thread panicked: a bug, reported as one line instead of a second panic.
    #[error(
        "internal error while simulating {} (system {}): {}{}; please report",
        errtext::label(.scenario),
        .system,
        errtext::message(.message),
        .location.as_deref().map(|l| format!(" (at {})", errtext::path(l))).unwrap_or_default()
    )]
    Internal { scenario: String, system: String, message: String, location: Option<String> },
    /// Ctrl-C or SIGTERM came before the scenario started ([`crate::interrupt`]): it was not run.
    #[error(
        "interrupted before {} ran; the runs finished before are written; run the same command again to finish \
         (a sweep skips its done points)",
        errtext::label(.scenario)
    )]
    Interrupted { scenario: String },
}

impl ReportError {
    /// The same error with paths under `from` shown under `to` (a staging folder's files are
    /// reported where they were going).
    pub fn relocate(self, from: &Path, to: &Path) -> ReportError {
        let moved = |p: String| match Path::new(&p).strip_prefix(from) {
            Ok(rest) if rest.as_os_str().is_empty() => to.display().to_string(),
            Ok(rest) => to.join(rest).display().to_string(),
            Err(_) => p,
        };
        match self {
            ReportError::Io { path, source } => ReportError::Io { path: moved(path), source },
            ReportError::Chart { path, message } => ReportError::Chart { path: moved(path), message },
            other => other,
        }
    }
}

/// One system's finished run.
pub struct SystemRun {
    pub system: SystemKind,
    pub recorder: Recorder,
    /// The independent checker's counts, from client events only.
    pub delivery: crate::checker::DeliveryReport,
    pub end: RunEnd,
}

/// One system in `summary.json`: the recorder's figures, and the checker's `delivery` object.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SystemReport {
    #[serde(flatten)]
    pub summary: SystemSummary,
    pub delivery: crate::checker::DeliveryReport,
}

impl std::ops::Deref for SystemReport {
    type Target = SystemSummary;
    fn deref(&self) -> &SystemSummary {
        &self.summary
    }
}

impl SystemRun {
    pub fn summary(&self, s: &Scenario) -> SystemSummary {
        let names: Vec<String> = s.groups.iter().map(|g| g.name.clone()).collect();
        let mut summary = self.recorder.summarize(&names, self.end.at);
        summary.drain_stalled = self.end.stalled;
        summary.utilisation = self.end.utilisation.clone();
        summary.compression = self.end.compression.clone();
        summary.resource_alarms = self.end.resource_alarms.clone();
        summary
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub pushpull_version: &'static str,
    /// SHA-256 of the scenario file's bytes.
    pub scenario_sha256: String,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub profile: &'static str,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub systems: BTreeMap<&'static str, SystemReport>,
    /// Every parameter as the run used it, defaults included (durations as strings, distributions
    /// in seconds or bytes).
    pub parameters: Scenario,
    pub manifest: Manifest,
    /// With `--replications R` (R >= 2): every headline metric over the R runs. The rest of the
    /// summary (and the folder's other files) are replication 0's, the scenario's own seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replications: Option<Replications>,
}

/// `summary.json`'s `replications`: R runs of the scenario that differ only in their seed.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Replications {
    pub count: u32,
    /// Replication i's seed, i in 0..count (its outputs are in `rep-i/`).
    pub seeds: Vec<u64>,
    /// How the seeds are derived, in words.
    pub seed_rule: &'static str,
    /// How the interval is computed, in words.
    pub interval: &'static str,
    /// Per system, per headline metric (its dotted name in a system's object).
    pub systems: BTreeMap<&'static str, BTreeMap<&'static str, MetricStats>>,
}

/// One metric over the replications.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct MetricStats {
    /// Replications that have a value (`unavailable_s` may have none).
    pub n: usize,
    pub mean: Option<f64>,
    /// The 95% confidence interval of the mean (Student t, n - 1 degrees of freedom); `null`
    /// below two values.
    pub ci95_low: Option<f64>,
    pub ci95_high: Option<f64>,
    /// Each replication's value, in order (`null` where it has none).
    pub values: Vec<Option<serde_json::Number>>,
}

pub fn summary(s: &Scenario, runs: &[SystemRun]) -> Summary {
    Summary {
        scenario: s.name.clone(),
        description: s.description.clone(),
        seed: s.seed,
        profile: s.profile.name(),
        duration_s: s.duration.as_secs_f64(),
        warmup_s: s.warmup.as_secs_f64(),
        systems: runs
            .iter()
            .map(|r| (r.system.name(), SystemReport { summary: r.summary(s), delivery: r.delivery.clone() }))
            .collect(),
        parameters: s.clone(),
        manifest: Manifest {
            schema_version: SCHEMA_VERSION,
            pushpull_version: env!("CARGO_PKG_VERSION"),
            scenario_sha256: s.source_sha256.clone(),
        },
        replications: None,
    }
}

/// `summary.json`'s text: pretty-printed, fields in declaration order, maps sorted, one final newline.
pub fn summary_json(summary: &Summary) -> String {
    let mut json = serde_json::to_string_pretty(summary).expect("a summary is plain data");
    json.push('\n');
    json
}

/// Writes `bytes` to `path` atomically: a new temporary file beside it ([`temp_file_beside`]),
/// flushed to disk, then renamed over `path`. The rename replaces whatever `path` was (a symlink
/// planted there is replaced, never followed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] for a writer: `write` fills a buffered temporary file, renamed to `path` once
/// complete.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let io = |source| ReportError::Io { path: path.display().to_string(), source };
    let mut tmp = temp_file_beside(path).map_err(io)?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buffered).and_then(|()| buffered.flush()).map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Random letters and digits in the name of a [`temp_file_beside`].
pub const TEMP_RANDOM_CHARS: usize = 6;

/// A new, empty file in `path`'s folder, created exclusively (never through an existing name or
/// symlink) under an unpredictable hidden name `.NAME.XXXXXX.tmp`, with the permissions a plain
/// `File::create` would give; deleted when dropped unless persisted.
pub fn temp_file_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    // Recognised by [`outdir::is_leftover_temp`] when a killed run leaves one.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).rand_bytes(TEMP_RANDOM_CHARS).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask applies, as for any new file.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// `dir/.name.XXXXXXXXXXXXXXXX.tmp`: hidden, in the same folder (so that a rename is atomic), with
/// a random part. For writers that must open the file themselves (a chart backend); it is not
/// created exclusively, so use it only inside a private folder such as the staging folder of
/// [`outdir`]; everything else uses [`write_atomic`] or [`temp_file_beside`].
pub fn temp_sibling(path: &Path) -> PathBuf {
    use std::hash::BuildHasher;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Keyed by the OS's randomness: not predictable by another user.
    let random = std::collections::hash_map::RandomState::new().hash_one((std::process::id(), path));
    path.with_file_name(format!(".{name}.{random:016x}.tmp"))
}

/// Header of `timeseries.csv`.
pub const TIMESERIES_HEADER: &str = "time_s,system,group,published_per_s,processed_per_s,backlog_max,consumer_lag_max,\
                                     unacked_max,in_flight,stored_bytes_max,acknowledged_per_s,failed_per_s\n";

/// `timeseries.csv`: one row per (sample time, system, group). Rates are over the interval ending
/// at `time_s`; `*_max` gauges are their largest value during that interval; `in_flight` is the
/// value at `time_s`. `acknowledged_per_s` and `failed_per_s` are the producer's (the system's,
/// repeated on every group's row, like `published_per_s`).
pub fn timeseries_csv(s: &Scenario, runs: &[SystemRun]) -> String {
    let mut out = Vec::new();
    write_timeseries_csv(&mut out, s, runs).expect("writing to memory does not fail");
    String::from_utf8(out).expect("the CSV is ASCII")
}

/// [`timeseries_csv`] written as it is formatted: a run with millions of samples does not hold
/// the whole text in memory beside them.
pub fn write_timeseries_csv(w: &mut impl Write, s: &Scenario, runs: &[SystemRun]) -> std::io::Result<()> {
    w.write_all(TIMESERIES_HEADER.as_bytes())?;
    for r in runs {
        for x in &r.recorder.samples {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                x.time.as_secs_f64(),
                r.system.name(),
                s.groups[x.group].name,
                x.published_per_s,
                x.processed_per_s,
                x.backlog_max,
                x.consumer_lag_max,
                x.unacked_max,
                x.in_flight,
                x.stored_bytes_max,
                x.acknowledged_per_s,
                x.failed_per_s
            )?;
        }
    }
    Ok(())
}

/// Writes every output of a scenario into `dir` (created if needed). Returns the files written.
/// The command line passes a fresh staging folder ([`outdir::Staging::work_dir`]) and then swaps
/// it in; written straight into a shared folder, each file is still atomic, the set is not.
pub fn write_all(dir: &Path, s: &Scenario, runs: &[SystemRun]) -> Result<Vec<PathBuf>, ReportError> {
    write_outputs(dir, s, runs, true)
}

/// [`write_all`], with the charts only if `with_charts` (`--no-charts`: drawing and PNG compression
/// are about 15% of a small run's CPU time); `summary.json` and `timeseries.csv` are the same either way.
pub fn write_outputs(
    dir: &Path,
    s: &Scenario,
    runs: &[SystemRun],
    with_charts: bool,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.display().to_string(), source })?;
    let mut written = Vec::new();
    let summary_path = dir.join("summary.json");
    let summary = summary(s, runs);
    let json = summary_json(&summary);
    write_atomic(&summary_path, json.as_bytes())?;
    written.push(summary_path);
    let csv_path = dir.join("timeseries.csv");
    write_atomic_with(&csv_path, |w| write_timeseries_csv(w, s, runs))?;
    written.push(csv_path);
    if with_charts {
        written.extend(charts::write_charts(dir, s, runs)?);
        let report = dir.join(html::REPORT);
        write_atomic(&report, html::run_report(s, runs, &summary, &json).as_bytes())?;
        written.push(report);
    }
    Ok(written)
}
