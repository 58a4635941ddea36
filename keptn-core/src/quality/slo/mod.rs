//! The SLO file (`slo.yaml`): model, parsing with Keptn's defaults, and validation.
//!
//! [`Slo::parse`] reads the YAML and returns the model with every default applied, or an
//! [`SloError`] that names the place of the problem (`objectives[2].pass[0].criteria[1]: "<=+x%"
//! is not a criterion: ...`; syntax errors carry the line and column).
//!
//! Defaults, as Keptn's lighthouse applies them:
//!
//! - `comparison` missing: `single_result`, `all`, 1 result, `avg`;
//! - `comparison` present: `include_result_with_score` empty means `all`,
//!   `number_of_comparison_results` 0 or missing means 3, `aggregate_function` empty means
//!   `avg`, and a missing `compare_with` means 3 earlier results;
//! - `weight` missing or 0 means 1; `key_sli` missing means false;
//! - `objectives` missing means none (the evaluation then fails, as in Keptn); null entries in
//!   the list are skipped.
//!
//! Stricter than Keptn, because each of these silently produced a wrong evaluation there:
//! unknown values of `compare_with`, `include_result_with_score` and `aggregate_function` are
//! errors (Keptn compared against 0 for an unknown aggregate function), a criterion that does
//! not parse is an error at load time instead of a failed evaluation, an empty `criteria` list
//! is an error (Keptn counted it as satisfied), an objective needs a non-empty `sli`, weights
//! are whole numbers from 0 to 2^32 - 1, and `total_score` values are percentages from 0 to 100.
//! `total_score.pass` is required, as in Keptn. Unknown keys are ignored.

use std::fmt;

use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::SliFilter;

use super::aggregate::AggregateFunction;
use super::criteria::Criterion;

mod parse;

/// A parsed SLO file with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// `spec_version`, when the file gives one.
    pub spec_version: Option<SloSpecVersion>,
    /// `filter`: passed to the SLI provider as `customFilters`, in file order.
    pub filter: Vec<(String, String)>,
    /// How earlier evaluations are used for relative criteria.
    pub comparison: Comparison,
    /// The objectives, in file order.
    pub objectives: Vec<Objective>,
    /// The thresholds of the total score.
    pub total_score: TotalScore,
}

/// The `spec_version` values found in real SLO files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SloSpecVersion {
    /// `"0.1.0"`
    V0_1_0,
    /// `"0.1.1"` (the keptn/examples sockshop files)
    V0_1_1,
    /// `"1.0"`
    V1_0,
}

impl SloSpecVersion {
    /// The value as written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            SloSpecVersion::V0_1_0 => "0.1.0",
            SloSpecVersion::V0_1_1 => "0.1.1",
            SloSpecVersion::V1_0 => "1.0",
        }
    }
}

/// `comparison.compare_with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareWith {
    /// Compare with the latest earlier evaluation.
    SingleResult,
    /// Compare with `number_of_comparison_results` earlier evaluations.
    SeveralResults,
    /// Not given in a `comparison` block: Keptn then uses 3 earlier evaluations.
    Unspecified,
}

/// `comparison.include_result_with_score`: which earlier evaluations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IncludeResult {
    /// Every earlier evaluation (the default).
    #[default]
    All,
    /// Only evaluations whose result was `pass`.
    Pass,
    /// Evaluations whose result was `pass` or `warning`.
    PassOrWarn,
}

impl IncludeResult {
    /// The value as written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            IncludeResult::All => "all",
            IncludeResult::Pass => "pass",
            IncludeResult::PassOrWarn => "pass_or_warn",
        }
    }

    /// Whether an earlier evaluation with this result counts. An evaluation without a result
    /// counts only for [`IncludeResult::All`].
    pub fn includes(self, result: Option<KeptnResult>) -> bool {
        match self {
            IncludeResult::All => true,
            IncludeResult::Pass => result == Some(KeptnResult::Pass),
            IncludeResult::PassOrWarn => {
                matches!(result, Some(KeptnResult::Pass | KeptnResult::Warning))
            }
        }
    }
}

