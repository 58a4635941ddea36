//! Requests, outcomes and status of deployers.

use std::collections::BTreeMap;
use std::fmt;

use keptn_sdk::event::payload::{DeploymentInfo, DeploymentStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::DeployError;

/// Longest project, stage or service name accepted (Kubernetes label values are at most 63).
pub const MAX_NAME_LEN: usize = 63;

/// The service of a project in a stage: what a deployer deploys.
///
/// Names are checked on construction: non-empty, at most [`MAX_NAME_LEN`] characters of ASCII
/// letters, digits, `-` and `_`, not starting with `-`. That keeps them safe in file paths,
/// process arguments, Helm release names and Kubernetes namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawScope")]
pub struct ServiceScope {
    project: String,
    stage: String,
    service: String,
}

/// A scope as read, checked by [`ServiceScope::new`] before use.
#[derive(Deserialize)]
struct RawScope {
    project: String,
    stage: String,
    service: String,
}

impl TryFrom<RawScope> for ServiceScope {
    type Error = DeployError;

    fn try_from(raw: RawScope) -> Result<Self, Self::Error> {
        ServiceScope::new(raw.project, raw.stage, raw.service)
    }
}

impl ServiceScope {
    /// Checks and builds a scope.
    pub fn new(
        project: impl Into<String>,
        stage: impl Into<String>,
        service: impl Into<String>,
    ) -> Result<Self, DeployError> {
        let scope = Self {
            project: project.into(),
            stage: stage.into(),
            service: service.into(),
        };
        check_name("project", &scope.project)?;
        check_name("stage", &scope.stage)?;
        check_name("service", &scope.service)?;
        Ok(scope)
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The stage.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// The service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `<project>-<stage>`: the Kubernetes namespace of the stage, as Keptn names it.
    pub fn namespace(&self) -> String {
        format!("{}-{}", self.project, self.stage)
    }
}

impl fmt::Display for ServiceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service {} in stage {} of project {}",
            self.service, self.stage, self.project
        )
    }
}

fn check_name(field: &str, value: &str) -> Result<(), DeployError> {
    let valid = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(DeployError::invalid(format!(
            "invalid {field} name {value:?}: expected 1 to {MAX_NAME_LEN} ASCII letters, digits, '-' or '_', not starting with '-'"
        )))
    }
}

/// Configuration resources of a service, by path relative to the service's folder in the
/// configuration store (e.g. `local/deploy.yaml`, `helm/carts.tgz`).
///
/// The caller reads them (at the sequence's git commit) and hands them over; deployers never
/// read the store themselves. [`Deployer::resource_paths`](super::Deployer::resource_paths)
/// says which paths a deployer reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceResources {
    files: BTreeMap<String, Vec<u8>>,
}

impl ServiceResources {
    /// No resources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a resource.
    pub fn insert(&mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), content.into());
    }

    /// Adds a resource, builder style.
    pub fn with(mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        self.insert(path, content);
        self
    }

    /// The resource at `path`, if given.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Every resource whose path starts with `prefix`, with the prefix removed.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.files
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], v.as_slice()))
    }

    /// Whether there are no resources.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A request to deploy a version of a service (from `deployment.triggered`).
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// Which service, where.
    pub scope: ServiceScope,
    /// How to roll it out.
    pub strategy: DeploymentStrategy,
    /// The merged `configurationChange.values` (e.g. `{"image": "demo:1.0.0"}`).
    pub values: Map<String, Value>,
    /// The service's deployment configuration resources.
    pub resources: ServiceResources,
    /// URIs the triggering event already carried; used when the deployer cannot tell its own.
    pub known_uris_local: Vec<String>,
    /// Public URIs the triggering event already carried.
    pub known_uris_public: Vec<String>,
}

impl DeployRequest {
    /// A request without resources or known URIs.
    pub fn new(
        scope: ServiceScope,
        strategy: DeploymentStrategy,
        values: Map<String, Value>,
    ) -> Self {
        Self {
            scope,
            strategy,
            values,
            resources: ServiceResources::new(),
            known_uris_local: Vec::new(),
            known_uris_public: Vec::new(),
        }
    }

    /// Sets the resources.
    pub fn with_resources(mut self, resources: ServiceResources) -> Self {
        self.resources = resources;
        self
    }
}

/// What a deployment produced: the `deployment` object of `deployment.finished`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployOutcome {
    /// The strategy that was applied.
    pub strategy: DeploymentStrategy,
    /// URIs reachable from where the control plane runs.
    pub uris_local: Vec<String>,
    /// URIs reachable from outside.
    pub uris_public: Vec<String>,
    /// `direct`, `canary` or `user_managed`.
    pub deployment_names: Vec<String>,
    /// A human-readable summary (Keptn: "Successfully deployed").
    pub message: String,
    /// Resources the caller should commit to the configuration store (path relative to the
    /// service folder -> new content), e.g. the generated chart.
    pub resource_changes: BTreeMap<String, Vec<u8>>,
}

impl DeployOutcome {
    /// The `deployment` object of `deployment.finished`.
    pub fn deployment_info(&self) -> DeploymentInfo {
        DeploymentInfo {
            deployment_strategy: Some(self.strategy.clone()),
            deployment_uris_local: Some(self.uris_local.clone()),
            deployment_uris_public: Some(self.uris_public.clone()),
            deployment_names: Some(self.deployment_names.clone()),
            ..DeploymentInfo::default()
        }
    }
}

