//! Idle, write-stall and deadline timers of a connection.
//!
//! The idle and stall timeouts are lazy: a read or a write only stores the
//! current tick (`last_read`, `last_write`); the one timer per connection
//! fires at the earliest possible deadline and, if traffic came since, is
//! put back to the real one. So pushing a timeout back costs nothing per
//! message: one store, no allocation, no heap operation.
//!
//! What counts:
//! - idle: time without input while input can arrive and we are reading.
//!   It does not run while the handler has paused reading: that silence is
//!   the handler's choice, and TCP flow control, not the peer, holds the
//!   bytes back. It does run while reading waits on a full input buffer
//!   (`max_input`), which the peer caused. After the peer's FIN no input can come, so
//!   the idle timeout no longer applies (the write-stall timeout still does).
//! - write stall: time without any queued byte reaching the kernel while
//!   bytes are queued on an established connection. Before declaring a
//!   stall the queue is offered to the kernel once more: `EPOLLOUT` comes
//!   only when the free send space is at least half of what the kernel
//!   holds queued (a third of the send buffer), not on any free space, so a
//!   slow but live reader may have made room that no event announced yet.

use crate::conn::close::CloseReason;
use crate::conn::state::ConnState;
use crate::conn::{Flags, Intent};
use crate::reactor::core::Core;
use crate::reactor::handler::Verdict;
use crate::reactor::schedule::TimerTask;
use crate::timer::{TimerId, ceil_millis};

impl<S: 'static> Core<S> {
    /// Starts the idle timer if the connection has an idle timeout.
    pub(crate) fn arm_idle_timer(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let (Some(idle), None) = (conn.opts.idle_timeout, conn.idle_timer) else {
            return;
        };
        if matches!(
            conn.state(),
            ConnState::Connecting | ConnState::Reconnecting
        ) {
            return;
        }
        let deadline = conn.last_read.saturating_add(ceil_millis(idle));
        conn.idle_timer = Some(self.timers.insert(deadline, None, TimerTask::Idle(conn.id)));
    }

    /// Starts the write-stall timer if the connection has a stall timeout.
    pub(crate) fn arm_stall_timer(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let (Some(stall), None) = (conn.opts.write_stall_timeout, conn.stall_timer) else {
            return;
        };
        let deadline = conn.last_write.saturating_add(ceil_millis(stall));
        conn.stall_timer = Some(
            self.timers
                .insert(deadline, None, TimerTask::Stall(conn.id)),
        );
    }

    /// Sets the connect-timeout or linger-deadline timer, cancelling the old one.
    pub(crate) fn replace_deadline_timer(&mut self, slot: usize, timer: TimerId) {
        self.cancel_deadline_timer(slot);
        if let Some(conn) = conn_at!(self, slot) {
            conn.deadline_timer = Some(timer);
        }
    }

    pub(crate) fn cancel_deadline_timer(&mut self, slot: usize) {
        if let Some(t) = conn_at!(self, slot).and_then(|c| c.deadline_timer.take()) {
            self.timers.cancel(t);
        }
    }

    /// The idle timer fired: close if nothing arrived for the whole timeout
    /// (unless the handler says keep), else wait for the real deadline.
    pub(crate) fn idle_timer_fired(&mut self, state: &mut S, slot: usize) {
        let now = self.clock.now();
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.idle_timer = None;
        let Some(idle) = conn.opts.idle_timeout else {
            return;
        };
        if !conn.state().delivers_input() || conn.peer_fin_seen() {
            // No more input can come (or we are closing): nothing to time.
            return;
        }
        if conn.flags.has(Flags::READ_PAUSED) {
            conn.last_read = now;
        }
        if now < conn.last_read.saturating_add(ceil_millis(idle)) {
            return self.arm_idle_timer(slot);
        }
        let mut verdict = Verdict::Close;
        self.dispatch(state, slot, |h, ctx| verdict = h.on_idle_timeout(ctx));
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        match verdict {
            Verdict::Close => conn.request(Intent::Close(CloseReason::IdleTimeout)),
            Verdict::Keep => conn.last_read = now,
        }
        self.arm_idle_timer(slot);
        self.apply_pending(state, slot);
    }

    /// The stall timer fired: abort if queued bytes did not move for the
    /// whole timeout (unless the handler says keep).
    pub(crate) fn stall_timer_fired(&mut self, state: &mut S, slot: usize) {
        let now = self.clock.now();
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.stall_timer = None;
        let Some(stall) = conn.opts.write_stall_timeout else {
            return;
        };
        if conn.send.is_empty() || conn.state() == ConnState::Closed {
            return;
        }
        if conn.state() == ConnState::Connecting {
            // The connect timeout bounds this; the stall clock starts once open.
            conn.last_write = now;
            return self.arm_stall_timer(slot);
        }
        let stall = ceil_millis(stall);
        if now < conn.last_write.saturating_add(stall) {
            return self.arm_stall_timer(slot);
        }
        if conn.state().flushes() {
            // Room may have freed up without an event: try once more.
            self.flush(state, slot);
        }
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.send.is_empty() || conn.state() == ConnState::Closed {
            return;
        }
        if now < conn.last_write.saturating_add(stall) {
            return self.arm_stall_timer(slot);
        }
        let mut verdict = Verdict::Close;
        self.dispatch(state, slot, |h, ctx| verdict = h.on_write_stall(ctx));
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        match verdict {
            Verdict::Close => conn.request(Intent::Abort(CloseReason::WriteStall)),
            Verdict::Keep => conn.last_write = now,
        }
        self.arm_stall_timer(slot);
        self.apply_pending(state, slot);
    }

    /// Sets the lingering close's deadline: its patience from now.
    pub(crate) fn arm_linger_deadline(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let patience = conn.linger_patience().unwrap_or(0);
        let deadline = self.clock.now().saturating_add(patience);
        let timer = self
            .timers
            .insert(deadline, None, TimerTask::Deadline(conn.id));
        self.replace_deadline_timer(slot, timer);
    }

    /// The connect timeout or linger deadline passed.
    pub(crate) fn deadline_fired(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.deadline_timer = None;
        match conn.state() {
            ConnState::Connecting => self.connect_timed_out(state, slot),
            ConnState::LingerFlushing => self.linger_flush_checked(state, slot),
            ConnState::Lingering => self.linger_expired(state, slot),
            _ => {}
        }
    }
}
