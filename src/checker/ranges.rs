//! The checker's two compact stores: a set of message ids kept as runs of consecutive ids, and the
//! keys of messages that may still be processed for the first time.

use crate::workload::MessageId;
use std::collections::{BTreeMap, VecDeque};

/// A set of message ids. Recent ids live in a bitmap window (one bit per id, from `base` up);
/// older ones, once the window would grow past [`WINDOW_WORDS`] words, spill into disjoint,
/// non-adjacent half-open runs `[start, end)` of a B-tree: one entry per run, whatever its length.
/// So an id resolved out of order in the window (Kafka's partitions interleave; acknowledgements
/// come per batch) costs a bit flip instead of splitting a run, and memory stays O(window + runs):
/// messages resolved roughly in order cost nothing once resolved, and a long stretch of lost ids
/// costs one run.
#[derive(Debug, Clone)]
pub struct IdRanges {
    /// Ids below `base`: start -> end (exclusive).
    runs: BTreeMap<MessageId, MessageId>,
    /// First id of the window; a multiple of 64.
    base: MessageId,
    /// Bit `i % 64` of word `i / 64`: id `base + i` is in the set. The front word is never 0.
    words: VecDeque<u64>,
    /// The window's limit in words (a field so that tests can make it small).
    window_words: usize,
    len: u64,
}

/// The window's default limit: 2^16 ids in 8 KiB.
pub const WINDOW_WORDS: usize = 1024;

impl Default for IdRanges {
    fn default() -> Self {
        Self::with_window(WINDOW_WORDS)
    }
}

impl IdRanges {
    /// An empty set whose window holds at most `words` x 64 ids.
    pub fn with_window(words: usize) -> Self {
        IdRanges { runs: BTreeMap::new(), base: 0, words: VecDeque::new(), window_words: words.max(1), len: 0 }
    }

    /// Adds `id`, which must be above every id in the set (ids are sent in order).
    #[inline]
    pub fn push(&mut self, id: MessageId) {
        debug_assert!(self.max().is_none_or(|m| m < id), "push({id}) below the top of the set");
        // Inline, the common cases: the id falls in the window's top word, or just above it.
        if id >= self.base && !self.words.is_empty() {
            let word = ((id - self.base) / 64) as usize;
            let bit = 1u64 << (id % 64);
            if word + 1 == self.words.len() {
                *self.words.back_mut().expect("non-empty") |= bit;
                self.len += 1;
                return;
            }
            if word == self.words.len() && word < self.window_words {
                self.words.push_back(bit);
                self.len += 1;
                return;
            }
        }
        let added = self.insert(id);
        debug_assert!(added);
    }

    /// The smallest id in the set.
    pub fn min(&self) -> Option<MessageId> {
        if let Some((&start, _)) = self.runs.first_key_value() {
            return Some(start);
        }
        // The front word is never 0.
        self.words.front().map(|&w| self.base + u64::from(w.trailing_zeros()))
    }

    /// The largest id in the set.
    fn max(&self) -> Option<MessageId> {
        match self.words.iter().rposition(|&w| w != 0) {
            Some(i) => Some(self.base + 64 * i as u64 + 63 - u64::from(self.words[i].leading_zeros())),
            None => self.runs.last_key_value().map(|(_, &end)| end - 1),
        }
    }

    /// Adds `id` anywhere; false if it was already in the set.
    pub fn insert(&mut self, id: MessageId) -> bool {
        if id < self.base && !self.words.is_empty() {
            return self.run_insert(id);
        }
        if self.words.is_empty() {
            // An empty window starts at the new id's word (above every spilled run, or the id
            // belongs with the runs).
            let word_base = id & !63;
            if self.runs.last_key_value().is_some_and(|(_, &end)| end > word_base) {
                return self.run_insert(id);
            }
            self.base = word_base;
        }
        let mut word = ((id - self.base) / 64) as usize;
        while word >= self.window_words {
            // Too far above the window: spill its front into runs until the id fits.
            self.spill_front();
            if self.words.is_empty() {
                return self.insert(id);
            }
            word = ((id - self.base) / 64) as usize;
        }
        let bit = 1u64 << (id % 64);
        if word >= self.words.len() {
            // Above the top word (nearly always just above: ids are sent in order, and a set that
            // empties starts again): one new word, without `resize`'s generic fill.
            if word > self.words.len() {
                self.words.resize(word, 0);
            }
            self.words.push_back(bit);
            self.len += 1;
            return true;
        }
        let w = &mut self.words[word];
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.len += 1;
        true
    }

