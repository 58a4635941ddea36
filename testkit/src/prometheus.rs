//! A private Prometheus that scrapes exporters a test serves.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::process::{Guarded, find_binary, free_port, log_tail, wait_for_port};

const INSTALL_HINT: &str = "Install it with `apt-get install prometheus` (Debian/Ubuntu), or run \
     scripts/test.sh, which installs it.";

/// A `prometheus` on a free loopback port that scrapes the given targets every second, with its
/// storage in a temporary directory. Stopped when dropped.
///
/// Prometheus takes a few seconds (its target discovery settles every 5 s) before the first
/// scrape: poll the query API for the series you expect.
#[derive(Debug)]
pub struct PrometheusServer {
    port: u16,
    _dir: TempDir,
    process: Option<Guarded>,
}

impl PrometheusServer {
    /// Starts a server scraping `targets` (`127.0.0.1:PORT`, path `/metrics`) and waits until
    /// it is ready to answer queries.
    pub fn start(targets: &[String]) -> anyhow::Result<Self> {
        let binary: PathBuf = find_binary(
            "KEPTN_TEST_PROMETHEUS",
            &["prometheus", "/usr/bin/prometheus"],
            INSTALL_HINT,
        )?;
        let dir = tempfile::Builder::new()
            .prefix("keptn-test-prometheus-")
            .tempdir()
            .context("creating a directory for prometheus")?;
        let config = dir.path().join("prometheus.yml");
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: keptn-test\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: [{}]\n",
                quoted.join(", ")
            ),
        )
        .context("writing prometheus.yml")?;
        let port = free_port();
        let log = dir.path().join("prometheus.log");
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let mut process = Guarded::spawn("prometheus", &binary, &args, &log, None, "TERM", None)?;
        let ready = wait_for_port(port, Duration::from_secs(20))
            .and_then(|()| wait_ready(port, Duration::from_secs(20)));
        if let Err(err) = ready {
            process.stop();
            bail!("prometheus did not start: {err}\n{}", log_tail(&log));
        }
        Ok(Self {
            port,
            _dir: dir,
            process: Some(process),
        })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `GET /-/ready` answers 200.
fn wait_ready(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request = format!("GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
            let mut answer = String::new();
            let answered = stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut answer).is_ok();
            let status = answer.split_whitespace().nth(1);
            if answered && status == Some("200") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("prometheus on port {port} is not ready after {timeout:?}")
}
