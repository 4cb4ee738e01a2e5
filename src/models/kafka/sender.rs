//! The producer's `Sender` thread and its delivery guarantees: one connection per broker, each
//! with at most `max.in.flight.requests.per.connection` produce requests; `acks`; retries of
//! retriable errors after `retry.backoff.ms`; `delivery.timeout.ms`, which fails a batch not
//! acknowledged in time wherever it is (in the accumulator or in flight); the idempotent producer's
//! sequence chain; metadata refreshes when a leader is unknown or moved.
//!
//! Kafka sources followed: `Sender.sendProducerData` / `getExpiredInflightBatches` /
//! `completeBatch` / `canRetry`, `RecordAccumulator.ready` / `drain` / `reenqueue` /
//! `expiredBatches`, `ProducerBatch.hasReachedDeliveryTimeout`, and the idempotent producer's
//! handling of `OUT_OF_ORDER_SEQUENCE_NUMBER` in `TransactionManager`.

use super::producer::{BatchError, ProducerBatch};
use super::*;
use crate::scenario::Acks;
use crate::workload::StoredMessage;
use crate::world::out::Sees;

/// What a producer's handlers record for the harness.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ProducerNote {
    /// A client event: a record acknowledged or failed.
    Client(ClientEvent),
    /// For `pushpull trace`: an inner step.
    Step(Step),
}

/// Where a producer's handlers put their effects, and what they see of the world at once: a dead
/// broker refuses the connection, a request lost on the spot keeps its batches.
pub(super) trait ProducerFx: Sees<Msg, Timer, ProducerNote> {}
impl<X: Sees<Msg, Timer, ProducerNote>> ProducerFx for X {}

/// The producer settings its handlers read (from `[kafka]` and the scenario).
#[derive(Clone, Copy, Debug)]
pub(super) struct ProducerCfg {
    pub(super) acks: Acks,
    /// `max.in.flight.requests.per.connection`.
    pub(super) max_in_flight: u32,
    pub(super) delivery_timeout: SimDuration,
    /// `max.block.ms`.
    pub(super) max_block: SimDuration,
    pub(super) partitions: u32,
    pub(super) brokers: u32,
    /// Every broker, as a bit set.
    pub(super) all_brokers: u64,
    /// Records have keys (the workload's), hashed to their partitions.
    pub(super) keyed: bool,
    /// Idempotent sequences are tracked (they matter only when a fault can break the chain).
    pub(super) sequences: bool,
    /// The schedule has faults: requests are watched for their timeouts.
    pub(super) faulty: bool,
    /// A tracer wants the inner steps (`History::STEPS`).
    pub(super) steps: bool,
}

/// A batch in flight that may reach its delivery timeout before its request is answered
/// (`Sender.inFlightBatches`): the producer keeps its record ids, to fail them on time.
#[derive(Debug)]
pub(super) struct InFlightBatch {
    first_id: u64,
    deadline: SimTime,
    /// Empty once expired: its records were failed, and its answer will be ignored
    /// (`ProducerBatch.done` on a batch already failed).
    records: Vec<StoredMessage>,
    expired: bool,
    /// Its `buffer.memory`, given back when it expires.
    reserved: u64,
}

/// One producer client on its own host: the application's `send()` side (accumulator, blocked
/// calls, compression) and its `Sender` thread (requests in flight, metadata, idempotence).
pub(super) struct ProducerClient {
    /// Its host.
    pub(super) node: NodeId,
    pub(super) accumulator: Accumulator,
    /// `send()` calls waiting for `buffer.memory`: the first is in progress (until
    /// `block_deadline`, its `max.block.ms`), the others wait behind it in the application.
    pub(super) blocked: VecDeque<Message>,
    /// With compression under a calibrated profile: records whose `send()` is compressing them,
    /// each with when the producer's thread is done, in order.
    pub(super) compressing: VecDeque<(SimTime, Message)>,
    pub(super) block_deadline: Deadline,
    /// Produce requests sent and not yet answered, in all and per broker
    /// (`max.in.flight.requests.per.connection`).
    pub(super) requests_in_flight: u32,
    pub(super) in_flight_to: Vec<u32>,
    /// Per partition, the batches in flight that the producer watches for their delivery timeout,
    /// and the earliest instant one of them may expire (`NEVER`: none).
    pub(super) in_flight_batches: Vec<Vec<sender::InFlightBatch>>,
    pub(super) in_flight_expiry: SimTime,
    /// Batches of requests that died with a broker (lost on the way, or held in its purgatory),
    /// with the broker and the producer incarnation that sent them: the producer still holds
    /// them, and fails them when it hears the connection closed.
    pub(super) orphans: Vec<(NodeId, u32, u64, Vec<ProducerBatch>)>,
    /// With faults, per broker: the produce requests not yet answered (number, when sent), oldest
    /// first, and `request.timeout.ms` of the oldest (the producer closes the connection then).
    pub(super) outstanding: Vec<VecDeque<(u64, SimTime)>>,
    pub(super) request_timeout: Vec<Deadline>,
    pub(super) next_request: u64,
    /// Per broker: the producer's connection to it closed (a crash, or a request timeout) and no
    /// answer came since: metadata is asked elsewhere first (`leastLoadedNode`).
    pub(super) disconnected: Vec<bool>,
    /// The producer's metadata: the leader of each partition as it last heard.
    pub(super) meta_leader: Vec<Option<BrokerId>>,
    /// A metadata request is due or on its way (to `metadata_to`, in round `metadata_round`).
    pub(super) metadata_pending: bool,
    pub(super) metadata_to: Option<BrokerId>,
    pub(super) metadata_round: u64,
    /// Idempotence, per partition: one past the id of the last record drained (the sequence
    /// chain), acknowledged, and given up on.
    pub(super) chain: Vec<u64>,
    pub(super) acked_tail: Vec<u64>,
    pub(super) failed_tail: Vec<u64>,
    /// The sender's pending wakeup, if one is scheduled: its time and the key that cancels it.
    pub(super) sender_timer: Option<(SimTime, Option<EventKey>)>,
    /// With `compression.type` in a world with resources: the application's thread, which
    /// compresses each record as `send()` appends it.
    pub(super) compressor: Option<crate::world::resources::ProcessId>,
    /// Request vectors to reuse (a produce request's batches come back in its response).
    pub(super) pool: Vec<Vec<ProducerBatch>>,
    pub(super) cfg: ProducerCfg,
}

