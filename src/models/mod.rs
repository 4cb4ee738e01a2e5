//! The two systems. Each lives in its own module, drives the engine with its own closed event enum,
//! and reports what happens as [`crate::history::Observation`]s; neither counts its own results.

pub mod drain;
pub mod faults;
pub mod kafka;
pub mod log;
pub mod operating;
pub mod rabbitmq;

use crate::engine::{Model, Scheduler, run_until};
use crate::history::{ClientEvent, History, Observation};
use crate::scenario::{Scenario, SystemKind};
use crate::time::SimTime;
use crate::workload::{Message, Producer};
use crate::world::resources::{Resources, Utilisation, UtilisationSample};
use crate::world::{NodeId, World};

/// Arms the offered load's next arrival, if any, as the model's `arrival` event.
pub(crate) fn arm_arrival<E>(load: &Producer, sched: &mut Scheduler<E>, arrival: E) {
    if let Some(at) = load.next_at() {
        sched.schedule_at(at, arrival);
    }
}

/// The offered load's next message falls due (the model's `arrival` event): the one after it is
/// armed, and the message goes to producer `k` (`workload::producer_for` of `producers`), unless
/// that producer's host (`host(k)`) is down: then it is never sent.
#[inline]
pub(crate) fn due_message<E>(
    load: &mut Producer,
    sched: &mut Scheduler<E>,
    arrival: E,
    world: &World,
    producers: usize,
    host: impl Fn(usize) -> NodeId,
) -> Option<(usize, Message)> {
    let (msg, next) = load.take()?;
    if let Some(at) = next {
        sched.schedule_at(at, arrival);
    }
    let k = crate::workload::producer_for(msg.id, producers);
    world.is_up(host(k)).then_some((k, msg))
}

/// What a client saw at `now`: into the history, and the drain watch hears that clients are still
/// at work. Every client event of both models goes through here.
#[inline(always)]
pub(crate) fn record_client<H: History>(history: &mut H, drain: &mut drain::DrainWatch, now: SimTime, e: ClientEvent) {
    drain.client_event(now);
    history.record(now, Observation::Client(e));
}

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
    /// The brokers' busiest resources over each sample interval of the publishing period (a
    /// calibrated profile; empty otherwise).
    pub utilisation_series: Vec<UtilisationSample>,
    /// Kafka with `compression.type`: what the producer's compression did.
    pub compression: Option<kafka::producer::CompressionStats>,
    /// The nodes' resource alarms, if any was raised (RabbitMQ under a calibrated profile).
    pub resource_alarms: Option<crate::world::alarms::ResourceAlarms>,
}

/// The brokers and the producers' hosts, by name, for utilisation.
fn named_nodes(s: &Scenario, system: SystemKind, producers: &[u16]) -> Vec<(u16, String)> {
    let broker = if system == SystemKind::Kafka { "broker" } else { "node" };
    let mut v: Vec<(u16, String)> = (0..s.brokers as u16).map(|i| (i, format!("{broker} {i}"))).collect();
    match producers {
        [one] => v.push((*one, "producer host".into())),
        many => v.extend(many.iter().enumerate().map(|(k, &n)| (n, format!("producer host {k}")))),
    }
    v
}

/// The instant after which no event runs: end of publishing plus the drain limit, if any.
pub fn deadline(s: &Scenario) -> SimTime {
    match s.drain {
        Some(d) => SimTime(s.duration.0).after(d),
        None => SimTime::NEVER,
    }
}

/// What the run needs of a system beyond the engine's [`Model`]: its resources and producer
/// hosts (for utilisation), and what it does and reports when the run ends.
pub(crate) trait System: Model {
    fn resources(&self) -> Option<&Resources>;
    /// The producers' hosts, in order.
    fn producer_nodes(&self) -> Vec<NodeId>;
    /// The run is over at `at`: clients that close cleanly do so.
    fn close(&mut self, _at: SimTime) {}
    fn compression_stats(&self) -> Option<kafka::producer::CompressionStats> {
        None
    }
    fn resource_alarms(&self, _end: SimTime) -> Option<crate::world::alarms::ResourceAlarms> {
        None
    }
}

/// Runs one system over the scenario's workload, reporting to `history`. `progress` receives the
/// simulated time now and then.
pub fn run_system<H: History>(
    s: &Scenario,
    system: SystemKind,
    history: &mut H,
    progress: impl FnMut(SimTime),
) -> RunEnd {
    match system {
        SystemKind::Kafka => run_model(s, system, kafka::KafkaModel::new, history, progress),
        SystemKind::RabbitMq => run_model(s, system, rabbitmq::RabbitModel::new, history, progress),
    }
}

/// One run, the same for both systems: publishing (read for utilisation), the drain up to the
/// deadline or until the system is finished or stalled, then the clients close.
fn run_model<'h, H: History, M: System>(
    s: &Scenario,
    system: SystemKind,
    new: impl FnOnce(&Scenario, &'h mut H, &mut Scheduler<M::Event>) -> M,
    history: &'h mut H,
    mut progress: impl FnMut(SimTime),
) -> RunEnd {
    let mut sched = Scheduler::new();
    let mut m = new(s, history, &mut sched);
    let (utilisation, utilisation_series) =
        utilisation_while_publishing(s, system, &mut m, &mut sched, &mut progress, |m| {
            m.resources().map(|r| (r, m.producer_nodes()))
        });
    let at = run_until(&mut m, &mut sched, deadline(s), progress);
    m.close(at);
    RunEnd {
        at,
        events: sched.events_processed(),
        stalled: m.stalled(at),
        utilisation,
        utilisation_series,
        compression: m.compression_stats(),
        resource_alarms: m.resource_alarms(at),
    }
}

/// With resources (a calibrated profile), runs to the end of publishing one sample interval at a
/// time, reading the brokers' busiest resources over each, and their utilisation over the whole
/// period at its end (the drain after it would dilute the figures). Without, runs nothing.
fn utilisation_while_publishing<M: Model>(
    s: &Scenario,
    system: SystemKind,
    m: &mut M,
    sched: &mut Scheduler<M::Event>,
    progress: &mut impl FnMut(SimTime),
    resources: impl Fn(&M) -> Option<(&Resources, Vec<u16>)>,
) -> (Option<Utilisation>, Vec<UtilisationSample>) {
    if s.body.is_none() {
        return (None, Vec::new());
    }
    let publish_end = SimTime(s.duration.0).min(deadline(s));
    let brokers = s.brokers as usize;
    let mut series = Vec::new();
    let mut from = SimTime::ZERO;
    let mut before = resources(m).map(|(r, _)| r.done_by(from));
    while from < publish_end {
        let to = from.after(s.sample_interval).min(publish_end);
        run_until(m, sched, to, &mut *progress);
        if let (Some(b), Some((r, _))) = (&before, resources(m)) {
            let after = r.done_by(to);
            series.push(UtilisationSample::between(b, &after, from, to, brokers));
            before = Some(after);
        }
        from = to;
    }
    let total = resources(m).map(|(r, producer)| r.utilisation(&named_nodes(s, system, &producer), s.duration));
    (total, series)
}
