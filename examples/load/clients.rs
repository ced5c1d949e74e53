//! The bare clients the pipeline is compared with: a pooled hyper-util client (the
//! fastest client we could build), and the seed's shape (a new client, connection and,
//! over TLS, handshake per request).

use crate::pipeline::signed_headers;
use crate::{BoxError, PHASE_BOUND};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use webhook_core::signing::Signer;
use webhook_core::{WebhookMessage, WebhookPayload};

/// What every client sends and how: the same URI, headers and body as the pipeline.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) uri: Uri,
    /// Header sets signed beforehand, each with its own webhook id and signature, used
    /// in turn: on the wire each request carries fresh values as the pipeline's do
    /// (with one fixed set, HTTP/2's header compression would send the bare client's
    /// id and signature as one-byte table references), without the bare client
    /// signing anything.
    pub(crate) headers: Arc<Vec<HeaderMap>>,
    pub(crate) next: Arc<AtomicU64>,
    pub(crate) body: Bytes,
    /// The CA to trust (with TLS).
    pub(crate) roots: Option<Arc<RootCertStore>>,
    /// Offer only HTTP/2 through ALPN over TLS; HTTP/1.1 otherwise. (Not
    /// `http2_only`: that shares one connection between all requests, which measured
    /// slower here at every concurrency above 1 than letting concurrent first requests
    /// each open a connection, as the transport does.)
    pub(crate) h2: bool,
}

/// The roots holding the sink's CA.
pub(crate) fn roots(ca_pem: &str) -> Result<Arc<RootCertStore>, BoxError> {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(der?)?;
    }
    Ok(Arc::new(roots))
}

fn tls_config(roots: &Arc<RootCertStore>) -> Result<ClientConfig, BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots.clone())
        .with_no_client_auth())
}

/// A pooled client: over plain HTTP without the TLS layer at all (the fastest bare
/// client), over TLS with hyper-rustls.
#[derive(Clone)]
enum Pooled {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

/// A pooled client for `target` (plain or TLS; HTTP/1.1, or HTTP/2 only).
fn client(target: &Target, pool: usize) -> Result<Pooled, BoxError> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_max_idle_per_host(pool);
    let Some(roots) = &target.roots else {
        return Ok(Pooled::Plain(builder.build(http)));
    };
    http.enforce_http(false);
    let tls = HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(roots)?)
        .https_only();
    let connector = if target.h2 {
        tls.enable_http2().wrap_connector(http)
    } else {
        tls.enable_http1().wrap_connector(http)
    };
    Ok(Pooled::Tls(builder.build(connector)))
}

/// What a bare client that signs (`<runtime>+sign`) does per request, as every webhook
/// sender must, with no queue and no worker: the message made from the payload (its
/// JSON body and a fresh webhook id, as `Notifier::send` makes it), its headers signed
/// now (`Signer::sign_into`), and a timeout on the exchange.
pub(crate) struct Signing {
    pub(crate) signer: Signer,
    pub(crate) payload: WebhookPayload,
    /// Over HTTP/1.1, the `host` header the transport sends.
    pub(crate) host: Option<HeaderValue>,
    pub(crate) timeout: Duration,
}

/// One POST to the target (its body and one of its header sets in turn, or with
/// `signing` a message made and signed now); an error unless the answer is 200.
async fn post(client: &Pooled, target: &Target, signing: Option<&Signing>) -> Result<(), BoxError> {
    let Some(signing) = signing else {
        let turn = target.next.fetch_add(1, Ordering::Relaxed) as usize;
        let headers = target.headers[turn % target.headers.len()].clone();
        return exchange(client, target, target.body.clone(), headers).await;
    };
    let message = WebhookMessage::from_payload(&signing.payload)?;
    let headers = signed_headers(&signing.signer, &message, signing.host.as_ref());
    let body = message.body().clone();
    tokio::time::timeout(signing.timeout, exchange(client, target, body, headers))
        .await
        .map_err(|_| "the sink did not answer in time")?
}

/// POSTs `body` with `headers` to the target and reads the whole answer; an error
/// unless it is 200.
async fn exchange(
    client: &Pooled,
    target: &Target,
    body: Bytes,
    headers: HeaderMap,
) -> Result<(), BoxError> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target.uri.clone();
    *request.headers_mut() = headers;
    let response = match client {
        Pooled::Plain(client) => client.request(request).await?,
        Pooled::Tls(client) => client.request(request).await?,
    };
    let status = response.status();
    response.into_body().collect().await?;
    if status != StatusCode::OK {
        return Err(format!("the sink answered {status}").into());
    }
    Ok(())
}

/// Runs `count` calls of `one` from `c` tasks (each takes the next call's turn).
async fn spread<F, Fut>(c: u32, count: u64, one: F) -> Result<(), BoxError>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (next, one) = (next.clone(), one.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    one().await?;
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// `warm_up` untimed calls, then `n` timed ones.
async fn timed<F, Fut>(c: u32, warm_up: u64, n: u64, one: F) -> Result<Duration, BoxError>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send,
{
    tokio::time::timeout(PHASE_BOUND, spread(c, warm_up, one.clone())).await??;
    let started = Instant::now();
    tokio::time::timeout(PHASE_BOUND, spread(c, n, one)).await??;
    Ok(started.elapsed())
}

/// The bare pooled client: kept across the slices of a run, like the pipeline's.
pub(crate) struct Bare {
    client: Pooled,
    target: Arc<Target>,
    c: u32,
    signing: Option<Arc<Signing>>,
}

impl Bare {
    /// A pooled client for `c` concurrent requests to `target`; with `signing`, it signs
    /// every request itself instead of sending header sets signed beforehand.
    pub(crate) fn new(
        target: &Target,
        c: u32,
        signing: Option<Arc<Signing>>,
    ) -> Result<Self, BoxError> {
        Ok(Self {
            client: client(target, c as usize)?,
            target: Arc::new(target.clone()),
            c,
            signing,
        })
    }

    /// `n` POSTs from `c` tasks, after `warm_up` untimed ones.
    pub(crate) async fn run(&self, warm_up: u64, n: u64) -> Result<Duration, BoxError> {
        let (client, target) = (self.client.clone(), self.target.clone());
        let signing = self.signing.clone();
        timed(self.c, warm_up, n, move || {
            let (client, target, signing) = (client.clone(), target.clone(), signing.clone());
            async move { post(&client, &target, signing.as_deref()).await }
        })
        .await
    }
}

/// The seed's shape: every request builds a new client (its TLS configuration too, so
/// no session is resumed), opens a new connection, and drops both.
pub(crate) async fn seed_shape(
    target: &Target,
    c: u32,
    warm_up: u64,
    n: u64,
) -> Result<Duration, BoxError> {
    let target = Arc::new(target.clone());
    timed(c, warm_up, n, move || {
        let target = target.clone();
        async move {
            let client = client(&target, 0)?;
            post(&client, &target, None).await
        }
    })
    .await
}
