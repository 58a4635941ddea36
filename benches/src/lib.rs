//! Shared inputs of the benchmarks: a realistic 1.5 KB Keptn event and a plain typed serde struct
//! of the same shape (the baseline a hand-written model would get).

use std::collections::BTreeMap;

use keptn_sdk::{EventId, KeptnEvent};
use serde::{Deserialize, Serialize};

/// Structured-mode JSON of a `deployment.finished` event of about 1.5 KB.
pub fn sample_json() -> Vec<u8> {
    let message = "Successfully deployed carts 0.13.1 to production with a blue/green deployment; \
        the primary now serves all traffic, the canary was scaled down, and the previous \
        version stays available for a rollback until the next release. Quality gate results \
        of the staging evaluation were carried over: response time p95 248.5 ms, error rate \
        0.0 %, throughput 1717 requests per minute.";
    let json = serde_json::json!({
        "specversion": "1.0",
        "id": "7f0e2b9c-2a5e-4c1d-9a3e-0c4a8b1d2e3f",
        "source": "helm-service",
        "type": "sh.keptn.event.deployment.finished",
        "time": "2021-05-11T13:20:11.260Z",
        "datacontenttype": "application/json",
        "shkeptncontext": "a3e5f16d-8888-4720-82c7-6995062905c1",
        "triggeredid": "2ca20973-b419-41ef-8740-bddcca238487",
        "gitcommitid": "521747298a3790fde1710f3aa2d03b55020575aa",
        "shkeptnspecversion": "0.2.4",
        "data": {
            "project": "sockshop",
            "stage": "production",
            "service": "carts",
            "labels": {
                "buildId": "2021.05.11-17",
                "owner": "team-carts",
                "commit": "521747298a3790fde1710f3aa2d03b55020575aa",
                "pipeline": "https://ci.example.com/sockshop/carts/builds/1717"
            },
            "status": "succeeded",
            "result": "pass",
            "message": message,
            "deployment": {
                "deploymentstrategy": "blue_green_service",
                "deploymentURIsLocal": [
                    "http://carts.sockshop-production:80",
                    "http://carts-primary.sockshop-production:80"
                ],
                "deploymentURIsPublic": [
                    "http://carts.sockshop-production.svc.cluster.local:80",
                    "https://carts.production.sockshop.example.com"
                ],
                "deploymentNames": ["canary", "primary"],
                "image": "docker.io/keptnexamples/carts",
                "tag": "0.13.1"
            }
        }
    });
    serde_json::to_vec(&json).unwrap_or_default()
}

/// The sample as a [`KeptnEvent`].
pub fn sample_event() -> KeptnEvent {
    KeptnEvent::from_json(&sample_json()).expect("the sample is a valid event")
}

/// `n` copies of the sample with fresh ids (JetStream de-duplicates by id).
pub fn fresh_events(n: usize) -> Vec<KeptnEvent> {
    let template = sample_event();
    (0..n)
        .map(|_| {
            let mut e = template.clone();
            e.id = EventId::generate();
            e
        })
        .collect()
}

/// The sample as a plain typed struct: what a hand-written serde model of this one event costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainEvent {
    /// `specversion`.
    pub specversion: String,
    /// `id`.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `time`.
    pub time: String,
    /// `datacontenttype`.
    pub datacontenttype: String,
    /// `shkeptncontext`.
    pub shkeptncontext: String,
    /// `triggeredid`.
    pub triggeredid: String,
    /// `gitcommitid`.
    pub gitcommitid: String,
    /// `shkeptnspecversion`.
    pub shkeptnspecversion: String,
    /// `data`.
    pub data: PlainData,
}

/// `data` of [`PlainEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainData {
    /// Project.
    pub project: String,
    /// Stage.
    pub stage: String,
    /// Service.
    pub service: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Status.
    pub status: String,
    /// Result.
    pub result: String,
    /// Message.
    pub message: String,
    /// Deployment.
    pub deployment: PlainDeployment,
}

/// `data.deployment` of [`PlainEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainDeployment {
    /// Strategy.
    pub deploymentstrategy: String,
    /// Local URIs.
    #[serde(rename = "deploymentURIsLocal")]
    pub deployment_uris_local: Vec<String>,
    /// Public URIs.
    #[serde(rename = "deploymentURIsPublic")]
    pub deployment_uris_public: Vec<String>,
    /// Names.
    #[serde(rename = "deploymentNames")]
    pub deployment_names: Vec<String>,
    /// Image.
    pub image: String,
    /// Tag.
    pub tag: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_about_1_5_kb_and_both_models_read_it() {
        let json = sample_json();
        assert!((1400..1700).contains(&json.len()), "{}", json.len());
        let plain: PlainEvent = serde_json::from_slice(&json).unwrap();
        assert_eq!(plain.data.deployment.tag, "0.13.1");
        assert_eq!(sample_event().project(), Some("sockshop"));
    }
}
