//! A webhook request's way through the runtime: route, method, size, room, origin,
//! authenticity, body, dedupe, execution, answer. Framework-agnostic: a host's server hands
//! over a [`WebhookRequest`] and writes back the [`WebhookResponse`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::arrive::{self, Arrived};
use super::body::{self, Unreadable};
use super::route::{Respond, Route};
use super::{Shared, TriggerRuntime};
use crate::engine::ExecutionHandle;
use crate::error::{Error, ErrorKind};
use crate::store::ExecutionStatus;
use crate::trigger::{WebhookOutcome, WebhookReply, WebhookRequest};

/// The answer to a webhook request.
pub type WebhookResponse = http::Response<Bytes>;

impl TriggerRuntime {
    /// Handles one webhook request whose path is relative to where the host mounts the
    /// runtime (`/github/push`), from `peer` (checked against a route's allowlist; a route
    /// with an allowlist refuses a request without one). Never panics, never echoes the body:
    ///
    /// | answer | when |
    /// | --- | --- |
    /// | `404` | no active scenario serves the path |
    /// | `405` (with `Allow`) | a method the route does not take |
    /// | `413` | a body over the limit |
    /// | `503` (with `Retry-After`) | the runtime is at its in-flight limit, or shutting down |
    /// | `403` | the peer is not in the route's allowlist |
    /// | `401` | the verifier refused the request (the reason, never a secret) |
    /// | `400` / `415` | a body that does not parse / of a content type not read |
    /// | `200` + handshake | a verification handshake (Slack's `url_verification` …) |
    /// | `200` `{"duplicate": true}` | a retried delivery already taken |
    /// | the `respond` node's | the scenario answered in time |
    /// | `202` `{"execution_id": …}` | taken (stored first on a durable store); no answer (yet) |
    /// | `500` `{"execution_id": …, "status": "failed"}` | the execution failed before answering |
    pub async fn handle(&self, request: WebhookRequest, peer: Option<IpAddr>) -> WebhookResponse {
        handle(&self.shared, request, peer).await
    }
}

pub(super) async fn handle(shared: &Arc<Shared>, request: WebhookRequest, peer: Option<IpAddr>) -> WebhookResponse {
    if shared.stopping.is_cancelled() {
        return busy(shared, "the webhook receiver is shutting down");
    }
    let Some(route) = shared.routes.read().get(request.path.trim_matches('/')).cloned() else {
        return error(StatusCode::NOT_FOUND, "no webhook is served at this path");
    };
    if !route.methods.contains(&request.method) {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "the webhook does not take this method");
        let allow = route
            .methods
            .iter()
            .map(http::Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(allow) = HeaderValue::try_from(allow) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        return response;
    }
    if request.body.len() > route.body_limit.unwrap_or(shared.options.body_limit) {
        return too_large();
    }
    // Room for one more execution, held until it ends: memory stays bounded under overload.
    let Ok(permit) = shared.in_flight.clone().try_acquire_owned() else {
        return busy(shared, "the webhook receiver is at its limit of executions in flight");
    };
    if let Some(allow) = &route.allow {
        let Some(peer) = peer else {
            return error(
                StatusCode::FORBIDDEN,
                "the webhook takes requests from listed addresses only",
            );
        };
        if let Err(e) = allow.check(peer) {
            return refused(&e);
        }
    }
    let verified = match route.verifier() {
        Ok(verifier) => match verifier.verify(&request, shared.now()) {
            Ok(verified) => verified,
            Err(e) => return refused(&e),
        },
        Err(e) => {
            tracing::error!(scenario = %route.plan.id(), error = %e, "a webhook's verifier could not be built");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the webhook's verifier is not set up",
            );
        }
    };
    if let Some(reply) = verified.handshake {
        return reply_of(reply);
    }
    let delivery = verified.delivery_id.or_else(|| {
        let name = route.dedupe_header.as_ref()?;
        Some(request.headers.get(name)?.to_str().ok()?.to_owned())
    });
    let items = match items(&route, &request, delivery).await {
        Ok(items) => items,
        Err(response) => return response,
    };
    let mut started = Vec::with_capacity(items.len());
    for (dedupe, data) in items {
        match arrive::one(shared, &route.plan, &route.key, dedupe, data).await {
            Ok(arrived) => started.push(arrived),
            Err(e) => {
                tracing::error!(scenario = %route.plan.id(), error = %e, "a webhook's execution could not be stored");
                return error_with_retry(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the execution could not be stored; send it again",
                    shared.options.retry_after,
                );
            }
        }
    }
    answer(shared, &route, started, permit).await
}

