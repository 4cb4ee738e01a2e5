//! The discrete-event engine. It knows nothing about Kafka or RabbitMQ: a model brings its own closed
//! `enum` of events and a handler; the engine keeps the pending-event set and advances time to the
//! next event.
//!
//! Ordering is total and machine-independent: events are ordered by (time, insertion sequence), so
//! two events at the same nanosecond run in the order they were scheduled (FIFO).

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

/// The pending-event set and the clock.
pub struct Scheduler<E> {
    now: SimTime,
    seq: u64,
    heap: BinaryHeap<Entry<E>>,
    /// Pending events, indexed by `Entry::slot`; `free` lists the empty slots.
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    processed: u64,
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
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            processed: 0,
        }
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at absolute time `at`. Scheduling in the past is a model bug; it is clamped
    /// to `now` in release builds so that time never runs backwards.
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        debug_assert!(at >= self.now, "event scheduled in the past");
        let at = at.max(self.now);
        let seq = self.seq;
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(event);
                i
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Entry { at, seq, slot, _event: std::marker::PhantomData });
    }

    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        self.schedule_at(self.now.after(delay), event);
    }

    /// Removes the next event and advances the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.heap.pop()?;
        self.now = e.at;
        self.processed += 1;
        let event = self.slab[e.slot as usize].take().expect("a pending slot holds its event");
        self.free.push(e.slot);
        Some((e.at, event))
    }

    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.at)
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
}

/// Runs `model` until it says it is finished, no event is left, or the next event lies beyond
/// `deadline`. Returns the time of the last event handled (or `deadline` if it cut the run).
/// Calls `progress` with the current time every `PROGRESS_EVERY` events.
pub fn run_until<M: Model>(
    model: &mut M,
    sched: &mut Scheduler<M::Event>,
    deadline: SimTime,
    mut progress: impl FnMut(SimTime),
) -> SimTime {
    const PROGRESS_EVERY: u64 = 1 << 16;
    if model.finished() {
        return sched.now();
    }
    loop {
        match sched.peek_time() {
            None => break,
            Some(t) if t > deadline => {
                sched.now = deadline;
                break;
            }
            Some(_) => {}
        }
        let (now, event) = sched.pop().expect("peeked");
        model.handle(now, event, sched);
        if model.finished() {
            break;
        }
        if sched.events_processed() % PROGRESS_EVERY == 0 {
            progress(now);
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
    fn clock_follows_events() {
        let mut s = Scheduler::new();
        s.schedule_in(SimDuration(7), ());
        assert_eq!(s.pop().unwrap().0, SimTime(7));
        s.schedule_in(SimDuration(3), ());
        assert_eq!(s.pop().unwrap().0, SimTime(10));
        assert!(s.pop().is_none());
    }
}
