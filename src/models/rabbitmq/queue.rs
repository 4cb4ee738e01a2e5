//! A classic queue: ready messages in order, and per consumer channel the deliveries not yet
//! acknowledged, bounded by the prefetch window. A channel that closes (its consumer crashed, or
//! `consumer_timeout` expired) puts its unacknowledged messages back **at their original
//! positions**, flagged `redelivered`, as RabbitMQ's classic queues do.

use crate::time::SimTime;
use crate::workload::{MessageId, StoredMessage};
use std::collections::VecDeque;

/// A message waiting in the queue. `seq` is its position (enqueue order).
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub seq: u64,
    pub msg: StoredMessage,
    pub redelivered: bool,
}

/// A delivery not yet acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Unacked {
    pub seq: u64,
    pub msg: StoredMessage,
    pub delivered_at: SimTime,
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

#[derive(Debug, Default)]
pub struct ClassicQueue {
    pub ready: VecDeque<Ready>,
    /// One slot per consumer of the group; `None` while it is not subscribed.
    pub channels: Vec<Option<Channel>>,
    next_consumer: usize,
    next_seq: u64,
    unacked: u64,
    /// Over subscribed channels: the sum of their prefetch counts, and how many have none (0,
    /// unlimited). Each channel's window holds at most its prefetch, so while `unacked` reaches
    /// `capacity` and none is unlimited every window is full: no need to look for room.
    capacity: u64,
    unlimited: u32,
}

impl ClassicQueue {
    pub fn new(consumers: u32) -> Self {
        ClassicQueue { channels: (0..consumers).map(|_| None).collect(), ..Default::default() }
    }

    /// Ready plus unacknowledged.
    pub fn depth(&self) -> u64 {
        self.ready.len() as u64 + self.unacked
    }

    pub fn unacked(&self) -> u64 {
        self.unacked
    }

    pub fn enqueue(&mut self, msg: StoredMessage) {
        self.ready.push_back(Ready { seq: self.next_seq, msg, redelivered: false });
        self.next_seq += 1;
    }

    /// `basic.consume` for subscription `reg`. A channel the consumer still had (its old
    /// connection, not yet seen closed) is closed first: what it held goes back to the queue.
    pub fn subscribe(&mut self, consumer: u32, prefetch: u16, reg: u32) {
        self.close_channel(consumer);
        self.capacity += u64::from(prefetch);
        self.unlimited += u32::from(prefetch == 0);
        self.channels[consumer as usize] = Some(Channel { prefetch, reg, unacked: VecDeque::new() });
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
        // From `next_consumer` to the end, then from the start: no division per step.
        let start = self.next_consumer.min(n);
        let k = (start..n).chain(0..start).find(|&k| has_room(&self.channels[k]))?;
        self.next_consumer = if k + 1 == n { 0 } else { k + 1 };
        let r = self.ready.pop_front().expect("checked non-empty");
        if manual_ack {
            let ch = self.channels[k].as_mut().expect("found subscribed");
            ch.unacked.push_back(Unacked { seq: r.seq, msg: r.msg, delivered_at: now });
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

    /// Closes `consumer`'s channel: its unacknowledged messages go back to their original places
    /// in the queue, flagged redelivered. Returns how many.
    pub fn close_channel(&mut self, consumer: u32) -> u64 {
        let Some(ch) = self.channels[consumer as usize].take() else {
            return 0;
        };
        self.capacity -= u64::from(ch.prefetch);
        self.unlimited -= u32::from(ch.prefetch == 0);
        let n = ch.unacked.len() as u64;
        self.unacked -= n;
        self.requeue(ch.unacked.into_iter().map(|u| Ready { seq: u.seq, msg: u.msg, redelivered: true }));
        n
    }

    /// Merges `back` (any order) into the ready queue by position.
    fn requeue(&mut self, back: impl Iterator<Item = Ready>) {
        let mut back: Vec<Ready> = back.collect();
        if back.is_empty() {
            return;
        }
        back.sort_by_key(|r| r.seq);
        let mut merged = VecDeque::with_capacity(self.ready.len() + back.len());
        let mut rest = std::mem::take(&mut self.ready).into_iter().peekable();
        for r in back {
            while rest.peek().is_some_and(|x| x.seq < r.seq) {
                merged.push_back(rest.next().expect("peeked"));
            }
            merged.push_back(r);
        }
        merged.extend(rest);
        self.ready = merged;
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
            .map(|u| Ready { seq: u.seq, msg: u.msg, redelivered: true })
            .collect();
        self.unacked = 0;
        (self.capacity, self.unlimited) = (0, 0);
        if persistent {
            self.requeue(unacked.into_iter());
            Vec::new()
        } else {
            let mut lost: Vec<Ready> = self.ready.drain(..).chain(unacked).collect();
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

    #[test]
    fn a_closed_channel_requeues_at_the_original_positions() {
        let mut q = ClassicQueue::new(2);
        q.subscribe(0, 2, 0);
        q.subscribe(1, 2, 0);
        for id in 0..6 {
            q.enqueue(m(id));
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
                q.enqueue(m(id));
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
}
