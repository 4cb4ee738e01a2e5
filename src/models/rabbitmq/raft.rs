//! A Raft member in the manner of Ra, the Raft library under RabbitMQ's quorum queues
//! (github.com/rabbitmq/ra). It knows nothing of queues: it replicates a log of commands and
//! applies the committed ones, in log order, to a deterministic state machine ([`Machine`]).
//!
//! What is modelled, and where it follows Ra rather than the Raft paper:
//! * **Replication.** The leader appends a command and sends it at once to every follower
//!   (`AppendEntries`); an entry is committed when a majority of the members, the leader included,
//!   hold it, and only entries of the leader's own term are committed by counting (Raft §5.4.2).
//!   Followers learn the commit index from later `AppendEntries` and apply in log order.
//! * **No heartbeats.** Ra leaders send nothing while idle (`docs/internals/INTERNALS.md`, "Failure
//!   Detection"); once a second (Ra's `tick_timeout`) the leader re-sends what a follower lacks and
//!   tells it the commit index.
//! * **Failure detection** is Erlang's: followers monitor the leader; a leader whose node crashed
//!   is reported `DOWN` (`noconnection`) as soon as its connections close, and the follower then
//!   waits a short random election timeout (`ra_server_proc.erl`: `rand:uniform(5 x
//!   broadcast_time) + broadcast_time`, 100..600 ms). The model draws the delays; this file only
//!   says which kind ([`Timeout`]).
//! * **Pre-vote** (Raft thesis §9.6, Ra's `pre_vote` state): a member asks for pre-votes without
//!   raising its term, and only a majority of pre-votes starts a real election. A member that still
//!   follows a live leader refuses, so a member that comes back cannot depose a working leader.
//! * **Election restriction** (Raft §5.4.1): a vote (and a pre-vote) is granted only to a
//!   candidate whose log is at least as up to date (last term, then last index), so the new leader
//!   is a member with the longest committed log. A new leader appends a no-op entry of its term,
//!   whose commit commits everything before it.
//! * **Catch-up.** A follower that missed entries answers with its last index and the leader
//!   re-sends from there. Simplification: each member keeps only the entries it has not applied
//!   yet (its applied state is its snapshot, as if Ra snapshotted at every applied entry), so a
//!   follower behind the leader's applied index gets the leader's state plus every entry after it
//!   (`InstallSnapshot`). Ra keeps more log and snapshots less often; the result is the same
//!   state, sent in one message.
//! * **Durability.** Term, vote, log and applied state survive a crash (Ra fsyncs before it
//!   acknowledges; the cost of the fsync is not modelled). The role, the known leader and the
//!   leader's view of its followers are volatile.

use crate::time::SimTime;
use crate::world::NodeId;
use std::collections::VecDeque;

pub type Term = u64;
pub type Index = u64;

/// The replicated state machine. `apply` must be deterministic: every member applies the same
/// entries in the same order and must reach the same state.
pub trait Machine: Clone {
    type Command: Clone + std::fmt::Debug;
    type Effect;
    /// Applies one committed entry; `fx` collects what the outside world should see (deliveries,
    /// confirms) when this member is the leader applying the entry for the first time.
    fn apply(&mut self, entry: &Entry<Self::Command>, fx: Option<&mut Vec<Self::Effect>>);
}

/// One log entry: the term of the leader that appended it, its clock then (Ra's `system_time`
/// meta, so that time-dependent state is the same on every member), and the command.
#[derive(Clone, Debug)]
pub struct Entry<C> {
    pub term: Term,
    pub at: SimTime,
    pub cmd: C,
}

/// The leader's state at its applied index, and every entry after it.
#[derive(Clone, Debug)]
pub struct Snapshot<M: Machine> {
    pub machine: M,
    pub index: Index,
    pub term: Term,
    pub entries: Vec<Entry<M::Command>>,
}

