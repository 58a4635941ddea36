//! Tasks: triggering the next one, counting answers, completing, delays and timeouts.

use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, EventType, KeptnEvent, KeptnResult, Phase, Status};

use super::sequence::Ending;
use super::{Core, Effect, Outgoing, Timer, TimerKind, Tx, add};
use crate::orchestrator::model::{CurrentTask, ExecutionState, TaskEvent, TaskPhase, TaskResult};
use crate::orchestrator::payload::aggregate;
use crate::shipyard::{APPROVAL_TASK, format_duration};

impl Core {
    pub(super) fn on_task_event(&mut self, tx: &mut Tx, event: &KeptnEvent, now: DateTime<Utc>) {
        let EventType::Task { task, phase } = &event.event_type else {
            return;
        };
        let phase = match phase {
            Phase::Started => TaskPhase::Started,
            Phase::Finished => TaskPhase::Finished,
            _ => return,
        };
        let Some(triggered_id) = &event.triggeredid else {
            return;
        };
        let Some(id) = self.by_task.get(triggered_id).cloned() else {
            tracing::info!(
                event_type = %event.event_type, triggered_id = %triggered_id,
                keptn_context = %event.shkeptncontext,
                "event is not associated with a task that was previously triggered"
            );
            return;
        };
        let Some(exec) = self.executions.get_mut(&id) else {
            return;
        };
        let same_scope = exec.keptn_context == event.shkeptncontext
            && event.project().is_none_or(|p| p == exec.project);
        let Some(current) = exec.current_task.as_mut() else {
            return;
        };
        if !same_scope || current.name != *task || current.sent_at.is_none() {
            tracing::info!(
                event_type = %event.event_type, triggered_id = %triggered_id,
                "event does not match the open task it refers to; ignored"
            );
            return;
        }
        if current.events.iter().any(|e| e.id == event.id) {
            tracing::debug!(event_id = %event.id, "task event already recorded");
            return;
        }
        current.events.push(TaskEvent {
            id: event.id.clone(),
            phase,
            source: event.source.clone(),
            result: event.data_str("result").map(str::to_owned),
            status: event.data_str("status").map(str::to_owned),
            time: event.time,
            data: (phase == TaskPhase::Finished).then(|| event.data.clone()),
        });
        let complete = current.is_complete();
        let stage = exec.stage.clone();
        self.touch(tx, &id, now);
        self.with_view(tx, &id, |view| view.record_event(&stage, event));
        if complete {
            self.complete_task(tx, &id, now);
        }
    }

    /// Aggregates the answers of the current task and moves on.
    fn complete_task(&mut self, tx: &mut Tx, id: &str, now: DateTime<Utc>) {
        let Some(exec) = self.executions.get_mut(id) else {
            return;
        };
        let Some(task) = exec.current_task.take() else {
            return;
        };
        self.by_task.remove(&task.triggered_id);
        let outcome = aggregate(&task.events);
        exec.previous_tasks.push(TaskResult {
            name: task.name,
            triggered_id: task.triggered_id,
            result: outcome.result,
            status: outcome.status,
            properties: outcome.properties,
            message: outcome.message,
        });
        self.touch(tx, id, now);
        self.proceed(tx, id, now);
    }

    /// Triggers the next task, or ends the execution when there is none or the last task failed
    /// or errored.
    pub(super) fn proceed(&mut self, tx: &mut Tx, id: &str, now: DateTime<Utc>) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let stop = exec
            .previous_tasks
            .last()
            .is_some_and(|t| t.result == KeptnResult::Fail || t.status == Status::Errored);
        let index = exec.previous_tasks.len();
        if stop || index >= exec.sequence.tasks.len() {
            self.end(tx, id, Ending::Completed, None, now);
            return;
        }
        let task = &exec.sequence.tasks[index];
        let send_at = task
            .triggered_after
            .as_ref()
            .map_or(now, |delay| add(now, delay.duration()));
        let target = if task.name == APPROVAL_TASK {
            ExecutionState::WaitingForApproval
        } else {
            ExecutionState::Started
        };
        let current = CurrentTask {
            name: task.name.clone(),
            index,
            triggered_id: EventId::generate(),
            send_at,
            sent_at: None,
            events: Vec::new(),
        };
        // A sequence coming back from an approval must get its service's slot again.
        let needs_slot = target == ExecutionState::Started && !exec.holds_slot();
        let blocked = needs_slot && self.slot_taken_for(id);
        let triggered_id = current.triggered_id.clone();
        if let Some(exec) = self.executions.get_mut(id) {
            exec.current_task = Some(current);
        }
        self.by_task.insert(triggered_id.clone(), id.to_owned());
        if blocked {
            self.set_state(tx, id, ExecutionState::Waiting, now);
            return;
        }
        self.set_state(tx, id, target, now);
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

