//! The operations of the git store on a blocking thread: writes are built as commits and
//! [`BranchUpdate`]s (applied and pushed by `upstream::transact`), reads resolve a commit's tree.

use std::collections::HashSet;

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, ObjectType, Oid, Tree, TreeWalkMode, TreeWalkResult};
use keptn_sdk::event::GitCommitId;

use super::helm::{self, ChartFile};
use super::repo::{BranchUpdate, ProjectRepo};
use crate::configstore::error::{ConfigStoreError, Result};
use crate::configstore::layout::{self, METADATA_FILE};
use crate::configstore::types::{Resource, ResourceMetadata, Scope, ScopeLevel, StoredResource};

/// A resource turned into git objects, ready to be put into any branch.
enum Prepared {
    File {
        uri: String,
        blob: Oid,
    },
    Chart {
        uri: String,
        name: String,
        files: Vec<(String, Oid, FileMode)>,
    },
}

impl Prepared {
    fn uri(&self) -> &str {
        match self {
            Prepared::File { uri, .. } | Prepared::Chart { uri, .. } => uri,
        }
    }
}

/// A write built on top of the tips: the branch moves and the commit to report.
pub(crate) type Built<T> = (Vec<BranchUpdate>, T);

impl ProjectRepo {
    /// The branches a write to `scope` touches, with their tips.
    fn write_branches(&self, scope: &Scope) -> Result<Vec<(String, Oid)>> {
        match scope.level() {
            ScopeLevel::Project => Ok(vec![(
                self.info.default_branch.clone(),
                self.default_tip()?,
            )]),
            ScopeLevel::Stage { stage } => Ok(vec![(stage.to_owned(), self.stage_tip(stage)?)]),
            ScopeLevel::Service { stage, service } => {
                let tip = self.stage_tip(stage)?;
                if !self.is_service(&self.tree_of(tip)?, service) {
                    return Err(ConfigStoreError::service_not_found(
                        &self.name, stage, service,
                    ));
                }
                Ok(vec![(stage.to_owned(), tip)])
            }
            ScopeLevel::ServiceDefault { service } => {
                let mut branches = Vec::new();
                for stage in self.stages()? {
                    let tip = self.stage_tip(&stage)?;
                    if self.is_service(&self.tree_of(tip)?, service) {
                        branches.push((stage, tip));
                    }
                }
                if branches.is_empty() {
                    return Err(ConfigStoreError::not_found(format!(
                        "service '{service}' not found in any stage of project '{}'",
                        self.name
                    )));
                }
                Ok(branches)
            }
        }
    }

    fn blob(&self, content: &[u8]) -> Result<Oid> {
        self.repo
            .blob(content)
            .map_err(|e| self.backend("writing a blob", e))
    }

    fn prepare(&self, scope: &Scope, resources: &[Resource]) -> Result<Vec<Prepared>> {
        let mut prepared = Vec::with_capacity(resources.len());
        let mut paths = HashSet::new();
        for resource in resources {
            let chart = scope
                .service
                .as_ref()
                .and_then(|_| helm::chart_name(&resource.uri));
            let item = match chart {
                Some(name) => {
                    let what = format!("'{}' in {scope}", resource.uri);
                    let files = helm::unpack(&what, &resource.content)?
                        .into_iter()
                        .map(|f| self.chart_entry(name, f))
                        .collect::<Result<Vec<_>>>()?;
                    for (path, _, _) in &files {
                        self.claim(scope, &mut paths, path)?;
                    }
                    Prepared::Chart {
                        uri: resource.uri.clone(),
                        name: name.to_owned(),
                        files,
                    }
                }
                None => {
                    self.claim(scope, &mut paths, &resource.uri)?;
                    Prepared::File {
                        uri: resource.uri.clone(),
                        blob: self.blob(&resource.content)?,
                    }
                }
            };
            prepared.push(item);
        }
        // Within one write, no path may be a folder of another (or inside a chart folder).
        for path in &paths {
            for (i, c) in path.char_indices() {
                if c == '/' && paths.contains(&path[..i]) {
                    return Err(layout::path_collision_error(scope, path, &path[..i]));
                }
            }
        }
        Ok(prepared)
    }

