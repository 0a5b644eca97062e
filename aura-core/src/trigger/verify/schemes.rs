//! Each scheme's check, as its vendor documents it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use hmac::Mac as _;

use super::{HmacScheme, SignatureEncoding, Verified, bytes, fresh, header, hex, mac, matches, refused};
use crate::error::Result;
use crate::trigger::{WebhookReply, WebhookRequest};

/// Whether `a` and `b` are equal, in a time that tells nothing of where they differ (nor of
/// their lengths): their MACs under one key are compared, in constant time.
fn same(a: &[u8], b: &[u8]) -> bool {
    const KEY: &[u8] = b"aura.webhook.compare";
    mac(KEY, &[a]).finalize() == mac(KEY, &[b]).finalize()
}

pub(super) fn basic(request: &WebhookRequest, user: &str, password: &SecretString) -> Result<Verified> {
    let given = header(request, "authorization")?;
    let encoded = given
        .strip_prefix("Basic ")
        .or_else(|| given.strip_prefix("basic "))
        .ok_or_else(|| refused("the Authorization header is not Basic"))?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| refused("the Basic credentials are not base64"))?;
    // Both hold the password: wiped when dropped.
    let decoded = secrecy::zeroize::Zeroizing::new(decoded);
    let expected = secrecy::zeroize::Zeroizing::new([user.as_bytes(), b":", bytes(password)].concat());
    if !same(&decoded, &expected) {
        return Err(refused("the user or password is wrong"));
    }
    Ok(Verified::default())
}

pub(super) fn header_token(request: &WebhookRequest, name: &str, token: &SecretString) -> Result<Verified> {
    let given = request
        .header_str(name)
        .ok_or_else(|| refused("a header it must carry is missing").with_context("header", name.to_owned()))?;
    if !same(given.as_bytes(), bytes(token)) {
        return Err(refused("the token is wrong").with_context("header", name.to_owned()));
    }
    Ok(Verified::default())
}

