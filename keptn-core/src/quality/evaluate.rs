//! The lighthouse scoring: an SLO, the measured values and earlier evaluations in, an
//! [`EvaluationOutcome`] out. Pure and synchronous; a handler fetches the inputs and sends the
//! result.
//!
//! Per objective (Keptn's rules; see `docs/quality-gates.md` for the whole algorithm):
//!
//! - earlier values are that indicator's successful values in the earlier evaluations, in the
//!   order given (newest first), aggregated by the SLO's `aggregate_function`;
//! - no pass criteria: status `info`, score 0, not counted in the maximum;
//! - no value, `success: false`, or a value that is not a finite number: status `fail`, score
//!   0, a synthesized value `no value received from SLI provider` when none came, every target
//!   reported violated; a key SLI then fails the evaluation with the value's message;
//! - otherwise the pass sets are OR-ed (criteria inside a set AND-ed): pass gives the weight;
//!   else the warning sets: warning gives half the weight; else fail, 0, and a key SLI fails the
//!   evaluation. Pass and warning targets are both always reported.
//! - `comparedValue` is the aggregated earlier value (0 without one) for every objective.
//!
//! Total: the maximum is the sum of the weights of objectives with pass criteria; a maximum of
//! 0 scores 100 and passes. Otherwise score = 100 * sum / maximum; pass at or above
//! `total_score.pass` unless a key SLI failed, else warning at or above `total_score.warning`
//! (when given and no key SLI failed), else fail. No objectives fail the evaluation; a
//! `get-sli` result `fail` fails it; a `get-sli` status `aborted` or `errored` gives an errored,
//! failed evaluation without scoring.
//!
//! NaN and infinite inputs: a current value that is not finite is treated as a failed
//! measurement (message [`NOT_FINITE`](super::messages::NOT_FINITE)); earlier values that are
//! not finite are ignored like unsuccessful ones. Thresholds are finite by construction (the SLO
//! parser rejects others), so the score is always a finite number from 0 to 100 and every
//! reported number is finite.

use std::collections::{HashMap, HashSet};

use keptn_sdk::event::payload::ObjectiveStatus;
use keptn_sdk::event::payload::{GetSliFinished, SliEvaluationResult, SliResult, SliTarget};
use keptn_sdk::event::{KeptnResult, Status};

use super::compare::PreviousEvaluation;
use super::criteria::finite_or_clamped;
use super::messages;
use super::outcome::{EvaluationOutcome, KeySliFailure};
use super::slo::{CriteriaSet, Objective, Slo};

/// What the SLI provider answered (`get-sli.finished`).
#[derive(Debug, Clone, PartialEq)]
pub struct SliReport {
    /// Its status: `aborted` and `errored` stop the evaluation.
    pub status: Status,
    /// Its result: `fail` fails the evaluation.
    pub result: KeptnResult,
    /// Its message.
    pub message: String,
    /// The measured values.
    pub indicator_values: Vec<SliResult>,
}

impl SliReport {
    /// A successful answer with these values.
    pub fn succeeded(indicator_values: Vec<SliResult>) -> Self {
        Self {
            status: Status::Succeeded,
            result: KeptnResult::Pass,
            message: String::new(),
            indicator_values,
        }
    }

    /// From the data of a `get-sli.finished` event (status and result default to succeeded
    /// and pass, as Keptn's event helpers set them).
    pub fn from_get_sli_finished(data: &GetSliFinished) -> Self {
        Self {
            status: data.base.status.unwrap_or(Status::Succeeded),
            result: data.base.result.unwrap_or(KeptnResult::Pass),
            message: data.base.message.clone().unwrap_or_default(),
            indicator_values: data
                .get_sli
                .as_ref()
                .and_then(|g| g.indicator_values.clone())
                .unwrap_or_default(),
        }
    }
}

