//! What the API's handlers share.

use std::sync::Arc;

use keptn_sdk::transport::Transport;

use super::auth::AuthRateLimiter;
use crate::configstore::ConfigStore;
use crate::datastore::EventStore;
use crate::orchestrator::ControllerHandle;
use crate::projects::Projects;
use crate::uniform::Uniform;

/// Settings of the API.
#[derive(Clone)]
pub struct ApiConfig {
    /// The token every protected route requires in `x-token`.
    pub token: String,
    /// The largest request body accepted (64 KiB by default, as Keptn's `MAX_EVENT_SIZE_KB`).
    pub max_body_bytes: usize,
    /// Requests per second allowed to `POST /v1/auth` per client (1).
    pub auth_rate: f64,
    /// Burst of `POST /v1/auth` per client (2).
    pub auth_burst: u32,
    /// The version reported by `/v1/metadata`.
    pub version: String,
    /// The namespace reported by `/v1/metadata`.
    pub namespace: String,
    /// The services running in this control plane, reported by `/v1/metadata`.
    pub services: Vec<String>,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("token", &"<redacted>")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ApiConfig {
    /// Defaults with this token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            max_body_bytes: 64 * 1024,
            auth_rate: 1.0,
            auth_burst: 2,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            namespace: "keptn".to_owned(),
            services: Vec::new(),
        }
    }
}

/// The components behind the API. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) config: Arc<ApiConfig>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) config_store: Arc<dyn ConfigStore>,
    pub(crate) projects: Projects,
    pub(crate) controller: ControllerHandle,
    pub(crate) uniform: Arc<Uniform>,
    pub(crate) limiter: Arc<AuthRateLimiter>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The API over these components.
    pub fn new(
        config: ApiConfig,
        transport: Arc<dyn Transport>,
        events: Arc<dyn EventStore>,
        config_store: Arc<dyn ConfigStore>,
        controller: ControllerHandle,
        uniform: Arc<Uniform>,
    ) -> Self {
        let limiter = Arc::new(AuthRateLimiter::new(config.auth_rate, config.auth_burst));
        let projects = Projects::new(
            Arc::clone(&config_store),
            Arc::clone(&events),
            Arc::clone(&transport),
        );
        Self {
            config: Arc::new(config),
            transport,
            events,
            config_store,
            projects,
            controller,
            uniform,
            limiter,
        }
    }
}
