//! The fault schedule: `[cluster]` and `[[faults]]`, one schedule applied identically to both
//! systems (turmoil's verbs: crash, restart, hang, resume, partition, heal).
//!
//! A fault with a `duration` expands into the fault and its repair (`crash` + `restart`, `hang` +
//! `resume`, `partition` + `heal`), so the models only ever see single steps in time order.

use super::ScenarioError;
use super::raw::RawFault;
use crate::time::{SimDuration, SimTime, parse_duration};

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultAction {
    /// The process dies (`kill -9`): volatile state is lost, its peers see the connection close.
    Crash,
    /// A crashed process starts again with its durable state.
    Restart,
    /// The application stops making progress but its process and connections stay up.
    Hang,
    /// A hung application continues.
    Resume,
    /// Every link between the sides is cut.
    Partition,
    /// Every cut link is repaired.
    Heal,
}

impl FaultAction {
    pub fn name(self) -> &'static str {
        match self {
            FaultAction::Crash => "crash",
            FaultAction::Restart => "restart",
            FaultAction::Hang => "hang",
            FaultAction::Resume => "resume",
            FaultAction::Partition => "partition",
            FaultAction::Heal => "heal",
        }
    }
}

/// Who a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// Kafka broker N and RabbitMQ node N.
    Broker(u32),
    /// At the fault's instant: the leader of Kafka partition 0, the node that leads the queue.
    Leader,
    /// Consumer `index` of group `group`.
    Consumer { group: usize, index: u32 },
    /// The producer application: every producer host (`[workload] producers`) at once.
    Producer,
    /// Producer host N alone (`producer-N`, zero-based: message `i` is its if
    /// `i mod producers == N`, [`crate::workload::producer_for`]).
    ProducerHost(u32),
}

impl FaultTarget {
    /// The producer hosts (of `producers`) this target names: every one for `producer`, one for
    /// `producer-N`, none for any other target.
    pub fn producer_hosts(self, producers: usize) -> std::ops::Range<usize> {
        match self {
            FaultTarget::Producer => 0..producers,
            FaultTarget::ProducerHost(k) => k as usize..k as usize + 1,
            _ => 0..0,
        }
    }

    /// The producer hosts this target names, as a bit mask (bit `k`: host `k`; at most 64 hosts).
    fn producer_mask(self, producers: u32) -> u64 {
        self.producer_hosts(producers as usize).fold(0, |m, k| m | 1 << k)
    }
}

/// One step of the schedule.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fault {
    pub at: SimTime,
    pub action: FaultAction,
    /// None for `heal`.
    pub target: Option<FaultTarget>,
    /// For `partition`: the sides; nodes named on no side join the last one.
    pub sides: Vec<Vec<FaultTarget>>,
    /// For a repair expanded from a `duration`: the index of the fault it repairs, so that a
    /// `restart` after `crash target = "leader"` restarts the node that crashed.
    pub repairs: Option<usize>,
}

const ACTIONS: &str = "\"crash\", \"restart\", \"hang\", \"resume\", \"partition\", \"heal\"";
const TARGETS: &str = "\"broker-N\", \"leader\", \"GROUP/N\" (consumer N of a group), \"producer\" (every producer host) \
                       or \"producer-N\" (producer host N)";

fn err(file: &str, field: String, message: String) -> ScenarioError {
    ScenarioError { file: file.to_string(), field: Some(field), message }
}

/// What the schedule's targets can name: the cluster's brokers, the groups (name, consumers) in
/// file order, the producer hosts.
struct Named<'a> {
    brokers: u32,
    groups: &'a [(String, u32)],
    producers: u32,
}

