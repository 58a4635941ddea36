//! The consuming loop of the controller.
//!
//! Each turn takes what is ready — deliveries (up to `max_batch`), control commands and due
//! timers — feeds it through the core one input at a time, and commits everything the turn
//! changed at once. Deliveries are acknowledged and control commands answered only after the
//! commit. If a commit fails, the deliveries are handed back for redelivery and the core is
//! rebuilt from the store, so memory never runs ahead of what is durable.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use keptn_sdk::event::{EventId, GitCommitId, KeptnContext};
use keptn_sdk::transport::{Delivery, SubjectPattern, SubscribeOptions};
use tokio_util::sync::CancellationToken;

use super::publisher::{OutboxProgress, Publisher};
use super::source::ShipyardSourceErrorKind;
use super::timers::Timers;
use super::{ControlOutcome, ControlRequest, Controller, ControllerError};
use crate::orchestrator::core::{Core, Effect, Input, Relevance, Timer, relevance};
use crate::orchestrator::store::{Commit, SequenceStore};
use crate::orchestrator::view::SequenceState;
use crate::shipyard::Shipyard;

const SUBJECT: &str = "sh.keptn.>";
const SHIPYARD_CACHE_LIMIT: usize = 1024;

/// The changes of one turn, merged into one commit.
#[derive(Default)]
struct Turn {
    commit: Commit,
    executions: HashMap<String, usize>,
    views: HashMap<(String, KeptnContext), usize>,
    timers: Vec<Timer>,
    seen: HashSet<EventId>,
}

impl Turn {
    fn pending_view(&self, project: &str, context: &KeptnContext) -> Option<&SequenceState> {
        self.views
            .get(&(project.to_owned(), context.clone()))
            .map(|i| &self.commit.views[*i])
    }
}

