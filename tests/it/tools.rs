//! Tools for scripts and editors: `pushpull schema` (every scenario of the library validates
//! against it, broken ones do not), `completions`, `man`, and summary.json against its documented
//! schema (docs/summary.schema.json).

use crate::common::{bin, tmpdir_in, write};
use serde_json::Value;
use std::path::Path;

/// A JSON Schema validator for the keywords our two schemas use (draft 2020-12). A keyword it
/// does not know is an error, so that a schema growing a new kind of rule is not silently
/// half-checked. Returns the first problem, with its path.
pub fn validate(schema: &Value, root: &Value, v: &Value, path: &str) -> Result<(), String> {
    let Some(map) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok(()),
            _ => Err(format!("{path}: not allowed here")),
        };
    };
    for (key, rule) in map {
        match key.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" | "format" | "default" => {}
            "$ref" => {
                let name = rule.as_str().and_then(|r| r.strip_prefix("#/$defs/")).ok_or("only #/$defs/ refs")?;
                validate(&root["$defs"][name], root, v, path)?;
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(a) => a.iter().filter_map(|t| t.as_str()).collect(),
                    _ => return Err("bad type".into()),
                };
                let fits = |t: &str| match t {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "boolean" => v.is_boolean(),
                    "null" => v.is_null(),
                    "number" => v.is_number(),
                    "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
                    _ => false,
                };
                if !types.iter().any(|t| fits(t)) {
                    return Err(format!("{path}: {v} is not of type {types:?}"));
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (k, s) in rule.as_object().ok_or("bad properties")? {
                        if let Some(x) = o.get(k) {
                            validate(s, root, x, &format!("{path}.{k}"))?;
                        }
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for k in rule.as_array().ok_or("bad required")?.iter().filter_map(|k| k.as_str()) {
                        if !o.contains_key(k) {
                            return Err(format!("{path}: the field {k} is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let known = map.get("properties").and_then(|p| p.as_object());
                    for (k, x) in o.iter().filter(|(k, _)| known.is_none_or(|p| !p.contains_key(*k))) {
                        match rule {
                            Value::Bool(false) => return Err(format!("{path}: unknown field {k}")),
                            s => validate(s, root, x, &format!("{path}.{k}"))?,
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        validate(rule, root, x, &format!("{path}[{i}]"))?;
                    }
                }
            }
            "anyOf" | "oneOf" => {
                let options = rule.as_array().ok_or("bad anyOf")?;
                let fitting = options.iter().filter(|s| validate(s, root, v, path).is_ok()).count();
                if fitting == 0 || (key == "oneOf" && fitting > 1) {
                    return Err(format!("{path}: {v} fits {fitting} of the {key} options"));
                }
            }
            "allOf" => {
                for s in rule.as_array().ok_or("bad allOf")? {
                    validate(s, root, v, path)?;
                }
            }
            "enum" => {
                if !rule.as_array().ok_or("bad enum")?.contains(v) {
                    return Err(format!("{path}: {v} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != v {
                    return Err(format!("{path}: {v} is not {rule}"));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(x), Some(m)) = (v.as_f64(), rule.as_f64())
                    && ((key == "minimum" && x < m) || (key == "maximum" && x > m))
                {
                    return Err(format!("{path}: {x} is beyond the {key} {m}"));
                }
            }
            "minProperties" => {
                if let Some(o) = v.as_object()
                    && (o.len() as u64) < rule.as_u64().ok_or("bad minProperties")?
                {
                    return Err(format!("{path}: too few fields"));
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(s), Some(n)) = (v.as_str(), rule.as_u64()) {
                    let len = s.chars().count() as u64;
                    if (key == "minLength" && len < n) || (key == "maxLength" && len > n) {
                        return Err(format!("{path}: length {len} beyond the {key} {n}"));
                    }
                }
            }
            other => return Err(format!("the validator does not know the keyword {other} (at {path})")),
        }
    }
    Ok(())
}

fn check(schema: &Value, v: &Value) -> Result<(), String> {
    validate(schema, schema, v, "")
}

fn scenario_schema() -> Value {
    let out = bin().arg("schema").output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("pushpull schema prints JSON")
}

/// A scenario file as the JSON value the schema describes (TOML tables as objects).
fn as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_library_scenario_validates_against_the_schema_and_broken_ones_do_not() {
    let schema = scenario_schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    for f in &files {
        check(&schema, &as_json(f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    // Each of these the program refuses, and the schema too.
    let pooling = as_json(&root.join("scenarios/pooling.toml"));
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut v = pooling.clone();
        edit(&mut v);
        v
    };
    for (what, v) in [
        ("an unknown field", broken(&|v| v["kafka"]["partitionz"] = 3.into())),
        ("an unknown table", broken(&|v| v["zookeeper"] = serde_json::json!({}))),
        ("a string for a number", broken(&|v| v["workload"]["rate"] = "fast".into())),
        ("an unknown profile", broken(&|v| v["profile"] = "wan".into())),
        ("an unknown system", broken(&|v| v["systems"] = serde_json::json!(["kafka", "pulsar"]))),
        ("a group without a name", broken(&|v| v["groups"][0].as_object_mut().unwrap().retain(|k, _| k != "name"))),
        ("an unknown ack mode", broken(&|v| v["rabbitmq"]["ack"] = "sometimes".into())),
    ] {
        assert!(check(&schema, &v).is_err(), "the schema accepts {what}");
        let d = tmpdir_in("tools", "broken");
        let f = write(&d, "broken.json", serde_json::to_vec(&v).unwrap());
        let out = bin().arg("validate").arg(&f).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{what}: pushpull validate accepts what the schema refuses");
    }
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    let commands = ["run", "sweep", "collect", "list", "explain", "schema", "completions", "man", "validate"];
    let text = |args: &[&str]| {
        let out = bin().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = text(&["completions", "bash"]);
    assert!(bash.contains("complete -F _pushpull"), "a bash completion function");
    let zsh = text(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef pushpull"));
    let fish = text(&["completions", "fish"]);
    for c in commands {
        assert!(bash.contains(&format!("pushpull,{c})")), "bash: {c}");
        assert!(fish.contains(&format!("-a \"{c}\"")), "fish: {c}");
    }
    assert!(bash.contains("--vary") && bash.contains("--shard") && fish.contains("-l no-charts"));
    assert_eq!(bin().args(["completions", "tcsh"]).output().unwrap().status.code(), Some(2));
    let man = text(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH pushpull 1"), "roff with a title line");
    for c in commands {
        assert!(man.contains(&format!(".SH \"PUSHPULL {}\"", c.to_uppercase())), "man: a section for {c}");
    }
    for words in ["130 interrupted", "4 refused by the size guard", "pushpull sweep scenarios/pooling.toml"] {
        assert!(man.contains(words), "man lacks {words:?}");
    }
}

/// A run's summary.json and every committed one validate against docs/summary.schema.json, whose
/// objects list every field (required unless optional) and refuse others: a field added to or
/// removed from summary.json without the schema (and docs/summary-format.md) fails here.
#[test]
fn summary_json_follows_its_documented_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/summary.schema.json")).unwrap()).unwrap();
    assert_eq!(
        schema["properties"]["manifest"]["properties"]["schema_version"]["const"],
        pushpull::report::SCHEMA_VERSION,
        "the documented schema is this version's"
    );
    let doc = std::fs::read_to_string(root.join("docs/summary-format.md")).unwrap();
    assert!(doc.contains(&format!("schema version {}", pushpull::report::SCHEMA_VERSION)));
    // A fresh run with faults, several groups and a calibrated profile's utilisation.
    let d = tmpdir_in("tools", "summary");
    let f = write(
        &d,
        "s.toml",
        r#"
duration = "20s"
profile = "omb-2020"
[workload]
rate = 200.0
[[groups]]
name = "a"
consumers = 2
processing = "2ms"
[[groups]]
name = "b"
processing = "1ms"
[[faults]]
at = "5s"
action = "crash"
target = "a/0"
duration = "3s"
"#,
    );
    let out =
        bin().arg("run").arg(&f).arg("--no-charts").arg("--quiet").arg("--out").arg(d.join("o")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fresh: Value = serde_json::from_slice(&std::fs::read(d.join("o/summary.json")).unwrap()).unwrap();
    assert!(fresh["systems"]["kafka"].get("utilisation").is_some());
    check(&schema, &fresh).unwrap_or_else(|e| panic!("a fresh summary.json: {e}"));
    for entry in std::fs::read_dir(root.join("results")).unwrap() {
        let p = entry.unwrap().path().join("summary.json");
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        check(&schema, &v).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    // The schema refuses a field it does not list, and a missing one.
    let mut extra = fresh.clone();
    extra["systems"]["kafka"]["new_metric"] = 1.into();
    assert!(check(&schema, &extra).unwrap_err().contains("unknown field new_metric"));
    let mut missing = fresh.clone();
    missing["systems"]["rabbitmq"]["delivery"].as_object_mut().unwrap().remove("redelivered");
    assert!(check(&schema, &missing).unwrap_err().contains("redelivered"));
}