    /// Sends the current task's `.triggered` event if it is due and the execution may act.
    pub(super) fn send_if_due(&mut self, tx: &mut Tx, id: &str, now: DateTime<Utc>) {
        let started_wait = self.config.task_started_wait;
        let default_timeout = self.config.default_task_timeout;
        let Some(exec) = self.executions.get_mut(id) else {
            return;
        };
        if !matches!(
            exec.state,
            ExecutionState::Started | ExecutionState::WaitingForApproval
        ) {
            return;
        }
        let timeout = exec
            .current_task
            .as_ref()
            .and_then(|t| exec.sequence.tasks.get(t.index))
            .and_then(|t| t.timeout.as_ref().map(|d| d.duration()))
            .or(default_timeout);
        let Some(task) = exec.current_task.as_ref() else {
            return;
        };
        if task.sent_at.is_some() || task.send_at > now {
            return;
        }
        let Some(event) = exec.current_task_event(now) else {
            return;
        };
        let Some(task) = exec.current_task.as_mut() else {
            return;
        };
        task.sent_at = Some(now);
        let triggered_id = task.triggered_id.clone();
        let stage = exec.stage.clone();
        tx.effects.push(Effect::Schedule(Timer {
            at: add(now, started_wait),
            execution_id: id.to_owned(),
            triggered_id: triggered_id.clone(),
            kind: TimerKind::StartedWait,
        }));
        if let Some(timeout) = timeout {
            tx.effects.push(Effect::Schedule(Timer {
                at: add(now, timeout),
                execution_id: id.to_owned(),
                triggered_id,
                kind: TimerKind::TaskTimeout,
            }));
        }
        self.touch(tx, id, now);
        self.with_view(tx, id, |view| view.record_event(&stage, &event));
        tx.effects.push(Effect::Publish(Box::new(Outgoing {
            event,
            stamp_commit_of: None,
        })));
    }

    /// The timers of an execution's current task, for a restart.
    pub(super) fn arm_timers(&mut self, tx: &mut Tx, id: &str) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let Some(task) = &exec.current_task else {
            return;
        };
        let timer = |at, kind| {
            Effect::Schedule(Timer {
                at,
                execution_id: id.to_owned(),
                triggered_id: task.triggered_id.clone(),
                kind,
            })
        };
        match task.sent_at {
            None => tx.effects.push(timer(task.send_at, TimerKind::SendTask)),
            Some(sent_at) => {
                if task.events.is_empty() {
                    tx.effects.push(timer(
                        add(sent_at, self.config.task_started_wait),
                        TimerKind::StartedWait,
                    ));
                }
                let timeout = exec
                    .sequence
                    .tasks
                    .get(task.index)
                    .and_then(|t| t.timeout.as_ref().map(|d| d.duration()))
                    .or(self.config.default_task_timeout);
                if let Some(timeout) = timeout {
                    tx.effects
                        .push(timer(add(sent_at, timeout), TimerKind::TaskTimeout));
                }
            }
        }
    }

    pub(super) fn on_timer(&mut self, tx: &mut Tx, timer: Timer, now: DateTime<Utc>) {
        let Some(exec) = self.executions.get(&timer.execution_id) else {
            return;
        };
        let Some(task) = exec
            .current_task
            .as_ref()
            .filter(|t| t.triggered_id == timer.triggered_id)
        else {
            return;
        };
        if timer.at > now {
            // Woken early (a clock that moved back): look again when it is really due.
            tx.effects.push(Effect::Schedule(timer));
            return;
        }
        let id = timer.execution_id.clone();
        match timer.kind {
            TimerKind::SendTask => self.send_if_due(tx, &id, now),
            TimerKind::StartedWait => {
                if task.sent_at.is_some() && task.events.is_empty() {
                    let message = format!(
                        "sequence timed out while waiting for task {} to receive a correlating \
                         .started or .finished event",
                        EventType::task(&task.name, Phase::Triggered)
                    );
                    self.end(tx, &id, Ending::TimedOut, Some(message), now);
                }
            }
            TimerKind::TaskTimeout => {
                if task.sent_at.is_some() && !task.is_complete() {
                    let limit = exec
                        .sequence
                        .tasks
                        .get(task.index)
                        .and_then(|t| t.timeout.as_ref().map(|d| d.as_str().to_owned()))
                        .or_else(|| self.config.default_task_timeout.map(format_duration))
                        .unwrap_or_default();
                    let message = format!(
                        "sequence timed out: task {} did not finish within {limit}",
                        task.name
                    );
                    self.end(tx, &id, Ending::TimedOut, Some(message), now);
                }
            }
        }
    }
}
