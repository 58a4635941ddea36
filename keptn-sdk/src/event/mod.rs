//! Keptn events: the CloudEvents 1.0 envelope with Keptn's extensions, event types, typed
//! payloads, builders and validation.
//!
//! A [`KeptnEvent`] keeps its `data` as JSON: typed payloads from [`payload`] are views over it
//! ([`KeptnEvent::data_as`], [`KeptnEvent::merge_data`]), so fields that this crate does not know
//! travel through untouched. Unknown top-level attributes (CloudEvents extensions) are kept in
//! [`KeptnEvent::extensions`].
//!
//! ```
//! use keptn_sdk::event::{EventData, EventType, KeptnEvent, Phase};
//! use keptn_sdk::event::payload::FinishedData;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let triggered = KeptnEvent::builder(EventType::task("test", Phase::Triggered))
//!     .source("shipyard-controller")
//!     .data(&EventData::scope("sockshop", "dev", "carts"))?
//!     .build()?;
//! let finished = triggered.finished("my-test-service", FinishedData::pass().with_message("ok"))?;
//! assert_eq!(finished.event_type.to_string(), "sh.keptn.event.test.finished");
//! assert_eq!(finished.triggeredid.as_ref(), Some(&triggered.id));
//! assert_eq!(finished.project(), Some("sockshop"));
//! # Ok(()) }
//! ```

mod builder;
#[cfg(feature = "cloudevents")]
mod convert;
mod data;
mod event_type;
mod ids;
mod merge;
pub mod payload;
mod serde_impl;
mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use builder::{EventBuilder, ResponseError};
#[cfg(feature = "cloudevents")]
pub use convert::ConversionError;
pub use data::{EnumError, EventData, KeptnResult, Status};
pub use event_type::{
    DOTTED_TASK_NAMES, EVENT_TYPE_PREFIX, EventType, EventTypeError, KNOWN_OTHER_TYPES,
    LOG_ERROR_EVENT_TYPE, MONITORING_CONFIGURE_EVENT_TYPE, PROBLEM_EVENT_TYPE, Phase,
};
pub use ids::{EventId, GitCommitId, KeptnContext};
pub use merge::merge_json;
pub use serde_impl::{DecodeError, EventDraft};
pub use validate::ValidationError;

/// The `shkeptnspecversion` this crate stamps on the events it creates.
pub const KEPTN_SPEC_VERSION: &str = "0.2.4";

/// The CloudEvents specification version of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpecVersion {
    /// CloudEvents 0.2 (Keptn 0.6): `contenttype` instead of `datacontenttype`.
    V02,
    /// CloudEvents 0.3.
    V03,
    /// CloudEvents 1.0 (Keptn 0.8 and later).
    #[default]
    V10,
}

impl SpecVersion {
    /// The value of the `specversion` attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V02 => "0.2",
            SpecVersion::V03 => "0.3",
            SpecVersion::V10 => "1.0",
        }
    }

    /// Parses a `specversion` attribute.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "0.2" => Some(SpecVersion::V02),
            "0.3" => Some(SpecVersion::V03),
            "1.0" => Some(SpecVersion::V10),
            _ => None,
        }
    }

    /// The name of the content type attribute in this version.
    pub const fn content_type_attribute(self) -> &'static str {
        match self {
            SpecVersion::V02 => "contenttype",
            SpecVersion::V03 | SpecVersion::V10 => "datacontenttype",
        }
    }
}

/// A Keptn event: a CloudEvent with Keptn's extension attributes.
///
/// Serializes to and from structured-mode CloudEvents JSON with exactly Keptn's attribute names.
/// Deserializing checks that the required attributes (`specversion`, `id`, `source`, `type`,
/// `time`, `shkeptncontext`) are present and well-formed; use [`EventDraft`] to read an incomplete
/// event (as the API does before it assigns an id and time).
#[derive(Debug, Clone, PartialEq)]
pub struct KeptnEvent {
    /// The CloudEvents version.
    pub specversion: SpecVersion,
    /// The event id.
    pub id: EventId,
    /// Who sent the event (URI reference, e.g. `shipyard-controller`).
    pub source: String,
    /// The event type.
    pub event_type: EventType,
    /// When the event happened.
    pub time: DateTime<Utc>,
    /// The content type of `data` (`application/json`).
    pub datacontenttype: Option<String>,
    /// CloudEvents `dataschema` (`schemaurl` in 0.2).
    pub dataschema: Option<String>,
    /// CloudEvents `subject`.
    pub subject: Option<String>,
    /// The Keptn context grouping every event of a flow.
    pub shkeptncontext: KeptnContext,
    /// The id of the `.triggered` event this event answers.
    pub triggeredid: Option<EventId>,
    /// The configuration commit the sequence works with.
    pub gitcommitid: Option<GitCommitId>,
    /// The Keptn spec version (`0.2.4`).
    pub shkeptnspecversion: Option<String>,
    /// Every other top-level attribute, kept as it came.
    pub extensions: BTreeMap<String, Value>,
    /// The payload.
    pub data: Value,
}

impl KeptnEvent {
    /// Starts building an event of the given type; see [`EventBuilder`].
    pub fn builder(event_type: EventType) -> EventBuilder {
        EventBuilder::new(event_type)
    }

    /// Parses structured-mode JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(DecodeError::from_json)
    }

    /// Serializes to structured-mode JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a KeptnEvent cannot fail: every key is a string and every value is JSON.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The type as a string (the NATS subject of the event).
    pub fn type_string(&self) -> String {
        self.event_type.to_string()
    }

    /// A string field of `data`.
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// `data.project`.
    pub fn project(&self) -> Option<&str> {
        self.data_str("project")
    }

    /// `data.stage`.
    pub fn stage(&self) -> Option<&str> {
        self.data_str("stage")
    }

    /// `data.service`.
    pub fn service(&self) -> Option<&str> {
        self.data_str("service")
    }

    /// The common data block (project, stage, service, labels, status, result, message).
    pub fn event_data(&self) -> Result<EventData, serde_json::Error> {
        self.data_as()
    }

    /// A typed view of `data`. Fields the type does not know are ignored (and stay in `data`).
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }

    /// Merges a typed payload into `data`: objects merge key by key, everything else replaces.
    /// Fields absent from the payload are left as they are.
    pub fn merge_data<T: Serialize>(&mut self, payload: &T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(payload)?;
        merge_json(&mut self.data, &value);
        Ok(())
    }
}
