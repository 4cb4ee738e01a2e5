//! RabbitMQ-style broker as a world of nodes: cluster nodes `0..brokers`, the producer, and one
//! client node per consumer. A fanout exchange on node 0 routes every publish to one classic queue
//! per group, homed on node 0; the node **pushes** deliveries to each queue's consumers round-robin
//! within their prefetch windows. With manual acknowledgements a message is deleted when its ack
//! arrives; with automatic ones as it is sent.
//!
//! Failures, as RabbitMQ 4.x behaves:
//! * a consumer that crashes closes its connection: its unacknowledged deliveries go back to their
//!   places in the queue, flagged `redelivered`; with auto-ack what it held is lost;
//! * a hung consumer keeps its connection: its deliveries stay unacknowledged until
//!   `consumer_timeout` (30 min) closes its channel;
//! * the queue's node crashing loses transient messages; persistent ones in the durable queue come
//!   back with the node. Clients reconnect every `networkRecoveryInterval` (5 s);
//! * with publisher confirms, a message not confirmed within 5 s is published again (so it may be
//!   enqueued twice); the producer gives up after 120 s.
//!
//! Clients connect to the queue's node by default; `producer_node` and `consumer_node` put them on
//! another node, whose channels forward to the queue's node (a transient queue whose node is down
//! is gone: publishes are unroutable and confirmed, consumers get `basic.cancel`).
//!
//! With `queue_type = "quorum"` the queues are replicated by Raft over `replicas` nodes instead
//! (see [`quorum`]): the broker side of every client message becomes a command in the Raft log.
//! With `queue_type = "stream"` one stream on node 0 replaces the queues (see [`stream`]): an
//! append-only log every group reads at its own offset, one active consumer per group.

mod alarm;
mod classic_node;
mod connection;
mod consumer;
mod costs;
mod liveness;
mod operations;
mod publisher;
pub mod queue;
pub mod quorum;
mod quorum_node;
pub mod raft;
pub mod stream;

use super::drain::DrainWatch;
use super::faults::{FaultSchedule, FaultVerbs};
use super::operating::{OperationSchedule, OperatorVerbs};
use crate::client::{ConsumerApp, JobEnd};
use crate::engine::{Model, Scheduler};
use crate::history::{ClientEvent, GroupIdx, History, Observation, Settlement, Step};
use crate::scenario::defaults as d;
use crate::scenario::failing::RabbitOnFailure;
use crate::scenario::faults::FaultAction;
use crate::scenario::policy::{Overflow, QueuePolicy};
use crate::scenario::{ClientNode, RabbitMqConfig, Scenario};
use crate::time::{SimDuration, SimTime};
use crate::workload::{Message, MessageId, ProcessingTimes, Producer, StoredMessage};
use crate::world::out::{Direct, Effects, Handed};
use crate::world::resources::ProcessId;
use crate::world::{Admit, Envelope, Held, NodeId, NodeMap, World};
use classic_node::{Around, ClassicNode};
use connection::Dial;
use consumer::{ConsumerCfg, ConsumerNode, Delivery};
use liveness::{End, Silence};
use publisher::Publisher;
use queue::{ClassicQueue, Ready};
use quorum::{Command, QueueMachine};
use quorum_node::{Clients, Quorum};
use raft::RaftMsg;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Ours: the producer application gives up on a message unconfirmed this long, as Kafka's
/// `delivery.timeout.ms` (120 s) does, so that both systems give up alike.
const GIVE_UP_AFTER: SimDuration = SimDuration(120_000_000_000);

/// Protocol messages between nodes.
#[derive(Debug)]
pub enum Msg {
    /// `basic.publish` to the fanout exchange.
    Publish(Message),
    /// Publisher confirm (`basic.ack` to the publisher).
    Confirm(MessageId),
    /// `basic.deliver` to the consumer's subscription `reg`.
    Deliver { group: GroupIdx, consumer: u32, reg: u32, msg: StoredMessage, redelivered: bool },
    /// `basic.ack` from a consumer, on the connection of its subscription `reg`.
    Ack { group: GroupIdx, consumer: u32, reg: u32, id: MessageId },
    /// `basic.nack` or `basic.reject`, with or without requeue (`how`), from a consumer whose
    /// processing failed.
    Nack { group: GroupIdx, consumer: u32, reg: u32, id: MessageId, how: RabbitOnFailure },
    /// `basic.consume` (after a start, a restart or a reconnection); `reg` numbers the
    /// consumer's subscriptions.
    Subscribe { group: GroupIdx, consumer: u32, reg: u32 },
    /// The consumer's process died; its operating system closed the connection.
    ConnectionClosed { group: GroupIdx, consumer: u32, reg: u32 },
    /// The node closed the consumer's channel (`consumer_timeout`).
    ChannelClosed,
    /// `basic.cancel` from the node: the consumer's queue went away (its node died) while its
    /// channel, on another node, lives on; or a `basic.consume` failed because the queue is not
    /// there. Sent only to clients with the `consumer_cancel_notify` capability.
    Cancel,
    /// The broker end of the client's connection number `conn` closed: its node died (its
    /// operating system closed the socket), or it gave up on a silent connection (heartbeats).
    ConnectionLost { conn: u32 },
    /// An AMQP heartbeat frame (only while a partition is scheduled: see [`liveness`]).
    Heartbeat,
    /// Aten's heartbeat between quorum queue members.
    AtenBeat,
    /// Erlang distribution's tick between quorum queue members.
    DistTick,
    /// A client's command that reached a member which does not lead, sent on to the leader it
    /// follows (a channel talks to the queue's leader wherever that is).
    Forward(Box<Command>),
    /// A leader's delivery or confirm for a client whose connection is on another node: that
    /// node passes `msg` on to client `to`.
    Relay { to: NodeId, msg: Box<Msg> },
    /// Between quorum queue members.
    Raft(Box<RaftMsg<QueueMachine>>),
    /// A quorum queue channel enters (`true`) or leaves flow control: the publisher's connection
    /// is blocked while its channel has too many enqueues pending. Also a resource alarm's
    /// `connection.blocked` / `connection.unblocked` (classic queues, see [`alarm`]).
    Flow { blocked: bool },
}

