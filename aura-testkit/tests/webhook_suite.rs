//! The connector suite's webhook check on manifest apps with GitHub- and Slack-verified
//! webhook triggers (signed here as those vendors document), and on one that verifies nothing,
//! which must fail it. The signing secret is a custom field `secret` of the trigger node's
//! connection, as manifest webhooks read it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use aura_core::connection::Credentials;
use aura_core::declarative::DeclarativeApp;
use aura_core::trigger::WebhookRequest;
use aura_testkit::behavior::connector::{self, ConnectorFixture, WebhookCase};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

const SECRET: &str = "canary-webhook-Secret-31f";

fn manifest(verify: &str) -> String {
    format!(
        r#"
id: hooks
name: Hooks
version: 1.0.0
description: A service that calls back.
base_url: https://api.hooks.test
operations:
  get_thing:
    method: GET
    path: /things/{{id}}
triggers:
  delivered:
    webhook:
      verify: {verify}
      key: /id
"#
    )
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
fn github(secret: &str, body: &[u8]) -> WebhookRequest {
    WebhookRequest::post("/hooks", body.to_vec())
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header("X-Hub-Signature-256", &format!("sha256={}", hmac_hex(secret, body)))
        .build()
        .unwrap()
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`.
fn slack(secret: &str, body: &[u8]) -> WebhookRequest {
    let now = chrono::Utc::now().timestamp().to_string();
    let mut base = format!("v0:{now}:").into_bytes();
    base.extend_from_slice(body);
    WebhookRequest::post("/hooks", body.to_vec())
        .header("X-Slack-Request-Timestamp", &now)
        .header("X-Slack-Signature", &format!("v0={}", hmac_hex(secret, &base)))
        .build()
        .unwrap()
}

fn fixture(verify: &str, case: WebhookCase) -> ConnectorFixture {
    ConnectorFixture::new(DeclarativeApp::from_yaml(&manifest(verify)).unwrap())
        .credentials(Credentials::custom([("secret", SECRET)]))
        .webhooks(case.body(json!({ "id": "evt_1", "kind": "created" })))
}

fn github_case() -> WebhookCase {
    WebhookCase::new("hooks.delivered", SECRET, github).signature_header("X-Hub-Signature-256")
}

fn slack_case() -> WebhookCase {
    let challenge =
        json!({ "type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" });
    let handshake = slack(SECRET, &serde_json::to_vec(&challenge).unwrap());
    WebhookCase::new("hooks.delivered", SECRET, slack)
        .signature_header("X-Slack-Signature")
        .handshake(handshake, |reply| {
            serde_json::from_slice::<Value>(&reply.body).ok()
                == Some(json!({ "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" }))
        })
}

mod github_hooks {
    use super::*;
    aura_testkit::connector_behavior!(@each async { fixture("github", github_case()) };
        secrets_never_leak, forged_webhooks_are_refused);
}

mod slack_hooks {
    use super::*;
    aura_testkit::connector_behavior!(@each async { fixture("slack", slack_case()) };
        forged_webhooks_are_refused);
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "accepted a delivery")]
async fn a_trigger_that_verifies_nothing_fails_the_webhook_check() {
    connector::forged_webhooks_are_refused(&fixture("none", github_case())).await;
}
