//! Validation of project, stage, service and branch names, resource URIs, commit ids and upstream
//! URLs. Every check runs before anything is written.

use keptn_sdk::event::GitCommitId;

use super::error::{ConfigStoreError, Result};

/// The longest project name Keptn accepts.
pub const MAX_PROJECT_NAME_LEN: usize = 200;
/// The longest stage name accepted (a git branch name; Keptn sets no smaller limit).
pub const MAX_STAGE_NAME_LEN: usize = 200;
/// The longest service name Keptn accepts (helm release names `<project>-<stage>-<service>`).
pub const MAX_SERVICE_NAME_LEN: usize = 43;
/// The longest resource URI accepted, in bytes.
pub const MAX_URI_LEN: usize = 4096;
const MAX_COMPONENT_LEN: usize = 255;

/// Checks a project name: a lowercase letter first, then lowercase letters, digits and `-`, not
/// ending with `-`, at most [`MAX_PROJECT_NAME_LEN`] characters.
pub fn validate_project_name(name: &str) -> Result<()> {
    validate_keptn_name("project", name, MAX_PROJECT_NAME_LEN)
}

/// Checks a stage name (the name of its git branch), with the rule of project names and at most
/// [`MAX_STAGE_NAME_LEN`] characters.
pub fn validate_stage_name(name: &str) -> Result<()> {
    validate_keptn_name("stage", name, MAX_STAGE_NAME_LEN)
}

/// Checks a service name, with the rule of project names and at most [`MAX_SERVICE_NAME_LEN`]
/// characters.
pub fn validate_service_name(name: &str) -> Result<()> {
    validate_keptn_name("service", name, MAX_SERVICE_NAME_LEN)
}

fn validate_keptn_name(what: &str, name: &str, max: usize) -> Result<()> {
    let expected = format!(
        "a lowercase letter first, then lowercase letters, digits or '-', not ending with '-', \
         at most {max} characters"
    );
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(first) => {
            first.is_ascii_lowercase()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.ends_with('-')
                && name.len() <= max
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigStoreError::invalid(format!(
            "invalid {what} name '{}': expected {expected}",
            name.escape_debug()
        )))
    }
}

/// Checks a default-branch name: ASCII letters, digits, `-`, `_`, `.` and `/`, not starting with
/// `-`, `.` or `/`, without `..`, `//` or `/.`, not ending with `/`, `.` or `.lock`.
pub fn validate_branch_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_STAGE_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !name.starts_with(['-', '.', '/'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("/.")
        && name != "HEAD";
    if ok {
        Ok(())
    } else {
        Err(ConfigStoreError::invalid(format!(
            "invalid default branch name '{}': expected ASCII letters, digits, '-', '_', '.' or \
             '/', a valid git branch name",
            name.escape_debug()
        )))
    }
}

/// Checks a resource URI and returns its components.
///
/// A URI is relative (no leading `/`) and normalized: no empty, `.` or `..` components, no
/// trailing `/`, no `.git` component (in any letter case), no backslash, NUL or other control
/// character, at most [`MAX_URI_LEN`] bytes and 255 bytes per component.
pub fn validate_uri(uri: &str) -> Result<Vec<&str>> {
    let fail = |why: &str| {
        Err(ConfigStoreError::invalid(format!(
            "invalid resource uri '{}': {why}",
            uri.escape_debug()
        )))
    };
    if uri.is_empty() {
        return fail("it is empty");
    }
    if uri.len() > MAX_URI_LEN {
        return fail(&format!("it is longer than {MAX_URI_LEN} bytes"));
    }
    if uri.starts_with('/') {
        return fail("absolute paths are not allowed, give a path relative to the scope");
    }
    if uri.contains('\\') {
        return fail("backslashes are not allowed, separate folders with '/'");
    }
    if uri.chars().any(char::is_control) {
        return fail("NUL and other control characters are not allowed");
    }
    let components: Vec<&str> = uri.split('/').collect();
    for component in &components {
        match *component {
            "" => return fail("empty path components ('//' or a trailing '/') are not allowed"),
            "." => return fail("'.' components are not allowed, give a normalized path"),
            ".." => return fail("'..' components are not allowed"),
            c if c.eq_ignore_ascii_case(".git") => {
                return fail("'.git' components are not allowed");
            }
            c if c.len() > MAX_COMPONENT_LEN => {
                return fail(&format!(
                    "path component '{c}' is longer than {MAX_COMPONENT_LEN} bytes"
                ));
            }
            _ => {}
        }
    }
    Ok(components)
}

/// Checks a commit id: 40 hexadecimal digits, as git prints a commit id.
pub fn validate_commit_id(commit: &GitCommitId) -> Result<()> {
    let s = commit.as_str();
    if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ConfigStoreError::invalid(format!(
            "invalid commit id '{}': expected 40 hexadecimal digits",
            s.escape_debug()
        )))
    }
}

