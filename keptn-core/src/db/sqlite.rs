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
}

impl Default for SqliteDbOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            queue: 1024,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
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

/// A write queued for the writer: runs inside the group's transaction, then learns whether the
/// group committed.
trait Job: Send {
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Finished>;
    fn fail(self: Box<Self>, err: DbError);
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

/// A job that ran: whether its savepoint was kept, and how to tell the caller the outcome
/// once the commit is known (`Some(err)` when the commit failed).
struct Finished {
    ok: bool,
    deliver: Box<dyn FnOnce(Option<Arc<sqlx::Error>>) + Send>,
}

struct TypedJob<F, T, E> {
    f: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for TypedJob<F, T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Finished> {
        let TypedJob { f, reply } = *self;
        Box::pin(async move {
            let result = f(conn).await;
            let ok = result.is_ok();
            Finished {
                ok,
                deliver: Box::new(move |commit_error| {
                    let result = match (result, commit_error) {
                        (Ok(_), Some(source)) => Err(E::from(DbError::Transaction {
                            action: "commit",
                            source,
                        })),
                        (result, _) => result,
                    };
                    // The caller may have stopped waiting; the write stands either way.
                    let _ = reply.send(result);
                }),
            }
        })
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
            .pragma("cache_size", "-32768");
        // The writer never checkpoints on commit; a separate task does (see `checkpointer`).
        let mut writer =
            SqliteConnection::connect_with(&base.clone().pragma("wal_autocheckpoint", "0"))
                .await
                .map_err(open_err)?;
        sqlx::raw_sql(MIGRATIONS_TABLE)
            .execute(&mut writer)
            .await
            .map_err(open_err)?;
        let checkpoint_conn = SqliteConnection::connect_with(&base)
            .await
            .map_err(open_err)?;
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
        let checkpoint_task =
            tokio::spawn(checkpointer(checkpoint_conn, committed, shutdown.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                read_pool,
                requests: tx,
                shutdown,
                tasks: Mutex::new(vec![writer_task, checkpoint_task]),
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
    /// The writer groups queued writes into one transaction; each runs in its own savepoint, so
    /// an `Err` from `f` undoes only what `f` did and is returned as it is. When the commit
    /// fails, every write of the group fails with [`DbError::Transaction`]. `f` must not block
    /// and should be short: the other writes of the group wait for it.
    ///
    /// Dropping the returned future does not cancel a queued write.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob { f, reply });
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
            conn.execute(
            sqlx::query(
                "INSERT INTO keptn_migrations (component, version, description, checksum, applied_at_ms)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(migrations.component)
            .bind(i64::from(step.version))
            .bind(step.description)
            .bind(checksum(step.sql))
            .bind(now_ms()),
        )
        .await
        .map_err(failed)?;
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
        if let Err(err) = exec(conn, "BEGIN IMMEDIATE").await {
            let source = Arc::new(err);
            for job in batch.drain(..) {
                job.fail(DbError::Transaction {
                    action: "begin",
                    source: Arc::clone(&source),
                });
            }
            return;
        }
        let mut finished: Vec<Finished> = Vec::with_capacity(batch.len());
        let mut broken: Option<Arc<sqlx::Error>> = None;
        for job in batch.drain(..) {
            if let Some(source) = &broken {
                job.fail(DbError::Transaction {
                    action: "commit",
                    source: Arc::clone(source),
                });
                continue;
            }
            if let Err(err) = exec(conn, "SAVEPOINT write").await {
                job.fail(DbError::Sqlx(err));
                continue;
            }
            // A panicking write must not take the writer down with it; its caller sees `Closed`.
            let outcome = AssertUnwindSafe(job.run(&mut *conn)).catch_unwind().await;
            let end = match &outcome {
                Ok(f) if f.ok => "RELEASE write",
                _ => "ROLLBACK TO write; RELEASE write",
            };
            if let Err(err) = exec(conn, end).await {
                broken = Some(Arc::new(err));
            }
            if let Ok(f) = outcome {
                finished.push(f);
            }
        }
        let commit = match broken {
            Some(source) => Err(source),
            None => exec(conn, "COMMIT").await.map_err(Arc::new),
        };
        match commit {
            Ok(()) => finished.into_iter().for_each(|f| (f.deliver)(None)),
            Err(source) => {
                let _ = exec(conn, "ROLLBACK").await;
                finished
                    .into_iter()
                    .for_each(|f| (f.deliver)(Some(Arc::clone(&source))));
            }
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
