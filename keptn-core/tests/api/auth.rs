//! Authentication on every route, the auth endpoint, its rate limit, health and OpenAPI.

use keptn_core::api::{PROTECTED_ROUTES, PUBLIC_ROUTES};
use reqwest::Method;

use crate::support::{TOKEN, json, start};

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                match segment.trim_matches(|c| c == '{' || c == '}' || c == '*') {
                    "event_type" => "sh.keptn.event.test.triggered".to_owned(),
                    "uri" => "slo.yaml".to_owned(),
                    _ => "x".to_owned(),
                }
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_protected_route_rejects_a_missing_and_a_wrong_token() {
    let api = start().await;
    for route in PROTECTED_ROUTES {
        let method: Method = route.method.parse().unwrap();
        let url = api.url(&concrete(route.path));
        for token in [None, Some("wrong-token")] {
            let mut request = api.http.request(method.clone(), &url);
            if let Some(token) = token {
                request = request.header("x-token", token);
            }
            let (status, body) = json(request.send().await.unwrap()).await;
            assert_eq!(
                status, 401,
                "{} {} with {token:?}",
                route.method, route.path
            );
            assert_eq!(body["code"], 401);
            assert_eq!(body["message"], "incorrect api key auth");
        }
    }
}

#[tokio::test]
async fn every_listed_route_is_served() {
    let api = start().await;
    for route in PUBLIC_ROUTES.iter().chain(PROTECTED_ROUTES) {
        let method: Method = route.method.parse().unwrap();
        let response = api
            .request(method, &concrete(route.path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{} {} is not routed", route.method, route.path);
        assert!(
            !body.contains("no route for"),
            "{} {} fell through: {body}",
            route.method,
            route.path
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_404_with_an_error_body() {
    let api = start().await;
    let (status, body) = json(
        api.request(Method::GET, "/api/nothing/here")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/api/nothing/here")
    );
}

#[tokio::test]
async fn auth_accepts_the_token_and_rate_limits_failures() {
    let api = start().await;
    api.client.auth().await.unwrap();
    let url = api.url("/api/v1/auth");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = api
            .http
            .post(&url)
            .header("x-token", "wrong")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[0], 401);
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, body) = json(
        api.http
            .post(&url)
            .header("x-token", "wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().unwrap().contains("too many"));
}

#[tokio::test]
async fn health_and_the_openapi_document_need_no_token() {
    let api = start().await;
    let (status, _) = json(api.http.get(api.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let (status, doc) = json(
        api.http
            .get(api.url("/api/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/v1/event"]["post"].is_object());
    assert!(
        doc["paths"]["/api/resource-service/v1/project/{project}/resource/{uri}"]["get"]
            .is_object()
    );
}

#[tokio::test]
async fn metadata_reports_the_version() {
    let api = start().await;
    let metadata = api.client.metadata().await.unwrap();
    assert_eq!(metadata.keptnversion, env!("CARGO_PKG_VERSION"));
    let _ = TOKEN;
}
