//! The classic queues' node (node 0): the exchanges, one classic queue per bound group with its
//! policy (TTL, length limit, dead-lettering, priorities), and the queues' side of every consumer
//! channel (prefetch windows, acks, `consumer_timeout`). Its handlers touch nothing but its own
//! state and fill an `impl` [`QueueFx`]; the model gives them a [`crate::world::out::Direct`] sink
//! right where a message or timer reaches the node. A quorum queue or a stream replaces it.

use super::*;
use crate::world::out::Effects;

/// Where the node's handlers put their effects: its records are observations (a client's
/// settlement among them).
pub(super) trait QueueFx: Effects<Msg, Timer, Observation> {}
impl<X: Effects<Msg, Timer, Observation>> QueueFx for X {}

/// What the node's handlers read from around it: the exchange's bindings, and where the clients
/// are (each consumer's host and current subscription, each publisher's host).
pub(super) struct Around<'a> {
    /// Per group: its queue is declared and bound to the exchange.
    pub(super) bound: &'a [bool],
    /// Exchanges and bindings (`None`: fanout).
    pub(super) routing: Option<&'a crate::subscriptions::Subscriptions>,
    pub(super) consumers: &'a [Vec<ConsumerNode>],
    pub(super) publishers: &'a [Publisher],
    /// A tracer wants the broker's inner steps (`History::STEPS`).
    pub(super) steps: bool,
    /// A publish that finds its queue gone is confirmed (with confirms, when its queue was
    /// transient: non-persistent messages).
    pub(super) confirms_unroutable: bool,
}

/// The node's settings, from `[rabbitmq]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClassicCfg {
    pub(super) manual_ack: bool,
    pub(super) prefetch: u16,
    pub(super) publisher_confirms: bool,
    pub(super) consumer_timeout: SimDuration,
    /// Where consumers connect: deliveries to a consumer elsewhere are relayed by its node.
    pub(super) consumer_node: ClientNode,
}

/// The classic queues' node.
pub(super) struct ClassicNode {
    pub(super) queues: Vec<ClassicQueue>,
    /// Per group: its queue's arguments (TTL, length limit, dead-lettering).
    pub(super) policies: Vec<QueuePolicy>,
    /// Each message's AMQP priority, with `[workload] priorities` (`x-max-priority` queues act on it).
    pub(super) priorities: Option<crate::workload::Priorities>,
    /// Per group: when its queue's TTL timer is set for, if it is.
    pub(super) expiry_armed: Vec<Option<SimTime>>,
    /// The `consumer_timeout` check is set.
    pub(super) timeout_check_armed: bool,
    /// Messages a queue's policy just took out (reused).
    dying: Vec<Ready>,
    /// Per dead-lettered message: the queues (bit `g`) it was dead-lettered from, and its `x-death`
    /// count (how many times it was dead-lettered).
    x_death: BTreeMap<MessageId, (u64, u32)>,
    cfg: ClassicCfg,
}

impl ClassicNode {
    pub(super) fn new(s: &Scenario) -> Self {
        let r = &s.rabbitmq;
        ClassicNode {
            queues: s
                .groups
                .iter()
                .map(|g| {
                    ClassicQueue::new(g.max_consumers)
                        .single_active(g.policy.single_active_consumer)
                        .max_priority(g.policy.max_priority.unwrap_or(0))
                })
                .collect(),
            policies: s.groups.iter().map(|g| g.policy.clone()).collect(),
            priorities: crate::workload::Priorities::new(s),
            expiry_armed: vec![None; s.groups.len()],
            timeout_check_armed: false,
            dying: Vec::new(),
            x_death: BTreeMap::new(),
            cfg: ClassicCfg {
                manual_ack: r.manual_ack,
                prefetch: r.prefetch,
                publisher_confirms: r.publisher_confirms,
                consumer_timeout: r.consumer_timeout,
                consumer_node: r.consumer_node,
            },
        }
    }

    /// The node died: its timers with it.
    pub(super) fn timers_died(&mut self) {
        self.timeout_check_armed = false;
        self.expiry_armed.iter_mut().for_each(|a| *a = None);
    }

