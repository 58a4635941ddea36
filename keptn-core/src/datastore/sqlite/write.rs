//! The write path of the SQLite store: multi-row statements inside the writer's transaction.
//!
//! Every statement is a round trip to the connection's worker thread (two thread wake-ups),
//! which costs more than the statement journal SQLite keeps for a multi-row statement: rows are
//! written in chunks, one `INSERT` per chunk of events and one upsert per chunk of roots. No
//! `RETURNING`: returned rows travel one message each; the new `seq`s are known from the
//! statement's last rowid instead.

/// Rows per statement: at most 11 parameters each, below SQLite's limit of 32766.
const CHUNK: usize = 500;

use std::collections::HashMap;

use sqlx::Sqlite;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{Executor, Row};

use super::backend;
use crate::datastore::record::EventRecord;
use crate::datastore::{InsertOutcome, Result, StoreError};

/// `OR IGNORE` rather than `ON CONFLICT (id) DO NOTHING`: the same for the one unique column,
/// and a statement that cannot abort needs no statement journal (a copy of every page it
/// touches). No other constraint can fail: every `NOT NULL` column is always bound a value.
const EVENT_COLUMNS: &str = "INSERT OR IGNORE INTO events (id, keptn_context, project, stage, service, \
    type, source, time, triggered_id, result, event) VALUES ";
const ROOT_COLUMNS: &str = "INSERT INTO roots (event_seq, keptn_context, event_id, project, \
    stage, service, type, source, time) VALUES ";
/// Keeps the earliest event of a context as its root.
const ROOT_UPSERT: &str = " ON CONFLICT (keptn_context) DO UPDATE SET \
    event_seq = excluded.event_seq, event_id = excluded.event_id, project = excluded.project, \
    stage = excluded.stage, service = excluded.service, type = excluded.type, \
    source = excluded.source, time = excluded.time WHERE excluded.time < roots.time";

/// The `INSERT` of `rows` events into `events`; bind each with [`bind_event`].
pub(crate) fn event_insert(rows: usize) -> String {
    format!("{EVENT_COLUMNS}{}", values(rows, 11))
}

/// Binds the columns of one event row of [`event_insert`].
pub(crate) fn bind_event<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    r: &'q EventRecord,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    query
        .bind(&r.id)
        .bind(&r.keptn_context)
        .bind(&r.project)
        .bind(&r.stage)
        .bind(&r.service)
        .bind(&r.event_type)
        .bind(&r.source)
        .bind(r.time)
        .bind(&r.triggered_id)
        .bind(&r.result)
        .bind(&r.json)
}

fn values(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// Inserts records (ids unique within the slice) inside the writer's transaction and keeps
/// roots, invalidations and project counts in step; returns one outcome per record.
pub(crate) async fn insert_records(
    conn: &mut SqliteConnection,
    records: &[EventRecord],
) -> Result<Vec<InsertOutcome>> {
    Ok(insert_records_seq(conn, records)
        .await?
        .into_iter()
        .map(|seq| match seq {
            Some(_) => InsertOutcome::Inserted,
            None => InsertOutcome::Duplicate,
        })
        .collect())
}

/// [`insert_records`] that returns the `seq` of each new row (`None` for a duplicate).
pub(crate) async fn insert_records_seq(
    conn: &mut SqliteConnection,
    records: &[EventRecord],
) -> Result<Vec<Option<i64>>> {
    let mut inserted: HashMap<&str, i64> = HashMap::with_capacity(records.len());
    for chunk in records.chunks(CHUNK) {
        let sql = event_insert(chunk.len());
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = bind_event(query, r);
        }
        let done = conn
            .execute(query)
            .await
            .map_err(|e| backend(&format!("insert of {} events failed", chunk.len()), e))?;
        // The writer holds the database's write lock, and SQLite gives each new row the next
        // rowid: the rows of one statement have consecutive `seq`s ending at the last one.
        let count = usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
        let last = done.last_insert_rowid();
        if count == chunk.len() {
            let first = last - chunk.len() as i64 + 1;
            for (offset, r) in chunk.iter().enumerate() {
                inserted.insert(r.id.as_str(), first + offset as i64);
            }
        } else if count > 0 {
            // Some were duplicates (a redelivery): ask which rows are new.
            let rows = conn
                .fetch_all(
                    sqlx::query("SELECT id, seq FROM events WHERE seq > ? AND seq <= ?")
                        .bind(last - count as i64)
                        .bind(last),
                )
                .await
                .map_err(|e| backend("reading inserted events failed", e))?;
            for row in rows {
                let id: &str = row.try_get(0).map_err(|e| backend("insert result", e))?;
                let seq: i64 = row.try_get(1).map_err(|e| backend("insert result", e))?;
                if let Some(r) = chunk.iter().find(|r| r.id == id) {
                    inserted.insert(r.id.as_str(), seq);
                }
            }
        }
    }
    update_roots(conn, records, &inserted).await?;
    record_invalidations(conn, records, &inserted).await?;
    count_projects(conn, records, &inserted).await?;
    Ok(records
        .iter()
        .map(|r| inserted.get(r.id.as_str()).copied())
        .collect())
}

