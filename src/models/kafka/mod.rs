//! Kafka-style broker: a topic of P partitions (append-only logs with offsets), a producer that
//! batches per partition (`linger.ms`, `batch.size`), and consumer groups whose consumers **pull**
//! with long polls (`fetch.min.bytes`, `fetch.max.wait.ms`), hand at most `max.poll.records` to the
//! application per poll, process in order and commit offsets (auto-commit every
//! `auto.commit.interval.ms`, or commitSync after each poll's records). Records stay in the log
//! until retention deletes their segment, whether or not anyone read them. Groups rebalance with
//! the classic protocol (eager range or roundrobin, or cooperative-sticky: `cooperative.rs`) or the
//! consumer protocol (KIP-848: `consumer_protocol.rs`); assignors are in `assignor.rs`. The classic
//! group coordinator is a node of its own (`coordinator_node.rs`): its handlers fill an `Out`, which
//! [`KafkaModel`] applies through the world right where the handler ran.

pub mod assignor;
mod broker;
mod consumer;
mod consumer_protocol;
pub mod controller;
mod cooperative;
pub mod coordinator_node;
mod costs;
mod delayed_fetch;
mod failing;
pub mod group;
mod leader;
mod operations;
pub mod partitioner;
pub mod producer;
mod progress;
mod purgatory;
pub mod replica;
mod replication;
mod sender;
mod share;
mod zombie;

use super::drain::DrainWatch;
use super::faults::{FaultSchedule, FaultVerbs};
use super::operating::{OperationSchedule, OperatorVerbs};
use crate::client::JobEnd;
use crate::engine::{EventKey, Model, Scheduler};
use crate::history::{ClientEvent, GroupIdx, History, Observation, Step};
use crate::models::log::{Offset, Partition};
use crate::scenario::defaults as d;
use crate::scenario::defaults::KAFKA_MAX_REQUEST_BYTES as MAX_REQUEST_BYTES;
use crate::scenario::operations::OffsetSpec;
use crate::scenario::{Assignor, GroupKind, GroupProtocol, KafkaConfig, Keys, OffsetReset, Scenario};
use crate::time::{SimDuration, SimTime};
use crate::workload::{Message, ProcessingTimes, Producer, StoredMessage};
use crate::world::out::{Direct, Handed};
use crate::world::{Admit, Deadline, Envelope, Fired, NodeId, NodeMap, World};
use consumer::Consumer;
use controller::Controller;
use coordinator_node::{CoordOut, CoordinatorNode, Note};
use group::CommittedOffsets;
use group::Coordinator;
use partitioner::partition_for_key;
use producer::{Accumulator, ProducerBatch};
use replica::{BrokerId, Replicas};
use std::collections::VecDeque;

/// Protocol messages between nodes.
#[derive(Debug)]
pub enum Msg {
    /// A produce request (one batch per partition) to the leader, from this incarnation of the
    /// producer.
    Produce {
        batches: Vec<ProducerBatch>,
        producer: u32,
        /// The request's number (for `request.timeout.ms`).
        req: u64,
    },
    /// The leader's produce response, with the batches it answers (each with its error code).
    ProduceResponse {
        batches: Vec<ProducerBatch>,
        req: u64,
    },
    /// The producer asks a broker for the partitions' leaders (`Metadata`); `round` tells its
    /// attempts apart.
    MetadataRequest {
        round: u64,
    },
    /// The broker's answer, from its own metadata cache (which may be stale).
    MetadataResponse {
        round: u64,
        leaders: Vec<Option<BrokerId>>,
    },
    /// The controller's metadata, as a broker replicates it (KRaft's metadata log): every
    /// partition's leader and leader epoch as of `version`.
    Metadata {
        version: u64,
        leaders: Vec<(Option<BrokerId>, u32)>,
    },
    /// A follower's fetch from the leader of some of its partitions; the offsets it asks for are
    /// its log end offsets. `session` tells the follower's fetcher incarnations apart.
    ReplicaFetch {
        session: u32,
    },
    /// Per partition: the leader epoch and the offset up to which the follower may now append.
    ReplicaFetchResponse {
        session: u32,
        parts: Vec<(u32, u32, Offset)>,
        /// The records' bytes (what the network cards and the follower's disk carry).
        bytes: u64,
    },
    /// Sent by the operating system of a crashed broker: its connections closed.
    ConnectionClosed,
    /// A broker's heartbeat to the controller (`BrokerHeartbeatRequest`), from this incarnation
    /// (the broker epoch: a restarted broker registers anew).
    BrokerHeartbeat {
        incarnation: u32,
        /// The metadata version the broker has (`currentMetadataOffset`).
        version: u64,
    },
    /// A consumer's fetch; `epoch` is its assignment epoch (a response to an older one is void).
    Fetch {
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
    },
    FetchResponse {
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        records: Vec<Fetched>,
        /// The records are in compressed batches (`compression.type`): they weigh their shares.
        compressed: bool,
    },
    /// An offset commit to the group coordinator; `sync` asks for a response (`commitSync`).
    Commit(OffsetCommit),
    CommitResponse {
        group: GroupIdx,
        consumer: u32,
    },
    /// The consumer's heartbeat thread.
    Heartbeat {
        group: GroupIdx,
        member: u64,
    },
    /// `rebalance`: the group is rebalancing, rejoin; `unknown`: you are not a member, join again.
    HeartbeatResponse {
        group: GroupIdx,
        consumer: u32,
        rebalance: bool,
        unknown: bool,
    },
    JoinGroup {
        group: GroupIdx,
        consumer: u32,
        member: u64,
    },
    LeaveGroup {
        group: GroupIdx,
        member: u64,
    },
    /// The consumer protocol's heartbeat (KIP-848 `ConsumerGroupHeartbeat`): the partitions the
    /// member owns and the epoch of the assignment it applied (a new member: none, epoch 0).
    ConsumerHeartbeat {
        group: GroupIdx,
        consumer: u32,
        member: u64,
        owned: Vec<u32>,
        acked: u32,
    },
    /// A share consumer's `ShareGroupHeartbeat` with the group epoch of the assignment it has (0:
    /// joining).
    ShareHeartbeat {
        group: GroupIdx,
        consumer: u32,
        member: u64,
        epoch: u32,
    },
    /// The share coordinator's answer: the member's partitions at the group epoch; `fenced`: the
    /// member is unknown (its session expired) and joins again.
    ShareHeartbeatResponse {
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        partitions: Vec<u32>,
        fenced: bool,
    },
    /// A share consumer leaves the group (`close()`).
    ShareLeave {
        group: GroupIdx,
        member: u64,
    },
    /// A share consumer's session at a leader closes: its acquired records there are released.
    ShareRelease {
        group: GroupIdx,
        member: u64,
    },
    /// A share consumer's `ShareFetch` to a leader; `epoch` as in `Fetch`.
    ShareFetch {
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
    },
    ShareFetchResponse {
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        records: Vec<Fetched>,
        /// The records are in compressed batches (`compression.type`): they weigh their shares.
        compressed: bool,
    },
    /// A share consumer acknowledges (ACCEPT) one record to the partition's leader.
    ShareAck {
        group: GroupIdx,
        member: u64,
        partition: u32,
        offset: Offset,
    },
    /// Its response: the member's assignment (with the committed offsets of its partitions) and
    /// its epoch; `fenced`: the coordinator does not know the member (its session expired), which
    /// gives up its partitions and joins again.
    ConsumerHeartbeatResponse {
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        partitions: Vec<(u32, Offset)>,
        fenced: bool,
    },
    /// The coordinator's assignment after a rebalance (JoinGroup + SyncGroup responses, with the
    /// committed offsets of the assigned partitions, as OffsetFetch returns them).
    Assignment {
        group: GroupIdx,
        consumer: u32,
        generation: u32,
        partitions: Vec<(u32, Offset)>,
    },
}

/// An offset commit: who sends it, for which generation, and whether it waits for an answer.
#[derive(Debug)]
pub struct OffsetCommit {
    group: GroupIdx,
    consumer: u32,
    member: u64,
    generation: u32,
    offsets: Vec<(u32, Offset)>,
    sync: bool,
}

