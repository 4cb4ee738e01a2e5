//! One integration-test binary (faster to link than one per file).

mod cli;
mod common;
mod guard;
mod invariants;
mod oracles;
