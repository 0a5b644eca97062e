//! A webhook route: a deployed scenario's webhook, checked and ready to serve.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};
use parking_lot::RwLock;

use crate::compile::Plan;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::store::TriggerKey;
use crate::trigger::verify::no_secret;
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
            Some(c) => (c.version(), WebhookVerifier::from_setup(&verify, &c.credentials())?),
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
        let fresh = Arc::new(WebhookVerifier::from_setup(&self.verify, &connection.credentials())?);
        *self.verifier.write() = (version, fresh.clone());
        Ok(fresh)
    }
}
