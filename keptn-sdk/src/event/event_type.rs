//! Keptn event types: `sh.keptn.event.<task>.<phase>` and `sh.keptn.event.<stage>.<sequence>.<phase>`.
//!
//! A type is classified by its segments after the `sh.keptn.event.` prefix, as Keptn does:
//! one segment before the phase is a task, two are a stage and a sequence. Two exceptions
//! are resolved here rather than left to callers:
//!
//! - the phase `status.changed` has a dot, so `sh.keptn.event.deployment.status.changed` is the
//!   task `deployment` in phase [`Phase::StatusChanged`], never the stage `deployment` with the
//!   sequence `status`;
//! - the control plane's lifecycle tasks contain a dot (`project.create`, `service.delete`, ...);
//!   those names are recognised and parsed as tasks.
//!
//! Everything else that does not fit the grammar is kept verbatim as [`EventType::Other`]; the
//! other types Keptn itself uses (`sh.keptn.log.error`, `sh.keptn.events.problem`, ...) are
//! recognised by [`EventType::is_known_other`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix of every Keptn task and sequence event type.
pub const EVENT_TYPE_PREFIX: &str = "sh.keptn.event.";

/// The error event services send when something other than a triggered task failed.
pub const LOG_ERROR_EVENT_TYPE: &str = "sh.keptn.log.error";
/// The generic problem event of monitoring integrations.
pub const PROBLEM_EVENT_TYPE: &str = "sh.keptn.events.problem";
/// The legacy monitoring configuration event.
pub const MONITORING_CONFIGURE_EVENT_TYPE: &str = "sh.keptn.event.monitoring.configure";

/// Keptn's own event types that are neither tasks nor sequences, including the fixed names of
/// Keptn 0.6/0.7 (spec 0.1.x) that still reach the control plane from old integrations.
pub const KNOWN_OTHER_TYPES: &[&str] = &[
    LOG_ERROR_EVENT_TYPE,
    PROBLEM_EVENT_TYPE,
    MONITORING_CONFIGURE_EVENT_TYPE,
    "sh.keptn.event.problem.open",
    "sh.keptn.event.configuration.change",
    "sh.keptn.events.deployment-finished",
    "sh.keptn.events.tests-finished",
    "sh.keptn.event.start-evaluation",
    "sh.keptn.events.evaluation-done",
    "sh.keptn.internal.event.get-sli",
    "sh.keptn.internal.event.get-sli.done",
    "sh.keptn.internal.event.project.create",
    "sh.keptn.internal.event.project.delete",
    "sh.keptn.internal.event.service.create",
];

/// Task names of the control plane's lifecycle events, which contain a dot.
pub const DOTTED_TASK_NAMES: &[&str] = &[
    "project.create",
    "project.delete",
    "project.update",
    "service.create",
    "service.delete",
    "service.update",
    "stage.create",
];

/// The phase of a task or sequence event: its last segment(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Phase {
    /// `triggered`: somebody asks for the task or sequence to run.
    Triggered,
    /// `started`: an executor took the task.
    Started,
    /// `status.changed`: an executor reports progress (tasks only).
    StatusChanged,
    /// `finished`: an executor (or the controller, for sequences) is done.
    Finished,
    /// `invalidated`: an earlier result must be ignored (used for evaluations).
    Invalidated,
}

