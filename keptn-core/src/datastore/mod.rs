//! The event store: every Keptn event, stored once, queried the way the original
//! mongodb-datastore answered `GET /event` and `GET /event/type/{eventType}`.
//!
//! [`EventStore`] is the trait; the backends translate the shared query types into their
//! language:
//!
//! | backend | feature | for |
//! |---|---|---|
//! | [`MemoryEventStore`] | always | tests, embedding, small setups (linear scans) |
//! | `SqliteEventStore` | `sqlite` | the embedded default: one file, WAL, one writer with group commit |
//! | `PgEventStore` | `postgres` | the distributed mode |
//! | `MongoEventStore` | `mongodb` | reading and writing an existing Keptn MongoDB datastore |
//!
//! Behaviour every backend shares (the `conformance` suite checks it, feature `testing`):
//!
//! - **Idempotent inserts.** Events are delivered at least once; inserting an event whose id is
//!   stored already changes nothing and answers [`InsertOutcome::Duplicate`]. A batch is written
//!   in one transaction (SQL backends) and answers one outcome per event; an id repeated inside a
//!   batch is a duplicate of its first occurrence.
//! - **Stored as given, minus `data.eventContext`.** The original API injected
//!   `data.eventContext` (a context and a token); it is removed, every other field is kept.
//! - **Root events.** The root of a Keptn context is its earliest event (by `time`) among those
//!   that carry `data.project`; it is maintained on insert, so `root` queries are index lookups.
//! - **Invalidated evaluations.** An event whose type ends in `.invalidated` and that carries a
//!   project records its `triggeredid` (or `data.triggeredid` when the attribute is absent) in
//!   the project's invalidated set; [`TypeQuery::exclude_invalidated`] drops the events whose
//!   `triggeredid` or `id` is in that set.
//! - **Order and pages.** Newest first by `time`; equal times come in a stable backend-defined
//!   order. [`EventQuery`] pages by offset: `next_page_key` is the stringified offset of the
//!   next page and is `None` on the last page; `total_count` counts every match.
//! - **Project deletion** removes the project's events, roots and invalidations.
//!
//! Error kinds ([`StoreErrorKind`]): malformed queries and filters are `InvalidQuery` (the
//! message names the parameter or the filter term), events that cannot be stored are
//! `InvalidEvent` (and nothing of the call is written), a closed or unreachable backend is
//! `Unavailable`, stored data that cannot be read back is `Corrupt`.

mod error;
mod filter;
mod ingest;
mod memory;
mod query;
pub(crate) mod record;

#[cfg(feature = "mongodb")]
mod mongo;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

#[cfg(feature = "testing")]
pub mod conformance;

use async_trait::async_trait;
use keptn_sdk::event::KeptnEvent;

pub use error::{StoreError, StoreErrorKind};
pub use filter::{EventFilter, FilterField, FilterTerm};
pub use ingest::{DATASTORE_QUEUE_GROUP, IngestError, Ingester};
pub use memory::MemoryEventStore;
#[cfg(feature = "mongodb")]
pub use mongo::MongoEventStore;
#[cfg(feature = "postgres")]
pub use postgres::PgEventStore;
pub use query::{
    BatchOutcome, DEFAULT_PAGE_SIZE, EventPage, EventQuery, InsertOutcome, MAX_PAGE_SIZE, Page,
    TypeQuery,
};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteEventStore;

/// The result type of the event store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Stores Keptn events and answers the datastore's queries.
///
/// Contract (see the [module docs](self) for the shared semantics):
///
/// - `insert` and `insert_batch` are idempotent on the event id. On the SQL backends and in
///   memory they are atomic: when they fail, nothing of the call is visible. MongoDB has no
///   such transaction: a failed batch may be partly stored, and retrying it completes it. A
///   completed insert is visible to every later query.
/// - Queries never see half of a batch (SQL backends and memory).
/// - Implementations are `Send + Sync` and safe to share between tasks (`Arc<dyn EventStore>`).
/// - Cancel safety: dropping an insert future before it completes may or may not store the
///   events (the write may already be queued); retrying is always safe because inserts are
///   idempotent. Dropping a query future has no effect on the store.
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Stores one event; `Duplicate` if its id is stored already.
    async fn insert(&self, event: &KeptnEvent) -> Result<InsertOutcome>;

    /// Stores several events at once (one transaction where the backend has them); the outcome
    /// holds one entry per event, in order.
    async fn insert_batch(&self, events: &[KeptnEvent]) -> Result<BatchOutcome>;

    /// One page of the events matching `query` (`GET /event`).
    async fn query(&self, query: &EventQuery) -> Result<EventPage>;

    /// The newest events of a type matching a filter (`GET /event/type/{eventType}`), at most
    /// `limit`, newest first.
    async fn query_by_type(&self, query: &TypeQuery) -> Result<Vec<KeptnEvent>>;

    /// Removes every event, root and invalidation of `project`. Removing a project without
    /// events succeeds.
    async fn delete_project(&self, project: &str) -> Result<()>;
}

/// Checks a project name given to [`EventStore::delete_project`].
pub(crate) fn check_project_name(project: &str) -> Result<()> {
    if project.is_empty() {
        return Err(StoreError::invalid_query("project name must not be empty"));
    }
    Ok(())
}
