//! Builders shared by the quality tests.

use keptn_core::quality::{EvaluationOutcome, PreviousEvaluation, SliReport, Slo, evaluate};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::{ObjectiveStatus, SliEvaluationResult, SliResult, SliTarget};

/// The real `slo-quality-gates.yaml` of the keptn/examples sockshop tutorial.
pub const SLO_QUALITY_GATES: &str = include_str!("fixtures/slo-quality-gates.yaml");

/// The real Prometheus `sli.yaml` of the same tutorial.
pub const SLI_PROMETHEUS: &str = include_str!("fixtures/sli-prometheus-bg.yaml");

/// Parses an SLO or panics with the error.
pub fn slo(yaml: &str) -> Slo {
    Slo::parse(yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

/// A successful measurement.
pub fn value(metric: &str, v: f64) -> SliResult {
    SliResult {
        metric: metric.into(),
        value: v,
        success: true,
        ..SliResult::default()
    }
}

/// A failed measurement with the provider's message.
pub fn failed(metric: &str, message: &str) -> SliResult {
    SliResult {
        metric: metric.into(),
        success: false,
        message: Some(message.into()),
        ..SliResult::default()
    }
}

/// An earlier evaluation with one indicator result per `(metric, value)`.
pub fn previous(id: &str, result: KeptnResult, values: &[(&str, f64)]) -> PreviousEvaluation {
    PreviousEvaluation {
        id: Some(id.into()),
        result: Some(result),
        indicator_results: values
            .iter()
            .map(|(metric, v)| SliEvaluationResult {
                score: 1.0,
                value: value(metric, *v),
                display_name: String::new(),
                pass_targets: Vec::new(),
                warning_targets: Vec::new(),
                key_sli: false,
                status: ObjectiveStatus::Pass,
            })
            .collect(),
    }
}

/// Evaluates with a successful SLI answer.
pub fn run(slo: &Slo, values: Vec<SliResult>, prev: &[PreviousEvaluation]) -> EvaluationOutcome {
    evaluate(slo, &SliReport::succeeded(values), prev)
}

/// `(criteria, targetValue, violated)` of targets, for compact assertions.
pub fn targets(t: &[SliTarget]) -> Vec<(&str, f64, bool)> {
    t.iter()
        .map(|t| (t.criteria.as_str(), t.target_value, t.violated))
        .collect()
}

/// An earlier evaluation (with result `pass` and an id) whose value of `metric` failed.
pub fn previous_failed(id: &str, metric: &str) -> PreviousEvaluation {
    let mut p = previous(id, KeptnResult::Pass, &[(metric, 999.0)]);
    p.indicator_results[0].value.success = false;
    p
}
