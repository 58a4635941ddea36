//! The git configuration store: one bare repository per project under a root folder, written
//! with object-level commits (no working tree), optionally synced with an upstream remote.
//!
//! Concurrency: every project has an async mutex that writes (and reads that pull from the
//! upstream) hold for their whole blocking job, so writes to one project are serialized while
//! other projects proceed; repository handles are pooled per project; every git2 call runs on
//! tokio's blocking pool.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use git2::Repository;

use super::error::{ConfigStoreError, ConfigStoreErrorKind, Result};
use super::names::{validate_branch_name, validate_project_name};
use super::types::Upstream;

mod helm;
mod ops;
mod repo;
mod store;
mod upstream;

pub(crate) use repo::ProjectRepo;

/// Options of a [`GitConfigStore`].
#[derive(Clone)]
#[non_exhaustive]
pub struct GitStoreOptions {
    /// The default branch of new projects without an upstream that has one (`main`).
    pub default_branch: String,
    /// The author and committer name of the store's commits (`Keptn`).
    pub author_name: String,
    /// The author and committer email of the store's commits (`keptn@keptn.sh`).
    pub author_email: String,
    /// Accept `file://` upstream URLs (for tests and embedding; Keptn accepts only http, https
    /// and ssh). Off by default.
    pub allow_file_upstreams: bool,
    /// How many times a write is re-applied on top of the upstream when its push is rejected
    /// because the upstream moved, before it fails with `Conflict` (3).
    pub push_attempts: u32,
    /// A hook called at fixed points of every write, to inject slowness or races in tests.
    #[cfg(feature = "testing")]
    pub test_hook: Option<Arc<dyn GitTestHook>>,
}

impl Default for GitStoreOptions {
    fn default() -> Self {
        Self {
            default_branch: "main".to_owned(),
            author_name: "Keptn".to_owned(),
            author_email: "keptn@keptn.sh".to_owned(),
            allow_file_upstreams: false,
            push_attempts: 3,
            #[cfg(feature = "testing")]
            test_hook: None,
        }
    }
}

impl GitStoreOptions {
    /// Sets the default branch of new projects.
    pub fn default_branch(mut self, branch: impl Into<String>) -> Self {
        self.default_branch = branch.into();
        self
    }

    /// Sets the author and committer of the store's commits.
    pub fn author(mut self, name: impl Into<String>, email: impl Into<String>) -> Self {
        self.author_name = name.into();
        self.author_email = email.into();
        self
    }

    /// Accepts `file://` upstream URLs.
    pub fn allow_file_upstreams(mut self, allow: bool) -> Self {
        self.allow_file_upstreams = allow;
        self
    }

    /// Sets how many push attempts a write makes before failing with `Conflict` (at least 1).
    pub fn push_attempts(mut self, attempts: u32) -> Self {
        self.push_attempts = attempts.max(1);
        self
    }

    /// Installs a test hook.
    #[cfg(feature = "testing")]
    pub fn test_hook(mut self, hook: Arc<dyn GitTestHook>) -> Self {
        self.test_hook = Some(hook);
        self
    }

    #[cfg_attr(not(feature = "testing"), allow(unused_variables))]
    pub(crate) fn hook(&self, project: &str, point: HookPoint) {
        #[cfg(feature = "testing")]
        if let Some(hook) = &self.test_hook {
            hook.on(project, point);
        }
    }
}

impl fmt::Debug for GitStoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitStoreOptions")
            .field("default_branch", &self.default_branch)
            .field("author_name", &self.author_name)
            .field("author_email", &self.author_email)
            .field("allow_file_upstreams", &self.allow_file_upstreams)
            .field("push_attempts", &self.push_attempts)
            .finish_non_exhaustive()
    }
}

/// Where a write is when the test hook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookPoint {
    /// The commits are built and about to become visible (the project's write lock is held).
    BeforeCommit,
    /// The commits are visible locally and about to be pushed to the upstream.
    BeforePush {
        /// 1 for the first push of this write, 2 for the first retry, ...
        attempt: u32,
    },
}

