//! Structured-mode JSON for [`KeptnEvent`] and the lenient [`EventDraft`].
//!
//! Deserialization walks the JSON object once: known attributes go to their fields, every other
//! key is kept in `extensions`, `data` is kept as JSON. Required attributes are checked after the
//! walk so that the error names the attribute.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{EventId, EventType, GitCommitId, KeptnContext, KeptnEvent, SpecVersion};

/// An event as it arrives, before its required attributes are checked: every attribute is
/// optional. The API reads requests into a draft, fills in `id`, `time` and the Keptn context,
/// then turns it into a [`KeptnEvent`] with [`EventDraft::into_event`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventDraft {
    /// `specversion` as given.
    pub specversion: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `type`.
    pub event_type: Option<String>,
    /// `time` as given.
    pub time: Option<String>,
    /// `datacontenttype` (or `contenttype`).
    pub datacontenttype: Option<String>,
    /// `dataschema` (or `schemaurl`).
    pub dataschema: Option<String>,
    /// `subject`.
    pub subject: Option<String>,
    /// `shkeptncontext`.
    pub shkeptncontext: Option<String>,
    /// `triggeredid`.
    pub triggeredid: Option<String>,
    /// `gitcommitid`.
    pub gitcommitid: Option<String>,
    /// `shkeptnspecversion`.
    pub shkeptnspecversion: Option<String>,
    /// Every other attribute.
    pub extensions: BTreeMap<String, Value>,
    /// `data` (`None` when absent).
    pub data: Option<Value>,
}

/// Why bytes could not be read as a Keptn event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not a JSON object of the expected shape.
    #[error("invalid event JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A required attribute is missing or empty.
    #[error("missing required attribute `{0}`")]
    Missing(&'static str),
    /// An attribute has a value of the wrong form.
    #[error("attribute `{attribute}`: {value:?} {expected}")]
    Invalid {
        /// The attribute.
        attribute: &'static str,
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

impl DecodeError {
    pub(crate) fn from_json(err: serde_json::Error) -> Self {
        // Attribute errors raised inside the visitor travel as custom serde errors; recover them
        // so callers can match on the kind.
        let text = err.to_string();
        if let Some(rest) = text.strip_prefix("missing required attribute `") {
            if let Some(name) = rest.split('`').next() {
                if let Some(name) = REQUIRED.iter().find(|n| **n == name) {
                    return DecodeError::Missing(name);
                }
            }
        }
        DecodeError::Json(err)
    }
}

const REQUIRED: [&str; 6] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "shkeptncontext",
];

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

impl EventDraft {
    /// Reads a draft from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(DecodeError::Json)
    }

    /// Checks the required attributes and builds the event.
    pub fn into_event(self) -> Result<KeptnEvent, DecodeError> {
        let specversion_raw =
            non_empty(self.specversion).ok_or(DecodeError::Missing("specversion"))?;
        let specversion =
            SpecVersion::parse(&specversion_raw).ok_or_else(|| DecodeError::Invalid {
                attribute: "specversion",
                value: specversion_raw.clone(),
                expected: "is not a supported CloudEvents version (expected 1.0, 0.3 or 0.2)",
            })?;
        let id = non_empty(self.id).ok_or(DecodeError::Missing("id"))?;
        let source = non_empty(self.source).ok_or(DecodeError::Missing("source"))?;
        let ty = non_empty(self.event_type).ok_or(DecodeError::Missing("type"))?;
        let time_raw = non_empty(self.time).ok_or(DecodeError::Missing("time"))?;
        let time = parse_time(&time_raw).ok_or(DecodeError::Invalid {
            attribute: "time",
            value: time_raw,
            expected: "is not an RFC 3339 timestamp",
        })?;
        let shkeptncontext =
            non_empty(self.shkeptncontext).ok_or(DecodeError::Missing("shkeptncontext"))?;
        Ok(KeptnEvent {
            specversion,
            id: EventId::new(id),
            source,
            event_type: EventType::parse(&ty),
            time,
            datacontenttype: self.datacontenttype,
            dataschema: self.dataschema,
            subject: self.subject,
            shkeptncontext: KeptnContext::new(shkeptncontext),
            triggeredid: non_empty(self.triggeredid).map(EventId::new),
            gitcommitid: non_empty(self.gitcommitid).map(GitCommitId::new),
            shkeptnspecversion: self.shkeptnspecversion,
            extensions: self.extensions,
            data: self.data.unwrap_or(Value::Null),
        })
    }
}

