//! `--vary PATH=VALUES`: the values one parameter of a sweep takes, and the points of a sweep (the
//! cross product of every `--vary`, the first varying slowest).
//!
//! VALUES is a list `V1,V2,V3` (each a TOML value as in `--set`; commas inside `[...]`, `{...}` or
//! quotes do not split), or a range of numbers: `A..B:xK` (geometric: A, A·K, A·K², ... up to B)
//! or `A..B:+K` (arithmetic: A, A+K, ... up to B). A range of whole numbers gives whole numbers.

use crate::errtext;
use crate::scenario::overrides::Override;

/// Most values one `--vary` may take.
pub const MAX_VALUES: usize = 1000;
/// Most points a sweep may have.
pub const MAX_POINTS: usize = 10_000;

/// One `--vary`: the parameter as typed (the CSV column's name) and its values as text.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    pub path: String,
    pub values: Vec<String>,
    /// Given as a geometric range (`A..B:xK`): the charts put it on a logarithmic axis.
    pub geometric: bool,
}

impl Vary {
    /// Parses `PATH=VALUES`; the message of an error names `--vary` and what is allowed.
    pub fn parse(text: &str) -> Result<Vary, String> {
        let shown = || format!("--vary {}", errtext::value(text));
        let Some((path, rhs)) = text.split_once('=') else {
            return Err(format!(
                "{}: expected PATH=V1,V2,... or PATH=A..B:xK or PATH=A..B:+K, e.g. --vary kafka.partitions=1..16:x2",
                shown()
            ));
        };
        let path = path.trim().to_string();
        let rhs = rhs.trim();
        let (values, geometric) = match range(rhs) {
            Some(r) => (r.map_err(|e| format!("{}: {e}", shown()))?, rhs.contains(":x") || rhs.contains(":*")),
            None => (split_top_level(rhs), false),
        };
        if values.iter().any(|v| v.is_empty()) {
            return Err(format!("{}: an empty value; separate values with single commas: V1,V2,V3", shown()));
        }
        if values.len() > MAX_VALUES {
            return Err(format!("{}: {} values, above the limit of {MAX_VALUES}", shown(), values.len()));
        }
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(format!("{}: the value {} is given twice", shown(), errtext::value(v)));
            }
            // The path and the value as `--set` would take them (checked against the file later).
            Override::parse_as(&format!("{path}={v}"), "--vary")?;
        }
        Ok(Vary { path, values, geometric })
    }

    /// The override that sets value `i`, named `--vary` in messages.
    pub fn set(&self, i: usize) -> Override {
        Override::parse_as(&format!("{}={}", self.path, self.values[i]), "--vary").expect("checked by parse")
    }
}

/// `A..B:xK` or `A..B:+K` as values; `None` when `text` is not a range at all.
fn range(text: &str) -> Option<Result<Vec<String>, String>> {
    let (a, rest) = text.split_once("..")?;
    if text.starts_with(['[', '{', '"', '\'']) {
        return None;
    }
    let allowed = "a range is A..B:xK (geometric, K > 1, A > 0) or A..B:+K (arithmetic, K > 0), with numbers A <= B, \
                   e.g. 1..16:x2 or 1000..5000:+1000; other values are listed: V1,V2,V3";
    let Some((b, step)) = rest.split_once(':') else {
        return Some(Err(format!("{} has no step; {allowed}", errtext::value(text))));
    };
    let (kind, k) = match step.trim().chars().next() {
        Some(c @ ('x' | '*' | '+')) => (c, step.trim()[1..].trim()),
        _ => return Some(Err(format!("the step {} is not xK or +K; {allowed}", errtext::value(step)))),
    };
    let (a, b) = (a.trim(), b.trim());
    let geometric = kind != '+';
    let whole = |s: &str| s.parse::<i64>().ok();
    if let (Some(a), Some(b), Some(k)) = (whole(a), whole(b), whole(k)) {
        let ok = a <= b && if geometric { a > 0 && k > 1 } else { k > 0 };
        if !ok {
            return Some(Err(format!("{}: {allowed}", errtext::value(text))));
        }
        let mut out = Vec::new();
        let mut v = a;
        while v <= b && out.len() <= MAX_VALUES {
            out.push(v.to_string());
            v = match if geometric { v.checked_mul(k) } else { v.checked_add(k) } {
                Some(n) => n,
                None => break,
            };
        }
        return Some(Ok(out));
    }
    let num = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
    let (Some(a), Some(b), Some(k)) = (num(a), num(b), num(k)) else {
        return Some(Err(format!("{} is not a range of numbers; {allowed}", errtext::value(text))));
    };
    let ok = a <= b && if geometric { a > 0.0 && k > 1.0 } else { k > 0.0 };
    if !ok {
        return Some(Err(format!("{}: {allowed}", errtext::value(text))));
    }
    let mut out = Vec::new();
    for i in 0.. {
        // From A each time (not step by step), so that errors do not add up.
        let v = if geometric { a * k.powi(i) } else { a + k * f64::from(i) };
        if v > b * (1.0 + 1e-9) + 1e-12 || out.len() > MAX_VALUES {
            break;
        }
        out.push(number(v));
    }
    Some(Ok(out))
}

