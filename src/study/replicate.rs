//! `--replications R`: R runs of a scenario that differ only in their seed
//! ([`super::stats::replication_seed`]), each written whole into `DIR/rep-i/` (exactly what
//! `pushpull run FILE --seed SEED_i --out DIR/rep-i` writes); `DIR` itself holds replication 0's
//! files (the scenario's own seed, so the folder reads as a plain run), and its `summary.json`
//! adds `replications`: each headline metric's mean and 95% confidence interval over the R runs.

use super::metrics::{HEADLINE, value};
use super::stats::{Moments, replication_seed};
use crate::report::table::num;
use crate::report::{MetricStats, Replications, ReportError, Summary, summary_json, write_atomic};
use std::path::Path;

/// Most replications of one run.
pub const MAX_REPLICATIONS: u16 = 1000;

/// The folder of replication `i` inside the run's folder.
pub fn folder(i: u32) -> String {
    format!("rep-{i}")
}

pub const SEED_RULE: &str = "replication 0 uses the scenario's seed; replication i >= 1 uses the i-th output of a \
                             SplitMix64 generator seeded with it, shifted right by 11 bits (53-bit seeds)";
pub const INTERVAL: &str = "95% confidence interval of the mean: mean +- t(0.975, n-1) * s / sqrt(n), s the sample \
                            standard deviation of the n replications' values (Student t)";

/// The seeds of `count` replications of a scenario seeded with `seed`.
pub fn seeds(seed: u64, count: u32) -> Vec<u64> {
    (0..count).map(|i| replication_seed(seed, i)).collect()
}

/// The `replications` block of the replications' summaries (in order; the first is replication 0).
pub fn block(summaries: &[Summary]) -> Replications {
    let seeds: Vec<u64> = summaries.iter().map(|s| s.seed).collect();
    let values: Vec<serde_json::Value> =
        summaries.iter().map(|s| serde_json::to_value(s).expect("a summary is plain data")).collect();
    let names: Vec<&'static str> = summaries.first().map(|s| s.systems.keys().copied().collect()).unwrap_or_default();
    let systems = names
        .into_iter()
        .map(|system| {
            let metrics = HEADLINE
                .iter()
                .map(|m| {
                    let figures: Vec<Option<serde_json::Number>> =
                        values.iter().map(|v| value(&v["systems"][system], m.name).cloned()).collect();
                    (m.name, stats(figures))
                })
                .collect();
            (system, metrics)
        })
        .collect();
    Replications { count: summaries.len() as u32, seeds, seed_rule: SEED_RULE, interval: INTERVAL, systems }
}

/// One metric's mean and interval over the values the replications have.
pub fn stats(values: Vec<Option<serde_json::Number>>) -> MetricStats {
    let present: Vec<f64> = values.iter().flatten().filter_map(|n| n.as_f64()).collect();
    let m = Moments::of(&present);
    let ci = m.and_then(|m| m.ci95());
    MetricStats {
        n: present.len(),
        mean: m.map(|m| m.mean),
        ci95_low: ci.map(|c| c.0),
        ci95_high: ci.map(|c| c.1),
        values,
    }
}

/// Writes the run's own files into `dir` (its staging folder): replication 0's files, linked (or
/// copied) from `dir/rep-0/`, and `summary.json` with the `replications` block.
pub fn write_top(dir: &Path, summary: &Summary) -> Result<(), ReportError> {
    let rep0 = dir.join(folder(0));
    let io = |path: &Path, source| ReportError::Io { path: path.display().to_string(), source };
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&rep0)
        .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(|e| io(&rep0, e))?;
    names.sort();
    for name in names.iter().filter(|n| *n != "summary.json") {
        let (from, to) = (rep0.join(name), dir.join(name));
        if std::fs::hard_link(&from, &to).is_err() {
            let bytes = std::fs::read(&from).map_err(|e| io(&from, e))?;
            write_atomic(&to, &bytes)?;
        }
    }
    write_atomic(&dir.join("summary.json"), summary_json(summary).as_bytes())
}

/// The printed table of a replicated run: each headline metric's mean ± the half-width of its 95%
/// interval, one column per system.
pub fn table(summary: &Summary) -> String {
    let Some(r) = &summary.replications else { return String::new() };
    let systems: Vec<&&str> = r.systems.keys().collect();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for m in HEADLINE {
        let cells = r
            .systems
            .values()
            .map(|metrics| match metrics.get(m.name) {
                Some(MetricStats { mean: Some(mean), ci95_low: Some(lo), ci95_high: Some(hi), .. }) => {
                    format!("{} ± {}", num(*mean), num((hi - lo) / 2.0))
                }
                Some(MetricStats { mean: Some(mean), .. }) => num(*mean),
                _ => "n/a".to_string(),
            })
            .collect();
        rows.push((m.name.to_string(), cells));
    }
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let col_w = rows.iter().flat_map(|(_, c)| c.iter().map(|x| x.chars().count())).max().unwrap_or(0).max(8) + 2;
    let shown_seeds: Vec<String> = r.seeds.iter().take(3).map(|s| s.to_string()).collect();
    let mut out = format!(
        "{} ({} replications, seeds {}{}; {} profile)\nmean ± half-width of the 95% confidence interval (Student t, {} \
         degrees of freedom)\n",
        summary.scenario,
        r.count,
        shown_seeds.join(", "),
        if r.seeds.len() > 3 { ", ..." } else { "" },
        summary.profile,
        r.count.saturating_sub(1)
    );
    out.push_str(&format!("{:label_w$}", ""));
    for s in &systems {
        out.push_str(&format!("{:>col_w$}", s));
    }
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&format!("{label:label_w$}"));
        for c in cells {
            let pad = col_w.saturating_sub(c.chars().count());
            out.push_str(&format!("{}{c}", " ".repeat(pad)));
        }
        out.push('\n');
    }
    out.push_str("per replication: rep-0/ (the scenario's seed, also this folder's own files) .. ");
    out.push_str(&format!("rep-{}/\n", r.count.saturating_sub(1)));
    out
}

/// The `replications.count` of a parsed `summary.json` (1 when it has none).
pub fn count_of(summary: &serde_json::Value) -> u64 {
    summary.get("replications").and_then(|r| r.get("count")).and_then(|c| c.as_u64()).unwrap_or(1)
}

/// A metric's mean and interval in a parsed `summary.json`'s `replications`, for `system`.
pub fn metric_of<'a>(summary: &'a serde_json::Value, system: &str, name: &str) -> Option<&'a serde_json::Value> {
    summary.get("replications")?.get("systems")?.get(system)?.get(name)
}

/// Each replication's value of a metric, from a parsed `summary.json`'s `replications`.
pub fn values_of(summary: &serde_json::Value, system: &str, name: &str) -> Option<Vec<f64>> {
    let values = metric_of(summary, system, name)?.get("values")?.as_array()?;
    Some(values.iter().filter_map(|v| v.as_f64()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_values_with_gaps() {
        let n = |x: u64| Some(serde_json::Number::from(x));
        let s = stats(vec![n(1), None, n(2), n(3), n(4), n(5)]);
        assert_eq!((s.n, s.mean), (5, Some(3.0)));
        assert!((s.ci95_low.unwrap() - 1.036_76).abs() < 1e-4);
        let none = stats(vec![None, None]);
        assert_eq!((none.n, none.mean, none.ci95_low), (0, None, None));
        assert_eq!(folder(3), "rep-3");
        assert_eq!(seeds(42, 3)[0], 42);
    }
}
