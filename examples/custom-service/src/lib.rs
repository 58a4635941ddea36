//! A custom Keptn service, as a user of `keptn-sdk` writes one.
//!
//! It executes the `test` task with a simple strategy: send a few HTTP requests to the deployed
//! service (the first URI of `deployment.deploymentURIsLocal`, else of `deploymentURIsPublic`,
//! from the `.triggered` event) and pass if every answer is a 2xx. The task runner of the SDK
//! sends `.started` and `.finished`; this code only decides the result.
//!
//! `src/main.rs` runs it on NATS; `tests/service.rs` tests it with the SDK's `MockTransport`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use keptn_sdk::event::payload::{FinishedData, TestFinished, TestInfo, TestTriggered};
use keptn_sdk::{HandlerError, KeptnResult, TaskContext, TaskHandler, TaskOutcome};

/// Settings of the tester.
#[derive(Debug, Clone)]
pub struct TesterConfig {
    /// Requests sent per test run.
    pub requests: u32,
    /// Path appended to the deployment URI (e.g. `/health`).
    pub path: String,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for TesterConfig {
    fn default() -> Self {
        Self {
            requests: 5,
            path: "/".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The `test` task handler: probes the deployed service over HTTP.
#[derive(Debug, Clone)]
pub struct HttpProbeTester {
    client: reqwest::Client,
    config: TesterConfig,
}

impl HttpProbeTester {
    /// A tester with `config`.
    pub fn new(config: TesterConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(Self { client, config })
    }

    fn target(&self, data: &TestTriggered) -> Option<String> {
        let deployment = data.deployment.as_ref()?;
        let uri = [
            &deployment.deployment_uris_local,
            &deployment.deployment_uris_public,
        ]
        .into_iter()
        .flatten()
        .flatten()
        .find(|u| !u.is_empty())?;
        Some(format!(
            "{}/{}",
            uri.trim_end_matches('/'),
            self.config.path.trim_start_matches('/')
        ))
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[async_trait]
impl TaskHandler for HttpProbeTester {
    type Data = TestTriggered;

    fn task(&self) -> &str {
        "test"
    }

    async fn handle(
        &self,
        ctx: TaskContext,
        data: TestTriggered,
    ) -> Result<TaskOutcome, HandlerError> {
        let strategy = data
            .test
            .as_ref()
            .and_then(|t| t.test_strategy.clone())
            .unwrap_or_default();
        if strategy == "real-user" {
            return Ok(FinishedData::pass()
                .with_message("real-user tests are not run by this service")
                .into());
        }
        let target = self.target(&data).ok_or_else(|| {
            HandlerError::msg("the test.triggered event names no deployment URI to test")
        })?;
        ctx.status_changed(&format!(
            "sending {} requests to {target}",
            self.config.requests
        ))
        .await?;

        let start = now();
        let mut failures = Vec::new();
        for _ in 0..self.config.requests {
            match self.client.get(&target).send().await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => failures.push(format!("answer {}", response.status())),
                Err(err) => failures.push(err.to_string()),
            }
        }
        let end = now();

        let (result, message) = if failures.is_empty() {
            (
                KeptnResult::Pass,
                format!("{} requests to {target} succeeded", self.config.requests),
            )
        } else {
            (
                KeptnResult::Fail,
                format!(
                    "{} of {} requests to {target} failed (first: {})",
                    failures.len(),
                    self.config.requests,
                    failures[0]
                ),
            )
        };
        let finished = TestFinished {
            test: Some(TestInfo {
                test_strategy: None,
                start: Some(start),
                end: Some(end),
            }),
            ..TestFinished::default()
        };
        Ok(FinishedData::result(result)
            .with_message(message)
            .with_payload(&finished)
            .into())
    }
}
