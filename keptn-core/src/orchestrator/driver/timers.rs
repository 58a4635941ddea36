//! The driver's timers: a heap of the points in time the core asked to be woken at.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use chrono::{DateTime, Utc};

use crate::orchestrator::core::Timer;

/// Pending timers, earliest first; a timer scheduled twice is kept once.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    entries: std::collections::HashMap<u64, Timer>,
    known: HashSet<Timer>,
    next_id: u64,
}

impl Timers {
    pub(super) fn push(&mut self, timer: Timer) {
        if !self.known.insert(timer.clone()) {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.heap.push(Reverse((timer.at, id)));
        self.entries.insert(id, timer);
    }

    /// When the earliest timer is due.
    pub(super) fn next_at(&self) -> Option<DateTime<Utc>> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns every timer due at `now`.
    pub(super) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(timer) = self.entries.remove(&id) {
                self.known.remove(&timer);
                due.push(timer);
            }
        }
        due
    }

    pub(super) fn clear(&mut self) {
        self.heap.clear();
        self.entries.clear();
        self.known.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
