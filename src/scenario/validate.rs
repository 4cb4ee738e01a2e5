//! Raw file -> typed [`Scenario`]. Each check names the field, the value it found and what is
//! allowed, so that one line is enough to fix the file.

use super::compression::Codec;
use super::defaults as d;
use super::overrides::Override;
use super::policy::{Overflow, QueuePolicy};
use super::raw::*;
use super::*;
use crate::time::{DURATION_HELP, parse_duration};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

struct Ctx {
    file: String,
}

type R<T> = Result<T, ScenarioError>;

impl Ctx {
    fn err<T>(&self, field: impl Into<String>, message: impl Into<String>) -> R<T> {
        Err(ScenarioError { file: self.file.clone(), field: Some(field.into()), message: message.into() })
    }

    fn duration(&self, field: &str, text: &str) -> R<SimDuration> {
        parse_duration(text).or_else(|m| self.err(field, m))
    }

    fn opt_duration(&self, field: &str, text: &Option<String>, default: SimDuration) -> R<SimDuration> {
        match text {
            Some(t) => self.duration(field, t),
            None => Ok(default),
        }
    }

    fn int_in(&self, field: &str, v: i64, min: i64, max: i64, what: &str) -> R<i64> {
        if v < min || v > max {
            return self.err(field, format!("{v} is not allowed; {what} must be an integer from {min} to {max}"));
        }
        Ok(v)
    }

    /// A consumer's failure handling named `v`, among `all` (`system`'s, docs/failures.md).
    fn handling<T: Copy>(&self, field: &str, v: &str, all: &[(&str, T)], system: &str) -> R<T> {
        use super::failing::{named, names};
        named(all, v).map_or_else(
            || self.err(field, format!("{} is not a {system} failure handling; allowed: {}", show_name(v), names(all))),
            Ok,
        )
    }

    fn size(&self, field: &str, leaf: &Leaf, min: u64, max: u64) -> R<u64> {
        let v = match leaf {
            Leaf::Int(i) if *i >= 0 => *i as u64,
            Leaf::Text(t) => parse_size(t).or_else(|m| self.err(field, m))?,
            other => return self.err(field, format!("{} is not a size; {SIZE_HELP}", show(other))),
        };
        if v < min || v > max {
            return self.err(field, format!("{v} bytes is not allowed; must be from {min} to {max} bytes"));
        }
        Ok(v)
    }
}

const SIZE_HELP: &str = "expected a whole number of bytes or a string like \"512B\", \"1KiB\", \"4MiB\", \"1KB\"";

/// A name as it may appear in a one-line error: quoted, control characters escaped, at most 40
/// characters of it.
fn show_name(name: &str) -> String {
    let head: String = name.chars().take(40).collect();
    let more = if name.chars().count() > 40 { "..." } else { "" };
    format!("\"{}{more}\"", head.escape_debug())
}

fn show(l: &Leaf) -> String {
    match l {
        Leaf::Int(i) => i.to_string(),
        Leaf::Float(f) => f.to_string(),
        Leaf::Text(t) => format!("\"{t}\""),
        Leaf::Bool(b) => b.to_string(),
    }
}

/// Parses "1024", "1KiB", "4MiB", "1GiB", "1KB", "2MB" into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: u64 = num.replace('_', "").parse().map_err(|_| format!("\"{text}\" is not a size; {SIZE_HELP}"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        u => {
            return Err(format!("\"{text}\" has an unknown unit \"{u}\"; {SIZE_HELP}"));
        }
    };
    num.checked_mul(scale).ok_or_else(|| format!("\"{text}\" is too large"))
}

const BANDWIDTH_HELP: &str =
    "expected a rate like \"10Gbps\", \"800Mbps\" (bits per second) or \"1GB/s\", \"500MiB/s\" (bytes per second)";

/// Parses a bandwidth into bytes per second: "10Gbps", "800Mbps", "1GB/s", "500MiB/s".
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("\"{text}\" is not a bandwidth; {BANDWIDTH_HELP}");
    let per_s = if let Some(bytes) = t.strip_suffix("/s") {
        parse_size(bytes).map_err(|_| bad())?
    } else {
        let (num, scale) = [("Gbps", 1_000_000_000u64), ("Mbps", 1_000_000), ("Kbps", 1_000)]
            .iter()
            .find_map(|(u, s)| t.strip_suffix(u).map(|n| (n, *s)))
            .ok_or_else(bad)?;
        let n: f64 = num.trim().parse().map_err(|_| bad())?;
        if !(n.is_finite() && n > 0.0) {
            return Err(bad());
        }
        (n * scale as f64 / 8.0) as u64
    };
    if per_s == 0 {
        return Err(format!("\"{text}\" is not allowed; a bandwidth must be positive"));
    }
    Ok(per_s)
}

/// Largest scenario file read. Real scenarios are a few KiB; the limit bounds what a mistaken
/// path (a log, an image, a device) can cost before it is refused.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Most messages a scenario may publish, even with `--force`: message ids are packed into 40 bits
/// next to the size ([`crate::workload::StoredMessage`]); half of that leaves room for chance.
pub const MAX_MESSAGES: f64 = (1u64 << 39) as f64;

pub(super) fn load(path: &Path, sets: &[Override]) -> R<Scenario> {
    use std::io::Read;
    let file = path.display().to_string();
    let whole = |message: String| ScenarioError { file: file.clone(), field: None, message };
    // Look before reading: a FIFO would block and /dev/zero never ends.
    let meta = std::fs::metadata(path).map_err(|e| whole(format!("cannot read the file: {}", io_reason(&e))))?;
    if meta.is_dir() {
        return Err(whole("it is a directory, not a scenario file".into()));
    }
    if !meta.is_file() {
        return Err(whole(format!(
            "not a regular file ({}); a scenario is a TOML or JSON file on disk",
            special_kind(&meta.file_type())
        )));
    }
    let too_big = |len: u64| {
        whole(format!(
            "the file is {:.1} MiB ({len} bytes), above the limit of 1 MiB ({MAX_FILE_BYTES} bytes) for a scenario \
             file; is it the right file?",
            len as f64 / (1u64 << 20) as f64
        ))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| whole(format!("cannot read the file: {}", io_reason(&e))))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        // It grew between the look and the read.
        return Err(too_big(bytes.len() as u64));
    }
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&bytes, &file, json, sets)
}

fn special_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = t;
    "not a file"
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory, not a scenario file".into(),
        _ => e.to_string(),
    }
}

pub(super) fn parse(bytes: &[u8], file: &str, json: bool, sets: &[Override]) -> R<Scenario> {
    let whole = |message: String| ScenarioError { file: file.to_string(), field: None, message };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| whole("not a text file (not valid UTF-8); a scenario is a TOML or JSON file".into()))?;
    // A byte order mark (Windows editors write one) is not part of the text; the hash below is
    // still the file's, as `sha256sum` shows it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(whole("not a text file (contains NUL bytes); a scenario is a TOML or JSON file".into()));
    }
    if text.trim().is_empty() {
        return Err(whole(
            "the file is empty; a scenario needs at least `duration`, `[workload] rate` and one `[[groups]]`".into(),
        ));
    }
    let raw: RawScenario = if !sets.is_empty() {
        with_overrides(text, file, json, sets)?
    } else if json {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| path_error(file, e.path().to_string(), json_message(e.inner())))?
    } else {
        let de = toml::Deserializer::parse(text).map_err(|e| whole(toml_message(text, &e)))?;
        serde_path_to_error::deserialize(de)
            .map_err(|e| path_error(file, e.path().to_string(), toml_message(text, e.inner())))?
    };
    let mut sha = Sha256::new();
    sha.update(bytes);
    // A run with --set is another scenario: its hash says so.
    for o in sets {
        sha.update(b"\n--set ");
        sha.update(o.text.as_bytes());
    }
    let digest = sha.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let stem = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if raw.name.is_none() && !is_folder_name(&stem) {
        // The name comes from the file name: blame the file name, not a `name` field that is not there.
        return Err(whole(format!(
            "the file name {} cannot name the results folder, and the file has no `name` field; add one \
             (`name = \"...\"`: letters, digits, '-', '_' or '.', not starting with '.', at most {MAX_NAME_BYTES} \
             bytes) or rename the file",
            crate::errtext::value(&stem)
        )));
    }
    if let Some(name) = &raw.name
        && name.len() > MAX_NAME_BYTES
    {
        return Err(path_error(
            file,
            "name".into(),
            format!("{} bytes long; at most {MAX_NAME_BYTES} bytes (it names the results folder)", name.len()),
        ));
    }
    let lesson = if json { None } else { super::lesson::parse(&stem, Path::new(file), text) };
    let mut scenario = Ctx { file: file.to_string() }.scenario(raw, stem, hex).map_err(|e| blame_override(e, sets))?;
    scenario.lesson = lesson;
    scenario.overrides = sets.iter().map(|o| o.text.clone()).collect();
    let messages = scenario.expected_messages();
    if messages > MAX_MESSAGES {
        return Err(path_error(
            file,
            "duration".into(),
            format!(
                "about {messages:.2e} messages would be published, above the simulator's limit of {MAX_MESSAGES:.2e} \
                 (message ids have 40 bits), even with --force; shorten `duration` or lower `workload.rate`"
            ),
        ));
    }
    Ok(scenario)
}

/// Reads the document with the `--set` values written in. Positions in the file no longer apply, so
/// errors name the field, and the override when it is the one at fault.
fn with_overrides(text: &str, file: &str, json: bool, sets: &[Override]) -> R<RawScenario> {
    let whole = |message: String| ScenarioError { file: file.to_string(), field: None, message };
    // A TOML document is written into as JSON: one walk for both kinds of file.
    let mut doc: serde_json::Value = if json {
        serde_json::from_str(text).map_err(|e| whole(json_message(&e)))?
    } else {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| whole(toml_message(text, &e)))?;
        serde_json::to_value(table).map_err(|e| whole(e.to_string()))?
    };
    for o in sets {
        o.apply(&mut doc).map_err(whole)?;
    }
    serde_path_to_error::deserialize(doc)
        .map_err(|e| blame_override(path_error(file, e.path().to_string(), e.inner().to_string()), sets))
}

/// An error in a field that a `--set` wrote (or inside it, or in the table it added a key to) says so.
fn blame_override(mut e: ScenarioError, sets: &[Override]) -> ScenarioError {
    // `groups[1].consumers` as dotted segments; an entry's index matches its index or its name.
    let field = e.field.clone().unwrap_or_default().replace('[', ".").replace(']', "");
    let field: Vec<&str> = field.split('.').filter(|s| !s.is_empty()).collect();
    let hit = sets.iter().rev().find(|o| {
        let f = o.field();
        let f: Vec<&str> = f.split('.').collect();
        let n = f.len().min(field.len());
        n > 0 && (0..n).all(|i| f[i] == field[i] || field[i].parse::<usize>().is_ok())
    });
    if let Some(o) = hit {
        e.message = format!("{} (from {o})", e.message);
    }
    e
}

