//! The SLI file (`sli.yaml`) and what an SLI provider does with it before asking its backend:
//! placeholder substitution in queries and the `get-sli.triggered` request.
//!
//! An SLI file maps indicator names to provider queries:
//!
//! ```yaml
//! spec_version: '1.0'
//! indicators:
//!   response_time_p95: histogram_quantile(0.95, sum by(le) (rate(http_response_time_milliseconds_bucket{job="$SERVICE-$PROJECT-$STAGE-canary"}[$DURATION_SECONDS])))
//! ```
//!
//! Placeholders, as Keptn's Prometheus provider replaces them:
//!
//! | placeholder | value |
//! |---|---|
//! | `$PROJECT`, `$STAGE`, `$SERVICE` | the event's project, stage, service |
//! | `$DEPLOYMENT` | the deployment name of `get-sli.triggered` (`canary`, `primary`, `direct`) |
//! | `$DURATION_SECONDS` | the timeframe length in seconds, rounded up, with `s` (`300s`) |
//! | `$<key>` and `$<KEY>` | the value of the SLO `filter` (custom filter) `key`, quotes removed |
//! | `$LABEL.<key>` | the value of the event label `key` |
//!
//! The query is scanned once from left to right; at each `$` the longest placeholder that
//! matches is replaced and the replacement is not scanned again. Keptn replaced one placeholder
//! after the other over the whole string, so a short custom filter such as `p` could eat the
//! start of `$PROJECT`, and a value containing `$STAGE` was replaced again; neither happens
//! here. When two placeholders have the same name, a custom filter wins over the built-in one,
//! as in Keptn. A `$` that starts no known placeholder is kept.

use std::collections::BTreeMap;

use keptn_sdk::event::EventData;
use keptn_sdk::event::payload::{EvaluationTriggered, GetSliRequest, GetSliTriggered, SliFilter};
use serde_norway::Value;

use super::slo::Slo;
use super::timeframe::{Timeframe, parse_timestamp};

/// A parsed SLI file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SliFile {
    /// `spec_version`, empty when not given.
    pub spec_version: String,
    /// Indicator name to query.
    pub indicators: BTreeMap<String, String>,
}

/// A problem with an SLI file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SliFileError {
    /// The file is not YAML.
    #[error("sli file is not valid YAML: {message}")]
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
        /// Where: `indicators.throughput`, `indicators`, or `sli file`.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

impl SliFile {
    /// Parses an SLI file. `indicators` is required; each query must be text.
    pub fn parse(bytes: &[u8]) -> Result<Self, SliFileError> {
        let invalid = |path: &str, problem: String| SliFileError::Invalid {
            path: path.to_owned(),
            problem,
        };
        let value: Value = serde_norway::from_slice(bytes).map_err(|e| {
            let location = e.location();
            SliFileError::Syntax {
                message: e.to_string(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
            }
        })?;
        let Value::Mapping(root) = value else {
            return Err(invalid(
                "sli file",
                "expected a mapping with spec_version and indicators".to_owned(),
            ));
        };
        let spec_version = match root.get("spec_version") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(invalid("spec_version", "expected text".to_owned())),
        };
        let Some(Value::Mapping(map)) = root.get("indicators") else {
            return Err(invalid(
                "indicators",
                "missing; expected a mapping from indicator names to queries".to_owned(),
            ));
        };
        let mut indicators = BTreeMap::new();
        for (name, query) in map {
            let Value::String(name) = name else {
                return Err(invalid("indicators", "expected text keys".to_owned()));
            };
            let query = match query {
                Value::String(q) => q.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(invalid(
                        &format!("indicators.{name}"),
                        "expected a query text".to_owned(),
                    ));
                }
            };
            indicators.insert(name.clone(), query);
        }
        Ok(Self {
            spec_version,
            indicators,
        })
    }

    /// The query of an indicator.
    pub fn query(&self, indicator: &str) -> Option<&str> {
        self.indicators.get(indicator).map(String::as_str)
    }
}

