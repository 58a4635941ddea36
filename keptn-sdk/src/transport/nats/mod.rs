//! NATS transport (feature `nats`): JetStream (the default) or core NATS, with async-nats.
//!
//! # JetStream mode: at-least-once
//!
//! - On connect the transport creates or updates a stream (default `keptn`, subjects
//!   `sh.keptn.>`, file storage, 2 minute duplicate window).
//! - `publish` sets the `Nats-Msg-Id` header to the event id, so that a republished event (same
//!   id, within the duplicate window) is stored once, and returns once the server acknowledged
//!   that it stored the event. [`Transport::publish_batch`] keeps up to
//!   [`NatsConfig::max_acks_in_flight`] acknowledgements in flight.
//! - `subscribe` with a queue group binds to a durable pull consumer named after the group and the
//!   pattern: every member of the group pulls from the same consumer (each event goes to one of
//!   them), and the group resumes where it stopped after a restart. Without a queue group the
//!   subscription gets a consumer of its own, deleted when the subscription is dropped (and by the
//!   server after [`ConsumerSettings::inactive_threshold`] if the process dies).
//! - Consumers use explicit acks. A nacked delivery comes back after its delay, an unacknowledged
//!   one after [`ConsumerSettings::ack_wait`], at most [`ConsumerSettings::max_deliver`] times in
//!   all. A delivery dropped without being settled is nacked.
//! - A message that is not a Keptn event is terminated (never redelivered) and reported as an
//!   error item on the subscription stream.
//! - Durability is the server's: JetStream acknowledges a publish once the message is written,
//!   before it is synced to disk, so a machine crash (not a server crash) can lose the last
//!   events. The durable consumers' positions are kept by the server.
//!
//! # Core NATS mode: at-most-once
//!
//! [`NatsMode::Core`] publishes and subscribes with plain NATS (queue groups are NATS queue
//! groups). Nothing is stored: an event published while no subscriber listens is lost, and
//! `ack` / `nack` do nothing. Fast, and what Keptn 0.6 to 0.13 used.
//!
//! # Reconnection
//!
//! The client retries its first connection and reconnects forever. Publishing while the server is
//! away fails after [`NatsConfig::request_timeout`]; subscriptions resume by themselves once the
//! server is back (each subscription is supervised by a task that recreates its consumer and pull
//! requests when they fail).
//!
//! A publish that failed that way may still reach the stream once the client reconnects (the
//! client keeps its outgoing buffer), and an ack sent just before the server died may be lost:
//! both are the at-least-once contract. Publishing the same event again is safe: the stream drops
//! the copy by its id within the duplicate window.

mod consumer;
mod names;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use async_nats::{Client, ConnectOptions, HeaderValue};
use async_trait::async_trait;
use bytes::Bytes;
use tracing::{debug, info, warn};

use super::{
    NoAck, SubjectPattern, SubscribeOptions, Subscription, Transport, TransportError,
    TransportErrorKind,
};
use crate::event::KeptnEvent;

pub use names::consumer_name;

/// Plain NATS or JetStream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NatsMode {
    /// JetStream: stored events, acknowledgements, redelivery (at-least-once).
    #[default]
    JetStream,
    /// Core NATS: no storage, no acknowledgements (at-most-once).
    Core,
}

/// Where JetStream keeps the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Storage {
    /// Files in the server's store directory (survives server restarts).
    #[default]
    File,
    /// Memory only.
    Memory,
}

/// Where a new durable consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeliverFrom {
    /// Events published after the consumer was created (a service installed today does not
    /// run yesterday's tasks). Once created, a durable consumer resumes where it stopped.
    #[default]
    New,
    /// Every event still in the stream.
    All,
}

/// The JetStream stream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamSettings {
    /// Stream name (default `keptn`).
    pub name: String,
    /// Subjects stored (default `sh.keptn.>`).
    pub subjects: Vec<String>,
    /// Storage (default file).
    pub storage: Storage,
    /// Window in which a republished event id is dropped as a duplicate (default 2 minutes).
    pub duplicate_window: Duration,
    /// How long events are kept; zero keeps them until limits are hit (default 7 days).
    pub max_age: Duration,
    /// Maximum stream size in bytes; -1 for no limit (default -1).
    pub max_bytes: i64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            name: "keptn".to_owned(),
            subjects: vec!["sh.keptn.>".to_owned()],
            storage: Storage::File,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: -1,
        }
    }
}

