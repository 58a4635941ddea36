//! Integration tests of the configuration store (`keptn_core::configstore`): the conformance
//! suite on every backend, the Keptn example files, and the git backend's layout, history,
//! concurrency, helm charts and upstream sync against local bare repositories.
#![cfg(feature = "testing")]

#[path = "configstore/support.rs"]
mod support;

#[path = "configstore/conformance.rs"]
mod conformance;

#[path = "configstore/examples.rs"]
mod examples;

#[cfg(feature = "git")]
#[path = "configstore/git_layout.rs"]
mod git_layout;

#[cfg(feature = "git")]
#[path = "configstore/git_concurrency.rs"]
mod git_concurrency;

#[cfg(feature = "git")]
#[path = "configstore/git_upstream.rs"]
mod git_upstream;

#[cfg(feature = "git")]
#[path = "configstore/git_upstream_projects.rs"]
mod git_upstream_projects;
