//! The sink: a separate process (this binary with `--sink`) answering every POST with
//! `200` and an empty body, over plain HTTP/1.1 or over TLS (HTTP/1.1 and HTTP/2 through
//! ALPN) with a certificate made at run time.

use crate::BoxError;
use bytes::Bytes;
use clap::ValueEnum;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// How the sink runs its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SinkRuntime {
    /// One current-thread runtime (`--sink-threads` is ignored).
    Current,
    /// One multi-thread runtime with `--sink-threads` workers.
    Multi,
    /// `--sink-threads` threads, each with its own current-thread runtime, accepting
    /// from the same listening socket.
    PerThread,
    /// One current-thread runtime that never parks its thread: a task yields in a loop,
    /// and the runtime looks at its sockets on every tick. A parked sink has to be woken
    /// for each request that finds it idle, and on this machine (a KVM guest) the
    /// client's `writev` pays for that wake-up (BENCHMARKS.md, "Round 5"); a receiver
    /// on another host costs its sender nothing of the kind. It keeps one core busy.
    Spinning,
}

/// Which HTTP/1.1 server the sink runs (HTTP/2 is always hyper's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SinkServer {
    /// hyper's HTTP/1.1 server.
    Hyper,
    /// A hand-written HTTP/1.1 responder ([`serve_minimal`]): reads each request's head
    /// and `content-length` body and writes the same bytes hyper would answer with. Only
    /// for the clients of this driver; not a general server.
    Minimal,
}

/// What the sink process is told on its command line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SinkSpec {
    pub(crate) runtime: SinkRuntime,
    pub(crate) server: SinkServer,
    pub(crate) threads: u32,
    pub(crate) delay_ms: u64,
    pub(crate) tls: bool,
}

/// Runs the sink in this process (the hidden `--sink` mode): prints the port, then (with
/// TLS) the CA certificate's PEM and an empty line, then serves until stdin closes.
pub(crate) fn run_sink(spec: SinkSpec) -> Result<(), BoxError> {
    // Leave when the parent closes our stdin (it also kills us; this covers its crash).
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0_u8; 64];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let tls = if spec.tls {
        let (ca_pem, config) = certificate()?;
        Some((ca_pem, Arc::new(config)))
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", listener.local_addr()?.port())?;
    if let Some((pem, _)) = &tls {
        writeln!(out, "{}", pem.trim_end())?;
        writeln!(out)?;
    }
    out.flush()?;
    drop(out);
    let acceptor = tls.map(|(_, config)| tokio_rustls::TlsAcceptor::from(config));
    let delay = Duration::from_millis(spec.delay_ms);
    let minimal = spec.server == SinkServer::Minimal && delay.is_zero();
    match spec.runtime {
        SinkRuntime::Current => serve_current(listener, acceptor, delay, false, minimal),
        SinkRuntime::Spinning => serve_current(listener, acceptor, delay, true, minimal),
        SinkRuntime::Multi => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(spec.threads.max(1) as usize)
                .enable_all()
                .build()?;
            runtime.block_on(accept_loop(listener, acceptor, delay, minimal))
        }
        SinkRuntime::PerThread => {
            let threads: Vec<_> = (0..spec.threads.max(1))
                .map(|_| {
                    let (listener, acceptor) = (listener.try_clone(), acceptor.clone());
                    std::thread::spawn(move || {
                        serve_current(listener?, acceptor, delay, false, minimal)
                    })
                })
                .collect();
            for thread in threads {
                thread.join().map_err(|_| "a sink thread panicked")??;
            }
            Ok(())
        }
    }
}

/// Serves on a current-thread runtime on this thread; with `spin`, the thread never
/// parks (see [`SinkRuntime::Spinning`]).
fn serve_current(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    delay: Duration,
    spin: bool,
    minimal: bool,
) -> Result<(), BoxError> {
    current_thread(spin)?.block_on(async move {
        if spin {
            spawn_spinner();
        }
        accept_loop(listener, acceptor, delay, minimal).await
    })
}

/// A current-thread runtime; with `spin`, one that looks at its sockets on every tick
/// instead of every 61st (it never parks while [`spawn_spinner`]'s task runs on it).
/// The spinning sink and the spinning bare client are both built this way.
pub(crate) fn current_thread(spin: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    if spin {
        builder.event_interval(1);
    }
    builder.enable_all().build()
}

/// Spawns a task that only yields, so that the current runtime always has a task ready
/// and never waits in epoll; abort the handle to let it park again.
pub(crate) fn spawn_spinner() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::task::yield_now().await;
        }
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    delay: Duration,
    minimal: bool,
) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None if minimal => serve_minimal(stream).await,
                None => serve_http1(TokioIo::new(stream), delay).await,
                Some(acceptor) => {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        let service = service_fn(move |req| answer(req, delay));
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    } else if minimal {
                        serve_minimal(tls).await;
                    } else {
                        serve_http1(TokioIo::new(tls), delay).await;
                    }
                }
            }
        });
    }
}

