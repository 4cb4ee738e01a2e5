//! When a run that drains without limit must stop although it is not finished: the schedule is
//! over and no client event has happened for [`d::DRAIN_STALL_LIMIT`]. One rule for both systems:
//! a model reports its client events here and asks at the end of its schedule.

use crate::scenario::defaults as d;
use crate::time::SimTime;

/// The instant of the last client event.
#[derive(Debug, Default, Clone, Copy)]
pub struct DrainWatch {
    last_client_event: SimTime,
}

impl DrainWatch {
    #[inline]
    pub fn client_event(&mut self, now: SimTime) {
        self.last_client_event = now;
    }

    /// True when the schedule is over and clients have been quiet for the limit: nothing the run
    /// still waits for can arrive.
    pub fn stalled(&self, now: SimTime, schedule_over: bool) -> bool {
        schedule_over && now.since(self.last_client_event) >= d::DRAIN_STALL_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_only_after_the_schedule_and_a_full_quiet_limit() {
        let mut w = DrainWatch::default();
        w.client_event(SimTime(5));
        let at_limit = SimTime(5).after(d::DRAIN_STALL_LIMIT);
        assert!(!w.stalled(SimTime(at_limit.0 - 1), true), "quiet for less than the limit");
        assert!(w.stalled(at_limit, true));
        assert!(!w.stalled(at_limit, false), "the schedule still has steps to come");
        w.client_event(at_limit);
        assert!(!w.stalled(at_limit, true), "a client event restarts the wait");
    }
}
