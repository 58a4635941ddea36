//! Spawning server processes under a watchdog, free ports, readiness.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A free TCP port on 127.0.0.1 (the OS picks it; it is free when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing listens on 127.0.0.1:{port} after {timeout:?}")
}

/// Finds an executable: the path in `env_var` if set, else the first of `candidates` that exists
/// (bare names are looked up on PATH).
pub(crate) fn find_binary(
    env_var: &str,
    candidates: &[&str],
    install_hint: &str,
) -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var(env_var) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "{env_var}={} does not name a file. {install_hint}",
            path.display()
        );
    }
    for candidate in candidates {
        let path = Path::new(candidate);
        if path.components().count() > 1 {
            if path.is_file() {
                return Ok(path.to_path_buf());
            }
            continue;
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let full = dir.join(candidate);
                if full.is_file() {
                    return Ok(full);
                }
            }
        }
    }
    bail!("none of {candidates:?} was found (set {env_var} to override). {install_hint}")
}

/// A server process that is stopped when dropped, and by a watchdog when the test process dies.
#[derive(Debug)]
pub(crate) struct Guarded {
    child: Option<Child>,
    name: String,
    pid_file: PathBuf,
}

impl Guarded {
    /// Runs `program args...` under a watchdog shell: the shell starts the program in the
    /// background, polls the test process every 200 ms and kills the program (with `signal`) when
    /// the test process is gone, then removes `cleanup` (for servers that live in a `static`,
    /// whose temporary directory is never dropped). The program's output goes to `log`.
    pub(crate) fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        run_as: Option<&str>,
        signal: &str,
        cleanup: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let quoted: Vec<String> = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .map(|a| shell_quote(&a))
            .collect();
        let mut command_line = quoted.join(" ");
        if let Some(user) = run_as {
            // setpriv execs the program directly (no intermediate process), so signals reach it.
            command_line = format!(
                "setpriv --reuid={u} --regid={u} --init-groups -- {command_line}",
                u = shell_quote(user)
            );
        }
        let pid_file = log.with_extension("pid");
        let parent = std::process::id();
        let cleanup = cleanup
            .map(|dir| format!("rm -rf {}", shell_quote(&dir.display().to_string())))
            .unwrap_or_default();
        // `exec` keeps the program's pid equal to the backgrounded job's pid.
        let script = format!(
            "sh -c 'exec \"$0\" \"$@\"' {command_line} >{log} 2>&1 &\n\
             pid=$!\n\
             echo $pid >{pid_file}\n\
             trap 'kill -{signal} $pid 2>/dev/null; wait $pid; exit 0' TERM INT\n\
             while kill -0 {parent} 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.2; done\n\
             kill -{signal} $pid 2>/dev/null\n\
             wait $pid\n\
             if ! kill -0 {parent} 2>/dev/null; then {cleanup_or_true}; fi\n",
            cleanup_or_true = if cleanup.is_empty() {
                "true".to_owned()
            } else {
                cleanup
            },
            log = shell_quote(&log.display().to_string()),
            pid_file = shell_quote(&pid_file.display().to_string()),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self {
            child: Some(child),
            name: name.to_owned(),
            pid_file,
        })
    }

    /// Sends `signal` (e.g. `KILL`) to the server process itself, bypassing the watchdog's
    /// orderly stop. The watchdog notices the exit and ends too.
    pub(crate) fn signal_server(&mut self, signal: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let pid = loop {
            if let Ok(text) = std::fs::read_to_string(&self.pid_file) {
                if let Ok(pid) = text.trim().parse::<u32>() {
                    break pid;
                }
            }
            if Instant::now() > deadline {
                bail!("{}: no pid file at {}", self.name, self.pid_file.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        if !status.success() {
            bail!("{}: kill -{signal} {pid} failed", self.name);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        Ok(())
    }

    /// Whether the watchdog (and so the server) is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops the server and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to the watchdog makes it stop the server with the configured signal.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!(
                "{} did not stop within 10 s; killing its watchdog",
                self.name
            );
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Whether this process runs as root (servers such as PostgreSQL refuse to run as root).
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
