//! A manifest's polling trigger: a request, the items in its answer, each item's key, and a
//! cursor so that the next poll asks only for what is new.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::auth::AuthPlan;
use super::base::BaseUrl;
use super::model::{PollCursor, PollSpec};
use super::operation::placeholders;
use super::schemas::with_defs;
use crate::context::Context;
use crate::error::{Result, Violation};
use crate::http::{HttpPolicy, HttpRequest, check_pointer, poll_items, scalar_text};
use crate::trigger::{Poll, PollingTrigger, TriggerDef};

struct SpecPoll {
    method: http::Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    items: String,
    key: String,
    cursor: Option<PollCursor>,
    base: std::sync::Arc<BaseUrl>,
    policy: HttpPolicy,
    auth: AuthPlan,
}

/// The trigger, or the problems of `spec` at paths relative to the trigger.
pub(crate) fn compile(
    key: &str,
    spec: &PollSpec,
    base: std::sync::Arc<BaseUrl>,
    headers: &[(String, String)],
    defs: &Map<String, Value>,
    policy: HttpPolicy,
    auth: AuthPlan,
) -> std::result::Result<TriggerDef, Vec<Violation>> {
    let mut problems = Vec::new();
    if !placeholders(&spec.path).is_empty() {
        problems.push(Violation::new(
            "/poll/path",
            "has no `{placeholder}` (a poll has no input)",
        ));
    }
    for (field, pointer) in [("items", Some(&spec.items)), ("key", Some(&spec.key))] {
        if pointer.is_some_and(|p| check_pointer(p).is_err()) {
            problems.push(Violation::new(
                format!("/poll/{field}"),
                "is a JSON pointer: empty or starting with `/`",
            ));
        }
    }
    if spec.key.is_empty() {
        problems.push(Violation::new("/poll/key", "points inside an item (`/id`)"));
    }
    if let Some(c) = &spec.cursor {
        match (&c.item, &c.body) {
            (Some(p), None) | (None, Some(p)) if check_pointer(p).is_ok() => {}
            (Some(_), None) | (None, Some(_)) => {
                problems.push(Violation::new("/poll/cursor", "points with a JSON pointer"))
            }
            _ => problems.push(Violation::new(
                "/poll/cursor",
                "takes its value from an `item` field or from the `body` (one of them)",
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let trigger = SpecPoll {
        method: spec.method.as_method(),
        path: spec.path.clone(),
        query: spec.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        headers: headers.to_vec(),
        items: spec.items.clone(),
        key: spec.key.clone(),
        cursor: spec.cursor.clone(),
        base,
        policy,
        auth,
    };
    let schema = with_defs(spec.item_schema.clone().unwrap_or_else(|| json!({})), defs);
    let mut def = TriggerDef::polling(key, trigger).output_schema(schema);
    if let Some(name) = &spec.name {
        def = def.name(name.clone());
    }
    Ok(def)
}

#[async_trait]
impl PollingTrigger for SpecPoll {
    type Item = Value;
    type Cursor = Value;

    async fn poll(&self, cx: &Context, cursor: Option<Value>) -> Result<Poll<Value, Value>> {
        let mut request = HttpRequest::new(self.method.clone(), format!("{}{}", self.base.resolve(cx)?, self.path));
        let cx = self.auth.context(cx);
        request.query = self.query.clone();
        request.headers = self.headers.clone();
        if let (Some(c), Some(value)) = (&self.cursor, cursor.as_ref().and_then(scalar_text)) {
            request.set_query(&c.param, value);
        }
        let answer = self.policy.send(&cx, &request).await?;
        let mut body = answer.json()?;
        let from_body = self
            .cursor
            .as_ref()
            .and_then(|c| c.body.as_deref())
            .and_then(|p| body.pointer(p))
            .filter(|v| !v.is_null())
            .cloned();
        let cursor_item = self.cursor.as_ref().and_then(|c| c.item.as_deref());
        let (out, mut next) = poll_items(&mut body, &self.items, &self.key, cursor_item, cursor)?;
        if from_body.is_some() {
            next = from_body;
        }
        Ok(Poll::new(out, next.unwrap_or(Value::Null)))
    }
}
