//! The SQL that SQLite and PostgreSQL share: one builder, two placeholder and JSON dialects.
//!
//! Every query is ordered `time DESC, seq DESC` (`seq` is the insertion order), and every
//! composite index ends with `time` (SQLite appends the rowid `seq` itself; PostgreSQL indexes
//! name it), so the order comes from the index and `LIMIT` stops early.

use std::future::Future;

use keptn_sdk::event::KeptnEvent;

use super::filter::{FilterField, FilterTerm};
use super::record::{EventRecord, batch_records, decode_event, merge_outcomes, query_time_nanos};
use super::{BatchOutcome, EventQuery, InsertOutcome, Page, Result, StoreError, TypeQuery};

/// The SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// With one of the two features, the other dialect is built but never chosen.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The one event type SQLite's partial index `events_evaluations` covers (migration 2).
/// SQLite uses a partial index only when the query states the index's condition itself, not
/// through a parameter, so a condition on this type is written as a literal.
const INDEXED_TYPE: &str = "sh.keptn.event.evaluation.finished";

/// A bound argument.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    /// A `text[]` (PostgreSQL only; SQLite lists are expanded into placeholders).
    TextArray(Vec<String>),
}

/// A statement and its arguments, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

struct Builder {
    dialect: Dialect,
    conditions: Vec<String>,
    args: Vec<Arg>,
}

impl Builder {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            conditions: Vec::new(),
            args: Vec::new(),
        }
    }

    fn param(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        match self.dialect {
            // Numbered in both dialects, so that one argument can appear twice in a statement.
            Dialect::Sqlite => format!("?{}", self.args.len()),
            Dialect::Postgres => format!("${}", self.args.len()),
        }
    }

    fn eq(&mut self, column: &str, value: Option<&str>) {
        if let Some(value) = value {
            let p = self.param(Arg::Text(value.to_owned()));
            self.conditions.push(format!("{column} = {p}"));
        }
    }

    /// `column = value` for an event type (see [`INDEXED_TYPE`]).
    fn type_eq(&mut self, column: &str, value: Option<&str>) {
        match value {
            Some(INDEXED_TYPE) if self.dialect == Dialect::Sqlite => {
                self.conditions.push(format!("{column} = '{INDEXED_TYPE}'"));
            }
            other => self.eq(column, other),
        }
    }

    fn any_of(&mut self, expr: &str, values: &[String]) -> String {
        if let [single] = values {
            let p = self.param(Arg::Text(single.clone()));
            return format!("{expr} = {p}");
        }
        match self.dialect {
            Dialect::Sqlite => {
                let ps: Vec<String> = values
                    .iter()
                    .map(|v| self.param(Arg::Text(v.clone())))
                    .collect();
                format!("{expr} IN ({})", ps.join(", "))
            }
            Dialect::Postgres => {
                let p = self.param(Arg::TextArray(values.to_vec()));
                format!("{expr} = ANY({p})")
            }
        }
    }

    fn time(&mut self, column: &str, op: &str, time: Option<i64>) {
        if let Some(t) = time {
            let p = self.param(Arg::Int(t));
            self.conditions.push(format!("{column} {op} {p}"));
        }
    }

    fn term(&mut self, term: &FilterTerm) {
        let column = match &term.field {
            FilterField::Project => "e.project",
            FilterField::Stage => "e.stage",
            FilterField::Service => "e.service",
            FilterField::Result => "e.result",
            FilterField::KeptnContext => "e.keptn_context",
            FilterField::Source => "e.source",
            FilterField::Id => "e.id",
            FilterField::TriggeredId => "e.triggered_id",
            FilterField::Path(segments) => {
                let condition = self.json_term(segments, &term.values);
                self.conditions.push(condition);
                return;
            }
        };
        let condition = self.any_of(column, &term.values);
        self.conditions.push(condition);
    }

    /// A term on an arbitrary path: the value there must be a JSON string equal to one of the
    /// values (numbers never equal strings, as in MongoDB).
    fn json_term(&mut self, segments: &[String], values: &[String]) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                // Segments are checked by the filter parser (letters, digits, '_', '-').
                let path: String = segments.iter().map(|s| format!(".\"{s}\"")).collect();
                let path = format!("${path}");
                let p1 = self.param(Arg::Text(path.clone()));
                let p2 = self.param(Arg::Text(path));
                let values = self.any_of(&format!("json_extract(e.event, {p2})"), values);
                format!("(json_type(e.event, {p1}) = 'text' AND {values})")
            }
            Dialect::Postgres => {
                let p1 = self.param(Arg::TextArray(segments.to_vec()));
                let p2 = self.param(Arg::TextArray(segments.to_vec()));
                let values = self.any_of(&format!("(e.event #>> {p2}::text[])"), values);
                format!("(jsonb_typeof(e.event #> {p1}::text[]) = 'string' AND {values})")
            }
        }
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn event_column(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "e.event",
            Dialect::Postgres => "e.event::text",
        }
    }
}

