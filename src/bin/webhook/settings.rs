//! Turning flags and config files into a running notifier.

use crate::Failure;
use crate::args::{DeliveryArgs, Scheme, SigningArgs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
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
        toml::from_str::<WebhookConfig>(&text).map_err(|e| e.message().to_owned())
    } else {
        WebhookConfig::from_json_str(&text)
            .map_err(|e| e.to_string())
            .or_else(|json_err| toml::from_str::<WebhookConfig>(&text).map_err(|_| json_err))
    };
    parsed.map_err(|e| Failure::usage(format!("--config {}: {e}", path.display())))
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

/// Opens the sled store, with a clear message when it is in use or unreadable.
pub(crate) fn open_store(dir: &Path) -> Result<Arc<SledFailureStore>, Failure> {
    SledFailureStore::open(dir)
        .map(Arc::new)
        .map_err(|e| Failure::failed(format!("cannot open the failure store: {e}")))
}

/// Starts a notifier delivering with the HTTP transport into `store`.
pub(crate) fn notifier(
    config: ResolvedWebhookConfig,
    store: Arc<SledFailureStore>,
) -> Result<Notifier, Failure> {
    let transport = HttpTransport::from_config(&config)
        .map_err(|e| Failure::failed(format!("cannot build the HTTP client: {e}")))?;
    Notifier::builder(config, Arc::new(transport))
        .store(store)
        .start()
        .map_err(|e| Failure::failed(e.to_string()))
}

/// A generous bound on how long one event can take through every retry.
pub(crate) fn worst_case(config: &ResolvedWebhookConfig) -> Duration {
    let retries = config.retry.max_retries();
    let waits: Duration = (1..=retries)
        .filter_map(|n| config.retry.delay(n, None, 1.0))
        .sum();
    config.timeout * (retries + 1) + waits + Duration::from_secs(5)
}
