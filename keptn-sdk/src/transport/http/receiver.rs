//! The receiving half: an axum handler that turns POSTed CloudEvents into deliveries.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::binding;
use crate::transport::MemoryTransport;

pub(super) fn router(path: &str, received: MemoryTransport) -> Router {
    Router::new()
        .route(path, post(receive))
        .with_state(received)
}

fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"code": status.as_u16(), "message": message.into()});
    (status, axum::Json(body)).into_response()
}

async fn receive(
    State(received): State<MemoryTransport>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = match binding::decode(&headers, &body) {
        Ok(event) => event,
        Err(message) => return answer(StatusCode::BAD_REQUEST, message),
    };
    // Waits while a subscriber's buffer is full: the sender sees the back-pressure as latency.
    match received.publish_routed(&event).await {
        Ok(0) => answer(
            StatusCode::OK,
            format!(
                "no subscription matches type {}; event {} ignored",
                event.event_type, event.id
            ),
        ),
        Ok(_) => answer(StatusCode::ACCEPTED, format!("event {} accepted", event.id)),
        Err(err) => answer(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}
