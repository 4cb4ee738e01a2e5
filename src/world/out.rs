//! The effects of a node's handler, in the order it issued them: a handler that fills an [`Out`]
//! touches nothing but its own state, and one harness applies the effects through the world
//! ([`World::apply`]), where every send pays its costs (network cards, link) in one place.
//!
//! A node may also record what it saw (`R`: an observation, a client event). The world knows
//! nothing of what a record means: [`World::apply`] hands each one, in order, to the harness.
//!
//! A handler writes to `impl` [`Effects`]: an [`Out`] buffer (unit tests, and harnesses that look
//! at the effects before applying them), or [`Direct`], which applies each effect through the
//! world as it is issued. Both give the same run: a handler reads nothing of the world, so applying
//! its effects as it issues them or right after it returns is the same sequence of sends, timers
//! and records. `Direct` is for the per-message handlers, where a buffer's pushes and reads cost
//! about a tenth of the run.

use super::{Envelope, NodeId, Wire, World};
use crate::engine::{EventKey, Scheduler};
use crate::time::{SimDuration, SimTime};

/// One effect of a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect<M, T, R> {
    /// [`World::send`]: lost at once if an end is down or the link is cut.
    Send { from: NodeId, to: NodeId, msg: M },
    /// [`World::try_send`]: a send whose loss the harness accounts for (its message is handed back).
    TrySend { from: NodeId, to: NodeId, msg: M },
    /// [`World::send_from_os`]: sent by `from`'s operating system, which outlives its process.
    SendFromOs { from: NodeId, to: NodeId, msg: M },
    /// [`World::timer_in`]: a timer on `node`, due after `delay`.
    TimerIn { node: NodeId, delay: SimDuration, timer: T },
    /// [`World::timer_at`]: a timer on `node`, due at `at`.
    TimerAt { node: NodeId, at: SimTime, timer: T },
    /// Something the node records (the harness says where it goes).
    Record(R),
    /// [`Scheduler::cancel`]: a timer set by [`Effects::timer_at_keyed`] is not wanted any more.
    Cancel(EventKey),
}

/// Where a handler puts its effects. Their order is kept: sends and timers are scheduled in the
/// order issued (which breaks ties between events at the same instant), records handed on in order.
pub trait Effects<M, T, R> {
    /// [`World::send`]: lost at once if an end is down or the link is cut.
    fn send(&mut self, from: NodeId, to: NodeId, msg: M);
    /// [`World::try_send`]: a send whose message, if lost at once, is handed back to the harness.
    fn try_send(&mut self, from: NodeId, to: NodeId, msg: M);
    /// [`World::send_from_os`]: sent by `from`'s operating system, which outlives its process.
    fn send_from_os(&mut self, from: NodeId, to: NodeId, msg: M);
    /// [`World::timer_in`]: a timer on `node`, due after `delay`.
    fn timer_in(&mut self, node: NodeId, delay: SimDuration, timer: T);
    /// [`World::timer_at`]: a timer on `node`, due at `at`.
    fn timer_at(&mut self, node: NodeId, at: SimTime, timer: T);
    /// Something the node records (the harness says where it goes).
    fn record(&mut self, r: R);
    /// [`Effects::timer_at`], returning the key that cancels it where the sink can know it at once
    /// ([`Direct`]); a buffer cannot (its timers get keys when applied), and returns `None`.
    fn timer_at_keyed(&mut self, node: NodeId, at: SimTime, timer: T) -> Option<EventKey>;
    /// Cancels a timer set by [`Effects::timer_at_keyed`] (nothing if it ran or was cancelled).
    fn cancel(&mut self, key: EventKey);
}

/// A sink that also lets a handler see what a client sees of the world at once: whether a node is
/// up (a dead peer refuses a connection at once), a node's incarnation, the link latency, and
/// whether a send was lost on the spot. Only [`Direct`] (and test doubles) can: a buffer applies
/// its sends too late to say. A handler that reads these runs with effects applied as issued.
pub trait Sees<M, T, R>: Effects<M, T, R> {
    fn is_up(&self, node: NodeId) -> bool;
    fn incarnation(&self, node: NodeId) -> u32;
    fn latency(&self) -> SimDuration;
    /// [`World::try_send`], its loss told at once: the message comes back.
    fn try_send_now(&mut self, from: NodeId, to: NodeId, msg: M) -> Result<(), M>;
    /// [`World::send`], its loss told at once (false).
    fn send_now(&mut self, from: NodeId, to: NodeId, msg: M) -> bool;
}