    /// Moves the window's front word into the runs.
    fn spill_front(&mut self) {
        let Some(mut w) = self.words.pop_front() else { return };
        let base = self.base;
        self.base += 64;
        while w != 0 {
            let lo = u64::from(w.trailing_zeros());
            let ones = u64::from((!(w >> lo)).trailing_zeros()); // length of the run of ones at lo
            let (start, end) = (base + lo, base + lo + ones);
            match self.runs.last_entry() {
                Some(mut last) if *last.get() == start => *last.get_mut() = end,
                _ => {
                    self.runs.insert(start, end);
                }
            }
            w = if lo + ones >= 64 { 0 } else { w & !(((1u64 << ones) - 1) << lo) };
        }
        self.trim_front();
    }

    /// Drops empty words from the front so that the front word is never 0.
    fn trim_front(&mut self) {
        while self.words.front() == Some(&0) {
            self.words.pop_front();
            self.base += 64;
        }
    }

    fn run_insert(&mut self, id: MessageId) -> bool {
        if self.run_contains(id) {
            return false;
        }
        let joins_below = self.runs.range(..id).next_back().filter(|&(_, &end)| end == id).map(|(&start, _)| start);
        let end = match self.runs.remove(&(id + 1)) {
            Some(above_end) => above_end,
            None => id + 1,
        };
        self.runs.insert(joins_below.unwrap_or(id), end);
        self.len += 1;
        true
    }

    /// Removes `id`; false if it was not in the set.
    #[inline]
    pub fn remove(&mut self, id: MessageId) -> bool {
        // Inline, the window (nearly always); the runs out of line.
        if id >= self.base && !self.words.is_empty() {
            let word = ((id - self.base) / 64) as usize;
            let bit = 1u64 << (id % 64);
            return match self.words.get_mut(word) {
                Some(w) if *w & bit != 0 => {
                    *w &= !bit;
                    self.len -= 1;
                    if word == 0 {
                        self.trim_front();
                    }
                    true
                }
                _ => false,
            };
        }
        self.run_remove(id)
    }

    #[inline(never)]
    fn run_remove(&mut self, id: MessageId) -> bool {
        let Some((&start, &end)) = self.runs.range(..=id).next_back() else {
            return false;
        };
        if id >= end {
            return false;
        }
        if start == id {
            self.runs.remove(&start);
        } else {
            self.runs.insert(start, id);
        }
        if id + 1 < end {
            self.runs.insert(id + 1, end);
        }
        self.len -= 1;
        true
    }

    fn run_contains(&self, id: MessageId) -> bool {
        self.runs.range(..=id).next_back().is_some_and(|(_, &end)| id < end)
    }

    pub fn contains(&self, id: MessageId) -> bool {
        if id >= self.base && !self.words.is_empty() {
            let word = ((id - self.base) / 64) as usize;
            return self.words.get(word).is_some_and(|w| w & (1u64 << (id % 64)) != 0);
        }
        self.run_contains(id)
    }

    /// How many ids of `[lo, hi)` are in the set.
    pub fn count_in(&self, lo: MessageId, hi: MessageId) -> u64 {
        if lo >= hi {
            return 0;
        }
        // The run that starts below `lo` may reach into the interval; then every run starting in it.
        let below = self.runs.range(..lo).next_back().map_or(0, |(_, &end)| end.min(hi).saturating_sub(lo));
        let in_runs = below + self.runs.range(lo..hi).map(|(&start, &end)| end.min(hi) - start).sum::<u64>();
        let mut in_window = 0;
        for (i, &w) in self.words.iter().enumerate() {
            let wlo = self.base + 64 * i as u64;
            if wlo >= hi {
                break;
            }
            if wlo + 64 <= lo {
                continue;
            }
            let from = lo.saturating_sub(wlo).min(64);
            let to = (hi - wlo).min(64);
            let mask = if to - from == 64 { u64::MAX } else { ((1u64 << (to - from)) - 1) << from };
            in_window += u64::from((w & mask).count_ones());
        }
        in_runs + in_window
    }

