//! The request and response bodies of the control-plane HTTP API, with Keptn 1.x field names.
//!
//! The server in `keptn-core` and the typed client share these types, so both sides agree on
//! every field. Paths live under one base (`/api` by default):
//!
//! | prefix | role |
//! |---|---|
//! | `/v1/auth`, `/v1/metadata`, `/v1/event` | api-service |
//! | `/controlPlane/v1/...` | projects, stages, services, sequences, uniform, logs |
//! | `/mongodb-datastore/event[/type/{type}]` | stored events |
//! | `/resource-service/v1/project/...` | configuration resources |

mod control_plane;
mod datastore;
mod resources;

pub use control_plane::*;
pub use datastore::*;
pub use resources::*;

use serde::{Deserialize, Serialize};

/// The error body of every endpoint: `{"code": 400, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The HTTP status code.
    pub code: u16,
    /// What went wrong, naming the offending field or identifier.
    pub message: String,
}

/// `POST /v1/event` answer: the Keptn context of the accepted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventContext {
    /// The Keptn context.
    #[serde(rename = "keptnContext")]
    pub keptn_context: String,
}

/// `GET /v1/metadata` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The namespace (the data directory's name when embedded).
    #[serde(default)]
    pub namespace: String,
    /// The label of Keptn's services.
    #[serde(default)]
    pub keptnlabel: String,
    /// The version of this control plane.
    #[serde(default)]
    pub keptnversion: String,
    /// The newest shipyard version understood.
    #[serde(default)]
    pub shipyardversion: String,
    /// The bridge version (empty: no bridge).
    #[serde(default)]
    pub bridgeversion: String,
    /// The services that run in this control plane.
    #[serde(default)]
    pub keptnservices: serde_json::Value,
    /// Whether git upstreams are provisioned automatically.
    pub automaticprovisioning: bool,
}

/// An empty object, the answer of several write endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// An answer that carries only a message (deletes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// Query parameters of paged lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageParams {
    /// Items per page.
    #[serde(rename = "pageSize", default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// The key of the page to read (a stringified offset).
    #[serde(
        rename = "nextPageKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_page_key: Option<String>,
}
