//! Deployers: the local deployer against real processes behind its proxy, and the Helm
//! deployer's generated charts and `helm` invocations (against a recording stand-in).

mod deploy {
    #[cfg(feature = "helm")]
    pub mod helm_support;
    #[cfg(feature = "execution")]
    pub mod support;

    #[cfg(feature = "helm")]
    mod helm_charts;
    #[cfg(feature = "helm")]
    mod helm_invocations;

    #[cfg(feature = "execution")]
    mod local_blue_green;
    #[cfg(feature = "execution")]
    mod local_direct;
    #[cfg(feature = "execution")]
    mod local_restart;
}
