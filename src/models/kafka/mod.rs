//! Kafka-style broker: a topic of P partitions (append-only logs with offsets), a producer that
//! batches per partition (`linger.ms`, `batch.size`), and consumer groups whose consumers **pull**
//! with long polls (`fetch.min.bytes`, `fetch.max.wait.ms`), hand at most `max.poll.records` to the
//! application per poll, process in order and commit offsets (auto-commit every
//! `auto.commit.interval.ms`, or commitSync after each poll's records). Records stay in the log
//! until retention deletes their segment, whether or not anyone read them.

pub mod group;
pub mod log;
pub mod partitioner;
pub mod producer;

use crate::engine::{EventKey, Model, Scheduler};
use crate::history::{ClientEvent, GroupIdx, History, Observation};
use crate::scenario::defaults::{
    KAFKA_MAX_IN_FLIGHT_REQUESTS as MAX_IN_FLIGHT_REQUESTS, KAFKA_MAX_REQUEST_BYTES as MAX_REQUEST_BYTES,
};
use crate::scenario::{KafkaConfig, Keys, OffsetReset, Scenario};
use crate::time::{SimDuration, SimTime};
use crate::workload::{ProcessingTimes, Producer, StoredMessage};
use group::{CommittedOffsets, range_assign};
use log::{Offset, Partition};
use partitioner::partition_for_key;
use producer::{Accumulator, ProducerBatch, SenderCheck};
use std::collections::VecDeque;

/// The events of the Kafka model.
#[derive(Debug)]
pub enum Event {
    /// The producer application calls `send()` for the next message of the workload.
    Publish,
    /// The producer's sender thread wakes up to look for ready batches (`linger.ms`).
    SenderWakeup,
    /// A produce request (one batch per partition) reaches the broker.
    ProduceArrives { batches: Vec<ProducerBatch> },
    /// The broker's produce response reaches the producer, with the batches it acknowledges.
    ProduceResponse { batches: Vec<ProducerBatch> },
    /// A fetch request reaches the broker.
    FetchArrives { group: GroupIdx, consumer: u32 },
    /// The consumer's long-poll timer: answers its parked fetch if `fetch.max.wait.ms` has passed.
    FetchExpired { group: GroupIdx, consumer: u32 },
    /// A fetch response reaches the consumer.
    FetchResponse { group: GroupIdx, consumer: u32, records: Vec<Fetched> },
    /// The application finished the record it was processing.
    ProcessingDone { group: GroupIdx, consumer: u32 },
    /// An offset commit reaches the group coordinator.
    CommitArrives { group: GroupIdx, offsets: Vec<(u32, Offset)> },
    /// `commitSync` returned to the application.
    CommitSyncDone { group: GroupIdx, consumer: u32 },
    /// The auto-commit timer of a consumer blocked in `poll` is due.
    AutoCommitDue { group: GroupIdx, consumer: u32 },
    /// The broker's periodic retention check (`log.retention.check.interval.ms`).
    RetentionCheck,
}

/// A record in a consumer's hands, with where it came from (for commits).
#[derive(Debug, Clone, Copy)]
pub struct Fetched {
    /// Index into the consumer's assigned partitions.
    slot: u32,
    offset: Offset,
    msg: StoredMessage,
}

