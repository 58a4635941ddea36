//! The durable in-process bus of the embedded control plane.
//!
//! [`DurableBus`] is a [`Transport`] for one process that survives a crash: `publish` returns
//! only once the event is in the [`EventLog`] (on SQLite, the event store itself), and every
//! durable consumer (a subscription with a queue group) keeps its position in the log, so after a
//! restart it receives exactly the events it had not acknowledged. This is what lets the
//! embedded control plane keep the promise that an accepted event is neither lost nor acted on
//! twice, without a broker process. The distributed mode uses NATS JetStream instead; both are
//! `Transport`s, so components do not know which one they run on. See
//! `docs/adr/0001-embedded-durable-bus.md`.
//!
//! # Delivery
//! - Publishes are appended by one task in batches (group commit), in order; an event whose id is
//!   already in the log is not appended or delivered again (de-duplication by event id).
//! - A subscription with a queue group is a durable consumer named after the group: members of
//!   the group share its events (round robin); its position is stored when deliveries are
//!   acknowledged, and `ack` returns once the position is stored. A group seen for the first time
//!   starts at the end of the log (it receives events published from then on).
//! - A subscription without a queue group is ephemeral: it starts at the end of the log and its
//!   position is not stored.
//! - Nacked deliveries, and deliveries dropped without an answer, are delivered again.
//! - Delivery is at-least-once: after a crash, events delivered but not yet acknowledged come
//!   again.
//! - When a member's buffer is full, its group waits; publishers never wait for consumers.

mod group;
mod log;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use keptn_sdk::KeptnEvent;
use keptn_sdk::transport::{
    SubscribeOptions, Subscription, Transport, TransportError, TransportErrorKind,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use log::{ConsumerPosition, EventLog, LogError, MemoryEventLog};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteEventLog;

use group::Group;

/// Settings of a [`DurableBus`].
#[derive(Debug, Clone)]
pub struct DurableBusConfig {
    /// How many recent events are kept in memory for consumers (older ones are read from the
    /// log). Default 2048.
    pub ring_capacity: usize,
    /// The most events appended in one batch. Default 512.
    pub append_batch: usize,
    /// The most events read from the log at once by a consumer that is behind. Default 512.
    pub read_batch: usize,
    /// Capacity of each subscription's buffer. Default 1024.
    pub channel_capacity: usize,
}

impl Default for DurableBusConfig {
    fn default() -> Self {
        Self {
            ring_capacity: 2048,
            append_batch: 512,
            read_batch: 512,
            channel_capacity: 1024,
        }
    }
}

/// An event in memory with its sequence number and subject.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) subject: Arc<str>,
    pub(crate) event: Arc<KeptnEvent>,
}

impl Entry {
    fn new(seq: u64, event: KeptnEvent) -> Self {
        Self {
            seq,
            subject: event.type_string().into(),
            event: Arc::new(event),
        }
    }
}

/// Recent events, contiguous from `floor` up to the latest appended sequence number.
#[derive(Debug)]
struct Ring {
    entries: VecDeque<Entry>,
    floor: u64,
    capacity: usize,
}

impl Ring {
    /// Entries with `seq >= from`, at most `limit`; `None` when `from` is below the window.
    fn read_from(&self, from: u64, limit: usize) -> Option<Vec<Entry>> {
        if from < self.floor {
            return None;
        }
        let start = self.entries.partition_point(|e| e.seq < from);
        Some(
            self.entries
                .iter()
                .skip(start)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    fn push(&mut self, entry: Entry) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
            self.floor = self.entries.front().map_or(entry.seq, |e| e.seq);
        }
        self.entries.push_back(entry);
    }
}

type AppendRequest = (KeptnEvent, oneshot::Sender<Result<Option<u64>, String>>);

pub(crate) struct Inner {
    log: Arc<dyn EventLog>,
    config: DurableBusConfig,
    append_tx: mpsc::Sender<AppendRequest>,
    ring: Mutex<Ring>,
    latest: watch::Sender<u64>,
    groups: tokio::sync::Mutex<HashMap<String, Arc<Group>>>,
    next_ephemeral: std::sync::atomic::AtomicU64,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableBus")
            .field("log", &self.log)
            .field("latest", &*self.latest.borrow())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Up to `limit` entries with a sequence number of at least `from`, from memory when they are
    /// still there, else from the log.
    pub(crate) async fn read_from(&self, from: u64, limit: usize) -> Result<Vec<Entry>, LogError> {
        if let Some(entries) = self.ring().read_from(from, limit) {
            return Ok(entries);
        }
        let events = self.log.read_after(from.saturating_sub(1), limit).await?;
        Ok(events.into_iter().map(|(s, e)| Entry::new(s, e)).collect())
    }
}

