//! Study commands, run as a user would: `sweep` (jobs, resume, shards), `collect`, `list`,
//! `explain`, and the exit codes of every command.

use crate::common::{TmpDir, bin, tmpdir_in, write};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

fn tmpdir(tag: &str) -> TmpDir {
    tmpdir_in("study", tag)
}

/// 30 s of 20 messages/s: a run takes a few milliseconds.
const TINY: &str = r#"
name = "tiny"
seed = 3
duration = "30s"
[workload]
rate = 20.0
keys = { count = 100, distribution = "uniform" }
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "20ms" }
[kafka]
partitions = 2
"#;

fn sweep(dir: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut cmd = bin();
    cmd.arg("sweep")
        .arg(file)
        .args(["--vary", "workload.rate=20,40", "--vary", "kafka.partitions=1..4:x2", "--no-charts", "--out"])
        .arg(dir)
        .args(extra);
    cmd.output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` (relative path -> bytes).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>, what: &str) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: other files");
    for (name, bytes) in a {
        assert!(bytes == &b[name], "{what}: {} differs", name.display());
    }
}

/// A 2 x 3 sweep: one folder per point named by its values, the tidy CSV (one row per point and
/// system, its figures those of the point's summary.json), the charts; the same bytes with 1 job or
/// 3; a rerun skips every done point and a lost point is run again.
#[test]
fn sweep_writes_points_csv_and_charts_the_same_whatever_the_jobs_and_resumes() {
    let d = tmpdir("sweep");
    let f = write(&d, "tiny.toml", TINY);
    let (a, b) = (d.join("a"), d.join("b"));
    let printed = ok(sweep(&a, &f, &["--jobs", "1"]));
    assert!(printed.contains("sweep of 6 points: 6 to run, skipped 0 done points"), "{printed}");
    ok(sweep(&b, &f, &["--jobs", "3"]));
    let fa = files(&a);
    assert_same(&fa, &files(&b), "--jobs 1 against --jobs 3");
    let points = ["rate=20,partitions=1", "rate=20,partitions=2", "rate=20,partitions=4", "rate=40,partitions=1"];
    for p in points {
        assert!(a.join(p).join("summary.json").is_file(), "{p} has no summary.json");
    }
    for stem in ["throughput_per_s", "latency_ms.p99", "latency_ms.p50"] {
        let svg = String::from_utf8(fa[Path::new(&format!("sweep-{stem}.svg"))].clone()).unwrap();
        assert!(fa.contains_key(Path::new(&format!("sweep-{stem}.png"))), "no {stem} chart");
        for words in ["against workload.rate", "kafka.partitions=4", "kafka", "rabbitmq"] {
            assert!(svg.contains(words), "sweep-{stem}.svg lacks {words:?}");
        }
    }
    let csv = String::from_utf8(fa[Path::new("sweep.csv")].clone()).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][..5], ["workload.rate", "kafka.partitions", "system", "offered_per_s", "throughput_per_s"]);
    assert!(rows[0].contains(&"latency_ms.p99") && rows[0].contains(&"latency_ms.p50"));
    assert_eq!(rows.len(), 1 + 6 * 2, "one row per point and system");
    let col = |name: &str| rows[0].iter().position(|c| *c == name).unwrap();
    // Row 8: the 4th point (rate 40, 1 partition), rabbitmq.
    let row = &rows[8];
    assert_eq!((row[0], row[1], row[2]), ("40", "1", "rabbitmq"));
    let summary: serde_json::Value = serde_json::from_slice(&fa[&Path::new(points[3]).join("summary.json")]).unwrap();
    let sys = &summary["systems"]["rabbitmq"];
    assert_eq!(row[col("throughput_per_s")], sys["throughput_per_s"].to_string());
    assert_eq!(row[col("latency_ms.p99")], sys["latency_ms"]["p99"].to_string());
    assert_eq!(summary["parameters"]["workload"]["phases"][0]["rate"], 40.0, "the point's value is in its parameters");
    assert_eq!(summary["parameters"]["kafka"]["partitions"], 1);
    assert_ne!(rows[2][col("throughput_per_s")], rows[8][col("throughput_per_s")], "the rate made no difference");
    // A point is `run --set` with its values: the same bytes, the same hash.
    let single = d.join("single");
    ok(bin()
        .arg("run")
        .arg(&f)
        .args(["--set", "workload.rate=40", "--set", "kafka.partitions=1", "--no-charts", "--quiet", "--out"])
        .arg(&single)
        .output()
        .unwrap());
    for file in ["summary.json", "timeseries.csv"] {
        let point = &fa[&Path::new(points[3]).join(file)];
        assert!(point == &std::fs::read(single.join(file)).unwrap(), "{file} of the point is not run --set's");
    }

    // Rerun: nothing to do. Lose a point: only it runs again, and every byte comes back.
    let printed = ok(sweep(&a, &f, &[]));
    assert!(printed.contains("0 to run, skipped 6 done points"), "{printed}");
    std::fs::remove_dir_all(a.join(points[1])).unwrap();
    let printed = ok(sweep(&a, &f, &[]));
    assert!(printed.contains("1 to run, skipped 5 done points"), "{printed}");
    assert_same(&fa, &files(&a), "resumed");
    // A point run for another scenario file is not done.
    let g = write(&d, "tiny.toml", TINY.replace("seed = 3", "seed = 4"));
    let printed = ok(sweep(&a, &g, &[]));
    assert!(printed.contains("6 to run, skipped 0 done points"), "{printed}");
}

/// Three shards in three folders, then `collect`: the same sweep.csv, sweep.json, charts and
/// points as the unsharded sweep, byte for byte. A shard alone writes no sweep.csv; collect without
/// every shard is partial (exit 5) and names what is missing.
#[test]
fn shards_collected_equal_the_unsharded_sweep() {
    let d = tmpdir("shards");
    let f = write(&d, "tiny.toml", TINY);
    let whole = d.join("whole");
    ok(sweep(&whole, &f, &[]));
    let shards: Vec<PathBuf> = (0..3).map(|i| d.join(format!("shard-{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        let printed = ok(sweep(s, &f, &["--shard", &format!("{i}/3")]));
        assert!(printed.contains("(shard"), "{printed}");
        assert!(!s.join("sweep.csv").exists(), "shard {i} wrote a partial sweep.csv");
        assert_eq!(std::fs::read_dir(s).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count(), 2);
    }
    // Points 1 and 4 of the cross product.
    assert!(shards[1].join("rate=20,partitions=2").is_dir() && shards[1].join("rate=40,partitions=2").is_dir());
    let out = bin().arg("collect").args(&shards[..2]).arg("--out").arg(d.join("part")).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 of the sweep's 6 points") && err.contains("rate=20,partitions=4"), "{err}");
    let merged = d.join("merged");
    ok(bin().arg("collect").args(&shards).arg("--out").arg(&merged).output().unwrap());
    assert_same(&files(&whole), &files(&merged), "collected shards against the unsharded sweep");
    // Shards sharing one folder: the last one writes the table; collect in place changes nothing.
    let shared = d.join("shared");
    for i in 0..3 {
        ok(sweep(&shared, &f, &["--shard", &format!("{i}/3")]));
    }
    assert_same(&files(&whole), &files(&shared), "shards in one folder");
    ok(bin().arg("collect").arg(&shared).arg("--out").arg(&shared).output().unwrap());
    assert_same(&files(&whole), &files(&shared), "collected in place");
    // Folders of two different sweeps do not merge.
    let other = d.join("other");
    ok(bin()
        .arg("sweep")
        .arg(&f)
        .args(["--vary", "workload.rate=20", "--no-charts", "--out"])
        .arg(&other)
        .output()
        .unwrap());
    let out = bin().arg("collect").arg(&whole).arg(&other).arg("--out").arg(d.join("x")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hold different sweeps"));
}

fn one_line_error(out: &Output, code: i32, words: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for w in words {
        assert!(err.contains(w), "{w:?} missing: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Bad `--vary` and `--shard` values: usage errors (2) naming the flag; a value the scenario
/// refuses: the scenario's error for that field, naming `--vary` (3). Nothing is written.
#[test]
fn bad_sweeps_get_one_line_errors_naming_vary() {
    let d = tmpdir("bad");
    let f = write(&d, "tiny.toml", TINY);
    let o = d.join("o");
    let run = |args: &[&str]| bin().arg("sweep").arg(&f).args(args).arg("--out").arg(&o).output().unwrap();
    one_line_error(
        &run(&["--vary", "kafka.partitions=0,2"]),
        3,
        &["kafka.partitions", "--vary \"kafka.partitions=0\""],
    );
    one_line_error(&run(&["--vary", "kafka.partitionz=1,2"]), 3, &["partitionz", "--vary"]);
    one_line_error(&run(&["--vary", "kafka.partitions=1..8"]), 2, &["--vary", "no step", "A..B:xK"]);
    one_line_error(&run(&["--vary", "kafka.partitions=8..1:x2"]), 2, &["A <= B"]);
    one_line_error(&run(&["--vary", "kafka.partitions=1,2", "--shard", "2/2"]), 2, &["--shard", "i/N"]);
    one_line_error(
        &run(&["--vary", "kafka.partitions=1,2", "--set", "kafka.partitions=3"]),
        2,
        &["--vary", "kafka.partitions", "same parameter"],
    );
    one_line_error(&run(&["--vary", "a=1", "--vary", "a=2"]), 2, &["given twice"]);
    assert!(!o.exists(), "a refused sweep wrote {}", o.display());
}

/// Each exit code, from the command line: 0 ok, 2 usage, 3 invalid scenario, 4 refused by the
/// size guard, 5 an output folder that cannot be used; 1 is a bug (an internal error); 130
/// interrupted (`an_interrupted_sweep_exits_130_and_resumes`).
#[test]
fn exit_codes_are_distinct() {
    let d = tmpdir("codes");
    let f = write(&d, "tiny.toml", TINY);
    let bad = write(&d, "bad.toml", TINY.replace("partitions = 2", "partitions = 0"));
    let code = |args: &[&std::ffi::OsStr]| bin().args(args).output().unwrap().status.code();
    assert_eq!(code(&["validate".as_ref(), f.as_os_str()]), Some(0));
    assert_eq!(code(&["validate".as_ref(), f.as_os_str(), "--bogus".as_ref()]), Some(2));
    assert_eq!(code(&["validate".as_ref(), bad.as_os_str()]), Some(3));
    assert_eq!(code(&["run".as_ref(), bad.as_os_str(), "--out".as_ref(), d.join("r").as_os_str()]), Some(3));
    let huge = write(&d, "huge.toml", TINY.replace("duration = \"30s\"", "duration = \"1000d\""));
    assert_eq!(code(&["validate".as_ref(), huge.as_os_str()]), Some(4), "refused by the size guard");
    assert_eq!(code(&["run".as_ref(), huge.as_os_str(), "--out".as_ref(), d.join("r").as_os_str()]), Some(4));
    assert_eq!(code(&["validate".as_ref(), huge.as_os_str(), "--force".as_ref()]), Some(0));
    // The first file that failed gives the code.
    assert_eq!(code(&["validate".as_ref(), bad.as_os_str(), huge.as_os_str()]), Some(3));
    assert_eq!(code(&["validate".as_ref(), huge.as_os_str(), bad.as_os_str()]), Some(4));
    let sweep_huge = |extra: &[&str]| {
        bin()
            .arg("sweep")
            .arg(&huge)
            .args(["--vary", "kafka.partitions=1,2", "--out"])
            .arg(d.join("s"))
            .args(extra)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(sweep_huge(&[]), Some(4), "a sweep point refused by the size guard");
    let file = write(&d, "a-file", "x");
    assert_eq!(code(&["run".as_ref(), f.as_os_str(), "--out".as_ref(), file.join("r").as_os_str()]), Some(5));
    assert_eq!(
        code(&["collect".as_ref(), d.as_os_str(), "--out".as_ref(), d.join("c").as_os_str()]),
        Some(3),
        "not a sweep folder"
    );
    assert_eq!(code(&["explain".as_ref(), "no-such-lesson".as_ref()]), Some(2));
    let internal = pushpull::report::ReportError::Internal {
        scenario: "s".into(),
        system: "kafka".into(),
        message: "bug".into(),
        location: None,
    };
    assert_eq!(pushpull::cli::exit_code(&internal), 1);
    let interrupted = pushpull::report::ReportError::Interrupted { scenario: "s".into() };
    assert_eq!(pushpull::cli::exit_code(&interrupted), 130);
    let help = String::from_utf8(bin().arg("--help").output().unwrap().stdout).unwrap();
    for words in [
        "Exit codes",
        "0 success",
        "1 run failed",
        "2 usage error",
        "3 invalid input",
        "4 refused by the size guard",
        "5 output folder problem",
        "130 interrupted",
    ] {
        assert!(help.contains(words), "--help lacks {words:?}");
    }
}

/// `list`: every lesson of scenarios/ with its question; `explain`: the question, what to look at,
/// the committed figures and the commands to try, for every lesson.
#[test]
fn list_and_explain_every_lesson() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = ok(bin().current_dir(root).arg("list").output().unwrap());
    let mut names: Vec<String> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let lines: Vec<&str> = listed.lines().take(names.len()).collect();
    for (name, line) in names.iter().zip(&lines) {
        assert!(line.starts_with(&format!("{name} ")), "{line:?} is not lesson {name}");
        assert!(line.len() > name.len() + 20, "no question: {line:?}");
    }
    assert!(listed.contains("why is the queue faster?"), "{listed}");
    for name in &names {
        let text = ok(bin().current_dir(root).args(["explain", name]).output().unwrap());
        for words in ["The answer in figures", "Try:", "cargo run --release -- run scenarios/", "throughput_per_s"] {
            assert!(text.contains(words), "explain {name} lacks {words:?}:\n{text}");
        }
    }
    let text = ok(bin().current_dir(root).args(["explain", "pooling"]).output().unwrap());
    for words in [
        "Five consumers, the same work, the same messages: why is the queue faster?",
        "What to look at:",
        "Look at: wait_ms.mean",
        "wait_ms.mean",
        "39.93",
        "--set rabbitmq.prefetch=0",
    ] {
        assert!(text.contains(words), "explain pooling lacks {words:?}:\n{text}");
    }
    let out = bin().current_dir(root).args(["explain", "poolng"]).output().unwrap();
    one_line_error(&out, 2, &["no lesson named \"poolng\"", "pooling, prefetch"]);
}

/// Ctrl-C during a sweep (SIGINT raised as the second point is about to start, one job): the run
/// under way is finished and kept, no other starts, exit 5; the same command again runs only the
/// rest, and the sweep is the uninterrupted one byte for byte.
#[test]
fn an_interrupted_sweep_exits_130_and_resumes() {
    let d = tmpdir("interrupt");
    let f = write(&d, "tiny.toml", TINY);
    let (a, b) = (d.join("a"), d.join("b"));
    ok(sweep(&a, &f, &[]));
    let out = bin()
        .env("PUSHPULL_INTERRUPT_AFTER", "1")
        .arg("sweep")
        .arg(&f)
        .args(["--vary", "workload.rate=20,40", "--vary", "kafka.partitions=1..4:x2", "--no-charts", "--jobs", "1"])
        .arg("--out")
        .arg(&b)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted: finishing the runs under way") && err.contains("run the same command again"));
    assert!(!b.join("sweep.csv").exists(), "an interrupted sweep wrote its table");
    let done =
        std::fs::read_dir(&b).unwrap().filter(|e| e.as_ref().unwrap().path().join("summary.json").is_file()).count();
    assert_eq!(done, 1, "points done");
    let printed = ok(sweep(&b, &f, &[]));
    assert!(printed.contains(&format!("{} to run, skipped {done} done points", 6 - done)), "{printed}");
    assert_same(&files(&a), &files(&b), "resumed after Ctrl-C");
}

/// `collect` of a folder whose sweep.json was edited by hand (points that are not the cross
/// product, no parameter, not JSON): exit 3, one line naming the file, never a panic.
#[test]
fn an_edited_sweep_json_is_refused() {
    let d = tmpdir("edited");
    let f = write(&d, "tiny.toml", TINY);
    let a = d.join("a");
    ok(bin()
        .arg("sweep")
        .arg(&f)
        .args(["--vary", "workload.rate=20,40", "--no-charts", "--out"])
        .arg(&a)
        .output()
        .unwrap());
    let manifest = std::fs::read_to_string(a.join("sweep.json")).unwrap();
    for edited in [
        manifest.replace("\"40\"", "\"40\", \"60\""),
        manifest.replace("\"rate=40\"", "\"rate=50\""),
        manifest.replace("\"workload.rate\"", "\"workload.rate\", \"x\": 1"),
        "[]".to_string(),
    ] {
        write(&a, "sweep.json", &edited);
        let out = bin().arg("collect").arg(&a).arg("--out").arg(d.join("c")).output().unwrap();
        one_line_error(&out, 3, &["sweep.json"]);
    }
    let mut v: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    v["vary"] = serde_json::json!([]);
    write(&a, "sweep.json", v.to_string());
    let out = bin().arg("collect").arg(&a).arg("--out").arg(d.join("c")).output().unwrap();
    one_line_error(&out, 3, &["sweep.json", "was it edited"]);
}

/// More combinations of the further parameters than a chart holds panels: the CSV has every point,
/// no chart is drawn (none of an earlier sweep is left), and the sweep says so.
#[test]
fn too_many_panels_give_the_table_and_no_chart() {
    let d = tmpdir("panels");
    let f = write(&d, "tiny.toml", TINY);
    let a = d.join("a");
    let run = |extra: &str| {
        ok(bin()
            .arg("sweep")
            .arg(&f)
            .args(["--vary", "workload.rate=20", "--vary", extra, "--no-charts", "--out"])
            .arg(&a)
            .output()
            .unwrap())
    };
    let printed = run("seed=1..2:+1");
    assert!(a.join("sweep-throughput_per_s.png").is_file(), "{printed}");
    let printed = run("seed=1..25:+1");
    assert!(printed.contains("no charts: more than 24 combinations"), "{printed}");
    let csv = std::fs::read_to_string(a.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 25 * 2);
    assert!(!std::fs::read_dir(&a).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("sweep-")));
}

fn run_tiny(f: &Path, out: &Path, extra: &[&str]) -> String {
    ok(bin().arg("run").arg(f).args(extra).arg("--out").arg(out).output().unwrap())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `--replications 4`: rep-i/ is exactly `run --seed SEED_i` (replication 0 the scenario's own seed:
/// the plain run), the folder's own files are replication 0's and its summary.json adds the
/// replications block, whose mean and interval are recomputed here from the replications' own
/// summaries with the tables' t(0.975, 3) = 3.182; the same bytes with 1 job or 3;
/// `--replications 1` is the plain run; fewer replications or none into the same folder leave no
/// stale rep-i/.
#[test]
fn replications_write_each_seed_and_the_mean_with_its_interval() {
    let d = tmpdir("replications");
    let f = write(&d, "tiny.toml", TINY);
    let (a, b, plain, one) = (d.join("a"), d.join("b"), d.join("plain"), d.join("one"));
    let printed = run_tiny(&f, &a, &["--replications", "4", "--jobs", "1", "--no-charts"]);
    for words in ["tiny (4 replications, seeds 3, ", "throughput_per_s", " ± ", "3 degrees of freedom"] {
        assert!(printed.contains(words), "the table lacks {words:?}:\n{printed}");
    }
    run_tiny(&f, &b, &["--replications", "4", "--jobs", "3", "--no-charts", "--quiet"]);
    let fa = files(&a);
    assert_same(&fa, &files(&b), "--jobs 1 against --jobs 3");
    run_tiny(&f, &plain, &["--no-charts", "--quiet"]);
    run_tiny(&f, &one, &["--no-charts", "--quiet", "--replications", "1"]);
    assert_same(&files(&plain), &files(&one), "--replications 1 against the plain run");
    assert_same(&files(&plain), &files(&a.join("rep-0")), "replication 0 against the plain run");
    assert!(fa[Path::new("timeseries.csv")] == std::fs::read(plain.join("timeseries.csv")).unwrap());
    let top = json(&a.join("summary.json"));
    let mut without = top.clone();
    let block = without.as_object_mut().unwrap().remove("replications").expect("a replications block");
    assert_eq!(without, json(&plain.join("summary.json")), "the folder's summary is replication 0's");
    assert_eq!(block["count"], 4);
    let seeds: Vec<u64> = block["seeds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert_eq!(seeds[0], 3, "replication 0 is the scenario's seed");
    let mut distinct = seeds.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);
    // Replication 2 is `run --seed` with its seed, byte for byte.
    let seeded = d.join("seeded");
    run_tiny(&f, &seeded, &["--no-charts", "--quiet", "--seed", &seeds[2].to_string()]);
    assert_same(&files(&seeded), &files(&a.join("rep-2")), "replication 2 against run --seed");
    for (system, metric, path) in [
        ("kafka", "throughput_per_s", vec!["throughput_per_s"]),
        ("rabbitmq", "latency_ms.p99", vec!["latency_ms", "p99"]),
        ("kafka", "wait_ms.mean", vec!["wait_ms", "mean"]),
    ] {
        let values: Vec<f64> = (0..4)
            .map(|i| {
                let s = json(&a.join(format!("rep-{i}")).join("summary.json"));
                path.iter().fold(&s["systems"][system], |v, p| &v[p]).as_f64().unwrap()
            })
            .collect();
        let stats = &block["systems"][system][metric];
        let listed: Vec<f64> = stats["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(listed, values, "{system} {metric}: the values are the replications'");
        let mean = values.iter().sum::<f64>() / 4.0;
        let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 3.0).sqrt();
        let half = 3.182 * sd / 2.0;
        assert!(half > 0.0, "{system} {metric}: the seeds made no difference");
        assert_eq!(stats["n"], 4);
        assert!((stats["mean"].as_f64().unwrap() - mean).abs() <= 1e-9 * mean.abs());
        for (field, want) in [("ci95_low", mean - half), ("ci95_high", mean + half)] {
            let got = stats[field].as_f64().unwrap();
            assert!((got - want).abs() <= 2e-4 * half, "{system} {metric} {field}: {got}, by hand {want}");
        }
    }
    // Fewer replications, then none, into the same folder: no stale replication is left.
    run_tiny(&f, &a, &["--replications", "2", "--no-charts", "--quiet"]);
    assert!(a.join("rep-1").is_dir() && !a.join("rep-2").exists() && !a.join("rep-3").exists());
    write(&a, "notes.txt", "mine");
    run_tiny(&f, &a, &["--replications", "3", "--no-charts", "--quiet"]);
    assert!(a.join("rep-2").is_dir() && a.join("notes.txt").is_file(), "written file by file");
    run_tiny(&f, &a, &["--no-charts", "--quiet"]);
    assert!(!a.join("rep-0").exists() && a.join("notes.txt").is_file());
    assert!(json(&a.join("summary.json")).get("replications").is_none());
    let out = bin().arg("run").arg(&f).args(["--replications", "0", "--out"]).arg(&a).output().unwrap();
    one_line_error(&out, 2, &["--replications"]);
}

/// A sweep with `--replications 3`: each point's folder is `run --replications 3`, sweep.csv has
/// a `replications` column and each metric's mean (the point's summary.json's) with its interval,
/// the charts say so; the same bytes with 1 job or 2, and from shards collected; the points of a
/// sweep without replications are not done for one with them.
#[test]
fn a_sweep_with_replications_tabulates_means_and_intervals() {
    let d = tmpdir("sweep-reps");
    let f = write(&d, "tiny.toml", TINY);
    let sweep = |out: &Path, extra: &[&str]| {
        ok(bin()
            .arg("sweep")
            .arg(&f)
            .args(["--vary", "workload.rate=20,40", "--replications", "3", "--no-charts", "--out"])
            .arg(out)
            .args(extra)
            .output()
            .unwrap())
    };
    let (a, b) = (d.join("a"), d.join("b"));
    sweep(&a, &["--jobs", "1"]);
    sweep(&b, &["--jobs", "2"]);
    let fa = files(&a);
    assert_same(&fa, &files(&b), "--jobs 1 against --jobs 2");
    let point = a.join("rate=40");
    assert!(point.join("rep-2").join("summary.json").is_file());
    let single = d.join("single");
    run_tiny(&f, &single, &["--set", "workload.rate=40", "--replications", "3", "--no-charts", "--quiet"]);
    assert_same(&files(&single), &files(&point), "a point against run --set --replications");
    let csv = String::from_utf8(fa[Path::new("sweep.csv")].clone()).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0][..6],
        [
            "workload.rate",
            "system",
            "replications",
            "offered_per_s",
            "offered_per_s.ci95_low",
            "offered_per_s.ci95_high"
        ]
    );
    let col = |name: &str| rows[0].iter().position(|c| *c == name).unwrap();
    let row = &rows[4];
    assert_eq!((row[0], row[1], row[2]), ("40", "rabbitmq", "3"));
    let stats = &json(&point.join("summary.json"))["replications"]["systems"]["rabbitmq"]["latency_ms.p99"];
    for field in ["mean", "ci95_low", "ci95_high"] {
        let name = if field == "mean" { "latency_ms.p99".to_string() } else { format!("latency_ms.p99.{field}") };
        assert_eq!(row[col(&name)], stats[field].to_string(), "{name}");
    }
    let svg = String::from_utf8(fa[Path::new("sweep-throughput_per_s.svg")].clone()).unwrap();
    assert!(svg.contains("mean of 3 replications"), "the chart does not say what the error bars are");
    // Shards collected: the same sweep.
    let shards: Vec<PathBuf> = (0..2).map(|i| d.join(format!("shard-{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        sweep(s, &["--shard", &format!("{i}/2")]);
    }
    let merged = d.join("merged");
    ok(bin().arg("collect").args(&shards).arg("--out").arg(&merged).output().unwrap());
    assert_same(&fa, &files(&merged), "collected shards");
    // Rerun: done. Without replications (or with another count): every point runs again.
    assert!(sweep(&a, &[]).contains("0 to run, skipped 2 done points"));
    let printed = ok(bin()
        .arg("sweep")
        .arg(&f)
        .args(["--vary", "workload.rate=20,40", "--no-charts", "--out"])
        .arg(&a)
        .output()
        .unwrap());
    assert!(printed.contains("2 to run, skipped 0 done points"), "{printed}");
    assert!(!a.join("rate=40").join("rep-0").exists());
}

/// `compare A B`: two folders of 4 replications that differ in kafka.partitions (2 against 1): the
/// parameter is named, each row shows both means, and Welch's test flags Kafka's mean wait and
/// flags nothing for RabbitMQ, whose runs are the same (common random numbers); `--out` writes the
/// chart. Single runs get no test. A folder that is not a result folder: exit 3 naming it.
#[test]
fn compare_two_folders() {
    let d = tmpdir("compare");
    let f = write(&d, "tiny.toml", TINY);
    let (a, b) = (d.join("a"), d.join("b"));
    run_tiny(&f, &a, &["--replications", "4", "--no-charts", "--quiet"]);
    run_tiny(&f, &b, &["--replications", "4", "--no-charts", "--quiet", "--set", "kafka.partitions=1"]);
    let chart = d.join("chart");
    let printed = ok(bin().arg("compare").arg(&a).arg(&b).arg("--out").arg(&chart).output().unwrap());
    assert!(printed.contains("kafka.partitions: 2 -> 1"), "{printed}");
    assert!(printed.contains("Welch"), "{printed}");
    let mean = |dir: &Path, system: &str, metric: &str| {
        json(&dir.join("summary.json"))["replications"]["systems"][system][metric]["mean"].as_f64().unwrap()
    };
    let wait = line_of(&printed, "kafka", "wait_ms.mean");
    assert!(wait.ends_with('*'), "Kafka's wait with one partition is not flagged: {wait}");
    for dir in [&a, &b] {
        let shown = pushpull::report::table::num(mean(dir, "kafka", "wait_ms.mean"));
        assert!(wait.contains(&format!("{shown} ± ")), "{shown} is not in {wait}");
    }
    let rabbit = printed.split("\nrabbitmq ").nth(1).unwrap();
    assert!(!rabbit.contains('*'), "RabbitMQ did not change: {rabbit}");
    let png = std::fs::read(chart.join("compare.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(chart.join("compare.svg")).unwrap();
    for words in ["throughput (messages/s)", "latency p99 (ms", "kafka A", "rabbitmq B", "95% confidence interval"] {
        assert!(svg.contains(words), "compare.svg lacks {words:?}");
    }
    // Single runs: the difference, no test.
    let (p, q) = (d.join("p"), d.join("q"));
    run_tiny(&f, &p, &["--no-charts", "--quiet"]);
    run_tiny(&f, &q, &["--no-charts", "--quiet", "--seed", "4"]);
    let printed = ok(bin().arg("compare").arg(&p).arg(&q).output().unwrap());
    assert!(printed.contains("seed: 3 -> 4") && printed.contains("single runs") && !printed.contains("Welch"));
    let tp = |dir: &Path| json(&dir.join("summary.json"))["systems"]["kafka"]["throughput_per_s"].as_f64().unwrap();
    let diff = pushpull::report::table::num(tp(&q) - tp(&p));
    assert!(line_of(&printed, "kafka", "throughput_per_s").contains(&diff), "{printed}");
    // Not result folders.
    let run = |x: &Path, y: &Path| bin().arg("compare").arg(x).arg(y).output().unwrap();
    one_line_error(&run(&a, &d.join("missing")), 3, &["B", "missing", "cannot read the folder"]);
    one_line_error(&run(&d, &a), 3, &["A", "no summary.json"]);
    one_line_error(&run(&a, &f), 3, &["B", "tiny.toml", "not a folder"]);
    let broken = d.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    write(&broken, "summary.json", "{");
    one_line_error(&run(&a, &broken), 3, &["broken", "not JSON"]);
    write(&broken, "summary.json", "{}");
    one_line_error(&run(&a, &broken), 3, &["broken", "no `systems`"]);
}

fn line_of(printed: &str, system: &str, metric: &str) -> String {
    let table = printed.split(&format!("\n{system} ")).nth(1).unwrap();
    table.lines().find(|l| l.starts_with(&format!("{metric} "))).unwrap().to_string()
}

/// `trace` follows one message: its steps are in time order, start with `sent`, and the
/// processing took exactly the scenario's constant 10 ms in both systems; `--key` picks the first
/// message with the key, `--format json` carries the same steps, and an id never sent says so.
#[test]
fn trace_follows_one_message_through_both_systems() {
    let dir = tmpdir("trace");
    let file = write(
        &dir.0,
        "t.toml",
        r#"
name = "t"
seed = 4
duration = "10s"
[workload]
rate = 10.0
keys = { count = 5, distribution = "uniform" }
[[groups]]
name = "billing"
consumers = 1
processing = { distribution = "constant", value = "10ms" }
[kafka]
partitions = 1
[rabbitmq]
ack = "manual"
prefetch = 1
"#,
    );
    let text = ok(bin().arg("trace").arg(&file).args(["--id", "7"]).output().unwrap());
    for system in ["kafka", "rabbitmq"] {
        let block: Vec<&str> = text
            .split_once(&format!("{system}: message 7\n"))
            .unwrap_or_else(|| panic!("{system} block in:\n{text}"))
            .1
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert!(block[0].contains(" sent "), "{block:?}");
        let at = |event: &str| -> f64 {
            // "  <at> s  +<since sent> ms  <event> <detail>"
            let event_of = |l: &str| l.split_whitespace().skip_while(|w| *w != "ms").nth(1).map(str::to_owned);
            let line = block.iter().find(|l| event_of(l).as_deref() == Some(event)).unwrap_or_else(|| {
                panic!("{system}: no {event} in {block:?}");
            });
            line.split_whitespace().next().unwrap().parse().unwrap()
        };
        let times: Vec<f64> = block.iter().map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{system}: steps out of order: {block:?}");
        assert!((at("processed") - at("processing_started") - 0.010).abs() < 1e-6, "{system}: {block:?}");
        let stored = if system == "kafka" { "committed" } else { "enqueued" };
        assert!(at("delivered") >= at(stored) && at(stored) >= at("sent"), "{system}: {block:?}");
    }
    assert!(text.contains("(basic.ack)"), "RabbitMQ's manual ack is traced:\n{text}");

    let json = ok(bin().arg("trace").arg(&file).args(["--key", "3", "--format", "json"]).output().unwrap());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let systems = v["systems"].as_array().unwrap();
    assert_eq!(systems.len(), 2);
    let id = systems[0]["id"].as_u64().unwrap();
    assert_eq!(systems[1]["id"].as_u64(), Some(id), "both systems follow the same message");
    let sent = &systems[0]["steps"][0];
    assert_eq!(sent["event"], "sent");
    assert!(sent["detail"].as_str().unwrap().contains("key 3"), "{sent}");

    let none = ok(bin().arg("trace").arg(&file).args(["--id", "100000"]).output().unwrap());
    assert!(none.contains("message 100000 was never sent"), "{none}");
}

/// `trace` shows the brokers' inner steps, at the times one link of 1 ms per hop gives on an idle
/// cluster (worked by hand). Kafka, RF 3, acks=all, followers' fetches parked at the leader: the
/// leader appends at +1 ms, answers both followers' parked fetches (each holds a copy at +2 ms),
/// learns their new log ends from their next fetches (the high watermark passes the record at
/// +3 ms), then the producer has its acknowledgement and the consumer its record at +4 ms. The
/// quorum queue: the leader appends the enqueue to its Raft log at +1 ms, both followers at +2 ms,
/// the leader commits and applies it on their answers at +3 ms, and delivers it at +4 ms.
#[test]
fn trace_shows_replication_and_commit_inside_the_brokers() {
    let dir = tmpdir("trace-steps");
    let file = write(
        &dir.0,
        "t.toml",
        r#"
name = "t"
seed = 4
duration = "10s"
[workload]
rate = 1.0
[[groups]]
name = "billing"
consumers = 1
processing = { distribution = "constant", value = "10ms" }
[cluster]
brokers = 3
[network]
latency = "1ms"
[kafka]
partitions = 1
replication_factor = 3
acks = "all"
linger = "0ms"
[rabbitmq]
queue_type = "quorum"
replicas = 3
publisher_confirms = true
"#,
    );
    let json = ok(bin().arg("trace").arg(&file).args(["--id", "3", "--format", "json"]).output().unwrap());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for sys in v["systems"].as_array().unwrap() {
        let name = sys["system"].as_str().unwrap();
        let steps: Vec<(f64, String, String)> = sys["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["at_s"].as_f64().unwrap(), s["event"].as_str().unwrap().to_owned(), s["detail"].to_string()))
            .collect();
        let sent = steps[0].0;
        // Milliseconds after `sent` of every step named `event`.
        let ms = |event: &str| -> Vec<i64> {
            steps.iter().filter(|s| s.1 == event).map(|s| ((s.0 - sent) * 1e3).round() as i64).collect()
        };
        assert_eq!(steps[0].1, "sent", "{name}: {steps:?}");
        assert_eq!(ms("appended"), [1], "{name}: {steps:?}");
        assert_eq!(ms("replicated"), [2, 2], "{name}: one line per follower: {steps:?}");
        let readable = if name == "kafka" { "committed" } else { "enqueued" };
        assert_eq!(ms(readable), [3], "{name}: {steps:?}");
        assert_eq!(ms("delivered"), [4], "{name}: {steps:?}");
        assert_eq!(ms("acknowledged"), [4], "{name}: {steps:?}");
        if name == "kafka" {
            assert_eq!(ms("batched"), [0], "{steps:?}");
            // Auto-commit (every 5 s) commits past the record once: one line for the one group.
            assert_eq!(ms("offset_committed").len(), 1, "{steps:?}");
        }
    }
}

/// `trace` shows how a queue let go of a message: with `message_ttl = "1s"` and the only consumer
/// down from 0.05 s to 20 s, message 0 (sent at 0.1 s, one a second) waits in the queue and
/// expires exactly 1 s after it was enqueued (no latency under `ideal`), and is never delivered.
#[test]
fn trace_shows_a_message_expiring_in_its_queue() {
    let dir = tmpdir("trace-ttl");
    let file = write(
        &dir.0,
        "t.toml",
        r#"
name = "t"
duration = "10s"
systems = ["rabbitmq"]
[workload]
rate = 1.0
arrivals = "constant"
[[groups]]
name = "work"
processing = "1ms"
message_ttl = "1s"
[[faults]]
at = "50ms"
action = "crash"
target = "work/0"
duration = "20s"
"#,
    );
    let text = ok(bin().arg("trace").arg(&file).args(["--id", "0"]).output().unwrap());
    let events: Vec<(f64, &str)> = text
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            // "  <at> s  +<since sent> ms  <event> <detail>"
            let event = l.split_whitespace().skip_while(|w| *w != "ms").nth(1).unwrap();
            (l.split_whitespace().next().unwrap().parse().unwrap(), event)
        })
        .collect();
    let at = |e: &str| events.iter().find(|x| x.1 == e).unwrap_or_else(|| panic!("no {e} in {text}")).0;
    assert!((at("expired") - at("enqueued") - 1.0).abs() < 1e-6, "{text}");
    assert!(events.iter().all(|x| x.1 != "delivered"), "{text}");
}
