//! Errors of shipyard parsing and validation.

use std::fmt;

/// One problem found in a shipyard, located by its path (`spec.stages[1].sequences[0].name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where the problem is, as a dotted path with indexes; empty for the document as a whole.
    pub path: String,
    /// What is wrong, with the offending value.
    pub message: String,
}

impl Issue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a shipyard was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShipyardError {
    /// The text is not YAML.
    #[error("invalid shipyard YAML at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The text is YAML but not a valid shipyard. Holds every problem found, in document order.
    #[error("invalid shipyard: {}", join(.0))]
    Invalid(Vec<Issue>),
    /// A project update adds, removes or renames stages, which Keptn does not allow.
    #[error("unallowed addition/removal of project stages: {}", describe_stage_change(.added, .removed))]
    StagesChanged {
        /// Stages in the new shipyard that the current one does not have.
        added: Vec<String>,
        /// Stages of the current shipyard that the new one lacks.
        removed: Vec<String>,
    },
}

impl ShipyardError {
    /// The problems of an [`ShipyardError::Invalid`] error (empty for the other kinds).
    pub fn issues(&self) -> &[Issue] {
        match self {
            ShipyardError::Invalid(issues) => issues,
            _ => &[],
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ShipyardError::Invalid(vec![Issue::new(path, message)])
    }
}

fn join(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(Issue::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_stage_change(added: &[String], removed: &[String]) -> String {
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("stages {} would be added", added.join(", ")));
    }
    if !removed.is_empty() {
        parts.push(format!("stages {} would be removed", removed.join(", ")));
    }
    if parts.is_empty() {
        parts.push("the stages differ".to_owned());
    }
    format!(
        "{}; stages cannot be added, removed or renamed once a project exists",
        parts.join(" and ")
    )
}
