//! The offline evaluation behind `keptn evaluate --slo slo.yaml --sli values.json
//! [--previous previous.json]`: the same scoring as the lighthouse, with no server, for any
//! CI pipeline.
//!
//! Inputs:
//!
//! - the SLO file, as in a Keptn project;
//! - the measured values: either the data of a `get-sli.finished` event
//!   (`{"get-sli": {"indicatorValues": [...]}, "project": ..., "result": ...}`, whose status,
//!   result, scope and timeframe are used too) or just `{"indicatorValues": [{"metric":
//!   "response_time_p95", "value": 512.3, "success": true}]}`; every value needs `metric` and
//!   `success`, and `value` when `success` is true;
//! - optionally earlier evaluations: a JSON array, newest first, of `evaluation.finished` data
//!   objects, or of whole `evaluation.finished` events (their ids are then reported as
//!   `comparedEvents`). The SLO's `comparison` picks from them exactly as the lighthouse picks
//!   from the datastore (`include_result_with_score`, number of results).
//!
//! Output: the `evaluation.finished` data object ([`OfflineReport::to_json`]).
//!
//! Exit codes ([`OfflineReport::exit_code`], [`OfflineError::exit_code`]):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | result `pass` or `warning` |
//! | 2 | result `fail` |
//! | 3 | bad input: a file that cannot be read or is not valid; the message names the file and the problem |
//!
//! (1 stays free for failures outside the evaluation, such as an output that cannot be
//! written.)

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use keptn_sdk::event::payload::{EvaluationFinished, ObjectiveStatus, SliResult};
use keptn_sdk::event::{EventData, KeptnResult, Status};
use serde_json::{Map, Value};

use super::compare::{PreviousEvaluation, select_previous};
use super::evaluate::{SliReport, evaluate};
use super::outcome::{EvaluationOutcome, FinishedContext};
use super::slo::{Slo, SloError};

/// Exit code for `pass` and `warning`.
pub const EXIT_PASS: i32 = 0;
/// Exit code for `fail`.
pub const EXIT_FAIL: i32 = 2;
/// Exit code for bad input.
pub const EXIT_BAD_INPUT: i32 = 3;

/// The finished type accepted in `previous.json` envelopes.
const EVALUATION_FINISHED: &str = "sh.keptn.event.evaluation.finished";

/// The result of an offline evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineReport {
    /// The outcome.
    pub outcome: EvaluationOutcome,
    /// The `evaluation.finished` data.
    pub finished: EvaluationFinished,
}

/// Bad input to the offline evaluation. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// A file could not be read.
    #[error("{path}: cannot read the file: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The SLO file is not valid.
    #[error("{path}: {error}")]
    Slo {
        /// The file.
        path: String,
        /// What is wrong.
        error: SloError,
    },
    /// The values file is not valid.
    #[error("{path}: {message}")]
    Values {
        /// The file.
        path: String,
        /// What is wrong, with the JSON path.
        message: String,
    },
    /// The earlier evaluations file is not valid.
    #[error("{path}: {message}")]
    Previous {
        /// The file.
        path: String,
        /// What is wrong, with the index of the entry.
        message: String,
    },
}

impl OfflineError {
    /// Always [`EXIT_BAD_INPUT`].
    pub fn exit_code(&self) -> i32 {
        EXIT_BAD_INPUT
    }
}

/// One input: a name for messages and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct OfflineInput<'a> {
    /// The name used in error messages (usually the path as given).
    pub name: &'a str,
    /// The content.
    pub bytes: &'a [u8],
}

