//! The task runner: subscribe, filter, de-duplicate, `.started`, handle, `.finished`, ack.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, warn};

use super::dedup::{Dedup, Seen};
use super::{Filter, TaskContext, TaskHandler, TaskOutcome};
use crate::event::payload::FinishedData;
use crate::event::{EventId, EventType, KeptnEvent, Phase};
use crate::transport::{
    Acknowledger, Delivery, SubjectPattern, SubscribeOptions, Transport, TransportError,
};

/// Why a runner stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The task name does not make a valid subject.
    #[error("task name {task:?} cannot be subscribed to: {reason}")]
    InvalidTask {
        /// The task name.
        task: String,
        /// Why.
        reason: String,
    },
    /// The transport refused the subscription.
    #[error("subscribing to the .triggered events of task {task:?} failed")]
    Subscribe {
        /// The task name.
        task: String,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// The subscription ended without a shutdown (the transport was closed).
    #[error("the subscription to the .triggered events of task {task:?} ended")]
    SubscriptionEnded {
        /// The task name.
        task: String,
    },
}

#[derive(Debug, Clone)]
enum QueueGroup {
    Source,
    Named(String),
    None,
}

/// Runs a [`TaskHandler`] against a transport; see the [module docs](super) for the protocol.
///
/// ```no_run
/// # use keptn_sdk::handler::{handler_fn, TaskContext, TaskRunner, Filter};
/// # use keptn_sdk::event::payload::FinishedData;
/// # use keptn_sdk::MemoryTransport;
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// # let handler = handler_fn("test", |_: TaskContext, _: serde_json::Value| async {
/// #     Ok::<_, std::io::Error>(FinishedData::pass()) });
/// TaskRunner::new(MemoryTransport::default(), handler)
///     .source("my-test-service")
///     .filter(Filter::new().projects(["sockshop"]))
///     .max_in_flight(4)
///     .run(async { tokio::signal::ctrl_c().await.ok(); })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TaskRunner<T, H> {
    transport: Arc<T>,
    handler: Arc<H>,
    source: Arc<str>,
    filter: Filter,
    queue_group: QueueGroup,
    max_in_flight: usize,
    send_started: bool,
    send_finished: bool,
    dedup_capacity: usize,
    shutdown_deadline: Duration,
    retry_delay: Duration,
    duplicate_delay: Duration,
}

impl<T: Transport, H: TaskHandler> TaskRunner<T, H> {
    /// A runner for `handler` on `transport`, with the defaults: source `keptn-service` (set your
    /// own with [`TaskRunner::source`]), no filter, queue group = source, 16 handlers in flight,
    /// `.started` and `.finished` sent, 10 000 remembered event ids, 30 s shutdown deadline.
    pub fn new(transport: T, handler: H) -> Self {
        Self {
            transport: Arc::new(transport),
            handler: Arc::new(handler),
            source: Arc::from("keptn-service"),
            filter: Filter::new(),
            queue_group: QueueGroup::Source,
            max_in_flight: 16,
            send_started: true,
            send_finished: true,
            dedup_capacity: 10_000,
            shutdown_deadline: Duration::from_secs(30),
            retry_delay: Duration::from_secs(1),
            duplicate_delay: Duration::from_secs(5),
        }
    }

