//! A client's connection to a broker node, the part that publishers ([`super::publisher`]) and
//! consumers ([`super::consumer`]) share: whether a reconnection attempt finds a node to connect
//! to, what opening a connection starts (its number, both ends' heartbeats), and the retry after
//! the recovery interval (the Java client's `networkRecoveryInterval`, 5 s).
//!
//! The client cannot look at the world: the harness reads what the client would learn by dialling
//! ([`Dial`]) and hands it in; the heartbeats' watch over the connection (`liveness.rs`) is the
//! harness's, so opening one returns what it must watch ([`Opened`]).

use super::*;
use liveness::End;

/// What a client learns when it dials, read from the world by the harness.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dial {
    /// The broker node it connects to: its own (`producer_node`, `consumer_node`), or with quorum
    /// queues and `"leader"` placement the node of the live leader; `None`: no leader is up.
    pub(super) broker: Option<NodeId>,
    /// Its host reaches that node (both up, no cut between them).
    pub(super) reachable: bool,
    /// The AMQP heartbeat interval while the failure detectors run (a partition is scheduled);
    /// `None`: they do not, and connections are not numbered (only a crash closes one then).
    pub(super) heartbeat: Option<SimDuration>,
}

impl Dial {
    /// The node a connection opens to now, if any.
    pub(super) fn broker_in_reach(&self) -> Option<NodeId> {
        self.broker.filter(|_| self.reachable)
    }
}

/// A connection opened while the detectors run: its number, its broker node, and (a consumer's)
/// its first subscription on it. The harness's liveness table watches both ends from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Opened {
    pub(super) conn: u32,
    pub(super) broker: NodeId,
    pub(super) first_reg: u32,
}

/// The client on `node` opened a connection to `broker`: while the detectors run, it is numbered
/// by the client's counter `conn`, and each end sends its first heartbeat after half the interval
/// (a heartbeat of 0 turns them off).
pub(super) fn open<R>(
    node: NodeId,
    broker: NodeId,
    conn: &mut u32,
    first_reg: u32,
    heartbeat: Option<SimDuration>,
    out: &mut impl Effects<Msg, Timer, R>,
) -> Option<Opened> {
    let heartbeat = heartbeat?;
    *conn += 1;
    let conn = *conn;
    if heartbeat > SimDuration::ZERO {
        let half = SimDuration(heartbeat.0 / 2);
        out.timer_in(node, half, Timer::Heartbeat { client: node, end: End::Client, conn });
        out.timer_in(broker, half, Timer::Heartbeat { client: node, end: End::Broker, conn });
    }
    Some(Opened { conn, broker, first_reg })
}

/// The client on `node` tries to connect again after the recovery interval.
pub(super) fn retry_later<R>(node: NodeId, out: &mut impl Effects<Msg, Timer, R>) {
    out.timer_in(node, d::RABBITMQ_RECOVERY_INTERVAL, Timer::Reconnect);
}
