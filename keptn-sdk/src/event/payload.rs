//! Typed payloads of the Keptn spec 0.2.x tasks.
//!
//! Each type is a *view* of an event's `data`: reading one with
//! [`KeptnEvent::data_as`](crate::KeptnEvent::data_as) ignores fields it does not know, and
//! writing one with [`KeptnEvent::merge_data`](crate::KeptnEvent::merge_data) merges it into the
//! JSON the event already holds, so fields added by other services survive. Every field is
//! optional, as in Keptn's own models.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::data::{EventData, KeptnResult, Status};
use super::event_type::Phase;

/// A payload type bound to one task and phase.
pub trait TaskPayload: Serialize + DeserializeOwned {
    /// The task name (`deployment`, `get-sli`, ...).
    const TASK: &'static str;
    /// The phase the payload belongs to.
    const PHASE: Phase;
}

macro_rules! payload {
    (
        $(#[$meta:meta])*
        $name:ident, $task:literal, $phase:ident {
            $( $(#[$fmeta:meta])* $json:literal => $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// Project, stage, service, labels, status, result and message.
            #[serde(flatten)]
            pub base: EventData,
            $(
                $(#[$fmeta])*
                #[serde(rename = $json, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl TaskPayload for $name {
            const TASK: &'static str = $task;
            const PHASE: Phase = Phase::$phase;
        }
    };
}

macro_rules! object {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $json:literal => $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(rename = $json, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

/// `automatic` or `manual`, per result, for the approval task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    /// Approved without a human.
    Automatic,
    /// A human approves or declines.
    Manual,
}

object!(
    /// `approval` object of `approval.triggered`.
    ApprovalSettings {
        /// What to do when the previous task passed.
        "pass" => pass: ApprovalMode,
        /// What to do when the previous task ended with a warning.
        "warning" => warning: ApprovalMode,
    }
);

payload!(
    /// `sh.keptn.event.approval.triggered`
    ApprovalTriggered, "approval", Triggered {
        /// The approval strategy.
        "approval" => approval: ApprovalSettings,
    }
);

payload!(
    /// `sh.keptn.event.approval.finished`: result `pass` approves, `fail` declines.
    ApprovalFinished, "approval", Finished {}
);

/// How a service version is rolled out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStrategy {
    /// Replace the running version.
    Direct,
    /// Start the new version beside the old one and switch traffic on release.
    #[serde(alias = "duplicate")]
    BlueGreenService,
    /// Deploy as given; endpoints come from the user.
    UserManaged,
}

impl DeploymentStrategy {
    /// The value as it appears in JSON.
    pub const fn as_str(&self) -> &'static str {
        match self {
            DeploymentStrategy::Direct => "direct",
            DeploymentStrategy::BlueGreenService => "blue_green_service",
            DeploymentStrategy::UserManaged => "user_managed",
        }
    }
}

object!(
    /// `configurationChange` object: values applied to the deployment (e.g. `image`).
    ConfigurationChange {
        /// Values (a nested map), e.g. `{"image": "docker.io/keptnexamples/carts:0.13.1"}`.
        "values" => values: serde_json::Map<String, Value>,
    }
);

object!(
    /// `deployment` object of deployment, test, evaluation and release events.
    DeploymentInfo {
        /// The strategy.
        "deploymentstrategy" => deployment_strategy: DeploymentStrategy,
        /// URIs reachable from inside the environment.
        "deploymentURIsLocal" => deployment_uris_local: Vec<String>,
        /// URIs reachable from outside.
        "deploymentURIsPublic" => deployment_uris_public: Vec<String>,
        /// Names of the deployments (`direct`, `canary`, `primary`, `user_managed`).
        "deploymentNames" => deployment_names: Vec<String>,
        /// The image that was deployed.
        "image" => image: String,
        /// The tag of the image.
        "tag" => tag: String,
    }
);

payload!(
    /// `sh.keptn.event.deployment.triggered`
    DeploymentTriggered, "deployment", Triggered {
        /// Values to apply.
        "configurationChange" => configuration_change: ConfigurationChange,
        /// The strategy and any URIs already known.
        "deployment" => deployment: DeploymentInfo,
    }
);

payload!(
    /// `sh.keptn.event.deployment.finished`
    DeploymentFinished, "deployment", Finished {
        /// Where the new version runs.
        "deployment" => deployment: DeploymentInfo,
    }
);

object!(
    /// `test` object of test and evaluation events.
    TestInfo {
        /// `real-user`, `functional`, `performance` or `healthcheck` (or a custom value).
        "teststrategy" => test_strategy: String,
        /// When the tests started (RFC 3339).
        "start" => start: String,
        /// When the tests ended (RFC 3339).
        "end" => end: String,
    }
);

payload!(
    /// `sh.keptn.event.test.triggered`
    TestTriggered, "test", Triggered {
        /// The test strategy.
        "test" => test: TestInfo,
        /// Where to send the traffic.
        "deployment" => deployment: DeploymentInfo,
    }
);

payload!(
    /// `sh.keptn.event.test.finished`
    TestFinished, "test", Finished {
        /// Start and end of the tests.
        "test" => test: TestInfo,
    }
);

object!(
    /// `evaluation` object of `evaluation.triggered`.
    EvaluationRequest {
        /// Start of the evaluated timeframe (RFC 3339).
        "start" => start: String,
        /// End of the evaluated timeframe (RFC 3339).
        "end" => end: String,
        /// Length of the timeframe (e.g. `5m`), ending now or after `start`.
        "timeframe" => timeframe: String,
    }
);

payload!(
    /// `sh.keptn.event.evaluation.triggered`
    EvaluationTriggered, "evaluation", Triggered {
        /// Start and end of the tests, used when no timeframe is given.
        "test" => test: TestInfo,
        /// The timeframe to evaluate.
        "evaluation" => evaluation: EvaluationRequest,
        /// The deployment that was tested.
        "deployment" => deployment: DeploymentInfo,
    }
);

/// One measured indicator value (`SLIResult`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SliResult {
    /// The indicator name.
    pub metric: String,
    /// The measured value.
    #[serde(default)]
    pub value: f64,
    /// The aggregated value of earlier evaluations it was compared with.
    #[serde(
        rename = "comparedValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub compared_value: Option<f64>,
    /// Whether the value could be measured.
    #[serde(default)]
    pub success: bool,
    /// Why the value could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One evaluated criterion (`SLITarget`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SliTarget {
    /// The criterion as written in the SLO, e.g. `<=+10%`.
    pub criteria: String,
    /// The threshold the value was compared with.
    #[serde(rename = "targetValue", default)]
    pub target_value: f64,
    /// Whether the value violated the criterion.
    #[serde(default)]
    pub violated: bool,
}

/// `pass`, `warning`, `fail` or `info` for one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveStatus {
    /// The pass criteria hold.
    Pass,
    /// Only the warning criteria hold.
    Warning,
    /// Neither holds.
    Fail,
    /// An informational objective without pass criteria.
    Info,
}

/// The evaluation of one objective (`SLIEvaluationResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliEvaluationResult {
    /// The score this objective contributed.
    #[serde(default)]
    pub score: f64,
    /// The measured value.
    pub value: SliResult,
    /// The objective's display name.
    #[serde(rename = "displayName", default)]
    pub display_name: String,
    /// The evaluated pass criteria.
    #[serde(rename = "passTargets", default)]
    pub pass_targets: Vec<SliTarget>,
    /// The evaluated warning criteria.
    #[serde(rename = "warningTargets", default)]
    pub warning_targets: Vec<SliTarget>,
    /// Whether a failure of this objective fails the whole evaluation.
    #[serde(rename = "keySli", default)]
    pub key_sli: bool,
    /// The objective's status.
    pub status: ObjectiveStatus,
}

object!(
    /// `evaluation` object of `evaluation.finished`.
    EvaluationDetails {
        /// Start of the evaluated timeframe.
        "timeStart" => time_start: String,
        /// End of the evaluated timeframe.
        "timeEnd" => time_end: String,
        /// The result.
        "result" => result: String,
        /// The total score, 0 to 100.
        "score" => score: f64,
        /// The SLO file, base64.
        "sloFileContent" => slo_file_content: String,
        /// One entry per objective.
        "indicatorResults" => indicator_results: Vec<SliEvaluationResult>,
        /// Ids of the earlier evaluations compared with.
        "comparedEvents" => compared_events: Vec<String>,
        /// The commit of the SLO file.
        "gitCommit" => git_commit: String,
    }
);

payload!(
    /// `sh.keptn.event.evaluation.finished`
    EvaluationFinished, "evaluation", Finished {
        /// The evaluation.
        "evaluation" => evaluation: EvaluationDetails,
    }
);

payload!(
    /// `sh.keptn.event.evaluation.invalidated`: the event's `triggeredid` names the evaluation to
    /// leave out of later comparisons.
    EvaluationInvalidated, "evaluation", Invalidated {}
);

payload!(
    /// `sh.keptn.event.release.triggered`
    ReleaseTriggered, "release", Triggered {
        /// The deployment to release.
        "deployment" => deployment: DeploymentInfo,
    }
);

payload!(
    /// `sh.keptn.event.release.finished`
    ReleaseFinished, "release", Finished {}
);

payload!(
    /// `sh.keptn.event.rollback.triggered`
    RollbackTriggered, "rollback", Triggered {
        /// The deployment to roll back.
        "deployment" => deployment: DeploymentInfo,
    }
);

payload!(
    /// `sh.keptn.event.rollback.finished`
    RollbackFinished, "rollback", Finished {}
);

object!(
    /// `problem` object of remediation events.
    ProblemDetails {
        /// The problem title.
        "problemTitle" => problem_title: String,
        /// The root cause, matched first when looking for an action.
        "rootCause" => root_cause: String,
        /// The problem id of the monitoring tool.
        "problemID" => problem_id: String,
        /// State (`OPEN`, `RESOLVED`, `CLOSED`).
        "state" => state: String,
        /// A link to the problem.
        "problemURL" => problem_url: String,
        /// The impacted entity.
        "impactedEntity" => impacted_entity: String,
        /// Tags.
        "tags" => tags: String,
        /// Tool-specific details.
        "problemDetails" => problem_details: Value,
    }
);

object!(
    /// `get-action` object.
    GetActionInfo {
        /// Index of the action to take; incremented in the finished event.
        "actionIndex" => action_index: i64,
    }
);

payload!(
    /// `sh.keptn.event.get-action.triggered`
    GetActionTriggered, "get-action", Triggered {
        /// The problem.
        "problem" => problem: ProblemDetails,
        /// Which action is next.
        "get-action" => get_action: GetActionInfo,
    }
);

object!(
    /// `action` object: what to do against a problem.
    ActionInfo {
        /// Display name.
        "name" => name: String,
        /// Action id handled by an action provider (e.g. `scaling`).
        "action" => action: String,
        /// Description.
        "description" => description: String,
        /// The action's parameter: a string, a number or an object.
        "value" => value: Value,
    }
);

payload!(
    /// `sh.keptn.event.get-action.finished`
    GetActionFinished, "get-action", Finished {
        /// The action to execute.
        "action" => action: ActionInfo,
        /// The index for the next iteration.
        "get-action" => get_action: GetActionInfo,
    }
);

payload!(
    /// `sh.keptn.event.action.triggered`
    ActionTriggered, "action", Triggered {
        /// The action to execute.
        "action" => action: ActionInfo,
        /// The problem.
        "problem" => problem: ProblemDetails,
    }
);

payload!(
    /// `sh.keptn.event.action.finished`
    ActionFinished, "action", Finished {}
);

/// A filter passed to the SLI provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliFilter {
    /// Filter key.
    pub key: String,
    /// Filter value.
    pub value: String,
}

