//! The PostgreSQL sequence store (the distributed mode), in the shared database.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};
use sqlx::postgres::PgPool;

use super::row::{EncodedCommit, decode_event, decode_execution, decode_view, micros};
use super::schema::POSTGRES_MIGRATIONS;
use super::sql::{chunks, impl_sql_store};
use super::{
    Commit, ExecutionFilter, OutboxEntry, Page, PageRequest, SequenceStore, SequenceStoreError,
    SequenceStoreErrorKind, TriggeredFilter, ViewFilter,
};
use crate::db::PgDb;
use crate::orchestrator::core::RestoredState;
use crate::orchestrator::model::{PauseKey, SequenceExecution};
use crate::orchestrator::view::SequenceState;

/// A [`SequenceStore`] in a PostgreSQL database shared through [`PgDb`], next to the event
/// store (its tables are prefixed `seq_`). Each commit is one transaction on a connection of the
/// pool; reads use the pool too. One controller writes to a database at a time.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use keptn_core::datastore::PgEventStore;
/// use keptn_core::db::PgDb;
/// use keptn_core::orchestrator::store::{PgSequenceStore, SequenceStore};
///
/// let db = PgDb::connect("postgres://keptn@127.0.0.1:5432/keptn").await?;
/// let events = PgEventStore::new(db.clone()).await?;
/// let sequences = PgSequenceStore::new(db).await?;
/// let restored = sequences.load_active().await?;
/// println!("{} sequences to resume", restored.executions.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgSequenceStore {
    db: PgDb,
}

fn unavailable(err: sqlx::Error, what: &str) -> SequenceStoreError {
    let kind = match &err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            SequenceStoreErrorKind::Corrupt
        }
        _ => SequenceStoreErrorKind::Unavailable,
    };
    SequenceStoreError::new(kind, format!("postgres failed while {what}")).with_source(err)
}

impl PgSequenceStore {
    /// The store in `db`: applies the pending migrations of its tables (component `sequences`)
    /// and returns the store.
    pub async fn new(db: PgDb) -> Result<Self, SequenceStoreError> {
        db.migrate(&POSTGRES_MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Connects to `url` (`postgres://user@host:port/db`) with a pool of its own and builds the
    /// store. To share the database with the event store, connect a [`PgDb`] once and use
    /// [`new`](Self::new).
    pub async fn connect(url: &str) -> Result<Self, SequenceStoreError> {
        Self::new(PgDb::connect(url).await?).await
    }

    /// The database the store lives in.
    pub fn db(&self) -> &PgDb {
        &self.db
    }

    fn reader(&self) -> &PgPool {
        self.db.pool()
    }

    async fn apply(&self, commit: EncodedCommit) -> Result<(), SequenceStoreError> {
        let mut tx = self
            .db
            .pool()
            .begin()
            .await
            .map_err(|e| unavailable(e, "beginning a commit"))?;
        Self::write_commit(&mut tx, &commit)
            .await
            .map_err(|e| unavailable(e, "committing"))?;
        tx.commit().await.map_err(|e| unavailable(e, "committing"))
    }

    async fn delete_processed(&self, before: i64) -> Result<u64, SequenceStoreError> {
        let done = sqlx::query("DELETE FROM seq_processed WHERE processed_at < $1")
            .bind(before)
            .execute(self.db.pool())
            .await
            .map_err(|e| unavailable(e, "pruning processed ids"))?;
        Ok(done.rows_affected())
    }
}

impl_sql_store!(PgSequenceStore, sqlx::Postgres);
