//! Work raced against a cancellation token: [`UntilCancelled`] (the work's output, or `None`)
//! and [`UnlessCancelled`] (the work's result, or a `Cancelled` error).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::error::{Error, Result};

pin_project_lite::pin_project! {
    /// `work`'s output, or `None` once the token is cancelled first (`work` is dropped with
    /// the future).
    ///
    /// A token cancelled before the first poll stops the work before its first step. The
    /// first poll reads the token and polls the work: work that is done then never registers
    /// with the token (a lock and a waiter, on every execution and most nodes). Once the work
    /// has waited, the token comes first at every poll, so that a cancel stops the work at
    /// once, before another of its steps.
    ///
    /// A hand-written future rather than an `async fn` around `tokio::select!`: an `async fn`
    /// keeps its argument and the select's copy of it side by side, so every future wrapped
    /// this way would be stored twice, and each caller's future with it.
    pub(crate) struct UntilCancelled<'a, F> {
        #[pin]
        work: F,
        #[pin]
        cancelled: WaitForCancellationFuture<'a>,
        token: &'a CancellationToken,
        started: bool,
    }
}

impl<'a, F> UntilCancelled<'a, F> {
    pub(crate) fn new(work: F, token: &'a CancellationToken) -> Self {
        Self {
            work,
            cancelled: token.cancelled(),
            token,
            started: false,
        }
    }
}

impl<F: Future> Future for UntilCancelled<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.started {
            if this.cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            return this.work.poll(cx).map(Some);
        }
        *this.started = true;
        if this.token.is_cancelled() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(output) = this.work.poll(cx) {
            return Poll::Ready(Some(output));
        }
        match this.cancelled.poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// `work`, unless the token is cancelled first ([`UntilCancelled`]): then the error
    /// "`what`" (kind [`Cancelled`](crate::ErrorKind::Cancelled)).
    pub(crate) struct UnlessCancelled<'a, F> {
        #[pin]
        raced: UntilCancelled<'a, F>,
        what: &'static str,
    }
}

impl<'a, F> UnlessCancelled<'a, F> {
    pub(crate) fn new(work: F, token: &'a CancellationToken, what: &'static str) -> Self {
        Self {
            raced: UntilCancelled::new(work, token),
            what,
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
        let what = *this.what;
        Poll::Ready(ready!(this.raced.poll(cx)).unwrap_or_else(|| Err(Error::cancelled(what))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::task::Poll;

    use tokio_util::sync::CancellationToken;

    use super::UntilCancelled;

    /// Work that waits once, counting its polls.
    async fn waits_once(polls: &AtomicU32) -> u32 {
        let mut first = true;
        std::future::poll_fn(|cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            if std::mem::replace(&mut first, false) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(7)
        })
        .await
    }

    #[tokio::test]
    async fn a_token_cancelled_before_the_first_poll_stops_the_work_before_its_first_step() {
        let token = CancellationToken::new();
        token.cancel();
        let polls = AtomicU32::new(0);
        assert_eq!(UntilCancelled::new(waits_once(&polls), &token).await, None);
        assert_eq!(polls.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn work_runs_to_its_end_when_nobody_cancels() {
        let token = CancellationToken::new();
        let polls = AtomicU32::new(0);
        assert_eq!(UntilCancelled::new(waits_once(&polls), &token).await, Some(7));
        assert_eq!(polls.load(Ordering::Relaxed), 2);
        assert_eq!(UntilCancelled::new(async { 1 }, &token).await, Some(1));
    }

    #[tokio::test]
    async fn a_cancel_while_the_work_waits_stops_it_before_its_next_step() {
        let token = CancellationToken::new();
        let polls = AtomicU32::new(0);
        let mut raced = std::pin::pin!(UntilCancelled::new(waits_once(&polls), &token));
        assert!(futures::poll!(raced.as_mut()).is_pending());
        token.cancel();
        // The work would end at its next poll: the cancel comes first.
        assert_eq!(raced.await, None);
        assert_eq!(polls.load(Ordering::Relaxed), 1);
    }
}
