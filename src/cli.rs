//! Command line: raw flags (clap) are resolved into a typed [`Command`], then executed. `main` only
//! calls [`main_with_args`] and exits with its code.

use crate::plan::SizeRefused;
use crate::report::{self, outdir, table};
use crate::run::{Progress, SIM_THREAD, check_size, join_reporting, run_scenario_with, spawn_reporting};
use crate::scenario::overrides::Override;
use crate::scenario::{Scenario, ScenarioError};
use crate::study::{self, StudyError};
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
    arg_required_else_help = true,
    after_help = EXIT_CODES
)]
struct Args {
    #[command(subcommand)]
    command: RawCommand,
}

#[derive(Subcommand, Debug)]
enum RawCommand {
    /// Run scenarios and write report.html, summary.json, timeseries.csv and charts.
    #[command(after_help = RUN_HELP)]
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
        /// Run each scenario R times with seeds derived from its seed (replication 0 is its own) and
        /// report each headline metric's mean and 95% confidence interval: --replications 5.
        #[arg(long, value_name = "R", default_value_t = 1, value_parser = replications_parser())]
        replications: u16,
    },
    /// Run a scenario at every combination of parameter values: one folder per point, sweep.csv and
    /// sweep charts.
    #[command(after_help = SWEEP_HELP)]
    Sweep {
        /// Scenario file (TOML, or JSON with a .json name).
        scenario: PathBuf,
        /// Values of one parameter: PATH=V1,V2,V3, PATH=A..B:xK (geometric) or PATH=A..B:+K
        /// (arithmetic); repeatable, the first is the charts' x axis.
        #[arg(long = "vary", value_name = "PATH=VALUES", required = true)]
        varies: Vec<String>,
        /// Set a parameter at every point, as with `run --set`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// The sweep's folder: DIR/<point>/ for each point, DIR/sweep.json, DIR/sweep.csv, charts.
        #[arg(long, value_name = "DIR", required = true)]
        out: PathBuf,
        /// Points run at once (default: the number of cores); outputs are the same either way.
        #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Run only the points whose index % N is i (a Slurm array task, a Kubernetes indexed job).
        #[arg(long, value_name = "i/N")]
        shard: Option<String>,
        /// Run points even if estimated too large.
        #[arg(long)]
        force: bool,
        /// No charts in the points' folders (the sweep charts are still drawn).
        #[arg(long)]
        no_charts: bool,
        /// Print nothing but errors and warnings.
        #[arg(long, short)]
        quiet: bool,
        /// Run each point R times (as `run --replications R`); sweep.csv has each metric's mean and
        /// 95% interval, the charts error bars.
        #[arg(long, value_name = "R", default_value_t = 1, value_parser = replications_parser())]
        replications: u16,
    },
    /// Compare two result folders: each headline metric side by side, with its difference.
    #[command(after_help = COMPARE_HELP)]
    Compare {
        /// The first result folder (the reference): a run's --out folder, or results/<name>.
        a: PathBuf,
        /// The second result folder.
        b: PathBuf,
        /// Also write compare.png and compare.svg into DIR.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Merge the folders of a sharded sweep into the sweep.csv and charts of an unsharded run.
    #[command(after_help = "Example: pushpull collect shard-0 shard-1 shard-2 --out sweep\n\
                            With shards that shared one folder: pushpull collect sweep --out sweep")]
    Collect {
        /// The --out folders of `pushpull sweep` (one per shard, or one shared).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged sweep (may be one of the folders).
        #[arg(long, value_name = "DIR", required = true)]
        out: PathBuf,
    },
    /// List the lessons of the scenario library, with the question each answers.
    #[command(after_help = "Example: pushpull list   (then: pushpull explain NAME)")]
    List,
    /// Follow one message through each system, event by event, with simulated times.
    #[command(after_help = "Examples:\n  \
                            pushpull trace scenarios/consumer-crash.toml --id 1200\n  \
                            pushpull trace scenarios/pooling.toml --key 3 --format json\n\
                            Events: sent, stored (appended to its partition / enqueued), acknowledged (to the \
                            producer), delivered, processing_started, processed, acked, deleted; and the faults, \
                            leader elections, rebalances and seeks while the message lived.")]
    Trace {
        /// Scenario file.
        scenario: PathBuf,
        /// The message's id (messages are numbered from 0 in the order they are sent).
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        id: Option<u64>,
        /// The first message sent with this key (a key index, 0 to keys.count - 1).
        #[arg(long)]
        key: Option<u64>,
        /// Set a scenario parameter, as with `run --set`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// text (default) or json.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Do not refuse scenarios estimated too large.
        #[arg(long)]
        force: bool,
    },
    /// Explain a lesson: its question, what to look at, the answer in figures, commands to try.
    #[command(after_help = "Example: pushpull explain pooling")]
    Explain {
        /// A lesson's name (see `pushpull list`).
        lesson: String,
    },
    /// Print the JSON Schema of scenario files (for editors: validation and completion).
    #[command(after_help = "Example: pushpull schema > pushpull-scenario.schema.json\n\
                            Then, in a TOML file, for editors with Taplo (Even Better TOML):\n  \
                            #:schema ./pushpull-scenario.schema.json")]
    Schema,
    /// Print shell completions for SHELL (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:\n  \
                            pushpull completions bash > ~/.local/share/bash-completion/completions/pushpull\n  \
                            pushpull completions zsh > ~/.zfunc/_pushpull\n  \
                            pushpull completions fish > ~/.config/fish/completions/pushpull.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of pushpull and its commands.
    #[command(after_help = "Examples:\n  \
                            pushpull man | man -l -\n  \
                            pushpull man > ~/.local/share/man/man1/pushpull.1")]
    Man,
    /// Check scenario files without running them.
    #[command(after_help = "Example: pushpull validate scenarios/*.toml --set kafka.partitions=12")]
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
    Run {
        jobs: Vec<RunJob>,
        options: RunOptions,
    },
    Validate {
        files: Vec<PathBuf>,
        sets: Vec<Override>,
        force: bool,
    },
    Sweep {
        file: PathBuf,
        sets: Vec<Override>,
        varies: Vec<study::vary::Vary>,
        out: PathBuf,
        shard: Option<study::vary::Shard>,
        options: RunOptions,
    },
    Collect {
        dirs: Vec<PathBuf>,
        out: PathBuf,
    },
    Compare {
        a: PathBuf,
        b: PathBuf,
        out: Option<PathBuf>,
    },
    List,
    Explain {
        lesson: String,
    },
    Trace {
        file: PathBuf,
        pick: study::trace::Pick,
        sets: Vec<Override>,
        json: bool,
        force: bool,
    },
    Schema,
    Completions {
        shell: clap_complete::Shell,
    },
    Man,
}

