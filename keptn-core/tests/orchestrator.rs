//! Sequence orchestration: the store conformance suite and behaviour tests of the controller.

mod orchestrator {
    mod control;
    mod delivery;
    mod failures;
    mod queue;
    mod restart;
    #[cfg(feature = "sqlite")]
    mod shared_db;
    mod shipyards;
    mod store_backends;
    mod store_conformance;
    mod support;
    mod timeouts;
    mod views;
}
