//! The SQL of the sequence store, shared by SQLite and PostgreSQL.
//!
//! Every statement is built with `QueryBuilder`, so the text is the same for both databases
//! (placeholders are the builder's business); only the schema differs (see `schema.rs`). The
//! [`impl_sql_store!`] macro writes the [`SequenceStore`](super::SequenceStore) implementation
//! for a backend type; the backend brings the connections: reads go to `self.reader()` (a pool),
//! commits to `self.apply(EncodedCommit)`, which runs `Self::write_commit` inside a
//! transaction of its database (the shared SQLite writer's, or one of a PostgreSQL pool).
//!
//! Tables (all prefixed `seq_`, in the database of the event store):
//!
//! | table | key | content |
//! |---|---|---|
//! | `seq_executions` | `id`, unique `triggered_id` | indexed columns + the execution as JSON |
//! | `seq_views` | `project`, `keptn_context` | materialized view as JSON |
//! | `seq_pauses` | `project`, `keptn_context`, `stage` (`''` = every stage) | |
//! | `seq_outbox` | `seq` (increasing) | events to publish, as JSON |
//! | `seq_processed` | `event_id` | ids of processed events, with the time |

/// The executions a restarting controller resumes (read through the partial index on `active`).
pub(super) const LOAD_ACTIVE_EXECUTIONS: &str = "SELECT body FROM seq_executions WHERE active";

/// The views of the contexts of those executions: looked up by context for each active
/// execution, never a scan of every view ever written.
pub(super) const LOAD_ACTIVE_VIEWS: &str = "SELECT body FROM seq_views WHERE (project, keptn_context) \
     IN (SELECT project, keptn_context FROM seq_executions WHERE active)";

/// Rows per multi-row statement: well below both databases' limits on bound parameters.
pub(super) const CHUNK: usize = 256;

/// Splits `items` into slices whose lengths are powers of two (at most `CHUNK`), largest
/// first. Statements are cached by their text, and the text of a multi-row statement depends
/// on its row count: with power-of-two counts a table needs at most nine statements, which stay
/// prepared, instead of one freshly parsed statement per commit.
pub(super) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = rest.len().min(CHUNK);
        let size = 1 << size.ilog2();
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

