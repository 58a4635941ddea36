//! Syncing a project with its upstream: fetch, fast-forward or merge (the upstream wins for
//! files both sides changed), push with retries, credentials, and the stored settings.
//!
//! The write protocol ([`transact`]): pull, build the write on top of the pulled tips, move the
//! local branches, push. When the push is rejected because the upstream moved meanwhile, the
//! local branches go back to where they were and the whole write is built again on the new
//! upstream tips (so a write re-applies its own files on top of whatever the upstream has), up to
//! `push_attempts` times; then the write fails with `Conflict`. Any other failure (unreachable,
//! credentials refused, a hook declining) fails with `Upstream` and the local branches are put
//! back: an error always means the write is not in the local repository.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::Path;

use git2::build::TreeUpdateBuilder;
use git2::{
    AutotagOption, Cred, CredentialType, Delta, ErrorCode, FetchOptions, FetchPrune, Oid,
    PushOptions, RemoteCallbacks,
};

use super::repo::{BranchUpdate, ProjectRepo};
use super::{GitStoreOptions, HookPoint};
use crate::configstore::error::{ConfigStoreError, ConfigStoreErrorKind, Result};
use crate::configstore::names::{validate_stage_name, validate_upstream_url};
use crate::configstore::types::{Upstream, UpstreamCredentials};

const REMOTE: &str = "origin";
const TRACKING_PREFIX: &str = "refs/remotes/origin/";
/// The file, inside a project's repository folder, that keeps its upstream settings.
pub(crate) const SETTINGS_FILE: &str = "keptn-upstream.json";

/// Checks an upstream: its URL, and that this libgit2 build has its transport.
pub(crate) fn validate(options: &GitStoreOptions, upstream: &Upstream) -> Result<()> {
    let url = validate_upstream_url(&upstream.url, options.allow_file_upstreams)?;
    let version = git2::Version::get();
    let missing = match url.scheme() {
        "https" if !version.https() => Some("https"),
        "ssh" if !version.ssh() => Some("ssh"),
        _ => None,
    };
    if let Some(feature) = missing {
        return Err(ConfigStoreError::invalid(format!(
            "upstream url '{}': this build of libgit2 has no {feature} transport (enable the \
             `{feature}` feature of the git2 crate in the binary)",
            upstream.url
        )));
    }
    Ok(())
}

/// Reads a project's stored upstream settings.
pub(crate) fn load_settings(project: &str, repo_path: &Path) -> Result<Option<Upstream>> {
    let path = repo_path.join(SETTINGS_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(settings_error(project, "reading", e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| settings_error(project, "parsing", e))
}

/// Stores (or removes, for `None`) a project's upstream settings, readable by the owner only.
pub(crate) fn save_settings(
    project: &str,
    repo_path: &Path,
    upstream: Option<&Upstream>,
) -> Result<()> {
    let path = repo_path.join(SETTINGS_FILE);
    let Some(upstream) = upstream else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(settings_error(project, "removing", e))
            }
            _ => Ok(()),
        };
    };
    let text =
        serde_json::to_vec_pretty(upstream).map_err(|e| settings_error(project, "encoding", e))?;
    let tmp = repo_path.join(format!("{SETTINGS_FILE}.tmp"));
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let write = |open: &std::fs::OpenOptions| -> std::io::Result<()> {
        use std::io::Write;
        let mut file = open.open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write(&open).map_err(|e| settings_error(project, "writing", e))
}

