//! Per-reactor counters, written by the loop and readable from any thread
//! through a handle without stopping the loop.
//!
//! Each counter has exactly one writer (the reactor thread), so an update is
//! a relaxed load and store, not a locked read-modify-write: counting costs
//! the hot path two plain instructions. The one exception is
//! [`Metrics::wakeups`], bumped by the posting threads, and only on the path
//! that also writes the waker's `eventfd` (a system call dwarfs the atomic).
//!
//! Time in callbacks is measured only when enabled
//! ([`Reactor::set_callback_timing`](crate::Reactor::set_callback_timing)):
//! two clock reads (vDSO, tens of ns) around every callback would cost a
//! loop doing one small read and write per callback several percent. When
//! disabled it costs one predictable branch per callback. The always-on,
//! per-turn alternative is `busy_nanos`: time outside `epoll_wait`, which
//! includes the socket system calls as well as the callbacks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::conn::close::CloseReason;

/// A counter with a single writer.
#[derive(Default, Debug)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn bump(&self, n: u64) {
        // Single writer: no other thread stores, so load+store is exact.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// For counters with several writers (the handles' wake-ups).
    #[inline]
    pub(crate) fn add_shared(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The close-reason kinds, by their index in the counters.
const REASON_LABELS: [&str; REASONS] = [
    "Local",
    "PeerClosed",
    "Lingered",
    "LingerTimeout",
    "Reset",
    "Aborted",
    "Overflow",
    "IdleTimeout",
    "WriteStall",
    "KeepaliveTimeout",
    "UserTimeout",
    "ConnectFailed",
    "Panicked",
    "Shutdown",
    "Error",
    "InputFull",
    "Tls",
    "Truncated",
];

/// Number of distinct close-reason kinds counted.
const REASONS: usize = 18;

fn reason_index(reason: CloseReason) -> usize {
    match reason {
        CloseReason::Local => 0,
        CloseReason::PeerClosed => 1,
        CloseReason::Lingered => 2,
        CloseReason::LingerTimeout => 3,
        CloseReason::Reset => 4,
        CloseReason::Aborted => 5,
        CloseReason::Overflow => 6,
        CloseReason::IdleTimeout => 7,
        CloseReason::WriteStall => 8,
        CloseReason::KeepaliveTimeout => 9,
        CloseReason::UserTimeout => 10,
        CloseReason::ConnectFailed(_) => 11,
        CloseReason::Panicked => 12,
        CloseReason::Shutdown => 13,
        CloseReason::Error(_) => 14,
        CloseReason::InputFull => 15,
        CloseReason::Tls(_) => 16,
        CloseReason::Truncated => 17,
    }
}

/// The live counters of one reactor.
#[derive(Default, Debug)]
pub(crate) struct Metrics {
    pub(crate) accepted: Counter,
    pub(crate) connected: Counter,
    pub(crate) open: Counter,
    pub(crate) closed: [Counter; REASONS],
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) high_water_events: Counter,
    pub(crate) keepalive_failures: Counter,
    pub(crate) accept_errors: Counter,
    pub(crate) panics: Counter,
    pub(crate) disconnects: Counter,
    pub(crate) handle_requests_dropped: Counter,
    pub(crate) turns: Counter,
    pub(crate) busy_nanos: Counter,
    pub(crate) timers_pending: Counter,
    /// Waker writes made by handles (several writers: see the module docs).
    pub(crate) wakeups: Counter,
    pub(crate) posted: Counter,
    pub(crate) callbacks_timed: Counter,
    pub(crate) callback_nanos: Counter,
    pub(crate) tls_handshakes: Counter,
    pub(crate) tls_failures: Counter,
}

impl Metrics {
    /// Starts timing a callback when `on` (callback timing is enabled).
    #[inline]
    pub(crate) fn callback_started(on: bool) -> Option<Instant> {
        if on { Some(Instant::now()) } else { None }
    }

    /// Ends what [`callback_started`](Self::callback_started) began.
    #[inline]
    pub(crate) fn callback_finished(&self, started: Option<Instant>) {
        if let Some(t) = started {
            self.callback_nanos.bump(t.elapsed().as_nanos() as u64);
            self.callbacks_timed.bump(1);
        }
    }