/// Checks an upstream URL: `http://`, `https://` or `ssh://` (and `file://` when `allow_file`),
/// with a host (except for `file://`) and without a password or token in it.
pub fn validate_upstream_url(raw: &str, allow_file: bool) -> Result<url::Url> {
    let fail = |why: &str| {
        Err(ConfigStoreError::invalid(format!(
            "invalid upstream url '{}': {why}",
            redact_url(raw)
        )))
    };
    let parsed = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => return fail(&format!("not a URL ({e})")),
    };
    match parsed.scheme() {
        "http" | "https" | "ssh" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return fail("it has no host");
            }
        }
        "file" if allow_file => {
            if parsed.path().is_empty() || parsed.path() == "/" {
                return fail("it has no path");
            }
        }
        "file" => {
            return fail(
                "file:// upstreams are not enabled on this store, use http://, https:// or ssh://",
            );
        }
        other => {
            return fail(&format!(
                "scheme '{other}' is not supported, use http://, https:// or ssh://"
            ));
        }
    }
    if parsed.password().is_some() {
        return fail("credentials belong in the upstream credentials, not in the URL");
    }
    Ok(parsed)
}

/// The URL with any password replaced, for messages about URLs that were rejected.
fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            // Setting a password only fails for URLs that cannot carry one, which had none.
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configstore::ConfigStoreErrorKind;

    #[test]
    fn keptn_names_follow_the_dns_label_like_rule() {
        for ok in ["a", "sockshop", "dev-1", "p0"] {
            validate_project_name(ok).unwrap();
            validate_stage_name(ok).unwrap();
            validate_service_name(ok).unwrap();
        }
        for bad in [
            "",
            "Sockshop",
            "1dev",
            "-dev",
            "dev-",
            "my service",
            "a/b",
            "a_b",
            "ä",
        ] {
            let err = validate_project_name(bad).unwrap_err();
            assert_eq!(err.kind(), ConfigStoreErrorKind::InvalidInput);
            assert!(err.message().contains("project name"), "{err}");
        }
        validate_service_name(&"a".repeat(43)).unwrap();
        assert!(validate_service_name(&"a".repeat(44)).is_err());
        validate_project_name(&"a".repeat(200)).unwrap();
        assert!(validate_project_name(&"a".repeat(201)).is_err());
    }

    #[test]
    fn uris_must_be_relative_and_normalized() {
        assert_eq!(
            validate_uri("helm/carts.tgz").unwrap(),
            vec!["helm", "carts.tgz"]
        );
        validate_uri("dynatrace/sli file.yaml").unwrap();
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("a/../../x", "'..'"),
            ("a/./b", "'.'"),
            ("a//b", "empty path"),
            ("a/", "empty path"),
            (".git/config", "'.git'"),
            ("x/.GIT/hooks/pre-commit", "'.git'"),
            ("a\\b", "backslash"),
            ("a\0b", "NUL"),
        ];
        for (uri, why) in cases {
            let err = validate_uri(uri).unwrap_err();
            assert_eq!(err.kind(), ConfigStoreErrorKind::InvalidInput);
            assert!(err.message().contains(why), "{uri}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn accepted_uris_never_escape_their_scope(uri in "[a-zA-Z0-9./\\\\ _-]{0,40}") {
            if let Ok(components) = validate_uri(&uri) {
                proptest::prop_assert!(!uri.starts_with('/'));
                proptest::prop_assert!(!uri.contains('\\'));
                for c in components {
                    proptest::prop_assert!(!c.is_empty() && c != "." && c != "..");
                    proptest::prop_assert!(!c.eq_ignore_ascii_case(".git"));
                }
            }
        }

        #[test]
        fn a_dot_dot_component_is_always_rejected(
            before in "([a-z]{1,5}/){0,3}",
            after in "(/[a-z]{1,5}){0,3}",
        ) {
            let uri = format!("{before}..{after}");
            proptest::prop_assert!(validate_uri(&uri).is_err());
        }
    }

    #[test]
    fn branch_names_must_be_git_safe() {
        for ok in ["main", "master", "release/1.0", "my_branch"] {
            validate_branch_name(ok).unwrap();
        }
        for bad in [
            "", "-x", ".x", "a..b", "a.lock", "a/", "a b", "HEAD", "a//b",
        ] {
            assert!(validate_branch_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commit_ids_are_forty_hex_digits() {
        validate_commit_id(&GitCommitId::new("a".repeat(40))).unwrap();
        assert!(validate_commit_id(&GitCommitId::new("abc")).is_err());
        assert!(validate_commit_id(&GitCommitId::new("g".repeat(40))).is_err());
    }

    #[test]
    fn only_keptn_remote_schemes_are_accepted() {
        validate_upstream_url("https://github.com/org/repo.git", false).unwrap();
        validate_upstream_url("http://gitea.local:3000/org/repo", false).unwrap();
        validate_upstream_url("ssh://git@github.com/org/repo.git", false).unwrap();
        assert!(validate_upstream_url("file:///tmp/repo.git", false).is_err());
        validate_upstream_url("file:///tmp/repo.git", true).unwrap();
        assert!(validate_upstream_url("git@github.com:org/repo.git", false).is_err());
        assert!(validate_upstream_url("ftp://host/repo", false).is_err());
        let err =
            validate_upstream_url("https://me:tok3n@github.com/org/repo.git", false).unwrap_err();
        assert!(!err.message().contains("tok3n"), "{err}");
        assert!(err.message().contains("credentials"), "{err}");
    }
}
