//! What a node is made of, and what the brokers' work costs: the data behind the calibrated
//! profiles. The `ideal` and `lan` profiles have none of it (costless brokers, where the queueing
//! oracles hold exactly); `omb-2020`, `kreps-2014` and `rabbitmq-2024` give every node a body.
//! Where each figure comes from is in `docs/calibration.md`.

use crate::time::SimDuration;

/// One node's resources. A profile gives every node the same; `[cluster]` overrides any field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hardware {
    /// CPU cores (vCPUs).
    pub cores: u32,
    /// Network card, bytes per second in each direction.
    pub nic_bytes_per_s: u64,
    /// Sequential disk bandwidth, bytes per second (reads and writes share it).
    pub disk_bytes_per_s: u64,
    /// One fsync of the disk.
    pub fsync: SimDuration,
    /// Memory the OS can use to cache files: Kafka's tail reads come from here.
    pub page_cache_bytes: u64,
    /// Dirty pages the OS lets writers leave ahead of the disk before it makes them wait
    /// (`vm.dirty_ratio`, 20% of memory by default).
    pub dirty_limit_bytes: u64,
    /// Installed memory: what RabbitMQ's `vm_memory_high_watermark.relative` is a fraction of.
    /// Left out of `summary.json` (so that the calibrated lessons' results stay as they were); a
    /// run whose node raises a resource alarm reports its limits in `resource_alarms`.
    #[serde(skip)]
    pub ram_bytes: u64,
    /// Size of the volume that holds the broker's data: RabbitMQ's free disk space is this less
    /// what its message stores hold (`disk_free_limit`). Left out of `summary.json`, as `ram_bytes`.
    #[serde(skip)]
    pub disk_size_bytes: u64,
}

/// What Kafka's broker spends CPU on. Costs are per request and per batch rather than per record,
/// which is why `linger.ms` and `batch.size` pay off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KafkaCosts {
    /// A produce request at the leader (network thread, request handler, purgatory).
    pub produce_request: SimDuration,
    /// Each partition's batch in a produce request (validation, offset assignment, append).
    pub produce_batch: SimDuration,
    /// Each byte appended, leader or follower (CRC check and copy into the page cache), in
    /// picoseconds.
    pub byte_ps: u64,
    /// A fetch request, consumer's or follower's. The records themselves go zero-copy from the
    /// page cache (`sendfile`) and cost the network card, not the CPU.
    pub fetch_request: SimDuration,
    /// Any other request (metadata, heartbeat, commit, join).
    pub other_request: SimDuration,
    /// The v0 message format of Kafka 0.8 (message sets): this many bytes of framing per record
    /// on the wire and on disk, and no batch header. `None`: the v2 record batch (Kafka 0.11+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v0_record_overhead: Option<u64>,
}

/// What a RabbitMQ node spends CPU on: per message, in the channel and in the queue's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RabbitCosts {
    /// Channel process: parse a publish, route it, track its confirm.
    pub publish: SimDuration,
    /// Queue process: enqueue one message.
    pub enqueue: SimDuration,
    /// Queue process: hand one message to a consumer.
    pub deliver: SimDuration,
    /// Queue process: settle one acknowledgement.
    pub ack: SimDuration,
    /// Quorum queue member process: apply one enqueue (leader and followers alike).
    pub quorum_enqueue: SimDuration,
    /// Quorum queue leader: hand one message to a consumer.
    pub quorum_deliver: SimDuration,
    /// Each byte of a message body moved between processes, in picoseconds.
    pub byte_ps: u64,
    /// Any other frame (subscribe, heartbeat, Raft bookkeeping).
    pub other: SimDuration,
    /// A stream's work (`queue_type = "stream"`). Left out of `summary.json`, as `ram_bytes`: the
    /// calibrated lessons' results stay as they were.
    #[serde(skip)]
    pub stream: StreamCosts,
}

/// What a RabbitMQ stream costs per message, as RabbitMQ 4.x serves AMQP 0.9.1 clients of one:
/// the publisher's channel converts each message to AMQP 1.0 (`rabbit_stream_queue:stream_message`,
/// `mc:convert(mc_amqp, ...)`) and casts it to the writer; the writer (`osiris_writer`, one Erlang
/// process) appends the entries its mailbox holds as one chunk; each consumer's channel reads the
/// chunks (`rabbit_stream_queue:stream_entries`) and converts each entry back to 0.9.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StreamCosts {
    /// Publisher's channel: the conversion to AMQP 1.0, on top of `publish`.
    pub convert: SimDuration,
    /// Writer process: one entry of a chunk (chunk framing, CRC, `file:write`, tracking).
    pub write: SimDuration,
    /// Consumer's channel (serial): read one entry of a chunk from the segment and deliver it.
    pub read: SimDuration,
}

