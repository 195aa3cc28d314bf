//! Outbound connections: non-blocking connect, classified failures, a
//! user-space connect timeout and an optional reconnect policy.
//!
//! Completion follows mio's recipe: wait for a writable event, then
//! `take_error()` (a failed handshake) and `peer_addr()` (`ENOTCONN` means
//! the event was spurious: keep waiting). Without a user timeout a SYN that
//! gets no answer fails only after the kernel's ~127 s of retries, so
//! [`ConnectOptions::timeout`] defaults to 10 s.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use std::time::Duration;

use mio::net::TcpStream;
use socket2::SockRef;

use crate::conn::close::CloseReason;
use crate::conn::connect::{
    ConnectError, ConnectErrorKind, ConnectOptions, Outbound, Waiter, begin_connect, jitter_sample,
    new_socket, start_connect,
};

use crate::conn::state::ConnState;
use crate::conn::{Flags, Intent, Origin};
use crate::reactor::core::Core;
use crate::reactor::handler::Handler;
use crate::reactor::schedule::TimerTask;
use crate::token::ConnId;

impl<S: 'static> Core<S> {
    /// Starts connecting. Failures after the socket exists (refused,
    /// unreachable, timeout, ...) are reported to the handler through
    /// `on_connect_error` and `on_close`; only failing to create a socket
    /// at all (e.g. `EMFILE`) is returned here.
    pub(crate) fn connect(
        &mut self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: Box<dyn Handler<S>>,
        waiter: Option<Waiter>,
    ) -> io::Result<ConnId> {
        let started = start_connect(addr, &opts)?;
        let outbound = Box::new(Outbound {
            addr,
            opts,
            attempt: 0,
            parked: None,
            epoch: 0,
            waiter,
        });
        self.add_outbound(started, outbound, handler)
    }

    /// Puts a socket whose connect has started in the slab, with its
    /// connect timeout (or its immediate failure, reported from the loop).
    fn add_outbound(
        &mut self,
        (stream, early): (TcpStream, Option<io::Error>),
        outbound: Box<Outbound>,
        handler: Box<dyn Handler<S>>,
    ) -> io::Result<ConnId> {
        let conn_opts = Rc::new(outbound.opts.conn.clone());
        let timeout = outbound.opts.timeout;
        let origin = Origin::Outbound(Some(outbound));
        let slot = self.add_conn(stream, ConnState::Connecting, conn_opts, handler, origin)?;
        let id = self.conn(slot).map(|c| c.id).expect("just added");
        self.attempt_started(slot, early, timeout);
        Ok(id)
    }

    /// A connect attempt is under way: arm its timeout, or report its
    /// immediate failure from the loop, like any other failure.
    fn attempt_started(
        &mut self,
        slot: usize,
        early: Option<io::Error>,
        timeout: Option<Duration>,
    ) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        let id = conn.id;
        if let Some(e) = early {
            conn.request(Intent::Fail(crate::conn::write::errno(&e)));
            self.enqueue(slot);
        } else if let Some(timeout) = timeout {
            let deadline = self.clock.after(timeout);
            let timer = self.timers.insert(deadline, None, TimerTask::Deadline(id));
            self.replace_deadline_timer(slot, timer);
        }
    }

    /// A writable or error event on a connecting socket.
    pub(crate) fn finish_connect(&mut self, state: &mut S, slot: usize) {
        let Some(conn) = conn_at!(self, slot) else {
            return;
        };
        if !conn.flags.has(Flags::WRITABLE) && !conn.flags.has(Flags::HANGUP_HINT) {
            return;
        }
        match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => return self.connect_failed(state, slot, e),
            Ok(None) => {}
        }
        match conn.stream.peer_addr() {
            Ok(peer) => {
                if conn.stream.local_addr().is_ok_and(|local| local == peer) {
                    return self.connect_failed_with(
                        state,
                        slot,
                        ConnectErrorKind::SelfConnect,
                        None,
                    );
                }
            }
            // Spurious wake-up: the handshake is still under way.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                conn.flags.remove(Flags::WRITABLE | Flags::HANGUP_HINT);
                return;
            }
            Err(e) => return self.connect_failed(state, slot, e),
        }
        self.connected(state, slot);
    }

    /// Connecting → Open: cancel the timeout, run `on_open`, send what was
    /// queued meanwhile.
    fn connected(&mut self, state: &mut S, slot: usize) {
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
    fn connect_failed_with(
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
