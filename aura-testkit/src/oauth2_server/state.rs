//! What the server remembers: clients, codes, tokens and counters; issuing and revoking tokens.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::token::{RecordedTokenRequest, TokenError, no_randomness};

#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) secret: Option<String>,
    pub(super) redirect_uris: Vec<String>,
}

pub(super) struct State {
    pub(super) clients: BTreeMap<String, Client>,
    pub(super) scopes: Vec<String>,
    pub(super) subject: String,
    pub(super) access_token_ttl: Duration,
    pub(super) code_ttl: Duration,
    pub(super) rotate_refresh_tokens: bool,
    pub(super) deny_next: bool,
    pub(super) fail_next: Option<(String, u16)>,
    pub(super) codes: HashMap<String, Code>,
    pub(super) access_tokens: HashMap<String, AccessToken>,
    pub(super) refresh_tokens: HashMap<String, RefreshToken>,
    /// Numbers grants, so that reusing a code can revoke the tokens it gave.
    pub(super) next_family: u64,
    pub(super) token_requests: usize,
    pub(super) authorization_requests: usize,
    pub(super) api_calls: usize,
    pub(super) grants: HashMap<String, usize>,
    pub(super) last_token_request: Option<RecordedTokenRequest>,
}

pub(super) struct Code {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) scope: Vec<String>,
    pub(super) expires_at: Instant,
    pub(super) used: bool,
    pub(super) family: u64,
}

pub(super) struct AccessToken {
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) scope: Vec<String>,
    pub(super) expires_at: Instant,
    pub(super) revoked: bool,
    pub(super) family: Option<u64>,
}

pub(super) struct RefreshToken {
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) scope: Vec<String>,
    pub(super) revoked: bool,
    pub(super) family: u64,
}

impl State {
    pub(super) fn issue_access_token(
        &mut self,
        client_id: &str,
        subject: &str,
        scope: &[String],
        family: Option<u64>,
    ) -> Result<String, TokenError> {
        let token = random_token("at_").ok_or_else(no_randomness)?;
        self.access_tokens.insert(
            token.clone(),
            AccessToken {
                client_id: client_id.to_owned(),
                subject: subject.to_owned(),
                scope: scope.to_vec(),
                expires_at: Instant::now() + self.access_token_ttl,
                revoked: false,
                family,
            },
        );
        Ok(token)
    }

    pub(super) fn issue_refresh_token(
        &mut self,
        client_id: &str,
        subject: &str,
        scope: &[String],
        family: u64,
    ) -> Result<String, TokenError> {
        let token = random_token("rt_").ok_or_else(no_randomness)?;
        self.refresh_tokens.insert(
            token.clone(),
            RefreshToken {
                client_id: client_id.to_owned(),
                subject: subject.to_owned(),
                scope: scope.to_vec(),
                revoked: false,
                family,
            },
        );
        Ok(token)
    }

    pub(super) fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    /// Revokes the tokens given from one authorization code.
    pub(super) fn revoke_family(&mut self, family: u64) {
        for token in self.access_tokens.values_mut() {
            if token.family == Some(family) {
                token.revoked = true;
            }
        }
        for token in self.refresh_tokens.values_mut() {
            if token.family == family {
                token.revoked = true;
            }
        }
    }
}

/// A random token: `prefix` and 32 random bytes in base64url.
pub(super) fn random_token(prefix: &str) -> Option<String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}