/// What [`World::apply_returning`] hands back to the harness, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Handed<M, R> {
    /// A record of the node's.
    Record(R),
    /// The message of a [`Effect::TrySend`] lost at once, and where it was going.
    Returned { to: NodeId, msg: M },
}

/// A buffer of effects, filled by handlers and emptied by [`World::apply`]. Keep one and reuse it:
/// applying keeps its capacity, so that a handler allocates nothing once the buffer has grown.
#[derive(Debug)]
pub struct Out<M, T, R = ()> {
    effects: Vec<Effect<M, T, R>>,
}

impl<M, T, R> Default for Out<M, T, R> {
    fn default() -> Self {
        Out { effects: Vec::new() }
    }
}

impl<M, T, R> Out<M, T, R> {
    pub fn send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.effects.push(Effect::Send { from, to, msg });
    }

    /// A send whose message, if lost at once, [`World::apply_returning`] hands back.
    pub fn try_send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.effects.push(Effect::TrySend { from, to, msg });
    }

    pub fn send_from_os(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.effects.push(Effect::SendFromOs { from, to, msg });
    }

    pub fn timer_in(&mut self, node: NodeId, delay: SimDuration, timer: T) {
        self.effects.push(Effect::TimerIn { node, delay, timer });
    }

    pub fn timer_at(&mut self, node: NodeId, at: SimTime, timer: T) {
        self.effects.push(Effect::TimerAt { node, at, timer });
    }

    pub fn record(&mut self, r: R) {
        self.effects.push(Effect::Record(r));
    }

    /// The effects not applied yet, in order (for tests and traces).
    pub fn effects(&self) -> &[Effect<M, T, R>] {
        &self.effects
    }

    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
    }

    pub fn len(&self) -> usize {
        self.effects.len()
    }

    /// Takes the effects not applied yet, in order (a test that answers the messages it sent).
    pub fn take_effects(&mut self) -> std::vec::Drain<'_, Effect<M, T, R>> {
        self.effects.drain(..)
    }

    /// Forgets every effect (a test that only inspects them).
    pub fn clear(&mut self) {
        self.effects.clear();
    }
}

impl<M, T, R> Effects<M, T, R> for Out<M, T, R> {
    #[inline(always)]
    fn send(&mut self, from: NodeId, to: NodeId, msg: M) {
        Out::send(self, from, to, msg)
    }
    #[inline(always)]
    fn try_send(&mut self, from: NodeId, to: NodeId, msg: M) {
        Out::try_send(self, from, to, msg)
    }
    #[inline(always)]
    fn send_from_os(&mut self, from: NodeId, to: NodeId, msg: M) {
        Out::send_from_os(self, from, to, msg)
    }
    #[inline(always)]
    fn timer_in(&mut self, node: NodeId, delay: SimDuration, timer: T) {
        Out::timer_in(self, node, delay, timer)
    }
    #[inline(always)]
    fn timer_at(&mut self, node: NodeId, at: SimTime, timer: T) {
        Out::timer_at(self, node, at, timer)
    }
    #[inline(always)]
    fn record(&mut self, r: R) {
        Out::record(self, r)
    }
    fn timer_at_keyed(&mut self, node: NodeId, at: SimTime, timer: T) -> Option<EventKey> {
        Out::timer_at(self, node, at, timer);
        None
    }
    fn cancel(&mut self, key: EventKey) {
        self.effects.push(Effect::Cancel(key));
    }
}

/// Effects applied through the world as they are issued, exactly as [`World::apply_returning`]
/// would apply them from an [`Out`]: records and the messages of lost `try_send`s go to `hand`.
pub struct Direct<'a, E, F> {
    pub world: &'a mut World,
    pub sched: &'a mut Scheduler<E>,
    pub hand: F,
    /// Sends lost at once so far.
    pub lost: u32,
}

impl<'a, E, F> Direct<'a, E, F> {
    pub fn new(world: &'a mut World, sched: &'a mut Scheduler<E>, hand: F) -> Self {
        Direct { world, sched, hand, lost: 0 }
    }
}

