//! The built-in services of the control plane, ready to run inside a [`Plane`](crate::plane::Plane)
//! (`keptn serve`) or alone in a reference binary.
//!
//! [`embedded_services`] lists what `keptn serve` runs beside the orchestrator and the datastore.
//!
//! - [`quality`]: the lighthouse (evaluations), the SLI providers, the approval and wait services.

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

/// Where the http-load test executor writes its results and the `builtin` SLI provider reads
/// them: the JSON-lines store (`FileLoadTestResults`) under
/// `<data_dir>/services/http-load/results`.
pub fn load_test_results_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("services").join("http-load").join("results")
}

/// The services `keptn serve` runs.
pub fn embedded_services(config: &ServicesConfig) -> Vec<Box<dyn PlaneService>> {
    let mut list: Vec<Box<dyn PlaneService>> = Vec::new();
    // Quality gates: lighthouse, SLI providers, approval, wait.
    quality::services(config, &mut list);
    list
}
