//! Charts (placeholder until the chart module lands).

use super::{ReportError, SystemRun};
use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

pub fn write_charts(
    _dir: &Path,
    _s: &Scenario,
    _runs: &[SystemRun],
) -> Result<Vec<PathBuf>, ReportError> {
    Ok(Vec::new())
}
