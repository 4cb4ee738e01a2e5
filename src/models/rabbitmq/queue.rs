//! A classic queue: ready messages in order, and per consumer channel the deliveries not yet
//! acknowledged, bounded by the prefetch window. A channel that closes (its consumer crashed, or
//! `consumer_timeout` expired) puts its unacknowledged messages back **at their original
//! positions**, flagged `redelivered`, as RabbitMQ's classic queues do.
//!
//! A queue's policy (docs/queue-policy.md) acts on **ready** messages only, as RabbitMQ's does:
//! `x-message-ttl` expires them from the head (a classic queue's messages share one TTL and sit in
//! enqueue order, so the head expires first; a requeued message keeps its enqueue time), and
//! `x-max-length` / `x-max-length-bytes` count ready messages, not unacknowledged ones.
//!
//! With `x-max-priority` the ready messages are kept in one FIFO per priority, as
//! `rabbit_priority_queue` keeps one backing queue per priority: the head of the queue is the head
//! of the highest non-empty priority. Delivery, TTL expiry and `drop-head` all take from that head,
//! so a high-priority message is delivered first, and also dropped first at a length limit; an
//! expired low-priority message waits behind unexpired higher ones (docs/queue-policy.md).

use crate::scenario::policy::QueuePolicy;
use crate::time::SimTime;
use crate::workload::{MessageId, StoredMessage};
use std::collections::VecDeque;

/// A message waiting in the queue. `seq` is its position (enqueue order).
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub seq: u64,
    pub msg: StoredMessage,
    pub redelivered: bool,
    /// Its priority in this queue (0 without `x-max-priority`): which FIFO it waits in.
    pub priority: u8,
    /// When it entered this queue: its TTL counts from here, also after a requeue.
    pub enqueued_at: SimTime,
}

/// A delivery not yet acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Unacked {
    pub seq: u64,
    pub msg: StoredMessage,
    pub priority: u8,
    pub delivered_at: SimTime,
    pub enqueued_at: SimTime,
}

impl Unacked {
    fn requeued(self) -> Ready {
        Ready {
            seq: self.seq,
            msg: self.msg,
            redelivered: true,
            priority: self.priority,
            enqueued_at: self.enqueued_at,
        }
    }
}

/// One consumer's channel (`basic.consume` with `basic.qos` prefetch-count).
#[derive(Debug, Default)]
pub struct Channel {
    /// Prefetch count; 0 = unlimited.
    pub prefetch: u16,
    /// The consumer's subscription it serves: acks and closes for another are stale.
    pub reg: u32,
    pub unacked: VecDeque<Unacked>,
}

impl Channel {
    fn has_room(&self, manual_ack: bool) -> bool {
        // RabbitMQ ignores prefetch for automatic acknowledgement.
        !manual_ack || self.prefetch == 0 || self.unacked.len() < self.prefetch as usize
    }
}

/// The ready messages: one FIFO per priority, 0 to the queue's `x-max-priority` (one FIFO without
/// it). The head is the front of the highest non-empty FIFO.
#[derive(Debug)]
pub struct ReadyMessages {
    levels: Vec<VecDeque<Ready>>,
    len: usize,
}

impl Default for ReadyMessages {
    fn default() -> Self {
        ReadyMessages { levels: vec![VecDeque::new()], len: 0 }
    }
}

