//! The command line, run as a user would: outputs, determinism, and one-line errors for bad input.

use crate::common::{TmpDir, bin, tmpdir_in, write};
use std::path::Path;
use std::process::Output;

fn tmpdir(tag: &str) -> TmpDir {
    tmpdir_in("it", tag)
}

const SMALL: &str = r#"
name = "small"
seed = 42
duration = "2m"
warmup = "10s"
[workload]
rate = 50.0
keys = { count = 1000, distribution = "uniform" }
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "30ms" }
[kafka]
partitions = 2
[rabbitmq]
prefetch = 1
"#;

fn run_ok(args: &[&std::ffi::OsStr]) -> Output {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn run_writes_results_and_same_seed_is_byte_identical() {
    let d = tmpdir("det");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    run_ok(&["run".as_ref(), f.as_os_str(), "--out".as_ref(), a.as_os_str(), "--quiet".as_ref()]);
    run_ok(&["run".as_ref(), f.as_os_str(), "--out".as_ref(), b.as_os_str(), "--quiet".as_ref()]);
    run_ok(&[
        "run".as_ref(),
        f.as_os_str(),
        "--out".as_ref(),
        c.as_os_str(),
        "--seed".as_ref(),
        "43".as_ref(),
        "--quiet".as_ref(),
    ]);
    for file in ["summary.json", "timeseries.csv"] {
        let x = std::fs::read(a.join(file)).unwrap();
        assert_eq!(x, std::fs::read(b.join(file)).unwrap(), "{file} differs between identical runs");
        assert_ne!(x, std::fs::read(c.join(file)).unwrap(), "{file} is the same with another seed");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(v["scenario"], "small");
    assert_eq!(v["seed"], 42);
    for sys in ["kafka", "rabbitmq"] {
        let s = &v["systems"][sys];
        for key in [
            "published",
            "processed",
            "unique_processed",
            "duplicates",
            "lost",
            "stranded",
            "throughput_per_s",
            "max_backlog",
            "max_consumer_lag",
            "max_unacked",
            "peak_stored_bytes",
        ] {
            assert!(s[key].is_number(), "{sys}.{key} missing");
        }
        for key in ["mean", "p50", "p90", "p99", "p999", "max"] {
            assert!(
                s["wait_ms"][key].is_number() && s["latency_ms"][key].is_number(),
                "{sys} percentile {key} missing"
            );
        }
        assert!(s["groups"]["billing"].is_object());
    }
    assert_eq!(v["manifest"]["schema_version"], 4);
    assert_eq!(v["manifest"]["scenario_sha256"].as_str().unwrap().len(), 64);
    let csv = std::fs::read_to_string(a.join("timeseries.csv")).unwrap();
    assert!(csv.starts_with(
        "time_s,system,group,published_per_s,processed_per_s,backlog_max,consumer_lag_max,unacked_max,in_flight,\
         stored_bytes_max,acknowledged_per_s,failed_per_s\n"
    ));
    assert!(csv.contains(",kafka,billing,") && csv.contains(",rabbitmq,billing,"));
    let leftovers: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn json_scenarios_are_accepted() {
    let d = tmpdir("json");
    let f = write(
        &d,
        "j.json",
        br#"{"name": "j", "duration": "30s", "workload": {"rate": 20}, "groups": [{"name": "g", "consumers": 1, "processing": {"distribution": "constant", "value": "5ms"}}]}"#,
    );
    let out = run_ok(&["validate".as_ref(), f.as_os_str()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

/// (file name, content, words the one-line error must contain besides the file name).
fn bad_inputs() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let with = |extra: &str| format!("{SMALL}\n{extra}").into_bytes();
    let replace = |from: &str, to: &str| SMALL.replace(from, to).into_bytes();
    vec![
        ("unknown.toml", with("colour = \"blue\""), vec!["colour"]),
        ("unknown-nested.toml", replace("partitions = 2", "partitions = 2\nlingr = \"5ms\""), vec!["kafka", "lingr"]),
        ("zero-partitions.toml", replace("partitions = 2", "partitions = 0"), vec!["kafka.partitions", "0", "1"]),
        ("negative-rate.toml", replace("rate = 50.0", "rate = -5.0"), vec!["workload.rate", "-5"]),
        (
            "bad-duration.toml",
            replace("duration = \"2m\"", "duration = \"2 fortnights\""),
            vec!["duration", "fortnights", "ms"],
        ),
        ("bad-processing.toml", replace("mean = \"30ms\"", "mean = \"30\""), vec!["groups[0].processing.mean", "unit"]),
        ("syntax.toml", replace("[kafka]", "[kafka"), vec!["line"]),
        ("wrong-type.toml", replace("consumers = 2", "consumers = \"two\""), vec!["groups[0].consumers"]),
        (
            "dedup-not-idempotent.toml",
            replace("consumers = 2", "consumers = 2\ndedup_window = 1000"),
            vec!["groups[0].dedup_window", "idempotent = true"],
        ),
        (
            "dedup-zero.toml",
            replace("consumers = 2", "consumers = 2\nidempotent = true\ndedup_window = 0"),
            vec!["groups[0].dedup_window", "0 is not allowed", "from 1 to 10000000"],
        ),
        ("wrong-type-2.toml", replace("rate = 50.0", "rate = \"fast\""), vec!["workload.rate"]),
        ("empty.toml", Vec::new(), vec!["empty"]),
        ("binary.toml", vec![0x89, b'P', b'N', b'G', 0, 0, 0xff, 0xfe, 0x00], vec!["not a text file"]),
        ("absurd.toml", replace("duration = \"2m\"", "duration = \"100000d\""), vec!["duration", "--force"]),
        (
            "bad-profile.toml",
            replace("seed = 42", "seed = 42\nprofile = \"wan\""),
            vec!["profile", "wan", "ideal", "lan", "omb-2020", "kreps-2014", "rabbitmq-2024"],
        ),
        (
            "bad-ack.toml",
            replace("prefetch = 1", "prefetch = 1\nack = \"sometimes\""),
            vec!["rabbitmq.ack", "manual", "auto"],
        ),
        ("no-groups.toml", b"duration = \"1m\"\n[workload]\nrate = 1.0\n".to_vec(), vec!["groups"]),
        // 50/s arrive, one consumer handles 33/s: after 1000 days the backlog is about 1.5e9 messages.
        (
            "overload.toml",
            SMALL
                .replace("duration = \"2m\"", "duration = \"1000d\"")
                .replace("consumers = 2", "consumers = 1")
                .into_bytes(),
            vec!["groups[0].processing", "billing", "--force"],
        ),
        (
            "busy-poll.toml",
            replace("partitions = 2", "partitions = 2\nfetch_max_wait = \"0ms\""),
            vec!["kafka.fetch_max_wait", "1ms"],
        ),
        ("warmup.toml", replace("warmup = \"10s\"", "warmup = \"5m\""), vec!["warmup", "duration"]),
    ]
}

fn assert_one_line_error(out: &Output, file: &str, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{file}: accepted, stderr: {stderr}");
    // Refused by the size guard (valid, too large without --force): 4; invalid: 3.
    let expected = if ["absurd.toml", "overload.toml"].contains(&file) { 4 } else { 3 };
    assert_eq!(out.status.code(), Some(expected), "{file}: exit code of an invalid or refused scenario");
    assert!(!stderr.contains("panicked"), "{file}: panic: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{file}: not one line: {stderr}");
    assert!(stderr.contains(file), "{file}: error does not name the file: {stderr}");
    for w in words {
        assert!(stderr.contains(w), "{file}: error lacks {w:?}: {stderr}");
    }
}

#[test]
fn bad_input_gives_one_line_error_never_a_panic() {
    let d = tmpdir("bad");
    for (name, content, words) in bad_inputs() {
        let f = write(&d, name, &content);
        for cmd in ["validate", "run"] {
            let mut cmd_line = bin();
            cmd_line.arg(cmd).arg(&f);
            if cmd == "run" {
                cmd_line.arg("--out").arg(d.join("out"));
            }
            let out = cmd_line.output().unwrap();
            assert_one_line_error(&out, name, &words);
        }
    }
    let missing = d.join("missing.toml");
    for cmd in ["validate", "run"] {
        let out = bin().args([cmd.as_ref(), missing.as_os_str()]).output().unwrap();
        assert_one_line_error(&out, "missing.toml", &["no such file"]);
    }
    assert!(!d.join("out").exists(), "a failed run must not write results");
}

#[test]
fn absurd_size_runs_with_force_only_when_asked() {
    let d = tmpdir("force");
    let f = write(&d, "big.toml", SMALL.replace("duration = \"2m\"", "duration = \"100000d\"").as_bytes());
    let out = bin().args(["validate".as_ref(), f.as_os_str(), "--force".as_ref()]).output().unwrap();
    assert!(out.status.success(), "--force accepts it: {}", String::from_utf8_lossy(&out.stderr));
}

/// The committed results of the scenario library are what this build produces, byte for byte:
/// determinism across machines (CI runs on a fresh one), and a reminder to regenerate `results/`
/// (`cargo run --release -- run scenarios/*.toml`) whenever a model changes.
#[test]
fn library_results_are_reproduced_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // Load by the same relative path the documented command uses: it is part of no output,
        // but keep error messages identical.
        let s = pushpull::plan::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let runs = pushpull::run::run_scenario(&s, None);
        let dir = root.join("results").join(&s.name);
        let json = pushpull::report::summary_json(&pushpull::report::summary(&s, &runs));
        let committed =
            std::fs::read_to_string(dir.join("summary.json")).expect("results/<name>/summary.json is committed");
        assert!(json == committed, "{}: summary.json differs from the committed one; regenerate results/", s.name);
        let csv = pushpull::report::timeseries_csv(&s, &runs);
        assert!(
            csv == std::fs::read_to_string(dir.join("timeseries.csv")).unwrap(),
            "{}: timeseries.csv differs",
            s.name
        );
        checked += 1;
    }
    assert!(checked >= 3, "the scenario library has at least three lessons");
}

/// An outside checker can recount the summary from `--history` alone: per group, deliveries owed,
/// processed, unique, duplicates, lost, stranded, the mean wait and latency, and each consumer's
/// busy fraction and the idle consumers. The scenario makes
/// Kafka lose records to retention, so that `lost` is tested with a non-zero value.
#[test]
fn history_file_recounts_to_the_summary() {
    let d = tmpdir("history");
    let f = write(
        &d,
        "hist.toml",
        br#"
name = "hist"
duration = "5m"
warmup = "30s"
profile = "lan"
[workload]
rate = 15.0
[[groups]]
name = "slow"
processing = { distribution = "constant", value = "100ms" }
[[groups]]
name = "fast"
consumers = 2
processing = { distribution = "exponential", mean = "20ms" }
[kafka]
retention = "1m"
segment_bytes = "16KiB"
retention_check_interval = "10s"
[rabbitmq]
prefetch = 5
"#,
    );
    let out = d.join("out");
    run_ok(&[
        "run".as_ref(),
        f.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
        "--history".as_ref(),
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let warmup_ns = 30_000_000_000u64;
    for sys in ["kafka", "rabbitmq"] {
        let text = std::fs::read_to_string(out.join(format!("history-{sys}.jsonl"))).unwrap();
        let mut published = std::collections::BTreeSet::new();
        // (group, id) -> times processed; (group, id) deleted; per group wait/latency sums.
        let mut processed: std::collections::BTreeMap<(String, u64), u64> = Default::default();
        let mut deleted: std::collections::BTreeSet<(String, u64)> = Default::default();
        let mut wait: std::collections::BTreeMap<String, (f64, u64)> = Default::default();
        // Busy time in the window [30 s, 300 s): (group, consumer) -> job under way (start, id),
        // and -> busy ns of completed jobs, clipped to the window.
        let window = (warmup_ns, 300_000_000_000u64);
        let mut job: std::collections::BTreeMap<(String, u64), (u64, u64)> = Default::default();
        let mut busy: std::collections::BTreeMap<(String, u64), u64> = Default::default();
        let mut stored: std::collections::BTreeSet<u64> = Default::default();
        let mut last_t = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = v["t"].as_u64().unwrap();
            assert!(t >= last_t, "history is in time order");
            last_t = t;
            let id = v["id"].as_u64();
            let group = v["group"].as_str().map(str::to_string);
            match v["event"].as_str().unwrap() {
                "sent" => {
                    published.insert(id.unwrap());
                }
                "stored" => {
                    stored.insert(id.unwrap());
                }
                "processing_started" => {
                    job.insert((group.clone().unwrap(), v["consumer"].as_u64().unwrap()), (t, id.unwrap()));
                    let p = v["published_t"].as_u64().unwrap();
                    if p >= warmup_ns {
                        let e = wait.entry(group.unwrap()).or_default();
                        e.0 += (t - p) as f64;
                        e.1 += 1;
                    }
                }
                "processed" => {
                    let c = (group.clone().unwrap(), v["consumer"].as_u64().unwrap());
                    if let Some((start, started)) = job.remove(&c)
                        && started == id.unwrap()
                    {
                        let (from, to) = (start.max(window.0), t.min(window.1));
                        *busy.entry(c).or_default() += to.saturating_sub(from);
                    }
                    *processed.entry((group.unwrap(), id.unwrap())).or_default() += 1
                }
                "deleted" => match group {
                    Some(g) => {
                        deleted.insert((g, id.unwrap()));
                    }
                    None => {
                        for g in ["slow", "fast"] {
                            deleted.insert((g.to_string(), id.unwrap()));
                        }
                    }
                },
                _ => {}
            }
        }
        for g in ["slow", "fast"] {
            let s = &summary["systems"][sys]["groups"][g];
            let mine: Vec<_> = processed.iter().filter(|((gg, _), _)| gg == g).collect();
            let total: u64 = mine.iter().map(|(_, n)| **n).sum();
            let unique = mine.len() as u64;
            let unprocessed: Vec<u64> =
                published.iter().copied().filter(|id| !processed.contains_key(&(g.to_string(), *id))).collect();
            // Lost: held by no replica at the end (deleted, or never stored at all).
            let lost = unprocessed
                .iter()
                .filter(|id| deleted.contains(&(g.to_string(), **id)) || !stored.contains(*id))
                .count() as u64;
            let stranded = unprocessed.len() as u64 - lost;
            let tag = format!("{sys}/{g}");
            assert_eq!(s["published"].as_u64().unwrap(), published.len() as u64, "{tag} published");
            assert_eq!(s["processed"].as_u64().unwrap(), total, "{tag} processed");
            assert_eq!(s["unique_processed"].as_u64().unwrap(), unique, "{tag} unique");
            assert_eq!(s["duplicates"].as_u64().unwrap(), total - unique, "{tag} duplicates");
            assert_eq!(s["lost"].as_u64().unwrap(), lost, "{tag} lost");
            assert_eq!(s["stranded"].as_u64().unwrap(), stranded, "{tag} stranded");
            let (sum, n) = wait[g];
            let mean_ms = sum / n as f64 / 1e6;
            assert!((s["wait_ms"]["mean"].as_f64().unwrap() - mean_ms).abs() < 1e-5, "{tag} mean wait");
            assert_eq!(s["wait_ms"]["count"].as_u64().unwrap(), n, "{tag} wait count");
            let consumers = s["consumers"].as_array().unwrap();
            let mut idle = 0;
            for (i, c) in consumers.iter().enumerate() {
                let ns = busy.get(&(g.to_string(), i as u64)).copied().unwrap_or(0);
                let fraction = ns as f64 / (window.1 - window.0) as f64;
                assert!((c["busy_fraction"].as_f64().unwrap() - fraction).abs() <= 5e-7, "{tag}/{i} busy");
                idle += u64::from(ns == 0);
            }
            assert_eq!(s["idle_consumers"].as_u64().unwrap(), idle, "{tag} idle consumers");
        }
    }
    let kafka_lost = summary["systems"]["kafka"]["groups"]["slow"]["lost"].as_u64().unwrap();
    assert!(kafka_lost > 0, "the scenario must exercise loss (retention 1 m, slow group 10/s for 15/s)");
}

/// `pushpull validate ... | head -1`: the reader leaves early; the rest is dropped, no panic.
#[test]
fn a_reader_that_leaves_early_gets_no_panic() {
    use std::io::Read;
    let files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut child = bin()
        .arg("validate")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before reading anything
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.code().is_some(), "killed by a signal: {status:?}");
}

/// `--set` writes a parameter into the scenario before it is checked: the run equals the run of
/// the file edited the same way (same summary but for the scenario hash, which says an override
/// was used), a group is reached by its name, and a bad value gets the file's own error for that
/// field, naming the override.
#[test]
fn set_overrides_equal_the_edited_file_and_bad_values_name_set() {
    let d = tmpdir("set");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let edited = SMALL.replace("partitions = 2", "partitions = 3").replace("consumers = 2", "consumers = 3");
    let g = write(&d, "edited.toml", edited.replace("name = \"small\"", "name = \"small\"\n").as_bytes());
    let (a, b) = (d.join("a"), d.join("b"));
    run_ok(&[
        "run".as_ref(),
        f.as_os_str(),
        "--set".as_ref(),
        "kafka.partitions=3".as_ref(),
        "--set".as_ref(),
        "groups.billing.consumers=3".as_ref(),
        "--out".as_ref(),
        a.as_os_str(),
        "--quiet".as_ref(),
    ]);
    run_ok(&["run".as_ref(), g.as_os_str(), "--out".as_ref(), b.as_os_str(), "--quiet".as_ref()]);
    let read = |dir: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        let hash = v["manifest"]["scenario_sha256"].take();
        (v, hash)
    };
    let ((va, ha), (vb, hb)) = (read(&a), read(&b));
    assert_eq!(va["parameters"]["kafka"]["partitions"], 3, "the resolved parameters record the override");
    assert_eq!(va, vb, "a run with --set differs from the run of the edited file");
    assert_ne!(ha, hb);
    assert_eq!(std::fs::read(a.join("timeseries.csv")).unwrap(), std::fs::read(b.join("timeseries.csv")).unwrap());

    for (set, words) in [
        ("kafka.partitions=0", vec!["kafka.partitions", "--set \"kafka.partitions=0\""]),
        ("kafka.partitionz=3", vec!["partitionz", "--set \"kafka.partitionz=3\""]),
        ("groups.pricing.consumers=2", vec!["no entry named \"pricing\"", "billing"]),
        ("workload.rate=fast", vec!["workload.rate", "--set \"workload.rate=fast\""]),
    ] {
        for cmd in ["validate", "run"] {
            let mut line = bin();
            line.arg(cmd).arg(&f).arg("--set").arg(set);
            if cmd == "run" {
                line.arg("--out").arg(d.join("x"));
            }
            let out = line.output().unwrap();
            assert_one_line_error(&out, "small.toml", &words);
        }
    }
    let out =
        bin().args(["run".as_ref(), f.as_os_str(), "--set".as_ref(), "kafka.partitions".as_ref()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a --set without '=' is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PATH=VALUE"));
    assert!(!d.join("x").exists(), "a refused run writes nothing");
}

/// A JSON or TOML file saved with a byte order mark (as some Windows editors do) is read as
/// without it; the manifest's hash is still the file's.
#[test]
fn a_byte_order_mark_is_accepted() {
    let d = tmpdir("bom");
    let json = br#"{"name": "j", "duration": "30s", "workload": {"rate": 20}, "groups": [{"name": "g", "consumers": 1, "processing": {"distribution": "constant", "value": "5ms"}}]}"#;
    for (name, text) in [("j.json", &json[..]), ("t.toml", SMALL.as_bytes())] {
        let plain = pushpull::plan::load(&write(&d, name, text), &[]).unwrap();
        let bom = write(&d, &format!("bom-{name}"), [b"\xef\xbb\xbf".as_slice(), text].concat());
        let out = bin().arg("validate").arg(&bom).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let with_bom = pushpull::plan::load(&bom, &[]).unwrap();
        assert_ne!(with_bom.source_sha256, plain.source_sha256, "{name}: the hash is the file's");
        assert_eq!(pushpull::scenario::Scenario { source_sha256: plain.source_sha256.clone(), ..with_bom }, plain);
    }
}

/// `pushpull` alone prints clap's help, on several lines, and exits as a usage error.
#[test]
fn bare_pushpull_prints_the_help() {
    let out = bin().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() >= 5, "help squashed: {stderr}");
    for line in ["Usage: pushpull", "Commands:", "  run ", "  validate "] {
        assert!(stderr.lines().any(|l| l.starts_with(line)), "{line:?} missing: {stderr}");
    }
}

/// Three scenarios, the first the longest: run one at a time and three at once, they write the
/// same files byte for byte (charts included) and print the same text, tables in the command's
/// order.
#[test]
fn scenarios_run_in_parallel_give_the_sequential_outputs() {
    let d = tmpdir("parallel");
    let names = ["long", "short", "mid"];
    for (name, duration) in names.iter().zip(["6m", "1m", "2m"]) {
        let text = SMALL
            .replace("name = \"small\"", &format!("name = \"{name}\""))
            .replace("\"2m\"", &format!("\"{duration}\""));
        write(&d, &format!("{name}.toml"), text.as_bytes());
    }
    let mut outputs = Vec::new();
    for jobs in ["1", "3"] {
        let cwd = d.join(format!("jobs-{jobs}"));
        std::fs::create_dir(&cwd).unwrap();
        let out = bin()
            .current_dir(&cwd)
            .args(["run", "../long.toml", "../short.toml", "../mid.toml", "--out", "out", "--jobs", jobs])
            .output()
            .unwrap();
        assert!(out.status.success(), "--jobs {jobs}: {}", String::from_utf8_lossy(&out.stderr));
        let mut files = Vec::new();
        for name in names {
            let dir = cwd.join("out").join(name);
            let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            entries.sort();
            for e in entries {
                files.push((format!("{name}/{}", e.to_string_lossy()), std::fs::read(dir.join(&e)).unwrap()));
            }
        }
        outputs.push((String::from_utf8(out.stdout).unwrap(), out.stderr, files));
    }
    let (seq, par) = (&outputs[0], &outputs[1]);
    assert_eq!(seq.2.len(), 3 * 15, "summary, time series, report.html and 12 charts per scenario");
    for ((name, a), (other, b)) in seq.2.iter().zip(&par.2) {
        assert_eq!(name, other);
        assert!(a == b, "{name} differs between --jobs 1 and --jobs 3");
    }
    assert_eq!(seq.0, par.0, "printed text differs");
    assert_eq!(seq.1, par.1, "stderr differs");
    let at = |name: &str| seq.0.find(&format!("results: out/{name}\n")).unwrap_or_else(|| panic!("{name}: {}", seq.0));
    assert!(at("long") < at("short") && at("short") < at("mid"), "tables not in the command's order: {}", seq.0);
}

/// `--no-charts` writes the same summary.json and timeseries.csv and no chart, and removes the
/// charts of an earlier run from the folder (they would not belong to the new summary), whether
/// the folder is swapped whole or written file by file (a file of the user's in it).
#[test]
fn no_charts_writes_the_same_data_and_no_chart() {
    let d = tmpdir("no-charts");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    for shared in [false, true] {
        let out = d.join(if shared { "shared" } else { "own" });
        std::fs::create_dir(&out).unwrap();
        if shared {
            write(&out, "notes.txt", b"mine\n");
        }
        run_ok(&["run".as_ref(), f.as_os_str(), "--out".as_ref(), out.as_os_str(), "--quiet".as_ref()]);
        let listed = |dir: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let with_charts = listed(&out);
        for stem in pushpull::report::charts::CHART_STEMS {
            assert!(with_charts.contains(&format!("{stem}.png")) && with_charts.contains(&format!("{stem}.svg")));
        }
        let data: Vec<Vec<u8>> =
            ["summary.json", "timeseries.csv"].iter().map(|n| std::fs::read(out.join(n)).unwrap()).collect();
        run_ok(&[
            "run".as_ref(),
            f.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--quiet".as_ref(),
            "--no-charts".as_ref(),
        ]);
        let expected: &[&str] =
            if shared { &["notes.txt", "summary.json", "timeseries.csv"] } else { &["summary.json", "timeseries.csv"] };
        assert_eq!(listed(&out), expected, "shared folder: {shared}");
        for (n, bytes) in ["summary.json", "timeseries.csv"].iter().zip(&data) {
            assert!(std::fs::read(out.join(n)).unwrap() == *bytes, "{n} differs with --no-charts");
        }
    }
}

/// Every file a run writes has a name pushpull knows as its own (which decides what a rerun may
/// replace or remove): a new chart must be added to the list.
#[test]
fn every_output_name_is_known() {
    let d = tmpdir("names");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let out = d.join("out");
    run_ok(&[
        "run".as_ref(),
        f.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
        "--history".as_ref(),
    ]);
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name();
        assert!(pushpull::report::outdir::is_output_name(&name), "{name:?} is not in outdir's list");
    }
}
