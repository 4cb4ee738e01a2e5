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

use super::classic_node::{Around, QueueFx};
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
    /// Publisher confirms, sent once a message is appended.
    confirms: bool,
    /// Each consumer's credit (`basic.qos` prefetch).
    prefetch: u32,
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
            confirms: s.rabbitmq.publisher_confirms,
            prefetch: u32::from(s.rabbitmq.prefetch),
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

impl Stream {
    /// A publish reaches the stream: appended once, whatever the number of groups.
    pub(super) fn append(&mut self, now: SimTime, msg: Message, ctx: &Around, out: &mut impl QueueFx) {
        let stored = StoredMessage::new(&msg);
        out.record(Observation::Stored { msg: stored });
        out.record(Observation::StorageChanged { delta: stored.bytes() as i64 });
        let max_segment = self.cfg.max_segment_size_bytes;
        let (_, rolled) = self.log.append_stream(now, stored, max_segment);
        if rolled {
            self.retention(now, out);
        }
        for group in 0..self.groups.len() {
            self.dispatch(group, ctx, out);
        }
        if self.confirms {
            let to = ctx.publishers[crate::workload::producer_for(msg.id, ctx.publishers.len())].node;
            out.send(QUEUE_NODE, to, Msg::Confirm(msg.id));
        }
    }

    /// osiris's retention evaluation; with `x-max-age` and more than one segment left, the next
    /// one is scheduled an hour later (replacing any scheduled before).
    fn retention(&mut self, now: SimTime, out: &mut impl QueueFx) {
        let (max_bytes, max_age) = (self.cfg.max_length_bytes, self.cfg.max_age);
        let freed = self.log.enforce_stream_retention(now, max_bytes, max_age, |r| {
            out.record(Observation::Deleted { id: r.id(), group: None })
        });
        self.retention_generation += 1;
        let (generation, again) = (self.retention_generation, max_age.is_some() && self.log.segments.len() > 1);
        if freed > 0 {
            out.record(Observation::StorageChanged { delta: -(freed as i64) });
        }
        if again {
            let every = d::RABBITMQ_STREAM_RETENTION_EVAL_INTERVAL;
            out.timer_in(QUEUE_NODE, every, Timer::StreamRetention(generation));
        }
    }

    /// The retention timer of `generation`: void unless it is the one set last.
    pub(super) fn retention_due(&mut self, now: SimTime, generation: u64, out: &mut impl QueueFx) {
        if self.retention_generation == generation {
            self.retention(now, out);
        }
    }

    /// Delivers to the group's active consumer while it has credit and the stream has messages.
    fn dispatch(&mut self, group: GroupIdx, ctx: &Around, out: &mut impl QueueFx) {
        let g = &mut self.groups[group];
        let Some(&consumer) = g.registered.first() else { return };
        if g.credit == 0 || g.pos >= self.log.end_offset() {
            return;
        }
        // Retention deleted what the reader had not reached: it goes on from the first offset left.
        g.pos = g.pos.max(self.log.start_offset);
        let c = &ctx.consumers[group][consumer as usize];
        let (to, reg) = (c.node, c.reg);
        while g.credit > 0
            && let Some(msg) = self.log.get(g.pos).copied()
        {
            g.in_flight.push_back((msg.id(), g.pos));
            g.pos += 1;
            g.credit -= 1;
            out.send(QUEUE_NODE, to, Msg::Deliver { group, consumer, reg, msg, redelivered: false });
        }
        self.report(group, out);
    }

    /// The group's lag (the stream's end minus the stored offset, as Kafka's consumer lag) and its
    /// deliveries not yet acknowledged.
    fn report(&self, group: GroupIdx, out: &mut impl QueueFx) {
        let g = &self.groups[group];
        let Some(stored) = g.stored else { return };
        let messages = self.log.end_offset().saturating_sub(stored.max(self.log.start_offset));
        let unacked = g.in_flight.len() as u64;
        out.record(Observation::Backlog { group, messages, unacked });
    }

    /// `basic.consume` with the group's `x-stream-offset` (single active consumer: it reads only if
    /// no other consumer of the group is registered).
    fn subscribe(&mut self, now: SimTime, group: GroupIdx, consumer: u32, ctx: &Around, out: &mut impl QueueFx) {
        let g = &mut self.groups[group];
        if g.registered.contains(&consumer) {
            return;
        }
        g.registered.push(consumer);
        if g.registered.len() == 1 {
            self.activate(now, group, ctx, out);
        }
    }

