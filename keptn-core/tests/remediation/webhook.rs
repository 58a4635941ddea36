//! The webhook action provider against a local server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use keptn_core::deploy::ServiceScope;
use keptn_core::remediation::{ActionProvider, ActionRequest, WebhookActionProvider};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::{ActionInfo, ProblemDetails};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn hook(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let token = headers
        .get("x-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    seen.lock().unwrap().push((token, body));
    StatusCode::ACCEPTED
}

async fn server() -> (String, Seen, tokio::sync::oneshot::Sender<()>) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .route(
            "/broken",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (url, seen, stop)
}

fn request(action: &str, value: Value) -> ActionRequest {
    ActionRequest {
        scope: ServiceScope::new("sockshop", "production", "carts").unwrap(),
        action: ActionInfo {
            name: Some(action.into()),
            action: Some(action.into()),
            description: Some("Toggle feature flag".into()),
            value: Some(value),
        },
        problem: Some(ProblemDetails {
            problem_title: Some("Response time degradation".into()),
            root_cause: Some("response_time_p90".into()),
            ..ProblemDetails::default()
        }),
        keptn_context: Some("ctx-7".into()),
    }
}

#[tokio::test]
async fn the_action_and_problem_are_posted_and_2xx_passes() {
    let (url, seen, _stop) = server().await;
    let provider = WebhookActionProvider::new(Duration::from_secs(5)).unwrap();
    let req = request(
        "toggle-feature",
        json!({"url": format!("{url}/hook"), "headers": {"x-token": "secret"}, "EnablePromotion": "off"}),
    );
    assert!(provider.handles(&req.action));
    let out = provider.execute(&req).await.unwrap();
    assert_eq!(out.result, KeptnResult::Pass, "{}", out.message);
    let seen = seen.lock().unwrap();
    let (token, body) = &seen[0];
    assert_eq!(token, "secret");
    assert_eq!(body["project"], "sockshop");
    assert_eq!(body["stage"], "production");
    assert_eq!(body["service"], "carts");
    assert_eq!(body["shkeptncontext"], "ctx-7");
    assert_eq!(body["action"]["action"], "toggle-feature");
    assert_eq!(body["action"]["value"]["EnablePromotion"], "off");
    assert_eq!(body["problem"]["problemTitle"], "Response time degradation");
    assert_eq!(body["problem"]["rootCause"], "response_time_p90");
}

#[tokio::test]
async fn configured_urls_and_failures() {
    let (url, seen, _stop) = server().await;
    let urls = WebhookActionProvider::parse_urls(
        format!("run-snow-wf: {url}/hook\npage-oncall: {url}/broken\n").as_bytes(),
    )
    .unwrap();
    let provider = WebhookActionProvider::new(Duration::from_secs(5))
        .unwrap()
        .with_urls(urls);

    let out = provider
        .execute(&request("run-snow-wf", json!("workflow-17")))
        .await
        .unwrap();
    assert_eq!(out.result, KeptnResult::Pass);
    assert_eq!(seen.lock().unwrap()[0].1["action"]["value"], "workflow-17");

    let out = provider
        .execute(&request("page-oncall", Value::Null))
        .await
        .unwrap();
    assert_eq!(out.result, KeptnResult::Fail);
    assert!(out.message.contains("503"), "{}", out.message);
    assert!(
        out.message.contains("down for maintenance"),
        "{}",
        out.message
    );

    // A plain URL value is a target too; an action without any URL is not handled.
    assert!(provider.handles(&request("anything", json!(format!("{url}/hook"))).action));
    assert!(!provider.handles(&request("scaling", json!(1)).action));

    // Nobody listens: a technical failure.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = provider
        .execute(&request(
            "x",
            json!(format!("http://127.0.0.1:{closed}/hook")),
        ))
        .await
        .unwrap_err();
    assert!(err.report().contains("did not answer"), "{}", err.report());

    assert!(WebhookActionProvider::parse_urls(b"x: ftp://nope").is_err());
}
