//! Registered integrations ("uniform") and their log entries.
//!
//! Integrations register with their name, location and subscriptions, then send a heartbeat
//! (`ping`); one without a heartbeat for the time to live (1 minute by default, as Keptn's
//! `UNIFORM_INTEGRATION_TTL`) is forgotten. Integrations report errors as log entries, kept for
//! a limited time (120 hours, `LOG_TTL`) and count (newest 10,000).
//!
//! Both live in memory: an integration re-registers on its next heartbeat after a restart of
//! the control plane, so nothing of value is lost with them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use keptn_sdk::api::{EventSubscription, Integration, LogEntry};

/// How integrations and logs are kept.
#[derive(Debug, Clone)]
pub struct UniformConfig {
    /// An integration without a heartbeat for this long is forgotten (1 minute).
    pub integration_ttl: Duration,
    /// Log entries older than this are dropped (120 hours).
    pub log_ttl: Duration,
    /// At most this many log entries are kept (10,000).
    pub max_logs: usize,
}

impl Default for UniformConfig {
    fn default() -> Self {
        Self {
            integration_ttl: Duration::from_secs(60),
            log_ttl: Duration::from_secs(120 * 3600),
            max_logs: 10_000,
        }
    }
}

/// Why a uniform operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UniformError {
    /// No integration with this id.
    #[error("integration {0} is not registered")]
    UnknownIntegration(String),
    /// No subscription with this id.
    #[error("integration {integration} has no subscription {subscription}")]
    UnknownSubscription {
        /// The integration.
        integration: String,
        /// The subscription.
        subscription: String,
    },
    /// A field is missing or invalid.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug)]
struct Registered {
    integration: Integration,
    last_seen: DateTime<Utc>,
}

/// Integrations and their logs.
#[derive(Debug, Default)]
pub struct Uniform {
    config: UniformConfig,
    integrations: Mutex<BTreeMap<String, Registered>>,
    logs: Mutex<VecDeque<LogEntry>>,
}

