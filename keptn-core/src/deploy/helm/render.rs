//! Rendering a chart's templates without Helm, and reading manifests.
//!
//! The built-in renderer understands what most application charts use for the objects the
//! generated chart copies: plain YAML, and actions made of one term (`.Values.a.b`,
//! `.Release.Name`, `.Release.Namespace`, `.Chart.Name`, `.Chart.Version`,
//! `.Chart.AppVersion` or a quoted string) piped into `quote`, `default <term>`, `lower` or
//! `upper`, with `{{-`/`-}}` trimming and `{{/* comments */}}`. Anything else (`if`, `range`,
//! `include`, ...) is an error that names the template and the action: such charts are
//! rendered with `helm template` instead ([`Rendering::HelmTemplate`](super::Rendering)).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::chart::Chart;
use crate::deploy::DeployError;

/// What the templates see besides `.Values`.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// `.Release.Name`.
    pub release: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// The values: the chart's `values.yaml` merged with the injected values.
    pub values: Map<String, Value>,
}

/// Renders every template of `chart` into one multi-document manifest.
pub fn render_chart(chart: &Chart, ctx: &RenderContext) -> Result<String, DeployError> {
    let meta = chart.metadata()?;
    let mut out = String::new();
    for (path, content) in chart.templates() {
        let text = std::str::from_utf8(content).map_err(|e| {
            DeployError::invalid(format!("template {path} is not UTF-8")).with_source(e)
        })?;
        let rendered = render_template(path, text, ctx, &meta)?;
        out.push_str("---\n# Source: ");
        out.push_str(path);
        out.push('\n');
        out.push_str(&rendered);
        if !rendered.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

fn render_template(
    path: &str,
    text: &str,
    ctx: &RenderContext,
    meta: &Value,
) -> Result<String, DeployError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        let mut action = &rest[start + 2..];
        if let Some(trimmed) = action.strip_prefix('-') {
            before = before.trim_end();
            action = trimmed;
        }
        let end = action.find("}}").ok_or_else(|| {
            DeployError::invalid(format!("template {path}: '{{{{' without '}}}}'"))
        })?;
        let mut body = &action[..end];
        let mut after = &action[end + 2..];
        if let Some(trimmed) = body.strip_suffix('-') {
            body = trimmed;
            after = after.trim_start();
        }
        out.push_str(before);
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            out.push_str(&evaluate(path, body, ctx, meta)?);
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

fn evaluate(
    path: &str,
    action: &str,
    ctx: &RenderContext,
    meta: &Value,
) -> Result<String, DeployError> {
    let unsupported = || {
        DeployError::invalid(format!(
            "template {path}: the action {{{{ {action} }}}} needs Helm's template engine; render this chart with `helm template` (rendering: helm-template)"
        ))
    };
    let mut stages = action.split('|').map(str::trim);
    let first = stages.next().ok_or_else(unsupported)?;
    let mut value = term(first, ctx, meta).ok_or_else(unsupported)?;
    for stage in stages {
        let mut words = stage.split_whitespace();
        value = match (words.next(), words.next(), words.next()) {
            (Some("quote"), None, _) => Value::String(format!("{:?}", scalar(&value))),
            (Some("lower"), None, _) => Value::String(scalar(&value).to_lowercase()),
            (Some("upper"), None, _) => Value::String(scalar(&value).to_uppercase()),
            (Some("default"), Some(fallback), None) => {
                if is_empty(&value) {
                    term(fallback, ctx, meta).ok_or_else(unsupported)?
                } else {
                    value
                }
            }
            _ => return Err(unsupported()),
        };
    }
    match value {
        Value::Object(_) | Value::Array(_) => Err(DeployError::invalid(format!(
            "template {path}: {{{{ {action} }}}} is a map or a list; only scalars can be rendered without Helm"
        ))),
        other => Ok(scalar(&other)),
    }
}

fn term(text: &str, ctx: &RenderContext, meta: &Value) -> Option<Value> {
    if let Some(literal) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Some(Value::String(literal.to_owned()));
    }
    if let Some(path) = text.strip_prefix(".Values.") {
        let mut segments = path.split('.');
        let mut current = ctx.values.get(segments.next()?);
        for segment in segments {
            current = current.and_then(|v| v.get(segment));
        }
        return Some(current.cloned().unwrap_or(Value::Null));
    }
    let field = |key: &str| meta.get(key).cloned().unwrap_or(Value::Null);
    Some(match text {
        ".Release.Name" => Value::String(ctx.release.clone()),
        ".Release.Namespace" => Value::String(ctx.namespace.clone()),
        ".Chart.Name" => field("name"),
        ".Chart.Version" => field("version"),
        ".Chart.AppVersion" => field("appVersion"),
        _ => return None,
    })
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits a multi-document YAML manifest into its objects (empty documents skipped).
pub fn manifest_objects(manifest: &str) -> Result<Vec<Value>, DeployError> {
    let mut objects = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(manifest).enumerate() {
        let value = Value::deserialize(document).map_err(|e| {
            DeployError::invalid(format!("cannot read document {} of the manifest", i + 1))
                .with_source(e)
        })?;
        if value.is_object() {
            objects.push(value);
        }
    }
    Ok(objects)
}

/// The objects of a manifest whose `kind` is `kind` (and `apiVersion` is `api_version`).
pub fn objects_of_kind<'a>(
    objects: &'a [Value],
    api_version: &'a str,
    kind: &'a str,
) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| {
        o.get("kind").and_then(Value::as_str) == Some(kind)
            && o.get("apiVersion").and_then(Value::as_str) == Some(api_version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> RenderContext {
        RenderContext {
            release: "sockshop-dev-carts".into(),
            namespace: "sockshop-dev".into(),
            values:
                json!({"image": "carts:1", "replicaCount": 2, "keptn": {"deployment": "canary"}})
                    .as_object()
                    .unwrap()
                    .clone(),
        }
    }

    fn render(text: &str) -> Result<String, DeployError> {
        render_template(
            "templates/t.yaml",
            text,
            &ctx(),
            &json!({"name": "carts", "version": "0.1.0"}),
        )
    }

    #[test]
    fn renders_values_release_and_chart_fields() {
        let out = render(
            "image: {{ .Values.image | quote }}\nreplicas: {{ .Values.replicaCount }}\n{{- /* c */}}\nns: {{ .Release.Namespace }}\nname: {{ .Chart.Name }}-{{ .Values.keptn.deployment }}\ntag: {{ .Values.tag | default \"latest\" | upper }}\n",
        )
        .unwrap();
        assert_eq!(
            out,
            "image: \"carts:1\"\nreplicas: 2\nns: sockshop-dev\nname: carts-canary\ntag: LATEST\n"
        );
    }

    #[test]
    fn control_structures_need_helm() {
        let e = render("{{ if .Values.x }}a{{ end }}").unwrap_err();
        assert!(e.message().contains("helm template"), "{e}");
        assert!(e.message().contains("templates/t.yaml"), "{e}");
        assert!(render("{{ .Values.keptn }}").is_err());
        assert!(render("{{ .Values.image").is_err());
    }

    #[test]
    fn manifests_split_into_objects() {
        let objects = manifest_objects("---\n# c\n---\nkind: Service\napiVersion: v1\n---\nkind: Deployment\napiVersion: apps/v1\n").unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects_of_kind(&objects, "v1", "Service").count(), 1);
    }
}
