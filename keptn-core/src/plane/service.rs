//! Services that run inside the plane beside the orchestrator.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use keptn_sdk::handler::{TaskHandler, TaskRunner};
use keptn_sdk::transport::Transport;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::configstore::ConfigStore;
use crate::datastore::EventStore;

/// What a service's run future resolves to: `Err` with a message when it failed.
pub type ServiceFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What a service gets from the plane.
#[derive(Clone)]
pub struct ServiceContext {
    /// The bus.
    pub transport: Arc<dyn Transport>,
    /// The event store (read-only use: the bus stores events).
    pub events: Arc<dyn EventStore>,
    /// The configuration store.
    pub config_store: Arc<dyn ConfigStore>,
    /// A directory of the service's own (created on demand).
    pub state_dir: PathBuf,
    /// Cancelled when the plane stops.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceContext")
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// A component of the plane (lighthouse, approval, an executor...).
///
/// # Contract
/// `run` subscribes to what the service consumes, then sends `Ok(())` on `ready` (or `Err` with
/// a message if it cannot start), then runs until `ctx.shutdown` is cancelled. The plane opens
/// its API only after every service is ready, so no accepted event passes a service by.
pub trait PlaneService: Send + 'static {
    /// The service's name (`lighthouse-service`, `approval-service`...).
    fn name(&self) -> &str;

    /// Runs the service; see the contract.
    fn run(
        self: Box<Self>,
        ctx: ServiceContext,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> ServiceFuture;
}

type SubscribeFuture = Pin<Box<dyn Future<Output = Result<ServiceFuture, String>> + Send>>;

/// A [`TaskRunner`] with its types erased, so a service can hold runners of different handlers.
pub struct BoxedRunner {
    start: Box<dyn FnOnce(CancellationToken) -> SubscribeFuture + Send>,
}

impl std::fmt::Debug for BoxedRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedRunner").finish_non_exhaustive()
    }
}

impl BoxedRunner {
    /// Erases the types of `runner`.
    pub fn new<T, H>(runner: TaskRunner<T, H>) -> Self
    where
        T: Transport + 'static,
        H: TaskHandler,
    {
        Self {
            start: Box::new(move |shutdown: CancellationToken| -> SubscribeFuture {
                Box::pin(async move {
                    let subscribed = runner.subscribe().await.map_err(|e| e.to_string())?;
                    let run: ServiceFuture = Box::pin(async move {
                        subscribed
                            .run(async move { shutdown.cancelled().await })
                            .await
                            .map_err(|e| e.to_string())
                    });
                    Ok(run)
                })
            }),
        }
    }
}

impl BoxedRunner {
    /// A part of a service that is not a task runner: a consumer of other events, or a timer.
    /// `subscribe` makes its subscriptions (or loads its state) and returns the future that runs
    /// it until the token it got is cancelled; an `Err` fails the service's start.
    pub fn from_subscribe<F, Fut>(subscribe: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = Result<ServiceFuture, String>> + Send + 'static,
    {
        Self {
            start: Box::new(move |shutdown: CancellationToken| -> SubscribeFuture {
                Box::pin(subscribe(shutdown))
            }),
        }
    }
}

/// A service made of task runners, built when the plane starts.
pub struct HandlerService<F> {
    name: String,
    build: F,
}

impl<F> std::fmt::Debug for HandlerService<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerService")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F> HandlerService<F>
where
    F: FnOnce(&ServiceContext) -> Result<Vec<BoxedRunner>, String> + Send + 'static,
{
    /// A service named `name` whose runners `build` makes from the plane's context.
    pub fn new(name: impl Into<String>, build: F) -> Self {
        Self {
            name: name.into(),
            build,
        }
    }
}

impl<F> PlaneService for HandlerService<F>
where
    F: FnOnce(&ServiceContext) -> Result<Vec<BoxedRunner>, String> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn run(
        self: Box<Self>,
        ctx: ServiceContext,
        ready: oneshot::Sender<Result<(), String>>,
    ) -> ServiceFuture {
        Box::pin(async move {
            let runners = match (self.build)(&ctx) {
                Ok(runners) => runners,
                Err(e) => {
                    let _ = ready.send(Err(e.clone()));
                    return Err(e);
                }
            };
            // A child token: a runner that cannot start stops its siblings, not other services.
            let token = ctx.shutdown.child_token();
            let mut running = Vec::with_capacity(runners.len());
            for runner in runners {
                match (runner.start)(token.clone()).await {
                    Ok(run) => running.push(tokio::spawn(run)),
                    Err(e) => {
                        token.cancel();
                        let _ = ready.send(Err(e.clone()));
                        return Err(e);
                    }
                }
            }
            let _ = ready.send(Ok(()));
            let mut failures = Vec::new();
            for task in running {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.push(e),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures.join("; "))
            }
        })
    }
}
