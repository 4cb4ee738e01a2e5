//! The headline metrics of `summary.json`: the numeric figures a sweep tabulates (`sweep.csv`'s
//! columns, named by their dotted path in a system's object of `summary.json`), charts, and
//! `explain` prints.

use crate::report::charts::sweep::SweepScale;

/// One headline metric.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// Dotted path in a system's object of `summary.json` (`latency_ms.p99`): the CSV column.
    pub name: &'static str,
    /// What it is, with its unit, for tables: "latency p99, ms (publish to processed)".
    pub words: &'static str,
    /// Drawn as a sweep chart: its title words, scale, divisor of the values and y label.
    pub chart: Option<Chart>,
}

#[derive(Clone, Copy, Debug)]
pub struct Chart {
    pub title: &'static str,
    pub scale: SweepScale,
    pub divisor: f64,
    pub y_desc: &'static str,
}

const fn m(name: &'static str, words: &'static str) -> Metric {
    Metric { name, words, chart: None }
}

const fn c(
    name: &'static str,
    words: &'static str,
    title: &'static str,
    scale: SweepScale,
    y_desc: &'static str,
) -> Metric {
    Metric { name, words, chart: Some(Chart { title, scale, divisor: 1.0, y_desc }) }
}

/// Every headline metric, in the CSV's order.
pub const HEADLINE: [Metric; 19] = [
    m("offered_per_s", "offered load, messages/s"),
    c("throughput_per_s", "throughput, messages/s", "throughput", SweepScale::Decimal, "messages processed per second"),
    c(
        "wait_ms.mean",
        "mean wait, ms (publish to processing start)",
        "mean wait",
        SweepScale::LogMs,
        "mean wait (log scale)",
    ),
    m("wait_ms.p99", "wait p99, ms"),
    c(
        "latency_ms.p50",
        "latency p50, ms (publish to processed)",
        "median latency (p50)",
        SweepScale::LogMs,
        "latency p50 (log scale)",
    ),
    c(
        "latency_ms.p99",
        "latency p99, ms (publish to processed)",
        "latency p99",
        SweepScale::LogMs,
        "latency p99 (log scale)",
    ),
    m("latency_ms.p999", "latency p99.9, ms"),
    m("latency_ms.max", "latency max, ms"),
    c(
        "max_backlog",
        "largest backlog, messages (published, not yet processed)",
        "largest backlog",
        SweepScale::Count,
        "messages published, not yet processed",
    ),
    m("max_consumer_lag", "largest consumer lag, messages"),
    m("idle_consumers", "idle consumers"),
    m("busy_fraction.mean", "busy fraction of the consumers, mean (0 to 1)"),
    Metric {
        name: "peak_stored_bytes",
        words: "peak storage held by the broker, bytes",
        chart: Some(Chart {
            title: "peak storage",
            scale: SweepScale::Decimal,
            divisor: 1048576.0,
            y_desc: "MiB held by the broker",
        }),
    },
    c("lost", "messages lost", "messages lost", SweepScale::Count, "messages lost"),
    m("stranded", "stranded, messages (stored, never delivered)"),
    m("duplicates", "duplicates, messages"),
    m("delivery.acknowledged_lost", "acknowledged lost, messages"),
    m("delivery.unavailable_s", "unavailable, s"),
    m("end_of_run_s", "end of the run, s of simulated time"),
];

/// The metric's value in a system's object of `summary.json`: a number, or `None` (absent or null,
/// as `unavailable_s` when it cannot be measured).
pub fn value<'a>(system: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Number> {
    name.split('.').try_fold(system, |v, part| v.get(part)).and_then(|v| v.as_number())
}
