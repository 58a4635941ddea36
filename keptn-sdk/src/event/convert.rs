//! Conversion to and from [`cloudevents::Event`] (cloudevents-sdk).
//!
//! The conversion keeps every attribute, extension and the data, both ways:
//!
//! - CloudEvents extension values are strings, booleans or integers. An extension of a
//!   [`KeptnEvent`] holding any other JSON value (an object, an array, a float, `null`) travels as
//!   its JSON text, and its name is listed in the extension `keptnjsonextensions`, so that the way
//!   back restores the value. That name is reserved.
//! - `data` that is a JSON string under a non-JSON content type becomes `Data::String`; all other
//!   data is `Data::Json`. `null` data is no data.
//! - A missing `datacontenttype` stays missing.
//!
//! Limits of the CloudEvents model, not of this code: cloudevents-sdk knows CloudEvents 0.3 and
//! 1.0 only, so a 0.2 event (Keptn 0.6) becomes a 1.0 event; `Data::Binary` that holds JSON comes
//! back as `Data::Json`.

use std::collections::BTreeMap;

use cloudevents::event::{
    AttributesReader, AttributesWriter, Data, ExtensionValue, SpecVersion as CeSpecVersion,
};
use cloudevents::{Event, EventBuilder as _, EventBuilderV03, EventBuilderV10};
use serde_json::Value;

use super::{EventId, EventType, GitCommitId, KeptnContext, KeptnEvent, SpecVersion};

/// The extension that lists the extensions carried as JSON text.
pub const JSON_EXTENSIONS_ATTRIBUTE: &str = "keptnjsonextensions";

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
    /// The CloudEvent carries binary data that is neither JSON nor text.
    #[error("data of event {id} is binary and neither JSON nor UTF-8 text")]
    BinaryData {
        /// The event id.
        id: String,
    },
    /// An extension of the Keptn event has a name the conversion uses for something else.
    #[error("extension `{0}` has a reserved name")]
    ReservedExtension(String),
}

const KEPTN_EXTENSIONS: [&str; 4] = [
    "shkeptncontext",
    "triggeredid",
    "gitcommitid",
    "shkeptnspecversion",
];

const RESERVED: [&str; 10] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
    JSON_EXTENSIONS_ATTRIBUTE,
];

/// The CloudEvents value of an extension, and whether it is JSON text.
fn extension_value(value: &Value) -> (ExtensionValue, bool) {
    match value {
        Value::String(s) => (ExtensionValue::String(s.clone()), false),
        Value::Bool(b) => (ExtensionValue::Boolean(*b), false),
        Value::Number(n) if n.is_i64() => (ExtensionValue::Integer(n.as_i64().unwrap_or(0)), false),
        other => (ExtensionValue::String(other.to_string()), true),
    }
}

pub(crate) fn is_json_content_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

impl TryFrom<KeptnEvent> for Event {
    type Error = ConversionError;

