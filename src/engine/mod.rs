//! The discrete-event engine. It knows nothing about Kafka or RabbitMQ: a model brings its own closed
//! `enum` of events and a handler; the engine keeps the pending-event set and advances time to the
//! next event.
//!
//! Ordering is total and machine-independent: events are ordered by (time, insertion sequence), so
//! two events at the same nanosecond run in the order they were scheduled (FIFO). An event for the
//! current instant goes through the queue like any other: a handler is never re-entered.
//!
//! Scheduling returns an [`EventKey`] that cancels the event; a cancelled event is never handed to
//! the model. A [`Tracer`] sees every event as it is dispatched.
//!
//! The pending set is three queues with one order: a FIFO for the current instant (most events of
//! a zero-latency network), a near heap, and a far heap for events due more than [`FAR_AHEAD`]
//! ahead when scheduled (heartbeats, session and fetch timers), so that long timers do not deepen
//! the heap every message goes through. `pop_until` takes the earliest (time, sequence) head.

pub mod rng;

use crate::time::{SimDuration, SimTime};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A heap entry: the event itself waits in `Scheduler::slab`, so sifting moves 24 bytes whatever
/// the size of the model's event type.
#[derive(Clone, Copy, Debug)]
struct Entry {
    at: SimTime,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// (time, sequence) as one number, so that entries compare without a branch.
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.at.0) << 64) | u128::from(self.seq)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    #[inline(always)]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
    // The heap's sifting uses these: each one comparison of two 128-bit numbers, no branch.
    #[inline(always)]
    fn lt(&self, other: &Self) -> bool {
        self.key() > other.key()
    }
    #[inline(always)]
    fn le(&self, other: &Self) -> bool {
        self.key() >= other.key()
    }
    #[inline(always)]
    fn gt(&self, other: &Self) -> bool {
        self.key() < other.key()
    }
    #[inline(always)]
    fn ge(&self, other: &Self) -> bool {
        self.key() <= other.key()
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) first.
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// A heap of entries, earliest (time, sequence) on top.
type Heap = BinaryHeap<Entry>;

/// The current instant's FIFO: a ring of slots, `None` outside the live stretch (and where an
/// event was cancelled). A push makes its event straight into its slot.
struct Fifo<E> {
    /// A power of two long (or empty).
    buf: Vec<Option<E>>,
    head: usize,
    len: usize,
}

impl<E> Default for Fifo<E> {
    fn default() -> Self {
        Fifo { buf: Vec::new(), head: 0, len: 0 }
    }
}

impl<E> Fifo<E> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot of the `i`-th event from the front.
    #[inline(always)]
    fn get_mut(&mut self, i: usize) -> Option<&mut Option<E>> {
        if i >= self.len {
            return None;
        }
        let mask = self.buf.len() - 1;
        Some(&mut self.buf[(self.head + i) & mask])
    }

    #[inline(always)]
    fn front(&self) -> Option<&Option<E>> {
        (self.len > 0).then(|| &self.buf[self.head])
    }

    #[inline(always)]
    fn push_with(&mut self, event: impl FnOnce() -> E) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let mask = self.buf.len() - 1;
        let slot = &mut self.buf[(self.head + self.len) & mask];
        // Known empty, so that nothing is dropped between making the event and storing it.
        assert!(slot.is_none(), "a free slot of the FIFO is empty");
        *slot = Some(event());
        self.len += 1;
    }

    /// The front slot's content (`None`: cancelled); the FIFO must not be empty.
    #[inline(always)]
    fn pop_front(&mut self) -> Option<E> {
        assert!(self.len > 0, "non-empty");
        let event = self.buf[self.head].take();
        self.head = (self.head + 1) & (self.buf.len() - 1);
        self.len -= 1;
        event
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (2 * self.buf.len()).max(16);
        let mut buf: Vec<Option<E>> = std::iter::repeat_with(|| None).take(cap).collect();
        let mask = self.buf.len().wrapping_sub(1);
        for (i, slot) in buf.iter_mut().take(self.len).enumerate() {
            *slot = self.buf[(self.head + i) & mask].take();
        }
        self.buf = buf;
        self.head = 0;
    }
}

/// Names one scheduled event so that it can be cancelled. Keys are never reused: a key whose event
/// already ran or was cancelled cancels nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    /// The slab slot of a heap event, or [`NOW_SLOT`] for an event in the current instant's FIFO.
    slot: u32,
    /// A heap event's sequence number; for an event in the FIFO, its position in the FIFO counted
    /// from the first event ever pushed there (unique too).
    seq: u64,
}

