//! Safe outputs and clean errors, checked from outside as a user (or an attacker sharing the
//! results folder) would: planted symlinks, output sets, duplicate names, hostile input text,
//! special files, and a simulation thread that panics.

use crate::common::{TmpDir, bin, tmpdir_in, write};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::process::{Command, Output};

fn tmpdir(tag: &str) -> TmpDir {
    tmpdir_in("out", tag)
}

const SMALL: &str = r#"
name = "small"
seed = 7
duration = "1m"
[workload]
rate = 20.0
[[groups]]
name = "billing"
consumers = 2
processing = { distribution = "exponential", mean = "40ms" }
[rabbitmq]
prefetch = 1
"#;

fn run(args: &[&Path]) -> Output {
    bin().arg("run").args(args).arg("--quiet").output().unwrap()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Exit `code` (3 a scenario refused, 4 an output folder refused), one line on stderr, no control
/// character in it, no panic; returns the line.
fn one_line_error(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let line = stderr.strip_suffix('\n').unwrap_or_else(|| panic!("no final newline: {stderr:?}"));
    assert!(!line.chars().any(|c| c.is_control()), "control character in {line:?}");
    assert!(line.starts_with("error: "), "{line}");
    line.to_string()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn staging_leftovers(dir: &Path) -> Vec<String> {
    names(dir).into_iter().filter(|n| n.starts_with(".pushpull-")).collect()
}

/// Every predictable temporary name (old `.NAME.tmp`, the PNG writer's `.NAME.tmp.png`), a
/// temporary name of today's pattern (`.NAME.XXXXXX.tmp`) and every output name itself is a
/// symlink to a file of the user; a run must replace or remove the links, never write through
/// them, whether the folder is swapped whole or written file by file. The old predictable names are
/// not pushpull's any more (a user may have such a file), so they make the run go file by file.
#[test]
fn symlinks_planted_in_the_output_folder_leave_their_targets_untouched() {
    let d = tmpdir("symlinks");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let reference = d.join("reference");
    ok(run(&[&f, "--out".as_ref(), &reference, "--history".as_ref()]));
    let outputs = names(&reference);
    assert!(outputs.len() >= 5 && outputs.contains(&"history-kafka.jsonl".to_string()), "{outputs:?}");
    let victim = write(&d, "victim.txt", b"the user's precious file\n");
    for mode in ["swap", "file-by-file"] {
        let out = d.join(mode);
        std::fs::create_dir(&out).unwrap();
        for name in &outputs {
            let mut planted = vec![name.clone(), format!(".{name}.Ab3xY9.tmp")];
            if mode == "file-by-file" {
                planted.extend([format!(".{name}.tmp"), format!(".{name}.tmp.png")]);
            }
            for p in planted {
                symlink(&victim, out.join(p)).unwrap();
            }
        }
        let inode = std::fs::metadata(&out).unwrap().ino();
        ok(run(&[&f, "--out".as_ref(), &out, "--history".as_ref()]));
        assert_eq!(std::fs::read(&victim).unwrap(), b"the user's precious file\n", "{mode}: victim overwritten");
        let swapped = std::fs::metadata(&out).unwrap().ino() != inode;
        assert_eq!(swapped, mode == "swap", "{mode}: folder replaced whole: {swapped}");
        for name in &outputs {
            let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
            assert!(meta.is_file(), "{mode}: {name} is not a regular file");
            assert!(!out.join(format!(".{name}.Ab3xY9.tmp")).exists(), "{mode}: pushpull's leftover kept");
        }
        for name in ["summary.json", "timeseries.csv", "history-rabbitmq.jsonl"] {
            assert_eq!(
                std::fs::read(out.join(name)).unwrap(),
                std::fs::read(reference.join(name)).unwrap(),
                "{mode}: {name} differs from the reference run"
            );
        }
        if mode == "file-by-file" {
            let kept = names(&out).into_iter().filter(|n| n.ends_with(".tmp") || n.ends_with(".tmp.png")).count();
            assert_eq!(kept, 2 * outputs.len(), "{mode}: names that are not pushpull's were removed");
        }
        assert!(staging_leftovers(&d).is_empty() && staging_leftovers(&out).is_empty(), "{mode}: staging left");
    }
}

/// A file of the user's that merely looks temporary (`.draft.tmp`, `.summary.json.tmp`) is not
/// pushpull's: it survives a rerun (the folder is then written file by file), while a temporary
/// file of pushpull's own pattern left by a killed run is removed, in both modes.
#[test]
fn a_users_temporary_looking_files_survive_a_rerun() {
    let d = tmpdir("dot-tmp");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let out = d.join("out");
    ok(run(&[&f, "--out".as_ref(), &out]));
    let first = names(&out);
    write(&out, ".draft.tmp", b"my draft\n");
    write(&out, ".summary.json.tmp", b"my copy\n");
    write(&out, ".timeseries.csv.Ab3xY9.tmp", b"half a csv");
    ok(run(&[&f, "--out".as_ref(), &out]));
    assert_eq!(std::fs::read(out.join(".draft.tmp")).unwrap(), b"my draft\n");
    assert_eq!(std::fs::read(out.join(".summary.json.tmp")).unwrap(), b"my copy\n");
    let mut expected = first.clone();
    expected.extend([".draft.tmp".to_string(), ".summary.json.tmp".to_string()]);
    expected.sort();
    assert_eq!(names(&out), expected, "pushpull's leftover kept or a user's file removed");
    // Only pushpull's names and a leftover of its own: swapped whole, the leftover gone with the old set.
    let only_ours = d.join("only-ours");
    ok(run(&[&f, "--out".as_ref(), &only_ours]));
    write(&only_ours, ".latency.png.zZ09aB.tmp", b"half a png");
    let inode = std::fs::metadata(&only_ours).unwrap().ino();
    ok(run(&[&f, "--out".as_ref(), &only_ours]));
    assert_ne!(std::fs::metadata(&only_ours).unwrap().ino(), inode, "not swapped whole");
    assert_eq!(names(&only_ours), first);
}

#[test]
fn an_output_folder_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let d = tmpdir("dirlink");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    write(&elsewhere, "summary.json", b"not ours\n");
    let link = d.join("out");
    symlink(&elsewhere, &link).unwrap();
    let line = one_line_error(&run(&[&f, "--out".as_ref(), &link]), 5);
    assert!(line.contains("small.toml") && line.contains("symbolic link"), "{line}");
    assert_eq!(names(&elsewhere), ["summary.json"]);
    assert_eq!(std::fs::read(elsewhere.join("summary.json")).unwrap(), b"not ours\n");
}

/// The second run writes no history: the folder must not keep the first run's history beside the
/// new summary. Same scenario and seed: byte-identical files.
#[test]
fn a_rerun_replaces_the_whole_set_with_identical_bytes() {
    let d = tmpdir("rerun");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let out = d.join("out");
    ok(run(&[&f, "--out".as_ref(), &out, "--history".as_ref()]));
    let first: Vec<(String, Vec<u8>)> =
        names(&out).into_iter().map(|n| (n.clone(), std::fs::read(out.join(&n)).unwrap())).collect();
    assert!(first.iter().any(|(n, _)| n == "history-kafka.jsonl"));
    ok(run(&[&f, "--out".as_ref(), &out]));
    let second = names(&out);
    assert!(!second.iter().any(|n| n.starts_with("history-")), "stale history kept: {second:?}");
    for (name, bytes) in first.iter().filter(|(n, _)| !n.starts_with("history-")) {
        assert!(second.contains(name), "{name} missing");
        assert!(std::fs::read(out.join(name)).unwrap() == *bytes, "{name} differs between identical runs");
    }
    assert!(staging_leftovers(&d).is_empty());
}

/// A run killed between "old folder aside" and "new folder in" leaves the folder missing and
/// both sets in a staging folder; the next run into the same folder cleans that up, and leaves
/// the staging folders of other names alone.
#[test]
fn leftovers_of_a_killed_swap_are_cleaned_by_the_next_run() {
    let d = tmpdir("killed");
    write(&d, "small.toml", SMALL.as_bytes());
    let results = d.join("results");
    let leftover = results.join(".pushpull-small~Ab3xY9");
    for part in ["old", "new"] {
        std::fs::create_dir_all(leftover.join(part)).unwrap();
        write(&leftover.join(part), "summary.json", part.as_bytes());
    }
    let other = results.join(".pushpull-small-b~Zz9yX8");
    std::fs::create_dir_all(&other).unwrap();
    ok(bin().current_dir(&*d).args(["run", "small.toml", "--quiet"]).output().unwrap());
    assert_eq!(staging_leftovers(&results), [".pushpull-small-b~Zz9yX8"]);
    let summary = std::fs::read_to_string(results.join("small/summary.json")).unwrap();
    assert!(summary.contains("\"scenario\": \"small\""));
}

#[test]
fn unrelated_files_in_the_output_folder_survive() {
    let d = tmpdir("unrelated");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let out = d.join("shared");
    std::fs::create_dir_all(out.join("subfolder")).unwrap();
    write(&out, "notes.txt", b"notes\n");
    write(&out, "photo.png", b"not a chart\n");
    ok(run(&[&f, "--out".as_ref(), &out, "--history".as_ref()]));
    assert!(out.join("history-kafka.jsonl").is_file() && out.join("summary.json").is_file());
    ok(run(&[&f, "--out".as_ref(), &out]));
    assert!(!out.join("history-kafka.jsonl").exists(), "stale history kept beside the new summary");
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"notes\n");
    assert_eq!(std::fs::read(out.join("photo.png")).unwrap(), b"not a chart\n");
    assert!(out.join("subfolder").is_dir() && out.join("timeseries.csv").is_file());
    assert!(staging_leftovers(&d).is_empty() && staging_leftovers(&out).is_empty());
    // The current directory as the output folder: written file by file, never renamed away.
    let cwd = d.join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    ok(bin().current_dir(&cwd).arg("run").arg(&f).args(["--out", ".", "--quiet"]).output().unwrap());
    assert!(cwd.join("summary.json").is_file());
}