/// Timers, each owned by one node.
#[derive(Debug)]
pub enum Timer {
    /// The producer's sender thread wakes up to look for ready batches (`linger.ms`).
    SenderWakeup,
    /// The broker answers a consumer's parked fetch if `fetch.max.wait.ms` has passed.
    FetchExpired { group: GroupIdx, consumer: u32 },
    /// The leader answers a follower's parked fetch (`replica.fetch.wait.max.ms`).
    ReplicaFetchExpired { follower: BrokerId },
    /// The leader looks for followers that fell out of sync (`replica.lag.time.max.ms` / 2).
    IsrCheck,
    /// The leader's oldest delayed produce (`acks = all`) reached its timeout.
    PurgatoryExpired,
    /// A broker's heartbeat thread ticks (`broker.heartbeat.interval.ms`).
    BrokerHeartbeatTick,
    /// The controller's check of a broker's session (`broker.session.timeout.ms` after the last
    /// heartbeat it got).
    BrokerSessionExpired { broker: BrokerId },
    /// The producer refreshes its metadata (leaders) after `retry.backoff.ms`.
    MetadataRefresh,
    /// The `send()` blocked on buffer memory reached `max.block.ms`.
    MaxBlockExpired,
    /// The producer's thread has compressed the record at the head of `compressing`.
    Compressed,
    /// The producer's metadata request of this round got no answer within `request.timeout.ms`.
    MetadataTimeout { round: u64 },
    /// The producer's oldest produce request to `broker` reached `request.timeout.ms`.
    RequestTimeout { broker: BrokerId },
    /// A consumer's fetch to `broker` reached `request.timeout.ms`.
    FetchTimeout { broker: BrokerId },
    /// A follower's fetch from `leader` reached `replica.socket.timeout.ms`.
    ReplicaFetchTimeout { leader: BrokerId },
    /// The broker's periodic retention check (`log.retention.check.interval.ms`).
    RetentionCheck,
    /// The log cleaner looks for a log to compact (`log.cleaner.backoff.ms`).
    LogCleaner,
    /// The coordinator has not heard from a member for `session.timeout.ms`.
    SessionExpired { group: GroupIdx, member: u64 },
    /// The coordinator stops waiting for members to rejoin (rebalance timeout).
    RebalanceTimeout { group: GroupIdx, round: u64 },
    /// The consumer application finished the record it was processing.
    JobEnd,
    /// The auto-commit timer of a consumer blocked in `poll` is due.
    AutoCommitDue,
    /// The consumer's heartbeat thread ticks (`heartbeat.interval.ms`).
    HeartbeatTick,
    /// A group forming from empty waited `group.initial.rebalance.delay.ms` for more members.
    InitialRebalanceDelay { group: GroupIdx, round: u64 },
    /// The leader's acquisition locks of a share-partition: the oldest may have expired.
    ShareLockExpired { group: GroupIdx, partition: u32 },
    /// A group's retry topic (issue 18): a record is due, or its consumer's job ended.
    RetryTopic { group: GroupIdx, topic: usize },
}

#[derive(Debug)]
pub enum Event {
    Net(Envelope<Msg, Timer>),
    /// A message that waited at its node for the CPU (a calibrated profile): handled now.
    Served(Envelope<Msg, Timer>),
    /// Step `i` of the scenario's fault schedule.
    Fault(usize),
    /// Step `i` of the scenario's operations (a late group's start, an offset reset, scaling).
    Operation(usize),
    /// The offered load's next message is due (at whichever producer it is for).
    Arrival,
}

impl From<Envelope<Msg, Timer>> for Event {
    fn from(e: Envelope<Msg, Timer>) -> Self {
        Event::Net(e)
    }
}

/// `Fetched::delivery` of a record the group's consumers discard (`filter = "consumer"`, or a
/// mirrored subscription whose headers do not match): fetched, checked, never processed.
const DISCARD: u8 = 254;
/// `Fetched::delivery` of a marker after records of topics the group does not subscribe to, which
/// the broker skipped: it carries no bytes and only moves the consumer's position past them.
const SKIPPED: u8 = 255;

/// Routing: the bytes group `group` would receive from `log` between `from` and `until`, up to
/// `enough`: records of topics it does not read do not wake its parked fetch. After
/// [`SKIP_SCAN`] such records in a row it answers `enough`, so that a response moves the position
/// past them and the next check does not scan them again.
fn routed_bytes(
    rt: &crate::subscriptions::Subscriptions,
    group: GroupIdx,
    log: &Partition,
    from: Offset,
    until: Offset,
    enough: u64,
) -> u64 {
    let (mut total, mut skipped, mut pos) = (0, 0, from);
    while let Some((offset, r)) = log.next_from(pos)
        && offset < until
    {
        if rt.kafka(group, r.id()).0 {
            total += r.bytes();
            if total >= enough {
                break;
            }
        } else {
            skipped += 1;
            if skipped >= SKIP_SCAN {
                return enough;
            }
        }
        pos = offset + 1;
    }
    total
}

/// See [`routed_bytes`].
const SKIP_SCAN: u32 = 256;

/// A record in a consumer's hands, with where it came from (for commits).
#[derive(Debug, Clone, Copy)]
pub struct Fetched {
    /// Index into the consumer's assigned partitions.
    slot: u32,
    offset: Offset,
    msg: StoredMessage,
    /// Share groups: the record's delivery count (`slot` is then the partition); 0 otherwise.
    delivery: u8,
}

struct ConsumerGroup {
    consumers: Vec<Consumer>,
    /// Partition -> index of the consumer that owns it, while the group is stable.
    owner: Vec<Option<u32>>,
    committed: CommittedOffsets,
    /// Sum over partitions of the group's fetch positions: what it fetched (or skipped) so far.
    fetched_sum: u64,
    /// Per partition, the offset after the highest record processed (or skipped), and the records
    /// still to process: what the drain waits for.
    progress: progress::Progress,
    /// Offset ranges (partition, from, to) that `auto.offset.reset` skipped and that the committed
    /// offset has not yet passed, and how many offsets they still hold: these were never handed to
    /// a consumer, so they do not count as unacknowledged.
    skipped: Vec<(u32, Offset, Offset)>,
    skipped_uncommitted: u64,
    /// Where the group starts on a partition where it has no position (`auto.offset.reset`).
    from: OffsetSpec,
    /// An operator's offset reset waiting for the group to be empty (Kafka refuses it while the
    /// group has members): where to, and the consumers stopped for it, to start again after.
    pending_reset: Option<(OffsetSpec, Vec<u32>)>,
    /// A share group (KIP-932): its coordinator's members and its share-partitions.
    share: Option<share::ShareGroup>,
    /// The application skips records older than this (`[[groups]] max_age`).
    max_age: Option<SimDuration>,
}

pub struct KafkaModel<'h, H: History> {
    history: &'h mut H,
    world: World,
    /// The brokers' costs, in a world with resources (a calibrated profile).
    costs: Option<costs::Costs>,
    /// What a consumer's thread spends decompressing one record in `poll()` (the mean message's),
    /// with `compression.type` in a world with resources.
    decompress_record: SimDuration,
    cfg: KafkaConfig,
    /// The offered load: every message, in time order, each for producer `id % producers`.
    producer: Producer,
    processing: ProcessingTimes,
    /// Per group: its consumers' failures and retry topics (issue 18).
    failing: Vec<failing::GroupFailing>,
    /// Topics and subscriptions (issue 18): which records each group fetches and uses; `None`:
    /// one topic every group reads whole.
    routing: Option<std::sync::Arc<crate::subscriptions::Subscriptions>>,
    /// The producer clients, one per host (`[workload] producers`), each with its accumulator,
    /// sender thread and metadata.
    producers: Vec<sender::ProducerClient>,
    /// Idempotence's sequence checks are on: `enable_idempotence`, and a fault schedule (without
    /// faults no request fails, so no batch is ever sent twice and the checks cannot matter).
    sequences: bool,
    /// The scenario has faults (without them every broker is always reachable).
    faulty: bool,
    brokers: u32,
    /// The node of the KRaft controller and of the group coordinators (never failed), which also
    /// runs retention for the partitions' one log.
    coord: NodeId,
    repl: Vec<Replicas>,
    controller: Controller,
    /// RF > 1: followers fetch, leaders watch the ISR.
    replicated: bool,
    /// Per broker: delayed produces (`acks = all`) waiting for the HW (`purgatory.rs`).
    purgatory: purgatory::Purgatory,
    /// Per broker: consumers' fetches waiting for `fetch.min.bytes` (`delayed_fetch.rs`).
    delayed_fetches: delayed_fetch::DelayedFetches,
    /// The followers' fetchers and the leaders' parked fetches (`replication.rs`).
    replication: replication::Replication,
    /// Controller side, per broker: the incarnation whose heartbeats it last got (its registration),
    /// and when its session expires (`broker.session.timeout.ms` after that heartbeat).
    registered: Vec<u32>,
    broker_session: Vec<Deadline>,
    /// The controller's metadata version, bumped by every change of leader.
    meta_version: u64,
    /// Broker side, index `b * partitions + p`: partition `p`'s leader and leader epoch as broker
    /// `b` last heard them (its metadata cache, on disk in KRaft, so it survives a crash), and per
    /// broker the version it has. A broker leads by its own view: cut from the controller, a
    /// deposed leader goes on leading ("zombie") until it hears.
    view: Vec<(Option<BrokerId>, u32)>,
    view_version: Vec<u64>,
    /// What zombie leaders appended beyond the log that the controller's leader carries on.
    tails: zombie::ZombieTails,
    /// Per fault step: the broker that a `leader` crash hit (its repair restarts that one).
    leader_hit: Vec<Option<BrokerId>>,
    /// When this run must stop although not finished.
    drain: DrainWatch,
    /// Offset commits on their way to the coordinator: the run is not over before they land.
    commits_in_flight: u64,
    partitions: Vec<Partition>,
    /// Sum of log end offsets over partitions.
    end_offsets_sum: u64,
    groups: Vec<ConsumerGroup>,
    /// Node -> (group, consumer) for consumer nodes.
    consumer_of: NodeMap<(GroupIdx, u32)>,
    /// The fault schedule and how far it got.
    faults: FaultSchedule,
    /// The operator's schedule, how far it got, and each group's running consumers.
    operations: OperationSchedule,
    /// The next member id the coordinator hands out (each join of a new member gets one).
    next_member: u64,
    /// Emptied request and fetch-response buffers, reused instead of allocating per message.
    fetch_pool: Vec<Vec<Fetched>>,
    /// How groups rebalance: `group.protocol` and the assignor.
    rebalancing: Rebalancing,
    /// The group coordinator (on node `coord`): membership, generations, sessions. Its handlers
    /// fill `coord_out`, which [`KafkaModel::apply_coordinator`] applies through the world.
    coordinator: CoordinatorNode,
    coord_out: CoordOut,
}

