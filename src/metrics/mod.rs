//! The recorder: an observer that recounts a run from its history alone. It never asks a model for
//! its counters, so a model that loses or duplicates messages cannot hide it.
//!
//! Definitions (per (message, group); system totals are sums over groups):
//! * `published`: deliveries owed, i.e. messages published times groups subscribed.
//! * `processed`: processing completions, duplicates included.
//! * `unique_processed`: messages processed at least once.
//! * `replayed`: after each seek of the group (an offset reset, a late group's start), the first
//!   re-processing of each message published before it and already processed: a rewind asked
//!   for, as the checker's `replayed`.
//! * `duplicates`: processed - unique_processed - not owed - replayed: re-processing nobody asked
//!   for (after a crash, a rebalance, a redelivery).
//! * A group that starts late (`[[groups]] start`) is owed the messages published from its start
//!   on; what it reads from before (a Kafka group from `earliest`) counts in `processed` only.
//! * `lost`: never processed, and held by no replica at the end: deleted (retention, truncation,
//!   a crash of transient messages) or never stored at all (refused, or gone on the way).
//! * `stranded`: never processed by the end of the drain, still stored on some replica or node
//!   (up or down).
//!   Always: published = unique_processed + lost + stranded.
//! * wait: publish -> processing start; latency: publish -> processing done; for messages
//!   published after the warmup, exact mean, HDR percentiles (3 significant digits), exact max.
//!   A replay (processing again, after the group sought, a message it had processed) is left
//!   out: its age is the replay's, not the system's delay.
//! * `confirm_ms` (system only): the producer's send -> the broker's acknowledgement of it, for
//!   messages sent after the warmup: what `acks` and publisher confirms cost the producer (empty
//!   for RabbitMQ without publisher confirms, which never answers).
//! * `throughput_per_s`: processing completions in [warmup, duration) per second.
//! * backlog (`max_backlog`): messages owed to the group, not yet processed and not dropped (in
//!   flight), counted from the history alone, the same way in both systems; its exact peak.
//! * `max_consumer_lag`: the peak of the system's own gauge (see [`Observation::Backlog`]): Kafka
//!   log end offset minus committed offset, RabbitMQ queue depth (ready plus unacked).
//! * `max_unacked`: the peak of the system's unacked gauge.
//! * Consumer utilisation ([`busy`]): each consumer's busy fraction (its completed jobs'
//!   processing clipped to [warmup, duration), over that window's length), its completions in the
//!   window, and the idle consumers (no work in the window at all).
//! * `rebalance_pause_s`: per partition of a Kafka group, the time from a `PartitionRevoked` (a
//!   rebalance took it from its owner) to the next `PartitionAssigned` (its new owner received it),
//!   summed over partitions and pauses (to the end of the run if never assigned again);
//!   `max_rebalance_pause_s` is the longest single pause. System: the sum over groups, the longest.
//! * Time-series samples carry each gauge's maximum over the interval (not its value at the sample
//!   instant, which would alias a sawtooth such as Kafka's commit cycle), so that the peak of a
//!   series is the summary's peak exactly; and the producer's `acknowledged` and `send_failed`
//!   client events per second.
//! * Chart annotations: retention deletions, offset resets and rebalances merged per sample
//!   interval ([`Annotation`]), and each fault of the schedule from its step to its repair
//!   ([`FaultSpan`]).

pub mod busy;
pub mod confirm;
pub mod window;

use crate::history::{ClientEvent, History, Observation};
use crate::scenario::Scenario;
use crate::scenario::faults::{Fault, FaultAction, FaultTarget};
use crate::time::{SimDuration, SimTime};
use busy::Busy;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use window::{FirstTime, IdWindow};

/// Percentile summary of a set of durations, in milliseconds.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Durations of one kind (wait or latency): exact count, sum and max, HDR histogram for quantiles.
#[derive(Clone)]
pub struct DurationStats {
    hist: Histogram<u64>,
    sum_ns: u128,
    count: u64,
    max_ns: u64,
}

impl Default for DurationStats {
    fn default() -> Self {
        DurationStats {
            hist: Histogram::new(3).expect("3 significant digits is valid"),
            sum_ns: 0,
            count: 0,
            max_ns: 0,
        }
    }
}

impl DurationStats {
    pub fn record(&mut self, d: SimDuration) {
        // Auto-resizing histogram: recording cannot fail for a u64 value.
        let _ = self.hist.record(d.0);
        self.sum_ns += d.0 as u128;
        self.count += 1;
        self.max_ns = self.max_ns.max(d.0);
    }

    fn merge(&mut self, o: &DurationStats) {
        let _ = self.hist.add(&o.hist);
        self.sum_ns += o.sum_ns;
        self.count += o.count;
        self.max_ns = self.max_ns.max(o.max_ns);
    }

    pub fn mean_secs(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_ns as f64 / self.count as f64 / 1e9 }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Value at quantile q (0..=1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        if q >= 1.0 {
            return ms(self.max_ns);
        }
        ms(self.hist.value_at_quantile(q).min(self.max_ns))
    }

    pub fn summary(&self) -> Percentiles {
        Percentiles {
            count: self.count,
            mean: round6(self.mean_secs() * 1e3),
            p50: self.quantile_ms(0.5),
            p90: self.quantile_ms(0.9),
            p99: self.quantile_ms(0.99),
            p999: self.quantile_ms(0.999),
            max: ms(self.max_ns),
        }
    }
}

fn ms(ns: u64) -> f64 {
    round6(ns as f64 / 1e6)
}

