//! Which messages a group has processed, in memory proportional to what is in flight.
//!
//! Ids below `base` are settled: processed, or deleted by the broker before anyone processed them
//! (lost). The lost ones are kept as a run-length set of id ranges, adjacent ids merged, so that a
//! retention sweep that deletes a million unread records costs one range, not a million bytes. From
//! `base` on, one byte per message says whether it was processed and whether the broker deleted it.
//! The front of that window advances past every message that is processed or deleted, so the window
//! spans the messages still held by the broker and not yet processed: memory is
//! O(in flight + number of lost ranges).
//!
//! A lost message may still be processed later (a client buffer processing a record after retention
//! deleted it; RabbitMQ auto-ack deletes on send): it then leaves the lost set and counts as a first
//! processing with `was_deleted`.

use crate::workload::MessageId;
use std::collections::{BTreeMap, VecDeque};

const PROCESSED: u8 = 1;
const DELETED: u8 = 2;
/// The broker stored it (appended to a partition, enqueued) at least once.
const STORED: u8 = 4;
/// The producer got a confirm for it.
const ACKNOWLEDGED: u8 = 8;

/// Disjoint, non-adjacent half-open ranges `[from, to)` of message ids, keyed by `from`. A B-tree:
/// every operation is O(log ranges), however the ranges fragment (RabbitMQ auto-ack with many
/// consumers removes ids all over the set).
#[derive(Debug, Default, Clone)]
struct RangeSet {
    ranges: BTreeMap<MessageId, MessageId>,
    count: u64,
}

impl RangeSet {
    /// Adds `id`, which must be larger than every id in the set.
    fn push(&mut self, id: MessageId) {
        self.count += 1;
        if let Some(mut last) = self.ranges.last_entry() {
            debug_assert!(*last.get() <= id, "ids are added in increasing order");
            if *last.get() == id {
                *last.get_mut() += 1;
                return;
            }
        }
        self.ranges.insert(id, id + 1);
    }

    /// Removes `id`; false if it was not in the set.
    fn remove(&mut self, id: MessageId) -> bool {
        let Some((&from, &to)) = self.ranges.range(..=id).next_back() else {
            return false;
        };
        if id >= to {
            return false;
        }
        self.count -= 1;
        if id == from {
            self.ranges.remove(&from);
            if id + 1 < to {
                self.ranges.insert(id + 1, to);
            }
        } else {
            self.ranges.insert(from, id);
            if id + 1 < to {
                self.ranges.insert(id + 1, to);
            }
        }
        true
    }

    fn contains(&self, id: MessageId) -> bool {
        self.ranges.range(..=id).next_back().is_some_and(|(_, &to)| id < to)
    }
}

/// Still held by the broker: stored, and not deleted since.
fn is_held(flag: u8) -> bool {
    flag & (STORED | DELETED) == STORED
}

#[derive(Debug, Default, Clone)]
pub struct IdWindow {
    base: MessageId,
    flags: VecDeque<u8>,
    /// Below `base`: deleted before being processed.
    lost: RangeSet,
    /// Below `base`: deleted before being processed, then stored again (a publish that reached no
    /// queue, re-published once the node was back; a truncated record the producer retried), and
    /// not processed since: held, not lost. Rare, so a plain set.
    revived: std::collections::BTreeSet<MessageId>,
}

/// What processing a message meant for the count.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum FirstTime {
    /// First processing of this message in this group.
    Yes { was_deleted: bool },
    /// Already processed before: a duplicate.
    No,
}

impl IdWindow {
    /// A newly published message; ids arrive in order 0, 1, 2, ...
    pub fn publish(&mut self, id: MessageId) {
        let next = self.base + self.flags.len() as u64;
        debug_assert!(id >= next, "ids must be published in order");
        // A gap is messages never published (the producer was down): nothing is owed for them.
        if self.flags.is_empty() {
            self.base = id;
        } else {
            for _ in next..id {
                self.flags.push_back(PROCESSED);
            }
        }
        self.flags.push_back(0);
    }

