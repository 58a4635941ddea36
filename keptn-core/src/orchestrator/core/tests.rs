//! State machine tests of the core, without driver, store or transport.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use keptn_sdk::event::payload::FinishedData;
use keptn_sdk::event::{EventType, KeptnContext, KeptnEvent, KeptnResult, Phase};
use serde_json::json;

use super::*;
use crate::orchestrator::model::ExecutionState;

const SHIPYARD: &str = r#"
apiVersion: spec.keptn.sh/0.2.2
kind: Shipyard
metadata: {name: test}
spec:
  stages:
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - name: deployment
              properties: {deploymentstrategy: direct}
            - name: test
            - name: release
        - name: gated
          tasks:
            - name: approval
              properties: {pass: manual, warning: manual}
            - name: deployment
        - name: delayed
          tasks:
            - name: evaluation
              triggeredAfter: 5m
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: deployment}]
        - name: rollback
          triggeredOn:
            - event: dev.delivery.finished
              selector: {match: {result: fail}}
          tasks: [{name: rollback}]
"#;

struct Harness {
    core: Core,
    now: DateTime<Utc>,
    shipyard: Arc<Shipyard>,
    published: Vec<KeptnEvent>,
    timers: Vec<Timer>,
    saved: Vec<SequenceExecution>,
}

impl Harness {
    fn new() -> Self {
        Self {
            core: Core::new(CoreConfig::default()),
            now: Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap(),
            shipyard: Arc::new(Shipyard::parse(SHIPYARD).unwrap()),
            published: Vec::new(),
            timers: Vec::new(),
            saved: Vec::new(),
        }
    }

    fn feed(&mut self, input: Input) -> Vec<Effect> {
        let effects = self.core.handle(input, self.now);
        for effect in &effects {
            match effect {
                Effect::Publish(out) => self.published.push(out.event.clone()),
                Effect::Schedule(timer) => self.timers.push(timer.clone()),
                Effect::SaveExecution(exec) => self.saved.push((**exec).clone()),
                _ => {}
            }
        }
        effects
    }

    fn trigger(&mut self, stage: &str, sequence: &str, service: &str) -> KeptnEvent {
        let event = KeptnEvent::builder(EventType::sequence(stage, sequence, Phase::Triggered))
            .source("test")
            .time(self.now)
            .context(KeptnContext::generate())
            .data_json(json!({"project": "p", "stage": stage, "service": service,
                "labels": {"build": "1"}, "configurationChange": {"values": {"image": "img:1"}}}))
            .build()
            .unwrap();
        self.feed(Input::SequenceTriggered {
            event: event.clone(),
            shipyard: Ok(Arc::clone(&self.shipyard)),
        });
        event
    }

    fn published_of(&self, event_type: &str) -> Vec<&KeptnEvent> {
        self.published
            .iter()
            .filter(|e| e.type_string() == event_type)
            .collect()
    }

    fn last(&self, event_type: &str) -> KeptnEvent {
        (*self
            .published_of(event_type)
            .last()
            .unwrap_or_else(|| panic!("no {event_type} published")))
        .clone()
    }

    fn answer(&mut self, triggered: &KeptnEvent, result: KeptnResult) {
        let started = triggered.started("executor").unwrap();
        self.feed(Input::TaskEvent(started));
        let finished = triggered
            .finished("executor", FinishedData::result(result))
            .unwrap();
        self.feed(Input::TaskEvent(finished));
    }

    fn state_of(&self, trigger: &KeptnEvent) -> ExecutionState {
        self.saved
            .iter()
            .rev()
            .find(|e| e.triggered_id == trigger.id)
            .map(|e| e.state)
            .expect("execution saved")
    }

    fn advance(&mut self, by: Duration) {
        self.now += chrono::Duration::from_std(by).unwrap();
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|t| t.at <= self.now)
            .cloned()
            .collect();
        self.timers.retain(|t| t.at > self.now);
        for timer in due {
            self.feed(Input::Timer(timer));
        }
    }
}

#[test]
fn a_trigger_starts_the_first_task_with_its_properties() {
    let mut h = Harness::new();
    let trigger = h.trigger("dev", "delivery", "carts");
    let deployment = h.last("sh.keptn.event.deployment.triggered");
    assert_eq!(deployment.shkeptncontext, trigger.shkeptncontext);
    assert_eq!(deployment.source, CONTROLLER_SOURCE);
    assert_eq!(
        deployment.data["deployment"],
        json!({"deploymentstrategy": "direct"})
    );
    assert_eq!(
        deployment.data["configurationChange"]["values"]["image"],
        "img:1"
    );
    assert_eq!(h.state_of(&trigger), ExecutionState::Started);
}

