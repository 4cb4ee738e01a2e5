//! Engine benchmark: how much a pushpull run costs per message, against a minimal hand-written
//! M/M/c event loop in this file, and against SimPy. Run with `cargo bench --bench engine`;
//! `PUSHPULL_BENCH_MESSAGES` overrides the number of messages (default 10^7) and
//! `PUSHPULL_BENCH_REPEAT` (default 3) repeats every in-process measurement (baseline and library
//! alike) and keeps the fastest: on a shared machine the fastest of three is the least disturbed.
//! See benches/README.md for what each row means.
//!
//! Model everywhere: M/M/c with c = 10 servers, mean service 10 ms, arrival rate 700/s (rho = 0.7),
//! whose mean wait is 0.739 ms (Erlang C): the failure issue's reference case.

use pushpull::scenario::{Scenario, SystemKind};
use rand::Rng;
use rand_pcg::Pcg64Mcg;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SERVERS: usize = 10;
const MEAN_SERVICE_S: f64 = 0.010;
const RATE_PER_S: f64 = 700.0;
const DEFAULT_MESSAGES: u64 = 10_000_000;
const SIMPY_MESSAGES: u64 = 200_000;
/// The tiny run whose peak RSS is subtracted to get the memory per retained record.
const TINY_MESSAGES: u64 = 1_000;
/// The thread CPU clock advances in scheduler ticks (a few ms): below this much CPU time for the
/// baseline (a smoke run), every in-process row is timed by the wall clock instead.
const MIN_CPU_S: f64 = 0.25;
/// The failure issue's requirement: the whole run costs at most this many times the baseline loop
/// per message per system (CPU time), on M/M/10.
const REQUIRED_RATIO: f64 = 6.0;

// ---------------------------------------------------------------------------------------------
// Baseline: the smallest reasonable M/M/c simulation.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Departure(u32),
}

/// Exponential with the given mean (ns), by inversion, truncated to whole nanoseconds.
fn exp_ns(rng: &mut Pcg64Mcg, mean_ns: f64) -> u64 {
    (-mean_ns * libm::log(1.0 - rng.random::<f64>())) as u64
}

/// Simulates `n` customers to completion; returns the mean wait in ms.
fn baseline_mmc(n: u64, seed: u64) -> f64 {
    let mut arrivals = Pcg64Mcg::new(0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645 ^ seed as u128);
    let mut services = Pcg64Mcg::new(0x5851_F42D_4C95_7F2D_1405_7B7E_F767_814F ^ seed as u128);
    let mean_interarrival_ns = 1e9 / RATE_PER_S;
    let mean_service_ns = MEAN_SERVICE_S * 1e9;

    let mut heap: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::with_capacity(SERVERS + 2);
    let mut waiting: VecDeque<u64> = VecDeque::new();
    let mut free: Vec<u32> = (0..SERVERS as u32).rev().collect();
    let mut seq = 0u64;
    let mut arrived = 0u64;
    let mut served = 0u64;
    let mut total_wait_ns = 0u64;

    if n > 0 {
        heap.push(Reverse((0, seq, Event::Arrival)));
        seq += 1;
        arrived = 1;
    }
    while let Some(Reverse((now, _, event))) = heap.pop() {
        match event {
            Event::Arrival => {
                if arrived < n {
                    let next = now + exp_ns(&mut arrivals, mean_interarrival_ns);
                    heap.push(Reverse((next, seq, Event::Arrival)));
                    seq += 1;
                    arrived += 1;
                }
                match free.pop() {
                    Some(server) => {
                        served += 1;
                        let done = now + exp_ns(&mut services, mean_service_ns);
                        heap.push(Reverse((done, seq, Event::Departure(server))));
                        seq += 1;
                    }
                    None => waiting.push_back(now),
                }
            }
            Event::Departure(server) => match waiting.pop_front() {
                Some(arrived_at) => {
                    total_wait_ns += now - arrived_at;
                    served += 1;
                    let done = now + exp_ns(&mut services, mean_service_ns);
                    heap.push(Reverse((done, seq, Event::Departure(server))));
                    seq += 1;
                }
                None => free.push(server),
            },
        }
    }
    assert_eq!(served, n, "every customer is served");
    total_wait_ns as f64 / served.max(1) as f64 / 1e6
}

