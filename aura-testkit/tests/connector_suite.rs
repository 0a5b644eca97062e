//! The connector behaviour suite on a small connector whose "server" lives in the test (a
//! key-value store guarded by a password): every check passes on it, and the checks catch a
//! connector that leaks its password, that touches the connection before refusing bad input,
//! or whose polling cursor repeats items.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use async_trait::async_trait;
use aura_core::app::{AuthMethod, CredentialField};
use aura_core::connection::Credentials;
use aura_core::secrecy::ExposeSecret;
use aura_core::trigger::{Poll, PollingTrigger, TriggerDef, TriggerItem};
use aura_core::{ActionDef, App, AppManifest, Context, Error, Result};
use aura_testkit::behavior::connector::{self, ConnectorFixture, PollingCase};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

const PASSWORD: &str = "kv-canary-Pa55word";
const WRONG: &str = "kv-canary-Wr0ngPass";

/// The "server": entries in the order they were written.
#[derive(Clone, Default)]
struct Server(Arc<Mutex<Vec<(String, String)>>>);

/// How the connector misbehaves, for the tests that prove the suite catches it.
#[derive(Clone, Copy, Default, PartialEq)]
enum Flaw {
    #[default]
    None,
    /// Its connection errors quote the password they were given.
    LeaksPassword,
    /// It logs in (reads the credentials) before looking at its input.
    ConnectsFirst,
    /// Its cursor never moves.
    StuckCursor,
}

#[derive(Clone, Default)]
struct Kv {
    server: Server,
    flaw: Flaw,
}

impl Kv {
    /// Checks the connection's password, as a server's login would.
    fn login(&self, cx: &Context) -> Result<()> {
        let credentials = cx.connection().expect("a connection").credentials();
        let given = credentials.field("password").map(|p| p.expose_secret().to_owned());
        match given {
            Some(p) if p == PASSWORD => Ok(()),
            Some(p) if self.flaw == Flaw::LeaksPassword => Err(Error::unauthorized(format!("bad password {p}"))),
            _ => Err(Error::unauthorized("the server refused the password")),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
struct Put {
    /// The key: at least one character.
    #[schemars(length(min = 1))]
    key: String,
    value: String,
}

#[derive(Serialize, JsonSchema)]
struct Stored {
    count: usize,
}

async fn put(kv: Kv, cx: Context, input: Put) -> Result<Stored> {
    if kv.flaw == Flaw::ConnectsFirst {
        kv.login(&cx)?;
    }
    if input.key.contains(' ') {
        return Err(Error::invalid_input("a key has no spaces", vec![]).with_context("field", "/key"));
    }
    kv.login(&cx)?;
    let mut entries = kv.server.0.lock();
    entries.push((input.key, input.value));
    Ok(Stored { count: entries.len() })
}

#[derive(Serialize, JsonSchema)]
struct Entry {
    key: String,
    value: String,
}

struct Changes(Kv);

#[async_trait]
impl PollingTrigger for Changes {
    type Item = Entry;
    type Cursor = usize;

    async fn poll(&self, cx: &Context, cursor: Option<usize>) -> Result<Poll<Entry, usize>> {
        self.0.login(cx)?;
        let entries = self.0.server.0.lock();
        let from = cursor.unwrap_or(0);
        let items = entries[from.min(entries.len())..]
            .iter()
            .enumerate()
            .map(|(i, (key, value))| {
                TriggerItem::new(
                    (from + i).to_string(),
                    Entry {
                        key: key.clone(),
                        value: value.clone(),
                    },
                )
            })
            .collect();
        let next = if self.0.flaw == Flaw::StuckCursor {
            from
        } else {
            entries.len()
        };
        Ok(Poll::new(items, next))
    }
}

#[async_trait]
impl App for Kv {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("kv", "Key-value", semver::Version::new(1, 0, 0))
            .description("A key-value store guarded by a password")
            .auth(AuthMethod::Custom {
                fields: vec![
                    CredentialField::plain("host", "Host"),
                    CredentialField::secret("password", "Password"),
                ],
            })
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::with_state("put", self.clone(), put).name("Put a value")]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![TriggerDef::polling("changes", Changes(self.clone())).name("New entries")]
    }

    async fn test_connection(&self, cx: &Context) -> Result<()> {
        self.login(cx)
    }
}

fn credentials(password: &str) -> Credentials {
    Credentials::custom([("host", "kv.local"), ("password", password)])
}

fn fixture(flaw: Flaw) -> ConnectorFixture {
    let kv = Kv {
        server: Server::default(),
        flaw,
    };
    let server = kv.server.clone();
    ConnectorFixture::new(kv)
        .credentials(credentials(PASSWORD))
        .bad_credentials(credentials(WRONG))
        .bad_input("kv.put", json!({ "key": "", "value": "v" }))
        .bad_input("kv.put", json!({ "key": "a b", "value": "v" }))
        .bad_input("kv.put", json!({ "key": 5 }))
        .call("kv.put", json!({ "key": "k", "value": "v" }))
        .polling(PollingCase::new("kv.changes", json!({})).produce(move || {
            let server = server.clone();
            async move {
                let mut entries = server.0.lock();
                let n = entries.len();
                entries.push((format!("key-{n}"), "made".to_owned()));
            }
        }))
}

aura_testkit::connector_behavior!(async { fixture(Flaw::None) });

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "leaked into")]
async fn a_connector_quoting_its_password_fails_the_leak_check() {
    connector::secrets_never_leak(&fixture(Flaw::LeaksPassword)).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "used the connection before refusing")]
async fn a_connector_connecting_before_it_checks_its_input_fails() {
    connector::bad_input_is_refused_before_any_network_call(&fixture(Flaw::ConnectsFirst)).await;
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "again from the cursor")]
async fn a_cursor_that_does_not_move_fails_the_polling_check() {
    connector::polling_cursors_round_trip(&fixture(Flaw::StuckCursor)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_fixture_debug_shows_no_secret() {
    let text = format!("{:?}", fixture(Flaw::None).canary("extra-canary-value"));
    assert!(
        !text.contains(PASSWORD) && !text.contains("extra-canary-value"),
        "{text}"
    );
}
