//! The scoring rules of the lighthouse: objective status, weights, key SLIs, info objectives,
//! totals and messages.

use keptn_core::quality::messages;
use keptn_core::quality::{SliReport, evaluate};
use keptn_sdk::event::payload::ObjectiveStatus;
use keptn_sdk::event::{KeptnResult, Status};

use super::support::{failed, previous, run, slo, targets, value};

/// Three objectives: a (weight 2), b (weight 0 -> 1), c (weight 1, key SLI).
const THREE: &str = r#"
spec_version: "1.0"
objectives:
  - sli: a
    displayName: "Objective A"
    weight: 2
    pass: [{criteria: ["<10"]}]
    warning: [{criteria: ["<20"]}]
  - sli: b
    weight: 0
    pass: [{criteria: [">=5"]}]
  - sli: c
    displayName: "Key C"
    key_sli: true
    pass: [{criteria: ["<=1"]}]
total_score:
  pass: "90%"
  warning: "60%"
"#;

#[test]
fn weights_scale_the_score_and_zero_means_one() {
    // a passes (2), b fails (0 of 1), c passes (1): 100 * 3 / 4 = 75 -> warning (>= 60).
    let s = slo(THREE);
    assert_eq!(s.objectives[1].weight, 1);
    let out = run(
        &s,
        vec![value("a", 1.0), value("b", 1.0), value("c", 1.0)],
        &[],
    );
    assert_eq!(out.score, 75.0);
    assert_eq!(out.result, KeptnResult::Warning);
    assert_eq!(
        out.message,
        "Evaluation returned a warning: the calculated score of 75 is close to the warning target value of 60"
    );
    let scores: Vec<f64> = out.indicator_results.iter().map(|r| r.score).collect();
    assert_eq!(scores, [2.0, 0.0, 1.0]);
}

#[test]
fn objective_warning_gives_half_the_weight() {
    // a warns (0.5 * 2 = 1), b passes (1), c passes (1): 100 * 3 / 4 = 75.
    let out = run(
        &slo(THREE),
        vec![value("a", 15.0), value("b", 9.0), value("c", 0.5)],
        &[],
    );
    assert_eq!(out.indicator_results[0].status, ObjectiveStatus::Warning);
    assert_eq!(out.indicator_results[0].score, 1.0);
    assert_eq!(out.score, 75.0);
}

#[test]
fn failing_key_sli_fails_a_passing_score() {
    // a (2) and b (1) pass, c fails: 100 * 3 / 4 = 75 would be a warning, but c is a key SLI.
    let out = run(
        &slo(THREE),
        vec![value("a", 1.0), value("b", 9.0), value("c", 2.0)],
        &[],
    );
    assert_eq!(out.score, 75.0);
    assert_eq!(out.result, KeptnResult::Fail);
    assert_eq!(out.status, Status::Succeeded);
    assert_eq!(
        out.message,
        "Evaluation failed due to key_sli objective 'Key C': failed evaluation with score 0.000000"
    );
    let key = out.key_sli_failure.unwrap();
    assert_eq!(key.objective, "Key C");
    assert!(out.indicator_results[2].key_sli);
}

#[test]
fn missing_key_sli_value_fails_with_the_value_message() {
    let out = run(&slo(THREE), vec![value("a", 1.0), value("b", 9.0)], &[]);
    assert_eq!(out.result, KeptnResult::Fail);
    assert_eq!(
        out.message,
        "Evaluation failed due to key_sli objective 'Key C': no value received from SLI provider"
    );
}

