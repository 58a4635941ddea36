//! Where the driver gets shipyards: the [`ShipyardSource`] trait and an in-memory source.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use keptn_sdk::event::GitCommitId;

use crate::shipyard::{Shipyard, ShipyardError};

/// The kind of a [`ShipyardSourceError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShipyardSourceErrorKind {
    /// The project (or the commit) does not exist.
    NotFound,
    /// The stored shipyard is not valid.
    Invalid,
    /// The configuration store cannot be reached; retrying later may work.
    Unavailable,
}

/// Why a shipyard could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ShipyardSourceError {
    kind: ShipyardSourceErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ShipyardSourceError {
    /// A new error.
    pub fn new(kind: ShipyardSourceErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ShipyardSourceErrorKind {
        self.kind
    }
}

/// Reads the shipyards of projects, as the configuration store holds them.
///
/// # Contract
/// - `shipyard(project, Some(commit))` returns the shipyard as it was at that commit; the driver
///   caches the answer by commit id, so it must not change for a given commit.
/// - `shipyard(project, None)` returns the latest shipyard (not cached).
/// - `latest_commit(project, stage)` is the newest commit of the stage's configuration, or
///   `Ok(None)` when the store has no commit ids (sequences then run without `gitcommitid`).
#[async_trait]
pub trait ShipyardSource: Send + Sync + fmt::Debug + 'static {
    /// The shipyard of `project` at `at_commit` (the latest when `None`).
    async fn shipyard(
        &self,
        project: &str,
        at_commit: Option<&GitCommitId>,
    ) -> Result<Shipyard, ShipyardSourceError>;

    /// The latest commit of the configuration of `stage` in `project`.
    async fn latest_commit(
        &self,
        project: &str,
        stage: &str,
    ) -> Result<Option<GitCommitId>, ShipyardSourceError>;
}

#[derive(Debug, Default)]
struct Project {
    versions: HashMap<GitCommitId, Result<Shipyard, ShipyardError>>,
    latest: Option<GitCommitId>,
    stage_commits: HashMap<String, GitCommitId>,
}

/// A [`ShipyardSource`] in memory: every [`set`](MemoryShipyardSource::set) is a new commit of
/// the project (id `<project>-<n>`), which is also the latest commit of every stage unless a
/// stage commit was set explicitly.
#[derive(Debug, Clone, Default)]
pub struct MemoryShipyardSource {
    projects: Arc<Mutex<HashMap<String, Project>>>,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl MemoryShipyardSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Project>> {
        self.projects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new version of a project's shipyard; returns its commit id.
    pub fn set(&self, project: &str, shipyard: Shipyard) -> GitCommitId {
        self.store(project, Ok(shipyard))
    }

    /// Stores a new version of a project's shipyard from YAML, valid or not (an invalid one is
    /// reported when read, as a real configuration store would); returns its commit id.
    pub fn set_yaml(&self, project: &str, yaml: &str) -> GitCommitId {
        self.store(project, Shipyard::parse(yaml))
    }

    /// Makes `commit` the latest commit of `stage`; the shipyard at that commit is the latest
    /// one of the project.
    pub fn set_stage_commit(&self, project: &str, stage: &str, commit: GitCommitId) {
        let mut projects = self.lock();
        let entry = projects.entry(project.to_owned()).or_default();
        if let Some(latest) = entry
            .latest
            .as_ref()
            .and_then(|c| entry.versions.get(c))
            .cloned()
        {
            entry.versions.insert(commit.clone(), latest);
        }
        entry.stage_commits.insert(stage.to_owned(), commit);
    }

    fn store(&self, project: &str, shipyard: Result<Shipyard, ShipyardError>) -> GitCommitId {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let commit = GitCommitId::new(format!("{project}-{n}"));
        let mut projects = self.lock();
        let entry = projects.entry(project.to_owned()).or_default();
        entry.versions.insert(commit.clone(), shipyard);
        entry.latest = Some(commit.clone());
        commit
    }
}

#[async_trait]
impl ShipyardSource for MemoryShipyardSource {
    async fn shipyard(
        &self,
        project: &str,
        at_commit: Option<&GitCommitId>,
    ) -> Result<Shipyard, ShipyardSourceError> {
        let projects = self.lock();
        let entry = projects.get(project).ok_or_else(|| {
            ShipyardSourceError::new(
                ShipyardSourceErrorKind::NotFound,
                format!("project {project} has no shipyard"),
            )
        })?;
        let commit = at_commit.or(entry.latest.as_ref()).ok_or_else(|| {
            ShipyardSourceError::new(
                ShipyardSourceErrorKind::NotFound,
                format!("project {project} has no shipyard"),
            )
        })?;
        match entry.versions.get(commit) {
            None => Err(ShipyardSourceError::new(
                ShipyardSourceErrorKind::NotFound,
                format!("project {project} has no shipyard at commit {commit}"),
            )),
            Some(Ok(shipyard)) => Ok(shipyard.clone()),
            Some(Err(e)) => Err(ShipyardSourceError::new(
                ShipyardSourceErrorKind::Invalid,
                format!("the shipyard of project {project} at commit {commit} is invalid: {e}"),
            )),
        }
    }

    async fn latest_commit(
        &self,
        project: &str,
        stage: &str,
    ) -> Result<Option<GitCommitId>, ShipyardSourceError> {
        let projects = self.lock();
        Ok(projects
            .get(project)
            .and_then(|p| p.stage_commits.get(stage).or(p.latest.as_ref()))
            .cloned())
    }
}
