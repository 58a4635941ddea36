//! The conformance suite of [`EventStore`]: the same inserts, queries and pages for every
//! backend (feature `testing`).
//!
//! ```no_run
//! # async fn example() {
//! use keptn_core::datastore::{MemoryEventStore, conformance};
//!
//! conformance::run(&MemoryEventStore::new()).await;
//! # }
//! ```
//!
//! [`run`] expects an empty store and panics with the name of the failing case and what
//! differed. Each case works in its own projects and Keptn contexts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use keptn_sdk::event::{EventId, EventType, GitCommitId, KeptnContext, KeptnEvent, SpecVersion};
use serde_json::{Value, json};

use super::{
    EventFilter, EventPage, EventQuery, EventStore, InsertOutcome, StoreErrorKind, TypeQuery,
};

mod reads;
mod writes;

/// Runs every case against `store`, which must be empty. Panics on the first difference.
pub async fn run(store: &dyn EventStore) {
    writes::idempotent_inserts(store).await;
    writes::batches(store).await;
    writes::round_trip(store).await;
    reads::filters(store).await;
    reads::pages(store).await;
    reads::equal_times(store).await;
    reads::roots(store).await;
    reads::type_queries(store).await;
    reads::invalidated(store).await;
    writes::without_project(store).await;
    writes::delete_project(store).await;
    writes::invalid_input(store).await;
}

/// `2024-01-01T00:00:00Z` plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
        + Duration::seconds(seconds)
}

/// An event as a backend receives it, built without validation (stores keep what arrives).
pub fn event(
    id: &str,
    context: &str,
    event_type: &str,
    time: DateTime<Utc>,
    data: Value,
) -> KeptnEvent {
    KeptnEvent {
        specversion: SpecVersion::V10,
        id: EventId::new(id),
        source: "conformance".to_owned(),
        event_type: EventType::parse(event_type),
        time,
        datacontenttype: Some("application/json".to_owned()),
        dataschema: None,
        subject: None,
        shkeptncontext: KeptnContext::new(context),
        triggeredid: None,
        gitcommitid: None,
        shkeptnspecversion: None,
        extensions: BTreeMap::new(),
        data,
    }
}

/// The same event with a `triggeredid`.
pub fn answering(mut event: KeptnEvent, triggered: &str) -> KeptnEvent {
    event.triggeredid = Some(EventId::new(triggered));
    event
}

/// The same event with a source.
pub fn from_source(mut event: KeptnEvent, source: &str) -> KeptnEvent {
    event.source = source.to_owned();
    event
}

/// The same event with a git commit id, a spec version and an extension attribute.
pub fn decorated(mut event: KeptnEvent) -> KeptnEvent {
    event.gitcommitid = Some(GitCommitId::new("521747298a3790fde1710f3aa2d03b55020575aa"));
    event.shkeptnspecversion = Some("0.2.4".to_owned());
    event
        .extensions
        .insert("myextension".to_owned(), json!("value"));
    event
}

fn ids(events: &[KeptnEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.as_str().to_owned()).collect()
}

async fn query(store: &dyn EventStore, case: &str, q: &EventQuery) -> EventPage {
    store
        .query(q)
        .await
        .unwrap_or_else(|e| panic!("[{case}] query {q:?} failed: {e} ({:?})", e.kind()))
}

async fn query_ids(store: &dyn EventStore, case: &str, q: &EventQuery) -> Vec<String> {
    ids(&query(store, case, q).await.events)
}

async fn by_type(store: &dyn EventStore, case: &str, q: &TypeQuery) -> Vec<String> {
    let events = store
        .query_by_type(q)
        .await
        .unwrap_or_else(|e| panic!("[{case}] type query {q:?} failed: {e} ({:?})", e.kind()));
    ids(&events)
}

async fn insert_all(store: &dyn EventStore, case: &str, events: &[KeptnEvent]) {
    for e in events {
        let outcome = store
            .insert(e)
            .await
            .unwrap_or_else(|err| panic!("[{case}] insert of {} failed: {err}", e.id));
        assert_eq!(
            outcome,
            InsertOutcome::Inserted,
            "[{case}] insert of {}",
            e.id
        );
    }
}

fn filter(case: &str, expression: &str) -> EventFilter {
    EventFilter::parse(expression)
        .unwrap_or_else(|e| panic!("[{case}] filter {expression:?} does not parse: {e}"))
}

fn expect_kind<T: std::fmt::Debug>(
    case: &str,
    what: &str,
    result: super::Result<T>,
    kind: StoreErrorKind,
) {
    match result {
        Ok(v) => panic!("[{case}] {what}: expected a {kind} error, got {v:?}"),
        Err(e) => assert_eq!(e.kind(), kind, "[{case}] {what}: {e}"),
    }
}