    /// The `source` attribute of the events the runner sends (the service's name).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Arc::from(source.into());
        self
    }

    /// Handles only the events that pass `filter`; the others are acknowledged and ignored.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// The queue group to subscribe in (default: the source). Replicas in the same group share
    /// the events; each event goes to one of them.
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = QueueGroup::Named(group.into());
        self
    }

    /// Subscribes without a queue group: this runner gets every event, even if other runners of
    /// the same service run.
    pub fn without_queue_group(mut self) -> Self {
        self.queue_group = QueueGroup::None;
        self
    }

    /// At most `n` handlers run at the same time (at least 1); further deliveries wait in the
    /// transport.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Whether to publish `.started` before calling the handler (default true).
    pub fn send_started(mut self, yes: bool) -> Self {
        self.send_started = yes;
        self
    }

    /// Whether to publish `.finished` for a [`TaskOutcome::Finished`] outcome (default true).
    /// When false the handler publishes its answers itself; an error or a panic of the handler is
    /// still reported as `.finished` with status `errored`, since nobody else would answer.
    pub fn send_finished(mut self, yes: bool) -> Self {
        self.send_finished = yes;
        self
    }

    /// How many handled event ids to remember for de-duplication (default 10 000).
    pub fn dedup_capacity(mut self, n: usize) -> Self {
        self.dedup_capacity = n.max(1);
        self
    }

    /// How long [`TaskRunner::run`] waits for running handlers after the shutdown signal
    /// (default 30 s); deliveries still running then are nacked, so that the transport gives
    /// them to another replica or to the next start.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// After a failed publish of `.started` or `.finished` the delivery is nacked with this
    /// delay, and the event is handled again when it comes back (default 1 s).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// A copy of an event whose handler still runs is nacked with this delay (default 5 s).
    pub fn duplicate_delay(mut self, delay: Duration) -> Self {
        self.duplicate_delay = delay;
        self
    }

    /// Runs until `shutdown` completes, then stops taking deliveries, waits up to the shutdown
    /// deadline for running handlers and nacks the deliveries of those still running.
    ///
    /// Returns an error if the subscription cannot be made, or ends without a shutdown.
    pub async fn run<S>(self, shutdown: S) -> Result<(), RunnerError>
    where
        S: Future<Output = ()> + Send,
    {
        self.subscribe().await?.run(shutdown).await
    }

    /// Subscribes to the task's `.triggered` events and returns the subscribed runner, which
    /// [`SubscribedRunner::run`] then drives. Use it when something must happen only once the
    /// runner receives events (an embedding process opening its API, a test publishing).
    pub async fn subscribe(self) -> Result<SubscribedRunner<T, H>, RunnerError> {
        let task = self.handler.task().to_owned();
        let subject = EventType::task(task.clone(), Phase::Triggered).to_string();
        let pattern = SubjectPattern::exact(&subject).map_err(|e| RunnerError::InvalidTask {
            task: task.clone(),
            reason: e.to_string(),
        })?;
        let mut options = SubscribeOptions::new(pattern);
        options.queue_group = match &self.queue_group {
            QueueGroup::Source => Some(self.source.to_string()),
            QueueGroup::Named(group) => Some(group.clone()),
            QueueGroup::None => None,
        };
        let subscription =
            self.transport
                .subscribe(options)
                .await
                .map_err(|source| RunnerError::Subscribe {
                    task: task.clone(),
                    source,
                })?;
        info!(task = %task, source = %self.source, "task runner started");
        Ok(SubscribedRunner {
            runner: self,
            subscription,
            task,
        })
    }
}

/// A [`TaskRunner`] that has subscribed; [`run`](SubscribedRunner::run) it.
#[derive(Debug)]
pub struct SubscribedRunner<T, H> {
    runner: TaskRunner<T, H>,
    subscription: crate::transport::Subscription,
    task: String,
}

impl<T: Transport, H: TaskHandler> SubscribedRunner<T, H> {
    /// Handles deliveries until `shutdown` completes; see [`TaskRunner::run`].
    pub async fn run<S>(self, shutdown: S) -> Result<(), RunnerError>
    where
        S: Future<Output = ()> + Send,
    {
        let SubscribedRunner {
            runner,
            mut subscription,
            task,
        } = self;
        runner.drive(&mut subscription, task, shutdown).await
    }
}

impl<T: Transport, H: TaskHandler> TaskRunner<T, H> {
    async fn drive<S>(
        &self,
        subscription: &mut crate::transport::Subscription,
        task: String,
        shutdown: S,
    ) -> Result<(), RunnerError>
    where
        S: Future<Output = ()> + Send,
    {
        let shared = Arc::new(Shared {
            dedup: Mutex::new(Dedup::new(self.dedup_capacity)),
            running: Mutex::new(HashMap::new()),
            next_slot: AtomicU64::new(0),
        });
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);

