//! Row encoding shared by the SQL backends: indexed columns next to a JSON body.

use chrono::{DateTime, Utc};
use keptn_sdk::event::KeptnEvent;

use super::{SequenceStoreError, SequenceStoreErrorKind};
use crate::orchestrator::model::SequenceExecution;
use crate::orchestrator::view::SequenceState;

/// Microseconds since the epoch: sortable, exact and portable across databases.
pub(super) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// The columns of an execution row, borrowed from the execution except its JSON body.
#[derive(Debug)]
pub(super) struct ExecutionRow<'a> {
    pub(super) id: &'a str,
    pub(super) project: &'a str,
    pub(super) stage: &'a str,
    pub(super) service: &'a str,
    pub(super) keptn_context: &'a str,
    pub(super) sequence_name: &'a str,
    pub(super) triggered_id: &'a str,
    pub(super) state: &'static str,
    pub(super) active: bool,
    pub(super) current_triggered_id: Option<&'a str>,
    pub(super) current_task: Option<&'a str>,
    /// The current task was sent and is not complete: its `.triggered` event is open.
    pub(super) task_open: bool,
    pub(super) triggered_at: i64,
    pub(super) arrival: i64,
    pub(super) updated_at: i64,
    pub(super) body: String,
}

impl<'a> ExecutionRow<'a> {
    pub(super) fn encode(exec: &'a SequenceExecution) -> Result<Self, SequenceStoreError> {
        let body = serde_json::to_string(exec).map_err(|e| {
            SequenceStoreError::new(
                SequenceStoreErrorKind::Other,
                format!("cannot encode execution {}", exec.id),
            )
            .with_source(e)
        })?;
        let task = exec.current_task.as_ref();
        Ok(Self {
            id: &exec.id,
            project: &exec.project,
            stage: &exec.stage,
            service: &exec.service,
            keptn_context: exec.keptn_context.as_str(),
            sequence_name: exec.sequence_name(),
            triggered_id: exec.triggered_id.as_str(),
            state: exec.state.as_str(),
            active: !exec.state.is_terminal(),
            current_triggered_id: task.map(|t| t.triggered_id.as_str()),
            current_task: task.map(|t| t.name.as_str()),
            task_open: task.is_some_and(|t| t.sent_at.is_some() && !t.is_complete()),
            triggered_at: micros(exec.triggered_at),
            arrival: i64::try_from(exec.arrival).unwrap_or(i64::MAX),
            updated_at: micros(exec.updated_at),
            body,
        })
    }
}

pub(super) fn decode_execution(body: &str) -> Result<SequenceExecution, SequenceStoreError> {
    serde_json::from_str(body).map_err(|e| {
        SequenceStoreError::new(
            SequenceStoreErrorKind::Corrupt,
            "cannot read a stored execution",
        )
        .with_source(e)
    })
}

pub(super) fn encode_view(view: &SequenceState) -> Result<String, SequenceStoreError> {
    serde_json::to_string(view).map_err(|e| {
        SequenceStoreError::new(
            SequenceStoreErrorKind::Other,
            format!("cannot encode the view of context {}", view.shkeptncontext),
        )
        .with_source(e)
    })
}

pub(super) fn decode_view(body: &str) -> Result<SequenceState, SequenceStoreError> {
    serde_json::from_str(body).map_err(|e| {
        SequenceStoreError::new(
            SequenceStoreErrorKind::Corrupt,
            "cannot read a stored sequence view",
        )
        .with_source(e)
    })
}

pub(super) fn decode_event(body: &[u8]) -> Result<KeptnEvent, SequenceStoreError> {
    KeptnEvent::from_json(body).map_err(|e| {
        SequenceStoreError::new(
            SequenceStoreErrorKind::Corrupt,
            "cannot read a stored event",
        )
        .with_source(e)
    })
}
