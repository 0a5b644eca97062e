//! Registering a webhook with its service, for apps whose API registers hooks
//! ([`Trigger::subscribe`](crate::trigger::Trigger::subscribe)): at activation the runtime
//! subscribes the route's public URL ([`TriggerRuntimeBuilder::public_url`](super::TriggerRuntimeBuilder::public_url))
//! and keeps what the service answered (a hook id) in the store's trigger state; a
//! deactivation unsubscribes. A redeploy to the same URL subscribes nothing again; one to
//! another URL unsubscribes the old one first. A shutdown keeps the subscription: the next
//! process serves it.

use serde_json::{Value, json};

use super::Shared;
use super::route::Route;
use crate::error::Result;
use crate::store::TriggerKey;

/// Where a route's subscription is kept: beside the trigger's cursor.
fn key(route: &Route) -> TriggerKey {
    TriggerKey::new(
        route.key.scenario_id.clone(),
        format!("{}#subscription", route.key.trigger_id),
    )
}

/// Subscribes the route's app trigger at its public URL, unless that URL is subscribed
/// already. Nothing to do without a public URL or an app trigger.
pub(super) async fn subscribe(shared: &Shared, route: &Route) -> Result<()> {
    let (Some(base), Some(trigger)) = (&shared.options.public_url, &route.trigger) else {
        return Ok(());
    };
    let state = shared.state()?;
    let url = format!("{}/{}", base.trim_end_matches('/'), route.path);
    let stored = state.cursor(&key(route)).await?;
    if stored.as_ref().and_then(|s| s.get("url")).and_then(Value::as_str) == Some(url.as_str()) {
        return Ok(());
    }
    let cx = route.context();
    // The path moved: the old URL's registration goes first.
    if let Some(old) = stored
        .as_ref()
        .and_then(|s| s.get("subscription"))
        .filter(|v| !v.is_null())
    {
        trigger.unsubscribe(&cx, old).await?;
    }
    let subscription = trigger.subscribe(&cx, &url).await?;
    state
        .set_cursor(&key(route), &json!({ "url": url, "subscription": subscription }))
        .await
}

/// Removes the route's registration with its service, if it has one.
pub(super) async fn unsubscribe(shared: &Shared, route: &Route) -> Result<()> {
    let (Some(trigger), Ok(state)) = (&route.trigger, shared.state()) else {
        return Ok(());
    };
    let Some(stored) = state.cursor(&key(route)).await? else {
        return Ok(());
    };
    if let Some(subscription) = stored.get("subscription").filter(|v| !v.is_null()) {
        trigger.unsubscribe(&route.context(), subscription).await?;
    }
    state.set_cursor(&key(route), &Value::Null).await
}
