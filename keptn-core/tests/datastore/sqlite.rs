use std::sync::Arc;

use keptn_core::datastore::conformance::{at, event};
use keptn_core::datastore::{EventQuery, EventStore, InsertOutcome, SqliteEventStore, conformance};
use keptn_core::db::{DbError, SqliteDb};
use serde_json::json;

async fn open(path: &std::path::Path) -> (SqliteDb, SqliteEventStore) {
    let db = SqliteDb::open(path).await.unwrap();
    let store = SqliteEventStore::new(db.clone()).await.unwrap();
    (db, store)
}

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = open(&dir.path().join("keptn.db")).await;
    conformance::run(&store).await;
    db.close().await;
}

#[tokio::test]
async fn events_and_schema_survive_a_reopen_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("keptn.db");
    let (db, store) = open(&path).await;
    let e = event(
        "e1",
        "c1",
        "sh.keptn.event.test.triggered",
        at(1),
        json!({"project": "p"}),
    );
    assert_eq!(store.insert(&e).await.unwrap(), InsertOutcome::Inserted);
    db.close().await;

    let (db, store) = open(&path).await;
    let page = store.query(&EventQuery::project("p")).await.unwrap();
    assert_eq!(page.events, vec![e.clone()]);
    assert_eq!(store.insert(&e).await.unwrap(), InsertOutcome::Duplicate);
    let versions: Vec<(String, i64)> =
        sqlx::query_as("SELECT component, version FROM keptn_migrations ORDER BY version")
            .fetch_all(db.read_pool())
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![
            ("datastore".to_owned(), 1),
            ("datastore".to_owned(), 2),
            ("datastore".to_owned(), 3)
        ]
    );
    db.close().await;
}

/// `totalCount` of a project's events comes from the count kept per project: it follows
/// inserts, ignores duplicates and events without a project, and is reset by a delete.
#[tokio::test]
async fn project_totals_follow_inserts_duplicates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = open(&dir.path().join("keptn.db")).await;
    let of = |id: &str, project: Option<&str>| {
        let data = match project {
            Some(p) => json!({"project": p}),
            None => json!({}),
        };
        event(id, "c1", "sh.keptn.event.test.finished", at(1), data)
    };
    let total = |project: &'static str| {
        let store = store.clone();
        async move {
            store
                .query(&EventQuery::project(project))
                .await
                .unwrap()
                .total_count
        }
    };
    let batch = [
        of("a1", Some("a")),
        of("a2", Some("a")),
        of("b1", Some("b")),
        of("x1", None),
    ];
    store.insert_batch(&batch).await.unwrap();
    // A redelivered batch, and one new event beside it.
    let again = [
        of("a1", Some("a")),
        of("a2", Some("a")),
        of("a3", Some("a")),
    ];
    store.insert_batch(&again).await.unwrap();
    store.insert(&of("b1", Some("b"))).await.unwrap();
    assert_eq!((total("a").await, total("b").await), (3, 1));
    // A page past the end still reports the total.
    let mut past = EventQuery::project("a");
    past.page_size = Some(2);
    let first = store.query(&past).await.unwrap();
    assert_eq!((first.events.len(), first.total_count), (2, 3));

    store.delete_project("a").await.unwrap();
    assert_eq!((total("a").await, total("b").await), (0, 1));
    store.insert(&of("a1", Some("a"))).await.unwrap();
    assert_eq!(total("a").await, 1);
    db.close().await;
}

#[tokio::test]
async fn concurrent_writers_store_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = open(&dir.path().join("keptn.db")).await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    // Eight writers, two of each overlapping on the same ids: every id is inserted once.
    for writer in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for i in 0..150 {
                let id = format!("w{}-{i}", writer % 4);
                let e = event(
                    &id,
                    &format!("c{}", writer % 4),
                    "sh.keptn.event.test.finished",
                    at(i),
                    json!({"project": "busy"}),
                );
                if store.insert(&e).await.unwrap() == InsertOutcome::Inserted {
                    inserted += 1;
                }
            }
            inserted
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 600);
    let page = store.query(&EventQuery::project("busy")).await.unwrap();
    assert_eq!(page.total_count, 600);
    db.close().await;
}

#[tokio::test]
async fn a_failing_write_leaves_the_other_writes_of_its_group_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    let create = db.write(|conn| {
        Box::pin(async move {
            sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)")
                .execute(&mut *conn)
                .await?;
            Ok::<_, DbError>(())
        })
    });
    create.await.unwrap();
    let insert = |x: i64| {
        let db = db.clone();
        async move {
            db.write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO t (x) VALUES (?)")
                        .bind(x)
                        .execute(&mut *conn)
                        .await?;
                    if x == 2 {
                        // Undone by the savepoint: the duplicate insert below fails the write.
                        sqlx::query("INSERT INTO t (x) VALUES (1000)")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("INSERT INTO t (x) VALUES (1000)")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok::<_, DbError>(x)
                })
            })
            .await
        }
    };
    let results = futures::future::join_all((1..=4).map(insert)).await;
    assert!(
        matches!(results[1], Err(DbError::Sqlx(_))),
        "{:?}",
        results[1]
    );
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    let xs: Vec<(i64,)> = sqlx::query_as("SELECT x FROM t ORDER BY x")
        .fetch_all(db.read_pool())
        .await
        .unwrap();
    assert_eq!(xs, vec![(1,), (3,), (4,)]);
    db.close().await;
    let after_close = db
        .write(|_conn| Box::pin(async { Ok::<_, DbError>(()) }))
        .await;
    assert!(matches!(after_close, Err(DbError::Closed)));
}

#[tokio::test]
async fn sqlite_store_with_checkpoints_in_the_writer_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let options = keptn_core::db::SqliteDbOptions {
        background_checkpoints: false,
        ..Default::default()
    };
    let db = SqliteDb::open_with(dir.path().join("keptn.db"), options)
        .await
        .unwrap();
    let store = SqliteEventStore::new(db.clone()).await.unwrap();
    conformance::run(&store).await;
    db.close().await;
}

#[tokio::test]
async fn a_panicking_write_is_answered_closed_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    db.write(|conn| {
        Box::pin(async move {
            sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)")
                .execute(&mut *conn)
                .await?;
            Ok::<_, DbError>(())
        })
    })
    .await
    .unwrap();
    let panicking = db.write(|conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO t (x) VALUES (1)")
                .execute(&mut *conn)
                .await?;
            if std::hint::black_box(true) {
                panic!("a bug in a write closure");
            }
            Ok::<_, DbError>(())
        })
    });
    let fine = db.write(|conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO t (x) VALUES (2)")
                .execute(&mut *conn)
                .await?;
            Ok::<_, DbError>(())
        })
    });
    let (panicked, fine) = tokio::join!(panicking, fine);
    assert!(matches!(panicked, Err(DbError::Closed)), "{panicked:?}");
    fine.unwrap();
    let xs: Vec<(i64,)> = sqlx::query_as("SELECT x FROM t ORDER BY x")
        .fetch_all(db.read_pool())
        .await
        .unwrap();
    assert_eq!(xs, vec![(2,)]);
    db.close().await;
}