/// The page query and the count query of an [`EventQuery`].
///
/// The page query returns `(total, event)` rows: the count is a scalar subquery on the same
/// arguments, so a page costs one round trip. Only an empty page (past the end, or no match
/// beyond the first page) needs the separate count query.
pub(crate) fn event_query(
    dialect: Dialect,
    query: &EventQuery,
    page: Page,
) -> (Statement, Statement) {
    let mut b = Builder::new(dialect);
    let (t, id_column, seq_column) = if query.root {
        ("r", "r.event_id", "r.event_seq")
    } else {
        ("e", "e.id", "e.seq")
    };
    b.eq(
        &format!("{t}.keptn_context"),
        query.keptn_context.as_ref().map(|c| c.as_str()),
    );
    b.eq(&format!("{t}.project"), query.project.as_deref());
    b.eq(&format!("{t}.stage"), query.stage.as_deref());
    b.eq(&format!("{t}.service"), query.service.as_deref());
    b.type_eq(&format!("{t}.type"), query.event_type.as_deref());
    b.eq(&format!("{t}.source"), query.source.as_deref());
    b.eq(id_column, query.event_id.as_ref().map(|i| i.as_str()));
    b.time(
        &format!("{t}.time"),
        ">",
        query.from_time.as_ref().map(query_time_nanos),
    );
    b.time(
        &format!("{t}.time"),
        "<",
        query.before_time.as_ref().map(query_time_nanos),
    );
    let from = if query.root {
        "roots r JOIN events e ON e.seq = r.event_seq"
    } else {
        "events e"
    };
    let count_from = if query.root { "roots r" } else { "events e" };
    let where_clause = b.where_clause();
    let count_sql = if dialect == Dialect::Sqlite && is_project_only(query) {
        // The project is the only argument so far: SQLite keeps this count in a table.
        "SELECT COALESCE((SELECT c.events FROM project_counts c WHERE c.project = ?1), 0)"
            .to_owned()
    } else {
        format!("SELECT COUNT(*) FROM {count_from}{where_clause}")
    };
    let count = Statement {
        sql: count_sql.clone(),
        args: b.args.clone(),
    };
    let limit = b.param(Arg::Int(i64::from(page.size)));
    let offset = b.param(Arg::Int(page.offset_i64()));
    let select = Statement {
        sql: format!(
            "SELECT ({count_sql}), {} FROM {from}{where_clause} \
             ORDER BY {t}.time DESC, {seq_column} DESC LIMIT {limit} OFFSET {offset}",
            b.event_column()
        ),
        args: b.args,
    };
    (select, count)
}

/// Whether `query` asks for all events of one project: the count SQLite keeps per project
/// (`project_counts`, migration 3) answers its `totalCount`.
fn is_project_only(query: &EventQuery) -> bool {
    let EventQuery {
        project,
        stage,
        service,
        keptn_context,
        event_type,
        source,
        event_id,
        from_time,
        before_time,
        root,
        // Paging does not change the count. Listing every field makes a new filter a compile
        // error here rather than a wrong count.
        page_size: _,
        next_page_key: _,
    } = query;
    project.is_some()
        && !root
        && stage.is_none()
        && service.is_none()
        && keptn_context.is_none()
        && event_type.is_none()
        && source.is_none()
        && event_id.is_none()
        && from_time.is_none()
        && before_time.is_none()
}

