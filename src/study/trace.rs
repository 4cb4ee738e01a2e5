//! `pushpull trace`: the life of one message in each system, event by event, from the same
//! observations the recorder and the checker read (nothing is asked of a model): sent, stored
//! (appended to its partition / enqueued), acknowledged to the producer, delivered, processed,
//! acked, deleted; and the faults, leader elections and rebalances that happened meanwhile.

use crate::history::{ClientEvent, History, Observation};
use crate::scenario::Scenario;
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
    pick: Pick,
    id: Option<MessageId>,
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
}

impl History for Tracer<'_> {
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
            Observation::Stored { msg } if self.mine(msg.id()) => {
                self.own.push(step(at, "stored", "readable by consumers (appended to its partition / enqueued)".into()))
            }
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
            let mut t = Tracer { s, pick, id: None, own: Vec::new(), around: Vec::new() };
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