/// Timers, each owned by one node.
#[derive(Debug)]
pub enum Timer {
    /// The consumer application's current job is done working.
    JobEnd,
    /// The producer re-publishes what was not confirmed in time.
    ConfirmCheck,
    /// The queue's node checks `consumer_timeout`.
    ConsumerTimeoutCheck,
    /// The head of group `.0`'s queue may have reached its `x-message-ttl`.
    Expiry(GroupIdx),
    /// A disconnected client (a consumer, or with quorum queues the producer) tries to reconnect.
    Reconnect,
    /// A quorum queue member's election timer, void unless its generation is current.
    RaftElection(u64),
    /// A quorum queue leader's tick, void unless its generation is current.
    RaftTick(u64),
    /// The stream's scheduled retention evaluation, void unless its generation is current.
    StreamRetention(u64),
    /// Half a heartbeat interval passed on `end` of client `client`'s connection number `conn`.
    Heartbeat { client: NodeId, end: End, conn: u32 },
    /// A member sends its Aten heartbeats.
    AtenBeat,
    /// A member's Aten detector polls.
    AtenPoll,
    /// A member's distribution connections tick (`net_ticktime / 4`).
    NetTick,
    /// A channel's command that found no leader is tried again (tries left).
    Redirect(Box<Command>, u8),
    /// A consumer cancelled by its node (`basic.cancel`) subscribes again.
    Resubscribe,
    /// A queue process that withheld credit may have caught up.
    CreditCheck(ProcessId),
    /// A node with a resource alarm raised samples again (see [`alarm`]).
    AlarmCheck,
}

#[derive(Debug)]
pub enum Event {
    Net(Envelope<Msg, Timer>),
    /// A message that waited at its node for the CPU or its queue's process (a calibrated
    /// profile): handled now.
    Served(Envelope<Msg, Timer>),
    /// Step `i` of the scenario's fault schedule.
    Fault(usize),
    /// Step `i` of the scenario's operations (a queue bound late, scaling, restarts).
    Operation(usize),
    /// The offered load's next message is due (at whichever producer it is for).
    Arrival,
}

impl From<Envelope<Msg, Timer>> for Event {
    fn from(e: Envelope<Msg, Timer>) -> Self {
        Event::Net(e)
    }
}

/// The queue's home node.
const QUEUE_NODE: NodeId = 0;

/// The queues' node's state: its classic queues (emptied for quorum queues and streams), and its
/// stream if `queue_type = "stream"`.
struct Node0<'a> {
    classic: &'a mut ClassicNode,
    stream: Option<&'a mut stream::Stream>,
}

/// Sends `msg` from `node` to client `to` through its connection's node `home`: directly if that
/// is `node`, else relayed through it.
fn send_to_client<R>(out: &mut impl Effects<Msg, Timer, R>, node: NodeId, home: NodeId, to: NodeId, msg: Msg) {
    if home == node {
        out.send(home, to, msg);
    } else {
        out.send(node, home, Msg::Relay { to, msg: Box::new(msg) });
    }
}

/// The node a client with `placement` connects to: its own broker, or the queue's node (for a
/// quorum queue, where its first leader is).
fn client_node(placement: ClientNode) -> NodeId {
    match placement {
        ClientNode::Leader => QUEUE_NODE,
        ClientNode::Broker(b) => b as NodeId,
    }
}

/// Where the broker nodes' records go, at `now`: a client's event to the history and the drain
/// watch, any other observation to the history; a publish lost on the way is recorded as dropped
/// (no queue holds it).
#[inline(always)]
fn observe<'a, H: History>(
    history: &'a mut H,
    drain: &'a mut DrainWatch,
    now: SimTime,
) -> impl FnMut(Handed<Msg, Observation>) + 'a {
    #[inline(always)]
    move |h| match h {
        Handed::Record(Observation::Client(e)) => super::record_client(history, drain, now, e),
        Handed::Record(o) => history.record(now, o),
        Handed::Returned { msg: Msg::Publish(m), .. } => {
            history.record(now, Observation::Deleted { id: m.id, group: None })
        }
        Handed::Returned { .. } => {}
    }
}

pub struct RabbitModel<'h, H: History> {
    history: &'h mut H,
    world: World,
    cfg: RabbitMqConfig,
    /// The nodes' costs and the queues' processes, in a world with resources.
    costs: Option<costs::Costs>,
    /// The offered load: every message, in time order, each for producer `id % producers`.
    producer: Producer,
    /// The publishing clients, one per host (`[workload] producers`) (their handlers' effects:
    /// [`RabbitModel::publisher_parts`]).
    publishers: Vec<Publisher>,
    processing: ProcessingTimes,
    /// The classic queues' node (emptied for quorum queues and streams).
    classic: ClassicNode,
    /// The consuming clients, per group, and their handlers' effects, applied by
    /// [`RabbitModel::apply_consumer`].
    consumers: Vec<Vec<ConsumerNode>>,
    /// Node -> (group, consumer) for consumer nodes.
    consumer_of: NodeMap<(GroupIdx, u32)>,
    /// The fault schedule and how far it got.
    faults: FaultSchedule,
    /// The queue processes withholding credit (a calibrated profile only): while there is one,
    /// the node stops reading the producer's connection.
    credit_blocked: BTreeSet<ProcessId>,
    /// The queues' node's memory and disk alarms (a calibrated profile, classic queues).
    alarms: Option<alarm::Monitor>,
    /// Publishes that reached the node while it did not read the producer's connection: they
    /// wait in the socket and are read once credit is back.
    unread: VecDeque<Envelope<Msg, Timer>>,
    /// The quorum queues' Raft group, if `queue_type = "quorum"`.
    quorum: Option<Quorum>,
    /// The stream, if `queue_type = "stream"`.
    stream: Option<stream::Stream>,
    /// Fault steps already applied.
    /// When this run must stop although not finished.
    drain: DrainWatch,
    /// Per group: its queue is declared and bound to the exchange (from the group's start).
    bound: Vec<bool>,
    /// Exchanges and bindings (issue 18): the queues each message is routed to; `None`: fanout.
    routing: Option<std::sync::Arc<crate::subscriptions::Subscriptions>>,
    /// The bound queues a publish being charged is routed to (reused).
    routed_scratch: Vec<bool>,
    /// The operator's schedule, how far it got, and each group's running consumers.
    operations: OperationSchedule,
    /// The schedule has a partition: heartbeats and failure detectors run. Without one they could
    /// never fire (a crashed process's peers see its connections close), so they are not run.
    detect: bool,
    /// What cut links hold (the world holds: TCP connections).
    held: Held<Msg, Timer>,
    /// Per node: for a client, the client and broker ends of its connection.
    beats: Vec<[Silence; 2]>,
    /// Between quorum queue members `a` and `b` (index `a * replicas + b`), as `a` sees `b`: when
    /// its last Aten heartbeat arrived, whether Aten reports it down, and the distribution
    /// connection's tick state.
    aten_heard: Vec<Option<SimTime>>,
    aten_down: Vec<bool>,
    dist: Vec<Silence>,
}

