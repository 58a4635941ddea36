//! A project's repository on a blocking thread: branch tips, trees, blobs, commits and
//! compare-and-swap branch updates.

use std::path::Path;
use std::sync::Arc;

use git2::{ErrorCode, ObjectType, Oid, Repository, Signature, Tree};
use keptn_sdk::event::GitCommitId;

use super::upstream;
use super::{GitStoreOptions, ProjectInfo};
use crate::configstore::error::{ConfigStoreError, ConfigStoreErrorKind, Result};
use crate::configstore::layout::METADATA_FILE;
use crate::configstore::names::{validate_commit_id, validate_stage_name};
use crate::configstore::types::{ReadOptions, Scope, ScopeLevel};

/// A repository handle of one project with what the store knows about the project.
pub(crate) struct ProjectRepo {
    pub(crate) repo: Repository,
    pub(crate) name: String,
    pub(crate) info: ProjectInfo,
    pub(crate) options: Arc<GitStoreOptions>,
}

/// A branch moved by a write: from `old` (`None`: the branch is new) to `new`.
#[derive(Debug, Clone)]
pub(crate) struct BranchUpdate {
    pub(crate) branch: String,
    pub(crate) old: Option<Oid>,
    pub(crate) new: Oid,
}

/// A `Backend` error about `what` in `project`, with git's error as the source.
pub(crate) fn backend_error(project: &str, what: &str, e: git2::Error) -> ConfigStoreError {
    ConfigStoreError::with_source(
        ConfigStoreErrorKind::Backend,
        format!("{what} in project '{project}' failed"),
        e,
    )
}

pub(crate) fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// Opens an existing project's bare repository and reads its settings.
pub(crate) fn open_project(project: &str, path: &Path) -> Result<(Repository, ProjectInfo)> {
    if !path.join("HEAD").is_file() {
        return Err(ConfigStoreError::project_not_found(project));
    }
    let repo = Repository::open_bare(path)
        .map_err(|e| backend_error(project, "opening the repository", e))?;
    let head = repo
        .find_reference("HEAD")
        .map_err(|e| backend_error(project, "reading HEAD", e))?;
    let default_branch = head
        .symbolic_target()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .unwrap_or("main")
        .to_owned();
    drop(head);
    let upstream = upstream::load_settings(project, path)?;
    Ok((
        repo,
        ProjectInfo {
            default_branch,
            upstream,
        },
    ))
}

impl ProjectRepo {
    pub(crate) fn new(
        repo: Repository,
        name: String,
        info: ProjectInfo,
        options: Arc<GitStoreOptions>,
    ) -> Self {
        Self {
            repo,
            name,
            info,
            options,
        }
    }

    pub(crate) fn into_repo(self) -> Repository {
        self.repo
    }

    pub(crate) fn backend(&self, what: &str, e: git2::Error) -> ConfigStoreError {
        backend_error(&self.name, what, e)
    }