    pub(crate) fn count_close(&self, reason: CloseReason) {
        self.closed[reason_index(reason)].bump(1);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let mut closed = [0; REASONS];
        for (out, c) in closed.iter_mut().zip(&self.closed) {
            *out = c.get();
        }
        MetricsSnapshot {
            accepted: self.accepted.get(),
            connected: self.connected.get(),
            open: self.open.get(),
            closed,
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            high_water_events: self.high_water_events.get(),
            keepalive_failures: self.keepalive_failures.get(),
            accept_errors: self.accept_errors.get(),
            panics: self.panics.get(),
            disconnects: self.disconnects.get(),
            handle_requests_dropped: self.handle_requests_dropped.get(),
            turns: self.turns.get(),
            busy_nanos: self.busy_nanos.get(),
            timers_pending: self.timers_pending.get(),
            wakeups: self.wakeups.get(),
            posted: self.posted.get(),
            callbacks_timed: self.callbacks_timed.get(),
            callback_nanos: self.callback_nanos.get(),
            tls_handshakes: self.tls_handshakes.get(),
            tls_failures: self.tls_failures.get(),
        }
    }
}

/// A reactor's counters at one moment; also what `run()` returns.
///
/// ```
/// let mut reactor = netloop::Reactor::new().unwrap();
/// reactor.turn(Some(std::time::Duration::ZERO)).unwrap();
/// let m = reactor.metrics();
/// assert_eq!(m.accepted, 0);
/// assert!(m.turns >= 1);
/// assert_eq!(m.closed_with(netloop::CloseReason::Reset), 0);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Connections accepted.
    pub accepted: u64,
    /// Outbound connections established.
    pub connected: u64,
    /// Connections open now.
    pub open: u64,
    closed: [u64; REASONS],
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes handed to the kernel.
    pub bytes_out: u64,
    /// High-water crossings.
    pub high_water_events: u64,
    /// Keepalive failures.
    pub keepalive_failures: u64,
    /// Failed accepts (all causes, including EMFILE).
    pub accept_errors: u64,
    /// Callbacks that panicked.
    pub panics: u64,
    /// Connections of reconnecting clients that ended with a reconnect to
    /// follow ([`Handler::on_disconnect`](crate::Handler::on_disconnect));
    /// their final close is counted in the close reasons.
    pub disconnects: u64,
    /// Sends, closes and aborts posted through a handle for a connection
    /// that was gone (closed meanwhile, or never valid) when they ran.
    pub handle_requests_dropped: u64,
    /// Loop turns.
    pub turns: u64,
    /// Time spent outside `epoll_wait` (I/O, callbacks, timers), in ns.
    pub busy_nanos: u64,
    /// Timers pending at the end of the last turn.
    pub timers_pending: u64,
    /// Times a handle woke the loop (one `eventfd` write). Posts made while
    /// a wake-up is already on its way do not add to it.
    pub wakeups: u64,
    /// Closures posted through handles that ran on the loop.
    pub posted: u64,
    /// Callbacks timed while callback timing was enabled (handler
    /// callbacks, posted closures and reactor timer closures).
    pub callbacks_timed: u64,
    /// Time spent in those callbacks, in ns.
    pub callback_nanos: u64,
    /// TLS handshakes completed (cargo feature `tls`).
    pub tls_handshakes: u64,
    /// TLS connections that failed: handshake timeouts and cuts, alerts
    /// received or sent (each also closes with [`CloseReason::Tls`]).
    pub tls_failures: u64,
}

/// Every counter by name; the close reasons as a map of the non-zero ones.
impl std::fmt::Debug for MetricsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Closed<'a>(&'a [u64; REASONS]);
        impl std::fmt::Debug for Closed<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let nonzero = REASON_LABELS.iter().zip(self.0).filter(|(_, n)| **n > 0);
                f.debug_map().entries(nonzero).finish()
            }
        }
        f.debug_struct("MetricsSnapshot")
            .field("accepted", &self.accepted)
            .field("connected", &self.connected)
            .field("open", &self.open)
            .field("closed", &Closed(&self.closed))
            .field("bytes_in", &self.bytes_in)
            .field("bytes_out", &self.bytes_out)
            .field("high_water_events", &self.high_water_events)
            .field("keepalive_failures", &self.keepalive_failures)
            .field("accept_errors", &self.accept_errors)
            .field("panics", &self.panics)
            .field("disconnects", &self.disconnects)
            .field("handle_requests_dropped", &self.handle_requests_dropped)
            .field("turns", &self.turns)
            .field("busy_nanos", &self.busy_nanos)
            .field("timers_pending", &self.timers_pending)
            .field("wakeups", &self.wakeups)
            .field("posted", &self.posted)
            .field("callbacks_timed", &self.callbacks_timed)
            .field("callback_nanos", &self.callback_nanos)
            .field("tls_handshakes", &self.tls_handshakes)
            .field("tls_failures", &self.tls_failures)
            .finish()
    }
}