object!(
    /// `get-sli` object of `get-sli.triggered`.
    GetSliRequest {
        /// The provider to ask (e.g. `prometheus`).
        "sliProvider" => sli_provider: String,
        /// Start of the timeframe (RFC 3339).
        "start" => start: String,
        /// End of the timeframe (RFC 3339).
        "end" => end: String,
        /// The indicators to measure.
        "indicators" => indicators: Vec<String>,
        /// Filters from the SLO.
        "customFilters" => custom_filters: Vec<SliFilter>,
    }
);

/// `sh.keptn.event.get-sli.triggered`. Its `deployment` is a string (the deployment name), unlike
/// the object of other tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetSliTriggered {
    /// Project, stage, service, labels, status, result and message.
    #[serde(flatten)]
    pub base: EventData,
    /// What to measure.
    #[serde(rename = "get-sli", default, skip_serializing_if = "Option::is_none")]
    pub get_sli: Option<GetSliRequest>,
    /// The deployment name (`canary`, `primary`, `direct`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

impl TaskPayload for GetSliTriggered {
    const TASK: &'static str = "get-sli";
    const PHASE: Phase = Phase::Triggered;
}

object!(
    /// `get-sli` object of `get-sli.finished`.
    GetSliResult {
        /// Start of the timeframe.
        "start" => start: String,
        /// End of the timeframe.
        "end" => end: String,
        /// The measured values.
        "indicatorValues" => indicator_values: Vec<SliResult>,
    }
);

