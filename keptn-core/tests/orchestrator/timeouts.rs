//! Tasks that get no answer, delayed tasks and the optional task timeout.

use std::time::Duration;

use keptn_core::orchestrator::MemoryShipyardSource;
use keptn_core::orchestrator::store::MemorySequenceStore;
use keptn_core::orchestrator::{ControllerConfig, CoreConfig, ExecutionState};
use keptn_sdk::event::{KeptnContext, KeptnEvent, KeptnResult};
use keptn_sdk::transport::MemoryTransport;
use serde_json::json;

use super::shipyards::DELIVERY;
use super::support::{Answer, PROJECT, Plane};

/// A plane on memory stores with the DELIVERY shipyard and `core` as the controller's core.
async fn plane_with(core: CoreConfig) -> Plane {
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml(PROJECT, DELIVERY);
    let config = ControllerConfig {
        core,
        ..ControllerConfig::default()
    };
    Plane::start_with(
        std::sync::Arc::new(MemorySequenceStore::new()),
        shipyards,
        MemoryTransport::default(),
        config,
    )
    .await
}

/// Lets `after` pass, checking that `finished_type` comes only at its very end (not a second
/// earlier) and that it reports an errored, failed sequence; returns that event.
async fn times_out_after(
    plane: &Plane,
    finished_type: &str,
    ctx: &KeptnContext,
    after: Duration,
) -> KeptnEvent {
    tokio::time::advance(after - Duration::from_secs(1)).await;
    plane.settle().await;
    assert!(plane.events.of(finished_type, ctx).is_empty());
    tokio::time::advance(Duration::from_secs(1)).await;
    let finished = plane.events.wait_for(finished_type, ctx).await;
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("errored"), Some("fail"))
    );
    finished
}

#[tokio::test(start_paused = true)]
async fn a_task_without_any_answer_times_out_the_sequence_after_ten_minutes() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    plane
        .events
        .wait_for("sh.keptn.event.deployment.triggered", ctx)
        .await;
    let finished = times_out_after(
        &plane,
        "sh.keptn.event.dev.delivery.finished",
        ctx,
        Duration::from_secs(600),
    )
    .await;
    assert_eq!(
        finished.data["message"],
        "sequence timed out while waiting for task sh.keptn.event.deployment.triggered to receive a correlating .started or .finished event"
    );
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::TimedOut)
        .await;
    assert_eq!(state.stages[0].state, ExecutionState::TimedOut);
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.hardening.rollback.triggered", ctx)
            .is_empty()
    );
    assert!(
        plane
            .events
            .of("sh.keptn.event.hardening.delivery.triggered", ctx)
            .is_empty(),
        "timed-out sequences do not chain"
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_wait_for_a_first_answer_is_configurable() {
    let plane = plane_with(CoreConfig {
        task_started_wait: Duration::from_secs(10),
        ..CoreConfig::default()
    })
    .await;
    let trigger = plane.trigger("dev", "single", "carts").await;
    plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &trigger.shkeptncontext)
        .await;
    tokio::time::advance(Duration::from_secs(10)).await;
    plane
        .state_when(&trigger.shkeptncontext, |s| {
            s.state == ExecutionState::TimedOut
        })
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_delayed_task_is_sent_after_its_delay_and_its_timeout_counts_from_then() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delayed", "carts").await;
    let ctx = &trigger.shkeptncontext;
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Started)
        .await;
    tokio::time::advance(Duration::from_secs(5)).await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", ctx)
            .is_empty(),
        "not before 10s"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    tokio::time::advance(Duration::from_secs(595)).await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.delayed.finished", ctx)
            .is_empty(),
        "the delay does not count towards the timeout"
    );
    plane
        .answer(
            &task,
            "svc",
            &[
                Answer::Started,
                Answer::Finished(KeptnResult::Pass, json!({})),
            ],
        )
        .await;
    plane
        .events
        .wait_for("sh.keptn.event.release.triggered", ctx)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn aborting_during_a_delay_never_sends_the_delayed_task() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "delayed", "carts").await;
    let ctx = &trigger.shkeptncontext;
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Started)
        .await;
    let outcome = plane.handle.abort(PROJECT, ctx, None).await.unwrap();
    assert_eq!(outcome.affected, 1);
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.delayed.finished", ctx)
        .await;
    assert_eq!(finished.data["status"], "aborted");
    tokio::time::advance(Duration::from_secs(3600)).await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", ctx)
            .is_empty()
    );
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.dev.delayed.finished", ctx)
            .len(),
        1,
        "no later timeout either"
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_started_task_is_never_timed_out_by_default() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "single", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    plane.answer(&task, "svc", &[Answer::Started]).await;
    plane.settle().await;
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", ctx)
            .is_empty()
    );
    plane
        .state_when(ctx, |s| s.state == ExecutionState::Started)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_timeout_ends_a_started_task_that_never_finishes() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "bounded", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    plane.answer(&task, "svc", &[Answer::Started]).await;
    plane.settle().await;
    let finished = times_out_after(
        &plane,
        "sh.keptn.event.dev.bounded.finished",
        ctx,
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        finished.data["message"],
        "sequence timed out: task mytask did not finish within 5m"
    );
    plane
        .state_when(ctx, |s| s.state == ExecutionState::TimedOut)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_default_task_timeout_applies_to_tasks_without_their_own() {
    let plane = plane_with(CoreConfig {
        default_task_timeout: Some(Duration::from_secs(3600)),
        ..CoreConfig::default()
    })
    .await;
    let trigger = plane.trigger("dev", "single", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    plane.answer(&task, "svc", &[Answer::Started]).await;
    plane.settle().await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", ctx)
        .await;
    assert_eq!(
        finished.data["message"],
        "sequence timed out: task mytask did not finish within 1h"
    );
    plane.shutdown().await;
}
