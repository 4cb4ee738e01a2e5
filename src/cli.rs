//! Command line: raw flags (clap) are resolved into a typed [`Command`], then executed. `main` only
//! calls [`main_with_args`] and exits with its code.

use crate::report::{self, outdir, table};
use crate::run::{Progress, SIM_THREAD, check_size, join_reporting, run_scenario_with, spawn_reporting};
use crate::scenario::{Scenario, ScenarioError};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "pushpull", version, about = "Kafka-style log vs RabbitMQ-style queue, simulated side by side")]
struct Args {
    #[command(subcommand)]
    command: RawCommand,
}

#[derive(Subcommand, Debug)]
enum RawCommand {
    /// Run scenarios and write summary.json, timeseries.csv and charts.
    Run {
        /// Scenario files (TOML, or JSON with a .json name).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder (default results/<name>/). With several scenarios, DIR/<name>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// No table and no progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Run even if the scenario is estimated too large.
        #[arg(long)]
        force: bool,
        /// Also write every observation to history-<system>.jsonl (large: about 8 lines per message).
        #[arg(long)]
        history: bool,
    },
    /// Check scenario files without running them.
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Do not refuse scenarios estimated too large.
        #[arg(long)]
        force: bool,
    },
}

/// What to do, with every option resolved.
#[derive(Debug)]
pub enum Command {
    Run { jobs: Vec<RunJob>, quiet: bool, force: bool, history: bool },
    Validate { files: Vec<PathBuf>, force: bool },
}

#[derive(Debug)]
pub struct RunJob {
    pub file: PathBuf,
    pub seed: Option<u64>,
    /// Folder for this scenario's outputs; `None`: results/<name>/.
    pub out: Option<PathBuf>,
    /// With several scenarios and --out, outputs go into out/<name>/.
    pub out_is_parent: bool,
}

fn resolve(args: Args) -> Command {
    match args.command {
        RawCommand::Run { scenarios, seed, out, quiet, force, history } => {
            let several = scenarios.len() > 1;
            let jobs = scenarios
                .into_iter()
                .map(|file| RunJob { file, seed, out: out.clone(), out_is_parent: several })
                .collect();
            Command::Run { jobs, quiet, force, history }
        }
        RawCommand::Validate { scenarios, force } => Command::Validate { files: scenarios, force },
    }
}

/// Parses arguments, runs, prints errors as single lines; returns the process exit code:
/// 0 success, 1 a scenario or output error, 2 a usage error.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            eprintln!("{}", usage_error_line(&e.render().to_string()));
            return 2;
        }
    };
    match resolve(args) {
        Command::Validate { files, force } => {
            let mut failed = false;
            for f in files {
                match load(&f, None, force) {
                    Ok(s) => out(&format!(
                        "{}: ok ({}, {:.0} messages expected, {} group(s), systems: {}; {})\n{}",
                        crate::errtext::path(&f.display().to_string()),
                        s.name,
                        s.expected_messages(),
                        s.groups.len(),
                        s.systems.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
                        crate::guard::estimate_text(&crate::guard::estimate(&s)),
                        crate::guard::validate_report(&s).trim_end()
                    )),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            i32::from(failed)
        }
        Command::Run { jobs, quiet, force, history } => match run(&jobs, quiet, force, history) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        },
    }
}

/// The output folder of a job: `--out` itself, `--out/<name>` with several scenarios, or
/// `results/<name>`.
fn output_dir(job: &RunJob, s: &Scenario) -> PathBuf {
    match (&job.out, job.out_is_parent) {
        (Some(d), false) => d.clone(),
        (Some(d), true) => d.join(&s.name),
        (None, _) => Path::new("results").join(&s.name),
    }
}

