//! `keptn demo --quick`: the whole story, embedded and against a running server, and nothing
//! left running afterwards.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::quality_stand_in::QualityStandIn;
use support::{GracefulServer, keptn_bin, processes_with_env};

fn demo(args: &[&str]) -> Output {
    Command::new(keptn_bin())
        .arg("demo")
        .arg("--quick")
        .args(args)
        .env_remove("KEPTN_ENDPOINT")
        .env_remove("KEPTN_API_TOKEN")
        .output()
        .expect("keptn demo runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The story's milestones, in the order the demo prints them.
fn assert_story(stdout: &str, all: &str) {
    let mut at = 0;
    for milestone in [
        "== Project",
        "== Delivering docker.io/keptnexamples/carts:0.13.1",
        "[production] sequence delivery finished: result pass",
        "== Delivering docker.io/keptnexamples/carts:0.13.2-slow",
        "[staging] evaluation finished: result fail",
        "SLI response_time_p95",
        "[staging] sequence rollback finished: result pass",
        "== Problem in production",
        "[production] action finished: result pass",
        "[production] sequence remediation finished: result pass",
        "== Summary",
        "The story went as told",
    ] {
        match stdout[at..].find(milestone) {
            Some(i) => at += i + milestone.len(),
            None => panic!("missing, or out of order: {milestone:?}\n{all}"),
        }
    }
    for row in [
        "carts:0.13.1",
        "carts:0.13.2-slow",
        "rolled back (pass)",
        "not delivered",
        "local-deployer",
    ] {
        assert!(stdout.contains(row), "summary lacks {row:?}\n{all}");
    }
}

fn wait_until_gone(project: &str) {
    let entry = format!("KEPTN_PROJECT={project}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = processes_with_env(&entry);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of project {project} still run: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_demo_tells_the_story_on_a_running_server_and_deletes_its_project() {
    let server = GracefulServer::start();
    let stand_in =
        QualityStandIn::start_if_missing(&server.endpoint, &server.token, &server.data_dir);
    let out = demo(&[
        "--endpoint",
        &server.endpoint,
        "--api-token",
        &server.token,
        "--project",
        "demo-remote",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_story(&String::from_utf8_lossy(&out.stdout), &all);
    assert!(all.contains("Deleted project demo-remote"), "{all}");
    wait_until_gone("demo-remote");
    let projects = server.keptn_ok(&["get", "projects"]);
    assert!(!projects.contains("demo-remote"), "{projects}");
    drop(stand_in);
}

#[test]
fn the_demo_runs_embedded_and_stops_every_process_it_started() {
    // The embedded demo needs the quality services (lighthouse, approval) inside the plane;
    // `keptn serve` runs the same services, so its metadata tells whether they are built in.
    let probe = GracefulServer::start();
    let quality_built_in =
        QualityStandIn::start_if_missing(&probe.endpoint, &probe.token, &probe.data_dir).is_none();
    drop(probe);

    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("demo-data");
    let out = demo(&[
        "--project",
        "demo-embedded",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let all = text(&out);
    if quality_built_in {
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert_story(&String::from_utf8_lossy(&out.stdout), &all);
    } else {
        // Without them the demo refuses at once, naming what is missing.
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(
            all.contains("runs no lighthouse and approval service"),
            "{all}"
        );
    }
    assert!(all.contains("Stopping the control plane"), "{all}");
    assert!(
        processes_with_env("KEPTN_PROJECT=demo-embedded").is_empty(),
        "keptn demo left processes running\n{all}"
    );
    assert!(dir.exists(), "--data-dir is kept");
}

#[test]
fn an_interrupted_demo_stops_every_process_it_started() {
    let server = GracefulServer::start();
    let stand_in =
        QualityStandIn::start_if_missing(&server.endpoint, &server.token, &server.data_dir);
    let mut child = Command::new(keptn_bin())
        .args([
            "demo",
            "--endpoint",
            &server.endpoint,
            "--api-token",
            &server.token,
            "--project",
            "demo-interrupted",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("keptn demo starts");
    // Interrupt once the first version runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with_env("KEPTN_PROJECT=demo-interrupted").is_empty() {
        assert!(Instant::now() < deadline, "the demo deployed nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted demo fails");
    wait_until_gone("demo-interrupted");
    drop(stand_in);
}
