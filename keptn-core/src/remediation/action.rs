//! Action providers: what executes an `action.triggered`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::{ActionInfo, ProblemDetails};

use crate::deploy::{DeployErrorKind, Deployer, ReplicaChange, ServiceScope};

/// The action id of scaling.
pub const SCALING: &str = "scaling";

/// An action to execute (from `action.triggered`).
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// The service with the problem.
    pub scope: ServiceScope,
    /// The action.
    pub action: ActionInfo,
    /// The problem, if the event carried it.
    pub problem: Option<ProblemDetails>,
    /// The Keptn context of the remediation sequence, if known.
    pub keptn_context: Option<String>,
}

impl ActionRequest {
    /// The action id (`action.action`), empty when absent.
    pub fn action_id(&self) -> &str {
        self.action.action.as_deref().unwrap_or("")
    }
}

/// What an executed action reports in `action.finished` (status `succeeded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// `pass` when the action was applied, `fail` when it could not be (e.g. a bad value).
    pub result: KeptnResult,
    /// A human-readable account.
    pub message: String,
}

/// What kind of failure an [`ActionError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionErrorKind {
    /// The provider's own configuration is invalid.
    InvalidConfig,
    /// The action could not be carried out for a technical reason (the target failed or
    /// could not be reached).
    Failed,
}

/// A technical failure of an action; the `action.finished` is errored / fail.
#[derive(Debug)]
pub struct ActionError {
    kind: ActionErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ActionError {
    /// An error of `kind`.
    pub fn new(kind: ActionErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> ActionErrorKind {
        self.kind
    }

    /// The message followed by every cause: what `action.finished` reports.
    pub fn report(&self) -> String {
        let mut text = self.message.clone();
        let mut cause = self.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ActionError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Executes remediation actions.
///
/// # Contract
///
/// - [`handles`](ActionProvider::handles) decides from the action alone, without I/O; an
///   action no provider handles is left alone (no `.started`, no `.finished`), as Keptn's
///   action providers ignore actions of others.
/// - [`execute`](ActionProvider::execute) returns `Ok` with `fail` when the action's input is
///   unusable (status succeeded, as Keptn reports a bad scaling value) and `Err` for a
///   technical failure (status errored). It is bounded in time.
#[async_trait]
pub trait ActionProvider: Send + Sync + fmt::Debug {
    /// Whether this provider executes `action`.
    fn handles(&self, action: &ActionInfo) -> bool;

    /// Executes it.
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ActionError>;
}

/// The providers of a control plane, asked in order.
#[derive(Debug, Clone, Default)]
pub struct ActionProviders {
    providers: Vec<Arc<dyn ActionProvider>>,
}

impl ActionProviders {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider after the others.
    pub fn with(mut self, provider: Arc<dyn ActionProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// The first provider that handles `action`.
    pub fn find(&self, action: &ActionInfo) -> Option<&Arc<dyn ActionProvider>> {
        self.providers.iter().find(|p| p.handles(action))
    }
}

/// The `scaling` action: adds replicas to the serving version through a [`Deployer`]
/// (value `1`, `"1"`, `"+1"`, `"-1"`, or `{"replicas": N}` to set the count).
#[derive(Debug, Clone)]
pub struct ScalingActionProvider {
    deployer: Arc<dyn Deployer>,
}

impl ScalingActionProvider {
    /// Scales through `deployer`.
    pub fn new(deployer: Arc<dyn Deployer>) -> Self {
        Self { deployer }
    }
}

#[async_trait]
impl ActionProvider for ScalingActionProvider {
    fn handles(&self, action: &ActionInfo) -> bool {
        action.action.as_deref() == Some(SCALING)
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ActionError> {
        let value = request.action.value.clone().unwrap_or_default();
        let change = match ReplicaChange::from_action_value(&value) {
            Ok(change) => change,
            Err(e) => {
                return Ok(ActionOutcome {
                    result: KeptnResult::Fail,
                    message: format!("could not parse action.value: {}", e.message()),
                });
            }
        };
        match self.deployer.scale(&request.scope, change).await {
            Ok(outcome) => Ok(ActionOutcome {
                result: KeptnResult::Pass,
                message: outcome.message,
            }),
            // A count out of bounds is a bad value, not a broken deployer.
            Err(e) if e.kind() == DeployErrorKind::InvalidInput => Ok(ActionOutcome {
                result: KeptnResult::Fail,
                message: e.report(),
            }),
            Err(e) => Err(ActionError::new(
                ActionErrorKind::Failed,
                format!("scaling {} failed", request.scope),
            )
            .with_source(e)),
        }
    }
}
