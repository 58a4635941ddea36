//! The SQL of the sequence store, shared by SQLite and PostgreSQL.
//!
//! Every statement is built with `QueryBuilder`, so the text is the same for both databases
//! (placeholders are the builder's business); only the schema differs (see `schema.rs`). The [`impl_sql_store!`] macro writes the [`SequenceStore`] implementation
//! for a backend type with a `pool` field.
//!
//! Tables (all prefixed `seq_`, so they can share a database with the event store):
//!
//! | table | key | content |
//! |---|---|---|
//! | `seq_executions` | `id`, unique `triggered_id` | indexed columns + the execution as JSON |
//! | `seq_views` | `project`, `keptn_context` | materialized view as JSON |
//! | `seq_pauses` | `project`, `keptn_context`, `stage` (`''` = every stage) | |
//! | `seq_outbox` | `seq` (increasing) | events to publish, as JSON |
//! | `seq_processed` | `event_id` | ids of processed events, with the time |

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

/// Implements [`SequenceStore`](super::SequenceStore) for `$store` (a type with a
/// `pool: sqlx::Pool<$db>` field and an `unavailable(sqlx::Error, &str)` helper in scope).
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        impl_sql_store!(@impl $store, $db, {});
    };
    ($store:ty, $db:ty, maintain = $maintain:ident) => {
        impl_sql_store!(@impl $store, $db, {
            async fn maintain(&self) -> Result<(), SequenceStoreError> {
                self.$maintain().await
            }
        });
    };
    (@impl $store:ty, $db:ty, { $($extra:tt)* }) => {
        impl $store {
            async fn write(&self, commit: &Commit) -> Result<(), sqlx::Error> {
                use sqlx::QueryBuilder;
                let mut tx = self.pool.begin().await?;
                let rows: Vec<ExecutionRow<'_>> = commit
                    .executions
                    .iter()
                    .map(ExecutionRow::encode)
                    .collect::<Result<_, _>>()
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                for chunk in chunks(&rows) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO seq_executions (id, project, stage, service, keptn_context, \
                         sequence_name, triggered_id, state, active, current_triggered_id, \
                         current_task, task_open, triggered_at, arrival, updated_at, body) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id)
                            .push_bind(r.project)
                            .push_bind(r.stage)
                            .push_bind(r.service)
                            .push_bind(r.keptn_context)
                            .push_bind(r.sequence_name)
                            .push_bind(r.triggered_id)
                            .push_bind(r.state)
                            .push_bind(r.active)
                            .push_bind(r.current_triggered_id)
                            .push_bind(r.current_task)
                            .push_bind(r.task_open)
                            .push_bind(r.triggered_at)
                            .push_bind(r.arrival)
                            .push_bind(r.updated_at)
                            .push_bind(&r.body);
                    });
                    q.push(
                        " ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
                         active = excluded.active, \
                         current_triggered_id = excluded.current_triggered_id, \
                         current_task = excluded.current_task, task_open = excluded.task_open, \
                         updated_at = excluded.updated_at, body = excluded.body",
                    );
                    q.build().execute(&mut *tx).await?;
                }
                let views: Vec<(&SequenceState, String)> = commit
                    .views
                    .iter()
                    .map(|v| encode_view(v).map(|body| (v, body)))
                    .collect::<Result<_, _>>()
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                for chunk in chunks(&views) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO seq_views (project, keptn_context, name, state, time, body) ",
                    );
                    q.push_values(chunk, |mut b, (v, body)| {
                        b.push_bind(v.project.as_str())
                            .push_bind(v.shkeptncontext.as_str())
                            .push_bind(v.name.as_str())
                            .push_bind(v.state.as_str())
                            .push_bind(micros(v.time))
                            .push_bind(body.as_str());
                    });
                    q.push(
                        " ON CONFLICT (project, keptn_context) DO UPDATE SET \
                         state = excluded.state, body = excluded.body",
                    );
                    q.build().execute(&mut *tx).await?;
                }
                for (key, paused) in &commit.pauses {
                    let stage = key.stage.as_deref().unwrap_or("");
                    let mut q = if *paused {
                        let mut q = QueryBuilder::<$db>::new(
                            "INSERT INTO seq_pauses (project, keptn_context, stage) VALUES (",
                        );
                        q.push_bind(key.project.as_str())
                            .push(", ")
                            .push_bind(key.keptn_context.as_str())
                            .push(", ")
                            .push_bind(stage)
                            .push(") ON CONFLICT DO NOTHING");
                        q
                    } else {
                        let mut q =
                            QueryBuilder::<$db>::new("DELETE FROM seq_pauses WHERE project = ");
                        q.push_bind(key.project.as_str())
                            .push(" AND keptn_context = ")
                            .push_bind(key.keptn_context.as_str())
                            .push(" AND stage = ")
                            .push_bind(stage);
                        q
                    };
                    q.build().execute(&mut *tx).await?;
                }
                let events: Vec<(i64, String)> = commit
                    .outbox
                    .iter()
                    .map(|e| {
                        (
                            i64::try_from(e.seq).unwrap_or(i64::MAX),
                            String::from_utf8(e.event.to_json()).unwrap_or_default(),
                        )
                    })
                    .collect();
                for chunk in chunks(&events) {
                    let mut q = QueryBuilder::<$db>::new("INSERT INTO seq_outbox (seq, event) ");
                    q.push_values(chunk, |mut b, (seq, e)| {
                        b.push_bind(*seq).push_bind(e.as_str());
                    });
                    q.build().execute(&mut *tx).await?;
                }
                if let Some(up_to) = commit.outbox_published_up_to {
                    let mut q = QueryBuilder::<$db>::new("DELETE FROM seq_outbox WHERE seq <= ");
                    q.push_bind(i64::try_from(up_to).unwrap_or(i64::MAX));
                    q.build().execute(&mut *tx).await?;
                }
                let at = micros(commit.at);
                for chunk in chunks(&commit.processed) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO seq_processed (event_id, processed_at) ",
                    );
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind(id.as_str()).push_bind(at);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await
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
                    .fetch_one(&self.pool)
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
                .fetch_all(&self.pool)
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
                    .fetch_all(&self.pool)
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
                self.write(commit).await.map_err(|e| match e {
                    sqlx::Error::Encode(source) => SequenceStoreError::new(
                        SequenceStoreErrorKind::Other,
                        format!("cannot encode the commit: {source}"),
                    ),
                    other => unavailable(other, "committing"),
                })
            }

            async fn load_active(&self) -> Result<RestoredState, SequenceStoreError> {
                use sqlx::QueryBuilder;
                let executions = self
                    .bodies(
                        &mut QueryBuilder::<$db>::new("SELECT body FROM seq_executions WHERE active"),
                        "loading active executions",
                    )
                    .await?
                    .iter()
                    .map(|b| decode_execution(b))
                    .collect::<Result<Vec<_>, _>>()?;
                let views = self
                    .bodies(
                        &mut QueryBuilder::<$db>::new(
                            "SELECT v.body FROM seq_views v WHERE EXISTS (SELECT 1 FROM \
                             seq_executions e WHERE e.active AND e.project = v.project AND \
                             e.keptn_context = v.keptn_context)",
                        ),
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
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "DELETE FROM seq_processed WHERE processed_at < ",
                );
                q.push_bind(micros(before));
                let done = q
                    .build()
                    .execute(&self.pool)
                    .await
                    .map_err(|e| unavailable(e, "pruning processed ids"))?;
                Ok(done.rows_affected())
            }

            async fn outbox(&self, after: u64, limit: usize) -> Result<Vec<OutboxEntry>, SequenceStoreError> {
                use sqlx::Row;
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT seq, event FROM seq_outbox WHERE seq > ");
                q.push_bind(i64::try_from(after).unwrap_or(i64::MAX))
                    .push(" ORDER BY seq LIMIT ")
                    .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
                let rows = q
                    .build()
                    .fetch_all(&self.pool)
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
                let mut count = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM seq_executions");
                Self::push_execution_filter(&mut count, filter);
                let total = self.count(&mut count).await?;
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT body FROM seq_executions");
                Self::push_execution_filter(&mut q, filter);
                q.push(" ORDER BY triggered_at, arrival, id LIMIT ")
                    .push_bind(i64::from(page.size))
                    .push(" OFFSET ")
                    .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
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
                let mut count = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM seq_views");
                Self::push_view_filter(&mut count, project, filter);
                let total = self.count(&mut count).await?;
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT body FROM seq_views");
                Self::push_view_filter(&mut q, project, filter);
                q.push(" ORDER BY time DESC, keptn_context DESC LIMIT ")
                    .push_bind(i64::from(page.size))
                    .push(" OFFSET ")
                    .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
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
                let mut count = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM seq_executions");
                Self::push_triggered_filter(&mut count, filter);
                let total = self.count(&mut count).await?;
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT body FROM seq_executions");
                Self::push_triggered_filter(&mut q, filter);
                q.push(" ORDER BY updated_at, id LIMIT ")
                    .push_bind(i64::from(page.size))
                    .push(" OFFSET ")
                    .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
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

            $($extra)*
        }
    };
}

pub(super) use impl_sql_store;
