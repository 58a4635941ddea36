//! A control plane for behaviour tests: the controller on the in-memory transport, a recorder of
//! every event, and scripted task executors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use keptn_core::orchestrator::store::{
    MemorySequenceStore, PageRequest, SequenceStore, ViewFilter,
};
use keptn_core::orchestrator::{
    Controller, ControllerConfig, ControllerError, ControllerHandle, MemoryShipyardSource,
    SequenceState, TokioClock,
};
use keptn_sdk::event::payload::FinishedData;
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent, KeptnResult, Phase, merge_json};
use keptn_sdk::transport::{MemoryTransport, SubjectPattern, SubscribeOptions, Transport};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something before failing.
pub const WAIT: Duration = Duration::from_secs(30);

/// Every event on the bus, in publishing order.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<KeptnEvent>>>,
    changed: Arc<Notify>,
}

impl Recorder {
    pub async fn attach(transport: &MemoryTransport) -> (Self, JoinHandle<()>) {
        let recorder = Self::default();
        let mut sub = transport
            .subscribe(SubscribeOptions::new(
                SubjectPattern::new("sh.keptn.>").unwrap(),
            ))
            .await
            .unwrap();
        let r = recorder.clone();
        let task = tokio::spawn(async move {
            while let Some(item) = sub.next().await {
                let Ok(delivery) = item else { continue };
                r.events.lock().unwrap().push(delivery.event().clone());
                r.changed.notify_waiters();
                let _ = delivery.ack().await;
            }
        });
        (recorder, task)
    }

    pub fn all(&self) -> Vec<KeptnEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Events of a type in a context.
    pub fn of(&self, event_type: &str, context: &KeptnContext) -> Vec<KeptnEvent> {
        self.all()
            .into_iter()
            .filter(|e| e.type_string() == event_type && e.shkeptncontext == *context)
            .collect()
    }

    /// Events of a type in a context and stage.
    pub fn of_stage(
        &self,
        event_type: &str,
        context: &KeptnContext,
        stage: &str,
    ) -> Vec<KeptnEvent> {
        self.of(event_type, context)
            .into_iter()
            .filter(|e| e.stage() == Some(stage))
            .collect()
    }