/// The request as items: the app trigger's parse, or the body (or whole request) as one item
/// whose dedupe key is the delivery id.
async fn items(
    route: &Route,
    request: &WebhookRequest,
    delivery: Option<String>,
) -> Result<Vec<(Option<String>, Value)>, WebhookResponse> {
    if let Some(trigger) = &route.trigger {
        return match trigger.handle_webhook(&route.context(), request).await {
            Ok(WebhookOutcome::Handshake(reply)) => Err(reply_of(reply)),
            Ok(WebhookOutcome::Items(items)) => Ok(items
                .into_iter()
                .map(|item| (Some(item.dedupe_key), item.data))
                .collect()),
            Err(e) => Err(refused(&e)),
        };
    }
    match body::data(request, route.data, route.token_header()) {
        Ok(data) => Ok(vec![(delivery, data)]),
        Err(Unreadable::Malformed(why)) => Err(error(StatusCode::BAD_REQUEST, &why)),
        Err(Unreadable::Unsupported) => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body's content type is not JSON, a form or text",
        )),
    }
}

/// The answer once the items are taken.
async fn answer(
    shared: &Arc<Shared>,
    route: &Route,
    started: Vec<Arrived>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> WebhookResponse {
    let mut ids = Vec::with_capacity(started.len());
    let mut handles = Vec::new();
    for arrived in started {
        match arrived {
            Arrived::Running(handle) => {
                ids.push(handle.id());
                handles.push(handle);
            }
            Arrived::Stored(id) => ids.push(id),
            Arrived::Duplicate => {}
        }
    }
    if ids.is_empty() {
        return json_response(StatusCode::OK, &json!({ "duplicate": true }));
    }
    let mut response = None;
    if let (Respond::Wait(wait), [handle]) = (route.respond, handles.as_mut_slice()) {
        let wait = wait.unwrap_or(shared.options.respond_timeout);
        let since = shared.clock.now();
        response = crate::clock::within(&*shared.clock, since, wait, handle.response()).await;
    }
    let reply = match response {
        Some(Some(r)) => json_response(StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK), &r.body),
        // Ended without answering: its end says how it went.
        Some(None) => {
            let handle = handles.pop();
            let status = match handle {
                Some(handle) => handle.wait().await.map(|r| r.status).ok(),
                None => None,
            };
            let id = ids[0].to_string();
            return match status {
                Some(ExecutionStatus::Completed) => {
                    json_response(StatusCode::OK, &json!({ "execution_id": id, "status": "completed" }))
                }
                _ => json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({ "execution_id": id, "status": "failed" }),
                ),
            };
        }
        None => accepted(&ids),
    };
    // The permit is held until the executions end; shutdown waits for them.
    if handles.iter().all(ExecutionHandle::is_done) {
        drop(permit);
    } else {
        shared.tracker.spawn(async move {
            for handle in handles {
                let id = handle.id();
                // How it ended is in its record; an error here is the engine's own (the store
                // failed), which no caller is left to hear.
                if let Err(e) = handle.wait().await {
                    tracing::warn!(execution = %id, error = %e, "a webhook's execution ended with an error of the engine");
                }
            }
            drop(permit);
        });
    }
    reply
}

/// `413`.
pub(super) fn too_large() -> WebhookResponse {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body is larger than the webhook takes",
    )
}

fn accepted(ids: &[uuid::Uuid]) -> WebhookResponse {
    let body = match ids {
        [id] => json!({ "execution_id": id.to_string() }),
        ids => json!({ "execution_ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>() }),
    };
    json_response(StatusCode::ACCEPTED, &body)
}

fn json_response(status: StatusCode, body: &Value) -> WebhookResponse {
    // Written as bytes (`to_string` goes through `fmt`, a third slower). A `Value` always
    // serializes; should that ever change, the caller gets a 500 saying so, not a wrong body.
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, bytes),
        Err(e) => {
            tracing::error!(error = %e, "a webhook answer could not be written as JSON");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"error":"the answer could not be written as JSON"}"#.to_vec(),
            )
        }
    };
    let mut response = http::Response::new(Bytes::from(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> WebhookResponse {
    json_response(status, &json!({ "error": message }))
}

fn error_with_retry(status: StatusCode, message: &str, retry_after: Duration) -> WebhookResponse {
    let mut response = error(status, message);
    if let Ok(secs) = HeaderValue::try_from(retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, secs);
    }
    response
}

fn busy(shared: &Shared, message: &str) -> WebhookResponse {
    error_with_retry(StatusCode::SERVICE_UNAVAILABLE, message, shared.options.retry_after)
}

/// A refusal: the error's status, its message (which never quotes a secret or the body).
fn refused(e: &Error) -> WebhookResponse {
    let status = match e.kind() {
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "the webhook could not be handled"
    } else {
        e.message()
    };
    error(status, message)
}

fn reply_of(reply: WebhookReply) -> WebhookResponse {
    let mut response = http::Response::new(reply.body);
    *response.status_mut() = reply.status;
    if let Ok(ct) = HeaderValue::try_from(reply.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
}