/// The exit codes ([`exit_code`]).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The run failed: an internal error (a bug: please report it).
    pub const FAILED: i32 = 1;
    /// Bad usage: a bad flag or argument.
    pub const USAGE: i32 = 2;
    /// Invalid input: a scenario file or value; a sweep folder that cannot be read, merged, or is
    /// incomplete for `collect`.
    pub const INVALID: i32 = 3;
    /// A valid scenario refused by the size guard (run it with `--force`).
    pub const REFUSED: i32 = 4;
    /// An output folder problem: a folder that cannot be used, a file that cannot be written.
    pub const OUTPUT: i32 = 5;
    /// Interrupted by Ctrl-C or SIGTERM (128 + SIGINT, the shells' convention): the runs under way
    /// were finished and kept; run the same command again to finish.
    pub const INTERRUPTED: i32 = 130;
}

/// The exit codes, for `--help`.
const EXIT_CODES: &str = "Exit codes: 0 success; 1 run failed (an internal error, a bug: please report it); 2 usage error \
                          (bad flags or arguments); 3 invalid input (a scenario file or value, a sweep folder that \
                          cannot be read or merged, collect with points done in none of the folders, a folder compare cannot read); 4 refused by \
                          the size guard (rerun with --force to run it anyway); 5 output folder problem (a folder \
                          that cannot be used, a file that cannot be written); 130 interrupted (Ctrl-C or SIGTERM: \
                          the runs under way are finished and kept, run the command again to finish).";

const SWEEP_HELP: &str = "Examples:\n  \
    pushpull sweep scenarios/pooling.toml --vary workload.rate=20,30,40,45 --out /tmp/pooling-load\n  \
    pushpull sweep scenarios/idle-consumers.toml --vary kafka.partitions=1..16:x2 \
    --vary groups.orders.consumers=6,12 --out /tmp/partitions\n  \
    pushpull sweep FILE --vary workload.rate=100..500:+100 --out DIR --shard 0/4   (then collect)\n\
    A point already done in DIR is skipped when the sweep is run again.\n  \
    pushpull sweep scenarios/pooling.toml --vary workload.rate=20,30,40 --replications 5 --out /tmp/pooling-ci\n\
    With --replications, each point's folder holds rep-0/ .. rep-(R-1)/, and the charts draw the mean with error \
    bars (95% confidence interval).";

