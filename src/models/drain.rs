//! When a run that drains without limit must stop although it is not finished: the schedule is
//! over and no client event has happened for [`d::DRAIN_STALL_LIMIT`]. One rule for both systems:
//! a model reports its client events here and asks at the end of its schedule.

use crate::scenario::Scenario;
use crate::scenario::defaults as d;
use crate::time::{SimDuration, SimTime};

/// The instant of the last client event, how long a quiet drain may last, and when publishing
/// ends (producers publish in [0, duration)).
#[derive(Debug, Clone, Copy)]
pub struct DrainWatch {
    last_client_event: SimTime,
    limit: SimDuration,
    publish_end: SimTime,
}

impl DrainWatch {
    /// [`d::DRAIN_STALL_LIMIT`], or 100 mean processing times of the slowest group if longer (a
    /// job in progress is quiet until it ends).
    pub fn new(s: &Scenario) -> Self {
        let slowest = s.groups.iter().map(|g| g.processing.mean()).fold(0.0, f64::max);
        let limit = d::DRAIN_STALL_LIMIT.max(SimDuration::from_secs_f64(100.0 * slowest));
        DrainWatch { last_client_event: SimTime::ZERO, limit, publish_end: SimTime(s.duration.0) }
    }

    /// The quiet time after which a drain stops.
    pub fn limit(&self) -> SimDuration {
        self.limit
    }

    #[inline]
    pub fn client_event(&mut self, now: SimTime) {
        self.last_client_event = now;
    }

    /// True when publishing and the rest of the schedule (`schedule_over`: every fault and
    /// operation applied) are over and clients have been quiet for the limit: nothing the run
    /// still waits for can arrive.
    pub fn stalled(&self, now: SimTime, schedule_over: bool) -> bool {
        schedule_over && now >= self.publish_end && now.since(self.last_client_event) >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(processing: &str) -> DrainWatch {
        let toml = format!(
            "duration = \"1m\"\nsystems = [\"rabbitmq\"]\n[workload]\nrate = 1.0\n[[groups]]\nname = \"g\"\nprocessing = \"{processing}\"\n"
        );
        DrainWatch::new(&Scenario::parse(&toml, "t.toml", false).unwrap())
    }

    #[test]
    fn the_limit_is_an_hour_or_a_hundred_slowest_jobs() {
        assert_eq!(watch("10ms").limit(), d::DRAIN_STALL_LIMIT);
        assert_eq!(watch("2m").limit(), SimDuration::from_secs_f64(12_000.0));
    }

    #[test]
    fn stalls_only_after_the_schedule_and_a_full_quiet_limit() {
        let mut w = watch("10ms");
        w.client_event(SimTime(5));
        let at_limit = SimTime(5).after(d::DRAIN_STALL_LIMIT);
        assert!(!w.stalled(SimTime(at_limit.0 - 1), true), "quiet for less than the limit");
        assert!(w.stalled(at_limit, true));
        assert!(!w.stalled(at_limit, false), "the schedule still has steps to come");
        w.client_event(at_limit);
        assert!(!w.stalled(at_limit, true), "a client event restarts the wait");
    }
}