impl Phase {
    /// The phase as it appears in an event type.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Triggered => "triggered",
            Phase::Started => "started",
            Phase::StatusChanged => "status.changed",
            Phase::Finished => "finished",
            Phase::Invalidated => "invalidated",
        }
    }

    fn from_segment(segment: &str) -> Option<Self> {
        match segment {
            "triggered" => Some(Phase::Triggered),
            "started" => Some(Phase::Started),
            "finished" => Some(Phase::Finished),
            "invalidated" => Some(Phase::Invalidated),
            _ => None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed event type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `sh.keptn.event.<task>.<phase>`
    Task {
        /// The task name, e.g. `deployment` or `project.create`.
        task: String,
        /// The phase.
        phase: Phase,
    },
    /// `sh.keptn.event.<stage>.<sequence>.<phase>`
    Sequence {
        /// The stage name.
        stage: String,
        /// The sequence name.
        sequence: String,
        /// The phase (`triggered`, `started` or `finished`).
        phase: Phase,
    },
    /// Any other type, kept verbatim.
    Other(String),
}

impl EventType {
    /// A task event type.
    pub fn task(task: impl Into<String>, phase: Phase) -> Self {
        EventType::Task {
            task: task.into(),
            phase,
        }
    }

    /// A sequence event type.
    pub fn sequence(stage: impl Into<String>, sequence: impl Into<String>, phase: Phase) -> Self {
        EventType::Sequence {
            stage: stage.into(),
            sequence: sequence.into(),
            phase,
        }
    }

    /// Classifies a type string. Never fails: what is not a task or sequence type becomes
    /// [`EventType::Other`].
    pub fn parse(s: &str) -> Self {
        Self::classify(s).unwrap_or_else(|| EventType::Other(s.to_owned()))
    }

    fn classify(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(EVENT_TYPE_PREFIX)?;
        if let Some(task) = rest.strip_suffix(".status.changed") {
            let known = !task.contains('.') || DOTTED_TASK_NAMES.contains(&task);
            return (valid_task_name(task) && known)
                .then(|| EventType::task(task, Phase::StatusChanged));
        }
        let (head, phase) = rest.rsplit_once('.')?;
        let phase = Phase::from_segment(phase)?;
        if valid_task_name(head) && (!head.contains('.') || DOTTED_TASK_NAMES.contains(&head)) {
            return Some(EventType::task(head, phase));
        }
        let (stage, sequence) = head.split_once('.')?;
        if stage.is_empty() || sequence.is_empty() || sequence.contains('.') {
            return None;
        }
        matches!(phase, Phase::Triggered | Phase::Started | Phase::Finished)
            .then(|| EventType::sequence(stage, sequence, phase))
    }

    /// Parses a type that must be a Keptn task or sequence type (or one of Keptn's other known
    /// types), with an error that says what is wrong with it.
    pub fn parse_strict(s: &str) -> Result<Self, EventTypeError> {
        if s.is_empty() {
            return Err(EventTypeError::new(s, "the type is empty"));
        }
        match Self::parse(s) {
            EventType::Other(other) if !KNOWN_OTHER_TYPES.contains(&other.as_str()) => {
                Err(EventTypeError::new(s, Self::explain(s)))
            }
            parsed => Ok(parsed),
        }
    }

    fn explain(s: &str) -> &'static str {
        let Some(rest) = s.strip_prefix(EVENT_TYPE_PREFIX) else {
            return "expected sh.keptn.event.<task>.<phase> or sh.keptn.event.<stage>.<sequence>.<phase>";
        };
        let Some((head, phase)) = rest.rsplit_once('.') else {
            return "the type has no phase";
        };
        if Phase::from_segment(phase).is_none() {
            return "unknown phase: expected triggered, started, status.changed, finished or invalidated";
        }
        if head.split('.').any(str::is_empty) {
            return "the type has an empty segment";
        }
        if head.split('.').count() == 2 {
            return "sequence events only have the phases triggered, started and finished";
        }
        "too many segments: expected sh.keptn.event.<task>.<phase> or sh.keptn.event.<stage>.<sequence>.<phase>"
    }

    /// The phase of a task or sequence type.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            EventType::Task { phase, .. } | EventType::Sequence { phase, .. } => Some(*phase),
            EventType::Other(_) => None,
        }
    }

    /// Whether this is a task type.
    pub fn is_task(&self) -> bool {
        matches!(self, EventType::Task { .. })
    }

    /// Whether this is a sequence type.
    pub fn is_sequence(&self) -> bool {
        matches!(self, EventType::Sequence { .. })
    }

    /// The task name of a task type.
    pub fn task_name(&self) -> Option<&str> {
        match self {
            EventType::Task { task, .. } => Some(task),
            _ => None,
        }
    }

    /// Whether this is one of Keptn's own types that are neither tasks nor sequences.
    pub fn is_known_other(&self) -> bool {
        matches!(self, EventType::Other(s) if KNOWN_OTHER_TYPES.contains(&s.as_str()))
    }

    /// The same task or sequence in another phase (`Other` types are returned unchanged).
    pub fn with_phase(&self, phase: Phase) -> Self {
        match self {
            EventType::Task { task, .. } => EventType::task(task.clone(), phase),
            EventType::Sequence {
                stage, sequence, ..
            } => EventType::sequence(stage.clone(), sequence.clone(), phase),
            EventType::Other(s) => EventType::Other(s.clone()),
        }
    }
}

