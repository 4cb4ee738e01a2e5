//! `--set PATH=VALUE`: a parameter given on the command line instead of in the file. The override
//! is written into the parsed document before it is read as a scenario, so a value set this way
//! goes through exactly the checks, defaults and error messages of the same value in the file.
//!
//! PATH is the field's dotted name as the file would nest it: `kafka.partitions`, `workload.rate`,
//! `seed`. Array entries are reached by index (`groups.0.consumers`) or, for the `[[groups]]`
//! tables, by their `name` (`groups.billing.consumers`). A missing table on the way is created
//! (`--set cluster.brokers=3` works on a file with no `[cluster]`). VALUE is a TOML value (`12`,
//! `0.5`, `true`, `"all"`, `["kafka"]`, `{ distribution = "exponential", mean = "5ms" }`); a word
//! that is not one (`all`, `5ms`) is taken as a string.

use std::fmt;

/// One parsed `--set`.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// As typed, for messages and the scenario hash.
    pub text: String,
    /// The option that gave it, for messages: `--set`, or `--vary` for a sweep's point.
    flag: &'static str,
    path: Vec<String>,
    /// Parsed as TOML, held as JSON: a TOML file is written into as a JSON value too (one walk for
    /// both kinds of file).
    value: serde_json::Value,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.flag, crate::errtext::value(&self.text))
    }
}

impl Override {
    /// The dotted path, as the checks name the field (`kafka.partitions`).
    pub fn field(&self) -> String {
        self.path.join(".")
    }

    /// Parses `PATH=VALUE`.
    pub fn parse(text: &str) -> Result<Override, String> {
        Override::parse_as(text, "--set")
    }

    /// Parses `PATH=VALUE` given by `flag` (`--vary` names one point of a sweep), which messages name.
    pub fn parse_as(text: &str, flag: &'static str) -> Result<Override, String> {
        let Some((path, value)) = text.split_once('=') else {
            return Err(format!(
                "{flag} {}: expected PATH=VALUE, e.g. {flag} kafka.partitions=12",
                crate::errtext::value(text)
            ));
        };
        let path: Vec<String> = path.trim().split('.').map(|s| s.trim().to_string()).collect();
        if path.iter().any(|s| s.is_empty()) {
            return Err(format!(
                "{flag} {}: the path has an empty part; write the field's dotted name, e.g. workload.rate",
                crate::errtext::value(text)
            ));
        }
        let value = value.trim();
        let value = match format!("v = {value}").parse::<toml::Table>() {
            Ok(mut t) => t.remove("v").expect("the key parsed"),
            // A bare word (`all`, `5ms`, `cooperative-sticky`) is a string.
            Err(_) => toml::Value::String(value.to_string()),
        };
        let value = serde_json::to_value(value).map_err(|e| format!("{flag} {}: {e}", crate::errtext::value(text)))?;
        Ok(Override { text: text.to_string(), flag, path, value })
    }

    /// Writes the value into a document (a JSON file's, or a TOML file's as JSON).
    pub fn apply(&self, doc: &mut serde_json::Value) -> Result<(), String> {
        let (last, ways) = self.path.split_last().expect("parse refuses an empty path");
        let mut at = doc.as_object_mut().ok_or_else(|| format!("{self}: the file is not a table of fields"))?;
        let mut i = 0;
        while i < ways.len() {
            let here = self.path[..=i].join(".");
            let next = at.entry(ways[i].clone()).or_insert_with(|| serde_json::Value::Object(Default::default()));
            let next = match next {
                serde_json::Value::Array(items) => {
                    if i + 1 == ways.len() {
                        return Err(format!("{self}: `{}` names an entry, not a field of it", self.field()));
                    }
                    i += 1;
                    pick(items, &self.path[i], |v| v.get("name").and_then(|n| n.as_str()))
                        .map_err(|e| format!("{self}: {e} in `{here}`"))?
                }
                other => other,
            };
            at = next.as_object_mut().ok_or_else(|| format!("{self}: `{here}` is a value, not a table with fields"))?;
            i += 1;
        }
        at.insert(last.clone(), self.value.clone());
        Ok(())
    }
}

