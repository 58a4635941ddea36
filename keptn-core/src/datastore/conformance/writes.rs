//! Conformance cases about writing: idempotence, batches, fidelity, deletion, bad input.

use chrono::Duration;
use keptn_sdk::event::EventId;
use serde_json::json;

use super::{
    answering, at, by_type, decorated, event, expect_kind, filter, insert_all, query, query_ids,
};
use crate::datastore::{EventQuery, EventStore, InsertOutcome, StoreErrorKind, TypeQuery};

const FINISHED: &str = "sh.keptn.event.evaluation.finished";
const TRIGGERED: &str = "sh.keptn.event.evaluation.triggered";
const INVALIDATED: &str = "sh.keptn.event.evaluation.invalidated";
const DEPLOYED: &str = "sh.keptn.event.deployment.finished";

fn scope(project: &str, stage: &str, service: &str) -> serde_json::Value {
    json!({"project": project, "stage": stage, "service": service})
}

pub(super) async fn idempotent_inserts(store: &dyn EventStore) {
    let case = "idempotent inserts";
    let e = event(
        "idem-1",
        "idem-ctx",
        DEPLOYED,
        at(1),
        scope("idem", "dev", "carts"),
    );
    assert_eq!(
        store.insert(&e).await.ok(),
        Some(InsertOutcome::Inserted),
        "[{case}] first"
    );
    assert_eq!(
        store.insert(&e).await.ok(),
        Some(InsertOutcome::Duplicate),
        "[{case}] second"
    );
    let mut changed = e.clone();
    changed.data = scope("idem", "prod", "carts");
    assert_eq!(
        store.insert(&changed).await.ok(),
        Some(InsertOutcome::Duplicate),
        "[{case}] same id, other content"
    );
    let page = query(store, case, &EventQuery::project("idem")).await;
    assert_eq!(page.total_count, 1, "[{case}] stored once");
    assert_eq!(page.events, vec![e], "[{case}] the first version stays");
}

pub(super) async fn batches(store: &dyn EventStore) {
    let case = "batches";
    let existing = event(
        "batch-0",
        "batch-ctx",
        DEPLOYED,
        at(1),
        scope("batch", "dev", "a"),
    );
    insert_all(store, case, std::slice::from_ref(&existing)).await;
    let a = event(
        "batch-a",
        "batch-ctx",
        DEPLOYED,
        at(2),
        scope("batch", "dev", "a"),
    );
    let b = event(
        "batch-b",
        "batch-ctx",
        DEPLOYED,
        at(3),
        scope("batch", "dev", "a"),
    );
    let outcome = store
        .insert_batch(&[a.clone(), b.clone(), a.clone(), existing.clone()])
        .await
        .unwrap_or_else(|e| panic!("[{case}] batch failed: {e}"));
    use InsertOutcome::{Duplicate, Inserted};
    assert_eq!(
        outcome.outcomes,
        vec![Inserted, Inserted, Duplicate, Duplicate],
        "[{case}]"
    );
    assert_eq!(
        (outcome.inserted(), outcome.duplicates()),
        (2, 2),
        "[{case}] counts"
    );
    let empty = store.insert_batch(&[]).await.map(|o| o.outcomes.len()).ok();
    assert_eq!(empty, Some(0), "[{case}] empty batch");
    let got = query_ids(store, case, &EventQuery::project("batch")).await;
    assert_eq!(
        got,
        vec!["batch-b", "batch-a", "batch-0"],
        "[{case}] stored once each"
    );
}

pub(super) async fn round_trip(store: &dyn EventStore) {
    let case = "round trip";
    let time = at(5) + Duration::nanoseconds(123_456_789);
    let data = json!({
        "project": "trip", "stage": "dev", "service": "carts",
        "labels": {"buildId": "17"}, "result": "pass", "score": 98.5, "count": 3,
        "nested": {"list": [1, "two", null, true, {"deep": []}]},
    });
    let full = decorated(answering(
        event("trip-1", "trip-ctx", FINISHED, time, data),
        "trip-t",
    ));
    let mut injected = full.clone();
    injected.id = EventId::new("trip-2");
    injected.data["eventContext"] = json!({"keptnContext": "trip-ctx", "token": "secret"});
    insert_all(store, case, &[full.clone(), injected.clone()]).await;
    let mut q = EventQuery::project("trip");
    q.event_id = Some(EventId::new("trip-1"));
    let page = query(store, case, &q).await;
    assert_eq!(
        page.events,
        vec![full.clone()],
        "[{case}] every attribute kept"
    );
    q.event_id = Some(EventId::new("trip-2"));
    let page = query(store, case, &q).await;
    let mut expected = injected;
    if let Some(data) = expected.data.as_object_mut() {
        data.remove("eventContext");
    }
    assert_eq!(
        page.events,
        vec![expected],
        "[{case}] data.eventContext is removed"
    );
}

