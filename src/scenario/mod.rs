//! Scenarios: a file (TOML, or JSON with the same schema) is parsed raw, then validated into the
//! typed [`Scenario`] that the models read. Every problem is reported as one line naming the file,
//! the field, the value and what is allowed.

pub mod compression;
pub mod defaults;
pub mod failing;
pub mod faults;
pub mod hardware;
pub mod lesson;
pub mod operations;
pub mod overrides;
pub mod policy;
pub mod raw;
pub mod routing;
pub mod validate;
pub use validate::nice_interval;

use crate::time::{SimDuration, SimTime};
use std::fmt;
use std::path::Path;

pub use validate::{MAX_FILE_BYTES, MAX_MESSAGES, MAX_NAME_BYTES, parse_size};

/// A problem with a scenario file. `Display` is one line: `FILE: field F: MESSAGE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub file: String,
    /// Dotted path of the offending field (`kafka.partitions`, `groups[1].consumers`), if known.
    pub field: Option<String>,
    pub message: String,
}

/// One line, whatever the file held: control characters are escaped and echoed values cut short
/// ([`crate::errtext`]).
impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::errtext;
        let (file, message) = (errtext::path(&self.file), errtext::message(&self.message));
        match &self.field {
            Some(field) => write!(f, "{file}: field `{}`: {message}", errtext::label(field)),
            None => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemKind {
    Kafka,
    RabbitMq,
}

impl SystemKind {
    pub const ALL: [SystemKind; 2] = [SystemKind::Kafka, SystemKind::RabbitMq];
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Kafka => "kafka",
            SystemKind::RabbitMq => "rabbitmq",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// No network, CPU or disk cost: pure queueing, where the oracles hold exactly.
    Ideal,
    /// Adds a one-way network delay between clients and the broker.
    Lan,
    /// Nodes with CPU, disk and network, calibrated to the Confluent 2020 OpenMessaging Benchmark.
    #[serde(rename = "omb-2020")]
    Omb2020,
    /// Nodes with CPU, disk and network, calibrated to Kreps's 2014 Kafka benchmark.
    #[serde(rename = "kreps-2014")]
    Kreps2014,
    /// One RabbitMQ node of three cores, clients over loopback, calibrated to RabbitMQ's 2024
    /// "AMQP 1.0 Benchmarks" post (its AMQP 0.9.1 figures).
    #[serde(rename = "rabbitmq-2024")]
    Rabbitmq2024,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Ideal => "ideal",
            Profile::Lan => "lan",
            Profile::Omb2020 => "omb-2020",
            Profile::Kreps2014 => "kreps-2014",
            Profile::Rabbitmq2024 => "rabbitmq-2024",
        }
    }

    pub const ALL: [Profile; 5] =
        [Profile::Ideal, Profile::Lan, Profile::Omb2020, Profile::Kreps2014, Profile::Rabbitmq2024];

    /// The calibrated body, if the profile has one (`ideal` and `lan` are costless).
    pub fn body(self) -> Option<hardware::Body> {
        match self {
            Profile::Ideal | Profile::Lan => None,
            Profile::Omb2020 => Some(hardware::OMB_2020),
            Profile::Kreps2014 => Some(hardware::KREPS_2014),
            Profile::Rabbitmq2024 => Some(hardware::RABBITMQ_2024),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    Poisson,
    Constant,
}

/// A distribution of a non-negative quantity (seconds for processing times, bytes for sizes).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dist {
    Constant(f64),
    Exponential { mean: f64 },
    Uniform { min: f64, max: f64 },
    LogNormal { mean: f64, stddev: f64 },
}

impl Dist {
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Exponential { mean } | Dist::LogNormal { mean, .. } => mean,
            Dist::Uniform { min, max } => (min + max) / 2.0,
        }
    }

    #[inline(always)]
    pub fn sample(&self, rng: &mut crate::engine::rng::SimRng) -> f64 {
        use crate::engine::rng;
        match *self {
            Dist::Constant(v) => v,
            Dist::Exponential { mean } => rng::exponential(rng, mean),
            Dist::Uniform { min, max } => rng::uniform(rng, min, max),
            Dist::LogNormal { mean, stddev } => rng::lognormal(rng, mean, stddev),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "distribution")]
pub enum Keys {
    /// Null keys: Kafka's sticky partitioner spreads them.
    None,
    Uniform {
        count: u64,
    },
    Zipf {
        count: u64,
        exponent: f64,
    },
}

