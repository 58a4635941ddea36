//! A whole embedded plane with the execution plane, driven over its API and its bus: task
//! events are published as the orchestrator would, the answers collected from the bus.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;
use keptn_core::plane::{Plane, PlaneConfig};
use keptn_core::services::delivery::DeliveryConfig;
use keptn_core::services::{ServicesConfig, embedded_services};
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::client::{ApiClient, ResourceScope};
use keptn_sdk::event::{EventType, KeptnEvent, Phase};
use keptn_sdk::transport::{SubjectPattern, SubscribeOptions, Transport};
use serde_json::Value;
use tokio::task::JoinHandle;

/// A shipyard with one stage, `staging`, and a delivery and a remediation sequence.
pub const SHIPYARD: &str = r#"apiVersion: spec.keptn.sh/0.2.0
kind: Shipyard
metadata: {name: shop}
spec:
  stages:
    - name: staging
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties: {deploymentstrategy: blue_green_service}
            - name: test
              properties: {teststrategy: functional}
            - name: release
        - name: remediation
          tasks:
            - name: get-action
            - name: action
"#;

/// The real Python interpreter (not a version-manager shim, which would add a process).
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("these tests need python3 on PATH: {e}"));
        assert!(out.status.success(), "python3 does not run: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

/// `local/deploy.yaml` running the test service of the deployer tests, versioned by the tag.
pub fn run_config() -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/fixtures/service.py");
    format!(
        "command: {}\nargs: [\"{}\", --port, \"{{port}}\", --service-version, \"{{tag}}\"]\nhealthPath: /health\nstartTimeout: 20s\n",
        python(),
        script.display()
    )
}

/// A running plane on a temporary data directory, the API client and every bus event seen.
pub struct Harness {
    plane: Option<Plane>,
    dir: tempfile::TempDir,
    pub client: ApiClient,
    seen: Arc<Mutex<Vec<KeptnEvent>>>,
    collector: Option<JoinHandle<()>>,
}

async fn start_plane(dir: &Path) -> Plane {
    let mut services = ServicesConfig {
        data_dir: dir.to_path_buf(),
        ..ServicesConfig::default()
    };
    services.delivery = DeliveryConfig {
        stop_grace: Duration::from_secs(2),
        handler_deadline: Duration::from_secs(5),
        ..DeliveryConfig::default()
    };
    let services = embedded_services(&services);
    let mut config = PlaneConfig::new(dir, "127.0.0.1:0".parse().unwrap(), "token");
    config.services = services;
    Plane::start(config).await.expect("the plane starts")
}

fn collect(transport: Arc<dyn Transport>, seen: Arc<Mutex<Vec<KeptnEvent>>>) -> JoinHandle<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let task = tokio::spawn(async move {
        let mut sub = transport
            .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()))
            .await
            .expect("subscribe to every event");
        let _ = ready_tx.send(());
        while let Some(Ok(delivery)) = sub.next().await {
            seen.lock().unwrap().push(delivery.event().clone());
            let _ = delivery.ack().await;
        }
    });
    // The subscription is made before the harness publishes anything.
    let _ = ready_rx.recv_timeout(Duration::from_secs(5));
    task
}

impl Harness {
    /// A plane with project `shop` (stage `staging`) and service `carts`, whose
    /// `local/deploy.yaml` runs the Python test service.
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let plane = start_plane(dir.path()).await;
        let client = ApiClient::new(
            &format!("http://{}/api", plane.local_addr()),
            Some("token".into()),
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let collector = Some(collect(plane.transport(), Arc::clone(&seen)));
        let harness = Harness {
            plane: Some(plane),
            dir,
            client,
            seen,
            collector,
        };
        harness
            .client
            .create_project(&CreateProjectParams {
                name: "shop".into(),
                shipyard: Some(base64::engine::general_purpose::STANDARD.encode(SHIPYARD)),
                ..CreateProjectParams::default()
            })
            .await
            .unwrap();
        harness
            .client
            .create_service("shop", "carts")
            .await
            .unwrap();
        harness
            .put_service_resource("local/deploy.yaml", run_config().as_bytes())
            .await;
        harness
    }

    /// The data directory of the plane.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stores a resource of `carts` in `staging`.
    pub async fn put_service_resource(&self, uri: &str, content: &[u8]) {
        let scope = ResourceScope::Service {
            project: "shop".into(),
            stage: "staging".into(),
            service: "carts".into(),
        };
        self.client
            .put_resource(&scope, uri, content)
            .await
            .unwrap();
    }

