//! Sequence triggers, sequence completion and the `triggeredOn` chain.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventType, KeptnEvent, KeptnResult, Phase, Status};
use serde_json::Value;
use uuid::Uuid;

use super::{Core, Effect, LaneKey, Outgoing, Tx, controller_event};
use crate::orchestrator::model::{ExecutionState, Outcome, SequenceExecution};
use crate::orchestrator::payload::{finished_payload, task_payload};
use crate::orchestrator::view::SequenceState;
use crate::shipyard::Shipyard;

/// How an execution ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Its last task completed, or a task failed or errored.
    Completed,
    /// A user aborted it.
    Aborted,
    /// A task got no answer, or did not finish, in time.
    TimedOut,
}

impl Core {
    pub(super) fn on_sequence_triggered(
        &mut self,
        tx: &mut Tx,
        event: KeptnEvent,
        shipyard: Result<Arc<Shipyard>, String>,
        now: DateTime<Utc>,
    ) {
        let EventType::Sequence {
            stage,
            sequence,
            phase: Phase::Triggered,
        } = &event.event_type
        else {
            return;
        };
        let (stage, sequence) = (stage.clone(), sequence.clone());
        if self.by_trigger.contains_key(&event.id) {
            tracing::debug!(event_id = %event.id, "sequence trigger already handled");
            return;
        }
        let project = event.project().unwrap_or_default().to_owned();
        let service = event.service().unwrap_or_default().to_owned();
        if project.is_empty() {
            self.fail_trigger(
                tx,
                &event,
                &stage,
                &sequence,
                "the trigger has no data.project",
                now,
            );
            return;
        }
        let shipyard = match shipyard {
            Ok(shipyard) => shipyard,
            Err(reason) => {
                let message = format!("unable to retrieve shipyard file: {reason}");
                self.fail_trigger(tx, &event, &stage, &sequence, &message, now);
                return;
            }
        };
        let definition = match shipyard.resolve_sequence(&stage, &sequence) {
            Ok(definition) => definition.into_owned(),
            Err(e) => {
                let message = format!("unable to start sequence {sequence}: {e}");
                self.fail_trigger(tx, &event, &stage, &sequence, &message, now);
                return;
            }
        };
        if service.is_empty() {
            self.fail_trigger(
                tx,
                &event,
                &stage,
                &sequence,
                "the trigger has no data.service",
                now,
            );
            return;
        }
        let paused = self.is_paused(&project, &event.shkeptncontext, &stage);
        let exec = SequenceExecution {
            id: Uuid::new_v4().to_string(),
            project,
            stage: stage.clone(),
            service,
            keptn_context: event.shkeptncontext.clone(),
            triggered_id: event.id.clone(),
            git_commit_id: event.gitcommitid.clone(),
            chain: shipyard.triggers_of(&stage, &sequence),
            sequence: definition,
            input: match &event.data {
                Value::Object(_) => event.data.clone(),
                _ => Value::Object(Default::default()),
            },
            triggered_at: event.time,
            arrival: self.next_arrival,
            state: if paused {
                ExecutionState::Paused
            } else {
                ExecutionState::Triggered
            },
            state_before_pause: paused.then_some(ExecutionState::Triggered),
            previous_tasks: Vec::new(),
            current_task: None,
            outcome: None,
            updated_at: now,
        };
        self.next_arrival += 1;
        let id = exec.id.clone();
        let shown = exec.state;
        tx.dirty_lanes.insert(LaneKey::of(&exec));
        self.index(exec);
        self.touch(tx, &id, now);
        self.with_view(tx, &id, |view| {
            view.record_event(&stage, &event);
            view.set_stage_state(&stage, shown);
        });
    }

