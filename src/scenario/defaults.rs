//! Every default in one place. Where the real system has a default, ours is the same and the doc
//! comment names the real setting; where it has none, the comment says what we chose and why.

use crate::time::SimDuration;

// ---- Kafka (Apache Kafka 4.0 producer, consumer and broker/topic configs) ----

/// Broker `num.partitions` = 1.
pub const KAFKA_PARTITIONS: u32 = 1;
/// Ours: what a Kafka consumer with `filter = "consumer"` spends on a record it discards (reading
/// its routing key or header and comparing it), an assumption, not a measurement.
pub const KAFKA_CONSUMER_FILTER_CHECK: SimDuration = SimDuration(5_000);
/// Ours: what a Kafka consumer with `max_age` spends on a record it skips as too old (reading its
/// timestamp and comparing it with the clock), the same assumption as the filter check.
pub const KAFKA_CONSUMER_AGE_CHECK: SimDuration = KAFKA_CONSUMER_FILTER_CHECK;
/// Producer `compression.type` = none.
pub const KAFKA_COMPRESSION_TYPE: crate::scenario::compression::Codec = crate::scenario::compression::Codec::None;
/// Ours: `[workload] compression_ratio`, zstd's ratio on the payload when the file gives none: 3.1,
/// zstd level 3's on the Silesia corpus (32.29% of the input, `scenario/compression.rs`), a
/// general mix of text and binary data. Logs and JSON often do better.
pub const COMPRESSION_RATIO: f64 = 3.1;
/// Producer `linger.ms` = 5 (the default changed from 0 to 5 in Kafka 4.0, KIP-1030).
pub const KAFKA_LINGER: SimDuration = SimDuration(5_000_000);
/// Producer `batch.size` = 16384 bytes.
pub const KAFKA_BATCH_SIZE: u64 = 16_384;
/// Consumer `max.poll.records` = 500.
pub const KAFKA_MAX_POLL_RECORDS: u32 = 500;
/// Consumer `fetch.min.bytes` = 1.
pub const KAFKA_FETCH_MIN_BYTES: u64 = 1;
/// Consumer `fetch.max.wait.ms` = 500.
pub const KAFKA_FETCH_MAX_WAIT: SimDuration = SimDuration(500_000_000);
/// Consumer `fetch.max.bytes` = 52428800 (50 MiB).
pub const KAFKA_FETCH_MAX_BYTES: u64 = 52_428_800;
/// Consumer `max.partition.fetch.bytes` = 1048576 (1 MiB).
pub const KAFKA_MAX_PARTITION_FETCH_BYTES: u64 = 1_048_576;
/// Consumer `enable.auto.commit` = true.
pub const KAFKA_ENABLE_AUTO_COMMIT: bool = true;
/// Consumer `auto.commit.interval.ms` = 5000.
pub const KAFKA_AUTO_COMMIT_INTERVAL: SimDuration = SimDuration(5_000_000_000);
/// Topic `retention.ms` = 604800000 (7 days).
pub const KAFKA_RETENTION: SimDuration = SimDuration(604_800_000_000_000);
/// Topic `segment.bytes` = 1073741824 (1 GiB).
pub const KAFKA_SEGMENT_BYTES: u64 = 1_073_741_824;
/// Topic `segment.ms` = 604800000 (7 days).
pub const KAFKA_SEGMENT_MS: SimDuration = SimDuration(604_800_000_000_000);
/// Broker `log.initial.task.delay.ms` = 30000: the first retention check runs this long after the
/// broker starts (then every `log.retention.check.interval.ms`).
pub const KAFKA_LOG_INITIAL_TASK_DELAY: SimDuration = SimDuration(30_000_000_000);
/// Broker `log.retention.check.interval.ms` = 300000 (5 minutes).
pub const KAFKA_RETENTION_CHECK_INTERVAL: SimDuration = SimDuration(300_000_000_000);
/// Topic `retention.bytes` = -1 (no size limit; per partition). `None` here.
pub const KAFKA_RETENTION_BYTES: Option<u64> = None;
/// Topic `cleanup.policy` = delete (`ServerLogConfigs.LOG_CLEANUP_POLICY_DEFAULT`).
pub const KAFKA_CLEANUP_POLICY: crate::scenario::CleanupPolicy = crate::scenario::CleanupPolicy::Delete;
/// Topic `min.cleanable.dirty.ratio` = 0.5 (`LogConfig.DEFAULT_MIN_CLEANABLE_DIRTY_RATIO`): a log
/// is cleaned when its dirty bytes are more than this share of its cleanable bytes.
pub const KAFKA_MIN_CLEANABLE_DIRTY_RATIO: f64 = 0.5;
/// Broker `log.cleaner.backoff.ms` = 15000 (`CleanerConfig.LOG_CLEANER_BACKOFF_MS`): how long the
/// cleaner sleeps when no log needs cleaning.
pub const KAFKA_CLEANER_BACKOFF: SimDuration = SimDuration(15_000_000_000);