/// Evaluates `slo` against the measured values of `sli` and the earlier evaluations
/// `previous` (already selected, newest first; see
/// [`select_previous`](super::compare::select_previous)).
pub fn evaluate(slo: &Slo, sli: &SliReport, previous: &[PreviousEvaluation]) -> EvaluationOutcome {
    match sli.status {
        Status::Aborted => return EvaluationOutcome::errored(messages::SLI_ABORTED),
        Status::Errored => {
            return EvaluationOutcome::errored(messages::sli_errored(&sli.message));
        }
        _ => {}
    }
    let compared_events: Vec<String> = previous.iter().filter_map(|p| p.id.clone()).collect();
    let aggregated = aggregate_history(slo, previous);

    let mut current: HashMap<&str, &SliResult> = HashMap::with_capacity(sli.indicator_values.len());
    for value in &sli.indicator_values {
        current.entry(value.metric.as_str()).or_insert(value);
    }

    let mut indicator_results = Vec::with_capacity(slo.objectives.len());
    let mut maximum = 0.0_f64;
    let mut total = 0.0_f64;
    let mut key_sli_failure = None;
    for objective in &slo.objectives {
        if !objective.is_informational() {
            maximum += f64::from(objective.weight);
        }
        let (result, failure) = evaluate_objective(
            objective,
            current.get(objective.sli.as_str()).copied(),
            aggregated.get(objective.sli.as_str()).copied(),
        );
        if !result.pass_targets.is_empty() {
            total += result.score;
        }
        if failure.is_some() {
            // Keptn reports the last failing key SLI.
            key_sli_failure = failure;
        }
        indicator_results.push(result);
    }

    let additional_slis = additional_slis(slo, &sli.indicator_values);
    let (result, score, primary) = if slo.objectives.is_empty() {
        (
            KeptnResult::Fail,
            0.0,
            Some(messages::NO_OBJECTIVES.to_owned()),
        )
    } else if maximum == 0.0 {
        (KeptnResult::Pass, 100.0, None)
    } else {
        let score = 100.0 * (total / maximum);
        let (result, message) = total_result(slo, score, key_sli_failure.as_ref());
        (result, score, message)
    };
    let (result, primary) = if !slo.objectives.is_empty() && sli.result == KeptnResult::Fail {
        (KeptnResult::Fail, Some(messages::sli_failed(&sli.message)))
    } else {
        (result, primary)
    };
    let leftover =
        (!additional_slis.is_empty()).then(|| messages::additional_slis(&additional_slis));
    let message = [primary, leftover]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");

    EvaluationOutcome {
        status: Status::Succeeded,
        result,
        score,
        message,
        indicator_results,
        compared_events,
        key_sli_failure,
        additional_slis,
    }
}

/// The result and message for a score.
fn total_result(
    slo: &Slo,
    score: f64,
    key: Option<&KeySliFailure>,
) -> (KeptnResult, Option<String>) {
    let thresholds = slo.total_score;
    if let Some(key) = key {
        let message = messages::key_sli_failed(&key.objective, &key.message);
        return (KeptnResult::Fail, Some(message));
    }
    if score >= thresholds.pass {
        return (KeptnResult::Pass, None);
    }
    match thresholds.warning {
        Some(warning) if score >= warning => (
            KeptnResult::Warning,
            Some(messages::warning(score, warning)),
        ),
        Some(warning) => (
            KeptnResult::Fail,
            Some(messages::below_warning(score, warning)),
        ),
        None => (
            KeptnResult::Fail,
            Some(messages::below_pass(score, thresholds.pass)),
        ),
    }
}

/// The aggregated earlier value of every indicator that has successful, finite values.
fn aggregate_history<'a>(slo: &Slo, previous: &'a [PreviousEvaluation]) -> HashMap<&'a str, f64> {
    let mut values: HashMap<&str, Vec<f64>> = HashMap::new();
    for evaluation in previous {
        for result in &evaluation.indicator_results {
            let v = &result.value;
            if v.success && v.value.is_finite() {
                values.entry(v.metric.as_str()).or_default().push(v.value);
            }
        }
    }
    let function = slo.comparison.aggregate_function;
    values
        .into_iter()
        .filter_map(|(metric, mut v)| function.apply(&mut v).map(|a| (metric, a)))
        .collect()
}