fn now_string(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The id of an integration: stable for the same name and host, so a re-registration after a
/// restart keeps its id, as in Keptn.
fn integration_id(integration: &Integration) -> String {
    let key = format!(
        "{}|{}|{}",
        integration.name, integration.metadata.hostname, integration.metadata.location
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes())
        .simple()
        .to_string()
}

impl Uniform {
    /// An empty registry.
    pub fn new(config: UniformConfig) -> Self {
        Self {
            config,
            integrations: Mutex::new(BTreeMap::new()),
            logs: Mutex::new(VecDeque::new()),
        }
    }

    fn integrations(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Registered>> {
        let mut map = self.integrations.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = chrono::Duration::from_std(self.config.integration_ttl)
            .unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        map.retain(|_, r| now.signed_duration_since(r.last_seen) <= ttl);
        map
    }

    /// Registers (or re-registers) an integration and returns its id.
    pub fn register(&self, mut integration: Integration) -> Result<String, UniformError> {
        if integration.name.trim().is_empty() {
            return Err(UniformError::Invalid(
                "name: mandatory field 'name' missing".into(),
            ));
        }
        let id = integration_id(&integration);
        let now = Utc::now();
        integration.id = id.clone();
        integration.metadata.lastseen = Some(now_string(now));
        for subscription in &mut integration.subscriptions {
            check_subscription(subscription)?;
            if subscription.id.is_empty() {
                subscription.id = uuid::Uuid::new_v4().simple().to_string();
            }
        }
        self.integrations().insert(
            id.clone(),
            Registered {
                integration,
                last_seen: now,
            },
        );
        Ok(id)
    }

    /// Every live integration, optionally only those with this name.
    pub fn list(&self, name: Option<&str>) -> Vec<Integration> {
        self.integrations()
            .values()
            .filter(|r| name.is_none_or(|n| r.integration.name == n))
            .map(|r| r.integration.clone())
            .collect()
    }

    /// Forgets an integration.
    pub fn unregister(&self, id: &str) -> Result<(), UniformError> {
        self.integrations()
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| UniformError::UnknownIntegration(id.to_owned()))
    }

    /// A heartbeat: the integration is alive now.
    pub fn ping(&self, id: &str) -> Result<Integration, UniformError> {
        let mut map = self.integrations();
        let registered = map
            .get_mut(id)
            .ok_or_else(|| UniformError::UnknownIntegration(id.to_owned()))?;
        let now = Utc::now();
        registered.last_seen = now;
        registered.integration.metadata.lastseen = Some(now_string(now));
        Ok(registered.integration.clone())
    }

    /// Adds a subscription and returns its id.
    pub fn add_subscription(
        &self,
        id: &str,
        mut subscription: EventSubscription,
    ) -> Result<String, UniformError> {
        check_subscription(&subscription)?;
        let mut map = self.integrations();
        let registered = map
            .get_mut(id)
            .ok_or_else(|| UniformError::UnknownIntegration(id.to_owned()))?;
        subscription.id = uuid::Uuid::new_v4().simple().to_string();
        let sid = subscription.id.clone();
        registered.integration.subscriptions.push(subscription);
        Ok(sid)
    }

    /// The subscriptions of an integration.
    pub fn subscriptions(&self, id: &str) -> Result<Vec<EventSubscription>, UniformError> {
        self.integrations()
            .get(id)
            .map(|r| r.integration.subscriptions.clone())
            .ok_or_else(|| UniformError::UnknownIntegration(id.to_owned()))
    }

    /// One subscription.
    pub fn subscription(&self, id: &str, sid: &str) -> Result<EventSubscription, UniformError> {
        self.subscriptions(id)?
            .into_iter()
            .find(|s| s.id == sid)
            .ok_or_else(|| UniformError::UnknownSubscription {
                integration: id.to_owned(),
                subscription: sid.to_owned(),
            })
    }

    /// Replaces a subscription.
    pub fn update_subscription(
        &self,
        id: &str,
        sid: &str,
        mut subscription: EventSubscription,
    ) -> Result<(), UniformError> {
        check_subscription(&subscription)?;
        let mut map = self.integrations();
        let registered = map
            .get_mut(id)
            .ok_or_else(|| UniformError::UnknownIntegration(id.to_owned()))?;
        let slot = registered
            .integration
            .subscriptions
            .iter_mut()
            .find(|s| s.id == sid)
            .ok_or_else(|| UniformError::UnknownSubscription {
                integration: id.to_owned(),
                subscription: sid.to_owned(),
            })?;
        subscription.id = sid.to_owned();
        *slot = subscription;
        Ok(())
    }

    /// Removes a subscription.
    pub fn delete_subscription(&self, id: &str, sid: &str) -> Result<(), UniformError> {
        let mut map = self.integrations();
        let registered = map
            .get_mut(id)
            .ok_or_else(|| UniformError::UnknownIntegration(id.to_owned()))?;
        let before = registered.integration.subscriptions.len();
        registered.integration.subscriptions.retain(|s| s.id != sid);
        if registered.integration.subscriptions.len() == before {
            return Err(UniformError::UnknownSubscription {
                integration: id.to_owned(),
                subscription: sid.to_owned(),
            });
        }
        Ok(())
    }

    fn logs(&self) -> std::sync::MutexGuard<'_, VecDeque<LogEntry>> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = chrono::Duration::from_std(self.config.log_ttl).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        while logs.front().is_some_and(|l| {
            DateTime::parse_from_rfc3339(&l.time)
                .map(|t| now.signed_duration_since(t) > ttl)
                .unwrap_or(true)
        }) {
            logs.pop_front();
        }
        logs
    }

    /// Stores log entries (time set to now when empty).
    pub fn add_logs(&self, entries: Vec<LogEntry>) -> Result<(), UniformError> {
        let mut logs = self.logs();
        for mut entry in entries {
            if entry.integrationid.is_empty() {
                return Err(UniformError::Invalid(
                    "logs[].integrationid: mandatory field 'integrationid' missing".into(),
                ));
            }
            if entry.time.is_empty() || DateTime::parse_from_rfc3339(&entry.time).is_err() {
                entry.time = now_string(Utc::now());
            }
            logs.push_back(entry);
            while logs.len() > self.config.max_logs {
                logs.pop_front();
            }
        }
        Ok(())
    }

    /// Log entries, newest first, optionally of one integration and within a time range.
    pub fn query_logs(
        &self,
        integration: Option<&str>,
        from: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
    ) -> Vec<LogEntry> {
        self.logs()
            .iter()
            .rev()
            .filter(|l| integration.is_none_or(|i| l.integrationid == i))
            .filter(|l| {
                let t = DateTime::parse_from_rfc3339(&l.time).map(|t| t.with_timezone(&Utc));
                match t {
                    Ok(t) => from.is_none_or(|f| t >= f) && before.is_none_or(|b| t < b),
                    Err(_) => false,
                }
            })
            .cloned()
            .collect()
    }

    /// Deletes the log entries of an integration (all when `None`).
    pub fn delete_logs(&self, integration: Option<&str>) {
        self.logs()
            .retain(|l| integration.is_some_and(|i| l.integrationid != i));
    }
}

