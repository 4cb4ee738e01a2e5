//! A publishing client on its own host (`[workload] producers`): its connection, the messages
//! its application holds while the connection is blocked or its confirm window is full, and its
//! publisher confirms. Its handlers touch nothing but its own state and fill an `impl` [`PubFx`],
//! which the model applies through the world as they are issued.

use super::*;
use crate::world::out::Effects;
use connection::{Dial, Opened};

/// What a publisher's handlers record for the harness.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Note {
    /// A client event: the application sent a message, was confirmed, or gave up.
    Client(ClientEvent),
    /// A publish that never reached the exchange (no connection, or given up while it waited in
    /// a blocked connection): no queue holds it.
    Dropped(MessageId),
}

/// A publisher's effects, buffered (for tests).
#[cfg(test)]
pub(super) type PubOut = crate::world::out::Out<Msg, Timer, Note>;

/// Where a publisher's handlers put their effects: an `Out` in tests, the world's
/// [`crate::world::out::Direct`] in a run.
pub(super) trait PubFx: Effects<Msg, Timer, Note> {}
impl<X: Effects<Msg, Timer, Note>> PubFx for X {}

/// The publisher settings the handlers need (from `[rabbitmq]`).
#[derive(Clone, Copy, Debug)]
pub(super) struct PublisherCfg {
    pub(super) confirms: bool,
    pub(super) max_unconfirmed: Option<u32>,
    /// How long the application waits for a confirm before it publishes again.
    pub(super) confirm_timeout: SimDuration,
    /// How long after its first publish the application gives up on a message.
    pub(super) give_up_after: SimDuration,
}

/// One publisher: an AMQP connection with one channel, publishing with confirms.
pub(super) struct Publisher {
    /// Its host.
    pub(super) node: NodeId,
    /// The broker node its connection is to; `None` while disconnected.
    pub(super) home: Option<NodeId>,
    /// Flow control blocks its connection: publishes wait in `outbox`, and the application,
    /// blocked in `basic.publish`, re-publishes nothing.
    pub(super) blocked: bool,
    pub(super) outbox: VecDeque<Message>,
    /// Published, not yet confirmed: (message, first send, deadline of the current attempt).
    pub(super) unconfirmed: BTreeMap<MessageId, (Message, SimTime, SimTime)>,
    pub(super) confirm_deadlines: VecDeque<(SimTime, MessageId)>,
    pub(super) confirm_check_armed: bool,
    /// Due while `max_unconfirmed` messages were unconfirmed: waiting in the application, in
    /// order, for a confirm to free the window.
    pub(super) window_waiting: VecDeque<Message>,
    /// Its current connection's number.
    pub(super) conn: u32,
    cfg: PublisherCfg,
}

impl Publisher {
    pub(super) fn new(node: NodeId, home: NodeId, cfg: PublisherCfg) -> Self {
        Publisher {
            node,
            home: Some(home),
            blocked: false,
            outbox: VecDeque::new(),
            unconfirmed: BTreeMap::new(),
            confirm_deadlines: VecDeque::new(),
            confirm_check_armed: false,
            window_waiting: VecDeque::new(),
            conn: 0,
            cfg,
        }
    }

    /// Its host died: the unconfirmed set lived in its memory, its connection with it, and so did
    /// what waited for the confirm window (never sent).
    pub(super) fn crashed(&mut self) {
        self.unconfirmed.clear();
        self.window_waiting.clear();
        self.confirm_deadlines.clear();
        self.confirm_check_armed = false;
        self.home = None;
    }

    /// Its connection is gone (its broker node died, or an end gave up on it): a block ends with
    /// it, what waited in the blocked connection never left the client (dropped: the confirm
    /// timeout publishes it again), and it reconnects after the recovery interval.
    pub(super) fn connection_lost(&mut self, out: &mut impl PubFx) {
        self.home = None;
        self.blocked = false;
        for m in std::mem::take(&mut self.outbox) {
            out.record(Note::Dropped(m.id));
        }
        connection::retry_later(self.node, out);
    }

