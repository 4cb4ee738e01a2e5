//! A node's resource alarms as a run reports them: when a node's memory use passed its limit, or
//! its free disk space fell below its limit, and for how long publishers were blocked. Nothing here
//! knows what the node holds; the model that raises the alarms does (RabbitMQ's, in
//! `models/rabbitmq/alarm.rs`).

use crate::time::{NANOS_PER_SEC, SimTime};

/// Which resource an alarm watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    Memory,
    Disk,
}

/// One alarm: raised at `raised`, cleared at `cleared` (`None`: still raised at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlarmSpan {
    pub node: u16,
    pub resource: Resource,
    pub raised: SimTime,
    pub cleared: Option<SimTime>,
}

/// `summary.json`'s `resource_alarms` (a system whose nodes raised at least one alarm).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ResourceAlarms {
    /// The memory alarm's threshold per node (`vm_memory_high_watermark` x RAM).
    pub memory_limit_bytes: u64,
    /// The disk alarm's threshold of free space per node (`disk_free_limit`).
    pub disk_free_limit_bytes: u64,
    /// The most the node held at a monitor's sample: in memory, and on disk.
    pub peak_memory_bytes: u64,
    pub peak_disk_bytes: u64,
    /// Seconds during which at least one alarm was raised: every publishing connection of the
    /// cluster was blocked.
    pub publishing_blocked_s: f64,
    pub alarms: Vec<AlarmRow>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AlarmRow {
    pub node: String,
    pub resource: Resource,
    pub raised_s: f64,
    /// `None` (null): still raised when the run ended.
    pub cleared_s: Option<f64>,
}

fn secs(t: SimTime) -> f64 {
    t.0 as f64 / NANOS_PER_SEC as f64
}

/// The time covered by at least one span, each open span running to `end`.
pub fn blocked_time(spans: &[AlarmSpan], end: SimTime) -> u64 {
    let mut v: Vec<(SimTime, SimTime)> =
        spans.iter().map(|s| (s.raised, s.cleared.unwrap_or(end).max(s.raised))).collect();
    v.sort();
    let (mut total, mut cur): (u64, Option<(SimTime, SimTime)>) = (0, None);
    for (a, b) in v {
        cur = match cur {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e.since(s).0;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((s, e)) = cur {
        total += e.since(s).0;
    }
    total
}

impl ResourceAlarms {
    /// The summary of `spans` for a run that ended at `end`; `None` if no alarm was raised.
    pub fn of(spans: &[AlarmSpan], limits: (u64, u64), peaks: (u64, u64), end: SimTime) -> Option<Self> {
        if spans.is_empty() {
            return None;
        }
        Some(ResourceAlarms {
            memory_limit_bytes: limits.0,
            disk_free_limit_bytes: limits.1,
            peak_memory_bytes: peaks.0,
            peak_disk_bytes: peaks.1,
            publishing_blocked_s: (blocked_time(spans, end) as f64 / 1e6).round() / 1e3,
            alarms: spans
                .iter()
                .map(|s| AlarmRow {
                    node: format!("node {}", s.node),
                    resource: s.resource,
                    raised_s: secs(s.raised),
                    cleared_s: s.cleared.map(secs),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(r: Resource, a: u64, b: Option<u64>) -> AlarmSpan {
        let s = |x: u64| SimTime(x * NANOS_PER_SEC);
        AlarmSpan { node: 0, resource: r, raised: s(a), cleared: b.map(s) }
    }

    #[test]
    fn overlapping_alarms_block_publishing_once() {
        // Memory 10-30 s, disk 20-40 s (overlapping: 10-40), memory again 50 s to the end at 60.
        let spans = [
            span(Resource::Memory, 10, Some(30)),
            span(Resource::Disk, 20, Some(40)),
            span(Resource::Memory, 50, None),
        ];
        assert_eq!(blocked_time(&spans, SimTime(60 * NANOS_PER_SEC)), 40 * NANOS_PER_SEC);
        let s = ResourceAlarms::of(&spans, (1, 2), (3, 4), SimTime(60 * NANOS_PER_SEC)).unwrap();
        assert_eq!(s.publishing_blocked_s, 40.0);
        assert_eq!(s.alarms[2].cleared_s, None);
        assert!(ResourceAlarms::of(&[], (1, 2), (3, 4), SimTime(0)).is_none());
    }
}