/// The slot of keys whose event waits in the current instant's FIFO (stored there, not in the slab).
const NOW_SLOT: u32 = u32::MAX;

/// Events due further ahead than this when scheduled wait in the far heap: long timers (heartbeats,
/// sessions, fetch waits) then do not deepen the heap that every message's events go through.
/// Only speed depends on it: both heaps are ordered by (time, sequence) and `pop` takes the earlier
/// head, so the order is exact whatever the split.
pub const FAR_AHEAD: SimDuration = SimDuration(100_000_000);

/// The pending-event set and the clock.
pub struct Scheduler<E> {
    now: SimTime,
    seq: u64,
    /// Events due within [`FAR_AHEAD`] when scheduled (and after the current instant).
    near: Heap,
    /// Events due later than that.
    far: Heap,
    /// Events scheduled for the current instant, in scheduling order, stored inline: a FIFO beside
    /// the heaps. Anything in a heap for this same instant was scheduled earlier (a lower sequence
    /// number), so it runs first; then these. The order is exactly (time, sequence), at no heap or
    /// slab cost. A cancelled one is left as `None`. Only events are stored (an event is copied in
    /// and out at the same offsets, which the processor forwards from store to load at once); a
    /// key names its event by its position, `now_base` + index.
    now_queue: Fifo<E>,
    /// Events popped from the front of `now_queue` so far.
    now_base: u64,
    /// Pending heap events, indexed by `Entry::slot`; `slab_seq` holds the sequence number that
    /// owns each slot (a cancelled event leaves its heap entry behind; the mismatch tells `pop` to
    /// skip it).
    slab: Vec<Option<E>>,
    slab_seq: Vec<u64>,
    free: Vec<u32>,
    processed: u64,
    pending: usize,
    /// Cancelled heap events whose entries have not been dropped yet: while it is 0 (nearly
    /// always), `skip_cancelled` has nothing to look at in the heaps.
    cancelled: usize,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Scheduler<E> {
    pub fn new() -> Self {
        Scheduler {
            now: SimTime::ZERO,
            seq: 0,
            near: Heap::new(),
            far: Heap::new(),
            now_queue: Fifo::default(),
            now_base: 0,
            slab: Vec::new(),
            slab_seq: Vec::new(),
            free: Vec::new(),
            processed: 0,
            pending: 0,
            cancelled: 0,
        }
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at absolute time `at`. Scheduling in the past is a model bug; it is clamped
    /// to `now` in release builds so that time never runs backwards.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) -> EventKey {
        self.schedule_at_with(at, || event)
    }

    /// [`Self::schedule_at`] with the event made by `event` once its place is known: an event
    /// for the current instant is then written straight into the FIFO, not built beside it and
    /// copied (the copy's loads had to wait for the stores of its small fields).
    #[inline(always)]
    pub fn schedule_at_with(&mut self, at: SimTime, event: impl FnOnce() -> E) -> EventKey {
        debug_assert!(at >= self.now, "event scheduled in the past");
        if at <= self.now {
            // The common case of a zero-latency network: inlined into the caller.
            self.seq += 1;
            self.pending += 1;
            let position = self.now_base + self.now_queue.len() as u64;
            self.now_queue.push_with(event);
            return EventKey { slot: NOW_SLOT, seq: position };
        }
        self.schedule_later(at, event())
    }

    /// [`Self::schedule_in`] with the event made in place, as [`Self::schedule_at_with`].
    #[inline(always)]
    pub fn schedule_in_with(&mut self, delay: SimDuration, event: impl FnOnce() -> E) -> EventKey {
        self.schedule_at_with(self.now.after(delay), event)
    }

    /// [`Self::schedule_at`] for an event after the current instant: into a heap.
    #[inline(never)]
    fn schedule_later(&mut self, at: SimTime, event: E) -> EventKey {
        let seq = self.seq;
        self.seq += 1;
        self.pending += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(event);
                self.slab_seq[i as usize] = seq;
                i
            }
            None => {
                self.slab.push(Some(event));
                self.slab_seq.push(seq);
                u32::try_from(self.slab.len() - 1)
                    .ok()
                    .filter(|&s| s != NOW_SLOT)
                    .expect("fewer than 2^32 - 1 pending events")
            }
        };
        let entry = Entry { at, seq, slot };
        if at.0 - self.now.0 > FAR_AHEAD.0 {
            self.far.push(entry);
        } else {
            self.near.push(entry);
        }
        EventKey { slot, seq }
    }

    pub fn schedule_in(&mut self, delay: SimDuration, event: E) -> EventKey {
        self.schedule_at(self.now.after(delay), event)
    }

    /// Cancels a pending event; returns it, or `None` if it already ran or was cancelled. A heap
    /// event's slot is freed when its entry surfaces.
    pub fn cancel(&mut self, key: EventKey) -> Option<E> {
        if key.slot == NOW_SLOT {
            let i = usize::try_from(key.seq.checked_sub(self.now_base)?).ok()?;
            let e = self.now_queue.get_mut(i)?.take();
            if e.is_some() {
                self.pending -= 1;
            }
            return e;
        }
        if self.slab_seq.get(key.slot as usize) != Some(&key.seq) {
            return None;
        }
        let e = self.slab[key.slot as usize].take();
        if e.is_some() {
            self.pending -= 1;
            self.cancelled += 1;
        }
        e
    }

    /// Drops cancelled entries from the front of the FIFO and of both heaps (their slots are freed).
    fn skip_cancelled(&mut self) {
        while let Some(None) = self.now_queue.front() {
            let _ = self.now_queue.pop_front();
            self.now_base += 1;
        }
        if self.cancelled == 0 {
            return;
        }
        for far in [false, true] {
            loop {
                let heap = if far { &mut self.far } else { &mut self.near };
                let Some(e) = heap.peek() else { break };
                if self.slab_seq[e.slot as usize] == e.seq && self.slab[e.slot as usize].is_some() {
                    break;
                }
                let slot = e.slot;
                heap.pop();
                self.free.push(slot);
                self.cancelled -= 1;
            }
        }
    }

    /// The heap whose head is the earliest heap event: true for the far heap.
    fn far_first(&self) -> Option<bool> {
        match (self.near.peek(), self.far.peek()) {
            (None, None) => None,
            (Some(_), None) => Some(false),
            (None, Some(_)) => Some(true),
            (Some(n), Some(f)) => Some(f.key() < n.key()),
        }
    }

    /// Removes the next event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_until(SimTime::NEVER)
    }

    /// Removes the next event if it is due at or before `deadline`, and advances the clock to its
    /// time. If the next event lies beyond `deadline`, the clock moves to `deadline` (not past it:
    /// a later call with a later deadline resumes) and nothing is removed.
    #[inline]
    pub fn pop_until(&mut self, deadline: SimTime) -> Option<(SimTime, E)> {
        self.take_until(deadline).map(|e| (self.now, e))
    }

    /// [`Self::pop_until`] without the time, which is then [`Self::now`]: the event alone is
    /// handed out, at the offsets it was stored at (a tuple in front of it shifted every copy of
    /// it, and the processor could not forward those stores to the loads that followed). One pass
    /// over the queue heads: the engine's loop calls this for every event.
    #[inline]
    pub fn take_until(&mut self, deadline: SimTime) -> Option<E> {
        // Fast path, most events: the current instant's FIFO, when no heap event is due at this
        // instant (a heap head at `now`, even a cancelled one, sends us the long way round). Its
        // events are at `now`, which never passes `deadline`.
        if let Some(Some(_)) = self.now_queue.front() {
            let now = self.now;
            if self.near.peek().is_none_or(|e| e.at > now) && self.far.peek().is_none_or(|e| e.at > now) {
                return self.take_front();
            }
        }
        self.take_heads(deadline)
    }

    /// [`Self::take_until`] when the FIFO's head is not simply next: compare every queue's head.
    #[inline(never)]
    fn take_heads(&mut self, deadline: SimTime) -> Option<E> {
        self.skip_cancelled();
        let heap = self.far_first();
        let head_at = heap.map(|far| if far { &self.far } else { &self.near }.peek().expect("non-empty").at);
        // Heap entries for this instant were scheduled before anything in the FIFO.
        let from_heap = match (head_at, self.now_queue.is_empty()) {
            (None, true) => return None,
            (Some(_), true) => true,
            (None, false) => false,
            (Some(at), false) => at <= self.now,
        };
        if from_heap && head_at.is_some_and(|at| at > deadline) {
            self.now = self.now.max(deadline);
            return None;
        }
        if !from_heap {
            return self.take_front();
        }
        self.pending -= 1;
        self.processed += 1;
        let e = if heap == Some(true) { self.far.pop() } else { self.near.pop() }.expect("non-empty");
        self.now = e.at;
        let slot = &mut self.slab[e.slot as usize];
        assert!(slot.is_some(), "a live heap entry holds its event");
        // Taken whole: `expect` here would copy the event's tag apart from the rest, and the
        // loads that follow would wait for both stores.
        let event = slot.take();
        self.free.push(e.slot);
        event
    }

    /// Removes the FIFO's head, which is a live event (not cancelled). Taken whole, as above.
    #[inline(always)]
    fn take_front(&mut self) -> Option<E> {
        let event = self.now_queue.pop_front();
        assert!(event.is_some(), "cancelled entries were skipped");
        self.now_base += 1;
        self.pending -= 1;
        self.processed += 1;
        event
    }

    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.skip_cancelled();
        if !self.now_queue.is_empty() {
            return Some(self.now);
        }
        let far = self.far_first()?;
        Some(if far { &self.far } else { &self.near }.peek().expect("non-empty").at)
    }

    /// Events scheduled and neither run nor cancelled.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Events handled so far (for benchmarks and progress).
    pub fn events_processed(&self) -> u64 {
        self.processed
    }
}

