//! The exporter task: batches of spans posted as OTLP/HTTP JSON (`ExportTraceServiceRequest`
//! in the protobuf JSON mapping: hex ids, enums as numbers, 64-bit integers as strings).
//!
//! A collector that is down or slow costs the service nothing but the batches it misses:
//! requests only ever `try_send` into the queue, each post has a timeout, and failures are
//! logged at most once a minute with what was lost since.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::VERSION;
use super::span::{AttributeValue, Span};
use crate::config::OtelSettings;

/// How long one export may take.
pub(super) const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// A batch is posted when this many spans wait, or every `OTEL_BSP_SCHEDULE_DELAY`.
const MAX_BATCH: usize = 512;
/// Export failures are logged at most this often.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

pub(super) struct Exporter {
    http: reqwest::Client,
    endpoint: url::Url,
    /// For logs: the endpoint without credentials or query.
    endpoint_shown: String,
    headers: Vec<(String, SecretString)>,
    resource: Value,
    interval: Duration,
    dropped: Arc<AtomicU64>,
    failures: Failures,
}

/// What was lost since the last logged failure.
#[derive(Default)]
struct Failures {
    last_logged: Option<Instant>,
    batches: u64,
    spans: u64,
    dropped_reported: u64,
}

impl Exporter {
    pub(super) fn new(settings: &OtelSettings, dropped: Arc<AtomicU64>) -> Exporter {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(EXPORT_TIMEOUT)
            .user_agent(concat!("targetym-integrations/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a rustls client with static settings builds");
        Exporter {
            http,
            endpoint: settings.traces_endpoint.clone(),
            endpoint_shown: settings.endpoint_redacted(),
            headers: settings.headers.clone(),
            resource: json!({ "attributes": [
                attribute("service.name", &AttributeValue::Text(settings.service_name.clone())),
                attribute("service.version", &AttributeValue::Text(VERSION.into())),
            ]}),
            interval: settings.export_interval,
            dropped,
            failures: Failures::default(),
        }
    }

    /// Runs until every `Tracer` is gone. What is queued then is not posted: the process is
    /// stopping and its runtime may be gone mid-post; `Tracer::flush` is the way out.
    pub(super) async fn run(
        mut self,
        mut spans: mpsc::Receiver<Span>,
        mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                span = spans.recv() => match span {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= MAX_BATCH {
                            self.export(&mut batch).await;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => self.export(&mut batch).await,
                Some(done) = flushes.recv() => {
                    while let Ok(span) = spans.try_recv() {
                        batch.push(span);
                        if batch.len() >= MAX_BATCH {
                            self.export(&mut batch).await;
                        }
                    }
                    self.export(&mut batch).await;
                    let _ = done.send(());
                }
            }
        }
    }

    async fn export(&mut self, batch: &mut Vec<Span>) {
        if batch.is_empty() {
            return;
        }
        let body = self.body(batch);
        let count = batch.len() as u64;
        batch.clear();
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose_secret());
        }
        let failure = match request.send().await {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the collector answered {}", response.status().as_u16())),
            // Without the URL: it is logged once as `endpoint`, redacted.
            Err(e) => Some(e.without_url().to_string()),
        };
        self.report(failure, count);
    }

    /// Logs what was lost (failed posts, spans dropped on a full queue), at most once a
    /// minute, with the totals since the last line.
    fn report(&mut self, failure: Option<String>, spans: u64) {
        if failure.is_some() {
            self.failures.batches += 1;
            self.failures.spans += spans;
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        let lost = self.failures.batches > 0 || dropped > self.failures.dropped_reported;
        let due = self
            .failures
            .last_logged
            .is_none_or(|at| at.elapsed() >= FAILURE_LOG_INTERVAL);
        if !lost || !due {
            return;
        }
        tracing::warn!(
            endpoint = %self.endpoint_shown,
            error = %crate::domain::sanitize(failure.as_deref().unwrap_or("none"), 200),
            failed_batches = self.failures.batches,
            lost_spans = self.failures.spans,
            dropped_spans = dropped - self.failures.dropped_reported,
            "trace export lost spans (collector unreachable or refusing, or the queue full)"
        );
        self.failures = Failures {
            last_logged: Some(Instant::now()),
            dropped_reported: dropped,
            ..Failures::default()
        };
    }

    fn body(&self, spans: &[Span]) -> Vec<u8> {
        let spans: Vec<Value> = spans.iter().map(span_json).collect();
        serde_json::to_vec(&json!({ "resourceSpans": [{
            "resource": self.resource,
            "scopeSpans": [{
                "scope": { "name": "targetym-integrations", "version": VERSION },
                "spans": spans,
            }],
        }]}))
        .expect("a JSON value serializes")
    }
}

fn span_json(span: &Span) -> Value {
    let mut value = json!({
        "traceId": hex::encode(span.context.trace_id),
        "spanId": hex::encode(span.context.span_id),
        "name": span.name,
        "kind": span.kind as i32,
        "startTimeUnixNano": span.start_unix_nanos.to_string(),
        "endTimeUnixNano": span.end_unix_nanos.to_string(),
        "attributes": span.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
        // STATUS_CODE_ERROR; success stays unset, as the HTTP conventions ask.
        "status": if span.error { json!({ "code": 2 }) } else { json!({}) },
    });
    if let Some(parent) = span.parent {
        value["parentSpanId"] = hex::encode(parent).into();
    }
    value
}

fn attribute(key: &str, value: &AttributeValue) -> Value {
    let value = match value {
        AttributeValue::Text(text) => json!({ "stringValue": text }),
        AttributeValue::Int(n) => json!({ "intValue": n.to_string() }),
    };
    json!({ "key": key, "value": value })
}

#[cfg(test)]
mod tests {
    use super::super::span::{SpanContext, SpanKind};
    use super::*;

    #[test]
    fn a_span_is_encoded_as_the_otlp_json_mapping_says() {
        let span = Span {
            name: "GET /healthz".into(),
            kind: SpanKind::Server,
            context: SpanContext {
                trace_id: [0xab; 16],
                span_id: [0x01; 8],
            },
            parent: Some([0x02; 8]),
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_500_000_000,
            attributes: vec![("http.response.status_code", AttributeValue::Int(503))],
            error: true,
        };
        assert_eq!(
            span_json(&span),
            json!({
                "traceId": "abababababababababababababababab",
                "spanId": "0101010101010101",
                "parentSpanId": "0202020202020202",
                "name": "GET /healthz",
                "kind": 2,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000000500000000",
                "attributes": [{ "key": "http.response.status_code", "value": { "intValue": "503" } }],
                "status": { "code": 2 },
            })
        );
    }
}
