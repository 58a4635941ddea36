//! The route table and the handlers of the api-service role (auth, metadata, event).
//!
//! [`PUBLIC_ROUTES`] and [`PROTECTED_ROUTES`] list every route the router serves; the OpenAPI
//! document is generated from them and a test checks that each is served and that each
//! protected one refuses a missing or wrong token.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::middleware;
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use keptn_sdk::api::{EventContext, LogEntry, Metadata};
use keptn_sdk::event::{EventDraft, LOG_ERROR_EVENT_TYPE};
use serde_json::{Value, json};

use super::auth::{client_ip, require_token, token_ok};
use super::body::LimitedBytes;
use super::state::ApiState;
use super::{ApiError, control_plane, datastore, event, openapi, resources, sequences, uniform};

/// A route: method, path (axum syntax) and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, with `{param}` segments (`{*param}` takes the rest).
    pub path: &'static str,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

const fn r(method: &'static str, path: &'static str, summary: &'static str) -> RouteSpec {
    RouteSpec {
        method,
        path,
        summary,
    }
}

/// Routes served without a token.
pub const PUBLIC_ROUTES: &[RouteSpec] = &[
    r("GET", "/health", "200 once the control plane is ready"),
    r("GET", "/api/health", "200 once the control plane is ready"),
    r(
        "GET",
        "/api/openapi.json",
        "this API as an OpenAPI 3 document",
    ),
    r(
        "POST",
        "/api/v1/auth",
        "checks the x-token (rate limited per client)",
    ),
];

const CP: &str = "/api/controlPlane/v1";
const RS: &str = "/api/resource-service/v1/project/{project}";

macro_rules! cp {
    ($m:literal, $p:literal, $s:literal) => {
        r($m, concat!("/api/controlPlane/v1", $p), $s)
    };
}

macro_rules! rs {
    ($m:literal, $p:literal, $s:literal) => {
        r(
            $m,
            concat!("/api/resource-service/v1/project/{project}", $p),
            $s,
        )
    };
}

