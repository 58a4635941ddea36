//! Query types shared by every backend, their validation and the page-key logic.

use chrono::{DateTime, Utc};
use keptn_sdk::event::{EventId, KeptnContext, KeptnEvent};

use super::{EventFilter, StoreError};

/// The page size when a query gives none (the original datastore's default).
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The largest page size the datastore accepts.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The outcome of inserting one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertOutcome {
    /// The event was stored.
    Inserted,
    /// An event with the same id was already stored; nothing changed.
    Duplicate,
}

/// The outcome of [`EventStore::insert_batch`](super::EventStore::insert_batch): one
/// [`InsertOutcome`] per event, in the order of the batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The outcome of each event of the batch, in order.
    pub outcomes: Vec<InsertOutcome>,
}

impl BatchOutcome {
    /// How many events were stored.
    pub fn inserted(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| **o == InsertOutcome::Inserted)
            .count()
    }

    /// How many events were already stored (or appeared earlier in the same batch).
    pub fn duplicates(&self) -> usize {
        self.outcomes.len() - self.inserted()
    }
}

/// A query of the `GET /event` form: every field narrows the result, all of them together.
///
/// At least [`project`](Self::project) or [`keptn_context`](Self::keptn_context) must be set
/// (as the original datastore requires); both are matched exactly. Results are ordered newest
/// first by `time`; events with the same time come in a stable backend-defined order, so that
/// pages never repeat or skip an event while the store does not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// `data.project`.
    pub project: Option<String>,
    /// `data.stage`.
    pub stage: Option<String>,
    /// `data.service`.
    pub service: Option<String>,
    /// `shkeptncontext`, matched exactly (the original used a regular expression).
    pub keptn_context: Option<KeptnContext>,
    /// The event type, matched exactly.
    pub event_type: Option<String>,
    /// `source`, matched exactly.
    pub source: Option<String>,
    /// The event id.
    pub event_id: Option<EventId>,
    /// Only events strictly after this time (`fromTime`).
    pub from_time: Option<DateTime<Utc>>,
    /// Only events strictly before this time (`beforeTime`).
    pub before_time: Option<DateTime<Utc>>,
    /// Only root events: the first event (by time) of each Keptn context, among the events
    /// that carry a project.
    pub root: bool,
    /// Events per page: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when `None`.
    pub page_size: Option<u32>,
    /// The page to return: the `next_page_key` of the previous page, `None` for the first.
    pub next_page_key: Option<String>,
}

impl EventQuery {
    /// A query of the events of a project.
    pub fn project(project: impl Into<String>) -> Self {
        Self {
            project: Some(project.into()),
            ..Self::default()
        }
    }

    /// A query of the events of a Keptn context.
    pub fn context(context: impl Into<KeptnContext>) -> Self {
        Self {
            keptn_context: Some(context.into()),
            ..Self::default()
        }
    }

    /// Checks the query and resolves its page: the offset and the page size.
    pub fn page(&self) -> Result<Page, StoreError> {
        let fields = [
            ("project", self.project.as_deref()),
            ("stage", self.stage.as_deref()),
            ("service", self.service.as_deref()),
            (
                "keptnContext",
                self.keptn_context.as_ref().map(|c| c.as_str()),
            ),
            ("type", self.event_type.as_deref()),
            ("source", self.source.as_deref()),
            ("eventID", self.event_id.as_ref().map(|i| i.as_str())),
        ];
        if let Some((name, _)) = fields.iter().find(|(_, v)| *v == Some("")) {
            return Err(StoreError::invalid_query(format!(
                "{name} must not be empty (leave it out to match every value)"
            )));
        }
        let scoped = self.project.as_deref().is_some_and(|p| !p.is_empty())
            || self
                .keptn_context
                .as_ref()
                .is_some_and(|c| !c.as_str().is_empty());
        if !scoped {
            return Err(StoreError::invalid_query(
                "a query must name a project or a keptnContext",
            ));
        }
        Page::resolve(self.page_size, self.next_page_key.as_deref())
    }
}

