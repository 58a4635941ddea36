//! `/api/controlPlane/v1/sequence...` and `/event/triggered/{eventType}`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use keptn_sdk::api::{Empty, SequenceControlParams, SequenceControlState};
use keptn_sdk::event::{EventId, KeptnContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::body::{JsonBody, Params, PathParams};
use super::state::ApiState;
use crate::orchestrator::ExecutionState;
use crate::orchestrator::store::{ExecutionFilter, PageRequest, TriggeredFilter, ViewFilter};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SequenceParams {
    name: Option<String>,
    state: Option<String>,
    #[serde(rename = "fromTime")]
    from_time: Option<String>,
    #[serde(rename = "beforeTime")]
    before_time: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<u32>,
    #[serde(rename = "nextPageKey")]
    next_page_key: Option<String>,
    #[serde(rename = "keptnContext")]
    keptn_context: Option<String>,
}

fn state_param(raw: &str) -> Result<ExecutionState, ApiError> {
    serde_json::from_value(Value::from(raw)).map_err(|_| {
        ApiError::bad_request(format!(
            "state: {raw:?} is not one of triggered, waiting, started, waitingForApproval, \
             paused, finished, aborted, timedOut"
        ))
    })
}

fn time_param(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(format!("{field}: {s:?} is not an RFC 3339 timestamp"))
                })
        })
        .transpose()
}

fn page_request(
    page_size: Option<u32>,
    next_page_key: Option<&str>,
    max: u32,
) -> Result<PageRequest, ApiError> {
    let size = match page_size {
        None | Some(0) => 20,
        Some(n) if n > max => {
            return Err(ApiError::bad_request(format!(
                "pageSize: {n} is not between 1 and {max}"
            )));
        }
        Some(n) => n,
    };
    let offset = match next_page_key.filter(|k| !k.is_empty()) {
        None => 0,
        Some(k) => k.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "nextPageKey: {k:?} is not a page key (expected a non-negative integer)"
            ))
        })?,
    };
    Ok(PageRequest { size, offset })
}

pub(crate) async fn list_sequences(
    State(state): State<ApiState>,
    PathParams(project): PathParams<String>,
    Params(params): Params<SequenceParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = ViewFilter {
        name: params.name.filter(|n| !n.is_empty()),
        state: params
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(state_param)
            .transpose()?,
        from_time: time_param("fromTime", params.from_time.as_deref())?,
        before_time: time_param("beforeTime", params.before_time.as_deref())?,
        keptn_contexts: params
            .keptn_context
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(KeptnContext::from)
            .collect(),
    };
    let request = page_request(params.page_size, params.next_page_key.as_deref(), 50)?;
    let page = state
        .controller
        .sequence_states(&project, &filter, request)
        .await?;
    Ok(Json(json!({
        "states": page.items,
        "nextPageKey": page.next_offset.unwrap_or(0),
        "pageSize": request.size,
        "totalCount": page.total_count,
    })))
}

pub(crate) async fn control_sequence(
    State(state): State<ApiState>,
    PathParams((project, context)): PathParams<(String, String)>,
    JsonBody(params): JsonBody<SequenceControlParams>,
) -> Result<Json<Empty>, ApiError> {
    let context = KeptnContext::from(context);
    let stage = params.stage.as_deref().filter(|s| !s.is_empty());
    let exists = state
        .controller
        .sequence_executions(
            &ExecutionFilter {
                project: Some(project.clone()),
                keptn_context: Some(context.clone()),
                ..ExecutionFilter::default()
            },
            PageRequest { size: 1, offset: 0 },
        )
        .await?;
    if exists.total_count == 0 {
        return Err(ApiError::not_found(format!(
            "no sequence with keptnContext {context} in project {project}"
        )));
    }
    let controller = &state.controller;
    match params.state {
        SequenceControlState::Pause => controller.pause(&project, &context, stage).await?,
        SequenceControlState::Resume => controller.resume(&project, &context, stage).await?,
        SequenceControlState::Abort => controller.abort(&project, &context, stage).await?,
    };
    Ok(Json(Empty {}))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExecutionParams {
    project: Option<String>,
    stage: Option<String>,
    service: Option<String>,
    name: Option<String>,
    status: Option<String>,
    #[serde(rename = "keptnContext")]
    keptn_context: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<u32>,
    #[serde(rename = "nextPageKey")]
    next_page_key: Option<String>,
}

pub(crate) async fn list_executions(
    State(state): State<ApiState>,
    Params(params): Params<ExecutionParams>,
) -> Result<Json<Value>, ApiError> {
    let project = params
        .project
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("project: mandatory parameter 'project' missing"))?;
    let filter = ExecutionFilter {
        project: Some(project),
        stage: params.stage.filter(|s| !s.is_empty()),
        service: params.service.filter(|s| !s.is_empty()),
        name: params.name.filter(|s| !s.is_empty()),
        keptn_context: params
            .keptn_context
            .filter(|s| !s.is_empty())
            .map(KeptnContext::from),
        states: match params.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => vec![state_param(s)?],
            None => Vec::new(),
        },
        ..ExecutionFilter::default()
    };
    let request = page_request(params.page_size, params.next_page_key.as_deref(), 50)?;
    let page = state
        .controller
        .sequence_executions(&filter, request)
        .await?;
    Ok(Json(json!({
        "sequenceExecutions": page.items,
        "nextPageKey": page.next_offset.map_or("0".to_owned(), |n| n.to_string()),
        "pageSize": request.size,
        "totalCount": page.total_count,
    })))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TriggeredParams {
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    project: Option<String>,
    stage: Option<String>,
    service: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<u32>,
    #[serde(rename = "nextPageKey")]
    next_page_key: Option<String>,
}

pub(crate) async fn triggered_events(
    State(state): State<ApiState>,
    PathParams(event_type): PathParams<String>,
    Params(params): Params<TriggeredParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = TriggeredFilter {
        event_id: params.event_id.filter(|s| !s.is_empty()).map(EventId::from),
        project: params.project.filter(|s| !s.is_empty()),
        stage: params.stage.filter(|s| !s.is_empty()),
        service: params.service.filter(|s| !s.is_empty()),
        ..TriggeredFilter::default()
    };
    let request = page_request(params.page_size, params.next_page_key.as_deref(), 100)?;
    let page = state
        .controller
        .triggered_events(&event_type, filter, request)
        .await?;
    Ok(Json(json!({
        "events": page.items,
        "nextPageKey": page.next_offset.map_or("0".to_owned(), |n| n.to_string()),
        "pageSize": request.size,
        "totalCount": page.total_count,
    })))
}
