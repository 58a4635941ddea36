//! The in-memory sequence store.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};

use super::{
    Commit, ExecutionFilter, OutboxEntry, Page, PageRequest, SequenceStore, SequenceStoreError,
    TriggeredFilter, ViewFilter, matches,
};
use crate::orchestrator::core::RestoredState;
use crate::orchestrator::model::{PauseKey, SequenceExecution};
use crate::orchestrator::view::SequenceState;

#[derive(Debug, Default)]
struct Inner {
    executions: HashMap<String, SequenceExecution>,
    by_trigger: HashMap<EventId, String>,
    views: HashMap<(String, KeptnContext), SequenceState>,
    pauses: BTreeSet<PauseKey>,
    outbox: VecDeque<OutboxEntry>,
    processed: HashMap<EventId, DateTime<Utc>>,
}

/// A [`SequenceStore`] in memory; clones share the same data. Nothing survives the process, but
/// a new controller on the same store resumes where the previous one stopped.
#[derive(Debug, Clone, Default)]
pub struct MemorySequenceStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemorySequenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent even if a panic poisoned the lock: every commit is applied
        // under one guard, without await points.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn page<T: Clone>(items: Vec<T>, request: PageRequest) -> Page<T> {
    let total = items.len() as u64;
    let start = usize::try_from(request.offset)
        .unwrap_or(usize::MAX)
        .min(items.len());
    let end = start.saturating_add(request.size as usize).min(items.len());
    Page::new(items[start..end].to_vec(), total, request)
}

#[async_trait]
impl SequenceStore for MemorySequenceStore {
    async fn commit(&self, commit: &Commit) -> Result<(), SequenceStoreError> {
        let mut inner = self.lock();
        for exec in &commit.executions {
            inner
                .by_trigger
                .insert(exec.triggered_id.clone(), exec.id.clone());
            inner.executions.insert(exec.id.clone(), exec.clone());
        }
        for view in &commit.views {
            inner.views.insert(
                (view.project.clone(), view.shkeptncontext.clone()),
                view.clone(),
            );
        }
        for (key, paused) in &commit.pauses {
            if *paused {
                inner.pauses.insert(key.clone());
            } else {
                inner.pauses.remove(key);
            }
        }
        for entry in &commit.outbox {
            inner.outbox.push_back(entry.clone());
        }
        if let Some(up_to) = commit.outbox_published_up_to {
            while inner.outbox.front().is_some_and(|e| e.seq <= up_to) {
                inner.outbox.pop_front();
            }
        }
        for id in &commit.processed {
            inner.processed.entry(id.clone()).or_insert(commit.at);
        }
        Ok(())
    }

    async fn load_active(&self) -> Result<RestoredState, SequenceStoreError> {
        let inner = self.lock();
        let executions: Vec<SequenceExecution> = inner
            .executions
            .values()
            .filter(|e| !e.state.is_terminal())
            .cloned()
            .collect();
        let contexts: HashSet<(String, KeptnContext)> = executions
            .iter()
            .map(|e| (e.project.clone(), e.keptn_context.clone()))
            .collect();
        let views = contexts
            .iter()
            .filter_map(|key| inner.views.get(key).cloned())
            .collect();
        Ok(RestoredState {
            executions,
            paused: inner.pauses.iter().cloned().collect(),
            views,
        })
    }

    async fn processed(&self, ids: &[EventId]) -> Result<HashSet<EventId>, SequenceStoreError> {
        let inner = self.lock();
        Ok(ids
            .iter()
            .filter(|id| inner.processed.contains_key(*id))
            .cloned()
            .collect())
    }

    async fn prune_processed(&self, before: DateTime<Utc>) -> Result<u64, SequenceStoreError> {
        let mut inner = self.lock();
        let count = inner.processed.len();
        inner.processed.retain(|_, at| *at >= before);
        Ok((count - inner.processed.len()) as u64)
    }

