//! The generic webhook action: POST the action and the problem as JSON to a URL.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use keptn_sdk::event::KeptnResult;
use keptn_sdk::event::payload::ActionInfo;
use serde_json::{Value, json};

use super::action::{ActionError, ActionErrorKind, ActionOutcome, ActionProvider, ActionRequest};

/// Path of the optional URL map, relative to the service folder (or the stage).
pub const WEBHOOKS_PATH: &str = "remediation/webhooks.yaml";

/// Longest piece of a response body kept in a message.
const BODY_LIMIT: usize = 300;

/// Executes an action by POSTing it to a URL; a 2xx answer is `pass`.
///
/// The URL is, in this order: the action's `value` when it is an `http(s)://` URL string,
/// the `url` field when the value is an object (`{"url": ..., "headers": {...}}`), or the URL
/// configured for the action id ([`with_url`](Self::with_url), or a
/// `remediation/webhooks.yaml` map `action id: URL` read with [`parse_urls`](Self::parse_urls)).
/// It handles every action for which it finds a URL.
///
/// The body is
/// `{"project", "stage", "service", "shkeptncontext", "action": {...}, "problem": {...}}`.
#[derive(Debug, Clone)]
pub struct WebhookActionProvider {
    client: reqwest::Client,
    urls: BTreeMap<String, String>,
    timeout: Duration,
}

impl WebhookActionProvider {
    /// A provider whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, ActionError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ActionError::new(
                    ActionErrorKind::InvalidConfig,
                    "cannot build the HTTP client",
                )
                .with_source(e)
            })?;
        Ok(Self {
            client,
            urls: BTreeMap::new(),
            timeout,
        })
    }

    /// Sends the action `action` to `url`.
    pub fn with_url(mut self, action: impl Into<String>, url: impl Into<String>) -> Self {
        self.urls.insert(action.into(), url.into());
        self
    }

    /// Reads a `remediation/webhooks.yaml` map (`action id: URL`).
    pub fn parse_urls(bytes: &[u8]) -> Result<BTreeMap<String, String>, ActionError> {
        let urls: BTreeMap<String, String> = serde_norway::from_slice(bytes).map_err(|e| {
            ActionError::new(
                ActionErrorKind::InvalidConfig,
                format!("cannot read {WEBHOOKS_PATH}"),
            )
            .with_source(e)
        })?;
        for (action, url) in &urls {
            if !is_http_url(url) {
                return Err(ActionError::new(
                    ActionErrorKind::InvalidConfig,
                    format!(
                        "invalid URL {url:?} for action {action} in {WEBHOOKS_PATH}: expected http:// or https://"
                    ),
                ));
            }
        }
        Ok(urls)
    }

    /// Adds every entry of a URL map.
    pub fn with_urls(mut self, urls: BTreeMap<String, String>) -> Self {
        self.urls.extend(urls);
        self
    }

    fn target(&self, action: &ActionInfo) -> Option<(String, BTreeMap<String, String>)> {
        match &action.value {
            Some(Value::String(url)) if is_http_url(url) => Some((url.clone(), BTreeMap::new())),
            Some(Value::Object(map))
                if map
                    .get("url")
                    .and_then(Value::as_str)
                    .is_some_and(is_http_url) =>
            {
                let url = map
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let headers = map
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| {
                        h.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                Some((url, headers))
            }
            _ => action
                .action
                .as_ref()
                .and_then(|id| self.urls.get(id))
                .map(|url| (url.clone(), BTreeMap::new())),
        }
    }
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

#[async_trait]
impl ActionProvider for WebhookActionProvider {
    fn handles(&self, action: &ActionInfo) -> bool {
        self.target(action).is_some()
    }

    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutcome, ActionError> {
        let Some((url, headers)) = self.target(&request.action) else {
            return Ok(ActionOutcome {
                result: KeptnResult::Fail,
                message: format!("no webhook URL for action {}", request.action_id()),
            });
        };
        let body = json!({
            "project": request.scope.project(),
            "stage": request.scope.stage(),
            "service": request.scope.service(),
            "shkeptncontext": request.keptn_context,
            "action": request.action,
            "problem": request.problem,
        });
        let mut post = self.client.post(&url).timeout(self.timeout).json(&body);
        for (name, value) in &headers {
            post = post.header(name, value);
        }
        let response = post.send().await.map_err(|e| {
            ActionError::new(
                ActionErrorKind::Failed,
                format!("webhook {url} did not answer"),
            )
            .with_source(e)
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(BODY_LIMIT).collect();
        if status.is_success() {
            Ok(ActionOutcome {
                result: KeptnResult::Pass,
                message: format!(
                    "Action {} executed: webhook {url} answered {status}",
                    request.action_id()
                ),
            })
        } else {
            Ok(ActionOutcome {
                result: KeptnResult::Fail,
                message: format!(
                    "Action {} failed: webhook {url} answered {status}: {}",
                    request.action_id(),
                    text.trim()
                ),
            })
        }
    }
}
