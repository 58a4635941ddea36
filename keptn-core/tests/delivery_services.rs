//! The execution plane inside an embedded plane: the local deployer, http-load, the
//! remediation service and the webhook action provider answering task events on the bus.
#![cfg(all(feature = "sqlite", feature = "git", feature = "execution"))]

mod delivery_services {
    pub mod support;

    mod deployer;
    mod remediation;
}