/// Messages between members. A closed enum: each has exactly one handler.
#[derive(Debug)]
pub enum RaftMsg<M: Machine + std::fmt::Debug> {
    AppendEntries {
        term: Term,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry<M::Command>>,
        commit: Index,
    },
    /// `ok`: the follower holds the leader's log up to `index`. Not `ok`: it does not hold
    /// `prev_index`; `index` is where it is sure to agree with the leader.
    AppendReply {
        term: Term,
        ok: bool,
        index: Index,
    },
    InstallSnapshot {
        term: Term,
        snapshot: Box<Snapshot<M>>,
        commit: Index,
    },
    /// `term` is the term the sender would stand in; the receiver's term does not change.
    PreVote {
        term: Term,
        last_index: Index,
        last_term: Term,
    },
    PreVoteReply {
        term: Term,
        granted: bool,
    },
    RequestVote {
        term: Term,
        last_index: Index,
        last_term: Term,
    },
    VoteReply {
        term: Term,
        granted: bool,
    },
    /// The sender's node crashed and its operating system closed its connections: Erlang
    /// distribution reports the node down (`noconnection`) at once.
    NodeDown,
}

/// Which election timeout to arm (Ra's `ra_server_proc:election_timeout_action/2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// The leader was reported down: `rand:uniform(500) + 100` ms.
    Short,
    /// A candidate's election did not conclude: `rand:uniform(aten poll interval) + 100` ms.
    Medium,
    /// A pre-vote round did not conclude, or a member restarted without a known leader:
    /// `rand:uniform(1000) + aten poll interval` ms.
    Long,
}

/// What a member asks the outside to do.
#[derive(Debug)]
pub enum Out<M: Machine + std::fmt::Debug> {
    Send {
        to: NodeId,
        msg: RaftMsg<M>,
    },
    /// Arm the election timer; it is void unless it fires with this generation.
    ArmElection {
        timeout: Timeout,
        generation: u64,
    },
    /// This member just became leader (its no-op is appended).
    BecameLeader,
    /// Entries removed from this member's log without being applied: overwritten by a leader of a
    /// later term, or replaced by a snapshot. Committed entries are never removed.
    Discarded(Vec<Entry<M::Command>>),
}

#[derive(Clone, Debug)]
struct Peer {
    node: NodeId,
    /// Next index to send.
    next: Index,
    /// Highest index known to be replicated there.
    matched: Index,
    /// The `index` of the last refusal acted upon: in-flight entries sent before the repair are
    /// refused with the same index, and need no second repair.
    repaired_from: Option<Index>,
    /// `matched` at the previous tick: a peer that answered since has a live pipeline, and
    /// re-sending its in-flight entries would only make a loaded follower do them twice.
    matched_at_tick: Index,
}

#[derive(Clone, Debug)]
enum Role {
    Follower,
    PreCandidate { votes: Vec<NodeId> },
    Candidate { votes: Vec<NodeId> },
    Leader { peers: Vec<Peer> },
}

/// One member of the Raft group.
#[derive(Clone, Debug)]
pub struct Member<M: Machine + std::fmt::Debug> {
    pub id: NodeId,
    /// Every member, this one included.
    members: Vec<NodeId>,
    term: Term,
    voted_for: Option<NodeId>,
    /// The state after applying entries up to `base_index`.
    pub machine: M,
    base_index: Index,
    base_term: Term,
    /// Entries `base_index + 1 ..`, not yet applied.
    log: VecDeque<Entry<M::Command>>,
    commit: Index,
    role: Role,
    /// The leader this member follows, while it believes it alive.
    leader: Option<NodeId>,
    election_generation: u64,
}

impl<M: Machine + std::fmt::Debug> Member<M> {
    /// A member of a group formed before the run: term 1, `leader` leads, empty log.
    pub fn new(id: NodeId, members: Vec<NodeId>, machine: M, leader: NodeId) -> Self {
        let mut m = Member {
            id,
            members,
            term: 1,
            voted_for: Some(leader),
            machine,
            base_index: 0,
            base_term: 0,
            log: VecDeque::new(),
            commit: 0,
            role: Role::Follower,
            leader: Some(leader),
            election_generation: 0,
        };
        if id == leader {
            m.role = Role::Leader { peers: m.fresh_peers() };
        }
        m
    }