        let ended = loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                _ = &mut shutdown => break false,
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break false,
                },
            };
            let item = tokio::select! {
                biased;
                _ = &mut shutdown => break false,
                item = subscription.next() => item,
            };
            match item {
                None => break true,
                Some(Err(err)) => warn!(task = %task, error = %err, "skipping a message"),
                Some(Ok(delivery)) => self.dispatch(delivery, permit, &shared, &mut tasks).await,
            }
        };
        self.drain(&shared, &mut tasks).await;
        info!(task = %task, "task runner stopped");
        if ended {
            Err(RunnerError::SubscriptionEnded { task })
        } else {
            Ok(())
        }
    }

    async fn dispatch(
        &self,
        delivery: Delivery,
        permit: OwnedSemaphorePermit,
        shared: &Arc<Shared>,
        tasks: &mut JoinSet<()>,
    ) {
        let event = delivery.event();
        let id = event.id.clone();
        let expected = matches!(&event.event_type,
            EventType::Task { task, phase: Phase::Triggered } if task == self.handler.task());
        if !expected || !self.filter.matches(event) {
            debug!(event_id = %id, event_type = %event.event_type, "ignoring an event outside the filter");
            settle(delivery.ack().await, &id);
            return;
        }
        let seen = shared.dedup().check_and_start(&id);
        match seen {
            Seen::Done => {
                debug!(event_id = %id, "acknowledging a copy of an event already handled");
                settle(delivery.ack().await, &id);
            }
            Seen::Running => {
                debug!(event_id = %id, "a copy of this event is being handled; trying again later");
                settle(delivery.nack(Some(self.duplicate_delay)).await, &id);
            }
            Seen::New => {
                let attempt = delivery.attempt();
                let (event, acker) = delivery.into_parts();
                let slot = shared.next_slot.fetch_add(1, Ordering::Relaxed);
                shared.running().insert(slot, acker);
                let job = Job {
                    transport: Arc::clone(&self.transport) as Arc<dyn Transport>,
                    handler: Arc::clone(&self.handler),
                    source: Arc::clone(&self.source),
                    send_started: self.send_started,
                    send_finished: self.send_finished,
                    retry_delay: self.retry_delay,
                    shared: Arc::clone(shared),
                };
                let span = tracing::info_span!("task",
                    task = %self.handler.task(), event_id = %event.id,
                    keptn_context = %event.shkeptncontext, attempt);
                tasks.spawn(
                    async move {
                        job.run(event, attempt, slot).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }
    }

    async fn drain(&self, shared: &Arc<Shared>, tasks: &mut JoinSet<()>) {
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(self.shutdown_deadline, all_done)
            .await
            .is_ok()
        {
            return;
        }
        let left: Vec<Box<dyn Acknowledger>> =
            shared.running().drain().map(|(_, acker)| acker).collect();
        warn!(
            count = left.len(),
            "handlers still running at the shutdown deadline; their events go back to the transport"
        );
        for acker in left {
            if let Err(err) = acker.nack(None).await {
                warn!(error = %err, "nack at shutdown failed");
            }
        }
        tasks.shutdown().await;
    }
}

#[derive(Debug)]
struct Shared {
    dedup: Mutex<Dedup>,
    running: Mutex<HashMap<u64, Box<dyn Acknowledger>>>,
    next_slot: AtomicU64,
}

impl Shared {
    fn dedup(&self) -> MutexGuard<'_, Dedup> {
        self.dedup.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn running(&self) -> MutexGuard<'_, HashMap<u64, Box<dyn Acknowledger>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How a job ended, when publishing did not fail.
enum Answered {
    /// The event was answered as the protocol says (or the handler answers it later).
    Yes,
    /// The handler was interrupted: nothing was answered, and the event goes back.
    Interrupted,
}

struct Job<H> {
    transport: Arc<dyn Transport>,
    handler: Arc<H>,
    source: Arc<str>,
    send_started: bool,
    send_finished: bool,
    retry_delay: Duration,
    shared: Arc<Shared>,
}

impl<H: TaskHandler> Job<H> {
    async fn run(self, event: KeptnEvent, attempt: u32, slot: u64) {
        let id = event.id.clone();
        let result = self.protocol(event, attempt).await;
        // The runner takes the acknowledger at the shutdown deadline; then it has settled it.
        let Some(acker) = self.shared.running().remove(&slot) else {
            return;
        };
        match result {
            Ok(Answered::Yes) => {
                settle(acker.ack().await, &id);
                self.shared.dedup().finish(&id);
            }
            Ok(Answered::Interrupted) => {
                info!(event_id = %id, "the handler was interrupted; the event goes back to the transport");
                self.shared.dedup().forget(&id);
                settle(acker.nack(Some(self.retry_delay)).await, &id);
            }
            Err(err) => {
                warn!(error = %err, "publishing the answer failed; the event will be handled again");
                self.shared.dedup().forget(&id);
                settle(acker.nack(Some(self.retry_delay)).await, &id);
            }
        }
    }

    async fn protocol(&self, event: KeptnEvent, attempt: u32) -> Result<Answered, TransportError> {
        let triggered = Arc::new(event);
        if self.send_started {
            let started = triggered
                .started(&self.source)
                .map_err(|e| encode_error(&triggered.id, e))?;
            self.transport.publish(&started).await?;
        }
        let Some((outcome, failed)) = self.call_handler(&triggered, attempt).await else {
            return Ok(Answered::Interrupted);
        };
        let finished = match outcome {
            TaskOutcome::Finished(data) if self.send_finished || failed => data,
            TaskOutcome::Finished(_) | TaskOutcome::Deferred => return Ok(Answered::Yes),
        };
        let finished = triggered
            .finished(&self.source, finished)
            .map_err(|e| encode_error(&triggered.id, e))?;
        self.transport.publish(&finished).await?;
        Ok(Answered::Yes)
    }

    /// Calls the handler; the flag says whether it failed (error, panic, unreadable data).
    /// `None`: the handler was interrupted and nothing must be answered.
    async fn call_handler(
        &self,
        triggered: &Arc<KeptnEvent>,
        attempt: u32,
    ) -> Option<(TaskOutcome, bool)> {
        let data = match serde_json::from_value::<H::Data>(triggered.data.clone()) {
            Ok(data) => data,
            Err(err) => {
                let message = format!(
                    "the data of event {} ({}) cannot be read as {}: {err}",
                    triggered.id,
                    triggered.event_type,
                    std::any::type_name::<H::Data>()
                );
                warn!(%message, "not calling the handler");
                return Some((FinishedData::errored(message).into(), true));
            }
        };
        let ctx = TaskContext::new(
            (**triggered).clone(),
            Arc::clone(&self.transport),
            Arc::clone(&self.source),
            attempt,
        );
        match AssertUnwindSafe(self.handler.handle(ctx, data))
            .catch_unwind()
            .await
        {
            Ok(Ok(outcome)) => Some((outcome, false)),
            Ok(Err(err)) if err.is_interrupted() => None,
            Ok(Err(err)) => {
                let message = err.report();
                warn!(error = %message, "the handler failed");
                Some((FinishedData::errored(message).into(), true))
            }
            Err(panic) => {
                let message = format!("the handler panicked: {}", panic_message(&*panic));
                warn!(%message);
                Some((FinishedData::errored(message).into(), true))
            }
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

fn encode_error(id: &EventId, err: crate::event::ResponseError) -> TransportError {
    TransportError::with_source(
        crate::transport::TransportErrorKind::Encode,
        format!("cannot build the answer to event {id}"),
        err,
    )
}

fn settle(result: Result<(), TransportError>, id: &EventId) {
    if let Err(err) = result {
        warn!(event_id = %id, error = %err, "settling a delivery failed");
    }
}