impl ProducerClient {
    /// Producer `index`, on host `node`, before its first message.
    pub(super) fn new(s: &Scenario, node: NodeId, index: u32, pcfg: ProducerCfg) -> Self {
        let cfg = &s.kafka;
        let (p, brokers) = (cfg.partitions, s.brokers as usize);
        let mut accumulator = Accumulator::new(s.seed, p, s.brokers, cfg.batch_size, cfg.linger, cfg.delivery_timeout)
            .of_producer(s.seed, index)
            .with_buffer_memory(cfg.buffer_memory);
        accumulator.idempotent = cfg.enable_idempotence;
        if let Some(f) = cfg.compression_type.figures() {
            // The batch's records past its first shrink by the codec's size next to zstd's over the
            // payload's zstd ratio.
            let ratio_milli = (s.workload.compression_ratio.unwrap_or(d::COMPRESSION_RATIO) * 1000.0).round() as u64;
            let rate_ppm = f.size_vs_zstd_milli * 1_000_000 / ratio_milli.max(1);
            let compress_ps = if s.body.is_some() { f.compress_ps } else { 0 };
            accumulator.compression = Some(super::producer::Compression::new(rate_ppm, f.frame_bytes, compress_ps));
        }
        accumulator.v0_record_overhead = s.body.and_then(|b| b.kafka.v0_record_overhead);
        if cfg.max_in_flight_requests_per_connection == 1 {
            accumulator.muted = vec![false; p as usize];
        }
        accumulator.keep_keys = cfg.cleanup_policy.compacts();
        ProducerClient {
            node,
            accumulator,
            blocked: VecDeque::new(),
            compressing: VecDeque::new(),
            block_deadline: Deadline::default(),
            requests_in_flight: 0,
            in_flight_to: vec![0; brokers],
            in_flight_batches: (0..p).map(|_| Vec::new()).collect(),
            in_flight_expiry: SimTime::NEVER,
            orphans: Vec::new(),
            outstanding: vec![VecDeque::new(); brokers],
            request_timeout: vec![Deadline::default(); brokers],
            next_request: 0,
            disconnected: vec![false; brokers],
            meta_leader: (0..p).map(|q| Some((q % s.brokers) as BrokerId)).collect(),
            metadata_pending: false,
            metadata_to: None,
            metadata_round: 0,
            chain: vec![0; p as usize],
            acked_tail: vec![0; p as usize],
            failed_tail: vec![0; p as usize],
            sender_timer: None,
            compressor: None,
            pool: Vec::new(),
            cfg: pcfg,
        }
    }

    /// Its host died: the accumulator, the requests in flight and the blocked `send()` calls
    /// lived in its memory. Its timers died with it: the deadlines are reset, not cleared.
    pub(super) fn crashed(&mut self) {
        self.accumulator.clear();
        self.blocked.clear();
        self.compressing.clear();
        self.block_deadline = Deadline::default();
        self.requests_in_flight = 0;
        self.in_flight_to.iter_mut().for_each(|n| *n = 0);
        self.in_flight_batches.iter_mut().for_each(Vec::clear);
        self.in_flight_expiry = SimTime::NEVER;
        self.orphans.clear();
        self.outstanding.iter_mut().for_each(VecDeque::clear);
        self.request_timeout.iter_mut().for_each(|t| *t = Deadline::default());
        self.sender_timer = None;
        self.metadata_pending = false;
        self.metadata_to = None;
    }

