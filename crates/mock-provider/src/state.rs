//! The provider's memory: pending consents, codes, tokens, and the rules of each grant.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use super::{Behaviour, Counters, MockConfig};

const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// A validated authorization request, waiting for consent or bound to a code.
#[derive(Debug, Clone)]
pub(super) struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub nonce: Option<String>,
    /// Always an S256 challenge: other methods are refused at /authorize.
    pub code_challenge: Option<String>,
}

/// The token-request parameters of the authorization_code grant.
pub(super) struct CodeExchange<'a> {
    pub client_id: &'a str,
    pub code: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// What a successful grant hands out.
#[derive(Debug)]
pub(super) struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub scope: String,
    /// Present when an ID token must accompany the response.
    pub id_token: Option<IdTokenRequest>,
}

#[derive(Debug)]
pub(super) struct IdTokenRequest {
    pub nonce: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revocation {
    /// Through POST /revoke.
    ByClient,
    /// By the provider itself: reuse detection or `revoke_all`.
    ByServer,
}

/// All tokens descending from one authorization code share a grant id.
type GrantId = u64;

struct IssuedCode {
    request: AuthRequest,
    grant: GrantId,
    created: Instant,
    used: bool,
}

struct AccessRecord {
    grant: GrantId,
    seq: u64,
    /// What the token may do (the APIs check it per method).
    scope: String,
    expires_at_ms: i64,
    revoked: Option<Revocation>,
}

struct RefreshRecord {
    grant: GrantId,
    seq: u64,
    client_id: String,
    scope: String,
    used: bool,
    revoked: Option<Revocation>,
}

/// A Google-like Calendar watch channel, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchChannel {
    /// "calendar" or "drive".
    pub resource: String,
    pub id: String,
    pub resource_id: String,
    pub token: String,
    pub address: String,
    pub stopped: bool,
    /// The stop endpoint that stopped it ("calendar" or "drive").
    pub stopped_at: Option<String>,
}

#[derive(Default)]
pub(super) struct State {
    pub behaviour: Behaviour,
    pub counters: Counters,
    pending: HashMap<String, AuthRequest>,
    codes: HashMap<String, IssuedCode>,
    access_tokens: HashMap<String, AccessRecord>,
    refresh_tokens: HashMap<String, RefreshRecord>,
    next_seq: u64,
    /// POST /token requests in progress.
    pub in_flight_token_requests: u64,
    pub watch_channels: Vec<WatchChannel>,
}

impl State {
    /// Keeps a request until the user answers the consent page; returns its id.
    pub fn park(&mut self, request: AuthRequest) -> String {
        let id = random_hex();
        self.pending.insert(id.clone(), request);
        id
    }

    pub fn take_parked(&mut self, id: &str) -> Option<AuthRequest> {
        self.pending.remove(id)
    }

    /// A grant with its first tokens, as after a code exchange.
    pub fn issue_grant(&mut self, config: &MockConfig, client_id: &str, scope: &str) -> (String, String) {
        let grant = self.next_seq();
        let (access_token, _) = self.new_access_token(config, grant, scope);
        let refresh_token = self.new_refresh_token(grant, client_id, scope);
        (access_token, refresh_token)
    }

    pub fn issue_code(&mut self, request: AuthRequest) -> String {
        let code = format!("mock-code-{}", random_hex());
        let grant = self.next_seq();
        self.codes.insert(
            code.clone(),
            IssuedCode {
                request,
                grant,
                created: Instant::now(),
                used: false,
            },
        );
        self.counters.authorizations += 1;
        code
    }

