//! The repository layout both backends share: where a scope's resources live, which files the
//! store manages itself, the `metadata.yaml` contents and the commit messages.

use std::collections::HashSet;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use super::error::{ConfigStoreError, Result};
use super::names::{
    validate_project_name, validate_service_name, validate_stage_name, validate_uri,
};
use super::types::{Resource, Scope, ScopeLevel};

/// The metadata file of a project (at the root of every branch) and of a service (in its folder).
pub const METADATA_FILE: &str = "metadata.yaml";
/// The shipyard file at the root of the default branch.
pub const SHIPYARD_FILE: &str = "shipyard.yaml";

#[derive(Serialize)]
struct ProjectMetadata<'a> {
    #[serde(rename = "ProjectName")]
    project_name: &'a str,
    #[serde(rename = "CreationTimestamp")]
    creation_timestamp: String,
    #[serde(rename = "isUsingDirectoryStructure")]
    is_using_directory_structure: bool,
}

#[derive(Serialize)]
struct ServiceMetadata<'a> {
    #[serde(rename = "ServiceName")]
    service_name: &'a str,
    #[serde(rename = "CreationTimestamp")]
    creation_timestamp: String,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn to_yaml(value: &impl Serialize, what: &str) -> Result<Vec<u8>> {
    serde_norway::to_string(value)
        .map(String::into_bytes)
        .map_err(|e| {
            ConfigStoreError::with_source(
                super::ConfigStoreErrorKind::Backend,
                format!("encoding the metadata.yaml of {what} failed"),
                e,
            )
        })
}

/// The `metadata.yaml` of a new project (`ProjectName`, `CreationTimestamp`,
/// `isUsingDirectoryStructure: false`: this store uses the branch-per-stage model).
pub fn project_metadata(project: &str) -> Result<Vec<u8>> {
    to_yaml(
        &ProjectMetadata {
            project_name: project,
            creation_timestamp: now(),
            is_using_directory_structure: false,
        },
        &format!("project '{project}'"),
    )
}

/// The `metadata.yaml` of a new service (`ServiceName`, `CreationTimestamp`).
pub fn service_metadata(service: &str) -> Result<Vec<u8>> {
    to_yaml(
        &ServiceMetadata {
            service_name: service,
            creation_timestamp: now(),
        },
        &format!("service '{service}'"),
    )
}

/// Checks the names in a scope.
pub fn validate_scope(scope: &Scope) -> Result<()> {
    validate_project_name(&scope.project)?;
    if let Some(stage) = &scope.stage {
        validate_stage_name(stage)?;
    }
    if let Some(service) = &scope.service {
        validate_service_name(service)?;
    }
    Ok(())
}

/// The path in the branch of a URI in a scope: `<service>/<uri>` for service scopes, `<uri>`
/// otherwise.
pub fn branch_path(scope: &Scope, uri: &str) -> String {
    match &scope.service {
        Some(service) => format!("{service}/{uri}"),
        None => uri.to_owned(),
    }
}

/// Checks a URI for a write or a delete in `scope`: valid, and not a file the store manages
/// (the `metadata.yaml` of the project or of the service).
pub fn validate_writable_uri(scope: &Scope, uri: &str) -> Result<()> {
    validate_uri(uri)?;
    if uri == METADATA_FILE {
        let owner = match scope.level() {
            ScopeLevel::Project | ScopeLevel::Stage { .. } => "project",
            ScopeLevel::Service { .. } | ScopeLevel::ServiceDefault { .. } => "service",
        };
        return Err(ConfigStoreError::invalid(format!(
            "resource uri '{uri}' in {scope} is the {owner}'s metadata file, which the \
             configuration store manages itself"
        )));
    }
    let branch_level = matches!(
        scope.level(),
        ScopeLevel::Project | ScopeLevel::Stage { .. }
    );
    if let Some((folder, METADATA_FILE)) = uri.split_once('/') {
        if branch_level {
            return Err(ConfigStoreError::invalid(format!(
                "resource uri '{uri}' in {scope} would be the metadata file of a service \
                 '{folder}'; services are created with their own metadata"
            )));
        }
    }
    Ok(())
}

/// Checks a batch of resources to write: at least one, valid and writable URIs, each URI once.
pub fn validate_resources(scope: &Scope, resources: &[Resource]) -> Result<()> {
    validate_scope(scope)?;
    if resources.is_empty() {
        return Err(ConfigStoreError::invalid(format!(
            "no resources given to write to {scope}"
        )));
    }
    let mut seen = HashSet::new();
    for resource in resources {
        validate_writable_uri(scope, &resource.uri)?;
        if !seen.insert(resource.uri.as_str()) {
            return Err(ConfigStoreError::invalid(format!(
                "resource uri '{}' is given twice in one write to {scope}",
                resource.uri
            )));
        }
    }
    Ok(())
}

/// The error for reads and listings of service defaults.
pub fn service_default_read_error(scope: &Scope) -> ConfigStoreError {
    ConfigStoreError::invalid(format!(
        "{scope} can be written and deleted but not read; read the service in a stage"
    ))
}

