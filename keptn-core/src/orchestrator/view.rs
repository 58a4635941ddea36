//! The materialized view of sequences that the API serves (`GET /v1/sequence/{project}`): one
//! entry per project and Keptn context, with the state of each stage the flow went through.

use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent};
use serde::{Deserialize, Serialize};

use super::model::ExecutionState;

/// The state of a Keptn context's sequences across stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequenceState {
    /// The name of the first sequence of the flow.
    pub name: String,
    /// Service.
    pub service: String,
    /// Project.
    pub project: String,
    /// When the flow was triggered.
    pub time: DateTime<Utc>,
    /// The Keptn context.
    pub shkeptncontext: KeptnContext,
    /// The overall state, derived from the stages.
    pub state: ExecutionState,
    /// The problem a remediation works on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_title: Option<String>,
    /// The stages, in the order the flow reached them.
    pub stages: Vec<SequenceStateStage>,
}

/// One stage of a [`SequenceState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequenceStateStage {
    /// Stage name.
    pub name: String,
    /// The image the stage's deployment task was asked to deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The state of the stage's latest sequence execution.
    pub state: ExecutionState,
    /// The latest evaluation of the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_evaluation: Option<SequenceStateEvaluation>,
    /// The latest event of the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_event: Option<SequenceStateEvent>,
    /// The latest event of the stage that failed or errored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_failed_event: Option<SequenceStateEvent>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceStateEvaluation {
    /// `pass`, `warning` or `fail`.
    pub result: String,
    /// The score (0-100).
    pub score: f64,
}

/// A reference to an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceStateEvent {
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event id.
    pub id: String,
    /// Event time.
    pub time: DateTime<Utc>,
}

impl SequenceStateEvent {
    /// A reference to `event`.
    pub fn of(event: &KeptnEvent) -> Self {
        Self {
            event_type: event.type_string(),
            id: event.id.to_string(),
            time: event.time,
        }
    }
}