#[test]
fn two_scenarios_with_the_same_name_are_refused_before_any_output() {
    let d = tmpdir("same-name");
    let a = write(&d, "a.toml", SMALL.replace("name = \"small\"", "name = \"same\"").as_bytes());
    let b = write(&d, "b.toml", SMALL.replace("name = \"small\"", "name = \"same\"").as_bytes());
    let out = d.join("out");
    let line = one_line_error(&run(&[&a, &b, "--out".as_ref(), &out]), 5);
    assert!(line.contains("a.toml") && line.contains("b.toml") && line.contains("\"same\""), "{line}");
    assert!(!out.exists(), "output written before the refusal");
    // Default folder results/<name>: same refusal, and no results/ folder.
    let line =
        one_line_error(&bin().current_dir(&*d).args(["run", "a.toml", "b.toml", "--quiet"]).output().unwrap(), 5);
    assert!(line.contains("results/same"), "{line}");
    assert!(!d.join("results").exists());
    let line =
        one_line_error(&bin().current_dir(&*d).args(["run", "a.toml", "a.toml", "--quiet"]).output().unwrap(), 5);
    assert!(line.contains("twice"), "{line}");
    assert!(!d.join("results").exists());
}

#[test]
fn an_unusable_output_folder_is_refused_before_simulating() {
    let d = tmpdir("unusable");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let file = write(&d, "a-file", b"x");
    let line = one_line_error(&run(&[&f, "--out".as_ref(), &file]), 5);
    assert!(line.contains("not a folder"), "{line}");
    let line = one_line_error(&run(&[&f, "--out".as_ref(), &file.join("below")]), 5);
    assert!(line.contains("cannot create the folder"), "{line}");
    let long = d.join("x".repeat(230));
    let line = one_line_error(&run(&[&f, "--out".as_ref(), &long]), 5);
    assert!(line.contains("230 bytes") && line.len() < 600, "{line}");
}

