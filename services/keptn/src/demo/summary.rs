//! What the demo saw: per delivery and stage the deployed version, the evaluation and the
//! outcome; the remediation's actions; and whether the story went as told.

use std::time::Duration;

use keptn_sdk::event::{EventType, KeptnEvent, Phase};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::files::STAGES;
use super::story::Told;
use crate::output::Table;

/// One stage of one delivery.
#[derive(Debug, Clone, Default)]
pub struct StageOutcome {
    /// The stage.
    pub stage: String,
    /// The deployed version (image tag).
    pub deployed: Option<String>,
    /// The deployment URI.
    pub uri: Option<String>,
    /// Result and score of the evaluation, and whether objectives were scored.
    pub evaluation: Option<(String, f64, bool)>,
    /// Result of the stage's delivery sequence.
    pub delivery: Option<String>,
    /// Result of the stage's rollback sequence.
    pub rollback: Option<String>,
}

/// One delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The image delivered.
    pub image: String,
    /// Its Keptn context.
    pub context: String,
    /// dev, staging, production.
    pub stages: Vec<StageOutcome>,
}

fn result(event: &KeptnEvent) -> String {
    event.data_str("result").unwrap_or("").to_owned()
}

fn is(event: &KeptnEvent, task_name: &str, stage: &str) -> bool {
    matches!(&event.event_type,
        EventType::Task { task, phase: Phase::Finished } if task == task_name)
        && event.stage() == Some(stage)
}

fn sequence_finished(event: &KeptnEvent, stage_name: &str, sequence_name: &str) -> bool {
    matches!(&event.event_type,
        EventType::Sequence { stage, sequence, phase: Phase::Finished }
            if stage == stage_name && sequence == sequence_name)
}

