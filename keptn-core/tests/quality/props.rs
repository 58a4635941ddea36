//! Properties: no input makes the parser or the scoring panic, and every evaluation reports a
//! finite score from 0 to 100 and finite numbers only, whatever the values (NaN and infinities
//! included).

use keptn_core::quality::{Criterion, FinishedContext, PreviousEvaluation, SliReport, evaluate};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::{
    EvaluationFinished, ObjectiveStatus, SliEvaluationResult, SliResult,
};
use proptest::prelude::*;

use super::support::slo;

fn criterion_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["<", "<=", "=", ">=", ">"]),
        prop::sample::select(vec!["", "+", "-"]),
        0.0f64..1e6,
        any::<bool>(),
    )
        .prop_map(|(op, sign, n, pct)| format!("{op}{sign}{n}{}", if pct { "%" } else { "" }))
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e4f64..1e4,
        1 => prop::num::f64::ANY,
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN, 0.0, -0.0]),
    ]
}

fn sets() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(prop::collection::vec(criterion_text(), 1..3), 0..3)
}

#[derive(Debug, Clone)]
struct ObjectiveSpec {
    sli: usize,
    weight: u32,
    key: bool,
    pass: Vec<Vec<String>>,
    warning: Vec<Vec<String>>,
}

fn objective() -> impl Strategy<Value = ObjectiveSpec> {
    (0usize..5, 0u32..5, any::<bool>(), sets(), sets()).prop_map(
        |(sli, weight, key, pass, warning)| ObjectiveSpec {
            sli,
            weight,
            key,
            pass,
            warning,
        },
    )
}

fn yaml_sets(sets: &[Vec<String>]) -> String {
    let items: Vec<String> = sets
        .iter()
        .map(|c| {
            let quoted: Vec<String> = c.iter().map(|s| format!("{s:?}")).collect();
            format!("{{criteria: [{}]}}", quoted.join(", "))
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn slo_yaml(
    objectives: &[ObjectiveSpec],
    function: &str,
    pass: f64,
    warning: Option<f64>,
) -> String {
    let mut y = format!(
        "comparison: {{compare_with: several_results, number_of_comparison_results: 3, aggregate_function: {function}}}\nobjectives:\n"
    );
    for o in objectives {
        y.push_str(&format!(
            "  - sli: m{}\n    weight: {}\n    key_sli: {}\n    pass: {}\n    warning: {}\n",
            o.sli,
            o.weight,
            o.key,
            yaml_sets(&o.pass),
            yaml_sets(&o.warning)
        ));
    }
    y.push_str(&format!("total_score:\n  pass: \"{pass}%\"\n"));
    if let Some(w) = warning {
        y.push_str(&format!("  warning: \"{w}\"\n"));
    }
    y
}

fn measurement() -> impl Strategy<Value = Option<(f64, bool)>> {
    prop::option::weighted(0.8, (any_value(), prop::bool::weighted(0.85)))
}

fn results(values: &[Option<(f64, bool)>]) -> Vec<SliResult> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.map(|(value, success)| SliResult {
                metric: format!("m{i}"),
                value,
                success,
                ..SliResult::default()
            })
        })
        .collect()
}

fn previous_evaluations() -> impl Strategy<Value = Vec<PreviousEvaluation>> {
    prop::collection::vec(
        (
            prop::collection::vec(measurement(), 6),
            prop::sample::select(vec![
                KeptnResult::Pass,
                KeptnResult::Warning,
                KeptnResult::Fail,
            ]),
        ),
        0..4,
    )
    .prop_map(|evals| {
        evals
            .into_iter()
            .enumerate()
            .map(|(i, (values, result))| PreviousEvaluation {
                id: Some(format!("e{i}")),
                result: Some(result),
                indicator_results: results(&values)
                    .into_iter()
                    .map(|value| SliEvaluationResult {
                        score: 0.0,
                        value,
                        display_name: String::new(),
                        pass_targets: vec![],
                        warning_targets: vec![],
                        key_sli: false,
                        status: ObjectiveStatus::Pass,
                    })
                    .collect(),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic_the_criterion_parser(s in ".{0,16}", t in "[<=>|+\\-%. 0-9eE]{0,10}") {
        for text in [s, t] {
            if let Ok(c) = Criterion::parse(&text) {
                prop_assert!(c.value().is_finite());
                prop_assert_eq!(c.text(), text.as_str());
            }
        }
    }

    #[test]
    fn criteria_evaluate_any_values_to_finite_targets(text in criterion_text(), measured in any_value(), agg in prop::option::of(any_value())) {
        let c = Criterion::parse(&text).unwrap();
        let agg = agg.filter(|a| a.is_finite());
        let t = c.evaluate(measured, agg);
        prop_assert!(t.target_value.is_finite());
        prop_assert!(c.unevaluated(agg).target_value.is_finite());
        if measured.is_nan() && (agg.is_some() || !c.is_relative()) {
            prop_assert!(t.violated);
        }
    }

    #[test]
    fn scores_stay_between_0_and_100_and_numbers_stay_finite(
        objectives in prop::collection::vec(objective(), 0..7),
        function in prop::sample::select(vec!["avg", "p50", "p90", "p95"]),
        pass in 0.0f64..=100.0,
        warning in prop::option::of(0.0f64..=100.0),
        current in prop::collection::vec(measurement(), 6),
        previous in previous_evaluations(),
        sli_failed in prop::bool::weighted(0.1),
    ) {
        let s = slo(&slo_yaml(&objectives, function, pass, warning));
        let mut report = SliReport::succeeded(results(&current));
        if sli_failed {
            report.result = KeptnResult::Fail;
        }
        let out = evaluate(&s, &report, &previous);
        prop_assert!(out.score.is_finite());
        prop_assert!((0.0..=100.0).contains(&out.score), "score {}", out.score);
        prop_assert_eq!(out.indicator_results.len(), objectives.len());
        for r in &out.indicator_results {
            prop_assert!(r.value.value.is_finite());
            prop_assert!(r.value.compared_value.is_some_and(f64::is_finite));
            for t in r.pass_targets.iter().chain(&r.warning_targets) {
                prop_assert!(t.target_value.is_finite());
            }
            if r.status == ObjectiveStatus::Info {
                prop_assert_eq!(r.score, 0.0);
            }
        }
        if objectives.is_empty() || sli_failed || out.key_sli_failure.is_some() {
            prop_assert_eq!(out.result, KeptnResult::Fail);
        }
        // The finished data is valid JSON that reads back.
        let json = serde_json::to_string(&out.finished(&FinishedContext::default())).unwrap();
        let back: EvaluationFinished = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.evaluation.unwrap().indicator_results.unwrap().len(), objectives.len());
    }
}
