//! The SQLite sequence store (the embedded default).

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::row::{ExecutionRow, decode_event, decode_execution, decode_view, encode_view, micros};
use super::schema::SQLITE_SCHEMA;
use super::sql::{chunks, impl_sql_store};
use super::{
    Commit, ExecutionFilter, OutboxEntry, Page, PageRequest, SequenceStore, SequenceStoreError,
    SequenceStoreErrorKind, TriggeredFilter, ViewFilter,
};
use crate::orchestrator::core::RestoredState;
use crate::orchestrator::model::{PauseKey, SequenceExecution};
use crate::orchestrator::view::SequenceState;

/// SQLite checkpoints the WAL on commit once it holds this many pages; the controller's
/// [`maintain`](SequenceStore::maintain) calls checkpoint much earlier, off the commit path, so
/// this is only a safety net (about 40 MB).
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";

/// Page cache per connection, in KiB (negative: a size, not a page count): large enough that a
/// group commit of a few hundred executions does not spill.
const CACHE_SIZE: &str = "-16384";

/// A [`SequenceStore`] in a SQLite database (WAL journal, `synchronous=NORMAL`). The tables are
/// prefixed `seq_` so the database can be shared with the event store.
///
/// Durability: with `synchronous=NORMAL` in WAL mode a commit survives a crash of the process;
/// a power loss may lose the last commits (never corrupt the database). The controller is the
/// only writer; readers (the API) never block it.
#[derive(Debug, Clone)]
pub struct SqliteSequenceStore {
    pool: SqlitePool,
}

fn unavailable(err: sqlx::Error, what: &str) -> SequenceStoreError {
    SequenceStoreError::new(
        SequenceStoreErrorKind::Unavailable,
        format!("sqlite failed while {what}: {err}"),
    )
    .with_source(err)
}

impl SqliteSequenceStore {
    /// Opens (creating if needed) the database file at `path` and creates the tables.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SequenceStoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .pragma("cache_size", CACHE_SIZE);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| unavailable(e, &format!("opening {}", path.as_ref().display())))?;
        Self::from_pool(pool).await
    }

    /// Opens a database by URL (`sqlite://path/to/file.db`), creating it if needed.
    pub async fn connect(url: &str) -> Result<Self, SequenceStoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| unavailable(e, &format!("parsing the url {url}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .pragma("cache_size", CACHE_SIZE);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| unavailable(e, &format!("opening {url}")))?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool (for example the one the event store uses) and creates the tables.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, SequenceStoreError> {
        for statement in SQLITE_SCHEMA {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(|e| unavailable(e, "creating the sequence tables"))?;
        }
        Ok(Self { pool })
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl SqliteSequenceStore {
    /// A passive WAL checkpoint: copies committed pages into the database file without waiting
    /// for (or blocking) the writer.
    async fn checkpoint(&self) -> Result<(), SequenceStoreError> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await
            .map_err(|e| unavailable(e, "checkpointing the WAL"))?;
        Ok(())
    }
}

impl_sql_store!(SqliteSequenceStore, sqlx::Sqlite, maintain = checkpoint);
