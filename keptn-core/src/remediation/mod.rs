//! Remediation.
