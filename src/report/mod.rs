//! Outputs of a run: `summary.json`, `timeseries.csv`, charts, and the terminal table. Every file
//! is written atomically (temporary file in the same folder, then rename), so an interrupted run
//! never leaves a half-written result behind.

pub mod charts;
pub mod table;

use crate::metrics::{Recorder, SystemSummary};
use crate::models::RunEnd;
use crate::scenario::{Scenario, SystemKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the `summary.json` / `timeseries.csv` layout; bump when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: cannot write: {source}; check that the folder is writable and the disk has room")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: cannot draw chart: {message}")]
    Chart { path: String, message: String },
}

/// One system's finished run.
pub struct SystemRun {
    pub system: SystemKind,
    pub recorder: Recorder,
    pub end: RunEnd,
}

impl SystemRun {
    pub fn summary(&self, s: &Scenario) -> SystemSummary {
        let names: Vec<String> = s.groups.iter().map(|g| g.name.clone()).collect();
        self.recorder.summarize(&names, self.end.at)
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
    pub systems: BTreeMap<&'static str, SystemSummary>,
    pub manifest: Manifest,
}

pub fn summary(s: &Scenario, runs: &[SystemRun]) -> Summary {
    Summary {
        scenario: s.name.clone(),
        description: s.description.clone(),
        seed: s.seed,
        profile: s.profile.name(),
        duration_s: s.duration.as_secs_f64(),
        warmup_s: s.warmup.as_secs_f64(),
        systems: runs.iter().map(|r| (r.system.name(), r.summary(s))).collect(),
        manifest: Manifest {
            schema_version: SCHEMA_VERSION,
            pushpull_version: env!("CARGO_PKG_VERSION"),
            scenario_sha256: s.source_sha256.clone(),
        },
    }
}

/// `summary.json`'s text: pretty-printed, fields in declaration order, maps sorted, one final newline.
pub fn summary_json(summary: &Summary) -> String {
    let mut json = serde_json::to_string_pretty(summary).expect("a summary is plain data");
    json.push('\n');
    json
}

/// Writes `bytes` to `path` atomically: a temporary sibling file, flushed, then renamed over.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io { path: path.display().to_string(), source };
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// `dir/.name.tmp`: hidden, in the same folder, so that the rename is atomic.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Header of `timeseries.csv`.
pub const TIMESERIES_HEADER: &str = "time_s,system,group,published_per_s,processed_per_s,backlog_max,consumer_lag_max,\
                                     unacked_max,in_flight,stored_bytes_max\n";

/// `timeseries.csv`: one row per (sample time, system, group). Rates are over the interval ending
/// at `time_s`; `*_max` gauges are their largest value during that interval; `in_flight` is the
/// value at `time_s`.
pub fn timeseries_csv(s: &Scenario, runs: &[SystemRun]) -> String {
    let mut out = String::from(TIMESERIES_HEADER);
    for r in runs {
        for x in &r.recorder.samples {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{}\n",
                x.time.as_secs_f64(),
                r.system.name(),
                s.groups[x.group].name,
                x.published_per_s,
                x.processed_per_s,
                x.backlog_max,
                x.consumer_lag_max,
                x.unacked_max,
                x.in_flight,
                x.stored_bytes_max
            ));
        }
    }
    out
}

/// Writes every output of a scenario into `dir` (created if needed). Returns the files written.
pub fn write_all(dir: &Path, s: &Scenario, runs: &[SystemRun]) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.display().to_string(), source })?;
    let mut written = Vec::new();
    let summary_path = dir.join("summary.json");
    write_atomic(&summary_path, summary_json(&summary(s, runs)).as_bytes())?;
    written.push(summary_path);
    let csv_path = dir.join("timeseries.csv");
    write_atomic(&csv_path, timeseries_csv(s, runs).as_bytes())?;
    written.push(csv_path);
    written.extend(charts::write_charts(dir, s, runs)?);
    Ok(written)
}
