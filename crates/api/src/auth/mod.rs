//! Authentication: who the caller is. Sessions (cookie or bearer), personal API tokens, password
//! hashing, CSRF for cookie-authenticated writes, and login throttling.
//!
//! Authorization — what the caller may see — is the [`Scope`] carried by the [`Principal`] this
//! module produces; every store read and write takes it, so there is no path to a record that
//! does not pass through here.

pub mod cache;
pub mod password;
pub mod throttle;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use wanxiang_core::{Account, Role, Scope};

use crate::{AppError, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wx_session";
/// The header cookie-authenticated writes must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of personal API tokens, so they are recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "wxp_";

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A session, sent as the cookie.
    SessionCookie {
        /// Hash of the session token (to revoke it at logout).
        token_hash: String,
    },
    /// A session token sent as `Authorization: Bearer` (what login returns for scripts).
    SessionBearer {
        /// Hash of the session token.
        token_hash: String,
    },
    /// A personal API token.
    ApiToken,
}

/// The authenticated caller: the account, its scope, and how it authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account.
    pub account: Account,
    /// What it may see; every store call takes this.
    pub scope: Scope,
    /// How it authenticated.
    pub via: Via,
    /// The client address, for the audit log.
    pub client: Option<String>,
}

impl Principal {
    /// Fails with 403 unless the account holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if self.account.roles.iter().any(|r| roles.contains(r)) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(AppError::Forbidden(format!(
                "需要以下角色之一 / requires one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    /// Whether the account holds the role.
    pub fn has(&self, role: Role) -> bool {
        self.account.roles.contains(&role)
    }
}

/// The current time in Unix milliseconds. The edge reads the clock; the core is given times.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new random secret: 32 bytes from the operating system, base64url without padding.
pub fn random_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token: SHA-256, hex. Tokens are 256-bit random, so a fast hash suffices.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    hex::encode(digest)
}

/// The client address: the connection's peer, unless the peer is one of the `trusted` proxies,
/// in which case the nearest address in `X-Forwarded-For` that is not a trusted proxy (read from
/// the right, where the proxies append). A header from anyone else, or one that does not parse,
/// is ignored: a client cannot choose its own address.
pub fn client_addr(parts: &Parts, trusted: &[std::net::IpAddr]) -> Option<String> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(forwarded_client(peer, &parts.headers, trusted).to_string())
}

fn forwarded_client(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// The client address as an extractor; never fails (tests driving the router without a socket
/// have none).
pub struct ClientAddr(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = now_ms();
        let client = client_addr(parts, &state.config.trusted_proxies);
        let unauthenticated =
            || AppError::Unauthenticated("请先登录 / authentication required".into());
        if let Some(token) = bearer(&parts.headers) {
            let hash = token_hash(&token);
            if token.starts_with(TOKEN_PREFIX) {
                let account = match state.auth_cache.get(&hash, now) {
                    Some(c) => c.account,
                    None => {
                        let account = state
                            .store
                            .api_token_account(&hash, now)
                            .await?
                            .ok_or_else(unauthenticated)?;
                        state.auth_cache.put(
                            hash.clone(),
                            account.clone(),
                            String::new(),
                            None,
                            now,
                        );
                        account
                    }
                };
                return Ok(principal(account, Via::ApiToken, client));
            }
            let session = session(state, &hash, now)
                .await?
                .ok_or_else(unauthenticated)?;
            return Ok(principal(
                session.account,
                Via::SessionBearer { token_hash: hash },
                client,
            ));
        }
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(unauthenticated)?;
        let hash = token_hash(&token);
        let session = session(state, &hash, now)
            .await?
            .ok_or_else(unauthenticated)?;
        // A browser sends cookies with cross-site form posts; only our own pages can read the CSRF
        // token and echo it, so state-changing cookie requests must carry it.
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent, &session.csrf) {
                return Err(AppError::Csrf);
            }
        }
        Ok(principal(
            session.account,
            Via::SessionCookie { token_hash: hash },
            client,
        ))
    }
}

/// A live session by token hash: from the cache when fresh, else from the store (and cached).
async fn session(
    state: &AppState,
    hash: &str,
    now: i64,
) -> Result<Option<cache::Cached>, AppError> {
    if let Some(c) = state.auth_cache.get(hash, now) {
        return Ok(Some(c));
    }
    let Some(s) = state.store.session(hash, now).await? else {
        return Ok(None);
    };
    state
        .auth_cache
        .put(hash.to_owned(), s.account, s.csrf, Some(s.expires_at), now);
    Ok(state.auth_cache.get(hash, now))
}

fn principal(account: Account, via: Via, client: Option<String>) -> Principal {
    let scope = Scope::of(&account.id, &account.org, &account.roles);
    Principal {
        account,
        scope,
        via,
        client,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_nearest_untrusted_hop() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxies = [ip("10.0.0.5"), ip("10.0.0.6")];
        let headers = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        let from = |peer: &str, values: &[&str]| {
            super::forwarded_client(ip(peer), &headers(values), &proxies).to_string()
        };
        // A client's own header counts for nothing.
        assert_eq!(from("198.51.100.9", &["203.0.113.7"]), "198.51.100.9");
        // Through a trusted proxy: the hop it appended.
        assert_eq!(from("10.0.0.5", &["203.0.113.7"]), "203.0.113.7");
        // A forged hop on the left is passed over: the nearest untrusted one wins.
        assert_eq!(
            from("10.0.0.5", &["1.2.3.4, 203.0.113.7, 10.0.0.6"]),
            "203.0.113.7"
        );
        assert_eq!(from("10.0.0.5", &["1.2.3.4", "203.0.113.7"]), "203.0.113.7");
        // No header, only proxies, or garbage: the peer.
        assert_eq!(from("10.0.0.5", &[]), "10.0.0.5");
        assert_eq!(from("10.0.0.5", &["10.0.0.6"]), "10.0.0.5");
        assert_eq!(from("10.0.0.5", &["203.0.113.7, not-an-ip"]), "10.0.0.5");
    }

    use super::*;

    #[test]
    fn reads_cookies_and_bearer_tokens() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; wx_session=abc; b=2".parse().unwrap());
        h.insert(header::AUTHORIZATION, "Bearer  wxp_xyz ".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(bearer(&h).as_deref(), Some("wxp_xyz"));
    }

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(random_secret().len(), 43);
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab")
        );
    }
}