/// The array entry an index or a `name` picks.
fn pick<'a, T>(items: &'a mut [T], seg: &str, name: impl Fn(&T) -> Option<&str>) -> Result<&'a mut T, String> {
    if let Ok(i) = seg.parse::<usize>() {
        let n = items.len();
        return items.get_mut(i).ok_or_else(|| format!("no entry {i} (there are {n}, numbered from 0)"));
    }
    let names: Vec<String> = items.iter().filter_map(|v| name(v).map(str::to_string)).collect();
    match items.iter().position(|v| name(v) == Some(seg)) {
        Some(i) => Ok(&mut items[i]),
        None => Err(format!(
            "no entry named {} (named: {})",
            crate::errtext::value(seg),
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TOML file's document, as the scenario reader writes overrides into it.
    fn doc() -> serde_json::Value {
        let t: toml::Table =
            "rate = 1\n[kafka]\npartitions = 3\n[[groups]]\nname = \"billing\"\n[[groups]]\nname = \"audit\"\n"
                .parse()
                .unwrap();
        serde_json::to_value(t).unwrap()
    }

    #[test]
    fn values_are_toml_and_bare_words_are_strings() {
        assert_eq!(Override::parse("a.b=12").unwrap().value, serde_json::json!(12));
        assert_eq!(Override::parse("a=0.5").unwrap().value, serde_json::json!(0.5));
        assert_eq!(Override::parse("a=\"all\"").unwrap().value, serde_json::json!("all"));
        assert_eq!(Override::parse("a = all").unwrap().value, serde_json::json!("all"));
        assert_eq!(Override::parse("a=5ms").unwrap().value, serde_json::json!("5ms"));
        assert!(Override::parse("a.b").unwrap_err().contains("PATH=VALUE"));
        assert!(Override::parse("a..b=1").unwrap_err().contains("empty part"));
    }

    #[test]
    fn sets_nested_fields_array_entries_by_index_and_name_and_creates_tables() {
        let mut d = doc();
        Override::parse("kafka.partitions=12").unwrap().apply(&mut d).unwrap();
        Override::parse("groups.1.consumers=4").unwrap().apply(&mut d).unwrap();
        Override::parse("groups.billing.consumers=6").unwrap().apply(&mut d).unwrap();
        Override::parse("cluster.brokers=3").unwrap().apply(&mut d).unwrap();
        assert_eq!(d["kafka"]["partitions"].as_i64(), Some(12));
        assert_eq!(d["groups"][1]["consumers"].as_i64(), Some(4));
        assert_eq!(d["groups"][0]["consumers"].as_i64(), Some(6));
        assert_eq!(d["cluster"]["brokers"].as_i64(), Some(3));
        let e = Override::parse("groups.pricing.consumers=2").unwrap().apply(&mut d).unwrap_err();
        assert!(e.contains("no entry named \"pricing\"") && e.contains("billing, audit"), "{e}");
        let e = Override::parse("groups.5.consumers=2").unwrap().apply(&mut d).unwrap_err();
        assert!(e.contains("no entry 5 (there are 2"), "{e}");
        let e = Override::parse("rate.x=2").unwrap().apply(&mut d).unwrap_err();
        assert!(e.contains("`rate` is a value"), "{e}");
    }

    #[test]
    fn json_documents_take_the_same_paths() {
        let mut d: serde_json::Value =
            serde_json::from_str(r#"{"kafka": {"partitions": 3}, "groups": [{"name": "billing"}]}"#).unwrap();
        Override::parse("kafka.partitions=12").unwrap().apply(&mut d).unwrap();
        Override::parse("groups.billing.consumers=6").unwrap().apply(&mut d).unwrap();
        Override::parse("rabbitmq.ack=auto").unwrap().apply(&mut d).unwrap();
        assert_eq!(d["kafka"]["partitions"], 12);
        assert_eq!(d["groups"][0]["consumers"], 6);
        assert_eq!(d["rabbitmq"]["ack"], "auto");
    }
}