impl ReadyMessages {
    fn with_max_priority(max: u8) -> Self {
        ReadyMessages { levels: (0..=max).map(|_| VecDeque::new()).collect(), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The FIFO the head is in.
    #[inline]
    fn head_level(&self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        if self.levels.len() == 1 {
            return Some(0);
        }
        (0..self.levels.len()).rev().find(|&l| !self.levels[l].is_empty())
    }

    pub fn front(&self) -> Option<&Ready> {
        self.head_level().and_then(|l| self.levels[l].front())
    }

    #[inline]
    fn pop_front(&mut self) -> Option<Ready> {
        let l = self.head_level()?;
        let r = self.levels[l].pop_front();
        self.len -= 1;
        r
    }

    fn push_back(&mut self, r: Ready) {
        self.levels[r.priority as usize].push_back(r);
        self.len += 1;
    }

    /// Every ready message, highest priority first, each FIFO in order.
    pub fn iter(&self) -> impl Iterator<Item = &Ready> {
        self.levels.iter().rev().flatten()
    }

    fn drain(&mut self) -> Vec<Ready> {
        self.len = 0;
        self.levels.iter_mut().rev().flat_map(|l| l.drain(..)).collect()
    }

    /// Merges `back`, sorted by position, into its FIFOs by position.
    fn merge(&mut self, back: Vec<Ready>) {
        self.len += back.len();
        for (l, fifo) in self.levels.iter_mut().enumerate() {
            let mut mine = back.iter().filter(|r| r.priority as usize == l).peekable();
            if mine.peek().is_none() {
                continue;
            }
            let mut merged = VecDeque::with_capacity(fifo.len() + back.len());
            let mut rest = std::mem::take(fifo).into_iter().peekable();
            for &r in mine {
                while rest.peek().is_some_and(|x| x.seq < r.seq) {
                    merged.push_back(rest.next().expect("peeked"));
                }
                merged.push_back(r);
            }
            merged.extend(rest);
            *fifo = merged;
        }
    }
}

#[derive(Debug, Default)]
pub struct ClassicQueue {
    pub ready: ReadyMessages,
    /// One slot per consumer of the group; `None` while it is not subscribed.
    pub channels: Vec<Option<Channel>>,
    next_consumer: usize,
    next_seq: u64,
    unacked: u64,
    /// Bytes of the ready messages (`message_bytes_ready`, what `x-max-length-bytes` limits).
    ready_bytes: u64,
    /// Over subscribed channels: the sum of their prefetch counts, and how many have none (0,
    /// unlimited). Each channel's window holds at most its prefetch, so while `unacked` reaches
    /// `capacity` and none is unlimited every window is full: no need to look for room.
    capacity: u64,
    unlimited: u32,
    /// `x-single-active-consumer`: deliveries go only to the first consumer in `subscribed`
    /// (subscription order, kept only then).
    single_active: bool,
    subscribed: Vec<u32>,
}

impl ClassicQueue {
    pub fn new(consumers: u32) -> Self {
        ClassicQueue { channels: (0..consumers).map(|_| None).collect(), ..Default::default() }
    }

    /// A queue declared with `x-max-priority` = `max` (0: none, one FIFO).
    pub fn max_priority(mut self, max: u8) -> Self {
        self.ready = ReadyMessages::with_max_priority(max);
        self
    }

    /// Declared with `x-max-priority`.
    pub fn has_priorities(&self) -> bool {
        self.ready.levels.len() > 1
    }

    /// The priority a message published with `priority` has in this queue: above the queue's
    /// maximum counts as the maximum (`rabbit_priority_queue:priority/2`).
    pub fn priority_of(&self, priority: u8) -> u8 {
        priority.min((self.ready.levels.len() - 1) as u8)
    }

    /// A queue declared with `x-single-active-consumer`.
    pub fn single_active(mut self, on: bool) -> Self {
        self.single_active = on;
        self
    }

    /// Ready plus unacknowledged.
    pub fn depth(&self) -> u64 {
        self.ready.len() as u64 + self.unacked
    }

    pub fn unacked(&self) -> u64 {
        self.unacked
    }

    /// Bytes of the ready messages (`message_bytes_ready`).
    pub fn ready_bytes(&self) -> u64 {
        self.ready_bytes
    }

    /// Enqueues `msg`, published with `priority` (0 without one; clamped to the queue's maximum).
    pub fn enqueue(&mut self, msg: StoredMessage, priority: u8, now: SimTime) {
        let priority = self.priority_of(priority);
        self.ready.push_back(Ready { seq: self.next_seq, msg, redelivered: false, priority, enqueued_at: now });
        self.ready_bytes += msg.bytes();
        self.next_seq += 1;
    }

    /// `reject-publish`: whether one more message of `bytes` would take the ready messages past a
    /// limit (`rabbit_amqqueue_process:will_overflow`: length + 1 > max, bytes + size > max).
    pub fn would_overflow(&self, bytes: u64, policy: &QueuePolicy) -> bool {
        policy.max_length.is_some_and(|max| self.ready.len() as u64 + 1 > max)
            || policy.max_length_bytes.is_some_and(|max| self.ready_bytes + bytes > max)
    }

    /// `drop-head`: removes the head (the oldest of the highest priority) while a limit is exceeded, into `out`
    /// (`maybe_drop_head`: drops while length > max or bytes > max).
    pub fn drop_over_limit(&mut self, policy: &QueuePolicy, out: &mut Vec<Ready>) {
        let over = |q: &Self| {
            policy.max_length.is_some_and(|max| q.ready.len() as u64 > max)
                || policy.max_length_bytes.is_some_and(|max| q.ready_bytes > max)
        };
        while over(self) {
            out.push(self.pop_ready());
        }
    }

    /// Removes the ready messages at the head whose TTL has run out by `now`, into `out`.
    pub fn expire(&mut self, now: SimTime, ttl: crate::time::SimDuration, out: &mut Vec<Ready>) {
        while self.ready.front().is_some_and(|r| r.enqueued_at.after(ttl) <= now) {
            out.push(self.pop_ready());
        }
    }

    /// When the head's TTL runs out, if there is a head.
    pub fn next_expiry(&self, ttl: crate::time::SimDuration) -> Option<SimTime> {
        self.ready.front().map(|r| r.enqueued_at.after(ttl))
    }

    fn pop_ready(&mut self) -> Ready {
        let r = self.ready.pop_front().expect("a ready message");
        self.ready_bytes -= r.msg.bytes();
        r
    }

    /// `basic.consume` for subscription `reg`. A channel the consumer still had (its old
    /// connection, not yet seen closed) is closed first: what it held goes back to the queue.
    pub fn subscribe(&mut self, consumer: u32, prefetch: u16, reg: u32) {
        self.close_channel(consumer);
        self.capacity += u64::from(prefetch);
        self.unlimited += u32::from(prefetch == 0);
        self.channels[consumer as usize] = Some(Channel { prefetch, reg, unacked: VecDeque::new() });
        if self.single_active {
            self.subscribed.push(consumer);
        }
    }

    /// The subscription `consumer`'s channel serves, if it has one.
    pub fn channel_reg(&self, consumer: u32) -> Option<u32> {
        self.channels[consumer as usize].as_ref().map(|c| c.reg)
    }

    /// The next delivery, round-robin among subscribed consumers with room in their window; with
    /// manual acknowledgements it is recorded as unacknowledged.
    #[inline]
    pub fn next_delivery(&mut self, now: SimTime, manual_ack: bool) -> Option<(u32, Ready)> {
        // Nothing to deliver, or every window full (automatic acks leave `unacked` at 0, and only
        // a queue without subscribers has no capacity then): the common ends of a dispatch.
        if self.ready.is_empty() || (self.unlimited == 0 && self.unacked >= self.capacity) {
            return None;
        }
        self.deliver_next(now, manual_ack)
    }

    #[inline(never)]
    fn deliver_next(&mut self, now: SimTime, manual_ack: bool) -> Option<(u32, Ready)> {
        let n = self.channels.len();
        let has_room = |c: &Option<Channel>| c.as_ref().is_some_and(|c| c.has_room(manual_ack));
        let k = if self.single_active {
            // Only the active consumer, the first subscribed, gets deliveries.
            let k = *self.subscribed.first()? as usize;
            if !has_room(&self.channels[k]) {
                return None;
            }
            k
        } else {
            // From `next_consumer` to the end, then from the start: no division per step.
            let start = self.next_consumer.min(n);
            let k = (start..n).chain(0..start).find(|&k| has_room(&self.channels[k]))?;
            self.next_consumer = if k + 1 == n { 0 } else { k + 1 };
            k
        };
        let r = self.pop_ready();
        if manual_ack {
            let ch = self.channels[k].as_mut().expect("found subscribed");
            ch.unacked.push_back(Unacked {
                seq: r.seq,
                msg: r.msg,
                priority: r.priority,
                delivered_at: now,
                enqueued_at: r.enqueued_at,
            });
            self.unacked += 1;
        }
        Some((k as u32, r))
    }

    /// `basic.ack` from `consumer`; `None` if its channel or the delivery is unknown (the channel
    /// was closed since: the message was requeued).
    pub fn ack(&mut self, consumer: u32, reg: u32, id: MessageId) -> Option<Unacked> {
        let ch = self.channels[consumer as usize].as_mut().filter(|c| c.reg == reg)?;
        // Acks come in delivery order when the application processes one message at a time: the
        // front, nearly always.
        let u = if ch.unacked.front().is_some_and(|u| u.msg.id() == id) {
            ch.unacked.pop_front()
        } else {
            let i = ch.unacked.iter().position(|u| u.msg.id() == id)?;
            ch.unacked.remove(i)
        }
        .expect("found");
        self.unacked -= 1;
        Some(u)
    }

    /// `basic.nack` (or `basic.reject`) of one delivery: with `requeue` it goes back to its
    /// original place, flagged redelivered (as a closed channel's deliveries do), and `None` is
    /// returned; without, it leaves the queue and is returned (to be dead-lettered or dropped).
    pub fn nack(&mut self, consumer: u32, reg: u32, id: MessageId, requeue: bool) -> Option<Unacked> {
        let u = self.ack(consumer, reg, id)?;
        if requeue {
            self.requeue(std::iter::once(u.requeued()));
            return None;
        }
        Some(u)
    }

    /// Closes `consumer`'s channel: its unacknowledged messages go back to their original places
    /// in the queue, flagged redelivered. Returns how many.
    pub fn close_channel(&mut self, consumer: u32) -> u64 {
        let Some(ch) = self.channels[consumer as usize].take() else {
            return 0;
        };
        // The next subscribed consumer, if any, becomes the single active one.
        self.subscribed.retain(|&c| c != consumer);
        self.capacity -= u64::from(ch.prefetch);
        self.unlimited -= u32::from(ch.prefetch == 0);
        let n = ch.unacked.len() as u64;
        self.unacked -= n;
        self.requeue(ch.unacked.into_iter().map(Unacked::requeued));
        n
    }

    /// Merges `back` (any order) into the ready queue by position.
    fn requeue(&mut self, back: impl Iterator<Item = Ready>) {
        let mut back: Vec<Ready> = back.collect();
        if back.is_empty() {
            return;
        }
        back.sort_by_key(|r| r.seq);
        self.ready_bytes += back.iter().map(|r| r.msg.bytes()).sum::<u64>();
        self.ready.merge(back);
    }

    /// The node crashed. Every channel is gone. With persistent messages in a durable queue the
    /// contents survive for the restart (what had been delivered comes back flagged redelivered);
    /// transient messages are lost, and returned.
    pub fn crash(&mut self, persistent: bool) -> Vec<StoredMessage> {
        let unacked: Vec<Ready> = self
            .channels
            .iter_mut()
            .filter_map(Option::take)
            .flat_map(|c| c.unacked.into_iter())
            .map(Unacked::requeued)
            .collect();
        self.unacked = 0;
        (self.capacity, self.unlimited) = (0, 0);
        self.subscribed.clear();
        if persistent {
            self.requeue(unacked.into_iter());
            Vec::new()
        } else {
            self.ready_bytes = 0;
            let mut lost: Vec<Ready> = self.ready.drain().into_iter().chain(unacked).collect();
            lost.sort_by_key(|r| r.seq);
            lost.into_iter().map(|r| r.msg).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Message;

    fn m(id: u64) -> StoredMessage {
        StoredMessage::new(&Message { id, published_at: SimTime(0), key: None, bytes: 1 })
    }

    fn ids(q: &ClassicQueue) -> Vec<(u64, bool)> {
        q.ready.iter().map(|r| (r.msg.id(), r.redelivered)).collect()
    }

    /// `x-single-active-consumer`: consumers 2, 0, 1 subscribe in that order, each with prefetch
    /// 2. Only consumer 2 (the first) gets deliveries, and only up to its window, though 0 and 1
    /// have room. When its channel closes, its two deliveries go back to the queue flagged
    /// redelivered, and consumer 0 (next in subscription order) gets them, in their order.
    #[test]
    fn a_single_active_consumer_gets_everything_until_it_goes() {
        let mut q = ClassicQueue::new(3).single_active(true);
        for c in [2, 0, 1] {
            q.subscribe(c, 2, 1);
        }
        for id in 0..5 {
            q.enqueue(m(id), 0, SimTime(0));
        }
        let mut got = Vec::new();
        while let Some((c, r)) = q.next_delivery(SimTime(0), true) {
            got.push((c, r.msg.id(), r.redelivered));
        }
        assert_eq!(got, [(2, 0, false), (2, 1, false)]);
        assert_eq!(q.close_channel(2), 2);
        got.clear();
        while let Some((c, r)) = q.next_delivery(SimTime(0), true) {
            got.push((c, r.msg.id(), r.redelivered));
        }
        assert_eq!(got, [(0, 0, true), (0, 1, true)]);
        assert_eq!(ids(&q), [(2, false), (3, false), (4, false)]);
    }

    /// `x-max-priority` = 5. Enqueued in order: 0 (priority 0), 1 (5), 2 (2), 3 (9: counts as 5),
    /// 4 (0). Delivered highest first, each priority in order: 1, 3, 2, 0, 4. A consumer with
    /// window 2 that dies holding 1 and 3 puts them back ahead of everything, in their order.
    #[test]
    fn a_priority_queue_delivers_the_highest_priority_first() {
        let mut q = ClassicQueue::new(1).max_priority(5);
        for (id, p) in [(0, 0), (1, 5), (2, 2), (3, 9), (4, 0)] {
            q.enqueue(m(id), p, SimTime(0));
        }
        assert_eq!(
            q.ready.iter().map(|r| (r.msg.id(), r.priority)).collect::<Vec<_>>(),
            [(1, 5), (3, 5), (2, 2), (0, 0), (4, 0)]
        );
        q.subscribe(0, 2, 1);
        let got: Vec<u64> = std::iter::from_fn(|| q.next_delivery(SimTime(0), true)).map(|(_, r)| r.msg.id()).collect();
        assert_eq!(got, [1, 3]);
        q.close_channel(0);
        q.subscribe(0, 0, 2);
        let got: Vec<(u64, bool)> = std::iter::from_fn(|| q.next_delivery(SimTime(0), true))
            .map(|(_, r)| (r.msg.id(), r.redelivered))
            .collect();
        assert_eq!(got, [(1, true), (3, true), (2, false), (0, false), (4, false)]);
        // Without x-max-priority every priority is 0: plain FIFO.
        let mut plain = ClassicQueue::new(1);
        for (id, p) in [(0, 0), (1, 5), (2, 2)] {
            plain.enqueue(m(id), p, SimTime(0));
        }
        assert_eq!(ids(&plain), [(0, false), (1, false), (2, false)]);
    }

    /// The head of a priority queue is its highest priority's oldest message: `drop-head` drops
    /// high-priority messages first, and a TTL expires only from that head, so an expired
    /// low-priority message stays behind a live high-priority one (rabbitmq.com/docs/priority,
    /// "Interaction with Other Features").
    #[test]
    fn drop_head_and_ttl_act_on_the_highest_priority_first() {
        use crate::time::SimDuration;
        let policy = QueuePolicy { max_length: Some(2), ..Default::default() };
        let mut q = ClassicQueue::new(1).max_priority(1);
        let mut out = Vec::new();
        for (id, p) in [(0, 0), (1, 1), (2, 0)] {
            q.enqueue(m(id), p, SimTime(0));
            q.drop_over_limit(&policy, &mut out);
        }
        assert_eq!(taken(&mut out), [1], "the high-priority message is the head, and goes");
        let ttl = SimDuration::from_secs(10);
        let mut q = ClassicQueue::new(1).max_priority(1);
        q.enqueue(m(0), 0, SimTime(0));
        q.enqueue(m(1), 1, SimTime(8_000_000_000));
        q.expire(SimTime(12_000_000_000), ttl, &mut out);
        assert!(out.is_empty(), "0 is past its TTL, but 1 (live) is the head");
        assert_eq!(q.next_expiry(ttl), Some(SimTime(18_000_000_000)));
        q.expire(SimTime(18_000_000_000), ttl, &mut out);
        assert_eq!(taken(&mut out), [1, 0], "1 expires, then 0 is the head and long dead");
    }

    #[test]
    fn a_closed_channel_requeues_at_the_original_positions() {
        let mut q = ClassicQueue::new(2);
        q.subscribe(0, 2, 0);
        q.subscribe(1, 2, 0);
        for id in 0..6 {
            q.enqueue(m(id), 0, SimTime(0));
        }
        // Round-robin: 0 -> c0, 1 -> c1, 2 -> c0, 3 -> c1; 4 and 5 wait (windows full).
        let got: Vec<(u32, u64)> =
            std::iter::from_fn(|| q.next_delivery(SimTime(0), true)).map(|(c, r)| (c, r.msg.id())).collect();
        assert_eq!(got, vec![(0, 0), (1, 1), (0, 2), (1, 3)]);
        assert!(q.ack(1, 7, 1).is_none(), "an ack for another subscription is stale");
        assert!(q.ack(1, 0, 1).is_some());
        assert_eq!(q.depth(), 5);
        // Consumer 0 dies holding 0 and 2: they go back ahead of 4 and 5, flagged.
        assert_eq!(q.close_channel(0), 2);
        assert_eq!(ids(&q), vec![(0, true), (2, true), (4, false), (5, false)]);
        assert!(q.ack(0, 0, 0).is_none(), "an ack on a closed channel is void");
        // Consumer 1 dies holding 3: it goes between 2 and 4.
        q.close_channel(1);
        assert_eq!(ids(&q), vec![(0, true), (2, true), (3, true), (4, false), (5, false)]);
        assert_eq!((q.depth(), q.unacked()), (5, 0));
    }

    #[test]
    fn a_node_crash_keeps_persistent_messages_and_loses_transient_ones() {
        for persistent in [true, false] {
            let mut q = ClassicQueue::new(1);
            q.subscribe(0, 0, 0);
            for id in 0..3 {
                q.enqueue(m(id), 0, SimTime(0));
            }
            q.next_delivery(SimTime(0), true);
            let lost = q.crash(persistent);
            if persistent {
                assert!(lost.is_empty());
                assert_eq!(ids(&q), vec![(0, true), (1, false), (2, false)]);
            } else {
                assert_eq!(lost.iter().map(|m| m.id()).collect::<Vec<_>>(), vec![0, 1, 2]);
                assert_eq!(q.depth(), 0);
            }
            assert!(q.channels[0].is_none(), "every channel closes with the node");
        }
    }

    fn mb(id: u64, bytes: u32) -> StoredMessage {
        StoredMessage::new(&Message { id, published_at: SimTime(0), key: None, bytes })
    }

    fn taken(out: &mut Vec<Ready>) -> Vec<u64> {
        out.drain(..).map(|r| r.msg.id()).collect()
    }

    #[test]
    fn ttl_expires_from_the_head_and_a_requeued_message_keeps_its_enqueue_time() {
        use crate::time::SimDuration;
        let ttl = SimDuration::from_secs(30);
        let mut q = ClassicQueue::new(1);
        q.enqueue(m(0), 0, SimTime(0_000_000_000));
        q.enqueue(m(1), 0, SimTime(10_000_000_000));
        q.enqueue(m(2), 0, SimTime(20_000_000_000));
        assert_eq!(q.next_expiry(ttl), Some(SimTime(30_000_000_000)));
        // Consumer takes 0 at 5 s and dies holding it at 35 s: 0 comes back at the head, its TTL
        // long past (enqueued at 0 s), while 1 expired at 40 s only.
        q.subscribe(0, 1, 0);
        assert_eq!(q.next_delivery(SimTime(5_000_000_000), true).map(|(_, r)| r.msg.id()), Some(0));
        let mut out = Vec::new();
        q.expire(SimTime(29_000_000_000), ttl, &mut out);
        assert!(out.is_empty(), "an unacknowledged message never expires, and 1 is 19 s old");
        q.close_channel(0);
        q.expire(SimTime(35_000_000_000), ttl, &mut out);
        assert_eq!(taken(&mut out), vec![0], "0 is 35 s old; 1 (25 s) stays");
        assert_eq!(q.next_expiry(ttl), Some(SimTime(40_000_000_000)));
        q.expire(SimTime(50_000_000_000), ttl, &mut out);
        assert_eq!(taken(&mut out), vec![1, 2], "exactly at the TTL counts as expired (20 + 30 = 50)");
        assert_eq!((q.depth(), q.next_expiry(ttl)), (0, None));
    }

    #[test]
    fn drop_head_keeps_the_newest_ready_messages_within_both_limits() {
        let policy = QueuePolicy { max_length: Some(3), max_length_bytes: Some(250), ..Default::default() };
        let mut q = ClassicQueue::new(1);
        let mut out = Vec::new();
        for (id, bytes) in [(0, 100), (1, 100), (2, 10), (3, 10)] {
            q.enqueue(mb(id, bytes), 0, SimTime(0));
            q.drop_over_limit(&policy, &mut out);
        }
        // After 2: 210 bytes, 3 messages: fits. After 3: 4 messages > 3, drop 0 (then 120 bytes).
        assert_eq!(taken(&mut out), vec![0]);
        q.enqueue(mb(4, 200), 0, SimTime(0));
        q.drop_over_limit(&policy, &mut out);
        // 1, 2, 3, 4 = 320 bytes and 4 messages: drop 1 (220 bytes, 3 messages): within both.
        assert_eq!(taken(&mut out), vec![1]);
        assert_eq!(ids(&q).iter().map(|x| x.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        // Unacknowledged messages do not count: delivering 2 makes room for one more.
        q.subscribe(0, 1, 0);
        q.next_delivery(SimTime(0), true);
        q.enqueue(mb(5, 10), 0, SimTime(0));
        q.drop_over_limit(&policy, &mut out);
        assert!(out.is_empty(), "3, 4, 5 ready (220 bytes) and 2 unacked: within the limits");
    }

    #[test]
    fn reject_publish_refuses_what_would_go_past_a_limit() {
        let policy = QueuePolicy {
            max_length: Some(2),
            max_length_bytes: Some(100),
            overflow: crate::scenario::policy::Overflow::RejectPublish,
            ..Default::default()
        };
        let mut q = ClassicQueue::new(1);
        assert!(!q.would_overflow(100, &policy), "exactly 100 bytes fits");
        assert!(q.would_overflow(101, &policy));
        q.enqueue(mb(0, 60), 0, SimTime(0));
        assert!(q.would_overflow(41, &policy), "60 + 41 > 100");
        assert!(!q.would_overflow(40, &policy));
        q.enqueue(mb(1, 10), 0, SimTime(0));
        assert!(q.would_overflow(1, &policy), "a third message > max_length 2");
        q.subscribe(0, 1, 0);
        q.next_delivery(SimTime(0), true);
        assert!(!q.would_overflow(1, &policy), "the delivered one no longer counts");
    }
}
