//! Conversion to and from [`cloudevents::Event`] (cloudevents-sdk).
//!
//! The conversion keeps every attribute, extension and the data. Two limits come from the
//! CloudEvents model, not from this code: cloudevents-sdk knows CloudEvents 0.3 and 1.0 only, so
//! a 0.2 event becomes a 1.0 event; and extension values are strings, booleans or integers, so an
//! extension holding any other JSON value travels as its JSON text.

use cloudevents::event::{AttributesReader, Data, ExtensionValue, SpecVersion as CeSpecVersion};
use cloudevents::{Event, EventBuilder as _, EventBuilderV03, EventBuilderV10};
use serde_json::Value;

use super::{EventId, EventType, GitCommitId, KeptnContext, KeptnEvent, SpecVersion};

/// Why an event could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// cloudevents-sdk refused the attributes.
    #[error("cloudevents rejected the event: {0}")]
    Builder(#[from] cloudevents::event::EventBuilderError),
    /// A Keptn attribute is missing on the CloudEvent.
    #[error("missing required attribute `{0}`")]
    Missing(&'static str),
    /// The CloudEvent carries binary data that is not JSON.
    #[error("data of event {id} is binary and not JSON")]
    BinaryData {
        /// The event id.
        id: String,
    },
}

const KEPTN_EXTENSIONS: [&str; 4] = [
    "shkeptncontext",
    "triggeredid",
    "gitcommitid",
    "shkeptnspecversion",
];

fn extension_value(value: &Value) -> ExtensionValue {
    match value {
        Value::String(s) => ExtensionValue::String(s.clone()),
        Value::Bool(b) => ExtensionValue::Boolean(*b),
        Value::Number(n) if n.is_i64() => ExtensionValue::Integer(n.as_i64().unwrap_or_default()),
        other => ExtensionValue::String(other.to_string()),
    }
}

impl TryFrom<KeptnEvent> for Event {
    type Error = ConversionError;

    fn try_from(e: KeptnEvent) -> Result<Self, Self::Error> {
        let content_type = e
            .datacontenttype
            .clone()
            .unwrap_or_else(|| "application/json".to_owned());
        let mut keptn: Vec<(&str, String)> =
            vec![("shkeptncontext", e.shkeptncontext.into_inner())];
        if let Some(t) = e.triggeredid {
            keptn.push(("triggeredid", t.into_inner()));
        }
        if let Some(g) = e.gitcommitid {
            keptn.push(("gitcommitid", g.into_inner()));
        }
        if let Some(v) = e.shkeptnspecversion {
            keptn.push(("shkeptnspecversion", v));
        }
        macro_rules! build {
            ($builder:expr) => {{
                let mut b = $builder
                    .id(e.id.into_inner())
                    .source(e.source)
                    .ty(e.event_type.to_string())
                    .time(e.time);
                if let Some(subject) = e.subject {
                    b = b.subject(subject);
                }
                b = match e.dataschema {
                    Some(schema) => b.data_with_schema(content_type, schema, e.data),
                    None => b.data(content_type, e.data),
                };
                for (name, value) in &keptn {
                    b = b.extension(name, value.as_str());
                }
                for (name, value) in &e.extensions {
                    b = b.extension(name, extension_value(value));
                }
                b.build()?
            }};
        }
        Ok(match e.specversion {
            SpecVersion::V03 => build!(EventBuilderV03::new()),
            SpecVersion::V02 | SpecVersion::V10 => build!(EventBuilderV10::new()),
        })
    }
}

impl TryFrom<Event> for KeptnEvent {
    type Error = ConversionError;

    fn try_from(mut e: Event) -> Result<Self, Self::Error> {
        let specversion = match e.specversion() {
            CeSpecVersion::V03 => SpecVersion::V03,
            CeSpecVersion::V10 => SpecVersion::V10,
        };
        let id = e.id().to_owned();
        let source = e.source().clone();
        let event_type = EventType::parse(e.ty());
        let time = *e.time().ok_or(ConversionError::Missing("time"))?;
        let subject = e.subject().map(str::to_owned);
        let mut extensions = std::collections::BTreeMap::new();
        let mut keptn: [Option<String>; 4] = Default::default();
        for (name, value) in e.iter_extensions() {
            if let Some(i) = KEPTN_EXTENSIONS.iter().position(|k| *k == name) {
                keptn[i] = Some(value.to_string());
                continue;
            }
            let json = match value {
                ExtensionValue::String(s) => Value::String(s.clone()),
                ExtensionValue::Boolean(b) => Value::Bool(*b),
                ExtensionValue::Integer(i) => Value::from(*i),
            };
            extensions.insert(name.to_owned(), json);
        }
        let [context, triggeredid, gitcommitid, shkeptnspecversion] = keptn;
        let (datacontenttype, dataschema, data) = e.take_data();
        let data = match data {
            None => Value::Null,
            Some(Data::Json(v)) => v,
            Some(Data::String(s)) => Value::String(s),
            Some(Data::Binary(bytes)) => serde_json::from_slice(&bytes)
                .map_err(|_| ConversionError::BinaryData { id: id.clone() })?,
        };
        Ok(KeptnEvent {
            specversion,
            id: EventId::new(id),
            source,
            event_type,
            time,
            datacontenttype,
            dataschema: dataschema.map(|u| u.to_string()),
            subject,
            shkeptncontext: KeptnContext::new(
                context.ok_or(ConversionError::Missing("shkeptncontext"))?,
            ),
            triggeredid: triggeredid.map(EventId::new),
            gitcommitid: gitcommitid.map(GitCommitId::new),
            shkeptnspecversion,
            extensions,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Phase;
    use serde_json::json;

    #[test]
    fn round_trip_through_cloudevents_keeps_everything() {
        let original = KeptnEvent::builder(EventType::task("deployment", Phase::Finished))
            .source("helm-service")
            .triggered_id("t-1")
            .git_commit_id("c0ffee")
            .extension("custom", "x")
            .extension("count", 3)
            .extension("flag", true)
            .data_json(json!({"project": "p", "deployment": {"deploymentNames": ["direct"]}}))
            .build()
            .unwrap();
        let ce: Event = original.clone().try_into().unwrap();
        assert_eq!(ce.ty(), "sh.keptn.event.deployment.finished");
        let back: KeptnEvent = ce.try_into().unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn missing_context_is_reported() {
        let ce = EventBuilderV10::new()
            .id("1")
            .source("x")
            .ty("sh.keptn.event.test.triggered")
            .time(chrono::Utc::now())
            .build()
            .unwrap();
        let err = KeptnEvent::try_from(ce).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required attribute `shkeptncontext`"
        );
    }
}
