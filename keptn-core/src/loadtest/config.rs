//! The workloads of the `http-load` test executor: `http-load/config.yaml` in the service
//! folder, and the defaults used without it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LoadTestError;
use crate::quality::timeframe::parse_duration;

/// Path of the workload file, relative to the service folder.
pub const CONFIG_PATH: &str = "http-load/config.yaml";

/// The test strategy that is never run by this executor (Keptn waits for real users).
pub const REAL_USER: &str = "real-user";

/// Most requests a workload may send.
pub const MAX_REQUESTS_LIMIT: u64 = 1_000_000;

/// `http-load/config.yaml`: a list of workloads, one per test strategy, in the shape of
/// jmeter-service's `jmeter.conf.yaml`.
///
/// ```yaml
/// spec_version: "0.1.0"
/// workloads:
///   - teststrategy: functional
///     checks:
///       - path: /
///       - path: /health
///         expectStatus: [200]
///         bodyContains: ok
///   - teststrategy: performance
///     path: /
///     concurrency: 10
///     rate: 50           # requests per second over all workers; 0 = as fast as possible
///     duration: 30s
///     acceptedErrorRate: 0.1
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpLoadConfig {
    /// Version of the format (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    /// The workloads.
    #[serde(default)]
    pub workloads: Vec<Workload>,
}

/// What to send for one test strategy.
///
/// With `checks`, the workload is functional: each check is one GET whose status (and
/// optionally body) is verified. Without, it is a load: `concurrency` workers send GETs to
/// `path` at `rate` requests per second in total for `duration` (at most `maxRequests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    /// The test strategy it answers (`functional`, `performance`, or any custom name).
    #[serde(rename = "teststrategy")]
    pub test_strategy: String,
    /// Functional checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Path of the load requests (default `/`).
    #[serde(default = "root")]
    pub path: String,
    /// Concurrent workers of a load (default 10).
    #[serde(default = "ten")]
    pub concurrency: u32,
    /// Target rate in requests per second over all workers; 0 means as fast as the workers
    /// can (default 40).
    #[serde(default = "forty")]
    pub rate: f64,
    /// How long a load lasts (Go duration, default `30s`).
    #[serde(default = "thirty_seconds")]
    pub duration: String,
    /// Most requests of a load (default 100000).
    #[serde(default = "hundred_thousand")]
    pub max_requests: u64,
    /// Time limit of one request (default `5s`).
    #[serde(default = "five_seconds")]
    pub timeout: String,
    /// Largest fraction of failed requests (0 to 1) for the test to pass; default 0 for
    /// functional workloads, 0.1 for loads (jmeter-service's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_error_rate: Option<f64>,
    /// Fails the test when the mean response time exceeds this many milliseconds (0 = off).
    #[serde(default, rename = "avgRtValidation")]
    pub avg_rt_validation_ms: u64,
}

/// One functional check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Check {
    /// The path to GET.
    pub path: String,
    /// Accepted status codes (default: any 2xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

fn root() -> String {
    "/".to_owned()
}
fn ten() -> u32 {
    10
}
fn forty() -> f64 {
    40.0
}
fn thirty_seconds() -> String {
    "30s".to_owned()
}
fn hundred_thousand() -> u64 {
    100_000
}
fn five_seconds() -> String {
    "5s".to_owned()
}

impl Workload {
    /// A functional workload of GETs to `paths`.
    pub fn functional(strategy: &str, paths: &[&str]) -> Self {
        Self {
            test_strategy: strategy.to_owned(),
            checks: paths
                .iter()
                .map(|p| Check {
                    path: (*p).to_owned(),
                    expect_status: Vec::new(),
                    body_contains: None,
                })
                .collect(),
            ..Self::load(strategy, "/", 1, 0.0, "1s")
        }
    }

    /// A load workload.
    pub fn load(strategy: &str, path: &str, concurrency: u32, rate: f64, duration: &str) -> Self {
        Self {
            test_strategy: strategy.to_owned(),
            checks: Vec::new(),
            path: path.to_owned(),
            concurrency,
            rate,
            duration: duration.to_owned(),
            max_requests: hundred_thousand(),
            timeout: five_seconds(),
            accepted_error_rate: None,
            avg_rt_validation_ms: 0,
        }
    }

    /// Whether it is a list of checks rather than a load.
    pub fn is_functional(&self) -> bool {
        !self.checks.is_empty()
    }

    /// The accepted error fraction, with the default of its kind.
    pub fn accepted_error_rate(&self) -> f64 {
        self.accepted_error_rate
            .unwrap_or(if self.is_functional() { 0.0 } else { 0.1 })
    }

    /// How long a load lasts.
    pub fn duration(&self) -> Result<Duration, LoadTestError> {
        self.parse_duration("duration", &self.duration)
    }

    /// Time limit of one request.
    pub fn timeout(&self) -> Result<Duration, LoadTestError> {
        self.parse_duration("timeout", &self.timeout)
    }

