//! Turning flags and config files into a running notifier.

use crate::Failure;
use crate::args::{DeliveryArgs, Scheme, SigningArgs};
use crate::store::{Backend, WatchedStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use webhook_core::signing::SignatureScheme;
use webhook_core::{Notifier, ResolvedWebhookConfig, WebhookConfig};
use webhook_http::HttpTransport;
use webhook_sled::SledFailureStore;

/// Reads a `WebhookConfig` from a TOML or JSON file (by extension; otherwise JSON, then TOML).
pub(crate) fn read_config_file(path: &Path) -> Result<WebhookConfig, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read --config {}: {e}", path.display())))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let parsed = if is_toml {
        toml_config(&text)
    } else {
        WebhookConfig::from_json_str(&text)
            .map_err(|e| e.to_string())
            .or_else(|json_err| toml_config(&text).map_err(|_| json_err))
    };
    parsed.map_err(|e| Failure::usage(format!("--config {}: {e}", path.display())))
}

/// Parses TOML, naming the field and the line and column like the JSON errors do (but
/// never quoting the line, which may hold a secret).
fn toml_config(text: &str) -> Result<WebhookConfig, String> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, WebhookConfig>(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let place = inner.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        });
        let field = (!path.is_empty() && path != ".").then(|| format!("`{path}`"));
        let message = inner.message().trim_end().to_owned();
        match (field, place) {
            (Some(field), Some(place)) => format!("TOML: {field} at {place}: {message}"),
            (Some(field), None) => format!("TOML: {field}: {message}"),
            (None, Some(place)) => format!("TOML: at {place}: {message}"),
            (None, None) => format!("TOML: {message}"),
        }
    })
}

/// Applies the signing flags to `config`.
pub(crate) fn apply_signing(config: &mut WebhookConfig, signing: &SigningArgs) {
    if let Some(secret) = &signing.secret {
        config.secret = Some(secret.clone());
    }
    if let Some(scheme) = signing.scheme {
        config.signature_scheme = Some(match scheme {
            Scheme::Standard => SignatureScheme::Standard,
            Scheme::Hex => SignatureScheme::Hex,
        });
    }
    if let Some(header) = &signing.signature_header {
        config.signature_header = Some(header.clone());
    }
}

/// The configuration for `send`/`replay`: the file, then the flags; every event allowed
/// unless the file narrows them.
pub(crate) fn delivery_config(args: &DeliveryArgs) -> Result<ResolvedWebhookConfig, Failure> {
    let mut config = match &args.config {
        Some(path) => read_config_file(path)?,
        None => WebhookConfig::default(),
    };
    config.enabled = Some(true);
    config.url = Some(args.url.clone());
    apply_signing(&mut config, &args.signing);
    if args.timeout_secs.is_some() {
        config.timeout_secs = args.timeout_secs;
    }
    if args.retry_count.is_some() {
        config.retry_count = args.retry_count;
    }
    if args.retry_backoff_ms.is_some() {
        config.retry_backoff_ms = args.retry_backoff_ms;
    }
    if args.allow_insecure_http {
        config.allow_insecure_http = Some(true);
    }
    if args.allow_private_targets {
        config.allow_private_targets = Some(true);
    }
    if config.events.is_none() {
        config.events = Some(vec!["*".to_owned()]);
    }
    if args.store.is_some() {
        config.store_path.clone_from(&args.store);
    }
    if args.durable {
        config.durable = Some(true);
    }
    config
        .resolve()
        .map_err(|e| Failure::usage(format!("invalid configuration: {e}")))
}

/// The store folder: the flag, the config's `store_path`, or `./.webhook/failures`.
pub(crate) fn store_dir(flag: Option<&Path>, config: Option<&ResolvedWebhookConfig>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| config.and_then(|c| c.store_path.clone()))
        .unwrap_or_else(|| webhook_sled::failure_store_path(Path::new(".")))
}

/// Opens the store for writing: the sled store in `dir`, or PostgreSQL when `dir` is a
/// `postgres://` URL. A store that cannot be opened ends the command with exit 3,
/// naming the store and the cause; a damaged sled store is reported on stderr.
pub(crate) fn open_store(dir: &Path) -> Result<Arc<WatchedStore>, Failure> {
    let backend = match postgres_url(dir) {
        Some(url) => Backend::Postgres(
            webhook_postgres::Database::connect(webhook_postgres::PostgresOptions::from_url(url))
                .map_err(|e| Failure::not_recorded(format!("cannot open the failure store: {e}")))?,
        ),
        None => {
            let store = SledFailureStore::open(dir).map_err(|e| {
                Failure::not_recorded(format!("cannot open the failure store: {e}"))
            })?;
            warn_damage(&store);
            Backend::Sled(store)
        }
    };
    Ok(Arc::new(WatchedStore::new(backend)))
}

/// The URL, when `--store` (or `store_path`) names a PostgreSQL database.
pub(crate) fn postgres_url(dir: &Path) -> Option<&str> {
    webhook_postgres::url_in(dir)
}

/// The store's location for messages (never a database's password).
pub(crate) fn describe(dir: &Path) -> String {
    webhook_postgres::describe_store_path(dir)
}

/// Prints the store's damage report, if any, on stderr.
pub(crate) fn warn_damage(store: &SledFailureStore) {
    if let Some(damage) = store.damage() {
        eprintln!("webhook: warning: {damage}");
    }
}

/// Starts a notifier delivering with the HTTP transport into `store`.
pub(crate) fn notifier(
    config: ResolvedWebhookConfig,
    store: Arc<WatchedStore>,
) -> Result<Notifier, Failure> {
    let transport = HttpTransport::from_config(&config)
        .map_err(|e| Failure::failed(format!("cannot build the HTTP client: {e}")))?;
    let durable = config.outbox.durable;
    let mut builder = Notifier::builder(config, Arc::new(transport));
    if durable {
        let outbox = store
            .outbox()
            .map_err(|e| Failure::not_recorded(format!("cannot open the outbox: {e}")))?;
        builder = builder.outbox(outbox);
    }
    builder
        .store(store)
        .start()
        .map_err(|e| Failure::failed(e.to_string()))
}
