//! The state of one in-memory project: branches pointing at commits, commits holding whole
//! trees, and the tree queries both the reads and the writes need.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::configstore::error::{ConfigStoreError, Result};
use crate::configstore::layout::METADATA_FILE;

/// A whole branch content: path -> bytes.
pub(super) type Tree = BTreeMap<String, Arc<Vec<u8>>>;

/// One project: its default branch, its branches (name -> commit id) and every commit it had.
#[derive(Debug)]
pub(super) struct Project {
    pub(super) default_branch: String,
    pub(super) branches: BTreeMap<String, String>,
    pub(super) commits: HashMap<String, Arc<Tree>>,
}

pub(super) fn lock(project: &Mutex<Project>) -> MutexGuard<'_, Project> {
    project.lock().unwrap_or_else(|e| e.into_inner())
}

impl Project {
    pub(super) fn tip(&self, branch: &str) -> Option<(&String, &Arc<Tree>)> {
        let id = self.branches.get(branch)?;
        self.commits.get(id).map(|tree| (id, tree))
    }

    pub(super) fn stages(&self) -> Vec<String> {
        self.branches
            .keys()
            .filter(|b| **b != self.default_branch)
            .cloned()
            .collect()
    }

    pub(super) fn stage_branch(&self, project: &str, stage: &str) -> Result<()> {
        if stage == self.default_branch || !self.branches.contains_key(stage) {
            return Err(ConfigStoreError::stage_not_found(project, stage));
        }
        Ok(())
    }
}

pub(super) fn has_service(tree: &Tree, service: &str) -> bool {
    tree.contains_key(&format!("{service}/{METADATA_FILE}"))
}

pub(super) fn services_of(tree: &Tree) -> Vec<String> {
    tree.keys()
        .filter_map(|path| path.strip_suffix(&format!("/{METADATA_FILE}")))
        .filter(|dir| !dir.contains('/'))
        .map(str::to_owned)
        .collect()
}

/// The collision of `path` with an existing path: a prefix folder that is a file, or a file
/// that is a folder of existing paths.
pub(super) fn collision(tree: &Tree, path: &str) -> Option<String> {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if tree.contains_key(&prefix) {
            return Some(prefix);
        }
    }
    let folder = format!("{path}/");
    tree.range(folder.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&folder))
        .map(|(k, _)| k.clone())
}

/// The first component of a stage-scope URI when it names a service of the tree.
pub(super) fn service_of_stage_uri<'a>(tree: &Tree, uri: &'a str) -> Option<&'a str> {
    let (first, _) = uri.split_once('/')?;
    has_service(tree, first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_find_files_on_the_way_and_folders_at_the_end() {
        let mut tree = Tree::new();
        tree.insert("a".into(), Arc::new(vec![]));
        tree.insert("b/c".into(), Arc::new(vec![]));
        assert_eq!(collision(&tree, "a/x").as_deref(), Some("a"));
        assert_eq!(collision(&tree, "b").as_deref(), Some("b/c"));
        assert_eq!(collision(&tree, "b/d"), None);
        assert_eq!(collision(&tree, "ab"), None);
    }
}
