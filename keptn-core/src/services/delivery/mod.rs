//! The execution plane: the services that deploy, test and remediate (feature `execution`).
//!
//! | service | answers | with |
//! |---|---|---|
//! | `local-deployer` (or `helm-service`) | `deployment`, `release`, `rollback`, `action` with action `scaling`; removes deployments on `service.delete.finished` / `project.delete.finished` | a [`Deployer`](crate::deploy::Deployer) |
//! | `http-load` | `test` | [`HttpLoadTester`](crate::loadtest::HttpLoadTester), results in a [`LoadTestResults`](crate::loadtest::LoadTestResults) store |
//! | `remediation-service` | `get-action` | `remediation.yaml` and [`get_action_finished`](crate::remediation::get_action_finished) |
//! | `webhook-service` | `action` with any action but `scaling` | [`WebhookActionProvider`](crate::remediation::WebhookActionProvider) |
//!
//! Every handler reads its configuration from the configuration store at the sequence's git
//! commit, in the service's folder of the stage: the deployer's files (`local/deploy.yaml`,
//! charts) from there only; `http-load/config.yaml`, `remediation.yaml` and
//! `remediation/webhooks.yaml` from the stage when the service has none. Each service is a
//! [`PlaneService`]: [`services`] adds them to `keptn serve`; a process of the distributed
//! mode runs the same values with a NATS transport in its [`ServiceContext`].
//!
//! Each `action.triggered` is answered by exactly one service: the deployer claims `scaling`,
//! the webhook service everything else; the other sends no event for it (the orchestrator
//! completes a task when it has as many `.finished` as `.started` events).
//!
//! `docs/deployment.md` and `docs/remediation.md` describe the behaviour in detail.

mod action;
mod deployer;
mod deployer_service;
mod http_load;
mod remediation;
mod resources;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use keptn_sdk::handler::{TaskHandler, TaskRunner};
use keptn_sdk::transport::Transport;

pub use deployer_service::DeployerService;
pub use http_load::HttpLoadService;
pub use remediation::RemediationService;
pub use webhook::WebhookService;

use super::{ServicesConfig, load_test_results_dir};
use crate::loadtest::FileLoadTestResults;
use crate::plane::{PlaneService, ServiceContext};

/// Name (and event source) of the local deployer service.
pub const LOCAL_DEPLOYER: &str = "local-deployer";
/// Name (and event source) of the Helm deployer service, as in Keptn.
pub const HELM_SERVICE: &str = "helm-service";
/// Name (and event source) of the test executor.
pub const HTTP_LOAD: &str = "http-load";
/// Name (and event source) of the remediation service, as in Keptn.
pub const REMEDIATION_SERVICE: &str = "remediation-service";
/// Name (and event source) of the generic action provider, as in Keptn.
pub const WEBHOOK_SERVICE: &str = "webhook-service";

/// Which deployer answers deployments.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum DeployerKind {
    /// Local processes behind a reverse proxy (the embedded default; service `local-deployer`).
    #[default]
    Local,
    /// Helm charts on a Kubernetes cluster, with the `helm` command (service `helm-service`).
    #[cfg(feature = "helm")]
    Helm(HelmSettings),
}

impl DeployerKind {
    /// The name of the service that runs this deployer.
    pub fn service_name(&self) -> &'static str {
        match self {
            DeployerKind::Local => LOCAL_DEPLOYER,
            #[cfg(feature = "helm")]
            DeployerKind::Helm(_) => HELM_SERVICE,
        }
    }
}

/// Settings of the Helm deployer service.
#[cfg(feature = "helm")]
#[derive(Debug, Clone)]
pub struct HelmSettings {
    /// The `helm` program (a path, or a name on `PATH`).
    pub program: std::path::PathBuf,
    /// Public URIs and the Istio gateway (Keptn's environment variables by default).
    pub ingress: crate::deploy::helm::IngressConfig,
    /// `--timeout` of `helm upgrade --wait` (3 minutes).
    pub helm_timeout: Duration,
}

#[cfg(feature = "helm")]
impl Default for HelmSettings {
    fn default() -> Self {
        Self {
            program: "helm".into(),
            ingress: crate::deploy::helm::IngressConfig::from_env(),
            helm_timeout: Duration::from_secs(180),
        }
    }
}

/// Settings of the execution plane.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Whether [`services`] adds the execution plane (default true).
    pub enabled: bool,
    /// The deployer (default local).
    pub deployer: DeployerKind,
    /// Time between SIGTERM and SIGKILL when the local deployer stops a process (5 s).
    pub stop_grace: Duration,
    /// Time limit of a webhook action's request (30 s).
    pub webhook_timeout: Duration,
    /// How long running handlers may finish when the plane stops (8 s, within the plane's
    /// default deadline of 10 s); a load test still running then is cancelled and its task
    /// answered `errored`.
    pub handler_deadline: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            deployer: DeployerKind::Local,
            stop_grace: Duration::from_secs(5),
            webhook_timeout: Duration::from_secs(30),
            handler_deadline: Duration::from_secs(8),
        }
    }
}

/// Adds the execution plane of `config.delivery` to `list`: the deployer service, `http-load`
/// (results under [`load_test_results_dir`]), `remediation-service` and `webhook-service`.
pub fn services(config: &ServicesConfig, list: &mut Vec<Box<dyn PlaneService>>) {
    let delivery = &config.delivery;
    if !delivery.enabled {
        return;
    }
    let results = Arc::new(FileLoadTestResults::new(load_test_results_dir(
        &config.data_dir,
    )));
    list.push(Box::new(DeployerService::new(delivery)));
    list.push(Box::new(HttpLoadService::new(results, delivery)));
    list.push(Box::new(RemediationService::new(delivery)));
    list.push(Box::new(WebhookService::new(delivery)));
}

/// A runner of `handler` for `service`: events sent as `service`, in the queue group
/// `<service>-<task>` (one durable consumer per task), with the shutdown deadline.
pub(crate) fn runner<H: TaskHandler>(
    ctx: &ServiceContext,
    service: &str,
    handler: H,
    deadline: Duration,
) -> TaskRunner<Arc<dyn Transport>, H> {
    let group = format!("{service}-{}", handler.task());
    TaskRunner::new(Arc::clone(&ctx.transport), handler)
        .source(service)
        .queue_group(group)
        .shutdown_deadline(deadline)
}
