//! What a span is, as the tracer records it (trace.rs) and the exporter sends it (otlp.rs).

/// A span's place in a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
}

impl SpanContext {
    /// A `traceparent` value of version 00, read strictly (lowercase hex, exact lengths,
    /// non-zero ids). Anything else is `None`: the request then starts a trace of its own.
    pub fn from_traceparent(value: &str) -> Option<SpanContext> {
        let parts: Vec<&str> = value.split('-').collect();
        let [version, trace, span, flags] = parts[..] else {
            return None;
        };
        let lower_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if version != "00" || !lower_hex(trace, 32) || !lower_hex(span, 16) || !lower_hex(flags, 2) {
            return None;
        }
        let mut context = SpanContext {
            trace_id: [0; 16],
            span_id: [0; 8],
        };
        hex::decode_to_slice(trace, &mut context.trace_id).ok()?;
        hex::decode_to_slice(span, &mut context.span_id).ok()?;
        (context.trace_id != [0; 16] && context.span_id != [0; 8]).then_some(context)
    }

    /// The header that makes a callee's spans children of this one (sampled: we export all).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-01",
            hex::encode(self.trace_id),
            hex::encode(self.span_id)
        )
    }

    pub(super) fn child_of(parent: Option<SpanContext>) -> SpanContext {
        SpanContext {
            trace_id: parent.map_or_else(|| nonzero(rand::random()), |p| p.trace_id),
            span_id: nonzero(rand::random()),
        }
    }
}

fn nonzero<const N: usize>(mut id: [u8; N]) -> [u8; N] {
    if id == [0; N] {
        id[N - 1] = 1;
    }
    id
}

/// OTLP's `Span.SpanKind`, as its JSON encoding numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Server = 2,
    Client = 3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributeValue {
    Text(String),
    Int(i64),
}

/// A finished span, as it is exported.
#[derive(Clone, Debug)]
pub struct Span {
    pub name: String,
    pub kind: SpanKind,
    pub context: SpanContext,
    pub parent: Option<[u8; 8]>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub attributes: Vec<(&'static str, AttributeValue)>,
    pub error: bool,
}