fn settings_error(
    project: &str,
    what: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> ConfigStoreError {
    ConfigStoreError::with_source(
        ConfigStoreErrorKind::Backend,
        format!("{what} the upstream settings of project '{project}' failed"),
        e,
    )
}

/// An `Upstream` error naming the project, the remote and git's message.
fn upstream_error(
    ctx: &ProjectRepo,
    upstream: &Upstream,
    action: &str,
    e: &git2::Error,
) -> ConfigStoreError {
    ConfigStoreError::new(
        ConfigStoreErrorKind::Upstream,
        format!(
            "{action} upstream '{}' of project '{}' failed: {}",
            upstream.url,
            ctx.name,
            e.message()
        ),
    )
}

/// Callbacks that answer credential requests once (libgit2 asks again after a refusal).
fn callbacks<'a>(
    credentials: &'a UpstreamCredentials,
    asked: &'a Cell<u32>,
) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, user_from_url, allowed| {
        let n = asked.get();
        asked.set(n + 1);
        if n > 0 {
            return Err(git2::Error::from_str(
                "the upstream refused the configured credentials",
            ));
        }
        let user = user_from_url.unwrap_or("git");
        match credentials {
            UpstreamCredentials::Token { user, token }
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(user, token)
            }
            UpstreamCredentials::SshKey {
                private_key,
                passphrase,
            } if allowed.contains(CredentialType::SSH_KEY)
                || allowed.contains(CredentialType::SSH_MEMORY) =>
            {
                Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref())
            }
            _ if allowed.contains(CredentialType::USERNAME) => Cred::username(user),
            UpstreamCredentials::None => Err(git2::Error::from_str(
                "the upstream asks for credentials but none are configured",
            )),
            _ => Err(git2::Error::from_str(&format!(
                "the upstream asks for credentials of kind {allowed:?}, which the configured \
                 credentials are not"
            ))),
        }
    });
    callbacks
}

/// Points the `origin` remote at `url`, creating it when missing.
pub(crate) fn configure_remote(ctx: &ProjectRepo, url: &str) -> Result<()> {
    let result = match ctx.repo.find_remote(REMOTE) {
        Ok(remote) if remote.url() == Some(url) => Ok(()),
        Ok(_) => ctx.repo.remote_set_url(REMOTE, url),
        Err(e) if e.code() == ErrorCode::NotFound => ctx.repo.remote(REMOTE, url).map(|_| ()),
        Err(e) => Err(e),
    };
    result.map_err(|e| ctx.backend("configuring the upstream remote", e))
}

/// Removes the `origin` remote (and its remote-tracking branches).
pub(crate) fn remove_remote(ctx: &ProjectRepo) -> Result<()> {
    match ctx.repo.remote_delete(REMOTE) {
        Err(e) if e.code() != ErrorCode::NotFound => {
            Err(ctx.backend("removing the upstream remote", e))
        }
        _ => Ok(()),
    }
}

/// The default branch the upstream advertises, if it has one.
pub(crate) fn remote_default_branch(
    ctx: &ProjectRepo,
    upstream: &Upstream,
) -> Result<Option<String>> {
    let mut remote = ctx
        .repo
        .find_remote(REMOTE)
        .map_err(|e| ctx.backend("reading the upstream remote", e))?;
    let asked = Cell::new(0);
    let connection = remote
        .connect_auth(
            git2::Direction::Fetch,
            Some(callbacks(&upstream.credentials, &asked)),
            None,
        )
        .map_err(|e| upstream_error(ctx, upstream, "connecting to", &e))?;
    let branch = connection
        .default_branch()
        .ok()
        .and_then(|b| b.as_str().map(str::to_owned))
        .and_then(|b| b.strip_prefix("refs/heads/").map(str::to_owned));
    Ok(branch)
}

fn fetch(ctx: &ProjectRepo, upstream: &Upstream) -> Result<()> {
    configure_remote(ctx, &upstream.url)?;
    let mut remote = ctx
        .repo
        .find_remote(REMOTE)
        .map_err(|e| ctx.backend("reading the upstream remote", e))?;
    let asked = Cell::new(0);
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(&upstream.credentials, &asked))
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None);
    remote
        .fetch(
            &["+refs/heads/*:refs/remotes/origin/*"],
            Some(&mut options),
            None,
        )
        .map_err(|e| upstream_error(ctx, upstream, "fetching from", &e))
}

