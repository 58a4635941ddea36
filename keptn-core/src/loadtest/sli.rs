//! The indicators of the `builtin` SLI provider, computed from stored test runs.

use keptn_sdk::event::payload::SliResult;

use super::results::{LoadTestRun, percentile};

/// The indicators the `builtin` provider knows, with their units:
///
/// | indicator | value |
/// |---|---|
/// | `response_time_p50`, `_p90`, `_p95`, `_p99` | latency percentile, milliseconds |
/// | `response_time_avg` | mean latency, milliseconds |
/// | `throughput` | requests per second |
/// | `error_rate` | failed requests in percent (0 to 100) |
/// | `request_count` | requests sent |
pub const BUILTIN_INDICATORS: [&str; 8] = [
    "response_time_p50",
    "response_time_p90",
    "response_time_p95",
    "response_time_p99",
    "response_time_avg",
    "throughput",
    "error_rate",
    "request_count",
];

/// Computes `indicators` over every run given (the runs overlapping an evaluation's
/// timeframe): percentiles over the latency samples of all runs together, throughput as all
/// requests over the summed run durations, error rate as all failures over all requests.
///
/// Each indicator gets one [`SliResult`] in the order asked; an unknown indicator, or one
/// that cannot be computed (no runs, no answered request), has `success: false` and a
/// message.
pub fn builtin_indicators(runs: &[LoadTestRun], indicators: &[String]) -> Vec<SliResult> {
    let requests: u64 = runs.iter().map(|r| r.summary.requests).sum();
    let errors: u64 = runs.iter().map(|r| r.summary.errors).sum();
    let seconds: f64 = runs
        .iter()
        .map(|r| (r.end - r.start).num_microseconds().unwrap_or(0) as f64 / 1e6)
        .sum();
    let mut samples: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.latencies_ms.iter().copied())
        .collect();
    samples.sort_by(f64::total_cmp);

    indicators
        .iter()
        .map(|name| {
            let measured = if runs.is_empty() || requests == 0 {
                Err("no load test results in the timeframe".to_owned())
            } else {
                measure(name, &samples, requests, errors, seconds)
            };
            match measured {
                Ok(value) => SliResult {
                    metric: name.clone(),
                    value,
                    success: true,
                    ..SliResult::default()
                },
                Err(message) => SliResult {
                    metric: name.clone(),
                    value: 0.0,
                    success: false,
                    message: Some(message),
                    ..SliResult::default()
                },
            }
        })
        .collect()
}

fn measure(
    name: &str,
    samples: &[f64],
    requests: u64,
    errors: u64,
    seconds: f64,
) -> Result<f64, String> {
    let latency = |value: Option<f64>| {
        value.ok_or_else(|| "no request of the load tests got a response".to_owned())
    };
    match name {
        "response_time_p50" => latency(percentile(samples, 50.0)),
        "response_time_p90" => latency(percentile(samples, 90.0)),
        "response_time_p95" => latency(percentile(samples, 95.0)),
        "response_time_p99" => latency(percentile(samples, 99.0)),
        "response_time_avg" => latency(
            (!samples.is_empty()).then(|| samples.iter().sum::<f64>() / samples.len() as f64),
        ),
        "throughput" if seconds > 0.0 => Ok(requests as f64 / seconds),
        "throughput" => Err("the load tests took no measurable time".to_owned()),
        "error_rate" => Ok(errors as f64 * 100.0 / requests as f64),
        "request_count" => Ok(requests as f64),
        _ => Err(format!(
            "unknown indicator {name}: the builtin provider knows {}",
            BUILTIN_INDICATORS.join(", ")
        )),
    }
}