/// A model driven by the engine: it handles one event at a time and may schedule more.
pub trait Model {
    type Event;
    fn handle(&mut self, now: SimTime, event: Self::Event, sched: &mut Scheduler<Self::Event>);
    /// True once the model has nothing left to do (checked after every event).
    fn finished(&self) -> bool;
    /// True when the model is not finished but can no longer get there, so the run must stop
    /// (checked every `PROGRESS_EVERY` events: a stalled model runs on for at most that many).
    fn stalled(&self, _now: SimTime) -> bool {
        false
    }
}

/// Sees every event just before the model handles it (debugging, event traces, tests).
pub trait Tracer<E> {
    fn dispatch(&mut self, at: SimTime, event: &E);
}

/// The tracer that does nothing (compiled away).
pub struct NoTrace;

impl<E> Tracer<E> for NoTrace {
    #[inline(always)]
    fn dispatch(&mut self, _: SimTime, _: &E) {}
}

/// Runs `model` until it says it is finished, no event is left, or the next event lies beyond
/// `deadline`. Returns the time of the last event handled (or `deadline` if it cut the run).
/// Calls `progress` with the current time every `PROGRESS_EVERY` events.
pub fn run_until<M: Model>(
    model: &mut M,
    sched: &mut Scheduler<M::Event>,
    deadline: SimTime,
    progress: impl FnMut(SimTime),
) -> SimTime {
    run_traced(model, sched, deadline, progress, &mut NoTrace)
}

