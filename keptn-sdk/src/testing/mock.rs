//! The mock transport and its test handle.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::event::KeptnEvent;
use crate::transport::{
    Acknowledger, Delivery, DeliveryError, SubscribeOptions, Subscription, Transport,
    TransportError, TransportErrorKind,
};

type Item = Result<Delivery, DeliveryError>;

/// A [`Transport`] for unit tests, driven through its [`MockHandle`].
///
/// - `publish` records the event (the handle reads it) unless the handle asked for the next
///   publish to fail. Published events are not delivered to subscribers.
/// - `subscribe` records the options and returns a stream of the deliveries the handle injects
///   that match the pattern (one member per queue group, round robin). Events injected before a
///   matching subscription exists wait for it.
///
/// The mock's queues are unbounded: the test decides how much it injects. Clones share the same
/// state.
#[derive(Debug, Clone)]
pub struct MockTransport {
    inner: Arc<Inner>,
}

/// The test's side of a [`MockTransport`]: inject deliveries, read what was published, inject
/// failures.
#[derive(Debug)]
pub struct MockHandle {
    inner: Arc<Inner>,
    cursor: usize,
}

/// How the code under test settled an injected delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// `ack()` was called.
    Acked,
    /// `nack(delay)` was called.
    Nacked(Option<Duration>),
    /// The delivery was dropped without being settled (or the subscription went away).
    Dropped,
}

/// Tells how an injected delivery was settled.
#[derive(Debug)]
pub struct DeliveryProbe {
    rx: oneshot::Receiver<Settlement>,
}

impl DeliveryProbe {
    /// Waits until the delivery is settled (or dropped). Wrap it in a timeout if the code under
    /// test may never take the delivery.
    pub async fn settled(self) -> Settlement {
        self.rx.await.unwrap_or(Settlement::Dropped)
    }

    /// The settlement if it already happened.
    pub fn try_settled(&mut self) -> Option<Settlement> {
        match self.rx.try_recv() {
            Ok(s) => Some(s),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Settlement::Dropped),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    published: Notify,
    subscribed: Notify,
}

#[derive(Debug)]
struct Sub {
    options: SubscribeOptions,
    tx: mpsc::UnboundedSender<Item>,
}

#[derive(Debug, Default)]
struct State {
    published: Vec<KeptnEvent>,
    fail_publish: VecDeque<TransportErrorKind>,
    fail_subscribe: VecDeque<TransportErrorKind>,
    subscriptions: Vec<Sub>,
    subscribe_log: Vec<SubscribeOptions>,
    round_robin: HashMap<String, usize>,
    waiting: Vec<(String, Item)>,
    closed: bool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Hands `item` to the matching subscriptions; returns it if none matches.
    fn route(&mut self, subject: &str, item: Item) -> Option<Item> {
        self.subscriptions.retain(|s| !s.tx.is_closed());
        let matching: Vec<usize> = (0..self.subscriptions.len())
            .filter(|i| self.subscriptions[*i].options.pattern.matches(subject))
            .collect();
        if matching.is_empty() {
            return Some(item);
        }
        // Deliveries cannot be cloned (each has one acknowledger), so an event goes to one
        // subscription: the first without a group, or the next member of the first group.
        let first = matching[0];
        let target = match self.subscriptions[first].options.queue_group.clone() {
            None => first,
            Some(group) => {
                let members: Vec<usize> = matching
                    .iter()
                    .copied()
                    .filter(|i| {
                        self.subscriptions[*i].options.queue_group.as_deref() == Some(&group)
                    })
                    .collect();
                let counter = self.round_robin.entry(group).or_insert(0);
                let pick = members[*counter % members.len()];
                *counter += 1;
                pick
            }
        };
        match self.subscriptions[target].tx.send(item) {
            Ok(()) => None,
            Err(mpsc::error::SendError(item)) => Some(item),
        }
    }
}

impl MockTransport {
    /// A mock transport and its handle.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (MockTransport, MockHandle) {
        let inner = Arc::new(Inner::default());
        (
            MockTransport {
                inner: Arc::clone(&inner),
            },
            MockHandle { inner, cursor: 0 },
        )
    }
}