/// Rounds to 6 decimals (nanoseconds in ms) so that printed figures do not carry float noise.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[derive(Default, Clone)]
pub struct GroupCounts {
    pub window: IdWindow,
    /// The group subscribes at this time: it is owed what is published from then on.
    pub start: SimTime,
    /// The first message owed to it, once one was published.
    pub first_owed: Option<u64>,
    /// Processings of messages published before the group started.
    pub not_owed: u64,
    /// Ids below this were published before the group's latest seek (0: none).
    pub replay_below: u64,
    /// Ids re-processed since the latest seek: their first re-processing was a replay.
    pub replayed_ids: crate::checker::ranges::IdRanges,
    pub replayed: u64,
    pub published: u64,
    /// Owed messages published in the window [warmup, duration).
    pub published_in_window: u64,
    pub processed: u64,
    pub unique: u64,
    /// Deleted while unprocessed (may be undone if a client buffer still processes it).
    pub dropped: u64,
    /// Owed messages settled other than by processing (dead-lettered, expired, dropped on
    /// purpose: issue 18), which leave the backlog without being processed.
    pub settled: u64,
    pub completions_in_window: u64,
    /// Peak of the in-flight count (`published - unique - dropped`) over the whole run.
    pub max_in_flight: u64,
    /// The system's consumer lag gauge (Kafka end offset minus committed; RabbitMQ queue depth).
    pub consumer_lag: u64,
    pub max_consumer_lag: u64,
    pub unacked: u64,
    pub max_unacked: u64,
    /// With routing: what the group's consumers received (see [`FetchCounts`]).
    pub fetch: Option<FetchCounts>,
    pub wait: DurationStats,
    pub latency: DurationStats,
    /// With `[workload] priorities`: latency per message priority, as [`Priorities::levels`].
    pub latency_by_priority: Vec<DurationStats>,
    /// Per partition: since when a rebalance kept it from being processed, if it does now.
    pub revoked_at: Vec<Option<SimTime>>,
    /// Rebalance pauses, summed over partitions, and the longest (ns).
    pub pause_ns: u64,
    pub max_pause_ns: u64,
    bucket_processed: u64,
    /// Maxima over the current sample interval.
    bucket_in_flight_max: u64,
    bucket_lag_max: u64,
    bucket_unacked_max: u64,
}

impl GroupCounts {
    fn partition_revoked(&mut self, at: SimTime, partition: u32) {
        let p = partition as usize;
        if self.revoked_at.len() <= p {
            self.revoked_at.resize(p + 1, None);
        }
        // Already paused (a member that left revoked it before the rebalance started): the
        // pause runs from the first.
        self.revoked_at[p].get_or_insert(at);
    }

    fn partition_assigned(&mut self, at: SimTime, partition: u32) {
        if let Some(since) = self.revoked_at.get_mut(partition as usize).and_then(Option::take) {
            let d = at.since(since).0;
            self.pause_ns += d;
            self.max_pause_ns = self.max_pause_ns.max(d);
        }
    }

    /// Owed to the group, not yet processed, not dropped.
    pub fn in_flight(&self) -> u64 {
        self.published - self.unique - self.dropped - self.settled
    }
}

/// One time-series sample: the interval ending at `time`. Gauges named `*_max` are the largest
/// value the gauge took at any instant of the interval (the value carried in from the previous
/// interval included); `in_flight` is the value at `time` itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub time: SimTime,
    pub group: usize,
    pub published_per_s: f64,
    /// The producer's `acknowledged` client events (confirms received) per second over the
    /// interval; the system's figure, the same in every group's row.
    pub acknowledged_per_s: f64,
    /// The producer's `send_failed` client events (messages given up on) per second; the system's.
    pub failed_per_s: f64,
    pub processed_per_s: f64,
    /// Most messages in flight (published, not yet processed, not dropped) during the interval.
    pub backlog_max: u64,
    /// Largest consumer lag (Kafka end offset minus committed; RabbitMQ queue depth).
    pub consumer_lag_max: u64,
    /// Largest unacked count.
    pub unacked_max: u64,
    /// In flight at `time` exactly.
    pub in_flight: u64,
    /// Consumer lag at `time` exactly.
    pub consumer_lag: u64,
    /// Unacked at `time` exactly.
    pub unacked: u64,
    /// Most bytes the broker held during the interval (the whole system's, the same in every
    /// group's row).
    pub stored_bytes_max: u64,
    /// Bytes held at `time` exactly.
    pub stored_bytes: u64,
}

/// Something a reader of a time chart should see marked: the cause of a cliff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnotationKind {
    /// Kafka retention deleted records (whole segments), read or not; `count` records.
    RetentionDeleted,
    /// Of those, `count` were never processed by the annotation's group: lost. (A record deleted
    /// while it sat in a consumer's buffer and processed from there afterwards is not counted.)
    RetentionLost,
    /// A Kafka consumer group's position had been deleted and `auto.offset.reset` moved it;
    /// `count` records still held by the log that the group skipped (and so lost), 0 with
    /// `earliest`. Records the reset jumped over that retention had already deleted are counted in
    /// `RetentionLost`, not here.
    OffsetReset,
    /// `count` messages were deleted unprocessed for the group at the very instant of a fault
    /// step (a RabbitMQ queue's node crashing with transient messages): lost. (Messages deleted
    /// earlier, such as auto-acked deliveries a crashed consumer never processed, are not here.)
    FaultLost,
    /// A Kafka consumer group rebalanced: `first` is when the first rebalance merged here started,
    /// `last` when the last one finished (the end of the run if it never did); `count` rebalances
    /// started. Rebalances starting in one sample interval, or while another is under way, are
    /// merged.
    Rebalance,
    /// `count` records a new Kafka leader's election truncated from the log (they existed only on
    /// replicas that were not elected) before the group processed them. A producer may still send
    /// an unacknowledged one again, so "truncated", not necessarily lost.
    Truncated,
    /// Leaders elected after a failure (Kafka partitions, the RabbitMQ quorum queue): `count`
    /// elections in the interval; the annotation has no group.
    Election,
}

/// Events of one kind (and group) within one sample interval, merged: memory stays at a few
/// entries per interval, however many records are deleted.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    pub kind: AnnotationKind,
    /// The group concerned; `None` for retention deletions, which are for every group.
    pub group: Option<usize>,
    /// First and last event merged here.
    pub first: SimTime,
    pub last: SimTime,
    /// End of the sample interval the events fall in.
    pub interval_end: SimTime,
    pub count: u64,
    /// Of `count`, messages the producer had a confirm for (kept for `FaultLost` only), so that a
    /// chart can say how many of them the checker counts as acknowledged lost.
    pub acknowledged: u64,
}