fn check_subscription(subscription: &EventSubscription) -> Result<(), UniformError> {
    if subscription.event.trim().is_empty() {
        return Err(UniformError::Invalid(
            "subscriptions[].event: mandatory field 'event' missing".into(),
        ));
    }
    keptn_sdk::transport::SubjectPattern::new(subscription.event.as_str())
        .map(|_| ())
        .map_err(|e| UniformError::Invalid(format!("subscriptions[].event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keptn_sdk::api::IntegrationMetadata;

    fn integration(name: &str) -> Integration {
        Integration {
            name: name.into(),
            metadata: IntegrationMetadata {
                hostname: "host".into(),
                ..Default::default()
            },
            subscriptions: vec![EventSubscription {
                event: "sh.keptn.event.test.triggered".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_registration_keeps_its_id_and_lives_by_heartbeats() {
        let uniform = Uniform::new(UniformConfig {
            integration_ttl: Duration::from_millis(50),
            ..Default::default()
        });
        let id = uniform.register(integration("jmeter")).unwrap();
        assert_eq!(uniform.register(integration("jmeter")).unwrap(), id);
        assert_eq!(uniform.list(Some("jmeter")).len(), 1);
        let sub = uniform.subscriptions(&id).unwrap();
        assert!(!sub[0].id.is_empty());
        std::thread::sleep(Duration::from_millis(80));
        assert!(uniform.list(None).is_empty(), "expired without a heartbeat");
        assert_eq!(
            uniform.ping(&id).unwrap_err(),
            UniformError::UnknownIntegration(id)
        );
    }

    #[test]
    fn subscriptions_can_be_added_changed_and_removed() {
        let uniform = Uniform::new(UniformConfig::default());
        let id = uniform.register(integration("svc")).unwrap();
        let sid = uniform
            .add_subscription(
                &id,
                EventSubscription {
                    event: "sh.keptn.event.deployment.triggered".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        uniform
            .update_subscription(
                &id,
                &sid,
                EventSubscription {
                    event: "sh.keptn.event.release.triggered".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            uniform.subscription(&id, &sid).unwrap().event,
            "sh.keptn.event.release.triggered"
        );
        uniform.delete_subscription(&id, &sid).unwrap();
        assert!(uniform.subscription(&id, &sid).is_err());
        let err = uniform
            .add_subscription(
                &id,
                EventSubscription {
                    event: "a..b".into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(
            err.to_string().starts_with("subscriptions[].event:"),
            "{err}"
        );
    }

    #[test]
    fn logs_are_kept_newest_first_and_bounded() {
        let uniform = Uniform::new(UniformConfig {
            max_logs: 2,
            ..Default::default()
        });
        let entry = |m: &str| LogEntry {
            integrationid: "i".into(),
            message: m.into(),
            ..Default::default()
        };
        uniform
            .add_logs(vec![entry("a"), entry("b"), entry("c")])
            .unwrap();
        let logs = uniform.query_logs(Some("i"), None, None);
        let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["c", "b"]);
        assert!(uniform.add_logs(vec![LogEntry::default()]).is_err());
        uniform.delete_logs(Some("i"));
        assert!(uniform.query_logs(None, None, None).is_empty());
    }
}
