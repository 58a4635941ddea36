//! The 0.1 shipyard of Keptn 0.6/0.7 is converted to an equivalent 0.2 shipyard.

use keptn_core::shipyard::{
    CONVERTED_API_VERSION, Shipyard, ShipyardError, SourceFormat, convert_v01, parse_document,
};

const V01: &str = include_str!("fixtures/shipyard-v01.yaml");
const GOLDEN_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/shipyard/fixtures/shipyard-v01-converted.yaml"
);

#[test]
fn a_v01_shipyard_converts_to_the_golden_v02_shipyard() {
    let parsed = parse_document(V01).unwrap();
    assert!(parsed.was_converted());
    let yaml = parsed.shipyard.to_yaml();
    if std::env::var_os("KEPTN_UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN_PATH, &yaml).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN_PATH)
        .expect("golden file missing: run with KEPTN_UPDATE_GOLDEN=1 to create it");
    assert_eq!(
        yaml, golden,
        "the conversion changed; review and update the golden file"
    );
}

#[test]
fn the_converted_shipyard_is_a_valid_v02_shipyard() {
    let converted = Shipyard::parse(V01).unwrap();
    assert_eq!(converted.api_version, CONVERTED_API_VERSION);
    let reparsed = parse_document(&converted.to_yaml()).unwrap();
    assert!(matches!(reparsed.format, SourceFormat::V02 { .. }));
    assert_eq!(reparsed.shipyard, converted);
    assert!(reparsed.warnings.is_empty(), "{:?}", reparsed.warnings);
}

#[test]
fn stages_are_chained_by_their_delivery_sequences() {
    let converted = Shipyard::parse(V01).unwrap();
    let staging = converted.resolve_sequence("staging", "delivery").unwrap();
    assert_eq!(staging.triggered_on[0].event, "dev.delivery.finished");
    assert!(staging.triggered_on[0].selector.is_none());
    let tasks: Vec<_> = staging.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tasks,
        ["deployment", "test", "evaluation", "approval", "release"]
    );
    let approval = staging.tasks[3].properties.as_ref().unwrap();
    assert_eq!(approval["pass"], "automatic");
    assert_eq!(approval["warning"], "manual");
    let dev = converted.resolve_sequence("dev", "delivery").unwrap();
    assert!(dev.triggered_on.is_empty());
}

#[test]
fn blue_green_stages_get_a_rollback_and_automated_ones_a_remediation_loop() {
    let converted = Shipyard::parse(V01).unwrap();
    assert!(converted.resolve_sequence("dev", "rollback").is_err());
    let rollback = converted.resolve_sequence("staging", "rollback").unwrap();
    assert_eq!(rollback.triggered_on[0].event, "staging.delivery.finished");
    let production = converted.stage("production").unwrap();
    let deployment = &production.sequences[0].tasks[0];
    assert_eq!(
        deployment.properties.as_ref().unwrap()["deploymentstrategy"],
        "blue_green_service",
        "duplicate is the 0.6 name of blue_green_service"
    );
    let approval = production.sequences[0].tasks[2]
        .properties
        .as_ref()
        .unwrap();
    assert_eq!(
        approval["warning"], "automatic",
        "an absent mode is automatic"
    );
    let remediation = converted
        .resolve_sequence("production", "remediation")
        .unwrap();
    let tasks: Vec<_> = remediation.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tasks, ["get-action", "action", "evaluation"]);
    let loops = converted.triggers_of("production", "remediation");
    assert!(loops[0].fires("fail", Some("evaluation")));
}

#[test]
fn a_quality_gate_stage_gets_an_evaluation_only_delivery() {
    let converted = Shipyard::parse(V01).unwrap();
    let gate = converted
        .resolve_sequence("quality-gate", "delivery")
        .unwrap();
    assert_eq!(gate.tasks.len(), 1);
    assert_eq!(gate.tasks[0].name, "evaluation");
    assert_eq!(gate.triggered_on[0].event, "production.delivery.finished");
}

#[test]
fn the_spec_list_form_of_approval_strategy_is_read() {
    let yaml = "stages:\n  - name: dev\n    approval_strategy:\n      - pass: manual\n      - warning: manual\n";
    let parsed = parse_document(yaml).unwrap();
    let SourceFormat::V01(old) = &parsed.format else {
        panic!("not read as 0.1");
    };
    let approval = old.stages[0].approval_strategy.as_ref().unwrap();
    assert_eq!(
        (approval.pass.as_str(), approval.warning.as_str()),
        ("manual", "manual")
    );
    assert_eq!(convert_v01(old), parsed.shipyard);
}

#[test]
fn invalid_v01_shipyards_are_rejected_with_paths() {
    let cases = [
        (
            "stages: []\n",
            "stages: a shipyard needs at least one stage",
        ),
        (
            "stages:\n  - name: dev\n    deployment_strategy: canary\n",
            r#"stages[0].deployment_strategy: "canary" is not a deployment strategy (expected direct, blue_green_service or user_managed)"#,
        ),
        (
            "stages:\n  - name: dev\n    approval_strategy: {pass: sometimes}\n",
            r#"stages[0].approval_strategy.pass: "sometimes" is not an approval strategy (expected automatic or manual)"#,
        ),
        (
            "stages:\n  - name: Dev\n",
            r#"stages[0].name: "Dev" is not a valid stage name (lowercase letters, digits and '-', starting with a letter and not ending with '-')"#,
        ),
    ];
    for (yaml, expected) in cases {
        let err = Shipyard::parse(yaml).unwrap_err();
        let ShipyardError::Invalid(issues) = &err else {
            panic!("{yaml}: unexpected {err}");
        };
        assert!(
            issues.iter().any(|i| i.to_string() == expected),
            "{yaml}: expected {expected:?} in {issues:?}"
        );
    }
}
