//! The built-in services of the control plane, ready to run inside a [`Plane`](crate::plane::Plane)
//! (`keptn serve`) or alone in a reference binary.
//!
//! [`embedded_services`] lists what `keptn serve` runs beside the orchestrator and the datastore.

use std::path::PathBuf;

use crate::plane::PlaneService;

/// Settings of the built-in services.
#[derive(Debug, Clone, Default)]
pub struct ServicesConfig {
    /// The data directory of the plane (services keep their state below it).
    pub data_dir: PathBuf,
}

/// The services `keptn serve` runs.
pub fn embedded_services(config: &ServicesConfig) -> Vec<Box<dyn PlaneService>> {
    let _ = config;
    Vec::new()
}