/// One fault of the scenario's schedule as the history reported it: from its step (`crash`,
/// `hang`, `partition`) to the step that repaired it (`restart`, `resume`, `heal`). One per fault
/// step of the schedule, so memory is bounded by the scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    /// Index of the fault in [`Scenario::faults`].
    pub step: usize,
    pub start: SimTime,
    /// When it was repaired; `None`: never (it lasts to the end of the run).
    pub end: Option<SimTime>,
}

/// Time-series rows (samples x groups) beyond which a recorder halves its series: 2^21 rows of
/// about 120 bytes, some 250 MB per system at most.
pub const MAX_SAMPLE_ROWS: usize = 1 << 21;

pub struct Recorder {
    /// Routing (issue 18): which groups each message is owed to in this system.
    routing: Option<(std::sync::Arc<crate::subscriptions::Subscriptions>, crate::scenario::SystemKind)>,
    warmup: SimTime,
    end: SimTime,
    interval: SimDuration,
    next_boundary: SimTime,
    /// (group, id) of the messages a fault deleted unprocessed, and whether each was confirmed:
    /// one may still be processed from a consumer's buffer, and is then taken off the fault's
    /// count. As many as a crash deletes.
    /// With the annotation that counts it: a confirm that arrives after the crash (it was on its
    /// way) still counts it as confirmed.
    fault_lost_ids: BTreeMap<(usize, u64), (bool, usize)>,
    pub messages_published: u64,
    /// One past the id of the last message published.
    next_id: u64,
    bucket_published: u64,
    bucket_acknowledged: u64,
    bucket_failed: u64,
    stored_bytes: i64,
    peak_stored_bytes: i64,
    bucket_stored_max: i64,
    pub groups: Vec<GroupCounts>,
    pub samples: Vec<Sample>,
    /// Rows at which the series is coarsened ([`MAX_SAMPLE_ROWS`]; a field so that tests can make
    /// it small).
    max_rows: usize,
    pub annotations: Vec<Annotation>,
    /// Faults, in the order their steps happened.
    pub faults: Vec<FaultSpan>,
    /// The scenario's schedule, to match each repair with its fault.
    schedule: Vec<Fault>,
    /// Per group: the index in `annotations` of its rebalance under way, if any.
    rebalancing: Vec<Option<usize>>,
    /// When the last leader election happened: what a new Kafka leader truncates, it truncates then.
    last_election: Option<SimTime>,
    last_time: SimTime,
    /// Each consumer's busy time in the window [warmup, duration).
    pub busy: Busy,
    /// Send to acknowledgement, for the messages sent after the warmup; `None` where the producer
    /// is never answered (RabbitMQ without publisher confirms).
    confirms: Option<confirm::Confirms>,
    /// Each message's priority, with `[workload] priorities`.
    priorities: Option<crate::workload::Priorities>,
}

impl Recorder {
    /// [`Recorder::new`], with the scenario's routing as `system` applies it.
    pub fn for_system(s: &Scenario, system: crate::scenario::SystemKind) -> Self {
        let mut r = Recorder::new(s);
        r.routing = crate::subscriptions::Subscriptions::new(s).map(|subs| (std::sync::Arc::new(subs), system));
        if r.routing.is_some() {
            r.groups.iter_mut().for_each(|g| g.fetch = Some(FetchCounts::default()));
        }
        // A RabbitMQ producer without publisher confirms is never answered: nothing to measure,
        // and every send would wait in the tracker for ever.
        if system == crate::scenario::SystemKind::RabbitMq && !s.rabbitmq.publisher_confirms {
            r.confirms = None;
        }
        r
    }

    pub fn new(s: &Scenario) -> Self {
        Recorder {
            routing: None,
            fault_lost_ids: BTreeMap::new(),
            warmup: SimTime(s.warmup.0),
            end: SimTime(s.duration.0),
            interval: s.sample_interval,
            next_boundary: SimTime(s.sample_interval.0),
            messages_published: 0,
            next_id: 0,
            bucket_published: 0,
            bucket_acknowledged: 0,
            bucket_failed: 0,
            stored_bytes: 0,
            peak_stored_bytes: 0,
            bucket_stored_max: 0,
            groups: s
                .groups
                .iter()
                .map(|g| GroupCounts {
                    start: g.start,
                    latency_by_priority: vec![DurationStats::default(); s.workload.priorities.len()],
                    ..GroupCounts::default()
                })
                .collect(),
            samples: Vec::new(),
            max_rows: MAX_SAMPLE_ROWS,
            annotations: Vec::new(),
            faults: Vec::new(),
            last_election: None,
            schedule: s.faults.clone(),
            rebalancing: vec![None; s.groups.len()],
            last_time: SimTime::ZERO,
            busy: Busy::new(SimTime(s.warmup.0), SimTime(s.duration.0), s.groups.iter().map(|g| g.max_consumers)),
            confirms: Some(Default::default()),
            priorities: crate::workload::Priorities::new(s),
        }
    }

    fn advance(&mut self, at: SimTime) {
        while at >= self.next_boundary {
            self.close_bucket(self.next_boundary, self.interval);
            self.next_boundary = self.next_boundary.after(self.interval);
        }
        self.last_time = at;
    }

    fn close_bucket(&mut self, time: SimTime, length: SimDuration) {
        let secs = length.as_secs_f64().max(1e-12);
        for (i, g) in self.groups.iter_mut().enumerate() {
            let in_flight = g.in_flight();
            self.samples.push(Sample {
                time,
                group: i,
                published_per_s: self.bucket_published as f64 / secs,
                acknowledged_per_s: self.bucket_acknowledged as f64 / secs,
                failed_per_s: self.bucket_failed as f64 / secs,
                processed_per_s: g.bucket_processed as f64 / secs,
                backlog_max: g.bucket_in_flight_max,
                consumer_lag_max: g.bucket_lag_max,
                unacked_max: g.bucket_unacked_max,
                in_flight,
                consumer_lag: g.consumer_lag,
                unacked: g.unacked,
                stored_bytes_max: self.bucket_stored_max.max(0) as u64,
                stored_bytes: self.stored_bytes.max(0) as u64,
            });
            g.bucket_processed = 0;
            // The next interval starts from the values carried over.
            g.bucket_in_flight_max = in_flight;
            g.bucket_lag_max = g.consumer_lag;
            g.bucket_unacked_max = g.unacked;
        }
        self.bucket_published = 0;
        self.bucket_acknowledged = 0;
        self.bucket_failed = 0;
        self.bucket_stored_max = self.stored_bytes;
        if self.samples.len() >= self.max_rows {
            self.coarsen();
        }
    }

