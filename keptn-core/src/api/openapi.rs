//! The OpenAPI 3 document of the API, generated from the route table.

use axum::Json;
use serde_json::{Map, Value, json};

use super::routes::{PROTECTED_ROUTES, PUBLIC_ROUTES, RouteSpec};

/// The path in OpenAPI syntax (`{*uri}` becomes `{uri}`) and its parameter names.
fn openapi_path(path: &str) -> (String, Vec<String>) {
    let mut params = Vec::new();
    let converted: Vec<String> = path
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let name = name.trim_start_matches('*');
                    params.push(name.to_owned());
                    format!("{{{name}}}")
                }
                None => segment.to_owned(),
            },
        )
        .collect();
    (converted.join("/"), params)
}

fn operation(route: &RouteSpec, protected: bool) -> Value {
    let (_, params) = openapi_path(route.path);
    let parameters: Vec<Value> = params
        .iter()
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    let error = json!({"$ref": "#/components/responses/Error"});
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}}),
    );
    if matches!(route.method, "POST" | "PUT") {
        responses.insert("201".into(), json!({"description": "created"}));
        responses.insert("400".into(), error.clone());
        responses.insert("413".into(), error.clone());
    }
    responses.insert("404".into(), error.clone());
    if protected {
        responses.insert("401".into(), error.clone());
    }
    if route.path.contains("/project") {
        responses.insert("409".into(), error.clone());
        responses.insert("424".into(), error.clone());
    }
    if route.path == "/api/v1/auth" {
        responses.insert("401".into(), error.clone());
        responses.insert("429".into(), error);
    }
    let mut op = json!({
        "summary": route.summary,
        "operationId": format!("{} {}", route.method, route.path),
        "parameters": parameters,
        "responses": responses,
    });
    if protected {
        op["security"] = json!([{"x-token": []}]);
    }
    if matches!(route.method, "POST" | "PUT") {
        op["requestBody"] = json!({
            "required": !route.path.ends_with("/auth"),
            "content": {"application/json": {"schema": {"type": "object"}}}
        });
    }
    op
}

/// The OpenAPI 3.0 document: every route of [`PUBLIC_ROUTES`] and [`PROTECTED_ROUTES`], the
/// `x-token` security scheme and the error body.
pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    let all = PUBLIC_ROUTES
        .iter()
        .map(|r| (r, false))
        .chain(PROTECTED_ROUTES.iter().map(|r| (r, true)));
    for (route, protected) in all {
        let (path, _) = openapi_path(route.path);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = operation(route, protected);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "keptn-rs control plane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Keptn 1.x API layout: api-service (/api/v1), shipyard-controller \
                (/api/controlPlane/v1), datastore (/api/mongodb-datastore) and resource-service \
                (/api/resource-service/v1)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "x-token": {"type": "apiKey", "in": "header", "name": "x-token"}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "integer"},
                        "message": {"type": "string"}
                    }
                }
            },
            "responses": {
                "Error": {
                    "description": "an error naming what was wrong",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            }
        }
    })
}

pub(crate) async fn serve_document() -> Json<Value> {
    Json(openapi_document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_all_segments_become_plain_parameters() {
        let (path, params) = openapi_path("/api/x/{project}/resource/{*uri}");
        assert_eq!(path, "/api/x/{project}/resource/{uri}");
        assert_eq!(params, ["project", "uri"]);
    }

    #[test]
    fn every_route_is_documented_with_its_security() {
        let doc = openapi_document();
        let paths = doc["paths"].as_object().unwrap();
        for route in PROTECTED_ROUTES {
            let (path, _) = openapi_path(route.path);
            let op = &paths[&path][route.method.to_ascii_lowercase()];
            assert_eq!(op["security"][0]["x-token"], json!([]), "{}", route.path);
        }
        let (path, _) = openapi_path("/api/v1/auth");
        assert!(paths[&path]["post"].get("security").is_none());
    }
}
