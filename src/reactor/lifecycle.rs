//! The lifecycle's transitions, carried out by the loop: one function per
//! transition of [`ConnState`] (see its diagram in `conn::state`), and
//! `close_now`, the only way into `Closed` and the only caller of
//! `on_close`. Transitions run between callbacks, never inside one:
//! callbacks record an `Intent`, applied by `apply_pending` after they
//! return.

use std::io;

use crate::conn::close::{CloseReason, Failure, LingerOutcome, classify};
use crate::conn::state::{ConnState, linger_millis, pending_error_or};
use crate::conn::{Flags, Intent, Origin, Patience};
use crate::reactor::core::Core;
use crate::sys;

impl<S: 'static> Core<S> {
    /// Applies what callbacks asked (intents) and delivers due
    /// notifications, until nothing is left. Runs only between callbacks.
    #[inline]
    pub(crate) fn apply_pending(&mut self, state: &mut S, slot: usize) {
        // Most callbacks ask for nothing: check that without a call.
        if self.conn(slot).is_some_and(|c| c.has_work()) {
            self.apply_pending_work(state, slot);
        }
    }

    fn apply_pending_work(&mut self, state: &mut S, slot: usize) {
        // Each round either applies an intent or runs one notification;
        // a handler that keeps asking for more gets the rest next turn.
        for _ in 0..32 {
            let Some(conn) = self.conn_mut(slot) else {
                return;
            };
            if conn.state == ConnState::Closed {
                conn.pending = None;
                conn.flags.remove(Flags::NOTIFICATIONS);
                return;
            }
            if let Some(intent) = conn.pending.take() {
                self.apply_intent(state, slot, intent);
            } else if conn.flags.take(Flags::NOTIFY_HIGH) {
                let queued = conn.send.len();
                self.dispatch(state, slot, |h, ctx| h.on_high_water(ctx, queued));
            } else if conn.flags.take(Flags::NOTIFY_DRAIN) {
                self.dispatch(state, slot, |h, ctx| h.on_drain(ctx));
            } else if conn.flags.take(Flags::NOTIFY_SHUTDOWN) {
                self.dispatch(state, slot, |h, ctx| h.on_shutdown(ctx));
            } else {
                return;
            }
        }
        self.enqueue(slot);
    }

    fn apply_intent(&mut self, state: &mut S, slot: usize, intent: Intent) {
        if let Some(conn) = conn_at!(self, slot).filter(|c| c.state == ConnState::Reconnecting) {
            // Between attempts any close verb is the last word.
            conn.flags.insert(Flags::NO_RECONNECT);
            let reason = match intent {
                Intent::Abort(reason) | Intent::Close(reason) => reason,
                _ => CloseReason::Local,
            };
            return self.close_now(state, slot, reason);
        }
        match intent {
            Intent::ShutdownWrite => self.start_shutdown_write(state, slot),
            Intent::Close(reason) => self.start_close(state, slot, reason),
            Intent::Linger(ms) => self.start_linger(state, slot, ms, CloseReason::Lingered),
            Intent::Abort(reason) => self.abort(state, slot, reason),
            Intent::Fail(errno) => self.fail(state, slot, io::Error::from_raw_os_error(errno)),
        }
    }

    /// Open/WriteClosing/WriteClosed/linger states → the peer's FIN was read.
    pub(crate) fn peer_finished(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        conn.flags.insert(Flags::EOF_SEEN);
        conn.flags.remove(Flags::READABLE);
        match conn.state {
            ConnState::Open => {
                conn.state = ConnState::ReadClosed;
                self.dispatch(state, slot, |h, ctx| h.on_eof(ctx));
            }
            ConnState::WriteClosing => {
                self.dispatch(state, slot, |h, ctx| h.on_eof(ctx));
            }
            ConnState::WriteClosed => {
                self.dispatch(state, slot, |h, ctx| h.on_eof(ctx));
                self.close_now(state, slot, CloseReason::PeerClosed);
            }
            ConnState::Lingering => self.linger_completed(state, slot),
            // LingerFlushing: completes once the flush is done.
            _ => {}
        }
    }

    /// `shutdown_write()`: flush, then `SHUT_WR`.
    fn start_shutdown_write(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        conn.ended_on_purpose();
        match conn.state {
            ConnState::Open | ConnState::ReadClosed => conn.state = ConnState::WriteClosing,
            // The FIN goes out after the handshake and what was queued.
            ConnState::Connecting => return self.park_until_connected(slot, Intent::ShutdownWrite),
            _ => return,
        }
        if conn.send.is_empty() {
            self.write_side_flushed(state, slot);
        }
    }

    /// `close()` (and the loop's own closes): flush, then close. A close
    /// whose reason is the handler's (or a full input buffer) lingers, so
    /// that input arriving meanwhile never turns the close into an RST; the
    /// loop's own closes (idle timeout, shutdown deadline) and connections
    /// without a `linger` option close once flushed.
    fn start_close(&mut self, state: &mut S, slot: usize, reason: CloseReason) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if reason == CloseReason::Local {
            conn.ended_on_purpose();
        }
        if conn.state == ConnState::Connecting {
            if reason == CloseReason::Local && !conn.send.is_empty() {
                // Bytes sent while connecting are delivered first.
                return self.park_until_connected(slot, Intent::Close(reason));
            }
            // Nothing to deliver: the attempt is abandoned.
            return self.close_now(state, slot, reason);
        }
        if conn.state.is_closing() {
            return;
        }
        let reason = if reason == CloseReason::Local && conn.flags.has(Flags::EOF_SEEN) {
            CloseReason::PeerClosed
        } else {
            reason
        };
        if let Some(ms) = linger_millis(reason, conn.opts.linger) {
            return self.start_linger(state, slot, ms, reason);
        }
        conn.state = ConnState::Closing;
        conn.closing_reason = reason;
        if conn.send.is_empty() {
            self.close_now(state, slot, reason);
        }
    }

    /// Lingering close (`linger_close`, and `close()` by default): flush
    /// while discarding input, `SHUT_WR`, discard until the peer's FIN, then
    /// close with `reason`. The deadline, `ms`, bounds a flush that makes no
    /// progress and then the wait for the peer's FIN; past it, RST.
    fn start_linger(&mut self, state: &mut S, slot: usize, ms: u32, reason: CloseReason) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if reason == CloseReason::Lingered {
            conn.ended_on_purpose();
        }
        match conn.state {
            ConnState::Connecting if !conn.send.is_empty() => {
                return self.park_until_connected(slot, Intent::Linger(ms));
            }
            ConnState::Connecting => return self.close_now(state, slot, CloseReason::Local),
            ConnState::Closed | ConnState::LingerFlushing | ConnState::Lingering => return,
            ConnState::WriteClosed => conn.state = ConnState::Lingering,
            _ => conn.state = ConnState::LingerFlushing,
        }
        conn.linger = Patience::from_millis(ms);
        conn.closing_reason = reason;
        // Input the handler left is of no use any more, and input must be
        // read (to be discarded) even if the handler had paused reading:
        // unread input would turn the close into an RST.
        conn.input.clear();
        conn.flags
            .remove(Flags::READ_PAUSED | Flags::INPUT_FULL | Flags::REDELIVER);
        let readable = conn.flags.has(Flags::READABLE);
        let eof = conn.flags.has(Flags::EOF_SEEN);
        if conn.state == ConnState::Lingering {
            if eof {
                return self.linger_completed(state, slot);
            }
            self.arm_linger_deadline(slot);
            // Data may already wait in the kernel: go and discard it.
            return self.mark_readable(slot);
        }
        if conn.send.is_empty() {
            return self.write_side_flushed(state, slot);
        }
        self.arm_linger_deadline(slot);
        if readable {
            self.enqueue(slot);
        }
    }

    /// The queue drained in a state that was waiting for it.
    pub(crate) fn write_side_flushed(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        match conn.state {
            ConnState::WriteClosing => {
                if conn.flags.has(Flags::EOF_SEEN) {
                    // Both directions are done: closing sends our FIN.
                    return self.close_now(state, slot, CloseReason::PeerClosed);
                }
                if let Err(e) = sys::shutdown_write(&conn.stream) {
                    let e = pending_error_or(&conn.stream, e);
                    return self.fail(state, slot, e);
                }
                conn.state = ConnState::WriteClosed;
                self.dispatch(state, slot, |h, ctx| h.on_half_close(ctx));
            }
            ConnState::Closing => {
                let reason = conn.closing_reason;
                self.close_now(state, slot, reason);
            }
            ConnState::LingerFlushing => {
                if conn.flags.has(Flags::EOF_SEEN) {
                    // The peer's FIN is read, so nothing unread is left:
                    // closing sends our FIN, never an RST.
                    return self.linger_completed(state, slot);
                }
                if let Err(e) = sys::shutdown_write(&conn.stream) {
                    let e = pending_error_or(&conn.stream, e);
                    return self.fail(state, slot, e);
                }
                conn.state = ConnState::Lingering;
                // The peer gets the whole deadline to answer our FIN.
                self.arm_linger_deadline(slot);
                self.mark_readable(slot);
            }
            _ => {}
        }
    }

    /// Lingering → the peer's FIN arrived in time.
    fn linger_completed(&mut self, state: &mut S, slot: usize) {
        self.cancel_deadline_timer(slot);
        let Some(reason) = self.conn(slot).map(|c| c.closing_reason) else {
            return;
        };
        if reason == CloseReason::Lingered {
            self.dispatch(state, slot, |h, ctx| {
                h.on_linger_close(ctx, LingerOutcome::Completed)
            });
        }
        self.close_now(state, slot, reason);
    }

    /// LingerFlushing/Lingering → the deadline passed: reset.
    pub(crate) fn linger_expired(&mut self, state: &mut S, slot: usize) {
        if self
            .conn(slot)
            .is_some_and(|c| c.closing_reason == CloseReason::Lingered)
        {
            self.dispatch(state, slot, |h, ctx| {
                h.on_linger_close(ctx, LingerOutcome::TimedOut)
            });
        }
        self.abort(state, slot, CloseReason::LingerTimeout);
    }

    /// Any state → Closed with RST (`SO_LINGER` 0, then close).
    pub(crate) fn abort(&mut self, state: &mut S, slot: usize, reason: CloseReason) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if conn.state == ConnState::Closed {
            return;
        }
        if reason == CloseReason::Aborted {
            conn.flags.insert(Flags::NO_RECONNECT);
        }
        if !matches!(conn.state, ConnState::Connecting | ConnState::Reconnecting) {
            // Best effort: if it fails the close below is a plain one.
            let _ = sys::set_abortive_close(&conn.stream);
        }
        self.close_now(state, slot, reason);
    }

    /// A read or send failed: classify the error and close.
    pub(crate) fn fail(&mut self, state: &mut S, slot: usize, err: io::Error) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if conn.state == ConnState::Connecting {
            return self.connect_failed(state, slot, err);
        }
        let reason = match classify(&err) {
            Failure::Reset => CloseReason::Reset,
            Failure::PeerDead => return self.peer_dead(state, slot, err),
            Failure::Other(kind) => {
                log::debug!("{}: socket error: {err}", conn.id);
                CloseReason::Error(kind)
            }
        };
        self.close_now(state, slot, reason);
    }

    /// The kernel gave up on the peer. With data unacknowledged it was the
    /// retransmission (user) timeout; otherwise keepalive probes failed.
    fn peer_dead(&mut self, state: &mut S, slot: usize, err: io::Error) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        let unacked = sys::unacked_bytes(&conn.stream).unwrap_or(0);
        let keepalive = conn.opts.keepalive.is_some();
        if unacked == 0 && keepalive {
            self.metrics.keepalive_failures.bump(1);
            self.dispatch(state, slot, |h, ctx| h.on_keepalive_failure(ctx, &err));
            self.close_now(state, slot, CloseReason::KeepaliveTimeout);
        } else if unacked > 0 || err.raw_os_error() == Some(libc::ETIMEDOUT) {
            self.close_now(state, slot, CloseReason::UserTimeout);
        } else {
            self.close_now(state, slot, CloseReason::Error(err.kind()));
        }
    }

    /// The one transition into Closed: releases buffers and timers, counts
    /// the close and calls `on_close` once. The slot is freed at the end of
    /// the turn. A connection with a reconnect policy that nobody ended on
    /// purpose goes to `Reconnecting` instead (see `reconnect_instead`).
    pub(crate) fn close_now(&mut self, state: &mut S, slot: usize, reason: CloseReason) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if conn.state == ConnState::Closed {
            return;
        }
        // A callback that ran just before this close (on_linger_close,
        // on_connect_error, on_keepalive_failure, ...) panicked, and the
        // abort it asked for had no turn to run: report the panic and reset,
        // as for a panic in any other callback.
        let reason = if matches!(conn.pending, Some(Intent::Abort(CloseReason::Panicked))) {
            if conn.state != ConnState::Connecting {
                let _ = sys::set_abortive_close(&conn.stream);
            }
            CloseReason::Panicked
        } else {
            reason
        };
        if self.reconnect_instead(state, slot, reason) {
            return;
        }
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        conn.state = ConnState::Closed;
        conn.pending = None;
        conn.send.clear();
        let input = std::mem::take(&mut conn.input);
        let timers = [
            conn.idle_timer.take(),
            conn.stall_timer.take(),
            conn.deadline_timer.take(),
        ];
        let listener = match conn.origin {
            Origin::Accepted(l) => Some(l),
            Origin::Outbound(_) => None,
        };
        let id = conn.id;
        for t in timers.into_iter().flatten() {
            self.timers.cancel(t);
        }
        self.recycle_input_buf(input);
        self.live_conns -= 1;
        self.metrics.open.set(self.live_conns as u64);
        self.metrics.count_close(reason);
        self.bury(slot);
        if let Some(l) = listener {
            self.listener_conn_closed(l);
        }
        log::trace!("{id}: closed ({reason})");
        self.dispatch(state, slot, |h, ctx| h.on_close(ctx, reason));
    }

    /// Records that the socket may have input and queues the connection.
    pub(crate) fn mark_readable(&mut self, slot: usize) {
        if let Some(conn) = self.conn_mut(slot) {
            conn.flags.insert(Flags::READABLE);
            self.enqueue(slot);
        }
    }
}
