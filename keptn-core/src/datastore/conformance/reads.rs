//! Conformance cases about reading: filters, pages, roots, type queries, invalidation.

use keptn_sdk::event::{EventId, KeptnContext};
use serde_json::json;

use super::{
    answering, at, by_type, event, expect_kind, filter, from_source, ids, insert_all, query,
    query_ids,
};
use crate::datastore::{EventQuery, EventStore, StoreErrorKind, TypeQuery};

const FINISHED: &str = "sh.keptn.event.evaluation.finished";
const TRIGGERED: &str = "sh.keptn.event.evaluation.triggered";
const INVALIDATED: &str = "sh.keptn.event.evaluation.invalidated";
const DEPLOYED: &str = "sh.keptn.event.deployment.finished";

fn scope(project: &str, stage: &str, service: &str) -> serde_json::Value {
    json!({"project": project, "stage": stage, "service": service})
}

pub(super) async fn filters(store: &dyn EventStore) {
    let case = "filters";
    let p = "shop";
    let events = vec![
        event("f-1", "f-ctx-a", DEPLOYED, at(1), scope(p, "dev", "carts")),
        event("f-2", "f-ctx-a", TRIGGERED, at(2), scope(p, "dev", "carts")),
        from_source(
            event("f-3", "f-ctx-a", FINISHED, at(3), scope(p, "dev", "carts")),
            "lighthouse-service",
        ),
        event(
            "f-4",
            "f-ctx-b",
            DEPLOYED,
            at(4),
            scope(p, "staging", "carts"),
        ),
        event(
            "f-5",
            "f-ctx-b",
            DEPLOYED,
            at(5),
            scope(p, "staging", "orders"),
        ),
        event(
            "f-6",
            "f-ctx-c",
            DEPLOYED,
            at(6),
            scope("other-shop", "dev", "carts"),
        ),
    ];
    // Inserted out of time order: the order of results comes from `time`.
    let mut shuffled = events.clone();
    shuffled.swap(0, 4);
    shuffled.swap(1, 3);
    insert_all(store, case, &shuffled).await;

    let q = |f: &dyn Fn(&mut EventQuery)| {
        let mut q = EventQuery::project(p);
        f(&mut q);
        q
    };
    let checks: Vec<(&str, EventQuery, Vec<&str>)> = vec![
        (
            "project",
            q(&|_| {}),
            vec!["f-5", "f-4", "f-3", "f-2", "f-1"],
        ),
        (
            "stage",
            q(&|q| q.stage = Some("staging".into())),
            vec!["f-5", "f-4"],
        ),
        (
            "service",
            q(&|q| q.service = Some("carts".into())),
            vec!["f-4", "f-3", "f-2", "f-1"],
        ),
        (
            "stage and service",
            q(&|q| {
                q.stage = Some("dev".into());
                q.service = Some("carts".into());
            }),
            vec!["f-3", "f-2", "f-1"],
        ),
        (
            "type",
            q(&|q| q.event_type = Some(DEPLOYED.into())),
            vec!["f-5", "f-4", "f-1"],
        ),
        (
            "source",
            q(&|q| q.source = Some("lighthouse-service".into())),
            vec!["f-3"],
        ),
        (
            "event id",
            q(&|q| q.event_id = Some(EventId::new("f-2"))),
            vec!["f-2"],
        ),
        (
            "from time (exclusive)",
            q(&|q| q.from_time = Some(at(3))),
            vec!["f-5", "f-4"],
        ),
        (
            "before time (exclusive)",
            q(&|q| q.before_time = Some(at(3))),
            vec!["f-2", "f-1"],
        ),
        (
            "time range",
            q(&|q| {
                q.from_time = Some(at(1));
                q.before_time = Some(at(5));
            }),
            vec!["f-4", "f-3", "f-2"],
        ),
        (
            "unknown stage",
            q(&|q| q.stage = Some("prod".into())),
            vec![],
        ),
        (
            "context",
            EventQuery::context("f-ctx-a"),
            vec!["f-3", "f-2", "f-1"],
        ),
        (
            "context and type",
            {
                let mut q = EventQuery::context("f-ctx-a");
                q.event_type = Some(TRIGGERED.into());
                q
            },
            vec!["f-2"],
        ),
        (
            "context of another project",
            q(&|q| q.keptn_context = Some(KeptnContext::new("f-ctx-c"))),
            vec![],
        ),
        (
            "context matched exactly",
            EventQuery::context("f-ctx"),
            vec![],
        ),
        ("unknown project", EventQuery::project("nobody"), vec![]),
    ];
    for (name, query_, expected) in checks {
        let page = query(store, case, &query_).await;
        assert_eq!(ids(&page.events), expected, "[{case}] {name}");
        assert_eq!(
            page.total_count,
            expected.len() as u64,
            "[{case}] {name}: total"
        );
        assert_eq!(page.next_page_key, None, "[{case}] {name}: no next page");
    }
}

