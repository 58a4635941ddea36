//! Every query shape of the SQLite store is an index lookup: `EXPLAIN QUERY PLAN` shows no
//! scan of `events` or `roots`, and the common shapes read their order from the index.

use keptn_sdk::event::{EventId, KeptnContext};
use sqlx::Row;

use super::{SqliteEventStore, arguments};
use crate::datastore::sql::{self, Dialect, Statement};
use crate::datastore::{EventFilter, EventQuery, Page, TypeQuery};
use crate::db::SqliteDb;

async fn plan(store: &SqliteEventStore, statement: &Statement) -> Vec<String> {
    let sql = format!("EXPLAIN QUERY PLAN {}", statement.sql);
    let rows = sqlx::query_with(&sql, arguments(statement.args.clone()).unwrap())
        .fetch_all(store.db().read_pool())
        .await
        .unwrap_or_else(|e| panic!("explain of {sql} failed: {e}"));
    rows.iter().map(|r| r.get::<String, _>(3)).collect()
}

fn assert_no_scan(name: &str, statement: &Statement, plan: &[String]) {
    for line in plan {
        let scans_a_table = line.starts_with("SCAN e")
            || line.starts_with("SCAN r")
            || line.starts_with("SCAN events")
            || line.starts_with("SCAN roots");
        assert!(
            !scans_a_table,
            "{name}: full scan in the plan\n{}\n{plan:#?}",
            statement.sql
        );
    }
}

fn assert_ordered_by_index(name: &str, statement: &Statement, plan: &[String]) {
    assert!(
        !plan.iter().any(|l| l.contains("TEMP B-TREE")),
        "{name}: sorts instead of reading the index in order\n{}\n{plan:#?}",
        statement.sql
    );
}

fn assert_uses_index(name: &str, plan: &[String]) {
    assert!(
        plan.iter()
            .any(|l| l.contains("USING INDEX events_evaluations")),
        "{name}: does not read the evaluation index\n{plan:#?}"
    );
}

fn event_query(f: impl FnOnce(&mut EventQuery)) -> EventQuery {
    let mut q = EventQuery::default();
    f(&mut q);
    q
}

#[tokio::test]
async fn every_query_shape_is_an_index_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(dir.path().join("keptn.db")).await.unwrap();
    let store = SqliteEventStore::new(db.clone()).await.unwrap();
    let p = || Some("sockshop".to_owned());
    let ctx = || Some(KeptnContext::new("c1"));
    // (name, query, whether the order must come from the index)
    let shapes: Vec<(&str, EventQuery, bool)> = vec![
        ("context", event_query(|q| q.keptn_context = ctx()), true),
        (
            "context + type",
            event_query(|q| {
                q.keptn_context = ctx();
                q.event_type = Some("t".into());
            }),
            true,
        ),
        ("project", event_query(|q| q.project = p()), true),
        (
            "project + stage",
            event_query(|q| {
                q.project = p();
                q.stage = Some("dev".into());
            }),
            false,
        ),
        (
            "project + service",
            event_query(|q| {
                q.project = p();
                q.service = Some("carts".into());
            }),
            false,
        ),
        (
            "project + stage + service",
            event_query(|q| {
                q.project = p();
                q.stage = Some("dev".into());
                q.service = Some("carts".into());
            }),
            false,
        ),
        (
            "project + type",
            event_query(|q| {
                q.project = p();
                q.event_type = Some("t".into());
            }),
            true,
        ),
        (
            "project + stage + service + type",
            event_query(|q| {
                q.project = p();
                q.stage = Some("dev".into());
                q.service = Some("carts".into());
                q.event_type = Some("t".into());
            }),
            true,
        ),
        (
            "project + stage + service + evaluation.finished",
            event_query(|q| {
                q.project = p();
                q.stage = Some("dev".into());
                q.service = Some("carts".into());
                q.event_type = Some("sh.keptn.event.evaluation.finished".into());
            }),
            true,
        ),
        (
            "project + source + time range",
            event_query(|q| {
                q.project = p();
                q.source = Some("s".into());
                q.from_time = Some(chrono::Utc::now());
                q.before_time = Some(chrono::Utc::now());
            }),
            true,
        ),
        (
            "project + event id",
            event_query(|q| {
                q.project = p();
                q.event_id = Some(EventId::new("e1"));
            }),
            false,
        ),
        (
            "root of project",
            event_query(|q| {
                q.project = p();
                q.root = true;
            }),
            true,
        ),
        (
            "root of project + service",
            event_query(|q| {
                q.project = p();
                q.service = Some("carts".into());
                q.root = true;
            }),
            true,
        ),
        (
            "root of context",
            event_query(|q| {
                q.keptn_context = ctx();
                q.root = true;
            }),
            false,
        ),
    ];
    let page = Page::resolve(Some(20), Some("40")).unwrap();
    for (name, query, ordered) in shapes {
        let (select, count) = sql::event_query(Dialect::Sqlite, &query, page);
        let select_plan = plan(&store, &select).await;
        assert_no_scan(name, &select, &select_plan);
        if ordered {
            assert_ordered_by_index(name, &select, &select_plan);
        }
        assert_no_scan(name, &count, &plan(&store, &count).await);
    }

    let type_shapes = [
        (
            "lighthouse: passing evaluations of a service",
            "data.project:sockshop AND data.stage:staging AND data.service:carts AND data.result:pass,warning",
            true,
        ),
        ("type in a project", "data.project:sockshop", true),
        ("type in a context", "shkeptncontext:c1", true),
        (
            "type in a project with a label",
            "data.project:sockshop AND data.labels.buildId:17",
            true,
        ),
    ];
    // The evaluations of a service in a stage come from the partial index over evaluation
    // results, whichever query form asks for them.
    let (select, _) = sql::event_query(
        Dialect::Sqlite,
        &event_query(|q| {
            q.project = p();
            q.stage = Some("dev".into());
            q.service = Some("carts".into());
            q.event_type = Some("sh.keptn.event.evaluation.finished".into());
        }),
        page,
    );
    assert_uses_index("evaluations of a service", &plan(&store, &select).await);
    for (name, expression, ordered) in type_shapes {
        for exclude_invalidated in [false, true] {
            let mut query = TypeQuery::new(
                "sh.keptn.event.evaluation.finished",
                EventFilter::parse(expression).unwrap(),
            );
            query.exclude_invalidated = exclude_invalidated;
            let statement = sql::type_query(Dialect::Sqlite, &query, 5);
            let statement_plan = plan(&store, &statement).await;
            assert_no_scan(name, &statement, &statement_plan);
            if name.starts_with("lighthouse") {
                assert_uses_index(name, &statement_plan);
            }
            if ordered {
                assert_ordered_by_index(name, &statement, &statement_plan);
            }
        }
    }
    db.close().await;
}

