//! The consuming loop of the controller, with group commit.
//!
//! Inputs (deliveries, control commands, due timers) go through the core as soon as they
//! arrive; what they change accumulates in the *next* commit. One commit is written at a time:
//! while it is in flight, the loop keeps consuming into the next one (up to `max_batch`
//! deliveries), so under load each transaction carries the work of many events. Deliveries are
//! acknowledged, control commands answered and timers armed only after the commit that holds
//! their effects. If a commit fails, its deliveries and those of the next commit (built on top
//! of it) are handed back for redelivery and the core is rebuilt from the store, so memory never
//! runs ahead of what is durable for longer than one failed commit.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use keptn_sdk::event::{EventId, GitCommitId, KeptnContext};
use keptn_sdk::transport::{Acknowledger, Delivery, SubjectPattern, SubscribeOptions};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::publisher::{OutboxProgress, Publisher};
use super::timers::Timers;
use super::{ControlOutcome, ControlRequest, Controller, ControllerError};
use crate::orchestrator::core::{Core, Input, Relevance, Timer, relevance};
use crate::orchestrator::store::{
    Commit, SequenceStore, SequenceStoreError, SequenceStoreErrorKind,
};
use crate::shipyard::Shipyard;

const SUBJECT: &str = "sh.keptn.>";
pub(super) const SHIPYARD_CACHE_LIMIT: usize = 1024;
/// Store maintenance (a WAL checkpoint for SQLite) runs after this many commits.
const COMMITS_PER_MAINTENANCE: u64 = 32;

type Reply = oneshot::Sender<Result<ControlOutcome, ControllerError>>;

/// What one commit carries, and what to settle once it is durable.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) commit: Commit,
    pub(super) executions: HashMap<String, usize>,
    pub(super) views: HashMap<(String, KeptnContext), usize>,
    pub(super) timers: Vec<Timer>,
    pub(super) deliveries: Vec<Box<dyn Acknowledger>>,
    pub(super) replies: Vec<(Reply, usize)>,
    pub(super) seen: HashSet<EventId>,
}

impl Pending {
    fn has_work(&self) -> bool {
        !self.commit.is_empty() || !self.deliveries.is_empty() || !self.replies.is_empty()
    }
}

/// A commit being written.
struct InFlight {
    /// Writes the commit and gives it back: its outbox entries go to the publisher once they
    /// are durable.
    task: JoinHandle<(Result<(), SequenceStoreError>, Commit)>,
    timers: Vec<Timer>,
    deliveries: Vec<Box<dyn Acknowledger>>,
    replies: Vec<(Reply, usize)>,
    seen: HashSet<EventId>,
    published_up_to: Option<u64>,
}

pub(super) struct Loop {
    pub(super) core: Core,
    pub(super) store: Arc<dyn SequenceStore>,
    pub(super) shipyards: Arc<dyn super::ShipyardSource>,
    pub(super) clock: Arc<dyn super::Clock>,
    pub(super) config: super::ControllerConfig,
    pub(super) timers: Timers,
    pub(super) cache: HashMap<(String, GitCommitId), Arc<Shipyard>>,
    pub(super) progress: Arc<OutboxProgress>,
    pub(super) maintenance: Arc<Notify>,
    pub(super) deleted_up_to: u64,
    /// The `seq` the next outbox entry gets.
    pub(super) next_seq: u64,
    pub(super) commits: u64,
    pub(super) next: Pending,
    in_flight: Option<InFlight>,
    /// Set while the state cannot be reloaded after a failed commit: the next retry's delay.
    broken: Option<Duration>,
}

