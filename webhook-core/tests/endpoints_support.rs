//! A transport that answers per destination host, records every attempt, and may hold
//! attempts until the test lets them go.
#![allow(dead_code, unreachable_pub, missing_docs)]

use async_trait::async_trait;
use http::StatusCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use webhook_core::observe::{Observer, ObserverEvent};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};

/// One attempt as the fake saw it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub host: String,
    pub webhook_id: String,
    pub attempt: u32,
    pub at: tokio::time::Instant,
    pub body: String,
    /// Where the request's body bytes were (two bodies cut from one block sit back to
    /// back).
    pub body_at: (usize, usize),
    pub headers: http::HeaderMap,
}

/// What a host answers to its `n`-th attempt (0-based, counted per host).
pub type Answer = Box<dyn Fn(usize, &DeliveryRequest) -> Reply + Send + Sync>;

/// One answer.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, Duration),
    Hang,
    Refused,
}

pub struct Hosts {
    answers: Vec<(String, Answer)>,
    counts: Mutex<std::collections::HashMap<String, usize>>,
    pub hits: Mutex<Vec<Hit>>,
    /// When set, every attempt first takes a permit (tests release them).
    pub gate: Option<Arc<Semaphore>>,
    pub calls: AtomicUsize,
}

impl std::fmt::Debug for Hosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hosts")
    }
}

impl Hosts {
    pub fn new(answers: Vec<(&str, Answer)>) -> Self {
        Self {
            answers: answers
                .into_iter()
                .map(|(h, a)| (h.to_owned(), a))
                .collect(),
            counts: Mutex::default(),
            hits: Mutex::default(),
            gate: None,
            calls: AtomicUsize::new(0),
        }
    }

    pub fn gated(mut self) -> Self {
        self.gate = Some(Arc::new(Semaphore::new(0)));
        self
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    pub fn hits_to(&self, host: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.host == host).collect()
    }
}

pub fn always(code: u16) -> Answer {
    Box::new(move |_, _| Reply::Status(code))
}

#[async_trait]
impl Transport for Hosts {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate").forget();
        }
        let host = request.destination.host().to_owned();
        let n = {
            let mut counts = self.counts.lock().expect("lock");
            let c = counts.entry(host.clone()).or_default();
            *c += 1;
            *c - 1
        };
        self.hits.lock().expect("lock").push(Hit {
            host: host.clone(),
            webhook_id: request.webhook_id().unwrap_or_default().to_owned(),
            attempt: request.attempt,
            at: tokio::time::Instant::now(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            body_at: (request.body.as_ptr() as usize, request.body.len()),
            headers: request.headers.clone(),
        });
        let reply = self
            .answers
            .iter()
            .find(|(h, _)| *h == host)
            .map_or(Reply::Status(200), |(_, a)| a(n, &request));
        let status = |c: u16| DeliveryResponse::new(StatusCode::from_u16(c).expect("status"));
        match reply {
            Reply::Status(c) => Ok(status(c)),
            Reply::RetryAfter(c, after) => Ok(status(c).with_retry_after(after)),
            Reply::Hang => std::future::pending().await,
            Reply::Refused => Err(TransportError::Connect {
                destination: request.destination.redacted().to_owned(),
                detail: "connection refused".to_owned(),
            }),
        }
    }

    fn enforces_timeout(&self) -> bool {
        true
    }
}

/// Keeps every report.
#[derive(Debug, Default)]
pub struct Reports(pub Mutex<Vec<ObserverEvent>>);

impl Observer for Reports {
    fn on_event(&self, event: &ObserverEvent) {
        self.0.lock().expect("lock").push(event.clone());
    }
}
