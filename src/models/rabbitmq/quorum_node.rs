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

/// How many times the operator tries a late queue's bind, Ra's broadcast time (100 ms) apart
/// (ours: 25 s, longer than an election after a partition's detection).
const BIND_TRIES: u8 = 250;

/// How a member learns that a peer's node is down.
#[derive(Clone, Copy, Debug)]
pub(super) enum PeerDown {
    /// Aten's poll: the peer fell silent (a follower whose leader it is waits for Ra's long
    /// election timeout).
    Silent,
    /// Erlang distribution gave up on the connection: the member's monitors of that node fire
    /// (`noconnection`).
    Disconnected,
}

/// Why the leader's tick proposed something about a consumer (so that it proposes it once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Proposed {
    Suspect,
    Return,
}

/// A publishing channel's side of `quorum_commands_soft_limit` (`rabbit_fifo_client`): the
/// enqueues it sent, wherever they were proposed, until it learns that each was applied or lost.
/// By message id, so that learning twice of one (its entry discarded on two members) counts once.
#[derive(Debug, Default)]
struct ChannelFlow {
    pending: BTreeSet<MessageId>,
    slow: bool,
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
    /// Per publishing channel (its node, that node's incarnation, the publisher): its enqueues
    /// sent and not yet known applied or lost, and whether it is in flow (`rabbit_fifo_client`'s
    /// `pending` and `slow`).
    pending: BTreeMap<(NodeId, u32, usize), ChannelFlow>,
    /// Per member: the last leader it followed (kept while it knows none, cleared by a crash).
    /// `rabbit_fifo_client` changes leader when another server answers, so losing the leader and
    /// finding the same one again (a partition healed) is no change.
    followed: Vec<Option<NodeId>>,
    /// The same for channels on nodes without a member, which read the leader from the queue's
    /// record: the last leader elected.
    followed_outside: Option<NodeId>,
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
            followed: vec![Some(QUEUE_NODE); replicas],
            followed_outside: Some(QUEUE_NODE),
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
                    // Channels on nodes without a member read the leader from the queue's record:
                    // a leader on another node is their leader change (they hear of no member's).
                    if self.followed_outside != Some(node) {
                        self.followed_outside = Some(node);
                        let outside = (self.members.len() as NodeId, 0, 0);
                        let mut nodes: Vec<NodeId> = self.pending.range(outside..).map(|(&(n, _, _), _)| n).collect();
                        nodes.dedup();
                        for n in nodes {
                            self.channels_follow_new_leader(n, ctx, fx);
                        }
                    }
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
                                // Its channel, on this node or not (a forwarded enqueue), stops
                                // waiting for it (`rabbit_fifo_client` resends to the new leader;
                                // here the publisher's confirm timeout does).
                                self.enqueue_settled(publisher, msg.id(), ctx, fx);
                            }
                            // Ours: an ack, a return or a late queue's bind that a deposed leader
                            // took is sent on to the leader this member now follows, as a channel
                            // resends what was not applied (all idempotent: a second copy finds
                            // nothing to settle, or its queue bound already).
                            cmd @ (Command::Settle { .. }
                            | Command::Return { .. }
                            | Command::Reject { .. }
                            | Command::Bind { .. }) => {
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
                self.enqueue_settled(publisher, id, ctx, fx);
            }
        }
    }

    /// The channel `publisher` sent enqueue `id` (proposed on its node, or forwarded to the
    /// leader): `rabbit_fifo_client:enqueue/4` adds every command it sends to `pending`, and at
    /// `quorum_commands_soft_limit` pending the channel is slow and blocks the publisher's
    /// connection.
    fn enqueue_sent(&mut self, publisher: Conn, id: MessageId, ctx: &Clients, fx: &mut impl MemberFx) {
        self.enqueue_pending(publisher, id, ctx);
        self.enter_flow_if_slow(publisher, id, ctx, fx);
    }

    /// Enqueue `id` of the channel `publisher` is pending.
    fn enqueue_pending(&mut self, publisher: Conn, id: MessageId, ctx: &Clients) {
        let k = ctx.publisher_for(id);
        self.pending.entry((publisher.node, publisher.incarnation, k)).or_default().pending.insert(id);
    }

    /// At `quorum_commands_soft_limit` pending the channel `publisher` (of the publisher of `id`)
    /// is slow: it blocks the publisher's connection.
    fn enter_flow_if_slow(&mut self, publisher: Conn, id: MessageId, ctx: &Clients, fx: &mut impl MemberFx) {
        let k = ctx.publisher_for(id);
        let Some(c) = self.pending.get_mut(&(publisher.node, publisher.incarnation, k)) else { return };
        if !c.slow && c.pending.len() >= d::RABBITMQ_QUORUM_COMMANDS_SOFT_LIMIT as usize {
            c.slow = true;
            fx.send(publisher.node, ctx.publishers[k].node, Msg::Flow { blocked: true });
        }
    }

    /// Enqueue `id` of `publisher`'s channel was applied, or the channel knows it lost: it is no
    /// longer pending; below the soft limit the channel leaves flow control.
    fn enqueue_settled(&mut self, publisher: Conn, id: MessageId, ctx: &Clients, fx: &mut impl MemberFx) {
        let k = ctx.publisher_for(id);
        let Some(c) = self.pending.get_mut(&(publisher.node, publisher.incarnation, k)) else { return };
        c.pending.remove(&id);
        if c.slow && c.pending.len() < d::RABBITMQ_QUORUM_COMMANDS_SOFT_LIMIT as usize {
            c.slow = false;
            fx.send(publisher.node, ctx.publishers[k].node, Msg::Flow { blocked: false });
        }
    }

    /// The member on `node` follows a new leader: its channels resend what is pending to it
    /// (`rabbit_fifo_client:resend_all_pending/1`, on `leader_change` or a `not_leader`
    /// rejection). Here the publisher's confirm timeout re-publishes what stays unconfirmed (a
    /// re-publish counts anew), so the channels stop counting what they had sent: a command lost
    /// with a leader that died holds no channel in flow.
    fn channels_follow_new_leader(&mut self, node: NodeId, ctx: &Clients, fx: &mut impl MemberFx) {
        let incarnation = fx.incarnation(node);
        for (&(_, _, k), c) in self.pending.range_mut((node, incarnation, 0)..=(node, incarnation, usize::MAX)) {
            c.pending.clear();
            if std::mem::take(&mut c.slow) {
                fx.send(node, ctx.publishers[k].node, Msg::Flow { blocked: false });
            }
        }
    }

    /// Publisher `k` opened a new connection to `node` (in its `incarnation`): a new channel,
    /// which has sent nothing yet. The channel of a connection the publisher gave up (its
    /// heartbeats) goes with it, and so does its count of pending enqueues and its flow state
    /// (the old connection's block ended with it).
    pub(super) fn channel_opened(&mut self, node: NodeId, incarnation: u32, k: usize) {
        self.pending.remove(&(node, incarnation, k));
    }

    /// A forwarded command was lost on the way (its link reset, or its node died): a channel's
    /// enqueue is no longer pending (the real channel resends it to the leader it finds; here the
    /// publisher's confirm timeout re-publishes it).
    pub(super) fn forward_lost(&mut self, cmd: Command, ctx: &Clients, fx: &mut impl MemberFx) {
        if let Command::Enqueue { msg, publisher } = cmd {
            // No queue holds it, as when a node that does not lead refuses it.
            fx.record(Observation::Deleted { id: msg.id(), group: None });
            self.enqueue_settled(publisher, msg.id(), ctx, fx);
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

    /// The operator declares and binds a late group's queue: the command is proposed at the live
    /// leader (the highest term's, should two believe they lead) at once (simplification: the
    /// declaring client's channel is on the leader's node), so that every enqueue arriving from
    /// now on follows it in the log.
    pub(super) fn bind(&mut self, now: SimTime, group: GroupIdx, ctx: &Clients, fx: &mut impl MemberFx) {
        self.try_bind(now, group, BIND_TRIES, ctx, fx);
    }

    /// A late queue's bind (`left` tries left). Without a live leader to take it (an election is
    /// under way) the declaring client tries again after Ra's broadcast time; its retry lives on
    /// the lowest member that is up (the first leader's node may be the one that died).
    fn try_bind(&mut self, now: SimTime, group: GroupIdx, left: u8, ctx: &Clients, fx: &mut impl MemberFx) {
        let cmd = Command::Bind { group };
        if let Some(l) = self.leader(|n| fx.is_up(n))
            && self.propose(now, l, cmd.clone(), ctx, fx)
        {
            return;
        }
        let holder = (0..self.members.len() as NodeId).find(|&n| fx.is_up(n));
        if let Some(node) = holder.filter(|_| left > 1) {
            fx.timer_in(node, d::RABBITMQ_RA_BROADCAST_TIME, Timer::Redirect(Box::new(cmd), left - 1));
        }
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
        if let Command::Bind { group } = cmd {
            return self.try_bind(now, group, left, ctx, fx);
        }
        if let Some(l) = self.leader_seen_from(node, |n| fx.is_up(n)).filter(|&l| l != node) {
            fx.send(node, l, Msg::Forward(Box::new(cmd)));
        } else if !self.propose(now, node, cmd.clone(), ctx, fx) && left > 1 {
            fx.timer_in(node, d::RABBITMQ_RA_BROADCAST_TIME, Timer::Redirect(Box::new(cmd), left - 1));
        }
    }

    /// A command forwarded by a member that does not lead reached `to`: proposed if `to` leads,
    /// dropped otherwise (the publisher's confirm timeout sends a publish again).
    pub(super) fn forwarded(&mut self, now: SimTime, to: NodeId, cmd: Command, ctx: &Clients, fx: &mut impl MemberFx) {
        if let Command::Bind { group } = cmd {
            // A bind re-forwarded from a discarded entry: the declaring client keeps trying.
            return self.try_bind(now, group, BIND_TRIES, ctx, fx);
        }
        let publish = match cmd {
            Command::Enqueue { msg, publisher } => Some((msg, publisher)),
            _ => None,
        };
        if !self.propose(now, to, cmd, ctx, fx)
            && let Some((m, publisher)) = publish
        {
            fx.record(Observation::Deleted { id: m.id(), group: None });
            // Its channel learns it was lost (`not_leader`).
            self.enqueue_settled(publisher, m.id(), ctx, fx);
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
            // A channel's commands go to the queue's leader wherever it is, and its enqueues
            // count towards its soft limit there too; one lost at once (the leader's node is
            // down) is known lost.
            let sent = fx.send_now(to, l, Msg::Forward(Box::new(cmd)));
            match publish {
                Some(m) if sent => self.enqueue_sent(conn, m.id(), ctx, fx),
                // No queue holds it: the publisher's confirm timeout sends it again.
                Some(m) => fx.record(Observation::Deleted { id: m.id(), group: None }),
                None => {}
            }
            return;
        }
        let idempotent = matches!(cmd, Command::Settle { .. } | Command::Return { .. } | Command::Reject { .. });
        let retry = idempotent.then(|| cmd.clone());
        // An enqueue is pending from before it is proposed: a lone member applies it (and the
        // channel learns so) within the proposal.
        let leads = self.members.get(to as usize).is_some_and(|m| m.is_leader());
        if let Some(m) = publish.filter(|_| leads) {
            self.enqueue_pending(conn, m.id(), ctx);
        }
        let accepted = self.propose(now, to, cmd, ctx, fx);
        if let Some(cmd) = retry.filter(|_| !accepted) {
            // No leader known here yet (an election is under way): the channel tries again after
            // Ra's broadcast time (ours: at most 50 times).
            fx.timer_in(to, d::RABBITMQ_RA_BROADCAST_TIME, Timer::Redirect(Box::new(cmd), 50));
        }
        match publish {
            Some(m) if !accepted => fx.record(Observation::Deleted { id: m.id(), group: None }),
            Some(m) => self.enter_flow_if_slow(conn, m.id(), ctx, fx),
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
        self.leader_seen(to, ctx, fx);
    }

    /// After the member on `node` acted: if it now follows a leader other than the last one it
    /// followed, its channels follow it.
    fn leader_seen(&mut self, node: NodeId, ctx: &Clients, fx: &mut impl MemberFx) {
        let after = self.members[node as usize].leader();
        if after.is_none() || after == self.followed[node as usize] {
            return;
        }
        self.followed[node as usize] = after;
        if !self.pending.is_empty() {
            self.channels_follow_new_leader(node, ctx, fx);
        }
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
        self.at_member(now, node, ctx, fx, |m, out| m.election_timeout(generation, out));
    }

    /// The member on `node` learns that `peer`'s node is down (`how`).
    pub(super) fn peer_down(
        &mut self,
        now: SimTime,
        node: NodeId,
        peer: NodeId,
        how: PeerDown,
        ctx: &Clients,
        fx: &mut impl MemberFx,
    ) {
        self.at_member(now, node, ctx, fx, |m, out| match how {
            PeerDown::Silent => m.leader_node_down(peer, out),
            PeerDown::Disconnected => m.handle(peer, RaftMsg::NodeDown, out),
        });
    }

    /// The member on `node` restarted (its log and term were on disk).
    pub(super) fn restarted(&mut self, now: SimTime, node: NodeId, ctx: &Clients, fx: &mut impl MemberFx) {
        self.at_member(now, node, ctx, fx, |m, out| m.restart(out));
    }

    /// The member on `node` acts (`act`); then what it asked for is carried out.
    fn at_member(
        &mut self,
        now: SimTime,
        node: NodeId,
        ctx: &Clients,
        fx: &mut impl MemberFx,
        act: impl FnOnce(&mut Member<QueueMachine>, &mut Vec<RaftOut<QueueMachine>>),
    ) {
        let mut out = Vec::new();
        act(&mut self.members[node as usize], &mut out);
        self.raft_out(now, node, out, ctx, fx);
        self.leader_seen(node, ctx, fx);
    }

    /// Broker node `b` died: its member stops; the other members' Erlang distribution sees its
    /// connections close (`noconnection`).
    pub(super) fn crashed(&mut self, b: NodeId, fx: &mut impl MemberFx) {
        let n = self.members.len() as NodeId;
        if b < n {
            self.members[b as usize].crash();
            // Not observable today (the restarted node's channels are new and count nothing until
            // its member finds a leader); kept so that a restart never inherits a leader.
            self.followed[b as usize] = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::{Effect as Fx, Seeing};

    /// Brokers 0, 1, 2 (member `i` on node `i`, 0 leads), the producer on 3, consumers 0 and 1
    /// of the one group on 4 and 5.
    const PRODUCER: NodeId = 3;
    const CONSUMER0: NodeId = 4;
    const CONSUMER1: NodeId = 5;

    type Seen = Seeing<Msg, Timer, Observation>;

    impl MemberFx for Seen {
        fn connected(&self, a: NodeId, b: NodeId) -> bool {
            self.is_up(a) && self.is_up(b)
        }
    }

    /// The group, its clients, and the sink.
    struct Fixture {
        q: Quorum,
        consumers: Vec<Vec<ConsumerNode>>,
        publishers: Vec<Publisher>,
        fx: Seen,
    }

    /// Three quorum members, one group of two consumers with a prefetch of 1, manual acks,
    /// publisher confirms; `extra` adds to `[rabbitmq]`.
    fn fixture(extra: &str) -> Fixture {
        fixture_on(3, extra)
    }

    /// [`fixture`] on `brokers` broker nodes.
    fn fixture_on(brokers: u32, extra: &str) -> Fixture {
        let toml = format!(
            "duration = \"1m\"\nsystems = [\"rabbitmq\"]\n[cluster]\nbrokers = {brokers}\n[workload]\nrate = 1.0\n\
             [[groups]]\nname = \"a\"\nconsumers = 2\n[rabbitmq]\nqueue_type = \"quorum\"\nack = \"manual\"\n\
             publisher_confirms = true\nprefetch = 1\n{extra}\n"
        );
        let s = Scenario::parse(&toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
        let home = client_node(s.rabbitmq.consumer_node);
        let consumers = (0..2)
            .map(|c| {
                let cfg = ConsumerCfg {
                    manual_ack: true,
                    cancel_notify: true,
                    failures: crate::failures::Failures::for_group(&s, 0),
                    on_failure: RabbitOnFailure::NackRequeue,
                };
                ConsumerNode::new(CONSUMER0 + c as NodeId, 0, c, home, cfg)
            })
            .collect();
        let cfg = publisher::PublisherCfg {
            confirms: true,
            max_unconfirmed: None,
            confirm_timeout: d::RABBITMQ_CONFIRM_TIMEOUT,
            give_up_after: GIVE_UP_AFTER,
        };
        Fixture {
            q: Quorum::new(&s, |_| 0),
            consumers: vec![consumers],
            publishers: vec![Publisher::new(PRODUCER, QUEUE_NODE, cfg)],
            fx: Seen::default(),
        }
    }

    /// Runs a handler of the group on the fixture.
    fn on(f: &mut Fixture, h: impl FnOnce(&mut Quorum, &Clients, &mut Seen)) {
        let Fixture { q, consumers, publishers, fx } = f;
        let ctx = Clients { consumers, publishers, ends: BrokerEnds(None), steps: false };
        h(q, &ctx, fx)
    }

    fn publish(id: MessageId) -> Msg {
        Msg::Publish(Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 })
    }

    const T: SimTime = SimTime(1_000_000);

    /// Delivers the messages between members, in order, until none is left (the network of a
    /// healthy cluster, at `now`); returns every other effect, in order.
    fn settle(f: &mut Fixture, now: SimTime) -> Vec<Fx<Msg, Timer, Observation>> {
        let mut rest = Vec::new();
        loop {
            let effects: Vec<_> = f.fx.out.take_effects().collect();
            if effects.is_empty() {
                return rest;
            }
            for e in effects {
                match e {
                    Fx::Send { from, to, msg: Msg::Raft(m) } => {
                        on(f, |q, ctx, fx| q.raft_message(now, from, to, *m, ctx, fx))
                    }
                    other => rest.push(other),
                }
            }
        }
    }

    /// The sends among `effects` that go to clients or their channels: (from, to, what).
    fn client_sends(effects: &[Fx<Msg, Timer, Observation>]) -> Vec<(NodeId, NodeId, String)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Fx::Send { from, to, msg } => Some((*from, *to, format!("{msg:?}"))),
                _ => None,
            })
            .collect()
    }

    /// The publisher's channel on `node` publishes `ids`, in order (their effects stay in the sink).
    fn publish_on(f: &mut Fixture, node: NodeId, ids: impl IntoIterator<Item = MessageId>) {
        for id in ids {
            on(f, |q, ctx, fx| q.client_message(T, node, publish(id), ctx, fx));
        }
    }

    /// Flow control from the channel on `node` to the publisher, as [`client_sends`] shows it.
    fn flow(node: NodeId, blocked: bool) -> (NodeId, NodeId, String) {
        (node, PRODUCER, format!("{:?}", Msg::Flow { blocked }))
    }

    fn deliver_msg(consumer: u32, id: MessageId, redelivered: bool) -> Msg {
        let msg = StoredMessage::new(&Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 });
        Msg::Deliver { group: 0, consumer, reg: 0, msg, redelivered }
    }

    /// What [`client_sends`] shows of a delivery.
    fn deliver(consumer: u32, id: MessageId, redelivered: bool) -> String {
        format!("{:?}", deliver_msg(consumer, id, redelivered))
    }

    /// A publish that reaches a follower's node is not proposed there: its channel sends the
    /// command on to the leader, naming itself as the publisher's channel; the leader's confirm
    /// then goes back through that node to the producer.
    #[test]
    fn a_publish_reaching_a_follower_is_forwarded_to_the_leader_and_confirmed_through_it() {
        let mut f = fixture("");
        on(&mut f, |q, ctx, fx| q.client_message(T, 1, publish(7), ctx, fx));
        let cmd = match f.fx.out.take_effects().collect::<Vec<_>>().as_slice() {
            [Fx::Send { from: 1, to: 0, msg: Msg::Forward(cmd) }] => (**cmd).clone(),
            other => panic!("one forward from node 1 to the leader, got {other:?}"),
        };
        let Command::Enqueue { msg, publisher } = cmd.clone() else { panic!("an enqueue, got {cmd:?}") };
        assert_eq!((msg.id(), publisher), (7, Conn { node: 1, incarnation: 0 }));
        on(&mut f, |q, ctx, fx| q.forwarded(T, 0, cmd, ctx, fx));
        let effects = settle(&mut f, T);
        let confirm = format!("{:?}", Msg::Relay { to: PRODUCER, msg: Box::new(Msg::Confirm(7)) });
        assert_eq!(client_sends(&effects), vec![(0, CONSUMER0, deliver(0, 7, false)), (0, 1, confirm)]);
    }

    /// The leader confirms a publish when a majority holds it, not when it appends it: with
    /// the append on node 1 acknowledged and node 2's still on the way, the enqueue is committed
    /// and applied, and the confirm goes to the producer's connection.
    #[test]
    fn a_publish_is_confirmed_once_a_majority_holds_it() {
        let mut f = fixture("");
        on(&mut f, |q, ctx, fx| q.client_message(T, 0, publish(7), ctx, fx));
        let appends: Vec<_> = f.fx.out.take_effects().collect();
        assert_eq!(appends.len(), 2, "one append to each follower, nothing else yet: {appends:?}");
        let mut to_1 = None;
        for e in appends {
            match e {
                Fx::Send { from: 0, to: 1, msg: Msg::Raft(m) } => to_1 = Some(m),
                Fx::Send { from: 0, to: 2, msg: Msg::Raft(_) } => {}
                other => panic!("an append to a follower, got {other:?}"),
            }
        }
        on(&mut f, |q, ctx, fx| q.raft_message(T, 0, 1, *to_1.expect("sent to node 1"), ctx, fx));
        let reply: Vec<_> = f.fx.out.take_effects().collect();
        let [Fx::Send { from: 1, to: 0, msg: Msg::Raft(reply) }] = <[_; 1]>::try_from(reply).expect("one reply") else {
            panic!("node 1 answers the leader")
        };
        on(&mut f, |q, ctx, fx| q.raft_message(T, 1, 0, *reply, ctx, fx));
        let effects: Vec<_> = f.fx.out.take_effects().collect();
        assert!(effects.iter().any(|e| matches!(e, Fx::Record(Observation::Stored { msg }) if msg.id() == 7)));
        assert_eq!(
            client_sends(&effects),
            vec![(0, CONSUMER0, deliver(0, 7, false)), (0, PRODUCER, format!("{:?}", Msg::Confirm(7)))]
        );
    }

    /// Consumers connected to node 2: a delivery goes through their channel there; once node 2
    /// restarted, the channel is gone and nothing is delivered through it, while the confirm
    /// (the producer's channel on node 0) still goes.
    #[test]
    fn a_delivery_goes_through_the_consumers_channel_while_it_exists() {
        for restarted in [false, true] {
            let mut f = fixture("consumer_node = 2");
            f.fx.restarted = if restarted { vec![2] } else { vec![] };
            on(&mut f, |q, ctx, fx| q.client_message(T, 0, publish(7), ctx, fx));
            let effects = settle(&mut f, T);
            let deliver = format!("{:?}", Msg::Relay { to: CONSUMER0, msg: Box::new(deliver_msg(0, 7, false)) });
            let confirm = (0, PRODUCER, format!("{:?}", Msg::Confirm(7)));
            let want = if restarted { vec![confirm] } else { vec![(0, 2, deliver), confirm] };
            assert_eq!(client_sends(&effects), want, "node 2 restarted: {restarted}");
        }
    }

    /// Consumer 0 holds 7 and consumer 1 holds 8 (a prefetch of 1 each). Consumer 0's connection
    /// closes: 7 is returned, and goes to consumer 1, flagged redelivered, once its ack of 8 makes
    /// room.
    #[test]
    fn a_closed_connection_returns_the_consumers_unacked_messages() {
        let mut f = fixture("");
        publish_on(&mut f, 0, [7, 8]);
        let effects = settle(&mut f, T);
        let delivered: Vec<_> = client_sends(&effects).into_iter().filter(|s| s.2.starts_with("Deliver")).collect();
        assert_eq!(delivered, vec![(0, CONSUMER0, deliver(0, 7, false)), (0, CONSUMER1, deliver(1, 8, false))]);
        let closed = Msg::ConnectionClosed { group: 0, consumer: 0, reg: 0 };
        on(&mut f, |q, ctx, fx| q.client_message(T, 0, closed, ctx, fx));
        assert!(client_sends(&settle(&mut f, T)).is_empty(), "consumer 1's window is full");
        let ack = Msg::Ack { group: 0, consumer: 1, reg: 0, id: 8 };
        on(&mut f, |q, ctx, fx| q.client_message(T, 0, ack, ctx, fx));
        let effects = settle(&mut f, T);
        assert!(effects.iter().any(|e| matches!(e, Fx::Record(Observation::Deleted { id: 8, group: Some(0) }))));
        assert_eq!(client_sends(&effects), vec![(0, CONSUMER1, deliver(1, 7, true))]);
    }

    /// `consumer_timeout` = 1 min: the leader's tick 61 s after a delivery closes the consumer's
    /// channel and proposes the return, once: a second tick before the return is applied does
    /// not close it again. Applied, the return hands the message to the other consumer.
    #[test]
    fn the_tick_closes_a_channel_past_consumer_timeout_once() {
        let mut f = fixture("consumer_timeout = \"1m\"");
        on(&mut f, |q, ctx, fx| q.client_message(SimTime::ZERO, 0, publish(7), ctx, fx));
        settle(&mut f, SimTime::ZERO);
        // The tick's channel closings (from, to), and whether it armed the next tick last.
        let tick = |f: &mut Fixture, at: SimTime| {
            let before = f.fx.out.len();
            on(f, |q, ctx, fx| q.tick(at, 0, 0, ctx, fx));
            let effects = &f.fx.out.effects()[before..];
            let closed: Vec<_> = effects
                .iter()
                .filter_map(|e| match e {
                    Fx::Send { from, to, msg: Msg::ChannelClosed } => Some((*from, *to)),
                    _ => None,
                })
                .collect();
            let rearmed = matches!(effects.last(), Some(Fx::TimerIn { node: 0, timer: Timer::RaftTick(0), .. }));
            (closed, rearmed)
        };
        assert_eq!(tick(&mut f, SimTime(30_000_000_000)), (vec![], true), "30 s: not yet");
        assert_eq!(tick(&mut f, SimTime(61_000_000_000)), (vec![(0, CONSUMER0)], true));
        assert_eq!(tick(&mut f, SimTime(62_000_000_000)), (vec![], true), "proposed once");
        let effects = settle(&mut f, SimTime(62_000_000_000));
        let closed = (0, CONSUMER0, format!("{:?}", Msg::ChannelClosed));
        assert_eq!(client_sends(&effects), vec![closed, (0, CONSUMER1, deliver(1, 7, true))]);
    }

    /// Delivers the messages between members (a crashed node's operating system's notices too)
    /// and the forwarded commands, in order, until none is left, dropping those to or from a node
    /// in `cut` (down, or on the other side of a partition); returns every other effect, in order.
    fn exchange(f: &mut Fixture, now: SimTime, cut: &[NodeId]) -> Vec<Fx<Msg, Timer, Observation>> {
        let mut rest = Vec::new();
        loop {
            let effects: Vec<_> = f.fx.out.take_effects().collect();
            if effects.is_empty() {
                return rest;
            }
            for e in effects {
                match e {
                    Fx::Send { from, to, msg: Msg::Raft(m) } if !cut.contains(&from) && !cut.contains(&to) => {
                        on(f, |q, ctx, fx| q.raft_message(now, from, to, *m, ctx, fx))
                    }
                    Fx::SendFromOs { from, to, msg: Msg::Raft(m) } if !cut.contains(&to) => {
                        on(f, |q, ctx, fx| q.raft_message(now, from, to, *m, ctx, fx))
                    }
                    Fx::Send { from, to, msg: Msg::Forward(cmd) } if !cut.contains(&from) && !cut.contains(&to) => {
                        on(f, |q, ctx, fx| q.forwarded(now, to, *cmd, ctx, fx))
                    }
                    // Lost in the cut.
                    Fx::Send { msg: Msg::Raft(_) | Msg::Forward(_), .. } | Fx::SendFromOs { msg: Msg::Raft(_), .. } => {
                    }
                    other => rest.push(other),
                }
            }
        }
    }

    /// The generation of the election timer armed on `node` among `effects`.
    fn election_armed(effects: &[Fx<Msg, Timer, Observation>], node: NodeId) -> u64 {
        effects
            .iter()
            .rev()
            .find_map(|e| match e {
                Fx::TimerIn { node: n, timer: Timer::RaftElection(g), .. } if *n == node => Some(*g),
                _ => None,
            })
            .expect("an election timer")
    }

    /// `quorum_commands_soft_limit` is 32. The producer's channel is on node 1, a follower: each
    /// publish is forwarded to leader 0. By hand: `rabbit_fifo_client` counts every command its
    /// channel sent, wherever the leader is, so the 32nd forward (32 pending) makes the channel
    /// on node 1 block the publisher's connection, once. The first forward then reaches node 2,
    /// which does not lead: lost (recorded as deleted), the channel stops counting it (31 < 32)
    /// and unblocks the connection. Publish 32 makes 32 pending again: blocked. The leader
    /// applies the second forward: its confirm goes back through node 1, and with 31 pending node
    /// 1 unblocks the connection.
    #[test]
    fn a_channel_on_a_follower_counts_its_forwarded_enqueues_towards_the_soft_limit() {
        let mut f = fixture("");
        /// Publishes `ids` at node 1: the forwards to the leader go to `forwards`; returns the
        /// flow control sends, by the publish that caused them.
        fn publish_at_1(
            f: &mut Fixture,
            ids: std::ops::Range<MessageId>,
            forwards: &mut VecDeque<Command>,
        ) -> Vec<(MessageId, bool)> {
            let mut flow = vec![];
            for id in ids {
                on(f, |q, ctx, fx| q.client_message(T, 1, publish(id), ctx, fx));
                for e in f.fx.out.take_effects() {
                    match e {
                        Fx::Send { from: 1, to: 0, msg: Msg::Forward(cmd) } => forwards.push_back(*cmd),
                        Fx::Send { from: 1, to: PRODUCER, msg: Msg::Flow { blocked } } => flow.push((id, blocked)),
                        other => panic!("a forward to the leader or flow control, got {other:?}"),
                    }
                }
            }
            flow
        }
        let mut forwards = VecDeque::new();
        assert_eq!(publish_at_1(&mut f, 0..32, &mut forwards), [(31, true)]);
        let first = forwards.pop_front().expect("forwarded");
        on(&mut f, |q, ctx, fx| q.forwarded(T, 2, first, ctx, fx));
        let effects: Vec<_> = f.fx.out.take_effects().collect();
        let unblock = format!("{:?}", Msg::Flow { blocked: false });
        assert!(effects.iter().any(|e| matches!(e, Fx::Record(Observation::Deleted { id: 0, group: None }))));
        assert_eq!(client_sends(&effects), [(1, PRODUCER, unblock.clone())]);
        assert_eq!(publish_at_1(&mut f, 32..33, &mut forwards), [(32, true)]);
        let second = forwards.pop_front().expect("forwarded");
        on(&mut f, |q, ctx, fx| q.forwarded(T, 0, second, ctx, fx));
        let effects = settle(&mut f, T);
        let confirm = format!("{:?}", Msg::Relay { to: PRODUCER, msg: Box::new(Msg::Confirm(1)) });
        assert_eq!(
            client_sends(&effects),
            [(0, CONSUMER0, deliver(0, 1, false)), (0, 1, confirm), (1, PRODUCER, unblock)]
        );
    }

    /// The channel on node 1 follows leader 0, whose node is down (node 1 has not noticed yet):
    /// each forward is lost at once, so the channel counts none of 40 publishes and never blocks
    /// (the publisher's confirm timeout publishes them again). Once it is slow, a new leader seen
    /// by node 1 ends it: the real channel resends what is pending to that leader; here the
    /// confirm timeout does, so the channel stops counting them and unblocks the connection.
    #[test]
    fn a_channel_counts_no_forward_lost_at_once_and_a_new_leader_ends_its_flow() {
        let mut f = fixture("");
        f.fx.down = vec![0];
        publish_on(&mut f, 1, 0..40);
        let sends = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert!(sends.iter().all(|s| !s.2.starts_with("Flow")), "no flow control: {sends:?}");
        f.fx.down.clear();
        publish_on(&mut f, 1, 40..72);
        let block = flow(1, true);
        let sends: Vec<_> = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert_eq!(sends.iter().filter(|s| s.2.starts_with("Flow")).collect::<Vec<_>>(), [&block]);
        // Node 0 goes; node 2 wins the election with node 1's votes: node 1 follows it.
        on(&mut f, |q, _, fx| q.crashed(0, fx));
        f.fx.down = vec![0];
        let rest = exchange(&mut f, T, &[0]);
        on(&mut f, |q, ctx, fx| q.election_timeout(T, 2, election_armed(&rest, 2), ctx, fx));
        let effects = exchange(&mut f, T, &[0]);
        assert!(f.q.members[2].is_leader() && f.q.members[1].leader() == Some(2));
        let unblock = flow(1, false);
        assert_eq!(client_sends(&effects), [unblock]);
    }

    /// The channel on node 1 forwards 32 enqueues to leader 0 and is slow; they are still on
    /// their way. Node 1's member hears `noconnection` from node 0 (a partition) and forgets its
    /// leader; then leader 0's next AppendEntries (after a publish on node 0) reaches it again.
    /// `rabbit_fifo_client` changes leader only when another server answers, so this is no
    /// change: the channel keeps counting its 32 and the publisher stays blocked (it was
    /// unblocked before 2026-12-08).
    #[test]
    fn finding_the_same_leader_again_is_no_leader_change() {
        let mut f = fixture("");
        publish_on(&mut f, 1, 0..32);
        let sends = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert!(sends.contains(&flow(1, true)), "slow at 32: {sends:?}");
        on(&mut f, |q, ctx, fx| q.peer_down(T, 1, 0, PeerDown::Disconnected, ctx, fx));
        assert_eq!(f.q.members[1].leader(), None);
        f.fx.out.clear();
        on(&mut f, |q, ctx, fx| q.client_message(T, 0, publish(100), ctx, fx));
        let effects = exchange(&mut f, T, &[]);
        assert_eq!(f.q.members[1].leader(), Some(0));
        assert!(!client_sends(&effects).contains(&flow(1, false)), "still slow: {effects:?}");
    }

    /// A channel's count belongs to its connection: publisher 0's channel on node 1 is slow at
    /// 32 pending enqueues; the publisher gives that connection up and opens another to the same
    /// live node, whose channel has sent nothing. Its next 31 enqueues do not block it; the 32nd
    /// does.
    #[test]
    fn a_new_connection_to_the_same_node_starts_a_new_count() {
        let mut f = fixture("");
        publish_on(&mut f, 1, 0..32);
        let sends = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert!(sends.contains(&flow(1, true)), "slow at 32: {sends:?}");
        f.q.channel_opened(1, 0, 0);
        publish_on(&mut f, 1, 32..63);
        let sends = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert!(!sends.contains(&flow(1, true)), "31 pending on the new channel: {sends:?}");
        publish_on(&mut f, 1, [63]);
        let sends = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert!(sends.contains(&flow(1, true)), "slow at its own 32nd: {sends:?}");
    }

    /// A channel's enqueue that no queue will hold is seen deleted, so that the recorder does not
    /// count it in flight until its re-publish: a forward lost at once (leader 0's node is down,
    /// node 1 has not noticed), and one the world dropped on the way (`forward_lost`), as one
    /// refused by a node that does not lead already was. A forward that got away is not.
    #[test]
    fn an_enqueue_no_queue_holds_is_seen_deleted() {
        let deleted = |effects: Vec<Fx<Msg, Timer, Observation>>| -> Vec<u64> {
            effects
                .into_iter()
                .filter_map(|e| match e {
                    Fx::Record(Observation::Deleted { id, group: None }) => Some(id),
                    _ => None,
                })
                .collect()
        };
        let mut f = fixture("");
        f.fx.down = vec![0];
        on(&mut f, |q, ctx, fx| q.client_message(T, 1, publish(7), ctx, fx));
        assert_eq!(deleted(f.fx.out.take_effects().collect()), [7]);
        f.fx.down.clear();
        on(&mut f, |q, ctx, fx| q.client_message(T, 1, publish(8), ctx, fx));
        let mut forward = None;
        for e in f.fx.out.take_effects() {
            match e {
                Fx::Send { from: 1, to: 0, msg: Msg::Forward(cmd) } => forward = Some(*cmd),
                other => panic!("only the forward, got {other:?}"),
            }
        }
        on(&mut f, |q, ctx, fx| q.forward_lost(forward.expect("forwarded"), ctx, fx));
        assert_eq!(deleted(f.fx.out.take_effects().collect()), [8]);
    }

    /// Four brokers, three members (nodes 0 to 2): a channel on node 3, which holds no member, reads
    /// the leader from the queue's record and forwards its 32 enqueues to leader 0, and is slow
    /// at the 32nd. By hand: leader 0 takes them into its log, but its AppendEntries are cut off,
    /// and it dies; node 2 wins the election with node 1's vote. Those enqueues were never
    /// committed, and no member on node 3 will ever see a new leader: the new leader's election is
    /// the channel's leader change, which ends its flow (without it, the publisher stayed blocked
    /// until node 0 came back). Here node 3 is the producer's host too: only the flow message's
    /// ends are read.
    #[test]
    fn a_channel_on_a_node_without_a_member_ends_its_flow_when_a_new_leader_is_elected() {
        let mut f = fixture_on(4, "replicas = 3");
        publish_on(&mut f, 3, 0..32);
        let (mut forwards, mut blocks) = (vec![], vec![]);
        for e in f.fx.out.take_effects() {
            match e {
                Fx::Send { from: 3, to: 0, msg: Msg::Forward(cmd) } => forwards.push(*cmd),
                Fx::Send { from: 3, to: PRODUCER, msg: Msg::Flow { blocked } } => blocks.push(blocked),
                other => panic!("a forward to the leader or flow control, got {other:?}"),
            }
        }
        assert_eq!((forwards.len(), blocks), (32, vec![true]));
        for cmd in forwards {
            on(&mut f, |q, ctx, fx| q.forwarded(T, 0, cmd, ctx, fx));
        }
        let held = exchange(&mut f, T, &[0]);
        assert!(client_sends(&held).iter().all(|s| !s.2.starts_with("Flow")), "nothing applied: {held:?}");
        on(&mut f, |q, _, fx| q.crashed(0, fx));
        f.fx.down = vec![0];
        let rest = exchange(&mut f, T, &[0]);
        on(&mut f, |q, ctx, fx| q.election_timeout(T, 2, election_armed(&rest, 2), ctx, fx));
        let effects = exchange(&mut f, T, &[0]);
        assert!(f.q.members[2].is_leader());
        let flows: Vec<_> = client_sends(&effects).into_iter().filter(|s| s.2.starts_with("Flow")).collect();
        assert_eq!(flows, [flow(3, false)]);
    }

    /// A second group, "late", whose queue is declared and bound at 10 s (not at the start).
    const LATE: &str = "[[groups]]\nname = \"late\"\nstart = \"10s\"\n";

    /// Node 0, the leader, dies as a late group's queue is declared. By hand: nodes 1 and 2 see
    /// it go (`noconnection`) and forget their leader; the bind finds no live leader, so the
    /// declaring client tries again 100 ms later from the lowest node that is up, node 1. Node 1
    /// wins the election (node 2's pre-vote and vote), and the retry proposes the bind there;
    /// committed with node 2, the late queue is bound. (Its retry used to live on node 0, dead,
    /// and the bind was lost.)
    #[test]
    fn a_late_bind_during_an_election_after_node_0_died_is_retried_from_a_live_node() {
        let mut f = fixture(LATE);
        f.consumers.push(vec![]);
        on(&mut f, |q, _, fx| q.crashed(0, fx));
        f.fx.down = vec![0];
        let mut rest = exchange(&mut f, T, &[0]);
        on(&mut f, |q, ctx, fx| q.bind(T, 1, ctx, fx));
        rest.extend(exchange(&mut f, T, &[0]));
        let generation = election_armed(&rest, 1);
        on(&mut f, |q, ctx, fx| q.election_timeout(T, 1, generation, ctx, fx));
        rest.extend(exchange(&mut f, T, &[0]));
        assert!(f.q.members[1].is_leader());
        assert!(!f.q.members[1].machine.bound[1]);
        let retries: Vec<_> = rest
            .into_iter()
            .filter_map(|e| match e {
                Fx::TimerIn { node, timer: Timer::Redirect(cmd, left), .. } => Some((node, *cmd, left)),
                _ => None,
            })
            .collect();
        for (node, cmd, left) in retries.into_iter().filter(|r| r.0 != 0) {
            on(&mut f, |q, ctx, fx| q.redirect(T, node, cmd, left, ctx, fx));
            exchange(&mut f, T, &[0]);
        }
        assert!(f.q.members[1].machine.bound[1], "the late queue is bound");
    }

    /// A deposed leader's bind. By hand: node 0 leads and takes a late group's bind (its log's
    /// index 1, term 1), but its appends never reach nodes 1 and 2 (a cut). They lose it
    /// (`noconnection`); node 1 wins term 2 with node 2's votes and commits its no-op at index 1.
    /// The cut heals: node 1's appends reach node 0, which steps down and discards its index 1,
    /// the bind. As a discarded ack is, the bind is sent on to node 1, which proposes it: the late
    /// queue is bound. (It used to be dropped with its entry.)
    #[test]
    fn a_bind_discarded_by_a_deposed_leader_is_sent_on_to_the_new_leader() {
        let mut f = fixture(LATE);
        f.consumers.push(vec![]);
        on(&mut f, |q, ctx, fx| q.bind(T, 1, ctx, fx));
        let mut rest = exchange(&mut f, T, &[0]);
        for n in [1, 2] {
            on(&mut f, |q, ctx, fx| q.peer_down(T, n, 0, PeerDown::Disconnected, ctx, fx));
        }
        rest.extend(exchange(&mut f, T, &[0]));
        let generation = election_armed(&rest, 1);
        on(&mut f, |q, ctx, fx| q.election_timeout(T, 1, generation, ctx, fx));
        exchange(&mut f, T, &[0]);
        assert!(f.q.members[1].is_leader() && f.q.members[0].is_leader(), "node 0 does not know yet");
        assert!(!f.q.members[1].machine.bound[1]);
        let tick = f.q.tick_generation[1];
        on(&mut f, |q, ctx, fx| q.tick(T, 1, tick, ctx, fx));
        exchange(&mut f, T, &[]);
        assert!(!f.q.members[0].is_leader());
        assert!(f.q.members[1].machine.bound[1], "the late queue is bound");
    }

    /// One member (`replicas = 1`): a publish is committed and applied as it is proposed. By
    /// hand: each of 40 publishes is pending from before its proposal and applied within it, so
    /// the channel never has more than one pending and never blocks the publisher: 40 confirms,
    /// no flow control.
    #[test]
    fn a_lone_members_channel_applies_each_enqueue_within_its_proposal_and_never_blocks() {
        let mut f = fixture("replicas = 1");
        publish_on(&mut f, 0, 0..40);
        let sends = client_sends(&f.fx.out.take_effects().collect::<Vec<_>>());
        assert_eq!(sends.iter().filter(|s| s.2.starts_with("Confirm")).count(), 40);
        assert!(sends.iter().all(|s| !s.2.starts_with("Flow")), "no flow control: {sends:?}");
    }
}
