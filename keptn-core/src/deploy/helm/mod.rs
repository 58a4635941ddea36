//! The Helm deployer: Keptn's helm-service with the `helm` command.
//!
//! - The user chart comes from the service's resources: `helm/<service>.tgz`, or its files
//!   unpacked under `helm/<service>/`. `configurationChange.values` are merged into its
//!   `values.yaml` (the new chart is returned as a resource change to commit).
//! - Releases `<project>-<stage>-<service>` (the user chart) and
//!   `<project>-<stage>-<service>-generated` (the generated chart), shortened like Keptn's
//!   ([`naming::release_name`]), in namespace `<project>-<stage>`, installed with
//!   `helm upgrade --install ... --wait`, values `keptn.project/stage/service/deployment`
//!   injected with `--set-string`.
//! - `blue_green_service`: the generated chart ([`generated::duplicate_chart`]) holds the
//!   `-primary` copy, `-canary`/`-primary` Services, DestinationRules and a VirtualService;
//!   after a deployment the canary weight is 100; `release` (pass/warning) sets it to 100,
//!   regenerates the primary from the user chart, sets it to 0 and scales the user chart to 0
//!   replicas; `rollback` sets it to 0 and scales the user chart to 0.
//! - `direct`: the user chart is upgraded, and a generated chart with a VirtualService and a
//!   DestinationRule per Service ([`generated::mesh_chart`]) unless
//!   [`HelmDeployerConfig::mesh_for_direct`] is off; `release` and `rollback` are no-ops.
//! - `user_managed`: the chart is installed as is; URIs come from `helm/endpoints.yaml`.
//! - URIs: `http://<service>.<project>-<stage>:<lowest TCP port of the Service>` and the
//!   public URI of the hostname template ([`IngressConfig`]).
//!
//! The generated chart is computed from the user chart's rendered manifest; Keptn read it
//! from the cluster (`helm get manifest`). Rendering uses the built-in subset of Helm's
//! template language ([`render`]) or `helm template` ([`Rendering::HelmTemplate`]).
//! The charts as last deployed are kept under the work directory, so `release`, `rollback`
//! and `scale` need no resources.

pub mod chart;
pub mod generated;
pub mod naming;
mod ops;
pub mod render;
pub mod runner;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use tokio::sync::Mutex;

pub use chart::Chart;
pub use naming::{IngressConfig, release_name};
pub use runner::{CliHelmRunner, HelmRunner};

use super::{
    ChangeOutcome, DeployError, DeployErrorKind, DeployOutcome, DeployRequest, Deployer,
    ReplicaChange, ServiceScope, ServiceStatus,
};

/// How the user chart's manifest is rendered to build the generated chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rendering {
    /// The built-in subset of Helm's templates (see [`render`]); needs no `helm` binary.
    #[default]
    Builtin,
    /// `helm template` through the [`HelmRunner`].
    HelmTemplate,
}

/// Settings of a [`HelmDeployer`].
#[derive(Debug, Clone)]
pub struct HelmDeployerConfig {
    /// Where the charts as last deployed and the per-service state are kept.
    pub work_dir: PathBuf,
    /// Public URIs and the Istio gateway.
    pub ingress: IngressConfig,
    /// `--timeout` of `helm upgrade --wait` (Keptn: 3 minutes).
    pub helm_timeout: Duration,
    /// How the user chart is rendered.
    pub rendering: Rendering,
    /// Whether direct deployments get the generated Istio chart (Keptn: yes).
    pub mesh_for_direct: bool,
    /// Most replicas the `scaling` action may set (default 10).
    pub max_replicas: u32,
}

impl HelmDeployerConfig {
    /// Defaults (ingress from [`IngressConfig::default`]) with the given work directory.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Self {
            work_dir: work_dir.into(),
            ingress: IngressConfig::default(),
            helm_timeout: Duration::from_secs(180),
            rendering: Rendering::Builtin,
            mesh_for_direct: true,
            max_replicas: 10,
        }
    }
}

/// Deploys Helm charts; see the [module documentation](self).
#[derive(Debug)]
pub struct HelmDeployer {
    config: HelmDeployerConfig,
    runner: Arc<dyn HelmRunner>,
    locks: std::sync::Mutex<BTreeMap<ServiceScope, Arc<Mutex<()>>>>,
    shut_down: AtomicBool,
}

impl HelmDeployer {
    /// A deployer running `helm` through `runner`.
    pub fn new(config: HelmDeployerConfig, runner: Arc<dyn HelmRunner>) -> Self {
        Self {
            config,
            runner,
            locks: std::sync::Mutex::new(BTreeMap::new()),
            shut_down: AtomicBool::new(false),
        }
    }

    /// The settings.
    pub fn config(&self) -> &HelmDeployerConfig {
        &self.config
    }

    fn lock(&self, scope: &ServiceScope) -> Arc<Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(scope.clone()).or_default())
    }

    fn check_running(&self) -> Result<(), DeployError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(DeployError::new(
                DeployErrorKind::Unsupported,
                "the helm deployer is shut down",
            ));
        }
        Ok(())
    }

    fn ops(&self) -> ops::Ops<'_> {
        ops::Ops {
            config: &self.config,
            runner: self.runner.as_ref(),
        }
    }
}

#[async_trait]
impl Deployer for HelmDeployer {
    fn name(&self) -> &'static str {
        "helm"
    }

    fn resource_paths(&self, service: &str) -> Vec<String> {
        vec![
            format!("helm/{service}.tgz"),
            format!("helm/{service}/"),
            format!("helm/{service}-generated.tgz"),
            ops::ENDPOINTS_PATH.to_owned(),
        ]
    }

    async fn deploy(&self, request: &DeployRequest) -> Result<DeployOutcome, DeployError> {
        self.check_running()?;
        let lock = self.lock(&request.scope);
        let _guard = lock.lock().await;
        self.ops().deploy(request).await
    }

    async fn release(
        &self,
        scope: &ServiceScope,
        result: KeptnResult,
    ) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let lock = self.lock(scope);
        let _guard = lock.lock().await;
        self.ops().release(scope, result).await
    }

    async fn rollback(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let lock = self.lock(scope);
        let _guard = lock.lock().await;
        self.ops().rollback(scope).await
    }

    async fn scale(
        &self,
        scope: &ServiceScope,
        change: ReplicaChange,
    ) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let lock = self.lock(scope);
        let _guard = lock.lock().await;
        self.ops().scale(scope, change).await
    }

    async fn status(&self, scope: &ServiceScope) -> Result<Option<ServiceStatus>, DeployError> {
        let lock = self.lock(scope);
        let _guard = lock.lock().await;
        self.ops().status(scope).await
    }

    async fn remove_service(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let lock = self.lock(scope);
        let _guard = lock.lock().await;
        self.ops().remove(scope).await
    }

    async fn shutdown(&self) -> Result<(), DeployError> {
        // Every helm run is awaited by the operation that started it; nothing runs in the
        // background.
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }
}
