//! The compact side-by-side table printed after a run.

use crate::metrics::SystemSummary;
use crate::report::{Summary, SystemReport};

/// Integer with thousands separators: 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number for the table: thousands separators from 1000 up, one decimal from 10, three from 1,
/// and three significant digits below 1 (so 92 ms read in minutes is 0.00154, not 0.002).
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    let sign = if x < 0.0 { "-" } else { "" };
    if a == 0.0 {
        "0".to_string()
    } else if a >= 999.95 {
        format!("{sign}{}", thousands(a.round() as u64))
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.3}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(3, 12) as usize;
        format!("{x:.decimals$}")
    }
}

/// A unit for durations: milliseconds below 1 s, seconds below 2 min, minutes below 2 h, hours
/// above. Returns the unit's name and how many milliseconds it holds.
pub fn duration_unit(max_ms: f64) -> (&'static str, f64) {
    if max_ms < 1_000.0 {
        ("ms", 1.0)
    } else if max_ms < 120_000.0 {
        ("s", 1_000.0)
    } else if max_ms < 7_200_000.0 {
        ("min", 60_000.0)
    } else {
        ("h", 3_600_000.0)
    }
}

/// One duration given in ms, in the unit that suits it: "51.7 ms", "2.236 s", "15.6 min".
pub fn duration(ms: f64) -> String {
    let (unit, per) = duration_unit(ms);
    format!("{} {unit}", num(ms / per))
}

/// A row of the table: its label and one value per system.
pub(crate) type Row = (String, Vec<String>);

/// A row of durations (in ms) in one unit chosen by the largest of them, named in the label.
fn duration_row(label: &str, values: Vec<f64>) -> Row {
    let (unit, per) = duration_unit(values.iter().copied().fold(0.0, f64::max));
    (format!("{label} ({unit})"), values.iter().map(|v| num(v / per)).collect())
}

/// A row of optional durations (in ms), in seconds or a larger unit: "n/a" where a value is not
/// measurable.
fn optional_duration_row(label: &str, values: Vec<Option<f64>>) -> Row {
    let (unit, per) = duration_unit(values.iter().flatten().copied().fold(1_000.0, f64::max));
    (
        format!("{label} ({unit})"),
        values.iter().map(|v| v.map_or_else(|| "n/a".to_string(), |v| num(v / per))).collect(),
    )
}

