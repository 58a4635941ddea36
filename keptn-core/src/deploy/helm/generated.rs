//! The `<service>-generated` chart: primary copies and Istio routing for blue/green, Istio
//! routing alone for direct deployments, as Keptn's helm-service generated them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde::Serialize;
use serde_json::{Value, json};

use super::chart::Chart;
use super::naming::{IngressConfig, chart_name};
use super::render::{manifest_objects, objects_of_kind};
use crate::deploy::{DeployError, ReplicaChange, ServiceScope};

/// Keyword of a generated chart for blue/green deployments.
pub const KEYWORD_DUPLICATE: &str = "deployment_strategy=duplicate";
/// Keyword of a generated chart for direct deployments.
pub const KEYWORD_DIRECT: &str = "deployment_strategy=direct";
/// File name suffix of DestinationRules.
pub const DESTINATION_RULE_SUFFIX: &str = "-istio-destinationrule.yaml";
/// File name suffix of VirtualServices.
pub const VIRTUAL_SERVICE_SUFFIX: &str = "-istio-virtualservice.yaml";
/// API version of the Istio objects.
pub const ISTIO_API_VERSION: &str = "networking.istio.io/v1alpha3";

/// The labels and selectors that get a `-primary` suffix.
const APP_LABELS: [&str; 2] = ["app", "app.kubernetes.io/name"];

/// The Services and Deployments of a rendered user chart.
#[derive(Debug, Clone)]
pub struct UserManifest {
    /// The Services.
    pub services: Vec<Service>,
    /// The Deployments.
    pub deployments: Vec<Deployment>,
}

impl UserManifest {
    /// Reads the Services and Deployments of a rendered manifest (other objects are ignored).
    pub fn parse(manifest: &str) -> Result<Self, DeployError> {
        let objects = manifest_objects(manifest)?;
        let read = |kind: &str, v: &Value| {
            DeployError::invalid(format!(
                "cannot read the {kind} {} of the user chart",
                v.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("(unnamed)")
            ))
        };
        let services = objects_of_kind(&objects, "v1", "Service")
            .map(|v| {
                serde_json::from_value(v.clone()).map_err(|e| read("Service", v).with_source(e))
            })
            .collect::<Result<Vec<Service>, _>>()?;
        let deployments = objects_of_kind(&objects, "apps/v1", "Deployment")
            .map(|v| {
                serde_json::from_value(v.clone()).map_err(|e| read("Deployment", v).with_source(e))
            })
            .collect::<Result<Vec<Deployment>, _>>()?;
        Ok(Self {
            services,
            deployments,
        })
    }

    /// The lowest port of the first Service, TCP ports first (how Keptn picks the port of
    /// the local deployment URI).
    pub fn service_port(&self) -> Option<i32> {
        let ports = self.services.first()?.spec.as_ref()?.ports.as_ref()?;
        let tcp = ports
            .iter()
            .filter(|p| p.protocol.as_deref().is_none_or(|proto| proto == "TCP"))
            .map(|p| p.port)
            .min();
        tcp.or_else(|| ports.iter().map(|p| p.port).min())
    }
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn chart_yaml(service: &str, keyword: &str) -> String {
    format!(
        "apiVersion: v2\nname: {}\nkeywords:\n- {keyword}\nversion: 0.1.0\n",
        chart_name(service, true)
    )
}

fn to_yaml(value: &impl Serialize, what: &str) -> Result<String, DeployError> {
    serde_norway::to_string(value)
        .map_err(|e| DeployError::invalid(format!("cannot write {what}")).with_source(e))
}

fn host(name: &str, scope: &ServiceScope) -> String {
    format!("{name}.{}.svc.cluster.local", scope.namespace())
}

fn destination_rule(name: &str, host: &str) -> Value {
    json!({
        "apiVersion": ISTIO_API_VERSION,
        "kind": "DestinationRule",
        "metadata": {"name": name},
        "spec": {"host": host}
    })
}

fn virtual_service(name: &str, gateways: &[&str], hosts: &[String], route: Value) -> Value {
    json!({
        "apiVersion": ISTIO_API_VERSION,
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {
            "gateways": gateways,
            "hosts": hosts,
            "http": [{"route": route}]
        }
    })
}

fn public_host(scope: &ServiceScope, ingress: &IngressConfig) -> Result<String, DeployError> {
    ingress.public_host(scope).ok_or_else(|| {
        DeployError::invalid(format!(
            "cannot determine the public host name from the hostname template {:?}: expected a URL with a protocol (e.g. http://)",
            ingress.hostname_template
        ))
    })
}

fn reset_service(svc: &mut Service) {
    svc.metadata.namespace = None;
    svc.metadata.resource_version = None;
    svc.metadata.uid = None;
    svc.status = None;
    if let Some(spec) = svc.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
        spec.load_balancer_ip = None;
        spec.external_ips = None;
        for port in spec.ports.iter_mut().flatten() {
            port.node_port = None;
        }
    }
}

