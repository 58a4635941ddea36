//! The MongoDB event store, in the layout of Keptn's mongodb-datastore (see [`MongoEventStore`]).

mod convert;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use futures::TryStreamExt;
use keptn_sdk::event::KeptnEvent;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, Database, IndexModel};

use self::convert::{document_event, duplicate_indexes, event_document, mongo_error, time_string};
use super::record::{EventRecord, batch_records, merge_outcomes};
use super::{
    BatchOutcome, EventPage, EventQuery, EventStore, InsertOutcome, Result, TypeQuery,
    check_project_name,
};

/// Events without `data.project`.
pub const UNMAPPED_EVENTS: &str = "keptnUnmappedEvents";
/// The Keptn context -> project map.
pub const CONTEXT_TO_PROJECT: &str = "contextToProject";
/// Suffix of a project's root-event collection.
pub const ROOT_EVENTS_SUFFIX: &str = "-rootEvents";
/// Suffix of a project's invalidated-event collection.
pub const INVALIDATED_EVENTS_SUFFIX: &str = "-invalidatedEvents";

/// The MongoDB event store, in the layout of Keptn's mongodb-datastore, so that an existing
/// Keptn datastore can be read and written:
///
/// | collection | holds |
/// |---|---|
/// | `<project>` | the events of a project (`data.project`) |
/// | `keptnUnmappedEvents` | events without a project |
/// | `<project>-rootEvents` | the first event (by time) of each Keptn context of the project |
/// | `<project>-invalidatedEvents` | the project's `.invalidated` events |
/// | `contextToProject` | `{_id: context, shkeptncontext: context, project}` |
///
/// Documents are the event JSON. Differences from the original, all compatible with its data:
/// events written here have `_id` = the event id (the unique `_id` makes inserts idempotent;
/// the original let the server generate `_id`s and stored redeliveries twice) and `time` as a
/// string with nine fraction digits (string order is time order). Queries match
/// `shkeptncontext` exactly (the original used a regular expression) and sort by
/// `time, _id` descending. Documents that are not Keptn events are skipped with a warning, as
/// the original skipped them.
///
/// Unlike the SQL backends, a failed batch may be partly written; retrying it completes it
/// (inserts are idempotent).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use keptn_core::datastore::{EventQuery, EventStore, MongoEventStore};
///
/// let store = MongoEventStore::connect("mongodb://127.0.0.1:27017", "keptn").await?;
/// let page = store.query(&EventQuery::project("sockshop")).await?;
/// println!("{} events", page.total_count);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MongoEventStore {
    db: Database,
    /// Collections whose indexes this process has ensured.
    indexed: Mutex<HashSet<String>>,
}

impl MongoEventStore {
    /// Connects to `uri` and uses `database` (the original's default is `keptn`).
    pub async fn connect(uri: &str, database: &str) -> Result<Self> {
        let client = Client::with_uri_str(uri)
            .await
            .map_err(|e| mongo_error(format!("cannot connect to MongoDB at {uri}"), e))?;
        Ok(Self::new(client.database(database)))
    }

