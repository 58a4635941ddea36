//! The in-memory configuration store: the git model (branches of commits of whole trees) kept in
//! maps, for tests and for embedding without a disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use keptn_sdk::event::GitCommitId;

use super::ConfigStore;
use super::error::{ConfigStoreError, Result};
use super::layout::{self, METADATA_FILE};
use super::names::{
    validate_branch_name, validate_commit_id, validate_project_name, validate_service_name,
    validate_stage_name, validate_upstream_url, validate_uri,
};
use super::types::{
    ProjectSetup, ReadOptions, Resource, ResourceMetadata, Scope, ScopeLevel, StoredResource,
    Upstream,
};

mod state;

use state::{Project, Tree, collision, has_service, lock, service_of_stage_uri, services_of};

/// An in-memory [`ConfigStore`] with the semantics of the git backend.
///
/// Commits are snapshots of whole trees with synthetic 40-hex-digit ids; reads at any older
/// commit id keep working for the life of the store. Upstreams are not supported: a valid
/// upstream is rejected with `InvalidInput`. Helm charts (`helm/<name>.tgz`) are stored as the
/// archive bytes (the git backend keeps them unpacked).
#[derive(Debug)]
pub struct MemoryConfigStore {
    default_branch: String,
    projects: RwLock<BTreeMap<String, Arc<Mutex<Project>>>>,
    next_id: AtomicU64,
}

impl Default for MemoryConfigStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryConfigStore {
    /// An empty store whose projects use `main` as the default branch.
    pub fn new() -> Self {
        Self::empty("main".to_owned())
    }

    /// An empty store whose projects use `branch` as the default branch unless their setup
    /// names one.
    ///
    /// Errors: `InvalidInput` when `branch` is not a valid git branch name.
    pub fn with_default_branch(branch: impl Into<String>) -> Result<Self> {
        let branch = branch.into();
        validate_branch_name(&branch)?;
        Ok(Self::empty(branch))
    }

    fn empty(default_branch: String) -> Self {
        Self {
            default_branch,
            projects: RwLock::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    fn new_commit_id(&self) -> String {
        let seq = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:032x}{:08x}",
            uuid::Uuid::new_v4().as_u128(),
            seq & 0xffff_ffff
        )
    }

    fn project(&self, name: &str) -> Result<Arc<Mutex<Project>>> {
        validate_project_name(name)?;
        let projects = self.projects.read().unwrap_or_else(|e| e.into_inner());
        projects
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigStoreError::project_not_found(name))
    }

    fn commit(&self, project: &mut Project, branch: &str, tree: Tree) -> String {
        let id = self.new_commit_id();
        project.commits.insert(id.clone(), Arc::new(tree));
        project.branches.insert(branch.to_owned(), id.clone());
        id
    }
}

impl MemoryConfigStore {
    /// The branches a write to `scope` touches, each with the stage it belongs to.
    fn write_branches(&self, project: &Project, scope: &Scope) -> Result<Vec<String>> {
        match scope.level() {
            ScopeLevel::Project => Ok(vec![project.default_branch.clone()]),
            ScopeLevel::Stage { stage } => {
                project.stage_branch(&scope.project, stage)?;
                Ok(vec![stage.to_owned()])
            }
            ScopeLevel::Service { stage, service } => {
                project.stage_branch(&scope.project, stage)?;
                let (_, tree) = project
                    .tip(stage)
                    .ok_or_else(|| ConfigStoreError::stage_not_found(&scope.project, stage))?;
                if !has_service(tree, service) {
                    return Err(ConfigStoreError::service_not_found(
                        &scope.project,
                        stage,
                        service,
                    ));
                }
                Ok(vec![stage.to_owned()])
            }
            ScopeLevel::ServiceDefault { service } => {
                let stages: Vec<String> = project
                    .stages()
                    .into_iter()
                    .filter(|s| project.tip(s).is_some_and(|(_, t)| has_service(t, service)))
                    .collect();
                if stages.is_empty() {
                    return Err(ConfigStoreError::not_found(format!(
                        "service '{service}' not found in any stage of project '{}'",
                        scope.project
                    )));
                }
                Ok(stages)
            }
        }
    }