/// Rows of (label, per-system value): the recorder's figures, then the checker's delivery counts.
pub(crate) fn rows(reports: &[&SystemReport]) -> Vec<Row> {
    let systems: Vec<&SystemSummary> = reports.iter().map(|r| &r.summary).collect();
    let f = |label: &str, get: &dyn Fn(&SystemSummary) -> String| {
        (label.to_string(), systems.iter().map(|s| get(s)).collect::<Vec<_>>())
    };
    let d = |label: &str, get: &dyn Fn(&SystemSummary) -> f64| {
        duration_row(label, systems.iter().map(|s| get(s)).collect())
    };
    let c = |label: &str, get: &dyn Fn(&SystemReport) -> u64| {
        (label.to_string(), reports.iter().map(|r| thousands(get(r))).collect::<Vec<_>>())
    };
    let mut delivery = vec![
        c("acknowledged", &|r| r.delivery.acknowledged),
        c("acknowledged lost", &|r| r.delivery.total.acknowledged_lost),
    ];
    if reports.iter().any(|r| r.delivery.total.skipped > 0) {
        delivery.push(c("skipped (reset to latest)", &|r| r.delivery.total.skipped));
    }
    // Only with routing: messages RabbitMQ's exchanges routed to no queue (never lost).
    if reports.iter().any(|r| r.delivery.returned > 0) {
        delivery.push(c("returned (mandatory)", &|r| r.delivery.returned));
    }
    if reports.iter().any(|r| r.delivery.unroutable > 0) {
        delivery.push(c("unroutable (dropped)", &|r| r.delivery.unroutable));
    }
    // Only with failing consumers or queue policies (issue 18): settled, never lost.
    type Count = fn(&crate::checker::DeliveryCounts) -> u64;
    let settled: [(&str, Count); 5] = [
        ("dead-lettered", |t| t.dead_lettered),
        ("expired", |t| t.expired),
        ("dropped on purpose", |t| t.dropped),
        ("in a retry at the end", |t| t.retried),
        ("failed attempts", |t| t.failed_attempts),
    ];
    for (label, get) in settled {
        if reports.iter().any(|r| get(&r.delivery.total) > 0) {
            delivery.push(c(label, &|r| get(&r.delivery.total)));
        }
    }
    delivery.extend([
        c("unacknowledged lost", &|r| r.delivery.total.unacknowledged_lost),
        c("publish failures", &|r| r.delivery.publish_failures),
        c("duplicates (checker)", &|r| r.delivery.total.duplicates),
    ]);
    // Only with an idempotent group: the duplicates its application applied again.
    if reports.iter().any(|r| r.delivery.total.duplicate_effects.is_some()) {
        delivery.push(c("duplicate effects", &|r| {
            r.delivery.total.duplicate_effects.unwrap_or(r.delivery.total.duplicates)
        }));
    }
    delivery.extend([
        c("replayed (checker)", &|r| r.delivery.total.replayed),
        c("redelivered", &|r| r.delivery.total.redelivered),
        c("out of order", &|r| r.delivery.total.out_of_order),
        optional_duration_row(
            "unavailable",
            reports.iter().map(|r| r.delivery.unavailable_s.map(|s| s * 1e3)).collect(),
        ),
    ]);
    // Only when the producer itself crashed: its own downtime, kept out of `unavailable`.
    if reports.iter().any(|r| r.delivery.producer_down_s > 0.0) {
        delivery
            .push(duration_row("producer down", reports.iter().map(|r| r.delivery.producer_down_s * 1e3).collect()));
    }
    let mut rows = vec![
        f("messages published", &|s| thousands(s.messages_published)),
        f("deliveries owed", &|s| thousands(s.published)),
        f("processed", &|s| thousands(s.processed)),
        f("unique processed", &|s| thousands(s.unique_processed)),
        f("duplicates", &|s| thousands(s.duplicates)),
        f("replayed", &|s| thousands(s.replayed)),
        f("lost", &|s| thousands(s.lost)),
        f("stranded", &|s| thousands(s.stranded)),
        f("offered /s", &|s| num(s.offered_per_s)),
        f("throughput /s", &|s| num(s.throughput_per_s)),
        f("idle consumers", &|s| thousands(s.idle_consumers)),
        f("busy mean (%)", &|s| percent(s.busy_fraction.mean)),
        f("busy min-max (%)", &|s| format!("{}-{}", percent(s.busy_fraction.min), percent(s.busy_fraction.max))),
        d("wait mean", &|s| s.wait_ms.mean),
        d("wait p50", &|s| s.wait_ms.p50),
        d("wait p99", &|s| s.wait_ms.p99),
        d("latency mean", &|s| s.latency_ms.mean),
        d("latency p50", &|s| s.latency_ms.p50),
        d("latency p99", &|s| s.latency_ms.p99),
        d("latency p99.9", &|s| s.latency_ms.p999),
        d("latency max", &|s| s.latency_ms.max),
        d("confirm p50", &|s| s.confirm_ms.p50),
        d("confirm p99", &|s| s.confirm_ms.p99),
        f("max backlog", &|s| thousands(s.max_backlog)),
        f("max consumer lag", &|s| thousands(s.max_consumer_lag)),
        f("max unacked", &|s| thousands(s.max_unacked)),
        f("peak stored", &|s| bytes(s.peak_stored_bytes)),
    ];
    // Only when some Kafka group paused for a rebalance.
    if systems.iter().any(|s| s.rebalance_pause_s > 0.0) {
        rows.push(d("rebalance pause", &|s| s.rebalance_pause_s * 1e3));
        rows.push(d("longest rebalance pause", &|s| s.max_rebalance_pause_s * 1e3));
    }
    rows.extend(delivery);
    rows
}

/// A fraction as a percentage with one decimal: 0.4567 -> "45.7".
pub fn percent(fraction: f64) -> String {
    format!("{:.1}", fraction * 100.0)
}

pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Renders the summary as an aligned text table.
pub fn render(summary: &Summary) -> String {
    let names: Vec<&str> = summary.systems.keys().copied().collect();
    let reports: Vec<&SystemReport> = summary.systems.values().collect();
    let systems: Vec<&SystemSummary> = reports.iter().map(|r| &r.summary).collect();
    let rows = rows(&reports);
    let label_w = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let col_w = rows
        .iter()
        .flat_map(|(_, v)| v.iter().map(|x| x.len()))
        .chain(names.iter().map(|n| n.len()))
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = format!("{} (seed {}, {} profile)\n", summary.scenario, summary.seed, summary.profile);
    out.push_str(&format!("{:label_w$}", ""));
    for n in &names {
        out.push_str(&format!("{n:>col_w$}"));
    }
    out.push('\n');
    for (label, vals) in rows {
        out.push_str(&format!("{label:label_w$}"));
        for v in vals {
            out.push_str(&format!("{v:>col_w$}"));
        }
        out.push('\n');
    }
    // With several groups, each group's pace differs: one line per group and system.
    let group_names: Vec<&String> = systems.first().map(|s| s.groups.keys().collect()).unwrap_or_default();
    if group_names.len() > 1 {
        let name_w = group_names.iter().map(|g| g.len()).max().unwrap_or(0).max(5);
        let sys_w = names.iter().map(|n| n.len()).max().unwrap_or(0);
        out.push_str(&format!(
            "{:<w$}  {:>12}  {:>12}  {:>11}  {:>8}  {:>5}  {:>6}\n",
            "per group",
            "wait mean",
            "wait p99",
            "max backlog",
            "lost",
            "idle",
            "busy %",
            w = 2 + name_w + 1 + sys_w
        ));
        for g in group_names {
            for (name, sys) in names.iter().zip(&systems) {
                if let Some(x) = sys.groups.get(g) {
                    out.push_str(&format!(
                        "  {g:<name_w$} {name:<sys_w$}  {:>12}  {:>12}  {:>11}  {:>8}  {:>5}  {:>6}\n",
                        duration(x.wait_ms.mean),
                        duration(x.wait_ms.p99),
                        thousands(x.max_backlog),
                        thousands(x.lost),
                        thousands(x.idle_consumers),
                        percent(x.busy_fraction.mean)
                    ));
                }
            }
        }
    }
    // With routing: what each group's consumers received and used (Kafka: records fetched).
    let fetched: Vec<&String> = systems
        .first()
        .map(|s| s.groups.iter().filter(|(_, g)| g.fetch.is_some()).map(|(n, _)| n).collect())
        .unwrap_or_default();
    if !fetched.is_empty() {
        let name_w = fetched.iter().map(|g| g.len()).max().unwrap_or(0).max(5);
        let sys_w = names.iter().map(|n| n.len()).max().unwrap_or(0);
        out.push_str(&format!(
            "{:<w$}  {:>14}  {:>12}  {:>12}\n",
            "fetched",
            "records",
            "bytes",
            "used",
            w = 2 + name_w + 1 + sys_w
        ));
        for g in fetched {
            for (name, sys) in names.iter().zip(&systems) {
                if let Some(f) = sys.groups.get(g).and_then(|x| x.fetch) {
                    out.push_str(&format!(
                        "  {g:<name_w$} {name:<sys_w$}  {:>14}  {:>12}  {:>12}\n",
                        thousands(f.records_fetched),
                        bytes(f.bytes_fetched),
                        thousands(f.records_used)
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_bytes() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn durations_switch_unit_by_magnitude() {
        // Worked by hand: 999 ms stays in ms; 2,236 ms is 2.236 s; 340,951 ms is 5.68 min;
        // 3,600,000 ms is 60 min; 7,200,000 ms is 2 h.
        assert_eq!(duration(0.0), "0 ms");
        assert_eq!(duration(0.5), "0.500 ms");
        assert_eq!(duration(51.7), "51.7 ms");
        assert_eq!(duration(999.0), "999.0 ms");
        assert_eq!(duration(2236.0), "2.236 s");
        assert_eq!(duration(119_000.0), "119.0 s");
        assert_eq!(duration(340_951.0), "5.683 min");
        assert_eq!(duration(3_600_000.0), "60.0 min");
        assert_eq!(duration(7_200_000.0), "2.000 h");
        assert_eq!(duration(36_000_000.0), "10.0 h");
        // A row takes the unit of its largest value; a small value keeps three significant digits.
        let (label, values) = duration_row("wait p50", vec![92.3, 293_400.0]);
        assert_eq!(label, "wait p50 (min)");
        assert_eq!(values, vec!["0.00154", "4.890"]);
        let (label, values) = duration_row("wait mean", vec![385.0, 51.7]);
        assert_eq!((label.as_str(), values), ("wait mean (ms)", vec!["385.0".to_string(), "51.7".to_string()]));
        assert_eq!(num(1234.4), "1,234");
        assert_eq!(num(0.0), "0");
    }
}
