//! Local servers, a test PKI and request helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use webhook_core::config::{Destination, DestinationPolicy};
use webhook_core::transport::DeliveryRequest;
use webhook_http::{HttpTransport, HttpTransportBuilder};

/// A generous bound for things that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(5);

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub version: Version,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Builds the answer to a recorded request.
pub type Respond = Arc<dyn Fn(&Recorded) -> Response<Full<Bytes>> + Send + Sync>;

/// Answers 204 No Content.
pub fn no_content() -> Respond {
    Arc::new(|_| status_response(StatusCode::NO_CONTENT, &[]))
}

/// A response with `status`, `headers` and an empty body.
pub fn status_response(status: StatusCode, headers: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    response
}

/// A hyper server (HTTP/1.1 and HTTP/2, optionally behind TLS) on 127.0.0.1.
pub struct TestServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves plain HTTP.
    pub async fn plain(respond: Respond) -> Self {
        Self::start(None, respond).await
    }

    /// Serves HTTPS with `tls` (ALPN offers h2 and http/1.1).
    pub async fn tls(tls: Arc<ServerConfig>, respond: Respond) -> Self {
        Self::start(Some(tls), respond).await
    }

    async fn start(tls: Option<Arc<ServerConfig>>, respond: Respond) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(
            listener,
            tls,
            respond,
            connections.clone(),
            requests.clone(),
        ));
        Self {
            addr,
            connections,
            requests,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    respond: Respond,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    while let Ok((stream, _)) = listener.accept().await {
        connections.fetch_add(1, Ordering::SeqCst);
        let respond = respond.clone();
        let requests = requests.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let respond = respond.clone();
                let requests = requests.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let recorded = Recorded {
                        version: parts.version,
                        method: parts.method,
                        uri: parts.uri,
                        headers: parts.headers,
                        body,
                    };
                    let response = respond(&recorded);
                    requests.lock().expect("requests lock").push(recorded);
                    Ok::<_, Infallible>(response)
                }
            });
            let server = auto::Builder::new(TokioExecutor::new());
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = server.serve_connection(TokioIo::new(tls), service).await;
                    }
                }
                None => {
                    let _ = server.serve_connection(TokioIo::new(stream), service).await;
                }
            }
        });
    }
}

/// A CA generated for the test and a server certificate it signed for
/// `localhost` and `127.0.0.1`.
pub struct TestPki {
    pub ca_der: Vec<u8>,
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
}

impl TestPki {
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "webhook-http test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("self-signed CA");

        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("leaf signed by the CA");

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut server_config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der().clone()], key)
                .expect("server certificate");
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        Self {
            ca_der: ca.der().to_vec(),
            ca_pem: ca.pem(),
            server_config: Arc::new(server_config),
        }
    }

    /// The same certificate, but the server offers only HTTP/1.1 through ALPN.
    pub fn http1_only_server_config(&self) -> Arc<ServerConfig> {
        let mut config = (*self.server_config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A destination parsed with every URL-text check off, so that only the transport's
/// own checks apply.
pub fn destination(url: &str) -> Arc<Destination> {
    let anything = DestinationPolicy {
        allow_insecure_http: true,
        allow_private_targets: true,
    };
    Arc::new(Destination::parse(url, anything).expect("test URL"))
}

/// A JSON delivery to `url` with the given timeout.
pub fn request(url: &str, timeout: Duration) -> DeliveryRequest {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("webhook-id", HeaderValue::from_static("msg_test"));
    DeliveryRequest::new(
        destination(url),
        headers,
        Bytes::from_static(br#"{"event":"task_created"}"#),
        timeout,
        1,
    )
}

/// A builder that may reach this machine's test servers over plain HTTP.
pub fn local_builder() -> HttpTransportBuilder {
    HttpTransport::builder()
        .allow_insecure_http(true)
        .allow_private_targets(true)
}

/// A local transport with the default settings otherwise.
pub fn local_transport() -> HttpTransport {
    local_builder().build().expect("transport")
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr")
}

/// Reads one HTTP/1.1 request (head and `content-length` body) from a raw connection.
pub async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    while received.len() < 1024 * 1024 {
        if let Some(head_end) = find(&received, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= head_end + 4 + length {
                return received;
            }
        }
        let n = stream.read(&mut chunk).await.expect("read request");
        if n == 0 {
            return received;
        }
        received.extend_from_slice(&chunk[..n]);
    }
    received
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A raw TCP server on 127.0.0.1 that runs `handle` on each accepted connection.
pub struct RawServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RawServer {
    pub async fn start<F, Fut>(handle: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handle(stream));
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes `bytes` and keeps the connection open without ever answering further.
pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
}
