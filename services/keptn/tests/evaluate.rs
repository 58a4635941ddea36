//! `keptn evaluate` through the real binary: results, exit codes and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const SLO: &str = "../../testdata/keptn-examples/slo-quality-gates.yaml";

fn slo_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SLO);
    assert!(
        path.is_file(),
        "the example SLO is missing at {}",
        path.display()
    );
    path
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn keptn(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keptn"))
        .args(args)
        .output()
        .expect("the keptn binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn values(p95: f64) -> String {
    json!({"indicatorValues": [{"metric": "response_time_p95", "value": p95, "success": true}]})
        .to_string()
}

#[test]
fn a_fast_build_passes_with_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let sli = write(dir.path(), "values.json", &values(540.0));
    let slo = slo_path();
    let (code, stdout, stderr) = keptn(&[
        "evaluate",
        "--slo",
        slo.to_str().unwrap(),
        "--sli",
        sli.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let data: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(data["result"], "pass");
    assert_eq!(data["evaluation"]["score"], 100.0);
    assert_eq!(
        data["evaluation"]["indicatorResults"][0]["value"]["metric"],
        "response_time_p95"
    );
}

#[test]
fn a_slow_build_fails_with_exit_code_two() {
    let dir = tempfile::tempdir().unwrap();
    let sli = write(
        dir.path(),
        "values.json",
        &json!({"get-sli": {"indicatorValues": [
            {"metric": "response_time_p95", "value": 900.0, "success": true}
        ]}})
        .to_string(),
    );
    let slo = slo_path();
    let (code, stdout, _) = keptn(&[
        "evaluate",
        "--slo",
        slo.to_str().unwrap(),
        "--sli",
        sli.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stdout.contains("fail"), "{stdout}");
}

#[test]
fn a_relative_criterion_compares_with_previous_evaluations() {
    let dir = tempfile::tempdir().unwrap();
    // 540 is below 600 but more than 10% above the previous 400: the pass set fails, the
    // warning criterion (<=800) holds, so the objective scores 50 and the total fails (<75%).
    let sli = write(dir.path(), "values.json", &values(540.0));
    let previous = write(
        dir.path(),
        "previous.json",
        &json!([{"result": "pass", "evaluation": {"result": "pass", "score": 100.0,
            "indicatorResults": [{"score": 1.0, "status": "pass", "keySli": false,
                "displayName": "", "passTargets": [], "warningTargets": [],
                "value": {"metric": "response_time_p95", "value": 400.0, "success": true}}]}}])
        .to_string(),
    );
    let slo = slo_path();
    let (code, stdout, stderr) = keptn(&[
        "evaluate",
        "--slo",
        slo.to_str().unwrap(),
        "--sli",
        sli.to_str().unwrap(),
        "--previous",
        previous.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(code, 2, "{stderr}");
    let data: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        data["evaluation"]["indicatorResults"][0]["status"],
        "warning"
    );
}

#[test]
fn bad_input_exits_with_three_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(
        dir.path(),
        "broken.yaml",
        "objectives: [\n  - sli: x\n  pass: {",
    );
    let sli = write(dir.path(), "values.json", &values(1.0));
    let (code, _, stderr) = keptn(&[
        "evaluate",
        "--slo",
        broken.to_str().unwrap(),
        "--sli",
        sli.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    assert!(
        stderr.contains("line"),
        "a YAML error gives its line: {stderr}"
    );

    let aggregate = write(
        dir.path(),
        "aggregate.yaml",
        "spec_version: '1.0'\ncomparison:\n  aggregate_function: p42\nobjectives:\n  - sli: a\ntotal_score:\n  pass: '90%'\n",
    );
    let (code, _, stderr) = keptn(&[
        "evaluate",
        "--slo",
        aggregate.to_str().unwrap(),
        "--sli",
        sli.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(stderr.contains("aggregate.yaml"), "{stderr}");
    assert!(
        stderr.contains("p42"),
        "the unknown aggregate is named: {stderr}"
    );

    let missing = dir.path().join("missing.json");
    let (code, _, stderr) = keptn(&[
        "evaluate",
        "--slo",
        slo_path().to_str().unwrap(),
        "--sli",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(stderr.contains("missing.json"), "{stderr}");
}