/// Implements [`SequenceStore`](super::SequenceStore) for `$store`, whose database is `$db`.
///
/// In scope where it is used: `unavailable(sqlx::Error, &str) -> SequenceStoreError`; on
/// `$store`: `fn reader(&self) -> &sqlx::Pool<$db>`, `async fn apply(&self, EncodedCommit)`
/// and `async fn delete_processed(&self, before_micros: i64) -> Result<u64, _>`.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Writes a commit with the connection of a transaction the caller owns.
            async fn write_commit(
                conn: &mut <$db as sqlx::Database>::Connection,
                c: &EncodedCommit,
            ) -> Result<(), sqlx::Error> {
                use sqlx::QueryBuilder;
                for chunk in chunks(&c.executions) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO seq_executions (id, project, stage, service, keptn_context, \
                         sequence_name, triggered_id, state, active, current_triggered_id, \
                         current_task, task_open, triggered_at, arrival, updated_at, body) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id.as_str())
                            .push_bind(r.project.as_str())
                            .push_bind(r.stage.as_str())
                            .push_bind(r.service.as_str())
                            .push_bind(r.keptn_context.as_str())
                            .push_bind(r.sequence_name.as_str())
                            .push_bind(r.triggered_id.as_str())
                            .push_bind(r.state)
                            .push_bind(r.active)
                            .push_bind(r.current_triggered_id.as_deref())
                            .push_bind(r.current_task.as_deref())
                            .push_bind(r.task_open)
                            .push_bind(r.triggered_at)
                            .push_bind(r.arrival)
                            .push_bind(r.updated_at)
                            .push_bind(r.body.as_str());
                    });
                    q.push(
                        " ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
                         active = excluded.active, \
                         current_triggered_id = excluded.current_triggered_id, \
                         current_task = excluded.current_task, task_open = excluded.task_open, \
                         updated_at = excluded.updated_at, body = excluded.body",
                    );
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in chunks(&c.views) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO seq_views (project, keptn_context, name, state, time, body) ",
                    );
                    q.push_values(chunk, |mut b, v| {
                        b.push_bind(v.project.as_str())
                            .push_bind(v.keptn_context.as_str())
                            .push_bind(v.name.as_str())
                            .push_bind(v.state)
                            .push_bind(v.time)
                            .push_bind(v.body.as_str());
                    });
                    q.push(
                        " ON CONFLICT (project, keptn_context) DO UPDATE SET \
                         state = excluded.state, body = excluded.body",
                    );
                    q.build().execute(&mut *conn).await?;
                }
                for pause in &c.pauses {
                    let mut q = if pause.paused {
                        let mut q = QueryBuilder::<$db>::new(
                            "INSERT INTO seq_pauses (project, keptn_context, stage) VALUES (",
                        );
                        q.push_bind(pause.project.as_str())
                            .push(", ")
                            .push_bind(pause.keptn_context.as_str())
                            .push(", ")
                            .push_bind(pause.stage.as_str())
                            .push(") ON CONFLICT DO NOTHING");
                        q
                    } else {
                        let mut q =
                            QueryBuilder::<$db>::new("DELETE FROM seq_pauses WHERE project = ");
                        q.push_bind(pause.project.as_str())
                            .push(" AND keptn_context = ")
                            .push_bind(pause.keptn_context.as_str())
                            .push(" AND stage = ")
                            .push_bind(pause.stage.as_str());
                        q
                    };
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in chunks(&c.outbox) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO seq_outbox (seq, event) ");
                    q.push_values(chunk, |mut b, (seq, event)| {
                        b.push_bind(*seq).push_bind(event.as_str());
                    });
                    q.build().execute(&mut *conn).await?;
                }
                if let Some(up_to) = c.published_up_to {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM seq_outbox WHERE seq <= ");
                    q.push_bind(up_to);
                    q.build().execute(&mut *conn).await?;
                }
                for chunk in chunks(&c.processed) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO seq_processed (event_id, processed_at) ",
                    );
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind(id.as_str()).push_bind(c.at);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// The count of the executions matching `filter` (`page` is `None`), or the bodies
            /// of a page of them in queue order.
            fn executions_query(
                filter: &ExecutionFilter,
                page: Option<PageRequest>,
            ) -> sqlx::QueryBuilder<'static, $db> {
                let mut q = sqlx::QueryBuilder::<$db>::new(match page {
                    None => "SELECT COUNT(*) FROM seq_executions",
                    Some(_) => "SELECT body FROM seq_executions",
                });
                Self::push_execution_filter(&mut q, filter);
                if let Some(page) = page {
                    q.push(" ORDER BY triggered_at, arrival, id");
                    Self::push_page(&mut q, page);
                }
                q
            }

            /// The count of a project's views matching `filter`, or the bodies of a page of
            /// them, newest first.
            fn views_query(
                project: &str,
                filter: &ViewFilter,
                page: Option<PageRequest>,
            ) -> sqlx::QueryBuilder<'static, $db> {
                let mut q = sqlx::QueryBuilder::<$db>::new(match page {
                    None => "SELECT COUNT(*) FROM seq_views",
                    Some(_) => "SELECT body FROM seq_views",
                });
                Self::push_view_filter(&mut q, project, filter);
                if let Some(page) = page {
                    q.push(" ORDER BY time DESC, keptn_context DESC");
                    Self::push_page(&mut q, page);
                }
                q
            }

            /// The count of the open task events matching `filter`, or the bodies of the
            /// executions of a page of them, oldest update first.
            fn triggered_query(
                filter: &TriggeredFilter,
                page: Option<PageRequest>,
            ) -> sqlx::QueryBuilder<'static, $db> {
                let mut q = sqlx::QueryBuilder::<$db>::new(match page {
                    None => "SELECT COUNT(*) FROM seq_executions",
                    Some(_) => "SELECT body FROM seq_executions",
                });
                Self::push_triggered_filter(&mut q, filter);
                if let Some(page) = page {
                    q.push(" ORDER BY updated_at, id");
                    Self::push_page(&mut q, page);
                }
                q
            }

            fn push_page(q: &mut sqlx::QueryBuilder<'static, $db>, page: PageRequest) {
                q.push(" LIMIT ")
                    .push_bind(i64::from(page.size))
                    .push(" OFFSET ")
                    .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
            }

            fn push_execution_filter(
                q: &mut sqlx::QueryBuilder<'_, $db>,
                filter: &ExecutionFilter,
            ) {
                q.push(" WHERE 1 = 1");
                if let Some(v) = &filter.project {
                    q.push(" AND project = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.stage {
                    q.push(" AND stage = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.service {
                    q.push(" AND service = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.name {
                    q.push(" AND sequence_name = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.keptn_context {
                    q.push(" AND keptn_context = ").push_bind(v.to_string());
                }
                if let Some(v) = &filter.current_triggered_id {
                    q.push(" AND current_triggered_id = ").push_bind(v.to_string());
                }
                if let Some(v) = &filter.triggered_id {
                    q.push(" AND triggered_id = ").push_bind(v.to_string());
                }
                if filter.active_only {
                    q.push(" AND active");
                }
                if !filter.states.is_empty() {
                    q.push(" AND state IN (");
                    let mut list = q.separated(", ");
                    for state in &filter.states {
                        list.push_bind(state.as_str());
                    }
                    q.push(")");
                }
            }

            fn push_view_filter(
                q: &mut sqlx::QueryBuilder<'_, $db>,
                project: &str,
                filter: &ViewFilter,
            ) {
                q.push(" WHERE project = ").push_bind(project.to_owned());
                if let Some(v) = &filter.name {
                    q.push(" AND name = ").push_bind(v.clone());
                }
                if let Some(v) = filter.state {
                    q.push(" AND state = ").push_bind(v.as_str());
                }
                if let Some(v) = filter.from_time {
                    q.push(" AND time >= ").push_bind(micros(v));
                }
                if let Some(v) = filter.before_time {
                    q.push(" AND time < ").push_bind(micros(v));
                }
                if !filter.keptn_contexts.is_empty() {
                    q.push(" AND keptn_context IN (");
                    let mut list = q.separated(", ");
                    for c in &filter.keptn_contexts {
                        list.push_bind(c.to_string());
                    }
                    q.push(")");
                }
            }

            fn push_triggered_filter(q: &mut sqlx::QueryBuilder<'_, $db>, filter: &TriggeredFilter) {
                q.push(" WHERE active AND task_open");
                if let Some(v) = &filter.task {
                    q.push(" AND current_task = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.event_id {
                    q.push(" AND current_triggered_id = ").push_bind(v.to_string());
                }
                if let Some(v) = &filter.project {
                    q.push(" AND project = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.stage {
                    q.push(" AND stage = ").push_bind(v.clone());
                }
                if let Some(v) = &filter.service {
                    q.push(" AND service = ").push_bind(v.clone());
                }
            }

            async fn count(&self, q: &mut sqlx::QueryBuilder<'_, $db>) -> Result<u64, SequenceStoreError> {
                use sqlx::Row;
                let row = q
                    .build()
                    .fetch_one(self.reader())
                    .await
                    .map_err(|e| unavailable(e, "counting"))?;
                let count: i64 = row.try_get(0).map_err(|e| unavailable(e, "counting"))?;
                Ok(u64::try_from(count).unwrap_or_default())
            }

            async fn read_pauses(&self) -> Result<Vec<PauseKey>, SequenceStoreError> {
                use sqlx::Row;
                let rows = sqlx::QueryBuilder::<$db>::new(
                    "SELECT project, keptn_context, stage FROM seq_pauses",
                )
                .build()
                .fetch_all(self.reader())
                .await
                .map_err(|e| unavailable(e, "loading pauses"))?;
                let mut paused = Vec::with_capacity(rows.len());
                for row in rows {
                    let get = |i: usize| {
                        row.try_get::<String, _>(i)
                            .map_err(|e| unavailable(e, "loading pauses"))
                    };
                    let stage = get(2)?;
                    paused.push(PauseKey {
                        project: get(0)?,
                        keptn_context: KeptnContext::new(get(1)?),
                        stage: (!stage.is_empty()).then_some(stage),
                    });
                }
                Ok(paused)
            }

            async fn bodies(&self, q: &mut sqlx::QueryBuilder<'_, $db>, what: &str) -> Result<Vec<String>, SequenceStoreError> {
                use sqlx::Row;
                let rows = q
                    .build()
                    .fetch_all(self.reader())
                    .await
                    .map_err(|e| unavailable(e, what))?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).map_err(|e| unavailable(e, what)))
                    .collect()
            }
        }

        #[async_trait]
        impl SequenceStore for $store {
            async fn commit(&self, commit: &Commit) -> Result<(), SequenceStoreError> {
                if commit.is_empty() {
                    return Ok(());
                }
                self.apply(EncodedCommit::encode(commit)?).await
            }

            async fn load_active(&self) -> Result<RestoredState, SequenceStoreError> {
                use sqlx::QueryBuilder;
                let executions = self
                    .bodies(
                        &mut QueryBuilder::<$db>::new($crate::orchestrator::store::sql::LOAD_ACTIVE_EXECUTIONS),
                        "loading active executions",
                    )
                    .await?
                    .iter()
                    .map(|b| decode_execution(b))
                    .collect::<Result<Vec<_>, _>>()?;
                let views = self
                    .bodies(
                        &mut QueryBuilder::<$db>::new($crate::orchestrator::store::sql::LOAD_ACTIVE_VIEWS),
                        "loading views",
                    )
                    .await?
                    .iter()
                    .map(|b| decode_view(b))
                    .collect::<Result<Vec<_>, _>>()?;
                let paused = self.read_pauses().await?;
                Ok(RestoredState {
                    executions,
                    paused,
                    views,
                })
            }

            async fn processed(&self, ids: &[EventId]) -> Result<HashSet<EventId>, SequenceStoreError> {
                use sqlx::QueryBuilder;
                let mut found = HashSet::new();
                for chunk in chunks(&ids) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT event_id FROM seq_processed WHERE event_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.as_str());
                    }
                    q.push(")");
                    for id in self.bodies(&mut q, "reading processed ids").await? {
                        found.insert(EventId::new(id));
                    }
                }
                Ok(found)
            }

            async fn prune_processed(&self, before: DateTime<Utc>) -> Result<u64, SequenceStoreError> {
                self.delete_processed(micros(before)).await
            }

            async fn outbox(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>, SequenceStoreError> {
                use sqlx::Row;
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT seq, event FROM seq_outbox WHERE seq > ");
                q.push_bind(i64::try_from(after).unwrap_or(i64::MAX))
                    .push(" ORDER BY seq LIMIT ")
                    .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                let rows = q
                    .build()
                    .fetch_all(self.reader())
                    .await
                    .map_err(|e| unavailable(e, "reading the outbox"))?;
                rows.iter()
                    .map(|row| {
                        let seq: i64 = row.try_get(0).map_err(|e| unavailable(e, "reading the outbox"))?;
                        let event: String =
                            row.try_get(1).map_err(|e| unavailable(e, "reading the outbox"))?;
                        Ok(OutboxEntry {
                            seq: u64::try_from(seq).unwrap_or_default(),
                            event: decode_event(event.as_bytes())?,
                        })
                    })
                    .collect()
            }

            async fn outbox_last_seq(&self) -> Result<u64, SequenceStoreError> {
                let mut q =
                    sqlx::QueryBuilder::<$db>::new("SELECT COALESCE(MAX(seq), 0) FROM seq_outbox");
                self.count(&mut q).await
            }

            async fn execution(&self, id: &str) -> Result<Option<SequenceExecution>, SequenceStoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT body FROM seq_executions WHERE id = ");
                q.push_bind(id.to_owned());
                self.bodies(&mut q, "reading an execution")
                    .await?
                    .first()
                    .map(|b| decode_execution(b))
                    .transpose()
            }

            async fn executions(
                &self,
                filter: &ExecutionFilter,
                page: PageRequest,
            ) -> Result<Page<SequenceExecution>, SequenceStoreError> {
                let total = self.count(&mut Self::executions_query(filter, None)).await?;
                let mut q = Self::executions_query(filter, Some(page));
                let items = self
                    .bodies(&mut q, "listing executions")
                    .await?
                    .iter()
                    .map(|b| decode_execution(b))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Page::new(items, total, page))
            }

            async fn view(
                &self,
                project: &str,
                context: &KeptnContext,
            ) -> Result<Option<SequenceState>, SequenceStoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT body FROM seq_views WHERE project = ");
                q.push_bind(project.to_owned())
                    .push(" AND keptn_context = ")
                    .push_bind(context.to_string());
                self.bodies(&mut q, "reading a view")
                    .await?
                    .first()
                    .map(|b| decode_view(b))
                    .transpose()
            }

            async fn views(
                &self,
                project: &str,
                filter: &ViewFilter,
                page: PageRequest,
            ) -> Result<Page<SequenceState>, SequenceStoreError> {
                let total = self.count(&mut Self::views_query(project, filter, None)).await?;
                let mut q = Self::views_query(project, filter, Some(page));
                let items = self
                    .bodies(&mut q, "listing views")
                    .await?
                    .iter()
                    .map(|b| decode_view(b))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Page::new(items, total, page))
            }

            async fn open_triggered_events(
                &self,
                filter: &TriggeredFilter,
                page: PageRequest,
            ) -> Result<Page<KeptnEvent>, SequenceStoreError> {
                let total = self.count(&mut Self::triggered_query(filter, None)).await?;
                let mut q = Self::triggered_query(filter, Some(page));
                let mut items = Vec::new();
                for body in self.bodies(&mut q, "listing open task events").await? {
                    if let Some(event) = decode_execution(&body)?.open_task_event() {
                        items.push(event);
                    }
                }
                Ok(Page::new(items, total, page))
            }

            async fn pauses(&self) -> Result<Vec<PauseKey>, SequenceStoreError> {
                self.read_pauses().await
            }
        }
    };
}

pub(super) use impl_sql_store;