/// Indicators returned but used by no objective, in the order received, each once.
fn additional_slis(slo: &Slo, values: &[SliResult]) -> Vec<String> {
    let used: HashSet<&str> = slo.objectives.iter().map(|o| o.sli.as_str()).collect();
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !used.contains(value.metric.as_str()) && !out.contains(&value.metric) {
            out.push(value.metric.clone());
        }
    }
    out
}

fn evaluate_objective(
    objective: &Objective,
    value: Option<&SliResult>,
    aggregated: Option<f64>,
) -> (SliEvaluationResult, Option<KeySliFailure>) {
    let compared = finite_or_clamped(aggregated.unwrap_or(0.0));
    let usable = value.filter(|v| v.success && v.value.is_finite());
    let mut result = SliEvaluationResult {
        score: 0.0,
        value: SliResult::default(),
        display_name: objective.display_name.clone(),
        pass_targets: Vec::new(),
        warning_targets: Vec::new(),
        key_sli: objective.key_sli,
        status: ObjectiveStatus::Fail,
    };
    let Some(measured) = usable else {
        result.value = failed_value(objective, value, compared);
        result.pass_targets = unevaluated(&objective.pass, aggregated);
        result.warning_targets = unevaluated(&objective.warning, aggregated);
        if objective.is_informational() {
            result.status = ObjectiveStatus::Info;
            return (result, None);
        }
        let failure = objective.key_sli.then(|| KeySliFailure {
            objective: objective.name().to_owned(),
            message: result.value.message.clone().unwrap_or_default(),
        });
        return (result, failure);
    };

    result.value = SliResult {
        compared_value: Some(compared),
        ..measured.clone()
    };
    let (warned, warning_targets) = evaluate_sets(&objective.warning, measured.value, aggregated);
    result.warning_targets = warning_targets;
    if objective.is_informational() {
        result.status = ObjectiveStatus::Info;
        return (result, None);
    }
    let (passed, pass_targets) = evaluate_sets(&objective.pass, measured.value, aggregated);
    result.pass_targets = pass_targets;
    let weight = f64::from(objective.weight);
    if passed {
        result.status = ObjectiveStatus::Pass;
        result.score = weight;
        (result, None)
    } else if warned {
        result.status = ObjectiveStatus::Warning;
        result.score = 0.5 * weight;
        (result, None)
    } else {
        let failure = objective.key_sli.then(|| KeySliFailure {
            objective: objective.name().to_owned(),
            message: messages::key_sli_criteria_failed(0.0),
        });
        (result, failure)
    }
}

/// OR over the sets, AND inside a set; every target of every set is reported. No sets: not
/// satisfied.
fn evaluate_sets(
    sets: &[CriteriaSet],
    measured: f64,
    aggregated: Option<f64>,
) -> (bool, Vec<SliTarget>) {
    let mut satisfied = false;
    let mut targets = Vec::with_capacity(sets.iter().map(|s| s.criteria.len()).sum());
    for set in sets {
        let before = targets.len();
        targets.extend(
            set.criteria
                .iter()
                .map(|c| c.evaluate(measured, aggregated)),
        );
        if targets[before..].iter().all(|t| !t.violated) {
            satisfied = true;
        }
    }
    (satisfied, targets)
}

fn unevaluated(sets: &[CriteriaSet], aggregated: Option<f64>) -> Vec<SliTarget> {
    sets.iter()
        .flat_map(|s| s.criteria.iter())
        .map(|c| c.unevaluated(aggregated))
        .collect()
}

/// The value reported for an objective without a usable measurement.
fn failed_value(objective: &Objective, value: Option<&SliResult>, compared: f64) -> SliResult {
    match value {
        None => SliResult {
            metric: objective.sli.clone(),
            value: 0.0,
            compared_value: Some(compared),
            success: false,
            message: Some(messages::NO_VALUE_RECEIVED.to_owned()),
        },
        Some(v) if v.success => SliResult {
            metric: v.metric.clone(),
            value: 0.0,
            compared_value: Some(compared),
            success: false,
            message: Some(format!("{} ({})", messages::NOT_FINITE, v.value)),
        },
        Some(v) => SliResult {
            value: finite_or_clamped(v.value),
            compared_value: Some(compared),
            ..v.clone()
        },
    }
}