/// The `comparison` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comparison {
    /// `compare_with`.
    pub compare_with: CompareWith,
    /// `include_result_with_score`.
    pub include_result_with_score: IncludeResult,
    /// `number_of_comparison_results` (defaulted).
    pub number_of_comparison_results: u32,
    /// `aggregate_function`.
    pub aggregate_function: AggregateFunction,
}

impl Default for Comparison {
    /// The comparison of an SLO file without `comparison` block.
    fn default() -> Self {
        Self {
            compare_with: CompareWith::SingleResult,
            include_result_with_score: IncludeResult::All,
            number_of_comparison_results: 1,
            aggregate_function: AggregateFunction::Avg,
        }
    }
}

impl Comparison {
    /// How many earlier evaluations to compare with: 1 for `single_result`,
    /// `number_of_comparison_results` for `several_results`, 3 otherwise.
    pub fn number_of_previous_results(&self) -> usize {
        match self.compare_with {
            CompareWith::SingleResult => 1,
            CompareWith::SeveralResults => self.number_of_comparison_results as usize,
            CompareWith::Unspecified => 3,
        }
    }
}

/// A list of criteria that must all hold (AND). An objective's sets are OR-ed.
#[derive(Debug, Clone, PartialEq)]
pub struct CriteriaSet {
    /// The criteria; never empty in a parsed file.
    pub criteria: Vec<Criterion>,
}

/// One objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// The indicator name (`sli`).
    pub sli: String,
    /// `displayName`, empty when not given.
    pub display_name: String,
    /// `key_sli`: a failure of this objective fails the evaluation.
    pub key_sli: bool,
    /// `pass` criteria sets; none makes the objective informational.
    pub pass: Vec<CriteriaSet>,
    /// `warning` criteria sets.
    pub warning: Vec<CriteriaSet>,
    /// `weight`, at least 1.
    pub weight: u32,
}

impl Objective {
    /// An objective without pass criteria only informs: status `info`, not scored.
    pub fn is_informational(&self) -> bool {
        self.pass.is_empty()
    }

    /// The display name, or the SLI name when it has none.
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.sli
        } else {
            &self.display_name
        }
    }
}

/// The `total_score` thresholds, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TotalScore {
    /// A score at or above this passes.
    pub pass: f64,
    /// A score at or above this (and below `pass`) is a warning.
    pub warning: Option<f64>,
}

/// A problem with an SLO file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SloError {
    /// The file is not YAML.
    #[error("slo file is not valid YAML: {message}")]
    Syntax {
        /// The parser's message (it names the position too).
        message: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
    },
    /// A value is missing or wrong.
    #[error("{path}: {problem}")]
    Invalid {
        /// Where: `objectives[2].pass[0].criteria[1]`, `total_score.pass`, or `slo file`.
        path: String,
        /// What is wrong and what was expected.
        problem: String,
    },
}