fn suffix_app_labels(labels: Option<&mut std::collections::BTreeMap<String, String>>) {
    if let Some(labels) = labels {
        for key in APP_LABELS {
            if let Some(value) = labels.get_mut(key) {
                value.push_str("-primary");
            }
        }
    }
}

/// Generates the chart for `blue_green_service` from the user chart's manifest: for its one
/// Service, a `-canary` and a `-primary` Service (the primary selecting `-primary` app
/// labels), a DestinationRule for each, and a VirtualService routing canary 0 / primary 100;
/// for its one Deployment, a `-primary` copy with `-primary` app labels and selector.
pub fn duplicate_chart(
    manifest: &UserManifest,
    scope: &ServiceScope,
    ingress: &IngressConfig,
) -> Result<Chart, DeployError> {
    if manifest.services.len() != 1 || manifest.deployments.len() != 1 {
        return Err(DeployError::invalid(format!(
            "the user chart of {scope} has {} Services and {} Deployments: blue/green deployments need exactly one of each",
            manifest.services.len(),
            manifest.deployments.len()
        )));
    }
    let mut chart = Chart::default();
    chart.set_file("Chart.yaml", chart_yaml(scope.service(), KEYWORD_DUPLICATE));

    let svc = &manifest.services[0];
    let name = name_of(&svc.metadata);
    let mut canary = svc.clone();
    canary.metadata.name = Some(format!("{name}-canary"));
    reset_service(&mut canary);
    let canary_name = format!("{name}-canary");
    let canary_host = host(&canary_name, scope);
    chart.set_file(
        format!("templates/{canary_name}-service.yaml"),
        to_yaml(&canary, "the canary Service")?,
    );
    chart.set_file(
        format!("templates/{canary_name}{DESTINATION_RULE_SUFFIX}"),
        to_yaml(
            &destination_rule(&canary_name, &canary_host),
            "a DestinationRule",
        )?,
    );

    let primary_name = format!("{name}-primary");
    let mut primary = svc.clone();
    primary.metadata.name = Some(primary_name.clone());
    suffix_app_labels(primary.spec.as_mut().and_then(|s| s.selector.as_mut()));
    reset_service(&mut primary);
    let primary_host = host(&primary_name, scope);
    chart.set_file(
        format!("templates/{primary_name}-service.yaml"),
        to_yaml(&primary, "the primary Service")?,
    );
    chart.set_file(
        format!("templates/{primary_name}{DESTINATION_RULE_SUFFIX}"),
        to_yaml(
            &destination_rule(&primary_name, &primary_host),
            "a DestinationRule",
        )?,
    );

    let hosts = [public_host(scope, ingress)?, name.clone()];
    let route = json!([
        {"destination": {"host": canary_host}, "weight": 0},
        {"destination": {"host": primary_host}, "weight": 100}
    ]);
    let vs = virtual_service(&name, &[ingress.gateway.as_str(), "mesh"], &hosts, route);
    chart.set_file(
        format!("templates/{name}{VIRTUAL_SERVICE_SUFFIX}"),
        to_yaml(&vs, "the VirtualService")?,
    );

    let mut deployment = manifest.deployments[0].clone();
    let deployment_name = format!("{}-primary", name_of(&deployment.metadata));
    deployment.metadata.name = Some(deployment_name.clone());
    deployment.metadata.namespace = None;
    deployment.metadata.resource_version = None;
    deployment.metadata.uid = None;
    deployment.status = None;
    if let Some(spec) = deployment.spec.as_mut() {
        suffix_app_labels(spec.selector.match_labels.as_mut());
        suffix_app_labels(
            spec.template
                .metadata
                .as_mut()
                .and_then(|m| m.labels.as_mut()),
        );
    }
    let yaml = to_yaml(&deployment, "the primary Deployment")?
        .replace("keptn_deployment=canary", "keptn_deployment=primary");
    chart.set_file(format!("templates/{deployment_name}-deployment.yaml"), yaml);
    Ok(chart)
}