// ---- RabbitMQ (4.x) ----

/// `basic.qos` prefetch-count = 0, which means unlimited.
pub const RABBITMQ_PREFETCH: u16 = 0;
/// `basic.consume` no-ack = false: manual acknowledgements.
pub const RABBITMQ_MANUAL_ACK: bool = true;
/// AMQP `delivery_mode` = 1 (transient) unless the publisher asks for 2 (persistent).
pub const RABBITMQ_PERSISTENT: bool = false;
/// Publisher confirms are off unless the channel enables them (`confirm.select`).
pub const RABBITMQ_PUBLISHER_CONFIRMS: bool = false;
/// Ours: a publisher re-publishes a message not confirmed within 5 s (AMQP sets no default; 5 s is
/// a common `waitForConfirms` timeout).
pub const RABBITMQ_CONFIRM_TIMEOUT: SimDuration = SimDuration(5_000_000_000);
/// `consumer_timeout` = 1800000 ms (30 min): a delivery unacknowledged this long closes its channel.
pub const RABBITMQ_CONSUMER_TIMEOUT: SimDuration = SimDuration(1_800_000_000_000);

pub fn is_rabbitmq_consumer_timeout(d: &SimDuration) -> bool {
    *d == RABBITMQ_CONSUMER_TIMEOUT
}
/// `vm_memory_high_watermark` = 0.6 of the node's RAM (`deps/rabbit/Makefile`, 4.x; 0.4 before
/// 3.13's docs and in `rabbit_memory.hrl`'s fallback for an invalid value).
pub const RABBITMQ_VM_MEMORY_HIGH_WATERMARK: f64 = 0.6;

pub fn is_rabbitmq_vm_memory_high_watermark(w: &f64) -> bool {
    *w == RABBITMQ_VM_MEMORY_HIGH_WATERMARK
}
/// `disk_free_limit` = 50,000,000 bytes (`deps/rabbit/Makefile`, "50MB").
pub const RABBITMQ_DISK_FREE_LIMIT: u64 = 50_000_000;