impl<'h, H: History> RabbitModel<'h, H> {
    pub fn new(s: &Scenario, history: &'h mut H, sched: &mut Scheduler<Event>) -> Self {
        let brokers = s.brokers as usize;
        // A node for every consumer a group ever runs; those not running yet start down.
        let consumer_count: usize = s.groups.iter().map(|g| g.max_consumers as usize).sum();
        // TCP connections: a cut holds what crosses it (see `liveness`).
        let producers = s.workload.producers as usize;
        let mut world = World::holding(brokers + producers + consumer_count, s.network.latency)
            .costed(s.body.map(|b| b.hardware), s.seed);
        let costs =
            s.body.map(|body| costs::Costs::new(&mut world, body.rabbitmq, s.groups.len(), brokers, &s.rabbitmq));
        let detect = s.faults.iter().any(|f| f.action == FaultAction::Partition);
        let nodes = world.len();
        let replicas = s.rabbitmq.replicas as usize;
        let mut consumer_of = NodeMap::default();
        let mut next = (brokers + producers) as NodeId;
        let publisher_cfg = publisher::PublisherCfg {
            confirms: s.rabbitmq.publisher_confirms,
            max_unconfirmed: s.rabbitmq.max_unconfirmed,
            confirm_timeout: d::RABBITMQ_CONFIRM_TIMEOUT,
            give_up_after: GIVE_UP_AFTER,
        };
        let consumers = s
            .groups
            .iter()
            .enumerate()
            .map(|(g, grp)| {
                (0..grp.max_consumers)
                    .map(|c| {
                        let node = next;
                        next += 1;
                        consumer_of.insert(node, (g, c));
                        let cfg = ConsumerCfg {
                            manual_ack: s.rabbitmq.manual_ack,
                            cancel_notify: s.rabbitmq.consumer_cancel_notify,
                            // Which processing attempts fail (issue 18, item 5), and what the
                            // consumer then does.
                            failures: crate::failures::Failures::for_group(s, g),
                            on_failure: grp.failures.rabbitmq,
                        };
                        ConsumerNode::new(node, g, c, client_node(s.rabbitmq.consumer_node), cfg)
                    })
                    .collect()
            })
            .collect();
        let mut m = RabbitModel {
            history,
            world,
            costs,
            cfg: s.rabbitmq.clone(),
            producer: Producer::new(s),
            publishers: (0..producers)
                .map(|k| Publisher::new((brokers + k) as NodeId, client_node(s.rabbitmq.producer_node), publisher_cfg))
                .collect(),
            processing: ProcessingTimes::new(s),
            classic: ClassicNode::new(s),
            bound: s.groups.iter().map(|g| g.start == SimTime::ZERO).collect(),
            routing: crate::subscriptions::Subscriptions::new(s).map(std::sync::Arc::new),
            routed_scratch: Vec::new(),
            operations: OperationSchedule::new(s),
            consumers,
            consumer_of,
            faults: FaultSchedule::new(s),
            credit_blocked: BTreeSet::new(),
            alarms: s.body.filter(|_| s.rabbitmq.queue_type == crate::scenario::QueueType::Classic).map(|b| {
                let hw = b.hardware;
                let r = &s.rabbitmq;
                alarm::Monitor::new(
                    QUEUE_NODE,
                    hw.ram_bytes,
                    r.vm_memory_high_watermark,
                    hw.disk_size_bytes,
                    r.disk_free_limit,
                )
            }),
            unread: VecDeque::new(),
            quorum: None,
            stream: None,
            drain: DrainWatch::new(s),
            detect,
            held: Held::default(),
            beats: vec![[Silence::default(); 2]; if detect { nodes } else { 0 }],
            aten_heard: vec![None; replicas * replicas],
            aten_down: vec![false; replicas * replicas],
            dist: vec![Silence::default(); replicas * replicas],
        };
        if s.rabbitmq.queue_type == crate::scenario::QueueType::Quorum {
            m.quorum = Some(Quorum::new(s, |n| m.world.incarnation(n)));
            m.classic.queues.clear();
        }
        if let Some(cfg) = &s.rabbitmq.stream {
            m.stream = Some(stream::Stream::new(s, cfg.clone()));
            m.classic.queues.clear();
            // The groups there from the start subscribed before the first message, in order.
            for g in 0..m.consumers.len() {
                for c in 0..m.operations.running(g) {
                    let (Node0 { stream, .. }, ctx, mut out) = m.node0_parts(sched);
                    let subscribe = Msg::Subscribe { group: g, consumer: c, reg: 0 };
                    stream.expect("a stream").on_message(SimTime::ZERO, subscribe, &ctx, &mut out);
                }
                for c in &mut m.consumers[g][m.operations.running(g) as usize..] {
                    m.world.crash(c.node);
                    c.home = None;
                }
            }
        }
        // Consumers are subscribed before the first message arrives; those not running yet
        // (a queue bound later, room to scale out) start down.
        for (g, q) in m.classic.queues.iter_mut().enumerate() {
            for c in 0..m.operations.running(g) {
                q.subscribe(c, m.cfg.prefetch, 0);
            }
        }
        // Whatever the queue type.
        for (g, consumers) in m.consumers.iter_mut().enumerate() {
            for c in &mut consumers[m.operations.running(g) as usize..] {
                m.world.crash(c.node);
                c.home = None;
            }
        }
        for (i, o) in m.operations.steps() {
            sched.schedule_at(o.at, Event::Operation(i));
        }
        super::arm_arrival(&m.producer, sched, Event::Arrival);
        m.quorum_start(sched);
        m.start_detectors(sched);
        for (i, f) in m.faults.steps() {
            sched.schedule_at(f.at, Event::Fault(i));
        }
        m
    }