/// How a group's partitions move between members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rebalancing {
    /// Classic protocol, range or roundrobin: every member gives up everything and waits.
    Eager,
    /// Classic protocol, cooperative-sticky (KIP-429): only moving partitions stop, in two rounds.
    Cooperative,
    /// The consumer protocol (KIP-848): no barrier, each member reconciles on its heartbeats.
    Consumer,
}

/// No broker: a partition not asked from any.
const NO_BROKER: BrokerId = BrokerId::MAX;

impl<'h, H: History> KafkaModel<'h, H> {
    pub fn new(s: &Scenario, history: &'h mut H, sched: &mut Scheduler<Event>) -> Self {
        let cfg = s.kafka.clone();
        let p = cfg.partitions;
        let brokers = s.brokers as usize;
        let codec = s.kafka.compression_type.figures();
        // A node for every consumer a group ever runs; those not running yet start down.
        let consumer_count: usize = s.groups.iter().map(|g| g.max_consumers as usize).sum();
        // Brokers, the producers, the consumers, and the controller with the group coordinators.
        let producers = s.workload.producers as usize;
        let nodes = brokers + producers + consumer_count + 1;
        let world = World::new(nodes, s.network.latency).costed(s.body.map(|b| b.hardware), s.seed);
        let producer_cfg = sender::ProducerCfg {
            acks: cfg.acks,
            max_in_flight: cfg.max_in_flight_requests_per_connection,
            delivery_timeout: cfg.delivery_timeout,
            max_block: cfg.max_block,
            partitions: cfg.partitions,
            brokers: s.brokers,
            all_brokers: u64::MAX >> (64 - s.brokers),
            keyed: !matches!(s.workload.keys, Keys::None),
            // With acks = 0 no response ever tells the producer of a sequence error (Kafka's
            // idempotent producer requires acks = all), so there are no sequence checks.
            sequences: cfg.enable_idempotence && cfg.acks != crate::scenario::Acks::Zero && !s.faults.is_empty(),
            faulty: !s.faults.is_empty(),
            steps: H::STEPS,
        };
        let coord = (brokers + producers + consumer_count) as NodeId;
        let mut consumer_of = NodeMap::default();
        let mut next = (brokers + producers) as NodeId;
        let mut next_member = 0;
        let groups: Vec<ConsumerGroup> = s
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                let consumers: Vec<Consumer> = (0..g.max_consumers)
                    .map(|c| {
                        let node = next;
                        next += 1;
                        consumer_of.insert(node, (gi, c));
                        next_member += 1;
                        Consumer::new(node, next_member - 1, &cfg, s.brokers)
                    })
                    .collect();
                ConsumerGroup {
                    consumers,
                    owner: vec![None; p as usize],
                    committed: CommittedOffsets::new(p),
                    fetched_sum: 0,
                    progress: progress::Progress::new(p),
                    skipped: Vec::new(),
                    skipped_uncommitted: 0,
                    // A share group's `share.auto.offset.reset` is its own setting (default latest).
                    from: g.from.unwrap_or(match (g.kind, cfg.auto_offset_reset) {
                        (GroupKind::Share, _) | (_, OffsetReset::Latest) => OffsetSpec::Latest,
                        (_, OffsetReset::Earliest) => OffsetSpec::Earliest,
                    }),
                    pending_reset: None,
                    share: (g.kind == GroupKind::Share).then(|| Self::new_share_group(p)),
                    max_age: g.max_age,
                }
            })
            .collect();
        let rebalancing = match (cfg.group_protocol, cfg.assignor) {
            (GroupProtocol::Consumer, _) => Rebalancing::Consumer,
            (GroupProtocol::Classic, Assignor::CooperativeSticky) => Rebalancing::Cooperative,
            _ => Rebalancing::Eager,
        };
        let session_timeout = match rebalancing {
            Rebalancing::Consumer => d::KAFKA_CONSUMER_SESSION_TIMEOUT,
            _ => d::KAFKA_SESSION_TIMEOUT,
        };
        let mut coordinator =
            CoordinatorNode::new(coord, rebalancing == Rebalancing::Eager, session_timeout, p, cfg.assignor);
        let operations = OperationSchedule::new(s);
        for (gi, (g, sg)) in groups.iter().zip(&s.groups).enumerate() {
            // The groups there from the start have joined (generation 1 is handed out below).
            let running = operations.running(gi);
            let members = if running > 0 && sg.kind == GroupKind::Consumer {
                let ids = g.consumers.iter().take(running as usize).enumerate();
                Coordinator::stable(ids.map(|(i, c)| (c.member, i as u32)).collect())
            } else {
                Coordinator::default()
            };
            coordinator.add_group(g.consumers.iter().map(|c| c.node).collect(), members);
        }
        let mut m = KafkaModel {
            history,
            world,
            costs: s.body.map(|b| costs::Costs {
                c: b.kafka,
                cache: costs::PageCache::new(brokers, b.hardware.page_cache_bytes),
                validate_ps: codec.map_or(0, |f| f.decompress_ps),
            }),
            decompress_record: match (s.body, codec) {
                (Some(_), Some(f)) => {
                    crate::world::resources::per_byte(s.workload.message_bytes.mean() as u64, f.decompress_ps)
                }
                _ => SimDuration::ZERO,
            },
            sequences: producer_cfg.sequences,
            faulty: producer_cfg.faulty,
            brokers: s.brokers,
            coord,
            repl: (0..p).map(|q| Replicas::new(q, s.brokers, cfg.replication_factor)).collect(),
            controller: Controller::new(s.brokers, cfg.unclean_leader_election),
            replicated: cfg.replication_factor > 1,
            purgatory: purgatory::Purgatory::new(brokers),
            delayed_fetches: delayed_fetch::DelayedFetches::new(brokers, groups.iter().map(|g| g.consumers.len())),
            replication: replication::Replication::new(s.brokers, producer_cfg.faulty),
            registered: vec![0; brokers],
            broker_session: vec![Deadline::default(); brokers],
            meta_version: 0,
            view: (0..brokers).flat_map(|_| (0..p).map(|q| (Some((q % s.brokers) as BrokerId), 0))).collect(),
            view_version: vec![0; brokers],
            tails: zombie::ZombieTails::default(),
            leader_hit: vec![None; s.faults.len()],
            drain: DrainWatch::new(s),
            commits_in_flight: 0,
            partitions: (0..p)
                .map(|_| if cfg.cleanup_policy.compacts() { Partition::compacted() } else { Partition::default() })
                .collect(),
            end_offsets_sum: 0,
            groups,
            consumer_of,
            faults: FaultSchedule::new(s),
            operations,
            next_member,
            fetch_pool: Vec::new(),
            rebalancing,
            coordinator,
            coord_out: CoordOut::default(),
            producer: Producer::new(s),
            producers: (0..producers as u32)
                .map(|k| sender::ProducerClient::new(s, (brokers as u32 + k) as NodeId, k, producer_cfg))
                .collect(),
            processing: ProcessingTimes::new(s),
            failing: (0..s.groups.len()).map(|g| failing::GroupFailing::new(s, g)).collect(),
            routing: crate::subscriptions::Subscriptions::new(s).map(std::sync::Arc::new),
            cfg,
        };
        // With compression in a world with resources, each producer's application thread
        // compresses (a process on its host).
        if codec.is_some()
            && let Some(res) = m.world.resources_mut()
        {
            for pc in &mut m.producers {
                pc.compressor = Some(res.process_of_kind(pc.node, "sending thread"));
            }
        }
        super::arm_arrival(&m.producer, sched, Event::Arrival);
        // The broker's log manager schedules its first retention check `log.initial.task.delay.ms`
        // after start-up, then one every interval: checks fall at 30 s, 5 min 30 s, ..., not on
        // the round times an operator's action is likely to be scheduled at.
        m.world.timer_in(sched, m.coord, d::KAFKA_LOG_INITIAL_TASK_DELAY, Timer::RetentionCheck);
        if m.cfg.cleanup_policy.compacts() {
            m.world.timer_in(sched, m.coord, m.cfg.cleaner_backoff, Timer::LogCleaner);
        }
        m.start_replication(sched);
        m.start_broker_heartbeats(sched);
        for (i, f) in m.faults.steps() {
            sched.schedule_at(f.at, Event::Fault(i));
        }
        for (i, o) in m.operations.steps() {
            sched.schedule_at(o.at, Event::Operation(i));
        }
        // Consumers not running yet (a group that starts later, room to scale out) start down.
        for (gi, g) in m.groups.iter().enumerate() {
            for c in &g.consumers[m.operations.running(gi) as usize..] {
                m.world.crash(c.node);
            }
        }
        // The groups there from the start formed before the first message: generation 1, range
        // assignment, every consumer with partitions in poll(), heartbeats running.
        for g in 0..m.groups.len() {
            if m.operations.running(g) == 0 {
                continue;
            }
            if m.is_share(g) {
                m.share_form(SimTime::ZERO, g, sched);
                continue;
            }
            m.complete_rebalance(SimTime::ZERO, g, sched);
            for c in 0..m.operations.running(g) {
                m.start_heartbeats(g, c, sched);
            }
        }
        m
    }

    fn obs(&mut self, now: SimTime, o: Observation) {
        self.history.record(now, o);
    }

    fn client(&mut self, now: SimTime, e: ClientEvent) {
        super::record_client(&mut *self.history, &mut self.drain, now, e);
    }

    /// Publishing is over: the producers sent the last message, or they are down and the schedule
    /// will not restart them (what they would have sent is never sent).
    fn publishing_over(&self) -> bool {
        self.producer.done() || (self.faults.over() && self.producers.iter().all(|pc| !self.world.is_up(pc.node)))
    }

    // ---- producer ----

    /// The offered load's next message is due: its producer (`id mod producers`) sends it, unless
    /// that producer's host is down (then it is never sent).
    fn arrival(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let hosts = &self.producers;
        let due =
            super::due_message(&mut self.producer, sched, Event::Arrival, &self.world, hosts.len(), |k| hosts[k].node);
        let Some((k, msg)) = due else { return };
        self.client(now, ClientEvent::Sent { msg });
        if let Some(p) = self.producers[k].compressor {
            self.compress(k, now, p, msg, sched);
            return;
        }
        let (pc, mut out) = self.producer_parts(k, sched);
        pc.send_record(now, msg, &mut out);
    }

    /// Producer `k`, and where its handlers' effects go: through the world as they are issued (it
    /// sees the world at once: a dead broker refuses it), its records to the history.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn producer_parts<'a>(
        &'a mut self,
        k: usize,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut sender::ProducerClient, Direct<'a, Event, impl FnMut(Handed<Msg, sender::ProducerNote>) + 'a>) {
        let now = sched.now();
        let (history, drain) = (&mut *self.history, &mut self.drain);
        let out = Direct::new(
            &mut self.world,
            sched,
            #[inline(always)]
            move |h| match h {
                Handed::Record(sender::ProducerNote::Client(e)) => super::record_client(history, drain, now, e),
                Handed::Record(sender::ProducerNote::Step(step)) => history.record(now, Observation::Step(step)),
                // Its sends' losses are told at once (`Sees`), never handed back.
                Handed::Returned { .. } => {}
            },
        );
        (&mut self.producers[k], out)
    }

    /// What the producer's compression did, with `compression.type`.
    fn compression(&self) -> Option<producer::CompressionStats> {
        let stats = self.producers.iter().filter_map(|pc| pc.accumulator.compression);
        stats.reduce(producer::Compression::merged).map(|c| c.stats(self.cfg.compression_type.name()))
    }

    /// `send()` compresses the record in the application's thread (the batch's compressing stream,
    /// `MemoryRecordsBuilder.appendStream`): one record after another, each taking its bytes at
    /// the codec's speed; the record reaches its batch once that is done.
    fn compress(
        &mut self,
        k: usize,
        now: SimTime,
        p: crate::world::resources::ProcessId,
        msg: Message,
        sched: &mut Scheduler<Event>,
    ) {
        let key_len = self.producers[k].key_len(&msg);
        let bytes = producer::record_wire_bytes(0, 0, key_len, u64::from(msg.bytes));
        let ps = self.producers[k].accumulator.compression.map_or(0, |c| c.compress_ps);
        let work = crate::world::resources::per_byte(bytes, ps);
        let res = self.world.resources_mut().expect("a compressor only in a world with resources");
        let done = res.run(p, now, work);
        self.producers[k].compressing.push_back((done, msg));
        if self.producers[k].compressing.len() == 1 {
            self.world.timer_at(sched, self.producers[k].node, done, Timer::Compressed);
        }
    }

    /// The producer's thread is done with the records due by `now`: they go on into the accumulator.
    fn compressed(&mut self, k: usize, now: SimTime, sched: &mut Scheduler<Event>) {
        while let Some(&(done, msg)) = self.producers[k].compressing.front()
            && done <= now
        {
            self.producers[k].compressing.pop_front();
            let (pc, mut out) = self.producer_parts(k, sched);
            pc.send_record(now, msg, &mut out);
        }
        if let Some(&(done, _)) = self.producers[k].compressing.front() {
            self.world.timer_at(sched, self.producers[k].node, done, Timer::Compressed);
        }
    }
    fn report_lag(&mut self, now: SimTime, group: GroupIdx) {
        if self.groups[group].share.is_some() {
            self.share_report_lag(now, group);
            return;
        }
        if let Some(backlog) = backlog(group, &self.groups[group], self.end_offsets_sum) {
            self.obs(now, backlog);
        }
    }

    fn retention_check(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let mut freed = 0;
        // `UnifiedLog.deleteOldSegments`: size, then time retention, only with the delete policy.
        for p in self.partitions.iter_mut().filter(|_| self.cfg.cleanup_policy.deletes()) {
            let history = &mut *self.history;
            let mut deleted = |r: &StoredMessage| history.record(now, Observation::Deleted { id: r.id(), group: None });
            if let Some(limit) = self.cfg.retention_bytes {
                freed += p.enforce_size(limit, &mut deleted);
            }
            freed += p.enforce_retention(now, self.cfg.retention, &mut deleted);
        }
        if freed > 0 {
            self.obs(now, Observation::StorageChanged { delta: -(freed as i64) });
        }
        self.world.timer_in(sched, self.coord, self.cfg.retention_check_interval, Timer::RetentionCheck);
    }

    // ---- broker: fetch (long poll) ----

    fn fetch_arrives(
        &mut self,
        now: SimTime,
        broker: NodeId,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        sched: &mut Scheduler<Event>,
    ) {
        // A fetch for an assignment the consumer has since given up is answered empty-handed: the
        // consumer ignores it (its epoch moved on).
        if self.groups[group].consumers[consumer as usize].epoch != epoch {
            return;
        }
        let answered = if self.is_share(group) {
            self.share_try_respond(now, group, consumer, broker, false, sched)
        } else {
            self.try_respond(now, group, consumer, broker, false, sched)
        };
        if !answered {
            let deadline = now.after(self.cfg.fetch_max_wait);
            let mut out = Direct::new(&mut self.world, sched, |_: Handed<Msg, ()>| {});
            self.delayed_fetches.park(broker as BrokerId, group, consumer, epoch, deadline, &mut out);
        }
    }

    fn fetch_expired(
        &mut self,
        now: SimTime,
        broker: NodeId,
        group: GroupIdx,
        consumer: u32,
        sched: &mut Scheduler<Event>,
    ) {
        let epoch = self.groups[group].consumers[consumer as usize].epoch;
        let mut out = Direct::new(&mut self.world, sched, |_: Handed<Msg, ()>| {});
        if !self.delayed_fetches.expired(now, broker as BrokerId, group, consumer, epoch, &mut out) {
            return;
        }
        if self.is_share(group) {
            self.share_try_respond(now, group, consumer, broker, true, sched);
        } else {
            self.try_respond(now, group, consumer, broker, true, sched);
        }
    }

    /// Broker `broker` answers a consumer's fetch if at least `fetch.min.bytes` are available
    /// below the high watermarks of the partitions it was asked for and still leads (or `force`,
    /// when the wait expired). Positions deleted by retention are reset by `auto.offset.reset`.
    fn try_respond(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        broker: NodeId,
        force: bool,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        // fetch.min.bytes = 0 would answer empty fetches in a loop; we wait for at least one byte.
        let min_bytes = self.cfg.fetch_min_bytes.max(1);
        let mut available = 0;
        let n = self.groups[group].consumers[consumer as usize].partitions.len();
        for slot in 0..n {
            let c = &self.groups[group].consumers[consumer as usize];
            let p = c.partitions[slot] as usize;
            // A partition this broker no longer leads gets NOT_LEADER_OR_FOLLOWER: nothing.
            if c.requested[slot] != broker || self.repl[p].leader != Some(broker) {
                continue;
            }
            if c.fetch_pos[slot] < self.partitions[p].start_offset {
                self.offset_out_of_range(now, group, consumer, slot);
            }
            if available < min_bytes {
                let pos = self.groups[group].consumers[consumer as usize].fetch_pos[slot];
                available += match &self.routing {
                    Some(rt) if !rt.kafka_fetches_all(group) => {
                        routed_bytes(rt, group, &self.partitions[p], pos, self.repl[p].hw, min_bytes - available)
                    }
                    _ => self.partitions[p].bytes_from(pos, self.repl[p].hw, min_bytes - available),
                };
            }
        }
        if available < min_bytes && !force {
            return false;
        }
        let limits = leader::FetchLimits {
            partition_bytes: self.cfg.max_partition_fetch_bytes,
            response_bytes: self.cfg.fetch_max_bytes,
        };
        let routing = &self.routing;
        let g = &mut self.groups[group];
        let c = &mut g.consumers[consumer as usize];
        let mut records = self.fetch_pool.pop().unwrap_or_default();
        let mut total = 0;
        let n = c.partitions.len();
        // Rotate the starting partition so that fetch.max.bytes does not starve the last ones.
        let start = (self.delayed_fetches.parked_so_far(group, consumer) as usize) % n.max(1);
        for i in 0..n {
            let slot = (start + i) % n;
            let p = c.partitions[slot] as usize;
            if c.requested[slot] != broker || self.repl[p].leader != Some(broker) {
                continue;
            }
            let from = c.fetch_pos[slot];
            let routed = |id| routing.as_ref().map_or((true, true), |rt| rt.kafka(group, id));
            let pos = leader::read_partition(
                &self.partitions[p],
                self.repl[p].hw,
                from,
                slot as u32,
                limits,
                &mut total,
                &mut records,
                routed,
            );
            g.fetched_sum += pos - from;
            c.fetch_pos[slot] = pos;
        }
        self.delayed_fetches.answered(broker as BrokerId, group, consumer);
        let (to, epoch) = (c.node, c.epoch);
        if let Some(k) = &self.costs {
            costs::read_for_fetch(&mut self.world, k, broker, now, &records);
        }
        self.report_lag(now, group);
        if let Err(Msg::FetchResponse { records, .. }) = self.world.try_send(
            sched,
            broker,
            to,
            Msg::FetchResponse {
                group,
                consumer,
                epoch,
                records,
                compressed: self.producers[0].accumulator.compression.is_some(),
            },
        ) {
            self.fetch_response_lost(now, group, consumer, epoch, records);
        }
        true
    }

    /// `OffsetOutOfRange`: the consumer's position in `slot` was deleted before the group read it.
    /// The group's `auto.offset.reset` moves it (a time reads as earliest: what is left of the log
    /// is newer than any record that time could point at). With `latest`, records still in the log
    /// are skipped: lost to this group although the broker still holds them.
    #[cold]
    #[inline(never)]
    fn offset_out_of_range(&mut self, now: SimTime, group: GroupIdx, consumer: u32, slot: usize) {
        let c = &self.groups[group].consumers[consumer as usize];
        let (p, from) = (c.partitions[slot], c.fetch_pos[slot]);
        let log = &self.partitions[p as usize];
        let reset = match self.groups[group].from {
            OffsetSpec::Earliest | OffsetSpec::Time(_) => log.start_offset,
            OffsetSpec::Latest => self.repl[p as usize].hw,
        };
        // Marked even when nothing is skipped: the consumer logs its reset either way.
        self.history.record(now, Observation::OffsetReset { group, partition: p, from, to: reset });
        self.skip_frontier(now, group, p, reset);
        let g = &mut self.groups[group];
        g.fetched_sum += reset - from;
        let committed = g.committed.get(p);
        // Skipped offsets were never handed out: they are not "unacked" until committed past.
        g.skipped.push((p, from, reset));
        g.skipped_uncommitted += reset - from.max(committed);
        let c = &mut g.consumers[consumer as usize];
        // The consumer's position is the reset offset (what it commits next).
        c.consumed[slot] = c.consumed[slot].max(reset);
        c.fetch_pos[slot] = reset;
    }

    /// A fetch response was lost on the way (a cut link, or its consumer died): the consumer never
    /// got these records, so its positions go back to them (Kafka moves a position only when the
    /// response arrives). A dead consumer's positions were dropped with its assignment.
    #[cold]
    #[inline(never)]
    fn fetch_response_lost(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        mut records: Vec<Fetched>,
    ) {
        let g = &mut self.groups[group];
        let c = &mut g.consumers[consumer as usize];
        if c.epoch == epoch && self.world.is_up(c.node) && !records.is_empty() {
            for r in &records {
                let pos = &mut c.fetch_pos[r.slot as usize];
                *pos = (*pos).min(r.offset);
            }
            g.fetched_sum -= records.len() as u64;
            self.report_lag(now, group);
        }
        records.clear();
        self.fetch_pool.push(records);
    }

    // ---- consumer: fetch, poll, process, commit ----

    /// A consumer's client, what it reads around it, and where its handlers' effects go: through
    /// the world as they are issued, its client events to the history.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn consumer_parts<'a>(
        &'a mut self,
        group: GroupIdx,
        consumer: u32,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut Consumer, consumer::Around<'a>, Direct<'a, Event, impl FnMut(Handed<Msg, ClientEvent>) + 'a>) {
        let out = client_sink(&mut self.world, sched, &mut *self.history, &mut self.drain);
        let g = &mut self.groups[group];
        let around = consumer::Around {
            leaders: &self.repl,
            coord: self.coord,
            faulty: self.faulty,
            processing: &self.processing,
            max_age: g.max_age,
            decompress_record: self.decompress_record,
            committed: &g.committed,
        };
        (&mut g.consumers[consumer as usize], around, out)
    }

    fn send_fetch(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
        c.send_fetch(now, group, consumer, around, &mut out);
    }

    /// A fetch response reaches its consumer (see [`Consumer::fetch_arrived`]): `None` if it was
    /// void, and then recycled.
    #[inline(always)]
    fn receive_fetch(
        &mut self,
        broker: NodeId,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        mut records: Vec<Fetched>,
        sched: &mut Scheduler<Event>,
    ) -> Option<Vec<Fetched>> {
        let faulty = self.faulty;
        let current = {
            let (c, _, mut out) = self.consumer_parts(group, consumer, sched);
            c.fetch_arrived(group, consumer, broker, epoch, &records, faulty, &mut out)
        };
        if current {
            return Some(records);
        }
        records.clear();
        self.fetch_pool.push(records);
        None
    }

    // The response's fields, as they arrive (`Msg::FetchResponse`), plus its sender.
    #[allow(clippy::too_many_arguments)]
    fn fetch_response(
        &mut self,
        now: SimTime,
        broker: NodeId,
        group: GroupIdx,
        consumer: u32,
        epoch: u32,
        records: Vec<Fetched>,
        sched: &mut Scheduler<Event>,
    ) {
        let Some(mut records) = self.receive_fetch(broker, group, consumer, epoch, records, sched) else {
            return;
        };
        let c = &mut self.groups[group].consumers[consumer as usize];
        c.buffer(&mut records);
        self.fetch_pool.push(records);
        if c.waiting_in_poll {
            self.poll(now, group, consumer, sched);
        }
    }

    /// `KafkaConsumer.poll()`: rejoin the group if it is rebalancing, auto-commit if due, then
    /// hand up to `max.poll.records` buffered records to the application, pipelining the next
    /// fetch; block if nothing is buffered.
    fn poll(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        if self.is_share(group) {
            self.share_poll(now, group, consumer, sched);
            return;
        }
        self.apply_pending(now, group, consumer, sched);
        let eager = self.rebalancing == Rebalancing::Eager;
        match self.groups[group].consumers[consumer as usize].membership_at_poll(now, eager) {
            consumer::AtPoll::Rejoin { blocked } => {
                self.rejoin(group, consumer, sched);
                if blocked {
                    return;
                }
            }
            consumer::AtPoll::Blocked => return,
            consumer::AtPoll::Records => {}
        }
        let (auto, interval, max) =
            (self.cfg.enable_auto_commit, self.cfg.auto_commit_interval, self.cfg.max_poll_records as usize);
        let committed = {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.poll_records(now, group, consumer, auto.then_some(interval), max, around, &mut out)
        };
        self.count_commit(committed);
    }

    /// The application starts on the next record it holds, if any (see [`Consumer::start_next`]).
    fn start_next(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
        c.start_next(now, group, consumer, around, &mut out);
    }

    fn job_end(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        if let JobEnd::Done(r) = self.groups[group].consumers[consumer as usize].app.job_ended() {
            self.job_done(now, group, consumer, r, sched);
        }
    }

    fn job_done(&mut self, now: SimTime, group: GroupIdx, consumer: u32, r: Fetched, sched: &mut Scheduler<Event>) {
        if self.is_share(group) {
            self.share_job_done(now, group, consumer, r, sched);
            return;
        }
        let attempt = if std::mem::take(&mut self.groups[group].consumers[consumer as usize].stale) {
            let outcome = crate::history::Settlement::Expired;
            self.client(now, ClientEvent::Settled { id: r.msg.id(), group, outcome });
            failing::AttemptEnd::Settled
        } else if r.delivery < DISCARD {
            self.attempt_ended(now, group, consumer, r, sched)
        } else {
            failing::AttemptEnd::Succeeded
        };
        if attempt == failing::AttemptEnd::RetryingInPlace {
            return;
        }
        let g = &mut self.groups[group];
        if let Some(&p) = g.consumers[consumer as usize].partitions.get(r.slot as usize) {
            g.progress.advance(p as usize, r.offset + 1);
        }
        if r.delivery < DISCARD && attempt == failing::AttemptEnd::Succeeded {
            self.client(now, ClientEvent::Processed { msg: r.msg, group, consumer });
        }
        let auto = self.cfg.enable_auto_commit;
        let after = {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.job_finished(now, group, consumer, auto, around, &mut out)
        };
        match after {
            consumer::AfterJob::Working => {}
            consumer::AfterJob::CommitSync { sent } => self.count_commit(Some(sent)),
            consumer::AfterJob::Poll => self.poll(now, group, consumer, sched),
        }
    }

    /// Sends the consumed positions that moved since the last commit to the coordinator. Returns
    /// whether there was anything to commit.
    fn commit(&mut self, group: GroupIdx, consumer: u32, sync: bool, sched: &mut Scheduler<Event>) -> bool {
        let sent = {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.commit(group, consumer, sync, around, &mut out)
        };
        self.count_commit(sent);
        sent.is_some()
    }

    /// What a consumer's handler did about a commit (`Some(sent)`): one that left is in flight
    /// until it lands or is lost on the way.
    fn count_commit(&mut self, committed: Option<bool>) {
        self.commits_in_flight += u64::from(committed == Some(true));
    }

    fn auto_commit_due(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let interval = self.cfg.auto_commit_interval;
        let committed = {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.auto_commit_due(now, group, consumer, interval, around, &mut out)
        };
        self.count_commit(committed);
    }

    fn commit_response(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        if std::mem::take(&mut c.commit_sync_pending) {
            self.poll(now, group, consumer, sched);
        }
    }

    // ---- coordinator: offsets and membership ----

    /// Applies the coordinator's effects, in the order its handler issued them: sends and timers
    /// through the world (which charges their costs), its notes to the history and to the
    /// model's record of who owns which partition.
    fn apply_coordinator(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        if self.coord_out.is_empty() {
            return;
        }
        let (history, groups, partitions) = (&mut *self.history, &mut self.groups, self.cfg.partitions);
        let end_offsets_sum = self.end_offsets_sum;
        self.world.apply(&mut self.coord_out, sched, |note| match note {
            Note::Obs(o) => history.record(now, o),
            // A consumer-protocol group (never a share group, whose lag is its own).
            Note::Reconciled { group } => {
                if let Some(b) = backlog(group, &groups[group], end_offsets_sum) {
                    history.record(now, b)
                }
            }
            Note::RevokeAll { group } => {
                // Every member is to give up every partition: from now on they pause.
                for partition in 0..partitions {
                    if groups[group].owner[partition as usize].take().is_some() {
                        history.record(now, Observation::PartitionRevoked { group, partition });
                    }
                }
            }
        });
    }

    fn commit_arrives(&mut self, now: SimTime, commit: OffsetCommit, sched: &mut Scheduler<Event>) {
        let OffsetCommit { group, consumer, member, generation, offsets, sync } = commit;
        self.commits_in_flight -= 1;
        if self.coordinator.commit(group, consumer, member, generation, sync, &mut self.coord_out) {
            for (partition, offset) in offsets {
                self.commit_offset(now, group, partition, offset);
            }
            self.report_lag(now, group);
        }
        self.apply_coordinator(now, sched);
    }

    /// The coordinator stores a commit; a skipped range the new offset passes stops counting.
    fn commit_offset(&mut self, now: SimTime, group: GroupIdx, partition: u32, offset: Offset) -> bool {
        let g = &mut self.groups[group];
        let before = g.committed.get(partition);
        if !g.committed.commit(partition, offset) {
            return false;
        }
        if !g.skipped.is_empty() {
            for &(p, from, to) in &g.skipped {
                if p == partition {
                    let was = to.saturating_sub(from.max(before));
                    let now_left = to.saturating_sub(from.max(offset));
                    g.skipped_uncommitted -= was - now_left;
                }
            }
            g.skipped.retain(|&(p, _, to)| p != partition || to > offset);
        }
        self.obs(now, Observation::Committed { group, partition, offset });
        true
    }

    fn start_heartbeats(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let interval = self.heartbeat_interval();
        let c = &mut self.groups[group].consumers[consumer as usize];
        c.heartbeat_due = sched.now().after(interval);
        let node = c.node;
        self.world.timer_in(sched, node, interval, Timer::HeartbeatTick);
        let member = self.groups[group].consumers[consumer as usize].member;
        self.arm_session(group, member, sched);
    }

    /// Coordinator: the member's session now ends `session.timeout.ms` from now (a lazily re-armed
    /// timer: a heartbeat schedules nothing).
    fn arm_session(&mut self, group: GroupIdx, member: u64, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        self.coordinator.arm_session(now, group, member, &mut self.coord_out);
        self.apply_coordinator(now, sched);
    }

    /// The heartbeat thread (see [`Consumer::heartbeat_tick`]).
    fn heartbeat_tick(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        if self.is_share(group) {
            self.share_heartbeat_tick(group, consumer, sched);
            return;
        }
        let (fresh, protocol) = (self.next_member, self.protocol());
        let tick = {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.heartbeat_tick(now, group, consumer, around.coord, protocol, fresh, &mut out)
        };
        match tick {
            consumer::Tick::Quiet => {}
            consumer::Tick::CommitSyncTimedOut => self.poll(now, group, consumer, sched),
            consumer::Tick::Left => self.next_member += 1,
        }
    }

    /// The group protocol the consumers' heartbeat threads speak.
    fn protocol(&self) -> consumer::Protocol {
        match self.rebalancing {
            Rebalancing::Consumer => consumer::Protocol::Consumer,
            _ => consumer::Protocol::Classic,
        }
    }

    /// `heartbeat.interval.ms` (classic) or `group.consumer.heartbeat.interval.ms` (KIP-848).
    fn heartbeat_interval(&self) -> SimDuration {
        self.protocol().heartbeat_interval()
    }

    fn heartbeat_arrives(&mut self, group: GroupIdx, member: u64, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        // Not a member (any more): the consumer that has this member id, if any, is told to join.
        let consumers = &self.groups[group].consumers;
        let sender = || consumers.iter().position(|c| c.member == member).map(|i| i as u32);
        self.coordinator.heartbeat(now, group, member, sender, &mut self.coord_out);
        self.apply_coordinator(now, sched);
    }

    fn heartbeat_response(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        rebalance: bool,
        unknown: bool,
        sched: &mut Scheduler<Event>,
    ) {
        match self.groups[group].consumers[consumer as usize].heartbeat_heard(now, rebalance, unknown) {
            consumer::Heard::RejoinAtPoll { now: true } => self.poll(now, group, consumer, sched),
            consumer::Heard::JoinAgain => self.rejoin(group, consumer, sched),
            consumer::Heard::RejoinAtPoll { now: false } | consumer::Heard::Nothing => {}
        }
    }

    /// The member joins again: KIP-848's first heartbeat, or (classic) a JoinGroup after
    /// committing what was consumed (auto-commit), giving up every partition if eager.
    fn rejoin(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let now = sched.now();
        if self.rebalancing == Rebalancing::Consumer {
            let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
            c.join_consumer_group(now, group, consumer, around.coord, &mut out);
            return;
        }
        if self.cfg.enable_auto_commit && self.groups[group].consumers[consumer as usize].assigned {
            self.commit(group, consumer, false, sched);
        }
        let eager = self.rebalancing == Rebalancing::Eager;
        let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
        c.join_group(now, group, consumer, around.coord, eager, &mut out);
    }

    fn join_arrives(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        member: u64,
        sched: &mut Scheduler<Event>,
    ) {
        let ready = self.coordinator.join(now, group, consumer, member, &mut self.coord_out);
        self.apply_coordinator(now, sched);
        if ready {
            self.complete_rebalance(now, group, sched);
        }
    }

    fn leave_arrives(&mut self, now: SimTime, group: GroupIdx, member: u64, sched: &mut Scheduler<Event>) {
        if self.coordinator.leave(group, member) {
            self.member_removed(now, group, sched);
        }
    }

    /// The coordinator removed a member (it left, or its session expired): its partitions are
    /// nobody's; the group rebalances without it.
    fn member_removed(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        match self.rebalancing {
            Rebalancing::Eager => self.member_gone(now, group, sched),
            Rebalancing::Cooperative => {
                self.release_orphans(now, group);
                self.member_gone(now, group, sched);
            }
            Rebalancing::Consumer => {
                self.release_orphans(now, group);
                self.membership_changed(now, group, sched);
            }
        }
        if self.groups[group].pending_reset.is_some() && self.coordinator.members(group).is_empty() {
            self.apply_reset(now, group, sched);
        }
    }

    fn session_expired(&mut self, now: SimTime, group: GroupIdx, member: u64, sched: &mut Scheduler<Event>) {
        if self.is_share(group) {
            self.share_session_expired(now, group, member, sched);
            return;
        }
        let removed = self.coordinator.session_expired(now, group, member, &mut self.coord_out);
        self.apply_coordinator(now, sched);
        if removed {
            self.member_removed(now, group, sched);
        }
    }

    /// A member left or died: the group rebalances without it.
    fn member_gone(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        let ready = self.coordinator.member_gone(group, &mut self.coord_out);
        self.apply_coordinator(now, sched);
        if ready {
            self.complete_rebalance(now, group, sched);
        }
    }

    fn rebalance_timeout(&mut self, now: SimTime, group: GroupIdx, round: u64, sched: &mut Scheduler<Event>) {
        // Members that did not rejoin in time are dropped.
        if self.coordinator.rebalance_timeout(group, round) {
            self.complete_rebalance(now, group, sched);
        }
    }

    /// Every remaining member joined: a new generation, the assignor's assignment, and each
    /// member's partitions with their committed offsets. Cooperatively, a partition another member
    /// still owns is left out: that owner revokes it and rejoins, and the next round hands it on.
    fn complete_rebalance(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        // Only the groups there from the start form before the first message, without messages.
        let was = self.coordinator.members(group).generation > 0 || now > SimTime::ZERO;
        let next = self.coordinator.next_generation(group, self.holders(group));
        let generation = next.generation;
        self.resolve_positions(now, group);
        let eager = self.rebalancing == Rebalancing::Eager;
        let g = &mut self.groups[group];
        if eager || !was {
            g.owner.iter_mut().for_each(|o| *o = None);
            // Positions restart from the committed offsets: what was fetched past them is fetched
            // again.
            g.fetched_sum = g.committed.total();
            g.skipped.clear();
            g.skipped_uncommitted = 0;
        } else {
            g.owner.clone_from(&next.holder);
        }
        let (owner, consumers) = (&mut g.owner, &mut g.consumers);
        self.coordinator.hand_out(group, &next, &g.committed, was, &mut self.coord_out, |consumer, parts| {
            for &(q, _) in parts {
                owner[q as usize] = Some(consumer);
            }
            if !was {
                // The initial assignment is in place before the first message (no round trip).
                let c = &mut consumers[consumer as usize];
                c.assign(generation, parts);
                c.acked_epoch = 1;
                c.waiting_in_poll = false;
            }
        });
        self.apply_coordinator(now, sched);
        if !was {
            // Every consumer starts blocked in poll(), idle ones too (they must hear of rebalances).
            for &consumer in &next.members {
                self.poll(now, group, consumer, sched);
            }
        }
        self.report_lag(now, group);
    }

    /// Per partition: the running consumer whose client holds it now, if any.
    fn holders(&self, group: GroupIdx) -> Vec<Option<u32>> {
        let mut out = vec![None; self.cfg.partitions as usize];
        for (i, c) in self.groups[group].consumers.iter().enumerate() {
            if c.assigned && self.world.is_up(c.node) {
                for &q in &c.partitions {
                    out[q as usize] = Some(i as u32);
                }
            }
        }
        out
    }

    fn assignment_arrives(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        generation: u32,
        partitions: Vec<(u32, Offset)>,
        sched: &mut Scheduler<Event>,
    ) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        if !c.joining {
            return;
        }
        c.joining = false;
        // `heartbeatThread.enable()` at the JoinGroup response restarts the heartbeat interval:
        // after a rebalance every member heartbeats in step.
        c.heartbeat_due = now.after(d::KAFKA_HEARTBEAT_INTERVAL);
        if self.rebalancing == Rebalancing::Cooperative && c.assigned {
            // Applied at the next poll(), where the revocation callback runs.
            c.pending = Some((generation, partitions));
        } else {
            c.assign(generation, &partitions);
            for &(partition, _) in &partitions {
                self.obs(now, Observation::PartitionAssigned { group, partition });
            }
        }
        let c = &mut self.groups[group].consumers[consumer as usize];
        if c.waiting_in_poll && !c.app.is_busy() {
            self.poll(now, group, consumer, sched);
        }
    }

    /// The producer whose host is `node`.
    #[inline]
    fn producer_of(&self, node: NodeId) -> usize {
        (node - self.producers[0].node) as usize
    }

    /// `KafkaConsumer.close()` at the end of the run: with auto-commit enabled, every live member
    /// commits its consumed positions; the commit is applied at once (the run is over).
    fn close_clients(&mut self, now: SimTime) {
        if !self.cfg.enable_auto_commit {
            return;
        }
        for g in 0..self.groups.len() {
            if self.is_share(g) {
                continue;
            }
            let mut moved = false;
            for ci in 0..self.groups[g].consumers.len() {
                let c = &self.groups[g].consumers[ci];
                if !self.world.is_up(c.node)
                    || !c.assigned
                    || !self.coordinator.members(g).accepts_commit(c.member, c.generation)
                {
                    continue;
                }
                let offsets: Vec<(u32, Offset)> =
                    c.partitions.iter().copied().zip(c.consumed.iter().copied()).collect();
                for (partition, offset) in offsets {
                    moved |= self.commit_offset(now, g, partition, offset);
                }
            }
            if moved {
                self.report_lag(now, g);
            }
        }
    }

    fn on_message(&mut self, now: SimTime, from: NodeId, to: NodeId, msg: Msg, sched: &mut Scheduler<Event>) {
        match msg {
            Msg::Produce { batches, producer, req } => {
                self.produce_arrives(now, to, self.producer_of(from), batches, producer, req, sched)
            }
            Msg::ProduceResponse { batches, req } => {
                let k = self.producer_of(to);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.produce_response(now, from, batches, req, &mut out)
            }
            Msg::MetadataRequest { round } => self.metadata_request_arrives(from, to, round, sched),
            Msg::MetadataResponse { round, leaders } => {
                let k = self.producer_of(to);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.metadata_response(now, from, round, leaders, &mut out)
            }
            Msg::Metadata { version, leaders } => self.metadata_arrives(now, to, version, leaders, sched),
            Msg::Fetch { group, consumer, epoch } => self.fetch_arrives(now, to, group, consumer, epoch, sched),
            Msg::FetchResponse { group, consumer, epoch, records, .. } => {
                self.fetch_response(now, from, group, consumer, epoch, records, sched)
            }
            Msg::ReplicaFetch { session } => self.replica_fetch_arrives(now, from, to, session, sched),
            Msg::ReplicaFetchResponse { session, parts, .. } => {
                self.replica_fetch_response(now, from, to, session, parts, sched)
            }
            Msg::ConnectionClosed => self.connection_closed(now, from, to, sched),
            Msg::BrokerHeartbeat { incarnation, version } => {
                self.broker_heartbeat_arrives(now, from, incarnation, version, sched)
            }
            Msg::Commit(commit) => self.commit_arrives(now, commit, sched),
            Msg::CommitResponse { group, consumer } => self.commit_response(now, group, consumer, sched),
            Msg::Heartbeat { group, member } => self.heartbeat_arrives(group, member, sched),
            Msg::HeartbeatResponse { group, consumer, rebalance, unknown } => {
                self.heartbeat_response(now, group, consumer, rebalance, unknown, sched)
            }
            Msg::JoinGroup { group, consumer, member } => self.join_arrives(now, group, consumer, member, sched),
            Msg::LeaveGroup { group, member } => self.leave_arrives(now, group, member, sched),
            Msg::Assignment { group, consumer, generation, partitions } => {
                self.assignment_arrives(now, group, consumer, generation, partitions, sched)
            }
            Msg::ConsumerHeartbeat { group, consumer, member, owned, acked } => {
                self.consumer_heartbeat_arrives(now, group, consumer, member, owned, acked, sched)
            }
            Msg::ConsumerHeartbeatResponse { group, consumer, epoch, partitions, fenced } => {
                self.consumer_heartbeat_response(now, group, consumer, epoch, partitions, fenced, sched)
            }
            Msg::ShareHeartbeat { group, consumer, member, epoch } => {
                self.share_heartbeat_arrives(now, group, consumer, member, epoch, sched)
            }
            Msg::ShareHeartbeatResponse { group, consumer, epoch, partitions, fenced } => {
                self.share_heartbeat_response(now, group, consumer, epoch, partitions, fenced, sched)
            }
            Msg::ShareLeave { group, member } => self.share_leave_arrives(group, member),
            Msg::ShareRelease { group, member } => self.share_release_arrives(now, to, group, member, sched),
            Msg::ShareFetch { group, consumer, epoch } => self.fetch_arrives(now, to, group, consumer, epoch, sched),
            Msg::ShareFetchResponse { group, consumer, epoch, records, .. } => {
                self.share_fetch_response(now, from, group, consumer, epoch, records, sched)
            }
            Msg::ShareAck { group, member, partition, offset } => {
                self.share_ack_arrives(now, group, member, partition, offset)
            }
        }
    }

    fn on_timer(&mut self, now: SimTime, node: NodeId, timer: Timer, sched: &mut Scheduler<Event>) {
        match timer {
            Timer::SenderWakeup => {
                let k = self.producer_of(node);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.sender_wakeup(now, &mut out)
            }
            Timer::FetchExpired { group, consumer } => self.fetch_expired(now, node, group, consumer, sched),
            Timer::ReplicaFetchExpired { follower } => self.replica_fetch_expired(now, node, follower, sched),
            Timer::IsrCheck => self.isr_check(now, node, sched),
            Timer::PurgatoryExpired => self.purgatory_expired(now, node, sched),
            Timer::BrokerHeartbeatTick => self.broker_heartbeat_tick(node, sched),
            Timer::BrokerSessionExpired { broker } => self.broker_session_expired(now, broker, sched),
            Timer::MetadataRefresh => {
                let k = self.producer_of(node);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.metadata_refresh(&mut out)
            }
            Timer::MaxBlockExpired => {
                let k = self.producer_of(node);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.max_block_expired(now, &mut out)
            }
            Timer::Compressed => self.compressed(self.producer_of(node), now, sched),
            Timer::MetadataTimeout { round } => {
                let k = self.producer_of(node);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.metadata_timeout(now, round, &mut out)
            }
            Timer::RequestTimeout { broker } => {
                let k = self.producer_of(node);
                let (pc, mut out) = self.producer_parts(k, sched);
                pc.request_timed_out(now, broker, &mut out)
            }
            Timer::ReplicaFetchTimeout { leader } => self.replica_fetch_timed_out(now, node, leader, sched),
            Timer::RetentionCheck => self.retention_check(now, sched),
            Timer::LogCleaner => self.log_cleaner(now, sched),
            Timer::SessionExpired { group, member } => self.session_expired(now, group, member, sched),
            Timer::RebalanceTimeout { group, round } => self.rebalance_timeout(now, group, round, sched),
            Timer::InitialRebalanceDelay { group, round } => self.initial_delay_over(now, group, round, sched),
            Timer::RetryTopic { group, topic } => self.retry_topic_next(now, group, topic, sched),
            Timer::ShareLockExpired { group, partition } => self.share_lock_expired(now, node, group, partition, sched),
            Timer::JobEnd | Timer::AutoCommitDue | Timer::HeartbeatTick | Timer::FetchTimeout { .. } => {
                let (group, consumer) = self.consumer_of[node];
                match timer {
                    Timer::JobEnd => self.job_end(now, group, consumer, sched),
                    Timer::AutoCommitDue => self.auto_commit_due(now, group, consumer, sched),
                    Timer::FetchTimeout { broker } => {
                        let (c, around, mut out) = self.consumer_parts(group, consumer, sched);
                        c.fetch_timed_out(now, group, consumer, broker, around, &mut out)
                    }
                    _ => self.heartbeat_tick(now, group, consumer, sched),
                }
            }
        }
    }

    /// Every group has processed every record, no rebalance is under way, and every partition's
    /// owner is caught up and idle (so that records to be processed again after a rebalance are).
    /// With `skip_offline`, partitions without a leader are left out.
    fn groups_done(&self, skip_offline: bool) -> bool {
        self.groups.iter().enumerate().all(|(gi, g)| {
            if g.share.is_some() {
                return self.share_done(gi);
            }
            (skip_offline || g.progress.remaining() == 0)
                && !self.coordinator.members(gi).rebalancing
                && g.owner.iter().enumerate().all(|(p, o)| {
                    if skip_offline && self.repl[p].leader.is_none() {
                        return true;
                    }
                    (!skip_offline || g.progress.frontier(p) >= self.partitions[p].end_offset())
                        && o.is_some_and(|c| {
                            let c = &g.consumers[c as usize];
                            let slot = c.partitions.iter().position(|&q| q as usize == p);
                            self.world.is_up(c.node)
                                && !c.app.is_busy()
                                && c.app.waiting() == 0
                                && slot.is_some_and(|s| c.buffered[s] == 0 && c.fetch_pos[s] >= g.progress.frontier(p))
                        })
                })
        })
    }
}

