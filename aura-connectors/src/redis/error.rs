//! The one mapping from the driver's [`redis::RedisError`] to an [`aura_core::Error`].

use aura_core::secret::Scrubber;
use aura_core::{Error, ErrorKind};
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

/// `ERR …` answers that say the command's arguments or the key's value were wrong: refusals of
/// the input, not failures of the server.
const INPUT_ERRORS: [&str; 9] = [
    "value is not an integer",
    "increment or decrement would overflow",
    "value is not a valid float",
    "syntax error",
    "invalid expire time",
    "wrong number of arguments",
    "the id specified in xadd",
    "invalid stream id",
    "the xadd id must",
];

/// Maps a driver error to an Aura error, its text scrubbed of every secret `scrubber` knows
/// (the driver may echo a password it was given).
///
/// | the driver says | kind |
/// | --- | --- |
/// | `NOAUTH`, `WRONGPASS`, `AUTH … without any password configured`, a failed handshake | `Unauthorized` |
/// | `NOPERM` (the ACL user may not run this command or touch this key) | `Forbidden` |
/// | `WRONGTYPE` (the key holds another type), `ERR value is not an integer …`, `ERR syntax error` … | `InvalidInput` |
/// | `NOGROUP`, `NOSCRIPT` | `NotFound` |
/// | `BUSYGROUP` | `Conflict` |
/// | `BUSY`, `LOADING`, `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`, `READONLY`, `OOM`, a refused or dropped connection | `Unavailable` (a refused connection is marked [not sent](Error::not_sent)) |
/// | an I/O timeout (connect or response) | `Timeout` |
/// | a TLS certificate the client does not trust (`invalid peer certificate`) | `InvalidInput` |
/// | an answer of an unexpected shape, other `ERR`s | `Upstream` |
///
/// The caller adds where it happened (`key`, `channel`, `stream`).
pub fn from_redis(err: &RedisError, scrubber: &Scrubber) -> Error {
    let code = err.code().map(str::to_owned);
    let detail = err.detail().unwrap_or_default();
    let lower = detail.to_ascii_lowercase();
    let (kind, message): (ErrorKind, &'static str) = match (err.kind(), code.as_deref()) {
        (RedisKind::AuthenticationFailed, _) | (_, Some("NOAUTH" | "WRONGPASS")) => {
            (ErrorKind::Unauthorized, "redis refused the credentials")
        }
        (_, Some("ERR")) if lower.contains("without any password configured") || lower.contains("invalid password") => {
            (ErrorKind::Unauthorized, "redis refused the credentials")
        }
        (RedisKind::Server(ServerErrorKind::NoPerm), _) | (_, Some("NOPERM")) => (
            ErrorKind::Forbidden,
            "the redis user is not allowed to run this command or to touch this key",
        ),
        (_, Some("WRONGTYPE")) => (ErrorKind::InvalidInput, "the key holds a value of another type"),
        (_, Some("ERR")) if INPUT_ERRORS.iter().any(|m| lower.contains(m)) => {
            (ErrorKind::InvalidInput, "redis refused the command's arguments")
        }
        (_, Some("NOGROUP")) => (ErrorKind::NotFound, "the stream or its consumer group does not exist"),
        (RedisKind::Server(ServerErrorKind::NoScript), _) => (ErrorKind::NotFound, "no such script"),
        (_, Some("BUSYGROUP")) => (ErrorKind::Conflict, "the consumer group already exists"),
        (
            RedisKind::Server(
                ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::ReadOnly,
            ),
            _,
        )
        | (_, Some("BUSY" | "LOADING" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "READONLY" | "OOM")) => {
            (ErrorKind::Unavailable, "redis cannot serve the command right now")
        }
        // rustls refusing the server's certificate (an unknown issuer, another name): the
        // connection's settings are wrong (its `ca_cert`, its `host`), and trying again will not help.
        (RedisKind::Io, _) if err.to_string().contains("invalid peer certificate") => (
            ErrorKind::InvalidInput,
            "the server's TLS certificate is not trusted: give the CA that signed it as ca_cert, or check the host",
        ),
        _ if err.is_timeout() => (ErrorKind::Timeout, "redis did not answer in time"),
        _ if err.is_connection_refusal() => (ErrorKind::Unavailable, "redis refused the connection"),
        _ if err.is_connection_dropped() || err.kind() == RedisKind::Io => {
            (ErrorKind::Unavailable, "the connection to redis failed")
        }
        (RedisKind::InvalidClientConfig, _) => (ErrorKind::InvalidInput, "the redis connection settings are invalid"),
        (RedisKind::Client, _) => (ErrorKind::Internal, "the redis command could not be sent"),
        (RedisKind::Parse | RedisKind::UnexpectedReturnType, _) => {
            (ErrorKind::Upstream, "the redis answer could not be read")
        }
        _ => (ErrorKind::Upstream, "redis answered an error"),
    };
    let mut out = Error::new(kind, message);
    if let Some(code) = code {
        out = out.with_context("code", code);
    }
    let mut text = err.to_string();
    scrubber.scrub_in_place(&mut text);
    out = out.with_context("redis", cut(text, 300));
    if err.is_connection_refusal() {
        out = out.not_sent();
    }
    out
}

/// Cuts `text` to at most `limit` bytes on a character boundary.
fn cut(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
