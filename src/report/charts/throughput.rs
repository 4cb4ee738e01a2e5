//! Processed per second over time, against the offered load.

use super::*;

/// The throughput chart averages consecutive samples into between `MIN_RATE_POINTS` and
/// `MAX_RATE_POINTS` points, aiming at `MESSAGES_PER_POINT` deliveries each, so that the noise of
/// short buckets does not hide the comparison.
const MIN_RATE_POINTS: f64 = 40.0;
const MAX_RATE_POINTS: f64 = 150.0;
const MESSAGES_PER_POINT: f64 = 200.0;

pub(super) fn chart(s: &Scenario, runs: &[SystemRun]) -> Chart {
    let end = run_end_secs(s, runs);
    let unit = time_unit(end);
    let x_end = end / unit.secs;
    let groups = s.groups.len().max(1);
    let longest = runs.iter().map(|r| r.recorder.samples.len() / groups).max().unwrap_or(0);
    let deliveries = s.expected_messages() * groups as f64;
    let points = (deliveries / MESSAGES_PER_POINT).clamp(MIN_RATE_POINTS, MAX_RATE_POINTS) as usize;
    let per_point = longest.div_ceil(points.max(1)).max(1);
    // Groups owed each message of the bucket (t - len, t]: a group that starts late counts from its
    // start, in proportion within the bucket it starts in.
    let subscribed = |t: f64, len: f64| -> f64 {
        s.groups
            .iter()
            .map(|g| {
                let start = g.start.as_secs_f64();
                if start <= t - len {
                    1.0
                } else if start >= t || len <= 0.0 {
                    0.0
                } else {
                    (t - start) / len
                }
            })
            .sum()
    };
    let mut lines = Vec::new();
    let mut offered: Option<Vec<(f64, f64)>> = None;
    let mut bin_secs: f64 = 0.0;
    for r in runs {
        // (bucket end, bucket length, processed/s over groups, deliveries offered/s)
        let mut prev = 0.0;
        let buckets: Vec<(f64, f64, f64, f64)> = by_time(&r.recorder.samples)
            .map(|rows| {
                let t = rows[0].time.as_secs_f64();
                let len = (t - prev).max(0.0);
                prev = t;
                let processed: f64 = rows.iter().map(|x| x.processed_per_s).sum();
                (t, len, processed, rows[0].published_per_s * subscribed(t, len))
            })
            .collect();
        let mut done = Vec::new();
        let mut pubs = Vec::new();
        let mut start = 0.0;
        let mut chunks: Vec<&[(f64, f64, f64, f64)]> = buckets.chunks(per_point).collect();
        // A short trailing chunk (often a partial last bucket) is too noisy alone: merge it.
        let regular = per_point as f64 * s.sample_interval.as_secs_f64();
        let span = |c: &[(f64, f64, f64, f64)]| c.iter().map(|b| b.1).sum::<f64>();
        if chunks.len() > 1 && span(chunks[chunks.len() - 1]) * 2.0 < regular {
            let n = chunks.len();
            let merged_len = chunks[n - 2].len() + chunks[n - 1].len();
            chunks.truncate(n - 2);
            chunks.push(&buckets[buckets.len() - merged_len..]);
        }
        for chunk in chunks {
            let end_t = chunk[chunk.len() - 1].0;
            let total: f64 = chunk.iter().map(|b| b.1).sum();
            let avg = |f: fn(&(f64, f64, f64, f64)) -> f64| {
                if total > 0.0 {
                    chunk.iter().map(|b| f(b) * b.1).sum::<f64>() / total
                } else {
                    chunk.iter().map(f).sum::<f64>() / chunk.len() as f64
                }
            };
            let x = (start + end_t) / 2.0 / unit.secs;
            done.push((x, avg(|b| b.2)));
            pubs.push((x, avg(|b| b.3)));
            bin_secs = bin_secs.max(if chunk.len() == per_point { total } else { 0.0 });
            start = end_t;
        }
        if offered.is_none() && !pubs.is_empty() {
            offered = Some(pubs);
        }
        lines.push(Line {
            label: format!("{} processed", r.system.name()),
            color: system_color(r.system),
            dash: Dash::Solid,
            width: system_width(r.system),
            points: done,
        });
    }
    let offered_label = if s.groups.iter().any(|g| g.start > crate::time::SimTime::ZERO) {
        "offered load (published/s × groups subscribed)".to_string()
    } else if s.groups.len() > 1 {
        format!("offered load (published/s × {} groups)", s.groups.len())
    } else {
        "offered load (published/s)".to_string()
    };
    lines.push(Line {
        label: offered_label,
        color: OFFERED,
        dash: Dash::Dashed(8, 5),
        width: 2,
        points: offered.unwrap_or_default(),
    });
    let max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let offered_max = lines.last().map_or(0.0, |l| l.points.iter().map(|p| p.1).fold(0.0, f64::max));
    let capacity = consumer_capacity(s);
    // The capacity line only where it does not squash the data (at most twice its peak).
    let capacity_drawn = capacity.filter(|c| c.per_s <= 2.0 * max.max(1.0));
    if let Some(c) = &capacity_drawn {
        let x_last = lines.iter().flat_map(|l| l.points.last()).map(|p| p.0).fold(0.0, f64::max);
        lines.push(Line {
            label: format!("consumer capacity {}/s ({})", per_s_text(c.per_s), c.how),
            color: CAPACITY,
            dash: Dash::Dashed(3, 4),
            width: 2,
            points: vec![(0.0, c.per_s), (x_last.max(x_end), c.per_s)],
        });
    }
    let y_end = y_top(capacity_drawn.map_or(max, |c| max.max(c.per_s)), 1.0);
    let mut subtitle =
        String::from("Can each system keep up? A line below the grey offered load means messages pile up.");
    if let Some(c) = &capacity
        && offered_max > c.per_s * 1.02
    {
        // A deliberate overload must not read as a system failing.
        subtitle.push_str(&format!(
            " The offered load (peak {}/s) exceeds the consumers' capacity ({}/s): the backlog grows by design.",
            per_s_text(offered_max),
            per_s_text(c.per_s)
        ));
    }
    if bin_secs > 0.0 {
        subtitle.push_str(&format!(" Each point averages {}.", round_secs(bin_secs)));
    }
    if let [a, b, ..] = &lines[..]
        && runs.len() == 2
        && let Some(text) = lines_coincide(a, b, y_end, 380.0, x_end, unit)
    {
        subtitle.push(' ');
        subtitle.push_str(&text);
    }
    let y_desc = if s.groups.len() > 1 {
        "messages processed per second (all groups)".to_string()
    } else {
        "messages processed per second".to_string()
    };
    if s.kafka.cleanup_policy.compacts() {
        subtitle.push_str(&compaction_note(runs));
    }
    let title = format!("{}: throughput", s.name);
    one_panel_chart(s, runs, unit, x_end, title, subtitle, (y_desc, y_end, YFormat::Decimal), lines)
}