/// What Kafka's nodes do about a step of the fault schedule (the harness, `models::faults`, applies
/// it to the world).
impl<H: History> FaultVerbs for KafkaModel<'_, H> {
    type Event = Event;

    fn world(&mut self) -> &mut World {
        &mut self.world
    }

    fn schedule(&mut self) -> &mut FaultSchedule {
        &mut self.faults
    }

    fn record(&mut self, now: SimTime, o: Observation) {
        self.obs(now, o);
    }

    /// The leader of partition 0 at the crash (none if it is offline); its repair restarts the
    /// broker that the crash hit.
    fn leader(&mut self, step: usize, repairs: Option<usize>) -> Option<NodeId> {
        let hit = match repairs {
            Some(crash) => self.leader_hit[crash],
            None => {
                self.leader_hit[step] = self.repl[0].leader;
                self.repl[0].leader
            }
        };
        hit.map(|b| b as NodeId)
    }

    fn consumer_node(&self, group: GroupIdx, index: u32) -> NodeId {
        self.groups[group].consumers[index as usize].node
    }

    fn producers(&self) -> usize {
        self.producers.len()
    }

    fn producer_node(&self, k: usize) -> NodeId {
        self.producers[k].node
    }

    fn consumer_crashed(&mut self, _now: SimTime, group: GroupIdx, index: u32, _sched: &mut Scheduler<Event>) {
        self.consumer_crashed(group, index);
    }

    fn consumer_restarted(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        self.consumer_started(now, group, index, sched);
    }

    fn consumer_hung(&mut self, group: GroupIdx, index: u32) {
        self.groups[group].consumers[index as usize].app.hang();
    }

    fn consumer_resumed(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        if let Some(r) = self.groups[group].consumers[index as usize].app.resume() {
            self.job_done(now, group, index, r, sched);
        } else {
            self.start_next(now, group, index, sched);
        }
    }

    fn producer_crashed(&mut self, k: usize) {
        self.producers[k].crashed();
    }

    /// A new producer: fresh metadata, a new producer id (idempotence starts over).
    fn producer_restarted(&mut self, k: usize, _sched: &mut Scheduler<Event>) {
        let pc = &mut self.producers[k];
        pc.meta_leader = self.repl.iter().map(|r| r.leader).collect();
        pc.chain.iter_mut().for_each(|c| *c = 0);
    }

    fn broker_crashed(&mut self, _now: SimTime, b: NodeId, sched: &mut Scheduler<Event>) {
        self.broker_crashed(b as BrokerId, sched);
    }

    fn broker_restarted(&mut self, _now: SimTime, b: NodeId, sched: &mut Scheduler<Event>) {
        self.broker_restarted(b as BrokerId, sched);
    }
}

