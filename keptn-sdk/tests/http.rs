//! CloudEvents over HTTP: sender and receiver on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use futures::StreamExt;
use keptn_sdk::transport::http::{
    ContentMode, HttpConfig, HttpTransport, RetryPolicy, STRUCTURED_CONTENT_TYPE,
};
use keptn_sdk::{
    EventType, KeptnEvent, Phase, SubjectPattern, SubscribeOptions, Transport, TransportErrorKind,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}")
}

fn event() -> KeptnEvent {
    KeptnEvent::builder(EventType::task("test", Phase::Triggered))
        .source("shipyard-controller")
        .git_commit_id("c0ffee")
        .extension("traceparent", "00-abc-def-01")
        .data_json(
            json!({"project": "sockshop", "stage": "dev", "service": "carts",
            "test": {"teststrategy": "performance"}}),
        )
        .build()
        .unwrap()
}

fn fast_retries() -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    policy.initial_backoff = Duration::from_millis(5);
    policy.max_backoff = Duration::from_millis(20);
    policy
}

#[tokio::test]
async fn events_go_from_sender_to_receiver_in_both_content_modes() {
    let receiver = HttpTransport::new(HttpConfig::new()).unwrap();
    let base = serve(receiver.router("/event")).await;
    let mut sub = receiver
        .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()))
        .await
        .unwrap();
    for mode in [ContentMode::Structured, ContentMode::Binary] {
        let sender =
            HttpTransport::new(HttpConfig::new().target(format!("{base}/event")).mode(mode))
                .unwrap();
        let e = event();
        sender.publish(&e).await.unwrap();
        let delivery = tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(delivery.event(), &e, "{mode:?}");
        delivery.ack().await.unwrap();
    }
}

#[tokio::test]
async fn a_bad_event_is_answered_400_with_the_reason() {
    let receiver = HttpTransport::new(HttpConfig::new()).unwrap();
    let base = serve(receiver.router("/")).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/"))
        .header("content-type", STRUCTURED_CONTENT_TYPE)
        .body(r#"{"specversion":"1.0","id":"1","type":"sh.keptn.event.test.triggered"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 400);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("missing required attribute `source`"),
        "{message}"
    );
}

#[tokio::test]
async fn an_event_nobody_subscribed_to_is_answered_200() {
    let receiver = HttpTransport::new(HttpConfig::new()).unwrap();
    let base = serve(receiver.router("/")).await;
    let sender = HttpTransport::new(HttpConfig::new().target(format!("{base}/"))).unwrap();
    sender.publish(&event()).await.unwrap();
    receiver.close();
    let err = sender.publish(&event()).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Publish);
    assert!(err.to_string().contains("503"), "{err}");
}

fn counting_server(statuses: Vec<u16>) -> (Router, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let app = Router::new().route(
        "/",
        post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
            async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    "from the test server",
                )
            }
        }),
    );
    (app, count)
}

#[tokio::test]
async fn the_sender_retries_5xx_until_it_succeeds() {
    let (app, count) = counting_server(vec![503, 502, 200]);
    let base = serve(app).await;
    let sender = HttpTransport::new(
        HttpConfig::new()
            .target(format!("{base}/"))
            .retry(fast_retries()),
    )
    .unwrap();
    sender.publish(&event()).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_sender_gives_up_after_its_retries() {
    let (app, count) = counting_server(vec![500]);
    let base = serve(app).await;
    let sender = HttpTransport::new(
        HttpConfig::new()
            .target(format!("{base}/"))
            .retry(fast_retries()),
    )
    .unwrap();
    let err = sender.publish(&event()).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Publish);
    assert!(err.to_string().contains("from the test server"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_4xx_answer_is_not_retried() {
    let (app, count) = counting_server(vec![422]);
    let base = serve(app).await;
    let sender = HttpTransport::new(
        HttpConfig::new()
            .target(format!("{base}/"))
            .retry(fast_retries()),
    )
    .unwrap();
    let err = sender.publish(&event()).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Rejected);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    let port = keptn_testkit::free_port();
    let sender = HttpTransport::new(
        HttpConfig::new()
            .target(format!("http://127.0.0.1:{port}/"))
            .retry(fast_retries()),
    )
    .unwrap();
    let err = sender.publish(&event()).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Connect);
}

#[tokio::test]
async fn publishing_without_a_target_is_a_configuration_error() {
    let t = HttpTransport::new(HttpConfig::new()).unwrap();
    assert_eq!(
        t.publish(&event()).await.unwrap_err().kind(),
        TransportErrorKind::Config
    );
}
