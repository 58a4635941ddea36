//! The live side of a deployed service: its proxy and the instances of its versions.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use keptn_sdk::event::payload::DeploymentStrategy;

use super::LocalDeployerConfig;
use super::config::LaunchSpec;
use super::process::{Instance, healthy};
use super::proxy::{Proxy, Routes};
use super::state::{InstanceRecord, STATE_VERSION, ServiceRecord, SlotRecord, StateFiles};
use crate::deploy::{DeployError, InstanceStatus, ServiceScope, ServiceStatus, VersionStatus};

/// The instances of one version.
#[derive(Debug)]
pub(crate) struct Slot {
    pub spec: LaunchSpec,
    pub replicas: u32,
    pub instances: Vec<Instance>,
}

impl Slot {
    fn ports(&self) -> Vec<u16> {
        self.instances.iter().map(Instance::port).collect()
    }

    fn record(&self) -> SlotRecord {
        SlotRecord {
            spec: self.spec.clone(),
            replicas: self.replicas,
            instances: self
                .instances
                .iter()
                .map(|i| InstanceRecord {
                    pid: i.pid(),
                    port: i.port(),
                })
                .collect(),
        }
    }

    fn status(&mut self) -> VersionStatus {
        VersionStatus {
            version: self.spec.version(),
            replicas: self.replicas,
            instances: self
                .instances
                .iter_mut()
                .map(|i| InstanceStatus {
                    pid: Some(i.pid()),
                    url: i.url(),
                    alive: i.alive(),
                })
                .collect(),
        }
    }

    /// Stops every instance, concurrently.
    pub(crate) async fn stop(self, grace: Duration) {
        join_all(self.instances.into_iter().map(|i| i.stop(grace))).await;
    }

    /// Leaves every instance running.
    pub(crate) fn detach(self) {
        self.instances.into_iter().for_each(Instance::detach);
    }
}

/// A deployed service.
#[derive(Debug)]
pub(crate) struct ServiceRuntime {
    pub scope: ServiceScope,
    pub strategy: DeploymentStrategy,
    pub proxy: Proxy,
    pub canary_weight: u8,
    pub primary: Option<Slot>,
    pub canary: Option<Slot>,
}

impl ServiceRuntime {
    /// Points the proxy at the current instances and weight.
    pub(crate) fn apply_routes(&self) {
        self.proxy.set_routes(Routes {
            primary: self.primary.as_ref().map(Slot::ports).unwrap_or_default(),
            canary: self.canary.as_ref().map(Slot::ports).unwrap_or_default(),
            canary_weight: self.canary_weight,
        });
    }

    /// What is persisted.
    pub(crate) fn record(&self) -> ServiceRecord {
        ServiceRecord {
            version: STATE_VERSION,
            scope: self.scope.clone(),
            strategy: self.strategy.clone(),
            proxy_port: self.proxy.port(),
            canary_weight: self.canary_weight,
            primary: self.primary.as_ref().map(Slot::record),
            canary: self.canary.as_ref().map(Slot::record),
            updated: Utc::now(),
        }
    }

    /// The status.
    pub(crate) fn status(&mut self) -> ServiceStatus {
        let url = self.proxy.url();
        ServiceStatus {
            scope: self.scope.clone(),
            strategy: self.strategy.clone(),
            uris_local: vec![url.clone()],
            uris_public: vec![url],
            canary_weight: self.canary_weight,
            primary: self.primary.as_mut().map(Slot::status),
            canary: self.canary.as_mut().map(Slot::status),
        }
    }

    /// Stops the proxy and, if `stop_processes`, every instance (else leaves them running).
    pub(crate) async fn stop(self, stop_processes: bool, grace: Duration) {
        self.proxy.stop().await;
        for slot in [self.primary, self.canary].into_iter().flatten() {
            if stop_processes {
                slot.stop(grace).await;
            } else {
                slot.detach();
            }
        }
    }
}

/// Starts instances of versions.
#[derive(Debug)]
pub(crate) struct Launcher<'a> {
    pub config: &'a LocalDeployerConfig,
    pub files: &'a StateFiles,
    pub http: &'a reqwest::Client,
}

