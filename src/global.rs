//! The process-wide worker behind the free functions: started on first use, rebuilt
//! when the configuration changes, sharing one failure store per folder.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use webhook_core::outbox::Outbox;
use webhook_core::{
    ConfigError, FailureStore, MemoryFailureStore, Notifier, ResolvedWebhookConfig, ShutdownReport,
    WebhookConfig,
};
use webhook_http::HttpTransport;
use webhook_sled::SledFailureStore;

/// Why the global worker could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GlobalError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP transport could not be built (TLS set-up).
    #[error(transparent)]
    Transport(#[from] webhook_http::BuildError),
    /// The worker thread could not be started.
    #[error(transparent)]
    Start(#[from] webhook_core::worker::StartError),
}

struct Running {
    config: WebhookConfig,
    workers: Option<usize>,
    notifier: Notifier,
}

#[derive(Default)]
struct Global {
    running: Option<Running>,
    /// Notifiers replaced by a configuration change, shutting down on threads of their
    /// own; [`shutdown_worker`] waits for them.
    retiring: Vec<JoinHandle<ShutdownReport>>,
    /// Stores stay open across rebuilds: a sled folder can be opened once per process.
    stores: HashMap<PathBuf, Opened>,
}

/// A store as the facade opened it: the sled store in a folder or PostgreSQL (and,
/// once asked for, its outbox), or memory when it could not be opened.
#[derive(Clone)]
struct Opened {
    store: Arc<dyn FailureStore>,
    durable: Option<Durable>,
    outbox: Option<Arc<dyn Outbox>>,
}

/// What can hold an outbox beside the store.
#[derive(Clone)]
enum Durable {
    Sled(SledFailureStore),
    Postgres(webhook_postgres::Database),
}

impl Durable {
    fn outbox(&self) -> Result<Arc<dyn Outbox>, webhook_core::outbox::OutboxError> {
        Ok(match self {
            Self::Sled(store) => Arc::new(store.outbox()?),
            Self::Postgres(db) => Arc::new(db.outbox()),
        })
    }
}

/// Opens the store at `path`: PostgreSQL when it is a `postgres://` URL (the schema in
/// `?schema=`), otherwise the sled folder.
fn open(path: &std::path::Path) -> Result<(Arc<dyn FailureStore>, Durable), String> {
    match webhook_postgres::url_in(path) {
        Some(url) => {
            let options = webhook_postgres::PostgresOptions::from_url(url);
            let db = webhook_postgres::Database::connect(options).map_err(|e| e.to_string())?;
            Ok((Arc::new(db.failure_store()), Durable::Postgres(db)))
        }
        None => {
            let store = SledFailureStore::open(path).map_err(|e| e.to_string())?;
            Ok((Arc::new(store.clone()), Durable::Sled(store)))
        }
    }
}

/// Counts changes of the running notifier (start, rebuild, shutdown); changed only while
/// the global lock is held. A thread's cached notifier is current while this has not
/// moved since the thread cached it.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The notifier this thread last used and the configuration it was looked up for.
struct Cached {
    generation: u64,
    config: WebhookConfig,
    notifier: Notifier,
}

thread_local! {
    static CACHED: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn global() -> MutexGuard<'static, Global> {
    static GLOBAL: OnceLock<Mutex<Global>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| Mutex::new(Global::default()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Where the global worker keeps failures for `config`: `store_path`, or
/// [`failure_store_path`](crate::failure_store_path) of the current directory.
pub(crate) fn store_path_for(config: &WebhookConfig) -> PathBuf {
    config.store_path.clone().unwrap_or_else(|| {
        let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        webhook_sled::failure_store_path(&root)
    })
}

impl Global {
    fn store_for(&mut self, config: &WebhookConfig) -> &mut Opened {
        let path = store_path_for(config);
        self.stores.entry(path).or_insert_with_key(|path| match open(path) {
            Ok((store, durable)) => Opened {
                store,
                durable: Some(durable),
                outbox: None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "failure store unavailable; keeping failures in memory for this process");
                Opened {
                    store: Arc::new(MemoryFailureStore::new()),
                    durable: None,
                    outbox: None,
                }
            }
        })
    }

    /// The store for `config`, and its outbox when `durable` is set (opened once per
    /// folder or database; without a durable store there is no outbox, and a warning
    /// says so).
    fn plugs_for(
        &mut self,
        config: &WebhookConfig,
    ) -> (Arc<dyn FailureStore>, Option<Arc<dyn Outbox>>) {
        let durable = config.durable.unwrap_or(false);
        let opened = self.store_for(config);
        if durable && opened.outbox.is_none() {
            match opened.durable.as_ref().map(Durable::outbox) {
                Some(Ok(outbox)) => opened.outbox = Some(outbox),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "outbox unavailable; events stay in memory")
                }
                None => tracing::warn!("no durable store, so no outbox; events stay in memory"),
            }
        }
        (
            opened.store.clone(),
            opened.outbox.clone().filter(|_| durable),
        )
    }

    fn start(
        &mut self,
        config: &WebhookConfig,
        workers: Option<usize>,
    ) -> Result<Notifier, GlobalError> {
        let mut resolved: ResolvedWebhookConfig = config.resolve()?;
        if let Some(n) = workers {
            resolved = resolved.for_parallel(n);
        }
        let transport = HttpTransport::from_config(&resolved)?;
        let (store, outbox) = self.plugs_for(config);
        let mut builder = Notifier::builder(resolved, Arc::new(transport)).store(store);
        if let Some(outbox) = outbox {
            builder = builder.outbox(outbox);
        }
        let notifier = builder.start()?;
        if let Some(old) = self.running.take() {
            self.retire(old.notifier);
        }
        self.running = Some(Running {
            config: config.clone(),
            workers,
            notifier: notifier.clone(),
        });
        GENERATION.fetch_add(1, Ordering::Release);
        Ok(notifier)
    }
}

