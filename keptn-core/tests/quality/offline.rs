//! The offline evaluation of `keptn evaluate`: inputs, output and exit codes.

use std::path::PathBuf;

use keptn_core::quality::offline::{EXIT_BAD_INPUT, EXIT_FAIL, EXIT_PASS, OfflineInput};
use keptn_core::quality::{OfflineError, evaluate_bytes, evaluate_files};
use serde_json::json;
use tempfile::TempDir;

use super::support::SLO_QUALITY_GATES;

fn write(dir: &TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn bytes<'a>(name: &'a str, content: &'a str) -> OfflineInput<'a> {
    OfflineInput {
        name,
        bytes: content.as_bytes(),
    }
}

#[test]
fn passing_values_exit_zero_with_the_finished_data() {
    let dir = TempDir::new().unwrap();
    let slo = write(&dir, "slo.yaml", SLO_QUALITY_GATES);
    let sli = write(
        &dir,
        "values.json",
        r#"{"indicatorValues":[{"metric":"response_time_p95","value":512.3,"success":true}]}"#,
    );
    let report = evaluate_files(&slo, &sli, None).unwrap();
    assert_eq!(report.exit_code(), EXIT_PASS);
    let v = report.to_json();
    assert_eq!(v["result"], "pass");
    assert_eq!(v["status"], "succeeded");
    assert_eq!(v["evaluation"]["result"], "pass");
    assert_eq!(v["evaluation"]["score"], 100.0);
    assert_eq!(v["evaluation"]["indicatorResults"][0]["status"], "pass");
    assert_eq!(
        v["evaluation"]["indicatorResults"][0]["value"]["metric"],
        "response_time_p95"
    );
    // sloFileContent is the raw file, not the defaulted model.
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["evaluation"]["sloFileContent"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, SLO_QUALITY_GATES.as_bytes());
    assert!(
        report
            .render_text()
            .starts_with("Result: pass (score 100.00)")
    );
}

#[test]
fn get_sli_finished_data_and_previous_events_are_accepted() {
    // The newest earlier evaluation failed (skipped: include_result_with_score pass); the
    // next one passed with 500 -> target 550; 580 violates it -> objective warning -> 50 ->
    // fail, exit 2. Its event id is reported in comparedEvents.
    let values = json!({
        "project": "sockshop", "stage": "staging", "service": "carts",
        "labels": {"buildId": "17"},
        "get-sli": {
            "start": "2021-05-11T12:00:00.000Z", "end": "2021-05-11T12:05:00.000Z",
            "indicatorValues": [{"metric": "response_time_p95", "value": 580, "success": true}]
        }
    })
    .to_string();
    let previous = json!([
        {"id": "ev-2", "type": "sh.keptn.event.evaluation.finished", "data": {
            "result": "fail",
            "evaluation": {"indicatorResults": [{"score": 0, "status": "fail",
                "value": {"metric": "response_time_p95", "value": 100, "success": true}}]}}},
        {"id": "ev-1", "type": "sh.keptn.event.evaluation.finished", "data": {
            "result": "pass",
            "evaluation": {"indicatorResults": [{"score": 1, "status": "pass",
                "value": {"metric": "response_time_p95", "value": 500, "success": true}}]}}}
    ])
    .to_string();
    let report = evaluate_bytes(
        bytes("slo.yaml", SLO_QUALITY_GATES),
        bytes("values.json", &values),
        Some(bytes("previous.json", &previous)),
    )
    .unwrap();
    assert_eq!(report.exit_code(), EXIT_FAIL);
    let v = report.to_json();
    assert_eq!(v["project"], "sockshop");
    assert_eq!(v["labels"]["buildId"], "17");
    assert_eq!(v["result"], "fail");
    assert_eq!(v["evaluation"]["score"], 50.0);
    assert_eq!(v["evaluation"]["timeStart"], "2021-05-11T12:00:00.000Z");
    assert_eq!(v["evaluation"]["comparedEvents"], json!(["ev-1"]));
    assert_eq!(
        v["evaluation"]["indicatorResults"][0]["passTargets"][0]["targetValue"],
        550.0
    );
    assert_eq!(
        v["evaluation"]["indicatorResults"][0]["value"]["comparedValue"],
        500.0
    );
}

#[test]
fn previous_data_objects_without_envelope() {
    let previous = r#"[{"result":"pass","evaluation":{"indicatorResults":[
        {"score":1,"status":"pass","value":{"metric":"response_time_p95","value":500,"success":true}}]}}]"#;
    let report = evaluate_bytes(
        bytes("slo.yaml", SLO_QUALITY_GATES),
        bytes(
            "values.json",
            r#"{"get-sli":{"indicatorValues":[{"metric":"response_time_p95","value":540,"success":true}]}}"#,
        ),
        Some(bytes("previous.json", previous)),
    )
    .unwrap();
    assert_eq!(report.exit_code(), EXIT_PASS);
    assert!(
        report
            .finished
            .evaluation
            .unwrap()
            .compared_events
            .is_none()
    );
}

