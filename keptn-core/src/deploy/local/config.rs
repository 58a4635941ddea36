//! The run configuration of a service (`local/deploy.yaml`) and its placeholders.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::deploy::{DeployError, ServiceScope};
use crate::quality::timeframe::parse_duration;

/// Path of the run configuration, relative to the service folder.
pub const RUN_CONFIG_PATH: &str = "local/deploy.yaml";

/// Path of the endpoints of a `user_managed` service, relative to the service folder.
pub const ENDPOINTS_PATH: &str = "local/endpoints.yaml";

/// How to run one instance of a service version: the content of `local/deploy.yaml`.
///
/// ```yaml
/// command: keptn
/// args: [demo-service, --port, "{port}", --service-version, "{tag}"]
/// env:
///   LOG_LEVEL: info
/// healthPath: /health
/// replicas: 1
/// startTimeout: 30s
/// ```
///
/// `command`, every `args` entry and every `env` value may hold placeholders, filled per
/// instance: `{port}` (the instance's free loopback port), `{host}` (`127.0.0.1`),
/// `{image}` (`values.image`), `{tag}` (the tag of `values.image`, `latest` when it has none),
/// `{project}`, `{stage}`, `{service}`, and `{values.<path>}` (any value of the deployment's
/// `configurationChange.values`, path segments separated by dots). `{{` and `}}` stand for
/// literal braces. Each instance also gets the environment variables `PORT`, `KEPTN_PROJECT`,
/// `KEPTN_STAGE`, `KEPTN_SERVICE` and `KEPTN_DEPLOYMENT` (`primary` or `canary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunConfig {
    /// The program: a path, or a name looked up on `PATH`.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A path answering 2xx when the instance is ready; without it, readiness is an accepted
    /// TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
    /// Instances per version (default 1).
    #[serde(default = "one")]
    pub replicas: u32,
    /// How long an instance may take to become ready (Go duration, e.g. `30s`); the
    /// deployer's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<String>,
    /// Working directory of the process (absolute); the deployer's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

fn one() -> u32 {
    1
}

impl RunConfig {
    /// Reads and checks `local/deploy.yaml`; `max_replicas` bounds `replicas`.
    pub fn parse(bytes: &[u8], max_replicas: u32) -> Result<Self, DeployError> {
        let config: RunConfig = serde_norway::from_slice(bytes).map_err(|e| {
            DeployError::invalid(format!("cannot read {RUN_CONFIG_PATH}")).with_source(e)
        })?;
        config.check(max_replicas)?;
        Ok(config)
    }

    fn check(&self, max_replicas: u32) -> Result<(), DeployError> {
        if self.command.trim().is_empty() {
            return Err(DeployError::invalid(format!(
                "invalid command {:?} in {RUN_CONFIG_PATH}: expected a program name or path",
                self.command
            )));
        }
        if self.replicas == 0 || self.replicas > max_replicas {
            return Err(DeployError::invalid(format!(
                "invalid replicas {} in {RUN_CONFIG_PATH}: expected 1 to {max_replicas}",
                self.replicas
            )));
        }
        if let Some(path) = &self.health_path {
            if !path.starts_with('/') {
                return Err(DeployError::invalid(format!(
                    "invalid healthPath {path:?} in {RUN_CONFIG_PATH}: expected a path starting with '/'"
                )));
            }
        }
        self.start_timeout()?;
        if let Some(dir) = &self.working_dir {
            if !std::path::Path::new(dir).is_absolute() {
                return Err(DeployError::invalid(format!(
                    "invalid workingDir {dir:?} in {RUN_CONFIG_PATH}: expected an absolute path"
                )));
            }
        }
        Ok(())
    }

