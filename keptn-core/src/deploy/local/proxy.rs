//! The reverse proxy in front of a service: one stable loopback port per (project, stage,
//! service), routing to the primary instances and, with a weight, to the canary.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::deploy::{DEPLOYMENT_CANARY, DEPLOYMENT_PRIMARY, DeployError};

/// Response header naming the deployment (`primary` or `canary`) that answered.
pub const DEPLOYMENT_HEADER: &str = "x-keptn-deployment";

/// How long the proxy waits for open connections when it stops.
const DRAIN: Duration = Duration::from_secs(5);

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Where the proxy sends traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Routes {
    /// Ports of the primary instances.
    pub primary: Vec<u16>,
    /// Ports of the canary instances.
    pub canary: Vec<u16>,
    /// Percentage of requests for the canary (0 to 100).
    pub canary_weight: u8,
}

#[derive(Debug, Default)]
struct Table {
    routes: RwLock<Routes>,
    requests: AtomicU64,
    primary_turn: AtomicU64,
    canary_turn: AtomicU64,
}

impl Table {
    /// Picks a backend: request `n` goes to the canary when `n mod 100 < weight` (or when
    /// there is no primary), round robin within the chosen group.
    fn pick(&self) -> Option<(u16, &'static str)> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let to_canary = !routes.canary.is_empty()
            && (routes.primary.is_empty() || (n % 100) < u64::from(routes.canary_weight));
        let (group, name, turn) = if to_canary {
            (&routes.canary, DEPLOYMENT_CANARY, &self.canary_turn)
        } else {
            (&routes.primary, DEPLOYMENT_PRIMARY, &self.primary_turn)
        };
        if group.is_empty() {
            return None;
        }
        let index = (turn.fetch_add(1, Ordering::Relaxed) % group.len() as u64) as usize;
        Some((group[index], name))
    }
}

/// A running proxy. Dropping it stops accepting connections.
#[derive(Debug)]
pub(crate) struct Proxy {
    port: u16,
    table: Arc<Table>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Proxy {
    /// Binds `127.0.0.1:<port>` (0 = any free port) and starts serving.
    pub(crate) async fn start(port: u16, upstream_timeout: Duration) -> Result<Self, DeployError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| DeployError::io(format!("cannot bind proxy port {port}"), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| DeployError::io("cannot read the proxy's address", e))?
            .port();
        let table = Arc::new(Table::default());
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        // Streamed bodies go out in several writes: without TCP_NODELAY, Nagle's algorithm
        // and delayed ACKs add ~40 ms to many responses.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        tracker.spawn(accept_loop(
            listener,
            Arc::clone(&table),
            client,
            upstream_timeout,
            cancel.clone(),
            tracker.clone(),
        ));
        Ok(Self {
            port,
            table,
            cancel,
            tracker,
        })
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the routes; requests already forwarded finish on their old backend.
    pub(crate) fn set_routes(&self, routes: Routes) {
        *self.table.routes.write().unwrap_or_else(|e| e.into_inner()) = routes;
    }

    /// Stops accepting, lets open requests finish (bounded), then returns.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = timeout(DRAIN, self.tracker.wait()).await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    table: Arc<Table>,
    client: Client<HttpConnector, Incoming>,
    upstream_timeout: Duration,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let (stream, _) = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a proxy connection");
        }
        let table = Arc::clone(&table);
        let client = client.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let service = service_fn(move |request| {
                forward(
                    Arc::clone(&table),
                    client.clone(),
                    upstream_timeout,
                    request,
                )
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = cancel.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = timeout(DRAIN, connection).await;
                }
            }
        });
    }
}

/// Headers that concern one connection and are not forwarded.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

async fn forward(
    table: Arc<Table>,
    client: Client<HttpConnector, Incoming>,
    upstream_timeout: Duration,
    mut request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let Some((port, deployment)) = table.pick() else {
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "no instance of this service is running\n",
        ));
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let uri: Uri = match format!("http://127.0.0.1:{port}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return Ok(plain(StatusCode::BAD_REQUEST, "invalid request path\n")),
    };
    *request.uri_mut() = uri;
    for name in &HOP_BY_HOP {
        request.headers_mut().remove(name);
    }
    let upstream = SocketAddr::from(([127, 0, 0, 1], port));
    match timeout(upstream_timeout, client.request(request)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            for name in &HOP_BY_HOP {
                parts.headers.remove(name);
            }
            parts.headers.insert(
                HeaderName::from_static(DEPLOYMENT_HEADER),
                HeaderValue::from_static(deployment),
            );
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Ok(Err(e)) => {
            tracing::debug!(%upstream, error = %e, "proxy upstream request failed");
            Ok(plain(
                StatusCode::BAD_GATEWAY,
                &format!("the {deployment} instance at {upstream} did not answer\n"),
            ))
        }
        Err(_) => Ok(plain(
            StatusCode::GATEWAY_TIMEOUT,
            &format!("the {deployment} instance at {upstream} did not answer in time\n"),
        )),
    }
}

fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(text.to_owned()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(primary: Vec<u16>, canary: Vec<u16>, canary_weight: u8) -> Table {
        let t = Table::default();
        *t.routes.write().unwrap() = Routes {
            primary,
            canary,
            canary_weight,
        };
        t
    }

    fn count(t: &Table, n: usize) -> std::collections::BTreeMap<u16, usize> {
        let mut m = std::collections::BTreeMap::new();
        for _ in 0..n {
            *m.entry(t.pick().unwrap().0).or_default() += 1;
        }
        m
    }

    #[test]
    fn weights_split_exactly_per_hundred_requests() {
        let t = table(vec![1], vec![2], 30);
        let m = count(&t, 1000);
        assert_eq!(m[&1], 700);
        assert_eq!(m[&2], 300);
        assert_eq!(count(&table(vec![1], vec![2], 100), 50)[&2], 50);
        assert_eq!(count(&table(vec![1], vec![2], 0), 50)[&1], 50);
    }

    #[test]
    fn replicas_share_the_traffic() {
        let m = count(&table(vec![1, 2, 3], vec![], 0), 300);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [100, 100, 100]);
    }

    #[test]
    fn no_backend_is_none_and_canary_alone_serves() {
        assert!(table(vec![], vec![], 0).pick().is_none());
        assert_eq!(table(vec![], vec![9], 0).pick().unwrap(), (9, "canary"));
    }
}