    pub fn processed(&mut self, id: MessageId) -> FirstTime {
        if id < self.base {
            // Settled: either lost (and now processed from a client buffer) or a duplicate.
            return if self.lost.remove(id) {
                FirstTime::Yes { was_deleted: true }
            } else if self.revived.remove(&id) {
                FirstTime::Yes { was_deleted: false }
            } else {
                FirstTime::No
            };
        }
        let Some(flag) = self.flags.get_mut((id - self.base) as usize) else {
            return FirstTime::No;
        };
        if *flag & PROCESSED != 0 {
            return FirstTime::No;
        }
        let was_deleted = *flag & DELETED != 0;
        *flag |= PROCESSED;
        self.advance();
        FirstTime::Yes { was_deleted }
    }

    /// The broker stored the message (a retry's second copy changes nothing). True if it had been
    /// deleted unprocessed before: stored again, it is held, no longer lost.
    #[inline(always)]
    pub fn stored(&mut self, id: MessageId) -> bool {
        match id.checked_sub(self.base).map(|i| self.flags.get_mut(i as usize)) {
            Some(Some(flag)) => {
                let revived = *flag & (PROCESSED | DELETED) == DELETED;
                *flag = (*flag & !DELETED) | STORED;
                revived
            }
            Some(None) => false,
            None => self.revive(id),
        }
    }

    #[cold]
    fn revive(&mut self, id: MessageId) -> bool {
        self.lost.remove(id) && self.revived.insert(id)
    }

    /// The producer got a confirm for the message (only an unsettled one is remembered).
    #[inline(always)]
    pub fn acknowledged(&mut self, id: MessageId) {
        if let Some(flag) = id.checked_sub(self.base).and_then(|i| self.flags.get_mut(i as usize)) {
            *flag |= ACKNOWLEDGED;
        }
    }

    /// Whether the producer got a confirm for `id`, if it is still unsettled.
    pub fn was_acknowledged(&self, id: MessageId) -> bool {
        id.checked_sub(self.base).and_then(|i| self.flags.get(i as usize)).is_some_and(|f| f & ACKNOWLEDGED != 0)
    }

    /// Marks the message as gone from the broker; true if it was neither processed nor gone before
    /// (a message dropped unprocessed, unless it is processed later from a client buffer).
    pub fn deleted(&mut self, id: MessageId) -> bool {
        if id < self.base {
            // Settled already: processed (nothing lost) or lost before (not counted twice).
            return false;
        }
        let Some(flag) = self.flags.get_mut((id - self.base) as usize) else {
            return false;
        };
        let first = *flag & (PROCESSED | DELETED) == 0;
        *flag |= DELETED;
        self.advance();
        first
    }

    /// Moves the front past processed and deleted messages; deleted unprocessed ones join `lost`.
    fn advance(&mut self) {
        while let Some(&f) = self.flags.front() {
            if f & PROCESSED != 0 {
                // Processed: settled whether or not it was deleted too.
            } else if f & DELETED != 0 {
                self.lost.push(self.base);
            } else {
                break;
            }
            self.flags.pop_front();
            self.base += 1;
        }
    }

    /// (lost, stranded): never processed and gone (deleted, or never stored at all: refused, or
    /// lost on its way), never processed and still held.
    pub fn unprocessed(&self) -> (u64, u64) {
        let mut lost = self.lost.count;
        let mut stranded = self.revived.len() as u64;
        for &f in &self.flags {
            if f & PROCESSED == 0 {
                if is_held(f) { stranded += 1 } else { lost += 1 }
            }
        }
        (lost, stranded)
    }

    /// The stranded ids (never processed, stored and never deleted) as sorted runs `[lo, hi)`.
    pub fn held_runs(&self) -> Vec<(MessageId, MessageId)> {
        let mut runs: Vec<(MessageId, MessageId)> = Vec::new();
        // Revived ids are all below `base`, so below every id of the flags.
        let held = self.flags.iter().enumerate().filter(|&(_, &f)| f & PROCESSED == 0 && is_held(f));
        for id in self.revived.iter().copied().chain(held.map(|(i, _)| self.base + i as u64)) {
            match runs.last_mut() {
                Some(last) if last.1 == id => last.1 += 1,
                _ => runs.push((id, id + 1)),
            }
        }
        runs
    }