pub fn is_rabbitmq_disk_free_limit(b: &u64) -> bool {
    *b == RABBITMQ_DISK_FREE_LIMIT
}
/// How often a node checks consumer timeouts (its channel tick, 1 min).
pub const RABBITMQ_CONSUMER_TIMEOUT_CHECK: SimDuration = SimDuration(60_000_000_000);
/// Clients present the `consumer_cancel_notify` capability (every RabbitMQ-supported client does,
/// docs "Consumer Cancel Notification").
pub const RABBITMQ_CONSUMER_CANCEL_NOTIFY: bool = true;
/// Client automatic recovery (`networkRecoveryInterval` of the Java client) = 5000 ms.
pub const RABBITMQ_RECOVERY_INTERVAL: SimDuration = SimDuration(5_000_000_000);
/// Quorum queue members when `replicas` is not given: `rabbit.quorum_cluster_size` = 3 (the
/// default of `x-quorum-initial-group-size`; RabbitMQ docs, "Quorum Queues", Fault Tolerance), at
/// most one per node, so `min(3, brokers)`.
pub const RABBITMQ_QUORUM_INITIAL_GROUP_SIZE: u32 = 3;
/// Quorum queue `delivery-limit` = 20 since RabbitMQ 4.0 (release notes 4.0.0, "Quorum Queues Now
/// Have a Default Redelivery Limit"; `rabbit_quorum_queue.erl` `DEFAULT_DELIVERY_LIMIT`): a message
/// whose `delivery-count` (failed deliveries) goes past it is dead-lettered, reason
/// `delivery_limit`, or dropped without a dead-letter exchange (`rabbit_fifo.erl` `return_one`:
/// `DeliveryCount > DeliveryLimit`). A negative `x-delivery-limit` disables it.
pub const RABBITMQ_QUORUM_DELIVERY_LIMIT: u32 = 20;
/// Quorum queue `consumer_disconnected_timeout` = 60000 ms (RabbitMQ 4.3): when a consumer's node
/// is unreachable (`noconnection`) its deliveries stay with it this long, in case the node comes
/// back, before they are returned to the queue (`rabbit_fifo.erl`; release notes 4.3.0). If the
/// node comes back earlier and the consumer's channel is gone, they are returned at once.
pub const RABBITMQ_CONSUMER_DISCONNECTED_TIMEOUT: SimDuration = SimDuration(60_000_000_000);
/// `rabbit.quorum_commands_soft_limit` = 32 (`rabbit_fifo_client.erl` `SOFT_LIMIT`): a channel
/// with this many enqueues not yet applied by the quorum queue is "slow" and blocks its
/// connection (flow control) until fewer are pending; the publisher cannot publish meanwhile.
pub const RABBITMQ_QUORUM_COMMANDS_SOFT_LIMIT: u32 = 32;
/// `credit_flow_default_credit` = {400, 200}: a process may send 400 messages to another before
/// it must wait for credit, which comes back 200 at a time as they are processed (rabbit's
/// `credit_flow` module, used between a channel and a classic queue).
pub const RABBITMQ_CREDIT_FLOW_DEFAULT_CREDIT: (u64, u64) = (400, 200);
/// `rabbit.stream_messages_soft_limit` = 256: a channel with this many messages written to a
/// stream's writer and not yet confirmed by it (`osiris_written`) blocks its connection until fewer
/// are pending (`rabbit_stream_queue:deliver0` and `handle_event`).
pub const RABBITMQ_STREAM_MESSAGES_SOFT_LIMIT: u64 = 256;
/// Ra `broadcast_time` = 100 ms (`ra_server_proc.erl` `DEFAULT_BROADCAST_TIME`). When a follower
/// learns that the leader's node is down (Erlang distribution reports `noconnection` as soon as
/// the crashed node's connections close), it waits `rand:uniform(5 x broadcast_time) +
/// broadcast_time`, 100 to 600 ms, before it asks for pre-votes.
pub const RABBITMQ_RA_BROADCAST_TIME: SimDuration = SimDuration(100_000_000);
/// `raft.adaptive_failure_detector.poll_interval` = 1000 ms (Aten's `poll_interval`, used by Ra).
/// Sets Ra's longer election timeouts: a pre-vote round that fails is retried after
/// `rand:uniform(1000) + poll_interval` ms, a candidate after `rand:uniform(poll_interval) +
/// broadcast_time` ms. It is also how often Aten's detector polls, so a partitioned leader is suspected 0.15 to 1.15 s after
/// its last heartbeat and a follower stands for election 1 to 2 s later.)
pub const RABBITMQ_ATEN_POLL_INTERVAL: SimDuration = SimDuration(1_000_000_000);
/// `heartbeat` = 60 s (`deps/rabbit/Makefile`, `{heartbeat, 60}`), the timeout the server proposes
/// and clients accept: each end sends a heartbeat frame when it has sent nothing for half of it,
/// and closes the connection when its reader saw no data at two checks in a row, one interval
/// apart: 120 to 180 s after the last data (`rabbit_heartbeat.erl`: "we will time out between 2
/// and 3 intervals after the last data has been received"). 0 turns heartbeats off.
pub const RABBITMQ_HEARTBEAT: SimDuration = SimDuration(60_000_000_000);
/// Erlang's `net_ticktime` = 60 s (kernel default, unchanged by RabbitMQ): a node checks each
/// distribution connection every `net_ticktime / 4` (15 s) and declares the peer down at the
/// fourth check in a row that found nothing read (`dist_util.erl` `send_tick/6`): 60 to 75 s
/// after the last data (its comment and the docs give 45 s < T < 75 s).
pub const RABBITMQ_NET_TICKTIME: SimDuration = SimDuration(60_000_000_000);
/// Aten (Ra's failure detector) `heartbeat_interval` = 100 ms (`aten.app.src`): every node sends
/// each node it watches a heartbeat this often (`aten_sink:beat/1`, `noconnect, nosuspend`).
pub const RABBITMQ_ATEN_HEARTBEAT_INTERVAL: SimDuration = SimDuration(100_000_000);
/// Aten `scaling_factor` = 1.5 (`aten.app.src`): a node is down when the silence since its last
/// heartbeat exceeds 1.5 times the gaps between its heartbeats (`aten_detect.erl`
/// `failure_prob_at/2`; with regular 100 ms gaps the failure probability jumps from 0 to 1 at
/// 150 ms), as seen at the next poll (`poll_interval`, 1 s).
pub const RABBITMQ_ATEN_SILENCE: SimDuration = SimDuration(150_000_000);
/// Ra's leader tick (`ra_server_proc.erl` `TICK_INTERVAL_MS` = 1000): Ra leaders send nothing while
/// idle; on this tick they re-send to followers what they lack (and the commit index), and the
/// quorum queue checks its consumers.
pub const RABBITMQ_RA_TICK: SimDuration = SimDuration(1_000_000_000);
/// Stream `x-stream-max-segment-size-bytes` = 500000000 (500 MB; osiris `osiris_log.erl`
/// `DEFAULT_MAX_SEGMENT_SIZE_B`): the writer closes a segment once it holds this many bytes
/// (`max_segment_size_reached`: size >= the limit, checked before each chunk is written).
pub const RABBITMQ_STREAM_MAX_SEGMENT_SIZE_BYTES: u64 = 500_000_000;
/// The largest `x-stream-max-segment-size-bytes` accepted here (RabbitMQ refuses values above its
/// own maximum in `rabbit_stream_queue:check_max_segment_size_bytes`).
pub const RABBITMQ_STREAM_MAX_SEGMENT_SIZE_LIMIT: u64 = 3_000_000_000;
/// Stream `x-max-age` and `x-max-length-bytes`: not set by default, so a stream keeps everything.
pub const RABBITMQ_STREAM_MAX_AGE: Option<SimDuration> = None;
pub const RABBITMQ_STREAM_MAX_LENGTH_BYTES: Option<u64> = None;
/// osiris `retention_eval_interval` = 1 h (`osiris_retention.erl` `DEFAULT_SCHEDULED_EVAL_TIME`):
/// retention runs when a segment rolls and, while `x-max-age` is set and more than one segment is
/// left, again this long after the last run.
pub const RABBITMQ_STREAM_RETENTION_EVAL_INTERVAL: SimDuration = SimDuration(3_600_000_000_000);
/// `max_message_size` = 16 MiB in RabbitMQ 4.x; also our limit for any message.
pub const MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024 - 1;

