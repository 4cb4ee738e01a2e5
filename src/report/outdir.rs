//! A scenario's output folder, replaced as a whole set.
//!
//! Before anything is simulated, [`preflight`] resolves every output folder of the command, refuses
//! two scenarios writing into the same one, refuses a folder path that is a symbolic link or a file,
//! or whose name is too long, and creates a fresh staging folder for each (which proves that the
//! place is writable). Every output of the scenario (`history-*.jsonl` during the run, then
//! `summary.json`, `timeseries.csv`, charts) is written into the staging folder, and
//! [`Staging::commit`] then puts the set in place:
//!
//! * **Swap** (the usual case: the folder does not exist yet, or holds nothing but pushpull
//!   outputs, their leftover temporary files and replications' folders `rep-N/` holding only
//!   such files, [`is_output_name`], [`is_leftover_temp`], [`is_replication_dir`]): the
//!   staging folder `PARENT/.pushpull-NAME~XXXXXX/` (private, unpredictable name) holds the new
//!   set in `new/`; the old folder is renamed to `.pushpull-NAME~XXXXXX/old`, `new/`
//!   is renamed to `PARENT/NAME`, and the staging folder, with the old set, is removed. A run killed
//!   between the two renames leaves `PARENT/NAME` missing and both sets in the staging folder; the
//!   next run into the same folder puts the old set back before it starts (and any other leftover
//!   staging folder of that name is removed). At no moment does `PARENT/NAME` hold files of two runs.
//! * **File by file** (the folder holds other files or folders, is the current directory or holds
//!   it, its parent is not writable, or the folder itself cannot be renamed, as at a mount point):
//!   nothing but our own output names is touched. Each file is renamed in from the staging folder
//!   (a rename replaces a symlink, never follows it); `summary.json` is removed first and renamed in
//!   last, so a `summary.json` always belongs to the files beside it; outputs of an earlier run that
//!   this run did not write (history, charts with `--no-charts`, replications' folders) and
//!   leftover temporary files of pushpull are removed. A replication's folder `rep-N/` is renamed
//!   in whole, replacing an earlier `rep-N/` only if that holds nothing but pushpull's files.
//!
//! Before simulating, [`preflight`] also tries the swap's two renames on the real folder (moved
//! into the staging folder and back; the empty new folder when there is none yet), so a folder
//! that cannot be renamed is written file by file, and a folder that cannot be written into is
//! refused, before anything runs rather than after.
//!
//! A staging folder is removed when dropped: a failed or panicking run leaves nothing behind.

use super::ReportError;
use crate::errtext;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Staging folders are `.pushpull-NAME~` followed by this many random letters and digits.
const RANDOM_CHARS: usize = 6;
/// Longest absolute output path accepted, in bytes (PATH_MAX is 4096 on Linux; staging folders
/// and file names add up to about 300 bytes below it).
const MAX_PATH_BYTES: usize = 3500;
/// Names pushpull writes besides the charts ([`super::charts::CHART_STEMS`], `.png` and `.svg`).
const DATA_FILES: [&str; 5] =
    ["summary.json", "timeseries.csv", "history-kafka.jsonl", "history-rabbitmq.jsonl", super::html::REPORT];

/// Whether `name` is a file pushpull writes into an output folder (with any options).
pub fn is_output_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else { return false };
    DATA_FILES.contains(&name)
        || name
            .strip_suffix(".png")
            .or_else(|| name.strip_suffix(".svg"))
            .is_some_and(|stem| super::charts::CHART_STEMS.contains(&stem) || stem == super::charts::COSTED_CHART_STEM)
}

/// Whether `name` is the name of a replication's folder, `rep-N` (`--replications`).
pub fn is_replication_name(name: &OsStr) -> bool {
    name.to_str()
        .and_then(|n| n.strip_prefix("rep-"))
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) && (i == "0" || !i.starts_with('0')))
}

/// Whether `path` is a replication's folder pushpull wrote: a real folder named `rep-N` that
/// holds nothing but pushpull's output files (and their leftover temporary files).
pub fn is_replication_dir(path: &Path) -> bool {
    path.file_name().is_some_and(is_replication_name)
        && fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
        && fs::read_dir(path).is_ok_and(|entries| {
            entries.into_iter().all(|e| {
                e.is_ok_and(|e| {
                    let n = e.file_name();
                    (is_output_name(&n) || is_leftover_temp(&n)) && e.file_type().is_ok_and(|t| !t.is_dir())
                })
            })
        })
}

