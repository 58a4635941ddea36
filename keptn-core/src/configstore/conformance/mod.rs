//! The conformance suite every [`ConfigStore`] backend passes (feature `testing`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use keptn_core::configstore::{MemoryConfigStore, conformance};
//!
//! conformance::run(&MemoryConfigStore::new()).await;
//! # }
//! ```
//!
//! Each check works in projects of its own with random names, so the suite can run against a
//! store that holds other projects; it deletes what it creates when it passes. A failed check
//! panics with a message that names the check and what differed.

use std::fmt::Debug;

use super::{ConfigStore, ConfigStoreErrorKind, ProjectSetup, Result};

mod lifecycle;
mod resources;
mod validation;

/// Runs every check against `store`; panics on the first failure.
pub async fn run(store: &dyn ConfigStore) {
    lifecycle::projects_are_created_listed_and_deleted(store).await;
    lifecycle::project_metadata_and_shipyard_live_on_the_default_branch(store).await;
    lifecycle::a_custom_default_branch_is_used(store).await;
    lifecycle::stages_are_branches_of_the_default_branch(store).await;
    lifecycle::services_are_created_in_every_stage(store).await;
    lifecycle::missing_projects_stages_and_services_are_not_found(store).await;
    resources::resources_are_written_and_read_at_every_level(store).await;
    resources::listing_follows_the_scope(store).await;
    resources::a_batch_is_one_commit(store).await;
    resources::older_commits_stay_readable(store).await;
    resources::unchanged_writes_make_no_commit(store).await;
    resources::deletes_are_commits(store).await;
    resources::service_defaults_reach_every_stage_with_the_service(store).await;
    resources::content_is_bytes(store).await;
    validation::names_are_checked(store).await;
    validation::traversal_is_rejected_and_nothing_is_written(store).await;
    validation::managed_and_colliding_paths_are_rejected(store).await;
    validation::commit_ids_are_checked(store).await;
    validation::upstream_urls_are_checked(store).await;
}

/// A fresh project name for one check.
pub(crate) fn project_name(check: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("cs-{check}-{}", &id[..8])
}

/// Creates a project with stages `dev` and `staging` and service `carts`.
pub(crate) async fn sockshop(store: &dyn ConfigStore, check: &str) -> String {
    let project = project_name(check);
    store
        .create_project(&project, ProjectSetup::default())
        .await
        .unwrap_or_else(|e| panic!("{check}: creating project {project}: {e}"));
    for stage in ["dev", "staging"] {
        store
            .create_stage(&project, stage)
            .await
            .unwrap_or_else(|e| panic!("{check}: creating stage {stage}: {e}"));
    }
    store
        .create_service(&project, "carts")
        .await
        .unwrap_or_else(|e| panic!("{check}: creating service carts: {e}"));
    project
}

/// Unwraps a result, naming the check and the step on failure.
pub(crate) fn ok<T>(result: Result<T>, check: &str, step: &str) -> T {
    result.unwrap_or_else(|e| panic!("{check}: {step} failed: {e} ({:?})", e.kind()))
}

/// Asserts that a result is an error of `kind`; returns its message.
pub(crate) fn fails<T: Debug>(
    result: Result<T>,
    kind: ConfigStoreErrorKind,
    check: &str,
    step: &str,
) -> String {
    match result {
        Ok(value) => panic!("{check}: {step} should fail with {kind:?} but returned {value:?}"),
        Err(e) => {
            assert_eq!(
                e.kind(),
                kind,
                "{check}: {step} should fail with {kind:?}, failed with: {e}"
            );
            e.message().to_owned()
        }
    }
}

/// Deletes a check's project.
pub(crate) async fn cleanup(store: &dyn ConfigStore, project: &str, check: &str) {
    ok(
        store.delete_project(project).await,
        check,
        "deleting the project",
    );
}
