//! The results stores: runs are found by service, deployment and overlapping timeframe.

use chrono::{DateTime, TimeZone, Utc};
use keptn_core::deploy::ServiceScope;
use keptn_core::loadtest::{
    FileLoadTestResults, LoadTestResults, LoadTestRun, MemoryLoadTestResults, ResultsQuery, Summary,
};

pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

pub fn run(
    id: &str,
    stage: &str,
    deployment: &str,
    start: i64,
    end: i64,
    latencies: &[f64],
    errors: u64,
) -> LoadTestRun {
    let requests = latencies.len() as u64;
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    LoadTestRun {
        id: id.into(),
        project: "sockshop".into(),
        stage: stage.into(),
        service: "carts".into(),
        deployment: Some(deployment.into()),
        keptn_context: None,
        strategy: "performance".into(),
        uri: "http://127.0.0.1:1".into(),
        start: at(start),
        end: at(end),
        passed: true,
        message: String::new(),
        summary: Summary::from_parts(&sorted, requests, errors, (end - start) as f64),
        latencies_ms: latencies.to_vec(),
    }
}

fn query(stage: &str, deployment: Option<&str>, start: i64, end: i64) -> ResultsQuery {
    ResultsQuery {
        scope: ServiceScope::new("sockshop", stage, "carts").unwrap(),
        deployment: deployment.map(str::to_owned),
        start: at(start),
        end: at(end),
    }
}

async fn conformance(store: &dyn LoadTestResults) {
    store
        .record(&run("a", "staging", "canary", 0, 10, &[1.0], 0))
        .await
        .unwrap();
    store
        .record(&run("b", "staging", "primary", 20, 30, &[2.0], 0))
        .await
        .unwrap();
    store
        .record(&run("c", "production", "canary", 0, 10, &[3.0], 0))
        .await
        .unwrap();
    store
        .record(&run("a", "staging", "canary", 0, 10, &[1.0], 0))
        .await
        .unwrap();

    let ids = |runs: Vec<LoadTestRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.query(&query("staging", None, 0, 100)).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        ids(store
            .query(&query("staging", Some("canary"), 0, 100))
            .await
            .unwrap()),
        ["a"]
    );
    assert_eq!(
        ids(store.query(&query("staging", None, 10, 20)).await.unwrap()),
        ["a", "b"],
        "touching ends overlap"
    );
    assert_eq!(
        ids(store.query(&query("staging", None, 11, 19)).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(store.query(&query("dev", None, 0, 100)).await.unwrap()),
        Vec::<String>::new()
    );
    let back = store
        .query(&query("production", None, 0, 100))
        .await
        .unwrap();
    assert_eq!(back, [run("c", "production", "canary", 0, 10, &[3.0], 0)]);
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(&MemoryLoadTestResults::new()).await;
}

#[tokio::test]
async fn file_store_conforms_and_survives_a_cut_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileLoadTestResults::new(dir.path());
    conformance(&store).await;

    let file = dir.path().join("sockshop/staging/carts.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"id\": \"cut-by-a-cra");
    std::fs::write(&file, text).unwrap();
    let reopened = FileLoadTestResults::new(dir.path());
    assert_eq!(
        reopened
            .query(&query("staging", None, 0, 100))
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn file_store_rejects_path_like_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileLoadTestResults::new(dir.path());
    let mut bad = run("x", "staging", "canary", 0, 1, &[1.0], 0);
    bad.service = "../../etc".into();
    assert!(store.record(&bad).await.is_err());
}
