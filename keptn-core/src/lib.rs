//! keptn-core