// ---- Ours ----

/// Seed when the scenario names none.
pub const SEED: u64 = 1;
/// One-way client<->broker delay of the `lan` profile: a data-centre round trip of about 0.5 ms.
pub const LAN_LATENCY: SimDuration = SimDuration(250_000);
/// Refuse scenarios whose estimated peak memory (both systems together) is above this, unless
/// `--force`: 1.5 GiB, so that an accepted run stays under 2 GiB with room for the estimate's error.
pub const MAX_MEMORY_BYTES: f64 = 1.5 * 1024.0 * 1024.0 * 1024.0;
/// Refuse scenarios whose estimated CPU time (user + system, both systems together) is above this
/// many seconds, unless `--force`: an accepted run finishes within a minute even on one core shared
/// with another busy process, with room for the estimate's error (measured up to 1.1 x).
pub const MAX_CPU_SECS: f64 = 20.0;
/// `--history` prints a warning when it would write more than this many bytes.
pub const HISTORY_WARN_BYTES: f64 = 1e9;
/// Longest scenario or group name, in characters: the name is repeated on every row of
/// `timeseries.csv` and names the results folder.
pub const MAX_NAME_CHARS: usize = 64;

/// `[[groups]] dedup_window`: message ids an idempotent consumer remembers (a processed-ids table
/// bounded by count, as by a TTL or a cleanup job in a real application): 100,000 ids, a few MB.
pub const DEDUP_WINDOW: u64 = 100_000;
/// Its largest value (the checker keeps the window in memory: about 50 bytes per id).
pub const MAX_DEDUP_WINDOW: u64 = 10_000_000;
/// The default sample interval aims at `TARGET_SAMPLES` over `duration`; when the estimated drain
/// would take the series beyond this many samples, the interval is chosen over the whole
/// estimated run instead.
pub const MAX_DEFAULT_SAMPLES: u64 = 2_000;
/// The time series aims at about this many samples over `duration`.
pub const TARGET_SAMPLES: u64 = 500;

