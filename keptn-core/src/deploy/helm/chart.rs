//! Helm charts as files in memory: read from a `.tgz` or unpacked files, values merged,
//! packaged again, written to a directory for the `helm` command.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Map, Value};

use crate::deploy::DeployError;

/// Largest chart accepted, unpacked (charts are small; this bounds a hostile archive).
pub const MAX_CHART_BYTES: u64 = 32 * 1024 * 1024;

/// A chart: files by path relative to the chart's root (`Chart.yaml`, `values.yaml`,
/// `templates/...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chart {
    files: BTreeMap<String, Vec<u8>>,
}

impl Chart {
    /// A chart from files relative to its root; needs a `Chart.yaml` with a `name`.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<Self, DeployError> {
        for path in files.keys() {
            check_path(path)?;
        }
        let chart = Self { files };
        chart.name()?;
        Ok(chart)
    }

    /// Reads a packaged chart (`helm package` output: a gzipped tar with one top folder).
    pub fn from_tgz(bytes: &[u8]) -> Result<Self, DeployError> {
        let bad = |why: &str| DeployError::invalid(format!("invalid chart archive: {why}"));
        let mut archive = tar::Archive::new(GzDecoder::new(bytes));
        let entries = archive
            .entries()
            .map_err(|e| bad("not a gzipped tar").with_source(e))?;
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad("unreadable entry").with_source(e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry
                .path()
                .map_err(|e| bad("unreadable path").with_source(e))?
                .to_string_lossy()
                .replace('\\', "/");
            // Strip the chart's top folder (`carts/Chart.yaml` -> `Chart.yaml`).
            let Some((_, inner)) = path.split_once('/') else {
                continue;
            };
            check_path(inner)?;
            total += entry.size();
            if total > MAX_CHART_BYTES {
                return Err(bad(&format!("larger than {MAX_CHART_BYTES} bytes")));
            }
            let mut content = Vec::new();
            entry
                .read_to_end(&mut content)
                .map_err(|e| bad(&format!("cannot read {inner}")).with_source(e))?;
            files.insert(inner.to_owned(), content);
        }
        if files.is_empty() {
            return Err(bad("no files"));
        }
        Self::from_files(files)
    }

    /// Packages the chart as `helm package` would lay it out (deterministic: sorted paths,
    /// zero timestamps).
    pub fn to_tgz(&self) -> Result<Vec<u8>, DeployError> {
        let name = self.name()?;
        let encoder = GzEncoder::new(Vec::new(), Compression::default());
        let mut builder = tar::Builder::new(encoder);
        for (path, content) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("{name}/{path}"), content.as_slice())
                .map_err(|e| DeployError::io(format!("cannot package chart {name}"), e))?;
        }
        let encoder = builder
            .into_inner()
            .map_err(|e| DeployError::io(format!("cannot package chart {name}"), e))?;
        encoder
            .finish()
            .map_err(|e| DeployError::io(format!("cannot package chart {name}"), e))
    }

    /// Writes the files under `dir` (replacing what was there).
    pub fn write_to(&self, dir: &Path) -> Result<(), DeployError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| DeployError::io(format!("cannot clear {}", dir.display()), e))?;
        }
        for (path, content) in &self.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DeployError::io(format!("cannot create {}", parent.display()), e)
                })?;
            }
            std::fs::write(&target, content)
                .map_err(|e| DeployError::io(format!("cannot write {}", target.display()), e))?;
        }
        Ok(())
    }

    /// Reads the files under `dir`.
    pub fn read_from(dir: &Path) -> Result<Self, DeployError> {
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(current) = stack.pop() {
            let entries = std::fs::read_dir(&current)
                .map_err(|e| DeployError::io(format!("cannot list {}", current.display()), e))?;
            for entry in entries {
                let entry = entry.map_err(|e| {
                    DeployError::io(format!("cannot list {}", current.display()), e)
                })?;
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let relative = path
                    .strip_prefix(dir)
                    .map_err(|_| {
                        DeployError::invalid(format!("{} escapes the chart", path.display()))
                    })?
                    .to_string_lossy()
                    .replace('\\', "/");
                let content = std::fs::read(&path)
                    .map_err(|e| DeployError::io(format!("cannot read {}", path.display()), e))?;
                files.insert(relative, content);
            }
        }
        Self::from_files(files)
    }

    /// The files.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// A file.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Adds or replaces a file.
    pub fn set_file(&mut self, path: impl Into<String>, content: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), content.into());
    }

    /// `Chart.yaml` as JSON.
    pub fn metadata(&self) -> Result<Value, DeployError> {
        let bytes = self
            .file("Chart.yaml")
            .ok_or_else(|| DeployError::invalid("invalid chart: Chart.yaml is missing"))?;
        serde_norway::from_slice(bytes).map_err(|e| {
            DeployError::invalid("invalid chart: cannot read Chart.yaml").with_source(e)
        })
    }

    /// The chart's name (from `Chart.yaml`).
    pub fn name(&self) -> Result<String, DeployError> {
        match self.metadata()?.get("name") {
            Some(Value::String(name)) if !name.is_empty() && !name.contains(['/', '\\']) => {
                Ok(name.clone())
            }
            other => Err(DeployError::invalid(format!(
                "invalid chart: Chart.yaml has name {other:?}: expected a non-empty name without '/'"
            ))),
        }
    }

    /// The chart's keywords (from `Chart.yaml`).
    pub fn keywords(&self) -> Vec<String> {
        self.metadata()
            .ok()
            .and_then(|m| m.get("keywords").cloned())
            .and_then(|k| serde_json::from_value(k).ok())
            .unwrap_or_default()
    }

    /// `values.yaml` (an empty map when absent or empty).
    pub fn values(&self) -> Result<Map<String, Value>, DeployError> {
        let Some(bytes) = self.file("values.yaml") else {
            return Ok(Map::new());
        };
        let value: Value = serde_norway::from_slice(bytes).map_err(|e| {
            DeployError::invalid("invalid chart: cannot read values.yaml").with_source(e)
        })?;
        match value {
            Value::Null => Ok(Map::new()),
            Value::Object(map) => Ok(map),
            other => Err(DeployError::invalid(format!(
                "invalid chart: values.yaml holds {other}: expected a map"
            ))),
        }
    }

    /// Merges `changes` into `values.yaml` (maps merge key by key, anything else is
    /// replaced), as Keptn's helm-service applies `configurationChange.values`.
    pub fn merge_values(&mut self, changes: &Map<String, Value>) -> Result<(), DeployError> {
        let mut values = self.values()?;
        merge(&mut values, changes);
        let yaml = serde_norway::to_string(&Value::Object(values))
            .map_err(|e| DeployError::invalid("cannot write values.yaml").with_source(e))?;
        self.set_file("values.yaml", yaml);
        Ok(())
    }

    /// The template files (`templates/*.yaml`, `*.yml`, `*.json`, not partials `_*`), sorted.
    pub fn templates(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().filter_map(|(path, content)| {
            let name = path.strip_prefix("templates/")?;
            let file = name.rsplit('/').next().unwrap_or(name);
            let manifest = [".yaml", ".yml", ".json"].iter().any(|e| file.ends_with(e));
            (manifest && !file.starts_with('_')).then_some((path.as_str(), content.as_slice()))
        })
    }
}