async fn update_roots(
    conn: &mut SqliteConnection,
    records: &[EventRecord],
    inserted: &HashMap<&str, i64>,
) -> Result<()> {
    // One candidate per context: the earliest new event of the context in this call.
    let mut earliest: HashMap<&str, (&EventRecord, i64)> = HashMap::new();
    for r in records.iter().filter(|r| r.project.is_some()) {
        let Some(&seq) = inserted.get(r.id.as_str()) else {
            continue;
        };
        let slot = earliest.entry(r.keptn_context.as_str()).or_insert((r, seq));
        if r.time < slot.0.time {
            *slot = (r, seq);
        }
    }
    let candidates: Vec<(&EventRecord, i64)> = earliest.into_values().collect();
    for chunk in candidates.chunks(CHUNK) {
        let sql = format!("{ROOT_COLUMNS}{}{ROOT_UPSERT}", values(chunk.len(), 9));
        let mut query = sqlx::query(&sql);
        for (r, seq) in chunk {
            query = query
                .bind(*seq)
                .bind(&r.keptn_context)
                .bind(&r.id)
                .bind(&r.project)
                .bind(&r.stage)
                .bind(&r.service)
                .bind(&r.event_type)
                .bind(&r.source)
                .bind(r.time);
        }
        conn.execute(query)
            .await
            .map_err(|e| backend("root update failed", e))?;
    }
    Ok(())
}

/// Adds the new events of each project to `project_counts` (one row per project).
async fn count_projects(
    conn: &mut SqliteConnection,
    records: &[EventRecord],
    inserted: &HashMap<&str, i64>,
) -> Result<()> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for r in records {
        if let Some(project) = &r.project {
            if inserted.contains_key(r.id.as_str()) {
                *counts.entry(project.as_str()).or_default() += 1;
            }
        }
    }
    let counts: Vec<(&str, i64)> = counts.into_iter().collect();
    for chunk in counts.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO project_counts (project, events) VALUES {} \
             ON CONFLICT (project) DO UPDATE SET events = events + excluded.events",
            values(chunk.len(), 2)
        );
        let mut query = sqlx::query(&sql);
        for (project, count) in chunk {
            query = query.bind(*project).bind(*count);
        }
        conn.execute(query)
            .await
            .map_err(|e| backend("counting the events of a project failed", e))?;
    }
    Ok(())
}

async fn record_invalidations(
    conn: &mut SqliteConnection,
    records: &[EventRecord],
    inserted: &HashMap<&str, i64>,
) -> Result<()> {
    for r in records {
        let (Some(project), Some(target)) = (&r.project, &r.invalidates) else {
            continue;
        };
        if !inserted.contains_key(r.id.as_str()) {
            continue;
        }
        let query = sqlx::query(
            "INSERT INTO invalidated (project, triggered_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(project)
        .bind(target);
        conn.execute(query).await.map_err(|e| {
            let message = format!("recording the invalidation by event {} failed", r.id);
            StoreError::with_source(crate::db::sqlx_kind(&e), message, e)
        })?;
    }
    Ok(())
}
