//! The local deployer with the `direct` strategy, scaling and failures.

use keptn_core::deploy::{DeployErrorKind, Deployer, ReplicaChange, ServiceResources};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::DeploymentStrategy;

use super::support::{assert_all_gone, deployer, get, pids, request, scope};

#[tokio::test]
async fn direct_deployment_replaces_the_running_version_behind_a_stable_uri() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();

    let first = d
        .deploy(&request(&scope, DeploymentStrategy::Direct, "1.0.0", 1))
        .await
        .unwrap();
    assert_eq!(first.deployment_names, ["direct"]);
    assert!(first.message.starts_with("Successfully deployed"));
    let uri = first.uris_local[0].clone();
    assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
    let a = get(&uri).await;
    assert_eq!(a.version, "1.0.0");
    assert_eq!(a.deployment, "primary");
    let old_pids = pids(&d.status(&scope).await.unwrap().unwrap());

    let second = d
        .deploy(&request(&scope, DeploymentStrategy::Direct, "2.0.0", 1))
        .await
        .unwrap();
    assert_eq!(second.uris_local, [uri.as_str()], "the URI is stable");
    assert_eq!(get(&uri).await.version, "2.0.0");
    assert_all_gone(&old_pids).await;

    // release and rollback change nothing for direct deployments
    let r = d.release(&scope, KeptnResult::Pass).await.unwrap();
    assert!(
        r.message.contains("No release action required"),
        "{}",
        r.message
    );
    let r = d.rollback(&scope).await.unwrap();
    assert!(
        r.message.contains("No rollback action required"),
        "{}",
        r.message
    );
    assert_eq!(get(&uri).await.version, "2.0.0");

    let status = d.status(&scope).await.unwrap().unwrap();
    assert_eq!(
        status.primary.as_ref().unwrap().version,
        "docker.io/keptn/demo:2.0.0"
    );
    assert!(status.canary.is_none());
    let state = std::fs::read_to_string(d.state_file(&scope)).unwrap();
    assert!(state.contains("docker.io/keptn/demo:2.0.0"), "{state}");

    let running = pids(&status);
    d.shutdown().await.unwrap();
    assert_all_gone(&running).await;
}

#[tokio::test]
async fn scaling_adds_replicas_that_share_the_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();
    let uri = d
        .deploy(&request(&scope, DeploymentStrategy::Direct, "1.0.0", 1))
        .await
        .unwrap()
        .uris_local[0]
        .clone();

    let out = d.scale(&scope, ReplicaChange::Add(1)).await.unwrap();
    assert!(
        out.message.contains("from 1 to 2 replicas"),
        "{}",
        out.message
    );
    let status = d.status(&scope).await.unwrap().unwrap();
    let primary = status.primary.as_ref().unwrap();
    assert_eq!(primary.replicas, 2);
    assert_eq!(primary.instances.len(), 2);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(get(&uri).await.pid);
    }
    assert_eq!(seen.len(), 2, "both replicas answer");

    let err = d.scale(&scope, ReplicaChange::Add(-2)).await.unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::InvalidInput);
    let all = pids(&status);
    d.scale(&scope, ReplicaChange::Set(1)).await.unwrap();
    let left = pids(&d.status(&scope).await.unwrap().unwrap());
    assert_eq!(left.len(), 1);
    assert_all_gone(
        &all.iter()
            .copied()
            .filter(|p| !left.contains(p))
            .collect::<Vec<_>>(),
    )
    .await;

    d.shutdown().await.unwrap();
    assert_all_gone(&all).await;
}

#[tokio::test]
async fn a_version_that_fails_to_start_leaves_the_previous_one_serving() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();
    let uri = d
        .deploy(&request(&scope, DeploymentStrategy::Direct, "1.0.0", 1))
        .await
        .unwrap()
        .uris_local[0]
        .clone();

    let err = d
        .deploy(&request(&scope, DeploymentStrategy::Direct, "crash-2", 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::StartFailed);
    assert!(
        err.message().contains("refuses to start"),
        "{}",
        err.message()
    );
    assert_eq!(get(&uri).await.version, "1.0.0");

    let running = pids(&d.status(&scope).await.unwrap().unwrap());
    d.shutdown().await.unwrap();
    assert_all_gone(&running).await;
}

#[tokio::test]
async fn bad_requests_are_rejected_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();

    let mut missing = request(&scope, DeploymentStrategy::Direct, "1.0.0", 1);
    missing.resources = ServiceResources::new();
    let err = d.deploy(&missing).await.unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::InvalidInput);
    assert!(err.message().contains("local/deploy.yaml"), "{err}");

    let mut no_image = request(&scope, DeploymentStrategy::Direct, "1.0.0", 1);
    no_image.values.clear();
    let err = d.deploy(&no_image).await.unwrap_err();
    assert!(err.message().contains("needs values.image"), "{err}");

    assert!(d.status(&scope).await.unwrap().is_none());
    let err = d.release(&scope, KeptnResult::Pass).await.unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::NotFound);
    let err = d.scale(&scope, ReplicaChange::Add(1)).await.unwrap_err();
    assert_eq!(err.kind(), DeployErrorKind::NotFound);
    d.remove_service(&scope).await.unwrap();
    d.shutdown().await.unwrap();
}

#[tokio::test]
async fn user_managed_services_report_their_endpoints_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let mut req = request(&scope(), DeploymentStrategy::UserManaged, "1.0.0", 1);
    req.resources.insert(
        "local/endpoints.yaml",
        "deploymentURIsLocal: [\"http://10.0.0.1:8080\"]\ndeploymentURIsPublic: [\"https://carts.example.com\"]\n",
    );
    let out = d.deploy(&req).await.unwrap();
    assert_eq!(out.uris_local, ["http://10.0.0.1:8080"]);
    assert_eq!(out.uris_public, ["https://carts.example.com"]);
    assert_eq!(out.deployment_names, ["user_managed"]);
    assert!(d.status(&scope()).await.unwrap().is_none());
    d.shutdown().await.unwrap();
}
