//! Zombie leaders' tails, a node kind (issue 16). A broker whose metadata still says it leads a
//! partition after the controller moved leadership on is a zombie: it keeps the records the
//! election cut off (still in its own log) and appends what producers send it, from offset
//! `base`, until it learns it no longer leads. Then it truncates to the new leader epoch's end,
//! as any replica does, and those records are gone (KIP-101; Jepsen's "acknowledged writes lost
//! to a partitioned leader"). If it never learns, they stay.
//!
//! The handlers are pure: what they store or delete is told through `record`, and what they need
//! of the log and the groups is passed in.

use super::producer::{BatchError, ProducerBatch};
use super::replica::BrokerId;
use crate::history::{Observation, Step};
use crate::models::log::Offset;
use crate::workload::{MessageId, StoredMessage};

/// One zombie's tail of one partition.
struct Tail {
    broker: BrokerId,
    partition: u32,
    base: Offset,
    records: Vec<StoredMessage>,
    /// Per group, its progress when the tail was cut off: a record at or above it was never
    /// processed by that group.
    frontiers: Vec<Offset>,
}

/// How a zombie handles a produce request's batch.
#[derive(Clone, Copy, Debug)]
pub(super) struct ZombieRules {
    /// Idempotent producers: sequence numbers are checked against the zombie's own tail.
    pub sequences: bool,
    pub acks_all: bool,
    /// Record each append's offset (`Step::Appended`).
    pub steps: bool,
}

/// Every zombie's tails.
#[derive(Default)]
pub(super) struct ZombieTails {
    tails: Vec<Tail>,
}

impl ZombieTails {
    fn find(&self, broker: BrokerId, p: u32) -> Option<usize> {
        self.tails.iter().position(|t| t.broker == broker && t.partition == p)
    }

    /// An election truncated partition `p` to `base` while `broker` still thinks it leads: the
    /// records cut off (`records`, in log order) stay in its log, as its tail. `frontiers`: each
    /// group's progress at that moment.
    pub(super) fn cut_off(
        &mut self,
        broker: BrokerId,
        p: u32,
        base: Offset,
        records: Vec<StoredMessage>,
        frontiers: Vec<Offset>,
    ) {
        self.tails.push(Tail { broker, partition: p, base, records, frontiers });
    }

