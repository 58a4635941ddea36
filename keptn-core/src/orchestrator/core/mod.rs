//! The pure orchestration core: the state of every active sequence execution, and a function
//! that takes one input (an event, a control command, a due timer) and returns what must happen
//! (events to publish, state to persist, timers to set). No I/O, no async, no clock of its own:
//! the caller passes `now`.
//!
//! The core keeps the *active* executions in memory, indexed by id, by Keptn context, by the id
//! of their open task and by queue (project + stage + service). Finished executions leave memory
//! once their final state has been handed out as an [`Effect::SaveExecution`]. The materialized
//! view of a context stays in memory while one of its executions is active; a driver that feeds a
//! sequence trigger for a context the core does not hold loads the stored view first
//! ([`Core::needs_view`], [`Core::insert_view`]).

mod control;
mod dispatch;
mod sequence;
mod task;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, EventType, KeptnContext, KeptnEvent, Phase};

use super::model::{ExecutionState, PauseKey, SequenceExecution};
pub(crate) use super::payload::controller_event;
use super::view::SequenceState;
use crate::shipyard::Shipyard;

/// The `source` of the events the controller sends.
pub const CONTROLLER_SOURCE: &str = "shipyard-controller";

/// Settings of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// How long a sent task may go without any `.started` or `.finished` event before its
    /// sequence times out (Keptn's `TASK_STARTED_WAIT_DURATION`, default 10 minutes).
    pub task_started_wait: Duration,
    /// A deadline for every task to finish after it was sent, for tasks whose shipyard entry has
    /// no `timeout`. `None` (the default) keeps Keptn's behaviour: a started task may run forever.
    pub default_task_timeout: Option<Duration>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            task_started_wait: Duration::from_secs(600),
            default_task_timeout: None,
        }
    }
}

/// What the core reacts to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Input {
    /// A `sh.keptn.event.<stage>.<sequence>.triggered` event, with the project's shipyard at the
    /// event's `gitcommitid` (or why it could not be read). The driver stamps a missing
    /// `gitcommitid` with the latest commit of the stage before handing the event over.
    SequenceTriggered {
        /// The trigger.
        event: KeptnEvent,
        /// The shipyard, or the reason it is unavailable.
        shipyard: Result<Arc<Shipyard>, String>,
    },
    /// A task's `.started` or `.finished` event (other phases are ignored).
    TaskEvent(KeptnEvent),
    /// A user's pause, resume or abort.
    Control(ControlCommand),
    /// A timer set by an earlier [`Effect::Schedule`] is due.
    Timer(Timer),
}

/// A sequence control command (`POST /v1/sequence/{project}/{keptnContext}/control`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlCommand {
    /// Project.
    pub project: String,
    /// The Keptn context whose sequences are controlled.
    pub keptn_context: KeptnContext,
    /// Restrict the command to one stage.
    pub stage: Option<String>,
    /// What to do.
    pub action: ControlAction,
}

/// Pause, resume or abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlAction {
    /// Stop starting or sending anything for the context; running tasks keep running.
    Pause,
    /// Undo a pause.
    Resume,
    /// End the sequences (`status: aborted`, `result: pass`).
    Abort,
}

/// A point in time at which the core must look at a task again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timer {
    /// When.
    pub at: DateTime<Utc>,
    /// The execution.
    pub execution_id: String,
    /// The task's `.triggered` event id (a timer for an older task of the execution is stale).
    pub triggered_id: EventId,
    /// What to check.
    pub kind: TimerKind,
}

/// What a [`Timer`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The `triggeredAfter` delay of a task is over: send it.
    SendTask,
    /// Did the task get a `.started` or `.finished` event in time?
    StartedWait,
    /// Did the task finish within its `timeout`?
    TaskTimeout,
}

/// An event to publish. The driver sets `gitcommitid` to the latest commit of `stamp_commit_of`
/// (project, stage) when asked: a sequence triggered by another one works with the newest
/// configuration of its own stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The event.
    pub event: KeptnEvent,
    /// `(project, stage)` whose latest commit to stamp.
    pub stamp_commit_of: Option<(String, String)>,
}

