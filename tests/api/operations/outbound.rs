//! Outbound calls to providers, made by the real binary running a directory sync: they go
//! through the proxy the standard variables name (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`)
//! and straight to the hosts `NO_PROXY` lists; they trust the certificate authorities
//! `TLS_ROOTS` names (a private one only from the system's store).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use targetym_integrations::db::schema::directory_syncs as s;
use targetym_integrations::domain::{IntegrationId, OrgId};
use targetym_integrations::integrations::directory::{SyncNow, sync_now};

use crate::faults::{start_binary_on, wait_ready};
use crate::oauth_helpers::{OAuthApp, oauth_app_with, providers_file, seed_integration};

/// A forward HTTP proxy that records each request's first line and relays it to `target`.
struct RecordingProxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    fn start(target: String) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let (seen, target) = (seen.clone(), target.clone());
                std::thread::spawn(move || relay(inbound, &target, &seen));
            }
        });
        RecordingProxy { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// One connection, relayed byte for byte; each request line is recorded as it passes
/// (keep-alive carries several, bodies may end without a newline).
fn relay(mut inbound: TcpStream, target: &str, seen: &Mutex<Vec<String>>) {
    let Ok(mut outbound) = TcpStream::connect(target) else {
        return;
    };
    let (mut back_from, mut back_to) = (outbound.try_clone().unwrap(), inbound.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut back_from, &mut back_to);
        let _ = back_to.shutdown(Shutdown::Both);
    });
    let (mut buf, mut pending) = ([0u8; 8192], Vec::new());
    while let Ok(n) = inbound.read(&mut buf) {
        if n == 0 || outbound.write_all(&buf[..n]).is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            let words: Vec<&str> = line.split(' ').collect();
            if words.len() == 3 && words[2].starts_with("HTTP/") {
                seen.lock().unwrap().push(line);
            }
        }
    }
    let _ = outbound.shutdown(Shutdown::Both);
}

/// Runs one directory sync of `slack` on the real binary with `vars`, until `ended` holds of
/// its state (when it completed, its last error).
async fn sync_with(
    t: &OAuthApp,
    org: OrgId,
    slack: IntegrationId,
    vars: &[(&str, &str)],
    ended: impl Fn(&SyncState, &SyncState) -> bool,
) -> SyncState {
    // A failed sync is queued again with a backoff: this run takes it at once.
    let queued = sync_now(&t.app.ctx, org, slack).await.unwrap();
    assert!(
        matches!(queued, SyncNow::Queued | SyncNow::AlreadyQueued),
        "{queued:?}"
    );
    t.app
        .ctx
        .db
        .run(move |conn| {
            use targetym_integrations::db::schema::integration_sync_logs as l;
            diesel::update(
                l::table
                    .filter(l::integration_id.eq(slack))
                    .filter(l::finished_at.is_null()),
            )
            .set(l::next_attempt_at.eq(targetym_integrations::domain::now()))
            .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let before = sync_state(t, slack).await;
    let (mut child, base) = start_binary_on(&t.app, &t.app.database_url, vars);
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = sync_state(t, slack).await;
    // Until its attempt let go of the job as well: the pass's end is written a moment before,
    // and a job killed while leased would wait out its lease in the next run.
    while (!ended(&before, &now) || attempt_in_flight(t, slack).await) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = sync_state(t, slack).await;
    }
    // Read again: the job's finish (which clears a retried row's error) may have come after.
    let now = sync_state(t, slack).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ended(&before, &now), "the sync did not end: {now:?}");
    assert!(!attempt_in_flight(t, slack).await, "the sync's job was let go");
    now
}

/// Whether a worker holds one of the integration's jobs.
async fn attempt_in_flight(t: &OAuthApp, slack: IntegrationId) -> bool {
    use targetym_integrations::db::schema::integration_sync_logs as l;
    t.app
        .ctx
        .db
        .run(move |conn| {
            Ok(diesel::select(diesel::dsl::exists(
                l::table
                    .filter(l::integration_id.eq(slack))
                    .filter(l::lease_owner.is_not_null()),
            ))
            .get_result::<bool>(conn)?)
        })
        .await
        .unwrap()
}

type SyncState = (Option<chrono::NaiveDateTime>, Option<String>);

fn completed(before: &SyncState, now: &SyncState) -> bool {
    now.0 != before.0
}