    /// Uses a database handle configured by the caller.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            indexed: Mutex::new(HashSet::new()),
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    fn collection(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// Creates the indexes of a collection once per process: the original's (PR #2955) plus
    /// compound ones matching the queries. Failures are logged, as the original did: queries
    /// work without indexes, and old data may hold values a new index rejects.
    async fn ensure_indexes(&self, name: &str, kind: CollectionKind) {
        let known = self
            .indexed
            .lock()
            .map(|set| set.contains(name))
            .unwrap_or(false);
        if known {
            return;
        }
        let keys: Vec<Document> = match kind {
            CollectionKind::Events => vec![
                doc! {"data.service": 1},
                doc! {"shkeptncontext": 1},
                doc! {"type": 1},
                doc! {"time": 1},
                doc! {"triggeredid": 1},
                doc! {"shkeptncontext": 1, "time": -1, "_id": -1},
                doc! {"type": 1, "data.stage": 1, "data.service": 1, "time": -1, "_id": -1},
                doc! {"time": -1, "_id": -1},
            ],
            CollectionKind::Roots => vec![
                doc! {"data.service": 1},
                doc! {"time": 1},
                doc! {"shkeptncontext": 1},
                doc! {"time": -1, "_id": -1},
            ],
            CollectionKind::Invalidated => vec![doc! {"triggeredid": 1}],
            CollectionKind::ContextToProject => vec![doc! {"project": 1}],
        };
        let models: Vec<IndexModel> = keys
            .into_iter()
            .map(|keys| {
                IndexModel::builder()
                    .keys(keys)
                    .options(IndexOptions::builder().build())
                    .build()
            })
            .collect();
        match self.collection(name).create_indexes(models).await {
            Ok(_) => {
                if let Ok(mut set) = self.indexed.lock() {
                    set.insert(name.to_owned());
                }
            }
            Err(err) => tracing::warn!(collection = name, error = %err, "creating indexes failed"),
        }
    }

    /// The collection holding a query's events: the project's, or the one of the context's
    /// project, or the unmapped events.
    async fn events_collection(
        &self,
        project: Option<&str>,
        context: Option<&str>,
    ) -> Result<String> {
        if let Some(project) = project.filter(|p| !p.is_empty()) {
            return Ok(project.to_owned());
        }
        let Some(context) = context else {
            return Ok(UNMAPPED_EVENTS.to_owned());
        };
        let mapping = self
            .collection(CONTEXT_TO_PROJECT)
            .find_one(doc! {"_id": context})
            .await
            .map_err(|e| {
                mongo_error(
                    format!("lookup of the project of context {context} failed"),
                    e,
                )
            })?;
        Ok(mapping
            .and_then(|m| m.get_str("project").ok().map(str::to_owned))
            .unwrap_or_else(|| UNMAPPED_EVENTS.to_owned()))
    }

    async fn find_events(
        &self,
        collection: &str,
        filter: Document,
        skip: u64,
        limit: i64,
    ) -> Result<Vec<KeptnEvent>> {
        let cursor = self
            .collection(collection)
            .find(filter)
            .sort(doc! {"time": -1, "_id": -1})
            .skip(skip)
            .limit(limit)
            .await
            .map_err(|e| mongo_error(format!("query of collection {collection} failed"), e))?;
        let docs: Vec<Document> = cursor
            .try_collect()
            .await
            .map_err(|e| mongo_error(format!("reading collection {collection} failed"), e))?;
        Ok(docs
            .into_iter()
            .filter_map(|d| match document_event(d) {
                Ok(event) => Some(event),
                Err(err) => {
                    tracing::warn!(collection, error = %err, "skipping a document that is not an event");
                    None
                }
            })
            .collect())
    }

    async fn insert_records(
        &self,
        records: &[EventRecord],
        events: &[&KeptnEvent],
    ) -> Result<Vec<InsertOutcome>> {
        let mut outcomes = vec![InsertOutcome::Inserted; records.len()];
        let mut by_collection: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let name = r
                .project
                .clone()
                .unwrap_or_else(|| UNMAPPED_EVENTS.to_owned());
            by_collection.entry(name).or_default().push(i);
        }
        for (name, indexes) in &by_collection {
            self.ensure_indexes(name, CollectionKind::Events).await;
            let docs = indexes
                .iter()
                .map(|&i| event_document(&records[i], &events[i].time))
                .collect::<Result<Vec<_>>>()?;
            if let Err(err) = self.collection(name).insert_many(docs).ordered(false).await {
                let duplicates = duplicate_indexes(err)
                    .map_err(|e| mongo_error(format!("insert into collection {name} failed"), e))?;
                for d in duplicates {
                    if let Some(&i) = indexes.get(d) {
                        outcomes[i] = InsertOutcome::Duplicate;
                    }
                }
            }
        }
        // The bookkeeping runs for duplicates too: a redelivery completes what an interrupted
        // first delivery left undone. Every step is idempotent.
        self.map_contexts(records).await?;
        self.update_roots(records, events).await?;
        self.record_invalidations(records, events).await?;
        Ok(outcomes)
    }

