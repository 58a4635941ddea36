//! The command line: every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Drive a Keptn control plane, or run one.
#[derive(Debug, Parser)]
#[command(name = "keptn", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The CLI configuration file (default: the per-user configuration directory).
    #[arg(long, global = true, env = "KEPTN_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Answer yes to every question.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats of `get` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// A table.
    #[default]
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store the API endpoint and token, after checking them.
    Auth(AuthArgs),
    /// Create a project or a service.
    #[command(subcommand)]
    Create(CreateCommand),
    /// Update a project.
    #[command(subcommand)]
    Update(UpdateCommand),
    /// Delete a project or a service.
    #[command(subcommand)]
    Delete(DeleteCommand),
    /// Add a file as a resource of a project, stage or service.
    #[command(name = "add-resource")]
    AddResource(AddResourceArgs),
    /// Trigger a delivery, an evaluation, a remediation or any sequence.
    #[command(subcommand)]
    Trigger(TriggerCommand),
    /// Send an event.
    #[command(subcommand)]
    Send(SendCommand),
    /// Show projects, stages, services, sequences and events.
    #[command(subcommand)]
    Get(GetCommand),
    /// Pause a running sequence.
    #[command(subcommand)]
    Pause(SequenceTarget),
    /// Resume a paused sequence.
    #[command(subcommand)]
    Resume(SequenceTarget),
    /// Abort a sequence.
    #[command(subcommand)]
    Abort(SequenceTarget),
    /// Configure a project.
    #[command(subcommand)]
    Configure(ConfigureCommand),
    /// Check that the stored endpoint answers.
    Status,
    /// Print the CLI version and, when reachable, the control plane's.
    Version,
    /// Run the whole control plane in this process (API, orchestrator, stores, services).
    Serve(crate::serve::ServeArgs),
    /// Evaluate an SLO against measured values offline, with no control plane (for CI).
    ///
    /// Exit codes: 0 pass or warning, 2 fail, 3 bad input (the message names the file and the
    /// problem), 1 any other failure.
    Evaluate(EvaluateArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Tell the sockshop story on this machine: a project with dev, staging and production, a
    /// good and a slow delivery, a remediation.
    Demo(crate::demo::DemoArgs),
    /// Run the demo service of `keptn demo` (used by the local deployer).
    #[command(name = "demo-service", hide = true)]
    DemoService(crate::demo_service::DemoServiceArgs),
}

/// `keptn auth`
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The API endpoint, e.g. http://127.0.0.1:8090/api.
    #[arg(short, long, env = "KEPTN_ENDPOINT")]
    pub endpoint: String,
    /// The API token.
    #[arg(
        short = 'a',
        long = "api-token",
        env = "KEPTN_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: String,
}

/// Git upstream flags of project commands.
#[derive(Debug, Args, Default)]
pub struct GitFlags {
    /// The git user.
    #[arg(short = 'u', long)]
    pub git_user: Option<String>,
    /// The git token (https remotes).
    #[arg(short = 't', long)]
    pub git_token: Option<String>,
    /// The git remote URL (http, https or ssh).
    #[arg(short = 'r', long = "git-remote-url")]
    pub git_remote_url: Option<String>,
    /// A file with the SSH private key (ssh remotes).
    #[arg(short = 'k', long)]
    pub git_private_key: Option<PathBuf>,
    /// The passphrase of the SSH private key.
    #[arg(short = 'l', long)]
    pub git_private_key_pass: Option<String>,
}

/// `keptn create ...`
#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// Create a project from a shipyard file.
    Project {
        /// The project name.
        name: String,
        /// The shipyard file.
        #[arg(short, long)]
        shipyard: PathBuf,
        /// Git upstream.
        #[command(flatten)]
        git: GitFlags,
    },
    /// Create a service in every stage of a project.
    Service {
        /// The service name.
        name: String,
        /// The project.
        #[arg(short, long)]
        project: String,
    },
}

