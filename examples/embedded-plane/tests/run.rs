//! The example runs to the end: the embedded plane starts, runs a sequence and stops.

use std::process::Command;

#[test]
fn the_embedded_plane_runs_a_sequence_to_the_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_keptn-example-embedded-plane"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("control plane at http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("sequence hello is finished"), "{stdout}");
}
