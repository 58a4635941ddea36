//! The git backend's repository layout, commit messages, history, persistence and helm charts.

use std::io::Read;
use std::path::Path;

use git2::Repository;
use keptn_core::configstore::{
    ConfigStore, ConfigStoreErrorKind, GitConfigStore, GitStoreOptions, ProjectSetup, ReadOptions,
    Resource, Scope,
};

use super::support::{git_store, read_file, sockshop};

fn open(store: &GitConfigStore, project: &str) -> Repository {
    Repository::open_bare(store.project_path(project)).expect("the project is a bare repository")
}

fn message_of(repo: &Repository, commit: &str) -> String {
    let oid = git2::Oid::from_str(commit).expect("oid");
    repo.find_commit(oid)
        .expect("commit")
        .message()
        .expect("utf-8 message")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_are_repositories_with_a_branch_per_stage_and_a_folder_per_service() {
    let (_dir, store) = git_store();
    let setup = ProjectSetup {
        shipyard: Some(b"kind: Shipyard\n".to_vec()),
        ..ProjectSetup::default()
    };
    sockshop(&store, "sockshop", setup).await;
    let repo = open(&store, "sockshop");
    assert!(repo.is_bare());
    assert_eq!(
        repo.find_reference("HEAD").unwrap().symbolic_target(),
        Some("refs/heads/main")
    );
    let main = read_file(&repo, "refs/heads/main", "metadata.yaml").expect("project metadata");
    let main = String::from_utf8(main).unwrap();
    assert!(main.contains("ProjectName: sockshop"), "{main}");
    assert!(main.contains("CreationTimestamp:"), "{main}");
    assert_eq!(
        read_file(&repo, "refs/heads/main", "shipyard.yaml").as_deref(),
        Some(&b"kind: Shipyard\n"[..])
    );
    for stage in ["dev", "staging", "production"] {
        let refname = format!("refs/heads/{stage}");
        let service = read_file(&repo, &refname, "carts/metadata.yaml").expect("service metadata");
        let service = String::from_utf8(service).unwrap();
        assert!(service.contains("ServiceName: carts"), "{service}");
        assert!(
            read_file(&repo, &refname, "shipyard.yaml").is_some(),
            "stage branches start from main"
        );
    }
    assert!(read_file(&repo, "refs/heads/main", "carts/metadata.yaml").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_a_commit_with_a_meaningful_message() {
    let options = GitStoreOptions::default().author("Keptn Test", "test@keptn.sh");
    let (_dir, store) = super::support::git_store_with(options);
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let carts = Scope::service("sockshop", "staging", "carts");
    let added = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "a")], None)
        .await
        .unwrap();
    let updated = store
        .put_resources(&carts, vec![Resource::new("slo.yaml", "b")], None)
        .await
        .unwrap();
    let custom = store
        .put_resources(
            &carts,
            vec![Resource::new("sli.yaml", "c")],
            Some("Configure SLIs"),
        )
        .await
        .unwrap();
    let deleted = store.delete_resource(&carts, "slo.yaml").await.unwrap();
    let project = store
        .put_resources(
            &Scope::project("sockshop"),
            vec![Resource::new("shipyard.yaml", "x")],
            None,
        )
        .await
        .unwrap();
    let repo = open(&store, "sockshop");
    assert_eq!(
        message_of(&repo, added.as_str()),
        "Added resource slo.yaml to service carts in stage staging"
    );
    assert_eq!(
        message_of(&repo, updated.as_str()),
        "Updated resource slo.yaml in service carts in stage staging"
    );
    assert_eq!(message_of(&repo, custom.as_str()), "Configure SLIs");
    assert_eq!(
        message_of(&repo, deleted.as_str()),
        "Deleted resource slo.yaml from service carts in stage staging"
    );
    assert_eq!(
        message_of(&repo, project.as_str()),
        "Added resource shipyard.yaml to project sockshop"
    );
    let commit = repo
        .find_commit(git2::Oid::from_str(added.as_str()).unwrap())
        .unwrap();
    assert_eq!(commit.author().name(), Some("Keptn Test"));
    assert_eq!(commit.committer().email(), Some("test@keptn.sh"));
    assert_eq!(
        repo.refname_to_id("refs/heads/staging")
            .unwrap()
            .to_string(),
        project_tip(&store, "staging").await
    );
}

