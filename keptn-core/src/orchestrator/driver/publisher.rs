//! The outbox publisher: a task of its own that publishes committed events in order.
//!
//! It never runs on the consuming loop: the in-memory transport makes a publisher wait while a
//! subscriber's buffer is full, and the controller subscribes to its own events, so publishing
//! from the loop that empties that buffer could stop both.
//!
//! Committed events reach the publisher two ways. Normally the loop hands them over in memory
//! after their commit ([`OutboxProgress::committed`]), so nothing is read back from the store.
//! When that queue is full, or after a start, the loop stops handing over and the publisher
//! reads the store's outbox instead, up to the last committed entry, then switches back. Either
//! way events go out in `seq` order, and an entry leaves the outbox only after it was published.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keptn_sdk::Transport;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::orchestrator::store::{OutboxEntry, SequenceStore};

/// Committed entries waiting in memory; beyond this the publisher reads the store instead.
const QUEUE_LIMIT: usize = 16_384;

#[derive(Debug)]
struct Queue {
    entries: VecDeque<OutboxEntry>,
    /// Committed entries exist that are not in `entries`: read the store up to
    /// `committed_up_to` before taking from memory again.
    from_store: bool,
    committed_up_to: u64,
}

/// What the publisher and the consuming loop share.
#[derive(Debug)]
pub(super) struct OutboxProgress {
    queue: Mutex<Queue>,
    limit: usize,
    /// Woken after a commit added events to the outbox.
    wake: Notify,
    /// Woken after events were published.
    pub(super) published: Notify,
    /// The `seq` of the last published outbox entry.
    pub(super) published_up_to: AtomicU64,
}

impl Default for OutboxProgress {
    fn default() -> Self {
        Self::with_limit(QUEUE_LIMIT)
    }
}