    /// Halves the series: each pair of consecutive sample times becomes one (rates weighted by
    /// the intervals' lengths, maxima kept, values at the later time), and the interval doubles
    /// from now on. So memory stays bounded however long the run turns out (a job of a heavy-tailed
    /// processing time, a drain the size guard did not foresee); a run that needs it is already
    /// far longer than its scenario's sampling was chosen for.
    fn coarsen(&mut self) {
        let n = self.groups.len().max(1);
        let times = self.samples.len() / n;
        let pairs = times / 2;
        let mut merged = Vec::with_capacity(self.samples.len() / 2 + n);
        let mut before = SimTime::ZERO;
        for p in 0..pairs {
            let (a, b) = (&self.samples[2 * p * n..(2 * p + 1) * n], &self.samples[(2 * p + 1) * n..(2 * p + 2) * n]);
            let (la, lb) = (a[0].time.since(before).0 as f64, b[0].time.since(a[0].time).0 as f64);
            let rate = |x: f64, y: f64| if la + lb > 0.0 { (x * la + y * lb) / (la + lb) } else { y };
            merged.extend(a.iter().zip(b).map(|(x, y)| Sample {
                published_per_s: rate(x.published_per_s, y.published_per_s),
                acknowledged_per_s: rate(x.acknowledged_per_s, y.acknowledged_per_s),
                failed_per_s: rate(x.failed_per_s, y.failed_per_s),
                processed_per_s: rate(x.processed_per_s, y.processed_per_s),
                backlog_max: x.backlog_max.max(y.backlog_max),
                consumer_lag_max: x.consumer_lag_max.max(y.consumer_lag_max),
                unacked_max: x.unacked_max.max(y.unacked_max),
                stored_bytes_max: x.stored_bytes_max.max(y.stored_bytes_max),
                ..*y
            }));
            before = b[0].time;
        }
        merged.extend_from_slice(&self.samples[2 * pairs * n..]);
        self.samples = merged;
        self.interval = SimDuration(self.interval.0.saturating_mul(2));
    }

    /// Closes the last, possibly partial, bucket at the end of the run. The series always covers
    /// the whole publishing window, even when the drain finished before `duration`.
    pub fn finish(&mut self, end: SimTime) {
        // A partition still without an owner is paused to the end of the run.
        for g in &mut self.groups {
            for p in 0..g.revoked_at.len() {
                g.partition_assigned(end, p as u32);
            }
        }
        // A rebalance still under way lasts to the end of the run (the drain included).
        for open in &mut self.rebalancing {
            if let Some(i) = open.take() {
                self.annotations[i].last = end;
            }
        }
        let end = end.max(self.end);
        self.advance(end);
        let start = SimTime(self.next_boundary.0 - self.interval.0);
        if end > start {
            self.close_bucket(end, end.since(start));
        } else {
            // The run ended on a boundary: observations at that very instant fell into an interval
            // that is never closed. Fold their maxima and counts into the last samples, so that the
            // series' peaks stay the summary's and its rates add up to the counts.
            let n = self.groups.len();
            let first = self.samples.len().saturating_sub(n);
            let secs = self.interval.as_secs_f64().max(1e-12);
            for x in &mut self.samples[first..] {
                let g = &self.groups[x.group];
                x.published_per_s += self.bucket_published as f64 / secs;
                x.acknowledged_per_s += self.bucket_acknowledged as f64 / secs;
                x.failed_per_s += self.bucket_failed as f64 / secs;
                x.processed_per_s += g.bucket_processed as f64 / secs;
                x.backlog_max = x.backlog_max.max(g.bucket_in_flight_max);
                x.consumer_lag_max = x.consumer_lag_max.max(g.bucket_lag_max);
                x.unacked_max = x.unacked_max.max(g.bucket_unacked_max);
                x.stored_bytes_max = x.stored_bytes_max.max(self.bucket_stored_max.max(0) as u64);
            }
        }
    }

    /// Adds `count` to this interval's annotation of `kind` and `group`, or starts one.
    /// Returns the index of the annotation counted in.
    fn annotate(&mut self, at: SimTime, kind: AnnotationKind, group: Option<usize>, count: u64) -> usize {
        let interval_end = self.next_boundary;
        for (i, a) in self.annotations.iter_mut().enumerate().rev() {
            if a.interval_end != interval_end {
                break;
            }
            if a.kind == kind && a.group == group {
                a.last = at;
                a.count += count;
                return i;
            }
        }
        self.annotations.push(Annotation { kind, group, first: at, last: at, interval_end, count, acknowledged: 0 });
        self.annotations.len() - 1
    }

