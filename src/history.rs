//! What a model reports happened. Models never count their own successes: they emit
//! [`Observation`]s and an observer (the [`crate::metrics`] recorder, or a history writer for an
//! outside checker) recounts loss, duplication and latency from them.

use crate::time::SimTime;
use crate::workload::{Message, MessageId, StoredMessage};

pub type GroupIdx = usize;
pub type ConsumerIdx = u32;

/// One thing that happened, at one simulated instant. A closed enum: an observer must handle all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observation {
    /// What a client saw (the checker's only input; the recorder reads them too).
    Client(ClientEvent),
    /// The broker made the message available to readers (appended to a partition / enqueued).
    Stored { msg: StoredMessage },
    /// The broker no longer holds the message for this group (`None`: for every group), whether or
    /// not it was processed: acked, auto-acked on send, or deleted by retention.
    Deleted { id: MessageId, group: Option<GroupIdx> },
    /// A Kafka consumer group committed `offset` on `partition`.
    Committed { group: GroupIdx, partition: u32, offset: u64 },
    /// A Kafka consumer group's position on `partition` was out of range (retention deleted the
    /// records) and `auto.offset.reset` moved it from `from` to `to`. With `latest`, the records
    /// still held in between are skipped; each is also reported as `Deleted` for the group.
    OffsetReset { group: GroupIdx, partition: u32, from: u64, to: u64 },
    /// Step `step` of the scenario's fault schedule happened (for chart markers and traces).
    Fault { step: usize },
    /// A Kafka consumer group started (`started = true`) or finished a rebalance.
    Rebalance { group: GroupIdx, started: bool },
    /// A rebalance took `partition` away from whoever processed it for the group: with an eager
    /// assignor every owned partition at the rebalance's start; cooperatively (cooperative-sticky,
    /// the consumer protocol) a partition its owner revoked to hand it on, or the partitions of a
    /// member that left the group (when the coordinator removes it). Nobody processes it until the
    /// next `PartitionAssigned` of the same partition.
    PartitionRevoked { group: GroupIdx, partition: u32 },
    /// A consumer of the group received `partition` in an assignment and may process it.
    PartitionAssigned { group: GroupIdx, partition: u32 },
    /// A new leader took over after a failure: of Kafka partition `partition` (the controller's
    /// election), or (`None`) of the RabbitMQ quorum queue (a Raft election won).
    LeaderElected { partition: Option<u32> },
    /// Bytes the broker holds changed by `delta` (payload bytes; fan-out copies count once each).
    StorageChanged { delta: i64 },
    /// The system's own backlog gauges for a group. `messages`: Kafka consumer lag (log end offset
    /// minus committed offset, summed over partitions), RabbitMQ queue depth (ready plus unacked).
    /// `unacked`: handed to consumers but not yet acknowledged: RabbitMQ deliveries not yet acked,
    /// Kafka records fetched past the committed offset.
    Backlog { group: GroupIdx, messages: u64, unacked: u64 },
    /// The broker's inner steps, reported only to an observer that asks for them
    /// ([`History::STEPS`], `pushpull trace`): they cost a loop over records, so a normal run
    /// never builds them.
    Step(Step),
}

/// A broker's inner step in a message's life, for `pushpull trace`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// The Kafka producer's sender drained the record's batch into a produce request to `broker`.
    Batched { id: MessageId, partition: u32, broker: u16, records: u32 },
    /// Kafka: the partition's leader `broker` appended the record at `offset`.
    Appended { id: MessageId, partition: u32, offset: u64, broker: u16 },
    /// Kafka: follower `broker`'s copy of `partition` now ends at `end` (exclusive).
    Replicated { partition: u32, broker: u16, end: u64 },
    /// Kafka: the high watermark of `partition` moved to `hw`: records below it are committed
    /// (and readable by consumers).
    HighWatermark { partition: u32, hw: u64 },
    /// RabbitMQ: the exchange routed the message to `queues` queues.
    Routed { id: MessageId, queues: u32 },
    /// RabbitMQ quorum queue: the leader on `node` appended the message's enqueue command to its
    /// Raft log at `index`.
    RaftAppended { id: MessageId, node: u16, index: u64 },
    /// RabbitMQ quorum queue: the Raft log of follower `node` now ends at `last` (inclusive).
    RaftReplicated { node: u16, last: u64 },
}