/// A database of schema version 1 keeps its events when version 2 replaces the five-column
/// index with the partial index over evaluation results, and the evaluation query reads it;
/// version 3 counts the events already stored per project.
#[tokio::test]
async fn a_version_1_store_upgrades_in_place() {
    use crate::datastore::record::EventRecord;
    use crate::datastore::sqlite::FIRST_VERSION;
    use crate::datastore::sqlite::write::{bind_event, event_insert};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keptn.db");
    let event = |id: &str, ty: &str, second: u32| {
        serde_json::from_value::<keptn_sdk::event::KeptnEvent>(serde_json::json!({
            "specversion": "1.0", "id": id, "source": "upgrade-test",
            "type": format!("sh.keptn.event.{ty}"),
            "time": format!("2024-01-01T00:00:{second:02}Z"),
            "shkeptncontext": "8a1c0a3e-4b5f-4c1a-9d7e-2f3b4c5d6e7f",
            "data": {"project": "sockshop", "stage": "dev", "service": "carts", "result": "pass"},
        }))
        .unwrap()
    };
    let events = [
        event("e1", "evaluation.triggered", 1),
        event("e2", "evaluation.finished", 2),
        event("e3", "deployment.finished", 3),
        event("e4", "evaluation.finished", 4),
    ];
    let db = SqliteDb::open(&path).await.unwrap();
    db.migrate(&FIRST_VERSION).await.unwrap();
    let records: Vec<EventRecord> = events
        .iter()
        .map(|e| EventRecord::from_event(e).unwrap())
        .collect();
    // The rows as version 1 stored them (today's writer also keeps tables version 1 lacks).
    let stored = db
        .write(move |conn| {
            let records = records.clone();
            Box::pin(async move {
                let mut stored = Vec::new();
                for r in &records {
                    let statement = event_insert(1);
                    let done = bind_event(sqlx::query(&statement), r)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| sql::backend("version 1 insert", e))?;
                    stored.push(done.rows_affected());
                }
                Ok::<_, crate::datastore::StoreError>(stored)
            })
        })
        .await
        .unwrap();
    assert_eq!(stored, vec![1; 4]);
    db.close().await;

    let db = SqliteDb::open(&path).await.unwrap();
    let store = SqliteEventStore::new(db.clone()).await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name",
    )
    .fetch_all(db.read_pool())
    .await
    .unwrap();
    assert!(
        indexes.contains(&"events_evaluations".to_owned()),
        "{indexes:?}"
    );
    assert!(
        !indexes.contains(&"events_project_stage_service_type_time".to_owned()),
        "{indexes:?}"
    );
    let query = TypeQuery::new(
        "sh.keptn.event.evaluation.finished",
        EventFilter::parse("data.project:sockshop AND data.stage:dev AND data.service:carts")
            .unwrap(),
    );
    let found = crate::datastore::EventStore::query_by_type(&store, &query)
        .await
        .unwrap();
    let ids: Vec<&str> = found.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e4", "e2"]);
    let mut all = EventQuery::project("sockshop");
    all.stage = Some("dev".into());
    all.service = Some("carts".into());
    all.event_type = Some("sh.keptn.event.deployment.finished".into());
    let page = crate::datastore::EventStore::query(&store, &all)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].id.as_str(), "e3");
    // Migration 3 counted the project's events that were already there.
    let project = crate::datastore::EventStore::query(&store, &EventQuery::project("sockshop"))
        .await
        .unwrap();
    assert_eq!(project.total_count, 4);
    db.close().await;
}