/// A calibrated profile's body and costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Body {
    pub hardware: Hardware,
    pub kafka: KafkaCosts,
    pub rabbitmq: RabbitCosts,
    /// One-way link latency between any two nodes.
    pub latency: SimDuration,
}

const GIB: u64 = 1 << 30;

/// Stream costs where no figure was fitted (omb-2020, kreps-2014): about a classic queue's
/// per-message work of the same profile, spread over the three processes a stream uses. Not
/// calibrated; `rabbitmq-2024`'s are.
const fn uncalibrated_stream(publish: SimDuration, enqueue: SimDuration) -> StreamCosts {
    StreamCosts { convert: publish, write: SimDuration(enqueue.0 / 2), read: SimDuration(enqueue.0 / 2) }
}

/// Kafka's broker costs in both profiles: no published figure exists; chosen so that under
/// omb-2020 the disk, not the CPU, limits the brokers, as the benchmark's post says.
const KAFKA_COSTS: KafkaCosts = KafkaCosts {
    produce_request: SimDuration(60_000),
    produce_batch: SimDuration(8_000),
    byte_ps: 1_000,
    fetch_request: SimDuration(30_000),
    other_request: SimDuration(20_000),
    v0_record_overhead: None,
};

/// `omb-2020`: the Confluent 2020 OpenMessaging Benchmark, 3 x i3en.2xlarge brokers.
pub const OMB_2020: Body = Body {
    hardware: Hardware {
        cores: 8,
        // i3en.2xlarge: "up to 25 Gbit/s", 8.4 Gbit/s sustained baseline.
        nic_bytes_per_s: 8_400_000_000 / 8,
        // Two NVMe drives of about 333 MB/s sustained write each (ScyllaDB's measured i3en
        // presets), used together.
        disk_bytes_per_s: 667_000_000,
        // NVMe flush: 10-100 us typical; no published i3en figure.
        fsync: SimDuration(100_000),
        // 64 GiB of RAM, most of it page cache.
        page_cache_bytes: 48 * GIB,
        // vm.dirty_ratio = 20 of 64 GiB.
        dirty_limit_bytes: 64 * GIB / 5,
        ram_bytes: 64 * GIB,
        // i3en.2xlarge: 2 x 2,500 GB NVMe SSD (AWS instance types), used together.
        disk_size_bytes: 2 * 2_500_000_000_000,
    },
    kafka: KAFKA_COSTS,
    rabbitmq: RabbitCosts {
        publish: SimDuration(10_000),
        enqueue: SimDuration(68_000),
        deliver: SimDuration(68_000),
        ack: SimDuration(5_000),
        // Fitted to RabbitMQ's single quorum queue plateau, 26.5k msg/s of 1 kB with confirms
        // (RabbitMQ blog, 2020-05-14): 16 + 16 + 5 us of leader work per message.
        quorum_enqueue: SimDuration(16_000),
        quorum_deliver: SimDuration(16_000),
        byte_ps: 2_000,
        other: SimDuration(10_000),
        stream: uncalibrated_stream(SimDuration(10_000), SimDuration(68_000)),
    },
    latency: SimDuration(100_000),
};

