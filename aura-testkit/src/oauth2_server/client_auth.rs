//! Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};

use super::params::Params;
use super::state::State;
use super::token::TokenError;

/// How the client authenticated at the token endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientAuth {
    Basic,
    Post,
    None,
}

impl ClientAuth {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
            Self::None => "none",
        }
    }
}

impl State {
    /// Client authentication (RFC 6749 §2.3, §3.2.1): the client id and how it authenticated.
    pub(super) fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &Params,
        basic: Option<Result<(String, String), String>>,
    ) -> Result<(String, ClientAuth), TokenError> {
        if let Some(basic) = basic {
            if params.get("client_secret").is_some() {
                return Err(TokenError::invalid_request(
                    "The client used more than one authentication method (Basic and client_secret).",
                ));
            }
            let (id, secret) = basic.map_err(|description| TokenError::invalid_client(description, true))?;
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(TokenError::invalid_request(
                    "The client_id parameter differs from the client of the Authorization header.",
                ));
            }
            let client = self
                .clients
                .get(&id)
                .ok_or_else(|| TokenError::invalid_client("Unknown client.", true))?;
            match &client.secret {
                None => Err(TokenError::invalid_client(
                    "This client is public: it has no secret to authenticate with.",
                    true,
                )),
                Some(expected) if *expected == secret => Ok((id, ClientAuth::Basic)),
                Some(_) => Err(TokenError::invalid_client("Wrong client secret.", true)),
            }
        } else if headers.contains_key(header::AUTHORIZATION) {
            Err(TokenError::invalid_client(
                "Unsupported authentication scheme: use Basic or client_secret_post.",
                true,
            ))
        } else if let Some(secret) = params.get("client_secret") {
            let id = params.get("client_id").ok_or_else(|| {
                TokenError::invalid_client("The client_secret parameter came without client_id.", false)
            })?;
            let client = self
                .clients
                .get(id)
                .ok_or_else(|| TokenError::invalid_client("Unknown client.", false))?;
            match &client.secret {
                None => Err(TokenError::invalid_client(
                    "This client is public: it has no secret to authenticate with.",
                    false,
                )),
                Some(expected) if expected == secret => Ok((id.to_owned(), ClientAuth::Post)),
                Some(_) => Err(TokenError::invalid_client("Wrong client secret.", false)),
            }
        } else if let Some(id) = params.get("client_id") {
            let client = self
                .clients
                .get(id)
                .ok_or_else(|| TokenError::invalid_client("Unknown client.", false))?;
            if client.secret.is_some() {
                return Err(TokenError::invalid_client(
                    "This client is confidential: it must authenticate.",
                    false,
                ));
            }
            Ok((id.to_owned(), ClientAuth::None))
        } else {
            Err(TokenError::invalid_client(
                "No client authentication was included.",
                false,
            ))
        }
    }
}

/// The Basic credentials of the `Authorization` header, if it uses the Basic scheme: the client
/// id and secret, form-urldecoded (RFC 6749 §2.3.1), or why they cannot be read.
pub(super) fn basic_header(headers: &HeaderMap) -> Option<Result<(String, String), String>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let value = value.to_str().unwrap_or_default();
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    Some(decode_basic(credentials.trim()))
}

pub(super) fn decode_basic(credentials: &str) -> Result<(String, String), String> {
    let decoded = STANDARD
        .decode(credentials)
        .map_err(|_| "The Basic credentials are not base64.".to_owned())?;
    let decoded = String::from_utf8(decoded).map_err(|_| "The Basic credentials are not UTF-8.".to_owned())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| "The Basic credentials have no colon.".to_owned())?;
    let undo = |part: &str| {
        form_urldecode(part).ok_or_else(|| "The Basic credentials are not form-urlencoded (RFC 6749 2.3.1).".to_owned())
    };
    Ok((undo(id)?, undo(secret)?))
}

/// Decodes one application/x-www-form-urlencoded value: `+` is a space, `%XX` a byte.
pub(super) fn form_urldecode(input: &str) -> Option<String> {
    let mut bytes = input.bytes();
    let mut out = Vec::with_capacity(input.len());
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = char::from(bytes.next()?).to_digit(16)?;
                let low = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(high * 16 + low).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}
