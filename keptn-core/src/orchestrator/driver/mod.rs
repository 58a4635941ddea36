//! The controller: the async driver around the [`Core`](super::Core).
//!
//! [`Controller::run`] consumes `sh.keptn.>` in the queue group `shipyard-controller`, feeds the
//! core, commits the resulting state, outbox and processed event ids in one
//! [`Commit`](super::store::Commit) per batch of deliveries, and acknowledges the deliveries only
//! after that commit. A separate task publishes the outbox. Timers live in a heap and wake the
//! loop exactly when the earliest one is due; there is no polling tick.
//!
//! ```no_run
//! use std::sync::Arc;
//! use keptn_core::orchestrator::{Controller, ControllerConfig, MemoryShipyardSource};
//! use keptn_core::orchestrator::store::MemorySequenceStore;
//! use keptn_sdk::transport::MemoryTransport;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let controller = Controller::new(
//!     Arc::new(MemorySequenceStore::new()),
//!     Arc::new(MemoryTransport::default()),
//!     Arc::new(MemoryShipyardSource::new()),
//!     ControllerConfig::default(),
//! );
//! let handle = controller.handle();
//! let task = tokio::spawn(controller.run(async { let _ = tokio::signal::ctrl_c().await; }));
//! let states = handle
//!     .sequence_states("sockshop", &Default::default(), Default::default())
//!     .await?;
//! println!("{} sequences", states.total_count);
//! task.await??;
//! # Ok(()) }
//! ```

mod clock;
mod inputs;
mod publisher;
mod run;
mod source;
mod timers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent};
use keptn_sdk::transport::TransportError;
use keptn_sdk::{Phase, Transport};
use tokio::sync::{mpsc, oneshot};

use super::core::{ControlAction, ControlCommand, CoreConfig};
use super::model::SequenceExecution;
use super::store::{
    ExecutionFilter, Page, PageRequest, SequenceStore, SequenceStoreError, TriggeredFilter,
    ViewFilter,
};
use super::view::SequenceState;

pub use clock::{Clock, SystemClock, TokioClock};
pub use source::{
    MemoryShipyardSource, ShipyardSource, ShipyardSourceError, ShipyardSourceErrorKind,
};

/// Settings of a [`Controller`].
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Settings of the state machine (task timeouts).
    pub core: CoreConfig,
    /// The queue group the controller consumes in (`shipyard-controller`).
    pub queue_group: String,
    /// At most this many deliveries are handled in one commit.
    pub max_batch: usize,
    /// At most this many outbox events are read at once by the publisher.
    pub publish_batch: usize,
    /// How long processed event ids are remembered for de-duplication (7 days).
    pub processed_retention: Duration,
    /// How often old processed ids are forgotten (1 hour).
    pub prune_interval: Duration,
    /// How long a shutdown waits for the outbox to be published (5 seconds).
    pub shutdown_grace: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            core: CoreConfig::default(),
            queue_group: "shipyard-controller".to_owned(),
            max_batch: 256,
            publish_batch: 256,
            processed_retention: Duration::from_secs(7 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Errors of the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// The sequence store failed.
    #[error(transparent)]
    Store(#[from] SequenceStoreError),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The subscription of the controller ended (the transport shut down).
    #[error("the subscription to sh.keptn.> ended")]
    SubscriptionEnded,
    /// The controller is not running (or stopped) and cannot take control commands.
    #[error("the sequence controller is not running")]
    NotRunning,
    /// The event type is not one of a task's `.triggered` events.
    #[error("{0:?} is not the type of a task's .triggered event")]
    NotATaskTrigger(String),
}

/// What a control command changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlOutcome {
    /// How many active sequence executions the command changed (0: none were active; pauses
    /// still apply to sequences of the context that start later).
    pub affected: usize,
}

pub(super) struct ControlRequest {
    pub(super) command: ControlCommand,
    pub(super) reply: oneshot::Sender<Result<ControlOutcome, ControllerError>>,
}

