//! Handlers from closures.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use super::{HandlerError, TaskContext, TaskHandler, TaskOutcome};

/// A [`TaskHandler`] made from a closure by [`handler_fn`].
pub struct HandlerFn<F, D> {
    task: String,
    f: F,
    _data: PhantomData<fn() -> D>,
}

/// Makes a [`TaskHandler`] for `task` from an async closure.
///
/// The closure gets the [`TaskContext`] and the `.triggered` data read as `D` (any
/// `DeserializeOwned` type: a typed payload, your own struct or [`serde_json::Value`]). It
/// returns `Ok` with a [`FinishedData`](crate::event::payload::FinishedData) or a
/// [`TaskOutcome`], or an error of any type that converts into [`HandlerError`].
///
/// ```
/// use keptn_sdk::handler::{handler_fn, TaskContext, HandlerError};
/// use keptn_sdk::event::payload::FinishedData;
///
/// let handler = handler_fn("hello", |ctx: TaskContext, _data: serde_json::Value| async move {
///     let project = ctx.project().ok_or_else(|| HandlerError::msg("no project"))?;
///     Ok::<_, HandlerError>(FinishedData::pass().with_message(format!("hello, {project}")))
/// });
/// # drop(handler);
/// ```
pub fn handler_fn<F, D, Fut, O, E>(task: impl Into<String>, f: F) -> HandlerFn<F, D>
where
    F: Fn(TaskContext, D) -> Fut + Send + Sync + 'static,
    D: DeserializeOwned + Send + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Into<TaskOutcome>,
    E: Into<HandlerError>,
{
    HandlerFn {
        task: task.into(),
        f,
        _data: PhantomData,
    }
}

impl<F, D> fmt::Debug for HandlerFn<F, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFn")
            .field("task", &self.task)
            .field("data", &std::any::type_name::<D>())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<F, D, Fut, O, E> TaskHandler for HandlerFn<F, D>
where
    F: Fn(TaskContext, D) -> Fut + Send + Sync + 'static,
    D: DeserializeOwned + Send + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: Into<TaskOutcome>,
    E: Into<HandlerError>,
{
    type Data = D;

    fn task(&self) -> &str {
        &self.task
    }

    async fn handle(&self, ctx: TaskContext, data: D) -> Result<TaskOutcome, HandlerError> {
        (self.f)(ctx, data)
            .await
            .map(Into::into)
            .map_err(Into::into)
    }
}