/// Longest scenario name: it becomes a folder name, next to a staging folder whose name adds 17 bytes
/// (file systems allow 255).
pub const MAX_NAME_BYTES: usize = 200;

/// The most nodes a world can address: `world::NodeId` is 16 bits (the world checks the two agree).
pub const MAX_NODES: u64 = u16::MAX as u64;

/// `[workload] producers`: each is a node (a host) of its own in both worlds.
pub const MAX_PRODUCERS: u32 = 64;

/// A name that can be a results folder: letters, digits, '-', '_', '.', not starting with '.'.
fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn path_error(file: &str, path: String, message: String) -> ScenarioError {
    let field = if path == "." || path.is_empty() { None } else { Some(path) };
    ScenarioError { file: file.to_string(), field, message }
}

/// A JSON error with its position, printed our way.
fn json_message(e: &serde_json::Error) -> String {
    format!("{} (line {}, column {})", strip_position(&e.to_string()), e.line(), e.column())
}

/// serde_json appends " at line L column C"; we print the position once, our way.
fn strip_position(s: &str) -> String {
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let mut msg = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            // toml says only "duplicate key"; its span is the key, so name it.
            if msg == "duplicate key"
                && let Some(key) = text.get(span.clone()).map(str::trim).filter(|k| !k.is_empty())
            {
                msg = format!("duplicate key `{key}`: it is set twice; keep one");
            }
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{msg} (line {line}, column {col})")
        }
        None => msg,
    }
}

impl Ctx {
    fn scenario(&self, raw: RawScenario, stem: String, sha: String) -> R<Scenario> {
        let from_file = raw.name.is_none();
        let name = raw.name.unwrap_or(stem);
        if name.chars().count() > d::MAX_NAME_CHARS {
            let hint = if from_file { " (it comes from the file name; set `name`)" } else { "" };
            return self.err(
                "name",
                format!(
                    "{} is too long ({} characters); at most {} letters, digits, '-', '_' or '.'{hint}",
                    show_name(&name),
                    name.chars().count(),
                    d::MAX_NAME_CHARS
                ),
            );
        }
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.')
        {
            return self.err(
                "name",
                format!(
                    "{} is not allowed; use letters, digits, '-', '_' or '.' (it names the results folder)",
                    show_name(&name)
                ),
            );
        }
        let seed = match raw.seed {
            None => d::SEED,
            Some(s) if s >= 0 => s as u64,
            Some(s) => {
                return self.err("seed", format!("{s} is not allowed; the seed must be a non-negative integer"));
            }
        };
        let duration = match &raw.duration {
            Some(t) => self.duration("duration", t)?,
            None => {
                return self.err("duration", format!("missing; how long producers publish, {DURATION_HELP}"));
            }
        };
        if duration.is_zero() {
            return self.err("duration", "0 is not allowed; the run must publish for a positive time");
        }
        let warmup = self.opt_duration("warmup", &raw.warmup, SimDuration::ZERO)?;
        if warmup >= duration {
            return self
                .err("warmup", format!("{warmup} is not allowed; it must be shorter than duration ({duration})"));
        }
        let drain = match &raw.drain {
            None => None,
            Some(t) if t == "unlimited" => None,
            Some(t) => Some(self.duration("drain", t)?),
        };
        let profile_name = raw.profile.as_deref().unwrap_or("ideal");
        let Some(profile) = Profile::ALL.into_iter().find(|p| p.name() == profile_name) else {
            let allowed: Vec<String> = Profile::ALL.iter().map(|p| format!("\"{}\"", p.name())).collect();
            return self
                .err("profile", format!("\"{profile_name}\" is not a profile; allowed: {}", allowed.join(", ")));
        };
        let systems = match raw.systems {
            None => SystemKind::ALL.to_vec(),
            Some(list) => {
                if list.is_empty() {
                    return self.err("systems", "empty; list at least one of \"kafka\", \"rabbitmq\"");
                }
                let mut set = BTreeSet::new();
                for (i, s) in list.iter().enumerate() {
                    let k = match s.as_str() {
                        "kafka" => SystemKind::Kafka,
                        "rabbitmq" => SystemKind::RabbitMq,
                        other => {
                            return self.err(
                                format!("systems[{i}]"),
                                format!("\"{other}\" is not a system; allowed: \"kafka\", \"rabbitmq\""),
                            );
                        }
                    };
                    if !set.insert(k) {
                        return self.err(format!("systems[{i}]"), format!("\"{s}\" is listed twice"));
                    }
                }
                set.into_iter().collect()
            }
        };
        let check = super::routing::Check { file: &self.file };
        let mut subscriptions = Vec::new();
        for (i, g) in raw.groups.iter().flatten().enumerate() {
            subscriptions.push(check.subscription(i, g)?);
        }
        let any_subscription = subscriptions.iter().any(|s| !s.is_default());
        let raw_workload = raw.workload;
        let routing_fields = raw_workload.as_ref().map(|w| RawWorkload {
            exchange: w.exchange.clone(),
            routing_keys: w.routing_keys.clone(),
            headers: w.headers.clone(),
            ..RawWorkload::default()
        });
        let workload = self.workload(raw_workload, duration)?;
        let groups: Vec<Group> = self
            .groups(raw.groups)?
            .into_iter()
            .zip(subscriptions)
            .map(|(g, subscription)| Group { subscription, ..g })
            .collect();
        let group_names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let routing =
            check.routing(raw.exchanges, raw.bindings, routing_fields.as_ref(), &group_names, any_subscription)?;
        let cluster = raw.cluster.unwrap_or_default();
        let brokers = match cluster.brokers {
            None => d::CLUSTER_BROKERS,
            Some(b) => self.int_in("cluster.brokers", b, 1, d::MAX_BROKERS as i64, "the number of brokers")? as u32,
        };
        let body = self.body(profile, &cluster)?;
        let rebalance_set = raw.kafka.as_ref().and_then(|k| {
            k.assignor.as_ref().map(|_| "kafka.assignor").or(k.group_protocol.as_ref().map(|_| "kafka.group_protocol"))
        });
        let kafka = self.kafka(raw.kafka.unwrap_or_default(), brokers)?;
        let mut workload = workload;
        if !kafka.compression_type.is_none() {
            // Kafka 0.8's compression wrapped a batch in one message that the broker decompressed
            // and recompressed to assign offsets: another mechanism, not simulated.
            if body.is_some_and(|b| b.kafka.v0_record_overhead.is_some()) && systems.contains(&SystemKind::Kafka) {
                return self.err(
                    "kafka.compression_type",
                    format!(
                        "\"{}\" is not simulated with profile \"{}\": it models Kafka 0.8's message format, whose \
                         compression (a wrapper message the broker recompressed) differs from the v2 record batch's; \
                         use profile = \"omb-2020\" (with [cluster] nic = \"1Gbps\" for kreps-2014's network)",
                        kafka.compression_type.name(),
                        profile.name()
                    ),
                );
            }
            workload.compression_ratio = Some(workload.compression_ratio.unwrap_or(d::COMPRESSION_RATIO));
        }
        // Share groups: what they do not have, or what is not simulated with them yet.
        if systems.contains(&SystemKind::Kafka)
            && let Some(field) = rebalance_set
            && groups.iter().all(|g| g.kind == GroupKind::Share)
        {
            {
                return self.err(
                    field,
                    "applies to consumer groups only, and every group here is a share group (type = \"share\"), \
                     whose coordinator always uses the simple assignor; remove it",
                );
            }
        }
        // `KafkaProducer.ensureValidRecordSize`: a record larger than the whole buffer can never be
        // sent ("larger than the total memory buffer you have configured with the buffer.memory
        // configuration"). A record of a size distribution is left to block and fail in `send()`.
        if let Dist::Constant(bytes) = workload.message_bytes
            && bytes as u64 + 128 > kafka.buffer_memory
            && systems.contains(&SystemKind::Kafka)
        {
            return self.err(
                "kafka.buffer_memory",
                format!(
                    "{} bytes is not allowed with workload.message_bytes = {bytes}: a record with Kafka's framing                      (up to 128 bytes more) is larger than the producer's whole buffer, and KafkaProducer refuses                      every send (RecordTooLargeException); use at least {} bytes, or leave it out (32 MiB)",
                    kafka.buffer_memory,
                    bytes as u64 + 128
                ),
            );
        }
        // Kafka refuses a record without a key on a compacted topic (`LogValidator.validateKey`:
        // "Compacted topic cannot accept message without key").
        if kafka.cleanup_policy.compacts() && workload.keys == Keys::None && systems.contains(&SystemKind::Kafka) {
            return self.err(
                "kafka.cleanup_policy",
                format!(
                    "\"{}\" is not allowed with workload.keys = \"none\": Kafka refuses records without a key on a \
                     compacted topic; use \"delete\" or give the workload keys (keys = {{ count = N }})",
                    if kafka.cleanup_policy == CleanupPolicy::Compact { "compact" } else { "compact,delete" }
                ),
            );
        }
        let default_latency = match profile {
            Profile::Ideal => SimDuration::ZERO,
            Profile::Lan => d::LAN_LATENCY,
            Profile::Omb2020 | Profile::Kreps2014 | Profile::Rabbitmq2024 => {
                body.map_or(SimDuration::ZERO, |b| b.latency)
            }
        };
        let network = NetworkConfig {
            latency: self.opt_duration("network.latency", &raw.network.unwrap_or_default().latency, default_latency)?,
        };
        if kafka.fetch_max_wait.is_zero() && network.latency.is_zero() && systems.contains(&SystemKind::Kafka) {
            return self.err(
                "kafka.fetch_max_wait",
                "0 is not allowed with a zero network latency: an idle consumer would poll again and again without \
                 simulated time passing; use at least \"1ms\" or set [network] latency",
            );
        }
        let sample_interval = match &raw.sample_interval {
            Some(t) => {
                let s = self.duration("sample_interval", t)?;
                if s.is_zero() || duration.0 / s.0 > 1_000_000 {
                    return self.err(
                        "sample_interval",
                        format!("{s} is not allowed; it must be positive and give at most 10^6 samples over duration"),
                    );
                }
                s
            }
            None => nice_interval(duration),
        };
        let raw_rabbitmq = raw.rabbitmq.unwrap_or_default();
        self.alarm_fields(&raw_rabbitmq, profile, body.is_some())?;
        let rabbitmq = self.rabbitmq(raw_rabbitmq, brokers)?;
        let group_sizes: Vec<(String, u32)> = groups.iter().map(|g| (g.name.clone(), g.consumers)).collect();
        let faults = super::faults::validate(
            &self.file,
            raw.faults.unwrap_or_default(),
            brokers,
            &group_sizes,
            workload.producers,
            duration,
        )?;
        // Kafka clients give up on a request after request.timeout.ms (30 s) and the coordinator on
        // a member after session.timeout.ms (45 s); RabbitMQ closes a connection whose heartbeats
        // stop for 60 s and a delivery unacknowledged for consumer_timeout. A longer round trip
        // cannot work at all in either system.
        if network.latency > d::MAX_LATENCY {
            return self.err(
                "network.latency",
                format!(
                    "{} one way is not allowed: Kafka times out requests after 30 s and group sessions after \
                     45 s, RabbitMQ connections after 60 s without heartbeats, so nothing would work; use at most {}",
                    network.latency,
                    d::MAX_LATENCY
                ),
            );
        }
        // RabbitMQ closes the channel of a delivery unacknowledged for `consumer_timeout`: a message
        // that takes longer to process would be requeued and processed again, forever.
        if systems.contains(&SystemKind::RabbitMq) && rabbitmq.manual_ack {
            for (i, g) in groups.iter().enumerate() {
                if g.processing.mean() > rabbitmq.consumer_timeout.as_secs_f64() {
                    return self.err(
                        format!("groups[{i}].processing"),
                        format!(
                            "group \"{}\": {:.0} s per message is longer than RabbitMQ's consumer_timeout ({}): \
                             the channel would be closed and the message redelivered forever; use ack = \"auto\" \
                             or shorter processing",
                            g.name,
                            g.processing.mean(),
                            rabbitmq.consumer_timeout
                        ),
                    );
                }
            }
        }
        if systems.contains(&SystemKind::Kafka)
            && let Some(gi) = groups.iter().position(|g| g.kind == GroupKind::Share)
            && let Some(i) = faults.iter().position(|f| {
                f.action == super::faults::FaultAction::Partition
                    || matches!(
                        f.target,
                        Some(super::faults::FaultTarget::Broker(_) | super::faults::FaultTarget::Leader)
                    )
            })
        {
            return self.err(
                "faults",
                format!(
                    "step {i} of the schedule (a broker crash or a network partition) is not simulated with a share \
                     group (\"{}\"): its share-partition state would have to move to the new leader \
                     (__share_group_state); fault its consumers or the producer, or make it type = \"consumer\"",
                    groups[gi].name
                ),
            );
        }
        if drain.is_none()
            && let Some(g) = super::faults::group_without_consumers(&faults, &group_sizes)
        {
            return self.err(
                "faults",
                format!(
                    "group \"{}\" has no running consumer when the schedule ends, so the run could never drain; \
                     restart or resume one, or set `drain` to a duration",
                    groups[g].name
                ),
            );
        }
        let mut groups = groups;
        for (i, g) in groups.iter().enumerate() {
            if SimDuration(g.start.0) >= duration {
                return self.err(
                    format!("groups[{i}].start"),
                    format!(
                        "{} is not allowed; a group must start before duration ({duration}), while producers publish",
                        SimDuration(g.start.0)
                    ),
                );
            }
        }
        let plans: Vec<super::operations::GroupPlan<'_>> = groups
            .iter()
            .map(|g| super::operations::GroupPlan { name: &g.name, consumers: g.consumers, start: g.start })
            .collect();
        let latest_at = drain.map(|d| SimTime(duration.0).after(d));
        let (operations, most) =
            super::operations::validate(&self.file, raw.operations.unwrap_or_default(), &plans, latest_at)?;
        for (g, m) in groups.iter_mut().zip(most) {
            g.max_consumers = m;
        }
        // Every broker, producer and consumer is a node of the network, with Kafka's coordinator
        // besides, each addressed by a 16-bit id (`world::NodeId`).
        let consumers = groups.iter().map(|g| u64::from(g.max_consumers)).sum::<u64>();
        let producers = u64::from(workload.producers);
        let nodes = u64::from(brokers) + producers + 1 + consumers;
        if nodes > MAX_NODES {
            return self.err(
                "groups",
                format!(
                    "{consumers} consumers in all (counting scale-outs), {producers} producer(s) and {brokers} \
                     broker(s) make {nodes} nodes; at most {MAX_NODES} are allowed; use fewer consumers"
                ),
            );
        }
        if rabbitmq.queue_type == QueueType::Stream && systems.contains(&SystemKind::RabbitMq) {
            // `rabbit_stream_queue:consume/3` refuses both.
            if !rabbitmq.manual_ack {
                return self.err(
                    "rabbitmq.ack",
                    "\"auto\" is not allowed with queue_type = \"stream\": RabbitMQ refuses automatic \
                     acknowledgement on a stream (not_implemented); use \"manual\"",
                );
            }
            if rabbitmq.prefetch == 0 {
                return self.err(
                    "rabbitmq.prefetch",
                    "0 (unlimited, the default) is not allowed with queue_type = \"stream\": RabbitMQ refuses a stream \
                     consumer without a prefetch count (precondition_failed), which is its credit; set 1 or more",
                );
            }
        }
        if rabbitmq.queue_type == QueueType::Stream
            && systems.contains(&SystemKind::RabbitMq)
            && let Some(i) = faults.iter().position(|f| f.action == super::faults::FaultAction::Partition)
        {
            return self.err(
                "faults",
                format!(
                    "partition (step {i} of the schedule) is not simulated yet with rabbitmq.queue_type = \"stream\"; \
                     use crash and restart, queue_type \"classic\" or \"quorum\", or systems = [\"kafka\"]"
                ),
            );
        }
        if faults.iter().any(|f| f.action == super::faults::FaultAction::Partition)
            && drain.is_none()
            && !super::faults::healed_at_end(&faults)
        {
            return self.err(
                "faults",
                "a partition is still in effect when the schedule ends, so the run could never drain; heal it (or \
                 give it a `duration`), or set `drain` to a duration",
            );
        }
        if routing.is_some() {
            if rabbitmq.queue_type == QueueType::Stream && systems.contains(&SystemKind::RabbitMq) {
                return self.err(
                    "rabbitmq.queue_type",
                    "\"stream\" is not simulated with exchanges, bindings or routing keys yet (every group reads the \
                     one stream); use \"classic\" or \"quorum\", or remove the routing",
                );
            }
            if systems.contains(&SystemKind::Kafka)
                && let Some(i) = groups.iter().position(|g| g.kind == GroupKind::Share)
            {
                return self.err(
                    format!("groups[{i}].type"),
                    "\"share\" is not simulated with routing keys or Kafka subscriptions yet; use \"consumer\", or \
                     remove the routing",
                );
            }
        }
        self.queue_policies(&groups, routing.as_ref(), &rabbitmq, &systems)?;
        self.rabbitmq_failures(&groups, &rabbitmq, &systems, drain)?;
        self.max_ages_need_kafka(&groups, &systems)?;
        let scenario = Scenario {
            name,
            description: raw.description.unwrap_or_default(),
            seed,
            duration,
            warmup,
            drain,
            sample_interval,
            sample_interval_set: raw.sample_interval.is_some(),
            profile,
            body,
            systems,
            workload,
            groups,
            kafka,
            rabbitmq,
            network,
            brokers,
            faults,
            operations,
            routing,
            source_sha256: sha,
            lesson: None,
            overrides: Vec::new(),
        };
        Ok(scenario)
    }