/// A number as short as it reads, 12 significant digits at most (`0.1 + 0.2` is `0.3`).
fn number(v: f64) -> String {
    let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
    format!("{rounded}")
}

/// `a,[1,2],{x = 1, y = 2},"c,d"` -> `a`, `[1,2]`, `{x = 1, y = 2}`, `"c,d"` (trimmed).
fn split_top_level(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_string());
    out
}

/// One point of a sweep: its index in the cross product and the index of each parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub index: usize,
    pub choice: Vec<usize>,
    /// Its folder's name: `rate=1000,partitions=4`.
    pub folder: String,
}

/// Every point, the first `--vary` varying slowest. Errors: two `--vary` of one parameter, too
/// many points, a folder name too long.
pub fn points(varies: &[Vary]) -> Result<Vec<Point>, String> {
    for (i, v) in varies.iter().enumerate() {
        if varies[..i].iter().any(|w| w.path == v.path) {
            return Err(format!("--vary {}: given twice; list every value in one --vary", errtext::value(&v.path)));
        }
    }
    let total = varies.iter().try_fold(1usize, |n, v| n.checked_mul(v.values.len()).filter(|&n| n <= MAX_POINTS));
    let Some(total) = total else {
        return Err(format!(
            "the sweep has more than {MAX_POINTS} points ({}); vary fewer values",
            varies.iter().map(|v| v.values.len().to_string()).collect::<Vec<_>>().join(" x ")
        ));
    };
    let names = short_names(varies);
    let mut out = Vec::with_capacity(total);
    for index in 0..total {
        let mut rest = index;
        let mut choice = vec![0; varies.len()];
        for (i, v) in varies.iter().enumerate().rev() {
            choice[i] = rest % v.values.len();
            rest /= v.values.len();
        }
        let folder = names
            .iter()
            .zip(varies)
            .zip(&choice)
            .map(|((name, v), &c)| format!("{}={}", encode(name), encode(&v.values[c])))
            .collect::<Vec<_>>()
            .join(",");
        if folder.len() > crate::scenario::MAX_NAME_BYTES {
            return Err(format!(
                "the folder name of point {index}, {}, is {} bytes long, above the limit of {} bytes; vary fewer \
                 parameters, or values with shorter text",
                errtext::value(&folder),
                folder.len(),
                crate::scenario::MAX_NAME_BYTES
            ));
        }
        out.push(Point { index, choice, folder });
    }
    Ok(out)
}

/// The names in folder names: each path's last part (`partitions`), or the whole path where two
/// last parts are the same (`groups.billing.consumers`).
fn short_names(varies: &[Vary]) -> Vec<String> {
    let last = |p: &str| p.rsplit('.').next().unwrap_or(p).trim().to_string();
    varies
        .iter()
        .map(|v| {
            let mine = last(&v.path);
            if varies.iter().filter(|w| last(&w.path) == mine).count() > 1 { v.path.clone() } else { mine }
        })
        .collect()
}

