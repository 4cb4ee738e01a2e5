//! A consuming client on its own host: one connection with one channel, subscribed to its group's
//! queue (`basic.consume`), and the application that works through what the broker pushes, one
//! job at a time. Its handlers touch nothing but its own state and fill an [`Out`], which the model
//! applies through the world right where the handler ran.

use super::*;
use crate::failures::Failures;
use crate::world::out::Effects;
use connection::{Dial, Opened};

/// A consumer's effects, buffered (for tests): its records are client events.
#[cfg(test)]
pub(super) type ConOut = crate::world::out::Out<Msg, Timer, ClientEvent>;

/// Where a consumer's handlers put their effects: an `Out` in tests, the world's
/// [`crate::world::out::Direct`] in a run.
pub(super) trait ConsumerFx: Effects<Msg, Timer, ClientEvent> {}
impl<X: Effects<Msg, Timer, ClientEvent>> ConsumerFx for X {}

/// A delivery the application holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Delivery {
    pub(super) msg: StoredMessage,
    /// The broker's flag: delivered before (its processing is then a second attempt).
    pub(super) redelivered: bool,
}

/// A consumer's settings: its group's.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConsumerCfg {
    /// `ack = "manual"`: each processed message is acked (`basic.ack`).
    pub(super) manual_ack: bool,
    /// The client subscribes again after a `basic.cancel` (`consumer_cancel_notify`).
    pub(super) cancel_notify: bool,
    /// Which processing attempts of its group fail, and what the application then answers.
    pub(super) failures: Failures,
    pub(super) on_failure: RabbitOnFailure,
}

pub(super) struct ConsumerNode {
    /// Its host.
    pub(super) node: NodeId,
    /// Its group, and its index in the group.
    pub(super) group: GroupIdx,
    pub(super) index: u32,
    pub(super) app: ConsumerApp<Delivery>,
    /// The broker node its connection is to (`consumer_node`: by default the queue's node, with a
    /// quorum queue its leader's); `None` while disconnected.
    pub(super) home: Option<NodeId>,
    /// Its current subscription's number.
    pub(super) reg: u32,
    /// Its current connection's number.
    pub(super) conn: u32,
    /// Its node cancelled its subscription (`basic.cancel`) and it has not subscribed again.
    pub(super) cancelled: bool,
    cfg: ConsumerCfg,
}

impl ConsumerNode {
    pub(super) fn new(node: NodeId, group: GroupIdx, index: u32, home: NodeId, cfg: ConsumerCfg) -> Self {
        ConsumerNode {
            node,
            group,
            index,
            app: ConsumerApp::default(),
            home: Some(home),
            reg: 0,
            conn: 0,
            cancelled: false,
            cfg,
        }
    }

    /// `basic.deliver` for subscription `reg`: the application takes it in, and starts it if idle.
    pub(super) fn deliver(&mut self, reg: u32, d: Delivery, processing: &ProcessingTimes, out: &mut impl ConsumerFx) {
        if reg != self.reg {
            // For a subscription of an earlier connection: no such consumer on this one.
            return;
        }
        let (group, consumer) = (self.group, self.index);
        out.record(ClientEvent::Delivered { msg: d.msg, group, consumer, redelivered: d.redelivered });
        self.app.push(d);
        self.start_next(processing, out);
    }

    /// The application starts its next delivery, if it is idle and holds one: its job ends after
    /// the message's processing time.
    pub(super) fn start_next(&mut self, processing: &ProcessingTimes, out: &mut impl ConsumerFx) {
        let Some(&Delivery { msg, .. }) = self.app.start_next() else {
            return;
        };
        let (group, consumer) = (self.group, self.index);
        out.record(ClientEvent::ProcessingStarted { msg, group, consumer });
        out.timer_in(self.node, processing.of(group, msg.id()), Timer::JobEnd);
    }

    /// Its job's time is up (a hung application finishes nothing).
    pub(super) fn job_end(&mut self, processing: &ProcessingTimes, out: &mut impl ConsumerFx) {
        match self.app.job_ended() {
            JobEnd::Done(d) => self.job_done(d, processing, out),
            JobEnd::Stalled => {}
        }
    }

    /// A hung application goes on: the job it held is done, or the next one starts.
    pub(super) fn resume(&mut self, processing: &ProcessingTimes, out: &mut impl ConsumerFx) {
        match self.app.resume() {
            Some(d) => self.job_done(d, processing, out),
            None => self.start_next(processing, out),
        }
    }

