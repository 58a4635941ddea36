//! `remediation.yaml`: the 0.1.4 spec format (`kind: Remediation`) and the 0.1.3 list form.

use serde::Deserialize;
use serde_json::Value;

/// Path of the file, relative to the service folder.
pub const REMEDIATION_PATH: &str = "remediation.yaml";

/// The `apiVersion` of the spec format.
pub const REMEDIATION_API_VERSION: &str = "spec.keptn.sh/0.1.4";

/// The problem type that matches every problem.
pub const DEFAULT_PROBLEM_TYPE: &str = "default";

/// Which format a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemediationFormat {
    /// Keptn 0.6: `remediations: [{name, actions: [{action, value}]}]`; a remediation's
    /// `name` matches problem titles that start with it.
    V013,
    /// Keptn 0.7 and later: `apiVersion: spec.keptn.sh/0.1.4`, `kind: Remediation`,
    /// `spec.remediations[].problemType` and `actionsOnOpen`; matched exactly.
    V014,
}

/// A parsed `remediation.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemediationFile {
    /// The format it was written in.
    pub format: RemediationFormat,
    /// `metadata.name`, if any.
    pub name: Option<String>,
    /// The remediations, in file order.
    pub remediations: Vec<Remediation>,
}

/// The actions for one problem type.
#[derive(Debug, Clone, PartialEq)]
pub struct Remediation {
    /// The problem type (0.1.4 `problemType`, 0.1.3 `name`).
    pub problem_type: String,
    /// The actions, tried one after the other as the remediation escalates.
    pub actions: Vec<RemediationAction>,
}

/// One action.
#[derive(Debug, Clone, PartialEq)]
pub struct RemediationAction {
    /// Display name (0.1.3 files have none: the action id is used).
    pub name: String,
    /// The action id an action provider handles (e.g. `scaling`).
    pub action: String,
    /// Description.
    pub description: String,
    /// The parameter, kept as written: a string, a number or an object.
    pub value: Value,
}

/// Why a file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemediationFileError {
    /// Not YAML of the expected shape.
    #[error("could not parse remediation.yaml")]
    Yaml(#[source] serde_norway::Error),
    /// An `apiVersion` other than 0.1.4 (Keptn's message).
    #[error(
        "remediation.yaml file does not conform to remediation spec {REMEDIATION_API_VERSION} (apiVersion is {0:?})"
    )]
    ApiVersion(String),
    /// A `kind` other than `Remediation`.
    #[error("invalid kind {0:?} in remediation.yaml: expected Remediation")]
    Kind(String),
    /// Neither format.
    #[error(
        "remediation.yaml has neither apiVersion {REMEDIATION_API_VERSION} with spec.remediations nor a 0.1.3 remediations list"
    )]
    UnknownFormat,
    /// A required field is empty.
    #[error("invalid remediation.yaml: {field} is empty")]
    Empty {
        /// Where.
        field: String,
    },
}

#[derive(Debug, Deserialize)]
struct SpecFile {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    spec: Option<Spec>,
    #[serde(default)]
    remediations: Option<Vec<V013Remediation>>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Spec {
    #[serde(default)]
    remediations: Vec<V014Remediation>,
}

#[derive(Debug, Deserialize)]
struct V014Remediation {
    #[serde(rename = "problemType")]
    problem_type: String,
    #[serde(rename = "actionsOnOpen", default)]
    actions_on_open: Vec<V014Action>,
}

#[derive(Debug, Deserialize)]
struct V014Action {
    #[serde(default)]
    name: String,
    action: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
struct V013Remediation {
    name: String,
    #[serde(default)]
    actions: Vec<V013Action>,
}

#[derive(Debug, Deserialize)]
struct V013Action {
    action: String,
    #[serde(default)]
    value: Value,
}

impl RemediationFile {
    /// Reads a file in either format.
    pub fn parse(bytes: &[u8]) -> Result<Self, RemediationFileError> {
        let file: SpecFile = serde_norway::from_slice(bytes).map_err(RemediationFileError::Yaml)?;
        let name = file.metadata.and_then(|m| m.name);
        if let Some(api_version) = file.api_version {
            if api_version != REMEDIATION_API_VERSION {
                return Err(RemediationFileError::ApiVersion(api_version));
            }
            if let Some(kind) = file.kind.filter(|k| k != "Remediation") {
                return Err(RemediationFileError::Kind(kind));
            }
            let spec = file.spec.ok_or(RemediationFileError::UnknownFormat)?;
            let remediations = spec
                .remediations
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    if r.problem_type.trim().is_empty() {
                        return Err(RemediationFileError::Empty {
                            field: format!("spec.remediations[{i}].problemType"),
                        });
                    }
                    let actions = r
                        .actions_on_open
                        .into_iter()
                        .enumerate()
                        .map(|(j, a)| {
                            if a.action.trim().is_empty() {
                                return Err(RemediationFileError::Empty {
                                    field: format!(
                                        "spec.remediations[{i}].actionsOnOpen[{j}].action"
                                    ),
                                });
                            }
                            Ok(RemediationAction {
                                name: a.name,
                                action: a.action,
                                description: a.description,
                                value: a.value,
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(Remediation {
                        problem_type: r.problem_type,
                        actions,
                    })
                })
                .collect::<Result<_, _>>()?;
            return Ok(Self {
                format: RemediationFormat::V014,
                name,
                remediations,
            });
        }
        let list = file
            .remediations
            .ok_or(RemediationFileError::UnknownFormat)?;
        let remediations = list
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                if r.name.trim().is_empty() {
                    return Err(RemediationFileError::Empty {
                        field: format!("remediations[{i}].name"),
                    });
                }
                let actions = r
                    .actions
                    .into_iter()
                    .map(|a| RemediationAction {
                        name: a.action.clone(),
                        action: a.action,
                        description: String::new(),
                        value: a.value,
                    })
                    .collect();
                Ok(Remediation {
                    problem_type: r.name,
                    actions,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            format: RemediationFormat::V013,
            name,
            remediations,
        })
    }
}
