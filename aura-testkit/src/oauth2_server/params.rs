//! Request parameters (RFC 6749 §3.1), scopes (§3.3) and the character classes of the RFCs.

use std::collections::BTreeMap;

use super::token::TokenError;

/// Form-urlencoded parameters, with empty values dropped (RFC 6749 §3.1).
pub(super) struct Params {
    pub(super) values: BTreeMap<String, String>,
    pub(super) names: Vec<String>,
    pub(super) repeated: Vec<String>,
}

impl Params {
    pub(super) fn parse(input: &[u8]) -> Self {
        let mut params = Self {
            values: BTreeMap::new(),
            names: Vec::new(),
            repeated: Vec::new(),
        };
        for (name, value) in form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if params.values.contains_key(name.as_ref()) {
                if !params.repeated.iter().any(|r| r == name.as_ref()) {
                    params.repeated.push(name.into_owned());
                }
                continue;
            }
            params.names.push(name.clone().into_owned());
            params.values.insert(name.into_owned(), value.into_owned());
        }
        params
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A parameter the request must have: `invalid_request` when it is missing.
    pub(super) fn require(&self, name: &str) -> Result<&str, TokenError> {
        self.get(name)
            .ok_or_else(|| TokenError::invalid_request(format!("The {name} parameter is missing.")))
    }

    pub(super) fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }
}

/// Parses a `scope` parameter (RFC 6749 §3.3) against the scopes allowed; none means all of
/// them.
pub(super) fn parse_scope(raw: Option<&str>, allowed: &[String]) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(allowed.to_vec());
    };
    let mut scope: Vec<String> = Vec::new();
    for token in raw.split(' ') {
        if token.is_empty() || !token.bytes().all(is_nqchar) {
            return Err("The scope is malformed: scope tokens separated by single spaces.".to_owned());
        }
        if !allowed.iter().any(|known| known == token) {
            return Err(format!("Unknown scope {token}."));
        }
        if !scope.iter().any(|seen| seen == token) {
            scope.push(token.to_owned());
        }
    }
    Ok(scope)
}

/// `NQCHAR` of RFC 6749 Appendix A.
pub(super) fn is_nqchar(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x5B).contains(&byte) || (0x5D..=0x7E).contains(&byte)
}

/// The unreserved characters of RFC 3986, the alphabet of a code verifier (RFC 7636 §4.1).
pub(super) fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

pub(super) fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_')
}

/// Keeps to the characters an `error_description` may hold (RFC 6749 §5.2).
pub(super) fn sanitize(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
            _ => '?',
        })
        .collect()
}