    /// The profile's body with the `[cluster]` overrides; overrides need a profile with a body.
    fn body(&self, profile: Profile, c: &RawCluster) -> R<Option<hardware::Body>> {
        let set = [
            ("cluster.cores", c.cores.is_some()),
            ("cluster.nic", c.nic.is_some()),
            ("cluster.disk", c.disk.is_some()),
            ("cluster.fsync", c.fsync.is_some()),
            ("cluster.page_cache", c.page_cache.is_some()),
            ("cluster.dirty_limit", c.dirty_limit.is_some()),
            ("cluster.ram", c.ram.is_some()),
            ("cluster.disk_size", c.disk_size.is_some()),
        ];
        let Some(mut body) = profile.body() else {
            if let Some((field, _)) = set.iter().find(|(_, s)| *s) {
                return self.err(
                    *field,
                    format!(
                        "applies only to a profile whose nodes have resources, and profile \"{}\" is costless; set \
                         profile = \"omb-2020\", \"kreps-2014\" or \"rabbitmq-2024\"",
                        profile.name()
                    ),
                );
            }
            return Ok(None);
        };
        let hw = &mut body.hardware;
        if let Some(n) = c.cores {
            hw.cores = self.int_in("cluster.cores", n, 1, 1024, "the number of cores per node")? as u32;
        }
        if let Some(t) = &c.nic {
            hw.nic_bytes_per_s = parse_bandwidth(t).or_else(|m| self.err("cluster.nic", m))?;
        }
        if let Some(t) = &c.disk {
            hw.disk_bytes_per_s = parse_bandwidth(t).or_else(|m| self.err("cluster.disk", m))?;
        }
        if let Some(t) = &c.fsync {
            hw.fsync = self.duration("cluster.fsync", t)?;
        }
        if let Some(l) = &c.page_cache {
            hw.page_cache_bytes = self.size("cluster.page_cache", l, 0, 1 << 50)?;
        }
        if let Some(l) = &c.dirty_limit {
            hw.dirty_limit_bytes = self.size("cluster.dirty_limit", l, 0, 1 << 50)?;
        }
        if let Some(l) = &c.ram {
            hw.ram_bytes = self.size("cluster.ram", l, 1 << 20, 1 << 50)?;
        }
        if let Some(l) = &c.disk_size {
            hw.disk_size_bytes = self.size("cluster.disk_size", l, 1 << 20, 1 << 60)?;
        }
        Ok(Some(body))
    }