    async fn outbox(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, SequenceStoreError> {
        let inner = self.lock();
        Ok(inner
            .outbox
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn outbox_last_seq(&self) -> Result<u64, SequenceStoreError> {
        Ok(self.lock().outbox.back().map_or(0, |e| e.seq))
    }

    async fn execution(&self, id: &str) -> Result<Option<SequenceExecution>, SequenceStoreError> {
        Ok(self.lock().executions.get(id).cloned())
    }

    async fn executions(
        &self,
        filter: &ExecutionFilter,
        request: PageRequest,
    ) -> Result<Page<SequenceExecution>, SequenceStoreError> {
        let inner = self.lock();
        let mut found: Vec<SequenceExecution> = match &filter.triggered_id {
            Some(id) => inner
                .by_trigger
                .get(id)
                .and_then(|exec_id| inner.executions.get(exec_id))
                .into_iter()
                .filter(|e| matches(filter, e))
                .cloned()
                .collect(),
            None => inner
                .executions
                .values()
                .filter(|e| matches(filter, e))
                .cloned()
                .collect(),
        };
        found.sort_by(|a, b| {
            (a.triggered_at, a.arrival, &a.id).cmp(&(b.triggered_at, b.arrival, &b.id))
        });
        Ok(page(found, request))
    }

    async fn view(
        &self,
        project: &str,
        context: &KeptnContext,
    ) -> Result<Option<SequenceState>, SequenceStoreError> {
        Ok(self
            .lock()
            .views
            .get(&(project.to_owned(), context.clone()))
            .cloned())
    }

    async fn views(
        &self,
        project: &str,
        filter: &ViewFilter,
        request: PageRequest,
    ) -> Result<Page<SequenceState>, SequenceStoreError> {
        let inner = self.lock();
        let mut found: Vec<SequenceState> = inner
            .views
            .values()
            .filter(|v| v.project == project)
            .filter(|v| filter.name.as_ref().is_none_or(|n| *n == v.name))
            .filter(|v| filter.state.is_none_or(|s| s == v.state))
            .filter(|v| filter.from_time.is_none_or(|t| v.time >= t))
            .filter(|v| filter.before_time.is_none_or(|t| v.time < t))
            .filter(|v| {
                filter.keptn_contexts.is_empty()
                    || filter.keptn_contexts.contains(&v.shkeptncontext)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.time, &b.shkeptncontext).cmp(&(a.time, &a.shkeptncontext)));
        Ok(page(found, request))
    }

    async fn open_triggered_events(
        &self,
        filter: &TriggeredFilter,
        request: PageRequest,
    ) -> Result<Page<KeptnEvent>, SequenceStoreError> {
        let inner = self.lock();
        let mut found: Vec<(&SequenceExecution, KeptnEvent)> = inner
            .executions
            .values()
            .filter(|e| !e.state.is_terminal())
            .filter(|e| filter.project.as_ref().is_none_or(|p| *p == e.project))
            .filter(|e| filter.stage.as_ref().is_none_or(|s| *s == e.stage))
            .filter(|e| filter.service.as_ref().is_none_or(|s| *s == e.service))
            .filter_map(|e| {
                let task = e.current_task.as_ref()?;
                let wanted = filter.task.as_ref().is_none_or(|t| *t == task.name)
                    && filter
                        .event_id
                        .as_ref()
                        .is_none_or(|id| *id == task.triggered_id);
                if !wanted {
                    return None;
                }
                e.open_task_event().map(|event| (e, event))
            })
            .collect();
        found.sort_by(|(a, ea), (b, eb)| (ea.time, &a.id).cmp(&(eb.time, &b.id)));
        Ok(page(found.into_iter().map(|(_, e)| e).collect(), request))
    }

    async fn pauses(&self) -> Result<Vec<PauseKey>, SequenceStoreError> {
        Ok(self.lock().pauses.iter().cloned().collect())
    }
}