    async fn map_contexts(&self, records: &[EventRecord]) -> Result<()> {
        let mut seen = HashSet::new();
        let docs: Vec<Document> = records
            .iter()
            .filter_map(|r| Some((r.keptn_context.as_str(), r.project.as_deref()?)))
            .filter(|(ctx, _)| seen.insert(*ctx))
            .map(|(ctx, project)| doc! {"_id": ctx, "shkeptncontext": ctx, "project": project})
            .collect();
        if docs.is_empty() {
            return Ok(());
        }
        self.ensure_indexes(CONTEXT_TO_PROJECT, CollectionKind::ContextToProject)
            .await;
        match self
            .collection(CONTEXT_TO_PROJECT)
            .insert_many(docs)
            .ordered(false)
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => duplicate_indexes(err)
                .map(|_| ())
                .map_err(|e| mongo_error("storing context-to-project mappings failed", e)),
        }
    }

    async fn update_roots(&self, records: &[EventRecord], events: &[&KeptnEvent]) -> Result<()> {
        let mut earliest: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let Some(project) = r.project.as_deref() else {
                continue;
            };
            let slot = earliest
                .entry((project, r.keptn_context.as_str()))
                .or_insert(i);
            if r.time < records[*slot].time {
                *slot = i;
            }
        }
        for ((project, context), i) in earliest {
            let name = format!("{project}{ROOT_EVENTS_SUFFIX}");
            self.ensure_indexes(&name, CollectionKind::Roots).await;
            let roots = self.collection(&name);
            let mut root = event_document(&records[i], &events[i].time)?;
            root.remove("_id");
            let time = time_string(&events[i].time);
            let failed = |e| mongo_error(format!("root update of context {context} failed"), e);
            // Replace a later root; otherwise insert when the context has none yet.
            let replaced = roots
                .replace_one(
                    doc! {"shkeptncontext": context, "time": {"$gt": &time}},
                    root.clone(),
                )
                .await
                .map_err(failed)?;
            if replaced.matched_count == 0 {
                roots
                    .update_one(
                        doc! {"shkeptncontext": context},
                        doc! {"$setOnInsert": root},
                    )
                    .upsert(true)
                    .await
                    .map_err(failed)?;
            }
        }
        Ok(())
    }

    async fn record_invalidations(
        &self,
        records: &[EventRecord],
        events: &[&KeptnEvent],
    ) -> Result<()> {
        for (i, r) in records.iter().enumerate() {
            let (Some(project), Some(target)) = (&r.project, &r.invalidates) else {
                continue;
            };
            let name = format!("{project}{INVALIDATED_EVENTS_SUFFIX}");
            self.ensure_indexes(&name, CollectionKind::Invalidated)
                .await;
            let mut document = event_document(r, &events[i].time)?;
            // The target is read from `triggeredid`, where the original kept it.
            document.insert("triggeredid", target.clone());
            if let Err(err) = self.collection(&name).insert_one(document).await {
                duplicate_indexes(err).map_err(|e| {
                    mongo_error(format!("recording invalidation {} failed", r.id), e)
                })?;
            }
        }
        Ok(())
    }

    async fn invalidated_ids(&self, collection: &str) -> Result<Vec<String>> {
        let name = format!("{collection}{INVALIDATED_EVENTS_SUFFIX}");
        let cursor = self
            .collection(&name)
            .find(doc! {})
            .projection(doc! {"triggeredid": 1, "data.triggeredid": 1})
            .await
            .map_err(|e| mongo_error(format!("query of collection {name} failed"), e))?;
        let docs: Vec<Document> = cursor
            .try_collect()
            .await
            .map_err(|e| mongo_error(format!("reading collection {name} failed"), e))?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                d.get_str("triggeredid")
                    .ok()
                    .or_else(|| d.get_document("data").ok()?.get_str("triggeredid").ok())
                    .map(str::to_owned)
            })
            .collect())
    }
}

#[derive(Debug, Clone, Copy)]
enum CollectionKind {
    Events,
    Roots,
    Invalidated,
    ContextToProject,
}

fn time_range(filter: &mut Document, from: Option<String>, before: Option<String>) {
    let mut range = Document::new();
    if let Some(from) = from {
        range.insert("$gt", from);
    }
    if let Some(before) = before {
        range.insert("$lt", before);
    }
    if !range.is_empty() {
        filter.insert("time", range);
    }
}

#[async_trait]
impl EventStore for MongoEventStore {
    async fn insert(&self, event: &KeptnEvent) -> Result<InsertOutcome> {
        let record = EventRecord::from_event(event)?;
        let outcomes = self
            .insert_records(std::slice::from_ref(&record), &[event])
            .await?;
        Ok(outcomes
            .first()
            .copied()
            .unwrap_or(InsertOutcome::Duplicate))
    }

