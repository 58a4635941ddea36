//! A control plane in memory behind a real HTTP listener.

use std::sync::Arc;
use std::time::Duration;

use keptn_core::api::{self, ApiConfig, ApiState};
use keptn_core::configstore::{ConfigStore, GitConfigStore, GitStoreOptions, MemoryConfigStore};
use keptn_core::datastore::{EventStore, Ingester, MemoryEventStore};
use keptn_core::orchestrator::store::MemorySequenceStore;
use keptn_core::orchestrator::{Controller, ControllerConfig};
use keptn_core::projects::ConfigShipyardSource;
use keptn_core::uniform::{Uniform, UniformConfig};
use keptn_sdk::client::ApiClient;
use keptn_sdk::transport::{MemoryTransport, Transport};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-token";
pub const SHIPYARD: &str = include_str!("../../../testdata/keptn-examples/shipyard-sockshop.yaml");

pub struct TestApi {
    pub base: String,
    pub client: ApiClient,
    pub http: reqwest::Client,
    pub _dir: Option<tempfile::TempDir>,
    stop: CancellationToken,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start() -> TestApi {
    start_with(false).await
}

/// With `git`, the configuration store is a git store in a temporary directory that accepts
/// `file://` upstreams.
pub async fn start_with(git: bool) -> TestApi {
    let transport = MemoryTransport::default();
    let events: Arc<dyn EventStore> = Arc::new(MemoryEventStore::new());
    let (config, dir): (Arc<dyn ConfigStore>, _) = if git {
        let dir = tempfile::tempdir().unwrap();
        let mut options = GitStoreOptions::default();
        options.allow_file_upstreams = true;
        let store = GitConfigStore::open(dir.path().join("config"), options).unwrap();
        (Arc::new(store), Some(dir))
    } else {
        (Arc::new(MemoryConfigStore::new()), None)
    };
    let stop = CancellationToken::new();

    let ingester = Ingester::subscribe(Arc::clone(&events), &transport)
        .await
        .unwrap();
    let s = stop.clone();
    tokio::spawn(ingester.run(async move { s.cancelled().await }));

    let controller = Controller::new(
        Arc::new(MemorySequenceStore::new()),
        Arc::new(transport.clone()) as Arc<dyn Transport>,
        Arc::new(ConfigShipyardSource::new(Arc::clone(&config))),
        ControllerConfig::default(),
    );
    let handle = controller.handle();
    let s = stop.clone();
    tokio::spawn(controller.run(async move { s.cancelled().await }));
    // The controller subscribes when it runs; wait for it so no event passes it by.
    tokio::time::timeout(Duration::from_secs(5), async {
        while transport.subscription_count() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the controller subscribes");

    let state = ApiState::new(
        ApiConfig::new(TOKEN),
        Arc::new(transport.clone()),
        events,
        config,
        handle,
        Arc::new(Uniform::new(UniformConfig::default())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = stop.clone();
    tokio::spawn(api::serve(
        listener,
        state,
        async move { s.cancelled().await },
    ));
    let base = format!("http://{addr}");
    TestApi {
        client: ApiClient::new(&format!("{base}/api"), Some(TOKEN.to_owned())).unwrap(),
        http: reqwest::Client::new(),
        base,
        _dir: dir,
        stop,
    }
}

impl TestApi {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("x-token", TOKEN)
    }

    pub async fn create_sockshop(&self) {
        use base64::Engine;
        self.client
            .create_project(&keptn_sdk::api::CreateProjectParams {
                name: "sockshop".into(),
                shipyard: Some(base64::engine::general_purpose::STANDARD.encode(SHIPYARD)),
                ..Default::default()
            })
            .await
            .unwrap();
        self.client
            .create_service("sockshop", "carts")
            .await
            .unwrap();
    }
}

/// Retries `check` until it returns `Some` or 10 s pass.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status and JSON body of a response.
pub async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}