/// Whether `name` is a temporary file of pushpull left by a killed run: `.OUTPUT.XXXXXX.tmp`
/// ([`super::temp_file_beside`]) with OUTPUT one of pushpull's output names. Nothing else ending in
/// `.tmp` is ours (a user's `.notes.tmp` stays).
pub fn is_leftover_temp(name: &OsStr) -> bool {
    let Some(rest) = name.to_str().and_then(|n| n.strip_prefix('.')).and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    rest.rsplit_once('.').is_some_and(|(output, random)| {
        random.len() == super::TEMP_RANDOM_CHARS
            && random.bytes().all(|b| b.is_ascii_alphanumeric())
            && is_output_name(OsStr::new(output))
    })
}

/// An output folder, resolved: an absolute parent (symlinks of its existing part resolved) and
/// the folder's own name (never resolved: a symlink there is refused, not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDir {
    /// As the user wrote it, for messages.
    pub shown: PathBuf,
    parent: PathBuf,
    name: OsString,
}

impl OutputDir {
    /// Resolves `dir` without creating anything.
    pub fn resolve(dir: &Path) -> Result<OutputDir, String> {
        let abs = std::path::absolute(dir).map_err(|e| format!("cannot resolve the path: {e}"))?;
        let abs = lexical(&abs);
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Err("is a file system root; pick a folder inside it".into());
        };
        Ok(OutputDir { shown: dir.to_path_buf(), parent: canonical_prefix(parent), name: name.to_owned() })
    }

    /// The folder's absolute path.
    pub fn path(&self) -> PathBuf {
        self.parent.join(&self.name)
    }
}

/// `a/./b/../c` -> `a/c`, without touching the file system.
fn lexical(abs: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `p` with its longest existing ancestor canonicalized (symlinks resolved), the rest kept.
fn canonical_prefix(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest: Vec<OsString> = Vec::new();
    loop {
        if let Ok(mut c) = fs::canonicalize(&existing) {
            c.extend(rest.iter().rev());
            return c;
        }
        match existing.file_name() {
            Some(n) => {
                rest.push(n.to_owned());
                existing.pop();
            }
            None => return p.to_path_buf(),
        }
    }
}

/// Where one scenario's outputs are assembled before [`Staging::commit`] puts them in place.
#[derive(Debug)]
pub struct Staging {
    /// Removed (with everything in it) when dropped.
    dir: tempfile::TempDir,
    work: PathBuf,
    /// The output folder may be replaced whole: the staging folder is beside it (its parent is
    /// writable) and the swap's renames worked when tried before simulating. Otherwise file by file.
    swappable: bool,
    out: OutputDir,
}

/// One scenario of a command: its file (for messages) and its output folder.
pub struct Job<'a> {
    pub file: &'a str,
    pub dir: &'a Path,
}

/// Checks every output folder of a command and creates a staging folder for each, before
/// anything is simulated: the first problem is returned as one error naming the scenario file.
pub fn preflight(jobs: &[Job]) -> Result<Vec<Staging>, ReportError> {
    let refuse = |job: &Job, message: String| ReportError::Output {
        file: job.file.to_string(),
        path: job.dir.display().to_string(),
        message,
    };
    let mut resolved: Vec<OutputDir> = Vec::new();
    for job in jobs {
        let out = OutputDir::resolve(job.dir).map_err(|m| refuse(job, m))?;
        if let Some(i) = resolved.iter().position(|o| o.path() == out.path()) {
            let message = if jobs[i].file == job.file {
                "the scenario is given twice; its second run would overwrite the first".to_string()
            } else {
                format!(
                    "{} writes here too (both scenarios have the name {}); two scenarios of one command must \
                     not share an output folder: give one of them another `name`, or run them separately",
                    errtext::path(jobs[i].file),
                    errtext::value(&out.name.to_string_lossy())
                )
            };
            return Err(refuse(job, message));
        }
        check_names(&out).map_err(|m| refuse(job, m))?;
        resolved.push(out);
    }
    let mut stagings = Vec::new();
    for (job, out) in jobs.iter().zip(resolved) {
        let staging = Staging::create(out).map_err(|m| refuse(job, m))?;
        stagings.push(staging);
    }
    Ok(stagings)
}