pub(super) async fn pages(store: &dyn EventStore) {
    let case = "pages";
    let events: Vec<_> = (0..45)
        .map(|i| {
            event(
                &format!("page-{i:02}"),
                "page-ctx",
                DEPLOYED,
                at(i),
                scope("paging", "dev", "a"),
            )
        })
        .collect();
    let batch = store.insert_batch(&events).await.map(|o| o.inserted()).ok();
    assert_eq!(batch, Some(45), "[{case}] batch insert");
    let newest_first: Vec<String> = (0..45).rev().map(|i| format!("page-{i:02}")).collect();

    let mut q = EventQuery::project("paging");
    q.page_size = Some(20);
    let mut seen = Vec::new();
    for (key, len, next) in [
        (None, 20, Some("20")),
        (Some("20"), 20, Some("40")),
        (Some("40"), 5, None),
    ] {
        q.next_page_key = key.map(str::to_owned);
        let page = query(store, case, &q).await;
        assert_eq!(page.events.len(), len, "[{case}] page at {key:?}");
        assert_eq!(
            page.next_page_key.as_deref(),
            next,
            "[{case}] next key after {key:?}"
        );
        assert_eq!(page.total_count, 45, "[{case}] total at {key:?}");
        assert_eq!(page.page_size, 20, "[{case}] page size at {key:?}");
        seen.extend(ids(&page.events));
    }
    assert_eq!(
        seen, newest_first,
        "[{case}] the pages together are every event, newest first"
    );

    let default = query(store, case, &EventQuery::project("paging")).await;
    assert_eq!(
        (default.events.len(), default.page_size),
        (20, 20),
        "[{case}] default page size"
    );
    assert_eq!(
        default.next_page_key.as_deref(),
        Some("20"),
        "[{case}] default next key"
    );
    for key in ["45", "1000"] {
        q.next_page_key = Some(key.to_owned());
        let page = query(store, case, &q).await;
        assert!(
            page.events.is_empty(),
            "[{case}] page past the end at {key}"
        );
        assert_eq!(
            (page.next_page_key, page.total_count),
            (None, 45),
            "[{case}] past the end"
        );
    }
    let mut bad = EventQuery::project("paging");
    for size in [0, 101] {
        bad.page_size = Some(size);
        expect_kind(
            case,
            "page size",
            store.query(&bad).await,
            StoreErrorKind::InvalidQuery,
        );
    }
    bad.page_size = None;
    for key in ["x", "-1", "1.5"] {
        bad.next_page_key = Some(key.to_owned());
        expect_kind(
            case,
            "page key",
            store.query(&bad).await,
            StoreErrorKind::InvalidQuery,
        );
    }
    let mut empty = EventQuery::project("paging");
    empty.service = Some(String::new());
    expect_kind(
        case,
        "an empty filter value",
        store.query(&empty).await,
        StoreErrorKind::InvalidQuery,
    );
    expect_kind(
        case,
        "a query without project or context",
        store.query(&EventQuery::default()).await,
        StoreErrorKind::InvalidQuery,
    );
}

