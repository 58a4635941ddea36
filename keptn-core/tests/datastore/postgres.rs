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