    fn job_done(&mut self, d: Delivery, processing: &ProcessingTimes, out: &mut impl ConsumerFx) {
        // A first delivery is the first attempt; a redelivered one (requeued by a nack or a closed
        // channel) a later one.
        if !self.cfg.failures.never() && self.cfg.failures.fails(d.msg.id(), u32::from(d.redelivered)) {
            return self.processing_failed(d, processing, out);
        }
        let (group, consumer) = (self.group, self.index);
        out.record(ClientEvent::Processed { msg: d.msg, group, consumer });
        // Take the next delivery before acking, as the application does: one job at a time.
        self.start_next(processing, out);
        if self.cfg.manual_ack {
            let id = d.msg.id();
            out.record(ClientEvent::Acked { id, group, consumer });
            if let Some(home) = self.home {
                out.send(self.node, home, Msg::Ack { group, consumer, reg: self.reg, id });
            }
        }
    }

    /// The application's processing of `d` threw: it answers `basic.nack` or `basic.reject` with
    /// requeue (the message goes back to the queue and is delivered again, to this consumer or
    /// another: a poison message loops for ever, as in RabbitMQ, unless a quorum queue's delivery
    /// limit stops a rejected one), or without (`nack`, `reject`: the queue dead-letters it,
    /// reason `rejected`, or drops it), and takes its next delivery.
    #[cold]
    #[inline(never)]
    fn processing_failed(&mut self, d: Delivery, processing: &ProcessingTimes, out: &mut impl ConsumerFx) {
        let (msg, id, group, consumer) = (d.msg, d.msg.id(), self.group, self.index);
        out.record(ClientEvent::ProcessingFailed { msg, group, consumer });
        let how = self.cfg.on_failure;
        if how.requeues() {
            out.record(ClientEvent::Settled { id, group, outcome: Settlement::Retrying });
        }
        self.start_next(processing, out);
        if let Some(home) = self.home {
            out.send(self.node, home, Msg::Nack { group, consumer, reg: self.reg, id, how });
        }
    }

    /// `basic.cancel`: the consumer's queue is gone, its channel and connection live on. What it
    /// received stays with the application (its acks reach no queue). A client that handles the
    /// notification subscribes again after the recovery interval, and again while `basic.consume`
    /// fails; a naive one never does.
    pub(super) fn cancelled(&mut self, out: &mut impl ConsumerFx) {
        self.cancelled = true;
        if self.cfg.cancel_notify {
            out.timer_in(self.node, d::RABBITMQ_RECOVERY_INTERVAL, Timer::Resubscribe);
        }
    }

    /// A cancelled consumer's handler subscribes again on its connection (unless it was
    /// disconnected meanwhile: its reconnection subscribes).
    pub(super) fn resubscribe_after_cancel(&mut self, out: &mut impl ConsumerFx) {
        let Some(home) = self.home.filter(|_| self.cancelled) else { return };
        self.cancelled = false;
        self.reg += 1;
        self.subscribe(home, out);
    }

    /// After `consumer_timeout` closed its channel, the consumer subscribes again on the same
    /// connection (a new subscription number for a quorum queue, whose consumer record is keyed
    /// by it).
    pub(super) fn resubscribe(&mut self, quorum: bool, out: &mut impl ConsumerFx) {
        let Some(home) = self.home else { return };
        if quorum {
            self.reg += 1;
        }
        self.subscribe(home, out);
    }

    /// `basic.consume` on its connection to `home`.
    pub(super) fn subscribe(&self, home: NodeId, out: &mut impl ConsumerFx) {
        out.send(self.node, home, Msg::Subscribe { group: self.group, consumer: self.index, reg: self.reg });
    }

    /// The channel is gone (timeout or node crash): deliveries not started cannot be acked any more
    /// and the node requeued them; the application drops them.
    pub(super) fn channel_lost(&mut self) {
        if self.cfg.manual_ack {
            self.app.drop_waiting().for_each(drop);
        }
    }

    /// Its connection is gone (its broker node died, or an end gave up on it): what it had not
    /// started is dropped with the channel, and it reconnects after the recovery interval. A
    /// classic queue's consumer numbers its next subscription now; a quorum queue's numbers it
    /// when it reconnects ([`Self::reconnect`]).
    pub(super) fn connection_lost(&mut self, quorum: bool, out: &mut impl ConsumerFx) {
        self.home = None;
        if !quorum {
            self.reg += 1;
        }
        self.channel_lost();
        connection::retry_later(self.node, out);
    }

