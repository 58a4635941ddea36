use keptn_core::datastore::{SqliteEventStore, conformance};
use keptn_core::db::SqliteDb;

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    let store = SqliteEventStore::new(db.clone()).await.unwrap();
    conformance::run(&store).await;
    db.close().await;
}
