//! The strategies of the local deployer: what deploy, release, rollback, scale and restore do
//! to a [`ServiceRuntime`].

use std::collections::BTreeMap;

use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::DeploymentStrategy;
use serde::Deserialize;

use super::LocalDeployerConfig;
use super::config::{ENDPOINTS_PATH, LaunchSpec, RUN_CONFIG_PATH, RunConfig};
use super::proxy::Proxy;
use super::runtime::{Launcher, ServiceRuntime, Slot};
use super::state::ServiceRecord;
use crate::deploy::{
    ChangeOutcome, DEPLOYMENT_CANARY, DEPLOYMENT_DIRECT, DEPLOYMENT_PRIMARY,
    DEPLOYMENT_USER_MANAGED, DeployError, DeployOutcome, DeployRequest, ReplicaChange,
};

/// Keptn's message of a successful deployment.
const DEPLOYED: &str = "Successfully deployed";

/// `local/endpoints.yaml` of a user-managed service.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoints {
    #[serde(default, rename = "deploymentURIsLocal")]
    deployment_uris_local: Vec<String>,
    #[serde(default, rename = "deploymentURIsPublic")]
    deployment_uris_public: Vec<String>,
}

pub(super) async fn deploy(
    launcher: &Launcher<'_>,
    current: &mut Option<ServiceRuntime>,
    request: &DeployRequest,
) -> Result<DeployOutcome, DeployError> {
    if request.strategy == DeploymentStrategy::UserManaged {
        return user_managed(request);
    }
    let bytes = request.resources.get(RUN_CONFIG_PATH).ok_or_else(|| {
        DeployError::invalid(format!(
            "resource {RUN_CONFIG_PATH} of {} is missing: the local deployer needs it to run the service",
            request.scope
        ))
    })?;
    let config = RunConfig::parse(bytes, launcher.config.max_replicas)?;
    let replicas = config.replicas;
    let spec = LaunchSpec {
        config,
        values: request.values.clone(),
    };
    // Fill the placeholders once before anything stops, so a bad file changes nothing.
    spec.launch(&request.scope, 0, DEPLOYMENT_PRIMARY)?;
    let version = spec.version();

    let mut fresh_runtime = None;
    let runtime = match current.as_mut() {
        Some(runtime) => runtime,
        None => fresh_runtime.insert(ServiceRuntime {
            scope: request.scope.clone(),
            strategy: request.strategy.clone(),
            proxy: Proxy::start(0, launcher.config.upstream_timeout).await?,
            canary_weight: 0,
            primary: None,
            canary: None,
        }),
    };

    let (names, message) = match request.strategy {
        DeploymentStrategy::BlueGreenService if runtime.primary.is_some() => {
            if let Some(old) = runtime.canary.take() {
                runtime.canary_weight = 0;
                runtime.apply_routes();
                old.stop(launcher.config.stop_grace).await;
            }
            let slot = launcher
                .start_slot(&request.scope, spec, replicas, DEPLOYMENT_CANARY)
                .await?;
            runtime.canary = Some(slot);
            runtime.canary_weight = 100;
            (
                vec![DEPLOYMENT_CANARY.to_owned()],
                format!("{DEPLOYED}: {version} as canary, receiving all traffic until released"),
            )
        }
        _ => {
            let deployment = if request.strategy == DeploymentStrategy::Direct {
                DEPLOYMENT_DIRECT
            } else {
                DEPLOYMENT_PRIMARY
            };
            let slot = launcher
                .start_slot(&request.scope, spec, replicas, deployment)
                .await?;
            let old = runtime.primary.replace(slot);
            let old_canary = runtime.canary.take();
            runtime.canary_weight = 0;
            runtime.apply_routes();
            for slot in [old, old_canary].into_iter().flatten() {
                slot.stop(launcher.config.stop_grace).await;
            }
            if request.strategy == DeploymentStrategy::Direct {
                (
                    vec![DEPLOYMENT_DIRECT.to_owned()],
                    format!("{DEPLOYED}: {version}"),
                )
            } else {
                (
                    vec![DEPLOYMENT_CANARY.to_owned()],
                    format!(
                        "{DEPLOYED}: {version} (first version of the service, serving as primary)"
                    ),
                )
            }
        }
    };
    runtime.strategy = request.strategy.clone();
    runtime.apply_routes();
    let url = runtime.proxy.url();
    if let Some(runtime) = fresh_runtime {
        *current = Some(runtime);
    }
    Ok(DeployOutcome {
        strategy: request.strategy.clone(),
        uris_local: vec![url.clone()],
        uris_public: vec![url],
        deployment_names: names,
        message,
        resource_changes: BTreeMap::new(),
    })
}

fn user_managed(request: &DeployRequest) -> Result<DeployOutcome, DeployError> {
    let endpoints = match request.resources.get(ENDPOINTS_PATH) {
        Some(bytes) => serde_norway::from_slice::<Endpoints>(bytes).map_err(|e| {
            DeployError::invalid(format!("cannot read {ENDPOINTS_PATH} of {}", request.scope))
                .with_source(e)
        })?,
        None => Endpoints::default(),
    };
    let pick = |own: Vec<String>, known: &Vec<String>| {
        if own.is_empty() { known.clone() } else { own }
    };
    Ok(DeployOutcome {
        strategy: DeploymentStrategy::UserManaged,
        uris_local: pick(endpoints.deployment_uris_local, &request.known_uris_local),
        uris_public: pick(endpoints.deployment_uris_public, &request.known_uris_public),
        deployment_names: vec![DEPLOYMENT_USER_MANAGED.to_owned()],
        message: DEPLOYED.to_owned(),
        resource_changes: BTreeMap::new(),
    })
}