#[async_trait]
impl Transport for MockTransport {
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        {
            let mut state = self.inner.lock();
            if let Some(kind) = state.fail_publish.pop_front() {
                return Err(TransportError::new(
                    kind,
                    format!("injected failure publishing event {}", event.id),
                ));
            }
            state.published.push(event.clone());
        }
        self.inner.published.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError> {
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut state = self.inner.lock();
            if let Some(kind) = state.fail_subscribe.pop_front() {
                return Err(TransportError::new(
                    kind,
                    format!("injected failure subscribing to {}", options.pattern),
                ));
            }
            if state.closed {
                return Err(TransportError::new(
                    TransportErrorKind::Closed,
                    "the mock transport is closed",
                ));
            }
            state.subscribe_log.push(options.clone());
            state.subscriptions.push(Sub { options, tx });
            let waiting = std::mem::take(&mut state.waiting);
            for (subject, item) in waiting {
                if let Some(item) = state.route(&subject, item) {
                    state.waiting.push((subject, item));
                }
            }
        }
        self.inner.subscribed.notify_waiters();
        Ok(Subscription::new(UnboundedReceiverStream::new(rx)))
    }
}

impl MockHandle {
    /// Delivers `event` (first attempt) to the matching subscription, or to the first matching
    /// subscription made later. The probe tells how it was settled.
    pub fn inject(&self, event: KeptnEvent) -> DeliveryProbe {
        self.inject_attempt(event, 1)
    }

    /// Like [`MockHandle::inject`], as the `attempt`-th delivery (a redelivery when above 1).
    pub fn inject_attempt(&self, event: KeptnEvent, attempt: u32) -> DeliveryProbe {
        let (tx, rx) = oneshot::channel();
        let subject = event.type_string();
        let acker = MockAcker { tx: Some(tx) };
        self.route(subject, Ok(Delivery::new(event, attempt, Box::new(acker))));
        DeliveryProbe { rx }
    }

    /// Delivers raw bytes as a transport would: a valid event becomes a delivery (and a probe is
    /// returned), anything else an error item on the stream.
    pub fn inject_json(&self, subject: &str, bytes: &[u8]) -> Option<DeliveryProbe> {
        match KeptnEvent::from_json(bytes) {
            Ok(event) => Some(self.inject(event)),
            Err(source) => {
                let error = DeliveryError {
                    subject: subject.to_owned(),
                    source,
                };
                self.route(subject.to_owned(), Err(error));
                None
            }
        }
    }

    fn route(&self, subject: String, item: Item) {
        let mut state = self.inner.lock();
        if let Some(item) = state.route(&subject, item) {
            state.waiting.push((subject, item));
        }
    }

    /// Waits for the next event published since the last call, in publish order. Wrap it in a
    /// timeout: it waits as long as nothing is published.
    pub async fn next_published(&mut self) -> KeptnEvent {
        let inner = Arc::clone(&self.inner);
        loop {
            let notified = inner.published.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(event) = self.try_next_published() {
                return event;
            }
            notified.await;
        }
    }

    /// The next event published since the last read, if there is one.
    pub fn try_next_published(&mut self) -> Option<KeptnEvent> {
        let state = self.inner.lock();
        let event = state.published.get(self.cursor).cloned();
        if event.is_some() {
            self.cursor += 1;
        }
        event
    }

    /// Every event published so far (whether or not it was read with `next_published`).
    pub fn published(&self) -> Vec<KeptnEvent> {
        self.inner.lock().published.clone()
    }

    /// Makes the next publish fail with `kind` (calls queue up: two calls fail two publishes).
    pub fn fail_next_publish(&self, kind: TransportErrorKind) {
        self.inner.lock().fail_publish.push_back(kind);
    }

    /// Makes the next subscribe fail with `kind`.
    pub fn fail_next_subscribe(&self, kind: TransportErrorKind) {
        self.inner.lock().fail_subscribe.push_back(kind);
    }

    /// The options of every subscription made so far.
    pub fn subscriptions(&self) -> Vec<SubscribeOptions> {
        self.inner.lock().subscribe_log.clone()
    }

    /// Waits until at least `n` subscriptions were made.
    pub async fn wait_for_subscriptions(&self, n: usize) {
        loop {
            let notified = self.inner.subscribed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.inner.lock().subscribe_log.len() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Ends every subscription stream and makes further subscriptions fail, as a transport that
    /// shuts down.
    pub fn close(&self) {
        let mut state = self.inner.lock();
        state.closed = true;
        state.subscriptions.clear();
        state.waiting.clear();
    }
}

#[derive(Debug)]
struct MockAcker {
    tx: Option<oneshot::Sender<Settlement>>,
}

impl MockAcker {
    fn settle(&mut self, settlement: Settlement) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(settlement);
        }
    }
}

#[async_trait]
impl Acknowledger for MockAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), TransportError> {
        self.settle(Settlement::Acked);
        Ok(())
    }

    async fn nack(mut self: Box<Self>, delay: Option<Duration>) -> Result<(), TransportError> {
        self.settle(Settlement::Nacked(delay));
        Ok(())
    }
}

impl Drop for MockAcker {
    fn drop(&mut self) {
        self.settle(Settlement::Dropped);
    }
}
