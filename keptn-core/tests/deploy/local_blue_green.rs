//! The local deployer with the `blue_green_service` strategy: the proxy really routes to the
//! canary after deployment, to the promoted version after release and back to the primary
//! after rollback.

use keptn_core::deploy::Deployer;
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::DeploymentStrategy;

use super::support::{assert_all_gone, deployer, get, pids, request, scope};

#[tokio::test]
async fn canary_serves_after_deploy_and_primary_serves_again_after_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();
    let bg = DeploymentStrategy::BlueGreenService;

    // The first version has no primary to keep: it serves as the primary.
    let first = d
        .deploy(&request(&scope, bg.clone(), "1.0.0", 1))
        .await
        .unwrap();
    assert_eq!(first.deployment_names, ["canary"]);
    let uri = first.uris_local[0].clone();
    assert_eq!(get(&uri).await.version, "1.0.0");
    let status = d.status(&scope).await.unwrap().unwrap();
    assert!(status.canary.is_none());
    assert_eq!(status.canary_weight, 0);

    // A slow version becomes the canary and gets all the traffic of the stage URI.
    let second = d
        .deploy(&request(&scope, bg.clone(), "2.0.0-slow", 1))
        .await
        .unwrap();
    assert_eq!(second.uris_local, [uri.as_str()]);
    let a = get(&uri).await;
    assert_eq!(
        (a.deployment.as_str(), a.version.as_str()),
        ("canary", "2.0.0-slow")
    );
    let status = d.status(&scope).await.unwrap().unwrap();
    assert_eq!(status.canary_weight, 100);
    assert_eq!(
        status.canary.as_ref().unwrap().version,
        "docker.io/keptn/demo:2.0.0-slow"
    );
    let canary_pids: Vec<u32> = status
        .canary
        .as_ref()
        .unwrap()
        .instances
        .iter()
        .filter_map(|i| i.pid)
        .collect();

    // The quality gate failed: release with fail promotes nothing, rollback discards it.
    let r = d.release(&scope, KeptnResult::Fail).await.unwrap();
    assert!(r.message.contains("Not promoted"), "{}", r.message);
    let r = d.rollback(&scope).await.unwrap();
    assert!(r.message.contains("discarded canary"), "{}", r.message);
    let a = get(&uri).await;
    assert_eq!(
        (a.deployment.as_str(), a.version.as_str()),
        ("primary", "1.0.0")
    );
    assert_all_gone(&canary_pids).await;
    let status = d.status(&scope).await.unwrap().unwrap();
    assert!(status.canary.is_none());
    assert_eq!(status.canary_weight, 0);

    let running = pids(&status);
    d.shutdown().await.unwrap();
    assert_all_gone(&running).await;
}

#[tokio::test]
async fn release_promotes_the_canary_and_stops_the_old_primary() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();
    let bg = DeploymentStrategy::BlueGreenService;
    let uri = d
        .deploy(&request(&scope, bg.clone(), "1.0.0", 1))
        .await
        .unwrap()
        .uris_local[0]
        .clone();
    let old_pids = pids(&d.status(&scope).await.unwrap().unwrap());
    d.deploy(&request(&scope, bg.clone(), "2.0.0", 1))
        .await
        .unwrap();

    let r = d.release(&scope, KeptnResult::Warning).await.unwrap();
    assert!(
        r.message.contains("promoted docker.io/keptn/demo:2.0.0"),
        "{}",
        r.message
    );
    let a = get(&uri).await;
    assert_eq!(
        (a.deployment.as_str(), a.version.as_str()),
        ("primary", "2.0.0")
    );
    assert_all_gone(&old_pids).await;
    let status = d.status(&scope).await.unwrap().unwrap();
    assert!(status.canary.is_none());
    assert_eq!(
        status.primary.as_ref().unwrap().version,
        "docker.io/keptn/demo:2.0.0"
    );

    // A second canary replaces an unreleased one.
    d.deploy(&request(&scope, bg.clone(), "3.0.0", 1))
        .await
        .unwrap();
    let first_canary = pids(&d.status(&scope).await.unwrap().unwrap());
    d.deploy(&request(&scope, bg.clone(), "4.0.0", 1))
        .await
        .unwrap();
    assert_eq!(get(&uri).await.version, "4.0.0");
    let status = d.status(&scope).await.unwrap().unwrap();
    let now = pids(&status);
    let replaced: Vec<u32> = first_canary
        .iter()
        .copied()
        .filter(|p| !now.contains(p))
        .collect();
    assert_eq!(replaced.len(), 1, "the 3.0.0 canary was stopped");
    assert_all_gone(&replaced).await;

    d.remove_service(&scope).await.unwrap();
    assert_all_gone(&now).await;
    assert!(d.status(&scope).await.unwrap().is_none());
    assert!(!d.state_file(&scope).exists());
    d.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_canary_that_fails_to_start_leaves_the_primary_serving_and_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();
    let bg = DeploymentStrategy::BlueGreenService;
    let uri = d
        .deploy(&request(&scope, bg.clone(), "1.0.0", 1))
        .await
        .unwrap()
        .uris_local[0]
        .clone();
    d.deploy(&request(&scope, bg.clone(), "2.0.0", 1))
        .await
        .unwrap();
    let canary_pids: Vec<u32> = d
        .status(&scope)
        .await
        .unwrap()
        .unwrap()
        .canary
        .unwrap()
        .instances
        .iter()
        .filter_map(|i| i.pid)
        .collect();

    let err = d
        .deploy(&request(&scope, bg.clone(), "crash-3", 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), keptn_core::deploy::DeployErrorKind::StartFailed);
    assert_all_gone(&canary_pids).await;
    let a = get(&uri).await;
    assert_eq!(
        (a.deployment.as_str(), a.version.as_str()),
        ("primary", "1.0.0")
    );
    let state = std::fs::read_to_string(d.state_file(&scope)).unwrap();
    assert!(
        !state.contains("2.0.0"),
        "the replaced canary is not recorded: {state}"
    );

    let running = pids(&d.status(&scope).await.unwrap().unwrap());
    d.shutdown().await.unwrap();
    assert_all_gone(&running).await;
}