    /// Nothing of its own is left to send or to hear back.
    pub(super) fn idle(&self) -> bool {
        self.accumulator.records_waiting == 0
            && self.blocked.is_empty()
            && self.compressing.is_empty()
            && self.requests_in_flight == 0
    }
}

impl ProducerClient {
    /// `send()` goes on with a record (compressed, if the producer compresses).
    pub(super) fn send_record(&mut self, now: SimTime, msg: Message, out: &mut impl ProducerFx) {
        if !self.blocked.is_empty() {
            // The application is still blocked in an earlier `send()`: this one waits its turn.
            self.blocked.push_back(msg);
            return;
        }
        match self.append_record(now, &msg) {
            Some(true) => self.run_sender(now, out),
            Some(false) => {}
            None => {
                // `buffer.memory` is full: `send()` blocks for at most `max.block.ms`, and every
                // first batch becomes sendable meanwhile.
                self.blocked.push_back(msg);
                self.accumulator.exhausted = true;
                self.arm_block_deadline(now.after(self.cfg.max_block), out);
                self.run_sender(now, out);
            }
        }
    }

    /// Appends a record to its partition's batch (the key's partition, or the sticky one); `None`
    /// if it needs a new batch and `buffer.memory` has no room.
    fn append_record(&mut self, now: SimTime, msg: &Message) -> Option<bool> {
        let (partition, sticky) = match msg.key {
            // Hashed per record: a table of every key's partition (400 KB for 10^5 keys) missed
            // the cache on nearly every record and cost more than the hash.
            Some(key) if self.cfg.keyed => (partition_for_key(key, self.cfg.partitions), false),
            _ => (self.accumulator.sticky_partition(), true),
        };
        let key_len = self.key_len(msg);
        self.accumulator.append(now, partition, msg, key_len, sticky)
    }

    /// The serialized key's length of `msg`, if it has a key (and the workload uses keys).
    pub(super) fn key_len(&self, msg: &Message) -> Option<u64> {
        match msg.key {
            Some(k) if self.cfg.keyed => Some(partitioner::key_len(k)),
            _ => None,
        }
    }

    /// The sender thread: for every broker that leads a partition with a ready batch and has a
    /// free in-flight slot, drain that broker's partitions into one produce request; otherwise
    /// sleep until the first batch reaches `linger.ms` or the end of its backoff (or a response
    /// frees a slot). A broker that cannot be reached (its process is down) is skipped, and the
    /// metadata refreshed.
    #[inline]
    pub(super) fn run_sender(&mut self, now: SimTime, out: &mut impl ProducerFx) {
        if self.in_flight_expiry <= now {
            self.expire_in_flight(now, out);
        }
        if !self.blocked.is_empty() {
            self.unblock(now, out);
        }
        // An empty accumulator has nothing ready, expired or lingering: nothing to do (the common
        // case after a produce response) but to wake for a batch in flight that may expire.
        if !self.accumulator.is_empty() {
            self.send_ready(now, out);
        } else if self.in_flight_expiry != SimTime::NEVER {
            self.wake_sender_at(self.in_flight_expiry, out);
        }
    }

    fn send_ready(&mut self, now: SimTime, out: &mut impl ProducerFx) {
        loop {
            // A batch given up or sent with acks = 0 just now may have freed buffer memory.
            if !self.blocked.is_empty() {
                self.unblock(now, out);
            }
            let ready = self.accumulator.check(now, &self.meta_leader, self.cfg.all_brokers);
            if ready.expired {
                let mut expired = self.pool.pop().unwrap_or_default();
                self.accumulator.expire(now, &mut expired);
                for b in expired.drain(..) {
                    self.give_up(b, out);
                }
                self.pool.push(expired);
                continue;
            }
            let mut nodes = ready.nodes;
            let mut sent = false;
            let mut unreachable = ready.no_leader;
            while nodes != 0 {
                let node = nodes.trailing_zeros() as NodeId;
                nodes &= nodes - 1;
                if self.in_flight_to[node as usize] >= self.cfg.max_in_flight {
                    continue;
                }
                // A dead broker refuses the connection at once; one behind a cut link does not answer
                // (`request.timeout.ms`).
                if self.cfg.faulty && !out.is_up(node) {
                    unreachable = true;
                    continue;
                }
                let mut batches = self.pool.pop().unwrap_or_default();
                self.accumulator.drain(now, node, &self.meta_leader, MAX_REQUEST_BYTES, &mut batches);
                if self.cfg.sequences {
                    for b in &mut batches {
                        if !b.chained {
                            let c = &mut self.chain[b.partition as usize];
                            b.prev = *c;
                            b.chained = true;
                            *c = b.last_id() + 1;
                        }
                    }
                }
                if self.cfg.acks == Acks::Zero {
                    // No response is coming: the send completes once the request is written (and
                    // its partitions may send again).
                    for b in &batches {
                        self.accumulator.unmute(b.partition);
                        self.accumulator.release(b.reserved());
                        for r in &b.records {
                            out.record(ProducerNote::Client(ClientEvent::Acknowledged { id: r.id() }));
                        }
                    }
                } else {
                    self.requests_in_flight += 1;
                    self.in_flight_to[node as usize] += 1;
                    self.track_in_flight(now, &batches, out);
                }
                if self.cfg.steps {
                    self.report_batched(node, &batches, out);
                }
                let producer = if self.cfg.faulty { out.incarnation(self.node) } else { 0 };
                let req = self.next_request;
                self.next_request += 1;
                if self.cfg.faulty && self.cfg.acks != Acks::Zero {
                    self.track_request(now, node, req, out);
                }
                let msg = Msg::Produce { batches, producer, req };
                if let Err(Msg::Produce { batches, .. }) = out.try_send_now(self.node, node, msg) {
                    if self.cfg.acks == Acks::Zero {
                        let mut batches = batches;
                        for b in batches.drain(..) {
                            self.accumulator.recycle(b.records);
                        }
                        self.pool.push(batches);
                    } else {
                        self.orphans.push((node, producer, req, batches));
                    }
                }
                sent = true;
            }
            if sent {
                continue;
            }
            if unreachable {
                self.request_metadata(out);
            }
            // Wake for the first batch to linger enough or end its backoff, or to reach its delivery
            // timeout (waiting here or in flight), whichever comes first.
            let linger = if ready.nodes == 0 { ready.next } else { None };
            let expiry = self.accumulator.next_expiry().unwrap_or(SimTime::NEVER).min(self.in_flight_expiry);
            let at = linger.map_or(expiry, |l| l.min(expiry));
            if at != SimTime::NEVER {
                self.wake_sender_at(at, out);
            }
            return;
        }
    }

