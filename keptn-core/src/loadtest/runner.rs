//! The `http-load` test executor: functional checks and rate-limited load against a
//! deployment URI.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use keptn_sdk::event::payload::DeploymentInfo;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::LoadTestError;
use super::config::{Check, Workload};
use super::results::{LoadTestRun, RequestRecord, Samples, Summary};
use crate::deploy::ServiceScope;

/// What to test.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// The tested service.
    pub scope: ServiceScope,
    /// The deployment name (`canary`, `direct`, ...), recorded with the results.
    pub deployment: Option<String>,
    /// The Keptn context, recorded with the results.
    pub keptn_context: Option<String>,
    /// The base URI (paths of the workload are appended).
    pub uri: String,
    /// What to send.
    pub workload: Workload,
}

/// The URI a test targets: the first local deployment URI, else the first public one (as
/// jmeter-service chose).
pub fn target_uri(deployment: &DeploymentInfo) -> Result<String, LoadTestError> {
    let first = |uris: &Option<Vec<String>>| {
        uris.as_ref()
            .and_then(|u| u.first())
            .filter(|u| !u.trim().is_empty())
            .cloned()
    };
    first(&deployment.deployment_uris_local)
        .or_else(|| first(&deployment.deployment_uris_public))
        .ok_or(LoadTestError::NoUri)
}

/// Sends test traffic with a pooled HTTP client.
#[derive(Debug, Clone)]
pub struct HttpLoadTester {
    client: reqwest::Client,
    reach_attempts: u32,
    reach_interval: Duration,
}

impl HttpLoadTester {
    /// A tester that checks reachability 3 times, 1 s apart, before a test.
    pub fn new() -> Result<Self, LoadTestError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| LoadTestError::Client(Box::new(e)))?;
        Ok(Self {
            client,
            reach_attempts: 3,
            reach_interval: Duration::from_secs(1),
        })
    }

    /// Sets how often and how far apart reachability is checked before a test.
    pub fn with_reachability(mut self, attempts: u32, interval: Duration) -> Self {
        self.reach_attempts = attempts.max(1);
        self.reach_interval = interval;
        self
    }

    /// Runs the workload. An unreachable URI gives a failed run (no request sent); a
    /// cancellation stops the traffic and returns [`LoadTestError::Cancelled`].
    pub async fn run(
        &self,
        request: &TestRequest,
        cancel: &CancellationToken,
    ) -> Result<LoadTestRun, LoadTestError> {
        let workload = &request.workload;
        workload.validate()?;
        let base = parse_base(&request.uri)?;
        let request_timeout = workload.timeout()?;
        let started = Utc::now();
        if let Err(why) = self.reachable(&base, cancel).await {
            if cancel.is_cancelled() {
                return Err(LoadTestError::Cancelled);
            }
            let message = format!("cannot reach URL {}: {why}", request.uri);
            return Ok(run_of(request, started, false, message, Vec::new(), 0.0));
        }
        let clock = Instant::now();
        let (records, failures) = if workload.is_functional() {
            self.checks(&base, &workload.checks, request_timeout, cancel)
                .await
        } else {
            (
                self.load(&base, workload, request_timeout, cancel).await?,
                Vec::new(),
            )
        };
        if cancel.is_cancelled() {
            return Err(LoadTestError::Cancelled);
        }
        let seconds = clock.elapsed().as_secs_f64();
        let run = run_of(request, started, true, String::new(), records, seconds);
        Ok(judge(run, workload, &failures))
    }

    async fn reachable(&self, base: &url::Url, cancel: &CancellationToken) -> Result<(), String> {
        let host = base.host_str().unwrap_or("localhost").to_owned();
        let port = base.port_or_known_default().unwrap_or(80);
        let mut last = String::new();
        for attempt in 0..self.reach_attempts {
            if attempt > 0 {
                tokio::select! {
                    () = cancel.cancelled() => return Err("cancelled".to_owned()),
                    () = tokio::time::sleep(self.reach_interval) => {}
                }
            }
            match timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "connection timed out".to_owned(),
            }
        }
        Err(last)
    }

    async fn get(&self, url: &str, request_timeout: Duration) -> (RequestRecord, Option<String>) {
        let sent = Instant::now();
        let outcome = async {
            let response = self.client.get(url).timeout(request_timeout).send().await?;
            let status = response.status().as_u16();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let latency_ms = sent.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok((status, body)) => (
                RequestRecord {
                    latency_ms,
                    status: Some(status),
                    failed: !(200..300).contains(&status),
                },
                Some(body),
            ),
            Err(_) => (
                RequestRecord {
                    latency_ms,
                    status: None,
                    failed: true,
                },
                None,
            ),
        }
    }

    async fn checks(
        &self,
        base: &url::Url,
        checks: &[Check],
        request_timeout: Duration,
        cancel: &CancellationToken,
    ) -> (Vec<RequestRecord>, Vec<String>) {
        let mut records = Vec::new();
        let mut failures = Vec::new();
        for check in checks {
            if cancel.is_cancelled() {
                break;
            }
            let url = join(base, &check.path);
            let (mut record, body) = self.get(&url, request_timeout).await;
            let failure = match (record.status, body) {
                (None, _) => Some(format!("GET {} got no response", check.path)),
                (Some(status), body) => {
                    let status_ok = if check.expect_status.is_empty() {
                        (200..300).contains(&status)
                    } else {
                        check.expect_status.contains(&status)
                    };
                    if !status_ok {
                        let expected = if check.expect_status.is_empty() {
                            "2xx".to_owned()
                        } else {
                            format!("{:?}", check.expect_status)
                        };
                        Some(format!(
                            "GET {} answered {status} (expected {expected})",
                            check.path
                        ))
                    } else {
                        match (&check.body_contains, body) {
                            (Some(text), Some(body)) if !body.contains(text.as_str()) => {
                                Some(format!("GET {} answered without {text:?}", check.path))
                            }
                            _ => None,
                        }
                    }
                }
            };
            record.failed = failure.is_some();
            failures.extend(failure);
            records.push(record);
        }
        (records, failures)
    }

    async fn load(
        &self,
        base: &url::Url,
        workload: &Workload,
        request_timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Vec<RequestRecord>, LoadTestError> {
        let url = join(base, &workload.path);
        let start = Instant::now();
        let deadline = start + workload.duration()?;
        let next = AtomicU64::new(0);
        let max = workload.max_requests;
        let rate = workload.rate;
        let worker = || async {
            let mut records = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max || cancel.is_cancelled() {
                    break;
                }
                if rate > 0.0 {
                    let at = start + Duration::from_secs_f64(i as f64 / rate);
                    if at >= deadline {
                        break;
                    }
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = sleep_until(at) => {}
                    }
                }
                if Instant::now() >= deadline {
                    break;
                }
                tokio::select! {
                    () = cancel.cancelled() => break,
                    (record, _) = self.get(&url, request_timeout) => records.push(record),
                }
            }
            records
        };
        let all = join_all((0..workload.concurrency).map(|_| worker())).await;
        Ok(all.into_iter().flatten().collect())
    }
}

