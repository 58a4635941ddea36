//! The local deployer's persisted state: one JSON file per service under
//! `<state dir>/services/<project>/<stage>/<service>.json`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use keptn_sdk::event::payload::DeploymentStrategy;
use serde::{Deserialize, Serialize};

use super::config::LaunchSpec;
use crate::deploy::{DeployError, ServiceScope};

/// Format version of the state files.
pub const STATE_VERSION: u32 = 1;

/// What the deployer remembers of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Which service.
    pub scope: ServiceScope,
    /// Strategy of the last deployment.
    pub strategy: DeploymentStrategy,
    /// The proxy's port, kept across restarts.
    pub proxy_port: u16,
    /// Percentage of traffic for the canary.
    pub canary_weight: u8,
    /// The serving version.
    pub primary: Option<SlotRecord>,
    /// The new version of a blue/green deployment.
    pub canary: Option<SlotRecord>,
    /// When the record was written.
    pub updated: DateTime<Utc>,
}

/// One deployed version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotRecord {
    /// How its instances are started.
    pub spec: LaunchSpec,
    /// How many instances it should have.
    pub replicas: u32,
    /// The instances last known to run.
    pub instances: Vec<InstanceRecord>,
}

/// A process of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Its process id (leader of its own process group).
    pub pid: u32,
    /// Its loopback port.
    pub port: u16,
}

/// Reads and writes the records and the launch journal.
#[derive(Debug, Clone)]
pub(crate) struct StateFiles {
    root: PathBuf,
    journal_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl StateFiles {
    pub(crate) fn new(state_dir: &Path) -> Self {
        Self {
            root: state_dir.to_owned(),
            journal_lock: std::sync::Arc::default(),
        }
    }

    fn services_dir(&self) -> PathBuf {
        self.root.join("services")
    }

    /// The record file of a service.
    pub(crate) fn path(&self, scope: &ServiceScope) -> PathBuf {
        self.services_dir()
            .join(scope.project())
            .join(scope.stage())
            .join(format!("{}.json", scope.service()))
    }

    /// The directory of the instances' output.
    pub(crate) fn log_dir(&self, scope: &ServiceScope) -> PathBuf {
        self.root
            .join("logs")
            .join(scope.project())
            .join(scope.stage())
    }

    /// Writes a record atomically (temporary file, then rename).
    pub(crate) async fn save(&self, record: &ServiceRecord) -> Result<(), DeployError> {
        let path = self.path(&record.scope);
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| DeployError::invalid("cannot encode the deployer state").with_source(e))?;
        write_atomic(&path, &json).await
    }

    /// Deletes a record; absent is fine.
    pub(crate) async fn remove(&self, scope: &ServiceScope) -> Result<(), DeployError> {
        let path = self.path(scope);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DeployError::io(
                format!("cannot remove state file {}", path.display()),
                e,
            )),
        }
    }

    /// The launch journal: processes started but maybe not yet in a service record.
    fn journal_path(&self) -> PathBuf {
        self.root.join("launches.json")
    }

    fn read_journal(&self) -> Vec<InstanceRecord> {
        std::fs::read(self.journal_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write_journal(&self, entries: &[InstanceRecord]) -> Result<(), DeployError> {
        let path = self.journal_path();
        let result = if entries.is_empty() {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            let tmp = path.with_extension("json.tmp");
            serde_json::to_vec(entries)
                .map_err(std::io::Error::other)
                .and_then(|json| std::fs::write(&tmp, json))
                .and_then(|()| std::fs::rename(&tmp, &path))
        };
        result.map_err(|e| {
            DeployError::io(
                format!("cannot write the launch journal {}", path.display()),
                e,
            )
        })
    }

    /// Notes a process right after it was spawned, before it is in any service record, so that
    /// a crash in between cannot leave it running unknown to the next start.
    pub(crate) fn journal_launch(&self, instance: InstanceRecord) -> Result<(), DeployError> {
        let _guard = self.journal_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = self.read_journal();
        entries.push(instance);
        self.write_journal(&entries)
    }

    /// Forgets journal entries that a record now holds (or that were stopped).
    pub(crate) fn journal_settle(&self, pids: &[u32]) -> Result<(), DeployError> {
        let _guard = self.journal_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = self.read_journal();
        let before = entries.len();
        entries.retain(|e| !pids.contains(&e.pid));
        if entries.len() == before {
            return Ok(());
        }
        self.write_journal(&entries)
    }

    /// Takes every journal entry (the journal is empty afterwards).
    pub(crate) fn journal_take(&self) -> Result<Vec<InstanceRecord>, DeployError> {
        let _guard = self.journal_lock.lock().unwrap_or_else(|e| e.into_inner());
        let entries = self.read_journal();
        self.write_journal(&[])?;
        Ok(entries)
    }

    /// Every record on disk.
    pub(crate) async fn load_all(&self) -> Result<Vec<ServiceRecord>, DeployError> {
        let dir = self.services_dir();
        tokio::task::spawn_blocking(move || load_dir(&dir))
            .await
            .map_err(|e| DeployError::invalid("state loading task failed").with_source(e))?
    }
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let Some(dir) = path.parent() else {
        return Err(DeployError::invalid(format!(
            "state file {} has no parent directory",
            path.display()
        )));
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| DeployError::io(format!("cannot create {}", dir.display()), e))?;
    let tmp = path.with_extension("json.tmp");
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| DeployError::io(format!("cannot write {}", tmp.display()), e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| DeployError::io(format!("cannot replace {}", path.display()), e))
}

fn load_dir(dir: &Path) -> Result<Vec<ServiceRecord>, DeployError> {
    let mut records = Vec::new();
    if !dir.exists() {
        return Ok(records);
    }
    for project in read_dir(dir)? {
        for stage in read_dir(&project)? {
            for file in read_dir(&stage)? {
                if file.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let bytes = std::fs::read(&file)
                    .map_err(|e| DeployError::io(format!("cannot read {}", file.display()), e))?;
                let record: ServiceRecord = serde_json::from_slice(&bytes).map_err(|e| {
                    DeployError::invalid(format!("cannot read state file {}", file.display()))
                        .with_source(e)
                })?;
                if record.version != STATE_VERSION {
                    return Err(DeployError::invalid(format!(
                        "state file {} has version {}: expected {STATE_VERSION}",
                        file.display(),
                        record.version
                    )));
                }
                records.push(record);
            }
        }
    }
    records.sort_by(|a, b| a.scope.cmp(&b.scope));
    Ok(records)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, DeployError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| DeployError::io(format!("cannot list {}", dir.display()), e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| DeployError::io(format!("cannot list {}", dir.display()), e))?;
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}
