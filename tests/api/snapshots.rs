//! Rendered HTML of the key pages, compared with the files in tests/api/snapshots/ after
//! masking what changes from run to run (ids, tokens, times, ports, asset hashes). A missing
//! snapshot is written and the test fails so that it gets reviewed; UPDATE_SNAPSHOTS=1
//! rewrites them all.

use crate::helpers::{self, browser};
use crate::oauth_helpers::{first_integration, oauth_app};

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Replaces every match of `matcher` (which returns the match length at a position) by `mask`.
fn mask(text: &str, mask: &str, matcher: impl Fn(&[u8]) -> Option<usize>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match matcher(&bytes[i..]) {
            Some(len) => {
                out.push_str(mask);
                i += len;
            }
            None => {
                let ch = text[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn uuid(b: &[u8]) -> Option<usize> {
    (b.len() >= 36
        && b[..36].iter().enumerate().all(|(k, c)| {
            if [8, 13, 18, 23].contains(&k) {
                *c == b'-'
            } else {
                is_hex(*c)
            }
        }))
    .then_some(36)
}

fn timestamp(b: &[u8]) -> Option<usize> {
    // "2026-11-28 13:05 UTC"
    let shape = b"dddd-dd-dd dd:dd UTC";
    (b.len() >= shape.len()
        && shape
            .iter()
            .zip(b)
            .all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c }))
    .then_some(shape.len())
}

fn after_prefix(prefix: &'static [u8], allowed: fn(u8) -> bool) -> impl Fn(&[u8]) -> Option<usize> {
    move |b: &[u8]| {
        if !b.starts_with(prefix) {
            return None;
        }
        let len = b[prefix.len()..].iter().take_while(|c| allowed(**c)).count();
        (len > 0).then_some(prefix.len() + len)
    }
}

fn normalize(html: &str) -> String {
    let token = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let html = mask(html, "UUID", uuid);
    let html = mask(&html, "TIME", timestamp);
    let html = mask(
        &html,
        "name=\"csrf_token\" value=\"CSRF",
        after_prefix(b"name=\"csrf_token\" value=\"", token),
    );
    let html = mask(
        &html,
        "\"X-CSRF-Token\": \"CSRF",
        after_prefix(b"\"X-CSRF-Token\": \"", token),
    );
    let html = mask(&html, "?v=HASH", after_prefix(b"?v=", is_hex));
    let html = mask(
        &html,
        "127.0.0.1:PORT",
        after_prefix(b"127.0.0.1:", |c| c.is_ascii_digit()),
    );
    let duration = |open: u8, close: &'static [u8]| {
        move |b: &[u8]| {
            let digits = b.iter().skip(1).take_while(|c| c.is_ascii_digit()).count();
            (b.first() == Some(&open) && digits > 0 && b[1 + digits..].starts_with(close))
                .then_some(1 + digits + close.len())
        }
    };
    let html = mask(&html, "(N ms)", duration(b'(', b" ms)"));
    mask(&html, ">N ms<", duration(b'>', b" ms<"))
}

fn check(name: &str, html: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/snapshots")
        .join(format!("{name}.html"));
    let actual = normalize(html);
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    match std::fs::read_to_string(&path) {
        Ok(expected) if !update => {
            if expected != actual {
                let line = expected
                    .lines()
                    .zip(actual.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "{name}: the rendered HTML changed (first difference at line {}):\n  expected: {}\n  actual:   {}\nRun with UPDATE_SNAPSHOTS=1 to accept it.",
                    line + 1,
                    expected.lines().nth(line).unwrap_or(""),
                    actual.lines().nth(line).unwrap_or("")
                );
            }
        }
        Ok(_) => std::fs::write(&path, actual).unwrap(),
        Err(_) if update => std::fs::write(&path, actual).unwrap(),
        Err(_) => {
            std::fs::write(&path, &actual).unwrap();
            panic!(
                "{name}: no snapshot yet; wrote {} — review and commit it",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn rendered_pages_match_their_snapshots() {
    let fresh = helpers::spawn_app().await;
    check("setup", &fresh.get("/setup").await.text().await.unwrap());

    let t = oauth_app().await;
    check(
        "login",
        &t.app.get_with(&browser(), "/login").await.text().await.unwrap(),
    );
    let flow = t.connect("mock-oauth").await;
    check("callback_connected", &flow.callback.text().await.unwrap());
    check(
        "integrations",
        &t.app
            .get_with(&t.admin, "/integrations")
            .await
            .text()
            .await
            .unwrap(),
    );
    let dialog = t.app.htmx_get(&t.admin, "/integrations/mock-oidc/connect").await;
    check("connect_dialog", &dialog);
    let id = first_integration(&t.app).await;
    check(
        "integration",
        &t.app
            .get_with(&t.admin, &format!("/integrations/{id}"))
            .await
            .text()
            .await
            .unwrap(),
    );
    check(
        "dashboard",
        &t.app.get_with(&t.admin, "/dashboard").await.text().await.unwrap(),
    );
    check(
        "audit",
        &t.app.get_with(&t.admin, "/audit").await.text().await.unwrap(),
    );
    check(
        "gdpr",
        &t.app.get_with(&t.admin, "/gdpr").await.text().await.unwrap(),
    );
    let csrf = t.app.csrf_with(&t.admin, "/team").await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            "/team/invitations",
            &[("csrf_token", &csrf), ("email", "bob@acme.example")],
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    check(
        "team",
        &t.app.get_with(&t.admin, "/team").await.text().await.unwrap(),
    );
}