    /// Its reconnection timer, or its host's restart: it connects to the node `dial` found and
    /// subscribes on the new connection (a quorum queue's consumer under a new subscription
    /// number: the queue keys its consumers by it, and the old registration may still hold
    /// deliveries), or tries again after the recovery interval. A `basic.cancel` it had is void
    /// (the reconnection subscribes). Returns the connection the harness's detectors watch.
    pub(super) fn reconnect(&mut self, dial: Dial, quorum: bool, out: &mut impl ConsumerFx) -> Option<Opened> {
        self.cancelled = false;
        let Some(home) = dial.broker_in_reach() else {
            connection::retry_later(self.node, out);
            return None;
        };
        self.home = Some(home);
        if quorum {
            self.reg += 1;
        }
        let opened = connection::open(self.node, home, &mut self.conn, self.reg, dial.heartbeat, out);
        self.subscribe(home, out);
        opened
    }

    /// Its host died (the harness took it down): what the application held is gone, and the host's
    /// operating system closes its connection to `home`.
    pub(super) fn crashed(&mut self, home: NodeId, out: &mut impl ConsumerFx) {
        self.app.crash();
        let closed = Msg::ConnectionClosed { group: self.group, consumer: self.index, reg: self.reg };
        out.send_from_os(self.node, home, closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::Effect;

    const NODE: NodeId = 5;
    const HOME: NodeId = 0;

    fn msg(id: MessageId) -> StoredMessage {
        StoredMessage::new(&Message { id, key: None, bytes: 100, published_at: SimTime::ZERO })
    }

    fn delivery(id: MessageId, redelivered: bool) -> Delivery {
        Delivery { msg: msg(id), redelivered }
    }

    /// Runs `f` with consumer 2 of group 1, on host 5 and connected to node 0, and its group's
    /// processing times: a constant 7 ms, and `failure_rate` (no poison messages: a failing
    /// message fails its first attempt only, and is then nacked with requeue).
    fn with(manual_ack: bool, failure_rate: f64, f: impl FnOnce(ConsumerNode, &ProcessingTimes)) {
        let toml = format!(
            "duration = \"1s\"\n[workload]\nrate = 1.0\n[[groups]]\nname = \"a\"\n[[groups]]\nname = \"b\"\n\
             processing = {{ distribution = \"constant\", value = \"7ms\" }}\nfailure_rate = {failure_rate}\n"
        );
        let s = Scenario::parse(&toml, "t.toml", false).unwrap_or_else(|e| panic!("{e}"));
        let failures = Failures::for_group(&s, 1);
        let cfg = ConsumerCfg { manual_ack, cancel_notify: true, failures, on_failure: RabbitOnFailure::NackRequeue };
        f(ConsumerNode::new(NODE, 1, 2, HOME, cfg), &ProcessingTimes::new(&s))
    }

    /// The effects as short strings, in order.
    fn seen(out: &mut ConOut) -> Vec<String> {
        let v = out
            .effects()
            .iter()
            .map(|e| match e {
                Effect::Record(ClientEvent::Delivered { msg, group: 1, consumer: 2, redelivered }) => {
                    format!("delivered {}{}", msg.id(), if *redelivered { " again" } else { "" })
                }
                Effect::Record(ClientEvent::ProcessingStarted { msg, group: 1, consumer: 2 }) => {
                    format!("started {}", msg.id())
                }
                Effect::Record(ClientEvent::Processed { msg, group: 1, consumer: 2 }) => {
                    format!("processed {}", msg.id())
                }
                Effect::Record(ClientEvent::ProcessingFailed { msg, group: 1, consumer: 2 }) => {
                    format!("failed {}", msg.id())
                }
                Effect::Record(ClientEvent::Acked { id, group: 1, consumer: 2 }) => format!("acked {id}"),
                Effect::Record(ClientEvent::Settled { id, group: 1, outcome: Settlement::Retrying }) => {
                    format!("retrying {id}")
                }
                Effect::TimerIn { node: NODE, delay, timer: Timer::JobEnd } => {
                    format!("job ends in {} ms", delay.0 / 1_000_000)
                }
                Effect::TimerIn { node: NODE, delay, timer: Timer::Resubscribe } => {
                    format!("resubscribe in {} s", delay.0 / 1_000_000_000)
                }
                Effect::Send { from: NODE, to: HOME, msg: Msg::Ack { group: 1, consumer: 2, reg, id } } => {
                    format!("ack {id} reg {reg}")
                }
                Effect::Send { from: NODE, to: HOME, msg: Msg::Nack { group: 1, consumer: 2, reg, id, how } } => {
                    format!("nack {id} reg {reg} {how:?}")
                }
                Effect::Send { from: NODE, to: HOME, msg: Msg::Subscribe { group: 1, consumer: 2, reg } } => {
                    format!("subscribe reg {reg}")
                }
                Effect::Send { from: NODE, to, msg: Msg::Subscribe { group: 1, consumer: 2, reg } } => {
                    format!("subscribe reg {reg} at {to}")
                }
                Effect::TimerIn { node: NODE, delay, timer: Timer::Reconnect } => {
                    format!("reconnect in {} s", delay.0 / 1_000_000_000)
                }
                Effect::TimerIn { node, delay, timer: Timer::Heartbeat { client: NODE, end, conn } } => {
                    format!("{end:?} end of conn {conn} beats on {node} in {} s", delay.0 / 1_000_000_000)
                }
                Effect::SendFromOs {
                    from: NODE,
                    to: HOME,
                    msg: Msg::ConnectionClosed { group: 1, consumer: 2, reg },
                } => {
                    format!("os closes reg {reg}")
                }
                other => format!("{other:?}"),
            })
            .collect();
        out.clear();
        v
    }

    #[test]
    fn an_idle_consumer_starts_a_delivery_at_once_and_a_busy_one_holds_it() {
        with(true, 0.0, |mut c, p| {
            let mut out = ConOut::default();
            c.deliver(0, delivery(1, false), p, &mut out);
            c.deliver(0, delivery(2, true), p, &mut out);
            // Busy with 1: 2 waits in the application, and no second job starts.
            assert_eq!(seen(&mut out), ["delivered 1", "started 1", "job ends in 7 ms", "delivered 2 again"]);
            assert_eq!(c.app.waiting(), 1);
        });
    }

    #[test]
    fn a_finished_job_starts_the_next_before_its_ack_goes_out() {
        with(true, 0.0, |mut c, p| {
            let mut out = ConOut::default();
            c.deliver(0, delivery(1, false), p, &mut out);
            c.deliver(0, delivery(2, false), p, &mut out);
            out.clear();
            c.job_end(p, &mut out);
            assert_eq!(seen(&mut out), ["processed 1", "started 2", "job ends in 7 ms", "acked 1", "ack 1 reg 0"]);
            c.job_end(p, &mut out);
            assert_eq!(seen(&mut out), ["processed 2", "acked 2", "ack 2 reg 0"]);
        });
    }

    #[test]
    fn auto_ack_sends_nothing_and_a_delivery_for_an_old_subscription_is_ignored() {
        with(false, 0.0, |mut c, p| {
            let mut out = ConOut::default();
            c.reg = 3;
            c.deliver(2, delivery(1, false), p, &mut out);
            assert!(out.is_empty(), "subscription 2 is not this connection's");
            c.deliver(3, delivery(1, false), p, &mut out);
            out.clear();
            c.job_end(p, &mut out);
            assert_eq!(seen(&mut out), ["processed 1"]);
        });
    }

    #[test]
    fn a_failed_first_attempt_is_nacked_with_requeue_and_its_redelivery_succeeds() {
        // Every message fails its first attempt (rate 1, no poison messages).
        with(true, 1.0, |mut c, p| {
            let mut out = ConOut::default();
            c.deliver(0, delivery(1, false), p, &mut out);
            out.clear();
            c.job_end(p, &mut out);
            assert_eq!(seen(&mut out), ["failed 1", "retrying 1", "nack 1 reg 0 NackRequeue"]);
            c.deliver(0, delivery(1, true), p, &mut out);
            out.clear();
            c.job_end(p, &mut out);
            assert_eq!(seen(&mut out), ["processed 1", "acked 1", "ack 1 reg 0"]);
        });
    }

    #[test]
    fn a_hung_application_finishes_nothing_until_it_resumes() {
        with(true, 0.0, |mut c, p| {
            let mut out = ConOut::default();
            c.deliver(0, delivery(1, false), p, &mut out);
            out.clear();
            c.app.hang();
            c.job_end(p, &mut out);
            assert!(out.is_empty(), "a hung job is not done");
            c.resume(p, &mut out);
            assert_eq!(seen(&mut out), ["processed 1", "acked 1", "ack 1 reg 0"]);
        });
    }

    #[test]
    fn a_cancelled_consumer_subscribes_again_after_the_recovery_interval_with_a_new_number() {
        with(true, 0.0, |mut c, _| {
            let mut out = ConOut::default();
            c.cancelled(&mut out);
            assert_eq!(seen(&mut out), ["resubscribe in 5 s"]);
            c.resubscribe_after_cancel(&mut out);
            assert_eq!(seen(&mut out), ["subscribe reg 1"]);
            // Subscribed again: a second timer finds nothing to do.
            c.resubscribe_after_cancel(&mut out);
            assert!(out.is_empty());
        });
    }

    #[test]
    fn a_crash_loses_what_the_application_held_and_its_os_closes_the_connection() {
        with(true, 0.0, |mut c, p| {
            let mut out = ConOut::default();
            c.deliver(0, delivery(1, false), p, &mut out);
            c.deliver(0, delivery(2, false), p, &mut out);
            out.clear();
            c.crashed(HOME, &mut out);
            assert!(!c.app.is_busy() && c.app.waiting() == 0);
            assert_eq!(seen(&mut out), ["os closes reg 0"]);
        });
    }

    /// Consumer 2 of group 1 holds delivery 1 (started) and 2 (waiting) when its connection is
    /// lost. By hand: with manual acks the waiting 2 is dropped (its channel, which alone could
    /// ack it, is gone, and the queue returns it), the job under way (1) goes on; the client
    /// tries to reconnect after `RABBITMQ_RECOVERY_INTERVAL` (5 s). A quorum queue's consumer
    /// keeps its subscription number (its reconnection takes the next); a classic one takes the
    /// next at once.
    #[test]
    fn a_lost_connection_drops_what_waited_and_schedules_a_reconnection_after_the_recovery_interval() {
        for quorum in [true, false] {
            with(true, 0.0, |mut c, p| {
                let mut out = ConOut::default();
                c.deliver(0, delivery(1, false), p, &mut out);
                c.deliver(0, delivery(2, false), p, &mut out);
                out.clear();
                c.connection_lost(quorum, &mut out);
                assert_eq!(seen(&mut out), ["reconnect in 5 s"]);
                assert_eq!(c.home, None);
                assert_eq!(c.reg, if quorum { 0 } else { 1 }, "quorum: {quorum}");
                assert!(c.app.is_busy() && c.app.waiting() == 0, "1 goes on, 2 is dropped");
            });
        }
    }

    /// A quorum queue's consumer, disconnected, cancelled meanwhile, reconnects while node 2
    /// leads and the detectors run (heartbeat 60 s). By hand: it connects to node 2 (its
    /// connection number goes 0 -> 1); both ends' first heartbeats are due in 30 s (half the
    /// interval), its own on its host 5, the broker's on node 2; then `basic.consume` goes to
    /// node 2 under subscription 1 (0 was the lost connection's), which is also the first the
    /// broker end watches. The cancellation is void: the new subscription replaces it.
    #[test]
    fn a_reconnecting_consumer_connects_to_the_leader_then_subscribes_with_the_next_number() {
        with(true, 0.0, |mut c, _| {
            let mut out = ConOut::default();
            c.connection_lost(true, &mut out);
            c.cancelled = true;
            out.clear();
            let dial = Dial { broker: Some(2), reachable: true, heartbeat: Some(SimDuration::from_secs(60)) };
            let opened = c.reconnect(dial, true, &mut out);
            assert_eq!(
                seen(&mut out),
                [
                    "Client end of conn 1 beats on 5 in 30 s",
                    "Broker end of conn 1 beats on 2 in 30 s",
                    "subscribe reg 1 at 2"
                ]
            );
            assert_eq!(opened, Some(Opened { conn: 1, broker: 2, first_reg: 1 }));
            assert_eq!((c.home, c.reg, c.conn, c.cancelled), (Some(2), 1, 1, false));
        });
    }

    /// No leader is up (an election is under way), or the leader is out of reach: nothing is
    /// sent, its subscription number is kept, and it tries again 5 s later. Without detectors a
    /// connection that opens is not numbered and starts no heartbeat: only the subscription goes.
    #[test]
    fn a_reconnection_without_a_reachable_leader_tries_again_and_one_without_detectors_only_subscribes() {
        with(true, 0.0, |mut c, _| {
            let mut out = ConOut::default();
            c.connection_lost(true, &mut out);
            out.clear();
            for dial in [
                Dial { broker: None, reachable: false, heartbeat: None },
                Dial { broker: Some(1), reachable: false, heartbeat: None },
            ] {
                assert_eq!(c.reconnect(dial, true, &mut out), None);
                assert_eq!(seen(&mut out), ["reconnect in 5 s"]);
                assert_eq!((c.home, c.reg), (None, 0));
            }
            let dial = Dial { broker: Some(HOME), reachable: true, heartbeat: None };
            assert_eq!(c.reconnect(dial, true, &mut out), None);
            assert_eq!(seen(&mut out), ["subscribe reg 1"]);
            assert_eq!((c.home, c.conn), (Some(HOME), 0));
        });
    }
}
