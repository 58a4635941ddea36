//! The Keptn SDK: events, transports and task handlers for Keptn services.

pub mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod event;
pub mod transport;

pub use event::{EventType, KeptnEvent, Phase};
pub use transport::Transport;
