//! The `webhook-service`: the generic action provider, for every action but those of other
//! providers (`scaling` belongs to the deployer).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::ActionInfo;
use keptn_sdk::handler::{HandlerError, TaskContext};
use tokio::sync::oneshot;

use super::action::{ActionHandler, ActionSelector};
use super::resources::service_or_stage_resource;
use super::{DeliveryConfig, WEBHOOK_SERVICE, runner};
use crate::configstore::ConfigStore;
use crate::deploy::ServiceScope;
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};
use crate::remediation::{
    ActionError, ActionOutcome, ActionProvider, ActionRequest, SCALING, WEBHOOKS_PATH,
    WebhookActionProvider,
};

/// The `webhook-service`: executes every `action.triggered` whose action is not in its
/// excluded list (by default `scaling`, which the deployer executes) by POSTing it to a URL:
/// the action's `value` when it is an `http(s)://` URL, `value.url`, or the URL of the action
/// id in `remediation/webhooks.yaml` (service, else stage, at the sequence's commit). An action
/// without any URL finishes `fail` with a message saying where to put one, instead of leaving
/// the sequence waiting for a provider that does not exist.
///
/// Exactly one service must answer each action: when you run other action providers, add
/// their action ids to [`WebhookService::exclude`].
#[derive(Debug)]
pub struct WebhookService {
    excluded: Vec<String>,
    timeout: Duration,
    deadline: Duration,
}

impl WebhookService {
    /// The service with the settings of `config`, excluding `scaling`.
    pub fn new(config: &DeliveryConfig) -> Self {
        Self {
            excluded: vec![SCALING.to_owned()],
            timeout: config.webhook_timeout,
            deadline: config.handler_deadline,
        }
    }

    /// Leaves the action `action` to another provider.
    pub fn exclude(mut self, action: impl Into<String>) -> Self {
        self.excluded.push(action.into());
        self
    }
}

impl PlaneService for WebhookService {
    fn name(&self) -> &str {
        WEBHOOK_SERVICE
    }

    fn run(
        self: Box<Self>,
        ctx: ServiceContext,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> ServiceFuture {
        let Self {
            excluded,
            timeout,
            deadline,
        } = *self;
        let inner = HandlerService::new(WEBHOOK_SERVICE, move |ctx: &ServiceContext| {
            let provider = WebhookActionProvider::new(timeout).map_err(|e| e.report())?;
            let selector = WebhookSelector {
                config: Arc::clone(&ctx.config_store),
                excluded,
                provider,
            };
            Ok(vec![BoxedRunner::new(
                runner(ctx, WEBHOOK_SERVICE, ActionHandler::new(selector), deadline)
                    .send_started(false),
            )])
        });
        Box::new(inner).run(ctx, ready)
    }
}

struct WebhookSelector {
    config: Arc<dyn ConfigStore>,
    excluded: Vec<String>,
    provider: WebhookActionProvider,
}

#[async_trait]
impl ActionSelector for WebhookSelector {
    fn claims(&self, action: &ActionInfo) -> bool {
        let id = action.action.as_deref().unwrap_or("");
        !self.excluded.iter().any(|e| e == id)
    }

    async fn provider(
        &self,
        ctx: &TaskContext,
        scope: &ServiceScope,
        action: &ActionInfo,
    ) -> Result<Arc<dyn ActionProvider>, HandlerError> {
        let urls = match service_or_stage_resource(&*self.config, ctx.event(), scope, WEBHOOKS_PATH)
            .await?
        {
            Some(bytes) => WebhookActionProvider::parse_urls(&bytes)
                .map_err(|e| HandlerError::msg(e.report()))?,
            None => Default::default(),
        };
        let provider = self.provider.clone().with_urls(urls);
        if provider.handles(action) {
            Ok(Arc::new(provider))
        } else {
            Ok(Arc::new(NoUrl))
        }
    }
}

/// The answer to an action nobody can execute.
#[derive(Debug)]
struct NoUrl;

#[async_trait]
impl ActionProvider for NoUrl {
    fn handles(&self, _action: &ActionInfo) -> bool {
        true
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ActionError> {
        Ok(ActionOutcome {
            result: KeptnResult::Fail,
            message: format!(
                "No action provider executes action {:?}: give it an http(s) URL as its value, \
                 or map the action id to a URL in {WEBHOOKS_PATH}",
                request.action_id()
            ),
        })
    }
}
