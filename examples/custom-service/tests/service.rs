//! The tester, tested as a service author would: the SDK's mock transport on one side, a small
//! HTTP server standing in for the deployed service on the other.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use keptn_example_custom_service::{HttpProbeTester, TesterConfig};
use keptn_sdk::testing::{MockHandle, MockTransport, Settlement, fixtures};
use keptn_sdk::{KeptnEvent, KeptnResult, Status, TaskRunner};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// A deployed service: `/health` answers 200, `/broken` 500.
async fn deployed_service() -> String {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}")
}

fn triggered(uri: Option<&str>) -> KeptnEvent {
    let mut event = fixtures::test_triggered();
    event.data["deployment"] = match uri {
        Some(uri) => json!({"deploymentURIsLocal": [uri], "deploymentURIsPublic": []}),
        None => json!({}),
    };
    event
}

async fn next(handle: &mut MockHandle) -> KeptnEvent {
    tokio::time::timeout(WAIT, handle.next_published())
        .await
        .expect("the service answers in time")
}

/// Runs the tester on one event and returns what it published.
async fn run(path: &str, event: KeptnEvent, expected: usize) -> Vec<KeptnEvent> {
    let (transport, mut handle) = MockTransport::new();
    let tester = HttpProbeTester::new(TesterConfig {
        requests: 3,
        path: path.to_owned(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(
        TaskRunner::new(transport, tester)
            .source("http-probe-tester")
            .run(async {
                stopped.await.ok();
            }),
    );
    let probe = handle.inject(event);
    let mut published = Vec::new();
    for _ in 0..expected {
        published.push(next(&mut handle).await);
    }
    assert_eq!(
        tokio::time::timeout(WAIT, probe.settled()).await.unwrap(),
        Settlement::Acked
    );
    stop.send(()).unwrap();
    runner.await.unwrap().unwrap();
    published
}

#[tokio::test]
async fn a_healthy_deployment_passes_the_test() {
    let base = deployed_service().await;
    let published = run("/health", triggered(Some(&base)), 3).await;
    let types: Vec<String> = published.iter().map(KeptnEvent::type_string).collect();
    assert_eq!(
        types,
        [
            "sh.keptn.event.test.started",
            "sh.keptn.event.test.status.changed",
            "sh.keptn.event.test.finished"
        ]
    );
    let finished = &published[2];
    let data = finished.event_data().unwrap();
    assert_eq!(data.status, Some(Status::Succeeded));
    assert_eq!(data.result, Some(KeptnResult::Pass));
    assert!(finished.data["test"]["start"].is_string());
    assert!(finished.data["test"]["end"].is_string());
    assert_eq!(finished.source, "http-probe-tester");
    assert_eq!(finished.triggeredid, Some(fixtures::test_triggered().id));
}

#[tokio::test]
async fn failing_requests_fail_the_test() {
    let base = deployed_service().await;
    let published = run("/broken", triggered(Some(&base)), 3).await;
    let data = published[2].event_data().unwrap();
    assert_eq!(data.status, Some(Status::Succeeded));
    assert_eq!(data.result, Some(KeptnResult::Fail));
    let message = data.message.unwrap();
    assert!(message.starts_with("3 of 3 requests"), "{message}");
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn a_trigger_without_a_deployment_uri_is_an_error() {
    let published = run("/health", triggered(None), 2).await;
    let data = published[1].event_data().unwrap();
    assert_eq!(data.status, Some(Status::Errored));
    assert_eq!(data.result, Some(KeptnResult::Fail));
    assert_eq!(
        data.message.as_deref(),
        Some("the test.triggered event names no deployment URI to test")
    );
}

#[tokio::test]
async fn real_user_tests_are_passed_without_requests() {
    let mut event = triggered(None);
    event.data["test"]["teststrategy"] = json!("real-user");
    let published = run("/health", event, 2).await;
    let data = published[1].event_data().unwrap();
    assert_eq!(data.result, Some(KeptnResult::Pass));
}
