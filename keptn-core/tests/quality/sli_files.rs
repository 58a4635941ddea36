//! SLI files, query placeholders, the evaluation timeframe and the get-sli request.

use chrono::{DateTime, Utc};
use keptn_core::quality::timeframe::parse_timestamp;
use keptn_core::quality::{
    QueryContext, SliFile, Timeframe, evaluation_timeframe, get_sli_triggered,
};
use keptn_sdk::event::EventData;
use keptn_sdk::event::payload::{
    DeploymentInfo, EvaluationRequest, EvaluationTriggered, GetSliFinished, GetSliResult,
    GetSliTriggered,
};

use super::support::{SLI_PROMETHEUS, slo};

fn at(s: &str) -> DateTime<Utc> {
    parse_timestamp(s).unwrap()
}

fn triggered() -> EvaluationTriggered {
    EvaluationTriggered {
        base: EventData::scope("sockshop", "staging", "carts"),
        evaluation: Some(EvaluationRequest {
            timeframe: Some("5m".into()),
            ..Default::default()
        }),
        deployment: Some(DeploymentInfo {
            deployment_names: Some(vec!["canary".into(), "primary".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn real_prometheus_sli_file_queries_are_filled_in() {
    let file = SliFile::parse(SLI_PROMETHEUS.as_bytes()).unwrap();
    assert_eq!(file.spec_version, "1.0");
    assert_eq!(file.indicators.len(), 3);
    let frame = evaluation_timeframe(&triggered(), at("2021-05-11T13:20:00Z")).unwrap();
    let request: GetSliTriggered = get_sli_triggered(
        &triggered(),
        Some(&slo(super::support::SLO_QUALITY_GATES)),
        "prometheus",
        &frame,
    );
    let ctx = QueryContext::from_get_sli(&request).unwrap();
    assert_eq!(
        ctx.substitute(file.query("response_time_p95").unwrap()),
        "histogram_quantile(0.95, sum by(le) (rate(http_response_time_milliseconds_bucket{handler=\"ItemsController.addToCart\",job=\"carts-sockshop-staging-canary\"}[300s])))"
    );
}

#[test]
fn get_sli_request_carries_indicators_filters_and_deployment() {
    let s = slo(
        "filter:\n  handler: ItemsController.addToCart\nobjectives:\n  - sli: rt\n  - sli: tp\n  - sli: rt\ntotal_score: {pass: 90}",
    );
    let frame = Timeframe {
        start: at("2021-05-11T13:15:00Z"),
        end: at("2021-05-11T13:20:00Z"),
    };
    let data = get_sli_triggered(&triggered(), Some(&s), "prometheus", &frame);
    let v = serde_json::to_value(&data).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "project": "sockshop", "stage": "staging", "service": "carts",
            "get-sli": {
                "sliProvider": "prometheus",
                "start": "2021-05-11T13:15:00.000Z",
                "end": "2021-05-11T13:20:00.000Z",
                "indicators": ["rt", "tp"],
                "customFilters": [{"key": "handler", "value": "ItemsController.addToCart"}]
            },
            "deployment": "canary"
        })
    );
    let without_slo = get_sli_triggered(&triggered(), None, "prometheus", &frame);
    assert_eq!(without_slo.get_sli.unwrap().indicators, Some(vec![]));
}

#[test]
fn timeframe_from_the_event_and_its_errors() {
    let now = at("2021-05-11T13:20:00Z");
    let frame = evaluation_timeframe(&triggered(), now).unwrap();
    assert_eq!(frame.start_string(), "2021-05-11T13:15:00.000Z");
    assert_eq!(frame.end_string(), "2021-05-11T13:20:00.000Z");
    assert_eq!(frame.duration_seconds(), 300);
    let mut t = triggered();
    t.evaluation = None;
    assert_eq!(
        evaluation_timeframe(&t, now).unwrap_err().to_string(),
        "evaluation.triggered event does not contain evaluation timeframe"
    );
}

#[test]
fn provider_context_needs_a_timeframe() {
    let request = GetSliTriggered::default();
    assert!(QueryContext::from_get_sli(&request).is_err());
    // the finished side is a plain payload; the report reads it with defaults
    let finished = GetSliFinished {
        get_sli: Some(GetSliResult::default()),
        ..Default::default()
    };
    let report = keptn_core::quality::SliReport::from_get_sli_finished(&finished);
    assert!(report.indicator_values.is_empty());
    assert_eq!(report.result, keptn_sdk::event::KeptnResult::Pass);
}
