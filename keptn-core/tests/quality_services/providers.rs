//! The SLI providers: `builtin` over stored test runs, `prometheus` against a real Prometheus.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use keptn_core::loadtest::{LoadTestResults, MemoryLoadTestResults};
use keptn_core::quality::{QueryContext, Timeframe};
use keptn_core::services::quality::{BuiltinSliProvider, SliProvider, SliRequest};

use super::support::*;

fn request(deployment: &str, indicators: &[&str]) -> SliRequest {
    let timeframe = Timeframe {
        start: Utc::now() - TimeDelta::minutes(10),
        end: Utc::now(),
    };
    SliRequest {
        query: QueryContext {
            project: PROJECT.into(),
            stage: "dev".into(),
            service: SERVICE.into(),
            deployment: deployment.into(),
            timeframe: Some(timeframe),
            ..QueryContext::default()
        },
        timeframe,
        indicators: indicators.iter().map(|s| (*s).to_owned()).collect(),
        git_commit: None,
    }
}

#[tokio::test]
async fn builtin_measures_the_runs_of_the_deployment_in_the_timeframe() {
    let results = Arc::new(MemoryLoadTestResults::new());
    let end = Utc::now() - TimeDelta::minutes(1);
    let start = end - TimeDelta::seconds(10);
    let runs = [
        (Some("canary"), vec![100.0, 110.0]),
        (Some("primary"), vec![900.0]),
        (None, vec![120.0]),
    ];
    for (deployment, latencies) in runs {
        let mut run = load_test_run("dev", &latencies, 0, start, end);
        run.deployment = deployment.map(str::to_owned);
        results.record(&run).await.unwrap();
    }
    let old = load_test_run(
        "dev",
        &[5000.0],
        0,
        start - TimeDelta::hours(2),
        end - TimeDelta::hours(2),
    );
    results.record(&old).await.unwrap();
    let provider = BuiltinSliProvider::new(results as Arc<dyn LoadTestResults>);
    assert_eq!(provider.name(), "builtin");

    let values = provider
        .measure(&request(
            "canary",
            &["response_time_p95", "request_count", "error_rate", "cpu"],
        ))
        .await
        .unwrap();
    let summary: Vec<(&str, f64, bool)> = values
        .iter()
        .map(|v| (v.metric.as_str(), v.value, v.success))
        .collect();
    assert_eq!(
        summary,
        [
            ("response_time_p95", 120.0, true),
            ("request_count", 3.0, true),
            ("error_rate", 0.0, true),
            ("cpu", 0.0, false),
        ],
        "canary and unnamed runs of the timeframe; the primary and the old run left out"
    );
    assert!(
        values[3]
            .message
            .as_deref()
            .unwrap()
            .starts_with("unknown indicator cpu")
    );
    let all = provider
        .measure(&request("", &["request_count"]))
        .await
        .unwrap();
    assert_eq!(all[0].value, 4.0, "no deployment named: every run");
}

#[tokio::test]
async fn builtin_without_results_fails_the_evaluation_with_the_providers_message() {
    let h = Harness::start().await;
    h.project(
        "apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\nmetadata: {name: q}\nspec:\n  stages:\n    - name: dev\n",
        &["dev"],
    )
    .await;
    h.sli_provider("builtin").await;
    h.service_file("dev", "slo.yaml", &slo(600)).await;
    let ctx = h.evaluate("dev").await;
    let get_sli = h.recorder.wait_for("get-sli.finished", &ctx).await;
    assert_eq!(get_sli.data["result"], "fail");
    let finished = h.evaluation_finished(&ctx).await;
    assert_eq!(finished.data["result"], "fail");
    assert_eq!(
        finished.data["message"],
        "lighthouse failed because SLI failed with message no indicator could be measured; response_time_p95: no load test results in the timeframe"
    );
    h.shutdown().await;
}

#[cfg(feature = "execution")]
mod prometheus {
    use std::time::Duration;

    use keptn_core::configstore::{Resource, Scope};
    use keptn_core::services::quality::prometheus_sli_provider_service;
    use keptn_sdk::event::payload::{EvaluationFinished, GetSliFinished};
    use keptn_testkit::PrometheusServer;

    use super::*;

