//! The wait service: the `wait` task, for the role of Keptn 0.6's wait-service (give real users
//! time before an evaluation). Keptn 1.x replaced it by `triggeredAfter` on a task, which the
//! orchestrator also supports; a `wait` task makes the pause a visible step of its own.
//!
//! ```yaml
//! tasks:
//!   - name: wait
//!     properties:
//!       duration: 10m        # Go duration: 90s, 10m, 1h30m
//! ```
//!
//! On `wait.triggered` the service answers `wait.started` ("waiting 10m") and, once the
//! duration has passed since the event's `time`, `wait.finished` with result `pass`. A missing
//! or invalid `wait.duration` finishes the task `errored` with a message naming the field.
//!
//! Waiting blocks nothing: the handler returns at once and a timer task answers later. Pending
//! waits are kept as files under the service's state directory
//! (`<data-dir>/services/wait-service/pending/`), so a restart re-arms them with the time that
//! is left (or answers at once when the time is up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::KeptnEvent;
use keptn_sdk::event::payload::FinishedData;
use keptn_sdk::handler::{HandlerError, TaskContext, TaskHandler, TaskOutcome, TaskRunner};
use keptn_sdk::transport::Transport;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{WAIT_SOURCE, derived_id, started_with_derived_id};
use crate::plane::{BoxedRunner, HandlerService, PlaneService, ServiceContext, ServiceFuture};
use crate::quality::timeframe::parse_duration;

/// When a wait ends: the `.triggered` event's time plus `wait.duration`; `Err` says what is
/// wrong with the duration.
pub fn wait_deadline(triggered: &KeptnEvent) -> Result<(DateTime<Utc>, String), String> {
    let text = match triggered.data.pointer("/wait/duration") {
        None | Some(Value::Null) => {
            return Err("wait.duration: missing; expected a duration such as 30s or 10m".into());
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(other) => {
            return Err(format!(
                "wait.duration: {other} is not a duration; expected text such as 30s or 10m"
            ));
        }
    };
    let delta = parse_duration(&text)
        .map_err(|reason| format!("wait.duration: {text:?} is not a duration: {reason}"))?;
    if delta < chrono::TimeDelta::zero() {
        return Err(format!(
            "wait.duration: {text:?} is negative; expected a duration such as 30s"
        ));
    }
    let deadline = triggered
        .time
        .checked_add_signed(delta)
        .ok_or_else(|| format!("wait.duration: {text:?} is too long"))?;
    Ok((deadline, text))
}

/// The `wait` task handler: answers `.started`, records the wait and hands it to the timer.
struct WaitHandler {
    pending: PendingDir,
    timers: mpsc::Sender<KeptnEvent>,
}

impl std::fmt::Debug for WaitHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitHandler")
            .field("pending", &self.pending.0)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TaskHandler for WaitHandler {
    type Data = Value;

    fn task(&self) -> &str {
        "wait"
    }

    async fn handle(&self, ctx: TaskContext, _data: Value) -> Result<TaskOutcome, HandlerError> {
        let triggered = ctx.event();
        let deadline = wait_deadline(triggered);
        let message = deadline.as_ref().ok().map(|(_, d)| format!("waiting {d}"));
        ctx.publish(&started_with_derived_id(
            triggered,
            WAIT_SOURCE,
            message.as_deref(),
        )?)
        .await?;
        if let Err(message) = deadline {
            return Ok(FinishedData::errored(message).into());
        }
        self.pending.save(triggered).await?;
        if self.timers.send(triggered.clone()).await.is_err() {
            // The service is stopping; the saved wait is re-armed by the next start.
            tracing::info!(event_id = %triggered.id, "wait recorded while stopping; it resumes on the next start");
        }
        Ok(TaskOutcome::Deferred)
    }
}

/// The files of the pending waits: `<dir>/<uuid>.json`, each a `.triggered` event.
#[derive(Debug, Clone)]
struct PendingDir(PathBuf);

impl PendingDir {
    fn file(&self, event: &KeptnEvent) -> PathBuf {
        let name = derived_id(&event.id, "wait-service/pending");
        self.0.join(format!("{}.json", name.as_str()))
    }

    async fn save(&self, event: &KeptnEvent) -> Result<(), HandlerError> {
        let dir = self.0.clone();
        let path = self.file(event);
        let bytes = event.to_json();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &bytes))
            .await
            .map_err(|e| HandlerError::msg(format!("the pending-wait writer failed: {e}")))?
            .map_err(|e| HandlerError::msg(format!("recording the wait failed: {e}")))
    }

    async fn remove(&self, event: &KeptnEvent) {
        let path = self.file(event);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "removing a finished wait failed")
            }
        }
    }

    async fn load(&self) -> Result<Vec<KeptnEvent>, String> {
        let dir = self.0.clone();
        tokio::task::spawn_blocking(move || load_dir(&dir))
            .await
            .map_err(|e| format!("loading the pending waits failed: {e}"))?
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn load_dir(dir: &Path) -> Result<Vec<KeptnEvent>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {} failed: {e}", dir.display())),
    };
    let mut events = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| KeptnEvent::from_json(&b).map_err(|e| e.to_string()))
        {
            Ok(event) => events.push(event),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "skipping an unreadable pending wait");
            }
        }
    }
    Ok(events)
}

