//! Quorum queues: the queues' state is a replicated state machine (RabbitMQ's `rabbit_fifo`) on
//! a Raft group ([`super::raft`]) whose members live on nodes `0..replicas`.
//!
//! **One mechanism.** Everything that changes a queue is a command in the Raft log: an enqueue
//! (one per publish, routed by the fanout exchange to every queue), a consumer's subscription, a
//! settlement (ack), a consumer's nack or reject, a suspicion (the consumer's node is unreachable)
//! and a return (the consumer's channel is gone). Every member applies the committed commands in log order to its own copy of
//! the state, so which messages are ready, delivered or acknowledged is the same on every member,
//! and a new leader neither redelivers what was acknowledged nor forgets what was delivered. The
//! leader alone acts on what it applies (sends deliveries and confirms); each log index acts once,
//! on the first leader that applies it. A message is delivered only once its enqueue is committed
//! (held by a majority), and a publisher confirm is sent then, as the RabbitMQ documentation says
//! ("Publisher confirms will only be issued once a published message has been successfully
//! replicated to a quorum of nodes", docs/quorum-queues, Use Cases).
//!
//! **Requeue order (RabbitMQ 4.x).** A message returned by a consumer whose channel closed goes
//! into the *returns* queue, which is served before the never-delivered messages, in the order the
//! messages were returned (a consumer's messages in their delivery order): `rabbit_fifo.erl`
//! `return_all/6` and `take_next_msg/1`; docs/quorum-queues, "Redelivery of Returned Messages":
//! "added to the returns queue and are requeued in the exact order they were returned". A classic
//! queue instead puts each back at its original position. RabbitMQ 3.x without a delivery limit
//! put rejected messages at the back, and so did 4.0 to 4.2 with the limit disabled; in 4.3 every
//! return goes to the returns queue.
//!
//! **Delivery limit and dead-lettering (RabbitMQ 4.3).** Each message counts its failed deliveries
//! (`delivery-count`): a `basic.reject`, or a consumer that crashed or lost its connection, counts
//! one; a `basic.nack`, a consumer timeout or a lost node's timeout does not (rabbitmq-server
//! #15387, release notes 4.3.0). A return that takes the count past the queue's `delivery-limit`
//! (20 unless set; none if negative) dead-letters the message through the queue's dead-letter
//! exchange (at-most-once, the default strategy), or drops it without one; so does a nack or reject
//! without requeue. The dead letter is enqueued in its target queues by the same command
//! (docs/queue-policy.md says why that is a simplification).
//!
//! **Consumers on a lost node (RabbitMQ 4.3).** If a consumer's channel lives on a node that is
//! down, the queue suspects the consumer (`noconnection`): it delivers nothing more to it, and
//! returns its unacknowledged messages after `consumer_disconnected_timeout` (60 s), or at once
//! when the node comes back without that channel. A consumer whose own process dies closes its
//! connection: its messages are returned at once.
//!
//! **Clients (a simplification, as the brief allows).** In RabbitMQ a client may connect to any
//! node; a node that does not lead forwards to the leader. Here every client connects to the
//! current leader's node. When that node dies its connections close; clients reconnect after the
//! recovery interval (5 s) to the node that leads then, or retry 5 s later if none does. A publish
//! made while disconnected is lost at once (the producer's confirm timeout re-publishes it). A
//! command that reaches a node which no longer leads is dropped.
//!
//! **Replication cost.** Every append costs one `AppendEntries` to each follower over the world's
//! links and one reply, so with one-way latency `L` a message reaches a consumer `2L` later than
//! with a classic queue (producer -> leader, leader -> followers -> leader, leader -> consumer),
//! and so does its confirm. Disk writes (Ra's WAL and fsync) cost no time here.
//!
//! **All queues of a scenario share one Raft group.** In RabbitMQ each quorum queue is its own Ra
//! cluster; here the queues of all groups are in one log, so they fail over together.

use super::raft::{Entry, Machine};
use crate::history::{GroupIdx, Settlement};
use crate::scenario::defaults as d;
use crate::time::SimTime;
use crate::workload::{MessageId, StoredMessage};
use crate::world::NodeId;
use std::collections::{BTreeMap, VecDeque};

/// A connection's broker end: a channel process on `node` in its `incarnation`. It dies with the
/// node, and stays dead when the node restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    pub node: NodeId,
    pub incarnation: u32,
}

