//! What RabbitMQ's frames weigh on the wire and what they cost the node that handles them. Only a
//! world with resources (a calibrated profile) asks; `ideal` and `lan` nodes are costless.
//!
//! RabbitMQ pays per message: the channel parses and routes each publish, and each queue's
//! process enqueues, delivers and settles it. A queue is one Erlang process, so its work is serial:
//! one queue can use at most one core however many the node has. Persistent messages are written
//! to the message store; a classic queue confirms once they are written, not synced (the sync
//! comes when the queue's mailbox empties), while a quorum queue's Raft log (the node's WAL)
//! syncs before a member answers, and the confirm waits for a majority.

use super::{Msg, QUEUE_NODE};
use crate::models::rabbitmq::quorum::Command;
use crate::models::rabbitmq::raft::RaftMsg;
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
        let queues = if quorum { brokers } else { cfg.queues as usize };
        let res = world.resources_mut().expect("costs only in a world with resources");
        let processes = (0..groups * queues).map(|i| res.process(((i % queues) % brokers) as u16)).collect();
        Costs { c, processes, brokers, queues, persistent: cfg.persistent, quorum }
    }

    /// The process that does group `g`'s queue work for message `id` handled at `node`.
    fn queue(&self, group: usize, node: NodeId, id: u64) -> ProcessId {
        let q = if self.quorum { node as usize } else { (id % self.queues as u64) as usize };
        self.processes[group * self.queues + q]
    }

    /// Charges node `to` for handling `msg` that arrived `now`, with `bound` telling which groups'
    /// queues a publish reaches. What the handler sends leaves when its work is done.
    pub fn charge(&self, world: &mut World, to: NodeId, now: SimTime, msg: &Msg, bound: &[bool]) {
        if to as usize >= self.brokers {
            return;
        }
        let c = &self.c;
        match msg {
            Msg::Publish(m) => {
                let bytes = u64::from(m.bytes);
                world.begin(to, now, c.publish + per_byte(bytes, c.byte_ps));
                // The channel routes to each bound queue's process; a classic queue's channel on
                // another node only passes the publish on.
                if self.quorum || to == QUEUE_NODE {
                    for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                        let p = self.queue(g, to, m.id);
                        world.and_process(p, c.enqueue + c.deliver + per_byte(bytes, c.byte_ps));
                        if self.persistent {
                            self.store(world, to, now, bytes);
                        }
                    }
                }
            }
            Msg::Ack { group, id, .. } => {
                world.begin(to, now, SimDuration::ZERO);
                if self.quorum || to == QUEUE_NODE {
                    world.and_process(self.queue(*group, to, *id), c.ack);
                }
            }
            Msg::Forward(cmd) => {
                let bytes = command_bytes(cmd);
                world.begin(to, now, c.other);
                if let Command::Enqueue { msg, .. } = **cmd {
                    for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                        let p = self.queue(g, to, msg.id());
                        world.and_process(p, c.enqueue + c.deliver + per_byte(bytes, c.byte_ps));
                    }
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
                            SimDuration(c.enqueue.0 * n) + per_byte(bytes, c.byte_ps),
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