    /// A copy in every bound queue the exchanges route it to (fanout without routing); the
    /// confirm goes back through the publisher's channel on node `channel`. A message routed to
    /// no queue is dropped (returned first with `mandatory`) and still confirmed.
    pub(super) fn route(&mut self, now: SimTime, msg: Message, channel: NodeId, ctx: &Around, out: &mut impl QueueFx) {
        let stored = StoredMessage::new(&msg);
        let routed = ctx.routing.map_or(u64::MAX, |r| r.rabbitmq(msg.id));
        if ctx.steps {
            let queues =
                (0..self.queues.len()).filter(|&g| ctx.bound[g] && crate::subscriptions::has(routed, g)).count();
            out.record(Observation::Step(Step::Routed { id: msg.id, queues: queues as u32 }));
        }
        out.record(Observation::Stored { msg: stored });
        let mut rejected = false;
        for group in 0..self.queues.len() {
            if !ctx.bound[group] || !crate::subscriptions::has(routed, group) {
                // Not bound yet, or no binding matches: the exchange routes nothing to it.
                continue;
            }
            rejected |= !self.enqueue(now, group, stored, ctx, out);
        }
        // A queue that refused it (`reject-publish`) makes the channel answer `basic.nack`, though
        // the other queues keep their copies; our producer treats a nack as a confirm that did not
        // come: it publishes again at its next confirm check.
        if self.cfg.publisher_confirms && !rejected {
            let to = ctx.publishers[crate::workload::producer_for(msg.id, ctx.publishers.len())].node;
            send_to_client(out, QUEUE_NODE, channel, to, Msg::Confirm(msg.id));
        }
    }

    /// Puts `msg` in group `group`'s queue under its policy; `false` if the queue refused it
    /// (`reject-publish`, `reject-publish-dlx`: `will_overflow` is checked before delivery). A
    /// message over a `drop-head` limit pushes the oldest ready ones out after the dispatch (what
    /// a consumer with room takes never counts against the limit).
    fn enqueue(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        msg: StoredMessage,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) -> bool {
        let policy = &self.policies[group];
        if policy.limited()
            && policy.overflow != Overflow::DropHead
            && self.queues[group].would_overflow(msg.bytes(), policy)
        {
            let dlx = policy.overflow == Overflow::RejectPublishDlx;
            // This queue holds no copy (a later re-publish that fits is stored again).
            out.record(Observation::Deleted { id: msg.id(), group: Some(group) });
            if dlx {
                self.dead_letter(now, group, msg, ctx, out);
            }
            return false;
        }
        // Only a priority queue looks at the message's priority.
        let priority = match &self.priorities {
            Some(p) if self.queues[group].has_priorities() => p.of(msg.id()),
            _ => 0,
        };
        self.queues[group].enqueue(msg, priority, now);
        out.record(Observation::StorageChanged { delta: msg.bytes() as i64 });
        // One gauge reading per change: dispatching moves messages from ready to unacked, so
        // the depth reported after it is the peak (the same maximum as reading both).
        if !self.dispatch(now, group, ctx, out) {
            self.report_depth(group, out);
        }
        if self.policies[group].limited() {
            let mut dying = std::mem::take(&mut self.dying);
            self.queues[group].drop_over_limit(&self.policies[group], &mut dying);
            self.settle(now, group, &mut dying, Settlement::Dropped, ctx, out);
            self.dying = dying;
        }
        self.expire(now, group, ctx, out);
        true
    }

    /// Messages the policy took out of group `group`'s ready queue (`why`: expired or dropped):
    /// deleted, then dead-lettered (with a dead-letter exchange) or gone.
    fn settle(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        dying: &mut Vec<Ready>,
        why: Settlement,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) {
        if dying.is_empty() {
            return;
        }
        let bytes: u64 = dying.iter().map(|r| r.msg.bytes()).sum();
        out.record(Observation::StorageChanged { delta: -(bytes as i64) });
        for r in dying.drain(..) {
            out.record(Observation::Deleted { id: r.msg.id(), group: Some(group) });
            if self.policies[group].dead_letter_exchange.is_some() {
                self.dead_letter(now, group, r.msg, ctx, out);
            } else {
                out.record(Observation::Client(ClientEvent::Settled { id: r.msg.id(), group, outcome: why }));
            }
        }
        self.report_depth(group, out);
    }

