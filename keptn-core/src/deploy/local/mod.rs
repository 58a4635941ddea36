//! The local deployer: service versions as local processes behind a reverse proxy.
//!
//! Each deployed service gets a proxy on its own loopback port, kept across restarts; its URL
//! is the deployment URI. A version is `replicas` processes started from the service's
//! [`RunConfig`] (`local/deploy.yaml`), each on a free loopback port in its own process group.
//!
//! - `direct`: the new version starts beside the old one; once it is ready the proxy switches
//!   to it and the old one stops.
//! - `blue_green_service`: the new version starts as the canary and receives all traffic
//!   (weight 100, as Keptn's helm-service sets it), so tests reach it; `release` promotes it
//!   to primary (weight 0, the old primary stops), `rollback` stops it (the primary serves
//!   again). The first blue/green deployment of a service has no primary to keep: its version
//!   starts as the primary, which is what Keptn's generated chart did (its primary was copied
//!   from the first user chart).
//! - `user_managed`: nothing runs; the URIs come from `local/endpoints.yaml`
//!   (`deploymentURIsLocal`, `deploymentURIsPublic`), else from the request.
//!
//! State (versions, pids, ports, weights) is written to
//! `<state dir>/services/<project>/<stage>/<service>.json` after every change, and process
//! output to `<state dir>/logs/`. [`LocalDeployer::start`] reads it back: processes that still
//! run and answer are adopted, the others are started again, and each proxy binds its old
//! port. [`Deployer::shutdown`] stops every process (SIGTERM, SIGKILL after a grace period)
//! unless [`LocalDeployerConfig::stop_processes_on_shutdown`] is off; dropping the deployer
//! kills them.

mod config;
mod ops;
mod process;
mod proxy;
mod runtime;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use tokio::sync::Mutex;

pub use config::{ENDPOINTS_PATH, Launch, LaunchSpec, RUN_CONFIG_PATH, RunConfig, image_tag};
pub use process::pid_alive;
pub use proxy::DEPLOYMENT_HEADER;
pub use state::{InstanceRecord, STATE_VERSION, ServiceRecord, SlotRecord};

use runtime::{Launcher, ServiceRuntime};
use state::StateFiles;

use super::{
    ChangeOutcome, DeployError, DeployErrorKind, DeployOutcome, DeployRequest, Deployer,
    ReplicaChange, ServiceScope, ServiceStatus,
};

/// Settings of a [`LocalDeployer`].
#[derive(Debug, Clone)]
pub struct LocalDeployerConfig {
    /// Where state files and process output go.
    pub state_dir: PathBuf,
    /// How long an instance may take to become ready, unless `local/deploy.yaml` says
    /// otherwise (default 30 s).
    pub start_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping an instance (default 5 s).
    pub stop_grace: Duration,
    /// Most replicas a version may have (default 10).
    pub max_replicas: u32,
    /// Whether [`Deployer::shutdown`] stops the processes (default true). When false they
    /// keep running and the next [`LocalDeployer::start`] adopts them.
    pub stop_processes_on_shutdown: bool,
    /// How long the proxy waits for an instance's response (default 60 s).
    pub upstream_timeout: Duration,
}

impl LocalDeployerConfig {
    /// Defaults with the given state directory.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            start_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(5),
            max_replicas: 10,
            stop_processes_on_shutdown: true,
            upstream_timeout: Duration::from_secs(60),
        }
    }
}

type Entry = Arc<Mutex<Option<ServiceRuntime>>>;

/// Runs service versions as local processes; see the [module documentation](self).
#[derive(Debug)]
pub struct LocalDeployer {
    config: LocalDeployerConfig,
    files: StateFiles,
    http: reqwest::Client,
    services: std::sync::Mutex<BTreeMap<ServiceScope, Entry>>,
    shut_down: AtomicBool,
}