fn valid_task_name(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(|segment| !segment.is_empty())
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventType::Task { task, phase } => write!(f, "{EVENT_TYPE_PREFIX}{task}.{phase}"),
            EventType::Sequence {
                stage,
                sequence,
                phase,
            } => write!(f, "{EVENT_TYPE_PREFIX}{stage}.{sequence}.{phase}"),
            EventType::Other(s) => f.write_str(s),
        }
    }
}

impl FromStr for EventType {
    type Err = EventTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_strict(s)
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(EventType::parse(&s))
    }
}

/// A type string that is not a Keptn event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event type {value:?}: {reason}")]
pub struct EventTypeError {
    /// The rejected type.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl EventTypeError {
    fn new(value: &str, reason: &'static str) -> Self {
        Self {
            value: value.to_owned(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_types_parse_and_format() {
        let t = EventType::parse("sh.keptn.event.deployment.triggered");
        assert_eq!(t, EventType::task("deployment", Phase::Triggered));
        assert_eq!(t.to_string(), "sh.keptn.event.deployment.triggered");
    }

    #[test]
    fn sequence_types_parse_and_format() {
        let t = EventType::parse("sh.keptn.event.dev.delivery.triggered");
        assert_eq!(t, EventType::sequence("dev", "delivery", Phase::Triggered));
        assert_eq!(t.to_string(), "sh.keptn.event.dev.delivery.triggered");
    }

    #[test]
    fn status_changed_is_a_task_phase_not_a_sequence() {
        let t = EventType::parse("sh.keptn.event.deployment.status.changed");
        assert_eq!(t, EventType::task("deployment", Phase::StatusChanged));
        assert_eq!(t.to_string(), "sh.keptn.event.deployment.status.changed");
    }

    #[test]
    fn lifecycle_tasks_with_dots_are_tasks() {
        let t = EventType::parse("sh.keptn.event.project.create.finished");
        assert_eq!(t, EventType::task("project.create", Phase::Finished));
        let t = EventType::parse("sh.keptn.event.service.delete.started");
        assert_eq!(t, EventType::task("service.delete", Phase::Started));
    }

    #[test]
    fn invalidated_is_a_task_phase() {
        let t = EventType::parse("sh.keptn.event.evaluation.invalidated");
        assert_eq!(t, EventType::task("evaluation", Phase::Invalidated));
    }

    #[test]
    fn other_keptn_types_are_recognised() {
        for s in [
            LOG_ERROR_EVENT_TYPE,
            PROBLEM_EVENT_TYPE,
            MONITORING_CONFIGURE_EVENT_TYPE,
        ] {
            let t = EventType::parse_strict(s).unwrap();
            assert!(t.is_known_other(), "{s}");
            assert_eq!(t.to_string(), s);
        }
    }

    #[test]
    fn malformed_types_are_rejected_with_a_reason() {
        for (s, needle) in [
            ("", "empty"),
            ("com.example.thing", "expected sh.keptn.event"),
            ("sh.keptn.event.deployment.done", "unknown phase"),
            ("sh.keptn.event..triggered", "empty segment"),
            ("sh.keptn.event.a.b.c.triggered", "too many segments"),
            ("sh.keptn.event.dev.delivery.invalidated", "sequence events"),
        ] {
            let err = EventType::parse_strict(s).unwrap_err();
            assert!(err.to_string().contains(needle), "{s}: {err}");
        }
    }

    #[test]
    fn with_phase_keeps_the_task() {
        let t = EventType::task("test", Phase::Triggered);
        assert_eq!(
            t.with_phase(Phase::Finished).to_string(),
            "sh.keptn.event.test.finished"
        );
    }
}
