//! Runs a scenario: every system of it over the same workload, each on its own thread (they share
//! nothing, so the result does not depend on scheduling), and collects the recorders.

use crate::checker::{Checker, CheckerConfig};
use crate::history::{History, JsonlHistory, NoHistory, Observation, Tee};
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

/// Hands the checker the client events, and nothing else: the checker's only input.
struct ClientEventsOnly<'a>(&'a mut Checker);

impl History for ClientEventsOnly<'_> {
    #[inline(always)]
    fn record(&mut self, at: SimTime, obs: Observation) {
        if let Observation::Client(e) = obs {
            self.0.observe(at, &e);
        }
    }
}

/// Runs one system with the recorder, the checker and `extra` observing it.
fn observe<H: History>(s: &Scenario, system: SystemKind, extra: &mut H, progress: Option<&AtomicU64>) -> SystemRun {
    let mut recorder = Recorder::for_system(s, system);
    let mut checker = Checker::new(CheckerConfig::for_system(s, system));
    let end = run_system(
        s,
        system,
        &mut Tee(&mut Tee(&mut recorder, &mut ClientEventsOnly(&mut checker)), extra),
        |t: SimTime| {
            if let Some(p) = progress {
                p.store(t.0, Ordering::Relaxed);
            }
        },
    );
    recorder.finish(end.at);
    // The final read: what each group's broker still holds at the end (stranded, not lost).
    let held: Vec<_> = (0..s.groups.len()).map(|g| recorder.held_runs(g)).collect();
    let delivery = checker.finish_with(end.at, &held);
    SystemRun { system, recorder, delivery, end }
}

/// Runs one system with `extra` observing it too (a trace, a test's probe).
pub fn run_one_observed<H: History>(s: &Scenario, system: SystemKind, extra: &mut H) -> SystemRun {
    observe(s, system, extra, None)
}

/// Runs one system and returns its finished recorder and delivery report.
pub fn run_one(s: &Scenario, system: SystemKind, progress: Option<&AtomicU64>) -> SystemRun {
    observe(s, system, &mut NoHistory, progress)
}

/// Runs one system and also writes its history, one JSON object per line, to `path` (atomically:
/// a temporary file created exclusively beside it, renamed when complete).
pub fn run_one_with_history(
    s: &Scenario,
    system: SystemKind,
    progress: Option<&AtomicU64>,
    path: &Path,
) -> Result<SystemRun, ReportError> {
    let io = |source| ReportError::Io { path: path.display().to_string(), source };
    // Dropped on any error (or panic): the temporary file is removed.
    let (file, tmp) = crate::report::temp_file_beside(path).map_err(io)?.into_parts();
    let names = s.groups.iter().map(|g| g.name.clone()).collect();
    let mut writer = JsonlHistory::new(std::io::BufWriter::new(file), names);
    let run = observe(s, system, &mut writer, progress);
    writer.finish().and_then(|w| w.into_inner().map_err(|e| e.into_error())).and_then(|f| f.sync_all()).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(run)
}

