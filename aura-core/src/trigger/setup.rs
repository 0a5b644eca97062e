//! How a scenario says the trigger runtime starts it: the `webhook`, `schedule` or `poll` of its
//! trigger node, checked when the scenario compiles into a [`TriggerSetup`].
//!
//! ```yaml
//! nodes:
//!   - id: hook
//!     kind: trigger
//!     connection: github-hooks          # where the verifier's secret comes from
//!     config:
//!       webhook:
//!         path: github/push             # under the host's mount point; default <scenario>/<node>
//!         methods: [POST]               # the default
//!         verify: github                # none | basic | github | slack | {stripe: {}} | {hmac: {...}} …
//!         allow_ips: [192.30.252.0/22]
//!         respond: { wait_secs: 10 }    # or `accepted`: 202 with the execution id at once
//!   - id: nightly
//!     kind: trigger
//!     config:
//!       schedule: { cron: "0 30 2 * * *", timezone: Europe/Paris, missed: once }
//!   - id: new_rows
//!     kind: trigger
//!     config:
//!       trigger: crm.new_contact        # an app's polling trigger
//!       poll: { every_secs: 60, start: { last: 5 } }
//! ```
//!
//! A node with none of them and no app trigger starts its scenario only when called
//! (`Engine::execute`, `TriggerRuntime::fire`). An app trigger brings its kind: a webhook
//! app trigger is served at its default path, a schedule app trigger fires on its own
//! schedule, a polling one polls every minute, unless the node says otherwise.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::Method;
use serde::{Deserialize, Serialize};

use super::{IpAllowlist, Schedule, Trigger, TriggerKind};
use crate::error::{Error, Result};

/// A webhook trigger node's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSetup {
    /// The path under the host's mount point (`github/push`); default `<scenario>/<node>`.
    /// Unique among the active scenarios of a runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The methods it answers (default `[POST]`); others get `405`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// How a request proves where it came from (secrets from the node's connection).
    #[serde(default, skip_serializing_if = "VerifySetup::is_none")]
    pub verify: VerifySetup,
    /// The networks requests may come from (CIDR or addresses); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    /// A header carrying a delivery id to drop retried deliveries by, besides the verifier's
    /// own (`X-GitHub-Delivery`, Stripe's event id, `webhook-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_header: Option<String>,
    /// When the caller is answered; default: wait for a `respond` node when the scenario has
    /// one, else `accepted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond: Option<RespondSetup>,
    /// The largest body taken (default: the runtime's, 16 MiB); a bigger one gets `413`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_limit_bytes: Option<usize>,
    /// What the scenario gets as trigger data (default: the body).
    #[serde(default, skip_serializing_if = "WebhookData::is_body")]
    pub data: WebhookData,
}

/// What a webhook scenario gets as its trigger data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookData {
    /// The body: JSON as it is, a form as an object of strings, nothing as `{}`.
    #[default]
    Body,
    /// `{method, path, query, headers, body}`: the query and the headers as objects of strings
    /// (without `authorization`, `cookie` and the verifier's signature headers).
    Request,
}

impl WebhookData {
    fn is_body(&self) -> bool {
        *self == Self::Body
    }
}

/// When a webhook's caller is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RespondSetup {
    /// At once: `202 Accepted` with `{"execution_id": …}`.
    Accepted,
    /// With what the scenario's `respond` node sets, waiting up to this many seconds (then
    /// `202` with the execution id; the execution goes on).
    WaitSecs(u64),
}

/// How a webhook request is verified; the secret comes from the trigger node's connection
/// (see [`TriggerSetup`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum VerifySetup {
    /// No check.
    #[default]
    None,
    /// HTTP basic authentication, with the connection's basic credentials.
    Basic,
    /// A header holding the connection's secret.
    HeaderToken {
        /// The header's name.
        header: String,
    },
    /// HMAC-SHA256 of the body with the connection's secret.
    Hmac {
        /// The header holding it.
        header: String,
        /// A prefix before the signature (`sha256=`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        /// `hex` (default) or `base64`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encoding: Option<String>,
    },
    /// GitHub's `X-Hub-Signature-256`.
    Github,
    /// Stripe's `Stripe-Signature`.
    Stripe {
        /// How far the signed time may be from now (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
    /// Slack's `X-Slack-Signature` (and its `url_verification` handshake).
    Slack,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks {
        /// How far the signed time may be from now (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_secs: Option<u64>,
    },
}

impl VerifySetup {
    fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// Whether it needs a connection for its secret.
    pub fn needs_secret(&self) -> bool {
        !self.is_none()
    }
}

/// A schedule trigger node's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSetup {
    /// A cron expression (five fields, or six with seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Or a fixed interval, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// The IANA time zone the cron expression reads in (`Europe/Paris`); default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// What to do about firings missed while nothing ran (default: fire once).
    #[serde(default)]
    pub missed: Missed,
}

