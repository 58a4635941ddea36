//! Which SLI provider a project uses: `keptn configure monitoring <provider> --project <p>`.
//!
//! Keptn kept the provider in a Kubernetes config map `lighthouse-config-<project>` (key
//! `sli-provider`). Here it is a project resource in the configuration store, versioned with
//! the rest of the project's configuration and visible with the other files:
//!
//! ```yaml
//! # lighthouse-config.yaml, on the project's default branch
//! sli-provider: prometheus
//! ```
//!
//! The lighthouse writes it on `sh.keptn.event.monitoring.configure` (what `keptn configure
//! monitoring` sends through `POST /api/v1/event`; data `{type, project, service}`) and on
//! `sh.keptn.event.configure-monitoring.triggered` (data `configureMonitoring.type`, answered
//! with `.started` and `.finished`). Writing the file with `keptn add-resource` works too. A
//! project without the file has no provider: its evaluations finish `pass` with Keptn's message
//! "no evaluation performed by lighthouse because no SLI-provider configured for project X".

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::payload::{ConfigureMonitoringTriggered, FinishedData, MonitoringConfigure};
use keptn_sdk::event::{EventType, KeptnEvent, LOG_ERROR_EVENT_TYPE};
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome};
use keptn_sdk::transport::{Delivery, Transport};
use serde_norway::{Mapping, Value};

use crate::configstore::{ConfigStore, ConfigStoreError, ConfigStoreErrorKind, Resource, Scope};

use super::config::read_at_commit;

/// The project resource that names the project's SLI provider.
pub const LIGHTHOUSE_CONFIG_FILE: &str = "lighthouse-config.yaml";

/// The key of the provider in [`LIGHTHOUSE_CONFIG_FILE`] (Keptn's config map key).
pub const SLI_PROVIDER_KEY: &str = "sli-provider";

/// Why the provider of a project could not be read or set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitoringError {
    /// The configuration store failed.
    #[error("reading or writing {LIGHTHOUSE_CONFIG_FILE} of project {project} failed")]
    Store {
        /// The project.
        project: String,
        /// The store's error.
        #[source]
        source: ConfigStoreError,
    },
    /// The file is not what it should be.
    #[error("{LIGHTHOUSE_CONFIG_FILE} of project {project}: {problem}")]
    Invalid {
        /// The project.
        project: String,
        /// What is wrong.
        problem: String,
    },
    /// The provider name is not usable.
    #[error("type: {value:?} is not an SLI provider name: {expected}")]
    ProviderName {
        /// The rejected value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// No project was named.
    #[error("project: missing; expected the project whose SLI provider to set")]
    NoProject,
}

fn parse(project: &str, bytes: &[u8]) -> Result<Mapping, MonitoringError> {
    let invalid = |problem: String| MonitoringError::Invalid {
        project: project.to_owned(),
        problem,
    };
    match serde_norway::from_slice::<Value>(bytes) {
        Ok(Value::Mapping(map)) => Ok(map),
        Ok(Value::Null) => Ok(Mapping::new()),
        Ok(_) => Err(invalid(format!(
            "expected a mapping such as `{SLI_PROVIDER_KEY}: prometheus`"
        ))),
        Err(e) => Err(invalid(format!("not valid YAML: {e}"))),
    }
}

/// The SLI provider of `project`, `None` when none is configured.
pub async fn sli_provider(
    store: &dyn ConfigStore,
    project: &str,
) -> Result<Option<String>, MonitoringError> {
    let stored = read_at_commit(
        store,
        &Scope::project(project),
        LIGHTHOUSE_CONFIG_FILE,
        None,
    )
    .await
    .map_err(|source| MonitoringError::Store {
        project: project.to_owned(),
        source,
    })?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    let map = parse(project, &stored.content)?;
    match map.get(SLI_PROVIDER_KEY) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(MonitoringError::Invalid {
            project: project.to_owned(),
            problem: format!("{SLI_PROVIDER_KEY}: expected a provider name such as prometheus"),
        }),
    }
}

