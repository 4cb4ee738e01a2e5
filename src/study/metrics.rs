//! The headline metrics of `summary.json`: the numeric figures a sweep tabulates (`sweep.csv`'s
//! columns, named by their dotted path in a system's object of `summary.json`), charts, and
//! `explain` prints.

use crate::report::charts::sweep::SweepScale;

/// One headline metric.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// Dotted path in a system's object of `summary.json` (`latency_ms.p99`): the CSV column.
    pub name: &'static str,
    /// Words for a label: "latency p99 (publish to processed)".
    pub words: &'static str,
    /// Drawn as a sweep chart, on this scale (values divided by `divisor`), with this y label.
    pub chart: Option<(SweepScale, f64, &'static str)>,
}

const fn m(name: &'static str, words: &'static str) -> Metric {
    Metric { name, words, chart: None }
}

const fn c(name: &'static str, words: &'static str, scale: SweepScale, divisor: f64, y: &'static str) -> Metric {
    Metric { name, words, chart: Some((scale, divisor, y)) }
}

/// Every headline metric, in the CSV's order.
pub const HEADLINE: [Metric; 19] = [
    m("offered_per_s", "offered load (messages/s)"),
    c("throughput_per_s", "throughput", SweepScale::Decimal, 1.0, "messages processed per second"),
    c("wait_ms.mean", "mean wait (publish to processing start)", SweepScale::LogMs, 1.0, "mean wait (log scale)"),
    m("wait_ms.p99", "wait p99 (ms)"),
    c("latency_ms.p50", "median latency p50 (publish to processed)", SweepScale::LogMs, 1.0, "latency p50 (log scale)"),
    c("latency_ms.p99", "latency p99 (publish to processed)", SweepScale::LogMs, 1.0, "latency p99 (log scale)"),
    m("latency_ms.p999", "latency p99.9 (ms)"),
    m("latency_ms.max", "latency max (ms)"),
    c("max_backlog", "largest backlog (published, not yet processed)", SweepScale::Count, 1.0, "messages"),
    m("max_consumer_lag", "max consumer lag (messages)"),
    m("idle_consumers", "idle consumers"),
    m("busy_fraction.mean", "busy fraction, mean (0 to 1)"),
    c("peak_stored_bytes", "peak storage held by the broker", SweepScale::Decimal, 1048576.0, "MiB"),
    c("lost", "messages lost", SweepScale::Count, 1.0, "messages"),
    m("stranded", "stranded (stored, never delivered)"),
    m("duplicates", "duplicates"),
    m("delivery.acknowledged_lost", "acknowledged lost"),
    m("delivery.unavailable_s", "unavailable (s)"),
    m("end_of_run_s", "end of run (s of simulated time)"),
];

/// The metric's value in a system's object of `summary.json`: a number, or `None` (absent or null,
/// as `unavailable_s` when it cannot be measured).
pub fn value<'a>(system: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Number> {
    name.split('.').try_fold(system, |v, part| v.get(part)).and_then(|v| v.as_number())
}