    const METRICS: &str = "# TYPE shop_response_time_p95_ms gauge
shop_response_time_p95_ms{service=\"carts\",stage=\"dev\"} 412.5
shop_response_time_p95_ms{service=\"orders\",stage=\"dev\"} 100
# TYPE shop_requests_total counter
shop_requests_total{service=\"carts\"} 1200
";

    const SLI: &str = r#"spec_version: '1.0'
indicators:
  response_time_p95: max(shop_response_time_p95_ms{service="$SERVICE",stage="$STAGE"})
  request_count: max_over_time(shop_requests_total{service="$SERVICE"}[$DURATION_SECONDS])
  broken: rate(shop_requests_total[
  absent_metric: shop_nothing{service="$SERVICE"}
  all_series: shop_response_time_p95_ms
"#;

    const SLO: &str = r#"spec_version: "1.0"
objectives:
  - sli: response_time_p95
    pass: [{criteria: ["<600"]}]
  - sli: request_count
  - sli: broken
  - sli: absent_metric
  - sli: all_series
  - sli: not_in_sli_file
total_score: {pass: "90%"}
"#;

    /// An exporter on a free port serving [`METRICS`] at `/metrics`.
    async fn exporter() -> String {
        let app = axum::Router::new().route("/metrics", axum::routing::get(|| async { METRICS }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr.to_string()
    }

    /// Waits until Prometheus has scraped the exporter.
    async fn scraped(url: &str) {
        let client = reqwest::Client::new();
        let wait = async {
            loop {
                let answer: serde_json::Value = client
                    .get(format!("{url}/api/v1/query"))
                    .query(&[("query", "shop_requests_total")])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if answer["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .expect("prometheus scrapes the exporter within a minute");
    }

    async fn quality_gates(default_url: Option<String>) -> Harness {
        let mut h = Harness::start().await;
        h.project(
            "apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\nmetadata: {name: q}\nspec:\n  stages:\n    - name: dev\n",
            &["dev"],
        )
        .await;
        h.start_service(prometheus_sli_provider_service(default_url))
            .await;
        h.sli_provider("prometheus").await;
        h.service_file("dev", "slo.yaml", SLO).await;
        h
    }

    #[tokio::test]
    async fn prometheus_answers_the_sli_queries_of_an_evaluation() {
        let target = exporter().await;
        let server = tokio::task::spawn_blocking(move || PrometheusServer::start(&[target]))
            .await
            .unwrap()
            .expect("a real Prometheus: apt-get install prometheus (scripts/install-test-deps.sh)");
        scraped(&server.url()).await;

        let h = quality_gates(None).await;
        h.config
            .put_resources(
                &Scope::project(PROJECT),
                vec![Resource::new(
                    "prometheus/config.yaml",
                    format!("url: {}\n", server.url()),
                )],
                None,
            )
            .await
            .unwrap();
        h.service_file("dev", "sli.yaml", SLI).await;

        let ctx = h.evaluate("dev").await;
        let get_sli = h.recorder.wait_for("get-sli.finished", &ctx).await;
        assert_eq!(get_sli.source, "prometheus-service");
        assert_eq!(get_sli.data["result"], "pass", "{}", get_sli.data);
        let data: GetSliFinished = get_sli.data_as().unwrap();
        let values = data.get_sli.unwrap().indicator_values.unwrap();
        let by_name = |name: &str| values.iter().find(|v| v.metric == name).unwrap().clone();
        assert_eq!(by_name("response_time_p95").value, 412.5);
        assert!(by_name("response_time_p95").success);
        assert_eq!(by_name("request_count").value, 1200.0);
        let message = |name: &str| by_name(name).message.unwrap_or_default();
        assert!(!by_name("broken").success);
        assert!(
            message("broken").starts_with(
                "Prometheus rejected the query \"rate(shop_requests_total[\": bad_data:"
            ),
            "{}",
            message("broken")
        );
        assert_eq!(
            message("absent_metric"),
            "Prometheus returned no value for the query \"shop_nothing{service=\\\"carts\\\"}\""
        );
        assert!(
            message("all_series").starts_with("Prometheus returned 2 series"),
            "{}",
            message("all_series")
        );
        assert!(
            message("not_in_sli_file")
                .starts_with("no query for indicator not_in_sli_file in sli.yaml"),
            "{}",
            message("not_in_sli_file")
        );

        let finished = h.evaluation_finished(&ctx).await;
        let evaluation: EvaluationFinished = finished.data_as().unwrap();
        assert_eq!(finished.data["result"], "pass", "{}", finished.data);
        assert_eq!(evaluation.evaluation.unwrap().score, Some(100.0));
        h.shutdown().await;
    }

    #[tokio::test]
    async fn an_unreachable_or_missing_prometheus_fails_or_errors_the_evaluation() {
        let closed = format!("http://127.0.0.1:{}", keptn_testkit::free_port());
        let h = quality_gates(Some(closed.clone())).await;
        h.service_file("dev", "sli.yaml", SLI).await;
        let ctx = h.evaluate("dev").await;
        let finished = h.evaluation_finished(&ctx).await;
        assert_eq!(finished.data["result"], "fail");
        let message = finished.data["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "lighthouse failed because SLI failed with message no indicator could be measured; response_time_p95: cannot reach Prometheus at {closed}"
            )),
            "{message}"
        );
        h.shutdown().await;

        let h = quality_gates(None).await;
        let ctx = h.evaluate("dev").await;
        let finished = h.evaluation_finished(&ctx).await;
        assert_eq!(finished.data["status"], "errored");
        assert_eq!(
            finished.data["message"],
            "evaluation performed by lighthouse received an unexpected error: no Prometheus URL for project sockshop: add prometheus/config.yaml with `url: http://...` to the project, or start keptn serve with --prometheus-url"
        );
        h.shutdown().await;
    }
}