/// A consumer's registration: (consumer index in its group, subscription number). A consumer
/// that reconnects subscribes anew; its old registration may still hold deliveries.
pub type ConsumerKey = (u32, u32);

/// The commands of the quorum queues' Raft log. A closed enum.
#[derive(Clone, Debug)]
pub enum Command {
    /// A new leader's first entry.
    Noop,
    /// A publish, routed to every queue (the fanout exchange).
    Enqueue { msg: StoredMessage, publisher: Conn },
    /// `queue.declare` and `queue.bind` of a group that starts late: enqueues after it reach it.
    Bind { group: GroupIdx },
    /// `basic.consume`.
    Subscribe { group: GroupIdx, key: ConsumerKey, prefetch: u16, home: Conn },
    /// `basic.ack` (a settle in `rabbit_fifo`).
    Settle { group: GroupIdx, key: ConsumerKey, id: MessageId },
    /// The consumer's node is unreachable (`{down, Pid, noconnection}`).
    Suspect { group: GroupIdx, key: ConsumerKey },
    /// The consumer's channel is gone: its unacknowledged messages are returned. `failed`: the
    /// delivery failed (crash, connection loss) and counts towards the delivery limit.
    Return { group: GroupIdx, key: ConsumerKey, failed: bool },
    /// `basic.nack` / `basic.reject` of one delivery (RabbitMQ 4.3's mapping, rabbitmq-server
    /// #15387): with `requeue` it is returned (`return`, or `modify` with `delivery_failed` when
    /// `failed`: a reject), else discarded: dead-lettered, reason `rejected`, or dropped.
    Reject { group: GroupIdx, key: ConsumerKey, id: MessageId, requeue: bool, failed: bool },
}

/// What the leader does when it applies a command for the first time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// The enqueue is committed: every queue holds the message.
    Stored(StoredMessage),
    /// A copy of the message was added to a queue.
    Added {
        group: GroupIdx,
        msg: StoredMessage,
    },
    /// A copy left a queue: acknowledged, auto-acknowledged, or dropped at the delivery limit.
    Removed {
        group: GroupIdx,
        msg: StoredMessage,
    },
    Backlog {
        group: GroupIdx,
        messages: u64,
        unacked: u64,
    },
    Deliver {
        group: GroupIdx,
        key: ConsumerKey,
        home: Conn,
        msg: StoredMessage,
        redelivered: bool,
    },
    Confirm {
        publisher: Conn,
        id: MessageId,
    },
    /// A copy left a queue without being processed: dead-lettered (over the delivery limit, or
    /// rejected, with a dead-letter exchange) or dropped (without one).
    Settled {
        group: GroupIdx,
        id: MessageId,
        outcome: Settlement,
    },
}

#[derive(Clone, Copy, Debug)]
struct QMsg {
    msg: StoredMessage,
    /// Failed deliveries in this queue (`delivery-count`, the `x-delivery-count` header): what
    /// `delivery-limit` bounds.
    failed: u32,
    redelivered: bool,
    /// Its `x-death` header, carried from queue to queue when it is dead-lettered.
    x_death: XDeath,
}

impl QMsg {
    fn new(msg: StoredMessage, x_death: XDeath) -> Self {
        QMsg { msg, failed: 0, redelivered: false, x_death }
    }
}

/// A message's `x-death` header, reduced to what the model uses: the queues it was dead-lettered
/// from (bit `g`) and how many times in all (the sum of the entries' `count`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XDeath {
    pub from: u64,
    pub count: u32,
}

#[derive(Clone, Debug)]
pub struct QConsumer {
    prefetch: u16,
    pub home: Conn,
    /// Set while the consumer's node is unreachable: nothing is delivered to it.
    pub suspected_since: Option<SimTime>,
    /// Deliveries not yet settled, in delivery order, with the time of delivery.
    unacked: VecDeque<(QMsg, SimTime)>,
}

impl QConsumer {
    /// The time of its oldest unsettled delivery.
    pub fn oldest_unacked(&self) -> Option<SimTime> {
        self.unacked.front().map(|&(_, at)| at)
    }
}

