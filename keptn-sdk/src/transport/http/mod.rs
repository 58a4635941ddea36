//! CloudEvents over HTTP (feature `http`): a sender with retries and an axum receiver.
//!
//! [`HttpTransport`] is both halves of an HTTP hop:
//!
//! - **Sender**: `publish` POSTs the event to [`HttpConfig::target`] in structured (default) or
//!   binary [`ContentMode`]. Connection errors, timeouts and answers 408, 429 and 5xx are retried
//!   ([`RetryPolicy`]: 3 retries, exponential back-off from 750 ms with ±50% jitter, as Keptn's
//!   go-utils do); another 4xx fails at once with the receiver's message (kind
//!   [`TransportErrorKind::Rejected`]).
//! - **Receiver**: [`HttpTransport::router`] is an axum `Router` that turns POSTed events into
//!   deliveries on the subscriptions of this transport. It answers `400` with a message that
//!   names the problem when the request is not an event, `202` once the event was accepted into
//!   a subscription's bounded buffer (waiting while the buffer is full: back-pressure, never a
//!   silent drop), `200` when no subscription wants the event's type, and `503` once the transport
//!   is closed.
//!
//! # Delivery guarantee
//!
//! At-least-once from the sender to the receiver's buffer: the sender retries until a 2xx, so an
//! event can arrive twice (when an answer is lost). After the `202` the event lives in the
//! receiver's memory: a nacked delivery is delivered again (as on [`MemoryTransport`]), but a
//! process that dies loses the events it accepted and had not handled. Put a durable transport
//! (NATS JetStream) behind HTTP where that matters.
//!
//! ```no_run
//! use keptn_sdk::transport::http::{HttpConfig, HttpTransport};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = HttpTransport::new(HttpConfig::new().target("http://127.0.0.1:8081/event"))?;
//! let app = transport.router("/");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod binding;
mod receiver;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    MemoryTransport, MemoryTransportConfig, SubscribeOptions, Subscription, Transport,
    TransportError, TransportErrorKind,
};
use crate::event::KeptnEvent;

pub use binding::{ContentMode, STRUCTURED_CONTENT_TYPE};

/// When and how often the sender retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one (default 750 ms).
    pub initial_backoff: Duration,
    /// Longest wait between two attempts (default 10 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(750),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1-based), with ±50% jitter.
    fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(16);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        // Jitter factor in [0.5, 1.5), from the standard library's random hasher seed.
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(retry);
            h.finish()
        };
        let factor = 0.5 + (random % 1000) as f64 / 1000.0;
        base.mul_f64(factor)
    }
}

/// Settings of an [`HttpTransport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Where `publish` POSTs events; without it `publish` fails with kind `Config`.
    pub target: Option<String>,
    /// Structured (default) or binary.
    pub mode: ContentMode,
    /// Retries of the sender.
    pub retry: RetryPolicy,
    /// Timeout of one POST (default 10 s).
    pub timeout: Duration,
    /// Sent as `x-token` (the Keptn API's token header) when set.
    pub api_token: Option<String>,
    /// Deliveries buffered per subscription of the receiver (default 256).
    pub receiver_capacity: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            target: None,
            mode: ContentMode::Structured,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            api_token: None,
            receiver_capacity: 256,
        }
    }
}

impl HttpConfig {
    /// The defaults, without a target.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the target URL of `publish`.
    pub fn target(mut self, url: impl Into<String>) -> Self {
        self.target = Some(url.into());
        self
    }

    /// Sets the content mode of `publish`.
    pub fn mode(mut self, mode: ContentMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the `x-token` header.
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(token.into());
        self
    }
}

/// CloudEvents over HTTP; see the [module docs](self). Clones share the client and the receiver.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: reqwest::Client,
    config: HttpConfig,
    received: MemoryTransport,
}

impl HttpTransport {
    /// A transport with `config`. Fails if the target is not an absolute http(s) URL.
    pub fn new(config: HttpConfig) -> Result<Self, TransportError> {
        if let Some(target) = &config.target {
            let parsed = reqwest::Url::parse(target).map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::Config,
                    format!("target {target:?} is not a URL"),
                    e,
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(TransportError::new(
                    TransportErrorKind::Config,
                    format!("target {target:?}: expected an http or https URL"),
                ));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| {
                TransportError::with_source(
                    TransportErrorKind::Config,
                    "building the HTTP client",
                    e,
                )
            })?;
        let received = MemoryTransport::new(MemoryTransportConfig {
            channel_capacity: config.receiver_capacity.max(1),
        });
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                received,
            }),
        })
    }

    /// The receiver: an axum router that accepts CloudEvents POSTed to `path` and hands them to
    /// this transport's subscriptions.
    pub fn router(&self, path: &str) -> axum::Router {
        receiver::router(path, self.inner.received.clone())
    }

    /// Closes the receiver: subscription streams end, further POSTs are answered 503.
    pub fn close(&self) {
        self.inner.received.close();
    }

    async fn post_once(&self, target: &str, event: &KeptnEvent) -> Attempt {
        let (headers, body) = match binding::encode(event, self.inner.config.mode) {
            Ok(encoded) => encoded,
            Err(message) => {
                return Attempt::Fatal(TransportError::new(
                    TransportErrorKind::Encode,
                    format!("event {}: {message}", event.id),
                ));
            }
        };
        let mut request = self.inner.client.post(target).headers(headers).body(body);
        if let Some(token) = &self.inner.config.api_token {
            request = request.header("x-token", token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Attempt::Done,
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let text: String = text.chars().take(500).collect();
                let message = format!(
                    "POST {target} for event {} answered {status}: {text}",
                    event.id
                );
                if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                    Attempt::Retry(TransportError::new(TransportErrorKind::Publish, message))
                } else {
                    Attempt::Fatal(TransportError::new(TransportErrorKind::Rejected, message))
                }
            }
            Err(err) => Attempt::Retry(TransportError::with_source(
                TransportErrorKind::Connect,
                format!("POST {target} for event {}", event.id),
                err,
            )),
        }
    }
}

enum Attempt {
    Done,
    Retry(TransportError),
    Fatal(TransportError),
}

#[async_trait]
impl Transport for HttpTransport {
    async fn publish(&self, event: &KeptnEvent) -> Result<(), TransportError> {
        let Some(target) = self.inner.config.target.as_deref() else {
            return Err(TransportError::new(
                TransportErrorKind::Config,
                format!(
                    "cannot publish event {}: no target URL is configured",
                    event.id
                ),
            ));
        };
        let policy = self.inner.config.retry;
        let mut retry = 0;
        loop {
            match self.post_once(target, event).await {
                Attempt::Done => return Ok(()),
                Attempt::Fatal(err) => return Err(err),
                Attempt::Retry(err) if retry >= policy.max_retries => return Err(err),
                Attempt::Retry(err) => {
                    retry += 1;
                    let wait = policy.backoff(retry);
                    tracing::debug!(error = %err, retry, ?wait, "POST failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, TransportError> {
        self.inner.received.subscribe(options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::default();
        for retry in 1..=3 {
            let base = 750.0 * f64::from(1u32 << (retry - 1));
            let wait = policy.backoff(retry).as_secs_f64() * 1000.0;
            assert!(wait >= base * 0.5 && wait < base * 1.5, "{retry}: {wait}");
        }
        assert!(policy.backoff(30) < Duration::from_secs(15));
    }

    #[test]
    fn targets_must_be_http_urls() {
        for bad in ["not a url", "ftp://example.com/x"] {
            let err = HttpTransport::new(HttpConfig::new().target(bad)).unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::Config, "{bad}");
        }
    }
}