/// What must happen after an input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Effect {
    /// Publish an event (through the outbox, after the state is committed).
    Publish(Box<Outgoing>),
    /// Persist the execution as it is now (upsert by id).
    SaveExecution(Box<SequenceExecution>),
    /// Persist the materialized view of a context (upsert by project and context).
    SaveView(Box<SequenceState>),
    /// Set or clear a pause.
    SetPause {
        /// The pause.
        key: PauseKey,
        /// Set (`true`) or clear (`false`).
        paused: bool,
    },
    /// Feed [`Input::Timer`] with this timer when it is due.
    Schedule(Timer),
    /// A control command was applied to this many executions.
    Controlled {
        /// How many active executions the command changed.
        affected: usize,
    },
}

/// What a driver loads from its store to rebuild the core after a restart.
#[derive(Debug, Clone, Default)]
pub struct RestoredState {
    /// Every execution that is not over.
    pub executions: Vec<SequenceExecution>,
    /// Every pause.
    pub paused: Vec<PauseKey>,
    /// The views of the contexts of those executions.
    pub views: Vec<SequenceState>,
}

/// The queue an execution belongs to: one service in one stage of one project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LaneKey {
    pub(crate) project: String,
    pub(crate) stage: String,
    pub(crate) service: String,
}

impl LaneKey {
    fn of(exec: &SequenceExecution) -> Self {
        Self {
            project: exec.project.clone(),
            stage: exec.stage.clone(),
            service: exec.service.clone(),
        }
    }
}

type ContextKey = (String, KeptnContext);

/// The state of every active sequence execution. See the module documentation.
#[derive(Debug, Default)]
pub struct Core {
    config: CoreConfig,
    executions: HashMap<String, SequenceExecution>,
    by_trigger: HashMap<EventId, String>,
    by_task: HashMap<EventId, String>,
    by_context: HashMap<ContextKey, Vec<String>>,
    lanes: HashMap<LaneKey, Vec<String>>,
    paused: BTreeSet<PauseKey>,
    views: HashMap<ContextKey, SequenceState>,
    /// Views of contexts that just went idle, kept for a while: a new trigger of such a context
    /// (a chained stage, a new remediation round) finds its view here even if the store has not
    /// committed it yet.
    retired_views: HashMap<ContextKey, SequenceState>,
    retired_order: std::collections::VecDeque<ContextKey>,
    next_arrival: u64,
}

/// How many idle contexts keep their view in memory.
const RETIRED_VIEWS: usize = 4096;

/// Items in the order they were first added, each once.
#[derive(Debug)]
struct OrderedSet<T> {
    items: Vec<T>,
    seen: std::collections::HashSet<T>,
}

