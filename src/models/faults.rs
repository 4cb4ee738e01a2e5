//! The fault schedule, applied once for both systems (issue 16): a step is reported, its target
//! resolved to nodes, and the world's verbs (crash, restart, split, heal) applied here; a system
//! says only what its own nodes do about it ([`FaultVerbs`]). So "a crash of a host that is
//! already down does nothing", "a partition's unnamed nodes join the last side" and "the step
//! is reported before anything it causes" hold the same in both.

use crate::engine::Scheduler;
use crate::history::{GroupIdx, Observation};
use crate::scenario::Scenario;
use crate::scenario::faults::{Fault, FaultAction, FaultTarget};
use crate::time::SimTime;
use crate::world::{NodeId, World};

/// The schedule's steps and how many were applied.
#[derive(Debug, Clone)]
pub struct FaultSchedule {
    steps: Vec<Fault>,
    done: usize,
}

impl FaultSchedule {
    pub fn new(s: &Scenario) -> Self {
        FaultSchedule { steps: s.faults.clone(), done: 0 }
    }

    /// Every step was applied: no crashed node will come back unless it is up already.
    #[inline]
    pub fn over(&self) -> bool {
        self.done == self.steps.len()
    }

    /// Every step, with its index (the model's fault event carries it).
    pub fn steps(&self) -> impl Iterator<Item = (usize, &Fault)> {
        self.steps.iter().enumerate()
    }
}

/// What one system's nodes do when the world changes under them. The harness ([`apply`]) has
/// already crashed or restarted the node when a `*_crashed` or `*_restarted` verb is called, and
/// calls it only when the node's state changed (a crash of a node that is down does nothing).
pub trait FaultVerbs {
    type Event;

    fn world(&mut self) -> &mut World;
    fn schedule(&mut self) -> &mut FaultSchedule;
    /// Into the history (the charts draw the step's band).
    fn record(&mut self, now: SimTime, o: Observation);
    /// The node that `leader` means at step `step` (a repair: the one the step it repairs hit);
    /// `None`: there is none, and the step does nothing.
    fn leader(&mut self, step: usize, repairs: Option<usize>) -> Option<NodeId>;
    /// The node a consumer runs on.
    fn consumer_node(&self, group: GroupIdx, index: u32) -> NodeId;
    /// The producer hosts, in order.
    fn producers(&self) -> usize;
    fn producer_node(&self, k: usize) -> NodeId;

    fn consumer_crashed(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Self::Event>);
    fn consumer_restarted(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Self::Event>);
    /// The consumer's application stops making progress (its process and connection live on).
    fn consumer_hung(&mut self, group: GroupIdx, index: u32);
    fn consumer_resumed(&mut self, now: SimTime, group: GroupIdx, index: u32, sched: &mut Scheduler<Self::Event>);
    fn producer_crashed(&mut self, k: usize);
    /// After every producer host a step crashed (`crashed`: their nodes) went down.
    fn producers_crashed(&mut self, _crashed: &[NodeId]) {}
    fn producer_restarted(&mut self, k: usize, sched: &mut Scheduler<Self::Event>);
    fn broker_crashed(&mut self, now: SimTime, b: NodeId, sched: &mut Scheduler<Self::Event>);
    fn broker_restarted(&mut self, now: SimTime, b: NodeId, sched: &mut Scheduler<Self::Event>);
    /// Every cut link was repaired.
    fn healed(&mut self, _sched: &mut Scheduler<Self::Event>) {}
}

/// Applies step `i` of the schedule.
// The `if`s change the world (crash, restart): they do not belong in match guards.
#[allow(clippy::collapsible_match)]
#[cold]
#[inline(never)]
pub fn apply<V: FaultVerbs>(v: &mut V, now: SimTime, i: usize, sched: &mut Scheduler<V::Event>) {
    let schedule = v.schedule();
    schedule.done = i + 1;
    let f = schedule.steps[i].clone();
    v.record(now, Observation::Fault { step: i });
    let target = match f.target {
        Some(FaultTarget::Leader) => match v.leader(i, f.repairs) {
            Some(b) => Some(FaultTarget::Broker(b as u32)),
            None => return,
        },
        t => t,
    };
    match (f.action, target) {
        (FaultAction::Crash, Some(FaultTarget::Consumer { group, index })) => {
            let node = v.consumer_node(group, index);
            if v.world().crash(node) {
                v.consumer_crashed(now, group, index, sched);
            }
        }
        (FaultAction::Restart, Some(FaultTarget::Consumer { group, index })) => {
            let node = v.consumer_node(group, index);
            if v.world().restart(node) {
                v.consumer_restarted(now, group, index, sched);
            }
        }
        (FaultAction::Hang, Some(FaultTarget::Consumer { group, index })) => v.consumer_hung(group, index),
        (FaultAction::Resume, Some(FaultTarget::Consumer { group, index })) => {
            v.consumer_resumed(now, group, index, sched)
        }
        // Every producer host of the application, or one.
        (FaultAction::Crash, Some(t @ (FaultTarget::Producer | FaultTarget::ProducerHost(_)))) => {
            let mut crashed = Vec::new();
            for k in t.producer_hosts(v.producers()) {
                let node = v.producer_node(k);
                if v.world().crash(node) {
                    v.producer_crashed(k);
                    crashed.push(node);
                }
            }
            if !crashed.is_empty() {
                v.producers_crashed(&crashed);
            }
        }
        (FaultAction::Restart, Some(t @ (FaultTarget::Producer | FaultTarget::ProducerHost(_)))) => {
            for k in t.producer_hosts(v.producers()) {
                let node = v.producer_node(k);
                if v.world().restart(node) {
                    v.producer_restarted(k, sched);
                }
            }
        }
        (FaultAction::Crash, Some(FaultTarget::Broker(b))) => {
            if v.world().crash(b as NodeId) {
                v.broker_crashed(now, b as NodeId, sched);
            }
        }
        (FaultAction::Restart, Some(FaultTarget::Broker(b))) => {
            if v.world().restart(b as NodeId) {
                v.broker_restarted(now, b as NodeId, sched);
            }
        }
        (FaultAction::Partition, _) => {
            let sides = f.sides.iter().map(|side| side.iter().flat_map(|&t| nodes_of(v, t)).collect()).collect();
            v.world().split(sides);
        }
        (FaultAction::Heal, _) => {
            v.world().heal();
            v.healed(sched);
        }
        _ => {}
    }
}

