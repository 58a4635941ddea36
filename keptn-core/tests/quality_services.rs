//! The quality-gate services (lighthouse, SLI providers, approval, wait) running on a plane in
//! memory with the real controller: `keptn_core::services::quality`.

mod quality_services {
    pub mod support;

    mod gates;
    mod lighthouse;
    mod providers;
}
