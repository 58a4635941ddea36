//! The conformance suite on every backend.

use keptn_core::configstore::{MemoryConfigStore, conformance};

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    conformance::run(&MemoryConfigStore::new()).await;
}

#[cfg(feature = "git")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_store_passes_the_conformance_suite() {
    let (_dir, store) = super::support::git_store();
    conformance::run(&store).await;
}
