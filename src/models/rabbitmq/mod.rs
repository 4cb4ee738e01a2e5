//! RabbitMQ-style broker: a fanout exchange bound to one classic queue per group; the broker
//! **pushes** messages to the queue's consumers round-robin, each bounded by its prefetch window
//! (`basic.qos` prefetch-count, 0 = unlimited). With manual acknowledgements a message is deleted
//! when its ack reaches the broker; with automatic ones it is deleted as it is sent.

use crate::engine::{Model, Scheduler};
use crate::history::{GroupIdx, History, Observation};
use crate::scenario::Scenario;
use crate::time::{SimDuration, SimTime};
use crate::workload::{Message, ProcessingTimes, Producer, StoredMessage};
use std::collections::VecDeque;

/// The events of the RabbitMQ model.
#[derive(Debug)]
pub enum Event {
    /// The producer publishes the next message of the workload.
    Publish,
    /// A published message reaches the exchange.
    AtExchange(Message),
    /// A `basic.deliver` reaches a consumer.
    Deliver { group: GroupIdx, consumer: u32, msg: StoredMessage },
    /// A consumer finished processing its current message.
    ProcessingDone { group: GroupIdx, consumer: u32 },
    /// A `basic.ack` reaches the broker.
    Ack { group: GroupIdx, consumer: u32, msg: StoredMessage },
}

/// The prefetch window of one consumer: deliveries not yet acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct Prefetch {
    pub limit: u16,
    pub unacked: u32,
}

impl Prefetch {
    fn has_room(&self, manual_ack: bool) -> bool {
        // RabbitMQ ignores prefetch for automatic acknowledgement.
        !manual_ack || self.limit == 0 || self.unacked < self.limit as u32
    }
}

#[derive(Debug)]
struct Consumer {
    window: Prefetch,
    /// Delivered and waiting for the application, in delivery order.
    inbox: VecDeque<StoredMessage>,
    busy: Option<StoredMessage>,
}

/// One queue (bound to the fanout exchange) and the consumers subscribed to it.
#[derive(Debug)]
struct Queue {
    ready: VecDeque<StoredMessage>,
    unacked: u64,
    consumers: Vec<Consumer>,
    /// Round-robin position: the consumer to try first on the next delivery.
    next_consumer: usize,
}

impl Queue {
    fn depth(&self) -> u64 {
        self.ready.len() as u64 + self.unacked
    }
}

pub struct RabbitModel<'h, H: History> {
    history: &'h mut H,
    producer: Producer,
    processing: ProcessingTimes,
    queues: Vec<Queue>,
    latency: SimDuration,
    manual_ack: bool,
    /// Publishes on the wire to the exchange.
    publishes_in_transit: u64,
    /// (message, queue) copies not yet finished (processed, and acked if manual).
    live_copies: u64,
}

impl<'h, H: History> RabbitModel<'h, H> {
    pub fn new(s: &Scenario, history: &'h mut H, sched: &mut Scheduler<Event>) -> Self {
        let producer = Producer::new(s);
        if let Some(at) = producer.next_at() {
            sched.schedule_at(at, Event::Publish);
        }
        let queues = s
            .groups
            .iter()
            .map(|g| Queue {
                ready: VecDeque::new(),
                unacked: 0,
                consumers: (0..g.consumers)
                    .map(|_| Consumer {
                        window: Prefetch { limit: s.rabbitmq.prefetch, unacked: 0 },
                        inbox: VecDeque::new(),
                        busy: None,
                    })
                    .collect(),
                next_consumer: 0,
            })
            .collect();
        RabbitModel {
            history,
            producer,
            processing: ProcessingTimes::new(s),
            queues,
            latency: s.network.latency,
            manual_ack: s.rabbitmq.manual_ack,
            publishes_in_transit: 0,
            live_copies: 0,
        }
    }

    fn publish(&mut self, now: SimTime, sched: &mut Scheduler<Event>) {
        let Some((msg, next)) = self.producer.take() else {
            return;
        };
        self.history.record(now, Observation::Published { msg });
        if let Some(at) = next {
            sched.schedule_at(at, Event::Publish);
        }
        self.publishes_in_transit += 1;
        sched.schedule_in(self.latency, Event::AtExchange(msg));
    }

    /// Fanout: a copy in every bound queue.
    fn route(&mut self, now: SimTime, msg: Message, sched: &mut Scheduler<Event>) {
        self.publishes_in_transit -= 1;
        let stored = StoredMessage::new(&msg);
        self.history.record(now, Observation::Stored { msg: stored });
        for group in 0..self.queues.len() {
            self.queues[group].ready.push_back(stored);
            self.live_copies += 1;
            self.history.record(now, Observation::StorageChanged { delta: stored.bytes() as i64 });
            self.report_depth(now, group);
            self.dispatch(now, group, sched);
        }
    }

