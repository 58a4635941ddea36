//! The `remediation-service`: `get-action.triggered` -> the next action of `remediation.yaml`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keptn_sdk::event::payload::GetActionTriggered;
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome};
use tokio::sync::oneshot;

use super::resources::{service_or_stage_resource, service_scope};
use super::{DeliveryConfig, REMEDIATION_SERVICE, runner};
use crate::configstore::ConfigStore;
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};
use crate::remediation::{REMEDIATION_PATH, get_action_finished};

/// The `remediation-service`: answers `get-action.triggered` as Keptn 1.x did, from the
/// `remediation.yaml` of the service (else of the stage) at the sequence's git commit, with
/// the action at `get-action.actionIndex` (0 when absent) and the index of the next one.
/// See [`get_action_finished`] for every answer.
#[derive(Debug)]
pub struct RemediationService {
    deadline: Duration,
}

impl RemediationService {
    /// The service with the settings of `config`.
    pub fn new(config: &DeliveryConfig) -> Self {
        Self {
            deadline: config.handler_deadline,
        }
    }
}

impl PlaneService for RemediationService {
    fn name(&self) -> &str {
        REMEDIATION_SERVICE
    }

    fn run(
        self: Box<Self>,
        ctx: ServiceContext,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> ServiceFuture {
        let deadline = self.deadline;
        let inner = HandlerService::new(REMEDIATION_SERVICE, move |ctx: &ServiceContext| {
            let handler = GetActionHandler {
                config: Arc::clone(&ctx.config_store),
            };
            Ok(vec![BoxedRunner::new(runner(
                ctx,
                REMEDIATION_SERVICE,
                handler,
                deadline,
            ))])
        });
        Box::new(inner).run(ctx, ready)
    }
}

struct GetActionHandler {
    config: Arc<dyn ConfigStore>,
}

#[async_trait]
impl TaskHandler for GetActionHandler {
    type Data = GetActionTriggered;

    fn task(&self) -> &str {
        "get-action"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: GetActionTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let scope = service_scope(ctx.event())?;
        let file =
            service_or_stage_resource(&*self.config, ctx.event(), &scope, REMEDIATION_PATH).await?;
        Ok(get_action_finished(file.as_deref(), &data).into())
    }
}
