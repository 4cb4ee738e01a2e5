//! `report.html` of a run and of a sweep, as a user gets it: well-formed, self-contained (no URL
//! to fetch), its embedded data equal to `summary.json` / `sweep.json`, the lesson text, the fault
//! timeline, byte-identical across reruns; and, when Chromium is installed, drawn by a browser.

use crate::common::{TmpDir, bin, tmpdir_in, write};
use serde_json::Value;
use std::path::Path;

fn tmpdir(tag: &str) -> TmpDir {
    tmpdir_in("report-html", tag)
}

/// A small lesson with a consumer crash (a fault band) and a description that tries to end the
/// page's script element early.
const LESSON: &str = r#"# LESSON: a tiny crash. What does each system do when consumer 0 dies?
#
# Consumer 0 is killed at 10 s for 5 s. Look at
# the backlog chart.
#
# Try a longer outage:
#   pushpull run tiny.toml --set faults.0.duration=10s
name = "tiny-crash"
description = "A crash </script><script>alert(1)</script> & <b>friends</b>"
seed = 5
duration = "30s"
[workload]
rate = 40.0
keys = { count = 100, distribution = "uniform" }
[[groups]]
name = "orders"
consumers = 2
processing = { distribution = "exponential", mean = "20ms" }
[kafka]
partitions = 2
[[faults]]
at = "10s"
action = "crash"
target = "orders/0"
duration = "5s"
"#;

fn run_into(dir: &Path, file: &Path, extra: &[&str]) {
    let out = bin().arg("run").arg(file).arg("--out").arg(dir).arg("--quiet").args(extra).output().unwrap();
    assert!(out.status.success(), "run failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A small well-formedness check of the markup pushpull writes: a doctype, then elements that are
/// all closed in order (void elements written `<x ... />`), attributes quoted, only the entities
/// it writes, and `<script>`/`<style>` bodies that do not contain their end tag. Returns the
/// problem, if any.
pub fn well_formed(html: &str) -> Result<(), String> {
    const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "link"];
    let rest = html.strip_prefix("<!DOCTYPE html>\n").ok_or("no <!DOCTYPE html> first")?;
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    let b = rest.as_bytes();
    let mut saw_root = false;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let end = rest[i..].find('>').ok_or_else(|| format!("unclosed tag at byte {i}"))? + i;
                let tag = &rest[i + 1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    let open = stack.pop().ok_or_else(|| format!("</{name}> closes nothing"))?;
                    if open != name {
                        return Err(format!("</{name}> closes <{open}>"));
                    }
                    i = end + 1;
                    if stack.is_empty() && name == "html" && !rest[i..].trim().is_empty() {
                        return Err("text after </html>".into());
                    }
                    continue;
                }
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                if name.is_empty() {
                    return Err(format!("bad tag <{tag}>"));
                }
                if stack.is_empty() {
                    if saw_root || name != "html" {
                        return Err(format!("<{name}> outside <html>"));
                    }
                    saw_root = true;
                }
                check_attributes(&tag[name.len()..]).map_err(|e| format!("<{name}>: {e}"))?;
                i = end + 1;
                if VOID.contains(&name.as_str()) {
                    if !self_closing {
                        return Err(format!("void <{name}> not written <{name} ... />"));
                    }
                    continue;
                }
                if self_closing {
                    return Err(format!("<{name} /> is not a void element"));
                }
                if name == "script" || name == "style" {
                    // Raw text: runs to the first end tag, which must be its own.
                    let close = format!("</{name}>");
                    let body_end = rest[i..].find(&close).ok_or_else(|| format!("<{name}> never closed"))? + i;
                    let body = &rest[i..body_end];
                    if body.contains("<!--") || body.to_ascii_lowercase().contains("</script") {
                        return Err(format!("<{name}> body holds <!-- or </script"));
                    }
                    i = body_end + close.len();
                    continue;
                }
                stack.push(name);
            }
            b'&' => {
                let end = rest[i..].find(';').ok_or_else(|| format!("bare & at byte {i}"))? + i;
                let entity = &rest[i + 1..end];
                let numeric = entity.strip_prefix("#x").is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
                    || entity.strip_prefix('#').is_some_and(|d| d.parse::<u32>().is_ok());
                if !numeric && !["amp", "lt", "gt", "quot"].contains(&entity) {
                    return Err(format!("unknown entity &{entity};"));
                }
                i = end + 1;
            }
            b'>' => return Err(format!("bare > at byte {i}")),
            _ => i += 1,
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements: {stack:?}"));
    }
    if !saw_root {
        return Err("no <html>".into());
    }
    Ok(())
}

