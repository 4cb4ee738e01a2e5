//! The size guard: before a run, estimate the simulator's peak memory and CPU time from the scenario
//! alone, refuse a runaway scenario with the estimate and the remedy (unless `--force`), choose a
//! default sample interval that covers the drain, warn about a huge `--history`, and explain each
//! group's offered load against its capacity for `validate`.
//!
//! The estimate is a sum of terms, each a count the scenario determines times a cost measured on
//! this implementation (see the constants below for what was measured). The counts are upper-ish
//! bounds from a fluid model of the load (arrival rate against service rate, phase by phase); the
//! tests in `tests/it/guard.rs` compare them with the same counts taken from real runs (events,
//! observations, backlog, retained records, samples), never with wall time.
//!
//! Both systems run at the same time on their own threads, so their memory adds up; CPU time is
//! the sum over both (user + system time, as `/usr/bin/time` reports it).

use crate::models::kafka::partitioner::partition_for_key;
use crate::scenario::defaults as d;
use crate::scenario::{GroupKind, Keys, Scenario, ScenarioError, SystemKind};
use crate::time::{SimDuration, format_duration};
use std::collections::BTreeMap;

/// Loads a scenario file, with its `--set` overrides, and admits it ([`admit`]): what the CLI runs.
pub fn load(path: &std::path::Path, sets: &[crate::scenario::overrides::Override]) -> Result<Scenario, ScenarioError> {
    admit(Scenario::load_with(path, sets)?, &path.display().to_string())
}

/// Parses scenario text and admits it; `file` is only used in error messages.
pub fn parse(text: &str, file: &str, json: bool) -> Result<Scenario, ScenarioError> {
    admit(Scenario::parse(text, file, json)?, file)
}

/// What the file's own checks cannot say without an estimate of the run: a poll whose records
/// must outlast `max.poll.interval.ms` is refused (warnings are the CLI's), and a default sample
/// interval is widened when the drain would take the series past the default number of samples.
pub fn admit(mut scenario: Scenario, file: &str) -> Result<Scenario, ScenarioError> {
    poll_interval_check(&scenario, file)?;
    if !scenario.sample_interval_set {
        let end = estimated_run_end(&scenario);
        if end.0 / scenario.sample_interval.0 > d::MAX_DEFAULT_SAMPLES {
            scenario.sample_interval = crate::scenario::nice_interval(end);
        }
    }
    Ok(scenario)
}
use std::fmt::Write as _;

// ---- Costs, measured with `/usr/bin/time -v` (max RSS, user + sys) on `pushpull run --quiet`, release
// build, on a shared 2-core x86-64 machine. Figures are whole runs (both systems, charts drawn)
// unless said otherwise. ----

/// Peak RSS of a small run (both systems, 500 samples, charts drawn): 8 to 12 MiB measured.
const BASE_BYTES: f64 = 16.0 * MIB;
/// The log: 16 bytes per retained record. Measured: 10^7 records retained (Kafka alone) peaked at
/// 156 MiB. A `VecDeque` doubles; only the pages written count, but while it grows the old and the
/// new buffer may both be resident: 24 bytes.
const LOG_RECORD_BYTES: f64 = 24.0;
/// A segment: 32 bytes in a `VecDeque`.
const SEGMENT_BYTES: f64 = 64.0;
/// A queued copy: 16 bytes in a `VecDeque` (ready or in a consumer's inbox). Measured: a RabbitMQ
/// backlog of 9.8 x 10^6 messages (RabbitMQ alone) peaked at 166 MiB, window included (17.8 B a
/// copy); a backlog of 9.5 x 10^6 in both systems at about 24 B a copy (growth caught mid-copy).
const QUEUE_COPY_BYTES: f64 = 24.0;
/// The recorder's loss window: one byte per message in flight, growth slack included.
const WINDOW_BYTES: f64 = 2.0;
/// A record in a Kafka consumer's fetch buffer: 32 bytes in a `VecDeque`.
const FETCHED_BYTES: f64 = 48.0;
/// A pending event on the heap: a 24-byte heap entry and a slab slot of up to 48 bytes.
const PENDING_EVENT_BYTES: f64 = 96.0;
/// One time-series row (one sample of one group in one system): the 64-byte `Sample` in a doubling
/// `Vec`, its line of `timeseries.csv` (built in memory) and its chart points. Measured: 4.84 M
/// rows peaked at 469 MiB (99 B a row), 8 M rows at 762 MiB (95 B), 4 M at 388 MiB (97 B).
const ROW_BYTES: f64 = 110.0;
/// One HDR histogram bucket (1024 `u64` counters at 3 significant digits); a group has two
/// histograms per system (wait, latency), with one bucket per power of two of the largest value.
const HISTOGRAM_BUCKET_BYTES: f64 = 8192.0;
/// Per group and system besides the histograms: counters, the window, the queue or the group's
/// offsets.
const GROUP_BYTES: f64 = 2048.0;
/// Per group and system beyond the first: the charts' lines and legend entries, per-group series.
/// Measured: 25, 50 and 100 groups of one consumer in both systems peaked at 124, 238 and 459 MiB
/// (2.2 MiB a group and system, whatever the samples or the duration); one group at 17 MiB.
const EXTRA_GROUP_BYTES: f64 = 2.2 * MIB;
/// Per Kafka consumer (a struct of four `Vec`s, two `VecDeque`s and timers) and per RabbitMQ one.
/// Measured: one group of 10^5 consumers, both systems, peaked at 33 MiB.
const KAFKA_CONSUMER_BYTES: f64 = 256.0;
const RABBITMQ_CONSUMER_BYTES: f64 = 80.0;
/// Per partition and Kafka group: owner, committed offset, and the owning consumer's positions.
const PARTITION_GROUP_BYTES: f64 = 48.0;
/// Per partition of the log.
const PARTITION_BYTES: f64 = 160.0;

/// CPU per observation the recorder counts (the models' work for it included). Measured on M/M/4
/// at rho 0.7 (10 ms, 280/s), 10^6 messages, one system at a time: Kafka 0.29 s with one group and
/// 0.95 s with four (34 and 40 ns per estimated observation), RabbitMQ 0.24 s and 0.83 s (22 ns).
const NS_PER_OBSERVATION_KAFKA: f64 = 70.0;
/// Extra Kafka CPU per message for each replica beyond the first, as a share of the unreplicated
/// cost (M/M/10 on three brokers: RF 3 took 0.31 s against 0.24 s for RF 1).
const REPLICA_CPU_SHARE: f64 = 0.15;
const NS_PER_OBSERVATION_RABBITMQ: f64 = 40.0;
/// A timer event: a long-poll expiry (with its empty answer and lag report) or a retention check,
/// plus a term for the heap of pending timers. Measured: 2 x 10^7 expiries of 10 idle consumers
/// (fetch_max_wait 1ms) took 1.41 s (70 ns each); 1.25 x 10^7 of 1000 consumers took 3.2 s (260
/// ns); 2 x 10^6 retention checks of 100 partitions took 0.35 s.
const NS_PER_TIMER: f64 = 60.0;
const NS_PER_TIMER_PER_LOG2_PENDING: f64 = 20.0;
/// Looking at one partition in a retention check, and in a fetch: 3 ns for a consumer owning up
/// to 1,000 partitions (10^4 partitions over 10 consumers, 6 x 10^8 visits: 1.9 s), more as its
/// offsets outgrow the caches (100,000 partitions owned by one consumer, 36,000 messages: 33 s
/// for 4.3 x 10^9 visits, 7.7 ns).
const NS_PER_PARTITION_VISIT: f64 = 2.0;
/// Nanoseconds per partition visited by a fetch of a consumer owning `owned` partitions.
fn fetch_visit_ns(owned: f64) -> f64 {
    3.0 + 2.35 * (owned.max(1.0).log10() - 3.0).max(0.0)
}
/// A long-poll expiry's request and answer on the network.
const NS_PER_EXPIRY_HOP: f64 = 25.0;
/// Every event the engine handles costs this much besides the observations it makes, and more
/// when millions are pending: this much per level of the heap beyond the first six. Fitted on
/// thread CPU time of each system's simulation (the lessons and the shapes of the guard's test
/// grid): Kafka 100 to 280 ns per event all told, RabbitMQ 100 to 240, a quorum queue's Raft
/// events up to 640. Earlier: RabbitMQ alone, 10 s latency, 5.5 x 10^6 messages to 3 groups,
/// about 1.6 x 10^6 events pending at the peak: 12.9 s.
const NS_PER_EVENT_KAFKA: f64 = 100.0;
const NS_PER_EVENT_RABBITMQ: f64 = 50.0;
const NS_PER_EVENT_QUORUM: f64 = 200.0;
const NS_PER_HEAP_LEVEL: f64 = 10.0;
/// Engine events per message (`b`) and per message and group (`g`), counted on the lessons:
/// Kafka without latency 2.8 to 5.7 for one group (fewer when a fetch brings many records) and
/// 2.35 per group with 100 (the producer's send, the broker's append, a fetch answer, the
/// processing's end, commits and lag reports); with a network, every hop too (10 for three
/// groups on lan). RabbitMQ 5 for one group and 3
/// per group with 100 (publish, route, deliver, processing end, ack), network or not.
const KAFKA_EVENTS: (f64, f64) = (1.5, 2.5);
/// A share group acknowledges each record in its own request: 6.9 events per message in all.
const SHARE_GROUP_EVENTS: f64 = 2.0;
const KAFKA_EVENTS_LATENCY: (f64, f64) = (2.0, 3.0);
const RABBITMQ_EVENTS: (f64, f64) = (2.0, 3.0);
/// A quorum queue replicates each enqueue and each settlement to every follower and hears back:
/// 13 events per message on 3 nodes (8 more than a classic queue), 19 to 23 at lower rates
/// where Raft batches less.
const QUORUM_EVENTS_PER_FOLLOWER: f64 = 6.0;
/// RabbitMQ's events per costless event under a calibrated profile: the `Served` event of each
/// frame that waited at its node (fitted on the costed lessons).
const SERVED_EVENTS_FACTOR: f64 = 1.75;

