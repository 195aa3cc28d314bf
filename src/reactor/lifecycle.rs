//! The lifecycle's transitions, carried out by the loop, all in this file:
//! one function per transition of [`ConnState`] (see its diagram in
//! `conn::state`), from the handshake's outcome and the closes to the
//! waits of a reconnecting connection, and `close_now`, the only way into
//! `Closed` and the only caller of `on_close`. Transitions run between
//! callbacks, never inside one: callbacks record an `Intent`, applied by
//! `apply_pending` after they return.

use std::io;
use std::os::fd::AsRawFd;

use mio::net::TcpStream;
use socket2::SockRef;

use crate::conn::close::{CloseReason, Failure, LingerOutcome, classify};
use crate::conn::connect::{
    ConnectError, ConnectErrorKind, begin_connect, jitter_sample, new_socket,
};
use crate::conn::state::{ConnState, linger_millis, pending_error_or};
use crate::conn::{Flags, Intent, Origin, Patience};
use crate::reactor::core::Core;
use crate::reactor::schedule::TimerTask;
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

    /// The lingering close's flush reached its deadline: a flush that made
    /// progress within the last patience goes on (a slow reader that
    /// keeps reading gets everything); one that made none is reset.
    pub(crate) fn linger_flush_checked(&mut self, state: &mut S, slot: usize) {
        let now = self.clock.now();
        // Room may have freed up without an event (see the module doc).
        self.flush(state, slot);
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.state != ConnState::LingerFlushing {
            return;
        }
        let resume = conn.last_write.saturating_add(conn.linger.millis());
        if now < resume {
            let timer = self
                .timers
                .insert(resume, None, TimerTask::Deadline(conn.id));
            return self.replace_deadline_timer(slot, timer);
        }
        self.linger_expired(state, slot);
    }

    /// Connecting → Open: cancel the timeout, run `on_open`, send what was
    /// queued meanwhile.
    pub(crate) fn connected(&mut self, state: &mut S, slot: usize) {
        self.cancel_deadline_timer(slot);
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        conn.state = ConnState::Open;
        let mut parked = None;
        if let Origin::Outbound(Some(o)) = &mut conn.origin {
            o.attempt = 0;
            parked = o.parked.take();
            o.tell(Ok(()));
        }
        if let Some(intent) = parked {
            // Applied right after on_open, before the queue is flushed
            // below, so the FIN follows the queued bytes.
            conn.request(intent);
        }
        // The idle and write-stall clocks start now, not at the connect call.
        conn.last_read = self.clock.now();
        conn.last_write = conn.last_read;
        self.metrics.connected.bump(1);
        self.arm_idle_timer(slot);
        self.opened(state, slot);
        if let Some(conn) = conn_at!(self, slot) {
            if conn.state.flushes() && !conn.send.is_empty() {
                self.flush(state, slot);
            } else if conn.send.is_empty() && conn.flags.take(Flags::WRITE_INTEREST) {
                let token = conn.id.0.token();
                if let Err(e) =
                    self.registry
                        .reregister(&mut conn.stream, token, mio::Interest::READABLE)
                {
                    self.fail(state, slot, e);
                }
            }
        }
    }

    /// Keeps a close, shutdown or lingering close asked for while
    /// connecting, to apply once connected (the strongest one wins).
    pub(crate) fn park_until_connected(&mut self, slot: usize, intent: Intent) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if let Origin::Outbound(Some(o)) = &mut conn.origin {
            if o.parked.as_ref().is_none_or(|p| intent.rank() > p.rank()) {
                o.parked = Some(intent);
            }
        }
    }

    /// The connect timeout fired while still connecting.
    pub(crate) fn connect_timed_out(&mut self, state: &mut S, slot: usize) {
        self.connect_failed_with(state, slot, ConnectErrorKind::TimedOut, None);
    }

    pub(crate) fn connect_failed(&mut self, state: &mut S, slot: usize, err: io::Error) {
        let kind = ConnectErrorKind::of(&err);
        self.connect_failed_with(state, slot, kind, Some(err));
    }

    /// Connecting → Closed: `on_connect_error`, then `on_close`.
    pub(crate) fn connect_failed_with(
        &mut self,
        state: &mut S,
        slot: usize,
        kind: ConnectErrorKind,
        source: Option<io::Error>,
    ) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let addr = match &mut conn.origin {
            Origin::Outbound(Some(o)) => {
                o.tell(Err(kind));
                o.addr
            }
            _ => conn
                .stream
                .peer_addr()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()),
        };
        log::debug!("{}: connect to {addr} failed: {kind}", conn.id);
        let error = ConnectError { kind, addr, source };
        self.dispatch(state, slot, |h, ctx| h.on_connect_error(ctx, &error));
        self.close_now(state, slot, CloseReason::ConnectFailed(kind));
    }

    /// Instead of closing, whether the connection in `slot` (ending for
    /// `reason`) waits to reconnect: an outbound connection with a
    /// reconnect policy that nobody ended on purpose, while the reactor
    /// runs. It keeps its id, handler, statistics and a fresh socket;
    /// `on_disconnect` tells an established one, and the next attempt
    /// starts after the backoff's delay.
    pub(crate) fn reconnect_instead(
        &mut self,
        state: &mut S,
        slot: usize,
        reason: CloseReason,
    ) -> bool {
        if self.shutting_down || self.stopping || reason == CloseReason::Panicked {
            return false;
        }
        let Some(conn) = conn_at!(self, slot) else {
            return false;
        };
        if conn.flags.has(Flags::NO_RECONNECT) {
            return false;
        }
        let id = conn.id;
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return false;
        };
        if o.opts.reconnect.is_none() {
            return false;
        }
        let socket = match new_socket(o.addr, &o.opts) {
            Ok(socket) => TcpStream::from_std(socket.into()),
            Err(e) => {
                log::warn!("{id}: cannot reconnect to {}: {e}; closing", o.addr);
                return false;
            }
        };
        o.parked = None;
        o.epoch = o.epoch.wrapping_add(1);
        let was_open = conn.state != ConnState::Connecting;
        self.release_attempt(slot, socket);
        self.metrics.disconnects.bump(1);
        log::debug!("{id}: disconnected ({reason}); reconnecting");
        if was_open {
            self.dispatch(state, slot, |h, ctx| h.on_disconnect(ctx, reason));
        }
        let Some(conn) = conn_at!(self, slot) else {
            return true;
        };
        if conn.flags.has(Flags::NO_RECONNECT) {
            // `stop_reconnecting` in `on_disconnect`: this was the last one.
            conn.pending = None;
            self.close_now(state, slot, reason);
        } else if conn.pending.is_some() {
            // A close in `on_disconnect` ends it now.
            self.apply_pending(state, slot);
        } else {
            self.schedule_reconnect(slot);
        }
        true
    }

    /// Ends one attempt of a reconnecting connection: its socket is closed
    /// (replaced by `fresh`, not yet connected), its queue, input, timers
    /// and readiness dropped; the connection waits in `Reconnecting`.
    fn release_attempt(&mut self, slot: usize, fresh: TcpStream) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let mut old = std::mem::replace(&mut conn.stream, fresh);
        conn.fd = conn.stream.as_raw_fd();
        // Dropping the old stream closes it (and takes it out of epoll);
        // events of it already returned this turn find the connection in
        // `Reconnecting` and are ignored.
        let _ = self.registry.deregister(&mut old);
        drop(old);
        conn.state = ConnState::Reconnecting;
        conn.pending = None;
        conn.send.clear();
        conn.flags = conn.flags.masked(Flags::QUEUED);
        let input = std::mem::take(&mut conn.input);
        let timers = [
            conn.idle_timer.take(),
            conn.stall_timer.take(),
            conn.deadline_timer.take(),
        ];
        for t in timers.into_iter().flatten() {
            self.timers.cancel(t);
        }
        self.recycle_input_buf(input);
    }

    /// Schedules the next attempt after the backoff's delay for the number
    /// of attempts that failed in a row.
    fn schedule_reconnect(&mut self, slot: usize) {
        let now = self.clock.now();
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let id = conn.id;
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return;
        };
        let Some(backoff) = o.opts.reconnect else {
            return;
        };
        let delay = backoff.delay(o.attempt, jitter_sample(now ^ id.as_u64()));
        o.attempt = o.attempt.saturating_add(1);
        let deadline = self.clock.after(delay);
        let timer = self.timers.insert(deadline, None, TimerTask::Reconnect(id));
        conn.deadline_timer = Some(timer);
    }

    /// The reconnect timer fired: the next attempt, on the socket made
    /// when the last one ended, with the same id and handler.
    pub(crate) fn reconnect(&mut self, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if conn.state != ConnState::Reconnecting {
            return;
        }
        conn.deadline_timer = None;
        let Origin::Outbound(Some(o)) = &conn.origin else {
            return;
        };
        let (timeout, addr) = (o.opts.timeout, o.addr);
        let early = begin_connect(SockRef::from(&conn.stream), addr, o.opts.bind);
        conn.state = ConnState::Connecting;
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let early = match self
            .registry
            .register(&mut conn.stream, conn.id.0.token(), interest)
        {
            Ok(()) => early,
            Err(e) => Some(e),
        };
        conn.flags.insert(Flags::WRITE_INTEREST);
        log::debug!("{}: reconnecting to {addr}", conn.id);
        self.attempt_started(slot, early, timeout);
    }
}
