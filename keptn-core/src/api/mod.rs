//! The control-plane HTTP API, in Keptn 1.x's external layout under one base path (`/api`).
//!
//! | path | what |
//! |---|---|
//! | `GET /health` | 200 once the server is ready (no token) |
//! | `GET /api/openapi.json` | the OpenAPI 3 document of this API (no token) |
//! | `POST /api/v1/auth` | 200 for a valid token, 401 otherwise; rate limited per client (no token needed) |
//! | `GET /api/v1/metadata` | version and services |
//! | `POST /api/v1/event` | validate, complete and publish an event; answers `{keptnContext}` |
//! | `/api/controlPlane/v1/...` | projects, stages, services, evaluations, sequences, triggered events, uniform, logs |
//! | `/api/mongodb-datastore/event[/type/{type}]` | stored events |
//! | `/api/resource-service/v1/project/...` | configuration resources (base64 content) |
//!
//! Every other route requires the `x-token` header, compared in constant time. Errors are
//! `{"code": N, "message": "..."}`: 400 for bad input naming the field, 401, 404, 409 for
//! conflicts, 413 for bodies over the limit (64 KiB by default), 424 when a git upstream failed,
//! 429 when `/v1/auth` is called too often.
//!
//! [`serve`] runs the API on a listener until a shutdown future completes; tests bind
//! `127.0.0.1:0`.

mod auth;
mod body;
mod control_plane;
mod datastore;
mod error;
mod event;
mod openapi;
mod resources;
mod routes;
mod sequences;
mod state;
mod uniform;

use std::future::Future;
use std::net::SocketAddr;

pub use auth::{AuthRateLimiter, TOKEN_HEADER};
pub use error::ApiError;
pub use event::{API_SOURCE, prepare_event};
pub use openapi::openapi_document;
pub use routes::{PROTECTED_ROUTES, PUBLIC_ROUTES, router};
pub use state::{ApiConfig, ApiState};

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests;