/// `keptn update ...`
#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Update a project's git upstream or shipyard.
    Project {
        /// The project name.
        name: String,
        /// A new shipyard file (stages may not change).
        #[arg(short, long)]
        shipyard: Option<PathBuf>,
        /// Git upstream.
        #[command(flatten)]
        git: GitFlags,
    },
}

/// `keptn delete ...`
#[derive(Debug, Subcommand)]
pub enum DeleteCommand {
    /// Delete a project with its events and configuration.
    Project {
        /// The project name.
        name: String,
    },
    /// Delete a service from every stage.
    Service {
        /// The service name.
        name: String,
        /// The project.
        #[arg(short, long)]
        project: String,
    },
}

/// `keptn add-resource`
#[derive(Debug, Args)]
pub struct AddResourceArgs {
    /// The project.
    #[arg(short, long)]
    pub project: String,
    /// The stage (omit for a project resource).
    #[arg(short, long, conflicts_with = "all_stages")]
    pub stage: Option<String>,
    /// Add to every stage.
    #[arg(long)]
    pub all_stages: bool,
    /// The service (with --stage or --all-stages).
    #[arg(long)]
    pub service: Option<String>,
    /// The file to upload.
    #[arg(long)]
    pub resource: PathBuf,
    /// Where to store it (default: the file name).
    #[arg(long = "resourceUri", alias = "resource-uri")]
    pub resource_uri: Option<String>,
}

/// Flags shared by trigger commands.
#[derive(Debug, Args, Default)]
pub struct WatchFlags {
    /// Follow the sequence until it finishes; exit non-zero if it fails.
    #[arg(short, long)]
    pub watch: bool,
    /// How long to follow it (e.g. 10m).
    #[arg(long, default_value = "30m")]
    pub watch_time: String,
}

/// `keptn trigger ...`
#[derive(Debug, Subcommand)]
pub enum TriggerCommand {
    /// Deliver a new version (image) of a service.
    Delivery {
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The service.
        #[arg(long)]
        service: String,
        /// The image, e.g. docker.io/keptnexamples/carts:0.13.1.
        #[arg(short, long)]
        image: String,
        /// The tag (appended to the image as image:tag).
        #[arg(long)]
        tag: Option<String>,
        /// The stage (default: the first stage).
        #[arg(short, long)]
        stage: Option<String>,
        /// The sequence.
        #[arg(long, default_value = "delivery")]
        sequence: String,
        /// Labels, k=v,k2=v2.
        #[arg(short, long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Values, key.path=value (repeatable).
        #[arg(long)]
        values: Vec<String>,
        /// Watching.
        #[command(flatten)]
        watch: WatchFlags,
    },
    /// Evaluate the quality gate of a service.
    Evaluation {
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The stage.
        #[arg(short, long)]
        stage: String,
        /// The service.
        #[arg(long)]
        service: String,
        /// Length of the timeframe, e.g. 5m (ending now, or after --start).
        #[arg(long, conflicts_with = "end")]
        timeframe: Option<String>,
        /// Start of the timeframe (RFC 3339).
        #[arg(long)]
        start: Option<String>,
        /// End of the timeframe (RFC 3339).
        #[arg(long)]
        end: Option<String>,
        /// Labels, k=v,k2=v2.
        #[arg(short, long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Evaluate with the configuration at this commit.
        #[arg(long)]
        git_commit_id: Option<String>,
        /// Watching.
        #[command(flatten)]
        watch: WatchFlags,
    },
    /// Trigger any sequence of the shipyard.
    Sequence {
        /// The sequence.
        name: String,
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The stage.
        #[arg(short, long)]
        stage: String,
        /// The service.
        #[arg(long)]
        service: Option<String>,
        /// Labels, k=v,k2=v2.
        #[arg(short, long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Data fields, key.path=value (repeatable).
        #[arg(long)]
        data: Vec<String>,
        /// Watching.
        #[command(flatten)]
        watch: WatchFlags,
    },
    /// Raise a problem: trigger the remediation sequence of a stage.
    Remediation {
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The stage.
        #[arg(short, long)]
        stage: String,
        /// The service.
        #[arg(long)]
        service: String,
        /// The problem title, matched against remediation.yaml.
        #[arg(long)]
        problem_title: String,
        /// The root cause, matched before the title.
        #[arg(long)]
        root_cause: Option<String>,
        /// Watching.
        #[command(flatten)]
        watch: WatchFlags,
    },
}

