//! The generated charts, checked by parsing their manifests: Kubernetes objects with
//! k8s-openapi types, Istio objects as JSON.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use keptn_core::deploy::ReplicaChange;
use keptn_core::deploy::helm::generated::{
    UserManifest, canary_weight, change_replicas, duplicate_chart, mesh_chart, set_canary_weight,
};
use keptn_core::deploy::helm::render::{RenderContext, render_chart};
use keptn_core::deploy::helm::{Chart, IngressConfig};
use serde_json::{Value, json};

use super::helm_support::{carts_chart, object, scope, weights};

fn rendered(deployment: &str) -> UserManifest {
    let chart = carts_chart();
    let mut values = chart.values().unwrap();
    values.insert(
        "keptn".into(),
        json!({"project": "sockshop", "stage": "staging", "service": "carts", "deployment": deployment}),
    );
    let ctx = RenderContext {
        release: "sockshop-staging-carts".into(),
        namespace: "sockshop-staging".into(),
        values,
    };
    UserManifest::parse(&render_chart(&chart, &ctx).unwrap()).unwrap()
}

fn chart_yaml(chart: &Chart) -> Value {
    chart.metadata().unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn blue_green_chart_has_primary_copies_and_istio_routing() {
    let s = scope("sockshop", "staging");
    let chart = duplicate_chart(&rendered("canary"), &s, &IngressConfig::default()).unwrap();

    let files: Vec<&str> = chart.files().keys().map(String::as_str).collect();
    assert_eq!(
        files,
        [
            "Chart.yaml",
            "templates/carts-canary-istio-destinationrule.yaml",
            "templates/carts-canary-service.yaml",
            "templates/carts-istio-virtualservice.yaml",
            "templates/carts-primary-deployment.yaml",
            "templates/carts-primary-istio-destinationrule.yaml",
            "templates/carts-primary-service.yaml",
        ]
    );
    assert_eq!(
        chart_yaml(&chart),
        json!({"apiVersion": "v2", "name": "carts-generated", "keywords": ["deployment_strategy=duplicate"], "version": "0.1.0"})
    );

    let canary: Service = object(&chart, "templates/carts-canary-service.yaml");
    assert_eq!(canary.metadata.name.as_deref(), Some("carts-canary"));
    let spec = canary.spec.unwrap();
    assert_eq!(spec.selector.unwrap(), labels(&[("app", "carts")]));
    assert_eq!(spec.cluster_ip, None, "cluster IPs are not copied");
    assert!(spec.ports.unwrap().iter().all(|p| p.node_port.is_none()));

    let primary: Service = object(&chart, "templates/carts-primary-service.yaml");
    assert_eq!(primary.metadata.name.as_deref(), Some("carts-primary"));
    assert_eq!(
        primary.spec.unwrap().selector.unwrap(),
        labels(&[("app", "carts-primary")])
    );

    let deployment: Deployment = object(&chart, "templates/carts-primary-deployment.yaml");
    assert_eq!(deployment.metadata.name.as_deref(), Some("carts-primary"));
    let spec = deployment.spec.unwrap();
    let primary_labels = labels(&[
        ("app", "carts-primary"),
        ("app.kubernetes.io/name", "carts-primary"),
    ]);
    assert_eq!(spec.selector.match_labels.unwrap(), primary_labels);
    let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
    assert_eq!(pod_labels["app"], "carts-primary");
    assert_eq!(pod_labels["app.kubernetes.io/name"], "carts-primary");
    let container = &spec.template.spec.unwrap().containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("docker.io/keptnexamples/carts:0.13.1")
    );
    let env = container.env.as_ref().unwrap()[0].value.clone().unwrap();
    assert!(env.ends_with("keptn_deployment=primary"), "{env}");

    for (file, name, host) in [
        (
            "templates/carts-canary-istio-destinationrule.yaml",
            "carts-canary",
            "carts-canary.sockshop-staging.svc.cluster.local",
        ),
        (
            "templates/carts-primary-istio-destinationrule.yaml",
            "carts-primary",
            "carts-primary.sockshop-staging.svc.cluster.local",
        ),
    ] {
        let dr: Value = object(&chart, file);
        assert_eq!(dr["apiVersion"], "networking.istio.io/v1alpha3");
        assert_eq!(dr["kind"], "DestinationRule");
        assert_eq!(dr["metadata"]["name"], name);
        assert_eq!(dr["spec"]["host"], host);
    }

    let vs: Value = object(&chart, "templates/carts-istio-virtualservice.yaml");
    assert_eq!(vs["kind"], "VirtualService");
    assert_eq!(vs["metadata"]["name"], "carts");
    assert_eq!(
        vs["spec"]["gateways"],
        json!(["public-gateway.istio-system", "mesh"])
    );
    assert_eq!(
        vs["spec"]["hosts"],
        json!(["carts.sockshop-staging.svc.cluster.local", "carts"])
    );
    let vs_path = "templates/carts-istio-virtualservice.yaml";
    assert_eq!(
        weights(&chart, vs_path),
        [
            (
                "carts-canary.sockshop-staging.svc.cluster.local".to_owned(),
                0
            ),
            (
                "carts-primary.sockshop-staging.svc.cluster.local".to_owned(),
                100
            )
        ]
    );
    assert_eq!(canary_weight(&chart), Some(0));
}