payload!(
    /// `sh.keptn.event.get-sli.finished`
    GetSliFinished, "get-sli", Finished {
        /// The measured values.
        "get-sli" => get_sli: GetSliResult,
    }
);

object!(
    /// `configureMonitoring` object.
    ConfigureMonitoringInfo {
        /// The monitoring provider, e.g. `prometheus`.
        "type" => kind: String,
    }
);

payload!(
    /// `sh.keptn.event.configure-monitoring.triggered`
    ConfigureMonitoringTriggered, "configure-monitoring", Triggered {
        /// The provider.
        "configureMonitoring" => configure_monitoring: ConfigureMonitoringInfo,
    }
);

payload!(
    /// `sh.keptn.event.configure-monitoring.finished`
    ConfigureMonitoringFinished, "configure-monitoring", Finished {}
);

/// The legacy `sh.keptn.event.monitoring.configure` payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitoringConfigure {
    /// The monitoring provider.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The project.
    #[serde(default)]
    pub project: String,
    /// The service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

object!(
    /// The project as created: `createdProject` of `project.create.finished`.
    CreatedProject {
        /// The project name.
        "projectName" => project_name: String,
        /// The git upstream.
        "gitRemoteURL" => git_remote_url: String,
        /// The shipyard, base64.
        "shipyard" => shipyard: String,
    }
);

