//! POST /api/v1/event: validation, completion, size limit, storage.

use keptn_sdk::api::EventQueryParams;
use reqwest::Method;
use serde_json::json;

use crate::support::{eventually, json, start};

#[tokio::test]
async fn an_accepted_event_gets_a_context_and_is_stored() {
    let api = start().await;
    api.create_sockshop().await;
    let context = api
        .client
        .send_event(&json!({
            "type": "sh.keptn.event.dev.delivery-direct.triggered",
            "source": "test",
            "data": {"project": "sockshop", "stage": "dev", "service": "carts",
                     "configurationChange": {"values": {"image": "carts:1"}},
                     "custom": {"kept": [1, 2]}}
        }))
        .await
        .unwrap()
        .keptn_context;
    let stored = eventually("the trigger in the datastore", || {
        let client = api.client.clone();
        let context = context.clone();
        async move {
            let page = client
                .events(&EventQueryParams {
                    keptn_context: Some(context),
                    event_type: Some("sh.keptn.event.dev.delivery-direct.triggered".into()),
                    ..Default::default()
                })
                .await
                .ok()?;
            page.events.into_iter().next()
        }
    })
    .await;
    assert_eq!(stored.data["custom"], json!({"kept": [1, 2]}));
    assert_eq!(stored.source, "test");
}

#[tokio::test]
async fn invalid_events_are_400_and_name_the_problem() {
    let api = start().await;
    for (body, needle) in [
        (json!({"data": {}}), "type"),
        (
            json!({"type": "sh.keptn.event.deployment.triggered", "data": {}}),
            "type",
        ),
        (
            json!({"type": "sh.keptn.event.test.finished", "data": {"project": "p", "stage": "s", "service": "x"}}),
            "triggeredid",
        ),
        (
            json!({"type": "sh.keptn.event.dev.delivery.triggered", "data": "text"}),
            "data",
        ),
        (
            json!({"type": "sh.keptn.event.test.finished", "triggeredid": "t", "data": {"project": "p", "stage": "s", "service": "x", "result": "good"}}),
            "data.result",
        ),
        (json!([1, 2]), "CloudEvent"),
    ] {
        let (status, error) = json(
            api.request(Method::POST, "/api/v1/event")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            error["message"].as_str().unwrap().contains(needle),
            "{body}: {error}"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let api = start().await;
    let big = "x".repeat(70 * 1024);
    let (status, error) = json(
        api.request(Method::POST, "/api/v1/event")
            .json(&json!({"type": "sh.keptn.event.dev.delivery.triggered", "data": {"big": big}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(error["code"], 413);
}
