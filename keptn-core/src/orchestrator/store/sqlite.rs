//! The SQLite sequence store (the embedded default), in the shared database.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use super::row::{EncodedCommit, decode_event, decode_execution, decode_view, micros};
use super::schema::SQLITE_MIGRATIONS;
use super::sql::{chunks, impl_sql_store};
use super::{
    Commit, ExecutionFilter, OutboxEntry, Page, PageRequest, SequenceStore, SequenceStoreError,
    SequenceStoreErrorKind, TriggeredFilter, ViewFilter,
};
use crate::db::SqliteDb;
use crate::orchestrator::core::RestoredState;
use crate::orchestrator::model::{PauseKey, SequenceExecution};
use crate::orchestrator::view::SequenceState;

/// A [`SequenceStore`] in a SQLite database shared through [`SqliteDb`], next to the event
/// store and the bus's log (its tables are prefixed `seq_`).
///
/// Commits go through the database's single writer: each is one write of the writer's group
/// commit, so it shares a transaction (and its `fsync`) with the event store's and the bus's
/// writes that arrive at the same time, and it is applied whole or not at all. Reads go through
/// the read pool and never wait for the writer. The WAL is checkpointed by the database handle,
/// off the commit path.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use keptn_core::datastore::SqliteEventStore;
/// use keptn_core::db::SqliteDb;
/// use keptn_core::orchestrator::store::{SequenceStore, SqliteSequenceStore};
///
/// let db = SqliteDb::open("/var/lib/keptn/keptn.db").await?;
/// let events = SqliteEventStore::new(db.clone()).await?;
/// let sequences = SqliteSequenceStore::new(db).await?;
/// let restored = sequences.load_active().await?;
/// println!("{} sequences to resume", restored.executions.len());
/// # Ok(()) }
/// ```
///
/// Durability: with `synchronous=NORMAL` in WAL mode a commit survives a crash of the process;
/// a power loss may lose the last commits (never corrupt the database). The controller is the
/// only writer of its tables.
#[derive(Debug, Clone)]
pub struct SqliteSequenceStore {
    db: SqliteDb,
}

fn unavailable(err: sqlx::Error, what: &str) -> SequenceStoreError {
    let kind = match &err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            SequenceStoreErrorKind::Corrupt
        }
        _ => SequenceStoreErrorKind::Unavailable,
    };
    SequenceStoreError::new(kind, format!("sqlite failed while {what}")).with_source(err)
}

impl SqliteSequenceStore {
    /// The store in `db`: applies the pending migrations of its tables (component `sequences`)
    /// and returns the store.
    pub async fn new(db: SqliteDb) -> Result<Self, SequenceStoreError> {
        db.migrate(&SQLITE_MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// Opens (creating if needed) the database file at `path` with default options and builds
    /// the store in it. To share the file with other components, open the [`SqliteDb`] once and
    /// use [`new`](Self::new).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SequenceStoreError> {
        Self::new(SqliteDb::open(path).await?).await
    }

    /// Like [`open`](Self::open), with the file named by a URL (`sqlite://path/to/file.db`, or
    /// `sqlite:file.db`); only the path is used. In-memory databases are refused: the writer
    /// and the readers use separate connections, which would each see a database of their own.
    pub async fn connect(url: &str) -> Result<Self, SequenceStoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(SequenceStoreError::new(
                SequenceStoreErrorKind::Other,
                format!(
                    "invalid sqlite url {url:?}: expected the path of a database file, not an \
                     in-memory database"
                ),
            ));
        }
        let options = SqliteConnectOptions::from_str(url).map_err(|e| {
            SequenceStoreError::new(
                SequenceStoreErrorKind::Other,
                format!("invalid sqlite url {url:?}: expected sqlite://<path>"),
            )
            .with_source(e)
        })?;
        Self::open(options.get_filename()).await
    }

    /// The database the store lives in.
    pub fn db(&self) -> &SqliteDb {
        &self.db
    }

    fn reader(&self) -> &SqlitePool {
        self.db.read_pool()
    }

    async fn apply(&self, commit: EncodedCommit) -> Result<(), SequenceStoreError> {
        // The writer may run the closure again (when another write of its group fails): it
        // only reads the encoded commit, shared between runs.
        let commit = Arc::new(commit);
        self.db
            .write(move |conn| {
                let commit = Arc::clone(&commit);
                Box::pin(async move {
                    Self::write_commit(conn, &commit)
                        .await
                        .map_err(|e| unavailable(e, "committing"))
                })
            })
            .await
    }

    async fn delete_processed(&self, before: i64) -> Result<u64, SequenceStoreError> {
        self.db
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM seq_processed WHERE processed_at < ?")
                        .bind(before)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| unavailable(e, "pruning processed ids"))?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }
}

impl_sql_store!(SqliteSequenceStore, sqlx::Sqlite);

#[cfg(test)]
mod plans {
    use super::*;
    use crate::orchestrator::model::ExecutionState;
    use crate::orchestrator::store::queue_filter;
    use crate::orchestrator::store::sql::{LOAD_ACTIVE_EXECUTIONS, LOAD_ACTIVE_VIEWS};

    /// SQLite's plan of `sql`, one line per step (parameters left unbound).
    async fn plan(store: &SqliteSequenceStore, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(store.reader())
                .await
                .unwrap();
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn restart_and_listing_queries_read_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteSequenceStore::open(dir.path().join("keptn.db"))
            .await
            .unwrap();
        let page = Some(PageRequest::default());
        let views = ViewFilter {
            state: Some(ExecutionState::Started),
            from_time: Some(Utc::now()),
            ..ViewFilter::default()
        };
        let open = TriggeredFilter {
            task: Some("deployment".into()),
            ..TriggeredFilter::default()
        };
        let queue = queue_filter("p", "dev", "svc");
        let shapes = [
            ("executions to resume", LOAD_ACTIVE_EXECUTIONS.to_owned()),
            ("views to resume", LOAD_ACTIVE_VIEWS.to_owned()),
            (
                "a page of views",
                SqliteSequenceStore::views_query("p", &views, page)
                    .sql()
                    .to_owned(),
            ),
            (
                "a queue",
                SqliteSequenceStore::executions_query(&queue, page)
                    .sql()
                    .to_owned(),
            ),
            (
                "open events of a task",
                SqliteSequenceStore::triggered_query(&open, page)
                    .sql()
                    .to_owned(),
            ),
        ];
        for (shape, sql) in shapes {
            let plan = plan(&store, &sql).await;
            for step in plan.lines() {
                assert!(
                    !step.starts_with("SCAN") || step.contains("USING"),
                    "{shape} scans a table:\n{plan}"
                );
            }
            if shape == "a page of views" {
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{shape} is sorted outside the index:\n{plan}"
                );
            }
        }
        store.db().close().await;
    }
}