const RUN_HELP: &str = "Examples:\n  \
    pushpull run scenarios/pooling.toml\n  \
    pushpull run scenarios/pooling.toml --set rabbitmq.prefetch=0 --out /tmp/pooling-prefetch0\n  \
    pushpull run scenarios/pooling.toml --replications 5 --out /tmp/pooling-5\n\
    --replications R: replication 0 uses the scenario's seed (so R=1 is the plain run), replication i the i-th \
    output of SplitMix64 seeded with it (53 bits); each is written in DIR/rep-i/, DIR holds replication 0's files and \
    its summary.json adds `replications`: each headline metric's values, mean, ci95_low and ci95_high (Student t).";

const COMPARE_HELP: &str = "Examples:\n  \
    pushpull compare results/pooling /tmp/pooling-prefetch0\n  \
    pushpull compare /tmp/pooling-5 /tmp/pooling-prefetch0-5 --out /tmp/cmp   (writes /tmp/cmp/compare.png)\n\
    When both folders have replications, A and B are the means, and a metric is flagged `*` when Welch's t-test on \
    the two sets of replications rejects equal means at the 5% level (two-sided, p < 0.05).";

fn replications_parser() -> clap::builder::RangedI64ValueParser<u16> {
    clap::value_parser!(u16).range(1..=i64::from(study::replicate::MAX_REPLICATIONS))
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
    /// One line per scenario (`results: DIR`) instead of its table.
    pub brief: bool,
    /// Runs of each scenario (`--replications`); 1 is the plain run.
    pub replications: u32,
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
        RawCommand::Run { scenarios, seed, sets: s, out, quiet, force, history, no_charts, jobs, replications } => {
            let several = scenarios.len() > 1;
            let sets = sets(s)?;
            let parallel = jobs.map_or_else(default_parallel, usize::from);
            let jobs = scenarios
                .into_iter()
                .map(|file| RunJob { file, seed, sets: sets.clone(), out: out.clone(), out_is_parent: several })
                .collect();
            Command::Run {
                jobs,
                options: RunOptions {
                    quiet,
                    force,
                    history,
                    charts: !no_charts,
                    parallel,
                    brief: false,
                    replications: u32::from(replications),
                },
            }
        }
        RawCommand::Sweep { scenario, varies, sets: s, out, jobs, shard, force, no_charts, quiet, replications } => {
            let varies = varies.iter().map(|v| study::vary::Vary::parse(v)).collect::<Result<Vec<_>, _>>()?;
            let shard = shard.as_deref().map(study::vary::Shard::parse).transpose()?;
            let parallel = jobs.map_or_else(default_parallel, usize::from);
            let options = RunOptions {
                quiet,
                force,
                history: false,
                charts: !no_charts,
                parallel,
                brief: true,
                replications: u32::from(replications),
            };
            Command::Sweep { file: scenario, sets: sets(s)?, varies, out, shard, options }
        }
        RawCommand::Collect { dirs, out } => Command::Collect { dirs, out },
        RawCommand::Compare { a, b, out } => Command::Compare { a, b, out },
        RawCommand::List => Command::List,
        RawCommand::Schema => Command::Schema,
        RawCommand::Completions { shell } => Command::Completions { shell },
        RawCommand::Man => Command::Man,
        RawCommand::Explain { lesson } => Command::Explain { lesson },
        RawCommand::Trace { scenario, id, key, sets: s, format, force } => Command::Trace {
            file: scenario,
            pick: match (id, key) {
                (Some(i), _) => study::trace::Pick::Id(i),
                (None, Some(k)) => study::trace::Pick::Key(k),
                (None, None) => unreachable!("clap requires --id or --key"),
            },
            sets: sets(s)?,
            json: format == "json",
            force,
        },
        RawCommand::Validate { scenarios, sets: s, force } => {
            Command::Validate { files: scenarios, sets: sets(s)?, force }
        }
    })
}