/// Fetches and brings every local branch up to the upstream; returns the branches that are
/// ahead of the upstream afterwards (they need a push).
pub(crate) fn pull(ctx: &ProjectRepo, upstream: &Upstream) -> Result<Vec<String>> {
    fetch(ctx, upstream)?;
    let refs = ctx
        .repo
        .references_glob(&format!("{TRACKING_PREFIX}*"))
        .map_err(|e| ctx.backend("listing upstream branches", e))?;
    let mut remote_tips = Vec::new();
    for reference in refs {
        let reference = reference.map_err(|e| ctx.backend("listing upstream branches", e))?;
        let (Some(name), Some(oid)) = (reference.name(), reference.target()) else {
            continue;
        };
        let branch = name.trim_start_matches(TRACKING_PREFIX);
        if branch == ctx.info.default_branch || validate_stage_name(branch).is_ok() {
            remote_tips.push((branch.to_owned(), oid));
        }
    }
    let mut ahead = Vec::new();
    for (branch, remote) in remote_tips {
        let local = ctx.tip(&branch)?;
        let update = match local {
            None => Some(BranchUpdate {
                branch: branch.clone(),
                old: None,
                new: remote,
            }),
            Some(local) if local == remote => None,
            Some(local) if descends(ctx, local, remote)? => {
                ahead.push(branch.clone());
                None
            }
            Some(local) if descends(ctx, remote, local)? => Some(BranchUpdate {
                branch: branch.clone(),
                old: Some(local),
                new: remote,
            }),
            Some(local) => {
                let merged = merge_upstream_wins(ctx, &branch, local, remote)?;
                ahead.push(branch.clone());
                Some(BranchUpdate {
                    branch: branch.clone(),
                    old: Some(local),
                    new: merged,
                })
            }
        };
        if let Some(update) = update {
            ctx.apply(&[update])?;
        }
    }
    Ok(ahead)
}

fn descends(ctx: &ProjectRepo, commit: Oid, ancestor: Oid) -> Result<bool> {
    ctx.repo
        .graph_descendant_of(commit, ancestor)
        .map_err(|e| ctx.backend("comparing histories", e))
}

/// Merges diverged histories at file level: the upstream's tree, plus the local changes (since
/// the merge base) to files the upstream did not change.
fn merge_upstream_wins(ctx: &ProjectRepo, branch: &str, local: Oid, remote: Oid) -> Result<Oid> {
    let fail = |e| {
        ctx.backend(
            &format!("merging upstream changes into branch '{branch}'"),
            e,
        )
    };
    let base = match ctx.repo.merge_base(local, remote) {
        Ok(base) => Some(ctx.tree_of(base)?),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(fail(e)),
    };
    let local_tree = ctx.tree_of(local)?;
    let remote_tree = ctx.tree_of(remote)?;
    let remote_diff = ctx
        .repo
        .diff_tree_to_tree(base.as_ref(), Some(&remote_tree), None)
        .map_err(fail)?;
    let remote_changed: HashSet<std::path::PathBuf> = remote_diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(Path::to_path_buf)
        })
        .collect();
    let local_diff = ctx
        .repo
        .diff_tree_to_tree(base.as_ref(), Some(&local_tree), None)
        .map_err(fail)?;
    let mut builder = TreeUpdateBuilder::new();
    let mut changes = 0;
    for delta in local_diff.deltas() {
        let Some(path) = delta.new_file().path().or(delta.old_file().path()) else {
            continue;
        };
        if remote_changed.contains(path) {
            continue;
        }
        let Some(path) = path.to_str() else { continue };
        match delta.status() {
            Delta::Deleted => {
                builder.remove(path);
            }
            _ => {
                let mode = match delta.new_file().mode() {
                    git2::FileMode::BlobExecutable => git2::FileMode::BlobExecutable,
                    git2::FileMode::Link => git2::FileMode::Link,
                    _ => git2::FileMode::Blob,
                };
                builder.upsert(path, delta.new_file().id(), mode);
            }
        }
        changes += 1;
    }
    // A local change that cannot be laid over the upstream tree (a file where the upstream now
    // has a folder) is dropped: the upstream wins.
    let tree = if changes == 0 {
        remote_tree.id()
    } else {
        builder
            .create_updated(&ctx.repo, &remote_tree)
            .unwrap_or_else(|_| remote_tree.id())
    };
    let message = format!(
        "Merged upstream changes into branch {branch} (the upstream wins for files changed on both sides)"
    );
    ctx.commit(&[local, remote], tree, &message)
}

/// Why a push failed.
pub(crate) enum PushError {
    /// The upstream moved: fetch and try again.
    Rejected(String),
    /// Anything else.
    Failed(ConfigStoreError),
}

