//! What callbacks get: [`Ctx`] for the connection at hand, [`ReactorCtx`] for
//! the loop as a whole, and [`ConnRef`] to act on any connection by id.
//!
//! A context borrows the reactor's core mutably for the length of one
//! callback, so a handler can act on other connections (pause a proxy's
//! other side, broadcast to a chat room) without `Rc<RefCell<..>>`: it names
//! them by [`ConnId`]. State changes it asks for are recorded and applied by
//! the loop after the callback returns; sends go to the kernel at once when
//! nothing is queued.

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::SocketAddr as UnixSocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::conn::close::CloseReason;
use crate::conn::connect::{ConnectOptions, Target};
use crate::conn::options::ConnOptions;
use crate::conn::state::ConnState;
use crate::conn::{ConnStats, Flags, Intent, Origin, Patience};
use crate::error::{Error, Result};
use crate::metrics::MetricsSnapshot;
use crate::reactor::core::{Core, Entry};
use crate::reactor::handler::Handler;
use crate::reactor::listener::ListenOptions;
use crate::reactor::schedule::TimerTask;
use crate::sys::{PeerCred, TcpInfo};
use crate::timer::{TimerId, ceil_millis};
use crate::token::{ConnId, ListenerId};
use crate::unix::UnixAddr;

/// The loop as seen from a callback, a posted closure or a reactor timer.
pub struct ReactorCtx<'a, S = ()> {
    pub(crate) core: &'a mut Core<S>,
    pub(crate) state: &'a mut S,
}

/// The context of one connection's callback: everything on it is about
/// this connection; [`Ctx::reactor`] gives the reactor as a whole.
pub struct Ctx<'a, S = ()> {
    pub(crate) rc: ReactorCtx<'a, S>,
    pub(crate) id: ConnId,
}

/// The reactor's connections, borrowed apart from its shared state
/// ([`ReactorCtx::split`]).
pub struct Conns<'c, S = ()> {
    core: &'c mut Core<S>,
}

impl<S: 'static> Conns<'_, S> {
    /// The connection `id`, to send to, pause, close, ...
    pub fn conn(&mut self, id: ConnId) -> ConnRef<'_, S> {
        ConnRef {
            core: self.core,
            id,
        }
    }

    /// Ids of all open connections.
    pub fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        open_ids(self.core)
    }
}

/// Ids of the open connections of `core`.
fn open_ids<S>(core: &Core<S>) -> impl Iterator<Item = ConnId> + '_ {
    core.entries.iter().filter_map(|(_, e)| match e {
        Entry::Conn(c) if c.state() != ConnState::Closed => Some(c.id),
        _ => None,
    })
}

/// Any connection of this reactor, named by id. Every operation on a closed
/// or unknown id returns [`Error::NoSuchConn`] (never panics).
pub struct ConnRef<'c, S = ()> {
    pub(crate) core: &'c mut Core<S>,
    pub(crate) id: ConnId,
}

