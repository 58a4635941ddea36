//! `/api/mongodb-datastore`: the stored events.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use keptn_sdk::api::{EventQueryParams, EventsByType, EventsByTypeParams, EventsPage};
use keptn_sdk::event::{EventId, KeptnContext};

use super::ApiError;
use super::body::{Params, PathParams};
use super::state::ApiState;
use crate::datastore::{EventFilter, EventQuery, TypeQuery};

fn time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
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

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub(crate) async fn events(
    State(state): State<ApiState>,
    Params(params): Params<EventQueryParams>,
) -> Result<Json<EventsPage>, ApiError> {
    let query = EventQuery {
        project: non_empty(params.project),
        stage: non_empty(params.stage),
        service: non_empty(params.service),
        keptn_context: non_empty(params.keptn_context).map(KeptnContext::from),
        event_type: non_empty(params.event_type),
        source: non_empty(params.source),
        event_id: non_empty(params.event_id).map(EventId::from),
        from_time: time("fromTime", params.from_time.as_deref())?,
        before_time: time("beforeTime", params.before_time.as_deref())?,
        root: params.root.unwrap_or(false),
        page_size: params.page_size,
        next_page_key: non_empty(params.next_page_key),
    };
    let page = state.events.query(&query).await?;
    Ok(Json(EventsPage {
        events: page.events,
        next_page_key: page.next_page_key,
        page_size: page.page_size,
        total_count: page.total_count,
    }))
}

pub(crate) async fn events_by_type(
    State(state): State<ApiState>,
    PathParams(event_type): PathParams<String>,
    Params(params): Params<EventsByTypeParams>,
) -> Result<Json<EventsByType>, ApiError> {
    let expression = params.filter.unwrap_or_default();
    let filter = EventFilter::parse(&expression)?;
    let query = TypeQuery {
        event_type,
        filter,
        exclude_invalidated: params.exclude_invalidated.unwrap_or(false),
        from_time: time("fromTime", params.from_time.as_deref())?,
        limit: params.limit,
    };
    let events = state.events.query_by_type(&query).await?;
    Ok(Json(EventsByType { events }))
}
