//! Test support: a real `keptn serve` process on a free port, and the real `keptn` CLI
//! pointed at it.
#![allow(dead_code)]

pub mod http;
pub mod quality_stand_in;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `keptn` binary under test.
pub fn keptn_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keptn")
}

/// A file of the repository's `testdata/keptn-examples`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/keptn-examples")
        .join(name)
}

/// A `keptn serve` process with its own data directory. Killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub endpoint: String,
    pub token: String,
    pub config_file: PathBuf,
    _tmp: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `keptn serve` in a new temporary data directory.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let config_file = tmp.path().join("cli.json");
        let mut server = Server {
            child: None,
            data_dir,
            endpoint: String::new(),
            token: String::new(),
            config_file,
            _tmp: tmp,
        };
        server.launch(&[]);
        server
    }

    /// Starts the process (again) on the same data directory, with extra `serve` arguments.
    pub fn launch(&mut self, extra: &[&str]) {
        let port = free_port();
        let mut child = Command::new(keptn_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .env_remove("KEPTN_API_TOKEN")
            .env(
                "RUST_LOG",
                std::env::var("KEPTN_TEST_SERVE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("keptn serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut endpoint, mut token) = (None, None);
        while endpoint.is_none() || token.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("keptn serve prints its endpoint and token");
            if let Some(e) = line.strip_prefix("Keptn control plane ready at ") {
                endpoint = Some(e.to_owned());
            }
            if let Some(t) = line.strip_prefix("API token: ") {
                token = Some(t.to_owned());
            }
        }
        self.endpoint = endpoint.unwrap();
        self.token = token.unwrap();
        self.child = Some(child);
    }

    /// Stops the process with SIGTERM and returns its exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok().and_then(|s| s.code())
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs the `keptn` CLI against this server.
    pub fn keptn(&self, args: &[&str]) -> Output {
        Command::new(keptn_bin())
            .args(args)
            .env("KEPTN_ENDPOINT", &self.endpoint)
            .env("KEPTN_API_TOKEN", &self.token)
            .env("KEPTN_CONFIG_FILE", &self.config_file)
            .output()
            .expect("the keptn CLI runs")
    }

    /// Runs the CLI and asserts it succeeded; returns stdout.
    pub fn keptn_ok(&self, args: &[&str]) -> String {
        let out = self.keptn(args);
        assert!(
            out.status.success(),
            "keptn {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Triggers a delivery of `image` to the carts service of sockshop; returns its keptn
    /// context.
    pub fn deliver_carts(&self, image: &str) -> String {
        let out = self.keptn_ok(&[
            "trigger",
            "delivery",
            "--project",
            "sockshop",
            "--service",
            "carts",
            "--image",
            image,
        ]);
        context_of(&out)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Retries `check` every 100 ms until it returns `Some` or `timeout` passes.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `local/deploy.yaml` running the demo service of the `keptn` binary under test, versioned by
/// the image tag, with `extra` arguments.
pub fn demo_run_config(extra: &[&str]) -> String {
    let mut args = vec![
        "demo-service".to_owned(),
        "--port".to_owned(),
        "\"{port}\"".to_owned(),
        "--service-version".to_owned(),
        "\"{tag}\"".to_owned(),
    ];
    args.extend(extra.iter().map(|a| format!("{a:?}")));
    format!(
        "command: {:?}\nargs: [{}]\nhealthPath: /health\nstartTimeout: 20s\n",
        keptn_bin(),
        args.join(", ")
    )
}

impl Server {
    /// Adds `content` as resource `uri` of `service` in `stage` (every stage when `None`).
    pub fn add_resource(
        &self,
        project: &str,
        stage: Option<&str>,
        service: &str,
        uri: &str,
        content: &str,
    ) {
        let file = self
            .data_dir
            .with_file_name(format!("resource-{}", uri.replace('/', "_")));
        std::fs::write(&file, content).unwrap();
        let mut args = vec![
            "add-resource",
            "--project",
            project,
            "--service",
            service,
            "--resource",
            file.to_str().unwrap(),
            "--resourceUri",
            uri,
        ];
        match stage {
            Some(stage) => args.extend(["--stage", stage]),
            None => args.push("--all-stages"),
        }
        self.keptn_ok(&args);
    }

    /// The events of `event_type` (e.g. `deployment.finished`) of a project, newest first,
    /// optionally of one stage and one Keptn context.
    pub fn events(
        &self,
        event_type: &str,
        project: &str,
        stage: Option<&str>,
        context: Option<&str>,
    ) -> Vec<serde_json::Value> {
        let mut args = vec!["get", "event", event_type, "--project", project];
        if let Some(stage) = stage {
            args.extend(["--stage", stage]);
        }
        if let Some(context) = context {
            args.extend(["--keptn-context", context]);
        }
        let out = self.keptn(&args);
        if !out.status.success() {
            // No event of the type yet.
            return Vec::new();
        }
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// The first local deployment URI of the latest successful deployment in `stage`.
    pub fn deployment_uri(&self, project: &str, stage: &str) -> String {
        self.events("deployment.finished", project, Some(stage), None)
            .iter()
            .find(|e| e["data"]["result"] == "pass")
            .and_then(|e| e["data"]["deployment"]["deploymentURIsLocal"][0].as_str())
            .unwrap_or_else(|| panic!("no successful deployment in stage {stage}"))
            .to_owned()
    }
}

/// The Keptn context printed by a `keptn trigger ...` command.
pub fn context_of(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Keptn context: "))
        .unwrap_or_else(|| panic!("no Keptn context in {output}"))
        .to_owned()
}

/// A [`Server`] stopped with SIGTERM when dropped (also when a test fails), so that its
/// execution plane stops the processes it runs; SIGKILL would leave them behind.
pub struct GracefulServer(pub Server);

impl GracefulServer {
    /// Starts `keptn serve` in a new temporary data directory.
    pub fn start() -> GracefulServer {
        GracefulServer(Server::start())
    }
}

impl std::ops::Deref for GracefulServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.0
    }
}

impl std::ops::DerefMut for GracefulServer {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.0
    }
}

impl Drop for GracefulServer {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The pids of the processes whose command line contains `needle` (from `/proc`).
pub fn processes_with(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// The pids of the processes whose environment holds `entry` (`KEY=value`, from `/proc`): the
/// local deployer gives each instance `KEPTN_PROJECT=<project>`.
pub fn processes_with_env(entry: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == entry.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

impl Server {
    /// The services the server reports in `/v1/metadata` (`keptnservices`, as JSON text).
    pub fn services(&self) -> String {
        let client = keptn_sdk::client::ApiClient::new(&self.endpoint, Some(self.token.clone()))
            .expect("a valid endpoint");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.metadata())
            .expect("the server answers /v1/metadata")
            .keptnservices
            .to_string()
    }
}
