//! trigger delivery / evaluation / sequence / remediation, and sequence control.

use anyhow::{Context, bail};
use keptn_sdk::api::{EvaluationParams, SequenceControlParams, SequenceControlState};
use keptn_sdk::client::ApiClient;
use keptn_sdk::event::{EventType, Phase};
use serde_json::{Value, json};

use super::{parse_assignments, parse_labels};
use crate::cli::{SequenceTarget, TriggerCommand, WatchFlags};
use crate::watch;

const CLI_SOURCE: &str = "https://github.com/keptn/keptn/cli";

pub async fn run(client: &ApiClient, command: TriggerCommand, quiet: bool) -> anyhow::Result<i32> {
    let (project, context, watch_flags) = match command {
        TriggerCommand::Delivery {
            project,
            service,
            image,
            tag,
            stage,
            sequence,
            labels,
            values,
            watch,
        } => {
            let stage = match stage {
                Some(stage) => stage,
                None => first_stage(client, &project).await?,
            };
            let image = match tag {
                Some(tag) => format!("{image}:{tag}"),
                None => image,
            };
            let mut values = parse_assignments(&values)?;
            values["image"] = Value::from(image.clone());
            let data = json!({
                "project": project,
                "stage": stage,
                "service": service,
                "labels": parse_labels(&labels)?,
                "configurationChange": {"values": values},
            });
            let context =
                send_sequence(client, &stage, &sequence, "configuration-change", data).await?;
            if !quiet {
                println!(
                    "Started delivery of {image} for service {service} in project {project} \
                     (stage {stage}, sequence {sequence})"
                );
            }
            (project, context, watch)
        }
        TriggerCommand::Evaluation {
            project,
            stage,
            service,
            timeframe,
            start,
            end,
            labels,
            git_commit_id,
            watch,
        } => {
            let labels = parse_labels(&labels)?;
            let params = EvaluationParams {
                start,
                end,
                timeframe,
                labels: (!labels.is_empty()).then_some(labels),
                gitcommitid: git_commit_id,
            };
            let context = client
                .trigger_evaluation(&project, &stage, &service, &params)
                .await?
                .keptn_context;
            if !quiet {
                println!(
                    "Started evaluation of service {service} in stage {stage} of project {project}"
                );
            }
            (project, context, watch)
        }
        TriggerCommand::Sequence {
            name,
            project,
            stage,
            service,
            labels,
            data,
            watch,
        } => {
            let mut payload = parse_assignments(&data)?;
            payload["project"] = Value::from(project.clone());
            payload["stage"] = Value::from(stage.clone());
            if let Some(service) = &service {
                payload["service"] = Value::from(service.clone());
            }
            payload["labels"] = serde_json::to_value(parse_labels(&labels)?)?;
            let context = send_sequence(client, &stage, &name, "trigger-sequence", payload).await?;
            if !quiet {
                println!("Started sequence {name} in stage {stage} of project {project}");
            }
            (project, context, watch)
        }
        TriggerCommand::Remediation {
            project,
            stage,
            service,
            problem_title,
            root_cause,
            watch,
        } => {
            let mut problem = json!({"problemTitle": problem_title, "state": "OPEN"});
            if let Some(root_cause) = root_cause {
                problem["rootCause"] = Value::from(root_cause);
            }
            let data = json!({
                "project": project,
                "stage": stage,
                "service": service,
                "problem": problem,
            });
            let context = send_sequence(client, &stage, "remediation", "problem", data).await?;
            if !quiet {
                println!(
                    "Raised problem {problem_title:?} for service {service} in stage {stage} of project {project}"
                );
            }
            (project, context, watch)
        }
    };
    if !quiet {
        println!("Keptn context: {context}");
    }
    if watch_flags.watch {
        return watch_sequence(client, &project, &context, &watch_flags).await;
    }
    Ok(0)
}

async fn watch_sequence(
    client: &ApiClient,
    project: &str,
    context: &str,
    flags: &WatchFlags,
) -> anyhow::Result<i32> {
    let limit = watch::parse_duration(&flags.watch_time)
        .with_context(|| format!("--watch-time {:?}", flags.watch_time))?;
    let outcome = watch::follow(client, project, context, limit).await?;
    Ok(if outcome.succeeded() { 0 } else { 1 })
}

async fn first_stage(client: &ApiClient, project: &str) -> anyhow::Result<String> {
    let stages = client.stages(project).await?;
    match stages.stages.into_iter().next() {
        Some(stage) => Ok(stage.stage_name),
        None => bail!("project {project} has no stages"),
    }
}

async fn send_sequence(
    client: &ApiClient,
    stage: &str,
    sequence: &str,
    source_suffix: &str,
    data: Value,
) -> anyhow::Result<String> {
    let event_type = EventType::sequence(stage, sequence, Phase::Triggered);
    let body = json!({
        "specversion": "1.0",
        "type": event_type.to_string(),
        "source": format!("{CLI_SOURCE}#{source_suffix}"),
        "datacontenttype": "application/json",
        "data": data,
    });
    Ok(client.send_event(&body).await?.keptn_context)
}

pub async fn control(
    client: &ApiClient,
    target: SequenceTarget,
    state: &str,
) -> anyhow::Result<i32> {
    let SequenceTarget::Sequence {
        keptn_context,
        project,
        stage,
    } = target;
    let state = match state {
        "pause" => SequenceControlState::Pause,
        "resume" => SequenceControlState::Resume,
        _ => SequenceControlState::Abort,
    };
    client
        .control_sequence(
            &project,
            &keptn_context,
            &SequenceControlParams {
                state,
                stage: stage.clone(),
            },
        )
        .await?;
    let verb = match state {
        SequenceControlState::Pause => "paused",
        SequenceControlState::Resume => "resumed",
        SequenceControlState::Abort => "aborted",
    };
    match stage {
        Some(stage) => println!("Sequence {keptn_context} {verb} in stage {stage}"),
        None => println!("Sequence {keptn_context} {verb}"),
    }
    Ok(0)
}
