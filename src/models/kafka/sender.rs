//! The producer's `Sender` thread and its delivery guarantees: one connection per broker, each
//! with at most `max.in.flight.requests.per.connection` produce requests; `acks`; retries of
//! retriable errors after `retry.backoff.ms` until `delivery.timeout.ms`; the idempotent
//! producer's sequence chain; metadata refreshes when a leader is unknown or moved.
//!
//! Kafka sources followed: `Sender.sendProducerData` / `completeBatch` / `canRetry`,
//! `RecordAccumulator.ready` / `drain` / `reenqueue` / `expiredBatches`, and the idempotent
//! producer's handling of `OUT_OF_ORDER_SEQUENCE_NUMBER` in `TransactionManager`.

use super::producer::{BatchError, ProducerBatch};
use super::*;
use crate::scenario::Acks;

impl<H: History> KafkaModel<'_, H> {
    /// The sender thread: for every broker that leads a partition with a ready batch and has a
    /// free in-flight slot, drain that broker's partitions into one produce request; otherwise
    /// sleep until the first batch reaches `linger.ms` or the end of its backoff (or a response
    /// frees a slot). A broker that cannot be reached (its process is down) is skipped, and the
    /// metadata refreshed.
    pub(super) fn run_sender(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let dt = d::KAFKA_DELIVERY_TIMEOUT;
        loop {
            let ready = self.accumulator.check(now, &self.meta_leader, self.all_brokers, dt);
            if ready.expired {
                let mut expired = self.request_pool.pop().unwrap_or_default();
                self.accumulator.expire(now, dt, &mut expired);
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
                if self.in_flight_to[node as usize] >= MAX_IN_FLIGHT_REQUESTS {
                    continue;
                }
                if self.faulty && !self.world.connected(self.producer_node, node) {
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
                    // No response is coming: the send completes once the request is written.
                    for b in &batches {
                        for r in &b.records {
                            self.client(now, ClientEvent::Acknowledged { id: r.id() });
                        }
                    }
                } else {
                    self.requests_in_flight += 1;
                    self.in_flight_to[node as usize] += 1;
                }
                let producer = if self.faulty { self.world.incarnation(self.producer_node) } else { 0 };
                self.world.send(sched, self.producer_node, node, Msg::Produce { batches, producer });
                sent = true;
            }
            if sent {
                continue;
            }
            if unreachable {
                self.request_metadata(sched);
            }
            if ready.nodes == 0
                && let Some(at) = ready.next
            {
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
            return;
        }
    }

    pub(super) fn sender_wakeup(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        self.sender_timer = None;
        self.run_sender(now, sched);
    }

    /// Asks a broker for the current leaders (`Metadata`), answered a round trip later; at most
    /// one request pending, and none sooner than `retry.backoff.ms` after the last.
    #[cold]
    #[inline(never)]
    pub(super) fn request_metadata(&mut self, sched: &mut Scheduler<Event>) {
        if self.metadata_pending {
            return;
        }
        self.metadata_pending = true;
        let rtt = SimDuration(self.world.latency().0 * 2);
        let delay = SimDuration(d::KAFKA_RETRY_BACKOFF.0 + rtt.0);
        self.world.timer_in(sched, self.producer_node, delay, Timer::MetadataRefresh);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn metadata_refresh(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        self.metadata_pending = false;
        for (m, r) in self.meta_leader.iter_mut().zip(&self.repl) {
            *m = r.leader;
        }
        self.run_sender(now, sched);
    }

    pub(super) fn produce_response(
        &mut self,
        now: SimTime,
        from: NodeId,
        mut batches: Vec<ProducerBatch>,
        sched: &mut Scheduler<Event>,
    ) {
        self.requests_in_flight -= 1;
        self.in_flight_to[from as usize] -= 1;
        for b in batches.drain(..) {
            self.complete_batch(now, b, sched);
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
        if now >= b.created().after(d::KAFKA_DELIVERY_TIMEOUT) {
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
        for r in &b.records {
            self.client(now, ClientEvent::SendFailed { id: r.id() });
        }
        let t = &mut self.failed_tail[b.partition as usize];
        *t = (*t).max(b.last_id() + 1);
        self.accumulator.recycle(b.records);
    }

    /// The producer hears that broker `from`'s connection closed (its process died): every
    /// request in flight to it fails with a retriable `NetworkException`, and the metadata is
    /// refreshed.
    #[cold]
    #[inline(never)]
    pub(super) fn producer_connection_closed(&mut self, now: SimTime, from: NodeId, sched: &mut Scheduler<Event>) {
        let inc = self.world.incarnation(self.producer_node);
        let mut i = 0;
        while i < self.orphans.len() {
            if self.orphans[i].0 != from {
                i += 1;
                continue;
            }
            let (_, sent_by, mut batches) = self.orphans.remove(i);
            if sent_by == inc {
                self.requests_in_flight -= 1;
                self.in_flight_to[from as usize] -= 1;
                // Newest first, so that each partition's queue keeps record order.
                for b in batches.drain(..).rev() {
                    self.retry_or_give_up(now, b);
                }
            } else {
                for b in batches.drain(..) {
                    self.accumulator.recycle(b.records);
                }
            }
            self.request_pool.push(batches);
        }
        self.request_metadata(sched);
        self.run_sender(now, sched);
    }
}
