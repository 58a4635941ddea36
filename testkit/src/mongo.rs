//! A MongoDB-wire-compatible server for the MongoDB backend's tests.
//!
//! No `mongod` can be installed on the machines this project is tested on. The test script
//! installs the PyPI package `secantusdb` (a MongoDB-wire-compatible server, used here as a test
//! tool only) into `.test-tools/venv`; [`MongoServer::from_env_or_start`] starts it on a free port.
//! Set `KEPTN_TEST_MONGODB_URI` to run the same tests against a real `mongod` instead.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::process::{Guarded, free_port, log_tail, wait_for_port};

const INSTALL_HINT: &str = "Run scripts/test.sh (it installs secantusdb==0.7.0b3 into \
     .test-tools/venv), set KEPTN_TEST_SECANTUSD to a secantusd-py binary, or set \
     KEPTN_TEST_MONGODB_URI to a MongoDB server.";

/// A MongoDB server for tests: the one named by `KEPTN_TEST_MONGODB_URI`, or a private
/// `secantusd-py` process.
#[derive(Debug)]
pub struct MongoServer {
    uri: String,
    _dir: Option<TempDir>,
    _process: Option<Guarded>,
}

impl MongoServer {
    /// Whether a MongoDB server can be had: `KEPTN_TEST_MONGODB_URI` is set or `secantusd-py`
    /// is installed.
    pub fn available() -> bool {
        std::env::var("KEPTN_TEST_MONGODB_URI").is_ok() || find_secantusd().is_ok()
    }

    /// The server of `KEPTN_TEST_MONGODB_URI`, or a new private `secantusd-py`.
    pub fn from_env_or_start() -> anyhow::Result<Self> {
        if let Ok(uri) = std::env::var("KEPTN_TEST_MONGODB_URI") {
            return Ok(Self {
                uri,
                _dir: None,
                _process: None,
            });
        }
        let binary = find_secantusd()?;
        let dir = tempfile::Builder::new()
            .prefix("keptn-test-mongo-")
            .tempdir()
            .context("creating a directory for the MongoDB test server")?;
        let port = free_port();
        let log = dir.path().join("secantusd.log");
        let args = vec![
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            port.to_string(),
            "--storage-path".to_owned(),
            ":memory:".to_owned(),
            "--log-level".to_owned(),
            "WARNING".to_owned(),
        ];
        let mut process = Guarded::spawn("secantusd-py", &binary, &args, &log, None, "TERM", None)?;
        if let Err(err) = wait_for_port(port, Duration::from_secs(30)) {
            process.stop();
            bail!("secantusd-py did not start: {err}\n{}", log_tail(&log));
        }
        Ok(Self {
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            _dir: Some(dir),
            _process: Some(process),
        })
    }

    /// The connection string.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

fn find_secantusd() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("KEPTN_TEST_SECANTUSD") {
        return Ok(PathBuf::from(path));
    }
    let root = workspace_root();
    let candidate = root.join(".test-tools/venv/bin/secantusd-py");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "secantusd-py not found at {}. {INSTALL_HINT}",
        candidate.display()
    )
}

/// The workspace root: the nearest ancestor of this crate's directory with a `Cargo.lock`.
pub(crate) fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").exists() {
        if !dir.pop() {
            return PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        }
    }
    dir
}
