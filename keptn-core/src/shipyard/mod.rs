//! The shipyard: the stages of a project, the sequences of each stage and their tasks.
//!
//! [`Shipyard::parse`] reads a `spec.keptn.sh/0.2.x` shipyard, or a 0.1 shipyard of Keptn 0.6/0.7
//! which it converts to an equivalent 0.2 one (see [`convert_v01`] and `docs/shipyard.md`).
//! Parsing validates as it goes and reports every problem with its path:
//!
//! ```
//! use keptn_core::shipyard::Shipyard;
//!
//! let err = Shipyard::parse(r#"
//! apiVersion: spec.keptn.sh/0.2.2
//! kind: Shipyard
//! metadata: {name: demo}
//! spec:
//!   stages:
//!     - name: dev
//!       sequences:
//!         - name: delivery
//!           tasks:
//!             - name: deployment
//!             - name: evaluation
//!               triggeredAfter: "10x"
//! "#).unwrap_err();
//! assert!(err.to_string().contains(
//!     r#"spec.stages[0].sequences[0].tasks[1].triggeredAfter: "10x" is not a duration"#));
//! ```
//!
//! A parsed shipyard answers the questions of the orchestrator: which sequence to run for
//! `<stage>.<sequence>.triggered` ([`Shipyard::resolve_sequence`], including the built-in
//! evaluation sequence), and which sequences a finished sequence triggers
//! ([`Shipyard::triggers_of`]).

mod duration;
mod error;
mod parse;
mod v01;
mod validate;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use duration::{DurationError, GoDuration, format_duration, parse_nanos};
pub use error::{Issue, ShipyardError};
pub use parse::{ParsedShipyard, SourceFormat, parse_document};
pub use v01::{ApprovalStrategyV01, ShipyardV01, StageV01, convert_v01};
pub use validate::{is_valid_stage_name, validate_stage_update};

/// The `apiVersion` prefix of shipyards.
pub const API_VERSION_PREFIX: &str = "spec.keptn.sh/";
/// The `apiVersion` of shipyards converted from the 0.1 format (the version Keptn's own
/// converter wrote).
pub const CONVERTED_API_VERSION: &str = "spec.keptn.sh/0.2.0";
/// The name of the sequence Keptn provides in every stage that does not declare it.
pub const BUILTIN_EVALUATION_SEQUENCE: &str = "evaluation";
/// The task whose `.triggered` event puts a sequence in `waitingForApproval`.
pub const APPROVAL_TASK: &str = "approval";

/// A shipyard (`kind: Shipyard`, `apiVersion: spec.keptn.sh/0.2.x`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipyard {
    /// `spec.keptn.sh/0.2.x`.
    pub api_version: String,
    /// `Shipyard`.
    pub kind: String,
    /// Name of the shipyard.
    #[serde(default)]
    pub metadata: Metadata,
    /// The stages.
    pub spec: ShipyardSpec,
}

/// `metadata` of a shipyard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The shipyard's name.
    #[serde(default)]
    pub name: String,
}

/// `spec` of a shipyard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipyardSpec {
    /// The stages, in promotion order. Each stage is also a branch of the project's repository.
    pub stages: Vec<Stage>,
}

/// A stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// The stage name.
    pub name: String,
    /// The sequences that can run in this stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequences: Vec<Sequence>,
}

/// A sequence of tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sequence {
    /// The sequence name.
    pub name: String,
    /// The finished sequences that trigger this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_on: Vec<Trigger>,
    /// The tasks, run one after the other.
    pub tasks: Vec<Task>,
}

/// One `triggeredOn` entry: `<stage>.<sequence>.finished`, optionally with a selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// `<stage>.<sequence>.finished`.
    pub event: String,
    /// Which results fire the trigger; without one, `pass` and `warning` do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
}

/// `selector` of a trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// `result: <value>` or `<task>.result: <value>`, compared literally with the result of the
    /// finished sequence.
    #[serde(rename = "match", default)]
    pub match_: BTreeMap<String, String>,
}

/// A task of a sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task name: executors subscribe to `sh.keptn.event.<name>.triggered`.
    pub name: String,
    /// Wait this long before sending the task's `.triggered` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_after: Option<GoDuration>,
    /// An extension of this implementation (Keptn issue 4624): the task must finish within this
    /// duration after its `.triggered` event was sent, or the sequence times out. Absent by
    /// default, so that only Keptn's wait for a first `.started` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Merged into `data.<name>` of the task's `.triggered` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
}