/// The nodes a target names on a partition's side (nodes named on no side join the last side:
/// [`World::split`]).
fn nodes_of<V: FaultVerbs>(v: &V, t: FaultTarget) -> Vec<NodeId> {
    match t {
        FaultTarget::Broker(b) => vec![b as NodeId],
        FaultTarget::Consumer { group, index } => vec![v.consumer_node(group, index)],
        t @ (FaultTarget::Producer | FaultTarget::ProducerHost(_)) => {
            t.producer_hosts(v.producers()).map(|k| v.producer_node(k)).collect()
        }
        FaultTarget::Leader => unreachable!("\"leader\" on a side is refused by validation"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes: brokers 0..3, producer hosts 3 and 4, consumer `g/0` on 5 and `g/1` on 6. Every
    /// verb called is written down, with the step reports, in order.
    struct Fake {
        world: World,
        schedule: FaultSchedule,
        leader: Option<NodeId>,
        said: Vec<String>,
    }

    impl FaultVerbs for Fake {
        type Event = ();
        fn world(&mut self) -> &mut World {
            &mut self.world
        }
        fn schedule(&mut self) -> &mut FaultSchedule {
            &mut self.schedule
        }
        fn record(&mut self, _: SimTime, o: Observation) {
            self.said.push(format!("{o:?}"));
        }
        fn leader(&mut self, step: usize, repairs: Option<usize>) -> Option<NodeId> {
            self.said.push(format!("leader {step} {repairs:?}"));
            self.leader
        }
        fn consumer_node(&self, _: GroupIdx, index: u32) -> NodeId {
            5 + index as NodeId
        }
        fn producers(&self) -> usize {
            2
        }
        fn producer_node(&self, k: usize) -> NodeId {
            3 + k as NodeId
        }
        fn consumer_crashed(&mut self, _: SimTime, g: GroupIdx, i: u32, _: &mut Scheduler<()>) {
            self.said.push(format!("consumer crashed {g}/{i}"));
        }
        fn consumer_restarted(&mut self, _: SimTime, g: GroupIdx, i: u32, _: &mut Scheduler<()>) {
            self.said.push(format!("consumer restarted {g}/{i}"));
        }
        fn consumer_hung(&mut self, g: GroupIdx, i: u32) {
            self.said.push(format!("consumer hung {g}/{i}"));
        }
        fn consumer_resumed(&mut self, _: SimTime, g: GroupIdx, i: u32, _: &mut Scheduler<()>) {
            self.said.push(format!("consumer resumed {g}/{i}"));
        }
        fn producer_crashed(&mut self, k: usize) {
            self.said.push(format!("producer crashed {k}"));
        }
        fn producers_crashed(&mut self, crashed: &[NodeId]) {
            self.said.push(format!("producers crashed {crashed:?}"));
        }
        fn producer_restarted(&mut self, k: usize, _: &mut Scheduler<()>) {
            self.said.push(format!("producer restarted {k}"));
        }
        fn broker_crashed(&mut self, _: SimTime, b: NodeId, _: &mut Scheduler<()>) {
            self.said.push(format!("broker crashed {b}"));
        }
        fn broker_restarted(&mut self, _: SimTime, b: NodeId, _: &mut Scheduler<()>) {
            self.said.push(format!("broker restarted {b}"));
        }
        fn healed(&mut self, _: &mut Scheduler<()>) {
            self.said.push("healed".into());
        }
    }

    fn step(action: FaultAction, target: Option<FaultTarget>) -> Fault {
        Fault { at: SimTime::ZERO, action, target, sides: Vec::new(), repairs: None }
    }

    /// Applies every step in order; returns what was said.
    fn run(steps: Vec<Fault>, leader: Option<NodeId>) -> (Vec<String>, World) {
        let mut v = Fake {
            world: World::new(7, crate::time::SimDuration::ZERO),
            schedule: FaultSchedule { steps, done: 0 },
            leader,
            said: Vec::new(),
        };
        let mut sched = Scheduler::new();
        for i in 0..v.schedule.steps.len() {
            assert!(!v.schedule.over());
            apply(&mut v, SimTime::ZERO, i, &mut sched);
        }
        assert!(v.schedule.over());
        (v.said, v.world)
    }

    const C1: FaultTarget = FaultTarget::Consumer { group: 0, index: 1 };

    #[test]
    fn a_node_already_in_that_state_hears_nothing_and_the_step_is_reported_first() {
        let crash = |t| step(FaultAction::Crash, Some(t));
        let restart = |t| step(FaultAction::Restart, Some(t));
        let (said, world) = run(
            vec![
                crash(C1),
                crash(C1),
                restart(C1),
                restart(C1),
                crash(FaultTarget::Broker(2)),
                restart(FaultTarget::Broker(1)),
            ],
            None,
        );
        assert_eq!(
            said,
            [
                "Fault { step: 0 }",
                "consumer crashed 0/1",
                "Fault { step: 1 }",
                "Fault { step: 2 }",
                "consumer restarted 0/1",
                "Fault { step: 3 }",
                "Fault { step: 4 }",
                "broker crashed 2",
                "Fault { step: 5 }",
            ]
        );
        assert!(!world.is_up(2) && world.is_up(6));
    }

    /// `producer` crashes every host that is up (host 1 is down already) and tells the system
    /// once which went down; a restart brings back each that is down.
    #[test]
    fn producer_hosts_go_down_one_by_one_and_the_system_hears_the_batch() {
        let (said, world) = run(
            vec![
                step(FaultAction::Crash, Some(FaultTarget::ProducerHost(1))),
                step(FaultAction::Crash, Some(FaultTarget::Producer)),
                step(FaultAction::Restart, Some(FaultTarget::ProducerHost(0))),
                step(FaultAction::Restart, Some(FaultTarget::Producer)),
            ],
            None,
        );
        assert_eq!(
            said,
            [
                "Fault { step: 0 }",
                "producer crashed 1",
                "producers crashed [4]",
                "Fault { step: 1 }",
                "producer crashed 0",
                "producers crashed [3]",
                "Fault { step: 2 }",
                "producer restarted 0",
                "Fault { step: 3 }",
                "producer restarted 1",
            ]
        );
        assert!(world.is_up(3) && world.is_up(4));
    }

    #[test]
    fn leader_resolves_through_the_system_and_none_means_nothing_happens() {
        let mut repair = step(FaultAction::Restart, Some(FaultTarget::Leader));
        repair.repairs = Some(0);
        let (said, world) = run(vec![step(FaultAction::Crash, Some(FaultTarget::Leader)), repair.clone()], Some(1));
        assert_eq!(
            said,
            [
                "Fault { step: 0 }",
                "leader 0 None",
                "broker crashed 1",
                "Fault { step: 1 }",
                "leader 1 Some(0)",
                "broker restarted 1"
            ]
        );
        assert!(world.is_up(1));
        let (said, world) = run(vec![step(FaultAction::Crash, Some(FaultTarget::Leader)), repair], None);
        assert_eq!(said, ["Fault { step: 0 }", "leader 0 None", "Fault { step: 1 }", "leader 1 Some(0)"]);
        assert!((0..7).all(|n| world.is_up(n)));
    }

    /// Sides name a broker, a consumer and every producer host; the unnamed brokers 1 and 2 and
    /// consumer 5 join the last side. Hang and resume reach the consumer without touching the world.
    #[test]
    fn a_partition_cuts_between_the_named_nodes_and_heal_repairs_it() {
        let mut cut = step(FaultAction::Partition, None);
        cut.sides = vec![vec![FaultTarget::Broker(0), C1], vec![FaultTarget::Producer]];
        let (said, world) = run(vec![cut.clone()], None);
        assert_eq!(said, ["Fault { step: 0 }"]);
        assert!(world.connected(0, 6) && world.connected(3, 4) && world.connected(1, 3) && world.connected(5, 4));
        assert!(!world.connected(0, 3) && !world.connected(6, 1) && !world.connected(6, 5));
        let (said, world) = run(
            vec![
                cut,
                step(FaultAction::Hang, Some(C1)),
                step(FaultAction::Resume, Some(C1)),
                step(FaultAction::Heal, None),
            ],
            None,
        );
        assert_eq!(
            said,
            [
                "Fault { step: 0 }",
                "Fault { step: 1 }",
                "consumer hung 0/1",
                "Fault { step: 2 }",
                "consumer resumed 0/1",
                "Fault { step: 3 }",
                "healed"
            ]
        );
        assert!(world.connected(0, 3) && world.is_up(6));
    }
}