fn check_names(out: &OutputDir) -> Result<(), String> {
    let name_len = out.name.len();
    if name_len > crate::scenario::MAX_NAME_BYTES {
        return Err(format!(
            "its name is {name_len} bytes long, above the limit of {} bytes; choose a shorter `name` or --out",
            crate::scenario::MAX_NAME_BYTES
        ));
    }
    let path_len = out.path().as_os_str().len();
    if path_len > MAX_PATH_BYTES {
        return Err(format!(
            "its absolute path is {path_len} bytes long, above the limit of {MAX_PATH_BYTES} bytes; choose a shorter --out"
        ));
    }
    match fs::symlink_metadata(out.path()) {
        Ok(m) if m.file_type().is_symlink() => {
            Err("is a symbolic link; pushpull writes only into a real folder (pass the folder it points to)".into())
        }
        Ok(m) if !m.is_dir() => Err("exists and is not a folder".into()),
        _ => Ok(()),
    }
}

fn staging_prefix(name: &OsStr) -> String {
    format!(".pushpull-{}~", name.to_string_lossy())
}

/// Whether `entry` is a staging folder of an output folder called `name`.
fn is_staging_of(entry: &OsStr, name: &OsStr) -> bool {
    let entry = entry.to_string_lossy();
    entry
        .strip_prefix(&staging_prefix(name))
        .is_some_and(|rest| rest.len() == RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Staging {
    /// Puts back what a run killed mid-swap left, then creates the staging folder: beside the
    /// output folder if its parent is writable, else inside it.
    fn create(out: OutputDir) -> Result<Staging, String> {
        recover(&out);
        fs::create_dir_all(&out.parent).map_err(|e| {
            let shown = out.shown.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(&out.parent);
            format!("cannot create the folder {} that holds it: {e}", shown.display())
        })?;
        let unwritable = |e: io::Error| format!("cannot write beside or in it: {e}; check that the folder is writable");
        let prefix = staging_prefix(&out.name);
        let make = |dir: &Path| tempfile::Builder::new().prefix(&prefix).rand_bytes(RANDOM_CHARS).tempdir_in(dir);
        let target = out.path();
        let (dir, inside) = match make(&out.parent) {
            Ok(d) => (d, false),
            Err(e) => match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => (make(&target).map_err(|_| unwritable(e))?, true),
                _ => return Err(unwritable(e)),
            },
        };
        let work = dir.path().join("new");
        fs::create_dir(&work).map_err(unwritable)?;
        let swappable = !inside
            && may_swap(&target)
            && match try_swap_renames(dir.path(), &work, &target) {
                Ok(renamed) => renamed,
                Err(m) => {
                    // Whatever is in the staging folder now stays, for the next run's `recover`.
                    let _ = dir.keep();
                    return Err(m);
                }
            };
        if !swappable && fs::symlink_metadata(&target).is_ok() {
            // File by file: files are created, renamed in and removed inside the folder itself.
            let probe = tempfile::Builder::new().prefix(&prefix).rand_bytes(RANDOM_CHARS).tempdir_in(&target);
            probe.and_then(|p| p.close()).map_err(|e| {
                format!("cannot write in it: {e}; check that the folder is writable (and not append-only or immutable)")
            })?;
        }
        Ok(Staging { dir, work, swappable, out })
    }

    /// The folder to write every output of the scenario into.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The output folder, as the user wrote it.
    pub fn shown(&self) -> &Path {
        &self.out.shown
    }

    /// `e` with paths inside the staging folder shown where they were going.
    pub fn relocate(&self, e: ReportError) -> ReportError {
        e.relocate(&self.work, &self.out.shown)
    }

    /// Puts the staged set in place (see the module documentation) and removes the staging folder.
    pub fn commit(self) -> Result<(), ReportError> {
        let target = self.out.path();
        let io = |path: &Path, source| ReportError::Io { path: self.relocate_path(path), source };
        if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            // Planted while simulating: refuse to write through it.
            return Err(io(&target, io::Error::other("it became a symbolic link while the scenario ran")));
        }
        if self.swappable && may_swap(&target) && self.swap(&target)? {
            sync_dir(&self.out.parent);
        } else {
            fs::create_dir_all(&target).map_err(|e| io(&target, e))?;
            let mut names: Vec<OsString> = fs::read_dir(&self.work)
                .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e| io(&self.work, e))?;
            names.sort();
            let summary = OsStr::new("summary.json");
            // A replication's folder replaces an earlier one of ours, never a folder of yours:
            // checked before anything is touched.
            for name in names.iter().filter(|n| is_replication_name(n)) {
                let to = target.join(name);
                if fs::symlink_metadata(&to).is_ok() && !is_replication_dir(&to) {
                    return Err(io(
                        &to,
                        io::Error::other("it holds files pushpull did not write; move them away and rerun"),
                    ));
                }
            }
            // summary.json goes first and comes back last: present, it belongs to the files beside it.
            remove_if_present(&target.join(summary)).map_err(|e| io(&target.join(summary), e))?;
            for name in names.iter().filter(|n| n.as_os_str() != summary) {
                let to = target.join(name);
                if is_replication_name(name) {
                    if fs::symlink_metadata(&to).is_ok() {
                        fs::remove_dir_all(&to).map_err(|e| io(&to, e))?;
                    }
                    fs::rename(self.work.join(name), &to).map_err(|e| io(&to, e))?;
                    continue;
                }
                move_file(&self.work.join(name), &to).map_err(|e| io(&to, e))?;
            }
            // Outputs of an earlier run that this one did not write (history, charts) would not
            // belong to the new summary; pushpull's own leftover temporary files go too.
            let entries: Vec<OsString> = fs::read_dir(&target)
                .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e| io(&target, e))?;
            let stale = entries.iter().filter(|n| {
                n.as_os_str() != summary
                    && ((is_output_name(n) && !names.contains(n)) || is_leftover_temp(n))
                    && fs::symlink_metadata(target.join(n)).is_ok_and(|m| !m.is_dir())
            });
            for name in stale {
                remove_if_present(&target.join(name)).map_err(|e| io(&target.join(name), e))?;
            }
            // Replications of an earlier run that this one did not make.
            for name in entries.iter().filter(|n| !names.contains(n) && is_replication_dir(&target.join(n))) {
                fs::remove_dir_all(target.join(name)).map_err(|e| io(&target.join(name), e))?;
            }
            if names.iter().any(|n| n == summary) {
                move_file(&self.work.join(summary), &target.join(summary)).map_err(|e| io(&target.join(summary), e))?;
            }
            sync_dir(&target);
        }
        // Dropping `self.dir` removes the staging folder, and the old set with it.
        Ok(())
    }

    /// The swap's two renames: the old folder into the staging folder, the new one into place.
    /// `Ok(false)`: the old folder could not be moved (it is still in place, untouched): file by
    /// file instead.
    fn swap(&self, target: &Path) -> Result<bool, ReportError> {
        let io = |path: &Path, source| ReportError::Io { path: self.relocate_path(path), source };
        let old = self.dir.path().join("old");
        let had_old = match fs::rename(target, &old) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(_) => return Ok(false),
        };
        if had_old && let Ok(m) = fs::symlink_metadata(&old) {
            // Keep the folder's mode (a shared folder's group bits, say); best effort.
            let _ = fs::set_permissions(&self.work, m.permissions());
        }
        // Killed here: `target` is missing, `old` and `new` are complete; see `recover`.
        if let Err(e) = fs::rename(&self.work, target) {
            if had_old {
                let _ = fs::rename(&old, target);
            }
            return Err(io(target, e));
        }
        Ok(true)
    }

    fn relocate_path(&self, p: &Path) -> String {
        match p.strip_prefix(&self.work) {
            Ok(rest) => self.out.shown.join(rest).display().to_string(),
            Err(_) if p == self.out.path() => self.out.shown.display().to_string(),
            Err(_) => p.display().to_string(),
        }
    }
}

