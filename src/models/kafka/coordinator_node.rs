//! The group coordinator of the classic protocol as a node of its own: its state is the membership
//! of every group it coordinates (members, generation, rebalance round, sessions) and the initial
//! rebalance delay of a group forming from empty; its handlers take a request or a timer and fill
//! an [`Out`] with what the coordinator does (responses, assignments, timers on itself, notes for
//! the harness). They touch nothing else: what they need from the rest of the model (who holds a
//! partition now, the committed offsets) is passed in, and [`KafkaModel`](super::KafkaModel)
//! applies the `Out` through the world, where the sends pay their costs.
//!
//! A handler that returns `true` says "every member is in: complete the rebalance now"; the harness
//! then calls [`CoordinatorNode::next_generation`] and [`CoordinatorNode::hand_out`] around its
//! own bookkeeping (positions of a group without any, who owns which partition).
//!
//! The consumer protocol (KIP-848) has its coordinator's side here too
//! ([`CoordinatorNode::consumer_heartbeat`], [`CoordinatorNode::targets_changed`]); its members'
//! side is the consumer's (`consumer_protocol.rs`). So has the membership of share groups (KIP-932,
//! [`CoordinatorNode::share_heartbeat`]); their share-partitions live on the partitions' leaders
//! (`share.rs`).

use super::assignor::{range_assign, round_robin_assign, sticky_assign};
use super::group::{CommittedOffsets, Coordinator};
use super::share::simple_assign;
use super::{Msg, Timer};
use crate::history::{GroupIdx, Observation};
use crate::models::log::Offset;
use crate::scenario::Assignor;
use crate::scenario::defaults as d;
use crate::time::{SimDuration, SimTime};
use crate::world::{Deadline, Fired, NodeId, Out};
use std::collections::BTreeMap;

/// The coordinator's effects.
pub type CoordOut = Out<Msg, Timer, Note>;

/// What the coordinator records, in order with its other effects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Note {
    /// An eager rebalance started: every member is to give up every partition, so nobody owns any
    /// from now on (the harness records `PartitionRevoked` for each partition that had an owner).
    RevokeAll { group: GroupIdx },
    /// An observation, recorded as it is.
    Obs(Observation),
    /// KIP-848: every member of the group holds its target again (the harness reports the group's
    /// lag, which the rebalance's end settles).
    Reconciled { group: GroupIdx },
}

/// One group as its coordinator holds it.
#[derive(Debug, Default)]
struct Group {
    members: Coordinator,
    /// The group is forming from empty: the coordinator waits `group.initial.rebalance.delay.ms`,
    /// and again while members keep joining. `Some(joined)`: a delay is pending, and whether a new
    /// member joined during it.
    initial_delay: Option<bool>,
    /// Per consumer index: its node (a restarted consumer keeps its node).
    nodes: Vec<NodeId>,
    /// A share group's membership (KIP-932); empty for the others.
    share: ShareMembers,
}

/// A share group's members as the coordinator holds them.
#[derive(Debug, Default)]
struct ShareMembers {
    /// Member id -> (consumer index, session deadline).
    members: BTreeMap<u64, (u32, Deadline)>,
    /// The group epoch: bumped at every membership change (the target assignment changes).
    epoch: u32,
    /// The members in the coordinator's order, and the epoch it was computed at: a heartbeat looks
    /// its member up here instead of sorting the group (thousands of members).
    order: Vec<(u32, u64)>,
    order_epoch: u32,
}

/// A new generation, decided: its number, its members' consumers in member-id order, the
/// assignor's partitions for each (before a cooperative rebalance holds back the moving ones), and
/// per partition the consumer that held it when it was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub generation: u32,
    pub members: Vec<u32>,
    pub assignment: Vec<Vec<u32>>,
    pub holder: Vec<Option<u32>>,
}

/// The group coordinator (one node, for every group).
#[derive(Debug)]
pub struct CoordinatorNode {
    node: NodeId,
    /// Range or roundrobin: when a rebalance starts, every member gives up every partition.
    eager: bool,
    /// `session.timeout.ms` (or the consumer protocol's `group.consumer.session.timeout.ms`).
    session_timeout: SimDuration,
    partitions: u32,
    assignor: Assignor,
    groups: Vec<Group>,
}

impl CoordinatorNode {
    pub fn new(node: NodeId, eager: bool, session_timeout: SimDuration, partitions: u32, assignor: Assignor) -> Self {
        CoordinatorNode { node, eager, session_timeout, partitions, assignor, groups: Vec::new() }
    }

    /// Adds the next group: its consumers' nodes (by consumer index) and its membership at start.
    pub fn add_group(&mut self, nodes: Vec<NodeId>, members: Coordinator) {
        self.groups.push(Group { members, initial_delay: None, nodes, share: ShareMembers::default() });
    }

    pub fn members(&self, group: GroupIdx) -> &Coordinator {
        &self.groups[group].members
    }

    fn to(&self, group: GroupIdx, consumer: u32) -> NodeId {
        self.groups[group].nodes[consumer as usize]
    }