fn is_not_fast_forward(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("non-fast-forward")
        || m.contains("not fast-forward")
        || m.contains("fetch first")
        || m.contains("not present locally")
}

/// Pushes local branches to the same names upstream (never forced).
pub(crate) fn push(
    ctx: &ProjectRepo,
    upstream: &Upstream,
    branches: &[String],
) -> std::result::Result<(), PushError> {
    let mut remote = ctx
        .repo
        .find_remote(REMOTE)
        .map_err(|e| PushError::Failed(ctx.backend("reading the upstream remote", e)))?;
    let refspecs: Vec<String> = branches
        .iter()
        .map(|b| format!("refs/heads/{b}:refs/heads/{b}"))
        .collect();
    let rejected = RefCell::new(Vec::new());
    let asked = Cell::new(0);
    let result = {
        let mut callbacks = callbacks(&upstream.credentials, &asked);
        callbacks.push_update_reference(|name, status| {
            if let Some(status) = status {
                rejected.borrow_mut().push(format!("{name}: {status}"));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        remote.push(&refspecs, Some(&mut options))
    };
    let rejected = rejected.into_inner();
    match result {
        Err(e) if e.code() == ErrorCode::NotFastForward || is_not_fast_forward(e.message()) => {
            Err(PushError::Rejected(e.message().to_owned()))
        }
        Err(e) => Err(PushError::Failed(upstream_error(
            ctx,
            upstream,
            "pushing to",
            &e,
        ))),
        Ok(()) if rejected.is_empty() => Ok(()),
        Ok(()) if rejected.iter().all(|r| is_not_fast_forward(r)) => {
            Err(PushError::Rejected(rejected.join("; ")))
        }
        Ok(()) => Err(PushError::Failed(ConfigStoreError::new(
            ConfigStoreErrorKind::Upstream,
            format!(
                "upstream '{}' of project '{}' rejected the push: {}",
                upstream.url,
                ctx.name,
                rejected.join("; ")
            ),
        ))),
    }
}

/// Runs a write: builds it on the current (pulled) tips, moves the local branches, pushes; see
/// the module documentation for retries and rollback.
pub(crate) fn transact<T>(
    ctx: &ProjectRepo,
    mut build: impl FnMut(&ProjectRepo) -> Result<(Vec<BranchUpdate>, T)>,
) -> Result<T> {
    let Some(upstream) = ctx.info.upstream.clone() else {
        let (updates, out) = build(ctx)?;
        if !updates.is_empty() {
            ctx.options.hook(&ctx.name, HookPoint::BeforeCommit);
            ctx.apply(&updates)?;
        }
        return Ok(out);
    };
    let attempts = ctx.options.push_attempts.max(1);
    let mut last_rejection = String::new();
    for attempt in 1..=attempts {
        let mut to_push = pull(ctx, &upstream)?;
        let (updates, out) = build(ctx)?;
        if !updates.is_empty() {
            ctx.options.hook(&ctx.name, HookPoint::BeforeCommit);
            ctx.apply(&updates)?;
        }
        for update in &updates {
            if !to_push.contains(&update.branch) {
                to_push.push(update.branch.clone());
            }
        }
        if to_push.is_empty() {
            return Ok(out);
        }
        ctx.options
            .hook(&ctx.name, HookPoint::BeforePush { attempt });
        match push(ctx, &upstream, &to_push) {
            Ok(()) => return Ok(out),
            Err(PushError::Rejected(why)) => {
                ctx.rollback(&updates);
                tracing::debug!(project = %ctx.name, attempt, %why, "push rejected, retrying on the new upstream tips");
                last_rejection = why;
            }
            Err(PushError::Failed(e)) => {
                ctx.rollback(&updates);
                return Err(e);
            }
        }
    }
    Err(ConfigStoreError::new(
        ConfigStoreErrorKind::Conflict,
        format!(
            "writing to project '{}' failed: upstream '{}' rejected the push {attempts} times \
             because it kept changing ({last_rejection}); the write was not applied locally",
            ctx.name, upstream.url
        ),
    ))
}
