//! The expanded views of projects, stages and services (`GET /controlPlane/v1/project...`).
//!
//! Stages and services come from the configuration store; what happened to them (the newest
//! event, the newest event of each type, the deployed image, open remediations) from the event
//! store, read when asked. A service view reads its newest 200 events, an index range on every
//! event store backend.

use std::collections::{BTreeMap, HashSet};

use keptn_sdk::api::{
    EventContextInfo, ExpandedProject, ExpandedService, ExpandedStage, OpenRemediation,
};
use keptn_sdk::event::{EventType, KeptnEvent, Phase};

use super::{ProjectError, Projects};
use crate::configstore::{METADATA_FILE, ReadOptions, Scope};
use crate::datastore::EventQuery;

const SERVICE_EVENTS: u32 = 100;

fn context_info(event: &KeptnEvent) -> EventContextInfo {
    EventContextInfo {
        event_id: event.id.to_string(),
        keptn_context: event.shkeptncontext.to_string(),
        time: event
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// `CreationTimestamp` of a `metadata.yaml`.
fn creation_timestamp(content: &[u8]) -> String {
    serde_norway::from_slice::<serde_norway::Value>(content)
        .ok()
        .and_then(|v| {
            v.get("CreationTimestamp")
                .and_then(|t| t.as_str().map(str::to_owned))
        })
        .unwrap_or_default()
}

impl Projects {
    async fn newest_event(&self, query: EventQuery) -> Result<Option<KeptnEvent>, ProjectError> {
        let page = self
            .events
            .query(&EventQuery {
                page_size: Some(1),
                ..query
            })
            .await
            .map_err(|e| ProjectError::internal("reading the newest event", e))?;
        Ok(page.events.into_iter().next())
    }

    async fn metadata_timestamp(&self, scope: Scope) -> String {
        match self
            .config
            .get_resource(
                &scope,
                METADATA_FILE,
                &ReadOptions::latest().without_upstream_sync(),
            )
            .await
        {
            Ok(Some(resource)) => creation_timestamp(&resource.content),
            _ => String::new(),
        }
    }

    /// The names of every project, sorted.
    pub async fn names(&self) -> Result<Vec<String>, ProjectError> {
        self.config
            .projects()
            .await
            .map_err(ProjectError::from_config)
    }

    /// One project with its stages and services.
    pub async fn project(&self, project: &str) -> Result<ExpandedProject, ProjectError> {
        let (shipyard, yaml) = self.shipyard(project).await?;
        let upstream = self
            .config
            .upstream_info(project)
            .await
            .map_err(ProjectError::from_config)?
            .unwrap_or_default();
        let mut stages = Vec::new();
        for stage in shipyard.stage_names() {
            stages.push(self.stage(project, stage).await?);
        }
        Ok(ExpandedProject {
            project_name: project.to_owned(),
            creation_date: self.metadata_timestamp(Scope::project(project)).await,
            shipyard: yaml,
            shipyard_version: shipyard.api_version.clone(),
            git_remote_uri: upstream.url,
            git_user: upstream.user,
            last_event_context: self
                .newest_event(EventQuery::project(project))
                .await?
                .as_ref()
                .map(context_info),
            stages,
        })
    }

    /// One stage of a project with its services.
    pub async fn stage(&self, project: &str, stage: &str) -> Result<ExpandedStage, ProjectError> {
        let (shipyard, _) = self.shipyard(project).await?;
        let declared = shipyard.stage(stage).ok_or_else(|| {
            ProjectError::not_found(format!("stage {stage} does not exist in project {project}"))
        })?;
        let mut parents: Vec<String> = declared
            .sequences
            .iter()
            .flat_map(|seq| seq.triggered_on.iter())
            .filter_map(|t| t.event.split('.').next().map(str::to_owned))
            .filter(|p| p != stage)
            .collect();
        parents.sort();
        parents.dedup();
        let names = self
            .config
            .services(project, stage)
            .await
            .map_err(ProjectError::from_config)?;
        let mut services = Vec::new();
        for name in names {
            services.push(self.service(project, stage, &name).await?);
        }
        Ok(ExpandedStage {
            stage_name: stage.to_owned(),
            parent_stages: parents,
            last_event_context: self
                .newest_event(EventQuery {
                    stage: Some(stage.to_owned()),
                    ..EventQuery::project(project)
                })
                .await?
                .as_ref()
                .map(context_info),
            services,
        })
    }

    /// One service in a stage: what was deployed, the newest event of each type, open
    /// remediations.
    pub async fn service(
        &self,
        project: &str,
        stage: &str,
        service: &str,
    ) -> Result<ExpandedService, ProjectError> {
        let services = self
            .config
            .services(project, stage)
            .await
            .map_err(ProjectError::from_config)?;
        if !services.iter().any(|s| s == service) {
            return Err(ProjectError::not_found(format!(
                "service {service} does not exist in stage {stage} of project {project}"
            )));
        }
        let page = self
            .events
            .query(&EventQuery {
                stage: Some(stage.to_owned()),
                service: Some(service.to_owned()),
                page_size: Some(SERVICE_EVENTS),
                ..EventQuery::project(project)
            })
            .await
            .map_err(|e| ProjectError::internal("reading the events of a service", e))?;
        Ok(ExpandedService {
            service_name: service.to_owned(),
            creation_date: self
                .metadata_timestamp(Scope::service(project, stage, service))
                .await,
            deployed_image: deployed_image(&page.events),
            last_event_types: last_event_types(&page.events),
            open_remediations: open_remediations(&page.events, stage),
        })
    }
}

/// The newest event of each type (events come newest first).
fn last_event_types(events: &[KeptnEvent]) -> BTreeMap<String, EventContextInfo> {
    let mut map = BTreeMap::new();
    for event in events {
        map.entry(event.type_string())
            .or_insert_with(|| context_info(event));
    }
    map
}

/// The image of the newest successful deployment (`configurationChange.values.image` of its
/// trigger, as Keptn showed it), leaving out deployments that a rollback of the same sequence
/// discarded.
fn deployed_image(events: &[KeptnEvent]) -> String {
    let rolled_back: HashSet<&str> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::task("rollback", Phase::Finished)
                && e.data_str("result").is_some_and(|r| r != "fail")
        })
        .map(|e| e.shkeptncontext.as_str())
        .collect();
    let finished: HashSet<&str> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::task("deployment", Phase::Finished)
                && e.data_str("result").is_some_and(|r| r != "fail")
        })
        .filter_map(|e| e.triggeredid.as_ref().map(|t| t.as_str()))
        .collect();
    events
        .iter()
        .filter(|e| e.event_type == EventType::task("deployment", Phase::Triggered))
        .filter(|e| !rolled_back.contains(e.shkeptncontext.as_str()))
        .find(|e| finished.contains(e.id.as_str()))
        .and_then(|e| e.data.pointer("/configurationChange/values/image"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Remediation sequences of the stage that started and have not finished.
fn open_remediations(events: &[KeptnEvent], stage: &str) -> Vec<OpenRemediation> {
    let finished: HashSet<&str> = events
        .iter()
        .filter(|e| e.event_type == EventType::sequence(stage, "remediation", Phase::Finished))
        .map(|e| e.shkeptncontext.as_str())
        .collect();
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| e.event_type == EventType::sequence(stage, "remediation", Phase::Triggered))
        .filter(|e| !finished.contains(e.shkeptncontext.as_str()))
        .filter(|e| seen.insert(e.shkeptncontext.as_str()))
        .map(|e| OpenRemediation {
            action: events
                .iter()
                .find(|a| {
                    a.shkeptncontext == e.shkeptncontext
                        && a.event_type == EventType::task("action", Phase::Triggered)
                })
                .and_then(|a| a.data.pointer("/action/action"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            event_id: e.id.to_string(),
            keptn_context: e.shkeptncontext.to_string(),
            time: e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event_type: e.type_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use keptn_sdk::event::payload::FinishedData;
    use serde_json::json;

    use super::*;

    fn delivery(image: &str, rolled_back: bool) -> Vec<KeptnEvent> {
        let triggered = KeptnEvent::builder(EventType::task("deployment", Phase::Triggered))
            .source("shipyard-controller")
            .data_json(json!({"configurationChange": {"values": {"image": image}}}))
            .build()
            .unwrap();
        let finished = triggered
            .finished("deployer", FinishedData::pass())
            .unwrap();
        let mut events = vec![finished, triggered.clone()];
        if rolled_back {
            let rollback = KeptnEvent::builder(EventType::task("rollback", Phase::Triggered))
                .source("shipyard-controller")
                .context(triggered.shkeptncontext.clone())
                .build()
                .unwrap();
            events.insert(
                0,
                rollback.finished("deployer", FinishedData::pass()).unwrap(),
            );
        }
        events
    }

    #[test]
    fn a_rolled_back_deployment_is_not_the_deployed_image() {
        let mut events = delivery("carts:slow", true);
        events.extend(delivery("carts:good", false));
        assert_eq!(deployed_image(&events), "carts:good");
        assert_eq!(deployed_image(&delivery("carts:new", false)), "carts:new");
    }
}
