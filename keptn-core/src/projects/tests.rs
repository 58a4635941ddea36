use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::transport::{MemoryTransport, SubjectPattern, SubscribeOptions, Transport};

use super::{ProjectErrorKind, Projects};
use crate::configstore::{ConfigStore, MemoryConfigStore};
use crate::datastore::{EventStore, MemoryEventStore};

const SHIPYARD: &str = include_str!("../../../testdata/keptn-examples/shipyard-sockshop.yaml");

const SHIPYARD_V01: &str = "stages:
  - name: dev
    deployment_strategy: direct
    test_strategy: functional
  - name: production
    deployment_strategy: blue_green_service
";

fn setup() -> (
    Projects,
    Arc<MemoryConfigStore>,
    Arc<MemoryEventStore>,
    MemoryTransport,
) {
    let config = Arc::new(MemoryConfigStore::new());
    let events = Arc::new(MemoryEventStore::new());
    let transport = MemoryTransport::default();
    let projects = Projects::new(
        Arc::clone(&config) as Arc<dyn ConfigStore>,
        Arc::clone(&events) as Arc<dyn EventStore>,
        Arc::new(transport.clone()),
    );
    (projects, config, events, transport)
}

fn params(name: &str, shipyard: &str) -> CreateProjectParams {
    CreateProjectParams {
        name: name.to_owned(),
        shipyard: Some(STANDARD.encode(shipyard)),
        ..CreateProjectParams::default()
    }
}

#[tokio::test]
async fn creating_a_project_makes_its_stages_and_announces_it() {
    let (projects, config, _, transport) = setup();
    let mut announcements = transport
        .subscribe(SubscribeOptions::new(
            SubjectPattern::new("sh.keptn.event.project.create.*").unwrap(),
        ))
        .await
        .unwrap();
    projects
        .create(&params("sockshop", SHIPYARD))
        .await
        .unwrap();
    assert_eq!(
        config.stages("sockshop").await.unwrap(),
        vec!["dev", "production", "staging"]
    );
    let mut phases = Vec::new();
    for _ in 0..3 {
        let d = tokio::time::timeout(Duration::from_secs(5), announcements.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        phases.push(d.event().type_string());
        d.ack().await.unwrap();
    }
    assert_eq!(
        phases,
        [
            "sh.keptn.event.project.create.triggered",
            "sh.keptn.event.project.create.started",
            "sh.keptn.event.project.create.finished"
        ]
    );
    let view = projects.project("sockshop").await.unwrap();
    let stages: Vec<&str> = view.stages.iter().map(|s| s.stage_name.as_str()).collect();
    assert_eq!(stages, ["dev", "staging", "production"], "promotion order");
    assert_eq!(view.stages[1].parent_stages, ["dev"]);
    assert!(view.shipyard.contains("shipyard-sockshop"));
}

#[tokio::test]
async fn a_0_1_shipyard_is_stored_converted() {
    let (projects, _, _, _) = setup();
    projects
        .create(&params("legacy", SHIPYARD_V01))
        .await
        .unwrap();
    let (shipyard, yaml) = projects.shipyard("legacy").await.unwrap();
    assert!(shipyard.api_version.starts_with("spec.keptn.sh/0.2"));
    assert!(yaml.contains("delivery"), "{yaml}");
}

#[tokio::test]
async fn bad_requests_name_the_field_and_store_nothing() {
    let (projects, config, _, _) = setup();
    let err = projects
        .create(&CreateProjectParams {
            name: "p".into(),
            ..CreateProjectParams::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::Invalid);
    assert!(err.message().starts_with("shipyard:"), "{err}");

    let mut bad = params("p", SHIPYARD);
    bad.shipyard = Some("%%%".into());
    let err = projects.create(&bad).await.unwrap_err();
    assert!(err.message().contains("base64"), "{err}");

    let err = projects
        .create(&params(
            "p",
            "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nspec:\n  stages: []\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::Invalid);

    let err = projects
        .create(&params("Bad_Name", SHIPYARD))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::Invalid);
    assert!(config.projects().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_second_project_of_the_same_name_is_a_conflict() {
    let (projects, _, _, _) = setup();
    projects
        .create(&params("sockshop", SHIPYARD))
        .await
        .unwrap();
    let err = projects
        .create(&params("sockshop", SHIPYARD))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::AlreadyExists);
}

#[tokio::test]
async fn services_are_created_in_every_stage_and_deleted_again() {
    let (projects, config, _, _) = setup();
    projects
        .create(&params("sockshop", SHIPYARD))
        .await
        .unwrap();
    projects.create_service("sockshop", "carts").await.unwrap();
    for stage in ["dev", "staging", "production"] {
        assert_eq!(config.services("sockshop", stage).await.unwrap(), ["carts"]);
    }
    let view = projects.service("sockshop", "dev", "carts").await.unwrap();
    assert!(!view.creation_date.is_empty());
    projects.delete_service("sockshop", "carts").await.unwrap();
    let err = projects
        .service("sockshop", "dev", "carts")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::NotFound);
}

#[tokio::test]
async fn an_update_may_not_change_the_stages() {
    let (projects, _, _, _) = setup();
    projects
        .create(&params("sockshop", SHIPYARD))
        .await
        .unwrap();
    let err = projects
        .update(&params("sockshop", SHIPYARD_V01))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::Invalid);
    assert!(err.message().starts_with("shipyard:"), "{err}");
}

#[tokio::test]
async fn deleting_a_project_removes_its_configuration() {
    let (projects, config, _, _) = setup();
    projects
        .create(&params("sockshop", SHIPYARD))
        .await
        .unwrap();
    projects.delete("sockshop").await.unwrap();
    assert!(config.projects().await.unwrap().is_empty());
    let err = projects.delete("sockshop").await.unwrap_err();
    assert_eq!(err.kind(), ProjectErrorKind::NotFound);
}