    fn claim(&self, scope: &Scope, paths: &mut HashSet<String>, path: &str) -> Result<()> {
        if paths.insert(path.to_owned()) {
            Ok(())
        } else {
            Err(ConfigStoreError::invalid(format!(
                "path '{path}' is written twice in one write to {scope} (once inside a helm chart \
                 of the same write)"
            )))
        }
    }

    fn chart_entry(&self, name: &str, file: ChartFile) -> Result<(String, Oid, FileMode)> {
        let mode = if file.executable {
            FileMode::BlobExecutable
        } else {
            FileMode::Blob
        };
        Ok((
            format!("helm/{name}/{}", file.path),
            self.blob(&file.content)?,
            mode,
        ))
    }

    /// Builds the commits writing `resources` into `scope`; reports the commit of the last
    /// branch (its tip when nothing changed).
    pub(crate) fn build_put(
        &self,
        scope: &Scope,
        resources: &[Resource],
        message: Option<&str>,
    ) -> Result<Built<Oid>> {
        let branches = self.write_branches(scope)?;
        let prepared = self.prepare(scope, resources)?;
        let mut updates = Vec::new();
        let mut last = None;
        for (branch, tip) in branches {
            let base = self.tree_of(tip)?;
            let mut removals = Vec::new();
            let mut upserts = Vec::new();
            let (mut added, mut updated) = (Vec::new(), Vec::new());
            for item in &prepared {
                let uri = item.uri();
                if matches!(scope.level(), ScopeLevel::Stage { .. }) {
                    if let Some(service) = self.service_of_stage_uri(&base, uri) {
                        return Err(layout::stage_uri_in_service_error(scope, uri, service));
                    }
                }
                let path = layout::branch_path(scope, uri);
                let existed = match item {
                    Prepared::File { blob, .. } => {
                        if let Some(other) = self.collision(&base, &path) {
                            return Err(layout::path_collision_error(scope, uri, &other));
                        }
                        upserts.push((path.clone(), *blob, FileMode::Blob));
                        self.kind_at(&base, &path).is_some()
                    }
                    Prepared::Chart { name, files, .. } => {
                        let folder = layout::branch_path(scope, &format!("helm/{name}"));
                        if let Some(other) = self.collision(&base, &format!("{folder}/Chart.yaml"))
                        {
                            return Err(layout::path_collision_error(scope, uri, &other));
                        }
                        let had_folder = self.kind_at(&base, &folder).is_some();
                        let had_blob = self.kind_at(&base, &path).is_some();
                        if had_folder {
                            removals.push(folder.clone());
                        }
                        if had_blob {
                            removals.push(path.clone());
                        }
                        for (file, blob, mode) in files {
                            upserts.push((layout::branch_path(scope, file), *blob, *mode));
                        }
                        had_folder || had_blob
                    }
                };
                if existed {
                    updated.push(uri);
                } else {
                    added.push(uri);
                }
            }
            let tree = self.update_tree(&base, &removals, &upserts)?;
            if tree == base.id() {
                last = Some(tip);
                continue;
            }
            let message = match message {
                Some(m) if !m.trim().is_empty() => m.to_owned(),
                _ => layout::write_message(
                    &layout::commit_target(scope, Some(&branch)),
                    &added,
                    &updated,
                ),
            };
            let commit = self.commit(&[tip], tree, &message)?;
            last = Some(commit);
            updates.push(BranchUpdate {
                branch,
                old: Some(tip),
                new: commit,
            });
        }
        let last = last.ok_or_else(|| {
            ConfigStoreError::not_found(format!("no branch to write to in {scope}"))
        })?;
        Ok((updates, last))
    }

