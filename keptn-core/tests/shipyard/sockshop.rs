//! The sockshop shipyard of Keptn's examples, as users upload it.

use keptn_core::shipyard::{ChainTarget, LookupError, Shipyard, SourceFormat, parse_document};

const SOCKSHOP: &str = include_str!("fixtures/shipyard-sockshop.yaml");

#[test]
fn the_sockshop_example_parses_and_validates_without_warnings() {
    let parsed = parse_document(SOCKSHOP).expect("the sockshop shipyard is valid");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    assert!(!parsed.was_converted());
    assert_eq!(
        parsed.format,
        SourceFormat::V02 {
            api_version: "spec.keptn.sh/0.2.0".into()
        }
    );
    let shipyard = parsed.shipyard;
    assert_eq!(shipyard.metadata.name, "shipyard-sockshop");
    assert_eq!(
        shipyard.stage_names().collect::<Vec<_>>(),
        ["dev", "staging", "production"]
    );
    shipyard.validate().unwrap();
}

#[test]
fn the_sockshop_delivery_sequence_carries_its_task_properties() {
    let shipyard = Shipyard::parse(SOCKSHOP).unwrap();
    let delivery = shipyard.resolve_sequence("staging", "delivery").unwrap();
    let names: Vec<_> = delivery.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["deployment", "test", "evaluation", "release"]);
    assert_eq!(
        delivery.tasks[0].properties.as_ref().unwrap()["deploymentstrategy"],
        "blue_green_service"
    );
    let remediation = shipyard
        .resolve_sequence("production", "remediation")
        .unwrap();
    let evaluation = &remediation.tasks[2];
    assert_eq!(
        evaluation.triggered_after.as_ref().unwrap().duration(),
        std::time::Duration::from_secs(600)
    );
}

#[test]
fn a_finished_staging_delivery_triggers_production_and_the_rollback() {
    let shipyard = Shipyard::parse(SOCKSHOP).unwrap();
    let targets = shipyard.triggers_of("staging", "delivery");
    assert_eq!(
        targets,
        vec![
            ChainTarget {
                stage: "staging".into(),
                sequence: "rollback".into(),
                selector: Some([("result".to_owned(), "fail".to_owned())].into()),
            },
            ChainTarget {
                stage: "production".into(),
                sequence: "delivery".into(),
                selector: None,
            },
        ]
    );
    let rollback = &targets[0];
    assert!(rollback.fires("fail", Some("release")));
    assert!(!rollback.fires("pass", Some("release")));
    let promotion = &targets[1];
    assert!(promotion.fires("pass", None) && promotion.fires("warning", None));
    assert!(!promotion.fires("fail", None));
}

#[test]
fn the_remediation_sequence_triggers_itself_when_the_evaluation_fails() {
    let shipyard = Shipyard::parse(SOCKSHOP).unwrap();
    let targets = shipyard.triggers_of("production", "remediation");
    assert_eq!(targets.len(), 1);
    assert!(targets[0].fires("fail", Some("evaluation")));
    assert!(!targets[0].fires("fail", Some("action")));
    assert!(!targets[0].fires("pass", Some("evaluation")));
}

#[test]
fn every_stage_offers_the_builtin_evaluation_sequence() {
    let shipyard = Shipyard::parse(SOCKSHOP).unwrap();
    let evaluation = shipyard.resolve_sequence("dev", "evaluation").unwrap();
    assert_eq!(evaluation.tasks.len(), 1);
    assert_eq!(evaluation.tasks[0].name, "evaluation");
    assert_eq!(
        shipyard.resolve_sequence("qa", "evaluation").unwrap_err(),
        LookupError::UnknownStage("qa".into())
    );
    assert_eq!(
        shipyard
            .resolve_sequence("dev", "canary")
            .unwrap_err()
            .to_string(),
        "no task sequence with name canary found in stage dev"
    );
}

#[test]
fn a_shipyard_survives_a_yaml_round_trip() {
    let shipyard = Shipyard::parse(SOCKSHOP).unwrap();
    let again = Shipyard::parse(&shipyard.to_yaml()).unwrap();
    assert_eq!(shipyard, again);
}