impl<T> Default for OrderedSet<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            seen: std::collections::HashSet::new(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> OrderedSet<T> {
    fn insert(&mut self, item: T) {
        if self.seen.insert(item.clone()) {
            self.items.push(item);
        }
    }

    fn contains(&self, item: &T) -> bool {
        self.seen.contains(item)
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn take(&mut self) -> Vec<T> {
        self.seen.clear();
        std::mem::take(&mut self.items)
    }
}

/// The changes of one batch of inputs, turned into effects at the end.
#[derive(Debug, Default)]
struct Tx {
    effects: Vec<Effect>,
    dirty_execs: OrderedSet<String>,
    dirty_views: OrderedSet<ContextKey>,
    dirty_lanes: OrderedSet<LaneKey>,
    ended: OrderedSet<String>,
}

/// What a driver must do with an event: hand it to the core (after loading the shipyard for a
/// sequence trigger), or ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relevance {
    /// `sh.keptn.event.<stage>.<sequence>.triggered`.
    SequenceTrigger {
        /// `data.project`, when present.
        project: Option<String>,
        /// The stage of the type.
        stage: String,
    },
    /// A task's `.started` or `.finished` event.
    TaskResponse,
    /// Anything else.
    Ignored,
}

/// Classifies an event for the core.
pub fn relevance(event: &KeptnEvent) -> Relevance {
    match &event.event_type {
        EventType::Sequence {
            stage,
            phase: Phase::Triggered,
            ..
        } => Relevance::SequenceTrigger {
            project: event.project().map(str::to_owned),
            stage: stage.clone(),
        },
        EventType::Task {
            phase: Phase::Started | Phase::Finished,
            ..
        } => Relevance::TaskResponse,
        _ => Relevance::Ignored,
    }
}

impl Core {
    /// An empty core.
    pub fn new(config: CoreConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Rebuilds the core from stored state. The returned effects re-arm the timers of every
    /// delayed or open task and start whatever the queues allow.
    pub fn restore(
        config: CoreConfig,
        state: RestoredState,
        now: DateTime<Utc>,
    ) -> (Self, Vec<Effect>) {
        let mut core = Self::new(config);
        core.paused = state.paused.into_iter().collect();
        for view in state.views {
            core.views
                .insert((view.project.clone(), view.shkeptncontext.clone()), view);
        }
        let mut tx = Tx::default();
        for exec in state.executions {
            if exec.state.is_terminal() {
                continue;
            }
            core.next_arrival = core.next_arrival.max(exec.arrival + 1);
            let id = exec.id.clone();
            tx.dirty_lanes.insert(LaneKey::of(&exec));
            core.index(exec);
            core.arm_timers(&mut tx, &id);
        }
        core.settle(&mut tx, now);
        // Nothing changed by restoring itself; only dispatching may have changed executions.
        (core, tx.effects)
    }

    /// Handles one input.
    pub fn handle(&mut self, input: Input, now: DateTime<Utc>) -> Vec<Effect> {
        self.handle_batch(std::iter::once(input), now)
    }

    /// Handles several inputs in order, as one step: the result is the same as handling them
    /// one by one, but an execution or view changed by several inputs is handed out once, in
    /// its final state. Each control command yields exactly one [`Effect::Controlled`], in the
    /// order of the commands.
    pub fn handle_batch(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let mut tx = Tx::default();
        for input in inputs {
            match input {
                Input::SequenceTriggered { event, shipyard } => {
                    self.on_sequence_triggered(&mut tx, event, shipyard, now);
                }
                Input::TaskEvent(event) => self.on_task_event(&mut tx, &event, now),
                Input::Control(command) => self.on_control(&mut tx, command, now),
                Input::Timer(timer) => self.on_timer(&mut tx, timer, now),
            }
            // Queues are dispatched after every input, so that the order of starts is the one
            // of the inputs; saving waits for the end of the batch.
            self.dispatch_dirty(&mut tx, now);
        }
        self.settle(&mut tx, now);
        tx.effects
    }

    /// Whether the core lacks the view of a context (the driver then loads the stored one with
    /// [`Core::insert_view`] before handing over a trigger for it).
    pub fn needs_view(&self, project: &str, context: &KeptnContext) -> bool {
        let key = (project.to_owned(), context.clone());
        !self.views.contains_key(&key) && !self.retired_views.contains_key(&key)
    }

    /// Adds a stored view.
    pub fn insert_view(&mut self, view: SequenceState) {
        let key = (view.project.clone(), view.shkeptncontext.clone());
        if !self.views.contains_key(&key) {
            self.retire_view(key, view);
        }
    }

    /// Whether an active execution was started by this trigger.
    pub fn has_trigger(&self, triggered_id: &EventId) -> bool {
        self.by_trigger.contains_key(triggered_id)
    }

    /// An active execution.
    pub fn execution(&self, id: &str) -> Option<&SequenceExecution> {
        self.executions.get(id)
    }

    /// Every active execution.
    pub fn executions(&self) -> impl Iterator<Item = &SequenceExecution> {
        self.executions.values()
    }

    /// The view of a context, while the core holds it.
    pub fn view(&self, project: &str, context: &KeptnContext) -> Option<&SequenceState> {
        let key = (project.to_owned(), context.clone());
        self.views
            .get(&key)
            .or_else(|| self.retired_views.get(&key))
    }

    /// The settings.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    fn index(&mut self, exec: SequenceExecution) {
        let id = exec.id.clone();
        self.by_trigger
            .insert(exec.triggered_id.clone(), id.clone());
        if let Some(task) = &exec.current_task {
            self.by_task.insert(task.triggered_id.clone(), id.clone());
        }
        self.by_context
            .entry((exec.project.clone(), exec.keptn_context.clone()))
            .or_default()
            .push(id.clone());
        self.lanes
            .entry(LaneKey::of(&exec))
            .or_default()
            .push(id.clone());
        self.executions.insert(id, exec);
    }

    /// Marks an execution changed.
    fn touch(&mut self, tx: &mut Tx, id: &str, now: DateTime<Utc>) {
        if let Some(exec) = self.executions.get_mut(id) {
            exec.updated_at = now;
            tx.dirty_execs.insert(id.to_owned());
        }
    }

    /// Changes what an execution is doing; a paused execution keeps `paused` and remembers the
    /// new state for its resume.
    fn set_state(&mut self, tx: &mut Tx, id: &str, state: ExecutionState, now: DateTime<Utc>) {
        let Some(exec) = self.executions.get_mut(id) else {
            return;
        };
        if exec.state == ExecutionState::Paused && !state.is_terminal() {
            exec.state_before_pause = Some(state);
        } else {
            exec.state = state;
            if state.is_terminal() {
                exec.state_before_pause = None;
            }
        }
        let shown = exec.state;
        let stage = exec.stage.clone();
        tx.dirty_lanes.insert(LaneKey::of(exec));
        self.touch(tx, id, now);
        self.with_view(tx, id, |view| view.set_stage_state(&stage, shown));
    }

    /// Brings a retired view back (a context that was idle is active again).
    fn revive_view(&mut self, key: &ContextKey) {
        if !self.views.contains_key(key) {
            if let Some(view) = self.retired_views.remove(key) {
                self.views.insert(key.clone(), view);
            }
        }
    }

    fn retire_view(&mut self, key: ContextKey, view: SequenceState) {
        if self.retired_views.insert(key.clone(), view).is_none() {
            self.retired_order.push_back(key);
        }
        while self.retired_order.len() > RETIRED_VIEWS {
            if let Some(old) = self.retired_order.pop_front() {
                self.retired_views.remove(&old);
            }
        }
    }

    /// Changes the view of an execution's context (creating it if the core has none).
    fn with_view(&mut self, tx: &mut Tx, id: &str, f: impl FnOnce(&mut SequenceState)) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let key = (exec.project.clone(), exec.keptn_context.clone());
        self.revive_view(&key);
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let view = self.views.entry(key.clone()).or_insert_with(|| {
            SequenceState::new(
                &exec.project,
                &exec.service,
                &exec.keptn_context,
                exec.sequence_name(),
                exec.triggered_at,
            )
        });
        f(view);
        tx.dirty_views.insert(key);
    }

    fn is_paused(&self, project: &str, context: &KeptnContext, stage: &str) -> bool {
        let mut key = PauseKey {
            project: project.to_owned(),
            keptn_context: context.clone(),
            stage: None,
        };
        if self.paused.contains(&key) {
            return true;
        }
        key.stage = Some(stage.to_owned());
        self.paused.contains(&key)
    }

    /// Dispatches the touched queues, then turns the changes into effects and lets ended
    /// executions (and views no execution needs) leave memory.
    fn dispatch_dirty(&mut self, tx: &mut Tx, now: DateTime<Utc>) {
        let mut rounds = 0;
        while !tx.dirty_lanes.is_empty() && rounds < 1000 {
            rounds += 1;
            let lanes = tx.dirty_lanes.take();
            for lane in lanes {
                self.dispatch_lane(tx, &lane, now);
            }
        }
    }

    fn settle(&mut self, tx: &mut Tx, now: DateTime<Utc>) {
        self.dispatch_dirty(tx, now);
        for id in tx.dirty_execs.take() {
            if tx.ended.contains(&id) {
                continue;
            }
            if let Some(exec) = self.executions.get(&id) {
                tx.effects
                    .push(Effect::SaveExecution(Box::new(exec.clone())));
            }
        }
        for id in tx.ended.take() {
            let Some(exec) = self.executions.remove(&id) else {
                continue;
            };
            self.by_trigger.remove(&exec.triggered_id);
            let key = (exec.project.clone(), exec.keptn_context.clone());
            if let Some(ids) = self.by_context.get_mut(&key) {
                ids.retain(|other| *other != id);
                if ids.is_empty() {
                    self.by_context.remove(&key);
                }
            }
            tx.effects.push(Effect::SaveExecution(Box::new(exec)));
        }
        for key in tx.dirty_views.take() {
            if let Some(view) = self.views.get(&key) {
                tx.effects.push(Effect::SaveView(Box::new(view.clone())));
            }
            if !self.by_context.contains_key(&key) {
                if let Some(view) = self.views.remove(&key) {
                    self.retire_view(key, view);
                }
            }
        }
    }
}

fn add(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests;