/// From `at` on, messages arrive at `rate` per second.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Phase {
    pub at: SimTime,
    pub rate: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Workload {
    /// Sorted by `at`; the first starts at 0.
    pub phases: Vec<Phase>,
    pub arrivals: Arrivals,
    /// Bytes per message.
    pub message_bytes: Dist,
    pub keys: Keys,
    /// AMQP priority -> weight (`[workload] priorities`); empty: no message has a priority.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub priorities: std::collections::BTreeMap<u8, f64>,
    /// How compressible the payload is: zstd's ratio (uncompressed / compressed) over a large batch
    /// of it. Matters only with a Kafka `compression_type`; left out of `summary.json` then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_ratio: Option<f64>,
    /// Producer clients, each on its own host (`[workload] producers`): message `i` goes to
    /// producer `i mod producers`. Left out of `summary.json` when 1.
    #[serde(skip_serializing_if = "is_one")]
    pub producers: u32,
}

/// A Kafka consumer group, and the RabbitMQ queue bound to the fanout exchange for the same readers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Group {
    pub name: String,
    pub consumers: u32,
    /// Seconds of work per message.
    pub processing: Dist,
    /// When the group subscribes (Kafka) or its queue is declared and bound (RabbitMQ): 0 for a
    /// group there from the start. It is owed the messages sent from then on.
    pub start: SimTime,
    /// Kafka: where the group starts reading when it has no committed offset (its
    /// `auto.offset.reset`, or a time for `offsetsForTimes`); `None`: `kafka.auto_offset_reset`.
    pub from: Option<operations::OffsetSpec>,
    /// The most consumers the group runs at any time (after `scale` operations).
    pub max_consumers: u32,
    /// Kafka: a classic consumer group or a share group (KIP-932); RabbitMQ: always one queue.
    #[serde(skip_serializing_if = "GroupKind::is_consumer")]
    pub kind: GroupKind,
    /// Kafka: the topics the group subscribes to (issue 18; left out of `summary.json` at the
    /// default, mirroring its RabbitMQ bindings).
    #[serde(skip_serializing_if = "routing::KafkaSubscription::is_default")]
    pub subscription: routing::KafkaSubscription,
    /// RabbitMQ: the queue's arguments (TTL, length limit, dead-lettering); left out at none.
    #[serde(skip_serializing_if = "policy::QueuePolicy::is_default")]
    pub policy: policy::QueuePolicy,
    /// Consumers that fail (issue 18; left out of `summary.json` when nothing fails).
    #[serde(skip_serializing_if = "failing::FailurePolicy::is_default")]
    pub failures: failing::FailurePolicy,
    /// `idempotent = true`: the application skips a message whose id is among the last this many
    /// it processed (a processed-ids table); `None`: it applies every delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_window: Option<u64>,
    /// Kafka: the consumer application's age check (docs/queue-policy.md, "Kafka's side"): a
    /// record whose timestamp is older than this when the application comes to it is skipped,
    /// settled `expired`; `None`: every record is processed. RabbitMQ's side ignores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<SimDuration>,
}

/// `[[groups]] type`: how Kafka's consumers of the group share the topic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// A consumer group: each partition is read by one member (`group.protocol`, `assignor`).
    #[default]
    Consumer,
    /// A share group (KIP-932): members acquire records with a lock and acknowledge them one by
    /// one, so several members read the same partition.
    Share,
}

