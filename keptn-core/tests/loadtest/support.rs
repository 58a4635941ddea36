//! A test HTTP server whose routes answer slowly or fail on purpose.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::oneshot;

/// A running test server; dropping it stops it.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Requests answered on `/flaky`.
    pub flaky_count: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn flaky(State(count): State<Arc<AtomicU64>>) -> (StatusCode, &'static str) {
    // Every tenth request fails: errors are exactly requests / 10.
    let n = count.fetch_add(1, Ordering::SeqCst);
    if n % 10 == 9 {
        (StatusCode::INTERNAL_SERVER_ERROR, "boom")
    } else {
        tokio::time::sleep(Duration::from_millis(20)).await;
        (StatusCode::OK, "fine")
    }
}

/// Starts the server: `/` (fast, "hello"), `/health` ("ok"), `/slow` (150 ms),
/// `/broken` (500), `/flaky` (20 ms, every tenth request 500).
pub async fn start() -> TestServer {
    let count = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                "slow"
            }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        )
        .route("/flaky", get(flaky))
        .with_state(Arc::clone(&count));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    TestServer {
        url,
        flaky_count: count,
        stop: Some(stop),
    }
}

/// A loopback URL where nothing listens.
pub fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