/// Parses arguments, runs, prints errors as single lines; returns the process exit code
/// ([`EXIT_CODES`], [`exit_code`]).
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
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("{}", usage_error_line(&e.render().to_string()));
            return exit::USAGE;
        }
    };
    let command = match resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    match command {
        Command::Validate { files, sets, force } => {
            // The exit code of the first file that failed.
            let mut failed: Option<i32> = None;
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
                        failed.get_or_insert(exit_code(&e));
                    }
                }
            }
            failed.unwrap_or(exit::OK)
        }
        Command::Run { jobs, options } => report(run(&jobs, options)),
        Command::Sweep { file, sets, varies, out, shard, options } => {
            report(sweep(&file, &sets, &varies, &out, shard, options))
        }
        Command::Collect { dirs, out: to } => {
            report(study::sweep::collect(&dirs, &to).map_err(Into::into).map(|files| {
                let charts = files.iter().filter(|f| f.extension().is_some_and(|e| e == "png")).count();
                self::out(&format!("collected: {} and {charts} charts", to.join(study::sweep::TABLE).display()));
            }))
        }
        Command::Compare { a, b, out: to } => report(
            study::compare::compare(&a, &b, to.as_deref()).map_err(Into::into).map(|text| self::out(text.trim_end())),
        ),
        Command::List => report(study::lessons::all(&study::lessons::library()).map_err(Into::into).map(|l| {
            self::out(study::lessons::list_text(&l).trim_end());
        })),
        Command::Schema => {
            print_raw(&crate::scenario::raw::schema());
            exit::OK
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut <Args as clap::CommandFactory>::command(), "pushpull", &mut buf);
            print_raw(&String::from_utf8_lossy(&buf));
            exit::OK
        }
        Command::Man => {
            print_raw(&man_page());
            exit::OK
        }
        Command::Explain { lesson } => {
            report(study::lessons::explain(&study::lessons::library(), &lesson).map_err(Into::into).map(|text| {
                self::out(text.trim_end());
            }))
        }
        Command::Trace { file, pick, sets, json, force } => match load(&file, None, &sets, force) {
            Ok(s) => {
                let traces = study::trace::trace(&s, pick);
                if json {
                    let doc = serde_json::json!({ "scenario": s.name, "seed": s.seed, "systems": traces });
                    self::out(&serde_json::to_string_pretty(&doc).expect("plain data serialises"));
                } else {
                    self::out(study::trace::text(&traces, pick).trim_end());
                }
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit_code(&e)
            }
        },
    }
}

/// Prints an error as one line and returns the exit code.
fn report(result: Result<(), Box<dyn std::error::Error>>) -> i32 {
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(e.as_ref())
        }
    }
}

