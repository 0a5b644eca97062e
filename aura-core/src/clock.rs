//! Time, injectable: [`Clock`], the real [`SystemClock`] and the hand-moved [`ManualClock`].
//!
//! The one clock of Aura. Everything that reads monotonic time goes through a [`Clock`]: the
//! router (latency, ejection periods, cool-downs, budget windows, deadlines, hedging delays,
//! back-off), the executor's timers and the trigger runtime, so that a test can stand at an
//! exact instant and move on by exactly 30 seconds. aura-router re-exports these types.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Timelike, Utc};

/// A boxed sleep, as [`Clock::sleep`] returns it.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of monotonic time and of sleeps.
///
/// `now` is the time since the clock's own origin: only differences between two readings of the
/// same clock mean anything.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The time since this clock's origin.
    fn now(&self) -> Duration;

    /// A future that ends once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep;

    /// A timer that ends once `duration` has passed on this clock, without moving the clock
    /// itself: what a timeout or a maximum duration races against.
    ///
    /// On the real clock it is a [`sleep`](Clock::sleep). On a [`ManualClock`] a sleep moves
    /// the clock to its end at once, which would make every timeout fire first; a deadline
    /// instead waits until something else moves the clock past its end (a test's
    /// [`advance`](ManualClock::advance), or another task's sleep).
    fn deadline(&self, duration: Duration) -> Sleep {
        self.sleep(duration)
    }
}

/// `work`'s output, or `None` once `limit` has passed on `clock` since `since` (a reading of
/// `clock` taken when the wait began). The timer is made only if `work` does not end at its first
/// poll: most end at once (an execution of quick nodes, a webhook's answer), and a timer made,
/// registered and dropped for nothing is much of their cost.
pub(crate) async fn within<F: Future>(
    clock: &dyn Clock,
    since: Duration,
    limit: Duration,
    work: F,
) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut deadline: Option<Sleep> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        let deadline =
            deadline.get_or_insert_with(|| clock.deadline(limit.saturating_sub(clock.now().saturating_sub(since))));
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// The real clock: tokio's monotonic time.
///
/// It follows tokio's clock, so a test with paused tokio time
/// (`#[tokio::test(start_paused = true)]`) gets virtual time that jumps over every sleep.
#[derive(Clone, Debug)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A fake clock for tests and simulations: it stands still until it is moved.
///
/// Move it with [`advance`](Self::advance) or [`set`](Self::set). A [`sleep`](Clock::sleep) on
/// it costs no real time: when first polled it moves the clock forward to the sleep's end (never
/// backwards) and ends. So a scripted provider's 800 ms latency, a 2 s deadline over a hung call
/// or a back-off all take microseconds, and each is measured exactly.
///
/// This is exact for one call at a time. When several sleeps run at once, the clock ends at the
/// latest of their ends, but they complete in the order they are polled rather than in the order
/// of their ends: a hung call (a future that never ends) against a timer behaves as it should;
/// two finite latencies racing are decided by who is polled first. For exact concurrent timing
/// use [`SystemClock`] under paused tokio time.
///
/// Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use aura_core::clock::{Clock, ManualClock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let clock = ManualClock::new();
/// assert_eq!(clock.now(), Duration::ZERO);
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.now(), Duration::from_secs(30));
/// clock.sleep(Duration::from_millis(250)).await; // instant
/// assert_eq!(clock.now(), Duration::from_millis(30_250));
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
    /// The deadlines waiting for the clock to move.
    waiting: Arc<parking_lot::Mutex<Vec<std::task::Waker>>>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(to_nanos(by), Ordering::SeqCst);
        self.wake();
    }

    /// Sets the clock to `at` (it may go backwards: a test's choice).
    pub fn set(&self, at: Duration) {
        self.nanos.store(to_nanos(at), Ordering::SeqCst);
        self.wake();
    }

    /// Wakes every deadline, so that each looks at the new time.
    fn wake(&self) {
        for waker in std::mem::take(&mut *self.waiting.lock()) {
            waker.wake();
        }
    }

    /// This clock as a shared [`Clock`], to hand to a router or a scripted provider.
    pub fn shared(&self) -> Arc<dyn Clock> {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let end = self.nanos.load(Ordering::SeqCst).saturating_add(to_nanos(duration));
        Box::pin(ManualSleep {
            clock: self.clone(),
            end,
        })
    }

    fn deadline(&self, duration: Duration) -> Sleep {
        let end = self.nanos.load(Ordering::SeqCst).saturating_add(to_nanos(duration));
        Box::pin(ManualDeadline {
            clock: self.clone(),
            end,
        })
    }
}

/// A [`ManualClock`] deadline: ends once the clock stands at or past `end`.
struct ManualDeadline {
    clock: ManualClock,
    end: u64,
}