    /// For `pushpull trace`: each record of the request's batches is on its way to `broker`.
    #[cold]
    fn report_batched(&mut self, broker: NodeId, batches: &[ProducerBatch], out: &mut impl ProducerFx) {
        for b in batches {
            let records = b.records.len() as u32;
            for r in &b.records {
                let step = Step::Batched { id: r.id(), partition: b.partition, broker, records };
                out.record(ProducerNote::Step(step));
            }
        }
    }

    /// `send()` calls waiting for buffer memory go on, oldest first, while there is room. The
    /// next one in line starts its own `max.block.ms` when it gets its turn.
    #[cold]
    #[inline(never)]
    fn unblock(&mut self, now: SimTime, out: &mut impl ProducerFx) {
        let mut moved = false;
        while let Some(msg) = self.blocked.front().copied() {
            if self.append_record(now, &msg).is_none() {
                break;
            }
            self.blocked.pop_front();
            moved = true;
        }
        if self.blocked.is_empty() {
            self.accumulator.exhausted = false;
            self.block_deadline.clear();
        } else if moved {
            self.arm_block_deadline(now.after(self.cfg.max_block), out);
        }
    }

    /// The `send()` call in progress waits for buffer memory until `at` (`max.block.ms`).
    pub(super) fn arm_block_deadline(&mut self, at: SimTime, out: &mut impl ProducerFx) {
        if let Some(at) = self.block_deadline.set(at) {
            out.timer_at(self.node, at, Timer::MaxBlockExpired);
        }
    }

    /// `max.block.ms` passed for the `send()` in progress: it fails (`BufferExhaustedException`,
    /// a `TimeoutException`), and the application calls `send()` for the next message in line.
    #[cold]
    #[inline(never)]
    pub(super) fn max_block_expired(&mut self, now: SimTime, out: &mut impl ProducerFx) {
        match self.block_deadline.fired(now) {
            Fired::Due => {
                if let Some(msg) = self.blocked.pop_front() {
                    out.record(ProducerNote::Client(ClientEvent::SendFailed { id: msg.id }));
                }
                if self.blocked.is_empty() {
                    self.accumulator.exhausted = false;
                } else {
                    self.arm_block_deadline(now.after(self.cfg.max_block), out);
                }
            }
            Fired::Rearm(at) => {
                out.timer_at(self.node, at, Timer::MaxBlockExpired);
            }
            Fired::Nothing => {}
        }
    }

    /// The sender sleeps until `at` at the latest (one pending wakeup, the earliest asked for).
    fn wake_sender_at(&mut self, at: SimTime, out: &mut impl ProducerFx) {
        match self.sender_timer {
            Some((t, _)) if t <= at => {}
            pending => {
                if let Some((_, Some(key))) = pending {
                    out.cancel(key);
                }
                let key = out.timer_at_keyed(self.node, at, Timer::SenderWakeup);
                self.sender_timer = Some((at, key));
            }
        }
    }

