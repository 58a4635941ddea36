//! The storage behind the durable bus: an append-only event log and consumer cursors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use keptn_sdk::KeptnEvent;

/// A log storage failure.
#[derive(Debug, thiserror::Error)]
#[error("event log {operation} failed")]
pub struct LogError {
    operation: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl LogError {
    /// A failure of `operation` caused by `source`.
    pub fn new(
        operation: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }
}

/// Where a durable consumer stands: every matching event up to `cursor` is settled, and so are
/// the events in `acked` (all above `cursor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerPosition {
    /// Every event with a sequence number up to this one is settled.
    pub cursor: u64,
    /// Settled events above the cursor.
    pub acked: BTreeSet<u64>,
}

/// Durable storage of the bus.
///
/// # Contract
/// - `append` stores a batch atomically (all or nothing) and assigns each new event the next
///   sequence number, in order; an event whose id is already in the log is not stored again and
///   gets `None`. Once `append` returns, the events survive a crash of the process.
/// - Sequence numbers only grow; they may have gaps (events of a deleted project disappear).
/// - `read_after` returns stored events in sequence order.
/// - Consumer positions are stored durably by `save_consumer`; `save_consumer` sets the cursor,
///   adds `newly_acked` and forgets acknowledgements at or below the cursor.
#[async_trait]
pub trait EventLog: Send + Sync + fmt::Debug + 'static {
    /// Checks that `event` can be appended, before it joins a batch: an event refused here
    /// fails only its own publish, never the batch it would have been appended with. The
    /// default admits every event.
    fn admit(&self, event: &KeptnEvent) -> Result<(), LogError> {
        let _ = event;
        Ok(())
    }

    /// Appends a batch; see the contract.
    async fn append(&self, events: &[KeptnEvent]) -> Result<Vec<Option<u64>>, LogError>;

    /// Up to `limit` events with a sequence number above `after`, in order.
    async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, KeptnEvent)>, LogError>;

    /// The highest sequence number assigned so far (0 for an empty log).
    async fn last_seq(&self) -> Result<u64, LogError>;

    /// The stored position of consumer `name`, or `None` for a consumer never seen.
    async fn load_consumer(&self, name: &str) -> Result<Option<ConsumerPosition>, LogError>;

    /// Stores consumer `name`'s progress; see the contract.
    async fn save_consumer(
        &self,
        name: &str,
        cursor: u64,
        newly_acked: &[u64],
    ) -> Result<(), LogError>;
}

/// An [`EventLog`] in memory, for tests and for an embedded bus that need not survive restarts.
#[derive(Debug, Default)]
pub struct MemoryEventLog {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    events: BTreeMap<u64, KeptnEvent>,
    ids: HashMap<String, u64>,
    last: u64,
    consumers: HashMap<String, ConsumerPosition>,
}

impl MemoryEventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn append(&self, events: &[KeptnEvent]) -> Result<Vec<Option<u64>>, LogError> {
        let mut state = self.lock();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            if state.ids.contains_key(event.id.as_str()) {
                out.push(None);
                continue;
            }
            state.last += 1;
            let seq = state.last;
            state.ids.insert(event.id.as_str().to_owned(), seq);
            state.events.insert(seq, event.clone());
            out.push(Some(seq));
        }
        Ok(out)
    }

    async fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, KeptnEvent)>, LogError> {
        let state = self.lock();
        Ok(state
            .events
            .range(after + 1..)
            .take(limit)
            .map(|(s, e)| (*s, e.clone()))
            .collect())
    }

    async fn last_seq(&self) -> Result<u64, LogError> {
        Ok(self.lock().last)
    }

    async fn load_consumer(&self, name: &str) -> Result<Option<ConsumerPosition>, LogError> {
        Ok(self.lock().consumers.get(name).cloned())
    }

    async fn save_consumer(
        &self,
        name: &str,
        cursor: u64,
        newly_acked: &[u64],
    ) -> Result<(), LogError> {
        let mut state = self.lock();
        let position = state.consumers.entry(name.to_owned()).or_default();
        position.cursor = cursor;
        position.acked.extend(newly_acked.iter().copied());
        position.acked = position.acked.split_off(&(cursor + 1));
        Ok(())
    }
}