/// Whether this process runs as root (permission bits then do not stop it).
fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n")
}

/// An output folder that is a mount point cannot be renamed (EBUSY), so it cannot be swapped
/// whole: pushpull must find that before simulating and write file by file (across file
/// systems: copied atomically), twice in a row. A private mount namespace (`unshare -rm`, an
/// unprivileged user namespace) gives the test a tmpfs mount of its own; where the system forbids
/// that, the test says so and checks nothing.
#[test]
fn an_output_folder_at_a_mount_point_is_written_file_by_file() {
    let d = tmpdir("mount");
    let f = write(&d, "small.toml", SMALL.as_bytes());
    let mnt = d.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    if !Command::new("unshare").args(["-rm", "true"]).output().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no private mount namespace (unshare -rm) here");
        return;
    }
    let listing = d.join("listing");
    let script = r#"mount -t tmpfs none "$1" || exit 99
"$2" run "$3" --out "$1" --quiet || exit $?
"$2" run "$3" --out "$1" --quiet --history || exit $?
ls -A "$1" > "$4""#;
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script, "sh"])
        .args([
            mnt.as_os_str(),
            Path::new(env!("CARGO_BIN_EXE_pushpull")).as_os_str(),
            f.as_os_str(),
            listing.as_os_str(),
        ])
        .output()
        .unwrap();
    if out.status.code() == Some(99) {
        eprintln!("skipped: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    ok(out);
    let listed = std::fs::read_to_string(&listing).unwrap();
    let listed: Vec<&str> = listed.lines().collect();
    for name in ["summary.json", "timeseries.csv", "history-kafka.jsonl", "throughput.png", "consumers.svg"] {
        assert!(listed.contains(&name), "{name} missing from the mount point: {listed:?}");
    }
    assert!(!listed.iter().any(|n| n.starts_with('.')), "staging or temporary files left: {listed:?}");
    assert!(staging_leftovers(&d).is_empty(), "{:?}", names(&d));
}

/// A folder that can be neither swapped nor written into (append-only for root, read-only
/// otherwise) is refused before anything is simulated: the first scenario of the command is not
/// written either.
#[test]
fn an_output_folder_that_cannot_be_written_is_refused_before_simulating() {
    let d = tmpdir("unwritable");
    let a = write(&d, "a.toml", SMALL.replace("name = \"small\"", "name = \"a\"").as_bytes());
    let b = write(&d, "b.toml", SMALL.replace("name = \"small\"", "name = \"b\"").as_bytes());
    let out = d.join("out");
    let locked = out.join("b");
    std::fs::create_dir_all(&locked).unwrap();
    let (lock, unlock): (Vec<&str>, Vec<&str>) = if is_root() {
        (vec!["chattr", "+a"], vec!["chattr", "-a"])
    } else {
        (vec!["chmod", "555"], vec!["chmod", "755"])
    };
    if !Command::new(lock[0]).args(&lock[1..]).arg(&locked).output().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `{}` does not work here", lock.join(" "));
        return;
    }
    let result = run(&[&a, &b, "--out".as_ref(), &out]);
    let _ = Command::new(unlock[0]).args(&unlock[1..]).arg(&locked).output();
    let line = one_line_error(&result, 5);
    assert!(line.contains("b.toml") && line.contains("output folder") && line.contains("cannot write in it"), "{line}");
    assert!(!out.join("a").exists(), "the first scenario was simulated and written before the refusal");
}