    /// The publisher whose host is `node`, if it is one.
    #[inline]
    fn publisher_of(&self, node: NodeId) -> Option<usize> {
        let k = node.checked_sub(self.publishers[0].node)? as usize;
        (k < self.publishers.len()).then_some(k)
    }

    /// The first client node: brokers are below it, clients (publishers, then consumers) from it.
    #[inline]
    fn first_client(&self) -> NodeId {
        self.publishers[0].node
    }

    /// The publisher of message `id`.
    #[inline]
    fn publisher_for(&self, id: MessageId) -> usize {
        crate::workload::producer_for(id, self.publishers.len())
    }

    fn obs(&mut self, now: SimTime, o: Observation) {
        self.history.record(now, o);
    }

    /// Publishing is over: the producer sent its last message, or it is down and the schedule
    /// will not restart it (what it would have sent is never sent).
    fn publishing_over(&self) -> bool {
        (self.producer.done() && self.publishers.iter().all(|p| p.window_waiting.is_empty()))
            || (self.faults.over() && self.publishers.iter().all(|p| !self.world.is_up(p.node)))
    }

    // ---- producer node ----

    /// The offered load's next message is due: its publisher (`id mod producers`) publishes it,
    /// unless that publisher's host is down (then it is never sent).
    fn arrival(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let hosts = &self.publishers;
        let due =
            super::due_message(&mut self.producer, sched, Event::Arrival, &self.world, hosts.len(), |k| hosts[k].node);
        let Some((k, msg)) = due else { return };
        let (p, mut out) = self.publisher_parts(k, sched);
        p.arrival(now, msg, &mut out);
    }