    /// The batches of a request just sent: those whose delivery timeout could pass before the
    /// request is answered are remembered, to be failed on time (`addToInflightBatches`). Without
    /// faults a request is answered within 2 latencies plus at most `request.timeout.ms` in the
    /// leader's purgatory, so a batch with more time left than that needs no watching.
    fn track_in_flight(&mut self, now: SimTime, batches: &[ProducerBatch], out: &mut impl ProducerFx) {
        let horizon = now.after(d::KAFKA_REQUEST_TIMEOUT).after(out.latency()).after(out.latency());
        for b in batches {
            let deadline = b.created().after(self.cfg.delivery_timeout);
            if !self.cfg.faulty && deadline > horizon {
                continue;
            }
            let mut records = self.accumulator.take_buffer();
            records.extend_from_slice(&b.records);
            self.in_flight_batches[b.partition as usize].push(InFlightBatch {
                first_id: b.first_id(),
                deadline,
                records,
                expired: false,
                reserved: b.reserved(),
            });
            self.in_flight_expiry = self.in_flight_expiry.min(deadline);
        }
    }

    /// Batch `b` came back (answered, or failed with its connection): it stops being watched.
    /// Returns false if it had expired in flight: its records were failed already, and whatever
    /// the answer says is ignored (`ProducerBatch.done` on a batch already failed).
    fn untrack_in_flight(&mut self, b: &ProducerBatch) -> bool {
        let list = &mut self.in_flight_batches[b.partition as usize];
        if list.is_empty() {
            return true;
        }
        let first = b.first_id();
        let Some(i) = list.iter().position(|e| e.first_id == first) else { return true };
        let e = list.swap_remove(i);
        let expired = e.expired;
        self.accumulator.recycle(e.records);
        !expired
    }

    /// `Sender.getExpiredInflightBatches`: every batch in flight whose `delivery.timeout.ms` passed
    /// fails now, although its request is still outstanding (it keeps its in-flight slot until
    /// answered or timed out).
    #[cold]
    #[inline(never)]
    fn expire_in_flight(&mut self, now: SimTime, out: &mut impl ProducerFx) {
        let mut next = SimTime::NEVER;
        for p in 0..self.in_flight_batches.len() {
            for i in 0..self.in_flight_batches[p].len() {
                let e = &mut self.in_flight_batches[p][i];
                if e.expired {
                    continue;
                }
                if e.deadline > now {
                    next = next.min(e.deadline);
                    continue;
                }
                e.expired = true;
                let records = std::mem::take(&mut e.records);
                let reserved = e.reserved;
                self.accumulator.release(reserved);
                self.fail_records(p as u32, &records, out);
                self.accumulator.recycle(records);
            }
        }
        self.in_flight_expiry = next;
    }

    pub(super) fn sender_wakeup(&mut self, now: SimTime, out: &mut impl ProducerFx) {
        self.sender_timer = None;
        self.run_sender(now, out);
    }

    /// With faults: a produce request to `broker` is outstanding until answered or failed; the
    /// oldest one's `request.timeout.ms` is watched by one lazily re-armed timer.
    fn track_request(&mut self, now: SimTime, broker: BrokerId, req: u64, out: &mut impl ProducerFx) {
        let b = broker as usize;
        self.outstanding[b].push_back((req, now));
        if self.outstanding[b].len() == 1
            && let Some(at) = self.request_timeout[b].set(now.after(d::KAFKA_REQUEST_TIMEOUT))
        {
            out.timer_at(self.node, at, Timer::RequestTimeout { broker });
        }
    }

    /// Request `req` to `broker` is answered or failed: it stops counting for the timeout.
    fn untrack_request(&mut self, broker: BrokerId, req: u64) {
        let b = broker as usize;
        let Some(i) = self.outstanding[b].iter().position(|&(r, _)| r == req) else { return };
        self.outstanding[b].remove(i);
        match self.outstanding[b].front() {
            None => self.request_timeout[b].clear(),
            Some(&(_, sent)) => {
                // Later than the pending timer: it re-arms itself when it fires.
                let _ = self.request_timeout[b].set(sent.after(d::KAFKA_REQUEST_TIMEOUT));
            }
        }
    }

