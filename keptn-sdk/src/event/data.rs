//! The common data block of every Keptn event and its enums.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Whether the executor worked without a technical error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// The work was done.
    Succeeded,
    /// A technical error stopped the work.
    Errored,
    /// The outcome is unknown.
    Unknown,
    /// The work was aborted (sequence control).
    Aborted,
}

impl Status {
    /// All values, in the order Keptn documents them.
    pub const ALL: [Status; 4] = [
        Status::Succeeded,
        Status::Errored,
        Status::Unknown,
        Status::Aborted,
    ];

    /// The value as it appears in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Errored => "errored",
            Status::Unknown => "unknown",
            Status::Aborted => "aborted",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = EnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| EnumError {
                field: "status",
                value: s.to_owned(),
                expected: "succeeded, errored, unknown or aborted",
            })
    }
}

/// The outcome of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeptnResult {
    /// The work passed.
    Pass,
    /// The work passed with a warning; sequences go on.
    Warning,
    /// The work failed; sequences stop. Keptn 0.7 wrote `failed`, which is read as `fail`.
    #[serde(alias = "failed")]
    Fail,
}

impl KeptnResult {
    /// All values.
    pub const ALL: [KeptnResult; 3] = [KeptnResult::Pass, KeptnResult::Warning, KeptnResult::Fail];

    /// The value as it appears in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeptnResult::Pass => "pass",
            KeptnResult::Warning => "warning",
            KeptnResult::Fail => "fail",
        }
    }

    /// `pass` or `warning`: a sequence goes on.
    pub const fn is_success(self) -> bool {
        matches!(self, KeptnResult::Pass | KeptnResult::Warning)
    }
}

impl fmt::Display for KeptnResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeptnResult {
    type Err = EnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pass" => Ok(KeptnResult::Pass),
            "warning" => Ok(KeptnResult::Warning),
            "fail" | "failed" => Ok(KeptnResult::Fail),
            _ => Err(EnumError {
                field: "result",
                value: s.to_owned(),
                expected: "pass, warning or fail",
            }),
        }
    }
}

/// A value outside an enumeration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {value:?} is not one of {expected}")]
pub struct EnumError {
    /// The field.
    pub field: &'static str,
    /// The rejected value.
    pub value: String,
    /// The allowed values.
    pub expected: &'static str,
}

/// The data every Keptn event carries (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Free labels, carried through the whole sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Whether the executor worked without technical error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The outcome of the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<KeptnResult>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl EventData {
    /// Data with project, stage and service set.
    pub fn scope(
        project: impl Into<String>,
        stage: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            project: Some(project.into()),
            stage: Some(stage.into()),
            service: Some(service.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_is_read_as_fail() {
        let r: KeptnResult = serde_json::from_str("\"failed\"").unwrap();
        assert_eq!(r, KeptnResult::Fail);
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"fail\"");
    }

    #[test]
    fn unknown_status_is_an_error_naming_the_field() {
        let err = "done".parse::<Status>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "status: \"done\" is not one of succeeded, errored, unknown or aborted"
        );
    }

    #[test]
    fn empty_event_data_serializes_to_an_empty_object() {
        assert_eq!(serde_json::to_string(&EventData::default()).unwrap(), "{}");
    }
}
