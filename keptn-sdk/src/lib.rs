//! The Keptn SDK: write Keptn services in Rust.
//!
//! Keptn moves a change through stages by sending CloudEvents: the control plane sends
//! `sh.keptn.event.<task>.triggered`, a service answers `.started` and `.finished`. This crate
//! gives a service author everything on that path: the events themselves (the CloudEvents 1.0
//! envelope with Keptn's extensions, typed payloads of the Keptn spec 0.2.x, builders and
//! validation), transports that carry them (in-process, NATS JetStream, CloudEvents over HTTP), a
//! task runner that speaks the protocol so that a service is one function, and a mock transport to
//! unit-test that function without any server.
//!
//! # Quick start
//!
//! A service that answers `hello.triggered`, run here on the in-process transport (use
//! `NatsTransport` in production):
//!
//! ```
//! use keptn_sdk::event::payload::FinishedData;
//! use keptn_sdk::event::{EventData, EventType, KeptnEvent, Phase};
//! use keptn_sdk::handler::{handler_fn, TaskContext, TaskRunner};
//! use keptn_sdk::{MemoryTransport, SubjectPattern, SubscribeOptions, Transport};
//! use futures::StreamExt;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let bus = MemoryTransport::default();
//!
//!     // The service: one async function per task.
//!     let hello = handler_fn("hello", |ctx: TaskContext, data: EventData| async move {
//!         let service = data.service.unwrap_or_default();
//!         ctx.status_changed("saying hello").await?;
//!         Ok::<_, keptn_sdk::TransportError>(
//!             FinishedData::pass().with_message(format!("hello, {service}")),
//!         )
//!     });
//!     let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//!     let service = tokio::spawn(
//!         TaskRunner::new(bus.clone(), hello)
//!             .source("hello-service")
//!             .run(async { stopped.await.ok(); }),
//!     );
//!
//!     // The control plane's side: watch the answers, then trigger the task.
//!     let mut events = bus
//!         .subscribe(SubscribeOptions::new(SubjectPattern::new("sh.keptn.event.hello.>")?))
//!         .await?;
//!     // The in-memory bus drops events nobody subscribed to: wait for the service.
//!     while bus.subscription_count() < 2 {
//!         tokio::task::yield_now().await;
//!     }
//!     let triggered = KeptnEvent::builder(EventType::task("hello", Phase::Triggered))
//!         .source("shipyard-controller")
//!         .data(&EventData::scope("sockshop", "dev", "carts"))?
//!         .build()?;
//!     bus.publish(&triggered).await?;
//!
//!     let mut types = Vec::new();
//!     while let Some(delivery) = events.next().await {
//!         let delivery = delivery?;
//!         let event = delivery.event().clone();
//!         delivery.ack().await?;
//!         types.push(event.type_string());
//!         if event.event_type.phase() == Some(Phase::Finished) {
//!             assert_eq!(event.data["message"], "hello, carts");
//!             assert_eq!(event.triggeredid.as_ref(), Some(&triggered.id));
//!             break;
//!         }
//!     }
//!     assert_eq!(types, [
//!         "sh.keptn.event.hello.triggered",
//!         "sh.keptn.event.hello.started",
//!         "sh.keptn.event.hello.status.changed",
//!         "sh.keptn.event.hello.finished",
//!     ]);
//!
//!     stop.send(()).ok();
//!     service.await??;
//!     Ok(())
//! }
//! ```
//!
//! # Modules
//!
//! - [`event`]: [`KeptnEvent`], [`EventType`], typed payloads ([`event::payload`]), builders,
//!   validation, conversion to and from `cloudevents::Event`.
//! - [`transport`]: the [`Transport`] trait (publish; subscribe by subject pattern and queue
//!   group; deliveries with ack / nack) and its implementations: [`MemoryTransport`], and
//!   `NatsTransport` and `HttpTransport` behind features.
//! - [`handler`]: the [`TaskHandler`] trait, [`handler_fn`] for closures, and the [`TaskRunner`]
//!   that owns the `.triggered` → `.started` → `.finished` protocol.
//! - `testing` (feature): `MockTransport` with its test handle, and canonical event fixtures.
//! - [`api`]: the request and response bodies of the control-plane HTTP API.
//! - `client` (feature): `ApiClient`, a typed client of that API.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cloudevents` | yes | lossless conversion to and from `cloudevents::Event` (cloudevents-sdk, default features off) |
//! | `nats` | no | `transport::nats`: core NATS and JetStream (async-nats): durable consumers, explicit ack, redelivery, de-duplication, reconnect forever |
//! | `http` | no | `transport::http`: CloudEvents over HTTP, structured and binary modes; a sender with retries and an axum receiver |
//! | `client` | no | `client`: a typed client of the control-plane HTTP API (reqwest) |
//! | `testing` | no | `testing`: `MockTransport` and its handle, event fixtures |
//!
//! Delivery guarantees differ by transport; [`transport`] has the table.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod event;
pub mod handler;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;

pub use event::payload::FinishedData;
pub use event::{
    DecodeError, EventBuilder, EventData, EventId, EventType, GitCommitId, KeptnContext,
    KeptnEvent, KeptnResult, Phase, Status, ValidationError,
};
pub use handler::{
    Filter, HandlerError, TaskContext, TaskHandler, TaskOutcome, TaskRunner, handler_fn,
};
pub use transport::{
    Delivery, DeliveryError, MemoryTransport, SubjectPattern, SubscribeOptions, Subscription,
    Transport, TransportError, TransportErrorKind,
};

#[cfg(feature = "testing")]
pub use testing::{MockHandle, MockTransport};
#[cfg(feature = "http")]
pub use transport::http::HttpTransport;
#[cfg(feature = "nats")]
pub use transport::nats::NatsTransport;
