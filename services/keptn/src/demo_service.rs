//! The demo service of `keptn demo`: a small HTTP service whose versions differ in speed.
//!
//! `keptn demo-service --port 8080 --service-version 1.0.0` serves `GET /` (a JSON greeting with the
//! version and the process id) and `GET /health`. Versions whose name contains `slow` answer `/`
//! after `--slow-ms` milliseconds (default 400); others after `--fast-ms` (default 2). That is all
//! a quality gate needs to tell a good build from a bad one.
//!
//! `--slow-while <file>` is a feature flag in the manner of the sockshop's `EnablePromotion`:
//! while the file exists, every version answers like a slow one. A remediation action that
//! removes the file makes the service fast again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use clap::Args;
use serde_json::json;

/// `keptn demo-service`
#[derive(Debug, Clone, Args)]
pub struct DemoServiceArgs {
    /// The port to listen on (127.0.0.1).
    #[arg(long, env = "PORT")]
    pub port: u16,
    /// The version to report; versions containing "slow" are slow.
    #[arg(
        long = "service-version",
        env = "DEMO_VERSION",
        default_value = "1.0.0"
    )]
    pub service_version: String,
    /// Latency of a fast version, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub fast_ms: u64,
    /// Latency of a slow version, in milliseconds.
    #[arg(long, default_value_t = 400)]
    pub slow_ms: u64,
    /// While this file exists, answer like a slow version (a feature flag).
    #[arg(long)]
    pub slow_while: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Demo {
    version: String,
    delay: Duration,
    slow_delay: Duration,
    slow_while: Option<PathBuf>,
}

async fn root(State(demo): State<Demo>) -> axum::Json<serde_json::Value> {
    let flagged = match &demo.slow_while {
        Some(file) => tokio::fs::try_exists(file).await.unwrap_or(false),
        None => false,
    };
    let delay = if flagged { demo.slow_delay } else { demo.delay };
    tokio::time::sleep(delay).await;
    axum::Json(json!({"service": "demo", "version": demo.version, "pid": std::process::id()}))
}

async fn health() -> &'static str {
    "ok"
}

/// Runs the demo service until SIGTERM or SIGINT.
pub async fn run(args: DemoServiceArgs) -> anyhow::Result<()> {
    let delay = if args.service_version.contains("slow") {
        args.slow_ms
    } else {
        args.fast_ms
    };
    let demo = Demo {
        version: args.service_version,
        delay: Duration::from_millis(delay),
        slow_delay: Duration::from_millis(args.slow_ms),
        slow_while: args.slow_while,
    };
    let app = Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .with_state(demo);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::signals::shutdown_signal())
        .await?;
    Ok(())
}
