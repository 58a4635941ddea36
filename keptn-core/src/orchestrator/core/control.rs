//! Pause, resume and abort of a Keptn context (or of one of its stages).

use chrono::{DateTime, Utc};

use super::sequence::Ending;
use super::{ControlAction, ControlCommand, Core, Effect, LaneKey, Tx};
use crate::orchestrator::model::{ExecutionState, PauseKey};

impl Core {
    pub(super) fn on_control(&mut self, tx: &mut Tx, command: ControlCommand, now: DateTime<Utc>) {
        let ids: Vec<String> = self
            .by_context
            .get(&(command.project.clone(), command.keptn_context.clone()))
            .map(|ids| {
                ids.iter()
                    .filter(|id| {
                        self.executions.get(*id).is_some_and(|e| {
                            command.stage.as_ref().is_none_or(|stage| e.stage == *stage)
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let affected = match command.action {
            ControlAction::Pause => self.pause(tx, &command, &ids, now),
            ControlAction::Resume => self.resume(tx, &command, &ids, now),
            ControlAction::Abort => self.abort(tx, &command, &ids, now),
        };
        tracing::info!(
            project = %command.project, keptn_context = %command.keptn_context,
            stage = command.stage.as_deref().unwrap_or(""), action = ?command.action, affected,
            "sequence control applied"
        );
        tx.effects.push(Effect::Controlled { affected });
    }

    /// Pauses: future executions of the context (or stage) start paused, and the active ones
    /// stop starting or sending anything. Tasks already sent keep running.
    fn pause(
        &mut self,
        tx: &mut Tx,
        command: &ControlCommand,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> usize {
        let key = PauseKey {
            project: command.project.clone(),
            keptn_context: command.keptn_context.clone(),
            stage: command.stage.clone(),
        };
        if self.paused.insert(key.clone()) {
            tx.effects.push(Effect::SetPause { key, paused: true });
        }
        let mut affected = 0;
        for id in ids {
            let Some(exec) = self.executions.get_mut(id) else {
                continue;
            };
            if !matches!(
                exec.state,
                ExecutionState::Triggered
                    | ExecutionState::Waiting
                    | ExecutionState::Started
                    | ExecutionState::WaitingForApproval
            ) {
                continue;
            }
            exec.state_before_pause = Some(exec.state);
            exec.state = ExecutionState::Paused;
            let stage = exec.stage.clone();
            tx.dirty_lanes.insert(LaneKey::of(exec));
            self.touch(tx, id, now);
            self.with_view(tx, id, |view| {
                view.set_stage_state(&stage, ExecutionState::Paused);
            });
            affected += 1;
        }
        affected
    }

    /// Resumes: without a stage every pause of the context is lifted, with a stage that stage's
    /// pause. Executions return to the state they had and send what became due meanwhile.
    fn resume(
        &mut self,
        tx: &mut Tx,
        command: &ControlCommand,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> usize {
        let lifted: Vec<PauseKey> = self
            .paused
            .iter()
            .filter(|k| {
                k.project == command.project
                    && k.keptn_context == command.keptn_context
                    && (command.stage.is_none() || k.stage == command.stage)
            })
            .cloned()
            .collect();
        for key in lifted {
            self.paused.remove(&key);
            tx.effects.push(Effect::SetPause { key, paused: false });
        }
        let mut affected = 0;
        for id in ids {
            let Some(exec) = self.executions.get(id) else {
                continue;
            };
            if exec.state != ExecutionState::Paused
                || self.is_paused(&exec.project, &exec.keptn_context, &exec.stage)
            {
                continue;
            }
            let Some(exec) = self.executions.get_mut(id) else {
                continue;
            };
            let state = exec
                .state_before_pause
                .take()
                .unwrap_or(ExecutionState::Triggered);
            exec.state = state;
            let stage = exec.stage.clone();
            tx.dirty_lanes.insert(LaneKey::of(exec));
            self.touch(tx, id, now);
            self.with_view(tx, id, |view| view.set_stage_state(&stage, state));
            self.send_if_due(tx, id, now);
            affected += 1;
        }
        affected
    }

    /// Aborts: every active execution of the context (or stage) ends with `status: aborted`,
    /// `result: pass`; open and queued tasks are dropped; nothing is chained.
    fn abort(
        &mut self,
        tx: &mut Tx,
        command: &ControlCommand,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> usize {
        let mut affected = 0;
        for id in ids {
            if self
                .executions
                .get(id)
                .is_some_and(|e| !e.state.is_terminal())
            {
                self.end(tx, id, Ending::Aborted, None, now);
                affected += 1;
            }
        }
        if command.stage.is_none() {
            let lifted: Vec<PauseKey> = self
                .paused
                .iter()
                .filter(|k| {
                    k.project == command.project && k.keptn_context == command.keptn_context
                })
                .cloned()
                .collect();
            for key in lifted {
                self.paused.remove(&key);
                tx.effects.push(Effect::SetPause { key, paused: false });
            }
        }
        affected
    }
}
