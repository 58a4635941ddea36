//! The shared SQLite database: one writer task with group commit, a read pool, migrations.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Executor, Row};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::migrate::{MIGRATIONS_TABLE, checksum, now_ms};
use super::{DbError, Migrations};

/// Tuning of a [`SqliteDb`].
#[derive(Debug, Clone)]
pub struct SqliteDbOptions {
    /// The most writes committed in one transaction (default 256).
    pub max_batch: usize,
    /// How many writes may wait for the writer (default 1024); `write` waits when it is full.
    pub queue: usize,
    /// Connections of the read pool (default 4).
    pub readers: u32,
    /// How long a connection waits for a lock held by another process (default 5 s).
    pub busy_timeout: Duration,
    /// Checkpoint the WAL from a separate task after commits (`true`, the default: commits do
    /// not wait for checkpoints, and on two cores batched inserts measured 25-50% faster), or
    /// let the writer do it when the WAL passes 4000 pages (`false`: less CPU in total, since
    /// the WAL is reused rather than grown while a background checkpoint lags behind).
    pub background_checkpoints: bool,
}

impl Default for SqliteDbOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            queue: 1024,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            background_checkpoints: true,
        }
    }
}

/// A SQLite database shared by the components of one process; see the [module docs](super).
///
/// Cloning is cheap and every clone uses the same writer and read pool. The writer stops when
/// the last clone is dropped or [`SqliteDb::close`] is called.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    read_pool: SqlitePool,
    requests: mpsc::Sender<Box<dyn Job>>,
    shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A write queued for the writer. It runs inside the group's transaction (possibly more than
/// once, see [`SqliteDb::write`]), keeps the result of its last run, and hands it to the caller
/// once the commit is known.
trait Job: Send {
    /// Runs the write; `true` when it succeeded.
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;
    /// Answers the caller with the last run's result, or with the commit's error.
    fn finish(self: Box<Self>, commit_error: Option<Arc<sqlx::Error>>);
    /// Answers the caller with an error without running.
    fn fail(self: Box<Self>, err: DbError);
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

struct TypedJob<F, T, E> {
    f: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for TypedJob<F, T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            // A run that panics leaves no result: its caller is answered `Closed`.
            self.result = None;
            let result = (self.f)(conn).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, commit_error: Option<Arc<sqlx::Error>>) {
        let result = match (self.result, commit_error) {
            (Some(Ok(_)), Some(source)) => Err(E::from(DbError::Transaction {
                action: "commit",
                source,
            })),
            (Some(result), _) => result,
            (None, _) => Err(E::from(DbError::Closed)),
        };
        // The caller may have stopped waiting; the write stands either way.
        let _ = self.reply.send(result);
    }

    fn fail(self: Box<Self>, err: DbError) {
        let _ = self.reply.send(Err(E::from(err)));
    }
}

impl SqliteDb {
    /// Opens (or creates) the database file with default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, DbError> {
        Self::open_with(path, SqliteDbOptions::default()).await
    }

    /// Opens (or creates) the database file; creates its directory when missing.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteDbOptions,
    ) -> Result<Self, DbError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| DbError::Directory {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let open_err = |source| DbError::Open {
            path: path.clone(),
            source,
        };
        let base = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_err)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("journal_size_limit", "67108864")
            // Takes effect when the file is created. 8 KiB pages hold five 1.5 KB events and
            // make a batch write fewer WAL frames than 4 KiB pages (-15% CPU per event in batches),
            // while single-event commits stay cheaper than with 16 KiB pages.
            .page_size(8192)
            .pragma("cache_size", "-16384");
        // The writer keeps index pages in a larger cache (-65536 = 64 MiB): random event ids
        // touch the whole id index, and a miss costs a read from the OS.
        // With background checkpoints the writer only checkpoints when they fall far behind
        // (16384 pages, 128 MiB of WAL); without, every 4000 pages (31 MiB). The WAL file is
        // cut back to 64 MiB after it is reset.
        let autocheckpoint = if options.background_checkpoints {
            "16384"
        } else {
            "4000"
        };
        let mut writer = SqliteConnection::connect_with(
            &base
                .clone()
                .pragma("wal_autocheckpoint", autocheckpoint)
                .pragma("cache_size", "-65536"),
        )
        .await
        .map_err(open_err)?;
        sqlx::raw_sql(MIGRATIONS_TABLE)
            .execute(&mut writer)
            .await
            .map_err(open_err)?;
        let checkpoint_conn = if options.background_checkpoints {
            Some(
                SqliteConnection::connect_with(&base)
                    .await
                    .map_err(open_err)?,
            )
        } else {
            None
        };
        let read_pool = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .min_connections(1)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(open_err)?;

        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let shutdown = CancellationToken::new();
        let committed = Arc::new(Notify::new());
        let writer_task = tokio::spawn(writer_loop(
            writer,
            rx,
            options.max_batch.max(1),
            Arc::clone(&committed),
            shutdown.clone(),
        ));
        let mut tasks = vec![writer_task];
        if let Some(conn) = checkpoint_conn {
            tasks.push(tokio::spawn(checkpointer(
                conn,
                committed,
                shutdown.clone(),
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                read_pool,
                requests: tx,
                shutdown,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The pool for reads (its connections refuse writes). A read sees every write whose
    /// [`write`](Self::write) call has returned.
    pub fn read_pool(&self) -> &SqlitePool {
        &self.inner.read_pool
    }

    /// Runs `f` in the writer's transaction and returns its result once the transaction is
    /// committed.
    ///
    /// The writer groups queued writes into one transaction. When `f` returns `Err` (or
    /// panics), the group's transaction is rolled back, the error is returned to this caller,
    /// and the other writes of the group run again in a new transaction: so **`f` may run more
    /// than once** and must act only on the connection (the effects of the committed run are
    /// the ones that stay). This keeps the common case, where every write succeeds, free of
    /// savepoints. When the commit fails, every write of the group fails with
    /// [`DbError::Transaction`]. `f` must not block, must not end the transaction, and should
    /// be short: the other writes of the group wait for it.
    ///
    /// Dropping the returned future does not cancel a queued write.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            f,
            result: None,
            reply,
        });
        self.inner
            .requests
            .send(job)
            .await
            .map_err(|_| E::from(DbError::Closed))?;
        answer.await.map_err(|_| E::from(DbError::Closed))?
    }

    /// Applies the pending migrations of a component, in one transaction; a no-op when they
    /// are all applied.
    pub async fn migrate(&self, migrations: &'static Migrations) -> Result<(), DbError> {
        migrations.check()?;
        self.write(move |conn| Box::pin(apply(conn, migrations)))
            .await
    }

    /// Stops the writer after the writes queued so far, and closes every connection. Later
    /// writes fail with [`DbError::Closed`].
    pub async fn close(&self) {
        self.inner.shutdown.cancel();
        let tasks: Vec<JoinHandle<()>> = match self.inner.tasks.lock() {
            Ok(mut tasks) => tasks.drain(..).collect(),
            Err(poisoned) => poisoned.into_inner().drain(..).collect(),
        };
        for task in tasks {
            let _ = task.await;
        }
        self.inner.read_pool.close().await;
    }
}

