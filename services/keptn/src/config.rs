//! The CLI's stored endpoint and token.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// What `keptn auth` stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliConfig {
    /// The API endpoint.
    pub endpoint: String,
    /// The API token.
    pub token: String,
}

/// The configuration file: `--config-file`, else `$XDG_CONFIG_HOME/keptn-rs/config.json`, else
/// `~/.config/keptn-rs/config.json`.
pub fn config_path(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("keptn-rs").join("config.json"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home)
            .join(".config")
            .join("keptn-rs")
            .join("config.json")),
        None => bail!("cannot find a place for the CLI configuration: set HOME or --config-file"),
    }
}

/// Reads the stored configuration; environment variables `KEPTN_ENDPOINT` and
/// `KEPTN_API_TOKEN` take precedence over the file.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<CliConfig> {
    let path = config_path(explicit)?;
    let mut config = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid CLI configuration", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CliConfig::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if let Ok(endpoint) = std::env::var("KEPTN_ENDPOINT") {
        config.endpoint = endpoint;
    }
    if let Ok(token) = std::env::var("KEPTN_API_TOKEN") {
        config.token = token;
    }
    if config.endpoint.is_empty() {
        bail!(
            "no API endpoint known: run `keptn auth --endpoint <url> --api-token <token>` \
             (or set KEPTN_ENDPOINT and KEPTN_API_TOKEN)"
        );
    }
    Ok(config)
}

/// Stores the configuration, readable by the owner only.
pub fn save(explicit: Option<&Path>, config: &CliConfig) -> anyhow::Result<PathBuf> {
    let path = config_path(explicit)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(config)?)?;
        file.sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
