//! The whole control plane in one process, on embedded defaults (features `sqlite` and `git`).
//!
//! [`Plane::start`] opens everything under one data directory and starts every component on the
//! durable in-process bus:
//!
//! | component | where its state lives |
//! |---|---|
//! | event store, the bus's log, sequence state (orchestrator) | `<data-dir>/keptn.db` (SQLite, WAL, one writer) |
//! | configuration (one git repository per project) | `<data-dir>/config/` |
//! | services' own state (deployments, test results) | `<data-dir>/services/<name>/` |
//!
//! The event store, the bus's log and the orchestrator's sequence store share one [`SqliteDb`]
//! handle: one file, one writer that commits their writes together in groups (one transaction
//! and one WAL sync for what arrives at the same time), one read pool. The event history and the
//! orchestration state are in one file, always from the same moment.
//!
//! Components subscribe before the API opens, so no accepted event can pass a component by.
//! [`Plane::shutdown`] stops the API (requests in flight finish), then the services (running
//! handlers get a deadline), then the orchestrator (its outbox is published), then the bus.
//! Whatever was accepted and not finished is resumed by the next start on the same directory.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use keptn_core::plane::{Plane, PlaneConfig};
//!
//! let plane = Plane::start(PlaneConfig::new("./keptn-data", "127.0.0.1:8090".parse()?, "token")).await?;
//! println!("API at http://{}/api", plane.local_addr());
//! plane.shutdown().await?;
//! # Ok(()) }
//! ```

mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keptn_sdk::transport::Transport;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiConfig, ApiState};
use crate::bus::{DurableBus, DurableBusConfig, EventLog, SqliteEventLog};
use crate::configstore::{ConfigStore, GitConfigStore, GitStoreOptions};
use crate::datastore::{EventStore, SqliteEventStore};
use crate::db::SqliteDb;
use crate::orchestrator::store::SqliteSequenceStore;
use crate::orchestrator::{Controller, ControllerConfig, ControllerHandle};
use crate::projects::ConfigShipyardSource;
use crate::uniform::{Uniform, UniformConfig};

pub use service::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};

/// How to start a [`Plane`].
pub struct PlaneConfig {
    /// Where everything is stored.
    pub data_dir: PathBuf,
    /// Where the API listens (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The API settings (token, body limit).
    pub api: ApiConfig,
    /// The orchestrator settings (task timeouts).
    pub controller: ControllerConfig,
    /// The bus settings.
    pub bus: DurableBusConfig,
    /// Integration registry settings.
    pub uniform: UniformConfig,
    /// Services to run beside the orchestrator (lighthouse, approval, executors...).
    pub services: Vec<Box<dyn PlaneService>>,
    /// How long running services get to finish on shutdown.
    pub shutdown_deadline: Duration,
}

impl std::fmt::Debug for PlaneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaneConfig")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field(
                "services",
                &self.services.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PlaneConfig {
    /// Defaults with a data directory, a listen address and an API token.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr, token: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen,
            api: ApiConfig::new(token),
            controller: ControllerConfig::default(),
            bus: DurableBusConfig::default(),
            uniform: UniformConfig::default(),
            services: Vec::new(),
            shutdown_deadline: Duration::from_secs(10),
        }
    }

    /// Adds a service.
    pub fn service(mut self, service: impl PlaneService) -> Self {
        self.services.push(Box::new(service));
        self
    }
}

/// Why the plane could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaneError {
    /// The data directory or a database could not be opened.
    #[error("opening {what} failed")]
    Open {
        /// What.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API could not listen.
    #[error("listening on {addr} failed")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A component failed while running or stopping.
    #[error("{component} failed: {message}")]
    Component {
        /// The component.
        component: String,
        /// What happened.
        message: String,
    },
}