/// Kafka events per client and second while a drain stalls behind a broker that is down.
const STALL_EVENTS_PER_CLIENT_S: f64 = 5.0;
/// Charts drawn and files written by the smallest run: 0.11 s measured.
const BASE_CPU_SECS: f64 = 0.12;
/// Looking at one RabbitMQ consumer's prefetch window when dispatching.
const NS_PER_CONSUMER_VISIT: f64 = 2.0;
/// One time-series row: sampling, formatting its CSV line, drawing its chart points. Measured:
/// 550 to 600 ns (4 to 8 M rows).
const NS_PER_ROW: f64 = 650.0;
/// The backlog chart filters every row once per group.
const NS_PER_ROW_PER_GROUP: f64 = 1.5;
/// With several groups the backlog chart draws one line (3 in 4 dashed) and one legend entry per
/// group and system. When the legend is taller than the chart (beyond about 70 lines), the plot
/// area ends up with a negative height and every line spans thousands of pixels, each dash a
/// separate SVG element: the cost is then about proportional to lines x samples x the legend's
/// excess height. Measured (300 to 1000 samples): 200 lines 66 MiB and 0.24 s; 400 lines 150 MiB
/// and 0.8 s; 600 lines 813 MiB and 9.2 s; 800 lines 382 MiB and 2.9 s; 2000 lines 1.6 GiB and
/// 17.5 s; 400 lines and 1000 samples 698 MiB and 8.3 s (the worst: 0.7 bytes and 9 ns per line,
/// sample and pixel; 0.9 bytes is used). With fewer, flatter lines this overestimates up to 7x.
const CHART_BYTES_PER_LINE_SAMPLE_PIXEL: f64 = 0.9;
const CHART_NS_PER_LINE_SAMPLE_PIXEL: f64 = 9.0;
/// The chart's geometry (`report::charts`): 1000 x 560 pixels, about 80 for the title, 64 for the
/// axis, legend rows of 24 pixels, entries of 42 pixels plus about 7.2 per character of label,
/// 28 apart, in rows of at most 960 pixels.
const CHART_PLOT_PIXELS: f64 = 416.0;

/// Observations per message (`b`) and per message and group (`g`), from histories of the library
/// scenarios: Kafka 3 + 4.1 G (published, stored, storage per batch, deleted; backlog, delivered,
/// started, processed, commits), RabbitMQ 2 + 9 G with manual acks and 2 + 8 G with auto acks.
const KAFKA_OBS: (f64, f64) = (3.5, 5.0);
const RABBITMQ_OBS_MANUAL: (f64, f64) = (2.0, 9.0);
const RABBITMQ_OBS_AUTO: (f64, f64) = (2.0, 8.0);

/// `--history` bytes per message (`b`) and per message and group (`g`), measured on
/// `scenarios/pooling.toml` (one group) and a two-group run: Kafka 600 and 906 bytes per message,
/// RabbitMQ 852 and 1491.
const HISTORY_KAFKA: (f64, f64) = (300.0, 310.0);
const HISTORY_RABBITMQ: (f64, f64) = (210.0, 640.0);

/// Keys hashed to estimate the partition shares; beyond this, a uniform sample of the key space.
const SHARE_KEYS: u64 = 1 << 20;
/// Consumers of a group modelled one by one; the others are averaged in buckets.
const EXACT_CONSUMERS: usize = 16;
const CONSUMER_BUCKETS: usize = 48;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// One part of an estimate: what it is, the field to change and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// Bytes or seconds.
    pub amount: f64,
    pub what: String,
    pub field: String,
    pub remedy: String,
}

/// A group's load in one system.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemLoad {
    pub system: SystemKind,
    /// Messages per second the group can take before its busiest consumer saturates.
    pub capacity: f64,
    /// Mean offered rate over `duration` divided by `capacity`.
    pub utilisation: f64,
    /// The same at the busiest phase.
    pub peak_utilisation: f64,
    /// Largest backlog of the fluid model (messages).
    pub peak_backlog: f64,
    /// Seconds after `duration` until the backlog is gone (fluid model, plus one processing time
    /// and the network hops).
    pub drain_s: f64,
    /// Consumers that get work: Kafka consumers beyond the partition count get none.
    pub active_consumers: u32,
    /// Share of the messages that goes to the busiest consumer (Kafka: its partitions' share of the
    /// keys; RabbitMQ: 1 / consumers).
    pub busiest_share: f64,
    /// Seconds of work per message per consumer, the network included.
    pub time_per_message: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupLoad {
    pub name: String,
    pub consumers: u32,
    pub mean_processing_s: f64,
    pub systems: Vec<SystemLoad>,
}

/// What the scenario will cost, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Peak resident memory of the whole run, both systems together.
    pub memory_bytes: f64,
    /// User + system CPU time, both systems together.
    pub cpu_secs: f64,
    /// Largest first.
    pub memory: Vec<Term>,
    pub cpu: Vec<Term>,
    /// Simulated end of the run (publishing plus drain) per system, in the scenario's order.
    pub run_end_s: Vec<f64>,
    /// Time-series rows, all systems together (samples x groups).
    pub rows: f64,
    /// Observations the recorder will count, per system in the scenario's order (Kafka long-poll expiries included).
    pub observations: Vec<f64>,
    /// Events the engine handles, per system in the scenario's order.
    pub events: Vec<f64>,
    /// Kafka long-poll expiries and retention checks (0 without Kafka).
    pub timer_events: f64,
    /// Largest number of records the Kafka log holds at once (0 without Kafka).
    pub retained_records: f64,
    pub groups: Vec<GroupLoad>,
}

/// The publishing window as (start s, length s, rate/s) pieces.
fn pieces(s: &Scenario) -> Vec<(f64, f64, f64)> {
    let end = s.duration.as_secs_f64();
    let p = &s.workload.phases;
    p.iter()
        .enumerate()
        .map(|(i, ph)| {
            let a = ph.at.as_secs_f64().min(end);
            let b = p.get(i + 1).map_or(end, |n| n.at.as_secs_f64().min(end));
            (a, (b - a).max(0.0), ph.rate)
        })
        .collect()
}

/// Largest number of messages published within any window of `w` seconds.
fn max_window(pieces: &[(f64, f64, f64)], end: f64, w: f64) -> f64 {
    let cumulative = |x: f64| -> f64 { pieces.iter().map(|&(a, len, r)| r * (x - a).clamp(0.0, len)).sum::<f64>() };
    if w >= end {
        return cumulative(end);
    }
    // The window's count is piecewise linear in its end: the maximum is at a breakpoint.
    let mut best: f64 = 0.0;
    let mut bounds: Vec<f64> = pieces.iter().map(|p| p.0).collect();
    bounds.push(end);
    // Many phases: the cumulative sum is O(phases); keep the work O(phases^2) bounded.
    if bounds.len() > 2000 {
        let peak = pieces.iter().map(|p| p.2).fold(0.0, f64::max);
        return (peak * w).min(cumulative(end));
    }
    for &b in &bounds {
        for t in [b, b + w] {
            let t = t.clamp(w, end.max(w));
            best = best.max(cumulative(t.min(end)) - cumulative((t - w).max(0.0)));
        }
    }
    best
}

/// A fluid queue: arrivals at `share` x the piece rates, served at `mu` per second. Returns the
/// largest backlog and the backlog when publishing stops.
fn fluid(pieces: &[(f64, f64, f64)], share: f64, mu: f64) -> (f64, f64) {
    if !mu.is_finite() {
        return (0.0, 0.0);
    }
    let mut b: f64 = 0.0;
    let mut peak: f64 = 0.0;
    for &(_, len, rate) in pieces {
        b = (b + (rate * share - mu) * len).max(0.0);
        peak = peak.max(b);
    }
    (peak, b)
}

