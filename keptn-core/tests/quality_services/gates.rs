//! Quality gates in sequences: a failed evaluation stops the delivery, approvals (automatic,
//! manual, declined) and waits.

use std::time::Duration;

use keptn_core::orchestrator::store::{PageRequest, TriggeredFilter};
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent, Phase};
use serde_json::json;

use super::support::*;

/// dev: evaluation, approval, wait; staging follows dev.
fn shipyard(approval: &str) -> String {
    format!(
        r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {{name: gates}}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: evaluation
              properties: {{timeframe: 10m}}
            - name: approval
              properties: {approval}
            - name: wait
              properties: {{duration: 1s}}
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{{event: dev.delivery.finished}}]
          tasks:
            - name: wait
              properties: {{duration: 1s}}
"#
    )
}

async fn gates(approval: &str, pass_below: u32) -> Harness {
    let h = Harness::start().await;
    h.project(&shipyard(approval), &["dev", "staging"]).await;
    h.sli_provider("builtin").await;
    h.service_file("dev", "slo.yaml", &slo(pass_below)).await;
    h.load_test("dev", &[100.0, 200.0], 0).await;
    h
}

fn types(h: &Harness, ctx: &KeptnContext) -> Vec<String> {
    h.recorder
        .all()
        .iter()
        .filter(|e| e.shkeptncontext == *ctx)
        .map(|e| e.type_string())
        .collect()
}

#[tokio::test]
async fn a_passed_gate_with_automatic_approval_promotes_to_the_next_stage() {
    let h = gates("{pass: automatic, warning: manual}", 600).await;
    let ctx = h.trigger("dev", "delivery", json!({})).await.shkeptncontext;
    let started = h.recorder.wait_for("approval.started", &ctx).await;
    assert_eq!(started.source, "approval-service");
    assert_eq!(
        started.data["message"],
        "Approval strategy for result 'pass': automatic"
    );
    let approved = h.recorder.wait_for("approval.finished", &ctx).await;
    assert_eq!(approved.data["result"], "pass");
    let wait = h.recorder.wait_for("wait.started", &ctx).await;
    assert_eq!(wait.data["message"], "waiting 1s");
    let dev = h.recorder.wait_for("dev.delivery.finished", &ctx).await;
    assert_eq!(dev.data["result"], "pass");
    let staging = h.recorder.wait_for("staging.delivery.finished", &ctx).await;
    assert_eq!(staging.data["result"], "pass");
    h.shutdown().await;
}

#[tokio::test]
async fn a_failed_evaluation_stops_the_delivery() {
    let h = gates("{pass: automatic, warning: automatic}", 50).await;
    let ctx = h.trigger("dev", "delivery", json!({})).await.shkeptncontext;
    let evaluation = h.evaluation_finished(&ctx).await;
    assert_eq!(evaluation.data["result"], "fail");
    let dev = h.recorder.wait_for("dev.delivery.finished", &ctx).await;
    assert_eq!(dev.data["result"], "fail");
    // Nothing after the evaluation ran, and staging was not triggered: give a late event the
    // time it would need to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = types(&h, &ctx);
    for absent in [
        "sh.keptn.event.approval.triggered",
        "sh.keptn.event.wait.triggered",
        "sh.keptn.event.staging.delivery.triggered",
    ] {
        assert!(!seen.iter().any(|t| t == absent), "{absent} in {seen:#?}");
    }
    h.shutdown().await;
}

