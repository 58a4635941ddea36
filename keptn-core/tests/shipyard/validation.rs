//! Every way a shipyard is rejected, and what the error says.

use keptn_core::shipyard::{Shipyard, ShipyardError, parse_document, validate_stage_update};

/// A valid shipyard whose stage list is `stages` (indented as list items under `spec.stages`).
fn shipyard_with(stages: &str) -> String {
    format!(
        "apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata:\n  name: test\nspec:\n  stages:\n{stages}"
    )
}

const DEV: &str = "    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: release
";

/// The messages of the issues of an invalid shipyard.
fn issues(yaml: &str) -> Vec<String> {
    match Shipyard::parse(yaml) {
        Ok(_) => panic!("the shipyard was accepted:\n{yaml}"),
        Err(ShipyardError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn assert_issue(yaml: &str, expected: &str) {
    let found = issues(yaml);
    assert!(
        found.iter().any(|i| i == expected),
        "expected {expected:?} among {found:#?}"
    );
}

#[test]
fn a_valid_minimal_shipyard_is_accepted() {
    Shipyard::parse(&shipyard_with(DEV)).unwrap();
}

#[test]
fn a_malformed_duration_is_reported_at_its_path() {
    let yaml = shipyard_with(&format!(
        "{DEV}    - name: staging
      sequences:
        - name: delivery
          tasks:
            - name: deployment
            - name: test
            - name: evaluation
              triggeredAfter: \"10x\"
"
    ));
    let found = issues(&yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            r#"spec.stages[1].sequences[0].tasks[2].triggeredAfter: "10x" is not a duration"#
        ),
        "{}",
        found[0]
    );
}

#[test]
fn yaml_syntax_errors_name_the_line_and_column() {
    let yaml = "apiVersion: spec.keptn.sh/0.2.2\nspec:\n  stages:\n    - name: dev\n   bad: [\n";
    match Shipyard::parse(yaml) {
        Err(ShipyardError::Syntax { line, column, .. }) => {
            assert!(line >= 4, "line {line}");
            assert!(column > 0, "column {column}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    let err = Shipyard::parse(yaml).unwrap_err().to_string();
    assert!(err.starts_with("invalid shipyard YAML at line "), "{err}");
}

#[test]
fn a_version_below_0_2_is_rejected() {
    let yaml = shipyard_with(DEV).replace("spec.keptn.sh/0.2.2", "spec.keptn.sh/0.1.7");
    assert_issue(
        &yaml,
        r#"apiVersion: "spec.keptn.sh/0.1.7" is not supported: shipyards need spec.keptn.sh/0.2.0 or later"#,
    );
    let bare = shipyard_with(DEV).replace("spec.keptn.sh/0.2.2", "0.1.7");
    assert_issue(
        &bare,
        r#"apiVersion: "0.1.7" is not supported: shipyards need spec.keptn.sh/0.2.0 or later"#,
    );
}

#[test]
fn an_unreadable_version_is_rejected() {
    let yaml = shipyard_with(DEV).replace("spec.keptn.sh/0.2.2", "spec.keptn.sh/latest");
    assert_issue(
        &yaml,
        r#"apiVersion: "spec.keptn.sh/latest" is not a shipyard version (expected spec.keptn.sh/0.2.x)"#,
    );
}

#[test]
fn a_document_without_version_or_stages_is_rejected() {
    assert_issue(
        "kind: Shipyard\nspec:\n  stages: []\n",
        "apiVersion: missing",
    );
    assert!(
        Shipyard::parse("")
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert!(
        Shipyard::parse("- a\n- b\n")
            .unwrap_err()
            .to_string()
            .contains("expected a mapping at the top of the shipyard, found a list")
    );
}

#[test]
fn a_shipyard_without_stages_is_rejected() {
    assert_issue(
        &shipyard_with("    []\n").replace("stages:\n    []", "stages: []"),
        "spec.stages: a shipyard needs at least one stage",
    );
    assert_issue(
        "apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\n",
        "spec: missing: a shipyard needs spec.stages",
    );
}

#[test]
fn bad_stage_names_are_rejected() {
    let yaml = shipyard_with(&DEV.replace("name: dev", "name: Dev_1"));
    assert_issue(
        &yaml,
        r#"spec.stages[0].name: "Dev_1" is not a valid stage name (lowercase letters, digits and '-', starting with a letter and not ending with '-')"#,
    );
    let twice = shipyard_with(&format!("{DEV}{DEV}"));
    assert_issue(
        &twice,
        r#"spec.stages[1].name: stage "dev" is declared twice"#,
    );
    let missing = shipyard_with("    - sequences: []\n");
    assert_issue(&missing, "spec.stages[0].name: missing");
}

#[test]
fn bad_sequence_and_task_names_are_rejected() {
    let yaml = shipyard_with(&DEV.replace("name: delivery", "name: my.delivery"));
    assert_issue(
        &yaml,
        r#"spec.stages[0].sequences[0].name: "my.delivery" is not a valid sequence name (letters, digits, '-' and '_')"#,
    );
    let yaml = shipyard_with(&DEV.replace("name: release", "name: \"re lease\""));
    assert_issue(
        &yaml,
        r#"spec.stages[0].sequences[0].tasks[1].name: "re lease" is not a valid task name (letters, digits, '-' and '_')"#,
    );
    let twice = shipyard_with(
        "    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: a}]
        - name: delivery
          tasks: [{name: b}]
",
    );
    assert_issue(
        &twice,
        r#"spec.stages[0].sequences[1].name: sequence "delivery" is declared twice in stage "dev""#,
    );
}

#[test]
fn a_sequence_without_tasks_is_rejected() {
    let yaml = shipyard_with(
        "    - name: dev
      sequences:
        - name: delivery
          tasks: []
",
    );
    assert_issue(
        &yaml,
        r#"spec.stages[0].sequences[0].tasks: sequence "delivery" has no tasks: a sequence needs at least one task"#,
    );
    let absent = shipyard_with("    - name: dev\n      sequences:\n        - name: delivery\n");
    assert_issue(
        &absent,
        r#"spec.stages[0].sequences[0].tasks: sequence "delivery" has no tasks: a sequence needs at least one task"#,
    );
}

fn with_trigger(event: &str) -> String {
    shipyard_with(&format!(
        "{DEV}    - name: staging
      sequences:
        - name: delivery
          triggeredOn:
            - event: \"{event}\"
          tasks:
            - name: deployment
"
    ))
}

#[test]
fn a_trigger_naming_an_unknown_stage_is_rejected() {
    assert_issue(
        &with_trigger("qa.delivery.finished"),
        r#"spec.stages[1].sequences[0].triggeredOn[0].event: "qa.delivery.finished" names the unknown stage "qa""#,
    );
}

#[test]
fn a_trigger_naming_an_unknown_sequence_is_rejected() {
    assert_issue(
        &with_trigger("dev.canary.finished"),
        r#"spec.stages[1].sequences[0].triggeredOn[0].event: "dev.canary.finished" names the unknown sequence "canary" of stage "dev""#,
    );
}

#[test]
fn a_trigger_on_the_builtin_evaluation_sequence_is_accepted() {
    Shipyard::parse(&with_trigger("dev.evaluation.finished")).unwrap();
}

#[test]
fn a_trigger_that_is_not_a_finished_event_is_rejected() {
    for event in ["dev.delivery.triggered", "dev.delivery", "delivery"] {
        assert_issue(
            &with_trigger(event),
            &format!(
                r#"spec.stages[1].sequences[0].triggeredOn[0].event: "{event}" is not of the form <stage>.<sequence>.finished"#
            ),
        );
    }
}

#[test]
fn wrong_types_name_the_field_and_what_was_found() {
    let yaml = shipyard_with(
        "    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties: [1, 2]
            - name: [x]
",
    );
    let found = issues(&yaml);
    assert!(
        found.contains(
            &"spec.stages[0].sequences[0].tasks[0].properties: expected a mapping, found a list"
                .to_owned()
        ),
        "{found:?}"
    );
    assert!(
        found.contains(
            &"spec.stages[0].sequences[0].tasks[1].name: expected a string, found a list"
                .to_owned()
        ),
        "{found:?}"
    );
    let yaml = shipyard_with("    - name: dev\n      sequences: true\n");
    assert_issue(
        &yaml,
        "spec.stages[0].sequences: expected a list, found a boolean",
    );
}

#[test]
fn a_selector_value_must_be_a_string() {
    let yaml = shipyard_with(&format!(
        "{DEV}    - name: staging
      sequences:
        - name: rollback
          triggeredOn:
            - event: dev.delivery.finished
              selector:
                match:
                  result: [fail]
          tasks: [{{name: rollback}}]
"
    ));
    assert_issue(
        &yaml,
        "spec.stages[1].sequences[0].triggeredOn[0].selector.match.result: expected a string, found a list",
    );
}

#[test]
fn a_zero_task_timeout_is_rejected() {
    let yaml = shipyard_with(&DEV.replace(
        "- name: release",
        "- name: release\n              timeout: 0s",
    ));
    assert_issue(
        &yaml,
        "spec.stages[0].sequences[0].tasks[1].timeout: must be greater than zero",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = shipyard_with(
        "    - name: Dev
      sequences:
        - name: delivery
          tasks: []
",
    );
    assert_eq!(issues(&yaml).len(), 2);
}

#[test]
fn unknown_keys_and_unmatchable_selectors_are_warnings() {
    let yaml = shipyard_with(&format!(
        "{DEV}    - name: staging
      sequences:
        - name: rollback
          triggeredon:
            - event: dev.delivery.finished
          triggeredOn:
            - event: dev.delivery.finished
              selector:
                match:
                  result: failed
          tasks: [{{name: rollback}}]
"
    ));
    let parsed = parse_document(&yaml).unwrap();
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "spec.stages[1].sequences[0].triggeredon: unknown key, ignored"
        )),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(&r#"spec.stages[1].sequences[0].triggeredOn[0].selector.match.result: "failed" never matches: results are compared literally with pass, warning or fail"#.to_owned()),
        "{warnings:?}"
    );
}

#[test]
fn a_project_update_may_not_add_remove_or_rename_stages() {
    let current = Shipyard::parse(&shipyard_with(&format!(
        "{DEV}{}",
        DEV.replace("name: dev", "name: prod")
    )))
    .unwrap();
    let reordered = Shipyard::parse(&shipyard_with(&format!(
        "{}{DEV}",
        DEV.replace("name: dev", "name: prod")
    )))
    .unwrap();
    validate_stage_update(&current, &reordered).unwrap();

    let renamed = Shipyard::parse(&shipyard_with(&format!(
        "{DEV}{}",
        DEV.replace("name: dev", "name: production")
    )))
    .unwrap();
    let err = validate_stage_update(&current, &renamed).unwrap_err();
    assert_eq!(
        err,
        ShipyardError::StagesChanged {
            added: vec!["production".into()],
            removed: vec!["prod".into()]
        }
    );
    assert_eq!(
        err.to_string(),
        "unallowed addition/removal of project stages: stages production would be added and \
         stages prod would be removed; stages cannot be added, removed or renamed once a project exists"
    );

    let fewer = Shipyard::parse(&shipyard_with(DEV)).unwrap();
    assert!(matches!(
        validate_stage_update(&current, &fewer),
        Err(ShipyardError::StagesChanged { ref added, ref removed }) if added.is_empty() && removed == &["prod"]
    ));
}
