//! The compact side-by-side table printed after a run.

use crate::metrics::SystemSummary;
use crate::report::Summary;

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

fn num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// Rows of (label, per-system value).
fn rows(systems: &[&SystemSummary]) -> Vec<(&'static str, Vec<String>)> {
    let f = |get: &dyn Fn(&SystemSummary) -> String| systems.iter().map(|s| get(s)).collect::<Vec<_>>();
    vec![
        ("messages published", f(&|s| thousands(s.messages_published))),
        ("deliveries owed", f(&|s| thousands(s.published))),
        ("processed", f(&|s| thousands(s.processed))),
        ("unique processed", f(&|s| thousands(s.unique_processed))),
        ("duplicates", f(&|s| thousands(s.duplicates))),
        ("lost", f(&|s| thousands(s.lost))),
        ("stranded", f(&|s| thousands(s.stranded))),
        ("offered /s", f(&|s| num(s.offered_per_s))),
        ("throughput /s", f(&|s| num(s.throughput_per_s))),
        ("wait mean ms", f(&|s| num(s.wait_ms.mean))),
        ("wait p50 ms", f(&|s| num(s.wait_ms.p50))),
        ("wait p99 ms", f(&|s| num(s.wait_ms.p99))),
        ("latency mean ms", f(&|s| num(s.latency_ms.mean))),
        ("latency p50 ms", f(&|s| num(s.latency_ms.p50))),
        ("latency p99 ms", f(&|s| num(s.latency_ms.p99))),
        ("latency p99.9 ms", f(&|s| num(s.latency_ms.p999))),
        ("latency max ms", f(&|s| num(s.latency_ms.max))),
        ("max backlog", f(&|s| thousands(s.max_backlog))),
        ("max unacked", f(&|s| thousands(s.max_unacked))),
        ("peak stored", f(&|s| bytes(s.peak_stored_bytes))),
    ]
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
    let systems: Vec<&SystemSummary> = summary.systems.values().map(|r| &r.summary).collect();
    let rows = rows(&systems);
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
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
        out.push_str("per group: wait mean / p99 ms, max backlog, lost\n");
        for g in group_names {
            for (name, sys) in names.iter().zip(&systems) {
                if let Some(x) = sys.groups.get(g) {
                    out.push_str(&format!(
                        "  {g:<12} {name:<9} {:>10} / {:>10}  {:>10}  {:>8}\n",
                        num(x.wait_ms.mean),
                        num(x.wait_ms.p99),
                        thousands(x.max_backlog),
                        thousands(x.lost)
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
}
