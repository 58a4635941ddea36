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

#[cfg(test)]
mod tests {
    use keptn_sdk::event::payload::ActionInfo;
    use keptn_sdk::event::{EventType, KeptnResult, Phase};
    use keptn_sdk::testing::MockTransport;
    use serde_json::json;

    use super::*;
    use crate::remediation::{ActionError, ActionOutcome};

    #[derive(Debug)]
    struct Passes;

    #[async_trait]
    impl ActionProvider for Passes {
        fn handles(&self, _action: &ActionInfo) -> bool {
            true
        }

        async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ActionError> {
            Ok(ActionOutcome {
                result: KeptnResult::Pass,
                message: format!("did {}", request.action_id()),
            })
        }
    }

    /// Claims the action `mine` only.
    struct Mine;

    #[async_trait]
    impl ActionSelector for Mine {
        fn claims(&self, action: &ActionInfo) -> bool {
            action.action.as_deref() == Some("mine")
        }

        async fn provider(
            &self,
            _ctx: &TaskContext,
            _scope: &ServiceScope,
            _action: &ActionInfo,
        ) -> Result<Arc<dyn ActionProvider>, HandlerError> {
            Ok(Arc::new(Passes))
        }
    }

    fn triggered(action: &str) -> keptn_sdk::KeptnEvent {
        keptn_sdk::KeptnEvent::builder(EventType::task("action", Phase::Triggered))
            .source("shipyard-controller")
            .data_json(json!({
                "project": "sockshop", "stage": "production", "service": "carts",
                "action": {"name": action, "action": action, "value": 1},
            }))
            .build()
            .unwrap()
    }

    async fn handle(event: keptn_sdk::KeptnEvent) -> (TaskOutcome, Vec<keptn_sdk::KeptnEvent>) {
        let (transport, handle) = MockTransport::new();
        let ctx = TaskContext::new(event.clone(), Arc::new(transport), "provider", 1);
        let outcome = ActionHandler::new(Mine)
            .handle(ctx, event.data.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (outcome, handle.published())
    }

    #[tokio::test]
    async fn an_action_of_another_provider_gets_no_event() {
        let (outcome, published) = handle(triggered("theirs")).await;
        assert_eq!(outcome, TaskOutcome::Deferred);
        assert!(published.is_empty(), "{published:?}");
    }

    #[tokio::test]
    async fn a_claimed_action_is_started_then_finished_with_the_outcome() {
        let (outcome, published) = handle(triggered("mine")).await;
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].event_type.phase(), Some(Phase::Started));
        match outcome {
            TaskOutcome::Finished(data) => {
                assert_eq!(data.result, KeptnResult::Pass);
                assert_eq!(data.message, "did mine");
            }
            TaskOutcome::Deferred => panic!("a claimed action is answered"),
        }
    }
}
