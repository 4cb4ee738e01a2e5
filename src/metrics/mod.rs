//! The recorder: an observer that recounts a run from its history alone. It never asks a model for
//! its counters, so a model that loses or duplicates messages cannot hide it.
//!
//! Definitions (per (message, group); system totals are sums over groups):
//! * `published`: deliveries owed, i.e. messages published times groups subscribed.
//! * `processed`: processing completions, duplicates included.
//! * `unique_processed`: messages processed at least once.
//! * `duplicates`: processed - unique_processed.
//! * `lost`: never processed, and no longer held by the broker (deleted by retention or dropped).
//! * `stranded`: never processed by the end of the drain, still held by the broker.
//!   Always: published = unique_processed + lost + stranded.
//! * wait: publish -> processing start; latency: publish -> processing done; for messages
//!   published after the warmup, exact mean, HDR percentiles (3 significant digits), exact max.
//! * `throughput_per_s`: processing completions in [warmup, duration) per second.
//! * `max_backlog`, `max_unacked`: the systems' own gauges (see [`Observation::Backlog`]).

pub mod window;

use crate::history::{ClientEvent, History, Observation};
use crate::scenario::Scenario;
use crate::time::{SimDuration, SimTime};
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
    fn record(&mut self, d: SimDuration) {
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
    pub published: u64,
    pub processed: u64,
    pub unique: u64,
    /// Deleted while unprocessed (may be undone if a client buffer still processes it).
    pub dropped: u64,
    pub completions_in_window: u64,
    pub backlog: u64,
    pub max_backlog: u64,
    pub unacked: u64,
    pub max_unacked: u64,
    pub wait: DurationStats,
    pub latency: DurationStats,
    bucket_processed: u64,
}

/// One time-series sample: the bucket ending at `time`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub time: SimTime,
    pub group: usize,
    pub published_per_s: f64,
    pub processed_per_s: f64,
    pub backlog: u64,
    pub unacked: u64,
    pub in_flight: u64,
    pub stored_bytes: u64,
}

pub struct Recorder {
    warmup: SimTime,
    end: SimTime,
    interval: SimDuration,
    next_boundary: SimTime,
    pub messages_published: u64,
    published_in_window: u64,
    bucket_published: u64,
    stored_bytes: i64,
    peak_stored_bytes: i64,
    pub groups: Vec<GroupCounts>,
    pub samples: Vec<Sample>,
    last_time: SimTime,
}

impl Recorder {
    pub fn new(s: &Scenario) -> Self {
        Recorder {
            warmup: SimTime(s.warmup.0),
            end: SimTime(s.duration.0),
            interval: s.sample_interval,
            next_boundary: SimTime(s.sample_interval.0),
            messages_published: 0,
            published_in_window: 0,
            bucket_published: 0,
            stored_bytes: 0,
            peak_stored_bytes: 0,
            groups: vec![GroupCounts::default(); s.groups.len()],
            samples: Vec::new(),
            last_time: SimTime::ZERO,
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
            self.samples.push(Sample {
                time,
                group: i,
                published_per_s: self.bucket_published as f64 / secs,
                processed_per_s: g.bucket_processed as f64 / secs,
                backlog: g.backlog,
                unacked: g.unacked,
                in_flight: g.published - g.unique - g.dropped,
                stored_bytes: self.stored_bytes.max(0) as u64,
            });
            g.bucket_processed = 0;
        }
        self.bucket_published = 0;
    }

    /// Closes the last, possibly partial, bucket at the end of the run. The series always covers
    /// the whole publishing window, even when the drain finished before `duration`.
    pub fn finish(&mut self, end: SimTime) {
        let end = end.max(self.end);
        self.advance(end);
        let start = SimTime(self.next_boundary.0 - self.interval.0);
        if end > start {
            self.close_bucket(end, end.since(start));
        }
    }