const RECORD_MIGRATION: &str = "INSERT INTO keptn_migrations \
    (component, version, description, checksum, applied_at_ms) VALUES (?, ?, ?, ?, ?)";

fn apply<'c>(
    conn: &'c mut SqliteConnection,
    migrations: &'static Migrations,
) -> BoxFuture<'c, Result<(), DbError>> {
    // Boxed with a named lifetime: the future must be `Send` for the writer task.
    Box::pin(async move {
        let rows = conn
            .fetch_all(
                sqlx::query("SELECT version, checksum FROM keptn_migrations WHERE component = ?")
                    .bind(migrations.component),
            )
            .await?;
        let applied: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
        for step in migrations.pending(&applied)? {
            let failed = |source| DbError::Migration {
                component: migrations.component,
                version: step.version,
                description: step.description,
                source,
            };
            conn.execute(step.sql).await.map_err(failed)?;
            let record = sqlx::query(RECORD_MIGRATION)
                .bind(migrations.component)
                .bind(i64::from(step.version))
                .bind(step.description)
                .bind(checksum(step.sql))
                .bind(now_ms());
            conn.execute(record).await.map_err(failed)?;
        }
        Ok(())
    })
}

/// Takes the first queued write, drains up to `max_batch - 1` more without waiting, and commits
/// them together: the cost of a commit is shared by every write that arrived meanwhile.
async fn writer_loop(
    mut conn: SqliteConnection,
    mut requests: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    committed: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => None,
            job = requests.recv() => job,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < max_batch {
            match requests.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, &mut batch).await;
        committed.notify_one();
    }
    // Closing: no new writes are accepted; the ones already queued are still committed.
    requests.close();
    while let Ok(job) = requests.try_recv() {
        batch.push(job);
        if batch.len() == max_batch {
            run_group(&mut conn, &mut batch).await;
        }
    }
    if !batch.is_empty() {
        run_group(&mut conn, &mut batch).await;
    }
    shutdown.cancel();
    let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
}

fn run_group<'a>(
    conn: &'a mut SqliteConnection,
    batch: &'a mut Vec<Box<dyn Job>>,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let mut jobs: Vec<Box<dyn Job>> = std::mem::take(batch);
        'attempt: while !jobs.is_empty() {
            if let Err(err) = exec(conn, "BEGIN IMMEDIATE").await {
                let source = Arc::new(err);
                for job in jobs {
                    job.fail(DbError::Transaction {
                        action: "begin",
                        source: Arc::clone(&source),
                    });
                }
                return;
            }
            for i in 0..jobs.len() {
                // A panicking write must not take the writer down; its caller sees `Closed`.
                let ok = AssertUnwindSafe(jobs[i].run(&mut *conn))
                    .catch_unwind()
                    .await
                    .unwrap_or(false);
                if !ok {
                    // Undo the group, answer the failed write, run the others again.
                    let _ = exec(conn, "ROLLBACK").await;
                    jobs.remove(i).finish(None);
                    continue 'attempt;
                }
            }
            match exec(conn, "COMMIT").await {
                Ok(()) => jobs.into_iter().for_each(|job| job.finish(None)),
                Err(err) => {
                    let _ = exec(conn, "ROLLBACK").await;
                    let source = Arc::new(err);
                    for job in jobs {
                        job.finish(Some(Arc::clone(&source)));
                    }
                }
            }
            return;
        }
    })
}

/// Runs one statement (or several, separated by `;`) without arguments.
fn exec<'a>(
    conn: &'a mut SqliteConnection,
    sql: &'static str,
) -> BoxFuture<'a, Result<(), sqlx::Error>> {
    Box::pin(async move { conn.execute(sql).await.map(|_| ()) })
}

/// Copies WAL frames into the database after commits, on its own connection, so that the
/// writer's commits never pay for a checkpoint.
async fn checkpointer(
    mut conn: SqliteConnection,
    committed: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = committed.notified() => {}
            () = shutdown.cancelled() => break,
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
    let _ = conn.close().await;
}
