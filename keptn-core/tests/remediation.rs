//! Remediation: `remediation.yaml` in both formats, the 1.x action selection with escalation,
//! the `get-action.finished` data, and the scaling and webhook action providers.

mod remediation {
    mod providers;
    mod selection;
    #[cfg(feature = "execution")]
    mod webhook;
}