/// Runs every system of the scenario, in parallel, in the scenario's order. A panic in a
/// simulation (a bug) panics here too, with the scenario and system named.
pub fn run_scenario(s: &Scenario, progress: Option<&Progress>) -> Vec<SystemRun> {
    run_scenario_with(s, progress, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run_scenario`]; with `history_dir`, also writes `history-<system>.jsonl` there. A panic
/// in a simulation thread is returned as [`ReportError::Internal`].
pub fn run_scenario_with(
    s: &Scenario,
    progress: Option<&Progress>,
    history_dir: Option<&Path>,
) -> Result<Vec<SystemRun>, ReportError> {
    on_system_threads(s, |i, sys| {
        let p = progress.and_then(|p| p.sim_ns.get(i));
        match history_dir {
            None => Ok(run_one(s, sys, p)),
            Some(dir) => run_one_with_history(s, sys, p, &dir.join(format!("history-{}.jsonl", sys.name()))),
        }
    })
}

/// Threads whose name starts with this report a panic through their join, not on stderr.
pub const SIM_THREAD: &str = "pushpull-sim";

/// Runs `f(index, system)` for every system of the scenario, each on its own thread, and returns
/// the results in the scenario's order; the first error wins. A thread that panics becomes
/// [`ReportError::Internal`] naming the scenario and the system: one line, no second panic.
pub fn on_system_threads<T: Send>(
    s: &Scenario,
    f: impl Fn(usize, SystemKind) -> Result<T, ReportError> + Sync,
) -> Result<Vec<T>, ReportError> {
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = s
            .systems
            .iter()
            .enumerate()
            .map(|(i, &sys)| {
                let name = format!("{SIM_THREAD}-{}", sys.name());
                (sys, spawn_reporting(scope, name, move || f(i, sys)))
            })
            .collect();
        let mut results = Vec::new();
        let mut first_error = None;
        for (sys, handle) in handles {
            match handle.and_then(|h| join_reporting(h)).map_err(|p| p.into_error(&s.name, sys.name())) {
                Ok(Ok(v)) => results.push(v),
                Ok(Err(e)) | Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(results), Err)
    })
}

/// What a failed simulation thread left: its panic message and where.
#[derive(Debug)]
pub struct Panicked {
    pub message: String,
    pub location: Option<String>,
}

impl Panicked {
    pub fn into_error(self, scenario: &str, system: &str) -> ReportError {
        ReportError::Internal {
            scenario: scenario.to_string(),
            system: system.to_string(),
            message: self.message,
            location: self.location,
        }
    }
}

/// Spawns `f` on a scoped thread called `name` (which should start with [`SIM_THREAD`]: its panic
/// is then kept quiet and reported by [`join_reporting`]).
pub fn spawn_reporting<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, Panicked> {
    install_panic_hook();
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, f)
        .map_err(|e| Panicked { message: format!("cannot start a thread: {e}"), location: None })
}

/// Joins a thread from [`spawn_reporting`]; its panic becomes a [`Panicked`].
pub fn join_reporting<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> Result<T, Panicked> {
    let id = handle.thread().id();
    handle.join().map_err(|payload| {
        let recorded = {
            let mut panics = PANICS.lock().unwrap_or_else(|e| e.into_inner());
            panics.iter().position(|(t, _)| *t == id).map(|i| panics.swap_remove(i).1)
        };
        recorded.unwrap_or_else(|| Panicked { message: panic_text(payload.as_ref()), location: None })
    })
}

/// Panics of [`SIM_THREAD`] threads, recorded by the hook until their join picks them up.
static PANICS: std::sync::Mutex<Vec<(std::thread::ThreadId, Panicked)>> = std::sync::Mutex::new(Vec::new());

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

/// Keeps the default panic report (a multi-line message on stderr) for every thread but the
/// simulation threads, whose panic is recorded for [`join_reporting`] instead.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            if !thread.name().is_some_and(|n| n.starts_with(SIM_THREAD)) {
                return previous(info);
            }
            let panicked = Panicked {
                message: panic_text(info.payload()),
                location: info.location().map(|l| format!("{}:{}", l.file(), l.line())),
            };
            PANICS.lock().unwrap_or_else(|e| e.into_inner()).push((thread.id(), panicked));
        }));
    });
}

/// The size guard lives in [`crate::guard`]; re-exported here for callers of the old path.
pub use crate::plan::check_size;

/// Runs `work` on every item on up to `width` threads, starting the items in their order and never
/// with more than `memory_budget` (bytes, estimated) in flight, though an item alone always starts.
/// Each result goes to `done` in the items' order, as soon as it and every item before it are
/// finished; once `done` returns false, no further item starts and the results of items still
/// running are dropped. A panic in `work` is resumed here once the other threads have stopped.
pub fn in_order<I: Send, R: Send>(
    items: Vec<(I, u64)>,
    width: usize,
    memory_budget: u64,
    work: impl Fn(I) -> R + Sync,
    mut done: impl FnMut(R) -> bool,
) {
    use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
    struct Queue<I, R> {
        /// Not started yet, in order; the first is item number `next`.
        pending: std::collections::VecDeque<(I, u64)>,
        next: usize,
        running: usize,
        memory: u64,
        finished: std::collections::BTreeMap<usize, std::thread::Result<R>>,
    }
    let n = items.len();
    let queue = Mutex::new(Queue {
        pending: items.into(),
        next: 0,
        running: 0,
        memory: 0,
        finished: std::collections::BTreeMap::new(),
    });
    let changed = Condvar::new();
    let lock = || queue.lock().unwrap_or_else(PoisonError::into_inner);
    fn wait<'a, T>(changed: &Condvar, q: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        changed.wait(q).unwrap_or_else(PoisonError::into_inner)
    }
    let stop = || {
        lock().pending.clear();
        changed.notify_all();
    };
    let worker = || {
        loop {
            let (index, item, memory) = {
                let mut q = lock();
                loop {
                    match q.pending.front() {
                        None => return,
                        Some(&(_, need)) if q.running == 0 || q.memory.saturating_add(need) <= memory_budget => break,
                        Some(_) => q = wait(&changed, q),
                    }
                }
                let (item, memory) = q.pending.pop_front().expect("looked at above");
                let index = q.next;
                q.next += 1;
                q.running += 1;
                q.memory += memory;
                (index, item, memory)
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(item)));
            let mut q = lock();
            q.running -= 1;
            q.memory -= memory;
            q.finished.insert(index, result);
            changed.notify_all();
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..width.clamp(1, n.max(1)) {
            scope.spawn(worker);
        }
        for index in 0..n {
            let result = {
                let mut q = lock();
                loop {
                    if let Some(r) = q.finished.remove(&index) {
                        break r;
                    }
                    q = wait(&changed, q);
                }
            };
            match result {
                Ok(r) => {
                    if !done(r) {
                        return stop();
                    }
                }
                Err(panic) => {
                    stop();
                    std::panic::resume_unwind(panic);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::in_order;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs 12 items that record how many run at once; returns (most at once, results in the
    /// order `done` got them).
    fn most_at_once(width: usize, memory: &[u64], budget: u64, stop_after: usize) -> (usize, Vec<usize>) {
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let mut got = Vec::new();
        let items = memory.iter().enumerate().map(|(i, &m)| (i, m)).collect();
        in_order(
            items,
            width,
            budget,
            |i| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                // Later items finish first, so that results arrive out of order.
                std::thread::yield_now();
                now.fetch_sub(1, Ordering::SeqCst);
                i
            },
            |i| {
                got.push(i);
                got.len() < stop_after
            },
        );
        (most.load(Ordering::SeqCst), got)
    }

    #[test]
    fn results_come_in_order_within_width_and_memory() {
        let all: Vec<usize> = (0..12).collect();
        let (most, got) = most_at_once(3, &[1; 12], 100, usize::MAX);
        assert!(most <= 3, "{most} items at once with width 3");
        assert_eq!(got, all);
        // Each item alone fills the budget: one at a time, whatever the width.
        let (most, got) = most_at_once(4, &[60; 12], 100, usize::MAX);
        assert_eq!(most, 1);
        assert_eq!(got, all);
        // An item above the whole budget still runs (alone).
        let (_, got) = most_at_once(2, &[500, 1, 1], 100, usize::MAX);
        assert_eq!(got, [0, 1, 2]);
        // `done` saying stop: nothing after that reaches it.
        let (_, got) = most_at_once(3, &[1; 12], 100, 4);
        assert_eq!(got, [0, 1, 2, 3]);
    }
}
