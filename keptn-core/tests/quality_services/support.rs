//! A control plane for the quality-gate services, in memory: the durable bus on a memory log,
//! the datastore ingester into a memory event store, a memory configuration store, the real
//! controller, and the services run as the plane runs them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use keptn_core::bus::{DurableBus, DurableBusConfig, EventLog, MemoryEventLog};
use keptn_core::configstore::{
    ConfigStore, MemoryConfigStore, ProjectSetup, ReadOptions, Resource, Scope,
};
use keptn_core::datastore::{EventStore, Ingester, MemoryEventStore};
use keptn_core::loadtest::{LoadTestResults, LoadTestRun, MemoryLoadTestResults, Summary};
use keptn_core::orchestrator::store::MemorySequenceStore;
use keptn_core::orchestrator::{Controller, ControllerConfig, ControllerHandle};
use keptn_core::plane::{PlaneService, ServiceContext};
use keptn_core::projects::ConfigShipyardSource;
use keptn_core::services::quality::{
    approval_service, builtin_sli_provider_service, configure_sli_provider, lighthouse_service,
    wait_service,
};
use keptn_sdk::event::{EventType, GitCommitId, KeptnContext, KeptnEvent, Phase};
use keptn_sdk::transport::{SubjectPattern, SubscribeOptions, Transport};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something before failing.
pub const WAIT: Duration = Duration::from_secs(30);

pub const PROJECT: &str = "sockshop";
pub const SERVICE: &str = "carts";

/// Every event on the bus, in order.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<KeptnEvent>>>,
    changed: Arc<Notify>,
}