impl<M: Wire, T, R, E: From<Envelope<M, T>>, F: FnMut(Handed<M, R>)> Effects<M, T, R> for Direct<'_, E, F> {
    #[inline(always)]
    fn send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.lost += u32::from(!self.world.send(self.sched, from, to, msg));
    }
    #[inline(always)]
    fn try_send(&mut self, from: NodeId, to: NodeId, msg: M) {
        if let Err(msg) = self.world.try_send(self.sched, from, to, msg) {
            self.lost += 1;
            (self.hand)(Handed::Returned { to, msg });
        }
    }
    #[inline(always)]
    fn send_from_os(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.lost += u32::from(!self.world.send_from_os(self.sched, from, to, msg));
    }
    #[inline(always)]
    fn timer_in(&mut self, node: NodeId, delay: SimDuration, timer: T) {
        self.world.timer_in(self.sched, node, delay, timer);
    }
    #[inline(always)]
    fn timer_at(&mut self, node: NodeId, at: SimTime, timer: T) {
        self.world.timer_at(self.sched, node, at, timer);
    }
    #[inline(always)]
    fn record(&mut self, r: R) {
        (self.hand)(Handed::Record(r))
    }
    #[inline(always)]
    fn timer_at_keyed(&mut self, node: NodeId, at: SimTime, timer: T) -> Option<EventKey> {
        Some(self.world.timer_at(self.sched, node, at, timer))
    }
    #[inline(always)]
    fn cancel(&mut self, key: EventKey) {
        self.sched.cancel(key);
    }
}

impl<M: Wire, T, R, E: From<Envelope<M, T>>, F: FnMut(Handed<M, R>)> Sees<M, T, R> for Direct<'_, E, F> {
    #[inline(always)]
    fn is_up(&self, node: NodeId) -> bool {
        self.world.is_up(node)
    }
    #[inline(always)]
    fn incarnation(&self, node: NodeId) -> u32 {
        self.world.incarnation(node)
    }
    #[inline(always)]
    fn latency(&self) -> SimDuration {
        self.world.latency()
    }
    #[inline(always)]
    fn try_send_now(&mut self, from: NodeId, to: NodeId, msg: M) -> Result<(), M> {
        let sent = self.world.try_send(self.sched, from, to, msg);
        self.lost += u32::from(sent.is_err());
        sent
    }
    #[inline(always)]
    fn send_now(&mut self, from: NodeId, to: NodeId, msg: M) -> bool {
        let sent = self.world.send(self.sched, from, to, msg);
        self.lost += u32::from(!sent);
        sent
    }
}

/// A sink for tests that sees ([`Sees`]): an [`Out`] of the effects, and which nodes are down or
/// restarted (incarnation 1); none unless the test says so. A send to a node that is down is lost
/// at once, as [`World::send`] loses it.
#[cfg(test)]
#[derive(Debug)]
pub struct Seeing<M, T, R> {
    pub out: Out<M, T, R>,
    pub down: Vec<NodeId>,
    pub restarted: Vec<NodeId>,
}

#[cfg(test)]
impl<M, T, R> Default for Seeing<M, T, R> {
    fn default() -> Self {
        Seeing { out: Out::default(), down: Vec::new(), restarted: Vec::new() }
    }
}

#[cfg(test)]
impl<M, T, R> Effects<M, T, R> for Seeing<M, T, R> {
    fn send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.out.send(from, to, msg)
    }
    fn try_send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.out.try_send(from, to, msg)
    }
    fn send_from_os(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.out.send_from_os(from, to, msg)
    }
    fn timer_in(&mut self, node: NodeId, delay: SimDuration, timer: T) {
        self.out.timer_in(node, delay, timer)
    }
    fn timer_at(&mut self, node: NodeId, at: SimTime, timer: T) {
        self.out.timer_at(node, at, timer)
    }
    fn record(&mut self, r: R) {
        self.out.record(r)
    }
    fn timer_at_keyed(&mut self, node: NodeId, at: SimTime, timer: T) -> Option<EventKey> {
        Effects::timer_at_keyed(&mut self.out, node, at, timer)
    }
    fn cancel(&mut self, key: EventKey) {
        Effects::cancel(&mut self.out, key)
    }
}