impl GroupKind {
    pub fn is_consumer(&self) -> bool {
        *self == GroupKind::Consumer
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    Earliest,
    Latest,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KafkaConfig {
    pub partitions: u32,
    pub linger: SimDuration,
    pub batch_size: u64,
    pub max_poll_records: u32,
    pub fetch_min_bytes: u64,
    pub fetch_max_wait: SimDuration,
    pub fetch_max_bytes: u64,
    pub max_partition_fetch_bytes: u64,
    pub enable_auto_commit: bool,
    pub auto_commit_interval: SimDuration,
    pub auto_offset_reset: OffsetReset,
    pub retention: SimDuration,
    pub segment_bytes: u64,
    pub segment_ms: SimDuration,
    pub retention_check_interval: SimDuration,
    /// Topic `retention.bytes` per partition (`None`: -1, unlimited). The four settings below are
    /// left out of `summary.json` at their defaults, so that results without them stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_bytes: Option<u64>,
    /// Topic `cleanup.policy`.
    #[serde(skip_serializing_if = "CleanupPolicy::is_default")]
    pub cleanup_policy: CleanupPolicy,
    /// Topic `min.cleanable.dirty.ratio`.
    #[serde(skip_serializing_if = "is_default_dirty_ratio")]
    pub min_cleanable_dirty_ratio: f64,
    /// Broker `log.cleaner.backoff.ms`: how often the log cleaner looks for a log to clean.
    #[serde(skip_serializing_if = "is_default_cleaner_backoff")]
    pub cleaner_backoff: SimDuration,
    /// Topic `replication.factor`: replicas of each partition, on brokers `p, p+1, ...` (mod N).
    pub replication_factor: u32,
    /// Producer `acks`: 0, 1 or -1 (`"all"`).
    pub acks: Acks,
    /// `min.insync.replicas`: with `acks = all`, a write to a smaller ISR is refused.
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election: bool,
    /// Producer `enable.idempotence`.
    pub enable_idempotence: bool,
    /// Producer `delivery.timeout.ms`. This and the next are left out of `summary.json` at their
    /// defaults, so that results without them stay as they were.
    #[serde(skip_serializing_if = "is_default_delivery_timeout")]
    pub delivery_timeout: SimDuration,
    /// Producer `max.in.flight.requests.per.connection`.
    #[serde(skip_serializing_if = "is_default_max_in_flight")]
    pub max_in_flight_requests_per_connection: u32,
    /// Producer `buffer.memory`. This and the next are left out of `summary.json` at their
    /// defaults, so that results without them stay as they were.
    #[serde(skip_serializing_if = "is_default_buffer_memory")]
    pub buffer_memory: u64,
    /// Producer `max.block.ms`.
    #[serde(skip_serializing_if = "is_default_max_block")]
    pub max_block: SimDuration,
    /// Consumer `group.protocol`.
    pub group_protocol: GroupProtocol,
    /// The classic protocol's `partition.assignment.strategy` (with the consumer protocol: the
    /// server-side `uniform` assignor, which the model runs as the sticky one).
    pub assignor: Assignor,
    /// Producer `compression.type` (left out of `summary.json` at its default, none).
    #[serde(skip_serializing_if = "compression::Codec::is_none")]
    pub compression_type: compression::Codec,
}

/// Consumer `group.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup rebalances with a client-side assignor.
    Classic,
    /// KIP-848: heartbeats carry assignments computed by the coordinator; no group-wide barrier.
    Consumer,
}

/// Partition assignors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Assignor {
    /// `RangeAssignor` (eager).
    #[serde(rename = "range")]
    Range,
    /// `RoundRobinAssignor` (eager).
    #[serde(rename = "roundrobin")]
    RoundRobin,
    /// `CooperativeStickyAssignor` (KIP-429, incremental cooperative rebalancing).
    #[serde(rename = "cooperative-sticky")]
    CooperativeSticky,
    /// The consumer protocol's server-side `UniformAssignor` (`group.consumer.assignors`' first).
    #[serde(rename = "uniform")]
    Uniform,
}

/// Topic `cleanup.policy`: which of time/size retention (`delete`) and compaction run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CleanupPolicy {
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "compact")]
    Compact,
    #[serde(rename = "compact,delete")]
    CompactDelete,
}

fn is_default_dirty_ratio(r: &f64) -> bool {
    *r == defaults::KAFKA_MIN_CLEANABLE_DIRTY_RATIO
}

fn is_default_cleaner_backoff(d: &SimDuration) -> bool {
    *d == defaults::KAFKA_CLEANER_BACKOFF
}

fn is_default_delivery_timeout(d: &SimDuration) -> bool {
    *d == defaults::KAFKA_DELIVERY_TIMEOUT
}

fn is_default_buffer_memory(n: &u64) -> bool {
    *n == defaults::KAFKA_BUFFER_MEMORY
}

fn is_default_max_block(d: &SimDuration) -> bool {
    *d == defaults::KAFKA_MAX_BLOCK
}

fn is_default_max_in_flight(n: &u32) -> bool {
    *n == defaults::KAFKA_MAX_IN_FLIGHT_REQUESTS
}

impl CleanupPolicy {
    fn is_default(&self) -> bool {
        *self == defaults::KAFKA_CLEANUP_POLICY
    }