/// What a schedule does about the firings it missed (the process was down, the scenario
/// paused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Missed {
    /// Drops them.
    Skip,
    /// Fires once for them all (the latest).
    #[default]
    Once,
    /// Fires each, oldest first, up to this many (the latest ones).
    All(u32),
}

/// A polling trigger node's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSetup {
    /// Seconds between polls (default 60).
    #[serde(default = "sixty")]
    pub every_secs: u64,
    /// What the first poll of a new trigger starts (default: nothing, it only marks what is
    /// there as seen).
    #[serde(default)]
    pub start: StartFrom,
    /// How long an item's dedupe key is remembered, in seconds (default 7 days).
    #[serde(default = "seven_days")]
    pub dedupe_secs: u64,
    /// The parameters of an app trigger that takes some (the generic HTTP poll's URL, items
    /// and key), checked against its [`params_schema`](crate::trigger::Trigger::params_schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

impl Default for PollSetup {
    fn default() -> Self {
        Self {
            every_secs: sixty(),
            start: StartFrom::default(),
            dedupe_secs: seven_days(),
            params: None,
        }
    }
}

fn sixty() -> u64 {
    60
}

fn seven_days() -> u64 {
    7 * 24 * 3600
}

/// What a polling trigger's first poll starts: the items already there when it is activated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StartFrom {
    /// Nothing: what is there is marked seen; only what comes after starts executions.
    #[default]
    Now,
    /// The latest N of them.
    Last(u32),
    /// All of them.
    All,
}

/// How the trigger runtime starts a scenario, checked at compile time (see the module docs).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TriggerSetup {
    /// Served as a webhook.
    Webhook(Box<WebhookPlan>),
    /// Fired on a schedule.
    Schedule(SchedulePlan),
    /// Started by polling an app.
    Poll(PollPlan),
}

/// A checked [`WebhookSetup`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebhookPlan {
    /// The settings as written.
    pub setup: WebhookSetup,
    /// The path, without leading or trailing `/`; `None`: `<scenario>/<node>`.
    pub path: Option<String>,
    /// The methods.
    pub methods: Vec<Method>,
    /// The allowlist, when there is one.
    pub allow: Option<IpAllowlist>,
    /// The app's webhook trigger (its own verification and parsing), if any.
    pub trigger: Option<Trigger>,
}

/// A checked [`ScheduleSetup`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SchedulePlan {
    /// When it fires.
    pub schedule: Schedule,
    /// The zone the schedule reads in.
    pub timezone: chrono_tz::Tz,
    /// The missed-firing policy.
    pub missed: Missed,
}

impl SchedulePlan {
    /// The first firing strictly after `after`, in the schedule's zone.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .next_after_in(&after.with_timezone(&self.timezone))
            .map(|t| t.with_timezone(&Utc))
    }
}

/// A checked [`PollSetup`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PollPlan {
    /// The settings as written.
    pub setup: PollSetup,
    /// The app's polling trigger.
    pub trigger: Trigger,
}

impl PollPlan {
    /// The time between polls.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.setup.every_secs)
    }
}