/// Reads the three files and evaluates.
pub fn evaluate_files(
    slo: &Path,
    sli: &Path,
    previous: Option<&Path>,
) -> Result<OfflineReport, OfflineError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|error| OfflineError::Read {
            path: path.display().to_string(),
            error,
        })
    };
    let (slo_name, sli_name) = (slo.display().to_string(), sli.display().to_string());
    let slo_bytes = read(slo)?;
    let sli_bytes = read(sli)?;
    let previous = previous
        .map(|p| read(p).map(|bytes| (p.display().to_string(), bytes)))
        .transpose()?;
    evaluate_bytes(
        OfflineInput {
            name: &slo_name,
            bytes: &slo_bytes,
        },
        OfflineInput {
            name: &sli_name,
            bytes: &sli_bytes,
        },
        previous
            .as_ref()
            .map(|(name, bytes)| OfflineInput { name, bytes }),
    )
}

/// Evaluates inputs already in memory.
pub fn evaluate_bytes(
    slo: OfflineInput<'_>,
    values: OfflineInput<'_>,
    previous: Option<OfflineInput<'_>>,
) -> Result<OfflineReport, OfflineError> {
    let parsed_slo = Slo::parse(slo.bytes).map_err(|error| OfflineError::Slo {
        path: slo.name.to_owned(),
        error,
    })?;
    let (report, mut ctx) = read_values(values)?;
    let candidates = match previous {
        Some(input) => read_previous(input)?,
        None => Vec::new(),
    };
    let selected = select_previous(&parsed_slo.comparison, candidates, &HashSet::new());
    let outcome = evaluate(&parsed_slo, &report, &selected);
    ctx.slo_file = Some(slo.bytes.to_vec());
    let finished = outcome.finished(&ctx);
    Ok(OfflineReport { outcome, finished })
}

impl OfflineReport {
    /// [`EXIT_PASS`] for pass and warning, [`EXIT_FAIL`] for fail.
    pub fn exit_code(&self) -> i32 {
        if self.outcome.result.is_success() {
            EXIT_PASS
        } else {
            EXIT_FAIL
        }
    }

    /// The `evaluation.finished` data object as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.finished).unwrap_or(Value::Null)
    }

    /// A short human-readable summary: result, score, message and one line per objective.
    pub fn render_text(&self) -> String {
        let o = &self.outcome;
        let mut out = format!("Result: {} (score {:.2})\n", o.result, o.score);
        if o.status != Status::Succeeded {
            let _ = writeln!(out, "Status: {}", o.status);
        }
        if !o.message.is_empty() {
            let _ = writeln!(out, "Message: {}", o.message);
        }
        for r in &o.indicator_results {
            let name = if r.display_name.is_empty() {
                &r.value.metric
            } else {
                &r.display_name
            };
            let status = match r.status {
                ObjectiveStatus::Pass => "pass",
                ObjectiveStatus::Warning => "warning",
                ObjectiveStatus::Fail => "fail",
                ObjectiveStatus::Info => "info",
            };
            let value = if r.value.success {
                r.value.value.to_string()
            } else {
                r.value
                    .message
                    .clone()
                    .unwrap_or_else(|| "no value".to_owned())
            };
            let violated: Vec<&str> = r
                .pass_targets
                .iter()
                .chain(&r.warning_targets)
                .filter(|t| t.violated)
                .map(|t| t.criteria.as_str())
                .collect();
            let _ = write!(out, "  {status:<7} {name}: {value} (score {})", r.score);
            if !violated.is_empty() {
                let _ = write!(out, ", violated: {}", violated.join(" "));
            }
            out.push('\n');
        }
        out
    }
}

