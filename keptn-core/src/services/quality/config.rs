//! Reading the configuration a task works with: at the sequence's commit, falling back to the
//! latest version, and through the service → stage → project levels.

use keptn_sdk::event::GitCommitId;

use crate::configstore::{
    ConfigStore, ConfigStoreError, ConfigStoreErrorKind, ReadOptions, Scope, StoredResource,
};

/// Reads `uri` of `scope` at `commit` (a sequence's `gitcommitid`), or at the latest version
/// when there is no commit or the commit does not hold the scope (a commit of another branch,
/// one this store never had, a service created later). A scope that does not exist at all is
/// absent (`Ok(None)`), like a missing file; other failures are errors.
pub(crate) async fn read_at_commit(
    store: &dyn ConfigStore,
    scope: &Scope,
    uri: &str,
    commit: Option<&GitCommitId>,
) -> Result<Option<StoredResource>, ConfigStoreError> {
    if let Some(commit) = commit {
        match store
            .get_resource(scope, uri, &ReadOptions::at(commit.clone()))
            .await
        {
            Ok(found) => return Ok(found),
            Err(e) if e.kind() == ConfigStoreErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    match store.get_resource(scope, uri, &ReadOptions::latest()).await {
        Ok(found) => Ok(found),
        Err(e) if e.kind() == ConfigStoreErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a resource was found by [`read_levels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The service folder in the stage.
    Service,
    /// The stage.
    Stage,
    /// The project (latest version: project files are not versioned per stage).
    Project,
}

impl Level {
    /// Where, in words: `service carts in stage dev of project sockshop`.
    pub(crate) fn describe(self, project: &str, stage: &str, service: &str) -> String {
        match self {
            Level::Service => format!("service {service} in stage {stage} of project {project}"),
            Level::Stage => format!("stage {stage} of project {project}"),
            Level::Project => format!("project {project}"),
        }
    }
}

/// Reads `uri` at every level that has it, most general first: the project (latest), the stage
/// and the service in the stage (both at `commit`).
pub(crate) async fn read_levels(
    store: &dyn ConfigStore,
    project: &str,
    stage: &str,
    service: &str,
    uri: &str,
    commit: Option<&GitCommitId>,
) -> Result<Vec<(Level, StoredResource)>, ConfigStoreError> {
    let mut found = Vec::new();
    if let Some(r) = read_at_commit(store, &Scope::project(project), uri, None).await? {
        found.push((Level::Project, r));
    }
    if let Some(r) = read_at_commit(store, &Scope::stage(project, stage), uri, commit).await? {
        found.push((Level::Stage, r));
    }
    let scope = Scope::service(project, stage, service);
    if let Some(r) = read_at_commit(store, &scope, uri, commit).await? {
        found.push((Level::Service, r));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configstore::{MemoryConfigStore, ProjectSetup, Resource};

    #[tokio::test]
    async fn reads_at_the_commit_then_falls_back_to_the_latest() {
        let store = MemoryConfigStore::new();
        store
            .create_project("p", ProjectSetup::default())
            .await
            .unwrap();
        store.create_stage("p", "dev").await.unwrap();
        store.create_service("p", "carts").await.unwrap();
        let scope = Scope::service("p", "dev", "carts");
        let v1 = store
            .put_resources(&scope, vec![Resource::new("slo.yaml", "one")], None)
            .await
            .unwrap();
        store
            .put_resources(&scope, vec![Resource::new("slo.yaml", "two")], None)
            .await
            .unwrap();
        let at = |c: Option<GitCommitId>| {
            let store = &store;
            let scope = scope.clone();
            async move {
                read_at_commit(store, &scope, "slo.yaml", c.as_ref())
                    .await
                    .unwrap()
                    .map(|r| r.content)
            }
        };
        assert_eq!(at(Some(v1)).await.as_deref(), Some(&b"one"[..]));
        assert_eq!(at(None).await.as_deref(), Some(&b"two"[..]));
        let unknown = GitCommitId::new("0123456789012345678901234567890123456789");
        assert_eq!(at(Some(unknown)).await.as_deref(), Some(&b"two"[..]));
        let missing = read_at_commit(&store, &Scope::project("nope"), "x", None)
            .await
            .unwrap();
        assert!(missing.is_none());
    }

    #[tokio::test]
    async fn levels_come_most_general_first() {
        let store = MemoryConfigStore::new();
        store
            .create_project("p", ProjectSetup::default())
            .await
            .unwrap();
        store.create_stage("p", "dev").await.unwrap();
        store.create_service("p", "carts").await.unwrap();
        for scope in [Scope::project("p"), Scope::service("p", "dev", "carts")] {
            store
                .put_resources(&scope, vec![Resource::new("sli.yaml", "x")], None)
                .await
                .unwrap();
        }
        let levels: Vec<Level> = read_levels(&store, "p", "dev", "carts", "sli.yaml", None)
            .await
            .unwrap()
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(levels, [Level::Project, Level::Service]);
        assert_eq!(
            Level::Stage.describe("p", "dev", "carts"),
            "stage dev of project p"
        );
    }
}
