//! JetStream subscriptions: a pull consumer per queue group (or per subscription), supervised by
//! a task that keeps pulling across server restarts.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::jetstream::consumer::pull::{self, MessagesErrorKind};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::message::{AckKind, Acker};
use async_trait::async_trait;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::names::consumer_name;
use super::{DeliverFrom, Inner};
use crate::event::KeptnEvent;
use crate::transport::{
    Acknowledger, Delivery, DeliveryError, SubscribeOptions, Subscription, TransportError,
    TransportErrorKind,
};

type Item = Result<Delivery, DeliveryError>;

/// Consecutive pull errors (missed heartbeats while the server is away, failed pull requests)
/// after which the supervisor builds the consumer and its pull again.
const ERRORS_BEFORE_RESTART: u32 = 2;

pub(super) async fn subscribe(
    inner: Arc<Inner>,
    options: SubscribeOptions,
) -> Result<Subscription, TransportError> {
    let pattern = options.pattern.as_str().to_owned();
    let ephemeral = options.queue_group.is_none();
    let name = match &options.queue_group {
        Some(group) => consumer_name(group, &pattern),
        None => format!("sub_{}", uuid::Uuid::new_v4().simple()),
    };
    let settings = &inner.config.consumer;
    let config = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(match &options.queue_group {
            Some(group) => format!("keptn-sdk queue group {group} on {pattern}"),
            None => format!("keptn-sdk subscription on {pattern}"),
        }),
        filter_subject: pattern.clone(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: settings.ack_wait,
        max_deliver: settings.max_deliver,
        max_ack_pending: settings.max_ack_pending,
        deliver_policy: match settings.deliver_from {
            DeliverFrom::New => DeliverPolicy::New,
            DeliverFrom::All => DeliverPolicy::All,
        },
        inactive_threshold: if ephemeral {
            settings.inactive_threshold
        } else {
            Duration::ZERO
        },
        ..Default::default()
    };
    // Make the consumer now, so that a bad pattern or setting fails the subscribe call.
    let consumer = create_consumer(&inner, &config).await.map_err(|e| {
        TransportError::with_source(
            TransportErrorKind::Subscribe,
            format!(
                "creating the JetStream consumer {name} on stream {} for {pattern}",
                inner.config.stream.name
            ),
            e,
        )
    })?;
    let (tx, rx) = mpsc::channel(inner.config.subscription_capacity.max(1));
    let supervisor = Supervisor {
        inner,
        config,
        name,
        ephemeral,
        tx,
    };
    // The task ends when the subscription is dropped (the channel closes).
    tokio::spawn(supervisor.run(consumer));
    Ok(Subscription::new(Receiver { rx }))
}

async fn create_consumer(
    inner: &Inner,
    config: &pull::Config,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = inner.config.stream.name.as_str();
    match inner
        .js
        .create_consumer_on_stream(config.clone(), stream)
        .await
    {
        Ok(consumer) => Ok(consumer),
        Err(create_err) => {
            // An existing consumer whose settings cannot be updated is still usable.
            let name = config.durable_name.clone().unwrap_or_default();
            match inner.js.get_consumer_from_stream(name, stream).await {
                Ok(consumer) => Ok(consumer),
                Err(_) => Err(create_err.into()),
            }
        }
    }
}

struct Receiver {
    rx: mpsc::Receiver<Item>,
}

impl Stream for Receiver {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.rx.poll_recv(cx)
    }
}

struct Supervisor {
    inner: Arc<Inner>,
    config: pull::Config,
    name: String,
    ephemeral: bool,
    tx: mpsc::Sender<Item>,
}

enum PumpEnd {
    /// The subscription was dropped.
    Closed,
    /// The pull failed: build the consumer and the pull again.
    Restart,
}

