//! Bodies of `/controlPlane/v1`: projects, stages, services, evaluations, sequences, uniform
//! registrations and integration logs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::KeptnEvent;

/// `POST /controlPlane/v1/project` body (and `PUT` for updates).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateProjectParams {
    /// The project name.
    pub name: String,
    /// The shipyard, base64 (optional on update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipyard: Option<String>,
    /// The git upstream URL.
    #[serde(
        rename = "gitRemoteURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub git_remote_url: Option<String>,
    /// The git user.
    #[serde(rename = "gitUser", default, skip_serializing_if = "Option::is_none")]
    pub git_user: Option<String>,
    /// The git token (https).
    #[serde(rename = "gitToken", default, skip_serializing_if = "Option::is_none")]
    pub git_token: Option<String>,
    /// The SSH private key, base64 (ssh remotes).
    #[serde(
        rename = "gitPrivateKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub git_private_key: Option<String>,
    /// The passphrase of the SSH private key.
    #[serde(
        rename = "gitPrivateKeyPass",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub git_private_key_pass: Option<String>,
    /// The default branch of a new repository.
    #[serde(
        rename = "gitDefaultBranch",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub git_default_branch: Option<String>,
    /// Skip TLS verification of the upstream.
    #[serde(
        rename = "insecureSkipTLS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls: Option<bool>,
}

/// The Keptn context and event id of the newest event of a project, stage or service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventContextInfo {
    /// The event id.
    #[serde(rename = "eventId", default)]
    pub event_id: String,
    /// The Keptn context.
    #[serde(rename = "keptnContext", default)]
    pub keptn_context: String,
    /// When the event happened (RFC 3339).
    #[serde(default)]
    pub time: String,
}

/// An open remediation of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRemediation {
    /// The action being taken.
    #[serde(default)]
    pub action: String,
    /// The event id.
    #[serde(rename = "eventId", default)]
    pub event_id: String,
    /// The Keptn context.
    #[serde(rename = "keptnContext", default)]
    pub keptn_context: String,
    /// When (RFC 3339).
    #[serde(default)]
    pub time: String,
    /// The event type.
    #[serde(rename = "type", default)]
    pub event_type: String,
}

/// A service in a stage, with what was last deployed and seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedService {
    /// The service name.
    #[serde(rename = "serviceName")]
    pub service_name: String,
    /// When the service was created (RFC 3339).
    #[serde(rename = "creationDate", default)]
    pub creation_date: String,
    /// The image deployed last.
    #[serde(rename = "deployedImage", default)]
    pub deployed_image: String,
    /// The newest event per event type.
    #[serde(rename = "lastEventTypes", default)]
    pub last_event_types: BTreeMap<String, EventContextInfo>,
    /// Remediations in progress.
    #[serde(rename = "openRemediations", default)]
    pub open_remediations: Vec<OpenRemediation>,
}

/// A stage of a project with its services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedStage {
    /// The stage name.
    #[serde(rename = "stageName")]
    pub stage_name: String,
    /// Stages whose sequences trigger this one.
    #[serde(rename = "parentStages", default)]
    pub parent_stages: Vec<String>,
    /// The newest event of the stage.
    #[serde(
        rename = "lastEventContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_event_context: Option<EventContextInfo>,
    /// The services.
    #[serde(default)]
    pub services: Vec<ExpandedService>,
}

/// A project with its stages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedProject {
    /// The project name.
    #[serde(rename = "projectName")]
    pub project_name: String,
    /// When the project was created (RFC 3339).
    #[serde(rename = "creationDate", default)]
    pub creation_date: String,
    /// The shipyard as YAML text.
    #[serde(default)]
    pub shipyard: String,
    /// The shipyard's `apiVersion`.
    #[serde(rename = "shipyardVersion", default)]
    pub shipyard_version: String,
    /// The git upstream, if any.
    #[serde(rename = "gitRemoteURI", default)]
    pub git_remote_uri: String,
    /// The git user, if any.
    #[serde(rename = "gitUser", default)]
    pub git_user: String,
    /// The newest event of the project.
    #[serde(
        rename = "lastEventContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_event_context: Option<EventContextInfo>,
    /// The stages.
    #[serde(default)]
    pub stages: Vec<ExpandedStage>,
}

/// A page of projects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedProjects {
    /// The projects.
    pub projects: Vec<ExpandedProject>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// A page of stages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedStages {
    /// The stages.
    pub stages: Vec<ExpandedStage>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// A page of services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandedServices {
    /// The services.
    pub services: Vec<ExpandedService>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// `POST /controlPlane/v1/project/{project}/service` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateServiceParams {
    /// The service name.
    #[serde(rename = "serviceName")]
    pub service_name: String,
}

/// `POST /controlPlane/v1/project/{p}/stage/{s}/service/{svc}/evaluation` body. `end` and
/// `timeframe` exclude each other; without both, the last 5 minutes are evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationParams {
    /// Start of the timeframe (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End of the timeframe (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Length of the timeframe, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// Labels for the sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The configuration commit to evaluate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitcommitid: Option<String>,
}

/// `POST /controlPlane/v1/sequence/{project}/{keptnContext}/control` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceControlParams {
    /// `pause`, `resume` or `abort`.
    pub state: SequenceControlState,
    /// Only this stage (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// A sequence control command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequenceControlState {
    /// Stop starting and sending anything for the sequence.
    Pause,
    /// Continue a paused sequence.
    Resume,
    /// End the sequence with status `aborted`.
    Abort,
}