    fn parse_duration(&self, field: &'static str, text: &str) -> Result<Duration, LoadTestError> {
        let invalid = |expected: &str| LoadTestError::Config {
            field: format!("{field} of workload {}", self.test_strategy),
            value: text.to_owned(),
            expected: expected.to_owned(),
        };
        let delta = parse_duration(text).map_err(invalid)?;
        match delta.to_std() {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(invalid("a positive duration, e.g. 30s")),
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), LoadTestError> {
        let invalid = |field: &str, value: String, expected: &str| LoadTestError::Config {
            field: format!("{field} of workload {}", self.test_strategy),
            value,
            expected: expected.to_owned(),
        };
        if self.test_strategy.trim().is_empty() {
            return Err(invalid(
                "teststrategy",
                String::new(),
                "a test strategy name",
            ));
        }
        for path in std::iter::once(&self.path).chain(self.checks.iter().map(|c| &c.path)) {
            if !path.starts_with('/') {
                return Err(invalid("path", path.clone(), "a path starting with '/'"));
            }
        }
        if self.concurrency == 0 || self.concurrency > 1000 {
            return Err(invalid(
                "concurrency",
                self.concurrency.to_string(),
                "1 to 1000",
            ));
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err(invalid(
                "rate",
                self.rate.to_string(),
                "0 (unlimited) or a positive number of requests per second",
            ));
        }
        if self.max_requests == 0 || self.max_requests > MAX_REQUESTS_LIMIT {
            return Err(invalid(
                "maxRequests",
                self.max_requests.to_string(),
                "1 to 1000000",
            ));
        }
        if let Some(rate) = self.accepted_error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(
                    "acceptedErrorRate",
                    rate.to_string(),
                    "a fraction between 0 and 1",
                ));
            }
        }
        for check in &self.checks {
            if let Some(bad) = check
                .expect_status
                .iter()
                .find(|s| !(100..=599).contains(*s))
            {
                return Err(invalid(
                    "expectStatus",
                    bad.to_string(),
                    "HTTP status codes (100 to 599)",
                ));
            }
        }
        self.duration()?;
        self.timeout()?;
        Ok(())
    }
}

impl HttpLoadConfig {
    /// Reads `http-load/config.yaml` and checks every workload.
    pub fn parse(bytes: &[u8]) -> Result<Self, LoadTestError> {
        let config: HttpLoadConfig =
            serde_norway::from_slice(bytes).map_err(|source| LoadTestError::Parse {
                file: CONFIG_PATH.to_owned(),
                source,
            })?;
        for workload in &config.workloads {
            workload.validate()?;
        }
        Ok(config)
    }

    /// The workload of a test strategy: the file's, else the default one (`healthcheck`,
    /// `functional`, `performance`). `Ok(None)` for an empty strategy (nothing to run, the
    /// test passes, as in jmeter-service); [`LoadTestError::Unsupported`] for `real-user`;
    /// [`LoadTestError::UnknownStrategy`] for other strategies without a workload.
    pub fn workload(&self, strategy: &str) -> Result<Option<Workload>, LoadTestError> {
        let strategy = strategy.trim().to_lowercase();
        if strategy.is_empty() {
            return Ok(None);
        }
        if strategy == REAL_USER {
            return Err(LoadTestError::Unsupported(strategy));
        }
        if let Some(w) = self.workloads.iter().find(|w| w.test_strategy == strategy) {
            return Ok(Some(w.clone()));
        }
        match strategy.as_str() {
            "healthcheck" | "functional" => Ok(Some(Workload::functional(&strategy, &["/"]))),
            "performance" => Ok(Some(Workload::load(&strategy, "/", 10, 40.0, "30s"))),
            _ => Err(LoadTestError::UnknownStrategy(strategy)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_workloads_override_the_defaults() {
        let config = HttpLoadConfig::parse(
            br#"
workloads:
  - teststrategy: performance
    concurrency: 2
    rate: 5
    duration: 2s
  - teststrategy: functional
    checks: [{path: /, expectStatus: [200, 201]}, {path: /health, bodyContains: ok}]
"#,
        )
        .unwrap();
        let perf = config.workload("performance").unwrap().unwrap();
        assert_eq!((perf.concurrency, perf.rate), (2, 5.0));
        assert_eq!(perf.duration().unwrap(), Duration::from_secs(2));
        assert_eq!(perf.accepted_error_rate(), 0.1);
        let func = config.workload("Functional").unwrap().unwrap();
        assert!(func.is_functional());
        assert_eq!(func.accepted_error_rate(), 0.0);
        assert_eq!(func.checks[1].body_contains.as_deref(), Some("ok"));
    }

    #[test]
    fn strategies_without_workload() {
        let config = HttpLoadConfig::default();
        assert!(config.workload("").unwrap().is_none());
        assert!(
            config
                .workload("healthcheck")
                .unwrap()
                .unwrap()
                .is_functional()
        );
        assert!(
            !config
                .workload("performance")
                .unwrap()
                .unwrap()
                .is_functional()
        );
        assert!(matches!(
            config.workload("real-user"),
            Err(LoadTestError::Unsupported(_))
        ));
        let e = config.workload("soak").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no workload configuration found for teststrategy: soak"
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        for (yaml, field) in [
            (
                "workloads: [{teststrategy: p, concurrency: 0}]",
                "concurrency",
            ),
            ("workloads: [{teststrategy: p, rate: -1}]", "rate"),
            (
                "workloads: [{teststrategy: p, duration: forever}]",
                "duration",
            ),
            ("workloads: [{teststrategy: p, path: x}]", "path"),
            (
                "workloads: [{teststrategy: p, acceptedErrorRate: 5}]",
                "acceptedErrorRate",
            ),
            (
                "workloads: [{teststrategy: p, checks: [{path: /, expectStatus: [42]}]}]",
                "expectStatus",
            ),
        ] {
            let e = HttpLoadConfig::parse(yaml.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(field), "{yaml}: {e}");
        }
        assert!(HttpLoadConfig::parse(b"workloads: [{teststrategy: p, vusers: 3}]").is_err());
    }
}
