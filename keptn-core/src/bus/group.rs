//! One consumer of the durable bus: its position, its members and the task that feeds them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use keptn_sdk::transport::{
    Acknowledger, Delivery, DeliveryError, SubjectPattern, Subscription, TransportError,
    TransportErrorKind,
};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::{Entry, Inner, LogError};

type Item = Result<Delivery, DeliveryError>;

#[derive(Debug, Default)]
struct State {
    /// The next sequence number to examine.
    next: u64,
    /// Every matching event up to here is settled.
    committed: u64,
    /// Examined matching events not yet acknowledged, with their delivery count.
    pending: BTreeMap<u64, u32>,
    /// Acknowledged events above `committed`.
    acked_above: BTreeSet<u64>,
    /// Events acknowledged before a restart, to skip.
    restored: BTreeSet<u64>,
    /// Events waiting for a member, in order.
    backlog: VecDeque<(Entry, u32)>,
    /// Nacked events and when to deliver them again.
    redeliver: BTreeMap<(Instant, u64), Entry>,
    /// Acknowledgements not yet stored.
    unsaved: Vec<u64>,
    /// The cursor last stored.
    saved_cursor: u64,
    /// Generation of the newest acknowledgement, and of the newest stored.
    generation: u64,
}

impl State {
    fn advance(&mut self) {
        self.committed = match self.pending.keys().next() {
            Some(first) => first.saturating_sub(1),
            None => self.next.saturating_sub(1),
        };
        let committed = self.committed;
        self.acked_above = self.acked_above.split_off(&(committed + 1));
    }
}

#[derive(Debug)]
pub(crate) struct Group {
    name: String,
    pattern: SubjectPattern,
    durable: bool,
    bus: Weak<Inner>,
    state: Mutex<State>,
    members: Mutex<Vec<mpsc::Sender<Item>>>,
    round_robin: std::sync::atomic::AtomicUsize,
    wake: Notify,
    save_wake: Notify,
    saved: watch::Sender<u64>,
}

impl Group {
    pub(crate) async fn start(
        bus: &Arc<Inner>,
        name: String,
        pattern: SubjectPattern,
        durable: bool,
    ) -> Result<Arc<Self>, LogError> {
        let latest = *bus.latest.borrow();
        let mut state = State::default();
        let stored = if durable {
            bus.log.load_consumer(&name).await?
        } else {
            None
        };
        match stored {
            Some(position) => {
                state.committed = position.cursor;
                state.next = position.cursor + 1;
                state.restored = position.acked;
            }
            None => {
                state.committed = latest;
                state.next = latest + 1;
                if durable {
                    bus.log.save_consumer(&name, latest, &[]).await?;
                }
            }
        }
        state.saved_cursor = state.committed;
        let (saved, _) = watch::channel(0);
        Ok(Arc::new(Self {
            name,
            pattern,
            durable,
            bus: Arc::downgrade(bus),
            state: Mutex::new(state),
            members: Mutex::new(Vec::new()),
            round_robin: std::sync::atomic::AtomicUsize::new(0),
            wake: Notify::new(),
            save_wake: Notify::new(),
            saved,
        }))
    }

    /// Starts the tasks that feed the members and store the position. Called once, after the
    /// first member joined.
    pub(crate) fn spawn_tasks(self: &Arc<Self>, bus: &Inner) {
        bus.tasks
            .spawn(pump(Arc::clone(self), bus.shutdown.clone()));
        if self.durable {
            bus.tasks
                .spawn(saver(Arc::clone(self), bus.shutdown.clone()));
        }
    }