pub(super) async fn without_project(store: &dyn EventStore) {
    let case = "events without a project";
    let e = event(
        "np-1",
        "np-ctx",
        "sh.keptn.log.error",
        at(1),
        json!({"message": "boom"}),
    );
    insert_all(store, case, std::slice::from_ref(&e)).await;
    let page = query(store, case, &EventQuery::context("np-ctx")).await;
    assert_eq!(page.events, vec![e], "[{case}] found by context");
    let mut roots = EventQuery::context("np-ctx");
    roots.root = true;
    assert!(
        query_ids(store, case, &roots).await.is_empty(),
        "[{case}] no root without a project"
    );
}

pub(super) async fn delete_project(store: &dyn EventStore) {
    let case = "delete project";
    let gone = vec![
        event(
            "d-1",
            "d-ctx",
            TRIGGERED,
            at(1),
            scope("gone", "dev", "carts"),
        ),
        answering(
            event(
                "d-2",
                "d-ctx",
                FINISHED,
                at(2),
                scope("gone", "dev", "carts"),
            ),
            "d-1",
        ),
        answering(
            event(
                "d-3",
                "d-ctx",
                INVALIDATED,
                at(3),
                scope("gone", "dev", "carts"),
            ),
            "d-1",
        ),
    ];
    let kept = event(
        "d-4",
        "d-ctx-kept",
        TRIGGERED,
        at(4),
        scope("kept", "dev", "carts"),
    );
    insert_all(store, case, &gone).await;
    insert_all(store, case, std::slice::from_ref(&kept)).await;
    store
        .delete_project("gone")
        .await
        .unwrap_or_else(|e| panic!("[{case}] delete failed: {e}"));
    let mut roots = EventQuery::project("gone");
    roots.root = true;
    assert_eq!(
        query(store, case, &EventQuery::project("gone"))
            .await
            .total_count,
        0,
        "[{case}] events"
    );
    assert_eq!(
        query(store, case, &roots).await.total_count,
        0,
        "[{case}] roots"
    );
    assert_eq!(
        query(store, case, &EventQuery::context("d-ctx"))
            .await
            .total_count,
        0,
        "[{case}] context"
    );
    assert_eq!(
        query_ids(store, case, &EventQuery::project("kept")).await,
        vec!["d-4"],
        "[{case}] kept"
    );
    // Inserting the project's events again works, and the old invalidation is gone.
    insert_all(store, case, &gone[..2]).await;
    let mut q = TypeQuery::new(FINISHED, filter(case, "data.project:gone"));
    q.exclude_invalidated = true;
    assert_eq!(
        by_type(store, case, &q).await,
        vec!["d-2"],
        "[{case}] invalidations removed"
    );
    assert!(
        store.delete_project("never-existed").await.is_ok(),
        "[{case}] unknown project"
    );
    expect_kind(
        case,
        "empty name",
        store.delete_project("").await,
        StoreErrorKind::InvalidQuery,
    );
}

pub(super) async fn invalid_input(store: &dyn EventStore) {
    let case = "invalid input";
    let good = event(
        "bad-1",
        "bad-ctx",
        DEPLOYED,
        at(1),
        scope("bad", "dev", "a"),
    );
    let no_id = event("", "bad-ctx", DEPLOYED, at(2), scope("bad", "dev", "a"));
    expect_kind(
        case,
        "empty id",
        store.insert(&no_id).await,
        StoreErrorKind::InvalidEvent,
    );
    expect_kind(
        case,
        "batch with an empty id",
        store.insert_batch(&[good, no_id]).await,
        StoreErrorKind::InvalidEvent,
    );
    let page = query(store, case, &EventQuery::project("bad")).await;
    assert_eq!(
        page.total_count, 0,
        "[{case}] nothing of the batch was written"
    );
}