struct Consumer {
    partitions: Vec<u32>,
    /// Records in `buffer` per assigned partition: a partition with none is fetchable.
    buffered: Vec<u32>,
    /// The partitions (slots) the fetch in flight asked for.
    requested: Vec<bool>,
    /// Next offset to fetch, per assigned partition.
    fetch_pos: Vec<Offset>,
    /// Offset after the last record handed to the application by `poll`, per partition.
    consumed: Vec<Offset>,
    /// Last offsets this consumer sent in a commit.
    commit_sent: Vec<Offset>,
    /// Fetched, not yet returned by `poll`.
    buffer: VecDeque<Fetched>,
    /// Returned by the current `poll`, processed in order.
    polled: VecDeque<Fetched>,
    busy: Option<Fetched>,
    /// A fetch request or its response is on its way, or parked at the broker.
    fetching: bool,
    /// Deadline (`fetch.max.wait.ms`) of this consumer's fetch parked at the broker, if any.
    parked: Option<SimTime>,
    /// When this consumer's pending `FetchExpired` event fires, if one is scheduled. One timer per
    /// consumer, re-armed lazily: parking a fetch does not cost a heap entry each time.
    expiry_timer: Option<SimTime>,
    /// Fetches this consumer parked at the broker so far; also picks the partition a response
    /// starts with, so that `fetch.max.bytes` does not always favour the same one.
    fetches_parked: u64,
    waiting_in_poll: bool,
    next_auto_commit: SimTime,
    /// Due time of this consumer's pending `AutoCommitDue` event, if any: one per due time is enough.
    auto_commit_timer: Option<SimTime>,
}

struct ConsumerGroup {
    consumers: Vec<Consumer>,
    /// Partition -> index of the consumer that owns it.
    owner: Vec<u32>,
    committed: CommittedOffsets,
    /// Sum over partitions of the group's fetch positions: what it fetched (or skipped) so far.
    fetched_sum: u64,
    /// Records appended that this group has neither processed nor skipped.
    remaining: u64,
    /// Offset ranges (partition, from, to) that `auto.offset.reset` skipped and that the committed
    /// offset has not yet passed, and how many offsets they still hold: these were never handed to
    /// a consumer, so they do not count as unacknowledged.
    skipped: Vec<(u32, Offset, Offset)>,
    skipped_uncommitted: u64,
}

pub struct KafkaModel<'h, H: History> {
    history: &'h mut H,
    cfg: KafkaConfig,
    producer: Producer,
    processing: ProcessingTimes,
    keyed: bool,
    /// `murmur2(key) % partitions` for every key, when the key space is small enough to tabulate.
    key_partitions: Vec<u32>,
    accumulator: Accumulator,
    /// Produce requests sent and not yet answered (`max.in.flight.requests.per.connection`).
    requests_in_flight: u32,
    /// The sender's pending wakeup, if one is scheduled: its time and the key that cancels it.
    sender_timer: Option<(SimTime, EventKey)>,
    /// Offset commits on their way to the coordinator: the run is not over before they land.
    commits_in_flight: u64,
    partitions: Vec<Partition>,
    /// Sum of log end offsets over partitions.
    end_offsets_sum: u64,
    groups: Vec<ConsumerGroup>,
    latency: SimDuration,
    /// Emptied request and fetch-response buffers, reused instead of allocating per message.
    request_pool: Vec<Vec<ProducerBatch>>,
    fetch_pool: Vec<Vec<Fetched>>,
}