/// The exit code of an error ([`EXIT_CODES`], [`exit`]).
pub fn exit_code(e: &(dyn std::error::Error + 'static)) -> i32 {
    let output = |r: &report::ReportError| match r {
        report::ReportError::Internal { .. } => exit::FAILED,
        report::ReportError::Interrupted { .. } => exit::INTERRUPTED,
        _ => exit::OUTPUT,
    };
    if let Some(e) = e.downcast_ref::<StudyError>() {
        return match e {
            StudyError::Usage(_) => exit::USAGE,
            StudyError::Input(_) | StudyError::Partial(_) => exit::INVALID,
            StudyError::Refused(_) => exit::REFUSED,
            StudyError::Output(r) => output(r),
        };
    }
    if let Some(e) = e.downcast_ref::<LoadError>() {
        return match e {
            LoadError::Invalid(_) => exit::INVALID,
            LoadError::Refused(_) => exit::REFUSED,
        };
    }
    if e.is::<ScenarioError>() {
        return exit::INVALID;
    }
    if e.is::<SizeRefused>() {
        return exit::REFUSED;
    }
    e.downcast_ref::<report::ReportError>().map_or(exit::FAILED, output)
}

/// Why a scenario was not loaded: invalid, or refused by the size guard.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
    #[error(transparent)]
    Refused(#[from] SizeRefused),
}

/// `pushpull sweep`: plans the points, writes `sweep.json`, runs the points not done yet through
/// [`run`] (so each is exactly `pushpull run FILE --set ... --out DIR/<point>`), then writes
/// `sweep.csv` and the charts once every point of the sweep is done in the folder.
fn sweep(
    file: &Path,
    sets: &[Override],
    varies: &[study::vary::Vary],
    dir: &Path,
    shard: Option<study::vary::Shard>,
    options: RunOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let planned = study::sweep::plan(file, sets, varies, shard, options.force, options.replications, dir)?;
    let say = |text: &str| {
        if !options.quiet {
            out(text)
        }
    };
    let total = planned.manifest.points.len();
    let which = shard.map_or_else(String::new, |s| format!(" (shard {}/{})", s.index, s.count));
    say(&format!(
        "sweep of {} points{which}: {} to run, skipped {} done points",
        total,
        planned.pending.len(),
        planned.done
    ));
    study::sweep::write_manifest(dir, &planned.manifest)?;
    let jobs: Vec<RunJob> = planned
        .pending
        .into_iter()
        .map(|p| RunJob {
            file: file.to_path_buf(),
            seed: None,
            sets: p.sets,
            out: Some(dir.join(&p.folder)),
            out_is_parent: false,
        })
        .collect();
    if !jobs.is_empty() {
        run(&jobs, options)?;
    }
    match study::sweep::finish(dir, &planned.manifest)? {
        Some(files) => {
            let charts = files.iter().filter(|f| f.extension().is_some_and(|e| e == "png")).count();
            let note = if charts == 0 {
                format!(" (no charts: more than {} combinations of the further parameters)", study::sweep::MAX_PANELS)
            } else {
                format!(" and {charts} charts (sweep-*.png)")
            };
            say(&format!("sweep: {}{note}", dir.join(study::sweep::TABLE).display()));
        }
        None => say(&format!(
            "this shard's points are done; when every shard is done: pushpull collect {} [other shards' folders] --out {}",
            dir.display(),
            dir.display()
        )),
    }
    Ok(())
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

/// A scenario (or one replication of it) simulated and written into its staging folder, waiting
/// for its turn to be put in place and shown.
struct Finished {
    /// The job's index, and the replication's (`None`: a plain run).
    job: usize,
    rep: Option<u32>,
    warnings: Vec<String>,
    table: Option<String>,
    /// A replication's summary, for the run's `replications` block.
    summary: Option<report::Summary>,
}

/// Loads every scenario, checks every output folder, then simulates and writes the scenarios,
/// several at once ([`RunOptions::parallel`], and never more than the size guard's memory limit in
/// estimated memory in flight, unless one scenario alone is above it), and puts each in place and
/// prints its table in the command's order: the files and the text are those of a run one after
/// another. A typo in the third file or a clash of names costs no simulation; an error stops the
/// run where it would have stopped one scenario at a time (the scenarios after it are not written).
///
/// With `--replications R` (R >= 2) each scenario is R runs, each its own item (so they run in
/// parallel too), written into `rep-i/` of its staging folder; once the last is in, the scenario's
/// own files (replication 0's, and `summary.json` with the `replications` block) are written and the
/// set is put in place. The bytes do not depend on the order the runs finish in.
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
    let places: Vec<(PathBuf, PathBuf)> =
        stagings.iter().map(|st| (st.work_dir().to_path_buf(), st.shown().to_path_buf())).collect();
    let mut stagings: Vec<Option<outdir::Staging>> = stagings.into_iter().map(Some).collect();
    let bars = (!options.quiet && std::io::stderr().is_terminal()).then(MultiProgress::new);
    let reps = options.replications.max(1);
    let mut items = Vec::new();
    for (j, s) in loaded.iter().enumerate() {
        let memory = crate::plan::estimate(s).memory_bytes as u64;
        if reps == 1 {
            items.push(((j, None), memory));
        } else {
            items.extend((0..reps).map(|r| ((j, Some(r)), memory)));
        }
    }
    let mut failure: Option<Box<dyn std::error::Error>> = None;
    let started = std::sync::atomic::AtomicUsize::new(0);
    let mut replicas: Vec<report::Summary> = Vec::new();
    crate::interrupt::install();
    crate::run::in_order(
        items,
        options.parallel,
        crate::scenario::defaults::MAX_MEMORY_BYTES as u64,
        |(j, rep): (usize, Option<u32>)| {
            let s = &loaded[j];
            crate::interrupt::test_hook(started.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
            if crate::interrupt::requested() {
                return Err(report::ReportError::Interrupted { scenario: s.name.clone() });
            }
            let (work, shown) = &places[j];
            match rep {
                None => simulate_and_write(s, (work, shown), options, bars.as_ref(), (j, None)),
                Some(r) => {
                    let mut s = s.clone();
                    s.seed = study::stats::replication_seed(s.seed, r);
                    let folder = study::replicate::folder(r);
                    let place = (work.join(&folder), shown.join(&folder));
                    simulate_and_write(&s, (&place.0, &place.1), options, bars.as_ref(), (j, Some(r)))
                }
            }
        },
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
                let mut table = f.table;
                if let Some(r) = f.rep {
                    replicas.extend(f.summary);
                    if r + 1 < reps {
                        return Ok(());
                    }
                    let (work, place) = &places[f.job];
                    let mut top = replicas.first().cloned().expect("replication 0 came first");
                    top.replications = Some(study::replicate::block(&replicas));
                    replicas.clear();
                    study::replicate::write_top(work, &top).map_err(|e| e.relocate(work, place))?;
                    table = (!options.quiet && !options.brief).then(|| study::replicate::table(&top));
                }
                let staging = stagings[f.job].take().expect("each job is committed once");
                let place = staging.shown().to_path_buf();
                staging.commit()?;
                if let Some(table) = table {
                    shown(&format!("{table}\nresults: {}\n", place.display()), true);
                } else if options.brief && !options.quiet {
                    shown(&format!("results: {}", place.display()), true);
                }
                Ok(())
            });
            result.map_err(|e| failure = Some(e.into())).is_ok()
        },
    );
    failure.map_or(Ok(()), Err)
}