payload!(
    /// `sh.keptn.event.project.create.started` / `.triggered`
    ProjectCreateData, "project.create", Started {
        /// The project name.
        "projectName" => project_name: String,
        /// The git upstream.
        "gitRemoteURL" => git_remote_url: String,
        /// The shipyard, base64.
        "shipyard" => shipyard: String,
    }
);

payload!(
    /// `sh.keptn.event.project.create.finished`
    ProjectCreateFinished, "project.create", Finished {
        /// The created project.
        "createdProject" => created_project: CreatedProject,
    }
);

payload!(
    /// `sh.keptn.event.project.delete.finished`
    ProjectDeleteFinished, "project.delete", Finished {}
);

payload!(
    /// `sh.keptn.event.service.create.finished`
    ServiceCreateFinished, "service.create", Finished {}
);

payload!(
    /// `sh.keptn.event.service.delete.finished`
    ServiceDeleteFinished, "service.delete", Finished {}
);

/// The data of a task's `.finished` event as a handler reports it: status, result, message and the
/// task-specific fields to merge into the event data.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedData {
    /// The status.
    pub status: Status,
    /// The result.
    pub result: KeptnResult,
    /// The message.
    pub message: String,
    /// Task-specific fields (e.g. `{"deployment": {...}}`), merged into the event data.
    pub fields: serde_json::Map<String, Value>,
}