impl From<KeptnEvent> for EventDraft {
    fn from(e: KeptnEvent) -> Self {
        EventDraft {
            specversion: Some(e.specversion.as_str().to_owned()),
            id: Some(e.id.into_inner()),
            source: Some(e.source),
            event_type: Some(e.event_type.to_string()),
            time: Some(format_time(&e.time)),
            datacontenttype: e.datacontenttype,
            dataschema: e.dataschema,
            subject: e.subject,
            shkeptncontext: Some(e.shkeptncontext.into_inner()),
            triggeredid: e.triggeredid.map(EventId::into_inner),
            gitcommitid: e.gitcommitid.map(GitCommitId::into_inner),
            shkeptnspecversion: e.shkeptnspecversion,
            extensions: e.extensions,
            data: Some(e.data),
        }
    }
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a timestamp as Keptn does: RFC 3339 in UTC with a `Z`.
pub(crate) fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

struct DraftVisitor;

impl<'de> Visitor<'de> for DraftVisitor {
    type Value = EventDraft;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CloudEvent JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventDraft, A::Error> {
        let mut draft = EventDraft::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "specversion" => &mut draft.specversion,
                "id" => &mut draft.id,
                "source" => &mut draft.source,
                "type" => &mut draft.event_type,
                "time" => &mut draft.time,
                "datacontenttype" | "contenttype" => &mut draft.datacontenttype,
                "dataschema" | "schemaurl" => &mut draft.dataschema,
                "subject" => &mut draft.subject,
                "shkeptncontext" => &mut draft.shkeptncontext,
                "triggeredid" => &mut draft.triggeredid,
                "gitcommitid" => &mut draft.gitcommitid,
                "shkeptnspecversion" => &mut draft.shkeptnspecversion,
                "data" => {
                    draft.data = Some(map.next_value()?);
                    continue;
                }
                other => {
                    let value: Value = map.next_value()?;
                    draft.extensions.insert(other.to_owned(), value);
                    continue;
                }
            };
            *slot = map.next_value::<Option<AttributeString>>()?.map(|a| a.0);
        }
        Ok(draft)
    }
}

/// A string attribute; numbers and booleans are accepted and kept as their text (some senders
/// write `"specversion": 1.0`).
struct AttributeString(String);

impl<'de> Deserialize<'de> for AttributeString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AttributeString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string attribute")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AttributeString(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(AttributeString(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(AttributeString(format!("{v:?}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AttributeString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AttributeString(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(AttributeString(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for EventDraft {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DraftVisitor)
    }
}

impl<'de> Deserialize<'de> for KeptnEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let draft = deserializer.deserialize_map(DraftVisitor)?;
        draft.into_event().map_err(de::Error::custom)
    }
}

impl Serialize for KeptnEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", self.specversion.as_str())?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("type", &self.event_type)?;
        map.serialize_entry("time", &format_time(&self.time))?;
        if let Some(ct) = &self.datacontenttype {
            map.serialize_entry(self.specversion.content_type_attribute(), ct)?;
        }
        if let Some(schema) = &self.dataschema {
            let key = match self.specversion {
                SpecVersion::V02 => "schemaurl",
                _ => "dataschema",
            };
            map.serialize_entry(key, schema)?;
        }
        if let Some(subject) = &self.subject {
            map.serialize_entry("subject", subject)?;
        }
        map.serialize_entry("shkeptncontext", &self.shkeptncontext)?;
        if let Some(t) = &self.triggeredid {
            map.serialize_entry("triggeredid", t)?;
        }
        if let Some(g) = &self.gitcommitid {
            map.serialize_entry("gitcommitid", g)?;
        }
        if let Some(v) = &self.shkeptnspecversion {
            map.serialize_entry("shkeptnspecversion", v)?;
        }
        for (k, v) in &self.extensions {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("data", &self.data)?;
        map.end()
    }
}

