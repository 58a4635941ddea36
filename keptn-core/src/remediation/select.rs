//! Choosing the next action for a problem (`get-action`), as Keptn 1.x's remediation-service.

use keptn_sdk::event::payload::{
    ActionInfo, FinishedData, GetActionFinished, GetActionInfo, GetActionTriggered, ProblemDetails,
};
use keptn_sdk::event::{EventData, KeptnResult, Status};

use super::model::{
    DEFAULT_PROBLEM_TYPE, Remediation, RemediationFile, RemediationFileError, RemediationFormat,
};

/// How the remediation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// Its problem type equals the problem's root cause.
    RootCause,
    /// Its problem type equals the problem title (0.1.3 files: the title starts with it).
    ProblemTitle,
    /// It is the `default` remediation.
    Default,
}

/// The chosen action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSelection {
    /// The action, as `get-action.finished` and `action.triggered` carry it.
    pub action: ActionInfo,
    /// Its index in the remediation's actions.
    pub index: usize,
    /// The problem type of the remediation it belongs to.
    pub problem_type: String,
    /// How the remediation was found.
    pub matched_by: MatchedBy,
}

impl ActionSelection {
    /// The index the next iteration asks for (`get-action.actionIndex` of the finished
    /// event): this index plus one.
    pub fn next_index(&self) -> i64 {
        self.index as i64 + 1
    }

    /// The `get-action.finished` data: the action and the next index.
    pub fn finished(&self, base: EventData) -> GetActionFinished {
        GetActionFinished {
            base,
            action: Some(self.action.clone()),
            get_action: Some(GetActionInfo {
                action_index: Some(self.next_index()),
            }),
        }
    }
}

/// Why no action was chosen; the messages are Keptn's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// No remediation matches, and there is no `default`.
    #[error("unable to find action for {problem}")]
    NoRemediation {
        /// `root cause X`, `problem title X` or `problem type default`.
        problem: String,
    },
    /// The remediation has fewer actions than the index asks for.
    #[error("there is no action with index {index} for {problem}")]
    NoActionAtIndex {
        /// The index asked for.
        index: i64,
        /// `root cause X`, `problem title X` or `problem type default`.
        problem: String,
    },
}

fn given(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// How Keptn names the problem in its messages.
fn describe(problem: &ProblemDetails) -> String {
    let root_cause = given(&problem.root_cause);
    let title = given(&problem.problem_title);
    if !root_cause.is_empty() {
        format!("root cause {root_cause}")
    } else if !title.is_empty() {
        format!("problem title {title}")
    } else {
        "problem type default".to_owned()
    }
}

/// Chooses action `action_index` of the remediation for `problem`.
///
/// The remediation is the first whose problem type equals the root cause, else the first
/// whose problem type equals the problem title (in a 0.1.3 file: the first whose name the
/// title starts with, as Keptn 0.6 matched), else the `default` one. Empty root causes and
/// titles match nothing.
pub fn select_action(
    file: &RemediationFile,
    problem: &ProblemDetails,
    action_index: i64,
) -> Result<ActionSelection, SelectionError> {
    let root_cause = given(&problem.root_cause);
    let title = given(&problem.problem_title);
    let find = |pred: &dyn Fn(&Remediation) -> bool| file.remediations.iter().find(|r| pred(r));
    let found = (!root_cause.is_empty())
        .then(|| find(&|r| r.problem_type == root_cause))
        .flatten()
        .map(|r| (r, MatchedBy::RootCause))
        .or_else(|| {
            (!title.is_empty())
                .then(|| {
                    find(&|r| match file.format {
                        RemediationFormat::V014 => r.problem_type == title,
                        RemediationFormat::V013 => title.starts_with(r.problem_type.as_str()),
                    })
                })
                .flatten()
                .map(|r| (r, MatchedBy::ProblemTitle))
        })
        .or_else(|| {
            find(&|r| r.problem_type == DEFAULT_PROBLEM_TYPE).map(|r| (r, MatchedBy::Default))
        });
    let Some((remediation, matched_by)) = found else {
        return Err(SelectionError::NoRemediation {
            problem: describe(problem),
        });
    };
    let action = usize::try_from(action_index)
        .ok()
        .and_then(|i| remediation.actions.get(i).map(|a| (i, a)));
    let Some((index, action)) = action else {
        return Err(SelectionError::NoActionAtIndex {
            index: action_index,
            problem: describe(problem),
        });
    };
    Ok(ActionSelection {
        action: ActionInfo {
            name: Some(action.name.clone()),
            action: Some(action.action.clone()),
            description: Some(action.description.clone()),
            value: Some(action.value.clone()),
        },
        index,
        problem_type: remediation.problem_type.clone(),
        matched_by,
    })
}

/// The whole answer to `get-action.triggered`, as Keptn 1.x gives it: `remediation` is the
/// content of the service's `remediation.yaml` (`None` when it does not exist).
///
/// - no file: errored / fail, "Could not get remediation.yaml file for services S in stage T.";
/// - unparsable file: errored / fail, "Could not parse remediation.yaml file. Please validate
///   it against the specification." (the cause is appended);
/// - no remediation or no action at the index: succeeded / fail with the [`SelectionError`];
/// - otherwise succeeded / pass with `action` and `get-action.actionIndex` = index + 1.
pub fn get_action_finished(
    remediation: Option<&[u8]>,
    triggered: &GetActionTriggered,
) -> FinishedData {
    let base = &triggered.base;
    let Some(bytes) = remediation else {
        return FinishedData::errored(format!(
            "Could not get remediation.yaml file for services {} in stage {}.",
            given(&base.service),
            given(&base.stage)
        ));
    };
    let file = match RemediationFile::parse(bytes) {
        Ok(file) => file,
        Err(e) => return FinishedData::errored(parse_message(&e)),
    };
    let problem = triggered.problem.clone().unwrap_or_default();
    let index = triggered
        .get_action
        .as_ref()
        .and_then(|g| g.action_index)
        .unwrap_or(0);
    match select_action(&file, &problem, index) {
        Ok(selection) => {
            FinishedData::pass().with_payload(&selection.finished(EventData::default()))
        }
        Err(e) => FinishedData {
            status: Status::Succeeded,
            result: KeptnResult::Fail,
            message: e.to_string(),
            fields: serde_json::Map::new(),
        },
    }
}

fn parse_message(error: &RemediationFileError) -> String {
    let mut text =
        "Could not parse remediation.yaml file. Please validate it against the specification."
            .to_owned();
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
