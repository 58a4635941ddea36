//! `/api/controlPlane/v1/uniform/registration` and `/api/controlPlane/v1/log`.

use axum::Json;
use axum::extract::State;
use keptn_sdk::api::{
    CreateLogsParams, Empty, EventSubscription, Integration, IntegrationId, LogEntries,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::body::{JsonBody, Params, PathParams};
use super::control_plane::{ListParams, paginate};
use super::state::ApiState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct IntegrationParams {
    name: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    Params(params): Params<IntegrationParams>,
) -> Json<Vec<Integration>> {
    Json(
        state
            .uniform
            .list(params.name.as_deref().filter(|n| !n.is_empty())),
    )
}

pub(crate) async fn register(
    State(state): State<ApiState>,
    JsonBody(integration): JsonBody<Integration>,
) -> Result<Json<IntegrationId>, ApiError> {
    Ok(Json(IntegrationId {
        id: state.uniform.register(integration)?,
    }))
}

pub(crate) async fn unregister(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Empty>, ApiError> {
    state.uniform.unregister(&id)?;
    Ok(Json(Empty {}))
}

pub(crate) async fn ping(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Integration>, ApiError> {
    Ok(Json(state.uniform.ping(&id)?))
}

pub(crate) async fn subscriptions(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
) -> Result<Json<Vec<EventSubscription>>, ApiError> {
    Ok(Json(state.uniform.subscriptions(&id)?))
}

pub(crate) async fn add_subscription(
    State(state): State<ApiState>,
    PathParams(id): PathParams<String>,
    JsonBody(subscription): JsonBody<EventSubscription>,
) -> Result<Json<Value>, ApiError> {
    let sid = state.uniform.add_subscription(&id, subscription)?;
    Ok(Json(json!({"id": sid})))
}

pub(crate) async fn subscription(
    State(state): State<ApiState>,
    PathParams((id, sid)): PathParams<(String, String)>,
) -> Result<Json<EventSubscription>, ApiError> {
    Ok(Json(state.uniform.subscription(&id, &sid)?))
}

pub(crate) async fn update_subscription(
    State(state): State<ApiState>,
    PathParams((id, sid)): PathParams<(String, String)>,
    JsonBody(subscription): JsonBody<EventSubscription>,
) -> Result<Json<Empty>, ApiError> {
    state.uniform.update_subscription(&id, &sid, subscription)?;
    Ok(Json(Empty {}))
}

pub(crate) async fn delete_subscription(
    State(state): State<ApiState>,
    PathParams((id, sid)): PathParams<(String, String)>,
) -> Result<Json<Empty>, ApiError> {
    state.uniform.delete_subscription(&id, &sid)?;
    Ok(Json(Empty {}))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogParams {
    #[serde(rename = "integrationId")]
    integration_id: Option<String>,
    #[serde(rename = "fromTime")]
    from_time: Option<String>,
    #[serde(rename = "beforeTime")]
    before_time: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<u32>,
    #[serde(rename = "nextPageKey")]
    next_page_key: Option<String>,
}

fn time(field: &str, raw: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    ApiError::bad_request(format!("{field}: {s:?} is not an RFC 3339 timestamp"))
                })
        })
        .transpose()
}

pub(crate) async fn logs(
    State(state): State<ApiState>,
    Params(params): Params<LogParams>,
) -> Result<Json<LogEntries>, ApiError> {
    let entries = state.uniform.query_logs(
        params.integration_id.as_deref().filter(|i| !i.is_empty()),
        time("fromTime", params.from_time.as_deref())?,
        time("beforeTime", params.before_time.as_deref())?,
    );
    let paging = ListParams::new(params.page_size, params.next_page_key);
    let (logs, next_page_key, page_size, total_count) = paginate(entries, &paging, 100)?;
    Ok(Json(LogEntries {
        logs,
        next_page_key,
        page_size,
        total_count,
    }))
}

pub(crate) async fn add_logs(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<CreateLogsParams>,
) -> Result<Json<Empty>, ApiError> {
    state.uniform.add_logs(body.logs)?;
    Ok(Json(Empty {}))
}

pub(crate) async fn delete_logs(
    State(state): State<ApiState>,
    Params(params): Params<LogParams>,
) -> Json<Empty> {
    state
        .uniform
        .delete_logs(params.integration_id.as_deref().filter(|i| !i.is_empty()));
    Json(Empty {})
}
