//! A world of addressed nodes joined by a network of links. It knows nothing of Kafka or RabbitMQ:
//! a model names its nodes (brokers and clients), sends its own protocol messages between them and
//! sets timers on them, and the world applies one rule to every event:
//!
//! * a message crosses the link from sender to receiver in that link's latency, and is lost if
//!   either end is down, when it is sent or when it would arrive;
//! * a cut link either **drops** what crosses it (the default) or, in a world made with
//!   [`World::holding`], **holds** it, as TCP does on a connection that neither end has given up:
//!   held messages are delivered in order once the link is healed ([`Held`]), unless an end
//!   **resets** the connection first ([`World::reset`]), which voids everything sent on it before;
//! * every message and timer is stamped with the receiving node's **incarnation**; a crash bumps
//!   the incarnation, so whatever was pending for the old incarnation is dropped on arrival. No
//!   handler checks "am I still alive?": the world never hands it a stale event.
//!
//! A crashed node loses its volatile state (the model rebuilds it on restart) and keeps its
//! durable state; which is which is the model's business.

pub mod alarms;
pub mod out;
pub mod resources;

use crate::engine::{EventKey, Scheduler};
use crate::time::{SimDuration, SimTime};

pub use out::{Effect, Out};
use resources::{ProcessId, Resources};

/// What a protocol message weighs on the wire, for the network cards of a world with
/// [`Resources`]. A costless world never asks.
pub trait Wire {
    fn wire_bytes(&self) -> u64;
}

impl Wire for &str {
    fn wire_bytes(&self) -> u64 {
        self.len() as u64
    }
}

/// A node's address: an index into the world's nodes.
pub type NodeId = u16;
// The scenario refuses more nodes than an id can name.
const _: () = assert!(NodeId::MAX as u64 == crate::scenario::validate::MAX_NODES);

/// An event addressed to a node: a message from another node, or one of its own timers.
#[derive(Debug)]
pub enum Envelope<M, T> {
    /// `incarnation`: the receiver's when sent (its low 16 bits: a node restarts fewer times);
    /// `epoch`: the connection between `from` and `to` it was sent on (see [`World::reset`]).
    /// Both 16-bit so that the header stays 8 bytes.
    Message {
        from: NodeId,
        to: NodeId,
        incarnation: u16,
        epoch: u16,
        msg: M,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        timer: T,
    },
}

#[derive(Debug, Clone)]
struct Node {
    incarnation: u32,
    up: bool,
}

/// The nodes and the links between them.
#[derive(Debug, Clone)]
pub struct World {
    nodes: Vec<Node>,
    /// One-way latency of every link (the same in both directions).
    latency: SimDuration,
    /// `link[a * n + b]` (symmetric): bit 0 set if the link between `a` and `b` is cut; the other
    /// bits count the resets of the connection between them (its epoch). One word, so that a
    /// message's arrival reads one entry.
    link: Vec<u32>,
    /// A cut link holds messages (TCP) rather than dropping them.
    hold: bool,
    /// No node has crashed or restarted and no link was ever cut or reset: every node is up on
    /// its first incarnation and every link whole on its first connection, so a send is never
    /// lost and every envelope is admitted (the checks below skip their table lookups while it
    /// holds; it never comes back once lost).
    calm: bool,
    /// How many messages the world dropped (a down node or a cut link): for traces and tests.
    pub dropped: u64,
    /// Messages sent and not yet delivered or dropped.
    in_flight: u64,
    /// The nodes' bodies, in a world whose work costs time (`None`: costless, and every message
    /// takes exactly the link latency).
    body: Option<Box<Body>>,
}

/// The resources of a costed world, and when the handler running now finishes its work.
#[derive(Debug, Clone)]
struct Body {
    res: Resources,
    /// Set between [`World::begin`] and [`World::end`]: what the handler sends leaves then.
    ready: Option<SimTime>,
    /// When the handler's own CPU work (from [`World::begin`]) is done: the processes it hands
    /// work to ([`World::and_process`]) start then.
    stage: SimTime,
    /// When the last message from node `a` to node `b` was served, at `a * nodes + b`: a
    /// connection (TCP, an Erlang distribution link) hands messages over in the order they were
    /// sent, so one that needs less work waits for those before it.
    served: Vec<SimTime>,
}

