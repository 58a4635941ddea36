//! A controller that stops (or is killed) while tasks are open resumes every sequence when a
//! new one starts on the same state, without losing or repeating a task trigger.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use keptn_core::orchestrator::store::{
    Commit, ExecutionFilter, MemorySequenceStore, OutboxEntry, Page, PageRequest, SequenceStore,
    SequenceStoreError, SequenceStoreErrorKind, TriggeredFilter, ViewFilter,
};
use keptn_core::orchestrator::{
    ControllerConfig, ExecutionState, MemoryShipyardSource, PauseKey, RestoredState,
    SequenceExecution, SequenceState,
};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent, KeptnResult};
use keptn_sdk::transport::MemoryTransport;
use serde_json::json;

use super::shipyards::DELIVERY;
use super::support::{Answer, PROJECT, Plane};

/// Counts the `.triggered` events of every task per context and stage.
fn triggers_per_task(events: &[KeptnEvent]) -> HashMap<(KeptnContext, String, String), usize> {
    let mut counts = HashMap::new();
    for event in events {
        let keptn_sdk::event::EventType::Task {
            task,
            phase: keptn_sdk::Phase::Triggered,
        } = &event.event_type
        else {
            continue;
        };
        *counts
            .entry((
                event.shkeptncontext.clone(),
                event.stage().unwrap_or_default().to_owned(),
                task.clone(),
            ))
            .or_insert(0) += 1;
    }
    counts
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_controller_resumes_every_sequence_from_sqlite_without_duplicate_triggers() {
    use keptn_core::datastore::SqliteEventStore;
    use keptn_core::db::SqliteDb;
    use keptn_core::orchestrator::store::SqliteSequenceStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keptn.db");
    // As in the plane: the sequence store shares the database of the event store.
    let open = || async {
        let db = SqliteDb::open(&path).await.unwrap();
        SqliteEventStore::new(db.clone()).await.unwrap();
        let store: Arc<dyn SequenceStore> = Arc::new(SqliteSequenceStore::new(db).await.unwrap());
        store
    };
    let first = open().await;
    let reopened = async { open().await };
    resumes_every_sequence_without_duplicate_triggers(first, reopened).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_controller_resumes_every_sequence_from_postgres_without_duplicate_triggers() {
    use keptn_core::orchestrator::store::PgSequenceStore;

    let url = keptn_testkit::PostgresServer::shared()
        .and_then(|server| server.create_database())
        .expect("a PostgreSQL server for the test (see keptn-testkit)");
    let open = || async {
        let store: Arc<dyn SequenceStore> = Arc::new(PgSequenceStore::connect(&url).await.unwrap());
        store
    };
    let first = open().await;
    let reopened = async { open().await };
    resumes_every_sequence_without_duplicate_triggers(first, reopened).await;
}

/// Five services each run one sequence held in its test task and queue a second one; the
/// controller is killed, a new one starts on `reopened`, and every sequence finishes with each
/// task triggered exactly once.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn resumes_every_sequence_without_duplicate_triggers(
    store: Arc<dyn SequenceStore>,
    reopened: impl std::future::Future<Output = Arc<dyn SequenceStore>>,
) {
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml(PROJECT, DELIVERY);
    let mut plane = Plane::start_with(
        store,
        shipyards,
        MemoryTransport::default(),
        ControllerConfig::default(),
    )
    .await;
    plane
        .passing(&["deployment", "evaluation", "release"])
        .await;
    let held: Arc<std::sync::Mutex<Vec<KeptnEvent>>> = Arc::default();
    let holder = Arc::clone(&held);
    plane
        .executor("test", "jmeter", move |event| {
            if event.stage() == Some("dev") {
                holder.lock().unwrap().push(event.clone());
                vec![Answer::Started]
            } else {
                vec![
                    Answer::Started,
                    Answer::Finished(KeptnResult::Pass, json!({})),
                ]
            }
        })
        .await;

    let services = 5;
    let mut triggers = Vec::new();
    for round in 0..2 {
        for s in 0..services {
            triggers.push(plane.trigger("dev", "delivery", &format!("svc-{s}")).await);
        }
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The first sequence of every service waits in its test task, the second one is queued.
    for trigger in &triggers[..services] {
        plane
            .events
            .wait_for("sh.keptn.event.test.started", &trigger.shkeptncontext)
            .await;
    }
    for trigger in &triggers[services..] {
        plane
            .state_when(&trigger.shkeptncontext, |s| {
                s.state == ExecutionState::Waiting
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    plane.kill_controller().await;
    plane.replace_store(reopened.await);
    plane.start_controller(ControllerConfig::default()).await;

    // At-least-once delivery: events the old controller processed may come again.
    let before_restart = plane.events.all();
    for event in before_restart
        .iter()
        .filter(|e| e.type_string() == "sh.keptn.event.test.started")
    {
        plane.publish(event).await;
    }
    let to_finish: Vec<KeptnEvent> = held.lock().unwrap().drain(..).collect();
    assert_eq!(to_finish.len(), services);
    for triggered in &to_finish {
        plane
            .answer(
                triggered,
                "jmeter",
                &[Answer::Finished(KeptnResult::Pass, json!({}))],
            )
            .await;
    }
    // The second sequence of each service now runs too; answer its held test as well.
    for trigger in &triggers[services..] {
        let test = plane
            .events
            .wait_for_stage(
                "sh.keptn.event.test.triggered",
                &trigger.shkeptncontext,
                "dev",
            )
            .await;
        plane.pass(&test, "jmeter").await;
    }
    for trigger in &triggers {
        let finished = plane
            .events
            .wait_for(
                "sh.keptn.event.production.delivery.finished",
                &trigger.shkeptncontext,
            )
            .await;
        assert_eq!(finished.data["result"], "pass");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let events = plane.events.all();
    let counts = triggers_per_task(&events);
    let expected_tasks = 4 + 4 + 2;
    assert_eq!(counts.len(), triggers.len() * expected_tasks);
    for (key, count) in &counts {
        assert_eq!(*count, 1, "{key:?} was triggered {count} times");
    }
    for trigger in &triggers {
        for stage in ["dev", "hardening", "production"] {
            let finished = events
                .iter()
                .filter(|e| {
                    e.shkeptncontext == trigger.shkeptncontext
                        && e.type_string() == format!("sh.keptn.event.{stage}.delivery.finished")
                })
                .count();
            assert_eq!(
                finished, 1,
                "{stage} of {} finished {finished} times",
                trigger.shkeptncontext
            );
        }
    }
    plane.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_controller_keeps_delays_and_timeouts() {
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml(PROJECT, DELIVERY);
    let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
    let mut plane = Plane::start_with(
        store,
        shipyards,
        MemoryTransport::default(),
        ControllerConfig::default(),
    )
    .await;
    let delayed = plane.trigger("dev", "delayed", "carts").await;
    let silent = plane.trigger("dev", "single", "orders").await;
    plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &silent.shkeptncontext)
        .await;
    plane
        .state_when(&delayed.shkeptncontext, |s| {
            s.state == ExecutionState::Started
        })
        .await;
    tokio::time::advance(Duration::from_secs(2)).await;

    plane.stop_controller().await;
    plane.start_controller(ControllerConfig::default()).await;

    tokio::time::advance(Duration::from_secs(8)).await;
    let sent = plane
        .events
        .wait_for("sh.keptn.event.mytask.triggered", &delayed.shkeptncontext)
        .await;
    assert_eq!(sent.data["service"], "carts");
    tokio::time::advance(Duration::from_secs(590)).await;
    plane
        .state_when(&silent.shkeptncontext, |s| {
            s.state == ExecutionState::TimedOut
        })
        .await;
    plane.settle().await;
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &delayed.shkeptncontext)
            .len(),
        1
    );
    assert_eq!(
        plane
            .events
            .of("sh.keptn.event.mytask.triggered", &silent.shkeptncontext)
            .len(),
        1
    );
    plane.shutdown().await;
}

/// A store whose next `failing` commits (and `failing_loads` loads) fail.
#[derive(Debug, Clone)]
struct FlakyStore {
    inner: MemorySequenceStore,
    failing: Arc<std::sync::atomic::AtomicUsize>,
    failing_loads: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl SequenceStore for FlakyStore {
    async fn commit(&self, commit: &Commit) -> Result<(), SequenceStoreError> {
        let left = self.failing.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 && !commit.is_empty() {
            self.failing
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(SequenceStoreError::new(
                SequenceStoreErrorKind::Unavailable,
                "injected failure",
            ));
        }
        self.inner.commit(commit).await
    }
    async fn load_active(&self) -> Result<RestoredState, SequenceStoreError> {
        let left = self.failing_loads.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.failing_loads
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(SequenceStoreError::new(
                SequenceStoreErrorKind::Unavailable,
                "injected failure",
            ));
        }
        self.inner.load_active().await
    }
    async fn processed(&self, ids: &[EventId]) -> Result<HashSet<EventId>, SequenceStoreError> {
        self.inner.processed(ids).await
    }
    async fn prune_processed(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, SequenceStoreError> {
        self.inner.prune_processed(before).await
    }
    async fn outbox(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, SequenceStoreError> {
        self.inner.outbox(after, limit).await
    }
    async fn outbox_last_seq(&self) -> Result<u64, SequenceStoreError> {
        self.inner.outbox_last_seq().await
    }
    async fn execution(&self, id: &str) -> Result<Option<SequenceExecution>, SequenceStoreError> {
        self.inner.execution(id).await
    }
    async fn executions(
        &self,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<SequenceExecution>, SequenceStoreError> {
        self.inner.executions(filter, page).await
    }
    async fn view(
        &self,
        project: &str,
        context: &KeptnContext,
    ) -> Result<Option<SequenceState>, SequenceStoreError> {
        self.inner.view(project, context).await
    }
    async fn views(
        &self,
        project: &str,
        filter: &ViewFilter,
        page: PageRequest,
    ) -> Result<Page<SequenceState>, SequenceStoreError> {
        self.inner.views(project, filter, page).await
    }
    async fn open_triggered_events(
        &self,
        filter: &TriggeredFilter,
        page: PageRequest,
    ) -> Result<Page<KeptnEvent>, SequenceStoreError> {
        self.inner.open_triggered_events(filter, page).await
    }
    async fn pauses(&self) -> Result<Vec<PauseKey>, SequenceStoreError> {
        self.inner.pauses().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_commit_is_redelivered_without_losing_or_repeating_a_trigger() {
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml(PROJECT, DELIVERY);
    let failing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failing_loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = FlakyStore {
        inner: MemorySequenceStore::new(),
        failing: Arc::clone(&failing),
        failing_loads: Arc::clone(&failing_loads),
    };
    let mut plane = Plane::start_with(
        Arc::new(store),
        shipyards,
        MemoryTransport::default(),
        ControllerConfig::default(),
    )
    .await;
    plane
        .passing(&["deployment", "evaluation", "release"])
        .await;
    let trigger = plane.trigger("dev", "delivery", "carts").await;
    let ctx = &trigger.shkeptncontext;
    let test = plane
        .events
        .wait_for("sh.keptn.event.test.triggered", ctx)
        .await;
    // The next two commits fail, and so does the first reload after them: the answers are
    // handed back and processed again once the state is back.
    failing.store(2, std::sync::atomic::Ordering::SeqCst);
    failing_loads.store(1, std::sync::atomic::Ordering::SeqCst);
    plane
        .answer(
            &test,
            "jmeter",
            &[
                Answer::Started,
                Answer::Finished(KeptnResult::Pass, json!({})),
            ],
        )
        .await;
    plane.passing(&["test"]).await;
    plane
        .events
        .wait_for("sh.keptn.event.production.delivery.finished", ctx)
        .await;
    plane.settle().await;
    assert_eq!(
        failing.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the failures happened"
    );
    assert_eq!(failing_loads.load(std::sync::atomic::Ordering::SeqCst), 0);
    let counts = triggers_per_task(&plane.events.all());
    assert_eq!(
        counts.len(),
        10,
        "every task of the three stages ran: {counts:?}"
    );
    for (key, count) in counts {
        assert_eq!(count, 1, "{key:?} was triggered {count} times");
    }
    plane.shutdown().await;
}