impl<'h, H: History> KafkaModel<'h, H> {
    pub fn new(s: &Scenario, history: &'h mut H, sched: &mut Scheduler<Event>) -> Self {
        let cfg = s.kafka.clone();
        let p = cfg.partitions;
        let producer = Producer::new(s);
        if let Some(at) = producer.next_at() {
            sched.schedule_at(at, Event::Publish);
        }
        sched.schedule_in(cfg.retention_check_interval, Event::RetentionCheck);
        let groups: Vec<ConsumerGroup> = s
            .groups
            .iter()
            .map(|g| {
                let assignment = range_assign(p, g.consumers);
                let mut owner = vec![0; p as usize];
                for (c, parts) in assignment.iter().enumerate() {
                    for &q in parts {
                        owner[q as usize] = c as u32;
                    }
                }
                ConsumerGroup {
                    consumers: assignment
                        .into_iter()
                        .map(|parts| Consumer {
                            buffered: vec![0; parts.len()],
                            requested: vec![false; parts.len()],
                            fetch_pos: vec![0; parts.len()],
                            consumed: vec![0; parts.len()],
                            commit_sent: vec![0; parts.len()],
                            partitions: parts,
                            buffer: VecDeque::new(),
                            polled: VecDeque::new(),
                            busy: None,
                            fetching: false,
                            parked: None,
                            expiry_timer: None,
                            fetches_parked: 0,
                            waiting_in_poll: false,
                            next_auto_commit: SimTime(cfg.auto_commit_interval.0),
                            auto_commit_timer: None,
                        })
                        .collect(),
                    owner,
                    committed: CommittedOffsets::new(p),
                    fetched_sum: 0,
                    remaining: 0,
                    skipped: Vec::new(),
                    skipped_uncommitted: 0,
                }
            })
            .collect();
        let mut m = KafkaModel {
            history,
            keyed: !matches!(s.workload.keys, Keys::None),
            key_partitions: match s.workload.keys {
                Keys::Uniform { count } | Keys::Zipf { count, .. } if count <= 1 << 20 => {
                    (0..count).map(|k| partition_for_key(k, p)).collect()
                }
                _ => Vec::new(),
            },
            accumulator: Accumulator::new(s.seed, p, cfg.batch_size, cfg.linger),
            requests_in_flight: 0,
            sender_timer: None,
            commits_in_flight: 0,
            partitions: (0..p).map(|_| Partition::default()).collect(),
            end_offsets_sum: 0,
            groups,
            latency: s.network.latency,
            request_pool: Vec::new(),
            fetch_pool: Vec::new(),
            producer,
            processing: ProcessingTimes::new(s),
            cfg,
        };
        // Every consumer with partitions starts in poll().
        for g in 0..m.groups.len() {
            for c in 0..m.groups[g].consumers.len() {
                if !m.groups[g].consumers[c].partitions.is_empty() {
                    m.poll(SimTime::ZERO, g, c as u32, sched);
                }
            }
        }
        m
    }

    // ---- producer ----

    fn publish(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let Some((msg, next)) = self.producer.take() else {
            return;
        };
        self.history.record(now, Observation::Client(ClientEvent::Sent { msg }));
        if let Some(at) = next {
            sched.schedule_at(at, Event::Publish);
        }
        let (partition, sticky) = match msg.key {
            Some(k) if self.keyed => match self.key_partitions.get(k as usize) {
                Some(&p) => (p, false),
                None => (partition_for_key(k, self.cfg.partitions), false),
            },
            _ => (self.accumulator.sticky_partition(), true),
        };
        let key_len = match msg.key {
            Some(k) if self.keyed => Some(partitioner::key_bytes(k, &mut [0u8; 20]).len() as u64),
            _ => None,
        };
        if self.accumulator.append(now, partition, &msg, key_len, sticky) {
            self.run_sender(now, sched);
        }
    }

    /// The sender thread: while a batch is ready and fewer than `max.in.flight` requests are
    /// outstanding, drain every partition into one produce request; otherwise sleep until the
    /// first batch reaches `linger.ms` (or a response frees a slot).
    fn run_sender(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        loop {
            match self.accumulator.check(now) {
                SenderCheck::Ready if self.requests_in_flight < MAX_IN_FLIGHT_REQUESTS => {
                    let mut batches = self.request_pool.pop().unwrap_or_default();
                    self.accumulator.drain(MAX_REQUEST_BYTES, &mut batches);
                    self.requests_in_flight += 1;
                    sched.schedule_in(self.latency, Event::ProduceArrives { batches });
                }
                SenderCheck::Ready | SenderCheck::Idle => return,
                SenderCheck::WaitUntil(at) => {
                    match self.sender_timer {
                        Some((t, _)) if t <= at => {}
                        pending => {
                            if let Some((_, key)) = pending {
                                sched.cancel(key);
                            }
                            self.sender_timer = Some((at, sched.schedule_at(at, Event::SenderWakeup)));
                        }
                    }
                    return;
                }
            }
        }
    }

