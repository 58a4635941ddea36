//! A private PostgreSQL server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::process::{Guarded, free_port, is_root, log_tail, wait_for_port};

const INSTALL_HINT: &str = "Install PostgreSQL with `apt-get install postgresql` (Debian/Ubuntu), \
     or run scripts/test.sh, which installs it. Alternatively set KEPTN_TEST_POSTGRES_URL to a \
     server where the user may create databases.";

/// A PostgreSQL cluster created with `initdb` in a temporary directory and served on a free
/// loopback port (as the `postgres` user when the tests run as root). Tests share one server per
/// test process ([`PostgresServer::shared`]) and each takes a fresh database with
/// [`PostgresServer::create_database`].
///
/// If `KEPTN_TEST_POSTGRES_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432`), that server
/// is used instead and no process is started.
#[derive(Debug)]
pub struct PostgresServer {
    base_url: String,
    _dir: Option<TempDir>,
    _process: Option<Guarded>,
    counter: AtomicU32,
}

static SHARED: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
static START_LOCK: Mutex<()> = Mutex::new(());

impl PostgresServer {
    /// The server shared by every test of this process, started on first use.
    pub fn shared() -> anyhow::Result<&'static PostgresServer> {
        let _guard = START_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        SHARED
            .get_or_init(|| Self::start().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Starts a new private server.
    pub fn start() -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("KEPTN_TEST_POSTGRES_URL") {
            return Ok(Self {
                base_url: url.trim_end_matches('/').to_owned(),
                _dir: None,
                _process: None,
                counter: AtomicU32::new(0),
            });
        }
        let bin = find_pg_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("keptn-test-pg-")
            .tempdir()
            .context("creating a directory for PostgreSQL")?;
        let data = dir.path().join("data");
        let run_as = if is_root() { Some("postgres") } else { None };
        if run_as.is_some() {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .status()
                .context("chown of the PostgreSQL directory")?;
            if !status.success() {
                bail!(
                    "chown postgres {} failed. {INSTALL_HINT}",
                    dir.path().display()
                );
            }
        }
        let mut initdb = match run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!("--regid={user}"))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(bin.join("initdb"));
                c
            }
            None => Command::new(bin.join("initdb")),
        };
        let output = initdb
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let port = free_port();
        let log = dir.path().join("postgres.log");
        let args = vec![
            "-D".to_owned(),
            data.display().to_string(),
            "-p".to_owned(),
            port.to_string(),
            "-k".to_owned(),
            dir.path().display().to_string(),
            "-c".to_owned(),
            "listen_addresses=127.0.0.1".to_owned(),
            "-c".to_owned(),
            "fsync=off".to_owned(),
            "-c".to_owned(),
            "synchronous_commit=off".to_owned(),
            "-c".to_owned(),
            "full_page_writes=off".to_owned(),
            "-c".to_owned(),
            "max_connections=200".to_owned(),
        ];
        let mut process = Guarded::spawn(
            "postgres",
            &bin.join("postgres"),
            &args,
            &log,
            run_as,
            "QUIT",
            Some(dir.path()),
        )?;
        if let Err(err) = wait_for_port(port, Duration::from_secs(30)) {
            process.stop();
            bail!("PostgreSQL did not start: {err}\n{}", log_tail(&log));
        }
        Ok(Self {
            base_url: format!("postgres://postgres@127.0.0.1:{port}"),
            _dir: Some(dir),
            _process: Some(process),
            counter: AtomicU32::new(0),
        })
    }

    /// The URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("{}/postgres", self.base_url)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn create_database(&self) -> anyhow::Result<String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("keptn_test_{}_{}_{n}", std::process::id(), unique_suffix());
        let output = Command::new("psql")
            .arg(self.url())
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .context("running psql (install postgresql-client)")?;
        if !output.status.success() {
            bail!(
                "CREATE DATABASE {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(format!("{}/{name}", self.base_url))
    }
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0)
}

fn find_pg_bin() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("KEPTN_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").is_file() && p.join("postgres").is_file());
    versions.sort();
    versions.pop().with_context(|| {
        format!("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin. {INSTALL_HINT}")
    })
}