/// Routes that need the `x-token` header.
pub const PROTECTED_ROUTES: &[RouteSpec] = &[
    r(
        "GET",
        "/api/v1/metadata",
        "version and services of the control plane",
    ),
    r(
        "POST",
        "/api/v1/event",
        "validates, completes and publishes an event",
    ),
    cp!("GET", "/project", "lists projects"),
    cp!(
        "POST",
        "/project",
        "creates a project from a base64 shipyard"
    ),
    cp!(
        "PUT",
        "/project",
        "updates a project's upstream or shipyard"
    ),
    cp!(
        "GET",
        "/project/{project}",
        "one project with stages and services"
    ),
    cp!("DELETE", "/project/{project}", "deletes a project"),
    cp!(
        "POST",
        "/project/{project}/service",
        "creates a service in every stage"
    ),
    cp!(
        "DELETE",
        "/project/{project}/service/{service}",
        "deletes a service"
    ),
    cp!(
        "GET",
        "/project/{project}/stage",
        "lists the stages of a project"
    ),
    cp!("GET", "/project/{project}/stage/{stage}", "one stage"),
    cp!(
        "GET",
        "/project/{project}/stage/{stage}/service",
        "lists the services of a stage"
    ),
    cp!(
        "GET",
        "/project/{project}/stage/{stage}/service/{service}",
        "one service of a stage"
    ),
    cp!(
        "POST",
        "/project/{project}/stage/{stage}/service/{service}/evaluation",
        "triggers an evaluation"
    ),
    cp!(
        "POST",
        "/event",
        "publishes a complete event (internal ingestion)"
    ),
    cp!(
        "GET",
        "/event/triggered/{event_type}",
        "open .triggered events of a task"
    ),
    cp!("GET", "/sequence/{project}", "sequence states of a project"),
    cp!(
        "POST",
        "/sequence/{project}/{keptn_context}/control",
        "pauses, resumes or aborts a sequence"
    ),
    cp!("GET", "/sequence-execution", "sequence executions"),
    cp!(
        "GET",
        "/uniform/registration",
        "lists registered integrations"
    ),
    cp!("POST", "/uniform/registration", "registers an integration"),
    cp!(
        "DELETE",
        "/uniform/registration/{id}",
        "unregisters an integration"
    ),
    cp!(
        "PUT",
        "/uniform/registration/{id}/ping",
        "heartbeat of an integration"
    ),
    cp!(
        "GET",
        "/uniform/registration/{id}/subscription",
        "subscriptions of an integration"
    ),
    cp!(
        "POST",
        "/uniform/registration/{id}/subscription",
        "adds a subscription"
    ),
    cp!(
        "GET",
        "/uniform/registration/{id}/subscription/{subscription_id}",
        "one subscription"
    ),
    cp!(
        "PUT",
        "/uniform/registration/{id}/subscription/{subscription_id}",
        "replaces a subscription"
    ),
    cp!(
        "DELETE",
        "/uniform/registration/{id}/subscription/{subscription_id}",
        "removes a subscription"
    ),
    cp!("GET", "/log", "integration log entries"),
    cp!("POST", "/log", "adds integration log entries"),
    cp!("DELETE", "/log", "deletes integration log entries"),
    r(
        "GET",
        "/api/mongodb-datastore/event",
        "stored events, newest first, paged",
    ),
    r(
        "GET",
        "/api/mongodb-datastore/event/type/{event_type}",
        "newest events of a type matching a filter",
    ),
    rs!("GET", "/resource", "lists project resources"),
    rs!("POST", "/resource", "adds project resources (one commit)"),
    rs!("PUT", "/resource", "writes project resources (one commit)"),
    rs!(
        "GET",
        "/resource/{*uri}",
        "one project resource (optionally at gitCommitID)"
    ),
    rs!("PUT", "/resource/{*uri}", "writes one project resource"),
    rs!("DELETE", "/resource/{*uri}", "deletes one project resource"),
    rs!("GET", "/stage/{stage}/resource", "lists stage resources"),
    rs!("POST", "/stage/{stage}/resource", "adds stage resources"),
    rs!("PUT", "/stage/{stage}/resource", "writes stage resources"),
    rs!(
        "GET",
        "/stage/{stage}/resource/{*uri}",
        "one stage resource"
    ),
    rs!(
        "PUT",
        "/stage/{stage}/resource/{*uri}",
        "writes one stage resource"
    ),
    rs!(
        "DELETE",
        "/stage/{stage}/resource/{*uri}",
        "deletes one stage resource"
    ),
    rs!(
        "GET",
        "/stage/{stage}/service/{service}/resource",
        "lists service resources"
    ),
    rs!(
        "POST",
        "/stage/{stage}/service/{service}/resource",
        "adds service resources"
    ),
    rs!(
        "PUT",
        "/stage/{stage}/service/{service}/resource",
        "writes service resources"
    ),
    rs!(
        "GET",
        "/stage/{stage}/service/{service}/resource/{*uri}",
        "one service resource"
    ),
    rs!(
        "PUT",
        "/stage/{stage}/service/{service}/resource/{*uri}",
        "writes one service resource"
    ),
    rs!(
        "DELETE",
        "/stage/{stage}/service/{service}/resource/{*uri}",
        "deletes one service resource"
    ),
    rs!(
        "POST",
        "/service/{service}/resource",
        "adds service default resources (every stage)"
    ),
    rs!(
        "PUT",
        "/service/{service}/resource",
        "writes service default resources (every stage)"
    ),
    rs!(
        "PUT",
        "/service/{service}/resource/{*uri}",
        "writes one service default resource"
    ),
    rs!(
        "DELETE",
        "/service/{service}/resource/{*uri}",
        "deletes one service default resource"
    ),
];

async fn health() -> Json<Value> {
    Json(json!({"status": "OK"}))
}

async fn auth_check(
    State(state): State<ApiState>,
    request: axum::extract::Request,
) -> Result<Json<Value>, ApiError> {
    let client = client_ip(request.extensions().get::<ConnectInfo<SocketAddr>>());
    let headers = request.headers();
    if !state.limiter.allow(client) {
        return Err(ApiError::too_many_requests(format!(
            "too many authentication requests from {client}; retry in a second"
        )));
    }
    if token_ok(headers, &state.config.token) {
        state.limiter.reset(client);
        Ok(Json(json!({})))
    } else {
        Err(ApiError::unauthorized())
    }
}

async fn metadata(State(state): State<ApiState>) -> Json<Metadata> {
    Json(Metadata {
        namespace: state.config.namespace.clone(),
        keptnlabel: "keptn".to_owned(),
        keptnversion: state.config.version.clone(),
        shipyardversion: "spec.keptn.sh/0.2.4".to_owned(),
        bridgeversion: String::new(),
        keptnservices: json!(state.config.services),
        automaticprovisioning: false,
    })
}

