//! The messages both systems see. Arrival times, keys and sizes come from their own sequential
//! streams; processing time is keyed by (group, message id). Both models build the same
//! [`WorkloadGen`] from the same scenario and seed, so they see the identical workload and a
//! comparison is paired, not two independent noisy runs.

use crate::engine::rng::{self, SimRng, Stream, Zipf};
use crate::scenario::{Arrivals, Dist, Keys, Scenario};
use crate::time::{SimDuration, SimTime};

/// Message ids are assigned in publish order from 0. 40 bits leave room for 10^12 messages.
pub type MessageId = u64;
const ID_BITS: u32 = 40;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// A published message as the producer hands it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub published_at: SimTime,
    /// Index of the key in 0..count, or `None` for a null key.
    pub key: Option<u64>,
    pub bytes: u32,
}

/// What a broker keeps per message: 16 bytes (id and size packed into one word, plus the publish
/// time, which Kafka also keeps as the record's CreateTime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    id_and_bytes: u64,
    pub published_at: SimTime,
}

impl StoredMessage {
    pub fn new(m: &Message) -> Self {
        assert!(
            m.id <= ID_MASK && m.bytes < (1 << 24),
            "message {} of {} bytes does not fit 40 + 24 bits",
            m.id,
            m.bytes
        );
        StoredMessage { id_and_bytes: m.id | ((m.bytes as u64) << ID_BITS), published_at: m.published_at }
    }
    pub fn id(&self) -> MessageId {
        self.id_and_bytes & ID_MASK
    }
    pub fn bytes(&self) -> u64 {
        self.id_and_bytes >> ID_BITS
    }
    /// The same message weighing `bytes` (at most 2^24 - 1): a Kafka record's share of its
    /// compressed batch.
    pub fn with_bytes(self, bytes: u64) -> Self {
        debug_assert!(bytes < (1 << 24));
        StoredMessage { id_and_bytes: (self.id_and_bytes & ID_MASK) | (bytes << ID_BITS), ..self }
    }
}

/// Generates the message sequence of a scenario, one message at a time (O(1) memory).
pub struct WorkloadGen {
    arrivals_rng: SimRng,
    keys_rng: SimRng,
    sizes_rng: SimRng,
    phases: Vec<crate::scenario::Phase>,
    phase: usize,
    arrivals: Arrivals,
    keys: Keys,
    zipf: Option<Zipf>,
    sizes: Dist,
    /// The size of every message when `sizes` is a constant (it draws nothing): computed once.
    constant_bytes: Option<u32>,
    end: SimTime,
    clock: SimTime,
    next_id: MessageId,
}

impl WorkloadGen {
    pub fn new(s: &Scenario) -> Self {
        let zipf = match s.workload.keys {
            Keys::Zipf { count, exponent } => Some(Zipf::new(count, exponent)),
            _ => None,
        };
        WorkloadGen {
            arrivals_rng: rng::stream(s.seed, Stream::Arrivals, 0),
            keys_rng: rng::stream(s.seed, Stream::Keys, 0),
            sizes_rng: rng::stream(s.seed, Stream::Sizes, 0),
            phases: s.workload.phases.clone(),
            phase: 0,
            arrivals: s.workload.arrivals,
            keys: s.workload.keys,
            zipf,
            sizes: s.workload.message_bytes,
            constant_bytes: match s.workload.message_bytes {
                Dist::Constant(v) => Some(Self::bytes_of(v)),
                _ => None,
            },
            end: SimTime(s.duration.0),
            clock: SimTime::ZERO,
            next_id: 0,
        }
    }

    /// The next message, or `None` once publishing time is over.
    pub fn next_message(&mut self) -> Option<Message> {
        let at = self.next_arrival()?;
        let key = match self.keys {
            Keys::None => None,
            Keys::Uniform { count } => Some(rng::below(&mut self.keys_rng, count)),
            // Zipf ranks are 1-based; rank 1 (the hottest key) becomes key 0.
            Keys::Zipf { .. } => self.zipf.as_ref().map(|z| z.sample(&mut self.keys_rng) - 1),
        };
        let bytes = match self.constant_bytes {
            Some(b) => b,
            None => Self::bytes_of(self.sizes.sample(&mut self.sizes_rng)),
        };
        let id = self.next_id;
        self.next_id += 1;
        Some(Message { id, published_at: at, key, bytes })
    }

    /// A sampled size as a whole number of bytes.
    fn bytes_of(sample: f64) -> u32 {
        sample.round().clamp(1.0, crate::scenario::defaults::MAX_MESSAGE_BYTES as f64) as u32
    }