    /// Its reconnection timer, or its host's restart: it connects to the node `dial` found, or
    /// tries again after the recovery interval. With quorum queues a failed attempt leaves it
    /// disconnected; a classic queue's publisher keeps `home` as it was (it retries only while
    /// disconnected, but for a second timer left from an earlier loss). Returns the connection
    /// the harness's detectors watch.
    pub(super) fn reconnect(&mut self, dial: Dial, quorum: bool, out: &mut impl PubFx) -> Option<Opened> {
        let Some(home) = dial.broker_in_reach() else {
            if quorum {
                self.home = None;
            }
            connection::retry_later(self.node, out);
            return None;
        };
        self.home = Some(home);
        connection::open(self.node, home, &mut self.conn, 0, dial.heartbeat, out)
    }

    /// Nothing of its own is left to publish or to hear confirmed.
    pub(super) fn idle(&self) -> bool {
        self.unconfirmed.is_empty() && self.outbox.is_empty() && self.window_waiting.is_empty()
    }

    /// The application has message `msg` to publish now (its host is up).
    pub(super) fn arrival(&mut self, now: SimTime, msg: Message, out: &mut impl PubFx) {
        if self.window_full() {
            self.window_waiting.push_back(msg);
            return;
        }
        self.send_new(now, msg, out);
    }

    /// `max_unconfirmed` messages are unconfirmed: the application waits before it publishes more
    /// (PerfTest's `--confirm`).
    fn window_full(&self) -> bool {
        self.cfg.max_unconfirmed.is_some_and(|max| self.unconfirmed.len() >= max as usize)
    }

    /// Publishes what waited for the window while there is room. Each is timed from now, when the
    /// application publishes it, as PerfTest stamps a message as it sends it.
    fn release_window(&mut self, now: SimTime, out: &mut impl PubFx) {
        while !self.window_full()
            && let Some(mut msg) = self.window_waiting.pop_front()
        {
            msg.published_at = now;
            self.send_new(now, msg, out);
        }
    }

    fn send_new(&mut self, now: SimTime, msg: Message, out: &mut impl PubFx) {
        out.record(Note::Client(ClientEvent::Sent { msg }));
        self.publish(msg, out);
        if self.cfg.confirms {
            let deadline = now.after(self.cfg.confirm_timeout);
            self.unconfirmed.insert(msg.id, (msg, now, deadline));
            self.confirm_deadlines.push_back((deadline, msg.id));
            self.arm_confirm_check(out);
        }
    }

    /// `basic.publish` on its connection: held while the connection is blocked; lost at once
    /// without a connection (the harness records a send lost on the way as dropped too).
    fn publish(&mut self, msg: Message, out: &mut impl PubFx) {
        if self.blocked {
            self.outbox.push_back(msg);
            return;
        }
        match self.home {
            Some(home) => out.try_send(self.node, home, Msg::Publish(msg)),
            None => out.record(Note::Dropped(msg.id)),
        }
    }

    fn arm_confirm_check(&mut self, out: &mut impl PubFx) {
        if !self.confirm_check_armed
            && let Some(&(at, _)) = self.confirm_deadlines.front()
        {
            self.confirm_check_armed = true;
            out.timer_at(self.node, at, Timer::ConfirmCheck);
        }
    }

    /// Its confirm timer: what waited too long is published again, or given up on.
    pub(super) fn confirm_check(&mut self, now: SimTime, out: &mut impl PubFx) {
        self.confirm_check_armed = false;
        while let Some(&(at, id)) = self.confirm_deadlines.front() {
            if at > now {
                break;
            }
            self.confirm_deadlines.pop_front();
            let Some(&(msg, first, deadline)) = self.unconfirmed.get(&id) else {
                continue;
            };
            if deadline != at {
                continue;
            }
            if now.since(first) >= self.cfg.give_up_after {
                self.unconfirmed.remove(&id);
                if self.blocked {
                    let waiting = self.outbox.len();
                    self.outbox.retain(|m| m.id != id);
                    if self.outbox.len() < waiting {
                        // It never left the blocked client.
                        out.record(Note::Dropped(id));
                    }
                }
                out.record(Note::Client(ClientEvent::SendFailed { id }));
                continue;
            }
            let next = now.after(self.cfg.confirm_timeout);
            self.unconfirmed.insert(id, (msg, first, next));
            self.confirm_deadlines.push_back((next, id));
            if !self.blocked {
                self.publish(msg, out);
            }
        }
        self.arm_confirm_check(out);
        self.release_window(now, out);
    }

