//! Building events: triggers from scratch, and `.started` / `.status.changed` / `.finished`
//! responses derived from a `.triggered` event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::payload::FinishedData;
use super::validate::ValidationError;
use super::{
    EventId, EventType, GitCommitId, KEPTN_SPEC_VERSION, KeptnContext, KeptnEvent, Phase,
    SpecVersion,
};

/// The namespace of [`KeptnEvent::response_id`]'s version-5 UUIDs.
const RESPONSE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6b65_7074_6e2d_7273_8000_0000_7265_7370);

/// Builds a [`KeptnEvent`]; `build` validates it.
///
/// Defaults: a new random id, `time` now, a new random Keptn context, `source` empty (which
/// `build` rejects), `datacontenttype` `application/json`, `shkeptnspecversion`
/// [`KEPTN_SPEC_VERSION`], `data` an empty object.
#[derive(Debug, Clone)]
pub struct EventBuilder {
    event: KeptnEvent,
}

impl EventBuilder {
    pub(crate) fn new(event_type: EventType) -> Self {
        Self {
            event: KeptnEvent {
                specversion: SpecVersion::V10,
                id: EventId::generate(),
                source: String::new(),
                event_type,
                time: Utc::now(),
                datacontenttype: Some("application/json".to_owned()),
                dataschema: None,
                subject: None,
                shkeptncontext: KeptnContext::generate(),
                triggeredid: None,
                gitcommitid: None,
                shkeptnspecversion: Some(KEPTN_SPEC_VERSION.to_owned()),
                extensions: BTreeMap::new(),
                data: Value::Object(Map::new()),
            },
        }
    }

    /// Sets the id.
    pub fn id(mut self, id: impl Into<EventId>) -> Self {
        self.event.id = id.into();
        self
    }

    /// Sets the source.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.event.source = source.into();
        self
    }

    /// Sets the time.
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.event.time = time;
        self
    }

    /// Sets the Keptn context.
    pub fn context(mut self, context: impl Into<KeptnContext>) -> Self {
        self.event.shkeptncontext = context.into();
        self
    }

    /// Sets `triggeredid`.
    pub fn triggered_id(mut self, id: impl Into<EventId>) -> Self {
        self.event.triggeredid = Some(id.into());
        self
    }

    /// Sets `gitcommitid`.
    pub fn git_commit_id(mut self, id: impl Into<GitCommitId>) -> Self {
        self.event.gitcommitid = Some(id.into());
        self
    }

    /// Sets an extension attribute.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.event.extensions.insert(name.into(), value.into());
        self
    }

    /// Sets `data` from a serializable value (a typed payload or a JSON value).
    pub fn data<T: Serialize>(mut self, data: &T) -> Result<Self, serde_json::Error> {
        self.event.data = serde_json::to_value(data)?;
        Ok(self)
    }

    /// Sets `data` from JSON.
    pub fn data_json(mut self, data: Value) -> Self {
        self.event.data = data;
        self
    }

    /// Validates and returns the event.
    pub fn build(self) -> Result<KeptnEvent, ValidationError> {
        self.event.validate()?;
        Ok(self.event)
    }
}

/// Why a response could not be derived from an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Responses are derived from `.triggered` task events only.
    #[error("cannot answer {0}: responses are derived from a task's .triggered event")]
    NotATaskTrigger(String),
    /// The source is empty.
    #[error("the source of a response must not be empty")]
    EmptySource,
}

impl KeptnEvent {
    fn response(&self, phase: Phase, source: &str, data: Value) -> Result<Self, ResponseError> {
        self.response_with_id(phase, source, data, EventId::generate())
    }

    /// The id of this trigger's `.started` or `.finished` answer from `source`: derived from the
    /// trigger id, the source and the phase ([`EventId::derive`]), so an executor that answers
    /// the same trigger again (after a crash, or on a redelivery) sends the same id and every
    /// consumer recognises the repeat. Different executors answer with different ids.
    pub fn response_id(&self, source: &str, phase: Phase) -> EventId {
        self.id
            .derive(&RESPONSE_NAMESPACE, &format!("|{source}|{phase}"))
    }

    fn response_with_id(
        &self,
        phase: Phase,
        source: &str,
        data: Value,
        id: EventId,
    ) -> Result<Self, ResponseError> {
        match &self.event_type {
            EventType::Task {
                phase: Phase::Triggered,
                ..
            } => {}
            other => return Err(ResponseError::NotATaskTrigger(other.to_string())),
        }
        if source.is_empty() {
            return Err(ResponseError::EmptySource);
        }
        Ok(KeptnEvent {
            specversion: SpecVersion::V10,
            id,
            source: source.to_owned(),
            event_type: self.event_type.with_phase(phase),
            time: Utc::now(),
            datacontenttype: Some("application/json".to_owned()),
            dataschema: None,
            subject: None,
            shkeptncontext: self.shkeptncontext.clone(),
            triggeredid: Some(self.id.clone()),
            gitcommitid: self.gitcommitid.clone(),
            shkeptnspecversion: Some(KEPTN_SPEC_VERSION.to_owned()),
            extensions: BTreeMap::new(),
            data,
        })
    }