    /// A new tree: `base` without `removals`, then with `upserts`.
    fn update_tree(
        &self,
        base: &Tree<'_>,
        removals: &[String],
        upserts: &[(String, Oid, FileMode)],
    ) -> Result<Oid> {
        let fail = |e| self.backend("writing a tree", e);
        let mut current = base.id();
        if !removals.is_empty() {
            let mut builder = TreeUpdateBuilder::new();
            for path in removals {
                builder.remove(path.as_str());
            }
            current = builder.create_updated(&self.repo, base).map_err(fail)?;
        }
        if !upserts.is_empty() {
            let start = self.repo.find_tree(current).map_err(fail)?;
            let mut builder = TreeUpdateBuilder::new();
            for (path, blob, mode) in upserts {
                builder.upsert(path.as_str(), *blob, *mode);
            }
            current = builder.create_updated(&self.repo, &start).map_err(fail)?;
        }
        Ok(current)
    }

    /// Builds the commits deleting `uri` from `scope` (from every stage that has it, for service
    /// defaults).
    pub(crate) fn build_delete(&self, scope: &Scope, uri: &str) -> Result<Built<Oid>> {
        let branches = self.write_branches(scope)?;
        let path = layout::branch_path(scope, uri);
        let chart_folder = scope
            .service
            .as_ref()
            .and_then(|_| helm::chart_name(uri))
            .map(|name| layout::branch_path(scope, &format!("helm/{name}")));
        let mut updates = Vec::new();
        for (branch, tip) in branches {
            let base = self.tree_of(tip)?;
            if matches!(scope.level(), ScopeLevel::Stage { .. }) {
                if let Some(service) = self.service_of_stage_uri(&base, uri) {
                    return Err(layout::stage_uri_in_service_error(scope, uri, service));
                }
            }
            let mut removals = Vec::new();
            if self.kind_at(&base, &path) == Some(ObjectType::Blob) {
                removals.push(path.clone());
            }
            if let Some(folder) = &chart_folder {
                if self.kind_at(&base, folder) == Some(ObjectType::Tree) {
                    removals.push(folder.clone());
                }
            }
            if removals.is_empty() {
                continue;
            }
            let tree = self.update_tree(&base, &removals, &[])?;
            let message = layout::delete_message(&layout::commit_target(scope, Some(&branch)), uri);
            let commit = self.commit(&[tip], tree, &message)?;
            updates.push(BranchUpdate {
                branch,
                old: Some(tip),
                new: commit,
            });
        }
        let last = updates.last().map(|u| u.new).ok_or_else(|| {
            ConfigStoreError::not_found(format!("resource '{uri}' not found in {scope}"))
        })?;
        Ok((updates, last))
    }

    /// Builds the creation of a stage branch at the tip of the default branch.
    pub(crate) fn build_create_stage(&self, stage: &str) -> Result<Built<Oid>> {
        if stage == self.info.default_branch {
            return Err(ConfigStoreError::invalid(format!(
                "invalid stage name '{stage}': it is the default branch of project '{}'",
                self.name
            )));
        }
        if self.tip(stage)?.is_some() {
            return Err(ConfigStoreError::already_exists(format!(
                "stage '{stage}' already exists in project '{}'",
                self.name
            )));
        }
        let tip = self.default_tip()?;
        let update = BranchUpdate {
            branch: stage.to_owned(),
            old: None,
            new: tip,
        };
        Ok((vec![update], tip))
    }

