//! One conformance suite for every `SequenceStore` backend.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use keptn_core::orchestrator::store::{
    Commit, ExecutionFilter, OutboxEntry, PageRequest, SequenceStore, TriggeredFilter, ViewFilter,
    queue_filter,
};
use keptn_core::orchestrator::{
    CurrentTask, ExecutionState, PauseKey, SequenceExecution, SequenceState, TaskEvent, TaskPhase,
};
use keptn_core::shipyard::Sequence;
use keptn_sdk::event::{EventId, EventType, KeptnContext, KeptnEvent, Phase};
use serde_json::json;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).unwrap()
}

pub(super) fn task_event(name: &str, context: &KeptnContext) -> KeptnEvent {
    KeptnEvent::builder(EventType::task(name, Phase::Triggered))
        .source("shipyard-controller")
        .context(context.clone())
        .time(t0())
        .data_json(json!({"project": "p", "stage": "dev", "service": "svc"}))
        .build()
        .unwrap()
}

pub(super) struct ExecSpec<'a> {
    pub(super) id: &'a str,
    pub(super) service: &'a str,
    pub(super) context: &'a str,
    pub(super) state: ExecutionState,
    pub(super) minutes: i64,
    pub(super) task: Option<(&'a str, bool)>,
}

pub(super) fn exec(spec: ExecSpec<'_>) -> SequenceExecution {
    let context = KeptnContext::new(spec.context);
    let current_task = spec.task.map(|(name, sent)| {
        let event = task_event(name, &context);
        CurrentTask {
            name: name.to_owned(),
            index: 0,
            triggered_id: event.id.clone(),
            send_at: t0(),
            sent_at: sent.then(t0),
            events: Vec::new(),
        }
    });
    SequenceExecution {
        id: spec.id.to_owned(),
        project: "p".into(),
        stage: "dev".into(),
        service: spec.service.to_owned(),
        keptn_context: context,
        triggered_id: EventId::new(format!("trigger-{}", spec.id)),
        git_commit_id: None,
        sequence: Sequence {
            name: "delivery".into(),
            ..Sequence::default()
        },
        chain: Vec::new(),
        input: json!({"project": "p"}),
        triggered_at: t0() + Duration::minutes(spec.minutes),
        arrival: spec.minutes as u64,
        state: spec.state,
        state_before_pause: None,
        previous_tasks: Vec::new(),
        current_task,
        outcome: None,
        updated_at: t0(),
    }
}

pub(super) fn view(
    context: &str,
    minutes: i64,
    name: &str,
    state: ExecutionState,
) -> SequenceState {
    let mut v = SequenceState::new(
        "p",
        "svc",
        &KeptnContext::new(context),
        name,
        t0() + Duration::minutes(minutes),
    );
    v.set_stage_state("dev", state);
    v
}

fn ids(items: &[SequenceExecution]) -> Vec<&str> {
    items.iter().map(|e| e.id.as_str()).collect()
}