/// A hook the git store calls, on a blocking thread, at the [`HookPoint`]s of every write.
/// Tests use it to make a write slow or to push a conflicting change at the worst moment.
#[cfg(feature = "testing")]
pub trait GitTestHook: Send + Sync {
    /// Called for `project` at `point`. Blocking here blocks that write (and only it).
    fn on(&self, project: &str, point: HookPoint);
}

/// What the store knows about an open project.
#[derive(Debug, Clone)]
pub(crate) struct ProjectInfo {
    pub(crate) default_branch: String,
    pub(crate) upstream: Option<Upstream>,
}

/// The per-project state: the write lock, the handle pool and the project's settings.
struct Slot {
    path: PathBuf,
    write: Arc<tokio::sync::Mutex<()>>,
    pool: Mutex<Vec<Repository>>,
    info: RwLock<ProjectInfo>,
    deleted: std::sync::atomic::AtomicBool,
}

/// How many idle repository handles a project keeps.
const POOL_SIZE: usize = 4;

impl Slot {
    fn info(&self) -> ProjectInfo {
        self.info.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn is_deleted(&self) -> bool {
        self.deleted.load(std::sync::atomic::Ordering::Acquire)
    }

    fn take_repo(&self) -> std::result::Result<Repository, git2::Error> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(repo) => Ok(repo),
            None => Repository::open_bare(&self.path),
        }
    }

    fn give_back(&self, repo: Repository) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_SIZE && !self.is_deleted() {
            pool.push(repo);
        }
    }
}

/// A [`ConfigStore`](super::ConfigStore) of git repositories, one bare repository per project
/// at `<root>/<project>`.
///
/// - the default branch holds `metadata.yaml`, `shipyard.yaml` and project resources; each stage
///   is a branch; each service a folder in every stage branch;
/// - every write is an object-level commit (blobs, trees and a commit written directly, the
///   branch reference moved with a compare-and-swap), never a working-tree checkout;
/// - helm charts written as `helm/<name>.tgz` in a service are kept unpacked in
///   `helm/<name>/` and archived again when read;
/// - a project may have an upstream: writes push (re-applying the write on top of the upstream
///   when it moved, the upstream winning for files the write does not touch), reads pull first
///   unless told not to. A failed push leaves the local branches where they were before the
///   write, so the error means "not written". Credentials are kept in `keptn-upstream.json`
///   inside the project's repository folder (mode 0600).
///
/// Transports: libgit2 is built with the features of the `git2` crate in the final binary;
/// `file://` (when allowed) always works, `https://` needs git2's `https` feature and `ssh://`
/// its `ssh` feature. An upstream whose transport is missing is rejected with `InvalidInput`.
#[derive(Clone)]
pub struct GitConfigStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    options: Arc<GitStoreOptions>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    creating: Mutex<HashSet<String>>,
}