fn check_provider(provider: &str) -> Result<(), MonitoringError> {
    const EXPECTED: &str =
        "expected 1 to 100 letters, digits, '-', '_' or '.', e.g. prometheus or builtin";
    let ok = !provider.is_empty()
        && provider.len() <= 100
        && provider
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(MonitoringError::ProviderName {
            value: provider.to_owned(),
            expected: EXPECTED,
        })
    }
}

/// Sets the SLI provider of `project` (one commit; other keys of the file are kept).
pub async fn configure_sli_provider(
    store: &dyn ConfigStore,
    project: &str,
    provider: &str,
) -> Result<(), MonitoringError> {
    if project.is_empty() {
        return Err(MonitoringError::NoProject);
    }
    check_provider(provider)?;
    let store_err = |source| MonitoringError::Store {
        project: project.to_owned(),
        source,
    };
    let scope = Scope::project(project);
    let mut map = match read_at_commit(store, &scope, LIGHTHOUSE_CONFIG_FILE, None)
        .await
        .map_err(store_err)?
    {
        Some(stored) => parse(project, &stored.content)?,
        None => Mapping::new(),
    };
    map.insert(
        Value::String(SLI_PROVIDER_KEY.to_owned()),
        Value::String(provider.to_owned()),
    );
    let text = serde_norway::to_string(&map).map_err(|e| MonitoringError::Invalid {
        project: project.to_owned(),
        problem: format!("cannot be written: {e}"),
    })?;
    let message = format!("Configured SLI provider {provider} for project {project}");
    store
        .put_resources(
            &scope,
            vec![Resource::new(LIGHTHOUSE_CONFIG_FILE, text)],
            Some(&message),
        )
        .await
        .map_err(store_err)?;
    Ok(())
}

/// The `configure-monitoring` task: sets the provider of the event's project.
#[derive(Clone)]
pub(crate) struct ConfigureMonitoringHandler {
    pub(crate) store: Arc<dyn ConfigStore>,
}

impl std::fmt::Debug for ConfigureMonitoringHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigureMonitoringHandler")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TaskHandler for ConfigureMonitoringHandler {
    type Data = ConfigureMonitoringTriggered;

    fn task(&self) -> &str {
        "configure-monitoring"
    }

    async fn handle(
        &self,
        _ctx: TaskContext,
        data: ConfigureMonitoringTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let project = data.base.project.unwrap_or_default();
        let provider = data
            .configure_monitoring
            .and_then(|c| c.kind)
            .unwrap_or_default();
        configure_sli_provider(&*self.store, &project, &provider).await?;
        Ok(FinishedData::pass()
            .with_message(format!(
                "SLI provider of project {project} set to {provider}"
            ))
            .into())
    }
}

impl MonitoringError {
    /// Whether trying again may succeed (the store was busy or could not reach its upstream).
    fn is_transient(&self) -> bool {
        matches!(self, MonitoringError::Store { source, .. } if matches!(
            source.kind(),
            ConfigStoreErrorKind::Conflict | ConfigStoreErrorKind::Upstream | ConfigStoreErrorKind::Backend
        ))
    }
}

/// How often a legacy request that failed for a transient reason is tried.
const MAX_ATTEMPTS: u32 = 5;

