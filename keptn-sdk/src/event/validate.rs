//! Validation of events against the Keptn spec 0.2.x.

use serde_json::Value;

use super::data::{KeptnResult, Status};
use super::{EventType, KeptnEvent, Phase};

/// An event that breaks the spec: names the attribute or field, the value and the expectation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The attribute (`source`) or data field (`data.result`).
    pub field: String,
    /// What is wrong, including the offending value.
    pub message: String,
}

impl ValidationError {
    /// A validation error for a field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl KeptnEvent {
    /// Checks the event against the spec:
    ///
    /// - `id`, `source` and `shkeptncontext` are not empty;
    /// - `type` is a Keptn task or sequence type, or one of Keptn's other known types;
    /// - every event except a `.triggered` one carries a `triggeredid`;
    /// - `data` is an object or a string;
    /// - `data.status` and `data.result`, when present, are within their enums.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.id.as_str().is_empty() {
            return Err(ValidationError::new("id", "must not be empty"));
        }
        if self.source.is_empty() {
            return Err(ValidationError::new("source", "must not be empty"));
        }
        if self.shkeptncontext.as_str().is_empty() {
            return Err(ValidationError::new("shkeptncontext", "must not be empty"));
        }
        if let EventType::Other(raw) = &self.event_type {
            EventType::parse_strict(raw)
                .map_err(|e| ValidationError::new("type", e.to_string()))?;
        }
        if let Some(phase) = self.event_type.phase() {
            if phase != Phase::Triggered && self.triggeredid.is_none() {
                return Err(ValidationError::new(
                    "triggeredid",
                    format!(
                        "missing: a {} event must carry the id of the event it answers",
                        phase
                    ),
                ));
            }
        }
        match &self.data {
            Value::Object(_) | Value::String(_) | Value::Null => {}
            other => {
                return Err(ValidationError::new(
                    "data",
                    format!("expected an object, found {}", json_kind(other)),
                ));
            }
        }
        validate_enum_field(
            &self.data,
            "status",
            |s| s.parse::<Status>().is_ok(),
            "succeeded, errored, unknown or aborted",
        )?;
        validate_enum_field(
            &self.data,
            "result",
            |s| s.parse::<KeptnResult>().is_ok(),
            "pass, warning or fail",
        )?;
        Ok(())
    }
}

fn validate_enum_field(
    data: &Value,
    key: &str,
    valid: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<(), ValidationError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() || valid(s) => Ok(()),
        Some(Value::String(s)) => Err(ValidationError::new(
            format!("data.{key}"),
            format!("{s:?} is not one of {expected}"),
        )),
        Some(other) => Err(ValidationError::new(
            format!("data.{key}"),
            format!("expected a string ({expected}), found {}", json_kind(other)),
        )),
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;
    use serde_json::json;

    fn finished() -> KeptnEvent {
        KeptnEvent::builder(EventType::task("test", Phase::Finished))
            .source("svc")
            .triggered_id("t1")
            .data_json(json!({"result": "pass", "status": "succeeded"}))
            .build()
            .unwrap()
    }

    #[test]
    fn responses_need_a_triggered_id() {
        let mut e = finished();
        e.triggeredid = None;
        let err = e.validate().unwrap_err();
        assert_eq!(err.field, "triggeredid");
    }

    #[test]
    fn result_and_status_must_be_in_their_enums() {
        let mut e = finished();
        e.data["result"] = json!("great");
        let err = e.validate().unwrap_err();
        assert_eq!(err.field, "data.result");
        assert!(err.message.contains("\"great\""), "{err}");

        let mut e = finished();
        e.data["status"] = json!(3);
        let err = e.validate().unwrap_err();
        assert_eq!(err.field, "data.status");
        assert!(err.message.contains("a number"), "{err}");
    }

    #[test]
    fn malformed_types_and_empty_attributes_are_rejected() {
        let mut e = finished();
        e.event_type = EventType::parse("sh.keptn.event.test.done");
        assert_eq!(e.validate().unwrap_err().field, "type");

        let mut e = finished();
        e.id = EventId::new("");
        assert_eq!(e.validate().unwrap_err().field, "id");
    }

    #[test]
    fn data_must_be_an_object_or_a_string() {
        let mut e = finished();
        e.data = json!([1]);
        assert_eq!(e.validate().unwrap_err().field, "data");
    }
}