    /// The branch, commit and tree a read of `scope` looks at.
    fn read_tree(
        &self,
        project: &Project,
        scope: &Scope,
        options: &ReadOptions,
    ) -> Result<(String, String, Arc<Tree>)> {
        let branch = match scope.level() {
            ScopeLevel::Project => project.default_branch.clone(),
            ScopeLevel::Stage { stage } | ScopeLevel::Service { stage, .. } => {
                project.stage_branch(&scope.project, stage)?;
                stage.to_owned()
            }
            ScopeLevel::ServiceDefault { .. } => {
                return Err(layout::service_default_read_error(scope));
            }
        };
        let (commit, tree) = match &options.at_commit {
            Some(at) => {
                validate_commit_id(at)?;
                let id = at.as_str().to_ascii_lowercase();
                let tree = project.commits.get(&id).ok_or_else(|| {
                    ConfigStoreError::commit_not_found(&scope.project, at.as_str())
                })?;
                (id, tree.clone())
            }
            None => {
                let (id, tree) = project
                    .tip(&branch)
                    .ok_or_else(|| ConfigStoreError::stage_not_found(&scope.project, &branch))?;
                (id.clone(), tree.clone())
            }
        };
        if let ScopeLevel::Service { stage, service } = scope.level() {
            if !has_service(&tree, service) {
                return Err(ConfigStoreError::service_not_found(
                    &scope.project,
                    stage,
                    service,
                ));
            }
        }
        Ok((branch, commit, tree))
    }
}

#[async_trait]
impl ConfigStore for MemoryConfigStore {
    async fn create_project(&self, project: &str, setup: ProjectSetup) -> Result<GitCommitId> {
        validate_project_name(project)?;
        let branch = setup
            .default_branch
            .clone()
            .unwrap_or_else(|| self.default_branch.clone());
        validate_branch_name(&branch)?;
        if let Some(upstream) = &setup.upstream {
            validate_upstream_url(&upstream.url, false)?;
            return Err(ConfigStoreError::invalid(format!(
                "project '{project}': the in-memory configuration store cannot sync with upstream \
                 '{}'",
                upstream.url
            )));
        }
        let mut tree = Tree::new();
        tree.insert(
            METADATA_FILE.to_owned(),
            Arc::new(layout::project_metadata(project)?),
        );
        if let Some(shipyard) = setup.shipyard {
            tree.insert(layout::SHIPYARD_FILE.to_owned(), Arc::new(shipyard));
        }
        let mut projects = self.projects.write().unwrap_or_else(|e| e.into_inner());
        if projects.contains_key(project) {
            return Err(ConfigStoreError::already_exists(format!(
                "project '{project}' already exists"
            )));
        }
        let mut state = Project {
            default_branch: branch.clone(),
            branches: BTreeMap::new(),
            commits: HashMap::new(),
        };
        let id = self.commit(&mut state, &branch, tree);
        projects.insert(project.to_owned(), Arc::new(Mutex::new(state)));
        Ok(GitCommitId::new(id))
    }

    async fn update_upstream(&self, project: &str, upstream: Option<Upstream>) -> Result<()> {
        self.project(project)?;
        match upstream {
            None => Ok(()),
            Some(upstream) => {
                validate_upstream_url(&upstream.url, false)?;
                Err(ConfigStoreError::invalid(format!(
                    "project '{project}': the in-memory configuration store cannot sync with \
                     upstream '{}'",
                    upstream.url
                )))
            }
        }
    }

    async fn delete_project(&self, project: &str) -> Result<()> {
        validate_project_name(project)?;
        let mut projects = self.projects.write().unwrap_or_else(|e| e.into_inner());
        projects
            .remove(project)
            .map(|_| ())
            .ok_or_else(|| ConfigStoreError::project_not_found(project))
    }

    async fn projects(&self) -> Result<Vec<String>> {
        let projects = self.projects.read().unwrap_or_else(|e| e.into_inner());
        Ok(projects.keys().cloned().collect())
    }

    async fn create_stage(&self, project: &str, stage: &str) -> Result<GitCommitId> {
        validate_stage_name(stage)?;
        let handle = self.project(project)?;
        let mut state = lock(&handle);
        if stage == state.default_branch {
            return Err(ConfigStoreError::invalid(format!(
                "invalid stage name '{stage}': it is the default branch of project '{project}'"
            )));
        }
        if state.branches.contains_key(stage) {
            return Err(ConfigStoreError::already_exists(format!(
                "stage '{stage}' already exists in project '{project}'"
            )));
        }
        let tip = state
            .branches
            .get(&state.default_branch)
            .cloned()
            .ok_or_else(|| ConfigStoreError::project_not_found(project))?;
        state.branches.insert(stage.to_owned(), tip.clone());
        Ok(GitCommitId::new(tip))
    }