impl Global {
    /// Shuts `old` down on a thread of its own, so the caller does not wait: it keeps
    /// delivering for its `shutdown_grace`, then records what is left. The thread is kept
    /// for [`shutdown_worker`] to join.
    fn retire(&mut self, old: Notifier) {
        self.retiring.retain(|thread| !thread.is_finished());
        let grace = old.config().shutdown_grace;
        let spawned = std::thread::Builder::new()
            .name("webhook-retire".to_owned())
            .spawn(move || old.shutdown(grace));
        match spawned {
            Ok(thread) => self.retiring.push(thread),
            // The notifier moved into the closure is dropped with it, which drains it
            // for the same grace on this thread.
            Err(error) => {
                tracing::warn!(%error, "could not start a thread to retire the previous webhook worker; it was shut down in place")
            }
        }
    }
}

/// The global notifier for `config`, started (or rebuilt, if the configuration changed)
/// as needed. A rebuild shuts the previous notifier down in the background (it delivers
/// for its `shutdown_grace`, then records what is left; handles to it then refuse new
/// events), and [`shutdown_worker`] waits for that. Parallel scaling set by [`init_worker_for_parallel`](crate::init_worker_for_parallel)
/// is kept while the configuration stays the same.
pub fn global_notifier(config: &WebhookConfig) -> Result<Notifier, GlobalError> {
    looked_up(config).map(|(notifier, _)| notifier)
}

/// The global notifier for `config` (see [`global_notifier`]) and the generation it
/// belongs to, read under the lock.
fn looked_up(config: &WebhookConfig) -> Result<(Notifier, u64), GlobalError> {
    let mut global = global();
    if let Some(running) = &global.running {
        if running.config == *config {
            let generation = GENERATION.load(Ordering::Acquire);
            return Ok((running.notifier.clone(), generation));
        }
    }
    let workers = global.running.as_ref().and_then(|r| r.workers);
    let notifier = global.start(config, workers)?;
    Ok((notifier, GENERATION.load(Ordering::Acquire)))
}

/// Runs `f` with the global notifier for `config`, as [`global_notifier`] would find it.
///
/// The fast path takes no lock and clones nothing shared: each thread keeps the
/// notifier it last used with a copy of the configuration it was found for, and uses it
/// again while the configuration is equal and no start, rebuild or shutdown happened
/// since (one atomic load). Otherwise it looks the notifier up under the lock as
/// [`global_notifier`] does, and caches it.
pub(crate) fn with_global<R>(
    config: &WebhookConfig,
    f: impl FnOnce(&Notifier) -> R,
) -> Result<R, GlobalError> {
    CACHED.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            // Called again from inside `f` on this thread: the locked path.
            return global_notifier(config).map(|notifier| f(&notifier));
        };
        let current = GENERATION.load(Ordering::Acquire);
        let hit = matches!(&*slot, Some(c) if c.generation == current && c.config == *config);
        if !hit {
            let (notifier, generation) = looked_up(config)?;
            *slot = Some(Cached {
                generation,
                config: config.clone(),
                notifier,
            });
        }
        match slot.as_ref() {
            Some(cached) => Ok(f(&cached.notifier)),
            None => global_notifier(config).map(|notifier| f(&notifier)),
        }
    })
}

/// (Re)starts the global notifier scaled for `workers` parallel workers.
pub(crate) fn start_parallel(
    config: &WebhookConfig,
    workers: usize,
) -> Result<Notifier, GlobalError> {
    let mut global = global();
    if let Some(running) = &global.running {
        if running.config == *config && running.workers == Some(workers) {
            return Ok(running.notifier.clone());
        }
    }
    global.start(config, Some(workers))
}

/// Stops the global worker: delivers what it can within `timeout`, records the rest in
/// the failure store, and returns the report (`None` if no worker was running).
///
/// It also waits for the workers that configuration changes replaced: each is already
/// shutting down within its own `shutdown_grace` (plus the store timeout), and has
/// recorded what it could not deliver when this returns.
///
/// Statics are not dropped at process exit, so call this before exiting to keep
/// queued events (a durable store then loses nothing), and from the application's own
/// SIGTERM/SIGINT/SIGHUP handler: the library installs none, and the default action of
/// those signals ends the process without recording anything (see the crate docs).
pub fn shutdown_worker(timeout: Duration) -> Option<ShutdownReport> {
    let (running, retiring) = {
        let mut global = global();
        GENERATION.fetch_add(1, Ordering::Release);
        (global.running.take(), std::mem::take(&mut global.retiring))
    };
    let report = running.map(|running| running.notifier.shutdown(timeout));
    for thread in retiring {
        match thread.join() {
            Ok(retired) => tracing::debug!(?retired, "previous webhook worker stopped"),
            Err(_) => tracing::error!("the thread retiring a previous webhook worker panicked"),
        }
    }
    report
}
