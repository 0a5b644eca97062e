//! The webhook connectors' check: genuine deliveries accepted, forged ones refused, handshakes
//! answered.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt;
use std::sync::Arc;

use aura_core::connection::{ConnectionRecord, StaticConnection};
use aura_core::trigger::{TriggerKind, WebhookOutcome, WebhookReply, WebhookRequest};
use aura_core::{Context, ErrorKind};
use bytes::Bytes;
use http::HeaderValue;
use serde_json::Value;

use super::ConnectorFixture;
use super::checks::{assert_no_secret, registry, shown, skipped};

type Sign = Arc<dyn Fn(&str, &[u8]) -> WebhookRequest + Send + Sync>;
type Expect = Arc<dyn Fn(&WebhookReply) -> bool + Send + Sync>;

/// A secret no fixture uses: what a forger signs with.
const FORGED_SECRET: &str = "aura-behaviour-forged-secret-5e1b";

/// A webhook trigger under test: how the vendor signs a delivery, with the secret the
/// fixture's credentials hold.
pub struct WebhookCase {
    pub(crate) trigger: String,
    pub(crate) secret: String,
    pub(crate) sign: Sign,
    pub(crate) body: Value,
    pub(crate) signature_header: Option<String>,
    pub(crate) handshake: Option<(WebhookRequest, Expect)>,
}

impl fmt::Debug for WebhookCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret is a secret: only said to be there.
        f.debug_struct("WebhookCase")
            .field("trigger", &self.trigger)
            .field("signature_header", &self.signature_header)
            .field("handshake", &self.handshake.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookCase {
    /// The trigger `trigger` (its full reference), whose deliveries `sign` makes as the vendor
    /// does: `sign(secret, body)` is the request the vendor sends for `body` signed with
    /// `secret`. `secret` is the signing secret the fixture's credentials hold.
    pub fn new(
        trigger: impl Into<String>,
        secret: impl Into<String>,
        sign: impl Fn(&str, &[u8]) -> WebhookRequest + Send + Sync + 'static,
    ) -> Self {
        Self {
            trigger: trigger.into(),
            secret: secret.into(),
            sign: Arc::new(sign),
            body: Value::Object(Default::default()),
            signature_header: None,
            handshake: None,
        }
    }

    /// A genuine payload that starts at least one execution (default `{}`).
    #[must_use]
    pub fn body(mut self, body: Value) -> Self {
        self.body = body;
        self
    }

    /// The header that carries the signature: the check also alters it and leaves it out.
    #[must_use]
    pub fn signature_header(mut self, name: impl Into<String>) -> Self {
        self.signature_header = Some(name.into());
        self
    }

    /// A handshake the vendor sends (Slack's `url_verification` …) and what a right answer
    /// looks like.
    #[must_use]
    pub fn handshake(
        mut self,
        request: WebhookRequest,
        answered: impl Fn(&WebhookReply) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.handshake = Some((request, Arc::new(answered)));
        self
    }
}

/// A genuine delivery gives items, each with a dedupe key; the same delivery with its body
/// altered, signed with another secret, with its signature altered or left out, is refused as
/// `Unauthorized` with no secret in the error; a declared handshake is answered.
pub async fn forged_webhooks_are_refused(f: &ConnectorFixture) {
    let Some(case) = &f.webhooks else {
        return skipped(f, "forged_webhooks_are_refused", "no webhook trigger declared");
    };
    let credentials = f
        .credentials
        .clone()
        .expect("a webhook case needs the credentials holding its secret (ConnectorFixture::credentials)");
    let registry = registry(f);
    let trigger = registry.trigger(&case.trigger).await.expect("the trigger exists");
    assert_eq!(
        trigger.kind(),
        TriggerKind::Webhook,
        "`{}` is not a webhook trigger",
        case.trigger
    );
    let conn = StaticConnection::new(ConnectionRecord::new(f.app_id(), "behaviour", credentials));
    let cx = Context::builder().connection(Arc::new(conn)).build();
    let body = serde_json::to_vec(&case.body).expect("a body serializes");

    let genuine = (case.sign)(&case.secret, &body);
    match trigger.handle_webhook(&cx, &genuine).await {
        Ok(WebhookOutcome::Items(items)) => {
            assert!(
                !items.is_empty(),
                "`{}` started nothing for a genuine delivery",
                case.trigger
            );
            for item in &items {
                assert!(
                    !item.dedupe_key.is_empty(),
                    "`{}` gave an item without a dedupe key",
                    case.trigger
                );
            }
        }
        Ok(WebhookOutcome::Handshake(_)) => panic!("`{}` took a genuine delivery for a handshake", case.trigger),
        Err(e) => panic!("`{}` refused a genuine delivery: {e}", case.trigger),
    }

    let mut forgeries: Vec<(&str, WebhookRequest)> = Vec::new();
    let mut altered = genuine.clone();
    let mut bytes = altered.body.to_vec();
    bytes.extend_from_slice(b" ");
    altered.body = Bytes::from(bytes);
    forgeries.push(("its body altered", altered));
    forgeries.push(("signed with another secret", (case.sign)(FORGED_SECRET, &body)));
    if let Some(name) = &case.signature_header {
        let value = genuine
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("the signed delivery has no `{name}` header"))
            .to_owned();
        let mut flipped = value.clone();
        let last = flipped.pop().map_or('0', |c| if c == '0' { '1' } else { '0' });
        flipped.push(last);
        let mut altered = genuine.clone();
        altered.headers.insert(
            name.parse::<http::HeaderName>().expect("a header name"),
            HeaderValue::from_str(&flipped).expect("a header value"),
        );
        forgeries.push(("its signature altered", altered));
        let mut unsigned = genuine.clone();
        unsigned.headers.remove(name.as_str());
        forgeries.push(("no signature", unsigned));
    }
    for (how, forged) in forgeries {
        match trigger.handle_webhook(&cx, &forged).await {
            Err(err) => {
                assert_eq!(
                    err.kind(),
                    ErrorKind::Unauthorized,
                    "`{}`: a delivery with {how} was refused as {:?}, not Unauthorized: {err}",
                    case.trigger,
                    err.kind()
                );
                assert_no_secret(f, "a refused delivery's error", &shown(&err));
                assert!(
                    !shown(&err).contains(&case.secret),
                    "`{}`: the signing secret shows in the refusal",
                    case.trigger
                );
            }
            Ok(_) => panic!("`{}` accepted a delivery with {how}", case.trigger),
        }
    }

    if let Some((request, answered)) = &case.handshake {
        match trigger.handle_webhook(&cx, request).await {
            Ok(WebhookOutcome::Handshake(reply)) => {
                assert!(
                    answered(&reply),
                    "`{}` answered the handshake wrongly: {reply:?}",
                    case.trigger
                );
            }
            Ok(WebhookOutcome::Items(_)) => panic!("`{}` took the handshake for a delivery", case.trigger),
            Err(e) => panic!("`{}` refused the handshake: {e}", case.trigger),
        }
    }
}
