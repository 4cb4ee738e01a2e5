//! The brokers' replication, a node kind (issue 16): each follower's fetcher from each leader
//! (`ReplicaFetcherThread`, `num.replica.fetchers` = 1), the leader's side of a follower's fetch
//! (parked for `replica.fetch.wait.max.ms`, answered as soon as a record is there:
//! `replica.fetch.min.bytes` = 1), and the leader's ISR bookkeeping per partition
//! (`Partition.updateFollowerFetchState`, `maybeExpandIsr`, `maybeShrinkIsr`).
//!
//! The handlers write to a sink that sees ([`Sees`]: a fetch to a dead leader is refused at
//! once, as its port is closed). What they read, the partitions' replicas and logs, comes in an
//! [`Around`]. What a moved HW or a shrunk ISR sets off (consumers' parked fetches, delayed
//! produces) is the harness's: the per-partition steps ([`fetch_at_leader`], [`shrink_isr`])
//! return it, and the harness acts on it before the next partition, whose HW a consumer's
//! response or a delayed produce may read.

use super::costs::Costs;
use super::replica::{BrokerId, Replicas, bit};
use super::{Msg, Timer};
use crate::history::Step;
use crate::models::log::{Offset, Partition};
use crate::scenario::defaults as d;
use crate::time::SimTime;
use crate::world::out::Sees;
use crate::world::{Deadline, Fired};

// A follower's fetch is answered as soon as any record is there: `replica.fetch.min.bytes` = 1.
const _: () = assert!(d::KAFKA_REPLICA_FETCH_MIN_BYTES == 1);

/// A fetch response's parts: per partition, the leader epoch and the offset up to which the
/// follower may append.
pub(super) type ReplicaParts = Vec<(u32, u32, Offset)>;

/// One follower's fetcher from one leader, and that leader's view of its parked fetch.
#[derive(Debug, Default, Clone)]
pub(super) struct Fetcher {
    /// Follower side: a fetch (or its response) is on its way or parked.
    active: bool,
    /// Follower side, with faults: `replica.socket.timeout.ms` of the fetch on its way.
    timeout: Deadline,
    session: u32,
    /// Leader side: the session of the fetch parked here (`replica.fetch.wait.max.ms`).
    parked_session: u32,
    parked: Deadline,
}

/// What the handlers read (and a fetch response writes: the follower's LEO).
pub(super) struct Around<'a> {
    pub repl: &'a mut [Replicas],
    pub partitions: &'a [Partition],
    /// The brokers' costs (a calibrated profile): a response's bytes include the v0 framing.
    pub costs: Option<&'a Costs>,
}

/// Every broker's fetchers, and the leaders' views of the fetches parked at them.
pub(super) struct Replication {
    brokers: u32,
    /// The scenario has faults: a fetch may be lost in a cut link, so each is watched for
    /// `replica.socket.timeout.ms` (without faults no fetch is ever lost: no timer).
    faulty: bool,
    /// Per (follower, leader), index `follower * brokers + leader`.
    fetchers: Vec<Fetcher>,
    /// Emptied response parts, reused instead of allocating per response.
    pool: Vec<ReplicaParts>,
}

/// What the leader saw of a follower's fetch for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FetchSeen {
    /// The leader has records past the follower's LEO: the fetch is answered at once.
    pub data: bool,
    /// The HW moved.
    pub hw_moved: bool,
}

/// Broker `b` has a replica of partition `r`.
fn hosts(r: &Replicas, b: BrokerId) -> bool {
    r.index_of(b).is_some()
}

/// Broker `f` follows some partition that `l` leads.
fn follows(repl: &[Replicas], f: BrokerId, l: BrokerId) -> bool {
    f != l && repl.iter().any(|r| r.leader == Some(l) && hosts(r, f))
}

