//! [`UnlessCancelled`]: work stopped at once when its context is cancelled.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::error::{Error, Result};

pin_project_lite::pin_project! {
    /// `work`, unless the token is cancelled first: then the error "`what`" (kind
    /// [`Cancelled`](crate::ErrorKind::Cancelled)), and `work` is dropped with the future.
    ///
    /// A hand-written future rather than an `async fn` around `tokio::select!`: an `async fn`
    /// keeps its argument and the select's copy of it side by side, so every future wrapped
    /// this way would be stored twice, and each caller's future with it.
    pub(crate) struct UnlessCancelled<'a, F> {
        #[pin]
        work: F,
        #[pin]
        cancelled: WaitForCancellationFuture<'a>,
        token: &'a CancellationToken,
        what: &'static str,
        started: bool,
    }
}

impl<'a, F> UnlessCancelled<'a, F> {
    pub(crate) fn new(work: F, token: &'a CancellationToken, what: &'static str) -> Self {
        Self {
            work,
            cancelled: token.cancelled(),
            token,
            what,
            started: false,
        }
    }
}

impl<F, T> Future for UnlessCancelled<'_, F>
where
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A token cancelled before the work starts stops it before its first step.
        if !*this.started {
            *this.started = true;
            if this.token.is_cancelled() {
                return Poll::Ready(Err(Error::cancelled(*this.what)));
            }
        }
        // The work first: work that is done at its first poll never registers with the token
        // (a lock and a waiter).
        if let Poll::Ready(result) = this.work.poll(cx) {
            return Poll::Ready(result);
        }
        match this.cancelled.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::cancelled(*this.what))),
            Poll::Pending => Poll::Pending,
        }
    }
}
