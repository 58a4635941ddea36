//! The lighthouse on the running plane: protocol, messages, commits, comparisons, restarts.

use std::sync::Arc;

use base64::Engine as _;
use keptn_core::services::quality::lighthouse::get_sli_triggered_id;
use keptn_sdk::event::payload::{EvaluationFinished, FinishedData, GetSliResult, SliResult};
use keptn_sdk::event::{EventType, KeptnEvent, KeptnResult, Phase, Status};
use keptn_sdk::handler::{Filter, TaskContext, TaskRunner, handler_fn};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::support::*;

const QUALITY_GATES: &str = r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: quality-gates}
spec:
  stages:
    - name: dev
"#;

fn evaluation(event: &KeptnEvent) -> EvaluationFinished {
    event.data_as().unwrap()
}

async fn quality_gates() -> Harness {
    let h = Harness::start().await;
    h.project(QUALITY_GATES, &["dev"]).await;
    h
}

#[tokio::test]
async fn an_evaluation_follows_keptns_protocol_and_scores_builtin_results() {
    let h = quality_gates().await;
    h.sli_provider("builtin").await;
    let commit = h.service_file("dev", "slo.yaml", &slo(600)).await;
    h.load_test("dev", &[100.0, 200.0, 300.0, 400.0], 0).await;

    let ctx = h.evaluate("dev").await;
    let finished = h.evaluation_finished(&ctx).await;
    let triggered = h.recorder.wait_for("evaluation.triggered", &ctx).await;

    // evaluation.started from the lighthouse, once.
    let started = h.recorder.of("evaluation.started", &ctx);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].source, "lighthouse-service");
    assert_eq!(started[0].triggeredid.as_ref(), Some(&triggered.id));

    // get-sli.triggered: same context, derived id, provider, indicators and timeframe.
    let get_sli = h.recorder.wait_for("get-sli.triggered", &ctx).await;
    assert_eq!(get_sli.id, get_sli_triggered_id(&triggered.id));
    assert_eq!(get_sli.source, "lighthouse-service");
    assert_eq!(get_sli.data["get-sli"]["sliProvider"], "builtin");
    assert_eq!(
        get_sli.data["get-sli"]["indicators"],
        json!(["response_time_p95", "request_count"])
    );
    assert_eq!(
        get_sli.data["get-sli"]["start"],
        triggered.data["evaluation"]["start"]
    );
    assert_eq!(get_sli.data["labels"], json!({"buildId": "17"}));
    let provider_answers: Vec<String> = h
        .recorder
        .all()
        .iter()
        .filter(|e| e.shkeptncontext == ctx && e.type_string().contains("get-sli."))
        .map(|e| format!("{} {}", e.type_string(), e.source))
        .collect();
    assert_eq!(
        provider_answers,
        [
            "sh.keptn.event.get-sli.triggered lighthouse-service",
            "sh.keptn.event.get-sli.started builtin-sli-provider",
            "sh.keptn.event.get-sli.finished builtin-sli-provider",
        ]
    );

    // evaluation.finished: answers the trigger, carries the commit and the full results.
    assert_eq!(finished.triggeredid.as_ref(), Some(&triggered.id));
    assert_eq!(finished.gitcommitid, triggered.gitcommitid);
    let data = evaluation(&finished);
    assert_eq!(data.base.result, Some(KeptnResult::Pass));
    assert_eq!(data.base.status, Some(Status::Succeeded));
    let details = data.evaluation.unwrap();
    assert_eq!(details.score, Some(100.0));
    assert_eq!(details.git_commit.as_deref(), Some(commit.as_str()));
    let slo_content = base64::engine::general_purpose::STANDARD
        .decode(details.slo_file_content.unwrap())
        .unwrap();
    assert_eq!(slo_content, slo(600).into_bytes());
    let results = details.indicator_results.unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].value.metric, "response_time_p95");
    assert_eq!(results[0].value.value, 400.0);
    assert_eq!(results[0].pass_targets[0].target_value, 600.0);
    assert_eq!(results[1].value.metric, "request_count");
    assert_eq!(results[1].value.value, 4.0);
    assert!(details.compared_events.is_none(), "first evaluation");

    // The built-in evaluation sequence ends with the evaluation's result.
    let end = h.recorder.wait_for("dev.evaluation.finished", &ctx).await;
    assert_eq!(end.data["result"], "pass");
    h.shutdown().await;
}

