//! The SQLite sequence store in the database of the event store and the bus: one file, one
//! writer, and the writer's group commit with the other components' writes.

use std::sync::Arc;

use keptn_core::bus::{EventLog, SqliteEventLog};
use keptn_core::datastore::{EventQuery, EventStore, SqliteEventStore};
use keptn_core::db::{DbError, SqliteDb};
use keptn_core::orchestrator::store::{Commit, OutboxEntry, SequenceStore, SqliteSequenceStore};
use keptn_core::orchestrator::{ExecutionState, PauseKey};
use keptn_sdk::event::{EventId, KeptnContext};
use tokio::sync::Notify;

use super::store_conformance::{ExecSpec, exec, t0, task_event, view};

/// A commit touching every table of the sequence store.
fn full_commit(context: &KeptnContext) -> Commit {
    Commit {
        executions: vec![exec(ExecSpec {
            id: "shared",
            service: "svc",
            context: context.as_str(),
            state: ExecutionState::Started,
            minutes: 0,
            task: Some(("test", true)),
        })],
        views: vec![view(
            context.as_str(),
            0,
            "delivery",
            ExecutionState::Started,
        )],
        pauses: vec![(
            PauseKey {
                project: "p".into(),
                keptn_context: context.clone(),
                stage: Some("dev".into()),
            },
            true,
        )],
        outbox: vec![OutboxEntry {
            seq: 1,
            event: task_event("test", context),
        }],
        processed: vec![EventId::new("processed-1")],
        at: t0(),
        ..Commit::default()
    }
}

#[tokio::test]
async fn the_event_store_the_bus_log_and_the_sequence_store_share_one_file_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keptn.db");
    let context = KeptnContext::new("shared-context");
    let event = task_event("deployment", &context);
    let commit = full_commit(&context);
    {
        let db = SqliteDb::open(&path).await.unwrap();
        let events = SqliteEventStore::new(db.clone()).await.unwrap();
        let log = SqliteEventLog::new(db.clone()).await.unwrap();
        let sequences = SqliteSequenceStore::new(db.clone()).await.unwrap();
        // Issued together, so that the writer can put them in one group.
        let (inserted, appended, committed) = tokio::join!(
            events.insert(&event),
            log.append(std::slice::from_ref(&event)),
            sequences.commit(&commit),
        );
        inserted.unwrap();
        assert_eq!(appended.unwrap(), vec![Some(1)]);
        committed.unwrap();
        db.close().await;
    }
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(
        files.iter().all(|f| f.starts_with("keptn.db")),
        "every component is in keptn.db: {files:?}"
    );

    let db = SqliteDb::open(&path).await.unwrap();
    let events = SqliteEventStore::new(db.clone()).await.unwrap();
    let log = SqliteEventLog::new(db.clone()).await.unwrap();
    let sequences = SqliteSequenceStore::new(db.clone()).await.unwrap();
    let page = events
        .query(&EventQuery::context(context.clone()))
        .await
        .unwrap();
    assert_eq!(page.events, vec![event.clone()]);
    assert_eq!(log.read_after(0, 10).await.unwrap(), vec![(1, event)]);
    let restored = sequences.load_active().await.unwrap();
    assert_eq!(restored.executions, commit.executions);
    assert_eq!(restored.views, commit.views);
    assert_eq!(restored.paused, vec![commit.pauses[0].0.clone()]);
    assert_eq!(sequences.outbox(0, 10).await.unwrap(), commit.outbox);
    assert_eq!(
        sequences
            .processed(&[EventId::new("processed-1")])
            .await
            .unwrap()
            .len(),
        1
    );
    let migrations: Vec<(String, i64)> = sqlx::query_as(
        "SELECT component, version FROM keptn_migrations ORDER BY component, version",
    )
    .fetch_all(db.read_pool())
    .await
    .unwrap();
    assert_eq!(
        migrations,
        [
            ("bus".to_owned(), 1),
            ("bus".to_owned(), 2),
            ("datastore".to_owned(), 1),
            ("datastore".to_owned(), 2),
            ("datastore".to_owned(), 3),
            ("sequences".to_owned(), 1)
        ],
        "each component's schema is applied once"
    );
    db.close().await;
}

#[tokio::test]
async fn a_commit_grouped_with_a_failing_write_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    let sequences = SqliteSequenceStore::new(db.clone()).await.unwrap();
    let context = KeptnContext::new("grouped");

    // Hold the writer so that the next two writes queue up and run as one group.
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let blocker = {
        let db = db.clone();
        let (started, release) = (Arc::clone(&started), Arc::clone(&release));
        tokio::spawn(async move {
            db.write(move |_conn| {
                let (started, release) = (Arc::clone(&started), Arc::clone(&release));
                Box::pin(async move {
                    started.notify_one();
                    release.notified().await;
                    Ok::<_, DbError>(())
                })
            })
            .await
        })
    };
    started.notified().await;
    let commit = full_commit(&context);
    let committing = {
        let sequences = sequences.clone();
        let commit = commit.clone();
        tokio::spawn(async move { sequences.commit(&commit).await })
    };
    let failing = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(|conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO no_such_table VALUES (1)")
                        .execute(&mut *conn)
                        .await?;
                    Ok::<_, DbError>(())
                })
            })
            .await
        })
    };
    // Both are queued once their tasks have run up to their first wait.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    blocker.await.unwrap().unwrap();
    committing.await.unwrap().unwrap();
    assert!(failing.await.unwrap().is_err());

    let restored = sequences.load_active().await.unwrap();
    assert_eq!(restored.executions, commit.executions);
    assert_eq!(restored.views, commit.views);
    assert_eq!(sequences.outbox(0, 10).await.unwrap(), commit.outbox);
    assert_eq!(sequences.outbox_last_seq().await.unwrap(), 1);
    db.close().await;
}

#[cfg(feature = "git")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plane_keeps_the_sequence_state_in_keptn_db() {
    use keptn_core::plane::{Plane, PlaneConfig};

    let dir = tempfile::tempdir().unwrap();
    let config = PlaneConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap(), "token");
    let plane = Plane::start(config).await.unwrap();
    plane.shutdown().await.unwrap();

    assert!(!dir.path().join("sequences.db").exists());
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    let components: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT component FROM keptn_migrations ORDER BY component")
            .fetch_all(db.read_pool())
            .await
            .unwrap();
    let components: Vec<&str> = components.iter().map(|(c,)| c.as_str()).collect();
    assert_eq!(components, ["bus", "datastore", "sequences"]);
    db.close().await;
}
