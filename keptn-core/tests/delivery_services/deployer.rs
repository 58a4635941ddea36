//! The local deployer service: deployment, release and rollback events, real processes and
//! real traffic through the deployment URI.

use std::time::Duration;

use keptn_sdk::event::payload::DeploymentFinished;
use serde_json::json;

use super::support::{Harness, alive, data_str, version_at};

const WAIT: Duration = Duration::from_secs(40);

fn deployment(tag: &str, strategy: &str) -> serde_json::Value {
    json!({
        "configurationChange": {"values": {"image": format!("docker.io/keptn/carts:{tag}")}},
        "deployment": {"deploymentstrategy": strategy},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_deployments_are_tested_released_and_rolled_back_through_one_uri() {
    let mut h = Harness::start().await;

    let first = h
        .trigger("deployment", deployment("1.0.0", "blue_green_service"))
        .await;
    let done = h.only_finished(&first, WAIT).await;
    assert_eq!(done.source, "local-deployer");
    assert_eq!(data_str(&done, "/result"), "pass", "{:?}", done.data);
    let info = done
        .data_as::<DeploymentFinished>()
        .unwrap()
        .deployment
        .unwrap();
    let uri = info.deployment_uris_local.clone().unwrap()[0].clone();
    assert_eq!(info.deployment_names, Some(vec!["canary".to_owned()]));
    assert_eq!(info.image.as_deref(), Some("docker.io/keptn/carts:1.0.0"));
    assert_eq!(info.tag.as_deref(), Some("1.0.0"));
    assert_eq!(version_at(&uri).await.0, "1.0.0");

    // The test task reaches the deployment URI and leaves its run for the builtin provider.
    let test = h
        .trigger(
            "test",
            json!({"test": {"teststrategy": "functional"}, "deployment": done.data["deployment"]}),
        )
        .await;
    let tested = h.only_finished(&test, WAIT).await;
    assert_eq!(tested.source, "http-load");
    assert_eq!(data_str(&tested, "/result"), "pass", "{:?}", tested.data);
    assert!(!data_str(&tested, "/test/start").is_empty());
    assert!(!data_str(&tested, "/test/end").is_empty());
    let results =
        keptn_core::services::load_test_results_dir(h.data_dir()).join("shop/staging/carts.jsonl");
    let stored = std::fs::read_to_string(&results).expect("the run is stored");
    assert!(stored.contains(&test.id.to_string()), "{stored}");

    let release = h.trigger("release", json!({"result": "pass"})).await;
    let released = h.only_finished(&release, WAIT).await;
    assert_eq!(data_str(&released, "/result"), "pass");

    // A slow canary takes all traffic until the rollback discards it.
    let slow = h
        .trigger("deployment", deployment("2.0.0-slow", "blue_green_service"))
        .await;
    let slow_done = h.only_finished(&slow, WAIT).await;
    assert_eq!(
        slow_done.data["deployment"]["deploymentURIsLocal"][0], uri,
        "the URI of a service stays the same"
    );
    let (version, canary_pid) = version_at(&uri).await;
    assert_eq!(version, "2.0.0-slow");
    let rollback = h
        .trigger(
            "rollback",
            json!({"deployment": {"deploymentstrategy": "blue_green_service"}}),
        )
        .await;
    let rolled = h.only_finished(&rollback, WAIT).await;
    assert_eq!(data_str(&rolled, "/result"), "pass");
    assert!(
        data_str(&rolled, "/message").contains("discarded canary"),
        "{:?}",
        rolled.data
    );
    assert_eq!(version_at(&uri).await.0, "1.0.0");
    assert!(!alive(canary_pid), "the discarded canary is stopped");

    // A good canary is promoted by a passing release.
    let good = h
        .trigger("deployment", deployment("3.0.0", "blue_green_service"))
        .await;
    h.only_finished(&good, WAIT).await;
    let release = h.trigger("release", json!({"result": "warning"})).await;
    let released = h.only_finished(&release, WAIT).await;
    assert_eq!(
        data_str(&released, "/result"),
        "warning",
        "release answers with the sequence's result"
    );
    assert!(data_str(&released, "/message").contains("promoted"));
    assert_eq!(version_at(&uri).await.0, "3.0.0");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_without_its_run_configuration_fails_naming_the_file() {
    let mut h = Harness::start().await;
    h.client.create_service("shop", "orders").await.unwrap();
    let event = h
        .trigger(
            "deployment",
            json!({"service": "orders", "configurationChange": {"values": {"image": "orders:1"}}}),
        )
        .await;
    let done = h.only_finished(&event, WAIT).await;
    assert_eq!(data_str(&done, "/status"), "errored");
    assert_eq!(data_str(&done, "/result"), "fail");
    assert!(
        data_str(&done, "/message").contains("local/deploy.yaml"),
        "{:?}",
        done.data
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_stop_with_the_plane_and_serve_again_on_the_same_uri_after_a_restart() {
    let mut h = Harness::start().await;
    let event = h.trigger("deployment", deployment("1.0.0", "direct")).await;
    let done = h.only_finished(&event, WAIT).await;
    let uri = data_str(&done, "/deployment/deploymentURIsLocal/0").to_owned();
    let (_, pid) = version_at(&uri).await;

    h.stop().await;
    assert!(
        !alive(pid),
        "the plane's shutdown stopped the service process"
    );

    h.restart().await;
    let (version, new_pid) = version_at(&uri).await;
    assert_eq!(version, "1.0.0", "the recorded version runs again");
    assert_ne!(new_pid, pid);

    // A test after the restart finds the URI of the last deployment by itself.
    let test = h
        .trigger("test", json!({"test": {"teststrategy": "functional"}}))
        .await;
    let tested = h.only_finished(&test, WAIT).await;
    assert_eq!(data_str(&tested, "/result"), "pass", "{:?}", tested.data);
    h.stop().await;
    assert!(!alive(new_pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_service_stops_its_processes() {
    let mut h = Harness::start().await;
    let event = h.trigger("deployment", deployment("1.0.0", "direct")).await;
    let done = h.only_finished(&event, WAIT).await;
    let uri = data_str(&done, "/deployment/deploymentURIsLocal/0").to_owned();
    let (_, pid) = version_at(&uri).await;
    h.client.delete_service("shop", "carts").await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the process of the deleted service still runs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.stop().await;
}
