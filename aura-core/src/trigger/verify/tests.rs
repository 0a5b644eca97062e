//! Each scheme against vectors from its vendor's documentation (GitHub, Standard Webhooks) or
//! computed apart with Python's `hmac` (Stripe, Slack, generic), and against tampering.

use super::*;
use crate::ErrorKind;

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

fn request(headers: &[(&str, &str)], body: &'static str) -> WebhookRequest {
    let mut builder = WebhookRequest::post("/hooks/x", body);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

/// A refusal: `Unauthorized`, and quoting nothing of `secrets`.
fn refused_without(result: Result<Verified>, secrets: &[&str]) -> Error {
    let err = result.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let shown = format!("{err} {err:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
    err
}

const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn github_passes_its_documented_example_and_refuses_a_changed_body() {
    // GitHub's "Validating webhook deliveries" example.
    let verifier = WebhookVerifier::github("It's a Secret to Everybody");
    let good = request(
        &[
            ("x-hub-signature-256", GITHUB_SIGNATURE),
            ("x-github-delivery", "72d3162e-cc78-11e3"),
        ],
        "Hello, World!",
    );
    let verified = verifier.verify(&good, at(0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.delivery_id.as_deref(), Some("72d3162e-cc78-11e3"));

    let changed = request(&[("x-hub-signature-256", GITHUB_SIGNATURE)], "Hello, World?");
    refused_without(verifier.verify(&changed, at(0)), &["It's a Secret", "757107ea"]);
    let missing = refused_without(verifier.verify(&request(&[], "Hello, World!"), at(0)), &[]);
    assert_eq!(missing.context_value("header"), Some("x-hub-signature-256"));
    let unprefixed = request(&[("x-hub-signature-256", &GITHUB_SIGNATURE[7..])], "Hello, World!");
    refused_without(verifier.verify(&unprefixed, at(0)), &[]);
}

const STRIPE_BODY: &str = r#"{"id":"evt_1Nq","type":"invoice.paid"}"#;
const STRIPE_NEW: &str = "0aa583883abc5c814f881a124a1b1745eeceb781ea1fdfb47333978ce404fac0";
const STRIPE_OLD: &str = "e4a6d066e996468d50e0201b80e2024f74e35acfd71af782d2d643aecde7a8ae";

#[test]
fn stripe_takes_any_v1_during_a_roll_within_the_tolerance() {
    let header = format!("t=1700000000,v1={STRIPE_OLD},v1={STRIPE_NEW},v0=ignored");
    let good = request(&[("stripe-signature", &header)], STRIPE_BODY);
    for secret in ["whsec_new", "whsec_old"] {
        let verified = WebhookVerifier::stripe(secret)
            .verify(&good, at(1_700_000_100))
            .unwrap_or_else(|e| panic!("{secret}: {e}"));
        assert_eq!(verified.delivery_id.as_deref(), Some("evt_1Nq"), "the event id");
    }
    let verifier = WebhookVerifier::stripe("whsec_new");
    let late = refused_without(verifier.verify(&good, at(1_700_000_301)), &["whsec_new"]);
    assert!(late.to_string().contains("too far from now"), "{late}");
    let other = WebhookVerifier::stripe("whsec_other");
    refused_without(other.verify(&good, at(1_700_000_000)), &["whsec_other", STRIPE_NEW]);
    let no_v1 = request(&[("stripe-signature", "t=1700000000")], STRIPE_BODY);
    refused_without(verifier.verify(&no_v1, at(1_700_000_000)), &[]);
    let no_t = request(&[("stripe-signature", &format!("v1={STRIPE_NEW}"))], STRIPE_BODY);
    refused_without(verifier.verify(&no_t, at(1_700_000_000)), &[]);
}

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

#[test]
fn slack_answers_the_url_verification_handshake_once_signed() {
    let body = r#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","token":"Z26uFbvR1xHJEEYl"}"#;
    let signature = "v0=238e27f30498151e43ab6eb51719674208147b2f8e0cb9b459c9069f5b4ed3a5";
    let good = request(
        &[
            ("x-slack-request-timestamp", "1700000000"),
            ("x-slack-signature", signature),
        ],
        body,
    );
    let verified = WebhookVerifier::slack(SLACK_SECRET)
        .verify(&good, at(1_700_000_010))
        .unwrap_or_else(|e| panic!("{e}"));
    let reply = verified.handshake.expect("the challenge is answered");
    assert_eq!(reply.status, http::StatusCode::OK);
    assert_eq!(&reply.body[..], b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");

    // The same request five minutes and a second later: a replay.
    refused_without(
        WebhookVerifier::slack(SLACK_SECRET).verify(&good, at(1_700_000_301)),
        &[SLACK_SECRET],
    );
}

#[test]
fn slack_events_carry_their_event_id() {
    let body = r#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"message"}}"#;
    let signature = "v0=261843ee695ce83fa810a40948b8dbcfd3feec3eb4eab870755835077fae8e04";
    let good = request(
        &[
            ("x-slack-request-timestamp", "1700000000"),
            ("x-slack-signature", signature),
        ],
        body,
    );
    let verified = WebhookVerifier::slack(SLACK_SECRET)
        .verify(&good, at(1_700_000_000))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.delivery_id.as_deref(), Some("Ev08MFMKH6"));
    assert!(verified.handshake.is_none());
    let tampered = request(
        &[
            ("x-slack-request-timestamp", "1700000001"),
            ("x-slack-signature", signature),
        ],
        body,
    );
    refused_without(
        WebhookVerifier::slack(SLACK_SECRET).verify(&tampered, at(1_700_000_000)),
        &[],
    );
}

#[test]
fn standard_webhooks_pass_the_specification_example_with_any_current_secret() {
    // The example of the Standard Webhooks / Svix documentation.
    let good = request(
        &[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,bm9ldHZhbGlk v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ],
        r#"{"test": 2432232314}"#,
    );
    let rotating = WebhookVerifier::StandardWebhooks {
        secrets: vec![
            SecretString::from("whsec_c29tZSBvbGQgc2VjcmV0"),
            SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ],
        tolerance: FIVE_MINUTES,
    };
    let verified = rotating
        .verify(&good, at(1_614_265_330))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.delivery_id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    let old_only = WebhookVerifier::standard_webhooks("whsec_c29tZSBvbGQgc2VjcmV0");
    refused_without(old_only.verify(&good, at(1_614_265_330)), &["c29tZSBvbGQgc2VjcmV0"]);
    refused_without(rotating.verify(&good, at(1_614_265_330 - 301)), &[]);
}

#[test]
fn a_generic_hmac_reads_hex_or_base64_after_its_prefix() {
    let hex_scheme = WebhookVerifier::Hmac(HmacScheme {
        header: "x-signature".into(),
        prefix: Some("sha256=".into()),
        encoding: SignatureEncoding::Hex,
        secret: SecretString::from("s3cr3t"),
    });
    let good = request(
        &[(
            "x-signature",
            "sha256=9747A46CF3EEFF4C181F0E08BC0388AAF2E49E139BAD03DD7FEFEC920B08B082",
        )],
        "payload",
    );
    hex_scheme.verify(&good, at(0)).unwrap_or_else(|e| panic!("{e}"));
    let unprefixed = request(
        &[(
            "x-signature",
            "9747a46cf3eeff4c181f0e08bc0388aaf2e49e139bad03dd7fefec920b08b082",
        )],
        "payload",
    );
    refused_without(hex_scheme.verify(&unprefixed, at(0)), &["s3cr3t"]);

    let base64_scheme = WebhookVerifier::Hmac(HmacScheme {
        header: "x-shopify-hmac-sha256".into(),
        prefix: None,
        encoding: SignatureEncoding::Base64,
        secret: SecretString::from("s3cr3t"),
    });
    let good = request(
        &[("x-shopify-hmac-sha256", "l0ekbPPu/0wYHw4IvAOIqvLknhObrQPdf+/skgsIsII=")],
        "payload",
    );
    base64_scheme.verify(&good, at(0)).unwrap_or_else(|e| panic!("{e}"));
    let changed = request(
        &[("x-shopify-hmac-sha256", "l0ekbPPu/0wYHw4IvAOIqvLknhObrQPdf+/skgsIsII=")],
        "payload!",
    );
    refused_without(base64_scheme.verify(&changed, at(0)), &["s3cr3t"]);
}

#[test]
fn basic_and_header_tokens_are_compared_whole() {
    let basic = WebhookVerifier::Basic {
        user: "aura".into(),
        password: SecretString::from("pa55word"),
    };
    let good = request(&[("authorization", "Basic YXVyYTpwYTU1d29yZA==")], "");
    basic.verify(&good, at(0)).unwrap_or_else(|e| panic!("{e}"));
    // "aura:pa55wor": a prefix of the right credentials is no match.
    let short = request(&[("authorization", "Basic YXVyYTpwYTU1d29y")], "");
    refused_without(basic.verify(&short, at(0)), &["pa55word"]);
    refused_without(basic.verify(&request(&[("authorization", "Bearer x")], ""), at(0)), &[]);

    let token = WebhookVerifier::HeaderToken {
        header: "x-token".into(),
        token: SecretString::from("t0k3n-value"),
    };
    token
        .verify(&request(&[("x-token", "t0k3n-value")], ""), at(0))
        .unwrap_or_else(|e| panic!("{e}"));
    refused_without(
        token.verify(&request(&[("x-token", "t0k3n-valu")], ""), at(0)),
        &["t0k3n-value"],
    );
    refused_without(token.verify(&request(&[], ""), at(0)), &["t0k3n-value"]);
}

#[test]
fn secrets_never_show_in_debug() {
    let verifiers = [
        WebhookVerifier::github("gh-secret-1"),
        WebhookVerifier::stripe("whsec_stripe-secret-2"),
        WebhookVerifier::slack("slack-secret-3"),
        WebhookVerifier::standard_webhooks("whsec_c3RhbmRhcmQtc2VjcmV0"),
    ];
    let shown = format!("{verifiers:?}");
    for secret in [
        "gh-secret-1",
        "stripe-secret-2",
        "slack-secret-3",
        "c3RhbmRhcmQtc2VjcmV0",
    ] {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
}