#[test]
fn canary_weight_and_replicas_are_changed_in_place() {
    let s = scope("sockshop", "staging");
    let mut chart = duplicate_chart(&rendered("canary"), &s, &IngressConfig::default()).unwrap();
    set_canary_weight(&mut chart, 100).unwrap();
    let w: Vec<u64> = weights(&chart, "templates/carts-istio-virtualservice.yaml")
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(w, [100, 0]);
    assert_eq!(canary_weight(&chart), Some(100));
    assert!(set_canary_weight(&mut chart, 101).is_err());

    assert_eq!(
        change_replicas(&mut chart, ReplicaChange::Add(1), 10).unwrap(),
        Some(2)
    );
    let d: Deployment = serde_json::from_value(
        keptn_core::deploy::helm::render::manifest_objects(
            std::str::from_utf8(
                chart
                    .file("templates/carts-primary-deployment.yaml")
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap()
        .remove(0),
    )
    .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
    assert!(change_replicas(&mut chart, ReplicaChange::Set(11), 10).is_err());
}

#[test]
fn direct_chart_routes_the_service_through_the_mesh() {
    let s = scope("sockshop", "dev");
    let ingress = IngressConfig {
        gateway: "my-gateway.istio-system".into(),
        hostname_template: "https://${SERVICE}.${STAGE}.example.com".into(),
        ..IngressConfig::default()
    };
    let chart = mesh_chart(&rendered("direct"), &s, &ingress).unwrap();
    let files: Vec<&str> = chart.files().keys().map(String::as_str).collect();
    assert_eq!(
        files,
        [
            "Chart.yaml",
            "templates/carts-istio-destinationrule.yaml",
            "templates/carts-istio-virtualservice.yaml"
        ]
    );
    assert_eq!(
        chart_yaml(&chart)["keywords"],
        json!(["deployment_strategy=direct"])
    );
    let vs: Value = object(&chart, "templates/carts-istio-virtualservice.yaml");
    assert_eq!(
        vs["spec"]["gateways"],
        json!(["my-gateway.istio-system", "mesh"])
    );
    assert_eq!(
        vs["spec"]["hosts"],
        json!(["carts.dev.example.com", "carts"])
    );
    assert_eq!(
        vs["spec"]["http"][0]["route"],
        json!([{"destination": {"host": "carts.sockshop-dev.svc.cluster.local"}}])
    );
    let dr: Value = object(&chart, "templates/carts-istio-destinationrule.yaml");
    assert_eq!(dr["spec"]["host"], "carts.sockshop-dev.svc.cluster.local");
}

#[test]
fn user_manifest_gives_the_lowest_tcp_port() {
    assert_eq!(rendered("direct").service_port(), Some(80));
}

#[test]
fn blue_green_needs_exactly_one_service_and_one_deployment() {
    let mut manifest = rendered("canary");
    manifest.deployments.push(manifest.deployments[0].clone());
    let err = duplicate_chart(&manifest, &scope("p", "s"), &IngressConfig::default()).unwrap_err();
    assert!(
        err.message().contains("1 Services and 2 Deployments"),
        "{err}"
    );
}

#[test]
fn a_hostname_template_without_protocol_is_an_error() {
    let ingress = IngressConfig {
        hostname_template: "${SERVICE}.example.com".into(),
        ..IngressConfig::default()
    };
    let err = mesh_chart(&rendered("direct"), &scope("p", "s"), &ingress).unwrap_err();
    assert!(err.message().contains("public host name"), "{err}");
}