/// Producer `max.in.flight.requests.per.connection` = 5 (also the most the idempotent producer
/// allows: the broker keeps the last 5 batches of each producer to recognise duplicates).
pub const KAFKA_MAX_IN_FLIGHT_REQUESTS: u32 = 5;
/// Largest `max_in_flight_requests_per_connection` accepted (Kafka has no upper bound; beyond this
/// the window never fills in a simulation).
pub const KAFKA_MAX_IN_FLIGHT_LIMIT: u32 = 1_000;

// ---- Kafka settings not (yet) exposed in scenario files ----

/// Producer `max.request.size` = 1048576: one produce request carries batches up to this size.
pub const KAFKA_MAX_REQUEST_BYTES: u64 = 1_048_576;

// ---- Kafka replication, producer delivery and the controller (Apache Kafka 4.0) ----

/// Topic `replication.factor` (broker `default.replication.factor` = 1).
pub const KAFKA_REPLICATION_FACTOR: u32 = 1;
/// Producer `acks` = "all" (the default since Kafka 3.0, KIP-679; `ProducerConfig`).
pub const KAFKA_ACKS: super::Acks = super::Acks::All;
/// Topic/broker `min.insync.replicas` = 1.
pub const KAFKA_MIN_INSYNC_REPLICAS: u32 = 1;
/// Topic/broker `unclean.leader.election.enable` = false.
pub const KAFKA_UNCLEAN_LEADER_ELECTION: bool = false;
/// Producer `enable.idempotence` = true (the default since Kafka 3.0, KIP-679).
pub const KAFKA_ENABLE_IDEMPOTENCE: bool = true;
/// Producer `delivery.timeout.ms` = 120000: a batch not acknowledged this long after it was
/// created is failed (`send_failed`), in the accumulator or in flight.
pub const KAFKA_DELIVERY_TIMEOUT: SimDuration = SimDuration(120_000_000_000);
/// Producer `buffer.memory` = 33554432 (32 MiB): what the accumulator may hold. Each batch takes
/// `batch.size` of it (more for a larger record) from its creation until it is acknowledged or
/// failed (`BufferPool`).
pub const KAFKA_BUFFER_MEMORY: u64 = 32 << 20;
/// Producer `max.block.ms` = 60000: how long `send()` waits for buffer memory before it fails.
pub const KAFKA_MAX_BLOCK: SimDuration = SimDuration(60_000_000_000);
/// Producer `retry.backoff.ms` = 100: a failed batch is retried this long after the failure.
/// (Kafka 3.7+ grows it exponentially up to `retry.backoff.max.ms` = 1000 with 20% jitter,
/// KIP-580; we keep the base value, without jitter.)
pub const KAFKA_RETRY_BACKOFF: SimDuration = SimDuration(100_000_000);
/// Producer `request.timeout.ms` = 30000; also the produce request's `timeout` that bounds how long
/// the leader holds an `acks=all` request waiting for the ISR (the delayed-produce purgatory).
pub const KAFKA_REQUEST_TIMEOUT: SimDuration = SimDuration(30_000_000_000);
/// Broker `replica.fetch.wait.max.ms` = 500: a follower's fetch waits at most this long at the
/// leader for new records.
pub const KAFKA_REPLICA_FETCH_WAIT_MAX: SimDuration = SimDuration(500_000_000);
/// Broker `replica.fetch.min.bytes` = 1: the leader answers a follower's fetch as soon as one
/// byte is available (the model answers as soon as any record is; other values are not offered).
pub const KAFKA_REPLICA_FETCH_MIN_BYTES: u64 = 1;
/// Broker `replica.fetch.max.bytes` = 1048576: bytes per partition in one follower fetch response
/// (at least one batch).
pub const KAFKA_REPLICA_FETCH_MAX_BYTES: u64 = 1_048_576;
/// Broker `replica.lag.time.max.ms` = 30000: a follower that has not caught up with the leader's
/// log end for this long leaves the ISR.
pub const KAFKA_REPLICA_LAG_TIME_MAX: SimDuration = SimDuration(30_000_000_000);
/// The leader looks for lagging followers every `replica.lag.time.max.ms / 2`
/// (`ReplicaManager.startup`: `isr-expiration` task).
pub const KAFKA_ISR_EXPIRATION_INTERVAL: SimDuration = SimDuration(15_000_000_000);
/// Broker `broker.session.timeout.ms` = 9000 (KRaft): the controller fences a broker whose
/// last heartbeat reached it this long ago (`BrokerHeartbeatManager.nextCheckTimeNs`: the check is
/// scheduled at the oldest contact plus the session timeout).
pub const KAFKA_BROKER_SESSION_TIMEOUT: SimDuration = SimDuration(9_000_000_000);
/// Broker `replica.socket.timeout.ms` = 30000: a follower's fetch not answered this long is
/// abandoned and sent again (`ReplicaFetcherThread` through `NetworkClient`).
pub const KAFKA_REPLICA_SOCKET_TIMEOUT: SimDuration = SimDuration(30_000_000_000);
/// Broker `broker.heartbeat.interval.ms` = 2000 (KRaft): every broker sends the controller a
/// heartbeat this often (`BrokerLifecycleManager`).
pub const KAFKA_BROKER_HEARTBEAT_INTERVAL: SimDuration = SimDuration(2_000_000_000);