    /// Publisher `k`, and where its handlers' effects go: through the world as they are issued,
    /// its client events to the history, and a publish given up or lost on the way recorded as
    /// dropped (no queue holds it).
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn publisher_parts<'a>(
        &'a mut self,
        k: usize,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut Publisher, Direct<'a, Event, impl FnMut(Handed<Msg, publisher::Note>) + 'a>) {
        let now = sched.now();
        let (history, drain) = (&mut *self.history, &mut self.drain);
        let out = Direct::new(
            &mut self.world,
            sched,
            #[inline(always)]
            move |h| match h {
                Handed::Record(publisher::Note::Client(e)) => super::record_client(history, drain, now, e),
                Handed::Record(publisher::Note::Dropped(id))
                | Handed::Returned { msg: Msg::Publish(Message { id, .. }), .. } => {
                    history.record(now, Observation::Deleted { id, group: None })
                }
                Handed::Returned { .. } => {}
            },
        );
        (&mut self.publishers[k], out)
    }

    /// A frame admitted at its node: read now, or left unread in its socket (credit flow); under a
    /// calibrated profile it waits for its node's CPU and its queue's process, then is handled.
    fn arrived(&mut self, now: SimTime, env: Envelope<Msg, Timer>, sched: &mut Scheduler<Event>) {
        if let Envelope::Message { from, msg: Msg::Publish(_), .. } = &env
            && self.publisher_of(*from).is_some()
            && self.not_reading()
        {
            // Credit flow or a resource alarm: the node does not read the producer's connection
            // now.
            self.unread.push_back(env);
            return;
        }
        if let Some(c) = &self.costs
            && let Envelope::Message { from, to, msg, .. } = &env
        {
            // The frame waits for its node's CPU and its queue's process: handled when
            // served, so that a saturated queue builds a queue of work.
            let bound = match (&self.routing, msg) {
                (Some(r), Msg::Publish(m)) => {
                    let routed = r.rabbitmq(m.id);
                    self.routed_scratch.clear();
                    let each = self.bound.iter().enumerate().map(|(g, b)| *b && crate::subscriptions::has(routed, g));
                    self.routed_scratch.extend(each);
                    &self.routed_scratch
                }
                _ => &self.bound,
            };
            let leads = self.quorum.is_some() && self.leader_seen_from(*to) == Some(*to);
            let handed = c.charge(&mut self.world, *to, now, msg, bound, leads);
            let (from, to) = (*from, *to);
            let served = self.world.served_at(now, from, to);
            if let Some(p) = handed {
                self.credit_flow(now, to, p, sched);
            }
            if let Some(done) = served {
                sched.schedule_at(done, Event::Served(env));
                return;
            }
        }
        self.handle_envelope(now, env, sched);
    }

    /// Credit flow at node `node`, which just handed a publish to queue process `p`: past the
    /// credit, the producer's connection is blocked until every such process has caught up.
    fn credit_flow(&mut self, now: SimTime, node: NodeId, p: ProcessId, sched: &mut Scheduler<Event>) {
        let Some(c) = &self.costs else { return };
        let (state, resume) = c.credit(&self.world, p, now);
        if state == Some(true) && self.credit_blocked.insert(p) {
            self.world.timer_in(sched, node, resume.since(now), Timer::CreditCheck(p));
        }
    }

    /// A process that withheld credit may have caught up: if so it grants credit again.
    fn credit_check(&mut self, now: SimTime, node: NodeId, p: ProcessId, sched: &mut Scheduler<Event>) {
        let Some(c) = &self.costs else { return };
        if !self.credit_blocked.contains(&p) {
            return;
        }
        let (state, resume) = c.credit(&self.world, p, now);
        if state == Some(false) {
            self.credit_blocked.remove(&p);
            self.read_unread(now, sched);
        } else {
            self.world.timer_in(sched, node, resume.since(now), Timer::CreditCheck(p));
        }
    }

    /// The node does not read the producer's connection: a queue withholds credit, or a resource
    /// alarm is raised (`rabbit_reader` stops reading a blocked publisher's socket).
    fn not_reading(&self) -> bool {
        !self.credit_blocked.is_empty() || self.alarms.as_ref().is_some_and(|a| a.blocked())
    }

    /// The node reads the producer's connection again, until it stops again.
    fn read_unread(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        while !self.not_reading()
            && let Some(env) = self.unread.pop_front()
        {
            // Admitted when it arrived: the node reads it now.
            self.arrived(now, env, sched);
        }
    }

    /// The resource monitors take the samples due before this event; while an alarm is raised a
    /// timer wakes the node for its next sample (set again by each later event, so that a node
    /// where nothing happens any more sleeps). An alarm raised or cleared blocks or unblocks the
    /// producer's connection wherever it is (`rabbit_alarm` tells every node of the cluster): the
    /// node stops reading its socket (what is on the wire waits there) and sends
    /// `connection.blocked` / `connection.unblocked`; the application, blocked in `basic.publish`
    /// meanwhile, keeps its messages.
    fn alarm_tick(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let Some(a) = &self.alarms else { return };
        if a.due(now) {
            let held = alarm::held_by(&self.classic.queues, self.cfg.persistent);
            let a = self.alarms.as_mut().expect("checked above");
            let was = a.blocked();
            a.check(now, held);
            let blocked = a.blocked();
            if was != blocked {
                // Sent by the monitor, not by a handler under way.
                self.world.end();
                for k in 0..self.publishers.len() {
                    if let Some(home) = self.publishers[k].home {
                        self.world.send(sched, home, self.publishers[k].node, Msg::Flow { blocked });
                    }
                }
            }
            if !blocked {
                self.read_unread(now, sched);
            }
        }
        let a = self.alarms.as_mut().expect("checked above");
        if a.blocked() && a.armed.is_none_or(|t| t < now) {
            let at = a.next_check();
            a.armed = Some(at);
            self.world.timer_at(sched, QUEUE_NODE, at, Timer::AlarmCheck);
        }
    }

    /// The alarms raised over a run that ended at `end`, if any.
    fn alarms_raised(&self, end: SimTime) -> Option<crate::world::alarms::ResourceAlarms> {
        let a = self.alarms.as_ref()?;
        let peak = (a.peak.memory, a.peak.disk);
        crate::world::alarms::ResourceAlarms::of(&a.spans, a.limits(), peak, end)
    }

    /// A publish that never reached the exchange: no queue holds it.
    fn dropped_publish(&mut self, now: SimTime, msg: &Message) {
        self.obs(now, Observation::Deleted { id: msg.id, group: None });
    }

    /// The world dropped `env` on its way (its link reset, or an end died): a publish reached no
    /// queue; a quorum queue channel's forwarded enqueue no longer counts towards its soft limit.
    fn dropped_on_the_way(&mut self, now: SimTime, env: Envelope<Msg, Timer>, sched: &mut Scheduler<Event>) {
        match env {
            Envelope::Message { msg: Msg::Publish(m), .. } => self.dropped_publish(now, &m),
            Envelope::Message { msg: Msg::Forward(cmd), .. } => {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.forward_lost(*cmd, &ctx, &mut fx);
            }
            _ => {}
        }
    }

    // ---- the classic queues' node (classic_node.rs) ----

    /// The queues' node (its classic queues, or its stream), what it reads around it, and where its
    /// handlers' effects go: through the world as they are issued, its records to the history.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn node0_parts<'a>(
        &'a mut self,
        sched: &'a mut Scheduler<Event>,
    ) -> (Node0<'a>, Around<'a>, Direct<'a, Event, impl FnMut(Handed<Msg, Observation>) + 'a>) {
        let now = sched.now();
        let out = Direct::new(&mut self.world, sched, observe(&mut *self.history, &mut self.drain, now));
        let around = Around {
            bound: &self.bound,
            routing: self.routing.as_deref(),
            consumers: &self.consumers,
            publishers: &self.publishers,
            steps: H::STEPS,
            confirms_unroutable: self.cfg.publisher_confirms && !self.cfg.persistent,
        };
        (Node0 { classic: &mut self.classic, stream: self.stream.as_mut() }, around, out)
    }

    // ---- the quorum queues' nodes (quorum_node.rs) ----

    /// The quorum queues' members, what they read around them, and where their handlers' effects
    /// go: through the world as they are issued, their records to the history.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn quorum_parts<'a>(
        &'a mut self,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut Quorum, Clients<'a>, Direct<'a, Event, impl FnMut(Handed<Msg, Observation>) + 'a>) {
        let now = sched.now();
        let out = Direct::new(&mut self.world, sched, observe(&mut *self.history, &mut self.drain, now));
        let clients = Clients {
            consumers: &self.consumers,
            publishers: &self.publishers,
            ends: liveness::BrokerEnds(self.detect.then_some(&self.beats[..])),
            steps: H::STEPS,
        };
        (self.quorum.as_mut().expect("quorum queues"), clients, out)
    }

    // ---- consumer nodes ----

    /// Consumer `consumer` of `group`, its group's processing times, and where its handlers'
    /// effects go: through the world as they are issued, its records to the history as client
    /// events.
    // The effects' sink is a closure, whose type has no name to give an alias.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn consumer_parts<'a>(
        &'a mut self,
        group: GroupIdx,
        consumer: u32,
        sched: &'a mut Scheduler<Event>,
    ) -> (&'a mut ConsumerNode, &'a ProcessingTimes, Direct<'a, Event, impl FnMut(Handed<Msg, ClientEvent>) + 'a>) {
        let now = sched.now();
        let (history, drain) = (&mut *self.history, &mut self.drain);
        let out = Direct::new(
            &mut self.world,
            sched,
            #[inline(always)]
            move |h| {
                if let Handed::Record(e) = h {
                    super::record_client(history, drain, now, e);
                }
            },
        );
        (&mut self.consumers[group][consumer as usize], &self.processing, out)
    }

    /// The channel is gone (timeout or node crash): deliveries not started cannot be acked any more
    /// and the node requeued them; the application drops them and subscribes again.
    fn channel_lost(&mut self, group: GroupIdx, consumer: u32) {
        self.consumers[group][consumer as usize].channel_lost();
    }

    /// What a client on `node` placed by `placement` learns when it dials: the node it connects to
    /// (with quorum queues and `"leader"` placement, the live leader's: the client reads it from
    /// the cluster, here from the nodes that are up), whether its host reaches that node, and the
    /// heartbeat interval while the detectors run.
    fn dial(&self, node: NodeId, placement: ClientNode) -> Dial {
        let broker = match (&self.quorum, placement) {
            (Some(q), ClientNode::Leader) => q.leader(|n| self.world.is_up(n)),
            _ => Some(client_node(placement)),
        };
        Dial {
            broker,
            reachable: broker.is_some_and(|b| self.world.connected(node, b)),
            heartbeat: self.detect.then_some(self.cfg.heartbeat),
        }
    }

    /// The client on `node` lost its connection: its broker node died, or an end gave up on it
    /// (heartbeats). A publisher's frames that its node had not read die with the connection.
    pub(super) fn connection_lost(&mut self, now: SimTime, node: NodeId, sched: &mut Scheduler<Event>) {
        if let Some(k) = self.publisher_of(node) {
            // With its connection gone, no queue withholds credit from it.
            if self.publishers.len() == 1 {
                self.credit_blocked.clear();
            }
            for env in std::mem::take(&mut self.unread) {
                match env {
                    Envelope::Message { from, msg: Msg::Publish(m), .. } if from == node => {
                        self.dropped_publish(now, &m)
                    }
                    Envelope::Message { msg: Msg::Publish(_), .. } => self.unread.push_back(env),
                    _ => {}
                }
            }
            let (p, mut out) = self.publisher_parts(k, sched);
            p.connection_lost(&mut out);
        } else {
            let (group, consumer) = self.consumer_of[node];
            let quorum = self.quorum.is_some();
            let (c, _, mut out) = self.consumer_parts(group, consumer, sched);
            c.connection_lost(quorum, &mut out);
        }
    }

    /// Consumer `consumer` of `group` connects again (its timer, or its host's restart).
    fn reconnect(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let node = self.consumers[group][consumer as usize].node;
        let (dial, quorum) = (self.dial(node, self.cfg.consumer_node), self.quorum.is_some());
        let opened = {
            let (c, _, mut out) = self.consumer_parts(group, consumer, sched);
            c.reconnect(dial, quorum, &mut out)
        };
        self.watch_connection(node, opened);
    }

    /// Publisher `k` connects again (its timer, or its host's restart).
    fn reconnect_producer(&mut self, k: usize, sched: &mut Scheduler<Event>) {
        let node = self.publishers[k].node;
        let (dial, quorum) = (self.dial(node, self.cfg.producer_node), self.quorum.is_some());
        let opened = {
            let (p, mut out) = self.publisher_parts(k, sched);
            p.reconnect(dial, quorum, &mut out)
        };
        // With quorum queues the publisher only reconnects while disconnected, and a failed dial
        // leaves it so: a node now means a new connection (watched or not), with a new channel.
        if let (Some(b), Some(q)) = (self.publishers[k].home, &mut self.quorum) {
            q.channel_opened(b, self.world.incarnation(b), k);
        }
        self.watch_connection(node, opened);
    }

    /// A classic queue's (or stream's) clients connected to node `b`, not the queue's, lose their
    /// connections with it; the queue's node sees those consumers' channels close (its monitors)
    /// and requeues their deliveries.
    fn client_node_crashed(&mut self, b: NodeId, sched: &mut Scheduler<Event>) {
        self.broker_ends_died(b);
        self.publishers_lose(b, sched);
        for group in 0..self.consumers.len() {
            for consumer in 0..self.consumers[group].len() as u32 {
                let c = &self.consumers[group][consumer as usize];
                if c.home == Some(b) {
                    let (node, conn, reg) = (c.node, c.conn, c.reg);
                    self.world.send_from_os(sched, b, node, Msg::ConnectionLost { conn });
                    self.world.send_from_os(sched, b, QUEUE_NODE, Msg::ConnectionClosed { group, consumer, reg });
                }
            }
        }
    }

    /// Broker node `b` died: the publishers connected to it lose their connections.
    fn publishers_lose(&mut self, b: NodeId, sched: &mut Scheduler<Event>) {
        for p in &self.publishers {
            if p.home == Some(b) {
                self.world.send_from_os(sched, b, p.node, Msg::ConnectionLost { conn: p.conn });
            }
        }
    }

    /// The queue's node died: transient messages are gone; the connections to it closed. Consumers
    /// connected to other nodes keep their connections and get `basic.cancel` instead (their
    /// channels' monitors of the queue fire: `rabbit_channel:handle_consuming_queue_down_or_eol`),
    /// if they present the `consumer_cancel_notify` capability.
    fn queue_node_crashed(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        self.classic.timers_died();
        self.broker_ends_died(QUEUE_NODE);
        for k in 0..self.publishers.len() {
            let node = self.publishers[k].node;
            if self.world.is_up(node) && client_node(self.cfg.producer_node) == QUEUE_NODE {
                self.connection_lost(now, node, sched);
            }
        }
        if let Some(st) = &mut self.stream {
            // The log and the stored offsets are on disk; connected consumers lose their
            // connections and reconnect.
            st.crashed();
            for group in 0..self.consumers.len() {
                for consumer in 0..self.consumers[group].len() as u32 {
                    let node = self.consumers[group][consumer as usize].node;
                    if self.world.is_up(node) {
                        self.channel_lost(group, consumer);
                        self.world.timer_in(sched, node, d::RABBITMQ_RECOVERY_INTERVAL, Timer::Reconnect);
                    }
                }
            }
            return;
        }
        for group in 0..self.classic.queues.len() {
            let lost = self.classic.queues[group].crash(self.cfg.persistent);
            let bytes: u64 = lost.iter().map(|m| m.bytes()).sum();
            for m in lost {
                self.obs(now, Observation::Deleted { id: m.id(), group: Some(group) });
            }
            if bytes > 0 {
                self.obs(now, Observation::StorageChanged { delta: -(bytes as i64) });
            }
            {
                let (Node0 { classic: q, .. }, _, mut out) = self.node0_parts(sched);
                q.report_depth(group, &mut out);
            }
            for consumer in 0..self.consumers[group].len() as u32 {
                let c = &self.consumers[group][consumer as usize];
                let node = c.node;
                if !self.world.is_up(node) {
                    continue;
                }
                if client_node(self.cfg.consumer_node) == QUEUE_NODE {
                    self.channel_lost(group, consumer);
                    self.world.timer_in(sched, node, d::RABBITMQ_RECOVERY_INTERVAL, Timer::Reconnect);
                } else if let Some(home) = c.home.filter(|_| self.cfg.consumer_cancel_notify) {
                    let cancel = Msg::Relay { to: node, msg: Box::new(Msg::Cancel) };
                    self.world.send_from_os(sched, QUEUE_NODE, home, cancel);
                }
            }
        }
    }

    fn on_message(&mut self, now: SimTime, from: NodeId, to: NodeId, msg: Msg, sched: &mut Scheduler<Event>) {
        match msg {
            Msg::Confirm(id) => {
                let k = self.publisher_for(id);
                let (p, mut out) = self.publisher_parts(k, sched);
                p.confirm(now, id, &mut out);
            }
            Msg::Deliver { group, consumer, reg, msg, redelivered } => {
                let d = Delivery { msg, redelivered };
                {
                    let (c, p, mut out) = self.consumer_parts(group, consumer, sched);
                    c.deliver(reg, d, p, &mut out);
                }
            }
            Msg::ChannelClosed => {
                let (group, consumer) = self.consumer_of[to];
                self.channel_lost(group, consumer);
                self.resubscribe(group, consumer, sched);
            }
            Msg::Cancel => {
                let (group, consumer) = self.consumer_of[to];
                {
                    let (c, _, mut out) = self.consumer_parts(group, consumer, sched);
                    c.cancelled(&mut out);
                }
            }
            Msg::ConnectionLost { conn } => {
                if self.client_conn(to) == Some(conn) {
                    self.connection_lost(now, to, sched)
                }
            }
            Msg::Flow { blocked } => {
                let k = self.publisher_of(to).expect("flow control is for publishers");
                let (p, mut out) = self.publisher_parts(k, sched);
                p.flow(from, blocked, &mut out);
            }
            Msg::Raft(m) => {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.raft_message(now, from, to, *m, &ctx, &mut fx);
            }
            // At a broker node.
            m @ (Msg::Publish(_)
            | Msg::Ack { .. }
            | Msg::Nack { .. }
            | Msg::Subscribe { .. }
            | Msg::ConnectionClosed { .. })
                if self.quorum.is_some() =>
            {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.client_message(now, to, m, &ctx, &mut fx);
            }
            m @ (Msg::Publish(_) | Msg::Ack { .. } | Msg::Subscribe { .. } | Msg::ConnectionClosed { .. })
                if self.stream.is_some() =>
            {
                let (Node0 { stream, .. }, ctx, mut out) = self.node0_parts(sched);
                stream.expect("a stream").on_message(now, m, &ctx, &mut out);
            }
            m @ (Msg::Publish(_)
            | Msg::Ack { .. }
            | Msg::Nack { .. }
            | Msg::Subscribe { .. }
            | Msg::ConnectionClosed { .. })
                if to != QUEUE_NODE && from >= self.first_client() =>
            {
                // Its queue's process is monitored: the channel knows whether it is alive.
                let queue_alive = self.world.is_up(QUEUE_NODE);
                let (_, ctx, mut out) = self.node0_parts(sched);
                classic_node::channel_forward(to, queue_alive, m, &ctx, &mut out);
            }
            // At the queue's node: from a client connected there, or from its channel on another
            // node.
            Msg::Publish(m) => {
                let channel = if from < self.first_client() { from } else { to };
                let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                q.route(now, m, channel, &ctx, &mut out);
            }
            Msg::Ack { group, consumer, reg, id } => {
                let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                q.ack(now, group, consumer, reg, id, &ctx, &mut out);
            }
            Msg::Nack { group, consumer, reg, id, how } => {
                let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                q.nack(now, group, (consumer, reg), id, how.requeues(), &ctx, &mut out);
            }
            Msg::Subscribe { group, consumer, reg } => {
                let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                q.subscribe(now, group, consumer, reg, &ctx, &mut out);
            }
            Msg::ConnectionClosed { group, consumer, reg } => {
                if self.classic.queues[group].channel_reg(consumer) == Some(reg) {
                    let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                    q.connection_closed(now, group, consumer, &ctx, &mut out);
                }
            }
            Msg::Heartbeat | Msg::DistTick => {}
            Msg::AtenBeat => self.aten_beat_arrived(now, from, to),
            Msg::Forward(cmd) => {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.forwarded(now, to, *cmd, &ctx, &mut fx);
            }
            Msg::Relay { to: client, msg } => {
                self.world.send(sched, to, client, *msg);
            }
        }
    }

    /// After `consumer_timeout` closed its channel, the consumer subscribes again on the same
    /// connection.
    fn resubscribe(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let quorum = self.quorum.is_some();
        {
            let (c, _, mut out) = self.consumer_parts(group, consumer, sched);
            c.resubscribe(quorum, &mut out);
        }
    }

    fn on_timer(&mut self, now: SimTime, node: NodeId, timer: Timer, sched: &mut Scheduler<Event>) {
        match timer {
            Timer::ConfirmCheck => {
                let k = self.publisher_of(node).expect("a publisher's timer");
                let (p, mut out) = self.publisher_parts(k, sched);
                p.confirm_check(now, &mut out);
            }
            Timer::ConsumerTimeoutCheck => {
                let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                q.consumer_timeout_check(now, &ctx, &mut out);
            }
            Timer::Expiry(group) => {
                let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
                q.expiry_due(now, group, &ctx, &mut out);
            }
            Timer::RaftElection(generation) => {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.election_timeout(now, node, generation, &ctx, &mut fx);
            }
            Timer::RaftTick(generation) => {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.tick(now, node, generation, &ctx, &mut fx);
            }
            Timer::StreamRetention(generation) => {
                let (Node0 { stream, .. }, _, mut out) = self.node0_parts(sched);
                stream.expect("a stream").retention_due(now, generation, &mut out);
            }
            Timer::Reconnect if let Some(k) = self.publisher_of(node) => self.reconnect_producer(k, sched),
            Timer::Heartbeat { client, end, conn } => self.heartbeat(now, node, client, end, conn, sched),
            Timer::AtenBeat => self.aten_beat(node, sched),
            Timer::AtenPoll => self.aten_poll(now, node, sched),
            Timer::NetTick => self.net_tick(now, node, sched),
            Timer::Redirect(cmd, left) => {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.redirect(now, node, *cmd, left, &ctx, &mut fx);
            }
            Timer::CreditCheck(p) => self.credit_check(now, node, p, sched),
            Timer::AlarmCheck => {
                // Sampled before this event (`alarm_tick`); a later event sets the next one.
                if let Some(a) = &mut self.alarms
                    && a.armed == Some(now)
                {
                    a.armed = None;
                }
            }
            Timer::JobEnd | Timer::Reconnect | Timer::Resubscribe => {
                let (group, consumer) = self.consumer_of[node];
                match timer {
                    Timer::JobEnd => {
                        let (c, p, mut out) = self.consumer_parts(group, consumer, sched);
                        c.job_end(p, &mut out);
                    }
                    Timer::Resubscribe => {
                        let (c, _, mut out) = self.consumer_parts(group, consumer, sched);
                        c.resubscribe_after_cancel(&mut out);
                    }
                    _ => self.reconnect(group, consumer, sched),
                }
            }
        }
    }
}

