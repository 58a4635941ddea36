//! Criteria inside objectives: relative and absolute, percent and amounts, OR of sets and AND
//! inside a set, every operator.

use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::ObjectiveStatus;

use super::support::{previous, run, slo, targets, value};

/// One objective `m` with the given pass sets; earlier value of `m` is 200.
fn status_and_targets(pass: &str, measured: f64) -> (ObjectiveStatus, Vec<(String, f64, bool)>) {
    let s = slo(&format!(
        "objectives:\n  - sli: m\n    pass: {pass}\ntotal_score: {{pass: 90}}\n"
    ));
    let prev = [previous("e1", KeptnResult::Pass, &[("m", 200.0)])];
    let out = run(&s, vec![value("m", measured)], &prev);
    let r = &out.indicator_results[0];
    (
        r.status,
        targets(&r.pass_targets)
            .into_iter()
            .map(|(c, t, v)| (c.to_owned(), t, v))
            .collect(),
    )
}

fn one(pass: &str, measured: f64) -> (ObjectiveStatus, f64, bool) {
    let (status, t) = status_and_targets(pass, measured);
    (status, t[0].1, t[0].2)
}

use ObjectiveStatus::{Fail, Pass};

#[test]
fn plus_percent_and_bare_percent_are_both_relative_increases() {
    // 200 * 110 / 100 = 220
    assert_eq!(
        one("[{criteria: [\"<=+10%\"]}]", 220.0),
        (Pass, 220.0, false)
    );
    assert_eq!(
        one("[{criteria: [\"<=10%\"]}]", 220.0),
        (Pass, 220.0, false)
    );
    assert_eq!(one("[{criteria: [\"<=10%\"]}]", 221.0), (Fail, 220.0, true));
}

#[test]
fn number_without_sign_or_percent_is_absolute() {
    assert_eq!(one("[{criteria: [\"<=10\"]}]", 10.0), (Pass, 10.0, false));
    assert_eq!(one("[{criteria: [\"<=10\"]}]", 11.0), (Fail, 10.0, true));
}

#[test]
fn minus_percent_is_a_relative_decrease() {
    // throughput must not drop more than 5%: 200 * 95 / 100 = 190
    assert_eq!(
        one("[{criteria: [\">=-5%\"]}]", 190.0),
        (Pass, 190.0, false)
    );
    assert_eq!(one("[{criteria: [\">=-5%\"]}]", 189.9), (Fail, 190.0, true));
}

#[test]
fn signed_amounts_are_relative_by_value() {
    assert_eq!(
        one("[{criteria: [\"<=+10\"]}]", 210.0),
        (Pass, 210.0, false)
    );
    assert_eq!(one("[{criteria: [\">-10\"]}]", 190.0), (Fail, 190.0, true));
}

#[test]
fn every_operator() {
    assert_eq!(one("[{criteria: [\"<200\"]}]", 200.0).0, Fail);
    assert_eq!(one("[{criteria: [\"<=200\"]}]", 200.0).0, Pass);
    assert_eq!(one("[{criteria: [\"=200\"]}]", 200.0).0, Pass);
    assert_eq!(one("[{criteria: [\"=200\"]}]", 200.5).0, Fail);
    assert_eq!(one("[{criteria: [\">=200\"]}]", 200.0).0, Pass);
    assert_eq!(one("[{criteria: [\">200\"]}]", 200.0).0, Fail);
    assert_eq!(one("[{criteria: [\"= 0\"]}]", 0.0).0, Pass);
}

#[test]
fn criteria_in_a_set_are_and_ed() {
    let (status, t) = status_and_targets("[{criteria: [\"<=+10%\", \"<210\"]}]", 215.0);
    assert_eq!(status, Fail);
    assert_eq!(
        t,
        [
            ("<=+10%".to_owned(), 220.0, false),
            ("<210".to_owned(), 210.0, true)
        ]
    );
}

#[test]
fn sets_are_or_ed_and_all_targets_reported() {
    // Set 1 fails (550 >= 100), set 2 holds (500 <= 550 <= 600): pass.
    let (status, t) = status_and_targets(
        "[{criteria: [\"<100\"]}, {criteria: [\">=500\", \"<=600\"]}]",
        550.0,
    );
    assert_eq!(status, Pass);
    assert_eq!(
        t,
        [
            ("<100".to_owned(), 100.0, true),
            (">=500".to_owned(), 500.0, false),
            ("<=600".to_owned(), 600.0, false)
        ]
    );
    // Neither set holds: fail.
    assert_eq!(
        status_and_targets("[{criteria: [\"<100\"]}, {criteria: [\">=500\"]}]", 300.0).0,
        Fail
    );
}

#[test]
fn relative_criteria_without_history_pass_with_target_zero() {
    let s = slo(
        "objectives:\n  - sli: m\n    pass: [{criteria: [\"<=+10%\", \">=-5%\", \"<=+1\"]}]\ntotal_score: {pass: 90}",
    );
    let out = run(&s, vec![value("m", 1e6)], &[]);
    let r = &out.indicator_results[0];
    assert_eq!(r.status, Pass);
    assert!(
        r.pass_targets
            .iter()
            .all(|t| t.target_value == 0.0 && !t.violated)
    );
    // An earlier evaluation without this indicator (or with a failed value) is no history.
    let prev = [
        previous("e1", KeptnResult::Pass, &[("other", 1.0)]),
        super::support::previous_failed("e2", "m"),
    ];
    let out = run(&s, vec![value("m", 1e6)], &prev);
    assert_eq!(out.indicator_results[0].status, Pass);
    assert_eq!(out.compared_events, ["e1", "e2"]);
}

#[test]
fn warning_criteria_are_evaluated_even_when_the_objective_passes() {
    let s = slo(
        "objectives:\n  - sli: m\n    pass: [{criteria: [\"<600\"]}]\n    warning: [{criteria: [\"<100\"]}]\ntotal_score: {pass: 90}",
    );
    let out = run(&s, vec![value("m", 300.0)], &[]);
    let r = &out.indicator_results[0];
    assert_eq!(r.status, Pass);
    assert_eq!(targets(&r.warning_targets), [("<100", 100.0, true)]);
}
