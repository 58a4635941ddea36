//! The resource model: scopes, resources, read options and project setup.

use std::fmt;

use keptn_sdk::event::GitCommitId;
use serde::{Deserialize, Serialize};

/// Where a resource lives: a project, a stage of it, a service in a stage, or the default
/// resources of a service (copied into every stage that has the service).
///
/// Every combination of the optional fields is meaningful:
///
/// | `stage` | `service` | scope |
/// |---|---|---|
/// | `None` | `None` | project (the default branch) |
/// | `Some` | `None` | stage (the root of the stage branch) |
/// | `Some` | `Some` | service in a stage (folder `<service>/` of the stage branch) |
/// | `None` | `Some` | service defaults (folder `<service>/` of every stage branch) |
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The project name.
    pub project: String,
    /// The stage name, for stage and service scopes.
    pub stage: Option<String>,
    /// The service name, for service and service-default scopes.
    pub service: Option<String>,
}

/// A [`Scope`] seen as one of its four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeLevel<'a> {
    /// Project-level resources on the default branch.
    Project,
    /// Stage-level resources at the root of the stage branch.
    Stage {
        /// The stage.
        stage: &'a str,
    },
    /// Service resources in one stage.
    Service {
        /// The stage.
        stage: &'a str,
        /// The service.
        service: &'a str,
    },
    /// Service default resources, written into every stage that has the service.
    ServiceDefault {
        /// The service.
        service: &'a str,
    },
}

impl Scope {
    /// The project-level scope.
    pub fn project(project: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            stage: None,
            service: None,
        }
    }

    /// The scope of one stage.
    pub fn stage(project: impl Into<String>, stage: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            stage: Some(stage.into()),
            service: None,
        }
    }

    /// The scope of one service in one stage.
    pub fn service(
        project: impl Into<String>,
        stage: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            project: project.into(),
            stage: Some(stage.into()),
            service: Some(service.into()),
        }
    }

    /// The default resources of a service: written into every stage that has the service.
    pub fn service_default(project: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            stage: None,
            service: Some(service.into()),
        }
    }

    /// The level of this scope.
    pub fn level(&self) -> ScopeLevel<'_> {
        match (self.stage.as_deref(), self.service.as_deref()) {
            (None, None) => ScopeLevel::Project,
            (Some(stage), None) => ScopeLevel::Stage { stage },
            (Some(stage), Some(service)) => ScopeLevel::Service { stage, service },
            (None, Some(service)) => ScopeLevel::ServiceDefault { service },
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let project = &self.project;
        match self.level() {
            ScopeLevel::Project => write!(f, "project '{project}'"),
            ScopeLevel::Stage { stage } => write!(f, "stage '{stage}' of project '{project}'"),
            ScopeLevel::Service { stage, service } => write!(
                f,
                "service '{service}' in stage '{stage}' of project '{project}'"
            ),
            ScopeLevel::ServiceDefault { service } => write!(
                f,
                "default resources of service '{service}' in project '{project}'"
            ),
        }
    }
}

/// A resource to write: a URI relative to its scope and its content as bytes.
///
/// Content is raw bytes; base64 is a concern of the HTTP edge only.
#[derive(Clone, PartialEq, Eq)]
pub struct Resource {
    /// The URI relative to the scope (`slo.yaml`, `helm/carts.tgz`, `jmeter/load.jmx`).
    pub uri: String,
    /// The content.
    pub content: Vec<u8>,
}

impl Resource {
    /// A resource with its URI and content.
    pub fn new(uri: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self {
            uri: uri.into(),
            content: content.into(),
        }
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("uri", &self.uri)
            .field("content_len", &self.content.len())
            .finish()
    }
}

/// A resource as read back, with where and at which version it was read.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredResource {
    /// The URI relative to the scope, as requested.
    pub uri: String,
    /// The content.
    pub content: Vec<u8>,
    /// Where the content was read.
    pub metadata: ResourceMetadata,
}

impl fmt::Debug for StoredResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredResource")
            .field("uri", &self.uri)
            .field("content_len", &self.content.len())
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// The `metadata` block of the resource-service responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMetadata {
    /// The branch the resource was read from (the default branch or the stage).
    pub branch: String,
    /// The project's upstream URL, when it has one (never with credentials).
    pub upstream_url: Option<String>,
    /// The commit the content was read at.
    pub version: GitCommitId,
}

