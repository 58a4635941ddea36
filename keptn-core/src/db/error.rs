//! Errors of the shared database handles.

use std::path::PathBuf;
use std::sync::Arc;

use crate::datastore::StoreErrorKind;

/// An error of [`SqliteDb`](super::SqliteDb) or [`PgDb`](super::PgDb).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database file could not be opened or created.
    #[error("cannot open database {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The database server could not be reached.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed; nothing of it was applied.
    #[error("migration {component} v{version} ({description}) failed")]
    Migration {
        /// The component.
        component: &'static str,
        /// The version.
        version: u32,
        /// Its description.
        description: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// An applied migration's SQL differs from this build's.
    #[error("migration {component} v{version} was changed after it was applied (checksum differs)")]
    MigrationChanged {
        /// The component.
        component: &'static str,
        /// The version.
        version: u32,
    },
    /// The database holds a newer schema of a component than this build knows.
    #[error(
        "the schema of {component} in the database is at version {found}, newer than this build \
         knows ({known})"
    )]
    SchemaTooNew {
        /// The component.
        component: &'static str,
        /// The highest applied version.
        found: i64,
        /// The highest version this build knows.
        known: u32,
    },
    /// A migration list is not in strictly ascending version order.
    #[error("migrations of {component} are not in ascending order at version {version}")]
    MigrationOrder {
        /// The component.
        component: &'static str,
        /// The first out-of-order version.
        version: u32,
    },
    /// The writer stopped (the database was closed) before the write completed.
    #[error("the database writer stopped before the write completed")]
    Closed,
    /// Beginning or committing the writer's transaction failed; the write was not applied.
    #[error("{action} of the write transaction failed")]
    Transaction {
        /// `begin` or `commit`.
        action: &'static str,
        /// The cause, shared by every write of the group.
        #[source]
        source: Arc<sqlx::Error>,
    },
    /// Creating the database directory failed.
    #[error("cannot create directory {}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A statement failed.
    #[error("database statement failed")]
    Sqlx(#[from] sqlx::Error),
}

impl DbError {
    /// The event-store kind of this error.
    pub(crate) fn store_kind(&self) -> StoreErrorKind {
        match self {
            DbError::Open { .. }
            | DbError::Connect(_)
            | DbError::Closed
            | DbError::Directory { .. } => StoreErrorKind::Unavailable,
            DbError::MigrationChanged { .. } | DbError::SchemaTooNew { .. } => {
                StoreErrorKind::Corrupt
            }
            DbError::Migration { source, .. } | DbError::Sqlx(source) => sqlx_kind(source),
            DbError::Transaction { source, .. } => sqlx_kind(source),
            DbError::MigrationOrder { .. } => StoreErrorKind::Backend,
        }
    }
}

/// The event-store kind of a sqlx error.
pub(crate) fn sqlx_kind(err: &sqlx::Error) -> StoreErrorKind {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Backend,
    }
}
