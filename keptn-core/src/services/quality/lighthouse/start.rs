//! `evaluation.triggered`: started, timeframe, SLO, provider, then `get-sli.triggered`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use keptn_sdk::event::payload::EvaluationTriggered;
use keptn_sdk::event::{EventType, KeptnEvent, Phase};
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome};

use super::super::config::read_at_commit;
use super::super::monitoring::sli_provider;
use super::super::{LIGHTHOUSE_SOURCE, started_with_derived_id};
use super::collect::already_finished;
use super::get_sli_triggered_id;
use crate::configstore::{ConfigStore, Scope};
use crate::datastore::EventStore;
use crate::quality::{
    EvaluationOutcome, FinishedContext, Slo, evaluation_timeframe, get_sli_triggered, messages,
};

/// The SLO file of a service in a stage.
pub(crate) const SLO_FILE: &str = "slo.yaml";

/// Handles `evaluation.triggered`; see the [lighthouse docs](super).
pub(crate) struct EvaluationHandler {
    pub(crate) store: Arc<dyn ConfigStore>,
    pub(crate) events: Arc<dyn EventStore>,
}

impl std::fmt::Debug for EvaluationHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvaluationHandler").finish_non_exhaustive()
    }
}

fn finish(outcome: &EvaluationOutcome, ctx: FinishedContext) -> TaskOutcome {
    TaskOutcome::Finished(outcome.finished_data(&ctx))
}

#[async_trait]
impl TaskHandler for EvaluationHandler {
    // Read after `.started` is out: a task finished without `.started` never completes.
    type Data = serde_json::Value;

    fn task(&self) -> &str {
        "evaluation"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: serde_json::Value,
    ) -> Result<TaskOutcome, HandlerError> {
        let triggered = ctx.event();
        ctx.publish(&started_with_derived_id(
            triggered,
            LIGHTHOUSE_SOURCE,
            None,
        )?)
        .await?;
        if already_finished(&*self.events, triggered).await? {
            tracing::info!(event_id = %triggered.id, "evaluation already finished; nothing to do");
            return Ok(TaskOutcome::Deferred);
        }
        let data: EvaluationTriggered = match serde_json::from_value(data) {
            Ok(data) => data,
            Err(e) => {
                let outcome = EvaluationOutcome::errored(format!(
                    "the data of evaluation.triggered cannot be read: {e}"
                ));
                return Ok(finish(&outcome, FinishedContext::default()));
            }
        };
        let (Some(project), Some(stage), Some(service)) =
            (ctx.project(), ctx.stage(), ctx.service())
        else {
            let outcome = EvaluationOutcome::errored(
                "evaluation.triggered needs data.project, data.stage and data.service",
            );
            return Ok(finish(&outcome, FinishedContext::default()));
        };

        let timeframe = match evaluation_timeframe(&data, Utc::now()) {
            Ok(timeframe) => timeframe,
            Err(e) => {
                let outcome = EvaluationOutcome::errored(e.to_string());
                return Ok(finish(&outcome, FinishedContext::default()));
            }
        };
        let frame_ctx = FinishedContext {
            time_start: Some(timeframe.start_string()),
            time_end: Some(timeframe.end_string()),
            ..FinishedContext::default()
        };

        let scope = Scope::service(project, stage, service);
        let commit = triggered.gitcommitid.as_ref();
        let Some(slo_file) = read_at_commit(&*self.store, &scope, SLO_FILE, commit).await? else {
            let outcome = EvaluationOutcome::not_performed(messages::no_slo_file(project));
            return Ok(finish(&outcome, frame_ctx));
        };
        let frame_ctx = FinishedContext {
            slo_file: Some(slo_file.content.clone()),
            git_commit: Some(slo_file.metadata.version.to_string()),
            ..frame_ctx
        };
        let slo = match Slo::parse(&slo_file.content) {
            Ok(slo) => slo,
            Err(e) => {
                let outcome = EvaluationOutcome::errored(format!(
                    "{SLO_FILE} of service {service} in stage {stage}: {e}"
                ));
                return Ok(finish(&outcome, frame_ctx));
            }
        };
        let provider = match sli_provider(&*self.store, project).await {
            Ok(Some(provider)) => provider,
            Ok(None) => {
                let outcome = EvaluationOutcome::not_performed(messages::no_sli_provider(project));
                return Ok(finish(&outcome, frame_ctx));
            }
            Err(e) => {
                let outcome = EvaluationOutcome::errored(e.to_string());
                return Ok(finish(&outcome, frame_ctx));
            }
        };

        let request = get_sli_triggered(&data, Some(&slo), &provider, &timeframe);
        let mut builder = KeptnEvent::builder(EventType::task("get-sli", Phase::Triggered))
            .id(get_sli_triggered_id(&triggered.id))
            .source(LIGHTHOUSE_SOURCE)
            .context(triggered.shkeptncontext.clone())
            .data(&request)?;
        if let Some(commit) = commit {
            builder = builder.git_commit_id(commit.clone());
        }
        ctx.publish(&builder.build()?).await?;
        tracing::info!(
            event_id = %triggered.id, %provider, indicators = slo.indicators().len(),
            "asked the SLI provider"
        );
        Ok(TaskOutcome::Deferred)
    }
}