fn evaluation_of(event: &KeptnEvent) -> (String, f64, bool) {
    let evaluation = event.data.get("evaluation");
    let score = evaluation
        .and_then(|e| e.get("score"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let scored = evaluation
        .and_then(|e| e.get("indicatorResults"))
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    (result(event), score, scored)
}

impl Delivery {
    /// Reads a delivery from the events of its context (oldest first).
    pub fn from_events(image: &str, context: &str, events: &[KeptnEvent]) -> Self {
        let stages = STAGES
            .iter()
            .map(|stage| {
                let mut out = StageOutcome {
                    stage: (*stage).to_owned(),
                    ..StageOutcome::default()
                };
                for event in events {
                    if is(event, "deployment", stage) && result(event) == "pass" {
                        let deployment = event.data.get("deployment");
                        let field = |name: &str| {
                            deployment
                                .and_then(|d| d.get(name))
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        };
                        out.deployed = field("tag").or_else(|| field("image"));
                        out.uri = deployment
                            .and_then(|d| d.pointer("/deploymentURIsLocal/0"))
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                    } else if is(event, "evaluation", stage) {
                        out.evaluation = Some(evaluation_of(event));
                    } else if sequence_finished(event, stage, "delivery") {
                        out.delivery = Some(result(event));
                    } else if sequence_finished(event, stage, "rollback") {
                        out.rollback = Some(result(event));
                    }
                }
                out
            })
            .collect();
        Self {
            image: image.to_owned(),
            context: context.to_owned(),
            stages,
        }
    }

    /// The deployment URIs of the stages it reached.
    pub fn uris(&self) -> Vec<(String, String)> {
        self.stages
            .iter()
            .filter_map(|s| s.uri.clone().map(|u| (s.stage.clone(), u)))
            .collect()
    }

    fn stage(&self, name: &str) -> Option<&StageOutcome> {
        self.stages.iter().find(|s| s.stage == name)
    }
}

/// One executed action.
#[derive(Debug, Clone)]
pub struct ActionRow {
    /// The action id.
    pub action: String,
    /// The provider that executed it.
    pub provider: String,
    /// Its result.
    pub result: String,
    /// Its message.
    pub message: String,
}

/// The remediation.
#[derive(Debug, Clone, Default)]
pub struct Remediation {
    /// Its Keptn context.
    pub context: String,
    /// The actions, in order.
    pub actions: Vec<ActionRow>,
    /// The evaluations after the actions: result, score, scored.
    pub evaluations: Vec<(String, f64, bool)>,
    /// The result of the last remediation sequence.
    pub result: Option<String>,
}

impl Remediation {
    /// Reads the remediation from the events of its context (oldest first).
    pub fn from_events(context: &str, events: &[KeptnEvent]) -> Self {
        let mut out = Remediation {
            context: context.to_owned(),
            ..Remediation::default()
        };
        // action.finished does not repeat the action: it is in the action.triggered answered.
        let chosen = |finished: &KeptnEvent| {
            events
                .iter()
                .find(|e| Some(&e.id) == finished.triggeredid.as_ref())
                .and_then(|t| t.data.pointer("/action/action"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        for event in events {
            if is(event, "action", "production") {
                out.actions.push(ActionRow {
                    action: chosen(event),
                    provider: event.source.clone(),
                    result: result(event),
                    message: event.data_str("message").unwrap_or("").to_owned(),
                });
            } else if is(event, "evaluation", "production") {
                out.evaluations.push(evaluation_of(event));
            } else if sequence_finished(event, "production", "remediation") {
                out.result = Some(result(event));
            }
        }
        out
    }
}

/// The version the demo service at `uri` reports, or why there is none.
pub async fn serving(uri: &str) -> String {
    match get_version(uri).await {
        Ok(version) => version,
        Err(why) => format!("({why})"),
    }
}

async fn get_version(uri: &str) -> Result<String, String> {
    let authority = uri
        .strip_prefix("http://")
        .ok_or("not an http URI")?
        .trim_end_matches('/')
        .to_owned();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&authority).await?;
        let request = format!("GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json: Value = serde_json::from_str(body).map_err(|_| "not the demo service".to_owned())?;
    json.get("version")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "no version".to_owned())
}

fn short(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

fn evaluation_cell(evaluation: &Option<(String, f64, bool)>) -> String {
    match evaluation {
        None => "-".to_owned(),
        Some((result, _, false)) => format!("{result} (no SLO)"),
        Some((result, score, true)) => format!("{result} (score {score:.0})"),
    }
}

fn outcome_cell(stage: &StageOutcome) -> String {
    let mut text = match (&stage.delivery, &stage.deployed) {
        (None, None) => "not delivered".to_owned(),
        (None, Some(_)) => "running".to_owned(),
        (Some(result), _) => result.clone(),
    };
    if let Some(rollback) = &stage.rollback {
        text.push_str(&format!(", rolled back ({rollback})"));
    }
    text
}

/// Prints the summary tables.
pub fn print(told: &Told) {
    println!();
    println!("== Summary");
    let mut table = Table::new(["DELIVERY", "STAGE", "DEPLOYED", "EVALUATION", "OUTCOME"]);
    for delivery in &told.deliveries {
        for (i, stage) in delivery.stages.iter().enumerate() {
            let name = if i == 0 {
                short(&delivery.image).to_owned()
            } else {
                String::new()
            };
            table.row([
                name,
                stage.stage.clone(),
                stage.deployed.clone().unwrap_or_else(|| "-".to_owned()),
                evaluation_cell(&stage.evaluation),
                outcome_cell(stage),
            ]);
        }
    }
    print!("{}", table.render());
    if let Some(remediation) = &told.remediation {
        println!();
        let mut table = Table::new(["REMEDIATION ACTION", "PROVIDER", "RESULT", "MESSAGE"]);
        for action in &remediation.actions {
            table.row([
                action.action.clone(),
                action.provider.clone(),
                action.result.clone(),
                action.message.clone(),
            ]);
        }
        print!("{}", table.render());
        for evaluation in &remediation.evaluations {
            println!(
                "evaluation after the action: {}",
                evaluation_cell(&Some(evaluation.clone()))
            );
        }
        println!(
            "remediation: {}",
            remediation.result.as_deref().unwrap_or("not finished")
        );
    }
    println!();
    for delivery in &told.deliveries {
        println!(
            "Keptn context of {}: {}",
            short(&delivery.image),
            delivery.context
        );
    }
    if let Some(remediation) = &told.remediation {
        println!("Keptn context of the remediation: {}", remediation.context);
    }
}

/// What did not go as the story says; empty when it did.
pub fn deviations(told: &Told) -> Vec<String> {
    let mut out = Vec::new();
    let stage_of = |i: usize, stage: &str| told.deliveries.get(i).and_then(|d| d.stage(stage));
    if stage_of(0, "production").and_then(|s| s.delivery.as_deref()) != Some("pass") {
        out.push("the good build did not reach production".to_owned());
    }
    let staging = stage_of(1, "staging");
    if staging
        .and_then(|s| s.evaluation.as_ref())
        .map(|e| e.0.as_str())
        != Some("fail")
    {
        out.push("the quality gate did not stop the slow build in staging".to_owned());
    }
    if staging.and_then(|s| s.rollback.as_deref()) != Some("pass") {
        out.push("the slow build's canary was not rolled back in staging".to_owned());
    }
    if stage_of(1, "production").is_some_and(|s| s.deployed.is_some()) {
        out.push("the slow build reached production".to_owned());
    }
    match &told.remediation {
        Some(r) if !r.actions.is_empty() && r.result.as_deref() == Some("pass") => {}
        _ => out.push("the remediation did not resolve the problem".to_owned()),
    }
    out
}
