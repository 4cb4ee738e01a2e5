//! Command line: raw flags (clap) are resolved into a typed [`Command`], then executed. `main` only
//! calls [`main_with_args`] and exits with its code.

use crate::report::{self, outdir, table};
use crate::run::{Progress, SIM_THREAD, check_size, join_reporting, run_scenario_with, spawn_reporting};
use crate::scenario::overrides::Override;
use crate::scenario::{Scenario, ScenarioError};
use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "pushpull",
    version,
    about = "Kafka-style log vs RabbitMQ-style queue, simulated side by side",
    arg_required_else_help = true
)]
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
        /// Set a scenario parameter, checked as if written in the file: --set kafka.partitions=12
        /// --set workload.rate=5000 --set groups.billing.consumers=6 (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
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
        /// Write no charts (summary.json and timeseries.csv only; much faster for small runs).
        #[arg(long)]
        no_charts: bool,
        /// Scenarios run at once (default: the number of cores); outputs are the same either way.
        #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
    },
    /// Check scenario files without running them.
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Set a scenario parameter, as with `run --set`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Do not refuse scenarios estimated too large.
        #[arg(long)]
        force: bool,
    },
}

/// What to do, with every option resolved.
#[derive(Debug)]
pub enum Command {
    Run { jobs: Vec<RunJob>, options: RunOptions },
    Validate { files: Vec<PathBuf>, sets: Vec<Override>, force: bool },
}

/// The options of `run` that apply to every scenario.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub quiet: bool,
    pub force: bool,
    pub history: bool,
    pub charts: bool,
    /// Most scenarios simulated at once.
    pub parallel: usize,
}

#[derive(Debug)]
pub struct RunJob {
    pub file: PathBuf,
    pub seed: Option<u64>,
    pub sets: Vec<Override>,
    /// Folder for this scenario's outputs; `None`: results/<name>/.
    pub out: Option<PathBuf>,
    /// With several scenarios and --out, outputs go into out/<name>/.
    pub out_is_parent: bool,
}

