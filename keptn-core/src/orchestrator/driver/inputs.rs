//! Preparing inputs for the core and merging its effects into the next commit.

use std::sync::Arc;

use keptn_sdk::event::GitCommitId;

use super::run::{Loop, Pending, SHIPYARD_CACHE_LIMIT};
use super::source::ShipyardSourceErrorKind;
use crate::orchestrator::core::{Effect, Input};
use crate::orchestrator::store::OutboxEntry;
use crate::shipyard::Shipyard;

impl Loop {
    /// Prepares a sequence trigger: stamps its commit, loads the shipyard at that commit and
    /// the stored view of its context. `None` when the configuration store is unavailable (the
    /// delivery is retried later).
    pub(super) async fn trigger_input(
        &mut self,
        mut event: keptn_sdk::KeptnEvent,
        project: Option<String>,
        stage: &str,
    ) -> Option<Input> {
        let Some(project) = project.filter(|p| !p.is_empty()) else {
            return Some(Input::SequenceTriggered {
                event,
                shipyard: Err("the trigger has no data.project".to_owned()),
            });
        };
        if event.gitcommitid.is_none() {
            match self.shipyards.latest_commit(&project, stage).await {
                Ok(commit) => event.gitcommitid = commit,
                Err(e) if e.kind() == ShipyardSourceErrorKind::Unavailable => {
                    tracing::warn!(error = %e, "configuration store unavailable");
                    return None;
                }
                Err(e) => {
                    tracing::info!(error = %e, project, stage, "no latest commit for the stage");
                }
            }
        }
        let shipyard = match self.shipyard(&project, event.gitcommitid.clone()).await {
            Ok(shipyard) => Ok(shipyard),
            Err(e) if e.kind() == ShipyardSourceErrorKind::Unavailable => {
                tracing::warn!(error = %e, "configuration store unavailable");
                return None;
            }
            Err(e) => Err(e.to_string()),
        };
        if self.core.needs_view(&project, &event.shkeptncontext) {
            match self.store.view(&project, &event.shkeptncontext).await {
                Ok(Some(view)) => self.core.insert_view(view),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a sequence view");
                    return None;
                }
            }
        }
        Some(Input::SequenceTriggered { event, shipyard })
    }

    async fn shipyard(
        &mut self,
        project: &str,
        commit: Option<GitCommitId>,
    ) -> Result<Arc<Shipyard>, super::ShipyardSourceError> {
        if let Some(commit) = &commit {
            if let Some(found) = self.cache.get(&(project.to_owned(), commit.clone())) {
                return Ok(Arc::clone(found));
            }
        }
        let shipyard = Arc::new(self.shipyards.shipyard(project, commit.as_ref()).await?);
        if let Some(commit) = commit {
            if self.cache.len() >= SHIPYARD_CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache
                .insert((project.to_owned(), commit), Arc::clone(&shipyard));
        }
        Ok(shipyard)
    }

    /// Merges effects into a pending commit; returns the outcome of each control command, in
    /// order.
    pub(super) async fn absorb(
        &mut self,
        pending: &mut Pending,
        effects: Vec<Effect>,
    ) -> Vec<usize> {
        let mut outcomes = Vec::new();
        for effect in effects {
            match effect {
                Effect::Publish(outgoing) => {
                    let mut event = outgoing.event;
                    if let Some((project, stage)) = outgoing.stamp_commit_of {
                        match self.shipyards.latest_commit(&project, &stage).await {
                            Ok(commit) => event.gitcommitid = commit,
                            Err(e) => tracing::warn!(
                                error = %e, project, stage,
                                "cannot stamp the latest commit on a chained trigger"
                            ),
                        }
                    }
                    pending.commit.outbox.push(OutboxEntry {
                        seq: self.next_seq,
                        event,
                    });
                    self.next_seq += 1;
                }
                Effect::SaveExecution(exec) => match pending.executions.get(&exec.id) {
                    Some(&i) => pending.commit.executions[i] = *exec,
                    None => {
                        pending
                            .executions
                            .insert(exec.id.clone(), pending.commit.executions.len());
                        pending.commit.executions.push(*exec);
                    }
                },
                Effect::SaveView(view) => {
                    let key = (view.project.clone(), view.shkeptncontext.clone());
                    match pending.views.get(&key) {
                        Some(&i) => pending.commit.views[i] = *view,
                        None => {
                            pending.views.insert(key, pending.commit.views.len());
                            pending.commit.views.push(*view);
                        }
                    }
                }
                Effect::SetPause { key, paused } => pending.commit.pauses.push((key, paused)),
                Effect::Schedule(timer) => pending.timers.push(timer),
                Effect::Controlled { affected } => outcomes.push(affected),
            }
        }
        outcomes
    }
}