#[cfg(test)]
impl<M, T, R> Sees<M, T, R> for Seeing<M, T, R> {
    fn is_up(&self, node: NodeId) -> bool {
        !self.down.contains(&node)
    }
    fn incarnation(&self, node: NodeId) -> u32 {
        u32::from(self.restarted.contains(&node))
    }
    fn latency(&self) -> SimDuration {
        SimDuration::ZERO
    }
    fn try_send_now(&mut self, from: NodeId, to: NodeId, msg: M) -> Result<(), M> {
        if self.down.contains(&to) {
            return Err(msg);
        }
        self.out.try_send(from, to, msg);
        Ok(())
    }
    fn send_now(&mut self, from: NodeId, to: NodeId, msg: M) -> bool {
        let up = !self.down.contains(&to);
        if up {
            self.out.send(from, to, msg);
        }
        up
    }
}

impl World {
    /// Applies `out`'s effects in the order they were issued, as if the handler had called
    /// [`World::send`], [`World::send_from_os`], [`World::timer_in`] and [`World::timer_at`] itself
    /// at that point (same scheduling order, same costs), and hands each record to `record`.
    /// Leaves `out` empty, its capacity kept. Returns how many sends were lost at once.
    pub fn apply<M: Wire, T, R, E: From<Envelope<M, T>>>(
        &mut self,
        out: &mut Out<M, T, R>,
        sched: &mut Scheduler<E>,
        mut record: impl FnMut(R),
    ) -> u32 {
        self.apply_returning(out, sched, |h| {
            if let Handed::Record(r) = h {
                record(r)
            }
        })
    }

