//! The scenario file as written: every field optional where a default exists, unknown fields
//! refused. `validate.rs` turns this into a typed [`super::Scenario`]. The same types give the
//! files' JSON Schema ([`schema`], `pushpull schema`): field names as in the files; it checks the
//! shape and the named values, the file's own checks (`validate.rs`) the rest.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A leaf value where the file may hold a number or a string ("5ms", "1KiB").
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(untagged)]
pub enum Leaf {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

/// A value that may be a scalar or a small table (distributions, keys).
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(untagged)]
pub enum ScalarOrTable {
    Scalar(Leaf),
    Table(BTreeMap<String, Leaf>),
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// The results folder's name (default: the file name without its extension).
    pub name: Option<String>,
    /// One line shown in the table and the report.
    pub description: Option<String>,
    /// Seed of every random stream: the same seed gives the same bytes.
    pub seed: Option<i64>,
    /// How long producers publish ("30m", "2h", "90s"); then the run drains.
    pub duration: Option<String>,
    /// Messages published before this are left out of the statistics (default 0s).
    pub warmup: Option<String>,
    /// Longest drain after `duration` (default: until every group has caught up).
    pub drain: Option<String>,
    /// Interval of timeseries.csv and the charts (default: chosen from the run's length).
    pub sample_interval: Option<String>,
    /// Costs: "ideal" (none), "lan" (network delay), "omb-2020", "kreps-2014" or "rabbitmq-2024" (nodes with
    /// CPU, disk and network).
    #[schemars(extend("enum" = ["ideal", "lan", "omb-2020", "kreps-2014", "rabbitmq-2024"]))]
    pub profile: Option<String>,
    /// Which systems run (default both).
    #[schemars(extend("items" = { "enum": ["kafka", "rabbitmq"] }))]
    pub systems: Option<Vec<String>>,
    /// The message stream, shared by both systems.
    pub workload: Option<RawWorkload>,
    /// Consumer groups: each reads every message (Kafka consumer group, RabbitMQ queue).
    pub groups: Option<Vec<RawGroup>>,
    /// Kafka settings (docs/scenario.md names the real setting of each).
    pub kafka: Option<RawKafka>,
    /// RabbitMQ settings (docs/scenario.md names the real setting of each).
    pub rabbitmq: Option<RawRabbitMq>,
    /// The network between clients and brokers.
    pub network: Option<RawNetwork>,
    /// Brokers and, under a calibrated profile, each node's resources.
    pub cluster: Option<RawCluster>,
    /// The fault schedule: crashes, hangs, network partitions.
    pub faults: Option<Vec<RawFault>>,
    /// Operator actions on groups: late starts, offset resets, scaling, rolling restarts.
    pub operations: Option<Vec<RawOperation>>,
    /// RabbitMQ exchanges (docs/routing.md); without any, every group gets every message.
    pub exchanges: Option<Vec<RawExchange>>,
    /// Bindings from an exchange to a group's queue.
    pub bindings: Option<Vec<RawBinding>>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    pub name: String,
    /// direct, fanout, topic or headers.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["direct", "fanout", "topic", "headers"]))]
    pub kind: Option<String>,
    /// Where a message no binding wants goes (`alternate-exchange`).
    pub alternate_exchange: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    pub exchange: String,
    /// The group whose queue is bound (a group's queue is named after the group).
    pub queue: String,
    /// A topic pattern (`*` one word, `#` zero or more) or a direct key.
    pub routing_key: Option<String>,
    /// A headers binding's arguments, with `x-match`.
    pub arguments: Option<BTreeMap<String, Leaf>>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawOperation {
    pub at: String,
    pub action: String,
    pub group: String,
    pub to: Option<String>,
    pub consumers: Option<i64>,
    pub interval: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub brokers: Option<i64>,
    pub cores: Option<i64>,
    pub nic: Option<String>,
    pub disk: Option<String>,
    pub fsync: Option<String>,
    pub page_cache: Option<Leaf>,
    pub dirty_limit: Option<Leaf>,
    /// Installed memory per node (RabbitMQ's memory alarm is a fraction of it).
    pub ram: Option<Leaf>,
    /// Size of each node's data volume (RabbitMQ's disk alarm watches its free space).
    pub disk_size: Option<Leaf>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: String,
    pub action: String,
    pub target: Option<String>,
    pub duration: Option<String>,
    pub sides: Option<Vec<Vec<String>>>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Messages published per second.
    pub rate: Option<f64>,
    /// How messages arrive: "poisson" (default) or "constant".
    #[schemars(extend("enum" = ["poisson", "constant"]))]
    pub arrivals: Option<String>,
    pub message_bytes: Option<ScalarOrTable>,
    pub keys: Option<ScalarOrTable>,
    pub phases: Option<Vec<RawPhase>>,
    pub exchange: Option<String>,
    pub routing_keys: Option<BTreeMap<String, f64>>,
    pub headers: Option<BTreeMap<String, BTreeMap<String, f64>>>,
    /// AMQP message priority (0 to 255) -> weight: each message is published with one priority,
    /// drawn per message (RabbitMQ queues with `max_priority` serve higher ones first).
    pub priorities: Option<BTreeMap<String, f64>>,
    /// How compressible the payload is: zstd's ratio (uncompressed / compressed) over a large
    /// batch, e.g. 4.0 (default 3.1, the Silesia corpus). Used with `kafka.compression_type`.
    pub compression_ratio: Option<f64>,
    /// Producer clients, each on its own host, sharing the offered rate (default 1): message `i`
    /// goes to producer `i mod producers`.
    pub producers: Option<u32>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub at: String,
    pub rate: f64,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    pub consumers: Option<i64>,
    pub processing: Option<ScalarOrTable>,
    pub start: Option<String>,
    pub from: Option<String>,
    #[serde(rename = "type")]
    /// "consumer" (default: a consumer group) or "share" (a Kafka share group).
    #[schemars(extend("enum" = ["consumer", "share"]))]
    pub kind: Option<String>,
    pub topics: Option<Vec<String>>,
    pub subscribe_pattern: Option<String>,
    pub filter: Option<String>,
    /// RabbitMQ `x-message-ttl`: a ready message older than this expires ("30s").
    pub message_ttl: Option<String>,
    /// Kafka: the consumer application skips a record whose timestamp (CreateTime) is older than
    /// this when it comes to it ("30s"); RabbitMQ's side uses `message_ttl`.
    pub max_age: Option<String>,
    /// RabbitMQ `x-max-length`: the most ready messages in the queue.
    pub max_length: Option<i64>,
    /// RabbitMQ `x-max-length-bytes`: the most bytes of ready messages ("1MiB").
    pub max_length_bytes: Option<Leaf>,
    /// RabbitMQ `x-overflow` at the length limit (default drop-head).
    #[schemars(extend("enum" = ["drop-head", "reject-publish", "reject-publish-dlx"]))]
    pub overflow: Option<String>,
    /// RabbitMQ `x-dead-letter-exchange`: a declared `[[exchanges]]` name.
    pub dead_letter_exchange: Option<String>,
    /// RabbitMQ `x-dead-letter-routing-key` (default: the message's own routing key).
    pub dead_letter_routing_key: Option<String>,
    /// RabbitMQ `x-single-active-consumer`: one consumer at a time gets the queue's messages.
    pub single_active_consumer: Option<bool>,
    /// RabbitMQ `x-max-priority` (1 to 255): a priority queue, higher message priorities first.
    pub max_priority: Option<i64>,
    /// RabbitMQ quorum queue `x-delivery-limit`: failed deliveries before a message is
    /// dead-lettered or dropped (default 20; -1: no limit).
    pub delivery_limit: Option<i64>,
    /// RabbitMQ quorum queue `x-dead-letter-strategy`: "at-most-once" (the default; the only one
    /// simulated).
    #[schemars(extend("enum" = ["at-most-once", "at-least-once"]))]
    pub dead_letter_strategy: Option<String>,
    /// Fraction (0 to 1) of messages whose processing fails (docs/failures.md).
    pub failure_rate: Option<f64>,
    /// Of the failing messages, the fraction (0 to 1) that fail on every attempt.
    pub poison_fraction: Option<f64>,
    /// What a consumer does with a failed message: `{ rabbitmq = "...", kafka = "..." }`, or one
    /// string for the system it fits.
    pub on_failure: Option<RawOnFailure>,
    /// Kafka `retry-topics`: each retry topic's delay ("5s", "1m"), then the dead-letter topic.
    pub retry_topics: Option<Vec<String>>,
    /// Kafka `retry-in-place`: wait before processing the record again.
    pub retry_backoff: Option<String>,
    /// Kafka `retry-in-place`: attempts before the record is given up, or "unlimited".
    pub max_attempts: Option<Leaf>,
    /// An idempotent consumer application: it remembers the ids it processed (the last
    /// `dedup_window` of them) and skips a message it already applied.
    pub idempotent: Option<bool>,
    /// How many recently processed message ids an idempotent consumer remembers.
    pub dedup_window: Option<i64>,
}

/// `on_failure`: one value per system, or a plain string for the system it names.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(untagged)]
pub enum RawOnFailure {
    #[schemars(extend("enum" = ["nack-requeue", "reject-requeue", "nack", "reject", "retry-in-place", "skip", "retry-topics"]))]
    One(String),
    PerSystem(RawOnFailurePerSystem),
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawOnFailurePerSystem {
    #[schemars(extend("enum" = ["nack-requeue", "reject-requeue", "nack", "reject"]))]
    pub rabbitmq: Option<String>,
    #[schemars(extend("enum" = ["retry-in-place", "skip", "retry-topics"]))]
    pub kafka: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawKafka {
    pub partitions: Option<i64>,
    pub linger: Option<String>,
    pub batch_size: Option<Leaf>,
    pub max_poll_records: Option<i64>,
    pub fetch_min_bytes: Option<Leaf>,
    pub fetch_max_wait: Option<String>,
    pub fetch_max_bytes: Option<Leaf>,
    pub max_partition_fetch_bytes: Option<Leaf>,
    pub enable_auto_commit: Option<bool>,
    pub auto_commit_interval: Option<String>,
    pub auto_offset_reset: Option<String>,
    pub retention: Option<String>,
    pub segment_bytes: Option<Leaf>,
    pub segment_ms: Option<String>,
    pub retention_check_interval: Option<String>,
    pub retention_bytes: Option<Leaf>,
    pub cleanup_policy: Option<String>,
    pub min_cleanable_dirty_ratio: Option<Leaf>,
    pub cleaner_backoff: Option<String>,
    pub replication_factor: Option<i64>,
    pub acks: Option<Leaf>,
    pub min_insync_replicas: Option<i64>,
    pub unclean_leader_election: Option<bool>,
    pub enable_idempotence: Option<bool>,
    pub delivery_timeout: Option<String>,
    /// Producer `buffer.memory` (default 32 MiB).
    pub buffer_memory: Option<Leaf>,
    /// Producer `max.block.ms` (default 60 s).
    pub max_block: Option<String>,
    pub max_in_flight_requests_per_connection: Option<i64>,
    /// Kafka group protocol: "classic" (default) or "consumer" (KIP-848).
    #[schemars(extend("enum" = ["classic", "consumer"]))]
    pub group_protocol: Option<String>,
    /// Partition assignor of the classic protocol.
    #[schemars(extend("enum" = ["range", "roundrobin", "cooperative-sticky"]))]
    pub assignor: Option<String>,
    /// Producer `compression.type` (default "none").
    #[schemars(extend("enum" = ["none", "gzip", "snappy", "lz4", "zstd"]))]
    pub compression_type: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRabbitMq {
    pub prefetch: Option<i64>,
    /// "manual" (default) or "auto".
    #[schemars(extend("enum" = ["manual", "auto"]))]
    pub ack: Option<String>,
    pub persistent: Option<bool>,
    pub publisher_confirms: Option<bool>,
    /// With publisher_confirms: at most this many messages unconfirmed at once (PerfTest's
    /// `--confirm N`); none by default.
    pub max_unconfirmed: Option<i64>,
    /// "classic" (default), "quorum" or "stream".
    #[schemars(extend("enum" = ["classic", "quorum", "stream"]))]
    pub queue_type: Option<String>,
    pub replicas: Option<i64>,
    pub stream_max_age: Option<String>,
    pub stream_max_length_bytes: Option<Leaf>,
    pub stream_max_segment_size_bytes: Option<Leaf>,
    pub heartbeat: Option<String>,
    /// `vm_memory_high_watermark.relative` (rabbitmq.conf): the memory alarm's threshold, a
    /// fraction of the node's RAM (default 0.6). Calibrated profiles only.
    pub vm_memory_high_watermark: Option<f64>,
    /// `disk_free_limit.absolute` (rabbitmq.conf): the disk alarm's threshold of free disk space
    /// (default "50MB"). Calibrated profiles only.
    pub disk_free_limit: Option<Leaf>,
    pub producer_node: Option<Leaf>,
    pub consumer_node: Option<Leaf>,
    pub consumer_cancel_notify: Option<bool>,
    pub queues: Option<i64>,
    pub mandatory: Option<bool>,
    /// `consumer_timeout` (rabbitmq.conf): a delivery unacknowledged this long closes its channel
    /// (default "30m").
    pub consumer_timeout: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub latency: Option<String>,
}

/// The JSON Schema (draft 2020-12) of scenario files, as `pushpull schema` prints it: pretty JSON
/// and a final newline.
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(RawScenario);
    schema.insert("title".into(), "pushpull scenario".into());
    schema.insert(
        "description".into(),
        "A pushpull scenario file (TOML, or JSON with a .json name); docs/scenario.md describes every field.".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is plain data");
    text.push('\n');
    text
}