    /// Whether `id` was processed already.
    pub fn was_processed(&self, id: MessageId) -> bool {
        if id < self.base {
            return !self.lost.contains(id);
        }
        self.flags.get((id - self.base) as usize).is_some_and(|f| f & PROCESSED != 0)
    }

    /// Whether `id` is currently counted as lost (deleted, never processed).
    pub fn is_lost(&self, id: MessageId) -> bool {
        if id < self.base {
            return self.lost.contains(id);
        }
        self.flags.get((id - self.base) as usize).is_some_and(|f| f & (PROCESSED | DELETED) == DELETED)
    }

    /// Messages in the byte-per-message window: from the oldest unsettled one to the newest.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Ranges of lost ids kept below the window (about 16 bytes each, B-tree overhead aside).
    pub fn lost_ranges(&self) -> usize {
        self.lost.ranges.len()
    }

    /// Bytes of bookkeeping held: one per message in the window, 16 per lost range.
    pub fn footprint_bytes(&self) -> usize {
        self.flags.len() + 16 * self.lost.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_worked_by_hand() {
        let mut w = IdWindow::default();
        for id in 0..5 {
            w.publish(id);
            w.stored(id);
        }
        assert_eq!(w.processed(1), FirstTime::Yes { was_deleted: false });
        assert_eq!(w.len(), 5, "0 is unprocessed, so the window cannot advance");
        assert_eq!(w.processed(0), FirstTime::Yes { was_deleted: false });
        assert_eq!(w.len(), 3, "0 and 1 done: the window starts at 2");
        assert_eq!(w.processed(0), FirstTime::No, "below the window: a duplicate");
        assert_eq!(w.processed(1), FirstTime::No);
        assert!(w.deleted(3), "3 deleted unprocessed");
        assert!(!w.deleted(3), "deleting twice does not count twice");
        assert!(!w.deleted(0), "0 was processed: deleting it loses nothing");
        assert_eq!(w.unprocessed(), (1, 2), "3 lost; 2 and 4 stranded");
        assert_eq!(
            w.processed(3),
            FirstTime::Yes { was_deleted: true },
            "processed from a client buffer after deletion"
        );
        assert_eq!(w.unprocessed(), (0, 2));
        // 5 is published but never stored (the broker refused it): held nowhere, so lost, not
        // stranded; once stored, stranded.
        w.publish(5);
        assert_eq!(w.unprocessed(), (1, 2));
        assert_eq!(w.held_runs(), vec![(2, 3), (4, 5)]);
        w.stored(5);
        assert_eq!(w.unprocessed(), (0, 3));
        assert_eq!(w.held_runs(), vec![(2, 3), (4, 6)]);
    }

    /// Ids 0..10; retention deletes 0..6 unread, the consumer had 2 and 3 in its buffer and
    /// processes them afterwards, 8 is processed normally, 9 is processed twice.
    #[test]
    fn the_window_advances_past_lost_messages() {
        let mut w = IdWindow::default();
        for id in 0..10 {
            w.publish(id);
            w.stored(id);
        }
        for id in 0..6 {
            assert!(w.deleted(id), "{id} deleted unprocessed");
        }
        // 0..6 are settled as lost: one range, and the byte window starts at 6.
        assert_eq!(w.len(), 4);
        assert_eq!(w.lost_ranges(), 1);
        assert_eq!(w.unprocessed(), (6, 4), "0..6 lost; 6, 7, 8, 9 stranded");
        assert!(!w.deleted(4), "deleted twice: counted once");
        assert!(w.is_lost(4));
        // 3 processed from a client buffer: it splits the range into [0,3) and [4,6).
        assert_eq!(w.processed(3), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.lost_ranges(), 2);
        assert_eq!(w.unprocessed(), (5, 4));
        assert_eq!(w.processed(3), FirstTime::No, "second time: a duplicate");
        // 2 processed: [0,2) and [4,6) remain.
        assert_eq!(w.processed(2), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.lost_ranges(), 2);
        assert!(!w.is_lost(2) && w.is_lost(1) && w.is_lost(5));
        // 0 and 5: the ends of ranges shrink, no split.
        assert_eq!(w.processed(0), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.processed(5), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.lost_ranges(), 2, "[1,2) and [4,5)");
        assert_eq!(w.unprocessed(), (2, 4), "1 and 4 lost");
        // 8 processed out of order: 6 and 7 still hold the window at 6.
        assert_eq!(w.processed(8), FirstTime::Yes { was_deleted: false });
        assert_eq!(w.len(), 4);
        assert_eq!(w.processed(9), FirstTime::Yes { was_deleted: false });
        assert_eq!(w.processed(9), FirstTime::No);
        // 6 deleted unprocessed (joins no range: 5 is not lost any more), 7 processed: all settled.
        assert!(w.deleted(6));
        assert_eq!(w.len(), 3, "6 settled as lost; 7 is next");
        assert_eq!(w.lost_ranges(), 3, "[1,2), [4,5), [6,7)");
        assert_eq!(w.processed(7), FirstTime::Yes { was_deleted: false });
        assert!(w.is_empty());
        assert_eq!(w.unprocessed(), (3, 0), "1, 4 and 6 lost; nothing stranded");
        assert_eq!(w.processed(4), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.processed(1), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.lost_ranges(), 1, "only [6,7)");
        assert_eq!(w.unprocessed(), (1, 0));
        assert_eq!(w.processed(11), FirstTime::No, "never published: ignored");
        assert!(!w.deleted(12));
    }

    /// Adjacent lost ids merge even when they are settled one at a time.
    #[test]
    fn a_message_stored_again_after_its_deletion_is_held_not_lost() {
        // 0 processed; 1 and 2 deleted unprocessed (a publish that reached no queue), so the window
        // settles past them as lost; 3 deleted while 0..3 are still in the window. Then 1 and 3
        // are stored again (re-published): held (stranded), and 1 processed later is a first
        // processing. 2 stays lost.
        let mut w = IdWindow::default();
        for id in 0..4 {
            w.publish(id);
        }
        assert_eq!(w.processed(0), FirstTime::Yes { was_deleted: false });
        assert!(w.deleted(1) && w.deleted(2) && w.deleted(3));
        assert_eq!(w.unprocessed(), (3, 0));
        assert!(w.stored(1), "1 was lost: stored again, it is revived");
        assert!(w.stored(3), "3 was deleted in the window: revived");
        assert!(!w.stored(3), "a second copy changes nothing");
        assert_eq!(w.unprocessed(), (1, 2));
        assert_eq!(w.held_runs(), vec![(1, 2), (3, 4)]);
        assert_eq!(w.processed(1), FirstTime::Yes { was_deleted: false });
        assert_eq!(w.processed(1), FirstTime::No);
        assert_eq!(w.unprocessed(), (1, 1));
    }

    #[test]
    fn adjacent_lost_ids_merge() {
        let mut w = IdWindow::default();
        for id in 0..6 {
            w.publish(id);
        }
        // Deleted in reverse order: nothing settles until 0 goes, then all at once.
        for id in (0..4).rev() {
            assert!(w.deleted(id));
        }
        assert_eq!((w.len(), w.lost_ranges()), (2, 1));
        assert_eq!(w.processed(4), FirstTime::Yes { was_deleted: false });
        assert!(w.deleted(5));
        assert_eq!((w.len(), w.lost_ranges()), (0, 2), "[0,4) and [5,6): 4 was processed");
        assert_eq!(w.unprocessed(), (5, 0));
        assert_eq!(w.footprint_bytes(), 32);
    }

    /// A processed message that is then deleted is not lost; a deleted one that is then processed
    /// is counted once, with `was_deleted`, and undoes the loss.
    #[test]
    fn order_of_processing_and_deletion() {
        let mut w = IdWindow::default();
        w.publish(0);
        w.publish(1);
        assert_eq!(w.processed(0), FirstTime::Yes { was_deleted: false });
        assert!(!w.deleted(0), "acked after processing: nothing lost");
        assert!(w.deleted(1), "auto-ack: deleted as it is sent");
        assert_eq!(w.unprocessed(), (1, 0));
        assert_eq!(w.processed(1), FirstTime::Yes { was_deleted: true });
        assert_eq!(w.unprocessed(), (0, 0));
        assert_eq!((w.len(), w.lost_ranges()), (0, 0));
    }
}
