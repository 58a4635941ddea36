//! The error of every [`Deployer`](super::Deployer): a stable kind, a message and an optional
//! source.

use std::error::Error as StdError;
use std::fmt;

/// What kind of failure a [`DeployError`] is; callers match on it whatever the deployer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeployErrorKind {
    /// The request or a configuration resource is invalid (names the field and the value).
    InvalidInput,
    /// The deployer knows no deployment of the service.
    NotFound,
    /// The deployer does not support what was asked (a strategy, an action).
    Unsupported,
    /// A service version did not start or did not become healthy in time.
    StartFailed,
    /// An external command (e.g. `helm`) failed or could not be run.
    CommandFailed,
    /// Reading or writing the deployer's state or work files failed.
    Io,
    /// A bounded wait ran out.
    Timeout,
}

impl DeployErrorKind {
    /// A short lowercase name of the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeployErrorKind::InvalidInput => "invalid input",
            DeployErrorKind::NotFound => "not found",
            DeployErrorKind::Unsupported => "unsupported",
            DeployErrorKind::StartFailed => "start failed",
            DeployErrorKind::CommandFailed => "command failed",
            DeployErrorKind::Io => "i/o",
            DeployErrorKind::Timeout => "timeout",
        }
    }
}

impl fmt::Display for DeployErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed deployer operation.
///
/// The message says what failed with which identifier; the cause, when there is one, is the
/// [`source`](StdError::source) and is not repeated in the message.
#[derive(Debug)]
pub struct DeployError {
    kind: DeployErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl DeployError {
    /// An error of `kind` with a message.
    pub fn new(kind: DeployErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the underlying cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// An [`InvalidInput`](DeployErrorKind::InvalidInput) error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(DeployErrorKind::InvalidInput, message)
    }

    /// An [`Io`](DeployErrorKind::Io) error with its cause.
    pub fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        Self::new(DeployErrorKind::Io, message).with_source(source)
    }

    /// The kind.
    pub fn kind(&self) -> DeployErrorKind {
        self.kind
    }

    /// The message, without the source.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by every cause, separated by `: `; what a `.finished` event reports.
    pub fn report(&self) -> String {
        let mut text = self.message.clone();
        let mut cause = self.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for DeployError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_joins_the_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = DeployError::io("cannot read state file /x", io);
        assert_eq!(e.kind(), DeployErrorKind::Io);
        assert_eq!(e.to_string(), "cannot read state file /x");
        assert_eq!(e.report(), "cannot read state file /x: no such file");
    }
}
