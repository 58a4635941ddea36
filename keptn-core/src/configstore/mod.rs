//! The versioned configuration store: projects, stages, services and their resources.
//!
//! Keptn keeps every configuration file (shipyard, SLOs, SLI queries, helm charts, test scripts)
//! in **one git repository per project**:
//!
//! - the *default branch* (`main` unless configured, or the upstream's default branch) holds the
//!   project files: `metadata.yaml` (`ProjectName`, `CreationTimestamp`), `shipyard.yaml` and
//!   project resources;
//! - each **stage** is a branch created from the default branch; stage resources live at the
//!   root of the stage branch;
//! - each **service** is a folder `<service>/` in every stage branch, with its own
//!   `metadata.yaml` (`ServiceName`, `CreationTimestamp`) and resources (`carts/slo.yaml`);
//! - **service defaults** are written into the service folder of every stage that has the
//!   service.
//!
//! Every write is one commit and returns its id; tasks read their configuration at the commit id
//! their sequence was stamped with ([`ConfigStore::latest_commit`] gives the stamp, the
//! `gitcommitid` of the events).
//!
//! Backends: [`GitConfigStore`] (feature `git`, libgit2 vendored, optional upstream remote per
//! project) and [`MemoryConfigStore`] (always available, for tests and embedding). Both pass the
//! same conformance suite (`conformance::run`, feature `testing`).
//!
//! ```
//! # async fn demo() -> Result<(), keptn_core::configstore::ConfigStoreError> {
//! use keptn_core::configstore::{
//!     ConfigStore, MemoryConfigStore, ProjectSetup, ReadOptions, Resource, Scope,
//! };
//!
//! let store = MemoryConfigStore::new();
//! store.create_project("sockshop", ProjectSetup::default()).await?;
//! store.create_stage("sockshop", "dev").await?;
//! store.create_service("sockshop", "carts").await?;
//! let scope = Scope::service("sockshop", "dev", "carts");
//! let v1 = store
//!     .put_resources(&scope, vec![Resource::new("slo.yaml", "spec_version: '0.1.1'\n")], None)
//!     .await?;
//! store
//!     .put_resources(&scope, vec![Resource::new("slo.yaml", "spec_version: '1.0'\n")], None)
//!     .await?;
//! let old = store
//!     .get_resource(&scope, "slo.yaml", &ReadOptions::at(v1))
//!     .await?
//!     .expect("the resource existed at v1");
//! assert_eq!(old.content, b"spec_version: '0.1.1'\n");
//! # Ok(())
//! # }
//! ```

use async_trait::async_trait;
use keptn_sdk::event::GitCommitId;

mod error;
mod layout;
mod memory;
mod names;
mod types;

#[cfg(feature = "git")]
mod git;

#[cfg(feature = "testing")]
pub mod conformance;

pub use error::{ConfigStoreError, ConfigStoreErrorKind, Result};
pub use layout::{METADATA_FILE, SHIPYARD_FILE};
pub use memory::MemoryConfigStore;
pub use names::{
    MAX_PROJECT_NAME_LEN, MAX_SERVICE_NAME_LEN, MAX_STAGE_NAME_LEN, MAX_URI_LEN,
    validate_project_name, validate_service_name, validate_stage_name, validate_uri,
};
pub use types::{
    ProjectSetup, ReadOptions, Resource, ResourceMetadata, Scope, ScopeLevel, StoredResource,
    Upstream, UpstreamCredentials,
};

#[cfg(feature = "git")]
pub use git::{GitConfigStore, GitStoreOptions};
#[cfg(all(feature = "git", feature = "testing"))]
pub use git::{GitTestHook, HookPoint};

