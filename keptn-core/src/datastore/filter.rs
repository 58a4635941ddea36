//! The filter expression of `GET /event/type/{eventType}` (see [`EventFilter`]).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::StoreError;

/// The field a filter term compares. The common fields have their own variant, so that
/// backends map them to indexed columns; any other path is [`FilterField::Path`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterField {
    /// `data.project`.
    Project,
    /// `data.stage`.
    Stage,
    /// `data.service`.
    Service,
    /// `data.result`.
    Result,
    /// `shkeptncontext`.
    KeptnContext,
    /// `source`.
    Source,
    /// `id`.
    Id,
    /// `triggeredid`.
    TriggeredId,
    /// Any other path, as its segments (`["data", "labels", "buildId"]`).
    Path(Vec<String>),
}

impl FilterField {
    fn from_key(key: &str) -> Self {
        match key {
            "data.project" => FilterField::Project,
            "data.stage" => FilterField::Stage,
            "data.service" => FilterField::Service,
            "data.result" => FilterField::Result,
            "shkeptncontext" => FilterField::KeptnContext,
            "source" => FilterField::Source,
            "id" => FilterField::Id,
            "triggeredid" => FilterField::TriggeredId,
            other => FilterField::Path(other.split('.').map(str::to_owned).collect()),
        }
    }

    /// The key as written in a filter (`data.project`).
    pub fn key(&self) -> String {
        match self {
            FilterField::Project => "data.project".into(),
            FilterField::Stage => "data.stage".into(),
            FilterField::Service => "data.service".into(),
            FilterField::Result => "data.result".into(),
            FilterField::KeptnContext => "shkeptncontext".into(),
            FilterField::Source => "source".into(),
            FilterField::Id => "id".into(),
            FilterField::TriggeredId => "triggeredid".into(),
            FilterField::Path(segments) => segments.join("."),
        }
    }

    /// The path of the field in the event JSON, as segments.
    pub fn segments(&self) -> Vec<String> {
        match self {
            FilterField::Path(segments) => segments.clone(),
            other => other.key().split('.').map(str::to_owned).collect(),
        }
    }
}

/// One `key:value[,value...]` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTerm {
    /// The compared field.
    pub field: FilterField,
    /// The accepted values (at least one).
    pub values: Vec<String>,
}

impl FilterTerm {
    /// Whether `event` (the event JSON) has one of the values at this term's path.
    pub fn matches(&self, event: &Value) -> bool {
        let mut current = event;
        for segment in self.field.segments() {
            match current.get(segment.as_str()) {
                Some(v) => current = v,
                None => return false,
            }
        }
        current
            .as_str()
            .is_some_and(|s| self.values.iter().any(|v| v == s))
    }
}

/// The filter expression of `GET /event/type/{eventType}`:
/// `data.project:sockshop AND data.stage:staging AND data.result:pass,warning`.
///
/// Terms are `key:value` joined by `" AND "`; a comma in a value means "any of". A key is a
/// dot-separated path into the event (`data.labels.buildId`, `source`, `triggeredid`). The filter
/// must name `data.project` or `shkeptncontext` (with one value), as the original requires.
/// Values are compared as strings: a term matches an event when the field at its path is a JSON
/// string equal to one of the term's values.
///
/// Unlike the original, which skipped terms it could not read, every malformed term is an error
/// that names the term; values may contain `:` (a `source` URL, for instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    terms: Vec<FilterTerm>,
}

impl EventFilter {
    /// Parses a filter expression. Errors are [`InvalidQuery`](super::StoreErrorKind::InvalidQuery)
    /// and name the wrong term.
    pub fn parse(expression: &str) -> Result<Self, StoreError> {
        if expression.trim().is_empty() {
            return Err(StoreError::invalid_query(
                "filter is empty (expected key:value terms joined by \" AND \")",
            ));
        }
        let mut terms: Vec<FilterTerm> = Vec::new();
        for raw in expression.split(" AND ") {
            let raw = raw.trim();
            let term = parse_term(raw)?;
            if terms.iter().any(|t| t.field == term.field) {
                return Err(StoreError::invalid_query(format!(
                    "filter key {:?} appears more than once",
                    term.field.key()
                )));
            }
            terms.push(term);
        }
        for term in &terms {
            if matches!(term.field, FilterField::Project | FilterField::KeptnContext)
                && term.values.len() != 1
            {
                return Err(StoreError::invalid_query(format!(
                    "filter term {:?} must have a single value",
                    format!("{}:{}", term.field.key(), term.values.join(","))
                )));
            }
        }
        let filter = Self { terms };
        if filter.project().is_none() && filter.keptn_context().is_none() {
            return Err(StoreError::invalid_query(
                "filter must contain data.project or shkeptncontext",
            ));
        }
        Ok(filter)
    }

    /// The terms, in the order written.
    pub fn terms(&self) -> &[FilterTerm] {
        &self.terms
    }

    /// The value of the `data.project` term.
    pub fn project(&self) -> Option<&str> {
        self.single(&FilterField::Project)
    }

    /// The value of the `shkeptncontext` term.
    pub fn keptn_context(&self) -> Option<&str> {
        self.single(&FilterField::KeptnContext)
    }