#[test]
fn a_sequence_runs_its_tasks_in_order_and_chains_on_pass() {
    let mut h = Harness::new();
    let trigger = h.trigger("dev", "delivery", "carts");
    for task in ["deployment", "test", "release"] {
        let triggered = h.last(&format!("sh.keptn.event.{task}.triggered"));
        h.answer(&triggered, KeptnResult::Pass);
    }
    let finished = h.last("sh.keptn.event.dev.delivery.finished");
    assert_eq!(finished.triggeredid.as_ref(), Some(&trigger.id));
    assert_eq!(finished.data["result"], "pass");
    assert_eq!(finished.data["labels"], json!({"build": "1"}));
    let next = h.last("sh.keptn.event.staging.delivery.triggered");
    assert_eq!(next.data["stage"], "staging");
    assert!(
        h.published_of("sh.keptn.event.staging.rollback.triggered")
            .is_empty()
    );
    assert_eq!(h.state_of(&trigger), ExecutionState::Finished);
}

#[test]
fn a_failed_task_stops_the_sequence_and_fires_the_fail_selector() {
    let mut h = Harness::new();
    h.trigger("dev", "delivery", "carts");
    let deployment = h.last("sh.keptn.event.deployment.triggered");
    h.answer(&deployment, KeptnResult::Fail);
    assert!(h.published_of("sh.keptn.event.test.triggered").is_empty());
    assert_eq!(
        h.last("sh.keptn.event.dev.delivery.finished").data["result"],
        "fail"
    );
    assert_eq!(
        h.published_of("sh.keptn.event.staging.rollback.triggered")
            .len(),
        1
    );
    assert!(
        h.published_of("sh.keptn.event.staging.delivery.triggered")
            .is_empty()
    );
}

#[test]
fn a_second_sequence_of_the_same_service_waits_for_the_first() {
    let mut h = Harness::new();
    let first = h.trigger("dev", "delivery", "carts");
    let second = h.trigger("dev", "delivery", "carts");
    let other = h.trigger("dev", "delivery", "orders");
    assert_eq!(h.state_of(&second), ExecutionState::Waiting);
    assert_eq!(h.state_of(&other), ExecutionState::Started);
    let deployments = h.published_of("sh.keptn.event.deployment.triggered");
    assert_eq!(
        deployments.len(),
        2,
        "carts and orders run, the second carts waits"
    );
    let first_deployment = deployments[0].clone();
    assert_eq!(first_deployment.shkeptncontext, first.shkeptncontext);
    h.answer(&first_deployment, KeptnResult::Fail);
    assert_eq!(h.state_of(&second), ExecutionState::Started);
}

#[test]
fn an_approval_releases_the_slot_and_takes_it_back_in_order() {
    let mut h = Harness::new();
    let gated = h.trigger("dev", "gated", "carts");
    assert_eq!(h.state_of(&gated), ExecutionState::WaitingForApproval);
    let approval = h.last("sh.keptn.event.approval.triggered");
    let other = h.trigger("dev", "delivery", "carts");
    assert_eq!(
        h.state_of(&other),
        ExecutionState::Started,
        "approval does not block"
    );
    h.answer(&approval, KeptnResult::Pass);
    assert_eq!(
        h.state_of(&gated),
        ExecutionState::Waiting,
        "the slot is taken"
    );
    assert_eq!(
        h.published_of("sh.keptn.event.deployment.triggered").len(),
        1
    );
    let deployment = h.last("sh.keptn.event.deployment.triggered");
    assert_eq!(deployment.shkeptncontext, other.shkeptncontext);
    h.answer(&deployment, KeptnResult::Fail);
    assert_eq!(h.state_of(&gated), ExecutionState::Started);
    let held = h.last("sh.keptn.event.deployment.triggered");
    assert_eq!(held.shkeptncontext, gated.shkeptncontext);
    assert_eq!(
        held.data["result"], "pass",
        "the approval's result travels on"
    );
}

