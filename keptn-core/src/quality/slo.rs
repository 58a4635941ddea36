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
use serde_norway::{Mapping, Value};

use super::aggregate::AggregateFunction;
use super::criteria::Criterion;

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
    fn invalid(path: impl Into<String>, problem: impl Into<String>) -> Self {
        SloError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl Slo {
    /// Parses an SLO file and applies the defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, SloError> {
        let value: Value = serde_norway::from_slice(bytes).map_err(|e| {
            let location = e.location();
            SloError::Syntax {
                message: e.to_string(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
            }
        })?;
        let root = match untag(&value) {
            Value::Mapping(m) => m,
            Value::Null => return Err(SloError::invalid("slo file", "the file is empty")),
            other => {
                return Err(SloError::invalid(
                    "slo file",
                    format!(
                        "expected a mapping with objectives and total_score, found {}",
                        kind(other)
                    ),
                ));
            }
        };
        Ok(Slo {
            spec_version: parse_spec_version(root)?,
            filter: parse_filter(root)?,
            comparison: parse_comparison(root)?,
            objectives: parse_objectives(root)?,
            total_score: parse_total_score(root)?,
        })
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

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn kind(v: &Value) -> &'static str {
    match untag(v) {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The value of `key`, with null treated as absent.
fn field<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key).map(untag).filter(|v| !v.is_null())
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A scalar read as text (YAML `1.0` unquoted is a number).
fn scalar_text(v: &Value) -> Option<String> {
    match untag(v) {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_field(map: &Mapping, parent: &str, key: &str) -> Result<Option<String>, SloError> {
    match field(map, key) {
        None => Ok(None),
        Some(v) => scalar_text(v).map(Some).ok_or_else(|| {
            SloError::invalid(
                join(parent, key),
                format!("expected a text value, found {}", kind(v)),
            )
        }),
    }
}

fn bool_field(map: &Mapping, parent: &str, key: &str) -> Result<Option<bool>, SloError> {
    match field(map, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(SloError::invalid(
            join(parent, key),
            format!("expected true or false, found {}", describe(v)),
        )),
    }
}

fn u32_field(map: &Mapping, parent: &str, key: &str) -> Result<Option<u32>, SloError> {
    match field(map, key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= u64::from(u32::MAX)) => {
            Ok(n.as_u64().map(|v| v as u32))
        }
        Some(v) => Err(SloError::invalid(
            join(parent, key),
            format!(
                "expected a whole number from 0 to {}, found {}",
                u32::MAX,
                describe(v)
            ),
        )),
    }
}

/// `kind` plus the value for scalars, for error messages.
fn describe(v: &Value) -> String {
    match (untag(v), scalar_text(v)) {
        (Value::String(s), _) => format!("{s:?}"),
        (_, Some(text)) => format!("{} ({text})", kind(v)),
        _ => kind(v).to_owned(),
    }
}

fn mapping_field<'a>(
    map: &'a Mapping,
    parent: &str,
    key: &str,
) -> Result<Option<&'a Mapping>, SloError> {
    match field(map, key) {
        None => Ok(None),
        Some(Value::Mapping(m)) => Ok(Some(m)),
        Some(v) => Err(SloError::invalid(
            join(parent, key),
            format!("expected a mapping, found {}", kind(v)),
        )),
    }
}

fn list_field<'a>(map: &'a Mapping, parent: &str, key: &str) -> Result<&'a [Value], SloError> {
    match field(map, key) {
        None => Ok(&[]),
        Some(Value::Sequence(s)) => Ok(s),
        Some(v) => Err(SloError::invalid(
            join(parent, key),
            format!("expected a list, found {}", kind(v)),
        )),
    }
}

fn parse_spec_version(root: &Mapping) -> Result<Option<SloSpecVersion>, SloError> {
    let Some(text) = text_field(root, "", "spec_version")? else {
        return Ok(None);
    };
    match text.trim() {
        "0.1.0" => Ok(Some(SloSpecVersion::V0_1_0)),
        "0.1.1" => Ok(Some(SloSpecVersion::V0_1_1)),
        "1.0" => Ok(Some(SloSpecVersion::V1_0)),
        _ => Err(SloError::invalid(
            "spec_version",
            format!("{text:?} is not supported (expected \"0.1.0\", \"0.1.1\" or \"1.0\")"),
        )),
    }
}

