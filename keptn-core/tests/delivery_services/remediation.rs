//! `get-action` from remediation.yaml, and `action` answered by exactly one provider.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use super::support::{Harness, data_str, version_at};

const WAIT: Duration = Duration::from_secs(40);

const STAGE_FILE: &str = r#"apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: stage-remediation}
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - {name: stage action, action: stage-action, description: from the stage, value: "1"}
"#;

const SERVICE_FILE: &str = r#"apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata: {name: carts-remediation}
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - {name: scaling, action: scaling, description: Scale up, value: 1}
        - {name: toggle-feature, action: toggle-feature, description: Toggle EnablePromotion off, value: {EnablePromotion: "off"}}
"#;

fn problem(index: Option<i64>) -> Value {
    let mut data =
        json!({"problem": {"problemTitle": "Response time degradation", "state": "OPEN"}});
    if let Some(index) = index {
        data["get-action"] = json!({"actionIndex": index});
    }
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_action_reads_the_service_file_before_the_stage_file_and_walks_the_actions() {
    let mut h = Harness::start().await;
    let none = h.trigger("get-action", problem(None)).await;
    let answer = h.only_finished(&none, WAIT).await;
    assert_eq!(answer.source, "remediation-service");
    assert_eq!(data_str(&answer, "/status"), "errored");
    assert!(data_str(&answer, "/message").contains("Could not get remediation.yaml"));

    h.put_stage_resource("remediation.yaml", STAGE_FILE.as_bytes())
        .await;
    let from_stage = h.trigger("get-action", problem(None)).await;
    let answer = h.only_finished(&from_stage, WAIT).await;
    assert_eq!(data_str(&answer, "/action/action"), "stage-action");

    h.put_service_resource("remediation.yaml", SERVICE_FILE.as_bytes())
        .await;
    let first = h.trigger("get-action", problem(None)).await;
    let answer = h.only_finished(&first, WAIT).await;
    assert_eq!(data_str(&answer, "/result"), "pass");
    assert_eq!(data_str(&answer, "/action/action"), "scaling");
    assert_eq!(answer.data["get-action"]["actionIndex"], 1);

    let second = h.trigger("get-action", problem(Some(1))).await;
    let answer = h.only_finished(&second, WAIT).await;
    assert_eq!(data_str(&answer, "/action/action"), "toggle-feature");
    assert_eq!(answer.data["get-action"]["actionIndex"], 2);

    let past = h.trigger("get-action", problem(Some(2))).await;
    let answer = h.only_finished(&past, WAIT).await;
    assert_eq!(data_str(&answer, "/status"), "succeeded");
    assert_eq!(data_str(&answer, "/result"), "fail");
    assert_eq!(
        data_str(&answer, "/message"),
        "there is no action with index 2 for problem title Response time degradation"
    );
    h.stop().await;
}

/// A webhook receiver that records the bodies it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                |State(got): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                    got.lock().unwrap().push(body);
                    "done"
                },
            ),
        )
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

fn action(id: &str, value: Value) -> Value {
    json!({
        "action": {"name": id, "action": id, "description": "test", "value": value},
        "problem": {"problemTitle": "Response time degradation"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_action_is_answered_by_exactly_one_provider() {
    let mut h = Harness::start().await;
    let deployed = h
        .trigger(
            "deployment",
            json!({"configurationChange": {"values": {"image": "carts:1.0.0"}}, "deployment": {"deploymentstrategy": "direct"}}),
        )
        .await;
    let done = h.only_finished(&deployed, WAIT).await;
    let uri = data_str(&done, "/deployment/deploymentURIsLocal/0").to_owned();

    let scale = h.trigger("action", action("scaling", json!("+1"))).await;
    let scaled = h.only_finished(&scale, WAIT).await;
    assert_eq!(scaled.source, "local-deployer");
    assert_eq!(data_str(&scaled, "/result"), "pass", "{:?}", scaled.data);
    assert!(data_str(&scaled, "/message").contains("from 1 to 2 replicas"));
    let mut pids = HashSet::new();
    for _ in 0..6 {
        pids.insert(version_at(&uri).await.1);
    }
    assert_eq!(pids.len(), 2, "traffic reaches both replicas");

    let (url, got) = receiver().await;
    let hook = h
        .trigger("action", action("toggle-feature", json!(url)))
        .await;
    let hooked = h.only_finished(&hook, WAIT).await;
    assert_eq!(hooked.source, "webhook-service");
    assert_eq!(data_str(&hooked, "/result"), "pass", "{:?}", hooked.data);
    {
        let bodies = got.lock().unwrap();
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0]["action"]["action"], "toggle-feature");
        assert_eq!(bodies[0]["service"], "carts");
        assert_eq!(
            bodies[0]["problem"]["problemTitle"],
            "Response time degradation"
        );
    }

    // The URL of an action id can come from remediation/webhooks.yaml.
    h.put_stage_resource(
        "remediation/webhooks.yaml",
        format!("restart-pods: {url}\n").as_bytes(),
    )
    .await;
    let mapped = h
        .trigger("action", action("restart-pods", json!(null)))
        .await;
    let answer = h.only_finished(&mapped, WAIT).await;
    assert_eq!(data_str(&answer, "/result"), "pass", "{:?}", answer.data);
    assert_eq!(got.lock().unwrap().len(), 2);

    let unknown = h.trigger("action", action("reboot", json!("now"))).await;
    let answer = h.only_finished(&unknown, WAIT).await;
    assert_eq!(answer.source, "webhook-service");
    assert_eq!(data_str(&answer, "/result"), "fail");
    assert!(
        data_str(&answer, "/message").contains("remediation/webhooks.yaml"),
        "{:?}",
        answer.data
    );

    let bad_scaling = h.trigger("action", action("scaling", json!("lots"))).await;
    let answer = h.only_finished(&bad_scaling, WAIT).await;
    assert_eq!(answer.source, "local-deployer");
    assert_eq!(data_str(&answer, "/result"), "fail");
    h.stop().await;
}
