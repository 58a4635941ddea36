use keptn_core::datastore::{MemoryEventStore, conformance};

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    let store = MemoryEventStore::new();
    conformance::run(&store).await;
    assert!(!store.is_empty());
}