/// The trigger node's fields that concern the runtime, checked against its app trigger into
/// a [`TriggerSetup`]; every problem names its field (`/config/webhook/methods/1`).
pub(crate) fn check(
    webhook: Option<&WebhookSetup>,
    schedule: Option<&ScheduleSetup>,
    poll: Option<&PollSetup>,
    trigger: Option<&Trigger>,
) -> Result<Option<TriggerSetup>> {
    let given = [webhook.is_some(), schedule.is_some(), poll.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(bad(
            "/config",
            "a trigger node has at most one of `webhook`, `schedule` and `poll`",
        ));
    }
    let kind = trigger.map(Trigger::kind);
    let clash = |field: &str, wanted: TriggerKind| -> Result<()> {
        match kind {
            Some(k) if k != wanted => Err(bad(field, "does not fit the app trigger, which is of another kind")
                .with_context("trigger_kind", format!("{k:?}").to_lowercase())),
            _ => Ok(()),
        }
    };
    if let Some(setup) = webhook {
        clash("/config/webhook", TriggerKind::Webhook)?;
        return webhook_plan(setup, trigger).map(|p| Some(TriggerSetup::Webhook(Box::new(p))));
    }
    if let Some(setup) = schedule {
        clash("/config/schedule", TriggerKind::Schedule)?;
        return schedule_plan(setup, None).map(|p| Some(TriggerSetup::Schedule(p)));
    }
    if let Some(setup) = poll {
        let Some(trigger) = trigger.filter(|t| t.kind() == TriggerKind::Polling) else {
            return Err(bad(
                "/config/poll",
                "polls an app's polling trigger: set `trigger` to one",
            ));
        };
        return poll_plan(setup, trigger).map(|p| Some(TriggerSetup::Poll(p)));
    }
    match trigger {
        Some(t) if t.kind() == TriggerKind::Webhook => {
            webhook_plan(&WebhookSetup::default(), Some(t)).map(|p| Some(TriggerSetup::Webhook(Box::new(p))))
        }
        Some(t) if t.kind() == TriggerKind::Polling => {
            poll_plan(&PollSetup::default(), t).map(|p| Some(TriggerSetup::Poll(p)))
        }
        Some(t) => match t.schedule() {
            Some(s) => schedule_plan(&ScheduleSetup::default(), Some(s)).map(|p| Some(TriggerSetup::Schedule(p))),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

fn bad(field: &str, why: &str) -> Error {
    Error::invalid_definition(format!("the trigger's setup is invalid: `{field}` {why}"))
        .with_context("field", field.to_owned())
}

/// A path as the route table keys it: segments of `[A-Za-z0-9._~-]`, joined by `/`.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    let trimmed = path.trim_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        });
    ok.then(|| trimmed.to_owned())
}

fn webhook_plan(setup: &WebhookSetup, trigger: Option<&Trigger>) -> Result<WebhookPlan> {
    let path = match &setup.path {
        Some(p) => Some(normalize_path(p).ok_or_else(|| {
            bad(
                "/config/webhook/path",
                "is not a path of segments of letters, digits, `-`, `_`, `.` and `~`",
            )
        })?),
        None => None,
    };
    let methods = if setup.methods.is_empty() {
        vec![Method::POST]
    } else {
        setup
            .methods
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| bad(&format!("/config/webhook/methods/{i}"), "is not an HTTP method"))
            })
            .collect::<Result<_>>()?
    };
    let allow = if setup.allow_ips.is_empty() {
        None
    } else {
        Some(IpAllowlist::parse(&setup.allow_ips).map_err(|e| {
            let at = e
                .context_value("field")
                .map(|f| f.replace("/ip_allowlist", "/config/webhook/allow_ips"))
                .unwrap_or_default();
            e.with_context("field", at)
        })?)
    };
    if let Some(header) = &setup.dedupe_header
        && http::HeaderName::try_from(header.as_str()).is_err()
    {
        return Err(bad("/config/webhook/dedupe_header", "is not an HTTP header name"));
    }
    match &setup.verify {
        VerifySetup::HeaderToken { header } | VerifySetup::Hmac { header, .. }
            if http::HeaderName::try_from(header.as_str()).is_err() =>
        {
            return Err(bad("/config/webhook/verify", "names a header that is not valid HTTP"));
        }
        VerifySetup::Hmac { encoding: Some(e), .. } if e != "hex" && e != "base64" => {
            return Err(bad("/config/webhook/verify/hmac/encoding", "is `hex` or `base64`"));
        }
        _ => {}
    }
    if setup.body_limit_bytes == Some(0) {
        return Err(bad("/config/webhook/body_limit_bytes", "is at least 1"));
    }
    Ok(WebhookPlan {
        setup: setup.clone(),
        path,
        methods,
        allow,
        trigger: trigger.cloned(),
    })
}

fn schedule_plan(setup: &ScheduleSetup, app: Option<&Schedule>) -> Result<SchedulePlan> {
    let schedule = match (&setup.cron, setup.every_secs, app) {
        (Some(_), Some(_), _) => {
            return Err(bad("/config/schedule", "has either `cron` or `every_secs`, not both"));
        }
        (Some(expr), None, _) => Schedule::cron(expr).map_err(|e| e.with_context("field", "/config/schedule/cron"))?,
        (None, Some(secs), _) => Schedule::every(Duration::from_secs(secs))
            .map_err(|e| e.with_context("field", "/config/schedule/every_secs"))?,
        (None, None, Some(app)) => app.clone(),
        (None, None, None) => return Err(bad("/config/schedule", "needs `cron` or `every_secs`")),
    };
    let timezone = match &setup.timezone {
        Some(name) => name
            .parse::<chrono_tz::Tz>()
            .map_err(|_| bad("/config/schedule/timezone", "is not an IANA time zone (`Europe/Paris`)"))?,
        None => chrono_tz::UTC,
    };
    if let Missed::All(0) = setup.missed {
        return Err(bad("/config/schedule/missed/all", "is at least 1 (or use `skip`)"));
    }
    Ok(SchedulePlan {
        schedule,
        timezone,
        missed: setup.missed,
    })
}

fn poll_plan(setup: &PollSetup, trigger: &Trigger) -> Result<PollPlan> {
    if setup.every_secs == 0 {
        return Err(bad("/config/poll/every_secs", "is at least 1"));
    }
    if setup.dedupe_secs == 0 {
        return Err(bad("/config/poll/dedupe_secs", "is at least 1"));
    }
    match (trigger.params_schema(), &setup.params) {
        (Some(schema), params) => {
            let params = params.clone().unwrap_or_else(|| serde_json::json!({}));
            if let Err(violations) = schema.check(&params) {
                return Err(Error::invalid_definition("the poll's params do not fit the trigger's")
                    .with_context("field", "/config/poll/params")
                    .with_violations(violations));
            }
        }
        (None, Some(_)) => return Err(bad("/config/poll/params", "is given, but the trigger takes no params")),
        (None, None) => {}
    }
    Ok(PollPlan {
        setup: setup.clone(),
        trigger: trigger.clone(),
    })
}
