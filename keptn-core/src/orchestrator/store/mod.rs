//! Durable orchestration state: the [`SequenceStore`] trait and its backends.
//!
//! Everything the controller must not forget lives here: sequence executions (with their open,
//! delayed or held task), the materialized views, pauses, the ids of the events already
//! processed, and an outbox of events to publish. A driver step writes all of it in one
//! [`Commit`], atomically, so that a crash at any point leaves either the state before the step
//! (the inputs are redelivered and processed again) or the state after it (the inputs are
//! recognised as processed, and the outbox still holds what must be published).
//!
//! | backend | feature | notes |
//! |---|---|---|
//! | [`MemorySequenceStore`] | always | tests and throw-away planes; lost on exit |
//! | `SqliteSequenceStore` | `sqlite` | the embedded default; in the shared `SqliteDb`, with the event store |
//! | `PgSequenceStore` | `postgres` | the distributed mode; in the shared `PgDb`, with the event store |
//!
//! The SQL backends are built on the database handle of the event store
//! ([`db`](crate::db)): `SqliteSequenceStore::new(db)`, `PgSequenceStore::new(db)`. Their tables
//! are the versioned migrations of the component `sequences`.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod row;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod schema;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::HashSet;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};

use super::core::RestoredState;
use super::model::{ExecutionState, PauseKey, SequenceExecution};
use super::view::SequenceState;

pub use memory::MemorySequenceStore;
#[cfg(feature = "postgres")]
pub use postgres::PgSequenceStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSequenceStore;

/// Everything one driver step changes. Applied atomically by [`SequenceStore::commit`].
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Executions to insert or replace (by id).
    pub executions: Vec<SequenceExecution>,
    /// Views to insert or replace (by project and Keptn context).
    pub views: Vec<SequenceState>,
    /// Pauses to set (`true`) or clear (`false`), in order.
    pub pauses: Vec<(PauseKey, bool)>,
    /// Events to append to the outbox, in publishing order. Their `seq` numbers are assigned by
    /// the caller and increase across commits (see [`SequenceStore::outbox_last_seq`]).
    pub outbox: Vec<OutboxEntry>,
    /// Remove the outbox entries up to this sequence number (they were published).
    pub outbox_published_up_to: Option<u64>,
    /// Ids of the events this step processed.
    pub processed: Vec<EventId>,
    /// When the step happened (the time recorded with the processed ids).
    pub at: DateTime<Utc>,
}

impl Commit {
    /// Whether the commit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
            && self.views.is_empty()
            && self.pauses.is_empty()
            && self.outbox.is_empty()
            && self.outbox_published_up_to.is_none()
            && self.processed.is_empty()
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Its position: entries are published in increasing order.
    pub seq: u64,
    /// The event.
    pub event: KeptnEvent,
}

/// Which executions to list. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Project.
    pub project: Option<String>,
    /// Stage.
    pub stage: Option<String>,
    /// Service.
    pub service: Option<String>,
    /// Sequence name.
    pub name: Option<String>,
    /// Keptn context.
    pub keptn_context: Option<KeptnContext>,
    /// Any of these states.
    pub states: Vec<ExecutionState>,
    /// The id of the current task's `.triggered` event.
    pub current_triggered_id: Option<EventId>,
    /// The id of the sequence's `.triggered` event.
    pub triggered_id: Option<EventId>,
    /// Only executions that are not over.
    pub active_only: bool,
}

/// Which sequence views to list (`GET /v1/sequence/{project}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewFilter {
    /// Name of the (first) sequence.
    pub name: Option<String>,
    /// Overall state.
    pub state: Option<ExecutionState>,
    /// Triggered at or after.
    pub from_time: Option<DateTime<Utc>>,
    /// Triggered before.
    pub before_time: Option<DateTime<Utc>>,
    /// Any of these contexts.
    pub keptn_contexts: Vec<KeptnContext>,
}

/// Which open task `.triggered` events to list (`GET /v1/event/triggered/{eventType}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggeredFilter {
    /// The task name (`deployment` for `sh.keptn.event.deployment.triggered`).
    pub task: Option<String>,
    /// The event id.
    pub event_id: Option<EventId>,
    /// Project.
    pub project: Option<String>,
    /// Stage.
    pub stage: Option<String>,
    /// Service.
    pub service: Option<String>,
}

/// A page request: `size` items from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page.
    pub size: u32,
    /// Items to skip.
    pub offset: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            size: 20,
            offset: 0,
        }
    }
}

/// A page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// How many items match in total.
    pub total_count: u64,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

impl<T> Page<T> {
    pub(crate) fn new(items: Vec<T>, total_count: u64, request: PageRequest) -> Self {
        let end = request.offset + items.len() as u64;
        Self {
            next_offset: (end < total_count).then_some(end),
            items,
            total_count,
        }
    }
}

/// The kind of a [`SequenceStoreError`]: what a caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SequenceStoreErrorKind {
    /// The database cannot be reached or refused the operation; retrying later may work.
    Unavailable,
    /// Stored data cannot be read back (written by an incompatible version, or damaged).
    Corrupt,
    /// Anything else.
    Other,
}

