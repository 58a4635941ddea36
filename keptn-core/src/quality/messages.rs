//! The messages of Keptn's lighthouse, word for word, so that users, scripts and the Bridge
//! see what they know.
//!
//! Numbers are written as Go's `%v` writes them for scores (shortest form: `50`, `66.66666666666667`).

/// The value synthesized for an objective whose indicator the SLI provider did not return.
pub const NO_VALUE_RECEIVED: &str = "no value received from SLI provider";

/// The evaluation of an SLO file without objectives.
pub const NO_OBJECTIVES: &str = "lighthouse failed because no SLO objective was provided";

/// The evaluation when `get-sli.finished` was aborted.
pub const SLI_ABORTED: &str = "evaluation performed by lighthouse was aborted";

/// The value message of an indicator whose value was NaN or infinite (not a Keptn message:
/// Keptn could not receive such values through JSON).
pub const NOT_FINITE: &str = "the SLI provider returned a value that is not a finite number";

/// No SLO file for the service: the evaluation passes without scoring.
pub fn no_slo_file(project: &str) -> String {
    format!(
        "no evaluation performed by lighthouse because no SLO file configured for project {project}"
    )
}

/// No SLI provider configured for the project: the evaluation passes without scoring.
pub fn no_sli_provider(project: &str) -> String {
    format!(
        "no evaluation performed by lighthouse because no SLI-provider configured for project {project}"
    )
}

/// `get-sli.finished` with status `errored`.
pub fn sli_errored(message: &str) -> String {
    format!("evaluation performed by lighthouse received an unexpected error: {message}")
}

/// `get-sli.finished` with result `fail`.
pub fn sli_failed(message: &str) -> String {
    format!("lighthouse failed because SLI failed with message {message}")
}

/// Indicators returned by the provider that no objective uses.
pub fn additional_slis(names: &[String]) -> String {
    format!(
        "Lighthouse received additional SLIs, which are not specified as SLO: {} . Please consider using them as an SLO.",
        names.join(", ")
    )
}

/// A key SLI failed.
pub fn key_sli_failed(objective: &str, message: &str) -> String {
    format!("Evaluation failed due to key_sli objective '{objective}': {message}")
}

/// The inner message of a key SLI whose criteria failed (Go's `%f` of the objective score).
pub fn key_sli_criteria_failed(score: f64) -> String {
    format!("failed evaluation with score {score:.6}")
}

/// Result `warning`.
pub fn warning(score: f64, warning: f64) -> String {
    format!(
        "Evaluation returned a warning: the calculated score of {score} is close to the warning target value of {warning}"
    )
}

/// Result `fail` below the warning threshold.
pub fn below_warning(score: f64, warning: f64) -> String {
    format!(
        "Evaluation failed since the calculated score of {score} is below the warning value of {warning}"
    )
}

/// Result `fail` below the pass threshold, without warning threshold.
pub fn below_pass(score: f64, pass: f64) -> String {
    format!(
        "Evaluation failed since the calculated score of {score} is below the target value of {pass}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_like_go_percent_v() {
        assert_eq!(
            below_pass(50.0, 90.0),
            "Evaluation failed since the calculated score of 50 is below the target value of 90"
        );
        assert_eq!(
            warning(200.0 / 3.0, 60.0),
            "Evaluation returned a warning: the calculated score of 66.66666666666667 is close to the warning target value of 60"
        );
        assert_eq!(
            key_sli_criteria_failed(0.0),
            "failed evaluation with score 0.000000"
        );
    }

    #[test]
    fn additional_slis_lists_names() {
        assert_eq!(
            additional_slis(&["a".into(), "b".into()]),
            "Lighthouse received additional SLIs, which are not specified as SLO: a, b . Please consider using them as an SLO."
        );
    }
}
