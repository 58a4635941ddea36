//! The in-process transport.
//!
//! Each subscription owns a bounded channel. `publish` hands the event to every matching
//! subscription without a queue group, and to one member (round robin) of every matching queue
//! group. When a subscriber's channel is full, `publish` waits until there is room: events are
//! never dropped silently. A consequence worth knowing: a task that publishes events which it also
//! consumes must not do both on one loop, or a full channel stops it; publish from another task.
//!
//! Delivery is at-least-once while the process lives: a delivery that is nacked, or dropped
//! without being acknowledged, is delivered again (to the same subscription, or for a queue
//! group to any live member). Nothing survives the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    Acknowledger, Delivery, DeliveryError, SubjectPattern, SubscribeOptions, Subscription,
    Transport, TransportError, TransportErrorKind,
};
use crate::event::KeptnEvent;

/// Settings of a [`MemoryTransport`].
#[derive(Debug, Clone)]
pub struct MemoryTransportConfig {
    /// Capacity of each subscription's channel (default 1024).
    pub channel_capacity: usize,
}

impl Default for MemoryTransportConfig {
    fn default() -> Self {
        Self {
            channel_capacity: 1024,
        }
    }
}

type Item = Result<Delivery, DeliveryError>;

#[derive(Debug)]
struct Subscriber {
    id: u64,
    pattern: SubjectPattern,
    group: Option<String>,
    tx: mpsc::Sender<Item>,
}

#[derive(Debug, Default)]
struct State {
    subscribers: Vec<Subscriber>,
    round_robin: HashMap<String, usize>,
}

#[derive(Debug)]
struct Inner {
    config: MemoryTransportConfig,
    state: Mutex<State>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

/// Where a delivery goes again when it is nacked.
#[derive(Debug, Clone)]
enum Target {
    Subscriber(u64),
    Group(String),
}

/// An in-process [`Transport`]; clones share the same bus.
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
}

impl Default for MemoryTransport {
    fn default() -> Self {
        Self::new(MemoryTransportConfig::default())
    }
}

impl MemoryTransport {
    /// A new bus.
    pub fn new(config: MemoryTransportConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Ends every subscription stream and refuses further publishes and subscriptions.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.lock().subscribers.clear();
    }

    /// Publishes `event` and returns to how many subscriptions (counting a queue group once) it
    /// was handed.
    pub(crate) async fn publish_routed(&self, event: &KeptnEvent) -> Result<usize, TransportError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(TransportError::new(
                TransportErrorKind::Closed,
                "the in-memory transport is closed",
            ));
        }
        let subject = event.type_string();
        let routes = self.inner.route(&subject);
        let count = routes.len();
        if count == 0 {
            return Ok(0);
        }
        let event = Arc::new(event.clone());
        for (target, tx) in routes {
            deliver(&self.inner, target, tx, Arc::clone(&event), 1).await;
        }
        Ok(count)
    }

    /// The number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        let mut state = self.inner.lock();
        state.subscribers.retain(|s| !s.tx.is_closed());
        state.subscribers.len()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves the subscriber list intact; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The channels an event on `subject` goes to now.
    fn route(&self, subject: &str) -> Vec<(Target, mpsc::Sender<Item>)> {
        let mut state = self.lock();
        state.subscribers.retain(|s| !s.tx.is_closed());
        let mut routes = Vec::new();
        let mut groups: Vec<&str> = Vec::new();
        for sub in &state.subscribers {
            if !sub.pattern.matches(subject) {
                continue;
            }
            match &sub.group {
                None => routes.push((Target::Subscriber(sub.id), sub.tx.clone())),
                Some(g) if !groups.contains(&g.as_str()) => groups.push(g),
                Some(_) => {}
            }
        }
        let groups: Vec<String> = groups.into_iter().map(str::to_owned).collect();
        for group in groups {
            if let Some(tx) = pick_member(&mut state, &group, Some(subject)) {
                routes.push((Target::Group(group), tx));
            }
        }
        routes
    }

    fn target_sender(&self, target: &Target) -> Option<mpsc::Sender<Item>> {
        let mut state = self.lock();
        match target {
            Target::Subscriber(id) => state
                .subscribers
                .iter()
                .find(|s| s.id == *id && !s.tx.is_closed())
                .map(|s| s.tx.clone()),
            Target::Group(group) => pick_member(&mut state, group, None),
        }
    }
}

/// Picks the next live member of `group` (round robin) whose pattern matches `subject`.
fn pick_member(
    state: &mut State,
    group: &str,
    subject: Option<&str>,
) -> Option<mpsc::Sender<Item>> {
    let members: Vec<&Subscriber> = state
        .subscribers
        .iter()
        .filter(|s| s.group.as_deref() == Some(group) && !s.tx.is_closed())
        .filter(|s| subject.is_none_or(|subj| s.pattern.matches(subj)))
        .collect();
    if members.is_empty() {
        return None;
    }
    let tx = {
        let counter = state.round_robin.get(group).copied().unwrap_or(0);
        members[counter % members.len()].tx.clone()
    };
    *state.round_robin.entry(group.to_owned()).or_insert(0) += 1;
    Some(tx)
}

async fn deliver(
    inner: &Arc<Inner>,
    target: Target,
    tx: mpsc::Sender<Item>,
    event: Arc<KeptnEvent>,
    attempt: u32,
) {
    let acker = MemoryAcker {
        inner: Arc::clone(inner),
        target,
        event: Arc::clone(&event),
        attempt,
        settled: false,
    };
    let delivery = Delivery::new((*event).clone(), attempt, Box::new(acker));
    // If the subscriber went away since routing, the unsent delivery is dropped here and its
    // unsettled acker routes the event again (to another group member, or nowhere).
    let _ = tx.send(Ok(delivery)).await;
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        self.publish_routed(event).await.map(|_| ())
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(TransportError::new(
                TransportErrorKind::Closed,
                "the in-memory transport is closed",
            ));
        }
        let (tx, rx) = mpsc::channel(self.inner.config.channel_capacity.max(1));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.lock().subscribers.push(Subscriber {
            id,
            pattern: options.pattern,
            group: options.queue_group,
            tx,
        });
        Ok(Subscription::new(ReceiverStream::new(rx)))
    }
}

#[derive(Debug)]
struct MemoryAcker {
    inner: Arc<Inner>,
    target: Target,
    event: Arc<KeptnEvent>,
    attempt: u32,
    settled: bool,
}

impl MemoryAcker {
    fn redeliver(&mut self, delay: Option<Duration>) {
        self.settled = true;
        if self.inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        let target = self.target.clone();
        let event = Arc::clone(&self.event);
        let attempt = self.attempt.saturating_add(1);
        handle.spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(tx) = inner.target_sender(&target) {
                deliver(&inner, target, tx, event, attempt).await;
            }
        });
    }
}

#[async_trait]
impl Acknowledger for MemoryAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), TransportError> {
        self.settled = true;
        Ok(())
    }

    async fn nack(mut self: Box<Self>, delay: Option<Duration>) -> Result<(), TransportError> {
        self.redeliver(delay);
        Ok(())
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        if !self.settled {
            self.redeliver(None);
        }
    }
}
