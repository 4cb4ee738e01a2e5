//! What RabbitMQ's frames weigh on the wire and what they cost the node that handles them. Only a
//! world with resources (a calibrated profile) asks; `ideal` and `lan` nodes are costless.
//!
//! RabbitMQ pays per message: the channel parses and routes each publish, and each queue's
//! process enqueues, delivers and settles it. A queue is one Erlang process, so its work is serial:
//! one queue can use at most one core however many the node has. Persistent messages are written
//! to the message store; a classic queue confirms once they are written, not synced (the sync
//! comes when the queue's mailbox empties), while a quorum queue's Raft log (the node's WAL)
//! syncs before a member answers, and the confirm waits for a majority.
//!
//! A stream (RabbitMQ 4.x, osiris) pays in three processes: the publisher's channel converts each
//! message to AMQP 1.0 (`rabbit_stream_queue:stream_message`) and casts it to the writer; the
//! writer (`osiris_writer`, a `gen_batch_server`) appends what its mailbox holds as one chunk with
//! `file:write` and no fsync (`osiris_log:write_chunk`), and confirms once the chunk is written on
//! a majority of its members (`agreed_commit`; here one member, node 0); each consumer's channel
//! reads the chunks from the segment file, from the page cache in a tailing read
//! (`rabbit_stream_queue:stream_entries`), and converts each entry back to AMQP 0.9.1. The model
//! keeps the stream on node 0, unreplicated, so no replica work is charged.

use super::{Msg, QUEUE_NODE};
use crate::models::rabbitmq::quorum::Command;
use crate::models::rabbitmq::raft::RaftMsg;
use crate::scenario::defaults as d;
use crate::scenario::hardware::RabbitCosts;
use crate::time::{SimDuration, SimTime};
use crate::world::resources::ProcessId;
use crate::world::resources::per_byte;
use crate::world::{NodeId, Wire, World};

/// An AMQP frame's header and method: a few dozen bytes.
const FRAME_BYTES: u64 = 64;

fn command_bytes(c: &Command) -> u64 {
    match c {
        Command::Enqueue { msg, .. } => msg.bytes(),
        _ => 0,
    }
}

impl Wire for Msg {
    fn wire_bytes(&self) -> u64 {
        FRAME_BYTES
            + match self {
                Msg::Publish(m) => u64::from(m.bytes),
                Msg::Deliver { msg, .. } => msg.bytes(),
                Msg::Forward(c) => command_bytes(c),
                Msg::Relay { msg, .. } => msg.wire_bytes(),
                Msg::Raft(r) => match &**r {
                    RaftMsg::AppendEntries { entries, .. } => entries.iter().map(|e| command_bytes(&e.cmd)).sum(),
                    _ => 0,
                },
                _ => 0,
            }
    }
}

/// The costs and the queues' processes of a costed run.
#[derive(Debug)]
pub(super) struct Costs {
    c: RabbitCosts,
    /// Quorum: the member process of group `g` on node `n`, `processes[g * brokers + n]`.
    /// Classic: queue `q` of group `g`, `processes[g * queues + q]`, on node `q mod brokers`.
    processes: Vec<ProcessId>,
    brokers: usize,
    queues: usize,
    persistent: bool,
    quorum: bool,
    /// A stream: `processes[0]` is its writer on node 0, `processes[1 + g]` group `g`'s reader (its
    /// active consumer's channel), on node 0 too.
    stream: bool,
}

impl Costs {
    pub fn new(
        world: &mut World,
        c: RabbitCosts,
        groups: usize,
        brokers: usize,
        cfg: &crate::scenario::RabbitMqConfig,
    ) -> Self {
        let quorum = cfg.queue_type == crate::scenario::QueueType::Quorum;
        let stream = cfg.queue_type == crate::scenario::QueueType::Stream;
        let queues = if quorum { brokers } else { cfg.queues as usize };
        let res = world.resources_mut().expect("costs only in a world with resources");
        let processes = if stream {
            let node = QUEUE_NODE;
            std::iter::once(res.process_of_kind(node, "stream writer"))
                .chain((0..groups).map(|_| res.process_of_kind(node, "stream reader")))
                .collect()
        } else {
            (0..groups * queues).map(|i| res.process(((i % queues) % brokers) as u16)).collect()
        };
        Costs { c, processes, brokers, queues, persistent: cfg.persistent, quorum, stream }
    }