    async fn insert_batch(&self, events: &[KeptnEvent]) -> Result<BatchOutcome> {
        let (records, partial) = batch_records(events)?;
        let firsts: Vec<&KeptnEvent> = events
            .iter()
            .zip(&partial)
            .filter(|(_, o)| o.is_none())
            .map(|(e, _)| e)
            .collect();
        let decided = if records.is_empty() {
            Vec::new()
        } else {
            self.insert_records(&records, &firsts).await?
        };
        Ok(merge_outcomes(partial, decided))
    }

    async fn query(&self, query: &EventQuery) -> Result<EventPage> {
        let page = query.page()?;
        let context = query.keptn_context.as_ref().map(|c| c.as_str());
        let events_collection = self
            .events_collection(query.project.as_deref(), context)
            .await?;
        let collection = if query.root {
            if events_collection == UNMAPPED_EVENTS {
                return Ok(page.into_page(Vec::new(), 0));
            }
            format!("{events_collection}{ROOT_EVENTS_SUFFIX}")
        } else {
            events_collection
        };
        let mut filter = Document::new();
        let mut add = |key: &str, value: Option<&str>| {
            if let Some(v) = value {
                filter.insert(key, v);
            }
        };
        add("shkeptncontext", context);
        add("data.stage", query.stage.as_deref());
        add("data.service", query.service.as_deref());
        add("type", query.event_type.as_deref());
        add("source", query.source.as_deref());
        add("id", query.event_id.as_ref().map(|i| i.as_str()));
        time_range(
            &mut filter,
            query.from_time.as_ref().map(time_string),
            query.before_time.as_ref().map(time_string),
        );
        let total = self
            .collection(&collection)
            .count_documents(filter.clone())
            .await
            .map_err(|e| mongo_error(format!("count in collection {collection} failed"), e))?;
        let events = if total > page.offset {
            self.find_events(&collection, filter, page.offset, i64::from(page.size))
                .await?
        } else {
            Vec::new()
        };
        Ok(page.into_page(events, total))
    }

    async fn query_by_type(&self, query: &TypeQuery) -> Result<Vec<KeptnEvent>> {
        let limit = query.resolved_limit()?;
        let collection = self
            .events_collection(query.filter.project(), query.filter.keptn_context())
            .await?;
        let mut conditions: Vec<Bson> = Vec::new();
        let mut terms = Document::new();
        for term in query.filter.terms() {
            let key = term.field.key();
            match term.values.as_slice() {
                [single] => terms.insert(key, single.clone()),
                values => terms.insert(key, doc! {"$in": values.to_vec()}),
            };
        }
        terms.insert("type", query.event_type.clone());
        time_range(&mut terms, query.from_time.as_ref().map(time_string), None);
        conditions.push(Bson::Document(terms));
        if query.exclude_invalidated {
            let invalidated = self.invalidated_ids(&collection).await?;
            if !invalidated.is_empty() {
                conditions.push(Bson::Document(
                    doc! {"triggeredid": {"$nin": invalidated.clone()}},
                ));
                conditions.push(Bson::Document(doc! {"id": {"$nin": invalidated}}));
            }
        }
        self.find_events(&collection, doc! {"$and": conditions}, 0, i64::from(limit))
            .await
    }

    async fn delete_project(&self, project: &str) -> Result<()> {
        check_project_name(project)?;
        for name in [
            project.to_owned(),
            format!("{project}{ROOT_EVENTS_SUFFIX}"),
            format!("{project}{INVALIDATED_EVENTS_SUFFIX}"),
        ] {
            self.collection(&name)
                .drop()
                .await
                .map_err(|e| mongo_error(format!("drop of collection {name} failed"), e))?;
            if let Ok(mut set) = self.indexed.lock() {
                set.remove(&name);
            }
        }
        self.collection(CONTEXT_TO_PROJECT)
            .delete_many(doc! {"project": project})
            .await
            .map_err(|e| {
                mongo_error(
                    format!("removing the contexts of project {project} failed"),
                    e,
                )
            })?;
        Ok(())
    }
}