    /// Step `step` of the fault schedule happened: a fault starts a span, a repair closes the span
    /// of the fault it repairs (a repair expanded from a `duration` names it; a `restart` or
    /// `resume` written in the file closes the open fault of the same target, a `restart` of
    /// "producer" those of every producer host, a `heal` every open partition).
    fn fault_step(&mut self, at: SimTime, step: usize) {
        let Some(f) = self.schedule.get(step) else { return };
        let opens = |a: FaultAction| match a {
            FaultAction::Restart => Some(FaultAction::Crash),
            FaultAction::Resume => Some(FaultAction::Hang),
            FaultAction::Heal => Some(FaultAction::Partition),
            _ => None,
        };
        let Some(fault) = opens(f.action) else {
            self.faults.push(FaultSpan { step, start: at, end: None });
            return;
        };
        let (repairs, action, target) = (f.repairs, f.action, f.target);
        // A restart of "producer" brings back every producer host that is down, however it went.
        let every_producer = repairs.is_none() && target == Some(FaultTarget::Producer);
        let schedule = &self.schedule;
        for span in self.faults.iter_mut().filter(|x| x.end.is_none()) {
            let open = &schedule[span.step];
            let same =
                open.target == target || (every_producer && matches!(open.target, Some(FaultTarget::ProducerHost(_))));
            let matches = match repairs {
                Some(r) => span.step == r,
                None => open.action == fault && (action == FaultAction::Heal || same),
            };
            if matches {
                span.end = Some(at);
                if action != FaultAction::Heal && !every_producer {
                    return;
                }
            }
        }
    }

    /// Group `group` started (`started`) or finished a rebalance.
    fn rebalance(&mut self, at: SimTime, group: usize, started: bool) {
        let Some(open) = self.rebalancing.get_mut(group) else { return };
        match (started, *open) {
            // Another start while one is under way (a rebalance restarted): the same band.
            (true, Some(i)) => self.annotations[i].count += 1,
            (true, None) => {
                let interval_end = self.next_boundary;
                let current = self
                    .annotations
                    .iter()
                    .enumerate()
                    .rev()
                    .take_while(|(_, a)| a.interval_end == interval_end)
                    .find(|(_, a)| a.kind == AnnotationKind::Rebalance && a.group == Some(group))
                    .map(|(i, _)| i);
                let i = match current {
                    Some(i) => {
                        self.annotations[i].count += 1;
                        i
                    }
                    None => {
                        self.annotations.push(Annotation {
                            kind: AnnotationKind::Rebalance,
                            group: Some(group),
                            first: at,
                            last: at,
                            interval_end,
                            count: 1,
                            acknowledged: 0,
                        });
                        self.annotations.len() - 1
                    }
                };
                *open = Some(i);
            }
            (false, Some(i)) => {
                self.annotations[i].last = at;
                *open = None;
            }
            // An end without a start: nothing to close.
            (false, None) => {}
        }
    }

    /// A record deleted by retention (or a fault) before group `gi` processed it was processed
    /// after all (from a consumer's buffer): it is not lost. A message a fault deleted is undone
    /// from the fault's count (the ids are kept, so that it never lands on a retention count, and
    /// the charts agree with the checker); any other at the latest loss of that group still
    /// counting any (or one just before, which the charts merge with it anyway).
    fn undo_retention_loss(&mut self, gi: usize, id: u64) {
        if let Some((acknowledged, i)) = self.fault_lost_ids.remove(&(gi, id)) {
            let a = &mut self.annotations[i];
            a.count -= 1;
            a.acknowledged -= u64::from(acknowledged);
            return;
        }
        if let Some(a) = self.annotations.iter_mut().rev().find(|a| {
            matches!(a.kind, AnnotationKind::RetentionLost | AnnotationKind::FaultLost)
                && a.group == Some(gi)
                && a.count > 0
        }) {
            a.count -= 1;
        }
    }

    /// A record dropped unprocessed for group `gi` at `at`: if an offset reset of that group
    /// happened at that very instant, the drop is a record the reset skipped.
    /// Returns whether it was.
    fn count_skipped(&mut self, at: SimTime, gi: usize) -> bool {
        let interval_end = self.next_boundary;
        let current = self.annotations.iter_mut().rev().take_while(|a| a.interval_end == interval_end);
        if let Some(a) =
            current.into_iter().find(|a| a.kind == AnnotationKind::OffsetReset && a.group == Some(gi) && a.last == at)
        {
            a.count += 1;
            return true;
        }
        false
    }

    /// Group `group`'s stranded ids (never processed, still stored) as sorted runs `[lo, hi)`: the
    /// final read the checker is given.
    pub fn held_runs(&self, group: usize) -> Vec<(u64, u64)> {
        self.groups.get(group).map_or_else(Vec::new, |g| g.window.held_runs())
    }