/// The error for a stage-scope URI that points into a service folder.
pub fn stage_uri_in_service_error(scope: &Scope, uri: &str, service: &str) -> ConfigStoreError {
    ConfigStoreError::invalid(format!(
        "resource uri '{uri}' in {scope} points into the folder of service '{service}', \
         use the service scope instead"
    ))
}

/// The error for a URI whose path collides with a file or folder of another resource.
pub fn path_collision_error(scope: &Scope, uri: &str, other: &str) -> ConfigStoreError {
    ConfigStoreError::invalid(format!(
        "resource uri '{uri}' in {scope} collides with existing path '{other}' (a path cannot be \
         both a file and a folder)"
    ))
}

/// Where a commit lands, for commit messages: `project sockshop`, `stage dev`, `service carts in
/// stage dev`.
#[cfg_attr(not(feature = "git"), allow(dead_code))]
/// `stage` is the stage a service-default write lands in; other scopes name their own.
pub fn commit_target(scope: &Scope, stage: Option<&str>) -> String {
    match scope.level() {
        ScopeLevel::Project => format!("project {}", scope.project),
        ScopeLevel::Stage { stage } => format!("stage {stage}"),
        ScopeLevel::Service { stage, service } => format!("service {service} in stage {stage}"),
        ScopeLevel::ServiceDefault { service } => match stage {
            Some(stage) => format!("service {service} in stage {stage}"),
            None => format!("every stage of service {service}"),
        },
    }
}

/// A meaningful commit message for a write: "Added resource slo.yaml to service carts in stage
/// staging", or a summary line and one line per resource for several.
#[cfg_attr(not(feature = "git"), allow(dead_code))]
pub fn write_message(target: &str, added: &[&str], updated: &[&str]) -> String {
    match (added, updated) {
        ([uri], []) => format!("Added resource {uri} to {target}"),
        ([], [uri]) => format!("Updated resource {uri} in {target}"),
        _ => {
            let mut message = match (added.len(), updated.len()) {
                (a, 0) => format!("Added {a} resources to {target}"),
                (0, u) => format!("Updated {u} resources in {target}"),
                (a, u) => format!("Added {a} and updated {u} resources in {target}"),
            };
            message.push('\n');
            for uri in added {
                message.push_str(&format!("\nadded: {uri}"));
            }
            for uri in updated {
                message.push_str(&format!("\nupdated: {uri}"));
            }
            message
        }
    }
}

/// The commit message of a delete.
#[cfg_attr(not(feature = "git"), allow(dead_code))]
pub fn delete_message(target: &str, uri: &str) -> String {
    format!("Deleted resource {uri} from {target}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configstore::ConfigStoreErrorKind;

    #[test]
    fn metadata_files_name_their_owner() {
        let value: serde_norway::Value =
            serde_norway::from_slice(&project_metadata("no").unwrap()).unwrap();
        assert_eq!(value["ProjectName"].as_str(), Some("no"));
        assert!(value["CreationTimestamp"].as_str().is_some());
        assert_eq!(value["isUsingDirectoryStructure"].as_bool(), Some(false));
        let text = String::from_utf8(service_metadata("carts").unwrap()).unwrap();
        assert!(text.starts_with("ServiceName: carts\n"), "{text}");
    }

    #[test]
    fn managed_files_cannot_be_written() {
        let scope = Scope::service("p", "dev", "carts");
        let err = validate_writable_uri(&scope, "metadata.yaml").unwrap_err();
        assert_eq!(err.kind(), ConfigStoreErrorKind::InvalidInput);
        assert!(err.message().contains("service's metadata file"), "{err}");
        validate_writable_uri(&scope, "helm/metadata.yaml").unwrap();
        let err =
            validate_writable_uri(&Scope::stage("p", "dev"), "helm/metadata.yaml").unwrap_err();
        assert!(
            err.message().contains("metadata file of a service"),
            "{err}"
        );
        validate_writable_uri(&Scope::stage("p", "dev"), "a/b/metadata.yaml").unwrap();
        validate_writable_uri(&Scope::project("p"), "shipyard.yaml").unwrap();
    }

    #[test]
    fn a_batch_names_each_uri_once() {
        let scope = Scope::stage("p", "dev");
        let twice = [Resource::new("a.yaml", "1"), Resource::new("a.yaml", "2")];
        let err = validate_resources(&scope, &twice).unwrap_err();
        assert!(err.message().contains("given twice"), "{err}");
        assert!(validate_resources(&scope, &[]).is_err());
    }

    #[test]
    fn commit_messages_say_what_changed_where() {
        let scope = Scope::service("sockshop", "staging", "carts");
        let target = commit_target(&scope, None);
        assert_eq!(
            write_message(&target, &["slo.yaml"], &[]),
            "Added resource slo.yaml to service carts in stage staging"
        );
        assert_eq!(
            write_message(
                &commit_target(&Scope::project("sockshop"), None),
                &[],
                &["shipyard.yaml"]
            ),
            "Updated resource shipyard.yaml in project sockshop"
        );
        let several = write_message("stage dev", &["a", "b"], &["c"]);
        assert!(several.starts_with("Added 2 and updated 1 resources in stage dev\n\nadded: a"));
        let defaults = Scope::service_default("sockshop", "carts");
        assert_eq!(
            commit_target(&defaults, Some("prod")),
            "service carts in stage prod"
        );
    }
}