/// What the world says about an event at the moment it would be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Hand it to the model.
    Deliver,
    /// Its receiver crashed (or restarted) since it was sent, is down, the link is cut (in a
    /// dropping world), or the connection it was sent on was reset.
    Drop,
    /// The link is cut and the world holds: keep it in a [`Held`] until the link heals.
    Hold,
}

/// Bit 0 of a link word: the link is cut.
const CUT: u32 = 1;

impl World {
    pub fn new(nodes: usize, latency: SimDuration) -> Self {
        World {
            nodes: vec![Node { incarnation: 0, up: true }; nodes],
            latency,
            link: Vec::new(),
            hold: false,
            calm: true,
            dropped: 0,
            in_flight: 0,
            body: None,
        }
    }

    /// Gives the world's nodes resources: from now on a message waits for the network cards at
    /// both ends, and a handler's work for the CPU ([`World::begin`]).
    pub fn with_resources(mut self, res: Resources) -> Self {
        let n = self.len();
        self.body = Some(Box::new(Body { res, ready: None, stage: SimTime::ZERO, served: vec![SimTime::ZERO; n * n] }));
        self
    }

    /// With `hardware` (a calibrated profile), every node gets that body, its work varying from a
    /// stream of `seed` ([`Resources::varied`]); without, the world stays costless.
    pub fn costed(self, hardware: Option<crate::scenario::hardware::Hardware>, seed: u64) -> Self {
        match hardware {
            None => self,
            Some(hw) => {
                let n = self.len();
                self.with_resources(Resources::new(n, |_| hw).varied(seed))
            }
        }
    }

    pub fn resources(&self) -> Option<&Resources> {
        self.body.as_ref().map(|b| &b.res)
    }

    pub fn resources_mut(&mut self) -> Option<&mut Resources> {
        self.body.as_mut().map(|b| &mut b.res)
    }

    /// A handler on `node` starts at `now` and its work takes `work` of one core: whatever it
    /// sends until [`World::end`] leaves when that work is done. Nothing in a costless world.
    #[inline]
    pub fn begin(&mut self, node: NodeId, now: SimTime, work: SimDuration) {
        if let Some(b) = &mut self.body {
            let done = b.res.cpu(node, now, work);
            b.ready = Some(done);
            b.stage = done;
        }
    }

    /// The handler started by [`World::begin`] hands `work` to the serial process `p` (a queue's
    /// process), which starts it when the handler's own work is done: the handler's effects leave
    /// when every such piece is done.
    #[inline]
    pub fn and_process(&mut self, p: ProcessId, work: SimDuration) {
        if let Some(b) = &mut self.body {
            let done = b.res.run(p, b.stage, work);
            b.ready = Some(b.ready.map_or(done, |r| r.max(done)));
        }
    }

    /// The current handler also waits until `at` (a disk write it must finish first).
    pub fn wait_until(&mut self, at: SimTime) {
        if let Some(b) = &mut self.body {
            b.ready = Some(b.ready.map_or(at, |r| r.max(at)));
        }
    }

    /// When the current handler's work is done (`now` in a costless world).
    pub fn ready(&self, now: SimTime) -> SimTime {
        self.body.as_ref().and_then(|b| b.ready).map_or(now, |r| r.max(now))
    }

    /// The handler is over.
    #[inline]
    pub fn end(&mut self) {
        if let Some(b) = &mut self.body {
            b.ready = None;
        }
    }

    /// A world whose cut links hold messages until they heal, as a TCP connection does (it
    /// retransmits what is not acknowledged); what a cut loses is then decided by the ends, which
    /// give up on a silent connection by their own timers and [`World::reset`] it.
    pub fn holding(nodes: usize, latency: SimDuration) -> Self {
        World { hold: true, ..World::new(nodes, latency) }
    }

    /// Every link is whole and on its first connection until a cut or a reset: the table (n x n
    /// words) exists only from then on, so a run without either keeps none.
    #[inline(always)]
    fn link_of(&self, a: NodeId, b: NodeId) -> u32 {
        self.link.get(a as usize * self.nodes.len() + b as usize).copied().unwrap_or(0)
    }

