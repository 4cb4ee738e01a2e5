//! `pushpull trace`: the life of one message in each system, event by event, from the
//! observations the models report (nothing is asked of a model directly). Kafka: sent, batched
//! into a produce request, appended by the leader, replicated by each follower, committed (the
//! high watermark passed it), acknowledged, delivered (fetched), processed, its offset committed
//! by the group. RabbitMQ: sent, routed, enqueued, delivered, acknowledged, processed, acked,
//! deleted. And the faults, leader elections and rebalances that happened meanwhile. The brokers'
//! inner steps ([`Step`]) are built only for this observer ([`History::STEPS`]).

use crate::history::{ClientEvent, GroupIdx, History, Observation, Settlement, Step as Inner};
use crate::scenario::{Scenario, SystemKind};
use crate::time::SimTime;
use crate::workload::MessageId;

/// Which message to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Id(MessageId),
    /// The first message sent with this key (the same message in both systems: they share the
    /// workload).
    Key(u64),
}

/// One step of a message's life.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Step {
    /// Simulated seconds.
    pub at_s: f64,
    pub event: &'static str,
    /// Who and what, in words: "group billing, consumer 2 (redelivered)".
    pub detail: String,
}

/// One system's trace.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SystemTrace {
    pub system: &'static str,
    /// The message followed (`None`: no message matched).
    pub id: Option<MessageId>,
    pub steps: Vec<Step>,
}

/// Collects the observations of one message, and the cluster's events while it lives.
struct Tracer<'a> {
    s: &'a Scenario,
    system: SystemKind,
    pick: Pick,
    id: Option<MessageId>,
    /// Kafka: where the leader appended the message (partition, offset), once it has.
    at: Option<(u32, u64)>,
    /// Kafka: the followers already shown holding it, whether the high watermark passed it, and
    /// the groups already shown committing past it.
    replicated: Vec<u16>,
    committed: bool,
    /// RabbitMQ quorum queue: the Raft index of the message's enqueue command, once appended.
    raft_index: Option<u64>,
    groups_committed: Vec<GroupIdx>,
    /// Steps of the message itself.
    own: Vec<(SimTime, Step)>,
    /// Faults, elections and rebalances, kept until the message's last step is known.
    around: Vec<(SimTime, Step)>,
}

fn step(at: SimTime, event: &'static str, detail: String) -> (SimTime, Step) {
    (at, Step { at_s: at.as_secs_f64(), event, detail })
}

impl Tracer<'_> {
    fn group(&self, g: usize) -> String {
        self.s.groups.get(g).map_or_else(|| format!("group {g}"), |x| format!("group {}", x.name))
    }

    fn fault(&self, f: &crate::scenario::faults::Fault) -> String {
        use crate::scenario::faults::FaultTarget;
        let target = |t: &FaultTarget| match *t {
            FaultTarget::Broker(n) => format!("broker {n}"),
            FaultTarget::Leader => "the leader".to_string(),
            FaultTarget::Consumer { group, index } => format!("{}, consumer {index}", self.group(group)),
            FaultTarget::Producer => "the producer".to_string(),
            FaultTarget::ProducerHost(k) => format!("producer host {k}"),
        };
        match &f.target {
            Some(t) => format!("{} {}", f.action.name(), target(t)),
            None if !f.sides.is_empty() => {
                let sides: Vec<String> =
                    f.sides.iter().map(|side| side.iter().map(target).collect::<Vec<_>>().join(" + ")).collect();
                format!("{}: {}", f.action.name(), sides.join(" | "))
            }
            None => f.action.name().to_string(),
        }
    }

    fn mine(&self, id: MessageId) -> bool {
        self.id == Some(id)
    }

    /// Kafka: whether an offset bound on `partition` (exclusive) passes the message.
    fn passes(&self, partition: u32, end: u64) -> bool {
        self.at.is_some_and(|(p, o)| p == partition && end > o)
    }

    fn inner(&mut self, at: SimTime, step_: Inner) {
        match step_ {
            Inner::Batched { id, partition, broker, records } if self.mine(id) => {
                let what =
                    format!("in a produce request to broker {broker}: partition {partition}'s batch of {records}");
                self.own.push(step(at, "batched", what))
            }
            Inner::Appended { id, partition, offset, broker } if self.mine(id) => {
                self.at = Some((partition, offset));
                let what = format!("by broker {broker}, leader of partition {partition}, at offset {offset}");
                self.own.push(step(at, "appended", what))
            }
            Inner::Replicated { partition, broker, end }
                if self.passes(partition, end) && !self.replicated.contains(&broker) =>
            {
                self.replicated.push(broker);
                self.own.push(step(at, "replicated", format!("follower broker {broker} holds a copy")))
            }
            Inner::HighWatermark { partition, hw } if !self.committed && self.passes(partition, hw) => {
                self.committed = true;
                let what = format!("the high watermark passed it ({hw}): committed, readable by consumers");
                self.own.push(step(at, "committed", what))
            }
            Inner::RaftAppended { id, node, index } if self.mine(id) => {
                self.raft_index = Some(index);
                let what = format!("to the Raft log of the quorum queue's leader on node {node}, at index {index}");
                self.own.push(step(at, "appended", what))
            }
            Inner::RaftReplicated { node, last }
                if self.raft_index.is_some_and(|i| last >= i) && !self.replicated.contains(&node) =>
            {
                self.replicated.push(node);
                self.own.push(step(at, "replicated", format!("the Raft log of follower node {node} holds it")))
            }
            Inner::Routed { id, queues } if self.mine(id) => {
                let what = match queues {
                    0 => "the exchange matched no queue: unroutable".to_string(),
                    1 => "the exchange routed it to 1 queue".to_string(),
                    n => format!("the exchange routed it to {n} queues"),
                };
                self.own.push(step(at, "routed", what))
            }
            _ => {}
        }
    }
}