fn parse_base(uri: &str) -> Result<url::Url, LoadTestError> {
    let url = url::Url::parse(uri.trim()).map_err(|source| LoadTestError::Uri {
        uri: uri.to_owned(),
        reason: source.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(LoadTestError::Uri {
            uri: uri.to_owned(),
            reason: "expected an http or https URL with a host".to_owned(),
        });
    }
    Ok(url)
}

/// The base URI with `path` appended (`http://h:1/app` + `/x` = `http://h:1/app/x`).
fn join(base: &url::Url, path: &str) -> String {
    let mut text = base.as_str().trim_end_matches('/').to_owned();
    text.push_str(path);
    text
}

fn run_of(
    request: &TestRequest,
    started: chrono::DateTime<Utc>,
    passed: bool,
    message: String,
    records: Vec<RequestRecord>,
    seconds: f64,
) -> LoadTestRun {
    let mut samples = Samples::new();
    let mut errors = 0;
    for record in &records {
        if record.failed {
            errors += 1;
        }
        if record.status.is_some() {
            samples.push(record.latency_ms);
        }
    }
    let mut latencies = samples.into_vec();
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    // Stored in send order; the summary needs them sorted.
    let summary = Summary::from_parts(&sorted, records.len() as u64, errors, seconds);
    latencies.shrink_to_fit();
    LoadTestRun {
        id: uuid::Uuid::new_v4().to_string(),
        project: request.scope.project().to_owned(),
        stage: request.scope.stage().to_owned(),
        service: request.scope.service().to_owned(),
        deployment: request.deployment.clone(),
        keptn_context: request.keptn_context.clone(),
        strategy: request.workload.test_strategy.clone(),
        uri: request.uri.clone(),
        start: started,
        end: Utc::now(),
        passed,
        message,
        summary,
        latencies_ms: latencies,
    }
}

/// Applies the workload's pass conditions and writes the message.
fn judge(mut run: LoadTestRun, workload: &Workload, failures: &[String]) -> LoadTestRun {
    let s = &run.summary;
    let mut reasons = Vec::new();
    let accepted = workload.accepted_error_rate() * 100.0;
    if s.error_rate_percent > accepted {
        reasons.push(format!(
            "error rate {:.2}% is above the accepted {:.2}%",
            s.error_rate_percent, accepted
        ));
    }
    if workload.avg_rt_validation_ms > 0 {
        if let Some(mean) = s.mean_ms {
            if mean > workload.avg_rt_validation_ms as f64 {
                reasons.push(format!(
                    "mean response time {mean:.1} ms is above {} ms",
                    workload.avg_rt_validation_ms
                ));
            }
        }
    }
    if s.requests == 0 {
        reasons.push("no request was sent".to_owned());
    }
    run.passed = reasons.is_empty();
    let p95 = s.p95_ms.map_or("-".to_owned(), |v| format!("{v:.1}"));
    run.message = format!(
        "Tests for {} with status = {}: {} requests, {} errors ({:.2}%), p95 {p95} ms, {:.1} requests/s",
        run.strategy, run.passed, s.requests, s.errors, s.error_rate_percent, s.throughput
    );
    if !reasons.is_empty() || !failures.is_empty() {
        run.message.push_str(". ");
        let all: Vec<&str> = reasons.iter().chain(failures).map(String::as_str).collect();
        run.message.push_str(&all.join("; "));
    }
    run
}