    pub fn exchange_code(
        &mut self,
        config: &MockConfig,
        exchange: &CodeExchange<'_>,
    ) -> Result<IssuedTokens, OAuthError> {
        self.counters.last_pkce_verified = false;
        let code = exchange
            .code
            .ok_or(OAuthError::invalid_request("code is required"))?;
        let redirect_uri = exchange
            .redirect_uri
            .ok_or(OAuthError::invalid_request("redirect_uri is required"))?;
        let issued = self
            .codes
            .get_mut(code)
            .ok_or(OAuthError::invalid_grant("Unknown authorization code"))?;
        if issued.request.client_id != exchange.client_id {
            return Err(OAuthError::invalid_grant("The code was issued to another client"));
        }
        if issued.used {
            // RFC 6749 §4.1.2: a replayed code revokes what it already produced.
            let grant = issued.grant;
            self.invalidate_grant(grant, Revocation::ByServer);
            return Err(OAuthError::invalid_grant(
                "The authorization code was already used",
            ));
        }
        issued.used = true;
        if issued.created.elapsed() > CODE_LIFETIME {
            return Err(OAuthError::invalid_grant("The authorization code expired"));
        }
        if issued.request.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        verify_pkce(issued.request.code_challenge.as_deref(), exchange.code_verifier)?;

        let request = issued.request.clone();
        let grant = issued.grant;
        self.counters.last_pkce_verified = request.code_challenge.is_some();
        self.counters.code_exchanges += 1;
        let (access_token, expires_in) = self.new_access_token(config, grant, &request.scope);
        let refresh_token = (!self.behaviour.omit_refresh_token)
            .then(|| self.new_refresh_token(grant, &request.client_id, &request.scope));
        let id_token = has_scope(&request.scope, "openid").then_some(IdTokenRequest { nonce: request.nonce });
        Ok(IssuedTokens {
            access_token,
            expires_in,
            refresh_token,
            scope: request.scope,
            id_token,
        })
    }