async fn executions_are_stored_filtered_and_queued_in_trigger_order(store: &dyn SequenceStore) {
    let all = vec![
        exec(ExecSpec {
            id: "e3",
            service: "svc",
            context: "c3",
            state: ExecutionState::Waiting,
            minutes: 3,
            task: None,
        }),
        exec(ExecSpec {
            id: "e1",
            service: "svc",
            context: "c1",
            state: ExecutionState::Started,
            minutes: 1,
            task: Some(("deployment", true)),
        }),
        exec(ExecSpec {
            id: "e2",
            service: "svc",
            context: "c2",
            state: ExecutionState::Triggered,
            minutes: 2,
            task: None,
        }),
        exec(ExecSpec {
            id: "o1",
            service: "other",
            context: "c4",
            state: ExecutionState::Finished,
            minutes: 0,
            task: None,
        }),
    ];
    store
        .commit(&Commit {
            executions: all.clone(),
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    let e1 = store.execution("e1").await.unwrap().unwrap();
    assert_eq!(e1, all[1]);
    assert!(store.execution("nope").await.unwrap().is_none());

    let queue = store
        .executions(&queue_filter("p", "dev", "svc"), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&queue.items), ["e2", "e3"]);

    let active = store
        .executions(
            &ExecutionFilter {
                active_only: true,
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&active.items), ["e1", "e2", "e3"]);
    assert_eq!(active.total_count, 3);

    let by_context = store
        .executions(
            &ExecutionFilter {
                keptn_context: Some(KeptnContext::new("c4")),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&by_context.items), ["o1"]);

    let task_id = all[1].current_task.as_ref().unwrap().triggered_id.clone();
    let by_task = store
        .executions(
            &ExecutionFilter {
                current_triggered_id: Some(task_id),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&by_task.items), ["e1"]);

    let by_trigger = store
        .executions(
            &ExecutionFilter {
                triggered_id: Some(EventId::new("trigger-e3")),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&by_trigger.items), ["e3"]);

    let page = store
        .executions(
            &ExecutionFilter::default(),
            PageRequest { size: 2, offset: 1 },
        )
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["e1", "e2"]);
    assert_eq!((page.total_count, page.next_offset), (4, Some(3)));

    let mut e2 = all[2].clone();
    e2.state = ExecutionState::Aborted;
    store
        .commit(&Commit {
            executions: vec![e2],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    let queue = store
        .executions(&queue_filter("p", "dev", "svc"), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        ids(&queue.items),
        ["e3"],
        "an upsert replaces the execution"
    );
}

async fn restart_state_holds_active_executions_their_views_and_pauses(store: &dyn SequenceStore) {
    let pause_all = PauseKey {
        project: "p".into(),
        keptn_context: KeptnContext::new("c1"),
        stage: None,
    };
    let pause_stage = PauseKey {
        project: "p".into(),
        keptn_context: KeptnContext::new("c3"),
        stage: Some("dev".into()),
    };
    store
        .commit(&Commit {
            views: vec![
                view("c1", 1, "delivery", ExecutionState::Started),
                view("c4", 0, "delivery", ExecutionState::Finished),
            ],
            pauses: vec![(pause_all.clone(), true), (pause_stage.clone(), true)],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    let restored = store.load_active().await.unwrap();
    let mut active: Vec<&str> = restored.executions.iter().map(|e| e.id.as_str()).collect();
    active.sort_unstable();
    assert_eq!(active, ["e1", "e3"]);
    assert_eq!(
        restored.views.len(),
        1,
        "only views of active contexts are loaded"
    );
    assert_eq!(restored.views[0].shkeptncontext, KeptnContext::new("c1"));
    let mut paused = restored.paused.clone();
    paused.sort();
    assert_eq!(paused, vec![pause_all.clone(), pause_stage.clone()]);

    store
        .commit(&Commit {
            pauses: vec![(pause_all, false)],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(store.pauses().await.unwrap(), vec![pause_stage]);
}

async fn the_outbox_hands_out_events_in_order_until_published(store: &dyn SequenceStore) {
    let context = KeptnContext::new("c-outbox");
    let entries: Vec<OutboxEntry> = (0..5)
        .map(|i| OutboxEntry {
            seq: 10 + i,
            event: task_event(&format!("task{i}"), &context),
        })
        .collect();
    assert_eq!(store.outbox_last_seq().await.unwrap(), 0);
    store
        .commit(&Commit {
            outbox: entries[..3].to_vec(),
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    store
        .commit(&Commit {
            outbox: entries[3..].to_vec(),
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(store.outbox_last_seq().await.unwrap(), 14);
    let pending = store.outbox(0, 100).await.unwrap();
    assert_eq!(
        pending, entries,
        "entries keep the seq their commit gave them"
    );
    let after_second = store.outbox(11, 2).await.unwrap();
    assert_eq!(after_second, entries[2..4].to_vec());
    store
        .commit(&Commit {
            outbox_published_up_to: Some(12),
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    let rest = store.outbox(0, 100).await.unwrap();
    assert_eq!(rest, entries[3..].to_vec());
    store
        .commit(&Commit {
            outbox_published_up_to: Some(14),
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert!(store.outbox(0, 100).await.unwrap().is_empty());
    assert_eq!(store.outbox_last_seq().await.unwrap(), 0);
}

async fn processed_ids_are_remembered_until_pruned(store: &dyn SequenceStore) {
    let old = EventId::new("old-event");
    let new = EventId::new("new-event");
    store
        .commit(&Commit {
            processed: vec![old.clone()],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    store
        .commit(&Commit {
            processed: vec![new.clone(), old.clone()],
            at: t0() + Duration::hours(2),
            ..Commit::default()
        })
        .await
        .unwrap();
    let seen = store
        .processed(&[old.clone(), new.clone(), EventId::new("unknown")])
        .await
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.contains(&old) && seen.contains(&new));
    let pruned = store
        .prune_processed(t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(pruned, 1, "a duplicate id keeps its first time");
    let seen = store.processed(&[old, new.clone()]).await.unwrap();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![new]);
}

async fn views_are_listed_newest_first_with_filters(store: &dyn SequenceStore) {
    store
        .commit(&Commit {
            views: vec![
                view("v1", 10, "delivery", ExecutionState::Finished),
                view("v2", 20, "delivery", ExecutionState::Started),
                view("v3", 30, "remediation", ExecutionState::Started),
            ],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    let contexts = |page: &keptn_core::orchestrator::store::Page<SequenceState>| {
        page.items
            .iter()
            .map(|v| v.shkeptncontext.to_string())
            .collect::<Vec<_>>()
    };
    let filter = ViewFilter {
        from_time: Some(t0() + Duration::minutes(5)),
        ..Default::default()
    };
    let all = store
        .views("p", &filter, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(contexts(&all), ["v3", "v2", "v1"]);
    let started = store
        .views(
            "p",
            &ViewFilter {
                state: Some(ExecutionState::Started),
                ..filter.clone()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(contexts(&started), ["v3", "v2"]);
    let named = store
        .views(
            "p",
            &ViewFilter {
                name: Some("remediation".into()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(contexts(&named), ["v3"]);
    let picked = store
        .views(
            "p",
            &ViewFilter {
                keptn_contexts: vec![KeptnContext::new("v1"), KeptnContext::new("v3")],
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(contexts(&picked), ["v3", "v1"]);
    let before = store
        .views(
            "p",
            &ViewFilter {
                before_time: Some(t0() + Duration::minutes(20)),
                from_time: filter.from_time,
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(contexts(&before), ["v1"]);
    let page = store
        .views("p", &filter, PageRequest { size: 1, offset: 1 })
        .await
        .unwrap();
    assert_eq!(
        (contexts(&page), page.total_count, page.next_offset),
        (vec!["v2".to_owned()], 3, Some(2))
    );
    assert!(
        store
            .views("other", &ViewFilter::default(), PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let mut updated = view("v2", 20, "delivery", ExecutionState::Finished);
    updated.problem_title = Some("cpu".into());
    store
        .commit(&Commit {
            views: vec![updated.clone()],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.view("p", &KeptnContext::new("v2")).await.unwrap(),
        Some(updated)
    );
    assert!(
        store
            .view("p", &KeptnContext::new("none"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn open_task_events_are_the_sent_incomplete_tasks(store: &dyn SequenceStore) {
    let mut done = exec(ExecSpec {
        id: "t-done",
        service: "a",
        context: "t1",
        state: ExecutionState::Started,
        minutes: 0,
        task: Some(("test", true)),
    });
    if let Some(task) = done.current_task.as_mut() {
        for phase in [TaskPhase::Started, TaskPhase::Finished] {
            task.events.push(TaskEvent {
                id: EventId::generate(),
                phase,
                source: "x".into(),
                result: Some("pass".into()),
                status: Some("succeeded".into()),
                time: t0(),
                data: None,
            });
        }
    }
    let open = exec(ExecSpec {
        id: "t-open",
        service: "b",
        context: "t2",
        state: ExecutionState::Started,
        minutes: 0,
        task: Some(("test", true)),
    });
    let delayed = exec(ExecSpec {
        id: "t-delayed",
        service: "c",
        context: "t3",
        state: ExecutionState::Started,
        minutes: 0,
        task: Some(("test", false)),
    });
    let approval = exec(ExecSpec {
        id: "t-approval",
        service: "d",
        context: "t4",
        state: ExecutionState::WaitingForApproval,
        minutes: 0,
        task: Some(("approval", true)),
    });
    store
        .commit(&Commit {
            executions: vec![done, open.clone(), delayed, approval.clone()],
            at: t0(),
            ..Commit::default()
        })
        .await
        .unwrap();
    let tests = store
        .open_triggered_events(
            &TriggeredFilter {
                task: Some("test".into()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(tests.items, vec![open.open_task_event().unwrap()]);
    assert_eq!(tests.items[0].time, t0(), "the event carries its send time");
    let approvals = store
        .open_triggered_events(
            &TriggeredFilter {
                service: Some("d".into()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    let approval_event = approval.open_task_event().unwrap();
    assert_eq!(approvals.items, vec![approval_event.clone()]);
    let by_id = store
        .open_triggered_events(
            &TriggeredFilter {
                event_id: Some(approval_event.id.clone()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(by_id.total_count, 1);
}

async fn an_empty_commit_is_accepted(store: &dyn SequenceStore) {
    store.commit(&Commit::default()).await.unwrap();
}

/// Runs every check on a fresh store.
pub(super) async fn conformance(store: Arc<dyn SequenceStore>) {
    let store = store.as_ref();
    an_empty_commit_is_accepted(store).await;
    executions_are_stored_filtered_and_queued_in_trigger_order(store).await;
    restart_state_holds_active_executions_their_views_and_pauses(store).await;
    the_outbox_hands_out_events_in_order_until_published(store).await;
    processed_ids_are_remembered_until_pruned(store).await;
    views_are_listed_newest_first_with_filters(store).await;
    open_task_events_are_the_sent_incomplete_tasks(store).await;
}
