//! The quorum queues' broker nodes: the Raft group's members (member `i` on node `i`, see
//! [`super::raft`]), each applying the log to its copy of the queues ([`QueueMachine`]), and the
//! channels on those nodes that turn a client's frames into commands. Its handlers touch nothing
//! but the group's state and write to an `impl` [`MemberFx`]; the model gives them a
//! [`crate::world::out::Direct`] sink right where a message or timer reaches a node
//! ([`RabbitModel::quorum_parts`]).
//!
//! The members are one node kind, not one struct each: what the model shares between them (the
//! seeded stream of election delays, which log indexes have had their effects, the publishing
//! channels' pending enqueues) is kept here once, and each handler takes the node it runs on.
//!
//! Like a client's handlers, these see the world at once ([`Sees`]): whether a client's channel
//! still exists (its node up, in the same incarnation), and whether two nodes can reach each other
//! (a monitor fires at once for a node in reach; across a cut nothing is known).

use super::quorum::{Command, Conn, ConsumerKey, Effect, QueueMachine};
use super::raft::{Index, Member, Out as RaftOut, RaftMsg, Timeout};
use super::*;
use crate::engine::rng::{self, SimRng, Stream};
use crate::world::out::Sees;
use liveness::BrokerEnds;

/// Where the members' handlers put their effects, and what they see of the world at once: a
/// node's state ([`Sees`]) and whether two nodes reach each other. Their records are observations
/// (a client's settlement among them).
pub(super) trait MemberFx: Sees<Msg, Timer, Observation> {
    /// [`World::connected`]: both up, and no cut between them.
    fn connected(&self, a: NodeId, b: NodeId) -> bool;
}

impl<E: From<Envelope<Msg, Timer>>, F: FnMut(Handed<Msg, Observation>)> MemberFx for Direct<'_, E, F> {
    #[inline(always)]
    fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.world.connected(a, b)
    }
}

/// A client's channel process still exists: its node is up in the incarnation that opened it.
fn alive(fx: &impl MemberFx, c: Conn) -> bool {
    fx.is_up(c.node) && fx.incarnation(c.node) == c.incarnation
}

/// What the members read around them: where the clients are, and which broker ends of the
/// consumers' connections are open (the channels' monitors).
pub(super) struct Clients<'a> {
    pub(super) consumers: &'a [Vec<ConsumerNode>],
    pub(super) publishers: &'a [Publisher],
    pub(super) ends: BrokerEnds<'a>,
    /// A tracer wants the broker's inner steps (`History::STEPS`).
    pub(super) steps: bool,
}

impl Clients<'_> {
    /// The publisher of message `id`.
    fn publisher_for(&self, id: MessageId) -> usize {
        crate::workload::producer_for(id, self.publishers.len())
    }

    /// The host of consumer `key.0` of `group`.
    fn consumer_host(&self, group: GroupIdx, key: ConsumerKey) -> NodeId {
        self.consumers[group][key.0 as usize].node
    }
}

/// The settings the members' handlers need, from `[rabbitmq]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct QuorumCfg {
    pub(super) manual_ack: bool,
    pub(super) prefetch: u16,
    pub(super) publisher_confirms: bool,
    pub(super) consumer_timeout: SimDuration,
}

/// Why the leader's tick proposed something about a consumer (so that it proposes it once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Proposed {
    Suspect,
    Return,
}

/// The Raft group of the quorum queues: member `i` lives on node `i`.
pub(super) struct Quorum {
    members: Vec<Member<QueueMachine>>,
    /// Log indexes up to this one have had their effects (on the first leader that applied them).
    effects_done: Index,
    /// Election timeouts are random, as in Ra; a seeded stream keeps runs reproducible.
    rng: SimRng,
    tick_generation: Vec<u64>,
    /// What each leader's tick proposed and has not seen applied yet, by the proposing member's
    /// node (a deposed leader on the minority side of a partition proposes too).
    proposed: BTreeSet<(NodeId, GroupIdx, ConsumerKey, Proposed)>,
    /// For a crash aimed at "leader": the node it hit, by fault step.
    pub(super) leader_hits: BTreeMap<usize, NodeId>,
    /// Per publishing channel: enqueues appended and not yet applied, and whether the channel is
    /// in flow (`rabbit_fifo_client`'s `slow`).
    pending: BTreeMap<(NodeId, u32, usize), (u32, bool)>,
    cfg: QuorumCfg,
}

