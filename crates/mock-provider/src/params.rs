//! Form and query parameters, which OAuth forbids repeating (RFC 6749 §3.1, §3.2).

pub(super) type Params = Vec<(String, String)>;

/// Parses application/x-www-form-urlencoded input; `None` when a parameter is repeated.
pub(super) fn parse_unique(input: &[u8]) -> Option<Params> {
    let params: Params = url::form_urlencoded::parse(input).into_owned().collect();
    let repeated = params
        .iter()
        .enumerate()
        .any(|(i, (key, _))| params[..i].iter().any(|(k, _)| k == key));
    (!repeated).then_some(params)
}

pub(super) fn value<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}
