//! Deliveries and remediations end to end: `keptn serve` with its real execution plane (the
//! local deployer running the demo service, http-load), driven by the real CLI.
//!
//! The quality gate is the lighthouse with the `builtin` SLI provider. On a server without
//! them, [`QualityStandIn`] answers evaluations and approvals from the same libraries; on a
//! server with them it starts nothing.

mod support;

use std::path::Path;
use std::time::Duration;

use support::http::{WebhookReceiver, demo_version};
use support::quality_stand_in::QualityStandIn;
use support::{
    GracefulServer, Server, context_of, demo_run_config, eventually, example, processes_with,
};

/// p95 within 300 ms (fast versions answer in ~2 ms, slow ones in ~400 ms), no errors.
const SLO: &str = r#"spec_version: "1.0"
comparison:
  compare_with: single_result
  include_result_with_score: pass
  aggregate_function: avg
objectives:
  - sli: response_time_p95
    displayName: Response time P95
    pass:
      - criteria: ["<=300"]
  - sli: error_rate
    displayName: Error rate
    pass:
      - criteria: ["<=1"]
total_score:
  pass: "90%"
  warning: "75%"
"#;

const HTTP_LOAD: &str = r#"workloads:
  - teststrategy: functional
    checks:
      - path: /
      - path: /health
        expectStatus: [200]
        bodyContains: ok
  - teststrategy: performance
    path: /
    concurrency: 4
    rate: 20
    duration: 2s
"#;

fn onboard(server: &Server, project: &str, shipyard: &Path, run_config: &str, slo_stages: &[&str]) {
    server.keptn_ok(&[
        "create",
        "project",
        project,
        "--shipyard",
        shipyard.to_str().unwrap(),
    ]);
    server.keptn_ok(&["create", "service", "carts", "--project", project]);
    server.add_resource(project, None, "carts", "local/deploy.yaml", run_config);
    server.add_resource(project, None, "carts", "http-load/config.yaml", HTTP_LOAD);
    for stage in slo_stages {
        server.add_resource(project, Some(stage), "carts", "slo.yaml", SLO);
    }
    server.keptn_ok(&["configure", "monitoring", "builtin", "--project", project]);
}

