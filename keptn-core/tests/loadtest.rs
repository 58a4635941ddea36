//! The http-load test executor against a local server with injected latency and errors, the
//! results stores and the `builtin` indicators.

mod loadtest {
    #[cfg(feature = "execution")]
    pub mod support;

    #[cfg(feature = "execution")]
    mod executor;
    mod indicators;
    mod stores;
}
