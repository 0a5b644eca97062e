//! The `smtp` app against a real SMTP server on loopback: the CI's aiosmtpd sink
//! (`.ci/servers/smtp.sh`), which stores every message it takes, raw, with its envelope. The
//! tests read those files back and compare them byte for byte where it matters.
//!
//! Run them with the sink started (`.ci/run` does it):
//!
//! ```text
//! AURA_TEST_SMTP_URL=smtp://aura:PASSWORD@127.0.0.1:2525 \
//! AURA_TEST_SMTP_TLS_URL=smtps://aura:PASSWORD@127.0.0.1:2465 \
//! AURA_TEST_SMTP_DIR=/tmp/…/messages AURA_TEST_SMTP_CA=/tmp/…/ca.pem \
//!     cargo test -p aura-connectors --features smtp --test smtp -- --ignored
//! ```

#![cfg(feature = "smtp")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_connectors::smtp::SmtpApp;
use aura_core::connection::{ConnectionManager, ConnectionRecord, NewConnection, StaticConnection};
use aura_core::engine::Engine;
use aura_core::scenario::Scenario;
use aura_core::store::ExecutionStatus;
use aura_core::{Context, Credentials, ErrorKind, Registry};
use aura_testkit::behavior::connector::ConnectorFixture;
use base64::Engine as _;
use serde_json::{Value, json};

const NEEDS: &str = "set AURA_TEST_SMTP_URL, AURA_TEST_SMTP_TLS_URL, AURA_TEST_SMTP_DIR and AURA_TEST_SMTP_CA (`.ci/servers/smtp.sh` starts the sink and sets them; see .ci/run)";

/// The sink's address and login, from `AURA_TEST_SMTP_URL` (or the TLS one).
struct Server {
    user: String,
    password: String,
    port: u16,
}

fn server(var: &str) -> Server {
    let url = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: {NEEDS}"));
    let rest = url.split_once("://").map(|(_, r)| r).expect("scheme://");
    let (login, address) = rest.rsplit_once('@').expect("user:password@host:port");
    let (user, password) = login.split_once(':').expect("user:password");
    let port = address.rsplit_once(':').expect("host:port").1.trim_end_matches('/');
    Server {
        user: user.to_owned(),
        password: password.to_owned(),
        port: port.parse().expect("a port"),
    }
}

fn ca() -> String {
    let path = std::env::var("AURA_TEST_SMTP_CA").unwrap_or_else(|_| panic!("AURA_TEST_SMTP_CA is not set: {NEEDS}"));
    std::fs::read_to_string(path).expect("the sink's CA certificate")
}

fn inbox() -> PathBuf {
    PathBuf::from(
        std::env::var("AURA_TEST_SMTP_DIR").unwrap_or_else(|_| panic!("AURA_TEST_SMTP_DIR is not set: {NEEDS}")),
    )
}

/// STARTTLS on the sink's first port, its certificate trusted through `ca_certificate`, for
/// `localhost` (the certificate's DNS name).
fn starttls(password: &str) -> Credentials {
    let s = server("AURA_TEST_SMTP_URL");
    Credentials::custom([
        ("host", "localhost".to_owned()),
        ("port", s.port.to_string()),
        ("security", "starttls".to_owned()),
        ("username", s.user),
        ("password", password.to_owned()),
        ("ca_certificate", ca()),
    ])
}

fn good() -> Credentials {
    starttls(&server("AURA_TEST_SMTP_URL").password)
}

/// Implicit TLS on the sink's second port, for `127.0.0.1` (the certificate's IP address).
fn implicit_tls() -> Credentials {
    let s = server("AURA_TEST_SMTP_TLS_URL");
    Credentials::custom([
        ("host", "127.0.0.1".to_owned()),
        ("port", s.port.to_string()),
        ("security", "tls".to_owned()),
        ("username", s.user),
        ("password", s.password),
        ("ca_certificate", ca()),
    ])
}

fn cx(credentials: Credentials) -> Context {
    let record = ConnectionRecord::new("smtp", "sink", credentials);
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build()
}

async fn send(credentials: Credentials, input: Value) -> aura_core::Result<Value> {
    let registry = Registry::new();
    registry.register(SmtpApp::new()).unwrap();
    registry
        .action("smtp.send")
        .await
        .unwrap()
        .call(cx(credentials), input)
        .await
}

/// A message the sink took: its raw DATA bytes and its envelope.
struct Received {
    raw: Vec<u8>,
    envelope: Value,
}

impl Received {
    fn text(&self) -> String {
        String::from_utf8(self.raw.clone()).expect("the message is ASCII")
    }

