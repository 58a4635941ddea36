//! Sequences through the API: states, open triggered events, control, evaluation trigger.

use keptn_sdk::api::{EvaluationParams, SequenceControlParams, SequenceControlState};
use keptn_sdk::client::{SequenceQuery, TriggeredQuery};
use reqwest::Method;
use serde_json::json;

use crate::support::{eventually, json, start};

async fn trigger_delivery(api: &crate::support::TestApi) -> String {
    api.client
        .send_event(&json!({
            "type": "sh.keptn.event.dev.delivery.triggered",
            "data": {"project": "sockshop", "stage": "dev", "service": "carts",
                     "configurationChange": {"values": {"image": "carts:0.13.1"}}}
        }))
        .await
        .unwrap()
        .keptn_context
}

#[tokio::test]
async fn a_running_sequence_shows_its_open_task_and_can_be_aborted() {
    let api = start().await;
    api.create_sockshop().await;
    let context = trigger_delivery(&api).await;
    // Nobody executes deployments here: the task stays open.
    let open = eventually("the open deployment.triggered", || {
        let client = api.client.clone();
        async move {
            let page = client
                .triggered_events(
                    "sh.keptn.event.deployment.triggered",
                    &TriggeredQuery {
                        project: Some("sockshop".into()),
                        ..Default::default()
                    },
                )
                .await
                .ok()?;
            page.events.into_iter().next()
        }
    })
    .await;
    assert_eq!(open.shkeptncontext.as_str(), context);
    assert_eq!(
        open.data["configurationChange"]["values"]["image"],
        "carts:0.13.1"
    );

    let states = api
        .client
        .sequences(
            "sockshop",
            &SequenceQuery {
                keptn_context: Some(context.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(states.states.len(), 1);
    assert_eq!(states.states[0].name, "delivery");
    assert_eq!(states.states[0].state, "started");

    api.client
        .control_sequence(
            "sockshop",
            &context,
            &SequenceControlParams {
                state: SequenceControlState::Abort,
                stage: None,
            },
        )
        .await
        .unwrap();
    eventually("the aborted state", || {
        let client = api.client.clone();
        let context = context.clone();
        async move {
            let states = client
                .sequences(
                    "sockshop",
                    &SequenceQuery {
                        keptn_context: Some(context),
                        ..Default::default()
                    },
                )
                .await
                .ok()?;
            (states.states.first()?.state == "aborted").then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn sequence_control_of_an_unknown_context_is_404_and_bad_states_400() {
    let api = start().await;
    api.create_sockshop().await;
    let (status, _) = json(
        api.request(
            Method::POST,
            "/api/controlPlane/v1/sequence/sockshop/no-such-context/control",
        )
        .json(&json!({"state": "pause"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, error) = json(
        api.request(
            Method::POST,
            "/api/controlPlane/v1/sequence/sockshop/c/control",
        )
        .json(&json!({"state": "explode"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("state"),
        "{error}"
    );
    let (status, _) = json(
        api.request(
            Method::GET,
            "/api/controlPlane/v1/sequence/sockshop?state=nonsense",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = json(
        api.request(Method::GET, "/api/controlPlane/v1/sequence-execution")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "project is required");
}

#[tokio::test]
async fn an_evaluation_can_be_triggered_for_a_service() {
    let api = start().await;
    api.create_sockshop().await;
    let context = api
        .client
        .trigger_evaluation(
            "sockshop",
            "staging",
            "carts",
            &EvaluationParams {
                timeframe: Some("10m".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .keptn_context;
    let open = eventually("the evaluation task", || {
        let client = api.client.clone();
        async move {
            client
                .triggered_events(
                    "sh.keptn.event.evaluation.triggered",
                    &TriggeredQuery {
                        project: Some("sockshop".into()),
                        stage: Some("staging".into()),
                        ..Default::default()
                    },
                )
                .await
                .ok()?
                .events
                .into_iter()
                .next()
        }
    })
    .await;
    assert_eq!(open.shkeptncontext.as_str(), context);
    let start = open.data["evaluation"]["start"].as_str().unwrap();
    let end = open.data["evaluation"]["end"].as_str().unwrap();
    let span = chrono::DateTime::parse_from_rfc3339(end).unwrap()
        - chrono::DateTime::parse_from_rfc3339(start).unwrap();
    assert_eq!(span.num_minutes(), 10);

    let err = api
        .client
        .trigger_evaluation("sockshop", "staging", "ghost", &EvaluationParams::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}
