//! [`ConfigStore`] for [`GitConfigStore`]: project lifecycle here, everything else delegated to
//! the blocking operations of `ops` and `upstream`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use git2::{Oid, Repository, RepositoryInitOptions};
use keptn_sdk::event::GitCommitId;

use super::repo::{BranchUpdate, ProjectRepo, branch_ref};
use super::{GitConfigStore, GitStoreOptions, ProjectInfo, TEMP_PREFIX, blocking, upstream};
use crate::configstore::ConfigStore;
use crate::configstore::error::{ConfigStoreError, ConfigStoreErrorKind, Result};
use crate::configstore::layout::{self, METADATA_FILE, SHIPYARD_FILE};
use crate::configstore::names::{
    validate_branch_name, validate_project_name, validate_service_name, validate_stage_name,
    validate_uri,
};
use crate::configstore::types::{
    ProjectSetup, ReadOptions, Resource, Scope, StoredResource, Upstream,
};

fn commit_id(oid: Oid) -> GitCommitId {
    GitCommitId::new(oid.to_string())
}

fn io_error(what: String, e: std::io::Error) -> ConfigStoreError {
    ConfigStoreError::with_source(ConfigStoreErrorKind::Backend, what, e)
}

/// Removes a project's temporary folder when creation does not finish.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Best effort: `GitConfigStore::open` removes leftovers on the next start.
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Frees a project name reserved for creation.
struct Reservation {
    store: GitConfigStore,
    name: String,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut creating = self
            .store
            .inner
            .creating
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        creating.remove(&self.name);
    }
}

/// Creates a project's repository in `tmp`: default branch, metadata, shipyard, upstream.
fn create_in(
    tmp: &Path,
    project: &str,
    setup: ProjectSetup,
    options: Arc<GitStoreOptions>,
) -> Result<Oid> {
    let fail = |what: &str, e| crate::configstore::git::repo::backend_error(project, what, e);
    let initial = setup
        .default_branch
        .clone()
        .unwrap_or_else(|| options.default_branch.clone());
    let mut init = RepositoryInitOptions::new();
    init.bare(true).initial_head(&initial);
    let repo = Repository::init_opts(tmp, &init).map_err(|e| fail("creating the repository", e))?;
    let info = ProjectInfo {
        default_branch: initial,
        upstream: None,
    };
    let mut ctx = ProjectRepo::new(repo, project.to_owned(), info, options);
    if let Some(up) = &setup.upstream {
        upstream::configure_remote(&ctx, &up.url)?;
        if setup.default_branch.is_none() {
            if let Some(remote_default) = upstream::remote_default_branch(&ctx, up)? {
                validate_branch_name(&remote_default)?;
                ctx.info.default_branch = remote_default;
            }
        }
        ctx.repo
            .set_head(&branch_ref(&ctx.info.default_branch))
            .map_err(|e| fail("setting the default branch", e))?;
        upstream::pull(&ctx, up)?;
    }
    let parent = ctx.tip(&ctx.info.default_branch)?;
    let base = match parent {
        Some(parent) => ctx.tree_of(parent)?.id(),
        None => ctx
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .map_err(|e| fail("writing the empty tree", e))?,
    };
    let base = ctx
        .repo
        .find_tree(base)
        .map_err(|e| fail("reading a tree", e))?;
    let mut builder = git2::build::TreeUpdateBuilder::new();
    // An upstream that already holds the project keeps its metadata (and creation time).
    if base.get_name(METADATA_FILE).is_none() {
        let metadata = ctx
            .repo
            .blob(&layout::project_metadata(project)?)
            .map_err(|e| fail("writing a blob", e))?;
        builder.upsert(METADATA_FILE, metadata, git2::FileMode::Blob);
    }
    if let Some(shipyard) = &setup.shipyard {
        let blob = ctx
            .repo
            .blob(shipyard)
            .map_err(|e| fail("writing a blob", e))?;
        builder.upsert(SHIPYARD_FILE, blob, git2::FileMode::Blob);
    }
    let tree = builder
        .create_updated(&ctx.repo, &base)
        .map_err(|e| fail("writing a tree", e))?;
    let unchanged = parent.is_some() && tree == base.id();
    drop(base);
    let commit = match parent {
        Some(parent) if unchanged => parent,
        _ => {
            let parents: Vec<Oid> = parent.into_iter().collect();
            let commit = ctx.commit(&parents, tree, &format!("Created project {project}"))?;
            ctx.apply(&[BranchUpdate {
                branch: ctx.info.default_branch.clone(),
                old: parent,
                new: commit,
            }])?;
            commit
        }
    };
    if let Some(up) = &setup.upstream {
        match upstream::push(&ctx, up, std::slice::from_ref(&ctx.info.default_branch)) {
            Ok(()) => {}
            Err(upstream::PushError::Failed(e)) => return Err(e),
            Err(upstream::PushError::Rejected(why)) => {
                return Err(ConfigStoreError::new(
                    ConfigStoreErrorKind::Conflict,
                    format!(
                        "creating project '{project}' failed: upstream '{}' changed during the \
                         creation ({why}); nothing was created",
                        up.url
                    ),
                ));
            }
        }
        upstream::save_settings(project, tmp, Some(up))?;
    }
    Ok(commit)
}

