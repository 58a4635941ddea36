//! Projects, stages and services: their lifecycle, and the expanded views the API serves.
//!
//! Creating a project validates its shipyard (0.2.x, or 0.1 converted to 0.2 and stored as the
//! converted file), creates its repository in the configuration store with one branch per stage,
//! and announces it with `sh.keptn.event.project.create.{triggered,started,finished}`. Deleting
//! announces `project.delete.*` and then removes the configuration and the stored events. Services
//! are created in every stage (`service.create.*`) and deleted from every stage
//! (`service.delete.*`). Every lifecycle event is published on the transport with the source
//! `shipyard-controller`, so integrations (a deployer uninstalling a service, say) react to them
//! as they did in Keptn.

mod error;
mod source;
mod views;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent, Phase};
use keptn_sdk::transport::Transport;
use serde_json::{Value, json};

use crate::configstore::{
    ConfigStore, ProjectSetup, ReadOptions, Resource, SHIPYARD_FILE, Scope, Upstream,
    UpstreamCredentials, validate_project_name, validate_service_name,
};
use crate::datastore::EventStore;
use crate::shipyard::{Shipyard, parse_document, validate_stage_update};

pub use error::{ProjectError, ProjectErrorKind};
pub use source::ConfigShipyardSource;

/// The source of the lifecycle events.
pub const CONTROL_PLANE_SOURCE: &str = "shipyard-controller";

