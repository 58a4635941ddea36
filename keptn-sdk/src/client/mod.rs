//! A typed client of the control-plane HTTP API (feature `client`).
//!
//! ```no_run
//! # async fn run() -> Result<(), keptn_sdk::client::ClientError> {
//! use keptn_sdk::client::ApiClient;
//!
//! let client = ApiClient::new("http://127.0.0.1:8090/api", Some("my-token".into()))?;
//! client.auth().await?;
//! for project in client.projects().await?.projects {
//!     println!("{}", project.project_name);
//! }
//! # Ok(()) }
//! ```

mod error;
mod resources;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    CreateLogsParams, CreateProjectParams, CreateServiceParams, Empty, EvaluationParams,
    EventContext, EventQueryParams, EventsByType, EventsByTypeParams, EventsPage, ExpandedProject,
    ExpandedProjects, ExpandedService, ExpandedServices, ExpandedStage, ExpandedStages,
    Integration, IntegrationId, MessageBody, Metadata, SequenceControlParams, SequenceStates,
    TriggeredEvents,
};

pub use error::ClientError;
pub use resources::ResourceScope;

/// The header that carries the API token.
pub const TOKEN_HEADER: &str = "x-token";

/// Filters of [`ApiClient::sequences`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SequenceQuery {
    /// Sequence name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// State.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Keptn contexts, comma separated.
    #[serde(rename = "keptnContext", skip_serializing_if = "Option::is_none")]
    pub keptn_context: Option<String>,
    /// Items per page.
    #[serde(rename = "pageSize", skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Offset of the page.
    #[serde(rename = "nextPageKey", skip_serializing_if = "Option::is_none")]
    pub next_page_key: Option<u64>,
}