    pub fn summarize(&self, names: &[String], end_of_run: SimTime) -> SystemSummary {
        let window_secs = self.end.since(self.warmup).as_secs_f64();
        let mut total = GroupSummary::default();
        let mut groups = BTreeMap::new();
        let mut all_fractions = Vec::new();
        let mut pause_ns = 0;
        for ((g, name), busy) in self.groups.iter().zip(names).zip(&self.busy.groups) {
            let (lost, stranded) = g.window.unprocessed();
            let consumers: Vec<ConsumerSummary> = busy
                .iter()
                .enumerate()
                .map(|(i, c)| ConsumerSummary {
                    consumer: i as u32,
                    busy_fraction: round6(self.busy.fraction(c)),
                    processed_in_window: c.processed_in_window,
                    idle: c.idle(),
                })
                .collect();
            let fractions: Vec<f64> = busy.iter().map(|c| self.busy.fraction(c)).collect();
            all_fractions.extend(&fractions);
            let gs = GroupSummary {
                published: g.published,
                processed: g.processed,
                unique_processed: g.unique,
                duplicates: g.processed - g.unique - g.not_owed - g.replayed,
                replayed: g.replayed,
                lost,
                stranded,
                offered_per_s: round6(g.published_in_window as f64 / window_secs),
                throughput_per_s: round6(g.completions_in_window as f64 / window_secs),
                wait_ms: g.wait.summary(),
                latency_ms: g.latency.summary(),
                max_backlog: g.max_in_flight,
                max_consumer_lag: g.max_consumer_lag,
                max_unacked: g.max_unacked,
                idle_consumers: consumers.iter().filter(|c| c.idle).count() as u64,
                busy_fraction: BusyFraction::of(&fractions),
                consumers,
                rebalance_pause_s: round6(SimDuration(g.pause_ns).as_secs_f64()),
                max_rebalance_pause_s: round6(SimDuration(g.max_pause_ns).as_secs_f64()),
                fetch: g.fetch.map(|f| FetchCounts { records_used: g.processed, ..f }),
                latency_by_priority_ms: self.by_priority(std::slice::from_ref(g)),
            };
            if let Some(f) = gs.fetch {
                let t = total.fetch.get_or_insert_with(FetchCounts::default);
                t.records_fetched += f.records_fetched;
                t.bytes_fetched += f.bytes_fetched;
                t.records_used += f.records_used;
            }
            total.published += gs.published;
            total.processed += gs.processed;
            total.unique_processed += gs.unique_processed;
            total.duplicates += gs.duplicates;
            total.replayed += gs.replayed;
            total.lost += lost;
            total.stranded += stranded;
            total.offered_per_s += gs.offered_per_s;
            total.throughput_per_s += gs.throughput_per_s;
            total.max_backlog = total.max_backlog.max(gs.max_backlog);
            total.max_consumer_lag = total.max_consumer_lag.max(gs.max_consumer_lag);
            total.max_unacked = total.max_unacked.max(gs.max_unacked);
            total.idle_consumers += gs.idle_consumers;
            pause_ns += g.pause_ns;
            total.max_rebalance_pause_s = total.max_rebalance_pause_s.max(gs.max_rebalance_pause_s);
            groups.insert(name.clone(), gs);
        }
        let (wait, latency) = self.merged();
        total.rebalance_pause_s = round6(SimDuration(pause_ns).as_secs_f64());
        total.offered_per_s = round6(total.offered_per_s);
        total.throughput_per_s = round6(total.throughput_per_s);
        total.wait_ms = wait.summary();
        total.latency_ms = latency.summary();
        total.latency_by_priority_ms = self.by_priority(&self.groups);
        total.busy_fraction = BusyFraction::of(&all_fractions);
        SystemSummary {
            messages_published: self.messages_published,
            total,
            confirm_ms: self
                .confirms
                .as_ref()
                .map_or_else(|| DurationStats::default().summary(), |c| c.stats.summary()),
            peak_stored_bytes: self.peak_stored_bytes.max(0) as u64,
            end_of_run_s: round6(end_of_run.as_secs_f64()),
            drain_stalled: false,
            utilisation: None,
            compression: None,
            resource_alarms: None,
            groups,
        }
    }

    /// The latency of each priority over `groups`, merged.
    fn by_priority(&self, groups: &[GroupCounts]) -> BTreeMap<u8, Percentiles> {
        let Some(p) = &self.priorities else { return BTreeMap::new() };
        p.levels()
            .enumerate()
            .map(|(i, level)| {
                let mut d = DurationStats::default();
                groups.iter().for_each(|g| d.merge(&g.latency_by_priority[i]));
                (level, d.summary())
            })
            .collect()
    }

    /// All groups' wait statistics merged (for oracle tests and charts).
    pub fn merged(&self) -> (DurationStats, DurationStats) {
        let mut wait = DurationStats::default();
        let mut latency = DurationStats::default();
        for g in &self.groups {
            wait.merge(&g.wait);
            latency.merge(&g.latency);
        }
        (wait, latency)
    }
}

