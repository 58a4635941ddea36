//! The conformance suite run on every `SequenceStore` backend, alone and in a database shared
//! with the event store; and what only the SQL backends do (reopening, URLs).

use std::sync::Arc;

#[cfg(feature = "sqlite")]
use keptn_core::orchestrator::ExecutionState;
use keptn_core::orchestrator::store::MemorySequenceStore;
#[cfg(feature = "postgres")]
use keptn_core::orchestrator::store::PgSequenceStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use keptn_core::orchestrator::store::SequenceStore;
#[cfg(feature = "sqlite")]
use keptn_core::orchestrator::store::SqliteSequenceStore;
#[cfg(feature = "sqlite")]
use keptn_core::orchestrator::store::{Commit, OutboxEntry};
#[cfg(feature = "sqlite")]
use keptn_sdk::event::KeptnContext;

use super::store_conformance::conformance;
#[cfg(feature = "sqlite")]
use super::store_conformance::{ExecSpec, exec, t0, task_event};

#[tokio::test]
async fn the_memory_store_conforms() {
    conformance(Arc::new(MemorySequenceStore::new())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteSequenceStore::open(dir.path().join("seq.db"))
        .await
        .unwrap();
    conformance(Arc::new(store)).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_store_keeps_its_state_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seq.db");
    let e = exec(ExecSpec {
        id: "keep",
        service: "svc",
        context: "k",
        state: ExecutionState::Started,
        minutes: 0,
        task: Some(("test", true)),
    });
    {
        let store = SqliteSequenceStore::open(&path).await.unwrap();
        store
            .commit(&Commit {
                executions: vec![e.clone()],
                outbox: vec![OutboxEntry {
                    seq: 1,
                    event: task_event("x", &KeptnContext::new("k")),
                }],
                at: t0(),
                ..Commit::default()
            })
            .await
            .unwrap();
        store.db().close().await;
    }
    let store = SqliteSequenceStore::open(&path).await.unwrap();
    assert_eq!(store.load_active().await.unwrap().executions, vec![e]);
    assert_eq!(store.outbox(0, 10).await.unwrap().len(), 1);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_store_conforms_in_the_database_of_the_event_store_and_the_bus() {
    use keptn_core::bus::SqliteEventLog;
    use keptn_core::datastore::SqliteEventStore;
    use keptn_core::db::SqliteDb;

    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    let _events = SqliteEventStore::new(db.clone()).await.unwrap();
    let _log = SqliteEventLog::new(db.clone()).await.unwrap();
    let store = SqliteSequenceStore::new(db.clone()).await.unwrap();
    conformance(Arc::new(store)).await;
    db.close().await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_store_refuses_an_in_memory_url() {
    let err = SqliteSequenceStore::connect("sqlite::memory:")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in-memory"), "{err}");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_store_opens_a_file_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("by-url.db");
    let store = SqliteSequenceStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(store.db().path(), path);
    assert!(path.exists());
    store.db().close().await;
}

#[cfg(feature = "postgres")]
fn postgres_url() -> String {
    keptn_testkit::PostgresServer::shared()
        .and_then(|server| server.create_database())
        .expect("a PostgreSQL server for the test (see keptn-testkit)")
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_store_conforms() {
    let store = PgSequenceStore::connect(&postgres_url()).await.unwrap();
    conformance(Arc::new(store)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_postgres_store_conforms_in_the_database_of_the_event_store() {
    use keptn_core::datastore::PgEventStore;
    use keptn_core::db::PgDb;

    let db = PgDb::connect(&postgres_url()).await.unwrap();
    let _events = PgEventStore::new(db.clone()).await.unwrap();
    let store = PgSequenceStore::new(db.clone()).await.unwrap();
    // A second store on the same database finds its tables migrated.
    let again = PgSequenceStore::new(db.clone()).await.unwrap();
    conformance(Arc::new(store)).await;
    assert_eq!(again.outbox_last_seq().await.unwrap(), 0);
    let components: Vec<(String, i64)> = sqlx::query_as(
        "SELECT component, version FROM keptn_migrations ORDER BY component, version",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        components,
        [("datastore".to_owned(), 1), ("sequences".to_owned(), 1)]
    );
    db.close().await;
}
