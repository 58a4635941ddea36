//! Helpers of the local deployer tests: the Python test service, requests through the proxy
//! and checks that no process outlives a test.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use keptn_core::deploy::local::{DEPLOYMENT_HEADER, LocalDeployer, LocalDeployerConfig, pid_alive};
use keptn_core::deploy::{DeployRequest, ServiceResources, ServiceScope, ServiceStatus};
use keptn_sdk::event::payload::DeploymentStrategy;
use serde_json::{Value, json};

/// The real Python interpreter (not a version-manager shim, which would add a process).
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("the local deployer tests need python3 on PATH: {e}"));
        assert!(out.status.success(), "python3 does not run: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

/// The test service script.
pub fn service_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/fixtures/service.py")
}

/// `local/deploy.yaml` running the test service with the tag of `values.image` as version.
pub fn run_config(replicas: u32) -> String {
    format!(
        "command: {python}\nargs: [\"{script}\", --port, \"{{port}}\", --service-version, \"{{tag}}\"]\nhealthPath: /health\nreplicas: {replicas}\nstartTimeout: 20s\n",
        python = python(),
        script = service_script().display(),
    )
}

/// A deployer on `dir` with short grace periods.
pub async fn deployer(dir: &std::path::Path) -> LocalDeployer {
    LocalDeployer::start(config(dir))
        .await
        .expect("deployer starts")
}

/// Test settings: short grace period and start timeout.
pub fn config(dir: &std::path::Path) -> LocalDeployerConfig {
    let mut config = LocalDeployerConfig::new(dir);
    config.stop_grace = Duration::from_secs(2);
    config.start_timeout = Duration::from_secs(20);
    config
}

/// `sockshop` / `staging` / `carts`.
pub fn scope() -> ServiceScope {
    ServiceScope::new("sockshop", "staging", "carts").unwrap()
}

/// A deployment request of `demo:<tag>`.
pub fn request(
    scope: &ServiceScope,
    strategy: DeploymentStrategy,
    tag: &str,
    replicas: u32,
) -> DeployRequest {
    let values = json!({"image": format!("docker.io/keptn/demo:{tag}")});
    DeployRequest::new(scope.clone(), strategy, values.as_object().unwrap().clone())
        .with_resources(ServiceResources::new().with("local/deploy.yaml", run_config(replicas)))
}

/// One answer of the service through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The `x-keptn-deployment` header.
    pub deployment: String,
    /// The version the service reported.
    pub version: String,
    /// The pid of the process that answered.
    pub pid: u32,
}

/// GETs `/` through `url`.
pub async fn get(url: &str) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .get(format!("{url}/"))
        .send()
        .await
        .expect("proxy answers");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let deployment = response
        .headers()
        .get(DEPLOYMENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    Answer {
        deployment,
        version: body["version"].as_str().unwrap().to_owned(),
        pid: u32::try_from(body["pid"].as_u64().unwrap()).unwrap(),
    }
}

/// The pids of every instance in a status.
pub fn pids(status: &ServiceStatus) -> Vec<u32> {
    status
        .primary
        .iter()
        .chain(status.canary.iter())
        .flat_map(|v| v.instances.iter().filter_map(|i| i.pid))
        .collect()
}

/// Waits (at most 5 s) until none of `pids` runs; panics naming the survivors.
pub async fn assert_all_gone(pids: &[u32]) {
    for _ in 0..100 {
        if pids.iter().all(|p| !pid_alive(*p)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alive: Vec<_> = pids.iter().filter(|p| pid_alive(**p)).collect();
    panic!("processes still running: {alive:?}");
}
