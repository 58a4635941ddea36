//! The persisted model of orchestration: sequence executions and their tasks.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use keptn_sdk::event::{
    EventId, EventType, GitCommitId, KeptnContext, KeptnEvent, KeptnResult, Phase, Status,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::payload::{controller_event, task_payload};
use crate::shipyard::{ChainTarget, Sequence};

/// The state of a sequence execution (and, in the materialized view, of a stage or a whole
/// sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ExecutionState {
    /// Received, not yet looked at by the dispatcher.
    Triggered,
    /// Queued behind another sequence of the same project, stage and service.
    Waiting,
    /// Running: one of its tasks is open (or delayed).
    Started,
    /// Its `approval` task is open; does not block other sequences of the service.
    WaitingForApproval,
    /// Paused by a user; `state_before_pause` tells what it was doing.
    Paused,
    /// Done (its `.finished` event was sent).
    Finished,
    /// Aborted by a user.
    Aborted,
    /// A task got no answer in time.
    TimedOut,
}

impl ExecutionState {
    /// Every state.
    pub const ALL: [ExecutionState; 8] = [
        ExecutionState::Triggered,
        ExecutionState::Waiting,
        ExecutionState::Started,
        ExecutionState::WaitingForApproval,
        ExecutionState::Paused,
        ExecutionState::Finished,
        ExecutionState::Aborted,
        ExecutionState::TimedOut,
    ];

