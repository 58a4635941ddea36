//! auth, status, version, projects, services, resources and monitoring configuration.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keptn_sdk::api::CreateProjectParams;
use keptn_sdk::client::{ApiClient, ResourceScope};
use keptn_sdk::event::payload::MonitoringConfigure;
use keptn_sdk::event::{EventType, KeptnEvent, MONITORING_CONFIGURE_EVENT_TYPE};

use crate::cli::{
    AddResourceArgs, AuthArgs, ConfigureCommand, CreateCommand, DeleteCommand, GitFlags,
    UpdateCommand,
};
use crate::config::{self, CliConfig};

pub async fn auth(config_file: Option<&Path>, args: AuthArgs) -> anyhow::Result<i32> {
    let client = ApiClient::new(&args.endpoint, Some(args.api_token.clone()))?;
    client
        .auth()
        .await
        .with_context(|| format!("authenticating at {}", args.endpoint))?;
    let path = config::save(
        config_file,
        &CliConfig {
            endpoint: args.endpoint.clone(),
            token: args.api_token,
        },
    )?;
    println!(
        "Successfully authenticated against {} (stored in {})",
        args.endpoint,
        path.display()
    );
    Ok(0)
}

pub async fn status(config_file: Option<&Path>) -> anyhow::Result<i32> {
    let config = config::load(config_file)?;
    let client = ApiClient::new(&config.endpoint, Some(config.token))?;
    client.auth().await.with_context(|| {
        format!(
            "the control plane at {} did not accept the stored token",
            config.endpoint
        )
    })?;
    let metadata = client.metadata().await?;
    println!(
        "Keptn control plane {} is available at {}",
        metadata.keptnversion, config.endpoint
    );
    Ok(0)
}

pub async fn version(config_file: Option<&Path>) -> anyhow::Result<i32> {
    println!("CLI version: {}", env!("CARGO_PKG_VERSION"));
    if let Ok(config) = config::load(config_file) {
        if let Ok(client) = ApiClient::new(&config.endpoint, Some(config.token)) {
            match client.metadata().await {
                Ok(m) => println!(
                    "Control plane version: {} ({})",
                    m.keptnversion, config.endpoint
                ),
                Err(e) => println!("Control plane at {} not reachable: {e}", config.endpoint),
            }
        }
    }
    Ok(0)
}

fn git_params(name: &str, git: GitFlags) -> anyhow::Result<CreateProjectParams> {
    let private_key = match &git.git_private_key {
        Some(path) => Some(
            STANDARD.encode(
                std::fs::read(path)
                    .with_context(|| format!("reading the SSH key {}", path.display()))?,
            ),
        ),
        None => None,
    };
    Ok(CreateProjectParams {
        name: name.to_owned(),
        git_remote_url: git.git_remote_url,
        git_user: git.git_user,
        git_token: git.git_token,
        git_private_key: private_key,
        git_private_key_pass: git.git_private_key_pass,
        ..CreateProjectParams::default()
    })
}

fn read_shipyard(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the shipyard {}", path.display()))?;
    Ok(STANDARD.encode(bytes))
}

pub async fn create(client: &ApiClient, command: CreateCommand) -> anyhow::Result<i32> {
    match command {
        CreateCommand::Project {
            name,
            shipyard,
            git,
        } => {
            let mut params = git_params(&name, git)?;
            params.shipyard = Some(read_shipyard(&shipyard)?);
            client.create_project(&params).await?;
            println!("Project {name} created");
        }
        CreateCommand::Service { name, project } => {
            client.create_service(&project, &name).await?;
            println!("Service {name} created in project {project}");
        }
    }
    Ok(0)
}

pub async fn update(client: &ApiClient, command: UpdateCommand) -> anyhow::Result<i32> {
    let UpdateCommand::Project {
        name,
        shipyard,
        git,
    } = command;
    let mut params = git_params(&name, git)?;
    if let Some(path) = shipyard {
        params.shipyard = Some(read_shipyard(&path)?);
    }
    client.update_project(&params).await?;
    println!("Project {name} updated");
    Ok(0)
}

pub async fn delete(client: &ApiClient, command: DeleteCommand, _yes: bool) -> anyhow::Result<i32> {
    match command {
        DeleteCommand::Project { name } => {
            let answer = client.delete_project(&name).await?;
            println!("Project {name} deleted");
            if !answer.message.is_empty() {
                println!("{}", answer.message);
            }
        }
        DeleteCommand::Service { name, project } => {
            client.delete_service(&project, &name).await?;
            println!("Service {name} deleted from project {project}");
        }
    }
    Ok(0)
}

pub async fn add_resource(client: &ApiClient, args: AddResourceArgs) -> anyhow::Result<i32> {
    let content = std::fs::read(&args.resource)
        .with_context(|| format!("reading {}", args.resource.display()))?;
    let uri = match &args.resource_uri {
        Some(uri) => uri.trim_start_matches('/').to_owned(),
        None => args
            .resource
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("the resource path has no file name; pass --resourceUri")?,
    };
    let stages: Vec<Option<String>> = if args.all_stages {
        client
            .stages(&args.project)
            .await?
            .stages
            .into_iter()
            .map(|s| Some(s.stage_name))
            .collect()
    } else {
        vec![args.stage.clone()]
    };
    for stage in stages {
        let scope = match (stage, &args.service) {
            (None, None) => ResourceScope::Project {
                project: args.project.clone(),
            },
            (None, Some(_)) => bail!("--service needs --stage or --all-stages"),
            (Some(stage), None) => ResourceScope::Stage {
                project: args.project.clone(),
                stage,
            },
            (Some(stage), Some(service)) => ResourceScope::Service {
                project: args.project.clone(),
                stage,
                service: service.clone(),
            },
        };
        let written = client.put_resource(&scope, &uri, &content).await?;
        println!(
            "Resource {uri} added to {} (commit {})",
            describe(&scope),
            written.commit_id
        );
    }
    Ok(0)
}

fn describe(scope: &ResourceScope) -> String {
    match scope {
        ResourceScope::Project { project } => format!("project {project}"),
        ResourceScope::Stage { project, stage } => format!("stage {stage} of project {project}"),
        ResourceScope::Service {
            project,
            stage,
            service,
        } => format!("service {service} in stage {stage} of project {project}"),
        ResourceScope::ServiceDefault { project, service } => {
            format!("service {service} of project {project}")
        }
    }
}

pub async fn configure(client: &ApiClient, command: ConfigureCommand) -> anyhow::Result<i32> {
    let ConfigureCommand::Monitoring {
        provider,
        project,
        service,
    } = command;
    let payload = MonitoringConfigure {
        kind: provider.clone(),
        project: project.clone(),
        service,
    };
    let event = KeptnEvent::builder(EventType::parse(MONITORING_CONFIGURE_EVENT_TYPE))
        .source("https://github.com/keptn/keptn/cli#configure-monitoring")
        .data(&payload)?
        .build()?;
    let context = client.send_event(&event).await?;
    println!(
        "Monitoring provider {provider} configured for project {project} (context {})",
        context.keptn_context
    );
    Ok(0)
}