/// Sets or removes the upstream of an open project; on failure, restores the remote and the
/// branches as they were.
fn set_upstream(ctx: &mut ProjectRepo, path: &Path, new: Option<Upstream>) -> Result<()> {
    let Some(up) = new else {
        upstream::remove_remote(ctx)?;
        upstream::save_settings(&ctx.name, path, None)?;
        ctx.info.upstream = None;
        return Ok(());
    };
    let before: BTreeMap<String, Oid> = ctx
        .stages()?
        .into_iter()
        .chain(std::iter::once(ctx.info.default_branch.clone()))
        .filter_map(|b| ctx.tip(&b).ok().flatten().map(|oid| (b, oid)))
        .collect();
    let attempt = (|| {
        upstream::configure_remote(ctx, &up.url)?;
        upstream::pull(ctx, &up)?;
        let mut branches = ctx.stages()?;
        branches.push(ctx.info.default_branch.clone());
        match upstream::push(ctx, &up, &branches) {
            Ok(()) => Ok(()),
            Err(upstream::PushError::Failed(e)) => Err(e),
            Err(upstream::PushError::Rejected(why)) => Err(ConfigStoreError::new(
                ConfigStoreErrorKind::Conflict,
                format!(
                    "setting upstream '{}' of project '{}' failed: the upstream changed during \
                     the push ({why})",
                    up.url, ctx.name
                ),
            )),
        }
    })();
    if let Err(e) = attempt {
        restore(ctx, &before);
        match &ctx.info.upstream {
            Some(old) => upstream::configure_remote(ctx, &old.url)?,
            None => upstream::remove_remote(ctx)?,
        }
        return Err(e);
    }
    upstream::save_settings(&ctx.name, path, Some(&up))?;
    ctx.info.upstream = Some(up);
    Ok(())
}

/// Puts the local branches back to `before`, deleting branches that did not exist.
fn restore(ctx: &ProjectRepo, before: &BTreeMap<String, Oid>) {
    let mut undo = Vec::new();
    let mut branches = ctx.stages().unwrap_or_default();
    branches.push(ctx.info.default_branch.clone());
    for branch in branches {
        let now = ctx.tip(&branch).ok().flatten();
        let old = before.get(&branch).copied();
        if let Some(now) = now {
            if Some(now) != old {
                undo.push(BranchUpdate {
                    branch,
                    old,
                    new: now,
                });
            }
        }
    }
    ctx.rollback(&undo);
}