    /// The state as Keptn names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Triggered => "triggered",
            ExecutionState::Waiting => "waiting",
            ExecutionState::Started => "started",
            ExecutionState::WaitingForApproval => "waitingForApproval",
            ExecutionState::Paused => "paused",
            ExecutionState::Finished => "finished",
            ExecutionState::Aborted => "aborted",
            ExecutionState::TimedOut => "timedOut",
        }
    }

    /// Whether the execution is over.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            ExecutionState::Finished | ExecutionState::Aborted | ExecutionState::TimedOut
        )
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not an [`ExecutionState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "state: {0:?} is not one of triggered, waiting, started, waitingForApproval, paused, finished, aborted or timedOut"
)]
pub struct UnknownState(pub String);

impl FromStr for ExecutionState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// One run of a sequence in one stage for one service, started by one `.triggered` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequenceExecution {
    /// Identifier of the execution (a UUID).
    pub id: String,
    /// Project.
    pub project: String,
    /// Stage.
    pub stage: String,
    /// Service.
    pub service: String,
    /// The Keptn context shared by every event of the flow.
    pub keptn_context: KeptnContext,
    /// Id of the `<stage>.<sequence>.triggered` event; unique.
    pub triggered_id: EventId,
    /// The configuration commit every task works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit_id: Option<GitCommitId>,
    /// The sequence definition, as the shipyard at the trigger's commit declared it.
    pub sequence: Sequence,
    /// The sequences that this one's `.finished` event may trigger, from the same shipyard.
    #[serde(default)]
    pub chain: Vec<ChainTarget>,
    /// `data` of the trigger.
    pub input: Value,
    /// The trigger's time: executions of one service run in this order.
    pub triggered_at: DateTime<Utc>,
    /// Arrival order, to break ties between equal trigger times.
    pub arrival: u64,
    /// Current state.
    pub state: ExecutionState,
    /// The state to return to on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_before_pause: Option<ExecutionState>,
    /// Completed tasks, in order.
    #[serde(default)]
    pub previous_tasks: Vec<TaskResult>,
    /// The open (or delayed, or held) task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_task: Option<CurrentTask>,
    /// How the execution ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl SequenceExecution {
    /// The name of the sequence.
    pub fn sequence_name(&self) -> &str {
        &self.sequence.name
    }

    /// The state the execution is in or, when paused, the one it will return to.
    pub fn effective_state(&self) -> ExecutionState {
        match (self.state, self.state_before_pause) {
            (ExecutionState::Paused, Some(before)) => before,
            (state, _) => state,
        }
    }

    /// Whether the execution holds its service's slot in its stage: it is running a task (or
    /// waiting for a delayed one), or was when it got paused. `waitingForApproval` does not hold
    /// the slot.
    pub fn holds_slot(&self) -> bool {
        self.effective_state() == ExecutionState::Started
    }

    /// Whether the execution waits in the queue of its project, stage and service.
    pub fn is_queued(&self) -> bool {
        matches!(
            self.state,
            ExecutionState::Triggered | ExecutionState::Waiting
        )
    }

    /// The `.triggered` event of the current task as it is (or will be) sent at `time`. Its data
    /// is a function of the trigger, the completed tasks and the task's properties, so it is
    /// rebuilt rather than stored.
    pub fn current_task_event(&self, time: DateTime<Utc>) -> Option<KeptnEvent> {
        let task = self.current_task.as_ref()?;
        let definition = self.sequence.tasks.get(task.index);
        let mut event = controller_event(
            EventType::task(&task.name, Phase::Triggered),
            &self.keptn_context,
            None,
            self.git_commit_id.as_ref(),
            task_payload(self, definition),
            time,
        );
        event.id = task.triggered_id.clone();
        Some(event)
    }

    /// The open `.triggered` event of the current task: sent and not yet answered by as many
    /// `.finished` as `.started` events.
    pub fn open_task_event(&self) -> Option<KeptnEvent> {
        let task = self.current_task.as_ref()?;
        let sent_at = task.sent_at.filter(|_| !task.is_complete())?;
        self.current_task_event(sent_at)
    }
}

/// The outcome of a finished execution, as its `.finished` event reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Status.
    pub status: Status,
    /// Result.
    pub result: KeptnResult,
    /// Message.
    #[serde(default)]
    pub message: String,
}

/// A completed task with its aggregated outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// Task name.
    pub name: String,
    /// Id of the task's `.triggered` event.
    #[serde(rename = "triggeredID")]
    pub triggered_id: EventId,
    /// Aggregated result.
    pub result: KeptnResult,
    /// Aggregated status.
    pub status: Status,
    /// The `data` of every `.finished` event of the task, merged in arrival order.
    pub properties: Value,
    /// The message of the task's last `.finished` event.
    #[serde(default)]
    pub message: String,
}

/// The task a sequence is at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentTask {
    /// Task name.
    pub name: String,
    /// Position in the sequence.
    pub index: usize,
    /// Id of the task's `.triggered` event.
    #[serde(rename = "triggeredID")]
    pub triggered_id: EventId,
    /// When the event may be sent (later than its creation with `triggeredAfter`).
    pub send_at: DateTime<Utc>,
    /// When the event was handed to the outbox; `None` while delayed or held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// The `.started` and `.finished` events received, in arrival order.
    #[serde(default)]
    pub events: Vec<TaskEvent>,
}

impl CurrentTask {
    /// Whether the task is complete: as many `.finished` as `.started` events, and at least one.
    pub fn is_complete(&self) -> bool {
        let started = self
            .events
            .iter()
            .filter(|e| e.phase == TaskPhase::Started)
            .count();
        let finished = self.events.len() - started;
        finished > 0 && started == finished
    }
}

/// `.started` or `.finished`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskPhase {
    /// An executor took the task.
    Started,
    /// An executor is done.
    Finished,
}

/// A response to a task's `.triggered` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// The event id.
    pub id: EventId,
    /// Started or finished.
    pub phase: TaskPhase,
    /// Who answered.
    pub source: String,
    /// `data.result` as sent (any string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// `data.status` as sent (any string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Event time.
    pub time: DateTime<Utc>,
    /// `data` of a `.finished` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A pause set on a Keptn context, for all its stages or for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PauseKey {
    /// Project.
    pub project: String,
    /// The paused context.
    pub keptn_context: KeptnContext,
    /// The paused stage; `None` pauses every stage.
    pub stage: Option<String>,
}
