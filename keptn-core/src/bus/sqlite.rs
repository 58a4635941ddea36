//! The bus's log in SQLite, in the shared database (feature `sqlite`).
//!
//! Tables: `bus_log` (the events, with an `AUTOINCREMENT` sequence so numbers are never reused,
//! unique on the event id), `bus_consumers` (each durable consumer's cursor) and `bus_acks`
//! (acknowledged events above a cursor). Appends and position updates go through the database's
//! single writer, so they are committed in groups.
//!
//! The log keeps an event until every durable consumer has passed it and it is older than the
//! retention time (one hour by default); [`SqliteEventLog::prune`] deletes the rest and the bus
//! calls it periodically. The event store keeps the history; the log only carries events between
//! components.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::KeptnEvent;
use sqlx::Row;

use super::log::{ConsumerPosition, EventLog, LogError};
use crate::db::{DbError, Migration, Migrations, SqliteDb};

static BUS_MIGRATIONS: Migrations = Migrations {
    component: "bus",
    steps: &[Migration {
        version: 1,
        description: "event log and consumer positions",
        sql: "CREATE TABLE bus_log (
                  seq INTEGER PRIMARY KEY AUTOINCREMENT,
                  id TEXT NOT NULL UNIQUE,
                  appended_at INTEGER NOT NULL,
                  event TEXT NOT NULL
              );
              CREATE TABLE bus_consumers (
                  name TEXT PRIMARY KEY,
                  cursor INTEGER NOT NULL
              ) WITHOUT ROWID;
              CREATE TABLE bus_acks (
                  name TEXT NOT NULL,
                  seq INTEGER NOT NULL,
                  PRIMARY KEY (name, seq)
              ) WITHOUT ROWID;",
    }],
};

/// Rows per INSERT statement (three parameters each, well under SQLite's limit).
const APPEND_CHUNK: usize = 200;

/// The bus's log in a [`SqliteDb`]: tables `bus_log`, `bus_consumers` and `bus_acks`,
/// written through the database's single writer.
#[derive(Debug, Clone)]
pub struct SqliteEventLog {
    db: SqliteDb,
}

fn log_err(operation: &'static str) -> impl FnOnce(DbError) -> LogError {
    move |e| LogError::new(operation, e)
}

fn sql_err(operation: &'static str) -> impl FnOnce(sqlx::Error) -> LogError {
    move |e| LogError::new(operation, e)
}

impl SqliteEventLog {
    /// The log in `db` (its tables are created when missing).
    pub async fn new(db: SqliteDb) -> Result<Self, LogError> {
        db.migrate(&BUS_MIGRATIONS)
            .await
            .map_err(log_err("migration"))?;
        Ok(Self { db })
    }

    /// Deletes events that every durable consumer has passed and that are older than
    /// `retention`. Returns how many were deleted.
    pub async fn prune(&self, retention: std::time::Duration) -> Result<u64, LogError> {
        let cutoff = chrono::Utc::now().timestamp_millis()
            - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        self.db
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM bus_log WHERE appended_at < ?1 AND seq <= \
                         (SELECT COALESCE(MIN(cursor), 0) FROM bus_consumers)",
                    )
                    .bind(cutoff)
                    .execute(&mut *conn)
                    .await
                    .map_err(sql_err("prune"))?;
                    Ok::<_, LogError>(done.rows_affected())
                })
            })
            .await
    }
}

impl From<DbError> for LogError {
    fn from(e: DbError) -> Self {
        LogError::new("database", e)
    }
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn append(&self, events: &[KeptnEvent]) -> Result<Vec<Option<u64>>, LogError> {
        let rows: Arc<Vec<(String, String)>> = Arc::new(
            events
                .iter()
                .map(|e| {
                    (
                        e.id.to_string(),
                        String::from_utf8(e.to_json()).unwrap_or_default(),
                    )
                })
                .collect(),
        );
        let now = chrono::Utc::now().timestamp_millis();
        // The writer may run the closure again when another write of its group fails, so it
        // only reads what it captured.
        self.db
            .write(move |conn| {
                let rows = Arc::clone(&rows);
                Box::pin(async move {
                    let mut seqs: HashMap<String, u64> = HashMap::with_capacity(rows.len());
                    for chunk in rows.chunks(APPEND_CHUNK) {
                        let mut sql =
                            String::from("INSERT INTO bus_log (id, appended_at, event) VALUES ");
                        for i in 0..chunk.len() {
                            if i > 0 {
                                sql.push(',');
                            }
                            sql.push_str("(?, ?, ?)");
                        }
                        sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id, seq");
                        let mut query = sqlx::query(&sql);
                        for (id, json) in chunk {
                            query = query.bind(id).bind(now).bind(json);
                        }
                        for row in query
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(sql_err("append"))?
                        {
                            seqs.insert(row.get::<String, _>(0), row.get::<i64, _>(1) as u64);
                        }
                    }
                    // An id twice in one batch: its first occurrence was appended, the others
                    // are duplicates.
                    let mut out = Vec::with_capacity(rows.len());
                    for (id, _) in rows.iter() {
                        out.push(seqs.remove(id));
                    }
                    Ok::<_, LogError>(out)
                })
            })
            .await
    }

