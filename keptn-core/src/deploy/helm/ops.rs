//! What the Helm deployer does for each operation: charts on disk, `helm` invocations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::DeploymentStrategy;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::chart::Chart;
use super::generated::{
    KEYWORD_DIRECT, KEYWORD_DUPLICATE, UserManifest, canary_weight, change_replicas,
    duplicate_chart, mesh_chart, set_canary_weight,
};
use super::naming::{local_uri, release_name};
use super::render::{RenderContext, render_chart};
use super::{HelmDeployerConfig, HelmRunner, Rendering};
use crate::deploy::{
    ChangeOutcome, DEPLOYMENT_CANARY, DEPLOYMENT_DIRECT, DEPLOYMENT_PRIMARY,
    DEPLOYMENT_USER_MANAGED, DeployError, DeployErrorKind, DeployOutcome, DeployRequest,
    ReplicaChange, ServiceScope, ServiceStatus, VersionStatus,
};

/// Endpoints of a user-managed service, relative to the service folder.
pub const ENDPOINTS_PATH: &str = "helm/endpoints.yaml";

/// What the deployer remembers of a service besides its charts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HelmState {
    strategy: DeploymentStrategy,
    uris_local: Vec<String>,
    uris_public: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Endpoints {
    #[serde(default, rename = "deploymentURIsLocal")]
    local: Vec<String>,
    #[serde(default, rename = "deploymentURIsPublic")]
    public: Vec<String>,
}

/// The directories of one service.
struct Dirs {
    root: PathBuf,
    user: PathBuf,
    generated: PathBuf,
    state: PathBuf,
}

pub(super) struct Ops<'a> {
    pub config: &'a HelmDeployerConfig,
    pub runner: &'a dyn HelmRunner,
}

fn deployment_name(strategy: &DeploymentStrategy, generated: bool) -> &'static str {
    match (strategy, generated) {
        (DeploymentStrategy::BlueGreenService, true) => DEPLOYMENT_PRIMARY,
        (DeploymentStrategy::BlueGreenService, false) => DEPLOYMENT_CANARY,
        (DeploymentStrategy::Direct, _) => DEPLOYMENT_DIRECT,
        (DeploymentStrategy::UserManaged, _) => DEPLOYMENT_USER_MANAGED,
    }
}

fn keptn_values(scope: &ServiceScope, deployment: &str) -> Map<String, Value> {
    let v = json!({"keptn": {
        "project": scope.project(),
        "stage": scope.stage(),
        "service": scope.service(),
        "deployment": deployment,
    }});
    v.as_object().cloned().unwrap_or_default()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DeployError> + Send + 'static,
) -> Result<T, DeployError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DeployError::invalid("chart file task failed").with_source(e))?
}

async fn write_chart(chart: &Chart, dir: &Path) -> Result<(), DeployError> {
    let chart = chart.clone();
    let dir = dir.to_owned();
    blocking(move || chart.write_to(&dir)).await
}

async fn read_chart(dir: &Path, scope: &ServiceScope) -> Result<Chart, DeployError> {
    if !tokio::fs::try_exists(dir).await.unwrap_or(false) {
        return Err(not_deployed(scope));
    }
    let dir = dir.to_owned();
    blocking(move || Chart::read_from(&dir)).await
}

fn not_deployed(scope: &ServiceScope) -> DeployError {
    DeployError::new(
        DeployErrorKind::NotFound,
        format!("{scope} is not deployed by the helm deployer"),
    )
}