pub(super) fn generic(request: &WebhookRequest, scheme: &HmacScheme) -> Result<Verified> {
    let name = scheme.header.as_str();
    let given = request
        .header_str(name)
        .ok_or_else(|| refused("a header it must carry is missing").with_context("header", name.to_owned()))?;
    let written = match &scheme.prefix {
        Some(prefix) => given
            .strip_prefix(prefix.as_str())
            .ok_or_else(|| refused("the signature lacks its prefix").with_context("header", name.to_owned()))?,
        None => given,
    };
    let signature = match scheme.encoding {
        SignatureEncoding::Hex => hex(written.trim()),
        SignatureEncoding::Base64 => STANDARD.decode(written.trim()).ok(),
    }
    .ok_or_else(|| {
        refused("the signature is not written as the scheme says").with_context("header", name.to_owned())
    })?;
    if !matches(bytes(&scheme.secret), &[&request.body], &signature) {
        return Err(refused("the signature does not match the body").with_context("header", name.to_owned()));
    }
    Ok(Verified::default())
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; the delivery id is
/// `X-GitHub-Delivery`.
pub(super) fn github(request: &WebhookRequest, secret: &SecretString) -> Result<Verified> {
    let given = header(request, "x-hub-signature-256")?;
    let signature = given
        .strip_prefix("sha256=")
        .and_then(hex)
        .ok_or_else(|| refused("X-Hub-Signature-256 is not sha256=<hex>"))?;
    if !matches(bytes(secret), &[&request.body], &signature) {
        return Err(refused("X-Hub-Signature-256 does not match the body"));
    }
    Ok(Verified {
        delivery_id: request.header_str("x-github-delivery").map(str::to_owned),
        handshake: None,
    })
}

/// Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` the HMAC-SHA256
/// of `<t>.<body>` (several while a secret rolls); the delivery id is the event's `id`.
pub(super) fn stripe(
    request: &WebhookRequest,
    secret: &SecretString,
    tolerance: Duration,
    now: DateTime<Utc>,
) -> Result<Verified> {
    let given = header(request, "stripe-signature")?;
    let mut at = None;
    let mut signatures = Vec::new();
    for part in given.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => at = Some(t),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let at_text = at.ok_or_else(|| refused("Stripe-Signature has no timestamp (t=)"))?;
    let at: i64 = at_text
        .parse()
        .map_err(|_| refused("Stripe-Signature's timestamp is not a number"))?;
    if signatures.is_empty() {
        return Err(refused("Stripe-Signature has no v1 signature"));
    }
    fresh(at, now, tolerance)?;
    let signed: [&[u8]; 3] = [at_text.as_bytes(), b".", &request.body];
    let ok = signatures
        .iter()
        .filter_map(|s| hex(s))
        .any(|s| matches(bytes(secret), &signed, &s));
    if !ok {
        return Err(refused("no v1 signature of Stripe-Signature matches"));
    }
    Ok(Verified {
        delivery_id: body_field(request, "id"),
        handshake: None,
    })
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of v0:<timestamp>:<body>>`, the timestamp in
/// `X-Slack-Request-Timestamp`, within five minutes; a `url_verification` request is answered
/// with its challenge; the delivery id is the event's `event_id`.
pub(super) fn slack(request: &WebhookRequest, secret: &SecretString, now: DateTime<Utc>) -> Result<Verified> {
    let at_text = header(request, "x-slack-request-timestamp")?;
    let at: i64 = at_text
        .trim()
        .parse()
        .map_err(|_| refused("X-Slack-Request-Timestamp is not a number"))?;
    fresh(at, now, super::FIVE_MINUTES)?;
    let given = header(request, "x-slack-signature")?;
    let signature = given
        .strip_prefix("v0=")
        .and_then(hex)
        .ok_or_else(|| refused("X-Slack-Signature is not v0=<hex>"))?;
    if !matches(
        bytes(secret),
        &[b"v0:", at_text.trim().as_bytes(), b":", &request.body],
        &signature,
    ) {
        return Err(refused("X-Slack-Signature does not match the body"));
    }
    let body: Option<Value> = serde_json::from_slice(&request.body).ok();
    let handshake = body
        .as_ref()
        .filter(|b| b["type"] == "url_verification")
        .and_then(|b| b["challenge"].as_str())
        .map(|challenge| WebhookReply::text(challenge.to_owned()));
    Ok(Verified {
        delivery_id: body.as_ref().and_then(|b| b["event_id"].as_str()).map(str::to_owned),
        handshake,
    })
}

/// Standard Webhooks: `webhook-signature: v1,<base64> [v1,<base64> …]`, each the HMAC-SHA256 of
/// `<webhook-id>.<webhook-timestamp>.<body>` under a `whsec_<base64>` secret; the delivery id
/// is `webhook-id`.
pub(super) fn standard(
    request: &WebhookRequest,
    secrets: &[SecretString],
    tolerance: Duration,
    now: DateTime<Utc>,
) -> Result<Verified> {
    let id = header(request, "webhook-id")?;
    let at_text = header(request, "webhook-timestamp")?;
    let at: i64 = at_text
        .trim()
        .parse()
        .map_err(|_| refused("webhook-timestamp is not a number"))?;
    fresh(at, now, tolerance)?;
    let given = header(request, "webhook-signature")?;
    let signatures: Vec<Vec<u8>> = given
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .collect();
    if signatures.is_empty() {
        return Err(refused("webhook-signature has no v1 signature"));
    }
    let signed: [&[u8]; 5] = [id.as_bytes(), b".", at_text.trim().as_bytes(), b".", &request.body];
    let mut ok = false;
    for secret in secrets {
        let text = secret.expose_secret();
        let key = secrecy::zeroize::Zeroizing::new(
            STANDARD
                .decode(text.strip_prefix("whsec_").unwrap_or(text))
                .map_err(|_| crate::Error::invalid_definition("a Standard Webhooks secret is whsec_<base64>"))?,
        );
        ok |= signatures.iter().any(|s| matches(&key, &signed, s));
    }
    if !ok {
        return Err(refused("no v1 signature of webhook-signature matches"));
    }
    Ok(Verified {
        delivery_id: Some(id.to_owned()),
        handshake: None,
    })
}

/// A top-level text field of a JSON body, if it is one.
fn body_field(request: &WebhookRequest, field: &str) -> Option<String> {
    let body: Value = serde_json::from_slice(&request.body).ok()?;
    body.get(field)?.as_str().map(str::to_owned)
}