fn target(file: &str, field: &str, text: &str, named: &Named<'_>) -> Result<FaultTarget, ScenarioError> {
    let Named { brokers, groups, producers } = *named;
    if text == "leader" {
        return Ok(FaultTarget::Leader);
    }
    if text == "producer" {
        return Ok(FaultTarget::Producer);
    }
    // "producer-N"; a name with a '/' is a group's consumer (a group may be called "producer-1").
    if let Some(n) = text.strip_prefix("producer-")
        && !text.contains('/')
    {
        let n: u32 = n
            .parse()
            .map_err(|_| err(file, field.into(), format!("\"{text}\" is not a target; allowed: {TARGETS}")))?;
        if n >= producers {
            let hosts = if producers == 1 {
                "so the one producer host is producer-0".to_string()
            } else {
                format!("so producer hosts are producer-0 to producer-{}", producers - 1)
            };
            return Err(err(
                file,
                field.into(),
                format!("\"{text}\" does not exist: [workload] producers = {producers}, {hosts}"),
            ));
        }
        return Ok(FaultTarget::ProducerHost(n));
    }
    if let Some(n) = text.strip_prefix("broker-") {
        let n: u32 = n
            .parse()
            .map_err(|_| err(file, field.into(), format!("\"{text}\" is not a target; allowed: {TARGETS}")))?;
        if n >= brokers {
            return Err(err(
                file,
                field.into(),
                format!(
                    "\"{text}\" does not exist: [cluster] brokers = {brokers}, so brokers are broker-0 to broker-{}",
                    brokers - 1
                ),
            ));
        }
        return Ok(FaultTarget::Broker(n));
    }
    if let Some((g, n)) = text.rsplit_once('/') {
        let Some(gi) = groups.iter().position(|(name, _)| name == g) else {
            let names: Vec<&str> = groups.iter().map(|(n, _)| n.as_str()).collect();
            return Err(err(file, field.into(), format!("\"{text}\": no group \"{g}\"; groups are {names:?}")));
        };
        let consumers = groups[gi].1;
        let index: u32 = n.parse().map_err(|_| {
            err(file, field.into(), format!("\"{text}\": \"{n}\" is not a consumer number; use 0 to {}", consumers - 1))
        })?;
        if index >= consumers {
            return Err(err(
                file,
                field.into(),
                format!("\"{text}\": group \"{g}\" has {consumers} consumer(s), numbered 0 to {}", consumers - 1),
            ));
        }
        return Ok(FaultTarget::Consumer { group: gi, index });
    }
    Err(err(file, field.into(), format!("\"{text}\" is not a target; allowed: {TARGETS}")))
}

