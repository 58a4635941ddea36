//! Errors of the API client.

use reqwest::StatusCode;

use crate::api::ApiErrorBody;

/// A failed API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The endpoint URL is unusable.
    #[error("invalid API endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The API answered with an error status; `message` is the API's own message.
    #[error("{message} (HTTP {status})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// The request did not reach the API or the answer did not come back.
    #[error("the API could not be reached")]
    Transport(#[source] reqwest::Error),
    /// The answer was not the expected JSON.
    #[error("the API's answer (HTTP {status}) could not be read")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Content that should be base64 is not.
    #[error("resource content is not base64")]
    Base64(#[source] base64::DecodeError),
}

impl ClientError {
    pub(crate) fn transport(err: reqwest::Error) -> Self {
        ClientError::Transport(err)
    }

    pub(crate) fn from_response(status: StatusCode, body: &[u8]) -> Self {
        let message = match serde_json::from_slice::<ApiErrorBody>(body) {
            Ok(parsed) => parsed.message,
            Err(_) => {
                let text = String::from_utf8_lossy(body).trim().to_owned();
                if text.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("request failed")
                        .to_owned()
                } else {
                    text
                }
            }
        };
        ClientError::Api {
            status: status.as_u16(),
            message,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}
