//! The `smtp` app without the CI's server: settings, message building (exact bytes with a
//! fixed date, Message-ID and boundaries), address and header checks, the error mapping, and
//! the transaction against a scripted SMTP server on loopback (refusals, login, reuse).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aura_core::connection::StaticConnection;
use aura_core::{ConnectionRecord, Context, Credentials, ErrorKind, Registry};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::core::{Mailer, Mailers};
use super::error::{Stage, from_reply};
use super::*;

const DATE: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 +0000

fn input(value: Value) -> SendInput {
    serde_json::from_value(value).unwrap()
}

fn build(value: Value) -> super::message::Outgoing {
    input(value)
        .to_outgoing(UNIX_EPOCH + Duration::from_secs(DATE), "0190fixed")
        .unwrap()
}

fn refused(value: Value) -> Vec<(String, String)> {
    let err = input(value).to_outgoing(SystemTime::now(), "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    err.violations()
        .iter()
        .map(|v| (v.path.clone(), v.message.clone()))
        .collect()
}

/// The message as text, each MIME boundary replaced by `B1`, `B2` … in order of appearance.
fn text_of(bytes: &[u8]) -> String {
    let mut text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut n = 0;
    while let Some(at) = text.find("boundary=\"") {
        let start = at + "boundary=\"".len();
        let end = start + text[start..].find('"').unwrap();
        let boundary = text[start..end].to_owned();
        n += 1;
        text = text.replace(&boundary, &format!("B{n}"));
        text = text.replacen("boundary=\"", "boundary=<", 1);
    }
    text.replace("boundary=<", "boundary=\"")
}

fn creds(fields: &[(&str, &str)]) -> Credentials {
    Credentials::custom(fields.iter().copied())
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

#[test]
fn settings_default_to_starttls_on_587_and_hide_the_password() {
    let config = SmtpConfig::from_credentials(&creds(&[
        ("host", "smtp.example.com"),
        ("username", "mailer"),
        ("password", "correct-horse-battery"),
    ]))
    .unwrap();
    assert_eq!((config.port, config.security), (587, Security::Starttls));
    let debug = format!("{config:?}");
    assert!(debug.contains("mailer") && !debug.contains("correct-horse"), "{debug}");
    let tls = SmtpConfig::from_credentials(&creds(&[("host", "smtp.example.com"), ("security", "TLS")])).unwrap();
    assert_eq!(
        (tls.port, tls.security, tls.login.is_none()),
        (465, Security::Tls, true)
    );
}

#[test]
fn security_none_is_only_for_loopback() {
    for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"] {
        let config = SmtpConfig::from_credentials(&creds(&[("host", host), ("security", "none")])).unwrap();
        assert_eq!(config.port, 25, "{host}");
    }
    for host in ["smtp.example.com", "10.0.0.1", "localhost.example.com"] {
        let err = SmtpConfig::from_credentials(&creds(&[("host", host), ("security", "none")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.violations()[0].path, "/credentials/security", "{host}");
        assert!(err.violations()[0].message.contains("loopback"));
    }
}

#[test]
fn bad_settings_are_each_named() {
    let err = SmtpConfig::from_credentials(&creds(&[
        ("port", "99999"),
        ("security", "ssl"),
        ("username", "mailer"),
        ("ca_certificate", "not a certificate"),
    ]))
    .unwrap_err();
    let paths: Vec<_> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/credentials/host",
            "/credentials/security",
            "/credentials/port",
            "/credentials/password",
            "/credentials/ca_certificate"
        ]
    );
    let err = SmtpConfig::from_credentials(&Credentials::bearer("token-value")).unwrap_err();
    assert_eq!(err.violations()[0].path, "/credentials");
}

#[test]
fn the_manifest_declares_the_fields_and_only_the_password_is_secret() {
    let manifest = SmtpApp::new().manifest();
    manifest.validate().unwrap();
    let aura_core::app::AuthMethod::Custom { fields } = &manifest.auth[0] else {
        panic!("custom auth expected");
    };
    let names: Vec<_> = fields.iter().map(|f| (f.name.as_str(), f.secret, f.required)).collect();
    assert_eq!(
        names,
        [
            ("host", false, true),
            ("port", false, false),
            ("security", false, false),
            ("username", false, false),
            ("password", true, false),
            ("ca_certificate", false, false)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

#[test]
fn a_text_message_is_built_exactly() {
    let out = build(json!({
        "from": "Ada Lovelace <ada@example.com>",
        "to": ["bob@example.org"],
        "subject": "Hello",
        "text": "Hi Bob,\nsee you.\n"
    }));
    assert_eq!(
        String::from_utf8(out.bytes).unwrap(),
        "From: \"Ada Lovelace\" <ada@example.com>\r\n\
         To: bob@example.org\r\n\
         Subject: Hello\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         Message-ID: <0190fixed@example.com>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         Hi Bob,\r\n\
         see you.\r\n\
         \r\n"
    );
    assert_eq!(out.message_id, "<0190fixed@example.com>");
    assert_eq!(out.from.to_string(), "ada@example.com");
}

#[test]
fn non_ascii_subject_and_names_are_rfc2047_encoded_words() {
    let out = build(json!({
        "from": { "email": "ada@example.com", "name": "Ada Ünïcode" },
        "to": [{ "email": "zoe@example.org", "name": "Zoë" }],
        "subject": "Grüße aus Köln",
        "text": "Grüße aus Köln, café au lait"
    }));
    let text = text_of(&out.bytes);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert!(
        text.contains(&format!(
            "From: =?utf-8?b?{}?= <ada@example.com>\r\n",
            b64("Ada Ünïcode")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("To: =?utf-8?b?{}?= <zoe@example.org>\r\n", b64("Zoë"))),
        "{text}"
    );
    // Words that are ASCII stay as they are; the others are encoded words.
    assert!(
        text.contains(&format!(
            "Subject: =?utf-8?b?{}?= aus =?utf-8?b?{}?=\r\n",
            b64("Grüße"),
            b64("Köln")
        )),
        "{text}"
    );
    assert!(text.is_ascii());
    assert!(
        text.ends_with(
            "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe aus K=C3=B6ln, caf=C3=A9 au lait\r\n"
        ),
        "{text}"
    );
}

#[test]
fn text_and_html_make_multipart_alternative_and_bcc_stays_out_of_the_headers() {
    let out = build(json!({
        "from": "ada@example.com",
        "to": ["bob@example.org"],
        "cc": ["carol@example.org"],
        "bcc": ["hidden@example.net", "bob@example.org"],
        "reply_to": ["replies@example.com"],
        "subject": "Both",
        "text": "plain",
        "html": "<p>rich</p>",
        "headers": { "X-Campaign": "welcome", "List-Unsubscribe": "<mailto:unsub@example.com>" }
    }));
    assert_eq!(
        text_of(&out.bytes),
        "From: ada@example.com\r\n\
         To: bob@example.org\r\n\
         Cc: carol@example.org\r\n\
         Reply-To: replies@example.com\r\n\
         Subject: Both\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         Message-ID: <0190fixed@example.com>\r\n\
         List-Unsubscribe: <mailto:unsub@example.com>\r\n\
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
    );
    // The envelope: every recipient once, bcc included, in input order.
    assert_eq!(
        out.addresses(),
        ["bob@example.org", "carol@example.org", "hidden@example.net"]
    );
    let paths: Vec<_> = out.recipients.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/to/0", "/cc/0", "/bcc/0"]);
}

#[test]
fn attachments_are_base64_parts_of_multipart_mixed() {
    let bytes: Vec<u8> = (0u8..=255).collect();
    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let out = build(json!({
        "from": "ada@example.com",
        "to": ["bob@example.org"],
        "subject": "Files",
        "text": "see attached",
        "attachments": [
            { "filename": "bytes.bin", "content": content },
            { "filename": "résumé.txt", "content_type": "text/plain", "content": "AAECAwQ=" }
        ]
    }));
    let text = text_of(&out.bytes);
    assert!(
        text.contains("Content-Type: multipart/mixed;\r\n boundary=\"B1\"\r\n"),
        "{text}"
    );
    assert!(text.contains(
        "--B1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nsee attached\r\n"
    ));
    // Bytes that happen to be ASCII control characters are base64 too, never raw 7bit.
    assert!(text.contains(
        "--B1\r\nContent-Disposition: attachment;\r\n filename*0*=utf-8''r%C3%A9sum%C3%A9.txt\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--B1--\r\n"
    ), "{text}");
    let start = text.find("filename=\"bytes.bin\"").unwrap();
    let part = &text[start..];
    assert!(part.contains("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
    let body = &part[part.find("\r\n\r\n").unwrap() + 4..part.find("\r\n--B1").unwrap()];
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(body.replace("\r\n", ""))
        .unwrap();
    assert_eq!(decoded, bytes);
    assert!(body.lines().all(|l| l.len() <= 76));
}

#[test]
fn every_bad_field_is_named_before_anything_is_sent() {
    let violations = refused(json!({
        "from": "not an address",
        "to": ["ok@example.org", "bad@@example.org"],
        "cc": [{ "email": "x@" }],
        "bcc": [{ "email": "y@example.org", "name": "two\nlines" }],
        "reply_to": ["also bad"],
        "subject": "line\r\nBcc: injected@example.com",
        "text": "t",
        "attachments": [{ "filename": "a", "content_type": "not a type", "content": "%%%" }],
        "headers": { "X Bad": "v", "Subject": "again", "X-Ok": "line\nbreak" },
        "message_id": "no-brackets@example.com"
    }));
    let paths: Vec<_> = violations.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/from",
            "/to/1",
            "/cc/0/email",
            "/bcc/0/name",
            "/reply_to/0",
            "/subject",
            "/message_id",
            "/headers/Subject",
            "/headers/X Bad",
            "/headers/X-Ok",
            "/attachments/0/content_type",
            "/attachments/0/content"
        ],
        "{violations:?}"
    );
}

#[test]
fn a_message_needs_a_recipient_and_a_body() {
    let violations = refused(json!({ "from": "ada@example.com", "subject": "nothing" }));
    let paths: Vec<_> = violations.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/to", "/text"]);
}

#[test]
fn a_given_message_id_is_kept() {
    let out = build(json!({
        "from": "ada@example.com", "to": ["b@example.org"], "subject": "s", "text": "t",
        "message_id": "<order-42.retry-safe@shop.example>"
    }));
    assert_eq!(out.message_id, "<order-42.retry-safe@shop.example>");
    assert!(text_of(&out.bytes).contains("Message-ID: <order-42.retry-safe@shop.example>\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Error mapping
// ---------------------------------------------------------------------------------------------

#[test]
fn replies_map_to_error_kinds() {
    let rcpt = Stage::Rcpt {
        path: "/bcc/1".into(),
        address: "gone@example.org".into(),
    };
    let cases: &[(u16, &str, Stage, ErrorKind)] = &[
        (
            535,
            "5.7.8 Authentication credentials invalid",
            Stage::Auth,
            ErrorKind::Unauthorized,
        ),
        (
            534,
            "5.7.9 Please log in with your web browser",
            Stage::Auth,
            ErrorKind::Unauthorized,
        ),
        (
            530,
            "5.7.0 Authentication required",
            Stage::MailFrom,
            ErrorKind::Unauthorized,
        ),
        (
            454,
            "4.7.0 Temporary authentication failure",
            Stage::Auth,
            ErrorKind::Unavailable,
        ),
        (550, "5.1.1 User unknown", rcpt.clone(), ErrorKind::InvalidInput),
        (553, "5.1.3 Bad address syntax", rcpt.clone(), ErrorKind::InvalidInput),
        (550, "5.7.1 Relaying denied", rcpt.clone(), ErrorKind::Forbidden),
        (450, "4.2.1 Mailbox busy", rcpt.clone(), ErrorKind::Unavailable),
        (452, "4.5.3 Too many recipients", rcpt.clone(), ErrorKind::Unavailable),
        (
            553,
            "5.1.8 Sender address rejected",
            Stage::MailFrom,
            ErrorKind::InvalidInput,
        ),
        (
            552,
            "5.3.4 Message size exceeds fixed limit",
            Stage::Message,
            ErrorKind::InvalidInput,
        ),
        (
            554,
            "5.7.1 Message rejected as spam",
            Stage::Message,
            ErrorKind::Forbidden,
        ),
        (554, "5.6.0 Transaction failed", Stage::Message, ErrorKind::Upstream),
        (
            451,
            "4.7.1 Greylisted, try again",
            Stage::Message,
            ErrorKind::Unavailable,
        ),
        (
            421,
            "4.3.2 Service shutting down",
            Stage::MailFrom,
            ErrorKind::Unavailable,
        ),
        (502, "5.5.1 Command not implemented", Stage::Data, ErrorKind::Upstream),
    ];
    for (code, text, stage, kind) in cases {
        let err = from_reply(*code, text, stage, "smtp.example.com:587");
        assert_eq!(err.kind(), *kind, "{code} {text} at {stage:?}: {err:?}");
        // The server refused: nothing was delivered, so a retry cannot send twice.
        assert!(!err.may_have_been_accepted(), "{code}");
        assert_eq!(err.context_value("server"), Some("smtp.example.com:587"));
        assert_eq!(err.context_value("reply"), Some(format!("{code} {text}").as_str()));
        assert_eq!(err.is_retryable(), code / 100 == 4, "{code} {text}");
    }
    let err = from_reply(550, "5.1.1 User unknown", &rcpt, "s:25");
    assert_eq!(err.violations()[0].path, "/bcc/1");
    assert_eq!(err.context_value("recipient"), Some("gone@example.org"));
    assert!(err.message().contains("gone@example.org"));
    let err = from_reply(553, "5.1.8 rejected", &Stage::MailFrom, "s:25");
    assert_eq!(err.violations()[0].path, "/from");
}

// ---------------------------------------------------------------------------------------------
// Against a scripted SMTP server on loopback
// ---------------------------------------------------------------------------------------------

const PASSWORD: &str = "scripted-password-9b1c";

/// A scripted SMTP server: AUTH with `PASSWORD` (a refusal echoes the AUTH payload back, as a
/// careless server could), `reject*` recipients get 550, `relay*` 550 5.7.1, `busy*` 450, a
/// message containing `TOO-BIG` 552. Returns its port and how many sessions it has seen.
async fn scripted() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sessions = Arc::new(AtomicUsize::new(0));
    let seen = sessions.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
                let (mut in_data, mut message) = (false, String::new());
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let reply: &[u8] = if message.contains("TOO-BIG") {
                                b"552 5.3.4 Message size exceeds fixed limit\r\n"
                            } else {
                                b"250 2.0.0 OK queued as SCRIPTED\r\n"
                            };
                            write.write_all(reply).await.unwrap();
                        } else {
                            message.push_str(&line);
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with("EHLO") {
                        "250-scripted\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n".to_owned()
                    } else if let Some(payload) = line.strip_prefix("AUTH PLAIN ") {
                        let decoded = base64::engine::general_purpose::STANDARD.decode(payload).unwrap();
                        if decoded.ends_with(PASSWORD.as_bytes()) {
                            "235 2.7.0 Authentication successful\r\n".to_owned()
                        } else {
                            format!("535 5.7.8 Authentication failed for {payload}\r\n")
                        }
                    } else if upper.starts_with("RCPT TO:<REJECT") {
                        "550 5.1.1 User unknown\r\n".to_owned()
                    } else if upper.starts_with("RCPT TO:<RELAY") {
                        "550 5.7.1 Relaying denied\r\n".to_owned()
                    } else if upper.starts_with("RCPT TO:<BUSY") {
                        "450 4.2.1 Mailbox busy\r\n".to_owned()
                    } else if upper == "DATA" {
                        in_data = true;
                        message.clear();
                        "354 go ahead\r\n".to_owned()
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        "250 2.0.0 OK\r\n".to_owned()
                    };
                    write.write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (port, sessions)
}

fn registry() -> Registry {
    let registry = Registry::new();
    registry.register(SmtpApp::new()).unwrap();
    registry
}

fn cx_with(port: u16, password: &str) -> Context {
    let credentials = creds(&[
        ("host", "127.0.0.1"),
        ("port", &port.to_string()),
        ("security", "none"),
        ("username", "mailer"),
        ("password", password),
    ]);
    let record = ConnectionRecord::new("smtp", "scripted", credentials);
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build()
}

fn message(to: &[&str], bcc: &[&str]) -> Value {
    json!({ "from": "ada@example.com", "to": to, "bcc": bcc, "subject": "s", "text": "hello" })
}

#[tokio::test]
async fn a_refused_recipient_is_named_and_the_session_is_reset_and_reused() {
    let (port, sessions) = scripted().await;
    let send = registry().action("smtp.send").await.unwrap();
    let cx = cx_with(port, PASSWORD);
    let err = send
        .call(
            cx.clone(),
            message(&["ok@example.org"], &["x@example.org", "reject-me@example.org"]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert_eq!(err.violations()[0].path, "/bcc/1");
    assert_eq!(err.context_value("recipient"), Some("reject-me@example.org"));
    assert!(!err.may_have_been_accepted());

    let err = send
        .call(cx.clone(), message(&["relay-elsewhere@example.org"], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err:?}");
    let err = send
        .call(cx.clone(), message(&["busy@example.org"], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_retryable() && !err.may_have_been_accepted());

    let sent = send
        .call(cx.clone(), message(&["ok@example.org"], &["hidden@example.org"]))
        .await
        .unwrap();
    assert_eq!(sent["accepted"], json!(["ok@example.org", "hidden@example.org"]));
    assert_eq!(sent["reply"], "2.0.0 OK queued as SCRIPTED");
    assert!(sent["message_id"].as_str().unwrap().ends_with("@example.com>"));
    // Every transaction on one session: refused ones were reset (RSET), not dropped.
    assert_eq!(sessions.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_invalid_input() {
    let (port, _) = scripted().await;
    let send = registry().action("smtp.send").await.unwrap();
    let mut too_big = message(&["ok@example.org"], &[]);
    too_big["text"] = json!("TOO-BIG");
    let err = send.call(cx_with(port, PASSWORD), too_big).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert!(err.message().contains("larger"), "{err:?}");
}

#[tokio::test]
async fn a_refused_login_is_unauthorized_and_never_shows_the_password() {
    let (port, _) = scripted().await;
    let wrong = "wrong-password-canary-77";
    let cx = cx_with(port, wrong);
    let app = SmtpApp::new();
    let err = app.test_connection(&cx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
    let shown = format!("{err:?} {err}");
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0mailer\0{wrong}"));
    assert!(shown.contains("535 5.7.8"), "{shown}");
    assert!(!shown.contains(wrong) && !shown.contains(&plain), "{shown}");
    let err = registry()
        .action("smtp.send")
        .await
        .unwrap()
        .call(cx, message(&["ok@example.org"], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(!format!("{err:?}").contains(&plain));
    app.test_connection(&cx_with(port, PASSWORD)).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_a_silent_one_times_out() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = SmtpApp::new()
        .test_connection(&cx_with(port, PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_retryable() && !err.may_have_been_accepted());
    assert_eq!(err.context_value("stage"), Some("connect"));

    // Accepts the connection, never greets.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = SmtpConfig::from_credentials(&creds(&[
        ("host", "127.0.0.1"),
        ("port", &port.to_string()),
        ("security", "none"),
    ]))
    .unwrap();
    let mailer = Mailer::new(config, 1).unwrap().step_timeout(Duration::from_millis(300));
    let err = mailer.test().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    drop(silent);
}

#[tokio::test]
async fn starttls_is_required_when_asked_for() {
    let (port, _) = scripted().await;
    let config = SmtpConfig::from_credentials(&creds(&[("host", "127.0.0.1"), ("port", &port.to_string())])).unwrap();
    let err = Mailer::new(config, 1).unwrap().test().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err:?}");
    assert!(err.message().contains("STARTTLS"), "{err:?}");
}

#[tokio::test]
async fn a_new_credential_version_gets_a_new_mailer() {
    let mailers = Mailers::default();
    let mut record = ConnectionRecord::new("smtp", "m", creds(&[("host", "127.0.0.1"), ("security", "none")]));
    let first = mailers.get(&StaticConnection::new(record.clone())).unwrap();
    let again = mailers.get(&StaticConnection::new(record.clone())).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    record.version += 1;
    let replaced = mailers.get(&StaticConnection::new(record)).unwrap();
    assert!(!Arc::ptr_eq(&first, &replaced));
}

#[tokio::test]
async fn bad_input_is_refused_before_the_connection_is_read() {
    // No connection at all in the context: the input is refused first.
    let err = registry()
        .action("smtp.send")
        .await
        .unwrap()
        .call(
            Context::new(),
            json!({ "from": "ada@example.com", "to": ["nope"], "subject": "s", "text": "t" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.violations()[0].path, "/to/0");
}