/// The consumers' capacity, messages per second: consumers over mean processing time, summed over
/// groups, and how it was reckoned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Capacity {
    pub per_s: f64,
    pub how: &'static str,
}

/// The consumers' capacity as the scenario sets it: each group's consumers over its mean
/// processing time, summed. `None` when it changes during the run (a `scale` operation) or
/// processing takes no time.
pub(super) fn consumer_capacity(s: &Scenario) -> Option<Capacity> {
    use crate::scenario::operations::OperationAction;
    if s.operations.iter().any(|o| matches!(o.action, OperationAction::Scale { .. })) {
        return None;
    }
    let per_s: f64 = s
        .groups
        .iter()
        .map(|g| {
            let mean = g.processing.mean();
            if mean > 0.0 { g.consumers as f64 / mean } else { f64::INFINITY }
        })
        .sum();
    let how = if s.groups.len() > 1 {
        "consumers ÷ mean processing time, all groups"
    } else {
        "consumers ÷ mean processing time"
    };
    per_s.is_finite().then_some(Capacity { per_s, how })
}

/// "1,500", "12.5", "0.8".
fn per_s_text(x: f64) -> String {
    if x >= 100.0 { super::super::table::thousands(x.round() as u64) } else { trim(x, 1) }
}

/// What compaction removed, for a compacted topic's throughput chart: a group that starts late from
/// `earliest` reads only the latest record of each key left in the log, not everything offered
/// before it subscribed.
fn compaction_note(runs: &[SystemRun]) -> String {
    let Some(k) = runs.iter().find(|r| r.system == SystemKind::Kafka) else { return String::new() };
    let removed: u64 =
        k.recorder.annotations.iter().filter(|a| a.kind == AnnotationKind::RetentionDeleted).map(|a| a.count).sum();
    let thousands = super::super::table::thousands;
    let mut note = format!(" Compaction removed {} superseded records from Kafka's log", thousands(removed));
    let early = k.delivery.total.processed_not_owed;
    if early > 0 {
        note.push_str(&format!(
            "; a group starting from earliest is served only what is left, one record per key or so \
             ({} records published before it subscribed: the spike above the offered load).",
            thousands(early)
        ));
    } else {
        note.push('.');
    }
    note
}