impl<'a, S: 'static> ReactorCtx<'a, S> {
    pub(crate) fn new(core: &'a mut Core<S>, state: &'a mut S) -> Self {
        ReactorCtx { core, state }
    }

    /// The reactor's shared state (the `S` of `Reactor::with_state`).
    pub fn shared(&mut self) -> &mut S {
        self.state
    }

    /// The shared state and the connections at once, borrowed apart: a
    /// handler can walk a member list kept in the shared state and send to
    /// each member without copying the ids first.
    ///
    /// ```
    /// use netloop::{ConnId, Reactor};
    ///
    /// struct Room {
    ///     members: Vec<ConnId>,
    /// }
    ///
    /// let mut reactor = Reactor::with_state(Room { members: Vec::new() })?;
    /// let mut rc = reactor.ctx();
    /// let (room, mut conns) = rc.split();
    /// for &id in &room.members {
    ///     let _ = conns.conn(id).send(b"news\n");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn split(&mut self) -> (&mut S, Conns<'_, S>) {
        (self.state, Conns { core: self.core })
    }

    /// The loop's clock: when this turn's poll returned. Read once per
    /// turn and shared by every callback of the turn (like muduo's receive
    /// time), so a handler that stamps each message costs no clock read per
    /// message; it lags the wall clock by at most the time the turn has run.
    /// Between turns (through [`Reactor::ctx`](crate::Reactor::ctx)) it is
    /// the last turn's.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut reactor = netloop::Reactor::new()?;
    /// let before = Instant::now();
    /// reactor.turn(Some(Duration::from_millis(5)))?;
    /// let polled = reactor.ctx().now();
    /// assert!(polled >= before + Duration::from_millis(5));
    /// assert!(polled <= Instant::now());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn now(&self) -> Instant {
        self.core.clock.instant()
    }

    /// The connection `id`, to send to, pause, close, ...
    pub fn conn(&mut self, id: ConnId) -> ConnRef<'_, S> {
        ConnRef {
            core: self.core,
            id,
        }
    }

    /// Ids of all open connections (e.g. to broadcast).
    pub fn conn_ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        open_ids(self.core)
    }

    /// Number of open connections.
    pub fn conn_count(&self) -> usize {
        self.core.live_conns
    }

    /// Starts an outbound connection; see [`Reactor::connect`](crate::Reactor::connect).
    pub fn connect<H: Handler<S>>(
        &mut self,
        addr: SocketAddr,
        opts: ConnectOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core.connect(addr, opts, Box::new(handler), None)
    }

    /// Starts an outbound connection to a host name; see
    /// [`Reactor::connect_host`](crate::Reactor::connect_host).
    pub fn connect_host<H: Handler<S>>(
        &mut self,
        host: &str,
        port: u16,
        opts: ConnectOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        self.core
            .connect_host(host, port, opts, Box::new(handler), None)
    }

    /// Listens on `addr`; see [`Reactor::listen`](crate::Reactor::listen).
    pub fn listen<H, F>(
        &mut self,
        addr: SocketAddr,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.listen(addr, opts, factory)
    }

    /// Starts an outbound Unix domain connection; see
    /// [`Reactor::connect_unix`](crate::Reactor::connect_unix).
    pub fn connect_unix<H: Handler<S>>(
        &mut self,
        addr: impl Into<UnixAddr>,
        opts: ConnectOptions,
        handler: H,
    ) -> io::Result<ConnId> {
        let target = Target::Unix(addr.into());
        self.core.connect_to(target, opts, Box::new(handler), None)
    }

    /// Listens on a Unix domain socket; see
    /// [`Reactor::listen_unix`](crate::Reactor::listen_unix).
    pub fn listen_unix<H, F>(
        &mut self,
        addr: impl Into<UnixAddr>,
        opts: ListenOptions,
        factory: F,
    ) -> io::Result<ListenerId>
    where
        H: Handler<S>,
        F: FnMut() -> H + 'static,
    {
        self.core.listen_unix(&addr.into(), opts, factory)
    }

    /// The address a listener is bound to (useful with port 0). For a Unix
    /// listener: an `Unsupported` error (see
    /// [`unix_listener_addr`](Self::unix_listener_addr)).
    pub fn listener_addr(&self, id: ListenerId) -> io::Result<SocketAddr> {
        self.core.listener_addr(id)
    }

    /// The address a Unix listener is bound to.
    pub fn unix_listener_addr(&self, id: ListenerId) -> io::Result<UnixSocketAddr> {
        self.core.unix_listener_addr(id)
    }

    /// Stops accepting on a listener and closes its socket. Its open
    /// connections are not affected. Returns `false` for an unknown id.
    pub fn close_listener(&mut self, id: ListenerId) -> bool {
        self.core.close_listener(id)
    }

    /// Runs `f` on the loop once, after `delay` (never earlier; at
    /// millisecond resolution). Cancel with [`cancel_timer`](Self::cancel_timer).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut reactor = netloop::Reactor::new()?;
    /// let start = Instant::now();
    /// reactor.ctx().schedule(Duration::from_millis(20), |rc| rc.stop());
    /// reactor.run()?;
    /// assert!(start.elapsed() >= Duration::from_millis(20));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn schedule<F>(&mut self, delay: Duration, f: F) -> TimerId
    where
        F: FnOnce(&mut ReactorCtx<'_, S>) + 'static,
    {
        let mut f = Some(f);
        let task = TimerTask::Closure(Box::new(move |rc: &mut ReactorCtx<'_, S>| {
            if let Some(f) = f.take() {
                f(rc)
            }
        }));
        let deadline = self.core.clock.after(delay);
        self.core.timers.insert(deadline, None, task)
    }

    /// Runs `f` on the loop every `period` until the timer is cancelled
    /// (also from `f` itself). The rate is fixed: run `k` comes `k` periods
    /// after the call, or one period after the previous run if the loop
    /// fell behind (no burst of catch-up runs).
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// let mut reactor = netloop::Reactor::new()?;
    /// let runs = Rc::new(Cell::new(0));
    /// let seen = runs.clone();
    /// reactor.ctx().schedule_repeating(Duration::from_millis(5), move |rc| {
    ///     seen.set(seen.get() + 1);
    ///     if seen.get() == 3 {
    ///         rc.stop();
    ///     }
    /// });
    /// reactor.run()?;
    /// assert_eq!(runs.get(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn schedule_repeating<F>(&mut self, period: Duration, f: F) -> TimerId
    where
        F: FnMut(&mut ReactorCtx<'_, S>) + 'static,
    {
        let deadline = self.core.clock.after(period);
        let period = crate::timer::ceil_millis(period);
        self.core
            .timers
            .insert(deadline, Some(period), TimerTask::Closure(Box::new(f)))
    }

    /// Cancels a timer (reactor or connection): it will not fire again.
    /// Returns `true` if it was pending, or is a repeating timer (also one
    /// cancelled from its own callback); `false` if it already fired
    /// (one-shot) or was cancelled before.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut reactor = netloop::Reactor::new()?;
    /// let mut ctx = reactor.ctx();
    /// let id = ctx.schedule(Duration::from_secs(60), |_| unreachable!());
    /// assert!(ctx.cancel_timer(id));
    /// assert!(!ctx.cancel_timer(id));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.timers.cancel(id)
    }

    /// Ends the loop after this turn; open connections are aborted with
    /// [`CloseReason::Shutdown`] (each still gets its `on_close`).
    pub fn stop(&mut self) {
        self.core.stopping = true;
    }

    /// Starts a graceful shutdown: listeners close at once (connections
    /// already waiting in the accept queue of a listener bound here are
    /// accepted first, not reset), handlers get
    /// [`on_shutdown`](Handler::on_shutdown); after `grace`, connections
    /// with nothing queued are closed and the rest aborted. `run()` returns
    /// when the last connection is gone.
    pub fn shutdown(&mut self, grace: Duration) {
        self.core.begin_shutdown(grace);
    }

    /// The reactor's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.core.metrics_snapshot()
    }

    /// Switches callback timing on or off; see
    /// [`Reactor::set_callback_timing`](crate::Reactor::set_callback_timing).
    pub fn set_callback_timing(&mut self, on: bool) {
        self.core.time_callbacks = on;
    }
}