impl SloError {
    pub(crate) fn invalid(path: impl Into<String>, problem: impl Into<String>) -> Self {
        SloError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl Slo {
    /// Parses an SLO file and applies the defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, SloError> {
        parse::document(bytes)
    }

    /// The indicators to ask the SLI provider for: the objectives' SLI names, in order, each
    /// once.
    pub fn indicators(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(self.objectives.len());
        for o in &self.objectives {
            if !out.contains(&o.sli) {
                out.push(o.sli.clone());
            }
        }
        out
    }

    /// The `filter` as the `customFilters` of a `get-sli.triggered` event.
    pub fn custom_filters(&self) -> Vec<SliFilter> {
        self.filter
            .iter()
            .map(|(key, value)| SliFilter {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
}

impl std::str::FromStr for Slo {
    type Err = SloError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Slo::parse(s.as_bytes())
    }
}

impl fmt::Display for SloSpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        Slo::parse(yaml.as_bytes()).unwrap_err().to_string()
    }

    const MINIMAL: &str = "objectives:\n  - sli: a\n    pass:\n      - criteria: [\"<1\"]\ntotal_score:\n  pass: \"90%\"\n";

    #[test]
    fn defaults_without_comparison_block() {
        let slo = Slo::parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(slo.comparison, Comparison::default());
        assert_eq!(slo.comparison.number_of_previous_results(), 1);
        assert_eq!(slo.objectives[0].weight, 1);
        assert!(!slo.objectives[0].key_sli);
        assert_eq!(slo.objectives[0].display_name, "");
        assert_eq!(slo.total_score.warning, None);
        assert_eq!(slo.spec_version, None);
    }

    #[test]
    fn defaults_inside_a_comparison_block() {
        let yaml = format!("comparison:\n  aggregate_function: \"\"\n{MINIMAL}");
        let c = Slo::parse(yaml.as_bytes()).unwrap().comparison;
        assert_eq!(c.compare_with, CompareWith::Unspecified);
        assert_eq!(c.include_result_with_score, IncludeResult::All);
        assert_eq!(c.number_of_comparison_results, 3);
        assert_eq!(c.aggregate_function, AggregateFunction::Avg);
        assert_eq!(c.number_of_previous_results(), 3);
    }

    #[test]
    fn several_results_uses_the_number() {
        let yaml = format!(
            "comparison:\n  compare_with: several_results\n  number_of_comparison_results: 5\n  aggregate_function: p90\n  include_result_with_score: pass_or_warn\n{MINIMAL}"
        );
        let c = Slo::parse(yaml.as_bytes()).unwrap().comparison;
        assert_eq!(c.number_of_previous_results(), 5);
        assert_eq!(c.aggregate_function, AggregateFunction::P90);
        assert_eq!(c.include_result_with_score, IncludeResult::PassOrWarn);
    }

    #[test]
    fn spec_versions_of_real_files_are_accepted() {
        for (v, expected) in [
            ("\"0.1.1\"", SloSpecVersion::V0_1_1),
            ("'1.0'", SloSpecVersion::V1_0),
            ("1.0", SloSpecVersion::V1_0),
            ("0.1.0", SloSpecVersion::V0_1_0),
        ] {
            let yaml = format!("spec_version: {v}\n{MINIMAL}");
            assert_eq!(
                Slo::parse(yaml.as_bytes()).unwrap().spec_version,
                Some(expected)
            );
        }
        assert_eq!(
            err(&format!("spec_version: \"2.0\"\n{MINIMAL}")),
            "spec_version: \"2.0\" is not supported (expected \"0.1.0\", \"0.1.1\" or \"1.0\")"
        );
    }

    #[test]
    fn weight_zero_becomes_one_and_negative_is_rejected() {
        let yaml = MINIMAL.replace("    pass:", "    weight: 0\n    pass:");
        assert_eq!(Slo::parse(yaml.as_bytes()).unwrap().objectives[0].weight, 1);
        let yaml = MINIMAL.replace("    pass:", "    weight: -2\n    pass:");
        assert_eq!(
            err(&yaml),
            "objectives[0].weight: expected a whole number from 0 to 4294967295, found a number (-2)"
        );
    }

    #[test]
    fn null_objectives_are_skipped_and_filters_kept_in_order() {
        let yaml = "filter:\n  handler: \"ItemsController.addToCart\"\n  port: 8080\nobjectives:\n  -\n  - sli: a\ntotal_score: {pass: 1}";
        let slo = Slo::parse(yaml.as_bytes()).unwrap();
        assert_eq!(slo.objectives.len(), 1);
        assert!(slo.objectives[0].is_informational());
        assert_eq!(
            slo.filter,
            vec![
                ("handler".to_owned(), "ItemsController.addToCart".to_owned()),
                ("port".to_owned(), "8080".to_owned())
            ]
        );
    }

    #[test]
    fn indicators_are_unique_in_order() {
        let yaml = "objectives:\n  - sli: b\n  - sli: a\n  - sli: b\ntotal_score: {pass: 1}";
        let slo = Slo::parse(yaml.as_bytes()).unwrap();
        assert_eq!(slo.indicators(), vec!["b", "a"]);
    }
}