/// Project, stage and service management over a configuration store, an event store and a
/// transport. Cheap to clone.
#[derive(Clone)]
pub struct Projects {
    config: Arc<dyn ConfigStore>,
    events: Arc<dyn EventStore>,
    transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for Projects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projects")
            .field("events", &self.events)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// A shipyard read from a request: the parsed model and the YAML to store.
struct IncomingShipyard {
    shipyard: Shipyard,
    yaml: String,
}

fn decode_shipyard(encoded: &str) -> Result<IncomingShipyard, ProjectError> {
    let bytes = STANDARD
        .decode(encoded.trim().as_bytes())
        .map_err(|e| ProjectError::invalid(format!("shipyard: not valid base64 ({e})")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ProjectError::invalid("shipyard: the decoded shipyard is not UTF-8 text"))?;
    let parsed =
        parse_document(&text).map_err(|e| ProjectError::invalid(format!("shipyard: {e}")))?;
    // A 0.1 shipyard is stored as its 0.2 conversion, so users see what the controller runs.
    let yaml = if parsed.was_converted() {
        parsed.shipyard.to_yaml()
    } else {
        text
    };
    Ok(IncomingShipyard {
        shipyard: parsed.shipyard,
        yaml,
    })
}

fn upstream_of(params: &CreateProjectParams) -> Result<Option<Upstream>, ProjectError> {
    let Some(url) = params.git_remote_url.as_deref().filter(|u| !u.is_empty()) else {
        if params.git_token.as_deref().is_some_and(|t| !t.is_empty())
            || params
                .git_private_key
                .as_deref()
                .is_some_and(|k| !k.is_empty())
        {
            return Err(ProjectError::invalid(
                "gitRemoteURL: git credentials were given without a remote URL",
            ));
        }
        return Ok(None);
    };
    let credentials = if let Some(key) = params.git_private_key.as_deref().filter(|k| !k.is_empty())
    {
        let decoded = STANDARD
            .decode(key.trim().as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| key.to_owned());
        UpstreamCredentials::SshKey {
            private_key: decoded,
            passphrase: params
                .git_private_key_pass
                .clone()
                .filter(|p| !p.is_empty()),
        }
    } else if let Some(token) = params.git_token.as_deref().filter(|t| !t.is_empty()) {
        UpstreamCredentials::Token {
            user: params.git_user.clone().unwrap_or_default(),
            token: token.to_owned(),
        }
    } else {
        UpstreamCredentials::None
    };
    Ok(Some(Upstream {
        url: url.to_owned(),
        credentials,
    }))
}

impl Projects {
    /// Project management over these components.
    pub fn new(
        config: Arc<dyn ConfigStore>,
        events: Arc<dyn EventStore>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Self {
            config,
            events,
            transport,
        }
    }

    /// The configuration store.
    pub fn config_store(&self) -> &Arc<dyn ConfigStore> {
        &self.config
    }

    /// Creates a project with its stages.
    ///
    /// Errors: `Invalid` (name, shipyard, upstream), `AlreadyExists`, `Upstream` (nothing is
    /// left behind).
    pub async fn create(&self, params: &CreateProjectParams) -> Result<(), ProjectError> {
        validate_project_name(&params.name).map_err(ProjectError::from_config)?;
        let encoded = params
            .shipyard
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ProjectError::invalid("shipyard: mandatory field 'shipyard' missing"))?;
        let incoming = decode_shipyard(encoded)?;
        let upstream = upstream_of(params)?;
        let setup = ProjectSetup {
            shipyard: Some(incoming.yaml.clone().into_bytes()),
            upstream,
            default_branch: params.git_default_branch.clone().filter(|b| !b.is_empty()),
        };
        self.config
            .create_project(&params.name, setup)
            .await
            .map_err(ProjectError::from_config)?;
        for stage in incoming.shipyard.stage_names() {
            if let Err(err) = self.config.create_stage(&params.name, stage).await {
                // Leave nothing half-created behind.
                let _ = self.config.delete_project(&params.name).await;
                return Err(ProjectError::from_config(err));
            }
        }
        let data = json!({
            "project": params.name,
            "projectName": params.name,
            "gitRemoteURL": params.git_remote_url.clone().unwrap_or_default(),
            "shipyard": STANDARD.encode(incoming.yaml.as_bytes()),
        });
        let created = json!({
            "project": params.name,
            "createdProject": {
                "projectName": params.name,
                "gitRemoteURL": params.git_remote_url.clone().unwrap_or_default(),
                "shipyard": STANDARD.encode(incoming.yaml.as_bytes()),
            },
        });
        self.announce("project.create", data, created).await
    }

    /// Updates a project's upstream and/or shipyard. A new shipyard may not add, remove or rename
    /// stages.
    pub async fn update(&self, params: &CreateProjectParams) -> Result<(), ProjectError> {
        validate_project_name(&params.name).map_err(ProjectError::from_config)?;
        let (current, _) = self.shipyard(&params.name).await?;
        if let Some(encoded) = params.shipyard.as_deref().filter(|s| !s.is_empty()) {
            let incoming = decode_shipyard(encoded)?;
            validate_stage_update(&current, &incoming.shipyard)
                .map_err(|e| ProjectError::invalid(format!("shipyard: {e}")))?;
            self.config
                .put_resources(
                    &Scope::project(&params.name),
                    vec![Resource::new(SHIPYARD_FILE, incoming.yaml.into_bytes())],
                    Some("Updated the shipyard"),
                )
                .await
                .map_err(ProjectError::from_config)?;
        }
        if params.git_remote_url.is_some() {
            let upstream = upstream_of(params)?;
            self.config
                .update_upstream(&params.name, upstream)
                .await
                .map_err(ProjectError::from_config)?;
        }
        Ok(())
    }

    /// Deletes a project: announces it, then removes its configuration and its events. Returns
    /// a message for the user.
    pub async fn delete(&self, project: &str) -> Result<String, ProjectError> {
        validate_project_name(project).map_err(ProjectError::from_config)?;
        // Fail with 404 before announcing anything.
        self.config
            .stages(project)
            .await
            .map_err(ProjectError::from_config)?;
        let data = json!({"project": project});
        self.announce("project.delete", data.clone(), data).await?;
        self.config
            .delete_project(project)
            .await
            .map_err(ProjectError::from_config)?;
        self.events.delete_project(project).await.map_err(|e| {
            ProjectError::internal(format!("deleting the events of project {project}"), e)
        })?;
        Ok(format!(
            "project {project} deleted; an upstream repository, if any, was left untouched"
        ))
    }

    /// Creates a service in every stage.
    pub async fn create_service(&self, project: &str, service: &str) -> Result<(), ProjectError> {
        validate_service_name(service).map_err(ProjectError::from_config)?;
        self.config
            .create_service(project, service)
            .await
            .map_err(ProjectError::from_config)?;
        let data = json!({"project": project, "service": service});
        self.announce("service.create", data.clone(), data).await
    }

    /// Deletes a service from every stage.
    pub async fn delete_service(
        &self,
        project: &str,
        service: &str,
    ) -> Result<String, ProjectError> {
        validate_service_name(service).map_err(ProjectError::from_config)?;
        self.config
            .delete_service(project, service)
            .await
            .map_err(ProjectError::from_config)?;
        let data = json!({"project": project, "service": service});
        self.announce("service.delete", data.clone(), data).await?;
        Ok(format!("service {service} deleted from project {project}"))
    }

    /// The current shipyard of a project: the model and the stored YAML.
    pub async fn shipyard(&self, project: &str) -> Result<(Shipyard, String), ProjectError> {
        let stored = self
            .config
            .get_resource(
                &Scope::project(project),
                SHIPYARD_FILE,
                &ReadOptions::latest().without_upstream_sync(),
            )
            .await
            .map_err(ProjectError::from_config)?
            .ok_or_else(|| {
                ProjectError::not_found(format!("project {project} has no shipyard.yaml"))
            })?;
        let text = String::from_utf8_lossy(&stored.content).into_owned();
        let shipyard = Shipyard::parse(&text).map_err(|e| {
            ProjectError::new(
                ProjectErrorKind::Internal,
                format!("the stored shipyard of project {project} is invalid: {e}"),
            )
        })?;
        Ok((shipyard, text))
    }

    /// Publishes `<task>.triggered`, `.started` and `.finished` for a control-plane lifecycle
    /// task, in one new Keptn context.
    async fn announce(&self, task: &str, data: Value, finished: Value) -> Result<(), ProjectError> {
        let context = KeptnContext::generate();
        let build = |phase: Phase, data: Value, triggered: Option<&KeptnEvent>| {
            let mut builder = KeptnEvent::builder(EventType::task(task, phase))
                .source(CONTROL_PLANE_SOURCE)
                .context(context.clone())
                .data_json(data);
            if let Some(t) = triggered {
                builder = builder.triggered_id(t.id.clone());
            }
            builder.build().map_err(|e| {
                ProjectError::new(
                    ProjectErrorKind::Internal,
                    format!("building the {task} event: {e}"),
                )
            })
        };
        let triggered = build(Phase::Triggered, data.clone(), None)?;
        let mut started_data = data;
        started_data["status"] = Value::from("succeeded");
        let started = build(Phase::Started, started_data, Some(&triggered))?;
        let mut finished_data = finished;
        finished_data["status"] = Value::from("succeeded");
        finished_data["result"] = Value::from("pass");
        let done = build(Phase::Finished, finished_data, Some(&triggered))?;
        for event in [triggered, started, done] {
            self.transport.publish(&event).await.map_err(|e| {
                ProjectError::internal(format!("publishing {}", event.event_type), e)
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