/// What a client application saw, in either system: the **only** input of the independent checker
/// ([`crate::checker`]), which recounts loss, duplication, redelivery, reordering and
/// unavailability from these alone. A closed enum; models report them, they never count them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClientEvent {
    /// The producer application handed the message to its client library (Kafka `send()`, AMQP
    /// `basic.publish`). Every group subscribed at that instant is owed one processing of it.
    Sent { msg: Message },
    /// The broker confirmed the message to the producer: a Kafka produce response without error
    /// (with `acks = 0`, the send itself), a RabbitMQ publisher confirm (`basic.ack`).
    Acknowledged { id: MessageId },
    /// The producer's client gave up on the message: Kafka `delivery.timeout.ms` expired or a
    /// non-retriable error; RabbitMQ `basic.nack`, or a confirm that never came and no retry.
    SendFailed { id: MessageId },
    /// A consumer's client received the message (fetch response / `basic.deliver`). `redelivered`
    /// is the broker's flag (RabbitMQ requeue); Kafka never sets it.
    Delivered { msg: StoredMessage, group: GroupIdx, consumer: ConsumerIdx, redelivered: bool },
    /// The consumer application began processing the message.
    ProcessingStarted { msg: StoredMessage, group: GroupIdx, consumer: ConsumerIdx },
    /// The consumer application finished processing the message.
    Processed { msg: StoredMessage, group: GroupIdx, consumer: ConsumerIdx },
    /// The consumer acknowledged one message (RabbitMQ `basic.ack` sent).
    Acked { id: MessageId, group: GroupIdx, consumer: ConsumerIdx },
    /// The group's positions were moved on purpose: an operator's offset reset
    /// (`kafka-consumer-groups --reset-offsets`), or a new Kafka group's `auto.offset.reset`. What
    /// the group processes again afterwards is **replay**, not duplication. `to_end`: the positions
    /// moved to the log end, so messages sent before this instant that the group had not processed
    /// are skipped on purpose (no longer owed).
    Sought { group: GroupIdx, to_end: bool },
    /// The group coordinator confirmed a Kafka offset commit: the group's position on `partition`
    /// is now `offset`.
    Committed { group: GroupIdx, consumer: ConsumerIdx, partition: u32, offset: u64 },
    /// The consumer application's processing of the message failed (issue 18, item 5): it threw
    /// instead of finishing. What happens next is the group's `on_failure`.
    ProcessingFailed { msg: StoredMessage, group: GroupIdx, consumer: ConsumerIdx },
    /// The message's fate for the group was settled other than by processing it: retried later,
    /// dead-lettered, expired or dropped (docs/delivery-categories.md). Reported by whoever sees
    /// it: the consumer that gives up on a record or produces it to a retry or dead-letter topic,
    /// the queue that dead-letters, expires or drops a message.
    Settled { id: MessageId, group: GroupIdx, outcome: Settlement },
}

/// Where a message owed to a group went, when not processed (see [`ClientEvent::Settled`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// On its way to another attempt: a Kafka retry topic, a RabbitMQ requeue with a delay. Not
    /// final: a later processing or settlement replaces it.
    Retrying,
    /// Moved to a dead-letter topic (Kafka `<topic>-dlt`) or exchange (RabbitMQ DLX).
    DeadLettered,
    /// Too old before anyone processed it: its time to live ran out in a RabbitMQ queue
    /// (`x-message-ttl`), or a Kafka consumer skipped it by its timestamp (`max_age`).
    Expired,
    /// Thrown away on purpose: skipped by the consumer, given up after its attempts, dropped by a
    /// queue's `max-length` or `delivery-limit` without a dead-letter exchange.
    Dropped,
}