impl<'a, S: 'static> Ctx<'a, S> {
    pub(crate) fn new(core: &'a mut Core<S>, state: &'a mut S, id: ConnId) -> Self {
        Ctx {
            rc: ReactorCtx { core, state },
            id,
        }
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The reactor as a whole: its shared state, other connections,
    /// listeners, reactor timers, shutdown and metrics. (Everything on
    /// `Ctx` itself is about this connection.)
    pub fn reactor(&mut self) -> &mut ReactorCtx<'a, S> {
        &mut self.rc
    }

    /// The loop's clock ([`ReactorCtx::now`]), readable without `&mut`.
    pub fn now(&self) -> Instant {
        self.rc.now()
    }

    /// Cancels a timer of this connection (or any timer, see
    /// [`ReactorCtx::cancel_timer`]).
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.rc.cancel_timer(id)
    }

    /// This connection as a [`ConnRef`].
    pub fn this(&mut self) -> ConnRef<'_, S> {
        ConnRef {
            core: self.rc.core,
            id: self.id,
        }
    }

    /// Sends a copy of `data`: written to the kernel at once when nothing is
    /// queued, the rest (or all, if the socket is full) queued.
    ///
    /// Errors: [`Error::WriteClosed`] after close/shutdown,
    /// [`Error::QueueFull`] past the hard cap (nothing sent).
    #[inline]
    pub fn send(&mut self, data: &[u8]) -> Result<()> {
        self.rc.core.send_own_slice(self.id, data)
    }

    /// Sends `data` without copying it (what the kernel does not take is
    /// queued by reference).
    pub fn send_bytes(&mut self, data: Bytes) -> Result<()> {
        self.rc.core.send_own_shared(self.id, data)
    }

    /// Closes gracefully without losing what was sent: flushes the queue,
    /// shuts the write side (FIN), then reads and discards input until the
    /// peer's FIN, and closes. Input is no longer handed to the handler.
    /// This is a lingering close in user space (never kernel `SO_LINGER`,
    /// which would block the loop), with the
    /// [`linger`](crate::ConnOptions::linger) option's deadline (5 s by
    /// default): a flush that makes no progress for that long, or a peer
    /// that does not answer our FIN within it, is reset
    /// ([`CloseReason::LingerTimeout`]). Without it, input arriving while
    /// we close would make the kernel answer with an RST that can destroy
    /// replies the peer has not read yet.
    ///
    /// `on_close` then reports [`CloseReason::Local`], or
    /// [`CloseReason::PeerClosed`] if the peer's FIN came first (then there
    /// is nothing to wait for and the descriptor is freed once flushed).
    /// [`ConnOptions::close_at_once`](crate::ConnOptions::close_at_once)
    /// closes as soon as the queue is flushed instead.
    ///
    /// From this call on, [`send`](Ctx::send) fails with
    /// [`Error::WriteClosed`] and [`conn_state`](Ctx::conn_state) shows the
    /// close.
    pub fn close(&mut self) {
        let _ = self.this().close();
    }

    /// Flushes the queue, then shuts our write side (FIN);
    /// [`on_half_close`](Handler::on_half_close) follows. Reading goes on.
    /// From this call on, [`send`](Ctx::send) fails with [`Error::WriteClosed`].
    pub fn shutdown_write(&mut self) {
        let _ = self.this().shutdown_write();
    }

    /// Lingering close with its own deadline, reported through
    /// [`on_linger_close`](Handler::on_linger_close) and
    /// [`CloseReason::Lingered`]: flush (reading and discarding input),
    /// shut the write side, discard until the peer's FIN, then close. The
    /// connection is reset ([`CloseReason::LingerTimeout`]) if the flush
    /// makes no progress for `timeout`, or the peer's FIN does not come
    /// within `timeout` of ours. Never blocks the loop.
    pub fn linger_close(&mut self, timeout: Duration) {
        let _ = self.this().linger_close(timeout);
    }

    /// Drops the queue and resets the connection (RST) at once: the way to
    /// close without waiting for anything. A Unix domain socket has no
    /// reset: it is closed, and the peer reads end of stream (or
    /// `ECONNRESET` if we left its bytes unread).
    pub fn abort(&mut self) {
        let _ = self.this().abort();
    }

    /// Stops delivering input (TCP flow control then holds the peer back).
    pub fn pause_read(&mut self) {
        let _ = self.this().pause_read();
    }

    /// Resumes input: buffered input is handed to `on_read` again and data
    /// already waiting in the kernel is read without waiting for a new event.
    pub fn resume_read(&mut self) {
        let _ = self.this().resume_read();
    }

    /// This connection's options (its caps, marks and timeouts as set when
    /// it was accepted or connected; [`set_water_marks`](Ctx::set_water_marks)
    /// changes the marks in force without changing these).
    ///
    /// ```
    /// use netloop::bytes::BytesMut;
    /// use netloop::{Ctx, Handler};
    ///
    /// /// Length-prefixed frames; refuses a frame that could never fit.
    /// struct Frames;
    ///
    /// impl Handler for Frames {
    ///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         if input.len() >= 4 {
    ///             let len = u32::from_be_bytes([input[0], input[1], input[2], input[3]]);
    ///             if 4 + len as usize > ctx.options().max_input {
    ///                 ctx.close();
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    pub fn options(&self) -> &ConnOptions {
        let core = &self.rc.core;
        match core.slot_of(self.id).ok().and_then(|s| core.conn(s)) {
            Some(conn) => &conn.opts,
            // Not reached: a callback's own connection stays in the slab
            // until the end of the turn, even after `on_close`.
            None => {
                static DEFAULTS: LazyLock<ConnOptions> = LazyLock::new(ConnOptions::default);
                &DEFAULTS
            }
        }
    }

    /// Bytes queued in user space.
    pub fn queued(&self) -> usize {
        self.rc
            .core
            .slot_of(self.id)
            .ok()
            .and_then(|s| self.rc.core.conn(s))
            .map_or(0, |c| c.send.len())
    }

    /// This connection's lifecycle state.
    pub fn conn_state(&self) -> ConnState {
        self.rc
            .core
            .conn_state(self.id)
            .unwrap_or(ConnState::Closed)
    }

    /// Whether this connection was opened by `connect` (not accepted).
    pub fn is_outbound(&self) -> bool {
        let core = &self.rc.core;
        core.slot_of(self.id)
            .ok()
            .and_then(|s| core.conn(s))
            .is_some_and(|c| matches!(c.origin, Origin::Outbound(_)))
    }

    /// The listener that accepted this connection, if any.
    pub fn listener(&self) -> Option<ListenerId> {
        let core = &self.rc.core;
        match core
            .slot_of(self.id)
            .ok()
            .and_then(|s| core.conn(s))?
            .origin
        {
            Origin::Accepted(l) => Some(l),
            Origin::Outbound(_) => None,
        }
    }

    /// The peer's address. On a Unix domain connection:
    /// [`Error::Unsupported`] (see [`unix_peer_addr`](Ctx::unix_peer_addr)
    /// and [`peer_cred`](Ctx::peer_cred)).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.rc.core.with_conn(self.id, |c| c.stream.peer_addr())?
    }

    /// Our address. On a Unix domain connection: [`Error::Unsupported`]
    /// (see [`unix_local_addr`](Ctx::unix_local_addr)).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.rc.core.with_conn(self.id, |c| c.stream.local_addr())?
    }

    /// The peer's address on a Unix domain connection (often unnamed: a
    /// client that did not bind has none). On a TCP connection:
    /// [`Error::Unsupported`].
    pub fn unix_peer_addr(&self) -> Result<UnixSocketAddr> {
        self.rc
            .core
            .with_conn(self.id, |c| c.stream.unix_peer_addr())?
    }

    /// Our address on a Unix domain connection (an accepted one has its
    /// listener's path or name). On a TCP connection: [`Error::Unsupported`].
    pub fn unix_local_addr(&self) -> Result<UnixSocketAddr> {
        self.rc
            .core
            .with_conn(self.id, |c| c.stream.unix_local_addr())?
    }

    /// The credentials (pid, uid, gid) of the process at the other end of
    /// a Unix domain connection (`SO_PEERCRED`): who connected, for an
    /// accepted connection; who listens, for an outbound one. On a TCP
    /// connection: [`Error::Unsupported`].
    ///
    /// ```
    /// use netloop::bytes::BytesMut;
    /// use netloop::{Ctx, Handler};
    ///
    /// /// Serves only processes of the user running the server.
    /// struct SameUser {
    ///     uid: u32,
    /// }
    ///
    /// impl Handler for SameUser {
    ///     fn on_open(&mut self, ctx: &mut Ctx<'_>) {
    ///         if !ctx.peer_cred().is_ok_and(|cred| cred.uid == self.uid) {
    ///             ctx.abort();
    ///         }
    ///     }
    ///     fn on_read(&mut self, ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         let _ = ctx.send(input);
    ///         input.clear();
    ///     }
    /// }
    /// ```
    pub fn peer_cred(&self) -> Result<PeerCred> {
        self.rc.core.with_conn(self.id, |c| c.stream.peer_cred())?
    }

    /// Fires [`on_timer`](Handler::on_timer) once after `delay` (never
    /// earlier; at millisecond resolution). Timers of a closed connection
    /// never fire, nor those a reconnecting connection set before its
    /// last disconnect.
    pub fn set_timer(&mut self, delay: Duration) -> TimerId {
        self.set_timer_tagged(delay, 0)
    }

    /// [`set_timer`](Ctx::set_timer) with a tag of the handler's choosing,
    /// handed back to [`on_timer`](Handler::on_timer): which of its timers
    /// fired, without keeping the ids.
    ///
    /// ```
    /// use std::time::Duration;
    /// use netloop::bytes::BytesMut;
    /// use netloop::{Ctx, Handler, TimerId};
    ///
    /// const HEARTBEAT: u32 = 1;
    /// const DEADLINE: u32 = 2;
    ///
    /// struct Client;
    ///
    /// impl Handler for Client {
    ///     fn on_open(&mut self, ctx: &mut Ctx<'_>) {
    ///         ctx.set_interval_tagged(Duration::from_secs(5), HEARTBEAT);
    ///         ctx.set_timer_tagged(Duration::from_secs(30), DEADLINE);
    ///     }
    ///     fn on_read(&mut self, _ctx: &mut Ctx<'_>, input: &mut BytesMut) {
    ///         input.clear();
    ///     }
    ///     fn on_timer(&mut self, ctx: &mut Ctx<'_>, _timer: TimerId, tag: u32) {
    ///         match tag {
    ///             HEARTBEAT => drop(ctx.send(b"ping\n")),
    ///             _ => ctx.close(),
    ///         }
    ///     }
    /// }
    /// ```
    pub fn set_timer_tagged(&mut self, delay: Duration, tag: u32) -> TimerId {
        let deadline = self.rc.core.clock.after(delay);
        let task = self.timer_task(tag);
        self.rc.core.timers.insert(deadline, None, task)
    }

    /// The task of a handler timer of this connection (and attempt).
    fn timer_task(&self, tag: u32) -> TimerTask<S> {
        let core = &self.rc.core;
        let epoch = core.with_conn(self.id, |c| c.epoch()).unwrap_or(0);
        TimerTask::User(self.id, epoch, tag)
    }

    /// Fires [`on_timer`](Handler::on_timer) every `period` until cancelled
    /// with [`cancel_timer`](ReactorCtx::cancel_timer) or the connection closes.
    pub fn set_interval(&mut self, period: Duration) -> TimerId {
        self.set_interval_tagged(period, 0)
    }

    /// [`set_interval`](Ctx::set_interval) with a tag handed back to
    /// [`on_timer`](Handler::on_timer) (see [`set_timer_tagged`](Ctx::set_timer_tagged)).
    pub fn set_interval_tagged(&mut self, period: Duration, tag: u32) -> TimerId {
        let deadline = self.rc.core.clock.after(period);
        let period = crate::timer::ceil_millis(period);
        let task = self.timer_task(tag);
        self.rc.core.timers.insert(deadline, Some(period), task)
    }

    /// This connection's counters.
    pub fn stats(&self) -> ConnStats {
        self.rc
            .core
            .with_conn(self.id, |c| c.stats)
            .unwrap_or_default()
    }

    /// The kernel's `TCP_INFO` for this connection ([`Error::Unsupported`]
    /// on a Unix domain connection).
    pub fn tcp_info(&self) -> Result<TcpInfo> {
        self.rc.core.with_conn(self.id, |c| c.stream.tcp_info())?
    }

    /// Changes this connection's water marks.
    pub fn set_water_marks(&mut self, high: usize, low: usize) {
        let _ = self.this().set_water_marks(high, low);
    }

    /// For a connection with a reconnect policy: do not reconnect after it
    /// closes.
    pub fn stop_reconnecting(&mut self) {
        if let Ok(slot) = self.rc.core.slot_of(self.id) {
            if let Some(c) = self.rc.core.conn_mut(slot) {
                c.stop_reconnecting();
            }
        }
    }
}

