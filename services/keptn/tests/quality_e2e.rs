//! Quality gates end to end: `keptn serve` as a real process, driven by the real CLI.
//!
//! The SLI source is the `builtin` provider reading load-test results that the test writes
//! into its store (`<data-dir>/services/http-load/results`), as the http-load executor does;
//! one test uses the `prometheus` provider against a real Prometheus.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use keptn_core::loadtest::{FileLoadTestResults, LoadTestResults, LoadTestRun, Summary};
use keptn_core::services::load_test_results_dir;
use keptn_sdk::client::{ApiClient, ResourceScope};
use serde_json::Value;
use support::{Server, eventually};

const PROJECT: &str = "shop";
const WAIT: Duration = Duration::from_secs(60);

const QUALITY_GATES: &str = "apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: quality-gates}
spec:
  stages:
    - name: dev
";

const DELIVERY: &str = "apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: gated-delivery}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: evaluation
              properties: {timeframe: 10m}
            - name: approval
              properties: {pass: manual, warning: manual}
            - name: wait
              properties: {duration: 1s}
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks:
            - name: wait
              properties: {duration: 1s}
";

/// Response time p95 below `pass_below` passes, up to 800 warns; error rate at most 1 %;
/// throughput is informational.
fn slo(pass_below: u32) -> String {
    format!(
        r#"spec_version: "1.0"
comparison: {{compare_with: single_result, include_result_with_score: all}}
objectives:
  - sli: response_time_p95
    displayName: Response time P95
    pass: [{{criteria: ["<{pass_below}"]}}]
    warning: [{{criteria: ["<=800"]}}]
  - sli: error_rate
    pass: [{{criteria: ["<=1"]}}]
  - sli: throughput
total_score: {{pass: "90%", warning: "75%"}}
"#
    )
}

/// A scratch directory for the files the CLI uploads.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A project with `shipyard`, the service `carts`, its `slo.yaml` in `dev`, and the `builtin`
/// SLI provider configured through the CLI.
fn project(server: &Server, files: &Files, shipyard: &str, slo_yaml: &str) {
    let shipyard = files.write("shipyard.yaml", shipyard);
    server.keptn_ok(&["create", "project", PROJECT, "--shipyard", path(&shipyard)]);
    server.keptn_ok(&["create", "service", "carts", "--project", PROJECT]);
    let slo = files.write("slo.yaml", slo_yaml);
    server.keptn_ok(&[
        "add-resource",
        "--project",
        PROJECT,
        "--stage",
        "dev",
        "--service",
        "carts",
        "--resource",
        path(&slo),
        "--resourceUri",
        "slo.yaml",
    ]);
    configure_monitoring(server, "builtin");
}

/// `keptn configure monitoring <provider>`, then waits until the lighthouse has written it into
/// the project's `lighthouse-config.yaml`.
fn configure_monitoring(server: &Server, provider: &str) {
    let out = server.keptn_ok(&["configure", "monitoring", provider, "--project", PROJECT]);
    assert!(
        out.contains(&format!("Monitoring provider {provider} configured")),
        "{out}"
    );
    let expected = format!("sli-provider: {provider}\n");
    eventually("the SLI provider configuration", WAIT, || {
        (project_resource(server, "lighthouse-config.yaml").as_deref() == Some(&expected))
            .then_some(())
    });
}

