//! Token authentication (`x-token`) and the rate limit of `POST /v1/auth`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::ApiError;
use super::state::ApiState;

/// The header that carries the API token.
pub const TOKEN_HEADER: &str = "x-token";

/// Whether the request carries the right token (compared in constant time).
pub(crate) fn token_ok(headers: &HeaderMap, expected: &str) -> bool {
    match headers.get(TOKEN_HEADER) {
        Some(given) => bool::from(given.as_bytes().ct_eq(expected.as_bytes())),
        None => false,
    }
}

/// Middleware of every protected route: 401 without the right `x-token`.
pub(crate) async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if token_ok(request.headers(), &state.config.token) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::unauthorized())
    }
}

/// A token bucket per client address: `rate` requests per second, bursts of `burst`. A request
/// with the right token refills the client's bucket, as the original API did.
#[derive(Debug)]
pub struct AuthRateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl AuthRateLimiter {
    /// A limiter with `rate` requests per second and bursts of `burst`.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client`; false when the client is over its limit.
    pub fn allow(&self, client: IpAddr) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if buckets.len() > 10_000 {
            let burst = self.burst;
            let rate = self.rate;
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * rate < burst
            });
        }
        let (tokens, last) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Refills the bucket of `client` after a successful authentication.
    pub fn reset(&self, client: IpAddr) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.remove(&client);
    }
}

/// The client address of a request (loopback when unknown, e.g. in tests without a socket).
pub(crate) fn client_ip(connect: Option<&ConnectInfo<SocketAddr>>) -> IpAddr {
    connect
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_and_a_reset_refills() {
        let limiter = AuthRateLimiter::new(1.0, 2);
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert!(limiter.allow(ip));
        assert!(limiter.allow(ip));
        assert!(!limiter.allow(ip));
        assert!(limiter.allow(IpAddr::from([10, 0, 0, 2])));
        limiter.reset(ip);
        assert!(limiter.allow(ip));
    }

    #[test]
    fn tokens_are_compared_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!token_ok(&headers, "secret"));
        headers.insert(TOKEN_HEADER, "secre".parse().unwrap());
        assert!(!token_ok(&headers, "secret"));
        headers.insert(TOKEN_HEADER, "secret".parse().unwrap());
        assert!(token_ok(&headers, "secret"));
    }
}