    /// Stores a resource of the stage `staging`.
    pub async fn put_stage_resource(&self, uri: &str, content: &[u8]) {
        let scope = ResourceScope::Stage {
            project: "shop".into(),
            stage: "staging".into(),
        };
        self.client
            .put_resource(&scope, uri, content)
            .await
            .unwrap();
    }

    /// Publishes `sh.keptn.event.<task>.triggered` for `carts` in `staging` with `data` merged
    /// over the scope, as the orchestrator would.
    pub async fn trigger(&self, task: &str, data: Value) -> KeptnEvent {
        let mut payload =
            serde_json::json!({"project": "shop", "stage": "staging", "service": "carts"});
        keptn_sdk::event::merge_json(&mut payload, &data);
        let event = KeptnEvent::builder(EventType::task(task, Phase::Triggered))
            .source("shipyard-controller")
            .data_json(payload)
            .build()
            .unwrap();
        self.plane().transport().publish(&event).await.unwrap();
        event
    }

    /// The `.started` and `.finished` events answering `triggered`.
    pub fn answers(&self, triggered: &KeptnEvent) -> Vec<KeptnEvent> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.triggeredid.as_ref() == Some(&triggered.id))
            .filter(|e| matches!(e.event_type.phase(), Some(Phase::Started | Phase::Finished)))
            .cloned()
            .collect()
    }

    /// Waits (up to `timeout`) for the `.finished` answer of `triggered`, then a moment more
    /// for any other answer, and returns all of them.
    pub async fn finished(&self, triggered: &KeptnEvent, timeout: Duration) -> Vec<KeptnEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let answers = self.answers(triggered);
            if answers
                .iter()
                .any(|e| e.event_type.phase() == Some(Phase::Finished))
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return self.answers(triggered);
            }
            assert!(
                Instant::now() < deadline,
                "no .finished for {} within {timeout:?}; seen: {answers:?}",
                triggered.event_type
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The single `.finished` answer of `triggered` (asserting exactly one `.started` and one
    /// `.finished`, from the same source).
    pub async fn only_finished(&self, triggered: &KeptnEvent, timeout: Duration) -> KeptnEvent {
        let answers = self.finished(triggered, timeout).await;
        let started: Vec<_> = answers
            .iter()
            .filter(|e| e.event_type.phase() == Some(Phase::Started))
            .collect();
        let finished: Vec<_> = answers
            .iter()
            .filter(|e| e.event_type.phase() == Some(Phase::Finished))
            .collect();
        assert_eq!(started.len(), 1, "one .started: {answers:#?}");
        assert_eq!(finished.len(), 1, "one .finished: {answers:#?}");
        assert_eq!(started[0].source, finished[0].source);
        finished[0].clone()
    }

    fn plane(&self) -> &Plane {
        self.plane.as_ref().expect("the plane runs")
    }

    /// Stops the plane.
    pub async fn stop(&mut self) {
        if let Some(task) = self.collector.take() {
            task.abort();
        }
        if let Some(plane) = self.plane.take() {
            plane.shutdown().await.expect("the plane stops cleanly");
        }
    }

    /// Stops and starts the plane on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let plane = start_plane(self.dir.path()).await;
        self.client = ApiClient::new(
            &format!("http://{}/api", plane.local_addr()),
            Some("token".into()),
        )
        .unwrap();
        self.collector = Some(collect(plane.transport(), Arc::clone(&self.seen)));
        self.plane = Some(plane);
    }
}

/// The `data.<field>` string of an event.
pub fn data_str<'a>(event: &'a KeptnEvent, pointer: &str) -> &'a str {
    event
        .data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `GET /` of the Python test service through `uri`: (version, pid).
pub async fn version_at(uri: &str) -> (String, u32) {
    let body: Value = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{uri}/"))
        .send()
        .await
        .expect("the deployment URI answers")
        .json()
        .await
        .unwrap();
    (
        body["version"].as_str().unwrap().to_owned(),
        u32::try_from(body["pid"].as_u64().unwrap()).unwrap(),
    )
}

/// Whether process `pid` runs.
pub fn alive(pid: u32) -> bool {
    keptn_core::deploy::local::pid_alive(pid)
}
