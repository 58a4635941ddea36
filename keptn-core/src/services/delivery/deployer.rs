//! The task handlers of a deployer service: `deployment`, `release`, `rollback` and the
//! `scaling` action, each a thin layer over a [`Deployer`].

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::{
    ActionInfo, DeploymentStrategy, DeploymentTriggered, FinishedData, ReleaseTriggered,
    RollbackTriggered,
};
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome};
use serde_json::Value;

use super::action::ActionSelector;
use super::resources::{commit_changes, service_resources, service_scope};
use crate::configstore::ConfigStore;
use crate::deploy::local::image_tag;
use crate::deploy::{DeployErrorKind, DeployRequest, Deployer, ServiceScope};
use crate::remediation::{ActionProvider, SCALING, ScalingActionProvider};

/// What every deployer handler needs.
#[derive(Clone)]
pub(crate) struct DeployerParts {
    pub deployer: Arc<dyn Deployer>,
    pub store: Arc<dyn ConfigStore>,
    /// The service name, written into commit messages.
    pub name: String,
}

/// `deployment.triggered`: deploys `configurationChange.values` with the strategy of
/// `deployment.deploymentstrategy` (`direct` when absent) and answers with the URIs.
pub(crate) struct DeploymentHandler(pub DeployerParts);

#[async_trait]
impl TaskHandler for DeploymentHandler {
    type Data = DeploymentTriggered;

    fn task(&self) -> &str {
        "deployment"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: DeploymentTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let parts = &self.0;
        let scope = service_scope(ctx.event())?;
        let known = data.deployment.unwrap_or_default();
        let strategy = known
            .deployment_strategy
            .clone()
            .unwrap_or(DeploymentStrategy::Direct);
        let values = data
            .configuration_change
            .and_then(|c| c.values)
            .unwrap_or_default();
        let paths = parts.deployer.resource_paths(scope.service());
        let resources = service_resources(&*parts.store, ctx.event(), &scope, &paths).await?;
        let mut request =
            DeployRequest::new(scope.clone(), strategy, values.clone()).with_resources(resources);
        request.known_uris_local = known.deployment_uris_local.unwrap_or_default();
        request.known_uris_public = known.deployment_uris_public.unwrap_or_default();
        let outcome = match parts.deployer.deploy(&request).await {
            Ok(outcome) => outcome,
            Err(e) => return Ok(FinishedData::errored(e.report()).into()),
        };
        commit_changes(
            &*parts.store,
            &scope,
            outcome.resource_changes.clone(),
            &parts.name,
        )
        .await?;
        let mut deployment = outcome.deployment_info();
        if let Some(Value::String(image)) = values.get("image") {
            deployment.tag = Some(image_tag(image).to_owned());
            deployment.image = Some(image.clone());
        }
        Ok(FinishedData::pass()
            .with_message(outcome.message)
            .with_field("deployment", deployment)
            .into())
    }
}

fn user_managed(strategy: Option<&DeploymentStrategy>) -> bool {
    strategy == Some(&DeploymentStrategy::UserManaged)
}

/// `release.triggered`: promotes a blue/green canary when the sequence's result (the
/// evaluation's) is `pass` or `warning`; answers with that result, as helm-service did.
pub(crate) struct ReleaseHandler(pub DeployerParts);

#[async_trait]
impl TaskHandler for ReleaseHandler {
    type Data = ReleaseTriggered;

    fn task(&self) -> &str {
        "release"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: ReleaseTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let scope = service_scope(ctx.event())?;
        let result = data.base.result.unwrap_or(KeptnResult::Pass);
        let strategy = data.deployment.and_then(|d| d.deployment_strategy);
        if user_managed(strategy.as_ref()) {
            return Ok(FinishedData::result(result)
                .with_message(format!(
                    "No release action required, as {scope} has a user_managed deployment strategy"
                ))
                .into());
        }
        match self.0.deployer.release(&scope, result).await {
            Ok(outcome) => {
                commit_changes(
                    &*self.0.store,
                    &scope,
                    outcome.resource_changes,
                    &self.0.name,
                )
                .await?;
                Ok(FinishedData::result(result)
                    .with_message(outcome.message)
                    .into())
            }
            Err(e) => Ok(FinishedData::errored(e.report()).into()),
        }
    }
}

/// `rollback.triggered`: discards the canary of a blue/green deployment; the primary serves.
pub(crate) struct RollbackHandler(pub DeployerParts);

#[async_trait]
impl TaskHandler for RollbackHandler {
    type Data = RollbackTriggered;

    fn task(&self) -> &str {
        "rollback"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: RollbackTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let scope = service_scope(ctx.event())?;
        let strategy = data.deployment.and_then(|d| d.deployment_strategy);
        if user_managed(strategy.as_ref()) {
            return Ok(FinishedData::pass()
                .with_message(format!(
                    "No rollback action required, as {scope} has a user_managed deployment strategy"
                ))
                .into());
        }
        match self.0.deployer.rollback(&scope).await {
            Ok(outcome) => {
                commit_changes(
                    &*self.0.store,
                    &scope,
                    outcome.resource_changes,
                    &self.0.name,
                )
                .await?;
                Ok(FinishedData::pass().with_message(outcome.message).into())
            }
            // Nothing runs (the first deployment failed): there is nothing to discard.
            Err(e) if e.kind() == DeployErrorKind::NotFound => Ok(FinishedData::pass()
                .with_message(format!("Nothing to roll back: {}", e.message()))
                .into()),
            Err(e) => Ok(FinishedData::errored(e.report()).into()),
        }
    }
}

/// Claims the `scaling` action, executed through the deployer.
#[derive(Debug)]
pub(crate) struct ScalingSelector {
    provider: Arc<dyn ActionProvider>,
}

impl ScalingSelector {
    pub(crate) fn new(deployer: Arc<dyn Deployer>) -> Self {
        Self {
            provider: Arc::new(ScalingActionProvider::new(deployer)),
        }
    }
}

#[async_trait]
impl ActionSelector for ScalingSelector {
    fn claims(&self, action: &ActionInfo) -> bool {
        action.action.as_deref() == Some(SCALING)
    }

    async fn provider(
        &self,
        _ctx: &TaskContext,
        _scope: &ServiceScope,
        _action: &ActionInfo,
    ) -> Result<Arc<dyn ActionProvider>, HandlerError> {
        Ok(Arc::clone(&self.provider))
    }
}
