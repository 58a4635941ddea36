//! The outbox publisher: a task of its own that publishes committed events in order.
//!
//! It never runs on the consuming loop: the in-memory transport makes a publisher wait while a
//! subscriber's buffer is full, and the controller subscribes to its own events, so publishing
//! from the loop that empties that buffer could stop both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keptn_sdk::Transport;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::orchestrator::store::SequenceStore;

/// What the publisher and the consuming loop share.
#[derive(Debug, Default)]
pub(super) struct OutboxProgress {
    /// Woken after a commit added events to the outbox.
    pub(super) committed: Notify,
    /// Woken after events were published.
    pub(super) published: Notify,
    /// The `seq` of the last published outbox entry.
    pub(super) published_up_to: AtomicU64,
}

pub(super) struct Publisher {
    pub(super) store: Arc<dyn SequenceStore>,
    pub(super) transport: Arc<dyn Transport>,
    pub(super) progress: Arc<OutboxProgress>,
    pub(super) batch: usize,
}

impl Publisher {
    /// Publishes until `stop` is cancelled and the outbox is empty (or `stop` was cancelled
    /// and publishing fails).
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut last = self.progress.published_up_to.load(Ordering::Acquire);
        let mut backoff = Duration::from_millis(50);
        loop {
            // Register interest before reading, so a commit between the read and the wait is
            // not missed.
            let committed = self.progress.committed.notified();
            let entries = match self.store.outbox(last, self.batch).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox; retrying");
                    if stop.is_cancelled() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if entries.is_empty() {
                if stop.is_cancelled() {
                    return;
                }
                tokio::select! {
                    () = committed => {}
                    () = stop.cancelled() => {}
                }
                continue;
            }
            for entry in entries {
                loop {
                    match self.transport.publish(&entry.event).await {
                        Ok(()) => {
                            backoff = Duration::from_millis(50);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(
                                error = %e, event_id = %entry.event.id,
                                event_type = %entry.event.event_type,
                                "cannot publish an outbox event; retrying"
                            );
                            if stop.is_cancelled() {
                                return;
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
                last = entry.seq;
                self.progress.published_up_to.store(last, Ordering::Release);
            }
            self.progress.published.notify_one();
        }
    }
}