impl Supervisor {
    async fn run(self, first: PullConsumer) {
        let mut consumer = Some(first);
        let mut delay = Duration::from_millis(100);
        loop {
            let current = match consumer.take() {
                Some(c) => c,
                None => match create_consumer(&self.inner, &self.config).await {
                    Ok(c) => {
                        info!(consumer = %self.name, "JetStream consumer is back");
                        c
                    }
                    Err(err) => {
                        debug!(consumer = %self.name, error = %err, "consumer not available yet");
                        if self.pause(&mut delay).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let settings = &self.inner.config.consumer;
            let expires = (settings.idle_heartbeat * 6).max(Duration::from_secs(1));
            let messages = current
                .stream()
                .max_messages_per_batch(settings.pull_batch.max(1))
                .heartbeat(settings.idle_heartbeat)
                .expires(expires)
                .messages()
                .await;
            let messages = match messages {
                Ok(m) => m,
                Err(err) => {
                    debug!(consumer = %self.name, error = %err, "starting the pull failed");
                    if self.pause(&mut delay).await {
                        break;
                    }
                    continue;
                }
            };
            delay = Duration::from_millis(100);
            match self.pump(messages).await {
                PumpEnd::Closed => break,
                PumpEnd::Restart => {
                    warn!(consumer = %self.name, "the pull stopped; starting it again");
                    if self.pause(&mut delay).await {
                        break;
                    }
                }
            }
        }
        if self.ephemeral {
            let stream = self.inner.config.stream.name.clone();
            let deleted = tokio::time::timeout(
                self.inner.config.request_timeout,
                self.inner
                    .js
                    .delete_consumer_from_stream(&self.name, stream),
            )
            .await;
            if !matches!(deleted, Ok(Ok(_))) {
                debug!(consumer = %self.name, "could not delete the consumer; the server will");
            }
        }
    }

    /// Waits `delay` (doubling it up to 5 s) unless the subscription goes away; true if it did.
    async fn pause(&self, delay: &mut Duration) -> bool {
        let closed = tokio::select! {
            _ = self.tx.closed() => true,
            _ = tokio::time::sleep(*delay) => false,
        };
        *delay = (*delay * 2).min(Duration::from_secs(5));
        closed
    }

    async fn pump(&self, mut messages: pull::Stream) -> PumpEnd {
        let mut errors = 0;
        loop {
            let next = tokio::select! {
                _ = self.tx.closed() => return PumpEnd::Closed,
                next = messages.next() => next,
            };
            match next {
                None => return PumpEnd::Restart,
                Some(Ok(message)) => {
                    errors = 0;
                    let item = decode(message).await;
                    if self.tx.send(item).await.is_err() {
                        return PumpEnd::Closed;
                    }
                }
                Some(Err(err)) => {
                    if matches!(
                        err.kind(),
                        MessagesErrorKind::ConsumerDeleted
                            | MessagesErrorKind::PushBasedConsumer
                            | MessagesErrorKind::RequestLimitExceeded
                    ) {
                        warn!(consumer = %self.name, error = %err, "the pull ended");
                        return PumpEnd::Restart;
                    }
                    errors += 1;
                    debug!(consumer = %self.name, error = %err, errors, "pull error");
                    if errors >= ERRORS_BEFORE_RESTART {
                        return PumpEnd::Restart;
                    }
                }
            }
        }
    }
}

async fn decode(message: async_nats::jetstream::Message) -> Item {
    let attempt = message
        .info()
        .map(|info| u32::try_from(info.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1);
    let (message, acker) = message.split();
    match KeptnEvent::from_json(&message.payload) {
        Ok(event) => Ok(Delivery::new(
            event,
            attempt,
            Box::new(JetStreamAcker { acker: Some(acker) }),
        )),
        Err(source) => {
            // Redelivering bytes that are not an event cannot help: stop it for good.
            if let Err(err) = acker.ack_with(AckKind::Term).await {
                warn!(error = %err, "terminating an undecodable message failed");
            }
            Err(DeliveryError {
                subject: message.subject.to_string(),
                source,
            })
        }
    }
}

struct JetStreamAcker {
    acker: Option<Acker>,
}

impl fmt::Debug for JetStreamAcker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamAcker")
            .field("settled", &self.acker.is_none())
            .finish()
    }
}

fn ack_error(err: async_nats::Error) -> TransportError {
    TransportError::with_source(
        TransportErrorKind::Ack,
        "sending an acknowledgement to JetStream",
        err,
    )
}

#[async_trait]
impl Acknowledger for JetStreamAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), TransportError> {
        match self.acker.take() {
            Some(acker) => acker.ack().await.map_err(ack_error),
            None => Ok(()),
        }
    }

    async fn nack(mut self: Box<Self>, delay: Option<Duration>) -> Result<(), TransportError> {
        match self.acker.take() {
            Some(acker) => acker.ack_with(AckKind::Nak(delay)).await.map_err(ack_error),
            None => Ok(()),
        }
    }
}

impl Drop for JetStreamAcker {
    fn drop(&mut self) {
        if let Some(acker) = self.acker.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                // A short-lived task: one publish into the client's outgoing buffer.
                runtime.spawn(async move {
                    let _ = acker.ack_with(AckKind::Nak(None)).await;
                });
            }
        }
    }
}
