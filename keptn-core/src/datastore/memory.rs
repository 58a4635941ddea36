//! An event store in memory: for tests, examples and embedding where nothing must survive the
//! process. Queries scan every stored event, so it suits thousands of events, not millions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use keptn_sdk::event::KeptnEvent;
use serde_json::Value;

use super::record::{EventRecord, batch_records, merge_outcomes, query_time_nanos};
use super::{
    BatchOutcome, EventPage, EventQuery, EventStore, InsertOutcome, Result, StoreError,
    StoreErrorKind, TypeQuery, check_project_name,
};

/// An [`EventStore`] that keeps events in memory; see the [module docs](super) for the
/// contract it shares with the other backends.
#[derive(Debug, Default)]
pub struct MemoryEventStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    events: BTreeMap<u64, Stored>,
    by_id: HashMap<String, u64>,
    /// Keptn context -> seq of its root event.
    roots: HashMap<String, u64>,
    /// (project, invalidated triggeredid).
    invalidated: HashSet<(String, String)>,
}

#[derive(Debug)]
struct Stored {
    seq: u64,
    record: EventRecord,
    event: KeptnEvent,
    json: Value,
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events are stored.
    pub fn len(&self) -> usize {
        self.read().map(|s| s.events.len()).unwrap_or(0)
    }

    /// Whether no event is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>> {
        self.state.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, State>> {
        self.state.write().map_err(|_| poisoned())
    }
}

fn poisoned() -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        "the in-memory event store is unusable after a panic in another thread",
    )
}

impl State {
    fn insert(&mut self, record: EventRecord, event: &KeptnEvent) -> InsertOutcome {
        if self.by_id.contains_key(&record.id) {
            return InsertOutcome::Duplicate;
        }
        let mut event = event.clone();
        if let Some(data) = event.data.as_object_mut() {
            data.remove("eventContext");
        }
        let json = serde_json::to_value(&event).unwrap_or(Value::Null);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let (Some(project), Some(target)) = (&record.project, &record.invalidates) {
            self.invalidated.insert((project.clone(), target.clone()));
        }
        if record.project.is_some() {
            let earlier = match self.roots.get(&record.keptn_context) {
                None => true,
                Some(root) => self
                    .events
                    .get(root)
                    .is_none_or(|r| record.time < r.record.time),
            };
            if earlier {
                self.roots.insert(record.keptn_context.clone(), seq);
            }
        }
        self.by_id.insert(record.id.clone(), seq);
        self.events.insert(
            seq,
            Stored {
                seq,
                record,
                event,
                json,
            },
        );
        InsertOutcome::Inserted
    }

    fn is_invalidated(&self, stored: &Stored) -> bool {
        let Some(project) = &stored.record.project else {
            return false;
        };
        let hit = |id: &str| self.invalidated.contains(&(project.clone(), id.to_owned()));
        stored.record.triggered_id.as_deref().is_some_and(hit) || hit(&stored.record.id)
    }
}

fn eq(wanted: &Option<String>, actual: &Option<String>) -> bool {
    wanted.is_none() || wanted == actual
}

fn matches(query: &EventQuery, r: &EventRecord) -> bool {
    eq(&query.project, &r.project)
        && eq(&query.stage, &r.stage)
        && eq(&query.service, &r.service)
        && query
            .keptn_context
            .as_ref()
            .is_none_or(|c| c.as_str() == r.keptn_context)
        && query.event_type.as_ref().is_none_or(|t| *t == r.event_type)
        && query.source.as_ref().is_none_or(|s| *s == r.source)
        && query.event_id.as_ref().is_none_or(|id| id.as_str() == r.id)
        && query
            .from_time
            .as_ref()
            .is_none_or(|t| r.time > query_time_nanos(t))
        && query
            .before_time
            .as_ref()
            .is_none_or(|t| r.time < query_time_nanos(t))
}

fn newest_first(a: &&Stored, b: &&Stored) -> std::cmp::Ordering {
    b.record.time.cmp(&a.record.time).then(b.seq.cmp(&a.seq))
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn insert(&self, event: &KeptnEvent) -> Result<InsertOutcome> {
        let record = EventRecord::from_event(event)?;
        Ok(self.write()?.insert(record, event))
    }

    async fn insert_batch(&self, events: &[KeptnEvent]) -> Result<BatchOutcome> {
        let (records, partial) = batch_records(events)?;
        let mut state = self.write()?;
        let firsts = events
            .iter()
            .zip(&partial)
            .filter(|(_, o)| o.is_none())
            .map(|(e, _)| e);
        let decided: Vec<InsertOutcome> = records
            .into_iter()
            .zip(firsts)
            .map(|(record, event)| state.insert(record, event))
            .collect();
        Ok(merge_outcomes(partial, decided))
    }

    async fn query(&self, query: &EventQuery) -> Result<EventPage> {
        let page = query.page()?;
        let state = self.read()?;
        let mut found: Vec<&Stored> = if query.root {
            state
                .roots
                .values()
                .filter_map(|seq| state.events.get(seq))
                .filter(|s| matches(query, &s.record))
                .collect()
        } else {
            state
                .events
                .values()
                .filter(|s| matches(query, &s.record))
                .collect()
        };
        found.sort_by(newest_first);
        let total = found.len() as u64;
        let events = found
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.size as usize)
            .map(|s| s.event.clone())
            .collect();
        Ok(page.into_page(events, total))
    }

    async fn query_by_type(&self, query: &TypeQuery) -> Result<Vec<KeptnEvent>> {
        let limit = query.resolved_limit()?;
        let state = self.read()?;
        let from = query.from_time.as_ref().map(query_time_nanos);
        let mut found: Vec<&Stored> = state
            .events
            .values()
            .filter(|s| s.record.event_type == query.event_type)
            .filter(|s| from.is_none_or(|f| s.record.time > f))
            .filter(|s| query.filter.matches(&s.json))
            .filter(|s| !(query.exclude_invalidated && state.is_invalidated(s)))
            .collect();
        found.sort_by(newest_first);
        Ok(found
            .into_iter()
            .take(limit as usize)
            .map(|s| s.event.clone())
            .collect())
    }

    async fn delete_project(&self, project: &str) -> Result<()> {
        check_project_name(project)?;
        let mut state = self.write()?;
        let removed: Vec<u64> = state
            .events
            .values()
            .filter(|s| s.record.project.as_deref() == Some(project))
            .map(|s| s.seq)
            .collect();
        for seq in &removed {
            if let Some(stored) = state.events.remove(seq) {
                state.by_id.remove(&stored.record.id);
            }
        }
        let State { roots, events, .. } = &mut *state;
        roots.retain(|_, seq| events.contains_key(seq));
        state.invalidated.retain(|(p, _)| p != project);
        Ok(())
    }
}
