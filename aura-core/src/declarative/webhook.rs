//! A manifest's webhook trigger: verified with the connection's secret, filtered by event
//! type, split into items.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{EventFilter, WebhookSpec};
use crate::context::Context;
use crate::error::{Result, Violation};
use crate::http::{check_pointer, scalar_text};
use crate::trigger::verify::no_secret;
use crate::trigger::{
    TriggerDef, TriggerItem, VerifySetup, WebhookReply, WebhookRequest, WebhookTrigger, WebhookVerifier,
};

struct SpecWebhook {
    verify: VerifySetup,
    events: Option<EventFilter>,
    items: Option<String>,
    key: Option<String>,
}

/// The trigger, or the problems of `spec` at paths relative to the trigger.
pub(crate) fn compile(key: &str, spec: &WebhookSpec) -> std::result::Result<TriggerDef, Vec<Violation>> {
    let mut problems = Vec::new();
    let pointers = [
        ("/webhook/items", spec.items.as_deref()),
        ("/webhook/key", spec.key.as_deref()),
        (
            "/webhook/events/pointer",
            spec.events.as_ref().and_then(|e| e.pointer.as_deref()),
        ),
    ];
    for (at, pointer) in pointers {
        if pointer.is_some_and(|p| check_pointer(p).is_err()) {
            problems.push(Violation::new(at, "is a JSON pointer: empty or starting with `/`"));
        }
    }
    if let Some(e) = &spec.events
        && e.header.is_some() == e.pointer.is_some()
    {
        problems.push(Violation::new(
            "/webhook/events",
            "reads the event type from a `header` or a body `pointer` (one of them)",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let trigger = SpecWebhook {
        verify: spec.verify.clone(),
        events: spec.events.clone(),
        items: spec.items.clone(),
        key: spec.key.clone(),
    };
    let mut def = TriggerDef::webhook(key, trigger).output_schema(json!({}));
    if let Some(name) = &spec.name {
        def = def.name(name.clone());
    }
    Ok(def)
}

#[async_trait]
impl WebhookTrigger for SpecWebhook {
    type Item = Value;

    async fn verify(&self, cx: &Context, request: &WebhookRequest) -> Result<()> {
        if !self.verify.needs_secret() {
            return Ok(());
        }
        let credentials = cx
            .connection()
            .map(|c| c.credentials())
            .ok_or_else(|| no_secret(&self.verify))?;
        WebhookVerifier::from_setup(&self.verify, &credentials)?.verify(request, Utc::now())?;
        Ok(())
    }

    fn handshake(&self, request: &WebhookRequest) -> Option<WebhookReply> {
        if self.verify != VerifySetup::Slack {
            return None;
        }
        let body: Value = serde_json::from_slice(&request.body).ok()?;
        (body["type"] == "url_verification").then(|| WebhookReply::json(&json!({ "challenge": body["challenge"] })))
    }

    fn parse(&self, request: &WebhookRequest) -> Result<Vec<TriggerItem<Value>>> {
        let body: Value = request.json()?;
        if let Some(filter) = &self.events {
            let event = match (&filter.header, &filter.pointer) {
                (Some(h), _) => request.header_str(h).map(str::to_owned),
                (_, Some(p)) => body.pointer(p).and_then(scalar_text),
                _ => None,
            };
            if !event.is_some_and(|e| filter.any_of.contains(&e)) {
                return Ok(Vec::new());
            }
        }
        let items = match self.items.as_deref().map(|p| body.pointer(p)) {
            None => vec![body.clone()],
            Some(Some(Value::Array(items))) => items.clone(),
            Some(Some(Value::Null) | None) => Vec::new(),
            Some(Some(one)) => vec![one.clone()],
        };
        let delivery = ["x-github-delivery", "webhook-id", "x-request-id"]
            .iter()
            .find_map(|h| request.header_str(h));
        Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let key = self
                    .key
                    .as_deref()
                    .and_then(|p| item.pointer(p))
                    .and_then(scalar_text)
                    .or_else(|| delivery.map(|d| format!("{d}/{i}")))
                    .unwrap_or_else(|| format!("{}/{i}", hex::encode(Sha256::digest(&request.body))));
                TriggerItem::new(key, item)
            })
            .collect())
    }
}
