//! The orchestrator module.
