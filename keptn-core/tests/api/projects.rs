//! Projects, stages and services through the API.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::client::ClientError;
use reqwest::Method;
use serde_json::json;

use crate::support::{SHIPYARD, json, start, start_with};

fn status(err: ClientError) -> u16 {
    err.status().unwrap_or(0)
}

#[tokio::test]
async fn a_project_is_created_listed_read_and_deleted() {
    let api = start().await;
    api.create_sockshop().await;
    let projects = api.client.projects().await.unwrap();
    assert_eq!(projects.total_count, 1);
    let project = api.client.project("sockshop").await.unwrap().unwrap();
    assert_eq!(project.stages.len(), 3);
    assert_eq!(project.stages[0].services[0].service_name, "carts");
    assert!(project.shipyard.contains("delivery-direct"));
    let stages = api.client.stages("sockshop").await.unwrap();
    assert_eq!(stages.stages[2].stage_name, "production");
    assert_eq!(stages.next_page_key, "0");
    let services = api.client.services("sockshop", "staging").await.unwrap();
    assert_eq!(services.services[0].service_name, "carts");
    assert!(
        api.client
            .service("sockshop", "dev", "carts")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        api.client
            .service("sockshop", "dev", "orders")
            .await
            .unwrap()
            .is_none()
    );
    assert!(api.client.stage("sockshop", "qa").await.unwrap().is_none());

    api.client
        .delete_service("sockshop", "carts")
        .await
        .unwrap();
    api.client.delete_project("sockshop").await.unwrap();
    assert!(api.client.project("sockshop").await.unwrap().is_none());
}

#[tokio::test]
async fn creating_a_project_twice_is_a_conflict() {
    let api = start().await;
    api.create_sockshop().await;
    let err = api
        .client
        .create_project(&CreateProjectParams {
            name: "sockshop".into(),
            shipyard: Some(STANDARD.encode(SHIPYARD)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status(err), 409);
    let err = api
        .client
        .create_service("sockshop", "carts")
        .await
        .unwrap_err();
    assert_eq!(status(err), 409);
}

#[tokio::test]
async fn bad_project_requests_are_400_and_name_the_field() {
    let api = start().await;
    for (body, needle) in [
        (json!({"name": "p", "shipyard": "%%%"}), "shipyard"),
        (json!({"name": "p"}), "shipyard"),
        (
            json!({"name": "Not Valid", "shipyard": STANDARD.encode(SHIPYARD)}),
            "Not Valid",
        ),
        (json!({"name": 5}), "name"),
        (
            json!({"name": "p", "shipyard": STANDARD.encode("spec: [")}),
            "shipyard",
        ),
    ] {
        let (status, error) = json(
            api.request(Method::POST, "/api/controlPlane/v1/project")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(needle),
            "{body}: {error}"
        );
    }
    let (status, error) = json(
        api.request(Method::POST, "/api/controlPlane/v1/project")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("JSON"),
        "{error}"
    );
    assert!(api.client.projects().await.unwrap().projects.is_empty());
}

#[tokio::test]
async fn missing_projects_and_services_are_404() {
    let api = start().await;
    let err = api.client.delete_project("ghost").await.unwrap_err();
    assert_eq!(status(err), 404);
    let err = api
        .client
        .create_service("ghost", "carts")
        .await
        .unwrap_err();
    assert_eq!(status(err), 404);
    api.create_sockshop().await;
    let err = api
        .client
        .delete_service("sockshop", "ghost")
        .await
        .unwrap_err();
    assert_eq!(status(err), 404);
}

#[tokio::test]
async fn an_unreachable_git_upstream_is_424_and_leaves_nothing_behind() {
    let api = start_with(true).await;
    let err = api
        .client
        .create_project(&CreateProjectParams {
            name: "remote".into(),
            shipyard: Some(STANDARD.encode(SHIPYARD)),
            git_remote_url: Some("file:///nonexistent/keptn/upstream.git".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status(err), 424);
    assert!(api.client.project("remote").await.unwrap().is_none());
}

#[tokio::test]
async fn a_shipyard_update_may_not_change_stages() {
    let api = start().await;
    api.create_sockshop().await;
    let err = api
        .client
        .update_project(&CreateProjectParams {
            name: "sockshop".into(),
            shipyard: Some(STANDARD.encode(
                "apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata: {name: s}\nspec:\n  stages:\n    - name: dev\n",
            )),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status(err), 400);
}