    fn sender_wakeup(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        self.sender_timer = None;
        self.run_sender(now, sched);
    }

    fn produce_response(&mut self, now: SimTime, mut batches: Vec<ProducerBatch>, sched: &mut Scheduler<Event>) {
        self.requests_in_flight -= 1;
        for b in batches.drain(..) {
            for r in &b.records {
                self.history.record(now, Observation::Client(ClientEvent::Acknowledged { id: r.id() }));
            }
            self.accumulator.recycle(b.records);
        }
        self.request_pool.push(batches);
        self.run_sender(now, sched);
    }

    // ---- broker: partitions ----

    /// The leader appends every batch of a produce request and answers it.
    fn produce_arrives(&mut self, now: SimTime, batches: Vec<ProducerBatch>, sched: &mut Scheduler<Event>) {
        for b in &batches {
            self.append(now, b.partition, &b.records, sched);
        }
        sched.schedule_in(self.latency, Event::ProduceResponse { batches });
    }

    fn append(&mut self, now: SimTime, partition: u32, records: &[StoredMessage], sched: &mut Scheduler<Event>) {
        let n = records.len() as u64;
        let mut bytes = 0;
        let log = &mut self.partitions[partition as usize];
        for &r in records {
            log.append(now, r, self.cfg.segment_bytes, self.cfg.segment_ms);
            bytes += r.bytes();
            self.history.record(now, Observation::Stored { msg: r });
        }
        self.history.record(now, Observation::StorageChanged { delta: bytes as i64 });
        self.end_offsets_sum += n;
        for g in 0..self.groups.len() {
            self.groups[g].remaining += n;
            let c = self.groups[g].owner[partition as usize];
            // A parked fetch answered now reports the new lag itself.
            let answered =
                self.groups[g].consumers[c as usize].parked.is_some() && self.try_respond(now, g, c, false, sched);
            if !answered {
                self.report_lag(now, g);
            }
        }
    }

    fn report_lag(&mut self, now: SimTime, group: GroupIdx) {
        let g = &self.groups[group];
        let messages = g.committed.lag(self.end_offsets_sum);
        let unacked = g.fetched_sum.saturating_sub(g.committed.total() + g.skipped_uncommitted);
        self.history.record(now, Observation::Backlog { group, messages, unacked });
    }

    fn retention_check(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let mut freed = 0;
        for p in &mut self.partitions {
            let history = &mut *self.history;
            freed += p.enforce_retention(now, self.cfg.retention, |r| {
                history.record(now, Observation::Deleted { id: r.id(), group: None });
            });
        }
        if freed > 0 {
            self.history.record(now, Observation::StorageChanged { delta: -(freed as i64) });
        }
        sched.schedule_in(self.cfg.retention_check_interval, Event::RetentionCheck);
    }

    // ---- broker: fetch (long poll) ----

    fn fetch_arrives(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        if !self.try_respond(now, group, consumer, false, sched) {
            let c = &mut self.groups[group].consumers[consumer as usize];
            c.fetches_parked += 1;
            let deadline = now.after(self.cfg.fetch_max_wait);
            c.parked = Some(deadline);
            // Deadlines only grow, so a pending timer fires no later than this one is due.
            if c.expiry_timer.is_none() {
                c.expiry_timer = Some(deadline);
                sched.schedule_at(deadline, Event::FetchExpired { group, consumer });
            }
        }
    }

    fn fetch_expired(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        c.expiry_timer = None;
        match c.parked {
            Some(deadline) if deadline <= now => {
                self.try_respond(now, group, consumer, true, sched);
            }
            Some(deadline) => {
                c.expiry_timer = Some(deadline);
                sched.schedule_at(deadline, Event::FetchExpired { group, consumer });
            }
            None => {}
        }
    }