fn resolve(args: Args) -> Result<Command, String> {
    let sets = |sets: Vec<String>| sets.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>, _>>();
    Ok(match args.command {
        RawCommand::Run { scenarios, seed, sets: s, out, quiet, force, history, no_charts, jobs } => {
            let several = scenarios.len() > 1;
            let sets = sets(s)?;
            let parallel = jobs.map_or_else(default_parallel, usize::from);
            let jobs = scenarios
                .into_iter()
                .map(|file| RunJob { file, seed, sets: sets.clone(), out: out.clone(), out_is_parent: several })
                .collect();
            Command::Run { jobs, options: RunOptions { quiet, force, history, charts: !no_charts, parallel } }
        }
        RawCommand::Validate { scenarios, sets: s, force } => {
            Command::Validate { files: scenarios, sets: sets(s)?, force }
        }
    })
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
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Bare `pushpull`: the whole help (on stderr), a usage error all the same.
            let _ = e.print();
            return 2;
        }
        Err(e) => {
            eprintln!("{}", usage_error_line(&e.render().to_string()));
            return 2;
        }
    };
    let command = match resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match command {
        Command::Validate { files, sets, force } => {
            let mut failed = false;
            for f in files {
                match load(&f, None, &sets, force) {
                    Ok(s) => out(&format!(
                        "{}: ok ({}, {:.0} messages expected, {} group(s), systems: {}; {})\n{}",
                        crate::errtext::path(&f.display().to_string()),
                        s.name,
                        s.expected_messages(),
                        s.groups.len(),
                        s.systems.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
                        crate::plan::estimate_text(&crate::plan::estimate(&s)),
                        crate::plan::validate_report(&s).trim_end()
                    )),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            i32::from(failed)
        }
        Command::Run { jobs, options } => match run(&jobs, options) {
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

/// Scenarios simulated at once by default: one per core. Each also runs its systems on threads of
/// their own, but they rarely finish together, and writing the outputs (the charts mostly) is one
/// thread; the memory in flight is bounded apart from this ([`run`]).
fn default_parallel() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A scenario simulated and written into its staging folder, waiting for its turn to be put in
/// place and shown.
struct Finished {
    staging: outdir::Staging,
    warnings: Vec<String>,
    table: Option<String>,
}

/// Loads every scenario, checks every output folder, then simulates and writes the scenarios,
/// several at once ([`RunOptions::parallel`], and never more than the size guard's memory limit in
/// estimated memory in flight, unless one scenario alone is above it), and puts each in place and
/// prints its table in the command's order: the files and the text are those of a run one after
/// another. A typo in the third file or a clash of names costs no simulation; an error stops the
/// run where it would have stopped one scenario at a time (the scenarios after it are not written).
fn run(jobs: &[RunJob], options: RunOptions) -> Result<(), Box<dyn std::error::Error>> {
    let mut loaded = Vec::new();
    for job in jobs {
        let s = load(&job.file, job.seed, &job.sets, options.force)?;
        if let Some(w) = options.history.then(|| crate::plan::history_warning(&s)).flatten() {
            eprintln!("{w}");
        }
        loaded.push(s);
    }
    let files: Vec<String> = jobs.iter().map(|j| j.file.display().to_string()).collect();
    let dirs: Vec<PathBuf> = jobs.iter().zip(&loaded).map(|(j, s)| output_dir(j, s)).collect();
    let checks: Vec<outdir::Job> = files.iter().zip(&dirs).map(|(file, dir)| outdir::Job { file, dir }).collect();
    let stagings = outdir::preflight(&checks)?;
    let bars = (!options.quiet && std::io::stderr().is_terminal()).then(MultiProgress::new);
    let items = loaded
        .iter()
        .zip(stagings)
        .map(|(s, staging)| ((s, staging), crate::plan::estimate(s).memory_bytes as u64))
        .collect();
    let mut failure: Option<Box<dyn std::error::Error>> = None;
    crate::run::in_order(
        items,
        options.parallel,
        crate::scenario::defaults::MAX_MEMORY_BYTES as u64,
        |(s, staging)| simulate_and_write(s, staging, options, bars.as_ref()),
        |finished| {
            let shown = |text: &str, to_stdout: bool| {
                let print = || if to_stdout { out(text) } else { eprintln!("{text}") };
                match &bars {
                    Some(b) => b.suspend(print),
                    None => print(),
                }
            };
            let result = finished.and_then(|f| {
                f.warnings.iter().for_each(|w| shown(w, false));
                let place = f.staging.shown().to_path_buf();
                f.staging.commit()?;
                if let Some(table) = f.table {
                    shown(&format!("{table}\nresults: {}\n", place.display()), true);
                }
                Ok(())
            });
            result.map_err(|e| failure = Some(e.into())).is_ok()
        },
    );
    failure.map_or(Ok(()), Err)
}

/// Simulates one scenario and writes its outputs into its staging folder; the table is rendered
/// now (the runs are large), printed when its turn comes.
fn simulate_and_write(
    s: &Scenario,
    staging: outdir::Staging,
    options: RunOptions,
    bars: Option<&MultiProgress>,
) -> Result<Finished, report::ReportError> {
    let work = staging.work_dir();
    let runs = run_with_progress(s, bars, options.history.then_some(work)).map_err(|e| staging.relocate(e))?;
    let warnings = runs
        .iter()
        .filter(|r| r.end.stalled)
        .map(|r| {
            let sum = r.summary(s);
            format!(
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
            )
        })
        .collect();
    report::write_outputs(work, s, &runs, options.charts).map_err(|e| staging.relocate(e))?;
    let table = (!options.quiet).then(|| table::render(&report::summary(s, &runs)));
    Ok(Finished { staging, warnings, table })
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

/// Loads a scenario (with its `--set` overrides), refuses it if too big (unless `force`), and
/// prints its warnings.
fn load(file: &Path, seed: Option<u64>, sets: &[Override], force: bool) -> Result<Scenario, ScenarioError> {
    let mut s = crate::plan::load(file, sets)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    let name = file.display().to_string();
    if !force {
        check_size(&s, &name)?;
    }
    if let Some(w) = crate::plan::poll_interval_check(&s, &name)? {
        eprintln!("warning: {w}");
    }
    Ok(s)
}

/// Runs the scenario; with `bars` (a terminal), shows a progress bar among them if the run lasts
/// more than a second.
fn run_with_progress(
    s: &Scenario,
    bars: Option<&MultiProgress>,
    history_dir: Option<&Path>,
) -> Result<Vec<crate::report::SystemRun>, report::ReportError> {
    let progress = Progress::new(s.systems.len());
    std::thread::scope(|scope| {
        let worker = spawn_reporting(scope, SIM_THREAD.into(), || run_scenario_with(s, Some(&progress), history_dir))
            .map_err(|p| p.into_error(&s.name, "all"))?;
        if let Some(bars) = bars {
            let started = Instant::now();
            let mut bar: Option<ProgressBar> = None;
            let total = s.duration.0 * s.systems.len() as u64;
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(100));
                if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                    let b = bars.add(ProgressBar::new(total / 1_000_000));
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
                bars.remove(&b);
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
