//! What RabbitMQ's frames weigh on the wire and what they cost the node that handles them. Only a
//! world with resources (a calibrated profile) asks; `ideal` and `lan` nodes are costless.
//!
//! RabbitMQ pays per message: the channel parses and routes each publish, and each queue's
//! process enqueues, delivers and settles it. A queue is one Erlang process, so its work is serial:
//! one queue can use at most one core however many the node has. Persistent messages are written
//! to the message store; a classic queue confirms once they are written, not synced (the sync
//! comes when the queue's mailbox empties).
//!
//! Classic queues only: the scenario refuses quorum queues and streams under a calibrated profile
//! until their own costs (Raft traffic and WAL syncs, stream reads) are modelled.

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

/// The costs and the classic queues' processes of a costed run.
#[derive(Debug)]
pub(super) struct Costs {
    c: RabbitCosts,
    /// Queue `q` of group `g` is `processes[g * queues + q]`, on node `q mod brokers`.
    processes: Vec<ProcessId>,
    brokers: usize,
    queues: usize,
    persistent: bool,
}

impl Costs {
    pub fn new(
        world: &mut World,
        c: RabbitCosts,
        groups: usize,
        brokers: usize,
        cfg: &crate::scenario::RabbitMqConfig,
    ) -> Self {
        let queues = cfg.queues as usize;
        let res = world.resources_mut().expect("costs only in a world with resources");
        let processes = (0..groups * queues).map(|i| res.process(((i % queues) % brokers) as u16)).collect();
        Costs { c, processes, brokers, queues, persistent: cfg.persistent }
    }

    /// The process of group `group`'s queue that holds message `id`.
    fn queue(&self, group: usize, id: u64) -> ProcessId {
        self.processes[group * self.queues + (id % self.queues as u64) as usize]
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
                // The channel routes to each bound queue's process; a channel on another node than
                // the queues' only passes the publish on.
                if to == QUEUE_NODE {
                    for (g, _) in bound.iter().enumerate().filter(|(_, b)| **b) {
                        world.and_process(self.queue(g, m.id), c.enqueue + c.deliver + per_byte(bytes, c.byte_ps));
                        if self.persistent {
                            // The message store writes without making the confirm wait.
                            let res = world.resources_mut().expect("costs only in a world with resources");
                            res.write_back(to, now, bytes);
                        }
                    }
                }
            }
            Msg::Ack { group, id, .. } => {
                world.begin(to, now, SimDuration::ZERO);
                if to == QUEUE_NODE {
                    world.and_process(self.queue(*group, *id), c.ack);
                }
            }
            Msg::Relay { msg, .. } => {
                let bytes = msg.wire_bytes();
                world.begin(to, now, c.other + per_byte(bytes, c.byte_ps));
            }
            _ => world.begin(to, now, c.other),
        }
    }
}
