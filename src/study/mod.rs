//! Study tools above single runs (issue 17): sweeps (`--vary`, shards, `collect`), replications
//! (`--replications`, their statistics), `compare`, and the lesson library (`list`, `explain`). The command line calls them; they run scenarios only through the
//! command line's own `run` path, and read what runs wrote.

pub mod compare;
pub mod lessons;
pub mod metrics;
pub mod replicate;
pub mod stats;
pub mod sweep;
pub mod trace;
pub mod vary;

/// A problem of a study command, by what the user can do about it (the exit code follows).
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A bad flag or argument.
    #[error("{0}")]
    Usage(String),
    /// A scenario, a sweep folder or a result that cannot be read or does not fit.
    #[error("{0}")]
    Input(String),
    /// A point refused by the size guard (without `--force`).
    #[error(transparent)]
    Refused(#[from] crate::plan::SizeRefused),
    /// An output that cannot be written.
    #[error(transparent)]
    Output(#[from] crate::report::ReportError),
    /// Some of the work is missing (shards not run yet).
    #[error("{0}")]
    Partial(String),
}

impl From<crate::scenario::ScenarioError> for StudyError {
    fn from(e: crate::scenario::ScenarioError) -> Self {
        StudyError::Input(e.to_string())
    }
}