    fn fresh_peers(&self) -> Vec<Peer> {
        let next = self.last_index() + 1;
        self.members
            .iter()
            .filter(|&&n| n != self.id)
            .map(|&node| Peer { node, next, matched: 0, repaired_from: None, matched_at_tick: 0 })
            .collect()
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn last_index(&self) -> Index {
        self.base_index + self.log.len() as u64
    }

    pub fn commit_index(&self) -> Index {
        self.commit
    }

    pub fn applied_index(&self) -> Index {
        self.base_index
    }

    fn last_term(&self) -> Term {
        self.log.back().map_or(self.base_term, |e| e.term)
    }

    /// The term of the entry at `i`, if this member still knows it.
    fn term_at(&self, i: Index) -> Option<Term> {
        if i == self.base_index {
            Some(self.base_term)
        } else if i > self.base_index && i <= self.last_index() {
            Some(self.log[(i - self.base_index - 1) as usize].term)
        } else {
            None
        }
    }

    fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    fn log_ok(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    fn arm(&mut self, timeout: Timeout, out: &mut Vec<Out<M>>) {
        self.election_generation += 1;
        out.push(Out::ArmElection { timeout, generation: self.election_generation });
    }

    fn disarm(&mut self) {
        self.election_generation += 1;
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn to_others(&self, msg: impl Fn() -> RaftMsg<M>, out: &mut Vec<Out<M>>) {
        for &to in self.members.iter().filter(|&&n| n != self.id) {
            out.push(Out::Send { to, msg: msg() });
        }
    }

    // ---- leader ----

    /// Appends `cmd` if this member leads, and sends it to every follower. Returns false (and
    /// does nothing) otherwise.
    pub fn propose(&mut self, at: SimTime, cmd: M::Command, out: &mut Vec<Out<M>>) -> bool {
        if !self.is_leader() {
            return false;
        }
        self.log.push_back(Entry { term: self.term, at, cmd });
        if self.members.len() == 1 {
            self.advance_commit();
        }
        let Role::Leader { peers } = &self.role else { unreachable!("checked") };
        for i in 0..peers.len() {
            self.send_to_peer(i, out);
        }
        true
    }

    /// Sends peer `i` what it lacks from its `next` index: entries, or the state if the leader
    /// has applied (and so no longer keeps) what it needs.
    fn send_to_peer(&mut self, i: usize, out: &mut Vec<Out<M>>) {
        let last = self.last_index();
        let (node, next) = match &self.role {
            Role::Leader { peers } => (peers[i].node, peers[i].next),
            _ => return,
        };
        let msg = if next <= self.base_index {
            RaftMsg::InstallSnapshot {
                term: self.term,
                snapshot: Box::new(Snapshot {
                    machine: self.machine.clone(),
                    index: self.base_index,
                    term: self.base_term,
                    entries: self.log.iter().cloned().collect(),
                }),
                commit: self.commit,
            }
        } else {
            let prev_index = next - 1;
            let from = (next - self.base_index - 1) as usize;
            RaftMsg::AppendEntries {
                term: self.term,
                prev_index,
                prev_term: self.term_at(prev_index).expect("prev_index >= base_index"),
                entries: self.log.range(from..).cloned().collect(),
                commit: self.commit,
            }
        };
        if let Role::Leader { peers } = &mut self.role {
            peers[i].next = last + 1;
        }
        out.push(Out::Send { to: node, msg });
    }

    /// Ra's leader tick (1 s): re-sends to every follower that answered nothing since the last
    /// tick what it is not known to hold, and to the others what is new (or an empty
    /// `AppendEntries` carrying the commit index). `reachable` says whether a follower's node
    /// can be reached now (a send to a disconnected Erlang node is dropped at once).
    pub fn tick(&mut self, reachable: impl Fn(NodeId) -> bool, out: &mut Vec<Out<M>>) {
        let n = match &mut self.role {
            Role::Leader { peers } => {
                for p in peers.iter_mut() {
                    // Re-send from what the peer is known to hold only if it answered nothing
                    // since the last tick (a lost message, a peer that was away).
                    if p.matched == p.matched_at_tick {
                        p.next = p.matched + 1;
                        p.repaired_from = None;
                    }
                    p.matched_at_tick = p.matched;
                }
                peers.len()
            }
            _ => return,
        };
        for i in 0..n {
            let node = match &self.role {
                Role::Leader { peers } => peers[i].node,
                _ => unreachable!(),
            };
            if reachable(node) {
                self.send_to_peer(i, out);
            }
        }
    }

    /// Commits the highest index held by a majority whose entry is of the current term.
    fn advance_commit(&mut self) {
        let Role::Leader { peers } = &self.role else { return };
        let mut matched: Vec<Index> = peers.iter().map(|p| p.matched).collect();
        matched.push(self.last_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.majority() - 1];
        if n > self.commit && self.term_at(n) == Some(self.term) {
            self.commit = n;
        }
    }

    // ---- applying ----

    /// Applies every committed entry not applied yet. Entries with index `>= effects_from`
    /// applied by a leader report their effects into `fx`; followers report none.
    pub fn apply(&mut self, effects_from: Index, fx: &mut Vec<M::Effect>) {
        let leader = self.is_leader();
        while self.base_index < self.commit {
            let e = self.log.pop_front().expect("commit <= last index");
            self.base_index += 1;
            self.base_term = e.term;
            let sink = if leader && self.base_index >= effects_from { Some(&mut *fx) } else { None };
            self.machine.apply(&e, sink);
        }
    }

    // ---- messages ----

    pub fn handle(&mut self, from: NodeId, msg: RaftMsg<M>, out: &mut Vec<Out<M>>) {
        match msg {
            RaftMsg::AppendEntries { term, prev_index, prev_term, entries, commit } => {
                self.append_entries(from, term, prev_index, prev_term, entries, commit, out)
            }
            RaftMsg::AppendReply { term, ok, index } => self.append_reply(from, term, ok, index, out),
            RaftMsg::InstallSnapshot { term, snapshot, commit } => {
                self.install_snapshot(from, term, *snapshot, commit, out)
            }
            RaftMsg::PreVote { term, last_index, last_term } => {
                let granted = !self.is_leader()
                    && self.leader.is_none()
                    && term > self.term
                    && self.log_ok(last_index, last_term);
                out.push(Out::Send { to: from, msg: RaftMsg::PreVoteReply { term, granted } });
            }
            RaftMsg::PreVoteReply { term, granted } => {
                if let Role::PreCandidate { votes } = &mut self.role
                    && granted
                    && term == self.term + 1
                    && !votes.contains(&from)
                {
                    votes.push(from);
                    if votes.len() >= self.majority() {
                        self.start_election(out);
                    }
                }
            }
            RaftMsg::RequestVote { term, last_index, last_term } => {
                if term > self.term {
                    self.become_follower(term, None);
                }
                let granted =
                    term == self.term && self.voted_for.is_none_or(|v| v == from) && self.log_ok(last_index, last_term);
                if granted {
                    self.voted_for = Some(from);
                }
                out.push(Out::Send { to: from, msg: RaftMsg::VoteReply { term: self.term, granted } });
            }
            RaftMsg::VoteReply { term, granted } => {
                if term > self.term {
                    self.become_follower(term, None);
                    self.arm(Timeout::Long, out);
                    return;
                }
                if let Role::Candidate { votes } = &mut self.role
                    && granted
                    && term == self.term
                    && !votes.contains(&from)
                {
                    votes.push(from);
                    if votes.len() >= self.majority() {
                        self.become_leader(out);
                    }
                }
            }
            RaftMsg::NodeDown => {
                if self.leader == Some(from) && !self.is_leader() {
                    self.leader = None;
                    self.arm(Timeout::Short, out);
                }
            }
        }
    }

    /// The leader it follows, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Aten reports `node` down. A follower whose leader lives there forgets it and arms the long
    /// timeout, then asks for pre-votes (`ra_server_proc.erl`: `follower(info, {node_event, Node,
    /// down}, ...)` sets the `long` election timeout). Ra keeps the leader's id meanwhile and
    /// grants pre-votes whoever it follows; here a member that knows a leader refuses them, so it
    /// forgets it. A leader ignores the report.
    pub fn leader_node_down(&mut self, node: NodeId, out: &mut Vec<Out<M>>) {
        if !self.is_leader() && self.leader == Some(node) {
            self.leader = None;
            self.arm(Timeout::Long, out);
        }
    }

    /// The election timer of `generation` fired.
    pub fn election_timeout(&mut self, generation: u64, out: &mut Vec<Out<M>>) {
        if generation != self.election_generation || self.is_leader() || self.leader.is_some() {
            return;
        }
        if self.members.len() == 1 {
            self.start_election(out);
            return;
        }
        // Pre-vote: ask whether an election at term + 1 could succeed, without raising the term.
        self.role = Role::PreCandidate { votes: vec![self.id] };
        let (term, last_index, last_term) = (self.term + 1, self.last_index(), self.last_term());
        self.to_others(|| RaftMsg::PreVote { term, last_index, last_term }, out);
        self.arm(Timeout::Long, out);
    }

    fn start_election(&mut self, out: &mut Vec<Out<M>>) {
        self.term += 1;
        self.voted_for = Some(self.id);
        self.role = Role::Candidate { votes: vec![self.id] };
        if self.members.len() == 1 {
            self.become_leader(out);
            return;
        }
        let (term, last_index, last_term) = (self.term, self.last_index(), self.last_term());
        self.to_others(|| RaftMsg::RequestVote { term, last_index, last_term }, out);
        self.arm(Timeout::Medium, out);
    }

    fn become_leader(&mut self, out: &mut Vec<Out<M>>) {
        self.disarm();
        self.leader = Some(self.id);
        self.role = Role::Leader { peers: self.fresh_peers() };
        out.push(Out::BecameLeader);
    }

    /// Appends the new leader's no-op: its commit commits every earlier entry (Raft §8).
    pub fn append_noop(&mut self, at: SimTime, noop: M::Command, out: &mut Vec<Out<M>>) {
        self.propose(at, noop, out);
    }

    /// Follows `from` if its term is current; false if the message is from a stale leader.
    fn accept_leader(&mut self, from: NodeId, term: Term, out: &mut Vec<Out<M>>) -> bool {
        if term < self.term {
            let index = self.base_index;
            out.push(Out::Send { to: from, msg: RaftMsg::AppendReply { term: self.term, ok: false, index } });
            return false;
        }
        self.become_follower(term, Some(from));
        self.disarm();
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn append_entries(
        &mut self,
        from: NodeId,
        term: Term,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry<M::Command>>,
        commit: Index,
        out: &mut Vec<Out<M>>,
    ) {
        if !self.accept_leader(from, term, out) {
            return;
        }
        let refuse = |me: &Self, index: Index, out: &mut Vec<Out<M>>| {
            out.push(Out::Send { to: from, msg: RaftMsg::AppendReply { term: me.term, ok: false, index } });
        };
        if prev_index > self.last_index() {
            return refuse(self, self.last_index(), out);
        }
        if prev_index >= self.base_index && self.term_at(prev_index) != Some(prev_term) {
            // Our entries after the applied (committed) ones may be from a deposed leader.
            return refuse(self, self.base_index, out);
        }
        let matched = prev_index + entries.len() as u64;
        let mut discarded = Vec::new();
        for (k, e) in entries.into_iter().enumerate() {
            let i = prev_index + 1 + k as u64;
            if i <= self.base_index {
                continue; // applied, hence committed: the same entry
            }
            if i <= self.last_index() {
                if self.term_at(i) == Some(e.term) {
                    continue;
                }
                let keep = (i - self.base_index - 1) as usize;
                discarded.extend(self.log.drain(keep..));
            }
            self.log.push_back(e);
        }
        if !discarded.is_empty() {
            out.push(Out::Discarded(discarded));
        }
        self.commit = self.commit.max(commit.min(matched));
        out.push(Out::Send { to: from, msg: RaftMsg::AppendReply { term: self.term, ok: true, index: matched } });
    }

    fn install_snapshot(&mut self, from: NodeId, term: Term, snap: Snapshot<M>, commit: Index, out: &mut Vec<Out<M>>) {
        if !self.accept_leader(from, term, out) {
            return;
        }
        let last = snap.index + snap.entries.len() as u64;
        if last > self.base_index {
            // Keep nothing of ours that the leader's log does not hold, entry for entry.
            let theirs = |i: Index| -> Option<Term> {
                if i == snap.index {
                    Some(snap.term)
                } else if i > snap.index && i <= last {
                    Some(snap.entries[(i - snap.index - 1) as usize].term)
                } else {
                    None
                }
            };
            let discarded: Vec<Entry<M::Command>> = self
                .log
                .iter()
                .enumerate()
                .filter(|(k, e)| theirs(self.base_index + 1 + *k as u64) != Some(e.term))
                .map(|(_, e)| e.clone())
                .collect();
            if !discarded.is_empty() {
                out.push(Out::Discarded(discarded));
            }
            self.machine = snap.machine;
            self.base_index = snap.index;
            self.base_term = snap.term;
            self.log = snap.entries.into();
            self.commit = self.commit.max(snap.index).max(commit.min(last));
        }
        let index = self.last_index();
        out.push(Out::Send { to: from, msg: RaftMsg::AppendReply { term: self.term, ok: true, index } });
    }

    fn append_reply(&mut self, from: NodeId, term: Term, ok: bool, index: Index, out: &mut Vec<Out<M>>) {
        if term > self.term {
            self.become_follower(term, None);
            self.arm(Timeout::Long, out);
            return;
        }
        let last = self.last_index();
        let base = self.base_index;
        let Role::Leader { peers } = &mut self.role else { return };
        let Some(i) = peers.iter().position(|p| p.node == from) else { return };
        let p = &mut peers[i];
        if ok {
            p.matched = p.matched.max(index);
            p.next = p.next.max(index + 1);
            p.repaired_from = None;
            self.advance_commit();
        } else if p.repaired_from != Some(index) {
            p.repaired_from = Some(index);
            // Re-send from where the follower agrees; if we no longer keep that entry (we applied
            // it), `next <= base_index` makes send_to_peer send our state instead.
            p.next = if index < base { base } else { (index + 1).min(last + 1) };
            self.send_to_peer(i, out);
        }
    }

    // ---- crash and restart ----

    /// The node crashed: volatile state is lost; term, vote, log and applied state are on disk.
    pub fn crash(&mut self) {
        self.role = Role::Follower;
        self.leader = None;
        self.disarm();
    }

    /// The node restarted: a follower that knows no leader yet. It waits the long timeout before a
    /// pre-vote, by which time a live leader's tick has usually found it.
    pub fn restart(&mut self, out: &mut Vec<Out<M>>) {
        self.role = Role::Follower;
        self.leader = None;
        self.commit = self.commit.max(self.base_index);
        self.arm(Timeout::Long, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter machine: the state is the sum of the applied commands.
    #[derive(Clone, Debug, Default, PartialEq)]
    struct Sum(Vec<u64>);

    impl Machine for Sum {
        type Command = u64;
        type Effect = u64;
        fn apply(&mut self, e: &Entry<u64>, fx: Option<&mut Vec<u64>>) {
            self.0.push(e.cmd);
            if let Some(fx) = fx {
                fx.push(e.cmd);
            }
        }
    }

    /// Members 0, 1, 2 (leader 0) and a network that delivers in send order; `down` nodes drop
    /// everything sent to or from them.
    struct Net {
        m: Vec<Member<Sum>>,
        down: Vec<bool>,
        queue: VecDeque<(NodeId, NodeId, RaftMsg<Sum>)>,
        timers: Vec<(NodeId, u64)>,
        leader_changes: u32,
        effects: Vec<u64>,
        effects_done: Index,
    }

    impl Net {
        fn new() -> Self {
            let ids = vec![0, 1, 2];
            Net {
                m: ids.iter().map(|&i| Member::new(i, ids.clone(), Sum::default(), 0)).collect(),
                down: vec![false; 3],
                queue: VecDeque::new(),
                timers: vec![],
                leader_changes: 0,
                effects: vec![],
                effects_done: 0,
            }
        }

        fn take(&mut self, from: NodeId, out: Vec<Out<Sum>>) {
            for o in out {
                match o {
                    Out::Send { to, msg } => {
                        if !self.down[from as usize] && !self.down[to as usize] {
                            self.queue.push_back((from, to, msg));
                        }
                    }
                    Out::ArmElection { generation, .. } => self.timers.push((from, generation)),
                    Out::BecameLeader => {
                        self.leader_changes += 1;
                        let mut o = vec![];
                        self.m[from as usize].append_noop(SimTime(0), 0, &mut o);
                        self.take(from, o);
                    }
                    Out::Discarded(_) => {}
                }
            }
            // Effects fire once per index, whichever leader applies it first (see RabbitModel).
            let mut fx = vec![];
            self.m[from as usize].apply(self.effects_done + 1, &mut fx);
            self.effects.extend(fx);
            if self.m[from as usize].is_leader() {
                self.effects_done = self.effects_done.max(self.m[from as usize].applied_index());
            }
        }

        fn run(&mut self) {
            while let Some((from, to, msg)) = self.queue.pop_front() {
                if self.down[to as usize] {
                    continue;
                }
                let mut out = vec![];
                self.m[to as usize].handle(from, msg, &mut out);
                self.take(to, out);
            }
        }

        fn propose(&mut self, node: NodeId, cmd: u64) -> bool {
            let mut out = vec![];
            let ok = self.m[node as usize].propose(SimTime(0), cmd, &mut out);
            self.take(node, out);
            self.run();
            ok
        }

        fn crash(&mut self, node: NodeId) {
            self.down[node as usize] = true;
            self.m[node as usize].crash();
            for to in 0..3u16 {
                if to != node && !self.down[to as usize] {
                    self.queue.push_back((node, to, RaftMsg::NodeDown));
                }
            }
            self.run();
        }

        fn restart(&mut self, node: NodeId) {
            self.down[node as usize] = false;
            let mut out = vec![];
            self.m[node as usize].restart(&mut out);
            self.take(node, out);
        }

        /// Fires every armed election timer once, in arming order.
        fn fire_timers(&mut self) {
            for (node, generation) in std::mem::take(&mut self.timers) {
                if self.down[node as usize] {
                    continue;
                }
                let mut out = vec![];
                self.m[node as usize].election_timeout(generation, &mut out);
                self.take(node, out);
                self.run();
            }
        }

        fn tick(&mut self, node: NodeId) {
            let down = self.down.clone();
            let mut out = vec![];
            self.m[node as usize].tick(|n| !down[n as usize], &mut out);
            self.take(node, out);
            self.run();
        }
    }

    #[test]
    fn an_entry_commits_on_a_majority_and_applies_everywhere_in_order() {
        let mut n = Net::new();
        n.crash(2);
        assert!(n.propose(0, 5));
        assert!(n.propose(0, 7));
        assert_eq!(n.m[0].commit_index(), 2, "leader + one follower is a majority of 3");
        assert_eq!(n.effects, vec![5, 7], "the leader reports each applied entry once");
        n.tick(0); // carries the commit index to follower 1
        assert_eq!(n.m[1].machine.0, vec![5, 7]);
        assert!(!n.propose(1, 9), "a follower does not accept commands");
    }

    #[test]
    fn without_a_majority_nothing_commits_until_a_member_returns_and_catches_up() {
        let mut n = Net::new();
        assert!(n.propose(0, 1));
        n.crash(1);
        n.crash(2);
        assert!(n.propose(0, 2));
        assert!(n.propose(0, 3));
        assert_eq!(n.m[0].commit_index(), 1, "the leader alone cannot commit");
        assert_eq!(n.effects, vec![1]);
        n.restart(2);
        n.tick(0);
        assert_eq!(n.m[0].commit_index(), 3);
        assert_eq!(n.effects, vec![1, 2, 3]);
        n.tick(0);
        assert_eq!(n.m[2].machine.0, vec![1, 2, 3], "the returning member caught up");
    }

    #[test]
    fn a_new_leader_has_the_longest_log_and_a_returning_member_cannot_depose_it() {
        let mut n = Net::new();
        // Follower 2 misses entry 2 (it is down), follower 1 gets it; then the leader dies.
        assert!(n.propose(0, 1));
        n.down[2] = true;
        assert!(n.propose(0, 2));
        n.down[2] = false;
        n.crash(0);
        assert_eq!(n.m[1].last_index(), 2);
        assert_eq!(n.m[2].last_index(), 1);
        n.fire_timers();
        assert!(n.m[1].is_leader(), "only the member with the longest log can win");
        assert!(!n.m[2].is_leader());
        assert_eq!(n.m[1].term(), 2);
        assert!(n.propose(1, 3));
        assert_eq!(n.effects, vec![1, 2, 0, 3], "entry 2 commits with the new leader's no-op");
        // The old leader returns: a pre-vote finds a live leader and is refused.
        n.restart(0);
        n.fire_timers();
        assert!(n.m[1].is_leader());
        assert_eq!(n.m[1].term(), 2, "no term was raised");
        n.tick(1);
        n.tick(1);
        assert_eq!(n.m[0].machine.0, vec![1, 2, 0, 3]);
        assert_eq!(n.leader_changes, 1);
    }

    #[test]
    fn a_follower_behind_the_leaders_applied_state_gets_a_snapshot() {
        let mut n = Net::new();
        n.crash(2);
        for c in 1..=5 {
            n.propose(0, c);
        }
        n.restart(2);
        n.timers.clear();
        n.tick(0);
        n.tick(0);
        assert_eq!(n.m[2].machine.0, vec![1, 2, 3, 4, 5]);
        assert_eq!(n.m[2].last_index(), 5);
    }
}
