//! Choosing actions, with Keptn's messages.

use keptn_core::remediation::{
    MatchedBy, RemediationFile, RemediationFileError, RemediationFormat, SelectionError,
    get_action_finished, select_action,
};
use keptn_sdk::event::payload::{GetActionInfo, GetActionTriggered, ProblemDetails};
use keptn_sdk::event::{EventData, KeptnResult, Status};
use serde_json::json;

const EXAMPLE: &str = include_str!("fixtures/remediation.yaml");

const ESCALATION: &str = r#"
apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: carts-remediation
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - {action: scaling, name: scaling, description: Scale up, value: "1"}
        - action: toggle-feature
          name: toggle-feature
          description: Toggle feature flag EnablePromotion to OFF
          value:
            EnablePromotion: "off"
    - problemType: Failure rate increase
      actionsOnOpen:
        - {action: rollback, name: rollback, description: Roll back}
    - problemType: default
      actionsOnOpen:
        - {action: notify, name: notify, description: Tell a human, value: "https://hooks.example.com/x"}
"#;

fn problem(title: &str, root_cause: &str) -> ProblemDetails {
    let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    ProblemDetails {
        problem_title: given(title),
        root_cause: given(root_cause),
        ..ProblemDetails::default()
    }
}

fn file(yaml: &str) -> RemediationFile {
    RemediationFile::parse(yaml.as_bytes()).unwrap()
}

#[test]
fn the_real_example_file_keeps_number_and_string_values() {
    let f = file(EXAMPLE);
    assert_eq!(f.format, RemediationFormat::V014);
    assert_eq!(f.name.as_deref(), Some("carts-remediation"));
    assert_eq!(f.remediations.len(), 2);

    let by_title = select_action(&f, &problem("Response time degradation", ""), 0).unwrap();
    assert_eq!(by_title.matched_by, MatchedBy::ProblemTitle);
    assert_eq!(by_title.action.action.as_deref(), Some("scaling"));
    assert_eq!(by_title.action.description.as_deref(), Some("Scale up"));
    assert_eq!(by_title.action.value, Some(json!(1)));

    let by_root_cause =
        select_action(&f, &problem("High latency", "response_time_p90"), 0).unwrap();
    assert_eq!(by_root_cause.matched_by, MatchedBy::RootCause);
    assert_eq!(by_root_cause.action.value, Some(json!("1")));
    assert_eq!(by_root_cause.problem_type, "response_time_p90");
}

#[test]
fn root_cause_wins_over_title_and_default_comes_last() {
    let f = file(ESCALATION);
    let s = select_action(
        &f,
        &problem("Response time degradation", "Failure rate increase"),
        0,
    )
    .unwrap();
    assert_eq!(
        (s.matched_by, s.action.action.as_deref()),
        (MatchedBy::RootCause, Some("rollback"))
    );
    let s = select_action(
        &f,
        &problem("Response time degradation", "unknown cause"),
        0,
    )
    .unwrap();
    assert_eq!(
        (s.matched_by, s.action.action.as_deref()),
        (MatchedBy::ProblemTitle, Some("scaling"))
    );
    let s = select_action(&f, &problem("Disk full", "unknown cause"), 0).unwrap();
    assert_eq!(
        (s.matched_by, s.action.action.as_deref()),
        (MatchedBy::Default, Some("notify"))
    );
    let s = select_action(&f, &problem("", ""), 0).unwrap();
    assert_eq!(s.matched_by, MatchedBy::Default);
    // 0.1.4 matches exactly: a longer title is another problem.
    let s = select_action(&f, &problem("Response time degradation on carts", ""), 0).unwrap();
    assert_eq!(s.matched_by, MatchedBy::Default);
}

#[test]
fn escalation_walks_the_actions_and_then_stops() {
    let f = file(ESCALATION);
    let p = problem("Response time degradation", "");
    let first = select_action(&f, &p, 0).unwrap();
    assert_eq!(first.next_index(), 1);
    let second = select_action(&f, &p, first.next_index()).unwrap();
    assert_eq!(second.action.action.as_deref(), Some("toggle-feature"));
    assert_eq!(second.action.value, Some(json!({"EnablePromotion": "off"})));
    assert_eq!(second.next_index(), 2);
    let err = select_action(&f, &p, second.next_index()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "there is no action with index 2 for problem title Response time degradation"
    );
    let err = select_action(&f, &problem("x", "y"), -1).unwrap_err();
    assert!(matches!(
        err,
        SelectionError::NoActionAtIndex { index: -1, .. }
    ));
}