impl MetricsSnapshot {
    /// Connections closed with `reason`'s kind (payloads such as the error
    /// kind are not distinguished).
    pub fn closed_with(&self, reason: CloseReason) -> u64 {
        self.closed[reason_index(reason)]
    }

    /// Connections closed, per kind of reason: `(name, count)` for every
    /// kind, in a fixed order, zeros included (names as [`CloseReason`]'s
    /// variants, e.g. `"PeerClosed"`), for exporters.
    ///
    /// ```
    /// let snapshot = netloop::MetricsSnapshot::default();
    /// let reasons: Vec<_> = snapshot.closed_by_reason().collect();
    /// assert!(reasons.contains(&("PeerClosed", 0)));
    /// ```
    pub fn closed_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REASON_LABELS
            .iter()
            .copied()
            .zip(self.closed.iter().copied())
    }

    /// Connections closed, for any reason.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().sum()
    }

    /// Adds another reactor's counters to these (for a multi-reactor server).
    pub fn merge(&mut self, other: &MetricsSnapshot) {
        self.accepted += other.accepted;
        self.connected += other.connected;
        self.open += other.open;
        for (a, b) in self.closed.iter_mut().zip(other.closed) {
            *a += b;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.high_water_events += other.high_water_events;
        self.keepalive_failures += other.keepalive_failures;
        self.accept_errors += other.accept_errors;
        self.panics += other.panics;
        self.disconnects += other.disconnects;
        self.handle_requests_dropped += other.handle_requests_dropped;
        self.turns += other.turns;
        self.busy_nanos += other.busy_nanos;
        self.timers_pending += other.timers_pending;
        self.wakeups += other.wakeups;
        self.posted += other.posted;
        self.callbacks_timed += other.callbacks_timed;
        self.callback_nanos += other.callback_nanos;
    }

    /// The sum of several reactors' counters.
    ///
    /// ```
    /// use netloop::MetricsSnapshot;
    /// let (mut a, mut b) = (MetricsSnapshot::default(), MetricsSnapshot::default());
    /// a.accepted = 2;
    /// b.accepted = 3;
    /// assert_eq!(MetricsSnapshot::sum([&a, &b]).accepted, 5);
    /// ```
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a MetricsSnapshot>) -> MetricsSnapshot {
        let mut total = MetricsSnapshot::default();
        for m in all {
            total.merge(m);
        }
        total
    }

    /// Mean time per timed callback (zero if none was timed).
    pub fn mean_callback_time(&self) -> std::time::Duration {
        match self.callbacks_timed {
            0 => std::time::Duration::ZERO,
            n => std::time::Duration::from_nanos(self.callback_nanos / n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::connect::ConnectErrorKind;

    #[test]
    fn each_close_reason_is_counted_under_its_own_label() {
        let reasons = [
            CloseReason::Local,
            CloseReason::PeerClosed,
            CloseReason::Lingered,
            CloseReason::LingerTimeout,
            CloseReason::Reset,
            CloseReason::Aborted,
            CloseReason::Overflow,
            CloseReason::IdleTimeout,
            CloseReason::WriteStall,
            CloseReason::KeepaliveTimeout,
            CloseReason::UserTimeout,
            CloseReason::ConnectFailed(ConnectErrorKind::Refused),
            CloseReason::Panicked,
            CloseReason::Shutdown,
            CloseReason::Error(std::io::ErrorKind::Other),
            CloseReason::InputFull,
        ];
        let metrics = Metrics::default();
        for (n, reason) in reasons.iter().enumerate() {
            let label = REASON_LABELS[reason_index(*reason)];
            assert!(
                format!("{reason:?}").starts_with(label),
                "{reason:?} as {label}"
            );
            for _ in 0..=n {
                metrics.count_close(*reason);
            }
        }
        let shown = format!("{:?}", metrics.snapshot());
        assert!(shown.contains("\"Reset\": 5"), "{shown}");
        assert!(shown.contains("\"InputFull\": 16"), "{shown}");
    }
}
