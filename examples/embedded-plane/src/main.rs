//! Embeds the whole control plane in a program: starts it on embedded defaults in a temporary
//! directory, creates a project through its API, triggers a sequence, shows its state, stops.
//!
//! Run with `cargo run -p keptn-example-embedded-plane`.

use std::time::Duration;

use base64::Engine;
use keptn_core::plane::{Plane, PlaneConfig};
use keptn_core::services::{ServicesConfig, embedded_services};
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::client::{ApiClient, SequenceQuery};
use serde_json::json;

const SHIPYARD: &str = "apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: hello}
spec:
  stages:
    - name: dev
      sequences:
        - name: hello
          tasks:
            - name: wait
              properties: {duration: 1s}
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = PlaneConfig::new(dir.path(), "127.0.0.1:0".parse()?, "example-token");
    config.services = embedded_services(&ServicesConfig {
        data_dir: dir.path().to_path_buf(),
        ..ServicesConfig::default()
    });
    let plane = Plane::start(config).await?;
    let endpoint = format!("http://{}/api", plane.local_addr());
    println!("control plane at {endpoint}");

    let client = ApiClient::new(&endpoint, Some("example-token".into()))?;
    client
        .create_project(&CreateProjectParams {
            name: "hello".into(),
            shipyard: Some(base64::engine::general_purpose::STANDARD.encode(SHIPYARD)),
            ..CreateProjectParams::default()
        })
        .await?;
    client.create_service("hello", "world").await?;
    let context = client
        .send_event(&json!({
            "type": "sh.keptn.event.dev.hello.triggered",
            "data": {"project": "hello", "stage": "dev", "service": "world"}
        }))
        .await?
        .keptn_context;
    println!("triggered sequence {context}");

    for _ in 0..50 {
        let query = SequenceQuery {
            keptn_context: Some(context.clone()),
            ..SequenceQuery::default()
        };
        let states = client.sequences("hello", &query).await?.states;
        if let Some(state) = states.first() {
            println!("sequence {} is {}", state.name, state.state);
            if state.state == "finished" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    plane.shutdown().await?;
    Ok(())
}
