//! The connector behaviour suite: what every connector of aura-connectors must do, checked the
//! same way for each (OpenDAL's model: one suite, gated on what the connector declares).
//!
//! A connector's test file builds a [`ConnectorFixture`] — the app, credentials that work
//! against its (local, real) server and credentials it refuses, the secret values that must
//! never show, inputs that must be refused, a call that must work, a polling trigger and how to
//! make an item appear — and invokes [`connector_behavior!`](crate::connector_behavior), which
//! writes one `#[tokio::test]` per check:
//!
//! | check | what it proves |
//! | --- | --- |
//! | [`manifest_and_schemas_are_valid`] | the manifest validates, the app registers (every schema compiles), actions and triggers are named, the declared credentials fit the auth methods |
//! | [`bad_input_is_refused_before_any_network_call`] | each bad input ends in [`InvalidInput`](aura_core::ErrorKind::InvalidInput) naming where, and the connection was never touched |
//! | [`test_connection_passes_with_good_credentials`] | a [`ConnectionManager`](aura_core::connection::ConnectionManager) creates (and so tests) the connection |
//! | [`test_connection_fails_clearly_with_bad_credentials`] | the manager refuses refused credentials with `Unauthorized` or `Forbidden` |
//! | [`a_call_succeeds_from_a_scenario`] | the call runs as a scenario node on an [`Engine`](aura_core::engine::Engine), its output fits the action's output schema |
//! | [`secrets_never_leak`] | no secret shows — raw, base64, percent-encoded or JSON-escaped — in errors, `Debug`, tracing output (every level) or execution records |
//! | [`polling_cursors_round_trip`] | new items come once, each with its own dedupe key; the cursor, stored as JSON and read back, resumes where it stopped |
//! | [`forged_webhooks_are_refused`] | (webhook triggers) a genuine delivery gives keyed items; the body altered, another secret, the signature altered or left out: `Unauthorized`, quoting no secret; a handshake answered |
//! | [`error_answers_map_to_kinds`] | (HTTP connectors) 401, 403, 404, 429 with `Retry-After`, 500, 503 and a 200 whose body says error end in the right kinds, retryable or not, with no echoed secret |
//!
//! ```ignore
//! use aura_testkit::behavior::connector::{ConnectorFixture, PollingCase};
//!
//! async fn fixture() -> ConnectorFixture {
//!     ConnectorFixture::new(RedisApp::new())
//!         .credentials(good)
//!         .bad_credentials(refused)
//!         .bad_input("redis.set", json!({ "key": 5 }))
//!         .call("redis.set", json!({ "key": "k", "value": "v" }))
//!         .polling(PollingCase::new("redis.stream", json!({ "stream": "s" })).produce(|| async { /* XADD */ }))
//! }
//! aura_testkit::connector_behavior!(#[ignore = "needs redis: see .ci/run"] async { fixture().await });
//! ```
//!
//! Secrets are gathered by the suite: every field that the manifest's custom auth methods mark
//! `secret`, the key, token or password of the other credential kinds, of both credential sets,
//! plus the extra [`canary`](ConnectorFixture::canary) values.

mod checks;
mod http_errors;
mod leaks;
mod webhooks;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aura_core::App;
use aura_core::app::AppConfig;
use aura_core::connection::Credentials;
use serde_json::Value;

pub use self::checks::{
    a_call_succeeds_from_a_scenario, bad_input_is_refused_before_any_network_call, manifest_and_schemas_are_valid,
    polling_cursors_round_trip, secrets_never_leak, test_connection_fails_clearly_with_bad_credentials,
    test_connection_passes_with_good_credentials,
};
pub use self::http_errors::{HttpErrorCase, error_answers_map_to_kinds};
pub use self::leaks::{Capture, forms};
pub use self::webhooks::{WebhookCase, forged_webhooks_are_refused};

/// Makes one new item appear on the server (a row inserted, a message published …).
type Produce = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What a connector declares for the suite: the app and how to exercise it.
pub struct ConnectorFixture {
    pub(crate) app: Arc<dyn App>,
    pub(crate) config: AppConfig,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) bad_credentials: Option<Credentials>,
    pub(crate) canaries: Vec<String>,
    pub(crate) bad_inputs: Vec<(String, Value)>,
    pub(crate) call: Option<(String, Value)>,
    pub(crate) polling: Option<PollingCase>,
    pub(crate) http_errors: Option<HttpErrorCase>,
    pub(crate) webhooks: Option<WebhookCase>,
    pub(crate) guards: Vec<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for ConnectorFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials redact themselves; the canaries are secrets and are only counted.
        f.debug_struct("ConnectorFixture")
            .field("app", &self.app.manifest().id)
            .field("credentials", &self.credentials)
            .field("bad_credentials", &self.bad_credentials)
            .field("canaries", &self.canaries.len())
            .field("bad_inputs", &self.bad_inputs)
            .field("call", &self.call)
            .field("polling", &self.polling)
            .field("http_errors", &self.http_errors)
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

impl ConnectorFixture {
    /// A fixture for `app`, registered with an empty [`AppConfig`].
    pub fn new(app: impl App) -> Self {
        Self::shared(Arc::new(app))
    }