    /// The runs `[start, end)`, in increasing order, maximal (adjacent runs merged).
    pub fn runs(&self) -> impl Iterator<Item = (MessageId, MessageId)> + '_ {
        let spilled = self.runs.iter().map(|(&s, &e)| (s, e));
        let window = self.words.iter().enumerate().flat_map(move |(i, &w)| {
            let base = self.base + 64 * i as u64;
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let lo = u64::from(w.trailing_zeros());
                let ones = u64::from((!(w >> lo)).trailing_zeros());
                w = if lo + ones >= 64 { 0 } else { w & !(((1u64 << ones) - 1) << lo) };
                Some((base + lo, base + lo + ones))
            })
        });
        Merged { inner: spilled.chain(window), pending: None }
    }

    /// Number of ids in the set.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of runs: what the set costs in memory (the window counts as its own runs).
    pub fn run_count(&self) -> usize {
        self.runs().count()
    }
}

/// Joins adjacent runs of an ordered run iterator (a window word's run may continue the next's).
struct Merged<I> {
    inner: I,
    pending: Option<(MessageId, MessageId)>,
}

impl<I: Iterator<Item = (MessageId, MessageId)>> Iterator for Merged<I> {
    type Item = (MessageId, MessageId);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match (self.pending, self.inner.next()) {
                (None, None) => return None,
                (Some(p), None) => {
                    self.pending = None;
                    return Some(p);
                }
                (None, Some(r)) => self.pending = Some(r),
                (Some((s, e)), Some((s2, e2))) if s2 == e => self.pending = Some((s, e2)),
                (Some(p), Some(r)) => {
                    self.pending = Some(r);
                    return Some(p);
                }
            }
        }
    }
}

/// Keys of keyed messages (`ClientEvent::Sent` carries the key, `Processed` does not), kept for at
/// least every message some group owes and has not processed yet, so that its first processing can
/// be checked for order. Null keys are not stored: an id that is not found has a null key, which is
/// exact for the ids the checker looks up (still unprocessed, hence still kept).
///
/// Keys of messages already processed by every group that owes them are dropped by
/// [`KeyStore::retain`], which the checker runs whenever the store has doubled since the last time:
/// amortised O(1) per message, and at most about twice as many keys as messages still unprocessed.
#[derive(Debug, Default, Clone)]
pub struct KeyStore {
    /// Runs of consecutive keyed ids, in increasing order of their first id: (first id, their
    /// keys). A sorted vector: ids only grow, so a push touches the last run, and a lookup is one
    /// binary search.
    runs: Vec<(MessageId, Vec<u64>)>,
    len: usize,
}

impl KeyStore {
    /// Adds the key of `id`, which must be above every id stored.
    pub fn push(&mut self, id: MessageId, key: u64) {
        self.len += 1;
        if let Some((start, keys)) = self.runs.last_mut() {
            let end = *start + keys.len() as u64;
            debug_assert!(end <= id, "keys must be pushed in id order");
            if end == id {
                keys.push(key);
                return;
            }
        }
        self.runs.push((id, vec![key]));
    }

    /// The key of `id` if stored, else `None` (a null key, or a message no longer tracked).
    pub fn get(&self, id: MessageId) -> Option<u64> {
        // The last run starting at or below `id`.
        let i = self.runs.partition_point(|&(start, _)| start <= id).checked_sub(1)?;
        let (start, keys) = &self.runs[i];
        keys.get((id - start) as usize).copied()
    }

