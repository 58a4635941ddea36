//! Every golden event round-trips through `KeptnEvent`, its typed payload and
//! `cloudevents::Event` without losing a field.

use std::path::Path;

use keptn_sdk::KeptnEvent;
use keptn_sdk::event::EventData;
use keptn_sdk::event::payload::*;
use keptn_sdk::testing::fixtures;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The typed view of `event` knows every field of its data except `extras`, and merging it back
/// changes nothing.
fn typed<T: Serialize + DeserializeOwned>(name: &str, event: &KeptnEvent, extras: &[&str]) {
    let view: T = event
        .data_as()
        .unwrap_or_else(|e| panic!("{name}: data as {}: {e}", std::any::type_name::<T>()));
    let mut known = event.data.clone();
    for key in extras {
        known.as_object_mut().unwrap().remove(*key);
    }
    assert_eq!(
        serde_json::to_value(&view).unwrap(),
        known,
        "{name}: the typed view drops or changes a field"
    );
    let mut merged = event.clone();
    merged.merge_data(&view).unwrap();
    assert_eq!(
        &merged, event,
        "{name}: merging the typed view back changes the event"
    );
}

fn check_typed(name: &str, event: &KeptnEvent) {
    let phase = name.rsplit('.').next().unwrap();
    match name {
        "sequence.triggered" => typed::<EventData>(name, event, &["configurationChange"]),
        "deployment.triggered" => typed::<DeploymentTriggered>(name, event, &["customField"]),
        "deployment.finished" => typed::<DeploymentFinished>(name, event, &[]),
        "test.triggered" => typed::<TestTriggered>(name, event, &[]),
        "test.finished" => typed::<TestFinished>(name, event, &[]),
        "evaluation.triggered" => typed::<EvaluationTriggered>(name, event, &[]),
        "evaluation.finished" | "evaluation.finished.fail" => {
            typed::<EvaluationFinished>(name, event, &[])
        }
        "approval.triggered" => typed::<ApprovalTriggered>(name, event, &[]),
        "approval.finished" => typed::<ApprovalFinished>(name, event, &[]),
        "release.triggered" => typed::<ReleaseTriggered>(name, event, &[]),
        "release.finished" => typed::<ReleaseFinished>(name, event, &[]),
        "rollback.triggered" => typed::<RollbackTriggered>(name, event, &[]),
        "rollback.finished" => typed::<RollbackFinished>(name, event, &[]),
        "get-sli.triggered" => typed::<GetSliTriggered>(name, event, &[]),
        "get-sli.finished" => typed::<GetSliFinished>(name, event, &[]),
        "get-action.triggered" => typed::<GetActionTriggered>(name, event, &[]),
        "get-action.finished" => typed::<GetActionFinished>(name, event, &[]),
        "action.triggered" => typed::<ActionTriggered>(name, event, &[]),
        "action.finished" => typed::<ActionFinished>(name, event, &[]),
        _ if phase == "started" || name == "sequence.finished" => {
            typed::<EventData>(name, event, &[])
        }
        other => panic!("no typed payload for golden file {other}"),
    }
}

#[test]
fn golden_events_round_trip_through_json_typed_payloads_and_cloudevents() {
    let all = fixtures::all();
    assert_eq!(all.len(), 30);
    let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"))
        .unwrap()
        .count();
    assert_eq!(files, all.len(), "every golden file has a fixture");
    for (name, event) in all {
        let expected = golden(name);
        // JSON: equal as values, unknown attributes and data fields included.
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            expected,
            "{name}: JSON"
        );
        let reparsed = KeptnEvent::from_json(&event.to_json()).unwrap();
        assert_eq!(reparsed, event, "{name}: JSON round trip");
        // Typed payloads.
        check_typed(name, &event);
        // cloudevents::Event, both ways.
        let ce = cloudevents::Event::try_from(event.clone())
            .unwrap_or_else(|e| panic!("{name}: to cloudevents: {e}"));
        let back = KeptnEvent::try_from(ce.clone())
            .unwrap_or_else(|e| panic!("{name}: from cloudevents: {e}"));
        assert_eq!(back, event, "{name}: through cloudevents::Event");
        assert_eq!(
            cloudevents::Event::try_from(back).unwrap(),
            ce,
            "{name}: cloudevents::Event through KeptnEvent"
        );
    }
}

#[test]
fn unknown_attributes_and_data_fields_are_kept() {
    let event = fixtures::deployment_triggered();
    assert_eq!(
        event.extensions["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(event.extensions["retrycount"], 2);
    assert_eq!(
        event.data["customField"],
        serde_json::json!({"kept": ["verbatim", 1, true, null]})
    );
}