/// Everything a query's placeholders can refer to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryContext {
    /// `$PROJECT`
    pub project: String,
    /// `$STAGE`
    pub stage: String,
    /// `$SERVICE`
    pub service: String,
    /// `$DEPLOYMENT`
    pub deployment: String,
    /// `$<key>` / `$<KEY>`
    pub custom_filters: Vec<SliFilter>,
    /// `$LABEL.<key>`
    pub labels: BTreeMap<String, String>,
    /// `$DURATION_SECONDS`, when a timeframe is known.
    pub timeframe: Option<Timeframe>,
}

/// A `get-sli.triggered` event that lacks what a provider needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SliRequestError {
    /// A start or end that is not a timestamp.
    #[error("get-sli.{field}: {value:?} is not a timestamp (expected RFC 3339)")]
    Timestamp {
        /// `start` or `end`.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// No `get-sli` object, or no start or end.
    #[error("get-sli.{field}: missing")]
    Missing {
        /// The missing field.
        field: &'static str,
    },
}

impl QueryContext {
    /// The context of a `get-sli.triggered` event (start and end are required).
    pub fn from_get_sli(event: &GetSliTriggered) -> Result<Self, SliRequestError> {
        let request = event
            .get_sli
            .as_ref()
            .ok_or(SliRequestError::Missing { field: "start" })?;
        let read = |field: &'static str, value: &Option<String>| {
            let value = value.as_deref().ok_or(SliRequestError::Missing { field })?;
            parse_timestamp(value).ok_or_else(|| SliRequestError::Timestamp {
                field,
                value: value.to_owned(),
            })
        };
        let timeframe = Timeframe {
            start: read("start", &request.start)?,
            end: read("end", &request.end)?,
        };
        Ok(Self {
            project: event.base.project.clone().unwrap_or_default(),
            stage: event.base.stage.clone().unwrap_or_default(),
            service: event.base.service.clone().unwrap_or_default(),
            deployment: event.deployment.clone().unwrap_or_default(),
            custom_filters: request.custom_filters.clone().unwrap_or_default(),
            labels: event.base.labels.clone().unwrap_or_default(),
            timeframe: Some(timeframe),
        })
    }

    /// Replaces the placeholders of `query`.
    pub fn substitute(&self, query: &str) -> String {
        substitute(query, self)
    }
}