/// The JetStream consumers made by `subscribe`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerSettings {
    /// How long the server waits for an ack before delivering again (default 30 s).
    pub ack_wait: Duration,
    /// How many times an event is delivered at most (default 10).
    pub max_deliver: i64,
    /// How many deliveries may wait for an ack at once, per consumer (default 1000).
    pub max_ack_pending: i64,
    /// Where a new consumer starts (default: new events).
    pub deliver_from: DeliverFrom,
    /// Messages asked for per pull request (default 256).
    pub pull_batch: usize,
    /// Heartbeat the server sends on an idle pull request; two missed heartbeats make the
    /// subscription recreate its pull (default 5 s).
    pub idle_heartbeat: Duration,
    /// How long the server keeps the consumer of a subscription without queue group after its
    /// subscriber went away (default 1 hour).
    pub inactive_threshold: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_deliver: 10,
            max_ack_pending: 1000,
            deliver_from: DeliverFrom::New,
            pull_batch: 256,
            idle_heartbeat: Duration::from_secs(5),
            inactive_threshold: Duration::from_secs(3600),
        }
    }
}

/// Settings of a [`NatsTransport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// Server URLs, comma-separated (`nats://127.0.0.1:4222`).
    pub servers: String,
    /// JetStream or core NATS (default JetStream).
    pub mode: NatsMode,
    /// The stream (JetStream mode).
    pub stream: StreamSettings,
    /// The consumers (JetStream mode).
    pub consumer: ConsumerSettings,
    /// The client name shown by the server.
    pub connection_name: Option<String>,
    /// Timeout of JetStream API requests and publish acknowledgements (default 5 s).
    pub request_timeout: Duration,
    /// How long `connect` keeps trying to set the stream up before it fails (default 30 s).
    pub setup_timeout: Duration,
    /// Publish acknowledgements awaited at once by `publish_batch` (default 256).
    pub max_acks_in_flight: usize,
    /// Deliveries buffered per subscription before the transport stops pulling (default 512).
    pub subscription_capacity: usize,
}

impl NatsConfig {
    /// Defaults for the servers at `servers`.
    pub fn new(servers: impl Into<String>) -> Self {
        Self {
            servers: servers.into(),
            mode: NatsMode::JetStream,
            stream: StreamSettings::default(),
            consumer: ConsumerSettings::default(),
            connection_name: None,
            request_timeout: Duration::from_secs(5),
            setup_timeout: Duration::from_secs(30),
            max_acks_in_flight: 256,
            subscription_capacity: 512,
        }
    }
}

/// A [`Transport`] over NATS; see the [module docs](self) for the guarantees. Clones share the
/// connection.
#[derive(Debug, Clone)]
pub struct NatsTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    client: Client,
    js: jetstream::Context,
    config: NatsConfig,
}

impl NatsTransport {
    /// Connects (retrying the first connection and reconnecting forever) and, in JetStream mode,
    /// creates or updates the stream, retrying for up to [`NatsConfig::setup_timeout`].
    pub async fn connect(config: NatsConfig) -> Result<Self, TransportError> {
        let mut options = ConnectOptions::new()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => info!("connected to NATS"),
                    async_nats::Event::Disconnected => {
                        warn!("disconnected from NATS; reconnecting")
                    }
                    other => debug!(event = %other, "NATS client event"),
                }
            });
        if let Some(name) = &config.connection_name {
            options = options.name(name);
        }
        let client = options
            .connect(config.servers.as_str())
            .await
            .map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::Connect,
                    format!("connecting to NATS at {}", config.servers),
                    e,
                )
            })?;
        Self::from_client(client, config).await
    }

    /// Uses an existing client (for authentication or TLS options this type does not expose).
    /// Reconnection is then the client's business.
    pub async fn from_client(client: Client, config: NatsConfig) -> Result<Self, TransportError> {
        let js = jetstream::ContextBuilder::new()
            .timeout(config.request_timeout)
            .max_ack_inflight(config.max_acks_in_flight.max(1) * 4)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let transport = Self {
            inner: Arc::new(Inner { client, js, config }),
        };
        if transport.inner.config.mode == NatsMode::JetStream {
            transport.setup_stream().await?;
        }
        Ok(transport)
    }

    /// The NATS client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.js
    }

    /// The settings.
    pub fn config(&self) -> &NatsConfig {
        &self.inner.config
    }

    async fn setup_stream(&self) -> Result<(), TransportError> {
        let deadline = tokio::time::Instant::now() + self.inner.config.setup_timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            match self.inner.ensure_stream().await {
                Ok(()) => return Ok(()),
                Err(err) if tokio::time::Instant::now() + delay < deadline => {
                    debug!(error = %err, "stream setup failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Sends one event to JetStream and returns the future of its acknowledgement.
    async fn send(&self, event: &KeptnEvent) -> Result<(String, PublishAckFuture), TransportError> {
        let (subject, payload) = encode(event)?;
        let id = event.id.as_str().parse::<HeaderValue>().map_err(|_| {
            TransportError::new(
                TransportErrorKind::Encode,
                format!(
                    "event id {:?} cannot be a NATS header value",
                    event.id.as_str()
                ),
            )
        })?;
        let publish = PublishMessage::build()
            .payload(payload)
            .header(async_nats::header::NATS_MESSAGE_ID, id);
        let ack = self
            .inner
            .js
            .send_publish(subject.clone(), publish)
            .await
            .map_err(|e| publish_error(event, e))?;
        Ok((subject, ack))
    }

    async fn publish_jetstream(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        let (subject, ack) = self.send(event).await?;
        match ack.await {
            Ok(ack) => {
                if ack.duplicate {
                    debug!(event_id = %event.id, "the stream already had this event");
                }
                Ok(())
            }
            Err(err) if err.kind() == jetstream::context::PublishErrorKind::StreamNotFound => {
                // The stream may have been deleted (or lost, on memory storage): set it up again
                // and retry once.
                warn!(%subject, "no stream for the subject; setting the stream up again");
                self.inner.ensure_stream().await?;
                let (_, ack) = self.send(event).await?;
                ack.await.map(|_| ()).map_err(|e| publish_error(event, e))
            }
            Err(err) => Err(publish_error(event, err)),
        }
    }
}

impl Inner {
    async fn ensure_stream(&self) -> Result<(), TransportError> {
        let s = &self.config.stream;
        let config = jetstream::stream::Config {
            name: s.name.clone(),
            subjects: s.subjects.clone(),
            storage: match s.storage {
                Storage::File => jetstream::stream::StorageType::File,
                Storage::Memory => jetstream::stream::StorageType::Memory,
            },
            duplicate_window: s.duplicate_window,
            max_age: s.max_age,
            max_bytes: s.max_bytes,
            max_messages: -1,
            ..Default::default()
        };
        self.js
            .create_or_update_stream(config)
            .await
            .map(|_| ())
            .map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::Connect,
                    format!("creating or updating the JetStream stream {}", s.name),
                    e,
                )
            })
    }
}

