//! The Keptn control plane as a library.
//!
//! Module map (each module documents its own contract):
//!
//! - [`api`]: the control-plane HTTP API (axum)
//! - [`bus`]: the durable in-process bus of the embedded control plane
//! - [`shipyard`]: the shipyard model, parsing, validation and 0.1 -> 0.2 conversion
//! - [`orchestrator`]: the sequence state machine and its driver
//! - [`datastore`]: the event store (memory, SQLite, PostgreSQL, MongoDB)
//! - `db`: shared SQLite and PostgreSQL database handles (features `sqlite`, `postgres`)
//! - [`configstore`]: the versioned configuration store (git, memory)
//! - [`quality`]: SLO/SLI model and the lighthouse evaluation
//! - `plane`: the whole control plane in one process (features `sqlite` and `git`)
//! - [`projects`]: project, stage and service lifecycle and their expanded views
//! - [`deploy`]: the `Deployer` trait, the local deployer and the Helm deployer
//! - [`loadtest`]: HTTP functional and load tests, their results and the `builtin` SLIs
//! - [`remediation`]: `remediation.yaml`, action selection and action providers
//! - `services`: the built-in services run by `keptn serve` (features `sqlite` and `git`)
//! - [`uniform`]: registered integrations and their log entries

pub mod api;
pub mod bus;
pub mod configstore;
pub mod datastore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod db;
pub mod deploy;
pub mod loadtest;
pub mod orchestrator;
#[cfg(all(feature = "sqlite", feature = "git"))]
pub mod plane;
pub mod projects;
pub mod quality;
pub mod remediation;
#[cfg(all(feature = "sqlite", feature = "git"))]
pub mod services;
pub mod shipyard;
pub mod uniform;