    /// The start timeout, if the file sets one.
    pub fn start_timeout(&self) -> Result<Option<Duration>, DeployError> {
        let Some(text) = &self.start_timeout else {
            return Ok(None);
        };
        let delta = parse_duration(text).map_err(|why| {
            DeployError::invalid(format!(
                "invalid startTimeout {text:?} in {RUN_CONFIG_PATH}: {why}"
            ))
        })?;
        let duration = delta.to_std().map_err(|_| {
            DeployError::invalid(format!(
                "invalid startTimeout {text:?} in {RUN_CONFIG_PATH}: expected a positive duration"
            ))
        })?;
        Ok(Some(duration))
    }
}

/// What a version is started from: the run configuration and the deployment values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchSpec {
    /// The run configuration.
    pub config: RunConfig,
    /// The deployment values.
    pub values: Map<String, Value>,
}

/// One instance's command line, with every placeholder filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment (on top of the deployer's).
    pub env: BTreeMap<String, String>,
}

impl LaunchSpec {
    /// The version label: `values.image` when it is a string, else the values as JSON.
    pub fn version(&self) -> String {
        match self.values.get("image") {
            Some(Value::String(image)) => image.clone(),
            _ if self.values.is_empty() => "unversioned".to_owned(),
            _ => Value::Object(self.values.clone()).to_string(),
        }
    }

    /// Fills the placeholders for an instance listening on `port`.
    pub fn launch(
        &self,
        scope: &ServiceScope,
        port: u16,
        deployment: &str,
    ) -> Result<Launch, DeployError> {
        let ctx = Placeholders {
            scope,
            values: &self.values,
            port,
        };
        let mut env = BTreeMap::new();
        for (key, value) in &self.config.env {
            env.insert(key.clone(), ctx.fill(value, &format!("env.{key}"))?);
        }
        env.insert("PORT".to_owned(), port.to_string());
        env.insert("KEPTN_PROJECT".to_owned(), scope.project().to_owned());
        env.insert("KEPTN_STAGE".to_owned(), scope.stage().to_owned());
        env.insert("KEPTN_SERVICE".to_owned(), scope.service().to_owned());
        env.insert("KEPTN_DEPLOYMENT".to_owned(), deployment.to_owned());
        let args = self
            .config
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| ctx.fill(a, &format!("args[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Launch {
            command: ctx.fill(&self.config.command, "command")?,
            args,
            env,
        })
    }
}

struct Placeholders<'a> {
    scope: &'a ServiceScope,
    values: &'a Map<String, Value>,
    port: u16,
}

impl Placeholders<'_> {
    fn fill(&self, template: &str, field: &str) -> Result<String, DeployError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                out.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                out.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                return Err(self.error(field, template, "a '}' without '{' (write '}}')"));
            } else {
                let end = tail
                    .find('}')
                    .ok_or_else(|| self.error(field, template, "a '{' without '}' (write '{{')"))?;
                out.push_str(&self.value(&tail[1..end], field, template)?);
                rest = &tail[end + 1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn value(&self, name: &str, field: &str, template: &str) -> Result<String, DeployError> {
        let image = || match self.values.get("image") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
            _ => Err(self.error(
                field,
                template,
                &format!("{{{name}}} needs values.image (a string) in the deployment values"),
            )),
        };
        Ok(match name {
            "port" => self.port.to_string(),
            "host" => "127.0.0.1".to_owned(),
            "project" => self.scope.project().to_owned(),
            "stage" => self.scope.stage().to_owned(),
            "service" => self.scope.service().to_owned(),
            "image" => image()?.to_owned(),
            "tag" => image_tag(image()?).to_owned(),
            _ => match name.strip_prefix("values.") {
                Some(path) => {
                    let value = lookup(self.values, path).ok_or_else(|| {
                        self.error(
                            field,
                            template,
                            &format!("{{{name}}}: the deployment values have no {path}"),
                        )
                    })?;
                    match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }
                }
                None => {
                    return Err(self.error(
                        field,
                        template,
                        &format!("unknown placeholder {{{name}}} (expected port, host, image, tag, project, stage, service or values.<path>)"),
                    ));
                }
            },
        })
    }

    fn error(&self, field: &str, template: &str, why: &str) -> DeployError {
        DeployError::invalid(format!(
            "invalid {field} {template:?} in {RUN_CONFIG_PATH}: {why}"
        ))
    }
}