    /// Dead-letters `msg` from group `group`'s queue: re-published through the queue's dead-letter
    /// exchange to the queues it routes it to (`Subscriptions::dead_letter`), with its `x-death`
    /// count raised. A queue it was already dead-lettered from is skipped: RabbitMQ drops a
    /// dead-letter cycle that has no rejection in it (`rabbit_dead_letter` cycle detection), which
    /// also bounds this recursion by the number of groups. Nothing is confirmed to anyone.
    fn dead_letter(&mut self, now: SimTime, group: GroupIdx, msg: StoredMessage, ctx: &Around, out: &mut impl QueueFx) {
        let id = msg.id();
        out.record(Observation::Client(ClientEvent::Settled { id, group, outcome: Settlement::DeadLettered }));
        let (from, count) = self.x_death.get(&id).copied().unwrap_or((0, 0));
        let from = from | 1 << group;
        self.x_death.insert(id, (from, count + 1));
        let to = ctx.routing.map_or(0, |r| r.dead_letter(group, id));
        for target in 0..self.queues.len() {
            if ctx.bound[target] && crate::subscriptions::has(to, target) && !crate::subscriptions::has(from, target) {
                self.enqueue(now, target, msg, ctx, out);
            }
        }
    }

    /// `x-message-ttl`: expires the ready messages at the head of group `group`'s queue whose TTL
    /// ran out, then sets the queue's timer for the next head.
    pub(super) fn expire(&mut self, now: SimTime, group: GroupIdx, ctx: &Around, out: &mut impl QueueFx) {
        let Some(ttl) = self.policies[group].message_ttl else { return };
        let mut dying = std::mem::take(&mut self.dying);
        self.queues[group].expire(now, ttl, &mut dying);
        self.settle(now, group, &mut dying, Settlement::Expired, ctx, out);
        self.dying = dying;
        if let Some(at) = self.queues[group].next_expiry(ttl)
            && self.expiry_armed[group].is_none_or(|armed| at < armed)
        {
            self.expiry_armed[group] = Some(at);
            out.timer_at(QUEUE_NODE, at, Timer::Expiry(group));
        }
    }

    /// The queue's TTL timer: void unless it is the one set last (an earlier head was set since,
    /// or the node crashed).
    pub(super) fn expiry_due(&mut self, now: SimTime, group: GroupIdx, ctx: &Around, out: &mut impl QueueFx) {
        if self.expiry_armed[group] != Some(now) {
            return;
        }
        self.expiry_armed[group] = None;
        self.expire(now, group, ctx, out);
    }

    pub(super) fn report_depth(&self, group: GroupIdx, out: &mut impl QueueFx) {
        let q = &self.queues[group];
        let (messages, unacked) = (q.depth(), q.unacked());
        out.record(Observation::Backlog { group, messages, unacked });
    }