/// The query of a [`TypeQuery`].
pub(crate) fn type_query(dialect: Dialect, query: &TypeQuery, limit: u32) -> Statement {
    let mut b = Builder::new(dialect);
    // The scope first, so that the planner sees the index prefix in the order of the indexes.
    let mut terms: Vec<&FilterTerm> = query.filter.terms().iter().collect();
    terms.sort_by_key(|t| match t.field {
        FilterField::Project => 0,
        FilterField::KeptnContext => 1,
        FilterField::Stage => 2,
        FilterField::Service => 3,
        _ => 4,
    });
    for term in terms {
        b.term(term);
    }
    b.type_eq("e.type", Some(&query.event_type));
    b.time(
        "e.time",
        ">",
        query.from_time.as_ref().map(query_time_nanos),
    );
    if query.exclude_invalidated {
        b.conditions.push(
            "NOT EXISTS (SELECT 1 FROM invalidated i WHERE i.project = e.project \
             AND i.triggered_id = e.triggered_id)"
                .to_owned(),
        );
        b.conditions.push(
            "NOT EXISTS (SELECT 1 FROM invalidated i WHERE i.project = e.project \
             AND i.triggered_id = e.id)"
                .to_owned(),
        );
    }
    let where_clause = b.where_clause();
    let limit = b.param(Arg::Int(i64::from(limit)));
    Statement {
        sql: format!(
            "SELECT {} FROM events e{where_clause} ORDER BY e.time DESC, e.seq DESC LIMIT {limit}",
            b.event_column()
        ),
        args: b.args,
    }
}

/// A failure of the database behind a SQL store.
pub(crate) fn backend(message: &str, err: sqlx::Error) -> StoreError {
    StoreError::with_source(crate::db::sqlx_kind(&err), message.to_owned(), err)
}

/// The event stored as JSON text in column `index` of `row`.
pub(crate) fn event_at<R>(row: &R, index: usize) -> Result<KeptnEvent>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let json: &str = row
        .try_get(index)
        .map_err(|e| StoreError::corrupt("an event row has no event column", e))?;
    decode_event(json)
}

/// The rows of an [`event_query`] select, `(count, event)`: the events, and the total count
/// the rows carry (`None` when there are no rows).
pub(crate) fn page_rows<R>(rows: &[R]) -> Result<(Vec<KeptnEvent>, Option<u64>)>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut total = None;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let count: i64 = row
            .try_get(0)
            .map_err(|e| StoreError::corrupt("an event row has no count column", e))?;
        total = Some(u64::try_from(count).unwrap_or(0));
        events.push(event_at(row, 1)?);
    }
    Ok((events, total))
}

/// `EventStore::insert_batch` over a backend's `write` of de-duplicated records.
pub(crate) async fn insert_batch_with<F, Fut>(
    events: &[KeptnEvent],
    write: F,
) -> Result<BatchOutcome>
where
    F: FnOnce(Vec<EventRecord>) -> Fut,
    Fut: Future<Output = Result<Vec<InsertOutcome>>>,
{
    let (records, partial) = batch_records(events)?;
    if records.is_empty() {
        return Ok(merge_outcomes(partial, []));
    }
    let decided = write(records).await?;
    Ok(merge_outcomes(partial, decided))
}

/// `EventStore::insert` over a backend's `write` of records.
pub(crate) async fn insert_with<F, Fut>(event: &KeptnEvent, write: F) -> Result<InsertOutcome>
where
    F: FnOnce(Vec<EventRecord>) -> Fut,
    Fut: Future<Output = Result<Vec<InsertOutcome>>>,
{
    let record = EventRecord::from_event(event)?;
    let outcomes = write(vec![record]).await?;
    Ok(outcomes
        .first()
        .copied()
        .unwrap_or(InsertOutcome::Duplicate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastore::EventFilter;

    #[test]
    fn postgres_numbers_its_placeholders_and_sqlite_expands_lists() {
        let filter =
            EventFilter::parse("data.project:p AND data.result:pass,warning AND data.labels.x:1")
                .unwrap();
        let q = TypeQuery::new("sh.keptn.event.evaluation.finished", filter);
        let pg = type_query(Dialect::Postgres, &q, 5);
        assert!(pg.sql.contains("e.result = ANY($2)"), "{}", pg.sql);
        assert!(pg.sql.ends_with("LIMIT $7"), "{}", pg.sql);
        let lite = type_query(Dialect::Sqlite, &q, 5);
        assert!(lite.sql.contains("e.result IN (?2, ?3)"), "{}", lite.sql);
        assert!(
            lite.args
                .contains(&Arg::Text("$.\"data\".\"labels\".\"x\"".into()))
        );
    }
}
