//! How RabbitMQ's nodes and clients notice a peer that fell silent: a network partition tells
//! nobody anything, and a node keeps acting on what it believes until one of these detectors
//! fires.
//!
//! * **Client connections (AMQP heartbeats).** Each end of a connection sends a heartbeat frame
//!   every half `heartbeat` (60 s) and checks every `heartbeat` whether anything arrived since its
//!   last check; at the second empty check in a row it closes the connection: 120 to 180 s after
//!   the last data (`rabbit_heartbeat.erl`). The broker end then requeues the consumer's
//!   unacknowledged deliveries (classic queue) or returns them (quorum queue); the client end
//!   drops what it had not started, and reconnects every 5 s (the Java client's
//!   `networkRecoveryInterval`), which succeeds once the link is back. Both ends use the rule
//!   (ours for the client end; the Java client's is alike). Simplification: the real sender skips
//!   the frame when other data went out; data counts alike at the receiver, so detection is the
//!   same.
//! * **Between quorum queue members.** Aten, Ra's failure detector: every member sends each other
//!   a heartbeat every 100 ms and polls every second; a member silent for more than 1.5 gaps
//!   (150 ms) is reported down (`aten_detect.erl`), and a follower whose leader's node is reported
//!   down waits Ra's long election timeout (1 to 2 s) before it asks for pre-votes
//!   (`ra_server_proc.erl`, `follower(info, {node_event, Node, down}, ...)`). A leader ignores
//!   these reports (`leader(info, {node_event, ...})` keeps its state): on the minority side it
//!   stays leader and commits nothing, until a message of a later term reaches it after the heal.
//!   Erlang distribution itself declares a silent peer down after `net_ticktime` (60 to 75 s,
//!   `dist_util.erl`): the connection is dropped with what it held, and Ra's followers see their
//!   leader's monitor fire (`noconnection`).
//!
//! **Links hold.** The world of a RabbitMQ run holds what crosses a cut link (TCP retransmits)
//! and delivers it at the heal, unless an end has given up on the connection first: its reset
//! voids what was sent on it. So a cut shorter than the detectors costs a delay and nothing
//! else; a longer one closes connections, and what they carried is lost (a publish without
//! confirms) or requeued (an unacknowledged delivery) or sent again (with confirms). Held data
//! leaves at the heal (real TCP backs off, up to 2 min between retransmissions).
//!
//! The detectors run only when the schedule has a partition: without one a peer is silent only
//! when its process died, and its operating system closes its connections at once.

use super::quorum_node::PeerDown;
use super::*;

/// Which end of a client's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Client = 0,
    Broker = 1,
}

/// One end's watch on a connection: anything heard since its last check, and empty checks in a
/// row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silence {
    /// The connection's number while this end has it open.
    pub conn: Option<u32>,
    /// The node at the other end (for a client's connection, its broker node).
    pub peer: NodeId,
    /// For a consumer's broker end: its first subscription on this connection.
    pub first_reg: u32,
    heard: bool,
    misses: u8,
    ticks: u32,
}

impl Silence {
    fn open(conn: u32, peer: NodeId, first_reg: u32) -> Self {
        Silence { conn: Some(conn), peer, first_reg, heard: true, misses: 0, ticks: 0 }
    }

    /// A check: returns true at the `misses`-th empty one in a row.
    fn check(&mut self, misses: u8) -> bool {
        if std::mem::take(&mut self.heard) {
            self.misses = 0;
            false
        } else {
            self.misses = self.misses.saturating_add(1);
            self.misses == misses
        }
    }
}

/// The broker ends of the clients' connections, as the queues' side reads them (`None` when no
/// detector runs: only a node crash closes a connection then).
#[derive(Clone, Copy)]
pub(super) struct BrokerEnds<'a>(pub(super) Option<&'a [[Silence; 2]]>);

impl BrokerEnds<'_> {
    /// Whether the broker end of a consumer's connection that made subscription `reg` on `node`
    /// is still open (always, when no detector runs).
    pub(super) fn open(&self, client: NodeId, node: NodeId, reg: u32) -> bool {
        let Some(beats) = self.0 else { return true };
        let b = &beats[client as usize][End::Broker as usize];
        b.conn.is_some() && b.peer == node && reg >= b.first_reg
    }
}

/// Empty checks in a row after which an AMQP connection is closed (`rabbit_heartbeat.erl`).
const HEARTBEAT_MISSES: u8 = 2;
/// Empty ticks in a row after which a distribution connection is down (`dist_util.erl`).
const DIST_MISSES: u8 = 4;