async fn serve_http1<S>(io: TokioIo<S>, delay: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| answer(req, delay));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

/// The hand-written HTTP/1.1 responder ([`SinkServer::Minimal`]): for each request on
/// the connection (a head, then a body of `content-length` bytes; this driver's clients
/// send nothing else) it answers `200` with an empty body, in the bytes hyper's server
/// writes (`content-length: 0` and a `date`). Requests that arrive together are answered
/// with one write. It closes the connection on anything it does not understand.
async fn serve_minimal<S>(mut io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(256);
    let mut date = DateLine::default();
    loop {
        let mut used = 0;
        while let Some(head) = head_len(&buf[used..]) {
            let Some(body) = content_length(&buf[used..used + head]) else {
                return;
            };
            if buf.len() - used < head + body {
                break;
            }
            used += head + body;
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n");
            out.extend_from_slice(date.current());
            out.extend_from_slice(b"\r\n");
        }
        buf.drain(..used);
        if !out.is_empty() {
            if io.write_all(&out).await.is_err() || io.flush().await.is_err() {
                return;
            }
            out.clear();
        }
        match io.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The length of the request head at the start of `buf` (through its blank line), once
/// it has all arrived.
fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The `content-length` of a request head (0 without one; `None` if it is not a number).
fn content_length(head: &[u8]) -> Option<usize> {
    const NAME: &[u8] = b"\r\ncontent-length:";
    let Some(at) = head
        .windows(NAME.len())
        .position(|w| w.eq_ignore_ascii_case(NAME))
    else {
        return Some(0);
    };
    let rest = &head[at + NAME.len()..];
    let end = rest.iter().position(|&b| b == b'\r')?;
    std::str::from_utf8(&rest[..end]).ok()?.trim().parse().ok()
}

/// The `date: ...\r\n` line of a response, made again when the second changes.
#[derive(Default)]
struct DateLine {
    second: u64,
    line: Vec<u8>,
}

impl DateLine {
    fn current(&mut self) -> &[u8] {
        let now = std::time::SystemTime::now();
        let second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second || self.line.is_empty() {
            self.second = second;
            self.line.clear();
            self.line.extend_from_slice(b"date: ");
            self.line
                .extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
            self.line.extend_from_slice(b"\r\n");
        }
        &self.line
    }
}

/// Reads the whole body (so the connection stays reusable), waits `delay`, answers 200.
async fn answer(
    req: Request<Incoming>,
    delay: Duration,
) -> Result<Response<Empty<Bytes>>, std::convert::Infallible> {
    let _ = req.into_body().collect().await;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Ok(Response::new(Empty::new()))
}

/// A CA made now and a certificate it signed for `127.0.0.1` and `localhost`: the CA's
/// PEM (for the clients to trust) and the server's configuration (ALPN h2, http/1.1).
fn certificate() -> Result<(String, ServerConfig), BoxError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "load driver CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key)?;
    let leaf_key = KeyPair::generate()?;
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((ca.pem(), config))
}

/// The sink child process; killed and reaped when dropped.
pub(crate) struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    pub(crate) port: u16,
    /// The CA certificate (PEM) to trust, with TLS.
    pub(crate) ca_pem: Option<String>,
}

impl Sink {
    /// Starts the sink process and reads its port (and certificate).
    pub(crate) fn start(spec: SinkSpec) -> Result<Self, BoxError> {
        let runtime = match spec.runtime {
            SinkRuntime::Current => "current",
            SinkRuntime::Multi => "multi",
            SinkRuntime::PerThread => "per-thread",
            SinkRuntime::Spinning => "spinning",
        };
        let mut command = Command::new(std::env::current_exe()?);
        let server = match spec.server {
            SinkServer::Hyper => "hyper",
            SinkServer::Minimal => "minimal",
        };
        command
            .args(["--sink", "--sink-runtime", runtime, "--sink-server", server])
            .args([
                "--sink-delay-ms",
                &spec.delay_ms.to_string(),
                "--sink-threads",
                &spec.threads.to_string(),
            ]);
        if spec.tls {
            command.arg("--tls");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the sink has no stdout")?;
        let mut sink = Self {
            child,
            stdin,
            port: 0,
            ca_pem: None,
        };
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().ok_or("the sink printed nothing")??;
        sink.port = line
            .trim()
            .parse()
            .map_err(|_| format!("the sink did not print its port (got {line:?})"))?;
        if spec.tls {
            let mut pem = String::new();
            for line in lines {
                let line = line?;
                if line.is_empty() {
                    break;
                }
                pem.push_str(&line);
                pem.push('\n');
            }
            sink.ca_pem = Some(pem);
        }
        Ok(sink)
    }

    /// The sink's process id (for its CPU time).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
