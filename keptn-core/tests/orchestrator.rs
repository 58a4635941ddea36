//! Sequence orchestration: the store conformance suite and behaviour tests of the controller.

mod orchestrator {
    mod delivery;
    mod shipyards;
    mod store_conformance;
    mod support;
}
