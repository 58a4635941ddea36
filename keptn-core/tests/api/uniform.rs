//! Uniform registration, heartbeats, subscriptions and logs.

use keptn_sdk::api::{CreateLogsParams, EventSubscription, Integration, LogEntry};
use reqwest::Method;
use serde_json::json;

use crate::support::{json, start};

#[tokio::test]
async fn an_integration_registers_pings_and_reports_errors() {
    let api = start().await;
    let id = api
        .client
        .register_integration(&Integration {
            name: "jmeter-service".into(),
            subscriptions: vec![EventSubscription {
                event: "sh.keptn.event.test.triggered".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .id;
    let pinged = api.client.ping_integration(&id).await.unwrap();
    assert!(pinged.metadata.lastseen.is_some());
    let (status, list) = json(
        api.request(
            Method::GET,
            "/api/controlPlane/v1/uniform/registration?name=jmeter-service",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], id.as_str());

    let sub_path = format!("/api/controlPlane/v1/uniform/registration/{id}/subscription");
    let (status, created) = json(
        api.request(Method::POST, &sub_path)
            .json(&json!({"event": "sh.keptn.event.deployment.triggered"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let sid = created["id"].as_str().unwrap().to_owned();
    let (status, _) = json(
        api.request(Method::DELETE, &format!("{sub_path}/{sid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    api.client
        .send_logs(&CreateLogsParams {
            logs: vec![LogEntry {
                integrationid: id.clone(),
                message: "deployment failed".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    api.client
        .send_event(&json!({
            "type": "sh.keptn.log.error",
            "data": {"integrationid": id, "message": "second failure", "task": "test"}
        }))
        .await
        .unwrap();
    let (status, logs) = json(
        api.request(
            Method::GET,
            &format!("/api/controlPlane/v1/log?integrationId={id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(logs["totalCount"], 2);
    assert_eq!(logs["logs"][0]["message"], "second failure");

    let (status, _) = json(
        api.request(
            Method::PUT,
            "/api/controlPlane/v1/uniform/registration/nope/ping",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}