#[test]
fn failed_get_sli_result_exits_two() {
    let values = r#"{"result":"fail","message":"prometheus down","get-sli":{"indicatorValues":[{"metric":"response_time_p95","value":1,"success":true}]}}"#;
    let report = evaluate_bytes(
        bytes("slo.yaml", SLO_QUALITY_GATES),
        bytes("values.json", values),
        None,
    )
    .unwrap();
    assert_eq!(report.exit_code(), EXIT_FAIL);
    assert_eq!(
        report.outcome.message,
        "lighthouse failed because SLI failed with message prometheus down"
    );
}

fn bad(slo: &str, values: &str, previous: Option<&str>) -> String {
    let err: OfflineError = evaluate_bytes(
        bytes("slo.yaml", slo),
        bytes("values.json", values),
        previous.map(|p| bytes("previous.json", p)),
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    err.to_string()
}

const GOOD_VALUES: &str = r#"{"indicatorValues":[]}"#;

#[test]
fn bad_input_names_the_file_and_the_problem() {
    assert_eq!(
        bad("total_score: {warning: 50}", GOOD_VALUES, None),
        "slo.yaml: total_score.pass: missing; expected a percentage such as \"90%\""
    );
    assert!(
        bad("objectives: [\n", GOOD_VALUES, None)
            .starts_with("slo.yaml: slo file is not valid YAML: ")
    );
    assert!(bad(SLO_QUALITY_GATES, "{", None).starts_with("values.json: not valid JSON: "));
    assert_eq!(
        bad(SLO_QUALITY_GATES, r#"{"values":[]}"#, None),
        "values.json: expected {\"get-sli\": {\"indicatorValues\": [...]}} or {\"indicatorValues\": [...]}"
    );
    assert_eq!(
        bad(
            SLO_QUALITY_GATES,
            r#"{"indicatorValues":[{"metric":"a","value":1}]}"#,
            None
        ),
        "values.json: indicatorValues[0].success: missing; expected true or false"
    );
    assert_eq!(
        bad(
            SLO_QUALITY_GATES,
            r#"{"get-sli":{"indicatorValues":[{"metric":"a","success":true}]}}"#,
            None
        ),
        "values.json: get-sli.indicatorValues[0].value: missing; expected a number when success is true"
    );
    assert_eq!(
        bad(
            SLO_QUALITY_GATES,
            r#"{"indicatorValues":[{"metric":"a","value":"fast","success":true}]}"#,
            None
        ),
        "values.json: indicatorValues[0].value: expected a number, found a string"
    );
    assert_eq!(
        bad(SLO_QUALITY_GATES, GOOD_VALUES, Some("{}")),
        "previous.json: expected a list of evaluation.finished data objects, newest first, found an object"
    );
    assert_eq!(
        bad(
            SLO_QUALITY_GATES,
            GOOD_VALUES,
            Some(r#"[{"type":"sh.keptn.event.test.finished","data":{}}]"#)
        ),
        "previous.json: [0]: is a sh.keptn.event.test.finished event, expected sh.keptn.event.evaluation.finished"
    );
    assert!(
        bad(
            SLO_QUALITY_GATES,
            GOOD_VALUES,
            Some(r#"[{"evaluation":{"indicatorResults":[{"value":{"metric":"a"}}]}}]"#)
        )
        .starts_with("previous.json: [0]: missing field `status`")
    );
}

#[test]
fn unreadable_files_are_bad_input() {
    let dir = TempDir::new().unwrap();
    let slo = write(&dir, "slo.yaml", SLO_QUALITY_GATES);
    let missing = dir.path().join("nope.json");
    let err = evaluate_files(&slo, &missing, None).unwrap_err();
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    assert!(err.to_string().contains("nope.json: cannot read the file"));
}