    /// Answers a trigger that cannot start with `<stage>.<sequence>.finished` (errored, fail).
    fn fail_trigger(
        &mut self,
        tx: &mut Tx,
        trigger: &KeptnEvent,
        stage: &str,
        sequence: &str,
        message: &str,
        now: DateTime<Utc>,
    ) {
        tracing::info!(
            event_id = %trigger.id, keptn_context = %trigger.shkeptncontext, stage, sequence,
            "sequence not started: {message}"
        );
        let mut data = serde_json::Map::new();
        for key in ["project", "stage", "service", "labels"] {
            if let Some(value) = trigger.data.get(key) {
                data.insert(key.to_owned(), value.clone());
            }
        }
        data.insert("stage".into(), Value::from(stage));
        data.insert("status".into(), Value::from(Status::Errored.as_str()));
        data.insert("result".into(), Value::from(KeptnResult::Fail.as_str()));
        data.insert("message".into(), Value::from(message));
        let finished = controller_event(
            EventType::sequence(stage, sequence, Phase::Finished),
            &trigger.shkeptncontext,
            Some(&trigger.id),
            trigger.gitcommitid.as_ref(),
            Value::Object(data),
            now,
        );
        if let Some(project) = trigger.project().filter(|p| !p.is_empty()) {
            let key = (project.to_owned(), trigger.shkeptncontext.clone());
            self.revive_view(&key);
            let view = self.views.entry(key.clone()).or_insert_with(|| {
                SequenceState::new(
                    project,
                    trigger.service().unwrap_or_default(),
                    &trigger.shkeptncontext,
                    sequence,
                    trigger.time,
                )
            });
            view.record_event(stage, trigger);
            view.record_event(stage, &finished);
            view.set_stage_state(stage, ExecutionState::Finished);
            tx.dirty_views.insert(key);
        }
        tx.effects.push(Effect::Publish(Box::new(Outgoing {
            event: finished,
            stamp_commit_of: None,
        })));
    }

    /// Ends an execution: sends its `.finished` event and, when it completed, the sequences its
    /// result triggers. Timed-out and aborted executions trigger nothing.
    pub(super) fn end(
        &mut self,
        tx: &mut Tx,
        id: &str,
        ending: Ending,
        message: Option<String>,
        now: DateTime<Utc>,
    ) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        if exec.state.is_terminal() {
            return;
        }
        let last = exec.previous_tasks.last();
        let (status, result, message, state) = match ending {
            Ending::Completed => (
                last.map_or(Status::Succeeded, |t| t.status),
                last.map_or(KeptnResult::Pass, |t| t.result),
                message.unwrap_or_else(|| last.map(|t| t.message.clone()).unwrap_or_default()),
                ExecutionState::Finished,
            ),
            Ending::Aborted => (
                Status::Aborted,
                KeptnResult::Pass,
                message.unwrap_or_else(|| "the sequence was aborted".to_owned()),
                ExecutionState::Aborted,
            ),
            Ending::TimedOut => (
                Status::Errored,
                KeptnResult::Fail,
                message.unwrap_or_default(),
                ExecutionState::TimedOut,
            ),
        };
        let finished = controller_event(
            EventType::sequence(&exec.stage, exec.sequence_name(), Phase::Finished),
            &exec.keptn_context,
            Some(&exec.triggered_id),
            exec.git_commit_id.as_ref(),
            finished_payload(exec, status, result, &message),
            now,
        );
        let mut chained = Vec::new();
        if ending == Ending::Completed {
            let last_task = last.map(|t| t.name.as_str());
            for target in exec
                .chain
                .iter()
                .filter(|t| t.fires(result.as_str(), last_task))
            {
                let mut payload = task_payload(exec, None);
                if let Value::Object(map) = &mut payload {
                    map.insert("stage".into(), Value::from(target.stage.as_str()));
                }
                let event = controller_event(
                    EventType::sequence(&target.stage, &target.sequence, Phase::Triggered),
                    &exec.keptn_context,
                    None,
                    None,
                    payload,
                    now,
                );
                chained.push(Outgoing {
                    event,
                    stamp_commit_of: Some((exec.project.clone(), target.stage.clone())),
                });
            }
        }
        let stage = exec.stage.clone();
        let lane = LaneKey::of(exec);
        if let Some(exec) = self.executions.get_mut(id) {
            if let Some(task) = exec.current_task.take() {
                self.by_task.remove(&task.triggered_id);
            }
            exec.outcome = Some(Outcome {
                status,
                result,
                message,
            });
        }
        if let Some(ids) = self.lanes.get_mut(&lane) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.lanes.remove(&lane);
            }
        }
        self.set_state(tx, id, state, now);
        tx.dirty_lanes.insert(lane);
        self.with_view(tx, id, |view| view.record_event(&stage, &finished));
        tx.ended.insert(id.to_owned());
        tx.effects.push(Effect::Publish(Box::new(Outgoing {
            event: finished,
            stamp_commit_of: None,
        })));
        for outgoing in chained {
            tx.effects.push(Effect::Publish(Box::new(outgoing)));
        }
    }
}
