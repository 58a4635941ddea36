//! Group commit at the level of events: inserts waiting at the same time become one write.
//!
//! The database's writer already commits queued writes together, but each write still runs its
//! own statements. Here, every `insert` and `insert_batch` of a store goes through one task
//! that takes every request waiting (up to [`MAX_EVENTS`] events), writes all their events with
//! the same multi-row statements, and answers each request with its own outcomes. While that
//! write is committed, new requests queue up for the next one. A request's events stay
//! all-or-nothing: the whole group is one transaction.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::write::insert_records;
use crate::datastore::record::EventRecord;
use crate::datastore::{InsertOutcome, Result, StoreError, StoreErrorKind};
use crate::db::SqliteDb;

/// The most events written by one group.
const MAX_EVENTS: usize = 4096;
/// Requests waiting for the coalescing task; `insert` waits when it is full.
const QUEUE: usize = 1024;

/// Where a request is answered: one outcome per record.
type Reply = oneshot::Sender<Result<Vec<InsertOutcome>>>;

/// Records to insert (ids unique within the request) and where to answer.
pub(super) struct Request {
    pub records: Vec<EventRecord>,
    pub reply: Reply,
}

/// The sending side; the task stops when every clone of it is dropped.
pub(super) type Inserts = mpsc::Sender<Request>;

/// Starts the task that coalesces the inserts of one store.
pub(super) fn start(db: SqliteDb) -> Inserts {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(db, rx));
    tx
}

async fn run(db: SqliteDb, mut requests: mpsc::Receiver<Request>) {
    while let Some(first) = requests.recv().await {
        let mut count = first.records.len();
        let mut group = vec![first];
        while count < MAX_EVENTS {
            match requests.try_recv() {
                Ok(request) => {
                    count += request.records.len();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        write_group(&db, group).await;
    }
}

async fn write_group(db: &SqliteDb, group: Vec<Request>) {
    // An id already seen in an earlier request of the group is a duplicate of it.
    let mut seen: HashSet<String> = HashSet::new();
    let mut records = Vec::new();
    // Per request: its reply, and for each of its records the index in `records` (None for
    // a duplicate of an earlier request).
    let mut plans: Vec<(Reply, Vec<Option<usize>>)> = Vec::with_capacity(group.len());
    for request in group {
        let mut plan = Vec::with_capacity(request.records.len());
        for record in request.records {
            if seen.insert(record.id.clone()) {
                plan.push(Some(records.len()));
                records.push(record);
            } else {
                plan.push(None);
            }
        }
        plans.push((request.reply, plan));
    }
    let records = Arc::new(records);
    let result: Result<Vec<InsertOutcome>> = db
        .write(move |conn| {
            let records = Arc::clone(&records);
            Box::pin(async move { insert_records(conn, &records).await })
        })
        .await;
    match result {
        Ok(outcomes) => {
            for (reply, plan) in plans {
                let answer = plan
                    .into_iter()
                    .map(|slot| {
                        slot.and_then(|i| outcomes.get(i).copied())
                            .unwrap_or(InsertOutcome::Duplicate)
                    })
                    .collect();
                let _ = reply.send(Ok(answer));
            }
        }
        Err(err) => {
            // Every request of the group shares the failure; the cause stays in the message.
            let kind = err.kind();
            let causes = source_text(&err);
            let message = if causes.is_empty() {
                err.to_string()
            } else {
                format!("{err}: {causes}")
            };
            for (reply, _) in plans {
                let _ = reply.send(Err(StoreError::new(kind, message.clone())));
            }
        }
    }
}

fn source_text(err: &StoreError) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sends records through the coalescing task and waits for their outcomes.
pub(super) async fn insert(
    inserts: &Inserts,
    records: Vec<EventRecord>,
) -> Result<Vec<InsertOutcome>> {
    let (reply, answer) = oneshot::channel();
    let stopped = || {
        StoreError::new(
            StoreErrorKind::Unavailable,
            "the event store's writer stopped",
        )
    };
    inserts
        .send(Request { records, reply })
        .await
        .map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}