    /// The tip of a local branch, `None` when the branch does not exist.
    pub(crate) fn tip(&self, branch: &str) -> Result<Option<Oid>> {
        match self.repo.refname_to_id(&branch_ref(branch)) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(self.backend(&format!("reading branch '{branch}'"), e)),
        }
    }

    /// The tip of a stage branch; `NotFound` when the stage does not exist.
    pub(crate) fn stage_tip(&self, stage: &str) -> Result<Oid> {
        if stage == self.info.default_branch {
            return Err(ConfigStoreError::stage_not_found(&self.name, stage));
        }
        self.tip(stage)?
            .ok_or_else(|| ConfigStoreError::stage_not_found(&self.name, stage))
    }

    /// The tip of the default branch.
    pub(crate) fn default_tip(&self) -> Result<Oid> {
        self.tip(&self.info.default_branch)?.ok_or_else(|| {
            ConfigStoreError::new(
                ConfigStoreErrorKind::Backend,
                format!(
                    "the default branch '{}' of project '{}' is missing",
                    self.info.default_branch, self.name
                ),
            )
        })
    }

    /// The stages: local branches other than the default branch whose names are stage names,
    /// sorted.
    pub(crate) fn stages(&self) -> Result<Vec<String>> {
        let branches = self
            .repo
            .branches(Some(git2::BranchType::Local))
            .map_err(|e| self.backend("listing branches", e))?;
        let mut stages = Vec::new();
        for branch in branches {
            let (branch, _) = branch.map_err(|e| self.backend("listing branches", e))?;
            if let Ok(Some(name)) = branch.name() {
                if name != self.info.default_branch && validate_stage_name(name).is_ok() {
                    stages.push(name.to_owned());
                }
            }
        }
        stages.sort();
        Ok(stages)
    }

    pub(crate) fn tree_of(&self, commit: Oid) -> Result<Tree<'_>> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| self.backend(&format!("reading commit {commit}"), e))
    }

    /// The kind of the entry at `path` in `tree`, if any.
    pub(crate) fn kind_at(&self, tree: &Tree<'_>, path: &str) -> Option<ObjectType> {
        tree.get_path(Path::new(path)).ok().and_then(|e| e.kind())
    }

    /// The content of the file at `path` in `tree`, if it is a file.
    pub(crate) fn blob_at(&self, tree: &Tree<'_>, path: &str) -> Result<Option<Vec<u8>>> {
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(self.backend(&format!("reading '{path}'"), e)),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| self.backend(&format!("reading '{path}'"), e))?;
        Ok(Some(blob.content().to_vec()))
    }

    pub(crate) fn is_service(&self, tree: &Tree<'_>, service: &str) -> bool {
        self.kind_at(tree, &format!("{service}/{METADATA_FILE}")) == Some(ObjectType::Blob)
    }

    /// The services of a stage tree: top-level folders with a `metadata.yaml`, sorted.
    pub(crate) fn services(&self, tree: &Tree<'_>) -> Vec<String> {
        let mut services: Vec<String> = tree
            .iter()
            .filter(|e| e.kind() == Some(ObjectType::Tree))
            .filter_map(|e| e.name().map(str::to_owned))
            .filter(|name| self.is_service(tree, name))
            .collect();
        services.sort();
        services
    }

    /// The first component of a stage-scope URI when it names a service of the tree.
    pub(crate) fn service_of_stage_uri<'u>(
        &self,
        tree: &Tree<'_>,
        uri: &'u str,
    ) -> Option<&'u str> {
        let (first, _) = uri.split_once('/')?;
        self.is_service(tree, first).then_some(first)
    }

    /// An existing path that collides with writing a file at `path`: a folder on the way that
    /// is a file, or `path` itself being a folder.
    pub(crate) fn collision(&self, tree: &Tree<'_>, path: &str) -> Option<String> {
        for (i, c) in path.char_indices() {
            if c == '/' && self.kind_at(tree, &path[..i]) == Some(ObjectType::Blob) {
                return Some(path[..i].to_owned());
            }
        }
        (self.kind_at(tree, path) == Some(ObjectType::Tree)).then(|| format!("{path}/"))
    }

    /// Writes a commit of `tree` on top of `parents` (no branch moves).
    pub(crate) fn commit(&self, parents: &[Oid], tree: Oid, message: &str) -> Result<Oid> {
        let sig = Signature::now(&self.options.author_name, &self.options.author_email)
            .map_err(|e| self.backend("creating the commit signature", e))?;
        let tree = self
            .repo
            .find_tree(tree)
            .map_err(|e| self.backend("reading a new tree", e))?;
        let parents = parents
            .iter()
            .map(|p| self.repo.find_commit(*p))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.backend("reading a parent commit", e))?;
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.repo
            .commit(None, &sig, &sig, message, &tree, &parents)
            .map_err(|e| self.backend("writing a commit", e))
    }

    /// Moves every branch of `updates` if it is still where the update expects it, undoing the
    /// moves already made when one fails.
    pub(crate) fn apply(&self, updates: &[BranchUpdate]) -> Result<()> {
        for (i, update) in updates.iter().enumerate() {
            if let Err(e) = self.move_branch(update) {
                self.rollback(&updates[..i]);
                return Err(e);
            }
        }
        Ok(())
    }

    fn move_branch(&self, update: &BranchUpdate) -> Result<()> {
        let name = branch_ref(&update.branch);
        let log = "keptn configuration store";
        let result = match update.old {
            Some(old) => self
                .repo
                .reference_matching(&name, update.new, true, old, log)
                .map(|_| ()),
            None => self
                .repo
                .reference(&name, update.new, false, log)
                .map(|_| ()),
        };
        result.map_err(|e| {
            if matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists) {
                ConfigStoreError::with_source(
                    ConfigStoreErrorKind::Conflict,
                    format!(
                        "branch '{}' of project '{}' was changed by someone else during the write",
                        update.branch, self.name
                    ),
                    e,
                )
            } else {
                self.backend(&format!("moving branch '{}'", update.branch), e)
            }
        })
    }

    /// Puts the branches of `updates` back where they were (best effort: the store holds the
    /// project's write lock, so nothing else moves them).
    pub(crate) fn rollback(&self, updates: &[BranchUpdate]) {
        for update in updates.iter().rev() {
            let name = branch_ref(&update.branch);
            let result = match update.old {
                Some(old) => self
                    .repo
                    .reference(&name, old, true, "keptn configuration store: rollback")
                    .map(|_| ()),
                None => self.repo.find_reference(&name).and_then(|mut r| r.delete()),
            };
            if let Err(e) = result {
                tracing::error!(
                    project = %self.name,
                    branch = %update.branch,
                    error = %e,
                    "restoring a branch after a failed write failed"
                );
            }
        }
    }

    /// The branch and commit a read of `scope` looks at (no upstream sync here). `Ok(None)` for
    /// a commit id that is unknown locally.
    pub(crate) fn read_target(
        &self,
        scope: &Scope,
        options: &ReadOptions,
    ) -> Result<(String, Option<Oid>)> {
        let branch = match scope.level() {
            ScopeLevel::Project => self.info.default_branch.clone(),
            ScopeLevel::Stage { stage } | ScopeLevel::Service { stage, .. } => {
                self.stage_tip(stage)?;
                stage.to_owned()
            }
            ScopeLevel::ServiceDefault { .. } => {
                return Err(crate::configstore::layout::service_default_read_error(
                    scope,
                ));
            }
        };
        let commit = match &options.at_commit {
            Some(at) => self.find_commit_id(at)?,
            None => Some(match scope.level() {
                ScopeLevel::Project => self.default_tip()?,
                _ => self.stage_tip(&branch)?,
            }),
        };
        Ok((branch, commit))
    }

    /// A commit id known locally, `None` when it is not.
    pub(crate) fn find_commit_id(&self, id: &GitCommitId) -> Result<Option<Oid>> {
        validate_commit_id(id)?;
        let oid = Oid::from_str(id.as_str())
            .map_err(|_| ConfigStoreError::invalid(format!("invalid commit id '{id}'")))?;
        match self.repo.find_commit(oid) {
            Ok(_) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound || e.class() == git2::ErrorClass::Object => {
                Ok(None)
            }
            Err(e) => Err(self.backend(&format!("reading commit {id}"), e)),
        }
    }
}