    fn links_mut(&mut self) -> &mut [u32] {
        self.calm = false;
        let n = self.nodes.len();
        if self.link.is_empty() {
            self.link = vec![0; n * n];
        }
        &mut self.link
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes[node as usize].up
    }

    pub fn incarnation(&self, node: NodeId) -> u32 {
        self.nodes[node as usize].incarnation
    }

    /// Messages on the wire: sent, neither delivered nor dropped yet.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    pub fn latency(&self) -> SimDuration {
        self.latency
    }

    /// True if a message from `a` can reach `b` now (both up, the link not cut): also whether a
    /// new connection between them can be opened.
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.is_up(a) && self.is_up(b) && self.link_of(a, b) & CUT == 0
    }

    /// True if a message sent from `a` to `b` now is not lost at once: both up, and the link not
    /// cut or held.
    #[inline(always)]
    fn accepts(&self, a: NodeId, b: NodeId) -> bool {
        self.calm || (self.is_up(a) && self.is_up(b) && (self.hold || self.link_of(a, b) & CUT == 0))
    }

    /// Sends `msg` from `from` to `to`. Returns false (and schedules nothing) if it is lost at once.
    pub fn send<M: Wire, T, E: From<Envelope<M, T>>>(
        &mut self,
        sched: &mut Scheduler<E>,
        from: NodeId,
        to: NodeId,
        msg: M,
    ) -> bool {
        if !self.accepts(from, to) {
            self.dropped += 1;
            return false;
        }
        self.schedule_message(sched, from, to, msg);
        true
    }

    /// Sends `msg` from `from` to `to`, or hands it back if it is lost at once (an end is down or
    /// the link is cut), for a model that must account for what it carried.
    pub fn try_send<M: Wire, T, E: From<Envelope<M, T>>>(
        &mut self,
        sched: &mut Scheduler<E>,
        from: NodeId,
        to: NodeId,
        msg: M,
    ) -> Result<(), M> {
        if !self.accepts(from, to) {
            self.dropped += 1;
            return Err(msg);
        }
        self.schedule_message(sched, from, to, msg);
        Ok(())
    }

    #[inline(always)]
    fn schedule_message<M: Wire, T, E: From<Envelope<M, T>>>(
        &mut self,
        sched: &mut Scheduler<E>,
        from: NodeId,
        to: NodeId,
        msg: M,
    ) {
        // Calm: every node on its first incarnation (0), every link on its first connection (0).
        let (incarnation, epoch) =
            if self.calm { (0, 0) } else { (self.incarnation(to) as u16, (self.link_of(from, to) >> 1) as u16) };
        self.in_flight += 1;
        match &mut self.body {
            None => {
                sched.schedule_in_with(self.latency, || Envelope::Message { from, to, incarnation, epoch, msg }.into());
            }
            Some(b) => {
                let leaves = b.ready.unwrap_or(sched.now()).max(sched.now());
                let arrives = b.res.transmit(from, to, leaves, msg.wire_bytes(), self.latency);
                sched.schedule_at(arrives, Envelope::Message { from, to, incarnation, epoch, msg }.into());
            }
        }
    }

    /// Sends `msg` on behalf of `from`'s operating system, which outlives the process: the
    /// connection-closed notice that peers of a crashed process receive. Lost if `to` is down or
    /// the link is cut.
    pub fn send_from_os<M: Wire, T, E: From<Envelope<M, T>>>(
        &mut self,
        sched: &mut Scheduler<E>,
        from: NodeId,
        to: NodeId,
        msg: M,
    ) -> bool {
        if !self.is_up(to) || (!self.hold && self.link_of(from, to) & CUT != 0) {
            self.dropped += 1;
            return false;
        }
        self.schedule_message(sched, from, to, msg);
        true
    }

    /// Sets a timer on `node`, due after `delay`; it dies with the node's current incarnation.
    #[inline]
    pub fn timer_in<M, T, E: From<Envelope<M, T>>>(
        &self,
        sched: &mut Scheduler<E>,
        node: NodeId,
        delay: SimDuration,
        timer: T,
    ) -> EventKey {
        let incarnation = self.incarnation(node);
        sched.schedule_in_with(delay, || Envelope::Timer { node, incarnation, timer }.into())
    }

    /// Sets a timer on `node` at an absolute time.
    #[inline]
    pub fn timer_at<M, T, E: From<Envelope<M, T>>>(
        &self,
        sched: &mut Scheduler<E>,
        node: NodeId,
        at: SimTime,
        timer: T,
    ) -> EventKey {
        let incarnation = self.incarnation(node);
        sched.schedule_at_with(at, || Envelope::Timer { node, incarnation, timer }.into())
    }

    /// The general rule, applied to every envelope before the model sees it (inlined into the
    /// models' event loops: it runs for every event).
    #[inline]
    pub fn admit<M, T>(&mut self, env: &Envelope<M, T>) -> Admit {
        if self.calm {
            // Sent (or set) while calm, so on the first incarnation and connection, which are
            // still current: delivered.
            if matches!(env, Envelope::Message { .. }) {
                self.in_flight -= 1;
            }
            return Admit::Deliver;
        }
        let ok = match *env {
            Envelope::Message { from, to, incarnation, epoch, .. } => {
                let link = self.link_of(from, to);
                let ok = self.incarnation(to) as u16 == incarnation && self.is_up(to) && (link >> 1) as u16 == epoch;
                if ok && link & CUT != 0 && self.hold {
                    // Still on the wire: it stays counted in flight.
                    return Admit::Hold;
                }
                self.in_flight -= 1;
                ok && link & CUT == 0
            }
            Envelope::Timer { node, incarnation, .. } => self.incarnation(node) == incarnation && self.is_up(node),
        };
        if ok {
            Admit::Deliver
        } else {
            if matches!(env, Envelope::Message { .. }) {
                self.dropped += 1;
            }
            Admit::Drop
        }
    }

    /// Ends the cost charge of a message from `from` that reached its node `to` (after
    /// [`World::begin`] and [`World::and_process`]): if its work, or that of a message sent before
    /// it on the same connection, is not done at `now`, returns when it will be. The
    /// model then hands it over at that time and it counts as in flight until
    /// [`World::admit_served`].
    pub fn served_at(&mut self, now: SimTime, from: NodeId, to: NodeId) -> Option<SimTime> {
        let mut done = self.ready(now);
        self.end();
        let n = self.len();
        if let Some(b) = &mut self.body
            && let Some(last) = b.served.get_mut(from as usize * n + to as usize)
        {
            done = done.max(*last);
            *last = done;
        }
        (done > now).then(|| {
            self.in_flight += 1;
            done
        })
    }

    /// Admits a message that waited at its node for service: handed to the model unless the node
    /// crashed since (the link no longer matters: it has arrived).
    pub fn admit_served<M, T>(&mut self, env: &Envelope<M, T>) -> bool {
        match *env {
            Envelope::Message { to, incarnation, .. } => {
                self.in_flight -= 1;
                let ok = self.incarnation(to) as u16 == incarnation && self.is_up(to);
                if !ok {
                    self.dropped += 1;
                }
                ok
            }
            Envelope::Timer { .. } => true,
        }
    }

    /// Crashes `node`: down, and everything pending for it is void. Returns false if it was down.
    pub fn crash(&mut self, node: NodeId) -> bool {
        let n = &mut self.nodes[node as usize];
        if !n.up {
            return false;
        }
        n.up = false;
        n.incarnation += 1;
        self.calm = false;
        true
    }

    /// Restarts `node` with a new incarnation. Returns false if it was up.
    pub fn restart(&mut self, node: NodeId) -> bool {
        let n = &mut self.nodes[node as usize];
        if n.up {
            return false;
        }
        n.up = true;
        n.incarnation += 1;
        self.calm = false;
        true
    }

    /// Cuts every link between a node of `a` and a node of `b`.
    pub fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        self.set_links(a, b, true);
    }

    /// Splits the network: every link between two of `sides` is cut. Nodes named on no side join
    /// the last one.
    pub fn split(&mut self, mut sides: Vec<Vec<NodeId>>) {
        let unnamed: Vec<NodeId> =
            (0..self.nodes.len() as NodeId).filter(|n| !sides.iter().flatten().any(|x| x == n)).collect();
        if let Some(last) = sides.last_mut() {
            last.extend(unnamed);
        }
        for i in 0..sides.len() {
            for j in i + 1..sides.len() {
                self.partition(&sides[i], &sides[j]);
            }
        }
    }

    /// Repairs every link. In a holding world, the model then releases what its [`Held`] keeps.
    pub fn heal(&mut self) {
        self.link.iter_mut().for_each(|l| *l &= !CUT);
    }

    /// One end gave up on the connection between `a` and `b` (a heartbeat timeout): whatever was
    /// sent on it and has not arrived, held or on the wire, is void. Messages sent from now on
    /// belong to the next connection.
    pub fn reset(&mut self, a: NodeId, b: NodeId) {
        let n = self.nodes.len();
        let link = self.links_mut();
        for (x, y) in [(a, b), (b, a)] {
            let l = &mut link[x as usize * n + y as usize];
            *l = (*l & CUT) | (((*l >> 1) + 1) << 1);
        }
    }

    fn set_links(&mut self, a: &[NodeId], b: &[NodeId], cut: bool) {
        let n = self.nodes.len();
        let link = self.links_mut();
        for &x in a {
            for &y in b {
                for i in [x as usize * n + y as usize, y as usize * n + x as usize] {
                    link[i] = if cut { link[i] | CUT } else { link[i] & !CUT };
                }
            }
        }
    }
}

