//! Measures a real `keptn serve` process: time from spawn to the first 200 on `/health`,
//! resident memory when idle and after storing 10,000 events, and the rate at which it accepted
//! them over HTTP.
//!
//! ```sh
//! cargo build --release -p keptn -p keptn-benches
//! target/release/serve-probe target/release/keptn
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use keptn_sdk::api::{CreateProjectParams, EventQueryParams};
use keptn_sdk::client::ApiClient;
use serde_json::json;

const TOKEN: &str = "probe-token";
const EVENTS: usize = 10_000;
const CONCURRENCY: usize = 32;

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A 1.5 KB `test.finished` event: stored by the datastore, ignored by the orchestrator (it
/// answers no open task).
fn event(n: usize) -> serde_json::Value {
    json!({
        "specversion": "1.0",
        "type": "sh.keptn.event.test.finished",
        "source": "serve-probe",
        "triggeredid": format!("probe-trigger-{n}"),
        "data": {
            "project": "load", "stage": "dev", "service": format!("svc-{}", n % 20),
            "status": "succeeded", "result": "pass",
            "message": "x".repeat(1100),
            "test": {"start": "2024-01-01T10:00:00Z", "end": "2024-01-01T10:05:00Z"},
            "labels": {"buildId": n.to_string()}
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keptn = std::env::args()
        .nth(1)
        .context("usage: serve-probe <keptn binary>")?;
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Command::new(&keptn)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--token", TOKEN])
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {keptn}"))?;
    let http = reqwest::Client::new();
    let ready = loop {
        if let Ok(r) = http.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                break started.elapsed();
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            bail!("keptn serve was not ready within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(child.id())?;

    let client = ApiClient::new(&format!("{base}/api"), Some(TOKEN.into()))?;
    let shipyard = "apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata: {name: load}\nspec:\n  stages:\n    - name: dev\n";
    client
        .create_project(&CreateProjectParams {
            name: "load".into(),
            shipyard: Some(base64::engine::general_purpose::STANDARD.encode(shipyard)),
            ..Default::default()
        })
        .await?;
    let sending = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < EVENTS {
                client.send_event(&event(n)).await?;
                n += CONCURRENCY;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let accepted = sending.elapsed();
    loop {
        let page = client
            .events(&EventQueryParams {
                project: Some("load".into()),
                page_size: Some(1),
                ..Default::default()
            })
            .await?;
        if page.total_count as usize >= EVENTS {
            break;
        }
        if sending.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {EVENTS} events stored after 120 s",
                page.total_count
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = sending.elapsed();
    let loaded = rss_kib(child.id())?;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    println!(
        "ready (spawn -> 200 on /health): {:.1} ms",
        ready.as_secs_f64() * 1000.0
    );
    println!("resident memory idle: {:.1} MiB", idle as f64 / 1024.0);
    println!(
        "{EVENTS} events posted by {CONCURRENCY} clients: accepted in {:.2} s ({:.0}/s), all stored after {:.2} s ({:.0}/s)",
        accepted.as_secs_f64(),
        EVENTS as f64 / accepted.as_secs_f64(),
        stored.as_secs_f64(),
        EVENTS as f64 / stored.as_secs_f64()
    );
    println!(
        "resident memory after {EVENTS} stored events: {:.1} MiB",
        loaded as f64 / 1024.0
    );
    Ok(())
}
