//! Client applications shared by both systems, wherever their behaviour is the same:
//! * [`ConsumerApp`]: the consumer application that processes one message at a time from what its
//!   client library handed it, and that can crash or hang;
//! * the producer application's open-loop arrivals are [`crate::workload::Producer`].
//!
//! The protocol side (fetch and commit, or deliver and ack) stays in each system's model.

use std::collections::VecDeque;

/// The consumer application: a FIFO of items its client library handed over, and at most one job.
/// `T` is the system's handle of a message (a fetched record, a delivery).
#[derive(Debug)]
pub struct ConsumerApp<T> {
    inbox: VecDeque<T>,
    busy: Option<T>,
    hung: bool,
    /// The current job's work ended while the application was hung: it completes on resume.
    finished_while_hung: bool,
}

impl<T> Default for ConsumerApp<T> {
    fn default() -> Self {
        ConsumerApp { inbox: VecDeque::new(), busy: None, hung: false, finished_while_hung: false }
    }
}

/// What the application does when its current job's processing time is over.
#[derive(Debug, PartialEq, Eq)]
pub enum JobEnd<T> {
    /// The job is done: the model reports it processed and acknowledges or commits it.
    Done(T),
    /// The application is hung: the job completes when it resumes.
    Stalled,
}

impl<T> ConsumerApp<T> {
    /// Hands an item to the application.
    pub fn push(&mut self, item: T) {
        self.inbox.push_back(item);
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = T>) {
        self.inbox.extend(items);
    }

    pub fn is_busy(&self) -> bool {
        self.busy.is_some()
    }

    pub fn is_hung(&self) -> bool {
        self.hung
    }

    /// Items waiting, not counting the job in progress.
    pub fn waiting(&self) -> usize {
        self.inbox.len()
    }

    pub fn busy(&self) -> Option<&T> {
        self.busy.as_ref()
    }

    /// Everything the application holds: the job in progress, then the items waiting.
    pub fn held(&self) -> impl Iterator<Item = &T> {
        self.busy.iter().chain(self.inbox.iter())
    }

    /// Starts the next item if the application is idle and not hung; the model then schedules the
    /// job's end after its processing time.
    pub fn start_next(&mut self) -> Option<&T> {
        if self.busy.is_some() || self.hung {
            return None;
        }
        self.busy = self.inbox.pop_front();
        self.busy.as_ref()
    }

    /// The job that just ended runs again (its processing failed and is retried in place): the
    /// application stays busy with it, ahead of what waits.
    pub fn retry(&mut self, item: T) {
        debug_assert!(self.busy.is_none(), "retries the job that just ended");
        self.busy = Some(item);
    }

    /// The current job's processing time is over.
    pub fn job_ended(&mut self) -> JobEnd<T> {
        if self.hung {
            self.finished_while_hung = true;
            return JobEnd::Stalled;
        }
        JobEnd::Done(self.busy.take().expect("a job ended, so one was running"))
    }

    /// The application stops making progress (its process and connections stay up).
    pub fn hang(&mut self) {
        self.hung = true;
    }

    /// The application continues; returns the job that finished while it was hung, if any.
    pub fn resume(&mut self) -> Option<T> {
        self.hung = false;
        if std::mem::take(&mut self.finished_while_hung) { self.busy.take() } else { None }
    }

    /// Drops what the application held but had not started (its channel closed under it).
    pub fn drop_waiting(&mut self) -> impl Iterator<Item = T> + '_ {
        self.inbox.drain(..)
    }

    /// The process died: everything it held is gone. Returns what it held, job first.
    pub fn crash(&mut self) -> Vec<T> {
        self.hung = false;
        self.finished_while_hung = false;
        self.busy.take().into_iter().chain(self.inbox.drain(..)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_at_a_time_in_order() {
        let mut app = ConsumerApp::default();
        app.extend([1, 2]);
        assert_eq!(app.start_next(), Some(&1));
        assert_eq!(app.start_next(), None, "busy");
        assert_eq!(app.job_ended(), JobEnd::Done(1));
        assert_eq!(app.start_next(), Some(&2));
    }

    #[test]
    fn a_retried_job_runs_again_before_what_waits() {
        let mut app = ConsumerApp::default();
        app.extend([1, 2]);
        app.start_next();
        assert_eq!(app.job_ended(), JobEnd::Done(1));
        app.retry(1);
        assert!(app.is_busy());
        assert_eq!(app.start_next(), None, "still busy with 1: 2 waits behind it");
        assert_eq!(app.job_ended(), JobEnd::Done(1));
        assert_eq!(app.start_next(), Some(&2));
    }

    #[test]
    fn a_hung_application_stalls_its_job_until_resumed() {
        let mut app = ConsumerApp::default();
        app.extend([7, 8]);
        app.start_next();
        app.hang();
        assert_eq!(app.job_ended(), JobEnd::Stalled);
        assert_eq!(app.start_next(), None, "hung: nothing starts");
        assert_eq!(app.resume(), Some(7), "the stalled job completes on resume");
        assert_eq!(app.start_next(), Some(&8));
        assert_eq!(app.crash(), vec![8]);
        assert!(!app.is_busy());
    }
}