/// When the directory's pass last completed, and the last error of its sync (the pass's, or
/// the job's when it failed before reading a page).
async fn sync_state(t: &OAuthApp, slack: IntegrationId) -> SyncState {
    use targetym_integrations::db::schema::integration_sync_logs as l;
    t.app
        .ctx
        .db
        .run(move |conn| {
            let (completed, pass_error) = s::table
                .find(slack)
                .select((s::completed_at, s::last_error))
                .first::<SyncState>(conn)
                .optional()?
                .unwrap_or_default();
            let job_error = l::table
                .filter(l::integration_id.eq(slack))
                .filter(l::error.is_not_null())
                .order(l::created_at.desc())
                .select(l::error)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten();
            Ok((completed, pass_error.or(job_error)))
        })
        .await
        .unwrap()
}

async fn slack_with_a_member() -> (OAuthApp, OrgId, IntegrationId) {
    let t = oauth_app_with(|b| b).await;
    let org = t.app.org_of("ada@acme.example").await;
    t.mock.set_slack_members(vec![
        json!({ "id": "U1", "name": "ada", "deleted": false, "is_bot": false,
                "profile": { "email": "ada@acme.example" } }),
    ]);
    let slack = IntegrationId::parse(&seed_integration(&t.app, &t.mock, "slack", "T-ACME").await).unwrap();
    (t, org, slack)
}

#[tokio::test]
async fn provider_calls_go_through_the_proxy_the_environment_names_except_to_no_proxy_hosts() {
    let (t, org, slack) = slack_with_a_member().await;
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, providers_file(&t.mock)).unwrap();
    let mock = t.mock.base_url();
    let proxy = RecordingProxy::start(mock.trim_start_matches("http://").to_owned());
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let mut vars = vec![
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
        ("DIRECTORY_PAGE_INTERVAL_MS", "0"),
        ("PROVIDERS_FILE", providers.to_str().unwrap()),
        ("HTTP_PROXY", proxy_url.as_str()),
    ];

    sync_with(&t, org, slack, &vars, completed).await;
    let through = proxy.requests();
    let absolute = format!("GET {mock}/");
    assert!(
        through
            .iter()
            .any(|line| line.starts_with(&absolute) && line.contains("/api/users.list?")),
        "the provider call went through the proxy, in absolute form: {through:?}"
    );

    vars.push(("NO_PROXY", "127.0.0.1"));
    sync_with(&t, org, slack, &vars, completed).await;
    assert_eq!(proxy.requests(), through, "NO_PROXY's hosts are reached directly");
}

/// A private certificate authority and a certificate it signed for 127.0.0.1 (openssl CLI).
fn private_authority(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
}

/// An HTTPS front of `target` (plain HTTP) with the certificate in `dir`; returns its port.
async fn tls_front(dir: &std::path::Path, target: String) -> u16 {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (acceptor, target) = (acceptor.clone(), target.clone());
            tokio::spawn(async move {
                let (Ok(mut tls), Ok(mut plain)) = (
                    acceptor.accept(inbound).await,
                    tokio::net::TcpStream::connect(&target).await,
                ) else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_private_certificate_authority_is_trusted_only_from_the_system_store() {
    let (t, org, slack) = slack_with_a_member().await;
    let dir = tempfile::tempdir().unwrap();
    private_authority(dir.path());
    let mock = t.mock.base_url();
    let port = tls_front(dir.path(), mock.trim_start_matches("http://").to_owned()).await;
    let providers = dir.path().join("providers.toml");
    let https = format!("https://127.0.0.1:{port}");
    // Slack's URLs behind TLS, the others (an OpenID provider checks its issuer) as they are.
    let file: Vec<String> = providers_file(&t.mock)
        .split("[[provider]]")
        .map(|section| match section.contains("slug = \"slack\"") {
            true => section.replace(&mock, &https),
            false => section.to_owned(),
        })
        .collect();
    std::fs::write(&providers, file.join("[[provider]]")).unwrap();
    let ca = dir.path().join("ca.pem");
    let mut vars = vec![
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
        ("DIRECTORY_PAGE_INTERVAL_MS", "0"),
        ("PROVIDERS_FILE", providers.to_str().unwrap()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
    ];

    // The default: Mozilla's roots, built in; the private authority is not among them.
    let (completed_at, error) = sync_with(&t, org, slack, &vars, |_, now| now.1.is_some()).await;
    assert_eq!(completed_at, None, "no page was read");
    assert!(
        error.is_some_and(|e| e.contains("could not be reached")),
        "a TLS failure"
    );

    vars.push(("TLS_ROOTS", "system"));
    let (completed_at, error) = sync_with(&t, org, slack, &vars, completed).await;
    assert!(
        completed_at.is_some() && error.is_none(),
        "read over TLS trusting the system's store: {error:?}"
    );
}
