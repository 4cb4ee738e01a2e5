//! An outside script can recount every `delivery` figure of `summary.json` from the client events
//! that `--history` writes, using only the README's definitions. This test is that script: it
//! knows nothing of the checker's code (it keeps plain sets of every id), and the scenario makes
//! every figure non-trivial in at least one system: confirmed messages lost with a transient
//! queue's node, redeliveries after a consumer crash, duplicates after a Kafka consumer crash,
//! reordering among competing consumers, and seconds without any acknowledgement.

use crate::common::{bin, tmpdir_in};
use std::collections::{BTreeMap, BTreeSet};

const SCENARIO: &str = r#"
name = "recount"
duration = "4m"
[workload]
rate = 40.0
phases = [{ at = "3m", rate = 0.0 }]
keys = { count = 50, distribution = "uniform" }
[[groups]]
name = "a"
consumers = 2
processing = { distribution = "exponential", mean = "45ms" }
[[groups]]
name = "b"
processing = { distribution = "exponential", mean = "10ms" }
[kafka]
partitions = 4
[rabbitmq]
prefetch = 10
publisher_confirms = true
persistent = false
[[faults]]
at = "40s"
action = "crash"
target = "a/0"
duration = "20s"
[[faults]]
at = "100s"
action = "hang"
target = "b/0"
duration = "20s"
[[faults]]
at = "130s"
action = "crash"
target = "producer"
duration = "5s"
"#;

/// RabbitMQ alone (Kafka broker failures come with replication): a transient queue's node dies
/// with a backlog, after confirming it.
const NODE_CRASH: &str = r#"
[[faults]]
at = "110s"
action = "crash"
target = "broker-0"
duration = "15s"
"#;

/// θ of `unavailable_s` (README: the stall threshold, 1 s).
const STALL_NS: u64 = 1_000_000_000;

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    owed: u64,
    processed_unique: u64,
    acknowledged_lost: u64,
    unacknowledged_lost: u64,
    duplicates: u64,
    redelivered: u64,
    out_of_order: u64,
    processed_not_owed: u64,
    replayed: u64,
    skipped: u64,
}

/// What the recount keeps per group for seeks (README: `replayed`, `skipped`).
#[derive(Default, Debug)]
struct Seeks {
    /// Ids below this were sent before the latest `sought`.
    replay_below: u64,
    replayed_ids: BTreeSet<u64>,
    replayed: u64,
    duplicates: u64,
    skipped: BTreeSet<u64>,
    not_owed: u64,
}

#[derive(Default, Debug)]
struct Recount {
    sent: BTreeMap<u64, Option<u64>>,
    sent_at: BTreeMap<u64, u64>,
    /// group -> its start (ns): it is owed what is sent from then on.
    starts: BTreeMap<String, u64>,
    seeks: BTreeMap<String, Seeks>,
    acknowledged: BTreeSet<u64>,
    failed: BTreeSet<u64>,
    publish_failures: u64,
    unresolved: BTreeSet<u64>,
    waiting_since: Option<u64>,
    stalled_ns: u64,
    any_ack: bool,
    /// group -> id -> times processed.
    processed: BTreeMap<String, BTreeMap<u64, u64>>,
    redelivered: BTreeMap<String, u64>,
    /// group -> key -> highest id first processed.
    highest: BTreeMap<String, BTreeMap<u64, u64>>,
    out_of_order: BTreeMap<String, u64>,
}

impl Recount {
    fn close_period(&mut self, t: u64) {
        if let Some(w) = self.waiting_since.take() {
            self.stalled_ns += (t - w).saturating_sub(STALL_NS);
        }
    }

