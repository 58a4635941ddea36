//! Runs the HTTP probe tester on NATS JetStream.
//!
//! Environment: `NATS_URL` (default `nats://127.0.0.1:4222`), `SERVICE_NAME` (default
//! `http-probe-tester`), `PROBE_PATH` (default `/`), `PROBE_REQUESTS` (default 5), and the
//! distributor's `PROJECT_FILTER`, `STAGE_FILTER`, `SERVICE_FILTER` (comma-separated lists).

use anyhow::Context;
use keptn_example_custom_service::{HttpProbeTester, TesterConfig};
use keptn_sdk::transport::nats::{NatsConfig, NatsTransport};
use keptn_sdk::{Filter, TaskRunner};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let name = env("SERVICE_NAME", "http-probe-tester");
    let mut tester = TesterConfig {
        path: env("PROBE_PATH", "/"),
        ..TesterConfig::default()
    };
    if let Ok(n) = std::env::var("PROBE_REQUESTS") {
        tester.requests = n
            .parse()
            .with_context(|| format!("PROBE_REQUESTS={n:?} is not a number"))?;
    }
    let filter = Filter::from_lists(
        &env("PROJECT_FILTER", ""),
        &env("STAGE_FILTER", ""),
        &env("SERVICE_FILTER", ""),
    );

    let mut nats = NatsConfig::new(env("NATS_URL", "nats://127.0.0.1:4222"));
    nats.connection_name = Some(name.clone());
    let transport = NatsTransport::connect(nats)
        .await
        .context("connecting to NATS")?;

    TaskRunner::new(transport, HttpProbeTester::new(tester)?)
        .source(name)
        .filter(filter)
        .run(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await
        .context("running the tester")?;
    Ok(())
}