/// Simulates one scenario and writes its outputs into `work` (its staging folder, shown to the
/// user as `shown`); the table is rendered now (the runs are large), printed when its turn comes.
/// A replication (`rep`) returns its summary instead of a table.
fn simulate_and_write(
    s: &Scenario,
    (work, shown): (&Path, &Path),
    options: RunOptions,
    bars: Option<&MultiProgress>,
    (job, rep): (usize, Option<u32>),
) -> Result<Finished, report::ReportError> {
    let relocate = |e: report::ReportError| e.relocate(work, shown);
    if rep.is_some() {
        std::fs::create_dir_all(work)
            .map_err(|source| relocate(report::ReportError::Io { path: work.display().to_string(), source }))?;
    }
    let runs = run_with_progress(s, bars, options.history.then_some(work)).map_err(relocate)?;
    let which = rep.map_or_else(String::new, |r| format!(" (replication {r}, seed {})", s.seed));
    let warnings = runs
        .iter()
        .filter(|r| r.end.stalled)
        .map(|r| {
            let sum = r.summary(s);
            format!(
                "warning: {}{which}: {}: the drain stopped at {:.0} s of simulated time: nothing was sent, acknowledged, \
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
    report::write_outputs(work, s, &runs, options.charts).map_err(relocate)?;
    let (table, summary) = match rep {
        None => ((!options.quiet && !options.brief).then(|| table::render(&report::summary(s, &runs))), None),
        Some(_) => (None, Some(report::summary(s, &runs))),
    };
    Ok(Finished { job, rep, warnings, table, summary })
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
fn load(file: &Path, seed: Option<u64>, sets: &[Override], force: bool) -> Result<Scenario, LoadError> {
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
    for w in crate::plan::capacity_warnings(&s, &name) {
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

/// Prints text as it is (it ends with its own newline); a reader that went away is not an error.
fn print_raw(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The manual page, roff: `pushpull(1)` with every command's own section (its synopsis, options
/// and examples), then the exit codes.
pub fn man_page() -> String {
    let command = <Args as clap::CommandFactory>::command();
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render(&mut buf).expect("writing to memory does not fail");
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("pushpull {}", sub.get_name());
        let mut roff = clap_mangen::roff::Roff::new();
        roff.control("SH", [name.to_uppercase().as_str()]);
        if let Some(about) = sub.get_about() {
            roff.text([clap_mangen::roff::roman(about.to_string())]);
        }
        roff.control("PP", []);
        let usage = sub.clone().render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim_start_matches(sub.get_name()).trim().to_string();
        roff.text([clap_mangen::roff::bold(name.clone()), clap_mangen::roff::roman(format!(" {usage}"))]);
        for arg in sub.get_arguments().filter(|a| a.get_id() != "help") {
            roff.control("TP", []);
            let flag = match (arg.get_long(), arg.get_short()) {
                (Some(l), Some(s)) => format!("-{s}, --{l}"),
                (Some(l), None) => format!("--{l}"),
                (None, Some(s)) => format!("-{s}"),
                (None, None) => {
                    arg.get_value_names().map_or_else(|| arg.get_id().to_string().to_uppercase(), |v| v.join(" "))
                }
            };
            roff.text([clap_mangen::roff::bold(flag)]);
            roff.text([clap_mangen::roff::roman(arg.get_help().map(|h| h.to_string()).unwrap_or_default())]);
        }
        if let Some(after) = sub.get_after_help() {
            roff.control("PP", []);
            for line in after.to_string().lines() {
                roff.text([clap_mangen::roff::roman(line.to_string())]);
                roff.control("br", []);
            }
        }
        buf.extend(roff.render().into_bytes());
    }
    String::from_utf8(buf).expect("roff is text")
}