    fn line(&mut self, v: &serde_json::Value) {
        let t = v["t"].as_u64().unwrap();
        let id = v["id"].as_u64();
        let group = v["group"].as_str().map(str::to_string);
        match v["event"].as_str().unwrap() {
            "sent" => {
                let id = id.unwrap();
                if self.unresolved.is_empty() {
                    self.waiting_since = Some(t);
                }
                self.unresolved.insert(id);
                self.sent.insert(id, v["key"].as_u64());
                self.sent_at.insert(id, t);
            }
            "acknowledged" => {
                let id = id.unwrap();
                self.any_ack = true;
                self.acknowledged.insert(id);
                self.failed.remove(&id);
                self.unresolved.remove(&id);
                // Every acknowledgement ends the waiting period; one restarts if some are left.
                self.close_period(t);
                if !self.unresolved.is_empty() {
                    self.waiting_since = Some(t);
                }
            }
            "send_failed" => {
                let id = id.unwrap();
                if self.unresolved.remove(&id) {
                    self.publish_failures += 1;
                    self.failed.insert(id);
                    if self.unresolved.is_empty() {
                        self.close_period(t);
                    }
                }
            }
            "delivered" if v["redelivered"].as_bool().unwrap() => {
                *self.redelivered.entry(group.unwrap()).or_default() += 1;
            }
            "sought" => {
                let g = group.unwrap();
                let next = self.sent.keys().next_back().map_or(0, |id| id + 1);
                let start = self.starts[&g];
                let owed_unprocessed: Vec<u64> = self
                    .sent_at
                    .iter()
                    .filter(|&(id, &at)| at >= start && !self.processed.get(&g).is_some_and(|p| p.contains_key(id)))
                    .map(|(&id, _)| id)
                    .collect();
                let s = self.seeks.entry(g).or_default();
                s.replay_below = next;
                s.replayed_ids.clear();
                if v["to_end"].as_bool().unwrap() {
                    s.skipped.extend(owed_unprocessed);
                }
            }
            "processed" => {
                let (g, id) = (group.unwrap(), id.unwrap());
                let s = self.seeks.entry(g.clone()).or_default();
                if self.sent_at[&id] < self.starts[&g] {
                    s.not_owed += 1;
                    return;
                }
                let n = self.processed.entry(g.clone()).or_default().entry(id).or_default();
                *n += 1;
                if *n > 1 {
                    if id < s.replay_below && s.replayed_ids.insert(id) {
                        s.replayed += 1;
                    } else {
                        s.duplicates += 1;
                    }
                } else if s.skipped.remove(&id) {
                    // Skipped, then read after all: a first processing, not checked for order.
                } else if let Some(key) = self.sent[&id] {
                    let highest = self.highest.entry(g.clone()).or_default().entry(key).or_insert(id);
                    if *highest > id {
                        *self.out_of_order.entry(g).or_default() += 1;
                    } else {
                        *highest = id;
                    }
                }
            }
            _ => {}
        }
    }

    fn group(&self, g: &str) -> Counts {
        let none = BTreeMap::new();
        let processed = self.processed.get(g).unwrap_or(&none);
        let start = self.starts[g];
        let owed: Vec<u64> = self.sent_at.iter().filter(|&(_, &at)| at >= start).map(|(&id, _)| id).collect();
        let none_seeks = Seeks::default();
        let s = self.seeks.get(g).unwrap_or(&none_seeks);
        let mut c = Counts { owed: owed.len() as u64, ..Counts::default() };
        c.processed_unique = processed.len() as u64;
        c.duplicates = s.duplicates;
        c.replayed = s.replayed;
        c.processed_not_owed = s.not_owed;
        c.skipped = s.skipped.len() as u64;
        for id in owed.iter().filter(|id| !processed.contains_key(id) && !s.skipped.contains(id)) {
            // Every node is up at the end of this scenario: unprocessed means lost.
            if self.acknowledged.contains(id) {
                c.acknowledged_lost += 1;
            } else {
                c.unacknowledged_lost += 1;
            }
        }
        c.redelivered = self.redelivered.get(g).copied().unwrap_or(0);
        c.out_of_order = self.out_of_order.get(g).copied().unwrap_or(0);
        c
    }
}

fn reported(v: &serde_json::Value) -> Counts {
    let n = |f: &str| v[f].as_u64().unwrap_or_else(|| panic!("{f} missing in {v}"));
    Counts {
        owed: n("owed"),
        processed_unique: n("processed_unique"),
        acknowledged_lost: n("acknowledged_lost"),
        unacknowledged_lost: n("unacknowledged_lost"),
        duplicates: n("duplicates"),
        redelivered: n("redelivered"),
        out_of_order: n("out_of_order"),
        processed_not_owed: n("processed_not_owed"),
        replayed: n("replayed"),
        skipped: n("skipped"),
    }
}

