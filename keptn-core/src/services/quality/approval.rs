//! The approval service: the `approval` task (Keptn 1.x approval-service).
//!
//! On `approval.triggered`:
//!
//! - the result to approve is `data.result` (the result of the previous task, which the
//!   orchestrator puts there), else `data.evaluation.result` (Keptn #4391);
//! - the strategy for it is `data.approval.pass` or `data.approval.warning` (the task's
//!   shipyard properties, `properties: {pass: automatic, warning: manual}`);
//! - `approval.started` is always sent, with the message `Approval strategy for result 'R': S`;
//! - `pass` with `automatic`, or `warning` with `automatic`: `approval.finished` with result
//!   `pass` (approved);
//! - `fail`: `approval.finished` with result `fail` (declined without asking anyone);
//! - anything else (`manual`, **a strategy that is not set**, or an unknown result): no
//!   `approval.finished`. The sequence waits in `waitingForApproval`, which blocks no other
//!   sequence, until someone answers: `keptn get event approval.triggered --project P --stage S`
//!   lists the open approvals, `keptn send event approval.finished --project P --stage S
//!   [--service X | --id ID] [--decline]` approves (result `pass`) or declines (`fail`).
//!
//! A strategy left out is manual, as in Keptn's approval-service, although Keptn's
//! specification documents `automatic` as the default: a gate nobody configured stops and asks
//! rather than lets a change through.

use std::sync::Arc;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::FinishedData;
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome, TaskRunner};
use serde_json::Value;

use super::APPROVAL_SOURCE;
use super::started_with_derived_id;
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext};

/// What the approval service does with an `approval.triggered` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDecision {
    /// The result being approved (`pass`, `warning`, `fail`, or whatever the event said).
    pub result: String,
    /// The effective strategy: `automatic` or `manual`.
    pub strategy: &'static str,
    /// `Some(pass)` to approve now, `Some(fail)` to decline now, `None` to wait for a human.
    pub answer: Option<KeptnResult>,
}

impl ApprovalDecision {
    /// Decides from the data of `approval.triggered`.
    pub fn from_data(data: &Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let result = text(data.get("result"))
            .filter(|r| !r.is_empty())
            .or_else(|| text(data.pointer("/evaluation/result")))
            .unwrap_or_default();
        let mode = |key: &str| {
            let automatic = data
                .pointer(&format!("/approval/{key}"))
                .and_then(Value::as_str)
                == Some("automatic");
            if automatic { "automatic" } else { "manual" }
        };
        match result.as_str() {
            "pass" | "warning" => {
                let strategy = mode(&result);
                let answer = (strategy == "automatic").then_some(KeptnResult::Pass);
                Self {
                    result,
                    strategy,
                    answer,
                }
            }
            "fail" => Self {
                result,
                strategy: "automatic",
                answer: Some(KeptnResult::Fail),
            },
            _ => Self {
                result,
                strategy: "manual",
                answer: None,
            },
        }
    }

    /// The message of `approval.started`.
    pub fn message(&self) -> String {
        format!(
            "Approval strategy for result '{}': {}",
            self.result, self.strategy
        )
    }
}

/// The `approval` task handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApprovalHandler;

#[async_trait]
impl TaskHandler for ApprovalHandler {
    type Data = Value;

    fn task(&self) -> &str {
        "approval"
    }

    async fn handle(&self, ctx: TaskContext, data: Value) -> Result<TaskOutcome, HandlerError> {
        let decision = ApprovalDecision::from_data(&data);
        let message = decision.message();
        ctx.publish(&started_with_derived_id(
            ctx.event(),
            ctx.source(),
            Some(&message),
        )?)
        .await?;
        Ok(match decision.answer {
            Some(KeptnResult::Pass) => FinishedData::pass()
                .with_message(format!(
                    "approved automatically: result '{}'",
                    decision.result
                ))
                .into(),
            Some(other) => FinishedData::result(other)
                .with_message(format!(
                    "declined automatically: result '{}'",
                    decision.result
                ))
                .into(),
            None => {
                tracing::info!(event_id = %ctx.event().id, result = %decision.result,
                    "waiting for a manual approval");
                TaskOutcome::Deferred
            }
        })
    }
}

/// The approval service as a plane service named `approval-service`.
pub fn approval_service() -> impl PlaneService {
    HandlerService::new(APPROVAL_SOURCE, |ctx: &ServiceContext| {
        let runner = TaskRunner::new(Arc::clone(&ctx.transport), ApprovalHandler)
            .source(APPROVAL_SOURCE)
            .queue_group(APPROVAL_SOURCE)
            .shutdown_deadline(super::RUNNER_SHUTDOWN_DEADLINE)
            // `approval.started` carries the strategy message; the handler sends it.
            .send_started(false);
        Ok(vec![BoxedRunner::new(runner)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decide(v: Value) -> (String, Option<KeptnResult>) {
        let d = ApprovalDecision::from_data(&v);
        (d.message(), d.answer)
    }

    #[test]
    fn strategies_per_result() {
        let props = json!({"pass": "automatic", "warning": "manual"});
        assert_eq!(
            decide(json!({"result": "pass", "approval": props})),
            (
                "Approval strategy for result 'pass': automatic".to_owned(),
                Some(KeptnResult::Pass)
            )
        );
        assert_eq!(
            decide(json!({"result": "warning", "approval": props})),
            (
                "Approval strategy for result 'warning': manual".to_owned(),
                None
            )
        );
        assert_eq!(
            decide(json!({"result": "fail", "approval": props})).1,
            Some(KeptnResult::Fail)
        );
    }

    #[test]
    fn a_missing_strategy_is_manual_like_keptn() {
        assert_eq!(decide(json!({"result": "pass"})).1, None);
        assert_eq!(
            decide(json!({"result": "pass", "approval": {"pass": "Automatic"}})).1,
            None,
            "only the exact word approves automatically"
        );
    }

    #[test]
    fn the_evaluation_result_is_the_fallback() {
        let (message, answer) = decide(json!({
            "evaluation": {"result": "warning"},
            "approval": {"warning": "automatic"}
        }));
        assert_eq!(message, "Approval strategy for result 'warning': automatic");
        assert_eq!(answer, Some(KeptnResult::Pass));
        assert_eq!(
            decide(json!({})).0,
            "Approval strategy for result '': manual"
        );
    }
}
