//! Sequences running their tasks, finishing and chaining (the original's controller scenarios
//! 1, 2 and 4b, duplicate tasks, parallel stages and the remediation loop).

use keptn_core::orchestrator::ExecutionState;
use keptn_sdk::event::{GitCommitId, KeptnResult};
use serde_json::json;

use super::shipyards::{DELIVERY, PARALLEL};
use super::support::{Answer, PROJECT, Plane, pass, step};

#[tokio::test(start_paused = true)]
async fn a_delivery_runs_every_task_and_promotes_to_the_next_stage_with_the_merged_payload() {
    let plane = Plane::start(DELIVERY).await;
    plane
        .shipyards
        .set_stage_commit(PROJECT, "hardening", GitCommitId::new("hardening-commit"));
    let trigger = plane
        .trigger_with(
            "dev",
            "delivery",
            "carts",
            keptn_sdk::event::KeptnContext::generate(),
            json!({"configurationChange": {"values": {"image": "carts:0.13.1"}}}),
        )
        .await;
    let ctx = &trigger.shkeptncontext;

    let deployment = step(
        &plane,
        &trigger,
        "dev",
        "deployment",
        &[
            Answer::Started,
            Answer::Finished(
                KeptnResult::Pass,
                json!({"deployment": {
            "deploymentURIsLocal": ["http://carts.sockshop-dev"], "deploymentNames": ["direct"]}}),
            ),
        ],
    )
    .await;
    assert_eq!(deployment.source, "shipyard-controller");
    assert_eq!(
        deployment.data["deployment"]["deploymentstrategy"],
        "direct"
    );
    assert_eq!(
        deployment.data["configurationChange"]["values"]["image"],
        "carts:0.13.1"
    );
    assert_eq!(deployment.data["labels"], json!({"buildId": "17"}));
    assert!(
        deployment.gitcommitid.is_some(),
        "the trigger was stamped with the stage's commit"
    );

    let test = step(
        &plane,
        &trigger,
        "dev",
        "test",
        &[
            Answer::Started,
            Answer::Finished(
                KeptnResult::Pass,
                json!({"test": {"start": "t1", "end": "t2"}}),
            ),
        ],
    )
    .await;
    assert_eq!(test.data["test"]["teststrategy"], "functional");
    assert_eq!(
        test.data["deployment"]["deploymentURIsLocal"],
        json!(["http://carts.sockshop-dev"])
    );
    assert_eq!(test.data["result"], "pass");
    assert_eq!(test.data["status"], "succeeded");
    assert_eq!(
        test.data["message"], "",
        "the message of the previous task is blanked"
    );

    let evaluation = step(
        &plane,
        &trigger,
        "dev",
        "evaluation",
        &[
            Answer::Started,
            Answer::Finished(
                KeptnResult::Warning,
                json!({"evaluation": {"score": 80.0, "result": "warning"}}),
            ),
        ],
    )
    .await;
    assert_eq!(
        evaluation.data["test"],
        json!({"start": "t1", "end": "t2"}),
        "task properties stay with their task"
    );

    let release = step(&plane, &trigger, "dev", "release", &pass()).await;
    assert_eq!(
        release.data["result"], "warning",
        "a warning does not stop the sequence"
    );

    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.delivery.finished", ctx)
        .await;
    assert_eq!(finished.triggeredid.as_ref(), Some(&trigger.id));
    assert_eq!(finished.data["result"], "pass");
    assert_eq!(finished.data["status"], "succeeded");
    assert_eq!(finished.data["labels"], json!({"buildId": "17"}));

    let next = plane
        .events
        .wait_for("sh.keptn.event.hardening.delivery.triggered", ctx)
        .await;
    assert_eq!(next.data["stage"], "hardening");
    assert_eq!(next.data["service"], "carts");
    assert_eq!(
        next.data["configurationChange"]["values"]["image"],
        "carts:0.13.1"
    );
    assert_eq!(
        next.data["deployment"]["deploymentNames"],
        json!(["direct"])
    );
    assert_eq!(next.gitcommitid, Some(GitCommitId::new("hardening-commit")));

    let hardening_deployment = step(&plane, &trigger, "hardening", "deployment", &pass()).await;
    assert_eq!(
        hardening_deployment.data["test"]["start"], "t1",
        "previous stage's test data travels on"
    );
    assert_eq!(
        hardening_deployment.data["deployment"]["deploymentstrategy"],
        "blue_green_service"
    );
    assert_eq!(
        hardening_deployment.gitcommitid,
        Some(GitCommitId::new("hardening-commit"))
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn events_arriving_out_of_order_still_complete_the_task() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "single", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    plane.pass(&task, "svc").await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", ctx)
            .is_empty(),
        "a .finished without .started does not complete the task"
    );
    plane.answer(&task, "svc", &[Answer::Started]).await;
    let finished = plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", ctx)
        .await;
    assert_eq!(finished.data["result"], "pass");
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_sequence_triggers_the_sequence_that_selects_fail() {
    let mut plane = Plane::start(DELIVERY).await;
    plane
        .passing(&["deployment", "test", "release", "rollback"])
        .await;
    plane
        .executor("evaluation", "lighthouse", |event| {
            let result = if event.stage() == Some("hardening") {
                KeptnResult::Fail
            } else {
                KeptnResult::Pass
            };
            vec![Answer::Started, Answer::Finished(result, json!({}))]
        })
        .await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let hardening = plane
        .events
        .wait_for("sh.keptn.event.hardening.delivery.finished", ctx)
        .await;
    assert_eq!(hardening.data["result"], "fail");
    let rollback = plane
        .events
        .wait_for("sh.keptn.event.hardening.rollback.triggered", ctx)
        .await;
    assert_eq!(rollback.data["stage"], "hardening");
    plane
        .events
        .wait_for("sh.keptn.event.hardening.rollback.finished", ctx)
        .await;
    plane.settle().await;
    assert!(
        plane
            .events
            .of("sh.keptn.event.production.delivery.triggered", ctx)
            .is_empty()
    );
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::Finished)
        .await;
    assert_eq!(state.stages.len(), 2);
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_passing_delivery_is_promoted_through_every_stage() {
    let mut plane = Plane::start(DELIVERY).await;
    plane
        .passing(&["deployment", "test", "evaluation", "release"])
        .await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let finished = plane
        .events
        .wait_for("sh.keptn.event.production.delivery.finished", ctx)
        .await;
    assert_eq!(finished.data["result"], "pass");
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::Finished)
        .await;
    let stages: Vec<&str> = state.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["dev", "hardening", "production"]);
    assert!(
        plane
            .events
            .of("sh.keptn.event.hardening.rollback.triggered", ctx)
            .is_empty()
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn two_tasks_with_the_same_name_in_a_row_run_once_each() {
    let mut plane = Plane::start(DELIVERY).await;
    plane.passing(&["deployment"]).await;
    let trigger = plane.trigger("dev", "twice", "carts").await;
    let ctx = &trigger.shkeptncontext;
    plane
        .events
        .wait_for("sh.keptn.event.dev.twice.finished", ctx)
        .await;
    plane.settle().await;
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.deployment.triggered", ctx)
            .len(),
        2
    );
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.dev.twice.finished", ctx)
            .len(),
        1
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn redelivered_events_are_recognised_by_their_id() {
    let plane = Plane::start(DELIVERY).await;
    let trigger = plane.trigger("dev", "single", "carts").await;
    plane.publish(&trigger).await;
    let ctx = &trigger.shkeptncontext;
    let task = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", ctx)
        .await;
    let responses = super::support::answers(&task, "svc", &pass());
    for event in responses.iter().chain(responses.iter()) {
        plane.publish(event).await;
    }
    plane
        .events
        .wait_for("sh.keptn.event.dev.single.finished", ctx)
        .await;
    plane.publish(&trigger).await;
    plane.settle().await;
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", ctx)
            .len(),
        1
    );
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.dev.single.finished", ctx)
            .len(),
        1
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_builtin_evaluation_sequence_runs_when_a_stage_declares_none() {
    let mut plane = Plane::start(DELIVERY).await;
    plane.passing(&["evaluation"]).await;
    let trigger = plane.trigger("hardening", "evaluation", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let evaluation = plane
        .events
        .wait_for("sh.keptn.event.evaluation.triggered", ctx)
        .await;
    assert_eq!(evaluation.data["stage"], "hardening");
    let finished = plane
        .events
        .wait_for("sh.keptn.event.hardening.evaluation.finished", ctx)
        .await;
    assert_eq!(finished.data["result"], "pass");
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn parallel_stages_are_triggered_together_and_the_flow_finishes_after_both() {
    let plane = Plane::start(PARALLEL).await;
    let trigger = plane.trigger("dev", "delivery", "svc").await;
    let ctx = &trigger.shkeptncontext;
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::Started)
        .await;
    assert_eq!(state.stages.len(), 1);
    step(&plane, &trigger, "dev", "delivery", &pass()).await;
    let one = plane
        .events
        .wait_for_stage("sh.keptn.event.delivery.triggered", ctx, "staging-1")
        .await;
    let two = plane
        .events
        .wait_for_stage("sh.keptn.event.delivery.triggered", ctx, "staging-2")
        .await;
    plane.answer(&one, "svc", &pass()).await;
    plane
        .events
        .wait_for("sh.keptn.event.staging-1.delivery.finished", ctx)
        .await;
    let state = plane
        .state_when(ctx, |s| {
            s.stages
                .iter()
                .any(|st| st.name == "staging-1" && st.state == ExecutionState::Finished)
        })
        .await;
    assert_eq!(state.stages.len(), 3);
    assert_ne!(
        state.state,
        ExecutionState::Finished,
        "staging-2 still runs"
    );
    plane.answer(&two, "svc", &pass()).await;
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::Finished)
        .await;
    assert!(
        state
            .stages
            .iter()
            .all(|s| s.state == ExecutionState::Finished)
    );
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_remediation_sequence_triggers_itself_until_the_evaluation_passes() {
    let mut plane = Plane::start(DELIVERY).await;
    plane
        .executor("get-action", "remediation-service", |event| {
            let index = event.data["get-action"]["actionIndex"]
                .as_i64()
                .unwrap_or(0);
            vec![
                Answer::Started,
                Answer::Finished(
                    KeptnResult::Pass,
                    json!({
                    "action": {"name": format!("action-{index}"), "action": "scale"},
                    "get-action": {"actionIndex": index + 1}}),
                ),
            ]
        })
        .await;
    plane.passing(&["action"]).await;
    plane
        .executor("evaluation", "lighthouse", |event| {
            let index = event.data["get-action"]["actionIndex"]
                .as_i64()
                .unwrap_or(0);
            let result = if index < 2 {
                KeptnResult::Fail
            } else {
                KeptnResult::Pass
            };
            vec![
                Answer::Started,
                Answer::Finished(
                    result,
                    json!({"evaluation": {"result": result.as_str(), "score": 10.0}}),
                ),
            ]
        })
        .await;
    let trigger = plane
        .trigger_with(
            "production",
            "remediation",
            "carts",
            keptn_sdk::event::KeptnContext::generate(),
            json!({"problem": {"problemTitle": "Response time degradation", "rootCause": "cpu"}}),
        )
        .await;
    let ctx = &trigger.shkeptncontext;
    plane
        .events
        .wait_for("sh.keptn.event.get-action.triggered", ctx)
        .await;
    tokio::time::advance(std::time::Duration::from_secs(15 * 60)).await;
    plane
        .events
        .wait_count("sh.keptn.event.production.remediation.triggered", ctx, 2)
        .await;
    let get_actions = plane
        .events
        .wait_count("sh.keptn.event.get-action.triggered", ctx, 2)
        .await;
    assert_eq!(
        get_actions[1].data["get-action"]["actionIndex"], 1,
        "the next iteration escalates"
    );
    assert_eq!(
        get_actions[1].data["problem"]["problemTitle"],
        "Response time degradation"
    );
    tokio::time::advance(std::time::Duration::from_secs(15 * 60)).await;
    let finished = plane
        .events
        .wait_count("sh.keptn.event.production.remediation.finished", ctx, 2)
        .await;
    assert_eq!(finished[0].data["result"], "fail");
    assert_eq!(finished[1].data["result"], "pass");
    plane.settle().await;
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.production.remediation.triggered", ctx)
            .len(),
        2,
        "a passing evaluation ends the loop"
    );
    let state = plane
        .state_when(ctx, |s| s.state == ExecutionState::Finished)
        .await;
    assert_eq!(
        state.problem_title.as_deref(),
        Some("Response time degradation")
    );
    plane.shutdown().await;
}