    fn report_depth(&mut self, now: SimTime, group: GroupIdx) {
        let q = &self.queues[group];
        let (messages, unacked) = (q.depth(), q.unacked);
        self.history.record(now, Observation::Backlog { group, messages, unacked });
    }

    /// Pushes ready messages to consumers with room in their prefetch window, round-robin.
    fn dispatch(&mut self, now: SimTime, group: GroupIdx, sched: &mut Scheduler<Event>) {
        let manual = self.manual_ack;
        loop {
            let q = &mut self.queues[group];
            if q.ready.is_empty() {
                return;
            }
            let n = q.consumers.len();
            let Some(k) = (0..n).map(|i| (q.next_consumer + i) % n).find(|&k| q.consumers[k].window.has_room(manual))
            else {
                return;
            };
            q.next_consumer = (k + 1) % n;
            let msg = q.ready.pop_front().expect("checked non-empty");
            q.consumers[k].window.unacked =
                q.consumers[k].window.unacked.checked_add(1).expect("fewer than 2^32 unacked");
            if manual {
                q.unacked += 1;
            } else {
                // Auto-ack: the broker forgets the message as it sends it.
                self.history.record(now, Observation::StorageChanged { delta: -(msg.bytes() as i64) });
                self.history.record(now, Observation::Deleted { id: msg.id(), group: Some(group) });
            }
            self.report_depth(now, group);
            sched.schedule_in(self.latency, Event::Deliver { group, consumer: k as u32, msg });
        }
    }

    fn deliver(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        msg: StoredMessage,
        sched: &mut Scheduler<Event>,
    ) {
        self.history.record(now, Observation::Delivered { msg, group, consumer });
        let c = &mut self.queues[group].consumers[consumer as usize];
        c.inbox.push_back(msg);
        if c.busy.is_none() {
            self.start_next(now, group, consumer, sched);
        }
    }

    fn start_next(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.queues[group].consumers[consumer as usize];
        debug_assert!(c.busy.is_none(), "a consumer processes one message at a time");
        let Some(msg) = c.inbox.pop_front() else {
            return;
        };
        c.busy = Some(msg);
        self.history.record(now, Observation::ProcessingStarted { msg, group, consumer });
        let work = self.processing.of(group, msg.id());
        sched.schedule_in(work, Event::ProcessingDone { group, consumer });
    }

    fn processing_done(&mut self, now: SimTime, group: GroupIdx, consumer: u32, sched: &mut Scheduler<Event>) {
        let c = &mut self.queues[group].consumers[consumer as usize];
        let msg = c.busy.take().expect("ProcessingDone for an idle consumer");
        self.history.record(now, Observation::Processed { msg, group, consumer });
        // Take the next delivery before acking: with a zero-cost network the ack is handled at
        // once, and the delivery it frees must find this consumer busy, not start a second job.
        self.start_next(now, group, consumer, sched);
        if self.manual_ack {
            sched.schedule_in(self.latency, Event::Ack { group, consumer, msg });
        } else {
            self.queues[group].consumers[consumer as usize].window.unacked -= 1;
            self.live_copies -= 1;
        }
    }

    fn ack(&mut self, now: SimTime, group: GroupIdx, consumer: u32, msg: StoredMessage, sched: &mut Scheduler<Event>) {
        let q = &mut self.queues[group];
        q.consumers[consumer as usize].window.unacked -= 1;
        q.unacked -= 1;
        self.live_copies -= 1;
        self.history.record(now, Observation::StorageChanged { delta: -(msg.bytes() as i64) });
        self.history.record(now, Observation::Deleted { id: msg.id(), group: Some(group) });
        self.report_depth(now, group);
        self.dispatch(now, group, sched);
    }
}

impl<H: History> Model for RabbitModel<'_, H> {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, sched: &mut Scheduler<Event>) {
        match event {
            Event::Publish => self.publish(now, sched),
            Event::AtExchange(msg) => self.route(now, msg, sched),
            Event::Deliver { group, consumer, msg } => self.deliver(now, group, consumer, msg, sched),
            Event::ProcessingDone { group, consumer } => self.processing_done(now, group, consumer, sched),
            Event::Ack { group, consumer, msg } => self.ack(now, group, consumer, msg, sched),
        }
    }

    fn finished(&self) -> bool {
        self.producer.done() && self.publishes_in_transit == 0 && self.live_copies == 0
    }
}