    /// Builds the creation of a service folder in every stage that lacks it.
    pub(crate) fn build_create_service(&self, service: &str) -> Result<Built<()>> {
        let stages = self.stages()?;
        if stages.is_empty() {
            return Err(ConfigStoreError::invalid(format!(
                "project '{}' has no stage to create service '{service}' in",
                self.name
            )));
        }
        let metadata = self.blob(&layout::service_metadata(service)?)?;
        let path = format!("{service}/{METADATA_FILE}");
        let mut updates = Vec::new();
        for stage in stages {
            let tip = self.stage_tip(&stage)?;
            let base = self.tree_of(tip)?;
            if self.is_service(&base, service) {
                continue;
            }
            if self.kind_at(&base, service).is_some() {
                return Err(ConfigStoreError::invalid(format!(
                    "cannot create service '{service}' in stage '{stage}' of project '{}': stage \
                     resource '{service}' already uses that folder name",
                    self.name
                )));
            }
            let tree = self.update_tree(&base, &[], &[(path.clone(), metadata, FileMode::Blob)])?;
            let message = format!("Added service {service} to stage {stage}");
            let commit = self.commit(&[tip], tree, &message)?;
            updates.push(BranchUpdate {
                branch: stage,
                old: Some(tip),
                new: commit,
            });
        }
        if updates.is_empty() {
            return Err(ConfigStoreError::already_exists(format!(
                "service '{service}' already exists in every stage of project '{}'",
                self.name
            )));
        }
        Ok((updates, ()))
    }

    /// Builds the removal of a service folder from every stage that has it.
    pub(crate) fn build_delete_service(&self, service: &str) -> Result<Built<()>> {
        let mut updates = Vec::new();
        for stage in self.stages()? {
            let tip = self.stage_tip(&stage)?;
            let base = self.tree_of(tip)?;
            if !self.is_service(&base, service) {
                continue;
            }
            let tree = self.update_tree(&base, &[service.to_owned()], &[])?;
            let message = format!("Deleted service {service} from stage {stage}");
            let commit = self.commit(&[tip], tree, &message)?;
            updates.push(BranchUpdate {
                branch: stage,
                old: Some(tip),
                new: commit,
            });
        }
        if updates.is_empty() {
            return Err(ConfigStoreError::not_found(format!(
                "service '{service}' not found in any stage of project '{}'",
                self.name
            )));
        }
        Ok((updates, ()))
    }

