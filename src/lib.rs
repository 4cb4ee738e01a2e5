//! pushpull: a deterministic discrete-event simulator that runs a Kafka-style partitioned log and a
//! RabbitMQ-style queue under the same workload and compares them.
//!
//! Layers, each knowing only the ones above it:
//! * [`time`], [`engine`]: integer simulated time, the event loop, seeded random streams.
//! * [`scenario`]: the scenario file, validated into typed settings with real defaults.
//! * [`workload`]: the messages both systems see (common random numbers).
//! * [`history`]: what a model reports happened; [`metrics`] recounts it independently.
//! * [`checker`]: loss, duplication, reordering and unavailability recounted from what the clients
//!   saw ([`history::ClientEvent`]) alone.
//! * [`models`]: `kafka` and `rabbitmq`, one module each.
//! * [`plan`]: above the scenario: admits a loaded scenario (poll interval, default sample interval), estimates a run's memory and CPU time before it starts, refuses runaway scenarios.
//! * [`report`]: summary.json, timeseries.csv, charts and the terminal table.
//! * [`study`]: above single runs: sweeps (`--vary`, shards, `collect`) and the lesson library
//!   (`list`, `explain`), called by the command line.
//! * [`errtext`]: error text made safe to print on one line; [`interrupt`]: Ctrl-C and SIGTERM.

pub mod checker;
pub mod cli;
pub mod client;
pub mod engine;
pub mod errtext;
pub mod failures;
pub mod history;
pub mod interrupt;
pub mod metrics;
pub mod models;
pub mod plan;
pub mod report;
pub mod run;
pub mod scenario;
pub mod study;
pub mod subscriptions;
pub mod time;
pub mod workload;
pub mod world;