/// `kreps-2014`: Jay Kreps's 2014 benchmark (LinkedIn, Kafka 0.8.1 brokers, the new Java
/// producer): 3 brokers of 6 cores at 2.5 GHz, 32 GiB, 6 x 7200 rpm SATA, 1 GbE. Each figure's
/// source and the residuals are in `docs/calibration.md` ("kreps-2014").
pub const KREPS_2014: Body = Body {
    hardware: Hardware {
        cores: 6,
        // 1000BASE-T carries 125 MB/s of frames; a full 1500-byte frame holds 1448 bytes of TCP
        // payload (IP 20, TCP 20, timestamps 12) and takes 1538 byte times on the wire (preamble
        // 8, header 14, FCS 4, inter-frame gap 12): 117.7 MB/s of goodput. The post's single
        // consumer, 940,521 records/s of 126 bytes (118.5 MB/s), is this limit.
        nic_bytes_per_s: 125_000_000 * 1448 / 1538,
        // The post: "the linear I/O of six cheap disks" is 822 MB/s (its MB are MiB).
        disk_bytes_per_s: 822 << 20,
        // A 7200 rpm drive: half a turn (4.2 ms) plus a short seek. Kafka leaves the flush to the
        // OS, so only RabbitMQ waits for it.
        fsync: SimDuration(8_000_000),
        page_cache_bytes: 24 * GIB,
        dirty_limit_bytes: 32 * GIB / 5,
        ram_bytes: 32 * GIB,
        // The post gives no drive size: 1 TB each, a common 7200 rpm SATA drive of 2014.
        disk_size_bytes: 6 * 1_000_000_000_000,
    },
    // The broker's CPU never limited the post's runs (network and producer bound): omb-2020's
    // costs, whose scale does not matter here. What does matter is the 0.8 message format: each
    // record carries offset 8 + size 4 + CRC 4 + magic 1 + attributes 1 + key length 4 + value
    // length 4 = 26 bytes (`MessageSet.LogOverhead`, `Message.MessageOverhead`), so a 100-byte
    // record weighs 126 bytes, where a v2 batch would carry about 109.
    kafka: KafkaCosts { v0_record_overhead: Some(26), ..KAFKA_COSTS },
    rabbitmq: RabbitCosts {
        publish: SimDuration(20_000),
        enqueue: SimDuration(15_000),
        deliver: SimDuration(15_000),
        ack: SimDuration(5_000),
        quorum_enqueue: SimDuration(16_000),
        quorum_deliver: SimDuration(16_000),
        byte_ps: 2_000,
        other: SimDuration(10_000),
        stream: uncalibrated_stream(SimDuration(20_000), SimDuration(15_000)),
    },
    // Fitted: the post's only figure that depends on it is the end-to-end latency (produce,
    // replication, the high watermark's advance and the fetch each cross the link); 250 us one
    // way, `lan`'s data-centre round trip of 0.5 ms.
    latency: SimDuration(250_000),
};

/// `rabbitmq-2024`: RabbitMQ's blog "AMQP 1.0 Benchmarks" (2024-08-21), one RabbitMQ 4.0 node on
/// an Intel NUC 11 (8 cores, 32 GB) limited to 3 scheduler threads (`+S 3`), its clients on the
/// same box over loopback. Each figure's source is in `docs/calibration.md` ("rabbitmq-2024").
pub const RABBITMQ_2024: Body = Body {
    hardware: Hardware {
        // `+S 3`: the Erlang VM runs on three scheduler threads; the clients use the other cores,
        // which are their own nodes here.
        cores: 3,
        // Loopback: no card, a memory copy in the kernel. About 40 Gbit/s, a common single-stream
        // loopback TCP figure for a laptop-class x86 CPU; 12-byte messages use a hundredth of it.
        nic_bytes_per_s: 5_000_000_000,
        // The post's disk is "slow, taking 5-15 ms per fsync", and it measured 5.9 ms on average
        // (1,244 vs 15,493 fsyncs of `ra_log_wal`). No model or bandwidth given: 1 GB/s of
        // sequential writes, an entry NVMe drive's (a NUC 11 kit takes an M.2 drive of the
        // buyer's choice); the post's runs write at most 10 MB/s.
        disk_bytes_per_s: 1_000_000_000,
        fsync: SimDuration(5_900_000),
        page_cache_bytes: 24 * GIB,
        dirty_limit_bytes: 32 * GIB / 5,
        ram_bytes: 32 * GIB,
        // Not given: a 512 GB drive.
        disk_size_bytes: 512_000_000_000,
    },
    // The post measured RabbitMQ only: omb-2020's Kafka costs, not calibrated here.
    kafka: KAFKA_COSTS,
    // Fitted to the post's AMQP 0.9.1 figures on three cores (docs/calibration.md).
    rabbitmq: RabbitCosts {
        publish: SimDuration(4_000),
        enqueue: SimDuration(5_150),
        deliver: SimDuration(5_150),
        ack: SimDuration(1_000),
        quorum_enqueue: SimDuration(6_650),
        quorum_deliver: SimDuration(6_650),
        byte_ps: 2_000,
        other: SimDuration(5_000),
        stream: StreamCosts { convert: SimDuration(4_000), write: SimDuration(2_000), read: SimDuration(10_200) },
    },
    // Loopback: a few microseconds from one socket to the other.
    latency: SimDuration(10_000),
};
