//! `/api/controlPlane/v1`: projects, stages, services, evaluations and event ingestion.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use keptn_sdk::api::{
    CreateProjectParams, CreateServiceParams, Empty, EvaluationParams, EventContext,
    ExpandedProject, ExpandedProjects, ExpandedService, ExpandedServices, ExpandedStage,
    ExpandedStages, MessageBody,
};
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent, Phase};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{JsonBody, Params, PathParams};
use super::state::ApiState;
use super::{ApiError, event};
use crate::shipyard::GoDuration;

/// Paging of control-plane lists: `"0"` marks the last page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    #[serde(rename = "pageSize")]
    page_size: Option<u32>,
    #[serde(rename = "nextPageKey")]
    next_page_key: Option<String>,
}

impl ListParams {
    pub(crate) fn new(page_size: Option<u32>, next_page_key: Option<String>) -> Self {
        Self {
            page_size,
            next_page_key,
        }
    }
}

/// One page of `items`: (page, next page key, page size, total).
pub(crate) fn paginate<T>(
    items: Vec<T>,
    params: &ListParams,
    max: u32,
) -> Result<(Vec<T>, String, u32, u64), ApiError> {
    let size = match params.page_size {
        None | Some(0) => 20.min(max),
        Some(n) if n > max => {
            return Err(ApiError::bad_request(format!(
                "pageSize: {n} is larger than the maximum of {max}"
            )));
        }
        Some(n) => n,
    };
    let offset: usize = match params.next_page_key.as_deref() {
        None | Some("") => 0,
        Some(key) => key.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "nextPageKey: {key:?} is not a page key (expected a non-negative integer)"
            ))
        })?,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size as usize).collect();
    let next = offset + page.len();
    let next_key = if next < total {
        next.to_string()
    } else {
        "0".to_owned()
    };
    Ok((page, next_key, size, total as u64))
}

pub(crate) async fn list_projects(
    State(state): State<ApiState>,
    Params(params): Params<ListParams>,
) -> Result<Json<ExpandedProjects>, ApiError> {
    let names = state.projects.names().await?;
    let (page, next_page_key, page_size, total_count) = paginate(names, &params, 50)?;
    let mut projects = Vec::with_capacity(page.len());
    for name in page {
        projects.push(state.projects.project(&name).await?);
    }
    Ok(Json(ExpandedProjects {
        projects,
        next_page_key,
        page_size,
        total_count,
    }))
}

pub(crate) async fn create_project(
    State(state): State<ApiState>,
    JsonBody(params): JsonBody<CreateProjectParams>,
) -> Result<(StatusCode, Json<Empty>), ApiError> {
    state.projects.create(&params).await?;
    Ok((StatusCode::CREATED, Json(Empty {})))
}

pub(crate) async fn update_project(
    State(state): State<ApiState>,
    JsonBody(params): JsonBody<CreateProjectParams>,
) -> Result<(StatusCode, Json<Empty>), ApiError> {
    state.projects.update(&params).await?;
    Ok((StatusCode::CREATED, Json(Empty {})))
}

pub(crate) async fn get_project(
    State(state): State<ApiState>,
    PathParams(project): PathParams<String>,
) -> Result<Json<ExpandedProject>, ApiError> {
    Ok(Json(state.projects.project(&project).await?))
}

pub(crate) async fn delete_project(
    State(state): State<ApiState>,
    PathParams(project): PathParams<String>,
) -> Result<Json<MessageBody>, ApiError> {
    let message = state.projects.delete(&project).await?;
    Ok(Json(MessageBody { message }))
}

pub(crate) async fn create_service(
    State(state): State<ApiState>,
    PathParams(project): PathParams<String>,
    JsonBody(params): JsonBody<CreateServiceParams>,
) -> Result<Json<Empty>, ApiError> {
    state
        .projects
        .create_service(&project, &params.service_name)
        .await?;
    Ok(Json(Empty {}))
}

pub(crate) async fn delete_service(
    State(state): State<ApiState>,
    PathParams((project, service)): PathParams<(String, String)>,
) -> Result<Json<MessageBody>, ApiError> {
    let message = state.projects.delete_service(&project, &service).await?;
    Ok(Json(MessageBody { message }))
}

pub(crate) async fn list_stages(
    State(state): State<ApiState>,
    PathParams(project): PathParams<String>,
    Params(params): Params<ListParams>,
) -> Result<Json<ExpandedStages>, ApiError> {
    let stages = state.projects.project(&project).await?.stages;
    let (stages, next_page_key, page_size, total_count) = paginate(stages, &params, 50)?;
    Ok(Json(ExpandedStages {
        stages,
        next_page_key,
        page_size,
        total_count,
    }))
}

pub(crate) async fn get_stage(
    State(state): State<ApiState>,
    PathParams((project, stage)): PathParams<(String, String)>,
) -> Result<Json<ExpandedStage>, ApiError> {
    Ok(Json(state.projects.stage(&project, &stage).await?))
}

pub(crate) async fn list_services(
    State(state): State<ApiState>,
    PathParams((project, stage)): PathParams<(String, String)>,
    Params(params): Params<ListParams>,
) -> Result<Json<ExpandedServices>, ApiError> {
    let services = state.projects.stage(&project, &stage).await?.services;
    let (services, next_page_key, page_size, total_count) = paginate(services, &params, 50)?;
    Ok(Json(ExpandedServices {
        services,
        next_page_key,
        page_size,
        total_count,
    }))
}

pub(crate) async fn get_service(
    State(state): State<ApiState>,
    PathParams((project, stage, service)): PathParams<(String, String, String)>,
) -> Result<Json<ExpandedService>, ApiError> {
    Ok(Json(
        state.projects.service(&project, &stage, &service).await?,
    ))
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!("{field}: {value:?} is not an RFC 3339 timestamp"))
        })
}

