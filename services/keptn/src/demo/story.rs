//! The story of `keptn demo`, told against any control plane through its API.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::client::{ApiClient, ResourceScope};
use keptn_sdk::event::payload::MonitoringConfigure;
use keptn_sdk::event::{EventType, KeptnEvent, MONITORING_CONFIGURE_EVENT_TYPE, Phase};
use serde_json::json;

use super::files::{
    GOOD_IMAGE, PROBLEM, REMEDIATION, SERVICE, SHIPYARD, SLO, SLOW_IMAGE, http_load, run_config,
};
use super::summary::{Delivery, Remediation, serving};
use crate::watch;

const SOURCE: &str = "https://github.com/keptn/keptn/cli#demo";

/// How the story is told.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project to create.
    pub project: String,
    /// Seconds of each performance test.
    pub load_seconds: u32,
    /// How long one delivery or remediation may take.
    pub limit: Duration,
}

/// What happened, for the summary.
#[derive(Debug, Default)]
pub struct Told {
    /// The deliveries, in order.
    pub deliveries: Vec<Delivery>,
    /// The remediation.
    pub remediation: Option<Remediation>,
    /// Whether the demo created its project (and may delete it).
    pub project_created: bool,
}

fn chapter(title: &str) {
    println!();
    println!("== {title}");
}

/// Creates the project (setting `created`) and onboards the demo service.
pub async fn onboard(
    client: &ApiClient,
    settings: &Settings,
    created: &mut bool,
) -> anyhow::Result<()> {
    let project = settings.project.as_str();
    chapter(&format!("Project {project}"));
    if client.project(project).await?.is_some() {
        bail!("project {project} exists already: choose another one with --project");
    }
    client
        .create_project(&CreateProjectParams {
            name: project.to_owned(),
            shipyard: Some(STANDARD.encode(SHIPYARD)),
            ..CreateProjectParams::default()
        })
        .await
        .with_context(|| format!("creating project {project}"))?;
    *created = true;
    println!(
        "   stages: dev (direct) -> staging (blue/green, quality gate) -> production (approval, blue/green)"
    );
    client.create_service(project, SERVICE).await?;
    let keptn =
        std::env::current_exe().context("finding the keptn program for the demo service")?;
    client
        .put_resources(
            &ResourceScope::ServiceDefault {
                project: project.to_owned(),
                service: SERVICE.to_owned(),
            },
            &[
                (
                    "local/deploy.yaml".to_owned(),
                    run_config(&keptn).into_bytes(),
                ),
                (
                    "http-load/config.yaml".to_owned(),
                    http_load(settings.load_seconds).into_bytes(),
                ),
            ],
        )
        .await?;
    println!(
        "   service {SERVICE}: the demo service (`{} demo-service`), run by the local deployer",
        keptn.display()
    );
    for stage in ["staging", "production"] {
        let mut files = vec![("slo.yaml".to_owned(), SLO.as_bytes().to_vec())];
        if stage == "production" {
            files.push((
                "remediation.yaml".to_owned(),
                REMEDIATION.as_bytes().to_vec(),
            ));
        }
        client
            .put_resources(
                &ResourceScope::Service {
                    project: project.to_owned(),
                    stage: stage.to_owned(),
                    service: SERVICE.to_owned(),
                },
                &files,
            )
            .await?;
    }
    println!(
        "   quality gate in staging and production: response_time_p95 <= 300 ms, error_rate <= 1 %"
    );
    let configure = KeptnEvent::builder(EventType::parse(MONITORING_CONFIGURE_EVENT_TYPE))
        .source(SOURCE)
        .data(&MonitoringConfigure {
            kind: "builtin".to_owned(),
            project: project.to_owned(),
            service: None,
        })?
        .build()?;
    client.send_event(&configure).await?;
    println!("   monitoring: builtin (the SLIs are measured by the http-load tests)");
    Ok(())
}

async fn trigger(
    client: &ApiClient,
    stage: &str,
    sequence: &str,
    data: serde_json::Value,
) -> anyhow::Result<String> {
    let event = KeptnEvent::builder(EventType::sequence(stage, sequence, Phase::Triggered))
        .source(SOURCE)
        .data_json(data)
        .build()?;
    Ok(client.send_event(&event).await?.keptn_context)
}

/// The events the story shows: sequences starting and ending, tasks ending.
fn shown(event: &KeptnEvent) -> bool {
    match &event.event_type {
        EventType::Sequence { phase, .. } => matches!(phase, Phase::Triggered | Phase::Finished),
        EventType::Task { task, phase } => {
            *phase == Phase::Finished && !task.starts_with("monitoring")
        }
        EventType::Other(_) => false,
    }
}

/// Delivers `image` and follows it through every stage.
pub async fn deliver(
    client: &ApiClient,
    settings: &Settings,
    image: &str,
    why: &str,
) -> anyhow::Result<Delivery> {
    chapter(&format!("Delivering {image} ({why})"));
    let project = settings.project.as_str();
    let context = trigger(
        client,
        "dev",
        "delivery",
        json!({
            "project": project,
            "stage": "dev",
            "service": SERVICE,
            "configurationChange": {"values": {"image": image}},
        }),
    )
    .await?;
    println!("   Keptn context: {context}");
    watch::follow_with(client, project, &context, settings.limit, &shown, false).await?;
    let events = watch::context_events(client, project, &context).await?;
    Ok(Delivery::from_events(image, &context, &events))
}

/// Prints what each stage serves now, asking the deployment URIs over HTTP.
async fn print_serving(told: &Told) {
    let mut uris: Vec<(String, String)> = Vec::new();
    for (stage, uri) in told.deliveries.iter().flat_map(Delivery::uris) {
        match uris.iter_mut().find(|(s, _)| *s == stage) {
            Some(entry) => entry.1 = uri,
            None => uris.push((stage, uri)),
        }
    }
    println!("   now serving:");
    for (stage, uri) in uris {
        println!("     {stage:<10} {:<14} {uri}", serving(&uri).await);
    }
}

/// Raises a problem in production and follows the remediation.
pub async fn remediate(client: &ApiClient, settings: &Settings) -> anyhow::Result<Remediation> {
    chapter(&format!(
        "Problem in production: \"{PROBLEM}\" (as a monitoring tool would report it)"
    ));
    let project = settings.project.as_str();
    let context = trigger(
        client,
        "production",
        "remediation",
        json!({
            "project": project,
            "stage": "production",
            "service": SERVICE,
            "problem": {"problemTitle": PROBLEM, "state": "OPEN"},
        }),
    )
    .await?;
    println!("   Keptn context: {context}");
    watch::follow_with(client, project, &context, settings.limit, &shown, false).await?;
    let events = watch::context_events(client, project, &context).await?;
    Ok(Remediation::from_events(&context, &events))
}

/// The whole story: onboarding, a good and a slow delivery, a remediation.
pub async fn tell(client: &ApiClient, settings: &Settings, told: &mut Told) -> anyhow::Result<()> {
    onboard(client, settings, &mut told.project_created).await?;
    told.deliveries.push(
        deliver(
            client,
            settings,
            GOOD_IMAGE,
            "a fast build: it should reach production",
        )
        .await?,
    );
    print_serving(told).await;
    told.deliveries.push(
        deliver(
            client,
            settings,
            SLOW_IMAGE,
            "a build that answers in 400 ms: the quality gate should stop it",
        )
        .await?,
    );
    print_serving(told).await;
    told.remediation = Some(remediate(client, settings).await?);
    Ok(())
}