/// Share of the messages each partition receives: keys mapped through Kafka's murmur2 partitioner,
/// weighted by the key distribution. Exact up to 2^20 keys; beyond, a uniform sample of the key
/// space (Zipf: the 2^20 hottest keys exactly, the tail spread evenly).
pub fn partition_shares(keys: Keys, partitions: u32) -> Vec<f64> {
    let p = partitions.max(1) as usize;
    if p == 1 {
        return vec![1.0];
    }
    let mut w = vec![0.0; p];
    match keys {
        Keys::None => return vec![1.0 / p as f64; p],
        Keys::Uniform { count } => {
            let n = count.min(SHARE_KEYS);
            for i in 0..n {
                let k = if count <= SHARE_KEYS { i } else { (i as u128 * count as u128 / n as u128) as u64 };
                w[partition_for_key(k, partitions) as usize] += 1.0;
            }
        }
        Keys::Zipf { count, exponent } => {
            let n = count.min(SHARE_KEYS);
            for k in 0..n {
                w[partition_for_key(k, partitions) as usize] += ((k + 1) as f64).powf(-exponent);
            }
            if count > n {
                let (a, b) = (n as f64 + 0.5, count as f64 + 0.5);
                let tail = if (exponent - 1.0).abs() < 1e-9 {
                    (b / a).ln()
                } else {
                    (b.powf(1.0 - exponent) - a.powf(1.0 - exponent)) / (1.0 - exponent)
                };
                for x in &mut w {
                    *x += tail / p as f64;
                }
            }
        }
    }
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

/// Kafka's range assignor, as (consumer, first partition, partition count) of the consumers that
/// own partitions (the same assignment as `models::kafka::assignor::range_assign`, without building it).
fn ranges(partitions: u32, consumers: u32) -> impl Iterator<Item = (usize, usize)> {
    let per = partitions / consumers;
    let extra = partitions % consumers;
    (0..consumers.min(partitions)).map(move |c| {
        let n = per + u32::from(c < extra);
        ((c * per + c.min(extra)) as usize, n as usize)
    })
}

/// Consumers of a Kafka group as (how many, share each), the busiest first, at most
/// `EXACT_CONSUMERS + CONSUMER_BUCKETS` entries. `units` is the number of independent placements
/// (messages for keyed records, sticky batches for null keys): with few of them, chance makes the
/// busiest consumer busier than its share; it gets three standard deviations more.
fn kafka_consumer_shares(prefix: &[f64], partitions: u32, consumers: u32, units: f64) -> Vec<(f64, f64)> {
    let mut shares: Vec<f64> = ranges(partitions, consumers).map(|(a, n)| prefix[a + n] - prefix[a]).collect();
    shares.sort_by(|a, b| b.total_cmp(a));
    if let Some(top) = shares.first_mut()
        && units > 0.0
    {
        *top = (*top + 3.0 * (*top * (1.0 - *top) / units).sqrt()).min(1.0);
    }
    let mut out: Vec<(f64, f64)> = shares.iter().take(EXACT_CONSUMERS).map(|&x| (1.0, x)).collect();
    let rest = &shares[shares.len().min(EXACT_CONSUMERS)..];
    if !rest.is_empty() {
        for chunk in rest.chunks(rest.len().div_ceil(CONSUMER_BUCKETS)) {
            out.push((chunk.len() as f64, chunk.iter().sum::<f64>() / chunk.len() as f64));
        }
    }
    out
}

/// Per group, the share of the messages it is owed in `sys` and the share its consumers receive
/// (Kafka: fetched, a consumer-side filter's discards included); (1, 1) each without routing.
fn routed_shares(s: &Scenario, sys: SystemKind) -> Vec<(f64, f64)> {
    match crate::subscriptions::Subscriptions::new(s) {
        Some(subs) => subs.shares(sys),
        None => vec![(1.0, 1.0); s.groups.len()],
    }
}

struct GroupModel {
    load: SystemLoad,
    /// Buckets of consumers: (how many, share, backlog when publishing stops).
    consumers: Vec<(f64, f64)>,
}

/// The fluid model of every group in one system.
fn analyse_system(s: &Scenario, sys: SystemKind, pieces: &[(f64, f64, f64)], prefix: &[f64]) -> Vec<GroupModel> {
    let latency = s.network.latency.as_secs_f64();
    let mean_bytes = s.workload.message_bytes.mean().max(1.0);
    let messages = s.expected_messages();
    let seconds = s.duration.as_secs_f64();
    let mean_rate = messages / seconds;
    let peak_rate = pieces.iter().filter(|p| p.1 > 0.0).map(|p| p.2).fold(0.0, f64::max);
    let k = &s.kafka;
    let mut cache: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    let routed = routed_shares(s, sys);
    s.groups
        .iter()
        .zip(routed)
        .map(|(g, (owed, _))| {
            let m = g.processing.mean().max(0.0);
            let (consumers, t, hops) = match sys {
                // A share group: every consumer takes records from the partitions it shares, like
                // one queue; a fetch round trip per batch, not pipelined (at most one per record).
                SystemKind::Kafka if g.kind == GroupKind::Share => {
                    let n = g.consumers as f64;
                    let hops = 4.0 * latency + k.linger.as_secs_f64() + k.fetch_max_wait.as_secs_f64();
                    (vec![(n, 1.0 / n)], m + 2.0 * latency, hops)
                }
                SystemKind::Kafka => {
                    let units = match s.workload.keys {
                        Keys::None => messages / (k.batch_size as f64 / mean_bytes).ceil().max(1.0),
                        _ => messages,
                    };
                    let shares = cache
                        .entry(g.consumers)
                        .or_insert_with(|| kafka_consumer_shares(prefix, k.partitions, g.consumers, units))
                        .clone();
                    let owned = k.partitions.div_ceil(g.consumers.min(k.partitions)) as f64;
                    let per_fetch = (k.fetch_max_bytes.min((owned * k.max_partition_fetch_bytes as f64) as u64) as f64
                        / mean_bytes)
                        .max(1.0);
                    // A fetch round trip is pipelined with the processing of the previous one;
                    // commitSync adds a round trip per poll.
                    let mut t = m.max(2.0 * latency / per_fetch);
                    if !k.enable_auto_commit {
                        t += 2.0 * latency / per_fetch.min(k.max_poll_records as f64);
                    }
                    let hops = 4.0 * latency + k.linger.as_secs_f64() + k.fetch_max_wait.as_secs_f64();
                    (shares, t, hops)
                }
                SystemKind::RabbitMq => {
                    // A stream group reads with one active consumer at a time.
                    let n = if s.rabbitmq.stream.is_some() { 1.0 } else { g.consumers as f64 };
                    let p = s.rabbitmq.prefetch as f64;
                    let t = if s.rabbitmq.manual_ack && p > 0.0 { m.max((m + 2.0 * latency) / p) } else { m };
                    (vec![(n, 1.0 / n)], t, 3.0 * latency)
                }
            };
            // Routing: each consumer's share of the stream is its share of what the group is owed.
            let consumers: Vec<(f64, f64)> = consumers.into_iter().map(|(n, share)| (n, share * owed)).collect();
            let mu = if t > 0.0 { 1.0 / t } else { f64::INFINITY };
            let busiest = consumers.first().map_or(1.0, |c| c.1);
            let capacity = if busiest > 0.0 { mu / busiest } else { f64::INFINITY };
            let mut peak = 0.0;
            let mut drain: f64 = 0.0;
            for &(n, share) in &consumers {
                let (p, end) = fluid(pieces, share, mu);
                peak += n * p;
                if end > 0.0 {
                    drain = drain.max(end / mu);
                }
            }
            let active = consumers.iter().map(|c| c.0).sum::<f64>() as u32;
            GroupModel {
                load: SystemLoad {
                    system: sys,
                    capacity,
                    utilisation: mean_rate / capacity,
                    peak_utilisation: peak_rate / capacity,
                    peak_backlog: peak,
                    drain_s: drain + m + hops,
                    active_consumers: active,
                    busiest_share: busiest,
                    time_per_message: t,
                },
                consumers,
            }
        })
        .collect()
}

struct Analysis {
    pieces: Vec<(f64, f64, f64)>,
    /// Per system in the scenario's order: its groups, and the end of the run (a stalled drain
    /// included).
    systems: Vec<(SystemKind, Vec<GroupModel>, f64)>,
    /// The end of a stalled drain, if the schedule leaves something down.
    stall_end: Option<f64>,
}

fn analyse(s: &Scenario) -> Analysis {
    let pieces = pieces(s);
    let prefix: Vec<f64> = if s.systems.contains(&SystemKind::Kafka) {
        let shares = partition_shares(s.workload.keys, s.kafka.partitions);
        std::iter::once(0.0)
            .chain(shares.iter().scan(0.0, |acc, x| {
                *acc += x;
                Some(*acc)
            }))
            .collect()
    } else {
        Vec::new()
    };
    let seconds = s.duration.as_secs_f64();
    // A broker still down when the schedule ends holds messages no one can deliver. The Kafka
    // producer's batches to it fail `delivery.timeout.ms` after they were made (plus a request
    // timeout for the last one in flight), and then the run ends: its clients keep retrying the
    // dead broker until then. RabbitMQ's run ends when its groups have drained what they can
    // (measured: a broker, two of three quorum members, or a queue's node down for good).
    let stall_end = (s.drain.is_none() && !crate::scenario::faults::all_up_at_end(&s.faults, s.workload.producers))
        .then(|| {
            let last_step = s.faults.iter().map(|f| f.at.as_secs_f64()).fold(seconds, f64::max);
            last_step + s.kafka.delivery_timeout.as_secs_f64() + d::KAFKA_REQUEST_TIMEOUT.as_secs_f64()
        });
    let systems = s
        .systems
        .iter()
        .map(|&sys| {
            let groups = analyse_system(s, sys, &pieces, &prefix);
            let drain = groups.iter().map(|g| g.load.drain_s).fold(0.0, f64::max);
            let drain = s.drain.map_or(drain, |limit| drain.min(limit.as_secs_f64()));
            let stall = if sys == SystemKind::Kafka { stall_end.unwrap_or(0.0) } else { 0.0 };
            (sys, groups, stall.max(seconds + drain))
        })
        .collect();
    Analysis { pieces, systems, stall_end }
}

/// Simulated end of the run (publishing plus the estimated drain), the latest over the systems.
pub fn estimated_run_end(s: &Scenario) -> SimDuration {
    let end = analyse(s).systems.iter().map(|x| x.2).fold(0.0, f64::max);
    SimDuration::from_secs_f64(end)
}

/// How much taller than the chart the backlog chart's legend is (0 if it fits), in pixels.
fn legend_excess_pixels(s: &Scenario) -> f64 {
    if s.groups.len() < 2 {
        return 0.0;
    }
    // The legend packs every line's entry greedily into rows, both systems in one sequence.
    let mut rows = 1.0;
    let mut width = 0.0;
    for sys in &s.systems {
        let prefix = match sys {
            SystemKind::Kafka => "kafka lag: ".len(),
            SystemKind::RabbitMq => "rabbitmq depth: ".len(),
        };
        for g in &s.groups {
            let w = 42.0 + 7.2 * (prefix + g.name.len() + " (peak 100)".len()) as f64;
            if width > 0.0 && width + 28.0 + w > 960.0 {
                rows += 1.0;
                width = w;
            } else {
                width += if width > 0.0 { 28.0 + w } else { w };
            }
        }
    }
    (rows * 24.0 - CHART_PLOT_PIXELS).max(0.0)
}

/// Bytes of one HDR histogram whose largest value is `max_s` seconds.
fn histogram_bytes(max_s: f64) -> f64 {
    let max_ns = (max_s * 1e9).max(2048.0);
    ((max_ns / 2048.0).log2().ceil() + 2.0) * HISTOGRAM_BUCKET_BYTES
}

fn field_of_group(i: usize, what: &str) -> String {
    format!("groups[{i}].{what}")
}

/// Estimates what the scenario costs.
pub fn estimate(s: &Scenario) -> Estimate {
    let a = analyse(s);
    let seconds = s.duration.as_secs_f64();
    let messages = s.expected_messages();
    // Deliveries per message: every group without routing; with it, what each group fetches.
    let n_groups = match crate::subscriptions::Subscriptions::new(s) {
        None => s.groups.len() as f64,
        Some(_) => {
            let (k, r) = (routed_shares(s, SystemKind::Kafka), routed_shares(s, SystemKind::RabbitMq));
            k.iter().zip(&r).map(|(k, r)| k.1.max(r.1)).sum::<f64>()
        }
    };
    let peak_rate = a.pieces.iter().filter(|p| p.1 > 0.0).map(|p| p.2).fold(0.0, f64::max);
    let latency = s.network.latency.as_secs_f64();
    let interval = s.sample_interval.as_secs_f64();
    let mean_bytes = s.workload.message_bytes.mean().max(1.0);
    let k = &s.kafka;
    let partitions = k.partitions as f64;

    let mut memory = Vec::new();
    let mut cpu = Vec::new();
    let mut mem = |amount: f64, what: String, field: String, remedy: String| {
        memory.push(Term { amount, what, field, remedy });
    };

    // ---- The Kafka log ----
    let mut retained = 0.0;
    if s.systems.contains(&SystemKind::Kafka) {
        let bytes_rate = peak_rate * mean_bytes / partitions;
        let fill = if bytes_rate > 0.0 { k.segment_bytes as f64 / bytes_rate } else { f64::INFINITY };
        let roll = k.segment_ms.as_secs_f64().min(fill);
        let w = k.retention.as_secs_f64() + k.retention_check_interval.as_secs_f64() + roll;
        retained = max_window(&a.pieces, seconds, w);
        let segments = (retained * mean_bytes / k.segment_bytes as f64 + partitions * (w / k.segment_ms.as_secs_f64()))
            .min(retained)
            + partitions;
        mem(
            // A log that may be compacted also keeps each record's offset and key (16 bytes more).
            retained * LOG_RECORD_BYTES * if k.cleanup_policy.compacts() { 2.0 } else { 1.0 }
                + segments * SEGMENT_BYTES
                + partitions * PARTITION_BYTES,
            format!("the Kafka log (about {} records retained at once)", count(retained)),
            "kafka.retention".into(),
            format!(
                "shorten `kafka.retention` (now {}) or publish fewer messages (`workload.rate`, `duration`)",
                k.retention
            ),
        );
    }

    // ---- A RabbitMQ stream: one log, as Kafka's (records within x-max-age, or x-max-length-bytes,
    // give or take the segments its retention evaluates at each roll) ----
    if let (true, Some(st)) = (s.systems.contains(&SystemKind::RabbitMq), &s.rabbitmq.stream) {
        let bytes_rate = peak_rate * mean_bytes;
        let fill = if bytes_rate > 0.0 { st.max_segment_size_bytes as f64 / bytes_rate } else { f64::INFINITY };
        let w = st.max_age.map_or(f64::INFINITY, |a| {
            a.as_secs_f64() + 2.0 * fill + d::RABBITMQ_STREAM_RETENTION_EVAL_INTERVAL.as_secs_f64()
        });
        let by_size =
            st.max_length_bytes.map_or(f64::INFINITY, |b| (b + st.max_segment_size_bytes) as f64 / mean_bytes);
        let held = max_window(&a.pieces, seconds, w).min(by_size);
        mem(
            held * LOG_RECORD_BYTES + (held * mean_bytes / st.max_segment_size_bytes as f64 + 1.0) * SEGMENT_BYTES,
            format!("the RabbitMQ stream (about {} records retained at once)", count(held)),
            "rabbitmq.stream_max_age".into(),
            "set `rabbitmq.stream_max_age` or `rabbitmq.stream_max_length_bytes` (a stream keeps everything by \
             default), or publish fewer messages"
                .into(),
        );
    }

    // ---- Backlogs (queue copies, fetch buffers, the recorder's window), summed over groups ----
    let mut backlog_by_group = vec![0.0; s.groups.len()];
    for (sys, groups, _) in &a.systems {
        for (i, gm) in groups.iter().enumerate() {
            let b = gm.load.peak_backlog;
            backlog_by_group[i] += match sys {
                SystemKind::RabbitMq => b * (QUEUE_COPY_BYTES + WINDOW_BYTES),
                SystemKind::Kafka => {
                    let per_fetch = (k.fetch_max_bytes as f64 / mean_bytes).max(1.0);
                    b.min(retained) * WINDOW_BYTES
                        + b.min(gm.load.active_consumers as f64 * 2.0 * per_fetch) * FETCHED_BYTES
                }
            };
        }
    }
    let backlog_total: f64 = backlog_by_group.iter().sum();
    if backlog_total > 0.0 {
        let (worst, _) =
            backlog_by_group.iter().enumerate().fold((0, 0.0), |b, (i, &x)| if x > b.1 { (i, x) } else { b });
        let g = &s.groups[worst];
        let loads: Vec<&SystemLoad> = a.systems.iter().map(|x| &x.1[worst].load).collect();
        let peak = loads.iter().map(|l| l.peak_backlog).fold(0.0, f64::max);
        let cap = loads.iter().map(|l| l.capacity).fold(f64::INFINITY, f64::min);
        let others = backlog_by_group.iter().filter(|&&x| x > 0.0).count() - 1;
        let what = if others > 0 {
            format!(
                "the backlogs of {} groups, the largest \"{}\" (about {} messages)",
                others + 1,
                g.name,
                count(peak)
            )
        } else {
            format!("the backlog of group \"{}\" (about {} messages at its peak)", g.name, count(peak))
        };
        mem(
            backlog_total,
            what,
            field_of_group(worst, "processing"),
            format!(
                "group \"{}\" takes about {}/s but {}/s arrive at the peak: add consumers, shorten the processing, \
                 or publish less (`workload.rate`, `workload.phases`, `duration`)",
                g.name,
                rate(cap),
                rate(peak_rate)
            ),
        );
    }

    // ---- Messages on the wire ----
    if latency > 0.0 {
        let per_message: f64 = s
            .systems
            .iter()
            .map(|sys| match sys {
                SystemKind::RabbitMq => (1.0 + 2.0 * n_groups) * PENDING_EVENT_BYTES,
                SystemKind::Kafka => 16.0 + n_groups * FETCHED_BYTES + PENDING_EVENT_BYTES,
            })
            .sum();
        let in_flight = (peak_rate * latency).min(messages);
        mem(
            in_flight * per_message,
            format!("messages on the network (about {} in flight at {} one way)", count(in_flight), s.network.latency),
            "network.latency".into(),
            format!("shorten `network.latency` (now {}) or lower the rate", s.network.latency),
        );
    }

    // ---- The time series ----
    let samples: Vec<f64> = a.systems.iter().map(|x| (x.2.max(seconds) / interval).floor() + 1.0).collect();
    let rows: f64 = samples.iter().sum::<f64>() * n_groups;
    let longest_end = a.systems.iter().map(|x| x.2).fold(0.0, f64::max);
    let series_remedy = format!(
        "set a longer `sample_interval` (now {}; at least {} keeps 500 samples over the estimated run of {}) or \
         limit the drain with `drain`",
        s.sample_interval,
        format_duration(SimDuration::from_secs_f64((longest_end / 500.0).max(0.001))),
        format_duration(SimDuration::from_secs_f64(longest_end.round().max(1.0)))
    );
    mem(
        rows * ROW_BYTES,
        format!(
            "the time series ({} samples x {} group(s) x {} system(s))",
            count(samples.iter().fold(0.0, |a: f64, &b| a.max(b))),
            s.groups.len(),
            s.systems.len()
        ),
        "sample_interval".into(),
        series_remedy.clone(),
    );

    // ---- Per-group and per-consumer state ----
    let mut state = 0.0;
    let mut consumer_state = 0.0;
    let mut biggest = (0usize, 0u32);
    for (i, g) in s.groups.iter().enumerate() {
        if g.consumers > biggest.1 {
            biggest = (i, g.consumers);
        }
        for (sys, groups, end) in &a.systems {
            let l = &groups[i].load;
            // The longest latency: the peak backlog's wait, a long queueing tail, the hops.
            let extra = match sys {
                SystemKind::Kafka => k.linger.as_secs_f64() + k.fetch_max_wait.as_secs_f64(),
                SystemKind::RabbitMq => 0.0,
            };
            let longest = (l.peak_backlog * l.time_per_message / l.active_consumers.max(1) as f64
                + l.time_per_message * (20.0 + 5.0 / (1.0 - l.utilisation.min(0.99)))
                + 4.0 * latency
                + extra
                + 0.001)
                .min(*end);
            state += 2.0 * histogram_bytes(longest) + GROUP_BYTES + if i > 0 { EXTRA_GROUP_BYTES } else { 0.0 };
            match sys {
                SystemKind::Kafka => {
                    state += partitions * PARTITION_GROUP_BYTES;
                    consumer_state += g.consumers as f64 * KAFKA_CONSUMER_BYTES;
                }
                SystemKind::RabbitMq => consumer_state += g.consumers as f64 * RABBITMQ_CONSUMER_BYTES,
            }
        }
    }
    mem(
        state,
        format!("the state of {} group(s) (histograms, counters, offsets per partition)", s.groups.len()),
        "groups".into(),
        "use fewer groups (or fewer `kafka.partitions`)".into(),
    );
    mem(
        consumer_state,
        format!("the state of {} consumers", count(s.groups.iter().map(|g| g.consumers as f64).sum())),
        field_of_group(biggest.0, "consumers"),
        format!("use fewer consumers (group \"{}\" has {})", s.groups[biggest.0].name, biggest.1),
    );
    if s.faults.iter().any(|f| f.action == crate::scenario::faults::FaultAction::Partition) {
        // A partition makes the network keep one word per pair of nodes (see `World::link_of`).
        let nodes = (s.brokers + 2) as f64 + s.groups.iter().map(|g| g.max_consumers as f64).sum::<f64>();
        mem(
            nodes * nodes * 4.0 * s.systems.len() as f64,
            format!("the network's link table ({} nodes, kept because a partition is scheduled)", count(nodes)),
            field_of_group(biggest.0, "consumers"),
            format!("use fewer consumers with a partition (group \"{}\" has {})", s.groups[biggest.0].name, biggest.1),
        );
    }
    mem(BASE_BYTES, "the program itself and its charts".into(), "".into(), "".into());

    // ---- CPU: messages ----
    let total_consumers: f64 = s.groups.iter().map(|g| g.consumers as f64).sum();
    let mut observations = Vec::new();
    let mut events = Vec::new();
    let mut message_cpu = 0.0;
    for (sys, _, _) in &a.systems {
        let (b, g, ns) = match sys {
            SystemKind::Kafka => (KAFKA_OBS.0, KAFKA_OBS.1, NS_PER_OBSERVATION_KAFKA),
            SystemKind::RabbitMq if s.rabbitmq.manual_ack => {
                (RABBITMQ_OBS_MANUAL.0, RABBITMQ_OBS_MANUAL.1, NS_PER_OBSERVATION_RABBITMQ)
            }
            SystemKind::RabbitMq => (RABBITMQ_OBS_AUTO.0, RABBITMQ_OBS_AUTO.1, NS_PER_OBSERVATION_RABBITMQ),
        };
        let obs = messages * (b + g * n_groups);
        observations.push(obs);
        // Replication: each follower's fetches and the leader's bookkeeping (measured: RF 3 costs
        // 30% more CPU per message than RF 1 without latency; latency's hops are counted below).
        let replication = match sys {
            SystemKind::Kafka => 1.0 + REPLICA_CPU_SHARE * f64::from(s.kafka.replication_factor.saturating_sub(1)),
            SystemKind::RabbitMq => 1.0,
        };
        let (per_message, per_group) = match sys {
            SystemKind::Kafka if latency > 0.0 => KAFKA_EVENTS_LATENCY,
            SystemKind::Kafka => KAFKA_EVENTS,
            SystemKind::RabbitMq => RABBITMQ_EVENTS,
        };
        let quorum = *sys == SystemKind::RabbitMq && s.rabbitmq.queue_type == crate::scenario::QueueType::Quorum;
        let followers = f64::from(s.brokers.saturating_sub(1));
        let share_groups = match sys {
            SystemKind::Kafka => s.groups.iter().filter(|g| g.kind == GroupKind::Share).count() as f64,
            SystemKind::RabbitMq => 0.0,
        };
        let mut message_events = messages * (per_message + per_group * n_groups + SHARE_GROUP_EVENTS * share_groups);
        if quorum {
            message_events += messages * followers * QUORUM_EVENTS_PER_FOLLOWER;
        }
        if s.body.is_some() && *sys == SystemKind::RabbitMq {
            // Under a calibrated profile a frame that must wait for its node's CPU or its queue's
            // process is handled by a second event when served. (Kafka's waiting requests carry
            // larger batches, which makes up for it.)
            message_events *= SERVED_EVENTS_FACTOR;
        }
        // Periodic work that goes on whether messages flow or not, over the whole run (a stalled
        // drain included): consumer heartbeats and auto-commits, broker heartbeats, the quorum
        // members' failure detector. Each is a timer and a request and answer.
        let end = a.systems.iter().find(|x| x.0 == *sys).map_or(seconds, |x| x.2);
        let periodic = match sys {
            SystemKind::Kafka => {
                let mut per_s = f64::from(s.brokers) / d::KAFKA_BROKER_HEARTBEAT_INTERVAL.as_secs_f64();
                for g in &s.groups {
                    let hb = match (g.kind, s.kafka.group_protocol) {
                        (GroupKind::Share, _) => d::KAFKA_SHARE_HEARTBEAT_INTERVAL,
                        (_, crate::scenario::GroupProtocol::Consumer) => d::KAFKA_CONSUMER_HEARTBEAT_INTERVAL,
                        _ => d::KAFKA_HEARTBEAT_INTERVAL,
                    };
                    per_s += g.consumers as f64 / hb.as_secs_f64();
                    if s.kafka.enable_auto_commit && g.kind == GroupKind::Consumer {
                        per_s += g.consumers as f64 / s.kafka.auto_commit_interval.as_secs_f64();
                    }
                }
                // In a stalled drain every client keeps retrying the broker that is down
                // (metadata, fetches, coordinator lookups): measured 5.5 events a second each.
                let stall = a.stall_end.map_or(0.0, |x| (x - seconds).max(0.0));
                per_s * end * 3.0 + stall * (total_consumers + 1.0) * STALL_EVENTS_PER_CLIENT_S
            }
            SystemKind::RabbitMq if quorum => {
                f64::from(s.brokers) * followers / d::RABBITMQ_ATEN_HEARTBEAT_INTERVAL.as_secs_f64() * end
            }
            SystemKind::RabbitMq => 0.0,
        };
        // RabbitMQ consumers that nack with requeue: each poison message is delivered again and
        // again from its arrival (on average mid-publishing) to the end, one attempt per mean
        // processing time, at most as many attempts as the group's consumers can make: a delivery,
        // the job's end and the nack (3 events, 4 observations) each. A quorum queue stops a
        // rejected (not nacked) one after its delivery limit + 1 attempts.
        let requeue_loops: f64 = match sys {
            SystemKind::RabbitMq => s
                .groups
                .iter()
                .filter(|g| g.failures.rabbitmq.requeues())
                .map(|g| {
                    use crate::scenario::failing::RabbitOnFailure;
                    let per_attempt = g.processing.mean().max(1e-6);
                    let poison = messages * g.failures.failure_rate * g.failures.poison_fraction;
                    let limit = match g.failures.rabbitmq {
                        RabbitOnFailure::RejectRequeue if quorum => g.policy.quorum_delivery_limit(),
                        _ => None,
                    };
                    let looping = match limit {
                        Some(l) => poison * (f64::from(l) + 1.0),
                        None => poison * (end - seconds / 2.0).max(0.0) / per_attempt,
                    };
                    let capacity = g.consumers as f64 * end / per_attempt;
                    looping.min(capacity) + messages * g.failures.failure_rate * (1.0 - g.failures.poison_fraction)
                })
                .sum(),
            SystemKind::Kafka => 0.0,
        };
        // On a quorum queue each nack or reject is also a log entry sent to every follower and
        // answered.
        let per_attempt = if quorum { 3.0 + 2.0 * followers } else { 3.0 };
        events.push(message_events + periodic + per_attempt * requeue_loops);
        *observations.last_mut().expect("pushed above") += 4.0 * requeue_loops;
        let pending = if latency > 0.0 {
            (peak_rate * latency).min(messages) * (1.0 + 2.0 * n_groups) + total_consumers
        } else {
            total_consumers
        };
        let ns_event = match sys {
            SystemKind::Kafka => NS_PER_EVENT_KAFKA,
            SystemKind::RabbitMq if quorum => NS_PER_EVENT_QUORUM,
            SystemKind::RabbitMq => NS_PER_EVENT_RABBITMQ,
        } + NS_PER_HEAP_LEVEL * ((2.0 + pending).log2() - 6.0).max(0.0);
        message_cpu += (obs * ns + (message_events + periodic) * ns_event) * 1e-9 * replication;
    }
    // The phase that publishes most names the field.
    let (busiest_phase, _) =
        a.pieces.iter().enumerate().fold((0, 0.0), |b, (i, p)| if p.1 * p.2 > b.1 { (i, p.1 * p.2) } else { b });
    let (msg_field, msg_remedy) = if busiest_phase == 0 {
        ("duration".to_string(), "shorten `duration`, lower `workload.rate`, or use fewer groups".to_string())
    } else {
        (
            format!("workload.phases[{}].rate", busiest_phase - 1),
            format!("lower `workload.phases[{}].rate` or shorten that phase, or use fewer groups", busiest_phase - 1),
        )
    };
    cpu.push(Term {
        amount: message_cpu,
        what: format!(
            "about {} messages x {} group(s) = {} deliveries per system",
            count(messages),
            s.groups.len(),
            count(messages * n_groups)
        ),
        field: msg_field,
        remedy: msg_remedy,
    });

    // ---- CPU: Kafka timers ----
    let mut timer_events = 0.0;
    if let Some((_, groups, end)) = a.systems.iter().find(|x| x.0 == SystemKind::Kafka) {
        let cycle = k.fetch_max_wait.as_secs_f64() + 2.0 * latency;
        let waits_for_bytes = k.fetch_min_bytes as f64 > mean_bytes;
        let mut cycles = 0.0;
        let mut visits = 0.0;
        let mut owned_most: f64 = 1.0;
        for gm in groups {
            let owned = (partitions / gm.load.active_consumers.max(1) as f64).ceil();
            owned_most = owned_most.max(owned);
            for &(n, share) in &gm.consumers {
                let busy = messages * share * gm.load.time_per_message;
                // A stalled drain waits for a broker that is down: no long polls to it.
                let end = if a.stall_end == Some(*end) { seconds + gm.load.drain_s } else { *end };
                let idle = if waits_for_bytes { end } else { (end - busy).max(0.0) };
                let c = n * idle / cycle.max(1e-9);
                cycles += c;
                visits += c * owned;
            }
            // Each fetch answered for a message looks at the consumer's partitions.
            visits += messages * owned;
        }
        timer_events += cycles;
        let checks = end / k.retention_check_interval.as_secs_f64();
        if let Some(i) = a.systems.iter().position(|x| x.0 == SystemKind::Kafka) {
            // Each expiry answers an empty fetch and reports the lag: one observation; and three
            // events (the timer, the empty answer, the next fetch).
            observations[i] += cycles;
            events[i] += 3.0 * cycles + checks;
        }
        let pending: f64 = groups.iter().map(|g| g.load.active_consumers as f64).sum();
        let per_timer = NS_PER_TIMER + NS_PER_TIMER_PER_LOG2_PENDING * (2.0 + pending).log2();
        // With a network, the request and the answer of each expiry are heap events too.
        let per_cycle = per_timer + if latency > 0.0 { 2.0 * NS_PER_EXPIRY_HOP } else { 0.0 };
        cpu.push(Term {
            amount: cycles * per_cycle * 1e-9,
            what: format!(
                "about {} long-poll expiries of idle Kafka consumers (one every {} + 2 x {} of latency)",
                count(cycles),
                k.fetch_max_wait,
                s.network.latency
            ),
            field: "kafka.fetch_max_wait".into(),
            remedy: format!(
                "raise `kafka.fetch_max_wait` (now {}; Kafka's default is 500ms) or use fewer consumers: every \
                 consumer that owns partitions waits in long polls when it has nothing to do",
                k.fetch_max_wait
            ),
        });
        cpu.push(Term {
            amount: visits * fetch_visit_ns(owned_most) * 1e-9,
            what: format!("fetches over many partitions (about {} partition visits)", count(visits)),
            field: "kafka.partitions".into(),
            remedy: "use fewer `kafka.partitions` per consumer (more consumers, or fewer partitions)".into(),
        });
        timer_events += checks;
        cpu.push(Term {
            amount: checks * (per_timer + partitions * NS_PER_PARTITION_VISIT) * 1e-9,
            what: format!(
                "about {} retention checks of {} partition(s) (one every {})",
                count(checks),
                k.partitions,
                k.retention_check_interval
            ),
            field: "kafka.retention_check_interval".into(),
            remedy: format!(
                "raise `kafka.retention_check_interval` (now {}; Kafka's default is 5m)",
                k.retention_check_interval
            ),
        });
    }

    // ---- CPU: RabbitMQ dispatch over full prefetch windows ----
    if let Some((_, groups, _)) = a.systems.iter().find(|x| x.0 == SystemKind::RabbitMq)
        && s.rabbitmq.manual_ack
        && s.rabbitmq.prefetch > 0
    {
        let mut visits = 0.0;
        for (g, gm) in s.groups.iter().zip(groups) {
            let n = g.consumers as f64;
            let rho = gm.load.utilisation;
            let scan = if rho >= 1.0 || gm.load.peak_utilisation >= 1.0 { n } else { (1.0 / (1.0 - rho)).min(n) };
            visits += 2.0 * messages * scan;
        }
        cpu.push(Term {
            amount: visits * NS_PER_CONSUMER_VISIT * 1e-9,
            what: "dispatching to consumers whose prefetch windows are full".into(),
            field: field_of_group(biggest.0, "consumers"),
            remedy: "use fewer consumers per group, or `rabbitmq.prefetch = 0`".into(),
        });
    }

    // ---- CPU: the time series and its charts ----
    cpu.push(Term {
        amount: BASE_CPU_SECS,
        what: "the charts and files of any run".into(),
        field: "".into(),
        remedy: "".into(),
    });
    cpu.push(Term {
        amount: rows * NS_PER_ROW * 1e-9,
        what: format!("writing and drawing {} time-series rows", count(rows)),
        field: "sample_interval".into(),
        remedy: series_remedy,
    });
    if s.groups.len() > 1 {
        let lines = n_groups * s.systems.len() as f64;
        let excess = legend_excess_pixels(s);
        if excess > 0.0 {
            let work = rows * (CHART_PLOT_PIXELS + excess);
            let what = format!(
                "the backlog chart: {} lines (one per group and system) whose legend is {} pixels taller than the chart",
                lines, excess as u64
            );
            let remedy =
                "use fewer groups (a chart stays readable with a few dozen lines) or a longer `sample_interval`";
            memory.push(Term {
                amount: work * CHART_BYTES_PER_LINE_SAMPLE_PIXEL,
                what: what.clone(),
                field: "groups".into(),
                remedy: remedy.into(),
            });
            cpu.push(Term {
                amount: work * CHART_NS_PER_LINE_SAMPLE_PIXEL * 1e-9,
                what,
                field: "groups".into(),
                remedy: remedy.into(),
            });
        }
        cpu.push(Term {
            amount: rows * n_groups * NS_PER_ROW_PER_GROUP * 1e-9,
            what: format!("drawing one backlog line per group for {} groups", s.groups.len()),
            field: "groups".into(),
            remedy: "use fewer groups".into(),
        });
    }

    memory.sort_by(|a, b| b.amount.total_cmp(&a.amount));
    cpu.sort_by(|a, b| b.amount.total_cmp(&a.amount));
    Estimate {
        memory_bytes: memory.iter().map(|t| t.amount).sum(),
        cpu_secs: cpu.iter().map(|t| t.amount).sum(),
        memory,
        cpu,
        run_end_s: a.systems.iter().map(|x| x.2).collect(),
        rows,
        observations,
        events,
        timer_events,
        retained_records: retained,
        groups: s
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| GroupLoad {
                name: g.name.clone(),
                consumers: g.consumers,
                mean_processing_s: g.processing.mean(),
                systems: a.systems.iter().map(|x| x.1[i].load.clone()).collect(),
            })
            .collect(),
    }
}