    /// The scope of this event's data: project, stage, service and labels.
    fn scope_data(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for key in ["project", "stage", "service", "labels"] {
            if let Some(v) = self.data.get(key) {
                map.insert(key.to_owned(), v.clone());
            }
        }
        map
    }

    /// The `.started` answer to this `.triggered` task event: same context, `triggeredid` = this
    /// id, `gitcommitid` propagated, time now, scope data copied, status `succeeded`. Its id is
    /// [`response_id`](Self::response_id): answering twice yields the same event id.
    pub fn started(&self, source: &str) -> Result<Self, ResponseError> {
        let mut data = self.scope_data();
        data.insert("status".into(), Value::from("succeeded"));
        let id = self.response_id(source, Phase::Started);
        self.response_with_id(Phase::Started, source, Value::Object(data), id)
    }

    /// The `.status.changed` answer to this `.triggered` task event, with a message.
    pub fn status_changed(&self, source: &str, message: &str) -> Result<Self, ResponseError> {
        let mut data = self.scope_data();
        data.insert("status".into(), Value::from("succeeded"));
        data.insert("message".into(), Value::from(message));
        self.response(Phase::StatusChanged, source, Value::Object(data))
    }

    /// The `.finished` answer to this `.triggered` task event: scope data copied, then the
    /// status, result, message and task fields of `finished`. Its id is
    /// [`response_id`](Self::response_id): answering twice yields the same event id, so a
    /// repeated answer is recognised and the task still counts one `.finished` per executor.
    pub fn finished(&self, source: &str, finished: FinishedData) -> Result<Self, ResponseError> {
        let mut data = self.scope_data();
        for (key, value) in finished.fields {
            data.insert(key, value);
        }
        data.insert("status".into(), Value::from(finished.status.as_str()));
        data.insert("result".into(), Value::from(finished.result.as_str()));
        data.insert("message".into(), Value::from(finished.message));
        let id = self.response_id(source, Phase::Finished);
        self.response_with_id(Phase::Finished, source, Value::Object(data), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventData, KeptnResult, Status};
    use serde_json::json;

    fn triggered() -> KeptnEvent {
        KeptnEvent::builder(EventType::task("deployment", Phase::Triggered))
            .source("shipyard-controller")
            .git_commit_id("abc")
            .data_json(json!({"project": "p", "stage": "s", "service": "svc",
                "labels": {"a": "b"}, "configurationChange": {"values": {"image": "x"}}}))
            .build()
            .unwrap()
    }

    #[test]
    fn responses_carry_context_trigger_id_and_commit() {
        let t = triggered();
        for response in [
            t.started("helm").unwrap(),
            t.status_changed("helm", "half way").unwrap(),
            t.finished("helm", FinishedData::pass()).unwrap(),
        ] {
            assert_ne!(response.id, t.id);
            assert_eq!(response.shkeptncontext, t.shkeptncontext);
            assert_eq!(response.triggeredid.as_ref(), Some(&t.id));
            assert_eq!(response.gitcommitid, t.gitcommitid);
            assert_eq!(response.source, "helm");
            assert_eq!(response.project(), Some("p"));
            assert_eq!(response.data["labels"], json!({"a": "b"}));
            assert!(response.data.get("configurationChange").is_none());
            response.validate().unwrap();
        }
    }

    #[test]
    fn finished_carries_status_result_message_and_fields() {
        let f = triggered()
            .finished(
                "helm",
                FinishedData::errored("boom").with_field("deployment", json!({"x": 1})),
            )
            .unwrap();
        let data: EventData = f.data_as().unwrap();
        assert_eq!(data.status, Some(Status::Errored));
        assert_eq!(data.result, Some(KeptnResult::Fail));
        assert_eq!(data.message.as_deref(), Some("boom"));
        assert_eq!(f.data["deployment"], json!({"x": 1}));
        assert_eq!(f.type_string(), "sh.keptn.event.deployment.finished");
    }

    #[test]
    fn answering_twice_gives_the_same_ids_and_other_executors_other_ids() {
        let t = triggered();
        assert_eq!(t.started("helm").unwrap().id, t.started("helm").unwrap().id);
        assert_eq!(
            t.finished("helm", FinishedData::pass()).unwrap().id,
            t.finished("helm", FinishedData::errored("again"))
                .unwrap()
                .id
        );
        assert_ne!(
            t.started("helm").unwrap().id,
            t.finished("helm", FinishedData::pass()).unwrap().id
        );
        assert_ne!(t.started("helm").unwrap().id, t.started("argo").unwrap().id);
        assert_ne!(
            t.status_changed("helm", "a").unwrap().id,
            t.status_changed("helm", "a").unwrap().id,
            "progress messages are separate events"
        );
    }

    #[test]
    fn responses_to_non_triggers_are_refused() {
        let started = triggered().started("helm").unwrap();
        assert!(matches!(
            started.finished("helm", FinishedData::pass()),
            Err(ResponseError::NotATaskTrigger(_))
        ));
        assert_eq!(triggered().started(""), Err(ResponseError::EmptySource));
    }

    #[test]
    fn builder_rejects_an_empty_source() {
        let err = KeptnEvent::builder(EventType::task("test", Phase::Triggered))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("source"), "{err}");
    }
}
