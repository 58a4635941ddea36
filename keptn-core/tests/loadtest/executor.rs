//! The executor sends real traffic and measures it.

use std::time::Duration;

use keptn_core::deploy::ServiceScope;
use keptn_core::loadtest::{
    HttpLoadConfig, HttpLoadTester, LoadTestError, TestRequest, Workload, target_uri,
};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::DeploymentInfo;
use tokio_util::sync::CancellationToken;

use super::support::{closed_url, start};

fn request(uri: &str, workload: Workload) -> TestRequest {
    TestRequest {
        scope: ServiceScope::new("sockshop", "staging", "carts").unwrap(),
        deployment: Some("canary".into()),
        keptn_context: Some("ctx-1".into()),
        uri: uri.to_owned(),
        workload,
    }
}

fn tester() -> HttpLoadTester {
    HttpLoadTester::new()
        .unwrap()
        .with_reachability(2, Duration::from_millis(100))
}

#[tokio::test]
async fn functional_checks_pass_when_every_check_holds() {
    let server = start().await;
    let config = HttpLoadConfig::parse(
        b"workloads: [{teststrategy: functional, checks: [{path: /}, {path: /health, expectStatus: [200], bodyContains: ok}]}]",
    )
    .unwrap();
    let workload = config.workload("functional").unwrap().unwrap();
    let run = tester()
        .run(&request(&server.url, workload), &CancellationToken::new())
        .await
        .unwrap();
    assert!(run.passed, "{}", run.message);
    assert_eq!(run.result(), KeptnResult::Pass);
    assert_eq!(run.summary.requests, 2);
    assert_eq!(run.summary.errors, 0);
    assert!(
        run.message
            .starts_with("Tests for functional with status = true"),
        "{}",
        run.message
    );
    assert!(run.start <= run.end);
    let info = run.test_info();
    assert_eq!(info.test_strategy.as_deref(), Some("functional"));
    assert!(info.start.unwrap().ends_with('Z'));
}

#[tokio::test]
async fn functional_checks_fail_on_a_bad_status_or_body() {
    let server = start().await;
    let config = HttpLoadConfig::parse(
        b"workloads: [{teststrategy: functional, checks: [{path: /broken}, {path: /, bodyContains: goodbye}, {path: /health}]}]",
    )
    .unwrap();
    let workload = config.workload("functional").unwrap().unwrap();
    let run = tester()
        .run(&request(&server.url, workload), &CancellationToken::new())
        .await
        .unwrap();
    assert!(!run.passed);
    assert_eq!(run.result(), KeptnResult::Fail);
    assert_eq!((run.summary.requests, run.summary.errors), (3, 2));
    assert!(
        run.message
            .contains("GET /broken answered 500 (expected 2xx)"),
        "{}",
        run.message
    );
    assert!(
        run.message.contains("GET / answered without \"goodbye\""),
        "{}",
        run.message
    );
}

#[tokio::test]
async fn performance_load_records_latencies_and_errors() {
    let server = start().await;
    let mut workload = Workload::load("performance", "/flaky", 4, 100.0, "1s");
    workload.accepted_error_rate = Some(0.2);
    let run = tester()
        .run(
            &request(&server.url, workload.clone()),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let s = &run.summary;
    assert!(
        s.requests > 10 && s.requests <= 100,
        "{} requests",
        s.requests
    );
    assert_eq!(
        s.requests,
        server.flaky_count.load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_eq!(s.errors, s.requests / 10, "every tenth request fails");
    assert!((s.error_rate_percent - s.errors as f64 * 100.0 / s.requests as f64).abs() < 1e-9);
    assert!(
        s.p50_ms.unwrap() >= 20.0,
        "the injected latency is measured: {:?}",
        s.p50_ms
    );
    assert!(s.p99_ms >= s.p95_ms && s.p95_ms >= s.p90_ms && s.p90_ms >= s.p50_ms);
    assert_eq!(
        run.latencies_ms.len() as u64,
        s.requests,
        "errors got a response too"
    );
    assert!(s.throughput > 0.0);
    assert!(run.passed, "{}", run.message);
    assert_eq!(run.deployment.as_deref(), Some("canary"));

    // With a stricter error budget the same traffic fails.
    workload.accepted_error_rate = Some(0.01);
    let run = tester()
        .run(&request(&server.url, workload), &CancellationToken::new())
        .await
        .unwrap();
    assert!(!run.passed);
    assert!(
        run.message.contains("is above the accepted 1.00%"),
        "{}",
        run.message
    );
}

#[tokio::test]
async fn mean_response_time_validation_fails_slow_services() {
    let server = start().await;
    let mut workload = Workload::load("performance", "/slow", 2, 20.0, "1s");
    workload.avg_rt_validation_ms = 100;
    let run = tester()
        .run(&request(&server.url, workload), &CancellationToken::new())
        .await
        .unwrap();
    assert!(!run.passed);
    assert!(
        run.message.contains("mean response time"),
        "{}",
        run.message
    );
}

#[tokio::test]
async fn an_unreachable_uri_fails_without_traffic() {
    let workload = Workload::functional("functional", &["/"]);
    let run = tester()
        .run(&request(&closed_url(), workload), &CancellationToken::new())
        .await
        .unwrap();
    assert!(!run.passed);
    assert_eq!(run.summary.requests, 0);
    assert!(
        run.message.starts_with("cannot reach URL"),
        "{}",
        run.message
    );
}

#[tokio::test]
async fn cancellation_stops_a_long_load() {
    let server = start().await;
    let workload = Workload::load("performance", "/", 2, 10.0, "60s");
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        tester().run(&request(&server.url, workload), &cancel),
    )
    .await
    .expect("the run stops soon after the cancellation");
    assert!(matches!(result, Err(LoadTestError::Cancelled)));
}

#[test]
fn the_target_is_the_first_local_uri_else_the_public_one() {
    let mut info = DeploymentInfo {
        deployment_uris_public: Some(vec!["http://public".into()]),
        ..DeploymentInfo::default()
    };
    assert_eq!(target_uri(&info).unwrap(), "http://public");
    info.deployment_uris_local = Some(vec!["http://local:8080".into()]);
    assert_eq!(target_uri(&info).unwrap(), "http://local:8080");
    let err = target_uri(&DeploymentInfo::default()).unwrap_err();
    assert_eq!(err.to_string(), "no deployment URI included in event");
}

#[tokio::test]
async fn invalid_uris_are_rejected() {
    let err = tester()
        .run(
            &request("ftp://x", Workload::functional("functional", &["/"])),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LoadTestError::Uri { .. }), "{err}");
}