/// A versioned store of Keptn configuration resources.
///
/// # Contract
///
/// - **Names** are checked before anything happens: project, stage and service names start with
///   a lowercase letter and contain lowercase letters, digits and `-` (projects at most 200
///   characters, services at most 43); resource URIs are relative and normalized (no `..`, no
///   leading `/`, no `.git` component, no backslash or control character). A bad name fails with
///   [`ConfigStoreErrorKind::InvalidInput`] naming the field and the value, and nothing is written.
/// - **Absent is not an error for resources**: [`get_resource`](Self::get_resource) returns
///   `Ok(None)` for a missing resource, but a missing project, stage, service or commit is
///   [`ConfigStoreErrorKind::NotFound`].
/// - **Every write is atomic**: one call is one commit per branch it touches (service-default
///   writes and service creation touch every stage branch that has the service), and either all
///   of it is visible or none of it. A write that changes nothing makes no commit and returns the
///   current tip.
/// - **Commit ids** are 40 hexadecimal digits. Reads at an older commit id return the content as
///   it was at that commit, whatever changed since.
/// - **Managed files**: `metadata.yaml` at the root of a project or a service folder is written by
///   the store only; writing or deleting it is `InvalidInput`. At stage scope, URIs may not point
///   into a service folder (use the service scope).
/// - **Service defaults** ([`Scope::service_default`]) can be written and deleted, not read or
///   listed: read the service in a stage.
/// - **Upstream**: for a project with an upstream, writes push, and reads pull first unless
///   [`ReadOptions::sync_upstream`] is false. When the upstream cannot be reached or rejects the
///   credentials, the operation fails with [`ConfigStoreErrorKind::Upstream`] and the local
///   repository is as it was before; when the upstream keeps moving while the store pushes, the
///   write fails with [`ConfigStoreErrorKind::Conflict`], also without local changes.
/// - **Concurrency**: writes to one project are serialized; writes to different projects do not
///   wait for each other; reads never wait for writes, except reads that pull from an upstream.
/// - **Cancellation**: dropping a returned future does not cancel a write that has started; it
///   completes (or fails) on its own and keeps the project consistent.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Creates a project: its repository, the default branch with `metadata.yaml` and the
    /// optional `shipyard.yaml`, and its upstream (pushing the default branch, or building on the
    /// upstream's history when it has one). Returns the tip of the default branch.
    ///
    /// Errors: `AlreadyExists`, `InvalidInput` (name, default branch, upstream URL), `Upstream`
    /// (then no project is left behind).
    async fn create_project(&self, project: &str, setup: ProjectSetup) -> Result<GitCommitId>;

    /// Sets, replaces (`Some`) or removes (`None`) the upstream of a project. Setting an upstream
    /// pulls its branches (the upstream wins on conflicting files) and pushes every branch.
    ///
    /// Errors: `NotFound`, `InvalidInput`, `Upstream` (then the previous upstream stays).
    async fn update_upstream(&self, project: &str, upstream: Option<Upstream>) -> Result<()>;

    /// Deletes a project and its local history. The upstream repository is left untouched.
    ///
    /// Errors: `NotFound`.
    async fn delete_project(&self, project: &str) -> Result<()>;

    /// The names of all projects, sorted.
    async fn projects(&self) -> Result<Vec<String>>;

    /// Creates a stage: a branch from the tip of the default branch (pushed to the upstream).
    /// Returns the tip of the new branch.
    ///
    /// Errors: `NotFound` (project), `AlreadyExists`, `InvalidInput` (name, or the name of the
    /// default branch), `Upstream`.
    async fn create_stage(&self, project: &str, stage: &str) -> Result<GitCommitId>;

    /// The stages of a project, sorted by name.
    ///
    /// Errors: `NotFound` (project).
    async fn stages(&self, project: &str) -> Result<Vec<String>>;

    /// Creates a service in every stage that does not have it yet: a folder with the service's
    /// `metadata.yaml`, one commit per stage.
    ///
    /// Errors: `NotFound` (project), `AlreadyExists` (every stage has it), `InvalidInput` (name,
    /// a project without stages, or a stage resource already using the folder name), `Upstream`.
    async fn create_service(&self, project: &str, service: &str) -> Result<()>;

    /// Deletes a service's folder from every stage that has it, one commit per stage.
    ///
    /// Errors: `NotFound` (project, or no stage has the service), `Upstream`.
    async fn delete_service(&self, project: &str, service: &str) -> Result<()>;

    /// The services of a stage, sorted.
    ///
    /// Errors: `NotFound` (project, stage).
    async fn services(&self, project: &str, stage: &str) -> Result<Vec<String>>;

    /// Writes resources into a scope as one commit (per branch) and returns its id. Resources
    /// that exist are replaced. `message` replaces the generated commit message ("Added resource
    /// slo.yaml to service carts in stage staging"). For service defaults, the returned id is the
    /// commit on the last stage in name order; each stage's tip is [`latest_commit`](Self::latest_commit).
    ///
    /// Errors: `NotFound` (project, stage, service), `InvalidInput` (no resources, a URI twice,
    /// a bad or managed URI, a path that is a file in one resource and a folder in another),
    /// `Upstream`, `Conflict`.
    async fn put_resources(
        &self,
        scope: &Scope,
        resources: Vec<Resource>,
        message: Option<&str>,
    ) -> Result<GitCommitId>;

    /// Reads one resource at the branch tip or at [`ReadOptions::at_commit`]; `Ok(None)` when
    /// the resource does not exist there.
    ///
    /// Errors: `NotFound` (project, stage, service — the service must exist in the commit read —
    /// or commit), `InvalidInput` (URI, commit id, service-default scope), `Upstream`.
    async fn get_resource(
        &self,
        scope: &Scope,
        uri: &str,
        options: &ReadOptions,
    ) -> Result<Option<StoredResource>>;

    /// The URIs of a scope's resources, relative to the scope and sorted. The project scope lists
    /// the whole default branch; a stage lists its branch without the service folders; a service
    /// lists its folder (including its `metadata.yaml`).
    ///
    /// Errors: as [`get_resource`](Self::get_resource).
    async fn list_resources(&self, scope: &Scope, options: &ReadOptions) -> Result<Vec<String>>;

    /// Deletes one resource (from every stage that has it, for service defaults) as a commit and
    /// returns its id.
    ///
    /// Errors: `NotFound` (project, stage, service, or the resource), `InvalidInput`,
    /// `Upstream`, `Conflict`.
    async fn delete_resource(&self, scope: &Scope, uri: &str) -> Result<GitCommitId>;

    /// The tip of a stage branch, or of the default branch when `stage` is `None`: the
    /// `gitcommitid` a new sequence is stamped with. Does not pull from the upstream.
    ///
    /// Errors: `NotFound` (project, stage).
    async fn latest_commit(&self, project: &str, stage: Option<&str>) -> Result<GitCommitId>;
}