/// One quorum queue.
#[derive(Clone, Debug, Default)]
pub struct QQueue {
    messages: VecDeque<QMsg>,
    /// Returned messages, served before `messages`.
    returns: VecDeque<QMsg>,
    pub consumers: BTreeMap<ConsumerKey, QConsumer>,
    /// Round-robin: the next delivery goes to the first consumer at or after this key.
    next: ConsumerKey,
    unacked: u64,
    /// `x-delivery-limit`: failed deliveries a message may have; `None`: no limit.
    delivery_limit: Option<u32>,
    /// Whether the queue has a dead-letter exchange (its routes are in the machine's routing).
    dead_letter_exchange: bool,
}

impl QQueue {
    /// Ready, returned and unacknowledged messages.
    pub fn depth(&self) -> u64 {
        (self.messages.len() + self.returns.len()) as u64 + self.unacked
    }

    /// The `x-death` header of the message `id` this queue holds (ready or delivered), if any.
    pub fn x_death(&self, id: MessageId) -> Option<XDeath> {
        let delivered = self.consumers.values().flat_map(|c| c.unacked.iter().map(|(m, _)| m));
        self.returns.iter().chain(self.messages.iter()).chain(delivered).find(|m| m.msg.id() == id).map(|m| m.x_death)
    }
}

/// The state machine: every group's queue.
#[derive(Clone, Debug)]
pub struct QueueMachine {
    pub queues: Vec<QQueue>,
    manual_ack: bool,
    /// Per group: its queue is bound to the exchange. A queue declared late is bound by a command
    /// in the log, so every member agrees which enqueues reached it: exactly those after it.
    pub(super) bound: Vec<bool>,
    /// Exchanges and bindings (issue 18): the queues each message is routed to; `None`: fanout.
    pub routing: Option<std::sync::Arc<crate::subscriptions::Subscriptions>>,
}

impl QueueMachine {
    /// Every queue bound from the start, with RabbitMQ 4's default delivery limit (20) and no
    /// dead-letter exchange.
    pub fn new(groups: usize, manual_ack: bool) -> Self {
        let queue = QQueue { delivery_limit: Some(d::RABBITMQ_QUORUM_DELIVERY_LIMIT), ..QQueue::default() };
        QueueMachine { queues: vec![queue; groups], manual_ack, bound: vec![true; groups], routing: None }
    }

    /// Declares group `group`'s queue with `delivery_limit` (`None`: no limit) and, if
    /// `dead_letter_exchange`, a dead-letter exchange (routed by [`Self::routing`]).
    pub fn declare(&mut self, group: GroupIdx, delivery_limit: Option<u32>, dead_letter_exchange: bool) {
        let q = &mut self.queues[group];
        (q.delivery_limit, q.dead_letter_exchange) = (delivery_limit, dead_letter_exchange);
    }

    /// A returned message (`rabbit_fifo` `return_one`): one more failed delivery if `failed`;
    /// past the delivery limit it leaves the queue (into `dying`), else it waits in the returns
    /// queue, served first.
    fn return_one(&mut self, group: GroupIdx, mut m: QMsg, failed: bool, dying: &mut Vec<QMsg>) {
        let q = &mut self.queues[group];
        m.redelivered = true;
        m.failed += u32::from(failed);
        if q.delivery_limit.is_some_and(|limit| m.failed > limit) {
            dying.push(m);
        } else {
            q.returns.push_back(m);
        }
    }

    /// Messages that left group `group`'s queue unprocessed (`rabbit_fifo`
    /// `discard_or_dead_letter`, at-most-once, the default strategy): with a dead-letter exchange
    /// each is re-published through it to the queues it routes to, its `x-death` raised, skipping
    /// a queue it was already dead-lettered from (RabbitMQ drops a dead-letter cycle, as the
    /// classic queue's model does); without one it is dropped. The re-publish is applied with
    /// the command that caused it: all queues share one Raft log here, so the window in which an
    /// at-most-once dead letter is lost (the source leader dies before the target has it) is not
    /// simulated.
    fn dead_letter_or_drop(
        &mut self,
        group: GroupIdx,
        dying: Vec<QMsg>,
        at: SimTime,
        fx: &mut Option<&mut Vec<Effect>>,
    ) {
        for m in dying {
            let (msg, id) = (m.msg, m.msg.id());
            let dlx = self.queues[group].dead_letter_exchange;
            if let Some(fx) = fx {
                fx.push(Effect::Removed { group, msg });
                let outcome = if dlx { Settlement::DeadLettered } else { Settlement::Dropped };
                fx.push(Effect::Settled { group, id, outcome });
            }
            if !dlx {
                continue;
            }
            let x_death = XDeath { from: m.x_death.from | 1 << group, count: m.x_death.count + 1 };
            let to = self.routing.as_ref().map_or(0, |r| r.dead_letter(group, id));
            for target in 0..self.queues.len() {
                let routed = crate::subscriptions::has(to, target) && !crate::subscriptions::has(x_death.from, target);
                if !self.bound[target] || !routed {
                    continue;
                }
                self.queues[target].messages.push_back(QMsg::new(msg, x_death));
                if let Some(fx) = fx {
                    fx.push(Effect::Added { group: target, msg });
                }
                self.backlog(target, fx);
                self.dispatch(target, at, fx);
            }
        }
    }

