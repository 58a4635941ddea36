//! The PostgreSQL event store: the SQLite schema with JSONB, batch inserts through `UNNEST`.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use keptn_sdk::event::KeptnEvent;
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::{Arguments, Row};

use super::record::EventRecord;
use super::sql::{self, Arg, Dialect, Statement, backend};
use super::{
    BatchOutcome, EventPage, EventQuery, EventStore, InsertOutcome, Result, StoreError,
    StoreErrorKind, TypeQuery, check_project_name,
};
use crate::db::{Migration, Migrations, PgDb};

/// The schema of the event store in PostgreSQL.
pub static POSTGRES_MIGRATIONS: Migrations = Migrations {
    component: "datastore",
    steps: &[Migration {
        version: 1,
        description: "events, roots, invalidated",
        sql: include_str!("../../migrations/postgres/datastore/0001_events.sql"),
    }],
};

/// An [`EventStore`] in a PostgreSQL database shared through [`PgDb`].
///
/// Inserts of one call are one transaction; concurrent inserts of the same event from several
/// processes are safe (the unique index on the id decides, `ON CONFLICT DO NOTHING`).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use keptn_core::datastore::{EventQuery, EventStore, PgEventStore};
/// use keptn_core::db::PgDb;
///
/// let db = PgDb::connect("postgres://keptn@127.0.0.1:5432/keptn").await?;
/// let store = PgEventStore::new(db).await?;
/// let page = store.query(&EventQuery::project("sockshop")).await?;
/// println!("{} events", page.total_count);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgEventStore {
    db: PgDb,
}

impl PgEventStore {
    /// Creates the store's tables in `db` when missing (migrations) and returns the store.
    pub async fn new(db: PgDb) -> Result<Self> {
        db.migrate(&POSTGRES_MIGRATIONS).await?;
        Ok(Self { db })
    }

    /// The database the store lives in.
    pub fn db(&self) -> &PgDb {
        &self.db
    }

    async fn write_records(&self, mut records: Vec<EventRecord>) -> Result<Vec<InsertOutcome>> {
        // The caller's order is restored below; inserting in id order keeps two concurrent
        // batches with common ids from deadlocking on the unique index.
        let order: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        let mut tx = self
            .db
            .pool()
            .begin()
            .await
            .map_err(|e| backend("begin of an insert transaction failed", e))?;
        let inserted = insert_events(&mut tx, &records).await?;
        update_roots(&mut tx, &records, &inserted).await?;
        record_invalidations(&mut tx, &records, &inserted).await?;
        tx.commit()
            .await
            .map_err(|e| backend("commit of inserted events failed", e))?;
        Ok(order
            .iter()
            .map(|id| {
                if inserted.contains_key(id) {
                    InsertOutcome::Inserted
                } else {
                    InsertOutcome::Duplicate
                }
            })
            .collect())
    }

    async fn fetch_events(&self, statement: Statement) -> Result<Vec<KeptnEvent>> {
        let rows = sqlx::query_with(&statement.sql, arguments(statement.args)?)
            .fetch_all(self.db.pool())
            .await
            .map_err(|e| backend("query of events failed", e))?;
        rows.iter().map(|row| sql::event_at(row, 0)).collect()
    }
}

/// Inserts the records; returns the id -> seq of those that were new.
async fn insert_events(
    conn: &mut PgConnection,
    records: &[EventRecord],
) -> Result<HashMap<String, i64>> {
    let col = |f: fn(&EventRecord) -> Option<String>| records.iter().map(f).collect::<Vec<_>>();
    let rows = sqlx::query(
        "INSERT INTO events (id, keptn_context, project, stage, service, type, source, time, \
         triggered_id, result, event) \
         SELECT id, keptn_context, project, stage, service, type, source, time, triggered_id, \
         result, event::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
         $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[]) \
         AS t(id, keptn_context, project, stage, service, type, source, time, triggered_id, \
         result, event) \
         ON CONFLICT (id) DO NOTHING RETURNING id, seq",
    )
    .bind(records.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
    .bind(
        records
            .iter()
            .map(|r| r.keptn_context.clone())
            .collect::<Vec<_>>(),
    )
    .bind(col(|r| r.project.clone()))
    .bind(col(|r| r.stage.clone()))
    .bind(col(|r| r.service.clone()))
    .bind(
        records
            .iter()
            .map(|r| r.event_type.clone())
            .collect::<Vec<_>>(),
    )
    .bind(records.iter().map(|r| r.source.clone()).collect::<Vec<_>>())
    .bind(records.iter().map(|r| r.time).collect::<Vec<_>>())
    .bind(col(|r| r.triggered_id.clone()))
    .bind(col(|r| r.result.clone()))
    .bind(records.iter().map(|r| r.json.clone()).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| backend("insert of events failed", e))?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0).map_err(|e| backend("insert result", e))?;
            let seq: i64 = row.try_get(1).map_err(|e| backend("insert result", e))?;
            Ok((id, seq))
        })
        .collect()
}