#[test]
fn duplicate_toml_keys_are_named() {
    let d = tmpdir("dupkey");
    for (file, text, key) in [
        ("dup-rate.toml", SMALL.replace("rate = 20.0", "rate = 20.0\nrate = 30.0"), "`rate`"),
        ("dup-table.toml", format!("{SMALL}\n[rabbitmq]\nack = \"auto\"\n"), "`rabbitmq`"),
        ("dup-inline.toml", SMALL.replace("mean = \"40ms\"", "mean = \"40ms\", mean = \"50ms\""), "`mean`"),
        ("dup-array-table.toml", SMALL.replace("consumers = 2", "consumers = 2\nconsumers = 3"), "`consumers`"),
    ] {
        let f = write(&d, file, text.as_bytes());
        for cmd in ["validate", "run"] {
            let line = one_line_error(&bin().arg(cmd).arg(&f).output().unwrap(), 3);
            assert!(line.contains(file) && line.contains("duplicate key") && line.contains(key), "{line}");
        }
    }
}

#[test]
fn control_characters_are_escaped_and_long_values_cut() {
    let d = tmpdir("escape");
    let long = "z".repeat(10_000);
    let cases = [
        ("esc-value.toml", SMALL.replace("duration = \"1m\"", "duration = \"\\u001b[2J\\u001b[31mred\""), "\\x1b[2J"),
        ("esc-key.toml", format!("{SMALL}\n\"bad\\u001b]0;title\\u0007\" = 1\n"), "\\x1b]0;title\\x07"),
        ("esc-group.toml", SMALL.replace("name = \"billing\"", "name = \"a\\nb\\u202ec\""), "a\\nb\\u{202e}c"),
        ("long-value.toml", SMALL.replace("duration = \"1m\"", &format!("duration = \"{long}\"")), "…"),
        ("long-key.toml", format!("{SMALL}\n{long} = 1\n"), "…"),
    ];
    for (file, text, shown) in cases {
        let f = write(&d, file, text.as_bytes());
        let line = one_line_error(&bin().arg("validate").arg(&f).output().unwrap(), 3);
        assert!(line.contains(file) && line.contains(shown), "{file}: {line}");
        // Cut short: the 10,000 characters become about 80; the rest is the error's own text (an
        // unknown key's line lists every field of its table, `[rabbitmq]`'s 19).
        assert!(line.chars().count() < 700, "{file}: {} characters", line.chars().count());
    }
    // A file whose very name holds an escape sequence.
    let f = write(&d, "evil\u{1b}[2J.toml", b"duration = 5\n");
    let line = one_line_error(&bin().arg("validate").arg(&f).output().unwrap(), 3);
    assert!(line.contains("evil\\x1b[2J.toml"), "{line}");
    // The same name on a valid scenario: the success line escapes it too.
    let f = write(&d, "fine\u{1b}[2J\u{202e}.toml", SMALL.as_bytes());
    let out = ok(bin().arg("validate").arg(&f).output().unwrap());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("fine\\x1b[2J\\u{202e}.toml: ok"), "{stdout}");
    assert!(!stdout.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202e}'), "{stdout:?}");
}