impl OutboxProgress {
    fn with_limit(limit: usize) -> Self {
        Self {
            limit,
            queue: Mutex::new(Queue {
                entries: VecDeque::new(),
                // At start the store may hold entries of an earlier run.
                from_store: true,
                committed_up_to: 0,
            }),
            wake: Notify::new(),
            published: Notify::new(),
            published_up_to: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue stays consistent under a poisoned lock: every change is a single step.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands over the entries of a commit that just succeeded (`last_seq`: the highest seq the
    /// store now holds).
    pub(super) fn committed(&self, entries: Vec<OutboxEntry>, last_seq: u64) {
        {
            let mut queue = self.lock();
            queue.committed_up_to = queue.committed_up_to.max(last_seq);
            if !queue.from_store && queue.entries.len() + entries.len() <= self.limit {
                queue.entries.extend(entries);
            } else {
                queue.from_store = true;
            }
        }
        self.wake.notify_one();
    }
}

enum Source {
    Memory(Vec<OutboxEntry>),
    Store { up_to: u64 },
    Idle,
}

pub(super) struct Publisher {
    pub(super) store: Arc<dyn SequenceStore>,
    pub(super) transport: Arc<dyn Transport>,
    pub(super) progress: Arc<OutboxProgress>,
    pub(super) batch: usize,
}

impl Publisher {
    /// Publishes until `stop` is cancelled and nothing committed is left to publish (or `stop`
    /// was cancelled and publishing fails).
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut last = self.progress.published_up_to.load(Ordering::Acquire);
        loop {
            // Register interest before looking, so a hand-over in between is not missed.
            let wake = self.progress.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let source = {
                let mut queue = self.progress.lock();
                if !queue.entries.is_empty() {
                    let n = queue.entries.len().min(self.batch);
                    Source::Memory(queue.entries.drain(..n).collect())
                } else if queue.from_store {
                    queue.from_store = false;
                    Source::Store {
                        up_to: queue.committed_up_to,
                    }
                } else {
                    Source::Idle
                }
            };
            match source {
                Source::Memory(entries) => {
                    if !self.publish_all(entries, &mut last, &stop).await {
                        return;
                    }
                }
                Source::Store { up_to } => {
                    if !self.catch_up(up_to, &mut last, &stop).await {
                        return;
                    }
                }
                Source::Idle => {
                    if stop.is_cancelled() {
                        return;
                    }
                    tokio::select! {
                        () = wake => {}
                        () = stop.cancelled() => {}
                    }
                }
            }
        }
    }

    /// Publishes the store's entries after `last` up to `up_to`.
    async fn catch_up(&self, up_to: u64, last: &mut u64, stop: &CancellationToken) -> bool {
        let mut backoff = Duration::from_millis(50);
        while *last < up_to {
            let entries = match self.store.outbox(*last, self.batch).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox; retrying");
                    if stop.is_cancelled() {
                        return false;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let entries: Vec<OutboxEntry> =
                entries.into_iter().filter(|e| e.seq <= up_to).collect();
            if entries.is_empty() {
                break;
            }
            if !self.publish_all(entries, last, stop).await {
                return false;
            }
        }
        true
    }

    /// Publishes entries in order (skipping any already published); `false` when stopping made
    /// it give up.
    async fn publish_all(
        &self,
        entries: Vec<OutboxEntry>,
        last: &mut u64,
        stop: &CancellationToken,
    ) -> bool {
        let mut backoff = Duration::from_millis(50);
        for entry in entries {
            if entry.seq <= *last {
                continue;
            }
            loop {
                match self.transport.publish(&entry.event).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(
                            error = %e, event_id = %entry.event.id,
                            event_type = %entry.event.event_type,
                            "cannot publish an outbox event; retrying"
                        );
                        if stop.is_cancelled() {
                            return false;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            *last = entry.seq;
            self.progress
                .published_up_to
                .store(*last, Ordering::Release);
        }
        self.progress.published.notify_one();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::store::{Commit, MemorySequenceStore};
    use futures::StreamExt;
    use keptn_sdk::event::{EventType, KeptnEvent, Phase};
    use keptn_sdk::transport::{MemoryTransport, SubjectPattern, SubscribeOptions};

    fn entry(seq: u64) -> OutboxEntry {
        let event = KeptnEvent::builder(EventType::task(format!("task{seq}"), Phase::Triggered))
            .source("test")
            .build()
            .unwrap();
        OutboxEntry { seq, event }
    }

    async fn commit(
        store: &MemorySequenceStore,
        progress: &OutboxProgress,
        seqs: std::ops::RangeInclusive<u64>,
    ) {
        let entries: Vec<OutboxEntry> = seqs.map(entry).collect();
        let last = entries.last().map_or(0, |e| e.seq);
        store
            .commit(&Commit {
                outbox: entries.clone(),
                ..Commit::default()
            })
            .await
            .unwrap();
        progress.committed(entries, last);
    }

    #[tokio::test]
    async fn events_go_out_once_in_order_from_memory_and_from_the_store() {
        let store = MemorySequenceStore::new();
        let transport = MemoryTransport::default();
        let mut received = transport
            .subscribe(SubscribeOptions::new(
                SubjectPattern::new("sh.keptn.>").unwrap(),
            ))
            .await
            .unwrap();
        let progress = Arc::new(OutboxProgress::with_limit(2));
        // Left over from an earlier run: read from the store.
        commit(&store, &progress, 1..=3).await;
        let stop = CancellationToken::new();
        let publisher = tokio::spawn(
            Publisher {
                store: Arc::new(store.clone()),
                transport: Arc::new(transport.clone()),
                progress: Arc::clone(&progress),
                batch: 2,
            }
            .run(stop.clone()),
        );
        let mut types = Vec::new();
        for _ in 0..3 {
            let d = received.next().await.unwrap().unwrap();
            types.push(d.event().type_string());
            d.ack().await.unwrap();
        }
        // Fits the queue: handed over in memory.
        commit(&store, &progress, 4..=5).await;
        // Does not fit: read back from the store.
        commit(&store, &progress, 6..=8).await;
        commit(&store, &progress, 9..=9).await;
        while types.len() < 9 {
            let d = received.next().await.unwrap().unwrap();
            types.push(d.event().type_string());
            d.ack().await.unwrap();
        }
        let wanted: Vec<String> = (1..=9)
            .map(|i| format!("sh.keptn.event.task{i}.triggered"))
            .collect();
        assert_eq!(types, wanted);
        assert_eq!(progress.published_up_to.load(Ordering::Acquire), 9);
        stop.cancel();
        publisher.await.unwrap();
        transport.close();
        let rest: Vec<_> = received.collect().await;
        assert!(rest.is_empty(), "nothing is published twice");
    }
}
