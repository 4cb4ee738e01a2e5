//! Simulated time: integer nanoseconds, so that sums and comparisons are exact and the same on every
//! machine. A `u64` of nanoseconds covers 584 years of simulated time.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

pub const NANOS_PER_MICRO: u64 = 1_000;
pub const NANOS_PER_MILLI: u64 = 1_000_000;
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const NEVER: SimTime = SimTime(u64::MAX);

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Saturating: a time beyond the end of representable time is "never".
    pub fn after(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }

    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub fn from_secs(s: u64) -> Self {
        SimDuration(s * NANOS_PER_SEC)
    }
    pub fn from_millis(ms: u64) -> Self {
        SimDuration(ms * NANOS_PER_MILLI)
    }
    pub fn from_micros(us: u64) -> Self {
        SimDuration(us * NANOS_PER_MICRO)
    }
    /// Rounds to the nearest nanosecond; negative and NaN become zero.
    pub fn from_secs_f64(s: f64) -> Self {
        if s.is_nan() || s <= 0.0 {
            SimDuration(0)
        } else {
            // Round half up by adding 0.5 and truncating: the same result as `round` for
            // non-negative values, without a libm call on the hot path. `as` saturates.
            SimDuration((s * NANOS_PER_SEC as f64 + 0.5) as u64)
        }
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_MILLI as f64
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        self.after(d)
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = self.after(d);
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(o.0))
    }
}

/// The units a duration string may carry, longest suffix first so that "ms" is not read as "m".
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", NANOS_PER_MICRO),
    ("µs", NANOS_PER_MICRO),
    ("ms", NANOS_PER_MILLI),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
];

pub const DURATION_HELP: &str =
    "a number with a unit: ns, us, ms, s, m, h or d (e.g. \"250us\", \"5ms\", \"2s\", \"1h\")";

/// Parses "250us", "5ms", "1.5s", "2h", "0", and compounds such as "1h30m" or "2m30s".
/// Fractions are allowed and rounded to whole nanoseconds.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(SimDuration::ZERO);
    }
    if t.is_empty() {
        return Err(format!("\"{text}\" is empty; expected {DURATION_HELP}"));
    }
    let mut rest = t;
    let mut total = SimDuration::ZERO;
    while !rest.is_empty() {
        let (part, tail) = split_part(text, rest)?;
        total = SimDuration(
            total.0.checked_add(part.0).ok_or_else(|| format!("\"{text}\" is too long (at most 584 years)"))?,
        );
        rest = tail;
    }
    Ok(total)
}

/// One "<number><unit>" from the front of `rest`.
fn split_part<'a>(text: &str, rest: &'a str) -> Result<(SimDuration, &'a str), String> {
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .ok_or_else(|| format!("\"{text}\" has no unit; expected {DURATION_HELP}"))?;
    let (num, after) = rest.split_at(num_end);
    let unit_end = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
    let (unit, tail) = after.split_at(unit_end);
    let unit = unit.trim();
    let scale = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, s)| *s)
        .ok_or_else(|| format!("\"{text}\" has an unknown unit \"{unit}\"; expected {DURATION_HELP}"))?;
    let num = num.replace('_', "");
    if num.is_empty() {
        return Err(format!("\"{text}\" has no number; expected {DURATION_HELP}"));
    }
    if let Ok(whole) = num.parse::<u64>() {
        let d = whole.checked_mul(scale).ok_or_else(|| format!("\"{text}\" is too long (at most 584 years)"))?;
        return Ok((SimDuration(d), tail));
    }
    let value: f64 =
        num.parse().map_err(|_| format!("\"{text}\" is not a number with a unit; expected {DURATION_HELP}"))?;
    let ns = (value * scale as f64).round();
    if !ns.is_finite() || ns >= u64::MAX as f64 {
        return Err(format!("\"{text}\" is too long (at most 584 years)"));
    }
    Ok((SimDuration(ns as u64), tail))
}

/// Formats a duration with the largest unit that keeps it whole, e.g. "5ms", "3h", "1500us".
pub fn format_duration(d: SimDuration) -> String {
    if d.0 == 0 {
        return "0s".into();
    }
    for (unit, scale) in UNITS.iter().rev() {
        if *unit == "µs" {
            continue;
        }
        if d.0 % scale == 0 {
            return format!("{}{}", d.0 / scale, unit);
        }
    }
    format!("{}ns", d.0)
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(*self))
    }
}

/// Durations and instants appear in `summary.json` as duration strings ("5ms", "1h30m").
impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl serde::Serialize for SimTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&SimDuration(self.0).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("250us").unwrap(), SimDuration(250_000));
        assert_eq!(parse_duration("5ms").unwrap(), SimDuration(5_000_000));
        assert_eq!(parse_duration("2s").unwrap(), SimDuration(2_000_000_000));
        assert_eq!(parse_duration("5m").unwrap(), SimDuration(300_000_000_000));
        assert_eq!(parse_duration("1h").unwrap(), SimDuration(3_600_000_000_000));
        assert_eq!(parse_duration("7d").unwrap(), SimDuration(604_800_000_000_000));
        assert_eq!(parse_duration("1.5ms").unwrap(), SimDuration(1_500_000));
        assert_eq!(parse_duration("0").unwrap(), SimDuration(0));
        assert_eq!(parse_duration("0ms").unwrap(), SimDuration(0));
        assert_eq!(parse_duration("1h30m").unwrap(), SimDuration(5_400_000_000_000));
        assert_eq!(parse_duration("2m30s").unwrap(), SimDuration(150_000_000_000));
        assert_eq!(parse_duration("1s500ms").unwrap(), SimDuration(1_500_000_000));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "5", "ms", "5 parsecs", "-5ms", "1e3", "5mss", "abc", "1h30", "1hm"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_duration("999999999999d").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["5ms", "3h", "250us", "7d", "90s", "17ns"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