    /// The process that does group `g`'s queue work for message `id` handled at `node`.
    fn queue(&self, group: usize, node: NodeId, id: u64) -> ProcessId {
        let q = if self.quorum { node as usize } else { (id % self.queues as u64) as usize };
        self.processes[group * self.queues + q]
    }

    /// Charges node `to` for handling `msg` that arrived `now`, with `bound` telling which groups'
    /// queues a publish reaches and `leads` whether `to`'s quorum member leads (it alone does a
    /// client command's queue work; elsewhere the channel forwards the command to the leader).
    /// What the handler sends leaves when its work is done. Returns the queue process a publish
    /// was handed to, for credit flow ([`Costs::credit`]).
    pub fn charge(
        &self,
        world: &mut World,
        to: NodeId,
        now: SimTime,
        msg: &Msg,
        bound: &[bool],
        leads: bool,
    ) -> Option<ProcessId> {
        if to as usize >= self.brokers {
            return None;
        }
        let mut handed = None;
        let c = &self.c;
        match msg {
            Msg::Publish(m) if self.stream => {
                let bytes = u64::from(m.bytes);
                world.begin(to, now, c.publish + c.stream.convert + per_byte(bytes, c.byte_ps));
                if to == QUEUE_NODE {
                    let writer = self.processes[0];
                    handed = Some(writer);
                    world.and_process(writer, c.stream.write + per_byte(bytes, c.byte_ps));
                    // A stream is always on disk, whatever the delivery mode; osiris never syncs.
                    let res = world.resources_mut().expect("costs only in a world with resources");
                    res.write_back(to, now, bytes);
                    // Every bound group's reader reads it as it is written (a tailing reader; a
                    // reader behind reads it later, charged here all the same). The confirm then
                    // waits for the readers too, where RabbitMQ's follows the write alone
                    // (docs/calibration.md, "rabbitmq-2024").
                    for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                        world.and_process(self.processes[1 + g], c.stream.read + per_byte(bytes, c.byte_ps));
                    }
                }
            }
            Msg::Ack { group, .. } if self.stream => {
                // `settle/5` in the consumer's channel: one credit back.
                world.begin(to, now, SimDuration::ZERO);
                world.and_process(self.processes[1 + *group], c.ack);
            }
            Msg::Publish(m) => {
                let bytes = u64::from(m.bytes);
                world.begin(to, now, c.publish + per_byte(bytes, c.byte_ps));
                // The channel routes to each bound queue's process.
                if self.queue_work_at(to, leads) {
                    for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                        let p = self.queue(g, to, m.id);
                        handed.get_or_insert(p);
                        world.and_process(p, self.enqueue_and_deliver() + per_byte(bytes, c.byte_ps));
                        // A quorum queue is always durable: its Raft log is written whatever the
                        // message's delivery mode.
                        if self.persistent || self.quorum {
                            self.store(world, to, now, bytes);
                        }
                    }
                }
            }
            Msg::Ack { group, id, .. } | Msg::Nack { group, id, .. } => {
                world.begin(to, now, SimDuration::ZERO);
                if self.queue_work_at(to, leads) {
                    world.and_process(self.queue(*group, to, *id), c.ack);
                }
            }
            Msg::Forward(cmd) => {
                let bytes = command_bytes(cmd);
                world.begin(to, now, c.other);
                match **cmd {
                    Command::Enqueue { msg, .. } => {
                        for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                            let p = self.queue(g, to, msg.id());
                            handed.get_or_insert(p);
                            world.and_process(p, self.enqueue_and_deliver() + per_byte(bytes, c.byte_ps));
                        }
                        self.store(world, to, now, bytes);
                    }
                    Command::Settle { group, id, .. } => world.and_process(self.queue(group, to, id), c.ack),
                    _ => {}
                }
            }
            Msg::Raft(r) => {
                world.begin(to, now, c.other);
                if let RaftMsg::AppendEntries { entries, .. } = &**r {
                    let bytes: u64 = entries.iter().map(|e| command_bytes(&e.cmd)).sum();
                    let n = entries.iter().filter(|e| matches!(e.cmd, Command::Enqueue { .. })).count() as u64;
                    for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                        world.and_process(
                            self.queue(g, to, 0),
                            SimDuration(c.quorum_enqueue.0 * n) + per_byte(bytes, c.byte_ps),
                        );
                    }
                    if bytes > 0 {
                        // The follower answers once its WAL has synced the entries.
                        self.store(world, to, now, bytes);
                    }
                }
            }
            Msg::Relay { msg, .. } => {
                let bytes = msg.wire_bytes();
                world.begin(to, now, c.other + per_byte(bytes, c.byte_ps));
            }
            _ => world.begin(to, now, c.other),
        }
        handed
    }

    /// Credit flow: how far behind queue process `p` is at `now`, against the credit its
    /// publishers get. `Some(true)`: more than the initial credit of messages waits for it (the
    /// channel stops reading the publisher's connection); `Some(false)`: it is back within the
    /// credit top-up; `None`: in between (no change). A classic queue grants RabbitMQ's
    /// `credit_flow_default_credit` {400, 200}; a quorum queue's channel stops at
    /// `quorum_commands_soft_limit` (32) commands pending, a stream's at
    /// `stream_messages_soft_limit` (256) messages the writer has not confirmed.
    pub fn credit(&self, world: &World, p: ProcessId, now: SimTime) -> (Option<bool>, SimTime) {
        let res = world.resources().expect("costs only in a world with resources");
        let work = self.enqueue_and_deliver();
        let (initial, top_up) = if self.stream {
            let limit = d::RABBITMQ_STREAM_MESSAGES_SOFT_LIMIT;
            (limit, limit)
        } else if self.quorum {
            let limit = u64::from(d::RABBITMQ_QUORUM_COMMANDS_SOFT_LIMIT);
            (limit, limit / 2)
        } else {
            d::RABBITMQ_CREDIT_FLOW_DEFAULT_CREDIT
        };
        let free = res.process_free_at(p);
        let behind = free.since(now.min(free));
        // When the backlog will be down to the top-up.
        let resume = SimTime(free.0.saturating_sub(work.0 * top_up)).max(now);
        let state = if behind.0 > work.0 * initial {
            Some(true)
        } else if behind.0 <= work.0 * top_up {
            Some(false)
        } else {
            None
        };
        (state, resume)
    }

    /// Whether node `to` does a client command's queue work: a classic queue's home node, or the
    /// node whose quorum member leads (`leads`); elsewhere the channel only passes it on.
    fn queue_work_at(&self, to: NodeId, leads: bool) -> bool {
        if self.quorum { leads } else { to == QUEUE_NODE }
    }

    /// A queue's work for one message it enqueues and delivers (a quorum queue's at its leader).
    fn enqueue_and_deliver(&self) -> SimDuration {
        if self.stream {
            self.c.stream.write
        } else if self.quorum {
            self.c.quorum_enqueue + self.c.quorum_deliver
        } else {
            self.c.enqueue + self.c.deliver
        }
    }

    /// Writes a message's bytes to the node's store: a quorum queue's WAL syncs (in group commits)
    /// before the member goes on; a classic queue's message store writes without waiting.
    fn store(&self, world: &mut World, node: NodeId, now: SimTime, bytes: u64) {
        let res = world.resources_mut().expect("costs only in a world with resources");
        if self.quorum {
            let durable = res.write_synced(node, now, bytes);
            world.wait_until(durable);
        } else {
            res.write_back(node, now, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Message;
    use crate::world::resources::Resources;

    /// One rabbitmq-2024 node (3 cores; publish 4 + conversion 4 us on a core, write 2 us on the
    /// writer, read 10.2 us on each group's reader, settle 1 us; 2 ps a byte), a stream read by two
    /// groups, costs without variation.
    fn stream_node() -> (World, Costs) {
        let text = r#"
name = "t"
duration = "1s"
profile = "rabbitmq-2024"
systems = ["rabbitmq"]
[cluster]
brokers = 1
[workload]
rate = 10
message_bytes = 12
[[groups]]
name = "a"
[[groups]]
name = "b"
[rabbitmq]
queue_type = "stream"
prefetch = 10
"#;
        let s = crate::scenario::Scenario::parse(text, "t.toml", false).expect("a valid scenario");
        let body = s.body.expect("a calibrated profile");
        let mut world = World::new(4, SimDuration::ZERO).with_resources(Resources::new(4, |_| body.hardware));
        let costs = Costs::new(&mut world, body.rabbitmq, 2, 1, &s.rabbitmq);
        (world, costs)
    }

    fn publish(id: u64) -> Msg {
        Msg::Publish(Message { id, published_at: SimTime::ZERO, key: None, bytes: 12 })
    }

    #[test]
    fn a_stream_publish_waits_for_its_channel_then_the_writer_and_every_groups_reader() {
        let (mut world, costs) = stream_node();
        let producer = 1;
        // 12 bytes at 2 ps: 24 ns on each stage. The channel: 4 + 4 us + 24 ns = 8,024 ns; the
        // writer from there, 2,024 ns (10,048); each reader 10,224 ns (18,248): the publish is
        // served, and its confirm and deliveries leave, when the slower reader is done.
        let handed = costs.charge(&mut world, 0, SimTime::ZERO, &publish(0), &[true, true], false);
        assert_eq!(handed, Some(costs.processes[0]), "credit flow watches the writer");
        assert_eq!(world.served_at(SimTime::ZERO, producer, 0), Some(SimTime(18_248)));
        // The writer appended 12 bytes with no fsync: 12 ns of a 1 GB/s disk.
        assert_eq!(world.resources().unwrap().busy(0).disk_ns, 12);
        // A second publish at once: a free core (8,024), the writer is free by then (10,048), each
        // reader is not (18,248 + 10,224).
        costs.charge(&mut world, 0, SimTime::ZERO, &publish(1), &[true, true], false);
        assert_eq!(world.served_at(SimTime::ZERO, producer, 0), Some(SimTime(28_472)));
        // A group not bound yet reads nothing: only the other reader and the writer work.
        costs.charge(&mut world, 0, SimTime::ZERO, &publish(2), &[true, false], false);
        assert_eq!(world.served_at(SimTime::ZERO, producer, 0), Some(SimTime(38_696)));
        let res = world.resources().unwrap();
        assert_eq!(res.process_free_at(costs.processes[1]), SimTime(38_696));
        assert_eq!(res.process_free_at(costs.processes[2]), SimTime(28_472));
    }

    #[test]
    fn a_stream_ack_is_settled_by_its_groups_reader() {
        let (mut world, costs) = stream_node();
        let consumer = 2;
        let ack = Msg::Ack { group: 1, consumer: 0, reg: 0, id: 0 };
        assert_eq!(costs.charge(&mut world, 0, SimTime::ZERO, &ack, &[true, true], false), None);
        // `settle/5` in the consumer's channel: 1 us on group 1's reader, nothing on group 0's.
        assert_eq!(world.served_at(SimTime::ZERO, consumer, 0), Some(SimTime(1_000)));
        let res = world.resources().unwrap();
        assert_eq!(res.process_free_at(costs.processes[2]), SimTime(1_000));
        assert_eq!(res.process_free_at(costs.processes[1]), SimTime::ZERO);
    }
}