pub(super) async fn equal_times(store: &dyn EventStore) {
    let case = "equal times";
    let events: Vec<_> = (0..25)
        .map(|i| {
            event(
                &format!("tie-{i:02}"),
                "tie-ctx",
                DEPLOYED,
                at(100),
                scope("ties", "dev", "a"),
            )
        })
        .collect();
    insert_all(store, case, &events).await;
    let mut q = EventQuery::project("ties");
    q.page_size = Some(7);
    let mut seen = Vec::new();
    loop {
        let page = query(store, case, &q).await;
        seen.extend(ids(&page.events));
        match page.next_page_key {
            Some(key) => q.next_page_key = Some(key),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        (seen.len(), sorted.len()),
        (25, 25),
        "[{case}] each event on exactly one page"
    );
}

pub(super) async fn roots(store: &dyn EventStore) {
    let case = "roots";
    let p = "rooted";
    let a20 = event(
        "r-a20",
        "r-ctx-a",
        DEPLOYED,
        at(20),
        scope(p, "dev", "carts"),
    );
    let a10 = event(
        "r-a10",
        "r-ctx-a",
        TRIGGERED,
        at(10),
        scope(p, "dev", "carts"),
    );
    let a30 = event(
        "r-a30",
        "r-ctx-a",
        FINISHED,
        at(30),
        scope(p, "dev", "carts"),
    );
    let b15 = event(
        "r-b15",
        "r-ctx-b",
        DEPLOYED,
        at(15),
        scope(p, "dev", "carts"),
    );
    let b5 = event(
        "r-b05",
        "r-ctx-b",
        TRIGGERED,
        at(5),
        scope(p, "dev", "carts"),
    );
    let c40 = event(
        "r-c40",
        "r-ctx-c",
        DEPLOYED,
        at(40),
        scope(p, "dev", "orders"),
    );
    // The earliest event of a context may arrive late, alone or inside a batch.
    insert_all(store, case, &[a20, a10, a30, b15]).await;
    let batch = store
        .insert_batch(&[c40, b5])
        .await
        .map(|o| o.inserted())
        .ok();
    assert_eq!(batch, Some(2), "[{case}] batch");

    let mut q = EventQuery::project(p);
    q.root = true;
    let page = query(store, case, &q).await;
    assert_eq!(
        ids(&page.events),
        vec!["r-c40", "r-a10", "r-b05"],
        "[{case}] one per context"
    );
    assert_eq!(page.total_count, 3, "[{case}] total");
    q.page_size = Some(2);
    let page = query(store, case, &q).await;
    assert_eq!(
        (ids(&page.events), page.next_page_key.as_deref()),
        (vec!["r-c40".to_owned(), "r-a10".to_owned()], Some("2")),
        "[{case}] paged"
    );
    q.page_size = None;
    q.service = Some("carts".into());
    assert_eq!(
        query_ids(store, case, &q).await,
        vec!["r-a10", "r-b05"],
        "[{case}] service"
    );
    q.service = None;
    q.from_time = Some(at(5));
    assert_eq!(
        query_ids(store, case, &q).await,
        vec!["r-c40", "r-a10"],
        "[{case}] time"
    );
    let mut by_context = EventQuery::context("r-ctx-b");
    by_context.root = true;
    assert_eq!(
        query_ids(store, case, &by_context).await,
        vec!["r-b05"],
        "[{case}] context"
    );
}

pub(super) async fn type_queries(store: &dyn EventStore) {
    let case = "type queries";
    let p = "lh";
    let eval = |id: &str, secs: i64, stage: &str, service: &str, result: &str| {
        let mut data = scope(p, stage, service);
        data["result"] = json!(result);
        data["labels"] = json!({"buildId": format!("{secs}")});
        data["score"] = json!(secs);
        from_source(
            event(id, &format!("ctx-{id}"), FINISHED, at(secs), data),
            "lighthouse-service",
        )
    };
    let events = vec![
        eval("e-01", 1, "staging", "carts", "pass"),
        eval("e-02", 2, "staging", "carts", "fail"),
        eval("e-03", 3, "staging", "carts", "warning"),
        eval("e-04", 4, "staging", "carts", "pass"),
        eval("e-05", 5, "staging", "carts", "pass"),
        eval("e-06", 6, "production", "carts", "pass"),
        eval("e-07", 7, "staging", "orders", "pass"),
        eval("e-08", 8, "staging", "carts", "pass"),
        event(
            "e-09",
            "ctx-e-09",
            TRIGGERED,
            at(9),
            scope(p, "staging", "carts"),
        ),
        eval("e-10", 10, "staging", "carts", "fail"),
    ];
    insert_all(store, case, &events).await;
    let base = "data.project:lh AND data.stage:staging AND data.service:carts";
    let mut q = TypeQuery::new(
        FINISHED,
        filter(case, &format!("{base} AND data.result:pass")),
    );
    q.limit = Some(3);
    assert_eq!(
        by_type(store, case, &q).await,
        vec!["e-08", "e-05", "e-04"],
        "[{case}] last passes"
    );
    q.filter = filter(case, &format!("{base} AND data.result:pass,warning"));
    q.limit = None;
    assert_eq!(
        by_type(store, case, &q).await,
        vec!["e-08", "e-05", "e-04", "e-03", "e-01"],
        "[{case}] any of"
    );
    q.from_time = Some(at(3));
    assert_eq!(
        by_type(store, case, &q).await,
        vec!["e-08", "e-05", "e-04"],
        "[{case}] from"
    );
    let checks = [
        (
            "data.project:lh",
            vec![
                "e-10", "e-08", "e-07", "e-06", "e-05", "e-04", "e-03", "e-02", "e-01",
            ],
        ),
        ("shkeptncontext:ctx-e-06", vec!["e-06"]),
        ("shkeptncontext:ctx-e-09", vec![]),
        ("data.project:lh AND data.labels.buildId:7", vec!["e-07"]),
        ("data.project:lh AND data.score:7", vec![]),
        (
            "data.project:lh AND source:lighthouse-service AND id:e-02,e-03",
            vec!["e-03", "e-02"],
        ),
        ("data.project:other AND data.stage:staging", vec![]),
    ];
    for (expression, expected) in checks {
        let q = TypeQuery::new(FINISHED, filter(case, expression));
        assert_eq!(
            by_type(store, case, &q).await,
            expected,
            "[{case}] {expression}"
        );
    }
    let mut bad = TypeQuery::new(FINISHED, filter(case, "data.project:lh"));
    bad.limit = Some(0);
    expect_kind(
        case,
        "limit 0",
        store.query_by_type(&bad).await,
        StoreErrorKind::InvalidQuery,
    );
    bad.limit = Some(101);
    expect_kind(
        case,
        "limit 101",
        store.query_by_type(&bad).await,
        StoreErrorKind::InvalidQuery,
    );
}

pub(super) async fn invalidated(store: &dyn EventStore) {
    let case = "invalidated";
    let p = "inv";
    let finished = |id: &str, triggered: &str, secs: i64| {
        answering(
            event(
                id,
                &format!("ctx-{triggered}"),
                FINISHED,
                at(secs),
                scope(p, "dev", "carts"),
            ),
            triggered,
        )
    };
    let events = vec![
        event(
            "i-t1",
            "ctx-i-t1",
            TRIGGERED,
            at(1),
            scope(p, "dev", "carts"),
        ),
        finished("i-f1", "i-t1", 2),
        finished("i-f2", "i-t2", 3),
        // Keptn 0.7 data: the invalidation names the finished event itself.
        event(
            "i-f3",
            "ctx-i-t3",
            FINISHED,
            at(4),
            scope(p, "dev", "carts"),
        ),
        finished("i-f4", "i-t4", 5),
        answering(
            event(
                "i-x1",
                "ctx-i-t1",
                INVALIDATED,
                at(6),
                scope(p, "dev", "carts"),
            ),
            "i-t1",
        ),
        answering(
            event(
                "i-x3",
                "ctx-i-t3",
                INVALIDATED,
                at(7),
                scope(p, "dev", "carts"),
            ),
            "i-f3",
        ),
        // An invalidation in another project does not count here.
        answering(
            event(
                "i-x4",
                "ctx-i-t4",
                INVALIDATED,
                at(8),
                scope("inv-other", "dev", "carts"),
            ),
            "i-t4",
        ),
    ];
    insert_all(store, case, &events).await;
    let mut q = TypeQuery::new(
        FINISHED,
        filter(case, "data.project:inv AND data.service:carts"),
    );
    assert_eq!(
        by_type(store, case, &q).await,
        vec!["i-f4", "i-f3", "i-f2", "i-f1"],
        "[{case}] without excludeInvalidated"
    );
    q.exclude_invalidated = true;
    assert_eq!(
        by_type(store, case, &q).await,
        vec!["i-f4", "i-f2"],
        "[{case}] excluded"
    );
    q.filter = filter(case, "shkeptncontext:ctx-i-t1");
    assert!(
        by_type(store, case, &q).await.is_empty(),
        "[{case}] by context"
    );
}