/// An error of a [`SequenceStore`].
#[derive(Debug, thiserror::Error)]
#[error("sequence store: {message}")]
pub struct SequenceStoreError {
    kind: SequenceStoreErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SequenceStoreError {
    /// A new error.
    pub fn new(kind: SequenceStoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> SequenceStoreErrorKind {
        self.kind
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<crate::db::DbError> for SequenceStoreError {
    fn from(err: crate::db::DbError) -> Self {
        use crate::db::DbError;
        let kind = match &err {
            DbError::MigrationChanged { .. } | DbError::SchemaTooNew { .. } => {
                SequenceStoreErrorKind::Corrupt
            }
            DbError::MigrationOrder { .. } => SequenceStoreErrorKind::Other,
            _ => SequenceStoreErrorKind::Unavailable,
        };
        Self::new(kind, "database failed").with_source(err)
    }
}

/// Durable orchestration state.
///
/// # Contract
/// - [`commit`](SequenceStore::commit) applies the whole [`Commit`] or nothing. Commits are
///   applied in call order; the controller is the only writer of its store (one active
///   controller per database).
/// - Executions are unique by id and by `triggered_id`; views by project and Keptn context.
/// - The outbox keeps entries under the `seq` their commit gave them and hands them out in
///   `seq` order; an entry stays until a commit removes it with `outbox_published_up_to`.
/// - Reads see every commit that returned before they started.
/// - "Absent" is `Ok(None)` or an empty list, never an error.
#[async_trait]
pub trait SequenceStore: Send + Sync + fmt::Debug + 'static {
    /// Applies a commit atomically. The commit is borrowed so that the caller can hand its
    /// outbox entries on once it is durable.
    async fn commit(&self, commit: &Commit) -> Result<(), SequenceStoreError>;

    /// What a restarting controller needs: the executions that are not over, every pause, and
    /// the views of the contexts of those executions.
    async fn load_active(&self) -> Result<RestoredState, SequenceStoreError>;

    /// Which of `ids` were processed by an earlier commit.
    async fn processed(&self, ids: &[EventId]) -> Result<HashSet<EventId>, SequenceStoreError>;

    /// Forgets processed ids recorded before `before`; returns how many.
    async fn prune_processed(&self, before: DateTime<Utc>) -> Result<u64, SequenceStoreError>;

    /// Up to `limit` outbox entries with `seq > after`, in order.
    async fn outbox(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, SequenceStoreError>;

    /// The highest `seq` in the outbox (0 when it is empty): new entries continue after it.
    async fn outbox_last_seq(&self) -> Result<u64, SequenceStoreError>;

    /// An execution by id.
    async fn execution(&self, id: &str) -> Result<Option<SequenceExecution>, SequenceStoreError>;

    /// Executions matching `filter`, oldest trigger first (the queue order).
    async fn executions(
        &self,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<SequenceExecution>, SequenceStoreError>;

    /// The view of a context.
    async fn view(
        &self,
        project: &str,
        context: &KeptnContext,
    ) -> Result<Option<SequenceState>, SequenceStoreError>;

    /// Views of a project matching `filter`, newest first.
    async fn views(
        &self,
        project: &str,
        filter: &ViewFilter,
        page: PageRequest,
    ) -> Result<Page<SequenceState>, SequenceStoreError>;

    /// The `.triggered` events of tasks that were sent and are not complete yet.
    async fn open_triggered_events(
        &self,
        filter: &TriggeredFilter,
        page: PageRequest,
    ) -> Result<Page<KeptnEvent>, SequenceStoreError>;

    /// Every pause.
    async fn pauses(&self) -> Result<Vec<PauseKey>, SequenceStoreError>;

    /// Housekeeping that must stay off the commit path. The controller calls it from a task of
    /// its own, now and then after commits; it may run while a commit is in progress. The
    /// default does nothing (the SQL backends' database handles checkpoint on their own).
    async fn maintain(&self) -> Result<(), SequenceStoreError> {
        Ok(())
    }
}

/// The queue of one project, stage and service: its executions that wait to start, oldest first.
pub fn queue_filter(project: &str, stage: &str, service: &str) -> ExecutionFilter {
    ExecutionFilter {
        project: Some(project.to_owned()),
        stage: Some(stage.to_owned()),
        service: Some(service.to_owned()),
        states: vec![ExecutionState::Triggered, ExecutionState::Waiting],
        active_only: true,
        ..ExecutionFilter::default()
    }
}

/// Whether an execution matches a filter (shared by the backends' in-memory checks and tests).
pub fn matches(filter: &ExecutionFilter, exec: &SequenceExecution) -> bool {
    filter.project.as_ref().is_none_or(|p| *p == exec.project)
        && filter.stage.as_ref().is_none_or(|s| *s == exec.stage)
        && filter.service.as_ref().is_none_or(|s| *s == exec.service)
        && filter
            .name
            .as_ref()
            .is_none_or(|n| n == exec.sequence_name())
        && filter
            .keptn_context
            .as_ref()
            .is_none_or(|c| *c == exec.keptn_context)
        && (filter.states.is_empty() || filter.states.contains(&exec.state))
        && filter.current_triggered_id.as_ref().is_none_or(|id| {
            exec.current_task
                .as_ref()
                .is_some_and(|t| t.triggered_id == *id)
        })
        && filter
            .triggered_id
            .as_ref()
            .is_none_or(|id| *id == exec.triggered_id)
        && (!filter.active_only || !exec.state.is_terminal())
}