pub(super) async fn run(
    controller: Controller,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ControllerError> {
    let Controller {
        store,
        transport,
        shipyards,
        config,
        clock,
        control_tx,
        mut control_rx,
    } = controller;
    drop(control_tx);
    let pattern = SubjectPattern::new(SUBJECT).map_err(|e| {
        ControllerError::Transport(keptn_sdk::transport::TransportError::new(
            keptn_sdk::transport::TransportErrorKind::Config,
            e.to_string(),
        ))
    })?;
    let mut subscription = transport
        .subscribe(SubscribeOptions::new(pattern).queue_group(config.queue_group.clone()))
        .await?;
    let progress = Arc::new(OutboxProgress::default());
    let maintenance = Arc::new(Notify::new());
    let mut state = Loop {
        core: Core::new(config.core.clone()),
        store: Arc::clone(&store),
        shipyards,
        clock: Arc::clone(&clock),
        config: config.clone(),
        timers: Timers::default(),
        cache: HashMap::new(),
        progress: Arc::clone(&progress),
        maintenance: Arc::clone(&maintenance),
        deleted_up_to: 0,
        next_seq: 1,
        commits: 0,
        next: Pending::default(),
        in_flight: None,
        broken: None,
    };
    state.reload().await?;

    let stop = CancellationToken::new();
    let publisher = tokio::spawn(
        Publisher {
            store: Arc::clone(&store),
            transport: Arc::clone(&transport),
            progress: Arc::clone(&progress),
            batch: config.publish_batch.max(1),
        }
        .run(stop.clone()),
    );
    let maintainer = tokio::spawn(maintain(Arc::clone(&store), maintenance, stop.clone()));
    let mut prune = tokio::time::interval_at(
        tokio::time::Instant::now() + config.prune_interval,
        config.prune_interval,
    );
    let max_batch = config.max_batch.max(1);
    tokio::pin!(shutdown);
    let result = loop {
        if let Some(backoff) = state.broken {
            // The state could not be reloaded: take no input until it can.
            tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                () = tokio::time::sleep(backoff) => state.recover().await,
            }
            continue;
        }
        if state.in_flight.is_none() && (state.next.has_work() || state.unpublished_removal()) {
            state.start_commit();
        }
        let room = state.next.deliveries.len() < max_batch;
        let next_timer = state.timers.next_at();
        let timer_clock = Arc::clone(&clock);
        let timer = async move {
            match next_timer {
                Some(at) => timer_clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let in_flight = async {
            match state.in_flight.as_mut() {
                Some(flight) => (&mut flight.task).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            done = in_flight => {
                if let Some(flight) = state.in_flight.take() {
                    state.finish_commit(flight, done).await;
                }
            }
            item = subscription.next(), if room => {
                let Some(first) = item else {
                    break Err(ControllerError::SubscriptionEnded);
                };
                let mut deliveries = Vec::new();
                push_delivery(&mut deliveries, first);
                while state.next.deliveries.len() + deliveries.len() < max_batch {
                    match subscription.next().now_or_never() {
                        Some(Some(item)) => push_delivery(&mut deliveries, item),
                        _ => break,
                    }
                }
                let controls = drain(&mut control_rx);
                state.take_in(deliveries, controls).await;
            }
            Some(request) = control_rx.recv(), if room => {
                let mut controls = vec![request];
                controls.extend(drain(&mut control_rx));
                state.take_in(Vec::new(), controls).await;
            }
            () = timer => state.take_in(Vec::new(), Vec::new()).await,
            // Published events leave the outbox with the next commit (started at the top of
            // the loop when nothing else is being written).
            () = progress.published.notified() => {}
            _ = prune.tick() => state.prune().await,
        }
    };
    drop(subscription);
    // Settle what is being written; what was only taken in is redelivered to the next
    // controller (its deliveries are dropped unacknowledged).
    if let Some(mut flight) = state.in_flight.take() {
        let done = (&mut flight.task).await;
        state.finish_commit(flight, done).await;
    }
    stop.cancel();
    if tokio::time::timeout(config.shutdown_grace, publisher)
        .await
        .is_err()
    {
        tracing::warn!("the outbox was not fully published before shutdown");
    }
    let _ = maintainer.await;
    state.commit_published().await;
    result
}

async fn maintain(store: Arc<dyn SequenceStore>, wake: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = store.maintain().await {
            tracing::warn!(error = %e, "sequence store maintenance failed");
        }
    }
}

fn push_delivery(
    deliveries: &mut Vec<Delivery>,
    item: Result<Delivery, keptn_sdk::transport::DeliveryError>,
) {
    match item {
        Ok(delivery) => deliveries.push(delivery),
        Err(e) => tracing::warn!(error = %e, "skipping an undecodable message"),
    }
}

fn drain(rx: &mut tokio::sync::mpsc::Receiver<ControlRequest>) -> Vec<ControlRequest> {
    let mut requests = Vec::new();
    while let Ok(request) = rx.try_recv() {
        requests.push(request);
    }
    requests
}

fn store_error(message: String) -> ControllerError {
    ControllerError::Store(SequenceStoreError::new(
        SequenceStoreErrorKind::Unavailable,
        message,
    ))
}

impl Loop {
    /// Rebuilds the core from the store and re-arms every timer.
    async fn reload(&mut self) -> Result<(), ControllerError> {
        let restored = self.store.load_active().await?;
        // Outbox numbers never go back within a process: the publisher skips what it thinks it
        // already published. Numbers of a failed commit are simply not used.
        let published = self.progress.published_up_to.load(Ordering::Acquire);
        self.next_seq = self
            .next_seq
            .max(self.store.outbox_last_seq().await? + 1)
            .max(published + 1);
        let now = self.clock.now();
        let (core, effects) = Core::restore(self.config.core.clone(), restored, now);
        self.core = core;
        self.timers.clear();
        let mut pending = Pending::default();
        pending.commit.at = now;
        self.absorb(&mut pending, effects).await;
        self.store.commit(&pending.commit).await?;
        for timer in pending.timers {
            self.timers.push(timer);
        }
        self.progress
            .committed(pending.commit.outbox, self.next_seq - 1);
        tracing::info!(
            executions = self.core.executions().count(),
            timers = self.timers.len(),
            "sequence controller state loaded"
        );
        Ok(())
    }

    /// Takes inputs into the next commit: due timers, control commands, deliveries.
    async fn take_in(&mut self, deliveries: Vec<Delivery>, controls: Vec<ControlRequest>) {
        let now = self.clock.now();
        let mut inputs: Vec<Input> = self
            .timers
            .take_due(now)
            .into_iter()
            .map(Input::Timer)
            .collect();
        let mut replies = Vec::with_capacity(controls.len());
        for request in controls {
            inputs.push(Input::Control(request.command));
            replies.push(request.reply);
        }

        // Only sequence triggers are looked up: a task event's id is recorded in its execution
        // (a repeated one is recognised there, and one for a completed task matches no open
        // task), so the processed-id table only needs the triggers.
        let relevant: Vec<EventId> = deliveries
            .iter()
            .filter(|d| matches!(relevance(d.event()), Relevance::SequenceTrigger { .. }))
            .map(|d| d.event().id.clone())
            .collect();
        let processed = if relevant.is_empty() {
            HashSet::new()
        } else {
            match self.store.processed(&relevant).await {
                Ok(processed) => processed,
                Err(e) => {
                    tracing::error!(error = %e, "cannot check processed events; redelivering");
                    for delivery in deliveries {
                        let _ = delivery.nack(Some(Duration::from_secs(1))).await;
                    }
                    return self.feed(inputs, replies, Vec::new(), now).await;
                }
            }
        };
        let mut accepted = Vec::with_capacity(deliveries.len());
        // Deliveries the controller has nothing to do with are acknowledged together at the end
        // of the batch: on the durable bus one position write covers them all.
        let mut settled = Vec::new();
        for delivery in deliveries {
            let (event, acker) = delivery.into_parts();
            let kind = relevance(&event);
            let duplicate = processed.contains(&event.id)
                || self.next.seen.contains(&event.id)
                || self
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| f.seen.contains(&event.id));
            if kind == Relevance::Ignored || duplicate {
                if duplicate {
                    tracing::debug!(event_id = %event.id, "duplicate delivery ignored");
                }
                settled.push(acker);
                continue;
            }
            let id = event.id.clone();
            let is_trigger = matches!(kind, Relevance::SequenceTrigger { .. });
            let input = match kind {
                Relevance::SequenceTrigger { project, stage } => {
                    match self.trigger_input(event, project, &stage).await {
                        Some(input) => input,
                        None => {
                            let _ = acker.nack(Some(Duration::from_secs(2))).await;
                            continue;
                        }
                    }
                }
                _ => Input::TaskEvent(event),
            };
            if is_trigger {
                self.next.commit.processed.push(id.clone());
            }
            self.next.seen.insert(id);
            inputs.push(input);
            accepted.push(acker);
        }
        for result in futures::future::join_all(settled.into_iter().map(|a| a.ack())).await {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot acknowledge a delivery");
            }
        }
        self.feed(inputs, replies, accepted, now).await;
    }

    /// Runs inputs through the core and adds their effects to the next commit.
    async fn feed(
        &mut self,
        inputs: Vec<Input>,
        replies: Vec<Reply>,
        deliveries: Vec<Box<dyn Acknowledger>>,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        if inputs.is_empty() {
            return;
        }
        let effects = self.core.handle_batch(inputs, now);
        let mut next = std::mem::take(&mut self.next);
        next.commit.at = now;
        let outcomes = self.absorb(&mut next, effects).await;
        next.replies.extend(
            replies
                .into_iter()
                .zip(outcomes.into_iter().chain(std::iter::repeat(0))),
        );
        next.deliveries.extend(deliveries);
        self.next = next;
    }

    /// Starts writing the next commit.
    fn start_commit(&mut self) {
        let mut next = std::mem::take(&mut self.next);
        let published = self.progress.published_up_to.load(Ordering::Acquire);
        let published_up_to = (published > self.deleted_up_to).then_some(published);
        next.commit.outbox_published_up_to = published_up_to;
        if next.commit.at == chrono::DateTime::<chrono::Utc>::default() {
            next.commit.at = self.clock.now();
        }
        let store = Arc::clone(&self.store);
        let commit = next.commit;
        self.in_flight = Some(InFlight {
            task: tokio::spawn(async move {
                let result = store.commit(&commit).await;
                (result, commit)
            }),
            timers: next.timers,
            deliveries: next.deliveries,
            replies: next.replies,
            seen: next.seen,
            published_up_to,
        });
    }

    /// Settles the commit that was in flight.
    async fn finish_commit(
        &mut self,
        flight: InFlight,
        done: Result<(Result<(), SequenceStoreError>, Commit), tokio::task::JoinError>,
    ) {
        let (result, outbox) = match done {
            Ok((result, commit)) => (result, commit.outbox),
            Err(e) => (
                Err(SequenceStoreError::new(
                    SequenceStoreErrorKind::Other,
                    format!("the commit task failed: {e}"),
                )),
                Vec::new(),
            ),
        };
        match result {
            Ok(()) => {
                if let Some(up_to) = flight.published_up_to {
                    self.deleted_up_to = self.deleted_up_to.max(up_to);
                }
                for timer in flight.timers {
                    self.timers.push(timer);
                }
                if let Some(last_seq) = outbox.last().map(|e| e.seq) {
                    self.progress.committed(outbox, last_seq);
                }
                self.commits += 1;
                if self.commits % COMMITS_PER_MAINTENANCE == 0 {
                    self.maintenance.notify_one();
                }
                let acks = flight.deliveries.into_iter().map(|d| d.ack());
                for result in futures::future::join_all(acks).await {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "cannot acknowledge a delivery");
                    }
                }
                for (reply, affected) in flight.replies {
                    let _ = reply.send(Ok(ControlOutcome { affected }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot commit the sequence state; redelivering");
                let next = std::mem::take(&mut self.next);
                for delivery in flight.deliveries.into_iter().chain(next.deliveries) {
                    let _ = delivery.nack(Some(Duration::from_secs(1))).await;
                }
                for (reply, _) in flight.replies.into_iter().chain(next.replies) {
                    let _ = reply.send(Err(store_error(format!("the command was not saved: {e}"))));
                }
                self.recover().await;
            }
        }
    }

    /// Rebuilds the core after a failed commit, retrying until the store answers.
    /// Rebuilds the core after a failed commit. If the store does not answer, the loop stops
    /// taking inputs and retries (see `broken`) until it does or the controller shuts down.
    async fn recover(&mut self) {
        match self.reload().await {
            Ok(()) => self.broken = None,
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the sequence state; retrying");
                let backoff = self.broken.map_or(Duration::from_millis(100), |b| {
                    (b * 2).min(Duration::from_secs(10))
                });
                self.broken = Some(backoff);
            }
        }
    }

    /// Whether published events wait to be removed from the outbox.
    fn unpublished_removal(&self) -> bool {
        self.progress.published_up_to.load(Ordering::Acquire) > self.deleted_up_to
    }

    /// Removes published events from the outbox at shutdown.
    async fn commit_published(&mut self) {
        let published = self.progress.published_up_to.load(Ordering::Acquire);
        if published <= self.deleted_up_to {
            return;
        }
        let commit = Commit {
            outbox_published_up_to: Some(published),
            at: self.clock.now(),
            ..Commit::default()
        };
        match self.store.commit(&commit).await {
            Ok(()) => self.deleted_up_to = published,
            Err(e) => tracing::warn!(error = %e, "cannot remove published events from the outbox"),
        }
    }

    async fn prune(&mut self) {
        let retention = chrono::Duration::from_std(self.config.processed_retention)
            .unwrap_or(chrono::Duration::MAX);
        let before = self
            .clock
            .now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match self.store.prune_processed(before).await {
            Ok(n) if n > 0 => tracing::debug!(pruned = n, "forgot old processed event ids"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune processed event ids"),
        }
    }
}