    pub(crate) fn pattern(&self) -> &SubjectPattern {
        &self.pattern
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<Item>>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add_member(&self, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.members().push(tx);
        self.wake.notify_one();
        Subscription::new(ReceiverStream::new(rx))
    }

    /// A live member, round robin; `None` when the group has none.
    fn pick_member(&self) -> Option<mpsc::Sender<Item>> {
        let mut members = self.members();
        members.retain(|m| !m.is_closed());
        if members.is_empty() {
            return None;
        }
        let n = self
            .round_robin
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(members[n % members.len()].clone())
    }

    fn settle(self: &Arc<Self>, seq: u64, retry_at: Option<Instant>, entry: &Entry) -> u64 {
        let mut state = self.state();
        match retry_at {
            Some(at) => {
                if state.pending.contains_key(&seq) {
                    state.redeliver.insert((at, seq), entry.clone());
                }
                drop(state);
                self.wake.notify_one();
                0
            }
            None => {
                if state.pending.remove(&seq).is_none() {
                    return state.generation;
                }
                if seq > state.committed {
                    state.acked_above.insert(seq);
                }
                state.advance();
                state.unsaved.push(seq);
                state.generation += 1;
                let generation = state.generation;
                drop(state);
                self.save_wake.notify_one();
                generation
            }
        }
    }
}

/// Feeds the group's members: redeliveries that are due, then new events in order.
async fn pump(group: Arc<Group>, shutdown: tokio_util::sync::CancellationToken) {
    let Some(bus) = group.bus.upgrade() else {
        return;
    };
    let mut latest_rx = bus.latest.subscribe();
    let read_batch = bus.config.read_batch.max(1);
    drop(bus);
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        // Redeliveries that are due go to the backlog first.
        let now = Instant::now();
        let next_due = {
            let mut state = group.state();
            let due: Vec<(Instant, u64)> = state
                .redeliver
                .range(..(now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            for key in due {
                if let Some(entry) = state.redeliver.remove(&key) {
                    let attempt = state.pending.get(&entry.seq).copied().unwrap_or(1) + 1;
                    state.pending.insert(entry.seq, attempt);
                    state.backlog.push_back((entry, attempt));
                }
            }
            state.redeliver.keys().next().map(|(at, _)| *at)
        };
        // New events.
        let latest = *latest_rx.borrow_and_update();
        let next = group.state().next;
        if next <= latest && group.state().backlog.len() < read_batch {
            let Some(bus) = group.bus.upgrade() else {
                return;
            };
            match bus.read_from(next, read_batch).await {
                Ok(entries) => {
                    let mut state = group.state();
                    let full = entries.len() == read_batch;
                    let mut last = next.saturating_sub(1);
                    for entry in entries {
                        last = entry.seq;
                        if !group.pattern.matches(&entry.subject)
                            || state.restored.remove(&entry.seq)
                        {
                            continue;
                        }
                        state.pending.insert(entry.seq, 1);
                        state.backlog.push_back((entry, 1));
                    }
                    state.next = if full { last + 1 } else { latest.max(last) + 1 };
                    state.advance();
                }
                Err(err) => {
                    tracing::error!(consumer = %group.name, error = %err, "reading the event log failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                    continue;
                }
            }
            if group.durable {
                group.save_wake.notify_one();
            }
        }
        // Hand the backlog to members.
        loop {
            let item = group.state().backlog.pop_front();
            let Some((entry, attempt)) = item else { break };
            let Some(member) = group.pick_member() else {
                group.state().backlog.push_front((entry, attempt));
                if !group.durable {
                    // An ephemeral consumer without members is gone for good.
                    if let Some(bus) = group.bus.upgrade() {
                        bus.groups.lock().await.remove(&group.name);
                    }
                    return;
                }
                break;
            };
            let acker = GroupAcker {
                group: Arc::clone(&group),
                entry: entry.clone(),
                settled: false,
            };
            let delivery = Delivery::new((*entry.event).clone(), attempt, Box::new(acker));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                // A failed send drops the delivery, whose acker puts the event back for another
                // member.
                _ = member.send(Ok(delivery)) => {}
            }
        }
        if !group.durable && group.pick_member().is_none() {
            if let Some(bus) = group.bus.upgrade() {
                bus.groups.lock().await.remove(&group.name);
            }
            return;
        }
        let (next, backlog_len) = {
            let state = group.state();
            (state.next, state.backlog.len())
        };
        let can_read = next <= *latest_rx.borrow() && backlog_len < read_batch;
        let can_send = backlog_len > 0 && group.pick_member().is_some();
        if !can_read && !can_send {
            let durable = group.durable;
            let sleep = async {
                match next_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    // An ephemeral consumer looks now and then whether its member is gone.
                    None if !durable => tokio::time::sleep(Duration::from_secs(1)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = latest_rx.changed() => {}
                _ = group.wake.notified() => {}
                _ = sleep => {}
            }
        }
    }
}

/// Stores the group's position whenever acknowledgements or skipped events moved it.
async fn saver(group: Arc<Group>, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        let stop = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = group.save_wake.notified() => false,
        };
        loop {
            let (cursor, acked, generation) = {
                let mut state = group.state();
                if state.unsaved.is_empty() && state.committed == state.saved_cursor {
                    break;
                }
                let acked: Vec<u64> = std::mem::take(&mut state.unsaved)
                    .into_iter()
                    .filter(|s| *s > state.committed)
                    .collect();
                (state.committed, acked, state.generation)
            };
            let Some(bus) = group.bus.upgrade() else {
                return;
            };
            match bus.log.save_consumer(&group.name, cursor, &acked).await {
                Ok(()) => {
                    group.state().saved_cursor = cursor;
                    group.saved.send_replace(generation);
                }
                Err(err) => {
                    tracing::error!(consumer = %group.name, error = %err, "storing the consumer position failed; retrying");
                    group.state().unsaved.extend(acked);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        if stop {
            return;
        }
    }
}

#[derive(Debug)]
struct GroupAcker {
    group: Arc<Group>,
    entry: Entry,
    settled: bool,
}

#[async_trait]
impl Acknowledger for GroupAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), TransportError> {
        self.settled = true;
        let generation = self.group.settle(self.entry.seq, None, &self.entry);
        if !self.group.durable {
            return Ok(());
        }
        let mut saved = self.group.saved.subscribe();
        saved
            .wait_for(|stored| *stored >= generation)
            .await
            .map(|_| ())
            .map_err(|_| {
                TransportError::new(
                    TransportErrorKind::Ack,
                    format!(
                        "the position of consumer {} was not stored: the bus shut down",
                        self.group.name
                    ),
                )
            })
    }

    async fn nack(mut self: Box<Self>, delay: Option<Duration>) -> Result<(), TransportError> {
        self.settled = true;
        let at = Instant::now() + delay.unwrap_or_default();
        self.group.settle(self.entry.seq, Some(at), &self.entry);
        Ok(())
    }
}

impl Drop for GroupAcker {
    fn drop(&mut self) {
        if !self.settled {
            self.group
                .settle(self.entry.seq, Some(Instant::now()), &self.entry);
        }
    }
}
