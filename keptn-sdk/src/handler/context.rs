//! What a handler gets besides the data: the triggering event and a way to answer it.

use std::sync::Arc;

use crate::event::payload::FinishedData;
use crate::event::{KeptnEvent, ResponseError};
use crate::transport::{Transport, TransportError, TransportErrorKind};

/// The context of one task execution: the `.triggered` event and the means to report progress.
///
/// Cheap to clone; clones refer to the same event and transport.
#[derive(Debug, Clone)]
pub struct TaskContext {
    triggered: Arc<KeptnEvent>,
    transport: Arc<dyn Transport>,
    source: Arc<str>,
    attempt: u32,
}

impl TaskContext {
    /// A context for `triggered`, answering as `source` through `transport`. The runner makes
    /// these; tests of a handler can make their own.
    pub fn new(
        triggered: KeptnEvent,
        transport: Arc<dyn Transport>,
        source: impl Into<Arc<str>>,
        attempt: u32,
    ) -> Self {
        Self {
            triggered: Arc::new(triggered),
            transport,
            source: source.into(),
            attempt,
        }
    }

    /// The `.triggered` event.
    pub fn event(&self) -> &KeptnEvent {
        &self.triggered
    }

    /// `data.project` of the `.triggered` event.
    pub fn project(&self) -> Option<&str> {
        self.triggered.project()
    }

    /// `data.stage` of the `.triggered` event.
    pub fn stage(&self) -> Option<&str> {
        self.triggered.stage()
    }

    /// `data.service` of the `.triggered` event.
    pub fn service(&self) -> Option<&str> {
        self.triggered.service()
    }

    /// The `source` of the events this service sends.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How many times the transport delivered the `.triggered` event (1 the first time). A value
    /// above 1 means an earlier attempt did not complete: a good moment to check for work
    /// already done.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Publishes a `.status.changed` event with `message`, to report progress.
    pub async fn status_changed(&self, message: &str) -> Result<(), TransportError> {
        let event = self
            .triggered
            .status_changed(&self.source, message)
            .map_err(response_error)?;
        self.transport.publish(&event).await
    }

    /// Publishes any event (for example a `sh.keptn.log.error`).
    pub async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        self.transport.publish(event).await
    }

    /// A handle to send `.finished` later: return [`TaskOutcome::Deferred`](super::TaskOutcome)
    /// from the handler and call [`DeferredFinish::finish`] when the answer is known.
    pub fn deferred(&self) -> DeferredFinish {
        DeferredFinish {
            triggered: Arc::clone(&self.triggered),
            transport: Arc::clone(&self.transport),
            source: Arc::clone(&self.source),
        }
    }
}

/// Sends the `.finished` event of a task whose handler answered
/// [`TaskOutcome::Deferred`](super::TaskOutcome). Cheap to clone.
///
/// The handle lives in memory only. If the answer can come after a restart (a manual approval
/// can take days), store [`DeferredFinish::triggered`] and build the answer later with
/// [`KeptnEvent::finished`].
#[derive(Debug, Clone)]
pub struct DeferredFinish {
    triggered: Arc<KeptnEvent>,
    transport: Arc<dyn Transport>,
    source: Arc<str>,
}

impl DeferredFinish {
    /// The `.triggered` event being answered.
    pub fn triggered(&self) -> &KeptnEvent {
        &self.triggered
    }

    /// Publishes `.status.changed` with `message`.
    pub async fn status_changed(&self, message: &str) -> Result<(), TransportError> {
        let event = self
            .triggered
            .status_changed(&self.source, message)
            .map_err(response_error)?;
        self.transport.publish(&event).await
    }

    /// Publishes `.finished` with `data` and returns the event sent.
    pub async fn finish(&self, data: FinishedData) -> Result<KeptnEvent, TransportError> {
        let event = self
            .triggered
            .finished(&self.source, data)
            .map_err(response_error)?;
        self.transport.publish(&event).await?;
        Ok(event)
    }
}

fn response_error(err: ResponseError) -> TransportError {
    TransportError::with_source(
        TransportErrorKind::Encode,
        "cannot build the response event",
        err,
    )
}
