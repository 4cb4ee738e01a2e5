//! Runs a scenario: every system of it over the same workload, each on its own thread (they share
//! nothing, so the result does not depend on scheduling), and collects the recorders.

use crate::history::{JsonlHistory, Tee};
use crate::metrics::Recorder;
use crate::models::run_system;
use crate::report::{ReportError, SystemRun};
use crate::scenario::{Scenario, ScenarioError, SystemKind};
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

/// Refuses scenarios that would not finish in reasonable time or memory, with the estimate.
pub fn check_size(s: &Scenario, file: &str) -> Result<(), ScenarioError> {
    let messages = s.expected_messages();
    let deliveries = messages * s.groups.len() as f64;
    if deliveries > crate::scenario::defaults::MAX_DELIVERIES {
        return Err(ScenarioError {
            file: file.into(),
            field: Some("duration".into()),
            message: format!(
                "about {messages:.2e} messages x {} groups = {deliveries:.2e} deliveries per system, above the limit of 1e10 \
                 that finishes in reasonable time; shorten `duration`, lower `workload.rate`, or pass --force",
                s.groups.len()
            ),
        });
    }
    // A group slower than the producers accumulates a backlog; the queue holds 16 bytes per
    // message copy in it, so an overload over a long run can exhaust memory.
    let seconds = s.duration.as_secs_f64();
    for (i, g) in s.groups.iter().enumerate() {
        let mean = g.processing.mean();
        if mean <= 0.0 {
            continue;
        }
        let capacity = g.consumers as f64 / mean;
        let backlog = messages - capacity * seconds;
        if backlog * 16.0 > 16.0 * (1u64 << 30) as f64 {
            return Err(ScenarioError {
                file: file.into(),
                field: Some(format!("groups[{i}].processing")),
                message: format!(
                    "group \"{}\" can process about {capacity:.0} messages/s but about {:.0}/s arrive; its backlog would \
                     reach about {backlog:.2e} messages, above 16 GiB of simulator memory; add consumers, shorten \
                     `duration`, or pass --force",
                    g.name,
                    messages / seconds
                ),
            });
        }
    }
    if s.systems.contains(&SystemKind::Kafka) {
        // The log keeps 16 bytes per retained record.
        let retained_window = s.kafka.retention.min(s.duration).as_secs_f64() / s.duration.as_secs_f64();
        let bytes = messages * retained_window * 16.0;
        if bytes > 16.0 * (1u64 << 30) as f64 {
            return Err(ScenarioError {
                file: file.into(),
                field: Some("kafka.retention".into()),
                message: format!(
                    "the log would retain about {:.2e} records ({:.0} GiB of simulator memory, 16 bytes each), above 16 GiB; \
                     shorten `kafka.retention` or `duration`, or pass --force",
                    messages * retained_window,
                    bytes / (1u64 << 30) as f64
                ),
            });
        }
    }
    Ok(())
}
