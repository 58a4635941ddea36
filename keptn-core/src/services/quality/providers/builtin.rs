//! The `builtin` SLI provider: indicators computed from our own load-test results.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::payload::SliResult;

use super::{SliProvider, SliProviderError, SliProviderErrorKind, SliRequest};
use crate::deploy::ServiceScope;
use crate::loadtest::{LoadTestResults, ResultsQuery, builtin_indicators};

/// Measures `response_time_p50/p90/p95/p99` and `response_time_avg` (milliseconds),
/// `throughput` (requests per second), `error_rate` (percent) and `request_count` over the test
/// runs of the service (and deployment) that overlap the timeframe
/// ([`builtin_indicators`](crate::loadtest::builtin_indicators)).
///
/// The deployment of the request (`get-sli.triggered` `deployment`, e.g. `canary` or `direct`)
/// selects the runs against that deployment; runs recorded without a deployment name count for
/// every deployment. Unknown indicators, and every indicator when no run overlaps the
/// timeframe, are reported with `success: false` and a message.
#[derive(Debug, Clone)]
pub struct BuiltinSliProvider {
    results: Arc<dyn LoadTestResults>,
}

impl BuiltinSliProvider {
    /// The provider's name: `builtin`.
    pub const NAME: &'static str = "builtin";

    /// A provider over a results store.
    pub fn new(results: Arc<dyn LoadTestResults>) -> Self {
        Self { results }
    }
}

#[async_trait]
impl SliProvider for BuiltinSliProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn measure(&self, request: &SliRequest) -> Result<Vec<SliResult>, SliProviderError> {
        let q = &request.query;
        let scope = ServiceScope::new(&q.project, &q.stage, &q.service).map_err(|e| {
            SliProviderError::new(SliProviderErrorKind::InvalidRequest, e.to_string())
        })?;
        let query = ResultsQuery {
            scope,
            deployment: None,
            start: request.timeframe.start,
            end: request.timeframe.end,
        };
        let runs = self.results.query(&query).await.map_err(|e| {
            SliProviderError::new(
                SliProviderErrorKind::Unavailable,
                format!(
                    "reading the load test results of service {} in stage {} failed",
                    q.service, q.stage
                ),
            )
            .with_source(e)
        })?;
        let runs: Vec<_> = runs
            .into_iter()
            .filter(|run| {
                q.deployment.is_empty()
                    || run.deployment.as_ref().is_none_or(|d| *d == q.deployment)
            })
            .collect();
        Ok(builtin_indicators(&runs, &request.indicators))
    }
}
