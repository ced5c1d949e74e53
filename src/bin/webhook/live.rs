//! The live figures of a running notifier, read from its Prometheus endpoint
//! (`status --metrics-url`): the same names the `metrics` feature records.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use webhook_core::observe::names;

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a metrics page that is read.
const MAX_PAGE: usize = 4 * 1024 * 1024;

/// Why the live figures could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LiveError {
    /// The URL is not a plain `http://` URL.
    #[error("--metrics-url must be an http:// URL: {0}")]
    Url(String),
    /// No answer in time, or the connection failed.
    #[error("cannot reach the metrics endpoint: {0}")]
    Fetch(String),
    /// An answer that is not a metrics page.
    #[error("the metrics endpoint answered {0}")]
    Status(u16),
}

/// What a running notifier reports through its metrics.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct LiveFigures {
    /// The endpoint read.
    pub(crate) source: String,
    pub(crate) queue_depth: Option<f64>,
    pub(crate) in_flight: Option<f64>,
    pub(crate) outbox_pending: Option<f64>,
    pub(crate) oldest_pending_seconds: Option<f64>,
    /// `webhook_deliveries_total` by `outcome`.
    pub(crate) deliveries: BTreeMap<String, f64>,
    /// `webhook_attempts_total` by `result`.
    pub(crate) attempts: BTreeMap<String, f64>,
    /// `webhook_dropped_total` by `reason`.
    pub(crate) dropped: BTreeMap<String, f64>,
    /// `webhook_attempt_duration_seconds`: count and sum.
    pub(crate) attempt_count: Option<f64>,
    pub(crate) attempt_seconds_sum: Option<f64>,
}

/// Reads `url` (a Prometheus text page) and picks the notifier's figures.
pub(crate) async fn scrape(url: &str) -> Result<LiveFigures, LiveError> {
    let uri: hyper::Uri = url.parse().map_err(|_| LiveError::Url(url.to_owned()))?;
    if uri.scheme_str() != Some("http") {
        return Err(LiveError::Url(url.to_owned()));
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let fetch = async {
        let response = client
            .get(uri)
            .await
            .map_err(|e| LiveError::Fetch(e.to_string()))?;
        if !response.status().is_success() {
            return Err(LiveError::Status(response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), MAX_PAGE)
            .collect()
            .await
            .map_err(|e| LiveError::Fetch(e.to_string()))?;
        Ok(body.to_bytes())
    };
    let page = tokio::time::timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .map_err(|_| LiveError::Fetch(format!("no answer within {SCRAPE_TIMEOUT:?}")))??;
    let mut figures = parse(&String::from_utf8_lossy(&page));
    figures.source = url.to_owned();
    Ok(figures)
}

/// Picks the `webhook_` samples out of a Prometheus text page.
pub(crate) fn parse(page: &str) -> LiveFigures {
    let mut f = LiveFigures::default();
    for line in page.lines().map(str::trim) {
        if line.starts_with('#') || !line.starts_with("webhook_") {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, label) = match series.split_once('{') {
            Some((name, rest)) => (name, first_label_value(rest.trim_end_matches('}'))),
            None => (series, None),
        };
        let by = |map: &mut BTreeMap<String, f64>| {
            if let Some(label) = &label {
                map.insert(label.clone(), value);
            }
        };
        match name {
            n if n == names::QUEUE_DEPTH => f.queue_depth = Some(value),
            n if n == names::IN_FLIGHT => f.in_flight = Some(value),
            n if n == names::OUTBOX_PENDING => f.outbox_pending = Some(value),
            n if n == names::OLDEST_PENDING_SECONDS => f.oldest_pending_seconds = Some(value),
            n if n == names::DELIVERIES_TOTAL => by(&mut f.deliveries),
            n if n == names::ATTEMPTS_TOTAL => by(&mut f.attempts),
            n if n == names::DROPPED_TOTAL => by(&mut f.dropped),
            "webhook_attempt_duration_seconds_count" => f.attempt_count = Some(value),
            "webhook_attempt_duration_seconds_sum" => f.attempt_seconds_sum = Some(value),
            _ => {}
        }
    }
    f
}

/// The value of the first label of `labels` (`key="value",…`).
fn first_label_value(labels: &str) -> Option<String> {
    let (_, rest) = labels.split_once('=')?;
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notifier_figures_are_picked_out_of_a_prometheus_page() {
        let page = "# TYPE webhook_queue_depth gauge\n\
            webhook_queue_depth 3\n\
            webhook_in_flight 1\n\
            webhook_oldest_pending_seconds 12.5\n\
            webhook_deliveries_total{outcome=\"delivered\"} 45\n\
            webhook_deliveries_total{outcome=\"permanent\"} 2\n\
            webhook_attempts_total{result=\"5xx\"} 7\n\
            webhook_dropped_total{reason=\"queue_full\"} 1\n\
            webhook_attempt_duration_seconds_count 52\n\
            other_metric 9\n";
        let f = parse(page);
        assert_eq!(f.queue_depth, Some(3.0));
        assert_eq!(f.in_flight, Some(1.0));
        assert_eq!(f.oldest_pending_seconds, Some(12.5));
        assert_eq!(f.outbox_pending, None);
        assert_eq!(f.deliveries.get("delivered"), Some(&45.0));
        assert_eq!(f.deliveries.get("permanent"), Some(&2.0));
        assert_eq!(f.attempts.get("5xx"), Some(&7.0));
        assert_eq!(f.dropped.get("queue_full"), Some(&1.0));
        assert_eq!(f.attempt_count, Some(52.0));
    }
}