    /// Subscribes a consumer before the run starts (the same on every member).
    pub fn subscribe_initially(&mut self, group: GroupIdx, key: ConsumerKey, prefetch: u16, home: Conn) {
        self.queues[group]
            .consumers
            .insert(key, QConsumer { prefetch, home, suspected_since: None, unacked: VecDeque::new() });
    }

    fn backlog(&self, group: GroupIdx, fx: &mut Option<&mut Vec<Effect>>) {
        if let Some(fx) = fx {
            let q = &self.queues[group];
            fx.push(Effect::Backlog { group, messages: q.depth(), unacked: q.unacked });
        }
    }

    /// Hands ready messages (returned ones first) to consumers with room, round-robin.
    fn dispatch(&mut self, group: GroupIdx, at: SimTime, fx: &mut Option<&mut Vec<Effect>>) {
        let manual = self.manual_ack;
        let q = &mut self.queues[group];
        let mut sent = false;
        while !(q.returns.is_empty() && q.messages.is_empty()) {
            let has_room = |c: &QConsumer| {
                c.suspected_since.is_none() && (!manual || c.prefetch == 0 || c.unacked.len() < c.prefetch as usize)
            };
            let Some(key) = q
                .consumers
                .range(q.next..)
                .chain(q.consumers.range(..q.next))
                .find(|(_, c)| has_room(c))
                .map(|(&k, _)| k)
            else {
                break;
            };
            q.next = (key.0, key.1 + 1);
            let m = q.returns.pop_front().or_else(|| q.messages.pop_front()).expect("checked non-empty");
            let c = q.consumers.get_mut(&key).expect("found");
            if manual {
                c.unacked.push_back((m, at));
                q.unacked += 1;
            }
            if let Some(fx) = fx {
                fx.push(Effect::Deliver { group, key, home: c.home, msg: m.msg, redelivered: m.redelivered });
                if !manual {
                    fx.push(Effect::Removed { group, msg: m.msg });
                }
            }
            sent = true;
        }
        if sent {
            self.backlog(group, fx);
        }
    }
}

impl Machine for QueueMachine {
    type Command = Command;
    type Effect = Effect;

    fn apply(&mut self, e: &Entry<Command>, mut fx: Option<&mut Vec<Effect>>) {
        let at = e.at;
        match e.cmd {
            Command::Noop => {}
            Command::Enqueue { msg, publisher } => {
                if let Some(fx) = &mut fx {
                    fx.push(Effect::Stored(msg));
                }
                let routed = self.routing.as_ref().map_or(u64::MAX, |r| r.rabbitmq(msg.id()));
                for group in 0..self.queues.len() {
                    if !self.bound[group] || !crate::subscriptions::has(routed, group) {
                        continue;
                    }
                    self.queues[group].messages.push_back(QMsg::new(msg, XDeath::default()));
                    if let Some(fx) = &mut fx {
                        fx.push(Effect::Added { group, msg });
                    }
                    self.backlog(group, &mut fx);
                    self.dispatch(group, at, &mut fx);
                }
                if let Some(fx) = &mut fx {
                    fx.push(Effect::Confirm { publisher, id: msg.id() });
                }
            }
            Command::Bind { group } => self.bound[group] = true,
            Command::Subscribe { group, key, prefetch, home } => {
                self.subscribe_initially(group, key, prefetch, home);
                self.dispatch(group, at, &mut fx);
            }
            Command::Settle { group, key, id } => {
                let q = &mut self.queues[group];
                let Some(c) = q.consumers.get_mut(&key) else { return };
                let Some(i) = c.unacked.iter().position(|(m, _)| m.msg.id() == id) else { return };
                let (m, _) = c.unacked.remove(i).expect("position is in range");
                q.unacked -= 1;
                if let Some(fx) = &mut fx {
                    fx.push(Effect::Removed { group, msg: m.msg });
                }
                self.backlog(group, &mut fx);
                self.dispatch(group, at, &mut fx);
            }
            Command::Suspect { group, key } => {
                if let Some(c) = self.queues[group].consumers.get_mut(&key) {
                    c.suspected_since.get_or_insert(at);
                }
            }
            Command::Return { group, key, failed } => {
                let q = &mut self.queues[group];
                let Some(c) = q.consumers.remove(&key) else { return };
                q.unacked -= c.unacked.len() as u64;
                let mut dying = Vec::new();
                for (m, _) in c.unacked {
                    self.return_one(group, m, failed, &mut dying);
                }
                self.dead_letter_or_drop(group, dying, at, &mut fx);
                self.backlog(group, &mut fx);
                self.dispatch(group, at, &mut fx);
            }
            Command::Reject { group, key, id, requeue, failed } => {
                let q = &mut self.queues[group];
                let Some(c) = q.consumers.get_mut(&key) else { return };
                let Some(i) = c.unacked.iter().position(|(m, _)| m.msg.id() == id) else { return };
                let (m, _) = c.unacked.remove(i).expect("position is in range");
                q.unacked -= 1;
                let mut dying = Vec::new();
                if requeue {
                    self.return_one(group, m, failed, &mut dying);
                } else {
                    dying.push(m);
                }
                self.dead_letter_or_drop(group, dying, at, &mut fx);
                self.backlog(group, &mut fx);
                self.dispatch(group, at, &mut fx);
            }
        }
    }
}