    async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, KeptnEvent)>, LogError> {
        let rows =
            sqlx::query("SELECT seq, event FROM bus_log WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .bind(after as i64)
                .bind(limit as i64)
                .fetch_all(self.db.read_pool())
                .await
                .map_err(sql_err("read"))?;
        rows.into_iter()
            .map(|row| {
                let seq: i64 = row.get(0);
                let json: String = row.get(1);
                let event = KeptnEvent::from_json(json.as_bytes())
                    .map_err(|e| LogError::new("decoding a logged event", e))?;
                Ok((seq as u64, event))
            })
            .collect()
    }

    async fn last_seq(&self) -> Result<u64, LogError> {
        // sqlite_sequence remembers the highest number ever given, even after pruning.
        let row = sqlx::query("SELECT seq FROM sqlite_sequence WHERE name = 'bus_log'")
            .fetch_optional(self.db.read_pool())
            .await
            .map_err(sql_err("last sequence"))?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64).unwrap_or(0))
    }

    async fn load_consumer(&self, name: &str) -> Result<Option<ConsumerPosition>, LogError> {
        let pool = self.db.read_pool();
        let cursor = sqlx::query("SELECT cursor FROM bus_consumers WHERE name = ?1")
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(sql_err("load consumer"))?;
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let cursor = cursor.get::<i64, _>(0) as u64;
        let acked = sqlx::query("SELECT seq FROM bus_acks WHERE name = ?1 AND seq > ?2")
            .bind(name)
            .bind(cursor as i64)
            .fetch_all(pool)
            .await
            .map_err(sql_err("load consumer"))?
            .into_iter()
            .map(|r| r.get::<i64, _>(0) as u64)
            .collect();
        Ok(Some(ConsumerPosition { cursor, acked }))
    }

    async fn save_consumer(
        &self,
        name: &str,
        cursor: u64,
        newly_acked: &[u64],
    ) -> Result<(), LogError> {
        let name: Arc<str> = name.into();
        let acked: Arc<Vec<u64>> = Arc::new(
            newly_acked
                .iter()
                .copied()
                .filter(|s| *s > cursor)
                .collect(),
        );
        self.db
            .write(move |conn| {
                let (name, acked) = (Arc::clone(&name), Arc::clone(&acked));
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO bus_consumers (name, cursor) VALUES (?1, ?2) \
                         ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                    )
                    .bind(&*name)
                    .bind(cursor as i64)
                    .execute(&mut *conn)
                    .await
                    .map_err(sql_err("save consumer"))?;
                    for seq in acked.iter() {
                        sqlx::query(
                            "INSERT INTO bus_acks (name, seq) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                        )
                        .bind(&*name)
                        .bind(*seq as i64)
                        .execute(&mut *conn)
                        .await
                        .map_err(sql_err("save consumer"))?;
                    }
                    sqlx::query("DELETE FROM bus_acks WHERE name = ?1 AND seq <= ?2")
                        .bind(&*name)
                        .bind(cursor as i64)
                        .execute(&mut *conn)
                        .await
                        .map_err(sql_err("save consumer"))?;
                    Ok::<_, LogError>(())
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::bus::{DurableBus, DurableBusConfig};
    use futures::StreamExt;
    use keptn_sdk::event::{EventData, EventType, Phase};
    use keptn_sdk::transport::{SubjectPattern, SubscribeOptions, Transport};

    fn event(n: usize) -> KeptnEvent {
        KeptnEvent::builder(EventType::task("test", Phase::Triggered))
            .source("t")
            .data(&EventData::scope("p", "s", format!("svc{n}")))
            .unwrap()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn the_bus_on_sqlite_resumes_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.db");
        let events: Vec<KeptnEvent> = (0..3).map(event).collect();
        {
            let db = SqliteDb::open(&path).await.unwrap();
            let log = Arc::new(SqliteEventLog::new(db.clone()).await.unwrap());
            let bus = DurableBus::open(log, DurableBusConfig::default())
                .await
                .unwrap();
            let mut sub = bus
                .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()).queue_group("c"))
                .await
                .unwrap();
            for e in &events {
                bus.publish(e).await.unwrap();
            }
            bus.publish(&events[0]).await.unwrap();
            let first = sub.next().await.unwrap().unwrap();
            assert_eq!(first.event().id, events[0].id);
            first.ack().await.unwrap();
            bus.shutdown().await;
            db.close().await;
        }
        let db = SqliteDb::open(&path).await.unwrap();
        let log = Arc::new(SqliteEventLog::new(db.clone()).await.unwrap());
        assert_eq!(
            log.read_after(0, 100).await.unwrap().len(),
            3,
            "the duplicate was not appended"
        );
        let last = log.last_seq().await.unwrap();
        let bus = DurableBus::open(log.clone(), DurableBusConfig::default())
            .await
            .unwrap();
        let mut sub = bus
            .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()).queue_group("c"))
            .await
            .unwrap();
        for e in &events[1..] {
            let d = sub.next().await.unwrap().unwrap();
            assert_eq!(d.event().id, e.id);
            d.ack().await.unwrap();
        }
        assert_eq!(log.prune(std::time::Duration::ZERO).await.unwrap(), 3);
        assert_eq!(
            log.last_seq().await.unwrap(),
            last,
            "numbers are not reused"
        );
        let again = log.append(&[event(9)]).await.unwrap();
        assert!(again[0].unwrap() > last);
        bus.shutdown().await;
        db.close().await;
    }
}