    /// Pushes ready messages to consumers with room in their prefetch window, round-robin. Returns
    /// whether it sent any (and then reported the queue's depth).
    fn dispatch(&mut self, now: SimTime, group: GroupIdx, ctx: &Around, out: &mut impl QueueFx) -> bool {
        // A dead message is never delivered: the head is expired first (a requeue may have put an
        // old message back at the head).
        self.expire(now, group, ctx, out);
        let manual = self.cfg.manual_ack;
        let mut sent = false;
        while let Some((consumer, r)) = self.queues[group].next_delivery(now, manual) {
            sent = true;
            if !manual {
                // Auto-ack: the node forgets the message as it sends it.
                out.record(Observation::StorageChanged { delta: -(r.msg.bytes() as i64) });
                out.record(Observation::Deleted { id: r.msg.id(), group: Some(group) });
            }
            let c = &ctx.consumers[group][consumer as usize];
            let (to, reg) = (c.node, c.reg);
            let deliver = Msg::Deliver { group, consumer, reg, msg: r.msg, redelivered: r.redelivered };
            send_to_client(out, QUEUE_NODE, client_node(self.cfg.consumer_node), to, deliver);
            // In a priority queue the next head may be an older, expired message of a lower
            // priority: the queue drops expired heads after each fetch (`rabbit_amqqueue_process:
            // fetch`), and sets its TTL timer for the new head.
            if self.queues[group].has_priorities() {
                self.expire(now, group, ctx, out);
            }
        }
        if sent {
            self.report_depth(group, out);
            if manual {
                self.arm_timeout_check(out);
            }
        }
        sent
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn ack(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        reg: u32,
        id: MessageId,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) {
        let Some(u) = self.queues[group].ack(consumer, reg, id) else {
            return;
        };
        out.record(Observation::StorageChanged { delta: -(u.msg.bytes() as i64) });
        out.record(Observation::Deleted { id: u.msg.id(), group: Some(group) });
        // The depth after the next delivery is no lower than just after the ack: read it once.
        if !self.dispatch(now, group, ctx, out) {
            self.report_depth(group, out);
        }
    }

    pub(super) fn subscribe(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        reg: u32,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) {
        if self.queues[group].channel_reg(consumer).is_some_and(|r| r != reg) {
            // Its old channel, on a connection the node has not seen close: requeued now.
            self.queues[group].close_channel(consumer);
            self.report_depth(group, out);
        }
        self.queues[group].subscribe(consumer, self.cfg.prefetch, reg);
        self.dispatch(now, group, ctx, out);
    }

    pub(super) fn connection_closed(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) {
        if self.queues[group].close_channel(consumer) > 0 {
            self.report_depth(group, out);
        }
        self.dispatch(now, group, ctx, out);
    }

    fn arm_timeout_check(&mut self, out: &mut impl QueueFx) {
        if !self.timeout_check_armed {
            self.timeout_check_armed = true;
            out.timer_in(QUEUE_NODE, d::RABBITMQ_CONSUMER_TIMEOUT_CHECK, Timer::ConsumerTimeoutCheck);
        }
    }

    /// `consumer_timeout`: a channel whose oldest delivery waited too long for its ack is closed.
    pub(super) fn consumer_timeout_check(&mut self, now: SimTime, ctx: &Around, out: &mut impl QueueFx) {
        self.timeout_check_armed = false;
        let mut any = false;
        for group in 0..self.queues.len() {
            for consumer in 0..self.queues[group].channels.len() {
                let Some(ch) = &self.queues[group].channels[consumer] else { continue };
                let Some(oldest) = ch.unacked.front() else { continue };
                if now.since(oldest.delivered_at) < self.cfg.consumer_timeout {
                    any = true;
                    continue;
                }
                self.queues[group].close_channel(consumer as u32);
                self.report_depth(group, out);
                let to = ctx.consumers[group][consumer].node;
                send_to_client(out, QUEUE_NODE, client_node(self.cfg.consumer_node), to, Msg::ChannelClosed);
                self.dispatch(now, group, ctx, out);
            }
        }
        if any || self.queues.iter().any(|q| q.unacked() > 0) {
            self.arm_timeout_check(out);
        }
    }

    /// The queue gets a consumer's `basic.nack` / `basic.reject`.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nack(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        (consumer, reg): (u32, u32),
        id: MessageId,
        requeue: bool,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) {
        match self.queues[group].nack(consumer, reg, id, requeue) {
            None if requeue => {}
            None => return,
            Some(u) => {
                out.record(Observation::StorageChanged { delta: -(u.msg.bytes() as i64) });
                out.record(Observation::Deleted { id, group: Some(group) });
                if self.policies[group].dead_letter_exchange.is_some() {
                    self.dead_letter(now, group, u.msg, ctx, out);
                } else {
                    out.record(Observation::Client(ClientEvent::Settled { id, group, outcome: Settlement::Dropped }));
                }
            }
        }
        if !self.dispatch(now, group, ctx, out) {
            self.report_depth(group, out);
        }
    }
}

