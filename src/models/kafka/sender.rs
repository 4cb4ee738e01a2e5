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

impl<H: History> KafkaModel<'_, H> {
    /// The sender thread: for every broker that leads a partition with a ready batch and has a
    /// free in-flight slot, drain that broker's partitions into one produce request; otherwise
    /// sleep until the first batch reaches `linger.ms` or the end of its backoff (or a response
    /// frees a slot). A broker that cannot be reached (its process is down) is skipped, and the
    /// metadata refreshed.
    #[inline]
    pub(super) fn run_sender(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        if self.in_flight_expiry <= now {
            self.expire_in_flight(now);
        }
        if !self.blocked.is_empty() {
            self.unblock(now, sched);
        }
        // An empty accumulator has nothing ready, expired or lingering: nothing to do (the common
        // case after a produce response) but to wake for a batch in flight that may expire.
        if !self.accumulator.is_empty() {
            self.send_ready(now, sched);
        } else if self.in_flight_expiry != SimTime::NEVER {
            self.wake_sender_at(self.in_flight_expiry, sched);
        }
    }

    fn send_ready(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        loop {
            // A batch given up or sent with acks = 0 just now may have freed buffer memory.
            if !self.blocked.is_empty() {
                self.unblock(now, sched);
            }
            let ready = self.accumulator.check(now, &self.meta_leader, self.all_brokers);
            if ready.expired {
                let mut expired = self.request_pool.pop().unwrap_or_default();
                self.accumulator.expire(now, &mut expired);
                for b in expired.drain(..) {
                    self.give_up(now, b);
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
                if self.in_flight_to[node as usize] >= self.cfg.max_in_flight_requests_per_connection {
                    continue;
                }
                // A dead broker refuses the connection at once; one behind a cut link does not answer
                // (`request.timeout.ms`).
                if self.faulty && !self.world.is_up(node) {
                    unreachable = true;
                    continue;
                }
                let mut batches = self.request_pool.pop().unwrap_or_default();
                self.accumulator.drain(now, node, &self.meta_leader, MAX_REQUEST_BYTES, &mut batches);
                if self.sequences {
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
                            self.client(now, ClientEvent::Acknowledged { id: r.id() });
                        }
                    }
                } else {
                    self.requests_in_flight += 1;
                    self.in_flight_to[node as usize] += 1;
                    self.track_in_flight(now, &batches);
                }
                if H::STEPS {
                    self.report_batched(now, node, &batches);
                }
                let producer = if self.faulty { self.world.incarnation(self.producer_node) } else { 0 };
                let req = self.next_request;
                self.next_request += 1;
                if self.faulty && self.cfg.acks != Acks::Zero {
                    self.track_request(now, node, req, sched);
                }
                let msg = Msg::Produce { batches, producer, req };
                if let Err(Msg::Produce { batches, .. }) = self.world.try_send(sched, self.producer_node, node, msg) {
                    if self.cfg.acks == Acks::Zero {
                        let mut batches = batches;
                        for b in batches.drain(..) {
                            self.accumulator.recycle(b.records);
                        }
                        self.request_pool.push(batches);
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
                self.request_metadata(sched);
            }
            // Wake for the first batch to linger enough or end its backoff, or to reach its delivery
            // timeout (waiting here or in flight), whichever comes first.
            let linger = if ready.nodes == 0 { ready.next } else { None };
            let expiry = self.accumulator.next_expiry().unwrap_or(SimTime::NEVER).min(self.in_flight_expiry);
            let at = linger.map_or(expiry, |l| l.min(expiry));
            if at != SimTime::NEVER {
                self.wake_sender_at(at, sched);
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
    fn unblock(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
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
            self.arm_block_deadline(now.after(self.cfg.max_block), sched);
        }
    }

    /// The `send()` call in progress waits for buffer memory until `at` (`max.block.ms`).
    pub(super) fn arm_block_deadline(&mut self, at: SimTime, sched: &mut Scheduler<Event>) {
        if let Some(at) = self.block_deadline.set(at) {
            self.world.timer_at(sched, self.producer_node, at, Timer::MaxBlockExpired);
        }
    }

    /// `max.block.ms` passed for the `send()` in progress: it fails (`BufferExhaustedException`,
    /// a `TimeoutException`), and the application calls `send()` for the next message in line.
    #[cold]
    #[inline(never)]
    pub(super) fn max_block_expired(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        match self.block_deadline.fired(now) {
            Fired::Due => {
                if let Some(msg) = self.blocked.pop_front() {
                    self.client(now, ClientEvent::SendFailed { id: msg.id });
                }
                if self.blocked.is_empty() {
                    self.accumulator.exhausted = false;
                } else {
                    self.arm_block_deadline(now.after(self.cfg.max_block), sched);
                }
            }
            Fired::Rearm(at) => {
                self.world.timer_at(sched, self.producer_node, at, Timer::MaxBlockExpired);
            }
            Fired::Nothing => {}
        }
    }

    /// The sender sleeps until `at` at the latest (one pending wakeup, the earliest asked for).
    fn wake_sender_at(&mut self, at: SimTime, sched: &mut Scheduler<Event>) {
        match self.sender_timer {
            Some((t, _)) if t <= at => {}
            pending => {
                if let Some((_, key)) = pending {
                    sched.cancel(key);
                }
                let key = self.world.timer_at(sched, self.producer_node, at, Timer::SenderWakeup);
                self.sender_timer = Some((at, key));
            }
        }
    }

    /// The batches of a request just sent: those whose delivery timeout could pass before the
    /// request is answered are remembered, to be failed on time (`addToInflightBatches`). Without
    /// faults a request is answered within 2 latencies plus at most `request.timeout.ms` in the
    /// leader's purgatory, so a batch with more time left than that needs no watching.
    fn track_in_flight(&mut self, now: SimTime, batches: &[ProducerBatch]) {
        let horizon = now.after(d::KAFKA_REQUEST_TIMEOUT).after(self.world.latency()).after(self.world.latency());
        for b in batches {
            let deadline = b.created().after(self.cfg.delivery_timeout);
            if !self.faulty && deadline > horizon {
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
    fn expire_in_flight(&mut self, now: SimTime) {
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
                self.fail_records(now, p as u32, &records);
                self.accumulator.recycle(records);
            }
        }
        self.in_flight_expiry = next;
    }

    pub(super) fn sender_wakeup(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        self.sender_timer = None;
        self.run_sender(now, sched);
    }

    /// With faults: a produce request to `broker` is outstanding until answered or failed; the
    /// oldest one's `request.timeout.ms` is watched by one lazily re-armed timer.
    fn track_request(&mut self, now: SimTime, broker: BrokerId, req: u64, sched: &mut Scheduler<Event>) {
        let b = broker as usize;
        self.outstanding[b].push_back((req, now));
        if self.outstanding[b].len() == 1
            && let Some(at) = self.request_timeout[b].set(now.after(d::KAFKA_REQUEST_TIMEOUT))
        {
            self.world.timer_at(sched, self.producer_node, at, Timer::RequestTimeout { broker });
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
    pub(super) fn orphan(
        &mut self,
        now: SimTime,
        broker: BrokerId,
        producer: u32,
        req: u64,
        batches: Vec<ProducerBatch>,
        sched: &mut Scheduler<Event>,
    ) {
        let timed_out = self.faulty && !self.outstanding[broker as usize].iter().any(|&(r, _)| r == req);
        self.orphans.push((broker, producer, req, batches));
        if timed_out {
            self.fail_orphans(now, broker, Some(req));
            self.run_sender(now, sched);
        }
    }

    /// The oldest produce request to `broker` got no answer within `request.timeout.ms` (it or
    /// its answer was lost in a cut link): the producer closes the connection, which fails every
    /// request in flight on it (`NetworkClient.handleTimedOutRequests`), as a broker's death does.
    #[cold]
    #[inline(never)]
    pub(super) fn request_timed_out(&mut self, now: SimTime, broker: BrokerId, sched: &mut Scheduler<Event>) {
        let b = broker as usize;
        match self.request_timeout[b].fired(now) {
            Fired::Due => {
                // Requests not lost (held in a purgatory) are answered later, as a late response.
                self.outstanding[b].clear();
                self.producer_connection_closed(now, broker, sched);
            }
            Fired::Rearm(at) => {
                self.world.timer_at(sched, self.producer_node, at, Timer::RequestTimeout { broker });
            }
            Fired::Nothing => {}
        }
    }

    /// Asks a broker for the current leaders (`Metadata`) after `retry.backoff.ms`; at most one
    /// request pending.
    #[cold]
    #[inline(never)]
    pub(super) fn request_metadata(&mut self, sched: &mut Scheduler<Event>) {
        if self.metadata_pending {
            return;
        }
        self.metadata_pending = true;
        self.world.timer_in(sched, self.producer_node, d::KAFKA_RETRY_BACKOFF, Timer::MetadataRefresh);
    }

    /// Sends the metadata request to the least loaded broker (`NetworkClient.leastLoadedNode`):
    /// the fewest requests in flight among those whose connection did not close, the lowest id
    /// first; if every connection closed, each broker in turn (Kafka reconnects after a backoff).
    /// The answer is that broker's own metadata.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_refresh(&mut self, sched: &mut Scheduler<Event>) {
        self.metadata_round += 1;
        let to = (0..self.brokers as BrokerId)
            .filter(|&b| !self.disconnected[b as usize])
            .min_by_key(|&b| (self.in_flight_to[b as usize], b))
            .unwrap_or((self.metadata_round % self.brokers as u64) as BrokerId);
        self.metadata_to = Some(to);
        let round = self.metadata_round;
        // A dead broker refuses at once; the next broker is tried after the backoff.
        if !self.world.send(sched, self.producer_node, to, Msg::MetadataRequest { round }) && !self.world.is_up(to) {
            self.disconnected[to as usize] = true;
            self.metadata_pending = false;
            self.request_metadata(sched);
            return;
        }
        self.world.timer_in(sched, self.producer_node, d::KAFKA_REQUEST_TIMEOUT, Timer::MetadataTimeout { round });
    }

    #[cold]
    #[inline(never)]
    pub(super) fn metadata_response(
        &mut self,
        now: SimTime,
        from: BrokerId,
        round: u64,
        leaders: Vec<Option<BrokerId>>,
        sched: &mut Scheduler<Event>,
    ) {
        self.disconnected[from as usize] = false;
        if round != self.metadata_round || !self.metadata_pending {
            return;
        }
        self.metadata_pending = false;
        self.metadata_to = None;
        self.meta_leader = leaders;
        self.run_sender(now, sched);
    }

    /// The metadata request of `round` got no answer within `request.timeout.ms`: that broker's
    /// connection is closed, and another is asked.
    #[cold]
    #[inline(never)]
    pub(super) fn metadata_timeout(&mut self, _now: SimTime, round: u64, sched: &mut Scheduler<Event>) {
        if round != self.metadata_round || !self.metadata_pending {
            return;
        }
        if let Some(to) = self.metadata_to.take() {
            self.disconnected[to as usize] = true;
        }
        self.metadata_pending = false;
        self.request_metadata(sched);
    }

    pub(super) fn produce_response(
        &mut self,
        now: SimTime,
        from: NodeId,
        mut batches: Vec<ProducerBatch>,
        req: u64,
        sched: &mut Scheduler<Event>,
    ) {
        if self.faulty {
            self.untrack_request(from, req);
            self.disconnected[from as usize] = false;
        }
        self.requests_in_flight -= 1;
        self.in_flight_to[from as usize] -= 1;
        for b in batches.drain(..) {
            self.accumulator.unmute(b.partition);
            if self.untrack_in_flight(&b) {
                self.complete_batch(now, b, sched);
            } else {
                self.accumulator.recycle(b.records);
            }
        }
        self.request_pool.push(batches);
        self.run_sender(now, sched);
    }

    /// `Sender.completeBatch`: acknowledged, retried, or given up.
    fn complete_batch(&mut self, now: SimTime, mut b: ProducerBatch, sched: &mut Scheduler<Event>) {
        let p = b.partition as usize;
        match b.error {
            BatchError::None => {
                for r in &b.records {
                    self.client(now, ClientEvent::Acknowledged { id: r.id() });
                }
                let t = &mut self.acked_tail[p];
                *t = (*t).max(b.last_id() + 1);
                self.accumulator.release(b.reserved());
                self.accumulator.recycle(b.records);
            }
            error => {
                if error == BatchError::NotLeader {
                    self.request_metadata(sched);
                }
                if error == BatchError::OutOfOrder && (self.acked_tail[p] >= b.prev || self.failed_tail[p] >= b.prev) {
                    // The record before this batch was acknowledged (or given up) yet the leader
                    // lacks it: a real gap (the log lost it). The idempotent producer retries every
                    // OUT_OF_ORDER_SEQUENCE_NUMBER and, for a real gap, bumps its epoch
                    // (`TransactionManager.canRetry`, KIP-360): the batch goes again as the first of
                    // the new epoch. Otherwise an earlier batch is still on its way: just retry.
                    b.prev = 0;
                }
                self.retry_or_give_up(now, b);
            }
        }
    }

    /// A retriable failure: the batch goes back to the accumulator to be sent again after
    /// `retry.backoff.ms`, unless its `delivery.timeout.ms` has passed.
    #[cold]
    #[inline(never)]
    pub(super) fn retry_or_give_up(&mut self, now: SimTime, mut b: ProducerBatch) {
        // `canRetry`: not once `hasReachedDeliveryTimeout`.
        if now >= b.created().after(self.cfg.delivery_timeout) {
            self.give_up(now, b);
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
    fn give_up(&mut self, now: SimTime, b: ProducerBatch) {
        self.accumulator.release(b.reserved());
        self.fail_records(now, b.partition, &b.records);
        self.accumulator.recycle(b.records);
    }

    /// The producer reports these records of `partition` failed (`send_failed`).
    fn fail_records(&mut self, now: SimTime, partition: u32, records: &[StoredMessage]) {
        let mut last = 0;
        for r in records {
            self.client(now, ClientEvent::SendFailed { id: r.id() });
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
    pub(super) fn producer_connection_closed(&mut self, now: SimTime, from: NodeId, sched: &mut Scheduler<Event>) {
        self.disconnected[from as usize] = true;
        self.fail_orphans(now, from, None);
        self.request_metadata(sched);
        self.run_sender(now, sched);
    }

    /// Fails the requests to broker `from` that the producer holds unanswered (only request
    /// `only`, if given) with a retriable error, oldest request first, as Kafka completes the
    /// requests of a closed connection (`InFlightRequests.clearAll`).
    fn fail_orphans(&mut self, now: SimTime, from: NodeId, only: Option<u64>) {
        let inc = self.world.incarnation(self.producer_node);
        loop {
            let oldest = (0..self.orphans.len())
                .filter(|&i| self.orphans[i].0 == from && only.is_none_or(|r| r == self.orphans[i].2))
                .min_by_key(|&i| self.orphans[i].2);
            let Some(i) = oldest else { return };
            let (_, sent_by, req, mut batches) = self.orphans.remove(i);
            if sent_by == inc {
                self.requests_in_flight -= 1;
                self.in_flight_to[from as usize] -= 1;
                if self.faulty {
                    self.untrack_request(from, req);
                }
                for b in batches.drain(..) {
                    self.accumulator.unmute(b.partition);
                    if self.untrack_in_flight(&b) {
                        self.retry_or_give_up(now, b);
                    } else {
                        self.accumulator.recycle(b.records);
                    }
                }
            } else {
                for b in batches.drain(..) {
                    self.accumulator.recycle(b.records);
                }
            }
            self.request_pool.push(batches);
        }
    }
}
