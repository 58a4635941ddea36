//! The error of every transport: a stable kind plus the backend's error as source.

use std::fmt;

/// What kind of transport operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Connecting to (or reaching) the broker or peer failed.
    Connect,
    /// The event could not be published or was not confirmed.
    Publish,
    /// The subscription could not be created.
    Subscribe,
    /// An acknowledgement could not be sent.
    Ack,
    /// The event could not be encoded.
    Encode,
    /// The peer rejected the event as invalid.
    Rejected,
    /// The transport was shut down.
    Closed,
    /// The configuration is invalid.
    Config,
    /// A failure injected by a test double.
    Injected,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Publish => "publish",
            TransportErrorKind::Subscribe => "subscribe",
            TransportErrorKind::Ack => "ack",
            TransportErrorKind::Encode => "encode",
            TransportErrorKind::Rejected => "rejected",
            TransportErrorKind::Closed => "closed",
            TransportErrorKind::Config => "config",
            TransportErrorKind::Injected => "injected",
        })
    }
}

/// A transport failure: match on [`TransportError::kind`]; the backend's error is the source.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TransportError {
    /// An error of `kind` with a message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with a message and the underlying cause.
    pub fn with_source(
        kind: TransportErrorKind,
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
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The message (without the source).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.kind, self.message)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}