#[test]
fn without_a_match_or_default_the_message_names_the_problem() {
    let f = file(EXAMPLE);
    let err = select_action(&f, &problem("Disk full", "disk_usage"), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find action for root cause disk_usage"
    );
    let err = select_action(&f, &problem("Disk full", ""), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find action for problem title Disk full"
    );
    let err = select_action(&f, &problem("", ""), 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find action for problem type default"
    );
}

#[test]
fn the_0_1_3_list_form_matches_title_prefixes() {
    let f = file(
        r#"
remediations:
  - name: Response time degradation
    actions:
      - action: scaling
        value: "+1"
  - name: default
    actions:
      - action: slowdown
"#,
    );
    assert_eq!(f.format, RemediationFormat::V013);
    let s = select_action(&f, &problem("Response time degradation on carts", ""), 0).unwrap();
    assert_eq!(s.matched_by, MatchedBy::ProblemTitle);
    assert_eq!(s.action.name.as_deref(), Some("scaling"));
    assert_eq!(s.action.value, Some(json!("+1")));
    let s = select_action(&f, &problem("CPU saturation", ""), 0).unwrap();
    assert_eq!(s.action.action.as_deref(), Some("slowdown"));
}

#[test]
fn files_that_are_not_remediations_are_rejected() {
    let err = RemediationFile::parse(
        b"apiVersion: spec.keptn.sh/0.1.3\nkind: Remediation\nspec: {remediations: []}",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "remediation.yaml file does not conform to remediation spec spec.keptn.sh/0.1.4 (apiVersion is \"spec.keptn.sh/0.1.3\")"
    );
    assert!(matches!(
        RemediationFile::parse(b"apiVersion: spec.keptn.sh/0.1.4\nkind: Shipyard\nspec: {}"),
        Err(RemediationFileError::Kind(_))
    ));
    assert!(matches!(
        RemediationFile::parse(b"hello: world"),
        Err(RemediationFileError::UnknownFormat)
    ));
    assert!(matches!(
        RemediationFile::parse(b"remediations: [{name: x, actions: [{value: 1}]}]"),
        Err(RemediationFileError::Yaml(_))
    ));
    let err = RemediationFile::parse(b"apiVersion: spec.keptn.sh/0.1.4\nspec: {remediations: [{problemType: '', actionsOnOpen: []}]}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid remediation.yaml: spec.remediations[0].problemType is empty"
    );
}

fn triggered(title: &str, index: Option<i64>) -> GetActionTriggered {
    GetActionTriggered {
        base: EventData::scope("sockshop", "production", "carts"),
        problem: Some(problem(title, "")),
        get_action: index.map(|i| GetActionInfo {
            action_index: Some(i),
        }),
    }
}

#[test]
fn get_action_finished_carries_the_action_and_the_next_index() {
    let data = get_action_finished(
        Some(ESCALATION.as_bytes()),
        &triggered("Response time degradation", Some(1)),
    );
    assert_eq!(
        (data.status, data.result),
        (Status::Succeeded, KeptnResult::Pass)
    );
    assert_eq!(
        serde_json::Value::Object(data.fields),
        json!({
            "action": {"name": "toggle-feature", "action": "toggle-feature",
                       "description": "Toggle feature flag EnablePromotion to OFF",
                       "value": {"EnablePromotion": "off"}},
            "get-action": {"actionIndex": 2}
        })
    );
    let data = get_action_finished(
        Some(ESCALATION.as_bytes()),
        &triggered("Response time degradation", None),
    );
    assert_eq!(data.fields["get-action"], json!({"actionIndex": 1}));
}

#[test]
fn get_action_failures_are_reported_like_keptn() {
    let out_of_range = get_action_finished(
        Some(EXAMPLE.as_bytes()),
        &triggered("Response time degradation", Some(1)),
    );
    assert_eq!(
        (out_of_range.status, out_of_range.result),
        (Status::Succeeded, KeptnResult::Fail)
    );
    assert_eq!(
        out_of_range.message,
        "there is no action with index 1 for problem title Response time degradation"
    );

    let missing = get_action_finished(None, &triggered("x", Some(0)));
    assert_eq!(
        (missing.status, missing.result),
        (Status::Errored, KeptnResult::Fail)
    );
    assert_eq!(
        missing.message,
        "Could not get remediation.yaml file for services carts in stage production."
    );

    let broken = get_action_finished(Some(b"spec: [unclosed"), &triggered("x", Some(0)));
    assert_eq!(
        (broken.status, broken.result),
        (Status::Errored, KeptnResult::Fail)
    );
    assert!(
        broken.message.starts_with(
            "Could not parse remediation.yaml file. Please validate it against the specification."
        ),
        "{}",
        broken.message
    );
}