async fn open_approvals(h: &Harness) -> Vec<KeptnEvent> {
    h.controller
        .triggered_events(
            "sh.keptn.event.approval.triggered",
            TriggeredFilter {
                project: Some(PROJECT.into()),
                stage: Some("dev".into()),
                ..TriggeredFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap()
        .items
}

/// Answers an approval as `keptn send event approval.finished` does.
fn answer(approval: &KeptnEvent, result: &str) -> KeptnEvent {
    KeptnEvent::builder(EventType::task("approval", Phase::Finished))
        .source("https://github.com/keptn/keptn/cli#approval.finished")
        .context(approval.shkeptncontext.clone())
        .triggered_id(approval.id.clone())
        .data_json(
            json!({"project": PROJECT, "stage": "dev", "service": SERVICE,
            "status": "succeeded", "result": result}),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_manual_approval_waits_without_blocking_and_goes_on_when_approved() {
    let h = gates("{pass: manual, warning: manual}", 600).await;
    let ctx = h.trigger("dev", "delivery", json!({})).await.shkeptncontext;
    let started = h.recorder.wait_for("approval.started", &ctx).await;
    assert_eq!(
        started.data["message"],
        "Approval strategy for result 'pass': manual"
    );
    let open = open_approvals(&h).await;
    assert_eq!(open.len(), 1);
    let approval = open[0].clone();
    assert_eq!(approval.shkeptncontext, ctx);

    // Meanwhile another sequence of the same service runs to its end.
    let other = h.evaluate("dev").await;
    let other_end = h.recorder.wait_for("dev.evaluation.finished", &other).await;
    assert_eq!(other_end.data["result"], "pass");
    assert!(h.recorder.of("approval.finished", &ctx).is_empty());
    assert!(h.recorder.of("wait.triggered", &ctx).is_empty());

    h.publish(&answer(&approval, "pass")).await;
    h.recorder.wait_for("wait.finished", &ctx).await;
    let dev = h.recorder.wait_for("dev.delivery.finished", &ctx).await;
    assert_eq!(dev.data["result"], "pass");
    h.recorder
        .wait_for("staging.delivery.triggered", &ctx)
        .await;
    assert!(open_approvals(&h).await.is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn a_declined_approval_stops_the_delivery() {
    let h = gates("{pass: manual}", 600).await;
    let ctx = h.trigger("dev", "delivery", json!({})).await.shkeptncontext;
    h.recorder.wait_for("approval.started", &ctx).await;
    let approval = open_approvals(&h).await.remove(0);
    h.publish(&answer(&approval, "fail")).await;
    let dev = h.recorder.wait_for("dev.delivery.finished", &ctx).await;
    assert_eq!(dev.data["result"], "fail");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = types(&h, &ctx);
    assert!(
        !seen.iter().any(|t| t == "sh.keptn.event.wait.triggered"
            || t == "sh.keptn.event.staging.delivery.triggered"),
        "{seen:#?}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_missing_strategy_is_manual() {
    let h = gates("{warning: automatic}", 600).await;
    let ctx = h.trigger("dev", "delivery", json!({})).await.shkeptncontext;
    let started = h.recorder.wait_for("approval.started", &ctx).await;
    assert_eq!(
        started.data["message"],
        "Approval strategy for result 'pass': manual"
    );
    assert_eq!(open_approvals(&h).await.len(), 1);
    h.shutdown().await;
}

const WAITS: &str = r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: waits}
spec:
  stages:
    - name: dev
      sequences:
        - name: long
          tasks:
            - name: wait
              properties: {duration: 1h}
        - name: short
          tasks:
            - name: wait
              properties: {duration: 1s}
        - name: broken
          tasks:
            - name: wait
              properties: {duration: soon}
"#;

#[tokio::test]
async fn waits_run_side_by_side_and_bad_durations_error() {
    let h = Harness::start().await;
    h.project(WAITS, &["dev"]).await;
    for service in ["orders", "payment"] {
        h.config.create_service(PROJECT, service).await.unwrap();
    }
    let long = h.trigger("dev", "long", json!({})).await.shkeptncontext;
    h.recorder.wait_for("wait.started", &long).await;
    // Sequences of one service queue behind each other; the second waits for a service of
    // its own so that only the wait service could hold it up.
    let short = h
        .trigger("dev", "short", json!({"service": "orders"}))
        .await
        .shkeptncontext;
    let finished = h.recorder.wait_for("wait.finished", &short).await;
    assert_eq!(finished.data["message"], "waited 1s");
    assert!(h.recorder.of("wait.finished", &long).is_empty());

    let broken = h
        .trigger("dev", "broken", json!({"service": "payment"}))
        .await
        .shkeptncontext;
    let errored = h.recorder.wait_for("wait.finished", &broken).await;
    assert_eq!(errored.data["status"], "errored");
    assert!(
        errored.data["message"]
            .as_str()
            .unwrap()
            .starts_with("wait.duration: \"soon\" is not a duration"),
        "{}",
        errored.data
    );
    h.recorder.wait_for("dev.broken.finished", &broken).await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_pending_wait_survives_a_restart_of_the_wait_service() {
    let mut h = Harness::start().await;
    h.project(&WAITS.replace("duration: 1s", "duration: 3s"), &["dev"])
        .await;
    let ctx = h.trigger("dev", "short", json!({})).await.shkeptncontext;
    h.recorder.wait_for("wait.started", &ctx).await;
    h.stop_service("wait-service").await;
    h.start_service(keptn_core::services::quality::wait_service())
        .await;
    let finished = h.recorder.wait_for("wait.finished", &ctx).await;
    assert_eq!(finished.data["result"], "pass");
    let end = h.recorder.wait_for("dev.short.finished", &ctx).await;
    assert_eq!(end.data["result"], "pass");
    assert_eq!(h.recorder.of("wait.started", &ctx).len(), 1);
    assert_eq!(h.recorder.of("wait.finished", &ctx).len(), 1);
    h.shutdown().await;
}