impl<S: 'static> ConnRef<'_, S> {
    /// The id this refers to.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// See [`Ctx::send`].
    pub fn send(&mut self, data: &[u8]) -> Result<()> {
        self.core.send_slice(self.id, data)
    }

    /// See [`Ctx::send_bytes`].
    pub fn send_bytes(&mut self, data: Bytes) -> Result<()> {
        self.core.send_shared(self.id, data)
    }

    /// See [`Ctx::close`].
    pub fn close(&mut self) -> Result<()> {
        self.core
            .request(self.id, Intent::Close(CloseReason::Local))
    }

    /// See [`Ctx::shutdown_write`].
    pub fn shutdown_write(&mut self) -> Result<()> {
        self.core.request(self.id, Intent::ShutdownWrite)
    }

    /// See [`Ctx::linger_close`].
    pub fn linger_close(&mut self, timeout: Duration) -> Result<()> {
        self.core.request(
            self.id,
            Intent::Linger(Patience::from_millis(
                ceil_millis(timeout).min(u32::MAX as u64) as u32,
            )),
        )
    }

    /// See [`Ctx::abort`].
    pub fn abort(&mut self) -> Result<()> {
        self.core
            .request(self.id, Intent::Abort(CloseReason::Aborted))
    }

    /// See [`Ctx::pause_read`].
    pub fn pause_read(&mut self) -> Result<()> {
        self.core.pause_read(self.id)
    }

