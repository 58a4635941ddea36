//! Answering `action.triggered` for the actions a service owns, and only those.
//!
//! Several action providers subscribe to `action.triggered` (the deployer for `scaling`, the
//! webhook service for the rest). The orchestrator counts `.started` and `.finished` events,
//! so a provider that answered an action of another would keep the task open or fail it. An
//! [`ActionHandler`] therefore decides from the action alone whether it claims it, and sends
//! `.started` itself only then (its runner has `send_started(false)`); an action it does not
//! claim gets no event at all.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::payload::{ActionInfo, ActionTriggered, FinishedData};
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome};

use super::resources::service_scope;
use crate::deploy::ServiceScope;
use crate::remediation::{ActionProvider, ActionRequest};

/// Which actions a service claims, and the provider that executes one.
#[async_trait]
pub(crate) trait ActionSelector: Send + Sync + 'static {
    /// Whether the service answers `action` (decided without I/O, so that exactly one
    /// service claims each action).
    fn claims(&self, action: &ActionInfo) -> bool;

    /// The provider that executes a claimed action (may read configuration).
    async fn provider(
        &self,
        ctx: &TaskContext,
        scope: &ServiceScope,
        action: &ActionInfo,
    ) -> Result<Arc<dyn ActionProvider>, HandlerError>;
}

/// The `action` task handler of an action provider service.
#[derive(Debug)]
pub(crate) struct ActionHandler<S> {
    selector: S,
}

impl<S> ActionHandler<S> {
    pub(crate) fn new(selector: S) -> Self {
        Self { selector }
    }
}

#[async_trait]
impl<S: ActionSelector> TaskHandler for ActionHandler<S> {
    // Read as raw JSON: data that does not parse must not make every provider answer.
    type Data = serde_json::Value;

    fn task(&self) -> &str {
        "action"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: serde_json::Value,
    ) -> Result<TaskOutcome, HandlerError> {
        let parsed = serde_json::from_value::<ActionTriggered>(data);
        let action = match &parsed {
            Ok(triggered) => triggered.action.clone().unwrap_or_default(),
            Err(_) => ActionInfo::default(),
        };
        if !self.selector.claims(&action) {
            return Ok(TaskOutcome::Deferred);
        }
        let started = ctx.event().started(ctx.source())?;
        ctx.publish(&started).await?;
        let triggered = parsed.map_err(|e| {
            HandlerError::msg(format!(
                "the data of event {} cannot be read as action.triggered: {e}",
                ctx.event().id
            ))
        })?;
        let scope = service_scope(ctx.event())?;
        let provider = self.selector.provider(&ctx, &scope, &action).await?;
        let request = ActionRequest {
            scope,
            action,
            problem: triggered.problem,
            keptn_context: Some(ctx.event().shkeptncontext.to_string()),
        };
        match provider.execute(&request).await {
            Ok(outcome) => Ok(FinishedData::result(outcome.result)
                .with_message(outcome.message)
                .into()),
            Err(e) => Ok(FinishedData::errored(e.report()).into()),
        }
    }
}
