//! The error of every [`EventStore`](super::EventStore) backend: a stable kind and a cause.

use std::error::Error as StdError;
use std::fmt;

/// What went wrong, independent of the backend. Callers match on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The query is malformed: a bad filter term, page size or page key, or a query that names
    /// neither a project nor a Keptn context. The message names the offending parameter.
    InvalidQuery,
    /// The event cannot be stored as it is (an empty id, a time out of range). Nothing of the
    /// call was written.
    InvalidEvent,
    /// The backend cannot be reached or was closed; the call may succeed when retried.
    Unavailable,
    /// Stored data cannot be read back (a row that is not a Keptn event, a changed migration).
    Corrupt,
    /// Any other failure of the backend.
    Backend,
}

impl StoreErrorKind {
    /// A short lowercase name of the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreErrorKind::InvalidQuery => "invalid query",
            StoreErrorKind::InvalidEvent => "invalid event",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Corrupt => "corrupt data",
            StoreErrorKind::Backend => "backend error",
        }
    }
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of an event store: a [`StoreErrorKind`], a message saying what failed with which
/// identifier, and the backend's error as the source when there is one.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl StoreError {
    /// An error without a source.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`.
    pub fn with_source(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An [`StoreErrorKind::InvalidQuery`] error.
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::InvalidQuery, message)
    }

    /// An [`StoreErrorKind::InvalidEvent`] error.
    pub fn invalid_event(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::InvalidEvent, message)
    }

    /// A [`StoreErrorKind::Corrupt`] error.
    pub fn corrupt(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self::with_source(StoreErrorKind::Corrupt, message, source)
    }

    /// The kind.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The message, without the kind and the source.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<crate::db::DbError> for StoreError {
    fn from(err: crate::db::DbError) -> Self {
        let kind = err.store_kind();
        StoreError::with_source(kind, "database operation failed", err)
    }
}