    /// Piecewise-constant rate. For Poisson arrivals, restarting the draw at a phase boundary is
    /// exact because the exponential distribution is memoryless.
    fn next_arrival(&mut self) -> Option<SimTime> {
        loop {
            let phase = self.phases[self.phase];
            let boundary = self.phases.get(self.phase + 1).map_or(self.end, |p| p.at.min(self.end));
            if phase.rate > 0.0 {
                let gap = match self.arrivals {
                    Arrivals::Poisson => rng::exponential(&mut self.arrivals_rng, 1.0 / phase.rate),
                    Arrivals::Constant => 1.0 / phase.rate,
                };
                let candidate = self.clock.after(SimDuration::from_secs_f64(gap));
                if candidate < boundary {
                    self.clock = candidate;
                    return Some(candidate);
                }
            }
            if boundary >= self.end {
                self.clock = self.end;
                return None;
            }
            self.clock = boundary;
            self.phase += 1;
        }
    }
}

/// The producer application's side of the workload: the message due next and when.
pub struct Producer {
    messages: WorkloadGen,
    next: Option<Message>,
}

impl Producer {
    pub fn new(s: &Scenario) -> Self {
        let mut messages = WorkloadGen::new(s);
        let next = messages.next_message();
        Producer { messages, next }
    }

    /// When the next message is due, or `None` once publishing is over.
    pub fn next_at(&self) -> Option<SimTime> {
        self.next.map(|m| m.published_at)
    }

    /// Takes the message due now, and says when the following one is due.
    pub fn take(&mut self) -> Option<(Message, Option<SimTime>)> {
        let msg = self.next.take()?;
        self.next = self.messages.next_message();
        Some((msg, self.next_at()))
    }

    pub fn done(&self) -> bool {
        self.next.is_none()
    }
}

/// The producer (of `producers`, `[workload] producers`) that sends message `id`: producers take
/// the one arrival stream in turn, so each sends every `producers`-th message.
#[inline]
pub fn producer_for(id: MessageId, producers: usize) -> usize {
    (id % producers as u64) as usize
}

/// The AMQP `priority` property each message is published with (`[workload] priorities`): a pure
/// function of the seed and the message id, from its own keyed stream, so that no other draw
/// moves and both systems see the same priorities. Kafka has no priorities: only a RabbitMQ queue
/// declared with `x-max-priority` acts on them; the metrics report latency per priority in both.
#[derive(Clone, Debug, PartialEq)]
pub struct Priorities {
    seed: u64,
    /// (cumulative probability, priority), by priority.
    cumulative: Vec<(f64, u8)>,
}

impl Priorities {
    /// `None` without `[workload] priorities` (every message has no priority: 0).
    pub fn new(s: &Scenario) -> Option<Self> {
        let weights = &s.workload.priorities;
        if weights.is_empty() {
            return None;
        }
        let total: f64 = weights.values().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|(&p, &w)| {
                acc += w / total;
                (acc, p)
            })
            .collect();
        Some(Priorities { seed: s.seed, cumulative })
    }

    pub fn of(&self, id: MessageId) -> u8 {
        self.cumulative[self.index_of(id)].1
    }

    /// Message `id`'s priority as an index into [`Priorities::levels`].
    pub fn index_of(&self, id: MessageId) -> usize {
        let mut r = rng::keyed(self.seed, Stream::Priorities, id, 0);
        let u = rng::unit(&mut r);
        // Rounding may leave the last cumulative value a hair below 1.
        self.cumulative.iter().position(|(c, _)| u < *c).unwrap_or(self.cumulative.len() - 1)
    }

    /// The priorities messages can have, lowest first.
    pub fn levels(&self) -> impl Iterator<Item = u8> + '_ {
        self.cumulative.iter().map(|&(_, p)| p)
    }
}

/// Processing time of a message in a group: a property of the (message, group) pair, the same in
/// both systems whichever consumer handles it and however often.
#[derive(Clone, Debug)]
pub struct ProcessingTimes {
    seed: u64,
    dists: Vec<Dist>,
}

impl ProcessingTimes {
    pub fn new(s: &Scenario) -> Self {
        ProcessingTimes { seed: s.seed, dists: s.groups.iter().map(|g| g.processing).collect() }
    }

    // Once per message, from two call sites (one per model).
    #[inline(always)]
    pub fn of(&self, group: usize, id: MessageId) -> SimDuration {
        match self.dists[group] {
            Dist::Constant(v) => SimDuration::from_secs_f64(v),
            d => {
                let mut r = rng::keyed(self.seed, Stream::Processing, group as u64, id);
                SimDuration::from_secs_f64(d.sample(&mut r))
            }
        }
    }
}