/// Handles one legacy `sh.keptn.event.monitoring.configure` delivery. A request that cannot be
/// applied is reported as a `sh.keptn.log.error` event (the legacy event has no `.finished`);
/// one that failed for a transient reason is tried again a few times first.
pub(crate) async fn on_monitoring_configure(
    store: &dyn ConfigStore,
    transport: &dyn Transport,
    delivery: Delivery,
) {
    let event = delivery.event().clone();
    let outcome = match event.data_as::<MonitoringConfigure>() {
        Ok(data) => match configure_sli_provider(store, &data.project, &data.kind).await {
            Ok(()) => Ok((data.project, data.kind)),
            Err(e) if e.is_transient() && delivery.attempt() < MAX_ATTEMPTS => {
                tracing::info!(event_id = %event.id, error = %e, "configuring monitoring: trying again");
                let delay = std::time::Duration::from_secs(u64::from(delivery.attempt()));
                if let Err(e) = delivery.nack(Some(delay)).await {
                    tracing::warn!(error = %e, "nacking monitoring.configure failed");
                }
                return;
            }
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(format!(
            "the data cannot be read as monitoring.configure: {e}"
        )),
    };
    match outcome {
        Ok((project, provider)) => {
            tracing::info!(%project, %provider, "SLI provider configured");
        }
        Err(message) => {
            tracing::warn!(event_id = %event.id, %message, "configuring monitoring failed");
            if let Some(error) = log_error(&event, &message) {
                if let Err(e) = transport.publish(&error).await {
                    tracing::warn!(error = %e, "publishing sh.keptn.log.error failed");
                }
            }
        }
    }
    if let Err(e) = delivery.ack().await {
        tracing::warn!(error = %e, "acknowledging monitoring.configure failed");
    }
}

fn log_error(event: &KeptnEvent, message: &str) -> Option<KeptnEvent> {
    let mut data = serde_json::Map::new();
    if let Some(project) = event.project() {
        data.insert("project".into(), project.into());
    }
    data.insert("message".into(), message.into());
    data.insert("task".into(), "monitoring.configure".into());
    data.insert("integrationid".into(), super::LIGHTHOUSE_SOURCE.into());
    KeptnEvent::builder(EventType::parse(LOG_ERROR_EVENT_TYPE))
        .source(super::LIGHTHOUSE_SOURCE)
        .context(event.shkeptncontext.clone())
        .data_json(serde_json::Value::Object(data))
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configstore::{MemoryConfigStore, ProjectSetup};

    #[tokio::test]
    async fn the_provider_is_a_project_resource_that_keeps_other_keys() {
        let store = MemoryConfigStore::new();
        store
            .create_project("sockshop", ProjectSetup::default())
            .await
            .unwrap();
        assert_eq!(sli_provider(&store, "sockshop").await.unwrap(), None);
        store
            .put_resources(
                &Scope::project("sockshop"),
                vec![Resource::new(LIGHTHOUSE_CONFIG_FILE, "note: kept\n")],
                None,
            )
            .await
            .unwrap();
        configure_sli_provider(&store, "sockshop", "prometheus")
            .await
            .unwrap();
        assert_eq!(
            sli_provider(&store, "sockshop").await.unwrap().as_deref(),
            Some("prometheus")
        );
        configure_sli_provider(&store, "sockshop", "builtin")
            .await
            .unwrap();
        assert_eq!(
            sli_provider(&store, "sockshop").await.unwrap().as_deref(),
            Some("builtin")
        );
        let stored = store
            .get_resource(
                &Scope::project("sockshop"),
                LIGHTHOUSE_CONFIG_FILE,
                &crate::configstore::ReadOptions::latest(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&stored.content).contains("note: kept"));
    }

    #[tokio::test]
    async fn bad_requests_name_what_is_wrong() {
        let store = MemoryConfigStore::new();
        store
            .create_project("p", ProjectSetup::default())
            .await
            .unwrap();
        let err = configure_sli_provider(&store, "p", "").await.unwrap_err();
        assert!(err.to_string().starts_with("type: \"\""), "{err}");
        let err = configure_sli_provider(&store, "p", "a b")
            .await
            .unwrap_err();
        assert!(matches!(err, MonitoringError::ProviderName { .. }));
        let err = configure_sli_provider(&store, "", "x").await.unwrap_err();
        assert!(matches!(err, MonitoringError::NoProject));
        let err = configure_sli_provider(&store, "missing", "x")
            .await
            .unwrap_err();
        assert!(matches!(err, MonitoringError::Store { .. }), "{err}");
        store
            .put_resources(
                &Scope::project("p"),
                vec![Resource::new(LIGHTHOUSE_CONFIG_FILE, "sli-provider: [1]\n")],
                None,
            )
            .await
            .unwrap();
        let err = sli_provider(&store, "p").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "lighthouse-config.yaml of project p: sli-provider: expected a provider name such as prometheus"
        );
    }
}
