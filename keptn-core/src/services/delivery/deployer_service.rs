//! The deployer service (`local-deployer` or `helm-service`): owns a [`Deployer`], runs its
//! task handlers and removes deployments of deleted services and projects.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use keptn_sdk::event::KeptnEvent;
use keptn_sdk::transport::{SubjectPattern, SubscribeOptions, Subscription};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::action::ActionHandler;
use super::deployer::{
    DeployerParts, DeploymentHandler, ReleaseHandler, RollbackHandler, ScalingSelector,
};
use super::{DeliveryConfig, DeployerKind, runner};
use crate::configstore::ConfigStore;
use crate::deploy::local::{LocalDeployer, LocalDeployerConfig};
use crate::deploy::{Deployer, ServiceScope};
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};

/// How the service gets its deployer.
#[derive(Debug)]
enum Source {
    Kind(DeployerKind, Duration),
    Given(Arc<dyn Deployer>),
}

/// The deployer service: answers `deployment`, `release` and `rollback` and the `scaling`
/// action through a [`Deployer`], and removes the deployments of a service on
/// `service.delete.finished` (every stage) and of a project on `project.delete.finished`.
///
/// With [`DeployerKind::Local`] it is the `local-deployer`: the deployer keeps its state under
/// the service's state directory (`<data-dir>/services/local-deployer`), adopts or restarts
/// the recorded processes when the service starts, and stops them when the plane stops.
#[derive(Debug)]
pub struct DeployerService {
    name: String,
    source: Source,
    deadline: Duration,
}

impl DeployerService {
    /// The deployer of `config.deployer`, named after it (`local-deployer`, `helm-service`).
    pub fn new(config: &DeliveryConfig) -> Self {
        Self {
            name: config.deployer.service_name().to_owned(),
            source: Source::Kind(config.deployer.clone(), config.stop_grace),
            deadline: config.handler_deadline,
        }
    }

    /// A service named `name` around a deployer built elsewhere (a Helm deployer with its own
    /// runner, a custom deployer). The service calls [`Deployer::shutdown`] when it stops.
    pub fn with_deployer(
        name: impl Into<String>,
        deployer: Arc<dyn Deployer>,
        config: &DeliveryConfig,
    ) -> Self {
        Self {
            name: name.into(),
            source: Source::Given(deployer),
            deadline: config.handler_deadline,
        }
    }
}

/// The deployer, and the local one when it is local (it can list what it runs).
struct Opened {
    deployer: Arc<dyn Deployer>,
    local: Option<Arc<LocalDeployer>>,
}

async fn open(source: Source, ctx: &ServiceContext) -> Result<Opened, String> {
    match source {
        Source::Given(deployer) => Ok(Opened {
            deployer,
            local: None,
        }),
        Source::Kind(DeployerKind::Local, stop_grace) => {
            let mut config = LocalDeployerConfig::new(&ctx.state_dir);
            config.stop_grace = stop_grace;
            let local = Arc::new(LocalDeployer::start(config).await.map_err(|e| e.report())?);
            Ok(Opened {
                deployer: Arc::clone(&local) as Arc<dyn Deployer>,
                local: Some(local),
            })
        }
        #[cfg(feature = "helm")]
        Source::Kind(DeployerKind::Helm(settings), _) => {
            use crate::deploy::helm::{CliHelmRunner, HelmDeployer, HelmDeployerConfig};
            let mut config = HelmDeployerConfig::new(&ctx.state_dir);
            config.ingress = settings.ingress.clone();
            config.helm_timeout = settings.helm_timeout;
            let runner = CliHelmRunner::new(&settings.program, settings.helm_timeout * 2);
            Ok(Opened {
                deployer: Arc::new(HelmDeployer::new(config, Arc::new(runner))),
                local: None,
            })
        }
    }
}