impl Quorum {
    /// The group as formed before the run: node 0 leads (the declaring client's node, Ra's
    /// `client-local` leader locator), every consumer subscribed through it.
    /// `incarnation`: each node's at the start.
    pub(super) fn new(s: &Scenario, incarnation: impl Fn(NodeId) -> u32) -> Self {
        let replicas = s.rabbitmq.replicas as usize;
        let node = super::client_node(s.rabbitmq.consumer_node);
        let home = Conn { node, incarnation: incarnation(node) };
        let mut machine = QueueMachine::new(s.groups.len(), s.rabbitmq.manual_ack);
        machine.routing = crate::subscriptions::Subscriptions::new(s).map(std::sync::Arc::new);
        for (g, grp) in s.groups.iter().enumerate() {
            machine.declare(g, grp.policy.quorum_delivery_limit(), grp.policy.dead_letter_exchange.is_some());
        }
        for (g, grp) in s.groups.iter().enumerate() {
            // A group that starts late has no queue yet: it is bound, and its consumers subscribe,
            // at its start.
            if grp.start > SimTime::ZERO {
                machine.bound[g] = false;
                continue;
            }
            for c in 0..grp.consumers {
                machine.subscribe_initially(g, (c, 0), s.rabbitmq.prefetch, home);
            }
        }
        let ids: Vec<NodeId> = (0..replicas as NodeId).collect();
        let r = &s.rabbitmq;
        Quorum {
            members: ids.iter().map(|&i| Member::new(i, ids.clone(), machine.clone(), QUEUE_NODE)).collect(),
            effects_done: 0,
            rng: rng::stream(s.seed, Stream::Elections, 0),
            tick_generation: vec![0; replicas],
            proposed: BTreeSet::new(),
            leader_hits: BTreeMap::new(),
            pending: BTreeMap::new(),
            cfg: QuorumCfg {
                manual_ack: r.manual_ack,
                prefetch: r.prefetch,
                publisher_confirms: r.publisher_confirms,
                consumer_timeout: r.consumer_timeout,
            },
        }
    }

    /// Whether node `node` holds a member.
    pub(super) fn is_member(&self, node: NodeId) -> bool {
        (node as usize) < self.members.len()
    }

    /// The live member that leads (the highest term, should two believe they do).
    pub(super) fn leader(&self, up: impl Fn(NodeId) -> bool) -> Option<NodeId> {
        self.members.iter().filter(|m| m.is_leader() && up(m.id)).max_by_key(|m| m.term()).map(|m| m.id)
    }

    fn majority_up(&self, world: &World) -> bool {
        self.members.iter().filter(|m| world.is_up(m.id)).count() > self.members.len() / 2
    }

    /// Nothing left to deliver: the leader's queues are empty, or no majority is up and no fault
    /// step is left to bring one back (nothing can change any more).
    pub(super) fn drained(&self, world: &World, no_more_faults: bool) -> bool {
        match self.leader(|n| world.is_up(n)) {
            Some(l) if self.majority_up(world) || !no_more_faults => {
                self.members[l as usize].machine.queues.iter().all(|q| q.depth() == 0)
            }
            _ => no_more_faults && !self.majority_up(world),
        }
    }

    /// The leader a channel on `node` sends its commands to: the one its member follows; on a node
    /// without a member, the queue's current leader (the channel reads it from the queue's
    /// record; here from the nodes that are `up`).
    pub(super) fn leader_seen_from(&self, node: NodeId, up: impl Fn(NodeId) -> bool) -> Option<NodeId> {
        match self.members.get(node as usize) {
            Some(m) => m.leader(),
            None => self.leader(up),
        }
    }

    /// Ra's election timeouts, in whole milliseconds as `rand:uniform` draws them.
    fn election_delay(&mut self, t: Timeout) -> SimDuration {
        let ms = |d: SimDuration| d.0 / 1_000_000;
        let (bcast, poll) = (ms(d::RABBITMQ_RA_BROADCAST_TIME), ms(d::RABBITMQ_ATEN_POLL_INTERVAL));
        let (range, base) = match t {
            Timeout::Short => (5 * bcast, bcast),
            Timeout::Medium => (poll, bcast),
            Timeout::Long => (5 * bcast * 2, poll),
        };
        SimDuration::from_millis(1 + rng::below(&mut self.rng, range) + base)
    }

