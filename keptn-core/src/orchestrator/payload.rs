//! Keptn's payload rules: how a task's `.triggered` data is built, how the answers of a task's
//! executors are aggregated, and what a sequence's `.finished` event carries.

use chrono::{DateTime, Utc};
use keptn_sdk::event::{
    EventId, EventType, GitCommitId, KEPTN_SPEC_VERSION, KeptnContext, KeptnEvent, KeptnResult,
    SpecVersion, Status, merge_json,
};
use serde_json::{Map, Value};

use super::core::CONTROLLER_SOURCE;
use super::model::{SequenceExecution, TaskEvent, TaskPhase};
use crate::shipyard::Task;

/// The data of the next task's `.triggered` event (or, with `task: None`, of a sequence that a
/// finished one triggers). Deep-merged in this order:
///
/// 1. the trigger's data (`input`);
/// 2. `project`, `stage` and `service` of the execution;
/// 3. the merged `.finished` data of every completed task, in order;
/// 4. `result` and `status` of the last completed task;
/// 5. `data.<task>` merged with the task's shipyard `properties`;
///
/// and finally `message` is blanked.
pub fn task_payload(exec: &SequenceExecution, task: Option<&Task>) -> Value {
    let mut payload = match &exec.input {
        Value::Object(map) => Value::Object(map.clone()),
        _ => Value::Object(Map::new()),
    };
    set(&mut payload, "project", Value::from(exec.project.as_str()));
    set(&mut payload, "stage", Value::from(exec.stage.as_str()));
    set(&mut payload, "service", Value::from(exec.service.as_str()));
    for previous in &exec.previous_tasks {
        merge_json(&mut payload, &previous.properties);
    }
    if let Some(last) = exec.previous_tasks.last() {
        set(&mut payload, "result", Value::from(last.result.as_str()));
        set(&mut payload, "status", Value::from(last.status.as_str()));
    }
    if let Some(task) = task {
        if let Some(properties) = &task.properties {
            if let Value::Object(map) = &mut payload {
                let entry = map.entry(task.name.clone()).or_insert(Value::Null);
                merge_json(entry, properties);
            }
        }
    }
    if let Value::Object(map) = &mut payload {
        if let Some(message) = map.get_mut("message") {
            *message = Value::from("");
        }
    }
    payload
}

fn set(payload: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = payload {
        map.insert(key.to_owned(), value);
    }
}

/// The aggregated outcome of a completed task.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// `fail` if any `.finished` result is neither `pass` nor `warning`; else `warning` if any
    /// is; else `pass`. Forced to `fail` when the status is `unknown`.
    pub result: KeptnResult,
    /// `errored` if any `.finished` status is; else `aborted` if any is; else `succeeded` if all
    /// are; else `unknown`.
    pub status: Status,
    /// The data of every `.finished` event, merged in arrival order.
    pub properties: Value,
    /// The message of the last `.finished` event.
    pub message: String,
}

/// Aggregates the `.finished` events of a task, exactly as Keptn does.
pub fn aggregate(events: &[TaskEvent]) -> Aggregate {
    let finished: Vec<&TaskEvent> = events
        .iter()
        .filter(|e| e.phase == TaskPhase::Finished)
        .collect();
    let any_result = |r: &str| finished.iter().any(|e| e.result.as_deref() == Some(r));
    let any_status = |s: &str| finished.iter().any(|e| e.status.as_deref() == Some(s));
    let mut result = if finished
        .iter()
        .any(|e| !matches!(e.result.as_deref(), Some("pass" | "warning")))
    {
        KeptnResult::Fail
    } else if any_result("warning") {
        KeptnResult::Warning
    } else {
        KeptnResult::Pass
    };
    let status = if any_status("errored") {
        Status::Errored
    } else if any_status("aborted") {
        Status::Aborted
    } else if finished
        .iter()
        .all(|e| e.status.as_deref() == Some("succeeded"))
    {
        Status::Succeeded
    } else {
        result = KeptnResult::Fail;
        Status::Unknown
    };
    let mut properties = Value::Object(Map::new());
    for event in &finished {
        if let Some(data @ Value::Object(_)) = &event.data {
            merge_json(&mut properties, data);
        }
    }
    let message = finished
        .last()
        .and_then(|e| e.data.as_ref())
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Aggregate {
        result,
        status,
        properties,
        message,
    }
}