impl SequenceState {
    /// A new view for a flow whose first sequence `name` was triggered at `time`.
    pub fn new(
        project: &str,
        service: &str,
        context: &KeptnContext,
        name: &str,
        time: DateTime<Utc>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            service: service.to_owned(),
            project: project.to_owned(),
            time,
            shkeptncontext: context.clone(),
            state: ExecutionState::Triggered,
            problem_title: None,
            stages: Vec::new(),
        }
    }

    /// The entry of `stage`, created (in state `triggered`) when absent.
    pub fn stage_mut(&mut self, stage: &str) -> &mut SequenceStateStage {
        let index = match self.stages.iter().position(|s| s.name == stage) {
            Some(index) => index,
            None => {
                self.stages.push(SequenceStateStage {
                    name: stage.to_owned(),
                    image: None,
                    state: ExecutionState::Triggered,
                    latest_evaluation: None,
                    latest_event: None,
                    latest_failed_event: None,
                });
                self.stages.len() - 1
            }
        };
        &mut self.stages[index]
    }

    /// Records `event` as the latest event of `stage` (and as its latest failed event when it is
    /// a `.finished` event with result `fail` or status `errored`), picking up the deployed
    /// image, the evaluation and the problem title on the way.
    pub fn record_event(&mut self, stage: &str, event: &KeptnEvent) {
        if let Some(title) = problem_title(event) {
            if self.problem_title.is_none() {
                self.problem_title = Some(title);
            }
        }
        let entry = self.stage_mut(stage);
        let reference = SequenceStateEvent::of(event);
        // Only answers count as failures: a `.triggered` event carries the result of the task
        // before it, which is not a failure of its own.
        let failed = event.event_type.phase() == Some(keptn_sdk::event::Phase::Finished)
            && (event
                .data_str("result")
                .is_some_and(|r| r == "fail" || r == "failed")
                || event.data_str("status") == Some("errored"));
        if failed {
            entry.latest_failed_event = Some(reference.clone());
        }
        entry.latest_event = Some(reference);
        if let EventType::Task { task, phase } = &event.event_type {
            use keptn_sdk::event::Phase;
            match (task.as_str(), phase) {
                ("deployment", Phase::Triggered) => {
                    if let Some(image) = event
                        .data
                        .pointer("/configurationChange/values/image")
                        .and_then(|v| v.as_str())
                    {
                        entry.image = Some(image.to_owned());
                    }
                }
                ("evaluation", Phase::Finished) => {
                    let score = event
                        .data
                        .pointer("/evaluation/score")
                        .and_then(serde_json::Value::as_f64);
                    let result = event
                        .data
                        .pointer("/evaluation/result")
                        .and_then(|v| v.as_str())
                        .or_else(|| event.data_str("result"));
                    if let (Some(score), Some(result)) = (score, result) {
                        entry.latest_evaluation = Some(SequenceStateEvaluation {
                            result: result.to_owned(),
                            score,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// Sets the state of `stage` and derives the overall state.
    pub fn set_stage_state(&mut self, stage: &str, state: ExecutionState) {
        self.stage_mut(stage).state = state;
        self.state = self.derive_state();
    }

    /// The overall state: while a stage is active, the most active state among them (`started`,
    /// then `waitingForApproval`, `waiting`, `triggered`, and `paused` when every active stage is
    /// paused); once every stage is over, `timedOut` or `aborted` if a stage ended so, else
    /// `finished`. The overall state is never `finished` while a stage is still going (Keptn
    /// issue 7237).
    pub fn derive_state(&self) -> ExecutionState {
        use ExecutionState::*;
        let active: Vec<ExecutionState> = self
            .stages
            .iter()
            .map(|s| s.state)
            .filter(|s| !s.is_terminal())
            .collect();
        if self.stages.is_empty() {
            return Triggered;
        }
        if active.is_empty() {
            let ended = |state| self.stages.iter().any(|s| s.state == state);
            return if ended(TimedOut) {
                TimedOut
            } else if ended(Aborted) {
                Aborted
            } else {
                Finished
            };
        }
        for state in [Started, WaitingForApproval, Waiting] {
            if active.contains(&state) {
                return state;
            }
        }
        if active.iter().all(|s| *s == Paused) {
            return Paused;
        }
        if active.len() < self.stages.len() {
            // Earlier stages are done and the next one was just triggered: the flow is running.
            Started
        } else {
            Triggered
        }
    }
}

fn problem_title(event: &KeptnEvent) -> Option<String> {
    let problem = event.data.get("problem")?;
    problem
        .get("problemTitle")
        .or_else(|| problem.get("ProblemTitle"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExecutionState::*;

    fn view() -> SequenceState {
        SequenceState::new("p", "svc", &KeptnContext::new("c"), "delivery", Utc::now())
    }

    #[test]
    fn the_overall_state_is_finished_only_when_every_stage_is_over() {
        let mut v = view();
        v.set_stage_state("dev", Started);
        assert_eq!(v.state, Started);
        v.set_stage_state("dev", Finished);
        assert_eq!(v.state, Finished);
        v.set_stage_state("staging-1", Triggered);
        v.set_stage_state("staging-2", Started);
        v.set_stage_state("staging-2", Finished);
        assert_eq!(v.state, Started, "staging-1 is still going");
        v.set_stage_state("staging-1", Finished);
        assert_eq!(v.state, Finished);
    }

    #[test]
    fn aborted_and_timed_out_stages_mark_the_flow() {
        let mut v = view();
        v.set_stage_state("dev", Aborted);
        assert_eq!(v.state, Aborted);
        v.set_stage_state("dev", TimedOut);
        assert_eq!(v.state, TimedOut);
    }

    #[test]
    fn a_flow_is_paused_when_all_its_active_stages_are() {
        let mut v = view();
        v.set_stage_state("dev", Finished);
        v.set_stage_state("staging", Paused);
        assert_eq!(v.state, Paused);
        v.set_stage_state("prod", Waiting);
        assert_eq!(v.state, Waiting);
    }
}