    fn workload(&self, raw: Option<RawWorkload>, duration: SimDuration) -> R<Workload> {
        let Some(raw) = raw else {
            return self.err("workload", "missing; a scenario needs a [workload] table with at least `rate`");
        };
        let rate = match raw.rate {
            Some(r) => self.rate("workload.rate", r)?,
            None => {
                return self.err("workload.rate", "missing; messages per second, all producers together");
            }
        };
        let mut phases = vec![Phase { at: SimTime::ZERO, rate }];
        for (i, p) in raw.phases.unwrap_or_default().iter().enumerate() {
            let field = format!("workload.phases[{i}]");
            let at = self.duration(&format!("{field}.at"), &p.at)?;
            let rate = self.rate(&format!("{field}.rate"), p.rate)?;
            let last = phases.last().map_or(SimTime::ZERO, |p| p.at);
            if SimTime(at.0) <= last {
                return self.err(
                    format!("{field}.at"),
                    format!("{at} is not allowed; phases must start in increasing order after 0"),
                );
            }
            if at >= duration {
                return self.err(
                    format!("{field}.at"),
                    format!("{at} is not allowed; a phase must start before duration ({duration})"),
                );
            }
            phases.push(Phase { at: SimTime(at.0), rate });
        }
        if phases.iter().all(|p| p.rate == 0.0) {
            return self.err("workload.rate", "0 everywhere; at least one phase must publish (rate > 0)");
        }
        let arrivals = match raw.arrivals.as_deref().unwrap_or("poisson") {
            "poisson" => Arrivals::Poisson,
            "constant" => Arrivals::Constant,
            other => {
                return self.err(
                    "workload.arrivals",
                    format!("\"{other}\" is not allowed; allowed: \"poisson\", \"constant\""),
                );
            }
        };
        let message_bytes = match raw.message_bytes {
            None => Dist::Constant(1024.0),
            Some(ScalarOrTable::Scalar(l)) => {
                Dist::Constant(self.size("workload.message_bytes", &l, 1, d::MAX_MESSAGE_BYTES)? as f64)
            }
            Some(ScalarOrTable::Table(t)) => self.dist("workload.message_bytes", &t, Unit::Bytes)?,
        };
        let keys = match raw.keys {
            None => Keys::None,
            Some(ScalarOrTable::Scalar(Leaf::Text(t))) if t == "none" => Keys::None,
            Some(ScalarOrTable::Scalar(l)) => {
                return self.err("workload.keys", format!("{} is not allowed; use \"none\" or a table {{ count = N, distribution = \"uniform\" | \"zipf\" }}", show(&l)));
            }
            Some(ScalarOrTable::Table(t)) => self.keys(&t)?,
        };
        let mut priorities = BTreeMap::new();
        for (k, &w) in raw.priorities.iter().flatten() {
            let field = format!("workload.priorities.{k:?}");
            let Some(p) = k.parse::<u8>().ok() else {
                return self.err(
                    field,
                    "is not a message priority; the keys are AMQP priorities, integers from 0 to 255 (\"0\" = 0.9)",
                );
            };
            if !w.is_finite() || w <= 0.0 {
                return self.err(field, format!("{w} is not allowed; a weight is a finite number > 0"));
            }
            if priorities.insert(p, w).is_some() {
                return self.err(field, format!("priority {p} is listed twice"));
            }
        }
        if raw.priorities.is_some() && priorities.is_empty() {
            return self
                .err("workload.priorities", "is empty; give at least one priority and its weight, or remove it");
        }
        let compression_ratio = match raw.compression_ratio {
            None => None,
            Some(r) if r.is_finite() && (1.0..=1000.0).contains(&r) => Some(r),
            Some(r) => {
                return self.err(
                    "workload.compression_ratio",
                    format!(
                        "{r} is not allowed; zstd's ratio on the payload (uncompressed / compressed), a number \
                         from 1 (incompressible) to 1000"
                    ),
                );
            }
        };
        let producers = match raw.producers {
            None => 1,
            Some(n) if (1..=MAX_PRODUCERS).contains(&n) => n,
            Some(n) => {
                return self.err(
                    "workload.producers",
                    format!(
                        "{n} is not allowed; producer clients, each on its own host, sharing the rate: 1 to \
                         {MAX_PRODUCERS}"
                    ),
                );
            }
        };
        Ok(Workload { phases, arrivals, message_bytes, keys, priorities, compression_ratio, producers })
    }

    fn rate(&self, field: &str, r: f64) -> R<f64> {
        if !r.is_finite() || r < 0.0 {
            return self.err(field, format!("{r} is not allowed; a rate is messages per second, a finite number >= 0"));
        }
        if r > 1e9 {
            return self.err(field, format!("{r} is not allowed; at most 10^9 messages per second"));
        }
        Ok(r)
    }

    fn keys(&self, t: &BTreeMap<String, Leaf>) -> R<Keys> {
        let f = "workload.keys";
        self.only(f, t, &["count", "distribution", "exponent"])?;
        let dist = match t.get("distribution") {
            None => "uniform".to_string(),
            Some(Leaf::Text(s)) => s.clone(),
            Some(l) => {
                return self.err(
                    format!("{f}.distribution"),
                    format!("{} is not allowed; allowed: \"uniform\", \"zipf\"", show(l)),
                );
            }
        };
        let count = match t.get("count") {
            Some(&Leaf::Int(c)) => {
                self.int_in(&format!("{f}.count"), c, 1, 1 << 40, "the number of distinct keys")? as u64
            }
            Some(l) => {
                return self.err(
                    format!("{f}.count"),
                    format!("{} is not allowed; the number of distinct keys, an integer >= 1", show(l)),
                );
            }
            None => return self.err(format!("{f}.count"), "missing; the number of distinct keys"),
        };
        match dist.as_str() {
            "uniform" => {
                if t.contains_key("exponent") {
                    return self.err(format!("{f}.exponent"), "only allowed with distribution = \"zipf\"");
                }
                Ok(Keys::Uniform { count })
            }
            "zipf" => {
                let exponent = match t.get("exponent") {
                    None => 1.0,
                    Some(l) => self.number(&format!("{f}.exponent"), l)?,
                };
                if exponent <= 0.0 || exponent > 10.0 {
                    return self.err(
                        format!("{f}.exponent"),
                        format!("{exponent} is not allowed; the Zipf exponent must be > 0 and <= 10"),
                    );
                }
                Ok(Keys::Zipf { count, exponent })
            }
            other => self.err(
                format!("{f}.distribution"),
                format!("\"{other}\" is not allowed; allowed: \"uniform\", \"zipf\""),
            ),
        }
    }

