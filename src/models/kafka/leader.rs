//! The partition leader's decisions on the data path, as pure functions of what the broker holds:
//! what it makes of each batch of a produce request, how it answers the request, and which records
//! of a partition go into a consumer's fetch response. The harness (`broker.rs`, `mod.rs`) applies
//! them: it appends, parks a request in the purgatory, sends the response.
//!
//! Kafka sources followed: `KafkaApis.handleProduceRequest` (acks 0: no response, the connection
//! closed on an error), `Partition.appendRecordsToLeader` (`NOT_LEADER_OR_FOLLOWER`, the
//! `min.insync.replicas` check before appending), `ProducerStateManager` (duplicate and
//! out-of-order sequences), `ReplicaManager.readFromLog` / `LocalLog.read` (records below the high
//! watermark, `max.partition.fetch.bytes` and `fetch.max.bytes`, at least one record per response).

use super::producer::{BatchError, ProducerBatch};
use super::*;
use crate::scenario::Acks;
use crate::time::SimDuration;

/// What the leader makes of one batch of a produce request, before anything is appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Refused, nothing appended: `NOT_LEADER_OR_FOLLOWER` (by its own metadata the broker does
    /// not lead the partition), `NOT_ENOUGH_REPLICAS` (`acks = all` and the ISR is below
    /// `min.insync.replicas`) or `OUT_OF_ORDER_SEQUENCE_NUMBER` (the batch the idempotent producer
    /// sent before it to this partition is missing).
    Refused(BatchError),
    /// By its metadata it leads, but the controller has moved on (another leader or a newer
    /// epoch): it appends to a tail of its own, a zombie's.
    Zombie,
    /// `DUPLICATE_SEQUENCE_NUMBER`: the idempotent producer's batch is already in the log (its
    /// response was lost); answered as a success, not appended again.
    Duplicate,
    /// Appended.
    Append,
}

/// The topic's and producers' settings a leader checks a batch against.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProduceRules {
    pub acks: Acks,
    pub min_insync_replicas: u32,
    /// Idempotent producers: the leader checks each producer's sequence.
    pub sequences: bool,
}

/// Broker `broker`, whose metadata says `view` (leader, epoch) for the batch's partition, whose
/// replicas are `r` by the controller's record, checks `batch`. `tail` gives one past the id of
/// the producer's last record in the log (its sequence goes on from there); it is asked only with
/// idempotence and once the broker is known to lead.
#[inline(always)]
pub(super) fn admit(
    broker: BrokerId,
    view: (Option<BrokerId>, u32),
    r: &Replicas,
    rules: ProduceRules,
    batch: &ProducerBatch,
    tail: impl FnOnce() -> u64,
) -> Admission {
    let (view_leader, view_epoch) = view;
    if view_leader != Some(broker) {
        return Admission::Refused(BatchError::NotLeader);
    }
    if r.leader != Some(broker) || r.epoch != view_epoch {
        return Admission::Zombie;
    }
    if rules.acks == Acks::All && r.isr_len() < rules.min_insync_replicas {
        return Admission::Refused(BatchError::NotEnoughReplicas);
    }
    if rules.sequences {
        let tail = tail();
        if batch.last_id() < tail {
            return Admission::Duplicate;
        }
        if batch.prev != 0 && batch.prev != tail {
            return Admission::Refused(BatchError::OutOfOrder);
        }
    }
    Admission::Append
}

/// How the leader answers a produce request once each batch was checked (and appended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// `acks = 0`, every batch appended: no response.
    Silent,
    /// `acks = 0` with a failed batch: no response either, but the connection is closed so that
    /// the producer refreshes its metadata.
    CloseConnection,
    /// A response now: `acks = 1`, or `acks = all` with every batch committed or failed.
    Respond,
    /// `acks = all` with a batch the HW has not passed yet: the request waits in the purgatory.
    Park,
}