    /// The first registered consumer becomes active: it starts from the stored offset, or (the
    /// group's first subscription, or after a reset) from its offset spec.
    pub(super) fn activate(&mut self, now: SimTime, group: GroupIdx, ctx: &Around, out: &mut impl QueueFx) {
        let g = &self.groups[group];
        let Some(&consumer) = g.registered.first() else { return };
        let spec = match (g.seek, g.stored) {
            (Some(spec), _) => Some(spec),
            (None, None) => Some(g.from),
            (None, Some(_)) => None,
        };
        let pos = match spec {
            Some(spec) => self.offset_for(spec),
            None => g.stored.expect("stored"),
        };
        let prefetch = self.prefetch;
        let g = &mut self.groups[group];
        let first = g.stored.is_none();
        g.stored = Some(pos);
        g.seek = None;
        g.pos = pos;
        g.credit = prefetch;
        g.in_flight.clear();
        g.reg = ctx.consumers[group][consumer as usize].reg;
        // A late group's first subscription seeks, as a Kafka group's `auto.offset.reset` does.
        if first && now > SimTime::ZERO {
            let to_end = spec == Some(OffsetSpec::Latest);
            out.record(Observation::Client(ClientEvent::Sought { group, to_end }));
        }
        self.dispatch(group, ctx, out);
        self.report(group, out);
    }

    /// `basic.ack`: one credit back, and the application's stored offset moves past the message.
    fn ack(
        &mut self,
        group: GroupIdx,
        (consumer, reg): (u32, u32),
        id: MessageId,
        ctx: &Around,
        out: &mut impl QueueFx,
    ) {
        let g = &mut self.groups[group];
        if g.registered.first() != Some(&consumer) || g.reg != reg {
            return;
        }
        let Some(i) = g.in_flight.iter().position(|&(m, _)| m == id) else { return };
        let (_, offset) = g.in_flight.remove(i).expect("found");
        g.credit += 1;
        g.stored = Some(g.stored.map_or(offset + 1, |s| s.max(offset + 1)));
        self.dispatch(group, ctx, out);
        self.report(group, out);
    }

    /// The consumer's connection closed: it is no longer registered; if it was the active one,
    /// the next in line takes over.
    fn unsubscribe(&mut self, now: SimTime, group: GroupIdx, consumer: u32, ctx: &Around, out: &mut impl QueueFx) {
        let g = &mut self.groups[group];
        let Some(i) = g.registered.iter().position(|&c| c == consumer) else { return };
        g.registered.remove(i);
        if i == 0 {
            g.in_flight.clear();
            self.activate(now, group, ctx, out);
        }
    }

    /// A client's command reaches the stream's node.
    pub(super) fn on_message(&mut self, now: SimTime, msg: Msg, ctx: &Around, out: &mut impl QueueFx) {
        match msg {
            Msg::Publish(m) => self.append(now, m, ctx, out),
            Msg::Ack { group, consumer, reg, id } => self.ack(group, (consumer, reg), id, ctx, out),
            Msg::Subscribe { group, consumer, .. } => self.subscribe(now, group, consumer, ctx, out),
            Msg::ConnectionClosed { group, consumer, .. } => self.unsubscribe(now, group, consumer, ctx, out),
            _ => unreachable!("not a message for the stream's node"),
        }
    }

    /// `reset_offsets` on a stream, the node's side: the group's next subscription starts at
    /// `spec`. What a skip forward passes over is reported deleted for the group. Returns the
    /// active consumer, whose application then cancels and consumes again (the harness).
    pub(super) fn reset(&mut self, group: GroupIdx, spec: OffsetSpec, out: &mut impl QueueFx) -> Option<u32> {
        out.record(Observation::Client(ClientEvent::Sought { group, to_end: spec == OffsetSpec::Latest }));
        let from = self.groups[group].stored.unwrap_or(0).max(self.log.start_offset);
        let to = self.offset_for(spec);
        if to > from {
            // Skipped forward: what lies between is never processed by the group (reported deleted
            // for it, after the reset, as Kafka's model does).
            out.record(Observation::OffsetReset { group, partition: 0, from, to });
            for o in from..to {
                if let Some(r) = self.log.get(o) {
                    out.record(Observation::Deleted { id: r.id(), group: Some(group) });
                }
            }
        }
        let g = &mut self.groups[group];
        g.seek = Some(spec);
        g.registered.first().copied()
    }

    /// Node 0 crashed: every registration and delivery is gone; the log and the stored offsets are
    /// on disk.
    pub(super) fn crashed(&mut self) {
        for g in &mut self.groups {
            g.registered.clear();
            g.in_flight.clear();
            g.credit = 0;
        }
    }
}