    async fn stages(&self, project: &str) -> Result<Vec<String>> {
        let handle = self.project(project)?;
        let state = lock(&handle);
        Ok(state.stages())
    }

    async fn create_service(&self, project: &str, service: &str) -> Result<()> {
        validate_service_name(service)?;
        let handle = self.project(project)?;
        let mut state = lock(&handle);
        let stages = state.stages();
        if stages.is_empty() {
            return Err(ConfigStoreError::invalid(format!(
                "project '{project}' has no stage to create service '{service}' in"
            )));
        }
        let metadata = Arc::new(layout::service_metadata(service)?);
        let mut updates = Vec::new();
        for stage in &stages {
            let (_, tree) = state
                .tip(stage)
                .ok_or_else(|| ConfigStoreError::stage_not_found(project, stage))?;
            if has_service(tree, service) {
                continue;
            }
            let folder = format!("{service}/");
            if let Some(other) = tree
                .keys()
                .find(|k| k.as_str() == service || k.starts_with(&folder))
            {
                return Err(ConfigStoreError::invalid(format!(
                    "cannot create service '{service}' in stage '{stage}' of project \
                     '{project}': stage resource '{other}' already uses that folder name"
                )));
            }
            let mut tree = Tree::clone(tree);
            tree.insert(format!("{service}/{METADATA_FILE}"), metadata.clone());
            updates.push((stage.clone(), tree));
        }
        if updates.is_empty() {
            return Err(ConfigStoreError::already_exists(format!(
                "service '{service}' already exists in every stage of project '{project}'"
            )));
        }
        for (stage, tree) in updates {
            self.commit(&mut state, &stage, tree);
        }
        Ok(())
    }

    async fn delete_service(&self, project: &str, service: &str) -> Result<()> {
        validate_service_name(service)?;
        let handle = self.project(project)?;
        let mut state = lock(&handle);
        let folder = format!("{service}/");
        let mut updates = Vec::new();
        for stage in state.stages() {
            let Some((_, tree)) = state.tip(&stage) else {
                continue;
            };
            if has_service(tree, service) {
                let mut tree = Tree::clone(tree);
                tree.retain(|path, _| !path.starts_with(&folder));
                updates.push((stage, tree));
            }
        }
        if updates.is_empty() {
            return Err(ConfigStoreError::not_found(format!(
                "service '{service}' not found in any stage of project '{project}'"
            )));
        }
        for (stage, tree) in updates {
            self.commit(&mut state, &stage, tree);
        }
        Ok(())
    }

    async fn services(&self, project: &str, stage: &str) -> Result<Vec<String>> {
        validate_stage_name(stage)?;
        let handle = self.project(project)?;
        let state = lock(&handle);
        state.stage_branch(project, stage)?;
        let (_, tree) = state
            .tip(stage)
            .ok_or_else(|| ConfigStoreError::stage_not_found(project, stage))?;
        Ok(services_of(tree))
    }

    async fn put_resources(
        &self,
        scope: &Scope,
        resources: Vec<Resource>,
        _message: Option<&str>,
    ) -> Result<GitCommitId> {
        layout::validate_resources(scope, &resources)?;
        let handle = self.project(&scope.project)?;
        let mut state = lock(&handle);
        let branches = self.write_branches(&state, scope)?;
        let mut results = Vec::new();
        for branch in &branches {
            let (tip, base) = state
                .tip(branch)
                .ok_or_else(|| ConfigStoreError::stage_not_found(&scope.project, branch))?;
            let mut tree = Tree::clone(base);
            for resource in &resources {
                if matches!(scope.level(), ScopeLevel::Stage { .. }) {
                    if let Some(service) = service_of_stage_uri(&tree, &resource.uri) {
                        return Err(layout::stage_uri_in_service_error(
                            scope,
                            &resource.uri,
                            service,
                        ));
                    }
                }
                let path = layout::branch_path(scope, &resource.uri);
                if let Some(other) = collision(&tree, &path) {
                    return Err(layout::path_collision_error(scope, &resource.uri, &other));
                }
                tree.insert(path, Arc::new(resource.content.clone()));
            }
            let changed = tree != **base;
            results.push((branch.clone(), tip.clone(), changed.then_some(tree)));
        }
        let mut last = String::new();
        for (branch, tip, tree) in results {
            last = match tree {
                Some(tree) => self.commit(&mut state, &branch, tree),
                None => tip,
            };
        }
        Ok(GitCommitId::new(last))
    }