/// A scenario refused by the size guard ([`check_size`]): a valid scenario, too large to run
/// without `--force` (exit code 4, where an invalid scenario is 3). Shown as its message.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SizeRefused(pub ScenarioError);

/// Refuses scenarios that would not finish in reasonable time or memory, with the estimate, the
/// dominant term and the remedy. The error names the dominant term's field.
pub fn check_size(s: &Scenario, file: &str) -> Result<(), SizeRefused> {
    let e = estimate(s);
    let over_memory = e.memory_bytes > d::MAX_MEMORY_BYTES;
    let over_cpu = e.cpu_secs > d::MAX_CPU_SECS;
    if !over_memory && !over_cpu {
        return Ok(());
    }
    // Memory first: running out of it aborts the run; too much CPU only makes it slow.
    type Unit = fn(f64) -> String;
    let (terms, limit, unit, what): (&[Term], f64, Unit, &str) = if over_memory {
        (&e.memory, d::MAX_MEMORY_BYTES, mem_text, "memory")
    } else {
        (&e.cpu, d::MAX_CPU_SECS, secs_text, "CPU time")
    };
    let main = &terms[0];
    let mut message = format!(
        "the run would need about {} of memory (limit {}) and {} of CPU time (limit {}); most of the {what}: {}, \
         {}; {}",
        mem_text(e.memory_bytes),
        mem_text(d::MAX_MEMORY_BYTES),
        secs_text(e.cpu_secs),
        secs_text(d::MAX_CPU_SECS),
        main.what,
        unit(main.amount),
        main.remedy
    );
    for t in terms.iter().skip(1).take(2).filter(|t| t.amount > limit / 4.0 && !t.field.is_empty()) {
        let _ = write!(message, "; also {}, {} (`{}`)", t.what, unit(t.amount), t.field);
    }
    message.push_str("; or pass --force to run it anyway");
    Err(SizeRefused(ScenarioError { file: file.into(), field: Some(main.field.clone()), message }))
}