/// Answers the waits when their time comes.
struct Timers {
    transport: Arc<dyn Transport>,
    pending: PendingDir,
    due: BTreeMap<(DateTime<Utc>, String), KeptnEvent>,
}

impl Timers {
    fn add(&mut self, event: KeptnEvent) {
        match wait_deadline(&event) {
            Ok((at, _)) => {
                self.due.insert((at, event.id.to_string()), event);
            }
            Err(e) => tracing::warn!(event_id = %event.id, error = %e, "dropping an invalid wait"),
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<KeptnEvent>, shutdown: CancellationToken) {
        let mut open = true;
        loop {
            let next = self.due.keys().next().map(|(at, _)| *at);
            let sleep = async {
                match next {
                    Some(at) => {
                        let left = (at - Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(left).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = rx.recv(), if open => match received {
                    Some(event) => self.add(event),
                    None => open = false,
                },
                () = sleep => self.fire().await,
            }
        }
    }

    async fn fire(&mut self) {
        let now = Utc::now();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let event = entry.remove();
            let waited = wait_deadline(&event).map(|(_, d)| d).unwrap_or_default();
            let sent = match event.finished(
                WAIT_SOURCE,
                FinishedData::pass().with_message(format!("waited {waited}")),
            ) {
                Ok(mut finished) => {
                    finished.id = derived_id(&event.id, "wait-service/finished");
                    self.transport
                        .publish(&finished)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(()) => self.pending.remove(&event).await,
                Err(e) => {
                    tracing::warn!(event_id = %event.id, error = %e, "sending wait.finished failed; trying again in a second");
                    let again = Utc::now() + chrono::TimeDelta::seconds(1);
                    self.due.insert((again, event.id.to_string()), event);
                    return;
                }
            }
        }
    }
}

/// The wait service as a plane service named `wait-service`; see the [module docs](self).
pub fn wait_service() -> impl PlaneService {
    HandlerService::new(WAIT_SOURCE, |ctx: &ServiceContext| {
        let pending = PendingDir(ctx.state_dir.join("pending"));
        let (tx, rx) = mpsc::channel(64);
        let transport = Arc::clone(&ctx.transport);
        let timer_pending = pending.clone();
        let timers = BoxedRunner::from_subscribe(move |shutdown: CancellationToken| async move {
            let mut timers = Timers {
                transport,
                pending: timer_pending.clone(),
                due: BTreeMap::new(),
            };
            let restored = timer_pending.load().await?;
            if !restored.is_empty() {
                tracing::info!(count = restored.len(), "re-arming pending waits");
            }
            for event in restored {
                timers.add(event);
            }
            let run: ServiceFuture = Box::pin(async move {
                timers.run(rx, shutdown).await;
                Ok(())
            });
            Ok(run)
        });
        let runner = TaskRunner::new(
            Arc::clone(&ctx.transport),
            WaitHandler {
                pending,
                timers: tx,
            },
        )
        .source(WAIT_SOURCE)
        .queue_group(WAIT_SOURCE)
        .shutdown_deadline(super::RUNNER_SHUTDOWN_DEADLINE)
        // `wait.started` gets an id derived from the trigger, so a redelivery sends it once.
        .send_started(false);
        Ok(vec![timers, BoxedRunner::new(runner)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keptn_sdk::event::{EventType, Phase};
    use serde_json::json;

    fn wait_event(duration: Value) -> KeptnEvent {
        KeptnEvent::builder(EventType::task("wait", Phase::Triggered))
            .source("shipyard-controller")
            .data_json(json!({"project": "p", "stage": "s", "service": "x", "wait": {"duration": duration}}))
            .build()
            .unwrap()
    }

    #[test]
    fn the_deadline_is_the_event_time_plus_the_duration() {
        let e = wait_event(json!("1m30s"));
        let (at, text) = wait_deadline(&e).unwrap();
        assert_eq!(at - e.time, chrono::TimeDelta::seconds(90));
        assert_eq!(text, "1m30s");
    }

    #[test]
    fn bad_durations_name_the_field() {
        for (value, expected) in [
            (Value::Null, "wait.duration: missing"),
            (json!(30), "wait.duration: 30 is not a duration"),
            (json!("soon"), "wait.duration: \"soon\" is not a duration"),
            (json!("-5s"), "wait.duration: \"-5s\" is negative"),
        ] {
            let err = wait_deadline(&wait_event(value)).unwrap_err();
            assert!(err.starts_with(expected), "{err}");
        }
    }

    #[tokio::test]
    async fn pending_waits_survive_as_files() {
        let dir = tempfile::tempdir().unwrap();
        let pending = PendingDir(dir.path().join("pending"));
        assert!(pending.load().await.unwrap().is_empty());
        let e = wait_event(json!("10s"));
        pending.save(&e).await.unwrap();
        pending.save(&e).await.unwrap();
        let loaded = pending.load().await.unwrap();
        assert_eq!(loaded, vec![e.clone()]);
        pending.remove(&e).await;
        assert!(pending.load().await.unwrap().is_empty());
    }
}