/// Validates the raw schedule and expands durations. `groups`: (name, consumers) in file order;
/// `producers`: `[workload] producers`.
pub fn validate(
    file: &str,
    raw: Vec<RawFault>,
    brokers: u32,
    groups: &[(String, u32)],
    producers: u32,
    duration: SimDuration,
) -> Result<Vec<Fault>, ScenarioError> {
    let named = Named { brokers, groups, producers };
    let mut out: Vec<Fault> = Vec::new();
    for (i, f) in raw.iter().enumerate() {
        let field = |k: &str| format!("faults[{i}].{k}");
        let at = parse_duration(&f.at).map_err(|m| err(file, field("at"), m))?;
        if at >= duration {
            return Err(err(
                file,
                field("at"),
                format!(
                    "{at} is not allowed; a fault must happen before duration ({duration}), while producers publish"
                ),
            ));
        }
        let action = match f.action.as_str() {
            "crash" => FaultAction::Crash,
            "restart" => FaultAction::Restart,
            "hang" => FaultAction::Hang,
            "resume" => FaultAction::Resume,
            "partition" => FaultAction::Partition,
            "heal" => FaultAction::Heal,
            other => {
                return Err(err(file, field("action"), format!("\"{other}\" is not an action; allowed: {ACTIONS}")));
            }
        };
        let needs_target = !matches!(action, FaultAction::Partition | FaultAction::Heal);
        let tgt = match (&f.target, needs_target) {
            (Some(t), true) => Some(target(file, &field("target"), t, &named)?),
            (None, true) => {
                return Err(err(
                    file,
                    field("target"),
                    format!("missing; `{}` needs a target: {TARGETS}", action.name()),
                ));
            }
            (Some(_), false) => {
                return Err(err(
                    file,
                    field("target"),
                    format!("not allowed with `{}`; a partition names its `sides`", action.name()),
                ));
            }
            (None, false) => None,
        };
        if matches!(action, FaultAction::Hang | FaultAction::Resume)
            && !matches!(tgt, Some(FaultTarget::Consumer { .. }))
        {
            return Err(err(
                file,
                field("target"),
                format!(
                    "`{}` applies to a consumer (\"GROUP/N\"); crash a broker or the producer instead",
                    action.name()
                ),
            ));
        }
        if matches!(action, FaultAction::Restart) && matches!(tgt, Some(FaultTarget::Leader)) {
            return Err(err(
                file,
                field("target"),
                "\"leader\" names the leader at that instant, not the node that crashed; restart \"broker-N\", or give \
                 the crash a `duration`"
                    .into(),
            ));
        }
        let mut sides = Vec::new();
        if action == FaultAction::Partition {
            let Some(raw_sides) = &f.sides else {
                return Err(err(
                    file,
                    field("sides"),
                    "missing; a partition needs `sides`, e.g. [[\"broker-0\"], [\"broker-1\", \"broker-2\"]]".into(),
                ));
            };
            if raw_sides.len() < 2 || raw_sides.iter().any(|s| s.is_empty()) {
                return Err(err(
                    file,
                    field("sides"),
                    "needs at least two non-empty sides, e.g. [[\"broker-0\"], [\"broker-1\", \"broker-2\"]]".into(),
                ));
            }
            let mut seen = Vec::new();
            for (si, side) in raw_sides.iter().enumerate() {
                let mut v = Vec::new();
                for (ni, name) in side.iter().enumerate() {
                    let t = target(file, &format!("faults[{i}].sides[{si}][{ni}]"), name, &named)?;
                    if t == FaultTarget::Leader {
                        return Err(err(
                            file,
                            format!("faults[{i}].sides[{si}][{ni}]"),
                            "\"leader\" is not allowed on a side (which broker leads is known only at run time, so it \
                             could be named on another side too); allowed: \"broker-N\", \"GROUP/N\", \"producer\" or \
                             \"producer-N\""
                                .into(),
                        ));
                    }
                    if seen.contains(&t) {
                        return Err(err(
                            file,
                            format!("faults[{i}].sides[{si}][{ni}]"),
                            format!("\"{name}\" is on two sides"),
                        ));
                    }
                    // "producer" and "producer-N" both name host N.
                    let hosts = t.producer_mask(producers);
                    if let Some(&other) = seen.iter().find(|o| o.producer_mask(producers) & hosts != 0) {
                        return Err(err(
                            file,
                            format!("faults[{i}].sides[{si}][{ni}]"),
                            format!(
                                "\"{name}\" and \"{}\" both name {}: a host is on one side; name \"producer\" \
                                 (every producer host) or single hosts \"producer-N\"",
                                written(other),
                                written(if t == FaultTarget::Producer { other } else { t }),
                            ),
                        ));
                    }
                    seen.push(t);
                    v.push(t);
                }
                sides.push(v);
            }
        } else if f.sides.is_some() {
            return Err(err(
                file,
                field("sides"),
                format!("not allowed with `{}`; only a partition has sides", action.name()),
            ));
        }
        let repair = match action {
            FaultAction::Crash => Some(FaultAction::Restart),
            FaultAction::Hang => Some(FaultAction::Resume),
            FaultAction::Partition => Some(FaultAction::Heal),
            _ => None,
        };
        let idx = out.len();
        out.push(Fault { at: SimTime(at.0), action, target: tgt, sides, repairs: None });
        if let Some(d) = &f.duration {
            let d = parse_duration(d).map_err(|m| err(file, field("duration"), m))?;
            let Some(repair) = repair else {
                return Err(err(
                    file,
                    field("duration"),
                    format!("not allowed with `{}`; only crash, hang and partition last a while", action.name()),
                ));
            };
            if d.is_zero() {
                return Err(err(
                    file,
                    field("duration"),
                    "0 is not allowed; leave `duration` out for a lasting fault".into(),
                ));
            }
            let target = if repair == FaultAction::Heal { None } else { tgt };
            out.push(Fault {
                at: SimTime(at.0).after(d),
                action: repair,
                target,
                sides: Vec::new(),
                repairs: Some(idx),
            });
        }
    }
    // Stable: same-instant steps keep file order.
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by_key(|&i| out[i].at);
    let sorted: Vec<Fault> = order
        .iter()
        .map(|&i| {
            let mut f = out[i].clone();
            f.repairs = f.repairs.map(|r| order.iter().position(|&j| j == r).expect("repaired fault is listed"));
            f
        })
        .collect();
    check_states(file, &sorted, producers)?;
    Ok(sorted)
}

/// A producer target as the file writes it.
fn written(t: FaultTarget) -> String {
    match t {
        FaultTarget::ProducerHost(k) => format!("producer-{k}"),
        _ => "producer".into(),
    }
}