/// ` a="x" b="y"`: every attribute has a double-quoted value without `<`.
fn check_attributes(mut text: &str) -> Result<(), String> {
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(());
        }
        let eq = text.find('=').ok_or_else(|| format!("attribute without a value: {text}"))?;
        let name = &text[..eq];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad attribute name {name:?}"));
        }
        let value = text[eq + 1..].strip_prefix('"').ok_or_else(|| format!("{name}: value not double-quoted"))?;
        let close = value.find('"').ok_or_else(|| format!("{name}: value never closed"))?;
        if value[..close].contains('<') {
            return Err(format!("{name}: < in a value"));
        }
        text = &value[close + 1..];
    }
}

/// Namespace names: identifiers, never fetched.
const NAMESPACES: [&str; 2] = ["http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"];

/// The page loads nothing: no `http://` or `https://` but namespace names, no `src` or `href`
/// attribute, no `<link>`, no CSS `url(` or `@import`.
pub fn self_contained(html: &str) -> Result<(), String> {
    for scheme in ["http://", "https://", "//cdn", "ftp://"] {
        let mut from = 0;
        while let Some(at) = html[from..].find(scheme).map(|a| a + from) {
            if !NAMESPACES.iter().any(|ns| html[at..].starts_with(ns)) {
                let end = (at + 60).min(html.len());
                return Err(format!("external URL: {}", &html[at..end]));
            }
            from = at + scheme.len();
        }
    }
    for word in [" src=", " href=", "<link", "url(", "@import", "<iframe", "<object", "<embed"] {
        if html.contains(word) {
            return Err(format!("the page has {word:?}"));
        }
    }
    Ok(())
}

/// The text of `<script type="application/json" id="ID">`.
fn embedded<'a>(html: &'a str, id: &str) -> &'a str {
    let open = format!("<script type=\"application/json\" id=\"{id}\">");
    let start = html.find(&open).unwrap_or_else(|| panic!("no {open}")) + open.len();
    let end = html[start..].find("</script>").unwrap() + start;
    &html[start..end]
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

#[test]
fn the_checks_catch_what_they_look_for() {
    let page = |body: &str| {
        format!("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\" /></head><body>{body}</body></html>\n")
    };
    assert_eq!(well_formed(&page("<p>a &amp; b</p>")), Ok(()));
    for bad in ["<p>open", "<p><b>x</p></b>", "a & b", "<p class=x>y</p>", "<br>", "<script>a</script><!--x</script>"] {
        assert!(well_formed(&page(bad)).is_err(), "{bad}");
    }
    assert!(self_contained(&page("<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>")).is_ok());
    for bad in [
        "<img src=\"x.png\" />",
        "<a href=\"#x\">y</a>",
        "<p>see https://example.com</p>",
        "<style>p{background:url(x.png)}</style>",
    ] {
        assert!(self_contained(&page(bad)).is_err(), "{bad}");
    }
}

