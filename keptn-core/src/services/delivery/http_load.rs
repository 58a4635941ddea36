//! The `http-load` service: `test.triggered` -> HTTP tests against the deployment URI, results
//! kept for the `builtin` SLI provider (the role of Keptn's jmeter-service).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use keptn_sdk::event::payload::{DeploymentFinished, DeploymentInfo, FinishedData, TestTriggered};
use keptn_sdk::event::{EventType, KeptnEvent, Phase};
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::resources::{service_or_stage_resource, service_scope};
use super::{DeliveryConfig, HTTP_LOAD, runner};
use crate::configstore::ConfigStore;
use crate::datastore::{EventFilter, EventStore, TypeQuery};
use crate::deploy::ServiceScope;
use crate::loadtest::{
    CONFIG_PATH, HttpLoadConfig, HttpLoadTester, LoadTestError, LoadTestResults, LoadTestRun,
    ResultsQuery, TestRequest, target_uri,
};
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};

/// The `http-load` service: answers `test.triggered` with functional checks or a load from
/// `http-load/config.yaml` (service, else stage; defaults otherwise) and records every run in
/// a [`LoadTestResults`] store.
///
/// The target is the first `deployment.deploymentURIsLocal` of the event (else the first
/// public URI). An event without URIs (a remediation sequence has no deployment task) is
/// tested against the URIs of the latest successful `deployment.finished` of the service in
/// the stage. A run is recorded under the id of its `test.triggered` event, so a redelivered
/// event is answered from the stored run instead of testing again.
#[derive(Debug)]
pub struct HttpLoadService {
    results: Arc<dyn LoadTestResults>,
    deadline: Duration,
}

impl HttpLoadService {
    /// A service recording into `results`; running tests are cancelled `deadline` after the
    /// plane starts stopping.
    pub fn new(results: Arc<dyn LoadTestResults>, config: &DeliveryConfig) -> Self {
        Self {
            results,
            deadline: config.handler_deadline,
        }
    }
}

impl PlaneService for HttpLoadService {
    fn name(&self) -> &str {
        HTTP_LOAD
    }

    fn run(
        self: Box<Self>,
        ctx: ServiceContext,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> ServiceFuture {
        let Self { results, deadline } = *self;
        let inner = HandlerService::new(HTTP_LOAD, move |ctx: &ServiceContext| {
            let tester = HttpLoadTester::new().map_err(|e| e.to_string())?;
            let handler = TestHandler {
                config: Arc::clone(&ctx.config_store),
                events: Arc::clone(&ctx.events),
                results,
                tester,
                cancel: ctx.shutdown.clone(),
            };
            Ok(vec![BoxedRunner::new(runner(
                ctx, HTTP_LOAD, handler, deadline,
            ))])
        });
        Box::new(inner).run(ctx, ready)
    }
}

struct TestHandler {
    config: Arc<dyn ConfigStore>,
    events: Arc<dyn EventStore>,
    results: Arc<dyn LoadTestResults>,
    tester: HttpLoadTester,
    cancel: CancellationToken,
}

#[async_trait]
impl TaskHandler for TestHandler {
    type Data = TestTriggered;

    fn task(&self) -> &str {
        "test"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: TestTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let event = ctx.event();
        let scope = service_scope(event)?;
        if let Some(run) = self.earlier_run(event, &scope).await? {
            return Ok(finished(&run));
        }
        let strategy = data.test.and_then(|t| t.test_strategy).unwrap_or_default();
        let config =
            match service_or_stage_resource(&*self.config, event, &scope, CONFIG_PATH).await? {
                Some(bytes) => HttpLoadConfig::parse(&bytes)?,
                None => HttpLoadConfig::default(),
            };
        let workload = match config.workload(&strategy) {
            Ok(Some(workload)) => workload,
            Ok(None) => {
                return Ok(FinishedData::pass()
                    .with_message("No test strategy given: no tests were run")
                    .into());
            }
            Err(e @ LoadTestError::Unsupported(_)) => {
                return Ok(FinishedData::pass()
                    .with_message(format!("{e}: nothing to do"))
                    .into());
            }
            Err(e) => return Err(e.into()),
        };
        let deployment = match data.deployment {
            Some(info) if target_uri(&info).is_ok() => info,
            _ => self
                .last_deployment(&scope)
                .await?
                .ok_or(LoadTestError::NoUri)?,
        };
        let request = TestRequest {
            scope,
            deployment: deployment
                .deployment_names
                .as_ref()
                .and_then(|n| n.first())
                .cloned(),
            keptn_context: Some(event.shkeptncontext.to_string()),
            uri: target_uri(&deployment)?,
            workload,
        };
        ctx.status_changed(&format!(
            "running {} tests against {}",
            request.workload.test_strategy, request.uri
        ))
        .await?;
        let mut run = match self.tester.run(&request, &self.cancel).await {
            Ok(run) => run,
            // Stopped by the plane's shutdown: the test runs again after the restart.
            Err(e @ LoadTestError::Cancelled) => return Err(HandlerError::interrupted(e)),
            Err(e) => return Err(e.into()),
        };
        run.id = event.id.to_string();
        self.results.record(&run).await?;
        Ok(finished(&run))
    }
}

fn finished(run: &LoadTestRun) -> TaskOutcome {
    FinishedData::result(run.result())
        .with_message(run.message.clone())
        .with_field("test", run.test_info())
        .into()
}

impl TestHandler {
    /// The run recorded for this very event by an earlier delivery of it.
    async fn earlier_run(
        &self,
        event: &KeptnEvent,
        scope: &ServiceScope,
    ) -> Result<Option<LoadTestRun>, HandlerError> {
        let query = ResultsQuery {
            scope: scope.clone(),
            deployment: None,
            start: event.time - chrono::Duration::minutes(1),
            end: Utc::now(),
        };
        let id = event.id.to_string();
        Ok(self
            .results
            .query(&query)
            .await?
            .into_iter()
            .find(|run| run.id == id))
    }

    /// The `deployment` of the latest successful `deployment.finished` of the service.
    async fn last_deployment(
        &self,
        scope: &ServiceScope,
    ) -> Result<Option<DeploymentInfo>, HandlerError> {
        let filter = EventFilter::parse(&format!(
            "data.project:{} AND data.stage:{} AND data.service:{} AND data.result:pass",
            scope.project(),
            scope.stage(),
            scope.service()
        ))?;
        let mut query = TypeQuery::new(
            EventType::task("deployment", Phase::Finished).to_string(),
            filter,
        );
        query.limit = Some(10);
        let events = self.events.query_by_type(&query).await?;
        Ok(events.iter().find_map(|e| {
            e.data_as::<DeploymentFinished>()
                .ok()
                .and_then(|d| d.deployment)
                .filter(|d| target_uri(d).is_ok())
        }))
    }
}
