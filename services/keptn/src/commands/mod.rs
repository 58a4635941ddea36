//! The commands that talk to a control plane over its HTTP API.

mod get;
mod project;
mod send;
mod trigger;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use keptn_sdk::client::ApiClient;
use serde_json::Value;

use crate::cli::{Cli, Command};
use crate::config;

/// Runs a command that needs the API; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let config_file = cli.config_file.as_deref();
    match cli.command {
        Command::Auth(args) => project::auth(config_file, args).await,
        Command::Create(c) => project::create(&client(config_file)?, c).await,
        Command::Update(c) => project::update(&client(config_file)?, c).await,
        Command::Delete(c) => project::delete(&client(config_file)?, c, cli.yes).await,
        Command::AddResource(args) => project::add_resource(&client(config_file)?, args).await,
        Command::Trigger(c) => trigger::run(&client(config_file)?, c, cli.quiet).await,
        Command::Send(c) => send::run(&client(config_file)?, c).await,
        Command::Get(c) => get::run(&client(config_file)?, c).await,
        Command::Pause(t) => trigger::control(&client(config_file)?, t, "pause").await,
        Command::Resume(t) => trigger::control(&client(config_file)?, t, "resume").await,
        Command::Abort(t) => trigger::control(&client(config_file)?, t, "abort").await,
        Command::Configure(c) => project::configure(&client(config_file)?, c).await,
        Command::Status => project::status(config_file).await,
        Command::Version => project::version(config_file).await,
        Command::Completion(_)
        | Command::Demo(_)
        | Command::DemoService(_)
        | Command::Evaluate(_)
        | Command::Serve(_) => unreachable_command(),
    }
}

fn unreachable_command() -> anyhow::Result<i32> {
    bail!("this command does not talk to the API")
}

/// The API client of the stored configuration.
pub fn client(config_file: Option<&Path>) -> anyhow::Result<ApiClient> {
    let config = config::load(config_file)?;
    Ok(ApiClient::new(&config.endpoint, Some(config.token))?)
}

/// Parses `k=v` pairs.
pub fn parse_labels(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for pair in pairs.iter().filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("label {pair:?} is not of the form key=value"))?;
        if k.is_empty() {
            bail!("label {pair:?} has an empty key");
        }
        labels.insert(k.to_owned(), v.to_owned());
    }
    Ok(labels)
}

/// Parses `key.path=value` assignments into a nested JSON object. Values that are JSON
/// numbers, booleans, arrays or objects keep their type; anything else is a string.
pub fn parse_assignments(pairs: &[String]) -> anyhow::Result<Value> {
    let mut root = Value::Object(Default::default());
    for pair in pairs {
        let (path, raw) = pair
            .split_once('=')
            .with_context(|| format!("{pair:?} is not of the form key.path=value"))?;
        if path.is_empty() || path.split('.').any(str::is_empty) {
            bail!("{pair:?} has an empty key segment");
        }
        let value = match serde_json::from_str::<Value>(raw) {
            Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => v,
            _ => Value::String(raw.to_owned()),
        };
        let mut node = &mut root;
        let segments: Vec<&str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let map = match node {
                Value::Object(map) => map,
                _ => bail!("{pair:?}: {segment:?} is set both as a value and as an object"),
            };
            if i + 1 == segments.len() {
                map.insert((*segment).to_owned(), value.clone());
                break;
            }
            node = map
                .entry((*segment).to_owned())
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assignments_build_nested_objects_and_keep_scalar_types() {
        let v = parse_assignments(&[
            "image=docker.io/x:1".into(),
            "resources.replicas=3".into(),
            "resources.enabled=true".into(),
        ])
        .unwrap();
        assert_eq!(
            v,
            json!({"image": "docker.io/x:1", "resources": {"replicas": 3, "enabled": true}})
        );
    }

    #[test]
    fn bad_assignments_name_the_offending_input() {
        let err = parse_assignments(&["novalue".into()]).unwrap_err();
        assert!(err.to_string().contains("\"novalue\""), "{err}");
        let err = parse_assignments(&["a=1".into(), "a.b=2".into()]).unwrap_err();
        assert!(err.to_string().contains("both"), "{err}");
        let err = parse_labels(&["=x".into()]).unwrap_err();
        assert!(err.to_string().contains("empty key"), "{err}");
    }
}
