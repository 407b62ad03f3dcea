//! The event hub's clock. Production reads the system time; tests use a [`ManualClock`] that
//! moves only when told, so deadlines fire when a test says so and never after a sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::{Notify, watch};

/// A source of the current time for deadlines.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Signalled when the time jumps (manual clocks); `None` for the real clock.
    fn changed(&self) -> Option<Arc<Notify>> {
        None
    }
    /// The time as it jumps, for timers other than the supervision loop; `None` for the real
    /// clock.
    fn ticks(&self) -> Option<watch::Receiver<i64>> {
        None
    }
    /// Told by the supervision loop that everything due up to `until` has been handled.
    fn settled(&self, _until: i64) {}
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::auth::now_ms()
    }
}

/// A clock that moves only when advanced.
#[derive(Debug)]
pub struct ManualClock {
    /// The current time.
    now: AtomicI64,
    /// Wakes the supervision loop when the time jumps.
    changed: Arc<Notify>,
    /// The latest time the supervision loop has fully handled.
    settled: watch::Sender<i64>,
    /// The current time for every other timer (the sensing hub's inactivity alarms).
    ticks: watch::Sender<i64>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: i64) -> ManualClock {
        ManualClock {
            now: AtomicI64::new(now),
            changed: Arc::new(Notify::new()),
            settled: watch::channel(i64::MIN).0,
            ticks: watch::channel(now).0,
        }
    }

    /// Moves the clock forward and wakes the supervision loop.
    pub fn advance(&self, ms: i64) -> i64 {
        let now = self.now.fetch_add(ms, Ordering::SeqCst) + ms;
        self.changed.notify_one();
        self.ticks.send_replace(now);
        now
    }

    /// Waits until the supervision loop has handled everything due up to the current time.
    pub async fn settle(&self) {
        let target = self.now_ms();
        let mut rx = self.settled.subscribe();
        let _ = rx.wait_for(|t| *t >= target).await;
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn changed(&self) -> Option<Arc<Notify>> {
        Some(self.changed.clone())
    }

    fn settled(&self, until: i64) {
        self.settled.send_replace(until);
    }

    fn ticks(&self) -> Option<watch::Receiver<i64>> {
        Some(self.ticks.subscribe())
    }
}