/// Messages published in [a, b) seconds.
fn published_between(pieces: &[(f64, f64, f64)], a: f64, b: f64) -> f64 {
    let cumulative = |x: f64| -> f64 { pieces.iter().map(|&(p, len, r)| r * (x - p).clamp(0.0, len)).sum::<f64>() };
    (cumulative(b) - cumulative(a)).max(0.0)
}

/// `max.poll.interval.ms` against what a poll really returns. The consumer hands the application
/// at most `max.poll.records` of what it has buffered (`FetchCollector.collectFetch` stops at an
/// empty buffer), and leaves the group when the records of one poll take longer than the
/// interval (`AbstractHeartbeatRequestManager.poll`), then rejoins: a rebalance, and the records
/// processed again. A poll long enough needs a backlog of `n` = interval / mean records at the
/// consumer. Refused (`Err`) when the busiest consumer must have that backlog: the fluid model
/// falls that far behind in an overloaded phase, or a group starting late from the log's start
/// owes that many records; then every poll is full and the consumer would be expelled forever.
/// Otherwise a warning (`Ok(Some)`) with the chance of such a backlog at the peak load (M/M/1:
/// P(backlog >= n) = rho^n), since Kafka lets the run go on and rebalance when it happens.
pub fn poll_interval_check(s: &Scenario, file: &str) -> Result<Option<ScenarioError>, ScenarioError> {
    if !s.systems.contains(&SystemKind::Kafka) {
        return Ok(None);
    }
    let k = &s.kafka;
    let interval = d::KAFKA_MAX_POLL_INTERVAL.as_secs_f64();
    let mean_bytes = s.workload.message_bytes.mean().max(1.0);
    let a = analyse(s);
    let Some((_, groups, _)) = a.systems.iter().find(|x| x.0 == SystemKind::Kafka) else {
        return Ok(None);
    };
    let mut warning = None;
    for (i, (g, gm)) in s.groups.iter().zip(groups).enumerate() {
        let m = g.processing.mean();
        if m * k.max_poll_records as f64 <= interval {
            continue;
        }
        // Records of one poll that take longer than the interval on average.
        let n = (interval / m).floor() + 1.0;
        // A poll returns what is buffered: a classic consumer fetches at most
        // max.partition.fetch.bytes (at least one record) per partition it owns.
        let poll = if g.kind == GroupKind::Share {
            k.max_poll_records as f64
        } else {
            let owned = k.partitions.div_ceil(g.consumers.min(k.partitions).max(1)) as f64;
            let per_partition = (k.max_partition_fetch_bytes as f64 / mean_bytes).floor().max(1.0);
            (k.max_poll_records as f64).min(owned * per_partition)
        };
        if poll < n {
            continue;
        }
        let field = field_of_group(i, "processing");
        let share = gm.consumers.first().map_or(1.0, |c| c.1);
        let behind = fluid(&a.pieces, share, 1.0 / gm.load.time_per_message.max(1e-12)).0;
        let start = g.start.as_secs_f64();
        let from = g.from.unwrap_or(match k.auto_offset_reset {
            crate::scenario::OffsetReset::Earliest => crate::scenario::operations::OffsetSpec::Earliest,
            crate::scenario::OffsetReset::Latest => crate::scenario::operations::OffsetSpec::Latest,
        });
        let owed = match from {
            _ if start <= 0.0 => 0.0,
            crate::scenario::operations::OffsetSpec::Earliest => {
                published_between(&a.pieces, (start - k.retention.as_secs_f64()).max(0.0), start)
            }
            crate::scenario::operations::OffsetSpec::Time(t) => published_between(&a.pieces, t.as_secs_f64(), start),
            crate::scenario::operations::OffsetSpec::Latest => 0.0,
        } * share;
        let (why, backlog) = if behind >= owed { ("falls behind by", behind) } else { ("starts late owing", owed) };
        if backlog >= n {
            return Err(ScenarioError {
                file: file.into(),
                field: Some(field),
                message: format!(
                    "group \"{}\": its busiest consumer {why} about {} records (peak load {}), so its polls return \
                     {} records ({} x {:.3} s mean), longer than Kafka's max.poll.interval.ms (5 min): it would be \
                     expelled from its group and process the same records forever; lower `kafka.max_poll_records` \
                     or the processing time, add consumers, or set systems = [\"rabbitmq\"]",
                    g.name,
                    count(backlog),
                    pct(gm.load.peak_utilisation),
                    poll,
                    poll,
                    m
                ),
            });
        }
        let rho = gm.load.peak_utilisation.min(1.0);
        warning.get_or_insert(ScenarioError {
            file: file.into(),
            field: Some(field),
            message: format!(
                "group \"{}\": a poll of {} or more of its up to {} records takes longer than max.poll.interval.ms \
                 (5 min) at {:.3} s mean; at the busiest consumer's peak load of {} its backlog averages {:.1} \
                 records and reaches {} with probability about {:.1e} (M/M/1: rho^{}), unless a crash or an offset \
                 reset builds one; if it does, Kafka expels the consumer, rebalances and the poll's records are \
                 processed again",
                g.name,
                n,
                poll,
                m,
                pct(gm.load.peak_utilisation),
                if rho < 1.0 { rho / (1.0 - rho) } else { f64::INFINITY },
                n,
                rho.powf(n),
                n
            ),
        });
    }
    Ok(warning)
}