impl LocalDeployer {
    /// Opens the state directory and brings back every recorded service: live processes are
    /// adopted, dead ones restarted. A service that cannot be restored is logged and kept
    /// with the instances that could be started (its proxy answers 503 without any).
    pub async fn start(config: LocalDeployerConfig) -> Result<Self, DeployError> {
        tokio::fs::create_dir_all(&config.state_dir)
            .await
            .map_err(|e| {
                DeployError::io(
                    format!(
                        "cannot create state directory {}",
                        config.state_dir.display()
                    ),
                    e,
                )
            })?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| DeployError::invalid("cannot build the HTTP client").with_source(e))?;
        let deployer = Self {
            files: StateFiles::new(&config.state_dir),
            config,
            http,
            services: std::sync::Mutex::new(BTreeMap::new()),
            shut_down: AtomicBool::new(false),
        };
        // Processes started just before a crash, not yet in any record.
        let launched = deployer.files.journal_take()?;
        let mut kept = Vec::new();
        for record in deployer.files.load_all().await? {
            let scope = record.scope.clone();
            let runtime = ops::restore(&deployer.launcher(), record).await?;
            let saved = runtime.record();
            kept.extend(
                [saved.primary.as_ref(), saved.canary.as_ref()]
                    .into_iter()
                    .flatten()
                    .flat_map(|slot| slot.instances.iter().map(|i| i.pid)),
            );
            deployer.files.save(&saved).await?;
            deployer.entry(&scope).lock().await.replace(runtime);
        }
        for orphan in launched.into_iter().filter(|l| !kept.contains(&l.pid)) {
            if let Some(instance) = process::Instance::adopt(orphan.pid, orphan.port) {
                tracing::info!(
                    pid = orphan.pid,
                    port = orphan.port,
                    "stopping a process started before a crash and never recorded"
                );
                instance.stop(deployer.config.stop_grace).await;
            }
        }
        Ok(deployer)
    }

    /// The settings.
    pub fn config(&self) -> &LocalDeployerConfig {
        &self.config
    }

    /// The state file of a service (it exists once the service was deployed).
    pub fn state_file(&self, scope: &ServiceScope) -> PathBuf {
        self.files.path(scope)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    /// The services currently deployed.
    pub async fn services(&self) -> Vec<ServiceScope> {
        let mut out = Vec::new();
        for (scope, entry) in self.entries() {
            if entry.lock().await.is_some() {
                out.push(scope);
            }
        }
        out
    }

    fn launcher(&self) -> Launcher<'_> {
        Launcher {
            config: &self.config,
            files: &self.files,
            http: &self.http,
        }
    }

    fn entry(&self, scope: &ServiceScope) -> Entry {
        let mut map = self.services.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(scope.clone()).or_default())
    }

    fn entries(&self) -> Vec<(ServiceScope, Entry)> {
        let map = self.services.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    fn check_running(&self) -> Result<(), DeployError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(DeployError::new(
                DeployErrorKind::Unsupported,
                "the local deployer is shut down",
            ));
        }
        Ok(())
    }

    async fn persist(&self, runtime: &ServiceRuntime) -> Result<(), DeployError> {
        let record = runtime.record();
        self.files.save(&record).await?;
        let recorded: Vec<u32> = [record.primary.as_ref(), record.canary.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(|slot| slot.instances.iter().map(|i| i.pid))
            .collect();
        self.files.journal_settle(&recorded)
    }
}

fn not_deployed(scope: &ServiceScope) -> DeployError {
    DeployError::new(
        DeployErrorKind::NotFound,
        format!("{scope} is not deployed by the local deployer"),
    )
}