/// The evaluated timeframe of an evaluation request: `end` and `timeframe` exclude each other;
/// with neither, the 5 minutes before now.
pub(crate) fn evaluation_window(
    params: &EvaluationParams,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    if params.end.is_some() && params.timeframe.is_some() {
        return Err(ApiError::bad_request(
            "end and timeframe: give one of them, not both",
        ));
    }
    let timeframe = match params.timeframe.as_deref() {
        Some(t) => {
            let d: GoDuration = t.parse().map_err(|_| {
                ApiError::bad_request(format!("timeframe: {t:?} is not a duration such as 5m"))
            })?;
            Some(
                Duration::from_std(d.duration())
                    .map_err(|_| ApiError::bad_request(format!("timeframe: {t:?} is too long")))?,
            )
        }
        None => None,
    };
    let start = params
        .start
        .as_deref()
        .map(|s| parse_time("start", s))
        .transpose()?;
    let end = params
        .end
        .as_deref()
        .map(|s| parse_time("end", s))
        .transpose()?;
    let (start, end) = match (start, end, timeframe) {
        (Some(s), Some(e), _) => (s, e),
        (Some(s), None, Some(tf)) => (s, s + tf),
        (Some(s), None, None) => (s, s + Duration::minutes(5)),
        (None, Some(e), _) => (e - Duration::minutes(5), e),
        (None, None, tf) => {
            let tf = tf.unwrap_or_else(|| Duration::minutes(5));
            (now - tf, now)
        }
    };
    if start >= end {
        return Err(ApiError::bad_request(
            "start: the start must be before the end",
        ));
    }
    Ok((start, end))
}

pub(crate) async fn trigger_evaluation(
    State(state): State<ApiState>,
    PathParams((project, stage, service)): PathParams<(String, String, String)>,
    JsonBody(params): JsonBody<EvaluationParams>,
) -> Result<Json<EventContext>, ApiError> {
    state.projects.service(&project, &stage, &service).await?;
    let (start, end) = evaluation_window(&params, Utc::now())?;
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let data = json!({
        "project": project,
        "stage": stage,
        "service": service,
        "labels": params.labels.clone().unwrap_or_default(),
        "evaluation": {"start": format(start), "end": format(end)},
    });
    let context = KeptnContext::generate();
    let mut builder =
        KeptnEvent::builder(EventType::sequence(&stage, "evaluation", Phase::Triggered))
            .source(event::API_SOURCE)
            .context(context.clone())
            .data_json(data);
    if let Some(commit) = params.gitcommitid.filter(|c| !c.is_empty()) {
        builder = builder.git_commit_id(commit);
    }
    let event = builder
        .build()
        .map_err(|e| ApiError::internal(format!("building the evaluation trigger: {e}")))?;
    state.transport.publish(&event).await?;
    Ok(Json(EventContext {
        keptn_context: context.into_inner(),
    }))
}

/// `POST /controlPlane/v1/event`: the controller's own ingestion path; a complete event is
/// published as it is (after validation).
pub(crate) async fn ingest_event(
    State(state): State<ApiState>,
    JsonBody(value): JsonBody<Value>,
) -> Result<Json<Empty>, ApiError> {
    let event: KeptnEvent =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("event: {e}")))?;
    event
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    state.transport.publish(&event).await?;
    Ok(Json(Empty {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(start: Option<&str>, end: Option<&str>, timeframe: Option<&str>) -> EvaluationParams {
        EvaluationParams {
            start: start.map(str::to_owned),
            end: end.map(str::to_owned),
            timeframe: timeframe.map(str::to_owned),
            ..EvaluationParams::default()
        }
    }

    #[test]
    fn the_default_window_is_the_last_five_minutes() {
        let now = Utc::now();
        let (s, e) = evaluation_window(&params(None, None, None), now).unwrap();
        assert_eq!(e, now);
        assert_eq!(e - s, Duration::minutes(5));
    }

    #[test]
    fn a_timeframe_after_a_start_sets_the_end() {
        let (s, e) = evaluation_window(
            &params(Some("2024-01-01T10:00:00Z"), None, Some("10m")),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(e - s, Duration::minutes(10));
        assert_eq!(s.to_rfc3339(), "2024-01-01T10:00:00+00:00");
    }

    #[test]
    fn end_and_timeframe_exclude_each_other_and_bad_values_are_named() {
        let err = evaluation_window(
            &params(None, Some("2024-01-01T10:00:00Z"), Some("5m")),
            Utc::now(),
        )
        .unwrap_err();
        assert!(err.message().contains("not both"));
        let err =
            evaluation_window(&params(Some("yesterday"), None, None), Utc::now()).unwrap_err();
        assert!(err.message().starts_with("start:"), "{err}");
        let err = evaluation_window(&params(None, None, Some("5x")), Utc::now()).unwrap_err();
        assert!(err.message().starts_with("timeframe:"), "{err}");
    }

    #[test]
    fn pages_end_with_key_zero() {
        let (page, next, size, total) = paginate(
            (0..5).collect(),
            &ListParams {
                page_size: Some(2),
                next_page_key: Some("2".into()),
            },
            50,
        )
        .unwrap();
        assert_eq!((page, next.as_str(), size, total), (vec![2, 3], "4", 2, 5));
        let (_, next, _, _) = paginate(
            (0..5).collect::<Vec<i32>>(),
            &ListParams {
                page_size: Some(2),
                next_page_key: Some("4".into()),
            },
            50,
        )
        .unwrap();
        assert_eq!(next, "0");
    }
}
