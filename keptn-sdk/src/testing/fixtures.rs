//! Canonical events, one function per event: the golden files of `tests/golden/`.
//!
//! All events belong to one flow: project `sockshop`, stage `dev`, service `carts`, Keptn context
//! `a3e5f16d-8888-4720-82c7-6995062905c1`. Each `.started` and `.finished` event carries the id of
//! its `.triggered` event as `triggeredid`. Ids and times are fixed, so tests can compare events
//! whole.
//!
//! ```
//! use keptn_sdk::testing::fixtures;
//!
//! let triggered = fixtures::deployment_triggered();
//! let finished = fixtures::deployment_finished();
//! assert_eq!(finished.triggeredid.as_ref(), Some(&triggered.id));
//! ```

use crate::event::KeptnEvent;

fn parse(name: &str, json: &str) -> KeptnEvent {
    // The files are part of the crate and checked by its tests; failing here is a build defect.
    KeptnEvent::from_json(json.as_bytes())
        .unwrap_or_else(|err| panic!("the fixture {name} is not a valid event: {err}"))
}

macro_rules! fixtures {
    ($( $(#[$meta:meta])* $fn_name:ident => $file:literal ),* $(,)?) => {
        $(
            $(#[$meta])*
            pub fn $fn_name() -> KeptnEvent {
                parse($file, include_str!(concat!("../../tests/golden/", $file, ".json")))
            }
        )*

        /// Every fixture with its file name (without `.json`), in flow order.
        pub fn all() -> Vec<(&'static str, KeptnEvent)> {
            vec![$( ($file, $fn_name()) ),*]
        }
    };
}

fixtures!(
    /// `sh.keptn.event.dev.delivery.triggered`: the sequence trigger of `keptn trigger delivery`.
    delivery_triggered => "sequence.triggered",
    /// `sh.keptn.event.deployment.triggered`.
    deployment_triggered => "deployment.triggered",
    /// `sh.keptn.event.deployment.started`.
    deployment_started => "deployment.started",
    /// `sh.keptn.event.deployment.finished`.
    deployment_finished => "deployment.finished",
    /// `sh.keptn.event.test.triggered`.
    test_triggered => "test.triggered",
    /// `sh.keptn.event.test.started`.
    test_started => "test.started",
    /// `sh.keptn.event.test.finished`.
    test_finished => "test.finished",
    /// `sh.keptn.event.evaluation.triggered`.
    evaluation_triggered => "evaluation.triggered",
    /// `sh.keptn.event.evaluation.started`.
    evaluation_started => "evaluation.started",
    /// `sh.keptn.event.evaluation.finished` with result `pass` and score 100.
    evaluation_finished_pass => "evaluation.finished",
    /// `sh.keptn.event.evaluation.finished` with result `fail` and score 0.
    evaluation_finished_fail => "evaluation.finished.fail",
    /// `sh.keptn.event.approval.triggered`.
    approval_triggered => "approval.triggered",
    /// `sh.keptn.event.approval.started`.
    approval_started => "approval.started",
    /// `sh.keptn.event.approval.finished`.
    approval_finished => "approval.finished",
    /// `sh.keptn.event.release.triggered`.
    release_triggered => "release.triggered",
    /// `sh.keptn.event.release.started`.
    release_started => "release.started",
    /// `sh.keptn.event.release.finished`.
    release_finished => "release.finished",
    /// `sh.keptn.event.rollback.triggered`.
    rollback_triggered => "rollback.triggered",
    /// `sh.keptn.event.rollback.started`.
    rollback_started => "rollback.started",
    /// `sh.keptn.event.rollback.finished`.
    rollback_finished => "rollback.finished",
    /// `sh.keptn.event.get-sli.triggered`.
    get_sli_triggered => "get-sli.triggered",
    /// `sh.keptn.event.get-sli.started`.
    get_sli_started => "get-sli.started",
    /// `sh.keptn.event.get-sli.finished`.
    get_sli_finished => "get-sli.finished",
    /// `sh.keptn.event.get-action.triggered`.
    get_action_triggered => "get-action.triggered",
    /// `sh.keptn.event.get-action.started`.
    get_action_started => "get-action.started",
    /// `sh.keptn.event.get-action.finished`.
    get_action_finished => "get-action.finished",
    /// `sh.keptn.event.action.triggered`.
    action_triggered => "action.triggered",
    /// `sh.keptn.event.action.started`.
    action_started => "action.started",
    /// `sh.keptn.event.action.finished`.
    action_finished => "action.finished",
    /// `sh.keptn.event.dev.delivery.finished`: the sequence ended with result `pass`.
    delivery_finished => "sequence.finished",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_a_valid_event() {
        let all = all();
        assert_eq!(all.len(), 30);
        for (name, event) in all {
            event.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(event.shkeptncontext, "a3e5f16d-8888-4720-82c7-6995062905c1");
        }
    }

    #[test]
    fn answers_point_at_their_trigger() {
        assert_eq!(test_finished().triggeredid, Some(test_triggered().id));
        assert_eq!(
            delivery_finished().triggeredid,
            Some(delivery_triggered().id)
        );
    }
}
