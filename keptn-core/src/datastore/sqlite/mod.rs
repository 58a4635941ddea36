//! The SQLite event store: the embedded default.

use async_trait::async_trait;
use keptn_sdk::event::KeptnEvent;
use sqlx::Arguments;
use sqlx::sqlite::SqliteArguments;

mod coalesce;
pub(crate) mod write;

use super::record::EventRecord;
use super::sql::{self, Arg, Dialect, Statement, backend};
use super::{
    BatchOutcome, EventPage, EventQuery, EventStore, InsertOutcome, Result, StoreError,
    StoreErrorKind, TypeQuery, check_project_name,
};
use crate::db::{Migration, Migrations, SqliteDb};

/// The schema of the event store in SQLite.
pub static SQLITE_MIGRATIONS: Migrations = Migrations {
    component: "datastore",
    steps: &STEPS,
};

static STEPS: [Migration; 3] = [
    Migration {
        version: 1,
        description: "events, roots, invalidated",
        sql: include_str!("../../../migrations/sqlite/datastore/0001_events.sql"),
    },
    Migration {
        version: 2,
        description: "partial index over evaluation results",
        sql: include_str!("../../../migrations/sqlite/datastore/0002_evaluation_index.sql"),
    },
    Migration {
        version: 3,
        description: "event count per project",
        sql: include_str!("../../../migrations/sqlite/datastore/0003_project_counts.sql"),
    },
];

/// The schema as version 1 left it, to test the upgrade from it.
#[cfg(test)]
static FIRST_VERSION: Migrations = Migrations {
    component: "datastore",
    steps: STEPS.split_at(1).0,
};

/// An [`EventStore`] in a SQLite database shared through [`SqliteDb`]: writes go through the
/// database's group-commit writer, reads through its read pool.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use keptn_core::datastore::{EventQuery, EventStore, SqliteEventStore};
/// use keptn_core::db::SqliteDb;
///
/// let db = SqliteDb::open("/var/lib/keptn/keptn.db").await?;
/// let store = SqliteEventStore::new(db).await?;
/// let page = store.query(&EventQuery::project("sockshop")).await?;
/// println!("{} events", page.total_count);
/// # Ok(()) }
/// ```
///
/// Inserts that wait at the same time, from any number of tasks, are written together: one
/// transaction, multi-row statements (see `coalesce.rs`), so many concurrent single inserts
/// cost about what one batch costs.
#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    db: SqliteDb,
    inserts: coalesce::Inserts,
}

impl SqliteEventStore {
    /// Creates the store's tables in `db` when missing (migrations) and returns the store. Must
    /// be called within a Tokio runtime: it starts the task that groups inserts, which stops
    /// when the last clone of the store is dropped.
    pub async fn new(db: SqliteDb) -> Result<Self> {
        db.migrate(&SQLITE_MIGRATIONS).await?;
        let inserts = coalesce::start(db.clone());
        Ok(Self { db, inserts })
    }

    /// The database the store lives in.
    pub fn db(&self) -> &SqliteDb {
        &self.db
    }

    async fn write_records(&self, records: Vec<EventRecord>) -> Result<Vec<InsertOutcome>> {
        coalesce::insert(&self.inserts, records).await
    }

    async fn fetch_events(&self, statement: Statement) -> Result<Vec<KeptnEvent>> {
        let rows = sqlx::query_with(&statement.sql, arguments(statement.args)?)
            .fetch_all(self.db.read_pool())
            .await
            .map_err(|e| backend("query of events failed", e))?;
        rows.iter().map(|row| sql::event_at(row, 0)).collect()
    }
}

pub(crate) fn arguments(args: Vec<Arg>) -> Result<SqliteArguments<'static>> {
    let mut out = SqliteArguments::default();
    for arg in args {
        let added = match arg {
            Arg::Text(s) => out.add(s),
            Arg::Int(i) => out.add(i),
            Arg::TextArray(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Backend,
                    "array arguments are not supported by SQLite",
                ));
            }
        };
        added.map_err(|e| StoreError::with_source(StoreErrorKind::Backend, "binding failed", e))?;
    }
    Ok(out)
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn insert(&self, event: &KeptnEvent) -> Result<InsertOutcome> {
        sql::insert_with(event, |records| self.write_records(records)).await
    }

    async fn insert_batch(&self, events: &[KeptnEvent]) -> Result<BatchOutcome> {
        sql::insert_batch_with(events, |records| self.write_records(records)).await
    }

    async fn query(&self, query: &EventQuery) -> Result<EventPage> {
        let page = query.page()?;
        let (select, count) = sql::event_query(Dialect::Sqlite, query, page);
        let rows = sqlx::query_with(&select.sql, arguments(select.args)?)
            .fetch_all(self.db.read_pool())
            .await
            .map_err(|e| backend("query of events failed", e))?;
        let (events, total) = sql::page_rows(&rows)?;
        let total = match total {
            Some(total) => total,
            None if page.offset == 0 => 0,
            None => {
                let count: i64 = sqlx::query_scalar_with(&count.sql, arguments(count.args)?)
                    .fetch_one(self.db.read_pool())
                    .await
                    .map_err(|e| backend("count of events failed", e))?;
                u64::try_from(count).unwrap_or(0)
            }
        };
        Ok(page.into_page(events, total))
    }

    async fn query_by_type(&self, query: &TypeQuery) -> Result<Vec<KeptnEvent>> {
        let limit = query.resolved_limit()?;
        self.fetch_events(sql::type_query(Dialect::Sqlite, query, limit))
            .await
    }

    async fn delete_project(&self, project: &str) -> Result<()> {
        check_project_name(project)?;
        let project = project.to_owned();
        self.db
            .write(move |conn| {
                let project = project.clone();
                Box::pin(async move {
                    for table in ["events", "roots", "invalidated", "project_counts"] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE project = ?"))
                            .bind(&project)
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| {
                                backend(&format!("delete of project {project} failed"), e)
                            })?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await
    }
}

#[cfg(test)]
mod plans;
