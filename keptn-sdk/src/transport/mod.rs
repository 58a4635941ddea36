//! Moving events between services: the [`Transport`] trait and its implementations.
//!
//! A transport publishes [`KeptnEvent`]s on the subject equal to their type and delivers them to
//! subscribers whose [`SubjectPattern`] matches. Subscribers that share a queue group split the
//! events between them (each event goes to one member); subscribers without a group each get
//! every event.
//!
//! | implementation | feature | delivery guarantee |
//! |---|---|---|
//! | [`MemoryTransport`] | always | in-process, at-least-once while the process lives; lost on exit; a full subscriber blocks the publisher |
//! | `nats::NatsTransport` (JetStream) | `nats` | at-least-once: stored before `publish` returns, durable consumers survive restarts, de-duplication by event id |
//! | `nats::NatsTransport` (core NATS) | `nats` | at-most-once |
//! | `http::HttpTransport` | `http` | at-least-once up to the receiver's buffer (the sender retries until a 2xx); in memory after that |
//!
//! Every consumer must be idempotent on the event id: at-least-once means an event can arrive
//! twice (after a nack, an ack timeout or a reconnect).

mod error;
mod memory;
mod pattern;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "nats")]
pub mod nats;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;

use crate::event::{DecodeError, KeptnEvent};

pub use error::{TransportError, TransportErrorKind};
pub use memory::{MemoryTransport, MemoryTransportConfig};
pub use pattern::{PatternError, SubjectPattern};

/// What to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// The subjects to receive, e.g. `sh.keptn.>` or `sh.keptn.event.*.triggered`.
    pub pattern: SubjectPattern,
    /// Subscribers with the same queue group share the events (each goes to one of them). On
    /// JetStream the group is also the name of the durable consumer, so a group resumes where it
    /// stopped after a restart.
    pub queue_group: Option<String>,
}

impl SubscribeOptions {
    /// Every event matching `pattern`, to this subscriber alone.
    pub fn new(pattern: SubjectPattern) -> Self {
        Self {
            pattern,
            queue_group: None,
        }
    }

    /// Shares the events with the other members of `group`.
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = Some(group.into());
        self
    }
}

/// Moves Keptn events.
///
/// # Contract
/// - `publish` returns once the transport has taken responsibility for the event: for a durable
///   transport, once it is stored; it fails rather than drop the event silently. When buffers are
///   full it waits (back-pressure) instead of dropping.
/// - The subject of an event is its type.
/// - `subscribe` returns a [`Subscription`]: a stream of [`Delivery`] items. An event that cannot
///   be decoded is an `Err` item on the stream; it never ends the stream. (Durable transports
///   settle such a message themselves so that it is not redelivered forever.)
/// - Each delivery must be acknowledged with [`Delivery::ack`] or [`Delivery::nack`]; one that
///   is dropped unacknowledged counts as a nack without delay on transports that redeliver.
/// - Implementations are cheap to clone behind an `Arc` and safe to share between tasks.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Publishes one event.
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError>;

    /// Publishes several events, in order. Transports that confirm each publish (JetStream, HTTP)
    /// may keep many confirmations in flight; the call returns once every event is confirmed.
    ///
    /// On error some of the events may have been published (the error message says which one
    /// failed); publishing the whole batch again is safe on transports that de-duplicate by event
    /// id (JetStream) and harmless for consumers, which are idempotent on the event id.
    async fn publish_batch(&self, events: &[KeptnEvent]) -> Result<(), TransportError> {
        for event in events {
            self.publish(event).await?;
        }
        Ok(())
    }

    /// Subscribes to the events that match `options.pattern`.
    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        (**self).publish(event).await
    }

    async fn publish_batch(&self, events: &[KeptnEvent]) -> Result<(), TransportError> {
        (**self).publish_batch(events).await
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError> {
        (**self).subscribe(options).await
    }
}

/// Settles one delivery with the transport that made it.
#[async_trait]
pub trait Acknowledger: Send + Sync + fmt::Debug {
    /// The event was processed; do not deliver it again.
    async fn ack(self: Box<Self>) -> Result<(), TransportError>;
    /// The event was not processed; deliver it again after `delay` (to this or another member of
    /// the queue group).
    async fn nack(self: Box<Self>, delay: Option<Duration>) -> Result<(), TransportError>;
}

/// An acknowledger for transports without acknowledgements: both calls do nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAck;

#[async_trait]
impl Acknowledger for NoAck {
    async fn ack(self: Box<Self>) -> Result<(), TransportError> {
        Ok(())
    }

    async fn nack(self: Box<Self>, _delay: Option<Duration>) -> Result<(), TransportError> {
        Ok(())
    }
}

/// One event handed to a subscriber.
#[derive(Debug)]
pub struct Delivery {
    event: KeptnEvent,
    attempt: u32,
    acker: Box<dyn Acknowledger>,
}

impl Delivery {
    /// A delivery of `event`, settled through `acker`. `attempt` counts deliveries of this
    /// event to the subscription, starting at 1.
    pub fn new(event: KeptnEvent, attempt: u32, acker: Box<dyn Acknowledger>) -> Self {
        Self {
            event,
            attempt,
            acker,
        }
    }

    /// The event.
    pub fn event(&self) -> &KeptnEvent {
        &self.event
    }

    /// How many times this event was delivered to the subscription (1 the first time).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether this is a redelivery.
    pub fn is_redelivery(&self) -> bool {
        self.attempt > 1
    }

    /// Splits the delivery into the event and its acknowledger.
    pub fn into_parts(self) -> (KeptnEvent, Box<dyn Acknowledger>) {
        (self.event, self.acker)
    }

    /// Acknowledges the event.
    pub async fn ack(self) -> Result<(), TransportError> {
        self.acker.ack().await
    }

    /// Asks for redelivery after `delay`.
    pub async fn nack(self, delay: Option<Duration>) -> Result<(), TransportError> {
        self.acker.nack(delay).await
    }
}

/// A message that arrived on a subscription but is not a valid Keptn event.
#[derive(Debug, thiserror::Error)]
#[error("undecodable message on subject {subject}: {source}")]
pub struct DeliveryError {
    /// The subject the message arrived on.
    pub subject: String,
    /// Why it could not be decoded.
    #[source]
    pub source: DecodeError,
}

/// The stream of a subscription. Ends only when the transport shuts down or the subscription is
/// dropped.
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Result<Delivery, DeliveryError>> + Send>>,
}

impl Subscription {
    /// Wraps a stream of deliveries.
    pub fn new(
        stream: impl Stream<Item = Result<Delivery, DeliveryError>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = Result<Delivery, DeliveryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