/// Text as part of a folder name: letters, digits and `.-_+` as they are, every other byte as
/// `%XX` (so that two values never share a folder, and `/`, `,` and `=` stay separators).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"._-+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `--shard i/N`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "--shard {}: expected i/N with 0 <= i < N, e.g. --shard 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/N, \
                 Kubernetes: $JOB_COMPLETION_INDEX/N)",
                errtext::value(text)
            )
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) =
            (i.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    pub fn owns(&self, p: &Point) -> bool {
        p.index % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(Vary::parse("kafka.partitions=1..16:x2").unwrap().values, ["1", "2", "4", "8", "16"]);
        assert_eq!(Vary::parse("workload.rate=1000..3000:+1000").unwrap().values, ["1000", "2000", "3000"]);
        assert_eq!(Vary::parse("workload.rate=0.1..0.5:+0.1").unwrap().values, ["0.1", "0.2", "0.3", "0.4", "0.5"]);
        assert_eq!(Vary::parse("a=0.5..4:x2").unwrap().values, ["0.5", "1", "2", "4"]);
        assert_eq!(Vary::parse("a=1..10:x3").unwrap().values, ["1", "3", "9"]);
        let v = Vary::parse("kafka.acks=0, 1, all").unwrap();
        assert_eq!((v.values.clone(), v.geometric), (vec!["0".into(), "1".into(), "all".into()], false));
        assert_eq!(
            Vary::parse("g.p={ distribution = \"exponential\", mean = \"5ms\" },[1, 2],\"a,b\"").unwrap().values,
            ["{ distribution = \"exponential\", mean = \"5ms\" }", "[1, 2]", "\"a,b\""]
        );
        for (bad, words) in [
            ("a", "PATH=V1,V2"),
            ("a=1..4", "no step"),
            ("a=1..4:/2", "not xK or +K"),
            ("a=4..1:x2", "A <= B"),
            ("a=1..4:x1", "K > 1"),
            ("a=0..4:x2", "A > 0"),
            ("a=x..y:+1", "not a range of numbers"),
            ("a=1,,2", "empty value"),
            ("a=1,1", "given twice"),
            ("a..b=1", "empty part"),
            ("a=1..100000:+1", "above the limit"),
        ] {
            let e = Vary::parse(bad).unwrap_err();
            assert!(e.contains(words) && e.contains("--vary"), "{bad}: {e}");
        }
    }

    #[test]
    fn points_are_the_cross_product_first_slowest_with_readable_folders() {
        let v = [Vary::parse("workload.rate=10,20").unwrap(), Vary::parse("kafka.partitions=1..4:x2").unwrap()];
        let p = points(&v).unwrap();
        let folders: Vec<&str> = p.iter().map(|p| p.folder.as_str()).collect();
        assert_eq!(
            folders,
            [
                "rate=10,partitions=1",
                "rate=10,partitions=2",
                "rate=10,partitions=4",
                "rate=20,partitions=1",
                "rate=20,partitions=2",
                "rate=20,partitions=4"
            ]
        );
        assert_eq!(p[4].choice, [1, 1]);
        let v = [Vary::parse("groups.a.consumers=1").unwrap(), Vary::parse("groups.b.consumers=2/3,\"x y\"").unwrap()];
        let p = points(&v).unwrap();
        assert_eq!(p[0].folder, "groups.a.consumers=1,groups.b.consumers=2%2F3");
        assert_eq!(p[1].folder, "groups.a.consumers=1,groups.b.consumers=%22x%20y%22");
        assert!(points(&[Vary::parse("a=1").unwrap(), Vary::parse("a=2").unwrap()]).unwrap_err().contains("twice"));
        let shard = Shard::parse("1/3").unwrap();
        assert!(shard.owns(&Point { index: 4, choice: vec![], folder: String::new() }));
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(Shard::parse(bad).unwrap_err().contains("i/N"), "{bad}");
        }
    }
}