    /// The member's session now ends `session.timeout.ms` after `now`. A lazily re-armed timer: a
    /// heartbeat schedules nothing unless no timer is pending.
    pub fn arm_session(&mut self, now: SimTime, group: GroupIdx, member: u64, out: &mut CoordOut) {
        let due = now.after(self.session_timeout);
        if let Some(at) = self.groups[group].members.session(member).and_then(|s| s.set(due)) {
            out.timer_at(self.node, at, Timer::SessionExpired { group, member });
        }
    }

    /// A Heartbeat: a member's session is renewed and it hears whether the group is rebalancing.
    /// One the coordinator does not know is told to join again, if `sender` (asked only then)
    /// names the consumer that sent it.
    pub fn heartbeat(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        member: u64,
        sender: impl FnOnce() -> Option<u32>,
        out: &mut CoordOut,
    ) {
        let Some(consumer) = self.groups[group].members.consumer_of(member) else {
            if let Some(consumer) = sender() {
                let resp = Msg::HeartbeatResponse { group, consumer, rebalance: false, unknown: true };
                out.send(self.node, self.to(group, consumer), resp);
            }
            return;
        };
        self.arm_session(now, group, member, out);
        let rebalance = self.groups[group].members.rebalancing;
        out.send(
            self.node,
            self.to(group, consumer),
            Msg::HeartbeatResponse { group, consumer, rebalance, unknown: false },
        );
    }

    /// An OffsetCommit. True if its offsets count: a commit from a member that left, or from an
    /// older generation, is refused (`IllegalGeneration` / `UnknownMemberId`), so a zombie cannot
    /// move the group's offsets. A `commitSync` is answered either way.
    pub fn commit(
        &mut self,
        group: GroupIdx,
        consumer: u32,
        member: u64,
        generation: u32,
        sync: bool,
        out: &mut CoordOut,
    ) -> bool {
        let accepted = self.groups[group].members.accepts_commit(member, generation);
        if sync {
            out.send(self.node, self.to(group, consumer), Msg::CommitResponse { group, consumer });
        }
        accepted
    }

    /// KIP-848, a `ConsumerGroupHeartbeat` from `consumer` as `member`, which owns `owned` with
    /// assignment epoch `acked` applied. A member the coordinator does not know that still claims
    /// an assignment is fenced (`FENCED_MEMBER_EPOCH` / `UNKNOWN_MEMBER_ID`): it lost its
    /// partitions and must join again; one with none joins, and every member gets a new target.
    /// A known member's session is renewed and it is answered with its next assignment (the
    /// partitions with their committed offsets), if any. The harness resolves the positions of a
    /// group without any before a join (see [`CoordinatorNode::joins`]).
    #[allow(clippy::too_many_arguments)]
    pub fn consumer_heartbeat(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        member: u64,
        owned: &[u32],
        acked: u32,
        committed: &CommittedOffsets,
        out: &mut CoordOut,
    ) {
        let to = self.to(group, consumer);
        match self.joins(group, member, acked) {
            Some(false) => {
                let resp =
                    Msg::ConsumerHeartbeatResponse { group, consumer, epoch: 0, partitions: Vec::new(), fenced: true };
                out.send(self.node, to, resp);
                return;
            }
            Some(true) => {
                self.groups[group].members.add(member, consumer);
                self.targets_changed(group, out);
            }
            None => {}
        }
        self.arm_session(now, group, member, out);
        let Some((epoch, parts)) = self.groups[group].members.reconcile(member, owned, acked) else { return };
        let partitions = parts.iter().map(|&p| (p, committed.get(p))).collect();
        out.send(self.node, to, Msg::ConsumerHeartbeatResponse { group, consumer, epoch, partitions, fenced: false });
        self.check_reconciled(group, out);
    }

    /// KIP-848: whether a heartbeat of `member` with assignment epoch `acked` is a join
    /// (`Some(true)`), from a member to fence (`Some(false)`: unknown, yet it claims an
    /// assignment), or from a known member (`None`).
    pub fn joins(&self, group: GroupIdx, member: u64, acked: u32) -> Option<bool> {
        self.groups[group].members.consumer_of(member).is_none().then_some(acked == 0)
    }

    /// KIP-848: the membership changed (a join, a leave, a session's expiry): every member gets a
    /// new target, and the group is "rebalancing" (a chart band) until each holds its own.
    pub fn targets_changed(&mut self, group: GroupIdx, out: &mut CoordOut) {
        let c = &mut self.groups[group].members;
        c.compute_targets(self.partitions);
        if !c.rebalancing {
            c.rebalancing = true;
            out.record(Note::Obs(Observation::Rebalance { group, started: true }));
        }
        self.check_reconciled(group, out);
    }

    fn check_reconciled(&mut self, group: GroupIdx, out: &mut CoordOut) {
        let c = &mut self.groups[group].members;
        if c.rebalancing && c.reconciled() {
            c.rebalancing = false;
            out.record(Note::Obs(Observation::Rebalance { group, started: false }));
            out.record(Note::Reconciled { group });
        }
    }