#[tokio::test]
async fn a_failing_score_fails_the_evaluation_with_keptns_message() {
    let h = quality_gates().await;
    h.sli_provider("builtin").await;
    h.service_file("dev", "slo.yaml", &slo(100)).await;
    h.load_test("dev", &[400.0, 500.0], 0).await;
    let ctx = h.evaluate("dev").await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.result, Some(KeptnResult::Fail));
    assert_eq!(
        data.base.message.as_deref(),
        Some("Evaluation failed since the calculated score of 0 is below the warning value of 75")
    );
    let end = h.recorder.wait_for("dev.evaluation.finished", &ctx).await;
    assert_eq!(end.data["result"], "fail");
    h.shutdown().await;
}

#[tokio::test]
async fn without_slo_file_or_provider_the_evaluation_passes_unscored() {
    let h = quality_gates().await;
    let ctx = h.evaluate("dev").await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.result, Some(KeptnResult::Pass));
    assert_eq!(
        data.base.message.as_deref(),
        Some(
            "no evaluation performed by lighthouse because no SLO file configured for project sockshop"
        )
    );

    h.service_file("dev", "slo.yaml", &slo(600)).await;
    let ctx = h.evaluate("dev").await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.result, Some(KeptnResult::Pass));
    assert_eq!(
        data.base.message.as_deref(),
        Some(
            "no evaluation performed by lighthouse because no SLI-provider configured for project sockshop"
        )
    );
    assert!(h.recorder.of("get-sli.triggered", &ctx).is_empty());
    assert_eq!(h.recorder.of("evaluation.started", &ctx).len(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn bad_slo_files_and_timeframes_error_the_evaluation() {
    let h = quality_gates().await;
    h.sli_provider("builtin").await;
    h.service_file(
        "dev",
        "slo.yaml",
        "objectives: [{sli: x, pass: [{criteria: [\"<=+x%\"]}]}]\n",
    )
    .await;
    let ctx = h.evaluate("dev").await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.status, Some(Status::Errored));
    assert_eq!(data.base.result, Some(KeptnResult::Fail));
    let message = data.base.message.unwrap();
    assert!(
        message.starts_with(
            "slo.yaml of service carts in stage dev: objectives[0].pass[0].criteria[0]"
        ),
        "{message}"
    );

    let ctx = h
        .trigger(
            "dev",
            "evaluation",
            json!({"evaluation": {"end": "2021-05-11T13:20:00Z"}}),
        )
        .await
        .shkeptncontext;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.status, Some(Status::Errored));
    assert_eq!(
        data.base.message.as_deref(),
        Some("evaluation.start is required when evaluation.end is given")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn the_slo_is_read_at_the_commit_of_the_sequence() {
    let h = quality_gates().await;
    h.sli_provider("builtin").await;
    let lenient = h.service_file("dev", "slo.yaml", &slo(1000)).await;
    h.service_file("dev", "slo.yaml", &slo(10)).await;
    h.load_test("dev", &[300.0], 0).await;

    let start = chrono::Utc::now() - chrono::TimeDelta::minutes(10);
    let trigger = KeptnEvent::builder(EventType::sequence("dev", "evaluation", Phase::Triggered))
        .source("test")
        .git_commit_id(lenient.clone())
        .data_json(
            json!({"project": PROJECT, "stage": "dev", "service": SERVICE,
            "evaluation": {"start": keptn_ts(start), "end": keptn_ts(chrono::Utc::now())}}),
        )
        .build()
        .unwrap();
    h.publish(&trigger).await;
    let finished = h.evaluation_finished(&trigger.shkeptncontext).await;
    assert_eq!(finished.gitcommitid.as_ref(), Some(&lenient));
    let data = evaluation(&finished);
    assert_eq!(
        data.base.result,
        Some(KeptnResult::Pass),
        "{:?}",
        data.base.message
    );
    assert_eq!(
        data.evaluation.unwrap().git_commit.as_deref(),
        Some(lenient.as_str())
    );

    // Without a commit the latest (strict) file applies.
    let ctx = h.evaluate("dev").await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.result, Some(KeptnResult::Fail));
    h.shutdown().await;
}

#[tokio::test]
async fn earlier_evaluations_are_compared_and_invalidated_ones_left_out() {
    let h = quality_gates().await;
    h.sli_provider("builtin").await;
    h.service_file("dev", "slo.yaml", &slo(600)).await;
    h.load_test("dev", &[100.0], 0).await;

    let first_ctx = h.evaluate("dev").await;
    let first = h.evaluation_finished(&first_ctx).await;
    let second_ctx = h.evaluate("dev").await;
    let second = h.evaluation_finished(&second_ctx).await;
    assert_eq!(
        evaluation(&second).evaluation.unwrap().compared_events,
        Some(vec![first.id.to_string()])
    );

    // Invalidate the second evaluation: `triggeredid` names its evaluation.triggered.
    let invalidated = KeptnEvent::builder(EventType::task("evaluation", Phase::Invalidated))
        .source("test")
        .context(second_ctx.clone())
        .triggered_id(second.triggeredid.clone().unwrap())
        .data_json(json!({"project": PROJECT, "stage": "dev", "service": SERVICE}))
        .build()
        .unwrap();
    h.publish(&invalidated).await;
    // The datastore must have stored the invalidation before the next comparison.
    let events = std::sync::Arc::clone(&h.events);
    let stored = async {
        loop {
            let filter =
                keptn_core::datastore::EventFilter::parse(&format!("shkeptncontext:{second_ctx}"))
                    .unwrap();
            let query = keptn_core::datastore::TypeQuery::new(
                "sh.keptn.event.evaluation.invalidated",
                filter,
            );
            if !events.query_by_type(&query).await.unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, stored).await.unwrap();

    let third_ctx = h.evaluate("dev").await;
    let third = h.evaluation_finished(&third_ctx).await;
    assert_eq!(
        evaluation(&third).evaluation.unwrap().compared_events,
        Some(vec![first.id.to_string()]),
        "the invalidated second evaluation is left out"
    );
    h.shutdown().await;
}

/// A test SLI provider written with the SDK: answers `get-sli` for provider `test-source`
/// with a fixed value, when released.
async fn test_provider(h: &mut Harness, release: Arc<Notify>) {
    let handler = handler_fn("get-sli", move |ctx: TaskContext, _data: Value| {
        let release = Arc::clone(&release);
        async move {
            release.notified().await;
            let indicators = ctx.event().data["get-sli"]["indicators"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let values: Vec<SliResult> = indicators
                .iter()
                .filter_map(Value::as_str)
                .map(|name| SliResult {
                    metric: name.to_owned(),
                    value: 50.0,
                    success: true,
                    ..SliResult::default()
                })
                .collect();
            Ok::<_, std::io::Error>(FinishedData::pass().with_field(
                "get-sli",
                GetSliResult {
                    indicator_values: Some(values),
                    ..GetSliResult::default()
                },
            ))
        }
    });
    let runner = TaskRunner::new(Arc::clone(&h.transport), handler)
        .source("test-sli-source")
        .filter(Filter::new().data_field("get-sli.sliProvider", ["test-source"]));
    let stop = tokio_util::sync::CancellationToken::new();
    let subscribed = runner.subscribe().await.unwrap();
    tokio::spawn(async move { subscribed.run(async move { stop.cancelled().await }).await });
}

#[tokio::test]
async fn only_the_configured_provider_answers_get_sli() {
    let mut h = quality_gates().await;
    let release = Arc::new(Notify::new());
    test_provider(&mut h, Arc::clone(&release)).await;
    release.notify_one();
    h.sli_provider("test-source").await;
    h.service_file("dev", "slo.yaml", &slo(100)).await;
    let ctx = h.evaluate("dev").await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(
        data.base.result,
        Some(KeptnResult::Pass),
        "{:?}",
        data.base.message
    );
    let sources: Vec<String> = h
        .recorder
        .of("get-sli.started", &ctx)
        .iter()
        .map(|e| e.source.clone())
        .collect();
    assert_eq!(
        sources,
        ["test-sli-source"],
        "the builtin provider stays silent"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_pending_evaluation_completes_after_the_lighthouse_restarts() {
    let mut h = quality_gates().await;
    let release = Arc::new(Notify::new());
    test_provider(&mut h, Arc::clone(&release)).await;
    h.sli_provider("test-source").await;
    h.service_file("dev", "slo.yaml", &slo(100)).await;

    let ctx = h.evaluate("dev").await;
    h.recorder.wait_for("get-sli.started", &ctx).await;
    h.stop_service("lighthouse-service").await;
    // The provider answers while no lighthouse runs.
    release.notify_one();
    h.recorder.wait_for("get-sli.finished", &ctx).await;
    assert!(h.recorder.of("evaluation.finished", &ctx).is_empty());

    h.start_service(keptn_core::services::quality::lighthouse_service())
        .await;
    let data = evaluation(&h.evaluation_finished(&ctx).await);
    assert_eq!(data.base.result, Some(KeptnResult::Pass));
    assert_eq!(data.evaluation.unwrap().score, Some(100.0));
    let end = h.recorder.wait_for("dev.evaluation.finished", &ctx).await;
    assert_eq!(end.data["result"], "pass");
    assert_eq!(h.recorder.of("evaluation.finished", &ctx).len(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn monitoring_configuration_events_set_the_provider() {
    let h = quality_gates().await;
    let legacy = KeptnEvent::builder(EventType::parse("sh.keptn.event.monitoring.configure"))
        .source("test")
        .data_json(json!({"type": "prometheus", "project": PROJECT}))
        .build()
        .unwrap();
    h.publish(&legacy).await;
    let configured = async {
        loop {
            if let Some(text) = h.project_file("lighthouse-config.yaml").await {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let text = tokio::time::timeout(WAIT, configured).await.unwrap();
    assert_eq!(text, "sli-provider: prometheus\n");

    let triggered = KeptnEvent::builder(EventType::task("configure-monitoring", Phase::Triggered))
        .source("test")
        .data_json(json!({"project": PROJECT, "stage": "", "service": SERVICE,
            "configureMonitoring": {"type": "builtin"}}))
        .build()
        .unwrap();
    h.publish(&triggered).await;
    let finished = h
        .recorder
        .wait_for("configure-monitoring.finished", &triggered.shkeptncontext)
        .await;
    assert_eq!(finished.data["result"], "pass");
    assert_eq!(
        h.project_file("lighthouse-config.yaml").await.as_deref(),
        Some("sli-provider: builtin\n")
    );

    let bad = KeptnEvent::builder(EventType::parse("sh.keptn.event.monitoring.configure"))
        .source("test")
        .data_json(json!({"type": "pro metheus", "project": PROJECT}))
        .build()
        .unwrap();
    h.publish(&bad).await;
    let error = h
        .recorder
        .wait_for("sh.keptn.log.error", &bad.shkeptncontext)
        .await;
    assert!(
        error.data["message"]
            .as_str()
            .unwrap()
            .starts_with("type: \"pro metheus\" is not an SLI provider name"),
        "{}",
        error.data
    );
    h.shutdown().await;
}