    /// Keeps only the keys of ids inside `keep` (sorted, disjoint runs `[start, end)`).
    pub fn retain(&mut self, keep: &[(MessageId, MessageId)]) {
        let mut runs: Vec<(MessageId, Vec<u64>)> = Vec::new();
        let mut len = 0;
        for &(lo, hi) in keep {
            // Runs overlapping [lo, hi): the one starting below lo, then those starting inside.
            let first = self.runs.partition_point(|&(start, _)| start < lo).saturating_sub(1);
            for (start, keys) in self.runs[first..].iter().take_while(|&&(start, _)| start < hi) {
                let end = start + keys.len() as u64;
                let (from, to) = ((*start).max(lo), end.min(hi));
                if from >= to {
                    continue;
                }
                let slice = &keys[(from - start) as usize..(to - start) as usize];
                len += slice.len();
                match runs.last_mut() {
                    Some((last, last_keys)) if *last + last_keys.len() as u64 == from => {
                        last_keys.extend_from_slice(slice)
                    }
                    _ => runs.push((from, slice.to_vec())),
                }
            }
        }
        self.runs = runs;
        self.len = len;
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(s: &IdRanges) -> Vec<(u64, u64)> {
        s.runs().collect()
    }

    #[test]
    fn id_ranges_worked_by_hand() {
        let mut s = IdRanges::default();
        for id in 0..10 {
            s.push(id);
        }
        assert_eq!(runs(&s), [(0, 10)], "consecutive pushes are one run");
        assert!(s.remove(0));
        assert!(!s.remove(0), "removing twice");
        assert!(s.remove(5));
        assert!(s.remove(9));
        assert!(!s.remove(10), "above the set");
        assert_eq!(runs(&s), [(1, 5), (6, 9)]);
        assert_eq!(s.len(), 7);
        s.push(12);
        assert_eq!(runs(&s), [(1, 5), (6, 9), (12, 13)], "a gap starts a new run");
        assert!(s.insert(5), "fills the hole between two runs: they merge");
        assert_eq!(runs(&s), [(1, 9), (12, 13)]);
        assert!(s.insert(11), "joins the run above");
        assert!(s.insert(0), "joins the run above at the bottom");
        assert!(!s.insert(3), "already in");
        assert_eq!(runs(&s), [(0, 9), (11, 13)]);
        assert!(s.insert(20));
        assert_eq!(runs(&s), [(0, 9), (11, 13), (20, 21)]);
        assert_eq!(s.len(), 9 + 2 + 1);
        assert!(s.contains(8) && !s.contains(9) && !s.contains(10) && s.contains(11) && !s.contains(21));
        assert_eq!(s.count_in(5, 12), 4 + 1, "5..9 and 11");
        assert_eq!(s.count_in(0, 100), 12);
        assert_eq!(s.count_in(9, 11), 0);
        assert_eq!(s.count_in(12, 12), 0, "empty interval");
        assert_eq!(s.count_in(12, 21), 2, "12 and 20");
        assert_eq!(s.run_count(), 3);
    }

    #[test]
    fn key_store_retains_only_what_is_asked() {
        let mut k = KeyStore::default();
        for id in 0..6 {
            k.push(id, 100 + id);
        }
        k.push(8, 108); // 6 and 7 have null keys: not stored
        assert_eq!(k.get(3), Some(103));
        assert_eq!(k.get(6), None);
        assert_eq!(k.get(8), Some(108));
        assert_eq!(k.len(), 7);
        k.retain(&[(1, 3), (4, 9)]);
        assert_eq!(k.len(), 2 + 2 + 1, "1, 2, 4, 5 and 8");
        assert_eq!((k.get(0), k.get(1), k.get(2), k.get(3)), (None, Some(101), Some(102), None));
        assert_eq!((k.get(4), k.get(5), k.get(8)), (Some(104), Some(105), Some(108)));
        k.push(9, 109);
        assert_eq!(k.get(9), Some(109), "appends after a retain");
        k.retain(&[]);
        assert!(k.is_empty() && k.get(9).is_none());
    }

    #[test]
    fn id_ranges_agree_with_a_plain_set_across_window_spills() {
        // Random pushes (with gaps), out-of-order removals and inserts below the top, with a
        // one-word window so that spilling and the run/window boundary are exercised constantly.
        use rand::{Rng, SeedableRng};
        for window in [1, 2, 1024] {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(window as u64);
            let mut s = IdRanges::with_window(window);
            let mut model = std::collections::BTreeSet::new();
            let mut top = 0u64;
            for _ in 0..20_000 {
                match rng.random_range(0..10) {
                    0..=3 => {
                        top += if rng.random_bool(0.05) { rng.random_range(1..500) } else { 1 };
                        s.push(top);
                        model.insert(top);
                    }
                    4..=7 => {
                        let id = top.saturating_sub(rng.random_range(0..300));
                        assert_eq!(s.remove(id), model.remove(&id), "remove({id})");
                    }
                    _ => {
                        let id = top.saturating_sub(rng.random_range(0..300));
                        assert_eq!(s.insert(id), model.insert(id), "insert({id})");
                    }
                }
                let id = top.saturating_sub(rng.random_range(0..400));
                assert_eq!(s.contains(id), model.contains(&id));
                assert_eq!(s.min(), model.first().copied());
            }
            assert_eq!(s.len(), model.len() as u64);
            let mut expected: Vec<(u64, u64)> = Vec::new();
            for &id in &model {
                match expected.last_mut() {
                    Some(last) if last.1 == id => last.1 += 1,
                    _ => expected.push((id, id + 1)),
                }
            }
            assert_eq!(runs(&s), expected, "maximal runs, window {window}");
            for (lo, hi) in [(0, top + 1), (top / 3, top / 2), (top - 100, top - 37)] {
                assert_eq!(s.count_in(lo, hi), model.range(lo..hi).count() as u64, "count_in({lo}, {hi})");
            }
        }
    }
}