async fn project_tip(store: &GitConfigStore, stage: &str) -> String {
    store
        .latest_commit("sockshop", Some(stage))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_is_read_at_an_older_commit_after_it_changed() {
    let (_dir, store) = git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    let sequence_stamp = store
        .put_resources(
            &carts,
            vec![Resource::new("slo.yaml", "objectives: [v1]\n")],
            None,
        )
        .await
        .unwrap();
    // A sequence is stamped with this commit; the configuration changes while it runs.
    assert_eq!(
        store.latest_commit("sockshop", Some("dev")).await.unwrap(),
        sequence_stamp
    );
    store
        .put_resources(
            &carts,
            vec![Resource::new("slo.yaml", "objectives: [v2]\n")],
            None,
        )
        .await
        .unwrap();
    let at_stamp = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::at(sequence_stamp.clone()))
        .await
        .unwrap()
        .expect("slo.yaml at the stamp");
    assert_eq!(at_stamp.content, b"objectives: [v1]\n");
    assert_eq!(at_stamp.metadata.version, sequence_stamp);
    assert_eq!(at_stamp.metadata.branch, "dev");
    let latest = store
        .get_resource(&carts, "slo.yaml", &ReadOptions::latest())
        .await
        .unwrap()
        .expect("slo.yaml at the tip");
    assert_eq!(latest.content, b"objectives: [v2]\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_survive_a_restart_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    let commit = {
        let store =
            GitConfigStore::open(&root, GitStoreOptions::default().default_branch("master"))
                .unwrap();
        sockshop(&store, "sockshop", ProjectSetup::default()).await;
        store
            .put_resources(
                &Scope::service("sockshop", "dev", "carts"),
                vec![Resource::new("slo.yaml", "kept")],
                None,
            )
            .await
            .unwrap()
    };
    // Leftovers of an interrupted creation are cleaned at open.
    std::fs::create_dir_all(root.join(".keptn-tmp-interrupted")).unwrap();
    let store = GitConfigStore::open(&root, GitStoreOptions::default()).unwrap();
    assert!(!root.join(".keptn-tmp-interrupted").exists());
    assert_eq!(store.projects().await.unwrap(), vec!["sockshop"]);
    assert_eq!(
        store.stages("sockshop").await.unwrap(),
        vec!["dev", "production", "staging"]
    );
    assert_eq!(
        store.services("sockshop", "dev").await.unwrap(),
        vec!["carts"]
    );
    let read = store
        .get_resource(
            &Scope::service("sockshop", "dev", "carts"),
            "slo.yaml",
            &ReadOptions::latest(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.content, b"kept");
    assert_eq!(read.metadata.version, commit);
    let project = store
        .get_resource(
            &Scope::project("sockshop"),
            "metadata.yaml",
            &ReadOptions::latest(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        project.metadata.branch, "master",
        "the default branch is the repository's HEAD"
    );
}

/// A helm chart archive like `helm package` makes: `carts/Chart.yaml`, ...
fn chart_archive(values: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let files = [
        (
            "carts/Chart.yaml",
            "apiVersion: v2\nname: carts\nversion: 0.1.0\n".to_owned(),
        ),
        ("carts/values.yaml", values.to_owned()),
        (
            "carts/templates/deployment.yaml",
            "kind: Deployment\n".to_owned(),
        ),
    ];
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(1_700_000_000);
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn unpack(archive: &[u8]) -> Vec<(String, String)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut files: Vec<(String, String)> = tar
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            (path, content)
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_charts_are_kept_unpacked_and_archived_again_on_read() {
    let (_dir, store) = git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    let v1 = chart_archive("replicas: 1\n");
    let first = store
        .put_resources(
            &carts,
            vec![Resource::new("helm/carts.tgz", v1.clone())],
            None,
        )
        .await
        .unwrap();
    let repo = open(&store, "sockshop");
    assert_eq!(
        read_file(&repo, "refs/heads/dev", "carts/helm/carts/values.yaml").as_deref(),
        Some(&b"replicas: 1\n"[..]),
        "the chart is unpacked in git"
    );
    assert!(read_file(&repo, "refs/heads/dev", "carts/helm/carts.tgz").is_none());
    assert_eq!(
        store
            .list_resources(&carts, &ReadOptions::latest())
            .await
            .unwrap(),
        vec!["helm/carts.tgz", "metadata.yaml"]
    );
    let read = store
        .get_resource(&carts, "helm/carts.tgz", &ReadOptions::latest())
        .await
        .unwrap()
        .expect("the chart");
    assert_eq!(
        unpack(&read.content),
        unpack(&v1),
        "same files as the uploaded archive"
    );
    // Single files of the chart can be read too.
    let values = store
        .get_resource(&carts, "helm/carts/values.yaml", &ReadOptions::latest())
        .await
        .unwrap()
        .expect("values.yaml");
    assert_eq!(values.content, b"replicas: 1\n");

    // A new version replaces the folder; the old one stays readable at its commit.
    let v2 = chart_archive("replicas: 3\n");
    store
        .put_resources(
            &carts,
            vec![Resource::new("helm/carts.tgz", v2.clone())],
            None,
        )
        .await
        .unwrap();
    let now = store
        .get_resource(&carts, "helm/carts.tgz", &ReadOptions::latest())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unpack(&now.content), unpack(&v2));
    let then = store
        .get_resource(&carts, "helm/carts.tgz", &ReadOptions::at(first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unpack(&then.content), unpack(&v1));

    store
        .delete_resource(&carts, "helm/carts.tgz")
        .await
        .unwrap();
    assert!(read_file(&repo, "refs/heads/dev", "carts/helm/carts/Chart.yaml").is_none());
    assert!(
        store
            .get_resource(&carts, "helm/carts.tgz", &ReadOptions::latest())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_helm_archives_are_rejected_and_nothing_is_written() {
    let (_dir, store) = git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let carts = Scope::service("sockshop", "dev", "carts");
    let before = store.latest_commit("sockshop", Some("dev")).await.unwrap();
    let err = store
        .put_resources(
            &carts,
            vec![Resource::new("helm/carts.tgz", "plain text")],
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConfigStoreErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("helm chart 'helm/carts.tgz'"),
        "{err}"
    );
    assert_eq!(
        store.latest_commit("sockshop", Some("dev")).await.unwrap(),
        before
    );
    assert!(
        !Path::new(&store.project_path("sockshop"))
            .join("carts")
            .exists()
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_attempts_are_rejected_with_a_clear_error_and_nothing_is_written() {
    let (dir, store) = git_store();
    sockshop(&store, "sockshop", ProjectSetup::default()).await;
    let files_before = files_under(dir.path());
    let tips_before = (
        store.latest_commit("sockshop", None).await.unwrap(),
        store.latest_commit("sockshop", Some("dev")).await.unwrap(),
    );
    let carts = Scope::service("sockshop", "dev", "carts");
    for uri in [
        "../../../../etc/cron.d/pwned",
        "../production/carts/slo.yaml",
        "/tmp/pwned",
        ".git/hooks/post-commit",
        "helm/../../../HEAD",
        "a\\..\\..\\b",
    ] {
        let err = store
            .put_resources(&carts, vec![Resource::new(uri, "pwned")], None)
            .await
            .expect_err("rejected");
        assert_eq!(
            err.kind(),
            ConfigStoreErrorKind::InvalidInput,
            "{uri}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("invalid resource uri") && text.contains("not allowed"),
            "the error says which uri and why: {text}"
        );
    }
    assert_eq!(
        files_under(dir.path()),
        files_before,
        "no file was created or removed"
    );
    assert_eq!(
        (
            store.latest_commit("sockshop", None).await.unwrap(),
            store.latest_commit("sockshop", Some("dev")).await.unwrap(),
        ),
        tips_before
    );
}
