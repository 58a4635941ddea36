//! Test support for services (feature `testing`): a [`MockTransport`] driven from the test through
//! its [`MockHandle`], and canonical event [`fixtures`].
//!
//! The mock follows tower-test's `(Mock, Handle)` pair: the code under test gets the transport,
//! the test keeps the handle. Everything is deterministic: nothing sleeps and nothing is
//! delivered unless the test injects it.
//!
//! ```
//! use keptn_sdk::handler::{handler_fn, TaskContext, TaskRunner};
//! use keptn_sdk::event::payload::FinishedData;
//! use keptn_sdk::testing::{fixtures, MockTransport, Settlement};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (transport, mut handle) = MockTransport::new();
//! let handler = handler_fn("deployment", |_ctx: TaskContext, _data: serde_json::Value| async {
//!     Ok::<_, std::io::Error>(FinishedData::pass().with_message("deployed"))
//! });
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let runner = tokio::spawn(
//!     TaskRunner::new(transport, handler)
//!         .source("my-deployer")
//!         .run(async { stopped.await.ok(); }),
//! );
//!
//! let probe = handle.inject(fixtures::deployment_triggered());
//! let started = handle.next_published().await;
//! let finished = handle.next_published().await;
//! assert_eq!(started.type_string(), "sh.keptn.event.deployment.started");
//! assert_eq!(finished.data["message"], "deployed");
//! assert_eq!(probe.settled().await, Settlement::Acked);
//!
//! stop.send(()).ok();
//! runner.await.unwrap().unwrap();
//! # }
//! ```

pub mod fixtures;
mod mock;

pub use mock::{DeliveryProbe, MockHandle, MockTransport, Settlement};
