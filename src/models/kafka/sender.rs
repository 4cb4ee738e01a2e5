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
    pub(super) sender_timer: Option<(SimTime, EventKey)>,
    /// With `compression.type` in a world with resources: the application's thread, which
    /// compresses each record as `send()` appends it.
    pub(super) compressor: Option<crate::world::resources::ProcessId>,
}

impl ProducerClient {
    /// Producer `index`, on host `node`, before its first message.
    pub(super) fn new(s: &Scenario, node: NodeId, index: u32) -> Self {
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

impl<H: History> KafkaModel<'_, H> {
    /// The sender thread: for every broker that leads a partition with a ready batch and has a
    /// free in-flight slot, drain that broker's partitions into one produce request; otherwise
    /// sleep until the first batch reaches `linger.ms` or the end of its backoff (or a response
    /// frees a slot). A broker that cannot be reached (its process is down) is skipped, and the
    /// metadata refreshed.
    #[inline]
    pub(super) fn run_sender(&mut self, k: usize, now: SimTime, sched: &mut Scheduler<Event>) {
        if self.producers[k].in_flight_expiry <= now {
            self.expire_in_flight(k, now);
        }
        if !self.producers[k].blocked.is_empty() {
            self.unblock(k, now, sched);
        }
        // An empty accumulator has nothing ready, expired or lingering: nothing to do (the common
        // case after a produce response) but to wake for a batch in flight that may expire.
        if !self.producers[k].accumulator.is_empty() {
            self.send_ready(k, now, sched);
        } else if self.producers[k].in_flight_expiry != SimTime::NEVER {
            self.wake_sender_at(k, self.producers[k].in_flight_expiry, sched);
        }
    }

    fn send_ready(&mut self, k: usize, now: SimTime, sched: &mut Scheduler<Event>) {
        loop {
            // A batch given up or sent with acks = 0 just now may have freed buffer memory.
            if !self.producers[k].blocked.is_empty() {
                self.unblock(k, now, sched);
            }
            let ready = self.producers[k].accumulator.check(now, &self.producers[k].meta_leader, self.all_brokers);
            if ready.expired {
                let mut expired = self.request_pool.pop().unwrap_or_default();
                self.producers[k].accumulator.expire(now, &mut expired);
                for b in expired.drain(..) {
                    self.give_up(k, now, b);
                }
                self.request_pool.push(expired);
                continue;
            }
            let mut nodes = ready.nodes;
            let mut sent = false;
            let mut unreachable = ready.no_leader;
            while nodes != 0 {
                let node = nodes.trailing_zeros() as NodeId;
                nodes &= nodes - 1;
                if self.producers[k].in_flight_to[node as usize] >= self.cfg.max_in_flight_requests_per_connection {
                    continue;
                }
                // A dead broker refuses the connection at once; one behind a cut link does not answer
                // (`request.timeout.ms`).
                if self.faulty && !self.world.is_up(node) {
                    unreachable = true;
                    continue;
                }
                let mut batches = self.request_pool.pop().unwrap_or_default();
                let pc = &mut self.producers[k];
                pc.accumulator.drain(now, node, &pc.meta_leader, MAX_REQUEST_BYTES, &mut batches);
                if self.sequences {
                    for b in &mut batches {
                        if !b.chained {
                            let c = &mut self.producers[k].chain[b.partition as usize];
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
                        self.producers[k].accumulator.unmute(b.partition);
                        self.producers[k].accumulator.release(b.reserved());
                        for r in &b.records {
                            self.client(now, ClientEvent::Acknowledged { id: r.id() });
                        }
                    }
                } else {
                    self.producers[k].requests_in_flight += 1;
                    self.producers[k].in_flight_to[node as usize] += 1;
                    self.track_in_flight(k, now, &batches);
                }
                if H::STEPS {
                    self.report_batched(now, node, &batches);
                }
                let producer = if self.faulty { self.world.incarnation(self.producers[k].node) } else { 0 };
                let req = self.producers[k].next_request;
                self.producers[k].next_request += 1;
                if self.faulty && self.cfg.acks != Acks::Zero {
                    self.track_request(k, now, node, req, sched);
                }
                let msg = Msg::Produce { batches, producer, req };
                if let Err(Msg::Produce { batches, .. }) = self.world.try_send(sched, self.producers[k].node, node, msg)
                {
                    if self.cfg.acks == Acks::Zero {
                        let mut batches = batches;
                        for b in batches.drain(..) {
                            self.producers[k].accumulator.recycle(b.records);
                        }
                        self.request_pool.push(batches);
                    } else {
                        self.producers[k].orphans.push((node, producer, req, batches));
                    }
                }
                sent = true;
            }
            if sent {
                continue;
            }
            if unreachable {
                self.request_metadata(k, sched);
            }
            // Wake for the first batch to linger enough or end its backoff, or to reach its delivery
            // timeout (waiting here or in flight), whichever comes first.
            let linger = if ready.nodes == 0 { ready.next } else { None };
            let expiry = self.producers[k]
                .accumulator
                .next_expiry()
                .unwrap_or(SimTime::NEVER)
                .min(self.producers[k].in_flight_expiry);
            let at = linger.map_or(expiry, |l| l.min(expiry));
            if at != SimTime::NEVER {
                self.wake_sender_at(k, at, sched);
            }
            return;
        }
    }

    /// For `pushpull trace`: each record of the request's batches is on its way to `broker`.
    #[cold]
    fn report_batched(&mut self, now: SimTime, broker: NodeId, batches: &[ProducerBatch]) {
        for b in batches {
            let records = b.records.len() as u32;
            for r in &b.records {
                let step = Step::Batched { id: r.id(), partition: b.partition, broker, records };
                self.history.record(now, Observation::Step(step));
            }
        }
    }

    /// `send()` calls waiting for buffer memory go on, oldest first, while there is room. The
    /// next one in line starts its own `max.block.ms` when it gets its turn.
    #[cold]
    #[inline(never)]
    fn unblock(&mut self, k: usize, now: SimTime, sched: &mut Scheduler<Event>) {
        let mut moved = false;
        while let Some(msg) = self.producers[k].blocked.front().copied() {
            if self.append_record(k, now, &msg).is_none() {
                break;
            }
            self.producers[k].blocked.pop_front();
            moved = true;
        }
        if self.producers[k].blocked.is_empty() {
            self.producers[k].accumulator.exhausted = false;
            self.producers[k].block_deadline.clear();
        } else if moved {
            self.arm_block_deadline(k, now.after(self.cfg.max_block), sched);
        }
    }

    /// The `send()` call in progress waits for buffer memory until `at` (`max.block.ms`).
    pub(super) fn arm_block_deadline(&mut self, k: usize, at: SimTime, sched: &mut Scheduler<Event>) {
        if let Some(at) = self.producers[k].block_deadline.set(at) {
            self.world.timer_at(sched, self.producers[k].node, at, Timer::MaxBlockExpired);
        }
    }

    /// `max.block.ms` passed for the `send()` in progress: it fails (`BufferExhaustedException`,
    /// a `TimeoutException`), and the application calls `send()` for the next message in line.
    #[cold]
    #[inline(never)]
    pub(super) fn max_block_expired(&mut self, k: usize, now: SimTime, sched: &mut Scheduler<Event>) {
        match self.producers[k].block_deadline.fired(now) {
            Fired::Due => {
                if let Some(msg) = self.producers[k].blocked.pop_front() {
                    self.client(now, ClientEvent::SendFailed { id: msg.id });
                }
                if self.producers[k].blocked.is_empty() {
                    self.producers[k].accumulator.exhausted = false;
                } else {
                    self.arm_block_deadline(k, now.after(self.cfg.max_block), sched);
                }
            }
            Fired::Rearm(at) => {
                self.world.timer_at(sched, self.producers[k].node, at, Timer::MaxBlockExpired);
            }
            Fired::Nothing => {}
        }
    }

    /// The sender sleeps until `at` at the latest (one pending wakeup, the earliest asked for).
    fn wake_sender_at(&mut self, k: usize, at: SimTime, sched: &mut Scheduler<Event>) {
        match self.producers[k].sender_timer {
            Some((t, _)) if t <= at => {}
            pending => {
                if let Some((_, key)) = pending {
                    sched.cancel(key);
                }
                let key = self.world.timer_at(sched, self.producers[k].node, at, Timer::SenderWakeup);
                self.producers[k].sender_timer = Some((at, key));
            }
        }
    }

    /// The batches of a request just sent: those whose delivery timeout could pass before the
    /// request is answered are remembered, to be failed on time (`addToInflightBatches`). Without
    /// faults a request is answered within 2 latencies plus at most `request.timeout.ms` in the
    /// leader's purgatory, so a batch with more time left than that needs no watching.
    fn track_in_flight(&mut self, k: usize, now: SimTime, batches: &[ProducerBatch]) {
        let horizon = now.after(d::KAFKA_REQUEST_TIMEOUT).after(self.world.latency()).after(self.world.latency());
        for b in batches {
            let deadline = b.created().after(self.cfg.delivery_timeout);
            if !self.faulty && deadline > horizon {
                continue;
            }
            let mut records = self.producers[k].accumulator.take_buffer();
            records.extend_from_slice(&b.records);
            self.producers[k].in_flight_batches[b.partition as usize].push(InFlightBatch {
                first_id: b.first_id(),
                deadline,
                records,
                expired: false,
                reserved: b.reserved(),
            });
            self.producers[k].in_flight_expiry = self.producers[k].in_flight_expiry.min(deadline);
        }
    }

    /// Batch `b` came back (answered, or failed with its connection): it stops being watched.
    /// Returns false if it had expired in flight: its records were failed already, and whatever
    /// the answer says is ignored (`ProducerBatch.done` on a batch already failed).
    fn untrack_in_flight(&mut self, k: usize, b: &ProducerBatch) -> bool {
        let list = &mut self.producers[k].in_flight_batches[b.partition as usize];
        if list.is_empty() {
            return true;
        }
        let first = b.first_id();
        let Some(i) = list.iter().position(|e| e.first_id == first) else { return true };
        let e = list.swap_remove(i);
        let expired = e.expired;
        self.producers[k].accumulator.recycle(e.records);
        !expired
    }

    /// `Sender.getExpiredInflightBatches`: every batch in flight whose `delivery.timeout.ms` passed
    /// fails now, although its request is still outstanding (it keeps its in-flight slot until
    /// answered or timed out).
    #[cold]
    #[inline(never)]
    fn expire_in_flight(&mut self, k: usize, now: SimTime) {
        let mut next = SimTime::NEVER;
        for p in 0..self.producers[k].in_flight_batches.len() {
            for i in 0..self.producers[k].in_flight_batches[p].len() {
                let e = &mut self.producers[k].in_flight_batches[p][i];
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
                self.producers[k].accumulator.release(reserved);
                self.fail_records(k, now, p as u32, &records);
                self.producers[k].accumulator.recycle(records);
            }
        }
        self.producers[k].in_flight_expiry = next;
    }

    pub(super) fn sender_wakeup(&mut self, k: usize, now: SimTime, sched: &mut Scheduler<Event>) {
        self.producers[k].sender_timer = None;
        self.run_sender(k, now, sched);
    }

    /// With faults: a produce request to `broker` is outstanding until answered or failed; the
    /// oldest one's `request.timeout.ms` is watched by one lazily re-armed timer.
    fn track_request(&mut self, k: usize, now: SimTime, broker: BrokerId, req: u64, sched: &mut Scheduler<Event>) {
        let b = broker as usize;
        self.producers[k].outstanding[b].push_back((req, now));
        if self.producers[k].outstanding[b].len() == 1
            && let Some(at) = self.producers[k].request_timeout[b].set(now.after(d::KAFKA_REQUEST_TIMEOUT))
        {
            self.world.timer_at(sched, self.producers[k].node, at, Timer::RequestTimeout { broker });
        }
    }

    /// Request `req` to `broker` is answered or failed: it stops counting for the timeout.
    fn untrack_request(&mut self, k: usize, broker: BrokerId, req: u64) {
        let b = broker as usize;
        let Some(i) = self.producers[k].outstanding[b].iter().position(|&(r, _)| r == req) else { return };
        self.producers[k].outstanding[b].remove(i);
        match self.producers[k].outstanding[b].front() {
            None => self.producers[k].request_timeout[b].clear(),
            Some(&(_, sent)) => {
                // Later than the pending timer: it re-arms itself when it fires.
                let _ = self.producers[k].request_timeout[b].set(sent.after(d::KAFKA_REQUEST_TIMEOUT));
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
        k: usize,
        now: SimTime,
        broker: BrokerId,
        producer: u32,
        req: u64,
        batches: Vec<ProducerBatch>,
        sched: &mut Scheduler<Event>,
    ) {
        let timed_out = self.faulty && !self.producers[k].outstanding[broker as usize].iter().any(|&(r, _)| r == req);
        self.producers[k].orphans.push((broker, producer, req, batches));
        if timed_out {
            self.fail_orphans(k, now, broker, Some(req));
            self.run_sender(k, now, sched);
        }
    }

    /// The oldest produce request to `broker` got no answer within `request.timeout.ms` (it or
    /// its answer was lost in a cut link): the producer closes the connection, which fails every
    /// request in flight on it (`NetworkClient.handleTimedOutRequests`), as a broker's death does.
    #[cold]
    #[inline(never)]
    pub(super) fn request_timed_out(&mut self, k: usize, now: SimTime, broker: BrokerId, sched: &mut Scheduler<Event>) {
        let b = broker as usize;
        match self.producers[k].request_timeout[b].fired(now) {
            Fired::Due => {
                // Requests not lost (held in a purgatory) are answered later, as a late response.
                self.producers[k].outstanding[b].clear();
                self.producer_connection_closed(k, now, broker, sched);
            }
            Fired::Rearm(at) => {
                self.world.timer_at(sched, self.producers[k].node, at, Timer::RequestTimeout { broker });
            }
            Fired::Nothing => {}
        }
    }

    /// Asks a broker for the current leaders (`Metadata`) after `retry.backoff.ms`; at most one
    /// request pending.
    #[cold]
    #[inline(never)]
    pub(super) fn request_metadata(&mut self, k: usize, sched: &mut Scheduler<Event>) {
        if self.producers[k].metadata_pending {
            return;
        }
        self.producers[k].metadata_pending = true;
        self.world.timer_in(sched, self.producers[k].node, d::KAFKA_RETRY_BACKOFF, Timer::MetadataRefresh);
    }

    /// Sends the metadata request to the least loaded broker (`NetworkClient.leastLoadedNode`):
    /// the fewest requests in flight among those whose connection did not close, the lowest id
    /// first; if every connection closed, each broker in turn (Kafka reconnects after a backoff).
    /// The answer is that broker's own metadata.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_refresh(&mut self, k: usize, sched: &mut Scheduler<Event>) {
        self.producers[k].metadata_round += 1;
        let to = (0..self.brokers as BrokerId)
            .filter(|&b| !self.producers[k].disconnected[b as usize])
            .min_by_key(|&b| (self.producers[k].in_flight_to[b as usize], b))
            .unwrap_or((self.producers[k].metadata_round % self.brokers as u64) as BrokerId);
        self.producers[k].metadata_to = Some(to);
        let round = self.producers[k].metadata_round;
        // A dead broker refuses at once; the next broker is tried after the backoff.
        if !self.world.send(sched, self.producers[k].node, to, Msg::MetadataRequest { round }) && !self.world.is_up(to)
        {
            self.producers[k].disconnected[to as usize] = true;
            self.producers[k].metadata_pending = false;
            self.request_metadata(k, sched);
            return;
        }
        self.world.timer_in(sched, self.producers[k].node, d::KAFKA_REQUEST_TIMEOUT, Timer::MetadataTimeout { round });
    }

    #[cold]
    #[inline(never)]
    pub(super) fn metadata_response(
        &mut self,
        k: usize,
        now: SimTime,
        from: BrokerId,
        round: u64,
        leaders: Vec<Option<BrokerId>>,
        sched: &mut Scheduler<Event>,
    ) {
        self.producers[k].disconnected[from as usize] = false;
        if round != self.producers[k].metadata_round || !self.producers[k].metadata_pending {
            return;
        }
        self.producers[k].metadata_pending = false;
        self.producers[k].metadata_to = None;
        self.producers[k].meta_leader = leaders;
        self.run_sender(k, now, sched);
    }

    /// The metadata request of `round` got no answer within `request.timeout.ms`: that broker's
    /// connection is closed, and another is asked.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_timeout(&mut self, k: usize, _now: SimTime, round: u64, sched: &mut Scheduler<Event>) {
        if round != self.producers[k].metadata_round || !self.producers[k].metadata_pending {
            return;
        }
        if let Some(to) = self.producers[k].metadata_to.take() {
            self.producers[k].disconnected[to as usize] = true;
        }
        self.producers[k].metadata_pending = false;
        self.request_metadata(k, sched);
    }

    pub(super) fn produce_response(
        &mut self,
        k: usize,
        now: SimTime,
        from: NodeId,
        mut batches: Vec<ProducerBatch>,
        req: u64,
        sched: &mut Scheduler<Event>,
    ) {
        if self.faulty {
            self.untrack_request(k, from, req);
            self.producers[k].disconnected[from as usize] = false;
        }
        self.producers[k].requests_in_flight -= 1;
        self.producers[k].in_flight_to[from as usize] -= 1;
        for b in batches.drain(..) {
            self.producers[k].accumulator.unmute(b.partition);
            if self.untrack_in_flight(k, &b) {
                self.complete_batch(k, now, b, sched);
            } else {
                self.producers[k].accumulator.recycle(b.records);
            }
        }
        self.request_pool.push(batches);
        self.run_sender(k, now, sched);
    }

    /// `Sender.completeBatch`: acknowledged, retried, or given up.
    fn complete_batch(&mut self, k: usize, now: SimTime, mut b: ProducerBatch, sched: &mut Scheduler<Event>) {
        let p = b.partition as usize;
        match b.error {
            BatchError::None => {
                for r in &b.records {
                    self.client(now, ClientEvent::Acknowledged { id: r.id() });
                }
                let t = &mut self.producers[k].acked_tail[p];
                *t = (*t).max(b.last_id() + 1);
                self.producers[k].accumulator.release(b.reserved());
                self.producers[k].accumulator.recycle(b.records);
            }
            error => {
                if error == BatchError::NotLeader {
                    self.request_metadata(k, sched);
                }
                if error == BatchError::OutOfOrder
                    && (self.producers[k].acked_tail[p] >= b.prev || self.producers[k].failed_tail[p] >= b.prev)
                {
                    // The record before this batch was acknowledged (or given up) yet the leader
                    // lacks it: a real gap (the log lost it). The idempotent producer retries every
                    // OUT_OF_ORDER_SEQUENCE_NUMBER and, for a real gap, bumps its epoch
                    // (`TransactionManager.canRetry`, KIP-360): the batch goes again as the first of
                    // the new epoch. Otherwise an earlier batch is still on its way: just retry.
                    b.prev = 0;
                }
                self.retry_or_give_up(k, now, b);
            }
        }
    }

    /// A retriable failure: the batch goes back to the accumulator to be sent again after
    /// `retry.backoff.ms`, unless its `delivery.timeout.ms` has passed.
    #[cold]
    #[inline(never)]
    pub(super) fn retry_or_give_up(&mut self, k: usize, now: SimTime, mut b: ProducerBatch) {
        // `canRetry`: not once `hasReachedDeliveryTimeout`.
        if now >= b.created().after(self.cfg.delivery_timeout) {
            self.give_up(k, now, b);
            return;
        }
        b.error = BatchError::None;
        b.attempts += 1;
        b.retry_after = now.after(d::KAFKA_RETRY_BACKOFF);
        self.producers[k].accumulator.reenqueue(b);
    }

    /// `delivery.timeout.ms` passed: every record of the batch fails.
    #[cold]
    #[inline(never)]
    fn give_up(&mut self, k: usize, now: SimTime, b: ProducerBatch) {
        self.producers[k].accumulator.release(b.reserved());
        self.fail_records(k, now, b.partition, &b.records);
        self.producers[k].accumulator.recycle(b.records);
    }

    /// The producer reports these records of `partition` failed (`send_failed`).
    fn fail_records(&mut self, k: usize, now: SimTime, partition: u32, records: &[StoredMessage]) {
        let mut last = 0;
        for r in records {
            self.client(now, ClientEvent::SendFailed { id: r.id() });
            last = last.max(r.id());
        }
        let t = &mut self.producers[k].failed_tail[partition as usize];
        *t = (*t).max(last + 1);
    }

    /// The producer hears that broker `from`'s connection closed (its process died): every
    /// request in flight to it fails with a retriable `NetworkException`, and the metadata is
    /// refreshed.
    #[cold]
    #[inline(never)]
    pub(super) fn producer_connection_closed(
        &mut self,
        k: usize,
        now: SimTime,
        from: NodeId,
        sched: &mut Scheduler<Event>,
    ) {
        self.producers[k].disconnected[from as usize] = true;
        self.fail_orphans(k, now, from, None);
        self.request_metadata(k, sched);
        self.run_sender(k, now, sched);
    }

    /// Fails the requests to broker `from` that the producer holds unanswered (only request
    /// `only`, if given) with a retriable error, oldest request first, as Kafka completes the
    /// requests of a closed connection (`InFlightRequests.clearAll`).
    fn fail_orphans(&mut self, k: usize, now: SimTime, from: NodeId, only: Option<u64>) {
        let inc = self.world.incarnation(self.producers[k].node);
        loop {
            let oldest = (0..self.producers[k].orphans.len())
                .filter(|&i| {
                    self.producers[k].orphans[i].0 == from && only.is_none_or(|r| r == self.producers[k].orphans[i].2)
                })
                .min_by_key(|&i| self.producers[k].orphans[i].2);
            let Some(i) = oldest else { return };
            let (_, sent_by, req, mut batches) = self.producers[k].orphans.remove(i);
            if sent_by == inc {
                self.producers[k].requests_in_flight -= 1;
                self.producers[k].in_flight_to[from as usize] -= 1;
                if self.faulty {
                    self.untrack_request(k, from, req);
                }
                for b in batches.drain(..) {
                    self.producers[k].accumulator.unmute(b.partition);
                    if self.untrack_in_flight(k, &b) {
                        self.retry_or_give_up(k, now, b);
                    } else {
                        self.producers[k].accumulator.recycle(b.records);
                    }
                }
            } else {
                for b in batches.drain(..) {
                    self.producers[k].accumulator.recycle(b.records);
                }
            }
            self.request_pool.push(batches);
        }
    }
}
