//! [`ResponseSlot`]: where a `respond` node leaves what a webhook caller gets back, and where
//! the execution's handle waits for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::Response;

/// The context extension a [`RespondNode`](super::RespondNode) writes to; the engine exposes
/// it on the execution handle, so a webhook receiver can answer while the execution goes on.
///
/// Its clones are the writing side: when the last one goes (the execution ended, and nothing
/// holds it for a resume), a waiting reader learns that no response is coming.
#[derive(Debug)]
pub struct ResponseSlot(Arc<Cell>);

/// The response, whether it can still come, and whether anyone waits for it. (A mutex and
/// one waiter list: a response is written once per execution and read once or twice.) The
/// writers and the readers share it: one allocation per execution.
#[derive(Debug)]
struct Cell {
    state: Mutex<State>,
    /// The [`ResponseSlot`]s alive: the cell closes when the last one goes.
    writers: AtomicUsize,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    value: Option<Response>,
    /// Every writer is gone: no response comes after `value`.
    closed: bool,
    /// A reader has waited: a change wakes the waiters. (Most executions end before their
    /// reader looks: they wake nobody, and skip the waiter list's lock.)
    waited: bool,
}

impl Clone for ResponseSlot {
    fn clone(&self) -> Self {
        self.0.writers.fetch_add(1, Ordering::Relaxed);
        Self(self.0.clone())
    }
}

impl Drop for ResponseSlot {
    fn drop(&mut self) {
        // The last writer gone (ordered after every write, as an `Arc`'s count is): closed.
        if self.0.writers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.change(|state| state.closed = true);
        }
    }
}

impl Cell {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self) -> Option<Response> {
        self.lock().value.clone()
    }

    /// Changes the state, then wakes the readers that wait. A reader makes its waiter before
    /// it looks at the state (under the same lock): a change it did not see wakes it.
    fn change(&self, change: impl FnOnce(&mut State)) {
        let waited = {
            let mut state = self.lock();
            change(&mut state);
            state.waited
        };
        if waited {
            self.changed.notify_waiters();
        }
    }
}

impl ResponseSlot {
    /// An empty slot.
    pub(crate) fn new() -> Self {
        Self(Arc::new(Cell {
            state: Mutex::default(),
            writers: AtomicUsize::new(1),
            changed: Notify::new(),
        }))
    }

    /// Sets the response (a later respond node's replaces it).
    pub(crate) fn set(&self, response: Response) {
        self.0.change(|state| state.value = Some(response));
    }

    /// The response set so far.
    pub(crate) fn get(&self) -> Option<Response> {
        self.0.get()
    }

    /// A reader, for the execution's handle.
    pub(crate) fn reader(&self) -> ResponseReader {
        ResponseReader(self.0.clone())
    }
}

/// The reading side of a [`ResponseSlot`].
#[derive(Debug)]
pub(crate) struct ResponseReader(Arc<Cell>);

impl ResponseReader {
    /// The response as soon as it is set; `None` once every writer is gone without one.
    pub(crate) async fn wait(&self) -> Option<Response> {
        let cell = &*self.0;
        loop {
            // Made before looking (a `Notified` gets every `notify_waiters` after it is made),
            // so that a change between the look and the wait wakes it.
            let changed = cell.changed.notified();
            {
                let mut state = cell.lock();
                if state.value.is_some() || state.closed {
                    return state.value.clone();
                }
                state.waited = true;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16) -> Response {
        Response {
            status,
            body: Arc::new(json!({ "ok": status })),
        }
    }

    #[tokio::test]
    async fn a_reader_gets_the_response_set_before_or_while_it_waits() {
        let slot = ResponseSlot::new();
        let reader = slot.reader();
        slot.set(answer(201));
        assert_eq!(reader.wait().await.map(|r| r.status), Some(201));

        let slot = ResponseSlot::new();
        let reader = slot.reader();
        let writer = slot.clone();
        let waiting = tokio::spawn(async move { reader.wait().await });
        tokio::task::yield_now().await;
        writer.set(answer(202));
        assert_eq!(waiting.await.unwrap().map(|r| r.status), Some(202));
        // A later respond node's replaces it.
        slot.set(answer(203));
        assert_eq!(slot.get().map(|r| r.status), Some(203));
    }

    #[tokio::test]
    async fn a_reader_learns_when_the_last_writer_goes_without_a_response() {
        let slot = ResponseSlot::new();
        let reader = slot.reader();
        let clone = slot.clone();
        let waiting = tokio::spawn(async move { reader.wait().await });
        tokio::task::yield_now().await;
        drop(slot);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a clone still writes");
        drop(clone);
        assert_eq!(waiting.await.unwrap(), None);

        // Set, then gone: the response stays readable.
        let slot = ResponseSlot::new();
        let reader = slot.reader();
        slot.set(answer(200));
        drop(slot);
        assert_eq!(reader.wait().await.map(|r| r.status), Some(200));
    }
}
