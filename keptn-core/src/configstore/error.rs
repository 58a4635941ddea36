//! The error of every configuration store: a stable kind plus an optional cause.

use std::fmt;

/// What kind of configuration-store operation failed.
///
/// Callers match on the kind, never on the message; every backend maps its failures to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigStoreErrorKind {
    /// The project, stage, service or commit does not exist.
    NotFound,
    /// The project, stage or service exists already.
    AlreadyExists,
    /// A name, resource URI, commit id, upstream URL or content was rejected before anything was
    /// written.
    InvalidInput,
    /// The write lost a race: the upstream kept changing the branch while the store tried to push.
    /// Nothing was written.
    Conflict,
    /// The upstream repository could not be reached, refused the credentials or rejected the
    /// push. The local repository is left as it was before the operation (the HTTP edge answers
    /// 424 Failed Dependency).
    Upstream,
    /// The backend failed (I/O, corrupted repository, a worker task that did not finish).
    Backend,
}

impl fmt::Display for ConfigStoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigStoreErrorKind::NotFound => "not found",
            ConfigStoreErrorKind::AlreadyExists => "already exists",
            ConfigStoreErrorKind::InvalidInput => "invalid input",
            ConfigStoreErrorKind::Conflict => "conflict",
            ConfigStoreErrorKind::Upstream => "upstream",
            ConfigStoreErrorKind::Backend => "backend",
        })
    }
}

/// A configuration-store failure: match on [`ConfigStoreError::kind`].
///
/// The message names what failed with its identifiers (project, stage, service, resource URI,
/// upstream URL); for upstream failures it also carries git's own message, so the text alone is
/// enough to troubleshoot. Lower-level causes, when there are any, are available as
/// [`std::error::Error::source`] and are not repeated in the message.
#[derive(Debug)]
pub struct ConfigStoreError {
    kind: ConfigStoreErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The result of configuration-store operations.
pub type Result<T, E = ConfigStoreError> = std::result::Result<T, E>;

impl ConfigStoreError {
    /// An error of `kind` with a message.
    pub fn new(kind: ConfigStoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with a message and the underlying cause.
    pub fn with_source(
        kind: ConfigStoreErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ConfigStoreErrorKind {
        self.kind
    }

    /// The message (without the source).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(ConfigStoreErrorKind::NotFound, message)
    }

    pub(crate) fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ConfigStoreErrorKind::AlreadyExists, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ConfigStoreErrorKind::InvalidInput, message)
    }

    pub(crate) fn project_not_found(project: &str) -> Self {
        Self::not_found(format!("project '{project}' not found"))
    }

    pub(crate) fn stage_not_found(project: &str, stage: &str) -> Self {
        Self::not_found(format!("stage '{stage}' not found in project '{project}'"))
    }

    pub(crate) fn service_not_found(project: &str, stage: &str, service: &str) -> Self {
        Self::not_found(format!(
            "service '{service}' not found in stage '{stage}' of project '{project}'"
        ))
    }

    pub(crate) fn commit_not_found(project: &str, commit: &str) -> Self {
        Self::not_found(format!(
            "commit '{commit}' not found in project '{project}'"
        ))
    }
}

impl fmt::Display for ConfigStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message_and_the_cause_is_the_source() {
        let io = std::io::Error::other("disk full");
        let err = ConfigStoreError::with_source(
            ConfigStoreErrorKind::Backend,
            "writing project 'sockshop' failed",
            io,
        );
        assert_eq!(err.to_string(), "writing project 'sockshop' failed");
        assert_eq!(err.kind(), ConfigStoreErrorKind::Backend);
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk full"));
    }
}
