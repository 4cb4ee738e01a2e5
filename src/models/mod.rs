//! The two systems. Each lives in its own module, drives the engine with its own closed event enum,
//! and reports what happens as [`crate::history::Observation`]s; neither counts its own results.

pub mod drain;
pub mod kafka;
pub mod log;
pub mod rabbitmq;

use crate::engine::{Model, Scheduler, run_until};
use crate::history::History;
use crate::scenario::{Scenario, SystemKind};
use crate::time::SimTime;

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEnd {
    /// Simulated time of the last event handled.
    pub at: SimTime,
    /// Events handled by the engine.
    pub events: u64,
    /// The drain stopped because nothing could happen any more ([`drain::DrainWatch`]), not
    /// because every group caught up.
    pub stalled: bool,
    /// What the nodes' resources did, in a world with resources (a calibrated profile).
    pub utilisation: Option<crate::world::resources::Utilisation>,
}

/// The brokers and the producer's host, by name, for utilisation.
fn named_nodes(s: &Scenario, system: SystemKind, producer: u16) -> Vec<(u16, String)> {
    let broker = if system == SystemKind::Kafka { "broker" } else { "node" };
    let mut v: Vec<(u16, String)> = (0..s.brokers as u16).map(|i| (i, format!("{broker} {i}"))).collect();
    v.push((producer, "producer host".into()));
    v
}

/// The instant after which no event runs: end of publishing plus the drain limit, if any.
pub fn deadline(s: &Scenario) -> SimTime {
    match s.drain {
        Some(d) => SimTime(s.duration.0).after(d),
        None => SimTime::NEVER,
    }
}

/// Runs one system over the scenario's workload, reporting to `history`. `progress` receives the
/// simulated time now and then.
pub fn run_system<H: History>(
    s: &Scenario,
    system: SystemKind,
    history: &mut H,
    mut progress: impl FnMut(SimTime),
) -> RunEnd {
    match system {
        SystemKind::Kafka => {
            let mut sched = Scheduler::new();
            let mut m = kafka::KafkaModel::new(s, history, &mut sched);
            let utilisation = utilisation_while_publishing(s, &mut m, &mut sched, &mut progress, |m| {
                m.resources().map(|r| r.utilisation(&named_nodes(s, system, m.producer_node()), s.duration))
            });
            let at = run_until(&mut m, &mut sched, deadline(s), progress);
            m.close(at);
            RunEnd { at, events: sched.events_processed(), stalled: m.stalled(at), utilisation }
        }
        SystemKind::RabbitMq => {
            let mut sched = Scheduler::new();
            let mut m = rabbitmq::RabbitModel::new(s, history, &mut sched);
            let utilisation = utilisation_while_publishing(s, &mut m, &mut sched, &mut progress, |m| {
                m.resources().map(|r| r.utilisation(&named_nodes(s, system, m.producer_node()), s.duration))
            });
            let at = run_until(&mut m, &mut sched, deadline(s), progress);
            RunEnd { at, events: sched.events_processed(), stalled: m.stalled(at), utilisation }
        }
    }
}

/// With resources (a calibrated profile), runs a first leg to the end of publishing and reads
/// their utilisation there (`read`): the drain after it would dilute the figures. Without, runs
/// nothing.
fn utilisation_while_publishing<M: Model>(
    s: &Scenario,
    m: &mut M,
    sched: &mut Scheduler<M::Event>,
    progress: &mut impl FnMut(SimTime),
    read: impl Fn(&M) -> Option<crate::world::resources::Utilisation>,
) -> Option<crate::world::resources::Utilisation> {
    s.body?;
    let publish_end = SimTime(s.duration.0).min(deadline(s));
    run_until(m, sched, publish_end, &mut *progress);
    read(m)
}