impl<H: History> RabbitModel<'_, H> {
    /// A cut link holds `env` until the heal (only during a partition).
    #[cold]
    #[inline(never)]
    fn hold(&mut self, env: Envelope<Msg, Timer>) {
        self.held.hold(env);
    }

    /// The classic queue's node is down for good (no fault step left to restart it): what it
    /// holds can never be delivered, so the run need not wait for it.
    fn classic_stuck(&self) -> bool {
        self.quorum.is_none() && !self.world.is_up(QUEUE_NODE) && self.faults.over()
    }
}

impl<H: History> RabbitModel<'_, H> {
    fn handle_envelope(&mut self, now: SimTime, env: Envelope<Msg, Timer>, sched: &mut Scheduler<Event>) {
        match env {
            Envelope::Message { from, to, msg, .. } => {
                if self.detect {
                    self.heard(from, to);
                }
                self.on_message(now, from, to, msg, sched)
            }
            Envelope::Timer { node, timer, .. } => self.on_timer(now, node, timer, sched),
        }
    }
}

/// What RabbitMQ's nodes do about a step of the fault schedule (the harness, `models::faults`,
/// applies it to the world). Quorum queues have their own answers where their nodes differ.
impl<H: History> FaultVerbs for RabbitModel<'_, H> {
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

    /// Classic queues: the queues' node, crashed and repaired. Quorum queues: the Raft leader at
    /// the crash (none: the step does nothing), and its repair restarts that node.
    fn leader(&mut self, step: usize, repairs: Option<usize>) -> Option<NodeId> {
        if self.quorum.is_some() {
            return self.quorum_leader_hit(step, repairs);
        }
        Some(QUEUE_NODE)
    }

    fn consumer_node(&self, group: GroupIdx, index: u32) -> NodeId {
        self.consumers[group][index as usize].node
    }

    fn producers(&self) -> usize {
        self.publishers.len()
    }

    fn producer_node(&self, k: usize) -> NodeId {
        self.publishers[k].node
    }

    fn consumer_crashed(&mut self, _now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        if self.quorum.is_some() {
            return self.quorum_consumer_crashed(group, index, sched);
        }
        self.consumer_crashed(group, index, sched);
    }

    fn consumer_restarted(&mut self, _now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        self.reconnect(group, index, sched);
    }

    fn consumer_hung(&mut self, group: GroupIdx, index: u32) {
        self.consumers[group][index as usize].app.hang();
    }

    fn consumer_resumed(&mut self, _now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Event>) {
        let (c, p, mut out) = self.consumer_parts(group, index, sched);
        c.resume(p, &mut out);
    }

    /// What waited for the confirm window was never sent.
    fn producer_crashed(&mut self, k: usize) {
        let p = &mut self.publishers[k];
        p.crashed();
        if self.quorum.is_some() {
            // What it had written to its socket and the node had not read dies with its
            // connection.
            p.blocked = false;
            p.outbox.clear();
        }
    }

    fn producers_crashed(&mut self, crashed: &[NodeId]) {
        if self.quorum.is_some() {
            self.quorum_producers_crashed(crashed);
        }
    }

    fn producer_restarted(&mut self, k: usize, sched: &mut Scheduler<Event>) {
        self.reconnect_producer(k, sched);
    }

    fn broker_crashed(&mut self, now: SimTime, b: NodeId, sched: &mut Scheduler<Event>) {
        if self.quorum.is_some() {
            self.quorum_broker_crashed(b, sched);
        } else if b == QUEUE_NODE {
            self.queue_node_crashed(now, sched);
        } else {
            self.client_node_crashed(b, sched);
        }
    }

    fn broker_restarted(&mut self, now: SimTime, b: NodeId, sched: &mut Scheduler<Event>) {
        if self.quorum.is_some() {
            self.quorum_broker_restarted(now, b, sched);
        } else if b == QUEUE_NODE {
            // The queues' TTL timers start again with the node; what expired while it was down
            // expires now.
            let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
            for group in 0..q.queues.len() {
                q.expire(now, group, &ctx, &mut out);
            }
        }
    }

    /// Held messages go on their way.
    fn healed(&mut self, sched: &mut Scheduler<Event>) {
        self.held.release(&self.world, sched);
    }
}