impl Ops<'_> {
    fn dirs(&self, scope: &ServiceScope) -> Dirs {
        let root = self
            .config
            .work_dir
            .join(scope.project())
            .join(scope.stage())
            .join(scope.service());
        Dirs {
            user: root.join("user"),
            generated: root.join("generated"),
            state: root.join("state.json"),
            root,
        }
    }

    /// `helm upgrade --install` of a chart directory.
    async fn upgrade(
        &self,
        scope: &ServiceScope,
        dir: &Path,
        generated: bool,
        deployment: &str,
        replicas: Option<u32>,
    ) -> Result<(), DeployError> {
        let mut args = vec![
            "upgrade".to_owned(),
            "--install".to_owned(),
            release_name(scope, generated),
            dir.display().to_string(),
            "--namespace".to_owned(),
            scope.namespace(),
            "--create-namespace".to_owned(),
            "--wait".to_owned(),
            "--timeout".to_owned(),
            format!("{}s", self.config.helm_timeout.as_secs()),
            "--reset-values".to_owned(),
        ];
        args.extend(set_strings(scope, deployment));
        if let Some(n) = replicas {
            args.push("--set".to_owned());
            args.push(format!("replicaCount={n}"));
        }
        self.runner.run(&args).await.map(drop)
    }

    /// The user chart rendered with the injected values.
    async fn manifest(
        &self,
        scope: &ServiceScope,
        chart: &Chart,
        dir: &Path,
        deployment: &str,
    ) -> Result<UserManifest, DeployError> {
        let release = release_name(scope, false);
        let text = match self.config.rendering {
            Rendering::Builtin => {
                let mut values = chart.values()?;
                super::chart::merge(&mut values, &keptn_values(scope, deployment));
                render_chart(
                    chart,
                    &RenderContext {
                        release,
                        namespace: scope.namespace(),
                        values,
                    },
                )?
            }
            Rendering::HelmTemplate => {
                let mut args = vec![
                    "template".to_owned(),
                    release,
                    dir.display().to_string(),
                    "--namespace".to_owned(),
                    scope.namespace(),
                ];
                args.extend(set_strings(scope, deployment));
                self.runner.run(&args).await?
            }
        };
        UserManifest::parse(&text)
    }

    pub(super) async fn deploy(
        &self,
        request: &DeployRequest,
    ) -> Result<DeployOutcome, DeployError> {
        let scope = &request.scope;
        let service = scope.service();
        let dirs = self.dirs(scope);
        let strategy = request.strategy.clone();
        let mut changes = BTreeMap::new();

        let mut user = user_chart(request)?;
        if !request.values.is_empty() {
            user.merge_values(&request.values)?;
            changes.insert(format!("helm/{service}.tgz"), user.to_tgz()?);
        }
        write_chart(&user, &dirs.user).await?;
        let name = deployment_name(&strategy, false);
        self.upgrade(scope, &dirs.user, false, name, None).await?;

        let (uris_local, uris_public) = if strategy == DeploymentStrategy::UserManaged {
            let endpoints = match request.resources.get(ENDPOINTS_PATH) {
                Some(bytes) => serde_norway::from_slice::<Endpoints>(bytes).map_err(|e| {
                    DeployError::invalid(format!("cannot read {ENDPOINTS_PATH} of {scope}"))
                        .with_source(e)
                })?,
                None => Endpoints::default(),
            };
            (endpoints.local, endpoints.public)
        } else {
            let manifest = self.manifest(scope, &user, &dirs.user, name).await?;
            let blue_green = strategy == DeploymentStrategy::BlueGreenService;
            if blue_green || self.config.mesh_for_direct {
                let generated = self.onboard_generated(request, &manifest, &dirs).await?;
                let mut generated = generated;
                if blue_green {
                    set_canary_weight(&mut generated, 100)?;
                }
                changes.insert(format!("helm/{service}-generated.tgz"), generated.to_tgz()?);
                self.install_generated(scope, &generated, &dirs, &strategy)
                    .await?;
            }
            match (manifest.services.is_empty(), manifest.service_port()) {
                (true, _) => (Vec::new(), Vec::new()),
                (false, Some(port)) => (
                    vec![local_uri(scope, port)],
                    vec![self.config.ingress.public_uri(scope)],
                ),
                (false, None) => {
                    return Err(DeployError::invalid(format!(
                        "cannot determine deployment URIs of {scope}: the deployed service does not contain a valid port definition"
                    )));
                }
            }
        };
        let pick = |own: Vec<String>, known: &Vec<String>| {
            if own.is_empty() { known.clone() } else { own }
        };
        let state = HelmState {
            strategy: strategy.clone(),
            uris_local: pick(uris_local, &request.known_uris_local),
            uris_public: pick(uris_public, &request.known_uris_public),
        };
        self.save_state(&dirs, &state).await?;
        Ok(DeployOutcome {
            strategy,
            uris_local: state.uris_local,
            uris_public: state.uris_public,
            deployment_names: vec![name.to_owned()],
            message: "Successfully deployed".to_owned(),
            resource_changes: changes,
        })
    }

    /// The generated chart: from the resources, else as last deployed, else generated from
    /// the user manifest; regenerated when it was made for the other strategy.
    async fn onboard_generated(
        &self,
        request: &DeployRequest,
        manifest: &UserManifest,
        dirs: &Dirs,
    ) -> Result<Chart, DeployError> {
        let scope = &request.scope;
        let keyword = if request.strategy == DeploymentStrategy::BlueGreenService {
            KEYWORD_DUPLICATE
        } else {
            KEYWORD_DIRECT
        };
        let stored = match request
            .resources
            .get(&format!("helm/{}-generated.tgz", scope.service()))
        {
            Some(bytes) => Some(Chart::from_tgz(bytes)?),
            None => read_chart(&dirs.generated, scope).await.ok(),
        };
        match stored {
            Some(chart) if chart.keywords().iter().any(|k| k == keyword) => Ok(chart),
            _ if keyword == KEYWORD_DUPLICATE => {
                duplicate_chart(manifest, scope, &self.config.ingress)
            }
            _ => mesh_chart(manifest, scope, &self.config.ingress),
        }
    }

    /// Writes the generated chart and upgrades its release (skipped when it has no template,
    /// as Keptn skips empty charts).
    async fn install_generated(
        &self,
        scope: &ServiceScope,
        chart: &Chart,
        dirs: &Dirs,
        strategy: &DeploymentStrategy,
    ) -> Result<(), DeployError> {
        write_chart(chart, &dirs.generated).await?;
        if chart.templates().next().is_none() {
            return Ok(());
        }
        self.upgrade(
            scope,
            &dirs.generated,
            true,
            deployment_name(strategy, true),
            None,
        )
        .await
    }

    async fn save_state(&self, dirs: &Dirs, state: &HelmState) -> Result<(), DeployError> {
        let json = serde_json::to_vec_pretty(state).map_err(|e| {
            DeployError::invalid("cannot encode the helm deployer state").with_source(e)
        })?;
        tokio::fs::create_dir_all(&dirs.root)
            .await
            .map_err(|e| DeployError::io(format!("cannot create {}", dirs.root.display()), e))?;
        tokio::fs::write(&dirs.state, json)
            .await
            .map_err(|e| DeployError::io(format!("cannot write {}", dirs.state.display()), e))
    }

    async fn load_state(&self, scope: &ServiceScope) -> Result<Option<HelmState>, DeployError> {
        let path = self.dirs(scope).state;
        match tokio::fs::read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                DeployError::invalid(format!("cannot read {}", path.display())).with_source(e)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DeployError::io(
                format!("cannot read {}", path.display()),
                e,
            )),
        }
    }

    async fn require_state(&self, scope: &ServiceScope) -> Result<HelmState, DeployError> {
        self.load_state(scope)
            .await?
            .ok_or_else(|| not_deployed(scope))
    }

    pub(super) async fn release(
        &self,
        scope: &ServiceScope,
        result: KeptnResult,
    ) -> Result<ChangeOutcome, DeployError> {
        let state = self.require_state(scope).await?;
        if state.strategy != DeploymentStrategy::BlueGreenService {
            return Ok(ChangeOutcome::message(format!(
                "No release action required, as {scope} has a {} deployment strategy",
                state.strategy.as_str()
            )));
        }
        if result == KeptnResult::Fail {
            return Ok(ChangeOutcome::message(format!(
                "Finished release: {scope} was not promoted because the result is fail"
            )));
        }
        let dirs = self.dirs(scope);
        let strategy = &state.strategy;
        // Keptn's promotion: all traffic to the canary while the primary is replaced.
        let mut generated = read_chart(&dirs.generated, scope).await?;
        set_canary_weight(&mut generated, 100)?;
        self.install_generated(scope, &generated, &dirs, strategy)
            .await?;

        let user = read_chart(&dirs.user, scope).await?;
        let manifest = self
            .manifest(scope, &user, &dirs.user, DEPLOYMENT_CANARY)
            .await?;
        let mut generated = duplicate_chart(&manifest, scope, &self.config.ingress)?;
        set_canary_weight(&mut generated, 100)?;
        self.install_generated(scope, &generated, &dirs, strategy)
            .await?;

        set_canary_weight(&mut generated, 0)?;
        self.install_generated(scope, &generated, &dirs, strategy)
            .await?;

        self.upgrade(scope, &dirs.user, false, DEPLOYMENT_CANARY, Some(0))
            .await?;
        let mut out = ChangeOutcome::message("Finished release");
        out.resource_changes.insert(
            format!("helm/{}-generated.tgz", scope.service()),
            generated.to_tgz()?,
        );
        Ok(out)
    }

    pub(super) async fn rollback(
        &self,
        scope: &ServiceScope,
    ) -> Result<ChangeOutcome, DeployError> {
        let state = self.require_state(scope).await?;
        if state.strategy != DeploymentStrategy::BlueGreenService {
            // Keptn scaled the only deployment of a direct service to 0 here; keep it serving.
            return Ok(ChangeOutcome::message(format!(
                "No rollback action required, as {scope} has a {} deployment strategy",
                state.strategy.as_str()
            )));
        }
        let dirs = self.dirs(scope);
        let mut generated = read_chart(&dirs.generated, scope).await?;
        set_canary_weight(&mut generated, 0)?;
        self.install_generated(scope, &generated, &dirs, &state.strategy)
            .await?;
        self.upgrade(scope, &dirs.user, false, DEPLOYMENT_CANARY, Some(0))
            .await?;
        let mut out = ChangeOutcome::message("Finished rollback");
        out.resource_changes.insert(
            format!("helm/{}-generated.tgz", scope.service()),
            generated.to_tgz()?,
        );
        Ok(out)
    }

    pub(super) async fn scale(
        &self,
        scope: &ServiceScope,
        change: ReplicaChange,
    ) -> Result<ChangeOutcome, DeployError> {
        let state = self.require_state(scope).await?;
        let dirs = self.dirs(scope);
        let max = self.config.max_replicas;
        match state.strategy {
            DeploymentStrategy::BlueGreenService => {
                let mut generated = read_chart(&dirs.generated, scope).await?;
                let target = change_replicas(&mut generated, change, max)?.ok_or_else(|| {
                    DeployError::invalid(format!(
                        "the generated chart of {scope} has no Deployment to scale"
                    ))
                })?;
                self.install_generated(scope, &generated, &dirs, &state.strategy)
                    .await?;
                let mut out = ChangeOutcome::message(format!(
                    "Successfully executed scaling action: {scope} now has {target} primary replicas"
                ));
                out.resource_changes.insert(
                    format!("helm/{}-generated.tgz", scope.service()),
                    generated.to_tgz()?,
                );
                Ok(out)
            }
            DeploymentStrategy::Direct => {
                let user = read_chart(&dirs.user, scope).await?;
                let manifest = self
                    .manifest(scope, &user, &dirs.user, DEPLOYMENT_DIRECT)
                    .await?;
                let current = manifest
                    .deployments
                    .first()
                    .and_then(|d| d.spec.as_ref())
                    .and_then(|s| s.replicas)
                    .unwrap_or(1);
                let target = change.apply(u32::try_from(current).unwrap_or(0), max)?;
                self.upgrade(scope, &dirs.user, false, DEPLOYMENT_DIRECT, Some(target))
                    .await?;
                Ok(ChangeOutcome::message(format!(
                    "Successfully executed scaling action: {scope} now has {target} replicas (replicaCount)"
                )))
            }
            DeploymentStrategy::UserManaged => Err(DeployError::new(
                DeployErrorKind::Unsupported,
                format!("{scope} is user managed: the helm deployer does not scale it"),
            )),
        }
    }

    pub(super) async fn status(
        &self,
        scope: &ServiceScope,
    ) -> Result<Option<ServiceStatus>, DeployError> {
        let Some(state) = self.load_state(scope).await? else {
            return Ok(None);
        };
        let dirs = self.dirs(scope);
        let version = |m: &UserManifest| -> Option<VersionStatus> {
            let d = m.deployments.first()?;
            let spec = d.spec.as_ref()?;
            let image = spec
                .template
                .spec
                .as_ref()
                .and_then(|p| p.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            Some(VersionStatus {
                version: image,
                replicas: u32::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0),
                instances: Vec::new(),
            })
        };
        let user = read_chart(&dirs.user, scope).await?;
        let name = deployment_name(&state.strategy, false);
        let user_manifest = self.manifest(scope, &user, &dirs.user, name).await?;
        let (primary, canary, weight) = if state.strategy == DeploymentStrategy::BlueGreenService {
            let generated = read_chart(&dirs.generated, scope).await?;
            let weight = canary_weight(&generated).unwrap_or(0);
            let generated_manifest = generated
                .templates()
                .map(|(_, c)| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n---\n");
            let primary = version(&UserManifest::parse(&generated_manifest)?);
            let canary = if weight > 0 {
                version(&user_manifest)
            } else {
                None
            };
            (primary, canary, weight)
        } else {
            (version(&user_manifest), None, 0)
        };
        Ok(Some(ServiceStatus {
            scope: scope.clone(),
            strategy: state.strategy,
            uris_local: state.uris_local,
            uris_public: state.uris_public,
            canary_weight: weight,
            primary,
            canary,
        }))
    }

    pub(super) async fn remove(&self, scope: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        for generated in [false, true] {
            let args = vec![
                "uninstall".to_owned(),
                release_name(scope, generated),
                "--namespace".to_owned(),
                scope.namespace(),
            ];
            if let Err(e) = self.runner.run(&args).await {
                if !e.report().contains("not found") {
                    return Err(e);
                }
            }
        }
        let root = self.dirs(scope).root;
        match tokio::fs::remove_dir_all(&root).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DeployError::io(
                    format!("cannot remove {}", root.display()),
                    e,
                ));
            }
        }
        Ok(ChangeOutcome::message(format!(
            "Finished uninstalling service {} in project {} (stage {})",
            scope.service(),
            scope.project(),
            scope.stage()
        )))
    }
}