fn parse_filter(root: &Mapping) -> Result<Vec<(String, String)>, SloError> {
    let Some(map) = mapping_field(root, "", "filter")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        let key = scalar_text(key).ok_or_else(|| {
            SloError::invalid("filter", format!("expected text keys, found {}", kind(key)))
        })?;
        let value = match untag(value) {
            Value::Null => String::new(),
            v => scalar_text(v).ok_or_else(|| {
                SloError::invalid(
                    format!("filter.{key}"),
                    format!("expected a text value, found {}", kind(v)),
                )
            })?,
        };
        out.push((key, value));
    }
    Ok(out)
}

fn parse_comparison(root: &Mapping) -> Result<Comparison, SloError> {
    let Some(map) = mapping_field(root, "", "comparison")? else {
        return Ok(Comparison::default());
    };
    let p = "comparison";
    let compare_with = match text_field(map, p, "compare_with")?
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => CompareWith::Unspecified,
        Some(s) if s.eq_ignore_ascii_case("single_result") => CompareWith::SingleResult,
        Some(s) if s.eq_ignore_ascii_case("several_results") => CompareWith::SeveralResults,
        Some(s) => {
            return Err(SloError::invalid(
                "comparison.compare_with",
                format!("{s:?} is not supported (expected single_result or several_results)"),
            ));
        }
    };
    let include = match text_field(map, p, "include_result_with_score")?
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => IncludeResult::All,
        Some(s) if s.eq_ignore_ascii_case("all") => IncludeResult::All,
        Some(s) if s.eq_ignore_ascii_case("pass") => IncludeResult::Pass,
        Some(s) if s.eq_ignore_ascii_case("pass_or_warn") => IncludeResult::PassOrWarn,
        Some(s) => {
            return Err(SloError::invalid(
                "comparison.include_result_with_score",
                format!("{s:?} is not supported (expected all, pass or pass_or_warn)"),
            ));
        }
    };
    let number = match u32_field(map, p, "number_of_comparison_results")? {
        None | Some(0) => 3,
        Some(n) => n,
    };
    let aggregate = match text_field(map, p, "aggregate_function")?.as_deref() {
        None => AggregateFunction::Avg,
        Some(s) if s.trim().is_empty() => AggregateFunction::Avg,
        Some(s) => s
            .parse()
            .map_err(|e: super::aggregate::UnknownAggregateFunction| {
                SloError::invalid("comparison.aggregate_function", e.to_string())
            })?,
    };
    Ok(Comparison {
        compare_with,
        include_result_with_score: include,
        number_of_comparison_results: number,
        aggregate_function: aggregate,
    })
}

fn parse_objectives(root: &Mapping) -> Result<Vec<Objective>, SloError> {
    let list = list_field(root, "", "objectives")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let path = format!("objectives[{i}]");
        let map = match untag(item) {
            Value::Null => continue,
            Value::Mapping(m) => m,
            other => {
                return Err(SloError::invalid(
                    path,
                    format!(
                        "expected a mapping with sli and pass, found {}",
                        kind(other)
                    ),
                ));
            }
        };
        let sli = text_field(map, &path, "sli")?.unwrap_or_default();
        if sli.trim().is_empty() {
            return Err(SloError::invalid(
                format!("{path}.sli"),
                "missing; expected the name of an indicator",
            ));
        }
        out.push(Objective {
            sli,
            display_name: text_field(map, &path, "displayName")?.unwrap_or_default(),
            key_sli: bool_field(map, &path, "key_sli")?.unwrap_or(false),
            pass: parse_criteria_sets(map, &path, "pass")?,
            warning: parse_criteria_sets(map, &path, "warning")?,
            weight: match u32_field(map, &path, "weight")? {
                None | Some(0) => 1,
                Some(w) => w,
            },
        });
    }
    Ok(out)
}

fn parse_criteria_sets(
    objective: &Mapping,
    parent: &str,
    key: &str,
) -> Result<Vec<CriteriaSet>, SloError> {
    let list = list_field(objective, parent, key)?;
    let mut sets = Vec::with_capacity(list.len());
    for (j, item) in list.iter().enumerate() {
        let path = format!("{parent}.{key}[{j}]");
        let Value::Mapping(map) = untag(item) else {
            return Err(SloError::invalid(
                path,
                format!(
                    "expected a mapping with a criteria list, found {}",
                    kind(item)
                ),
            ));
        };
        let texts = list_field(map, &path, "criteria")?;
        if texts.is_empty() {
            return Err(SloError::invalid(
                format!("{path}.criteria"),
                "missing or empty; expected a list of criteria such as [\"<600\"]",
            ));
        }
        let mut criteria = Vec::with_capacity(texts.len());
        for (k, text) in texts.iter().enumerate() {
            let cpath = format!("{path}.criteria[{k}]");
            let Value::String(text) = untag(text) else {
                return Err(SloError::invalid(
                    cpath,
                    format!(
                        "expected a criterion such as \"<600\", found {}",
                        describe(text)
                    ),
                ));
            };
            let criterion =
                Criterion::parse(text).map_err(|e| SloError::invalid(cpath, e.to_string()))?;
            criteria.push(criterion);
        }
        sets.push(CriteriaSet { criteria });
    }
    Ok(sets)
}