    /// KIP-932: a share group formed before the run: `members` (member id, consumer index) are in
    /// at group epoch 1. The harness arms their sessions ([`CoordinatorNode::share_arm_session`]).
    pub fn share_form(&mut self, group: GroupIdx, members: &[(u64, u32)]) {
        let sg = &mut self.groups[group].share;
        for &(member, consumer) in members {
            sg.members.insert(member, (consumer, Deadline::default()));
        }
        sg.epoch = 1;
    }

    /// A share member's session now ends `group.share.session.timeout.ms` after `now` (a lazily
    /// re-armed timer, as [`CoordinatorNode::arm_session`]).
    pub fn share_arm_session(&mut self, now: SimTime, group: GroupIdx, member: u64, out: &mut CoordOut) {
        let due = now.after(d::KAFKA_SHARE_SESSION_TIMEOUT);
        if let Some(at) = self.groups[group].share.members.get_mut(&member).and_then(|(_, s)| s.set(due)) {
            out.timer_at(self.node, at, Timer::SessionExpired { group, member });
        }
    }

    /// The partitions the `simple` assignor gives share `member` (none if it is not a member), in
    /// the coordinator's order of members: by consumer index (deterministic; Kafka's follows
    /// member ids). Every membership change bumps the epoch, so the order is recomputed only then.
    pub fn share_assignment(&mut self, group: GroupIdx, member: u64) -> Vec<u32> {
        let sg = &mut self.groups[group].share;
        if sg.order_epoch != sg.epoch {
            sg.order = sg.members.iter().map(|(&m, &(c, _))| (c, m)).collect();
            sg.order.sort_unstable();
            sg.order_epoch = sg.epoch;
        }
        let Some(&(consumer, _)) = sg.members.get(&member) else { return Vec::new() };
        match sg.order.binary_search(&(consumer, member)) {
            Ok(i) => simple_assign(self.partitions, sg.order.len() as u32, i as u32),
            Err(_) => Vec::new(),
        }
    }

    /// KIP-932: whether a `ShareGroupHeartbeat` of `member` at `epoch` is a join (`Some(true)`),
    /// from an unknown member that claims an epoch, to fence (`Some(false)`), or from a member
    /// (`None`).
    pub fn share_joins(&self, group: GroupIdx, member: u64, epoch: u32) -> Option<bool> {
        (!self.groups[group].share.members.contains_key(&member)).then_some(epoch == 0)
    }

    /// KIP-932, a `ShareGroupHeartbeat`: an unknown member at a non-zero epoch is fenced (its
    /// session expired: it joins again); one at epoch 0 joins (the group epoch moves on). A member's
    /// session is renewed and it hears its assignment and the group epoch. True if it was answered
    /// with an assignment (not fenced). The harness initialises the share-partitions before the
    /// group's first join (see [`CoordinatorNode::share_joins`]).
    pub fn share_heartbeat(
        &mut self,
        now: SimTime,
        group: GroupIdx,
        consumer: u32,
        member: u64,
        epoch: u32,
        out: &mut CoordOut,
    ) -> bool {
        let to = self.to(group, consumer);
        match self.share_joins(group, member, epoch) {
            Some(false) => {
                let resp =
                    Msg::ShareHeartbeatResponse { group, consumer, epoch: 0, partitions: Vec::new(), fenced: true };
                out.send(self.node, to, resp);
                return false;
            }
            Some(true) => {
                let sg = &mut self.groups[group].share;
                sg.members.insert(member, (consumer, Deadline::default()));
                sg.epoch += 1;
            }
            None => {}
        }
        self.share_arm_session(now, group, member, out);
        let partitions = self.share_assignment(group, member);
        let epoch = self.groups[group].share.epoch;
        out.send(self.node, to, Msg::ShareHeartbeatResponse { group, consumer, epoch, partitions, fenced: false });
        true
    }

    /// KIP-932: a member leaves (a heartbeat at epoch -1), or its session is over.
    pub fn share_leave(&mut self, group: GroupIdx, member: u64) {
        let sg = &mut self.groups[group].share;
        if sg.members.remove(&member).is_some() {
            sg.epoch += 1;
        }
    }

    /// A share member's session timer fired: the member leaves if its session is over; if it was
    /// renewed since, the timer is set again for its end.
    pub fn share_session_expired(&mut self, now: SimTime, group: GroupIdx, member: u64, out: &mut CoordOut) {
        match self.groups[group].share.members.get_mut(&member).map(|(_, s)| s.fired(now)) {
            Some(Fired::Due) => self.share_leave(group, member),
            Some(Fired::Rearm(at)) => out.timer_at(self.node, at, Timer::SessionExpired { group, member }),
            Some(Fired::Nothing) | None => {}
        }
    }