#[test]
fn missing_value_fails_the_objective_with_a_synthesized_value() {
    let s = slo(r#"
objectives:
  - sli: rt
    pass: [{criteria: ["<=+10%", "<600"]}]
    warning: [{criteria: ["<=800"]}]
total_score: {pass: 90}
"#);
    let prev = [previous("e1", KeptnResult::Pass, &[("rt", 400.0)])];
    let out = run(&s, vec![], &prev);
    let r = &out.indicator_results[0];
    assert_eq!((r.status, r.score), (ObjectiveStatus::Fail, 0.0));
    assert_eq!(r.value.metric, "rt");
    assert!(!r.value.success);
    assert_eq!(
        r.value.message.as_deref(),
        Some(messages::NO_VALUE_RECEIVED)
    );
    // Targets are violated; a relative target shows the raw earlier value, not +10%.
    assert_eq!(
        targets(&r.pass_targets),
        [("<=+10%", 400.0, true), ("<600", 600.0, true)]
    );
    assert_eq!(targets(&r.warning_targets), [("<=800", 800.0, true)]);
    assert_eq!((out.result, out.score), (KeptnResult::Fail, 0.0));
    assert_eq!(
        out.message,
        "Evaluation failed since the calculated score of 0 is below the target value of 90"
    );
}

#[test]
fn unsuccessful_value_keeps_the_provider_message() {
    let s = slo(
        "objectives:\n  - sli: rt\n    pass: [{criteria: [\"<600\"]}]\ntotal_score: {pass: 90}",
    );
    let out = run(&s, vec![failed("rt", "query returned no data")], &[]);
    let r = &out.indicator_results[0];
    assert_eq!(r.status, ObjectiveStatus::Fail);
    assert_eq!(r.value.message.as_deref(), Some("query returned no data"));
    assert_eq!(out.result, KeptnResult::Fail);
}

#[test]
fn info_objectives_are_reported_but_not_scored() {
    // "rt" passes (1 of 1 -> 100); "cpu" has only warning criteria -> info, score 0, not in
    // the maximum; "mem" is informational without value.
    let s = slo(r#"
objectives:
  - sli: rt
    pass: [{criteria: ["<600"]}]
  - sli: cpu
    warning: [{criteria: ["<50"]}]
  - sli: mem
total_score: {pass: "100%"}
"#);
    let out = run(&s, vec![value("rt", 100.0), value("cpu", 80.0)], &[]);
    assert_eq!((out.result, out.score), (KeptnResult::Pass, 100.0));
    let cpu = &out.indicator_results[1];
    assert_eq!((cpu.status, cpu.score), (ObjectiveStatus::Info, 0.0));
    assert_eq!(cpu.value.value, 80.0);
    assert!(cpu.pass_targets.is_empty());
    assert_eq!(targets(&cpu.warning_targets), [("<50", 50.0, true)]);
    let mem = &out.indicator_results[2];
    assert_eq!(mem.status, ObjectiveStatus::Info);
    assert_eq!(
        mem.value.message.as_deref(),
        Some(messages::NO_VALUE_RECEIVED)
    );
}

#[test]
fn only_info_objectives_score_one_hundred_and_pass() {
    let s = slo("objectives:\n  - sli: a\n  - sli: b\ntotal_score: {pass: 90}");
    let out = run(&s, vec![value("a", 1.0)], &[]);
    assert_eq!((out.result, out.score), (KeptnResult::Pass, 100.0));
}

#[test]
fn no_objectives_fail() {
    let out = run(&slo("objectives: []\ntotal_score: {pass: 90}"), vec![], &[]);
    assert_eq!((out.result, out.score), (KeptnResult::Fail, 0.0));
    assert_eq!(out.message, messages::NO_OBJECTIVES);
    assert_eq!(
        out.message,
        "lighthouse failed because no SLO objective was provided"
    );
}

#[test]
fn score_at_the_threshold_passes() {
    // 9 of 10 objectives pass: 90 >= 90.
    let mut yaml = String::from("objectives:\n");
    for i in 0..10 {
        yaml.push_str(&format!(
            "  - sli: m{i}\n    pass: [{{criteria: [\"<1\"]}}]\n"
        ));
    }
    yaml.push_str("total_score: {pass: \"90%\", warning: \"75%\"}\n");
    let values = (0..10)
        .map(|i| value(&format!("m{i}"), if i == 0 { 5.0 } else { 0.0 }))
        .collect();
    let out = run(&slo(&yaml), values, &[]);
    assert_eq!((out.result, out.score), (KeptnResult::Pass, 90.0));
}

#[test]
fn total_score_with_and_without_percent_sign_score_alike() {
    let base = "objectives:\n  - sli: a\n    pass: [{criteria: [\"<1\"]}]\n  - sli: b\n    pass: [{criteria: [\"<1\"]}]\n";
    for total in ["{pass: \"50%\"}", "{pass: \"50\"}", "{pass: 50}"] {
        let out = run(
            &slo(&format!("{base}total_score: {total}")),
            vec![value("a", 0.0), value("b", 3.0)],
            &[],
        );
        assert_eq!(
            (out.result, out.score),
            (KeptnResult::Pass, 50.0),
            "{total}"
        );
    }
}

#[test]
fn additional_slis_are_named_in_the_message() {
    let s =
        slo("objectives:\n  - sli: a\n    pass: [{criteria: [\"<1\"]}]\ntotal_score: {pass: 90}");
    let out = run(
        &s,
        vec![value("x", 1.0), value("a", 0.0), value("y", 2.0)],
        &[],
    );
    assert_eq!(out.result, KeptnResult::Pass);
    assert_eq!(out.additional_slis, ["x", "y"]);
    assert_eq!(
        out.message,
        "Lighthouse received additional SLIs, which are not specified as SLO: x, y . Please consider using them as an SLO."
    );
    // With a failing result the score message comes first, the note follows.
    let out = run(&s, vec![value("a", 5.0), value("x", 1.0)], &[]);
    assert!(out.message.starts_with("Evaluation failed since"));
    assert!(
        out.message
            .ends_with("Please consider using them as an SLO.")
    );
}

#[test]
fn get_sli_result_fail_fails_the_evaluation() {
    let s =
        slo("objectives:\n  - sli: a\n    pass: [{criteria: [\"<1\"]}]\ntotal_score: {pass: 90}");
    let mut report = SliReport::succeeded(vec![value("a", 0.0)]);
    report.result = KeptnResult::Fail;
    report.message = "prometheus unreachable".into();
    let out = evaluate(&s, &report, &[]);
    assert_eq!(out.score, 100.0);
    assert_eq!(
        (out.status, out.result),
        (Status::Succeeded, KeptnResult::Fail)
    );
    assert_eq!(
        out.message,
        "lighthouse failed because SLI failed with message prometheus unreachable"
    );
}

#[test]
fn get_sli_errored_or_aborted_is_an_errored_evaluation() {
    let s =
        slo("objectives:\n  - sli: a\n    pass: [{criteria: [\"<1\"]}]\ntotal_score: {pass: 90}");
    let mut report = SliReport::succeeded(vec![value("a", 0.0)]);
    report.status = Status::Errored;
    report.message = "boom".into();
    let out = evaluate(&s, &report, &[previous("e1", KeptnResult::Pass, &[])]);
    assert_eq!(
        (out.status, out.result),
        (Status::Errored, KeptnResult::Fail)
    );
    assert_eq!(
        out.message,
        "evaluation performed by lighthouse received an unexpected error: boom"
    );
    assert!(out.indicator_results.is_empty());
    report.status = Status::Aborted;
    let out = evaluate(&s, &report, &[]);
    assert_eq!(
        (out.status, out.result),
        (Status::Errored, KeptnResult::Fail)
    );
    assert_eq!(
        out.message,
        "evaluation performed by lighthouse was aborted"
    );
}

#[test]
fn compared_value_is_reported_for_absolute_criteria_too() {
    // Only absolute criteria: the earlier average (100 + 200) / 2 = 150 is still shown.
    let s = slo(
        "comparison: {compare_with: several_results, number_of_comparison_results: 2}\nobjectives:\n  - sli: a\n    pass: [{criteria: [\"<600\"]}]\ntotal_score: {pass: 90}",
    );
    let prev = [
        previous("e1", KeptnResult::Pass, &[("a", 100.0)]),
        previous("e2", KeptnResult::Fail, &[("a", 200.0)]),
    ];
    let out = run(&s, vec![value("a", 300.0)], &prev);
    assert_eq!(out.indicator_results[0].value.compared_value, Some(150.0));
    assert_eq!(out.compared_events, ["e1", "e2"]);
}

#[test]
fn not_finite_values_are_failed_measurements() {
    let s =
        slo("objectives:\n  - sli: a\n    pass: [{criteria: [\"<1\"]}]\ntotal_score: {pass: 90}");
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let out = run(&s, vec![value("a", v)], &[]);
        let r = &out.indicator_results[0];
        assert_eq!(r.status, ObjectiveStatus::Fail);
        assert!(!r.value.success);
        assert_eq!(r.value.value, 0.0);
        assert!(
            r.value
                .message
                .as_deref()
                .unwrap()
                .starts_with(messages::NOT_FINITE)
        );
        assert_eq!((out.result, out.score), (KeptnResult::Fail, 0.0));
    }
    // Earlier values that are not finite are ignored: the average is over 100 only.
    let prev = [
        previous("e1", KeptnResult::Pass, &[("a", f64::NAN)]),
        previous("e2", KeptnResult::Pass, &[("a", 100.0)]),
    ];
    let s = slo(
        "comparison: {compare_with: several_results, number_of_comparison_results: 2}\nobjectives:\n  - sli: a\n    pass: [{criteria: [\"<=+10%\"]}]\ntotal_score: {pass: 90}",
    );
    let out = run(&s, vec![value("a", 105.0)], &prev);
    assert_eq!(out.indicator_results[0].pass_targets[0].target_value, 110.0);
    assert_eq!(out.result, KeptnResult::Pass);
}
