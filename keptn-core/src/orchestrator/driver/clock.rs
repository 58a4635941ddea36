//! Time for the driver: what time it is, and waiting until a point in time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

/// A source of time. The driver never reads the system clock directly, so tests can run
/// timeouts and delays on tokio's paused clock ([`TokioClock`]).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Completes when [`Clock::now`] has reached `at` (immediately when it has already).
    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// The system's wall clock, with tokio timers for waiting.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that follows tokio's time: it starts at a given wall-clock time and advances with
/// `tokio::time::Instant`. Under `tokio::time::pause()` it stands still until the test calls
/// `tokio::time::advance`, which makes timeouts and `triggeredAfter` delays testable without
/// waiting.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `origin` now.
    pub fn starting_at(origin: DateTime<Utc>) -> Self {
        Self {
            origin,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::starting_at(Utc::now())
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default();
        self.origin + elapsed
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let offset = (at - self.origin).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep_until(self.start + offset))
    }
}
