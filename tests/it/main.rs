//! One integration-test binary (faster to link than one per file).

mod calibration;
mod charts;
mod cli;
mod common;
mod compaction;
mod delivery_chart;
mod delivery_rules;
mod failures;
mod guard;
mod history_recount;
mod invariants;
mod lessons;
mod oracles;
mod outputs;
mod partitions;
mod producer;
mod quorum;
mod rebalance;
mod replay;
mod replication;
mod rmq_partitions;
mod rmq_placement;
mod share;
mod streams;
mod study;
mod utilisation;
