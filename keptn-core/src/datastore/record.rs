//! What a backend stores of an event: the event JSON (without the API's injected
//! `data.eventContext`) plus the fields it indexes.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use keptn_sdk::event::KeptnEvent;
use serde_json::Value;

use super::{InsertOutcome, StoreError};

/// The suffix of the types whose events invalidate an earlier evaluation
/// (`sh.keptn.event.evaluation.invalidated`); the original matched every `.invalidated` type.
pub const INVALIDATED_SUFFIX: &str = ".invalidated";

/// The indexed fields and the JSON of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// `id`.
    pub id: String,
    /// `shkeptncontext`.
    pub keptn_context: String,
    /// `data.project` when it is a non-empty string.
    pub project: Option<String>,
    /// `data.stage` when it is a non-empty string.
    pub stage: Option<String>,
    /// `data.service` when it is a non-empty string.
    pub service: Option<String>,
    /// `type`.
    pub event_type: String,
    /// `source`.
    pub source: String,
    /// `time` in nanoseconds since the Unix epoch.
    pub time: i64,
    /// `triggeredid`.
    pub triggered_id: Option<String>,
    /// `data.result` when it is a non-empty string.
    pub result: Option<String>,
    /// The event as JSON text, `data.eventContext` removed.
    pub json: String,
    /// For an `.invalidated` event of a project: the `triggeredid` it invalidates.
    pub invalidates: Option<String>,
}

impl EventRecord {
    /// Checks that `event` can be stored (a non-empty id and keptn context, a time in the
    /// supported range) without building the record; returns the time in nanoseconds.
    pub fn check(event: &KeptnEvent) -> Result<i64, StoreError> {
        if event.id.as_str().is_empty() {
            return Err(StoreError::invalid_event("event id must not be empty"));
        }
        if event.shkeptncontext.as_str().is_empty() {
            return Err(StoreError::invalid_event(format!(
                "event {}: shkeptncontext must not be empty",
                event.id
            )));
        }
        event_time_nanos(&event.time).ok_or_else(|| {
            StoreError::invalid_event(format!(
                "event {}: time {} is outside the range the store supports \
                 (1677-09-21 to 2262-04-11)",
                event.id, event.time
            ))
        })
    }

    /// Extracts the record of `event`; fails with `InvalidEvent` when the event cannot be
    /// stored (an empty id or context, a time outside 1677-09-21..2262-04-11).
    pub fn from_event(event: &KeptnEvent) -> Result<Self, StoreError> {
        let time = Self::check(event)?;
        let unserializable = |e| {
            StoreError::with_source(
                super::StoreErrorKind::InvalidEvent,
                format!("event {} cannot be serialized", event.id),
                e,
            )
        };
        let json = if event.data.get("eventContext").is_some() {
            let mut value = serde_json::to_value(event).map_err(unserializable)?;
            strip_event_context(&mut value);
            value.to_string()
        } else {
            serde_json::to_string(event).map_err(unserializable)?
        };
        let project = non_empty(event.project());
        let event_type = event.type_string();
        let triggered_id = event.triggeredid.as_ref().map(|t| t.as_str().to_owned());
        let invalidates = if project.is_some() && event_type.ends_with(INVALIDATED_SUFFIX) {
            triggered_id
                .clone()
                .or_else(|| non_empty(event.data_str("triggeredid")))
        } else {
            None
        };
        Ok(Self {
            id: event.id.as_str().to_owned(),
            keptn_context: event.shkeptncontext.as_str().to_owned(),
            project,
            stage: non_empty(event.stage()),
            service: non_empty(event.service()),
            event_type,
            source: event.source.clone(),
            time,
            triggered_id,
            result: non_empty(event.data_str("result")),
            json,
            invalidates,
        })
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Removes the `eventContext` that the original API injected into `data`.
pub fn strip_event_context(event: &mut Value) {
    if let Some(data) = event.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("eventContext");
    }
}

/// An event time in nanoseconds since the epoch, if it fits in an `i64`.
pub fn event_time_nanos(time: &DateTime<Utc>) -> Option<i64> {
    time.timestamp_nanos_opt()
}

/// A query time in nanoseconds, clamped to the `i64` range (a bound outside the range of
/// storable events still compares correctly with every stored event).
pub fn query_time_nanos(time: &DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// Parses stored event JSON; a row that is not an event is `Corrupt`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub fn decode_event(json: &str) -> Result<KeptnEvent, StoreError> {
    KeptnEvent::from_json(json.as_bytes())
        .map_err(|e| StoreError::corrupt("a stored event cannot be read back", e))
}

/// Extracts the records of a batch and marks the events whose id appeared earlier in the same
/// batch: they are `Some(Duplicate)`, the others `None` (to be decided by the backend).
pub fn batch_records(
    events: &[KeptnEvent],
) -> Result<(Vec<EventRecord>, Vec<Option<InsertOutcome>>), StoreError> {
    let mut seen = HashSet::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let record = EventRecord::from_event(event)?;
        if seen.insert(record.id.clone()) {
            outcomes.push(None);
            records.push(record);
        } else {
            outcomes.push(Some(InsertOutcome::Duplicate));
        }
    }
    Ok((records, outcomes))
}

/// Fills the undecided outcomes of [`batch_records`] in order with `decided`.
pub fn merge_outcomes(
    partial: Vec<Option<InsertOutcome>>,
    decided: impl IntoIterator<Item = InsertOutcome>,
) -> super::BatchOutcome {
    let mut decided = decided.into_iter();
    let outcomes = partial
        .into_iter()
        .map(|o| {
            o.or_else(|| decided.next())
                .unwrap_or(InsertOutcome::Duplicate)
        })
        .collect();
    super::BatchOutcome { outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keptn_sdk::event::{EventData, EventType, Phase};
    use serde_json::json;

    fn event(data: Value) -> KeptnEvent {
        KeptnEvent::builder(EventType::task("evaluation", Phase::Invalidated))
            .source("bridge")
            .triggered_id("t1")
            .data_json(data)
            .build()
            .unwrap()
    }

    #[test]
    fn records_strip_the_event_context_and_note_invalidations() {
        let e = event(json!({"project": "p", "stage": "s", "eventContext": {"token": "x"}}));
        let r = EventRecord::from_event(&e).unwrap();
        assert!(!r.json.contains("eventContext"));
        assert_eq!(r.project.as_deref(), Some("p"));
        assert_eq!(r.invalidates.as_deref(), Some("t1"));
        let stored = KeptnEvent::from_json(r.json.as_bytes()).unwrap();
        assert_eq!(stored.data, json!({"project": "p", "stage": "s"}));
    }

    #[test]
    fn invalidations_without_a_project_are_not_recorded() {
        let e = event(serde_json::to_value(EventData::default()).unwrap());
        assert_eq!(EventRecord::from_event(&e).unwrap().invalidates, None);
    }
}