impl Settlement {
    pub fn name(self) -> &'static str {
        match self {
            Settlement::Retrying => "retrying",
            Settlement::DeadLettered => "dead_lettered",
            Settlement::Expired => "expired",
            Settlement::Dropped => "dropped",
        }
    }
}

impl ClientEvent {
    /// The stable snake_case name of the event, as `--history` writes it.
    pub fn name(&self) -> &'static str {
        match self {
            ClientEvent::Sent { .. } => "sent",
            ClientEvent::Acknowledged { .. } => "acknowledged",
            ClientEvent::SendFailed { .. } => "send_failed",
            ClientEvent::Delivered { .. } => "delivered",
            ClientEvent::ProcessingStarted { .. } => "processing_started",
            ClientEvent::Processed { .. } => "processed",
            ClientEvent::Acked { .. } => "acked",
            ClientEvent::Committed { .. } => "committed",
            ClientEvent::Sought { .. } => "sought",
            ClientEvent::ProcessingFailed { .. } => "processing_failed",
            ClientEvent::Settled { .. } => "settled",
        }
    }
}

/// Receives the history of one system's run.
pub trait History {
    /// Wants the brokers' inner steps ([`Observation::Step`]); models build them only then.
    const STEPS: bool = false;
    fn record(&mut self, at: SimTime, obs: Observation);
}

/// Ignores every observation.
pub struct NoHistory;

impl History for NoHistory {
    #[inline(always)]
    fn record(&mut self, _: SimTime, _: Observation) {}
}

/// Sends every observation to two observers.
pub struct Tee<'a, A: History, B: History>(pub &'a mut A, pub &'a mut B);

impl<A: History, B: History> History for Tee<'_, A, B> {
    const STEPS: bool = A::STEPS || B::STEPS;
    #[inline(always)]
    fn record(&mut self, at: SimTime, obs: Observation) {
        self.0.record(at, obs);
        self.1.record(at, obs);
    }
}

/// Keeps every observation (tests and small runs only: memory grows with the run).
#[derive(Default, Debug)]
pub struct VecHistory(pub Vec<(SimTime, Observation)>);

impl History for VecHistory {
    fn record(&mut self, at: SimTime, obs: Observation) {
        self.0.push((at, obs));
    }
}

