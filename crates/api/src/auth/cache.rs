//! A short-lived cache of who a session or API token belongs to, so that a busy intake does not
//! ask the store the same question for every request. Entries live [`TTL_MS`]; anything that
//! ends or changes sessions, tokens or accounts on this node clears the cache at once. Another
//! node's change (several nodes share one database) is seen within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;

use wanxiang_core::Account;

/// How long an answer is reused.
pub const TTL_MS: i64 = 5_000;
/// Entries kept at most; when full, the cache starts over.
const MAX_ENTRIES: usize = 50_000;

/// What a token hash resolved to.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The account.
    pub account: Account,
    /// The session's CSRF token (empty for API tokens).
    pub csrf: String,
    /// When the session or token expires (Unix ms), if it does.
    pub expires_at: Option<i64>,
    /// When this answer was fetched.
    fetched_at: i64,
}

/// The cache, keyed by token hash.
#[derive(Debug, Default)]
pub struct AuthCache {
    /// Answers by token hash.
    entries: Mutex<HashMap<String, Cached>>,
}

impl AuthCache {
    /// A fresh answer for this token hash, if one is cached.
    pub fn get(&self, hash: &str, now: i64) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|c| now - c.fetched_at < TTL_MS && c.expires_at.is_none_or(|t| now < t))
            .cloned()
    }

    /// Remembers an answer.
    pub fn put(
        &self,
        hash: String,
        account: Account,
        csrf: String,
        expires_at: Option<i64>,
        now: i64,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            hash,
            Cached {
                account,
                csrf,
                expires_at,
                fetched_at: now,
            },
        );
    }

    /// Forgets everything: called when a session, token, password or account changes.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            id: "a".into(),
            username: "u".into(),
            display_name: "d".into(),
            org: wanxiang_core::Org::Unit(wanxiang_core::UnitCode::parse("440303").unwrap()),
            roles: vec![wanxiang_core::Role::Resident],
            demo_password: false,
            disabled: false,
            created_at: 0,
        }
    }

    #[test]
    fn answers_expire_and_clear() {
        let c = AuthCache::default();
        c.put("h".into(), account(), "x".into(), Some(10_000), 0);
        assert!(c.get("h", TTL_MS - 1).is_some());
        assert!(c.get("h", TTL_MS).is_none(), "stale");
        c.put("h".into(), account(), "x".into(), Some(100), 0);
        assert!(c.get("h", 100).is_none(), "the session expired");
        c.put("h".into(), account(), "x".into(), None, 0);
        c.clear();
        assert!(c.get("h", 1).is_none());
    }
}