    fn only(&self, field: &str, t: &BTreeMap<String, Leaf>, allowed: &[&str]) -> R<()> {
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                return self
                    .err(format!("{field}.{k}"), format!("unknown field; allowed here: {}", allowed.join(", ")));
            }
        }
        Ok(())
    }

    fn number(&self, field: &str, l: &Leaf) -> R<f64> {
        match l {
            Leaf::Int(i) => Ok(*i as f64),
            Leaf::Float(x) if x.is_finite() => Ok(*x),
            other => self.err(field, format!("{} is not a number", show(other))),
        }
    }

    /// A quantity in the unit of the distribution: seconds (from a duration string) or bytes.
    fn quantity(&self, field: &str, l: &Leaf, unit: Unit) -> R<f64> {
        match unit {
            Unit::Seconds => match l {
                Leaf::Text(t) => Ok(self.duration(field, t)?.as_secs_f64()),
                other => self.err(field, format!("{} is not a duration; expected {DURATION_HELP}", show(other))),
            },
            Unit::Bytes => Ok(self.size(field, l, 0, d::MAX_MESSAGE_BYTES)? as f64),
        }
    }

    fn dist(&self, field: &str, t: &BTreeMap<String, Leaf>, unit: Unit) -> R<Dist> {
        let kind = match t.get("distribution") {
            Some(Leaf::Text(s)) => s.as_str(),
            Some(l) => {
                return self.err(format!("{field}.distribution"), format!("{} is not allowed; {DIST_HELP}", show(l)));
            }
            None => {
                return self.err(format!("{field}.distribution"), format!("missing; {DIST_HELP}"));
            }
        };
        let get = |k: &str| -> R<f64> {
            match t.get(k) {
                Some(l) => self.quantity(&format!("{field}.{k}"), l, unit),
                None => self.err(format!("{field}.{k}"), format!("missing; distribution \"{kind}\" needs it")),
            }
        };
        let dist = match kind {
            "constant" => {
                self.only(field, t, &["distribution", "value"])?;
                Dist::Constant(get("value")?)
            }
            "exponential" => {
                self.only(field, t, &["distribution", "mean"])?;
                Dist::Exponential { mean: get("mean")? }
            }
            "uniform" => {
                self.only(field, t, &["distribution", "min", "max"])?;
                let (min, max) = (get("min")?, get("max")?);
                if min > max {
                    return self.err(format!("{field}.min"), "must not be larger than max");
                }
                Dist::Uniform { min, max }
            }
            "lognormal" => {
                self.only(field, t, &["distribution", "mean", "stddev"])?;
                Dist::LogNormal { mean: get("mean")?, stddev: get("stddev")? }
            }
            other => {
                return self.err(format!("{field}.distribution"), format!("\"{other}\" is not allowed; {DIST_HELP}"));
            }
        };
        let positive_mean = match dist {
            Dist::Exponential { mean } | Dist::LogNormal { mean, .. } => mean > 0.0,
            _ => true,
        };
        if !positive_mean {
            return self.err(format!("{field}.mean"), "must be greater than zero");
        }
        if unit == Unit::Bytes && dist.mean() < 1.0 {
            return self.err(field.to_string(), "a message must have at least 1 byte on average");
        }
        Ok(dist)
    }

    fn groups(&self, raw: Option<Vec<RawGroup>>) -> R<Vec<Group>> {
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            return self.err("groups", "missing; add at least one [[groups]] table (a consumer group / a queue)");
        }
        let mut names = BTreeSet::new();
        let mut groups = Vec::new();
        for (i, g) in raw.into_iter().enumerate() {
            let f = format!("groups[{i}]");
            if g.name.chars().count() > d::MAX_NAME_CHARS {
                return self.err(
                    format!("{f}.name"),
                    format!(
                        "{} is too long ({} characters); at most {} letters, digits, '-', '_' or '.' (the name is \
                         repeated on every row of timeseries.csv)",
                        show_name(&g.name),
                        g.name.chars().count(),
                        d::MAX_NAME_CHARS
                    ),
                );
            }
            if g.name.is_empty() || !g.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return self.err(
                    format!("{f}.name"),
                    format!("{} is not allowed; use letters, digits, '-', '_' or '.'", show_name(&g.name)),
                );
            }
            if !names.insert(g.name.clone()) {
                return self
                    .err(format!("{f}.name"), format!("\"{}\" is used by two groups; names must be unique", g.name));
            }
            let policy = self.queue_policy(&f, &g)?;
            let failures = self.failure_policy(&f, &g)?;
            let consumers = self.int_in(
                &format!("{f}.consumers"),
                g.consumers.unwrap_or(1),
                1,
                100_000,
                "the number of consumers",
            )? as u32;
            let processing = match g.processing {
                None => Dist::Constant(0.0),
                Some(ScalarOrTable::Scalar(l)) => {
                    Dist::Constant(self.quantity(&format!("{f}.processing"), &l, Unit::Seconds)?)
                }
                Some(ScalarOrTable::Table(t)) => self.dist(&format!("{f}.processing"), &t, Unit::Seconds)?,
            };
            let start = match &g.start {
                None => SimTime::ZERO,
                Some(t) => SimTime(self.duration(&format!("{f}.start"), t)?.0),
            };
            let from = match &g.from {
                None => None,
                Some(t) => {
                    let spec = super::operations::OffsetSpec::parse(t).or_else(|m| self.err(format!("{f}.from"), m))?;
                    if let super::operations::OffsetSpec::Time(at) = spec
                        && at > start
                    {
                        return self.err(
                            format!("{f}.from"),
                            format!(
                                "{} is after the group's start ({}); `from` names a time already past when it subscribes",
                                SimDuration(at.0),
                                SimDuration(start.0)
                            ),
                        );
                    }
                    Some(spec)
                }
            };
            let kind = match g.kind.as_deref() {
                None | Some("consumer") => GroupKind::Consumer,
                Some("share") => GroupKind::Share,
                Some(other) => {
                    return self.err(
                        format!("{f}.type"),
                        format!(
                            "{} is not a group type; allowed: \"consumer\" (a Kafka consumer group, the default) or \
                             \"share\" (a Kafka share group, KIP-932)",
                            show_name(other)
                        ),
                    );
                }
            };
            if kind == GroupKind::Share && failures.any_failures() {
                return self.err(
                    format!("{f}.failure_rate"),
                    "consumers that fail are not simulated in Kafka share groups yet; use type = \"consumer\"",
                );
            }
            let dedup_window = self.dedup_window(&f, g.idempotent, g.dedup_window)?;
            let max_age = self.max_age(&f, g.max_age.as_deref(), kind)?;
            groups.push(Group {
                name: g.name,
                consumers,
                processing,
                start,
                from,
                max_consumers: consumers,
                kind,
                subscription: Default::default(),
                policy,
                failures,
                dedup_window,
                max_age,
            });
        }
        Ok(groups)
    }

    /// `max_age` of group field `f`: the Kafka consumer's age check (docs/queue-policy.md). Record
    /// timestamps are milliseconds, so whole milliseconds, from 1 ms.
    fn max_age(&self, f: &str, text: Option<&str>, kind: GroupKind) -> R<Option<SimDuration>> {
        let Some(t) = text else {
            return Ok(None);
        };
        let field = format!("{f}.max_age");
        let age = self.duration(&field, t)?;
        if age.is_zero() || age.0 % 1_000_000 != 0 {
            return self.err(
                field,
                format!(
                    "{t:?} is not allowed; a record's timestamp is in milliseconds, so max_age is whole milliseconds \
                     from 1ms (leave it out for no age check)"
                ),
            );
        }
        if kind == GroupKind::Share {
            return self
                .err(field, "the age check is simulated in Kafka consumer groups only yet; use type = \"consumer\"");
        }
        Ok(Some(age))
    }

    /// `max_age` is Kafka's consumer-side check: RabbitMQ's side of a group ignores it (as Kafka's
    /// ignores `message_ttl`), and a file that runs RabbitMQ alone is told which field to use.
    fn max_ages_need_kafka(&self, groups: &[Group], systems: &[SystemKind]) -> R<()> {
        if systems.contains(&SystemKind::Kafka) {
            return Ok(());
        }
        match groups.iter().position(|g| g.max_age.is_some()) {
            None => Ok(()),
            Some(i) => self.err(
                format!("groups[{i}].max_age"),
                "is Kafka's consumer-side age check, and this scenario runs RabbitMQ only (systems = [\"rabbitmq\"]); \
                 RabbitMQ's equivalent is the queue's message_ttl (x-message-ttl), or add \"kafka\" to systems",
            ),
        }
    }

    /// RabbitMQ consumers that fail (issue 18, item 5) are simulated on classic and quorum queues
    /// with manual acknowledgements; a poison message requeued without a delivery limit loops for
    /// ever (as in RabbitMQ), so the run needs a bounded drain.
    fn rabbitmq_failures(
        &self,
        groups: &[Group],
        rabbitmq: &RabbitMqConfig,
        systems: &[SystemKind],
        drain: Option<SimDuration>,
    ) -> R<()> {
        use super::failing::RabbitOnFailure;
        if !systems.contains(&SystemKind::RabbitMq) {
            return Ok(());
        }
        for (i, g) in groups.iter().enumerate().filter(|(_, g)| g.failures.any_failures()) {
            let f = format!("groups[{i}].failure_rate");
            if !matches!(rabbitmq.queue_type, QueueType::Classic | QueueType::Quorum) {
                return self.err(
                    f,
                    format!(
                        "consumers that fail are simulated on RabbitMQ classic and quorum queues only, and \
                         rabbitmq.queue_type is \"{}\"; use \"classic\" or \"quorum\", or systems = [\"kafka\"]",
                        rabbitmq.queue_type.name()
                    ),
                );
            }
            if !rabbitmq.manual_ack {
                return self.err(
                    f,
                    "needs rabbitmq.ack = \"manual\": with automatic acknowledgements a message is gone from the \
                     queue before its processing fails, and nothing can nack it",
                );
            }
            let how = g.failures.rabbitmq;
            // A quorum queue stops a poison message that is rejected (not nacked) at its delivery
            // limit; every other requeue loops for ever.
            let limited = rabbitmq.queue_type == QueueType::Quorum
                && how == RabbitOnFailure::RejectRequeue
                && g.policy.quorum_delivery_limit().is_some();
            if g.failures.poison_fraction > 0.0 && how.requeues() && !limited && drain.is_none() {
                let why = match (rabbitmq.queue_type, how) {
                    (QueueType::Quorum, RabbitOnFailure::NackRequeue) => {
                        "with on_failure nack-requeue a poison message goes back to the quorum queue and is \
                         delivered again for ever: since RabbitMQ 4.3 a basic.nack does not count towards the \
                         delivery limit (use \"reject-requeue\" for that)"
                    }
                    (QueueType::Quorum, _) => {
                        "with delivery_limit = -1 (no limit) a rejected poison message goes back to the quorum \
                         queue and is delivered again for ever"
                    }
                    _ => {
                        "with a requeue a poison message goes back to the classic queue and is delivered again \
                         for ever, as in RabbitMQ (a classic queue has no delivery limit)"
                    }
                };
                return self.err(
                    format!("groups[{i}].poison_fraction"),
                    format!(
                        "{why}, so the run never drains; bound it with drain = \"1m\" (or use \"nack\" or \
                         \"reject\" to dead-letter it)"
                    ),
                );
            }
        }
        Ok(())
    }

    /// What the groups' queue policies need from the rest of the file: a classic queue (the only
    /// kind they are simulated on yet) and, for a dead-letter exchange, a declared exchange.
    fn queue_policies(
        &self,
        groups: &[Group],
        routing: Option<&super::routing::Routing>,
        rabbitmq: &RabbitMqConfig,
        systems: &[SystemKind],
    ) -> R<()> {
        for (i, g) in groups.iter().enumerate() {
            if g.policy.is_default() || !systems.contains(&SystemKind::RabbitMq) {
                continue;
            }
            if let Some(field) = self.unsimulated_policy(&g.policy, rabbitmq.queue_type) {
                let (what, instead) = match rabbitmq.queue_type {
                    QueueType::Quorum => (
                        "is simulated on classic queues only yet (a quorum queue simulates delivery_limit, \
                         dead_letter_exchange and dead_letter_routing_key)",
                        "use queue_type = \"classic\", or remove it",
                    ),
                    _ => (
                        "is simulated on classic and quorum queues only, and a stream has no such queue argument",
                        "use queue_type = \"classic\" or \"quorum\", or remove it",
                    ),
                };
                return self.err(
                    format!("groups[{i}].{field}"),
                    format!("{what}; rabbitmq.queue_type is \"{}\": {instead}", rabbitmq.queue_type.name()),
                );
            }
            if g.policy.delivery_limit.is_some() && rabbitmq.queue_type == QueueType::Classic {
                return self.err(
                    format!("groups[{i}].delivery_limit"),
                    "x-delivery-limit is a quorum queue argument: a classic queue has no delivery limit and \
                     redelivers a requeued message for ever; use rabbitmq.queue_type = \"quorum\", or remove it",
                );
            }
            if let Some(x) = &g.policy.dead_letter_exchange {
                let declared: Vec<String> =
                    routing.map(|r| r.exchanges.iter().map(|e| e.name.clone()).collect()).unwrap_or_default();
                if !declared.contains(x) {
                    return self.err(
                        format!("groups[{i}].dead_letter_exchange"),
                        format!(
                            "{} is not a declared exchange; declared: {} (declare it under [[exchanges]] and bind \
                             the dead-letter queue to it under [[bindings]])",
                            show_name(x),
                            if declared.is_empty() {
                                "none".to_string()
                            } else {
                                declared.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
                            }
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// The first queue argument of `policy` not simulated on `queue_type`, by its field name.
    fn unsimulated_policy(&self, policy: &QueuePolicy, queue_type: QueueType) -> Option<&'static str> {
        let classic_only = [
            ("message_ttl", policy.message_ttl.is_some()),
            ("max_length", policy.max_length.is_some()),
            ("max_length_bytes", policy.max_length_bytes.is_some()),
            ("overflow", !policy.overflow.is_default()),
            ("single_active_consumer", policy.single_active_consumer),
            ("max_priority", policy.max_priority.is_some()),
        ];
        let quorum_too = [
            ("dead_letter_exchange", policy.dead_letter_exchange.is_some()),
            ("delivery_limit", policy.delivery_limit.is_some()),
        ];
        match queue_type {
            QueueType::Classic => None,
            QueueType::Quorum => classic_only.iter().find(|f| f.1).map(|f| f.0),
            _ => classic_only.iter().chain(quorum_too.iter()).find(|f| f.1).map(|f| f.0),
        }
    }

    /// A group's queue arguments (`x-message-ttl`, `x-max-length`, ...). The dead-letter exchange's
    /// name is checked against the declared exchanges later, with the routing.
    fn queue_policy(&self, f: &str, g: &RawGroup) -> R<QueuePolicy> {
        let message_ttl = match &g.message_ttl {
            None => None,
            Some(t) => {
                let ttl = self.duration(&format!("{f}.message_ttl"), t)?;
                // RabbitMQ takes a non-negative 32-bit count of milliseconds.
                if ttl.0 % 1_000_000 != 0 || ttl.0 / 1_000_000 > u64::from(u32::MAX) {
                    return self.err(
                        format!("{f}.message_ttl"),
                        format!("{t:?} is not allowed; x-message-ttl is whole milliseconds, from 0ms to 4294967295ms"),
                    );
                }
                Some(ttl)
            }
        };
        let max_length = match g.max_length {
            None => None,
            Some(n) => {
                Some(self.int_in(&format!("{f}.max_length"), n, 0, i64::MAX, "x-max-length (ready messages)")? as u64)
            }
        };
        let max_length_bytes = match &g.max_length_bytes {
            None => None,
            Some(l) => Some(self.size(&format!("{f}.max_length_bytes"), l, 0, u64::MAX)?),
        };
        let overflow = match g.overflow.as_deref() {
            None | Some("drop-head") => Overflow::DropHead,
            Some("reject-publish") => Overflow::RejectPublish,
            Some("reject-publish-dlx") => Overflow::RejectPublishDlx,
            Some(other) => {
                return self.err(
                    format!("{f}.overflow"),
                    format!(
                        "{} is not an x-overflow; allowed: \"drop-head\" (the default), \"reject-publish\", \"reject-publish-dlx\"",
                        show_name(other)
                    ),
                );
            }
        };
        if g.overflow.is_some() && max_length.is_none() && max_length_bytes.is_none() {
            return self.err(
                format!("{f}.overflow"),
                "applies at a length limit, and none is set; add max_length or max_length_bytes",
            );
        }
        if g.dead_letter_routing_key.is_some() && g.dead_letter_exchange.is_none() {
            return self.err(
                format!("{f}.dead_letter_routing_key"),
                "is used only with a dead-letter exchange; add dead_letter_exchange",
            );
        }
        let delivery_limit = match g.delivery_limit {
            None => None,
            Some(n) => Some(self.int_in(
                &format!("{f}.delivery_limit"),
                n,
                i64::from(i32::MIN),
                i64::from(u32::MAX),
                "x-delivery-limit (failed deliveries before the message is dead-lettered or dropped; -1: no limit)",
            )?),
        };
        match g.dead_letter_strategy.as_deref() {
            None | Some("at-most-once") if g.dead_letter_strategy.is_some() && g.dead_letter_exchange.is_none() => {
                return self.err(
                    format!("{f}.dead_letter_strategy"),
                    "is used only with a dead-letter exchange; add dead_letter_exchange",
                );
            }
            None | Some("at-most-once") => {}
            Some("at-least-once") => {
                return self.err(
                    format!("{f}.dead_letter_strategy"),
                    "\"at-least-once\" is not simulated: RabbitMQ needs overflow = \"reject-publish\" for it (with \
                     drop-head it falls back to at-most-once), and length limits on quorum queues are not simulated \
                     yet; use \"at-most-once\" (the default)",
                );
            }
            Some(other) => {
                return self.err(
                    format!("{f}.dead_letter_strategy"),
                    format!(
                        "{} is not an x-dead-letter-strategy; allowed: \"at-most-once\" (the default), \"at-least-once\"",
                        show_name(other)
                    ),
                );
            }
        }
        Ok(QueuePolicy {
            message_ttl,
            max_length,
            max_length_bytes,
            overflow,
            dead_letter_exchange: g.dead_letter_exchange.clone(),
            dead_letter_routing_key: g.dead_letter_routing_key.clone(),
            single_active_consumer: g.single_active_consumer.unwrap_or(false),
            max_priority: match g.max_priority {
                None => None,
                Some(n) => Some(self.int_in(&format!("{f}.max_priority"), n, 1, 255, "x-max-priority")? as u8),
            },
            delivery_limit,
        })
    }

    /// `[[groups]] failure_rate`, `poison_fraction`, `on_failure`, `retry_topics`,
    /// `retry_backoff`, `max_attempts` (docs/failures.md).
    fn failure_policy(&self, f: &str, g: &RawGroup) -> R<super::failing::FailurePolicy> {
        use super::failing::{FailurePolicy, KafkaOnFailure, RabbitOnFailure, named, names};
        let mut p = FailurePolicy::default();
        let fraction = |field: &str, v: Option<f64>, what: &str| -> R<f64> {
            match v {
                None => Ok(0.0),
                Some(x) if x.is_finite() && (0.0..=1.0).contains(&x) => Ok(x),
                Some(x) => self.err(format!("{f}.{field}"), format!("{x} is not allowed; {what} must be from 0 to 1")),
            }
        };
        p.failure_rate = fraction("failure_rate", g.failure_rate, "the fraction of messages that fail")?;
        p.poison_fraction =
            fraction("poison_fraction", g.poison_fraction, "the fraction of failing messages that always fail")?;
        match &g.on_failure {
            None => {}
            Some(RawOnFailure::One(v)) if named(&RabbitOnFailure::ALL, v).is_some() => {
                p.rabbitmq = self.handling(&format!("{f}.on_failure"), v, &RabbitOnFailure::ALL, "RabbitMQ")?;
            }
            Some(RawOnFailure::One(v)) if named(&KafkaOnFailure::ALL, v).is_some() => {
                p.kafka = self.handling(&format!("{f}.on_failure"), v, &KafkaOnFailure::ALL, "Kafka")?;
            }
            Some(RawOnFailure::One(v)) => {
                return self.err(
                    format!("{f}.on_failure"),
                    format!(
                        "{} is not a failure handling; allowed: RabbitMQ {}, Kafka {}, or a table {{ rabbitmq = \"...\", kafka = \"...\" }}",
                        show_name(v),
                        names(&RabbitOnFailure::ALL),
                        names(&KafkaOnFailure::ALL)
                    ),
                );
            }
            Some(RawOnFailure::PerSystem(t)) => {
                if let Some(v) = &t.rabbitmq {
                    p.rabbitmq =
                        self.handling(&format!("{f}.on_failure.rabbitmq"), v, &RabbitOnFailure::ALL, "RabbitMQ")?;
                }
                if let Some(v) = &t.kafka {
                    p.kafka = self.handling(&format!("{f}.on_failure.kafka"), v, &KafkaOnFailure::ALL, "Kafka")?;
                }
            }
        }
        let only_with = |field: &str, handling: KafkaOnFailure, name: &str| -> R<()> {
            if p.kafka != handling {
                return self.err(
                    format!("{f}.{field}"),
                    format!(
                        "applies to on_failure kafka = \"{name}\" only, and this group's Kafka handling is another"
                    ),
                );
            }
            Ok(())
        };
        if let Some(list) = &g.retry_topics {
            only_with("retry_topics", KafkaOnFailure::RetryTopics, "retry-topics")?;
            if list.len() > d::MAX_RETRY_TOPICS {
                return self.err(
                    format!("{f}.retry_topics"),
                    format!("{} retry topics is too many; at most {}", list.len(), d::MAX_RETRY_TOPICS),
                );
            }
            p.retry_topics = list
                .iter()
                .enumerate()
                .map(|(i, t)| self.duration(&format!("{f}.retry_topics[{i}]"), t))
                .collect::<R<_>>()?;
        }
        if let Some(t) = &g.retry_backoff {
            only_with("retry_backoff", KafkaOnFailure::RetryInPlace, "retry-in-place")?;
            p.retry_backoff = self.duration(&format!("{f}.retry_backoff"), t)?;
        }
        if let Some(l) = &g.max_attempts {
            only_with("max_attempts", KafkaOnFailure::RetryInPlace, "retry-in-place")?;
            let field = format!("{f}.max_attempts");
            p.max_attempts = match l {
                Leaf::Text(t) if t == "unlimited" => None,
                Leaf::Int(n) => {
                    Some(self.int_in(&field, *n, 1, d::MAX_RETRY_ATTEMPTS, "the number of attempts")? as u32)
                }
                other => {
                    return self.err(
                        field,
                        format!(
                            "{} is not allowed; give a whole number of attempts from 1 to {} or \"unlimited\"",
                            show(other),
                            d::MAX_RETRY_ATTEMPTS
                        ),
                    );
                }
            };
            if p.max_attempts.is_none() && p.retry_backoff == SimDuration::ZERO {
                return self.err(
                    format!("{f}.max_attempts"),
                    "\"unlimited\" needs a retry_backoff above 0: a poison record would be retried in a loop that never lets time pass",
                );
            }
        }
        Ok(p)
    }

    /// `idempotent` and `dedup_window` of group field `f`: the window, or `None` for a consumer
    /// that applies every delivery.
    fn dedup_window(&self, f: &str, idempotent: Option<bool>, window: Option<i64>) -> R<Option<u64>> {
        match (idempotent.unwrap_or(false), window) {
            (false, None) => Ok(None),
            (false, Some(_)) => self.err(
                format!("{f}.dedup_window"),
                "is set but the group is not idempotent; add `idempotent = true` (only an idempotent consumer \
                 remembers the ids it processed)",
            ),
            (true, None) => Ok(Some(d::DEDUP_WINDOW)),
            (true, Some(w)) => Ok(Some(self.int_in(
                &format!("{f}.dedup_window"),
                w,
                1,
                d::MAX_DEDUP_WINDOW as i64,
                "the number of message ids the consumer remembers",
            )? as u64)),
        }
    }

    fn kafka(&self, k: RawKafka, brokers: u32) -> R<KafkaConfig> {
        let size = |field: &str, v: &Option<Leaf>, default: u64, min: u64, max: u64| -> R<u64> {
            match v {
                Some(l) => self.size(&format!("kafka.{field}"), l, min, max),
                None => Ok(default),
            }
        };
        let mut cfg = KafkaConfig {
            partitions: self.int_in(
                "kafka.partitions",
                k.partitions.unwrap_or(d::KAFKA_PARTITIONS as i64),
                1,
                100_000,
                "the number of partitions",
            )? as u32,
            linger: self.opt_duration("kafka.linger", &k.linger, d::KAFKA_LINGER)?,
            batch_size: size("batch_size", &k.batch_size, d::KAFKA_BATCH_SIZE, 0, 1 << 30)?,
            max_poll_records: self.int_in(
                "kafka.max_poll_records",
                k.max_poll_records.unwrap_or(d::KAFKA_MAX_POLL_RECORDS as i64),
                1,
                1 << 30,
                "max.poll.records",
            )? as u32,
            fetch_min_bytes: size("fetch_min_bytes", &k.fetch_min_bytes, d::KAFKA_FETCH_MIN_BYTES, 0, 1 << 31)?,
            fetch_max_wait: self.opt_duration("kafka.fetch_max_wait", &k.fetch_max_wait, d::KAFKA_FETCH_MAX_WAIT)?,
            fetch_max_bytes: size("fetch_max_bytes", &k.fetch_max_bytes, d::KAFKA_FETCH_MAX_BYTES, 1, 1 << 31)?,
            max_partition_fetch_bytes: size(
                "max_partition_fetch_bytes",
                &k.max_partition_fetch_bytes,
                d::KAFKA_MAX_PARTITION_FETCH_BYTES,
                1,
                1 << 31,
            )?,
            enable_auto_commit: k.enable_auto_commit.unwrap_or(d::KAFKA_ENABLE_AUTO_COMMIT),
            auto_commit_interval: self.opt_duration(
                "kafka.auto_commit_interval",
                &k.auto_commit_interval,
                d::KAFKA_AUTO_COMMIT_INTERVAL,
            )?,
            auto_offset_reset: match k.auto_offset_reset.as_deref().unwrap_or("latest") {
                "latest" => OffsetReset::Latest,
                "earliest" => OffsetReset::Earliest,
                other => {
                    return self.err(
                        "kafka.auto_offset_reset",
                        format!("\"{other}\" is not allowed; allowed: \"latest\" (the real default), \"earliest\""),
                    );
                }
            },
            retention: self.opt_duration("kafka.retention", &k.retention, d::KAFKA_RETENTION)?,
            segment_bytes: size("segment_bytes", &k.segment_bytes, d::KAFKA_SEGMENT_BYTES, 1024, 1 << 40)?,
            segment_ms: self.opt_duration("kafka.segment_ms", &k.segment_ms, d::KAFKA_SEGMENT_MS)?,
            retention_check_interval: self.opt_duration(
                "kafka.retention_check_interval",
                &k.retention_check_interval,
                d::KAFKA_RETENTION_CHECK_INTERVAL,
            )?,
            retention_bytes: match &k.retention_bytes {
                None | Some(Leaf::Int(-1)) => d::KAFKA_RETENTION_BYTES,
                Some(Leaf::Text(t)) if t == "-1" => d::KAFKA_RETENTION_BYTES,
                Some(l @ Leaf::Int(i)) if *i < 0 => {
                    return self.err(
                        "kafka.retention_bytes",
                        format!("{} is not allowed; -1 (the real default: no limit) or a size per partition", show(l)),
                    );
                }
                Some(l) => Some(self.size("kafka.retention_bytes", l, 0, 1 << 50)?),
            },
            cleanup_policy: match k.cleanup_policy.as_deref() {
                None => d::KAFKA_CLEANUP_POLICY,
                Some("delete") => CleanupPolicy::Delete,
                Some("compact") => CleanupPolicy::Compact,
                Some("compact,delete" | "delete,compact") => CleanupPolicy::CompactDelete,
                Some(other) => {
                    return self.err(
                        "kafka.cleanup_policy",
                        format!(
                            "{} is not allowed; allowed: \"delete\" (the real default), \"compact\", \"compact,delete\"",
                            crate::errtext::value(other)
                        ),
                    );
                }
            },
            min_cleanable_dirty_ratio: match &k.min_cleanable_dirty_ratio {
                None => d::KAFKA_MIN_CLEANABLE_DIRTY_RATIO,
                Some(Leaf::Float(f)) if (0.0..=1.0).contains(f) => *f,
                Some(Leaf::Int(i @ (0 | 1))) => *i as f64,
                Some(l) => {
                    return self.err(
                        "kafka.min_cleanable_dirty_ratio",
                        format!("{} is not allowed; a number from 0 to 1 (the real default is 0.5)", show(l)),
                    );
                }
            },
            cleaner_backoff: self.opt_duration(
                "kafka.cleaner_backoff",
                &k.cleaner_backoff,
                d::KAFKA_CLEANER_BACKOFF,
            )?,
            replication_factor: match k.replication_factor {
                None => d::KAFKA_REPLICATION_FACTOR,
                Some(n) if n > brokers as i64 && n >= 1 => {
                    return self.err(
                        "kafka.replication_factor",
                        format!("{n} is not allowed; at most [cluster] brokers ({brokers}): one replica per broker"),
                    );
                }
                Some(n) => {
                    self.int_in("kafka.replication_factor", n, 1, brokers as i64, "the replication factor")? as u32
                }
            },
            acks: match &k.acks {
                None => d::KAFKA_ACKS,
                Some(Leaf::Int(0)) => Acks::Zero,
                Some(Leaf::Int(1)) => Acks::One,
                Some(Leaf::Int(-1)) => Acks::All,
                Some(Leaf::Text(t)) if t == "all" || t == "-1" => Acks::All,
                Some(Leaf::Text(t)) if t == "0" => Acks::Zero,
                Some(Leaf::Text(t)) if t == "1" => Acks::One,
                Some(other) => {
                    let shown = match other {
                        Leaf::Int(i) => i.to_string(),
                        Leaf::Float(f) => f.to_string(),
                        Leaf::Text(t) => crate::errtext::value(t),
                        Leaf::Bool(b) => b.to_string(),
                    };
                    return self.err(
                        "kafka.acks",
                        format!("{shown} is not allowed; allowed: 0, 1, \"all\" (the real default; -1 means the same)"),
                    );
                }
            },
            min_insync_replicas: self.int_in(
                "kafka.min_insync_replicas",
                k.min_insync_replicas.unwrap_or(d::KAFKA_MIN_INSYNC_REPLICAS as i64),
                1,
                d::MAX_BROKERS as i64,
                "min.insync.replicas",
            )? as u32,
            unclean_leader_election: k.unclean_leader_election.unwrap_or(d::KAFKA_UNCLEAN_LEADER_ELECTION),
            enable_idempotence: k.enable_idempotence.unwrap_or(d::KAFKA_ENABLE_IDEMPOTENCE),
            delivery_timeout: self.opt_duration(
                "kafka.delivery_timeout",
                &k.delivery_timeout,
                d::KAFKA_DELIVERY_TIMEOUT,
            )?,
            buffer_memory: size("buffer_memory", &k.buffer_memory, d::KAFKA_BUFFER_MEMORY, 1, 1 << 40)?,
            max_block: self.opt_duration("kafka.max_block", &k.max_block, d::KAFKA_MAX_BLOCK)?,
            max_in_flight_requests_per_connection: self.int_in(
                "kafka.max_in_flight_requests_per_connection",
                k.max_in_flight_requests_per_connection.unwrap_or(d::KAFKA_MAX_IN_FLIGHT_REQUESTS as i64),
                1,
                d::KAFKA_MAX_IN_FLIGHT_LIMIT as i64,
                "max.in.flight.requests.per.connection",
            )? as u32,
            group_protocol: match k.group_protocol.as_deref().unwrap_or(d::KAFKA_GROUP_PROTOCOL) {
                "classic" => GroupProtocol::Classic,
                "consumer" => GroupProtocol::Consumer,
                other => {
                    return self.err(
                        "kafka.group_protocol",
                        format!(
                            "{} is not allowed; allowed: \"classic\" (the real default), \"consumer\" (KIP-848)",
                            crate::errtext::value(other)
                        ),
                    );
                }
            },
            assignor: match k.assignor.as_deref().unwrap_or(d::KAFKA_ASSIGNOR) {
                "range" => Assignor::Range,
                "roundrobin" => Assignor::RoundRobin,
                "cooperative-sticky" => Assignor::CooperativeSticky,
                other => {
                    return self.err(
                        "kafka.assignor",
                        format!(
                            "{} is not allowed; allowed: \"range\" (the real default), \"roundrobin\", \
                             \"cooperative-sticky\"",
                            crate::errtext::value(other)
                        ),
                    );
                }
            },
            compression_type: match k.compression_type.as_deref() {
                None => d::KAFKA_COMPRESSION_TYPE,
                Some(t) => match Codec::ALL.into_iter().find(|c| c.name() == t) {
                    Some(c) => c,
                    None => {
                        return self.err(
                            "kafka.compression_type",
                            format!(
                                "{} is not allowed; allowed: \"none\" (the real default), \"gzip\", \"snappy\", \
                                 \"lz4\", \"zstd\"",
                                crate::errtext::value(t)
                            ),
                        );
                    }
                },
            },
        };
        // Kafka 3.2+ (KAFKA-13673): idempotence is on by default only without conflicting settings;
        // with acks other than "all" it is off unless asked for, and asking for it is an error.
        if cfg.acks != Acks::All {
            match k.enable_idempotence {
                None => cfg.enable_idempotence = false,
                Some(true) => {
                    return self.err(
                        "kafka.enable_idempotence",
                        format!(
                            "true is not allowed with acks = {}: Kafka's producer refuses it (\"Must set acks to all in \
                             order to use the idempotent producer\"); use acks = \"all\", or leave enable_idempotence \
                             out (it is then off)",
                            match cfg.acks {
                                Acks::Zero => "0",
                                _ => "1",
                            }
                        ),
                    );
                }
                Some(false) => {}
            }
        }
        // The idempotent producer allows at most 5 requests in flight (the broker remembers the last
        // 5 batches of a producer): more turns the default off, and is an error if asked for.
        if cfg.max_in_flight_requests_per_connection > d::KAFKA_MAX_IN_FLIGHT_REQUESTS && cfg.enable_idempotence {
            if k.enable_idempotence == Some(true) {
                return self.err(
                    "kafka.max_in_flight_requests_per_connection",
                    format!(
                        "{} is not allowed with enable_idempotence = true: Kafka's producer refuses it (\"Must set \
                         max.in.flight.requests.per.connection to at most 5 to use the idempotent producer\"); use at \
                         most 5, or leave enable_idempotence out (it is then off)",
                        cfg.max_in_flight_requests_per_connection
                    ),
                );
            }
            cfg.enable_idempotence = false;
        }
        // `KafkaProducer.configureDeliveryTimeout`: a delivery.timeout.ms set below linger.ms +
        // request.timeout.ms is a ConfigException.
        let floor = cfg.linger.0 + d::KAFKA_REQUEST_TIMEOUT.0;
        let ceiling = SimDuration::from_millis(i32::MAX as u64);
        if cfg.delivery_timeout > ceiling {
            return self.err(
                "kafka.delivery_timeout",
                format!(
                    "{} is not allowed; Kafka's delivery.timeout.ms is an int: at most {} ms (about 24.8 days)",
                    crate::time::format_duration(cfg.delivery_timeout),
                    i32::MAX
                ),
            );
        }
        if cfg.delivery_timeout.0 < floor {
            return self.err(
                "kafka.delivery_timeout",
                format!(
                    "{} is not allowed; Kafka's producer refuses a delivery.timeout.ms below linger.ms + \
                     request.timeout.ms (30 s): at least {} here",
                    crate::time::format_duration(cfg.delivery_timeout),
                    crate::time::format_duration(SimDuration(floor))
                ),
            );
        }
        if cfg.group_protocol == GroupProtocol::Consumer && k.assignor.is_some() {
            return self.err(
                "kafka.assignor",
                "is the classic protocol's client-side partition.assignment.strategy; with group_protocol = \
                 \"consumer\" the coordinator assigns (group.consumer.assignors, default uniform): remove it"
                    .to_string(),
            );
        }
        if cfg.group_protocol == GroupProtocol::Consumer {
            cfg.assignor = Assignor::Uniform;
        }
        // With acks = all, Kafka refuses every write to a partition whose ISR is smaller than
        // min.insync.replicas, and the ISR never exceeds the replication factor.
        if cfg.acks == Acks::All && cfg.min_insync_replicas > cfg.replication_factor {
            return self.err(
                "kafka.min_insync_replicas",
                format!(
                    "{} is not allowed with acks = \"all\" and replication_factor = {}: every write would be refused \
                     (NotEnoughReplicas); use at most the replication factor",
                    cfg.min_insync_replicas, cfg.replication_factor
                ),
            );
        }
        for (field, v) in [
            ("auto_commit_interval", cfg.auto_commit_interval),
            ("retention", cfg.retention),
            ("segment_ms", cfg.segment_ms),
            ("retention_check_interval", cfg.retention_check_interval),
            ("cleaner_backoff", cfg.cleaner_backoff),
        ] {
            if v.is_zero() {
                return self.err(format!("kafka.{field}"), "0 is not allowed; it must be a positive duration");
            }
        }
        // Kafka's settings are `*.ms`: a value it cannot express is not a Kafka configuration.
        for (field, real, v) in [
            ("linger", "linger.ms", cfg.linger),
            ("fetch_max_wait", "fetch.max.wait.ms", cfg.fetch_max_wait),
            ("auto_commit_interval", "auto.commit.interval.ms", cfg.auto_commit_interval),
            ("retention", "retention.ms", cfg.retention),
            ("segment_ms", "segment.ms", cfg.segment_ms),
            ("retention_check_interval", "log.retention.check.interval.ms", cfg.retention_check_interval),
            ("cleaner_backoff", "log.cleaner.backoff.ms", cfg.cleaner_backoff),
            ("delivery_timeout", "delivery.timeout.ms", cfg.delivery_timeout),
            ("max_block", "max.block.ms", cfg.max_block),
        ] {
            if v.0 % crate::time::NANOS_PER_MILLI != 0 {
                return self.err(
                    format!("kafka.{field}"),
                    format!(
                        "{v} is not allowed; Kafka's `{real}` is a whole number of milliseconds (e.g. \"1ms\", \"500ms\", \"5s\")"
                    ),
                );
            }
        }
        Ok(cfg)
    }

    /// The resource alarms' thresholds need nodes with memory and a disk, and the model counts
    /// only what classic queues hold (docs/flow-control.md).
    fn alarm_fields(&self, r: &RawRabbitMq, profile: Profile, bodied: bool) -> R<()> {
        let set = [
            ("rabbitmq.vm_memory_high_watermark", r.vm_memory_high_watermark.is_some()),
            ("rabbitmq.disk_free_limit", r.disk_free_limit.is_some()),
        ];
        let Some((field, _)) = set.iter().find(|(_, s)| *s) else { return Ok(()) };
        if !bodied {
            return self.err(
                *field,
                format!(
                    "applies only to a profile whose nodes have memory and a disk, and profile \"{}\" is costless; \
                     set profile = \"omb-2020\", \"kreps-2014\" or \"rabbitmq-2024\"",
                    profile.name()
                ),
            );
        }
        match r.queue_type.as_deref() {
            None | Some("classic") => Ok(()),
            Some(other) => self.err(
                *field,
                format!(
                    "is not simulated with queue_type = \"{}\": the alarms count what classic queues hold only; use \
                     queue_type = \"classic\" or leave the field out",
                    other.escape_debug()
                ),
            ),
        }
    }

    fn rabbitmq(&self, r: RawRabbitMq, brokers: u32) -> R<RabbitMqConfig> {
        let queue_type = match r.queue_type.as_deref() {
            None | Some("classic") => QueueType::Classic,
            Some("quorum") => QueueType::Quorum,
            Some("stream") => QueueType::Stream,
            Some(other) => {
                return self.err(
                    "rabbitmq.queue_type",
                    format!("\"{other}\" is not allowed; allowed: \"classic\", \"quorum\", \"stream\""),
                );
            }
        };
        let replicas = match (queue_type, r.replicas) {
            (QueueType::Classic, None) | (QueueType::Stream, None) => 1,
            (QueueType::Classic, Some(_)) => {
                return self.err(
                    "rabbitmq.replicas",
                    "only allowed with queue_type = \"quorum\"; a classic queue has one replica, on node 0",
                );
            }
            (QueueType::Stream, Some(_)) => {
                return self.err(
                    "rabbitmq.replicas",
                    "not simulated for streams (x-initial-cluster-size): the model keeps the stream on node 0, not \
                     replicated; leave `replicas` out",
                );
            }
            (QueueType::Quorum, None) => d::RABBITMQ_QUORUM_INITIAL_GROUP_SIZE.min(brokers),
            (QueueType::Quorum, Some(n)) if n > brokers as i64 => {
                return self.err(
                    "rabbitmq.replicas",
                    format!("{n} is not allowed; at most [cluster] brokers ({brokers}): one replica per node"),
                );
            }
            (QueueType::Quorum, Some(n)) => {
                self.int_in("rabbitmq.replicas", n, 1, brokers as i64, "the number of replicas")? as u32
            }
        };
        let stream = self.stream(&r, queue_type)?;
        let producer_node = self.client_node("rabbitmq.producer_node", &r.producer_node, brokers, queue_type)?;
        let consumer_node = self.client_node("rabbitmq.consumer_node", &r.consumer_node, brokers, queue_type)?;
        let queues = match r.queues {
            None => 1,
            Some(n) if queue_type != QueueType::Classic && n != 1 => {
                return self.err(
                    "rabbitmq.queues",
                    format!(
                        "{n} is not allowed with queue_type = \"{}\": several queues per group are simulated for \
                         classic queues only; leave `queues` out",
                        queue_type.name()
                    ),
                );
            }
            Some(n) => self.int_in("rabbitmq.queues", n, 1, 1024, "the number of queues per group")? as u32,
        };
        let consumer_timeout =
            self.opt_duration("rabbitmq.consumer_timeout", &r.consumer_timeout, d::RABBITMQ_CONSUMER_TIMEOUT)?;
        // The node checks it once a minute; a drain gives up after an hour without client events.
        if consumer_timeout < d::RABBITMQ_CONSUMER_TIMEOUT_CHECK || consumer_timeout.0 > d::DRAIN_STALL_LIMIT.0 / 2 {
            return self.err(
                "rabbitmq.consumer_timeout",
                format!(
                    "{consumer_timeout} is not allowed; from 1m (the node checks it once a minute) to 30m (a \
                     draining run stops after an hour without client events)"
                ),
            );
        }
        let vm_memory_high_watermark = match r.vm_memory_high_watermark {
            None => d::RABBITMQ_VM_MEMORY_HIGH_WATERMARK,
            Some(w) if w.is_finite() && (0.0..=1.0).contains(&w) => w,
            Some(w) => {
                return self.err(
                    "rabbitmq.vm_memory_high_watermark",
                    format!("{w} is not allowed; a fraction of the node's RAM from 0 (block publishing at once) to 1"),
                );
            }
        };
        let disk_free_limit = match &r.disk_free_limit {
            None => d::RABBITMQ_DISK_FREE_LIMIT,
            Some(l) => self.size("rabbitmq.disk_free_limit", l, 0, 1 << 60)?,
        };
        let publisher_confirms = r.publisher_confirms.unwrap_or(d::RABBITMQ_PUBLISHER_CONFIRMS);
        let max_unconfirmed = match r.max_unconfirmed {
            None => None,
            Some(_) if !publisher_confirms => {
                return self.err(
                    "rabbitmq.max_unconfirmed",
                    "only allowed with publisher_confirms = true: without confirms nothing is ever unconfirmed",
                );
            }
            Some(n) => Some(self.int_in(
                "rabbitmq.max_unconfirmed",
                n,
                1,
                1_000_000,
                "the number of messages unconfirmed at once",
            )? as u32),
        };
        Ok(RabbitMqConfig {
            vm_memory_high_watermark,
            disk_free_limit,
            consumer_timeout,
            mandatory: r.mandatory.unwrap_or(false),
            queues,
            producer_node,
            consumer_node,
            consumer_cancel_notify: r.consumer_cancel_notify.unwrap_or(d::RABBITMQ_CONSUMER_CANCEL_NOTIFY),
            queue_type,
            replicas,
            stream,
            prefetch: self.int_in(
                "rabbitmq.prefetch",
                r.prefetch.unwrap_or(d::RABBITMQ_PREFETCH as i64),
                0,
                65_535,
                "the prefetch count (0 = unlimited)",
            )? as u16,
            manual_ack: match r.ack.as_deref() {
                None => d::RABBITMQ_MANUAL_ACK,
                Some("manual") => true,
                Some("auto") => false,
                Some(other) => {
                    return self
                        .err("rabbitmq.ack", format!("\"{other}\" is not allowed; allowed: \"manual\", \"auto\""));
                }
            },
            persistent: r.persistent.unwrap_or(d::RABBITMQ_PERSISTENT),
            publisher_confirms,
            max_unconfirmed,
            heartbeat: {
                let h = self.opt_duration("rabbitmq.heartbeat", &r.heartbeat, d::RABBITMQ_HEARTBEAT)?;
                // AMQP negotiates whole seconds (a 16-bit field in `connection.tune`).
                if h.0 % 1_000_000_000 != 0 || h.0 > 65_535 * 1_000_000_000 {
                    return self.err(
                        "rabbitmq.heartbeat",
                        format!(
                            "{} is not allowed; a whole number of seconds from \"0s\" (off) to \"65535s\"",
                            r.heartbeat.as_deref().unwrap_or("")
                        ),
                    );
                }
                h
            },
        })
    }

    /// `"leader"` or a broker index `0..brokers`: the node a client connects to.
    fn client_node(&self, field: &str, v: &Option<Leaf>, brokers: u32, queue_type: QueueType) -> R<ClientNode> {
        let node = match v {
            None => return Ok(ClientNode::Leader),
            Some(Leaf::Text(t)) if t == "leader" => return Ok(ClientNode::Leader),
            Some(Leaf::Int(i)) if (0..brokers as i64).contains(i) => ClientNode::Broker(*i as u32),
            Some(other) => {
                return self.err(
                    field,
                    format!(
                        "{} is not allowed; allowed: \"leader\" or a node index from 0 to {} ([cluster] brokers = {brokers})",
                        show(other),
                        brokers - 1
                    ),
                );
            }
        };
        if queue_type == QueueType::Stream {
            return self.err(field, "not simulated yet for streams (the stream's clients are on node 0); leave it out");
        }
        Ok(node)
    }

    /// The stream's arguments (`x-max-age`, `x-max-length-bytes`,
    /// `x-stream-max-segment-size-bytes`); refused for other queue types.
    fn stream(&self, r: &RawRabbitMq, queue_type: QueueType) -> R<Option<StreamConfig>> {
        let given = [
            ("rabbitmq.stream_max_age", r.stream_max_age.is_some()),
            ("rabbitmq.stream_max_length_bytes", r.stream_max_length_bytes.is_some()),
            ("rabbitmq.stream_max_segment_size_bytes", r.stream_max_segment_size_bytes.is_some()),
        ];
        if queue_type != QueueType::Stream {
            if let Some((field, _)) = given.iter().find(|(_, g)| *g) {
                return self.err(*field, "only allowed with queue_type = \"stream\"");
            }
            return Ok(None);
        }
        let max_age = match &r.stream_max_age {
            None => d::RABBITMQ_STREAM_MAX_AGE,
            Some(t) => {
                let age = self.duration("rabbitmq.stream_max_age", t)?;
                if age.is_zero() {
                    return self.err("rabbitmq.stream_max_age", "0 is not allowed; leave it out for no age limit");
                }
                Some(age)
            }
        };
        let max_length_bytes = match &r.stream_max_length_bytes {
            None => d::RABBITMQ_STREAM_MAX_LENGTH_BYTES,
            Some(l) => Some(self.size("rabbitmq.stream_max_length_bytes", l, 1, u64::MAX >> 1)?),
        };
        let max_segment_size_bytes = match &r.stream_max_segment_size_bytes {
            None => d::RABBITMQ_STREAM_MAX_SEGMENT_SIZE_BYTES,
            Some(l) => {
                self.size("rabbitmq.stream_max_segment_size_bytes", l, 1, d::RABBITMQ_STREAM_MAX_SEGMENT_SIZE_LIMIT)?
            }
        };
        Ok(Some(StreamConfig { max_age, max_length_bytes, max_segment_size_bytes }))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Bytes,
}

const DIST_HELP: &str =
    "allowed: \"constant\" {value}, \"exponential\" {mean}, \"uniform\" {min, max}, \"lognormal\" {mean, stddev}";

/// About `TARGET_SAMPLES` samples over the duration, rounded to 1, 2 or 5 times a power of ten
/// (in ms, at least 1 ms) so that the time axis reads well.
pub fn nice_interval(duration: SimDuration) -> SimDuration {
    let raw_ms = (duration.0 / d::TARGET_SAMPLES / 1_000_000).max(1);
    let mut base = 1u64;
    loop {
        for m in [1, 2, 5] {
            if base * m >= raw_ms {
                return SimDuration::from_millis(base * m);
            }
        }
        base *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("2KB").unwrap(), 2000);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("1.5KiB").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn nice_intervals() {
        assert_eq!(nice_interval(SimDuration::from_secs(3 * 3600)), SimDuration::from_millis(50_000));
        assert_eq!(nice_interval(SimDuration::from_secs(60)), SimDuration::from_millis(200));
        assert_eq!(nice_interval(SimDuration::from_millis(10)), SimDuration::from_millis(1));
    }
}
