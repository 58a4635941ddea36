//! Resource calls of the API client (`/resource-service/v1`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;

use super::{ApiClient, ClientError, segment};
use crate::api::{
    Resource, ResourceContent, ResourceWithMetadata, ResourceWriteResult, Resources, ResourcesPage,
};

/// Where resources live: a project, a stage of it, a service in a stage, or a service's default
/// resources (copied into every stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceScope {
    /// Project level (the default branch).
    Project {
        /// The project.
        project: String,
    },
    /// Stage level.
    Stage {
        /// The project.
        project: String,
        /// The stage.
        stage: String,
    },
    /// A service in a stage.
    Service {
        /// The project.
        project: String,
        /// The stage.
        stage: String,
        /// The service.
        service: String,
    },
    /// A service's default resources, copied into every stage.
    ServiceDefault {
        /// The project.
        project: String,
        /// The service.
        service: String,
    },
}

impl ResourceScope {
    /// The API path of the scope's resource collection.
    pub fn path(&self) -> String {
        match self {
            ResourceScope::Project { project } => {
                format!("/resource-service/v1/project/{}/resource", segment(project))
            }
            ResourceScope::Stage { project, stage } => format!(
                "/resource-service/v1/project/{}/stage/{}/resource",
                segment(project),
                segment(stage)
            ),
            ResourceScope::Service {
                project,
                stage,
                service,
            } => format!(
                "/resource-service/v1/project/{}/stage/{}/service/{}/resource",
                segment(project),
                segment(stage),
                segment(service)
            ),
            ResourceScope::ServiceDefault { project, service } => format!(
                "/resource-service/v1/project/{}/service/{}/resource",
                segment(project),
                segment(service)
            ),
        }
    }
}

impl ApiClient {
    /// Stores resources (raw content; base64 is done here) in one commit.
    pub async fn put_resources(
        &self,
        scope: &ResourceScope,
        resources: &[(String, Vec<u8>)],
    ) -> Result<ResourceWriteResult, ClientError> {
        let body = Resources {
            resources: resources
                .iter()
                .map(|(uri, content)| Resource {
                    resource_uri: uri.clone(),
                    resource_content: STANDARD.encode(content),
                })
                .collect(),
        };
        self.send(self.request(Method::PUT, &scope.path()).json(&body))
            .await
    }

    /// Stores one resource.
    pub async fn put_resource(
        &self,
        scope: &ResourceScope,
        uri: &str,
        content: &[u8],
    ) -> Result<ResourceWriteResult, ClientError> {
        let path = format!("{}/{}", scope.path(), segment(uri));
        let body = ResourceContent {
            resource_uri: Some(uri.to_owned()),
            resource_content: STANDARD.encode(content),
        };
        self.send(self.request(Method::PUT, &path).json(&body))
            .await
    }

    /// Reads one resource (at `commit` if given); `None` when it does not exist.
    pub async fn resource(
        &self,
        scope: &ResourceScope,
        uri: &str,
        commit: Option<&str>,
    ) -> Result<Option<(ResourceWithMetadata, Vec<u8>)>, ClientError> {
        let path = format!("{}/{}", scope.path(), segment(uri));
        let mut builder = self.request(Method::GET, &path);
        if let Some(commit) = commit {
            builder = builder.query(&[("gitCommitID", commit)]);
        }
        let found: Option<ResourceWithMetadata> = self.send_optional(builder).await?;
        match found {
            None => Ok(None),
            Some(resource) => {
                let content = STANDARD
                    .decode(resource.resource_content.as_bytes())
                    .map_err(ClientError::Base64)?;
                Ok(Some((resource, content)))
            }
        }
    }

    /// Lists the resources of a scope.
    pub async fn resources(&self, scope: &ResourceScope) -> Result<ResourcesPage, ClientError> {
        self.send(
            self.request(Method::GET, &scope.path())
                .query(&[("pageSize", "50")]),
        )
        .await
    }

    /// Deletes one resource.
    pub async fn delete_resource(
        &self,
        scope: &ResourceScope,
        uri: &str,
    ) -> Result<(), ClientError> {
        let path = format!("{}/{}", scope.path(), segment(uri));
        let _: serde_json::Value = self.send(self.request(Method::DELETE, &path)).await?;
        Ok(())
    }
}
