//! get event / project / stage / service / sequence.

use anyhow::bail;
use keptn_sdk::api::{EventQueryParams, ExpandedService};
use keptn_sdk::client::{ApiClient, SequenceQuery};
use serde::Serialize;

use crate::cli::{GetCommand, OutputFormat};
use crate::output::{Table, print_structured};

/// `approval.triggered` -> `sh.keptn.event.approval.triggered`.
pub fn full_event_type(short: &str) -> String {
    if short.starts_with("sh.keptn.") {
        short.to_owned()
    } else {
        format!("sh.keptn.event.{short}")
    }
}

fn emit<T: Serialize>(
    format: OutputFormat,
    value: &T,
    table: impl FnOnce() -> Table,
) -> anyhow::Result<i32> {
    match format {
        OutputFormat::Table => table().print(),
        other => print_structured(other, value)?,
    }
    Ok(0)
}

pub async fn run(client: &ApiClient, command: GetCommand) -> anyhow::Result<i32> {
    match command {
        GetCommand::Event {
            event_type,
            project,
            stage,
            service,
            keptn_context,
            page_size,
            num_of_pages,
            output,
        } => {
            let event_type = full_event_type(&event_type);
            // Open triggered events (approvals waiting for an answer) come from the controller;
            // everything else from the datastore.
            let events = if event_type.ends_with(".triggered") && keptn_context.is_none() {
                client
                    .triggered_events(
                        &event_type,
                        &keptn_sdk::client::TriggeredQuery {
                            project: Some(project.clone()),
                            stage: stage.clone(),
                            service: service.clone(),
                            event_id: None,
                        },
                    )
                    .await?
                    .events
            } else {
                let mut all = Vec::new();
                let mut key = None;
                for _ in 0..num_of_pages.max(1) {
                    let page = client
                        .events(&EventQueryParams {
                            event_type: Some(event_type.clone()),
                            project: Some(project.clone()),
                            stage: stage.clone(),
                            service: service.clone(),
                            keptn_context: keptn_context.clone(),
                            page_size: Some(page_size),
                            next_page_key: key.clone(),
                            ..EventQueryParams::default()
                        })
                        .await?;
                    all.extend(page.events);
                    match page.next_page_key {
                        Some(next) if !next.is_empty() && next != "0" => key = Some(next),
                        _ => break,
                    }
                }
                all
            };
            if events.is_empty() && output == OutputFormat::Table {
                println!("No {event_type} events found");
                return Ok(0);
            }
            emit(output, &events, || {
                let mut t = Table::new(["ID", "CONTEXT", "STAGE", "SERVICE", "TIME"]);
                for e in &events {
                    t.row([
                        e.id.to_string(),
                        e.shkeptncontext.to_string(),
                        e.stage().unwrap_or("").to_owned(),
                        e.service().unwrap_or("").to_owned(),
                        e.time.to_rfc3339(),
                    ]);
                }
                t
            })
        }
        GetCommand::Project { name, output } => {
            let projects = match name {
                Some(name) => match client.project(&name).await? {
                    Some(p) => vec![p],
                    None => bail!("project {name} does not exist"),
                },
                None => client.projects().await?.projects,
            };
            emit(output, &projects, || {
                let mut t = Table::new(["NAME", "CREATION DATE", "STAGES"]);
                for p in &projects {
                    let stages: Vec<&str> =
                        p.stages.iter().map(|s| s.stage_name.as_str()).collect();
                    t.row([
                        p.project_name.clone(),
                        p.creation_date.clone(),
                        stages.join(","),
                    ]);
                }
                t
            })
        }
        GetCommand::Stage { project, output } => {
            let stages = client.stages(&project).await?.stages;
            emit(output, &stages, || {
                let mut t = Table::new(["NAME", "SERVICES"]);
                for s in &stages {
                    let services: Vec<&str> =
                        s.services.iter().map(|v| v.service_name.as_str()).collect();
                    t.row([s.stage_name.clone(), services.join(",")]);
                }
                t
            })
        }
        GetCommand::Service {
            name,
            project,
            stage,
            output,
        } => {
            let stages = client.stages(&project).await?.stages;
            let mut rows: Vec<(String, ExpandedService)> = Vec::new();
            for s in stages {
                if stage.as_ref().is_some_and(|wanted| *wanted != s.stage_name) {
                    continue;
                }
                for svc in s.services {
                    if name
                        .as_ref()
                        .is_none_or(|wanted| *wanted == svc.service_name)
                    {
                        rows.push((s.stage_name.clone(), svc));
                    }
                }
            }
            if let (Some(name), true) = (&name, rows.is_empty()) {
                bail!("service {name} does not exist in project {project}");
            }
            let services: Vec<&ExpandedService> = rows.iter().map(|(_, s)| s).collect();
            emit(output, &services, || {
                let mut t = Table::new(["NAME", "STAGE", "DEPLOYED IMAGE", "CREATION DATE"]);
                for (stage, s) in &rows {
                    t.row([
                        s.service_name.clone(),
                        stage.clone(),
                        s.deployed_image.clone(),
                        s.creation_date.clone(),
                    ]);
                }
                t
            })
        }
        GetCommand::Sequence {
            project,
            keptn_context,
            name,
            state,
            output,
        } => {
            let states = client
                .sequences(
                    &project,
                    &SequenceQuery {
                        name,
                        state,
                        keptn_context,
                        page_size: Some(50),
                        next_page_key: None,
                    },
                )
                .await?
                .states;
            emit(output, &states, || {
                let mut t = Table::new(["NAME", "CONTEXT", "SERVICE", "STATE", "STAGES", "TIME"]);
                for s in &states {
                    let stages: Vec<String> = s
                        .stages
                        .iter()
                        .map(|st| format!("{}:{}", st.name, st.state))
                        .collect();
                    t.row([
                        s.name.clone(),
                        s.shkeptncontext.clone(),
                        s.service.clone(),
                        s.state.clone(),
                        stages.join(" "),
                        s.time.clone(),
                    ]);
                }
                t
            })
        }
    }
}
