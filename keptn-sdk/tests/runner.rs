//! The task runner's protocol, driven through the mock transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keptn_sdk::event::payload::{DeploymentTriggered, FinishedData};
use keptn_sdk::handler::{DeferredFinish, RunnerError};
use keptn_sdk::testing::{MockHandle, MockTransport, Settlement, fixtures};
use keptn_sdk::{
    EventData, Filter, HandlerError, KeptnEvent, KeptnResult, Status, TaskContext, TaskHandler,
    TaskOutcome, TaskRunner, TransportErrorKind, handler_fn,
};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(10);

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), RunnerError>>,
}

impl Running {
    fn start<H: TaskHandler>(runner: TaskRunner<MockTransport, H>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(runner.run(async {
            stopped.await.ok();
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) -> Result<(), RunnerError> {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the runner stops in time")
            .expect("the runner task does not panic")
    }
}

async fn next(handle: &mut MockHandle) -> KeptnEvent {
    tokio::time::timeout(WAIT, handle.next_published())
        .await
        .expect("an event is published in time")
}

async fn settled(probe: keptn_sdk::testing::DeliveryProbe) -> Settlement {
    tokio::time::timeout(WAIT, probe.settled())
        .await
        .expect("the delivery is settled in time")
}

fn data(event: &KeptnEvent) -> EventData {
    event.event_data().expect("event data")
}

fn pass_handler(task: &str) -> impl TaskHandler<Data = Value> + use<> {
    handler_fn(task, |_ctx: TaskContext, _data: Value| async {
        Ok::<_, HandlerError>(FinishedData::pass().with_message("done"))
    })
}

#[tokio::test]
async fn triggered_gets_started_then_finished_then_ack() {
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn(
        "deployment",
        |_ctx: TaskContext, data: DeploymentTriggered| async move {
            let image = data
                .configuration_change
                .and_then(|c| c.values)
                .and_then(|v| v.get("image").cloned())
                .unwrap_or_default();
            Ok::<_, HandlerError>(
                FinishedData::pass()
                    .with_message(format!("deployed {}", image.as_str().unwrap_or("?")))
                    .with_field(
                        "deployment",
                        serde_json::json!({"deploymentNames": ["direct"]}),
                    ),
            )
        },
    );
    let runner = Running::start(TaskRunner::new(transport, handler).source("helm-service"));
    let triggered = fixtures::deployment_triggered();
    let probe = handle.inject(triggered.clone());

    let started = next(&mut handle).await;
    assert_eq!(started.type_string(), "sh.keptn.event.deployment.started");
    assert_eq!(started.triggeredid.as_ref(), Some(&triggered.id));
    assert_eq!(started.source, "helm-service");
    let finished = next(&mut handle).await;
    assert_eq!(finished.type_string(), "sh.keptn.event.deployment.finished");
    assert_eq!(finished.shkeptncontext, triggered.shkeptncontext);
    assert_eq!(finished.gitcommitid, triggered.gitcommitid);
    let d = data(&finished);
    assert_eq!(d.status, Some(Status::Succeeded));
    assert_eq!(d.result, Some(KeptnResult::Pass));
    assert_eq!(
        d.message.as_deref(),
        Some("deployed docker.io/keptnexamples/carts:0.13.1")
    );
    assert_eq!(finished.data["deployment"]["deploymentNames"][0], "direct");
    assert_eq!(finished.project(), Some("sockshop"));
    assert_eq!(settled(probe).await, Settlement::Acked);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn subscribes_to_the_task_in_the_queue_group_of_the_source() {
    let (transport, handle) = MockTransport::new();
    let runner = Running::start(TaskRunner::new(transport, pass_handler("test")).source("jmeter"));
    handle.wait_for_subscriptions(1).await;
    let subs = handle.subscriptions();
    assert_eq!(subs[0].pattern.as_str(), "sh.keptn.event.test.triggered");
    assert_eq!(subs[0].queue_group.as_deref(), Some("jmeter"));
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn finished_is_sent_even_when_the_handler_fails() {
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", |_ctx: TaskContext, _data: Value| async {
        Err::<FinishedData, _>(std::io::Error::other("the endpoint answered 503"))
    });
    let runner = Running::start(TaskRunner::new(transport, handler));
    let probe = handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    let finished = next(&mut handle).await;
    let d = data(&finished);
    assert_eq!(d.status, Some(Status::Errored));
    assert_eq!(d.result, Some(KeptnResult::Fail));
    assert_eq!(d.message.as_deref(), Some("the endpoint answered 503"));
    assert_eq!(settled(probe).await, Settlement::Acked);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn an_interrupted_handler_answers_nothing_and_its_event_comes_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Value| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                Err(HandlerError::interrupted(std::io::Error::other(
                    "the process is stopping",
                )))
            } else {
                Ok(FinishedData::pass())
            }
        }
    });
    let runner =
        Running::start(TaskRunner::new(transport, handler).retry_delay(Duration::from_millis(250)));
    let first = handle.inject(fixtures::test_triggered());
    assert_eq!(
        next(&mut handle).await.type_string(),
        "sh.keptn.event.test.started"
    );
    assert_eq!(
        settled(first).await,
        Settlement::Nacked(Some(Duration::from_millis(250))),
        "the event goes back to the transport"
    );
    assert!(
        handle.try_next_published().is_none(),
        "no .finished for an interrupted task"
    );
    let again = handle.inject_attempt(fixtures::test_triggered(), 2);
    next(&mut handle).await;
    let finished = next(&mut handle).await;
    assert_eq!(data(&finished).result, Some(KeptnResult::Pass));
    assert_eq!(settled(again).await, Settlement::Acked);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "handled again, not skipped as done"
    );
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_is_reported_as_errored() {
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", |_ctx: TaskContext, _data: Value| async {
        if true {
            panic!("index out of bounds");
        }
        Ok::<_, HandlerError>(FinishedData::pass())
    });
    let runner = Running::start(TaskRunner::new(transport, handler));
    let probe = handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    let finished = next(&mut handle).await;
    let d = data(&finished);
    assert_eq!(d.status, Some(Status::Errored));
    assert_eq!(d.result, Some(KeptnResult::Fail));
    assert_eq!(
        d.message.as_deref(),
        Some("the handler panicked: index out of bounds")
    );
    assert_eq!(settled(probe).await, Settlement::Acked);
    // The runner goes on after a panic.
    let probe = handle.inject(fixtures::deployment_triggered().clone());
    drop(probe);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn unreadable_data_finishes_errored_without_calling_the_handler() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        required: String,
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Needs| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, HandlerError>(FinishedData::pass()) }
    });
    let runner = Running::start(TaskRunner::new(transport, handler));
    handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    let finished = next(&mut handle).await;
    let message = data(&finished).message.unwrap_or_default();
    assert!(message.contains("cannot be read as"), "{message}");
    assert!(message.contains("missing field `required`"), "{message}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn events_outside_the_filter_are_acked_and_ignored() {
    let (transport, mut handle) = MockTransport::new();
    let runner = Running::start(
        TaskRunner::new(transport, pass_handler("test"))
            .filter(Filter::new().projects(["podtato"])),
    );
    let probe = handle.inject(fixtures::test_triggered());
    assert_eq!(settled(probe).await, Settlement::Acked);
    let mut other = fixtures::test_triggered();
    other.id = "other".into();
    other.data["project"] = "podtato".into();
    let probe = handle.inject(other);
    assert_eq!(next(&mut handle).await.project(), Some("podtato"));
    assert_eq!(next(&mut handle).await.project(), Some("podtato"));
    assert_eq!(settled(probe).await, Settlement::Acked);
    assert_eq!(handle.published().len(), 2);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn events_whose_data_field_does_not_match_get_no_started() {
    let (transport, mut handle) = MockTransport::new();
    let runner = Running::start(
        TaskRunner::new(transport, pass_handler("test"))
            .filter(Filter::new().data_field("test.teststrategy", ["performance"])),
    );
    let mut functional = fixtures::test_triggered();
    functional.data["test"] = serde_json::json!({"teststrategy": "functional"});
    let probe = handle.inject(functional);
    assert_eq!(settled(probe).await, Settlement::Acked);
    assert!(handle.published().is_empty(), "not even .started");
    let mut performance = fixtures::test_triggered();
    performance.id = "performance".into();
    performance.data["test"] = serde_json::json!({"teststrategy": "performance"});
    let probe = handle.inject(performance);
    assert_eq!(
        next(&mut handle).await.type_string(),
        "sh.keptn.event.test.started"
    );
    assert_eq!(
        next(&mut handle).await.type_string(),
        "sh.keptn.event.test.finished"
    );
    assert_eq!(settled(probe).await, Settlement::Acked);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn a_redelivered_event_is_handled_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Value| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, HandlerError>(FinishedData::pass()) }
    });
    let runner = Running::start(TaskRunner::new(transport, handler));
    let first = handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    next(&mut handle).await;
    assert_eq!(settled(first).await, Settlement::Acked);
    let again = handle.inject_attempt(fixtures::test_triggered(), 2);
    assert_eq!(settled(again).await, Settlement::Acked);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(handle.published().len(), 2);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn a_copy_that_arrives_while_the_handler_runs_is_nacked() {
    let gate = Arc::new(Semaphore::new(0));
    let handler_gate = Arc::clone(&gate);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Value| {
        let gate = Arc::clone(&handler_gate);
        async move {
            let _permit = gate.acquire().await?;
            Ok::<_, HandlerError>(FinishedData::pass())
        }
    });
    let runner =
        Running::start(TaskRunner::new(transport, handler).duplicate_delay(Duration::from_secs(3)));
    let first = handle.inject(fixtures::test_triggered());
    next(&mut handle).await; // .started: the handler runs now
    let copy = handle.inject_attempt(fixtures::test_triggered(), 2);
    assert_eq!(
        settled(copy).await,
        Settlement::Nacked(Some(Duration::from_secs(3)))
    );
    gate.add_permits(1);
    next(&mut handle).await;
    assert_eq!(settled(first).await, Settlement::Acked);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_publish_of_finished_nacks_and_the_next_delivery_runs_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Value| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, HandlerError>(FinishedData::pass()) }
    });
    let runner = Running::start(
        TaskRunner::new(transport, handler)
            .send_started(false)
            .retry_delay(Duration::from_millis(250)),
    );
    handle.fail_next_publish(TransportErrorKind::Publish);
    let first = handle.inject(fixtures::test_triggered());
    assert_eq!(
        settled(first).await,
        Settlement::Nacked(Some(Duration::from_millis(250)))
    );
    assert!(handle.published().is_empty());
    let again = handle.inject_attempt(fixtures::test_triggered(), 2);
    let finished = next(&mut handle).await;
    assert_eq!(finished.type_string(), "sh.keptn.event.test.finished");
    assert_eq!(settled(again).await, Settlement::Acked);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn a_deferred_task_is_finished_later_through_its_handle() {
    let (deferred_tx, mut deferred_rx) = mpsc::channel::<DeferredFinish>(1);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("approval", move |ctx: TaskContext, _data: Value| {
        let deferred_tx = deferred_tx.clone();
        async move {
            deferred_tx
                .send(ctx.deferred())
                .await
                .map_err(|_| HandlerError::msg("the test went away"))?;
            Ok::<_, HandlerError>(TaskOutcome::Deferred)
        }
    });
    let runner = Running::start(TaskRunner::new(transport, handler).source("approval-service"));
    let probe = handle.inject(fixtures::approval_triggered());
    assert_eq!(
        next(&mut handle).await.type_string(),
        "sh.keptn.event.approval.started"
    );
    assert_eq!(settled(probe).await, Settlement::Acked);
    assert!(handle.try_next_published().is_none());

    let deferred = tokio::time::timeout(WAIT, deferred_rx.recv())
        .await
        .unwrap()
        .unwrap();
    deferred
        .finish(FinishedData::result(KeptnResult::Fail).with_message("declined by a human"))
        .await
        .unwrap();
    let finished = next(&mut handle).await;
    assert_eq!(finished.type_string(), "sh.keptn.event.approval.finished");
    assert_eq!(finished.source, "approval-service");
    assert_eq!(data(&finished).result, Some(KeptnResult::Fail));
    assert_eq!(
        finished.triggeredid.as_ref(),
        Some(&fixtures::approval_triggered().id)
    );
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn status_changed_and_options_to_skip_started_and_finished() {
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", |ctx: TaskContext, _data: Value| async move {
        ctx.status_changed("half way").await?;
        Ok::<_, HandlerError>(FinishedData::pass())
    });
    let runner = Running::start(
        TaskRunner::new(transport, handler)
            .send_started(false)
            .send_finished(false),
    );
    let probe = handle.inject(fixtures::test_triggered());
    let status = next(&mut handle).await;
    assert_eq!(status.type_string(), "sh.keptn.event.test.status.changed");
    assert_eq!(status.data["message"], "half way");
    assert_eq!(settled(probe).await, Settlement::Acked);
    assert_eq!(handle.published().len(), 1);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn at_most_max_in_flight_handlers_run_at_once() {
    let gate = Arc::new(Semaphore::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (g, r, p) = (Arc::clone(&gate), Arc::clone(&running), Arc::clone(&peak));
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Value| {
        let (gate, running, peak) = (Arc::clone(&g), Arc::clone(&r), Arc::clone(&p));
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let permit = gate.acquire().await?;
            permit.forget();
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(FinishedData::pass())
        }
    });
    let runner = Running::start(TaskRunner::new(transport, handler).max_in_flight(2));
    let mut probes = Vec::new();
    for i in 0..3 {
        let mut event = fixtures::test_triggered();
        event.id = format!("event-{i}").into();
        probes.push(handle.inject(event));
    }
    // Two .started events: two handlers run and wait at the gate.
    next(&mut handle).await;
    next(&mut handle).await;
    gate.add_permits(3);
    let mut finished = 0;
    while finished < 3 {
        if next(&mut handle).await.type_string().ends_with(".finished") {
            finished += 1;
        }
    }
    for probe in probes {
        assert_eq!(settled(probe).await, Settlement::Acked);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_running_handlers_finish() {
    let gate = Arc::new(Semaphore::new(0));
    let g = Arc::clone(&gate);
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", move |_ctx: TaskContext, _data: Value| {
        let gate = Arc::clone(&g);
        async move {
            let _permit = gate.acquire().await?;
            Ok::<_, HandlerError>(FinishedData::pass())
        }
    });
    let mut runner = Running::start(TaskRunner::new(transport, handler));
    let probe = handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    runner.stop.take().unwrap().send(()).unwrap();
    gate.add_permits(1);
    assert_eq!(
        next(&mut handle).await.type_string(),
        "sh.keptn.event.test.finished"
    );
    assert_eq!(settled(probe).await, Settlement::Acked);
    runner.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn handlers_still_running_at_the_deadline_are_nacked() {
    let (transport, mut handle) = MockTransport::new();
    let handler = handler_fn("test", |_ctx: TaskContext, _data: Value| async {
        std::future::pending::<()>().await;
        Ok::<_, HandlerError>(FinishedData::pass())
    });
    let runner = Running::start(
        TaskRunner::new(transport, handler).shutdown_deadline(Duration::from_secs(2)),
    );
    let probe = handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    runner.stop().await.unwrap();
    assert_eq!(settled(probe).await, Settlement::Nacked(None));
}