impl Future for ManualDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.clock.nanos.load(Ordering::SeqCst) >= self.end {
            return Poll::Ready(());
        }
        self.clock.waiting.lock().push(cx.waker().clone());
        // The clock may have moved between the first look and the registration.
        if self.clock.nanos.load(Ordering::SeqCst) >= self.end {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

struct ManualSleep {
    clock: ManualClock,
    end: u64,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.clock.nanos.fetch_max(self.end, Ordering::SeqCst) < self.end {
            self.clock.wake();
        }
        Poll::Ready(())
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (584 years).
pub fn to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The wall-clock time `elapsed` after `start` (what `start + elapsed` gives, saturating at
/// the latest time chrono holds): a new time of day on the same date when it stays within the
/// day, as it does for a node's start and end, without chrono's calendar arithmetic (a fifth
/// of the clock work of a quick node).
pub(crate) fn wall_after(start: DateTime<Utc>, elapsed: Duration) -> DateTime<Utc> {
    // (The naive UTC parts: `DateTime`'s own accessors add its offset first.)
    let (date, time) = (start.naive_utc().date(), start.naive_utc().time());
    let nanos = u64::from(time.nanosecond()) + u64::from(elapsed.subsec_nanos());
    let secs = u64::from(time.num_seconds_from_midnight())
        .saturating_add(elapsed.as_secs())
        .saturating_add(nanos / 1_000_000_000);
    // (Not from inside a leap second: its nanoseconds run past one second.)
    if time.nanosecond() < 1_000_000_000
        && let Ok(secs) = u32::try_from(secs)
        && let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(secs, (nanos % 1_000_000_000) as u32)
    {
        return date.and_time(time).and_utc();
    }
    chrono::TimeDelta::from_std(elapsed)
        .ok()
        .and_then(|d| start.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_time_after_another_is_what_chrono_adds() {
        let starts = [
            "2026-12-08T10:00:00Z",
            "2026-12-08T23:59:59.999999999Z",
            "2026-12-31T23:59:59.5Z",
            "2024-02-28T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2026-06-30T12:34:56.123456789Z",
        ];
        let elapsed = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(86_399),
            Duration::from_secs(86_400),
            Duration::from_secs(40 * 86_400 + 7),
            Duration::new(3 * 365 * 86_400, 5),
        ];
        for start in starts {
            let start: DateTime<Utc> = start.parse().unwrap();
            for d in elapsed {
                assert_eq!(wall_after(start, d), start + d, "{start} + {d:?}");
            }
        }
        // Past the end of chrono's range: its latest time, not a panic.
        assert_eq!(
            wall_after(DateTime::<Utc>::MAX_UTC, Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            wall_after(DateTime::<Utc>::MIN_UTC, Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        // From inside a leap second (nanoseconds past one second), as chrono adds.
        let leap = NaiveTime::from_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        let start = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_time(leap)
            .and_utc();
        for d in elapsed {
            assert_eq!(wall_after(start, d), start + d, "{start} + {d:?}");
        }
    }

    #[tokio::test]
    async fn concurrent_sleeps_end_at_the_latest_end() {
        let clock = ManualClock::new();
        let a = clock.sleep(Duration::from_millis(10));
        let b = clock.sleep(Duration::from_millis(30));
        b.await;
        a.await;
        assert_eq!(clock.now(), Duration::from_millis(30));
    }

    #[tokio::test]
    async fn a_deadline_waits_for_the_clock_to_move() {
        use std::task::{Context, Poll};
        let clock = ManualClock::new();
        let mut deadline = clock.deadline(Duration::from_secs(10));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(deadline.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(clock.now(), Duration::ZERO, "a deadline does not move the clock");
        clock.advance(Duration::from_secs(9));
        assert_eq!(deadline.as_mut().poll(&mut cx), Poll::Pending);
        // Another task's sleep moves the clock past the deadline too.
        clock.sleep(Duration::from_secs(2)).await;
        assert_eq!(deadline.as_mut().poll(&mut cx), Poll::Ready(()));
    }

    /// A [`ManualClock`] that counts the deadlines made on it.
    #[derive(Debug)]
    struct Counted(ManualClock, std::sync::atomic::AtomicUsize);

    impl Clock for Counted {
        fn now(&self) -> Duration {
            self.0.now()
        }
        fn sleep(&self, duration: Duration) -> Sleep {
            self.0.sleep(duration)
        }
        fn deadline(&self, duration: Duration) -> Sleep {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.deadline(duration)
        }
    }

    #[tokio::test]
    async fn within_makes_a_timer_only_for_work_that_waits_and_counts_from_since() {
        use std::task::{Context, Poll};
        let clock = Counted(ManualClock::new(), std::sync::atomic::AtomicUsize::new(0));
        let limit = Duration::from_secs(10);
        assert_eq!(within(&clock, clock.now(), limit, async { 7 }).await, Some(7));
        assert_eq!(clock.1.load(Ordering::SeqCst), 0, "work done at once needs no timer");

        // The wait began 4 s before the call: 6 s are left.
        let since = clock.now();
        clock.0.advance(Duration::from_secs(4));
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut raced = Box::pin(within(&clock, since, limit, rx));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(raced.as_mut().poll(&mut cx).is_pending());
        assert_eq!(clock.1.load(Ordering::SeqCst), 1, "one timer, once the work waits");
        clock.0.advance(Duration::from_secs(5));
        assert!(raced.as_mut().poll(&mut cx).is_pending());
        clock.0.advance(Duration::from_secs(1));
        assert_eq!(raced.as_mut().poll(&mut cx), Poll::Ready(None), "10 s after `since`");
        drop(tx);

        // Work that ends before the limit gives its output.
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut raced = Box::pin(within(&clock, clock.now(), limit, rx));
        assert!(raced.as_mut().poll(&mut cx).is_pending());
        tx.send(3).unwrap();
        assert_eq!(raced.as_mut().poll(&mut cx), Poll::Ready(Some(Ok(3))));
    }

    #[tokio::test(start_paused = true)]
    async fn the_system_clock_follows_paused_tokio_time() {
        let clock = SystemClock::new();
        clock.sleep(Duration::from_secs(5)).await;
        assert!(clock.now() >= Duration::from_secs(5));
    }
}
