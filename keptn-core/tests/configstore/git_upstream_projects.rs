//! Projects and their upstream settings: creation from an upstream with history, adding and
//! removing an upstream, merging an unrelated history, failed creations, accepted URL schemes and
//! credentials.

use std::sync::{Arc, Mutex};

use keptn_core::configstore::{
    ConfigStore, ConfigStoreErrorKind, GitConfigStore, GitStoreOptions, ProjectSetup, ReadOptions,
    Resource, Scope, Upstream,
};

use super::git_upstream::{read, with_upstream};
use super::support::{Remote, git_store, sockshop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_created_on_an_upstream_with_history_takes_its_branches() {
    let remote = Remote::new();
    {
        let (_dir, first) = git_store();
        let setup = ProjectSetup {
            default_branch: Some("master".to_owned()),
            ..with_upstream(&remote)
        };
        sockshop(&first, "sockshop", setup).await;
        first
            .put_resources(
                &Scope::service("sockshop", "staging", "carts"),
                vec![Resource::new("slo.yaml", "from the first store")],
                None,
            )
            .await
            .unwrap();
    }
    // Point the remote's HEAD at master, as a git server does for its default branch.
    git2::Repository::open_bare(&remote.path)
        .unwrap()
        .set_head("refs/heads/master")
        .unwrap();
    let (_dir, second) = git_store();
    second
        .create_project("sockshop", with_upstream(&remote))
        .await
        .expect("create from the upstream");
    assert_eq!(
        second.stages("sockshop").await.unwrap(),
        vec!["dev", "production", "staging"]
    );
    let slo = read(
        &second,
        &Scope::service("sockshop", "staging", "carts"),
        "slo.yaml",
        ReadOptions::latest(),
    )
    .await;
    assert_eq!(slo.as_deref(), Some(&b"from the first store"[..]));
    let metadata = second
        .get_resource(
            &Scope::project("sockshop"),
            "metadata.yaml",
            &ReadOptions::latest(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        metadata.metadata.branch, "master",
        "the upstream's default branch is used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_is_added_to_an_existing_project_and_removed_again() {
    let (_dir, store) = git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "local")], None)
        .await
        .unwrap();

    let offline_remote = Remote::new();
    let offline = offline_remote.take_offline();
    let err = store
        .update_upstream("sockshop", Some(Upstream::anonymous(&offline_remote.url)))
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    drop(offline);
    // The failed change left the project without an upstream: writes stay local.
    store
        .put_resources(&carts, vec![Resource::new("sli.yaml", "local")], None)
        .await
        .expect("local write");
    assert!(offline_remote.tip("dev").is_none());

    let remote = Remote::new();
    store
        .update_upstream("sockshop", Some(Upstream::anonymous(&remote.url)))
        .await
        .expect("set upstream");
    for branch in ["main", "dev", "staging", "production"] {
        assert!(remote.tip(branch).is_some(), "{branch} pushed");
    }
    assert_eq!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"local"[..])
    );

    store
        .update_upstream("sockshop", None)
        .await
        .expect("remove upstream");
    let remote_tip = remote.tip("dev");
    store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "offline")], None)
        .await
        .unwrap();
    assert_eq!(remote.tip("dev"), remote_tip, "no push without an upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_creation_with_an_upstream_leaves_no_project() {
    let (dir, store) = git_store();
    let remote = Remote::new();
    let offline = remote.take_offline();
    let err = store
        .create_project("sockshop", with_upstream(&remote))
        .await
        .expect_err("unreachable upstream");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    assert!(err.to_string().contains(&remote.url), "{err}");
    drop(offline);
    assert!(store.projects().await.unwrap().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("repos"))
        .unwrap()
        .collect();
    assert!(
        leftovers.is_empty(),
        "no folder is left behind: {leftovers:?}"
    );
    store
        .create_project("sockshop", with_upstream(&remote))
        .await
        .expect("the name is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_upstreams_are_accepted_only_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let store = GitConfigStore::open(dir.path(), GitStoreOptions::default()).unwrap();
    let remote = Remote::new();
    let err = store
        .create_project("sockshop", with_upstream(&remote))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConfigStoreErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("file:// upstreams are not enabled"),
        "{err}"
    );

    // An https upstream either lacks its transport in this build (InvalidInput) or cannot be
    // reached (Upstream); either way the error is clear and nothing is created.
    let setup = ProjectSetup {
        upstream: Some(Upstream::with_token(
            "https://127.0.0.1:1/sockshop.git",
            "keptn",
            "t0ken",
        )),
        ..ProjectSetup::default()
    };
    let err = store.create_project("sockshop", setup).await.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ConfigStoreErrorKind::InvalidInput | ConfigStoreErrorKind::Upstream
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("t0ken"), "{err}");
    assert!(store.projects().await.unwrap().is_empty());
}

