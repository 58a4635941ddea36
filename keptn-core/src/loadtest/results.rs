//! The results of a test run: per-request records folded into a summary and latency samples.

use chrono::{DateTime, Utc};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::TestInfo;
use serde::{Deserialize, Serialize};

use crate::quality::timeframe::format_timestamp;

/// Most latency samples kept per run; beyond, every other sample is dropped (evenly over
/// time), so percentiles stay representative and a stored run stays small.
pub const MAX_SAMPLES: usize = 10_000;

/// One request as the executor saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRecord {
    /// Time to the response head (or to the failure), in milliseconds.
    pub latency_ms: f64,
    /// The response status, if a response came.
    pub status: Option<u16>,
    /// Whether the request counts as failed (no response, or a status that was not accepted).
    pub failed: bool,
}

/// Latency samples, thinned evenly once there are more than [`MAX_SAMPLES`].
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f64>,
    stride: u64,
    seen: u64,
}

impl Samples {
    /// No samples.
    pub fn new() -> Self {
        Self {
            values: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }

    /// Adds a latency.
    pub fn push(&mut self, latency_ms: f64) {
        if self.seen % self.stride.max(1) == 0 {
            self.values.push(latency_ms);
            if self.values.len() > MAX_SAMPLES {
                let mut i = 0;
                self.values.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = self.stride.max(1) * 2;
            }
        }
        self.seen += 1;
    }

    /// The kept samples.
    pub fn into_vec(self) -> Vec<f64> {
        self.values
    }
}

/// The `p`-th percentile (0 < p <= 100) by the nearest-rank method; `None` without values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Counts, rates and latency percentiles of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (no response, or a status that was not accepted).
    pub errors: u64,
    /// `errors / requests`, in percent (0 to 100).
    pub error_rate_percent: f64,
    /// Requests per second over the run.
    pub throughput: f64,
    /// Mean latency of the answered requests, in milliseconds.
    pub mean_ms: Option<f64>,
    /// Median latency in milliseconds.
    pub p50_ms: Option<f64>,
    /// 90th percentile in milliseconds.
    pub p90_ms: Option<f64>,
    /// 95th percentile in milliseconds.
    pub p95_ms: Option<f64>,
    /// 99th percentile in milliseconds.
    pub p99_ms: Option<f64>,
    /// Slowest answered request in milliseconds.
    pub max_ms: Option<f64>,
}

impl Summary {
    /// Summarizes sorted latency samples of the answered requests, `requests` and `errors`
    /// over `seconds`.
    pub fn from_parts(sorted: &[f64], requests: u64, errors: u64, seconds: f64) -> Self {
        let mean = (!sorted.is_empty()).then(|| sorted.iter().sum::<f64>() / sorted.len() as f64);
        Self {
            requests,
            errors,
            error_rate_percent: if requests == 0 {
                0.0
            } else {
                errors as f64 * 100.0 / requests as f64
            },
            throughput: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            mean_ms: mean,
            p50_ms: percentile(sorted, 50.0),
            p90_ms: percentile(sorted, 90.0),
            p95_ms: percentile(sorted, 95.0),
            p99_ms: percentile(sorted, 99.0),
            max_ms: sorted.last().copied(),
        }
    }
}

/// One test run: who was tested, when, and what came out. This is what the results store
/// keeps and the `builtin` SLI provider reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadTestRun {
    /// A unique id.
    pub id: String,
    /// The project.
    pub project: String,
    /// The stage.
    pub stage: String,
    /// The service.
    pub service: String,
    /// The deployment name that was tested (`canary`, `direct`, ...), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// The Keptn context of the sequence, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keptn_context: Option<String>,
    /// The test strategy.
    pub strategy: String,
    /// The URI the traffic went to.
    pub uri: String,
    /// When the first request was sent.
    pub start: DateTime<Utc>,
    /// When the last response came.
    pub end: DateTime<Utc>,
    /// Whether the workload's pass conditions held.
    pub passed: bool,
    /// A human-readable account, in jmeter-service's words.
    pub message: String,
    /// The numbers.
    pub summary: Summary,
    /// Latency samples of the answered requests, in milliseconds (at most [`MAX_SAMPLES`]).
    #[serde(default)]
    pub latencies_ms: Vec<f64>,
}

impl LoadTestRun {
    /// `pass` or `fail`.
    pub fn result(&self) -> KeptnResult {
        if self.passed {
            KeptnResult::Pass
        } else {
            KeptnResult::Fail
        }
    }

    /// The `test` object of `test.finished`: strategy, start and end.
    pub fn test_info(&self) -> TestInfo {
        TestInfo {
            test_strategy: Some(self.strategy.clone()),
            start: Some(format_timestamp(self.start)),
            end: Some(format_timestamp(self.end)),
        }
    }

    /// Whether the run overlaps `[start, end]`.
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.start <= end && self.end >= start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.9), Some(100.0));
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn samples_are_thinned_evenly() {
        let mut s = Samples::new();
        for i in 0..(MAX_SAMPLES * 4) {
            s.push(i as f64);
        }
        let v = s.into_vec();
        assert!(
            v.len() <= MAX_SAMPLES && v.len() > MAX_SAMPLES / 4,
            "{}",
            v.len()
        );
        assert!(
            v.last().unwrap() > &((MAX_SAMPLES * 3) as f64),
            "covers the whole run"
        );
    }

    #[test]
    fn summary_rates() {
        let s = Summary::from_parts(&[1.0, 2.0, 3.0, 10.0], 5, 1, 2.0);
        assert_eq!(s.error_rate_percent, 20.0);
        assert_eq!(s.throughput, 2.5);
        assert_eq!(s.mean_ms, Some(4.0));
        assert_eq!(s.p50_ms, Some(2.0));
        assert_eq!(s.max_ms, Some(10.0));
    }
}