    /// See [`Ctx::resume_read`].
    pub fn resume_read(&mut self) -> Result<()> {
        self.core.resume_read(self.id)
    }

    /// Whether reading is paused by the handler.
    pub fn is_read_paused(&self) -> Result<bool> {
        self.core
            .with_conn(self.id, |c| c.flags.has(Flags::READ_PAUSED))
    }

    /// Bytes queued in user space.
    pub fn queued(&self) -> Result<usize> {
        self.core.with_conn(self.id, |c| c.send.len())
    }

    /// The lifecycle state, or `None` for an unknown id.
    pub fn conn_state(&self) -> Option<ConnState> {
        self.core.conn_state(self.id).ok()
    }

    /// Whether the connection exists and has not reached Closed.
    pub fn is_open(&self) -> bool {
        self.conn_state().is_some_and(|s| s != ConnState::Closed)
    }

    /// The peer's address; see [`Ctx::peer_addr`].
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.core.with_conn(self.id, |c| c.stream.peer_addr())?
    }

    /// The peer's address on a Unix domain connection; see
    /// [`Ctx::unix_peer_addr`].
    pub fn unix_peer_addr(&self) -> Result<UnixSocketAddr> {
        self.core
            .with_conn(self.id, |c| c.stream.unix_peer_addr())?
    }

    /// The peer process's credentials; see [`Ctx::peer_cred`].
    pub fn peer_cred(&self) -> Result<PeerCred> {
        self.core.with_conn(self.id, |c| c.stream.peer_cred())?
    }

    /// The connection's counters.
    pub fn stats(&self) -> Result<ConnStats> {
        self.core.with_conn(self.id, |c| c.stats)
    }

    /// The kernel's `TCP_INFO` ([`Error::Unsupported`] on a Unix domain
    /// connection).
    pub fn tcp_info(&self) -> Result<TcpInfo> {
        self.core.with_conn(self.id, |c| c.stream.tcp_info())?
    }

    /// Changes the water marks (`low` is clamped to `high`).
    pub fn set_water_marks(&mut self, high: usize, low: usize) -> Result<()> {
        let slot = self.core.slot_of(self.id)?;
        let conn = self.core.conn_mut(slot).ok_or(Error::NoSuchConn)?;
        conn.marks = conn.marks.renewed(high, low, conn.marks.cap());
        Ok(())
    }

    /// Changes the hard cap on queued bytes.
    pub fn set_max_send_queue(&mut self, cap: usize) -> Result<()> {
        let slot = self.core.slot_of(self.id)?;
        let conn = self.core.conn_mut(slot).ok_or(Error::NoSuchConn)?;
        conn.marks = conn.marks.renewed(conn.marks.high(), conn.marks.low(), cap);
        Ok(())
    }
}
