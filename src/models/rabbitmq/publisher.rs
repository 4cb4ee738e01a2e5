//! A publishing client on its own host (`[workload] producers`): its connection, the messages
//! its application holds while the connection is blocked, and its publisher confirms.

use super::*;

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
}

impl Publisher {
    pub(super) fn new(node: NodeId, home: NodeId) -> Self {
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

    /// Nothing of its own is left to publish or to hear confirmed.
    pub(super) fn idle(&self) -> bool {
        self.unconfirmed.is_empty() && self.outbox.is_empty() && self.window_waiting.is_empty()
    }
}