    /// Retention by time and size runs (`LogConfig.delete`).
    pub fn deletes(self) -> bool {
        self != CleanupPolicy::Compact
    }
    /// The log cleaner compacts the topic (`LogConfig.compact`).
    pub fn compacts(self) -> bool {
        self != CleanupPolicy::Delete
    }
}

/// Producer `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// No response: the send completes when the request is written.
    Zero,
    /// The leader answers once it appended the records.
    One,
    /// The leader answers once the high watermark passed the records (the whole ISR has them).
    All,
}

impl serde::Serialize for Acks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Acks::Zero => s.serialize_i64(0),
            Acks::One => s.serialize_i64(1),
            Acks::All => s.serialize_str("all"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RabbitMqConfig {
    /// 0 = unlimited (the real default).
    pub prefetch: u16,
    pub manual_ack: bool,
    /// AMQP `delivery_mode` 2: messages survive a restart of their (durable) queue's node.
    /// Quorum queues ignore it: they persist every message ("Per message persistence: always",
    /// RabbitMQ docs, Quorum Queues, Feature Matrix).
    pub persistent: bool,
    /// Publisher confirms: the node confirms each enqueued message; the producer re-publishes what
    /// is not confirmed within [`defaults::RABBITMQ_CONFIRM_TIMEOUT`].
    pub publisher_confirms: bool,
    /// With publisher confirms: at most this many messages unconfirmed at once (PerfTest's
    /// `--confirm N`); a message due while the window is full waits in the application and is
    /// published (and timed) when a confirm frees a place. `None`: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unconfirmed: Option<u32>,
    /// `x-queue-type`.
    pub queue_type: QueueType,
    /// Quorum queue members (`x-quorum-initial-group-size`), on nodes `0..replicas`; 1 for a
    /// classic queue.
    pub replicas: u32,
    /// The negotiated AMQP `heartbeat` timeout; zero: no heartbeats (a silent connection is never
    /// given up).
    pub heartbeat: SimDuration,
    /// The node each client connects to (left out of `summary.json` when `"leader"`, the default,
    /// so that earlier results stay as they were; so is `consumer_cancel_notify` when true).
    #[serde(skip_serializing_if = "ClientNode::is_leader")]
    pub producer_node: ClientNode,
    #[serde(skip_serializing_if = "ClientNode::is_leader")]
    pub consumer_node: ClientNode,
    /// The consumers present the `consumer_cancel_notify` capability: the node sends them
    /// `basic.cancel` when their queue goes, and they subscribe again.
    #[serde(skip_serializing_if = "is_true")]
    pub consumer_cancel_notify: bool,
    /// Stream retention and segments (`queue_type = "stream"` only; left out of `summary.json`
    /// otherwise, so that results without a stream stay as they were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamConfig>,
    /// Classic queues per group, spread over the nodes (the benchmark driver's one queue per
    /// routing key): a message goes to queue `id mod queues`. Simplification: their work runs in
    /// one process each, but delivery is modelled as one FIFO shared by the group's consumers.
    /// Left out of `summary.json` when 1.
    #[serde(skip_serializing_if = "is_one")]
    pub queues: u32,
    /// Publishes carry the `mandatory` flag: an unroutable message is returned (`basic.return`).
    /// Left out of `summary.json` when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mandatory: bool,
    /// `consumer_timeout`: a channel whose delivery waited this long for its ack is closed and its
    /// unacknowledged messages requeued. Left out of `summary.json` at the default (30 min).
    #[serde(skip_serializing_if = "defaults::is_rabbitmq_consumer_timeout")]
    pub consumer_timeout: SimDuration,
    /// `vm_memory_high_watermark.relative`: the node raises its memory alarm when what it holds
    /// passes this fraction of its RAM (calibrated profiles only). Left out of `summary.json` at
    /// the default (0.6).
    #[serde(skip_serializing_if = "defaults::is_rabbitmq_vm_memory_high_watermark")]
    pub vm_memory_high_watermark: f64,
    /// `disk_free_limit.absolute`: the node raises its disk alarm when its free disk space falls
    /// below this many bytes. Left out of `summary.json` at the default (50 MB).
    #[serde(skip_serializing_if = "defaults::is_rabbitmq_disk_free_limit")]
    pub disk_free_limit: u64,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Which RabbitMQ node a client's connection is to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientNode {
    /// The queue's node (a quorum queue's leader at each connection): no traffic between nodes.
    Leader,
    /// Cluster node `i`, whatever the queue's node: its channel forwards to the queue's node.
    Broker(u32),
}

impl ClientNode {
    pub fn is_leader(&self) -> bool {
        *self == ClientNode::Leader
    }
}

impl serde::Serialize for ClientNode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ClientNode::Leader => s.serialize_str("leader"),
            ClientNode::Broker(i) => s.serialize_u32(*i),
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A RabbitMQ stream's declaration arguments.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StreamConfig {
    /// `x-max-age`: segments whose newest message is older are deleted (`None`: no age limit).
    pub max_age: Option<SimDuration>,
    /// `x-max-length-bytes`: the stream keeps at most this many bytes (`None`: no size limit).
    pub max_length_bytes: Option<u64>,
    /// `x-stream-max-segment-size-bytes`: a segment is closed once it holds this many bytes.
    pub max_segment_size_bytes: u64,
}