    /// A JoinGroup: a new member starts a rebalance, and a group forming from empty waits
    /// `group.initial.rebalance.delay.ms` for more. True: complete the rebalance now.
    pub fn join(&mut self, now: SimTime, group: GroupIdx, consumer: u32, member: u64, out: &mut CoordOut) -> bool {
        let g = &mut self.groups[group];
        let from_empty = g.members.is_empty();
        let started = g.members.join(member, consumer);
        self.arm_session(now, group, member, out);
        if started {
            self.rebalance_started(group, out);
        }
        let g = &mut self.groups[group];
        match g.initial_delay {
            Some(ref mut joined) => *joined = true,
            None if from_empty => {
                g.initial_delay = Some(false);
                let round = g.members.round;
                let delay = d::KAFKA_GROUP_INITIAL_REBALANCE_DELAY;
                out.timer_in(self.node, delay, Timer::InitialRebalanceDelay { group, round });
            }
            None => {}
        }
        self.ready(group)
    }

    /// A LeaveGroup: true if it was a member (the harness then acts on its removal).
    pub fn leave(&mut self, group: GroupIdx, member: u64) -> bool {
        self.groups[group].members.remove(member)
    }

    /// A member's session timer fired: true if the session is over and the member removed; if
    /// the session was renewed since, the timer is set again for its end.
    pub fn session_expired(&mut self, now: SimTime, group: GroupIdx, member: u64, out: &mut CoordOut) -> bool {
        // A member that left (or was dropped) has no session: its timer finds nothing.
        match self.groups[group].members.session(member).map(|s| s.fired(now)) {
            Some(Fired::Due) => {
                self.groups[group].members.remove(member);
                true
            }
            Some(Fired::Rearm(at)) => {
                out.timer_at(self.node, at, Timer::SessionExpired { group, member });
                false
            }
            Some(Fired::Nothing) | None => false,
        }
    }

    /// A member left or died (classic protocol): the group rebalances without it. True: complete
    /// the rebalance now (every remaining member is in).
    pub fn member_gone(&mut self, group: GroupIdx, out: &mut CoordOut) -> bool {
        if self.groups[group].members.begin_rebalance() {
            self.rebalance_started(group, out);
        }
        self.ready(group)
    }

    fn rebalance_started(&mut self, group: GroupIdx, out: &mut CoordOut) {
        if self.eager {
            out.record(Note::RevokeAll { group });
        }
        out.record(Note::Obs(Observation::Rebalance { group, started: true }));
        let round = self.groups[group].members.round;
        out.timer_in(self.node, d::KAFKA_MAX_POLL_INTERVAL, Timer::RebalanceTimeout { group, round });
    }

    /// The rebalance timeout of `round`: members that did not rejoin in time are dropped. True:
    /// complete the rebalance now (false if that round is over).
    pub fn rebalance_timeout(&mut self, group: GroupIdx, round: u64) -> bool {
        let g = &mut self.groups[group];
        if !g.members.rebalancing || g.members.round != round {
            return false;
        }
        g.members.drop_unjoined();
        g.initial_delay = None;
        true
    }

    /// `group.initial.rebalance.delay.ms` passed since a group began forming: if members kept
    /// joining, wait once more (as Kafka's `InitialDelayedJoin` does). True: complete the
    /// rebalance now.
    pub fn initial_delay_over(&mut self, group: GroupIdx, round: u64, out: &mut CoordOut) -> bool {
        let g = &mut self.groups[group];
        if g.members.round != round {
            return false;
        }
        match g.initial_delay {
            Some(true) => {
                g.initial_delay = Some(false);
                let delay = d::KAFKA_GROUP_INITIAL_REBALANCE_DELAY;
                out.timer_in(self.node, delay, Timer::InitialRebalanceDelay { group, round });
                false
            }
            Some(false) => {
                g.initial_delay = None;
                g.members.all_joined()
            }
            None => false,
        }
    }

    fn ready(&self, group: GroupIdx) -> bool {
        let g = &self.groups[group];
        g.initial_delay.is_none() && g.members.all_joined()
    }

    /// Every remaining member joined: the next generation and the assignor's assignment.
    /// `holder`: per partition, the consumer whose client holds it now (the cooperative-sticky
    /// assignor keeps partitions where they are).
    pub fn next_generation(&mut self, group: GroupIdx, holder: Vec<Option<u32>>) -> Generation {
        let p = self.partitions;
        let c = &mut self.groups[group].members;
        let ids = c.members_sorted();
        let assignment = match self.assignor {
            Assignor::Range => range_assign(p, ids.len().max(1) as u32),
            Assignor::RoundRobin => round_robin_assign(p, ids.len().max(1) as u32),
            Assignor::CooperativeSticky => {
                let owned: Vec<Vec<u32>> =
                    ids.iter().map(|&(_, c)| (0..p).filter(|&q| holder[q as usize] == Some(c)).collect()).collect();
                sticky_assign(p, &owned)
            }
            Assignor::Uniform => {
                c.compute_targets(p);
                c.take_targets().into_iter().map(|(_, parts)| parts).collect()
            }
        };
        let (generation, members) = c.next_generation();
        Generation { generation, members, assignment, holder }
    }

