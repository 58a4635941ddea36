//! /api/mongodb-datastore: queries, filters, pages.

use keptn_sdk::api::{EventQueryParams, EventsByTypeParams};
use reqwest::Method;
use serde_json::json;

use crate::support::{eventually, json, start};

#[tokio::test]
async fn events_are_paged_newest_first_and_filtered_by_type() {
    let api = start().await;
    for n in 0..5 {
        api.client
            .send_event(&json!({
                "type": "sh.keptn.event.evaluation.finished",
                "shkeptncontext": format!("ctx-{n}"),
                "triggeredid": format!("t-{n}"),
                "data": {"project": "p", "stage": "s", "service": "x",
                         "result": if n % 2 == 0 { "pass" } else { "fail" }}
            }))
            .await
            .unwrap();
    }
    let page = eventually("five stored events", || {
        let client = api.client.clone();
        async move {
            let page = client
                .events(&EventQueryParams {
                    project: Some("p".into()),
                    page_size: Some(2),
                    ..Default::default()
                })
                .await
                .ok()?;
            (page.total_count == 5).then_some(page)
        }
    })
    .await;
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.next_page_key.as_deref(), Some("2"));
    assert!(page.events[0].time >= page.events[1].time);
    let last = api
        .client
        .events(&EventQueryParams {
            project: Some("p".into()),
            page_size: Some(2),
            next_page_key: Some("4".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(last.events.len(), 1);
    assert_eq!(last.next_page_key, None, "no key on the last page");

    let passed = api
        .client
        .events_by_type(
            "sh.keptn.event.evaluation.finished",
            &EventsByTypeParams {
                filter: Some("data.project:p AND data.result:pass".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(passed.events.len(), 3);
}

#[tokio::test]
async fn bad_queries_are_400_and_name_the_term() {
    let api = start().await;
    for path in [
        "/api/mongodb-datastore/event",
        "/api/mongodb-datastore/event?project=p&pageSize=1000",
        "/api/mongodb-datastore/event?project=p&nextPageKey=abc",
        "/api/mongodb-datastore/event?project=p&fromTime=yesterday",
        "/api/mongodb-datastore/event/type/sh.keptn.event.test.finished?filter=data.stage",
        "/api/mongodb-datastore/event/type/sh.keptn.event.test.finished?filter=data.stage:dev",
    ] {
        let (status, error) = json(api.request(Method::GET, path).send().await.unwrap()).await;
        assert_eq!(status, 400, "{path}: {error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
}