#[test]
fn a_file_name_that_cannot_name_the_folder_is_blamed_not_the_name_field() {
    let d = tmpdir("stem");
    let nameless = SMALL.replace("name = \"small\"\n", "");
    let f = write(&d, "my scenario.toml", nameless.as_bytes());
    let line = one_line_error(&bin().arg("validate").arg(&f).output().unwrap(), 3);
    assert!(line.contains("file name \"my scenario\"") && line.contains("name = "), "{line}");
    assert!(!line.contains("field `name`"), "{line}");
    let f = write(&d, "with name.toml", format!("name = \"fine\"\n{nameless}").as_bytes());
    ok(bin().arg("validate").arg(&f).output().unwrap());
    let f = write(&d, "good.toml", format!("name = \"not fine\"\n{nameless}").as_bytes());
    let line = one_line_error(&bin().arg("validate").arg(&f).output().unwrap(), 3);
    assert!(line.contains("field `name`") && line.contains("\"not fine\""), "{line}");
}

/// Metadata is looked at before reading: none of these can hang or fill memory.
#[test]
fn oversized_and_special_files_are_refused_without_reading_them() {
    let d = tmpdir("special");
    let mut big = SMALL.as_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'#', 2 << 20));
    let big = write(&d, "big.toml", &big);
    let fifo = d.join("fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let folder = d.join("folder.toml");
    std::fs::create_dir(&folder).unwrap();
    for cmd in ["validate", "run"] {
        let check = |file: &Path, words: &[&str]| {
            let out = bin().arg(cmd).arg(file).output().unwrap();
            let line = one_line_error(&out, 3);
            for w in words {
                assert!(line.contains(w), "{cmd} {}: {line}", file.display());
            }
        };
        check(&big, &["big.toml", "2.0 MiB", "1 MiB"]);
        check(Path::new("/dev/zero"), &["/dev/zero", "not a regular file", "device"]);
        check(&fifo, &["fifo.toml", "not a regular file", "pipe"]);
        check(&folder, &["folder.toml", "directory"]);
    }
}

#[test]
fn more_messages_than_ids_can_number_are_refused_even_with_force() {
    let d = tmpdir("ids");
    let text = SMALL.replace("duration = \"1m\"", "duration = \"10000d\"").replace("rate = 20.0", "rate = 1e9");
    let f = write(&d, "huge.toml", text.as_bytes());
    let line =
        one_line_error(&bin().args(["validate".as_ref(), f.as_os_str(), "--force".as_ref()]).output().unwrap(), 3);
    assert!(line.contains("duration") && line.contains("40 bits"), "{line}");
}

/// A bug in a model must come out as one line naming the scenario and the system, not as a
/// second panic of the caller.
#[test]
fn a_panicking_simulation_thread_is_reported_as_one_line() {
    let s = pushpull::plan::parse(SMALL, "small.toml", false).unwrap();
    let result = pushpull::run::on_system_threads(&s, |_, sys| {
        if sys == pushpull::scenario::SystemKind::RabbitMq {
            panic!("counter overflow\nsecond line");
        }
        Ok(sys.name())
    });
    let e = result.expect_err("the panic is an error").to_string();
    assert!(!e.contains('\n'), "{e}");
    for w in
        ["internal error while simulating small", "system rabbitmq", "counter overflow\\nsecond line", "outputs.rs:"]
    {
        assert!(e.contains(w), "{w:?} missing: {e}");
    }
    assert!(e.ends_with("please report"), "{e}");
    let ok = pushpull::run::on_system_threads(&s, |_, sys| Ok(sys.name())).unwrap();
    assert_eq!(ok, ["kafka", "rabbitmq"]);
}