    pub fn refresh(
        &mut self,
        config: &MockConfig,
        client_id: &str,
        presented: Option<&str>,
        requested_scope: Option<&str>,
    ) -> Result<IssuedTokens, OAuthError> {
        let presented = presented.ok_or(OAuthError::invalid_request("refresh_token is required"))?;
        let record = self
            .refresh_tokens
            .get_mut(presented)
            .ok_or(OAuthError::invalid_grant("Unknown refresh token"))?;
        if record.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "The refresh token was issued to another client",
            ));
        }
        if record.used {
            // A rotated-away token coming back means it leaked or the client raced itself;
            // strict servers then kill the whole grant.
            let grant = record.grant;
            self.counters.refresh_token_reuses += 1;
            self.invalidate_grant(grant, Revocation::ByServer);
            return Err(OAuthError::invalid_grant("The refresh token was already used"));
        }
        if record.revoked.is_some() {
            return Err(OAuthError::invalid_grant("The refresh token was revoked"));
        }
        let scope = narrowed_scope(&record.scope, requested_scope)?;
        let rotate = config.rotate_refresh_tokens && !self.behaviour.omit_refresh_token;
        record.used = rotate;
        let (grant, granted_scope) = (record.grant, record.scope.clone());

        let refresh_token = rotate.then(|| self.new_refresh_token(grant, client_id, &granted_scope));
        let (access_token, expires_in) = self.new_access_token(config, grant, &scope);
        self.counters.refreshes += 1;
        Ok(IssuedTokens {
            access_token,
            expires_in,
            refresh_token,
            scope,
            id_token: None,
        })
    }

    /// RFC 7009: revoking a refresh token also revokes the access tokens of its grant.
    pub fn revoke(&mut self, token: &str) {
        if let Some(record) = self.access_tokens.get_mut(token) {
            record.revoked.get_or_insert(Revocation::ByClient);
        } else if let Some(grant) = self.refresh_tokens.get(token).map(|record| record.grant) {
            self.invalidate_grant(grant, Revocation::ByClient);
        }
    }

    /// Expires every access token and revokes every refresh token, as when a user removes the
    /// app from their account.
    pub fn revoke_all(&mut self) {
        let now = now_ms();
        for record in self.access_tokens.values_mut() {
            record.expires_at_ms = record.expires_at_ms.min(now);
        }
        for record in self.refresh_tokens.values_mut() {
            record.revoked.get_or_insert(Revocation::ByServer);
        }
    }

    /// The scope of an access token (whether active or not).
    pub fn access_token_scope(&self, token: &str) -> Option<&str> {
        self.access_tokens.get(token).map(|record| record.scope.as_str())
    }

    pub fn is_active_access_token(&self, token: &str) -> bool {
        self.access_tokens
            .get(token)
            .is_some_and(|record| record.is_active(now_ms()))
    }

    pub fn is_revoked_by_client(&self, token: &str) -> bool {
        let by_client = Some(Revocation::ByClient);
        self.access_tokens
            .get(token)
            .is_some_and(|record| record.revoked == by_client)
            || self
                .refresh_tokens
                .get(token)
                .is_some_and(|record| record.revoked == by_client)
    }

    pub fn active_access_tokens(&self) -> Vec<String> {
        let now = now_ms();
        in_issue_order(
            self.access_tokens
                .iter()
                .filter(|(_, r)| r.is_active(now))
                .map(|(t, r)| (r.seq, t)),
        )
    }

    pub fn active_refresh_tokens(&self) -> Vec<String> {
        let active = self
            .refresh_tokens
            .iter()
            .filter(|(_, r)| !r.used && r.revoked.is_none());
        in_issue_order(active.map(|(token, record)| (record.seq, token)))
    }

    fn new_access_token(&mut self, config: &MockConfig, grant: GrantId, scope: &str) -> (String, i64) {
        let token = format!("mock-at-{}", random_hex());
        let ttl = config.access_token_ttl_secs;
        let seq = self.next_seq();
        let expires_at_ms = now_ms().saturating_add(ttl.saturating_mul(1000));
        self.access_tokens.insert(
            token.clone(),
            AccessRecord {
                grant,
                seq,
                scope: scope.to_owned(),
                expires_at_ms,
                revoked: None,
            },
        );
        (token, ttl.max(0))
    }

    fn new_refresh_token(&mut self, grant: GrantId, client_id: &str, scope: &str) -> String {
        let token = format!("mock-rt-{}", random_hex());
        let record = RefreshRecord {
            grant,
            seq: self.next_seq(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            used: false,
            revoked: None,
        };
        self.refresh_tokens.insert(token.clone(), record);
        token
    }

    fn invalidate_grant(&mut self, grant: GrantId, reason: Revocation) {
        let access = self
            .access_tokens
            .values_mut()
            .filter(|record| record.grant == grant);
        access.for_each(|record| _ = record.revoked.get_or_insert(reason));
        let refresh = self
            .refresh_tokens
            .values_mut()
            .filter(|record| record.grant == grant);
        refresh.for_each(|record| _ = record.revoked.get_or_insert(reason));
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

impl AccessRecord {
    fn is_active(&self, now_ms: i64) -> bool {
        self.revoked.is_none() && now_ms < self.expires_at_ms
    }
}

/// RFC 7636 §4.6, S256 only.
fn verify_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(verifier)) if is_valid_verifier(verifier) && s256(verifier) == challenge => {
            Ok(())
        }
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier does not match code_challenge",
        )),
    }
}

pub(super) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A refresh may ask for a subset of the granted scope (RFC 6749 §6), never more.
fn narrowed_scope(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.to_owned());
    };
    if scope_items(requested).all(|item| has_scope(granted, item)) {
        Ok(requested.to_owned())
    } else {
        Err(OAuthError::invalid_scope(
            "The requested scope exceeds the granted scope",
        ))
    }
}

pub(super) fn has_scope(scope: &str, wanted: &str) -> bool {
    scope_items(scope).any(|item| item == wanted)
}

/// Scopes are space-separated in the RFC, comma-separated at some providers (Slack).
pub(super) fn scope_items(scope: &str) -> impl Iterator<Item = &str> {
    scope.split([' ', ',']).filter(|item| !item.is_empty())
}

fn in_issue_order<'a>(tokens: impl Iterator<Item = (u64, &'a String)>) -> Vec<String> {
    let mut tokens: Vec<_> = tokens.collect();
    tokens.sort_unstable_by_key(|(seq, _)| *seq);
    tokens.into_iter().map(|(_, token)| token.clone()).collect()
}

pub(super) fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