    fn arm_tick(&self, node: NodeId, fx: &mut impl MemberFx) {
        let generation = self.tick_generation[node as usize];
        fx.timer_in(node, d::RABBITMQ_RA_TICK, Timer::RaftTick(generation));
    }

    /// The run starts: the first leader (node 0) ticks.
    pub(super) fn start(&self, fx: &mut impl MemberFx) {
        self.arm_tick(QUEUE_NODE, fx);
    }

    /// Carries out what the member on `node` asked for, then applies what it has committed.
    fn raft_out(
        &mut self,
        now: SimTime,
        node: NodeId,
        out: Vec<RaftOut<QueueMachine>>,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        for o in out {
            match o {
                RaftOut::Send { to, msg } => fx.send(node, to, Msg::Raft(Box::new(msg))),
                RaftOut::ArmElection { timeout, generation } => {
                    let delay = self.election_delay(timeout);
                    fx.timer_in(node, delay, Timer::RaftElection(generation));
                }
                RaftOut::BecameLeader => {
                    fx.record(Observation::LeaderElected { partition: None });
                    self.tick_generation[node as usize] += 1;
                    self.proposed.retain(|p| p.0 != node);
                    self.arm_tick(node, fx);
                    let mut out = Vec::new();
                    self.members[node as usize].append_noop(now, Command::Noop, &mut out);
                    self.raft_out(now, node, out, ctx, fx);
                }
                RaftOut::Discarded(entries) => {
                    // A publish whose entry dies uncommitted here may live on another member;
                    // if it is processed after all, the recorder undoes this.
                    for e in entries {
                        match e.cmd {
                            Command::Enqueue { msg, publisher } => {
                                fx.record(Observation::Deleted { id: msg.id(), group: None });
                                if publisher.node == node {
                                    // Its channel stops waiting for it (`rabbit_fifo_client`
                                    // resends to the new leader; here the publisher's confirm
                                    // timeout does).
                                    self.enqueue_settled(publisher, ctx.publisher_for(msg.id()), ctx, fx);
                                }
                            }
                            // Ours: an ack or a return that a deposed leader took is sent on to
                            // the leader this member now follows, as a channel resends what was
                            // not applied (both are idempotent: a second copy finds nothing).
                            cmd @ (Command::Settle { .. } | Command::Return { .. } | Command::Reject { .. }) => {
                                if let Some(l) = self.members[node as usize].leader().filter(|&l| l != node) {
                                    fx.send(node, l, Msg::Forward(Box::new(cmd)));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        self.raft_apply(node, ctx, fx);
    }

    fn raft_apply(&mut self, node: NodeId, ctx: &Clients, fx: &mut impl MemberFx) {
        let m = &mut self.members[node as usize];
        if m.commit_index() == m.applied_index() {
            return;
        }
        let mut effects = Vec::new();
        m.apply(self.effects_done + 1, &mut effects);
        if m.is_leader() {
            self.effects_done = self.effects_done.max(m.applied_index());
        }
        for e in effects {
            self.effect(node, e, ctx, fx);
        }
    }

    /// What the leader (on `node`) does on applying a command for the first time.
    fn effect(&mut self, node: NodeId, e: Effect, ctx: &Clients, fx: &mut impl MemberFx) {
        match e {
            Effect::Stored(msg) => fx.record(Observation::Stored { msg }),
            Effect::Added { msg, .. } => fx.record(Observation::StorageChanged { delta: msg.bytes() as i64 }),
            Effect::Removed { group, msg } => {
                fx.record(Observation::StorageChanged { delta: -(msg.bytes() as i64) });
                fx.record(Observation::Deleted { id: msg.id(), group: Some(group) });
            }
            Effect::Backlog { group, messages, unacked } => {
                fx.record(Observation::Backlog { group, messages, unacked })
            }
            Effect::Deliver { group, key, home, msg, redelivered } => {
                // Through the consumer's channel, if it still exists.
                if alive(fx, home) {
                    let deliver = Msg::Deliver { group, consumer: key.0, reg: key.1, msg, redelivered };
                    send_to_client(fx, node, home.node, ctx.consumer_host(group, key), deliver);
                }
            }
            Effect::Settled { group, id, outcome } => {
                fx.record(Observation::Client(ClientEvent::Settled { id, group, outcome }))
            }
            Effect::Confirm { publisher, id } => {
                if !alive(fx, publisher) {
                    return;
                }
                let k = ctx.publisher_for(id);
                if self.cfg.publisher_confirms {
                    send_to_client(fx, node, publisher.node, ctx.publishers[k].node, Msg::Confirm(id));
                }
                self.enqueue_settled(publisher, k, ctx, fx);
            }
        }
    }

    /// An enqueue of `publisher`'s channel was applied or discarded: one fewer pending; below the
    /// soft limit the channel leaves flow control.
    fn enqueue_settled(&mut self, publisher: Conn, k: usize, ctx: &Clients, fx: &mut impl MemberFx) {
        let p = self.pending.entry((publisher.node, publisher.incarnation, k)).or_default();
        p.0 = p.0.saturating_sub(1);
        if p.1 && p.0 < d::RABBITMQ_QUORUM_COMMANDS_SOFT_LIMIT {
            p.1 = false;
            fx.send(publisher.node, ctx.publishers[k].node, Msg::Flow { blocked: false });
        }
    }

    /// The member on `node` proposes `cmd`: false if it does not lead (or `node` has no member).
    fn propose(&mut self, now: SimTime, node: NodeId, cmd: Command, ctx: &Clients, fx: &mut impl MemberFx) -> bool {
        let mut out = Vec::new();
        let Some(m) = self.members.get_mut(node as usize) else { return false };
        let id = match &cmd {
            Command::Enqueue { msg, .. } if ctx.steps => Some(msg.id()),
            _ => None,
        };
        let ok = m.propose(now, cmd, &mut out);
        if let Some(id) = id.filter(|_| ok) {
            let index = m.last_index();
            fx.record(Observation::Step(Step::RaftAppended { id, node, index }));
        }
        self.raft_out(now, node, out, ctx, fx);
        ok
    }

    /// The operator declares and binds a late group's queue: the command is proposed at the
    /// leader at once (simplification: the declaring client's channel is on the leader's node), so
    /// that every enqueue arriving from now on follows it in the log. Without a leader it waits
    /// and is tried again, as a channel's ack is.
    pub(super) fn bind(&mut self, now: SimTime, group: GroupIdx, ctx: &Clients, fx: &mut impl MemberFx) {
        let leader = (0..self.members.len() as NodeId).find(|&n| fx.is_up(n) && self.members[n as usize].is_leader());
        let node = leader.unwrap_or(QUEUE_NODE);
        self.redirect(now, node, Command::Bind { group }, 50, ctx, fx);
    }

    /// A channel's command on `node` (`left` tries left): sent on to the leader its member follows,
    /// or proposed here; if no leader takes it, tried again after Ra's broadcast time.
    pub(super) fn redirect(
        &mut self,
        now: SimTime,
        node: NodeId,
        cmd: Command,
        left: u8,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        if let Some(l) = self.leader_seen_from(node, |n| fx.is_up(n)).filter(|&l| l != node) {
            fx.send(node, l, Msg::Forward(Box::new(cmd)));
        } else if !self.propose(now, node, cmd.clone(), ctx, fx) && left > 1 {
            fx.timer_in(node, d::RABBITMQ_RA_BROADCAST_TIME, Timer::Redirect(Box::new(cmd), left - 1));
        }
    }

    /// A command forwarded by a member that does not lead reached `to`: proposed if `to` leads,
    /// dropped otherwise (the publisher's confirm timeout sends a publish again).
    pub(super) fn forwarded(&mut self, now: SimTime, to: NodeId, cmd: Command, ctx: &Clients, fx: &mut impl MemberFx) {
        let publish = match cmd {
            Command::Enqueue { msg, .. } => Some(msg),
            _ => None,
        };
        if !self.propose(now, to, cmd, ctx, fx)
            && let Some(m) = publish
        {
            fx.record(Observation::Deleted { id: m.id(), group: None });
        }
    }

    /// A client's message reached broker node `to`: the leader turns it into a command; a member
    /// that follows a leader forwards the command to it; a node that knows no leader drops it.
    pub(super) fn client_message(&mut self, now: SimTime, to: NodeId, msg: Msg, ctx: &Clients, fx: &mut impl MemberFx) {
        // The channel on `to` (a publisher's, or a consumer's).
        let conn = Conn { node: to, incarnation: fx.incarnation(to) };
        let cmd = match msg {
            Msg::Publish(m) => Command::Enqueue { msg: StoredMessage::new(&m), publisher: conn },
            Msg::Ack { group, consumer, reg, id } => Command::Settle { group, key: (consumer, reg), id },
            Msg::Subscribe { group, consumer, reg } => {
                Command::Subscribe { group, key: (consumer, reg), prefetch: self.cfg.prefetch, home: conn }
            }
            Msg::ConnectionClosed { group, consumer, reg } => {
                Command::Return { group, key: (consumer, reg), failed: true }
            }
            Msg::Nack { group, consumer, reg, id, how } => Command::Reject {
                group,
                key: (consumer, reg),
                id,
                requeue: how.requeues(),
                failed: how.delivery_failed(),
            },
            other => unreachable!("not a client message: {other:?}"),
        };
        let publish = match cmd {
            Command::Enqueue { msg, .. } => Some(msg),
            _ => None,
        };
        if let Some(l) = self.leader_seen_from(to, |n| fx.is_up(n)).filter(|&l| l != to) {
            // A channel's commands go to the queue's leader wherever it is.
            fx.send(to, l, Msg::Forward(Box::new(cmd)));
            return;
        }
        let idempotent = matches!(cmd, Command::Settle { .. } | Command::Return { .. } | Command::Reject { .. });
        let retry = idempotent.then(|| cmd.clone());
        let accepted = self.propose(now, to, cmd, ctx, fx);
        if let Some(cmd) = retry.filter(|_| !accepted) {
            // No leader known here yet (an election is under way): the channel tries again after
            // Ra's broadcast time (ours: at most 50 times).
            fx.timer_in(to, d::RABBITMQ_RA_BROADCAST_TIME, Timer::Redirect(Box::new(cmd), 50));
        }
        match publish {
            Some(m) if !accepted => fx.record(Observation::Deleted { id: m.id(), group: None }),
            Some(m) => {
                // rabbit_fifo_client: at `quorum_commands_soft_limit` pending enqueues the channel
                // is slow and blocks the publisher's connection.
                let k = ctx.publisher_for(m.id());
                let channel = (to, conn.incarnation, k);
                let p = self.pending.entry(channel).or_default();
                p.0 += 1;
                if !p.1 && p.0 >= d::RABBITMQ_QUORUM_COMMANDS_SOFT_LIMIT {
                    p.1 = true;
                    fx.send(to, ctx.publishers[k].node, Msg::Flow { blocked: true });
                }
            }
            None => {}
        }
    }

    /// A message from the member on `from` reached the one on `to`.
    pub(super) fn raft_message(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        msg: RaftMsg<QueueMachine>,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        let mut out = Vec::new();
        let Some(m) = self.members.get_mut(to as usize) else { return };
        let before = m.last_index();
        m.handle(from, msg, &mut out);
        if ctx.steps && !m.is_leader() && m.last_index() > before {
            let last = m.last_index();
            fx.record(Observation::Step(Step::RaftReplicated { node: to, last }));
        }
        self.raft_out(now, to, out, ctx, fx);
    }

    /// The election timer of the member on `node` fired (void unless `generation` is current).
    pub(super) fn election_timeout(
        &mut self,
        now: SimTime,
        node: NodeId,
        generation: u64,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        let mut out = Vec::new();
        self.members[node as usize].election_timeout(generation, &mut out);
        self.raft_out(now, node, out, ctx, fx);
    }

    /// Aten on `node` reports `peer` down to the local member.
    pub(super) fn peer_silent(
        &mut self,
        now: SimTime,
        node: NodeId,
        peer: NodeId,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        let mut out = Vec::new();
        self.members[node as usize].leader_node_down(peer, &mut out);
        self.raft_out(now, node, out, ctx, fx);
    }

    /// The distribution connection from `node` to `peer` is down: the local member's monitors of
    /// that node fire (`noconnection`).
    pub(super) fn peer_disconnected(
        &mut self,
        now: SimTime,
        node: NodeId,
        peer: NodeId,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        let mut out = Vec::new();
        self.members[node as usize].handle(peer, RaftMsg::NodeDown, &mut out);
        self.raft_out(now, node, out, ctx, fx);
    }

    /// The member on `node` restarted (its log and term were on disk).
    pub(super) fn restarted(&mut self, now: SimTime, node: NodeId, ctx: &Clients, fx: &mut impl MemberFx) {
        let mut out = Vec::new();
        self.members[node as usize].restart(&mut out);
        self.raft_out(now, node, out, ctx, fx);
    }

    /// Broker node `b` died: its member stops; the other members' Erlang distribution sees its
    /// connections close (`noconnection`).
    pub(super) fn crashed(&mut self, b: NodeId, fx: &mut impl MemberFx) {
        let n = self.members.len() as NodeId;
        if b < n {
            self.members[b as usize].crash();
        }
        for to in (0..n).filter(|&to| to != b) {
            fx.send_from_os(b, to, Msg::Raft(Box::new(RaftMsg::NodeDown)));
        }
    }

    /// The leader's tick: catch followers up, then look after consumers, as `rabbit_fifo` does
    /// through its monitors and timers: a consumer whose channel's node is down is suspected; one
    /// suspected for `consumer_disconnected_timeout` is returned (not counted as a failure); one
    /// whose node came back without its channel is returned as failed; one whose oldest delivery
    /// is older than `consumer_timeout` is returned and its channel closed.
    pub(super) fn tick(&mut self, now: SimTime, node: NodeId, generation: u64, ctx: &Clients, fx: &mut impl MemberFx) {
        if generation != self.tick_generation[node as usize] || !self.members[node as usize].is_leader() {
            return;
        }
        let mut out = Vec::new();
        self.members[node as usize].tick(|n| fx.connected(node, n), &mut out);
        self.raft_out(now, node, out, ctx, fx);
        let manual = self.cfg.manual_ack;
        // (group, key, what, command, the channel to close for consumer_timeout)
        let mut todo: Vec<(GroupIdx, ConsumerKey, Proposed, Command, Option<Conn>)> = Vec::new();
        let machine = &self.members[node as usize].machine;
        for (group, queue) in machine.queues.iter().enumerate() {
            for (&key, c) in &queue.consumers {
                let h = c.home;
                // A channel closed on a node the leader can reach is known at once (its monitor
                // fires); across a cut the leader cannot know.
                let client = ctx.consumer_host(group, key);
                let open = ctx.ends.open(client, h.node, key.1) || !fx.connected(node, h.node);
                let (kind, cmd, close) = if alive(fx, h) && open {
                    match c.oldest_unacked() {
                        Some(t) if manual && now.since(t) >= self.cfg.consumer_timeout => {
                            (Proposed::Return, Command::Return { group, key, failed: false }, Some(h))
                        }
                        _ => continue,
                    }
                } else if fx.is_up(h.node) {
                    (Proposed::Return, Command::Return { group, key, failed: true }, None)
                } else {
                    match c.suspected_since {
                        None => (Proposed::Suspect, Command::Suspect { group, key }, None),
                        Some(t) if now.since(t) >= d::RABBITMQ_CONSUMER_DISCONNECTED_TIMEOUT => {
                            (Proposed::Return, Command::Return { group, key, failed: false }, None)
                        }
                        Some(_) => continue,
                    }
                };
                if !self.proposed.contains(&(node, group, key, kind)) {
                    todo.push((group, key, kind, cmd, close));
                }
            }
        }
        // Forget proposals about registrations that are gone.
        let machine = &self.members[node as usize].machine;
        self.proposed.retain(|&(n, g, k, _)| n != node || machine.queues[g].consumers.contains_key(&k));
        for (group, key, kind, cmd, close) in todo {
            self.proposed.insert((node, group, key, kind));
            if let Some(home) = close {
                // consumer_timeout: the node closes the consumer's channel.
                fx.send(home.node, ctx.consumer_host(group, key), Msg::ChannelClosed);
            }
            self.propose(now, node, cmd, ctx, fx);
        }
        self.arm_tick(node, fx);
    }
}