/// How to read: at the branch tip or at a given commit, with or without pulling first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read at this commit (a sequence's `gitcommitid`) instead of the branch tip.
    pub at_commit: Option<GitCommitId>,
    /// Pull from the project's upstream before reading (the default). Ignored for projects without
    /// an upstream; with `at_commit`, the pull happens only when the commit is not known locally.
    pub sync_upstream: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            at_commit: None,
            sync_upstream: true,
        }
    }
}

impl ReadOptions {
    /// Read at the branch tip, pulling from the upstream first.
    pub fn latest() -> Self {
        Self::default()
    }

    /// Read at the given commit.
    pub fn at(commit: impl Into<GitCommitId>) -> Self {
        Self {
            at_commit: Some(commit.into()),
            sync_upstream: true,
        }
    }

    /// Do not pull from the upstream (`disableUpstreamSync=true`).
    pub fn without_upstream_sync(mut self) -> Self {
        self.sync_upstream = false;
        self
    }
}

/// How to create a project.
#[derive(Debug, Clone, Default)]
pub struct ProjectSetup {
    /// The `shipyard.yaml` to store on the default branch, if any.
    pub shipyard: Option<Vec<u8>>,
    /// The upstream repository to push to and pull from, if any.
    pub upstream: Option<Upstream>,
    /// The default branch. When `None`: the upstream's default branch if it has one, otherwise the
    /// store's configured default (`main`).
    pub default_branch: Option<String>,
}

/// A project's upstream repository: its URL and how to authenticate.
///
/// Only `http://`, `https://` and `ssh://` URLs are accepted (as in Keptn); a store may allow
/// `file://` URLs for tests and embedding. Credentials never go into the URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// The remote URL, without credentials.
    pub url: String,
    /// How to authenticate.
    pub credentials: UpstreamCredentials,
}

impl Upstream {
    /// An upstream without credentials.
    pub fn anonymous(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            credentials: UpstreamCredentials::None,
        }
    }

    /// An upstream with a user and an access token (https).
    pub fn with_token(
        url: impl Into<String>,
        user: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            credentials: UpstreamCredentials::Token {
                user: user.into(),
                token: token.into(),
            },
        }
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// Credentials for an upstream. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UpstreamCredentials {
    /// No authentication.
    #[default]
    None,
    /// A user and an access token, sent as basic authentication over http(s).
    Token {
        /// The user name.
        user: String,
        /// The access token (or password).
        token: String,
    },
    /// An SSH private key (PEM or OpenSSH format) and its passphrase. The user comes from the URL
    /// (`ssh://git@host/...`), `git` when the URL has none.
    SshKey {
        /// The private key.
        private_key: String,
        /// The passphrase of the key, if it has one.
        passphrase: Option<String>,
    },
}

impl fmt::Debug for UpstreamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamCredentials::None => f.write_str("None"),
            UpstreamCredentials::Token { user, .. } => f
                .debug_struct("Token")
                .field("user", user)
                .field("token", &"<redacted>")
                .finish(),
            UpstreamCredentials::SshKey { passphrase, .. } => f
                .debug_struct("SshKey")
                .field("private_key", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_of_stage_and_service_is_a_level() {
        assert_eq!(Scope::project("p").level(), ScopeLevel::Project);
        assert_eq!(
            Scope::stage("p", "dev").level(),
            ScopeLevel::Stage { stage: "dev" }
        );
        assert_eq!(
            Scope::service("p", "dev", "carts").level(),
            ScopeLevel::Service {
                stage: "dev",
                service: "carts"
            }
        );
        assert_eq!(
            Scope::service_default("p", "carts").level(),
            ScopeLevel::ServiceDefault { service: "carts" }
        );
        assert_eq!(
            Scope::service("p", "dev", "carts").to_string(),
            "service 'carts' in stage 'dev' of project 'p'"
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let up = Upstream::with_token("https://example.com/r.git", "me", "s3cr3t");
        let text = format!("{up:?}");
        assert!(text.contains("me") && !text.contains("s3cr3t"), "{text}");
        let ssh = UpstreamCredentials::SshKey {
            private_key: "-----BEGIN KEY-----".into(),
            passphrase: Some("pw".into()),
        };
        let text = format!("{ssh:?}");
        assert!(!text.contains("BEGIN") && !text.contains("pw\""), "{text}");
    }
}