fn read_values(input: OfflineInput<'_>) -> Result<(SliReport, FinishedContext), OfflineError> {
    let fail = |message: String| OfflineError::Values {
        path: input.name.to_owned(),
        message,
    };
    let root: Value =
        serde_json::from_slice(input.bytes).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    let Value::Object(root) = root else {
        return Err(fail(format!(
            "expected an object, found {}",
            json_kind(&root)
        )));
    };
    let (get_sli, prefix) = match root.get("get-sli") {
        Some(Value::Object(g)) => (g, "get-sli."),
        Some(other) => {
            return Err(fail(format!(
                "get-sli: expected an object, found {}",
                json_kind(other)
            )));
        }
        None if root.contains_key("indicatorValues") => (&root, ""),
        None => {
            return Err(fail(
                "expected {\"get-sli\": {\"indicatorValues\": [...]}} or {\"indicatorValues\": [...]}"
                    .to_owned(),
            ));
        }
    };
    let base: EventData = if prefix.is_empty() {
        EventData::default()
    } else {
        serde_json::from_value(Value::Object(root.clone())).map_err(|e| fail(e.to_string()))?
    };
    let list = match get_sli.get("indicatorValues") {
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(fail(format!(
                "{prefix}indicatorValues: expected a list, found {}",
                json_kind(other)
            )));
        }
        None => return Err(fail(format!("{prefix}indicatorValues: missing"))),
    };
    let mut values = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let path = format!("{prefix}indicatorValues[{i}]");
        values.push(read_value(item, &path).map_err(fail)?);
    }
    let timestamp = |key: &str| get_sli.get(key).and_then(Value::as_str).map(str::to_owned);
    let report = SliReport {
        status: base.status.unwrap_or(Status::Succeeded),
        result: base.result.unwrap_or(KeptnResult::Pass),
        message: base.message.clone().unwrap_or_default(),
        indicator_values: values,
    };
    let ctx = FinishedContext {
        scope: EventData {
            project: base.project,
            stage: base.stage,
            service: base.service,
            labels: base.labels,
            ..EventData::default()
        },
        time_start: timestamp("start"),
        time_end: timestamp("end"),
        slo_file: None,
        git_commit: None,
    };
    Ok((report, ctx))
}

fn read_value(item: &Value, path: &str) -> Result<SliResult, String> {
    let Value::Object(map) = item else {
        return Err(format!(
            "{path}: expected an object, found {}",
            json_kind(item)
        ));
    };
    let metric = match map.get("metric") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(format!(
                "{path}.metric: missing; expected the indicator name"
            ));
        }
    };
    let success = match map.get("success") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(format!("{path}.success: missing; expected true or false")),
    };
    let value = match map.get("value") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        None | Some(Value::Null) if !success => 0.0,
        None | Some(Value::Null) => {
            return Err(format!(
                "{path}.value: missing; expected a number when success is true"
            ));
        }
        Some(other) => {
            return Err(format!(
                "{path}.value: expected a number, found {}",
                json_kind(other)
            ));
        }
    };
    let message = optional_string(map, "message", path)?;
    Ok(SliResult {
        metric,
        value,
        compared_value: None,
        success,
        message,
    })
}

fn optional_string(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "{path}.{key}: expected text, found {}",
            json_kind(other)
        )),
    }
}

fn read_previous(input: OfflineInput<'_>) -> Result<Vec<PreviousEvaluation>, OfflineError> {
    let fail = |message: String| OfflineError::Previous {
        path: input.name.to_owned(),
        message,
    };
    let root: Value =
        serde_json::from_slice(input.bytes).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = root else {
        return Err(fail(format!(
            "expected a list of evaluation.finished data objects, newest first, found {}",
            json_kind(&root)
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut map) = item else {
            return Err(fail(format!(
                "[{i}]: expected an object, found {}",
                json_kind(&item)
            )));
        };
        let (id, data) = match map.remove("data") {
            Some(Value::Object(data)) => {
                if let Some(t) = map.get("type").and_then(Value::as_str) {
                    if t != EVALUATION_FINISHED {
                        return Err(fail(format!(
                            "[{i}]: is a {t} event, expected {EVALUATION_FINISHED}"
                        )));
                    }
                }
                let id = map.get("id").and_then(Value::as_str).map(str::to_owned);
                (id, Value::Object(data))
            }
            Some(other) => {
                map.insert("data".to_owned(), other);
                (None, Value::Object(map))
            }
            None => (None, Value::Object(map)),
        };
        let data: EvaluationFinished =
            serde_json::from_value(data).map_err(|e| fail(format!("[{i}]: {e}")))?;
        out.push(PreviousEvaluation::from_finished(id, &data));
    }
    Ok(out)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