// ---- Cluster ----

/// Brokers when `[cluster]` names none: one Kafka broker, one RabbitMQ node.
pub const CLUSTER_BROKERS: u32 = 1;
/// At most this many brokers (node addresses are 16-bit; a larger cluster teaches nothing more).
pub const MAX_BROKERS: u32 = 64;

// ---- Kafka consumer groups (classic protocol) ----

/// Consumer `heartbeat.interval.ms` = 3000.
pub const KAFKA_HEARTBEAT_INTERVAL: SimDuration = SimDuration(3_000_000_000);
/// Consumer `session.timeout.ms` = 45000 (Kafka 3.0+): a member silent this long is removed.
pub const KAFKA_SESSION_TIMEOUT: SimDuration = SimDuration(45_000_000_000);
/// Consumer `max.poll.interval.ms` = 300000: a member that does not call `poll()` this long
/// leaves the group; also the rebalance timeout the coordinator waits for members to rejoin.
pub const KAFKA_MAX_POLL_INTERVAL: SimDuration = SimDuration(300_000_000_000);
/// Ours: the longest one-way latency allowed (a 20 s round trip stays inside Kafka's
/// `request.timeout.ms` = 30 s and `session.timeout.ms` = 45 s, and RabbitMQ's 60 s heartbeat timeout).
pub const MAX_LATENCY: SimDuration = SimDuration(10_000_000_000);

// ---- Consumer groups over time (`[[groups]] start`, `[[operations]]`) ----

/// Most consumers in a group, at the start or after a `scale`.
pub const MAX_CONSUMERS: u32 = 100_000;
/// Group coordinator `group.initial.rebalance.delay.ms` = 3000: a group that forms from empty
/// waits this long after the last member joined (at most `max.poll.interval.ms` in all) before it
/// assigns partitions, so that members starting together land in one rebalance.
pub const KAFKA_GROUP_INITIAL_REBALANCE_DELAY: SimDuration = SimDuration(3_000_000_000);
/// Consumer `group.protocol` = "classic" (Kafka 4.0's `ConsumerConfig.DEFAULT_GROUP_PROTOCOL`): the
/// JoinGroup/SyncGroup protocol; "consumer" is KIP-848's.
pub const KAFKA_GROUP_PROTOCOL: &str = "classic";
/// Consumer `partition.assignment.strategy` = [RangeAssignor, CooperativeStickyAssignor] (Kafka 3.0+):
/// the first in the list, range, is the one a group of default consumers uses (classic protocol).
pub const KAFKA_ASSIGNOR: &str = "range";
/// Group coordinator `group.consumer.heartbeat.interval.ms` = 5000: how often a member of a
/// consumer-protocol (KIP-848) group heartbeats; it also carries its assignment.
pub const KAFKA_CONSUMER_HEARTBEAT_INTERVAL: SimDuration = SimDuration(5_000_000_000);
/// Group coordinator `group.consumer.session.timeout.ms` = 45000 (KIP-848 groups).
pub const KAFKA_CONSUMER_SESSION_TIMEOUT: SimDuration = SimDuration(45_000_000_000);
/// `rolling_restart` with no `interval`: 30 s between one consumer's stop and the next one's
/// (ours; a deployment's pace, as a Kubernetes rollout with one pod at a time would go).
pub const ROLLING_RESTART_INTERVAL: SimDuration = SimDuration(30_000_000_000);
/// How long a consumer is down during a rolling restart: it stops cleanly and its new process
/// subscribes this much later (ours: a JVM client's start-up, a few seconds).
pub const ROLLING_RESTART_DOWNTIME: SimDuration = SimDuration(5_000_000_000);

