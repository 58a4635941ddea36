//! `/api/resource-service/v1/project/{p}[/stage/{s}[/service/{svc}]]/resource[/{uri}]` and the
//! service defaults `/project/{p}/service/{svc}/resource[/{uri}]`. Content is base64 here and
//! bytes in the configuration store.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::api::{
    Resource as ApiResource, ResourceContent, ResourceMetadata as ApiMetadata,
    ResourceWithMetadata, ResourceWriteResult, Resources, ResourcesPage,
};
use keptn_sdk::event::GitCommitId;
use serde::Deserialize;

use super::ApiError;
use super::body::{JsonBody, Params, PathParams};
use super::control_plane::{ListParams, paginate};
use super::state::ApiState;
use crate::configstore::{ReadOptions, Resource, ResourceMetadata, Scope};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReadParams {
    #[serde(rename = "gitCommitID")]
    git_commit_id: Option<String>,
    #[serde(rename = "disableUpstreamSync")]
    disable_upstream_sync: Option<bool>,
    #[serde(rename = "pageSize")]
    page_size: Option<u32>,
    #[serde(rename = "nextPageKey")]
    next_page_key: Option<String>,
}

impl ReadParams {
    fn options(&self) -> ReadOptions {
        let mut options = match self.git_commit_id.as_deref().filter(|c| !c.is_empty()) {
            Some(commit) => ReadOptions::at(GitCommitId::new(commit)),
            None => ReadOptions::latest(),
        };
        if self.disable_upstream_sync.unwrap_or(false) {
            options = options.without_upstream_sync();
        }
        options
    }
}

fn scope(params: &HashMap<String, String>) -> Result<(Scope, Option<String>), ApiError> {
    let project = params
        .get("project")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("path: no project"))?;
    let scope = Scope {
        project,
        stage: params.get("stage").cloned(),
        service: params.get("service").cloned(),
    };
    let uri = params
        .get("uri")
        .map(|u| u.trim_start_matches('/').to_owned());
    Ok((scope, uri))
}

fn describe(scope: &Scope) -> String {
    match (&scope.stage, &scope.service) {
        (None, None) => format!("project {}", scope.project),
        (Some(stage), None) => format!("stage {stage} of project {}", scope.project),
        (Some(stage), Some(service)) => {
            format!(
                "service {service} in stage {stage} of project {}",
                scope.project
            )
        }
        (None, Some(service)) => format!("service {service} of project {}", scope.project),
    }
}

fn api_metadata(metadata: &ResourceMetadata) -> ApiMetadata {
    ApiMetadata {
        branch: metadata.branch.clone(),
        upstream_url: metadata.upstream_url.clone().unwrap_or_default(),
        version: metadata.version.to_string(),
    }
}

async fn write_result(
    state: &ApiState,
    scope: &Scope,
    commit: GitCommitId,
) -> Result<ResourceWriteResult, ApiError> {
    let upstream = state
        .config_store
        .upstream_info(&scope.project)
        .await?
        .map(|u| u.url)
        .unwrap_or_default();
    Ok(ResourceWriteResult {
        commit_id: commit.to_string(),
        metadata: ApiMetadata {
            branch: scope.stage.clone().unwrap_or_default(),
            upstream_url: upstream,
            version: commit.into_inner(),
        },
    })
}

fn decode(field: String, content: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(content.trim().as_bytes())
        .map_err(|e| ApiError::bad_request(format!("{field}: not valid base64 ({e})")))
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    PathParams(path): PathParams<HashMap<String, String>>,
    Params(params): Params<ReadParams>,
) -> Result<Json<ResourcesPage>, ApiError> {
    let (scope, _) = scope(&path)?;
    let uris = state
        .config_store
        .list_resources(&scope, &params.options())
        .await?;
    let paging = ListParams::new(params.page_size, params.next_page_key.clone());
    let (page, next_page_key, page_size, total_count) = paginate(uris, &paging, 50)?;
    Ok(Json(ResourcesPage {
        resources: page
            .into_iter()
            .map(|resource_uri| ApiResource {
                resource_uri,
                resource_content: String::new(),
            })
            .collect(),
        next_page_key,
        page_size,
        total_count,
    }))
}

pub(crate) async fn put_many(
    State(state): State<ApiState>,
    PathParams(path): PathParams<HashMap<String, String>>,
    JsonBody(body): JsonBody<Resources>,
) -> Result<(StatusCode, Json<ResourceWriteResult>), ApiError> {
    let (scope, _) = scope(&path)?;
    if body.resources.is_empty() {
        return Err(ApiError::bad_request("resources: the list is empty"));
    }
    let mut resources = Vec::with_capacity(body.resources.len());
    for (i, r) in body.resources.iter().enumerate() {
        let content = decode(
            format!("resources[{i}].resourceContent"),
            &r.resource_content,
        )?;
        resources.push(Resource::new(
            r.resource_uri.trim_start_matches('/'),
            content,
        ));
    }
    let commit = state
        .config_store
        .put_resources(&scope, resources, None)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(write_result(&state, &scope, commit).await?),
    ))
}

pub(crate) async fn get_one(
    State(state): State<ApiState>,
    PathParams(path): PathParams<HashMap<String, String>>,
    Params(params): Params<ReadParams>,
) -> Result<Json<ResourceWithMetadata>, ApiError> {
    let (scope, uri) = scope(&path)?;
    let uri = uri.unwrap_or_default();
    let found = state
        .config_store
        .get_resource(&scope, &uri, &params.options())
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("resource {uri} not found in {}", describe(&scope)))
        })?;
    Ok(Json(ResourceWithMetadata {
        resource_uri: found.uri.clone(),
        resource_content: STANDARD.encode(&found.content),
        metadata: api_metadata(&found.metadata),
    }))
}

pub(crate) async fn put_one(
    State(state): State<ApiState>,
    PathParams(path): PathParams<HashMap<String, String>>,
    JsonBody(body): JsonBody<ResourceContent>,
) -> Result<(StatusCode, Json<ResourceWriteResult>), ApiError> {
    let (scope, uri) = scope(&path)?;
    let uri = uri.unwrap_or_default();
    let content = decode("resourceContent".into(), &body.resource_content)?;
    let commit = state
        .config_store
        .put_resources(&scope, vec![Resource::new(uri, content)], None)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(write_result(&state, &scope, commit).await?),
    ))
}

pub(crate) async fn delete_one(
    State(state): State<ApiState>,
    PathParams(path): PathParams<HashMap<String, String>>,
) -> Result<Json<ResourceWriteResult>, ApiError> {
    let (scope, uri) = scope(&path)?;
    let uri = uri.unwrap_or_default();
    let commit = state.config_store.delete_resource(&scope, &uri).await?;
    Ok(Json(write_result(&state, &scope, commit).await?))
}