impl<H: History> RabbitModel<'_, H> {
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
        let active = {
            let (Node0 { stream, .. }, _, mut out) = self.node0_parts(sched);
            stream.expect("a stream").reset(group, spec, &mut out)
        };
        let Some(active) = active else {
            // The next consumer to subscribe starts at `spec`.
            return;
        };
        let c = &mut self.consumers[group][active as usize];
        c.reg += 1;
        c.app.drop_waiting().for_each(drop);
        let (Node0 { stream, .. }, ctx, mut out) = self.node0_parts(sched);
        stream.expect("a stream").activate(now, group, &ctx, &mut out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::classic_node::tests::{around, clients, msg, scenario, seen};
    use super::*;
    use crate::world::out::Out;

    const MS: u64 = 1_000_000;

    fn stream(s: &Scenario) -> Stream {
        Stream::new(s, s.rabbitmq.stream.clone().expect("a stream"))
    }

    /// Worked by hand: a credit (prefetch) of 2. Consumer 0 subscribes first and is the group's
    /// single active consumer; consumer 1 waits. Three publishes: 1 and 2 go to consumer 0, 3
    /// waits for credit; consumer 0's ack of 1 gives a credit back and 3 goes. The group's lag is
    /// the stream's end minus its stored offset (one past the last message acked).
    #[test]
    fn one_active_consumer_reads_under_its_credit_and_an_ack_moves_the_stored_offset() {
        let s = scenario("queue_type = \"stream\"\nprefetch = 2", "");
        let (consumers, publishers) = clients(&s);
        let ctx = around(&consumers, &publishers);
        let (mut st, mut out) = (stream(&s), Out::default());
        for c in 0..2 {
            st.on_message(SimTime::ZERO, Msg::Subscribe { group: 0, consumer: c, reg: 0 }, &ctx, &mut out);
        }
        out.clear();
        for id in 1..=3 {
            st.on_message(SimTime(id * MS), Msg::Publish(msg(id)), &ctx, &mut out);
        }
        assert_eq!(
            seen(&mut out),
            [
                "stored 1",
                "bytes +100",
                "deliver 1 to 0 on 2",
                "depth 1 unacked 1",
                "confirm 1",
                "stored 2",
                "bytes +100",
                "deliver 2 to 0 on 2",
                "depth 2 unacked 2",
                "confirm 2",
                // No credit left: 3 is appended and waits.
                "stored 3",
                "bytes +100",
                "confirm 3"
            ]
        );
        st.on_message(SimTime(4 * MS), Msg::Ack { group: 0, consumer: 0, reg: 0, id: 1 }, &ctx, &mut out);
        assert_eq!(seen(&mut out), ["deliver 3 to 0 on 2", "depth 2 unacked 2", "depth 2 unacked 2"]);
        // An ack from the waiting consumer settles nothing.
        st.on_message(SimTime(5 * MS), Msg::Ack { group: 0, consumer: 1, reg: 0, id: 2 }, &ctx, &mut out);
        assert!(out.is_empty());
    }

    /// The active consumer's connection closes with 2 and 3 delivered, unacked: the next in line
    /// takes over from the stored offset (after 1), so 2 and 3 are delivered again, to it.
    #[test]
    fn when_the_active_consumer_leaves_the_next_resumes_from_the_stored_offset() {
        let s = scenario("queue_type = \"stream\"\nprefetch = 5", "");
        let (consumers, publishers) = clients(&s);
        let ctx = around(&consumers, &publishers);
        let (mut st, mut out) = (stream(&s), Out::default());
        for c in 0..2 {
            st.on_message(SimTime::ZERO, Msg::Subscribe { group: 0, consumer: c, reg: 0 }, &ctx, &mut out);
        }
        for id in 1..=3 {
            st.on_message(SimTime(id * MS), Msg::Publish(msg(id)), &ctx, &mut out);
        }
        st.on_message(SimTime(4 * MS), Msg::Ack { group: 0, consumer: 0, reg: 0, id: 1 }, &ctx, &mut out);
        out.clear();
        st.on_message(SimTime(5 * MS), Msg::ConnectionClosed { group: 0, consumer: 0, reg: 0 }, &ctx, &mut out);
        assert_eq!(
            seen(&mut out),
            ["deliver 2 to 1 on 3", "deliver 3 to 1 on 3", "depth 2 unacked 2", "depth 2 unacked 2"]
        );
    }

    /// A reset to `first` records the seek and returns the active consumer, whose application
    /// the harness restarts; activated again, it reads from offset 0.
    #[test]
    fn a_reset_to_first_replays_from_the_start() {
        let s = scenario("queue_type = \"stream\"\nprefetch = 1", "");
        let (consumers, publishers) = clients(&s);
        let ctx = around(&consumers, &publishers);
        let (mut st, mut out) = (stream(&s), Out::default());
        st.on_message(SimTime::ZERO, Msg::Subscribe { group: 0, consumer: 0, reg: 0 }, &ctx, &mut out);
        st.on_message(SimTime(MS), Msg::Publish(msg(1)), &ctx, &mut out);
        st.on_message(SimTime(2 * MS), Msg::Ack { group: 0, consumer: 0, reg: 0, id: 1 }, &ctx, &mut out);
        out.clear();
        assert_eq!(st.reset(0, OffsetSpec::Earliest, &mut out), Some(0));
        st.activate(SimTime(3 * MS), 0, &ctx, &mut out);
        let v: Vec<String> = seen(&mut out);
        assert_eq!(v[0], "Record(Client(Sought { group: 0, to_end: false }))");
        assert_eq!(&v[1..], ["deliver 1 to 0 on 2", "depth 1 unacked 1", "depth 1 unacked 1"]);
    }
}
