//! Comparison with earlier evaluations: how many, which ones, and how they are aggregated.

use std::collections::HashSet;

use keptn_core::quality::{ComparisonQuery, IncludeResult, select_previous};
use keptn_sdk::event::KeptnResult;

use super::support::{previous, run, slo, value};

/// `several_results` over 10 earlier evaluations with values 10, 20, ..., 100 (newest first:
/// 100 is the newest), one relative criterion `<=+0%` so the target equals the aggregate.
fn aggregate_target(function: &str) -> f64 {
    let s = slo(&format!(
        "comparison:\n  compare_with: several_results\n  number_of_comparison_results: 10\n  aggregate_function: {function}\nobjectives:\n  - sli: m\n    pass: [{{criteria: [\"<=+0%\"]}}]\ntotal_score: {{pass: 90}}\n"
    ));
    let candidates: Vec<_> = (1..=10)
        .rev()
        .map(|i| {
            previous(
                &format!("e{i}"),
                KeptnResult::Pass,
                &[("m", f64::from(i * 10))],
            )
        })
        .collect();
    let selected = select_previous(&s.comparison, candidates, &HashSet::new());
    assert_eq!(selected.len(), 10);
    let out = run(&s, vec![value("m", 1.0)], &selected);
    assert_eq!(out.compared_events.len(), 10);
    assert_eq!(out.compared_events[0], "e10");
    let target = out.indicator_results[0].pass_targets[0].target_value;
    assert_eq!(out.indicator_results[0].value.compared_value, Some(target));
    target
}

#[test]
fn average_of_ten() {
    // (10 + 20 + ... + 100) / 10 = 55
    assert_eq!(aggregate_target("avg"), 55.0);
}

#[test]
fn percentiles_of_ten_follow_keptns_rule() {
    // sorted 10..100, n = 10.
    // p50: pos = 0.5 * 11 = 5.5 -> values[4] + 0.5 * (values[5] - values[4]) = 50 + 5 = 55
    assert_eq!(aggregate_target("p50"), 55.0);
    // p90: pos = 0.9 * 11 = 9.9 -> values[8] + 0.9 * (values[9] - values[8]) = 90 + 9 = 99
    assert!((aggregate_target("p90") - 99.0).abs() < 1e-12);
    // p95: pos = 0.95 * 11 = 10.45 >= n -> max = 100
    assert_eq!(aggregate_target("p95"), 100.0);
}

#[test]
fn single_result_uses_only_the_newest() {
    let s = slo(
        "comparison: {compare_with: single_result, aggregate_function: avg}\nobjectives:\n  - sli: m\n    pass: [{criteria: [\"<=+0%\"]}]\ntotal_score: {pass: 90}",
    );
    let candidates = vec![
        previous("new", KeptnResult::Pass, &[("m", 10.0)]),
        previous("old", KeptnResult::Pass, &[("m", 1000.0)]),
    ];
    let selected = select_previous(&s.comparison, candidates, &HashSet::new());
    let out = run(&s, vec![value("m", 10.0)], &selected);
    assert_eq!(out.compared_events, ["new"]);
    assert_eq!(out.result, KeptnResult::Pass);
}

#[test]
fn comparison_block_without_compare_with_uses_three() {
    let s = slo("comparison: {aggregate_function: avg}\nobjectives: []\ntotal_score: {pass: 90}");
    assert_eq!(s.comparison.number_of_previous_results(), 3);
    assert_eq!(s.comparison.include_result_with_score, IncludeResult::All);
}

#[test]
fn invalidated_and_excluded_results_are_skipped() {
    let s = slo(
        "comparison:\n  compare_with: several_results\n  number_of_comparison_results: 2\n  include_result_with_score: pass_or_warn\nobjectives: []\ntotal_score: {pass: 90}",
    );
    let candidates = vec![
        previous("e1", KeptnResult::Warning, &[]),
        previous("e2", KeptnResult::Fail, &[]),
        previous("e3", KeptnResult::Pass, &[]),
        previous("e4", KeptnResult::Pass, &[]),
    ];
    let invalidated: HashSet<String> = ["e1".to_owned()].into();
    let ids: Vec<_> = select_previous(&s.comparison, candidates, &invalidated)
        .into_iter()
        .filter_map(|p| p.id)
        .collect();
    assert_eq!(ids, ["e3", "e4"]);
}

#[test]
fn datastore_query_of_the_real_file() {
    let s = slo(super::support::SLO_QUALITY_GATES);
    let q = ComparisonQuery::for_slo(&s, "sockshop", "hardening", "carts");
    assert_eq!(
        q.event_type().to_string(),
        "sh.keptn.event.evaluation.finished"
    );
    assert_eq!(q.source(), "lighthouse-service");
    assert_eq!(q.limit, 1);
    assert!(q.exclude_invalidated());
    assert_eq!(
        q.filter(),
        "data.project:sockshop AND data.stage:hardening AND data.service:carts AND data.result:pass"
    );
    assert_eq!(q.results(), Some(&[KeptnResult::Pass][..]));
}
