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
    /// `quorum_commands_soft_limit` (32) commands pending.
    pub fn credit(&self, world: &World, p: ProcessId, now: SimTime) -> (Option<bool>, SimTime) {
        let res = world.resources().expect("costs only in a world with resources");
        let work = self.enqueue_and_deliver();
        let (initial, top_up) = if self.quorum {
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
        if self.quorum { self.c.quorum_enqueue + self.c.quorum_deliver } else { self.c.enqueue + self.c.deliver }
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
