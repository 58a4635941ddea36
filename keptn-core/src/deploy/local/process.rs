//! One running instance of a service version: a process in its own process group.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use super::config::Launch;
use crate::deploy::{DeployError, DeployErrorKind};

/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(50);

/// A process the deployer runs or has adopted after a restart.
///
/// Dropping an instance kills its process group (SIGKILL) unless it was
/// [`detach`](Instance::detach)ed or already stopped, so no process outlives its owner by
/// accident.
#[derive(Debug)]
pub(crate) struct Instance {
    pid: u32,
    port: u16,
    /// `None` for an adopted process (not our child).
    child: Option<Child>,
    /// Whether dropping the instance kills it.
    armed: bool,
}

impl Instance {
    /// Starts `launch` in a new process group, output appended to `log`.
    pub(crate) fn spawn(
        launch: &Launch,
        port: u16,
        working_dir: Option<&str>,
        log: &Path,
    ) -> Result<Self, DeployError> {
        let open_log = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| DeployError::io(format!("cannot open log file {}", log.display()), e))
        };
        let stdout = open_log()?;
        let stderr = open_log()?;
        let mut cmd = Command::new(&launch.command);
        cmd.args(&launch.args)
            .envs(&launch.env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = working_dir {
            cmd.current_dir(dir);
        }
        let child = cmd.spawn().map_err(|e| {
            DeployError::new(
                DeployErrorKind::StartFailed,
                format!("cannot start {:?}", launch.command),
            )
            .with_source(e)
        })?;
        let pid = child.id().ok_or_else(|| {
            DeployError::new(
                DeployErrorKind::StartFailed,
                format!("{:?} exited at once", launch.command),
            )
        })?;
        Ok(Self {
            pid,
            port,
            child: Some(child),
            armed: true,
        })
    }

    /// Takes over a process started by an earlier run of the deployer, if it is alive and
    /// still leads its own process group (so a reused pid is not mistaken for it).
    pub(crate) fn adopt(pid: u32, port: u16) -> Option<Self> {
        let raw = i32::try_from(pid).ok().and_then(Pid::from_raw)?;
        let group = rustix::process::getpgid(Some(raw)).ok()?;
        if group != raw || !pid_alive(pid) {
            return None;
        }
        Some(Self {
            pid,
            port,
            child: None,
            armed: true,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The loopback port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether the process is still running (reaps it if it is our child and has exited).
    pub(crate) fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => pid_alive(self.pid),
        }
    }

    /// Waits until the instance answers on its health path (or accepts TCP connections when
    /// there is none), fails if the process exits first or `limit` runs out.
    pub(crate) async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        health_path: Option<&str>,
        limit: Duration,
        log: &Path,
    ) -> Result<(), DeployError> {
        let deadline = Instant::now() + limit;
        loop {
            if !self.alive() {
                return Err(DeployError::new(
                    DeployErrorKind::StartFailed,
                    format!(
                        "process {} exited before it was ready on port {}; its output: {}",
                        self.pid,
                        self.port,
                        log_tail(log).await
                    ),
                ));
            }
            if probe(http, self.port, health_path).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DeployError::new(
                    DeployErrorKind::StartFailed,
                    format!(
                        "process {} was not ready on port {}{} within {:?}; its output: {}",
                        self.pid,
                        self.port,
                        health_path.unwrap_or(""),
                        limit,
                        log_tail(log).await
                    ),
                ));
            }
            sleep(POLL).await;
        }
    }

    /// Stops the process group: SIGTERM, then SIGKILL after `grace`. Bounded.
    pub(crate) async fn stop(mut self, grace: Duration) {
        self.armed = false;
        signal_group(self.pid, Signal::TERM);
        let exited = match &mut self.child {
            Some(child) => timeout(grace, child.wait()).await.is_ok(),
            None => {
                let deadline = Instant::now() + grace;
                while pid_alive(self.pid) && Instant::now() < deadline {
                    sleep(POLL).await;
                }
                !pid_alive(self.pid)
            }
        };
        // The leader may be gone while others in its group still run: always sweep the group.
        signal_group(self.pid, Signal::KILL);
        if !exited {
            if let Some(child) = &mut self.child {
                let _ = timeout(Duration::from_secs(2), child.wait()).await;
            }
        }
    }

    /// Leaves the process running when the instance is dropped.
    pub(crate) fn detach(mut self) {
        self.armed = false;
        // Dropping a `Child` with kill_on_drop would kill it: forget the handle instead.
        if let Some(child) = self.child.take() {
            std::mem::forget(child);
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.armed && self.alive() {
            signal_group(self.pid, Signal::KILL);
        }
    }
}

fn signal_group(pid: u32, signal: Signal) {
    if let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH (already gone) is the expected outcome of a sweep.
        let _ = rustix::process::kill_process_group(raw, signal);
    }
}

/// Whether a process exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    if rustix::process::test_kill_process(raw).is_err() {
        return false;
    }
    // On Linux, a zombie still "exists"; its state letter in /proc says otherwise.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| state != 'Z' && state != 'X'),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

async fn probe(http: &reqwest::Client, port: u16, health_path: Option<&str>) -> bool {
    match health_path {
        Some(path) => {
            let url = format!("http://127.0.0.1:{port}{path}");
            match http.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(response) => response.status().is_success(),
                Err(_) => false,
            }
        }
        None => timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .is_ok_and(|r| r.is_ok()),
    }
}

/// Whether an instance answers its health check now.
pub(crate) async fn healthy(http: &reqwest::Client, port: u16, health_path: Option<&str>) -> bool {
    probe(http, port, health_path).await
}

/// The last few hundred bytes of a log file, for error messages.
async fn log_tail(log: &Path) -> String {
    const TAIL: usize = 600;
    match tokio::fs::read(log).await {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(TAIL);
            let text = String::from_utf8_lossy(&bytes[start..]).trim().to_owned();
            if text.is_empty() {
                "(none)".to_owned()
            } else {
                text
            }
        }
        Err(_) => "(no log)".to_owned(),
    }
}