/// The durable in-process bus; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct DurableBus {
    inner: Arc<Inner>,
}

impl DurableBus {
    /// Opens the bus on `log`: consumers resume from their stored positions.
    pub async fn open(log: Arc<dyn EventLog>, config: DurableBusConfig) -> Result<Self, LogError> {
        let last = log.last_seq().await?;
        let (append_tx, append_rx) = mpsc::channel(config.append_batch.max(1) * 4);
        let (latest, _) = watch::channel(last);
        let inner = Arc::new(Inner {
            log,
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                floor: last + 1,
                capacity: config.ring_capacity.max(1),
            }),
            config,
            append_tx,
            latest,
            groups: tokio::sync::Mutex::new(HashMap::new()),
            next_ephemeral: std::sync::atomic::AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        inner.tasks.spawn(append_loop(
            Arc::downgrade(&inner),
            append_rx,
            inner.shutdown.clone(),
        ));
        Ok(Self { inner })
    }

    /// The highest sequence number appended.
    pub fn latest_seq(&self) -> u64 {
        *self.inner.latest.borrow()
    }

    /// Stops every task of the bus after storing consumer positions; subscriptions end.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

async fn append_loop(
    inner: std::sync::Weak<Inner>,
    mut rx: mpsc::Receiver<AppendRequest>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            request = rx.recv() => match request {
                Some(r) => r,
                None => return,
            },
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < inner.config.append_batch {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (events, replies): (Vec<KeptnEvent>, Vec<_>) = batch.into_iter().unzip();
        match inner.log.append(&events).await {
            Ok(seqs) => {
                let mut max = None;
                {
                    let mut ring = inner.ring();
                    for (event, seq) in events.into_iter().zip(&seqs) {
                        if let Some(seq) = seq {
                            ring.push(Entry::new(*seq, event));
                            max = Some(*seq);
                        }
                    }
                }
                if let Some(max) = max {
                    inner.latest.send_if_modified(|latest| {
                        let changed = max > *latest;
                        *latest = (*latest).max(max);
                        changed
                    });
                }
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(err) => {
                let message = format!("{err}: {}", error_chain(&err));
                tracing::error!(error = %message, events = replies.len(), "appending to the event log failed");
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

fn closed() -> TransportError {
    TransportError::new(TransportErrorKind::Closed, "the durable bus is shut down")
}

#[async_trait]
impl Transport for DurableBus {
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(closed());
        }
        self.inner.log.admit(event).map_err(|e| {
            TransportError::with_source(
                TransportErrorKind::Publish,
                format!("event {} was refused", event.id),
                e,
            )
        })?;
        let (tx, rx) = oneshot::channel();
        self.inner
            .append_tx
            .send((event.clone(), tx))
            .await
            .map_err(|_| closed())?;
        match rx.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(message)) => Err(TransportError::new(
                TransportErrorKind::Publish,
                format!("event {} was not stored: {message}", event.id),
            )),
            Err(_) => Err(closed()),
        }
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(closed());
        }
        let (name, durable) = match &options.queue_group {
            Some(group) => (group.clone(), true),
            None => {
                let n = self
                    .inner
                    .next_ephemeral
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (format!("_ephemeral.{n}"), false)
            }
        };
        let mut groups = self.inner.groups.lock().await;
        match groups.get(&name) {
            Some(group) => {
                if group.pattern() != &options.pattern {
                    return Err(TransportError::new(
                        TransportErrorKind::Subscribe,
                        format!(
                            "queue group {name} already consumes {}, not {}",
                            group.pattern(),
                            options.pattern
                        ),
                    ));
                }
                Ok(group.add_member(self.inner.config.channel_capacity))
            }
            None => {
                let group = Group::start(&self.inner, name.clone(), options.pattern, durable)
                    .await
                    .map_err(|e| {
                        TransportError::with_source(
                            TransportErrorKind::Subscribe,
                            format!("loading the position of consumer {name}"),
                            e,
                        )
                    })?;
                let subscription = group.add_member(self.inner.config.channel_capacity);
                group.spawn_tasks(&self.inner);
                groups.insert(name, group);
                Ok(subscription)
            }
        }
    }
}

#[cfg(test)]
mod tests;