#[test]
fn a_runs_report_is_self_contained_and_embeds_its_summary() {
    let d = tmpdir("run");
    let file = write(&d.0, "tiny-crash.toml", LESSON);
    let out = d.0.join("out");
    run_into(&out, &file, &[]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    well_formed(&html).unwrap_or_else(|e| panic!("report.html is not well formed: {e}"));
    self_contained(&html).unwrap_or_else(|e| panic!("report.html is not self-contained: {e}"));
    // The embedded data is summary.json's, the script-ending description included.
    let summary = json(&std::fs::read_to_string(out.join("summary.json")).unwrap());
    assert_eq!(json(embedded(&html, "summary")), summary);
    assert!(summary["description"].as_str().unwrap().contains("</script>"));
    assert!(
        html.contains("A crash &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;friends&lt;/b&gt;")
    );
    // The lesson text, from the file's comments.
    assert!(html.contains("a tiny crash. What does each system do when consumer 0 dies?"), "the question");
    assert!(html.contains("Look at the backlog chart."), "what to look at");
    assert!(html.contains("<pre>pushpull run tiny.toml --set faults.0.duration=10s</pre>"), "the Try command");
    // The summary table's figures.
    let processed = summary["systems"]["kafka"]["processed"].as_u64().unwrap();
    let cell = format!("<tr><th>processed</th><td>{}</td>", pushpull::report::table::thousands(processed));
    assert!(html.contains(&cell), "{cell}");
    // Every time chart marks the fault from 10 s to 15 s, and draws both systems.
    let charts = json(embedded(&html, "charts"));
    let specs = charts[0]["charts"].as_array().unwrap();
    let time_charts: Vec<&Value> = specs.iter().filter(|c| c.get("bands").is_some()).collect();
    assert!(time_charts.len() >= 3, "throughput, backlog, storage");
    for c in &time_charts {
        let faults: Vec<&Value> = c["bands"].as_array().unwrap().iter().filter(|b| b["kind"] == "fault").collect();
        assert_eq!(faults.len(), 1, "{}: one fault band", c["title"]);
        assert_eq!((faults[0]["from"].as_f64(), faults[0]["to"].as_f64()), (Some(10.0), Some(15.0)));
        assert!(faults[0]["label"].as_str().unwrap().contains("orders/0 crashed"));
        let systems: Vec<&str> = c["series"].as_array().unwrap().iter().filter_map(|s| s["system"].as_str()).collect();
        assert!(systems.contains(&"kafka") && systems.contains(&"rabbitmq"), "{systems:?}");
    }
    // The delivery chart's bars are the checker's counts.
    let delivery = specs.iter().find(|c| c["title"] == "Delivery").expect("a delivery chart");
    let kafka = delivery["series"].as_array().unwrap().iter().find(|s| s["system"] == "kafka").unwrap();
    let dup = delivery["categories"].as_array().unwrap().iter().position(|c| c == "duplicates").unwrap();
    assert_eq!(kafka["values"][dup], summary["systems"]["kafka"]["delivery"]["duplicates"]);
    // The same run gives the same bytes.
    let again = d.0.join("again");
    run_into(&again, &file, &[]);
    assert!(std::fs::read(again.join("report.html")).unwrap() == html.as_bytes(), "report.html differs on a rerun");
    // --no-charts writes no report, and removes the earlier one.
    run_into(&again, &file, &["--no-charts"]);
    assert!(!again.join("report.html").exists());
    maybe_in_chromium(&out.join("report.html"), 5);
}

#[test]
fn a_sweeps_report_shows_the_sweep_charts_and_embeds_sweep_json() {
    let d = tmpdir("sweep");
    let file = write(&d.0, "tiny-crash.toml", LESSON);
    let dir = d.0.join("sweep");
    let out = bin()
        .arg("sweep")
        .arg(&file)
        .args(["--vary", "workload.rate=20,40", "--vary", "kafka.partitions=1,2", "--no-charts", "--quiet", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    well_formed(&html).unwrap_or_else(|e| panic!("sweep report.html is not well formed: {e}"));
    self_contained(&html).unwrap_or_else(|e| panic!("sweep report.html is not self-contained: {e}"));
    assert_eq!(json(embedded(&html, "sweep")), json(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()));
    // One chart per charted metric and panel (two values of kafka.partitions), each with both
    // systems' points at the two rates, as in sweep.csv.
    let charts = json(embedded(&html, "charts"));
    let specs = charts[0]["charts"].as_array().unwrap();
    let stems = pushpull::study::sweep::chart_stems();
    assert_eq!(specs.len(), stems.len() * 2);
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "throughput_per_s").unwrap();
    let thr = specs
        .iter()
        .find(|c| c["metric"] == "throughput_per_s" && c["title"].as_str().unwrap().contains("kafka.partitions=2"))
        .unwrap();
    let rabbit = thr["series"].as_array().unwrap().iter().find(|s| s["system"] == "rabbitmq").unwrap();
    let from_csv: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[1] == "2" && f[2] == "rabbitmq")
        .map(|f| f[col].parse().unwrap())
        .collect();
    let drawn: Vec<f64> = rabbit["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect();
    assert_eq!(drawn, from_csv);
    // The points' own folders have no report with --no-charts; without it they would.
    assert!(!dir.join("rate=20,partitions=1").join("report.html").exists());
    maybe_in_chromium(&dir.join("report.html"), stems.len() * 2);
}

/// Where a Chromium-like browser is, if any: `PUSHPULL_CHROMIUM`, else `chromium` or
/// `chromium-browser` or `google-chrome` on the PATH.
fn chromium() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("PUSHPULL_CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Opens the report in headless Chromium, when one is installed, and checks that the script drew
/// every chart (an `<svg>` per chart with its lines or bars). Without a browser the check is
/// skipped, and says so.
fn maybe_in_chromium(report: &Path, charts: usize) {
    let Some(browser) = chromium() else {
        eprintln!("skipped the browser check of {}: no chromium on the PATH (set PUSHPULL_CHROMIUM)", report.display());
        return;
    };
    let profile = tmpdir("chromium-profile");
    let url = format!("file://{}", std::fs::canonicalize(report).unwrap().display());
    let out = std::process::Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap_or_else(|e| panic!("{} could not start: {e}", browser.display()));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("class=\"drawn\""), "the chart script did not finish in {}", browser.display());
    assert_eq!(dom.matches("class=\"chart\"").count(), charts, "one figure per chart");
    assert_eq!(dom.matches("<svg ").count(), charts, "one svg per chart");
    assert!(dom.matches("<path d=\"M").count() + dom.matches("class=\"bar\"").count() >= charts, "lines or bars drawn");
}