/// The sequence controller. Build it, take [`handles`](Controller::handle) for the API, then
/// [`run`](Controller::run) it.
pub struct Controller {
    store: Arc<dyn SequenceStore>,
    transport: Arc<dyn Transport>,
    shipyards: Arc<dyn ShipyardSource>,
    config: ControllerConfig,
    clock: Arc<dyn Clock>,
    control_tx: mpsc::Sender<ControlRequest>,
    control_rx: mpsc::Receiver<ControlRequest>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller over `store`, consuming and publishing on `transport`, reading shipyards
    /// from `shipyards`. It uses the system clock unless [`with_clock`](Controller::with_clock)
    /// sets another.
    pub fn new(
        store: Arc<dyn SequenceStore>,
        transport: Arc<dyn Transport>,
        shipyards: Arc<dyn ShipyardSource>,
        config: ControllerConfig,
    ) -> Self {
        let (control_tx, control_rx) = mpsc::channel(64);
        Self {
            store,
            transport,
            shipyards,
            config,
            clock: Arc::new(SystemClock),
            control_tx,
            control_rx,
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A handle for control commands and queries; usable before and after `run` starts.
    pub fn handle(&self) -> ControllerHandle {
        ControllerHandle {
            store: Arc::clone(&self.store),
            control_tx: self.control_tx.clone(),
        }
    }

    /// Runs until `shutdown` completes: restores the stored state, subscribes, and processes
    /// events, control commands and timers. On shutdown it stops consuming, waits up to
    /// `shutdown_grace` for the outbox to be published, and returns.
    ///
    /// Errors: the store cannot be read at start, the subscription fails or ends.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        run::run(self, shutdown).await
    }
}

/// Control commands and queries for the API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ControllerHandle {
    store: Arc<dyn SequenceStore>,
    control_tx: mpsc::Sender<ControlRequest>,
}

impl ControllerHandle {
    /// Applies a control command once the controller has committed it.
    pub async fn control(
        &self,
        command: ControlCommand,
    ) -> Result<ControlOutcome, ControllerError> {
        let (reply, answer) = oneshot::channel();
        self.control_tx
            .send(ControlRequest { command, reply })
            .await
            .map_err(|_| ControllerError::NotRunning)?;
        answer.await.map_err(|_| ControllerError::NotRunning)?
    }

    fn command(
        project: &str,
        context: &KeptnContext,
        stage: Option<&str>,
        action: ControlAction,
    ) -> ControlCommand {
        ControlCommand {
            project: project.to_owned(),
            keptn_context: context.clone(),
            stage: stage.map(str::to_owned),
            action,
        }
    }

    /// Pauses the sequences of a context (or of one of its stages).
    pub async fn pause(
        &self,
        project: &str,
        context: &KeptnContext,
        stage: Option<&str>,
    ) -> Result<ControlOutcome, ControllerError> {
        self.control(Self::command(project, context, stage, ControlAction::Pause))
            .await
    }

    /// Resumes the sequences of a context (or of one of its stages).
    pub async fn resume(
        &self,
        project: &str,
        context: &KeptnContext,
        stage: Option<&str>,
    ) -> Result<ControlOutcome, ControllerError> {
        self.control(Self::command(
            project,
            context,
            stage,
            ControlAction::Resume,
        ))
        .await
    }

    /// Aborts the sequences of a context (or of one of its stages).
    pub async fn abort(
        &self,
        project: &str,
        context: &KeptnContext,
        stage: Option<&str>,
    ) -> Result<ControlOutcome, ControllerError> {
        self.control(Self::command(project, context, stage, ControlAction::Abort))
            .await
    }

    /// The materialized view of a project's sequences (`GET /v1/sequence/{project}`).
    pub async fn sequence_states(
        &self,
        project: &str,
        filter: &ViewFilter,
        page: PageRequest,
    ) -> Result<Page<SequenceState>, ControllerError> {
        Ok(self.store.views(project, filter, page).await?)
    }

    /// Sequence executions (`GET /v1/sequence-execution`).
    pub async fn sequence_executions(
        &self,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<SequenceExecution>, ControllerError> {
        Ok(self.store.executions(filter, page).await?)
    }

    /// The open `.triggered` events of a task type (`GET /v1/event/triggered/{eventType}`):
    /// events sent and not yet answered by as many `.finished` as `.started` events.
    pub async fn triggered_events(
        &self,
        event_type: &str,
        mut filter: TriggeredFilter,
        page: PageRequest,
    ) -> Result<Page<KeptnEvent>, ControllerError> {
        match EventType::parse(event_type) {
            EventType::Task {
                task,
                phase: Phase::Triggered,
            } => {
                filter.task = Some(task);
                Ok(self.store.open_triggered_events(&filter, page).await?)
            }
            _ => Err(ControllerError::NotATaskTrigger(event_type.to_owned())),
        }
    }
}