/// Leftovers of a run killed mid-swap, before this run into the same folder: if the output folder
/// is missing and a staging folder holds the old set, the old set goes back; then every staging
/// folder of this output folder (beside it, or inside it) is removed. Best effort: a leftover that
/// cannot be removed is left alone.
fn recover(out: &OutputDir) {
    let target = out.path();
    for place in [&out.parent, &target] {
        let Ok(entries) = fs::read_dir(place) else { continue };
        for entry in entries.flatten() {
            if !is_staging_of(&entry.file_name(), &out.name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let leftover = entry.path();
            let old = leftover.join("old");
            if *place == out.parent
                && fs::symlink_metadata(&target).is_err()
                && fs::symlink_metadata(&old).is_ok_and(|m| m.is_dir())
            {
                let _ = fs::rename(&old, &target);
            }
            let _ = fs::remove_dir_all(&leftover);
        }
    }
}

/// Tries, before simulating, the renames that [`Staging::commit`]'s swap will do: the output folder
/// (or the empty new folder, if there is none yet) is moved between its place and the staging
/// folder, and back. `Ok(false)` if the first rename fails: the folder cannot be renamed (a mount
/// point, an append-only or immutable folder, a file system without folder renames) and is written
/// file by file.
fn try_swap_renames(staging: &Path, work: &Path, target: &Path) -> Result<bool, String> {
    if fs::symlink_metadata(target).is_err() {
        if fs::rename(work, target).is_err() {
            return Ok(false);
        }
        return fs::rename(target, work).map(|()| true).map_err(|e| {
            let _ = fs::remove_dir(target);
            format!("cannot rename a folder back from here: {e}")
        });
    }
    // The folder is away for two system calls; killed between them, the next run puts it back
    // (`recover`: `old` in a staging folder, the output folder missing).
    let old = staging.join("old");
    if fs::rename(target, &old).is_err() {
        return Ok(false);
    }
    fs::rename(&old, target).map(|()| true).map_err(|e| {
        format!("moved into {} to try a rename, it cannot be moved back: {e}; move it back by hand", old.display())
    })
}

/// Whether the output folder can be replaced whole: it does not exist, or it holds only files (or
/// symlinks) with pushpull output names and pushpull's leftover temporary files, and it is not (nor
/// holds) the current directory.
fn may_swap(target: &Path) -> bool {
    let Ok(entries) = fs::read_dir(target) else {
        return fs::symlink_metadata(target).is_err();
    };
    if let (Ok(cwd), Ok(t)) = (std::env::current_dir().and_then(fs::canonicalize), fs::canonicalize(target))
        && cwd.starts_with(&t)
    {
        return false;
    }
    entries.into_iter().all(|entry| {
        let Ok(entry) = entry else { return false };
        let name = entry.file_name();
        ((is_output_name(&name) || is_leftover_temp(&name)) && entry.file_type().is_ok_and(|t| !t.is_dir()))
            || is_replication_dir(&entry.path())
    })
}

fn remove_if_present(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Renames `from` over `to` (replacing a file or symlink there); across file systems, copies it
/// atomically instead.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let bytes = fs::read(from)?;
            super::write_atomic(to, &bytes).map_err(|e| match e {
                ReportError::Io { source, .. } => source,
                other => io::Error::other(other.to_string()),
            })
        }
        other => other,
    }
}