async fn post_event(
    State(state): State<ApiState>,
    LimitedBytes(bytes): LimitedBytes,
) -> Result<Json<EventContext>, ApiError> {
    let draft = EventDraft::from_json(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not a CloudEvent: {e}")))?;
    let event = event::prepare_event(draft)?;
    if event.type_string() == LOG_ERROR_EVENT_TYPE {
        // Integrations report errors with this event; keep them as uniform log entries too.
        let entry = LogEntry {
            integrationid: event
                .data_str("integrationid")
                .unwrap_or(&event.source)
                .to_owned(),
            message: event.data_str("message").unwrap_or_default().to_owned(),
            shkeptncontext: event.shkeptncontext.to_string(),
            task: event.data_str("task").unwrap_or_default().to_owned(),
            triggeredid: event
                .triggeredid
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            gitcommitid: event
                .gitcommitid
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            time: String::new(),
        };
        let _ = state.uniform.add_logs(vec![entry]);
    }
    state.transport.publish(&event).await?;
    Ok(Json(EventContext {
        keptn_context: event.shkeptncontext.into_inner(),
    }))
}

async fn fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

fn resource_routes(
    prefix: &str,
    router: Router<ApiState>,
    defaults_only: bool,
) -> Router<ApiState> {
    let collection: MethodRouter<ApiState> = if defaults_only {
        post(resources::put_many).put(resources::put_many)
    } else {
        get(resources::list)
            .post(resources::put_many)
            .put(resources::put_many)
    };
    let one: MethodRouter<ApiState> = if defaults_only {
        put(resources::put_one).delete(resources::delete_one)
    } else {
        get(resources::get_one)
            .put(resources::put_one)
            .delete(resources::delete_one)
    };
    router
        .route(&format!("{RS}{prefix}/resource"), collection)
        .route(&format!("{RS}{prefix}/resource/{{*uri}}"), one)
}

/// The API's router over `state`.
pub fn router(state: ApiState) -> Router {
    let mut protected = Router::new()
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/event", post(post_event))
        .route(
            &format!("{CP}/project"),
            get(control_plane::list_projects)
                .post(control_plane::create_project)
                .put(control_plane::update_project),
        )
        .route(
            &format!("{CP}/project/{{project}}"),
            get(control_plane::get_project).delete(control_plane::delete_project),
        )
        .route(
            &format!("{CP}/project/{{project}}/service"),
            post(control_plane::create_service),
        )
        .route(
            &format!("{CP}/project/{{project}}/service/{{service}}"),
            delete(control_plane::delete_service),
        )
        .route(
            &format!("{CP}/project/{{project}}/stage"),
            get(control_plane::list_stages),
        )
        .route(
            &format!("{CP}/project/{{project}}/stage/{{stage}}"),
            get(control_plane::get_stage),
        )
        .route(
            &format!("{CP}/project/{{project}}/stage/{{stage}}/service"),
            get(control_plane::list_services),
        )
        .route(
            &format!("{CP}/project/{{project}}/stage/{{stage}}/service/{{service}}"),
            get(control_plane::get_service),
        )
        .route(
            &format!("{CP}/project/{{project}}/stage/{{stage}}/service/{{service}}/evaluation"),
            post(control_plane::trigger_evaluation),
        )
        .route(&format!("{CP}/event"), post(control_plane::ingest_event))
        .route(
            &format!("{CP}/event/triggered/{{event_type}}"),
            get(sequences::triggered_events),
        )
        .route(
            &format!("{CP}/sequence/{{project}}"),
            get(sequences::list_sequences),
        )
        .route(
            &format!("{CP}/sequence/{{project}}/{{keptn_context}}/control"),
            post(sequences::control_sequence),
        )
        .route(
            &format!("{CP}/sequence-execution"),
            get(sequences::list_executions),
        )
        .route(
            &format!("{CP}/uniform/registration"),
            get(uniform::list).post(uniform::register),
        )
        .route(
            &format!("{CP}/uniform/registration/{{id}}"),
            delete(uniform::unregister),
        )
        .route(
            &format!("{CP}/uniform/registration/{{id}}/ping"),
            put(uniform::ping),
        )
        .route(
            &format!("{CP}/uniform/registration/{{id}}/subscription"),
            get(uniform::subscriptions).post(uniform::add_subscription),
        )
        .route(
            &format!("{CP}/uniform/registration/{{id}}/subscription/{{subscription_id}}"),
            get(uniform::subscription)
                .put(uniform::update_subscription)
                .delete(uniform::delete_subscription),
        )
        .route(
            &format!("{CP}/log"),
            get(uniform::logs)
                .post(uniform::add_logs)
                .delete(uniform::delete_logs),
        )
        .route("/api/mongodb-datastore/event", get(datastore::events))
        .route(
            "/api/mongodb-datastore/event/type/{event_type}",
            get(datastore::events_by_type),
        );
    protected = resource_routes("", protected, false);
    protected = resource_routes("/stage/{stage}", protected, false);
    protected = resource_routes("/stage/{stage}/service/{service}", protected, false);
    protected = resource_routes("/service/{service}", protected, true);
    let protected =
        protected.route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi::serve_document))
        .route("/api/v1/auth", post(auth_check))
        .merge(protected)
        .fallback(fallback)
        .with_state(state)
}
