//! send event --file, send event approval.finished.

use anyhow::{Context, bail};
use keptn_sdk::client::{ApiClient, TriggeredQuery};
use keptn_sdk::event::EventDraft;
use serde_json::json;

use super::parse_labels;
use crate::cli::{SendCommand, SendEventKind};

pub async fn run(client: &ApiClient, command: SendCommand) -> anyhow::Result<i32> {
    let SendCommand::Event(args) = command;
    match (args.file, args.kind) {
        (Some(path), None) => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let draft = EventDraft::from_json(&bytes)
                .with_context(|| format!("{} is not a CloudEvent", path.display()))?;
            let context = client.send_event(&draft).await?;
            println!("Event sent (Keptn context {})", context.keptn_context);
            Ok(0)
        }
        (
            None,
            Some(SendEventKind::ApprovalFinished {
                project,
                stage,
                service,
                id,
                decline,
                labels,
            }),
        ) => {
            let open = client
                .triggered_events(
                    "sh.keptn.event.approval.triggered",
                    &TriggeredQuery {
                        project: Some(project.clone()),
                        stage: Some(stage.clone()),
                        service: service.clone(),
                        event_id: id.clone(),
                    },
                )
                .await?
                .events;
            let approval = match (open.as_slice(), &id) {
                ([], Some(id)) => {
                    bail!("no open approval with id {id} in stage {stage} of project {project}")
                }
                ([], None) => bail!("no open approval in stage {stage} of project {project}"),
                ([one], _) => one,
                (many, _) => {
                    let ids: Vec<String> = many
                        .iter()
                        .map(|e| format!("{} (service {})", e.id, e.service().unwrap_or("-")))
                        .collect();
                    bail!(
                        "{} open approvals in stage {stage}; choose one with --id or --service: {}",
                        many.len(),
                        ids.join(", ")
                    )
                }
            };
            let mut data = json!({
                "project": project,
                "stage": stage,
                "service": approval.service().unwrap_or_default(),
                "status": "succeeded",
                "result": if decline { "fail" } else { "pass" },
            });
            let labels = parse_labels(&labels)?;
            if !labels.is_empty() {
                data["labels"] = serde_json::to_value(labels)?;
            }
            let event = json!({
                "specversion": "1.0",
                "type": "sh.keptn.event.approval.finished",
                "source": "https://github.com/keptn/keptn/cli#approval.finished",
                "datacontenttype": "application/json",
                "shkeptncontext": approval.shkeptncontext,
                "triggeredid": approval.id,
                "data": data,
            });
            // An executor answers started before finished; the approval service already sent
            // approval.started when the approval opened.
            client.send_event(&event).await?;
            println!(
                "Approval {} {} for service {} in stage {stage}",
                approval.id,
                if decline { "declined" } else { "approved" },
                approval.service().unwrap_or("-")
            );
            Ok(0)
        }
        _ => bail!("give either --file <event.json> or a typed event such as approval.finished"),
    }
}
