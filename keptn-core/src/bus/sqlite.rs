//! The bus's log in SQLite, in the shared database (feature `sqlite`).
//!
//! Tables: `bus_log` (the self-contained log: each event, with an `AUTOINCREMENT` sequence so
//! numbers are never reused, unique on the event id), `bus_refs` (the write-through log of the
//! embedded control plane: only sequence numbers and ids, the events themselves are rows of the
//! event store's `events` table written in the same transaction), `bus_consumers` (each durable
//! consumer's cursor) and `bus_acks` (acknowledged events above a cursor). Appends and position
//! updates go through the database's single writer, so they are committed in groups.
//!
//! The log keeps an entry until every durable consumer has passed it and it is older than the
//! retention time (one hour by default); [`SqliteEventLog::prune`] deletes the rest and the bus
//! calls it periodically. The event store keeps the history; the log only carries events between
//! components.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::KeptnEvent;
use sqlx::Row;

use super::log::{ConsumerPosition, EventLog, LogError};
use crate::datastore::DATASTORE_QUEUE_GROUP;
use crate::datastore::record::{EventRecord, batch_records};
use crate::datastore::sqlite::write::insert_records_seq;
use crate::db::{DbError, Migration, Migrations, SqliteDb};

static BUS_MIGRATIONS: Migrations = Migrations {
    component: "bus",
    steps: &[
        Migration {
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
        },
        // `event_seq` is the `seq` of the event's row in the event store: sequential and
        // without an index of its own, so an entry costs an append, and reading joins by rowid.
        Migration {
            version: 2,
            description: "log entries that refer to the event store",
            sql: "CREATE TABLE bus_refs (
                  seq INTEGER PRIMARY KEY AUTOINCREMENT,
                  event_seq INTEGER NOT NULL,
                  appended_at INTEGER NOT NULL
              );",
        },
    ],
};

/// Rows per INSERT statement (three parameters each, well under SQLite's limit).
const APPEND_CHUNK: usize = 200;

/// The bus's log in a [`SqliteDb`]: tables `bus_log` (or `bus_refs`), `bus_consumers` and
/// `bus_acks`, written through the database's single writer.
#[derive(Debug, Clone)]
pub struct SqliteEventLog {
    db: SqliteDb,
    write_through: bool,
}

fn log_err(operation: &'static str) -> impl FnOnce(DbError) -> LogError {
    move |e| LogError::new(operation, e)
}

fn sql_err(operation: &'static str) -> impl FnOnce(sqlx::Error) -> LogError {
    move |e| LogError::new(operation, e)
}

impl SqliteEventLog {
    /// The log in `db` (its tables are created when missing): the log keeps its own copy of
    /// each event.
    pub async fn new(db: SqliteDb) -> Result<Self, LogError> {
        db.migrate(&BUS_MIGRATIONS)
            .await
            .map_err(log_err("migration"))?;
        Ok(Self {
            db,
            write_through: false,
        })
    }

