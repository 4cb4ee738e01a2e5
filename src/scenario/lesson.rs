//! A lesson's text: the comment block at the top of a scenario file, `# LESSON: TOPIC. QUESTION`
//! (the first paragraph is the question), then what happens, a paragraph starting `Look at`, then
//! the `Try ...` paragraphs. Read when the scenario is loaded ([`super::Scenario::lesson`]), for
//! `pushpull list`, `explain` and the HTML report.

use std::path::{Path, PathBuf};

/// A lesson's text, from its scenario file's comments.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// The file name without `.toml`.
    pub name: String,
    pub file: PathBuf,
    /// The first paragraph, on one line, without `LESSON: `.
    pub question: String,
    /// What happens (the paragraphs between the question and the `Try` lines), without `look_at`.
    pub story: Vec<String>,
    /// From `Look at` to the end of its paragraph (empty when the lesson has none).
    pub look_at: Vec<String>,
    /// From the first `Try` (or the note about /tmp before it) to the end of the block.
    pub tries: Vec<String>,
}

/// Reads a lesson from its scenario text; `None` when the file does not start with `# LESSON:`.
pub fn parse(name: &str, file: &Path, text: &str) -> Option<Lesson> {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')).trim_end())
        .collect();
    let first = lines.first()?.strip_prefix("LESSON:")?;
    let end = lines.iter().position(|l| l.is_empty()).unwrap_or(lines.len());
    let question =
        std::iter::once(first.trim()).chain(lines[1..end].iter().map(|l| l.trim())).collect::<Vec<_>>().join(" ");
    let rest: Vec<String> = lines[end..].iter().map(|l| l.to_string()).collect();
    let try_at = rest.iter().position(|l| l.starts_with("Try ")).unwrap_or(rest.len());
    // The note that the commands write into /tmp goes with them.
    let try_at = if try_at > 0 && rest[try_at - 1].starts_with("The command") { try_at - 1 } else { try_at };
    let (body, tries) = rest.split_at(try_at);
    let mut story: Vec<String> = body.to_vec();
    let mut look_at = Vec::new();
    if let Some(i) = story.iter().position(|l| l.contains("Look at")) {
        let end = story[i..].iter().position(|l| l.is_empty()).map_or(story.len(), |n| i + n);
        let at = story[i].find("Look at").expect("found above");
        look_at.push(story[i][at..].to_string());
        look_at.extend(story[i + 1..end].iter().cloned());
        if look_at.len() > 1 && look_at[0] == "Look at" {
            // The words broke at the end of a line: one line reads better.
            let next = look_at.remove(1);
            look_at[0] = format!("Look at {next}");
        }
        let before = story[i][..at].trim_end().to_string();
        story.splice(i..end, (!before.is_empty()).then_some(before));
    }
    let trim = |v: &mut Vec<String>| {
        while v.first().is_some_and(|l| l.is_empty()) {
            v.remove(0);
        }
        while v.last().is_some_and(|l| l.is_empty()) {
            v.pop();
        }
    };
    trim(&mut story);
    let mut tries = tries.to_vec();
    trim(&mut tries);
    Some(Lesson { name: name.to_string(), file: file.to_path_buf(), question, story, look_at, tries })
}
