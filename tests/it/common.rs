//! Shared helpers: build scenarios from text, run a system with extra observers attached.

use pushpull::history::{ClientEvent, History, Observation, Tee};
use pushpull::metrics::Recorder;
use pushpull::models::run_system;
use pushpull::scenario::{Scenario, SystemKind};
use pushpull::time::SimTime;

pub fn scenario(toml: &str) -> Scenario {
    pushpull::plan::parse(toml, "test.toml", false).unwrap_or_else(|e| panic!("test scenario invalid: {e}"))
}

/// Waits (publish -> processing start) of messages published after the warmup, in seconds,
/// grouped into a fixed number of consecutive batches for a batch-means confidence interval.
pub struct BatchMeans {
    warmup: SimTime,
    per_batch: u64,
    sum: f64,
    n: u64,
    pub means: Vec<f64>,
}

impl BatchMeans {
    pub fn new(warmup: SimTime, expected: u64, batches: u64) -> Self {
        BatchMeans { warmup, per_batch: (expected / batches).max(1), sum: 0.0, n: 0, means: Vec::new() }
    }

    /// (grand mean, standard error of the mean) from the complete batches.
    pub fn estimate(&self) -> (f64, f64) {
        let b = self.means.len() as f64;
        let mean = self.means.iter().sum::<f64>() / b;
        let var = self.means.iter().map(|m| (m - mean) * (m - mean)).sum::<f64>() / (b - 1.0);
        (mean, (var / b).sqrt())
    }
}

impl History for BatchMeans {
    fn record(&mut self, at: SimTime, obs: Observation) {
        if let Observation::Client(ClientEvent::ProcessingStarted { msg, .. }) = obs
            && msg.published_at >= self.warmup
        {
            self.sum += at.since(msg.published_at).as_secs_f64();
            self.n += 1;
            if self.n == self.per_batch {
                self.means.push(self.sum / self.n as f64);
                self.sum = 0.0;
                self.n = 0;
            }
        }
    }
}

/// Runs one system with the recorder and an extra observer.
pub fn run_observed<H: History>(s: &Scenario, sys: SystemKind, extra: &mut H) -> Recorder {
    let mut rec = Recorder::new(s);
    let end = {
        let mut tee = Tee(&mut rec, extra);
        run_system(s, sys, &mut tee, |_| {})
    };
    rec.finish(end.at);
    rec
}

/// Student t quantile for 19 degrees of freedom, two-sided 99.9%: a correct model fails a check
/// with probability 0.1%, and the seeds are fixed, so a pass is reproducible.
pub const T19_999: f64 = 3.883;
pub const BATCHES: u64 = 20;

/// Erlang C: probability that an arrival waits in M/M/c with offered load a = lambda/mu.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut b = 1.0; // Erlang B by the stable recursion
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let rho = a / c as f64;
    b / (1.0 - rho + rho * b)
}

/// The `pushpull` binary built for these tests.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_pushpull"))
}

/// A scratch folder, removed when the test ends (pass or fail).
pub struct TmpDir(pub std::path::PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty `pushpull-{area}-{pid}-{tag}` under the system's temporary folder; `area` keeps
/// the test files' tags apart (the tests of one binary run in parallel in one process).
pub fn tmpdir_in(area: &str, tag: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("pushpull-{area}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// Writes `content` to `dir/name` and returns the path.
pub fn write(dir: &std::path::Path, name: &str, content: impl AsRef<[u8]>) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Client events with their times, for assertions on when things happened.
#[derive(Default)]
pub struct Events(pub Vec<(SimTime, ClientEvent)>);

impl History for Events {
    fn record(&mut self, at: SimTime, obs: Observation) {
        if let Observation::Client(e) = obs {
            self.0.push((at, e));
        }
    }
}

/// Runs `sys` over `s` and returns every client event it reported.
pub fn client_events(s: &Scenario, sys: SystemKind) -> Events {
    let mut e = Events::default();
    run_observed(s, sys, &mut e);
    e
}

/// Simulated time in seconds.
pub fn secs(t: SimTime) -> f64 {
    t.0 as f64 / 1e9
}

/// Runs every system of `s`, as `pushpull run` does.
pub fn run_all(s: &Scenario) -> Vec<pushpull::report::SystemRun> {
    pushpull::run::run_scenario(s, None)
}

/// The SVG text of chart `stem` among `chart_svgs`' output.
pub fn svg<'a>(svgs: &'a [(&'static str, String)], stem: &str) -> &'a str {
    &svgs.iter().find(|(n, _)| *n == stem).unwrap_or_else(|| panic!("no {stem} chart")).1
}

/// Every observation of a run, for recounting what a log (Kafka's, or a stream) held at an instant.
#[derive(Default)]
pub struct All(pub Vec<(SimTime, Observation)>);

impl History for All {
    fn record(&mut self, at: SimTime, obs: Observation) {
        self.0.push((at, obs));
    }
}

impl All {
    /// Runs `sys` over `s` and keeps every observation.
    pub fn run(s: &Scenario, sys: SystemKind) -> All {
        let mut all = All::default();
        run_observed(s, sys, &mut all);
        all
    }

    /// Ids stored and not deleted for every group (retention) by `t`: what the log holds then.
    pub fn retained_at(&self, t: SimTime) -> std::collections::BTreeSet<u64> {
        let mut held = std::collections::BTreeSet::new();
        for (_, o) in self.0.iter().filter(|(at, _)| *at <= t) {
            match *o {
                Observation::Stored { msg } => {
                    held.insert(msg.id());
                }
                Observation::Deleted { id, group: None } => {
                    held.remove(&id);
                }
                _ => {}
            }
        }
        held
    }

    /// The client events among the observations.
    pub fn client(&self) -> Events {
        Events(
            self.0
                .iter()
                .filter_map(|(at, o)| match o {
                    Observation::Client(c) => Some((*at, *c)),
                    _ => None,
                })
                .collect(),
        )
    }
}

/// The checker's delivery report of `sys` over `s`.
pub fn delivery(s: &Scenario, sys: SystemKind) -> pushpull::checker::DeliveryReport {
    run_all(s).into_iter().find(|r| r.system == sys).expect("system ran").delivery
}

/// `text` (a scenario named `file`) is refused with one line that blames `field`, names the file
/// and says `says`.
pub fn assert_refused(text: &str, file: &str, field: &str, says: &str) {
    let e = pushpull::plan::parse(text, file, false).unwrap_err();
    let line = e.to_string();
    assert_eq!(e.field.as_deref(), Some(field), "{line}");
    assert!(line.contains(file) && line.contains(says), "{line}");
    assert!(!line.contains('\n'));
}

/// A Kafka run of `text`: the producers' acknowledged records per second over `[warmup, duration)`, and the bottleneck.
pub fn acknowledged(text: &str) -> (f64, String) {
    let s = scenario(text);
    let run = pushpull::run::run_one(&s, SystemKind::Kafka, None);
    let (from, to) = (SimTime(s.warmup.0), SimTime(s.duration.0));
    let window: Vec<f64> = run
        .recorder
        .samples
        .iter()
        .filter(|x| x.group == 0 && x.time > from && x.time <= to)
        .map(|x| x.acknowledged_per_s)
        .collect();
    let sum = run.summary(&s);
    let bottleneck = sum.utilisation.as_ref().expect("a calibrated profile reports utilisation").bottleneck.clone();
    (window.iter().sum::<f64>() / window.len() as f64, bottleneck)
}