/// Why a sequence cannot be started from a shipyard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The shipyard has no such stage.
    #[error("no stage with name {0}")]
    UnknownStage(String),
    /// The stage has no such sequence.
    #[error("no task sequence with name {sequence} found in stage {stage}")]
    UnknownSequence {
        /// The stage.
        stage: String,
        /// The sequence.
        sequence: String,
    },
    /// The sequence declares no task.
    #[error("task sequence {sequence} in stage {stage} does not contain any tasks")]
    NoTasks {
        /// The stage.
        stage: String,
        /// The sequence.
        sequence: String,
    },
}

/// A sequence that a finished sequence triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTarget {
    /// The stage of the triggered sequence.
    pub stage: String,
    /// The triggered sequence.
    pub sequence: String,
    /// The selector of the trigger (`None`: fires on pass and warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
}

impl ChainTarget {
    /// Whether the trigger fires for a finished sequence with `result` whose last executed task is
    /// `last_task`: without a selector on `pass` or `warning`; with one when `match.result` or
    /// `match["<last_task>.result"]` equals `result` literally.
    pub fn fires(&self, result: &str, last_task: Option<&str>) -> bool {
        match &self.selector {
            None => matches!(result, "pass" | "warning"),
            Some(selector) => {
                selector.get("result").is_some_and(|v| v == result)
                    || last_task.is_some_and(|task| {
                        selector
                            .get(&format!("{task}.result"))
                            .is_some_and(|v| v == result)
                    })
            }
        }
    }
}

impl Shipyard {
    /// Parses and validates a shipyard (0.2.x, or 0.1 converted to 0.2).
    pub fn parse(yaml: &str) -> Result<Self, ShipyardError> {
        parse_document(yaml).map(|parsed| parsed.shipyard)
    }

    /// Validates a shipyard built in code, with the rules [`Shipyard::parse`] applies.
    pub fn validate(&self) -> Result<(), ShipyardError> {
        let issues = validate::validate(self);
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ShipyardError::Invalid(issues))
        }
    }

    /// The shipyard as YAML.
    pub fn to_yaml(&self) -> String {
        // A shipyard is plain data with string keys: serializing it cannot fail.
        serde_norway::to_string(self).unwrap_or_default()
    }

    /// A stage by name.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.spec.stages.iter().find(|s| s.name == name)
    }

    /// The names of the stages in promotion order.
    pub fn stage_names(&self) -> impl Iterator<Item = &str> {
        self.spec.stages.iter().map(|s| s.name.as_str())
    }

    /// The sequence to run for `sh.keptn.event.<stage>.<sequence>.triggered`: the declared one,
    /// or the built-in `evaluation` sequence (one `evaluation` task) when the stage declares no
    /// sequence of that name.
    pub fn resolve_sequence(
        &self,
        stage: &str,
        sequence: &str,
    ) -> Result<Cow<'_, Sequence>, LookupError> {
        let found = self
            .stage(stage)
            .ok_or_else(|| LookupError::UnknownStage(stage.to_owned()))?;
        match found.sequences.iter().find(|s| s.name == sequence) {
            Some(seq) if seq.tasks.is_empty() => Err(LookupError::NoTasks {
                stage: stage.to_owned(),
                sequence: sequence.to_owned(),
            }),
            Some(seq) => Ok(Cow::Borrowed(seq)),
            None if sequence == BUILTIN_EVALUATION_SEQUENCE => {
                Ok(Cow::Owned(Sequence::builtin_evaluation()))
            }
            None => Err(LookupError::UnknownSequence {
                stage: stage.to_owned(),
                sequence: sequence.to_owned(),
            }),
        }
    }

    /// Every sequence whose `triggeredOn` names `<stage>.<sequence>.finished`, in shipyard order.
    pub fn triggers_of(&self, stage: &str, sequence: &str) -> Vec<ChainTarget> {
        let event = format!("{stage}.{sequence}.finished");
        let mut targets = Vec::new();
        for s in &self.spec.stages {
            for q in &s.sequences {
                for trigger in q.triggered_on.iter().filter(|t| t.event == event) {
                    targets.push(ChainTarget {
                        stage: s.name.clone(),
                        sequence: q.name.clone(),
                        selector: trigger.selector.as_ref().map(|sel| sel.match_.clone()),
                    });
                }
            }
        }
        targets
    }
}

impl Sequence {
    /// The built-in `evaluation` sequence: one `evaluation` task.
    pub fn builtin_evaluation() -> Self {
        Sequence {
            name: BUILTIN_EVALUATION_SEQUENCE.to_owned(),
            triggered_on: Vec::new(),
            tasks: vec![Task {
                name: "evaluation".to_owned(),
                ..Task::default()
            }],
        }
    }
}
