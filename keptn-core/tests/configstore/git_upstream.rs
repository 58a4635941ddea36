//! Upstream sync against a local bare repository, with a second clone making conflicting
//! changes.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use keptn_core::configstore::{
    ConfigStore, ConfigStoreErrorKind, GitConfigStore, GitStoreOptions, GitTestHook, HookPoint,
    ProjectSetup, ReadOptions, Resource, Scope, Upstream,
};

use super::support::{OtherClone, Remote, git_store, git_store_with, sockshop};

fn with_upstream(remote: &Remote) -> ProjectSetup {
    ProjectSetup {
        upstream: Some(Upstream::anonymous(&remote.url)),
        ..ProjectSetup::default()
    }
}

async fn read(
    store: &GitConfigStore,
    scope: &Scope,
    uri: &str,
    options: ReadOptions,
) -> Option<Vec<u8>> {
    store
        .get_resource(scope, uri, &options)
        .await
        .expect("read")
        .map(|r| r.content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_pushed_to_the_upstream() {
    let (_dir, store) = git_store();
    let remote = Remote::new();
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    assert!(remote.file("main", "metadata.yaml").is_some());
    for stage in ["dev", "staging", "production"] {
        assert!(
            remote.file(stage, "carts/metadata.yaml").is_some(),
            "stage {stage} and service carts are pushed"
        );
    }
    let carts = Scope::service("sockshop", "dev", "carts");
    let v1 = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "v1")], None)
        .await
        .unwrap();
    assert_eq!(
        remote.tip("dev").map(|o| o.to_string()),
        Some(v1.clone().into_inner())
    );
    assert_eq!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"v1"[..])
    );
    store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "v2")], None)
        .await
        .unwrap();
    let old = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::at(v1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.content, b"v1");
    assert_eq!(
        old.metadata.upstream_url.as_deref(),
        Some(remote.url.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_pull_changes_pushed_by_another_clone_unless_told_not_to() {
    let (_dir, store) = git_store();
    let remote = Remote::new();
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    let other = OtherClone::of(&remote);
    other.commit_and_push("dev", "carts/slo.yaml", b"from the other clone");
    let carts = Scope::service("sockshop", "dev", "carts");
    assert_eq!(
        read(
            &store,
            &carts,
            "slo.yaml",
            ReadOptions::latest().without_upstream_sync()
        )
        .await,
        None,
        "without sync, the local repository answers"
    );
    assert_eq!(
        read(&store, &carts, "slo.yaml", ReadOptions::latest())
            .await
            .as_deref(),
        Some(&b"from the other clone"[..]),
        "a read pulls first"
    );
    assert_eq!(
        store
            .latest_commit("sockshop", Some("dev"))
            .await
            .unwrap()
            .into_inner(),
        remote.tip("dev").unwrap().to_string()
    );
}

/// Pushes a change from another clone right before the store pushes, `times` times.
struct Racer {
    other: Mutex<OtherClone>,
    remaining: AtomicU32,
    armed: AtomicBool,
}

impl GitTestHook for Racer {
    fn on(&self, project: &str, point: HookPoint) {
        if project != "sockshop" || !self.armed.load(Ordering::SeqCst) {
            return;
        }
        if let HookPoint::BeforePush { attempt } = point {
            if self.remaining.load(Ordering::SeqCst) == 0 {
                return;
            }
            self.remaining.fetch_sub(1, Ordering::SeqCst);
            let other = self.other.lock().unwrap();
            other.commit_and_push(
                "dev",
                "carts/sli.yaml",
                format!("other {attempt}").as_bytes(),
            );
            other.commit_and_push(
                "dev",
                "carts/slo.yaml",
                format!("older slo {attempt}").as_bytes(),
            );
        }
    }
}

fn racer(remote: &Remote, times: u32) -> Arc<Racer> {
    Arc::new(Racer {
        other: Mutex::new(OtherClone::of(remote)),
        remaining: AtomicU32::new(times),
        armed: AtomicBool::new(false),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_rejected_because_another_clone_pushed_is_retried_on_top_of_the_upstream() {
    let remote = Remote::new();
    let racer = racer(&remote, 1);
    let (_dir, store) = git_store_with(GitStoreOptions::default().test_hook(racer.clone()));
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    racer.armed.store(true, Ordering::SeqCst);

    let carts = Scope::service("sockshop", "dev", "carts");
    let commit = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "mine")], None)
        .await
        .expect("the write lands after one retry");
    assert_eq!(
        racer.remaining.load(Ordering::SeqCst),
        0,
        "the race happened"
    );
    assert_eq!(remote.tip("dev").unwrap().to_string(), commit.as_str());
    assert_eq!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"mine"[..]),
        "the write is applied on top of the other clone's change to the same file"
    );
    assert_eq!(
        remote.file("dev", "carts/sli.yaml").as_deref(),
        Some(&b"other 1"[..]),
        "the other clone's other change is kept"
    );
    let local = read(
        &store,
        &carts,
        "sli.yaml",
        ReadOptions::latest().without_upstream_sync(),
    )
    .await;
    assert_eq!(local.as_deref(), Some(&b"other 1"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_keeps_moving_fails_with_conflict_and_nothing_is_written() {
    let remote = Remote::new();
    let racer = racer(&remote, 2);
    let options = GitStoreOptions::default()
        .test_hook(racer.clone())
        .push_attempts(2);
    let (_dir, store) = git_store_with(options);
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    racer.armed.store(true, Ordering::SeqCst);

    let carts = Scope::service("sockshop", "dev", "carts");
    let err = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "mine")], None)
        .await
        .expect_err("the upstream moved at every push");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Conflict);
    let text = err.to_string();
    assert!(
        text.contains("sockshop") && text.contains(&remote.url),
        "{text}"
    );
    let local = read(
        &store,
        &carts,
        "slo.yaml",
        ReadOptions::latest().without_upstream_sync(),
    )
    .await;
    assert_ne!(
        local.as_deref(),
        Some(&b"mine"[..]),
        "the write is not in the local repository"
    );
    assert_ne!(
        remote.file("dev", "carts/slo.yaml").as_deref(),
        Some(&b"mine"[..])
    );

    // Once the upstream is quiet, the same write goes through and includes everything.
    let commit = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "mine")], None)
        .await
        .expect("write after the race");
    assert_eq!(remote.tip("dev").unwrap().to_string(), commit.as_str());
    assert_eq!(
        remote.file("dev", "carts/sli.yaml").as_deref(),
        Some(&b"other 2"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_fails_clearly_and_leaves_the_local_repository_unchanged() {
    let (_dir, store) = git_store();
    let remote = Remote::new();
    sockshop(&store, "sockshop", with_upstream(&remote)).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "before")], None)
        .await
        .unwrap();
    let tip = store.latest_commit("sockshop", Some("dev")).await.unwrap();

    let offline = remote.take_offline();
    let err = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "during")], None)
        .await
        .expect_err("the upstream is unreachable");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    let text = err.to_string();
    assert!(
        text.contains("project 'sockshop'") && text.contains(&remote.url),
        "the message names the project and the remote: {text}"
    );
    assert!(
        text.contains("failed:"),
        "the message carries git's message: {text}"
    );
    assert_eq!(
        store.latest_commit("sockshop", Some("dev")).await.unwrap(),
        tip
    );
    let err = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::latest())
        .await
        .expect_err("a syncing read fails too");
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    assert_eq!(
        read(
            &store,
            &carts,
            "slo.yaml",
            ReadOptions::latest().without_upstream_sync()
        )
        .await
        .as_deref(),
        Some(&b"before"[..]),
        "reads without sync still work"
    );
    let err = store
        .create_stage("sockshop", "hardening")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConfigStoreErrorKind::Upstream);
    assert!(
        !store
            .stages("sockshop")
            .await
            .unwrap()
            .contains(&"hardening".to_owned())
    );

    drop(offline);
    let commit = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "after")], None)
        .await
        .expect("the upstream is back");
    assert_eq!(remote.tip("dev").unwrap().to_string(), commit.as_str());
}

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
