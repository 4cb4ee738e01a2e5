//! Operator actions on a schedule, beside the faults: `[[operations]]` (an offset reset, scaling a
//! group, a rolling restart) and the late start of a group (`[[groups]] start`). They are what a
//! team does to a running system on purpose, where faults are what happens to it.
//!
//! Everything expands into single [`Operation`] steps in time order, so the models see one kind of
//! step: a rolling restart becomes a stop and a start per consumer.

use super::ScenarioError;
use super::raw::RawOperation;
use crate::scenario::defaults as d;
use crate::time::{SimDuration, SimTime, parse_duration};

/// Where a Kafka group's positions go: `auto.offset.reset` of a group without committed offsets,
/// or the target of `kafka-consumer-groups --reset-offsets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetSpec {
    /// The log start offset (`--to-earliest`).
    Earliest,
    /// The log end offset (`--to-latest`).
    Latest,
    /// The first offset whose record was published at or after this time (`--to-datetime`,
    /// `offsetsForTimes`); the log end offset if there is none.
    Time(SimTime),
}

impl OffsetSpec {
    pub fn parse(text: &str) -> Result<OffsetSpec, String> {
        match text {
            "earliest" => Ok(OffsetSpec::Earliest),
            "latest" => Ok(OffsetSpec::Latest),
            t => parse_duration(t).map(|d| OffsetSpec::Time(SimTime(d.0))).map_err(|_| {
                format!(
                    "\"{t}\" is not allowed; use \"earliest\", \"latest\" or a time since the start such as \"1h30m\""
                )
            }),
        }
    }

    pub fn describe(self) -> String {
        match self {
            OffsetSpec::Earliest => "earliest".into(),
            OffsetSpec::Latest => "latest".into(),
            OffsetSpec::Time(t) => format!("{}", SimDuration(t.0)),
        }
    }
}

/// What one step does to one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum OperationAction {
    /// The group starts: Kafka consumers subscribe (from the group's `from`), a RabbitMQ queue is
    /// declared and bound, its consumers subscribe.
    Start,
    /// `kafka-consumer-groups --reset-offsets --to ... --execute`. On a RabbitMQ queue there is
    /// nothing to rewind: acknowledged messages are gone.
    ResetOffsets { to: OffsetSpec },
    /// The group now runs `consumers` consumers: new ones start, the highest-numbered ones stop.
    Scale { consumers: u32 },
    /// Consumer `consumer` shuts down cleanly (Kafka: commit, LeaveGroup; RabbitMQ: its channel
    /// closes, its unacknowledged deliveries are requeued).
    Stop { consumer: u32 },
    /// Consumer `consumer` starts again (a new process: a new member).
    Restart { consumer: u32 },
}

/// One step, in time order.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Operation {
    pub at: SimTime,
    pub group: usize,
    pub action: OperationAction,
}

impl Operation {
    /// A short label for charts ("billing: offsets reset to earliest").
    pub fn label(&self, group: &str) -> String {
        match self.action {
            OperationAction::Start => format!("{group} subscribes"),
            OperationAction::ResetOffsets { to } => format!("{group}: offsets reset to {}", to.describe()),
            OperationAction::Scale { consumers } => format!("{group} scaled to {consumers}"),
            OperationAction::Stop { consumer } => format!("{group}/{consumer} stops"),
            OperationAction::Restart { consumer } => format!("{group}/{consumer} restarts"),
        }
    }
}

/// A group as the operations see it: its name, consumers at start, and start time.
pub struct GroupPlan<'a> {
    pub name: &'a str,
    pub consumers: u32,
    pub start: SimTime,
}

const ACTIONS: &str = "\"reset_offsets\", \"scale\", \"rolling_restart\"";

fn err(file: &str, field: String, message: String) -> ScenarioError {
    ScenarioError { file: file.to_string(), field: Some(field), message }
}

