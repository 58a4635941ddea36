//! Helpers of the Helm deployer tests: the carts chart fixture and a recording `helm`
//! stand-in.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keptn_core::deploy::ServiceScope;
use keptn_core::deploy::helm::{
    Chart, CliHelmRunner, HelmDeployer, HelmDeployerConfig, HelmRunner,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The carts chart of the fixtures, as files.
pub fn carts_chart() -> Chart {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/fixtures/carts-chart");
    let mut files = BTreeMap::new();
    for path in [
        "Chart.yaml",
        "values.yaml",
        "templates/deployment.yaml",
        "templates/service.yaml",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
    ] {
        files.insert(path.to_owned(), std::fs::read(root.join(path)).unwrap());
    }
    Chart::from_files(files).unwrap()
}

/// `project` / `stage` / `carts`.
pub fn scope(project: &str, stage: &str) -> ServiceScope {
    ServiceScope::new(project, stage, "carts").unwrap()
}

/// A `helm` stand-in that appends its arguments (one line per run) to a record file and
/// prints `manifest` for `helm template`; `uninstall` of an unknown release fails the way
/// helm does when the file `missing-releases` exists next to the record.
#[derive(Debug)]
pub struct RecordingHelm {
    /// The script.
    pub program: PathBuf,
    /// Its record file.
    pub record: PathBuf,
    dir: PathBuf,
}

impl RecordingHelm {
    /// Writes the stand-in into `dir`.
    pub fn install(dir: &Path, manifest: &str) -> Self {
        let program = dir.join("helm");
        let record = dir.join("helm-invocations.txt");
        let manifest_file = dir.join("template-output.yaml");
        std::fs::write(&manifest_file, manifest).unwrap();
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{record}'\ncase \"$1\" in\n  template) cat '{manifest}' ;;\n  uninstall) if [ -e '{dir}/missing-releases' ]; then echo \"Error: uninstall: Release not loaded: $2: release: not found\" >&2; exit 1; fi ;;\n  fail) echo 'Error: cluster unreachable' >&2; exit 1 ;;\nesac\nexit 0\n",
            record = record.display(),
            manifest = manifest_file.display(),
            dir = dir.display(),
        );
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            program,
            record,
            dir: dir.to_owned(),
        }
    }

    /// A runner of the stand-in.
    pub fn runner(&self) -> Arc<dyn HelmRunner> {
        Arc::new(CliHelmRunner::new(&self.program, Duration::from_secs(20)))
    }

    /// The invocations recorded since the last call, and forgets them.
    pub fn take(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        let _ = std::fs::remove_file(&self.record);
        text.lines().map(str::to_owned).collect()
    }

    /// Makes `uninstall` answer "release: not found".
    pub fn forget_releases(&self) {
        std::fs::write(self.dir.join("missing-releases"), "").unwrap();
    }
}

/// A deployer on `work` running `helm`.
pub fn deployer(work: &Path, helm: &RecordingHelm) -> HelmDeployer {
    HelmDeployer::new(HelmDeployerConfig::new(work), helm.runner())
}

/// The expected `helm upgrade --install` line.
pub fn upgrade(
    release: &str,
    chart_dir: &Path,
    namespace: &str,
    deployment: &str,
    replicas: Option<u32>,
) -> String {
    let (project, rest) = namespace.split_once('-').unwrap();
    let mut line = format!(
        "upgrade --install {release} {} --namespace {namespace} --create-namespace --wait --timeout 180s --reset-values --set-string keptn.project={project} --set-string keptn.stage={rest} --set-string keptn.service=carts --set-string keptn.deployment={deployment}",
        chart_dir.display()
    );
    if let Some(n) = replicas {
        line.push_str(&format!(" --set replicaCount={n}"));
    }
    line
}

/// Parses one template of a chart into a typed object.
pub fn object<T: DeserializeOwned>(chart: &Chart, path: &str) -> T {
    let bytes = chart
        .file(path)
        .unwrap_or_else(|| panic!("{path} is missing; files: {:?}", chart.files().keys()));
    let value: Value = serde_norway::from_slice(bytes).unwrap();
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The weights of the VirtualService's route, by destination host (absent weight = 0).
pub fn weights(chart: &Chart, path: &str) -> Vec<(String, u64)> {
    let vs: Value = object(chart, path);
    vs["spec"]["http"][0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["destination"]["host"].as_str().unwrap().to_owned(),
                d.get("weight").and_then(Value::as_u64).unwrap_or(0),
            )
        })
        .collect()
}