    /// Waits until `count` events of a type exist in a context; returns them.
    pub async fn wait_count(
        &self,
        event_type: &str,
        context: &KeptnContext,
        count: usize,
    ) -> Vec<KeptnEvent> {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                let found = self.of(event_type, context);
                if found.len() >= count {
                    return found;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(found) => found,
            Err(_) => panic!(
                "timed out waiting for {count} {event_type} in context {context}; seen: {:#?}",
                self.all()
                    .iter()
                    .map(|e| e.type_string())
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Waits for the first event of a type in a context.
    pub async fn wait_for(&self, event_type: &str, context: &KeptnContext) -> KeptnEvent {
        self.wait_count(event_type, context, 1).await.remove(0)
    }

    /// Waits for an event of a type in a context and stage.
    pub async fn wait_for_stage(
        &self,
        event_type: &str,
        context: &KeptnContext,
        stage: &str,
    ) -> KeptnEvent {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if let Some(found) = self.of_stage(event_type, context, stage).into_iter().next() {
                    return found;
                }
                notified.await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {event_type} in stage {stage}"))
    }
}

/// What an executor answers to a `.triggered` event.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `.started`.
    Started,
    /// `.finished` with a result, status succeeded, and extra data merged in.
    Finished(KeptnResult, Value),
    /// `.finished` with exactly these status and result strings (and the scope).
    FinishedRaw {
        status: Option<&'static str>,
        result: Option<&'static str>,
    },
    /// `.finished` with status errored, result fail.
    Errored,
}

type Script = dyn Fn(&KeptnEvent) -> Vec<Answer> + Send + Sync;

/// Builds the answer events to a `.triggered` event.
pub fn answers(triggered: &KeptnEvent, source: &str, script: &[Answer]) -> Vec<KeptnEvent> {
    script
        .iter()
        .map(|answer| match answer {
            Answer::Started => triggered.started(source).unwrap(),
            Answer::Finished(result, extra) => {
                let mut finished = triggered
                    .finished(source, FinishedData::result(*result))
                    .unwrap();
                merge_json(&mut finished.data, extra);
                finished
            }
            Answer::Errored => triggered
                .finished(source, FinishedData::errored("the executor failed"))
                .unwrap(),
            Answer::FinishedRaw { status, result } => {
                let mut finished = triggered.finished(source, FinishedData::pass()).unwrap();
                let data = finished.data.as_object_mut().unwrap();
                data.remove("status");
                data.remove("result");
                if let Some(s) = status {
                    data.insert("status".into(), json!(s));
                }
                if let Some(r) = result {
                    data.insert("result".into(), json!(r));
                }
                finished
            }
        })
        .collect()
}

/// Starts an executor of `task` named `source` that answers every `.triggered` event with
/// what `script` returns.
pub async fn executor(
    transport: &MemoryTransport,
    task: &str,
    source: &str,
    script: impl Fn(&KeptnEvent) -> Vec<Answer> + Send + Sync + 'static,
) -> JoinHandle<()> {
    let script: Arc<Script> = Arc::new(script);
    let pattern = SubjectPattern::new(format!("sh.keptn.event.{task}.triggered")).unwrap();
    let mut sub = transport
        .subscribe(SubscribeOptions::new(pattern).queue_group(format!("{task}-{source}")))
        .await
        .unwrap();
    let transport = transport.clone();
    let source = source.to_owned();
    tokio::spawn(async move {
        while let Some(item) = sub.next().await {
            let Ok(delivery) = item else { continue };
            let triggered = delivery.event().clone();
            let _ = delivery.ack().await;
            for event in answers(&triggered, &source, &script(&triggered)) {
                if transport.publish(&event).await.is_err() {
                    return;
                }
            }
        }
    })
}

/// An executor that starts and passes every task.
pub async fn passing(transport: &MemoryTransport, task: &str) -> JoinHandle<()> {
    executor(transport, task, &format!("{task}-service"), |_| {
        vec![
            Answer::Started,
            Answer::Finished(KeptnResult::Pass, json!({})),
        ]
    })
    .await
}

fn new_controller(
    store: &Arc<dyn SequenceStore>,
    transport: &MemoryTransport,
    shipyards: &MemoryShipyardSource,
    config: ControllerConfig,
) -> Controller {
    Controller::new(
        Arc::clone(store),
        Arc::new(transport.clone()),
        Arc::new(shipyards.clone()),
        config,
    )
    .with_clock(Arc::new(TokioClock::default()))
}

/// A running control plane.
pub struct Plane {
    pub transport: MemoryTransport,
    pub store: Arc<dyn SequenceStore>,
    pub shipyards: MemoryShipyardSource,
    pub handle: ControllerHandle,
    pub events: Recorder,
    stop: CancellationToken,
    controller: Option<JoinHandle<Result<(), ControllerError>>>,
    helpers: Vec<JoinHandle<()>>,
}

pub const PROJECT: &str = "sockshop";

impl Plane {
    /// A plane on a memory store with `shipyard` as the project's shipyard.
    pub async fn start(shipyard: &str) -> Self {
        let shipyards = MemoryShipyardSource::new();
        shipyards.set_yaml(PROJECT, shipyard);
        Self::start_with(
            Arc::new(MemorySequenceStore::new()),
            shipyards,
            MemoryTransport::default(),
            ControllerConfig::default(),
        )
        .await
    }

    pub async fn start_with(
        store: Arc<dyn SequenceStore>,
        shipyards: MemoryShipyardSource,
        transport: MemoryTransport,
        config: ControllerConfig,
    ) -> Self {
        let (events, recorder_task) = Recorder::attach(&transport).await;
        let controller = new_controller(&store, &transport, &shipyards, config);
        let mut plane = Self {
            handle: controller.handle(),
            transport,
            store,
            shipyards,
            events,
            stop: CancellationToken::new(),
            controller: None,
            helpers: vec![recorder_task],
        };
        plane.spawn(controller).await;
        plane
    }

    /// Starts a new controller on the same store, transport and shipyards (after a previous one
    /// was stopped or killed).
    pub async fn start_controller(&mut self, config: ControllerConfig) {
        let controller = new_controller(&self.store, &self.transport, &self.shipyards, config);
        self.handle = controller.handle();
        self.spawn(controller).await;
    }

    async fn spawn(&mut self, controller: Controller) {
        let before = self.transport.subscription_count();
        self.stop = CancellationToken::new();
        let stop = self.stop.clone();
        self.controller = Some(tokio::spawn(
            controller.run(async move { stop.cancelled().await }),
        ));
        // Let the controller restore its state and subscribe before the test goes on.
        let subscribed = async {
            while self.transport.subscription_count() <= before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("the controller subscribes");
    }

    /// Uses another store for the next controller (the same database opened anew).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub fn replace_store(&mut self, store: Arc<dyn SequenceStore>) {
        self.store = store;
    }

    /// Stops the controller gracefully.
    pub async fn stop_controller(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.controller.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .expect("the controller stops")
                .expect("the controller task does not panic")
                .expect("the controller stops without error");
        }
    }

    /// Kills the controller without letting it finish anything.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn kill_controller(&mut self) {
        if let Some(task) = self.controller.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn executor(
        &mut self,
        task: &str,
        source: &str,
        script: impl Fn(&KeptnEvent) -> Vec<Answer> + Send + Sync + 'static,
    ) {
        let handle = executor(&self.transport, task, source, script).await;
        self.helpers.push(handle);
    }

    pub async fn passing(&mut self, tasks: &[&str]) {
        for task in tasks {
            let handle = passing(&self.transport, task).await;
            self.helpers.push(handle);
        }
    }

    /// Publishes `sh.keptn.event.<stage>.<sequence>.triggered` for `service`, in a new context.
    pub async fn trigger(&self, stage: &str, sequence: &str, service: &str) -> KeptnEvent {
        self.trigger_with(
            stage,
            sequence,
            service,
            KeptnContext::generate(),
            json!({}),
        )
        .await
    }

    pub async fn trigger_with(
        &self,
        stage: &str,
        sequence: &str,
        service: &str,
        context: KeptnContext,
        extra: Value,
    ) -> KeptnEvent {
        let mut data = json!({"project": PROJECT, "stage": stage, "service": service,
            "labels": {"buildId": "17"}});
        merge_json(&mut data, &extra);
        let event = KeptnEvent::builder(EventType::sequence(stage, sequence, Phase::Triggered))
            .source("test")
            .context(context)
            .data_json(data)
            .build()
            .unwrap();
        self.publish(&event).await;
        event
    }

    pub async fn publish(&self, event: &KeptnEvent) {
        self.transport.publish(event).await.unwrap();
    }

    /// Answers a `.triggered` event as `source` would.
    pub async fn answer(&self, triggered: &KeptnEvent, source: &str, script: &[Answer]) {
        for event in answers(triggered, source, script) {
            self.publish(&event).await;
        }
    }

    /// Answers `triggered` from `source` with one `.finished` that passes, with no data.
    pub async fn pass(&self, triggered: &KeptnEvent, source: &str) {
        let script = [Answer::Finished(KeptnResult::Pass, json!({}))];
        self.answer(triggered, source, &script).await;
    }

    /// The view of a context, once it satisfies `ready`.
    pub async fn state_when(
        &self,
        context: &KeptnContext,
        ready: impl Fn(&SequenceState) -> bool,
    ) -> SequenceState {
        let wait = async {
            loop {
                if let Some(view) = self.state(context).await {
                    if ready(&view) {
                        return view;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(view) => view,
            Err(_) => panic!(
                "sequence state never got ready: {:#?}",
                self.state(context).await
            ),
        }
    }

    pub async fn state(&self, context: &KeptnContext) -> Option<SequenceState> {
        let filter = ViewFilter {
            keptn_contexts: vec![context.clone()],
            ..ViewFilter::default()
        };
        self.handle
            .sequence_states(PROJECT, &filter, PageRequest::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .next()
    }

    /// Lets every task run until nothing moves any more (on the paused clock this takes no time).
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    pub async fn shutdown(mut self) {
        self.stop_controller().await;
        for helper in self.helpers.drain(..) {
            helper.abort();
        }
        self.transport.close();
    }
}

/// Started and passed.
pub fn pass() -> Vec<Answer> {
    vec![
        Answer::Started,
        Answer::Finished(KeptnResult::Pass, json!({})),
    ]
}

pub async fn step(
    plane: &Plane,
    trigger: &KeptnEvent,
    stage: &str,
    task: &str,
    script: &[Answer],
) -> KeptnEvent {
    let triggered = plane
        .events
        .wait_for_stage(
            &format!("sh.keptn.event.{task}.triggered"),
            &trigger.shkeptncontext,
            stage,
        )
        .await;
    plane
        .answer(&triggered, &format!("{task}-service"), script)
        .await;
    triggered
}