// ---- Kafka share groups (KIP-932), as in Apache Kafka 4.2, where they are production-ready ----

/// Broker `group.share.record.lock.duration.ms` = 30000 (`ShareGroupConfig`): how long a record a
/// share consumer acquired stays locked to it; unacknowledged when it expires, it is available
/// again (or archived at the delivery limit).
pub const KAFKA_SHARE_RECORD_LOCK_DURATION: SimDuration = SimDuration(30_000_000_000);
/// Broker `group.share.delivery.count.limit` = 5: a record whose lock expires (or is released)
/// after this many deliveries is archived, never delivered again.
pub const KAFKA_SHARE_DELIVERY_COUNT_LIMIT: u8 = 5;
/// Broker `group.share.partition.max.record.locks` = 2000 in Kafka 4.2 (200 in 4.0 and 4.1): no
/// new record is acquired on a share-partition while its in-flight range (SPSO to SPEO) holds this
/// many offsets (`SharePartition.canAcquireRecords`).
pub const KAFKA_SHARE_PARTITION_MAX_RECORD_LOCKS: u64 = 2000;
/// Group coordinator `group.share.heartbeat.interval.ms` = 5000: how often a share consumer
/// heartbeats (`ShareGroupHeartbeat`), which also carries its assignment.
pub const KAFKA_SHARE_HEARTBEAT_INTERVAL: SimDuration = SimDuration(5_000_000_000);
/// Group coordinator `group.share.session.timeout.ms` = 45000: a share member silent this long is
/// removed and the partitions are dealt out again.
pub const KAFKA_SHARE_SESSION_TIMEOUT: SimDuration = SimDuration(45_000_000_000);

/// A run that drains without limit stops once no client event (sent, acknowledged, delivered,
/// processed, committed) has happened for this long after the schedule's last step (or for 100
/// mean processing times of its slowest group, if longer): nothing it still waits for can come
/// (ours; the longest quiet wait of either system is RabbitMQ's 30 min `consumer_timeout`).
/// Without it, such a run would tick its timers forever.
pub const DRAIN_STALL_LIMIT: SimDuration = SimDuration(3600 * 1_000_000_000);

// ---- Consumers that fail (issue 18, item 5; docs/failures.md) ----

// `[[groups]] on_failure`'s defaults are next to their enums, in `failing.rs` (this file stays a
// leaf: numbers and names, no types of the scenario's).
/// `retry_backoff`: Spring Kafka's `DefaultErrorHandler` default back-off, `FixedBackOff(0, 9)`:
/// no wait between attempts.
pub const KAFKA_FAILED_RECORD_BACKOFF: SimDuration = SimDuration::ZERO;
/// `max_attempts`: 10, the same `FixedBackOff(0, 9)` (nine retries after the first attempt,
/// `SeekUtils.DEFAULT_MAX_FAILURES` = 10); then the record is logged and skipped.
pub const KAFKA_RETRY_MAX_ATTEMPTS: u32 = 10;
/// `retry_topics`: Spring Kafka `@RetryableTopic` defaults, `attempts` = 3 (`RetryTopicConstants
/// .DEFAULT_MAX_ATTEMPTS`, the first included) with a fixed 1000 ms back-off: two retry topics
/// of 1 s each, then the dead-letter topic.
pub const KAFKA_RETRY_TOPICS: [SimDuration; 2] = [SimDuration(1_000_000_000), SimDuration(1_000_000_000)];
/// Most retry topics in `retry_topics` (ours: a bound on the file, not on Kafka).
pub const MAX_RETRY_TOPICS: usize = 16;
/// Most `max_attempts` (ours: a bound on the file).
pub const MAX_RETRY_ATTEMPTS: i64 = 1_000_000;