/// A query of the `GET /event/type/{eventType}` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeQuery {
    /// The event type, matched exactly.
    pub event_type: String,
    /// The filter expression, parsed; it names `data.project` or `shkeptncontext`.
    pub filter: EventFilter,
    /// Drop events invalidated by an `.invalidated` event of their project: those whose
    /// `triggeredid` (or, for Keptn 0.7 data, whose `id`) is the `triggeredid` of such an event.
    pub exclude_invalidated: bool,
    /// Only events strictly after this time.
    pub from_time: Option<DateTime<Utc>>,
    /// How many events at most: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when `None`.
    pub limit: Option<u32>,
}

impl TypeQuery {
    /// A query of events of `event_type` matching `filter`, with the defaults of the original.
    pub fn new(event_type: impl Into<String>, filter: EventFilter) -> Self {
        Self {
            event_type: event_type.into(),
            filter,
            exclude_invalidated: false,
            from_time: None,
            limit: None,
        }
    }

    /// Checks the query and resolves its limit.
    pub fn resolved_limit(&self) -> Result<u32, StoreError> {
        if self.event_type.is_empty() {
            return Err(StoreError::invalid_query("event type must not be empty"));
        }
        check_size("limit", self.limit)
    }
}

/// One page of a [`EventQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events of this page, newest first.
    pub events: Vec<KeptnEvent>,
    /// The key of the next page; `None` when this is the last page.
    pub next_page_key: Option<String>,
    /// The page size used (the requested one, or the default).
    pub page_size: u32,
    /// How many events match the query, on all pages.
    pub total_count: u64,
}

/// A resolved page: where it starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// How many matching events come before this page.
    pub offset: u64,
    /// The page size.
    pub size: u32,
}

impl Page {
    /// Resolves a page size and a page key (a stringified offset, as the original datastore).
    pub fn resolve(
        page_size: Option<u32>,
        next_page_key: Option<&str>,
    ) -> Result<Self, StoreError> {
        let size = check_size("pageSize", page_size)?;
        let offset = match next_page_key {
            None => 0,
            Some(key) => key.parse::<u64>().map_err(|_| {
                StoreError::invalid_query(format!(
                    "nextPageKey {key:?} is not a page key (expected a non-negative integer)"
                ))
            })?,
        };
        Ok(Self { offset, size })
    }

    /// The page of `events` (already limited to this page) out of `total_count` matches.
    pub fn into_page(self, events: Vec<KeptnEvent>, total_count: u64) -> EventPage {
        let next = self.offset.saturating_add(u64::from(self.size));
        EventPage {
            events,
            next_page_key: (next < total_count).then(|| next.to_string()),
            page_size: self.size,
            total_count,
        }
    }

    /// The offset as the `i64` SQL wants.
    pub fn offset_i64(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}

fn check_size(name: &str, size: Option<u32>) -> Result<u32, StoreError> {
    match size {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(StoreError::invalid_query(format!(
            "{name} {n} is out of range (expected 1 to {MAX_PAGE_SIZE})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::StoreErrorKind;

    #[test]
    fn page_keys_are_offsets_and_the_last_page_has_none() {
        let page = Page::resolve(Some(20), None).unwrap();
        assert_eq!(
            page.into_page(vec![], 45).next_page_key.as_deref(),
            Some("20")
        );
        let page = Page::resolve(Some(20), Some("40")).unwrap();
        assert_eq!(page.offset, 40);
        assert_eq!(page.into_page(vec![], 45).next_page_key, None);
        let page = Page::resolve(None, None).unwrap();
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn bad_page_parameters_name_the_parameter() {
        let err = Page::resolve(Some(0), None).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::InvalidQuery);
        assert_eq!(
            err.to_string(),
            "pageSize 0 is out of range (expected 1 to 100)"
        );
        let err = Page::resolve(Some(101), None).unwrap_err();
        assert!(err.to_string().starts_with("pageSize 101"));
        let err = Page::resolve(None, Some("abc")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nextPageKey \"abc\" is not a page key (expected a non-negative integer)"
        );
    }

    #[test]
    fn a_query_needs_a_project_or_a_context() {
        let err = EventQuery::default().page().unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::InvalidQuery);
        assert!(EventQuery::project("sockshop").page().is_ok());
        assert!(EventQuery::context("ctx").page().is_ok());
        let mut empty = EventQuery::context("ctx");
        empty.stage = Some(String::new());
        let err = empty.page().unwrap_err();
        assert_eq!(
            err.to_string(),
            "stage must not be empty (leave it out to match every value)"
        );
    }
}