/// Writes every observation as one JSON object per line, for a checker outside this program.
/// Fields: `t` (ns), `event`, then per kind: `id`, `key`, `bytes`, `group` (name), `consumer`,
/// `published_t`, `partition`, `offset`, `delta`, `messages`, `unacked`. An I/O error stops the
/// writing and is kept for [`JsonlHistory::finish`].
pub struct JsonlHistory<W: std::io::Write> {
    out: W,
    groups: Vec<String>,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> JsonlHistory<W> {
    pub fn new(out: W, groups: Vec<String>) -> Self {
        JsonlHistory { out, groups, error: None }
    }

    /// Flushes and returns the writer, or the first I/O error met.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn write(&mut self, at: SimTime, obs: &Observation) -> std::io::Result<()> {
        let t = at.0;
        let g = |i: GroupIdx| serde_json::to_string(&self.groups[i]).unwrap_or_default();
        let line = match *obs {
            Observation::Client(e) => {
                let name = e.name();
                match e {
                    ClientEvent::Sent { msg } => format!(
                        r#"{{"t":{t},"event":"{name}","id":{},"key":{},"bytes":{}}}"#,
                        msg.id,
                        msg.key.map_or("null".to_string(), |k| k.to_string()),
                        msg.bytes
                    ),
                    ClientEvent::Acknowledged { id } | ClientEvent::SendFailed { id } => {
                        format!(r#"{{"t":{t},"event":"{name}","id":{id}}}"#)
                    }
                    ClientEvent::Delivered { msg, group, consumer, redelivered } => format!(
                        r#"{{"t":{t},"event":"{name}","id":{},"group":{},"consumer":{consumer},"redelivered":{redelivered}}}"#,
                        msg.id(),
                        g(group)
                    ),
                    ClientEvent::ProcessingStarted { msg, group, consumer }
                    | ClientEvent::Processed { msg, group, consumer }
                    | ClientEvent::ProcessingFailed { msg, group, consumer } => format!(
                        r#"{{"t":{t},"event":"{name}","id":{},"group":{},"consumer":{consumer},"published_t":{}}}"#,
                        msg.id(),
                        g(group),
                        msg.published_at.0
                    ),
                    ClientEvent::Acked { id, group, consumer } => {
                        format!(r#"{{"t":{t},"event":"{name}","id":{id},"group":{},"consumer":{consumer}}}"#, g(group))
                    }
                    ClientEvent::Sought { group, to_end } => {
                        format!(r#"{{"t":{t},"event":"{name}","group":{},"to_end":{to_end}}}"#, g(group))
                    }
                    ClientEvent::Settled { id, group, outcome } => format!(
                        r#"{{"t":{t},"event":"{name}","id":{id},"group":{},"outcome":"{}"}}"#,
                        g(group),
                        outcome.name()
                    ),
                    ClientEvent::Committed { group, consumer, partition, offset } => format!(
                        r#"{{"t":{t},"event":"{name}","group":{},"consumer":{consumer},"partition":{partition},"offset":{offset}}}"#,
                        g(group)
                    ),
                }
            }
            Observation::Stored { msg } => format!(r#"{{"t":{t},"event":"stored","id":{}}}"#, msg.id()),
            Observation::Deleted { id, group } => {
                format!(r#"{{"t":{t},"event":"deleted","id":{id},"group":{}}}"#, group.map_or("null".to_string(), g))
            }
            Observation::Committed { group, partition, offset } => format!(
                r#"{{"t":{t},"event":"group_offset","group":{},"partition":{partition},"offset":{offset}}}"#,
                g(group)
            ),
            Observation::OffsetReset { group, partition, from, to } => format!(
                r#"{{"t":{t},"event":"offset_reset","group":{},"partition":{partition},"from":{from},"to":{to}}}"#,
                g(group)
            ),
            Observation::Fault { step } => format!(r#"{{"t":{t},"event":"fault","step":{step}}}"#),
            Observation::Rebalance { group, started } => {
                format!(r#"{{"t":{t},"event":"rebalance","group":{},"started":{started}}}"#, g(group))
            }
            Observation::PartitionRevoked { group, partition } => {
                format!(r#"{{"t":{t},"event":"partition_revoked","group":{},"partition":{partition}}}"#, g(group))
            }
            Observation::PartitionAssigned { group, partition } => {
                format!(r#"{{"t":{t},"event":"partition_assigned","group":{},"partition":{partition}}}"#, g(group))
            }
            Observation::LeaderElected { partition } => format!(
                r#"{{"t":{t},"event":"leader_elected","partition":{}}}"#,
                partition.map_or("null".to_string(), |p| p.to_string())
            ),
            Observation::StorageChanged { delta } => format!(r#"{{"t":{t},"event":"storage","delta":{delta}}}"#),
            Observation::Backlog { group, messages, unacked } => format!(
                r#"{{"t":{t},"event":"backlog","group":{},"messages":{messages},"unacked":{unacked}}}"#,
                g(group)
            ),
            // This writer does not ask for steps (`STEPS` is false): none reaches it.
            Observation::Step(_) => return Ok(()),
        };
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }
}

impl<W: std::io::Write> History for JsonlHistory<W> {
    fn record(&mut self, at: SimTime, obs: Observation) {
        if self.error.is_none()
            && let Err(e) = self.write(at, &obs)
        {
            self.error = Some(e);
        }
    }
}