/// [`run_until`] with a tracer that sees each event before it is handled.
pub fn run_traced<M: Model, T: Tracer<M::Event>>(
    model: &mut M,
    sched: &mut Scheduler<M::Event>,
    deadline: SimTime,
    mut progress: impl FnMut(SimTime),
    tracer: &mut T,
) -> SimTime {
    const PROGRESS_EVERY: u64 = 1 << 16;
    if model.finished() {
        return sched.now();
    }
    // Stops when no event is left, or the next one lies beyond `deadline` (the clock is then there).
    while let Some(event) = sched.take_until(deadline) {
        let now = sched.now();
        tracer.dispatch(now, &event);
        model.handle(now, event, sched);
        if model.finished() {
            break;
        }
        if sched.events_processed() % PROGRESS_EVERY == 0 {
            progress(now);
            if model.stalled(now) {
                break;
            }
        }
    }
    progress(sched.now());
    sched.now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_run_in_insertion_order() {
        let mut s = Scheduler::new();
        s.schedule_at(SimTime(10), 'b');
        s.schedule_at(SimTime(5), 'a');
        s.schedule_at(SimTime(10), 'c');
        s.schedule_at(SimTime(10), 'd');
        let order: Vec<char> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['a', 'b', 'c', 'd']);
        assert_eq!(s.now(), SimTime(10));
    }

    #[test]
    fn cancelled_events_never_run_and_keys_are_not_reused() {
        let mut s = Scheduler::new();
        let a = s.schedule_at(SimTime(5), 'a');
        let b = s.schedule_at(SimTime(5), 'b');
        s.schedule_at(SimTime(7), 'c');
        assert_eq!(s.cancel(b), Some('b'));
        assert_eq!(s.cancel(b), None, "cancelling twice does nothing");
        assert_eq!(s.pending(), 2);
        assert_eq!(s.pop(), Some((SimTime(5), 'a')));
        assert_eq!(s.cancel(a), None, "an event that ran cannot be cancelled");
        // The freed slots are reused by new events; the old keys must not cancel them.
        let d = s.schedule_at(SimTime(6), 'd');
        assert_eq!(s.cancel(a), None);
        assert_eq!(s.cancel(b), None);
        assert_eq!(s.peek_time(), Some(SimTime(6)));
        assert_eq!(s.pop(), Some((SimTime(6), 'd')));
        assert_eq!(s.cancel(d), None);
        assert_eq!(s.pop(), Some((SimTime(7), 'c')));
        assert_eq!((s.pop(), s.pending()), (None, 0));
    }

    #[test]
    fn a_cancelled_head_does_not_stop_the_run_early() {
        // The cancelled event is the earliest: peek must look past it, not report its time.
        let mut s = Scheduler::new();
        let k = s.schedule_at(SimTime(1), 1);
        s.schedule_at(SimTime(9), 2);
        s.cancel(k);
        assert_eq!(s.peek_time(), Some(SimTime(9)));
    }

    #[test]
    fn clock_follows_events() {
        let mut s = Scheduler::new();
        s.schedule_in(SimDuration(7), ());
        assert_eq!(s.pop().unwrap().0, SimTime(7));
        s.schedule_in(SimDuration(3), ());
        assert_eq!(s.pop().unwrap().0, SimTime(10));
        assert!(s.pop().is_none());
    }

    #[test]
    fn near_and_far_events_at_one_instant_run_in_scheduling_order() {
        // 'a' is far ahead when scheduled, 'b' (same instant) near: 'a' was scheduled first.
        let mut s = Scheduler::new();
        let at = SimTime(2 * FAR_AHEAD.0);
        s.schedule_at(at, 'a');
        s.schedule_at(SimTime(FAR_AHEAD.0 + FAR_AHEAD.0 / 2), 'm');
        assert_eq!(s.pop(), Some((SimTime(FAR_AHEAD.0 + FAR_AHEAD.0 / 2), 'm')));
        s.schedule_at(at, 'b');
        s.schedule_at(SimTime(at.0 - 1), 'c');
        let order: Vec<char> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['c', 'a', 'b']);
    }

    #[test]
    fn events_of_the_current_instant_can_be_cancelled() {
        let mut s = Scheduler::new();
        s.schedule_at(SimTime(0), 'x');
        let y = s.schedule_at(SimTime(0), 'y');
        s.schedule_at(SimTime(0), 'z');
        assert_eq!(s.cancel(y), Some('y'));
        assert_eq!(s.cancel(y), None);
        assert_eq!(s.pending(), 2);
        let order: Vec<char> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['x', 'z']);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn the_heap_pops_in_time_and_sequence_order() {
        // Random pushes and pops (times with many ties, some far ahead), against a sorted model.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let mut heap = Heap::default();
        let mut model = std::collections::BTreeSet::new();
        let mut seq = 0;
        for round in 0..20_000 {
            if rng.random_range(0..10) < 6 || round < 50 {
                let at = SimTime(rng.random_range(0..50) * if rng.random_bool(0.1) { 1_000 } else { 1 });
                heap.push(Entry { at, seq, slot: seq as u32 });
                model.insert((at, seq));
                seq += 1;
            } else {
                let got = heap.pop().map(|e| (e.at, e.seq));
                assert_eq!(got, model.pop_first(), "round {round}");
            }
            assert_eq!(heap.peek().map(|e| (e.at, e.seq)), model.first().copied());
        }
        while let Some(e) = heap.pop() {
            assert_eq!(Some((e.at, e.seq)), model.pop_first());
        }
        assert!(model.is_empty());
    }

    /// A clock that ticks every second forever and never finishes, stalled from 1,000 s on.
    struct Ticker;

    impl Model for Ticker {
        type Event = ();
        fn handle(&mut self, _: SimTime, _: (), sched: &mut Scheduler<()>) {
            sched.schedule_in(SimDuration(1_000_000_000), ());
        }
        fn finished(&self) -> bool {
            false
        }
        fn stalled(&self, now: SimTime) -> bool {
            now >= SimTime(1_000 * 1_000_000_000)
        }
    }

    #[test]
    fn a_stalled_model_stops_the_run_within_one_progress_period() {
        let mut s = Scheduler::new();
        s.schedule_at(SimTime::ZERO, ());
        let end = run_until(&mut Ticker, &mut s, SimTime::NEVER, |_| {});
        // Checked every 65,536 events (one per second here): the first check after 1,000 s.
        assert_eq!(end, SimTime(65_535 * 1_000_000_000));
        assert_eq!(s.events_processed(), 65_536);
    }
}
