//! Command line: raw flags (clap) are resolved into a typed [`Command`], then executed. `main` only
//! calls [`main_with_args`] and exits with its code.

use crate::report::{self, table};
use crate::run::{Progress, check_size, run_scenario_with};
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
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match resolve(args) {
        Command::Validate { files, force } => {
            let mut failed = false;
            for f in files {
                match load(&f, None, force) {
                    Ok(s) => println!(
                        "{}: ok ({}, {:.0} messages expected, {} group(s), systems: {})\n{}",
                        f.display(),
                        s.name,
                        s.expected_messages(),
                        s.groups.len(),
                        s.systems.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
                        crate::guard::validate_report(&s).trim_end()
                    ),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            i32::from(failed)
        }
        Command::Run { jobs, quiet, force, history } => {
            // Validate everything first: a typo in the third file should not cost two runs.
            let mut loaded = Vec::new();
            for job in &jobs {
                match load(&job.file, job.seed, force) {
                    Ok(s) => {
                        if let Some(w) = history.then(|| crate::guard::history_warning(&s)).flatten() {
                            eprintln!("{w}");
                        }
                        loaded.push(s)
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
            }
            for (job, s) in jobs.iter().zip(&loaded) {
                let dir = match (&job.out, job.out_is_parent) {
                    (Some(d), false) => d.clone(),
                    (Some(d), true) => d.join(&s.name),
                    (None, _) => Path::new("results").join(&s.name),
                };
                let history_dir = history.then_some(dir.as_path());
                if let Some(d) = history_dir
                    && let Err(source) = std::fs::create_dir_all(d)
                {
                    eprintln!("error: {}", report::ReportError::Io { path: d.display().to_string(), source });
                    return 1;
                }
                let runs = match run_with_progress(s, quiet, history_dir) {
                    Ok(runs) => runs,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                };
                let summary = report::summary(s, &runs);
                match report::write_all(&dir, s, &runs) {
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
                if !quiet {
                    println!("{}", table::render(&summary));
                    println!("results: {}\n", dir.display());
                }
            }
            0
        }
    }
}

fn load(file: &Path, seed: Option<u64>, force: bool) -> Result<Scenario, ScenarioError> {
    let mut s = Scenario::load(file)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    if !force {
        check_size(&s, &file.display().to_string())?;
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
        let worker = scope.spawn(|| run_scenario_with(s, Some(&progress), history_dir));
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
        worker.join().expect("simulation thread panicked")
    })
}