    pub fn summarize(&self, names: &[String], end_of_run: SimTime) -> SystemSummary {
        let window_secs = self.end.since(self.warmup).as_secs_f64();
        let mut total = GroupSummary::default();
        let mut groups = BTreeMap::new();
        for (g, name) in self.groups.iter().zip(names) {
            let (lost, stranded) = g.window.unprocessed();
            let gs = GroupSummary {
                published: g.published,
                processed: g.processed,
                unique_processed: g.unique,
                duplicates: g.processed - g.unique,
                lost,
                stranded,
                offered_per_s: round6(self.published_in_window as f64 / window_secs),
                throughput_per_s: round6(g.completions_in_window as f64 / window_secs),
                wait_ms: g.wait.summary(),
                latency_ms: g.latency.summary(),
                max_backlog: g.max_backlog,
                max_unacked: g.max_unacked,
            };
            total.published += gs.published;
            total.processed += gs.processed;
            total.unique_processed += gs.unique_processed;
            total.duplicates += gs.duplicates;
            total.lost += lost;
            total.stranded += stranded;
            total.offered_per_s += gs.offered_per_s;
            total.throughput_per_s += gs.throughput_per_s;
            total.max_backlog = total.max_backlog.max(gs.max_backlog);
            total.max_unacked = total.max_unacked.max(gs.max_unacked);
            groups.insert(name.clone(), gs);
        }
        let (wait, latency) = self.merged();
        total.offered_per_s = round6(total.offered_per_s);
        total.throughput_per_s = round6(total.throughput_per_s);
        total.wait_ms = wait.summary();
        total.latency_ms = latency.summary();
        SystemSummary {
            messages_published: self.messages_published,
            total,
            peak_stored_bytes: self.peak_stored_bytes.max(0) as u64,
            end_of_run_s: round6(end_of_run.as_secs_f64()),
            groups,
        }
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
    #[inline]
    fn record(&mut self, at: SimTime, obs: Observation) {
        if at >= self.next_boundary {
            self.advance(at);
        }
        match obs {
            Observation::Client(ClientEvent::Sent { msg }) => {
                self.messages_published += 1;
                self.bucket_published += 1;
                if msg.published_at >= self.warmup {
                    self.published_in_window += 1;
                }
                for g in &mut self.groups {
                    g.window.publish(msg.id);
                    g.published += 1;
                }
            }
            Observation::Client(ClientEvent::ProcessingStarted { msg, group, .. }) => {
                if msg.published_at >= self.warmup {
                    self.groups[group].wait.record(at.since(msg.published_at));
                }
            }
            Observation::Client(ClientEvent::Processed { msg, group, .. }) => {
                let in_window = at >= self.warmup && at < self.end;
                let g = &mut self.groups[group];
                g.processed += 1;
                g.bucket_processed += 1;
                if in_window {
                    g.completions_in_window += 1;
                }
                if let FirstTime::Yes { was_deleted } = g.window.processed(msg.id()) {
                    g.unique += 1;
                    if was_deleted {
                        g.dropped -= 1;
                    }
                }
                if msg.published_at >= self.warmup {
                    g.latency.record(at.since(msg.published_at));
                }
            }
            Observation::Deleted { id, group } => match group {
                Some(gi) => {
                    let g = &mut self.groups[gi];
                    if g.window.deleted(id) {
                        g.dropped += 1;
                    }
                }
                None => {
                    for g in &mut self.groups {
                        if g.window.deleted(id) {
                            g.dropped += 1;
                        }
                    }
                }
            },
            Observation::StorageChanged { delta } => {
                self.stored_bytes += delta;
                self.peak_stored_bytes = self.peak_stored_bytes.max(self.stored_bytes);
            }
            Observation::Backlog { group, messages, unacked } => {
                let g = &mut self.groups[group];
                g.backlog = messages;
                g.max_backlog = g.max_backlog.max(messages);
                g.unacked = unacked;
                g.max_unacked = g.max_unacked.max(unacked);
            }
            Observation::Stored { .. }
            | Observation::Client(
                ClientEvent::Delivered { .. }
                | ClientEvent::Acknowledged { .. }
                | ClientEvent::SendFailed { .. }
                | ClientEvent::Acked { .. }
                | ClientEvent::Committed { .. },
            )
            | Observation::Committed { .. }
            | Observation::OffsetReset { .. } => {}
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct GroupSummary {
    pub published: u64,
    pub processed: u64,
    pub unique_processed: u64,
    pub duplicates: u64,
    pub lost: u64,
    pub stranded: u64,
    pub offered_per_s: f64,
    pub throughput_per_s: f64,
    pub wait_ms: Percentiles,
    pub latency_ms: Percentiles,
    pub max_backlog: u64,
    /// Most messages handed to consumers and not yet acknowledged at once (RabbitMQ: delivered,
    /// not acked; Kafka: fetched past the committed offset).
    pub max_unacked: u64,
}

impl Default for Percentiles {
    fn default() -> Self {
        DurationStats::default().summary()
    }
}

/// A system's totals: the group fields summed over groups (wait and latency over all of them,
/// `max_backlog` the largest of any group), plus what only the system has.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SystemSummary {
    /// Messages the producers published (the same for every system).
    pub messages_published: u64,
    #[serde(flatten)]
    pub total: GroupSummary,
    pub peak_stored_bytes: u64,
    /// Simulated time when the run ended (after the drain).
    pub end_of_run_s: f64,
    pub groups: BTreeMap<String, GroupSummary>,
}

/// `summary.lost` reads the system total, as it reads in summary.json.
impl std::ops::Deref for SystemSummary {
    type Target = GroupSummary;
    fn deref(&self) -> &GroupSummary {
        &self.total
    }
}
