//! A stand-in for the quality services, for servers that do not run them yet.
//!
//! It answers, through the API as a remote execution plane would, the open
//! `evaluation.triggered` events when the server reports no `lighthouse` service, and the
//! open `approval.triggered` events when it reports no `approval` service. The evaluation is
//! the lighthouse's with the `builtin` SLI provider, built from keptn-core's libraries: the
//! `slo.yaml` of the service at the sequence's commit, the indicators of the http-load runs in
//! the timeframe of the test (read from the results directory of the server's data
//! directory), scored with `quality::evaluate`. No SLO file: not performed, `pass`. Approvals
//! are answered for `automatic` settings only, as the approval service does.
//!
//! When the server runs the real services, [`QualityStandIn::start_if_missing`] starts
//! nothing: the same tests then exercise them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keptn_core::deploy::ServiceScope;
use keptn_core::loadtest::{
    FileLoadTestResults, LoadTestResults, ResultsQuery, builtin_indicators,
};
use keptn_core::quality::{EvaluationOutcome, FinishedContext, SliReport, Slo, evaluate};
use keptn_core::services::load_test_results_dir;
use keptn_sdk::client::{ApiClient, ResourceScope, TriggeredQuery};
use keptn_sdk::event::payload::{
    ApprovalMode, ApprovalTriggered, EvaluationTriggered, FinishedData,
};
use keptn_sdk::event::{EventData, KeptnEvent, KeptnResult};

/// The source of the stand-in's events.
pub const STAND_IN_SOURCE: &str = "quality-stand-in";

/// Answers evaluation and approval tasks until dropped.
pub struct QualityStandIn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// What it stands in for (`lighthouse`, `approval`).
    pub standing_in_for: Vec<&'static str>,
}

impl QualityStandIn {
    /// Starts the stand-in for whichever of the lighthouse and the approval service the server
    /// at `endpoint` does not run; `None` when it runs both.
    pub fn start_if_missing(endpoint: &str, token: &str, data_dir: &Path) -> Option<Self> {
        let client = ApiClient::new(endpoint, Some(token.to_owned())).expect("a valid endpoint");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let services = runtime
            .block_on(client.metadata())
            .expect("the server answers /v1/metadata")
            .keptnservices
            .to_string();
        let mut tasks = Vec::new();
        if !services.contains("lighthouse") {
            tasks.push("lighthouse");
        }
        if !services.contains("approval") && !services.contains("gatekeeper") {
            tasks.push("approval");
        }
        if tasks.is_empty() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            client,
            results: FileLoadTestResults::new(load_test_results_dir(data_dir)),
            evaluate: tasks.contains(&"lighthouse"),
            approve: tasks.contains(&"approval"),
            handled: HashSet::new(),
            results_dir: load_test_results_dir(data_dir),
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || runtime.block_on(worker.run(flag)));
        Some(Self {
            stop,
            thread: Some(thread),
            standing_in_for: tasks,
        })
    }
}

impl Drop for QualityStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    client: ApiClient,
    results: FileLoadTestResults,
    results_dir: PathBuf,
    evaluate: bool,
    approve: bool,
    handled: HashSet<String>,
}

impl Worker {
    async fn run(mut self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::SeqCst) {
            if self.evaluate {
                for event in self.open("sh.keptn.event.evaluation.triggered").await {
                    let data = self.evaluation(&event).await;
                    self.answer(&event, Some(data)).await;
                }
            }
            if self.approve {
                for event in self.open("sh.keptn.event.approval.triggered").await {
                    let data = approval(&event);
                    self.answer(&event, data).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn open(&mut self, event_type: &str) -> Vec<KeptnEvent> {
        let Ok(page) = self
            .client
            .triggered_events(event_type, &TriggeredQuery::default())
            .await
        else {
            return Vec::new();
        };
        page.events
            .into_iter()
            .filter(|e| self.handled.insert(e.id.to_string()))
            .collect()
    }

    /// Sends `.started`, and `.finished` with `data` when there is an answer.
    async fn answer(&self, triggered: &KeptnEvent, data: Option<FinishedData>) {
        let started = triggered.started(STAND_IN_SOURCE).unwrap();
        self.client.send_event(&started).await.unwrap();
        if let Some(data) = data {
            let finished = triggered.finished(STAND_IN_SOURCE, data).unwrap();
            self.client.send_event(&finished).await.unwrap();
        }
    }

    async fn evaluation(&self, event: &KeptnEvent) -> FinishedData {
        let data: EvaluationTriggered = event.data_as().unwrap_or_default();
        let (Some(project), Some(stage), Some(service)) =
            (event.project(), event.stage(), event.service())
        else {
            return EvaluationOutcome::errored("no scope")
                .finished_data(&FinishedContext::default());
        };
        let test = data.test.unwrap_or_default();
        let context = FinishedContext {
            scope: EventData::scope(project, stage, service),
            time_start: test.start.clone(),
            time_end: test.end.clone(),
            ..FinishedContext::default()
        };
        let scope = ResourceScope::Service {
            project: project.into(),
            stage: stage.into(),
            service: service.into(),
        };
        let commit = event.gitcommitid.as_ref().map(ToString::to_string);
        let slo_file = match self
            .client
            .resource(&scope, "slo.yaml", commit.as_deref())
            .await
        {
            Ok(Some((_, bytes))) => bytes,
            _ => {
                return EvaluationOutcome::not_performed("no SLO file found")
                    .finished_data(&context);
            }
        };
        let context = context.with_slo_file(slo_file.clone());
        let slo = match Slo::parse(&slo_file) {
            Ok(slo) => slo,
            Err(e) => return EvaluationOutcome::errored(e.to_string()).finished_data(&context),
        };
        let parse = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let (Some(start), Some(end)) = (parse(&test.start), parse(&test.end)) else {
            return EvaluationOutcome::errored("no test timeframe").finished_data(&context);
        };
        let query = ResultsQuery {
            scope: ServiceScope::new(project, stage, service).unwrap(),
            deployment: None,
            start,
            end,
        };
        let runs = self.results.query(&query).await.unwrap_or_else(|e| {
            panic!(
                "reading the test runs under {} failed: {e}",
                self.results_dir.display()
            )
        });
        let values = builtin_indicators(&runs, &slo.indicators());
        evaluate(&slo, &SliReport::succeeded(values), &[]).finished_data(&context)
    }
}

/// The approval service's answer: automatic approvals pass, a failed result fails, manual
/// ones stay open.
fn approval(event: &KeptnEvent) -> Option<FinishedData> {
    let data: ApprovalTriggered = event.data_as().unwrap_or_default();
    let result = data.base.result.unwrap_or(KeptnResult::Pass);
    let settings = data.approval.unwrap_or_default();
    let mode = match result {
        KeptnResult::Pass => settings.pass,
        KeptnResult::Warning => settings.warning,
        KeptnResult::Fail => return Some(FinishedData::result(KeptnResult::Fail)),
    };
    (mode == Some(ApprovalMode::Automatic)).then(FinishedData::pass)
}