    /// The message without its `Date` line (the one part the test cannot fix in advance),
    /// each MIME boundary replaced by `B1`, `B2` … in order of appearance.
    fn normalized(&self) -> String {
        let text = self.text();
        let mut out: String = text
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with("Date: "))
            .collect();
        let mut n = 0;
        while let Some(at) = out.find("boundary=\"") {
            let start = at + "boundary=\"".len();
            let end = start + out[start..].find('"').unwrap();
            let boundary = out[start..end].to_owned();
            n += 1;
            out = out.replace(&boundary, &format!("B{n}"));
            out = out.replacen("boundary=\"", "boundary=<", 1);
        }
        out.replace("boundary=<", "boundary=\"")
    }
}

/// Waits (bounded) for the sink to have stored the message with `message_id`.
fn received(message_id: &str) -> Received {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir(inbox()).expect("the sink's message directory") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let envelope: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                if envelope["message_id"] == message_id {
                    let raw = std::fs::read(path.with_extension("eml")).unwrap();
                    return Received { raw, envelope };
                }
            }
        }
        assert!(Instant::now() < deadline, "the sink has no message {message_id}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn id_of(sent: &Value) -> String {
    sent["message_id"].as_str().expect("a message id").to_owned()
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn a_plain_text_message_arrives_byte_for_byte() {
    let sent = send(
        good(),
        json!({
            "from": "Ada Lovelace <ada@example.com>",
            "to": ["bob@example.org"],
            "subject": "Plain text",
            "text": "Hello Bob,\n\nline two.\n.leading dot stays\n"
        }),
    )
    .await
    .unwrap();
    let id = id_of(&sent);
    let got = received(&id);
    assert_eq!(
        got.normalized(),
        format!(
            "From: \"Ada Lovelace\" <ada@example.com>\r\n\
             To: bob@example.org\r\n\
             Subject: Plain text\r\n\
             Message-ID: {id}\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             Hello Bob,\r\n\
             \r\n\
             line two.\r\n\
             .leading dot stays\r\n\
             \r\n"
        )
    );
    let date = got.text().lines().find(|l| l.starts_with("Date: ")).unwrap().to_owned();
    assert!(date.ends_with(" +0000"), "{date}");
    assert_eq!(got.envelope["mail_from"], "ada@example.com");
    assert_eq!(got.envelope["rcpt_tos"], json!(["bob@example.org"]));
    assert_eq!(got.envelope["tls"], true, "STARTTLS was used");
    assert_eq!(got.envelope["login"], "aura");
    assert_eq!(sent["accepted"], json!(["bob@example.org"]));
    assert!(sent["reply"].as_str().unwrap().contains("queued as"), "{sent}");
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn html_and_text_arrive_as_multipart_alternative_and_bcc_only_in_the_envelope() {
    let sent = send(
        good(),
        json!({
            "from": "ada@example.com",
            "to": ["bob@example.org"],
            "cc": ["carol@example.org"],
            "bcc": ["secret-watcher@example.net"],
            "reply_to": ["replies@example.com"],
            "subject": "Both",
            "text": "plain",
            "html": "<p>rich</p>",
            "headers": { "X-Campaign": "welcome" }
        }),
    )
    .await
    .unwrap();
    let id = id_of(&sent);
    let got = received(&id);
    assert_eq!(
        got.normalized(),
        format!(
            "From: ada@example.com\r\n\
             To: bob@example.org\r\n\
             Cc: carol@example.org\r\n\
             Reply-To: replies@example.com\r\n\
             Subject: Both\r\n\
             Message-ID: {id}\r\n\
             X-Campaign: welcome\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/alternative;\r\n \
             boundary=\"B1\"\r\n\
             \r\n\
             --B1\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             plain\r\n\
             --B1\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             <p>rich</p>\r\n\
             --B1--\r\n"
        )
    );
    assert_eq!(
        got.envelope["rcpt_tos"],
        json!(["bob@example.org", "carol@example.org", "secret-watcher@example.net"])
    );
    assert!(!got.text().contains("secret-watcher"), "bcc must not be in the headers");
    assert!(!got.text().to_ascii_lowercase().contains("bcc:"));
    assert_eq!(sent["accepted"], got.envelope["rcpt_tos"]);
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn attachments_arrive_with_the_same_bytes() {
    // Every byte value, then 200 KiB of a pattern: base64 lines, no 7bit shortcut.
    let mut bytes: Vec<u8> = (0u8..=255).collect();
    bytes.extend((0..200 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let b64 = base64::engine::general_purpose::STANDARD;
    let sent = send(
        good(),
        json!({
            "from": "ada@example.com",
            "to": ["bob@example.org"],
            "subject": "Files",
            "text": "two files",
            "attachments": [
                { "filename": "data.bin", "content": b64.encode(&bytes) },
                { "filename": "notes – résumé.txt", "content_type": "text/plain; charset=utf-8", "content": b64.encode("naïve\n") }
            ]
        }),
    )
    .await
    .unwrap();
    let got = received(&id_of(&sent));
    let text = got.normalized();
    assert!(
        text.contains("Content-Type: multipart/mixed;\r\n boundary=\"B1\"\r\n"),
        "{text}"
    );
    let parts: Vec<&str> = text.split("\r\n--B1").collect();
    assert_eq!(parts.len(), 5, "preamble, body, two files, end: {text}");
    assert_eq!(
        parts[1],
        "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\ntwo files"
    );
    let decode = |part: &str| {
        let (head, body) = part.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Transfer-Encoding: base64"), "{head}");
        assert!(body.lines().all(|l| l.len() <= 76));
        (head.to_owned(), b64.decode(body.replace("\r\n", "")).unwrap())
    };
    let (head, data) = decode(parts[2]);
    assert!(
        head.contains("Content-Disposition: attachment; filename=\"data.bin\"\r\n"),
        "{head}"
    );
    assert!(head.contains("Content-Type: application/octet-stream"), "{head}");
    assert_eq!(data, bytes);
    let (head, notes) = decode(parts[3]);
    assert!(
        head.contains("filename*0*=utf-8''notes%20%E2%80%93%20r%C3%A9sum%C3%A9.txt"),
        "RFC 2231 file name: {head}"
    );
    assert_eq!(notes, "naïve\n".as_bytes());
    assert_eq!(parts[4], "--\r\n");
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn a_non_ascii_subject_and_names_arrive_as_encoded_words() {
    let sent = send(
        implicit_tls(),
        json!({
            "from": { "email": "ada@example.com", "name": "Ada Ünïcode" },
            "to": [{ "email": "zoe@example.org", "name": "Zoë" }],
            "subject": "Grüße aus Köln ✓",
            "text": "Grüße aus Köln, café au lait"
        }),
    )
    .await
    .unwrap();
    let got = received(&id_of(&sent));
    let text = got.text();
    assert!(got.raw.is_ascii(), "headers and body are 7-bit on the wire");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for line in [
        format!("From: =?utf-8?b?{}?= <ada@example.com>\r\n", b64("Ada Ünïcode")),
        format!("To: =?utf-8?b?{}?= <zoe@example.org>\r\n", b64("Zoë")),
        format!(
            "Subject: =?utf-8?b?{}?= aus =?utf-8?b?{}?=\r\n",
            b64("Grüße"),
            b64("Köln ✓")
        ),
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe aus K=C3=B6ln, caf=C3=A9 au lait\r\n"
            .to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} not in:\n{text}");
    }
    assert_eq!(got.envelope["tls"], true, "implicit TLS");
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn the_connection_tests_over_starttls_and_tls_and_refuses_an_unknown_ca() {
    let app = SmtpApp::new();
    app_test(&app, good()).await.unwrap();
    app_test(&app, implicit_tls()).await.unwrap();
    // The same server, its CA not given: the certificate is not trusted, and it says why.
    let s = server("AURA_TEST_SMTP_URL");
    let untrusted = Credentials::custom([
        ("host", "localhost".to_owned()),
        ("port", s.port.to_string()),
        ("username", s.user),
        ("password", s.password),
    ]);
    let err = app_test(&app, untrusted).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(
        err.message().contains("TLS") && err.message().contains("ca_certificate"),
        "{err}"
    );
    assert_eq!(err.context_value("stage"), Some("starttls"));
}

async fn app_test(app: &SmtpApp, credentials: Credentials) -> aura_core::Result<()> {
    use aura_core::App as _;
    app.test_connection(&cx(credentials)).await
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn a_wrong_password_is_unauthorized_and_never_shown() {
    let wrong = "wrong-password-canary-3f9a";
    let err = app_test(&SmtpApp::new(), starttls(wrong)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
    assert!(err.message().contains("535"), "{err}");
    let err = send(
        starttls(wrong),
        json!({ "from": "ada@example.com", "to": ["bob@example.org"], "subject": "s", "text": "t" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let shown = format!("{err} {err:?}");
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0aura\0{wrong}"));
    assert!(!shown.contains(wrong) && !shown.contains(&plain), "{shown}");
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn refusals_name_the_recipient_and_oversize_is_invalid_input() {
    let message = |bcc: &str| json!({ "from": "ada@example.com", "to": ["bob@example.org"], "bcc": [bcc], "subject": "s", "text": "t" });
    let err = send(good(), message("reject-me@example.org")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert_eq!(err.violations()[0].path, "/bcc/0");
    assert_eq!(err.context_value("recipient"), Some("reject-me@example.org"));
    assert!(err.message().contains("550 5.1.1"), "{err}");

    let err = send(good(), message("busy@example.org")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_retryable() && !err.may_have_been_accepted());

    // The sink takes at most 1 MiB.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 1024 * 1024]);
    let err = send(
        good(),
        json!({ "from": "ada@example.com", "to": ["bob@example.org"], "subject": "big", "text": "t",
                "attachments": [{ "filename": "big.bin", "content": big }] }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert!(err.message().contains("552"), "{err}");
}

#[tokio::test]
#[ignore = "needs smtp: see .ci/run"]
async fn a_scenario_sends_with_a_managed_connection_and_a_new_password_drops_old_sessions() {
    let registry = Arc::new(Registry::new());
    registry.register(SmtpApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("smtp", "sink", good()).with_id("mailer"))
        .await
        .unwrap();
    let engine = Engine::builder(registry.clone())
        .connections(manager.connections())
        .build();
    let scenario = Scenario::from_yaml(
        r#"
id: welcome
name: Welcome mail
nodes:
  - id: signup
    kind: trigger
    next: [welcome]
  - id: welcome
    kind: action
    config: { action: smtp.send }
    connection: mailer
    input:
      from: { email: "hello@shop.example", name: "Shop" }
      to: ["{{ trigger.email }}"]
      bcc: ["archive@shop.example"]
      subject: "Welcome, {{ trigger.name }}"
      text: "Hello {{ trigger.name }}, thanks for signing up."
      html: "<p>Hello <b>{{ trigger.name }}</b>, thanks for signing up.</p>"
      headers: { X-Campaign: welcome }
"#,
    )
    .unwrap();
    let plan = engine.deploy(scenario).await.unwrap();
    let run = engine
        .execute(&plan, json!({ "email": "grace@example.org", "name": "Grace" }))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Completed, "{:?}", run.error);
    let output = run.node("welcome").and_then(|n| n.output.clone()).unwrap();
    assert_eq!(output["accepted"], json!(["grace@example.org", "archive@shop.example"]));
    let got = received(output["message_id"].as_str().unwrap());
    assert!(got.text().contains("Subject: Welcome, Grace\r\n"));
    assert!(
        got.text().contains("From: Shop <hello@shop.example>\r\n"),
        "{}",
        got.text()
    );
    assert_eq!(
        got.envelope["rcpt_tos"],
        json!(["grace@example.org", "archive@shop.example"])
    );

    // A replaced password (not tested, so it is stored as given) gets new sessions: the open,
    // logged-in one of the old password is not reused.
    manager
        .replace_credentials(&record.id, starttls("replaced-wrong-password"), false)
        .await
        .unwrap();
    let run = engine
        .execute(&plan, json!({ "email": "grace@example.org", "name": "Grace" }))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Failed);
    let error = format!("{:?}", run.node("welcome").unwrap());
    assert!(error.contains("535"), "{error}");
    assert!(!error.contains("replaced-wrong-password"), "{error}");
}

async fn fixture() -> ConnectorFixture {
    ConnectorFixture::new(SmtpApp::new())
        .credentials(good())
        .bad_credentials(starttls("behaviour-wrong-password-51c2"))
        .canary("behaviour-wrong-password-51c2")
        .bad_input("smtp.send", json!({ "from": "ada@example.com", "to": ["not an address"], "subject": "s", "text": "t" }))
        .bad_input("smtp.send", json!({ "from": "ada@example.com", "to": ["b@example.org"], "subject": "s" }))
        .bad_input(
            "smtp.send",
            json!({ "from": "ada@example.com", "to": ["b@example.org"], "subject": "s", "text": "t", "headers": { "Bcc": "x@example.org" } }),
        )
        .bad_input("smtp.send", json!({ "from": "ada@example.com", "to": "b@example.org", "subject": "s", "text": "t" }))
        .call(
            "smtp.send",
            json!({ "from": "ada@example.com", "to": ["behaviour@example.org"], "subject": "Behaviour suite", "text": "hello" }),
        )
}

mod behaviour {
    use super::*;
    aura_testkit::connector_behavior!(
        #[ignore = "needs smtp: see .ci/run"]
        async {
            fixture().await
        }
    );
}
