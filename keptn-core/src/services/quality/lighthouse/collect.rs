//! `get-sli.finished`: back to the evaluation, score it, `evaluation.finished`.

use std::sync::Arc;
use std::time::Duration;

use keptn_sdk::event::payload::GetSliFinished;
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};
use keptn_sdk::transport::{Delivery, Transport};

use super::super::config::read_at_commit;
use super::super::{LIGHTHOUSE_SOURCE, derived_id};
use super::get_sli_triggered_id;
use super::start::SLO_FILE;
use crate::configstore::{ConfigStore, Scope};
use crate::datastore::{EventFilter, EventStore, MAX_PAGE_SIZE, StoreError, TypeQuery};
use crate::quality::{
    ComparisonQuery, EvaluationOutcome, FinishedContext, PreviousEvaluation, SliReport, Slo,
    evaluate, messages,
};

/// The type the collector consumes.
pub const GET_SLI_FINISHED: &str = "sh.keptn.event.get-sli.finished";
const EVALUATION_TRIGGERED: &str = "sh.keptn.event.evaluation.triggered";
const EVALUATION_FINISHED: &str = "sh.keptn.event.evaluation.finished";

/// How often a delivery is tried before the collector gives up on it.
const MAX_ATTEMPTS: u32 = 10;

/// Whether the lighthouse already sent `evaluation.finished` for `triggered` (the event store
/// has one with its id as `triggeredid`).
pub(crate) async fn already_finished(
    events: &dyn EventStore,
    triggered: &KeptnEvent,
) -> Result<bool, StoreError> {
    let filter = EventFilter::parse(&format!(
        "shkeptncontext:{} AND triggeredid:{} AND source:{LIGHTHOUSE_SOURCE}",
        triggered.shkeptncontext, triggered.id
    ))?;
    let mut query = TypeQuery::new(EVALUATION_FINISHED, filter);
    query.limit = Some(1);
    Ok(!events.query_by_type(&query).await?.is_empty())
}

/// A failure worth another try: the event store has not stored the evaluation yet, or a store
/// is unavailable. Carries the evaluation when it was found, to report the failure on it when
/// the tries run out.
struct Retry {
    evaluation: Option<KeptnEvent>,
    reason: String,
}

impl Retry {
    fn store(evaluation: Option<&KeptnEvent>, what: &str, e: impl std::fmt::Display) -> Self {
        Self {
            evaluation: evaluation.cloned(),
            reason: format!("{what}: {e}"),
        }
    }
}

/// Turns `get-sli.finished` events into `evaluation.finished` events.
pub(crate) struct Collector {
    transport: Arc<dyn Transport>,
    events: Arc<dyn EventStore>,
    store: Arc<dyn ConfigStore>,
}