impl<H: History> RabbitModel<'_, H> {
    fn replicas(&self) -> usize {
        self.quorum.as_ref().map_or(0, |_| self.cfg.replicas as usize)
    }

    /// Starts the detectors of the run's first connections and nodes.
    pub(super) fn start_detectors(&mut self, sched: &mut Scheduler<Event>) {
        if !self.detect {
            return;
        }
        for k in 0..self.publishers.len() {
            self.connect_client(self.publishers[k].node, client_node(self.cfg.producer_node), 0, sched);
        }
        let running: Vec<NodeId> = (0..self.consumers.len())
            .flat_map(|g| self.consumers[g][..self.operations.running(g) as usize].iter().map(|c| c.node))
            .collect();
        for node in running {
            self.connect_client(node, client_node(self.cfg.consumer_node), 0, sched);
        }
        for node in 0..self.replicas() as NodeId {
            self.start_member_detectors(node, sched);
        }
    }

    /// A member's node (re)started: its Aten and distribution ticks run again.
    pub(super) fn start_member_detectors(&mut self, node: NodeId, sched: &mut Scheduler<Event>) {
        if !self.detect || node as usize >= self.replicas() {
            return;
        }
        let r = self.replicas();
        for p in 0..r {
            let i = node as usize * r + p;
            self.aten_heard[i] = None;
            self.aten_down[i] = false;
            self.dist[i] = Silence::open(0, p as NodeId, 0);
        }
        self.world.timer_in(sched, node, SimDuration::ZERO, Timer::AtenBeat);
        self.world.timer_in(sched, node, d::RABBITMQ_ATEN_POLL_INTERVAL, Timer::AtenPoll);
        self.world.timer_in(sched, node, SimDuration(d::RABBITMQ_NET_TICKTIME.0 / 4), Timer::NetTick);
    }

    /// The client on `node` opened a connection to `broker` (at the run's start): numbered by the
    /// client's counter, both ends start their heartbeats.
    pub(super) fn connect_client(
        &mut self,
        node: NodeId,
        broker: NodeId,
        first_reg: u32,
        sched: &mut Scheduler<Event>,
    ) {
        if !self.detect {
            return;
        }
        let heartbeat = Some(self.cfg.heartbeat);
        let conn = match self.publisher_of(node) {
            Some(k) => &mut self.publishers[k].conn,
            None => {
                let (g, c) = self.consumer_of[node];
                &mut self.consumers[g][c as usize].conn
            }
        };
        let mut out = Direct::new(&mut self.world, sched, |_: Handed<Msg, ()>| {});
        let opened = connection::open(node, broker, conn, first_reg, heartbeat, &mut out);
        self.watch_connection(node, opened);
    }

    /// The client on `node` opened connection `opened` (if the detectors run): its two ends'
    /// watches start afresh.
    pub(super) fn watch_connection(&mut self, node: NodeId, opened: Option<connection::Opened>) {
        if let Some(o) = opened {
            self.beats[node as usize] = [Silence::open(o.conn, o.broker, o.first_reg); 2];
        }
    }

    /// The client's current connection's number, if it has one open.
    pub(super) fn client_conn(&self, node: NodeId) -> Option<u32> {
        if let Some(k) = self.publisher_of(node) {
            let p = &self.publishers[k];
            p.home.map(|_| p.conn)
        } else {
            let (g, c) = self.consumer_of[node];
            let c = &self.consumers[g][c as usize];
            c.home.map(|_| c.conn)
        }
    }

    /// A message from `from` reached `to`: the end (or distribution connection) that watches it
    /// heard something.
    #[cold]
    #[inline(never)]
    pub(super) fn heard(&mut self, from: NodeId, to: NodeId) {
        let clients = self.first_client();
        if to >= clients {
            let b = &mut self.beats[to as usize][End::Client as usize];
            b.heard |= b.peer == from;
        } else if from >= clients {
            let b = &mut self.beats[from as usize][End::Broker as usize];
            b.heard |= b.peer == to;
        } else {
            let r = self.replicas();
            if (from as usize) < r && (to as usize) < r {
                self.dist[to as usize * r + from as usize].heard = true;
            }
        }
    }

    /// Half a heartbeat interval on one end of a connection: send a heartbeat; every other time,
    /// check what arrived.
    pub(super) fn heartbeat(
        &mut self,
        now: SimTime,
        node: NodeId,
        client: NodeId,
        end: End,
        conn: u32,
        sched: &mut Scheduler<Event>,
    ) {
        let b = &mut self.beats[client as usize][end as usize];
        if b.conn != Some(conn) {
            return; // that connection is closed
        }
        let peer = if end == End::Client { b.peer } else { client };
        b.ticks += 1;
        let dead = b.ticks % 2 == 0 && b.check(HEARTBEAT_MISSES);
        if !dead {
            self.world.send(sched, node, peer, Msg::Heartbeat);
            let half = SimDuration(self.cfg.heartbeat.0 / 2);
            self.world.timer_in(sched, node, half, Timer::Heartbeat { client, end, conn });
            return;
        }
        self.beats[client as usize][end as usize].conn = None;
        self.world.reset(node, peer);
        match end {
            End::Client => self.client_gave_up(now, client, conn, sched),
            End::Broker => self.broker_gave_up(now, node, client, conn, sched),
        }
    }

    /// The client closed its connection: its socket's FIN reaches the node when the link allows.
    fn client_gave_up(&mut self, now: SimTime, client: NodeId, _conn: u32, sched: &mut Scheduler<Event>) {
        if self.publisher_of(client).is_none() {
            let (group, consumer) = self.consumer_of[client];
            let c = &self.consumers[group][consumer as usize];
            if let Some(home) = c.home {
                let closed = Msg::ConnectionClosed { group, consumer, reg: c.reg };
                self.world.send_from_os(sched, client, home, closed);
            }
        }
        self.connection_lost(now, client, sched);
    }

    /// The broker node closed a client's connection: a consumer's deliveries go back to the queue
    /// (its channel is gone); the client learns when the link lets the FIN through.
    fn broker_gave_up(&mut self, now: SimTime, node: NodeId, client: NodeId, conn: u32, sched: &mut Scheduler<Event>) {
        self.world.send_from_os(sched, node, client, Msg::ConnectionLost { conn });
        if self.publisher_of(client).is_some() {
            return;
        }
        let (group, consumer) = self.consumer_of[client];
        let reg = self.consumers[group][consumer as usize].reg;
        let first = self.beats[client as usize][End::Broker as usize].first_reg;
        if self.quorum.is_some() {
            // Every subscription made on this connection is returned.
            for reg in first..=reg {
                let closed = Msg::ConnectionClosed { group, consumer, reg };
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.client_message(now, node, closed, &ctx, &mut fx);
            }
        } else if self.classic.queues[group].channel_reg(consumer).is_some_and(|r| r >= first) {
            let (Node0 { classic: q, .. }, ctx, mut out) = self.node0_parts(sched);
            q.connection_closed(now, group, consumer, &ctx, &mut out);
        }
    }

    /// The broker ends on a node that crashed are gone with it.
    pub(super) fn broker_ends_died(&mut self, node: NodeId) {
        for b in self.beats.iter_mut() {
            if b[End::Broker as usize].peer == node {
                b[End::Broker as usize].conn = None;
            }
        }
    }

    // ---- between members ----

    pub(super) fn aten_beat(&mut self, node: NodeId, sched: &mut Scheduler<Event>) {
        for p in 0..self.replicas() as NodeId {
            if p != node {
                self.world.send(sched, node, p, Msg::AtenBeat);
            }
        }
        self.world.timer_in(sched, node, d::RABBITMQ_ATEN_HEARTBEAT_INTERVAL, Timer::AtenBeat);
    }

    /// An Aten heartbeat from `from` reached `to`.
    pub(super) fn aten_beat_arrived(&mut self, now: SimTime, from: NodeId, to: NodeId) {
        let r = self.replicas();
        if (from as usize) < r && (to as usize) < r {
            self.aten_heard[to as usize * r + from as usize] = Some(now);
        }
    }

    /// Aten's poll on `node`: a peer silent too long is reported down to the local member (a
    /// peer never heard from yet is not judged).
    pub(super) fn aten_poll(&mut self, now: SimTime, node: NodeId, sched: &mut Scheduler<Event>) {
        let r = self.replicas();
        for p in (0..r as NodeId).filter(|&p| p != node) {
            let i = node as usize * r + p as usize;
            let silent = self.aten_heard[i].is_some_and(|t| now.since(t) > d::RABBITMQ_ATEN_SILENCE);
            if silent && !self.aten_down[i] {
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.peer_down(now, node, p, PeerDown::Silent, &ctx, &mut fx);
            }
            self.aten_down[i] = silent;
        }
        self.world.timer_in(sched, node, d::RABBITMQ_ATEN_POLL_INTERVAL, Timer::AtenPoll);
    }

    /// A distribution tick on `node`: tick every peer; a peer from which nothing was read at four
    /// ticks in a row is down: the connection and what it held are dropped, and the local member
    /// sees its monitors of that node fire (`noconnection`). A later message from it (a new
    /// connection, after the heal) makes it up again.
    pub(super) fn net_tick(&mut self, now: SimTime, node: NodeId, sched: &mut Scheduler<Event>) {
        let r = self.replicas();
        for p in (0..r as NodeId).filter(|&p| p != node) {
            self.world.send(sched, node, p, Msg::DistTick);
            if self.dist[node as usize * r + p as usize].check(DIST_MISSES) {
                self.world.reset(node, p);
                let (q, ctx, mut fx) = self.quorum_parts(sched);
                q.peer_down(now, node, p, PeerDown::Disconnected, &ctx, &mut fx);
            }
        }
        self.world.timer_in(sched, node, SimDuration(d::RABBITMQ_NET_TICKTIME.0 / 4), Timer::NetTick);
    }
}
