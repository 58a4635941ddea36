//! Shared helpers: stores in temporary folders, bare remotes and a second clone that plays
//! another user of the upstream.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use keptn_core::configstore::{ConfigStore, ProjectSetup};

/// The Keptn example files stored by the tests, with their names.
pub fn keptn_examples() -> Vec<(String, Vec<u8>)> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configstore/fixtures/keptn-examples");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name")
                .to_owned();
            (name, std::fs::read(&p).expect("readable fixture"))
        })
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        4,
        "the four Keptn example files are in {}",
        dir.display()
    );
    files
}

/// Awaits `future` for at most 60 seconds; a test never waits forever.
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 60 s"))
}

/// A project with stages `dev`, `staging`, `production` and service `carts`.
pub async fn sockshop(store: &dyn ConfigStore, project: &str, setup: ProjectSetup) {
    store
        .create_project(project, setup)
        .await
        .expect("create project");
    for stage in ["dev", "staging", "production"] {
        store
            .create_stage(project, stage)
            .await
            .expect("create stage");
    }
    store
        .create_service(project, "carts")
        .await
        .expect("create service");
}

#[cfg(feature = "git")]
pub use git_support::*;

#[cfg(feature = "git")]
mod git_support {
    use super::*;
    use git2::{Oid, Repository, Signature};
    use keptn_core::configstore::{GitConfigStore, GitStoreOptions};
    use std::path::PathBuf;
    use tempfile::TempDir;

    /// A git store in a fresh temporary folder that accepts `file://` upstreams.
    pub fn git_store() -> (TempDir, GitConfigStore) {
        git_store_with(GitStoreOptions::default())
    }

    /// A git store with options (`file://` upstreams always allowed).
    pub fn git_store_with(options: GitStoreOptions) -> (TempDir, GitConfigStore) {
        let dir = tempfile::tempdir().expect("temporary folder");
        let store =
            GitConfigStore::open(dir.path().join("repos"), options.allow_file_upstreams(true))
                .expect("open store");
        (dir, store)
    }

    /// An empty bare repository playing the upstream server.
    pub struct Remote {
        _dir: TempDir,
        pub path: PathBuf,
        pub url: String,
    }

    impl Remote {
        pub fn new() -> Self {
            let dir = tempfile::tempdir().expect("temporary folder");
            let path = dir.path().join("upstream.git");
            Repository::init_bare(&path).expect("bare upstream");
            let url = format!("file://{}", path.display());
            Self {
                _dir: dir,
                path,
                url,
            }
        }

        /// The tip of a branch on the upstream.
        pub fn tip(&self, branch: &str) -> Option<Oid> {
            let repo = Repository::open_bare(&self.path).expect("open upstream");
            repo.refname_to_id(&format!("refs/heads/{branch}")).ok()
        }

        /// A file of a branch on the upstream.
        pub fn file(&self, branch: &str, path: &str) -> Option<Vec<u8>> {
            let repo = Repository::open_bare(&self.path).expect("open upstream");
            read_file(&repo, &format!("refs/heads/{branch}"), path)
        }

        /// Makes the upstream unreachable until the returned guard is dropped.
        pub fn take_offline(&self) -> Offline {
            let hidden = self.path.with_extension("offline");
            std::fs::rename(&self.path, &hidden).expect("hide upstream");
            Offline {
                path: self.path.clone(),
                hidden,
            }
        }
    }

    /// An unreachable upstream; reachable again when dropped.
    pub struct Offline {
        path: PathBuf,
        hidden: PathBuf,
    }

    impl Drop for Offline {
        fn drop(&mut self) {
            let _ = std::fs::rename(&self.hidden, &self.path);
        }
    }

    /// A file at a reference of a repository.
    pub fn read_file(repo: &Repository, reference: &str, path: &str) -> Option<Vec<u8>> {
        let commit = repo.find_reference(reference).ok()?.peel_to_commit().ok()?;
        let entry = commit.tree().ok()?.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(blob.content().to_vec())
    }

    /// Another user's clone of the upstream, committing and pushing with plain git.
    pub struct OtherClone {
        _dir: TempDir,
        repo: Repository,
    }

    impl OtherClone {
        pub fn of(remote: &Remote) -> Self {
            let dir = tempfile::tempdir().expect("temporary folder");
            let repo = Repository::init_bare(dir.path().join("clone.git")).expect("clone repo");
            repo.remote("origin", &remote.url).expect("origin");
            Self { _dir: dir, repo }
        }

        /// Fetches `branch`, commits `path = content` on top of it and pushes.
        pub fn commit_and_push(&self, branch: &str, path: &str, content: &[u8]) -> Oid {
            let refname = format!("refs/heads/{branch}");
            let mut origin = self.repo.find_remote("origin").expect("origin");
            origin
                .fetch(&[format!("+{refname}:{refname}")], None, None)
                .expect("fetch");
            let parent = self
                .repo
                .find_reference(&refname)
                .expect("branch")
                .peel_to_commit()
                .expect("commit");
            let blob = self.repo.blob(content).expect("blob");
            let mut update = git2::build::TreeUpdateBuilder::new();
            update.upsert(path, blob, git2::FileMode::Blob);
            let tree = update
                .create_updated(&self.repo, &parent.tree().expect("tree"))
                .expect("tree");
            let tree = self.repo.find_tree(tree).expect("tree");
            let sig = Signature::now("Other User", "other@example.com").expect("signature");
            let commit = self
                .repo
                .commit(
                    Some(&refname),
                    &sig,
                    &sig,
                    &format!("Other user changed {path}"),
                    &tree,
                    &[&parent],
                )
                .expect("commit");
            origin
                .push(&[format!("{refname}:{refname}")], None)
                .expect("push");
            commit
        }
    }
}