impl Launcher<'_> {
    /// Starts `replicas` instances of `spec` (concurrently) and waits until all are ready; on
    /// failure stops those that started.
    pub(crate) async fn start_slot(
        &self,
        scope: &ServiceScope,
        spec: LaunchSpec,
        replicas: u32,
        deployment: &str,
    ) -> Result<Slot, DeployError> {
        let mut slot = Slot {
            spec,
            replicas,
            instances: Vec::new(),
        };
        self.grow(scope, &mut slot, replicas as usize, deployment)
            .await?;
        Ok(slot)
    }

    /// Adds instances until the slot has `target`; all or nothing.
    pub(crate) async fn grow(
        &self,
        scope: &ServiceScope,
        slot: &mut Slot,
        target: usize,
        deployment: &str,
    ) -> Result<(), DeployError> {
        let missing = target.saturating_sub(slot.instances.len());
        let started =
            join_all((0..missing).map(|_| self.start_instance(scope, &slot.spec, deployment)))
                .await;
        let mut failure = None;
        let mut fresh = Vec::new();
        for result in started {
            match result {
                Ok(instance) => fresh.push(instance),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            join_all(fresh.into_iter().map(|i| i.stop(self.config.stop_grace))).await;
            return Err(e);
        }
        slot.instances.extend(fresh);
        Ok(())
    }

    /// Starts one instance on a free port and waits until it is ready.
    pub(crate) async fn start_instance(
        &self,
        scope: &ServiceScope,
        spec: &LaunchSpec,
        deployment: &str,
    ) -> Result<Instance, DeployError> {
        let port = free_port()?;
        let launch = spec.launch(scope, port, deployment)?;
        let log = self.log_file(scope, deployment, port).await?;
        let limit = spec
            .config
            .start_timeout()?
            .unwrap_or(self.config.start_timeout);
        let mut instance =
            Instance::spawn(&launch, port, spec.config.working_dir.as_deref(), &log)?;
        self.files.journal_launch(InstanceRecord {
            pid: instance.pid(),
            port,
        })?;
        let ready = instance
            .wait_ready(self.http, spec.config.health_path.as_deref(), limit, &log)
            .await;
        match ready {
            Ok(()) => {
                tracing::info!(%scope, deployment, pid = instance.pid(), port, version = %spec.version(), "instance ready");
                Ok(instance)
            }
            Err(e) => {
                instance.stop(self.config.stop_grace).await;
                Err(e)
            }
        }
    }

    /// Takes over the recorded instances that still run and answer, restarts the others.
    pub(crate) async fn restore_slot(
        &self,
        scope: &ServiceScope,
        record: SlotRecord,
        deployment: &str,
    ) -> Slot {
        let health = record.spec.config.health_path.clone();
        let mut slot = Slot {
            spec: record.spec,
            replicas: record.replicas,
            instances: Vec::new(),
        };
        for recorded in record.instances {
            let Some(instance) = Instance::adopt(recorded.pid, recorded.port) else {
                continue;
            };
            if healthy(self.http, recorded.port, health.as_deref()).await {
                tracing::info!(%scope, deployment, pid = recorded.pid, port = recorded.port, "instance adopted");
                slot.instances.push(instance);
            } else {
                instance.stop(self.config.stop_grace).await;
            }
        }
        slot.instances.truncate(slot.replicas as usize);
        let target = slot.replicas as usize;
        if let Err(e) = self.grow(scope, &mut slot, target, deployment).await {
            tracing::warn!(%scope, deployment, error = %e.report(), "cannot restart a recorded version");
        }
        slot
    }

    async fn log_file(
        &self,
        scope: &ServiceScope,
        deployment: &str,
        port: u16,
    ) -> Result<PathBuf, DeployError> {
        let dir = self.files.log_dir(scope);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| DeployError::io(format!("cannot create {}", dir.display()), e))?;
        Ok(dir.join(format!("{}-{deployment}-{port}.log", scope.service())))
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, DeployError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| DeployError::io("cannot find a free loopback port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| DeployError::io("cannot find a free loopback port", e))
}