    /// A fixture for an app already shared.
    pub fn shared(app: Arc<dyn App>) -> Self {
        Self {
            app,
            config: AppConfig::new(Value::Null),
            credentials: None,
            bad_credentials: None,
            canaries: Vec::new(),
            bad_inputs: Vec::new(),
            call: None,
            polling: None,
            http_errors: None,
            webhooks: None,
            guards: Vec::new(),
        }
    }

    /// The host's configuration for the app (passed to [`App::init`]).
    #[must_use]
    pub fn config(mut self, config: Value) -> Self {
        self.config = AppConfig::new(config);
        self
    }

    /// Credentials that work against the server under test.
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Credentials of the right shape that the server refuses (a wrong password).
    #[must_use]
    pub fn bad_credentials(mut self, credentials: Credentials) -> Self {
        self.bad_credentials = Some(credentials);
        self
    }

    /// A secret value that must never show, besides those the suite finds in the credentials.
    #[must_use]
    pub fn canary(mut self, secret: impl Into<String>) -> Self {
        self.canaries.push(secret.into());
        self
    }

    /// An input that `action` (its full reference, `"redis.set"`) must refuse with
    /// `InvalidInput` before touching the connection.
    #[must_use]
    pub fn bad_input(mut self, action: impl Into<String>, input: Value) -> Self {
        self.bad_inputs.push((action.into(), input));
        self
    }

    /// A call of `action` (its full reference) that succeeds with the good credentials.
    #[must_use]
    pub fn call(mut self, action: impl Into<String>, input: Value) -> Self {
        self.call = Some((action.into(), input));
        self
    }

    /// The polling trigger to check, and how to make its items appear.
    #[must_use]
    pub fn polling(mut self, case: PollingCase) -> Self {
        self.polling = Some(case);
        self
    }

    /// For an HTTP connector: how to aim a call at a local server, for
    /// [`error_answers_map_to_kinds`].
    #[must_use]
    pub fn http_errors(mut self, case: HttpErrorCase) -> Self {
        self.http_errors = Some(case);
        self
    }

    /// The webhook trigger to check, and how its vendor signs deliveries, for
    /// [`forged_webhooks_are_refused`].
    #[must_use]
    pub fn webhooks(mut self, case: WebhookCase) -> Self {
        self.webhooks = Some(case);
        self
    }

    /// Keeps `guard` alive as long as the fixture (a mock server the call points at, a
    /// temporary directory …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// The app's id, from its manifest.
    pub fn app_id(&self) -> String {
        self.app.manifest().id
    }
}

/// A polling trigger under test: its reference, its params, and how to make one new item
/// appear on the server.
pub struct PollingCase {
    pub(crate) trigger: String,
    pub(crate) params: Value,
    pub(crate) produce: Option<Produce>,
    pub(crate) repeats_seen: bool,
}

impl fmt::Debug for PollingCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollingCase")
            .field("trigger", &self.trigger)
            .field("params", &self.params)
            .field("repeats_seen", &self.repeats_seen)
            .finish_non_exhaustive()
    }
}

impl PollingCase {
    /// The trigger `trigger` (its full reference, `"postgres.new_rows"`) with `params` (checked
    /// against its params schema).
    pub fn new(trigger: impl Into<String>, params: Value) -> Self {
        Self {
            trigger: trigger.into(),
            params,
            produce: None,
            repeats_seen: false,
        }
    }

    /// How to make one new item appear (called twice by the check). Required.
    #[must_use]
    pub fn produce<F, Fut>(mut self, produce: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.produce = Some(Arc::new(move || Box::pin(produce())));
        self
    }

    /// Declares that the trigger may bring items it brought before (a list without a cursor
    /// the server understands), leaving them to the runtime's dedupe by key: the check then
    /// asks only that the new items come, each once per poll.
    #[must_use]
    pub fn repeats_seen_items(mut self) -> Self {
        self.repeats_seen = true;
        self
    }
}

/// Writes one `#[tokio::test]` per check of
/// [`behavior::connector`](crate::behavior::connector), each on the fixture the expression (a
/// future of a [`ConnectorFixture`](crate::behavior::connector::ConnectorFixture)) makes afresh.
///
/// The tests run on a current-thread runtime, so that the tracing capture of
/// [`secrets_never_leak`](crate::behavior::connector::secrets_never_leak) sees every task.
/// Attributes in front go on every test (a connector that needs a server marks its suite so);
/// `@each` runs only the checks named after the `;`:
///
/// ```ignore
/// aura_testkit::connector_behavior!(#[ignore = "needs redis: see .ci/run"] async { fixture().await });
/// aura_testkit::connector_behavior!(@each async { fixture().await }; manifest_and_schemas_are_valid);
/// ```
#[macro_export]
macro_rules! connector_behavior {
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "current_thread")]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::connector::ConnectorFixture = $fixture.await;
            $crate::behavior::connector::$check(&fixture).await;
        }
        $crate::connector_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::connector_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::connector_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::connector_behavior!(@run [$($attrs)*] $fixture;
            manifest_and_schemas_are_valid,
            bad_input_is_refused_before_any_network_call,
            test_connection_passes_with_good_credentials,
            test_connection_fails_clearly_with_bad_credentials,
            a_call_succeeds_from_a_scenario,
            secrets_never_leak,
            polling_cursors_round_trip,
            error_answers_map_to_kinds,
            forged_webhooks_are_refused,
        );
    };
    ($($input:tt)*) => {
        $crate::connector_behavior!(@attrs [] $($input)*);
    };
}
