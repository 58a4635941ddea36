//! No input makes the event code panic, and what parses round-trips.

use keptn_sdk::event::payload::*;
use keptn_sdk::event::{EventData, EventDraft, SpecVersion};
use keptn_sdk::{EventType, KeptnEvent};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "[a-z0-9:.\\-T]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_\\-]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const ATTRIBUTES: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "contenttype",
    "dataschema",
    "schemaurl",
    "subject",
    "shkeptncontext",
    "triggeredid",
    "gitcommitid",
    "shkeptnspecversion",
    "data",
];

fn arb_attribute_value(name: &'static str) -> BoxedStrategy<Value> {
    match name {
        "specversion" => prop_oneof![
            Just(Value::from("1.0")),
            Just(Value::from("0.3")),
            Just(Value::from("0.2")),
            Just(Value::from(1.0)),
            arb_json(),
        ]
        .boxed(),
        "time" => prop_oneof![
            Just(Value::from("2021-05-11T13:20:11.260Z")),
            Just(Value::from("2021-05-11T13:20:11+02:00")),
            Just(Value::from("2021-05-11T13:20:11.123456789Z")),
            arb_json(),
        ]
        .boxed(),
        "type" => arb_type().prop_map(Value::String).boxed(),
        "data" => arb_json().boxed(),
        "dataschema" | "schemaurl" => prop_oneof![
            Just(Value::from("https://example.com/schema.json")),
            arb_json(),
        ]
        .boxed(),
        _ => prop_oneof![
            4 => "[a-zA-Z0-9\\-]{1,16}".prop_map(Value::String),
            1 => arb_json(),
        ]
        .boxed(),
    }
}

/// A JSON object that is often, but not always, a valid event.
fn arb_event_object() -> impl Strategy<Value = Value> {
    let attributes = ATTRIBUTES
        .iter()
        .map(|name| {
            prop::option::weighted(0.9, arb_attribute_value(name))
                .prop_map(move |v| v.map(|v| (name.to_string(), v)))
        })
        .collect::<Vec<_>>();
    let extensions = prop::collection::btree_map("[a-z]{1,8}", arb_json(), 0..4);
    (attributes, extensions).prop_map(|(attributes, extensions)| {
        let mut map = Map::new();
        for (k, v) in extensions {
            map.insert(k, v);
        }
        for (k, v) in attributes.into_iter().flatten() {
            map.insert(k, v);
        }
        Value::Object(map)
    })
}

fn arb_type() -> impl Strategy<Value = String> {
    let segment = "[a-z\\-]{0,8}";
    prop_oneof![
        any::<String>(),
        "[a-z.*>]{0,30}",
        (
            prop::collection::vec(segment, 0..4),
            prop::sample::select(vec![
                "triggered",
                "started",
                "status.changed",
                "finished",
                "invalidated",
                "done",
                "",
            ])
        )
            .prop_map(|(segments, phase)| {
                let mut s = "sh.keptn.event.".to_owned();
                for seg in segments {
                    s.push_str(&seg);
                    s.push('.');
                }
                s.push_str(phase);
                s
            }),
    ]
}

/// Reads every typed view; none may panic.
fn all_views(event: &KeptnEvent) {
    let _ = event.event_data();
    let _ = event.data_as::<EventData>();
    let _ = event.data_as::<ApprovalTriggered>();
    let _ = event.data_as::<DeploymentTriggered>();
    let _ = event.data_as::<DeploymentFinished>();
    let _ = event.data_as::<TestTriggered>();
    let _ = event.data_as::<TestFinished>();
    let _ = event.data_as::<EvaluationTriggered>();
    let _ = event.data_as::<EvaluationFinished>();
    let _ = event.data_as::<ReleaseTriggered>();
    let _ = event.data_as::<RollbackTriggered>();
    let _ = event.data_as::<GetActionTriggered>();
    let _ = event.data_as::<GetActionFinished>();
    let _ = event.data_as::<ActionTriggered>();
    let _ = event.data_as::<GetSliTriggered>();
    let _ = event.data_as::<GetSliFinished>();
    let _ = event.data_as::<ConfigureMonitoringTriggered>();
    let _ = event.data_as::<MonitoringConfigure>();
    let _ = event.data_as::<ProjectCreateFinished>();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = KeptnEvent::from_json(&bytes);
        if let Ok(draft) = EventDraft::from_json(&bytes) {
            let _ = draft.into_event();
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let _ = KeptnEvent::from_json(&bytes);
        let _ = EventDraft::from_json(&bytes);
    }

    #[test]
    fn event_shaped_json_parses_or_fails_cleanly_and_round_trips(value in arb_event_object()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        if let Ok(draft) = EventDraft::from_json(&bytes) {
            let _ = draft.into_event();
        }
        if let Ok(event) = KeptnEvent::from_json(&bytes) {
            let _ = event.validate();
            all_views(&event);
            let _ = event.started("prop");
            let _ = event.status_changed("prop", "m");
            let _ = event.finished("prop", FinishedData::pass());
            let again = KeptnEvent::from_json(&event.to_json()).unwrap();
            prop_assert_eq!(&again, &event);
            if let Ok(ce) = cloudevents::Event::try_from(event.clone()) {
                let back = KeptnEvent::try_from(ce).unwrap();
                if event.specversion == SpecVersion::V02 {
                    prop_assert_eq!(back.specversion, SpecVersion::V10);
                } else {
                    prop_assert_eq!(back, event);
                }
            }
        }
    }

    #[test]
    fn arbitrary_type_strings_never_panic_and_print_back(s in arb_type()) {
        let parsed = EventType::parse(&s);
        prop_assert_eq!(parsed.to_string(), s.clone());
        if let Ok(strict) = EventType::parse_strict(&s) {
            prop_assert_eq!(strict.clone(), parsed.clone());
            prop_assert!(!matches!(strict, EventType::Other(_)) || strict.is_known_other());
        }
        let _ = parsed.with_phase(keptn_sdk::Phase::Finished);
        let built = KeptnEvent::builder(parsed).source("prop").build();
        if let Ok(event) = built {
            let _ = event.finished("prop", FinishedData::errored("x"));
        }
    }

    #[test]
    fn builders_accept_any_data_without_panicking(data in arb_json(), s in arb_type()) {
        let built = KeptnEvent::builder(EventType::parse(&s))
            .source("prop")
            .triggered_id("t")
            .data_json(data)
            .build();
        if let Ok(event) = built {
            all_views(&event);
            prop_assert_eq!(KeptnEvent::from_json(&event.to_json()).unwrap(), event);
        }
    }
}