/// Mean wait in ms of M/M/c (Erlang C).
fn erlang_c_wait_ms(c: usize, rate: f64, mean_service: f64) -> f64 {
    let a = rate * mean_service;
    let rho = a / c as f64;
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / k as f64;
        }
        sum += term;
    }
    let last = term * a / c as f64 / (1.0 - rho);
    let p_wait = last / (sum + last);
    p_wait / (c as f64 / mean_service - rate) * 1e3
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// The M/M/c scenario with about `n` messages. `systems`: a TOML array or "" for the default
/// (both); `kafka_extra`: extra lines for the [kafka] table.
fn scenario_toml(name: &str, n: u64, systems: &str, kafka_extra: &str) -> String {
    let seconds = (n as f64 / RATE_PER_S).ceil() as u64;
    let systems = if systems.is_empty() { String::new() } else { format!("systems = {systems}\n") };
    format!(
        r#"name = "{name}"
seed = 1
duration = "{seconds}s"
warmup = "0s"
{systems}
[workload]
rate = {RATE_PER_S:.1}
keys = {{ count = 100000, distribution = "uniform" }}

[[groups]]
name = "g"
consumers = {SERVERS}
processing = {{ distribution = "exponential", mean = "10ms" }}

[kafka]
partitions = {SERVERS}
linger = "0ms"
{kafka_extra}
[rabbitmq]
prefetch = 1
"#
    )
}

// ---------------------------------------------------------------------------------------------
// Measurements.

struct Measure {
    messages: u64,
    wall_s: f64,
    /// CPU time of the measuring thread (or process), when the platform tells it.
    cpu_s: Option<f64>,
    mean_wait_ms: f64,
    /// Peak resident memory during the run above the resident memory before it (library rows).
    rss_growth_kib: Option<u64>,
}

impl Measure {
    /// CPU time when known (robust to other load on the machine), else wall time.
    fn seconds(&self) -> f64 {
        self.cpu_s.unwrap_or(self.wall_s)
    }
    fn ns_per_message(&self) -> f64 {
        self.seconds() * 1e9 / self.messages.max(1) as f64
    }
    fn wall_ns_per_message(&self) -> f64 {
        self.wall_s * 1e9 / self.messages.max(1) as f64
    }
}

/// Nanoseconds the calling thread has spent on a CPU (Linux: /proc/thread-self/schedstat).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A field of /proc/self/status in KiB ("VmRSS", "VmHWM").
fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].split_whitespace().next()?.parse().ok()
}

/// Runs `f` and returns how far the process's peak RSS rose above its RSS before `f` (Linux:
/// resets the peak through /proc/self/clear_refs, then reads VmHWM).
fn rss_growth<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS");
    let out = f();
    let growth = match (reset, before, status_kib("VmHWM")) {
        (true, Some(b), Some(peak)) => Some(peak.saturating_sub(b)),
        _ => None,
    };
    (out, growth)
}

/// Wall and CPU time of `f` on this thread.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, Option<f64>) {
    let cpu0 = thread_cpu_ns();
    let started = Instant::now();
    let out = f();
    let wall = started.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e9),
        _ => None,
    };
    (out, wall, cpu)
}

/// Runs `f` `repeat` times and keeps the fastest.
fn fastest(repeat: u32, mut f: impl FnMut() -> Measure) -> Measure {
    let mut best: Option<Measure> = None;
    for _ in 0..repeat.max(1) {
        let m = f();
        if best.as_ref().is_none_or(|b| m.seconds() < b.seconds()) {
            best = Some(m);
        }
    }
    best.expect("at least one run")
}

fn run_baseline(n: u64) -> Measure {
    let (wait, wall_s, cpu_s) = timed(|| baseline_mmc(black_box(n), black_box(1)));
    Measure { messages: n, wall_s, cpu_s, mean_wait_ms: black_box(wait), rss_growth_kib: None }
}