#[async_trait]
impl Deployer for LocalDeployer {
    fn name(&self) -> &'static str {
        "local"
    }

    fn resource_paths(&self, _service: &str) -> Vec<String> {
        vec![RUN_CONFIG_PATH.to_owned(), ENDPOINTS_PATH.to_owned()]
    }

    async fn deploy(&self, request: &DeployRequest) -> Result<DeployOutcome, DeployError> {
        self.check_running()?;
        let entry = self.entry(&request.scope);
        let mut guard = entry.lock().await;
        self.check_running()?;
        // A failed deployment may still have changed what runs (a replaced canary stopped):
        // the state is written either way.
        let outcome = ops::deploy(&self.launcher(), &mut guard, request).await;
        if let Some(runtime) = guard.as_ref() {
            self.persist(runtime).await?;
        }
        outcome
    }

    async fn release(
        &self,
        scope: &ServiceScope,
        result: KeptnResult,
    ) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let entry = self.entry(scope);
        let mut guard = entry.lock().await;
        let runtime = guard.as_mut().ok_or_else(|| not_deployed(scope))?;
        let outcome = ops::release(&self.config, runtime, result).await;
        self.persist(runtime).await?;
        Ok(outcome)
    }

    async fn rollback(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let entry = self.entry(scope);
        let mut guard = entry.lock().await;
        let runtime = guard.as_mut().ok_or_else(|| not_deployed(scope))?;
        let outcome = ops::rollback(&self.config, runtime).await;
        self.persist(runtime).await?;
        Ok(outcome)
    }

    async fn scale(
        &self,
        scope: &ServiceScope,
        change: ReplicaChange,
    ) -> Result<ChangeOutcome, DeployError> {
        self.check_running()?;
        let entry = self.entry(scope);
        let mut guard = entry.lock().await;
        let runtime = guard.as_mut().ok_or_else(|| not_deployed(scope))?;
        let outcome = ops::scale(&self.launcher(), runtime, change).await;
        self.persist(runtime).await?;
        outcome
    }

    async fn status(&self, scope: &ServiceScope) -> Result<Option<ServiceStatus>, DeployError> {
        let entry = self.entry(scope);
        let mut guard = entry.lock().await;
        Ok(guard.as_mut().map(ServiceRuntime::status))
    }

    async fn remove_service(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        let entry = self.entry(scope);
        let mut guard = entry.lock().await;
        let message = match guard.take() {
            Some(runtime) => {
                runtime.stop(true, self.config.stop_grace).await;
                format!("Removed {scope}")
            }
            None => format!("{scope} was not deployed"),
        };
        self.files.remove(scope).await?;
        Ok(ChangeOutcome::message(message))
    }

    async fn shutdown(&self) -> Result<(), DeployError> {
        self.shut_down.store(true, Ordering::SeqCst);
        let stop = self.config.stop_processes_on_shutdown;
        let mut stops = Vec::new();
        for (_, entry) in self.entries() {
            let grace = self.config.stop_grace;
            stops.push(async move {
                if let Some(runtime) = entry.lock().await.take() {
                    runtime.stop(stop, grace).await;
                }
            });
        }
        futures::future::join_all(stops).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_process_launched_before_a_crash_and_never_recorded_is_stopped_on_start() {
        let dir = tempfile::tempdir().unwrap();
        // A process in its own process group, as the deployer starts them.
        let mut child = std::process::Command::new("setsid")
            .args(["sleep", "60"])
            .spawn()
            .expect("setsid and sleep exist");
        let pid = child.id();
        // `setsid` makes the group right after the spawn; the deployer only stops a pid that
        // leads its own group, so wait until it does.
        let raw = rustix::process::Pid::from_raw(pid as i32).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rustix::process::getpgid(Some(raw)).ok() != Some(raw) {
            assert!(std::time::Instant::now() < deadline, "setsid made no group");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let files = StateFiles::new(dir.path());
        files
            .journal_launch(state::InstanceRecord { pid, port: 1 })
            .unwrap();
        let mut config = LocalDeployerConfig::new(dir.path());
        config.stop_grace = Duration::from_secs(2);
        let deployer = LocalDeployer::start(config).await.unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(!status.success(), "the orphan was stopped by a signal");
        assert!(files.journal_take().unwrap().is_empty());
        deployer.shutdown().await.unwrap();
    }
}
