//! The real `slo-quality-gates.yaml` (keptn/examples, spec_version "0.1.1"):
//!
//! ```yaml
//! comparison: {compare_with: single_result, include_result_with_score: pass,
//!              aggregate_function: avg, number_of_comparison_results: 1}
//! objectives:
//!   - sli: response_time_p95
//!     pass: [{criteria: ["<=+10%", "<600"]}]
//!     warning: [{criteria: ["<=800"]}]
//! total_score: {pass: "90%", warning: "75%"}
//! ```
//!
//! One objective of weight 1: the score is 100 (pass), 50 (objective warning) or 0 (fail).
//! Since 50 is below the total warning threshold of 75, an objective warning makes the whole
//! evaluation fail with this file: that is how Keptn scores it.

use keptn_core::quality::{
    AggregateFunction, CompareWith, IncludeResult, SloSpecVersion, select_previous,
};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::ObjectiveStatus;

use super::support::{SLO_QUALITY_GATES, previous, run, slo, targets, value};

const P95: &str = "response_time_p95";

#[test]
fn the_real_file_parses_with_its_settings() {
    let s = slo(SLO_QUALITY_GATES);
    assert_eq!(s.spec_version, Some(SloSpecVersion::V0_1_1));
    assert_eq!(s.comparison.compare_with, CompareWith::SingleResult);
    assert_eq!(s.comparison.include_result_with_score, IncludeResult::Pass);
    assert_eq!(s.comparison.aggregate_function, AggregateFunction::Avg);
    assert_eq!(s.comparison.number_of_previous_results(), 1);
    assert_eq!(s.objectives.len(), 1);
    let o = &s.objectives[0];
    assert_eq!((o.sli.as_str(), o.weight, o.key_sli), (P95, 1, false));
    assert_eq!(o.pass.len(), 1);
    assert_eq!(o.pass[0].criteria.len(), 2);
    assert_eq!(o.pass[0].criteria[0].text(), "<=+10%");
    assert_eq!(o.pass[0].criteria[1].text(), "<600");
    assert_eq!(o.warning[0].criteria[0].text(), "<=800");
    assert_eq!(
        (s.total_score.pass, s.total_score.warning),
        (90.0, Some(75.0))
    );
}

#[test]
fn first_evaluation_passes_without_history() {
    // No earlier evaluation: "<=+10%" passes with target 0; 512.3 < 600 passes.
    // Score 1/1 -> 100 >= 90 -> pass. comparedValue is 0 (nothing to compare with).
    let s = slo(SLO_QUALITY_GATES);
    let out = run(&s, vec![value(P95, 512.3)], &[]);
    assert_eq!(out.result, KeptnResult::Pass);
    assert_eq!(out.score, 100.0);
    assert_eq!(out.message, "");
    assert!(out.compared_events.is_empty());
    let r = &out.indicator_results[0];
    assert_eq!(r.status, ObjectiveStatus::Pass);
    assert_eq!(r.score, 1.0);
    assert_eq!(r.value.compared_value, Some(0.0));
    assert_eq!(
        targets(&r.pass_targets),
        [("<=+10%", 0.0, false), ("<600", 600.0, false)]
    );
    assert_eq!(targets(&r.warning_targets), [("<=800", 800.0, false)]);
}

#[test]
fn pass_within_ten_percent_of_the_last_passed_evaluation() {
    // Last passed value 500: target 500 * 110 / 100 = 550. 540 <= 550 and 540 < 600 -> pass.
    let s = slo(SLO_QUALITY_GATES);
    let prev = [previous("ev-1", KeptnResult::Pass, &[(P95, 500.0)])];
    let out = run(&s, vec![value(P95, 540.0)], &prev);
    assert_eq!((out.result, out.score), (KeptnResult::Pass, 100.0));
    assert_eq!(out.compared_events, ["ev-1"]);
    let r = &out.indicator_results[0];
    assert_eq!(r.value.compared_value, Some(500.0));
    assert_eq!(
        targets(&r.pass_targets),
        [("<=+10%", 550.0, false), ("<600", 600.0, false)]
    );
}