/// The messages that cut links of a holding world keep, in the order they reached the cut: TCP
/// retransmits them until the link heals (delivered then, in order) or the connection is reset
/// (then the world drops them when they arrive: their epoch is stale). Simplification: a real
/// sender retransmits with exponential backoff (up to 2 min apart on Linux), so held data may
/// arrive up to that long after the heal; here it leaves at the heal.
#[derive(Debug)]
pub struct Held<M, T> {
    msgs: Vec<Envelope<M, T>>,
}

impl<M, T> Default for Held<M, T> {
    fn default() -> Self {
        Held { msgs: Vec::new() }
    }
}

impl<M, T> Held<M, T> {
    /// Keeps `env`, which [`World::admit`] answered [`Admit::Hold`].
    pub fn hold(&mut self, env: Envelope<M, T>) {
        self.msgs.push(env);
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Sends again, in order and with the link latency, every held message whose link is no
    /// longer cut; [`World::admit`] judges each when it arrives.
    pub fn release<E: From<Envelope<M, T>>>(&mut self, world: &World, sched: &mut Scheduler<E>) {
        let mut keep = Vec::new();
        for env in self.msgs.drain(..) {
            match env {
                Envelope::Message { from, to, .. } if world.link_of(from, to) & CUT != 0 => keep.push(env),
                env => {
                    sched.schedule_in(world.latency, env.into());
                }
            }
        }
        self.msgs = keep;
    }
}

/// A value per node, looked up by address in O(1) (the role of a client node, say): a vector
/// indexed by [`NodeId`], where a map would cost a search on every event.
#[derive(Debug, Clone)]
pub struct NodeMap<T>(Vec<Option<T>>);

impl<T> Default for NodeMap<T> {
    fn default() -> Self {
        NodeMap(Vec::new())
    }
}

impl<T> NodeMap<T> {
    pub fn insert(&mut self, node: NodeId, value: T) {
        let i = node as usize;
        if i >= self.0.len() {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(value);
    }

    pub fn get(&self, node: NodeId) -> Option<&T> {
        self.0.get(node as usize).and_then(Option::as_ref)
    }
}

impl<T> std::ops::Index<NodeId> for NodeMap<T> {
    type Output = T;
    /// Panics if `node` has no value: a model addressed a node it never registered (a bug).
    fn index(&self, node: NodeId) -> &T {
        self.get(node).unwrap_or_else(|| panic!("node {node} has no entry"))
    }
}

/// A deadline that moves often (a session renewed by every heartbeat, a parked fetch's wait),
/// watched by at most one pending timer. Moving it later schedules nothing: the timer, when it
/// fires early, re-arms itself for the deadline as it then stands. So the pending-event set holds
/// no cancelled timers for it, however often it moves.
///
/// Protocol: [`Deadline::set`] and [`Deadline::fired`] return `Some(at)` when the owner must set a
/// timer at `at`; the owner's timer handler calls `fired` and acts only on [`Fired::Due`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    due: Option<SimTime>,
    /// When the one pending timer fires, if one is pending.
    armed: Option<SimTime>,
}

/// What a [`Deadline`]'s timer means when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// The deadline passed (and is now cleared).
    Due,
    /// Not yet: set a timer at this time.
    Rearm(SimTime),
    /// Nothing to do: the deadline was cleared, or this timer was superseded.
    Nothing,
}

