//! Sequence orchestration: the store conformance suite and behaviour tests of the controller.

mod orchestrator {
    mod store_conformance;
}