pub(super) async fn release(
    config: &LocalDeployerConfig,
    runtime: &mut ServiceRuntime,
    result: KeptnResult,
) -> ChangeOutcome {
    if runtime.strategy != DeploymentStrategy::BlueGreenService {
        return ChangeOutcome::message(format!(
            "No release action required, as {} has a {} deployment strategy",
            runtime.scope,
            runtime.strategy.as_str()
        ));
    }
    if result == KeptnResult::Fail {
        return ChangeOutcome::message(format!(
            "Not promoted: the result of {} is fail",
            runtime.scope
        ));
    }
    let Some(canary) = runtime.canary.take() else {
        return ChangeOutcome::message(format!(
            "Finished release: no canary to promote, the primary of {} serves",
            runtime.scope
        ));
    };
    let version = canary.spec.version();
    let old = runtime.primary.replace(canary);
    runtime.canary_weight = 0;
    runtime.apply_routes();
    if let Some(old) = old {
        old.stop(config.stop_grace).await;
    }
    ChangeOutcome::message(format!(
        "Finished release: promoted {version} to primary of {}",
        runtime.scope
    ))
}

pub(super) async fn rollback(
    config: &LocalDeployerConfig,
    runtime: &mut ServiceRuntime,
) -> ChangeOutcome {
    if runtime.strategy != DeploymentStrategy::BlueGreenService {
        return ChangeOutcome::message(format!(
            "No rollback action required, as {} has a {} deployment strategy",
            runtime.scope,
            runtime.strategy.as_str()
        ));
    }
    runtime.canary_weight = 0;
    let Some(canary) = runtime.canary.take() else {
        runtime.apply_routes();
        return ChangeOutcome::message(format!(
            "Finished rollback: {} has no canary",
            runtime.scope
        ));
    };
    runtime.apply_routes();
    let version = canary.spec.version();
    canary.stop(config.stop_grace).await;
    ChangeOutcome::message(format!(
        "Finished rollback: discarded canary {version} of {}",
        runtime.scope
    ))
}

pub(super) async fn scale(
    launcher: &Launcher<'_>,
    runtime: &mut ServiceRuntime,
    change: ReplicaChange,
) -> Result<ChangeOutcome, DeployError> {
    let scope = runtime.scope.clone();
    let deployment = if runtime.strategy == DeploymentStrategy::Direct {
        DEPLOYMENT_DIRECT
    } else {
        DEPLOYMENT_PRIMARY
    };
    let slot: &mut Slot = runtime.primary.as_mut().ok_or_else(|| {
        DeployError::new(
            crate::deploy::DeployErrorKind::NotFound,
            format!("{scope} has no serving version to scale"),
        )
    })?;
    let before = slot.replicas;
    let target = change.apply(before, launcher.config.max_replicas)?;
    let mut removed = Vec::new();
    if target as usize > slot.instances.len() {
        launcher
            .grow(&scope, slot, target as usize, deployment)
            .await?;
    } else {
        removed = slot.instances.split_off(target as usize);
    }
    slot.replicas = target;
    runtime.apply_routes();
    futures::future::join_all(
        removed
            .into_iter()
            .map(|i| i.stop(launcher.config.stop_grace)),
    )
    .await;
    Ok(ChangeOutcome::message(format!(
        "Successfully executed scaling action: {scope} from {before} to {target} replicas"
    )))
}

/// Brings a recorded service back: the proxy on its old port (a new one if taken), live
/// instances adopted, missing ones started.
pub(super) async fn restore(
    launcher: &Launcher<'_>,
    record: ServiceRecord,
) -> Result<ServiceRuntime, DeployError> {
    let scope = record.scope.clone();
    let timeout = launcher.config.upstream_timeout;
    let proxy = match Proxy::start(record.proxy_port, timeout).await {
        Ok(proxy) => proxy,
        Err(e) => {
            tracing::warn!(%scope, port = record.proxy_port, error = %e.report(), "proxy port taken, using a new one");
            Proxy::start(0, timeout).await?
        }
    };
    let primary_name = if record.strategy == DeploymentStrategy::Direct {
        DEPLOYMENT_DIRECT
    } else {
        DEPLOYMENT_PRIMARY
    };
    let primary = match record.primary {
        Some(slot) => Some(launcher.restore_slot(&scope, slot, primary_name).await),
        None => None,
    };
    let canary = match record.canary {
        Some(slot) => Some(launcher.restore_slot(&scope, slot, DEPLOYMENT_CANARY).await),
        None => None,
    };
    let runtime = ServiceRuntime {
        scope,
        strategy: record.strategy,
        proxy,
        canary_weight: record.canary_weight,
        primary,
        canary,
    };
    runtime.apply_routes();
    Ok(runtime)
}
