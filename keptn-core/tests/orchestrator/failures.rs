//! Sequences that fail, error, or cannot start (the original's controller scenarios 3 to 7 and
//! the unknown status).

use keptn_core::orchestrator::ExecutionState;
use keptn_sdk::event::KeptnResult;
use serde_json::json;

use super::shipyards::{DELIVERY, INVALID_VERSION};
use super::support::{Answer, PROJECT, Plane, pass, step};

#[tokio::test(start_paused = true)]
async fn an_errored_task_finishes_the_sequence_as_errored() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    step(
        &plane,
        &trigger,
        "dev",
        "deployment",
        &[Answer::Started, Answer::Errored],
    )
    .await;
    let finished = plane
        .events
        .wait_for(
            "sh.keptn.event.dev.delivery.finished",
            &trigger.shkeptncontext,
        )
        .await;
    assert_eq!(finished.data["status"], "errored");
    assert_eq!(finished.data["result"], "fail");
    assert_eq!(finished.data["message"], "the executor failed");
    assert!(
        plane
            .events
            .of("sh.keptn.event.test.triggered", &trigger.shkeptncontext)
            .is_empty()
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_stops_the_sequence() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    step(&plane, &trigger, "dev", "deployment", &pass()).await;
    step(
        &plane,
        &trigger,
        "dev",
        "test",
        &[
            Answer::Started,
            Answer::Finished(KeptnResult::Fail, json!({})),
        ],
    )
    .await;
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.delivery.finished", ctx)
        .await;
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("succeeded"), Some("fail"))
    );
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.evaluation.triggered", ctx)
            .is_empty()
    );
    assert!(
        plane
            .events
            .of("sh.keptn.event.hardening.delivery.triggered", ctx)
            .is_empty(),
        "no selector: fail does not promote"
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn one_failed_finished_among_several_executors_stops_the_sequence() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let deployment = plane
        .events
        .wait_for("sh.keptn.event.deployment.triggered", ctx)
        .await;
    plane.answer(&deployment, "helm", &[Answer::Started]).await;
    plane
        .answer(&deployment, "webhook", &[Answer::Started])
        .await;
    plane.pass(&deployment, "helm").await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.delivery.finished", ctx)
            .is_empty(),
        "one executor is still running"
    );
    plane
        .answer(
            &deployment,
            "webhook",
            &[Answer::Finished(KeptnResult::Fail, json!({}))],
        )
        .await;
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.delivery.finished", ctx)
        .await;
    assert_eq!(finished.data["result"], "fail");
    assert!(
        plane
            .events
            .of("sh.keptn.event.test.triggered", ctx)
            .is_empty()
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_shipyard_answers_the_trigger_with_an_errored_finished_event() {
    let plane = Plane::start(INVALID_VERSION).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let finished = plane
        .events
        .wait_for(
            "sh.keptn.event.dev.delivery.finished",
            &trigger.shkeptncontext,
        )
        .await;
    assert_eq!(finished.triggeredid.as_ref(), Some(&trigger.id));
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("errored"), Some("fail"))
    );
    let message = finished.data["message"].as_str().unwrap();
    assert!(
        message.starts_with("unable to retrieve shipyard file:"),
        "{message}"
    );
    assert!(message.contains("spec.keptn.sh/0.1.7"), "{message}");
    let state = plane.state_when(&trigger.shkeptncontext, |_| true).await;
    assert_eq!(state.state, ExecutionState::Finished);
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_sequence_is_answered_with_an_errored_finished_event() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "unknown", "carts").await;
    let finished = plane
        .events
        .wait_for(
            "sh.keptn.event.dev.unknown.finished",
            &trigger.shkeptncontext,
        )
        .await;
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("errored"), Some("fail"))
    );
    assert_eq!(
        finished.data["message"],
        "unable to start sequence unknown: no task sequence with name unknown found in stage dev"
    );
    let state = plane.state_when(&trigger.shkeptncontext, |_| true).await;
    assert_eq!(
        (state.name.as_str(), state.state),
        ("unknown", ExecutionState::Finished)
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_trigger_for_a_missing_stage_is_answered_with_an_errored_finished_event() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("qa", "delivery", "carts").await;
    let finished = plane
        .events
        .wait_for(
            "sh.keptn.event.qa.delivery.finished",
            &trigger.shkeptncontext,
        )
        .await;
    assert_eq!(finished.data["result"], "fail");
    assert_eq!(
        finished.data["message"],
        "unable to start sequence delivery: no stage with name qa"
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn task_events_that_answer_no_open_task_are_ignored() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "single", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    let mut stray = task.clone();
    stray.id = keptn_sdk::event::EventId::new("unknown-triggered-id");
    plane.answer(&stray, "svc", &pass()).await;
    let mut no_stage = task.clone();
    no_stage.data = json!({"project": PROJECT});
    no_stage.id = keptn_sdk::event::EventId::new("another-unknown-id");
    plane.answer(&no_stage, "svc", &pass()).await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", ctx)
            .is_empty()
    );
    plane.answer(&task, "svc", &pass()).await;
    plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", ctx)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_status_forces_the_result_to_fail() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    step(
        &plane,
        &trigger,
        "dev",
        "deployment",
        &[
            Answer::Started,
            Answer::FinishedRaw {
                status: Some("unknown"),
                result: Some("pass"),
            },
        ],
    )
    .await;
    let finished = plane
        .events
        .wait_for(
            "sh.keptn.event.dev.delivery.finished",
            &trigger.shkeptncontext,
        )
        .await;
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("unknown"), Some("fail"))
    );
    plane.shutdown().await;
}
