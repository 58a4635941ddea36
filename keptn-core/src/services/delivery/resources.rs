//! Reading a task's configuration: the resources of the service (or of its stage) at the
//! sequence's git commit, as every execution-plane service does.

use keptn_sdk::event::KeptnEvent;
use keptn_sdk::handler::HandlerError;

use crate::configstore::{ConfigStore, ReadOptions, Resource, Scope};
use crate::deploy::{ServiceResources, ServiceScope};

/// The project, stage and service of a `.triggered` event, checked as deployers check names.
pub(crate) fn service_scope(event: &KeptnEvent) -> Result<ServiceScope, HandlerError> {
    let field = |name: &str, value: Option<&str>| {
        value
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                HandlerError::msg(format!(
                    "event {} ({}) has no data.{name}: expected the project, stage and service of the task",
                    event.id, event.event_type
                ))
            })
    };
    let project = field("project", event.project())?;
    let stage = field("stage", event.stage())?;
    let service = field("service", event.service())?;
    Ok(ServiceScope::new(project, stage, service)?)
}

/// How a task reads the configuration: at the sequence's commit when the event carries one
/// (the configuration the sequence started with), else at the branch tip.
fn read_options(event: &KeptnEvent) -> ReadOptions {
    match &event.gitcommitid {
        Some(commit) => ReadOptions::at(commit.clone()),
        None => ReadOptions::latest(),
    }
}

fn service_config_scope(scope: &ServiceScope) -> Scope {
    Scope::service(scope.project(), scope.stage(), scope.service())
}

/// One resource of the service, else of its stage (`Ok(None)` when neither has it).
pub(crate) async fn service_or_stage_resource(
    store: &dyn ConfigStore,
    event: &KeptnEvent,
    scope: &ServiceScope,
    uri: &str,
) -> Result<Option<Vec<u8>>, HandlerError> {
    let options = read_options(event);
    let service = service_config_scope(scope);
    if let Some(found) = store.get_resource(&service, uri, &options).await? {
        return Ok(Some(found.content));
    }
    let stage = Scope::stage(scope.project(), scope.stage());
    Ok(store
        .get_resource(&stage, uri, &options)
        .await?
        .map(|r| r.content))
}

/// The service resources named by `paths` (a path ending in `/` names every resource below
/// it), as a deployer reads them. Absent resources are left out.
pub(crate) async fn service_resources(
    store: &dyn ConfigStore,
    event: &KeptnEvent,
    scope: &ServiceScope,
    paths: &[String],
) -> Result<ServiceResources, HandlerError> {
    let options = read_options(event);
    let config_scope = service_config_scope(scope);
    let mut resources = ServiceResources::new();
    let mut listing: Option<Vec<String>> = None;
    for path in paths {
        if path.ends_with('/') {
            if listing.is_none() {
                listing = Some(store.list_resources(&config_scope, &options).await?);
            }
            let below = listing
                .iter()
                .flatten()
                .filter(|uri| uri.starts_with(path.as_str()));
            for uri in below {
                if let Some(found) = store.get_resource(&config_scope, uri, &options).await? {
                    resources.insert(uri.clone(), found.content);
                }
            }
        } else if let Some(found) = store.get_resource(&config_scope, path, &options).await? {
            resources.insert(path.clone(), found.content);
        }
    }
    Ok(resources)
}

/// Commits resources a deployer changed (e.g. the merged chart) to the service in its stage.
pub(crate) async fn commit_changes(
    store: &dyn ConfigStore,
    scope: &ServiceScope,
    changes: std::collections::BTreeMap<String, Vec<u8>>,
    who: &str,
) -> Result<(), HandlerError> {
    if changes.is_empty() {
        return Ok(());
    }
    let resources = changes
        .into_iter()
        .map(|(uri, content)| Resource::new(uri, content))
        .collect();
    let message = format!("Updated by {who} for {scope}");
    store
        .put_resources(&service_config_scope(scope), resources, Some(&message))
        .await?;
    Ok(())
}