impl Deadline {
    pub fn due(&self) -> Option<SimTime> {
        self.due
    }

    /// Sets the deadline to `due`; returns when to set a timer, if one is needed (none is pending,
    /// or the pending one would fire too late).
    #[must_use]
    pub fn set(&mut self, due: SimTime) -> Option<SimTime> {
        self.due = Some(due);
        match self.armed {
            Some(armed) if armed <= due => None,
            _ => {
                self.armed = Some(due);
                Some(due)
            }
        }
    }

    /// Clears the deadline; a pending timer will find nothing to do.
    pub fn clear(&mut self) {
        self.due = None;
    }

    /// The timer set for this deadline fired at `now`.
    #[must_use]
    pub fn fired(&mut self, now: SimTime) -> Fired {
        if self.armed != Some(now) {
            // A timer superseded by an earlier one (the deadline moved earlier).
            return Fired::Nothing;
        }
        self.armed = None;
        match self.due {
            Some(due) if due <= now => {
                self.due = None;
                Fired::Due
            }
            Some(due) => {
                self.armed = Some(due);
                Fired::Rearm(due)
            }
            None => Fired::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) type Ev = Envelope<&'static str, &'static str>;

    /// Runs the scheduler dry and returns what the world delivered (also for `out.rs`'s tests).
    pub(super) fn run(world: &mut World, sched: &mut Scheduler<Ev>) -> Vec<(SimTime, &'static str)> {
        let mut seen = vec![];
        while let Some((at, e)) = sched.pop() {
            if world.admit(&e) == Admit::Deliver {
                match e {
                    Envelope::Message { msg, .. } => seen.push((at, msg)),
                    Envelope::Timer { timer, .. } => seen.push((at, timer)),
                }
            }
        }
        seen
    }

    #[test]
    fn messages_take_the_link_latency_and_same_instant_ones_keep_their_order() {
        let mut w = World::new(2, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        assert!(w.send(&mut s, 0, 1, "a"));
        assert!(w.send(&mut s, 0, 1, "b"));
        w.timer_in(&mut s, 1, SimDuration(10), "t");
        assert_eq!(run(&mut w, &mut s), vec![(SimTime(10), "a"), (SimTime(10), "b"), (SimTime(10), "t")]);
    }

    #[test]
    fn a_crash_voids_what_was_pending_for_the_old_incarnation() {
        let mut w = World::new(2, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        w.send(&mut s, 0, 1, "in flight before the crash");
        w.timer_in(&mut s, 1, SimDuration(5), "timer before the crash");
        assert!(w.crash(1));
        assert!(!w.crash(1), "already down");
        assert!(!w.send(&mut s, 0, 1, "to a down node"));
        assert!(w.restart(1));
        // Restarted before the old message would arrive: it still belongs to the old incarnation.
        assert!(w.send(&mut s, 0, 1, "after the restart"));
        assert_eq!(run(&mut w, &mut s), vec![(SimTime(10), "after the restart")]);
        assert_eq!(w.dropped, 2, "the message in flight and the one sent to the down node");
    }

    #[test]
    fn a_cut_link_drops_messages_in_both_directions_until_healed() {
        let mut w = World::new(3, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        w.send(&mut s, 0, 2, "crossing when the cut happens");
        w.partition(&[0], &[1, 2]);
        assert!(!w.send(&mut s, 2, 0, "across the cut"));
        assert!(w.send(&mut s, 1, 2, "same side"));
        let seen = run(&mut w, &mut s);
        assert_eq!(seen, vec![(SimTime(10), "same side")]);
        w.heal();
        assert!(w.send(&mut s, 2, 0, "healed"));
        assert_eq!(run(&mut w, &mut s), vec![(SimTime(20), "healed")]);
    }

    #[test]
    fn a_reset_alone_ends_the_calm_and_voids_what_was_on_the_old_connection() {
        // No crash and no cut: the reset is the first disturbance, so the messages sent before
        // it (while calm) must still be checked against the new connection when they arrive.
        let mut w = World::new(2, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        assert!(w.send(&mut s, 0, 1, "on the old connection"));
        w.timer_in(&mut s, 1, SimDuration(10), "timer");
        w.reset(0, 1);
        assert!(w.send(&mut s, 0, 1, "on the new connection"));
        assert_eq!(run(&mut w, &mut s), vec![(SimTime(10), "timer"), (SimTime(10), "on the new connection")]);
        assert_eq!((w.dropped, w.in_flight()), (1, 0));
    }

    /// Runs a holding world: held messages go to `held` instead of being seen.
    fn run_holding(
        world: &mut World,
        sched: &mut Scheduler<Ev>,
        held: &mut Held<&'static str, &'static str>,
    ) -> Vec<(SimTime, &'static str)> {
        let mut seen = vec![];
        while let Some((at, e)) = sched.pop() {
            match world.admit(&e) {
                Admit::Deliver => match e {
                    Envelope::Message { msg, .. } => seen.push((at, msg)),
                    Envelope::Timer { timer, .. } => seen.push((at, timer)),
                },
                Admit::Hold => held.hold(e),
                Admit::Drop => {}
            }
        }
        seen
    }

    #[test]
    fn a_holding_world_delivers_across_a_cut_at_the_heal_unless_the_connection_was_reset() {
        let mut w = World::holding(3, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        let mut held = Held::default();
        w.send(&mut s, 0, 2, "crossing when the cut happens");
        w.partition(&[0], &[1, 2]);
        assert!(w.send(&mut s, 2, 0, "sent across the cut"));
        assert!(w.send(&mut s, 1, 0, "to be reset"));
        assert!(!w.connected(2, 0), "no new connection opens across a cut");
        assert_eq!(run_holding(&mut w, &mut s, &mut held), vec![]);
        assert_eq!((held.len(), w.in_flight()), (3, 3), "held messages are still in flight");
        w.reset(1, 0);
        w.heal();
        held.release(&w, &mut s);
        assert!(held.is_empty());
        // Released at the heal (time 10), in the order they reached the cut.
        let seen = run_holding(&mut w, &mut s, &mut held);
        assert_eq!(seen, vec![(SimTime(20), "crossing when the cut happens"), (SimTime(20), "sent across the cut")]);
        assert_eq!((w.dropped, w.in_flight()), (1, 0), "the reset connection's message is void");
        assert!(w.send(&mut s, 1, 0, "on the next connection"));
        assert_eq!(run_holding(&mut w, &mut s, &mut held), vec![(SimTime(30), "on the next connection")]);
    }

    #[test]
    fn a_deadline_moved_later_keeps_one_timer_and_fires_once_when_due() {
        let mut d = Deadline::default();
        assert_eq!(d.set(SimTime(100)), Some(SimTime(100)), "the first deadline needs a timer");
        assert_eq!(d.set(SimTime(150)), None, "moved later: the pending timer will re-arm");
        assert_eq!(d.set(SimTime(180)), None);
        assert_eq!(d.fired(SimTime(100)), Fired::Rearm(SimTime(180)));
        assert_eq!(d.fired(SimTime(180)), Fired::Due);
        assert_eq!(d.due(), None);
        // Moved earlier: a new timer; the later one, when it fires, is recognised as superseded.
        assert_eq!(d.set(SimTime(300)), Some(SimTime(300)));
        assert_eq!(d.set(SimTime(250)), Some(SimTime(250)));
        assert_eq!(d.fired(SimTime(250)), Fired::Due);
        assert_eq!(d.fired(SimTime(300)), Fired::Nothing);
        // Cleared: the pending timer finds nothing, and the next deadline arms afresh.
        assert_eq!(d.set(SimTime(400)), Some(SimTime(400)));
        d.clear();
        assert_eq!(d.fired(SimTime(400)), Fired::Nothing);
        assert_eq!(d.set(SimTime(500)), Some(SimTime(500)));
    }
}
