//! /api/resource-service: resources at every level, old commits, validation.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::client::ResourceScope;
use reqwest::Method;
use serde_json::json;

use crate::support::{json, start};

fn service_scope() -> ResourceScope {
    ResourceScope::Service {
        project: "sockshop".into(),
        stage: "staging".into(),
        service: "carts".into(),
    }
}

#[tokio::test]
async fn resources_are_written_read_listed_and_deleted_at_every_level() {
    let api = start().await;
    api.create_sockshop().await;
    let scopes = [
        ResourceScope::Project {
            project: "sockshop".into(),
        },
        ResourceScope::Stage {
            project: "sockshop".into(),
            stage: "dev".into(),
        },
        service_scope(),
    ];
    for scope in &scopes {
        api.client
            .put_resource(scope, "config/values.yaml", b"replicas: 1\n")
            .await
            .unwrap();
        let (meta, content) = api
            .client
            .resource(scope, "config/values.yaml", None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(content, b"replicas: 1\n");
        assert_eq!(meta.resource_uri, "config/values.yaml");
        let list = api.client.resources(scope).await.unwrap();
        assert!(
            list.resources
                .iter()
                .any(|r| r.resource_uri == "config/values.yaml"),
            "{scope:?}: {list:?}"
        );
        api.client
            .delete_resource(scope, "config/values.yaml")
            .await
            .unwrap();
        assert!(
            api.client
                .resource(scope, "config/values.yaml", None)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_resource_can_be_read_at_an_older_commit() {
    let api = start().await;
    api.create_sockshop().await;
    let scope = service_scope();
    let first = api
        .client
        .put_resource(&scope, "slo.yaml", b"v1")
        .await
        .unwrap();
    api.client
        .put_resource(&scope, "slo.yaml", b"v2")
        .await
        .unwrap();
    let (_, now) = api
        .client
        .resource(&scope, "slo.yaml", None)
        .await
        .unwrap()
        .unwrap();
    let (_, then) = api
        .client
        .resource(&scope, "slo.yaml", Some(&first.commit_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((now.as_slice(), then.as_slice()), (&b"v2"[..], &b"v1"[..]));
}

#[tokio::test]
async fn service_defaults_reach_every_stage() {
    let api = start().await;
    api.create_sockshop().await;
    api.client
        .put_resources(
            &ResourceScope::ServiceDefault {
                project: "sockshop".into(),
                service: "carts".into(),
            },
            &[("sli.yaml".into(), b"indicators: {}".to_vec())],
        )
        .await
        .unwrap();
    for stage in ["dev", "staging", "production"] {
        let scope = ResourceScope::Service {
            project: "sockshop".into(),
            stage: stage.into(),
            service: "carts".into(),
        };
        assert!(
            api.client
                .resource(&scope, "sli.yaml", None)
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn bad_resource_requests_are_rejected_and_write_nothing() {
    let api = start().await;
    api.create_sockshop().await;
    let base = "/api/resource-service/v1/project/sockshop/stage/dev/service/carts/resource";
    let (status, error) = json(
        api.request(Method::PUT, base)
            .json(&json!({"resources": [{"resourceURI": "ok.yaml", "resourceContent": "%%"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("resources[0].resourceContent")
    );
    let (status, error) = json(
        api.request(Method::PUT, base)
            .json(&json!({"resources": [{"resourceURI": "../../etc/passwd",
                "resourceContent": STANDARD.encode("x")}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert!(error["message"].as_str().unwrap().contains(".."), "{error}");
    let (status, _) = json(
        api.request(Method::GET, &format!("{base}/missing.yaml"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = json(
        api.request(
            Method::GET,
            "/api/resource-service/v1/project/ghost/resource",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let list = api.client.resources(&service_scope()).await.unwrap();
    assert!(
        list.resources
            .iter()
            .all(|r| !r.resource_uri.contains("passwd"))
    );
}