/// Makes each new event the root of its context when it is earlier than the current root.
async fn update_roots(
    conn: &mut PgConnection,
    records: &[EventRecord],
    inserted: &HashMap<String, i64>,
) -> Result<()> {
    // One candidate per context: an upsert may not touch the same row twice in one statement.
    let mut earliest: HashMap<&str, &EventRecord> = HashMap::new();
    for r in records.iter().filter(|r| r.project.is_some()) {
        if !inserted.contains_key(&r.id) {
            continue;
        }
        let slot = earliest.entry(r.keptn_context.as_str()).or_insert(r);
        if r.time < slot.time {
            *slot = r;
        }
    }
    if earliest.is_empty() {
        return Ok(());
    }
    let mut roots: Vec<&EventRecord> = earliest.into_values().collect();
    roots.sort_by(|a, b| a.keptn_context.cmp(&b.keptn_context));
    sqlx::query(
        "INSERT INTO roots (keptn_context, event_seq, event_id, project, stage, service, type, \
         source, time) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::bigint[]) \
         ON CONFLICT (keptn_context) DO UPDATE SET event_seq = excluded.event_seq, \
         event_id = excluded.event_id, project = excluded.project, stage = excluded.stage, \
         service = excluded.service, type = excluded.type, source = excluded.source, \
         time = excluded.time WHERE excluded.time < roots.time",
    )
    .bind(
        roots
            .iter()
            .map(|r| r.keptn_context.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        roots
            .iter()
            .map(|r| inserted.get(&r.id).copied().unwrap_or_default())
            .collect::<Vec<_>>(),
    )
    .bind(roots.iter().map(|r| r.id.clone()).collect::<Vec<_>>())
    .bind(roots.iter().map(|r| r.project.clone()).collect::<Vec<_>>())
    .bind(roots.iter().map(|r| r.stage.clone()).collect::<Vec<_>>())
    .bind(roots.iter().map(|r| r.service.clone()).collect::<Vec<_>>())
    .bind(
        roots
            .iter()
            .map(|r| r.event_type.clone())
            .collect::<Vec<_>>(),
    )
    .bind(roots.iter().map(|r| r.source.clone()).collect::<Vec<_>>())
    .bind(roots.iter().map(|r| r.time).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(|e| backend("root update failed", e))?;
    Ok(())
}

async fn record_invalidations(
    conn: &mut PgConnection,
    records: &[EventRecord],
    inserted: &HashMap<String, i64>,
) -> Result<()> {
    let pairs: HashSet<(String, String)> = records
        .iter()
        .filter(|r| inserted.contains_key(&r.id))
        .filter_map(|r| Some((r.project.clone()?, r.invalidates.clone()?)))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    let (projects, targets): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
    sqlx::query(
        "INSERT INTO invalidated (project, triggered_id) \
         SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(projects)
    .bind(targets)
    .execute(&mut *conn)
    .await
    .map_err(|e| backend("recording an invalidation failed", e))?;
    Ok(())
}

fn arguments(args: Vec<Arg>) -> Result<PgArguments> {
    let mut out = PgArguments::default();
    for arg in args {
        let added = match arg {
            Arg::Text(s) => out.add(s),
            Arg::Int(i) => out.add(i),
            Arg::TextArray(v) => out.add(v),
        };
        added.map_err(|e| StoreError::with_source(StoreErrorKind::Backend, "binding failed", e))?;
    }
    Ok(out)
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn insert(&self, event: &KeptnEvent) -> Result<InsertOutcome> {
        sql::insert_with(event, |records| self.write_records(records)).await
    }

    async fn insert_batch(&self, events: &[KeptnEvent]) -> Result<BatchOutcome> {
        sql::insert_batch_with(events, |records| self.write_records(records)).await
    }

    async fn query(&self, query: &EventQuery) -> Result<EventPage> {
        let page = query.page()?;
        let (select, count) = sql::event_query(Dialect::Postgres, query, page);
        let rows = sqlx::query_with(&select.sql, arguments(select.args)?)
            .fetch_all(self.db.pool())
            .await
            .map_err(|e| backend("query of events failed", e))?;
        let (events, total) = sql::page_rows(&rows)?;
        let total = match total {
            Some(total) => total,
            None if page.offset == 0 => 0,
            None => {
                let count: i64 = sqlx::query_scalar_with(&count.sql, arguments(count.args)?)
                    .fetch_one(self.db.pool())
                    .await
                    .map_err(|e| backend("count of events failed", e))?;
                u64::try_from(count).unwrap_or(0)
            }
        };
        Ok(page.into_page(events, total))
    }

    async fn query_by_type(&self, query: &TypeQuery) -> Result<Vec<KeptnEvent>> {
        let limit = query.resolved_limit()?;
        self.fetch_events(sql::type_query(Dialect::Postgres, query, limit))
            .await
    }

    async fn delete_project(&self, project: &str) -> Result<()> {
        check_project_name(project)?;
        let failed = |e| backend(&format!("delete of project {project} failed"), e);
        let mut tx = self.db.pool().begin().await.map_err(failed)?;
        for table in ["events", "roots", "invalidated"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE project = $1"))
                .bind(project)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)?;
        Ok(())
    }
}
