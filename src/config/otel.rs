//! OpenTelemetry trace export (the standard `OTEL_*` variables): on only when an endpoint is
//! set, so an instance without a collector does no tracing work at all.

use std::time::Duration;

use secrecy::SecretString;

use super::ConfigError;
use super::vars::Vars;

/// Where and how spans are exported (OTLP/HTTP with JSON bodies).
#[derive(Debug)]
pub struct OtelSettings {
    /// The full URL spans are posted to: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`.
    pub traces_endpoint: url::Url,
    /// `service.name` of every span (`OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// Sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`): often a collector's API key, so
    /// the values are secrets.
    pub headers: Vec<(String, SecretString)>,
    /// How often queued spans are posted (`OTEL_BSP_SCHEDULE_DELAY`, milliseconds).
    pub export_interval: Duration,
}

impl OtelSettings {
    /// The endpoint without credentials or query, for `config check` and logs.
    pub fn endpoint_redacted(&self) -> String {
        let mut shown = self.traces_endpoint.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("REDACTED"));
        }
        if shown.query().is_some() {
            shown.set_query(Some("REDACTED"));
        }
        shown.to_string()
    }
}

pub(super) fn from_vars(v: &Vars) -> Result<Option<OtelSettings>, ConfigError> {
    let traces_endpoint = match (
        v.text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        v.text("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(full), _) => http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", full)?,
        (None, Some(base)) => {
            http_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
            http_url(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &format!("{}/v1/traces", base.trim_end_matches('/')),
            )?
        }
        (None, None) => return Ok(None),
    };
    // We speak OTLP/HTTP (JSON bodies, which every OTLP/HTTP receiver accepts); a gRPC
    // endpoint would refuse every export, so say so at start.
    match v.text("OTEL_EXPORTER_OTLP_PROTOCOL") {
        None | Some("http/json" | "http/protobuf") => {}
        Some(other) => {
            return Err(ConfigError(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL must be http/json or http/protobuf (got {other:?}): traces are exported over OTLP/HTTP"
            )));
        }
    }
    Ok(Some(OtelSettings {
        traces_endpoint,
        service_name: v
            .text("OTEL_SERVICE_NAME")
            .unwrap_or("targetym-integrations")
            .to_owned(),
        headers: headers(v.text("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or(""))?,
        export_interval: v.duration(
            "OTEL_BSP_SCHEDULE_DELAY",
            Duration::from_millis(1),
            1000,
            10..=3_600_000,
        )?,
    }))
}

fn http_url(name: &str, value: &str) -> Result<url::Url, ConfigError> {
    url::Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| ConfigError(format!("{name} must be an http:// or https:// URL")))
}

/// `key1=value1,key2=value2`, values percent-encoded (the specification's format). Errors
/// name the position, never a value.
fn headers(text: &str) -> Result<Vec<(String, SecretString)>, ConfigError> {
    let mut headers = Vec::new();
    for (n, pair) in text.split(',').map(str::trim).enumerate() {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            ConfigError(format!(
                "OTEL_EXPORTER_OTLP_HEADERS: entry {} is not key=value",
                n + 1
            ))
        })?;
        let name = name.trim();
        let value = percent_decode(value.trim());
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let valid_value = value
            .as_deref()
            .is_some_and(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)));
        if !valid_name || !valid_value {
            return Err(ConfigError(format!(
                "OTEL_EXPORTER_OTLP_HEADERS: entry {} is not a valid HTTP header",
                n + 1
            )));
        }
        headers.push((
            name.to_ascii_lowercase(),
            SecretString::from(value.unwrap_or_default()),
        ));
    }
    Ok(headers)
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("v={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<OtelSettings>, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_vars(&Vars(&vars))
    }

    #[test]
    fn off_without_an_endpoint_whatever_else_is_set() {
        let settings = read(&[("OTEL_SERVICE_NAME", "x"), ("OTEL_EXPORTER_OTLP_HEADERS", "a=b")]);
        assert!(settings.unwrap().is_none());
    }

    #[test]
    fn the_traces_endpoint_is_the_base_plus_v1_traces_unless_given_in_full() {
        let s = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(s.traces_endpoint.as_str(), "http://collector:4318/v1/traces");
        assert_eq!(s.service_name, "targetym-integrations");
        let s = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/ingest",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.traces_endpoint.as_str(), "https://traces.example/ingest");
        assert!(read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).is_err());
        assert!(
            read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ])
            .is_err()
        );
    }

    #[test]
    fn headers_are_decoded_and_a_bad_one_is_refused_without_its_value() {
        let s = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr%3Dt, X-Tenant = acme"),
        ])
        .unwrap()
        .unwrap();
        let shown: Vec<(&str, &str)> = s
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(shown, [("api-key", "s3cr=t"), ("x-tenant", "acme")]);
        let err = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,bad header=hunter2"),
        ])
        .err()
        .unwrap();
        assert!(
            err.0.contains("entry 2") && !err.0.contains("hunter2"),
            "{}",
            err.0
        );
    }

    #[test]
    fn the_shown_endpoint_hides_credentials() {
        let s = read(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://user:pw-123@traces.example/v1/traces?key=k-456",
        )])
        .unwrap()
        .unwrap();
        let shown = s.endpoint_redacted();
        assert!(!shown.contains("pw-123") && !shown.contains("k-456"), "{shown}");
    }
}