impl<H: History> KafkaModel<'_, H> {
    fn handle_envelope(&mut self, now: SimTime, env: Envelope<Msg, Timer>, sched: &mut Scheduler<Event>) {
        match env {
            Envelope::Message { from, to, msg, .. } => self.on_message(now, from, to, msg, sched),
            Envelope::Timer { node, timer, .. } => self.on_timer(now, node, timer, sched),
        }
        // Whatever this handler waited for (a disk read) is over.
        self.world.end();
    }
}

impl<H: History> super::System for KafkaModel<'_, H> {
    fn resources(&self) -> Option<&crate::world::resources::Resources> {
        self.world.resources()
    }

    fn producer_nodes(&self) -> Vec<NodeId> {
        self.producers.iter().map(|pc| pc.node).collect()
    }

    fn close(&mut self, at: SimTime) {
        self.close_clients(at);
    }

    fn compression_stats(&self) -> Option<producer::CompressionStats> {
        self.compression()
    }
}

impl<H: History> Model for KafkaModel<'_, H> {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, sched: &mut Scheduler<Event>) {
        match event {
            Event::Net(env) => {
                if self.world.admit(&env) == Admit::Drop {
                    self.dropped(now, env, sched);
                    return;
                }
                if let Some(k) = &mut self.costs
                    && let Envelope::Message { from, to, msg, .. } = &env
                {
                    // The request waits for its broker's CPU (and the dirty-page limit): handled
                    // when served, so that a saturated broker builds a queue of requests.
                    costs::charge(&mut self.world, k, self.brokers, *to, now, msg);
                    if let Some(done) = self.world.served_at(now, *from, *to) {
                        sched.schedule_at(done, Event::Served(env));
                        return;
                    }
                }
                self.handle_envelope(now, env, sched);
            }
            Event::Served(env) => {
                if self.world.admit_served(&env) {
                    self.handle_envelope(now, env, sched);
                } else {
                    self.dropped(now, env, sched);
                }
            }
            Event::Fault(i) => super::faults::apply(self, now, i, sched),
            Event::Arrival => self.arrival(now, sched),
            Event::Operation(i) => super::operating::apply(self, now, i, sched),
        }
    }

    fn stalled(&self, now: SimTime) -> bool {
        self.drain.stalled(now, self.faults.over() && self.operations.over())
    }

    fn finished(&self) -> bool {
        self.publishing_over()
            && self.operations.over()
            && self.producers.iter().all(sender::ProducerClient::idle)
            && self.commits_in_flight == 0
            && self.failing.iter().all(failing::GroupFailing::idle)
            && ((self.groups.iter().all(|g| g.progress.remaining() == 0) && self.groups_done(false))
                // Partitions left offline by the schedule (no eligible replica came back) can
                // never be read: the run ends when every other partition is drained.
                || (self.faults.over()
                    && self.repl.iter().any(|r| r.leader.is_none())
                    && self.groups_done(true)))
    }
}