#[test]
fn a_delayed_task_is_sent_when_due_and_times_out_from_its_send_time() {
    let mut h = Harness::new();
    let trigger = h.trigger("dev", "delayed", "carts");
    assert!(
        h.published_of("sh.keptn.event.evaluation.triggered")
            .is_empty()
    );
    h.advance(Duration::from_secs(299));
    assert!(
        h.published_of("sh.keptn.event.evaluation.triggered")
            .is_empty()
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.published_of("sh.keptn.event.evaluation.triggered").len(),
        1
    );
    h.advance(Duration::from_secs(599));
    assert_eq!(h.state_of(&trigger), ExecutionState::Started);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.state_of(&trigger), ExecutionState::TimedOut);
    let finished = h.last("sh.keptn.event.dev.delayed.finished");
    assert_eq!(finished.data["status"], "errored");
    assert_eq!(
        finished.data["message"],
        "sequence timed out while waiting for task sh.keptn.event.evaluation.triggered to \
         receive a correlating .started or .finished event"
    );
}

#[test]
fn a_paused_sequence_holds_its_next_task_until_resumed() {
    let mut h = Harness::new();
    let trigger = h.trigger("dev", "delivery", "carts");
    let deployment = h.last("sh.keptn.event.deployment.triggered");
    h.feed(Input::Control(ControlCommand {
        project: "p".into(),
        keptn_context: trigger.shkeptncontext.clone(),
        stage: None,
        action: ControlAction::Pause,
    }));
    assert_eq!(h.state_of(&trigger), ExecutionState::Paused);
    h.answer(&deployment, KeptnResult::Pass);
    assert!(h.published_of("sh.keptn.event.test.triggered").is_empty());
    let other = h.trigger("dev", "delivery", "carts");
    assert_eq!(
        h.state_of(&other),
        ExecutionState::Waiting,
        "a paused running sequence keeps its slot"
    );
    h.feed(Input::Control(ControlCommand {
        project: "p".into(),
        keptn_context: trigger.shkeptncontext.clone(),
        stage: None,
        action: ControlAction::Resume,
    }));
    assert_eq!(h.state_of(&trigger), ExecutionState::Started);
    assert_eq!(h.published_of("sh.keptn.event.test.triggered").len(), 1);
}

#[test]
fn abort_ends_with_aborted_pass_and_starts_the_next_queued_sequence() {
    let mut h = Harness::new();
    let first = h.trigger("dev", "delivery", "carts");
    let second = h.trigger("dev", "delivery", "carts");
    let effects = h.feed(Input::Control(ControlCommand {
        project: "p".into(),
        keptn_context: first.shkeptncontext.clone(),
        stage: None,
        action: ControlAction::Abort,
    }));
    assert!(effects.contains(&Effect::Controlled { affected: 1 }));
    let finished = h.last("sh.keptn.event.dev.delivery.finished");
    assert_eq!(
        (
            finished.data["status"].as_str(),
            finished.data["result"].as_str()
        ),
        (Some("aborted"), Some("pass"))
    );
    assert!(
        h.published_of("sh.keptn.event.staging.delivery.triggered")
            .is_empty()
    );
    assert_eq!(h.state_of(&first), ExecutionState::Aborted);
    assert_eq!(h.state_of(&second), ExecutionState::Started);
}

#[test]
fn restore_rearms_timers_of_delayed_and_open_tasks() {
    let mut h = Harness::new();
    let delayed = h.trigger("dev", "delayed", "carts");
    h.trigger("dev", "delivery", "orders");
    let active: Vec<SequenceExecution> = h.core.executions().cloned().collect();
    let views = active
        .iter()
        .filter_map(|e| h.core.view(&e.project, &e.keptn_context).cloned())
        .collect();
    let (core, effects) = Core::restore(
        CoreConfig::default(),
        RestoredState {
            executions: active,
            paused: Vec::new(),
            views,
        },
        h.now,
    );
    let kinds: Vec<TimerKind> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Schedule(t) => Some(t.kind),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&TimerKind::SendTask));
    assert!(kinds.contains(&TimerKind::StartedWait));
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Publish(_))),
        "nothing is sent twice"
    );
    assert!(core.has_trigger(&delayed.id));
}

#[test]
fn unknown_sequences_are_answered_with_an_errored_finished_event() {
    let mut h = Harness::new();
    let trigger = h.trigger("dev", "canary", "carts");
    let finished = h.last("sh.keptn.event.dev.canary.finished");
    assert_eq!(finished.triggeredid.as_ref(), Some(&trigger.id));
    assert_eq!(finished.data["status"], "errored");
    assert_eq!(finished.data["result"], "fail");
    assert_eq!(
        finished.data["message"],
        "unable to start sequence canary: no task sequence with name canary found in stage dev"
    );
}