    /// `basic.ack` from the broker for message `id`.
    pub(super) fn confirm(&mut self, now: SimTime, id: MessageId, out: &mut impl PubFx) {
        if self.unconfirmed.remove(&id).is_some() {
            out.record(Note::Client(ClientEvent::Acknowledged { id }));
            self.release_window(now, out);
        }
    }

    /// `connection.blocked` / `connection.unblocked` from node `from`: only from its own
    /// connection's node; unblocked, it publishes what it held.
    pub(super) fn flow(&mut self, from: NodeId, blocked: bool, out: &mut impl PubFx) {
        if self.home != Some(from) {
            return;
        }
        self.blocked = blocked;
        while !self.blocked
            && let Some(m) = self.outbox.pop_front()
        {
            self.publish(m, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::out::Effect;

    const MS: u64 = 1_000_000;

    fn cfg(max_unconfirmed: Option<u32>) -> PublisherCfg {
        PublisherCfg {
            confirms: true,
            max_unconfirmed,
            confirm_timeout: SimDuration(5_000 * MS),
            give_up_after: SimDuration(120_000 * MS),
        }
    }

    fn msg(id: u64, at_ms: u64) -> Message {
        Message { id, published_at: SimTime(at_ms * MS), key: None, bytes: 100 }
    }

    /// The effects as short strings: what was sent or recorded, and timers.
    fn seen(out: &mut PubOut) -> Vec<String> {
        let v = out
            .effects()
            .iter()
            .map(|e| match e {
                Effect::TrySend { to, msg: Msg::Publish(m), .. } => format!("publish {} to {to}", m.id),
                Effect::TimerAt { at, .. } => format!("timer {} ms", at.0 / MS),
                Effect::Record(Note::Client(ClientEvent::Sent { msg })) => format!("sent {}", msg.id),
                Effect::Record(Note::Client(ClientEvent::Acknowledged { id })) => format!("acked {id}"),
                Effect::Record(Note::Client(ClientEvent::SendFailed { id })) => format!("failed {id}"),
                Effect::Record(Note::Dropped(id)) => format!("dropped {id}"),
                Effect::TimerIn { node: 5, delay, timer: Timer::Reconnect } => {
                    format!("reconnect in {} s", delay.0 / (1_000 * MS))
                }
                Effect::TimerIn { node, delay, timer: Timer::Heartbeat { client: 5, end, conn } } => {
                    format!("{end:?} end of conn {conn} beats on {node} in {} s", delay.0 / (1_000 * MS))
                }
                other => format!("{other:?}"),
            })
            .collect();
        out.clear();
        v
    }

    /// Worked by hand: a window of 2. Messages 0 and 1 go at 0 and 1 ms, with one confirm timer
    /// (0's deadline, 5 s); 2 waits. 0's confirm at 3 ms frees a place: 2 is sent then, stamped 3 ms.
    #[test]
    fn a_full_window_holds_the_next_message_until_a_confirm() {
        let mut p = Publisher::new(5, 0, cfg(Some(2)));
        let mut out = PubOut::default();
        p.arrival(SimTime(0), msg(0, 0), &mut out);
        p.arrival(SimTime(MS), msg(1, 1), &mut out);
        p.arrival(SimTime(2 * MS), msg(2, 2), &mut out);
        assert_eq!(seen(&mut out), ["sent 0", "publish 0 to 0", "timer 5000 ms", "sent 1", "publish 1 to 0"]);
        p.confirm(SimTime(3 * MS), 0, &mut out);
        assert_eq!(seen(&mut out), ["acked 0", "sent 2", "publish 2 to 0"]);
        assert_eq!(p.unconfirmed[&2].0.published_at, SimTime(3 * MS), "timed from when it is sent");
        // A second confirm of the same message changes nothing.
        p.confirm(SimTime(4 * MS), 0, &mut out);
        assert!(out.is_empty());
    }

    /// A blocked connection holds publishes; unblocked by its own node it sends them in order, and
    /// a `connection.unblocked` from another node is ignored. Without a connection a publish is
    /// dropped at once.
    #[test]
    fn a_blocked_connection_holds_and_releases_in_order() {
        let mut p = Publisher::new(5, 1, cfg(None));
        let mut out = PubOut::default();
        p.flow(1, true, &mut out);
        p.arrival(SimTime(0), msg(7, 0), &mut out);
        p.arrival(SimTime(0), msg(8, 0), &mut out);
        assert_eq!(seen(&mut out), ["sent 7", "timer 5000 ms", "sent 8"]);
        p.flow(2, false, &mut out);
        assert!(out.is_empty(), "not its connection's node");
        p.flow(1, false, &mut out);
        assert_eq!(seen(&mut out), ["publish 7 to 1", "publish 8 to 1"]);
        p.home = None;
        p.arrival(SimTime(MS), msg(9, 1), &mut out);
        assert_eq!(seen(&mut out), ["sent 9", "dropped 9"]);
    }

    /// Unconfirmed at its 5 s deadline, a message is published again with a new deadline; 120 s
    /// after its first publish it is given up on (`SendFailed`), and if it still waited in a
    /// blocked connection it never left the client: dropped.
    #[test]
    fn an_unconfirmed_message_is_published_again_then_given_up() {
        let mut p = Publisher::new(5, 0, cfg(None));
        let mut out = PubOut::default();
        p.arrival(SimTime(0), msg(3, 0), &mut out);
        seen(&mut out);
        p.confirm_check(SimTime(5_000 * MS), &mut out);
        assert_eq!(seen(&mut out), ["publish 3 to 0", "timer 10000 ms"]);
        // Every 5 s until 120 s: the 24th check gives up; blocked meanwhile, it sits in the outbox.
        p.flow(0, true, &mut out);
        for k in 2..24 {
            p.confirm_check(SimTime(k * 5_000 * MS), &mut out);
        }
        assert_eq!(p.outbox.len(), 0, "a blocked publisher does not publish again");
        seen(&mut out);
        p.outbox.push_back(msg(3, 0));
        p.confirm_check(SimTime(120_000 * MS), &mut out);
        assert_eq!(seen(&mut out), ["dropped 3", "failed 3"]);
        assert!(p.idle());
    }

    /// Blocked by flow control, the publisher holds 7 and 8 in its outbox when its connection is
    /// lost. By hand: the block ends with the connection; 7 and 8 never left the client, so both
    /// are recorded as dropped, in order (the confirm timeout publishes them again); it tries to
    /// reconnect after the recovery interval (5 s). A message due meanwhile is dropped at once.
    #[test]
    fn a_publisher_whose_connection_was_lost_drops_its_outbox_and_reconnects_later() {
        let mut p = Publisher::new(5, 0, cfg(None));
        let mut out = PubOut::default();
        p.flow(0, true, &mut out);
        p.arrival(SimTime(0), msg(7, 0), &mut out);
        p.arrival(SimTime(0), msg(8, 0), &mut out);
        out.clear();
        p.connection_lost(&mut out);
        assert_eq!(seen(&mut out), ["dropped 7", "dropped 8", "reconnect in 5 s"]);
        assert_eq!((p.home, p.blocked, p.outbox.len()), (None, false, 0));
        p.arrival(SimTime(MS), msg(9, 1), &mut out);
        assert_eq!(seen(&mut out), ["sent 9", "dropped 9"]);
    }

    /// Reconnecting with quorum queues: with no leader up it stays disconnected and tries again
    /// in 5 s; once node 2 leads (detectors on, heartbeat 60 s) it connects there, its
    /// connection numbered 1, both ends' heartbeats due in 30 s, and publishes go to node 2.
    #[test]
    fn a_reconnecting_publisher_connects_to_the_leader_or_tries_again() {
        let mut p = Publisher::new(5, 0, cfg(None));
        let mut out = PubOut::default();
        p.connection_lost(&mut out);
        out.clear();
        let heartbeat = Some(SimDuration::from_secs(60));
        assert_eq!(p.reconnect(Dial { broker: None, reachable: false, heartbeat }, true, &mut out), None);
        assert_eq!(seen(&mut out), ["reconnect in 5 s"]);
        assert_eq!(p.home, None);
        let opened = p.reconnect(Dial { broker: Some(2), reachable: true, heartbeat }, true, &mut out);
        assert_eq!(opened, Some(Opened { conn: 1, broker: 2, first_reg: 0 }));
        assert_eq!(
            seen(&mut out),
            ["Client end of conn 1 beats on 5 in 30 s", "Broker end of conn 1 beats on 2 in 30 s"]
        );
        p.arrival(SimTime(MS), msg(9, 1), &mut out);
        assert_eq!(seen(&mut out), ["sent 9", "publish 9 to 2", "timer 5001 ms"]);
    }
}