    /// Answers a fetch if at least `fetch.min.bytes` are available (or `force`, when the wait
    /// expired). Positions deleted by retention are reset by `auto.offset.reset`.
    fn try_respond(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        force: bool,
        sched: &mut Scheduler<Event>,
    ) -> bool {
        let cfg = &self.cfg;
        let g = &mut self.groups[group];
        let c = &mut g.consumers[consumer as usize];
        // fetch.min.bytes = 0 would answer empty fetches in a loop; we wait for at least one byte.
        let min_bytes = cfg.fetch_min_bytes.max(1);
        let mut available = 0;
        for (slot, &p) in c.partitions.iter().enumerate() {
            if !c.requested[slot] {
                continue;
            }
            let log = &self.partitions[p as usize];
            let pos = &mut c.fetch_pos[slot];
            if *pos < log.start_offset {
                // OffsetOutOfRange: the records were deleted before this group read them.
                let reset = match cfg.auto_offset_reset {
                    OffsetReset::Earliest => log.start_offset,
                    OffsetReset::Latest => log.end_offset(),
                };
                let from = *pos;
                self.history.record(now, Observation::OffsetReset { group, partition: p, from, to: reset });
                // With `latest`, records still in the log are skipped: lost to this group although
                // the broker still holds them.
                for o in log.start_offset..reset {
                    if let Some(r) = log.get(o) {
                        self.history.record(now, Observation::Deleted { id: r.id(), group: Some(group) });
                    }
                }
                g.remaining -= reset - from;
                g.fetched_sum += reset - from;
                // Skipped offsets were never handed out: they are not "unacked" until committed past.
                g.skipped.push((p, from, reset));
                g.skipped_uncommitted += reset - from.max(g.committed.get(p));
                *pos = reset;
            }
            if available < min_bytes {
                available += log.bytes_from(*pos, min_bytes - available);
            }
        }
        if available < min_bytes && !force {
            return false;
        }
        let mut records = self.fetch_pool.pop().unwrap_or_default();
        let mut total = 0;
        let n = c.partitions.len();
        // Rotate the starting partition so that fetch.max.bytes does not starve the last ones.
        let start = (c.fetches_parked as usize) % n.max(1);
        for i in 0..n {
            let slot = (start + i) % n;
            if !c.requested[slot] {
                continue;
            }
            let log = &self.partitions[c.partitions[slot] as usize];
            let mut part_bytes = 0;
            let mut pos = c.fetch_pos[slot];
            while let Some(r) = log.get(pos) {
                // At least one record per response even if it exceeds the limits, as Kafka does.
                if (part_bytes + r.bytes() > cfg.max_partition_fetch_bytes || total + r.bytes() > cfg.fetch_max_bytes)
                    && !records.is_empty()
                {
                    break;
                }
                part_bytes += r.bytes();
                total += r.bytes();
                records.push(Fetched { slot: slot as u32, offset: pos, msg: *r });
                pos += 1;
            }
            g.fetched_sum += pos - c.fetch_pos[slot];
            c.fetch_pos[slot] = pos;
        }
        c.parked = None;
        self.report_lag(now, group);
        sched.schedule_in(self.latency, Event::FetchResponse { group, consumer, records });
        true
    }

    // ---- consumer ----

    /// Sends a fetch for every assigned partition with nothing buffered (`AbstractFetch`'s
    /// fetchable partitions), unless one is already in flight.
    fn send_fetch(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        if c.fetching {
            return;
        }
        let mut any = false;
        for (requested, &buffered) in c.requested.iter_mut().zip(&c.buffered) {
            *requested = buffered == 0;
            any |= *requested;
        }
        if !any {
            return;
        }
        c.fetching = true;
        sched.schedule_in(self.latency, Event::FetchArrives { group, consumer });
    }

    fn fetch_response(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        mut records: Vec<Fetched>,
        sched: &mut Scheduler<Event>,
    ) {
        for r in &records {
            self.history.record(
                now,
                Observation::Client(ClientEvent::Delivered { msg: r.msg, group, consumer, redelivered: false }),
            );
        }
        let c = &mut self.groups[group].consumers[consumer as usize];
        c.fetching = false;
        for r in &records {
            c.buffered[r.slot as usize] += 1;
        }
        c.buffer.extend(records.drain(..));
        self.fetch_pool.push(records);
        if c.waiting_in_poll {
            self.poll(now, group, consumer, sched);
        }
    }