/// RabbitMQ's `x-queue-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// One replica, on node 0: unavailable while that node is down.
    Classic,
    /// Replicated by Raft over `replicas` nodes: available while a majority is up.
    Quorum,
    /// An append-only log (one stream bound to the exchange, read by every group at its own
    /// offset), on node 0; acknowledgements delete nothing.
    Stream,
}

impl QueueType {
    pub fn name(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NetworkConfig {
    /// One-way delay between any client and the broker.
    pub latency: SimDuration,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// Producers publish in [0, duration); then the run drains.
    pub duration: SimDuration,
    /// Messages published before this are left out of the statistics.
    pub warmup: SimDuration,
    /// Longest drain after `duration`; `None` drains until every group has caught up.
    pub drain: Option<SimDuration>,
    pub sample_interval: SimDuration,
    /// The file set `sample_interval`; otherwise [`crate::plan::admit`] may widen the default to
    /// cover a long drain.
    #[serde(skip)]
    pub sample_interval_set: bool,
    pub profile: Profile,
    /// The nodes' resources and the brokers' costs: the profile's, with `[cluster]` overrides.
    /// `None`: costless brokers (`ideal`, `lan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<hardware::Body>,
    pub systems: Vec<SystemKind>,
    pub workload: Workload,
    pub groups: Vec<Group>,
    pub kafka: KafkaConfig,
    pub rabbitmq: RabbitMqConfig,
    pub network: NetworkConfig,
    /// Brokers in the cluster: Kafka brokers and RabbitMQ nodes alike.
    pub brokers: u32,
    /// The fault schedule, expanded and in time order.
    pub faults: Vec<faults::Fault>,
    /// Operator actions and late group starts, expanded and in time order.
    pub operations: Vec<operations::Operation>,
    /// Exchanges, bindings, routing keys and headers (issue 18); `None`: every group is owed
    /// every message (a fanout exchange), and `summary.json` leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<routing::Routing>,
    /// SHA-256 of the file's bytes, for the manifest.
    #[serde(skip)]
    pub source_sha256: String,
    /// The lesson in the file's leading comments (`# LESSON: ...`), if it has one (TOML only).
    #[serde(skip)]
    pub lesson: Option<lesson::Lesson>,
    /// The `--set PATH=VALUE` overrides applied, as typed, in order.
    #[serde(skip)]
    pub overrides: Vec<String>,
}

impl Scenario {
    /// Expected number of messages published: the integral of the rate over [0, duration).
    pub fn expected_messages(&self) -> f64 {
        let end = SimTime(self.duration.0);
        let phases = &self.workload.phases;
        phases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let until = phases.get(i + 1).map_or(end, |n| n.at.min(end));
                p.rate * until.since(p.at.min(end)).as_secs_f64()
            })
            .sum()
    }

    /// Loads and validates a scenario file. JSON if the name ends in `.json`, TOML otherwise.
    /// What needs an estimate of the run (the poll-interval refusal, a default sample interval
    /// wide enough for a long drain) is [`crate::plan`]'s: use `plan::load` to run a file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        validate::load(path, &[])
    }

    /// Loads a scenario file with `--set` overrides written into it before any check.
    pub fn load_with(path: &Path, sets: &[overrides::Override]) -> Result<Scenario, ScenarioError> {
        validate::load(path, sets)
    }

    /// Parses scenario text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &str, json: bool) -> Result<Scenario, ScenarioError> {
        validate::parse(text.as_bytes(), file, json, &[])
    }
}