fn run_library(s: &Scenario, system: SystemKind) -> Measure {
    let (((run, summary), wall_s, cpu_s), rss_growth_kib) = rss_growth(|| {
        timed(|| {
            let run = pushpull::run::run_one(s, system, None);
            let summary = run.summary(s);
            (run, summary)
        })
    });
    drop(black_box(run));
    Measure { messages: summary.messages_published, wall_s, cpu_s, mean_wait_ms: summary.wait_ms.mean, rss_growth_kib }
}

/// One `pushpull run` as a child process.
struct CliRun {
    wall_s: f64,
    /// user + sys CPU seconds, when /usr/bin/time is there.
    cpu_s: Option<f64>,
    max_rss_kib: Option<u64>,
    summary: serde_json::Value,
}

impl CliRun {
    fn messages(&self, system: &str) -> u64 {
        self.summary["systems"][system]["messages_published"].as_u64().unwrap_or(0)
    }
    fn mean_wait_ms(&self, system: &str) -> f64 {
        self.summary["systems"][system]["wait_ms"]["mean"].as_f64().unwrap_or(f64::NAN)
    }
}

fn gnu_time() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/time");
    let ok = Command::new(&p).args(["-f", "%e", "-o", "/dev/null", "true"]).output().is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

fn run_cli(bin: &Path, time: Option<&Path>, dir: &Path, name: &str, toml: &str) -> Result<CliRun, String> {
    let file = dir.join(format!("{name}.toml"));
    let out = dir.join(name);
    let time_file = dir.join(format!("{name}.time"));
    std::fs::write(&file, toml).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut cmd = match time {
        Some(t) => {
            let mut c = Command::new(t);
            c.arg("-f").arg("%e %U %S %M").arg("-o").arg(&time_file).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("run").arg(&file).arg("--out").arg(&out).arg("--quiet");
    let started = Instant::now();
    let output = cmd.output().map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let wall_s = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "pushpull run {} failed ({}): {}",
            file.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let (mut cpu_s, mut max_rss_kib) = (None, None);
    if time.is_some() {
        let text = std::fs::read_to_string(&time_file).unwrap_or_default();
        // GNU time may print a "Command exited with ..." line first: the figures are on the last.
        let fields: Vec<f64> =
            text.lines().last().unwrap_or("").split_whitespace().filter_map(|f| f.parse().ok()).collect();
        if let [_, user, sys, rss] = fields[..] {
            cpu_s = Some(user + sys);
            max_rss_kib = Some(rss as u64);
        }
    }
    let summary_path = out.join("summary.json");
    let summary = std::fs::read_to_string(&summary_path)
        .map_err(|e| format!("{}: {e}", summary_path.display()))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", summary_path.display())))?;
    Ok(CliRun { wall_s, cpu_s, max_rss_kib, summary })
}

/// The release binary: Cargo's path when it gives one, else `<target>/release/pushpull`, built
/// if missing.
fn pushpull_binary() -> Result<PathBuf, String> {
    if let Some(p) = option_env!("CARGO_BIN_EXE_pushpull") {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    let target = if target.is_relative() { manifest.join(target) } else { target };
    let bin = target.join("release").join("pushpull");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building {} ...", bin.display());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "pushpull"])
            .current_dir(manifest)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() || !bin.exists() {
            return Err(format!("cargo build --release did not produce {}", bin.display()));
        }
    }
    Ok(bin)
}

fn run_simpy(n: u64) -> Result<Measure, String> {
    let has_simpy = Command::new("python3").args(["-c", "import simpy"]).output().is_ok_and(|o| o.status.success());
    if !has_simpy {
        return Err("SimPy not installed (pip install simpy)".into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/simpy_mmc.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(n.to_string())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        return Err(format!("{} failed: {}", script.display(), String::from_utf8_lossy(&output.stderr).trim()));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("{}: bad output: {e}", script.display()))?;
    Ok(Measure {
        messages: v["messages"].as_u64().unwrap_or(0),
        wall_s: v["seconds"].as_f64().unwrap_or(f64::NAN),
        cpu_s: v["cpu_seconds"].as_f64(),
        mean_wait_ms: v["mean_wait_ms"].as_f64().unwrap_or(f64::NAN),
        rss_growth_kib: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Report.

/// One line of the final table; empty cells print as a dash.
#[derive(Default)]
struct Row {
    name: String,
    messages: String,
    per_s: String,
    cpu_ns: String,
    wall_ns: String,
    ratio: String,
    simpy: String,
    wait: String,
    rss: String,
    bytes: String,
}

fn dash() -> String {
    "–".into()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(dash, |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn verdict(what: &str, ratio: f64) -> String {
    format!(
        "{what}: {ratio:.2}x the baseline loop per message: {}",
        if ratio <= REQUIRED_RATIO {
            format!("meets the <= {REQUIRED_RATIO}x requirement")
        } else {
            format!("EXCEEDS the {REQUIRED_RATIO}x requirement")
        }
    )
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .filter(|x| *x >= 1.0)
            .map(|x| x as u64)
            .unwrap_or_else(|| panic!("{name}={v}: expected a positive number such as 100000 or 1e5")),
        Err(_) => default,
    }
}

/// The whole-CLI measurements: both systems, then Kafka-only runs for memory.
struct CliRuns {
    whole: CliRun,
    tiny: CliRun,
    retain: CliRun,
    short: CliRun,
}

fn run_cli_all(n: u64, toml: &str, time: Option<&Path>, dir: &Path) -> Result<CliRuns, String> {
    let bin = pushpull_binary()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!("CLI: {}", bin.display());
    let kafka_only = r#"["kafka"]"#;
    let whole = run_cli(&bin, time, dir, "bench-mmc", toml)?;
    println!(
        "CLI both systems:     {:>8.3} s wall, CPU {} s, peak RSS {}",
        whole.wall_s,
        whole.cpu_s.map_or_else(dash, |c| format!("{c:.3}")),
        mib(whole.max_rss_kib)
    );
    let tiny_toml = scenario_toml("bench-tiny", TINY_MESSAGES, kafka_only, "");
    let tiny = run_cli(&bin, time, dir, "bench-tiny", &tiny_toml)?;
    let retain_toml = scenario_toml("bench-retain", n, kafka_only, "");
    let retain = run_cli(&bin, time, dir, "bench-retain", &retain_toml)?;
    let short_toml = scenario_toml(
        "bench-short-retention",
        n,
        kafka_only,
        "retention = \"10s\"\nsegment_ms = \"10s\"\nretention_check_interval = \"10s\"\n",
    );
    let short = run_cli(&bin, time, dir, "bench-short-retention", &short_toml)?;
    println!(
        "CLI Kafka only:       tiny run {} | retaining {} records {} | same with 10 s retention {}",
        mib(tiny.max_rss_kib),
        pushpull::report::table::thousands(retain.messages("kafka")),
        mib(retain.max_rss_kib),
        mib(short.max_rss_kib),
    );
    Ok(CliRuns { whole, tiny, retain, short })
}

fn main() {
    // `cargo bench` passes `--bench`; no argument has a meaning here.
    let n = env_u64("PUSHPULL_BENCH_MESSAGES", DEFAULT_MESSAGES);
    let repeat = env_u64("PUSHPULL_BENCH_REPEAT", 3) as u32;
    let expected_wait = erlang_c_wait_ms(SERVERS, RATE_PER_S, MEAN_SERVICE_S);
    println!(
        "pushpull engine benchmark: M/M/{SERVERS}, mean service {} ms, rate {RATE_PER_S}/s (rho = {:.2}), \
         N = {} messages, repeat {repeat}; Erlang C mean wait {expected_wait:.3} ms",
        MEAN_SERVICE_S * 1e3,
        RATE_PER_S * MEAN_SERVICE_S / SERVERS as f64,
        pushpull::report::table::thousands(n)
    );
    let mut rows: Vec<Row> = Vec::new();
    let mut verdicts: Vec<String> = Vec::new();
    let line = |label: &str, m: &Measure, extra: String| {
        println!(
            "{label:<22}{:>8} s CPU {:>8.3} s wall {:>8.1} ns/message  mean wait {:.3} ms{extra}",
            m.cpu_s.map_or_else(dash, |c| format!("{c:.3}")),
            m.wall_s,
            m.ns_per_message(),
            m.mean_wait_ms
        )
    };

    // 1. Baseline. Its CPU time decides which clock every in-process row uses.
    let base = fastest(repeat, || run_baseline(n));
    let use_cpu = base.cpu_s.is_some_and(|c| c >= MIN_CPU_S);
    if !use_cpu {
        println!(
            "{}: in-process rows are timed by the wall clock (the \"CPU ns/message\" column holds wall time for them)",
            if thread_cpu_ns().is_none() {
                "no /proc/thread-self/schedstat"
            } else {
                "run too short for the thread CPU clock"
            }
        );
    }
    let clock = |mut m: Measure| {
        if !use_cpu {
            m.cpu_s = None;
        }
        m
    };
    let base = clock(base);
    let base_ns = base.ns_per_message();
    line("baseline loop", &base, String::new());

    // 2. The library, one system at a time on this thread.
    let toml = scenario_toml("bench-mmc", n, "", "");
    let s = pushpull::plan::parse(&toml, "bench.toml", false).expect("the bench scenario is valid");
    let mut lib = Vec::new();
    for (system, label) in [(SystemKind::RabbitMq, "RabbitMQ"), (SystemKind::Kafka, "Kafka")] {
        let m = clock(fastest(repeat, || run_library(&s, system)));
        let ratio = m.ns_per_message() / base_ns;
        line(&format!("library {label}"), &m, format!("  ({ratio:.2}x baseline)"));
        // For reference: the requirement is on the whole run, both systems with their reports.
        verdicts.push(format!(
            "library, {label}: {ratio:.2}x the baseline loop per message (one system on one thread, for reference: \
             the {REQUIRED_RATIO}x requirement is on the whole run)"
        ));
        lib.push((label, m));
    }

    // 4. SimPy (before the CLI runs, so that its column is known when the rows are built).
    let simpy = run_simpy(SIMPY_MESSAGES.min(n)).map(clock);
    match &simpy {
        Ok(m) => line("SimPy", m, format!("  ({} messages)", pushpull::report::table::thousands(m.messages))),
        Err(e) => println!("{e}"),
    }
    let simpy_ns = simpy.as_ref().ok().map(Measure::ns_per_message);
    let speedup = |ns: f64| simpy_ns.map_or_else(dash, |s| format!("{:.0}x", s / ns));

    rows.push(Row {
        name: "Baseline loop (BinaryHeap + VecDeque, in this file)".into(),
        messages: pushpull::report::table::thousands(base.messages),
        per_s: pushpull::report::table::thousands((1e9 / base_ns) as u64),
        cpu_ns: format!("{base_ns:.1}"),
        wall_ns: format!("{:.1}", base.wall_ns_per_message()),
        ratio: "1.00x".into(),
        simpy: speedup(base_ns),
        wait: format!("{:.3}", base.mean_wait_ms),
        ..Row::default()
    });
    for (label, m) in &lib {
        let ns = m.ns_per_message();
        // Kafka keeps every record (7-day retention), so its growth per message is per retained record.
        let bytes = match (*label, m.rss_growth_kib) {
            ("Kafka", Some(g)) => format!("{:.1}", g as f64 * 1024.0 / m.messages.max(1) as f64),
            _ => String::new(),
        };
        rows.push(Row {
            name: format!("pushpull library, {label} (`run_one` + `summary`)"),
            messages: pushpull::report::table::thousands(m.messages),
            per_s: pushpull::report::table::thousands((1e9 / ns) as u64),
            cpu_ns: format!("{ns:.1}"),
            wall_ns: format!("{:.1}", m.wall_ns_per_message()),
            ratio: format!("{:.2}x", ns / base_ns),
            simpy: speedup(ns),
            wait: format!("{:.3}", m.mean_wait_ms),
            rss: m.rss_growth_kib.map_or_else(String::new, |k| format!("+{}", mib(Some(k)))),
            bytes,
        });
    }

    // 3. Whole CLI runs.
    let time = gnu_time();
    if time.is_none() {
        println!(
            "/usr/bin/time not found (apt-get install time): CLI rows give wall time only, no CPU time or peak RSS"
        );
    }
    let dir = std::env::temp_dir().join(format!("pushpull-bench-{}", std::process::id()));
    let cli = run_cli_all(n, &toml, time.as_deref(), &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match &cli {
        Err(e) => println!("CLI rows skipped: {e}"),
        Ok(CliRuns { whole, tiny, retain, short }) => {
            let scenario_messages = whole.messages("kafka").max(whole.messages("rabbitmq"));
            let per_system = (whole.messages("kafka") + whole.messages("rabbitmq")).max(1);
            // Without /usr/bin/time the CPU cell falls back to wall time (marked as such).
            let (cpu_s, cpu_note) = match whole.cpu_s {
                Some(c) => (c, ""),
                None => (whole.wall_s, " (wall: no /usr/bin/time)"),
            };
            let ns = cpu_s * 1e9 / per_system as f64;
            let ratio = ns / base_ns;
            verdicts.push(verdict("whole `pushpull run` (CPU per message per system)", ratio));
            rows.push(Row {
                name: format!(
                    "pushpull CLI `run`, both systems in parallel: CPU (user+sys) per message per system{cpu_note}"
                ),
                messages: format!("{} x 2", pushpull::report::table::thousands(scenario_messages)),
                per_s: pushpull::report::table::thousands((1e9 / ns) as u64),
                cpu_ns: format!("{ns:.1}"),
                wall_ns: format!("{:.1}", whole.wall_s * 1e9 / scenario_messages.max(1) as f64),
                ratio: format!("{ratio:.2}x"),
                simpy: speedup(ns),
                wait: format!("{:.3} / {:.3}", whole.mean_wait_ms("rabbitmq"), whole.mean_wait_ms("kafka")),
                rss: mib(whole.max_rss_kib),
                ..Row::default()
            });
            let retained = retain.messages("kafka");
            let per_record = |other: &CliRun| match (retain.max_rss_kib, other.max_rss_kib) {
                (Some(a), Some(b)) => format!("{:.1}", (a as f64 - b as f64) * 1024.0 / retained.max(1) as f64),
                _ => dash(),
            };
            rows.push(Row {
                name: "Kafka-only CLI run, tiny (reference RSS)".into(),
                messages: pushpull::report::table::thousands(tiny.messages("kafka")),
                wait: format!("{:.3}", tiny.mean_wait_ms("kafka")),
                rss: mib(tiny.max_rss_kib),
                ..Row::default()
            });
            rows.push(Row {
                name: "Kafka-only CLI run retaining every record: (peak RSS - tiny run) / records".into(),
                messages: pushpull::report::table::thousands(retained),
                wait: format!("{:.3}", retain.mean_wait_ms("kafka")),
                rss: mib(retain.max_rss_kib),
                bytes: per_record(tiny),
                ..Row::default()
            });
            rows.push(Row {
                name: "The log alone: (peak RSS above - same run with 10 s retention) / records".into(),
                messages: pushpull::report::table::thousands(short.messages("kafka")),
                wait: format!("{:.3}", short.mean_wait_ms("kafka")),
                rss: mib(short.max_rss_kib),
                bytes: per_record(short),
                ..Row::default()
            });
        }
    }
    if let Ok(m) = &simpy {
        let ns = m.ns_per_message();
        rows.push(Row {
            name: "SimPy 4 (`Resource(capacity=10)`, benches/simpy_mmc.py)".into(),
            messages: pushpull::report::table::thousands(m.messages),
            per_s: pushpull::report::table::thousands((1e9 / ns) as u64),
            cpu_ns: format!("{ns:.0}"),
            wall_ns: format!("{:.0}", m.wall_ns_per_message()),
            ratio: format!("{:.0}x", ns / base_ns),
            simpy: "1x".into(),
            wait: format!("{:.3}", m.mean_wait_ms),
            ..Row::default()
        });
    }

    println!();
    println!(
        "| Row | Messages | Messages/s (CPU) | CPU ns/message | Wall ns/message | x baseline | Speed-up over SimPy | Mean wait ms (Erlang C {expected_wait:.3}) | Peak RSS | Bytes/retained record |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let cells = [&r.messages, &r.per_s, &r.cpu_ns, &r.wall_ns, &r.ratio, &r.simpy, &r.wait, &r.rss, &r.bytes];
        let cells: Vec<String> = cells.iter().map(|c| if c.is_empty() { dash() } else { (*c).clone() }).collect();
        println!("| {} | {} |", r.name, cells.join(" | "));
    }
    println!();
    for v in &verdicts {
        println!("{v}");
    }
}