impl History for Tracer<'_> {
    const STEPS: bool = true;

    fn record(&mut self, at: SimTime, obs: Observation) {
        match obs {
            Observation::Client(e) => match e {
                ClientEvent::Sent { msg } => {
                    if self.id.is_none()
                        && match self.pick {
                            Pick::Id(i) => msg.id == i,
                            Pick::Key(k) => msg.key == Some(k),
                        }
                    {
                        self.id = Some(msg.id);
                    }
                    if self.mine(msg.id) {
                        let key = msg.key.map_or_else(|| "no key".to_string(), |k| format!("key {k}"));
                        let again = if msg.published_at < at { " again (a retry)" } else { "" };
                        self.own.push(step(at, "sent", format!("by the producer{again}: {key}, {} bytes", msg.bytes)));
                    }
                }
                ClientEvent::Acknowledged { id } if self.mine(id) => {
                    self.own.push(step(at, "acknowledged", "the broker confirmed it to the producer".into()))
                }
                ClientEvent::SendFailed { id } if self.mine(id) => {
                    self.own.push(step(at, "send_failed", "the producer's client gave up on it".into()))
                }
                ClientEvent::Delivered { msg, group, consumer, redelivered } if self.mine(msg.id()) => {
                    let again = if redelivered { " (redelivered)" } else { "" };
                    let g = self.group(group);
                    self.own.push(step(at, "delivered", format!("to {g}, consumer {consumer}{again}")))
                }
                ClientEvent::ProcessingStarted { msg, group, consumer } if self.mine(msg.id()) => {
                    let g = self.group(group);
                    self.own.push(step(at, "processing_started", format!("{g}, consumer {consumer}")))
                }
                ClientEvent::Processed { msg, group, consumer } if self.mine(msg.id()) => {
                    let g = self.group(group);
                    self.own.push(step(at, "processed", format!("{g}, consumer {consumer}")))
                }
                ClientEvent::ProcessingFailed { msg, group, consumer } if self.mine(msg.id()) => {
                    let g = self.group(group);
                    self.own.push(step(
                        at,
                        "processing_failed",
                        format!("{g}, consumer {consumer}: the application threw"),
                    ))
                }
                ClientEvent::Settled { id, group, outcome } if self.mine(id) => {
                    let g = self.group(group);
                    let what = match outcome {
                        Settlement::Retrying => format!("for {g}: on its way to another attempt"),
                        Settlement::DeadLettered => format!("for {g}: moved to a dead-letter topic or exchange"),
                        Settlement::Expired => format!("for {g}: too old (a queue's TTL, or the consumer's max_age)"),
                        Settlement::Dropped => format!("for {g}: thrown away on purpose"),
                    };
                    self.own.push(step(at, outcome.name(), what))
                }
                ClientEvent::Acked { id, group, consumer } if self.mine(id) => {
                    let g = self.group(group);
                    self.own.push(step(at, "acked", format!("{g}, consumer {consumer} (basic.ack)")))
                }
                ClientEvent::Sought { group, to_end } => {
                    let g = self.group(group);
                    let to = if to_end { "the end" } else { "an earlier position" };
                    self.around.push(step(at, "sought", format!("{g} moved to {to}")))
                }
                _ => {}
            },
            // Kafka shows the leader's append instead (`appended`, then `committed`).
            Observation::Stored { msg } if self.mine(msg.id()) && self.system != SystemKind::Kafka => {
                let what = if self.raft_index.is_some() {
                    "committed by a majority of the Raft group and applied: in its queue, readable by consumers"
                } else {
                    "in its queue: readable by consumers"
                };
                self.own.push(step(at, "enqueued", what.into()))
            }
            Observation::Committed { group, partition, offset }
                if self.passes(partition, offset) && !self.groups_committed.contains(&group) =>
            {
                self.groups_committed.push(group);
                let g = self.group(group);
                let what = format!("{g} committed offset {offset} of partition {partition}: past this record");
                self.own.push(step(at, "offset_committed", what))
            }
            Observation::Step(s) => self.inner(at, s),
            Observation::Deleted { id, group } if self.mine(id) => {
                let whom = group.map_or_else(|| "for every group".to_string(), |g| format!("for {}", self.group(g)));
                self.own.push(step(at, "deleted", format!("the broker no longer holds it {whom}")))
            }
            Observation::Fault { step: i } => {
                let what = self.s.faults.get(i).map_or_else(|| format!("step {i}"), |f| self.fault(f));
                self.around.push(step(at, "fault", what))
            }
            Observation::LeaderElected { partition } => {
                let of = partition.map_or_else(|| "the quorum queue".to_string(), |p| format!("partition {p}"));
                self.around.push(step(at, "leader_elected", of))
            }
            Observation::Rebalance { group, started } => {
                let g = self.group(group);
                let what = if started { "starts" } else { "ends" };
                self.around.push(step(at, "rebalance", format!("{g}: a rebalance {what}")))
            }
            _ => {}
        }
    }
}