    /// `KafkaConsumer.poll()`: auto-commit if due, then hand up to `max.poll.records` buffered
    /// records to the application, pipelining the next fetch; block if nothing is buffered.
    fn poll(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let auto = self.cfg.enable_auto_commit;
        if auto && now >= self.groups[group].consumers[consumer as usize].next_auto_commit {
            self.commit(group, consumer, sched);
            self.groups[group].consumers[consumer as usize].next_auto_commit = now.after(self.cfg.auto_commit_interval);
        }
        let max = self.cfg.max_poll_records as usize;
        let c = &mut self.groups[group].consumers[consumer as usize];
        if c.buffer.is_empty() {
            let was_waiting = c.waiting_in_poll;
            c.waiting_in_poll = true;
            // The classic consumer wakes from a blocking poll to auto-commit on time.
            if auto && !was_waiting && c.consumed != c.commit_sent {
                let due = c.next_auto_commit.max(now);
                if c.auto_commit_timer != Some(due) {
                    c.auto_commit_timer = Some(due);
                    sched.schedule_at(due, Event::AutoCommitDue { group, consumer });
                }
            }
            self.send_fetch(group, consumer, sched);
            return;
        }
        c.waiting_in_poll = false;
        debug_assert!(c.polled.is_empty(), "poll() runs once the previous poll's records are processed");
        let take = c.buffer.len().min(max);
        for r in c.buffer.range(..take) {
            c.consumed[r.slot as usize] = r.offset + 1;
            c.buffered[r.slot as usize] -= 1;
        }
        if take == c.buffer.len() {
            // Everything fetched goes to the application: hand over the whole buffer at once.
            std::mem::swap(&mut c.buffer, &mut c.polled);
        } else {
            c.polled.extend(c.buffer.drain(..take));
        }
        // Pipelining: fetch the partitions that have nothing buffered before processing.
        self.send_fetch(group, consumer, sched);
        self.start_next(now, group, consumer, sched);
    }

    fn start_next(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        debug_assert!(c.busy.is_none(), "a consumer processes one record at a time");
        let Some(r) = c.polled.pop_front() else {
            return;
        };
        c.busy = Some(r);
        self.history.record(now, Observation::Client(ClientEvent::ProcessingStarted { msg: r.msg, group, consumer }));
        let work = self.processing.of(group, r.msg.id());
        sched.schedule_in(work, Event::ProcessingDone { group, consumer });
    }

    fn processing_done(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let g = &mut self.groups[group];
        let c = &mut g.consumers[consumer as usize];
        let r = c.busy.take().expect("ProcessingDone for an idle consumer");
        g.remaining -= 1;
        self.history.record(now, Observation::Client(ClientEvent::Processed { msg: r.msg, group, consumer }));
        if !c.polled.is_empty() {
            self.start_next(now, group, consumer, sched);
        } else if !self.cfg.enable_auto_commit {
            // commitSync after the poll's records: blocks for a round trip.
            self.commit(group, consumer, sched);
            if self.latency.is_zero() {
                self.poll(now, group, consumer, sched);
            } else {
                sched.schedule_in(self.latency + self.latency, Event::CommitSyncDone { group, consumer });
            }
        } else {
            self.poll(now, group, consumer, sched);
        }
    }

    /// Sends the consumed positions that moved since the last commit to the coordinator.
    fn commit(&mut self, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        let mut offsets = Vec::new();
        for slot in 0..c.partitions.len() {
            if c.consumed[slot] > c.commit_sent[slot] {
                c.commit_sent[slot] = c.consumed[slot];
                offsets.push((c.partitions[slot], c.consumed[slot]));
            }
        }
        if !offsets.is_empty() {
            self.commits_in_flight += 1;
            sched.schedule_in(self.latency, Event::CommitArrives { group, offsets });
        }
    }