/// Makes renames in `dir` durable; best effort (not every platform can open a folder).
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names() {
        let name = OsStr::new("a");
        assert!(is_staging_of(OsStr::new(".pushpull-a~Ab3xY9"), name));
        assert!(!is_staging_of(OsStr::new(".pushpull-a~b~Ab3xY9"), name));
        assert!(!is_staging_of(OsStr::new(".pushpull-a~Ab3xY"), name));
        assert_eq!(lexical(Path::new("/x/./y/../z")), PathBuf::from("/x/z"));
    }

    /// Only `.OUTPUT.XXXXXX.tmp` with OUTPUT an output name is a leftover of ours.
    #[test]
    fn leftover_temporary_names() {
        let ours = |n: &str| is_leftover_temp(OsStr::new(n));
        assert!(ours(".summary.json.Ab3xY9.tmp") && ours(".consumers.svg.000000.tmp"));
        for theirs in [".draft.tmp", ".summary.json.tmp", ".summary.json.tmp.png", ".notes.txt.Ab3xY9.tmp"] {
            assert!(!ours(theirs), "{theirs}");
        }
        assert!(!ours(".summary.json.Ab3xY.tmp") && !ours(".summary.json.Ab3-Y9.tmp"));
        assert!(is_output_name(OsStr::new("latency.png")) && !is_output_name(OsStr::new("photo.png")));
    }

    /// Killed between the two renames: the old set goes back; with the folder present, the
    /// leftover is only removed.
    #[test]
    fn recover_puts_the_old_set_back() {
        let parent = tempfile::tempdir().unwrap();
        let leftover = parent.path().join(".pushpull-x~Ab3xY9");
        for part in ["old", "new"] {
            fs::create_dir_all(leftover.join(part)).unwrap();
            fs::write(leftover.join(part).join("summary.json"), part).unwrap();
        }
        let out = OutputDir::resolve(&parent.path().join("x")).unwrap();
        recover(&out);
        assert_eq!(fs::read_to_string(out.path().join("summary.json")).unwrap(), "old");
        assert!(!leftover.exists());
        fs::create_dir_all(leftover.join("old")).unwrap();
        fs::write(leftover.join("old").join("summary.json"), "older").unwrap();
        recover(&out);
        assert_eq!(fs::read_to_string(out.path().join("summary.json")).unwrap(), "old");
        assert!(!leftover.exists());
    }
}