    /// The batches of request `req` to `broker` came back unanswered (lost on the way, or held by
    /// a broker that died): the producer still holds them, until it hears the connection closed
    /// or the request times out. If the request already timed out, they fail now.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn orphan(
        &mut self,
        now: SimTime,
        broker: BrokerId,
        producer: u32,
        req: u64,
        batches: Vec<ProducerBatch>,
        out: &mut impl ProducerFx,
    ) {
        let timed_out = self.cfg.faulty && !self.outstanding[broker as usize].iter().any(|&(r, _)| r == req);
        self.orphans.push((broker, producer, req, batches));
        if timed_out {
            self.fail_orphans(now, broker, Some(req), out);
            self.run_sender(now, out);
        }
    }

    /// The oldest produce request to `broker` got no answer within `request.timeout.ms` (it or
    /// its answer was lost in a cut link): the producer closes the connection, which fails every
    /// request in flight on it (`NetworkClient.handleTimedOutRequests`), as a broker's death does.
    #[cold]
    #[inline(never)]
    pub(super) fn request_timed_out(&mut self, now: SimTime, broker: BrokerId, out: &mut impl ProducerFx) {
        let b = broker as usize;
        match self.request_timeout[b].fired(now) {
            Fired::Due => {
                // Requests not lost (held in a purgatory) are answered later, as a late response.
                self.outstanding[b].clear();
                self.producer_connection_closed(now, broker, out);
            }
            Fired::Rearm(at) => {
                out.timer_at(self.node, at, Timer::RequestTimeout { broker });
            }
            Fired::Nothing => {}
        }
    }

    /// Asks a broker for the current leaders (`Metadata`) after `retry.backoff.ms`; at most one
    /// request pending.
    #[cold]
    #[inline(never)]
    pub(super) fn request_metadata(&mut self, out: &mut impl ProducerFx) {
        if self.metadata_pending {
            return;
        }
        self.metadata_pending = true;
        out.timer_in(self.node, d::KAFKA_RETRY_BACKOFF, Timer::MetadataRefresh);
    }

    /// Sends the metadata request to the least loaded broker (`NetworkClient.leastLoadedNode`):
    /// the fewest requests in flight among those whose connection did not close, the lowest id
    /// first; if every connection closed, each broker in turn (Kafka reconnects after a backoff).
    /// The answer is that broker's own metadata.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_refresh(&mut self, out: &mut impl ProducerFx) {
        self.metadata_round += 1;
        let to = (0..self.cfg.brokers as BrokerId)
            .filter(|&b| !self.disconnected[b as usize])
            .min_by_key(|&b| (self.in_flight_to[b as usize], b))
            .unwrap_or((self.metadata_round % self.cfg.brokers as u64) as BrokerId);
        self.metadata_to = Some(to);
        let round = self.metadata_round;
        // A dead broker refuses at once; the next broker is tried after the backoff.
        if !out.send_now(self.node, to, Msg::MetadataRequest { round }) && !out.is_up(to) {
            self.disconnected[to as usize] = true;
            self.metadata_pending = false;
            self.request_metadata(out);
            return;
        }
        out.timer_in(self.node, d::KAFKA_REQUEST_TIMEOUT, Timer::MetadataTimeout { round });
    }

    #[cold]
    #[inline(never)]
    pub(super) fn metadata_response(
        &mut self,
        now: SimTime,
        from: BrokerId,
        round: u64,
        leaders: Vec<Option<BrokerId>>,
        out: &mut impl ProducerFx,
    ) {
        self.disconnected[from as usize] = false;
        if round != self.metadata_round || !self.metadata_pending {
            return;
        }
        self.metadata_pending = false;
        self.metadata_to = None;
        self.meta_leader = leaders;
        self.run_sender(now, out);
    }

    /// The metadata request of `round` got no answer within `request.timeout.ms`: that broker's
    /// connection is closed, and another is asked.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_timeout(&mut self, _now: SimTime, round: u64, out: &mut impl ProducerFx) {
        if round != self.metadata_round || !self.metadata_pending {
            return;
        }
        if let Some(to) = self.metadata_to.take() {
            self.disconnected[to as usize] = true;
        }
        self.metadata_pending = false;
        self.request_metadata(out);
    }

    pub(super) fn produce_response(
        &mut self,
        now: SimTime,
        from: NodeId,
        mut batches: Vec<ProducerBatch>,
        req: u64,
        out: &mut impl ProducerFx,
    ) {
        if self.cfg.faulty {
            self.untrack_request(from, req);
            self.disconnected[from as usize] = false;
        }
        self.requests_in_flight -= 1;
        self.in_flight_to[from as usize] -= 1;
        for b in batches.drain(..) {
            self.accumulator.unmute(b.partition);
            if self.untrack_in_flight(&b) {
                self.complete_batch(now, b, out);
            } else {
                self.accumulator.recycle(b.records);
            }
        }
        self.pool.push(batches);
        self.run_sender(now, out);
    }

    /// `Sender.completeBatch`: acknowledged, retried, or given up.
    fn complete_batch(&mut self, now: SimTime, mut b: ProducerBatch, out: &mut impl ProducerFx) {
        let p = b.partition as usize;
        match b.error {
            BatchError::None => {
                for r in &b.records {
                    out.record(ProducerNote::Client(ClientEvent::Acknowledged { id: r.id() }));
                }
                let t = &mut self.acked_tail[p];
                *t = (*t).max(b.last_id() + 1);
                self.accumulator.release(b.reserved());
                self.accumulator.recycle(b.records);
            }
            error => {
                if error == BatchError::NotLeader {
                    self.request_metadata(out);
                }
                if error == BatchError::OutOfOrder && (self.acked_tail[p] >= b.prev || self.failed_tail[p] >= b.prev) {
                    // The record before this batch was acknowledged (or given up) yet the leader
                    // lacks it: a real gap (the log lost it). The idempotent producer retries every
                    // OUT_OF_ORDER_SEQUENCE_NUMBER and, for a real gap, bumps its epoch
                    // (`TransactionManager.canRetry`, KIP-360): the batch goes again as the first of
                    // the new epoch. Otherwise an earlier batch is still on its way: just retry.
                    b.prev = 0;
                }
                self.retry_or_give_up(now, b, out);
            }
        }
    }

    /// A retriable failure: the batch goes back to the accumulator to be sent again after
    /// `retry.backoff.ms`, unless its `delivery.timeout.ms` has passed.
    #[cold]
    #[inline(never)]
    pub(super) fn retry_or_give_up(&mut self, now: SimTime, mut b: ProducerBatch, out: &mut impl ProducerFx) {
        // `canRetry`: not once `hasReachedDeliveryTimeout`.
        if now >= b.created().after(self.cfg.delivery_timeout) {
            self.give_up(b, out);
            return;
        }
        b.error = BatchError::None;
        b.attempts += 1;
        b.retry_after = now.after(d::KAFKA_RETRY_BACKOFF);
        self.accumulator.reenqueue(b);
    }

    /// `delivery.timeout.ms` passed: every record of the batch fails.
    #[cold]
    #[inline(never)]
    fn give_up(&mut self, b: ProducerBatch, out: &mut impl ProducerFx) {
        self.accumulator.release(b.reserved());
        self.fail_records(b.partition, &b.records, out);
        self.accumulator.recycle(b.records);
    }

    /// The producer reports these records of `partition` failed (`send_failed`).
    fn fail_records(&mut self, partition: u32, records: &[StoredMessage], out: &mut impl ProducerFx) {
        let mut last = 0;
        for r in records {
            out.record(ProducerNote::Client(ClientEvent::SendFailed { id: r.id() }));
            last = last.max(r.id());
        }
        let t = &mut self.failed_tail[partition as usize];
        *t = (*t).max(last + 1);
    }

    /// The producer hears that broker `from`'s connection closed (its process died): every
    /// request in flight to it fails with a retriable `NetworkException`, and the metadata is
    /// refreshed.
    #[cold]
    #[inline(never)]
    pub(super) fn producer_connection_closed(&mut self, now: SimTime, from: NodeId, out: &mut impl ProducerFx) {
        self.disconnected[from as usize] = true;
        self.fail_orphans(now, from, None, out);
        self.request_metadata(out);
        self.run_sender(now, out);
    }

    /// Fails the requests to broker `from` that the producer holds unanswered (only request
    /// `only`, if given) with a retriable error, oldest request first, as Kafka completes the
    /// requests of a closed connection (`InFlightRequests.clearAll`).
    fn fail_orphans(&mut self, now: SimTime, from: NodeId, only: Option<u64>, out: &mut impl ProducerFx) {
        let inc = out.incarnation(self.node);
        loop {
            let oldest = (0..self.orphans.len())
                .filter(|&i| self.orphans[i].0 == from && only.is_none_or(|r| r == self.orphans[i].2))
                .min_by_key(|&i| self.orphans[i].2);
            let Some(i) = oldest else { return };
            let (_, sent_by, req, mut batches) = self.orphans.remove(i);
            if sent_by == inc {
                self.requests_in_flight -= 1;
                self.in_flight_to[from as usize] -= 1;
                if self.cfg.faulty {
                    self.untrack_request(from, req);
                }
                for b in batches.drain(..) {
                    self.accumulator.unmute(b.partition);
                    if self.untrack_in_flight(&b) {
                        self.retry_or_give_up(now, b, out);
                    } else {
                        self.accumulator.recycle(b.records);
                    }
                }
            } else {
                for b in batches.drain(..) {
                    self.accumulator.recycle(b.records);
                }
            }
            self.pool.push(batches);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::{Effect, Seeing};

    const MS: u64 = 1_000_000;
    /// The producer's host (brokers are 0 and up).
    const HOST: NodeId = 9;

    /// A world for one producer's handlers (`w`: its effects buffered, and the brokers that are
    /// down), and the produce requests seen so far: number and batches (to be answered).
    #[derive(Default)]
    struct Seen {
        w: Seeing<Msg, Timer, ProducerNote>,
        requests: Vec<(u64, Vec<ProducerBatch>)>,
    }

    impl Seen {
        /// The effects as short strings, in order; the buffer is emptied, and each produce
        /// request's batches kept in `requests`.
        fn seen(&mut self) -> Vec<String> {
            let mut v = Vec::new();
            for e in self.w.out.take_effects() {
                v.push(match e {
                    Effect::TrySend { from: HOST, to, msg: Msg::Produce { batches, req, .. } } => {
                        let ids: Vec<u64> = batches.iter().flat_map(|b| b.records.iter().map(|r| r.id())).collect();
                        self.requests.push((req, batches));
                        format!("request {req} to {to}: {ids:?}")
                    }
                    Effect::TimerAt { node: HOST, at, timer: Timer::SenderWakeup } => {
                        format!("wake at {} ms", at.0 / MS)
                    }
                    Effect::TimerIn { node: HOST, delay, timer: Timer::MetadataRefresh } => {
                        format!("metadata in {} ms", delay.0 / MS)
                    }
                    Effect::Record(ProducerNote::Client(ClientEvent::Acknowledged { id })) => format!("acked {id}"),
                    other => format!("{other:?}"),
                });
            }
            v
        }

        /// Request `req`'s batches, to be answered.
        fn batches_of(&mut self, req: u64) -> Vec<ProducerBatch> {
            let i = self.requests.iter().position(|(r, _)| *r == req).expect("request seen");
            self.requests.remove(i).1
        }
    }

    /// Producer 0 on `HOST`, for one topic of 1 partition on broker 0, with `[kafka]` settings
    /// written in TOML.
    fn producer(kafka: &str, faulty: bool) -> ProducerClient {
        let toml = format!(
            "duration = \"1s\"\n[workload]\nrate = 1.0\n[[groups]]\nname = \"g\"\n[kafka]\npartitions = 1\n{kafka}\n"
        );
        let s = Scenario::parse(&toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
        let k = &s.kafka;
        let cfg = ProducerCfg {
            acks: k.acks,
            max_in_flight: k.max_in_flight_requests_per_connection,
            delivery_timeout: k.delivery_timeout,
            max_block: k.max_block,
            partitions: 1,
            brokers: 1,
            all_brokers: 1,
            keyed: false,
            sequences: false,
            faulty,
            steps: false,
        };
        ProducerClient::new(&s, HOST, 0, cfg)
    }

    fn msg(id: u64, at_ms: u64) -> Message {
        Message { id, key: None, bytes: 100, published_at: SimTime(at_ms * MS) }
    }

    /// Worked by hand, `linger.ms` 0 and `max.in.flight.requests.per.connection` 1: record 1
    /// goes at once in request 0; records 2 and 3, due while it is in flight, wait in one batch;
    /// request 0's answer acknowledges 1 and sends 2 and 3 together in request 1.
    #[test]
    fn one_request_in_flight_at_a_time_batches_what_waits_behind_it() {
        let mut p = producer("linger = \"0ms\"\nmax_in_flight_requests_per_connection = 1", false);
        let mut w = Seen::default();
        p.send_record(SimTime(MS), msg(1, 1), &mut w.w);
        assert_eq!(w.seen(), ["request 0 to 0: [1]"]);
        p.send_record(SimTime(2 * MS), msg(2, 2), &mut w.w);
        p.send_record(SimTime(3 * MS), msg(3, 3), &mut w.w);
        // The connection's one slot is taken: nothing goes; the sender sleeps until the earliest
        // delivery timeout the accumulator has seen (record 1's batch, created at 1 ms: 120.001 s;
        // a lower bound, kept lazily).
        assert_eq!(w.seen(), ["wake at 120001 ms"]);
        let answer = w.batches_of(0);
        p.produce_response(SimTime(4 * MS), 0, answer, 0, &mut w.w);
        assert_eq!(w.seen(), ["acked 1", "request 1 to 0: [2, 3]"]);
        assert!(!p.idle(), "request 1 is in flight");
        let answer = w.batches_of(1);
        p.produce_response(SimTime(5 * MS), 0, answer, 1, &mut w.w);
        assert_eq!(w.seen(), ["acked 2", "acked 3"]);
        assert!(p.idle());
    }

    /// `linger.ms` 10: the first record waits for its batch to linger, and the sender sleeps until
    /// then (one wakeup, not one per record); at 11 ms both records go in one request.
    #[test]
    fn a_batch_waits_for_linger_and_the_sender_wakes_once() {
        let mut p = producer("linger = \"10ms\"", false);
        let mut w = Seen::default();
        p.send_record(SimTime(MS), msg(1, 1), &mut w.w);
        assert_eq!(w.seen(), ["wake at 11 ms"]);
        p.send_record(SimTime(2 * MS), msg(2, 2), &mut w.w);
        assert!(w.seen().is_empty(), "the wakeup at 11 ms stands");
        p.sender_wakeup(SimTime(11 * MS), &mut w.w);
        assert_eq!(w.seen(), ["request 0 to 0: [1, 2]"]);
    }

    /// With faults, a dead leader refuses the connection at once: nothing is sent, and the
    /// producer asks for metadata after `retry.backoff.ms` (100 ms); the record stays in its batch,
    /// and the sender wakes at its delivery timeout (120 s after 1 ms) at the latest.
    #[test]
    fn a_dead_leader_is_not_sent_to_and_the_metadata_is_refreshed() {
        let mut p = producer("linger = \"0ms\"", true);
        let mut w = Seen::default();
        w.w.down.push(0);
        p.send_record(SimTime(MS), msg(1, 1), &mut w.w);
        assert_eq!(w.seen(), ["metadata in 100 ms", "wake at 120001 ms"]);
        assert!(!p.idle(), "the record waits in the accumulator");
    }
}
