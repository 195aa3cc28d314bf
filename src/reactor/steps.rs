//! Carries out a connection's transitions: the connection decides
//! (`conn::lifecycle` returns a [`Next`]); the loop runs the callbacks, arms
//! and cancels the timers, talks to the poller and counts. Here too is
//! `close_now`, the only way into `Closed` and the only caller of
//! `on_close`. Transitions run between callbacks, never inside one:
//! callbacks record an `Intent`, applied by `apply_pending` after they
//! return.

use std::io;

use socket2::SockRef;

use crate::conn::close::{CloseReason, Failure, LingerOutcome, classify};
use crate::conn::connect::{
    ConnectError, ConnectErrorKind, begin_connect, into_stream, jitter_sample, new_socket,
};
use crate::conn::lifecycle::{Next, Released};
use crate::conn::state::ConnState;
use crate::conn::stream::Stream;
use crate::conn::{Flags, Intent, Origin};
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

    /// Whether a shutdown's `on_shutdown` must wait: while a connection is
    /// still connecting (an outbound connect in flight, a TLS handshake)
    /// it comes after `on_open`, once the connection is up. One that never
    /// gets there is closed by its connect timeout or the shutdown's
    /// deadline, with `on_close` and no `on_shutdown`.
    fn shutdown_waits(&self, slot: usize) -> bool {
        self.conn(slot)
            .is_some_and(|c| c.state() == ConnState::Connecting)
    }

    fn apply_pending_work(&mut self, state: &mut S, slot: usize) {
        // Each round either applies an intent or runs one notification;
        // a handler that keeps asking for more gets the rest next turn.
        for _ in 0..32 {
            let Some(conn) = self.conn_mut(slot) else {
                return;
            };
            if conn.state() == ConnState::Closed {
                conn.pending = None;
                conn.flags.remove(Flags::NOTIFICATIONS);
                conn.flags.remove(Flags::CORKED);
                conn.marks.set_corked(false);
                return;
            }
            if conn.flags.has(Flags::CORKED) {
                // Before a close the callback asked for: its sends go first.
                self.lift_cork(slot);
            } else if let Some(intent) = conn.pending.take() {
                self.apply_intent(state, slot, intent);
            } else if conn.flags.take(Flags::NOTIFY_HIGH) {
                let queued = conn.send.len();
                self.dispatch(state, slot, |h, ctx| h.on_high_water(ctx, queued));
            } else if conn.flags.take(Flags::NOTIFY_DRAIN) {
                self.dispatch(state, slot, |h, ctx| h.on_drain(ctx));
            } else if conn.flags.has(Flags::NOTIFY_SHUTDOWN) && !self.shutdown_waits(slot) {
                if let Some(conn) = self.conn_mut(slot) {
                    conn.flags.remove(Flags::NOTIFY_SHUTDOWN);
                }
                self.dispatch(state, slot, |h, ctx| h.on_shutdown(ctx));
            } else {
                return;
            }
        }
        self.enqueue(slot);
    }

    fn apply_intent(&mut self, state: &mut S, slot: usize, intent: Intent) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if let Some(reason) = conn.ends_between_attempts(intent) {
            return self.close_now(state, slot, reason);
        }
        #[cfg(feature = "tls")]
        if matches!(
            intent,
            Intent::ShutdownWrite | Intent::Close(_) | Intent::Linger(_)
        ) {
            // close_notify goes ahead of the FIN.
            self.tls_close_notify(slot);
        }
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let next = match intent {
            Intent::ShutdownWrite => conn.start_shutdown_write(),
            Intent::Close(reason) => conn.start_close(reason),
            Intent::Linger(patience) => conn.start_linger(patience, CloseReason::Lingered),
            Intent::Abort(reason) => return self.abort(state, slot, reason),
            Intent::Fail(errno) => Next::Fail(io::Error::from_raw_os_error(errno.into())),
        };
        self.follow(state, slot, next);
    }

    /// Carries out what a transition of the connection in `slot` returned.
    pub(crate) fn follow(&mut self, state: &mut S, slot: usize, next: Next) {
        match next {
            Next::Done => {}
            Next::Close(reason) => self.close_now(state, slot, reason),
            Next::Fail(e) => self.fail(state, slot, e),
            Next::Flushed => self.write_side_flushed(state, slot),
            Next::Eof => {
                self.dispatch(state, slot, |h, ctx| h.on_eof(ctx));
            }
            Next::EofThenClose => {
                self.dispatch(state, slot, |h, ctx| h.on_eof(ctx));
                self.close_now(state, slot, CloseReason::PeerClosed);
            }
            Next::HalfClosed => {
                self.dispatch(state, slot, |h, ctx| h.on_half_close(ctx));
            }
            Next::LingerFlush => {
                self.arm_linger_deadline(slot);
                if self
                    .conn(slot)
                    .is_some_and(|c| c.flags.has(Flags::READABLE))
                {
                    self.enqueue(slot);
                }
            }
            Next::LingerWait => {
                self.arm_linger_deadline(slot);
                // Data may already wait in the kernel: go and discard it.
                self.mark_readable(slot);
            }
            Next::LingerDone(reason) => self.linger_completed(state, slot, reason),
        }
    }

    /// The peer's FIN was read.
    pub(crate) fn peer_finished(&mut self, state: &mut S, slot: usize) {
        if let Some(conn) = conn_at!(self, slot) {
            let next = conn.peer_finished();
            self.follow(state, slot, next);
        }
    }

    /// The queue drained in a state that was waiting for it.
    pub(crate) fn write_side_flushed(&mut self, state: &mut S, slot: usize) {
        if let Some(conn) = conn_at!(self, slot) {
            let next = conn.write_side_flushed();
            self.follow(state, slot, next);
        }
    }

    /// Lingering → the peer's FIN arrived in time.
    fn linger_completed(&mut self, state: &mut S, slot: usize, reason: CloseReason) {
        self.cancel_deadline_timer(slot);
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
            .is_some_and(|c| c.lingering_reason() == Some(CloseReason::Lingered))
        {
            self.dispatch(state, slot, |h, ctx| {
                h.on_linger_close(ctx, LingerOutcome::TimedOut)
            });
        }
        self.abort(state, slot, CloseReason::LingerTimeout);
    }

    /// Any state → Closed with RST (`SO_LINGER` 0, then close).
    pub(crate) fn abort(&mut self, state: &mut S, slot: usize, reason: CloseReason) {
        if conn_at!(self, slot).is_some_and(|c| c.start_abort(reason)) {
            self.close_now(state, slot, reason);
        }
    }

    /// A read or send failed: classify the error and close.
    pub(crate) fn fail(&mut self, state: &mut S, slot: usize, err: io::Error) {
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        if conn.state() == ConnState::Connecting && matches!(conn.origin, Origin::Outbound(_)) {
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
        if conn.state() == ConnState::Closed {
            return;
        }
        let reason = conn.final_reason(reason);
        if self.reconnect_instead(state, slot, reason) {
            return;
        }
        let Some(conn) = self.conn_mut(slot) else {
            return;
        };
        let released = conn.enter_closed();
        let listener = match conn.origin {
            Origin::Accepted(l) => Some(l),
            Origin::Outbound(_) => None,
        };
        let id = conn.id;
        self.reclaim(released);
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

    /// Takes back what a connection released: its timers are cancelled and
    /// its input buffer goes back to the pool.
    fn reclaim(&mut self, released: Released) {
        for t in released.timers.into_iter().flatten() {
            self.timers.cancel(t);
        }
        self.recycle_input_buf(released.input);
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
        if conn.state() != ConnState::LingerFlushing {
            return;
        }
        let patience = conn.linger_patience().unwrap_or(0);
        let resume = conn.last_write.saturating_add(patience);
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
        #[cfg(feature = "tls")]
        if self.tls_client_starts(slot) {
            // Open once the TLS handshake completes.
            return;
        }
        self.cancel_deadline_timer(slot);
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if let Some(intent) = conn.enter_open() {
            // Applied right after on_open, before the queue is flushed
            // below, so the FIN follows the queued bytes.
            conn.request(intent);
        }
        // The idle and write-stall clocks start now, not at the connect call.
        conn.last_read = self.clock.now();
        conn.last_write = conn.last_read;
        if let Origin::Outbound(_) = conn.origin {
            self.metrics.connected.bump(1);
        }
        self.arm_idle_timer(slot);
        self.opened(state, slot);
        if let Some(conn) = conn_at!(self, slot) {
            if conn.state().flushes() && !conn.send.is_empty() {
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

    /// The connect timeout fired while still connecting.
    pub(crate) fn connect_timed_out(&mut self, state: &mut S, slot: usize) {
        #[cfg(feature = "tls")]
        if self.tls_handshaking(slot) {
            return self.tls_handshake_timed_out(state, slot);
        }
        self.connect_failed_with(state, slot, ConnectErrorKind::TimedOut, None);
    }

    pub(crate) fn connect_failed(&mut self, state: &mut S, slot: usize, err: io::Error) {
        if self.try_next_address(slot) {
            // A name's next address: the handler hears of the last failure only.
            log::debug!("connect try failed: {err}; trying the next address");
            return;
        }
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
        let reason = CloseReason::ConnectFailed(kind);
        self.connect_failed_as(state, slot, kind, source, reason);
    }

    /// [`connect_failed_with`](Self::connect_failed_with), closing with
    /// `reason` (a TLS failure has its own).
    pub(crate) fn connect_failed_as(
        &mut self,
        state: &mut S,
        slot: usize,
        kind: ConnectErrorKind,
        source: Option<io::Error>,
        reason: CloseReason,
    ) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let (addr, unix_addr) = match &mut conn.origin {
            Origin::Outbound(Some(o)) => {
                o.tell(Err(kind));
                o.target.error_addrs()
            }
            _ => (
                conn.stream
                    .tcp_peer_addr()
                    .unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
                None,
            ),
        };
        match &unix_addr {
            Some(unix) => log::debug!("{}: connect to {unix} failed: {kind}", conn.id),
            None => log::debug!("{}: connect to {addr} failed: {kind}", conn.id),
        }
        let error = ConnectError {
            kind,
            addr,
            unix_addr,
            source,
        };
        self.dispatch(state, slot, |h, ctx| h.on_connect_error(ctx, &error));
        self.close_now(state, slot, reason);
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
        let id = conn.id;
        let Origin::Outbound(Some(o)) = &mut conn.origin else {
            return false;
        };
        if o.stop || o.opts.reconnect.is_none() {
            return false;
        }
        let socket = match new_socket(&o.target, &o.opts) {
            Ok(socket) => into_stream(socket, &o.target),
            Err(e) => {
                log::warn!("{id}: cannot reconnect to {}: {e}; closing", o.target);
                return false;
            }
        };
        let was_open = conn.state() != ConnState::Connecting;
        self.release_attempt(slot, socket);
        self.metrics.disconnects.bump(1);
        log::debug!("{id}: disconnected ({reason}); reconnecting");
        if was_open {
            self.dispatch(state, slot, |h, ctx| h.on_disconnect(ctx, reason));
        }
        let Some(conn) = conn_at!(self, slot) else {
            return true;
        };
        if matches!(&conn.origin, Origin::Outbound(Some(o)) if o.stop) {
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
    fn release_attempt(&mut self, slot: usize, fresh: Stream) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let (mut old, released) = conn.enter_reconnecting(fresh);
        // Dropping the old stream closes it (and takes it out of epoll);
        // events of it already returned this turn find the connection in
        // `Reconnecting` and are ignored.
        let _ = self.registry.deregister(&mut old);
        drop(old);
        self.reclaim(released);
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
        if conn.state() != ConnState::Reconnecting {
            return;
        }
        conn.deadline_timer = None;
        let Origin::Outbound(Some(o)) = &conn.origin else {
            return;
        };
        let (timeout, target, bind, by_name) = (
            o.opts.timeout,
            o.target.clone(),
            o.opts.bind,
            o.host().is_some(),
        );
        conn.enter_connecting();
        #[cfg(feature = "tls")]
        if let Err(e) = self.renew_tls(slot) {
            // (A configuration the first attempt accepted: not expected.)
            log::warn!("cannot start a TLS session: {e}");
            let reason = CloseReason::ConnectFailed(ConnectErrorKind::Tls);
            return self.request_abort(slot, reason);
        }
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if by_name {
            // The name is resolved again: its addresses may have changed.
            log::debug!("{}: reconnecting by name", conn.id);
            self.attempt_started(slot, None, timeout);
            return self.resolve(slot);
        }
        let early = begin_connect(SockRef::from(&conn.stream), &target, bind);
        log::debug!("{}: reconnecting to {target}", conn.id);
        self.attempt_started(slot, None, timeout);
        self.register_try(slot, early);
    }
}
