//! Where test runs are kept for the `builtin` SLI provider.

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::results::LoadTestRun;
use crate::deploy::ServiceScope;

/// What kind of failure a [`ResultsError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultsErrorKind {
    /// The query or the run is invalid (names the field).
    InvalidInput,
    /// The backend could not read or write.
    Io,
}

/// A failed results-store operation.
#[derive(Debug)]
pub struct ResultsError {
    kind: ResultsErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ResultsError {
    /// An error of `kind`.
    pub fn new(kind: ResultsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> ResultsErrorKind {
        self.kind
    }
}

impl fmt::Display for ResultsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ResultsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Which runs to read: those of a service (and deployment) overlapping `[start, end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsQuery {
    /// The service.
    pub scope: ServiceScope,
    /// Only runs against this deployment name (`canary`, `direct`, ...), when given.
    pub deployment: Option<String>,
    /// Start of the timeframe.
    pub start: DateTime<Utc>,
    /// End of the timeframe.
    pub end: DateTime<Utc>,
}

impl ResultsQuery {
    /// Whether a run matches.
    pub fn matches(&self, run: &LoadTestRun) -> bool {
        run.project == self.scope.project()
            && run.stage == self.scope.stage()
            && run.service == self.scope.service()
            && self
                .deployment
                .as_ref()
                .is_none_or(|d| run.deployment.as_ref() == Some(d))
            && run.overlaps(self.start, self.end)
    }
}

/// Keeps test runs.
///
/// # Contract
///
/// - [`record`](LoadTestResults::record) is durable when it returns (for persistent
///   backends) and idempotent on the run's `id`.
/// - [`query`](LoadTestResults::query) returns the matching runs ordered by start; no match
///   is an empty list, not an error.
#[async_trait]
pub trait LoadTestResults: Send + Sync + fmt::Debug {
    /// Stores a run.
    async fn record(&self, run: &LoadTestRun) -> Result<(), ResultsError>;

    /// The runs matching `query`.
    async fn query(&self, query: &ResultsQuery) -> Result<Vec<LoadTestRun>, ResultsError>;
}

/// Runs in memory (tests, and an embedded plane that need not keep them).
#[derive(Debug, Default)]
pub struct MemoryLoadTestResults {
    runs: Mutex<Vec<LoadTestRun>>,
}

impl MemoryLoadTestResults {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl LoadTestResults for MemoryLoadTestResults {
    async fn record(&self, run: &LoadTestRun) -> Result<(), ResultsError> {
        let mut runs = self.runs.lock().await;
        if !runs.iter().any(|r| r.id == run.id) {
            runs.push(run.clone());
        }
        Ok(())
    }

    async fn query(&self, query: &ResultsQuery) -> Result<Vec<LoadTestRun>, ResultsError> {
        let runs = self.runs.lock().await;
        let mut out: Vec<_> = runs.iter().filter(|r| query.matches(r)).cloned().collect();
        out.sort_by_key(|r| r.start);
        Ok(out)
    }
}

/// Runs as JSON lines, one file per service: `<dir>/<project>/<stage>/<service>.jsonl`.
///
/// A line that cannot be read (e.g. cut by a crash while it was written) is skipped with a
/// warning; the other runs stay readable.
#[derive(Debug)]
pub struct FileLoadTestResults {
    dir: PathBuf,
    write: Mutex<()>,
}

impl FileLoadTestResults {
    /// A store under `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            write: Mutex::new(()),
        }
    }

    fn file(&self, project: &str, stage: &str, service: &str) -> PathBuf {
        self.dir
            .join(project)
            .join(stage)
            .join(format!("{service}.jsonl"))
    }
}

fn io(message: String, e: std::io::Error) -> ResultsError {
    ResultsError::new(ResultsErrorKind::Io, message).with_source(e)
}

fn read_runs(path: &Path) -> Result<Vec<LoadTestRun>, ResultsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("cannot read {}", path.display()), e)),
    };
    let mut runs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LoadTestRun>(line) {
            Ok(run) => runs.push(run),
            Err(e) => {
                tracing::warn!(file = %path.display(), line = i + 1, error = %e, "skipping an unreadable test run");
            }
        }
    }
    Ok(runs)
}

#[async_trait]
impl LoadTestResults for FileLoadTestResults {
    async fn record(&self, run: &LoadTestRun) -> Result<(), ResultsError> {
        ServiceScope::new(&run.project, &run.stage, &run.service).map_err(|e| {
            ResultsError::new(ResultsErrorKind::InvalidInput, e.message().to_owned())
        })?;
        let path = self.file(&run.project, &run.stage, &run.service);
        let mut line = serde_json::to_string(run).map_err(|e| {
            ResultsError::new(
                ResultsErrorKind::InvalidInput,
                format!("cannot encode test run {}", run.id),
            )
            .with_source(e)
        })?;
        line.push('\n');
        let _guard = self.write.lock().await;
        let existing = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_runs(&path))
                .await
                .map_err(|e| {
                    ResultsError::new(ResultsErrorKind::Io, "results task failed").with_source(e)
                })??
        };
        if existing.iter().any(|r| r.id == run.id) {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io(format!("cannot create {}", dir.display()), e))?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .map_err(|e| io(format!("cannot open {}", path.display()), e))?;
        file.write_all(line.as_bytes())
            .await
            .map_err(|e| io(format!("cannot append to {}", path.display()), e))?;
        file.sync_data()
            .await
            .map_err(|e| io(format!("cannot sync {}", path.display()), e))
    }

    async fn query(&self, query: &ResultsQuery) -> Result<Vec<LoadTestRun>, ResultsError> {
        let path = self.file(
            query.scope.project(),
            query.scope.stage(),
            query.scope.service(),
        );
        let runs = tokio::task::spawn_blocking(move || read_runs(&path))
            .await
            .map_err(|e| {
                ResultsError::new(ResultsErrorKind::Io, "results task failed").with_source(e)
            })??;
        let mut out: Vec<_> = runs.into_iter().filter(|r| query.matches(r)).collect();
        out.sort_by_key(|r| r.start);
        Ok(out)
    }
}
