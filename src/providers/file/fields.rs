//! Checks of single fields of the file.

use super::FieldError;

pub(super) fn set_url(
    target: &mut String,
    value: &Option<String>,
    field: &'static str,
) -> Result<(), FieldError> {
    if let Some(url) = value {
        *target = checked_url(url, field)?;
    }
    Ok(())
}

/// https everywhere; plain http only to this machine (the mock provider, local development).
pub fn checked_url(url: &str, field: &'static str) -> Result<String, FieldError> {
    let parsed = url::Url::parse(url).map_err(|e| (field, format!("not a URL: {e}")))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err((
                field,
                "must be an https:// URL (http only on 127.0.0.1/localhost)".into(),
            ));
        }
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err((field, "must not carry a query, fragment or credentials".into()));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

pub(super) fn non_empty(value: &str, field: &'static str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 {
        return Err((field, "required, 1 to 100 characters".into()));
    }
    Ok(value.to_owned())
}

pub(super) fn pointer(value: &str, field: &'static str) -> Result<String, FieldError> {
    if value.starts_with('/') {
        Ok(value.to_owned())
    } else {
        Err((field, "must be a JSON pointer such as /sub or /data/id".into()))
    }
}

pub(super) fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}
