//! Row encoding shared by the SQL backends: indexed columns next to a JSON body.
//!
//! A [`Commit`] is encoded once, before it is handed to the database, into an
//! [`EncodedCommit`] that owns every value it binds: the SQLite writer may run a write more
//! than once (when another write of its group fails), and JSON encoding stays off the writer.

use std::collections::HashSet;
use std::hash::Hash;

use chrono::{DateTime, Utc};
use keptn_sdk::event::KeptnEvent;

use super::{Commit, SequenceStoreError, SequenceStoreErrorKind};
use crate::orchestrator::model::SequenceExecution;
use crate::orchestrator::view::SequenceState;

/// Microseconds since the epoch: sortable, exact and portable across databases.
pub(super) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// The columns of an execution row.
#[derive(Debug)]
pub(super) struct ExecutionRow {
    pub(super) id: String,
    pub(super) project: String,
    pub(super) stage: String,
    pub(super) service: String,
    pub(super) keptn_context: String,
    pub(super) sequence_name: String,
    pub(super) triggered_id: String,
    pub(super) state: &'static str,
    pub(super) active: bool,
    pub(super) current_triggered_id: Option<String>,
    pub(super) current_task: Option<String>,
    /// The current task was sent and is not complete: its `.triggered` event is open.
    pub(super) task_open: bool,
    pub(super) triggered_at: i64,
    pub(super) arrival: i64,
    pub(super) updated_at: i64,
    pub(super) body: String,
}

impl ExecutionRow {
    pub(super) fn encode(exec: &SequenceExecution) -> Result<Self, SequenceStoreError> {
        let body = serde_json::to_string(exec).map_err(|e| {
            SequenceStoreError::new(
                SequenceStoreErrorKind::Other,
                format!("cannot encode execution {}", exec.id),
            )
            .with_source(e)
        })?;
        let task = exec.current_task.as_ref();
        Ok(Self {
            id: exec.id.clone(),
            project: exec.project.clone(),
            stage: exec.stage.clone(),
            service: exec.service.clone(),
            keptn_context: exec.keptn_context.to_string(),
            sequence_name: exec.sequence_name().to_owned(),
            triggered_id: exec.triggered_id.to_string(),
            state: exec.state.as_str(),
            active: !exec.state.is_terminal(),
            current_triggered_id: task.map(|t| t.triggered_id.to_string()),
            current_task: task.map(|t| t.name.clone()),
            task_open: task.is_some_and(|t| t.sent_at.is_some() && !t.is_complete()),
            triggered_at: micros(exec.triggered_at),
            arrival: i64::try_from(exec.arrival).unwrap_or(i64::MAX),
            updated_at: micros(exec.updated_at),
            body,
        })
    }
}

/// The columns of a view row.
#[derive(Debug)]
pub(super) struct ViewRow {
    pub(super) project: String,
    pub(super) keptn_context: String,
    pub(super) name: String,
    pub(super) state: &'static str,
    pub(super) time: i64,
    pub(super) body: String,
}

impl ViewRow {
    fn encode(view: &SequenceState) -> Result<Self, SequenceStoreError> {
        let body = serde_json::to_string(view).map_err(|e| {
            SequenceStoreError::new(
                SequenceStoreErrorKind::Other,
                format!("cannot encode the view of context {}", view.shkeptncontext),
            )
            .with_source(e)
        })?;
        Ok(Self {
            project: view.project.clone(),
            keptn_context: view.shkeptncontext.to_string(),
            name: view.name.clone(),
            state: view.state.as_str(),
            time: micros(view.time),
            body,
        })
    }
}

/// A pause to set or clear; `stage` is `""` for every stage of the context.
#[derive(Debug)]
pub(super) struct PauseRow {
    pub(super) project: String,
    pub(super) keptn_context: String,
    pub(super) stage: String,
    pub(super) paused: bool,
}

/// A [`Commit`] with every value encoded as the SQL backends bind it.
#[derive(Debug)]
pub(super) struct EncodedCommit {
    /// Unique by id (the last version of an execution listed twice wins).
    pub(super) executions: Vec<ExecutionRow>,
    /// Unique by project and context (the last version wins).
    pub(super) views: Vec<ViewRow>,
    /// In order.
    pub(super) pauses: Vec<PauseRow>,
    /// `(seq, event JSON)`, in order.
    pub(super) outbox: Vec<(i64, String)>,
    pub(super) published_up_to: Option<i64>,
    pub(super) processed: Vec<String>,
    /// The time recorded with the processed ids.
    pub(super) at: i64,
}

impl EncodedCommit {
    pub(super) fn encode(commit: &Commit) -> Result<Self, SequenceStoreError> {
        let executions = last_wins(
            commit
                .executions
                .iter()
                .map(ExecutionRow::encode)
                .collect::<Result<Vec<_>, _>>()?,
            |r| r.id.clone(),
        );
        let views = last_wins(
            commit
                .views
                .iter()
                .map(ViewRow::encode)
                .collect::<Result<Vec<_>, _>>()?,
            |r| (r.project.clone(), r.keptn_context.clone()),
        );
        let pauses = commit
            .pauses
            .iter()
            .map(|(key, paused)| PauseRow {
                project: key.project.clone(),
                keptn_context: key.keptn_context.to_string(),
                stage: key.stage.clone().unwrap_or_default(),
                paused: *paused,
            })
            .collect();
        let outbox = commit
            .outbox
            .iter()
            .map(|entry| {
                let json = String::from_utf8(entry.event.to_json()).map_err(|e| {
                    SequenceStoreError::new(
                        SequenceStoreErrorKind::Other,
                        format!("cannot encode outbox event {}", entry.event.id),
                    )
                    .with_source(e)
                })?;
                Ok((seq_column(entry.seq), json))
            })
            .collect::<Result<Vec<_>, SequenceStoreError>>()?;
        Ok(Self {
            executions,
            views,
            pauses,
            outbox,
            published_up_to: commit.outbox_published_up_to.map(seq_column),
            processed: commit
                .processed
                .iter()
                .map(|id| id.as_str().to_owned())
                .collect(),
            at: micros(commit.at),
        })
    }
}

/// An outbox `seq` as the databases store it (a signed 64-bit integer).
pub(super) fn seq_column(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Keeps the last row of each key (at its position): one multi-row upsert may not touch a row
/// twice (PostgreSQL refuses it), and the store applies a commit's list in order, so the last
/// version is the one that stays. Lists without duplicates, the usual case, are returned as
/// they are.
fn last_wins<T, K: Eq + Hash>(mut rows: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut seen: HashSet<K> = HashSet::with_capacity(rows.len());
    let keep: Vec<bool> = rows.iter().rev().map(|row| seen.insert(key(row))).collect();
    if keep.iter().all(|k| *k) {
        return rows;
    }
    let mut keep = keep.into_iter().rev();
    rows.retain(|_| keep.next().unwrap_or(true));
    rows
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_version_of_a_key_wins() {
        let rows = vec![("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2)];
        let unique = last_wins(rows, |(k, _)| *k);
        assert_eq!(unique, vec![("a", 2), ("c", 1), ("b", 2)]);
        let rows = vec![("a", 1), ("b", 1)];
        assert_eq!(last_wins(rows.clone(), |(k, _)| *k), rows);
    }
}
