//! The `prometheus` SLI provider: the `sli.yaml` queries against a Prometheus HTTP API.
//!
//! For each indicator of a request:
//!
//! 1. the query is looked up in `sli.yaml`, merged over the levels: the project's, then the
//!    stage's, then the service's (each at the sequence's commit; a later level overrides an
//!    indicator of an earlier one);
//! 2. its placeholders are replaced ([`QueryContext::substitute`](crate::quality::QueryContext::substitute):
//!    `$PROJECT`, `$STAGE`, `$SERVICE`, `$DEPLOYMENT`, `$DURATION_SECONDS`, custom filters,
//!    labels);
//! 3. `GET <url>/api/v1/query?query=<query>&time=<end of the timeframe>` is asked, and the
//!    answer must be one number: a scalar, or an instant vector of exactly one series.
//!
//! The Prometheus URL is `url` in `prometheus/config.yaml` (service, stage or project level, the
//! most specific wins), else the default the service was started with (`keptn serve
//! --prometheus-url`, `KEPTN_PROMETHEUS_URL`):
//!
//! ```yaml
//! url: http://prometheus.monitoring:9090
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use keptn_sdk::event::payload::SliResult;
use serde::Deserialize;

use super::super::config::{Level, read_levels};
use super::{SliProvider, SliProviderError, SliProviderErrorKind, SliRequest};
use crate::configstore::ConfigStore;
use crate::quality::SliFile;

/// Where a project (stage, service) names its Prometheus.
pub const PROMETHEUS_CONFIG_FILE: &str = "prometheus/config.yaml";
/// The indicator queries.
pub const SLI_FILE: &str = "sli.yaml";

/// How long one query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many queries of one request run at once.
const CONCURRENT_QUERIES: usize = 8;

/// The `prometheus` provider; see the [module docs](self).
#[derive(Clone)]
pub struct PrometheusSliProvider {
    store: Arc<dyn ConfigStore>,
    default_url: Option<String>,
    client: reqwest::Client,
}

impl std::fmt::Debug for PrometheusSliProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSliProvider")
            .field("default_url", &self.default_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct PrometheusConfig {
    #[serde(default)]
    url: Option<String>,
}

/// The body of `/api/v1/query`.
#[derive(Debug, Deserialize)]
struct QueryResponse {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Scalar((f64, String)),
    Vector(Vec<VectorSample>),
    Matrix(serde::de::IgnoredAny),
    String((f64, String)),
}

#[derive(Debug, Deserialize)]
struct VectorSample {
    value: (f64, String),
}

fn config_error(message: String) -> SliProviderError {
    SliProviderError::new(SliProviderErrorKind::Configuration, message)
}

impl PrometheusSliProvider {
    /// The provider's name: `prometheus`.
    pub const NAME: &'static str = "prometheus";

    /// A provider reading its configuration from `store`, asking `default_url` when a project
    /// names no Prometheus.
    pub fn new(
        store: Arc<dyn ConfigStore>,
        default_url: Option<String>,
    ) -> Result<Self, SliProviderError> {
        let client = reqwest::Client::builder()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|e| {
                SliProviderError::new(
                    SliProviderErrorKind::Unavailable,
                    "cannot build the HTTP client",
                )
                .with_source(e)
            })?;
        Ok(Self {
            store,
            default_url: default_url.filter(|u| !u.trim().is_empty()),
            client,
        })
    }

    async fn url(&self, request: &SliRequest) -> Result<String, SliProviderError> {
        let q = &request.query;
        let levels = read_levels(
            &*self.store,
            &q.project,
            &q.stage,
            &q.service,
            PROMETHEUS_CONFIG_FILE,
            request.git_commit.as_ref(),
        )
        .await
        .map_err(|e| unavailable(format!("reading {PROMETHEUS_CONFIG_FILE} failed"), e))?;
        let mut url = None;
        for (level, file) in levels {
            let config: PrometheusConfig =
                serde_norway::from_slice(&file.content).map_err(|e| {
                    config_error(format!(
                        "{PROMETHEUS_CONFIG_FILE} of {}: {e}",
                        level.describe(&q.project, &q.stage, &q.service)
                    ))
                })?;
            if let Some(u) = config.url.filter(|u| !u.trim().is_empty()) {
                url = Some(u);
            }
        }
        let url = url.or_else(|| self.default_url.clone()).ok_or_else(|| {
            config_error(format!(
                "no Prometheus URL for project {}: add {PROMETHEUS_CONFIG_FILE} with `url: http://...` to the project, or start keptn serve with --prometheus-url",
                q.project
            ))
        })?;
        let parsed = url::Url::parse(url.trim()).map_err(|e| {
            config_error(format!(
                "url: {url:?} is not a URL ({e}); expected e.g. http://127.0.0.1:9090"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "url: {url:?} is not an http or https URL"
            )));
        }
        Ok(url.trim().trim_end_matches('/').to_owned())
    }

    async fn queries(
        &self,
        request: &SliRequest,
    ) -> Result<BTreeMap<String, String>, SliProviderError> {
        let q = &request.query;
        let levels = read_levels(
            &*self.store,
            &q.project,
            &q.stage,
            &q.service,
            SLI_FILE,
            request.git_commit.as_ref(),
        )
        .await
        .map_err(|e| unavailable(format!("reading {SLI_FILE} failed"), e))?;
        let mut queries = BTreeMap::new();
        for (level, file) in levels {
            let parsed = SliFile::parse(&file.content).map_err(|e| {
                config_error(format!("{SLI_FILE} of {}: {e}", describe(level, request)))
            })?;
            queries.extend(parsed.indicators);
        }
        Ok(queries)
    }

    async fn query(&self, url: &str, query: &str, time: f64) -> Result<f64, String> {
        let endpoint = format!("{url}/api/v1/query");
        let response = self
            .client
            .get(&endpoint)
            .query(&[("query", query), ("time", &format!("{time:.3}"))])
            .send()
            .await
            .map_err(|e| format!("cannot reach Prometheus at {url}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the answer of Prometheus at {url} failed: {e}"))?;
        let parsed: QueryResponse = serde_json::from_slice(&body).map_err(|_| {
            format!("Prometheus at {url} answered {status} with a body that is not its API's JSON")
        })?;
        if parsed.status != "success" {
            return Err(format!(
                "Prometheus rejected the query {query:?}: {}: {}",
                parsed.error_type.as_deref().unwrap_or("error"),
                parsed.error.as_deref().unwrap_or("no message")
            ));
        }
        let text = match parsed.data {
            Some(QueryData::Scalar((_, v))) => v,
            Some(QueryData::Vector(mut samples)) if samples.len() == 1 => samples.remove(0).value.1,
            Some(QueryData::Vector(samples)) if samples.is_empty() => {
                return Err(format!(
                    "Prometheus returned no value for the query {query:?}"
                ));
            }
            Some(QueryData::Vector(samples)) => {
                return Err(format!(
                    "Prometheus returned {} series for the query {query:?}; an SLI query must return one (aggregate it, e.g. with sum or avg)",
                    samples.len()
                ));
            }
            Some(QueryData::Matrix(_)) => {
                return Err(format!(
                    "the query {query:?} returns a range vector; an SLI query must return one number"
                ));
            }
            Some(QueryData::String((_, v))) => {
                return Err(format!(
                    "the query {query:?} returns the string {v:?}, not a number"
                ));
            }
            None => {
                return Err(format!(
                    "Prometheus answered without data for the query {query:?}"
                ));
            }
        };
        let value: f64 = text.parse().map_err(|_| {
            format!("Prometheus returned {text:?} for the query {query:?}, not a number")
        })?;
        if !value.is_finite() {
            return Err(format!(
                "Prometheus returned {text} for the query {query:?}"
            ));
        }
        Ok(value)
    }
}

