//! keptn-sdk placeholder
pub mod event;
pub use event::KeptnEvent;