    /// Zombie `broker` appends batch `b` to its tail of `b.partition` and acknowledges it as any
    /// leader would: at once with `acks = 1`; with `acks = all` never (its ISR cannot shrink
    /// without the controller and its followers fetch elsewhere), so the request waits until it
    /// times out: then `b.need` is `Offset::MAX` and the answer is true. With idempotence a batch
    /// at or below the producer's last record in the tail is a duplicate (answered as a success,
    /// not appended again), one whose predecessor is missing is `OUT_OF_ORDER_SEQUENCE_NUMBER`.
    ///
    /// A first append starts a tail at `start()` (the zombie's log end, and each group's
    /// progress). `mine(id)`: the record is this producer's. `log_next(base)`: one past the
    /// producer's last record in the shared log below `base` (0 if none).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn append(
        &mut self,
        broker: BrokerId,
        b: &mut ProducerBatch,
        rules: ZombieRules,
        start: impl FnOnce() -> (Offset, Vec<Offset>),
        mine: impl Fn(MessageId) -> bool,
        log_next: impl FnOnce(Offset) -> u64,
        mut record: impl FnMut(Observation),
    ) -> bool {
        let p = b.partition;
        let t = match self.find(broker, p) {
            Some(t) => t,
            None => {
                let (base, frontiers) = start();
                self.cut_off(broker, p, base, Vec::new(), frontiers);
                self.tails.len() - 1
            }
        };
        let tail = &mut self.tails[t];
        let next = match tail.records.iter().rev().find(|r| mine(r.id())) {
            Some(r) => r.id() + 1,
            None => log_next(tail.base),
        };
        if rules.sequences && b.last_id() < next {
            // Appended before: a duplicate, answered as a success.
        } else if rules.sequences && b.prev != 0 && b.prev != next {
            b.error = BatchError::OutOfOrder;
            return false;
        } else {
            let mut bytes = 0;
            for &r in &b.records {
                tail.records.push(r);
                bytes += r.bytes();
                record(Observation::Stored { msg: r });
                if rules.steps {
                    let offset = tail.base + tail.records.len() as u64 - 1;
                    record(Observation::Step(Step::Appended { id: r.id(), partition: p, offset, broker }));
                }
            }
            record(Observation::StorageChanged { delta: bytes as i64 });
        }
        if rules.acks_all {
            b.need = Offset::MAX;
            return true;
        }
        false
    }

    /// Broker `b` learned that it no longer leads partition `p`: it truncates its tail, whose
    /// records are deleted for every group that had not processed them.
    pub(super) fn resign(&mut self, b: BrokerId, p: u32, mut record: impl FnMut(Observation)) {
        let Some(i) = self.find(b, p) else { return };
        let t = self.tails.remove(i);
        let mut freed = 0;
        for (k, r) in t.records.iter().enumerate() {
            freed += r.bytes();
            let offset = t.base + k as u64;
            for (g, &f) in t.frontiers.iter().enumerate() {
                if offset >= f {
                    record(Observation::Deleted { id: r.id(), group: Some(g) });
                }
            }
        }
        if freed > 0 {
            record(Observation::StorageChanged { delta: -(freed as i64) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use crate::workload::Message;

    fn rec(id: MessageId) -> StoredMessage {
        StoredMessage::new(&Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 })
    }

    fn batch(p: u32, prev: u64, ids: &[MessageId]) -> ProducerBatch {
        let mut b = ProducerBatch::appended(p, 0);
        b.records = ids.iter().map(|&id| rec(id)).collect();
        b.prev = prev;
        b
    }

    fn names(obs: &[Observation]) -> Vec<String> {
        obs.iter()
            .map(|o| match o {
                Observation::Stored { msg } => format!("stored {}", msg.id()),
                Observation::Step(Step::Appended { id, offset, .. }) => format!("{id} at {offset}"),
                Observation::StorageChanged { delta } => format!("storage {delta:+}"),
                Observation::Deleted { id, group } => format!("deleted {id} for {group:?}"),
                o => format!("{o:?}"),
            })
            .collect()
    }

    const RULES: ZombieRules = ZombieRules { sequences: true, acks_all: false, steps: true };

    /// An election cut partition 0 to offset 10 while broker 2 still led it: records 7 and 8 stay
    /// in its tail at offsets 10 and 11. Group 0's progress was at offset 11 (it had processed
    /// offsets up to 10, record 7), group 1's at 9. The zombie appends record 9 at offset 12 (`acks = 1`: answered at once). A
    /// retry of record 9 is a duplicate; record 11 after 9 (its predecessor 10 missing) is out of
    /// order. When the zombie resigns, each group loses what it had not processed: group 0
    /// records 8 and 9, group 1 all three; 300 bytes are freed.
    #[test]
    fn a_zombie_appends_to_its_own_tail_and_loses_it_when_it_resigns() {
        let mut z = ZombieTails::default();
        z.cut_off(2, 0, 10, vec![rec(7), rec(8)], vec![11, 9]);
        let mut seen = Vec::new();
        let never = || panic!("the tail exists");
        let mut b = batch(0, 9, &[9]);
        let waits = z.append(2, &mut b, RULES, never, |_| true, |_| panic!("found in the tail"), |o| seen.push(o));
        assert!(!waits);
        assert_eq!(b.error, BatchError::None);
        assert_eq!(names(&seen), ["stored 9", "9 at 12", "storage +100"]);
        seen.clear();
        let mut again = batch(0, 9, &[9]);
        z.append(2, &mut again, RULES, never, |_| true, |_| 0, |o| seen.push(o));
        assert!(seen.is_empty() && again.error == BatchError::None, "a duplicate is acknowledged, not stored");
        let mut gap = batch(0, 11, &[11]);
        z.append(2, &mut gap, RULES, never, |_| true, |_| 0, |o| seen.push(o));
        assert_eq!(gap.error, BatchError::OutOfOrder);
        assert!(seen.is_empty());
        z.resign(2, 0, |o| seen.push(o));
        assert_eq!(
            names(&seen),
            [
                "deleted 7 for Some(1)",
                "deleted 8 for Some(0)",
                "deleted 8 for Some(1)",
                "deleted 9 for Some(0)",
                "deleted 9 for Some(1)",
                "storage -300"
            ]
        );
        seen.clear();
        z.resign(2, 0, |o| seen.push(o));
        assert!(seen.is_empty(), "the tail is gone");
    }

    /// A zombie with no tail yet starts one at its log end (5) on its first append. With
    /// `acks = all` the batch waits for ever (`need` is the largest offset): no ISR will move.
    /// The producer's sequence goes on from the shared log below the tail's base (record 3).
    #[test]
    fn a_first_zombie_append_starts_a_tail_and_waits_under_acks_all() {
        let mut z = ZombieTails::default();
        let rules = ZombieRules { acks_all: true, ..RULES };
        let mut seen = Vec::new();
        let mut b = batch(1, 4, &[4, 5]);
        let mut asked = None;
        let waits = z.append(
            0,
            &mut b,
            rules,
            || (5, vec![5]),
            |_| true,
            |base| {
                asked = Some(base);
                4
            },
            |o| seen.push(o),
        );
        assert!(waits);
        assert_eq!((b.need, asked), (Offset::MAX, Some(5)));
        assert_eq!(names(&seen), ["stored 4", "4 at 5", "stored 5", "5 at 6", "storage +200"]);
        // Another partition of the same zombie, or the same partition elsewhere, has no tail.
        seen.clear();
        z.resign(0, 0, |o| seen.push(o));
        z.resign(1, 1, |o| seen.push(o));
        assert!(seen.is_empty());
    }
}
