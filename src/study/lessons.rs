//! The lesson library: `pushpull list` and `pushpull explain LESSON`.
//!
//! A lesson's text has one home: the comment block at the top of its scenario file
//! (`scenarios/NAME.toml`), which the README's table summarises. It starts with
//! `# LESSON: TOPIC. QUESTION` (the first paragraph is the question `list` prints); then what
//! happens in each system; a paragraph beginning `Look at` (what to look at); then the `Try ...`
//! paragraphs, each with a ready command. `explain` prints these, and the answer in figures from the
//! lesson's committed `results/NAME/summary.json`.
//!
//! The library is `scenarios/` and `results/` in the current folder, or else in the source tree
//! pushpull was built from.

use super::StudyError;
use super::metrics::{HEADLINE, value};
use crate::errtext;
pub use crate::scenario::lesson::{Lesson, parse};
use std::path::{Path, PathBuf};

/// The folder holding `scenarios/` and `results/`: the current one if it has `scenarios/`, else
/// the source tree pushpull was built from.
pub fn library() -> PathBuf {
    if Path::new("scenarios").is_dir() { PathBuf::new() } else { PathBuf::from(env!("CARGO_MANIFEST_DIR")) }
}

/// Every lesson of the library at `root`, by name.
pub fn all(root: &Path) -> Result<Vec<Lesson>, StudyError> {
    let dir = root.join("scenarios");
    let unreadable = |e: std::io::Error| {
        StudyError::Input(format!(
            "{}: cannot read the lesson library: {}",
            errtext::path(&dir.display().to_string()),
            errtext::message(&e.to_string())
        ))
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(unreadable)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    files.retain(|f| f.extension().is_some_and(|e| e == "toml"));
    // By lesson name: "poison-message" before "poison-message-quorum" (a path sort puts '-'
    // before ".toml").
    files.sort_by(|a, b| a.file_stem().cmp(&b.file_stem()));
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(unreadable)?;
        let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        out.extend(parse(&name, &f, &text));
    }
    Ok(out)
}

/// `pushpull list`: one line per lesson, its name and question.
pub fn list_text(lessons: &[Lesson]) -> String {
    let width = lessons.iter().map(|l| l.name.len()).max().unwrap_or(0);
    let mut out: String =
        lessons.iter().map(|l| format!("{:width$}  {}\n", l.name, l.question, width = width)).collect();
    out.push_str("\nMore on one: pushpull explain NAME\n");
    out
}

/// `pushpull explain NAME`: the lesson's question, what happens, what to look at, the answer in
/// figures from its committed results, and the commands to try.
pub fn explain(root: &Path, name: &str) -> Result<String, StudyError> {
    let lessons = all(root)?;
    let wanted = name.trim_end_matches(".toml");
    let wanted = Path::new(wanted).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(lesson) = lessons.iter().find(|l| l.name == wanted) else {
        return Err(StudyError::Usage(format!(
            "no lesson named {}; the lessons are: {} (pushpull list)",
            errtext::value(name),
            lessons.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    };
    let mut out = format!("{} ({})\n\n{}\n", lesson.name, lesson.file.display(), lesson.question);
    let mut section = |title: &str, lines: &[String]| {
        if !lines.is_empty() {
            out.push_str(&format!("\n{title}\n"));
            for l in lines {
                out.push_str(&format!("  {l}\n").replace("  \n", "\n"));
            }
        }
    };
    section("What happens:", &lesson.story);
    section("What to look at:", &lesson.look_at);
    let summary = root.join("results").join(&lesson.name).join("summary.json");
    section(&format!("The answer in figures ({}):", summary.display()), &figures(&summary)?);
    let none = [format!(
        "(no Try line in this lesson) set any parameter as in the file: cargo run --release -- run {} --set PATH=VALUE \
         --out /tmp/{}-try",
        Path::new("scenarios").join(format!("{}.toml", lesson.name)).display(),
        lesson.name
    )];
    section("Try:", if lesson.tries.is_empty() { &none } else { &lesson.tries });
    Ok(out)
}

/// The headline figures of a committed `summary.json`, one row per metric that is not 0 in every
/// system, a column per system.
fn figures(path: &Path) -> Result<Vec<String>, StudyError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(vec!["no committed results; run the lesson (pushpull run) to make them".into()]);
        }
        Err(e) => {
            return Err(StudyError::Input(format!(
                "{}: cannot read: {}",
                errtext::path(&path.display().to_string()),
                errtext::message(&e.to_string())
            )));
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        StudyError::Input(format!(
            "{}: not a summary.json: {}",
            errtext::path(&path.display().to_string()),
            errtext::message(&e.to_string())
        ))
    })?;
    let systems: Vec<(&String, &serde_json::Value)> =
        v.get("systems").and_then(|s| s.as_object()).map(|m| m.iter().collect()).unwrap_or_default();
    let width = HEADLINE.iter().map(|m| m.name.len()).max().unwrap_or(0);
    let mut out = vec![format!(
        "{:width$}{}",
        "",
        systems.iter().map(|(name, _)| format!("{name:>14}")).collect::<String>(),
        width = width
    )];
    for m in HEADLINE {
        let values: Vec<Option<f64>> = systems.iter().map(|(_, f)| value(f, m.name).and_then(|n| n.as_f64())).collect();
        if values.iter().all(|v| v.is_none_or(|x| x == 0.0)) {
            continue;
        }
        let cells: String = values.iter().map(|v| format!("{:>14}", v.map_or_else(|| "n/a".into(), number))).collect();
        out.push(format!("{:width$}{cells}   {}", m.name, m.words, width = width));
    }
    Ok(out)
}

/// A figure for reading: whole numbers with thousands separators, others with 4 significant digits.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let s = crate::report::table::thousands(x.abs() as u64);
        if x < 0.0 { format!("-{s}") } else { s }
    } else if x.abs() >= 1000.0 {
        crate::report::table::thousands(x.round() as u64)
    } else {
        let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_question_story_look_at_and_tries() {
        let text = "# LESSON: pooling. Why is the\n# queue faster?\n#\n# RabbitMQ pools.\n# Kafka does not. Look at\n# wait_ms.\n#\n# More.\n# The command below writes into /tmp.\n# Try prefetch 0:\n#   pushpull run x\n\nname = \"x\"\n";
        let l = parse("pooling", Path::new("p.toml"), text).unwrap();
        assert_eq!(l.question, "pooling. Why is the queue faster?");
        assert_eq!(l.story, ["RabbitMQ pools.", "Kafka does not.", "", "More."]);
        assert_eq!(l.look_at, ["Look at wait_ms."]);
        assert_eq!(l.tries, ["The command below writes into /tmp.", "Try prefetch 0:", "  pushpull run x"]);
        assert!(parse("x", Path::new("x.toml"), "# just a file\nname = \"x\"\n").is_none());
        assert_eq!(number(431208.0), "431,208");
        assert_eq!(number(39.927905), "39.93");
        assert_eq!(number(0.705608), "0.7056");
    }
}
