//! SLI providers: services that answer `get-sli.triggered` with measured values.
//!
//! A provider implements [`SliProvider`]; [`GetSliHandler`] speaks the protocol around it:
//!
//! - only the `get-sli.triggered` events whose `get-sli.sliProvider` is the provider's name are
//!   taken (a runner [`Filter`] on that field); the others are left to other providers, without
//!   `.started`;
//! - `get-sli.started`, then `get-sli.finished` with `get-sli {start, end, indicatorValues}`;
//! - an indicator that cannot be measured is reported with `success: false` and a message (the
//!   lighthouse fails its objective); when **no** indicator could be measured the result is
//!   `fail` with the first message (the lighthouse then fails the evaluation with Keptn's "SLI
//!   failed" message);
//! - a request the provider cannot serve at all (an invalid `sli.yaml`, an unreadable results
//!   store, no Prometheus URL) finishes `errored`; the lighthouse errors the evaluation.
//!
//! | provider | service (`source`) | values from |
//! |---|---|---|
//! | `builtin` | `builtin-sli-provider` | the http-load executor's stored test runs ([`BuiltinSliProvider`]) |
//! | `prometheus` | `prometheus-service` | the Prometheus HTTP API with the `sli.yaml` queries (feature `execution`) |

mod builtin;
#[cfg(feature = "execution")]
pub mod prometheus;

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::payload::{FinishedData, GetSliResult, GetSliTriggered, SliResult};
use keptn_sdk::event::{GitCommitId, KeptnResult};
use keptn_sdk::handler::{Filter, HandlerError, TaskContext, TaskHandler, TaskOutcome, TaskRunner};

pub use builtin::BuiltinSliProvider;

use super::BUILTIN_PROVIDER_SOURCE;
use crate::loadtest::LoadTestResults;
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext};
use crate::quality::{QueryContext, Timeframe};

/// What a provider is asked to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct SliRequest {
    /// Project, stage, service, deployment, custom filters, labels and timeframe: everything the
    /// query placeholders can refer to.
    pub query: QueryContext,
    /// The timeframe to measure.
    pub timeframe: Timeframe,
    /// The indicators, in the order asked.
    pub indicators: Vec<String>,
    /// The configuration commit of the sequence, if known.
    pub git_commit: Option<GitCommitId>,
}

/// What kind of failure a [`SliProviderError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SliProviderErrorKind {
    /// The request lacks something (a valid project, stage or service).
    InvalidRequest,
    /// The provider's configuration is missing or invalid (`sli.yaml`, the backend's URL).
    Configuration,
    /// The backend could not be read.
    Unavailable,
}

/// Why a provider could not serve a request at all (per-indicator failures are values with
/// `success: false`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SliProviderError {
    kind: SliProviderErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SliProviderError {
    /// An error of `kind`.
    pub fn new(kind: SliProviderErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> SliProviderErrorKind {
        self.kind
    }
}

/// A source of measured indicator values for a timeframe.
///
/// # Contract
/// - [`name`](SliProvider::name) is the value of `get-sli.sliProvider` the provider answers
///   (what `keptn configure monitoring <name>` sets).
/// - [`measure`](SliProvider::measure) returns one [`SliResult`] per requested indicator, in
///   the order asked; an indicator that cannot be measured has `success: false` and a message
///   that says why. It returns an error only when it cannot serve the request at all.
/// - It is called concurrently for different requests, and may be called twice for the same
///   request (deliveries are at least once): it must not change anything.
#[async_trait]
pub trait SliProvider: Send + Sync + 'static {
    /// The provider's name (`builtin`, `prometheus`).
    fn name(&self) -> &str;

    /// Measures the indicators of `request`.
    async fn measure(&self, request: &SliRequest) -> Result<Vec<SliResult>, SliProviderError>;
}

/// The `get-sli` task handler around a provider; see the [module docs](self).
pub struct GetSliHandler<P> {
    provider: Arc<P>,
}

impl<P: SliProvider> std::fmt::Debug for GetSliHandler<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetSliHandler")
            .field("provider", &self.provider.name())
            .finish()
    }
}

impl<P: SliProvider> GetSliHandler<P> {
    /// A handler for `provider`.
    pub fn new(provider: Arc<P>) -> Self {
        Self { provider }
    }