/// The answer to a request whose batches are `batches`, `waiting` if an `acks = all` batch waits
/// for the high watermark.
pub(super) fn reply(acks: Acks, batches: &[ProducerBatch], waiting: bool) -> Reply {
    match acks {
        Acks::Zero if batches.iter().any(|b| b.error != BatchError::None) => Reply::CloseConnection,
        Acks::Zero => Reply::Silent,
        Acks::One => Reply::Respond,
        Acks::All if waiting => Reply::Park,
        Acks::All => Reply::Respond,
    }
}

/// The topic's log settings a leader writes with.
#[derive(Debug, Clone, Copy)]
pub(super) struct LogRules {
    /// `cleanup.policy` compact: the log keeps each record's key.
    pub compacts: bool,
    /// `segment.bytes` and `segment.ms`: when the active segment rolls.
    pub segment_bytes: u64,
    pub segment_ms: SimDuration,
}

/// Leader `leader` writes `records` to partition `partition`'s `log` (with their `keys` on a
/// compacted topic). Each record is seen `Stored`, and with `steps` its `Appended` step at its
/// offset; returns the bytes written.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn write(
    log: &mut Partition,
    now: SimTime,
    records: &[StoredMessage],
    keys: &[u64],
    rules: LogRules,
    partition: u32,
    leader: BrokerId,
    steps: bool,
    mut seen: impl FnMut(Observation),
) -> u64 {
    debug_assert!(!rules.compacts || keys.len() == records.len(), "a compacted topic's batch keeps every key");
    let mut bytes = 0;
    for (i, &r) in records.iter().enumerate() {
        if rules.compacts {
            log.append_keyed(now, r, keys[i], rules.segment_bytes, rules.segment_ms);
        } else {
            log.append(now, r, rules.segment_bytes, rules.segment_ms);
        }
        bytes += r.bytes();
        seen(Observation::Stored { msg: r });
        if steps {
            let step = Step::Appended { id: r.id(), partition, offset: log.end_offset() - 1, broker: leader };
            seen(Observation::Step(step));
        }
    }
    bytes
}

/// The fetch response's size limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct FetchLimits {
    /// `max.partition.fetch.bytes`.
    pub partition_bytes: u64,
    /// `fetch.max.bytes`, over the whole response.
    pub response_bytes: u64,
}