/// Runs every system of `s` and follows the message `pick` chooses through each.
pub fn trace(s: &Scenario, pick: Pick) -> Vec<SystemTrace> {
    s.systems
        .iter()
        .map(|&sys| {
            let mut t = Tracer {
                s,
                system: sys,
                pick,
                id: None,
                at: None,
                replicated: Vec::new(),
                committed: false,
                raft_index: None,
                groups_committed: Vec::new(),
                own: Vec::new(),
                around: Vec::new(),
            };
            crate::run::run_one_observed(s, sys, &mut t);
            let (first, last) = match (t.own.first(), t.own.last()) {
                (Some(f), Some(l)) => (f.0, l.0),
                _ => (SimTime::ZERO, SimTime::ZERO),
            };
            // What happened to the cluster while the message lived.
            let mut steps: Vec<(SimTime, Step)> =
                t.around.into_iter().filter(|(at, _)| *at >= first && *at <= last).collect();
            steps.extend(t.own);
            // Stable: observations at one instant keep the order they happened in.
            steps.sort_by_key(|(at, _)| *at);
            SystemTrace { system: sys.name(), id: t.id, steps: steps.into_iter().map(|(_, s)| s).collect() }
        })
        .collect()
}

/// The traces as text, one block per system.
pub fn text(traces: &[SystemTrace], pick: Pick) -> String {
    let mut out = String::new();
    for t in traces {
        match t.id {
            Some(id) => out.push_str(&format!("{}: message {id}\n", t.system)),
            None => {
                let what = match pick {
                    Pick::Id(i) => format!("message {i} was never sent"),
                    Pick::Key(k) => format!("no message was sent with key {k}"),
                };
                out.push_str(&format!("{}: {what}\n", t.system));
                continue;
            }
        }
        let first = t.steps.iter().find(|s| s.event == "sent").map_or(0.0, |s| s.at_s);
        for s in &t.steps {
            out.push_str(&format!(
                "  {:>12.6} s  +{:>10.3} ms  {:<18} {}\n",
                s.at_s,
                (s.at_s - first) * 1e3,
                s.event,
                s.detail
            ));
        }
    }
    out
}