/// The tag of an image reference (`repo/name:tag` -> `tag`); `latest` when it has none.
pub fn image_tag(image: &str) -> &str {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    let name = &image[name_start..];
    let name = name.split('@').next().unwrap_or(name);
    match name.rfind(':') {
        Some(i) if i + 1 < name.len() => &name[i + 1..],
        _ => "latest",
    }
}

fn lookup<'a>(values: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut current = values.get(segments.next()?)?;
    for segment in segments {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(yaml: &str, values: Value) -> LaunchSpec {
        LaunchSpec {
            config: RunConfig::parse(yaml.as_bytes(), 10).unwrap(),
            values: values.as_object().unwrap().clone(),
        }
    }

    fn scope() -> ServiceScope {
        ServiceScope::new("sockshop", "dev", "carts").unwrap()
    }

    #[test]
    fn placeholders_are_filled_from_values_and_port() {
        let s = spec(
            r#"
command: keptn
args: [demo-service, --port, "{port}", --service-version, "{tag}", "{values.cfg.level}", "{{x}}"]
env: {IMAGE: "{image}", WHERE: "{project}/{stage}/{service}"}
"#,
            json!({"image": "docker.io/demo:1.2.3", "cfg": {"level": 3}}),
        );
        let l = s.launch(&scope(), 4242, "canary").unwrap();
        assert_eq!(l.command, "keptn");
        assert_eq!(
            l.args,
            [
                "demo-service",
                "--port",
                "4242",
                "--service-version",
                "1.2.3",
                "3",
                "{x}"
            ]
        );
        assert_eq!(l.env["IMAGE"], "docker.io/demo:1.2.3");
        assert_eq!(l.env["WHERE"], "sockshop/dev/carts");
        assert_eq!(l.env["PORT"], "4242");
        assert_eq!(l.env["KEPTN_DEPLOYMENT"], "canary");
        assert_eq!(s.version(), "docker.io/demo:1.2.3");
    }

    #[test]
    fn unknown_and_missing_placeholders_name_the_field() {
        let s = spec("command: x\nargs: [\"{nope}\"]", json!({}));
        let e = s.launch(&scope(), 1, "primary").unwrap_err();
        assert!(e.message().contains("args[0]"), "{e}");
        assert!(e.message().contains("unknown placeholder {nope}"), "{e}");
        let s = spec("command: x\nargs: [\"{tag}\"]", json!({}));
        let e = s.launch(&scope(), 1, "primary").unwrap_err();
        assert!(e.message().contains("needs values.image"), "{e}");
        let s = spec("command: x\nargs: [\"{values.a.b}\"]", json!({"a": 1}));
        assert!(s.launch(&scope(), 1, "primary").is_err());
        let s = spec("command: x\nargs: [\"{port\"]", json!({}));
        assert!(s.launch(&scope(), 1, "primary").is_err());
    }

    #[test]
    fn bad_files_are_rejected_with_the_field() {
        for (yaml, field) in [
            ("command: ''", "command"),
            ("command: x\nreplicas: 0", "replicas"),
            ("command: x\nreplicas: 11", "replicas"),
            ("command: x\nhealthPath: health", "healthPath"),
            ("command: x\nstartTimeout: soon", "startTimeout"),
            ("command: x\nworkingDir: rel", "workingDir"),
        ] {
            let e = RunConfig::parse(yaml.as_bytes(), 10).unwrap_err();
            assert!(e.message().contains(field), "{yaml}: {e}");
        }
        let e = RunConfig::parse(b"command: x\nbogus: 1", 10).unwrap_err();
        assert!(e.report().contains("bogus"), "{}", e.report());
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("docker.io/keptnexamples/carts:0.13.1"), "0.13.1");
        assert_eq!(image_tag("localhost:5000/carts"), "latest");
        assert_eq!(image_tag("carts:slow-2"), "slow-2");
        assert_eq!(image_tag("carts"), "latest");
    }
}
