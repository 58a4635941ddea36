//! Errors of project management, with kinds the API maps to statuses.

use std::fmt;

use crate::configstore::{ConfigStoreError, ConfigStoreErrorKind};

/// What kind of failure (the API answers 400, 404, 409, 424 and 500 for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProjectErrorKind {
    /// The request is invalid: a name, the shipyard, the upstream.
    Invalid,
    /// The project, stage or service does not exist.
    NotFound,
    /// It exists already.
    AlreadyExists,
    /// A concurrent change got in the way.
    Conflict,
    /// The git upstream failed.
    Upstream,
    /// Something failed inside.
    Internal,
}

/// A failed project operation; the message names the project, stage, service or field.
#[derive(Debug)]
pub struct ProjectError {
    kind: ProjectErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ProjectError {
    /// An error of `kind`.
    pub fn new(kind: ProjectErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ProjectErrorKind::Invalid, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(ProjectErrorKind::NotFound, message)
    }

    pub(crate) fn internal(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind: ProjectErrorKind::Internal,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn from_config(err: ConfigStoreError) -> Self {
        let kind = match err.kind() {
            ConfigStoreErrorKind::NotFound => ProjectErrorKind::NotFound,
            ConfigStoreErrorKind::AlreadyExists => ProjectErrorKind::AlreadyExists,
            ConfigStoreErrorKind::InvalidInput => ProjectErrorKind::Invalid,
            ConfigStoreErrorKind::Conflict => ProjectErrorKind::Conflict,
            ConfigStoreErrorKind::Upstream => ProjectErrorKind::Upstream,
            _ => ProjectErrorKind::Internal,
        };
        let message = if kind == ProjectErrorKind::Internal {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        } else {
            err.to_string()
        };
        Self::new(kind, message)
    }

    /// The kind.
    pub fn kind(&self) -> ProjectErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ProjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProjectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}
