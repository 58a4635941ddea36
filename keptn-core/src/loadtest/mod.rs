//! HTTP tests of a deployment (the role of Keptn's jmeter-service) and the measurements the
//! `builtin` SLI provider reads.
//!
//! On `test.triggered`, a handler picks the [`Workload`] of the test strategy
//! ([`HttpLoadConfig::workload`], from `http-load/config.yaml` or the defaults), the target
//! URI ([`target_uri`]), runs it with [`HttpLoadTester::run`] (feature `execution`), stores
//! the [`LoadTestRun`] in a [`LoadTestResults`] store and answers `test.finished` with
//! [`LoadTestRun::test_info`] (start and end) and [`LoadTestRun::result`].
//!
//! The `builtin` SLI provider then reads the runs of the evaluated service overlapping the
//! evaluation's timeframe ([`ResultsQuery`]) and computes the indicators with
//! [`builtin_indicators`]: `response_time_p50/p90/p95/p99` and `response_time_avg` in
//! milliseconds, `throughput` in requests per second, `error_rate` in percent and
//! `request_count`.
//!
//! ```
//! use keptn_core::loadtest::{HttpLoadConfig, builtin_indicators};
//!
//! let config = HttpLoadConfig::parse(b"workloads: [{teststrategy: performance, concurrency: 2, rate: 20, duration: 10s}]")?;
//! let workload = config.workload("performance")?.expect("a workload");
//! assert_eq!(workload.concurrency, 2);
//! let values = builtin_indicators(&[], &["response_time_p95".to_owned()]);
//! assert!(!values[0].success);
//! # Ok::<(), keptn_core::loadtest::LoadTestError>(())
//! ```

mod config;
mod results;
#[cfg(feature = "execution")]
mod runner;
mod sli;
mod store;

pub use config::{CONFIG_PATH, Check, HttpLoadConfig, MAX_REQUESTS_LIMIT, REAL_USER, Workload};
pub use results::{LoadTestRun, MAX_SAMPLES, RequestRecord, Samples, Summary, percentile};
#[cfg(feature = "execution")]
pub use runner::{HttpLoadTester, TestRequest, target_uri};
pub use sli::{BUILTIN_INDICATORS, builtin_indicators};
pub use store::{
    FileLoadTestResults, LoadTestResults, MemoryLoadTestResults, ResultsError, ResultsErrorKind,
    ResultsQuery,
};

/// Why a test could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadTestError {
    /// A workload field is invalid.
    #[error("invalid {field} {value:?}: expected {expected}")]
    Config {
        /// The field and its workload.
        field: String,
        /// The value found.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// The workload file is not valid YAML of the expected shape.
    #[error("cannot read {file}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's error.
        #[source]
        source: serde_norway::Error,
    },
    /// The strategy has no workload (jmeter-service's message).
    #[error("no workload configuration found for teststrategy: {0}")]
    UnknownStrategy(String),
    /// The strategy is not for this executor (`real-user`).
    #[error("{0} tests are not run by the http-load executor")]
    Unsupported(String),
    /// The event carries no deployment URI.
    #[error("no deployment URI included in event")]
    NoUri,
    /// The deployment URI is not usable.
    #[error("invalid deployment URI {uri:?}: {reason}")]
    Uri {
        /// The URI.
        uri: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The test was stopped before its end (shutdown).
    #[error("the test was cancelled before its end")]
    Cancelled,
}