/// A one-line warning when `--history` would write more than about 1 GB.
pub fn history_warning(s: &Scenario) -> Option<String> {
    let g = s.groups.len() as f64;
    let per_message: f64 = s
        .systems
        .iter()
        .map(|sys| match sys {
            SystemKind::Kafka => HISTORY_KAFKA.0 + HISTORY_KAFKA.1 * g,
            SystemKind::RabbitMq => HISTORY_RABBITMQ.0 + HISTORY_RABBITMQ.1 * g,
        })
        .sum();
    let bytes = s.expected_messages() * per_message;
    (bytes > d::HISTORY_WARN_BYTES).then(|| {
        format!(
            "warning: {}: --history will write about {:.1} GB ({} messages x {} group(s), about 8 lines of ~90 bytes \
             per message, group and system); drop --history or shorten the run if that is too much",
            s.name,
            bytes / 1e9,
            count(s.expected_messages()),
            s.groups.len()
        )
    })
}

/// "estimated peak memory X, CPU Y": the guard's verdict in a few words, for `validate`'s first line.
pub fn estimate_text(e: &Estimate) -> String {
    format!("estimated peak memory {}, CPU {}", mem_text(e.memory_bytes), secs_text(e.cpu_secs))
}

/// The `validate` report: the estimate, then each group's offered load against its capacity in
/// each system, overloaded groups and idle consumers.
pub fn validate_report(s: &Scenario) -> String {
    const DETAILED: usize = 20;
    let e = estimate(s);
    let mut out = String::new();
    let top = |terms: &[Term], f: fn(f64) -> String| {
        terms.first().map_or(String::new(), |t| format!(" (largest: {}, {})", t.what, f(t.amount)))
    };
    let _ = writeln!(
        out,
        "  estimate: peak memory {}{}; CPU time {}{}",
        mem_text(e.memory_bytes),
        top(&e.memory, mem_text),
        secs_text(e.cpu_secs),
        top(&e.cpu, secs_text)
    );
    let end = e.run_end_s.iter().fold(0.0, |a: f64, &b| a.max(b));
    let _ = writeln!(
        out,
        "  simulated run: about {} (publishing {}, then the drain), sampled every {}",
        secs_text(end),
        s.duration,
        s.sample_interval
    );
    let messages = s.expected_messages();
    let mean = messages / s.duration.as_secs_f64();
    let peak = s.workload.phases.iter().map(|p| p.rate).fold(0.0, f64::max);
    let offered = if (peak - mean).abs() > 1e-9 * peak.max(1.0) {
        format!("{}/s on average, {}/s at the peak", rate(mean), rate(peak))
    } else {
        format!("{}/s", rate(mean))
    };
    if s.routing.is_some() {
        let _ = writeln!(
            out,
            "  published: {offered}; with routing each group is offered its share (capacities are of the published rate)"
        );
    } else {
        let _ = writeln!(out, "  offered to every group: {offered}");
    }
    for (i, g) in e.groups.iter().enumerate().take(DETAILED) {
        let _ = writeln!(
            out,
            "  group {} ({} consumer(s), {} mean processing):",
            g.name,
            g.consumers,
            secs_text(g.mean_processing_s)
        );
        for l in &g.systems {
            let mut line = format!(
                "    {:<9} capacity {}/s, utilisation {}",
                l.system.name(),
                rate(l.capacity),
                pct(l.utilisation)
            );
            if (l.peak_utilisation - l.utilisation).abs() > 1e-9 {
                let _ = write!(line, " (peak {})", pct(l.peak_utilisation));
            }
            if l.system == SystemKind::Kafka {
                let _ = write!(
                    line,
                    "; {} of {} consumer(s) own partitions, the busiest gets {} of the messages",
                    l.active_consumers,
                    g.consumers,
                    pct(l.busiest_share)
                );
            }
            if l.peak_backlog >= 1.0 {
                let _ = write!(line, "; backlog up to about {} messages", count(l.peak_backlog));
            }
            let _ = writeln!(out, "{line}");
        }
        if i + 1 == DETAILED && e.groups.len() > DETAILED {
            let _ = writeln!(out, "  ... and {} more group(s)", e.groups.len() - DETAILED);
        }
    }
    let mut overloaded = Vec::new();
    let mut idle = Vec::new();
    for g in &e.groups {
        for l in &g.systems {
            if l.peak_utilisation >= 1.0 {
                overloaded.push(format!("{} in {} ({})", g.name, l.system.name(), pct(l.peak_utilisation)));
            }
            if l.system == SystemKind::Kafka && l.active_consumers < g.consumers {
                idle.push(format!(
                    "{} of group {} (only {} partition(s))",
                    g.consumers - l.active_consumers,
                    g.name,
                    s.kafka.partitions
                ));
            }
        }
    }
    let list = |v: &[String]| {
        let mut t = v.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
        if v.len() > 10 {
            let _ = write!(t, " and {} more", v.len() - 10);
        }
        t
    };
    if !overloaded.is_empty() {
        let _ = writeln!(out, "  overloaded (the backlog grows while this lasts): {}", list(&overloaded));
    }
    if !idle.is_empty() {
        let _ = writeln!(out, "  idle Kafka consumers (beyond the partition count): {}", list(&idle));
    }
    out
}

