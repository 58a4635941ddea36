//! `POST /v1/event`: validating, completing and publishing an event.

use chrono::Utc;
use keptn_sdk::event::{
    EventDraft, EventId, EventType, KeptnContext, KeptnEvent, LOG_ERROR_EVENT_TYPE,
    MONITORING_CONFIGURE_EVENT_TYPE, PROBLEM_EVENT_TYPE, Phase,
};
use serde_json::Value;

use super::ApiError;

/// The source the API sets when an event names none.
pub const API_SOURCE: &str = "https://github.com/keptn/keptn/api";

/// Checks an incoming event the way the Keptn 1.x API does and completes it:
///
/// - allowed types: sequence `.triggered`; task `.started`, `.finished` and `.invalidated`;
///   `sh.keptn.log.error`, `sh.keptn.events.problem`, `sh.keptn.event.monitoring.configure`;
/// - task `.started`/`.finished` need a `triggeredid` and `data.project`, `data.stage`,
///   `data.service`;
/// - `data` is an object; `data.status` and `data.result` are within their enums;
/// - the API assigns a new `id` and `time`, sets `datacontenttype`, defaults `source` and
///   `specversion`, and derives the Keptn context (kept if a UUID, seeded from any other string,
///   generated if absent).
pub fn prepare_event(draft: EventDraft) -> Result<KeptnEvent, ApiError> {
    let raw_type = draft
        .event_type
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("type: mandatory field 'type' missing"))?;
    let event_type = EventType::parse(&raw_type);
    match &event_type {
        EventType::Sequence {
            phase: Phase::Triggered,
            ..
        } => {}
        EventType::Sequence { phase, .. } => {
            return Err(ApiError::bad_request(format!(
                "type: {raw_type:?} is a sequence {phase} event; only sequence .triggered events can be sent"
            )));
        }
        EventType::Task {
            phase: Phase::Started | Phase::Finished | Phase::Invalidated,
            ..
        } => {}
        EventType::Task { phase, .. } => {
            return Err(ApiError::bad_request(format!(
                "type: unknown event type action \"{phase}\" in {raw_type:?}: tasks accept started, finished and invalidated"
            )));
        }
        EventType::Other(t)
            if [
                LOG_ERROR_EVENT_TYPE,
                PROBLEM_EVENT_TYPE,
                MONITORING_CONFIGURE_EVENT_TYPE,
            ]
            .contains(&t.as_str()) => {}
        EventType::Other(_) => {
            let reason = EventType::parse_strict(&raw_type)
                .err()
                .map(|e| e.reason)
                .unwrap_or("not an event type the API accepts");
            return Err(ApiError::bad_request(format!(
                "type: unknown event type {raw_type:?}: {reason}"
            )));
        }
    }
    let data = draft.data.clone().unwrap_or(Value::Null);
    let Value::Object(map) = &data else {
        return Err(ApiError::bad_request(format!(
            "data: expected an object, found {}",
            kind(&data)
        )));
    };
    if matches!(
        event_type,
        EventType::Task {
            phase: Phase::Started | Phase::Finished,
            ..
        }
    ) {
        for field in ["project", "stage", "service"] {
            if map
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::bad_request(format!(
                    "data.{field}: mandatory field '{field}' missing"
                )));
            }
        }
        if draft.triggeredid.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "triggeredid: mandatory field 'triggeredid' missing",
            ));
        }
    }
    if let Some(spec) = draft.specversion.as_deref() {
        if !matches!(spec, "1.0" | "0.3" | "0.2" | "") {
            return Err(ApiError::bad_request(format!(
                "specversion: {spec:?} is not a supported CloudEvents version (expected 1.0)"
            )));
        }
    }
    let context = KeptnContext::derive(draft.shkeptncontext.as_deref());
    let mut completed = draft;
    completed.id = Some(EventId::generate().into_inner());
    completed.time = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    completed.shkeptncontext = Some(context.into_inner());
    completed.datacontenttype = Some("application/json".to_owned());
    if completed.source.as_deref().is_none_or(str::is_empty) {
        completed.source = Some(API_SOURCE.to_owned());
    }
    if completed.specversion.as_deref().is_none_or(str::is_empty) {
        completed.specversion = Some("1.0".to_owned());
    }
    completed.data = Some(data);
    let event = completed
        .into_event()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    event
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(event)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
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
    use serde_json::json;

    fn draft(v: Value) -> EventDraft {
        EventDraft::from_json(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_sequence_trigger_is_completed() {
        let e = prepare_event(draft(json!({
            "type": "sh.keptn.event.dev.delivery.triggered",
            "data": {"project": "p", "stage": "dev", "service": "s"}
        })))
        .unwrap();
        assert_eq!(e.source, API_SOURCE);
        assert!(e.shkeptncontext.is_uuid());
        assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
    }

    #[test]
    fn the_api_assigns_its_own_id_and_keeps_a_uuid_context() {
        let ctx = "a3e5f16d-8888-4720-82c7-6995062905c1";
        let e = prepare_event(draft(json!({
            "id": "mine", "shkeptncontext": ctx,
            "type": "sh.keptn.event.dev.delivery.triggered", "data": {}
        })))
        .unwrap();
        assert_ne!(e.id.as_str(), "mine");
        assert_eq!(e.shkeptncontext.as_str(), ctx);
    }

    #[test]
    fn task_triggers_are_rejected() {
        let err = prepare_event(draft(json!({
            "type": "sh.keptn.event.deployment.triggered", "data": {}
        })))
        .unwrap_err();
        assert!(err.message().starts_with("type:"), "{err}");
    }

    #[test]
    fn status_changed_is_rejected_like_the_original() {
        let err = prepare_event(draft(json!({
            "type": "sh.keptn.event.deployment.status.changed", "triggeredid": "t",
            "data": {"project": "p", "stage": "s", "service": "x"}
        })))
        .unwrap_err();
        assert!(err.message().contains("action \"status.changed\""), "{err}");
    }

    #[test]
    fn finished_events_need_scope_and_triggered_id() {
        let err = prepare_event(draft(json!({
            "type": "sh.keptn.event.test.finished",
            "data": {"project": "p", "stage": "s", "service": "x"}
        })))
        .unwrap_err();
        assert_eq!(
            err.message(),
            "triggeredid: mandatory field 'triggeredid' missing"
        );
        let err = prepare_event(draft(json!({
            "type": "sh.keptn.event.test.finished", "triggeredid": "t",
            "data": {"project": "p", "service": "x"}
        })))
        .unwrap_err();
        assert_eq!(err.message(), "data.stage: mandatory field 'stage' missing");
    }

    #[test]
    fn bad_results_and_unknown_types_name_the_field() {
        let err = prepare_event(draft(json!({
            "type": "sh.keptn.event.test.finished", "triggeredid": "t",
            "data": {"project": "p", "stage": "s", "service": "x", "result": "great"}
        })))
        .unwrap_err();
        assert!(err.message().starts_with("data.result:"), "{err}");
        let err = prepare_event(draft(json!({"type": "com.example.x", "data": {}}))).unwrap_err();
        assert!(err.message().contains("unknown event type"), "{err}");
        let err = prepare_event(draft(json!({"data": {}}))).unwrap_err();
        assert!(err.message().contains("'type' missing"), "{err}");
    }

    #[test]
    fn data_must_be_an_object() {
        let err = prepare_event(draft(json!({
            "type": "sh.keptn.event.dev.delivery.triggered", "data": "x"
        })))
        .unwrap_err();
        assert_eq!(err.message(), "data: expected an object, found a string");
    }

    #[test]
    fn known_other_types_are_accepted() {
        for t in [
            LOG_ERROR_EVENT_TYPE,
            PROBLEM_EVENT_TYPE,
            MONITORING_CONFIGURE_EVENT_TYPE,
        ] {
            prepare_event(draft(json!({"type": t, "data": {"project": "p"}}))).unwrap();
        }
    }
}
