//! Deployment: make a version of a service run somewhere (the role of Keptn's helm-service).
//!
//! A [`Deployer`] answers the `deployment`, `release` and `rollback` tasks and the `scaling`
//! action. Two implementations ship:
//!
//! - [`local::LocalDeployer`] (feature `execution`, the embedded default): each version runs
//!   as local processes on free loopback ports behind a small reverse proxy per service, whose
//!   URL is the deployment URI;
//! - [`helm::HelmDeployer`] (feature `helm`): Keptn's helm-service behaviour with the `helm`
//!   command: user charts, the generated `<service>-generated` chart with Istio routing for
//!   blue/green, `helm upgrade --install`.
//!
//! Deployers never read the configuration store: the caller hands over the resources listed
//! by [`Deployer::resource_paths`] in a [`DeployRequest`], and commits the
//! `resource_changes` of the outcomes. `docs/deployment.md` describes the configuration files,
//! the strategies and what each deployer does.

mod error;
mod types;

#[cfg(feature = "helm")]
pub mod helm;
#[cfg(feature = "execution")]
pub mod local;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;

pub use error::{DeployError, DeployErrorKind};
pub use types::{
    ChangeOutcome, DeployOutcome, DeployRequest, InstanceStatus, MAX_NAME_LEN, ReplicaChange,
    ServiceResources, ServiceScope, ServiceStatus, VersionStatus,
};

/// Deployment name of a direct deployment.
pub const DEPLOYMENT_DIRECT: &str = "direct";
/// Deployment name of the new version of a blue/green deployment.
pub const DEPLOYMENT_CANARY: &str = "canary";
/// Deployment name of the serving version of a blue/green deployment.
pub const DEPLOYMENT_PRIMARY: &str = "primary";
/// Deployment name of a user-managed deployment.
pub const DEPLOYMENT_USER_MANAGED: &str = "user_managed";

/// Makes versions of services run, switches traffic between them and scales them.
///
/// # Contract
///
/// - Operations on the same [`ServiceScope`] are serialized by the deployer; operations on
///   different services may run concurrently.
/// - [`deploy`](Deployer::deploy) returns only when the new version is ready to serve (or
///   fails with [`DeployErrorKind::StartFailed`] / [`DeployErrorKind::CommandFailed`], leaving
///   the previous version serving). For `blue_green_service` the new version receives all
///   traffic of the stage URI afterwards (canary weight 100, as Keptn's helm-service sets it),
///   so tests reach it.
/// - [`release`](Deployer::release) with `pass` or `warning` promotes the canary of a
///   blue/green service to primary and sets the canary weight to 0; with `fail` it changes
///   nothing. For `direct` it is a no-op.
/// - [`rollback`](Deployer::rollback) discards the canary; the primary keeps serving. For
///   `direct` it is a no-op.
/// - [`scale`](Deployer::scale) changes the replicas of the serving version.
/// - Absent deployments: [`status`](Deployer::status) returns `Ok(None)`; `release`,
///   `rollback` and `scale` fail with [`DeployErrorKind::NotFound`];
///   [`remove_service`](Deployer::remove_service) succeeds.
/// - [`shutdown`](Deployer::shutdown) stops everything the deployer runs in this process
///   (proxies, and processes unless configured otherwise); it is idempotent and bounded.
/// - Every wait is bounded; no method blocks the async runtime.
#[async_trait]
pub trait Deployer: Send + Sync + std::fmt::Debug {
    /// A short name of the deployer (`local`, `helm`).
    fn name(&self) -> &'static str;

    /// Paths of the resources (relative to the service folder) that
    /// [`deploy`](Deployer::deploy) reads from [`DeployRequest::resources`]. Absent ones may
    /// be left out of the request.
    fn resource_paths(&self, service: &str) -> Vec<String>;

    /// Deploys a version.
    async fn deploy(&self, request: &DeployRequest) -> Result<DeployOutcome, DeployError>;

    /// Releases the deployed version after the quality gate gave `result`.
    async fn release(
        &self,
        scope: &ServiceScope,
        result: KeptnResult,
    ) -> Result<ChangeOutcome, DeployError>;

    /// Discards the new version of a blue/green deployment.
    async fn rollback(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError>;

    /// Changes the replicas of the serving version.
    async fn scale(
        &self,
        scope: &ServiceScope,
        change: ReplicaChange,
    ) -> Result<ChangeOutcome, DeployError>;

    /// What is deployed, or `None`.
    async fn status(&self, scope: &ServiceScope) -> Result<Option<ServiceStatus>, DeployError>;

    /// Stops and forgets every version of the service.
    async fn remove_service(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError>;

    /// Stops what the deployer runs in this process.
    async fn shutdown(&self) -> Result<(), DeployError>;
}
