//! `keptn demo`: the sockshop story of the Keptn tutorial, on this machine, in under a minute.
//!
//! It starts a control plane in this process (embedded defaults, a temporary data directory)
//! or uses a running one (`--endpoint`, `--api-token`), creates a project with dev, staging and
//! production, onboards the demo service (this `keptn` program, run by the local deployer),
//! delivers a fast build to production, a slow build that the quality gate stops in staging
//! (its canary is rolled back), and raises a problem in production that the remediation
//! answers with a scaling action. It prints each stage, task and evaluation as it happens and
//! ends with a summary. Every process it started is stopped at the end, on failure and on
//! Ctrl-C; with `--endpoint` the project is deleted, which stops its processes on the server.

mod files;
mod story;
mod summary;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use keptn_core::plane::{Plane, PlaneConfig};
use keptn_core::services::{ServicesConfig, embedded_services};
use keptn_sdk::client::ApiClient;

use story::{Settings, Told};

/// `keptn demo`
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Shorter performance tests (1 s instead of 3 s).
    #[arg(long)]
    pub quick: bool,
    /// Tell the story on a running control plane (e.g. http://127.0.0.1:8090/api) instead of
    /// an embedded one. It must run on this machine: its local deployer starts this keptn
    /// program, and the demo asks the deployment URIs on the loopback.
    #[arg(long, requires = "api_token")]
    pub endpoint: Option<String>,
    /// The API token of --endpoint.
    #[arg(long = "api-token", requires = "endpoint")]
    pub api_token: Option<String>,
    /// The project to create.
    #[arg(long, default_value = "sockshop")]
    pub project: String,
    /// Where the embedded control plane keeps its data (default: a new temporary directory,
    /// removed at the end unless --keep).
    #[arg(long, conflicts_with = "endpoint")]
    pub data_dir: Option<PathBuf>,
    /// Keep the data directory (with --endpoint: the project) at the end.
    #[arg(long)]
    pub keep: bool,
    /// How long one delivery or remediation may take (e.g. 3m).
    #[arg(long, default_value = "3m")]
    pub timeout: String,
}

/// Runs the demo; returns the exit code (0 when the story went as told).
pub async fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let settings = Settings {
        project: args.project.clone(),
        load_seconds: if args.quick { 1 } else { 3 },
        limit: crate::watch::parse_duration(&args.timeout)
            .with_context(|| format!("--timeout {:?}", args.timeout))?,
    };
    println!("keptn demo: the sockshop story of the Keptn tutorial, on this machine");
    let mut told = Told::default();
    let outcome = match (&args.endpoint, &args.api_token) {
        (Some(endpoint), Some(token)) => {
            remote(endpoint, token, &settings, args.keep, &mut told).await
        }
        _ => embedded(&args, &settings, &mut told).await,
    };
    if !told.deliveries.is_empty() {
        summary::print(&told);
    }
    outcome?;
    let deviations = summary::deviations(&told);
    println!();
    if deviations.is_empty() {
        println!(
            "The story went as told, in {:.1} s.",
            started.elapsed().as_secs_f64()
        );
        Ok(0)
    } else {
        for deviation in &deviations {
            println!("Unexpected: {deviation}");
        }
        Ok(1)
    }
}

/// Tells the story unless Ctrl-C or SIGTERM comes first.
async fn tell_interruptible(
    client: &ApiClient,
    settings: &Settings,
    told: &mut Told,
) -> anyhow::Result<()> {
    tokio::select! {
        result = story::tell(client, settings, told) => result,
        () = crate::signals::shutdown_signal() => Err(anyhow!("interrupted")),
    }
}

async fn embedded(args: &DemoArgs, settings: &Settings, told: &mut Told) -> anyhow::Result<()> {
    let (dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("keptn-demo-{}", uuid::Uuid::new_v4().simple())),
            true,
        ),
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut config = PlaneConfig::new(&dir, SocketAddr::from(([127, 0, 0, 1], 0)), &token);
    config.services = embedded_services(&ServicesConfig {
        data_dir: dir.clone(),
        ..ServicesConfig::default()
    });
    let plane = Plane::start(config)
        .await
        .with_context(|| format!("starting the control plane in {}", dir.display()))?;
    let endpoint = format!("http://{}/api", plane.local_addr());
    println!(
        "Control plane: in this process, API {endpoint}, data {}",
        dir.display()
    );
    let result = match ApiClient::new(&endpoint, Some(token)) {
        Ok(client) => match missing_quality_services(&client).await {
            Ok(()) => tell_interruptible(&client, settings, told).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    };
    println!();
    println!("Stopping the control plane and every process it started...");
    let stopped = plane.shutdown().await;
    if temporary && !args.keep {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("warning: cannot remove {}: {e}", dir.display());
        }
    } else {
        println!(
            "Data kept in {}: `keptn serve --data-dir {}` continues from there.",
            dir.display(),
            dir.display()
        );
    }
    result?;
    stopped.context("stopping the control plane")?;
    Ok(())
}

/// The demo needs the quality gate and the approval of the control plane.
async fn missing_quality_services(client: &ApiClient) -> anyhow::Result<()> {
    let services = client.metadata().await?.keptnservices.to_string();
    let mut missing = Vec::new();
    if !services.contains("lighthouse") {
        missing.push("lighthouse");
    }
    // Keptn 0.6 called the approval service gatekeeper-service.
    if !services.contains("approval") && !services.contains("gatekeeper") {
        missing.push("approval");
    }
    if !missing.is_empty() {
        bail!(
            "this control plane runs no {} service: the demo needs the quality gate and the \
             approval (running services: {services})",
            missing.join(" and ")
        );
    }
    Ok(())
}

async fn remote(
    endpoint: &str,
    token: &str,
    settings: &Settings,
    keep: bool,
    told: &mut Told,
) -> anyhow::Result<()> {
    let client = ApiClient::new(endpoint, Some(token.to_owned()))?;
    client
        .auth()
        .await
        .with_context(|| format!("authenticating at {endpoint}"))?;
    println!("Control plane: {endpoint}");
    // Services of the distributed mode run outside the plane and are not in its metadata.
    if let Err(e) = missing_quality_services(&client).await {
        eprintln!("warning: {e:#}; evaluations and approvals wait for services running elsewhere");
    }
    let result = tell_interruptible(&client, settings, told).await;
    if told.project_created && !keep {
        println!();
        match client.delete_project(&settings.project).await {
            Ok(_) => println!(
                "Deleted project {} (the control plane stops its processes).",
                settings.project
            ),
            Err(e) => eprintln!("warning: deleting project {} failed: {e}", settings.project),
        }
    }
    result
}