#[tokio::test]
async fn undecodable_messages_are_skipped() {
    let (transport, mut handle) = MockTransport::new();
    let runner = Running::start(TaskRunner::new(transport, pass_handler("test")));
    assert!(
        handle
            .inject_json("sh.keptn.event.test.triggered", b"{\"type\": 3}")
            .is_none()
    );
    let probe = handle.inject(fixtures::test_triggered());
    next(&mut handle).await;
    next(&mut handle).await;
    assert_eq!(settled(probe).await, Settlement::Acked);
    runner.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_subscription_is_an_error() {
    let (transport, handle) = MockTransport::new();
    handle.fail_next_subscribe(TransportErrorKind::Connect);
    let err = TaskRunner::new(transport, pass_handler("test"))
        .run(std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, RunnerError::Subscribe { .. }), "{err}");
}

#[tokio::test]
async fn the_end_of_the_subscription_stops_the_runner() {
    let (transport, handle) = MockTransport::new();
    let runner = Running::start(TaskRunner::new(transport, pass_handler("test")));
    handle.wait_for_subscriptions(1).await;
    handle.close();
    let err = tokio::time::timeout(WAIT, runner.task)
        .await
        .expect("the runner stops by itself")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, RunnerError::SubscriptionEnded { ref task } if task == "test"),
        "{err}"
    );
}
