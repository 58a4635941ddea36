//! The orchestrator's shipyards, read from the configuration store.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::GitCommitId;

use crate::configstore::{ConfigStore, ConfigStoreErrorKind, ReadOptions, SHIPYARD_FILE, Scope};
use crate::orchestrator::{ShipyardSource, ShipyardSourceError, ShipyardSourceErrorKind};
use crate::shipyard::Shipyard;

/// A [`ShipyardSource`] over a [`ConfigStore`]: `shipyard.yaml` of the project, at the
/// sequence's commit when the commit holds it (stage branches start as copies of the default
/// branch), else the latest one; stage commits are the stage branch tips.
#[derive(Clone)]
pub struct ConfigShipyardSource {
    config: Arc<dyn ConfigStore>,
}

impl std::fmt::Debug for ConfigShipyardSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigShipyardSource")
            .finish_non_exhaustive()
    }
}

impl ConfigShipyardSource {
    /// Shipyards of the projects in `config`.
    pub fn new(config: Arc<dyn ConfigStore>) -> Self {
        Self { config }
    }
}

fn source_error(err: crate::configstore::ConfigStoreError) -> ShipyardSourceError {
    let kind = match err.kind() {
        ConfigStoreErrorKind::NotFound | ConfigStoreErrorKind::InvalidInput => {
            ShipyardSourceErrorKind::NotFound
        }
        _ => ShipyardSourceErrorKind::Unavailable,
    };
    ShipyardSourceError::new(kind, err.to_string()).with_source(err)
}

#[async_trait]
impl ShipyardSource for ConfigShipyardSource {
    async fn shipyard(
        &self,
        project: &str,
        at_commit: Option<&GitCommitId>,
    ) -> Result<Shipyard, ShipyardSourceError> {
        let scope = Scope::project(project);
        let mut stored = None;
        if let Some(commit) = at_commit {
            let options = ReadOptions::at(commit.clone()).without_upstream_sync();
            match self
                .config
                .get_resource(&scope, SHIPYARD_FILE, &options)
                .await
            {
                Ok(found) => stored = found,
                // A commit of a stage branch that lost the file, or one this store never had:
                // fall back to the latest shipyard.
                Err(e) if e.kind() == ConfigStoreErrorKind::NotFound => {}
                Err(e) => return Err(source_error(e)),
            }
        }
        if stored.is_none() {
            let options = ReadOptions::latest().without_upstream_sync();
            stored = self
                .config
                .get_resource(&scope, SHIPYARD_FILE, &options)
                .await
                .map_err(source_error)?;
        }
        let stored = stored.ok_or_else(|| {
            ShipyardSourceError::new(
                ShipyardSourceErrorKind::NotFound,
                format!("project {project} has no shipyard.yaml"),
            )
        })?;
        let text = String::from_utf8_lossy(&stored.content);
        Shipyard::parse(&text).map_err(|e| {
            ShipyardSourceError::new(
                ShipyardSourceErrorKind::Invalid,
                format!("the shipyard of project {project} is invalid: {e}"),
            )
        })
    }

    async fn latest_commit(
        &self,
        project: &str,
        stage: &str,
    ) -> Result<Option<GitCommitId>, ShipyardSourceError> {
        self.config
            .latest_commit(project, Some(stage))
            .await
            .map(Some)
            .map_err(source_error)
    }
}