/// Runs `toml` with `--history` and checks every system's `delivery` against the recount; returns
/// the recounted system totals and the summary.
fn recount(tag: &str, toml: &str) -> (BTreeMap<String, Counts>, serde_json::Value) {
    let d = tmpdir_in("recount", tag);
    let file = d.join("recount.toml");
    std::fs::write(&file, toml).unwrap();
    let out = d.join("out");
    let status = bin().arg("run").arg(&file).arg("--out").arg(&out).args(["--quiet", "--history"]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let systems: Vec<String> = summary["systems"].as_object().unwrap().keys().cloned().collect();
    // The one static fact besides the events: when each group subscribed (README: owed_from).
    let scenario = pushpull::plan::parse(toml, "recount.toml", false).unwrap();
    let starts: BTreeMap<String, u64> = scenario.groups.iter().map(|g| (g.name.clone(), g.start.0)).collect();
    let mut totals: BTreeMap<String, Counts> = BTreeMap::new();
    for sys in &systems {
        let text = std::fs::read_to_string(out.join(format!("history-{sys}.jsonl"))).unwrap();
        let mut r = Recount { starts: starts.clone(), ..Recount::default() };
        for line in text.lines() {
            r.line(&serde_json::from_str(line).unwrap());
        }
        assert!(r.unresolved.is_empty(), "{sys}: the scenario lets every send resolve before the end");
        let delivery = &summary["systems"][sys]["delivery"];
        let tag = |what: &str| format!("{sys}: {what}");
        assert_eq!(delivery["sent"].as_u64().unwrap(), r.sent.len() as u64, "{}", tag("sent"));
        assert_eq!(delivery["acknowledged"].as_u64().unwrap(), r.acknowledged.len() as u64, "{}", tag("acknowledged"));
        assert_eq!(delivery["publish_failures"].as_u64().unwrap(), r.publish_failures, "{}", tag("publish_failures"));
        let unavailable = delivery["unavailable_s"].as_f64();
        assert_eq!(
            unavailable.is_some(),
            r.any_ack,
            "{}",
            tag("unavailable_s measurable iff anything was acknowledged")
        );
        // The summary prints seconds to the nanosecond; allow for the decimal rounding only.
        let mine = r.stalled_ns as f64 / 1e9;
        assert!(
            (unavailable.unwrap_or(0.0) - mine).abs() < 1e-6,
            "{}: {unavailable:?} vs {mine}",
            tag("unavailable_s")
        );
        let mut sum = Counts::default();
        for g in starts.keys() {
            let c = r.group(g);
            assert_eq!(reported(&delivery["groups"][g]), c, "{}", tag(&format!("group {g}")));
            sum.owed += c.owed;
            sum.processed_unique += c.processed_unique;
            sum.acknowledged_lost += c.acknowledged_lost;
            sum.unacknowledged_lost += c.unacknowledged_lost;
            sum.duplicates += c.duplicates;
            sum.redelivered += c.redelivered;
            sum.out_of_order += c.out_of_order;
            sum.processed_not_owed += c.processed_not_owed;
            sum.replayed += c.replayed;
            sum.skipped += c.skipped;
        }
        assert_eq!(reported(delivery), sum, "{}", tag("system totals are the sums over groups"));
        totals.insert(sys.clone(), sum);
    }
    (totals, summary)
}

#[test]
fn delivery_figures_recount_from_the_client_events_alone() {
    let (totals, _) = recount("both", SCENARIO);
    // The recount is only worth something if the figures it matched are not all zero.
    let (k, r) = (totals["kafka"], totals["rabbitmq"]);
    assert!(k.duplicates > 0, "Kafka: auto-commit duplicates after the consumer crash: {k:?}");
    assert!(r.redelivered > 0, "RabbitMQ: the crashed consumer's window is redelivered: {r:?}");
    assert!(r.out_of_order > 0, "RabbitMQ: competing consumers reorder keys: {r:?}");
}

#[test]
fn delivery_figures_recount_after_a_node_crash() {
    let toml = SCENARIO.replace("name = \"recount\"", "name = \"recount\"\nsystems = [\"rabbitmq\"]") + NODE_CRASH;
    let (totals, summary) = recount("node", &toml);
    let r = totals["rabbitmq"];
    assert!(r.acknowledged_lost > 0, "RabbitMQ: confirmed transient messages die with the node: {r:?}");
    let unavailable = summary["systems"]["rabbitmq"]["delivery"]["unavailable_s"].as_f64().unwrap();
    assert!(unavailable > 5.0, "RabbitMQ: no confirm while its node is down for 15 s: {unavailable}");
}

/// Groups over time: one group rewinds (replay), one starts late from the log start (messages it
/// is not owed), one starts late from the end (skipped while it formed).
const OPERATIONS: &str = r#"
[[groups]]
name = "late-earliest"
start = "50s"
from = "earliest"
processing = "5ms"
[[groups]]
name = "late-latest"
start = "70s"
from = "latest"
processing = "5ms"
[[operations]]
at = "150s"
action = "reset_offsets"
group = "a"
to = "earliest"
"#;

#[test]
fn delivery_figures_recount_with_late_groups_and_a_rewind() {
    let (totals, _) = recount("ops", &(SCENARIO.to_string() + OPERATIONS));
    let k = totals["kafka"];
    assert!(k.replayed > 0, "Kafka: the rewind replays: {k:?}");
    assert!(k.processed_not_owed > 0, "Kafka: the late group read from the log start: {k:?}");
    assert!(k.skipped > 0, "Kafka: the latest group skipped what was sent while it formed: {k:?}");
    let r = totals["rabbitmq"];
    assert_eq!((r.replayed, r.processed_not_owed, r.skipped), (0, 0, 0), "RabbitMQ: {r:?}");
}

/// Group `a` as a Kafka share group, busy enough (60 ms of work at 40/s for two consumers) that
/// its crashed consumer holds records: they come back when their locks expire (redelivered), and
/// a rewind replays.
#[test]
fn delivery_figures_recount_with_a_share_group() {
    let toml = SCENARIO.replacen("consumers = 2\n", "consumers = 2\ntype = \"share\"\n", 1).replacen(
        "mean = \"45ms\"",
        "mean = \"60ms\"",
        1,
    ) + "[[operations]]\nat = \"150s\"\naction = \"reset_offsets\"\ngroup = \"a\"\nto = \"earliest\"\n";
    let (totals, summary) = recount("share", &toml);
    let k = totals["kafka"];
    assert!(k.redelivered > 0, "Kafka share group: the crashed consumer's records come back: {k:?}");
    assert!(k.replayed > 0, "Kafka share group: the rewind replays: {k:?}");
    assert_eq!(summary["systems"]["kafka"]["groups"]["a"]["idle_consumers"], 0);
}
