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
struct Entry<E> {
    at: SimTime,
    seq: u64,
    slot: u32,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Names one scheduled event so that it can be cancelled. Keys are never reused: a key whose event
/// already ran or was cancelled cancels nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    /// The slab slot of a heap event, or [`NOW_SLOT`] for an event in the current instant's FIFO.
    slot: u32,
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
    near: BinaryHeap<Entry<E>>,
    /// Events due later than that.
    far: BinaryHeap<Entry<E>>,
    /// Events scheduled for the current instant, in scheduling order, stored inline: a FIFO beside
    /// the heaps. Anything in a heap for this same instant was scheduled earlier (a lower sequence
    /// number), so it runs first; then these. The order is exactly (time, sequence), at no heap or
    /// slab cost. A cancelled one is left as `None` (sequence numbers are increasing, so `cancel`
    /// finds it by binary search).
    now_queue: std::collections::VecDeque<(u64, Option<E>)>,
    /// Pending heap events, indexed by `Entry::slot`, with the sequence number that owns the slot
    /// (a cancelled event leaves its heap entry behind; the mismatch tells `pop` to skip it).
    slab: Vec<(u64, Option<E>)>,
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
            near: BinaryHeap::new(),
            far: BinaryHeap::new(),
            now_queue: std::collections::VecDeque::new(),
            slab: Vec::new(),
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
        debug_assert!(at >= self.now, "event scheduled in the past");
        if at <= self.now {
            // The common case of a zero-latency network: inlined into the caller.
            let seq = self.seq;
            self.seq += 1;
            self.pending += 1;
            self.now_queue.push_back((seq, Some(event)));
            return EventKey { slot: NOW_SLOT, seq };
        }
        self.schedule_later(at, event)
    }

    /// [`Self::schedule_at`] for an event after the current instant: into a heap.
    #[inline(never)]
    fn schedule_later(&mut self, at: SimTime, event: E) -> EventKey {
        let seq = self.seq;
        self.seq += 1;
        self.pending += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = (seq, Some(event));
                i
            }
            None => {
                self.slab.push((seq, Some(event)));
                u32::try_from(self.slab.len() - 1)
                    .ok()
                    .filter(|&s| s != NOW_SLOT)
                    .expect("fewer than 2^32 - 1 pending events")
            }
        };
        let entry = Entry { at, seq, slot, _event: std::marker::PhantomData };
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
            let i = self.now_queue.binary_search_by_key(&key.seq, |&(seq, _)| seq).ok()?;
            let e = self.now_queue[i].1.take();
            if e.is_some() {
                self.pending -= 1;
            }
            return e;
        }
        let (seq, event) = self.slab.get_mut(key.slot as usize)?;
        if *seq != key.seq {
            return None;
        }
        let e = event.take();
        if e.is_some() {
            self.pending -= 1;
            self.cancelled += 1;
        }
        e
    }

    /// Drops cancelled entries from the front of the FIFO and of both heaps (their slots are freed).
    fn skip_cancelled(&mut self) {
        while let Some((_, None)) = self.now_queue.front() {
            self.now_queue.pop_front();
        }
        if self.cancelled == 0 {
            return;
        }
        for far in [false, true] {
            loop {
                let heap = if far { &mut self.far } else { &mut self.near };
                let Some(e) = heap.peek() else { break };
                let (seq, event) = &self.slab[e.slot as usize];
                if *seq == e.seq && event.is_some() {
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
            // `Entry`'s order is reversed: the greater entry is the earlier one.
            (Some(n), Some(f)) => Some(f > n),
        }
    }

    /// Removes the next event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_until(SimTime::NEVER)
    }

    /// Removes the next event if it is due at or before `deadline`, and advances the clock to its
    /// time. If the next event lies beyond `deadline`, the clock moves to `deadline` (not past it:
    /// a later call with a later deadline resumes) and nothing is removed. One pass over the queue
    /// heads: the engine's loop calls this for every event.
    #[inline]
    pub fn pop_until(&mut self, deadline: SimTime) -> Option<(SimTime, E)> {
        // Fast path, most events: the current instant's FIFO, when no heap event is due at this
        // instant (a heap head at `now`, even a cancelled one, sends us the long way round). Its
        // events are at `now`, which never passes `deadline`.
        if let Some((_, Some(_))) = self.now_queue.front() {
            let now = self.now;
            if self.near.peek().is_none_or(|e| e.at > now) && self.far.peek().is_none_or(|e| e.at > now) {
                let (_, event) = self.now_queue.pop_front().expect("non-empty");
                self.pending -= 1;
                self.processed += 1;
                return event.map(|e| (now, e));
            }
        }
        self.pop_heads(deadline)
    }

    /// [`Self::pop_until`] when the FIFO's head is not simply next: compare every queue's head.
    #[inline(never)]
    fn pop_heads(&mut self, deadline: SimTime) -> Option<(SimTime, E)> {
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
        self.pending -= 1;
        self.processed += 1;
        if !from_heap {
            let (_, event) = self.now_queue.pop_front().expect("non-empty");
            return Some((self.now, event.expect("cancelled entries were skipped")));
        }
        let e = if heap == Some(true) { self.far.pop() } else { self.near.pop() }.expect("non-empty");
        self.now = e.at;
        let event = self.slab[e.slot as usize].1.take().expect("a live entry holds its event");
        self.free.push(e.slot);
        Some((self.now, event))
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
    while let Some((now, event)) = sched.pop_until(deadline) {
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