/// The data of a sequence's `.finished` event: the execution's scope (project, stage, service,
/// labels of the trigger) with `status`, `result` and `message`.
pub fn finished_payload(
    exec: &SequenceExecution,
    status: Status,
    result: KeptnResult,
    message: &str,
) -> Value {
    let mut data = Map::new();
    data.insert("project".into(), Value::from(exec.project.as_str()));
    data.insert("stage".into(), Value::from(exec.stage.as_str()));
    data.insert("service".into(), Value::from(exec.service.as_str()));
    if let Some(labels) = exec.input.get("labels") {
        data.insert("labels".into(), labels.clone());
    }
    data.insert("status".into(), Value::from(status.as_str()));
    data.insert("result".into(), Value::from(result.as_str()));
    data.insert("message".into(), Value::from(message));
    Value::Object(data)
}

/// An event sent by the controller.
pub(crate) fn controller_event(
    event_type: EventType,
    context: &KeptnContext,
    triggered_id: Option<&EventId>,
    git_commit_id: Option<&GitCommitId>,
    data: Value,
    now: DateTime<Utc>,
) -> KeptnEvent {
    KeptnEvent {
        specversion: SpecVersion::V10,
        id: EventId::generate(),
        source: CONTROLLER_SOURCE.to_owned(),
        event_type,
        time: now,
        datacontenttype: Some("application/json".to_owned()),
        dataschema: None,
        subject: None,
        shkeptncontext: context.clone(),
        triggeredid: triggered_id.cloned(),
        gitcommitid: git_commit_id.cloned(),
        shkeptnspecversion: Some(KEPTN_SPEC_VERSION.to_owned()),
        extensions: Default::default(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use keptn_sdk::event::EventId;
    use serde_json::json;

    fn finished(result: Option<&str>, status: Option<&str>, data: Value) -> TaskEvent {
        TaskEvent {
            id: EventId::generate(),
            phase: TaskPhase::Finished,
            source: "test".into(),
            result: result.map(str::to_owned),
            status: status.map(str::to_owned),
            time: Utc::now(),
            data: Some(data),
        }
    }

    #[test]
    fn one_fail_among_passes_fails_the_task() {
        let a = aggregate(&[
            finished(Some("pass"), Some("succeeded"), json!({})),
            finished(Some("fail"), Some("succeeded"), json!({})),
        ]);
        assert_eq!((a.result, a.status), (KeptnResult::Fail, Status::Succeeded));
    }

    #[test]
    fn a_warning_without_fail_is_a_warning() {
        let a = aggregate(&[
            finished(Some("pass"), Some("succeeded"), json!({})),
            finished(Some("warning"), Some("succeeded"), json!({})),
        ]);
        assert_eq!(a.result, KeptnResult::Warning);
    }

    #[test]
    fn a_missing_or_unknown_result_is_a_fail() {
        assert_eq!(
            aggregate(&[finished(None, Some("succeeded"), json!({}))]).result,
            KeptnResult::Fail
        );
        assert_eq!(
            aggregate(&[finished(Some("failed"), Some("succeeded"), json!({}))]).result,
            KeptnResult::Fail
        );
    }

    #[test]
    fn errored_beats_aborted_beats_succeeded() {
        let a = aggregate(&[
            finished(Some("pass"), Some("aborted"), json!({})),
            finished(Some("pass"), Some("errored"), json!({})),
        ]);
        assert_eq!(a.status, Status::Errored);
        let a = aggregate(&[
            finished(Some("pass"), Some("aborted"), json!({})),
            finished(Some("pass"), Some("succeeded"), json!({})),
        ]);
        assert_eq!((a.result, a.status), (KeptnResult::Pass, Status::Aborted));
    }

    #[test]
    fn an_unknown_status_forces_the_result_to_fail() {
        let a = aggregate(&[finished(Some("pass"), Some("whatever"), json!({}))]);
        assert_eq!((a.result, a.status), (KeptnResult::Fail, Status::Unknown));
        let a = aggregate(&[finished(Some("pass"), None, json!({}))]);
        assert_eq!((a.result, a.status), (KeptnResult::Fail, Status::Unknown));
    }

    #[test]
    fn finished_data_merge_in_arrival_order() {
        let a = aggregate(&[
            finished(
                Some("pass"),
                Some("succeeded"),
                json!({"a": {"x": 1}, "message": "first"}),
            ),
            finished(
                Some("pass"),
                Some("succeeded"),
                json!({"a": {"y": 2}, "message": "second"}),
            ),
        ]);
        assert_eq!(a.properties["a"], json!({"x": 1, "y": 2}));
        assert_eq!(a.message, "second");
    }
}
