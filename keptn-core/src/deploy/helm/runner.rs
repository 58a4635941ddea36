//! Running the `helm` command.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;

use crate::deploy::{DeployError, DeployErrorKind};

/// Runs `helm` with arguments and returns its standard output.
///
/// # Contract
///
/// A non-zero exit is an error of kind [`DeployErrorKind::CommandFailed`] whose message holds
/// the arguments and the command's standard error; a run that exceeds its time limit is
/// stopped and fails with [`DeployErrorKind::Timeout`].
#[async_trait]
pub trait HelmRunner: Send + Sync + std::fmt::Debug {
    /// Runs `helm <args>`.
    async fn run(&self, args: &[String]) -> Result<String, DeployError>;
}

/// Runs a `helm` executable.
#[derive(Debug, Clone)]
pub struct CliHelmRunner {
    program: PathBuf,
    time_limit: Duration,
}

impl CliHelmRunner {
    /// Runs `program` (a path, or a name looked up on `PATH`), each run stopped after
    /// `time_limit`.
    pub fn new(program: impl Into<PathBuf>, time_limit: Duration) -> Self {
        Self {
            program: program.into(),
            time_limit,
        }
    }
}

impl Default for CliHelmRunner {
    /// `helm` on `PATH`, 5 minutes per run.
    fn default() -> Self {
        Self::new("helm", Duration::from_secs(300))
    }
}

/// Longest piece of standard error kept in a message.
const STDERR_LIMIT: usize = 2000;

#[async_trait]
impl HelmRunner for CliHelmRunner {
    async fn run(&self, args: &[String]) -> Result<String, DeployError> {
        let shown = format!("{} {}", self.program.display(), args.join(" "));
        let child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                DeployError::new(
                    DeployErrorKind::CommandFailed,
                    format!("cannot run {shown}"),
                )
                .with_source(e)
            })?;
        let output = tokio::time::timeout(self.time_limit, child.wait_with_output())
            .await
            .map_err(|_| {
                DeployError::new(
                    DeployErrorKind::Timeout,
                    format!("{shown} did not finish within {:?}", self.time_limit),
                )
            })?
            .map_err(|e| {
                DeployError::new(
                    DeployErrorKind::CommandFailed,
                    format!("cannot run {shown}"),
                )
                .with_source(e)
            })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let cut = stderr
            .char_indices()
            .nth(STDERR_LIMIT)
            .map_or(stderr, |(i, _)| &stderr[..i]);
        Err(DeployError::new(
            DeployErrorKind::CommandFailed,
            format!("{shown} failed ({}): {cut}", output.status),
        ))
    }
}
