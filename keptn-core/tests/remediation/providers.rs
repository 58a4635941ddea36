//! The scaling action provider, against a deployer that records what it is asked.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use keptn_core::deploy::{
    ChangeOutcome, DeployError, DeployErrorKind, DeployOutcome, DeployRequest, Deployer,
    ReplicaChange, ServiceScope, ServiceStatus,
};
use keptn_core::remediation::{
    ActionErrorKind, ActionProvider, ActionProviders, ActionRequest, ScalingActionProvider,
};
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::ActionInfo;
use serde_json::{Value, json};

/// Records scale calls; fails them with the configured kind.
#[derive(Debug, Default)]
struct RecordingDeployer {
    scaled: Mutex<Vec<ReplicaChange>>,
    fail_with: Option<DeployErrorKind>,
}

#[async_trait]
impl Deployer for RecordingDeployer {
    fn name(&self) -> &'static str {
        "recording"
    }
    fn resource_paths(&self, _service: &str) -> Vec<String> {
        Vec::new()
    }
    async fn deploy(&self, _request: &DeployRequest) -> Result<DeployOutcome, DeployError> {
        Err(DeployError::new(
            DeployErrorKind::Unsupported,
            "not in this test",
        ))
    }
    async fn release(
        &self,
        _s: &ServiceScope,
        _r: KeptnResult,
    ) -> Result<ChangeOutcome, DeployError> {
        Err(DeployError::new(
            DeployErrorKind::Unsupported,
            "not in this test",
        ))
    }
    async fn rollback(&self, _s: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        Err(DeployError::new(
            DeployErrorKind::Unsupported,
            "not in this test",
        ))
    }
    async fn scale(
        &self,
        scope: &ServiceScope,
        change: ReplicaChange,
    ) -> Result<ChangeOutcome, DeployError> {
        if let Some(kind) = self.fail_with {
            return Err(DeployError::new(kind, format!("cannot scale {scope}")));
        }
        self.scaled.lock().unwrap().push(change);
        Ok(ChangeOutcome::message(
            "Successfully executed scaling action",
        ))
    }
    async fn status(&self, _s: &ServiceScope) -> Result<Option<ServiceStatus>, DeployError> {
        Ok(None)
    }
    async fn remove_service(&self, _s: &ServiceScope) -> Result<ChangeOutcome, DeployError> {
        Ok(ChangeOutcome::default())
    }
    async fn shutdown(&self) -> Result<(), DeployError> {
        Ok(())
    }
}

fn action(id: &str, value: Value) -> ActionInfo {
    ActionInfo {
        name: Some(id.into()),
        action: Some(id.into()),
        description: None,
        value: Some(value),
    }
}

fn request(action: ActionInfo) -> ActionRequest {
    ActionRequest {
        scope: ServiceScope::new("sockshop", "production", "carts").unwrap(),
        action,
        problem: None,
        keptn_context: None,
    }
}

#[tokio::test]
async fn scaling_values_of_the_example_add_replicas_through_the_deployer() {
    let deployer = Arc::new(RecordingDeployer::default());
    let provider = ScalingActionProvider::new(deployer.clone());
    for value in [json!(1), json!("1"), json!("+1"), json!({"replicas": 3})] {
        let out = provider
            .execute(&request(action("scaling", value)))
            .await
            .unwrap();
        assert_eq!(out.result, KeptnResult::Pass);
        assert_eq!(out.message, "Successfully executed scaling action");
    }
    assert_eq!(
        *deployer.scaled.lock().unwrap(),
        [
            ReplicaChange::Add(1),
            ReplicaChange::Add(1),
            ReplicaChange::Add(1),
            ReplicaChange::Set(3)
        ]
    );
}

#[tokio::test]
async fn bad_values_fail_and_broken_deployers_error() {
    let provider = ScalingActionProvider::new(Arc::new(RecordingDeployer::default()));
    let out = provider
        .execute(&request(action("scaling", json!("lots"))))
        .await
        .unwrap();
    assert_eq!(out.result, KeptnResult::Fail);
    assert!(
        out.message.starts_with("could not parse action.value"),
        "{}",
        out.message
    );

    let bounded = ScalingActionProvider::new(Arc::new(RecordingDeployer {
        fail_with: Some(DeployErrorKind::InvalidInput),
        ..RecordingDeployer::default()
    }));
    let out = bounded
        .execute(&request(action("scaling", json!(50))))
        .await
        .unwrap();
    assert_eq!(out.result, KeptnResult::Fail);

    let broken = ScalingActionProvider::new(Arc::new(RecordingDeployer {
        fail_with: Some(DeployErrorKind::CommandFailed),
        ..RecordingDeployer::default()
    }));
    let err = broken
        .execute(&request(action("scaling", json!(1))))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ActionErrorKind::Failed);
    assert_eq!(
        err.report(),
        "scaling service carts in stage production of project sockshop failed: cannot scale service carts in stage production of project sockshop"
    );
}

#[tokio::test]
async fn providers_are_found_by_action() {
    let providers = ActionProviders::new().with(Arc::new(ScalingActionProvider::new(Arc::new(
        RecordingDeployer::default(),
    ))));
    assert!(providers.find(&action("scaling", json!(1))).is_some());
    assert!(
        providers
            .find(&action("toggle-feature", json!({"EnablePromotion": "off"})))
            .is_none()
    );
}