impl PrometheusSliProvider {
    async fn measure_one(
        &self,
        url: &str,
        indicator: &str,
        query: Option<String>,
        request: &SliRequest,
        time: f64,
    ) -> SliResult {
        let q = &request.query;
        let measured = match &query {
            Some(query) => self.query(url, query, time).await,
            None => Err(format!(
                "no query for indicator {indicator} in {SLI_FILE} of service {} in stage {} (nor of the stage or project)",
                q.service, q.stage
            )),
        };
        match measured {
            Ok(value) => SliResult {
                metric: indicator.to_owned(),
                value,
                success: true,
                ..SliResult::default()
            },
            Err(message) => SliResult {
                metric: indicator.to_owned(),
                value: 0.0,
                success: false,
                message: Some(message),
                ..SliResult::default()
            },
        }
    }
}

fn describe(level: Level, request: &SliRequest) -> String {
    let q = &request.query;
    level.describe(&q.project, &q.stage, &q.service)
}

fn unavailable(
    message: String,
    e: impl std::error::Error + Send + Sync + 'static,
) -> SliProviderError {
    SliProviderError::new(SliProviderErrorKind::Unavailable, message).with_source(e)
}

#[async_trait]
impl SliProvider for PrometheusSliProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn measure(&self, request: &SliRequest) -> Result<Vec<SliResult>, SliProviderError> {
        let url = self.url(request).await?;
        let queries = self.queries(request).await?;
        let time = request.timeframe.end.timestamp_millis() as f64 / 1000.0;
        let q = &request.query;
        // Collected first: a stream over a closure's futures is not `Send` for every lifetime.
        let jobs: Vec<_> = request
            .indicators
            .iter()
            .map(|indicator| {
                let query = queries.get(indicator).map(|raw| q.substitute(raw));
                self.measure_one(&url, indicator, query, request, time)
            })
            .collect();
        let results = futures::stream::iter(jobs)
            .buffered(CONCURRENT_QUERIES)
            .collect::<Vec<_>>()
            .await;
        Ok(results)
    }
}
