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

/// What the sink process is told on its command line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SinkSpec {
    pub(crate) runtime: SinkRuntime,
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
    match spec.runtime {
        SinkRuntime::Current => serve_current(listener, acceptor, delay, false),
        SinkRuntime::Spinning => serve_current(listener, acceptor, delay, true),
        SinkRuntime::Multi => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(spec.threads.max(1) as usize)
                .enable_all()
                .build()?;
            runtime.block_on(accept_loop(listener, acceptor, delay))
        }
        SinkRuntime::PerThread => {
            let threads: Vec<_> = (0..spec.threads.max(1))
                .map(|_| {
                    let (listener, acceptor) = (listener.try_clone(), acceptor.clone());
                    std::thread::spawn(move || serve_current(listener?, acceptor, delay, false))
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
) -> Result<(), BoxError> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    if spin {
        // Poll the sockets on every tick instead of every 61st.
        builder.event_interval(1);
    }
    builder.enable_all().build()?.block_on(async move {
        if spin {
            // Always one task ready, so the runtime never waits in epoll.
            tokio::spawn(async {
                loop {
                    tokio::task::yield_now().await;
                }
            });
        }
        accept_loop(listener, acceptor, delay).await
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    delay: Duration,
) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
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
        command.args(["--sink", "--sink-runtime", runtime]).args([
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
