//! The checker's two compact stores: a set of message ids kept as runs of consecutive ids, and the
//! keys of messages that may still be processed for the first time.

use crate::workload::MessageId;
use std::collections::BTreeMap;

/// A set of message ids, kept as disjoint, non-adjacent half-open runs `[start, end)`: memory is
/// one map entry per run, whatever its length. Sets that mostly grow at the top and shrink at the
/// bottom (messages sent in order, resolved roughly in order) stay a handful of runs.
#[derive(Debug, Default, Clone)]
pub struct IdRanges {
    /// start -> end (exclusive).
    runs: BTreeMap<MessageId, MessageId>,
    len: u64,
}

impl IdRanges {
    /// Adds `id`, which must be above every id in the set (ids are sent in order).
    pub fn push(&mut self, id: MessageId) {
        if let Some(mut last) = self.runs.last_entry() {
            debug_assert!(*last.get() <= id, "push({id}) below the top of the set");
            if *last.get() == id {
                *last.get_mut() += 1;
                self.len += 1;
                return;
            }
        }
        self.runs.insert(id, id + 1);
        self.len += 1;
    }

    /// Adds `id` anywhere; false if it was already in the set.
    pub fn insert(&mut self, id: MessageId) -> bool {
        if self.contains(id) {
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
    pub fn remove(&mut self, id: MessageId) -> bool {
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

    pub fn contains(&self, id: MessageId) -> bool {
        self.runs.range(..=id).next_back().is_some_and(|(_, &end)| id < end)
    }

    /// How many ids of `[lo, hi)` are in the set.
    pub fn count_in(&self, lo: MessageId, hi: MessageId) -> u64 {
        if lo >= hi {
            return 0;
        }
        // The run that starts below `lo` may reach into the interval; then every run starting in it.
        let below = self.runs.range(..lo).next_back().map_or(0, |(_, &end)| end.min(hi).saturating_sub(lo));
        below + self.runs.range(lo..hi).map(|(&start, &end)| end.min(hi) - start).sum::<u64>()
    }

    /// The runs `[start, end)`, in increasing order.
    pub fn runs(&self) -> impl Iterator<Item = (MessageId, MessageId)> + '_ {
        self.runs.iter().map(|(&s, &e)| (s, e))
    }

    /// Number of ids in the set.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of runs: what the set costs in memory.
    pub fn run_count(&self) -> usize {
        self.runs.len()
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
    /// First id of a run of consecutive keyed ids -> their keys.
    runs: BTreeMap<MessageId, Vec<u64>>,
    len: usize,
}

impl KeyStore {
    /// Adds the key of `id`, which must be above every id stored.
    pub fn push(&mut self, id: MessageId, key: u64) {
        self.len += 1;
        if let Some(mut last) = self.runs.last_entry() {
            let end = *last.key() + last.get().len() as u64;
            debug_assert!(end <= id, "keys must be pushed in id order");
            if end == id {
                last.get_mut().push(key);
                return;
            }
        }
        self.runs.insert(id, vec![key]);
    }

    /// The key of `id` if stored, else `None` (a null key, or a message no longer tracked).
    pub fn get(&self, id: MessageId) -> Option<u64> {
        let (&start, keys) = self.runs.range(..=id).next_back()?;
        keys.get((id - start) as usize).copied()
    }

    /// Keeps only the keys of ids inside `keep` (sorted, disjoint runs `[start, end)`).
    pub fn retain(&mut self, keep: &[(MessageId, MessageId)]) {
        let mut runs: BTreeMap<MessageId, Vec<u64>> = BTreeMap::new();
        let mut len = 0;
        for &(lo, hi) in keep {
            // Runs overlapping [lo, hi): the one starting below lo, then those starting inside.
            let first = self.runs.range(..lo).next_back().map_or(lo, |(&s, _)| s);
            for (&start, keys) in self.runs.range(first..hi) {
                let end = start + keys.len() as u64;
                let (from, to) = (start.max(lo), end.min(hi));
                if from >= to {
                    continue;
                }
                let slice = &keys[(from - start) as usize..(to - start) as usize];
                len += slice.len();
                match runs.last_entry() {
                    Some(mut last) if *last.key() + last.get().len() as u64 == from => {
                        last.get_mut().extend_from_slice(slice)
                    }
                    _ => {
                        runs.insert(from, slice.to_vec());
                    }
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
}