/// A sink that applies a client-side handler's effects at once: its client events to the history
/// (and the drain watch), its sends and timers through the world. Its sends' losses are told at
/// once (`Sees`), never handed back.
#[allow(clippy::type_complexity)]
#[inline(always)]
fn client_sink<'a, H: History>(
    world: &'a mut World,
    sched: &'a mut Scheduler<Event>,
    history: &'a mut H,
    drain: &'a mut DrainWatch,
) -> Direct<'a, Event, impl FnMut(Handed<Msg, ClientEvent>) + 'a> {
    let now = sched.now();
    Direct::new(
        world,
        sched,
        #[inline(always)]
        move |h| match h {
            Handed::Record(e) => super::record_client(history, drain, now, e),
            Handed::Returned { .. } => {}
        },
    )
}

/// A group's consumer lag gauge: log end offsets minus its committed offsets, and what it fetched
/// and has not committed; none before it subscribed (as `kafka-consumer-groups` shows none).
fn backlog(group: GroupIdx, g: &ConsumerGroup, end_offsets_sum: u64) -> Option<Observation> {
    if !g.committed.is_set(0) {
        return None;
    }
    let messages = g.committed.lag(end_offsets_sum);
    let unacked = g.fetched_sum.saturating_sub(g.committed.total() + g.skipped_uncommitted);
    Some(Observation::Backlog { group, messages, unacked })
}