/// A crash of a node that is down, a restart of a node that is up, a resume of a consumer that is
/// not hung, a partition while another is in effect, or a heal with nothing cut, is refused.
/// Producer hosts are up or down one by one: "producer" crashes them all (refused while any of
/// them is down) and restarts those that are down (refused if none is).
fn check_states(file: &str, faults: &[Fault], producers: u32) -> Result<(), ScenarioError> {
    let mut down: Vec<FaultTarget> = Vec::new();
    let mut producers_down: u64 = 0;
    let mut hung: Vec<FaultTarget> = Vec::new();
    let mut cut = false;
    for f in faults {
        let bad_links = |what: &str| {
            Err(ScenarioError {
                file: file.to_string(),
                field: Some("faults".into()),
                message: format!("at {}: {what}", crate::time::SimDuration(f.at.0)),
            })
        };
        match f.action {
            FaultAction::Partition if cut => {
                return bad_links(
                    "partition while another partition is in effect (a heal repairs every link); heal it first",
                );
            }
            FaultAction::Heal if !cut => {
                return bad_links(
                    "heal with nothing cut; a heal follows a partition (or give the partition a `duration`)",
                );
            }
            FaultAction::Partition => cut = true,
            FaultAction::Heal => cut = false,
            _ => {}
        }
        let Some(t) = f.target else { continue };
        // A "leader" crash resolves at run time; its expanded restart follows it wherever it went.
        if t == FaultTarget::Leader {
            continue;
        }
        let at = f.at;
        let bad = |what: &str| {
            Err(ScenarioError {
                file: file.to_string(),
                field: Some("faults".into()),
                message: format!(
                    "at {}: {} of {} that is {what}",
                    crate::time::SimDuration(at.0),
                    f.action.name(),
                    show(t)
                ),
            })
        };
        let hosts = t.producer_mask(producers);
        if hosts != 0 {
            match f.action {
                FaultAction::Crash if producers_down & hosts != 0 => {
                    if t == FaultTarget::Producer {
                        let k = (producers_down & hosts).trailing_zeros();
                        return Err(ScenarioError {
                            file: file.to_string(),
                            field: Some("faults".into()),
                            message: format!(
                                "at {}: crash of \"producer\" (every producer host) while producer-{k} is already \
                                 down; restart it first, or crash the other hosts by name (\"producer-N\")",
                                crate::time::SimDuration(at.0)
                            ),
                        });
                    }
                    return bad("already down");
                }
                FaultAction::Crash => producers_down |= hosts,
                FaultAction::Restart if producers_down & hosts == 0 && f.repairs.is_none() => {
                    return bad("up; crash it first");
                }
                FaultAction::Restart => producers_down &= !hosts,
                _ => {}
            }
            continue;
        }
        match f.action {
            FaultAction::Crash if f.repairs.is_none() => {
                if down.contains(&t) {
                    return bad("already down");
                }
                down.push(t);
            }
            FaultAction::Restart => {
                let Some(i) = down.iter().position(|&d| d == t) else {
                    if f.repairs.is_some() {
                        continue;
                    }
                    return bad("up; crash it first");
                };
                down.remove(i);
            }
            FaultAction::Hang => {
                if hung.contains(&t) {
                    return bad("already hung");
                }
                hung.push(t);
            }
            FaultAction::Resume => {
                let Some(i) = hung.iter().position(|&d| d == t) else {
                    return bad("not hung");
                };
                hung.remove(i);
            }
            _ => {}
        }
    }
    Ok(())
}

fn show(t: FaultTarget) -> String {
    match t {
        FaultTarget::Broker(n) => format!("broker-{n}"),
        FaultTarget::Leader => "the leader".into(),
        FaultTarget::Consumer { group, index } => format!("consumer {index} of group {group}"),
        FaultTarget::Producer => "the producer".into(),
        FaultTarget::ProducerHost(k) => format!("producer-{k}"),
    }
}

/// When each producer host (of `producers`) is down: `(host, crash, restart)`, `None`: never
/// restarted, in order of crash (hosts in order at one instant). A host is up or down: a crash of
/// "producer" or "producer-N" takes down the hosts it names that are up, a restart (written, or
/// expanded from a `duration`) brings back those that are down, as the models apply them.
pub fn producer_down_spans(faults: &[Fault], producers: u32) -> Vec<(u32, SimTime, Option<SimTime>)> {
    let mut spans: Vec<(u32, SimTime, Option<SimTime>)> = Vec::new();
    let mut open: Vec<Option<usize>> = vec![None; producers as usize];
    for f in faults {
        let Some(target) = f.repairs.map_or(f.target, |r| faults[r].target) else { continue };
        for k in target.producer_hosts(producers as usize) {
            match (f.action, open[k]) {
                (FaultAction::Crash, None) => {
                    open[k] = Some(spans.len());
                    spans.push((k as u32, f.at, None));
                }
                (FaultAction::Restart, Some(i)) => {
                    spans[i].2 = Some(f.at);
                    open[k] = None;
                }
                _ => {}
            }
        }
    }
    spans
}

