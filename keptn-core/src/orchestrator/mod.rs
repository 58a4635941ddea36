//! Sequence orchestration: Keptn's shipyard-controller.
//!
//! - [`Core`] is the pure state machine: an input (a sequence trigger with its shipyard, a task
//!   event, a control command, a due timer) in, [`Effect`]s (events to publish, state to save,
//!   timers to set) out. No I/O and no clock of its own.
//!
//! The rules follow Keptn 1.x (see `docs/orchestration.md`): tasks complete when they have as many
//! `.finished` as `.started` events; results aggregate to `fail`, `warning` or `pass`; sequences
//! chain through `triggeredOn`; one sequence per project, stage and service runs at a time.

mod core;
mod driver;
mod model;
pub mod payload;
pub mod store;
mod view;

pub use self::core::{
    CONTROLLER_SOURCE, ControlAction, ControlCommand, Core, CoreConfig, Effect, Input, Outgoing,
    Relevance, RestoredState, Timer, TimerKind, relevance,
};
pub use driver::{
    Clock, ControlOutcome, Controller, ControllerConfig, ControllerError, ControllerHandle,
    MemoryShipyardSource, ShipyardSource, ShipyardSourceError, ShipyardSourceErrorKind,
    SystemClock, TokioClock,
};
pub use model::{
    CurrentTask, ExecutionState, Outcome, PauseKey, SequenceExecution, TaskEvent, TaskPhase,
    TaskResult, UnknownState,
};
pub use view::{SequenceState, SequenceStateEvaluation, SequenceStateEvent, SequenceStateStage};
