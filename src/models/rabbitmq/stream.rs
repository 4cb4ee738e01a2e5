//! A RabbitMQ stream (`queue_type = "stream"`, RabbitMQ 4.x with osiris): one append-only log
//! bound to the fanout exchange, on node 0, read by every group at its own offset. It keeps its
//! records in the log shared with the Kafka model ([`crate::models::log`]), with osiris's rules:
//! a segment closes once it holds `x-stream-max-segment-size-bytes` (500 MB), and retention
//! (`x-max-length-bytes`, then `x-max-age`) is evaluated when a segment rolls
//! (`osiris_log:write_chunk` -> `trigger_retention_eval`) and, while `x-max-age` is set and more
//! than one segment is left, again an hour after the last evaluation (`osiris_retention`'s
//! `retention_eval_interval`). Nothing is deleted by an acknowledgement.
//!
//! Consumers, as `rabbit_stream_queue` serves AMQP 0.9.1 ones:
//! * a consumer starts at its `x-stream-offset` (`first`, `next`, a timestamp; the default is
//!   `next`); the group's `from` maps onto it: `earliest` -> `first`, `latest` -> `next`, a time
//!   -> that timestamp (the first message published at or after it);
//! * flow is credit: the prefetch count (`basic.qos`, required) is the credit; each delivery
//!   spends one, each acknowledgement gives one back (`settle/5`) and deletes nothing.
//!
//! Sharing a group's work: over AMQP 0.9.1 every consumer of a stream receives every message, and
//! RabbitMQ offers nothing to split a stream between consumers (super streams and single active
//! consumer exist in the stream protocol only). The model gives a group the stream protocol's
//! **single active consumer** semantics: the consumer that subscribed first reads; the others
//! stand by, in the order they subscribed; when the active one goes (crash, stop, its connection
//! lost), the next takes over from the offset the application stored, which is after the last
//! message it processed (the application stores it with each acknowledgement). A group's
//! throughput is therefore one consumer's, like a Kafka partition's.
//!
//! Not modelled: replication (streams are replicated in reality; here the stream lives on node 0
//! alone, and is persistent: a crash of node 0 keeps the log and the stored offsets), chunks (the
//! writer batches messages into chunks; here each message is its own), a reader going on reading a
//! segment retention deleted under it (here it jumps to the new first offset).
//!
//! Under a calibrated profile the stream's work is charged in [`super::costs`]: the publisher's
//! channel (conversion to AMQP 1.0), the writer (`osiris_writer`, an append without fsync) and each
//! group's reader (its consumer's channel), and the confirm follows the write.

use super::*;
use crate::models::log::{Offset, Partition};
use crate::scenario::StreamConfig;
use crate::scenario::operations::OffsetSpec;

/// One group's reading of the stream.
#[derive(Debug)]
struct StreamGroup {
    /// Consumers subscribed, in subscription order: the first is the active one.
    registered: Vec<u32>,
    /// The active subscription's number (its consumer's `reg`): acknowledgements of an earlier
    /// subscription give no credit and store nothing.
    reg: u32,
    /// The next offset to deliver to the active consumer.
    pos: Offset,
    /// Credit left (prefetch minus deliveries not yet acknowledged).
    credit: u32,
    /// Delivered to the active consumer, not yet acknowledged: (message, offset), in order.
    in_flight: VecDeque<(MessageId, Offset)>,
    /// The offset the application stored (after the last message it processed): where the next
    /// active consumer starts. `None` until the group's first subscription.
    stored: Option<Offset>,
    /// The group's `x-stream-offset` for its first subscription.
    from: OffsetSpec,
    /// A reset asked for: the next subscription starts here instead of the stored offset.
    seek: Option<OffsetSpec>,
}

pub struct Stream {
    pub log: Partition,
    cfg: StreamConfig,
    groups: Vec<StreamGroup>,
    /// The scheduled re-evaluation of `x-max-age`: only the one of this generation is live.
    retention_generation: u64,
}

impl Stream {
    pub fn new(s: &Scenario, cfg: StreamConfig) -> Self {
        Stream {
            log: Partition::default(),
            cfg,
            groups: s
                .groups
                .iter()
                .map(|g| StreamGroup {
                    registered: Vec::new(),
                    reg: 0,
                    pos: 0,
                    credit: 0,
                    in_flight: VecDeque::new(),
                    stored: None,
                    // `x-stream-offset` defaults to `next` (`rabbit_stream_queue:parse_offset_arg`).
                    from: g.from.unwrap_or(OffsetSpec::Latest),
                    seek: None,
                })
                .collect(),
            retention_generation: 0,
        }
    }

    /// Where `spec` points now: `first` (the first offset retained), `next` (the end) or the
    /// first message published at or after a time (osiris finds the first chunk whose timestamp
    /// is at or after it; the end if none).
    fn offset_for(&self, spec: OffsetSpec) -> Offset {
        let log = &self.log;
        match spec {
            OffsetSpec::Earliest => log.start_offset,
            OffsetSpec::Latest => log.end_offset(),
            OffsetSpec::Time(t) => log
                .records
                .iter()
                .position(|r| r.published_at >= t)
                .map_or(log.end_offset(), |i| log.start_offset + i as u64),
        }
    }

