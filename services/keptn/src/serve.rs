//! `keptn serve`: the whole control plane in this process.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use keptn_core::plane::{Plane, PlaneConfig};
use keptn_core::services::delivery::DeployerKind;
#[cfg(feature = "helm")]
use keptn_core::services::delivery::HelmSettings;
use keptn_core::services::{ServicesConfig, embedded_services};

/// `keptn serve`
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where projects, events and sequences are kept (default: the per-user data directory).
    #[arg(long, env = "KEPTN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the API listens.
    #[arg(long, env = "KEPTN_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// The API token (default: one created on the first start and kept in the data directory).
    #[arg(long, env = "KEPTN_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The largest request body accepted, in KiB.
    #[arg(long, default_value_t = 64)]
    pub max_body_kib: usize,
    /// The Prometheus the `prometheus` SLI provider asks when a project names none in its
    /// prometheus/config.yaml (e.g. http://127.0.0.1:9090).
    #[arg(long, env = "KEPTN_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// Which deployer answers deployments: `local` runs each version as local processes
    /// behind a proxy; `helm` installs Helm charts with the `helm` command (Kubernetes).
    #[arg(long, value_enum, default_value_t = DeployerArg::Local)]
    pub deployer: DeployerArg,
    /// The `helm` program used with `--deployer helm`.
    #[arg(long, default_value = "helm")]
    pub helm: PathBuf,
}

/// `--deployer`
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployerArg {
    /// Local processes behind a reverse proxy (service `local-deployer`).
    Local,
    /// Helm charts (service `helm-service`).
    Helm,
}

/// The settings of the built-in services for `args`.
pub fn services_config(args: &ServeArgs, data_dir: &Path) -> anyhow::Result<ServicesConfig> {
    let deployer = match args.deployer {
        DeployerArg::Local => DeployerKind::Local,
        #[cfg(feature = "helm")]
        DeployerArg::Helm => DeployerKind::Helm(HelmSettings {
            program: args.helm.clone(),
            ..HelmSettings::default()
        }),
        #[cfg(not(feature = "helm"))]
        DeployerArg::Helm => {
            anyhow::bail!("--deployer helm: this keptn was built without the helm feature")
        }
    };
    let mut config = ServicesConfig {
        data_dir: data_dir.to_path_buf(),
        ..ServicesConfig::default()
    };
    config.delivery.deployer = deployer;
    config.prometheus_url = args.prometheus_url.clone();
    Ok(config)
}

/// The per-user data directory: `$XDG_DATA_HOME/keptn-rs`, else `~/.local/share/keptn-rs`.
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("keptn-rs"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("cannot find a data directory: set HOME, XDG_DATA_HOME or --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/keptn-rs"))
}

/// The token in `<data-dir>/api-token`, created (owner-only) on the first start.
pub fn stored_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("api-token");
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    Ok(token)
}

/// Runs the control plane until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir.clone() {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    let token = match args.token.clone().filter(|t| !t.is_empty()) {
        Some(token) => token,
        None => stored_token(&data_dir)?,
    };
    let mut config = PlaneConfig::new(&data_dir, args.listen, token.clone());
    config.api.max_body_bytes = args.max_body_kib * 1024;
    config.api.namespace = data_dir.display().to_string();
    config.services = embedded_services(&services_config(&args, &data_dir)?);
    let plane = Plane::start(config)
        .await
        .with_context(|| format!("starting the control plane in {}", data_dir.display()))?;
    let endpoint = format!("http://{}/api", plane.local_addr());
    // These lines are the interface for scripts and tests: keep their shape.
    println!("Keptn control plane ready at {endpoint}");
    println!("Data directory: {}", data_dir.display());
    println!("API token: {token}");
    println!("Connect the CLI with: keptn auth --endpoint {endpoint} --api-token <token>");
    let _ = std::io::stdout().flush();
    crate::signals::shutdown_signal().await;
    tracing::info!("stopping the control plane");
    plane
        .shutdown()
        .await
        .context("stopping the control plane")?;
    Ok(())
}