fn results(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["data"]["result"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Triggers a delivery of carts 0.13.1 and waits until it is deployed in dev; returns its
/// keptn context.
fn deliver_carts_to_dev(server: &Server) -> String {
    let context = server.deliver_carts("carts:0.13.1");
    await_event(
        server,
        "the deployment in dev",
        "deployment.finished",
        "dev",
        &context,
        30,
    );
    context
}

/// Waits up to `secs` seconds (failing with `what`) for an `event_type` event of `context` in
/// `stage` of sockshop.
fn await_event(
    server: &Server,
    what: &str,
    event_type: &str,
    stage: &str,
    context: &str,
    secs: u64,
) {
    eventually(what, Duration::from_secs(secs), || {
        let events = server.events(event_type, "sockshop", Some(stage), Some(context));
        (!events.is_empty()).then_some(())
    });
}

#[test]
fn the_sockshop_delivery_reaches_production_and_a_slow_version_is_stopped_in_staging() {
    let mut server = GracefulServer::start();
    let stand_in =
        QualityStandIn::start_if_missing(&server.endpoint, &server.token, &server.data_dir);
    // A flag file that never exists: it marks this test's processes.
    let marker = server.data_dir.with_file_name("never-slow");
    let marker = marker.to_str().unwrap().to_owned();
    onboard(
        &server,
        "sockshop",
        &example("shipyard-sockshop.yaml"),
        &demo_run_config(&["--slow-while", &marker]),
        &["staging", "production"],
    );

    let out = server.keptn(&[
        "trigger",
        "delivery",
        "--project",
        "sockshop",
        "--service",
        "carts",
        "--image",
        "docker.io/keptnexamples/carts:0.13.1",
        "--watch",
        "--watch-time",
        "3m",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the good version is delivered: {stdout}"
    );
    let good = context_of(&stdout);
    assert!(
        stdout.contains("production.delivery finished: result pass"),
        "{stdout}"
    );
    let staging_eval = server.events(
        "evaluation.finished",
        "sockshop",
        Some("staging"),
        Some(&good),
    );
    assert_eq!(results(&staging_eval), ["pass"], "{staging_eval:?}");
    let staging = server.deployment_uri("sockshop", "staging");
    let production = server.deployment_uri("sockshop", "production");
    assert_ne!(staging, production);
    assert_eq!(demo_version(&production).0, "0.13.1");
    assert_eq!(demo_version(&staging).0, "0.13.1");

    let out = server.keptn(&[
        "trigger",
        "delivery",
        "--project",
        "sockshop",
        "--service",
        "carts",
        "--image",
        "docker.io/keptnexamples/carts:0.13.2-slow",
        "--watch",
        "--watch-time",
        "3m",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the slow delivery fails: {stdout}"
    );
    let slow = context_of(&stdout);
    assert!(
        stdout.contains("staging.delivery finished: result fail"),
        "{stdout}"
    );
    let evaluation = server.events(
        "evaluation.finished",
        "sockshop",
        Some("staging"),
        Some(&slow),
    );
    assert_eq!(
        results(&evaluation),
        ["fail"],
        "the quality gate stops it: {evaluation:?}"
    );
    let rollback = eventually("the rollback in staging", Duration::from_secs(30), || {
        let events = server.events(
            "rollback.finished",
            "sockshop",
            Some("staging"),
            Some(&slow),
        );
        (!events.is_empty()).then_some(events)
    });
    assert_eq!(results(&rollback), ["pass"], "{rollback:?}");
    assert!(
        server
            .events(
                "deployment.triggered",
                "sockshop",
                Some("production"),
                Some(&slow)
            )
            .is_empty(),
        "production never gets the slow version"
    );
    assert_eq!(
        demo_version(&staging).0,
        "0.13.1",
        "staging serves the good version again after the rollback"
    );
    assert_eq!(demo_version(&production).0, "0.13.1");

    drop(stand_in);
    assert_eq!(server.stop(), Some(0));
    assert_eq!(
        processes_with(&marker),
        Vec::<u32>::new(),
        "keptn serve stopped every service process"
    );
}

const REMEDIATION_SHIPYARD: &str = r#"apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: remediation-e2e
spec:
  stages:
    - name: production
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties:
                deploymentstrategy: direct
            - name: release
        - name: remediation
          triggeredOn:
            - event: production.remediation.finished
              selector:
                match:
                  evaluation.result: fail
          tasks:
            - name: get-action
            - name: action
            - name: test
              properties:
                teststrategy: performance
            - name: evaluation
"#;

fn remediation_file(webhook: &str) -> String {
    format!(
        r#"apiVersion: spec.keptn.sh/0.1.4
kind: Remediation
metadata:
  name: carts-remediation
spec:
  remediations:
    - problemType: Response time degradation
      actionsOnOpen:
        - name: scaling
          action: scaling
          description: Scale up
          value: 1
        - name: toggle-feature
          action: toggle-feature
          description: Toggle feature flag EnablePromotion to OFF
          value:
            url: "{webhook}"
            EnablePromotion: "off"
"#
    )
}

#[test]
fn a_remediation_escalates_to_the_second_action_when_the_first_does_not_help() {
    let mut server = GracefulServer::start();
    let stand_in =
        QualityStandIn::start_if_missing(&server.endpoint, &server.token, &server.data_dir);
    // While this file exists the service is slow: scaling does not help, the feature toggle
    // (a webhook that removes it) does.
    let flag = server.data_dir.with_file_name("enable-promotion");
    std::fs::write(&flag, "on").unwrap();
    let flag_to_remove = flag.clone();
    let receiver = WebhookReceiver::start(move || {
        let _ = std::fs::remove_file(&flag_to_remove);
    });
    let shipyard = server.data_dir.with_file_name("shipyard-remediation.yaml");
    std::fs::write(&shipyard, REMEDIATION_SHIPYARD).unwrap();
    onboard(
        &server,
        "rem",
        &shipyard,
        &demo_run_config(&["--slow-while", flag.to_str().unwrap()]),
        &["production"],
    );
    server.add_resource(
        "rem",
        Some("production"),
        "carts",
        "remediation.yaml",
        &remediation_file(&receiver.url),
    );
    let out = server.keptn(&[
        "trigger",
        "delivery",
        "--project",
        "rem",
        "--service",
        "carts",
        "--image",
        "carts:1.0.0",
        "--watch",
        "--watch-time",
        "2m",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = server.keptn_ok(&[
        "trigger",
        "remediation",
        "--project",
        "rem",
        "--stage",
        "production",
        "--service",
        "carts",
        "--problem-title",
        "Response time degradation",
    ]);
    let context = context_of(&out);
    let finished = eventually(
        "two remediation iterations",
        Duration::from_secs(120),
        || {
            let events = server.events(
                "sh.keptn.event.production.remediation.finished",
                "rem",
                None,
                Some(&context),
            );
            (events.len() >= 2).then_some(events)
        },
    );
    assert_eq!(results(&finished), ["pass", "fail"], "newest first");

    let actions = server.events("action.finished", "rem", None, Some(&context));
    let sources: Vec<&str> = actions
        .iter()
        .map(|e| e["source"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        sources,
        ["webhook-service", "local-deployer"],
        "{actions:?}"
    );
    assert_eq!(results(&actions), ["pass", "pass"]);
    let evaluations = server.events("evaluation.finished", "rem", None, Some(&context));
    assert_eq!(results(&evaluations), ["pass", "fail"], "{evaluations:?}");
    let triggered = server.events("action.triggered", "rem", None, Some(&context));
    let chosen: Vec<&str> = triggered
        .iter()
        .map(|e| e["data"]["action"]["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(chosen, ["toggle-feature", "scaling"]);

    let calls = receiver.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("toggle-feature"), "{}", calls[0]);
    assert!(!flag.exists(), "the webhook switched the feature off");

    let uri = server.deployment_uri("rem", "production");
    let pids: std::collections::HashSet<u64> = (0..6).map(|_| demo_version(&uri).1).collect();
    assert_eq!(pids.len(), 2, "the scaling action added a replica");

    drop(stand_in);
    assert_eq!(server.stop(), Some(0));
    let marker = flag.to_str().unwrap();
    assert_eq!(processes_with(marker), Vec::<u32>::new());
}

#[test]
fn serve_with_the_helm_deployer_answers_deployments_as_helm_service() {
    let mut server = GracefulServer::start();
    assert!(server.services().contains("local-deployer"));
    server.stop();
    server.launch(&["--deployer", "helm", "--helm", "/nonexistent/helm"]);
    let services = server.services();
    assert!(services.contains("helm-service"), "{services}");
    assert!(!services.contains("local-deployer"), "{services}");

    server.keptn_ok(&[
        "create",
        "project",
        "sockshop",
        "--shipyard",
        example("shipyard-sockshop.yaml").to_str().unwrap(),
    ]);
    server.keptn_ok(&["create", "service", "carts", "--project", "sockshop"]);
    let context = server.deliver_carts("carts:0.13.1");
    let finished = eventually(
        "the helm deployment's answer",
        Duration::from_secs(30),
        || {
            let events = server.events("deployment.finished", "sockshop", None, Some(&context));
            (!events.is_empty()).then_some(events)
        },
    );
    assert_eq!(finished[0]["source"], "helm-service");
    assert_eq!(
        finished[0]["data"]["status"], "errored",
        "no chart, no helm"
    );
    let message = finished[0]["data"]["message"].as_str().unwrap_or("");
    assert!(message.contains("helm"), "{message}");
}

#[test]
fn processes_that_outlive_a_crashed_server_are_adopted_by_the_next_start() {
    let mut server = GracefulServer::start();
    let marker = server.data_dir.with_file_name("never-slow");
    let marker = marker.to_str().unwrap().to_owned();
    onboard(
        &server,
        "sockshop",
        &example("shipyard-sockshop.yaml"),
        &demo_run_config(&["--slow-while", &marker]),
        &[],
    );
    deliver_carts_to_dev(&server);
    let uri = server.deployment_uri("sockshop", "dev");
    let (_, pid) = demo_version(&uri);

    server.kill();
    // The delivery may have reached staging by now, which runs its own instance; what matters is
    // that the dev instance outlived the crash.
    assert!(
        processes_with(&marker).iter().any(|p| u64::from(*p) == pid),
        "a crash cannot stop the service process"
    );
    server.launch(&[]);
    let (version, adopted) = demo_version(&uri);
    assert_eq!(version, "0.13.1");
    assert_eq!(
        adopted, pid,
        "the running process is adopted, not restarted"
    );

    assert_eq!(server.stop(), Some(0));
    assert_eq!(processes_with(&marker), Vec::<u32>::new());
}

/// Restarts `keptn serve` while a delivery runs (gracefully, then with SIGKILL) and checks that
/// the delivery still reaches production with every task triggered once.
#[test]
fn a_delivery_survives_restarts_of_the_server_and_runs_each_task_once() {
    let mut server = GracefulServer::start();
    onboard(
        &server,
        "sockshop",
        &example("shipyard-sockshop.yaml"),
        &demo_run_config(&[]),
        &["staging"],
    );
    let context = deliver_carts_to_dev(&server);
    assert_eq!(server.stop(), Some(0), "SIGTERM mid-sequence exits 0");
    server.launch(&[]);
    await_event(
        &server,
        "the delivery in staging",
        "deployment.triggered",
        "staging",
        &context,
        60,
    );
    server.kill();
    server.launch(&[]);
    let finished = eventually(
        "the delivery in production",
        Duration::from_secs(90),
        || {
            let done = server.events(
                "sh.keptn.event.production.delivery.finished",
                "sockshop",
                Some("production"),
                Some(&context),
            );
            done.into_iter().next()
        },
    );
    assert_eq!(finished["data"]["result"], "pass", "{finished}");
    for task in ["deployment", "test", "evaluation", "release"] {
        for stage in ["dev", "staging"] {
            let triggered = server.events(
                &format!("{task}.triggered"),
                "sockshop",
                Some(stage),
                Some(&context),
            );
            assert_eq!(triggered.len(), 1, "{task} in {stage} was triggered once");
        }
    }
}