impl History for Recorder {
    // Inlined into each call site, where the observation's kind is known: only its branch remains.
    #[inline(always)]
    fn record(&mut self, at: SimTime, obs: Observation) {
        if at >= self.next_boundary {
            self.advance(at);
        }
        match obs {
            Observation::Client(ClientEvent::Sent { msg }) => {
                self.messages_published += 1;
                if let Some(c) = &mut self.confirms {
                    c.sent(msg.id, at, msg.published_at >= self.warmup);
                }
                self.bucket_published += 1;
                self.next_id = msg.id + 1;
                let in_window = msg.published_at >= self.warmup;
                let mask = self.routing.as_ref().map_or(u64::MAX, |(subs, system)| subs.owed(*system, msg.id));
                for (gi, g) in self.groups.iter_mut().enumerate() {
                    if at < g.start || !crate::subscriptions::has(mask, gi) {
                        continue;
                    }
                    // Offered to the group: only what it is owed (a late group from its start on).
                    g.published_in_window += u64::from(in_window);
                    g.first_owed.get_or_insert(msg.id);
                    g.window.publish(msg.id);
                    g.published += 1;
                    // The in-flight count only rises here: its peaks are seen on publication.
                    let in_flight = g.in_flight();
                    g.bucket_in_flight_max = g.bucket_in_flight_max.max(in_flight);
                    g.max_in_flight = g.max_in_flight.max(in_flight);
                }
            }
            Observation::Client(ClientEvent::ProcessingStarted { msg, group, consumer }) => {
                self.busy.started(at, group, consumer, msg.id());
                let g = &self.groups[group];
                if msg.published_at >= self.warmup && (msg.id() >= g.replay_below || !g.window.was_processed(msg.id()))
                {
                    self.groups[group].wait.record(at.since(msg.published_at));
                }
            }
            Observation::Client(ClientEvent::Processed { msg, group, consumer }) => {
                self.busy.processed(at, group, consumer, msg.id());
                let in_window = at >= self.warmup && at < self.end;
                let g = &mut self.groups[group];
                g.processed += 1;
                g.bucket_processed += 1;
                if in_window {
                    g.completions_in_window += 1;
                }
                if g.first_owed.is_none_or(|first| msg.id() < first) {
                    g.not_owed += 1;
                    return;
                }
                let mut undropped = false;
                let first = g.window.processed(msg.id());
                if let FirstTime::Yes { was_deleted } = first {
                    g.unique += 1;
                    if was_deleted {
                        g.dropped -= 1;
                        undropped = true;
                    }
                }
                let replay = first == FirstTime::No && msg.id() < g.replay_below;
                if replay && g.replayed_ids.insert(msg.id()) {
                    g.replayed += 1;
                }
                if msg.published_at >= self.warmup && !replay {
                    g.latency.record(at.since(msg.published_at));
                    if let Some(p) = &self.priorities {
                        g.latency_by_priority[p.index_of(msg.id())].record(at.since(msg.published_at));
                    }
                }
                if undropped {
                    self.undo_retention_loss(group, msg.id());
                }
            }
            Observation::Deleted { id, group } => match group {
                Some(gi) => {
                    let g = &mut self.groups[gi];
                    let acknowledged = g.window.was_acknowledged(id);
                    if g.window.deleted(id) {
                        g.dropped += 1;
                        // Kafka reports the records an offset reset skips as deleted for the group,
                        // at the instant of the reset; a node that crashes deletes what it held
                        // at the instant of the fault.
                        if !self.count_skipped(at, gi) {
                            if self.faults.last().is_some_and(|f| f.start == at) {
                                let i = self.annotate(at, AnnotationKind::FaultLost, Some(gi), 1);
                                self.fault_lost_ids.insert((gi, id), (acknowledged, i));
                                self.annotations[i].acknowledged += u64::from(acknowledged);
                            } else if self.last_election == Some(at) {
                                self.annotate(at, AnnotationKind::Truncated, Some(gi), 1);
                            }
                        }
                    }
                }
                None => {
                    for gi in 0..self.groups.len() {
                        let g = &mut self.groups[gi];
                        if g.window.deleted(id) {
                            g.dropped += 1;
                            self.annotate(at, AnnotationKind::RetentionLost, Some(gi), 1);
                        }
                    }
                    self.annotate(at, AnnotationKind::RetentionDeleted, None, 1);
                }
            },
            Observation::OffsetReset { group, .. } => {
                self.annotate(at, AnnotationKind::OffsetReset, Some(group), 0);
            }
            Observation::Client(ClientEvent::Sought { group, .. }) => {
                let g = &mut self.groups[group];
                g.replay_below = self.next_id;
                g.replayed_ids = Default::default();
            }
            Observation::Client(ClientEvent::Acknowledged { id }) => {
                self.bucket_acknowledged += 1;
                if let Some(c) = &mut self.confirms {
                    c.acknowledged(id, at);
                }
                for g in &mut self.groups {
                    g.window.acknowledged(id);
                }
                if !self.fault_lost_ids.is_empty() {
                    for gi in 0..self.groups.len() {
                        if let Some((acknowledged, i)) = self.fault_lost_ids.get_mut(&(gi, id))
                            && !*acknowledged
                        {
                            *acknowledged = true;
                            self.annotations[*i].acknowledged += 1;
                        }
                    }
                }
            }
            Observation::Client(ClientEvent::SendFailed { id }) => {
                self.bucket_failed += 1;
                if let Some(c) = &mut self.confirms {
                    c.failed(id);
                }
            }
            Observation::Fault { step } => self.fault_step(at, step),
            Observation::Rebalance { group, started } => self.rebalance(at, group, started),
            Observation::PartitionRevoked { group, partition } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.partition_revoked(at, partition);
                }
            }
            Observation::PartitionAssigned { group, partition } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.partition_assigned(at, partition);
                }
            }
            Observation::LeaderElected { .. } => {
                self.last_election = Some(at);
                self.annotate(at, AnnotationKind::Election, None, 1);
            }
            Observation::StorageChanged { delta } => {
                self.stored_bytes += delta;
                self.peak_stored_bytes = self.peak_stored_bytes.max(self.stored_bytes);
                self.bucket_stored_max = self.bucket_stored_max.max(self.stored_bytes);
            }
            Observation::Backlog { group, messages, unacked } => {
                let g = &mut self.groups[group];
                g.consumer_lag = messages;
                g.max_consumer_lag = g.max_consumer_lag.max(messages);
                g.bucket_lag_max = g.bucket_lag_max.max(messages);
                g.unacked = unacked;
                g.max_unacked = g.max_unacked.max(unacked);
                g.bucket_unacked_max = g.bucket_unacked_max.max(unacked);
            }
            Observation::Stored { msg } => {
                for gi in 0..self.groups.len() {
                    let g = &mut self.groups[gi];
                    // Deleted unprocessed before (a publish that reached no queue, re-published
                    // once the node was back): held again, so no longer dropped.
                    if g.window.stored(msg.id()) {
                        g.dropped -= 1;
                        self.undo_retention_loss(gi, msg.id());
                    }
                }
            }
            Observation::Client(ClientEvent::Delivered { msg, group, .. }) => {
                if let Some(f) = &mut self.groups[group].fetch {
                    f.records_fetched += 1;
                    f.bytes_fetched += msg.bytes();
                }
            }
            Observation::Client(ClientEvent::ProcessingFailed { msg, group, consumer }) => {
                // The attempt's work is over, as if it had finished.
                self.busy.processed(at, group, consumer, msg.id());
            }
            Observation::Client(ClientEvent::Settled { id, group, outcome }) => {
                let g = &mut self.groups[group];
                if outcome != crate::history::Settlement::Retrying
                    && g.first_owed.is_some_and(|first| id >= first)
                    && let FirstTime::Yes { was_deleted } = g.window.processed(id)
                {
                    g.settled += 1;
                    if was_deleted {
                        g.dropped -= 1;
                    }
                }
            }
            Observation::Client(ClientEvent::Acked { .. } | ClientEvent::Committed { .. })
            | Observation::Committed { .. }
            | Observation::Step(_) => {}
        }
    }
}