    /// [`World::apply`], also handing back the message of each [`Effect::TrySend`] lost at once,
    /// in order with the records.
    pub fn apply_returning<M: Wire, T, R, E: From<Envelope<M, T>>>(
        &mut self,
        out: &mut Out<M, T, R>,
        sched: &mut Scheduler<E>,
        mut hand: impl FnMut(Handed<M, R>),
    ) -> u32 {
        let mut lost = 0;
        for e in out.effects.drain(..) {
            match e {
                Effect::Send { from, to, msg } => lost += u32::from(!self.send(sched, from, to, msg)),
                Effect::TrySend { from, to, msg } => {
                    if let Err(msg) = self.try_send(sched, from, to, msg) {
                        lost += 1;
                        hand(Handed::Returned { to, msg });
                    }
                }
                Effect::SendFromOs { from, to, msg } => lost += u32::from(!self.send_from_os(sched, from, to, msg)),
                Effect::TimerIn { node, delay, timer } => {
                    self.timer_in(sched, node, delay, timer);
                }
                Effect::TimerAt { node, at, timer } => {
                    self.timer_at(sched, node, at, timer);
                }
                Effect::Record(r) => hand(Handed::Record(r)),
                Effect::Cancel(key) => {
                    sched.cancel(key);
                }
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::tests::{Ev, run};

    #[test]
    fn apply_keeps_the_order_of_sends_timers_and_records() {
        let mut w = World::new(3, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        let mut out: Out<&'static str, &'static str, u32> = Out::default();
        // Everything falls at time 10: the scheduler breaks the tie by the order of scheduling.
        out.timer_in(2, SimDuration(10), "timer first");
        out.record(1);
        out.send(0, 1, "then a message");
        out.timer_at(1, SimTime(10), "then an absolute timer");
        out.record(2);
        out.send_from_os(0, 2, "then the operating system's notice");
        assert_eq!(out.len(), 6);
        let mut records = vec![];
        assert_eq!(w.apply(&mut out, &mut s, |r| records.push(r)), 0);
        assert!(out.is_empty(), "applied effects are gone");
        assert_eq!(records, vec![1, 2]);
        let t = SimTime(10);
        assert_eq!(
            run(&mut w, &mut s),
            vec![
                (t, "timer first"),
                (t, "then a message"),
                (t, "then an absolute timer"),
                (t, "then the operating system's notice")
            ]
        );
    }

    #[test]
    fn apply_counts_the_sends_lost_at_once() {
        let mut w = World::new(3, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        let mut out: Out<&'static str, &'static str> = Out::default();
        w.crash(2);
        w.partition(&[0], &[1]);
        out.send(0, 1, "across the cut");
        out.send(1, 2, "to a down node");
        out.send_from_os(2, 1, "from a down node's operating system");
        out.send_from_os(0, 1, "the operating system's notice across the cut");
        assert_eq!(w.apply(&mut out, &mut s, |()| {}), 3);
        assert_eq!(w.dropped, 3);
        assert_eq!(run(&mut w, &mut s), vec![(SimTime(10), "from a down node's operating system")]);
    }

    #[test]
    fn a_try_send_lost_at_once_is_handed_back_in_order_with_the_records() {
        let mut w = World::new(3, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        let mut out: Out<&'static str, &'static str, u32> = Out::default();
        w.crash(2);
        out.record(1);
        out.try_send(0, 2, "to a down node");
        out.try_send(0, 1, "delivered");
        out.record(2);
        let mut handed = vec![];
        assert_eq!(w.apply_returning(&mut out, &mut s, |h| handed.push(h)), 1);
        assert_eq!(
            handed,
            vec![Handed::Record(1), Handed::Returned { to: 2, msg: "to a down node" }, Handed::Record(2)]
        );
        assert_eq!(run(&mut w, &mut s), vec![(SimTime(10), "delivered")]);
    }

    /// The same effects, issued to a buffer then applied, or applied as issued: the same events
    /// in the same order, the same records and returned messages, the same count of losses.
    #[test]
    fn direct_application_is_the_buffer_applied_at_once() {
        fn issue(fx: &mut impl Effects<&'static str, &'static str, u32>) {
            fx.timer_in(2, SimDuration(10), "timer");
            fx.record(1);
            fx.send(0, 1, "message");
            fx.try_send(0, 2, "to a down node");
            fx.send(1, 2, "lost to a down node");
            fx.timer_at(1, SimTime(10), "absolute timer");
            fx.send_from_os(0, 1, "the operating system's notice");
            fx.record(2);
        }
        let setup = || {
            let mut w = World::new(3, SimDuration(10));
            w.crash(2);
            (w, Scheduler::<Ev>::new())
        };
        let (mut w1, mut s1) = setup();
        let mut out: Out<&'static str, &'static str, u32> = Out::default();
        issue(&mut out);
        let mut handed1 = vec![];
        let lost1 = w1.apply_returning(&mut out, &mut s1, |h| handed1.push(h));
        let (mut w2, mut s2) = setup();
        let mut handed2 = vec![];
        let mut direct = Direct::new(&mut w2, &mut s2, |h| handed2.push(h));
        issue(&mut direct);
        let lost2 = direct.lost;
        assert_eq!((lost1, lost2), (2, 2));
        assert_eq!(
            handed1,
            vec![Handed::Record(1), Handed::Returned { to: 2, msg: "to a down node" }, Handed::Record(2)]
        );
        assert_eq!(handed1, handed2);
        let t = SimTime(10);
        let events = vec![(t, "message"), (t, "absolute timer"), (t, "the operating system's notice")];
        assert_eq!(run(&mut w1, &mut s1), events);
        assert_eq!(run(&mut w2, &mut s2), events);
    }

    #[test]
    fn apply_sets_timers_for_the_incarnation_at_apply_time() {
        let mut w = World::new(2, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        let mut out: Out<&'static str, &'static str> = Out::default();
        out.timer_in(1, SimDuration(5), "set before the crash");
        w.apply(&mut out, &mut s, |()| {});
        w.crash(1);
        w.restart(1);
        // Issued before the crash but applied after the restart: it belongs to the new incarnation,
        // as a direct `timer_in` at that point would.
        out.timer_in(1, SimDuration(5), "applied after the restart");
        out.timer_at(0, SimTime(7), "on another node");
        w.apply(&mut out, &mut s, |()| {});
        assert_eq!(
            run(&mut w, &mut s),
            vec![(SimTime(5), "applied after the restart"), (SimTime(7), "on another node")]
        );
    }

    #[test]
    fn a_reused_buffer_keeps_its_capacity() {
        let mut w = World::new(2, SimDuration(10));
        let mut s = Scheduler::<Ev>::new();
        let mut out: Out<&'static str, &'static str> = Out::default();
        for _ in 0..8 {
            out.send(0, 1, "m");
        }
        let cap = out.effects.capacity();
        w.apply(&mut out, &mut s, |()| {});
        assert_eq!(out.effects.capacity(), cap, "no allocation for the next handler");
    }
}