impl<H: History> super::System for RabbitModel<'_, H> {
    fn resources(&self) -> Option<&crate::world::resources::Resources> {
        self.world.resources()
    }

    fn producer_nodes(&self) -> Vec<NodeId> {
        self.publishers.iter().map(|p| p.node).collect()
    }

    fn resource_alarms(&self, end: SimTime) -> Option<crate::world::alarms::ResourceAlarms> {
        self.alarms_raised(end)
    }
}

impl<H: History> Model for RabbitModel<'_, H> {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, sched: &mut Scheduler<Event>) {
        if self.alarms.is_some() {
            self.alarm_tick(now, sched);
        }
        match event {
            Event::Net(env) => {
                match self.world.admit(&env) {
                    Admit::Deliver => {}
                    Admit::Drop => return self.dropped_on_the_way(now, env, sched),
                    Admit::Hold => return self.hold(env),
                }
                self.arrived(now, env, sched);
            }
            Event::Served(env) => {
                if self.world.admit_served(&env) {
                    self.handle_envelope(now, env, sched);
                } else {
                    self.dropped_on_the_way(now, env, sched);
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
            && self.world.in_flight() == 0
            && self.publishers.iter().all(Publisher::idle)
            && self.unread.is_empty()
            && (self.classic.queues.iter().all(|q| q.depth() == 0) || self.classic_stuck())
            && (self.stream.as_ref().is_none_or(|s| s.drained()) || self.classic_stuck())
            && self.quorum.as_ref().is_none_or(|q| q.drained(&self.world, self.faults.over()))
            && self.consumers.iter().flatten().all(|c| !c.app.is_busy() && c.app.waiting() == 0)
    }
}