/// Reads partition slot `slot`'s records from offset `pos` below the high watermark `hw` of `log`
/// into `records`, within `limits` (`total`: the response's bytes so far, updated), and returns the
/// consumer's next position. The first record of a response is taken whatever its size, as Kafka
/// does. `routed(id)` says whether the group's topics hold a record and whether its consumers use
/// it (Kafka's topics share one log here, see `routing`): records of other topics are skipped, and
/// when the read ends on skipped records a [`SKIPPED`] marker moves the consumer past them; a
/// record fetched but not used is marked [`DISCARD`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn read_partition(
    log: &Partition,
    hw: Offset,
    mut pos: Offset,
    slot: u32,
    limits: FetchLimits,
    total: &mut u64,
    records: &mut Vec<Fetched>,
    routed: impl Fn(u64) -> (bool, bool),
) -> Offset {
    let mut part_bytes = 0;
    let mut skipped = None;
    // Compaction leaves gaps in the offsets: the fetch returns the next records held.
    while let Some((offset, r)) = log.next_from(pos)
        && offset < hw
    {
        let (fetch, used) = routed(r.id());
        if !fetch {
            skipped = Some((offset, *r));
            pos = offset + 1;
            continue;
        }
        if (part_bytes + r.bytes() > limits.partition_bytes || *total + r.bytes() > limits.response_bytes)
            && !records.is_empty()
        {
            break;
        }
        part_bytes += r.bytes();
        *total += r.bytes();
        skipped = None;
        let delivery = if used { 0 } else { DISCARD };
        records.push(Fetched { slot, offset, msg: *r, delivery });
        pos = offset + 1;
    }
    if let Some((offset, r)) = skipped {
        let m = crate::workload::Message { id: r.id(), published_at: r.published_at, key: None, bytes: 0 };
        records.push(Fetched { slot, offset, msg: StoredMessage::new(&m), delivery: SKIPPED });
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Message;

    const RULES: ProduceRules = ProduceRules { acks: Acks::All, min_insync_replicas: 2, sequences: false };

    /// A batch of records with ids `ids`, sent after the producer's record `prev - 1` (0: first).
    fn batch(ids: &[u64], prev: u64) -> ProducerBatch {
        let mut b = ProducerBatch::appended(0, 0);
        b.prev = prev;
        b.records = ids
            .iter()
            .map(|&id| StoredMessage::new(&Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 }))
            .collect();
        b
    }

    /// Partition 0 on brokers 0, 1, 2 (RF 3), led by broker 0 at epoch 0, all in sync.
    fn replicas() -> Replicas {
        Replicas::new(0, 3, 3)
    }

    /// The broker's own metadata decides first: broker 1 thinks broker 0 leads, so it refuses
    /// (`NOT_LEADER_OR_FOLLOWER`) although nothing else is wrong. Broker 0 appends as a zombie
    /// when its view's epoch is not the controller's: the controller re-elected broker 0 at epoch
    /// 1 (it was fenced and came back) while broker 0's log still says epoch 0, or the controller
    /// moved leadership to broker 1 and broker 0 has not heard yet.
    #[test]
    fn the_brokers_own_metadata_decides_not_leader_and_zombie() {
        let r = replicas();
        let b = batch(&[0], 0);
        assert_eq!(admit(1, (Some(0), 0), &r, RULES, &b, || 0), Admission::Refused(BatchError::NotLeader));
        assert_eq!(admit(0, (None, 0), &r, RULES, &b, || 0), Admission::Refused(BatchError::NotLeader));
        let mut reelected = replicas();
        reelected.epoch = 1;
        assert_eq!(admit(0, (Some(0), 0), &reelected, RULES, &b, || 0), Admission::Zombie);
        assert_eq!(admit(0, (Some(0), 1), &reelected, RULES, &b, || 0), Admission::Append);
        let mut moved = replicas();
        moved.leader = Some(1);
        assert_eq!(admit(0, (Some(0), 0), &moved, RULES, &b, || 0), Admission::Zombie);
        assert_eq!(admit(0, (Some(0), 0), &r, RULES, &b, || 0), Admission::Append);
    }

    /// `min.insync.replicas = 2`: with the ISR shrunk to the leader alone, `acks = all` is refused
    /// before appending; `acks = 1` appends anyway (the check is only for `acks = all`).
    #[test]
    fn acks_all_is_refused_below_min_insync_replicas_and_acks_one_is_not() {
        let mut r = replicas();
        r.isr = replica::bit(0);
        let b = batch(&[0], 0);
        assert_eq!(admit(0, (Some(0), 0), &r, RULES, &b, || 0), Admission::Refused(BatchError::NotEnoughReplicas));
        let one = ProduceRules { acks: Acks::One, ..RULES };
        assert_eq!(admit(0, (Some(0), 0), &r, one, &b, || 0), Admission::Append);
        r.isr = replica::bit(0) | replica::bit(2);
        assert_eq!(admit(0, (Some(0), 0), &r, RULES, &b, || 0), Admission::Append);
    }

    /// Idempotence, with the producer's last record in the log being id 9 (tail 10): a batch of
    /// ids 8..9 was appended before (a retry after a lost response): a duplicate. A batch of
    /// 12..13 sent after id 11 (prev 12) finds 10 and 11 missing: out of order. A batch 10..11
    /// sent after 9 (prev 10) goes on the sequence; so does a first batch (prev 0, a new epoch).
    /// Without idempotence the tail is never asked.
    #[test]
    fn sequences_tell_a_duplicate_from_a_gap() {
        let r = replicas();
        let rules = ProduceRules { sequences: true, ..RULES };
        let tail = || 10;
        assert_eq!(admit(0, (Some(0), 0), &r, rules, &batch(&[8, 9], 8), tail), Admission::Duplicate);
        assert_eq!(
            admit(0, (Some(0), 0), &r, rules, &batch(&[12, 13], 12), tail),
            Admission::Refused(BatchError::OutOfOrder)
        );
        assert_eq!(admit(0, (Some(0), 0), &r, rules, &batch(&[10, 11], 10), tail), Admission::Append);
        assert_eq!(admit(0, (Some(0), 0), &r, rules, &batch(&[20], 0), tail), Admission::Append);
        let unasked = || panic!("the tail is asked only with idempotence");
        assert_eq!(admit(0, (Some(0), 0), &r, RULES, &batch(&[12], 12), unasked), Admission::Append);
        // Nor when the broker does not lead.
        assert_eq!(
            admit(1, (Some(0), 0), &r, rules, &batch(&[12], 12), unasked),
            Admission::Refused(BatchError::NotLeader)
        );
    }

    #[test]
    fn the_reply_follows_acks() {
        let ok = [batch(&[0], 0)];
        let mut failed = batch(&[1], 0);
        failed.error = BatchError::NotLeader;
        let failed = [batch(&[0], 0), failed];
        assert_eq!(reply(Acks::Zero, &ok, false), Reply::Silent);
        assert_eq!(reply(Acks::Zero, &failed, false), Reply::CloseConnection);
        assert_eq!(reply(Acks::One, &failed, false), Reply::Respond);
        assert_eq!(reply(Acks::All, &ok, true), Reply::Park);
        assert_eq!(reply(Acks::All, &failed, false), Reply::Respond);
    }

    /// A log of five 100-byte records (ids 0..5 at offsets 0..5).
    fn log() -> Partition {
        let mut log = Partition::default();
        for id in 0..5 {
            let r = StoredMessage::new(&Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 });
            log.append(SimTime::ZERO, r, u64::MAX, SimDuration::from_secs(86_400));
        }
        log
    }

    const WIDE: FetchLimits = FetchLimits { partition_bytes: 1 << 20, response_bytes: 50 << 20 };

    fn offsets(records: &[Fetched]) -> Vec<(u64, u8)> {
        records.iter().map(|f| (f.offset, f.delivery)).collect()
    }

    /// Only records below the HW are read: from offset 1 with the HW at 3, offsets 1 and 2, and
    /// the next position is 3. At the HW nothing is read and the position stays.
    #[test]
    fn a_fetch_reads_below_the_high_watermark_only() {
        let (log, mut records, mut total) = (log(), Vec::new(), 0);
        let pos = read_partition(&log, 3, 1, 0, WIDE, &mut total, &mut records, |_| (true, true));
        assert_eq!((pos, total), (3, 200));
        assert_eq!(offsets(&records), [(1, 0), (2, 0)]);
        let pos = read_partition(&log, 3, 3, 1, WIDE, &mut total, &mut records, |_| (true, true));
        assert_eq!((pos, records.len()), (3, 2));
    }

    /// `max.partition.fetch.bytes = 250` takes two 100-byte records of a partition (a third would
    /// make 300). `fetch.max.bytes = 350` then lets the second partition add one (300 + 100 > 350
    /// stops at the second). A limit below one record still returns the response's first record.
    #[test]
    fn the_size_limits_cut_a_response_but_never_below_one_record() {
        let log = log();
        let limits = FetchLimits { partition_bytes: 250, response_bytes: 350 };
        let (mut records, mut total) = (Vec::new(), 0);
        let pos = read_partition(&log, 5, 0, 0, limits, &mut total, &mut records, |_| (true, true));
        assert_eq!((pos, total), (2, 200));
        let pos = read_partition(&log, 5, 0, 1, limits, &mut total, &mut records, |_| (true, true));
        assert_eq!((pos, total, records.len()), (1, 300, 3));
        let tiny = FetchLimits { partition_bytes: 10, response_bytes: 10 };
        let (mut records, mut total) = (Vec::new(), 0);
        let pos = read_partition(&log, 5, 0, 0, tiny, &mut total, &mut records, |_| (true, true));
        assert_eq!((pos, total, records.len()), (1, 100, 1));
    }

    /// Routing: the group's topics hold even ids only, and it uses id 2 but not id 0 (fetched,
    /// then discarded). From offset 0: 0 (discarded), 2, 4; 1 and 3 are skipped with no marker,
    /// since a fetched record follows them. If only id 0 is the group's, the read ends on skipped
    /// records and a marker at the last one (offset 4, no bytes) moves the consumer past them.
    #[test]
    fn records_of_other_topics_are_skipped_and_a_trailing_run_is_marked() {
        let log = log();
        let (mut records, mut total) = (Vec::new(), 0);
        let routed = |id: u64| (id % 2 == 0, id != 0);
        let pos = read_partition(&log, 5, 0, 0, WIDE, &mut total, &mut records, routed);
        assert_eq!((pos, total), (5, 300));
        assert_eq!(offsets(&records), [(0, DISCARD), (2, 0), (4, 0)]);
        let (mut records, mut total) = (Vec::new(), 0);
        let pos = read_partition(&log, 5, 0, 0, WIDE, &mut total, &mut records, |id| (id == 0, true));
        assert_eq!((pos, total), (5, 100));
        assert_eq!(offsets(&records), [(0, 0), (4, SKIPPED)]);
        assert_eq!(records[1].msg.bytes(), 0);
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;
    use crate::workload::Message;

    fn records(ids: &[u64]) -> Vec<StoredMessage> {
        ids.iter()
            .map(|&id| StoredMessage::new(&Message { id, published_at: SimTime::ZERO, key: None, bytes: 100 }))
            .collect()
    }

    fn rules() -> LogRules {
        LogRules { compacts: false, segment_bytes: 1 << 30, segment_ms: SimDuration::from_secs(604_800) }
    }

    /// A log holding 2 records gets ids 7 and 8 at offsets 2 and 3 from leader 1: 200 bytes,
    /// both Stored, and with steps each Appended at its offset. Without steps only Stored.
    #[test]
    fn a_write_stores_each_record_and_tells_its_offset() {
        let mut log = Partition::default();
        write(&mut log, SimTime::ZERO, &records(&[0, 1]), &[], rules(), 4, 1, false, |_| {});
        let mut seen = Vec::new();
        let bytes = write(&mut log, SimTime::ZERO, &records(&[7, 8]), &[], rules(), 4, 1, true, |o| seen.push(o));
        assert_eq!((bytes, log.end_offset()), (200, 4));
        let steps: Vec<(u64, u64)> = seen
            .iter()
            .filter_map(|o| match o {
                Observation::Step(Step::Appended { id, partition: 4, offset, broker: 1 }) => Some((*id, *offset)),
                _ => None,
            })
            .collect();
        assert_eq!(steps, [(7, 2), (8, 3)]);
        assert_eq!(seen.iter().filter(|o| matches!(o, Observation::Stored { .. })).count(), 2);
        let mut seen = Vec::new();
        write(&mut log, SimTime::ZERO, &records(&[9]), &[], rules(), 4, 1, false, |o| seen.push(o));
        assert!(matches!(seen.as_slice(), [Observation::Stored { msg }] if msg.id() == 9));
    }

    /// A compacted topic keeps each record's key: keys 5, 6, 5, 7, one record per segment. The
    /// cleaner (HW 4, the active segment holding offset 3) removes only the older record of key 5.
    #[test]
    fn a_compacted_write_keeps_the_keys_for_the_cleaner() {
        let mut log = Partition::compacted();
        let rules = LogRules { compacts: true, segment_bytes: 100, ..rules() };
        write(&mut log, SimTime::ZERO, &records(&[0, 1, 2, 3]), &[5, 6, 5, 7], rules, 0, 0, false, |_| {});
        assert_eq!(log.end_offset(), 4);
        let mut removed = Vec::new();
        log.clean(4, 0.0, 100, |r| removed.push(r.id()));
        assert_eq!(removed, [0], "the older record of key 5 is cleaned");
    }
}