/// The subject and JSON payload of an event; fails for types that are not NATS subjects.
fn encode(event: &KeptnEvent) -> Result<(String, Bytes), TransportError> {
    let subject = event.type_string();
    if SubjectPattern::exact(&subject).is_err() {
        return Err(TransportError::new(
            TransportErrorKind::Encode,
            format!(
                "event {}: type {subject:?} is not a NATS subject (no spaces, wildcards or empty tokens)",
                event.id
            ),
        ));
    }
    Ok((subject, Bytes::from(event.to_json())))
}

fn publish_error(
    event: &KeptnEvent,
    err: impl std::error::Error + Send + Sync + 'static,
) -> TransportError {
    TransportError::with_source(
        TransportErrorKind::Publish,
        format!("publishing event {} ({})", event.id, event.event_type),
        err,
    )
}

#[async_trait]
impl Transport for NatsTransport {
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        match self.inner.config.mode {
            NatsMode::JetStream => self.publish_jetstream(event).await,
            NatsMode::Core => {
                let (subject, payload) = encode(event)?;
                self.inner
                    .client
                    .publish(subject, payload)
                    .await
                    .map_err(|e| publish_error(event, e))
            }
        }
    }

    async fn publish_batch(&self, events: &[KeptnEvent]) -> Result<(), TransportError> {
        if self.inner.config.mode == NatsMode::Core {
            for event in events {
                self.publish(event).await?;
            }
            return Ok(());
        }
        let window = self.inner.config.max_acks_in_flight.max(1);
        let mut pending: VecDeque<(usize, PublishAckFuture)> = VecDeque::with_capacity(window);
        for (index, event) in events.iter().enumerate() {
            if pending.len() >= window {
                if let Some((i, ack)) = pending.pop_front() {
                    ack.await.map_err(|e| publish_error(&events[i], e))?;
                }
            }
            let (_, ack) = self.send(event).await?;
            pending.push_back((index, ack));
        }
        while let Some((i, ack)) = pending.pop_front() {
            ack.await.map_err(|e| publish_error(&events[i], e))?;
        }
        Ok(())
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError> {
        match self.inner.config.mode {
            NatsMode::JetStream => consumer::subscribe(Arc::clone(&self.inner), options).await,
            NatsMode::Core => self.subscribe_core(options).await,
        }
    }
}

impl NatsTransport {
    async fn subscribe_core(
        &self,
        options: SubscribeOptions,
    ) -> Result<Subscription, TransportError> {
        use futures::StreamExt;

        let pattern = options.pattern.as_str().to_owned();
        let subscriber = match &options.queue_group {
            Some(group) => {
                self.inner
                    .client
                    .queue_subscribe(pattern.clone(), group.clone())
                    .await
            }
            None => self.inner.client.subscribe(pattern.clone()).await,
        }
        .map_err(|e| {
            TransportError::with_source(
                TransportErrorKind::Subscribe,
                format!("subscribing to {pattern}"),
                e,
            )
        })?;
        Ok(Subscription::new(subscriber.map(
            |message| match KeptnEvent::from_json(&message.payload) {
                Ok(event) => Ok(super::Delivery::new(event, 1, Box::new(NoAck))),
                Err(source) => Err(super::DeliveryError {
                    subject: message.subject.to_string(),
                    source,
                }),
            },
        )))
    }
}