impl GitConfigStore {
    /// Reads a scope at the tip or a commit, pulling first when the project has an upstream and
    /// the options ask for it.
    async fn read_scoped<T, F>(&self, scope: &Scope, options: &ReadOptions, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&ProjectRepo, &str, Oid) -> Result<T> + Clone + Send + Sync + 'static,
    {
        let sync = self
            .must_sync(&scope.project, options.sync_upstream)
            .await?;
        if !sync || options.at_commit.is_some() {
            let (scope, opts, read) = (scope.clone(), options.clone(), read.clone());
            let local = self
                .read(&scope.project.clone(), move |ctx| {
                    match ctx.read_target(&scope, &opts)? {
                        (branch, Some(commit)) => read(ctx, &branch, commit).map(Some),
                        (_, None) if sync => Ok(None),
                        (_, None) => Err(not_found_commit(ctx, &opts)),
                    }
                })
                .await?;
            if let Some(value) = local {
                return Ok(value);
            }
        }
        let (scope, opts) = (scope.clone(), options.clone());
        self.write(&scope.project.clone(), move |ctx| {
            if let Some(up) = ctx.info.upstream.clone() {
                upstream::pull(ctx, &up)?;
            }
            match ctx.read_target(&scope, &opts)? {
                (branch, Some(commit)) => read(ctx, &branch, commit),
                (_, None) => Err(not_found_commit(ctx, &opts)),
            }
        })
        .await
    }
}

fn not_found_commit(ctx: &ProjectRepo, options: &ReadOptions) -> ConfigStoreError {
    let id = options.at_commit.as_ref().map(|c| c.as_str()).unwrap_or("");
    ConfigStoreError::commit_not_found(&ctx.name, id)
}

#[async_trait]
impl ConfigStore for GitConfigStore {
    async fn create_project(&self, project: &str, setup: ProjectSetup) -> Result<GitCommitId> {
        validate_project_name(project)?;
        if let Some(branch) = &setup.default_branch {
            validate_branch_name(branch)?;
        }
        if let Some(up) = &setup.upstream {
            upstream::validate(&self.inner.options, up)?;
        }
        {
            let mut creating = self
                .inner
                .creating
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !creating.insert(project.to_owned()) {
                return Err(ConfigStoreError::already_exists(format!(
                    "project '{project}' is being created"
                )));
            }
        }
        let _reservation = Reservation {
            store: self.clone(),
            name: project.to_owned(),
        };
        let final_path = self.project_path(project);
        let tmp = self
            .root()
            .join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let options = self.inner.options.clone();
        let name = project.to_owned();
        let commit = blocking(move || {
            if final_path.exists() {
                return Err(ConfigStoreError::already_exists(format!(
                    "project '{name}' already exists"
                )));
            }
            let mut guard = TempDir(Some(tmp.clone()));
            let commit = create_in(&tmp, &name, setup, options)?;
            std::fs::rename(&tmp, &final_path).map_err(|e| {
                io_error(
                    format!("moving the new repository of project '{name}' in place"),
                    e,
                )
            })?;
            guard.0 = None;
            Ok(commit)
        })
        .await?;
        // Open the slot now so the first write finds the repository ready.
        self.slot(project).await?;
        Ok(commit_id(commit))
    }

    async fn update_upstream(&self, project: &str, upstream: Option<Upstream>) -> Result<()> {
        validate_project_name(project)?;
        if let Some(up) = &upstream {
            upstream::validate(&self.inner.options, up)?;
        }
        let path = self.project_path(project);
        self.write(project, move |ctx| set_upstream(ctx, &path, upstream))
            .await
    }