// ---- the model's side: faults (the members: `quorum_node.rs`; clients: `consumer.rs`, `publisher.rs`) ----

use super::quorum_node::Quorum;
use super::{Event, Msg, RabbitModel};
use crate::engine::Scheduler;
use crate::history::History;

impl<H: History> RabbitModel<'_, H> {
    fn q(&mut self) -> &mut Quorum {
        self.quorum.as_mut().expect("quorum queues")
    }

    fn qr(&self) -> &Quorum {
        self.quorum.as_ref().expect("quorum queues")
    }

    pub(super) fn quorum_start(&mut self, sched: &mut Scheduler<Event>) {
        if self.quorum.is_some() {
            let (q, _, mut fx) = self.quorum_parts(sched);
            q.start(&mut fx);
        }
    }

    /// The leader a channel on `node` sends its commands to (see [`Quorum::leader_seen_from`]).
    pub(super) fn leader_seen_from(&self, node: NodeId) -> Option<NodeId> {
        self.qr().leader_seen_from(node, |n| self.world.is_up(n))
    }

    /// The node `leader` means at step `step`: the Raft leader at the crash (recorded for its
    /// repair), or for a repair the node its crash hit; `None`: no leader, nothing happens.
    pub(super) fn quorum_leader_hit(&mut self, step: usize, repairs: Option<usize>) -> Option<NodeId> {
        match repairs {
            None => {
                let l = self.qr().leader(|n| self.world.is_up(n))?;
                self.q().leader_hits.insert(step, l);
                Some(l)
            }
            Some(r) => self.q().leader_hits.get(&r).copied(),
        }
    }

    /// A consumer's process died: its operating system closes the connection.
    pub(super) fn quorum_consumer_crashed(&mut self, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.consumers[group][index as usize];
        let (node, reg, home) = (c.node, c.reg, c.home.take());
        c.app.crash();
        if let Some(home) = home {
            let closed = Msg::ConnectionClosed { group, consumer: index, reg };
            self.world.send_from_os(sched, node, home, closed);
        }
    }

    /// Producer hosts died: what they had written to their sockets and the nodes had not read
    /// dies with their connections.
    pub(super) fn quorum_producers_crashed(&mut self, crashed: &[NodeId]) {
        self.unread
            .retain(|env| !matches!(env, crate::world::Envelope::Message { from, .. } if crashed.contains(from)));
        // With no publishing connection left, no queue withholds credit from one.
        if self.publishers.iter().all(|p| !self.world.is_up(p.node)) {
            self.credit_blocked.clear();
        }
    }

    /// Broker node `b` is back: its member restarts from its log and watches its peers again.
    pub(super) fn quorum_broker_restarted(&mut self, now: SimTime, b: NodeId, sched: &mut Scheduler<Event>) {
        if self.qr().is_member(b) {
            {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.restarted(now, b, &ctx, &mut fx);
            }
            self.start_member_detectors(b, sched);
        }
    }

    /// Broker node `b` died: its member stops; the other members' Erlang distribution sees its
    /// connections close (`noconnection`), and so do the clients connected to it.
    pub(super) fn quorum_broker_crashed(&mut self, b: NodeId, sched: &mut Scheduler<Event>) {
        {
            let (q, _, mut fx) = self.quorum_parts(sched);
            q.crashed(b, &mut fx);
        }
        self.broker_ends_died(b);
        self.publishers_lose(b, sched);
        let homed: Vec<(NodeId, u32)> =
            self.consumers.iter().flatten().filter(|c| c.home == Some(b)).map(|c| (c.node, c.conn)).collect();
        for (node, conn) in homed {
            self.world.send_from_os(sched, b, node, Msg::ConnectionLost { conn });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Message;

    fn m(id: u64) -> StoredMessage {
        StoredMessage::new(&Message { id, published_at: SimTime(0), key: None, bytes: 1 })
    }

    const HOME: Conn = Conn { node: 0, incarnation: 0 };

    fn apply(q: &mut QueueMachine, cmd: Command) -> Vec<Effect> {
        let mut fx = vec![];
        q.apply(&Entry { term: 1, at: SimTime(0), cmd }, Some(&mut fx));
        fx
    }

    fn delivered(fx: &[Effect]) -> Vec<(u32, u64, bool)> {
        fx.iter()
            .filter_map(|e| match *e {
                Effect::Deliver { key, msg, redelivered, .. } => Some((key.0, msg.id(), redelivered)),
                _ => None,
            })
            .collect()
    }

    fn ready(q: &QueueMachine) -> Vec<(u64, bool)> {
        let q = &q.queues[0];
        q.returns.iter().chain(q.messages.iter()).map(|r| (r.msg.id(), r.redelivered)).collect()
    }

    /// The same story as the classic queue's test (`queue.rs`), with the 4.x outcome: returned
    /// messages wait in the returns queue in the order they came back, ahead of the rest, instead
    /// of at their original positions.
    #[test]
    fn returned_messages_are_served_first_in_the_order_they_came_back() {
        let mut q = QueueMachine::new(1, true);
        q.subscribe_initially(0, (0, 0), 2, HOME);
        q.subscribe_initially(0, (1, 0), 2, HOME);
        let mut got = vec![];
        for id in 0..6 {
            got.extend(delivered(&apply(&mut q, Command::Enqueue { msg: m(id), publisher: HOME })));
        }
        assert_eq!(got, vec![(0, 0, false), (1, 1, false), (0, 2, false), (1, 3, false)]);
        // The ack frees room in consumer 1's window: it gets 4.
        let fx = apply(&mut q, Command::Settle { group: 0, key: (1, 0), id: 1 });
        assert_eq!(delivered(&fx), vec![(1, 4, false)]);
        // Consumer 1 dies first (holding 3 and 4), then consumer 0 (holding 0 and 2).
        apply(&mut q, Command::Suspect { group: 0, key: (1, 0) });
        apply(&mut q, Command::Return { group: 0, key: (1, 0), failed: true });
        apply(&mut q, Command::Return { group: 0, key: (0, 0), failed: true });
        // A classic queue would hold 0, 2, 3, 4, 5 (original positions); the quorum queue serves
        // 3, 4 (returned first), then 0, 2, then the never-delivered 5.
        assert_eq!(ready(&q), vec![(3, true), (4, true), (0, true), (2, true), (5, false)]);
        assert_eq!(q.queues[0].depth(), 5);
        let fx = apply(&mut q, Command::Subscribe { group: 0, key: (0, 1), prefetch: 10, home: HOME });
        assert_eq!(delivered(&fx), vec![(0, 3, true), (0, 4, true), (0, 0, true), (0, 2, true), (0, 5, false)]);
    }

    #[test]
    fn a_suspected_consumer_gets_nothing_and_keeps_its_deliveries_until_returned() {
        let mut q = QueueMachine::new(1, true);
        q.subscribe_initially(0, (0, 0), 1, HOME);
        q.subscribe_initially(0, (1, 0), 1, HOME);
        apply(&mut q, Command::Enqueue { msg: m(0), publisher: HOME });
        apply(&mut q, Command::Suspect { group: 0, key: (0, 0) });
        let fx = apply(&mut q, Command::Enqueue { msg: m(1), publisher: HOME });
        assert_eq!(delivered(&fx), vec![(1, 1, false)]);
        let fx = apply(&mut q, Command::Enqueue { msg: m(2), publisher: HOME });
        assert!(delivered(&fx).is_empty(), "consumer 1's window is full and 0 is suspected");
        assert_eq!(q.queues[0].depth(), 3);
        let fx = apply(&mut q, Command::Settle { group: 0, key: (0, 0), id: 0 });
        assert!(fx.contains(&Effect::Removed { group: 0, msg: m(0) }), "a late ack still settles");
        assert!(delivered(&fx).is_empty());
    }

    #[test]
    fn a_message_returned_by_failed_consumers_a_21st_time_is_dropped() {
        let mut q = QueueMachine::new(1, true);
        apply(&mut q, Command::Enqueue { msg: m(7), publisher: HOME });
        for reg in 0..=20u32 {
            let fx = apply(&mut q, Command::Subscribe { group: 0, key: (0, reg), prefetch: 1, home: HOME });
            assert_eq!(delivered(&fx), vec![(0, 7, reg > 0)]);
            let fx = apply(&mut q, Command::Return { group: 0, key: (0, reg), failed: true });
            let dropped = fx.contains(&Effect::Removed { group: 0, msg: m(7) });
            assert_eq!(dropped, reg == 20, "returned {} times", reg + 1);
            if dropped {
                assert!(fx.contains(&Effect::Settled { group: 0, id: 7, outcome: Settlement::Dropped }));
            }
        }
        assert_eq!(q.queues[0].depth(), 0);
        // Returns that are not failures (consumer timeout, disconnection timeout) do not count.
        apply(&mut q, Command::Enqueue { msg: m(8), publisher: HOME });
        for reg in 100..130u32 {
            apply(&mut q, Command::Subscribe { group: 0, key: (0, reg), prefetch: 1, home: HOME });
            apply(&mut q, Command::Return { group: 0, key: (0, reg), failed: false });
        }
        assert_eq!(q.queues[0].depth(), 1);
    }

    /// Three queues: "work" (delivery limit 3, dead-letters to "dead"), "dead" (delivery limit 0,
    /// dead-letters to "parking") and "parking"; each exchange routes to one queue.
    fn dead_letter_chain() -> QueueMachine {
        let s = crate::scenario::Scenario::parse(
            r#"
name = "t"
duration = "1m"
systems = ["rabbitmq"]
[workload]
rate = 1.0
[[groups]]
name = "work"
delivery_limit = 3
dead_letter_exchange = "dlx"
[[groups]]
name = "dead"
delivery_limit = 0
dead_letter_exchange = "dlx2"
[[groups]]
name = "parking"
[rabbitmq]
queue_type = "quorum"
[[exchanges]]
name = "events"
type = "fanout"
[[exchanges]]
name = "dlx"
type = "fanout"
[[exchanges]]
name = "dlx2"
type = "fanout"
[[bindings]]
exchange = "events"
queue = "work"
[[bindings]]
exchange = "dlx"
queue = "dead"
[[bindings]]
exchange = "dlx2"
queue = "parking"
"#,
            "t.toml",
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut q = QueueMachine::new(3, true);
        q.routing = crate::subscriptions::Subscriptions::new(&s).map(std::sync::Arc::new);
        for (g, grp) in s.groups.iter().enumerate() {
            q.declare(g, grp.policy.quorum_delivery_limit(), grp.policy.dead_letter_exchange.is_some());
        }
        q
    }

    fn reject(group: GroupIdx, id: u64, requeue: bool, failed: bool) -> Command {
        Command::Reject { group, key: (0, 0), id, requeue, failed }
    }

    fn settled(fx: &[Effect]) -> Vec<(GroupIdx, u64, Settlement)> {
        fx.iter()
            .filter_map(|e| match *e {
                Effect::Settled { group, id, outcome } => Some((group, id, outcome)),
                _ => None,
            })
            .collect()
    }

    /// `delivery_limit = 3`: `basic.reject` with requeue counts a failed delivery each time;
    /// the fourth reject takes the count to 4 > 3, and the message is dead-lettered (reason
    /// `delivery_limit`) after 4 deliveries: first delivery, then 3 redeliveries, served first.
    /// In "dead" (limit 0) one failed delivery is already past the limit: it goes on to
    /// "parking", its `x-death` naming both queues, count 2.
    #[test]
    fn a_rejected_message_is_dead_lettered_after_its_delivery_limit_with_its_x_death() {
        let mut q = dead_letter_chain();
        q.subscribe_initially(0, (0, 0), 1, HOME);
        let fx = apply(&mut q, Command::Enqueue { msg: m(7), publisher: HOME });
        let mut got = delivered(&fx);
        for attempt in 1..=4 {
            let fx = apply(&mut q, reject(0, 7, true, true));
            if attempt < 4 {
                assert!(settled(&fx).is_empty(), "{attempt} failed deliveries <= 3: returned");
                got.extend(delivered(&fx));
            } else {
                assert_eq!(settled(&fx), vec![(0, 7, Settlement::DeadLettered)]);
                assert!(fx.contains(&Effect::Removed { group: 0, msg: m(7) }));
                assert!(fx.contains(&Effect::Added { group: 1, msg: m(7) }));
                assert!(delivered(&fx).is_empty(), "nobody consumes \"dead\" yet");
            }
        }
        assert_eq!(got, vec![(0, 7, false), (0, 7, true), (0, 7, true), (0, 7, true)]);
        assert_eq!((q.queues[0].depth(), q.queues[1].depth()), (0, 1));
        assert_eq!(q.queues[1].x_death(7), Some(XDeath { from: 0b001, count: 1 }));
        // The dead-letter queue delivers it afresh (not redelivered, its own count at 0).
        let fx = apply(&mut q, Command::Subscribe { group: 1, key: (0, 0), prefetch: 1, home: HOME });
        assert_eq!(delivered(&fx), vec![(0, 7, false)]);
        let fx = apply(&mut q, reject(1, 7, true, true));
        assert_eq!(settled(&fx), vec![(1, 7, Settlement::DeadLettered)]);
        assert_eq!(q.queues[2].x_death(7), Some(XDeath { from: 0b011, count: 2 }));
        assert_eq!(q.queues.iter().map(QQueue::depth).collect::<Vec<_>>(), vec![0, 0, 1]);
    }

    /// RabbitMQ 4.3: `basic.nack` with requeue is a plain return, which does not count towards
    /// the delivery limit: a poison message nacked 100 times is still in the queue, delivered
    /// again each time. A limit of -1 does the same for rejects.
    #[test]
    fn nacks_and_a_disabled_limit_loop_for_ever() {
        for (limit, failed) in [(Some(3), false), (None, true)] {
            let mut q = dead_letter_chain();
            q.declare(0, limit, true);
            q.subscribe_initially(0, (0, 0), 1, HOME);
            apply(&mut q, Command::Enqueue { msg: m(7), publisher: HOME });
            for _ in 0..100 {
                let fx = apply(&mut q, reject(0, 7, true, failed));
                assert_eq!(delivered(&fx), vec![(0, 7, true)], "limit {limit:?}, failed {failed}");
                assert!(settled(&fx).is_empty());
            }
            assert_eq!((q.queues[0].depth(), q.queues[1].depth()), (1, 0));
        }
    }

    /// Without requeue (`nack`, `reject`) the message is discarded at once, reason `rejected`:
    /// dead-lettered with a dead-letter exchange, dropped without one.
    #[test]
    fn a_discarded_message_is_dead_lettered_or_dropped_at_once() {
        let mut q = dead_letter_chain();
        q.subscribe_initially(0, (0, 0), 1, HOME);
        apply(&mut q, Command::Enqueue { msg: m(1), publisher: HOME });
        let fx = apply(&mut q, reject(0, 1, false, false));
        assert_eq!(settled(&fx), vec![(0, 1, Settlement::DeadLettered)]);
        assert_eq!(q.queues[1].x_death(1), Some(XDeath { from: 0b001, count: 1 }));
        // "parking" has no dead-letter exchange.
        q.queues[2].messages.push_back(QMsg::new(m(2), XDeath::default()));
        let fx = apply(&mut q, Command::Subscribe { group: 2, key: (1, 0), prefetch: 1, home: HOME });
        assert_eq!(delivered(&fx), vec![(1, 2, false)]);
        let fx = apply(&mut q, Command::Reject { group: 2, key: (1, 0), id: 2, requeue: false, failed: true });
        assert_eq!(settled(&fx), vec![(2, 2, Settlement::Dropped)]);
        assert_eq!(q.queues[2].depth(), 0);
    }
}