    fn try_from(e: KeptnEvent) -> Result<Self, Self::Error> {
        if let Some(name) = e
            .extensions
            .keys()
            .find(|k| RESERVED.contains(&k.as_str()) || KEPTN_EXTENSIONS.contains(&k.as_str()))
        {
            return Err(ConversionError::ReservedExtension(name.clone()));
        }
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
        let mut json_extensions = Vec::new();
        let content_type = e.datacontenttype.clone();
        let data = match e.data {
            Value::Null => None,
            Value::String(s)
                if content_type
                    .as_deref()
                    .is_some_and(|ct| !is_json_content_type(ct)) =>
            {
                Some(Data::String(s))
            }
            other => Some(Data::Json(other)),
        };
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
                // The content type is set below, after the data (the builder ties them).
                if let Some(schema) = e.dataschema {
                    b = b.data_with_schema("application/json", schema, Value::Null);
                }
                for (name, value) in &keptn {
                    b = b.extension(name, value.as_str());
                }
                for (name, value) in &e.extensions {
                    let (value, is_json) = extension_value(value);
                    if is_json {
                        json_extensions.push(name.as_str());
                    }
                    b = b.extension(name, value);
                }
                if !json_extensions.is_empty() {
                    b = b.extension(JSON_EXTENSIONS_ATTRIBUTE, json_extensions.join(","));
                }
                b.build()?
            }};
        }
        let mut event = match e.specversion {
            SpecVersion::V03 => build!(EventBuilderV03::new()),
            SpecVersion::V02 | SpecVersion::V10 => build!(EventBuilderV10::new()),
        };
        match data {
            Some(data) => {
                event.set_data_unchecked(data);
            }
            None => {
                // take_data also takes the content type and schema: put the schema back.
                let (_, schema, _) = event.take_data();
                event.set_dataschema(schema);
            }
        }
        event.set_datacontenttype(content_type);
        Ok(event)
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
        let json_names: Vec<String> = match e.extension(JSON_EXTENSIONS_ATTRIBUTE) {
            Some(ExtensionValue::String(list)) => list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let mut extensions = BTreeMap::new();
        let mut keptn: [Option<String>; 4] = Default::default();
        for (name, value) in e.iter_extensions() {
            if name == JSON_EXTENSIONS_ATTRIBUTE {
                continue;
            }
            if let Some(i) = KEPTN_EXTENSIONS.iter().position(|k| *k == name) {
                keptn[i] = Some(value.to_string());
                continue;
            }
            let json = match value {
                ExtensionValue::String(s) if json_names.iter().any(|n| n == name) => {
                    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                }
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
            Some(Data::Binary(bytes)) => {
                let json = datacontenttype.as_deref().is_none_or(is_json_content_type);
                match (json, serde_json::from_slice(&bytes)) {
                    (true, Ok(value)) => value,
                    _ => match String::from_utf8(bytes) {
                        Ok(text) if !json => Value::String(text),
                        _ => return Err(ConversionError::BinaryData { id }),
                    },
                }
            }
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
    fn json_extensions_text_data_and_absent_content_type_survive() {
        let mut original = KeptnEvent::builder(EventType::task("test", Phase::Triggered))
            .source("s")
            .extension("nested", json!({"a": [1, 2.5, null]}))
            .extension("ratio", 0.25)
            .extension("nothing", Value::Null)
            .extension("text", "{\"looks\": \"like json\"}")
            .data_json(json!("plain text"))
            .build()
            .unwrap();
        original.datacontenttype = Some("text/plain".into());
        let ce: Event = original.clone().try_into().unwrap();
        assert!(matches!(ce.data(), Some(Data::String(_))));
        assert_eq!(KeptnEvent::try_from(ce).unwrap(), original);

        original.datacontenttype = None;
        original.data = json!({"x": 1});
        let ce: Event = original.clone().try_into().unwrap();
        assert_eq!(ce.datacontenttype(), None);
        assert_eq!(KeptnEvent::try_from(ce).unwrap(), original);
    }

    #[test]
    fn reserved_extension_names_are_refused() {
        let e = KeptnEvent::builder(EventType::task("test", Phase::Triggered))
            .source("s")
            .extension(JSON_EXTENSIONS_ATTRIBUTE, "x")
            .build()
            .unwrap();
        assert!(matches!(
            Event::try_from(e),
            Err(ConversionError::ReservedExtension(_))
        ));
    }

    #[test]
    fn cloudevents_round_trip_through_keptn_events() {
        let ce = EventBuilderV10::new()
            .id("1")
            .source("https://example.com/source")
            .ty("sh.keptn.event.test.finished")
            .time(chrono::Utc::now())
            .subject("carts")
            .data_with_schema(
                "application/json",
                "https://example.com/schema.json",
                json!({"result": "pass"}),
            )
            .extension("shkeptncontext", "ctx")
            .extension("triggeredid", "t")
            .extension("count", 7i64)
            .extension("flag", false)
            .build()
            .unwrap();
        let keptn = KeptnEvent::try_from(ce.clone()).unwrap();
        assert_eq!(keptn.subject.as_deref(), Some("carts"));
        assert_eq!(Event::try_from(keptn).unwrap(), ce);
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