/// The leader `l` of partition `r` (log `log`) gets follower `f`'s fetch: its fetch offset is its
/// LEO, which may bring it back into the ISR and move the HW. `None` if `l` does not lead this
/// partition or `f` does not follow it.
// Inlined into the harness's loop over partitions, a cold function that would otherwise call it
// for every partition, most of which `l` does not lead.
#[inline(always)]
pub(super) fn fetch_at_leader(
    r: &mut Replicas,
    log: &Partition,
    f: BrokerId,
    l: BrokerId,
    now: SimTime,
) -> Option<FetchSeen> {
    if r.leader != Some(l) {
        return None;
    }
    let i = r.index_of(f)?;
    let end = log.end_offset();
    // Out of range below the log start (retention): the follower starts over there.
    r.leo[i] = r.leo[i].max(log.start_offset);
    r.follower_fetched(i, now, end);
    if !r.in_isr(f) && r.follower_in_sync(i) {
        // `maybeExpandIsr`: caught up to the HW (the controller approves at once).
        r.isr |= bit(f);
    }
    let data = end > r.leo[i];
    Some(FetchSeen { data, hw_moved: r.update_hw(end) })
}

/// `isr-expiration` on leader `l` for partition `r`, whose log ends at `end`: the followers that
/// have not caught up within `replica.lag.time.max.ms` leave the ISR. Returns whether it shrank.
#[inline(always)]
pub(super) fn shrink_isr(r: &mut Replicas, l: BrokerId, now: SimTime, end: Offset) -> bool {
    if r.leader != Some(l) {
        return false;
    }
    let mut shrunk = false;
    for i in 0..r.brokers.len() {
        let b = r.brokers[i];
        if b != l && r.in_isr(b) && !r.caught_up(i, now, end, d::KAFKA_REPLICA_LAG_TIME_MAX) {
            r.isr &= !bit(b);
            shrunk = true;
        }
    }
    shrunk
}

impl Replication {
    pub(super) fn new(brokers: u32, faulty: bool) -> Self {
        let n = brokers as usize;
        Replication { brokers, faulty, fetchers: vec![Fetcher::default(); n * n], pool: Vec::new() }
    }

    fn index(&self, follower: BrokerId, leader: BrokerId) -> usize {
        follower as usize * self.brokers as usize + leader as usize
    }

    /// An emptied response's parts, for the next response.
    pub(super) fn recycle(&mut self, mut parts: ReplicaParts) {
        parts.clear();
        self.pool.push(parts);
    }

    /// Every live broker fetches from each broker that leads a partition it follows
    /// (`ReplicaFetcherManager.addFetcherForPartitions`).
    pub(super) fn ensure(&mut self, now: SimTime, repl: &[Replicas], fx: &mut impl Sees<Msg, Timer, Step>) {
        for f in 0..self.brokers as BrokerId {
            if !fx.is_up(f) {
                continue;
            }
            for l in 0..self.brokers as BrokerId {
                let i = self.index(f, l);
                if l == f || self.fetchers[i].active || !follows(repl, f, l) {
                    continue;
                }
                self.fetchers[i].session += 1;
                self.send_fetch(now, f, l, fx);
            }
        }
    }

    /// A fetch to a dead leader is refused at once (its port is closed); one lost in a cut link
    /// waits for `replica.socket.timeout.ms`, then the follower fetches again.
    fn send_fetch(&mut self, now: SimTime, f: BrokerId, l: BrokerId, fx: &mut impl Sees<Msg, Timer, Step>) {
        let i = self.index(f, l);
        let session = self.fetchers[i].session;
        let sent = fx.send_now(f, l, Msg::ReplicaFetch { session });
        let fetcher = &mut self.fetchers[i];
        fetcher.active = sent || (self.faulty && fx.is_up(l));
        if self.faulty
            && fetcher.active
            && let Some(at) = fetcher.timeout.set(now.after(d::KAFKA_REPLICA_SOCKET_TIMEOUT))
        {
            fx.timer_at(f, at, Timer::ReplicaFetchTimeout { leader: l });
        }
    }

