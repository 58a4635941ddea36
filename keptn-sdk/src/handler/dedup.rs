//! The runner's memory of `.triggered` ids: which are running, which are done.

use std::collections::{HashMap, VecDeque};

use crate::event::EventId;

/// What the runner knows about an event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Never seen (or forgotten): handle it.
    New,
    /// A handler is working on it now.
    Running,
    /// Handled and acknowledged.
    Done,
}

/// A bounded set of event ids. Running ids are always kept (there are at most `max_in_flight`
/// of them); done ids are kept up to `capacity`, the oldest forgotten first.
#[derive(Debug)]
pub(crate) struct Dedup {
    state: HashMap<EventId, Seen>,
    done_order: VecDeque<EventId>,
    capacity: usize,
}

impl Dedup {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: HashMap::new(),
            done_order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Looks `id` up; a new id is marked running.
    pub(crate) fn check_and_start(&mut self, id: &EventId) -> Seen {
        match self.state.get(id) {
            Some(seen) => *seen,
            None => {
                self.state.insert(id.clone(), Seen::Running);
                Seen::New
            }
        }
    }

    /// Marks `id` done.
    pub(crate) fn finish(&mut self, id: &EventId) {
        if self.state.insert(id.clone(), Seen::Done) != Some(Seen::Done) {
            self.done_order.push_back(id.clone());
        }
        while self.done_order.len() > self.capacity {
            if let Some(oldest) = self.done_order.pop_front() {
                if self.state.get(&oldest) == Some(&Seen::Done) {
                    self.state.remove(&oldest);
                }
            }
        }
    }

    /// Forgets `id`, so that a redelivery is handled again (after a failure).
    pub(crate) fn forget(&mut self, id: &EventId) {
        if self.state.remove(id).is_some() {
            self.done_order.retain(|d| d != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_from_new_to_running_to_done() {
        let mut d = Dedup::new(10);
        let id = EventId::new("a");
        assert_eq!(d.check_and_start(&id), Seen::New);
        assert_eq!(d.check_and_start(&id), Seen::Running);
        d.finish(&id);
        assert_eq!(d.check_and_start(&id), Seen::Done);
        d.forget(&id);
        assert_eq!(d.check_and_start(&id), Seen::New);
    }

    #[test]
    fn the_oldest_done_ids_are_forgotten_first() {
        let mut d = Dedup::new(2);
        for name in ["a", "b", "c"] {
            let id = EventId::new(name);
            d.check_and_start(&id);
            d.finish(&id);
        }
        assert_eq!(d.check_and_start(&EventId::new("a")), Seen::New);
        assert_eq!(d.check_and_start(&EventId::new("c")), Seen::Done);
    }
}
