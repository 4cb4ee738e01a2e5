//! The operator's schedule (`[[operations]]`, and a group's late start), applied once for both
//! systems: a step's bookkeeping and what scaling a group means (it runs its first `n`
//! consumers: new ones start, the ones above stop) live here; a system says only how its
//! consumer processes start and stop and what a group's start and an offset reset do
//! ([`OperatorVerbs`]).

use crate::engine::Scheduler;
use crate::history::GroupIdx;
use crate::scenario::Scenario;
use crate::scenario::operations::{OffsetSpec, Operation, OperationAction};
use crate::time::SimTime;

/// The operations, how many were applied, and per group its running consumers and the ones it
/// starts with.
#[derive(Debug, Clone)]
pub struct OperationSchedule {
    steps: Vec<Operation>,
    done: usize,
    /// Per group: the consumers the operator runs (the first `running` indices).
    running: Vec<u32>,
    /// Per group: the consumers it starts with (a late group starts them at its start).
    planned: Vec<u32>,
}

impl OperationSchedule {
    /// A group that starts late runs no consumer until its start.
    pub fn new(s: &Scenario) -> Self {
        OperationSchedule {
            steps: s.operations.clone(),
            done: 0,
            running: s.groups.iter().map(|g| if g.start == SimTime::ZERO { g.consumers } else { 0 }).collect(),
            planned: s.groups.iter().map(|g| g.consumers).collect(),
        }
    }

    #[inline]
    pub fn over(&self) -> bool {
        self.done == self.steps.len()
    }

    pub fn steps(&self) -> impl Iterator<Item = (usize, &Operation)> {
        self.steps.iter().enumerate()
    }

    /// The consumers group `group` runs now: its first `running(group)`.
    #[inline]
    pub fn running(&self, group: GroupIdx) -> u32 {
        self.running[group]
    }
}

/// What one system does for the operator.
pub trait OperatorVerbs {
    type Event;

    fn operations(&mut self) -> &mut OperationSchedule;
    /// A consumer process starts (a node that is up already does nothing).
    fn start_consumer(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Self::Event>);
    /// A consumer process stops, the way this system's operator stops one.
    fn stop_consumer(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Self::Event>);
    /// A late group starts (before its consumers do).
    fn group_starts(&mut self, _now: SimTime, _group: GroupIdx, _sched: &mut Scheduler<Self::Event>) {}
    fn reset_offsets(&mut self, now: SimTime, group: GroupIdx, to: OffsetSpec, sched: &mut Scheduler<Self::Event>);
}

/// Applies operation `i`.
#[cold]
#[inline(never)]
pub fn apply<V: OperatorVerbs>(v: &mut V, now: SimTime, i: usize, sched: &mut Scheduler<V::Event>) {
    let ops = v.operations();
    ops.done = i + 1;
    let Operation { group, action, .. } = ops.steps[i];
    match action {
        OperationAction::Start => {
            v.group_starts(now, group, sched);
            let n = v.operations().planned[group];
            scale(v, now, group, n, sched);
        }
        OperationAction::Scale { consumers } => scale(v, now, group, consumers, sched),
        OperationAction::Stop { consumer } => v.stop_consumer(now, group, consumer, sched),
        OperationAction::Restart { consumer } => v.start_consumer(now, group, consumer, sched),
        OperationAction::ResetOffsets { to } => v.reset_offsets(now, group, to, sched),
    }
}

/// The group runs its first `n` consumers: new ones start, the ones above stop. No other
/// consumer is touched.
fn scale<V: OperatorVerbs>(v: &mut V, now: SimTime, group: GroupIdx, n: u32, sched: &mut Scheduler<V::Event>) {
    let was = std::mem::replace(&mut v.operations().running[group], n);
    for c in was..n {
        v.start_consumer(now, group, c, sched);
    }
    for c in n..was {
        v.stop_consumer(now, group, c, sched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes down every verb called, in order.
    struct Fake {
        ops: OperationSchedule,
        said: Vec<String>,
    }

    impl OperatorVerbs for Fake {
        type Event = ();
        fn operations(&mut self) -> &mut OperationSchedule {
            &mut self.ops
        }
        fn start_consumer(&mut self, _: SimTime, g: GroupIdx, i: u32, _: &mut Scheduler<()>) {
            self.said.push(format!("start {g}/{i}"));
        }
        fn stop_consumer(&mut self, _: SimTime, g: GroupIdx, i: u32, _: &mut Scheduler<()>) {
            self.said.push(format!("stop {g}/{i}"));
        }
        fn group_starts(&mut self, _: SimTime, g: GroupIdx, _: &mut Scheduler<()>) {
            self.said.push(format!("group {g} starts"));
        }
        fn reset_offsets(&mut self, _: SimTime, g: GroupIdx, to: OffsetSpec, _: &mut Scheduler<()>) {
            self.said.push(format!("reset {g} to {to:?}"));
        }
    }

    /// Group `a` runs 2 consumers from the start and scales to 4, then to 1; group `b` (3
    /// consumers) starts at 10 s; a stop, a restart and a reset go straight to the system.
    #[test]
    fn scaling_starts_the_new_consumers_and_stops_the_ones_above() {
        let toml = "duration = \"1m\"\n[workload]\nrate = 1.0\n\
                    [[groups]]\nname = \"a\"\nconsumers = 2\n\
                    [[groups]]\nname = \"b\"\nconsumers = 3\nstart = \"10s\"\n";
        let s = Scenario::parse(toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
        let mut v = Fake { ops: OperationSchedule::new(&s), said: Vec::new() };
        assert_eq!((v.ops.running(0), v.ops.running(1)), (2, 0), "b runs nothing before its start");
        let op = |group, action| Operation { at: SimTime::ZERO, group, action };
        v.ops.steps = vec![
            op(0, OperationAction::Scale { consumers: 4 }),
            op(1, OperationAction::Start),
            op(0, OperationAction::Scale { consumers: 1 }),
            op(1, OperationAction::Stop { consumer: 1 }),
            op(1, OperationAction::Restart { consumer: 1 }),
            op(1, OperationAction::ResetOffsets { to: OffsetSpec::Earliest }),
        ];
        let order = 0..v.ops.steps.len();
        let mut sched = Scheduler::new();
        for i in order {
            assert!(!v.ops.over());
            apply(&mut v, SimTime::ZERO, i, &mut sched);
        }
        assert!(v.ops.over());
        assert_eq!(
            v.said,
            [
                "start 0/2",
                "start 0/3",
                "group 1 starts",
                "start 1/0",
                "start 1/1",
                "start 1/2",
                "stop 0/1",
                "stop 0/2",
                "stop 0/3",
                "stop 1/1",
                "start 1/1",
                "reset 1 to Earliest",
            ]
        );
        assert_eq!((v.ops.running(0), v.ops.running(1)), (1, 3), "a stop or restart is not a scale");
    }
}