/// A project resource read through the API.
fn project_resource(server: &Server, uri: &str) -> Option<String> {
    let client = ApiClient::new(&server.endpoint, Some(server.token.clone())).unwrap();
    let scope = ResourceScope::Project {
        project: PROJECT.to_owned(),
    };
    let found = runtime()
        .block_on(client.resource(&scope, uri, None))
        .unwrap();
    found.map(|(_, bytes)| String::from_utf8(bytes).unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Stores a load-test run of `carts` in `dev` that ended a minute ago: one request per
/// latency, `errors` failed requests, over 10 seconds.
fn load_test(server: &Server, latencies: &[f64], errors: u64) {
    let end = Utc::now() - TimeDelta::minutes(1);
    let start = end - TimeDelta::seconds(10);
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let requests = latencies.len() as u64 + errors;
    let run = LoadTestRun {
        id: uuid::Uuid::new_v4().to_string(),
        project: PROJECT.into(),
        stage: "dev".into(),
        service: "carts".into(),
        deployment: None,
        keptn_context: None,
        strategy: "performance".into(),
        uri: "http://127.0.0.1:1/".into(),
        start,
        end,
        passed: true,
        message: String::new(),
        summary: Summary::from_parts(&sorted, requests, errors, 10.0),
        latencies_ms: sorted,
    };
    let store = FileLoadTestResults::new(load_test_results_dir(&server.data_dir));
    runtime().block_on(store.record(&run)).unwrap();
}

fn context_of(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Keptn context: "))
        .unwrap_or_else(|| panic!("no Keptn context in {out}"))
        .to_owned()
}

/// `keptn get event <type> --project shop --keptn-context <ctx> -o json`.
fn events(server: &Server, event_type: &str, context: &str) -> Vec<Value> {
    let out = server.keptn_ok(&[
        "get",
        "event",
        event_type,
        "--project",
        PROJECT,
        "--keptn-context",
        context,
        "-o",
        "json",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Waits for the first event of a type in a context.
fn wait_event(server: &Server, event_type: &str, context: &str) -> Value {
    eventually(&format!("{event_type} in {context}"), WAIT, || {
        events(server, event_type, context).into_iter().next()
    })
}

fn trigger_evaluation(server: &Server) -> String {
    let out = server.keptn_ok(&[
        "trigger",
        "evaluation",
        "--project",
        PROJECT,
        "--stage",
        "dev",
        "--service",
        "carts",
        "--timeframe",
        "10m",
    ]);
    context_of(&out)
}

fn trigger_delivery(server: &Server) -> String {
    let out = server.keptn_ok(&[
        "trigger",
        "delivery",
        "--project",
        PROJECT,
        "--service",
        "carts",
        "--image",
        "docker.io/keptnexamples/carts:0.13.1",
    ]);
    context_of(&out)
}

#[test]
fn an_evaluation_triggered_through_the_cli_returns_the_expected_score() {
    let server = Server::start();
    let files = Files::new();
    project(&server, &files, QUALITY_GATES, &slo(300));
    // p95 380 ms (nearest rank of 20..400): warning, half the weight; no errors: pass;
    // throughput: informational.
    let latencies: Vec<f64> = (1..=20).map(|i| f64::from(i) * 20.0).collect();
    load_test(&server, &latencies, 0);

    let context = trigger_evaluation(&server);
    let finished = wait_event(&server, "evaluation.finished", &context);
    assert_eq!(finished["source"], "lighthouse-service");
    let data = &finished["data"];
    assert_eq!(data["result"], "warning", "{data}");
    assert_eq!(data["evaluation"]["score"], 75.0);
    assert_eq!(
        data["message"],
        "Evaluation returned a warning: the calculated score of 75 is close to the warning target value of 75"
    );
    let results = data["evaluation"]["indicatorResults"].as_array().unwrap();
    let summary: Vec<(String, String, f64)> = results
        .iter()
        .map(|r| {
            (
                r["value"]["metric"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["value"]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("response_time_p95".to_owned(), "warning".to_owned(), 380.0),
            ("error_rate".to_owned(), "pass".to_owned(), 0.0),
            ("throughput".to_owned(), "info".to_owned(), 2.0),
        ]
    );
    let started = wait_event(&server, "evaluation.started", &context);
    assert_eq!(started["source"], "lighthouse-service");
    let get_sli = wait_event(&server, "get-sli.finished", &context);
    assert_eq!(get_sli["source"], "builtin-sli-provider");
    let sequence = wait_event(&server, "dev.evaluation.finished", &context);
    assert_eq!(sequence["data"]["result"], "warning");
}

#[test]
fn a_stage_whose_evaluation_fails_stops_the_delivery() {
    let server = Server::start();
    let files = Files::new();
    project(&server, &files, DELIVERY, &slo(50));
    // p95 above the warning criterion: 0 of 2 points for latency, 1 for errors: 50 %.
    load_test(&server, &[900.0, 1000.0], 0);

    let context = trigger_delivery(&server);
    let evaluation = wait_event(&server, "evaluation.finished", &context);
    assert_eq!(evaluation["data"]["result"], "fail");
    let dev = wait_event(&server, "dev.delivery.finished", &context);
    assert_eq!(dev["data"]["result"], "fail");
    std::thread::sleep(Duration::from_secs(1));
    for absent in [
        "approval.triggered",
        "wait.triggered",
        "staging.delivery.triggered",
    ] {
        assert!(
            events(&server, absent, &context).is_empty(),
            "{absent} after a failed evaluation"
        );
    }
}

/// `keptn get event approval.triggered --project shop --stage dev -o json`: the open approvals.
fn open_approvals(server: &Server) -> Vec<Value> {
    let out = server.keptn_ok(&[
        "get",
        "event",
        "approval.triggered",
        "--project",
        PROJECT,
        "--stage",
        "dev",
        "-o",
        "json",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_manual_approval_waits_is_listed_and_approved_through_the_cli() {
    let server = Server::start();
    let files = Files::new();
    project(&server, &files, DELIVERY, &slo(600));
    load_test(&server, &[100.0, 200.0], 0);

    let context = trigger_delivery(&server);
    let started = wait_event(&server, "approval.started", &context);
    assert_eq!(
        started["data"]["message"],
        "Approval strategy for result 'pass': manual"
    );
    let open = eventually("the open approval", WAIT, || {
        let open = open_approvals(&server);
        (!open.is_empty()).then_some(open)
    });
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["shkeptncontext"], context.as_str());

    // The waiting sequence blocks no other: an evaluation of the same service runs through.
    let other = trigger_evaluation(&server);
    let other_end = wait_event(&server, "dev.evaluation.finished", &other);
    assert_eq!(other_end["data"]["result"], "pass");
    assert!(events(&server, "wait.triggered", &context).is_empty());

    let out = server.keptn_ok(&[
        "send",
        "event",
        "approval.finished",
        "--project",
        PROJECT,
        "--stage",
        "dev",
        "--service",
        "carts",
    ]);
    assert!(out.contains("approved"), "{out}");
    let wait = wait_event(&server, "wait.finished", &context);
    assert_eq!(wait["data"]["message"], "waited 1s");
    let dev = wait_event(&server, "dev.delivery.finished", &context);
    assert_eq!(dev["data"]["result"], "pass");
    let staging = wait_event(&server, "staging.delivery.finished", &context);
    assert_eq!(staging["data"]["result"], "pass");
    assert!(open_approvals(&server).is_empty());
}

#[test]
fn a_declined_approval_stops_the_delivery() {
    let server = Server::start();
    let files = Files::new();
    project(&server, &files, DELIVERY, &slo(600));
    load_test(&server, &[100.0, 200.0], 0);

    let context = trigger_delivery(&server);
    let approval = eventually("the open approval", WAIT, || {
        open_approvals(&server).into_iter().next()
    });
    let id = approval["id"].as_str().unwrap();
    let out = server.keptn_ok(&[
        "send",
        "event",
        "approval.finished",
        "--project",
        PROJECT,
        "--stage",
        "dev",
        "--id",
        id,
        "--decline",
    ]);
    assert!(out.contains("declined"), "{out}");
    let dev = wait_event(&server, "dev.delivery.finished", &context);
    assert_eq!(dev["data"]["result"], "fail");
    std::thread::sleep(Duration::from_secs(1));
    assert!(events(&server, "wait.triggered", &context).is_empty());
    assert!(events(&server, "staging.delivery.triggered", &context).is_empty());
}

#[test]
fn an_invalidated_evaluation_is_left_out_of_the_next_comparison() {
    let server = Server::start();
    let files = Files::new();
    project(&server, &files, QUALITY_GATES, &slo(600));
    load_test(&server, &[100.0], 0);

    let evaluate = || {
        let context = trigger_evaluation(&server);
        let finished = wait_event(&server, "evaluation.finished", &context);
        (context, finished)
    };
    let (_, first) = evaluate();
    let (second_context, second) = evaluate();
    assert_eq!(
        second["data"]["evaluation"]["comparedEvents"],
        serde_json::json!([first["id"]])
    );

    // Ignore the second evaluation for comparisons, as the Bridge's button does.
    let invalidation = files.write(
        "invalidate.json",
        &serde_json::json!({
            "specversion": "1.0",
            "type": "sh.keptn.event.evaluation.invalidated",
            "source": "e2e-test",
            "shkeptncontext": second_context,
            "triggeredid": second["triggeredid"],
            "data": {"project": PROJECT, "stage": "dev", "service": "carts"}
        })
        .to_string(),
    );
    server.keptn_ok(&["send", "event", "--file", path(&invalidation)]);
    wait_event(&server, "evaluation.invalidated", &second_context);

    let (_, third) = evaluate();
    assert_eq!(
        third["data"]["evaluation"]["comparedEvents"],
        serde_json::json!([first["id"]]),
        "the invalidated evaluation is not compared with"
    );
}

#[test]
fn the_prometheus_provider_is_configured_and_queried_through_the_cli() {
    use keptn_testkit::PrometheusServer;

    // An exporter for Prometheus to scrape.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let body = "# TYPE shop_latency_p95_ms gauge\nshop_latency_p95_ms{service=\"carts\",stage=\"dev\"} 321\n";
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let prometheus = PrometheusServer::start(&[target])
        .expect("a real Prometheus: apt-get install prometheus (scripts/install-test-deps.sh)");
    eventually("prometheus scraping the exporter", WAIT, || {
        let answer = http_get(prometheus.port(), "/api/v1/query?query=shop_latency_p95_ms")?;
        answer.contains("\"321\"").then_some(())
    });

    let server = Server::start();
    let files = Files::new();
    project(&server, &files, QUALITY_GATES, &slo(600));
    configure_monitoring(&server, "prometheus");
    let config = files.write("config.yaml", &format!("url: {}\n", prometheus.url()));
    server.keptn_ok(&[
        "add-resource",
        "--project",
        PROJECT,
        "--resource",
        path(&config),
        "--resourceUri",
        "prometheus/config.yaml",
    ]);
    let sli = files.write(
        "sli.yaml",
        "spec_version: '1.0'\nindicators:\n  response_time_p95: max(shop_latency_p95_ms{service=\"$SERVICE\",stage=\"$STAGE\"})\n  error_rate: vector(0)\n  throughput: scalar(vector(12))\n",
    );
    server.keptn_ok(&[
        "add-resource",
        "--project",
        PROJECT,
        "--stage",
        "dev",
        "--service",
        "carts",
        "--resource",
        path(&sli),
        "--resourceUri",
        "sli.yaml",
    ]);
    let context = trigger_evaluation(&server);
    let get_sli = wait_event(&server, "get-sli.finished", &context);
    assert_eq!(get_sli["source"], "prometheus-service");
    let finished = wait_event(&server, "evaluation.finished", &context);
    let data = &finished["data"];
    assert_eq!(data["result"], "pass", "{data}");
    let values: Vec<f64> = data["evaluation"]["indicatorResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"]["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [321.0, 0.0, 12.0]);
}

/// `GET <path>` on `127.0.0.1:<port>` (HTTP/1.0); the whole answer, headers included.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}