fn count(x: f64) -> String {
    if x < 1e6 { format!("{:.0}", x.max(0.0)) } else { format!("{x:.2e}") }
}

fn rate(x: f64) -> String {
    if !x.is_finite() {
        "unlimited".into()
    } else if x >= 1e6 {
        format!("{x:.2e}")
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn pct(x: f64) -> String {
    if !x.is_finite() {
        "unbounded".into()
    } else if x >= 100.0 {
        format!("{:.2e}%", x * 100.0)
    } else {
        format!("{:.1}%", x * 100.0)
    }
}

fn mem_text(b: f64) -> String {
    if b >= 1024.0 * GIB {
        format!("{:.0} TiB", b / GIB / 1024.0)
    } else if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", (b / MIB).max(1.0))
    }
}

fn secs_text(x: f64) -> String {
    if x < 1e-3 {
        format!("{:.0} us", x * 1e6)
    } else if x < 1.0 {
        format!("{:.0} ms", x * 1e3)
    } else if x < 120.0 {
        format!("{x:.1} s")
    } else if x < 7200.0 {
        format!("{:.0} min", x / 60.0)
    } else if x < 3.0 * 86400.0 {
        format!("{:.1} h", x / 3600.0)
    } else {
        format!("{:.0} days", x / 86400.0)
    }
}

/// What the brokers can carry, per system, under a calibrated profile: the offered load above which
/// the bottleneck resource falls behind, and that resource, from the profile's figures (a first
/// estimate: the run's `utilisation` is the measurement). `None` for a costless profile.
pub fn ceilings(s: &Scenario) -> Option<Vec<(SystemKind, f64, String)>> {
    let body = s.body?;
    let hw = body.hardware;
    let bytes = s.workload.message_bytes.mean().max(1.0);
    let brokers = f64::from(s.brokers);
    let groups = s.groups.len().max(1) as f64;
    let mut out = Vec::new();
    for &sys in &s.systems {
        // Kafka 0.8's records carry 26 bytes of framing on every card (`v0_record_overhead`).
        let v0 = if sys == SystemKind::Kafka { body.kafka.v0_record_overhead.unwrap_or(0) as f64 } else { 0.0 };
        // Kafka's producer compression: records travel and are stored at the codec's ratio (that of a
        // large batch; a small one does worse).
        let shrink = match (sys, s.kafka.compression_type.figures()) {
            (SystemKind::Kafka, Some(f)) => {
                let ratio = s.workload.compression_ratio.unwrap_or(d::COMPRESSION_RATIO);
                (f.size_vs_zstd_milli as f64 / 1000.0 / ratio).min(1.0)
            }
            _ => 1.0,
        };
        // Each producer host sends its share of the records through its own card.
        let producers = f64::from(s.workload.producers);
        let producer_nic = (
            producers * hw.nic_bytes_per_s as f64 / ((bytes + v0) * shrink),
            if s.workload.producers == 1 {
                "the producer host's network card".to_string()
            } else {
                format!("the {} producer hosts' network cards", s.workload.producers)
            },
        );
        let mut limits = vec![producer_nic];
        match sys {
            SystemKind::Kafka => {
                // Every replica of every record is written once, spread evenly over the brokers;
                // each broker takes in its leaders' records and its followers' copies, and sends
                // out its followers' copies and each group's reads.
                let rf = f64::from(s.kafka.replication_factor);
                // Framing: about 70 bytes a record (request, batch and record headers); 0.8's 26.
                let record = (bytes + if v0 > 0.0 { v0 } else { 70.0 }) * shrink;
                limits.push((hw.disk_bytes_per_s as f64 * brokers / (record * rf), "the brokers' disks".into()));
                limits.push((
                    hw.nic_bytes_per_s as f64 * brokers / (record * rf),
                    "the brokers' network cards in".into(),
                ));
                limits.push((
                    hw.nic_bytes_per_s as f64 * brokers / (record * (rf - 1.0 + groups)),
                    "the brokers' network cards out".into(),
                ));
            }
            SystemKind::RabbitMq if s.rabbitmq.stream.is_some() => {
                // A stream on node 0: the writer appends each message, each group's reader (its
                // consumer's channel) reads and settles each, and node 0's cores do all of it and
                // the publisher's channel's work.
                let c = body.rabbitmq;
                let b = bytes * c.byte_ps as f64 * 1e-12;
                let (write, read) = ((c.stream.write.as_secs_f64() + b), (c.stream.read + c.ack).as_secs_f64() + b);
                let channel = (c.publish + c.stream.convert).as_secs_f64() + b;
                limits.push((1.0 / write, "the stream's writer process, one core".into()));
                limits.push((1.0 / read, "each group's stream reader (its consumer's channel), one core".into()));
                limits.push((
                    f64::from(hw.cores) / (channel + write + read * groups),
                    "the CPU of the stream's node".into(),
                ));
            }
            SystemKind::RabbitMq => {
                let c = body.rabbitmq;
                // A quorum queue is one queue whose leader's process does the work.
                let quorum = s.rabbitmq.queue_type == crate::scenario::QueueType::Quorum;
                let (work, queues) = if quorum {
                    (c.quorum_enqueue + c.quorum_deliver, 1)
                } else {
                    (c.enqueue + c.deliver, s.rabbitmq.queues)
                };
                let per_message = work.as_secs_f64() + bytes * c.byte_ps as f64 * 1e-12;
                limits.push((
                    f64::from(queues) / per_message,
                    if quorum {
                        "the quorum queue's leader process, one core".to_string()
                    } else {
                        format!("{queues} queue process(es) per group, one core each")
                    },
                ));
            }
        }
        let (rate, what) =
            limits.into_iter().fold((f64::INFINITY, String::new()), |a, b| if b.0 < a.0 { b } else { a });
        out.push((sys, rate, what));
    }
    Some(out)
}

/// A warning per system whose estimated ceiling ([`ceilings`]) is below the offered peak: the run
/// is not refused (an overloaded run measures the ceiling), but messages will pile up.
pub fn capacity_warnings(s: &Scenario, file: &str) -> Vec<String> {
    let peak = s.workload.phases.iter().map(|p| p.rate).fold(0.0, f64::max);
    ceilings(s)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, rate, _)| peak > *rate)
        .map(|(sys, rate, what)| {
            format!(
                "{file}: the offered load peaks at {peak:.0} msg/s, above what {} can carry under profile \"{}\": \
                 about {rate:.0} msg/s, limited by {what}; messages will pile up (the run's `utilisation` names the \
                 measured bottleneck)",
                sys.name(),
                s.profile.name()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_raise_the_kafka_cpu_estimate() {
        let toml = |rf: u32| {
            format!(
                "name = \"r\"\nduration = \"1h\"\nsystems = [\"kafka\"]\n[cluster]\nbrokers = 3\n\
                 [workload]\nrate = 500.0\n[[groups]]\nname = \"g\"\nprocessing = \"1ms\"\n\
                 [kafka]\nreplication_factor = {rf}\n"
            )
        };
        let cpu = |rf| estimate(&Scenario::parse(&toml(rf), "r.toml", false).unwrap()).cpu_secs;
        let (one, three) = (cpu(1), cpu(3));
        assert!(three > one * 1.05, "RF 3 must cost more than RF 1: {three} vs {one}");
        assert!(three < one * (1.0 + 2.0 * REPLICA_CPU_SHARE) + 1e-9, "{three} vs {one}");
    }

    #[test]
    fn max_window_worked_by_hand() {
        // 10/s for 100 s, then 1000/s for 10 s, then 10/s for 90 s.
        let p = [(0.0, 100.0, 10.0), (100.0, 10.0, 1000.0), (110.0, 90.0, 10.0)];
        assert_eq!(max_window(&p, 200.0, 1000.0), 1000.0 + 10_000.0 + 900.0);
        // A 10 s window: the burst exactly.
        assert!((max_window(&p, 200.0, 10.0) - 10_000.0).abs() < 1e-6);
        // A 20 s window: the burst and 10 s around it at 10/s.
        assert!((max_window(&p, 200.0, 20.0) - 10_100.0).abs() < 1e-6);
    }

    #[test]
    fn fluid_worked_by_hand() {
        // 70/s for 40 s against 50/s: +20/s -> 800; then 40/s for 100 s: -10/s -> 0 after 80 s.
        let p = [(0.0, 40.0, 70.0), (40.0, 100.0, 40.0)];
        assert_eq!(fluid(&p, 1.0, 50.0), (800.0, 0.0));
        // Half the messages against 10/s: +25/s for 40 s, then +10/s for 100 s.
        assert_eq!(fluid(&p, 0.5, 10.0), (2000.0, 2000.0));
    }

    #[test]
    fn range_assignment_matches_the_model() {
        for (p, c) in [(5, 5), (7, 3), (2, 4), (1, 1), (10, 3)] {
            let model = crate::models::kafka::assignor::range_assign(p, c);
            let ours: Vec<(usize, usize)> = ranges(p, c).collect();
            let theirs: Vec<(usize, usize)> =
                model.iter().filter(|v| !v.is_empty()).map(|v| (v[0] as usize, v.len())).collect();
            assert_eq!(ours, theirs, "{p} partitions, {c} consumers");
        }
    }

    #[test]
    fn shares_sum_to_one_and_follow_the_keys() {
        let s = partition_shares(Keys::Uniform { count: 1 }, 4);
        assert_eq!(s.iter().filter(|&&x| x == 1.0).count(), 1, "one key: one partition gets everything");
        let s = partition_shares(Keys::Uniform { count: 1000 }, 8);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(s.iter().all(|&x| (0.08..0.17).contains(&x)), "{s:?}");
        let z = partition_shares(Keys::Zipf { count: 100, exponent: 1.5 }, 4);
        let hot = partition_for_key(0, 4) as usize;
        assert!(z[hot] > 0.4, "key 0 alone has about 38% of Zipf(1.5) over 100 keys: {z:?}");
        let big = partition_shares(Keys::Uniform { count: 1 << 40 }, 3);
        assert!(big.iter().all(|&x| (x - 1.0 / 3.0).abs() < 0.01), "{big:?}");
    }
}
