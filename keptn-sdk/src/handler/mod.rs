//! Task handlers: the code of a Keptn service, and the runner that speaks the protocol for it.
//!
//! A service executes one task (`deployment`, `test`, a custom task...). It implements
//! [`TaskHandler`] (or wraps a closure with [`handler_fn`]) and hands it to a [`TaskRunner`],
//! which owns the protocol:
//!
//! 1. subscribe to `sh.keptn.event.<task>.triggered` (in a queue group, so that replicas of the
//!    service share the work);
//! 2. skip (acknowledge and ignore, without `.started`) events outside the configured
//!    [`Filter`] of projects, stages, services and data fields;
//! 3. publish `.started`, call the handler, publish `.finished` with the handler's status, result,
//!    message and fields;
//! 4. acknowledge the delivery once `.finished` is published.
//!
//! An error returned by the handler becomes a `.finished` event with status `errored`, result
//! `fail` and the error text as message; a panic in the handler is caught and reported the same
//! way. A handler stopped by its own process's shutdown before it could finish returns
//! [`HandlerError::interrupted`]: then nothing is answered and the delivery is nacked, so the
//! event is handled again after the restart instead of failing the sequence. A handler that
//! answers later (a manual approval, a long job tracked elsewhere) returns
//! [`TaskOutcome::Deferred`] and sends the `.finished` event itself through the
//! [`DeferredFinish`] handle of its [`TaskContext`].
//!
//! # Idempotency
//!
//! Within one runner a handler is called at most once per `.triggered` event id, even when the
//! transport delivers the event again (the runner remembers the ids it handled, in a bounded
//! set). Across restarts, and between replicas after a crash, an event can still reach a handler
//! twice: transports deliver at least once. **Handlers must be idempotent**, for example by
//! checking whether the work for this `triggeredid` was already done.
//!
//! ```
//! use keptn_sdk::handler::{handler_fn, TaskContext, TaskRunner};
//! use keptn_sdk::event::payload::{FinishedData, TestTriggered};
//! use keptn_sdk::MemoryTransport;
//!
//! let handler = handler_fn("test", |ctx: TaskContext, data: TestTriggered| async move {
//!     let strategy = data.test.and_then(|t| t.test_strategy).unwrap_or_default();
//!     ctx.status_changed(&format!("running {strategy} tests")).await?;
//!     Ok::<_, keptn_sdk::HandlerError>(FinishedData::pass().with_message("all tests passed"))
//! });
//! let runner = TaskRunner::new(MemoryTransport::default(), handler).source("my-test-service");
//! # drop(runner);
//! ```

mod context;
mod dedup;
mod filter;
mod func;
mod runner;

use std::fmt;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::event::payload::FinishedData;

pub use context::{DeferredFinish, TaskContext};
pub use filter::Filter;
pub use func::{HandlerFn, handler_fn};
pub use runner::{RunnerError, SubscribedRunner, TaskRunner};

/// One task of one service.
///
/// # Contract
/// - [`TaskHandler::task`] names the task; the runner subscribes to its `.triggered` events.
/// - `handle` is called with the `data` of a `.triggered` event read as [`TaskHandler::Data`]
///   (use [`serde_json::Value`] for raw data, or a typed payload from
///   [`crate::event::payload`]). If the data cannot be read as `Data`, the handler is not called
///   and the task finishes `errored` with a message that says why.
/// - Returning [`TaskOutcome::Finished`] makes the runner publish `.finished` with that data;
///   [`TaskOutcome::Deferred`] means the handler sends `.finished` later itself.
/// - Returning an error, or panicking, finishes the task with status `errored`, result `fail`.
/// - Handlers run concurrently (up to the runner's `max_in_flight`), so `handle` takes `&self`.
/// - Handlers must be idempotent across restarts: see the [module docs](self).
#[async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// The type the `.triggered` event's `data` is read as.
    type Data: DeserializeOwned + Send + 'static;

    /// The task this handler executes (`deployment`, `test`, `my-custom-task`).
    fn task(&self) -> &str;

    /// Executes the task for one `.triggered` event.
    async fn handle(&self, ctx: TaskContext, data: Self::Data)
    -> Result<TaskOutcome, HandlerError>;
}

/// What a handler did with a task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The task is done: the runner publishes `.finished` with this data.
    Finished(FinishedData),
    /// The handler sends `.finished` later itself, through [`TaskContext::deferred`]; the runner
    /// publishes nothing more for this event.
    Deferred,
}

impl From<FinishedData> for TaskOutcome {
    fn from(data: FinishedData) -> Self {
        TaskOutcome::Finished(data)
    }
}

/// The error of a handler: any error, kept with its chain of causes.
///
/// Any `std::error::Error + Send + Sync` converts into it with `?`; [`HandlerError::msg`] makes
/// one from a message. Like `anyhow::Error`, it does not itself implement `std::error::Error`
/// (that would conflict with the blanket conversion).
pub struct HandlerError {
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
    interrupted: bool,
}

impl HandlerError {
    /// An error with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            inner: message.to_string().into(),
            interrupted: false,
        }
    }

    /// The handler stopped before its end because its process is shutting down (not because
    /// the task failed): the runner publishes no `.finished` and gives the event back to the
    /// transport, so that it is handled again after the restart.
    pub fn interrupted(err: impl Into<HandlerError>) -> Self {
        Self {
            interrupted: true,
            ..err.into()
        }
    }

    /// Whether this is an [interruption](Self::interrupted) rather than a failure.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted
    }

    /// The message of `.finished`: the error and its causes, separated by `: `.
    pub fn report(&self) -> String {
        let mut text = self.inner.to_string();
        let mut source = self.inner.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // Some errors repeat their cause in their own message; do not say it twice.
            if !text.ends_with(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }

    /// The underlying error.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(err: E) -> Self {
        Self {
            inner: Box::new(err),
            interrupted: false,
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report())
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("report", &self.report())
            .field("interrupted", &self.interrupted)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot reach the test endpoint")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn report_joins_the_cause_chain() {
        let err = HandlerError::from(Outer(std::io::Error::other("connection refused")));
        assert_eq!(
            err.report(),
            "cannot reach the test endpoint: connection refused"
        );
        assert_eq!(HandlerError::msg("plain").to_string(), "plain");
    }
}
