//! Reading the YAML of an SLO file into the model, with defaults and errors by path.

use serde_norway::{Mapping, Value};

use super::{
    CompareWith, Comparison, CriteriaSet, IncludeResult, Objective, Slo, SloError, SloSpecVersion,
    TotalScore,
};
use crate::quality::aggregate::{AggregateFunction, UnknownAggregateFunction};
use crate::quality::criteria::Criterion;

pub(super) fn document(bytes: &[u8]) -> Result<Slo, SloError> {
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
        Some(s) => s.parse().map_err(|e: UnknownAggregateFunction| {
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
}
