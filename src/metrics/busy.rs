//! Consumer utilisation: how much of the measurement window each consumer spent processing,
//! recounted from `processing_started` and `processed` client events alone (the models report
//! them; they keep no such counter).
//!
//! Definitions (per group, per consumer index):
//! * a *job* is a `processing_started` followed by the same consumer's `processed` of the same
//!   message; it spans `[start, done)`. A job whose consumer crashed never reports `processed`:
//!   it counts nothing (the next `processing_started` of that consumer replaces it). A hung job
//!   counts up to the instant it completes, when the consumer resumes.
//! * busy time: the sum over completed jobs of their overlap with the measurement window
//!   `[warmup, duration)` (the window of `throughput_per_s`), so a job straddling either end
//!   counts only its part inside; it is credited when the job completes (during the drain too).
//! * `busy_fraction`: busy time / window length.
//! * `processed_in_window`: the consumer's processing completions in the window (over a group's
//!   consumers these add up to `throughput_per_s` x window).
//! * idle: busy time 0 and no completion in the window: the consumer did no work in it at all
//!   (a Kafka consumer beyond the partition count, or one whose partitions got no messages).
//!
//! State is a `Vec` per group indexed by consumer, grown when an event names a consumer beyond it
//! (consumers added during a run), so each event costs one index, no map.

use crate::time::SimTime;
use crate::workload::MessageId;

/// No job under way.
const NO_JOB: MessageId = MessageId::MAX;

/// One consumer's accounting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConsumerBusy {
    /// Start of the job under way and its message (`NO_JOB`: none).
    job_start: SimTime,
    job_id: MessageId,
    /// Busy nanoseconds inside the window, of completed jobs.
    pub busy_ns: u64,
    /// Processing completions inside the window.
    pub processed_in_window: u64,
}

impl Default for ConsumerBusy {
    fn default() -> Self {
        ConsumerBusy { job_start: SimTime::ZERO, job_id: NO_JOB, busy_ns: 0, processed_in_window: 0 }
    }
}

impl ConsumerBusy {
    /// Did no work in the window at all.
    pub fn idle(&self) -> bool {
        self.busy_ns == 0 && self.processed_in_window == 0
    }
}

/// Busy time of every consumer of every group, within `[from, to)`.
#[derive(Clone, Debug)]
pub struct Busy {
    from: SimTime,
    to: SimTime,
    /// Per group, per consumer index.
    pub groups: Vec<Vec<ConsumerBusy>>,
}

impl Busy {
    /// `consumers[g]`: the consumers group `g` starts with (more are added when they show up).
    pub fn new(from: SimTime, to: SimTime, consumers: impl IntoIterator<Item = u32>) -> Self {
        Busy { from, to, groups: consumers.into_iter().map(|n| vec![ConsumerBusy::default(); n as usize]).collect() }
    }

    /// Window length in seconds.
    pub fn window_secs(&self) -> f64 {
        self.to.since(self.from).as_secs_f64()
    }

    #[inline(always)]
    fn consumer(&mut self, group: usize, consumer: u32) -> &mut ConsumerBusy {
        let c = consumer as usize;
        let v = &mut self.groups[group];
        if c >= v.len() {
            grow(v, c);
        }
        &mut v[c]
    }

    /// `consumer` of `group` started processing message `id` at `at`.
    #[inline(always)]
    pub fn started(&mut self, at: SimTime, group: usize, consumer: u32, id: MessageId) {
        let c = self.consumer(group, consumer);
        c.job_start = at;
        c.job_id = id;
    }

    /// `consumer` of `group` finished processing message `id` at `at`.
    #[inline(always)]
    pub fn processed(&mut self, at: SimTime, group: usize, consumer: u32, id: MessageId) {
        let (from, to) = (self.from, self.to);
        let c = self.consumer(group, consumer);
        if at >= from && at < to {
            c.processed_in_window += 1;
        }
        if c.job_id == id {
            let start = c.job_start.max(from);
            let end = at.min(to);
            if end > start {
                c.busy_ns += end.since(start).0;
            }
            c.job_id = NO_JOB;
        }
    }