/// Filters of [`ApiClient::triggered_events`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TriggeredQuery {
    /// Project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Event id.
    #[serde(rename = "eventID", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// A client of one control plane. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl ApiClient {
    /// A client of the API at `endpoint` (e.g. `http://127.0.0.1:8090/api`), authenticating with
    /// `token`.
    pub fn new(endpoint: &str, token: Option<String>) -> Result<Self, ClientError> {
        let parsed = url::Url::parse(endpoint).map_err(|e| ClientError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::InvalidEndpoint {
                endpoint: endpoint.to_owned(),
                reason: "expected an http or https URL".to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(ClientError::transport)?;
        Ok(Self {
            http,
            base: endpoint.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut builder = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            builder = builder.header(TOKEN_HEADER, token);
        }
        builder
    }

    async fn send<T: DeserializeOwned>(&self, builder: RequestBuilder) -> Result<T, ClientError> {
        let response = builder.send().await.map_err(ClientError::transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(ClientError::transport)?;
        if !status.is_success() {
            return Err(ClientError::from_response(status, &bytes));
        }
        let bytes = if bytes.is_empty() {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
            status: status.as_u16(),
            source: e,
        })
    }

    async fn send_optional<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
    ) -> Result<Option<T>, ClientError> {
        match self.send(builder).await {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Api { status, .. }) if status == StatusCode::NOT_FOUND.as_u16() => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/auth`: checks the token.
    pub async fn auth(&self) -> Result<(), ClientError> {
        let _: serde_json::Value = self.send(self.request(Method::POST, "/v1/auth")).await?;
        Ok(())
    }

    /// `GET /v1/metadata`.
    pub async fn metadata(&self) -> Result<Metadata, ClientError> {
        self.send(self.request(Method::GET, "/v1/metadata")).await
    }

    /// `POST /v1/event`: sends an event (a `KeptnEvent`, an `EventDraft` or any JSON object);
    /// the API assigns id, time and Keptn context.
    pub async fn send_event<T: Serialize + ?Sized>(
        &self,
        event: &T,
    ) -> Result<EventContext, ClientError> {
        self.send(self.request(Method::POST, "/v1/event").json(event))
            .await
    }

    /// `POST /controlPlane/v1/project`.
    pub async fn create_project(&self, params: &CreateProjectParams) -> Result<(), ClientError> {
        let _: Empty = self
            .send(
                self.request(Method::POST, "/controlPlane/v1/project")
                    .json(params),
            )
            .await?;
        Ok(())
    }

    /// `PUT /controlPlane/v1/project`.
    pub async fn update_project(&self, params: &CreateProjectParams) -> Result<(), ClientError> {
        let _: Empty = self
            .send(
                self.request(Method::PUT, "/controlPlane/v1/project")
                    .json(params),
            )
            .await?;
        Ok(())
    }

    /// `GET /controlPlane/v1/project` (every page).
    pub async fn projects(&self) -> Result<ExpandedProjects, ClientError> {
        let mut all = ExpandedProjects::default();
        let mut key = String::new();
        loop {
            let mut builder = self
                .request(Method::GET, "/controlPlane/v1/project")
                .query(&[("pageSize", "50")]);
            if !key.is_empty() {
                builder = builder.query(&[("nextPageKey", key.as_str())]);
            }
            let page: ExpandedProjects = self.send(builder).await?;
            all.total_count = page.total_count;
            all.page_size = page.page_size;
            all.projects.extend(page.projects);
            if page.next_page_key.is_empty() || page.next_page_key == "0" {
                return Ok(all);
            }
            key = page.next_page_key;
        }
    }

    /// `GET /controlPlane/v1/project/{project}`; `None` if it does not exist.
    pub async fn project(&self, project: &str) -> Result<Option<ExpandedProject>, ClientError> {
        let path = format!("/controlPlane/v1/project/{}", segment(project));
        self.send_optional(self.request(Method::GET, &path)).await
    }

    /// `DELETE /controlPlane/v1/project/{project}`.
    pub async fn delete_project(&self, project: &str) -> Result<MessageBody, ClientError> {
        let path = format!("/controlPlane/v1/project/{}", segment(project));
        self.send(self.request(Method::DELETE, &path)).await
    }

    /// `GET /controlPlane/v1/project/{project}/stage`.
    pub async fn stages(&self, project: &str) -> Result<ExpandedStages, ClientError> {
        let path = format!("/controlPlane/v1/project/{}/stage", segment(project));
        self.send(self.request(Method::GET, &path)).await
    }

    /// `GET /controlPlane/v1/project/{project}/stage/{stage}`.
    pub async fn stage(
        &self,
        project: &str,
        stage: &str,
    ) -> Result<Option<ExpandedStage>, ClientError> {
        let path = format!(
            "/controlPlane/v1/project/{}/stage/{}",
            segment(project),
            segment(stage)
        );
        self.send_optional(self.request(Method::GET, &path)).await
    }

    /// `POST /controlPlane/v1/project/{project}/service`.
    pub async fn create_service(&self, project: &str, service: &str) -> Result<(), ClientError> {
        let path = format!("/controlPlane/v1/project/{}/service", segment(project));
        let body = CreateServiceParams {
            service_name: service.to_owned(),
        };
        let _: Empty = self
            .send(self.request(Method::POST, &path).json(&body))
            .await?;
        Ok(())
    }

    /// `DELETE /controlPlane/v1/project/{project}/service/{service}`.
    pub async fn delete_service(
        &self,
        project: &str,
        service: &str,
    ) -> Result<MessageBody, ClientError> {
        let path = format!(
            "/controlPlane/v1/project/{}/service/{}",
            segment(project),
            segment(service)
        );
        self.send(self.request(Method::DELETE, &path)).await
    }

    /// `GET /controlPlane/v1/project/{project}/stage/{stage}/service`.
    pub async fn services(
        &self,
        project: &str,
        stage: &str,
    ) -> Result<ExpandedServices, ClientError> {
        let path = format!(
            "/controlPlane/v1/project/{}/stage/{}/service",
            segment(project),
            segment(stage)
        );
        self.send(self.request(Method::GET, &path)).await
    }

    /// `GET /controlPlane/v1/project/{project}/stage/{stage}/service/{service}`.
    pub async fn service(
        &self,
        project: &str,
        stage: &str,
        service: &str,
    ) -> Result<Option<ExpandedService>, ClientError> {
        let path = format!(
            "/controlPlane/v1/project/{}/stage/{}/service/{}",
            segment(project),
            segment(stage),
            segment(service)
        );
        self.send_optional(self.request(Method::GET, &path)).await
    }

    /// `POST /controlPlane/v1/project/{p}/stage/{s}/service/{svc}/evaluation`.
    pub async fn trigger_evaluation(
        &self,
        project: &str,
        stage: &str,
        service: &str,
        params: &EvaluationParams,
    ) -> Result<EventContext, ClientError> {
        let path = format!(
            "/controlPlane/v1/project/{}/stage/{}/service/{}/evaluation",
            segment(project),
            segment(stage),
            segment(service)
        );
        self.send(self.request(Method::POST, &path).json(params))
            .await
    }

    /// `GET /controlPlane/v1/sequence/{project}`.
    pub async fn sequences(
        &self,
        project: &str,
        query: &SequenceQuery,
    ) -> Result<SequenceStates, ClientError> {
        let path = format!("/controlPlane/v1/sequence/{}", segment(project));
        self.send(self.request(Method::GET, &path).query(query))
            .await
    }

    /// `POST /controlPlane/v1/sequence/{project}/{keptnContext}/control`.
    pub async fn control_sequence(
        &self,
        project: &str,
        keptn_context: &str,
        params: &SequenceControlParams,
    ) -> Result<(), ClientError> {
        let path = format!(
            "/controlPlane/v1/sequence/{}/{}/control",
            segment(project),
            segment(keptn_context)
        );
        let _: Empty = self
            .send(self.request(Method::POST, &path).json(params))
            .await?;
        Ok(())
    }

    /// `GET /controlPlane/v1/event/triggered/{eventType}`: open `.triggered` events.
    pub async fn triggered_events(
        &self,
        event_type: &str,
        query: &TriggeredQuery,
    ) -> Result<TriggeredEvents, ClientError> {
        let path = format!("/controlPlane/v1/event/triggered/{}", segment(event_type));
        self.send(self.request(Method::GET, &path).query(query))
            .await
    }

    /// `GET /mongodb-datastore/event`.
    pub async fn events(&self, params: &EventQueryParams) -> Result<EventsPage, ClientError> {
        self.send(
            self.request(Method::GET, "/mongodb-datastore/event")
                .query(params),
        )
        .await
    }

    /// `GET /mongodb-datastore/event/type/{eventType}`.
    pub async fn events_by_type(
        &self,
        event_type: &str,
        params: &EventsByTypeParams,
    ) -> Result<EventsByType, ClientError> {
        let path = format!("/mongodb-datastore/event/type/{}", segment(event_type));
        self.send(self.request(Method::GET, &path).query(params))
            .await
    }

    /// `POST /controlPlane/v1/uniform/registration`: registers an integration.
    pub async fn register_integration(
        &self,
        integration: &Integration,
    ) -> Result<IntegrationId, ClientError> {
        self.send(
            self.request(Method::POST, "/controlPlane/v1/uniform/registration")
                .json(integration),
        )
        .await
    }

    /// `PUT /controlPlane/v1/uniform/registration/{id}/ping`: heartbeat.
    pub async fn ping_integration(&self, id: &str) -> Result<Integration, ClientError> {
        let path = format!("/controlPlane/v1/uniform/registration/{}/ping", segment(id));
        self.send(self.request(Method::PUT, &path)).await
    }

    /// `POST /controlPlane/v1/log`: reports integration log entries (errors).
    pub async fn send_logs(&self, logs: &CreateLogsParams) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .send(
                self.request(Method::POST, "/controlPlane/v1/log")
                    .json(logs),
            )
            .await?;
        Ok(())
    }
}

/// Percent-encodes one path segment.
pub(crate) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