    /// The tree of `commit` after checking that the scope's service exists in it.
    fn scope_tree(&self, scope: &Scope, commit: Oid) -> Result<Tree<'_>> {
        let tree = self.tree_of(commit)?;
        if let ScopeLevel::Service { stage, service } = scope.level() {
            if !self.is_service(&tree, service) {
                return Err(ConfigStoreError::service_not_found(
                    &self.name, stage, service,
                ));
            }
        }
        Ok(tree)
    }

    /// Reads one resource of `scope` at `commit` of `branch`.
    pub(crate) fn read_resource(
        &self,
        scope: &Scope,
        uri: &str,
        branch: &str,
        commit: Oid,
    ) -> Result<Option<StoredResource>> {
        let tree = self.scope_tree(scope, commit)?;
        if matches!(scope.level(), ScopeLevel::Stage { .. }) {
            if let Some(service) = self.service_of_stage_uri(&tree, uri) {
                return Err(layout::stage_uri_in_service_error(scope, uri, service));
            }
        }
        let path = layout::branch_path(scope, uri);
        let mut content = self.blob_at(&tree, &path)?;
        if content.is_none() {
            if let Some(name) = scope.service.as_ref().and_then(|_| helm::chart_name(uri)) {
                let folder = layout::branch_path(scope, &format!("helm/{name}"));
                if self.kind_at(&tree, &folder) == Some(ObjectType::Tree) {
                    content = Some(helm::pack(name, self.chart_files(&tree, &folder)?)?);
                }
            }
        }
        Ok(content.map(|content| StoredResource {
            uri: uri.to_owned(),
            content,
            metadata: ResourceMetadata {
                branch: branch.to_owned(),
                upstream_url: self.info.upstream.as_ref().map(|u| u.url.clone()),
                version: GitCommitId::new(commit.to_string()),
            },
        }))
    }

    fn chart_files(&self, tree: &Tree<'_>, folder: &str) -> Result<Vec<ChartFile>> {
        let sub = tree
            .get_path(std::path::Path::new(folder))
            .and_then(|e| self.repo.find_tree(e.id()))
            .map_err(|e| self.backend(&format!("reading chart folder '{folder}'"), e))?;
        let mut files = Vec::new();
        for (path, oid, mode) in self.walk(&sub, |_, _| false)? {
            let blob = self
                .repo
                .find_blob(oid)
                .map_err(|e| self.backend(&format!("reading '{folder}/{path}'"), e))?;
            files.push(ChartFile {
                path,
                content: blob.content().to_vec(),
                executable: mode == i32::from(FileMode::BlobExecutable),
            });
        }
        Ok(files)
    }

    /// Every file below `tree` as (path, blob, mode), skipping top-level folders for which
    /// `skip(name, tree)` holds.
    fn walk(
        &self,
        tree: &Tree<'_>,
        skip: impl Fn(&str, Oid) -> bool,
    ) -> Result<Vec<(String, Oid, i32)>> {
        let mut files = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |root, entry| {
            let name = entry.name().unwrap_or_default();
            match entry.kind() {
                Some(ObjectType::Tree) if root.is_empty() && skip(name, entry.id()) => {
                    TreeWalkResult::Skip
                }
                Some(ObjectType::Blob) => {
                    files.push((format!("{root}{name}"), entry.id(), entry.filemode()));
                    TreeWalkResult::Ok
                }
                _ => TreeWalkResult::Ok,
            }
        })
        .map_err(|e| self.backend("listing files", e))?;
        Ok(files)
    }

    /// Lists the resources of `scope` at `commit`.
    pub(crate) fn list(&self, scope: &Scope, commit: Oid) -> Result<Vec<String>> {
        let tree = self.scope_tree(scope, commit)?;
        let mut uris: Vec<String> = match scope.level() {
            ScopeLevel::Service { service, .. } => {
                let sub = tree
                    .get_path(std::path::Path::new(service))
                    .and_then(|e| self.repo.find_tree(e.id()))
                    .map_err(|e| self.backend(&format!("reading service folder '{service}'"), e))?;
                let files: Vec<String> = self
                    .walk(&sub, |_, _| false)?
                    .into_iter()
                    .map(|(path, _, _)| path)
                    .collect();
                collapse_charts(files)
            }
            ScopeLevel::Stage { .. } => {
                let services: HashSet<String> = self.services(&tree).into_iter().collect();
                self.walk(&tree, |name, _| services.contains(name))?
                    .into_iter()
                    .map(|(path, _, _)| path)
                    .collect()
            }
            _ => self
                .walk(&tree, |_, _| false)?
                .into_iter()
                .map(|(path, _, _)| path)
                .collect(),
        };
        uris.sort();
        Ok(uris)
    }
}

/// Replaces the files of unpacked charts (`helm/<name>/` with a `Chart.yaml`) by
/// `helm/<name>.tgz`.
fn collapse_charts(files: Vec<String>) -> Vec<String> {
    let charts: HashSet<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix("helm/")?.strip_suffix("/Chart.yaml"))
        .filter(|name| !name.contains('/'))
        .map(str::to_owned)
        .collect();
    let mut out: Vec<String> = files
        .into_iter()
        .filter(|f| {
            f.strip_prefix("helm/")
                .and_then(|rest| rest.split_once('/'))
                .is_none_or(|(name, _)| !charts.contains(name))
        })
        .collect();
    out.extend(charts.into_iter().map(|name| format!("helm/{name}.tgz")));
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacked_charts_are_listed_as_archives() {
        let files = vec![
            "helm/carts/Chart.yaml".to_owned(),
            "helm/carts/templates/svc.yaml".to_owned(),
            "helm/notes/readme.txt".to_owned(),
            "slo.yaml".to_owned(),
        ];
        assert_eq!(
            collapse_charts(files),
            vec!["helm/carts.tgz", "helm/notes/readme.txt", "slo.yaml"]
        );
    }
}