fn parse_total_score(root: &Mapping) -> Result<TotalScore, SloError> {
    let map = mapping_field(root, "", "total_score")?;
    let pass = map
        .map(|m| parse_percentage(m, "pass"))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            SloError::invalid(
                "total_score.pass",
                "missing; expected a percentage such as \"90%\"",
            )
        })?;
    let warning = map
        .map(|m| parse_percentage(m, "warning"))
        .transpose()?
        .flatten();
    Ok(TotalScore { pass, warning })
}

/// `"90%"`, `"90"` or `90`; an empty string counts as absent, as in Keptn.
fn parse_percentage(map: &Mapping, key: &str) -> Result<Option<f64>, SloError> {
    let path = format!("total_score.{key}");
    let Some(text) = text_field(map, "total_score", key)? else {
        return Ok(None);
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let number = trimmed.strip_suffix('%').unwrap_or(trimmed).trim();
    match number.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(Some(v)),
        _ => Err(SloError::invalid(
            path,
            format!(
                "{text:?} is not a percentage (expected a number from 0 to 100 with an optional %, e.g. \"90%\")"
            ),
        )),
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
    fn criterion_errors_name_the_path() {
        let yaml = "objectives:\n  - sli: a\n    pass:\n      - criteria: [\"<1\", \"<=+x%\"]\ntotal_score: {pass: 90}\n";
        assert!(
            err(yaml).starts_with(
                "objectives[0].pass[0].criteria[1]: \"<=+x%\" is not a criterion: expected"
            ),
            "{}",
            err(yaml)
        );
    }

    #[test]
    fn total_score_pass_is_required() {
        let yaml = "objectives:\n  - sli: a\n";
        assert_eq!(
            err(yaml),
            "total_score.pass: missing; expected a percentage such as \"90%\""
        );
        assert_eq!(
            err("total_score:\n  warning: 50%\n"),
            "total_score.pass: missing; expected a percentage such as \"90%\""
        );
    }

    #[test]
    fn total_score_with_and_without_percent() {
        for v in ["\"90%\"", "\"90\"", "90", "90.0", "\" 90 % \""] {
            let yaml = format!("total_score:\n  pass: {v}\n  warning: 75%\n");
            let ts = Slo::parse(yaml.as_bytes()).unwrap().total_score;
            assert_eq!(ts.pass, 90.0, "{v}");
            assert_eq!(ts.warning, Some(75.0));
        }
        assert!(err("total_score: {pass: \"ninety\"}").starts_with("total_score.pass: \"ninety\""));
        assert!(err("total_score: {pass: 120}").starts_with("total_score.pass: \"120\""));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = Slo::parse(b"objectives:\n  - sli: a\n   bad: [\n").unwrap_err();
        match e {
            SloError::Syntax { line, column, .. } => {
                assert!(line.is_some() && column.is_some());
            }
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn structural_errors() {
        assert_eq!(err(""), "slo file: the file is empty");
        assert_eq!(
            err("- a"),
            "slo file: expected a mapping with objectives and total_score, found a list"
        );
        assert_eq!(
            err("objectives: 3\ntotal_score: {pass: 1}"),
            "objectives: expected a list, found a number"
        );
        assert_eq!(
            err("objectives:\n  - displayName: x\ntotal_score: {pass: 1}"),
            "objectives[0].sli: missing; expected the name of an indicator"
        );
        assert_eq!(
            err("objectives:\n  - sli: a\n    pass:\n      - criteria: []\ntotal_score: {pass: 1}"),
            "objectives[0].pass[0].criteria: missing or empty; expected a list of criteria such as [\"<600\"]"
        );
        assert_eq!(
            err("objectives:\n  - sli: a\n    key_sli: \"yes\"\ntotal_score: {pass: 1}"),
            "objectives[0].key_sli: expected true or false, found \"yes\""
        );
        assert_eq!(
            err("comparison: {aggregate_function: median}\ntotal_score: {pass: 1}"),
            "comparison.aggregate_function: \"median\" is not an aggregate function (expected avg, p50, p90 or p95)"
        );
        assert_eq!(
            err("comparison: {compare_with: latest}\ntotal_score: {pass: 1}"),
            "comparison.compare_with: \"latest\" is not supported (expected single_result or several_results)"
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