impl Collector {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        events: Arc<dyn EventStore>,
        store: Arc<dyn ConfigStore>,
    ) -> Self {
        Self {
            transport,
            events,
            store,
        }
    }

    /// Handles and settles one delivery: ack when done (or nothing to do), nack with a delay to
    /// try again, and after [`MAX_ATTEMPTS`] an errored `evaluation.finished` (or, without an
    /// evaluation, a warning) and ack.
    pub(crate) async fn on_delivery(&self, delivery: Delivery) {
        let attempt = delivery.attempt();
        let event = delivery.event().clone();
        let settled = match self.collect(&event).await {
            Ok(()) => delivery.ack().await,
            Err(retry) if attempt < MAX_ATTEMPTS => {
                tracing::info!(event_id = %event.id, attempt, reason = %retry.reason,
                    "get-sli.finished: trying again later");
                let delay =
                    Duration::from_millis(500 * u64::from(attempt)).min(Duration::from_secs(5));
                delivery.nack(Some(delay)).await
            }
            Err(retry) => {
                tracing::warn!(event_id = %event.id, reason = %retry.reason,
                    "get-sli.finished: giving up");
                if let Some(evaluation) = retry.evaluation {
                    let outcome = EvaluationOutcome::errored(retry.reason);
                    if let Err(e) = self
                        .send(&evaluation, &outcome, FinishedContext::default())
                        .await
                    {
                        tracing::warn!(error = %e, "publishing the errored evaluation failed");
                    }
                }
                delivery.ack().await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(event_id = %event.id, error = %e, "settling get-sli.finished failed");
        }
    }

    async fn collect(&self, finished: &KeptnEvent) -> Result<(), Retry> {
        let Some(get_sli_id) = &finished.triggeredid else {
            tracing::debug!(event_id = %finished.id, "get-sli.finished without triggeredid; ignored");
            return Ok(());
        };
        let evaluation = self
            .find_evaluation(&finished.shkeptncontext, get_sli_id)
            .await
            .map_err(|e| Retry::store(None, "reading the event store", e))?;
        let Some(evaluation) = evaluation else {
            return Err(Retry {
                evaluation: None,
                reason: format!(
                    "no evaluation.triggered of context {} asked for get-sli {get_sli_id} (not stored yet, or not the lighthouse's)",
                    finished.shkeptncontext
                ),
            });
        };
        let ev = Some(&evaluation);
        if already_finished(&*self.events, &evaluation)
            .await
            .map_err(|e| Retry::store(ev, "reading the event store", e))?
        {
            return Ok(());
        }
        let (outcome, ctx) = self.score(&evaluation, finished).await?;
        self.send(&evaluation, &outcome, ctx)
            .await
            .map_err(|e| Retry::store(ev, "publishing evaluation.finished", e))
    }

    /// The outcome of the evaluation and what its finished data needs.
    async fn score(
        &self,
        evaluation: &KeptnEvent,
        finished: &KeptnEvent,
    ) -> Result<(EvaluationOutcome, FinishedContext), Retry> {
        let ev = Some(evaluation);
        let data: GetSliFinished = match finished.data_as() {
            Ok(data) => data,
            Err(e) => {
                let outcome = EvaluationOutcome::errored(format!(
                    "the data of get-sli.finished {} cannot be read: {e}",
                    finished.id
                ));
                return Ok((outcome, FinishedContext::default()));
            }
        };
        let ctx = FinishedContext::from_get_sli(&data);
        let (Some(project), Some(stage), Some(service)) = (
            evaluation.project(),
            evaluation.stage(),
            evaluation.service(),
        ) else {
            let outcome = EvaluationOutcome::errored(
                "evaluation.triggered needs data.project, data.stage and data.service",
            );
            return Ok((outcome, ctx));
        };
        let scope = Scope::service(project, stage, service);
        let commit = evaluation.gitcommitid.as_ref();
        let slo_file = read_at_commit(&*self.store, &scope, SLO_FILE, commit)
            .await
            .map_err(|e| Retry::store(ev, "reading slo.yaml", e))?;
        let Some(slo_file) = slo_file else {
            let outcome = EvaluationOutcome::not_performed(messages::no_slo_file(project));
            return Ok((outcome, ctx));
        };
        let ctx = ctx
            .with_slo_file(slo_file.content.clone())
            .with_git_commit(slo_file.metadata.version.to_string());
        let slo = match Slo::parse(&slo_file.content) {
            Ok(slo) => slo,
            Err(e) => {
                let outcome = EvaluationOutcome::errored(format!(
                    "{SLO_FILE} of service {service} in stage {stage}: {e}"
                ));
                return Ok((outcome, ctx));
            }
        };
        let previous = self
            .previous(&slo, project, stage, service)
            .await
            .map_err(|e| Retry::store(ev, "reading earlier evaluations", e))?;
        let outcome = evaluate(&slo, &SliReport::from_get_sli_finished(&data), &previous);
        Ok((outcome, ctx))
    }

    /// The `evaluation.triggered` of `context` whose `get-sli.triggered` id is `get_sli_id`.
    async fn find_evaluation(
        &self,
        context: &KeptnContext,
        get_sli_id: &EventId,
    ) -> Result<Option<KeptnEvent>, StoreError> {
        let filter = EventFilter::parse(&format!("shkeptncontext:{context}"))?;
        let mut query = TypeQuery::new(EVALUATION_TRIGGERED, filter);
        query.limit = Some(MAX_PAGE_SIZE);
        let candidates = self.events.query_by_type(&query).await?;
        Ok(candidates
            .into_iter()
            .find(|e| get_sli_triggered_id(&e.id) == *get_sli_id))
    }

    /// Earlier evaluations (Keptn's datastore query), newest first.
    async fn previous(
        &self,
        slo: &Slo,
        project: &str,
        stage: &str,
        service: &str,
    ) -> Result<Vec<PreviousEvaluation>, StoreError> {
        let comparison = ComparisonQuery::for_slo(slo, project, stage, service);
        let filter = EventFilter::parse(&format!(
            "{} AND source:{}",
            comparison.filter(),
            comparison.source()
        ))?;
        let mut query = TypeQuery::new(comparison.event_type().to_string(), filter);
        query.exclude_invalidated = comparison.exclude_invalidated();
        let limit = u32::try_from(comparison.limit).unwrap_or(MAX_PAGE_SIZE);
        query.limit = Some(limit.clamp(1, MAX_PAGE_SIZE));
        let found = self.events.query_by_type(&query).await?;
        Ok(found
            .iter()
            .filter_map(PreviousEvaluation::from_event)
            .collect())
    }

    /// Publishes `evaluation.finished` for `evaluation`, with an id derived from it.
    async fn send(
        &self,
        evaluation: &KeptnEvent,
        outcome: &EvaluationOutcome,
        ctx: FinishedContext,
    ) -> Result<(), String> {
        let mut event = evaluation
            .finished(LIGHTHOUSE_SOURCE, outcome.finished_data(&ctx))
            .map_err(|e| e.to_string())?;
        event.id = derived_id(&evaluation.id, &format!("{LIGHTHOUSE_SOURCE}/finished"));
        self.transport
            .publish(&event)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(
            event_id = %evaluation.id, result = %outcome.result.as_str(), score = outcome.score,
            "evaluation finished"
        );
        Ok(())
    }
}
