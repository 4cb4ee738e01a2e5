//! The scenario file as written: every field optional where a default exists, unknown fields
//! refused. `validate.rs` turns this into a typed [`super::Scenario`].

use serde::Deserialize;
use std::collections::BTreeMap;

/// A leaf value where the file may hold a number or a string ("5ms", "1KiB").
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Leaf {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

/// A value that may be a scalar or a small table (distributions, keys).
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum ScalarOrTable {
    Scalar(Leaf),
    Table(BTreeMap<String, Leaf>),
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<i64>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub drain: Option<String>,
    pub sample_interval: Option<String>,
    pub profile: Option<String>,
    pub systems: Option<Vec<String>>,
    pub workload: Option<RawWorkload>,
    pub groups: Option<Vec<RawGroup>>,
    pub kafka: Option<RawKafka>,
    pub rabbitmq: Option<RawRabbitMq>,
    pub network: Option<RawNetwork>,
    pub cluster: Option<RawCluster>,
    pub faults: Option<Vec<RawFault>>,
    pub operations: Option<Vec<RawOperation>>,
    pub exchanges: Option<Vec<RawExchange>>,
    pub bindings: Option<Vec<RawBinding>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub alternate_exchange: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    pub exchange: String,
    pub queue: String,
    pub routing_key: Option<String>,
    pub arguments: Option<BTreeMap<String, Leaf>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawOperation {
    pub at: String,
    pub action: String,
    pub group: String,
    pub to: Option<String>,
    pub consumers: Option<i64>,
    pub interval: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub brokers: Option<i64>,
    pub cores: Option<i64>,
    pub nic: Option<String>,
    pub disk: Option<String>,
    pub fsync: Option<String>,
    pub page_cache: Option<Leaf>,
    pub dirty_limit: Option<Leaf>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: String,
    pub action: String,
    pub target: Option<String>,
    pub duration: Option<String>,
    pub sides: Option<Vec<Vec<String>>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub rate: Option<f64>,
    pub arrivals: Option<String>,
    pub message_bytes: Option<ScalarOrTable>,
    pub keys: Option<ScalarOrTable>,
    pub phases: Option<Vec<RawPhase>>,
    pub exchange: Option<String>,
    pub routing_keys: Option<BTreeMap<String, f64>>,
    pub headers: Option<BTreeMap<String, BTreeMap<String, f64>>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub at: String,
    pub rate: f64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    pub consumers: Option<i64>,
    pub processing: Option<ScalarOrTable>,
    pub start: Option<String>,
    pub from: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub topics: Option<Vec<String>>,
    pub subscribe_pattern: Option<String>,
    pub filter: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
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
    pub max_in_flight_requests_per_connection: Option<i64>,
    pub group_protocol: Option<String>,
    pub assignor: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRabbitMq {
    pub prefetch: Option<i64>,
    pub ack: Option<String>,
    pub persistent: Option<bool>,
    pub publisher_confirms: Option<bool>,
    pub queue_type: Option<String>,
    pub replicas: Option<i64>,
    pub stream_max_age: Option<String>,
    pub stream_max_length_bytes: Option<Leaf>,
    pub stream_max_segment_size_bytes: Option<Leaf>,
    pub heartbeat: Option<String>,
    pub producer_node: Option<Leaf>,
    pub consumer_node: Option<Leaf>,
    pub consumer_cancel_notify: Option<bool>,
    pub queues: Option<i64>,
    pub mandatory: Option<bool>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub latency: Option<String>,
}