/// `keptn send ...`
#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Send an event: `--file <ce.json>`, or `approval.finished`.
    Event(SendEventArgs),
}

/// `keptn send event`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SendEventArgs {
    /// A JSON file with the CloudEvent to send.
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// A typed event to send instead of a file.
    #[command(subcommand)]
    pub kind: Option<SendEventKind>,
}

/// Typed events of `keptn send event`.
#[derive(Debug, Subcommand)]
pub enum SendEventKind {
    /// Approve or decline an open approval.
    #[command(name = "approval.finished")]
    ApprovalFinished {
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The stage.
        #[arg(short, long)]
        stage: String,
        /// The service (chooses the open approval of that service).
        #[arg(long)]
        service: Option<String>,
        /// The id of the approval.triggered event.
        #[arg(long)]
        id: Option<String>,
        /// Decline instead of approve.
        #[arg(long)]
        decline: bool,
        /// Labels, k=v,k2=v2.
        #[arg(short, long, value_delimiter = ',')]
        labels: Vec<String>,
    },
}

/// `keptn get ...`
#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// Show events of a type, newest first.
    Event {
        /// The event type, e.g. approval.triggered or sh.keptn.event.evaluation.finished.
        event_type: String,
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The stage.
        #[arg(short, long)]
        stage: Option<String>,
        /// The service.
        #[arg(long)]
        service: Option<String>,
        /// The Keptn context.
        #[arg(long)]
        keptn_context: Option<String>,
        /// Events per page.
        #[arg(long, default_value_t = 20)]
        page_size: u32,
        /// Pages to read at most.
        #[arg(long, default_value_t = 100)]
        num_of_pages: u32,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Json)]
        output: OutputFormat,
    },
    /// Show projects.
    #[command(visible_alias = "projects")]
    Project {
        /// Only this project.
        name: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show the stages of a project.
    #[command(visible_alias = "stages")]
    Stage {
        /// The project.
        #[arg(short, long)]
        project: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show the services of a project.
    #[command(visible_alias = "services")]
    Service {
        /// Only this service.
        name: Option<String>,
        /// The project.
        #[arg(short, long)]
        project: String,
        /// Only this stage.
        #[arg(short, long)]
        stage: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show sequences.
    #[command(visible_alias = "sequences")]
    Sequence {
        /// The project.
        #[arg(short, long)]
        project: String,
        /// Only this Keptn context.
        #[arg(short = 'c', long)]
        keptn_context: Option<String>,
        /// Only sequences with this name.
        #[arg(long)]
        name: Option<String>,
        /// Only sequences in this state.
        #[arg(long)]
        state: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

/// `keptn pause|resume|abort sequence`
#[derive(Debug, Subcommand)]
pub enum SequenceTarget {
    /// The sequence of one Keptn context.
    Sequence {
        /// The Keptn context.
        #[arg(short = 'c', long)]
        keptn_context: String,
        /// The project.
        #[arg(short, long)]
        project: String,
        /// Only this stage.
        #[arg(short, long)]
        stage: Option<String>,
    },
}

/// `keptn configure ...`
#[derive(Debug, Subcommand)]
pub enum ConfigureCommand {
    /// Choose the SLI provider of a project (e.g. prometheus, builtin).
    Monitoring {
        /// The provider.
        provider: String,
        /// The project.
        #[arg(short, long)]
        project: String,
        /// The service (optional).
        #[arg(long)]
        service: Option<String>,
    },
}

/// `keptn evaluate`
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The SLO file (slo.yaml).
    #[arg(long)]
    pub slo: PathBuf,
    /// The measured values: get-sli finished data, or {"indicatorValues": [...]}.
    #[arg(long)]
    pub sli: PathBuf,
    /// Earlier evaluation.finished data objects (a JSON array, newest first).
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Output format: a summary (table) or the evaluation.finished data (json, yaml).
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `keptn completion`
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