struct Loop {
    core: Core,
    controller_store: Arc<dyn SequenceStore>,
    shipyards: Arc<dyn super::ShipyardSource>,
    clock: Arc<dyn super::Clock>,
    config: super::ControllerConfig,
    timers: Timers,
    cache: HashMap<(String, GitCommitId), Arc<Shipyard>>,
    progress: Arc<OutboxProgress>,
    deleted_up_to: u64,
    needs_reload: bool,
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
    let mut state = Loop {
        core: Core::new(config.core.clone()),
        controller_store: Arc::clone(&store),
        shipyards,
        clock: Arc::clone(&clock),
        config: config.clone(),
        timers: Timers::default(),
        cache: HashMap::new(),
        progress: Arc::clone(&progress),
        deleted_up_to: 0,
        needs_reload: true,
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
    let mut prune = tokio::time::interval_at(
        tokio::time::Instant::now() + config.prune_interval,
        config.prune_interval,
    );
    tokio::pin!(shutdown);
    let result = loop {
        let next_timer = state.timers.next_at();
        let timer_clock = Arc::clone(&clock);
        let timer = async move {
            match next_timer {
                Some(at) => timer_clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            item = subscription.next() => {
                let Some(first) = item else {
                    break Err(ControllerError::SubscriptionEnded);
                };
                let mut deliveries = Vec::new();
                push_delivery(&mut deliveries, first);
                while deliveries.len() < config.max_batch.max(1) {
                    match subscription.next().now_or_never() {
                        Some(Some(item)) => push_delivery(&mut deliveries, item),
                        _ => break,
                    }
                }
                let controls = drain(&mut control_rx);
                state.turn(deliveries, controls).await;
            }
            Some(request) = control_rx.recv() => {
                let mut controls = vec![request];
                controls.extend(drain(&mut control_rx));
                state.turn(Vec::new(), controls).await;
            }
            () = timer => state.turn(Vec::new(), Vec::new()).await,
            () = progress.published.notified() => state.commit_published().await,
            _ = prune.tick() => state.prune().await,
        }
    };
    drop(subscription);
    stop.cancel();
    match tokio::time::timeout(config.shutdown_grace, publisher).await {
        Ok(_) => {}
        Err(_) => tracing::warn!("the outbox was not fully published before shutdown"),
    }
    state.commit_published().await;
    result
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

impl Loop {
    fn store(&self) -> &dyn SequenceStore {
        self.controller_store.as_ref()
    }

    /// Rebuilds the core from the store.
    async fn reload(&mut self) -> Result<(), ControllerError> {
        let restored = self.store().load_active().await?;
        let now = self.clock.now();
        let (core, effects) = Core::restore(self.config.core.clone(), restored, now);
        self.core = core;
        self.timers.clear();
        let mut turn = Turn::default();
        turn.commit.at = now;
        self.absorb(&mut turn, effects).await;
        self.store().commit(turn.commit).await?;
        for timer in turn.timers {
            self.timers.push(timer);
        }
        self.progress.committed.notify_one();
        self.needs_reload = false;
        tracing::info!(
            executions = self.core.executions().count(),
            timers = self.timers.len(),
            "sequence controller state loaded"
        );
        Ok(())
    }

    /// One turn: due timers, control commands and deliveries, committed together.
    async fn turn(&mut self, deliveries: Vec<Delivery>, controls: Vec<ControlRequest>) {
        if self.needs_reload {
            if let Err(e) = self.reload().await {
                tracing::error!(error = %e, "cannot load the sequence state; events are redelivered later");
                for delivery in deliveries {
                    let _ = delivery.nack(Some(Duration::from_secs(1))).await;
                }
                for request in controls {
                    let _ = request.reply.send(Err(ControllerError::Store(
                        crate::orchestrator::store::SequenceStoreError::new(
                            crate::orchestrator::store::SequenceStoreErrorKind::Unavailable,
                            format!("the sequence state cannot be loaded: {e}"),
                        ),
                    )));
                }
                return;
            }
        }
        let now = self.clock.now();
        let mut turn = Turn::default();
        turn.commit.at = now;

        for timer in self.timers.take_due(now) {
            let effects = self.core.handle(Input::Timer(timer), now);
            self.absorb(&mut turn, effects).await;
        }

        let mut replies = Vec::with_capacity(controls.len());
        for request in controls {
            let effects = self.core.handle(Input::Control(request.command), now);
            let affected = self.absorb(&mut turn, effects).await;
            replies.push((request.reply, affected));
        }

        let relevant: Vec<EventId> = deliveries
            .iter()
            .filter(|d| relevance(d.event()) != Relevance::Ignored)
            .map(|d| d.event().id.clone())
            .collect();
        let processed = if relevant.is_empty() {
            HashSet::new()
        } else {
            match self.store().processed(&relevant).await {
                Ok(processed) => processed,
                Err(e) => {
                    tracing::error!(error = %e, "cannot check processed events; redelivering");
                    for delivery in deliveries {
                        let _ = delivery.nack(Some(Duration::from_secs(1))).await;
                    }
                    // Timers and control commands of this turn were applied in memory only.
                    self.fail_turn(replies, &e.to_string());
                    return;
                }
            }
        };
        let mut settled = Vec::with_capacity(deliveries.len());
        let mut retry = Vec::new();
        for delivery in deliveries {
            let event = delivery.event();
            let kind = relevance(event);
            if kind == Relevance::Ignored {
                settled.push(delivery);
                continue;
            }
            if processed.contains(&event.id) || !turn.seen.insert(event.id.clone()) {
                tracing::debug!(event_id = %event.id, "duplicate delivery ignored");
                settled.push(delivery);
                continue;
            }
            let input = match kind {
                Relevance::SequenceTrigger { project, stage } => {
                    match self
                        .trigger_input(&turn, delivery.event().clone(), project, &stage)
                        .await
                    {
                        Some(input) => input,
                        None => {
                            turn.seen.remove(&delivery.event().id);
                            retry.push(delivery);
                            continue;
                        }
                    }
                }
                _ => Input::TaskEvent(event.clone()),
            };
            turn.commit.processed.push(delivery.event().id.clone());
            let effects = self.core.handle(input, now);
            self.absorb(&mut turn, effects).await;
            settled.push(delivery);
        }

        let published = self.progress.published_up_to.load(Ordering::Acquire);
        if published > self.deleted_up_to {
            turn.commit.outbox_published_up_to = Some(published);
        }
        let added_to_outbox = !turn.commit.outbox.is_empty();
        match self.store().commit(turn.commit).await {
            Ok(()) => {
                if published > self.deleted_up_to {
                    self.deleted_up_to = published;
                }
                for timer in turn.timers {
                    self.timers.push(timer);
                }
                if added_to_outbox {
                    self.progress.committed.notify_one();
                }
                for delivery in settled {
                    if let Err(e) = delivery.ack().await {
                        tracing::warn!(error = %e, "cannot acknowledge a delivery");
                    }
                }
                for (reply, affected) in replies {
                    let _ = reply.send(Ok(ControlOutcome { affected }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot commit the sequence state; redelivering");
                for delivery in settled {
                    let _ = delivery.nack(Some(Duration::from_secs(1))).await;
                }
                self.fail_turn(replies, &e.to_string());
            }
        }
        for delivery in retry {
            let _ = delivery.nack(Some(Duration::from_secs(2))).await;
        }
    }

    /// The core ran ahead of the store: answer the commands and rebuild from the store.
    fn fail_turn(
        &mut self,
        replies: Vec<(
            tokio::sync::oneshot::Sender<Result<ControlOutcome, ControllerError>>,
            usize,
        )>,
        reason: &str,
    ) {
        for (reply, _) in replies {
            let _ = reply.send(Err(ControllerError::Store(
                crate::orchestrator::store::SequenceStoreError::new(
                    crate::orchestrator::store::SequenceStoreErrorKind::Unavailable,
                    format!("the command was not saved: {reason}"),
                ),
            )));
        }
        self.needs_reload = true;
    }

    /// Prepares a sequence trigger: stamps its commit, loads the shipyard at that commit and
    /// the stored view of its context. `None` when the configuration store is unavailable (the
    /// delivery is retried later).
    async fn trigger_input(
        &mut self,
        turn: &Turn,
        mut event: keptn_sdk::KeptnEvent,
        project: Option<String>,
        stage: &str,
    ) -> Option<Input> {
        let Some(project) = project.filter(|p| !p.is_empty()) else {
            return Some(Input::SequenceTriggered {
                event,
                shipyard: Err("the trigger has no data.project".to_owned()),
            });
        };
        if event.gitcommitid.is_none() {
            match self.shipyards.latest_commit(&project, stage).await {
                Ok(commit) => event.gitcommitid = commit,
                Err(e) if e.kind() == ShipyardSourceErrorKind::Unavailable => {
                    tracing::warn!(error = %e, "configuration store unavailable");
                    return None;
                }
                Err(e) => {
                    tracing::info!(error = %e, project, stage, "no latest commit for the stage");
                }
            }
        }
        let shipyard = match self.shipyard(&project, event.gitcommitid.clone()).await {
            Ok(shipyard) => Ok(shipyard),
            Err(e) if e.kind() == ShipyardSourceErrorKind::Unavailable => {
                tracing::warn!(error = %e, "configuration store unavailable");
                return None;
            }
            Err(e) => Err(e.to_string()),
        };
        if self.core.needs_view(&project, &event.shkeptncontext) {
            let view = match turn.pending_view(&project, &event.shkeptncontext) {
                Some(view) => Some(view.clone()),
                None => match self.store().view(&project, &event.shkeptncontext).await {
                    Ok(view) => view,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a sequence view");
                        return None;
                    }
                },
            };
            if let Some(view) = view {
                self.core.insert_view(view);
            }
        }
        Some(Input::SequenceTriggered { event, shipyard })
    }

    async fn shipyard(
        &mut self,
        project: &str,
        commit: Option<GitCommitId>,
    ) -> Result<Arc<Shipyard>, super::ShipyardSourceError> {
        if let Some(commit) = &commit {
            if let Some(found) = self.cache.get(&(project.to_owned(), commit.clone())) {
                return Ok(Arc::clone(found));
            }
        }
        let shipyard = Arc::new(self.shipyards.shipyard(project, commit.as_ref()).await?);
        if let Some(commit) = commit {
            if self.cache.len() >= SHIPYARD_CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache
                .insert((project.to_owned(), commit), Arc::clone(&shipyard));
        }
        Ok(shipyard)
    }

    /// Merges effects into the turn; returns the number of executions a control command changed.
    async fn absorb(&mut self, turn: &mut Turn, effects: Vec<Effect>) -> usize {
        let mut affected = 0;
        for effect in effects {
            match effect {
                Effect::Publish(outgoing) => {
                    let mut event = outgoing.event;
                    if let Some((project, stage)) = outgoing.stamp_commit_of {
                        match self.shipyards.latest_commit(&project, &stage).await {
                            Ok(commit) => event.gitcommitid = commit,
                            Err(e) => tracing::warn!(
                                error = %e, project, stage,
                                "cannot stamp the latest commit on a chained trigger"
                            ),
                        }
                    }
                    turn.commit.outbox.push(event);
                }
                Effect::SaveExecution(exec) => match turn.executions.get(&exec.id) {
                    Some(&i) => turn.commit.executions[i] = *exec,
                    None => {
                        turn.executions
                            .insert(exec.id.clone(), turn.commit.executions.len());
                        turn.commit.executions.push(*exec);
                    }
                },
                Effect::SaveView(view) => {
                    let key = (view.project.clone(), view.shkeptncontext.clone());
                    match turn.views.get(&key) {
                        Some(&i) => turn.commit.views[i] = *view,
                        None => {
                            turn.views.insert(key, turn.commit.views.len());
                            turn.commit.views.push(*view);
                        }
                    }
                }
                Effect::SetPause { key, paused } => turn.commit.pauses.push((key, paused)),
                Effect::Schedule(timer) => turn.timers.push(timer),
                Effect::Controlled { affected: n } => affected = n,
            }
        }
        affected
    }

    /// Removes published events from the outbox when nothing else is going on.
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
        match self.store().commit(commit).await {
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
        match self.store().prune_processed(before).await {
            Ok(n) if n > 0 => tracing::debug!(pruned = n, "forgot old processed event ids"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune processed event ids"),
        }
    }
}