    /// The filter that keeps the requests addressed to this provider.
    pub fn filter(&self) -> Filter {
        Filter::new().data_field("get-sli.sliProvider", [self.provider.name()])
    }
}

fn finished_with(
    data: FinishedData,
    start: &str,
    end: &str,
    values: Vec<SliResult>,
) -> FinishedData {
    data.with_field(
        "get-sli",
        GetSliResult {
            start: Some(start.to_owned()),
            end: Some(end.to_owned()),
            indicator_values: Some(values),
        },
    )
}

#[async_trait]
impl<P: SliProvider> TaskHandler for GetSliHandler<P> {
    type Data = GetSliTriggered;

    fn task(&self) -> &str {
        "get-sli"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: GetSliTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let query = match QueryContext::from_get_sli(&data) {
            Ok(query) => query,
            Err(e) => return Ok(FinishedData::errored(e.to_string()).into()),
        };
        let Some(timeframe) = query.timeframe else {
            return Ok(FinishedData::errored("get-sli.start: missing").into());
        };
        let (start, end) = (timeframe.start_string(), timeframe.end_string());
        let request = SliRequest {
            timeframe,
            indicators: data
                .get_sli
                .as_ref()
                .and_then(|g| g.indicators.clone())
                .unwrap_or_default(),
            git_commit: ctx.event().gitcommitid.clone(),
            query,
        };
        let values = match self.provider.measure(&request).await {
            Ok(values) => values,
            Err(e) => {
                tracing::warn!(provider = self.provider.name(), error = %e, "get-sli failed");
                let message = HandlerError::from(e).report();
                return Ok(
                    finished_with(FinishedData::errored(message), &start, &end, Vec::new()).into(),
                );
            }
        };
        let first_failure = values.iter().find(|v| !v.success).map(|v| {
            format!(
                "{}: {}",
                v.metric,
                v.message.as_deref().unwrap_or("no value")
            )
        });
        let all_failed = !values.is_empty() && values.iter().all(|v| !v.success);
        let data = match first_failure {
            Some(message) if all_failed => FinishedData::result(KeptnResult::Fail)
                .with_message(format!("no indicator could be measured; {message}")),
            Some(message) => FinishedData::pass()
                .with_message(format!("some indicators could not be measured; {message}")),
            None => FinishedData::pass(),
        };
        Ok(finished_with(data, &start, &end, values).into())
    }
}

/// A plane service named `source` that answers the provider's `get-sli.triggered` events.
pub fn sli_provider_service<P: SliProvider>(
    source: &'static str,
    make: impl FnOnce(&ServiceContext) -> Result<P, String> + Send + 'static,
) -> impl PlaneService {
    HandlerService::new(source, move |ctx: &ServiceContext| {
        let handler = GetSliHandler::new(Arc::new(make(ctx)?));
        let filter = handler.filter();
        let runner = TaskRunner::new(Arc::clone(&ctx.transport), handler)
            .source(source)
            .queue_group(source)
            .shutdown_deadline(super::RUNNER_SHUTDOWN_DEADLINE)
            .filter(filter);
        Ok(vec![BoxedRunner::new(runner)])
    })
}

/// The `builtin` provider as a plane service named `builtin-sli-provider`, reading `results`.
pub fn builtin_sli_provider_service(results: Arc<dyn LoadTestResults>) -> impl PlaneService {
    sli_provider_service(BUILTIN_PROVIDER_SOURCE, move |_ctx: &ServiceContext| {
        Ok(BuiltinSliProvider::new(results))
    })
}

/// The `prometheus` provider as a plane service named `prometheus-service`: its URL comes from
/// the project's `prometheus/config.yaml`, else `default_url` (feature `execution`).
#[cfg(feature = "execution")]
pub fn prometheus_sli_provider_service(default_url: Option<String>) -> impl PlaneService {
    sli_provider_service(
        super::PROMETHEUS_PROVIDER_SOURCE,
        move |ctx: &ServiceContext| {
            prometheus::PrometheusSliProvider::new(Arc::clone(&ctx.config_store), default_url)
                .map_err(|e| e.to_string())
        },
    )
}
