use keptn_core::datastore::{PgEventStore, conformance};
use keptn_core::db::PgDb;
use keptn_testkit::PostgresServer;

async fn fresh_db() -> PgDb {
    let url = PostgresServer::shared()
        .and_then(|server| server.create_database())
        .unwrap_or_else(|e| panic!("a PostgreSQL server is needed for this test: {e:#}"));
    PgDb::connect(&url).await.unwrap()
}

#[tokio::test]
async fn postgres_store_passes_the_conformance_suite() {
    let db = fresh_db().await;
    let store = PgEventStore::new(db.clone()).await.unwrap();
    conformance::run(&store).await;
    db.close().await;
}

#[tokio::test]
async fn migrations_run_once_when_the_store_is_created_again() {
    let db = fresh_db().await;
    PgEventStore::new(db.clone()).await.unwrap();
    PgEventStore::new(db.clone()).await.unwrap();
    let versions: Vec<(String, i64)> =
        sqlx::query_as("SELECT component, version FROM keptn_migrations ORDER BY version")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(versions, vec![("datastore".to_owned(), 1)]);
    db.close().await;
}

#[tokio::test]
async fn concurrent_overlapping_batches_store_every_event_once() {
    use keptn_core::datastore::conformance::{at, event};
    use keptn_core::datastore::{EventQuery, EventStore};
    use serde_json::json;

    let db = fresh_db().await;
    let store = std::sync::Arc::new(PgEventStore::new(db.clone()).await.unwrap());
    let mut tasks = Vec::new();
    for writer in 0..6_i64 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for round in 0..10_i64 {
                // Batches overlap with those of the other writers, in opposite orders.
                let mut batch: Vec<_> = (0..50_i64)
                    .map(|i| {
                        let n = round * 50 + i;
                        event(
                            &format!("e{n}"),
                            &format!("c{}", n % 7),
                            "sh.keptn.event.test.finished",
                            at(n),
                            json!({"project": "busy"}),
                        )
                    })
                    .collect();
                if writer % 2 == 1 {
                    batch.reverse();
                }
                inserted += store.insert_batch(&batch).await.unwrap().inserted();
            }
            inserted
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 500);
    let mut roots = EventQuery::project("busy");
    roots.root = true;
    assert_eq!(store.query(&roots).await.unwrap().total_count, 7);
    assert_eq!(
        store
            .query(&EventQuery::project("busy"))
            .await
            .unwrap()
            .total_count,
        500
    );
    db.close().await;
}
