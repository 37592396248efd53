//! Spans of requests (SERVER) and of provider calls (CLIENT), W3C trace context, and the
//! handle that queues finished spans for export (otlp.rs).
//!
//! The context travels in a task-local: a request's middleware runs the handler inside its
//! span's scope, the worker runs its rounds in a scope without a parent, and the provider
//! HTTP core starts its CLIENT span as a child of whatever scope it is called in. Outside any
//! scope (trace export off, or a call made at start) nothing is recorded.
//!
//! What a span records is closed: methods, route patterns, hosts, status codes and provider
//! slugs. Never a full URL or path (query strings and paths carry codes, state and ids),
//! never a header (tokens).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

pub use super::span::{AttributeValue, Span, SpanContext, SpanKind};
use crate::config::OtelSettings;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";
/// Spans waiting for export; past this, new spans are dropped (and counted), never waited for.
const QUEUE_CAPACITY: usize = 2048;

/// Queues finished spans for the exporter task; cheap to clone. Exists only with
/// OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) set.
#[derive(Clone)]
pub struct Tracer {
    queue: mpsc::Sender<Span>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    dropped: Arc<AtomicU64>,
}

impl Tracer {
    /// Starts the exporter task on the current runtime.
    pub fn start(settings: &OtelSettings) -> Tracer {
        let (queue, spans) = mpsc::channel(QUEUE_CAPACITY);
        let (flushes, flush_requests) = mpsc::channel(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let exporter = super::otlp::Exporter::new(settings, dropped.clone());
        tokio::spawn(exporter.run(spans, flush_requests));
        Tracer {
            queue,
            flushes,
            dropped,
        }
    }

    /// Spans dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn record(&self, span: Span) {
        if self.queue.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exports what is queued (at shutdown); gives up after the export timeout.
    pub async fn flush(&self) {
        let (done, exported) = oneshot::channel();
        // A post in progress may hold the exporter for one timeout before it takes the flush.
        let limit = super::otlp::EXPORT_TIMEOUT * 2 + Duration::from_secs(1);
        let _ = tokio::time::timeout(limit, async {
            if self.flushes.send(done).await.is_ok() {
                let _ = exported.await;
            }
        })
        .await;
    }

    /// The SERVER span of one request: a child of the caller's span when `traceparent` is
    /// valid, the root of a new trace otherwise. `route` is the matched pattern, if any.
    pub fn server_span(
        &self,
        traceparent: Option<&str>,
        method: &str,
        route: Option<&str>,
    ) -> SpanInProgress {
        let parent = traceparent.and_then(SpanContext::from_traceparent);
        let method = method_name(method);
        let mut span = SpanInProgress::start(self.clone(), SpanKind::Server, parent, method);
        span.set("http.request.method", AttributeValue::Text(method.into()));
        if let Some(route) = route {
            span.span.name = format!("{method} {route}");
            span.set("http.route", AttributeValue::Text(route.into()));
        }
        span
    }
}

tokio::task_local! {
    static CURRENT: Option<Scope>;
}

/// What spans started in a task attach to.
#[derive(Clone)]
struct Scope {
    tracer: Tracer,
    parent: Option<SpanContext>,
}

/// Runs `work` so that the spans it starts are roots of their own traces (background work,
/// with no request to belong to). Without a tracer, `work` runs as is.
pub fn background<F: Future>(tracer: Option<Tracer>, work: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(tracer.map(|tracer| Scope { tracer, parent: None }), work)
}

/// A span being timed; recorded by `end_*`, forgotten if dropped.
pub struct SpanInProgress {
    tracer: Tracer,
    span: Span,
}

impl SpanInProgress {
    fn start(tracer: Tracer, kind: SpanKind, parent: Option<SpanContext>, name: &str) -> SpanInProgress {
        let now = unix_nanos();
        SpanInProgress {
            tracer,
            span: Span {
                name: name.to_owned(),
                kind,
                context: SpanContext::child_of(parent),
                parent: parent.map(|p| p.span_id),
                start_unix_nanos: now,
                end_unix_nanos: now,
                attributes: Vec::new(),
                error: false,
            },
        }
    }

    pub fn context(&self) -> SpanContext {
        self.span.context
    }

    fn set(&mut self, key: &'static str, value: AttributeValue) {
        self.span.attributes.push((key, value));
    }

    /// Runs `work` with this span as the parent of the spans it starts (provider calls).
    pub fn scope<F: Future>(&self, work: F) -> impl Future<Output = F::Output> {
        let scope = Scope {
            tracer: self.tracer.clone(),
            parent: Some(self.span.context),
        };
        CURRENT.scope(Some(scope), work)
    }

    /// Ends a SERVER span: an error when we answered 5xx (a 4xx is the client's).
    pub fn end_server(mut self, status: u16) {
        self.set("http.response.status_code", AttributeValue::Int(status.into()));
        self.span.error = status >= 500;
        self.end();
    }

    /// Ends a CLIENT span with the provider's status, or why there was none.
    pub fn end_client(mut self, outcome: Result<u16, &'static str>) {
        match outcome {
            Ok(status) => {
                self.set("http.response.status_code", AttributeValue::Int(status.into()));
                self.span.error = status >= 400;
            }
            Err(kind) => {
                self.set("error.type", AttributeValue::Text(kind.into()));
                self.span.error = true;
            }
        }
        self.end();
    }

    fn end(mut self) {
        self.span.end_unix_nanos = unix_nanos().max(self.span.start_unix_nanos);
        self.tracer.record(self.span);
    }
}

/// The CLIENT span of a call to `provider` at `host`, when the caller runs in a trace scope
/// (a request's or the worker's); `None` otherwise, at no cost.
pub fn client_span(method: &str, host: &str, provider: &str) -> Option<SpanInProgress> {
    let scope = CURRENT.try_with(Clone::clone).ok().flatten()?;
    let method = method_name(method);
    let mut span = SpanInProgress::start(scope.tracer, SpanKind::Client, scope.parent, method);
    span.set("http.request.method", AttributeValue::Text(method.into()));
    span.set("server.address", AttributeValue::Text(host.into()));
    span.set("targetym.provider", AttributeValue::Text(provider.into()));
    Some(span)
}

/// Whether spans started here would be recorded.
pub fn in_scope() -> bool {
    CURRENT.try_with(Option::is_some).unwrap_or(false)
}

/// The semantic conventions' closed set of methods; anything else is `_OTHER`.
fn method_name(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("_OTHER")
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_is_read_strictly_and_written_back() {
        let context = SpanContext::from_traceparent(VALID).unwrap();
        assert_eq!(hex::encode(context.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex::encode(context.span_id), "00f067aa0ba902b7");
        assert_eq!(context.traceparent(), VALID);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(SpanContext::from_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn invented_methods_are_other() {
        assert_eq!(method_name("PATCH"), "PATCH");
        assert_eq!(method_name("get"), "_OTHER");
        assert_eq!(method_name("PROPFIND"), "_OTHER");
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (queue, _spans) = mpsc::channel(1);
        let (flushes, _) = mpsc::channel(1);
        let tracer = Tracer {
            queue,
            flushes,
            dropped: Arc::default(),
        };
        for _ in 0..3 {
            tracer.server_span(None, "GET", Some("/healthz")).end_server(200);
        }
        assert_eq!(tracer.dropped(), 2);
    }

    #[tokio::test]
    async fn outside_a_scope_no_client_span_starts() {
        assert!(client_span("GET", "example.com", "slack").is_none());
        assert!(!background(None, async { in_scope() }).await);
    }
}