    /// Hands the generation out: each member's partitions with their committed offsets (as
    /// OffsetFetch returns them). Cooperatively, a partition another member still holds is left
    /// out: that owner revokes it and rejoins, and the next round hands it on. `each` sees every
    /// member's partitions first; then, if `send`, the member is sent its `Assignment` (the
    /// JoinGroup and SyncGroup responses) and the rebalance is over; without `send` (a group formed
    /// before the run) the harness installs the assignment itself.
    pub fn hand_out(
        &self,
        group: GroupIdx,
        next: &Generation,
        committed: &CommittedOffsets,
        send: bool,
        out: &mut CoordOut,
        mut each: impl FnMut(u32, &[(u32, Offset)]),
    ) {
        let generation = next.generation;
        for (i, &consumer) in next.members.iter().enumerate() {
            let parts: Vec<(u32, Offset)> = next.assignment[i]
                .iter()
                .filter(|&&q| self.eager || next.holder[q as usize].is_none_or(|h| h == consumer))
                .map(|&q| (q, committed.get(q)))
                .collect();
            each(consumer, &parts);
            if send {
                let to = self.to(group, consumer);
                out.send(self.node, to, Msg::Assignment { group, consumer, generation, partitions: parts });
            }
        }
        if send {
            out.record(Note::Obs(Observation::Rebalance { group, started: false }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Effect;

    const COORD: NodeId = 9;
    const S: u64 = 1_000_000_000;

    /// A coordinator of one eager (range) group of 4 partitions whose consumers 0, 1, 2 run on
    /// nodes 5, 6, 7, none of them a member yet.
    fn coordinator(assignor: Assignor) -> CoordinatorNode {
        let eager = assignor != Assignor::CooperativeSticky;
        let mut n = CoordinatorNode::new(COORD, eager, d::KAFKA_SESSION_TIMEOUT, 4, assignor);
        n.add_group(vec![5, 6, 7], Coordinator::default());
        n
    }

    /// The effects, written out: `send 9->5 ...`, `timer_in 3s ...`, `record ...`.
    fn show(out: &mut CoordOut) -> Vec<String> {
        let s = out
            .effects()
            .iter()
            .map(|e| match e {
                Effect::Send { from, to, msg } => format!("send {from}->{to} {msg:?}"),
                Effect::SendFromOs { from, to, msg } => format!("os {from}->{to} {msg:?}"),
                Effect::TrySend { from, to, msg } => format!("try {from}->{to} {msg:?}"),
                Effect::TimerIn { node, delay, timer } => format!("timer_in {node} {}s {timer:?}", delay.0 / S),
                Effect::TimerAt { node, at, timer } => format!("timer_at {node} {}s {timer:?}", at.0 / S),
                Effect::Record(n) => format!("record {n:?}"),
                Effect::Cancel(key) => format!("cancel {key:?}"),
            })
            .collect();
        out.clear();
        s
    }

    #[test]
    fn two_members_join_the_initial_delay_passes_and_range_assignments_go_out() {
        let mut c = coordinator(Assignor::Range);
        let mut out = CoordOut::default();
        // Member 10 (consumer 0) joins an empty group at 1 s: a rebalance starts (round 1), and
        // the group waits 3 s for more members.
        assert!(!c.join(SimTime(S), 0, 0, 10, &mut out));
        assert_eq!(
            show(&mut out),
            vec![
                "timer_at 9 46s SessionExpired { group: 0, member: 10 }",
                "record RevokeAll { group: 0 }",
                "record Obs(Rebalance { group: 0, started: true })",
                "timer_in 9 300s RebalanceTimeout { group: 0, round: 1 }",
                "timer_in 9 3s InitialRebalanceDelay { group: 0, round: 1 }",
            ]
        );
        // Member 11 (consumer 1) joins during the delay: only its session, and the delay will
        // be extended.
        assert!(!c.join(SimTime(2 * S), 0, 1, 11, &mut out));
        assert_eq!(show(&mut out), vec!["timer_at 9 47s SessionExpired { group: 0, member: 11 }"]);
        // The first delay ends with a member joined during it: once more.
        assert!(!c.initial_delay_over(0, 1, &mut out));
        assert_eq!(show(&mut out), vec!["timer_in 9 3s InitialRebalanceDelay { group: 0, round: 1 }"]);
        assert!(!c.initial_delay_over(0, 0, &mut out), "a stale round's delay does nothing");
        // The second ends quietly, and both members are in: complete.
        assert!(c.initial_delay_over(0, 1, &mut out));
        assert!(out.is_empty());
        let g = c.next_generation(0, vec![None; 4]);
        assert_eq!((g.generation, &g.members, &g.assignment), (1, &vec![0, 1], &vec![vec![0, 1], vec![2, 3]]));
        let mut committed = CommittedOffsets::new(4);
        committed.commit(2, 40);
        let mut seen = vec![];
        c.hand_out(0, &g, &committed, true, &mut out, |consumer, parts| {
            seen.push((consumer, parts.to_vec()));
        });
        assert_eq!(seen, vec![(0, vec![(0, 0), (1, 0)]), (1, vec![(2, 40), (3, 0)])]);
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->5 Assignment { group: 0, consumer: 0, generation: 1, partitions: [(0, 0), (1, 0)] }",
                "send 9->6 Assignment { group: 0, consumer: 1, generation: 1, partitions: [(2, 40), (3, 0)] }",
                "record Obs(Rebalance { group: 0, started: false })",
            ]
        );
        assert!(!c.members(0).rebalancing);
        // A rebalance timeout of the finished round does nothing.
        assert!(!c.rebalance_timeout(0, 1));
    }

    /// A stable group of two members (consumers 0 and 1, generation 1), sessions armed at 0.
    fn stable() -> (CoordinatorNode, CoordOut) {
        let mut c = coordinator(Assignor::Range);
        c.groups[0].members = Coordinator::stable(vec![(10, 0), (11, 1)]);
        let mut out = CoordOut::default();
        c.next_generation(0, vec![None; 4]);
        c.arm_session(SimTime::ZERO, 0, 10, &mut out);
        c.arm_session(SimTime::ZERO, 0, 11, &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        (c, out)
    }

    #[test]
    fn a_session_that_expires_removes_the_member_and_starts_a_rebalance() {
        let (mut c, mut out) = stable();
        // Member 10 heartbeats at 20 s: its session moves to 65 s, no new timer (one is pending).
        c.heartbeat(SimTime(20 * S), 0, 10, || unreachable!("a member"), &mut out);
        assert_eq!(
            show(&mut out),
            vec!["send 9->5 HeartbeatResponse { group: 0, consumer: 0, rebalance: false, unknown: false }"]
        );
        // At 45 s member 10's timer fires early and re-arms; member 11's session is over.
        assert!(!c.session_expired(SimTime(45 * S), 0, 10, &mut out));
        assert_eq!(show(&mut out), vec!["timer_at 9 65s SessionExpired { group: 0, member: 10 }"]);
        assert!(c.session_expired(SimTime(45 * S), 0, 11, &mut out));
        assert!(out.is_empty());
        assert_eq!(c.members(0).consumer_of(11), None);
        // The harness reports the removal: the group rebalances without it. Member 10 has not
        // rejoined yet, so the rebalance waits.
        assert!(!c.member_gone(0, &mut out));
        assert_eq!(
            show(&mut out),
            vec![
                "record RevokeAll { group: 0 }",
                "record Obs(Rebalance { group: 0, started: true })",
                "timer_in 9 300s RebalanceTimeout { group: 0, round: 1 }",
            ]
        );
        // A late timer of the removed member finds nothing.
        assert!(!c.session_expired(SimTime(65 * S), 0, 11, &mut out));
        assert!(out.is_empty());
        // Member 10 rejoins: it is the only member, so the rebalance completes at once.
        assert!(c.join(SimTime(46 * S), 0, 0, 10, &mut out));
        assert_eq!(show(&mut out), Vec::<String>::new(), "its session timer is still pending");
        let g = c.next_generation(0, vec![None; 4]);
        assert_eq!((g.generation, g.members, g.assignment), (2, vec![0], vec![vec![0, 1, 2, 3]]));
    }

    #[test]
    fn a_heartbeat_during_a_rebalance_answers_rebalance_and_an_unknown_member_is_told_to_rejoin() {
        let (mut c, mut out) = stable();
        assert!(c.leave(0, 11));
        assert!(!c.leave(0, 11), "no longer a member");
        assert!(!c.member_gone(0, &mut out));
        out.clear();
        c.heartbeat(SimTime(S), 0, 10, || unreachable!("a member"), &mut out);
        assert_eq!(
            show(&mut out),
            vec!["send 9->5 HeartbeatResponse { group: 0, consumer: 0, rebalance: true, unknown: false }"]
        );
        // The member that left heartbeats (its heartbeat crossed its LeaveGroup): unknown.
        c.heartbeat(SimTime(S), 0, 11, || Some(1), &mut out);
        assert_eq!(
            show(&mut out),
            vec!["send 9->6 HeartbeatResponse { group: 0, consumer: 1, rebalance: false, unknown: true }"]
        );
        // One whose consumer has moved on to another member id gets no answer.
        c.heartbeat(SimTime(S), 0, 12, || None, &mut out);
        assert!(out.is_empty());
        // The rebalance timeout drops member 10, which did not rejoin, and completes.
        assert!(c.rebalance_timeout(0, 1));
        assert!(c.members(0).is_empty());
    }

    #[test]
    fn commits_count_only_from_members_of_the_current_generation_and_sync_ones_are_answered() {
        let (mut c, mut out) = stable();
        assert!(c.commit(0, 0, 10, 1, false, &mut out));
        assert!(out.is_empty(), "an async commit gets no answer");
        assert!(!c.commit(0, 1, 11, 0, true, &mut out), "an older generation");
        assert!(!c.commit(0, 2, 12, 1, true, &mut out), "not a member");
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->6 CommitResponse { group: 0, consumer: 1 }",
                "send 9->7 CommitResponse { group: 0, consumer: 2 }"
            ]
        );
    }

    #[test]
    fn kip848_a_second_member_gets_its_partitions_only_after_the_first_gave_them_up() {
        // The consumer protocol: sessions of 45 s, the uniform assignor, 4 partitions.
        let mut c = CoordinatorNode::new(COORD, false, d::KAFKA_CONSUMER_SESSION_TIMEOUT, 4, Assignor::Uniform);
        c.add_group(vec![5, 6, 7], Coordinator::default());
        let mut committed = CommittedOffsets::new(4);
        committed.commit(2, 40);
        let mut out = CoordOut::default();
        // 1 s: member 10 (consumer 0) joins with nothing. Its target is all four partitions; nobody
        // holds them, so it gets them at once (epoch 1) and the group holds its targets again.
        assert_eq!(c.joins(0, 10, 0), Some(true));
        c.consumer_heartbeat(SimTime(S), 0, 0, 10, &[], 0, &committed, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "record Obs(Rebalance { group: 0, started: true })",
                "timer_at 9 46s SessionExpired { group: 0, member: 10 }",
                "send 9->5 ConsumerHeartbeatResponse { group: 0, consumer: 0, epoch: 1, partitions: [(0, 0), (1, 0), (2, 40), (3, 0)], fenced: false }",
                "record Obs(Rebalance { group: 0, started: false })",
                "record Reconciled { group: 0 }",
            ]
        );
        // 2 s: member 11 (consumer 1) joins. Sticky targets: 10 keeps 0 and 1, 11 gets 2 and 3,
        // but 10 still holds them: 11 gets nothing yet (epoch 0).
        c.consumer_heartbeat(SimTime(2 * S), 0, 1, 11, &[], 0, &committed, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "record Obs(Rebalance { group: 0, started: true })",
                "timer_at 9 47s SessionExpired { group: 0, member: 11 }",
                "send 9->6 ConsumerHeartbeatResponse { group: 0, consumer: 1, epoch: 0, partitions: [], fenced: false }",
            ]
        );
        // 3 s: member 10, at epoch 1 with all four, is told to give up 2 and 3 (epoch 2). Its
        // session timer is pending, so none is set.
        c.consumer_heartbeat(SimTime(3 * S), 0, 0, 10, &[0, 1, 2, 3], 1, &committed, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->5 ConsumerHeartbeatResponse { group: 0, consumer: 0, epoch: 2, partitions: [(0, 0), (1, 0)], fenced: false }"
            ]
        );
        // 4 s: member 11 asks again before 10 reported: still nothing.
        c.consumer_heartbeat(SimTime(4 * S), 0, 1, 11, &[], 0, &committed, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->6 ConsumerHeartbeatResponse { group: 0, consumer: 1, epoch: 0, partitions: [], fenced: false }"
            ]
        );
        // 5 s: member 10 applied epoch 2 and owns 0 and 1: 2 and 3 are free.
        c.consumer_heartbeat(SimTime(5 * S), 0, 0, 10, &[0, 1], 2, &committed, &mut out);
        assert_eq!(out.len(), 1, "the same assignment, epoch 2, again");
        out.clear();
        // 6 s: member 11 gets them, with their committed offsets (epoch 1): every member holds its
        // target, the rebalance is over and the harness reports the lag.
        c.consumer_heartbeat(SimTime(6 * S), 0, 1, 11, &[], 0, &committed, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->6 ConsumerHeartbeatResponse { group: 0, consumer: 1, epoch: 1, partitions: [(2, 40), (3, 0)], fenced: false }",
                "record Obs(Rebalance { group: 0, started: false })",
                "record Reconciled { group: 0 }",
            ]
        );
        // An unknown member that claims an assignment (epoch 3) is fenced, and not added.
        assert_eq!(c.joins(0, 12, 3), Some(false));
        c.consumer_heartbeat(SimTime(7 * S), 0, 2, 12, &[1], 3, &committed, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->7 ConsumerHeartbeatResponse { group: 0, consumer: 2, epoch: 0, partitions: [], fenced: true }"
            ]
        );
        assert_eq!(c.members(0).consumer_of(12), None);
        // Member 11's timer fires at 47 s, but its heartbeat at 6 s moved its session's end to
        // 51 s: set again. At 51 s the session is over (the harness removes it): new targets, and
        // 10 gets all four back at its next heartbeat, as nobody else holds them.
        assert!(!c.session_expired(SimTime(47 * S), 0, 11, &mut out));
        assert_eq!(show(&mut out), vec!["timer_at 9 51s SessionExpired { group: 0, member: 11 }"]);
        assert!(c.session_expired(SimTime(51 * S), 0, 11, &mut out));
        c.targets_changed(0, &mut out);
        assert_eq!(show(&mut out), vec!["record Obs(Rebalance { group: 0, started: true })"]);
        c.consumer_heartbeat(SimTime(52 * S), 0, 0, 10, &[0, 1], 2, &committed, &mut out);
        let effects = show(&mut out);
        assert!(effects[0].contains("epoch: 3, partitions: [(0, 0), (1, 0), (2, 40), (3, 0)]"), "{effects:?}");
        assert_eq!(
            effects[1..],
            ["record Obs(Rebalance { group: 0, started: false })", "record Reconciled { group: 0 }"]
        );
    }

    #[test]
    fn share_members_join_get_the_simple_assignment_and_are_fenced_once_their_session_is_over() {
        let mut c = coordinator(Assignor::Range);
        let mut out = CoordOut::default();
        // 1 s: member 10 (consumer 0) joins at epoch 0: group epoch 1, a 45 s session, and as the
        // only member all four partitions (`simple`: each partition to ceil(1/4) = 1 member).
        assert_eq!(c.share_joins(0, 10, 0), Some(true));
        assert!(c.share_heartbeat(SimTime(S), 0, 0, 10, 0, &mut out));
        assert_eq!(
            show(&mut out),
            vec![
                "timer_at 9 46s SessionExpired { group: 0, member: 10 }",
                "send 9->5 ShareHeartbeatResponse { group: 0, consumer: 0, epoch: 1, partitions: [0, 1, 2, 3], fenced: false }",
            ]
        );
        // 2 s: member 11 (consumer 1) joins: epoch 2; the second of two members takes the slots
        // ceil(4 * 1 / 2) = 2 to ceil(4 * 2 / 2) = 4: partitions 2 and 3.
        assert!(c.share_heartbeat(SimTime(2 * S), 0, 1, 11, 0, &mut out));
        assert_eq!(
            show(&mut out),
            vec![
                "timer_at 9 47s SessionExpired { group: 0, member: 11 }",
                "send 9->6 ShareHeartbeatResponse { group: 0, consumer: 1, epoch: 2, partitions: [2, 3], fenced: false }",
            ]
        );
        // 3 s: member 10 hears the new epoch and keeps 0 and 1 (no assignment is handed over in
        // steps: share-partitions let several members fetch one partition). Its timer is pending.
        assert!(c.share_heartbeat(SimTime(3 * S), 0, 0, 10, 1, &mut out));
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->5 ShareHeartbeatResponse { group: 0, consumer: 0, epoch: 2, partitions: [0, 1], fenced: false }"
            ]
        );
        // An unknown member at a non-zero epoch is fenced, and not added.
        assert_eq!(c.share_joins(0, 12, 2), Some(false));
        assert!(!c.share_heartbeat(SimTime(3 * S), 0, 2, 12, 2, &mut out));
        assert_eq!(
            show(&mut out),
            vec!["send 9->7 ShareHeartbeatResponse { group: 0, consumer: 2, epoch: 0, partitions: [], fenced: true }"]
        );
        // Member 11 leaves (epoch 3): member 10 gets all four again.
        c.share_leave(0, 11);
        assert_eq!(c.share_assignment(0, 10), vec![0, 1, 2, 3]);
        assert_eq!(c.share_assignment(0, 11), Vec::<u32>::new());
        // Member 10's timer fires at 46 s, but its session runs to 48 s (renewed at 3 s): set again.
        // At 48 s it is over: the member is gone (epoch 4), and its next heartbeat is fenced.
        c.share_session_expired(SimTime(46 * S), 0, 10, &mut out);
        assert_eq!(show(&mut out), vec!["timer_at 9 48s SessionExpired { group: 0, member: 10 }"]);
        c.share_session_expired(SimTime(48 * S), 0, 10, &mut out);
        assert!(out.is_empty());
        assert_eq!(c.share_joins(0, 10, 3), Some(false));
        // It joins again at epoch 0 (same member id): epoch 5, everything.
        assert!(c.share_heartbeat(SimTime(50 * S), 0, 0, 10, 0, &mut out));
        let effects = show(&mut out);
        assert!(effects[1].contains("epoch: 5, partitions: [0, 1, 2, 3]"), "{effects:?}");
    }

    #[test]
    fn a_cooperative_rebalance_holds_back_partitions_another_member_still_holds() {
        let mut c = coordinator(Assignor::CooperativeSticky);
        c.groups[0].members = Coordinator::stable(vec![(10, 0), (11, 1), (12, 2)]);
        let mut out = CoordOut::default();
        // Consumer 0 held everything; 1 and 2 are new. Sticky: 0 keeps 0 and 1 ... the quotas are 2,
        // 1, 1, so 0 keeps 0, 1 and gives up 2, 3, which go to 1 and 2 once 0 has let go.
        let g = c.next_generation(0, vec![Some(0); 4]);
        assert_eq!(g.assignment, vec![vec![0, 1], vec![2], vec![3]]);
        let committed = CommittedOffsets::new(4);
        c.hand_out(0, &g, &committed, true, &mut out, |_, _| {});
        assert_eq!(
            show(&mut out),
            vec![
                "send 9->5 Assignment { group: 0, consumer: 0, generation: 1, partitions: [(0, 0), (1, 0)] }",
                "send 9->6 Assignment { group: 0, consumer: 1, generation: 1, partitions: [] }",
                "send 9->7 Assignment { group: 0, consumer: 2, generation: 1, partitions: [] }",
                "record Obs(Rebalance { group: 0, started: false })",
            ]
        );
        // A member leaving a cooperative group: no revocation of everything.
        assert!(c.leave(0, 12));
        c.member_gone(0, &mut out);
        assert_eq!(
            show(&mut out),
            vec![
                "record Obs(Rebalance { group: 0, started: true })",
                "timer_in 9 300s RebalanceTimeout { group: 0, round: 1 }",
            ]
        );
    }
}
