//! The API's error type: every failure is `{"code": N, "message": "..."}` with its status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keptn_sdk::api::ApiErrorBody;

/// An API failure with its HTTP status and a message that names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is invalid; the message names the field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no or a wrong token.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "incorrect api key auth")
    }

    /// 404: the named thing does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with what is stored.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 413: the body is larger than allowed.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 424: an upstream the request depends on (a git server) failed.
    pub fn failed_dependency(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FAILED_DEPENDENCY, message)
    }

    /// 429: too many requests from this client.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
    }

    /// 500: something failed inside; the message says what.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 503: a component is not available (for example while shutting down).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status.as_u16())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), message = %self.message, "request failed");
        }
        let body = ApiErrorBody {
            code: self.status.as_u16(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The full chain of an error's messages, for 500 answers and logs.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl From<crate::projects::ProjectError> for ApiError {
    fn from(err: crate::projects::ProjectError) -> Self {
        use crate::projects::ProjectErrorKind as K;
        match err.kind() {
            K::Invalid => ApiError::bad_request(err.message()),
            K::NotFound => ApiError::not_found(err.message()),
            K::AlreadyExists | K::Conflict => ApiError::conflict(err.message()),
            K::Upstream => ApiError::failed_dependency(err.message()),
            _ => ApiError::internal(chain(&err)),
        }
    }
}

impl From<crate::configstore::ConfigStoreError> for ApiError {
    fn from(err: crate::configstore::ConfigStoreError) -> Self {
        crate::projects::ProjectError::from_config(err).into()
    }
}

impl From<crate::datastore::StoreError> for ApiError {
    fn from(err: crate::datastore::StoreError) -> Self {
        use crate::datastore::StoreErrorKind as K;
        match err.kind() {
            K::InvalidQuery | K::InvalidEvent => ApiError::bad_request(err.message()),
            K::Unavailable => ApiError::unavailable(chain(&err)),
            _ => ApiError::internal(chain(&err)),
        }
    }
}

impl From<crate::orchestrator::ControllerError> for ApiError {
    fn from(err: crate::orchestrator::ControllerError) -> Self {
        use crate::orchestrator::ControllerError as E;
        match &err {
            E::NotATaskTrigger(_) => ApiError::bad_request(format!("eventType: {err}")),
            E::NotRunning => ApiError::unavailable(err.to_string()),
            _ => ApiError::internal(chain(&err)),
        }
    }
}

impl From<crate::uniform::UniformError> for ApiError {
    fn from(err: crate::uniform::UniformError) -> Self {
        use crate::uniform::UniformError as E;
        match &err {
            E::Invalid(_) => ApiError::bad_request(err.to_string()),
            _ => ApiError::not_found(err.to_string()),
        }
    }
}

impl From<keptn_sdk::transport::TransportError> for ApiError {
    fn from(err: keptn_sdk::transport::TransportError) -> Self {
        ApiError::unavailable(format!("the event could not be published: {}", chain(&err)))
    }
}
