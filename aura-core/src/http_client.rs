//! The HTTP client Aura shares: [`shared_http_client`], one per tokio runtime.
//!
//! A low module that depends on nothing else in the crate, so that both the connection layer
//! (the OAuth2 client's token requests) and [`Context`](crate::Context) use it. Its public path
//! is `aura_core::context::shared_http_client`, a re-export.

use std::sync::OnceLock;

use parking_lot::Mutex;

/// How many runtimes' clients [`shared_http_client`] keeps; past that the oldest is let go
/// (contexts holding it keep working; its runtime gets a new one on its next call).
const MAX_RUNTIME_CLIENTS: usize = 64;

/// The clients [`shared_http_client`] hands out: one per tokio runtime, and one for callers
/// outside any runtime.
#[derive(Default)]
struct RuntimeClients {
    by_runtime: Vec<(tokio::runtime::Id, reqwest::Client)>,
    unbound: Option<reqwest::Client>,
}

/// The HTTP client every context of the current tokio runtime shares unless given another:
/// connection pools are reused across actions and executions.
///
/// There is one client per runtime (keyed by [`tokio::runtime::Handle::id`]), because a pooled
/// connection belongs to the runtime that opened it: a client shared across runtimes hands a
/// request to a connection whose runtime is idle (the request hangs) or gone ("runtime dropped
/// the dispatch task"). Hosts run several runtimes, and every `#[tokio::test]` is one. Called
/// outside a runtime it returns a client for such callers; a [`Context`](crate::Context) built
/// with the default client sends through the client of the runtime it sends from.
pub fn shared_http_client() -> reqwest::Client {
    thread_local! {
        // The last runtime this thread asked for, and its client: a worker thread asks for
        // its own runtime's client on every node, so this spares the global lock.
        static LAST: std::cell::RefCell<Option<(tokio::runtime::Id, reqwest::Client)>> =
            const { std::cell::RefCell::new(None) };
    }
    static CLIENTS: OnceLock<Mutex<RuntimeClients>> = OnceLock::new();
    let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
    if let Some(id) = runtime {
        let cached = LAST.with_borrow(|last| last.as_ref().filter(|(r, _)| *r == id).map(|(_, c)| c.clone()));
        if let Some(client) = cached {
            return client;
        }
    }
    let mut clients = CLIENTS.get_or_init(Mutex::default).lock();
    let Some(id) = runtime else {
        return clients.unbound.get_or_insert_with(new_http_client).clone();
    };
    if let Some((_, client)) = clients.by_runtime.iter().find(|(r, _)| *r == id) {
        let client = client.clone();
        LAST.set(Some((id, client.clone())));
        return client;
    }
    if clients.by_runtime.len() >= MAX_RUNTIME_CLIENTS {
        clients.by_runtime.remove(0);
    }
    let client = new_http_client();
    clients.by_runtime.push((id, client.clone()));
    LAST.set(Some((id, client.clone())));
    client
}

/// A client per tokio runtime, made on demand by a function: what a type holding its own
/// client (with its own redirect or resolver policy) keeps instead of one client, for the
/// reason [`shared_http_client`] gives.
pub(crate) struct PerRuntimeClient {
    make: Box<dyn Fn() -> reqwest::Client + Send + Sync>,
    clients: Mutex<RuntimeClients>,
}

impl PerRuntimeClient {
    /// Clients made by `make`.
    pub(crate) fn new(make: impl Fn() -> reqwest::Client + Send + Sync + 'static) -> Self {
        Self {
            make: Box::new(make),
            clients: Mutex::default(),
        }
    }

    /// The client of the current runtime (or of callers outside any).
    pub(crate) fn get(&self) -> reqwest::Client {
        let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
        let mut clients = self.clients.lock();
        let Some(id) = runtime else {
            return clients.unbound.get_or_insert_with(|| (self.make)()).clone();
        };
        if let Some((_, client)) = clients.by_runtime.iter().find(|(r, _)| *r == id) {
            return client.clone();
        }
        if clients.by_runtime.len() >= MAX_RUNTIME_CLIENTS {
            clients.by_runtime.remove(0);
        }
        let client = (self.make)();
        clients.by_runtime.push((id, client.clone()));
        client
    }
}

fn new_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("aura/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building only fails when TLS cannot initialise; the default client reports the same
        // failure on first use instead of here.
        .unwrap_or_default()
}