/// Replaces the placeholders of `query` (see the module documentation).
pub fn substitute(query: &str, ctx: &QueryContext) -> String {
    if !query.contains('$') {
        return query.to_owned();
    }
    // Candidates in priority order; the longest match wins, then the earliest.
    let mut candidates: Vec<(String, String)> = Vec::new();
    for filter in &ctx.custom_filters {
        let value: String = filter
            .value
            .chars()
            .filter(|c| *c != '\'' && *c != '"')
            .collect();
        candidates.push((filter.key.clone(), value.clone()));
        candidates.push((filter.key.to_uppercase(), value));
    }
    candidates.push(("PROJECT".into(), ctx.project.clone()));
    candidates.push(("STAGE".into(), ctx.stage.clone()));
    candidates.push(("SERVICE".into(), ctx.service.clone()));
    candidates.push(("DEPLOYMENT".into(), ctx.deployment.clone()));
    if let Some(frame) = &ctx.timeframe {
        candidates.push((
            "DURATION_SECONDS".into(),
            format!("{}s", frame.duration_seconds()),
        ));
    }
    for (key, value) in &ctx.labels {
        candidates.push((format!("LABEL.{key}"), value.clone()));
    }
    candidates.retain(|(name, _)| !name.is_empty());

    let mut out = String::with_capacity(query.len() + 32);
    let mut rest = query;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let best = candidates
            .iter()
            .filter(|(name, _)| after.starts_with(name.as_str()))
            .fold(None::<&(String, String)>, |best, c| match best {
                Some(b) if b.0.len() >= c.0.len() => Some(b),
                _ => Some(c),
            });
        match best {
            Some((name, value)) => {
                out.push_str(value);
                rest = &after[name.len()..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `get-sli.triggered` data lighthouse sends for an evaluation: the SLO's indicators and
/// filters (none without SLO file), the provider, the timeframe, and as `deployment` the first
/// of `deployment.deploymentNames`.
pub fn get_sli_triggered(
    triggered: &EvaluationTriggered,
    slo: Option<&Slo>,
    sli_provider: &str,
    timeframe: &Timeframe,
) -> GetSliTriggered {
    GetSliTriggered {
        base: EventData {
            project: triggered.base.project.clone(),
            stage: triggered.base.stage.clone(),
            service: triggered.base.service.clone(),
            labels: triggered.base.labels.clone(),
            ..EventData::default()
        },
        get_sli: Some(GetSliRequest {
            sli_provider: Some(sli_provider.to_owned()),
            start: Some(timeframe.start_string()),
            end: Some(timeframe.end_string()),
            indicators: Some(slo.map(Slo::indicators).unwrap_or_default()),
            custom_filters: Some(slo.map(Slo::custom_filters).unwrap_or_default()),
        }),
        deployment: triggered
            .deployment
            .as_ref()
            .and_then(|d| d.deployment_names.as_ref())
            .and_then(|names| names.first().cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::timeframe::parse_timestamp;

    fn ctx() -> QueryContext {
        QueryContext {
            project: "sockshop".into(),
            stage: "staging".into(),
            service: "carts".into(),
            deployment: "canary".into(),
            custom_filters: vec![SliFilter {
                key: "handler".into(),
                value: "'ItemsController.addToCart'".into(),
            }],
            labels: [("buildId".to_owned(), "17".to_owned())].into(),
            timeframe: Some(Timeframe {
                start: parse_timestamp("2021-05-11T12:00:00Z").unwrap(),
                end: parse_timestamp("2021-05-11T12:05:00.2Z").unwrap(),
            }),
        }
    }

    #[test]
    fn builtin_placeholders() {
        assert_eq!(
            substitute(
                "job=\"$SERVICE-$PROJECT-$STAGE-$DEPLOYMENT\"[$DURATION_SECONDS]",
                &ctx()
            ),
            "job=\"carts-sockshop-staging-canary\"[301s]"
        );
    }

    #[test]
    fn custom_filters_and_labels() {
        assert_eq!(
            substitute(
                "handler=\"$handler\",h2=\"$HANDLER\",b=$LABEL.buildId",
                &ctx()
            ),
            "handler=\"ItemsController.addToCart\",h2=\"ItemsController.addToCart\",b=17"
        );
    }

    #[test]
    fn longest_match_wins_and_replacements_are_not_rescanned() {
        let mut c = ctx();
        c.custom_filters = vec![
            SliFilter {
                key: "p".into(),
                value: "X".into(),
            },
            SliFilter {
                key: "stage".into(),
                value: "from-filter".into(),
            },
            SliFilter {
                key: "q".into(),
                value: "$PROJECT".into(),
            },
        ];
        assert_eq!(
            substitute("$PROJECT $p $STAGE $q $UNKNOWN $", &c),
            "sockshop X from-filter $PROJECT $UNKNOWN $"
        );
    }

    #[test]
    fn sli_file_of_the_examples() {
        let file = SliFile::parse(
            b"spec_version: '1.0'\nindicators:\n  response_time_p95: histogram_quantile(0.95, x{job=\"$SERVICE\"}[$DURATION_SECONDS])\n",
        )
        .unwrap();
        assert_eq!(file.spec_version, "1.0");
        assert_eq!(
            ctx().substitute(file.query("response_time_p95").unwrap()),
            "histogram_quantile(0.95, x{job=\"carts\"}[301s])"
        );
        assert!(matches!(
            SliFile::parse(b"spec_version: '1.0'\n"),
            Err(SliFileError::Invalid { .. })
        ));
        assert!(matches!(
            SliFile::parse(b"indicators: [\n"),
            Err(SliFileError::Syntax { line: Some(_), .. })
        ));
    }
}