    /// The log of the embedded control plane: appending stores the events in `store` (the
    /// event store, in the same database) in the same transaction, and the log keeps only
    /// their sequence numbers. An accepted event is then written once, and no datastore
    /// consumer is needed; events of a deleted project disappear from the log with it.
    ///
    /// Events that an earlier version left in the self-contained log are still delivered, and
    /// the datastore consumer such a version ran is dropped (it would hold back pruning).
    pub async fn write_through(
        store: &crate::datastore::SqliteEventStore,
    ) -> Result<Self, LogError> {
        let db = store.db().clone();
        db.migrate(&BUS_MIGRATIONS)
            .await
            .map_err(log_err("migration"))?;
        db.write(|conn| {
            Box::pin(async move {
                for sql in [
                    "DELETE FROM bus_consumers WHERE name = ?1",
                    "DELETE FROM bus_acks WHERE name = ?1",
                ] {
                    sqlx::query(sql)
                        .bind(DATASTORE_QUEUE_GROUP)
                        .execute(&mut *conn)
                        .await
                        .map_err(sql_err("dropping the datastore consumer"))?;
                }
                // Numbers continue above those the self-contained log gave, so stored consumer
                // cursors stay valid.
                let numbers = |table: &'static str| {
                    sqlx::query_scalar::<_, i64>("SELECT seq FROM sqlite_sequence WHERE name = ?1")
                        .bind(table)
                };
                let given = numbers("bus_log")
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(sql_err("numbering"))?
                    .unwrap_or(0);
                let refs = numbers("bus_refs")
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(sql_err("numbering"))?;
                let sql = match refs {
                    Some(refs) if refs >= given => None,
                    Some(_) => Some("UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'bus_refs'"),
                    None if given > 0 => {
                        Some("INSERT INTO sqlite_sequence (name, seq) VALUES ('bus_refs', ?1)")
                    }
                    None => None,
                };
                if let Some(sql) = sql {
                    sqlx::query(sql)
                        .bind(given)
                        .execute(&mut *conn)
                        .await
                        .map_err(sql_err("numbering"))?;
                }
                Ok::<_, LogError>(())
            })
        })
        .await?;
        Ok(Self {
            db,
            write_through: true,
        })
    }

    /// Deletes events that every durable consumer has passed and that are older than
    /// `retention`. Returns how many were deleted.
    pub async fn prune(&self, retention: std::time::Duration) -> Result<u64, LogError> {
        let cutoff = chrono::Utc::now().timestamp_millis()
            - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        self.db
            .write(move |conn| {
                Box::pin(async move {
                    let mut deleted = 0;
                    for table in ["bus_log", "bus_refs"] {
                        let done = sqlx::query(&format!(
                            "DELETE FROM {table} WHERE appended_at < ?1 AND seq <= \
                             (SELECT COALESCE(MIN(cursor), 0) FROM bus_consumers)"
                        ))
                        .bind(cutoff)
                        .execute(&mut *conn)
                        .await
                        .map_err(sql_err("prune"))?;
                        deleted += done.rows_affected();
                    }
                    Ok::<_, LogError>(deleted)
                })
            })
            .await
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Runs `head VALUES row, row, ...` with one `row` of placeholders per item of `chunk`, bound
/// by `bind`; returns how many rows were inserted and the last rowid.
async fn insert_chunk<T>(
    conn: &mut sqlx::SqliteConnection,
    head: &str,
    row: &str,
    chunk: &[T],
    bind: impl for<'q> Fn(SqliteQuery<'q>, &'q T) -> SqliteQuery<'q>,
) -> Result<(usize, i64), LogError> {
    let sql = format!("{head} VALUES {}", vec![row; chunk.len()].join(", "));
    let query = chunk.iter().fold(sqlx::query(&sql), &bind);
    let done = sqlx::Executor::execute(&mut *conn, query)
        .await
        .map_err(sql_err("append"))?;
    let count = usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
    Ok((count, done.last_insert_rowid()))
}

/// Appends `(id, event)` rows to `bus_log` in multi-row statements, and returns the sequence
/// numbers of the rows that were new.
///
/// No `RETURNING` (each returned row costs a message from SQLite's connection thread): under the
/// single writer, the rows of one statement get consecutive numbers ending at its last rowid;
/// only when some were duplicates are the new ones read back.
async fn append_rows(
    conn: &mut sqlx::SqliteConnection,
    rows: &[(String, String)],
    now: i64,
) -> Result<HashMap<String, u64>, LogError> {
    let mut seqs = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(APPEND_CHUNK) {
        let (count, last) = insert_chunk(
            conn,
            "INSERT OR IGNORE INTO bus_log (id, appended_at, event)",
            "(?, ?, ?)",
            chunk,
            |query, (id, event)| query.bind(id).bind(now).bind(event),
        )
        .await?;
        if count == chunk.len() {
            let first = last - chunk.len() as i64 + 1;
            for (offset, (id, _)) in chunk.iter().enumerate() {
                seqs.insert(id.clone(), (first + offset as i64) as u64);
            }
        } else if count > 0 {
            let found = sqlx::query("SELECT id, seq FROM bus_log WHERE seq > ?1 AND seq <= ?2")
                .bind(last - count as i64)
                .bind(last)
                .fetch_all(&mut *conn)
                .await
                .map_err(sql_err("append"))?;
            for row in found {
                seqs.insert(row.get::<String, _>(0), row.get::<i64, _>(1) as u64);
            }
        }
    }
    Ok(seqs)
}

/// Appends one `bus_refs` entry per new event row (`event_seqs` in order) and returns their
/// sequence numbers, consecutive under the single writer.
async fn append_refs(
    conn: &mut sqlx::SqliteConnection,
    event_seqs: &[i64],
    now: i64,
) -> Result<Vec<u64>, LogError> {
    let mut seqs = Vec::with_capacity(event_seqs.len());
    for chunk in event_seqs.chunks(APPEND_CHUNK) {
        let (_, last) = insert_chunk(
            conn,
            "INSERT INTO bus_refs (event_seq, appended_at)",
            "(?, ?)",
            chunk,
            |query, event_seq| query.bind(*event_seq).bind(now),
        )
        .await?;
        let first = last - chunk.len() as i64 + 1;
        seqs.extend((0..chunk.len()).map(|offset| (first + offset as i64) as u64));
    }
    Ok(seqs)
}

impl From<DbError> for LogError {
    fn from(e: DbError) -> Self {
        LogError::new("database", e)
    }
}

#[async_trait]
impl EventLog for SqliteEventLog {
    fn admit(&self, event: &KeptnEvent) -> Result<(), LogError> {
        if self.write_through {
            EventRecord::check(event).map_err(|e| LogError::new("append", e))?;
        }
        Ok(())
    }

    async fn append(&self, events: &[KeptnEvent]) -> Result<Vec<Option<u64>>, LogError> {
        let now = chrono::Utc::now().timestamp_millis();
        // The writer may run the closure again when another write of its group fails, so it
        // only reads what it captured.
        if self.write_through {
            let (records, firsts) =
                batch_records(events).map_err(|e| LogError::new("append", e))?;
            let records = Arc::new(records);
            let new_seqs: Vec<Option<u64>> = self
                .db
                .write(move |conn| {
                    let records = Arc::clone(&records);
                    Box::pin(async move {
                        let event_seqs = insert_records_seq(conn, &records)
                            .await
                            .map_err(|e| LogError::new("append", e))?;
                        let fresh: Vec<i64> = event_seqs.iter().flatten().copied().collect();
                        let mut refs = append_refs(conn, &fresh, now).await?.into_iter();
                        Ok::<_, LogError>(
                            event_seqs
                                .iter()
                                .map(|s| s.and_then(|_| refs.next()))
                                .collect(),
                        )
                    })
                })
                .await?;
            // `firsts` marks the later copies of an id within the batch; the others take the
            // records' results in order.
            let mut new_seqs = new_seqs.into_iter();
            return Ok(firsts
                .into_iter()
                .map(|dup| match dup {
                    Some(_) => None,
                    None => new_seqs.next().flatten(),
                })
                .collect());
        }
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
        let mut seqs = self
            .db
            .write(move |conn| {
                let rows = Arc::clone(&rows);
                Box::pin(async move { append_rows(conn, &rows, now).await })
            })
            .await?;
        // An id twice in one batch: its first occurrence was appended, the others are
        // duplicates.
        Ok(events.iter().map(|e| seqs.remove(e.id.as_str())).collect())
    }

    async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, KeptnEvent)>, LogError> {
        let sql = if self.write_through {
            "SELECT seq, event FROM (\
                 SELECT b.seq AS seq, e.event AS event FROM bus_refs b \
                 JOIN events e ON e.seq = b.event_seq WHERE b.seq > ?1 \
                 UNION ALL SELECT seq, event FROM bus_log WHERE seq > ?1) \
             ORDER BY seq LIMIT ?2"
        } else {
            "SELECT seq, event FROM bus_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        };
        let rows = sqlx::query(sql)
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
        // sqlite_sequence remembers the highest number ever given, even after pruning;
        // `bus_refs` starts above `bus_log`, so the larger of the two is the last.
        let row = sqlx::query(
            "SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('bus_log', 'bus_refs')",
        )
        .fetch_optional(self.db.read_pool())
        .await
        .map_err(sql_err("last sequence"))?;
        Ok(row
            .and_then(|r| r.get::<Option<i64>, _>(0))
            .map_or(0, |seq| seq as u64))
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

#[cfg(test)]
mod write_through_tests {
    use super::*;
    use crate::bus::{DurableBus, DurableBusConfig};
    use crate::datastore::{EventQuery, EventStore, SqliteEventStore};
    use futures::StreamExt;
    use keptn_sdk::event::{EventData, EventType, Phase};
    use keptn_sdk::transport::{SubjectPattern, SubscribeOptions, Transport};

    fn event(project: &str) -> KeptnEvent {
        KeptnEvent::builder(EventType::task("test", Phase::Triggered))
            .source("t")
            .data(&EventData::scope(project, "s", "svc"))
            .unwrap()
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn publishing_stores_the_event_once_and_delivers_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
        let store = SqliteEventStore::new(db.clone()).await.unwrap();
        let log = Arc::new(SqliteEventLog::write_through(&store).await.unwrap());
        let bus = DurableBus::open(log.clone(), DurableBusConfig::default())
            .await
            .unwrap();
        let mut sub = bus
            .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()).queue_group("c"))
            .await
            .unwrap();
        let kept = event("kept");
        let gone = event("gone");
        bus.publish(&kept).await.unwrap();
        bus.publish(&kept).await.unwrap();
        bus.publish(&gone).await.unwrap();
        let page = store.query(&EventQuery::project("kept")).await.unwrap();
        assert_eq!(page.total_count, 1, "stored once by the publish itself");
        for expected in [&kept, &gone] {
            let d = sub.next().await.unwrap().unwrap();
            assert_eq!(d.event().id, expected.id);
            d.ack().await.unwrap();
        }
        assert_eq!(log.read_after(0, 10).await.unwrap().len(), 2);
        let mut far = event("kept");
        far.time = "2300-01-01T00:00:00Z".parse().unwrap();
        let beside = event("kept");
        let (refused, fine) = tokio::join!(bus.publish(&far), bus.publish(&beside));
        let refused = refused.unwrap_err();
        assert!(
            format!("{:?}", refused).contains("outside the range"),
            "{refused:?}"
        );
        fine.expect("an event published beside a refused one is stored");
        sub.next().await.unwrap().unwrap().ack().await.unwrap();
        store.delete_project("gone").await.unwrap();
        let left = log.read_after(0, 10).await.unwrap();
        assert_eq!(left.len(), 2, "a deleted project's events leave the log");
        assert_eq!(left[0].1.id, kept.id);
        bus.shutdown().await;
        db.close().await;
    }

    #[tokio::test]
    async fn a_data_directory_of_the_self_contained_log_moves_to_write_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keptn.db");
        let old: Vec<KeptnEvent> = (0..3).map(|_| event("p")).collect();
        let group = |name: &str| {
            SubscribeOptions::new(SubjectPattern::all_keptn()).queue_group(name.to_owned())
        };
        {
            let db = SqliteDb::open(&path).await.unwrap();
            let log = Arc::new(SqliteEventLog::new(db.clone()).await.unwrap());
            let bus = DurableBus::open(log, DurableBusConfig::default())
                .await
                .unwrap();
            let mut sub = bus.subscribe(group("c")).await.unwrap();
            let _datastore = bus.subscribe(group(DATASTORE_QUEUE_GROUP)).await.unwrap();
            for e in &old {
                bus.publish(e).await.unwrap();
            }
            sub.next().await.unwrap().unwrap().ack().await.unwrap();
            bus.shutdown().await;
            db.close().await;
        }
        let db = SqliteDb::open(&path).await.unwrap();
        let store = SqliteEventStore::new(db.clone()).await.unwrap();
        let log = Arc::new(SqliteEventLog::write_through(&store).await.unwrap());
        assert_eq!(log.last_seq().await.unwrap(), 3);
        let bus = DurableBus::open(log.clone(), DurableBusConfig::default())
            .await
            .unwrap();
        let mut sub = bus.subscribe(group("c")).await.unwrap();
        let new = event("p");
        bus.publish(&new).await.unwrap();
        for expected in [&old[1], &old[2], &new] {
            let d = tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
                .await
                .expect("delivered in time")
                .unwrap()
                .unwrap();
            assert_eq!(
                d.event().id,
                expected.id,
                "pending events first, then the new one"
            );
            d.ack().await.unwrap();
        }
        bus.shutdown().await;
        assert_eq!(
            log.prune(std::time::Duration::ZERO).await.unwrap(),
            4,
            "the dropped datastore consumer holds nothing back"
        );
        assert_eq!(log.last_seq().await.unwrap(), 4, "numbers are not reused");
        db.close().await;
    }
}