    async fn get_resource(
        &self,
        scope: &Scope,
        uri: &str,
        options: &ReadOptions,
    ) -> Result<Option<StoredResource>> {
        layout::validate_scope(scope)?;
        validate_uri(uri)?;
        let handle = self.project(&scope.project)?;
        let state = lock(&handle);
        let (branch, commit, tree) = self.read_tree(&state, scope, options)?;
        if matches!(scope.level(), ScopeLevel::Stage { .. }) {
            if let Some(service) = service_of_stage_uri(&tree, uri) {
                return Err(layout::stage_uri_in_service_error(scope, uri, service));
            }
        }
        let path = layout::branch_path(scope, uri);
        Ok(tree.get(&path).map(|content| StoredResource {
            uri: uri.to_owned(),
            content: content.to_vec(),
            metadata: ResourceMetadata {
                branch,
                upstream_url: None,
                version: GitCommitId::new(commit),
            },
        }))
    }

    async fn list_resources(&self, scope: &Scope, options: &ReadOptions) -> Result<Vec<String>> {
        layout::validate_scope(scope)?;
        let handle = self.project(&scope.project)?;
        let state = lock(&handle);
        let (_, _, tree) = self.read_tree(&state, scope, options)?;
        Ok(match scope.level() {
            ScopeLevel::Service { service, .. } => {
                let folder = format!("{service}/");
                tree.keys()
                    .filter_map(|p| p.strip_prefix(&folder))
                    .map(str::to_owned)
                    .collect()
            }
            ScopeLevel::Stage { .. } => tree
                .keys()
                .filter(|p| service_of_stage_uri(&tree, p).is_none())
                .cloned()
                .collect(),
            _ => tree.keys().cloned().collect(),
        })
    }

    async fn delete_resource(&self, scope: &Scope, uri: &str) -> Result<GitCommitId> {
        layout::validate_scope(scope)?;
        layout::validate_writable_uri(scope, uri)?;
        let handle = self.project(&scope.project)?;
        let mut state = lock(&handle);
        let branches = self.write_branches(&state, scope)?;
        let path = layout::branch_path(scope, uri);
        let mut updates = Vec::new();
        for branch in &branches {
            let Some((_, base)) = state.tip(branch) else {
                continue;
            };
            if matches!(scope.level(), ScopeLevel::Stage { .. }) {
                if let Some(service) = service_of_stage_uri(base, uri) {
                    return Err(layout::stage_uri_in_service_error(scope, uri, service));
                }
            }
            if base.contains_key(&path) {
                let mut tree = Tree::clone(base);
                tree.remove(&path);
                updates.push((branch.clone(), tree));
            }
        }
        if updates.is_empty() {
            return Err(ConfigStoreError::not_found(format!(
                "resource '{uri}' not found in {scope}"
            )));
        }
        let mut last = String::new();
        for (branch, tree) in updates {
            last = self.commit(&mut state, &branch, tree);
        }
        Ok(GitCommitId::new(last))
    }

    async fn latest_commit(&self, project: &str, stage: Option<&str>) -> Result<GitCommitId> {
        let handle = self.project(project)?;
        let state = lock(&handle);
        let branch = match stage {
            Some(stage) => {
                validate_stage_name(stage)?;
                state.stage_branch(project, stage)?;
                stage.to_owned()
            }
            None => state.default_branch.clone(),
        };
        state
            .branches
            .get(&branch)
            .map(|id| GitCommitId::new(id.clone()))
            .ok_or_else(|| ConfigStoreError::stage_not_found(project, &branch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_branch_is_configurable_and_checked() {
        assert_eq!(
            MemoryConfigStore::with_default_branch("master")
                .unwrap()
                .default_branch,
            "master"
        );
        let err = MemoryConfigStore::with_default_branch("bad..name").unwrap_err();
        assert!(err.message().contains("default branch"), "{err}");
    }

    #[test]
    fn commit_ids_look_like_git_ids() {
        let store = MemoryConfigStore::new();
        let id = store.new_commit_id();
        validate_commit_id(&GitCommitId::new(id.clone())).unwrap();
        assert_ne!(id, store.new_commit_id());
    }
}