/// With routing (issue 18), per group: the records (Kafka) or messages (RabbitMQ) delivered to its
/// consumers and their bytes, and how many of them it used (processing completions). A Kafka
/// group with `filter = "consumer"` fetches records it then discards: `records_fetched` exceeds
/// `records_used`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchCounts {
    pub records_fetched: u64,
    pub bytes_fetched: u64,
    pub records_used: u64,
}

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct GroupSummary {
    pub published: u64,
    pub processed: u64,
    pub unique_processed: u64,
    /// Re-processing nobody asked for (replays are not duplicates).
    pub duplicates: u64,
    /// Re-processing after the group rewound on purpose (once per message per seek).
    pub replayed: u64,
    pub lost: u64,
    pub stranded: u64,
    pub offered_per_s: f64,
    pub throughput_per_s: f64,
    pub wait_ms: Percentiles,
    pub latency_ms: Percentiles,
    /// Most messages in flight at once: published (owed to the group), not yet processed, not
    /// dropped. Counted from the history the same way in both systems, at every observation.
    pub max_backlog: u64,
    /// Peak of the system's own lag gauge: Kafka log end offset minus committed offset (records
    /// processed but not yet committed included), RabbitMQ queue depth (ready plus unacked).
    pub max_consumer_lag: u64,
    /// Most messages handed to consumers and not yet acknowledged at once (RabbitMQ: delivered,
    /// not acked; Kafka: fetched past the committed offset).
    pub max_unacked: u64,
    /// Consumers that did no work in the window [warmup, duration): no busy time, no completion
    /// (see [`busy`]).
    pub idle_consumers: u64,
    /// Busy fraction (busy time / window) over the consumers: mean, smallest, largest.
    pub busy_fraction: BusyFraction,
    /// Each consumer, by index (a group's only: the system's totals leave it out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerSummary>,
    /// Kafka: seconds partitions spent without an owner able to process them because a rebalance
    /// revoked them or they were moving (revocation, or an eager rebalance's start, to the new
    /// owner receiving them), summed over partitions; 0 for RabbitMQ.
    pub rebalance_pause_s: f64,
    /// The longest single such pause of one partition.
    pub max_rebalance_pause_s: f64,
    /// With routing only: records fetched and used (left out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchCounts>,
    /// With `[workload] priorities` only: `latency_ms` of the messages of each priority.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_by_priority_ms: BTreeMap<u8, Percentiles>,
}

/// Busy fractions of a set of consumers, rounded to 6 decimals (0 when there is none).
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Default)]
pub struct BusyFraction {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl BusyFraction {
    fn of(fractions: &[f64]) -> BusyFraction {
        if fractions.is_empty() {
            return BusyFraction::default();
        }
        let n = fractions.len() as f64;
        BusyFraction {
            mean: round6(fractions.iter().sum::<f64>() / n),
            min: round6(fractions.iter().copied().fold(f64::INFINITY, f64::min)),
            max: round6(fractions.iter().copied().fold(0.0, f64::max)),
        }
    }
}

/// One consumer's utilisation in the window [warmup, duration).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ConsumerSummary {
    /// Its index in the group (`GROUP/N` in a fault target).
    pub consumer: u32,
    /// Busy time (completed jobs' processing, clipped to the window) / window length.
    pub busy_fraction: f64,
    /// Its processing completions in the window.
    pub processed_in_window: u64,
    /// No busy time and no completion in the window.
    pub idle: bool,
}

impl Default for Percentiles {
    fn default() -> Self {
        DurationStats::default().summary()
    }
}

/// A system's totals: the group fields summed over groups (wait and latency over all of them,
/// `max_backlog`, `max_consumer_lag` and `max_unacked` the largest of any group), plus what only the system has.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SystemSummary {
    /// Messages the producers published (the same for every system).
    pub messages_published: u64,
    #[serde(flatten)]
    pub total: GroupSummary,
    /// The producer's send to the broker's acknowledgement (Kafka produce response, RabbitMQ
    /// publisher confirm) of the messages sent after the warmup; 0 where the send is its own
    /// acknowledgement (Kafka `acks = 0`); empty (count 0) for RabbitMQ without confirms.
    pub confirm_ms: Percentiles,
    pub peak_stored_bytes: u64,
    /// Simulated time when the run ended (after the drain).
    pub end_of_run_s: f64,
    /// The drain stopped because nothing could happen any more: no client event for
    /// `DRAIN_STALL_LIMIT` after the schedule's end (only written when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drain_stalled: bool,
    /// Resource utilisation over the whole run and the bottleneck (calibrated profiles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilisation: Option<crate::world::resources::Utilisation>,
    /// Kafka's producer compression (`compression.type` other than none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<crate::models::kafka::producer::CompressionStats>,
    /// The nodes' memory and disk alarms and how long they blocked publishing (RabbitMQ under a
    /// calibrated profile, only when one was raised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_alarms: Option<crate::world::alarms::ResourceAlarms>,
    pub groups: BTreeMap<String, GroupSummary>,
}

/// `summary.lost` reads the system total, as it reads in summary.json.
impl std::ops::Deref for SystemSummary {
    type Target = GroupSummary;
    fn deref(&self) -> &GroupSummary {
        &self.total
    }
}

#[cfg(test)]
mod coarsening_tests {
    use super::*;
    use crate::history::{ClientEvent, History, Observation};
    use crate::workload::Message;

    /// One message sent every 250 ms for 100 s, sampled every second, with room for 16 rows: the
    /// series halves each time it reaches 16, so it never holds more, its times still rise to the
    /// end, and its rates, weighted by each row's interval, still add up to the 400 messages sent.
    #[test]
    fn a_long_series_halves_itself_and_keeps_its_totals() {
        let toml = "duration = \"100s\"\nsample_interval = \"1s\"\n[workload]\nrate = 4.0\n[[groups]]\nname = \"g\"\n";
        let s = crate::scenario::Scenario::parse(toml, "t.toml", false).unwrap();
        let mut r = Recorder::new(&s);
        r.max_rows = 16;
        for id in 0..400u64 {
            let at = SimTime(id * 250_000_000 + 1);
            let msg = Message { id, published_at: at, key: None, bytes: 100 };
            r.record(at, Observation::Client(ClientEvent::Sent { msg }));
            assert!(r.samples.len() < 16, "{} rows at {id}", r.samples.len());
        }
        r.finish(SimTime(100_000_000_000));
        assert!(r.samples.len() <= 16);
        assert_eq!(r.samples.last().unwrap().time, SimTime(100_000_000_000));
        let mut before = SimTime::ZERO;
        let mut sent = 0.0;
        for x in &r.samples {
            assert!(x.time > before, "times rise");
            sent += x.published_per_s * x.time.since(before).as_secs_f64();
            before = x.time;
        }
        assert!((sent - 400.0).abs() < 1e-6, "{sent} sent by the rates");
        assert!(r.interval > s.sample_interval, "the interval grew");
    }
}
