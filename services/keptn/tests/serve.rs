//! `keptn serve` as a real process, driven by the real CLI.

mod support;

use std::time::Duration;

use support::{Server, eventually, example};

#[test]
fn the_sockshop_project_is_created_used_and_deleted_through_the_cli() {
    let server = Server::start();
    let shipyard = example("shipyard-sockshop.yaml");
    let out = server.keptn_ok(&[
        "create",
        "project",
        "sockshop",
        "--shipyard",
        shipyard.to_str().unwrap(),
    ]);
    assert!(out.contains("Project sockshop created"), "{out}");
    server.keptn_ok(&["create", "service", "carts", "--project", "sockshop"]);
    let slo = example("slo-quality-gates.yaml");
    server.keptn_ok(&[
        "add-resource",
        "--project",
        "sockshop",
        "--all-stages",
        "--service",
        "carts",
        "--resource",
        slo.to_str().unwrap(),
        "--resourceUri",
        "slo.yaml",
    ]);
    let stages = server.keptn_ok(&["get", "stages", "--project", "sockshop"]);
    assert!(stages.contains("production"), "{stages}");
    let json = server.keptn_ok(&["get", "project", "sockshop", "-o", "json"]);
    let projects: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(projects[0]["projectName"], "sockshop");

    let out = server.keptn(&[
        "create",
        "project",
        "sockshop",
        "--shipyard",
        shipyard.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already exists"),
        "the API's message is shown: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    server.keptn_ok(&["delete", "project", "sockshop"]);
    let out = server.keptn(&["get", "project", "sockshop"]);
    assert!(!out.status.success());
}

#[test]
fn a_restart_keeps_projects_events_and_unfinished_sequences() {
    let mut server = Server::start();
    // A task no service executes keeps the sequence unfinished (keptn serve answers
    // deployment, test, release and rollback itself).
    let shipyard = server.data_dir.with_file_name("shipyard-unanswered.yaml");
    std::fs::write(
        &shipyard,
        "apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\nmetadata: {name: s}\nspec:\n  stages:\n    - name: dev\n      sequences:\n        - name: delivery\n          tasks:\n            - name: manual-check\n",
    )
    .unwrap();
    server.keptn_ok(&[
        "create",
        "project",
        "sockshop",
        "--shipyard",
        shipyard.to_str().unwrap(),
    ]);
    server.keptn_ok(&["create", "service", "carts", "--project", "sockshop"]);
    let context = server.deliver_carts("docker.io/keptnexamples/carts:0.13.1");
    let token = server.token.clone();
    assert_eq!(server.stop(), Some(0), "SIGTERM ends keptn serve with 0");
    server.launch(&[]);
    assert_eq!(
        server.token, token,
        "the token is kept in the data directory"
    );
    let sequences = eventually(
        "the sequence after the restart",
        Duration::from_secs(10),
        || {
            let out =
                server.keptn_ok(&["get", "sequence", "--project", "sockshop", "-c", &context]);
            out.contains("delivery").then_some(out)
        },
    );
    assert!(sequences.contains("started"), "{sequences}");
    let events = server.keptn_ok(&[
        "get",
        "event",
        "sh.keptn.event.dev.delivery.triggered",
        "--project",
        "sockshop",
        "--keptn-context",
        &context,
    ]);
    assert!(events.contains(&context), "{events}");
}