fn open_err(
    what: impl Into<String>,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> PlaneError {
    let what = what.into();
    move |source| PlaneError::Open { what, source }
}

/// A running control plane; see the [module documentation](self).
pub struct Plane {
    addr: SocketAddr,
    api_state: ApiState,
    controller: ControllerHandle,
    bus: DurableBus,
    db: SqliteDb,
    api_stop: CancellationToken,
    services_stop: CancellationToken,
    controller_stop: CancellationToken,
    api_task: JoinHandle<std::io::Result<()>>,
    controller_task: JoinHandle<Result<(), crate::orchestrator::ControllerError>>,
    background: Vec<JoinHandle<()>>,
    service_tasks: Vec<(String, JoinHandle<Result<(), String>>)>,
    shutdown_deadline: Duration,
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plane")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Plane {
    /// Opens the data directory and starts every component; returns once the API listens.
    pub async fn start(config: PlaneConfig) -> Result<Plane, PlaneError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| open_err(format!("the data directory {}", dir.display()))(Box::new(e)))?;
        let db = SqliteDb::open(dir.join("keptn.db"))
            .await
            .map_err(|e| open_err("the event database")(Box::new(e)))?;
        let events = Arc::new(
            SqliteEventStore::new(db.clone())
                .await
                .map_err(|e| open_err("the event store")(Box::new(e)))?,
        );
        // The bus's log writes every accepted event into the event store in the same
        // transaction: "accepted" and "stored" are one write, and no datastore consumer runs.
        let log = Arc::new(
            SqliteEventLog::write_through(&events)
                .await
                .map_err(|e| open_err("the event log")(Box::new(e)))?,
        );
        let bus = DurableBus::open(Arc::clone(&log) as Arc<dyn EventLog>, config.bus.clone())
            .await
            .map_err(|e| open_err("the event bus")(Box::new(e)))?;
        let transport: Arc<dyn Transport> = Arc::new(bus.clone());
        let config_store: Arc<dyn ConfigStore> = Arc::new(
            GitConfigStore::open(dir.join("config"), GitStoreOptions::default())
                .map_err(|e| open_err("the configuration store")(Box::new(e)))?,
        );
        let sequences = Arc::new(
            SqliteSequenceStore::new(db.clone())
                .await
                .map_err(|e| open_err("the sequence store")(Box::new(e)))?,
        );
        let controller = Controller::new(
            sequences,
            Arc::clone(&transport),
            Arc::new(ConfigShipyardSource::new(Arc::clone(&config_store))),
            config.controller.clone(),
        );
        let controller_handle = controller.handle();
        let controller_stop = CancellationToken::new();
        let stop = controller_stop.clone();
        let controller_task = tokio::spawn(controller.run(async move { stop.cancelled().await }));

        let events_dyn: Arc<dyn EventStore> = events;
        let stop = controller_stop.clone();
        let prune_log = Arc::clone(&log);
        let prune_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = prune_log.prune(Duration::from_secs(3600)).await {
                            tracing::warn!(error = %e, "pruning the event log failed");
                        }
                    }
                }
            }
        });
        let services_stop = CancellationToken::new();
        let mut service_tasks = Vec::new();
        let mut names = Vec::new();
        for service in config.services {
            let name = service.name().to_owned();
            names.push(name.clone());
            let ctx = ServiceContext {
                transport: Arc::clone(&transport),
                events: Arc::clone(&events_dyn),
                config_store: Arc::clone(&config_store),
                state_dir: dir.join("services").join(&name),
                shutdown: services_stop.clone(),
            };
            let ready = tokio::sync::oneshot::channel();
            let task = tokio::spawn(service.run(ctx, ready.0));
            // A service is ready once it subscribed; a service that fails to start fails the
            // plane's start.
            match ready.1.await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Err(PlaneError::Component {
                        component: name,
                        message,
                    });
                }
                Err(_) => {
                    let message = match task.await {
                        Ok(Err(message)) => message,
                        _ => "stopped before it was ready".to_owned(),
                    };
                    return Err(PlaneError::Component {
                        component: name,
                        message,
                    });
                }
            }
            service_tasks.push((name, task));
        }

        let mut api_config = config.api;
        api_config.services = std::iter::once("shipyard-controller".to_owned())
            .chain(names)
            .collect();
        let uniform = Arc::new(Uniform::new(config.uniform));
        let api_state = ApiState::new(
            api_config,
            Arc::clone(&transport),
            Arc::clone(&events_dyn),
            Arc::clone(&config_store),
            controller_handle.clone(),
            uniform,
        );
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| PlaneError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| PlaneError::Listen {
            addr: config.listen,
            source,
        })?;
        let api_stop = CancellationToken::new();
        let stop = api_stop.clone();
        let api_task = tokio::spawn(api::serve(listener, api_state.clone(), async move {
            stop.cancelled().await
        }));
        Ok(Plane {
            addr,
            api_state,
            controller: controller_handle,
            bus,
            db,
            api_stop,
            services_stop,
            controller_stop,
            api_task,
            controller_task,
            background: vec![prune_task],
            service_tasks,
            shutdown_deadline: config.shutdown_deadline,
        })
    }

    /// Where the API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's state (for embedding the router elsewhere).
    pub fn api_state(&self) -> &ApiState {
        &self.api_state
    }

    /// The orchestrator's handle.
    pub fn controller(&self) -> &ControllerHandle {
        &self.controller
    }

    /// The bus every component talks on.
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(self.bus.clone())
    }

    /// Stops every component in order; see the [module documentation](self).
    pub async fn shutdown(self) -> Result<(), PlaneError> {
        let mut failures = Vec::new();
        self.api_stop.cancel();
        match self.api_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("api: {e}")),
            Err(e) => failures.push(format!("api: {e}")),
        }
        self.services_stop.cancel();
        for (name, task) in self.service_tasks {
            match tokio::time::timeout(self.shutdown_deadline + Duration::from_secs(5), task).await
            {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => failures.push(format!("{name}: {e}")),
                Ok(Err(e)) => failures.push(format!("{name}: {e}")),
                Err(_) => failures.push(format!("{name}: did not stop in time")),
            }
        }
        self.controller_stop.cancel();
        match self.controller_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("shipyard-controller: {e}")),
            Err(e) => failures.push(format!("shipyard-controller: {e}")),
        }
        for task in self.background {
            let _ = task.await;
        }
        self.bus.shutdown().await;
        self.db.close().await;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(PlaneError::Component {
                component: "shutdown".to_owned(),
                message: failures.join("; "),
            })
        }
    }
}