    /// Busy fraction of one consumer: busy time / window length.
    pub fn fraction(&self, c: &ConsumerBusy) -> f64 {
        let window = self.to.since(self.from).0;
        if window == 0 { 0.0 } else { c.busy_ns as f64 / window as f64 }
    }
}

#[cold]
#[inline(never)]
fn grow(v: &mut Vec<ConsumerBusy>, index: usize) {
    v.resize(index + 1, ConsumerBusy::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SimTime {
        SimTime(secs * 1_000_000_000)
    }

    /// Window [10 s, 20 s).
    fn busy() -> Busy {
        Busy::new(t(10), t(20), [2])
    }

    #[test]
    fn job_inside_the_window_counts_whole() {
        let mut b = busy();
        b.started(t(12), 0, 0, 7);
        b.processed(t(15), 0, 0, 7);
        let c = b.groups[0][0];
        assert_eq!((c.busy_ns, c.processed_in_window), (3_000_000_000, 1));
        assert_eq!(b.fraction(&c), 0.3);
        assert!(!c.idle());
        assert!(b.groups[0][1].idle());
    }

    #[test]
    fn job_straddling_the_window_start_counts_its_part_inside() {
        let mut b = busy();
        b.started(t(8), 0, 0, 1);
        b.processed(t(11), 0, 0, 1);
        assert_eq!(b.groups[0][0].busy_ns, 1_000_000_000);
        assert_eq!(b.groups[0][0].processed_in_window, 1);
    }

    #[test]
    fn job_straddling_the_window_end_counts_its_part_inside() {
        let mut b = busy();
        b.started(t(18), 0, 1, 1);
        b.processed(t(25), 0, 1, 1);
        let c = b.groups[0][1];
        // Completed after the window: busy, yet no completion in it; not idle.
        assert_eq!((c.busy_ns, c.processed_in_window), (2_000_000_000, 0));
        assert!(!c.idle());
    }

    #[test]
    fn job_spanning_the_whole_window_is_fully_busy() {
        let mut b = busy();
        b.started(t(5), 0, 0, 1);
        b.processed(t(30), 0, 0, 1);
        assert_eq!(b.fraction(&b.groups[0][0]), 1.0);
    }

    #[test]
    fn jobs_outside_the_window_count_nothing() {
        let mut b = busy();
        b.started(t(1), 0, 0, 1);
        b.processed(t(10), 0, 0, 1);
        b.started(t(20), 0, 0, 2);
        b.processed(t(21), 0, 0, 2);
        let c = b.groups[0][0];
        // The first ends at the window's start (an empty overlap) but completes in it: [from, to).
        assert_eq!((c.busy_ns, c.processed_in_window), (0, 1));
    }

    #[test]
    fn a_job_cut_by_a_crash_counts_nothing_and_is_replaced() {
        let mut b = busy();
        b.started(t(11), 0, 0, 1);
        // Crashed: no `processed` for message 1; after the restart it processes message 2.
        b.started(t(14), 0, 0, 2);
        b.processed(t(15), 0, 0, 2);
        // A late `processed` of message 1 (never reported in practice) has no job to close.
        b.processed(t(16), 0, 0, 1);
        assert_eq!(b.groups[0][0].busy_ns, 1_000_000_000);
    }

    #[test]
    fn consumers_beyond_the_start_count_are_added() {
        let mut b = busy();
        b.started(t(12), 0, 5, 1);
        b.processed(t(13), 0, 5, 1);
        assert_eq!(b.groups[0].len(), 6);
        assert_eq!(b.groups[0][5].busy_ns, 1_000_000_000);
        assert!(b.groups[0][2..5].iter().all(ConsumerBusy::idle));
    }
}