fn set_strings(scope: &ServiceScope, deployment: &str) -> Vec<String> {
    [
        ("project", scope.project()),
        ("stage", scope.stage()),
        ("service", scope.service()),
        ("deployment", deployment),
    ]
    .into_iter()
    .flat_map(|(k, v)| ["--set-string".to_owned(), format!("keptn.{k}={v}")])
    .collect()
}

/// The user chart of a request: `helm/<service>.tgz`, else the files under `helm/<service>/`.
fn user_chart(request: &DeployRequest) -> Result<Chart, DeployError> {
    let service = request.scope.service();
    let packaged = format!("helm/{service}.tgz");
    if let Some(bytes) = request.resources.get(&packaged) {
        return Chart::from_tgz(bytes).map_err(|e| {
            DeployError::invalid(format!("cannot read chart {packaged} of {}", request.scope))
                .with_source(e)
        });
    }
    let prefix = format!("helm/{service}/");
    let files: BTreeMap<String, Vec<u8>> = request
        .resources
        .under(&prefix)
        .map(|(p, c)| (p.to_owned(), c.to_vec()))
        .collect();
    if files.is_empty() {
        return Err(DeployError::invalid(format!(
            "resource {packaged} (or the chart files under {prefix}) of {} is missing: the helm deployer needs the service's chart",
            request.scope
        )));
    }
    Chart::from_files(files)
}