/// Deep merge: maps key by key, other values replaced.
pub fn merge(target: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (key, change) in changes {
        match (target.get_mut(key), change) {
            (Some(Value::Object(existing)), Value::Object(inner)) => merge(existing, inner),
            _ => {
                target.insert(key.clone(), change.clone());
            }
        }
    }
}

fn check_path(path: &str) -> Result<(), DeployError> {
    let p = Path::new(path);
    let safe = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if safe {
        Ok(())
    } else {
        Err(DeployError::invalid(format!(
            "invalid chart file path {path:?}: expected a relative path without '..'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart() -> Chart {
        let mut files = BTreeMap::new();
        files.insert(
            "Chart.yaml".into(),
            b"apiVersion: v2\nname: carts\nversion: 0.1.0\n".to_vec(),
        );
        files.insert(
            "values.yaml".into(),
            b"image: old\nresources:\n  cpu: 1\n".to_vec(),
        );
        files.insert(
            "templates/deployment.yaml".into(),
            b"kind: Deployment\n".to_vec(),
        );
        files.insert("templates/_helpers.tpl".into(), b"{{/* x */}}".to_vec());
        Chart::from_files(files).unwrap()
    }

    #[test]
    fn tgz_round_trip_keeps_every_file() {
        let c = chart();
        let back = Chart::from_tgz(&c.to_tgz().unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.name().unwrap(), "carts");
    }

    #[test]
    fn values_merge_like_helm_service() {
        let mut c = chart();
        c.merge_values(
            json!({"image": "new:2", "resources": {"mem": 2}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(c.values().unwrap()),
            json!({"image": "new:2", "resources": {"cpu": 1, "mem": 2}})
        );
    }

    #[test]
    fn templates_skip_partials() {
        let names: Vec<_> = chart().templates().map(|(p, _)| p.to_owned()).collect();
        assert_eq!(names, ["templates/deployment.yaml"]);
    }

    #[test]
    fn hostile_paths_and_garbage_are_rejected() {
        let mut files = BTreeMap::new();
        files.insert("Chart.yaml".into(), b"name: x".to_vec());
        files.insert("../evil".into(), b"".to_vec());
        assert!(Chart::from_files(files).is_err());
        assert!(Chart::from_tgz(b"not a tgz").is_err());
        let mut files = BTreeMap::new();
        files.insert("values.yaml".into(), b"a: 1".to_vec());
        assert!(
            Chart::from_files(files)
                .unwrap_err()
                .message()
                .contains("Chart.yaml")
        );
    }
}
