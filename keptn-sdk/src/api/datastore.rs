//! Bodies of `/mongodb-datastore`.

use serde::{Deserialize, Serialize};

use crate::event::KeptnEvent;

/// `GET /mongodb-datastore/event` answer. `nextPageKey` is absent on the last page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    /// The events, newest first.
    pub events: Vec<KeptnEvent>,
    /// The key of the next page; absent on the last page.
    #[serde(
        rename = "nextPageKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_page_key: Option<String>,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// `GET /mongodb-datastore/event/type/{type}` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsByType {
    /// The events, newest first.
    pub events: Vec<KeptnEvent>,
}

/// Query parameters of `GET /mongodb-datastore/event`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQueryParams {
    /// Keptn context.
    #[serde(
        rename = "keptnContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub keptn_context: Option<String>,
    /// Event type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Event id.
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[serde(rename = "fromTime", default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<String>,
    /// Only events before this time (RFC 3339).
    #[serde(
        rename = "beforeTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub before_time: Option<String>,
    /// Only the first event of each Keptn context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<bool>,
    /// Items per page (1 to 100, default 20).
    #[serde(rename = "pageSize", default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// The key of the page to read.
    #[serde(
        rename = "nextPageKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_page_key: Option<String>,
}

/// Query parameters of `GET /mongodb-datastore/event/type/{type}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsByTypeParams {
    /// `key:value` terms joined by ` AND `; a comma in a value means any of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Leave out evaluations that were invalidated.
    #[serde(
        rename = "excludeInvalidated",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exclude_invalidated: Option<bool>,
    /// Only events at or after this time (RFC 3339).
    #[serde(rename = "fromTime", default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<String>,
    /// The most events to return (1 to 100, default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}
