//! The README's lesson table quotes figures from the committed results. A figure that no longer
//! matches `results/<name>/summary.json` (after a model change regenerated the results) is a
//! stale claim shown to every newcomer, so this test checks each one.
//!
//! Rule: every number of three or more digits, or with decimals, in a lesson's row must be either a
//! parameter written in the lesson's scenario file, or a value of its `summary.json` rounded to the
//! printed precision (as is, or converted ms -> s, or a fraction -> %). Numbers that are neither are
//! listed together, so one run names every stale figure. Two-digit integers are not checked: among
//! the hundreds of values of a summary one of them matches by chance too often to mean anything.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every number in `text`, as (value, decimals), with thousands separators removed. A number glued
/// to a letter or a hyphen-joined word ("p99", "M/M/5", "2x", "KIP-932") is part of a name, not a
/// figure, and is skipped.
fn numbers(text: &str) -> Vec<(String, f64, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_digit()
                || (bytes[i] == b','
                    && i + 3 < bytes.len() + 1
                    && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()))
                || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit())))
        {
            i += 1;
        }
        let raw = &text[start..i];
        let before = start.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i).copied();
        let glued = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'-' || b == b'_');
        if glued(before) || after.is_some_and(|b| b.is_ascii_alphabetic() && b != b's' && b != b'h' && b != b'm') {
            continue;
        }
        let clean: String = raw.chars().filter(|c| *c != ',').collect();
        let decimals = clean.split_once('.').map_or(0, |(_, d)| d.len());
        if let Ok(v) = clean.parse::<f64>() {
            if decimals > 0 || v >= 100.0 {
                out.push((raw.to_string(), v, decimals));
            }
        }
    }
    out
}

fn json_numbers(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Number(n) => out.extend(n.as_f64()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_numbers(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_numbers(x, out)),
        _ => {}
    }
}

fn rounds_to(v: f64, x: f64, decimals: usize) -> bool {
    let scale = 10f64.powi(decimals as i32);
    ((v * scale).round() - x * scale).abs() < 0.5
}

#[test]
fn readme_lesson_figures_match_committed_results() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut stale = Vec::new();
    let mut rows = 0;
    for line in readme.lines() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let Some((file, text)) = rest.split_once("` |") else { continue };
        let Some(name) = file.strip_suffix(".toml") else { continue };
        rows += 1;
        let summary = root().join("results").join(name).join("summary.json");
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&summary).unwrap_or_else(|e| panic!("{}: {e}", summary.display())),
        )
        .unwrap();
        let mut values = Vec::new();
        json_numbers(&summary, &mut values);
        let scenario = std::fs::read_to_string(root().join("scenarios").join(file)).unwrap();
        let params: Vec<f64> = numbers(&scenario).into_iter().map(|(_, v, _)| v).collect();
        for (raw, x, decimals) in numbers(text) {
            let from_results = values.iter().any(|&v| {
                rounds_to(v, x, decimals) || rounds_to(v / 1000.0, x, decimals) || rounds_to(v * 100.0, x, decimals)
            });
            let a_parameter = params.contains(&x);
            if !from_results && !a_parameter {
                stale.push(format!("{name}: {raw}"));
            }
        }
    }
    assert!(rows >= 17, "found only {rows} lesson rows in the README's table");
    assert!(
        stale.is_empty(),
        "README lesson figures found neither in results/<name>/summary.json nor in the scenario file:\n{}",
        stale.join("\n")
    );
}
