//! The built-in services of the control plane, ready to run inside a [`Plane`](crate::plane::Plane)
//! (`keptn serve`) or alone in a reference binary.
//!
//! [`embedded_services`] lists what `keptn serve` runs beside the orchestrator and the datastore.
//!
//! - [`quality`]: the lighthouse (evaluations), the SLI providers, the approval and wait services.
//! - `delivery` (feature `execution`): the deployer, the http-load test executor, the
//!   remediation service and the webhook action provider.

#[cfg(feature = "execution")]
pub mod delivery;

use std::path::{Path, PathBuf};

use crate::plane::PlaneService;

pub mod quality;

/// Settings of the built-in services.
#[derive(Debug, Clone, Default)]
pub struct ServicesConfig {
    /// The data directory of the plane (services keep their state below it).
    pub data_dir: PathBuf,
    /// The Prometheus the `prometheus` SLI provider asks when a project names none in its
    /// `prometheus/config.yaml` (e.g. `http://127.0.0.1:9090`).
    pub prometheus_url: Option<String>,
    /// The execution plane: deployer, tests, remediation and action providers.
    #[cfg(feature = "execution")]
    pub delivery: delivery::DeliveryConfig,
}

impl ServicesConfig {
    /// Settings with a data directory and nothing else.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }
}

/// Where the `http-load` service writes its test runs (JSON lines, one file per service) and
/// the `builtin` SLI provider reads them: `<data-dir>/services/http-load/results`.
pub fn load_test_results_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("services").join("http-load").join("results")
}

/// The services `keptn serve` runs.
pub fn embedded_services(config: &ServicesConfig) -> Vec<Box<dyn PlaneService>> {
    let mut list: Vec<Box<dyn PlaneService>> = Vec::new();
    // Quality gates: lighthouse, SLI providers, approval, wait.
    quality::services(config, &mut list);
    // The execution plane (deployer, http-load, remediation-service, webhook-service).
    add_delivery(config, &mut list);
    list
}

#[cfg(feature = "execution")]
fn add_delivery(config: &ServicesConfig, list: &mut Vec<Box<dyn PlaneService>>) {
    delivery::services(config, list);
}

#[cfg(not(feature = "execution"))]
fn add_delivery(_config: &ServicesConfig, _list: &mut Vec<Box<dyn PlaneService>>) {}
