//! Runs a scenario: every system of it over the same workload, each on its own thread (they share
//! nothing, so the result does not depend on scheduling), and collects the recorders.

use crate::history::{JsonlHistory, Tee};
use crate::metrics::Recorder;
use crate::models::run_system;
use crate::report::{ReportError, SystemRun};
use crate::scenario::{Scenario, SystemKind};
use crate::time::SimTime;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Simulated nanoseconds reached by each running system, for a progress display.
#[derive(Default)]
pub struct Progress {
    pub sim_ns: Vec<AtomicU64>,
}

impl Progress {
    pub fn new(systems: usize) -> Self {
        Progress { sim_ns: (0..systems).map(|_| AtomicU64::new(0)).collect() }
    }
}

/// Runs one system and returns its finished recorder.
pub fn run_one(s: &Scenario, system: SystemKind, progress: Option<&AtomicU64>) -> SystemRun {
    let mut recorder = Recorder::new(s);
    let end = run_system(s, system, &mut recorder, |t: SimTime| {
        if let Some(p) = progress {
            p.store(t.0, Ordering::Relaxed);
        }
    });
    recorder.finish(end.at);
    SystemRun { system, recorder, end }
}

/// Runs one system and also writes its history, one JSON object per line, to `path` (atomically:
/// a temporary file renamed when complete).
pub fn run_one_with_history(
    s: &Scenario,
    system: SystemKind,
    progress: Option<&AtomicU64>,
    path: &Path,
) -> Result<SystemRun, ReportError> {
    let io = |source| ReportError::Io { path: path.display().to_string(), source };
    let tmp = crate::report::temp_sibling(path);
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let names = s.groups.iter().map(|g| g.name.clone()).collect();
    let mut writer = JsonlHistory::new(std::io::BufWriter::new(file), names);
    let mut recorder = Recorder::new(s);
    let end = run_system(s, system, &mut Tee(&mut recorder, &mut writer), |t: SimTime| {
        if let Some(p) = progress {
            p.store(t.0, Ordering::Relaxed);
        }
    });
    recorder.finish(end.at);
    let written = writer.finish().and_then(|w| w.into_inner().map_err(|e| e.into_error())).and_then(|f| f.sync_all());
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(SystemRun { system, recorder, end })
}

/// Runs every system of the scenario, in parallel, in the scenario's order.
pub fn run_scenario(s: &Scenario, progress: Option<&Progress>) -> Vec<SystemRun> {
    run_scenario_with(s, progress, None).expect("without a history file nothing can fail")
}

/// Like [`run_scenario`]; with `history_dir`, also writes `history-<system>.jsonl` there.
pub fn run_scenario_with(
    s: &Scenario,
    progress: Option<&Progress>,
    history_dir: Option<&Path>,
) -> Result<Vec<SystemRun>, ReportError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = s
            .systems
            .iter()
            .enumerate()
            .map(|(i, &sys)| {
                let p = progress.and_then(|p| p.sim_ns.get(i));
                scope.spawn(move || match history_dir {
                    None => Ok(run_one(s, sys, p)),
                    Some(dir) => run_one_with_history(s, sys, p, &dir.join(format!("history-{}.jsonl", sys.name()))),
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a simulation thread panicked")).collect()
    })
}

/// The size guard lives in [`crate::guard`]; re-exported here for callers of the old path.
pub use crate::guard::check_size;
