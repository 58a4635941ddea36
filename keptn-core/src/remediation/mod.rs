//! Remediation (the role of Keptn's remediation-service and of action providers).
//!
//! In Keptn 1.x a remediation is a shipyard sequence: `get-action` chooses an action from the
//! service's `remediation.yaml` ([`RemediationFile`], [`select_action`],
//! [`get_action_finished`]); `action` executes it through an [`ActionProvider`] (`scaling`
//! through a [`Deployer`](crate::deploy::Deployer) with [`ScalingActionProvider`], anything
//! with a URL through the `webhook` provider of feature `execution`); `evaluation` checks
//! whether the problem is gone, and a failed evaluation re-triggers the sequence with the
//! next action index (escalation). `docs/remediation.md` has the details.
//!
//! ```
//! use keptn_core::remediation::{RemediationFile, select_action};
//! use keptn_sdk::event::payload::ProblemDetails;
//!
//! let file = RemediationFile::parse(br#"
//! apiVersion: spec.keptn.sh/0.1.4
//! kind: Remediation
//! spec:
//!   remediations:
//!     - problemType: Response time degradation
//!       actionsOnOpen:
//!         - {name: scaling, action: scaling, description: Scale up, value: 1}
//! "#)?;
//! let problem = ProblemDetails {
//!     problem_title: Some("Response time degradation".into()),
//!     ..Default::default()
//! };
//! let chosen = select_action(&file, &problem, 0).expect("an action");
//! assert_eq!(chosen.action.action.as_deref(), Some("scaling"));
//! assert_eq!(chosen.next_index(), 1);
//! let none = select_action(&file, &problem, 1).unwrap_err();
//! assert_eq!(none.to_string(), "there is no action with index 1 for problem title Response time degradation");
//! # Ok::<(), keptn_core::remediation::RemediationFileError>(())
//! ```

mod action;
mod model;
mod select;
#[cfg(feature = "execution")]
mod webhook;

pub use action::{
    ActionError, ActionErrorKind, ActionOutcome, ActionProvider, ActionProviders, ActionRequest,
    SCALING, ScalingActionProvider,
};
pub use model::{
    DEFAULT_PROBLEM_TYPE, REMEDIATION_API_VERSION, REMEDIATION_PATH, Remediation,
    RemediationAction, RemediationFile, RemediationFileError, RemediationFormat,
};
pub use select::{ActionSelection, MatchedBy, SelectionError, get_action_finished, select_action};
#[cfg(feature = "execution")]
pub use webhook::{WEBHOOKS_PATH, WebhookActionProvider};