/// A fake git server on loopback that answers every request with 401 and records the
/// `Authorization` headers it was sent. Stops after `seconds`.
fn refusing_http_server(seconds: u64) -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/sockshop.git", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while std::time::Instant::now() < deadline {
            let (stream, _) = match listener.accept() {
                Ok(conn) => conn,
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                }
            };
            stream.set_nonblocking(false).ok();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .ok();
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut auth = String::from("<none>");
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                if let Some(value) = line.strip_prefix("Authorization: ") {
                    auth = value.trim().to_owned();
                }
                line.clear();
            }
            record.lock().unwrap().push(auth);
            let mut stream = stream;
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_credentials_are_sent_and_a_refusal_is_reported_clearly() {
    let (url, seen) = refusing_http_server(30);
    let (_dir, store) = git_store();
    let setup = ProjectSetup {
        upstream: Some(Upstream::with_token(&url, "keptn@example.com", "t0ken-123")),
        ..ProjectSetup::default()
    };
    let err = store
        .create_project("sockshop", setup)
        .await
        .expect_err("the server refuses every request");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    let text = err.to_string();
    assert!(
        text.contains("project 'sockshop'") && text.contains(&url),
        "the message names the project and the remote: {text}"
    );
    assert!(
        text.contains("refused the configured credentials"),
        "{text}"
    );
    assert!(!text.contains("t0ken-123"), "the token never shows: {text}");
    let expected = {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD.encode("keptn@example.com:t0ken-123");
        format!("Basic {raw}")
    };
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&expected),
        "the user and token were sent as basic authentication: {seen:?}"
    );
    assert!(store.projects().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_with_a_different_history_is_merged_with_the_upstream_winning() {
    // The upstream already holds a "sockshop" made elsewhere.
    let remote = Remote::new();
    {
        let (_dir, elsewhere) = git_store();
        sockshop(&elsewhere, "sockshop", with_upstream(&remote)).await;
        elsewhere
            .put_resources(
                &Scope::service("sockshop", "dev", "carts"),
                vec![
                    Resource::new("slo.yaml", "upstream slo"),
                    Resource::new("upstream-only.yaml", "u"),
                ],
                None,
            )
            .await
            .unwrap();
    }
    let upstream_dev = remote.tip("dev").unwrap();

    // A local project of the same name with its own history.
    let (_dir, store) = git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    let local_dev = store
        .put_resources(
            &carts,
            vec![
                Resource::new("slo.yaml", "local slo"),
                Resource::new("local-only.yaml", "l"),
            ],
            None,
        )
        .await
        .unwrap();

    store
        .update_upstream("sockshop", Some(Upstream::anonymous(&remote.url)))
        .await
        .expect("set an upstream with another history");
    let file = |path: &str| remote.file("dev", path);
    assert_eq!(
        file("carts/slo.yaml").as_deref(),
        Some(&b"upstream slo"[..]),
        "the upstream wins"
    );
    assert_eq!(file("carts/upstream-only.yaml").as_deref(), Some(&b"u"[..]));
    assert_eq!(
        file("carts/local-only.yaml").as_deref(),
        Some(&b"l"[..]),
        "local files are kept"
    );
    let repo = git2::Repository::open_bare(&remote.path).unwrap();
    let merge = repo.find_commit(remote.tip("dev").unwrap()).unwrap();
    let parents: Vec<String> = merge.parent_ids().map(|p| p.to_string()).collect();
    assert_eq!(
        parents,
        vec![local_dev.into_inner(), upstream_dev.to_string()]
    );
    assert!(
        merge.message().unwrap().contains("upstream wins"),
        "{:?}",
        merge.message()
    );
    assert_eq!(
        store
            .latest_commit("sockshop", Some("dev"))
            .await
            .unwrap()
            .into_inner(),
        merge.id().to_string()
    );
}
