//! One sequence per project, stage and service at a time; different services in parallel.

use std::time::Duration;

use keptn_core::orchestrator::ExecutionState;
use keptn_sdk::event::KeptnContext;
use serde_json::json;

use super::shipyards::DELIVERY;
use super::support::{Answer, Plane, pass};

#[tokio::test(start_paused = true)]
async fn services_of_the_same_stage_do_not_block_each_other() {
    let plane = Plane::start(DELIVERY).await;
    let carts = plane.trigger("dev", "single", "carts").await;
    let orders = plane.trigger("dev", "single", "orders").await;
    let carts_task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &carts.shkeptncontext)
        .await;
    let orders_task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &orders.shkeptncontext)
        .await;
    let third = plane.trigger("dev", "single", "carts").await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &third.shkeptncontext)
            .is_empty()
    );
    let waiting = plane
        .state_when(&third.shkeptncontext, |s| {
            s.state == ExecutionState::Waiting
        })
        .await;
    assert_eq!(waiting.stages[0].state, ExecutionState::Waiting);

    plane.answer(&orders_task, "svc", &pass()).await;
    plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", &orders.shkeptncontext)
        .await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &third.shkeptncontext)
            .is_empty(),
        "orders does not free carts' slot"
    );

    plane.answer(&carts_task, "svc", &pass()).await;
    let third_task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &third.shkeptncontext)
        .await;
    plane.answer(&third_task, "svc", &pass()).await;
    plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", &third.shkeptncontext)
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn queued_sequences_start_one_at_a_time_in_trigger_order_even_after_aborts() {
    let plane = Plane::start(DELIVERY).await;
    let mut contexts = Vec::new();
    for _ in 0..6 {
        let trigger = plane.trigger("dev", "single", "carts").await;
        contexts.push(trigger.shkeptncontext);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Abort a queued one in the middle: the order of the others must not change.
    plane
        .handle
        .abort(super::support::PROJECT, &contexts[3], None)
        .await
        .unwrap();
    for (i, ctx) in contexts.iter().enumerate() {
        if i == 3 {
            continue;
        }
        plane
            .events
            .wait_for("sh.keptn.event.mytask.triggered", ctx)
            .await;
        plane.settle().await;
        for later in &contexts[i + 1..] {
            assert!(
                plane
                    .events
                    .of("sh.keptn.event.mytask.triggered", later)
                    .is_empty(),
                "exactly one sequence of the service runs at a time"
            );
        }
        let state = plane
            .state_when(ctx, |s| s.state == ExecutionState::Started)
            .await;
        assert_eq!(state.shkeptncontext, *ctx);
        plane
            .handle
            .abort(super::support::PROJECT, ctx, None)
            .await
            .unwrap();
    }
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &contexts[3])
            .is_empty()
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_sequence_waiting_for_approval_does_not_block_the_queue() {
    let plane = Plane::start(DELIVERY).await;
    let gated = plane.trigger("dev", "gated", "my-service").await;
    let approval = plane
        .events
        .wait_for("sh.keptn.event.approval.triggered", &gated.shkeptncontext)
        .await;
    plane
        .answer(&approval, "approval-service", &[Answer::Started])
        .await;
    plane
        .state_when(&gated.shkeptncontext, |s| {
            s.state == ExecutionState::WaitingForApproval
        })
        .await;

    let other = plane.trigger("dev", "single", "my-service").await;
    let other_task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &other.shkeptncontext)
        .await;
    plane.answer(&other_task, "svc", &[Answer::Started]).await;

    plane.pass(&approval, "approval-service").await;
    plane.settle().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &gated.shkeptncontext)
            .is_empty(),
        "the approved sequence waits until the running one is done"
    );
    plane
        .state_when(&gated.shkeptncontext, |s| {
            s.state == ExecutionState::Waiting
        })
        .await;

    plane.pass(&other_task, "svc").await;
    plane
        .state_when(&other.shkeptncontext, |s| {
            s.state == ExecutionState::Finished
        })
        .await;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &gated.shkeptncontext)
        .await;
    assert_eq!(task.data["result"], "pass");
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_sequence_frees_the_queue() {
    let plane = Plane::start(DELIVERY).await;
    let first = plane.trigger("dev", "single", "my-service").await;
    plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &first.shkeptncontext)
        .await;
    let second = plane.trigger("dev", "single", "my-service").await;
    plane
        .state_when(&second.shkeptncontext, |s| {
            s.state == ExecutionState::Waiting
        })
        .await;
    tokio::time::advance(Duration::from_secs(600)).await;
    plane
        .state_when(&first.shkeptncontext, |s| {
            s.state == ExecutionState::TimedOut
        })
        .await;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &second.shkeptncontext)
        .await;
    assert_eq!(task.shkeptncontext, second.shkeptncontext);
    plane
        .state_when(&second.shkeptncontext, |s| {
            s.state == ExecutionState::Started
        })
        .await;
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_reused_context_queues_the_second_trigger_instead_of_dropping_it() {
    let plane = Plane::start(DELIVERY).await;
    let context = KeptnContext::generate();
    let first = plane
        .trigger_with("dev", "single", "carts", context.clone(), json!({}))
        .await;
    let second = plane
        .trigger_with("dev", "single", "carts", context.clone(), json!({}))
        .await;
    assert_ne!(first.id, second.id);
    let tasks = plane
        .events
        .wait_count("sh.keptn.event.mytask.triggered", &context, 1)
        .await;
    plane.settle().await;
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &context)
            .len(),
        1,
        "the second run waits"
    );
    plane.answer(&tasks[0], "svc", &pass()).await;
    let tasks = plane
        .events
        .wait_count("sh.keptn.event.mytask.triggered", &context, 2)
        .await;
    plane.answer(&tasks[1], "svc", &pass()).await;
    let finished = plane
        .events
        .wait_count("sh.keptn.event.dev.single.finished", &context, 2)
        .await;
    let answered: Vec<_> = finished
        .iter()
        .filter_map(|e| e.triggeredid.clone())
        .collect();
    assert!(answered.contains(&first.id) && answered.contains(&second.id));
    plane.shutdown().await;
}
