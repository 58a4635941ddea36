use keptn_core::datastore::{MongoEventStore, conformance};
use keptn_testkit::MongoServer;

#[tokio::test]
async fn mongo_store_passes_the_conformance_suite() {
    if !MongoServer::available() {
        println!(
            "skipping the MongoDB conformance suite: no server (set KEPTN_TEST_MONGODB_URI or \
             run scripts/install-test-deps.sh)"
        );
        return;
    }
    let server = MongoServer::from_env_or_start()
        .unwrap_or_else(|e| panic!("the MongoDB test server did not start: {e:#}"));
    let database = format!("keptn_test_{}", std::process::id());
    let store = MongoEventStore::connect(server.uri(), &database)
        .await
        .unwrap();
    conformance::run(&store).await;
    store.database().drop().await.unwrap();
}
