//! Helm charts: a service resource `helm/<name>.tgz` is kept unpacked in git, in the folder
//! `helm/<name>/` (as Keptn's configuration service did, so that charts diff well), and archived
//! again when it is read.
//!
//! Unpacking strips the archive's single top-level folder (`carts/Chart.yaml` becomes
//! `helm/carts/Chart.yaml`); packing writes `<name>/<file>` entries, sorted, with mode 0644 (0755
//! for executables), owner 0 and time 0, so the same files always give the same archive. The
//! archive read back holds the same files as the one written, not the same bytes.

use std::io::Read;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::configstore::error::{ConfigStoreError, ConfigStoreErrorKind, Result};
use crate::configstore::names::validate_uri;

/// The largest unpacked chart accepted, in bytes.
pub(crate) const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;
/// The most files a chart may have.
pub(crate) const MAX_CHART_FILES: usize = 10_000;

/// One file of an unpacked chart, its path relative to the chart folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChartFile {
    pub(crate) path: String,
    pub(crate) content: Vec<u8>,
    pub(crate) executable: bool,
}

/// The chart name when a service-relative `uri` is `helm/<name>.tgz`.
pub(crate) fn chart_name(uri: &str) -> Option<&str> {
    let name = uri.strip_prefix("helm/")?.strip_suffix(".tgz")?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// Unpacks a gzip-compressed tar archive into the files of its single top-level folder.
/// `what` names the resource for messages.
pub(crate) fn unpack(what: &str, archive: &[u8]) -> Result<Vec<ChartFile>> {
    let invalid = |why: String| ConfigStoreError::invalid(format!("helm chart {what}: {why}"));
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|e| invalid(format!("not a gzip-compressed tar archive ({e})")))?;
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| invalid(format!("not a gzip-compressed tar archive ({e})")))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = entry
            .path()
            .map_err(|e| invalid(format!("an entry has an unreadable path ({e})")))?;
        let raw = raw
            .to_str()
            .ok_or_else(|| invalid("an entry path is not UTF-8".to_owned()))?
            .to_owned();
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(invalid(format!(
                "entry '{raw}' is a link or special file; only regular files are accepted"
            )));
        }
        let path = raw.trim_start_matches("./").to_owned();
        validate_uri(&path).map_err(|e| invalid(format!("entry rejected: {}", e.message())))?;
        if files.len() >= MAX_CHART_FILES {
            return Err(invalid(format!("it has more than {MAX_CHART_FILES} files")));
        }
        let size = entry.header().size().unwrap_or(0);
        total = total.saturating_add(size);
        if total > MAX_CHART_BYTES {
            return Err(invalid(format!(
                "it unpacks to more than {MAX_CHART_BYTES} bytes"
            )));
        }
        let executable = entry
            .header()
            .mode()
            .map(|m| m & 0o111 != 0)
            .unwrap_or(false);
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry
            .by_ref()
            .take(MAX_CHART_BYTES)
            .read_to_end(&mut content)
            .map_err(|e| invalid(format!("entry '{path}' cannot be read ({e})")))?;
        files.push(ChartFile {
            path,
            content,
            executable,
        });
    }
    strip_top_folder(&mut files).map_err(invalid)?;
    Ok(files)
}

fn strip_top_folder(files: &mut [ChartFile]) -> std::result::Result<(), String> {
    let Some(first) = files.first() else {
        return Err("the archive holds no files".to_owned());
    };
    let top = match first.path.split_once('/') {
        Some((top, _)) => top.to_owned(),
        None => {
            return Err(format!(
                "file '{}' is outside a chart folder; the archive must hold one top-level folder",
                first.path
            ));
        }
    };
    let prefix = format!("{top}/");
    for file in files.iter_mut() {
        match file.path.strip_prefix(&prefix) {
            Some(rest) => file.path = rest.to_owned(),
            None => {
                return Err(format!(
                    "file '{}' is outside folder '{top}'; the archive must hold one top-level \
                     folder",
                    file.path
                ));
            }
        }
    }
    Ok(())
}

/// Packs the files of a chart folder as `<name>/<path>` entries of a gzip-compressed tar.
pub(crate) fn pack(name: &str, mut files: Vec<ChartFile>) -> Result<Vec<u8>> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let fail = |e: std::io::Error| {
        ConfigStoreError::with_source(
            ConfigStoreErrorKind::Backend,
            format!("archiving helm chart '{name}' failed"),
            e,
        )
    };
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for file in &files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.content.len() as u64);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(
                &mut header,
                format!("{name}/{}", file.path),
                file.content.as_slice(),
            )
            .map_err(fail)?;
    }
    let encoder = builder.into_inner().map_err(fail)?;
    encoder.finish().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> ChartFile {
        ChartFile {
            path: path.to_owned(),
            content: content.as_bytes().to_vec(),
            executable: false,
        }
    }

    #[test]
    fn only_helm_tgz_uris_are_charts() {
        assert_eq!(chart_name("helm/carts.tgz"), Some("carts"));
        assert_eq!(chart_name("helm/x/carts.tgz"), None);
        assert_eq!(chart_name("carts.tgz"), None);
        assert_eq!(chart_name("helm/.tgz"), None);
    }

    #[test]
    fn packing_then_unpacking_gives_the_same_files() {
        let files = vec![
            file("Chart.yaml", "name: carts\n"),
            file("templates/deployment.yaml", "kind: Deployment\n"),
            file("values.yaml", "image: carts\n"),
        ];
        let archive = pack("carts", files.clone()).unwrap();
        assert_eq!(&archive[..2], &[0x1f, 0x8b]);
        assert_eq!(unpack("helm/carts.tgz", &archive).unwrap(), files);
        assert_eq!(
            pack("carts", files).unwrap(),
            archive,
            "packing is deterministic"
        );
    }

    #[test]
    fn archives_must_hold_one_folder_of_safe_paths() {
        let err = unpack("helm/x.tgz", b"not an archive").unwrap_err();
        assert_eq!(err.kind(), ConfigStoreErrorKind::InvalidInput);
        assert!(err.message().contains("helm chart helm/x.tgz"), "{err}");

        let loose = pack_raw(&[("Chart.yaml", "x")]);
        let err = unpack("helm/x.tgz", &loose).unwrap_err();
        assert!(err.message().contains("top-level folder"), "{err}");

        let escape = pack_raw(&[("x/../../etc/passwd", "root")]);
        let err = unpack("helm/x.tgz", &escape).unwrap_err();
        assert!(err.message().contains("'..'"), "{err}");
    }

    /// A tar.gz with raw entry names, bypassing the path checks of the tar builder.
    fn pack_raw(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, content.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }
}
