//! Quality gates in the running control plane: the lighthouse, the SLI providers, the approval
//! service and the wait service, each a [`PlaneService`] made of task runners.
//!
//! | service (event `source`) | consumes | answers |
//! |---|---|---|
//! | [`lighthouse_service`] (`lighthouse-service`) | `evaluation.triggered`, `get-sli.finished`, `monitoring.configure`, `configure-monitoring.triggered` | `evaluation.started`, `get-sli.triggered`, `evaluation.finished` |
//! | [`builtin_sli_provider_service`] (`builtin-sli-provider`) | `get-sli.triggered` for provider `builtin` | `get-sli.started`, `get-sli.finished` |
//! | `prometheus_sli_provider_service` (`prometheus-service`, feature `execution`) | `get-sli.triggered` for provider `prometheus` | `get-sli.started`, `get-sli.finished` |
//! | [`approval_service`] (`approval-service`) | `approval.triggered` | `approval.started`, and `approval.finished` unless manual |
//! | [`wait_service`] (`wait-service`) | `wait.triggered` | `wait.started`, `wait.finished` after `wait.duration` |
//!
//! The flow of an evaluation (Keptn's lighthouse protocol, `docs/quality-gates.md`):
//!
//! 1. `evaluation.triggered` → `evaluation.started`; the timeframe; `slo.yaml` of the service in
//!    the stage at the event's `gitcommitid` (none: finished `pass`, "no SLO file"); the
//!    project's SLI provider from `lighthouse-config.yaml` (none: finished `pass`, "no
//!    SLI-provider"); then `get-sli.triggered` in the same context.
//! 2. The provider named in `get-sli.sliProvider` answers `get-sli.finished`.
//! 3. The lighthouse finds the `evaluation.triggered` again **in the event store** (as Keptn's
//!    lighthouse looked it up in its datastore), so a restart between 1 and 3 loses nothing;
//!    it asks the store for the earlier evaluations, scores, and sends `evaluation.finished`.
//!
//! Events a service derives from a `.triggered` event (`.started`, `get-sli.triggered`) get ids
//! derived from the `.triggered` event's id ([`derived_id`]): when a delivery comes again after
//! a crash, the same events are sent again with the same ids, and the bus, the datastore and the
//! orchestrator count them once.

pub mod approval;
mod config;
pub mod lighthouse;
pub mod monitoring;
pub mod providers;
pub mod wait;

use keptn_sdk::event::{EventId, KeptnEvent};
use keptn_sdk::handler::HandlerError;
use uuid::Uuid;

pub use approval::approval_service;
pub use lighthouse::lighthouse_service;
pub use monitoring::{LIGHTHOUSE_CONFIG_FILE, configure_sli_provider, sli_provider};
#[cfg(feature = "execution")]
pub use providers::prometheus::{PROMETHEUS_CONFIG_FILE, PrometheusSliProvider};
#[cfg(feature = "execution")]
pub use providers::prometheus_sli_provider_service;
pub use providers::{
    BuiltinSliProvider, SliProvider, SliProviderError, SliProviderErrorKind, SliRequest,
    builtin_sli_provider_service,
};
pub use wait::wait_service;

use super::{ServicesConfig, load_test_results_dir};
use crate::loadtest::FileLoadTestResults;
use crate::plane::PlaneService;

/// How long the runners of these services let running handlers finish when the plane stops;
/// the deliveries of those still running then go back to the bus and are handled again after
/// the next start (the plane itself waits its own deadline plus 5 s for each service).
pub(crate) const RUNNER_SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// `source` of the lighthouse's events.
pub const LIGHTHOUSE_SOURCE: &str = crate::quality::LIGHTHOUSE_SOURCE;
/// `source` of the builtin SLI provider's events.
pub const BUILTIN_PROVIDER_SOURCE: &str = "builtin-sli-provider";
/// `source` of the Prometheus SLI provider's events.
pub const PROMETHEUS_PROVIDER_SOURCE: &str = "prometheus-service";
/// `source` of the approval service's events.
pub const APPROVAL_SOURCE: &str = "approval-service";
/// `source` of the wait service's events.
pub const WAIT_SOURCE: &str = "wait-service";

/// Adds the quality-gate services to `list`: the lighthouse, the `builtin` SLI provider (over
/// the results of the http-load executor, [`load_test_results_dir`]), the `prometheus` SLI
/// provider (feature `execution`), the approval service and the wait service.
pub fn services(config: &ServicesConfig, list: &mut Vec<Box<dyn PlaneService>>) {
    list.push(Box::new(lighthouse_service()));
    let results = FileLoadTestResults::new(load_test_results_dir(&config.data_dir));
    list.push(Box::new(builtin_sli_provider_service(std::sync::Arc::new(
        results,
    ))));
    #[cfg(feature = "execution")]
    list.push(Box::new(prometheus_sli_provider_service(
        config.prometheus_url.clone(),
    )));
    list.push(Box::new(approval_service()));
    list.push(Box::new(wait_service()));
}

/// A stable id for an event derived from `parent` (a `.triggered` event id) and `salt` (who
/// sends it and what it is, e.g. `lighthouse-service/started`): the same every time
/// ([`EventId::derive`]).
pub fn derived_id(parent: &EventId, salt: &str) -> EventId {
    // A fixed namespace of our own, so these ids never collide with other name-based UUIDs.
    const NAMESPACE: Uuid = Uuid::from_u128(0x6b65_7074_6e2d_7273_8000_0000_0000_0001);
    parent.derive(&NAMESPACE, &format!("/{salt}"))
}

/// The `.started` answer to `triggered`, with an id derived from it.
pub(crate) fn started_with_derived_id(
    triggered: &KeptnEvent,
    source: &str,
    message: Option<&str>,
) -> Result<KeptnEvent, HandlerError> {
    let mut started = triggered.started(source)?;
    started.id = derived_id(&triggered.id, &format!("{source}/started"));
    if let (Some(message), Some(data)) = (message, started.data.as_object_mut()) {
        data.insert("message".into(), message.into());
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids_that_depend_on_both_inputs() {
        let parent = EventId::new("2ca20973-b419-41ef-8740-bddcca238487");
        let a = derived_id(&parent, "lighthouse-service/started");
        assert_eq!(a, derived_id(&parent, "lighthouse-service/started"));
        assert!(Uuid::parse_str(a.as_str()).is_ok());
        assert_ne!(a, derived_id(&parent, "lighthouse-service/get-sli"));
        assert_ne!(
            a,
            derived_id(&EventId::new("other"), "lighthouse-service/started")
        );
    }
}
