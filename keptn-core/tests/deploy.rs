//! Deployers: the local deployer against real processes behind its proxy, and the Helm
//! deployer's generated charts and `helm` invocations (against a recording stand-in).

mod deploy {
    #[cfg(feature = "execution")]
    pub mod support;

    #[cfg(feature = "execution")]
    mod local_blue_green;
    #[cfg(feature = "execution")]
    mod local_direct;
    #[cfg(feature = "execution")]
    mod local_restart;
}