impl PlaneService for DeployerService {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(
        self: Box<Self>,
        ctx: ServiceContext,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> ServiceFuture {
        Box::pin(async move {
            let Self {
                name,
                source,
                deadline,
            } = *self;
            let opened = match open(source, &ctx).await {
                Ok(opened) => opened,
                Err(e) => {
                    let message = format!("starting the deployer failed: {e}");
                    let _ = ready.send(Err(message.clone()));
                    return Err(message);
                }
            };
            let cleanup = match subscribe_deletions(&ctx, &name).await {
                Ok(subscription) => subscription,
                Err(e) => {
                    let _ = opened.deployer.shutdown().await;
                    let _ = ready.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let stop = ctx.shutdown.child_token();
            let cleanup_task = tokio::spawn(remove_deleted(
                cleanup,
                Arc::clone(&opened.deployer),
                opened.local.clone(),
                Arc::clone(&ctx.config_store),
                stop.clone(),
            ));
            let parts = DeployerParts {
                deployer: Arc::clone(&opened.deployer),
                store: Arc::clone(&ctx.config_store),
                name: name.clone(),
            };
            let inner = HandlerService::new(name.clone(), move |ctx: &ServiceContext| {
                let service = parts.name.clone();
                let scaling = ScalingSelector::new(Arc::clone(&parts.deployer));
                Ok(vec![
                    BoxedRunner::new(runner(
                        ctx,
                        &service,
                        DeploymentHandler(parts.clone()),
                        deadline,
                    )),
                    BoxedRunner::new(runner(
                        ctx,
                        &service,
                        ReleaseHandler(parts.clone()),
                        deadline,
                    )),
                    BoxedRunner::new(runner(ctx, &service, RollbackHandler(parts), deadline)),
                    BoxedRunner::new(
                        runner(ctx, &service, ActionHandler::new(scaling), deadline)
                            .send_started(false),
                    ),
                ])
            });
            let result = Box::new(inner).run(ctx, ready).await;
            stop.cancel();
            let _ = cleanup_task.await;
            if let Err(e) = opened.deployer.shutdown().await {
                tracing::warn!(service = %name, error = %e.report(), "stopping the deployer failed");
            }
            result
        })
    }
}

async fn subscribe_deletions(ctx: &ServiceContext, name: &str) -> Result<Subscription, String> {
    let pattern = SubjectPattern::new("sh.keptn.event.*.delete.finished")
        .map_err(|e| format!("the deletion subject is invalid: {e}"))?;
    ctx.transport
        .subscribe(SubscribeOptions::new(pattern).queue_group(format!("{name}-cleanup")))
        .await
        .map_err(|e| format!("subscribing to deletions failed: {e}"))
}

/// Removes the deployments of deleted services and projects until `stop`.
async fn remove_deleted(
    mut subscription: Subscription,
    deployer: Arc<dyn Deployer>,
    local: Option<Arc<LocalDeployer>>,
    store: Arc<dyn ConfigStore>,
    stop: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            () = stop.cancelled() => return,
            next = subscription.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "skipping an unreadable deletion event");
                    continue;
                }
                None => return,
            },
        };
        let targets = deleted_scopes(delivery.event(), local.as_deref(), &*store).await;
        for scope in targets {
            match deployer.remove_service(&scope).await {
                Ok(outcome) => {
                    tracing::info!(%scope, message = %outcome.message, "removed a deleted service")
                }
                Err(e) => {
                    tracing::warn!(%scope, error = %e.report(), "removing a deleted service failed")
                }
            }
        }
        if let Err(e) = delivery.ack().await {
            tracing::warn!(error = %e, "acknowledging a deletion event failed");
        }
    }
}

/// The deployments a `service.delete.finished` or `project.delete.finished` removes.
async fn deleted_scopes(
    event: &KeptnEvent,
    local: Option<&LocalDeployer>,
    store: &dyn ConfigStore,
) -> Vec<ServiceScope> {
    let task = match &event.event_type {
        keptn_sdk::event::EventType::Task { task, .. } => task.as_str(),
        _ => return Vec::new(),
    };
    let Some(project) = event.project() else {
        return Vec::new();
    };
    let service = match task {
        "service.delete" => match event.service() {
            Some(service) => Some(service),
            None => return Vec::new(),
        },
        "project.delete" => None,
        _ => return Vec::new(),
    };
    let matches = |scope: &ServiceScope| {
        scope.project() == project && service.is_none_or(|s| scope.service() == s)
    };
    if let Some(local) = local {
        return local
            .services()
            .await
            .into_iter()
            .filter(|s| matches(s))
            .collect();
    }
    let Some(service) = service else {
        tracing::warn!(%project, "project deleted: remove its releases by hand, the deployer cannot list them");
        return Vec::new();
    };
    match store.stages(project).await {
        Ok(stages) => stages
            .into_iter()
            .filter_map(|stage| ServiceScope::new(project, stage, service).ok())
            .collect(),
        Err(e) => {
            tracing::warn!(%project, %service, error = %e, "cannot list the stages of a deleted service");
            Vec::new()
        }
    }
}