/// Validates `[[operations]]`, adds each late group's start, and expands rolling restarts. Returns
/// the steps in time order (same-instant steps in file order, a group's start first) and, per
/// group, the most consumers it ever runs.
pub fn validate(
    file: &str,
    raw: Vec<RawOperation>,
    groups: &[GroupPlan<'_>],
    latest_at: Option<SimTime>,
) -> Result<(Vec<Operation>, Vec<u32>), ScenarioError> {
    let mut steps: Vec<Operation> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.start > SimTime::ZERO)
        .map(|(group, g)| Operation { at: g.start, group, action: OperationAction::Start })
        .collect();
    let mut parsed: Vec<(SimTime, usize, &RawOperation, usize)> = Vec::new();
    for (i, o) in raw.iter().enumerate() {
        let field = |k: &str| format!("operations[{i}].{k}");
        let at = SimTime(parse_duration(&o.at).map_err(|m| err(file, field("at"), m))?.0);
        if at == SimTime::ZERO {
            return Err(err(file, field("at"), "0 is not allowed; an operation happens during the run".into()));
        }
        if let Some(latest) = latest_at
            && at >= latest
        {
            return Err(err(
                file,
                field("at"),
                format!(
                    "{} is not allowed; the run ends at duration + drain ({}), so an operation must come before",
                    SimDuration(at.0),
                    SimDuration(latest.0)
                ),
            ));
        }
        let Some(group) = groups.iter().position(|g| g.name == o.group) else {
            let names: Vec<&str> = groups.iter().map(|g| g.name).collect();
            return Err(err(file, field("group"), format!("\"{}\" is not a group; groups are {names:?}", o.group)));
        };
        let g = &groups[group];
        if at < g.start {
            return Err(err(
                file,
                field("at"),
                format!(
                    "{} is before group \"{}\" starts ({}); an operation applies to a group that has started",
                    SimDuration(at.0),
                    g.name,
                    SimDuration(g.start.0)
                ),
            ));
        }
        parsed.push((at, group, o, i));
    }
    // Apply in time order (stable: file order at the same instant) to know each group's size.
    parsed.sort_by_key(|&(at, _, _, i)| (at, i));
    let mut size: Vec<u32> = groups.iter().map(|g| g.consumers).collect();
    let mut most = size.clone();
    for (at, group, o, i) in parsed {
        let field = |k: &str| format!("operations[{i}].{k}");
        let not_with = |k: &str, present: bool| -> Result<(), ScenarioError> {
            if present {
                return Err(err(file, field(k), format!("not allowed with action \"{}\"", o.action)));
            }
            Ok(())
        };
        match o.action.as_str() {
            "reset_offsets" => {
                not_with("consumers", o.consumers.is_some())?;
                not_with("interval", o.interval.is_some())?;
                let Some(to) = &o.to else {
                    return Err(err(
                        file,
                        field("to"),
                        "missing; reset_offsets needs `to`: \"earliest\", \"latest\" or a time such as \"1h\"".into(),
                    ));
                };
                let to = OffsetSpec::parse(to).map_err(|m| err(file, field("to"), m))?;
                if let OffsetSpec::Time(t) = to
                    && t > at
                {
                    return Err(err(
                        file,
                        field("to"),
                        format!(
                            "{} is after the reset itself ({}); a reset goes back to a time already past",
                            SimDuration(t.0),
                            SimDuration(at.0)
                        ),
                    ));
                }
                steps.push(Operation { at, group, action: OperationAction::ResetOffsets { to } });
            }
            "scale" => {
                not_with("to", o.to.is_some())?;
                not_with("interval", o.interval.is_some())?;
                let Some(n) = o.consumers else {
                    return Err(err(file, field("consumers"), "missing; scale needs `consumers`, 1 or more".into()));
                };
                if !(1..=d::MAX_CONSUMERS as i64).contains(&n) {
                    return Err(err(
                        file,
                        field("consumers"),
                        format!("{n} is not allowed; a group runs 1 to {} consumers", d::MAX_CONSUMERS),
                    ));
                }
                let n = n as u32;
                size[group] = n;
                most[group] = most[group].max(n);
                steps.push(Operation { at, group, action: OperationAction::Scale { consumers: n } });
            }
            "rolling_restart" => {
                not_with("to", o.to.is_some())?;
                not_with("consumers", o.consumers.is_some())?;
                let interval = match &o.interval {
                    None => d::ROLLING_RESTART_INTERVAL,
                    Some(t) => parse_duration(t).map_err(|m| err(file, field("interval"), m))?,
                };
                if interval <= d::ROLLING_RESTART_DOWNTIME {
                    return Err(err(
                        file,
                        field("interval"),
                        format!(
                            "{interval} is not allowed; one consumer is down for {} at a time, so the interval must be \
                             longer",
                            d::ROLLING_RESTART_DOWNTIME
                        ),
                    ));
                }
                for consumer in 0..size[group] {
                    let stop = at.after(SimDuration(interval.0 * consumer as u64));
                    steps.push(Operation { at: stop, group, action: OperationAction::Stop { consumer } });
                    steps.push(Operation {
                        at: stop.after(d::ROLLING_RESTART_DOWNTIME),
                        group,
                        action: OperationAction::Restart { consumer },
                    });
                }
            }
            other => {
                return Err(err(file, field("action"), format!("\"{other}\" is not an action; allowed: {ACTIONS}")));
            }
        }
    }
    steps.sort_by_key(|s| s.at);
    Ok((steps, most))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(at: &str, action: &str, group: &str) -> RawOperation {
        RawOperation {
            at: at.into(),
            action: action.into(),
            group: group.into(),
            to: None,
            consumers: None,
            interval: None,
        }
    }

    #[test]
    fn a_rolling_restart_stops_and_restarts_each_consumer_in_turn_and_scaling_sets_the_size() {
        let groups = [GroupPlan { name: "g", consumers: 2, start: SimTime::ZERO }];
        let mut scale = raw("1m", "scale", "g");
        scale.consumers = Some(3);
        let mut roll = raw("2m", "rolling_restart", "g");
        roll.interval = Some("30s".into());
        let (steps, most) = validate("f", vec![roll, scale], &groups, None).unwrap();
        assert_eq!(most, vec![3]);
        let secs: Vec<(u64, OperationAction)> = steps.iter().map(|s| (s.at.0 / 1_000_000_000, s.action)).collect();
        let down = d::ROLLING_RESTART_DOWNTIME.0 / 1_000_000_000;
        assert_eq!(
            secs,
            vec![
                (60, OperationAction::Scale { consumers: 3 }),
                (120, OperationAction::Stop { consumer: 0 }),
                (120 + down, OperationAction::Restart { consumer: 0 }),
                (150, OperationAction::Stop { consumer: 1 }),
                (150 + down, OperationAction::Restart { consumer: 1 }),
                (180, OperationAction::Stop { consumer: 2 }),
                (180 + down, OperationAction::Restart { consumer: 2 }),
            ]
        );
    }

    #[test]
    fn bad_operations_name_the_field() {
        let groups = [GroupPlan { name: "g", consumers: 2, start: SimTime(3_600_000_000_000) }];
        let e = validate("f", vec![raw("2h", "reset_offsets", "nope")], &groups, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("operations[0].group"));
        let e = validate("f", vec![raw("30m", "reset_offsets", "g")], &groups, None).unwrap_err();
        assert!(e.message.contains("before group \"g\" starts"), "{}", e.message);
        let mut zero = raw("2h", "scale", "g");
        zero.consumers = Some(0);
        let e = validate("f", vec![zero], &groups, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("operations[0].consumers"));
        let e = validate("f", vec![raw("2h", "reset_offsets", "g")], &groups, None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("operations[0].to"));
    }
}