/// What a release, rollback, scaling or removal did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeOutcome {
    /// A human-readable summary.
    pub message: String,
    /// Resources the caller should commit to the configuration store.
    pub resource_changes: BTreeMap<String, Vec<u8>>,
}

impl ChangeOutcome {
    /// An outcome with a message and no resource changes.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            resource_changes: BTreeMap::new(),
        }
    }
}

/// How to change the replica count of the version that serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaChange {
    /// Add (or, negative, remove) replicas.
    Add(i64),
    /// Set the count.
    Set(u32),
}

impl ReplicaChange {
    /// Reads the `value` of a `scaling` action: a number or a numeric string (`1`, `"1"`,
    /// `"+1"`, `"-1"`) adds replicas, as Keptn's helm-service did; an object
    /// `{"replicas": N}` sets the count.
    pub fn from_action_value(value: &Value) -> Result<Self, DeployError> {
        let invalid = || {
            DeployError::invalid(format!(
                "invalid scaling value {value}: expected a whole number of replicas to add (1, \"+1\", \"-1\") or {{\"replicas\": N}}"
            ))
        };
        match value {
            Value::Number(n) => n.as_i64().map(ReplicaChange::Add).ok_or_else(invalid),
            Value::String(s) => {
                let s = s.trim();
                let digits = s.strip_prefix('+').unwrap_or(s);
                digits
                    .parse::<i64>()
                    .map(ReplicaChange::Add)
                    .map_err(|_| invalid())
            }
            Value::Object(map) => map
                .get("replicas")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .map(ReplicaChange::Set)
                .ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }

    /// The count after applying the change to `current`, or an error if it would leave fewer
    /// than one or more than `max` replicas.
    pub fn apply(self, current: u32, max: u32) -> Result<u32, DeployError> {
        let target = match self {
            ReplicaChange::Add(delta) => i64::from(current).saturating_add(delta),
            ReplicaChange::Set(n) => i64::from(n),
        };
        if target < 1 || target > i64::from(max) {
            return Err(DeployError::invalid(format!(
                "scaling from {current} replicas by {self:?} gives {target}: expected 1 to {max} replicas"
            )));
        }
        Ok(target as u32)
    }
}

/// The state of a deployed service, as the deployer knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Which service.
    pub scope: ServiceScope,
    /// The strategy of the last deployment.
    pub strategy: DeploymentStrategy,
    /// URIs reachable from where the control plane runs.
    pub uris_local: Vec<String>,
    /// URIs reachable from outside.
    pub uris_public: Vec<String>,
    /// Percentage of traffic sent to the canary (0 to 100).
    pub canary_weight: u8,
    /// The version that serves (for `direct`, the only one).
    pub primary: Option<VersionStatus>,
    /// The new version of a blue/green deployment, until released or rolled back.
    pub canary: Option<VersionStatus>,
}

/// One deployed version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionStatus {
    /// The version label (the image, or the chart version).
    pub version: String,
    /// The number of replicas asked for.
    pub replicas: u32,
    /// The running instances (empty when the deployer cannot see them, e.g. Helm).
    pub instances: Vec<InstanceStatus>,
}

/// One running instance of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// The process id, when the instance is a local process.
    pub pid: Option<u32>,
    /// Where the instance listens.
    pub url: String,
    /// Whether the instance was alive when the status was taken.
    pub alive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scope_rejects_path_like_names() {
        assert!(ServiceScope::new("p", "dev", "carts").is_ok());
        for bad in ["", "..", "a/b", "-x", "a b"] {
            let err = ServiceScope::new("p", "dev", bad).unwrap_err();
            assert!(err.message().contains("invalid service name"), "{err}");
        }
    }

    #[test]
    fn deserialized_scopes_are_checked() {
        let ok: ServiceScope =
            serde_json::from_value(json!({"project": "p", "stage": "s", "service": "c"})).unwrap();
        assert_eq!(ok.namespace(), "p-s");
        let bad = serde_json::from_value::<ServiceScope>(
            json!({"project": "p", "stage": "s", "service": "../x"}),
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("invalid service name")
        );
    }

    #[test]
    fn scaling_values_of_the_example_file_add_replicas() {
        for v in [json!(1), json!("1"), json!("+1")] {
            assert_eq!(
                ReplicaChange::from_action_value(&v).unwrap(),
                ReplicaChange::Add(1)
            );
        }
        assert_eq!(
            ReplicaChange::from_action_value(&json!("-2")).unwrap(),
            ReplicaChange::Add(-2)
        );
        assert_eq!(
            ReplicaChange::from_action_value(&json!({"replicas": 3})).unwrap(),
            ReplicaChange::Set(3)
        );
        assert!(ReplicaChange::from_action_value(&json!("many")).is_err());
        assert!(ReplicaChange::from_action_value(&json!(1.5)).is_err());
    }

    #[test]
    fn apply_keeps_between_one_and_max() {
        assert_eq!(ReplicaChange::Add(1).apply(1, 5).unwrap(), 2);
        assert!(ReplicaChange::Add(-1).apply(1, 5).is_err());
        assert!(ReplicaChange::Set(6).apply(1, 5).is_err());
    }

    #[test]
    fn resources_under_strips_the_prefix() {
        let r = ServiceResources::new()
            .with("helm/carts/Chart.yaml", "a")
            .with("helm/carts/templates/x.yaml", "b")
            .with("helm/cartsx", "c")
            .with("local/deploy.yaml", "d");
        let paths: Vec<_> = r.under("helm/carts/").map(|(p, _)| p).collect();
        assert_eq!(paths, ["Chart.yaml", "templates/x.yaml"]);
    }
}