impl Recorder {
    async fn attach(transport: &dyn Transport, stop: CancellationToken) -> (Self, JoinHandle<()>) {
        let recorder = Self::default();
        let mut sub = transport
            .subscribe(SubscribeOptions::new(SubjectPattern::all_keptn()))
            .await
            .unwrap();
        let r = recorder.clone();
        let task = tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    _ = stop.cancelled() => return,
                    item = sub.next() => item,
                };
                let Some(Ok(delivery)) = item else { return };
                r.events.lock().unwrap().push(delivery.event().clone());
                r.changed.notify_waiters();
                let _ = delivery.ack().await;
            }
        });
        (recorder, task)
    }

    pub fn all(&self) -> Vec<KeptnEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Events of a type (`evaluation.finished` or the whole type) in a context.
    pub fn of(&self, event_type: &str, context: &KeptnContext) -> Vec<KeptnEvent> {
        let full = full_type(event_type);
        self.all()
            .into_iter()
            .filter(|e| e.type_string() == full && e.shkeptncontext == *context)
            .collect()
    }

    /// Waits for the first event matching `check`.
    pub async fn wait_until(&self, what: &str, check: impl Fn(&KeptnEvent) -> bool) -> KeptnEvent {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if let Some(found) = self.all().into_iter().find(|e| check(e)) {
                    return found;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(found) => found,
            Err(_) => panic!(
                "timed out waiting for {what}; seen: {:#?}",
                self.all()
                    .iter()
                    .map(|e| format!("{} {}", e.type_string(), e.source))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Waits for an event of a type in a context.
    pub async fn wait_for(&self, event_type: &str, context: &KeptnContext) -> KeptnEvent {
        let full = full_type(event_type);
        self.wait_until(&format!("{full} in {context}"), |e| {
            e.type_string() == full && e.shkeptncontext == *context
        })
        .await
    }
}

/// `evaluation.finished` -> `sh.keptn.event.evaluation.finished`.
pub fn full_type(short: &str) -> String {
    if short.starts_with("sh.keptn.") {
        short.to_owned()
    } else {
        format!("sh.keptn.event.{short}")
    }
}

struct RunningService {
    stop: CancellationToken,
    task: JoinHandle<Result<(), String>>,
}

/// The harness: see the module docs.
pub struct Harness {
    pub transport: Arc<dyn Transport>,
    pub config: Arc<dyn ConfigStore>,
    pub events: Arc<dyn EventStore>,
    pub results: Arc<MemoryLoadTestResults>,
    pub recorder: Recorder,
    pub controller: ControllerHandle,
    bus: DurableBus,
    state: tempfile::TempDir,
    stop: CancellationToken,
    services: HashMap<String, RunningService>,
    tasks: Vec<JoinHandle<()>>,
}

impl Harness {
    /// Bus, stores, ingester, recorder, controller, and the lighthouse, the builtin provider
    /// (over [`Harness::results`]), the approval and the wait services.
    pub async fn start() -> Self {
        let bus = DurableBus::open(
            Arc::new(MemoryEventLog::new()) as Arc<dyn EventLog>,
            DurableBusConfig::default(),
        )
        .await
        .unwrap();
        let transport: Arc<dyn Transport> = Arc::new(bus.clone());
        let config: Arc<dyn ConfigStore> = Arc::new(MemoryConfigStore::new());
        let events: Arc<dyn EventStore> = Arc::new(MemoryEventStore::new());
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();

        let ingester = Ingester::subscribe(Arc::clone(&events), &*transport)
            .await
            .unwrap();
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            let _ = ingester.run(async move { s.cancelled().await }).await;
        }));
        let (recorder, recorder_task) = Recorder::attach(&*transport, stop.clone()).await;
        tasks.push(recorder_task);

        let controller = Controller::new(
            Arc::new(MemorySequenceStore::new()),
            Arc::clone(&transport),
            Arc::new(ConfigShipyardSource::new(Arc::clone(&config))),
            ControllerConfig::default(),
        );
        let handle = controller.handle();
        let s = stop.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = controller.run(async move { s.cancelled().await }).await {
                panic!("the controller failed: {e}");
            }
        }));

        let results = Arc::new(MemoryLoadTestResults::new());
        let mut harness = Self {
            transport,
            config,
            events,
            results: Arc::clone(&results),
            recorder,
            controller: handle,
            bus,
            state: tempfile::tempdir().unwrap(),
            stop,
            services: HashMap::new(),
            tasks,
        };
        harness.wait_for_controller().await;
        harness.start_service(lighthouse_service()).await;
        harness
            .start_service(builtin_sli_provider_service(
                results as Arc<dyn LoadTestResults>,
            ))
            .await;
        harness.start_service(approval_service()).await;
        harness.start_service(wait_service()).await;
        harness
    }

    /// The controller's durable group starts at the end of the log once it subscribed: send
    /// probes (sequences of a project that does not exist) until it answers one.
    async fn wait_for_controller(&self) {
        let probe = async {
            loop {
                let event =
                    KeptnEvent::builder(EventType::sequence("probe", "x", Phase::Triggered))
                        .source("test")
                        .data_json(json!({"project": "no-such-project", "stage": "probe"}))
                        .build()
                        .unwrap();
                self.transport.publish(&event).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !self
                    .recorder
                    .of("sh.keptn.event.probe.x.finished", &event.shkeptncontext)
                    .is_empty()
                {
                    return;
                }
            }
        };
        tokio::time::timeout(WAIT, probe)
            .await
            .expect("the controller subscribes");
    }

    /// Runs a service as the plane does (its own state directory) and waits until it is ready.
    pub async fn start_service(&mut self, service: impl PlaneService) {
        let name = service.name().to_owned();
        let stop = CancellationToken::new();
        let ctx = ServiceContext {
            transport: Arc::clone(&self.transport),
            events: Arc::clone(&self.events),
            config_store: Arc::clone(&self.config),
            state_dir: self.state.path().join("services").join(&name),
            shutdown: stop.clone(),
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(Box::new(service).run(ctx, ready_tx));
        let ready = tokio::time::timeout(WAIT, ready_rx)
            .await
            .expect("the service gets ready in time");
        assert_eq!(ready, Ok(Ok(())), "{name} starts");
        self.services.insert(name, RunningService { stop, task });
    }

    /// Stops a service the way the plane does on shutdown.
    pub async fn stop_service(&mut self, name: &str) {
        let service = self.services.remove(name).expect("the service runs");
        service.stop.cancel();
        let result = tokio::time::timeout(WAIT, service.task)
            .await
            .expect("the service stops in time")
            .expect("the service does not panic");
        assert_eq!(result, Ok(()), "{name} stops cleanly");
    }

    /// A project with `shipyard`, its stages, and the service `carts`.
    pub async fn project(&self, shipyard: &str, stages: &[&str]) {
        self.config
            .create_project(
                PROJECT,
                ProjectSetup {
                    shipyard: Some(shipyard.as_bytes().to_vec()),
                    ..ProjectSetup::default()
                },
            )
            .await
            .unwrap();
        for stage in stages {
            self.config.create_stage(PROJECT, stage).await.unwrap();
        }
        self.config.create_service(PROJECT, SERVICE).await.unwrap();
    }

    /// Sets the project's SLI provider.
    pub async fn sli_provider(&self, provider: &str) {
        configure_sli_provider(&*self.config, PROJECT, provider)
            .await
            .unwrap();
    }

    /// Writes a resource of the service in a stage; returns the commit.
    pub async fn service_file(&self, stage: &str, uri: &str, content: &str) -> GitCommitId {
        self.config
            .put_resources(
                &Scope::service(PROJECT, stage, SERVICE),
                vec![Resource::new(uri, content)],
                None,
            )
            .await
            .unwrap()
    }

    /// Reads a project resource.
    pub async fn project_file(&self, uri: &str) -> Option<String> {
        self.config
            .get_resource(&Scope::project(PROJECT), uri, &ReadOptions::latest())
            .await
            .unwrap()
            .map(|r| String::from_utf8(r.content).unwrap())
    }

    /// Stores a load test run of `carts` in `stage` that ended a minute ago, with these
    /// latencies (one request each) and `errors` failed requests.
    pub async fn load_test(&self, stage: &str, latencies: &[f64], errors: u64) {
        let end = Utc::now() - TimeDelta::minutes(1);
        self.results
            .record(&load_test_run(
                stage,
                latencies,
                errors,
                end - TimeDelta::seconds(10),
                end,
            ))
            .await
            .unwrap();
    }

    /// Publishes `sh.keptn.event.<stage>.<sequence>.triggered` for `carts` with `extra` data.
    pub async fn trigger(&self, stage: &str, sequence: &str, extra: Value) -> KeptnEvent {
        let mut data = json!({"project": PROJECT, "stage": stage, "service": SERVICE,
            "labels": {"buildId": "17"}});
        keptn_sdk::event::merge_json(&mut data, &extra);
        let event = KeptnEvent::builder(EventType::sequence(stage, sequence, Phase::Triggered))
            .source("test")
            .data_json(data)
            .build()
            .unwrap();
        self.transport.publish(&event).await.unwrap();
        event
    }

    /// Triggers the built-in evaluation sequence of `stage` over the last 10 minutes.
    pub async fn evaluate(&self, stage: &str) -> KeptnContext {
        let start = Utc::now() - TimeDelta::minutes(10);
        self.trigger(
            stage,
            "evaluation",
            json!({"evaluation": {"start": keptn_ts(start), "end": keptn_ts(Utc::now())}}),
        )
        .await
        .shkeptncontext
    }

    /// Waits for the `evaluation.finished` of the lighthouse in a context.
    pub async fn evaluation_finished(&self, context: &KeptnContext) -> KeptnEvent {
        self.recorder
            .wait_until("evaluation.finished of lighthouse-service", |e| {
                e.type_string() == "sh.keptn.event.evaluation.finished"
                    && e.shkeptncontext == *context
                    && e.source == "lighthouse-service"
            })
            .await
    }

    /// Publishes an event.
    pub async fn publish(&self, event: &KeptnEvent) {
        self.transport.publish(event).await.unwrap();
    }

    /// Stops everything.
    pub async fn shutdown(mut self) {
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            self.stop_service(&name).await;
        }
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
        self.bus.shutdown().await;
    }
}

/// A load test run of `carts`.
pub fn load_test_run(
    stage: &str,
    latencies: &[f64],
    errors: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> LoadTestRun {
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let requests = latencies.len() as u64 + errors;
    let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
    LoadTestRun {
        id: uuid::Uuid::new_v4().to_string(),
        project: PROJECT.into(),
        stage: stage.into(),
        service: SERVICE.into(),
        deployment: None,
        keptn_context: None,
        strategy: "performance".into(),
        uri: "http://127.0.0.1:1/".into(),
        start,
        end,
        passed: errors == 0,
        message: String::new(),
        summary: Summary::from_parts(&sorted, requests, errors, seconds),
        latencies_ms: sorted,
    }
}

/// Keptn's timestamp format.
pub fn keptn_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// An SLO on `response_time_p95`: pass below `pass_below` ms, a relative +10% criterion, and
/// an informational `request_count`.
pub fn slo(pass_below: u32) -> String {
    format!(
        r#"spec_version: "1.0"
comparison:
  compare_with: single_result
  include_result_with_score: all
objectives:
  - sli: response_time_p95
    displayName: Response time P95
    pass:
      - criteria: ["<{pass_below}"]
  - sli: request_count
total_score:
  pass: "90%"
  warning: "75%"
"#
    )
}
