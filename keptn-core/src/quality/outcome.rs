//! The result of an evaluation and the `evaluation.finished` data built from it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::event::payload::{
    EvaluationDetails, EvaluationFinished, FinishedData, GetSliFinished, SliEvaluationResult,
};
use keptn_sdk::event::{EventData, KeptnResult, Status};

/// A key SLI whose failure failed the evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySliFailure {
    /// The objective's display name, or its SLI name when it has none.
    pub objective: String,
    /// Why it failed.
    pub message: String,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationOutcome {
    /// `succeeded` when the evaluation ran (whatever its result), `errored` when it could not.
    pub status: Status,
    /// pass, warning or fail.
    pub result: KeptnResult,
    /// The total score, a finite number from 0 to 100.
    pub score: f64,
    /// The message (empty when there is nothing to say).
    pub message: String,
    /// One entry per objective, in SLO order.
    pub indicator_results: Vec<SliEvaluationResult>,
    /// Ids of the earlier evaluations compared with, newest first.
    pub compared_events: Vec<String>,
    /// The key SLI failure that failed the evaluation, if any.
    pub key_sli_failure: Option<KeySliFailure>,
    /// Indicators the provider returned that no objective uses.
    pub additional_slis: Vec<String>,
}

/// What the `evaluation.finished` data needs besides the outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinishedContext {
    /// Project, stage, service and labels of the evaluation.
    pub scope: EventData,
    /// Start of the evaluated timeframe (the `get-sli` start).
    pub time_start: Option<String>,
    /// End of the evaluated timeframe.
    pub time_end: Option<String>,
    /// The raw bytes of the SLO file (sent base64 as `sloFileContent`, never the defaulted
    /// model, so users see what they wrote).
    pub slo_file: Option<Vec<u8>>,
    /// The commit the SLO file was read at.
    pub git_commit: Option<String>,
}

impl FinishedContext {
    /// Scope and timeframe taken from the `get-sli.finished` data.
    pub fn from_get_sli(data: &GetSliFinished) -> Self {
        let get_sli = data.get_sli.as_ref();
        Self {
            scope: EventData {
                project: data.base.project.clone(),
                stage: data.base.stage.clone(),
                service: data.base.service.clone(),
                labels: data.base.labels.clone(),
                ..EventData::default()
            },
            time_start: get_sli.and_then(|g| g.start.clone()),
            time_end: get_sli.and_then(|g| g.end.clone()),
            slo_file: None,
            git_commit: None,
        }
    }

    /// Sets the SLO file bytes.
    pub fn with_slo_file(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.slo_file = Some(bytes.into());
        self
    }

    /// Sets the git commit.
    pub fn with_git_commit(mut self, commit: impl Into<String>) -> Self {
        self.git_commit = Some(commit.into());
        self
    }
}

impl EvaluationOutcome {
    /// No evaluation was performed (no SLO file, no SLI provider): result pass, score 0.
    pub fn not_performed(message: impl Into<String>) -> Self {
        Self::empty(Status::Succeeded, KeptnResult::Pass, message.into())
    }

    /// The evaluation could not run (bad SLO file, no timeframe, failed provider): status
    /// errored, result fail, score 0.
    pub fn errored(message: impl Into<String>) -> Self {
        Self::empty(Status::Errored, KeptnResult::Fail, message.into())
    }

    fn empty(status: Status, result: KeptnResult, message: String) -> Self {
        Self {
            status,
            result,
            score: 0.0,
            message,
            indicator_results: Vec::new(),
            compared_events: Vec::new(),
            key_sli_failure: None,
            additional_slis: Vec::new(),
        }
    }

    /// The `evaluation` object of `evaluation.finished`.
    pub fn details(&self, ctx: &FinishedContext) -> EvaluationDetails {
        EvaluationDetails {
            time_start: ctx.time_start.clone(),
            time_end: ctx.time_end.clone(),
            result: Some(self.result.as_str().to_owned()),
            score: Some(self.score),
            slo_file_content: ctx.slo_file.as_ref().map(|b| STANDARD.encode(b)),
            indicator_results: Some(self.indicator_results.clone()),
            compared_events: (!self.compared_events.is_empty())
                .then(|| self.compared_events.clone()),
            git_commit: ctx.git_commit.clone(),
        }
    }

    /// The whole `evaluation.finished` data: scope, status, result, message and `evaluation`.
    pub fn finished(&self, ctx: &FinishedContext) -> EvaluationFinished {
        EvaluationFinished {
            base: EventData {
                status: Some(self.status),
                result: Some(self.result),
                message: (!self.message.is_empty()).then(|| self.message.clone()),
                ..ctx.scope.clone()
            },
            evaluation: Some(self.details(ctx)),
        }
    }

    /// The same as a task handler's [`FinishedData`] (the runner adds the scope).
    pub fn finished_data(&self, ctx: &FinishedContext) -> FinishedData {
        FinishedData {
            status: self.status,
            result: self.result,
            message: self.message.clone(),
            fields: serde_json::Map::new(),
        }
        .with_field("evaluation", self.details(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn not_performed_and_errored() {
        let o = EvaluationOutcome::not_performed("nothing to do");
        assert_eq!((o.status, o.result), (Status::Succeeded, KeptnResult::Pass));
        let o = EvaluationOutcome::errored("broken");
        assert_eq!((o.status, o.result), (Status::Errored, KeptnResult::Fail));
    }

    #[test]
    fn finished_data_has_keptn_field_names() {
        let mut o = EvaluationOutcome::not_performed("");
        o.compared_events = vec!["e1".into()];
        let ctx = FinishedContext {
            scope: EventData::scope("sockshop", "staging", "carts"),
            time_start: Some("2021-05-11T12:00:00.000Z".into()),
            time_end: Some("2021-05-11T12:05:00.000Z".into()),
            ..FinishedContext::default()
        }
        .with_slo_file(b"abc".to_vec())
        .with_git_commit("521747298a");
        let v = serde_json::to_value(o.finished(&ctx)).unwrap();
        assert_eq!(
            v,
            json!({
                "project": "sockshop", "stage": "staging", "service": "carts",
                "status": "succeeded", "result": "pass",
                "evaluation": {
                    "timeStart": "2021-05-11T12:00:00.000Z",
                    "timeEnd": "2021-05-11T12:05:00.000Z",
                    "result": "pass", "score": 0.0,
                    "sloFileContent": "YWJj",
                    "indicatorResults": [],
                    "comparedEvents": ["e1"],
                    "gitCommit": "521747298a"
                }
            })
        );
        let data = o.finished_data(&ctx);
        assert_eq!(data.fields["evaluation"]["sloFileContent"], "YWJj");
    }
}