#[test]
fn objective_warning_scores_fifty_and_fails_the_total() {
    // 580 > 550 violates "<=+10%" so the pass set fails; 580 <= 800 -> objective warning,
    // score 0.5 of weight 1 -> 100 * 0.5 / 1 = 50. 50 < 90 and 50 < 75 -> fail.
    let s = slo(SLO_QUALITY_GATES);
    let prev = [previous("ev-1", KeptnResult::Pass, &[(P95, 500.0)])];
    let out = run(&s, vec![value(P95, 580.0)], &prev);
    let r = &out.indicator_results[0];
    assert_eq!((r.status, r.score), (ObjectiveStatus::Warning, 0.5));
    assert_eq!(
        targets(&r.pass_targets),
        [("<=+10%", 550.0, true), ("<600", 600.0, false)]
    );
    assert_eq!(targets(&r.warning_targets), [("<=800", 800.0, false)]);
    assert_eq!((out.result, out.score), (KeptnResult::Fail, 50.0));
    assert_eq!(
        out.message,
        "Evaluation failed since the calculated score of 50 is below the warning value of 75"
    );
}

#[test]
fn slow_response_fails_every_criterion() {
    // 900 > 550, 900 >= 600, 900 > 800: objective fail, score 0 -> 0 < 75 -> fail.
    let s = slo(SLO_QUALITY_GATES);
    let prev = [previous("ev-1", KeptnResult::Pass, &[(P95, 500.0)])];
    let out = run(&s, vec![value(P95, 900.0)], &prev);
    let r = &out.indicator_results[0];
    assert_eq!((r.status, r.score), (ObjectiveStatus::Fail, 0.0));
    assert_eq!(
        targets(&r.pass_targets),
        [("<=+10%", 550.0, true), ("<600", 600.0, true)]
    );
    assert_eq!(targets(&r.warning_targets), [("<=800", 800.0, true)]);
    assert_eq!((out.result, out.score), (KeptnResult::Fail, 0.0));
    assert_eq!(
        out.message,
        "Evaluation failed since the calculated score of 0 is below the warning value of 75"
    );
}

#[test]
fn only_passed_evaluations_are_compared_with() {
    // include_result_with_score: pass. The newest earlier evaluation failed with 300 and is
    // skipped; the next one passed with 500. Against 500 the target is 550 and 540 passes;
    // against 300 it would have been 330 and 540 would have failed.
    let s = slo(SLO_QUALITY_GATES);
    let candidates = vec![
        previous("ev-failed", KeptnResult::Fail, &[(P95, 300.0)]),
        previous("ev-passed", KeptnResult::Pass, &[(P95, 500.0)]),
        previous("ev-older", KeptnResult::Pass, &[(P95, 100.0)]),
    ];
    let selected = select_previous(&s.comparison, candidates, &Default::default());
    let out = run(&s, vec![value(P95, 540.0)], &selected);
    assert_eq!(out.compared_events, ["ev-passed"]);
    assert_eq!(out.indicator_results[0].pass_targets[0].target_value, 550.0);
    assert_eq!(out.result, KeptnResult::Pass);
}

#[test]
fn the_reference_event_of_keptn_0_6_is_reproduced() {
    // Keptn 0.6 reported for 1002.6 ms: "<=+10%" target 549.2 violated, "<600" violated,
    // score 0, fail. A target of 549.2 means an earlier value of 549.2 / 1.1 = 499.27...
    let s = slo(SLO_QUALITY_GATES);
    let earlier = 549.2 / 1.1;
    let prev = [previous("ev-1", KeptnResult::Pass, &[(P95, earlier)])];
    let out = run(&s, vec![value(P95, 1002.6)], &prev);
    let r = &out.indicator_results[0];
    assert!((r.pass_targets[0].target_value - 549.2).abs() < 1e-9);
    assert!(r.pass_targets.iter().all(|t| t.violated));
    assert_eq!((out.result, out.score), (KeptnResult::Fail, 0.0));
}