    /// Every group has processed (and stored) everything the stream holds.
    pub fn drained(&self) -> bool {
        let end = self.log.end_offset();
        self.groups.iter().all(|g| g.stored.is_none_or(|s| s.max(self.log.start_offset) >= end))
    }
}

impl<H: History> RabbitModel<'_, H> {
    fn stream(&mut self) -> &mut Stream {
        self.stream.as_mut().expect("queue_type = \"stream\"")
    }

    /// A publish reaches the stream: appended once, whatever the number of groups.
    pub(super) fn stream_append(&mut self, now: SimTime, msg: Message, sched: &mut Scheduler<Event>) {
        let stored = StoredMessage::new(&msg);
        self.obs(now, Observation::Stored { msg: stored });
        self.obs(now, Observation::StorageChanged { delta: stored.bytes() as i64 });
        let max_segment = self.stream().cfg.max_segment_size_bytes;
        let (_, rolled) = self.stream().log.append_stream(now, stored, max_segment);
        if rolled {
            self.stream_retention(now, sched);
        }
        for group in 0..self.consumers.len() {
            self.stream_dispatch(now, group, sched);
        }
        if self.cfg.publisher_confirms {
            let to = self.publishers[self.publisher_for(msg.id)].node;
            self.world.send(sched, QUEUE_NODE, to, Msg::Confirm(msg.id));
        }
    }

    /// osiris's retention evaluation; with `x-max-age` and more than one segment left, the next
    /// one is scheduled an hour later (replacing any scheduled before).
    fn stream_retention(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let history = &mut *self.history;
        let st = self.stream.as_mut().expect("a stream");
        let (max_bytes, max_age) = (st.cfg.max_length_bytes, st.cfg.max_age);
        let freed = st.log.enforce_stream_retention(now, max_bytes, max_age, |r| {
            history.record(now, Observation::Deleted { id: r.id(), group: None })
        });
        st.retention_generation += 1;
        let (generation, again) = (st.retention_generation, max_age.is_some() && st.log.segments.len() > 1);
        if freed > 0 {
            self.obs(now, Observation::StorageChanged { delta: -(freed as i64) });
        }
        if again {
            let every = d::RABBITMQ_STREAM_RETENTION_EVAL_INTERVAL;
            self.world.timer_in(sched, QUEUE_NODE, every, Timer::StreamRetention(generation));
        }
    }

    pub(super) fn stream_retention_due(&mut self, now: SimTime, generation: u64, sched: &mut Scheduler<Event>) {
        if self.stream().retention_generation == generation {
            self.stream_retention(now, sched);
        }
    }

    /// Delivers to the group's active consumer while it has credit and the stream has messages.
    fn stream_dispatch(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        let st = self.stream.as_mut().expect("a stream");
        let g = &mut st.groups[group];
        let Some(&consumer) = g.registered.first() else { return };
        if g.credit == 0 || g.pos >= st.log.end_offset() {
            return;
        }
        // Retention deleted what the reader had not reached: it goes on from the first offset left.
        g.pos = g.pos.max(st.log.start_offset);
        let c = &self.consumers[group][consumer as usize];
        let (to, reg) = (c.node, c.reg);
        while g.credit > 0
            && let Some(msg) = st.log.get(g.pos).copied()
        {
            g.in_flight.push_back((msg.id(), g.pos));
            g.pos += 1;
            g.credit -= 1;
            self.world.send(sched, QUEUE_NODE, to, Msg::Deliver { group, consumer, reg, msg, redelivered: false });
        }
        self.stream_report(now, group);
    }

    /// The group's lag (the stream's end minus the stored offset, as Kafka's consumer lag) and its
    /// deliveries not yet acknowledged.
    fn stream_report(&mut self, now: SimTime, group: GroupIdx) {
        let st = self.stream.as_ref().expect("a stream");
        let g = &st.groups[group];
        let Some(stored) = g.stored else { return };
        let messages = st.log.end_offset().saturating_sub(stored.max(st.log.start_offset));
        let unacked = g.in_flight.len() as u64;
        self.obs(now, Observation::Backlog { group, messages, unacked });
    }

    /// `basic.consume` with the group's `x-stream-offset` (single active consumer: it reads only if
    /// no other consumer of the group is registered).
    fn stream_subscribe(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let g = &mut self.stream().groups[group];
        if g.registered.contains(&consumer) {
            return;
        }
        g.registered.push(consumer);
        if g.registered.len() == 1 {
            self.stream_activate(now, group, sched);
        }
    }

    /// The first registered consumer becomes active: it starts from the stored offset, or (the
    /// group's first subscription, or after a reset) from its offset spec.
    fn stream_activate(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        let prefetch = u32::from(self.cfg.prefetch);
        let st = self.stream.as_mut().expect("a stream");
        let g = &st.groups[group];
        let Some(&consumer) = g.registered.first() else { return };
        let spec = match (g.seek, g.stored) {
            (Some(spec), _) => Some(spec),
            (None, None) => Some(g.from),
            (None, Some(_)) => None,
        };
        let pos = match spec {
            Some(spec) => st.offset_for(spec),
            None => g.stored.expect("stored"),
        };
        let g = &mut st.groups[group];
        let first = g.stored.is_none();
        g.stored = Some(pos);
        g.seek = None;
        g.pos = pos;
        g.credit = prefetch;
        g.in_flight.clear();
        g.reg = self.consumers[group][consumer as usize].reg;
        // A late group's first subscription seeks, as a Kafka group's `auto.offset.reset` does.
        if first && now > SimTime::ZERO {
            let to_end = spec == Some(OffsetSpec::Latest);
            self.client(now, ClientEvent::Sought { group, to_end });
        }
        self.stream_dispatch(now, group, sched);
        self.stream_report(now, group);
    }

    /// `basic.ack`: one credit back, and the application's stored offset moves past the message.
    fn stream_ack(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        reg: u32,
        id: MessageId,
        sched: &mut Scheduler<Event>,
    ) {
        let g = &mut self.stream().groups[group];
        if g.registered.first() != Some(&consumer) || g.reg != reg {
            return;
        }
        let Some(i) = g.in_flight.iter().position(|&(m, _)| m == id) else { return };
        let (_, offset) = g.in_flight.remove(i).expect("found");
        g.credit += 1;
        g.stored = Some(g.stored.map_or(offset + 1, |s| s.max(offset + 1)));
        self.stream_dispatch(now, group, sched);
        self.stream_report(now, group);
    }

    /// The consumer's connection closed: it is no longer registered; if it was the active one,
    /// the next in line takes over.
    fn stream_unsubscribe(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let g = &mut self.stream().groups[group];
        let Some(i) = g.registered.iter().position(|&c| c == consumer) else { return };
        g.registered.remove(i);
        if i == 0 {
            g.in_flight.clear();
            self.stream_activate(now, group, sched);
        }
    }

    pub(super) fn stream_message(&mut self, now: SimTime, msg: Msg, sched: &mut Scheduler<Event>) {
        match msg {
            Msg::Publish(m) => self.stream_append(now, m, sched),
            Msg::Ack { group, consumer, reg, id } => self.stream_ack(now, group, consumer, reg, id, sched),
            Msg::Subscribe { group, consumer, .. } => self.stream_subscribe(now, group, consumer, sched),
            Msg::ConnectionClosed { group, consumer, .. } => self.stream_unsubscribe(now, group, consumer, sched),
            _ => unreachable!("not a message for the stream's node"),
        }
    }

    /// `reset_offsets` on a stream: the application cancels its consumer and consumes again with
    /// `x-stream-offset` = `spec` (`first`, `next` or a timestamp). What it had received and not
    /// started is dropped; the message in its hands completes, but its acknowledgement belongs to
    /// the cancelled subscription.
    pub(super) fn stream_reset(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        spec: OffsetSpec,
        sched: &mut Scheduler<Event>,
    ) {
        self.client(now, ClientEvent::Sought { group, to_end: spec == OffsetSpec::Latest });
        let st = self.stream.as_mut().expect("a stream");
        let from = st.groups[group].stored.unwrap_or(0).max(st.log.start_offset);
        let to = st.offset_for(spec);
        if to > from {
            // Skipped forward: what lies between is never processed by the group (reported deleted
            // for it, after the reset, as Kafka's model does).
            self.history.record(now, Observation::OffsetReset { group, partition: 0, from, to });
            for o in from..to {
                if let Some(r) = st.log.get(o) {
                    self.history.record(now, Observation::Deleted { id: r.id(), group: Some(group) });
                }
            }
        }
        let g = &mut st.groups[group];
        g.seek = Some(spec);
        if let Some(&active) = g.registered.first() {
            let c = &mut self.consumers[group][active as usize];
            c.reg += 1;
            c.app.drop_waiting().for_each(drop);
            self.stream_activate(now, group, sched);
        }
        // Otherwise the next consumer to subscribe starts at `spec`.
    }

    /// Node 0 crashed: every registration and delivery is gone; the log and the stored offsets are
    /// on disk. Connected consumers lose their connections and reconnect.
    pub(super) fn stream_node_crashed(&mut self, sched: &mut Scheduler<Event>) {
        for g in &mut self.stream().groups {
            g.registered.clear();
            g.in_flight.clear();
            g.credit = 0;
        }
        for group in 0..self.consumers.len() {
            for consumer in 0..self.consumers[group].len() as u32 {
                let node = self.consumers[group][consumer as usize].node;
                if self.world.is_up(node) {
                    self.channel_lost(group, consumer);
                    self.world.timer_in(sched, node, d::RABBITMQ_RECOVERY_INTERVAL, Timer::Reconnect);
                }
            }
        }
    }
}