impl fmt::Debug for GitConfigStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitConfigStore")
            .field("root", &self.inner.root)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The prefix of folders of projects being created or deleted (project names start with a
/// letter, so these never collide with a project).
const TEMP_PREFIX: &str = ".keptn-tmp-";

impl GitConfigStore {
    /// Opens (and creates when missing) a store rooted at `root`. Leftovers of project creations
    /// or deletions interrupted by a crash are removed.
    ///
    /// This does a little blocking file-system work: call it at start-up.
    pub fn open(root: impl AsRef<Path>, options: GitStoreOptions) -> Result<Self> {
        validate_branch_name(&options.default_branch)?;
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root).map_err(|e| {
            ConfigStoreError::with_source(
                ConfigStoreErrorKind::Backend,
                format!(
                    "creating the configuration store root '{}' failed",
                    root.display()
                ),
                e,
            )
        })?;
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    // Best effort: a leftover that cannot be removed now is retried next time.
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                options: Arc::new(options),
                slots: Mutex::new(HashMap::new()),
                creating: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The root folder of the store.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The folder of a project's bare repository.
    pub fn project_path(&self, project: &str) -> PathBuf {
        self.inner.root.join(project)
    }

    /// The slot of an existing project, opening the repository on first use.
    async fn slot(&self, project: &str) -> Result<Arc<Slot>> {
        validate_project_name(project)?;
        if let Some(slot) = self.cached_slot(project) {
            return Ok(slot);
        }
        let path = self.project_path(project);
        let name = project.to_owned();
        let (repo, info) = blocking(move || repo::open_project(&name, &path)).await?;
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.get(project).is_some_and(|s| s.is_deleted()) {
            slots.remove(project);
        }
        let slot = slots
            .entry(project.to_owned())
            .or_insert_with(|| Arc::new(self.new_slot(project, info)))
            .clone();
        slot.give_back(repo);
        Ok(slot)
    }

    /// The cached slot of a project; a slot of a deleted project is dropped (a project of the
    /// same name may have been created since).
    fn cached_slot(&self, project: &str) -> Option<Arc<Slot>> {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(project) {
            Some(slot) if slot.is_deleted() => {
                slots.remove(project);
                None
            }
            other => other.cloned(),
        }
    }

    fn new_slot(&self, project: &str, info: ProjectInfo) -> Slot {
        Slot {
            path: self.project_path(project),
            write: Arc::new(tokio::sync::Mutex::new(())),
            pool: Mutex::new(Vec::new()),
            info: RwLock::new(info),
            deleted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Runs `job` on a blocking thread with a repository handle of `project`, without the
    /// write lock.
    async fn read<T, F>(&self, project: &str, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ProjectRepo) -> Result<T> + Send + 'static,
    {
        let slot = self.slot(project).await?;
        let options = self.inner.options.clone();
        let name = project.to_owned();
        blocking(move || {
            if slot.is_deleted() {
                return Err(ConfigStoreError::project_not_found(&name));
            }
            let repo = slot
                .take_repo()
                .map_err(|e| repo::backend_error(&name, "opening the repository", e))?;
            let ctx = ProjectRepo::new(repo, name, slot.info(), options);
            let result = job(&ctx);
            slot.give_back(ctx.into_repo());
            result
        })
        .await
    }

    /// Runs `job` on a blocking thread with a repository handle of `project` while holding the
    /// project's write lock (until the job ends, even if the caller stops waiting). The job may
    /// change the project's settings.
    async fn write<T, F>(&self, project: &str, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut ProjectRepo) -> Result<T> + Send + 'static,
    {
        let slot = self.slot(project).await?;
        let guard = slot.write.clone().lock_owned().await;
        let options = self.inner.options.clone();
        let name = project.to_owned();
        blocking(move || {
            let _guard = guard;
            if slot.is_deleted() {
                return Err(ConfigStoreError::project_not_found(&name));
            }
            let repo = slot
                .take_repo()
                .map_err(|e| repo::backend_error(&name, "opening the repository", e))?;
            let mut ctx = ProjectRepo::new(repo, name, slot.info(), options);
            let result = job(&mut ctx);
            *slot.info.write().unwrap_or_else(|e| e.into_inner()) = ctx.info.clone();
            slot.give_back(ctx.into_repo());
            result
        })
        .await
    }

    /// Whether reads of `project` must pull first.
    async fn must_sync(&self, project: &str, sync_upstream: bool) -> Result<bool> {
        Ok(sync_upstream && self.slot(project).await?.info().upstream.is_some())
    }
}

/// Runs blocking work on tokio's blocking pool.
async fn blocking<T, F>(job: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(job).await.map_err(|e| {
        ConfigStoreError::with_source(
            ConfigStoreErrorKind::Backend,
            "a git worker task of the configuration store did not finish",
            e,
        )
    })?
}