/// Loads every scenario, checks every output folder, then runs and writes each scenario in turn:
/// a typo in the third file or a clash of names costs no simulation.
fn run(jobs: &[RunJob], quiet: bool, force: bool, history: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut loaded = Vec::new();
    for job in jobs {
        let s = load(&job.file, job.seed, force)?;
        if let Some(w) = history.then(|| crate::guard::history_warning(&s)).flatten() {
            eprintln!("{w}");
        }
        loaded.push(s);
    }
    let files: Vec<String> = jobs.iter().map(|j| j.file.display().to_string()).collect();
    let dirs: Vec<PathBuf> = jobs.iter().zip(&loaded).map(|(j, s)| output_dir(j, s)).collect();
    let checks: Vec<outdir::Job> = files.iter().zip(&dirs).map(|(file, dir)| outdir::Job { file, dir }).collect();
    let stagings = outdir::preflight(&checks)?;
    for (s, staging) in loaded.iter().zip(stagings) {
        let work = staging.work_dir();
        let runs = run_with_progress(s, quiet, history.then_some(work)).map_err(|e| staging.relocate(e))?;
        for r in runs.iter().filter(|r| r.end.stalled) {
            let sum = r.summary(s);
            eprintln!(
                "warning: {}: {}: the drain stopped at {:.0} s of simulated time: nothing was sent, acknowledged, \
                 delivered, processed or committed for {} after the schedule's last step, so nothing it waited for \
                 could come; {} messages stranded, {} lost (summary.json: drain_stalled). If the schedule leaves \
                 something down, restart it; otherwise set `drain` to a duration, and please report the scenario",
                s.name,
                r.system.name(),
                sum.end_of_run_s,
                crate::models::drain::DrainWatch::new(s).limit(),
                sum.total.stranded,
                sum.total.lost
            );
        }
        report::write_all(work, s, &runs).map_err(|e| staging.relocate(e))?;
        let shown = staging.shown().to_path_buf();
        staging.commit()?;
        if !quiet {
            out(&table::render(&report::summary(s, &runs)));
            out(&format!("results: {}\n", shown.display()));
        }
    }
    Ok(())
}

/// clap's usage error on one line: its lines joined, the usage kept, echoed arguments made safe.
fn usage_error_line(rendered: &str) -> String {
    let mut line = String::new();
    let mut usage = None;
    for l in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = l.strip_prefix("Usage:") {
            usage = Some(u.trim().to_string());
        } else if !l.starts_with("For more information") {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(l);
        }
    }
    if let Some(u) = usage {
        line.push_str(&format!("; usage: {u}"));
    }
    line.push_str("; see --help");
    crate::errtext::message(&line)
}

/// Loads a scenario, refuses it if too big (unless `force`), and prints its warnings.
fn load(file: &Path, seed: Option<u64>, force: bool) -> Result<Scenario, ScenarioError> {
    let mut s = Scenario::load(file)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    let name = file.display().to_string();
    if !force {
        check_size(&s, &name)?;
    }
    if let Some(w) = crate::guard::poll_interval_check(&s, &name)? {
        eprintln!("warning: {w}");
    }
    Ok(s)
}

/// Runs the scenario; shows a progress bar on a terminal if the run lasts more than a second.
fn run_with_progress(
    s: &Scenario,
    quiet: bool,
    history_dir: Option<&Path>,
) -> Result<Vec<crate::report::SystemRun>, report::ReportError> {
    let show = !quiet && std::io::stderr().is_terminal();
    let progress = Progress::new(s.systems.len());
    std::thread::scope(|scope| {
        let worker = spawn_reporting(scope, SIM_THREAD.into(), || run_scenario_with(s, Some(&progress), history_dir))
            .map_err(|p| p.into_error(&s.name, "all"))?;
        if show {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            let total = s.duration.0 * s.systems.len() as u64;
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = ProgressBar::new(total / 1_000_000);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:40}] {percent}% of simulated time, {elapsed} elapsed, ~{eta} left",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    b.set_message(s.name.clone());
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    let done: u64 = progress.sim_ns.iter().map(|p| p.load(Ordering::Relaxed).min(s.duration.0)).sum();
                    b.set_position(done / 1_000_000);
                    if done >= total {
                        b.set_message(format!("{} (draining)", s.name));
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        }
        join_reporting(worker).map_err(|p| p.into_error(&s.name, "all"))?
    })
}

/// Prints a line to standard output. A reader that went away (`pushpull validate f | head`: a
/// broken pipe) is not an error of ours: the rest is dropped, not a panic.
fn out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