    async fn delete_project(&self, project: &str) -> Result<()> {
        let slot = self.slot(project).await?;
        let guard = slot.write.clone().lock_owned().await;
        let path = self.project_path(project);
        let doomed = self
            .root()
            .join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let name = project.to_owned();
        let slot_for_job = slot.clone();
        blocking(move || {
            let _guard = guard;
            if slot_for_job.is_deleted() {
                return Err(ConfigStoreError::project_not_found(&name));
            }
            std::fs::rename(&path, &doomed)
                .map_err(|e| io_error(format!("deleting project '{name}'"), e))?;
            slot_for_job
                .deleted
                .store(true, std::sync::atomic::Ordering::Release);
            slot_for_job.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
            if let Err(e) = std::fs::remove_dir_all(&doomed) {
                tracing::warn!(project = %name, error = %e, "removing a deleted project's files failed; they are removed at the next start");
            }
            Ok(())
        })
        .await?;
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.get(project).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
            slots.remove(project);
        }
        Ok(())
    }

    async fn projects(&self) -> Result<Vec<String>> {
        let root = self.root().to_path_buf();
        blocking(move || {
            let entries = std::fs::read_dir(&root)
                .map_err(|e| io_error(format!("listing projects in '{}'", root.display()), e))?;
            let mut projects: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| validate_project_name(name).is_ok())
                .filter(|name| root.join(name).join("HEAD").is_file())
                .collect();
            projects.sort();
            Ok(projects)
        })
        .await
    }

    async fn create_stage(&self, project: &str, stage: &str) -> Result<GitCommitId> {
        validate_stage_name(stage)?;
        let stage = stage.to_owned();
        let oid = self
            .write(project, move |ctx| {
                upstream::transact(ctx, |ctx| ctx.build_create_stage(&stage))
            })
            .await?;
        Ok(commit_id(oid))
    }

    async fn stages(&self, project: &str) -> Result<Vec<String>> {
        self.read(project, |ctx| ctx.stages()).await
    }

    async fn create_service(&self, project: &str, service: &str) -> Result<()> {
        validate_service_name(service)?;
        let service = service.to_owned();
        self.write(project, move |ctx| {
            upstream::transact(ctx, |ctx| ctx.build_create_service(&service))
        })
        .await
    }

    async fn delete_service(&self, project: &str, service: &str) -> Result<()> {
        validate_service_name(service)?;
        let service = service.to_owned();
        self.write(project, move |ctx| {
            upstream::transact(ctx, |ctx| ctx.build_delete_service(&service))
        })
        .await
    }

    async fn services(&self, project: &str, stage: &str) -> Result<Vec<String>> {
        validate_stage_name(stage)?;
        let stage = stage.to_owned();
        self.read(project, move |ctx| {
            let tip = ctx.stage_tip(&stage)?;
            Ok(ctx.services(&ctx.tree_of(tip)?))
        })
        .await
    }

    async fn put_resources(
        &self,
        scope: &Scope,
        resources: Vec<Resource>,
        message: Option<&str>,
    ) -> Result<GitCommitId> {
        layout::validate_resources(scope, &resources)?;
        let scope_owned = scope.clone();
        let message = message.map(str::to_owned);
        let oid = self
            .write(&scope.project, move |ctx| {
                upstream::transact(ctx, |ctx| {
                    ctx.build_put(&scope_owned, &resources, message.as_deref())
                })
            })
            .await?;
        Ok(commit_id(oid))
    }

    async fn get_resource(
        &self,
        scope: &Scope,
        uri: &str,
        options: &ReadOptions,
    ) -> Result<Option<StoredResource>> {
        layout::validate_scope(scope)?;
        validate_uri(uri)?;
        let (scope_owned, uri) = (scope.clone(), uri.to_owned());
        self.read_scoped(scope, options, move |ctx, branch, commit| {
            ctx.read_resource(&scope_owned, &uri, branch, commit)
        })
        .await
    }

    async fn list_resources(&self, scope: &Scope, options: &ReadOptions) -> Result<Vec<String>> {
        layout::validate_scope(scope)?;
        let scope_owned = scope.clone();
        self.read_scoped(scope, options, move |ctx, _branch, commit| {
            ctx.list(&scope_owned, commit)
        })
        .await
    }

    async fn delete_resource(&self, scope: &Scope, uri: &str) -> Result<GitCommitId> {
        layout::validate_scope(scope)?;
        layout::validate_writable_uri(scope, uri)?;
        let (scope_owned, uri) = (scope.clone(), uri.to_owned());
        let oid = self
            .write(&scope.project, move |ctx| {
                upstream::transact(ctx, |ctx| ctx.build_delete(&scope_owned, &uri))
            })
            .await?;
        Ok(commit_id(oid))
    }

    async fn latest_commit(&self, project: &str, stage: Option<&str>) -> Result<GitCommitId> {
        if let Some(stage) = stage {
            validate_stage_name(stage)?;
        }
        let stage = stage.map(str::to_owned);
        let oid = self
            .read(project, move |ctx| match &stage {
                Some(stage) => ctx.stage_tip(stage),
                None => ctx.default_tip(),
            })
            .await?;
        Ok(commit_id(oid))
    }
}