    /// `replica.socket.timeout.ms` passed since follower `f` fetched from `l` (the fetch or its
    /// answer was lost in a cut link): a new fetch session.
    pub(super) fn fetch_timed_out(
        &mut self,
        now: SimTime,
        f: BrokerId,
        l: BrokerId,
        repl: &[Replicas],
        fx: &mut impl Sees<Msg, Timer, Step>,
    ) {
        let i = self.index(f, l);
        match self.fetchers[i].timeout.fired(now) {
            Fired::Due => {
                if self.fetchers[i].active {
                    self.fetchers[i].active = false;
                    self.fetchers[i].session += 1;
                    if follows(repl, f, l) {
                        self.send_fetch(now, f, l, fx);
                    }
                }
            }
            Fired::Rearm(at) => fx.timer_at(f, at, Timer::ReplicaFetchTimeout { leader: l }),
            Fired::Nothing => {}
        }
    }

    /// The leader `l` has seen follower `f`'s fetch of this session on every partition
    /// ([`fetch_at_leader`]): it answers at once if it has records to send (`data`), otherwise
    /// parks it for `replica.fetch.wait.max.ms`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fetch_seen(
        &mut self,
        now: SimTime,
        f: BrokerId,
        l: BrokerId,
        session: u32,
        data: bool,
        around: &Around,
        fx: &mut impl Sees<Msg, Timer, Step>,
    ) {
        let i = self.index(f, l);
        self.fetchers[i].parked_session = session;
        if data {
            self.respond(f, l, around, fx);
        } else if let Some(at) = self.fetchers[i].parked.set(now.after(d::KAFKA_REPLICA_FETCH_WAIT_MAX)) {
            fx.timer_at(l, at, Timer::ReplicaFetchExpired { follower: f });
        }
    }

    /// New records on partition `p`: followers whose fetch is parked at the leader get them now
    /// (`replica.fetch.min.bytes` = 1).
    pub(super) fn wake_followers(&mut self, p: usize, around: &Around, fx: &mut impl Sees<Msg, Timer, Step>) {
        let r = &around.repl[p];
        let Some(l) = r.leader else { return };
        for &f in &r.brokers {
            if f != l && self.fetchers[self.index(f, l)].parked.due().is_some() {
                self.respond(f, l, around, fx);
            }
        }
    }

    /// Follower `f`'s fetch parked at leader `l` waited `replica.fetch.wait.max.ms`: answered,
    /// empty.
    pub(super) fn parked_expired(
        &mut self,
        now: SimTime,
        l: BrokerId,
        f: BrokerId,
        around: &Around,
        fx: &mut impl Sees<Msg, Timer, Step>,
    ) {
        let i = self.index(f, l);
        match self.fetchers[i].parked.fired(now) {
            Fired::Due => self.respond(f, l, around, fx),
            Fired::Rearm(at) => fx.timer_at(l, at, Timer::ReplicaFetchExpired { follower: f }),
            Fired::Nothing => {}
        }
    }

    /// The leader answers follower `f`'s fetch: per partition it leads and `f` follows, the
    /// records after `f`'s LEO, up to `replica.fetch.max.bytes`.
    fn respond(&mut self, f: BrokerId, l: BrokerId, around: &Around, fx: &mut impl Sees<Msg, Timer, Step>) {
        let mut parts = self.pool.pop().unwrap_or_default();
        let mut bytes = 0;
        for (p, r) in around.repl.iter().enumerate() {
            let Some(i) = r.index_of(f) else { continue };
            if r.leader != Some(l) {
                continue;
            }
            let log = &around.partitions[p];
            if r.leo[i] < log.end_offset() {
                let to = log.fetch_end(r.leo[i], log.end_offset(), d::KAFKA_REPLICA_FETCH_MAX_BYTES);
                if let Some(k) = around.costs {
                    bytes += log.bytes_from(r.leo[i], to, u64::MAX) + k.v0_framing(to - r.leo[i]);
                }
                parts.push((p as u32, r.epoch, to));
            }
        }
        let i = self.index(f, l);
        self.fetchers[i].parked.clear();
        let session = self.fetchers[i].parked_session;
        fx.send(l, f, Msg::ReplicaFetchResponse { session, parts, bytes });
    }

    /// The follower appends what the leader sent (if it is still the leader of that epoch) and
    /// fetches again at once, while it follows anything `l` leads. A response of an older session
    /// (the fetcher timed out or its leader moved since) is void.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn response_arrives(
        &mut self,
        now: SimTime,
        l: BrokerId,
        f: BrokerId,
        session: u32,
        mut parts: ReplicaParts,
        repl: &mut [Replicas],
        fx: &mut impl Sees<Msg, Timer, Step>,
    ) {
        let i = self.index(f, l);
        if !self.fetchers[i].active || self.fetchers[i].session != session {
            self.recycle(parts);
            return;
        }
        for (p, epoch, to) in parts.drain(..) {
            let r = &mut repl[p as usize];
            if r.epoch != epoch || r.leader != Some(l) {
                continue;
            }
            let k = r.index_of(f).expect("a follower of this partition");
            r.leo[k] = r.leo[k].max(to);
            fx.record(Step::Replicated { partition: p, broker: f, end: r.leo[k] });
        }
        self.pool.push(parts);
        if follows(repl, f, l) {
            self.send_fetch(now, f, l, fx);
        } else {
            self.fetchers[i].active = false;
            self.fetchers[i].timeout.clear();
        }
    }

    /// Broker `b`'s process died. Its own fetchers go (their fetches parked at live leaders are
    /// cleared), and so do the fetches of followers parked at it (they hear the connection close
    /// and fetch again once the controller names a new leader). Deadlines whose timers lived on
    /// `b` are reset, not merely cleared: a cleared deadline still expects its pending timer.
    pub(super) fn broker_crashed(&mut self, b: BrokerId) {
        for other in 0..self.brokers as BrokerId {
            let own = self.index(b, other);
            self.fetchers[own].active = false;
            self.fetchers[own].parked.clear();
            self.fetchers[own].timeout = Deadline::default();
            let at_b = self.index(other, b);
            self.fetchers[at_b].active = false;
            self.fetchers[at_b].parked = Deadline::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;
    use crate::workload::{Message, StoredMessage};
    use crate::world::out::{Effect, Seeing};

    type World = Seeing<Msg, Timer, Step>;

    /// Partition 0 of two brokers with two replicas: broker 0 leads, broker 1 follows.
    fn pair() -> (Replication, Vec<Replicas>, Vec<Partition>) {
        (Replication::new(2, false), vec![Replicas::new(0, 2, 2)], vec![Partition::default()])
    }

    fn append(repl: &mut [Replicas], partitions: &mut [Partition], n: u64, now: SimTime) {
        for _ in 0..n {
            let id = partitions[0].end_offset();
            let r = StoredMessage::new(&Message { id, published_at: now, key: None, bytes: 100 });
            partitions[0].append(now, r, u64::MAX, SimDuration::from_secs(86_400));
        }
        // The leader's own LEO, as the harness's `append` sets it.
        repl[0].leo[0] = partitions[0].end_offset();
    }

    fn secs(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    /// The effects as short strings, in order (the buffer is emptied).
    fn seen(w: &mut World) -> Vec<String> {
        w.out
            .take_effects()
            .map(|e| match e {
                Effect::Send { from, to, msg: Msg::ReplicaFetch { session } } => {
                    format!("fetch {from}->{to} session {session}")
                }
                Effect::Send { from, to, msg: Msg::ReplicaFetchResponse { session, parts, .. } } => {
                    format!("response {from}->{to} session {session} {parts:?}")
                }
                Effect::TimerAt { node, at, timer: Timer::ReplicaFetchExpired { follower } } => {
                    format!("parked fetch of {follower} expires on {node} at {} ms", at.0 / 1_000_000)
                }
                Effect::TimerAt { node, at, timer: Timer::ReplicaFetchTimeout { leader } } => {
                    format!("timeout of {node}'s fetch from {leader} at {} s", at.0 / 1_000_000_000)
                }
                Effect::Record(Step::Replicated { partition, broker, end }) => {
                    format!("replicated {partition} on {broker} to {end}")
                }
                e => panic!("unexpected {e:?}"),
            })
            .collect()
    }

    /// A follower's fetch finds nothing new: the leader parks it for `replica.fetch.wait.max.ms`
    /// (500 ms). A record appended at 100 ms answers it at once, with the offset up to which the
    /// follower may append (1) at epoch 0; the parked timer then finds nothing to do.
    #[test]
    fn a_parked_follower_fetch_is_answered_when_a_record_is_appended() {
        let (mut rep, mut repl, mut partitions) = pair();
        let mut w = World::default();
        rep.ensure(SimTime::ZERO, &repl, &mut w);
        assert_eq!(seen(&mut w), ["fetch 1->0 session 1"]);
        let fetched = fetch_at_leader(&mut repl[0], &partitions[0], 1, 0, SimTime::ZERO);
        assert_eq!(fetched, Some(FetchSeen { data: false, hw_moved: false }));
        let around = Around { repl: &mut repl, partitions: &partitions, costs: None };
        rep.fetch_seen(SimTime::ZERO, 1, 0, 1, false, &around, &mut w);
        assert_eq!(seen(&mut w), ["parked fetch of 1 expires on 0 at 500 ms"]);
        append(&mut repl, &mut partitions, 1, SimTime(100_000_000));
        let around = Around { repl: &mut repl, partitions: &partitions, costs: None };
        rep.wake_followers(0, &around, &mut w);
        assert_eq!(seen(&mut w), ["response 0->1 session 1 [(0, 0, 1)]"]);
        // Nothing is parked any more: another append wakes no one, the timer answers nothing.
        rep.wake_followers(0, &around, &mut w);
        rep.parked_expired(SimTime(500_000_000), 0, 1, &around, &mut w);
        assert!(seen(&mut w).is_empty());
    }

    /// The response reaches the follower: its LEO moves to 1 (a `Replicated` step) and it fetches
    /// again at once, in the same session. A response of another session (its fetcher started
    /// over since) is void: no step, no fetch.
    #[test]
    fn a_response_moves_the_followers_leo_and_it_fetches_again() {
        let (mut rep, mut repl, mut partitions) = pair();
        let mut w = World::default();
        rep.ensure(SimTime::ZERO, &repl, &mut w);
        append(&mut repl, &mut partitions, 1, SimTime::ZERO);
        w.out.clear();
        rep.response_arrives(secs(1), 0, 1, 1, vec![(0, 0, 1)], &mut repl, &mut w);
        assert_eq!(seen(&mut w), ["replicated 0 on 1 to 1", "fetch 1->0 session 1"]);
        assert_eq!(repl[0].leo[1], 1);
        rep.response_arrives(secs(1), 0, 1, 7, vec![(0, 0, 2)], &mut repl, &mut w);
        assert!(seen(&mut w).is_empty());
        assert_eq!(repl[0].leo[1], 1, "a void response appends nothing");
    }

    /// With faults, a fetch is watched for `replica.socket.timeout.ms` (30 s): lost in a cut link,
    /// it times out and the follower fetches again in a new session, whose timer is set anew;
    /// the old session's late response is void. A fetch to a dead leader is refused at once:
    /// no fetcher is left waiting for it, and no timer.
    #[test]
    fn with_faults_a_lost_fetch_times_out_and_a_dead_leader_refuses_at_once() {
        let (_, repl, _) = pair();
        let mut rep = Replication::new(2, true);
        let mut w = World::default();
        rep.ensure(SimTime::ZERO, &repl, &mut w);
        assert_eq!(seen(&mut w), ["fetch 1->0 session 1", "timeout of 1's fetch from 0 at 30 s"]);
        rep.fetch_timed_out(secs(30), 1, 0, &repl, &mut w);
        assert_eq!(seen(&mut w), ["fetch 1->0 session 2", "timeout of 1's fetch from 0 at 60 s"]);
        let mut refused = Replication::new(2, true);
        w.down.push(0);
        refused.ensure(SimTime::ZERO, &repl, &mut w);
        assert!(seen(&mut w).is_empty(), "lost at once, no timer");
        assert!(!refused.fetchers[refused.index(1, 0)].active, "the next `ensure` fetches again");
    }

    /// The HW is the lowest LEO in the ISR. The leader has 5 records; follower 1 fetches at 3:
    /// follower 2 is still at 0, the HW stays 0. Follower 2 fetches at 5: the HW moves to 3
    /// (follower 1's), and follower 2 has nothing to fetch. Follower 1 fetches at 5: the HW is 5.
    #[test]
    fn the_hw_is_the_lowest_leo_in_the_isr() {
        let mut repl = vec![Replicas::new(0, 3, 3)];
        let mut partitions = vec![Partition::default()];
        append(&mut repl, &mut partitions, 5, SimTime::ZERO);
        let r = &mut repl[0];
        r.leo[1] = 3;
        let t = secs(1);
        assert_eq!(fetch_at_leader(r, &partitions[0], 1, 0, t), Some(FetchSeen { data: true, hw_moved: false }));
        assert_eq!(r.hw, 0);
        r.leo[2] = 5;
        assert_eq!(fetch_at_leader(r, &partitions[0], 2, 0, t), Some(FetchSeen { data: false, hw_moved: true }));
        assert_eq!(r.hw, 3);
        r.leo[1] = 5;
        assert_eq!(fetch_at_leader(r, &partitions[0], 1, 0, t), Some(FetchSeen { data: false, hw_moved: true }));
        assert_eq!(r.hw, 5);
        // Broker 1 leads nothing here.
        assert_eq!(fetch_at_leader(r, &partitions[0], 1, 1, t), None);
    }

    /// Follower 1 fetched the whole log at 0 s, then stopped; the leader appended at 1 s. It
    /// caught up last at 0 s, so it stays in the ISR while `replica.lag.time.max.ms` (30 s) has
    /// not passed, and the check after that drops it: the leader is alone and its HW is its LEO.
    /// Fetching the leader's end again (at least the HW and the epoch's start) brings it back.
    #[test]
    fn a_follower_that_stops_fetching_leaves_the_isr_at_the_next_check() {
        let (_, mut repl, mut partitions) = pair();
        let r = &mut repl[0];
        assert_eq!(fetch_at_leader(r, &partitions[0], 1, 0, SimTime::ZERO).map(|s| s.data), Some(false));
        append(&mut repl, &mut partitions, 1, secs(1));
        let r = &mut repl[0];
        assert!(!shrink_isr(r, 0, secs(30), 1), "30 s behind is not more than the limit");
        assert!(!shrink_isr(r, 1, secs(45), 1), "only the leader checks");
        assert!(shrink_isr(r, 0, secs(45), 1));
        assert!(r.leader_alone());
        assert!(r.update_hw(1));
        assert_eq!(r.hw, 1);
        r.leo[1] = 1;
        let back = fetch_at_leader(r, &partitions[0], 1, 0, secs(46));
        assert_eq!(back, Some(FetchSeen { data: false, hw_moved: false }));
        assert!(r.in_isr(1));
        assert!(!shrink_isr(r, 0, secs(60), 1), "caught up: it stays");
    }
}
