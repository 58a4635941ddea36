//! A controller that stops (or is killed) while tasks are open resumes every sequence when a
//! new one starts on the same state, without losing or repeating a task trigger.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keptn_core::orchestrator::store::{MemorySequenceStore, SequenceStore};
use keptn_core::orchestrator::{ControllerConfig, ExecutionState, MemoryShipyardSource};
use keptn_sdk::event::{KeptnContext, KeptnEvent, KeptnResult};
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
    use keptn_core::orchestrator::store::SqliteSequenceStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keptn.db");
    let shipyards = MemoryShipyardSource::new();
    shipyards.set_yaml(PROJECT, DELIVERY);
    let store: Arc<dyn SequenceStore> = Arc::new(SqliteSequenceStore::open(&path).await.unwrap());
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
    let held: Arc<Mutex<Vec<KeptnEvent>>> = Arc::default();
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
    let reopened: Arc<dyn SequenceStore> =
        Arc::new(SqliteSequenceStore::open(&path).await.unwrap());
    plane.replace_store(reopened);
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
        plane
            .answer(
                &test,
                "jmeter",
                &[Answer::Finished(KeptnResult::Pass, json!({}))],
            )
            .await;
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
