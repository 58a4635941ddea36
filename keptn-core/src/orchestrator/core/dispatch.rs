//! The queue of each project + stage + service.
//!
//! One execution at a time holds the slot of a queue: the one that is running a task (state
//! `started`, or paused while started). Queued executions (`triggered`, `waiting`) start in the
//! order of their trigger time when the slot is free. Rules, from Keptn with its known problems
//! fixed:
//!
//! - `waitingForApproval` does not hold the slot, so another sequence of the service may run
//!   while a human decides; when the approval comes back the sequence waits for the slot again
//!   (with its trigger time, so it goes first);
//! - an execution paused while running keeps the slot (Keptn let another sequence overlap it,
//!   issue 5259); a paused queued execution is skipped and does not hold up the others;
//! - executions of the same Keptn context but of different sequences do not block each other
//!   (Keptn runs them side by side); a reused context triggering the same sequence again queues
//!   like any other trigger instead of being dropped (Keptn issue 7400);
//! - order is strictly by trigger time, also after aborts (Keptn issue 5620): an execution never
//!   starts ahead of an older one of the same queue;
//! - queues of different services never block each other.

use chrono::{DateTime, Utc};

use super::{Core, Effect, LaneKey, Timer, TimerKind, Tx};
use crate::orchestrator::model::{ExecutionState, SequenceExecution};

/// Whether `holder` holding the slot keeps `candidate` from running.
fn conflicts(holder: &SequenceExecution, candidate: &SequenceExecution) -> bool {
    holder.id != candidate.id
        && holder.holds_slot()
        && !(holder.keptn_context == candidate.keptn_context
            && holder.sequence_name() != candidate.sequence_name())
}

impl Core {
    /// Whether another execution of `id`'s queue holds the slot against it.
    pub(super) fn slot_taken_for(&self, id: &str) -> bool {
        let Some(candidate) = self.executions.get(id) else {
            return false;
        };
        let lane = LaneKey::of(candidate);
        self.lanes.get(&lane).is_some_and(|ids| {
            ids.iter()
                .filter_map(|other| self.executions.get(other))
                .any(|holder| conflicts(holder, candidate))
        })
    }

    /// Starts the queued executions of a lane that may start, oldest first, and marks the rest
    /// `waiting`.
    pub(super) fn dispatch_lane(&mut self, tx: &mut Tx, lane: &LaneKey, now: DateTime<Utc>) {
        // Each round starts one execution, which leaves the queue; the bound only guards
        // against a bug turning this into an endless loop.
        for _ in 0..10_000 {
            let Some(ids) = self.lanes.get(lane) else {
                return;
            };
            let mut queued: Vec<&SequenceExecution> = ids
                .iter()
                .filter_map(|id| self.executions.get(id))
                .filter(|e| e.is_queued())
                .collect();
            if queued.is_empty() {
                return;
            }
            queued.sort_by_key(|e| (e.triggered_at, e.arrival));
            let first = queued[0];
            if self.slot_taken_for(&first.id) {
                let waiting: Vec<String> = queued
                    .iter()
                    .filter(|e| e.state != ExecutionState::Waiting)
                    .map(|e| e.id.clone())
                    .collect();
                for id in waiting {
                    self.set_state(tx, &id, ExecutionState::Waiting, now);
                }
                return;
            }
            let id = first.id.clone();
            self.start(tx, &id, now);
        }
    }

    /// Starts a queued execution: its first task, or the task it held while waiting for the
    /// slot after an approval.
    fn start(&mut self, tx: &mut Tx, id: &str, now: DateTime<Utc>) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        match &exec.current_task {
            Some(task) => {
                let (send_at, triggered_id) = (task.send_at, task.triggered_id.clone());
                self.set_state(tx, id, ExecutionState::Started, now);
                if send_at > now {
                    tx.effects.push(Effect::Schedule(Timer {
                        at: send_at,
                        execution_id: id.to_owned(),
                        triggered_id,
                        kind: TimerKind::SendTask,
                    }));
                } else {
                    self.send_if_due(tx, id, now);
                }
            }
            None => {
                self.set_state(tx, id, ExecutionState::Started, now);
                self.proceed(tx, id, now);
            }
        }
    }
}