impl Default for FinishedData {
    fn default() -> Self {
        Self {
            status: Status::Succeeded,
            result: KeptnResult::Pass,
            message: String::new(),
            fields: serde_json::Map::new(),
        }
    }
}

impl FinishedData {
    /// Succeeded and passed.
    pub fn pass() -> Self {
        Self::default()
    }

    /// Succeeded with the given result.
    pub fn result(result: KeptnResult) -> Self {
        Self {
            result,
            ..Self::default()
        }
    }

    /// Errored and failed with a message.
    pub fn errored(message: impl Into<String>) -> Self {
        Self {
            status: Status::Errored,
            result: KeptnResult::Fail,
            message: message.into(),
            fields: serde_json::Map::new(),
        }
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a task-specific field.
    pub fn with_field(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.insert(key.into(), value);
        self
    }

    /// Adds every field of a typed payload (its `base` fields excepted: status, result and
    /// message come from this value).
    pub fn with_payload<T: Serialize>(mut self, payload: &T) -> Self {
        if let Ok(Value::Object(map)) = serde_json::to_value(payload) {
            for (key, value) in map {
                if !matches!(key.as_str(), "status" | "result" | "message") {
                    self.fields.insert(key, value);
                }
            }
        }
        self
    }
}

/// Labels type used in payloads.
pub type Labels = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_finished_uses_keptn_field_names() {
        let data = DeploymentFinished {
            base: EventData::scope("sockshop", "dev", "carts"),
            deployment: Some(DeploymentInfo {
                deployment_strategy: Some(DeploymentStrategy::Direct),
                deployment_uris_local: Some(vec!["http://carts.sockshop-dev:80".into()]),
                deployment_names: Some(vec!["direct".into()]),
                ..Default::default()
            }),
        };
        let v = serde_json::to_value(&data).unwrap();
        assert_eq!(
            v,
            json!({
                "project": "sockshop", "stage": "dev", "service": "carts",
                "deployment": {
                    "deploymentstrategy": "direct",
                    "deploymentURIsLocal": ["http://carts.sockshop-dev:80"],
                    "deploymentNames": ["direct"]
                }
            })
        );
    }

    #[test]
    fn duplicate_is_read_as_blue_green() {
        let s: DeploymentStrategy = serde_json::from_value(json!("duplicate")).unwrap();
        assert_eq!(s, DeploymentStrategy::BlueGreenService);
    }

    #[test]
    fn get_sli_deployment_is_a_string() {
        let v = json!({"project": "p", "deployment": "canary",
            "get-sli": {"sliProvider": "prometheus", "indicators": ["a"], "customFilters": [{"key": "k", "value": "v"}]}});
        let t: GetSliTriggered = serde_json::from_value(v).unwrap();
        assert_eq!(t.deployment.as_deref(), Some("canary"));
        assert_eq!(t.get_sli.unwrap().custom_filters.unwrap()[0].key, "k");
    }

    #[test]
    fn finished_data_with_payload_skips_base_fields() {
        let payload = TestFinished {
            base: EventData {
                result: Some(KeptnResult::Fail),
                ..Default::default()
            },
            test: Some(TestInfo {
                start: Some("a".into()),
                end: Some("b".into()),
                ..Default::default()
            }),
        };
        let f = FinishedData::pass().with_payload(&payload);
        assert_eq!(f.result, KeptnResult::Pass);
        assert_eq!(f.fields["test"], json!({"start": "a", "end": "b"}));
    }
}
