//! The materialized view and the queries the API serves.

use keptn_core::orchestrator::store::{ExecutionFilter, PageRequest, TriggeredFilter, ViewFilter};
use keptn_core::orchestrator::{ControllerError, ExecutionState};
use keptn_sdk::event::{KeptnContext, KeptnResult};
use serde_json::json;

use super::shipyards::DELIVERY;
use super::support::{Answer, PROJECT, Plane};

#[tokio::test(start_paused = true)]
async fn the_sequence_state_shows_each_stage_with_image_evaluation_and_latest_events() {
    let mut plane = Plane::start(DELIVERY).await;
    plane
        .passing(&["deployment", "test", "release", "rollback"])
        .await;
    plane
        .executor("evaluation", "lighthouse-service", |event| {
            let (result, score) = if event.stage() == Some("dev") {
                (KeptnResult::Pass, 95.0)
            } else {
                (KeptnResult::Fail, 20.0)
            };
            vec![
                Answer::Started,
                Answer::Finished(
                    result,
                    json!({"evaluation": {"result": result.as_str(), "score": score}}),
                ),
            ]
        })
        .await;
    let trigger = plane
        .trigger_with("dev", "delivery", "carts", KeptnContext::generate(),
            json!({"configurationChange": {"values": {"image": "docker.io/keptnexamples/carts:0.13.1"}}}))
        .await;
    let ctx = &trigger.shkeptncontext;
    plane
        .events
        .wait_for("sh.keptn.event.hardening.rollback.finished", ctx)
        .await;
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::Finished)
        .await;
    assert_eq!(
        (
            state.name.as_str(),
            state.service.as_str(),
            state.project.as_str()
        ),
        ("delivery", "carts", PROJECT)
    );
    let dev = &state.stages[0];
    assert_eq!(dev.name, "dev");
    assert_eq!(
        dev.image.as_deref(),
        Some("docker.io/keptnexamples/carts:0.13.1")
    );
    let evaluation = dev.latest_evaluation.as_ref().unwrap();
    assert_eq!(
        (evaluation.result.as_str(), evaluation.score),
        ("pass", 95.0)
    );
    assert_eq!(
        dev.latest_event.as_ref().unwrap().event_type,
        "sh.keptn.event.dev.delivery.finished"
    );
    assert!(dev.latest_failed_event.is_none());
    let hardening = &state.stages[1];
    assert_eq!(hardening.latest_evaluation.as_ref().unwrap().result, "fail");
    assert_eq!(
        hardening.latest_failed_event.as_ref().unwrap().event_type,
        "sh.keptn.event.hardening.delivery.finished"
    );
    assert_eq!(
        hardening.latest_event.as_ref().unwrap().event_type,
        "sh.keptn.event.hardening.rollback.finished",
        "the rollback ran in the same stage after the failed delivery"
    );
    assert_eq!(state.stages.len(), 2, "a failed hardening is not promoted");
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn open_triggered_events_list_the_tasks_waiting_for_an_answer() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "gated", "carts").await;
    let approval = plane
        .events
        .wait_for("sh.keptn.event.approval.triggered", &trigger.shkeptncontext)
        .await;
    plane
        .answer(&approval, "approval-service", &[Answer::Started])
        .await;
    plane.settle().await;
    let filter = TriggeredFilter {
        project: Some(PROJECT.into()),
        stage: Some("dev".into()),
        ..Default::default()
    };
    let open = plane
        .handle
        .triggered_events(
            "sh.keptn.event.approval.triggered",
            filter.clone(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(open.items, vec![approval.clone()]);
    let none = plane
        .handle
        .triggered_events(
            "sh.keptn.event.deployment.triggered",
            filter.clone(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(none.total_count, 0);
    let err = plane
        .handle
        .triggered_events(
            "sh.keptn.event.dev.gated.triggered",
            filter.clone(),
            PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ControllerError::NotATaskTrigger(_)));
    plane.pass(&approval, "user").await;
    plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &trigger.shkeptncontext)
        .await;
    let open = plane
        .handle
        .triggered_events(
            "sh.keptn.event.approval.triggered",
            filter,
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(open.total_count, 0);
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn sequence_states_and_executions_can_be_filtered() {
    let plane = Plane::start(DELIVERY).await;
    let one = plane.trigger("dev", "single", "carts").await;
    let two = plane.trigger("dev", "single", "orders").await;
    plane.trigger("dev", "unknown", "carts").await;
    for trigger in [&one, &two] {
        plane
            .events
            .wait_for("sh.keptn.event.mytask.triggered", &trigger.shkeptncontext)
            .await;
    }
    plane.settle().await;
    let both = ViewFilter {
        keptn_contexts: vec![one.shkeptncontext.clone(), two.shkeptncontext.clone()],
        ..Default::default()
    };
    let states = plane
        .handle
        .sequence_states(PROJECT, &both, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(states.total_count, 2);
    let all = plane
        .handle
        .sequence_states(
            PROJECT,
            &ViewFilter::default(),
            PageRequest { size: 2, offset: 0 },
        )
        .await
        .unwrap();
    assert_eq!(
        (all.total_count, all.items.len(), all.next_offset),
        (3, 2, Some(2))
    );
    let finished = ViewFilter {
        state: Some(ExecutionState::Finished),
        ..Default::default()
    };
    let states = plane
        .handle
        .sequence_states(PROJECT, &finished, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(states.items[0].name, "unknown");

    let running = ExecutionFilter {
        project: Some(PROJECT.into()),
        states: vec![ExecutionState::Started],
        ..Default::default()
    };
    let executions = plane
        .handle
        .sequence_executions(&running, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(executions.total_count, 2);
    let carts = ExecutionFilter {
        service: Some("carts".into()),
        ..running
    };
    let executions = plane
        .handle
        .sequence_executions(&carts, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(executions.items[0].triggered_id, one.id);
    assert_eq!(
        executions.items[0].current_task.as_ref().unwrap().name,
        "mytask"
    );
    plane.shutdown().await;
}