    fn single(&self, field: &FilterField) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| &t.field == field)
            .and_then(|t| t.values.first())
            .map(String::as_str)
    }

    /// Whether every term matches `event` (the event JSON).
    pub fn matches(&self, event: &Value) -> bool {
        self.terms.iter().all(|t| t.matches(event))
    }
}

impl FromStr for EventFilter {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            write!(f, "{}:{}", term.field.key(), term.values.join(","))?;
        }
        Ok(())
    }
}

fn parse_term(raw: &str) -> Result<FilterTerm, StoreError> {
    let Some((key, value)) = raw.split_once(':') else {
        return Err(no_value(raw));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(StoreError::invalid_query(format!(
            "filter term {raw:?} has no key (expected key:value)"
        )));
    }
    let valid_key = key.split('.').all(|segment| {
        !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if !valid_key {
        return Err(StoreError::invalid_query(format!(
            "filter term {raw:?} has an invalid key {key:?} (expected dot-separated names of \
             letters, digits, '_' or '-')"
        )));
    }
    match key {
        "type" => {
            return Err(StoreError::invalid_query(format!(
                "filter term {raw:?} is not allowed: the event type is given by the query"
            )));
        }
        "time" => {
            return Err(StoreError::invalid_query(format!(
                "filter term {raw:?} is not allowed: use fromTime to filter by time"
            )));
        }
        _ => {}
    }
    if value.trim().is_empty() {
        return Err(no_value(raw));
    }
    let values: Vec<String> = value.split(',').map(|v| v.trim().to_owned()).collect();
    if values.iter().any(String::is_empty) {
        return Err(StoreError::invalid_query(format!(
            "filter term {raw:?} has an empty value in its list (expected comma-separated values)"
        )));
    }
    Ok(FilterTerm {
        field: FilterField::from_key(key),
        values,
    })
}

fn no_value(raw: &str) -> StoreError {
    StoreError::invalid_query(format!(
        "filter term {raw:?} has no value (expected key:value)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_lighthouse_filter() {
        let f = EventFilter::parse(
            "data.project:sockshop AND data.stage:staging AND data.service:carts AND data.result:pass,warning",
        )
        .unwrap();
        assert_eq!(f.project(), Some("sockshop"));
        assert_eq!(f.terms().len(), 4);
        assert_eq!(f.terms()[3].field, FilterField::Result);
        assert_eq!(f.terms()[3].values, vec!["pass", "warning"]);
        assert_eq!(
            f.to_string(),
            "data.project:sockshop AND data.stage:staging AND data.service:carts AND data.result:pass,warning"
        );
    }

    #[test]
    fn values_may_contain_colons_and_paths_are_free() {
        let f = EventFilter::parse(
            "shkeptncontext:c1 AND source:https://github.com/keptn/keptn/api AND data.labels.build-id:17",
        )
        .unwrap();
        assert_eq!(f.keptn_context(), Some("c1"));
        assert_eq!(
            f.terms()[1].values,
            vec!["https://github.com/keptn/keptn/api"]
        );
        assert_eq!(
            f.terms()[2].field,
            FilterField::Path(vec!["data".into(), "labels".into(), "build-id".into()])
        );
    }

    #[test]
    fn errors_name_the_wrong_term() {
        let cases = [
            (
                "data.project:sockshop AND data.stage",
                "filter term \"data.stage\" has no value (expected key:value)",
            ),
            (
                "data.project:sockshop AND data.stage:",
                "filter term \"data.stage:\" has no value (expected key:value)",
            ),
            (
                "data.project:sockshop AND :x",
                "filter term \":x\" has no key (expected key:value)",
            ),
            (
                "data.project:a AND data.result:pass,",
                "filter term \"data.result:pass,\" has an empty value in its list (expected comma-separated values)",
            ),
            (
                "data.project:a AND data.project:b",
                "filter key \"data.project\" appears more than once",
            ),
            (
                "data.project:a,b",
                "filter term \"data.project:a,b\" must have a single value",
            ),
            (
                "data.stage:dev",
                "filter must contain data.project or shkeptncontext",
            ),
            (
                "",
                "filter is empty (expected key:value terms joined by \" AND \")",
            ),
        ];
        for (input, message) in cases {
            let err = EventFilter::parse(input).unwrap_err();
            assert_eq!(err.to_string(), message, "input {input:?}");
        }
        let err = EventFilter::parse("data.project:a AND data..x:1").unwrap_err();
        assert!(err.to_string().contains("invalid key \"data..x\""), "{err}");
        let err = EventFilter::parse("data.project:a AND type:x").unwrap_err();
        assert!(
            err.to_string().contains("\"type:x\" is not allowed"),
            "{err}"
        );
    }

    #[test]
    fn terms_match_string_values_only() {
        let f =
            EventFilter::parse("data.project:p AND data.result:pass,warning AND data.n:5").unwrap();
        assert!(f.matches(&json!({"data": {"project": "p", "result": "warning", "n": "5"}})));
        assert!(!f.matches(&json!({"data": {"project": "p", "result": "fail", "n": "5"}})));
        assert!(!f.matches(&json!({"data": {"project": "p", "result": "pass", "n": 5}})));
        assert!(!f.matches(&json!({"data": {"project": "p", "result": "pass"}})));
    }
}
