//! Reading (and discarding) a response body, up to a limit.

use http_body_util::BodyExt;
use hyper::body::Incoming;

/// How the read of a response body ended.
#[derive(Debug)]
pub(crate) enum Drained {
    /// The whole body was read: the connection can be reused.
    Complete,
    /// The body was longer than the limit; the read stopped and the body was dropped,
    /// which closes the HTTP/1 connection or resets the HTTP/2 stream.
    LimitExceeded {
        /// Bytes read before stopping.
        bytes: usize,
    },
    /// The connection failed while the body was being read.
    Failed {
        /// Bytes read before the failure.
        bytes: usize,
        /// What went wrong.
        error: hyper::Error,
    },
}

/// Reads `body` chunk by chunk, keeping nothing, and stops once more than `limit`
/// bytes have arrived.
pub(crate) async fn drain(mut body: Incoming, limit: usize) -> Drained {
    let mut bytes = 0usize;
    loop {
        match body.frame().await {
            None => return Drained::Complete,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes = bytes.saturating_add(data.len());
                    if bytes > limit {
                        return Drained::LimitExceeded { bytes };
                    }
                }
            }
            Some(Err(error)) => return Drained::Failed { bytes, error },
        }
    }
}