/// Result and score of the newest evaluation of a stage in a sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceStateEvaluation {
    /// `pass`, `warning` or `fail`.
    #[serde(default)]
    pub result: String,
    /// The score.
    #[serde(default)]
    pub score: f64,
}

/// Type, id and time of an event of a sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceStateEvent {
    /// The event type.
    #[serde(rename = "type", default)]
    pub event_type: String,
    /// The event id.
    #[serde(default)]
    pub id: String,
    /// When (RFC 3339).
    #[serde(default)]
    pub time: String,
}

/// One stage of a sequence as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceStateStage {
    /// The stage name.
    pub name: String,
    /// The image deployed in this stage by the sequence.
    #[serde(default)]
    pub image: String,
    /// The state of the sequence in this stage.
    #[serde(default)]
    pub state: String,
    /// The newest evaluation.
    #[serde(
        rename = "latestEvaluation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub latest_evaluation: Option<SequenceStateEvaluation>,
    /// The newest event.
    #[serde(
        rename = "latestEvent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub latest_event: Option<SequenceStateEvent>,
    /// The newest failed event.
    #[serde(
        rename = "latestFailedEvent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub latest_failed_event: Option<SequenceStateEvent>,
}

/// A sequence (one Keptn context) across its stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceState {
    /// The sequence name.
    pub name: String,
    /// The service.
    #[serde(default)]
    pub service: String,
    /// The project.
    pub project: String,
    /// When the sequence was triggered (RFC 3339).
    #[serde(default)]
    pub time: String,
    /// The Keptn context.
    pub shkeptncontext: String,
    /// The overall state (`triggered`, `started`, `waiting`, `paused`, `finished`, `aborted`,
    /// `timedOut`, ...).
    pub state: String,
    /// The problem title of a remediation.
    #[serde(
        rename = "problemTitle",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub problem_title: String,
    /// The stages the sequence went through.
    #[serde(default)]
    pub stages: Vec<SequenceStateStage>,
}

/// A page of sequence states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceStates {
    /// The sequences, newest first.
    pub states: Vec<SequenceState>,
    /// The offset of the next page (0 when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: u64,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// A page of sequence executions (the orchestrator's own records, as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceExecutions {
    /// The executions.
    #[serde(rename = "sequenceExecutions")]
    pub sequence_executions: Vec<serde_json::Value>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// A page of open `.triggered` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggeredEvents {
    /// The events.
    pub events: Vec<KeptnEvent>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}

/// Where an integration runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationMetadata {
    /// Host name.
    #[serde(default)]
    pub hostname: String,
    /// The integration's version.
    #[serde(default)]
    pub integrationversion: String,
    /// The distributor's version.
    #[serde(default)]
    pub distributorversion: String,
    /// `control-plane` or a remote location.
    #[serde(default)]
    pub location: String,
    /// When it was seen last (RFC 3339; set by the control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastseen: Option<String>,
    /// Kubernetes details, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetesmetadata: Option<serde_json::Value>,
}

/// Which events of which projects, stages and services a subscription wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionFilter {
    /// Projects (empty: all).
    #[serde(default)]
    pub projects: Vec<String>,
    /// Stages (empty: all).
    #[serde(default)]
    pub stages: Vec<String>,
    /// Services (empty: all).
    #[serde(default)]
    pub services: Vec<String>,
}

/// One subscription of an integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSubscription {
    /// The subscription id (set by the control plane).
    #[serde(default)]
    pub id: String,
    /// The event type or pattern, e.g. `sh.keptn.event.test.triggered`.
    pub event: String,
    /// The filter.
    #[serde(default)]
    pub filter: SubscriptionFilter,
}

/// A registered integration (uniform).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    /// The integration id (set by the control plane).
    #[serde(default)]
    pub id: String,
    /// The integration's name.
    pub name: String,
    /// Where it runs.
    #[serde(default)]
    pub metadata: IntegrationMetadata,
    /// What it subscribes to.
    #[serde(default)]
    pub subscriptions: Vec<EventSubscription>,
}

/// Answer of a registration: the integration id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationId {
    /// The id.
    pub id: String,
}

/// One log entry of an integration (typically an error).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The integration id.
    #[serde(default)]
    pub integrationid: String,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// The Keptn context.
    #[serde(default)]
    pub shkeptncontext: String,
    /// The task.
    #[serde(default)]
    pub task: String,
    /// The triggered event id.
    #[serde(default)]
    pub triggeredid: String,
    /// The commit.
    #[serde(default)]
    pub gitcommitid: String,
    /// When (RFC 3339; set by the control plane when empty).
    #[serde(default)]
    pub time: String,
}

/// `POST /controlPlane/v1/log` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateLogsParams {
    /// The entries.
    pub logs: Vec<LogEntry>,
}

/// A page of log entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntries {
    /// The entries, newest first.
    pub logs: Vec<LogEntry>,
    /// The key of the next page (`"0"` when there is none).
    #[serde(rename = "nextPageKey", default)]
    pub next_page_key: String,
    /// Items per page.
    #[serde(rename = "pageSize", default)]
    pub page_size: u32,
    /// Items in all pages.
    #[serde(rename = "totalCount", default)]
    pub total_count: u64,
}
