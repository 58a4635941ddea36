//! The local deployer across restarts: processes are adopted when they still run, restarted
//! when they do not; dropping the deployer leaves no process behind.

use keptn_core::deploy::Deployer;
use keptn_sdk::event::payload::DeploymentStrategy;

use super::support::{assert_all_gone, config, deployer, get, pids, request, scope};

#[tokio::test]
async fn running_processes_are_adopted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.stop_processes_on_shutdown = false;
    let d = keptn_core::deploy::local::LocalDeployer::start(cfg.clone())
        .await
        .unwrap();
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
    let before = d.status(&scope).await.unwrap().unwrap();
    d.shutdown().await.unwrap();
    drop(d);
    let running = pids(&before);
    assert_eq!(running.len(), 2);
    assert!(
        running
            .iter()
            .all(|p| keptn_core::deploy::local::pid_alive(*p)),
        "left running"
    );

    let d = keptn_core::deploy::local::LocalDeployer::start(cfg)
        .await
        .unwrap();
    let after = d.status(&scope).await.unwrap().unwrap();
    assert_eq!(pids(&after), running, "the same processes were adopted");
    assert_eq!(after.uris_local, [uri.as_str()], "the proxy port is kept");
    assert_eq!(after.canary_weight, 100);
    assert_eq!(get(&uri).await.version, "2.0.0");

    // This time the deployer stops what it runs.
    drop(d);
    assert_all_gone(&running).await;
}

#[tokio::test]
async fn stopped_versions_are_started_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployer(dir.path()).await;
    let scope = scope();
    let uri = d
        .deploy(&request(&scope, DeploymentStrategy::Direct, "1.0.0", 2))
        .await
        .unwrap()
        .uris_local[0]
        .clone();
    let before = pids(&d.status(&scope).await.unwrap().unwrap());
    d.shutdown().await.unwrap();
    assert_all_gone(&before).await;
    assert!(
        d.deploy(&request(&scope, DeploymentStrategy::Direct, "2.0.0", 1))
            .await
            .is_err()
    );
    drop(d);

    let d = deployer(dir.path()).await;
    let status = d.status(&scope).await.unwrap().unwrap();
    let after = pids(&status);
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|p| !before.contains(p)));
    assert_eq!(status.uris_local, [uri.as_str()]);
    assert_eq!(get(&uri).await.version, "1.0.0");
    d.shutdown().await.unwrap();
    assert_all_gone(&after).await;
}
