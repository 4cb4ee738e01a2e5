//! Which messages a group has processed, in memory proportional to the window between the oldest
//! message it has not yet processed and the newest published: ids below `base` are all processed.

use crate::workload::MessageId;
use std::collections::VecDeque;

const PROCESSED: u8 = 1;
const DELETED: u8 = 2;

#[derive(Debug, Default, Clone)]
pub struct IdWindow {
    base: MessageId,
    flags: VecDeque<u8>,
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
        debug_assert_eq!(id, self.base + self.flags.len() as u64, "ids must be published in order");
        self.flags.push_back(0);
    }

    pub fn processed(&mut self, id: MessageId) -> FirstTime {
        let Some(flag) = self.slot(id) else {
            return FirstTime::No;
        };
        if *flag & PROCESSED != 0 {
            return FirstTime::No;
        }
        let was_deleted = *flag & DELETED != 0;
        *flag |= PROCESSED;
        while self.flags.front().is_some_and(|f| f & PROCESSED != 0) {
            self.flags.pop_front();
            self.base += 1;
        }
        FirstTime::Yes { was_deleted }
    }

    /// Marks the message as gone from the broker; true if it was neither processed nor gone before
    /// (a message dropped unprocessed, unless it is processed later from a client buffer).
    pub fn deleted(&mut self, id: MessageId) -> bool {
        match self.slot(id) {
            Some(flag) if *flag & (PROCESSED | DELETED) == 0 => {
                *flag |= DELETED;
                true
            }
            Some(flag) => {
                *flag |= DELETED;
                false
            }
            None => false,
        }
    }

    fn slot(&mut self, id: MessageId) -> Option<&mut u8> {
        if id < self.base {
            return None;
        }
        self.flags.get_mut((id - self.base) as usize)
    }

    /// (lost, stranded): never processed and deleted, never processed and still held.
    pub fn unprocessed(&self) -> (u64, u64) {
        let mut lost = 0;
        let mut stranded = 0;
        for f in &self.flags {
            if f & PROCESSED == 0 {
                if f & DELETED != 0 { lost += 1 } else { stranded += 1 }
            }
        }
        (lost, stranded)
    }

    pub fn len(&self) -> usize {
        self.flags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
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
    }
}
