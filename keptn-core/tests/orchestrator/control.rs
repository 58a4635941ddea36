//! Pause, resume and abort.

use keptn_core::orchestrator::store::{PageRequest, TriggeredFilter};
use keptn_core::orchestrator::{ControllerError, ExecutionState};
use keptn_sdk::event::KeptnContext;
use serde_json::json;

use super::shipyards::DELIVERY;
use super::support::{Answer, PROJECT, Plane, pass};

async fn open_tasks(plane: &Plane, event_type: &str) -> u64 {
    plane
        .handle
        .triggered_events(
            event_type,
            TriggeredFilter {
                project: Some(PROJECT.into()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap()
        .total_count
}

#[tokio::test(start_paused = true)]
async fn abort_ends_a_running_sequence_as_aborted_and_closes_its_task() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "single", "my-service").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    plane.answer(&task, "svc", &[Answer::Started]).await;
    plane
        .state_when(ctx, |s| {
            s.stages[0]
                .latest_event
                .as_ref()
                .is_some_and(|e| e.event_type.ends_with("started"))
        })
        .await;
    assert_eq!(
        open_tasks(&plane, "sh.keptn.event.mytask.triggered").await,
        1
    );

    let outcome = plane.handle.abort(PROJECT, ctx, None).await.unwrap();
    assert_eq!(outcome.affected, 1);
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", ctx)
        .await;
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("aborted"), Some("pass"))
    );
    assert_eq!(finished.triggeredid.as_ref(), Some(&trigger.id));
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Aborted)
        .await;
    assert_eq!(
        open_tasks(&plane, "sh.keptn.event.mytask.triggered").await,
        0
    );

    plane.pass(&task, "svc").await;
    plane.settle().await;
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", ctx)
            .len(),
        1,
        "late answers are ignored"
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn aborting_a_queued_sequence_removes_it_without_triggering_any_task() {
    let plane = Plane::start(DELIVERY).await;
    let first = plane.trigger("dev", "single", "my-service").await;
    let first_task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &first.shkeptncontext)
        .await;
    let queued = plane.trigger("dev", "single", "my-service").await;
    plane
        .state_when(&queued.shkeptncontext, |s| {
            s.state == ExecutionState::Waiting
        })
        .await;
    plane
        .handle
        .abort(PROJECT, &queued.shkeptncontext, None)
        .await
        .unwrap();
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", &queued.shkeptncontext)
        .await;
    assert_eq!(finished.data["status"], "aborted");
    plane.answer(&first_task, "svc", &pass()).await;
    plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", &first.shkeptncontext)
        .await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &queued.shkeptncontext)
            .is_empty()
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pause_holds_the_next_task_and_resume_sends_it() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let deployment = plane
        .events
        .wait_for("sh.keptn.event.deployment.triggered", ctx)
        .await;
    plane.answer(&deployment, "helm", &[Answer::Started]).await;
    let outcome = plane.handle.pause(PROJECT, ctx, None).await.unwrap();
    assert_eq!(outcome.affected, 1);
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Paused)
        .await;
    plane.pass(&deployment, "helm").await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.test.triggered", ctx)
            .is_empty(),
        "the running task finished, nothing new is sent"
    );

    let other = plane.trigger("dev", "single", "carts").await;
    plane
        .state_when(&other.shkeptncontext, |s| {
            s.state == ExecutionState::Waiting
        })
        .await;

    plane.handle.resume(PROJECT, ctx, None).await.unwrap();
    let test = plane
        .events
        .wait_for("sh.keptn.event.test.triggered", ctx)
        .await;
    assert_eq!(test.data["result"], "pass");
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Started)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_sequence_triggered_for_a_paused_context_starts_paused() {
    let mut plane = Plane::start(DELIVERY).await;
    plane
        .passing(&["deployment", "test", "evaluation", "release"])
        .await;
    let context = KeptnContext::generate();
    let outcome = plane.handle.pause(PROJECT, &context, None).await.unwrap();
    assert_eq!(
        outcome.affected, 0,
        "nothing runs yet, the pause waits for the context"
    );
    plane
        .trigger_with("dev", "delivery", "carts", context.clone(), json!({}))
        .await;
    plane
        .state_when(&context, |s| s.state == ExecutionState::Paused)
        .await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.deployment.triggered", &context)
            .is_empty()
    );
    plane.handle.resume(PROJECT, &context, None).await.unwrap();
    plane
        .events
        .wait_for("sh.keptn.event.production.delivery.finished", &context)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn aborting_a_paused_sequence_with_a_partially_finished_task_ends_it() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "single", "my-service").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    plane.answer(&task, "first", &[Answer::Started]).await;
    plane.answer(&task, "second", &[Answer::Started]).await;
    plane.pass(&task, "first").await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", ctx)
            .is_empty(),
        "the second executor is still running"
    );
    plane.handle.pause(PROJECT, ctx, None).await.unwrap();
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Paused)
        .await;
    plane.handle.abort(PROJECT, ctx, None).await.unwrap();
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", ctx)
        .await;
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("aborted"), Some("pass"))
    );
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Aborted)
        .await;
    assert_eq!(
        open_tasks(&plane, "sh.keptn.event.mytask.triggered").await,
        0
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn aborting_a_paused_context_ends_the_sequences_of_every_stage() {
    let plane = Plane::start(DELIVERY).await;
    let context = KeptnContext::generate();
    let dev = plane
        .trigger_with("dev", "single", "carts", context.clone(), json!({}))
        .await;
    let production = plane
        .trigger_with(
            "production",
            "delivery",
            "carts",
            context.clone(),
            json!({}),
        )
        .await;
    plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &context)
        .await;
    plane
        .events
        .wait_for("sh.keptn.event.deployment.triggered", &context)
        .await;
    let outcome = plane.handle.pause(PROJECT, &context, None).await.unwrap();
    assert_eq!(outcome.affected, 2);
    let state = plane
        .state_when(&context, |s| s.state == ExecutionState::Paused)
        .await;
    assert!(
        state
            .stages
            .iter()
            .all(|s| s.state == ExecutionState::Paused)
    );
    let outcome = plane.handle.abort(PROJECT, &context, None).await.unwrap();
    assert_eq!(outcome.affected, 2);
    for (trigger, finished_type) in [
        (&dev, "sh.keptn.event.dev.single.finished"),
        (&production, "sh.keptn.event.production.delivery.finished"),
    ] {
        let finished = plane.events.wait_for(finished_type, &context).await;
        assert_eq!(finished.triggeredid.as_ref(), Some(&trigger.id));
        assert_eq!(finished.data["status"], "aborted");
    }
    let state = plane
        .state_when(&context, |s| s.state == ExecutionState::Aborted)
        .await;
    assert!(
        state
            .stages
            .iter()
            .all(|s| s.state == ExecutionState::Aborted)
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn control_of_one_stage_leaves_the_other_stages_alone() {
    let plane = Plane::start(DELIVERY).await;
    let context = KeptnContext::generate();
    plane
        .trigger_with("dev", "single", "carts", context.clone(), json!({}))
        .await;
    plane
        .trigger_with(
            "production",
            "delivery",
            "carts",
            context.clone(),
            json!({}),
        )
        .await;
    plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &context)
        .await;
    plane
        .events
        .wait_for("sh.keptn.event.deployment.triggered", &context)
        .await;
    assert_eq!(
        plane
            .handle
            .pause(PROJECT, &context, Some("dev"))
            .await
            .unwrap()
            .affected,
        1
    );
    let state = plane
        .state_when(&context, |s| {
            s.stages.iter().any(|st| st.state == ExecutionState::Paused)
        })
        .await;
    let production = state
        .stages
        .iter()
        .find(|s| s.name == "production")
        .unwrap();
    assert_eq!(production.state, ExecutionState::Started);
    assert_eq!(state.state, ExecutionState::Started, "one stage still runs");
    assert_eq!(
        plane
            .handle
            .abort(PROJECT, &context, Some("production"))
            .await
            .unwrap()
            .affected,
        1
    );
    plane
        .events
        .wait_for("sh.keptn.event.production.delivery.finished", &context)
        .await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", &context)
            .is_empty()
    );
    assert_eq!(
        plane
            .handle
            .resume(PROJECT, &context, Some("dev"))
            .await
            .unwrap()
            .affected,
        1
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn control_commands_fail_once_the_controller_stopped() {
    let mut plane = Plane::start(DELIVERY).await;
    let handle = plane.handle.clone();
    plane.stop_controller().await;
    let err = handle
        .abort(PROJECT, &KeptnContext::generate(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ControllerError::NotRunning), "{err}");
    plane.shutdown().await;
}