    fn commit_arrives(&mut self, now: SimTime, group: GroupIdx, offsets: Vec<(u32, Offset)>) {
        self.commits_in_flight -= 1;
        for (partition, offset) in offsets {
            self.commit_offset(now, group, partition, offset);
        }
        self.report_lag(now, group);
    }

    /// The coordinator stores a commit; a skipped range the new offset passes stops counting.
    fn commit_offset(&mut self, now: SimTime, group: GroupIdx, partition: u32, offset: Offset) -> bool {
        let g = &mut self.groups[group];
        let before = g.committed.get(partition);
        if !g.committed.commit(partition, offset) {
            return false;
        }
        if !g.skipped.is_empty() {
            for &(p, from, to) in &g.skipped {
                if p == partition {
                    let was = to.saturating_sub(from.max(before));
                    let now_left = to.saturating_sub(from.max(offset));
                    g.skipped_uncommitted -= was - now_left;
                }
            }
            g.skipped.retain(|&(p, _, to)| p != partition || to > offset);
        }
        self.history.record(now, Observation::Committed { group, partition, offset });
        true
    }

    fn auto_commit_due(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.groups[group].consumers[consumer as usize];
        if c.auto_commit_timer == Some(now) {
            c.auto_commit_timer = None;
        }
        if c.waiting_in_poll && now >= c.next_auto_commit {
            c.next_auto_commit = now.after(self.cfg.auto_commit_interval);
            self.commit(group, consumer, sched);
        }
    }

    /// `KafkaConsumer.close()` at the end of the run: with auto-commit enabled it commits the
    /// consumed positions; the commit is applied at once (the run is over).
    pub fn close(&mut self, now: SimTime) {
        if !self.cfg.enable_auto_commit {
            return;
        }
        for g in 0..self.groups.len() {
            let mut moved = false;
            for ci in 0..self.groups[g].consumers.len() {
                let c = &self.groups[g].consumers[ci];
                let offsets: Vec<(u32, Offset)> =
                    c.partitions.iter().copied().zip(c.consumed.iter().copied()).collect();
                for (partition, offset) in offsets {
                    moved |= self.commit_offset(now, g, partition, offset);
                }
            }
            if moved {
                self.report_lag(now, g);
            }
        }
    }
}

impl<H: History> Model for KafkaModel<'_, H> {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, sched: &mut Scheduler<Event>) {
        match event {
            Event::Publish => self.publish(now, sched),
            Event::SenderWakeup => self.sender_wakeup(now, sched),
            Event::ProduceArrives { batches } => self.produce_arrives(now, batches, sched),
            Event::ProduceResponse { batches } => self.produce_response(now, batches, sched),
            Event::FetchArrives { group, consumer } => self.fetch_arrives(now, group, consumer, sched),
            Event::FetchExpired { group, consumer } => self.fetch_expired(now, group, consumer, sched),
            Event::FetchResponse { group, consumer, records } => {
                self.fetch_response(now, group, consumer, records, sched)
            }
            Event::ProcessingDone { group, consumer } => self.processing_done(now, group, consumer, sched),
            Event::CommitArrives { group, offsets } => self.commit_arrives(now, group, offsets),
            Event::CommitSyncDone { group, consumer } => self.poll(now, group, consumer, sched),
            Event::AutoCommitDue { group, consumer } => self.auto_commit_due(now, group, consumer, sched),
            Event::RetentionCheck => self.retention_check(now, sched),
        }
    }

    fn finished(&self) -> bool {
        self.producer.done()
            && self.accumulator.records_waiting == 0
            && self.requests_in_flight == 0
            && self.commits_in_flight == 0
            && self.groups.iter().all(|g| g.remaining == 0)
    }
}