impl Serialize for EventDraft {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let v02 = self.specversion.as_deref() == Some("0.2");
        let entries: [(&str, &Option<String>); 12] = [
            ("specversion", &self.specversion),
            ("id", &self.id),
            ("source", &self.source),
            ("type", &self.event_type),
            ("time", &self.time),
            (
                if v02 {
                    "contenttype"
                } else {
                    "datacontenttype"
                },
                &self.datacontenttype,
            ),
            (
                if v02 { "schemaurl" } else { "dataschema" },
                &self.dataschema,
            ),
            ("subject", &self.subject),
            ("shkeptncontext", &self.shkeptncontext),
            ("triggeredid", &self.triggeredid),
            ("gitcommitid", &self.gitcommitid),
            ("shkeptnspecversion", &self.shkeptnspecversion),
        ];
        for (key, value) in entries {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        for (k, v) in &self.extensions {
            map.serialize_entry(k, v)?;
        }
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "specversion": "1.0",
            "id": "7f0e2b9c-2a5e-4c1d-9a3e-0c4a8b1d2e3f",
            "source": "helm-service",
            "type": "sh.keptn.event.deployment.finished",
            "time": "2021-05-11T13:20:11.260Z",
            "datacontenttype": "application/json",
            "shkeptncontext": "a3e5f16d-8888-4720-82c7-6995062905c1",
            "triggeredid": "2ca20973-b419-41ef-8740-bddcca238487",
            "gitcommitid": "521747298a3790fde1710f3aa2d03b55020575aa",
            "shkeptnspecversion": "0.2.4",
            "myextension": "kept",
            "data": {"project": "sockshop", "custom": {"nested": [1, 2, 3]}}
        })
    }

    #[test]
    fn round_trip_keeps_every_attribute() {
        let event: KeptnEvent = serde_json::from_value(sample()).unwrap();
        assert_eq!(event.extensions["myextension"], json!("kept"));
        assert_eq!(serde_json::to_value(&event).unwrap(), sample());
    }

    #[test]
    fn missing_attributes_are_named() {
        for attr in REQUIRED {
            let mut v = sample();
            v.as_object_mut().unwrap().remove(attr);
            let err = KeptnEvent::from_json(v.to_string().as_bytes()).unwrap_err();
            assert!(
                matches!(err, DecodeError::Missing(a) if a == attr),
                "{attr}: {err}"
            );
        }
    }

    #[test]
    fn empty_attributes_count_as_missing() {
        let mut v = sample();
        v["id"] = json!("");
        let err = KeptnEvent::from_json(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "missing required attribute `id`");
    }

    #[test]
    fn bad_time_is_reported_with_its_value() {
        let mut v = sample();
        v["time"] = json!("yesterday");
        let err = KeptnEvent::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("yesterday"), "{err}");
        assert!(err.to_string().contains("time"), "{err}");
    }

    #[test]
    fn unsupported_specversion_is_rejected() {
        let mut v = sample();
        v["specversion"] = json!("2.0");
        let err = KeptnEvent::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("specversion"), "{err}");
    }

    #[test]
    fn cloudevents_0_2_uses_contenttype() {
        let v = json!({
            "specversion": "0.2", "id": "1", "source": "lighthouse-service",
            "type": "sh.keptn.events.evaluation-done", "time": "2019-11-18T11:30:45.340Z",
            "contenttype": "application/json",
            "shkeptncontext": "60077081-f902-4407-bc15-7c70be41a836",
            "data": {"result": "fail"}
        });
        let event: KeptnEvent = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(event.specversion, SpecVersion::V02);
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(serde_json::to_value(&event).unwrap(), v);
    }

    #[test]
    fn drafts_accept_incomplete_events() {
        let draft = EventDraft::from_json(
            br#"{"type":"sh.keptn.event.dev.delivery.triggered","data":{"project":"p"}}"#,
        )
        .unwrap();
        assert_eq!(draft.id, None);
        assert_eq!(
            draft.event_type.as_deref(),
            Some("sh.keptn.event.dev.delivery.triggered")
        );
        assert!(matches!(
            draft.into_event(),
            Err(DecodeError::Missing("specversion"))
        ));
    }

    #[test]
    fn non_object_input_is_an_error_not_a_panic() {
        for input in ["[]", "1", "\"x\"", "null", "{", ""] {
            assert!(KeptnEvent::from_json(input.as_bytes()).is_err(), "{input}");
        }
    }
}