/// Generates the chart for `direct` deployments: a VirtualService and a DestinationRule per
/// Service of the user chart.
pub fn mesh_chart(
    manifest: &UserManifest,
    scope: &ServiceScope,
    ingress: &IngressConfig,
) -> Result<Chart, DeployError> {
    let mut chart = Chart::default();
    chart.set_file("Chart.yaml", chart_yaml(scope.service(), KEYWORD_DIRECT));
    for svc in &manifest.services {
        let name = name_of(&svc.metadata);
        let target = host(&name, scope);
        let hosts = [public_host(scope, ingress)?, name.clone()];
        let route = json!([{"destination": {"host": target}}]);
        let vs = virtual_service(&name, &[ingress.gateway.as_str(), "mesh"], &hosts, route);
        chart.set_file(
            format!("templates/{name}{VIRTUAL_SERVICE_SUFFIX}"),
            to_yaml(&vs, "a VirtualService")?,
        );
        chart.set_file(
            format!("templates/{name}{DESTINATION_RULE_SUFFIX}"),
            to_yaml(&destination_rule(&name, &target), "a DestinationRule")?,
        );
    }
    Ok(chart)
}

fn virtual_service_files(chart: &Chart) -> Vec<String> {
    chart
        .files()
        .keys()
        .filter(|p| p.starts_with("templates/") && p.ends_with(VIRTUAL_SERVICE_SUFFIX))
        .cloned()
        .collect()
}

/// Sets the canary weight (and 100 minus it for the primary) in the generated chart's
/// VirtualService.
pub fn set_canary_weight(chart: &mut Chart, canary_weight: u8) -> Result<(), DeployError> {
    if canary_weight > 100 {
        return Err(DeployError::invalid(format!(
            "invalid canary weight {canary_weight}: expected 0 to 100"
        )));
    }
    let Some(path) = virtual_service_files(chart).into_iter().next() else {
        return Ok(());
    };
    let mut vs: Value = serde_norway::from_slice(chart.file(&path).unwrap_or_default())
        .map_err(|e| DeployError::invalid(format!("cannot read {path}")).with_source(e))?;
    let name = vs
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let routes = vs
        .pointer_mut("/spec/http")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|h| h.get_mut("route").and_then(Value::as_array_mut))
        .flatten();
    for destination in routes {
        let host = destination
            .pointer("/destination/host")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !host.starts_with(&name) {
            return Err(DeployError::invalid(format!(
                "cannot update VirtualService {path}: its host {host} does not start with {name}"
            )));
        }
        let weight = if host.starts_with(&format!("{name}-canary")) {
            canary_weight
        } else if host.starts_with(&format!("{name}-primary")) {
            100 - canary_weight
        } else {
            continue;
        };
        destination["weight"] = json!(weight);
    }
    chart.set_file(path, to_yaml(&vs, "the VirtualService")?);
    Ok(())
}

/// The canary weight in the generated chart's VirtualService, if it routes to a canary.
pub fn canary_weight(chart: &Chart) -> Option<u8> {
    let path = virtual_service_files(chart).into_iter().next()?;
    let vs: Value = serde_norway::from_slice(chart.file(&path)?).ok()?;
    let name = vs.pointer("/metadata/name")?.as_str()?.to_owned();
    vs.pointer("/spec/http/0/route")?
        .as_array()?
        .iter()
        .find(|d| {
            d.pointer("/destination/host")
                .and_then(Value::as_str)
                .is_some_and(|h| h.starts_with(&format!("{name}-canary")))
        })
        .map(|d| {
            d.get("weight")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(100) as u8
        })
}

/// Changes the replicas of every Deployment in the chart's templates; returns the new count
/// of the first one. Deployments without `replicas` count as 1 (the Kubernetes default).
pub fn change_replicas(
    chart: &mut Chart,
    change: ReplicaChange,
    max: u32,
) -> Result<Option<u32>, DeployError> {
    let mut first = None;
    let paths: Vec<String> = chart.templates().map(|(p, _)| p.to_owned()).collect();
    for path in paths {
        let text = String::from_utf8_lossy(chart.file(&path).unwrap_or_default()).into_owned();
        let objects = manifest_objects(&text)?;
        if !objects
            .iter()
            .any(|o| o.get("kind").and_then(Value::as_str) == Some("Deployment"))
        {
            continue;
        }
        let mut out = String::new();
        for mut object in objects {
            if object.get("kind").and_then(Value::as_str) == Some("Deployment") {
                let mut deployment: Deployment =
                    serde_json::from_value(object.clone()).map_err(|e| {
                        DeployError::invalid(format!("cannot read the Deployment in {path}"))
                            .with_source(e)
                    })?;
                let spec = deployment.spec.get_or_insert_with(Default::default);
                let current = u32::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
                let target = change.apply(current, max)?;
                spec.replicas = Some(target as i32);
                first.get_or_insert(target);
                object = serde_json::to_value(&deployment).map_err(|e| {
                    DeployError::invalid("cannot write a Deployment").with_source(e)
                })?;
            }
            out.push_str("---\n");
            out.push_str(&to_yaml(&object, "a Deployment")?);
        }
        chart.set_file(path, out);
    }
    Ok(first)
}
