//! A webhook route: a deployed scenario's webhook, checked and ready to serve.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};
use parking_lot::RwLock;
use secrecy::SecretString;

use crate::compile::Plan;
use crate::connection::{Connection, Credentials};
use crate::error::{Error, Result};
use crate::store::TriggerKey;
use crate::trigger::verify::{FIVE_MINUTES, HmacScheme, SignatureEncoding};
use crate::trigger::{IpAllowlist, RespondSetup, Trigger, VerifySetup, WebhookData, WebhookPlan, WebhookVerifier};

/// When the caller is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Respond {
    /// `202` with the execution id at once.
    Accepted,
    /// What a `respond` node sets, waiting up to this long (or the runtime's default).
    Wait(Option<Duration>),
}

pub(super) struct Route {
    pub(super) plan: Arc<Plan>,
    pub(super) key: TriggerKey,
    pub(super) path: String,
    pub(super) methods: Vec<Method>,
    pub(super) allow: Option<IpAllowlist>,
    pub(super) dedupe_header: Option<HeaderName>,
    pub(super) respond: Respond,
    pub(super) body_limit: Option<usize>,
    pub(super) data: WebhookData,
    pub(super) trigger: Option<Trigger>,
    pub(super) connection: Option<Arc<dyn Connection>>,
    verify: VerifySetup,
    /// The verifier, built from the connection's credentials of the version it holds.
    verifier: RwLock<(u64, Arc<WebhookVerifier>)>,
}

impl Route {
    pub(super) fn new(
        plan: &Arc<Plan>,
        key: TriggerKey,
        webhook: &WebhookPlan,
        connection: Option<&Arc<dyn Connection>>,
    ) -> Result<Self> {
        let path = webhook
            .path
            .clone()
            .unwrap_or_else(|| format!("{}/{}", key.scenario_id, key.trigger_id));
        let verify = webhook.setup.verify.clone();
        let (version, verifier) = match connection {
            Some(c) => (c.version(), build(&verify, &c.credentials())?),
            None if verify.needs_secret() => return Err(no_secret(&verify)),
            None => (0, WebhookVerifier::None),
        };
        let respond = match webhook.setup.respond {
            Some(RespondSetup::Accepted) => Respond::Accepted,
            Some(RespondSetup::WaitSecs(secs)) => Respond::Wait(Some(Duration::from_secs(secs))),
            None if plan.responds => Respond::Wait(None),
            None => Respond::Accepted,
        };
        let dedupe_header = webhook
            .setup
            .dedupe_header
            .as_deref()
            .map(HeaderName::try_from)
            .transpose()
            .map_err(|_| Error::invalid_definition("the dedupe header is not an HTTP header name"))?;
        Ok(Self {
            plan: plan.clone(),
            key,
            path,
            methods: webhook.methods.clone(),
            allow: webhook.allow.clone(),
            dedupe_header,
            respond,
            body_limit: webhook.setup.body_limit_bytes,
            data: webhook.setup.data,
            trigger: webhook.trigger.clone(),
            connection: connection.cloned(),
            verify,
            verifier: RwLock::new((version, Arc::new(verifier))),
        })
    }

    /// Whether retried deliveries are dropped by their delivery id (which needs the store's
    /// trigger state).
    pub(super) fn dedupes(&self) -> bool {
        self.dedupe_header.is_some()
            || matches!(
                self.verify,
                VerifySetup::Github | VerifySetup::Stripe { .. } | VerifySetup::StandardWebhooks { .. }
            )
    }

    /// The context the route's app trigger runs with (its verify, parse, subscribe).
    pub(super) fn context(&self) -> crate::context::Context {
        let mut cx = crate::context::Context::builder()
            .scenario_id(self.plan.id().to_owned())
            .node_id(self.key.trigger_id.clone());
        if let Some(connection) = &self.connection {
            cx = cx.connection(connection.clone());
        }
        cx.build()
    }

    /// A header-token verifier's header: kept out of the trigger data.
    pub(super) fn token_header(&self) -> Option<&str> {
        match &self.verify {
            VerifySetup::HeaderToken { header } => Some(header),
            _ => None,
        }
    }

    /// The verifier for the connection's current credentials (rebuilt when they changed: a
    /// rotated secret takes effect at the next request).
    pub(super) fn verifier(&self) -> Result<Arc<WebhookVerifier>> {
        let Some(connection) = &self.connection else {
            return Ok(self.verifier.read().1.clone());
        };
        let version = connection.version();
        {
            let cached = self.verifier.read();
            if cached.0 == version {
                return Ok(cached.1.clone());
            }
        }
        let fresh = Arc::new(build(&self.verify, &connection.credentials())?);
        *self.verifier.write() = (version, fresh.clone());
        Ok(fresh)
    }
}

/// The verifier `setup` asks for, with the secret of `credentials`.
fn build(setup: &VerifySetup, credentials: &Credentials) -> Result<WebhookVerifier> {
    let secret = || secret(credentials).ok_or_else(|| no_secret(setup));
    let tolerance = |secs: &Option<u64>| secs.map_or(FIVE_MINUTES, Duration::from_secs);
    Ok(match setup {
        VerifySetup::None => WebhookVerifier::None,
        VerifySetup::Basic => match credentials {
            Credentials::Basic { username, password } => WebhookVerifier::Basic {
                user: username.clone(),
                password: password.clone(),
            },
            _ => return Err(no_secret(setup)),
        },
        VerifySetup::HeaderToken { header } => WebhookVerifier::HeaderToken {
            header: header.clone(),
            token: secret()?,
        },
        VerifySetup::Hmac {
            header,
            prefix,
            encoding,
        } => WebhookVerifier::Hmac(HmacScheme {
            header: header.clone(),
            prefix: prefix.clone(),
            encoding: if encoding.as_deref() == Some("base64") {
                SignatureEncoding::Base64
            } else {
                SignatureEncoding::Hex
            },
            secret: secret()?,
        }),
        VerifySetup::Github => WebhookVerifier::GitHub { secret: secret()? },
        VerifySetup::Stripe { tolerance_secs } => WebhookVerifier::Stripe {
            secret: secret()?,
            tolerance: tolerance(tolerance_secs),
        },
        VerifySetup::Slack => WebhookVerifier::Slack {
            signing_secret: secret()?,
        },
        VerifySetup::StandardWebhooks { tolerance_secs } => {
            let mut secrets = vec![secret()?];
            // A secret being rotated out still verifies until it is removed.
            secrets.extend(credentials.field("previous_secret").cloned());
            WebhookVerifier::StandardWebhooks {
                secrets,
                tolerance: tolerance(tolerance_secs),
            }
        }
    })
}

/// A verifier's secret in a connection's credentials: a custom field `secret` (or
/// `signing_secret`, `webhook_secret`), a bearer token, or an API key.
fn secret(credentials: &Credentials) -> Option<SecretString> {
    match credentials {
        Credentials::Custom { .. } => ["secret", "signing_secret", "webhook_secret"]
            .iter()
            .find_map(|name| credentials.field(name))
            .cloned(),
        Credentials::Bearer { token } => Some(token.clone()),
        Credentials::ApiKey { key, .. } => Some(key.clone()),
        _ => None,
    }
}

fn no_secret(setup: &VerifySetup) -> Error {
    let scheme = serde_json::to_value(setup)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_default();
    Error::invalid_definition(
        "the webhook's verifier needs a secret: give the trigger node a connection whose credentials \
         hold it (basic credentials for `basic`; otherwise a custom field `secret`, a bearer token \
         or an API key)",
    )
    .with_context("field", "/connection")
    .with_context("verify", scheme)
}