/// A client's command reached its channel on `node`, which is not the classic queue's node: the
/// channel passes it on to the queue's process there (a publish lost on the way is handed back to
/// the harness as dropped). If that process is not alive (`queue_alive`: the channel monitors it),
/// its node is down: a transient (non-durable) queue's record was deleted with it
/// (`rabbit_amqqueue:on_node_down`), so a publish routes to no queue and, being unroutable, is
/// confirmed at once and lost (`rabbit_channel:process_routing_confirm` with no queue); a durable
/// queue stays declared and the channel rejects the publish (`basic.nack`, from
/// `rabbit_classic_queue:handle_event` for a queue process that is down), which our producer
/// treats as no confirm. A `basic.consume` fails; acks and closes have no queue to reach.
pub(super) fn channel_forward(node: NodeId, queue_alive: bool, msg: Msg, ctx: &Around, out: &mut impl QueueFx) {
    if queue_alive {
        out.try_send(node, QUEUE_NODE, msg);
        return;
    }
    match msg {
        Msg::Publish(m) => {
            out.record(Observation::Deleted { id: m.id, group: None });
            if ctx.confirms_unroutable {
                let to = ctx.publishers[crate::workload::producer_for(m.id, ctx.publishers.len())].node;
                out.send(node, to, Msg::Confirm(m.id));
            }
        }
        Msg::Subscribe { group, consumer, .. } => {
            out.send(node, ctx.consumers[group][consumer as usize].node, Msg::Cancel);
        }
        _ => {}
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::world::out::{Effect, Out};

    const MS: u64 = 1_000_000;
    /// Hosts: node 0 is the queues' node, 1 the producer, 2 and 3 group 0's consumers.
    const PRODUCER: NodeId = 1;

    pub(in crate::models::rabbitmq) fn msg(id: MessageId) -> Message {
        Message { id, key: None, bytes: 100, published_at: SimTime::ZERO }
    }

    /// A classic node for `[rabbitmq]` and `[[groups]]` settings written in TOML (with publisher
    /// confirms), its two consumers and its producer (every client connects to node 0, the default).
    fn setup(rabbitmq: &str, group: &str) -> (ClassicNode, Vec<Vec<ConsumerNode>>, Vec<Publisher>) {
        let s = scenario(rabbitmq, group);
        let (consumers, publishers) = clients(&s);
        (ClassicNode::new(&s), consumers, publishers)
    }

    /// A scenario of one group of two consumers, with publisher confirms and the given
    /// `[rabbitmq]` and group settings.
    pub(in crate::models::rabbitmq) fn scenario(rabbitmq: &str, group: &str) -> Scenario {
        let toml = format!(
            "duration = \"1s\"\n[workload]\nrate = 1.0\n[rabbitmq]\npublisher_confirms = true\n{rabbitmq}\n[[groups]]\nname = \"g\"\nconsumers = 2\n{group}\n"
        );
        Scenario::parse(&toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Group 0's two consumers (hosts 2 and 3) and the producer (host 1), all connected to node 0.
    pub(in crate::models::rabbitmq) fn clients(s: &Scenario) -> (Vec<Vec<ConsumerNode>>, Vec<Publisher>) {
        let cfg = consumer::ConsumerCfg {
            manual_ack: s.rabbitmq.manual_ack,
            cancel_notify: true,
            failures: crate::failures::Failures::for_group(s, 0),
            on_failure: s.groups[0].failures.rabbitmq,
        };
        let consumers = vec![(0..2).map(|c| ConsumerNode::new(2 + c as NodeId, 0, c, QUEUE_NODE, cfg)).collect()];
        let pcfg = publisher::PublisherCfg {
            confirms: true,
            max_unconfirmed: None,
            confirm_timeout: SimDuration(5_000 * MS),
            give_up_after: SimDuration(120_000 * MS),
        };
        (consumers, vec![Publisher::new(PRODUCER, QUEUE_NODE, pcfg)])
    }

    pub(in crate::models::rabbitmq) fn around<'a>(
        consumers: &'a [Vec<ConsumerNode>],
        publishers: &'a [Publisher],
    ) -> Around<'a> {
        Around { bound: &[true], routing: None, consumers, publishers, steps: false, confirms_unroutable: false }
    }

    /// The effects as short strings, in order.
    pub(in crate::models::rabbitmq) fn seen(out: &mut Out<Msg, Timer, Observation>) -> Vec<String> {
        let v = out
            .effects()
            .iter()
            .map(|e| match e {
                Effect::Record(Observation::Stored { msg }) => format!("stored {}", msg.id()),
                Effect::Record(Observation::StorageChanged { delta }) => format!("bytes {delta:+}"),
                Effect::Record(Observation::Deleted { id, group: Some(0) }) => format!("deleted {id}"),
                Effect::Record(Observation::Backlog { group: 0, messages, unacked }) => {
                    format!("depth {messages} unacked {unacked}")
                }
                Effect::Record(Observation::Client(ClientEvent::Settled { id, group: 0, outcome })) => {
                    format!("settled {id} {outcome:?}")
                }
                Effect::Send { from: 0, to, msg: Msg::Deliver { group: 0, consumer, msg, redelivered, .. } } => {
                    format!("deliver {} to {consumer} on {to}{}", msg.id(), if *redelivered { " again" } else { "" })
                }
                Effect::Send { from: 0, to: PRODUCER, msg: Msg::Confirm(id) } => format!("confirm {id}"),
                Effect::Send { from: 0, to, msg: Msg::ChannelClosed } => format!("close channel of {to}"),
                Effect::TimerAt { node: 0, at, timer: Timer::Expiry(0) } => format!("expiry at {} ms", at.0 / MS),
                Effect::TimerIn { node: 0, timer: Timer::ConsumerTimeoutCheck, .. } => "timeout check".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        out.clear();
        v
    }

    /// A queue's depth counts its ready and unacked messages, as the management API's `messages`.
    /// Worked by hand: prefetch 1, two consumers. Message 1 goes to consumer 0, 2 to consumer 1,
    /// 3 waits (both windows full). Consumer 0's ack deletes 1 and frees its window: 3 goes to it.
    #[test]
    fn the_prefetch_window_holds_a_message_until_an_ack_frees_it() {
        let (mut q, consumers, publishers) = setup("prefetch = 1\nack = \"manual\"", "");
        let ctx = around(&consumers, &publishers);
        let mut out = Out::default();
        for c in 0..2 {
            q.subscribe(SimTime::ZERO, 0, c, 0, &ctx, &mut out);
        }
        out.clear();
        q.route(SimTime(MS), msg(1), QUEUE_NODE, &ctx, &mut out);
        assert_eq!(
            seen(&mut out),
            ["stored 1", "bytes +100", "deliver 1 to 0 on 2", "depth 1 unacked 1", "timeout check", "confirm 1"]
        );
        q.route(SimTime(2 * MS), msg(2), QUEUE_NODE, &ctx, &mut out);
        q.route(SimTime(3 * MS), msg(3), QUEUE_NODE, &ctx, &mut out);
        assert_eq!(
            seen(&mut out),
            [
                "stored 2",
                "bytes +100",
                "deliver 2 to 1 on 3",
                "depth 2 unacked 2",
                "confirm 2",
                // Both windows are full: 3 waits.
                "stored 3",
                "bytes +100",
                "depth 3 unacked 2",
                "confirm 3"
            ]
        );
        q.ack(SimTime(4 * MS), 0, 0, 0, 1, &ctx, &mut out);
        assert_eq!(seen(&mut out), ["bytes -100", "deleted 1", "deliver 3 to 0 on 2", "depth 2 unacked 2"]);
        // An ack from an old subscription (another `reg`) settles nothing.
        q.ack(SimTime(5 * MS), 0, 1, 7, 2, &ctx, &mut out);
        assert!(out.is_empty());
    }

    /// A consumer's connection closes with a delivery unacked: it goes back to the queue, flagged
    /// redelivered, and to the other consumer, whose window has room.
    #[test]
    fn a_closed_channel_requeues_its_unacked_delivery_to_another_consumer() {
        let (mut q, consumers, publishers) = setup("prefetch = 1\nack = \"manual\"", "");
        let ctx = around(&consumers, &publishers);
        let mut out = Out::default();
        q.subscribe(SimTime::ZERO, 0, 0, 0, &ctx, &mut out);
        q.route(SimTime(MS), msg(1), QUEUE_NODE, &ctx, &mut out);
        out.clear();
        q.subscribe(SimTime(2 * MS), 0, 1, 0, &ctx, &mut out);
        assert!(seen(&mut out).is_empty(), "nothing ready for the newcomer");
        q.connection_closed(SimTime(3 * MS), 0, 0, &ctx, &mut out);
        assert_eq!(seen(&mut out), ["depth 1 unacked 0", "deliver 1 to 1 on 3 again", "depth 1 unacked 1"]);
    }

    /// `x-message-ttl` of 10 ms: the timer is set for the head's expiry (published at 1 ms, so
    /// 11 ms); at 11 ms the head, never consumed, expires and is dropped (no dead-letter
    /// exchange), and the timer moves to the next head (published at 4 ms: 14 ms).
    #[test]
    fn a_message_ttl_expires_the_head_on_its_timer_and_sets_the_next() {
        let (mut q, consumers, publishers) = setup("ack = \"manual\"", "message_ttl = \"10ms\"");
        let ctx = around(&consumers, &publishers);
        let mut out = Out::default();
        let mut m1 = msg(1);
        m1.published_at = SimTime(MS);
        q.route(SimTime(MS), m1, QUEUE_NODE, &ctx, &mut out);
        assert_eq!(seen(&mut out), ["stored 1", "bytes +100", "expiry at 11 ms", "depth 1 unacked 0", "confirm 1"]);
        let mut m2 = msg(2);
        m2.published_at = SimTime(4 * MS);
        q.route(SimTime(4 * MS), m2, QUEUE_NODE, &ctx, &mut out);
        assert_eq!(seen(&mut out), ["stored 2", "bytes +100", "depth 2 unacked 0", "confirm 2"]);
        // A timer that is not the one set last does nothing.
        q.expiry_due(SimTime(9 * MS), 0, &ctx, &mut out);
        assert!(out.is_empty());
        q.expiry_due(SimTime(11 * MS), 0, &ctx, &mut out);
        assert_eq!(
            seen(&mut out),
            ["bytes -100", "deleted 1", "settled 1 Expired", "depth 1 unacked 0", "expiry at 14 ms"]
        );
    }

    /// `consumer_timeout` of 1 min: a delivery unacked for longer closes its channel at the next
    /// check (once a minute); the message is requeued, and with nothing unacked left the checks
    /// stop.
    #[test]
    fn a_delivery_unacked_past_consumer_timeout_closes_its_channel() {
        let (mut q, consumers, publishers) = setup("prefetch = 1\nack = \"manual\"\nconsumer_timeout = \"1m\"", "");
        let ctx = around(&consumers, &publishers);
        let mut out = Out::default();
        q.subscribe(SimTime::ZERO, 0, 0, 0, &ctx, &mut out);
        q.route(SimTime(MS), msg(1), QUEUE_NODE, &ctx, &mut out);
        out.clear();
        // At 30 s it has waited half the timeout: the check is set again.
        q.consumer_timeout_check(SimTime(30_000 * MS), &ctx, &mut out);
        assert_eq!(seen(&mut out), ["timeout check"]);
        q.consumer_timeout_check(SimTime(61_000 * MS), &ctx, &mut out);
        // Nothing is unacked any more (no other consumer took it): no further check.
        assert_eq!(seen(&mut out), ["depth 1 unacked 0", "close channel of 2"]);
    }

    /// A channel on node 1 whose queue's process is gone: with a transient queue and confirms, a
    /// publish is unroutable, dropped and confirmed; a `basic.consume` is cancelled. While the
    /// process lives, each command is passed on to node 0.
    #[test]
    fn a_channel_elsewhere_forwards_or_answers_for_a_dead_queue() {
        let (_, consumers, publishers) = setup("", "");
        let mut ctx = around(&consumers, &publishers);
        ctx.confirms_unroutable = true;
        let mut out = Out::default();
        channel_forward(1, true, Msg::Publish(msg(1)), &ctx, &mut out);
        assert!(matches!(out.effects(), [Effect::TrySend { from: 1, to: 0, msg: Msg::Publish(_) }]));
        out.clear();
        channel_forward(1, false, Msg::Publish(msg(2)), &ctx, &mut out);
        channel_forward(1, false, Msg::Subscribe { group: 0, consumer: 1, reg: 0 }, &ctx, &mut out);
        let v: Vec<String> = out.effects().iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(
            v,
            [
                "Record(Deleted { id: 2, group: None })",
                "Send { from: 1, to: 1, msg: Confirm(2) }",
                "Send { from: 1, to: 3, msg: Cancel }"
            ]
        );
    }
}