/// Whether every node is up once the schedule has run (a hung consumer counts as up).
/// `producers`: `[workload] producers`.
pub fn all_up_at_end(faults: &[Fault], producers: u32) -> bool {
    let mut down: Vec<Option<FaultTarget>> = Vec::new();
    for f in faults {
        if f.target.is_some_and(|t| t.producer_mask(producers) != 0) {
            continue; // producer hosts, one by one: below
        }
        match f.action {
            FaultAction::Crash => down.push(f.target),
            FaultAction::Restart => {
                // A repair undoes the crash it was expanded from, "leader" included.
                let t = f.repairs.map_or(f.target, |r| faults[r].target);
                if let Some(p) = down.iter().position(|&d| d == t) {
                    down.remove(p);
                }
            }
            _ => {}
        }
    }
    down.is_empty() && producer_down_spans(faults, producers).iter().all(|s| s.2.is_some())
}

/// Whether no partition is in effect once the schedule has run.
pub fn healed_at_end(faults: &[Fault]) -> bool {
    faults
        .iter()
        .rev()
        .find(|f| matches!(f.action, FaultAction::Partition | FaultAction::Heal))
        .is_none_or(|f| f.action == FaultAction::Heal)
}

/// The first group whose consumers are all crashed or hung once the schedule has run.
pub fn group_without_consumers(faults: &[Fault], groups: &[(String, u32)]) -> Option<usize> {
    let mut stopped: Vec<FaultTarget> = Vec::new();
    for f in faults {
        let Some(t @ FaultTarget::Consumer { .. }) = f.target else { continue };
        match f.action {
            FaultAction::Crash | FaultAction::Hang => stopped.push(t),
            FaultAction::Restart | FaultAction::Resume => {
                if let Some(p) = stopped.iter().position(|&d| d == t) {
                    stopped.remove(p);
                }
            }
            _ => {}
        }
    }
    groups
        .iter()
        .enumerate()
        .position(|(g, (_, n))| (0..*n).all(|index| stopped.contains(&FaultTarget::Consumer { group: g, index })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(producers: u32, faults: &str) -> Vec<Fault> {
        let text = format!(
            "duration = \"1m\"\ndrain = \"1m\"\n[workload]\nrate = 1.0\nproducers = {producers}\n[[groups]]\nname = \"g\"\n\
             processing = \"1ms\"\n{faults}"
        );
        crate::plan::parse(&text, "t.toml", false).unwrap_or_else(|e| panic!("{e}")).faults
    }

    fn s(secs: u64) -> SimTime {
        SimTime(secs * 1_000_000_000)
    }

    /// Producer hosts go down and up one by one, as the models apply the steps: `producer-1` from
    /// 5 s, `producer-0` for 10 s from 6 s, then a written restart of `producer` brings back what
    /// is still down (host 1) at 20 s; a second crash of `producer-1` is never repaired.
    #[test]
    fn producer_hosts_go_down_and_up_one_by_one() {
        let f = schedule(
            3,
            "[[faults]]\nat = \"5s\"\naction = \"crash\"\ntarget = \"producer-1\"\n\
             [[faults]]\nat = \"6s\"\naction = \"crash\"\ntarget = \"producer-0\"\nduration = \"10s\"\n\
             [[faults]]\nat = \"20s\"\naction = \"restart\"\ntarget = \"producer\"\n",
        );
        assert_eq!(producer_down_spans(&f, 3), vec![(1, s(5), Some(s(20))), (0, s(6), Some(s(16)))]);
        assert!(all_up_at_end(&f, 3));
        let f = schedule(
            3,
            "[[faults]]\nat = \"5s\"\naction = \"crash\"\ntarget = \"producer\"\nduration = \"10s\"\n\
             [[faults]]\nat = \"30s\"\naction = \"crash\"\ntarget = \"producer-2\"\n",
        );
        let every = (0..3).map(|k| (k, s(5), Some(s(15))));
        assert_eq!(producer_down_spans(&f, 3), every.chain([(2, s(30), None)]).collect::<Vec<_>>());
        assert!(!all_up_at_end(&f, 3));
        // With one host, "producer" and "producer-0" are the same host.
        let f = schedule(
            1,
            "[[faults]]\nat = \"5s\"\naction = \"crash\"\ntarget = \"producer-0\"\n\
             [[faults]]\nat = \"8s\"\naction = \"restart\"\ntarget = \"producer\"\n",
        );
        assert_eq!(producer_down_spans(&f, 1), vec![(0, s(5), Some(s(8)))]);
        assert!(all_up_at_end(&f, 1));
    }
}
